//! Torture: the host is killed (-9) at random moments under a mixed load of real HTTP clients,
//! restarted on the same data, again and again. After every restart the SQLite file must be
//! sound; at the end every change a client saw acknowledged must be in the history, no lease
//! token may have been handed out twice, and the invariant checker replaying the whole event
//! log (across every crash) must find no overlapping holds and only FIFO grants.
//!
//! Rounds: `BATON_TORTURE_ROUNDS` (default 20; `make torture` runs 200). The random seed is
//! printed; `BATON_TORTURE_SEED` replays one.

#![allow(clippy::unwrap_used, clippy::print_stderr)]

mod common;

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use baton_core::{Event, check};
use common::*;
use serde_json::{Value, json};

/// A small xorshift generator: the test needs reproducible randomness, not a crate for it.
#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// What clients saw acknowledged, across all rounds.
#[derive(Debug, Default)]
struct Acked {
    /// Runs whose submission was answered.
    submitted: HashSet<i64>,
    /// Runs whose finish (succeeded) was answered.
    finished: HashSet<i64>,
    /// Runs whose cancel was answered.
    cancelled: HashSet<i64>,
    /// Lease token → the run that was told it holds the desktop with it.
    tokens: HashMap<u64, i64>,
    /// A token told to two runs.
    repeated: Vec<(u64, i64, i64)>,
}

impl Acked {
    fn saw_grant(&mut self, status: &Value) {
        let run = &status["run"];
        if run["holds_desktop"] != true {
            return;
        }
        let (Some(token), Some(id)) = (run["lease_token"].as_u64(), run["id"].as_i64()) else {
            return;
        };
        if let Some(&other) = self.tokens.get(&token)
            && other != id
        {
            self.repeated.push((token, other, id));
        }
        self.tokens.insert(token, id);
    }
}

/// One client of the mixed load: submits runs (some needing the desktop), acquires, releases,
/// finishes, and as the user cancels and asks for status, until the host dies under it.
async fn client(url: String, user: String, seed: u64, acked: Arc<Mutex<Acked>>) {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let mut rng = Rng(seed | 1);
    let mut mine: Vec<(i64, String)> = Vec::new();
    loop {
        let step = rng.below(10);
        let result: Result<(), reqwest::Error> = async {
            match step {
                0..=2 => {
                    let body = json!({
                        "title": format!("t{}", rng.below(1000)),
                        "client": "torture",
                        "needs_desktop": rng.below(3) != 0,
                    });
                    let res = http
                        .post(format!("{url}/v1/runs"))
                        .bearer_auth(&user)
                        .json(&body)
                        .send()
                        .await?;
                    if res.status().is_success() {
                        let v: Value = res.json().await?;
                        let id = v["run"]["id"].as_i64().unwrap();
                        let mut a = acked.lock().unwrap();
                        a.submitted.insert(id);
                        a.saw_grant(&v);
                        mine.push((id, v["token"].as_str().unwrap().to_string()));
                    }
                }
                3 | 4 if !mine.is_empty() => {
                    let (id, token) = &mine[rng.below(mine.len() as u64) as usize];
                    let what = if step == 3 { "acquire" } else { "release" };
                    let res = http
                        .post(format!("{url}/v1/runs/{id}/{what}"))
                        .bearer_auth(token)
                        .send()
                        .await?;
                    if res.status().is_success() {
                        let v: Value = res.json().await?;
                        acked.lock().unwrap().saw_grant(&json!({ "run": v["run"] }));
                    }
                }
                5 | 6 if !mine.is_empty() => {
                    let (id, token) = mine.swap_remove(rng.below(mine.len() as u64) as usize);
                    let res = http
                        .post(format!("{url}/v1/runs/{id}/finish"))
                        .bearer_auth(&token)
                        .json(&json!({ "outcome": "succeeded" }))
                        .send()
                        .await?;
                    if res.status().is_success() {
                        acked.lock().unwrap().finished.insert(id);
                    }
                }
                7 if !mine.is_empty() => {
                    let (id, _) = mine.swap_remove(rng.below(mine.len() as u64) as usize);
                    let res = http
                        .post(format!("{url}/v1/runs/{id}/cancel"))
                        .bearer_auth(&user)
                        .json(&json!({ "reason": "torture" }))
                        .send()
                        .await?;
                    if res.status().is_success() {
                        acked.lock().unwrap().cancelled.insert(id);
                    }
                }
                _ => {
                    let status: Value = http
                        .get(format!("{url}/v1/status"))
                        .bearer_auth(&user)
                        .send()
                        .await?
                        .json()
                        .await?;
                    assert!(status["desktop"].is_object(), "{status}");
                }
            }
            Ok(())
        }
        .await;
        if result.is_err() {
            return; // the host is gone
        }
    }
}

