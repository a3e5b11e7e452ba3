//! The one error type of `baton-core`.
//!
//! Every variant carries a sentence a person understands, and [`Error::code`] gives the stable,
//! machine-readable name that the API and CLI pass on (`{"error":{"code","message"}}`).

use crate::model::RunId;

/// Everything that can go wrong in the core.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No run with this id exists, not even in the history.
    #[error("there is no run #{0}")]
    UnknownRun(RunId),

    /// DESIGN rule 6: a run is never its own cancel target.
    #[error(
        "a run cannot cancel itself: run #{0} can finish or release the desktop, but only the user can cancel it"
    )]
    SelfCancel(RunId),

    /// The caller may not make this request (an agent asking for a user-only request, or a run
    /// acting on another run's behalf).
    #[error("{0}")]
    Forbidden(String),

    /// The request does not fit the run's current state (finishing a run that already ended,
    /// moving a run to the front that is not queued, …).
    #[error("{0}")]
    InvalidState(String),

    /// The request itself is malformed (empty title, zero TTL, …).
    #[error("{0}")]
    Invalid(String),

    /// SQLite failed. The actor stops after this rather than let memory and disk diverge.
    #[error("Baton's history database failed: {0}")]
    Store(#[from] sqlx::Error),

    /// A schema migration failed at start-up.
    #[error("Baton's history database could not be migrated: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),

    /// Making the history's files owner-only failed.
    #[error("{context}: {source}")]
    Io {
        /// What Baton was doing.
        context: String,
        /// The operating system's answer.
        #[source]
        source: std::io::Error,
    },

    /// The scheduler has shut down (the host is stopping).
    #[error("Baton is shutting down")]
    Closed,

    /// There is no display to send input to (a headless host).
    #[error("there is no display to send input to ({0}); everything else works")]
    NoDisplay(String),

    /// Input was refused before an action: the run does not (or no longer) hold the desktop
    /// with that token, or the person at the computer is using it.
    #[error("{message}")]
    InputRefused {
        /// `not_holder`, `stale_token`, `cancelled` or `user_active`.
        code: &'static str,
        /// The honest sentence.
        message: String,
    },

    /// The desktop cannot do what was asked at all (where the pointer is, on Wayland); the
    /// sentence says what to do instead.
    #[error("{0}")]
    NotSupported(String),

    /// The display refused the input.
    #[error("the display refused the input: {0}")]
    InputFailed(String),

    /// A cap on active runs is reached (all of them, or one client's): the run is not
    /// recorded. Flooding the queue must not make every request slower or the host run out.
    #[error("{0}")]
    TooManyRuns(String),
}

impl Error {
    /// The stable code clients match on.
    pub fn code(&self) -> &'static str {
        match self {
            Error::UnknownRun(_) => "unknown_run",
            Error::SelfCancel(_) => "self_cancel",
            Error::Forbidden(_) => "forbidden",
            Error::InvalidState(_) => "invalid_state",
            Error::Invalid(_) => "invalid_request",
            Error::Store(_) | Error::Migrate(_) => "store_failed",
            Error::Io { .. } => "io_failed",
            Error::Closed => "shutting_down",
            Error::NoDisplay(_) => "no_display",
            Error::InputRefused { code, .. } => code,
            Error::NotSupported(_) => "not_supported",
            Error::InputFailed(_) => "input_failed",
            Error::TooManyRuns(_) => "too_many_runs",
        }
    }

    /// A value Baton cannot write to its history: its own failure (500), never the request's.
    pub fn unstorable(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        Error::Store(sqlx::Error::Encode(Box::new(e)))
    }

    /// Only Unix sets modes itself; on Windows the history's files inherit the data
    /// directory's owner-only ACL.
    #[cfg(unix)]
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }
}

/// Shorthand used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
