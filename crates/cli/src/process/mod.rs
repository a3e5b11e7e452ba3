//! Process control for `baton run` and the MCP proxy's downstream server, behind one small
//! interface; the platform's code is in a file named for it.
//!
//! - [`Job`]: a command in its own process group, given the terminal when this process has
//!   it, ended with it if this process dies; a cancel reaches everything it started (SIGTERM,
//!   then SIGKILL after a grace period: DESIGN rule 7).
//! - [`Signals`], [`Sig`]: the signals that end a wrapper (Ctrl+C, SIGTERM, a closed terminal
//!   or console), from `baton_api::signals`, which the hosts share.
//! - [`exit_of`], [`can_start`]: what a command's end means, and whether it can start at all.
//! - [`downstream`]: the same care for a command spawned elsewhere (rmcp's transport).
//! - [`parent_id`], [`ancestors`], [`alive`]: who started whom, for the Claude Code hook.
//!
//! `unix.rs` serves Linux and macOS (process groups and signals), with `macos.rs` for the
//! parent-death watcher Linux does not need; `windows.rs` Windows (a Job object and console
//! process groups).

#[cfg(target_os = "macos")]
pub mod macos;
#[cfg(unix)]
mod unix;
#[cfg(windows)]
mod windows;

#[cfg(unix)]
pub use unix::{Job, alive, ancestors, can_start, downstream, exit_of, parent_id};
#[cfg(windows)]
pub use windows::{Job, alive, ancestors, can_start, downstream, exit_of, parent_id};

pub use baton_api::signals::{Sig, Signals};