/// `PRAGMA integrity_check`, and every run's state, read straight from the file.
fn inspect(db: &Path) -> (String, HashMap<i64, String>) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        use sqlx::ConnectOptions;
        let mut conn = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(db)
            .read_only(true)
            .connect()
            .await
            .unwrap();
        let check = sqlx::query_scalar("PRAGMA integrity_check")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        let runs: Vec<(i64, String)> = sqlx::query_as("SELECT id, state FROM runs")
            .fetch_all(&mut conn)
            .await
            .unwrap();
        (check, runs.into_iter().collect())
    })
}

fn all_events(d: &Daemon) -> Vec<Event> {
    let out = d.run(&["events", "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

#[test]
fn killing_the_host_at_random_moments_loses_nothing_acknowledged() {
    let rounds: usize = std::env::var("BATON_TORTURE_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(20);
    let seed: u64 = std::env::var("BATON_TORTURE_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    eprintln!("torture: {rounds} rounds, BATON_TORTURE_SEED={seed}");
    let mut rng = Rng(seed | 1);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let acked = Arc::new(Mutex::new(Acked::default()));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();

    for round in 0..rounds {
        let d = Daemon::start_in(&dir, &[]);
        if round > 0 {
            assert_eq!(inspect(&dir.join("baton.db")).0, "ok", "round {round}");
        }
        let url =
            serde_json::from_str::<Value>(&read_trimmed(&dir.join("host.json"))).unwrap()["url"]
                .as_str()
                .unwrap()
                .to_string();
        let user = read_trimmed(&dir.join("token"));
        let clients: Vec<_> = (0..6)
            .map(|_| rt.spawn(client(url.clone(), user.clone(), rng.next(), acked.clone())))
            .collect();
        std::thread::sleep(Duration::from_millis(50 + rng.below(400)));
        d.signal("KILL");
        for task in clients {
            rt.block_on(task).unwrap();
        }
        drop(d);
    }

    let d = Daemon::start_in(&dir, &[]);
    let (integrity, history) = inspect(&dir.join("baton.db"));
    assert_eq!(integrity, "ok");
    let acked = acked.lock().unwrap();
    assert!(
        acked.submitted.len() > rounds,
        "the load did too little: {} runs acknowledged in {rounds} rounds",
        acked.submitted.len()
    );
    for id in &acked.submitted {
        assert!(history.contains_key(id), "acknowledged run #{id} is lost");
    }
    for id in &acked.finished {
        assert_eq!(history[id], "succeeded", "run #{id}");
    }
    for id in &acked.cancelled {
        assert_eq!(history[id], "cancelled", "run #{id}");
    }
    assert!(
        acked.repeated.is_empty(),
        "tokens told to two runs: {:?}",
        acked.repeated
    );

    let events = all_events(&d);
    let summary =
        check::check(&events).unwrap_or_else(|v| panic!("the event log breaks a rule: {v:?}"));
    for (token, id) in acked.tokens.iter() {
        let granted = events.iter().any(|e| {
            e.run_id.map(|r| r.0) == Some(*id)
                && matches!(e.kind, baton_core::EventKind::Granted { lease_token, .. } if lease_token == *token)
        });
        assert!(
            granted,
            "run #{id} was told it holds token {token}, which the log never granted"
        );
    }
    let restarts = events
        .iter()
        .filter(|e| matches!(e.kind, baton_core::EventKind::Interrupted))
        .count();
    eprintln!(
        "torture: {} runs acknowledged, {} finishes, {} cancels, {} grants ({} in order), {} runs interrupted by the kills",
        acked.submitted.len(),
        acked.finished.len(),
        acked.cancelled.len(),
        summary.grants,
        summary.in_order_grants,
        restarts
    );
    assert_eq!(
        summary.grants, summary.in_order_grants,
        "every grant in FIFO order"
    );
}
