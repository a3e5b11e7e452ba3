//! The request and answer bodies at the HTTP edge. They live in `baton-client`, which writes
//! what this server reads, so both sides share one definition; runs, statuses, snapshots and
//! events are the core's own types, serialized as they are.

pub use baton_client::models::*;
