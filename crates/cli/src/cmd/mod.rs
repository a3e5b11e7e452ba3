//! One module per group of subcommands.

pub mod control;
pub mod daemon;
pub mod hook;
pub mod input;
pub mod resource;
pub mod run;
pub mod schedule;
pub mod show;
