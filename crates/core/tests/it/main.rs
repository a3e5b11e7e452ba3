//! The core's integration tests, one binary: every module runs against the real actor and a
//! real SQLite file (`common` sets them up).
//!
//! - `lease`: the lease's rules (DESIGN section 2) and the requests of section 4, scenario by
//!   scenario.
//! - `ask_first`: with "ask before an agent takes the desktop" on, the head of the queue waits
//!   for the person's OK.
//! - `group`: many clients at once, sharing group commits; every answer after its change is on
//!   disk.
//! - `input`: the input gateway with a recording driver: order kept, the holder only, nothing
//!   left pressed.
//! - `properties`: random request sequences against a reference model.
//! - `resources`: named resources besides the desktop, leased on their own and together (rule
//!   13).
//! - `restart`: durability across a crash and a clean stop (rules 2 and 10).
//! - `schedules`: schedule entries on a paused clock: fires on time, missed ones caught up
//!   once or let go, an entry's runs one at a time, all kept across a restart.

#![allow(clippy::unwrap_used)]

mod common;

mod ask_first;
mod group;
mod input;
mod lease;
mod properties;
mod resources;
mod restart;
mod schedules;
