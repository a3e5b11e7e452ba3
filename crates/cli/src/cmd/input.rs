//! `baton input`: mouse and keyboard through Baton, for the run this command is inside.
//!
//! ```text
//! baton input move 321 123 click type "hello" key Return    one batch, in order
//! baton input move --rel -20 5 click right --double scroll 0 3 wait 200
//! baton input pointer | baton input screen                 read-only
//! ```
//!
//! And `baton screenshot`: a picture of a run's private display.

use baton_client::models::InputRequest;
use baton_client::{Client, env};
use baton_core::input::{Action, Button};

use crate::exit::{self, Failure};

/// `baton screenshot [RUN] [-o FILE]`: the run's private display as PNG, written to FILE.
pub async fn screenshot(
    client: &Client,
    run_id: Option<i64>,
    output: Option<std::path::PathBuf>,
) -> Result<u8, Failure> {
    let run = match run_id.map(baton_core::RunId).or(client.run()) {
        Some(run) => run,
        None => {
            return Err(Failure::new(
                exit::USAGE,
                "say whose private display to look at: baton screenshot RUN_ID (inside 'baton run --display private' it is the run's own)",
            ));
        }
    };
    let png = client.screenshot(run).await?;
    let output = output.unwrap_or_else(|| format!("run-{run}.png").into());
    if output.as_os_str() == "-" {
        use std::io::Write;
        std::io::stdout()
            .write_all(&png)
            .map_err(|e| Failure::new(exit::FAILED, format!("cannot write the picture: {e}")))?;
    } else {
        std::fs::write(&output, &png).map_err(|e| {
            Failure::new(
                exit::FAILED,
                format!("cannot write {}: {e}", output.display()),
            )
        })?;
        eprintln!("baton: run #{run}'s display saved to {}", output.display());
    }
    Ok(exit::OK)
}

/// What the words ask for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// A batch of actions.
    Batch(Vec<Action>),
    /// Where the pointer is.
    Pointer,
    /// How big the screen is.
    Screen,
}

pub async fn input(
    client: &Client,
    words: Vec<String>,
    lease_token: Option<u64>,
) -> Result<u8, Failure> {
    match parse(&words).map_err(|e| Failure::new(exit::USAGE, e))? {
        Request::Pointer => {
            let point = client.pointer().await?;
            println!("{} {}", point.x, point.y);
        }
        Request::Screen => {
            let size = client.screen().await?;
            println!("{} {}", size.width, size.height);
        }
        Request::Batch(actions) => {
            let Some(run) = client.run() else {
                return Err(Failure::new(
                    exit::REFUSED,
                    "baton input sends input for the run it runs in: use it inside 'baton run --desktop -- …' (BATON_RUN_TOKEN is not set)",
                ));
            };
            // A run with a private display acts there, by its token of `displays`.
            let private = std::env::var_os(env::DISPLAY).is_some();
            let lease_token = match lease_token {
                Some(token) => token,
                None if private => std::env::var(env::LEASES)
                    .ok()
                    .and_then(|leases| env::lease_of(&leases, baton_core::resource::DISPLAYS))
                    .ok_or_else(|| {
                        Failure::new(
                            exit::REFUSED,
                            format!(
                                "run #{run} has a private display but no token of 'displays' in {}",
                                env::LEASES
                            ),
                        )
                    })?,
                None => std::env::var(env::LEASE_TOKEN)
                    .ok()
                    .and_then(|t| t.parse().ok())
                    .ok_or_else(|| {
                        Failure::new(
                            exit::REFUSED,
                            format!(
                                "run #{run} has no lease token ({} is not set): only a run that holds the desktop sends input",
                                env::LEASE_TOKEN
                            ),
                        )
                    })?,
            };
            client
                .input(
                    run,
                    &InputRequest {
                        lease_token,
                        actions,
                    },
                )
                .await?;
        }
    }
    Ok(exit::OK)
}

