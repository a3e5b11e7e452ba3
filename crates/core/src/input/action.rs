//! What a client may ask the input gateway to do, and the check of a whole batch before any of
//! it runs. Pure: no display, no threads.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Bounds on a batch; beyond them it is refused as a whole.
pub mod limits {
    use std::time::Duration;

    /// Most actions in one batch.
    pub const ACTIONS: usize = 200;
    /// Longest text of one `type` action, in characters.
    pub const TEXT_CHARS: usize = 2000;
    /// Most clicks in one `click`.
    pub const CLICKS: u8 = 3;
    /// Largest scroll step on either axis.
    pub const SCROLL: i32 = 50;
    /// Longest single `wait`.
    pub const WAIT: Duration = Duration::from_secs(5);
    /// Longest total waiting in one batch.
    pub const TOTAL_WAIT: Duration = Duration::from_secs(30);
}

/// A mouse button.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub enum Button {
    /// The primary button.
    #[default]
    Left,
    /// The secondary button.
    Right,
    /// The wheel button.
    Middle,
}

/// One action, as clients send it: `{"kind": "move", "x": 10, "y": 20}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub enum Action {
    /// Moves the pointer to (x, y), or by (x, y) with `relative`.
    Move {
        /// Column, or horizontal offset.
        x: i32,
        /// Row, or vertical offset.
        y: i32,
        /// Move by, rather than to.
        #[serde(default)]
        relative: bool,
    },
    /// Clicks a button `count` times (1–3).
    Click {
        /// Which button (default left).
        #[serde(default)]
        button: Button,
        /// How many clicks (default 1).
        #[serde(default = "one")]
        count: u8,
    },
    /// Presses a button and keeps it down.
    Down {
        /// Which button.
        #[serde(default)]
        button: Button,
    },
    /// Lets a button go.
    Up {
        /// Which button.
        #[serde(default)]
        button: Button,
    },
    /// Types text.
    Type {
        /// The text.
        text: String,
    },
    /// Presses a key combination: `ctrl+l`, `Return`, `alt+Tab`, `ctrl+shift+t`.
    Key {
        /// The combination.
        combo: String,
    },
    /// Scrolls: positive `dy` down, positive `dx` right, in wheel steps.
    Scroll {
        /// Horizontal steps.
        #[serde(default)]
        dx: i32,
        /// Vertical steps.
        #[serde(default)]
        dy: i32,
    },
    /// Waits, so that the application under the pointer can catch up (at most 5 s).
    Wait {
        /// Milliseconds.
        ms: u64,
    },
}

fn one() -> u8 {
    1
}

/// A key the driver can press.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    /// A character key.
    Char(char),
    /// A named key (Return, Tab, F5, Control, …).
    Named(NamedKey),
}

/// The named keys Baton understands.
#[allow(missing_docs)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NamedKey {
    Control,
    Alt,
    Shift,
    Super,
    Return,
    Tab,
    Escape,
    Space,
    Backspace,
    Delete,
    Home,
    End,
    PageUp,
    PageDown,
    Up,
    Down,
    Left,
    Right,
    CapsLock,
    F(u8),
}

/// A parsed key combination: modifiers held while the key is pressed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Combo {
    /// Held, in order.
    pub modifiers: Vec<NamedKey>,
    /// Pressed.
    pub key: Key,
}

/// A validated action, ready to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// To (x, y).
    MoveTo(i32, i32),
    /// By (dx, dy).
    MoveBy(i32, i32),
    /// A button, n times.
    Click(Button, u8),
    /// A button down.
    Down(Button),
    /// A button up.
    Up(Button),
    /// Text.
    Type(String),
    /// A combination.
    Key(Combo),
    /// Wheel steps (dx, dy).
    Scroll(i32, i32),
    /// A pause.
    Wait(Duration),
}

