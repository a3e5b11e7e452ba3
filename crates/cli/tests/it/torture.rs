//! Torture: the host is killed (-9) at random moments under a mixed load of real HTTP clients,
//! restarted on the same data, again and again. After every restart the SQLite file must be
//! sound; at the end every change a client saw acknowledged must be in the history, no lease
//! token may have been handed out twice, and the invariant checker replaying the whole event
//! log (across every crash) must find no overlapping holds and only FIFO grants.
//!
//! Rounds: `BATON_TORTURE_ROUNDS` (default 20; `make torture` runs 200). The random seed is
//! printed; `BATON_TORTURE_SEED` replays one.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::common::*;
use baton_client::models::InputRequest;
use baton_client::{BoundRun, Client};
use baton_core::input::Action;
use baton_core::{Event, Outcome, Run, RunId, RunSpec, RunStatus, check};
use serde_json::Value;

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
    fn saw_grant(&mut self, run: &Run) {
        let (true, Some(token)) = (run.holds_desktop, run.lease_token) else {
            return;
        };
        let id = run.id.0;
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
/// Runs until the host dies under it or `until` passes.
async fn client(
    url: String,
    user: String,
    seed: u64,
    acked: Arc<Mutex<Acked>>,
    until: std::time::Instant,
) {
    let user = Client::at(&url, user).unwrap();
    let mut rng = Rng::new(seed);
    let mut mine: Vec<BoundRun> = Vec::new();
    while std::time::Instant::now() < until {
        let mut step = rng.below(10);
        if step <= 2 && mine.len() >= 8 {
            step = 5; // enough runs of its own: finish one instead
        }
        let result: Result<(), baton_client::Error> = async {
            match step {
                0..=2 => {
                    let spec = RunSpec::new(
                        format!("t{}", rng.below(1000)),
                        "torture",
                        rng.below(3) != 0,
                    );
                    let submitted = user.submit(&spec).await?;
                    let id = submitted.status.run.id;
                    let mut a = acked.lock().unwrap();
                    a.submitted.insert(id.0);
                    a.saw_grant(&submitted.status.run);
                    mine.push(BoundRun::detached(id, user.as_run(id, submitted.token)));
                }
                3 | 4 if !mine.is_empty() => {
                    let run = &mine[rng.below(mine.len())];
                    let status = if step == 3 {
                        run.me().acquire(run.id()).await?
                    } else {
                        run.me().release(run.id()).await?
                    };
                    acked.lock().unwrap().saw_grant(&status.run);
                }
                5 | 6 if !mine.is_empty() => {
                    // The run ends itself: finished once it started, withdrawn while it waits
                    // (a grant may come between the two; else the run would hold the desktop,
                    // forgotten, until its TTL).
                    let run = mine.swap_remove(rng.below(mine.len()));
                    let ended = run.leave(Outcome::Succeeded, "torture").await?;
                    if ended.state == baton_core::RunState::Succeeded {
                        acked.lock().unwrap().finished.insert(run.id().0);
                    }
                }
                7 if !mine.is_empty() => {
                    let run = mine.swap_remove(rng.below(mine.len()));
                    user.cancel(run.id(), Some("torture".into())).await?;
                    acked.lock().unwrap().cancelled.insert(run.id().0);
                }
                _ => {
                    user.status().await?;
                }
            }
            Ok(())
        }
        .await;
        match result {
            // A refusal (a run that ended meanwhile, say) is part of the load.
            Ok(()) | Err(baton_client::Error::Api { .. }) => {}
            Err(_) => return, // the host is gone
        }
    }
    // Time is up: end what is left, rather than leave it holding the desktop until its TTL.
    for run in mine {
        let _ = run.leave(Outcome::Succeeded, "torture: time is up").await;
    }
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
    let rounds = env_number("BATON_TORTURE_ROUNDS", 20) as usize;
    eprintln!("torture: {rounds} rounds");
    let mut rng = Rng::from_env("BATON_TORTURE_SEED");
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let acked = Arc::new(Mutex::new(Acked::default()));
    let rt = runtime();

    for round in 0..rounds {
        let d = Daemon::start_in(&dir, &[]);
        if round > 0 {
            assert_eq!(inspect_db(&dir.join("baton.db")).0, "ok", "round {round}");
        }
        let (url, user) = host_of(&d);
        let clients: Vec<_> = (0..6)
            .map(|_| {
                let forever = std::time::Instant::now() + Duration::from_secs(3600);
                rt.spawn(client(
                    url.clone(),
                    user.clone(),
                    rng.next_u64(),
                    acked.clone(),
                    forever,
                ))
            })
            .collect();
        std::thread::sleep(Duration::from_millis(50 + rng.below(400) as u64));
        d.signal("KILL");
        for task in clients {
            rt.block_on(task).unwrap();
        }
        drop(d);
    }

    let d = Daemon::start_in(&dir, &[]);
    let (integrity, history) = inspect_db(&dir.join("baton.db"));
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
    // check() has refused any grant out of FIFO order; that means something only if the load
    // was granted the desktop, once for each token a client was told.
    assert!(
        summary.grants > 0 && summary.grants >= acked.tokens.len(),
        "{} grants in the log for {} tokens told to clients",
        summary.grants,
        acked.tokens.len()
    );
}

/// The host's URL and the user token, from its data directory.
fn host_of(d: &Daemon) -> (String, String) {
    let host: Value = serde_json::from_str(&read_trimmed(&d.dir.join("host.json"))).unwrap();
    let url = host["url"].as_str().unwrap().to_string();
    (url, read_trimmed(&d.dir.join("token")))
}

/// A run driven over the API by the test itself, with its attach stream but no heartbeats
/// of its own (the test decides when it goes silent).
struct ApiRun {
    run: BoundRun,
    statuses: tokio::sync::watch::Receiver<RunStatus>,
    stream: tokio::task::JoinHandle<()>,
}

impl ApiRun {
    async fn submit(user: &Client, spec: RunSpec) -> ApiRun {
        let submitted = user.submit(&spec).await.unwrap();
        let id = submitted.status.run.id;
        let me = user.as_run(id, submitted.token);
        let mut attached = me.attach(id).await.unwrap();
        let (tx, statuses) = tokio::sync::watch::channel(submitted.status);
        let stream = tokio::spawn(async move {
            while let Ok(Some(status)) = attached.next_json::<RunStatus>().await {
                let _ = tx.send(status);
            }
        });
        ApiRun {
            run: BoundRun::detached(id, me),
            statuses,
            stream,
        }
    }

    fn id(&self) -> RunId {
        self.run.id()
    }

    async fn finish(&self) {
        self.run
            .finish(Outcome::Succeeded, None, None)
            .await
            .unwrap();
    }

    /// Waits until the run holds the desktop; the moment it saw that.
    async fn granted(&mut self) -> std::time::Instant {
        let wait = self.statuses.wait_for(|s| s.run.holds_desktop);
        tokio::time::timeout(Duration::from_secs(10), wait)
            .await
            .expect("no grant within 10 s")
            .unwrap();
        std::time::Instant::now()
    }
}

fn percentiles(what: &str, mut samples: Vec<Duration>) -> (Duration, Duration) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    eprintln!(
        "{what}: n={} p50={:?} p99={:?} max={:?}",
        samples.len(),
        at(0.5),
        at(0.99),
        samples[samples.len() - 1]
    );
    (at(0.5), at(0.99))
}

