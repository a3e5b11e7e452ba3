//! `baton-bench`: Baton's local API measured side by side with what a user would pick instead
//! (Redis, etcd, flock), in the same run, on the same machine. `make bench` / `make bench-quick`.
//!
//! - `peers`: starting the servers with throw-away data on loopback;
//! - `backends`: one contender per backend, written as a user of that backend would;
//! - `workload`: the contenders' loop and the figures computed from their timestamps;
//! - `queue`: what one request costs as the queue grows;
//! - `resources`: what one request costs as named resources multiply and their queues grow;
//! - `displays`: what a private display costs to start and to keep, against Xvfb by hand;
//! - `lines`: what those two share: parking runs, and the Redis list standing for a queue;
//! - `idle`: the idle daemon's memory, CPU and wake-ups, from /proc.
//!
//! Prints Markdown tables (pasted into BENCHMARKS.md) and writes every figure as JSON.

mod backends;
mod displays;
mod idle;
mod lines;
mod peers;
mod queue;
mod resources;
mod workload;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Parser;
use serde::Serialize;
use serde_json::json;

use backends::Target;
use workload::{Outcome, Percentiles};

#[derive(Debug, Parser)]
#[command(about = "Baton side by side with Redis, etcd and flock")]
struct Args {
    /// Seconds per measurement (each backend, each contender count, each of the two workloads).
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// Contender counts.
    #[arg(long, value_delimiter = ',', default_value = "1,8,64")]
    contenders: Vec<usize>,
    /// Seconds of idle to watch the daemon for (0: skip).
    #[arg(long, default_value_t = 60.0)]
    idle: f64,
    /// Backends to measure.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "baton-normal,baton-full,redis,etcd,flock"
    )]
    backends: Vec<String>,
    /// Queue lengths to measure a request's cost at (empty: skip).
    #[arg(long, value_delimiter = ',', default_value = "10,1000,5000,10000",
          value_parser = length)]
    queued: Vec<Option<usize>>,
    /// Rounds of submit + cancel (and of status) at each queue length.
    #[arg(long, default_value_t = 300)]
    queue_samples: usize,
    /// Shapes of named resources to measure a request's cost at, as RESOURCES/QUEUED: how
    /// many are declared, and how many runs wait for the one the request needs (empty: skip).
    #[arg(long, value_delimiter = ',', default_value = "1/10,100/10,1/10000,100/10000",
          value_parser = shape)]
    resources: Vec<Option<(usize, usize)>>,
    /// Private displays held open while others are started and measured (empty: skip).
    #[arg(long, value_delimiter = ',', default_value = "0,4", value_parser = length)]
    displays: Vec<Option<usize>>,
    /// Private displays started at each count.
    #[arg(long, default_value_t = 30)]
    display_samples: usize,
    /// The `baton` binary (default: next to this one).
    #[arg(long)]
    baton: Option<PathBuf>,
    /// Where to write the JSON (default: bench/results/<unix time>.json).
    #[arg(long)]
    out: Option<PathBuf>,
}

/// The figures of one backend at one contender count.
#[derive(Debug, Serialize)]
struct Row {
    backend: String,
    contenders: usize,
    /// Acquire + release cycles per second, no hold.
    cycles_per_s: f64,
    /// Release acknowledged → next grant seen, each grant held 1 ms.
    handoff: Option<Percentiles>,
    /// Release sent → next grant seen, the same grants: unlike `handoff`, it does not get
    /// longer when the releaser is answered sooner.
    handoff_from_send: Option<Percentiles>,
    /// Grants with a 1 ms hold, per second.
    held_grants_per_s: f64,
    /// Share of grants in arrival order.
    fifo: f64,
    /// Where the arrival order comes from.
    fifo_source: &'static str,
    /// Overlapping holds, over both workloads.
    double_grants: usize,
    /// Status (or the peer's read) while the contenders fight, at the largest count.
    status: Option<Percentiles>,
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let baton = match &args.baton {
        Some(path) => path.clone(),
        None => std::env::current_exe()?
            .parent()
            .context("no directory")?
            .join("baton"),
    };
    let duration = Duration::from_secs_f64(args.seconds);
    let largest = args.contenders.iter().copied().max().unwrap_or(1);
    let mut rows = Vec::new();