/// Checks and parses a whole batch against a screen of `screen` pixels.
pub fn validate(actions: &[Action], screen: (i32, i32)) -> Result<Vec<Step>> {
    let invalid = |index: usize, why: String| {
        Error::Invalid(format!(
            "action {} of {}: {why}; nothing ran",
            index + 1,
            actions.len()
        ))
    };
    if actions.is_empty() {
        return Err(Error::Invalid(
            "the batch is empty: send at least one action".into(),
        ));
    }
    if actions.len() > limits::ACTIONS {
        return Err(Error::Invalid(format!(
            "a batch has at most {} actions, this one {}; nothing ran",
            limits::ACTIONS,
            actions.len()
        )));
    }
    let (width, height) = screen;
    let mut waited = Duration::ZERO;
    let mut steps = Vec::with_capacity(actions.len());
    for (index, action) in actions.iter().enumerate() {
        let step = match action {
            Action::Move {
                x,
                y,
                relative: false,
            } => {
                if !(0..width).contains(x) || !(0..height).contains(y) {
                    return Err(invalid(
                        index,
                        format!("({x}, {y}) is off the screen, which is {width}x{height}"),
                    ));
                }
                Step::MoveTo(*x, *y)
            }
            Action::Move {
                x,
                y,
                relative: true,
            } => {
                // unsigned_abs: i32::MIN has no i32 absolute value (abs() would panic or wrap).
                if x.unsigned_abs() >= width.unsigned_abs()
                    || y.unsigned_abs() >= height.unsigned_abs()
                {
                    return Err(invalid(
                        index,
                        format!("a move by ({x}, {y}) leaves the {width}x{height} screen"),
                    ));
                }
                Step::MoveBy(*x, *y)
            }
            Action::Click { button, count } => {
                if !(1..=limits::CLICKS).contains(count) {
                    return Err(invalid(
                        index,
                        format!("a click counts 1 to {} times, not {count}", limits::CLICKS),
                    ));
                }
                Step::Click(*button, *count)
            }
            Action::Down { button } => Step::Down(*button),
            Action::Up { button } => Step::Up(*button),
            Action::Type { text } => {
                if text.is_empty() {
                    return Err(invalid(index, "there is no text to type".into()));
                }
                if text.chars().count() > limits::TEXT_CHARS {
                    return Err(invalid(
                        index,
                        format!("text is at most {} characters", limits::TEXT_CHARS),
                    ));
                }
                if text.contains('\0') {
                    return Err(invalid(index, "text cannot contain NUL characters".into()));
                }
                Step::Type(text.clone())
            }
            Action::Key { combo } => Step::Key(parse_combo(combo).map_err(|e| invalid(index, e))?),
            Action::Scroll { dx, dy } => {
                if (*dx, *dy) == (0, 0) {
                    return Err(invalid(index, "a scroll needs dx or dy".into()));
                }
                if dx.unsigned_abs() > limits::SCROLL.unsigned_abs()
                    || dy.unsigned_abs() > limits::SCROLL.unsigned_abs()
                {
                    return Err(invalid(
                        index,
                        format!("a scroll is at most {} steps each way", limits::SCROLL),
                    ));
                }
                Step::Scroll(*dx, *dy)
            }
            Action::Wait { ms } => {
                let wait = Duration::from_millis(*ms);
                if wait > limits::WAIT {
                    return Err(invalid(
                        index,
                        format!("a wait is at most {} ms", limits::WAIT.as_millis()),
                    ));
                }
                waited += wait;
                if waited > limits::TOTAL_WAIT {
                    return Err(invalid(
                        index,
                        format!(
                            "a batch waits at most {} s in all",
                            limits::TOTAL_WAIT.as_secs()
                        ),
                    ));
                }
                Step::Wait(wait)
            }
        };
        steps.push(step);
    }
    Ok(steps)
}

/// Parses `ctrl+l`, `Return`, `alt+Tab`, `ctrl+shift+t`, `F5`.
pub fn parse_combo(text: &str) -> std::result::Result<Combo, String> {
    let parts: Vec<&str> = text.split('+').map(str::trim).collect();
    if parts.iter().any(|p| p.is_empty()) {
        return Err(format!(
            "'{text}' is not a key combination: write keys joined by '+', like ctrl+l or alt+Tab"
        ));
    }
    let (key, modifiers) = parts
        .split_last()
        .ok_or_else(|| "the key is empty".to_string())?;
    let modifiers = modifiers
        .iter()
        .map(|m| match named(m) {
            Some(k @ (NamedKey::Control | NamedKey::Alt | NamedKey::Shift | NamedKey::Super)) => {
                Ok(k)
            }
            _ => Err(format!(
                "'{m}' in '{text}' is not a modifier: use ctrl, alt, shift or super"
            )),
        })
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let mut chars = key.chars();
    let key = match (chars.next(), chars.next()) {
        (Some(c), None) if !c.is_control() => Key::Char(c.to_ascii_lowercase()),
        _ => Key::Named(named(key).ok_or_else(|| {
            format!(
                "unknown key '{key}' in '{text}': use a character, or Return, Tab, Escape, Space, Backspace, Delete, Home, End, PageUp, PageDown, Up, Down, Left, Right, CapsLock, F1–F24, ctrl, alt, shift, super"
            )
        })?),
    };
    if let Key::Named(NamedKey::F(n)) = key
        && n > HIGHEST_FUNCTION_KEY
    {
        return Err(format!(
            "'{text}': this computer's keyboard has no F{n} (F1–F{HIGHEST_FUNCTION_KEY} here; macOS has no F21–F24)"
        ));
    }
    Ok(Combo { modifiers, key })
}

