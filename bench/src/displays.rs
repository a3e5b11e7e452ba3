//! What a private display costs (DESIGN rule 14): the time from a run's request for its display
//! to the answer (Baton starts an Xvfb and its window manager, Openbox when installed, and
//! connects), and the memory of each display's processes, with 0 or more displays already
//! open. Side by side with what a user would do by hand: start `Xvfb -displayfd`, wait for its
//! display number, then start `openbox` there and wait until it manages the screen.

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
    /// By hand: `Xvfb -displayfd` until it names its display, then Openbox until it manages.
    pub bare_start: Option<Percentiles>,
    /// Resident memory of one display's server and window manager just after it is ready,
    /// KiB (the mean).
    pub rss_kib: u64,
    /// The same for displays started by hand.
    pub bare_rss_kib: u64,
    /// Whether a window manager ran on the displays (Openbox installed).
    pub window_manager: bool,
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
        let host = peer.child.id();
        for _ in 0..samples {
            let managers = children_named(host, WINDOW_MANAGER);
            let (run, took) = hold(&user).await?;
            starts.push(took);
            let new_managers = children_named(host, WINDOW_MANAGER)
                .into_iter()
                .filter(|pid| !managers.contains(pid));
            memory.push(rss_kib(run.pid) + new_managers.map(rss_kib).sum::<u64>());
            end(&run).await?;
        }
        let baton_rss = mean(memory.into_iter());
        for run in &held {
            end(run).await?;
        }
        drop(peer);

        let manage = installed(WINDOW_MANAGER);
        let mut by_hand: Vec<Vec<Child>> = Vec::new();
        for _ in 0..open {
            by_hand.push(by_hand_display(manage)?.0);
        }
        let mut bare = Vec::with_capacity(samples);
        let mut memory = Vec::with_capacity(samples);
        for _ in 0..samples {
            let (mut children, took) = by_hand_display(manage)?;
            bare.push(took);
            memory.push(children.iter().map(|c| rss_kib(c.id())).sum());
            // The window manager first, as Baton ends them.
            for child in children.iter_mut().rev() {
                stop(child);
            }
        }
        let bare_rss_kib = mean(memory.into_iter());
        for children in &mut by_hand {
            for child in children.iter_mut().rev() {
                stop(child);
            }
        }
        rows.push(DisplayRow {
            open,
            baton_start: Percentiles::of(starts),
            bare_start: Percentiles::of(bare),
            rss_kib: baton_rss,
            bare_rss_kib,
            window_manager: manage,
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

/// The window manager Baton runs on each display when it is installed.
const WINDOW_MANAGER: &str = "openbox";

fn installed(program: &str) -> bool {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path).any(|dir| dir.join(program).is_file())
}

/// The live children of `parent` whose command is `name`.
fn children_named(parent: u32, name: &str) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
                stat.split_once(") ").is_some_and(|(comm, rest)| {
                    let mut fields = rest.split(' ');
                    let state = fields.next().unwrap_or("Z");
                    comm.ends_with(&format!("({name}"))
                        && state != "Z"
                        && fields.next() == Some(parent.to_string().as_str())
                })
            })
        })
        .collect()
}

/// A display as a user would start one: Xvfb until it names its display, then (when `manage`)
/// Openbox on it until it sets `_NET_SUPPORTING_WM_CHECK`. The server comes first in the list.
fn by_hand_display(manage: bool) -> Result<(Vec<Child>, Duration)> {
    let start = Instant::now();
    let (server, number) = bare_xvfb()?;
    let mut children = vec![server];
    if manage {
        let display = format!(":{number}");
        let manager = Command::new(WINDOW_MANAGER)
            .arg("--sm-disable")
            .env("DISPLAY", &display)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("could not start openbox")?;
        children.push(manager);
        wait_managed(&display)?;
    }
    Ok((children, start.elapsed()))
}

/// Polls the root window until a window manager announces itself.
fn wait_managed(display: &str) -> Result<()> {
    use x11rb::connection::Connection;
    use x11rb::protocol::xproto::{AtomEnum, ConnectionExt};
    let (conn, screen) = x11rb::connect(Some(display))?;
    let root = conn.setup().roots[screen].root;
    let check = conn
        .intern_atom(false, b"_NET_SUPPORTING_WM_CHECK")?
        .reply()?
        .atom;
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let property = conn
            .get_property(false, root, check, AtomEnum::WINDOW, 0, 1)?
            .reply()?;
        if property.value_len > 0 {
            return Ok(());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "openbox did not manage {display} within 5 s"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// `Xvfb -displayfd` as a user would start it, until it names its display (its number).
fn bare_xvfb() -> Result<(Child, u32)> {
    let (mut reader, writer) = std::io::pipe()?;
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
    let number = std::str::from_utf8(&said)?.trim().parse()?;
    Ok((child, number))
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
    let manager = rows.iter().any(|r| r.window_manager);
    if manager {
        println!("Each display: Xvfb and Openbox, started, ready and measured together.\n");
    } else {
        println!("Each display: Xvfb alone (Openbox is not installed here).\n");
    }
    println!(
        "| open meanwhile | Baton: display ready p50 | p99 | by hand: ready p50 | p99 | Baton ÷ by hand | memory (Baton) | (by hand) |"
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
