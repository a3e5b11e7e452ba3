//! The append-only event log: one [`Event`] for every transition, numbered by a sequence that
//! never goes back. It is what the history, the SSE stream and the invariant checker read.

use serde::{Deserialize, Serialize};

use crate::model::{Caller, Outcome, RunId, Timestamp};
use crate::resource::ResourceName;

/// One transition, as committed to SQLite.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Event {
    /// Position in the log: strictly increasing, the SSE event id.
    pub seq: u64,
    /// When it happened.
    pub at: Timestamp,
    /// The run it concerns (`null` for desktop-wide events such as pausing hand-offs).
    pub run_id: Option<RunId>,
    /// What happened.
    #[serde(flatten)]
    pub kind: EventKind,
}

/// What happened. Serialized with a `kind` tag: `{"kind":"granted","lease_token":7,…}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum EventKind {
    /// A run was submitted.
    Submitted {
        /// Its title.
        title: String,
        /// Its client.
        client: String,
        /// Whether it needs the desktop.
        needs_desktop: bool,
        /// The resources it needs besides the desktop.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        resources: Vec<ResourceName>,
        /// The run it replaces, for `replace`.
        replaces: Option<RunId>,
    },
    /// A run that does not need the desktop started at once, in parallel.
    Started,
    /// A run joined a resource's queue (one event for each resource it waits for).
    Queued {
        /// 1-based place in the queue.
        position: usize,
        /// The desktop's holder at that moment; another resource's longest holder.
        behind: Option<RunId>,
        /// The resource; `desktop` in logs from before there were others.
        #[serde(default = "ResourceName::desktop")]
        resource: ResourceName,
    },
    /// A run was granted a resource (a run that needs several gets one event for each, in a
    /// row, with nothing between them).
    Granted {
        /// The new fencing token, of this resource.
        lease_token: u64,
        /// The previous holder, when the lease was handed straight on.
        handed_from: Option<RunId>,
        /// The resource.
        #[serde(default = "ResourceName::desktop")]
        resource: ResourceName,
    },
    /// A run gave a resource back (or stopped waiting for it) and goes on in parallel, or lost
    /// it because it ended.
    Released {
        /// The token it held; `null` when it only left the queue.
        lease_token: Option<u64>,
        /// The run the resource goes to straight away, if any (its `granted` event follows
        /// before anything but other grants and releases).
        #[serde(default)]
        handed_to: Option<RunId>,
        /// The resource.
        #[serde(default = "ResourceName::desktop")]
        resource: ResourceName,
    },
    /// The user moved a queued run (one event for each queue it is in).
    Reordered {
        /// Its new 1-based place.
        position: usize,
        /// Who asked.
        by: Caller,
        /// The resource whose queue it moved in.
        #[serde(default = "ResourceName::desktop")]
        resource: ResourceName,
    },
    /// A correction reached a run's inbox.
    Amended {
        /// Its number in the inbox.
        n: u32,
        /// Who sent it.
        by: String,
        /// The text.
        text: String,
    },
    /// The user cancelled a run (directly, or relayed by another run).
    Cancelled {
        /// `user:<surface>` or `run:<id>`.
        by: Caller,
        /// Why.
        reason: Option<String>,
        /// The run that took its place, for `replace`.
        replaced_by: Option<RunId>,
    },
    /// A run's holder stopped answering.
    Expired {
        /// What was missed.
        reason: String,
    },
    /// A run ended by itself.
    Finished {
        /// How.
        outcome: Outcome,
        /// Its command's exit code, if any.
        exit_code: Option<i32>,
    },
    /// A run's client gave up before it started.
    Withdrawn {
        /// Why.
        reason: String,
    },
    /// Baton stopped while the run was active.
    Interrupted,
    /// The person at the computer took over: the holder's input is refused until it resumes.
    HolderPaused {
        /// Who: [`Caller::takeover`] when Baton noticed the person, else the surface they used.
        by: Caller,
    },
    /// The holder may send input again.
    HolderResumed {
        /// Who, or [`Caller::takeover`] after the quiet time.
        by: Caller,
    },
    /// The desktop is free and this run is at the head of the queue, but the user OKs each run
    /// that takes the desktop: it waits for their answer (allow, or cancel). Nobody is granted
    /// meanwhile, and nobody is cancelled by silence.
    AwaitingOk,
    /// The user allowed the run waiting for their OK to take the desktop; its `granted` follows.
    Allowed {
        /// Who: `user:<surface>`.
        by: Caller,
    },
    /// The user paused hand-offs.
    HandoffsPaused {
        /// Who asked.
        by: Caller,
    },
    /// The user resumed hand-offs.
    HandoffsResumed {
        /// Who asked.
        by: Caller,
    },
    /// The user declared a resource.
    ResourceAdded {
        /// Its name.
        resource: ResourceName,
        /// How many runs may hold it at once.
        capacity: u32,
        /// Who asked.
        by: Caller,
    },
    /// The user changed a resource's capacity; it applies to its queue at once.
    CapacityChanged {
        /// The resource.
        resource: ResourceName,
        /// The new capacity.
        capacity: u32,
        /// Who asked.
        by: Caller,
    },
    /// The user removed a resource nobody held or waited for.
    ResourceRemoved {
        /// The resource.
        resource: ResourceName,
        /// Who asked.
        by: Caller,
    },
}

impl EventKind {
    /// The tag, as stored in the `kind` column.
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::Submitted { .. } => "submitted",
            EventKind::Started => "started",
            EventKind::Queued { .. } => "queued",
            EventKind::Granted { .. } => "granted",
            EventKind::Released { .. } => "released",
            EventKind::Reordered { .. } => "reordered",
            EventKind::Amended { .. } => "amended",
            EventKind::Cancelled { .. } => "cancelled",
            EventKind::Expired { .. } => "expired",
            EventKind::Finished { .. } => "finished",
            EventKind::Withdrawn { .. } => "withdrawn",
            EventKind::Interrupted => "interrupted",
            EventKind::HolderPaused { .. } => "holder_paused",
            EventKind::HolderResumed { .. } => "holder_resumed",
            EventKind::AwaitingOk => "awaiting_ok",
            EventKind::Allowed { .. } => "allowed",
            EventKind::HandoffsPaused { .. } => "handoffs_paused",
            EventKind::HandoffsResumed { .. } => "handoffs_resumed",
            EventKind::ResourceAdded { .. } => "resource_added",
            EventKind::CapacityChanged { .. } => "capacity_changed",
            EventKind::ResourceRemoved { .. } => "resource_removed",
        }
    }
}
