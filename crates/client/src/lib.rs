//! `baton-client`: the one typed client of Baton's local API, for everything that talks to a
//! host: the CLI, `baton mcp` and its hook, the benchmarks and the tests. It knows no axum,
//! Tauri or clap; it is built on `baton-core`'s types, which travel as they are.
//!
//! Map of the crate:
//! - [`models`]: the request and answer bodies that are not the core's own types, shared with
//!   the API server (the only module without the `transport` feature).
//! - [`client`]: [`Client`], one host acting as the user or one run; finds the host through
//!   the data directory and follows it to another port; every request as a method.
//! - [`sse`]: the one reader of server-sent events.
//! - [`binding`]: a run bound to this process: attach, heartbeats at TTL/3, the honest queue
//!   notice, finish or withdraw without the race.
//! - [`error`]: the crate's one error type.

pub mod models;

#[cfg(feature = "transport")]
pub mod binding;
#[cfg(feature = "transport")]
pub mod client;
#[cfg(feature = "transport")]
pub mod error;
#[cfg(feature = "transport")]
pub mod sse;

#[cfg(feature = "transport")]
pub use binding::{Binding, Bound, BoundRun, Withdrawal};
#[cfg(feature = "transport")]
pub use client::{Client, env};
#[cfg(feature = "transport")]
pub use error::{Error, NO_HOST_MESSAGE, Result};
#[cfg(feature = "transport")]
pub use sse::{EventStream, Message};
