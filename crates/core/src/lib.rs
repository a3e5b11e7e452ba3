//! `baton-core`: the desktop lease of Baton, with no Tauri and no HTTP.
//!
//! Many agents and scripts share one computer: work that needs the mouse, keyboard and screen
//! holds the *desktop lease*, one run at a time, and everyone else waits in a FIFO queue and
//! starts automatically when the lease is handed on. The contract, and where each of its rules
//! is enforced, is `docs/DESIGN.md`.
//!
//! Map of the crate:
//! - [`model`]: the words — runs, states, callers, the status snapshot.
//! - [`lease`]: the leases as a synchronous state machine: who holds each resource, its queue,
//!   its tokens, who may do what (DESIGN rules 1–4, 6, 9, 13, and the lease's part of 7).
//! - [`messages`]: every honest sentence about the desktop (rule 11), the agent's wording and
//!   the terminal's side by side.
//! - [`text`]: the rules for the texts a request carries, and their regular expressions.
//! - [`actor`]: the scheduler task that owns the machine and the store; [`Handle`] is its door.
//!   Status is read from the published snapshot (rule 5); every change is committed before it
//!   is answered, requests that arrive together sharing one transaction (rule 10).
//! - [`published`]: what a commit publishes, in O(log n); the full snapshot built on demand.
//! - [`resource`]: named resources, the desktop among them: their names and capacities.
//! - [`schedule`]: schedule entries, cron expressions in a time zone, and what a late host
//!   makes of the fires it missed (one catch-up run at most); the machine fires them.
//! - [`store`]: SQLite through sqlx (migrations in `migrations/`); marks what a crash left
//!   active as interrupted.
//! - [`event`]: the append-only event log's entries.
//! - [`input`]: the input gateway: one thread sends input, for the holder only (rule 8, and the
//!   input's part of 7); the vocabulary and the gateway, and the [`input::InputDriver`] seam.
//! - [`takeover`]: notices the person at the computer and pauses the holder meanwhile; the
//!   rules, and the seam its drivers feed.
//! - [`check`]: an invariant checker that replays an event log (tests, torture, soak).
//! - [`auth`]: the user token and per-run tokens.
//! - [`timeline`]: who held and waited for each resource over a window, from the event log
//!   (the dashboard's picture).
//! - [`clock`]: wall-clock time behind a trait, for tests.
//! - [`error`]: the crate's one error type, and [`ErrorCode`], every error code of every crate.
//!
//! What touches a real display, or the operating system beyond files and sockets, is not here:
//! the input and takeover drivers of each platform, and the data directory with its owner-only
//! permissions, are `baton-platform`'s.

pub mod actor;
pub mod auth;
pub mod check;
pub mod clock;
pub mod error;
pub mod event;
pub mod input;
pub mod lease;
pub mod messages;
pub mod model;
pub mod published;
pub mod resource;
pub mod schedule;
pub mod store;
pub mod takeover;
pub mod text;
pub mod timeline;

pub use actor::{Attachment, Config, DEFAULT_TTL, Handle, Submitted, spawn};
pub use error::{Error, ErrorCode, Result};
pub use event::{Event, EventKind};
pub use lease::Caps;
pub use messages::{busy_message, queued_message};
pub use model::{
    Amendment, Caller, Desktop, Holding, Outcome, ResourceState, Run, RunBrief, RunId, RunSpec,
    RunState, RunStatus, Snapshot, Timestamp, UnknownCaller, VIA_HEADER, Waiting,
};
pub use published::Published;
pub use resource::ResourceName;
pub use store::{Durability, HistoryQuery, Opened, Pruned, Store};