    for backend in args.backends.iter().filter(|b| !b.is_empty()) {
        eprintln!("bench: {backend}");
        // The flock file's directory lives as long as the backend's measurements.
        let mut scratch = None;
        let (peer, target) = match backend.as_str() {
            "baton-normal" | "baton-full" => {
                let durability = backend.trim_start_matches("baton-");
                let peer = peers::baton(&baton, durability).await?;
                let target = Target::baton(&peer);
                (Some(peer), target)
            }
            "redis" => {
                let peer = peers::redis().await?;
                let url = format!("redis://{}/", peer.addr);
                (Some(peer), Target::Redis { url })
            }
            "etcd" => {
                let peer = peers::etcd().await?;
                let addr = peer.addr.clone();
                (Some(peer), Target::Etcd { addr })
            }
            "flock" => {
                let dir = tempfile::tempdir()?;
                let path: Arc<std::path::Path> = dir.path().join("lock").into();
                scratch = Some(dir);
                (None, Target::Flock { path })
            }
            other => anyhow::bail!("unknown backend {other}"),
        };
        for &n in &args.contenders {
            let cycles = workload::run(&target, n, duration, Duration::ZERO, false).await?;
            let before = match (&target, &peer) {
                (Target::Baton { .. }, Some(p)) => last_event(p).await?,
                _ => 0,
            };
            let held =
                workload::run(&target, n, duration, Duration::from_millis(1), n == largest).await?;
            let (fifo, fifo_source) = match (&target, &peer) {
                (Target::Baton { url, token }, Some(_)) => {
                    let (in_order, grants, _) = backends::baton_fifo(url, token, before).await?;
                    (ratio(in_order, grants), "server (event log)")
                }
                _ => (held.fifo_by_client_clock(), "client clock"),
            };
            let row = Row {
                backend: backend.clone(),
                contenders: n,
                cycles_per_s: cycles.per_second(),
                handoff: Percentiles::of(held.handoffs()),
                handoff_from_send: Percentiles::of(held.handoffs_from_send()),
                held_grants_per_s: held.per_second(),
                fifo,
                fifo_source,
                double_grants: cycles.double_grants() + held.double_grants(),
                status: Percentiles::of(held.reads.clone()),
            };
            eprintln!("bench:   {n} contenders: {}", summary(&row, &held));
            rows.push(row);
        }
        drop(peer);
        drop(scratch);
    }

    let lengths: Vec<usize> = args.queued.iter().flatten().copied().collect();
    let queue_rows = if lengths.is_empty() {
        Vec::new()
    } else {
        queue::measure(&baton, &lengths, args.queue_samples).await?
    };

    let shapes: Vec<(usize, usize)> = args.resources.iter().flatten().copied().collect();
    let resource_rows = if shapes.is_empty() {
        Vec::new()
    } else {
        resources::measure(&baton, &shapes, args.queue_samples).await?
    };

    let open: Vec<usize> = args.displays.iter().flatten().copied().collect();
    let display_rows = if open.is_empty() {
        Vec::new()
    } else {
        displays::measure(&baton, &open, args.display_samples).await?
    };

    let idle = if args.idle > 0.0 {
        eprintln!("bench: idle baton daemon for {} s", args.idle);
        Some(idle::watch(&baton, Duration::from_secs_f64(args.idle)).await?)
    } else {
        None
    };

