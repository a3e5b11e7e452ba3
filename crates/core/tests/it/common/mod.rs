//! Shared set-up for the core's integration tests: a real SQLite file in a temporary directory,
//! the real actor, and tokio time that moves only when a test advances it.

#![allow(dead_code, clippy::unwrap_used)]

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use baton_core::clock::{Clock, TokioClock};
use baton_core::{Caller, Config, Durability, Handle, RunId, RunSpec, Store, Timestamp};

/// 2027-01-15T08:00:00Z: a fixed start so timestamps in failures are readable.
pub const EPOCH: Timestamp = Timestamp(1_800_000_000_000);

/// Holds tokio's paused clock still: while a blocking task runs, the runtime never
/// auto-advances time (it would otherwise jump to the next TTL deadline whenever the actor
/// waits for SQLite's worker thread). Time then moves only through `tokio::time::advance`.
pub struct Freeze(Option<std::sync::mpsc::Sender<()>>);

pub fn freeze_time() -> Freeze {
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    tokio::task::spawn_blocking(move || {
        let _ = rx.recv();
    });
    Freeze(Some(tx))
}

impl Drop for Freeze {
    fn drop(&mut self) {
        self.0.take();
    }
}

/// A core over a real SQLite file at `path`.
pub async fn open_at(path: &Path) -> Handle {
    open_with(path, Config::default()).await
}

/// The same, configured.
pub async fn open_with(path: &Path, config: Config) -> Handle {
    let clock = Arc::new(TokioClock::starting_at(EPOCH));
    let opened = Store::open(path, Durability::Normal, clock.now())
        .await
        .unwrap();
    baton_core::spawn(opened, clock, config)
}

/// A fresh core in a temporary directory, with time frozen.
pub struct Core {
    pub handle: Handle,
    pub dir: tempfile::TempDir,
    _freeze: Freeze,
}

pub async fn core() -> Core {
    let freeze = freeze_time();
    let dir = tempfile::tempdir().unwrap();
    let handle = open_at(&dir.path().join("baton.db")).await;
    Core {
        handle,
        dir,
        _freeze: freeze,
    }
}

/// The person, through the surface tests name themselves by.
pub fn user() -> Caller {
    Caller::user("test")
}

/// Submits `spec` as the user, and answers the new run's id.
pub async fn submitted(handle: &Handle, spec: RunSpec) -> RunId {
    handle.submit(spec, user()).await.unwrap().status.run.id
}

pub fn desktop(title: &str) -> RunSpec {
    RunSpec::new(title, "test", true)
}

pub fn parallel(title: &str) -> RunSpec {
    RunSpec::new(title, "test", false)
}

pub fn with_ttl(mut spec: RunSpec, ttl: Duration) -> RunSpec {
    spec.ttl_ms = Some(u64::try_from(ttl.as_millis()).unwrap());
    spec
}

/// Moves frozen time forward and lets the actor act on it.
pub async fn advance(handle: &Handle, by: Duration) {
    tokio::time::advance(by).await;
    handle.barrier().await.unwrap();
}
