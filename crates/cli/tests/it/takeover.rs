//! Takeover on a real X display (Xvfb): the person's input is told from Baton's by what sent it,
//! so the holder is paused whenever the person acts, also right after Baton's own input or in
//! the middle of it, and Baton's own input, however fast, never pauses its holder.
//!
//! The holder is an agent on the HTTP API (its run token and lease token); the person is
//! xdotool, another client of the display, as another tool's input would be. Delays are
//! measured from just before the person's command starts, so they include its start-up.

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::common::*;
use baton_client::Client;
use baton_client::models::InputRequest;
use baton_core::RunSpec;
use baton_core::input::Action;
use baton_platform::DataDir;

const SHORT: Duration = Duration::from_secs(10);
/// The bound, from the person's first event to the holder's input being refused.
const REFUSED_WITHIN: Duration = Duration::from_millis(100);

struct Holder {
    user: Client,
    run: Client,
    id: baton_core::RunId,
    lease_token: u64,
}

impl Holder {
    /// A desktop run that holds the desktop at once (nobody else is there).
    async fn start(d: &Daemon) -> Holder {
        let user = Client::connect_as_user(&DataDir::at(&d.dir)).unwrap();
        let spec = RunSpec {
            ttl_ms: Some(600_000),
            ..RunSpec::new("agent", "test", true)
        };
        let submitted = user.submit(&spec).await.unwrap();
        let id = submitted.status.run.id;
        let lease_token = submitted.status.run.lease_token.expect("granted at once");
        let run = user.as_run(id, submitted.token);
        Holder {
            user,
            run,
            id,
            lease_token,
        }
    }

    /// Sends `actions`; whether they all ran.
    async fn act(&self, actions: Vec<Action>) -> bool {
        let request = InputRequest {
            lease_token: self.lease_token,
            actions,
        };
        match self.run.input(self.id, &request).await {
            Ok(_) => true,
            Err(e) => {
                assert_eq!(e.code(), Some(baton_core::ErrorCode::UserActive), "{e}");
                false
            }
        }
    }

    async fn paused(&self) -> bool {
        self.user.status().await.unwrap().desktop.holder_paused
    }

