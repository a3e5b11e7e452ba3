//! The API's integration tests, one binary.
//!
//! - `api`: the real router, core and SQLite file through `tower`: auth, the Host guard, every
//!   kind of bad input, the contract of the main routes.
//! - `http`: a real host on loopback with real HTTP: the host note, the one-host rule, SSE
//!   resume, a dropped attach connection.
//! - `schedules`: the schedule routes on a real host: entries added, edited, paused and
//!   removed, refusals that change nothing, a command that cannot start.
//! - `random_http`: thousands of random requests to a real host: never a 500, every refusal a
//!   JSON error that changes nothing.

#![allow(clippy::unwrap_used, clippy::print_stderr)]

mod api;
mod http;
mod random_http;
mod schedules;
