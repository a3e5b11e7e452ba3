//! The signals that ask a process to stop (Ctrl+C, SIGTERM, a closed terminal or console,
//! logoff, shutdown), listened for from creation on so none arrives unhandled in between. The
//! hosts (`baton daemon`, the tray app) stop cleanly on them; `baton run` passes them on. One
//! file per platform: `unix.rs` (Linux, macOS), `windows.rs` (console control events, and
//! the session's end as a hidden window hears it).

#[cfg(unix)]
mod unix;
#[cfg(windows)]
mod windows;

#[cfg(unix)]
pub use unix::Signals;
#[cfg(windows)]
pub use windows::Signals;

/// A request to stop, by whatever the platform calls it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sig {
    /// Ctrl+C (SIGINT).
    Interrupt,
    /// Ctrl+Break (Windows).
    Break,
    /// SIGTERM (Unix).
    Terminate,
    /// The terminal (SIGHUP) or the console window was closed.
    Hangup,
    /// The user logs off (Windows).
    Logoff,
    /// The system shuts down (Windows).
    Shutdown,
}

impl Sig {
    /// The exit code for a process ended by this, as a Unix shell reports the signal that
    /// means the same, so scripts read one set of codes on every platform.
    pub fn exit_code(self) -> u8 {
        match self {
            Sig::Interrupt | Sig::Break => 130,
            Sig::Hangup => 129,
            Sig::Terminate | Sig::Logoff | Sig::Shutdown => 143,
        }
    }
}

impl std::fmt::Display for Sig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Sig::Interrupt if cfg!(windows) => "Ctrl+C",
            Sig::Interrupt => "SIGINT",
            Sig::Break => "Ctrl+Break",
            Sig::Terminate => "SIGTERM",
            Sig::Hangup if cfg!(windows) => "console closed",
            Sig::Hangup => "SIGHUP",
            Sig::Logoff => "logoff",
            Sig::Shutdown => "shutdown",
        })
    }
}