    /// Waits until the holder is paused; how long that took from `since`.
    async fn wait_paused(&self, since: Instant) -> Duration {
        while !self.paused().await {
            assert!(since.elapsed() < SHORT, "the person was never noticed");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        since.elapsed()
    }

    /// Gives the desktop back, as the tray's *Give it back* does.
    async fn give_back(&self) {
        let _: serde_json::Value = self
            .user
            .post("/v1/desktop/holder/resume", &serde_json::json!({}))
            .await
            .unwrap();
    }
}

fn to(x: i32, y: i32) -> Action {
    Action::Move {
        x,
        y,
        relative: false,
    }
}

/// The person: xdotool, on `display`.
fn person(display: &str, args: &[&str]) -> Instant {
    let started = Instant::now();
    let status = Command::new("xdotool")
        .env("DISPLAY", display)
        .args(args)
        .status()
        .unwrap();
    assert!(status.success());
    started
}

#[test]
fn the_person_right_after_baton_s_own_input_is_noticed_and_wins() {
    let x = Xvfb::start();
    let d = Daemon::on_display(&x.display, &["--takeover-quiet", "5"]);
    runtime().block_on(async {
        let h = Holder::start(&d).await;
        assert!(h.act(vec![to(100, 100)]).await);
        // The moment a person most often reacts: right after the agent did something.
        let at = person(&x.display, &["mousemove", "700", "700"]);
        let delay = h.wait_paused(at).await;
        eprintln!("paused {delay:?} after the person's move");
        assert!(delay < REFUSED_WITHIN * 3, "{delay:?}");
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert!(
            !h.act(vec![to(110, 110)]).await,
            "the holder's next input is refused"
        );
        assert_eq!(
            x.pointer(),
            (700, 700),
            "the pointer stays where the person put it"
        );
    });
}

#[test]
fn a_holder_that_acts_without_pause_is_stopped_when_the_person_moves() {
    let x = Xvfb::start();
    let d = Daemon::on_display(&x.display, &["--takeover-quiet", "5"]);
    runtime().block_on(async {
        let h = Arc::new(Holder::start(&d).await);
        // One action every 40 ms for 4 s, the way an agent drags; each records when it ran.
        let agent = {
            let h = h.clone();
            tokio::spawn(async move {
                let mut ran = Vec::new();
                let start = Instant::now();
                let mut i = 0;
                while start.elapsed() < Duration::from_secs(4) {
                    let sent = Instant::now();
                    let target = (100 + (i % 50), 100);
                    if h.act(vec![to(target.0, target.1)]).await {
                        ran.push((sent, target));
                    }
                    i += 1;
                    tokio::time::sleep(Duration::from_millis(40)).await;
                }
                ran
            })
        };
        tokio::time::sleep(Duration::from_secs(1)).await;
        let at = person(&x.display, &["mousemove", "700", "700"]);
        let delay = h.wait_paused(at).await;
        let ran = agent.await.unwrap();
        let after = ran.iter().filter(|(sent, _)| *sent > at + delay).count();
        eprintln!(
            "paused {delay:?} after the person's move; {} moves ran before, {after} after",
            ran.len() - after
        );
        assert!(delay < REFUSED_WITHIN * 3, "{delay:?}");
        assert_eq!(after, 0, "no move of the holder's ran after the refusal");
        // The pointer is where the person put it, or where a move of the holder's that was
        // already on its way when the person moved put it: nothing later.
        let on_its_way: Vec<(i32, i32)> = ran
            .iter()
            .filter(|(sent, _)| *sent + Duration::from_millis(100) > at)
            .map(|(_, target)| *target)
            .collect();
        let pointer = x.pointer();
        assert!(
            pointer == (700, 700) || on_its_way.contains(&pointer),
            "the pointer is at {pointer:?}"
        );
    });
}

#[test]
fn a_key_of_the_person_s_stops_the_holder_s_typing_in_a_real_field() {
    let x = Xvfb::start();
    let d = Daemon::on_display(&x.display, &["--takeover-quiet", "5"]);
    let mut fields = Fields::open(&x.display, 1);
    let (cx, cy) = fields.centres[0];
    runtime().block_on(async {
        let h = Arc::new(Holder::start(&d).await);
        assert!(
            h.act(vec![
                to(cx, cy),
                Action::Click {
                    button: Default::default(),
                    count: 1
                }
            ])
            .await
        );
        // The holder types without pause, one character an action, 'a' to 'y' over and over.
        let typing = {
            let h = h.clone();
            tokio::spawn(async move {
                let letters: Vec<Action> = (0..100)
                    .flat_map(|i| {
                        [
                            Action::Type {
                                text: char::from(b'a' + (i % 25) as u8).to_string(),
                            },
                            Action::Wait { ms: 10 },
                        ]
                    })
                    .collect();
                h.act(letters).await
            })
        };
        tokio::time::sleep(Duration::from_millis(400)).await;
        let at = person(&x.display, &["key", "Z"]);
        let delay = h.wait_paused(at).await;
        assert!(!typing.await.unwrap(), "the batch was stopped");
        tokio::time::sleep(Duration::from_millis(300)).await;
        let text = fields.texts().remove(0);
        eprintln!("paused {delay:?} after the person's key; the field says {text:?}");
        assert!(delay < REFUSED_WITHIN * 3, "{delay:?}");
        let (before, after) = text
            .split_once('Z')
            .expect("the person's key is in the field");
        assert!(before.len() > 10, "the holder typed before: {text:?}");
        // Between the person's key and the refusal (milliseconds) a character already on its
        // way may land; typing does not go on.
        assert!(
            after.chars().count() <= 2,
            "the holder typed {after:?} after the person's key"
        );
    });
}

#[test]
fn one_long_type_of_the_holder_s_stops_soon_after_the_person_s_key() {
    let x = Xvfb::start();
    let d = Daemon::on_display(&x.display, &["--takeover-quiet", "5"]);
    let mut fields = Fields::open(&x.display, 1);
    let (cx, cy) = fields.centres[0];
    runtime().block_on(async {
        let h = Arc::new(Holder::start(&d).await);
        let text: String = "abcdefghijklmnopqrstuvwxy"
            .chars()
            .cycle()
            .take(2000)
            .collect();
        let typing = {
            let h = h.clone();
            tokio::spawn(async move {
                h.act(vec![
                    to(cx, cy),
                    Action::Click {
                        button: Default::default(),
                        count: 1,
                    },
                    Action::Type { text },
                ])
                .await
            })
        };
        // Once the text is on its way.
        let started = Instant::now();
        while fields.texts()[0].len() < 20 {
            assert!(started.elapsed() < SHORT, "the holder never typed");
        }
        let at = person(&x.display, &["key", "Z"]);
        let delay = h.wait_paused(at).await;
        assert!(!typing.await.unwrap(), "the type was stopped");
        tokio::time::sleep(Duration::from_millis(300)).await;
        let typed = fields.texts().remove(0);
        let (before, after) = typed
            .split_once('Z')
            .expect("the person's key is in the field");
        eprintln!(
            "paused {delay:?} after the person's key; {} characters before it, {} after",
            before.len(),
            after.len()
        );
        assert!(
            before.len() < 2000,
            "the whole text ran before the key: {}",
            before.len()
        );
        // What the holder typed between the person's key and the refusal (a few parts of 8
        // characters, in the milliseconds that takes) lands; the rest of the 2 000 does not.
        assert!(
            before.len() + after.len() < 1000 && after.len() < 200,
            "{} characters after the person's key",
            after.len()
        );
    });
}

#[test]
fn the_person_is_noticed_in_every_round_at_a_random_moment() {
    let rounds = env_number("BATON_TAKEOVER_ROUNDS", 200) as usize;
    let mut rng = Rng::from_env("BATON_TAKEOVER_SEED");
    let x = Xvfb::start();
    let d = Daemon::on_display(&x.display, &["--takeover-quiet", "60"]);
    runtime().block_on(async {
        let h = Arc::new(Holder::start(&d).await);
        let stop = Arc::new(AtomicBool::new(false));
        let actions = Arc::new(AtomicUsize::new(0));
        // The agent acts every 10–100 ms, round after round.
        let agent = {
            let (h, stop, actions) = (h.clone(), stop.clone(), actions.clone());
            let mut rng = rng.clone();
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let x = 50 + rng.below(400) as i32;
                    h.act(vec![to(x, 50)]).await;
                    actions.fetch_add(1, Ordering::Relaxed);
                    let pause = 10 + rng.below(91) as u64;
                    tokio::time::sleep(Duration::from_millis(pause)).await;
                }
            })
        };
        let mut delays = Vec::new();
        for round in 0..rounds {
            tokio::time::sleep(Duration::from_millis(20 + rng.below(300) as u64)).await;
            let (px, py) = (600 + (round % 2) as i32 * 100, 600);
            let at = person(&x.display, &["mousemove", &px.to_string(), &py.to_string()]);
            delays.push(h.wait_paused(at).await);
            h.give_back().await;
            while h.paused().await {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
        stop.store(true, Ordering::Relaxed);
        agent.await.unwrap();
        delays.sort();
        let worst = *delays.last().unwrap();
        eprintln!(
            "{rounds} rounds, {} agent actions: the person noticed in every one; refusal after p50 {:?}, p90 {:?}, worst {worst:?} (the seed is printed above)",
            actions.load(Ordering::Relaxed),
            delays[delays.len() / 2],
            delays[delays.len() * 9 / 10],
        );
        assert!(
            delays[delays.len() / 2] < REFUSED_WITHIN,
            "median {:?}",
            delays[delays.len() / 2]
        );
        assert!(worst < REFUSED_WITHIN * 5, "worst {worst:?}");
    });
}