/// Reads the words after `baton input`.
pub fn parse(words: &[String]) -> Result<Request, String> {
    match words {
        [] => return Err("say what to do, e.g. 'baton input move 100 200 click'".into()),
        [only] if only == "pointer" => return Ok(Request::Pointer),
        [only] if only == "screen" => return Ok(Request::Screen),
        _ => {}
    }
    let mut actions = Vec::new();
    let mut rest = words.iter().map(String::as_str).peekable();
    while let Some(word) = rest.next() {
        let mut take = |what: &str| {
            rest.next()
                .ok_or_else(|| format!("'{word}' needs {what}"))
                .map(str::to_string)
        };
        let action = match word {
            "move" => {
                let first = take("X Y (or --rel DX DY)")?;
                let relative = first == "--rel";
                let x = if relative { take("DX DY")? } else { first };
                let y = take("X Y")?;
                Action::Move {
                    x: number(&x, word)?,
                    y: number(&y, word)?,
                    relative,
                }
            }
            "click" | "down" | "up" => {
                let button = match rest.peek().copied() {
                    Some(b @ ("left" | "right" | "middle")) => {
                        rest.next();
                        match b {
                            "right" => Button::Right,
                            "middle" => Button::Middle,
                            _ => Button::Left,
                        }
                    }
                    _ => Button::Left,
                };
                match word {
                    "down" => Action::Down { button },
                    "up" => Action::Up { button },
                    _ => {
                        let double = rest.peek() == Some(&"--double");
                        if double {
                            rest.next();
                        }
                        Action::Click {
                            button,
                            count: if double { 2 } else { 1 },
                        }
                    }
                }
            }
            "type" => Action::Type {
                text: take("the text to type")?,
            },
            "key" => Action::Key {
                combo: take("a key combination such as ctrl+l")?,
            },
            "scroll" => Action::Scroll {
                dx: number(&take("DX DY")?, word)?,
                dy: number(&take("DX DY")?, word)?,
            },
            "wait" => Action::Wait {
                ms: take("milliseconds")?
                    .parse()
                    .map_err(|_| "'wait' takes a number of milliseconds".to_string())?,
            },
            "pointer" | "screen" => {
                return Err(format!("'{word}' is asked on its own: baton input {word}"));
            }
            other => {
                return Err(format!(
                    "unknown action '{other}': use move, click, down, up, type, key, scroll, wait (or pointer, screen on their own)"
                ));
            }
        };
        actions.push(action);
    }
    Ok(Request::Batch(actions))
}

fn number(text: &str, action: &str) -> Result<i32, String> {
    text.parse()
        .map_err(|_| format!("'{action}' takes whole numbers, not '{text}'"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &[&str]) -> Vec<String> {
        line.iter().map(|w| w.to_string()).collect()
    }

    #[test]
    fn several_actions_make_one_batch() {
        let parsed = parse(&words(&[
            "move", "321", "123", "click", "right", "--double", "type", "click", "key", "ctrl+l",
            "move", "--rel", "-20", "5", "scroll", "0", "3", "wait", "200",
        ]))
        .expect("parses");
        assert_eq!(
            parsed,
            Request::Batch(vec![
                Action::Move {
                    x: 321,
                    y: 123,
                    relative: false
                },
                Action::Click {
                    button: Button::Right,
                    count: 2
                },
                Action::Type {
                    text: "click".into()
                },
                Action::Key {
                    combo: "ctrl+l".into()
                },
                Action::Move {
                    x: -20,
                    y: 5,
                    relative: true
                },
                Action::Scroll { dx: 0, dy: 3 },
                Action::Wait { ms: 200 },
            ])
        );
        assert_eq!(parse(&words(&["pointer"])), Ok(Request::Pointer));
    }

    #[test]
    fn a_bad_word_is_explained() {
        for (line, text) in [
            (vec![], "say what to do"),
            (vec!["move", "1"], "'move' needs"),
            (vec!["move", "a", "b"], "whole numbers"),
            (vec!["jump"], "unknown action 'jump'"),
            (vec!["type"], "needs the text"),
            (vec!["click", "pointer"], "on its own"),
        ] {
            let err = parse(&words(&line)).expect_err(text);
            assert!(err.contains(text), "{err}");
        }
    }
}
