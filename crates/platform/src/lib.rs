//! `baton-platform`: what differs per operating system, so that `baton-core` depends on no
//! display library and no operating-system API beyond files and sockets. Each platform is a
//! file of its own behind the core's small traits ([`baton_core::input::InputDriver`], the
//! [`baton_core::takeover::ActivityProbe`] and the events of [`baton_core::takeover::Drivers`]).
//!
//! Map of the crate:
//! - [`datadir`]: the data directory shared by hosts and clients (token, lock, host note),
//!   owner-only: by its mode on Unix, by `acl_windows` on Windows. Always built: the typed
//!   client needs it, and nothing of a display.
//!
//! With the `desktop` feature, the drivers of the real desktop:
//! - `native`: input through enigo: XTEST on X11, `SendInput` on Windows, Quartz on macOS.
//! - `takeover`: the person's input told from Baton's on X11 (RECORD), Windows (low-level
//!   hooks) and macOS (an event tap).
//! - `wayland` (Linux): input on a Wayland desktop through the RemoteDesktop portal (ashpd)
//!   and libei (reis), with the grant kept across starts.
//! - `keymap` (Linux): which keys type a character, read from the compositor's XKB keymap.
//! - `gnome` (Linux): the person's input told from Baton's on GNOME, through Baton's shell
//!   extension.
//! - `private_display` (Linux): a run's own X server (Xvfb), its input and its screenshots,
//!   ended with the run and with the host, kill -9 included.
//! - `idle` (Linux): the compositor's idle notifications, takeover's limited backstop where
//!   nothing tells whose input is whose (KDE).
//! - `shortcuts` (Linux): the stop hotkey on Wayland, bound by the desktop through the
//!   GlobalShortcuts portal (elsewhere the tray's global-shortcut plugin binds it).
//! - [`error`]: the crate's one error type.

#[cfg(windows)]
pub mod acl_windows;
pub mod datadir;
pub mod error;
#[cfg(all(target_os = "linux", feature = "desktop"))]
pub mod gnome;
#[cfg(all(target_os = "linux", feature = "desktop"))]
pub mod idle;
#[cfg(all(target_os = "linux", feature = "desktop"))]
pub mod keymap;
#[cfg(feature = "desktop")]
pub mod native;
#[cfg(all(target_os = "linux", feature = "desktop"))]
pub mod private_display;
#[cfg(all(target_os = "linux", feature = "desktop"))]
pub mod shortcuts;
#[cfg(feature = "desktop")]
pub mod takeover;
#[cfg(all(target_os = "linux", feature = "desktop"))]
pub mod wayland;

pub use datadir::{DataDir, HostInfo, HostKind, HostLock};
pub use error::{Error, Result};
#[cfg(feature = "desktop")]
pub use native::EnigoDriver;
