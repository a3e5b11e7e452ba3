//! What a private display costs (DESIGN rule 14): the time from a run's request for its display
//! to the answer (Baton starts an Xvfb and connects to it), and the memory of each display's
//! server, with 0 or more displays already open. Side by side with what a user would do by
//! hand: start `Xvfb -displayfd` and wait for its display number.

use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use baton_client::Client;
use baton_client::models::FinishRequest;
use baton_core::{Outcome, ResourceName, RunSpec};
use serde::Serialize;

use crate::lines;
use crate::peers;
use crate::workload::Percentiles;

/// The figures with `open` displays already open.
#[derive(Debug, Serialize)]
pub struct DisplayRow {
    /// Displays held open meanwhile.
    pub open: usize,
    /// Baton: `POST /v1/runs/{id}/display` until answered (the server takes clients).
    pub baton_start: Option<Percentiles>,
    /// By hand: `Xvfb -displayfd` until it names its display.
    pub bare_start: Option<Percentiles>,
    /// Resident memory of one display's server just after it is ready, KiB (the mean).
    pub rss_kib: u64,
    /// The same for servers started by hand.
    pub bare_rss_kib: u64,
}

/// One run holding an open display.
struct Held {
    client: Client,
    id: baton_core::RunId,
    pid: u32,
}

/// Measures with each count of displays open, `samples` starts each.
pub async fn measure(
    baton: &std::path::Path,
    counts: &[usize],
    samples: usize,
) -> Result<Vec<DisplayRow>> {
    let mut rows = Vec::new();
    for &open in counts {
        eprintln!("bench: private displays, {open} open");
        let peer = peers::baton(baton, "normal").await?;
        let user = Client::at(&peer.addr, peer.token.as_str())?;
        let capacity = u32::try_from(open + 1)?;
        user.set_capacity(&ResourceName::displays(), capacity)
            .await
            .context("the host offers no private displays (is Xvfb installed?)")?;
        let mut held = Vec::new();
        for _ in 0..open {
            held.push(hold(&user).await?.0);
        }
        let mut starts = Vec::with_capacity(samples);
        let mut memory = Vec::with_capacity(samples);
        for _ in 0..samples {
            let (run, took) = hold(&user).await?;
            starts.push(took);
            memory.push(rss_kib(run.pid));
            end(&run).await?;
        }
        let baton_rss = mean(memory.into_iter());
        for run in &held {
            end(run).await?;
        }
        drop(peer);

        let mut by_hand: Vec<Child> = Vec::new();
        for _ in 0..open {
            by_hand.push(bare_xvfb()?.0);
        }
        let mut bare = Vec::with_capacity(samples);
        let mut memory = Vec::with_capacity(samples);
        for _ in 0..samples {
            let (mut child, took) = bare_xvfb()?;
            bare.push(took);
            memory.push(rss_kib(child.id()));
            stop(&mut child);
        }
        let bare_rss_kib = mean(memory.into_iter());
        for child in &mut by_hand {
            stop(child);
        }
        rows.push(DisplayRow {
            open,
            baton_start: Percentiles::of(starts),
            bare_start: Percentiles::of(bare),
            rss_kib: baton_rss,
            bare_rss_kib,
        });
    }
    Ok(rows)
}

/// A run that needs a display, granted at once, and the time its display took to open.
async fn hold(user: &Client) -> Result<(Held, Duration)> {
    let spec = lines::long_lived(
        RunSpec::new("bench display", "bench", false).with_resources([ResourceName::displays()]),
    );
    let submitted = user.submit(&spec).await?;
    let id = submitted.status.run.id;
    anyhow::ensure!(
        submitted.status.run.state == baton_core::RunState::Running,
        "the run waits for a display: the pool is full"
    );
    let client = user.as_run(id, submitted.token);
    let start = Instant::now();
    let display = client.open_display(id).await?;
    let took = start.elapsed();
    Ok((
        Held {
            client,
            id,
            pid: display.pid,
        },
        took,
    ))
}

/// Ends a run, and with it its display.
async fn end(run: &Held) -> Result<()> {
    run.client
        .finish(
            run.id,
            &FinishRequest {
                outcome: Outcome::Succeeded,
                exit_code: None,
                note: None,
            },
        )
        .await?;
    // The display ends with the hold: wait for its server to go, so the next start does not
    // pay for it.
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::path::Path::new(&format!("/proc/{}", run.pid)).exists()
        && !zombie(run.pid)
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Ok(())
}

fn zombie(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| stat.split_once(") ").map(|(_, rest)| rest.starts_with('Z')))
        .unwrap_or(true)
}

/// `Xvfb -displayfd` as a user would start it, until it names its display.
fn bare_xvfb() -> Result<(Child, Duration)> {
    let (mut reader, writer) = std::io::pipe()?;
    let start = Instant::now();
    let child = Command::new("Xvfb")
        .args([
            "-displayfd",
            "1",
            "-screen",
            "0",
            "1280x800x24",
            "-nolisten",
            "tcp",
        ])
        .stdin(Stdio::null())
        .stdout(writer)
        .stderr(Stdio::null())
        .spawn()
        .context("could not start Xvfb (Debian: apt install xvfb)")?;
    let mut said = Vec::new();
    let mut byte = [0u8; 1];
    while !said.ends_with(b"\n") {
        if reader.read(&mut byte)? == 0 {
            anyhow::bail!("Xvfb ended before it named its display");
        }
        said.push(byte[0]);
    }
    Ok((child, start.elapsed()))
}

fn stop(child: &mut Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
}

/// A process's resident memory, KiB.
fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn mean(values: impl Iterator<Item = u64>) -> u64 {
    let values: Vec<u64> = values.collect();
    if values.is_empty() {
        0
    } else {
        values.iter().sum::<u64>() / values.len() as u64
    }
}

/// The Markdown table.
pub fn print(rows: &[DisplayRow]) {
    if rows.is_empty() {
        return;
    }
    println!("\n### Private displays\n");
    println!(
        "| open meanwhile | Baton: display ready p50 | p99 | by hand: Xvfb ready p50 | p99 | Baton ÷ by hand | server memory (Baton) | (by hand) |"
    );
    println!("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    let us = |p: Option<Percentiles>, f: fn(&Percentiles) -> f64| {
        p.map_or("–".to_string(), |p| crate::us(f(&p)))
    };
    for row in rows {
        let ratio = match (row.baton_start, row.bare_start) {
            (Some(b), Some(h)) => format!("{:.2}", b.p50_us / h.p50_us),
            _ => "–".into(),
        };
        println!(
            "| {} | {} | {} | {} | {} | {ratio} | {:.1} MiB | {:.1} MiB |",
            row.open,
            us(row.baton_start, |p| p.p50_us),
            us(row.baton_start, |p| p.p99_us),
            us(row.bare_start, |p| p.p50_us),
            us(row.bare_start, |p| p.p99_us),
            row.rss_kib as f64 / 1024.0,
            row.bare_rss_kib as f64 / 1024.0,
        );
    }
}
