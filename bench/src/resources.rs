//! What one request costs as named resources multiply and their queues grow: a run that needs
//! one declared resource is submitted (it queues behind that resource's holder) and the user
//! cancels it, over and over, with 1 or 100 resources declared (each held, with a few runs
//! waiting), and with 10 or 10 000 runs waiting for the one it needs. Side by side with the
//! queue a Redis user would keep for that resource: a list, `RPUSH` then `LREM` from the tail.

use std::time::{Duration, Instant};

use anyhow::Result;
use baton_client::Client;
use baton_core::{ResourceName, RunSpec};
use serde::Serialize;

use crate::lines::{self, RedisList};
use crate::peers;
use crate::workload::Percentiles;

/// Runs waiting for every other resource, so that each has a queue of its own.
const WAITING_ELSEWHERE: usize = 3;
/// The Redis list that stands for the measured resource's queue.
const REDIS_QUEUE: &str = "baton-bench-resource";

/// The figures of one shape.
#[derive(Debug, Serialize)]
pub struct ResourceRow {
    /// Resources declared besides the desktop.
    pub resources: usize,
    /// Runs waiting for the resource the measured run needs.
    pub queued: usize,
    /// Baton: submit a run needing one resource, then the user cancels it.
    pub submit_cancel: Option<Percentiles>,
    /// Redis: `RPUSH`, then `LREM key -1`, on a list that long.
    pub redis_push_remove: Option<Percentiles>,
}

/// Measures each (resources, queued) shape on a fresh host, `samples` rounds each.
pub async fn measure(
    baton: &std::path::Path,
    shapes: &[(usize, usize)],
    samples: usize,
) -> Result<Vec<ResourceRow>> {
    let redis = peers::redis().await?;
    let redis_url = format!("redis://{}/", redis.addr);
    let mut rows = Vec::new();
    for &(resources, queued) in shapes {
        eprintln!("bench: {resources} resources, {queued} queued for one");
        let cap = (queued + resources * (WAITING_ELSEWHERE + 1) + 100)
            .max(10_000)
            .to_string();
        let peer = peers::baton_with(baton, "normal", &["--max-active", &cap]).await?;
        let client = Client::at(&peer.addr, peer.token.as_str())?;
        let names = declare(&client, resources).await?;
        for (i, name) in names.iter().enumerate() {
            // Every resource is held; the measured one has `queued` waiting, the others a few.
            let waiting = if i == 0 { queued } else { WAITING_ELSEWHERE };
            park(&client, name, waiting + 1).await?;
        }
        let submit_cancel = rounds(&client, &names[0], samples).await?;
        drop(peer);
        let redis_push_remove = redis_rounds(&redis_url, queued, samples).await?;
        rows.push(ResourceRow {
            resources,
            queued,
            submit_cancel: Percentiles::of(submit_cancel),
            redis_push_remove: Percentiles::of(redis_push_remove),
        });
    }
    drop(redis);
    Ok(rows)
}

async fn declare(client: &Client, count: usize) -> Result<Vec<ResourceName>> {
    let mut names = Vec::with_capacity(count);
    for i in 0..count {
        let name: ResourceName = format!("bench:{i}").parse()?;
        client.add_resource(name.clone(), 1).await?;
        names.push(name);
    }
    Ok(names)
}

fn spec(title: String, client: String, resource: &ResourceName) -> RunSpec {
    lines::long_lived(RunSpec::new(title, client, false).with_resources([resource.clone()]))
}

/// `count` runs need `resource`: the first holds it, the rest wait.
async fn park(client: &Client, resource: &ResourceName, count: usize) -> Result<()> {
    lines::park(client, count, |title, who| spec(title, who, resource)).await
}

async fn rounds(client: &Client, resource: &ResourceName, samples: usize) -> Result<Vec<Duration>> {
    let mut pairs = Vec::with_capacity(samples);
    for i in 0..samples {
        let start = Instant::now();
        let submitted = client
            .submit(&spec(format!("measured {i}"), "bench".into(), resource))
            .await?;
        anyhow::ensure!(
            submitted.status.run.state == baton_core::RunState::Queued,
            "the measured run did not queue"
        );
        client
            .cancel(submitted.status.run.id, Some("bench".into()))
            .await?;
        pairs.push(start.elapsed());
    }
    Ok(pairs)
}

async fn redis_rounds(url: &str, queued: usize, samples: usize) -> Result<Vec<Duration>> {
    let mut list = RedisList::fill(url, REDIS_QUEUE, queued).await?;
    let mut pairs = Vec::with_capacity(samples);
    for i in 0..samples {
        pairs.push(list.push_remove(i).await?);
    }
    Ok(pairs)
}

/// The Markdown table, with Baton's cost as a ratio to its own in the smallest shape and to
/// Redis's at the same queue length.
pub fn print(rows: &[ResourceRow]) {
    let Some(first) = rows.first() else { return };
    let base = first.submit_cancel.map(|p| p.p50_us);
    println!("\n### Cost against resources and their queues\n");
    println!(
        "| resources | queued for it | submit + cancel p50 | p99 | × at {} / {} | Redis RPUSH + LREM p50 | Baton ÷ Redis |",
        first.resources, first.queued
    );
    println!("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
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
            "| {} | {} | {} | {} | {growth} | {} | {vs_redis} |",
            row.resources,
            row.queued,
            us(row.submit_cancel, |p| p.p50_us),
            us(row.submit_cancel, |p| p.p99_us),
            us(row.redis_push_remove, |p| p.p50_us),
        );
    }
}
