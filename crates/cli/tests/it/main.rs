//! The CLI's integration tests, one binary: each module drives the real `baton` binary (a real
//! `baton daemon`, real clients, real signals; `common` sets them up).
//!
//! - `cli`: the `baton` CLI contract end to end; every exit code of the contract appears here.
//! - `mcp`: `baton mcp` and its gating proxy, driven by a real MCP client over real stdio.
//! - `agents`: the README's recipes with the real Claude Code and Codex against a scripted model.
//! - `input`: `baton input` on a real X display (Xvfb), for the holder only.
//! - `displays`: private displays: agents typing at once, each on an Xvfb of its own, and
//!   nothing left behind after kill -9.
//! - `takeover`: the person's input on Xvfb pauses the holder; Baton's own never does.
//! - `schedules`: schedule entries on a real daemon: real commands fired every second with
//!   their logs, a desktop entry behind a holder, kill -9 amid fires; no fire lost or doubled.
//! - `interference`: eight agents typing at once through Baton never mix their input
//!   (`make interference` runs it at length: `cargo test -p baton-cli --test it interference::`).
//! - `torture`: the host killed with -9 at random moments loses nothing acknowledged
//!   (`make torture` runs it at length: `cargo test -p baton-cli --test it torture::`).

#![allow(clippy::unwrap_used, clippy::print_stderr)]

mod common;

mod agents;
mod cli;
mod displays;
mod input;
mod interference;
mod mcp;
mod schedules;
mod takeover;
mod torture;