    print_tables(&rows, idle.as_ref(), &args);
    queue::print(&queue_rows);
    resources::print(&resource_rows);
    displays::print(&display_rows);
    if let Some((ratio, ok)) = queue::target(&queue_rows, 5000) {
        println!(
            "- {} submit + cancel with 5 000 queued within 2× of the shortest queue's (ratio {ratio:.2})",
            if ok { "met:" } else { "MISSED:" }
        );
    }
    let out = match &args.out {
        Some(out) => out.clone(),
        None => {
            let secs = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)?
                .as_secs();
            PathBuf::from(format!("bench/results/{secs}.json"))
        }
    };
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let report = json!({
        "seconds_per_measurement": args.seconds,
        "machine": machine(),
        "rows": rows,
        "queue": queue_rows,
        "resources": resource_rows,
        "displays": display_rows,
        "idle": idle,
    });
    std::fs::write(&out, serde_json::to_string_pretty(&report)?)?;
    eprintln!("bench: figures written to {}", out.display());
    Ok(())
}

/// A queue length; nothing for an empty value (`--queued ""` skips the rows).
fn length(text: &str) -> Result<Option<usize>, String> {
    if text.trim().is_empty() {
        return Ok(None);
    }
    text.trim()
        .parse()
        .map(Some)
        .map_err(|e| format!("'{text}': {e}"))
}

/// `100/10000`: resources declared / runs queued for the measured one; nothing for an empty
/// value (`--resources ""` skips the rows).
fn shape(text: &str) -> Result<Option<(usize, usize)>, String> {
    if text.trim().is_empty() {
        return Ok(None);
    }
    let (resources, queued) = text
        .split_once('/')
        .ok_or_else(|| format!("'{text}' is not RESOURCES/QUEUED, such as 100/10000"))?;
    let number = |n: &str| n.trim().parse::<usize>().map_err(|e| format!("'{n}': {e}"));
    let resources = number(resources)?;
    if resources == 0 {
        return Err("at least one resource".into());
    }
    Ok(Some((resources, number(queued)?)))
}

fn ratio(part: usize, whole: usize) -> f64 {
    if whole == 0 {
        1.0
    } else {
        part as f64 / whole as f64
    }
}

async fn last_event(peer: &peers::Peer) -> Result<u64> {
    let client = baton_client::Client::at(&peer.addr, peer.token.as_str())?;
    Ok(client.status().await?.last_event)
}

fn summary(row: &Row, held: &Outcome) -> String {
    format!(
        "{:.0} cycles/s; held: {} grants, hand-off p99 {}, FIFO {:.1} %, {} double grants",
        row.cycles_per_s,
        held.cycles.len(),
        row.handoff.map_or("-".into(), |p| us(p.p99_us)),
        row.fifo * 100.0,
        row.double_grants
    )
}

fn us(micros: f64) -> String {
    if micros >= 1000.0 {
        format!("{:.2} ms", micros / 1000.0)
    } else {
        format!("{micros:.0} µs")
    }
}

fn machine() -> serde_json::Value {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_default();
    json!({
        "cpu": cpu,
        "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        "kernel": std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim(),
    })
}

