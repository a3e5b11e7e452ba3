//! What one request costs as the queue grows: with N desktop runs parked in the queue (one
//! more holding the desktop), a new run is submitted and the user cancels it, over and over;
//! and the status is read. Side by side with the queue a Redis user would keep: a list, where
//! `RPUSH` queues and `LREM` (from the tail) takes an entry out, and `LRANGE 0 -1` reads it all.

use std::time::{Duration, Instant};

use anyhow::Result;
use baton_client::Client;
use baton_core::RunSpec;
use serde::Serialize;

use crate::lines::{self, RedisList};
use crate::peers;
use crate::workload::Percentiles;

/// The Redis list that stands for the queue.
const REDIS_QUEUE: &str = "baton-bench-queue";

/// The figures at one queue length.
#[derive(Debug, Serialize)]
pub struct QueueRow {
    pub queued: usize,
    /// Baton: submit a desktop run (it queues at the back), then the user cancels it.
    pub submit_cancel: Option<Percentiles>,
    /// Baton: `GET /v1/status`, which lists the whole queue.
    pub status: Option<Percentiles>,
    /// Redis: `RPUSH`, then `LREM key -1`.
    pub redis_push_remove: Option<Percentiles>,
    /// Redis: `LRANGE key 0 -1`.
    pub redis_range: Option<Percentiles>,
}

/// Measures each queue length on a fresh host and a fresh Redis list, `samples` rounds each.
pub async fn measure(
    baton: &std::path::Path,
    lengths: &[usize],
    samples: usize,
) -> Result<Vec<QueueRow>> {
    let redis = peers::redis().await?;
    let redis_url = format!("redis://{}/", redis.addr);
    let mut rows = Vec::new();
    for &queued in lengths {
        eprintln!("bench: {queued} queued");
        // The active-run cap is raised above the longest queue measured.
        let cap = (queued + 100).max(10_000).to_string();
        let peer = peers::baton_with(baton, "normal", &["--max-active", &cap]).await?;
        let client = Client::at(&peer.addr, peer.token.as_str())?;
        park(&client, queued).await?;
        let (submit_cancel, status) = baton_rounds(&client, samples).await?;
        drop(peer);
        let (redis_push_remove, redis_range) = redis_rounds(&redis_url, queued, samples).await?;
        let row = QueueRow {
            queued,
            submit_cancel: Percentiles::of(submit_cancel),
            status: Percentiles::of(status),
            redis_push_remove: Percentiles::of(redis_push_remove),
            redis_range: Percentiles::of(redis_range),
        };
        rows.push(row);
    }
    drop(redis);
    Ok(rows)
}

fn spec(title: String, client: String) -> RunSpec {
    lines::long_lived(RunSpec::new(title, client, true))
}

/// One run holds the desktop, `queued` more wait behind it.
async fn park(client: &Client, queued: usize) -> Result<()> {
    client
        .submit(&spec("holder".into(), "bench-holder".into()))
        .await?;
    lines::park(client, queued, spec).await?;
    let snapshot = client.status().await?;
    anyhow::ensure!(
        snapshot.desktop.queue.len() == queued,
        "{} runs queued instead of {queued}",
        snapshot.desktop.queue.len()
    );
    Ok(())
}

async fn baton_rounds(client: &Client, samples: usize) -> Result<(Vec<Duration>, Vec<Duration>)> {
    let mut pairs = Vec::with_capacity(samples);
    let mut reads = Vec::with_capacity(samples);
    for i in 0..samples {
        let start = Instant::now();
        let submitted = client
            .submit(&spec(format!("measured {i}"), "bench".into()))
            .await?;
        client
            .cancel(submitted.status.run.id, Some("bench".into()))
            .await?;
        pairs.push(start.elapsed());
    }
    // Apart from the pairs: a status read moves megabytes through the caches, and the next
    // pair would pay for that, not for the queue.
    for _ in 0..samples {
        let start = Instant::now();
        client.status().await?;
        reads.push(start.elapsed());
    }
    Ok((pairs, reads))
}

async fn redis_rounds(
    url: &str,
    queued: usize,
    samples: usize,
) -> Result<(Vec<Duration>, Vec<Duration>)> {
    let mut list = RedisList::fill(url, REDIS_QUEUE, queued).await?;
    let mut pairs = Vec::with_capacity(samples);
    let mut reads = Vec::with_capacity(samples);
    for i in 0..samples {
        pairs.push(list.push_remove(i).await?);
        reads.push(list.range().await?);
    }
    Ok((pairs, reads))
}

/// The Markdown table, with Baton's cost as a ratio to its own at the shortest queue and to
/// Redis's at the same length.
pub fn print(rows: &[QueueRow]) {
    let Some(first) = rows.first() else { return };
    let base = first.submit_cancel.map(|p| p.p50_us);
    println!("\n### Cost against queue length\n");
    println!(
        "| queued | submit + cancel p50 | p99 | × at {} | Redis RPUSH + LREM p50 | Baton ÷ Redis | status p50 | p99 | Redis LRANGE p50 |",
        first.queued
    );
    println!("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    let us = |p: Option<Percentiles>, f: fn(&Percentiles) -> f64| {
        p.map_or("–".to_string(), |p| crate::us(f(&p)))
    };
    for row in rows {
        let pair = row.submit_cancel.map(|p| p.p50_us);
        let growth = match (pair, base) {
            (Some(p), Some(b)) => format!("{:.2}", p / b),
            _ => "–".into(),
        };
        let vs_redis = match (pair, row.redis_push_remove) {
            (Some(p), Some(r)) => format!("{:.1}", p / r.p50_us),
            _ => "–".into(),
        };
        println!(
            "| {} | {} | {} | {growth} | {} | {vs_redis} | {} | {} | {} |",
            row.queued,
            us(row.submit_cancel, |p| p.p50_us),
            us(row.submit_cancel, |p| p.p99_us),
            us(row.redis_push_remove, |p| p.p50_us),
            us(row.status, |p| p.p50_us),
            us(row.status, |p| p.p99_us),
            us(row.redis_range, |p| p.p50_us),
        );
    }
}

/// Whether submit + cancel with `at` queued stays within 2× of the shortest queue measured.
pub fn target(rows: &[QueueRow], at: usize) -> Option<(f64, bool)> {
    let base = rows.first()?.submit_cancel?.p50_us;
    let row = rows.iter().find(|r| r.queued == at)?.submit_cancel?;
    let ratio = row.p50_us / base;
    Some((ratio, ratio <= 2.0))
}