/// A holder that dies (kill -9 of `baton run`) loses the desktop as its connection drops; one
/// that freezes (an API client that stops its heartbeats, a SIGSTOPped `baton run`) after its
/// TTL; and the stale holder's input is refused afterwards, on a real X display.
#[test]
fn dead_and_frozen_holders_lose_the_desktop_in_time() {
    let x = Xvfb::start();
    let d = Daemon::on_display(&x.display, &["--no-takeover"]);
    let rounds = env_number("BATON_TORTURE_ROUNDS", 20) as usize;
    let (url, user) = host_of(&d);
    let rt = runtime();
    let user = Client::at(&url, user).unwrap();
    let desktop = |title: &str, ttl_ms: u64| RunSpec {
        ttl_ms: Some(ttl_ms),
        ..RunSpec::new(title, "torture", true)
    };

    // kill -9 of a `baton run --desktop` holder: the waiter's grant, from the kill. The kill
    // comes once the command runs, so the wrapper has attached (a wrapper killed between its
    // submit and its attach holds no connection to drop: its run goes at its TTL).
    let marks = tempfile::tempdir().unwrap();
    let mut killed = Vec::new();
    for round in 0..rounds {
        let started = marks.path().join(format!("h{round}"));
        let script = format!("touch {}; exec sleep 600", started.display());
        let mut holder = d.spawn(&[
            "run",
            "-d",
            "-t",
            &format!("h{round}"),
            "--",
            "sh",
            "-c",
            &script,
        ]);
        wait_file(&started, Duration::from_secs(10));
        let mut waiter = rt.block_on(ApiRun::submit(&user, desktop("w", 15_000)));
        let at = std::time::Instant::now();
        signal(holder.pid(), "KILL");
        let granted = rt.block_on(waiter.granted());
        killed.push(granted - at);
        holder.wait(Duration::from_secs(10));
        rt.block_on(waiter.finish());
        waiter.stream.abort();
    }
    let (_, p99) = percentiles("grant after kill -9 of the holder", killed);
    assert!(p99 < Duration::from_millis(50), "p99 {p99:?}");

    // An API holder that stops its heartbeats (its connection stays open, as a frozen process
    // keeps its socket): the waiter's grant, from the holder's last heartbeat, is the TTL.
    let mut frozen = Vec::new();
    for round in 0..(rounds / 4).max(3) {
        let holder = rt.block_on(ApiRun::submit(&user, desktop(&format!("f{round}"), 1000)));
        let lease = holder.statuses.borrow().run.lease_token.unwrap();
        let mut waiter = rt.block_on(ApiRun::submit(&user, desktop("w", 15_000)));
        let last_beat = rt.block_on(async {
            holder.run.me().heartbeat(holder.id(), 0).await.unwrap();
            std::time::Instant::now()
        });
        let granted = rt.block_on(waiter.granted());
        frozen.push(granted - last_beat);
        // Thawed, the stale holder still believes it holds the desktop: its input is refused,
        // and the pointer does not move.
        let before = x.pointer();
        let stale = InputRequest {
            lease_token: lease,
            actions: vec![Action::Move {
                x: 5,
                y: 5,
                relative: false,
            }],
        };
        let refused = rt.block_on(holder.run.me().input(holder.id(), &stale));
        assert!(
            matches!(refused, Err(baton_client::Error::Api { status: 409, .. })),
            "{refused:?}"
        );
        assert_eq!(x.pointer(), before);
        rt.block_on(waiter.finish());
        holder.stream.abort();
        waiter.stream.abort();
    }
    let (p50, p99) = percentiles(
        "grant after the holder's last heartbeat (TTL 1 s)",
        frozen.clone(),
    );
    for took in frozen {
        assert!(
            took > Duration::from_millis(900) && took < Duration::from_millis(1100),
            "TTL 1 s, granted after {took:?} (p50 {p50:?}, p99 {p99:?})"
        );
    }
}

