//! Takeover detection's drivers, one file per display system; the rules they feed
//! ([`baton_core::takeover::attribution`], the [`baton_core::takeover::Detector`]) and the
//! watch loop are the core's. [`connect`] starts this platform's:
//! - [`x11`] (Linux): RECORD for the events and the screensaver extension's idle time;
//! - `windows`: low-level mouse and keyboard hooks, which flag injected input and carry its
//!   mark, and `GetLastInputInfo`;
//! - `macos`: a listen-only event tap reading each event's source user data (it needs the
//!   Input Monitoring permission), and the HID system's idle time.
//!
//! On a Wayland session the person's input comes from [`crate::gnome`] instead.

#[cfg(target_os = "macos")]
pub mod macos;
#[cfg(windows)]
pub mod windows;
#[cfg(target_os = "linux")]
pub mod x11;

#[cfg(target_os = "macos")]
pub use macos::connect;
#[cfg(windows)]
pub use windows::connect;
#[cfg(target_os = "linux")]
pub use x11::{X11Probe, X11Recorder, connect};
