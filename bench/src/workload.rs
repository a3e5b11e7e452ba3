//! The workload, the same for every backend: N contenders loop acquire → (hold) → release for
//! a fixed time, each timing its own steps on one shared monotonic clock; a reader may ask for
//! the state meanwhile. The figures are computed from those timestamps afterwards.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Result;
use serde::Serialize;

use crate::backends::Target;

/// One grant, as its contender saw it.
#[derive(Debug, Clone, Copy)]
pub struct Cycle {
    /// Just before the acquire request was sent: the client-side arrival order.
    pub requested: Instant,
    /// The acquire answered: the lock is this contender's.
    pub granted: Instant,
    /// Just before the release request was sent: the end of the hold.
    pub releasing: Instant,
    /// The release acknowledged.
    pub released: Instant,
}

/// What one run of the workload produced.
#[derive(Debug)]
pub struct Outcome {
    pub cycles: Vec<Cycle>,
    pub elapsed: Duration,
    pub reads: Vec<Duration>,
}

/// Runs `contenders` for `duration`, each holding every grant for `hold`, with a status reader
/// when `read` is set. Contenders stop asking at the deadline and finish the cycle they are in,
/// so every request is granted and every grant released.
pub async fn run(
    target: &Target,
    contenders: usize,
    duration: Duration,
    hold: Duration,
    read: bool,
) -> Result<Outcome> {
    target.prepare().await?;
    let mut parties = Vec::with_capacity(contenders);
    for index in 0..contenders {
        parties.push(target.contender(index).await?);
    }
    let reader = if read { target.reader().await? } else { None };
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let deadline = start + duration;

    let mut tasks = Vec::new();
    for mut party in parties {
        tasks.push(tokio::spawn(async move {
            let mut cycles = Vec::new();
            while Instant::now() < deadline {
                let requested = Instant::now();
                party.acquire().await?;
                let granted = Instant::now();
                if !hold.is_zero() {
                    tokio::time::sleep(hold).await;
                }
                let releasing = Instant::now();
                party.release().await?;
                cycles.push(Cycle {
                    requested,
                    granted,
                    releasing,
                    released: Instant::now(),
                });
            }
            party.close().await?;
            anyhow::Ok(cycles)
        }));
    }
    let reads = reader.map(|mut reader| {
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut reads = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                reader.read().await?;
                reads.push(t.elapsed());
            }
            anyhow::Ok(reads)
        })
    });

    let mut cycles = Vec::new();
    for task in tasks {
        cycles.extend(task.await??);
    }
    let elapsed = start.elapsed();
    stop.store(true, Ordering::Relaxed);
    let reads = match reads {
        Some(task) => task.await??,
        None => Vec::new(),
    };
    cycles.sort_by_key(|c| c.granted);
    Ok(Outcome {
        cycles,
        elapsed,
        reads,
    })
}

/// Latency percentiles in microseconds.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Percentiles {
    pub n: usize,
    pub p50_us: f64,
    pub p99_us: f64,
    pub max_us: f64,
}

impl Percentiles {
    pub fn of(mut samples: Vec<Duration>) -> Option<Percentiles> {
        if samples.is_empty() {
            return None;
        }
        samples.sort();
        let us = |d: Duration| d.as_secs_f64() * 1e6;
        let at = |q: f64| us(samples[((samples.len() - 1) as f64 * q).round() as usize]);
        Some(Percentiles {
            n: samples.len(),
            p50_us: at(0.5),
            p99_us: at(0.99),
            max_us: us(samples[samples.len() - 1]),
        })
    }
}

impl Outcome {
    pub fn per_second(&self) -> f64 {
        self.cycles.len() as f64 / self.elapsed.as_secs_f64()
    }

    /// From a holder's release being acknowledged to the next holder seeing its grant, for
    /// every grant whose contender was already waiting at that release. (A next grant seen
    /// before the previous release's acknowledgement counts as 0.)
    pub fn handoffs(&self) -> Vec<Duration> {
        self.cycles
            .windows(2)
            .filter(|w| w[1].requested < w[0].released)
            .map(|w| w[1].granted.saturating_duration_since(w[0].released))
            .collect()
    }

    /// From a holder's release being sent to the next holder seeing its grant, for the same
    /// grants as [`Outcome::handoffs`]. A server that answers the releaser sooner shortens the
    /// time to the acknowledgement, and so lengthens `handoffs`, without the next holder
    /// hearing any sooner or later: this one is not moved by that.
    pub fn handoffs_from_send(&self) -> Vec<Duration> {
        self.cycles
            .windows(2)
            .filter(|w| w[1].requested < w[0].released)
            .map(|w| w[1].granted.saturating_duration_since(w[0].releasing))
            .collect()
    }

    /// Grants seen while an earlier holder had not yet begun to release: two holders at once.
    /// Sound on the clients' clocks: a correct lock grants only after it processed the
    /// release, which is after `releasing`, and the grant is seen later still.
    pub fn double_grants(&self) -> usize {
        let mut busy_until: Option<Instant> = None;
        let mut doubles = 0;
        for cycle in &self.cycles {
            if busy_until.is_some_and(|end| cycle.granted < end) {
                doubles += 1;
            }
            busy_until = Some(busy_until.map_or(cycle.releasing, |end| end.max(cycle.releasing)));
        }
        doubles
    }

    /// The share of grants that went to the contender that asked first among those still
    /// waiting, by the clients' request times (for backends without a server-side sequence).
    pub fn fifo_by_client_clock(&self) -> f64 {
        if self.cycles.is_empty() {
            return 1.0;
        }
        // In order iff nobody who asked earlier is granted later.
        let mut later_min: Option<Instant> = None;
        let mut in_order = 0;
        for cycle in self.cycles.iter().rev() {
            if later_min.is_none_or(|m| cycle.requested < m) {
                in_order += 1;
            }
            later_min = Some(later_min.map_or(cycle.requested, |m| m.min(cycle.requested)));
        }
        in_order as f64 / self.cycles.len() as f64
    }
}
