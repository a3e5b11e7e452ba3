//! The one error type of `baton-core`.
//!
//! Every variant carries a sentence a person understands, and [`Error::code`] gives the stable,
//! machine-readable name that the API and CLI pass on (`{"error":{"code","message"}}`).
//! [`ErrorCode`] is every such name, of every crate: the one place a code is spelled, so that a
//! client matches a variant, never a string.

use crate::model::RunId;

/// Declares [`ErrorCode`] from one list, so that the variant, its wire name, and the list of all
/// of them cannot drift apart.
macro_rules! error_codes {
    ($($(#[doc = $doc:literal])* $variant:ident = $wire:literal,)*) => {
        /// The stable, machine-readable name of an error: `code` in the API's
        /// `{"error":{"code","message"}}`, what the CLI picks its exit code by. Serialized as
        /// the snake_case strings the wire has always carried.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        // rename_all, not a rename per variant: the OpenAPI derive reads only the former. The
        // unit test below holds the two spellings together.
        #[serde(rename_all = "snake_case")]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        pub enum ErrorCode {
            $($(#[doc = $doc])* $variant,)*
        }

        impl ErrorCode {
            /// Every code, in declaration order.
            pub const ALL: &[ErrorCode] = &[$(ErrorCode::$variant),*];

            /// The code as the wire spells it.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $wire,)*
                }
            }
        }
    };
}

error_codes! {
    /// No run with this id exists.
    UnknownRun = "unknown_run",
    /// No resource of this name is declared.
    UnknownResource = "unknown_resource",
    /// No schedule entry of this name exists.
    UnknownSchedule = "unknown_schedule",
    /// The run keeps no log (only scheduled runs do).
    NoLog = "no_log",
    /// A run tried to cancel itself (rule 6).
    SelfCancel = "self_cancel",
    /// The caller may not make this request.
    Forbidden = "forbidden",
    /// The run is not in a state for this request.
    InvalidState = "invalid_state",
    /// The request's content is wrong (an empty title, a zero TTL, an unknown field, …).
    InvalidRequest = "invalid_request",
    /// The request body is not JSON.
    InvalidJson = "invalid_json",
    /// A query parameter is wrong.
    InvalidQuery = "invalid_query",
    /// A path's run id is not a positive whole number.
    InvalidRunId = "invalid_run_id",
    /// A header Baton reads is malformed.
    InvalidHeader = "invalid_header",
    /// The request body could not be read.
    UnreadableBody = "unreadable_body",
    /// The request body is larger than the API takes.
    PayloadTooLarge = "payload_too_large",
    /// No token, or not a token of this host.
    Unauthorized = "unauthorized",
    /// The Host header is not the host's loopback address.
    HostNotAllowed = "host_not_allowed",
    /// A web page from elsewhere called the API.
    OriginNotAllowed = "origin_not_allowed",
    /// No such route.
    NoRoute = "no_route",
    /// The route takes another method.
    MethodNotAllowed = "method_not_allowed",
    /// A cap on active runs is reached.
    TooManyRuns = "too_many_runs",
    /// Input refused: the run does not hold the desktop.
    NotHolder = "not_holder",
    /// Input refused: the lease token is not the current one.
    StaleToken = "stale_token",
    /// Input refused: the user cancelled the run.
    Cancelled = "cancelled",
    /// Input refused: the person at the computer is using it.
    UserActive = "user_active",
    /// There is no display to send input to.
    NoDisplay = "no_display",
    /// The desktop cannot do this at all (where the pointer is, on Wayland).
    NotSupported = "not_supported",
    /// The display refused the input.
    InputFailed = "input_failed",
    /// The platform's input cannot be reached (no portal, no libei, no extension).
    InputUnavailable = "input_unavailable",
    /// The history database failed.
    StoreFailed = "store_failed",
    /// A file or socket operation failed.
    IoFailed = "io_failed",
    /// The listening socket could not be opened.
    BindFailed = "bind_failed",
    /// Another host already serves this data directory.
    HostRunning = "host_running",
    /// The data directory cannot be used (not this user's alone, not a directory, …).
    InvalidDataDir = "invalid_data_dir",
    /// The host is stopping.
    ShuttingDown = "shutting_down",
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A code that is not one of [`ErrorCode::ALL`], as a newer host could send.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not an error code this Baton knows")]
pub struct UnknownCode(pub String);

impl std::str::FromStr for ErrorCode {
    type Err = UnknownCode;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ErrorCode::ALL
            .iter()
            .copied()
            .find(|code| code.as_str() == s)
            .ok_or_else(|| UnknownCode(s.to_string()))
    }
}

/// Everything that can go wrong in the core.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No run with this id exists, not even in the history.
    #[error("there is no run #{0}")]
    UnknownRun(RunId),

    /// A name that no declared resource has; the sentence lists the ones there are, so a typo
    /// never makes a resource of its own.
    #[error("{0}")]
    UnknownResource(String),

    /// No schedule entry has this name.
    #[error("there is no schedule entry '{0}'; 'baton schedule list' shows the ones there are")]
    UnknownSchedule(String),

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
        /// [`ErrorCode::NotHolder`], [`ErrorCode::StaleToken`], [`ErrorCode::Cancelled`] or
        /// [`ErrorCode::UserActive`].
        code: ErrorCode,
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
    pub fn code(&self) -> ErrorCode {
        match self {
            Error::UnknownRun(_) => ErrorCode::UnknownRun,
            Error::UnknownResource(_) => ErrorCode::UnknownResource,
            Error::UnknownSchedule(_) => ErrorCode::UnknownSchedule,
            Error::SelfCancel(_) => ErrorCode::SelfCancel,
            Error::Forbidden(_) => ErrorCode::Forbidden,
            Error::InvalidState(_) => ErrorCode::InvalidState,
            Error::Invalid(_) => ErrorCode::InvalidRequest,
            Error::Store(_) | Error::Migrate(_) => ErrorCode::StoreFailed,
            Error::Io { .. } => ErrorCode::IoFailed,
            Error::Closed => ErrorCode::ShuttingDown,
            Error::NoDisplay(_) => ErrorCode::NoDisplay,
            Error::InputRefused { code, .. } => *code,
            Error::NotSupported(_) => ErrorCode::NotSupported,
            Error::InputFailed(_) => ErrorCode::InputFailed,
            Error::TooManyRuns(_) => ErrorCode::TooManyRuns,
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn every_code_serializes_as_its_wire_name_and_parses_back() {
        for &code in ErrorCode::ALL {
            assert_eq!(
                serde_json::to_value(code).unwrap(),
                serde_json::json!(code.as_str())
            );
            assert_eq!(code.as_str().parse::<ErrorCode>(), Ok(code));
            assert_eq!(
                serde_json::from_value::<ErrorCode>(serde_json::json!(code.as_str())).unwrap(),
                code
            );
        }
        assert_eq!(
            "no_such_code".parse::<ErrorCode>(),
            Err(UnknownCode("no_such_code".into()))
        );
    }
}
