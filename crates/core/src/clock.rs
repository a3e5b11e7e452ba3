//! Wall-clock time behind a trait, so tests can pin the timestamps that runs and events carry.
//!
//! Only timestamps come from here. Heartbeat deadlines use `tokio::time::Instant`, which tests
//! pause and advance with `tokio::time::advance`.

use std::fmt::Debug;

use crate::model::Timestamp;

/// The source of wall-clock timestamps.
pub trait Clock: Send + Sync + Debug {
    /// Now.
    fn now(&self) -> Timestamp;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// A clock that follows tokio's (pausable) time from a fixed starting point, so that paused-time
/// tests get timestamps that move exactly as far as the test advances.
#[derive(Debug, Clone, Copy)]
pub struct TokioClock {
    base: Timestamp,
    start: tokio::time::Instant,
}

impl TokioClock {
    /// Starts at `base`, now.
    pub fn starting_at(base: Timestamp) -> Self {
        TokioClock {
            base,
            start: tokio::time::Instant::now(),
        }
    }
}

impl Clock for TokioClock {
    fn now(&self) -> Timestamp {
        let elapsed = tokio::time::Instant::now() - self.start;
        Timestamp(self.base.0 + i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX))
    }
}

/// Sleeps until `deadline`, or for ever without one: the arm of a `select!` whose deadline is
/// optional (a TTL, a wait, a quiet time). Every timer loop of Baton uses this one.
pub async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}
