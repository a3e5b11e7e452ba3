//! The client's one error type.

use baton_core::ErrorCode;

/// What the client tells when there is no host to talk to.
pub const NO_HOST_MESSAGE: &str = "no Baton host is running: start the tray app or 'baton daemon'";

/// What went wrong talking to a host.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No host serves the data directory, or the connection to it broke (it went away).
    #[error("{NO_HOST_MESSAGE}")]
    NoHost,

    /// The host refused the request: its `{"error": {"code", "message"}}`.
    #[error("{message}")]
    Api {
        /// The HTTP status.
        status: u16,
        /// The stable code; `None` when the host sent none, or one this client does not know
        /// (a newer host's).
        code: Option<ErrorCode>,
        /// The host's sentence.
        message: String,
    },

    /// The host did not answer in time.
    #[error("the Baton host did not answer in time")]
    Timeout,

    /// The connection failed in some other way.
    #[error("talking to the Baton host failed: {0}")]
    Transport(String),

    /// The host answered something this client cannot read.
    #[error("the host sent an answer Baton cannot read: {0}")]
    Decode(String),

    /// The data directory could not be read (the token, the host's note).
    #[error("{0}")]
    DataDir(String),
}

impl Error {
    /// The host's error code, when the host refused.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            Error::Api { code, .. } => *code,
            _ => None,
        }
    }

    /// Whether the host refused because the run is not in a state for it (for example a
    /// withdraw that came after the grant).
    pub fn is_invalid_state(&self) -> bool {
        self.code() == Some(ErrorCode::InvalidState)
    }
}

/// Shorthand.
pub type Result<T, E = Error> = std::result::Result<T, E>;
