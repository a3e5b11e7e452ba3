//! The tray app's integration tests, one binary.
//!
//! - `commands`: the IPC commands through Tauri's mock runtime over a real host: what the
//!   windows' buttons do and the sentences their errors show.
//! - `desktop`: the real tray app on a private desktop (`common`: Xvfb, a private session bus,
//!   dunst, a stand-in tray host), driven the way a person and agents drive it.
//! - `webdriver`: the real dashboard over WebDriver (tauri-driver + WebKitWebDriver).

#![allow(clippy::unwrap_used)]

mod common;

mod commands;
mod desktop;
mod webdriver;
