//! A quick measurement of hand-off and status latency with a few dozen waiting clients, over
//! real loopback HTTP against a real host (SQLite file, `synchronous` as given). The
//! side-by-side benchmark against Redis, etcd and flock lives in `bench/`; this is the quick
//! look.
//!
//! ```text
//! cargo run --release -p baton-api --example handoff -- [WAITERS] [ROUNDS] [normal|full]
//! ```
//!
//! Each client submits a desktop run, waits for its grant on its attach stream, holds the
//! desktop for 1 ms, finishes, and submits again. Hand-off latency is the time from a holder's
//! finish being acknowledged to the next holder seeing its grant. Meanwhile one more client
//! asks for status in a loop.

#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use baton_api::{Host, HostOptions};
use baton_client::Client;
use baton_client::models::FinishRequest;
use baton_core::{Durability, Outcome, RunSpec, RunStatus};
use baton_platform::DataDir;

#[derive(Default)]
struct Log {
    /// (granted seen, release acknowledged) per grant, in grant order.
    holds: Vec<(Instant, Instant)>,
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let waiters: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(40);
    let rounds: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(10);
    let durability: Durability = args
        .next()
        .map_or(Ok(Durability::Normal), |a| a.parse())
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let host = Host::start(HostOptions {
        durability,
        input: baton_api::InputOptions::Disabled,
        ..HostOptions::new(DataDir::at(dir.path()), baton_platform::HostKind::Daemon)
    })
    .await
    .unwrap();
    let url = host.url();
    let token = host.data_dir().user_token().unwrap();
    let log = Arc::new(Mutex::new(Log::default()));
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));

    let status_task = {
        let (url, token, done) = (url.clone(), token.clone(), done.clone());
        tokio::spawn(async move {
            let user = Client::at(&url, token).unwrap();
            let mut samples = Vec::new();
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                let start = Instant::now();
                user.get::<serde::de::IgnoredAny>("/v1/status")
                    .await
                    .unwrap();
                samples.push(start.elapsed());
            }
            samples
        })
    };

    let started = Instant::now();
    let mut clients = Vec::new();
    for i in 0..waiters {
        let (url, token, log) = (url.clone(), token.clone(), log.clone());
        clients.push(tokio::spawn(async move {
            let user = Client::at(&url, token).unwrap();
            for round in 0..rounds {
                let spec = RunSpec::new(format!("c{i} r{round}"), "bench", true);
                let submitted = user.submit(&spec).await.unwrap();
                let id = submitted.status.run.id;
                let me = user.as_run(id, submitted.token);
                let mut attached = me.attach(id).await.unwrap();
                let granted = loop {
                    let status: RunStatus = attached.next_json().await.unwrap().unwrap();
                    if status.run.holds_desktop {
                        break Instant::now();
                    }
                };
                tokio::time::sleep(Duration::from_millis(1)).await;
                let finish = FinishRequest {
                    outcome: Outcome::Succeeded,
                    exit_code: None,
                    note: None,
                };
                me.finish(id, &finish).await.unwrap();
                let released = Instant::now();
                log.lock().unwrap().holds.push((granted, released));
            }
        }));
    }
    for client in clients {
        client.await.unwrap();
    }
    let elapsed = started.elapsed();
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut status = status_task.await.unwrap();

    let mut holds = std::mem::take(&mut log.lock().unwrap().holds);
    holds.sort_by_key(|(granted, _)| *granted);
    let mut handoffs: Vec<Duration> = holds
        .windows(2)
        .map(|w| w[1].0.saturating_duration_since(w[0].1))
        .collect();
    let grants = holds.len();
    println!(
        "{waiters} clients x {rounds} rounds, durability {durability:?}: {grants} grants in {elapsed:.2?} ({:.0} grants/s)",
        grants as f64 / elapsed.as_secs_f64()
    );
    report("hand-off (release ack -> next grant seen)", &mut handoffs);
    report("status under load", &mut status);
    host.shutdown().await;
}

fn report(what: &str, samples: &mut [Duration]) {
    samples.sort();
    let pick = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    println!(
        "{what}: n={} p50={:.3?} p99={:.3?} max={:.3?}",
        samples.len(),
        pick(0.5),
        pick(0.99),
        samples[samples.len() - 1]
    );
}
