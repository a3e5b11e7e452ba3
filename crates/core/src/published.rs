//! What the scheduler publishes after every commit, made in O(log n) however long the queue.
//!
//! The desktop's head (holder, token, flags) is copied, because the input gateway checks it
//! before every action; the queue and the rows of the active runs are persistent collections
//! shared with the [`crate::lease::Machine`], so a commit that changes one run changes one
//! entry. The full [`Snapshot`], which lists every waiting run, is built by whoever reads it
//! (DESIGN rule 5: status is read from this, never from the actor). It is deliberately not
//! cached here: the scheduler drops the previous publication when it publishes the next, and
//! freeing a snapshot of ten thousand runs there would put the queue's length back on every
//! request's path.

use std::sync::Arc;

use imbl::{OrdMap, Vector};

use crate::model::{Desktop, Run, RunBrief, RunId, RunState, Snapshot, Timestamp};

/// The lease as of one commit. Cheap to clone into a `watch` channel; see the module docs.
#[derive(Debug, Clone)]
pub struct Published {
    /// The holder, as its snapshot entry shows it.
    pub holder: Option<Run>,
    /// The holder's fencing token.
    pub lease_token: Option<u64>,
    /// Since when the holder has held the desktop.
    pub since: Option<Timestamp>,
    /// Whether the user has paused hand-offs.
    pub paused: bool,
    /// Whether the person at the computer has taken over from the holder.
    pub holder_paused: bool,
    /// The head of the queue, when it waits for the person's OK to take the free desktop.
    pub awaiting_ok: Option<RunBrief>,
    /// Whether the user OKs each run before it takes the free desktop.
    pub ask_first: bool,
    /// The newest event reflected here.
    pub last_event: u64,
    pub(crate) queue: Vector<RunId>,
    /// Rows of the active runs as stored: no position, `holds_desktop` false.
    pub(crate) rows: OrdMap<RunId, Arc<Run>>,
}

impl Published {
    pub(crate) fn new(
        desktop: Desktop,
        last_event: u64,
        queue: Vector<RunId>,
        rows: OrdMap<RunId, Arc<Run>>,
    ) -> Self {
        Published {
            holder: desktop.holder,
            lease_token: desktop.lease_token,
            since: desktop.since,
            paused: desktop.paused,
            holder_paused: desktop.holder_paused,
            awaiting_ok: desktop.awaiting_ok,
            ask_first: desktop.ask_first,
            last_event,
            queue,
            rows,
        }
    }

    /// The holder's id.
    pub fn holder_id(&self) -> Option<RunId> {
        self.holder.as_ref().map(|h| h.id)
    }

    /// The full status snapshot: every waiting and parallel run. O(n) in the runs listed.
    pub fn snapshot(&self) -> Snapshot {
        let holder = self.holder_id();
        let queue = self
            .queue
            .iter()
            .enumerate()
            .filter_map(|(index, id)| {
                let mut run = Run::clone(self.rows.get(id)?);
                run.position = Some(index + 1);
                Some(run)
            })
            .collect();
        let running = self
            .rows
            .values()
            .filter(|run| run.state == RunState::Running && Some(run.id) != holder)
            .map(|run| Run::clone(run))
            .collect();
        Snapshot {
            desktop: Desktop {
                holder: self.holder.clone(),
                lease_token: self.lease_token,
                since: self.since,
                paused: self.paused,
                holder_paused: self.holder_paused,
                awaiting_ok: self.awaiting_ok.clone(),
                ask_first: self.ask_first,
                queue,
            },
            running,
            last_event: self.last_event,
        }
    }
}
