//! The input gateway: Baton drives the mouse and keyboard itself, for the desktop holder only
//! (DESIGN rule 8).
//!
//! - [`action`]: what clients may ask for (the vocabulary) and its validation, pure: a batch is
//!   checked as a whole before anything runs, so bad input changes nothing.
//! - [`gateway`]: the one OS thread that sends input. Before *every* action it checks the
//!   published status: the run must still hold the lease, with the token it presented, and must
//!   not be paused by the person at the computer. A cancel acknowledged in the middle of a batch
//!   therefore stops it before its next action. A run's private display has a gateway of its
//!   own, guarded by the run's hold of the pool of displays ([`Guard`]).
//! - [`driver`]: the seam to the platform ([`InputDriver`]), and a recording fake for tests.
//!   The drivers of the real desktop are `baton-platform`'s; keys a platform lacks are refused
//!   by validation.

pub mod action;
pub mod driver;
pub mod gateway;

pub use action::{Action, Button, Combo, Key, NamedKey, Step, limits, parse_combo, validate};
pub use driver::{FakeDriver, InputDriver};
pub use gateway::{Gateway, Guard, Outcome, Stop, may_act};
