//! Waiting for the desktop inside a tool call, with MCP progress notifications.

use std::time::Duration;

use baton_core::{RunState, RunStatus};
use rmcp::model::{ProgressNotificationParam, ProgressToken};
use rmcp::service::RequestContext;
use rmcp::{Peer, RoleServer};
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::mcp::session::Seen;
use baton_core::clock::sleep_until;

/// A waiting agent hears again this often even when nothing changed, so that it (and a client
/// that resets its timeout on progress) knows the call is alive.
pub const PROGRESS_EVERY: Duration = Duration::from_secs(5);

/// Progress notifications for one tool call, if its client asked for them.
#[derive(Debug)]
pub struct Progress {
    peer: Peer<RoleServer>,
    token: Option<ProgressToken>,
    count: f64,
}

impl Progress {
    pub fn of(context: &RequestContext<RoleServer>) -> Self {
        Progress {
            peer: context.peer.clone(),
            token: context.meta.get_progress_token(),
            count: 0.0,
        }
    }

    pub async fn say(&mut self, message: &str) {
        let Some(token) = &self.token else {
            return;
        };
        self.count += 1.0;
        let param = ProgressNotificationParam::new(token.clone(), self.count).with_message(message);
        if let Err(e) = self.peer.notify_progress(param).await {
            tracing::debug!("progress notification not sent: {e}");
        }
    }
}

/// Where a wait ended.
#[derive(Debug)]
pub enum Waited {
    /// What the caller waited for.
    Ready(Box<RunStatus>),
    /// Still not there at the deadline; the run keeps its place.
    NotYet(Box<RunStatus>),
    /// The run ended meanwhile.
    Ended(Box<RunStatus>),
    /// The host went away.
    HostGone,
    /// The client cancelled the call; the run keeps its place.
    CallCancelled,
}

/// What a wait is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Until {
    /// The run holds what it asked for (the desktop paused by the person or not).
    Holding,
    /// The run holds what it asked for and may use it: the person is not using the desktop.
    Usable,
}

impl Until {
    fn reached(self, status: &RunStatus) -> bool {
        match self {
            // A run holds everything it needs or nothing.
            Until::Holding => !status.run.holds.is_empty(),
            Until::Usable => !status.run.holds.is_empty() && !status.paused,
        }
    }
}

/// Waits until the run is where `until` says, it ends, the deadline passes or the client
/// cancels. While waiting it tells the agent, by progress notifications, the honest reason.
pub async fn wait(
    mut seen: watch::Receiver<Seen>,
    until: Until,
    deadline: Option<Instant>,
    progress: &mut Progress,
    cancelled: &CancellationToken,
) -> Waited {
    let mut said = String::new();
    let mut last_said = Instant::now();
    loop {
        let current = seen.borrow_and_update().clone();
        let status = match current {
            Seen::HostGone => return Waited::HostGone,
            Seen::Status(status) if status.ended => return Waited::Ended(status),
            Seen::Status(status) if until.reached(&status) => return Waited::Ready(status),
            // Released meanwhile (by the agent, or for want of use): nothing left to wait for.
            Seen::Status(status)
                if status.run.holds.is_empty() && status.run.state != RunState::Queued =>
            {
                return Waited::NotYet(status);
            }
            Seen::Status(status) => status,
        };
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Waited::NotYet(status);
        }
        // The core's honest sentence: queued behind whom, or the person is using the desktop.
        let message = status.message.clone();
        if message != said || last_said.elapsed() >= PROGRESS_EVERY {
            progress.say(&message).await;
            said = message;
            last_said = Instant::now();
        }
        tokio::select! {
            changed = seen.changed() => if changed.is_err() {
                return Waited::HostGone;
            },
            () = sleep_until(deadline) => {}
            () = tokio::time::sleep(PROGRESS_EVERY) => {}
            () = cancelled.cancelled() => return Waited::CallCancelled,
        }
    }
}

/// Resolves once the run no longer holds a usable desktop: it lost the lease, ended, was
/// paused by the person at the computer, or the host went away.
pub async fn lost(mut seen: watch::Receiver<Seen>) -> Option<RunStatus> {
    loop {
        let current = seen.borrow_and_update().clone();
        match current {
            Seen::HostGone => return None,
            Seen::Status(status) if !Until::Usable.reached(&status) || status.ended => {
                return Some(*status);
            }
            Seen::Status(_) => {}
        }
        if seen.changed().await.is_err() {
            return None;
        }
    }
}