fn print_tables(rows: &[Row], idle: Option<&idle::Idle>, args: &Args) {
    if rows.is_empty() && idle.is_none() {
        return;
    }
    for &n in &args.contenders {
        println!("\n### {n} contender{}\n", if n == 1 { "" } else { "s" });
        println!(
            "| backend | cycles/s | hand-off p50 | p99 | max | grants/s held 1 ms | FIFO | double grants |"
        );
        println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
        for row in rows.iter().filter(|r| r.contenders == n) {
            let (p50, p99, max) = row
                .handoff
                .map_or(("–".into(), "–".into(), "–".into()), |p| {
                    (us(p.p50_us), us(p.p99_us), us(p.max_us))
                });
            println!(
                "| {} | {:.0} | {p50} | {p99} | {max} | {:.0} | {:.1} % | {} |",
                row.backend,
                row.cycles_per_s,
                row.held_grants_per_s,
                row.fifo * 100.0,
                row.double_grants
            );
        }
    }
    let largest = args.contenders.iter().copied().max().unwrap_or(1);
    println!("\n### Status (or the peer's read) while {largest} contenders fight\n");
    println!("| backend | read | p50 | p99 | max |");
    println!("| --- | --- | ---: | ---: | ---: |");
    for row in rows.iter().filter(|r| r.contenders == largest) {
        let read = match row.backend.as_str() {
            "redis" => "LLEN",
            "etcd" => "range over the lock's keys",
            "flock" => "(nothing to ask)",
            _ => "GET /v1/status",
        };
        match row.status {
            Some(p) => println!(
                "| {} | {read} | {} | {} | {} |",
                row.backend,
                us(p.p50_us),
                us(p.p99_us),
                us(p.max_us)
            ),
            None => println!("| {} | {read} | – | – | – |", row.backend),
        }
    }
    if let Some(idle) = idle {
        println!("\n### Idle `baton daemon` over {:.0} s\n", idle.seconds);
        println!("| RSS | peak RSS | CPU time | wake-ups (context switches) |");
        println!("| ---: | ---: | ---: | ---: |");
        println!(
            "| {:.1} MiB | {:.1} MiB | {:.0} ms | {} |",
            idle.rss_kib as f64 / 1024.0,
            idle.peak_rss_kib as f64 / 1024.0,
            idle.cpu_ms,
            idle.context_switches
        );
    }
    targets(rows, idle, largest);
}

/// The targets for Baton, as ratios to the peers measured in this same run.
fn targets(rows: &[Row], idle: Option<&idle::Idle>, largest: usize) {
    let find = |backend: &str, n: usize| {
        rows.iter()
            .find(|r| r.backend == backend && r.contenders == n)
    };
    let Some(baton) = find("baton-normal", largest) else {
        return;
    };
    println!("\n### Targets (Baton with synchronous=NORMAL, {largest} contenders)\n");
    let line =
        |what: String, ok: bool| println!("- {} {what}", if ok { "met:" } else { "MISSED:" });
    if let Some(h) = baton.handoff {
        line(
            format!("hand-off p99 {} ≤ 1 ms", us(h.p99_us)),
            h.p99_us <= 1000.0,
        );
        if let Some(redis) = find("redis", largest).and_then(|r| r.handoff) {
            line(
                format!(
                    "hand-off p99 at most half of Redis BLPOP's ({} vs {}, ratio {:.2})",
                    us(h.p99_us),
                    us(redis.p99_us),
                    h.p99_us / redis.p99_us
                ),
                h.p99_us <= redis.p99_us / 2.0,
            );
        }
    }
    if let Some(s) = baton.status {
        line(
            format!("status p99 under load {} ≤ 1 ms", us(s.p99_us)),
            s.p99_us <= 1000.0,
        );
    }
    if let Some(redis) = find("redis", largest) {
        line(
            format!(
                "cycles/s at least twice Redis BLPOP's ({:.0} vs {:.0}, ratio {:.2})",
                baton.cycles_per_s,
                redis.cycles_per_s,
                baton.cycles_per_s / redis.cycles_per_s
            ),
            baton.cycles_per_s >= 2.0 * redis.cycles_per_s,
        );
    }
    let fifo_all = rows
        .iter()
        .filter(|r| r.backend.starts_with("baton"))
        .all(|r| r.fifo == 1.0);
    line("FIFO 100 % at every count".into(), fifo_all);
    let doubles: usize = rows
        .iter()
        .filter(|r| r.backend.starts_with("baton"))
        .map(|r| r.double_grants)
        .sum();
    line(format!("{doubles} double grants"), doubles == 0);
    if let Some(idle) = idle {
        line(
            format!("idle RSS {:.1} MiB ≤ 10 MiB", idle.rss_kib as f64 / 1024.0),
            idle.rss_kib <= 10 * 1024,
        );
        line(
            format!("{} wake-ups while idle", idle.context_switches),
            idle.context_switches == 0,
        );
    }
}
