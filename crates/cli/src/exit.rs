//! Exit codes (a contract scripts rely on) and the error that carries one.

use std::fmt;

use baton_core::ErrorCode;

/// Success.
pub const OK: u8 = 0;
/// Something else went wrong.
pub const FAILED: u8 = 1;
/// The command line does not parse (clap exits with this itself).
pub const USAGE: u8 = 2;
/// No such run.
pub const UNKNOWN_RUN: u8 = 3;
/// Baton refused the request (not allowed, wrong state, bad input).
pub const REFUSED: u8 = 4;
/// No Baton host is running (or it went away).
pub const NO_HOST: u8 = 69;
/// Gave up waiting for the desktop (or lost it).
pub const GAVE_UP: u8 = 75;
/// Cancelled by the user.
pub const CANCELLED: u8 = 130;

/// The sentence for [`NO_HOST`].
pub use baton_client::NO_HOST_MESSAGE;

/// A failure with the exit code it maps to.
#[derive(Debug)]
pub struct Failure {
    /// The exit code.
    pub code: u8,
    /// What to tell the person, without the `baton:` prefix.
    pub message: String,
}

impl Failure {
    pub fn new(code: u8, message: impl Into<String>) -> Self {
        Failure {
            code,
            message: message.into(),
        }
    }

    pub fn no_host() -> Self {
        Failure::new(NO_HOST, NO_HOST_MESSAGE)
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}

/// The host's refusal keeps its sentence and gets the exit code its error code maps to.
impl From<baton_client::Error> for Failure {
    fn from(error: baton_client::Error) -> Self {
        let code = match &error {
            baton_client::Error::NoHost => NO_HOST,
            baton_client::Error::Api { code, .. } => code_for(*code),
            _ => FAILED,
        };
        Failure::new(code, error.to_string())
    }
}

/// The exit code for an API error code.
pub fn code_for(api_code: Option<ErrorCode>) -> u8 {
    match api_code {
        Some(ErrorCode::UnknownRun) => UNKNOWN_RUN,
        Some(ErrorCode::ShuttingDown) => NO_HOST,
        Some(ErrorCode::StoreFailed | ErrorCode::IoFailed | ErrorCode::BindFailed) => FAILED,
        _ => REFUSED,
    }
}
