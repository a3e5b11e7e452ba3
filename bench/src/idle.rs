//! The idle daemon: memory, CPU time and wake-ups of a `baton daemon` nobody talks to, read
//! from /proc (reading /proc does not wake the process).

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct Idle {
    pub seconds: f64,
    /// Resident memory at the end.
    pub rss_kib: u64,
    /// The most it was resident, start-up included.
    pub peak_rss_kib: u64,
    /// User + system CPU time spent while idle.
    pub cpu_ms: f64,
    /// Context switches of all its threads while idle: every wake-up is one.
    pub context_switches: u64,
}

fn status_field(text: &str, field: &str) -> Option<u64> {
    text.lines()
        .find(|l| l.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// utime + stime, in clock ticks (100 a second on Linux).
fn cpu_ticks(pid: u32) -> Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = stat.rsplit_once(')').context("stat")?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    Ok(fields[11].parse::<u64>()? + fields[12].parse::<u64>()?)
}

fn context_switches(pid: u32) -> Result<u64> {
    let mut total = 0;
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))? {
        let status = std::fs::read_to_string(task?.path().join("status"))?;
        total += status_field(&status, "voluntary_ctxt_switches:").unwrap_or(0)
            + status_field(&status, "nonvoluntary_ctxt_switches:").unwrap_or(0);
    }
    Ok(total)
}

pub async fn watch(baton: &Path, duration: Duration) -> Result<Idle> {
    let peer = crate::peers::baton(baton, "normal").await?;
    let pid = peer.child.id();
    // Let start-up settle (the first status snapshot, the store's first checkpoint).
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (cpu0, switches0) = (cpu_ticks(pid)?, context_switches(pid)?);
    tokio::time::sleep(duration).await;
    let (cpu1, switches1) = (cpu_ticks(pid)?, context_switches(pid)?);
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    Ok(Idle {
        seconds: duration.as_secs_f64(),
        rss_kib: status_field(&status, "VmRSS:").unwrap_or(0),
        peak_rss_kib: status_field(&status, "VmHWM:").unwrap_or(0),
        cpu_ms: (cpu1 - cpu0) as f64 * 10.0,
        context_switches: switches1 - switches0,
    })
}
