//! Process control for `baton run` and the MCP proxy's downstream server, behind one small
//! interface; the platform's code is in a file named for it.
//!
//! - [`Job`]: a command in its own process group, given the terminal when this process has
//!   it, ended with it if this process dies; a cancel reaches everything it started (SIGTERM,
//!   then SIGKILL after a grace period: DESIGN rule 7).
//! - [`Signals`]: the signals that end a wrapper (Ctrl+C, SIGTERM, a closed terminal).
//! - [`exit_of`], [`can_start`]: what a command's end means, and whether it can start at all.
//! - [`own_process_group`]: the same care for a command spawned elsewhere (rmcp's transport).
//! - [`parent_id`], [`ancestors`], [`alive`]: who started whom, for the Claude Code hook.

mod unix;

pub use unix::{
    Job, Sig, Signals, alive, ancestors, can_start, exit_of, own_process_group, parent_id,
};
