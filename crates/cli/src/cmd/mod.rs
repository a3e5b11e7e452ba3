//! One module per group of subcommands.

pub mod control;
pub mod daemon;
pub mod run;
pub mod show;