/// A bounded soak: random agents (HTTP clients and real `baton run --desktop` processes) for
/// `BATON_SOAK_SECONDS` (default 15; `make torture` runs 600), with the invariant checker
/// following the live event stream the whole time.
#[test]
fn a_soak_of_random_agents_under_a_live_checker() {
    let seconds = env_number("BATON_SOAK_SECONDS", 15);
    let d = Daemon::start();
    let (url, user) = host_of(&d);
    let rt = runtime();

    /// What the live checker has seen: the last sequence, the first violation, the summary.
    type Live = (u64, Option<String>, check::Summary);
    let checked: Arc<Mutex<Live>> = Arc::default();
    let checker = {
        let (url, user, checked) = (url.clone(), user.clone(), checked.clone());
        rt.spawn(async move {
            let user = Client::at(&url, user).unwrap();
            let mut stream = user.event_stream(Some(0)).await.unwrap();
            let mut replay = check::Checker::default();
            while let Some(event) = stream.next_json::<Event>().await.unwrap() {
                let verdict = replay.apply(&event);
                let mut state = checked.lock().unwrap();
                state.0 = event.seq;
                state.2 = replay.summary().clone();
                if let Err(violation) = verdict {
                    state.1.get_or_insert(violation.to_string());
                }
            }
        })
    };

    let until = std::time::Instant::now() + Duration::from_secs(seconds);
    let acked = Arc::new(Mutex::new(Acked::default()));
    let mut seed = Rng::new(0x5eed ^ u64::from(std::process::id()));
    let clients: Vec<_> = (0..6)
        .map(|_| {
            rt.spawn(client(
                url.clone(),
                user.clone(),
                seed.next_u64(),
                acked.clone(),
                until,
            ))
        })
        .collect();
    // And agents that are real processes: short desktop commands through `baton run`.
    let mut commands = 0;
    while std::time::Instant::now() < until {
        let mut run = d.spawn(&["run", "-d", "-t", "process", "--", "sleep", "0.05"]);
        run.wait(Duration::from_secs(seconds + 60));
        commands += 1;
    }
    for task in clients {
        rt.block_on(task).unwrap();
    }
    let last = d.status()["last_event"].as_u64().unwrap();
    let start = std::time::Instant::now();
    while checked.lock().unwrap().0 < last {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the live checker fell behind"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    checker.abort();
    let (seen, violation, summary) = checked.lock().unwrap().clone();
    assert_eq!(violation, None);
    eprintln!(
        "soak: {seconds} s, {seen} events checked live, {} grants ({} in order), {} runs from clients, {commands} baton run commands",
        summary.grants,
        summary.in_order_grants,
        acked.lock().unwrap().submitted.len()
    );
    assert!(summary.grants > 50, "too little happened: {summary:?}");
}