/// The highest function key the platform's input system can press: macOS stops at F20.
pub const HIGHEST_FUNCTION_KEY: u8 = if cfg!(target_os = "macos") { 20 } else { 24 };

fn named(name: &str) -> Option<NamedKey> {
    let lower = name.to_ascii_lowercase();
    Some(match lower.as_str() {
        "ctrl" | "control" => NamedKey::Control,
        "alt" | "option" => NamedKey::Alt,
        "shift" => NamedKey::Shift,
        "super" | "meta" | "win" | "cmd" | "command" => NamedKey::Super,
        "return" | "enter" => NamedKey::Return,
        "tab" => NamedKey::Tab,
        "escape" | "esc" => NamedKey::Escape,
        "space" => NamedKey::Space,
        "backspace" => NamedKey::Backspace,
        "delete" | "del" => NamedKey::Delete,
        "home" => NamedKey::Home,
        "end" => NamedKey::End,
        "pageup" | "page_up" | "prior" => NamedKey::PageUp,
        "pagedown" | "page_down" | "next" => NamedKey::PageDown,
        "up" => NamedKey::Up,
        "down" => NamedKey::Down,
        "left" => NamedKey::Left,
        "right" => NamedKey::Right,
        "capslock" | "caps_lock" => NamedKey::CapsLock,
        f if f.len() >= 2 && f.starts_with('f') => {
            let n: u8 = f[1..].parse().ok()?;
            if !(1..=24).contains(&n) {
                return None;
            }
            NamedKey::F(n)
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_function_key_the_platform_lacks_is_refused_with_a_sentence() {
        for n in 1..=24u8 {
            let parsed = parse_combo(&format!("F{n}"));
            if n <= HIGHEST_FUNCTION_KEY {
                assert_eq!(
                    parsed.expect("a key this platform has").key,
                    Key::Named(NamedKey::F(n))
                );
            } else {
                let said = parsed.expect_err("a key this platform lacks");
                assert!(said.contains(&format!("no F{n}")), "{said}");
            }
        }
        assert!(parse_combo("F25").is_err());
    }

    #[test]
    fn combos_parse_like_people_write_them() {
        let combo = parse_combo("ctrl+shift+T").expect("combo");
        assert_eq!(combo.modifiers, vec![NamedKey::Control, NamedKey::Shift]);
        assert_eq!(combo.key, Key::Char('t'));
        assert_eq!(
            parse_combo("Return").expect("return").key,
            Key::Named(NamedKey::Return)
        );
        assert_eq!(
            parse_combo("alt+Tab").expect("alt tab").key,
            Key::Named(NamedKey::Tab)
        );
        assert_eq!(
            parse_combo("F5").expect("f5").key,
            Key::Named(NamedKey::F(5))
        );
        assert_eq!(parse_combo("+").map_err(|_| ()), Err(()));
        for bad in ["ctrl+", "ctrl++l", "hyper+l", "ctrl+Banana", "F25", ""] {
            assert!(parse_combo(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_bad_action_refuses_the_whole_batch() {
        let ok = Action::Type { text: "hi".into() };
        let cases = [
            (vec![], "empty"),
            (
                vec![
                    ok.clone(),
                    Action::Move {
                        x: 2000,
                        y: 5,
                        relative: false,
                    },
                ],
                "off the screen",
            ),
            (
                vec![Action::Key {
                    combo: "ctrl+Banana".into(),
                }],
                "unknown key",
            ),
            (
                vec![Action::Click {
                    button: Button::Left,
                    count: 9,
                }],
                "1 to 3",
            ),
            (
                vec![Action::Type {
                    text: "x".repeat(2001),
                }],
                "at most 2000",
            ),
            (vec![Action::Wait { ms: 9000 }], "at most 5000"),
            (vec![Action::Scroll { dx: 0, dy: 0 }], "needs dx or dy"),
            // The extremes of the number types: refused, never a panic or a wrap-around.
            (
                vec![Action::Move {
                    x: i32::MIN,
                    y: 0,
                    relative: true,
                }],
                "leaves the",
            ),
            (
                vec![Action::Move {
                    x: 0,
                    y: i32::MIN,
                    relative: false,
                }],
                "off the screen",
            ),
            (
                vec![Action::Scroll {
                    dx: i32::MIN,
                    dy: i32::MAX,
                }],
                "at most 50 steps",
            ),
            (vec![Action::Wait { ms: u64::MAX }], "at most 5000"),
        ];
        for (actions, expected) in cases {
            let err = validate(&actions, (1280, 800))
                .expect_err(expected)
                .to_string();
            assert!(err.contains(expected), "{err}");
        }
        assert_eq!(validate(&[ok], (1280, 800)).expect("valid").len(), 1);
    }
}