#[test]
fn baton_s_own_input_however_fast_never_pauses_its_holder() {
    let x = Xvfb::start();
    let d = Daemon::on_display(&x.display, &["--takeover-quiet", "5"]);
    let mut fields = Fields::open(&x.display, 1);
    let (cx, cy) = fields.centres[0];
    runtime().block_on(async {
        let h = Holder::start(&d).await;
        let moves: Vec<Action> = (0..200).map(|i| to(10 + i * 3, 10 + i)).collect();
        assert!(h.act(moves).await);
        let text: String = "the quick brown fox jumps over the lazy dog "
            .chars()
            .cycle()
            .take(2000)
            .collect();
        assert!(
            h.act(vec![
                to(cx, cy),
                Action::Click {
                    button: Default::default(),
                    count: 1
                },
                Action::Type { text: text.clone() }
            ])
            .await
        );
        // The sampling backstop looks too: give it a few turns.
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert!(!h.paused().await);
        let start = Instant::now();
        while fields.texts()[0] != text {
            let now = fields.texts().remove(0);
            assert!(
                start.elapsed() < SHORT,
                "the field has {} characters of {}: {now:?}",
                now.chars().count(),
                text.chars().count()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    let events = text(&d.run(&["events", "--json"]).stdout);
    assert!(!events.contains("holder_paused"), "{events}");
}
