//! `baton-platform`: Baton's drivers of the real desktop, behind the small traits of
//! `baton-core` ([`baton_core::input::InputDriver`]), so that the core depends on no display
//! library.
//!
//! Map of the crate:
//! - `wayland` (Linux): input on a Wayland desktop through the RemoteDesktop portal (ashpd)
//!   and libei (reis), with the grant kept across starts.
//! - `shortcuts` (Linux): the stop hotkey on Wayland, bound by the desktop through the
//!   GlobalShortcuts portal.
//! - `gnome` (Linux): the person's input told from Baton's on GNOME, through Baton's shell
//!   extension.
//! - `keymap` (Linux): which keys type a character, read from the compositor's XKB keymap.
//! - [`error`]: the crate's one error type.
//!
//! The X11, Windows and macOS drivers still live in `baton-core` (`input::native`,
//! `takeover`); they move here next.

pub mod error;
#[cfg(target_os = "linux")]
pub mod gnome;
#[cfg(target_os = "linux")]
pub mod keymap;
#[cfg(target_os = "linux")]
pub mod shortcuts;
#[cfg(target_os = "linux")]
pub mod wayland;

pub use error::{Error, Result};
