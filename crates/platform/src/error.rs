//! The one error type of `baton-platform`: each variant is a sentence a person can act on,
//! since it ends up in `baton status`, the tray menu and the settings as the reason input is off,
//! or in the CLI's and the host's refusal to start on a data directory.

use std::path::PathBuf;

/// What can go wrong with the data directory, or while connecting to, or driving, the desktop.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Another host already serves this data directory.
    #[error("another Baton host is already serving {dir}{}", .url.as_deref().map(|u| format!(" at {u}")).unwrap_or_default())]
    HostRunning {
        /// The data directory in question.
        dir: String,
        /// Where that host listens, if it said so.
        url: Option<String>,
    },

    /// The data directory cannot be used as it is (another user's, writable by others, an
    /// empty token file, a host note that does not parse); the sentence says how to fix it.
    #[error("{0}")]
    DataDir(String),

    /// Reading or writing a file of the data directory failed.
    #[error("{context}: {source}")]
    Io {
        /// What Baton was doing.
        context: String,
        /// The operating system's answer.
        #[source]
        source: std::io::Error,
    },

    /// No desktop portal answers on the session bus.
    #[error(
        "no desktop portal answers on this session's D-Bus (xdg-desktop-portal with the desktop's backend is needed for input on Wayland): {0}"
    )]
    NoPortal(String),

    /// The portal has no RemoteDesktop with libei.
    #[error(
        "this desktop's portal offers no remote-desktop input through libei ({0}); GNOME 45 or later and KDE Plasma 6 have it, wlroots desktops such as sway and Hyprland do not"
    )]
    NoRemoteDesktop(String),

    /// The person said no in the desktop's dialog (or closed it).
    #[error(
        "Baton was not allowed to control the keyboard and mouse: the desktop's Remote Desktop dialog was refused or closed. Restart Baton to be asked again, and allow it (on GNOME: Share, with \"Allow Remote Interaction\" on)"
    )]
    Refused,

    /// The person allowed only some of the devices.
    #[error(
        "the desktop allowed Baton only some of the keyboard and pointer ({0}); restart Baton to be asked again and allow both"
    )]
    PartlyGranted(String),

    /// Any other failure of a portal request.
    #[error("the desktop's remote-desktop portal failed: {0}")]
    Portal(String),

    /// The restore token could not be kept.
    #[error("cannot keep the desktop's grant in {}: {source}", path.display())]
    Token {
        /// The token file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },

    /// The libei connection failed.
    #[error("the compositor's input connection (libei) failed: {0}")]
    Eis(String),

    /// The compositor ended the libei connection (the person stopped the sharing, or the
    /// session ended).
    #[error(
        "the desktop ended Baton's remote-desktop session ({0}); restart Baton to connect again"
    )]
    Ended(String),

    /// The compositor did not hand over what Baton needs.
    #[error("the compositor gave Baton no {0}")]
    NoDevices(String),

    /// The stop hotkey could not be bound through the GlobalShortcuts portal.
    #[error("{0}")]
    Shortcut(String),

    /// Baton's GNOME Shell extension does not answer.
    #[error(
        "on GNOME, Baton tells your input from its own through its GNOME Shell extension (baton-takeover@baton.app), which is not running: install and enable it, then log out and in (see the README)"
    )]
    NoExtension,

    /// Talking to the extension failed.
    #[error("the GNOME Shell extension that tells Baton whose input is whose failed: {0}")]
    Takeover(String),

    /// The compositor gives no idle notifications (ext-idle-notify-v1), or they failed.
    #[error("the compositor gives Baton no idle notifications (ext-idle-notify-v1): {0}")]
    Idle(String),

    /// The portal's runtime could not start.
    #[error("cannot start the portal's runtime: {0}")]
    Runtime(std::io::Error),
}

impl Error {
    /// The stable code clients match on, as the core's errors have.
    pub fn code(&self) -> baton_core::ErrorCode {
        use baton_core::ErrorCode;
        match self {
            Error::HostRunning { .. } => ErrorCode::HostRunning,
            Error::DataDir(_) => ErrorCode::InvalidDataDir,
            Error::Io { .. } | Error::Token { .. } | Error::Runtime(_) => ErrorCode::IoFailed,
            _ => ErrorCode::InputUnavailable,
        }
    }

    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }
}

/// This crate's results.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(all(target_os = "linux", feature = "desktop"))]
impl Error {
    /// Sorts a portal failure into what the person can do about it.
    pub(crate) fn from_portal(error: ashpd::Error) -> Error {
        use ashpd::desktop::ResponseError;
        match error {
            ashpd::Error::Response(ResponseError::Cancelled) => Error::Refused,
            ashpd::Error::PortalNotFound(name) => Error::NoRemoteDesktop(format!("no {name}")),
            ashpd::Error::RequiresVersion(needed, offered) => {
                Error::NoRemoteDesktop(format!("version {offered}, and Baton needs {needed}"))
            }
            ashpd::Error::Zbus(e) => Error::NoPortal(e.to_string()),
            e => Error::Portal(e.to_string()),
        }
    }
}
