//! The API's one error type, and how each error becomes `{"error":{"code","message"}}` with the
//! right HTTP status.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use baton_core::ErrorCode;
use serde::Serialize;

/// Everything the API answers with an error.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The core refused or failed.
    #[error(transparent)]
    Core(#[from] baton_core::Error),

    /// The data directory cannot be served (another host serves it, it is not this user's
    /// alone, a file of it cannot be read or written).
    #[error(transparent)]
    Platform(#[from] baton_platform::Error),

    /// No bearer token, or one that is neither the user token nor a genuine run token.
    #[error(
        "missing or wrong bearer token: send 'Authorization: Bearer <token>' with the user token (the file 'token' in Baton's data directory) or a run token"
    )]
    Unauthorized,

    /// A run token used for a run other than its own.
    #[error("{0}")]
    Forbidden(String),

    /// The Host header is not this server's loopback address (DNS rebinding guard).
    #[error(
        "the Host header '{0}' is not allowed: Baton answers only on 127.0.0.1, localhost and [::1]"
    )]
    HostNotAllowed(String),

    /// A browser page from elsewhere tried to call the API.
    #[error("requests from the web origin '{0}' are not allowed")]
    OriginNotAllowed(String),

    /// The request could not be read (malformed JSON, unknown field, bad query, …).
    #[error("{message}")]
    BadRequest {
        /// The stable code.
        code: ErrorCode,
        /// The HTTP status.
        status: StatusCode,
        /// What is wrong with it.
        message: String,
    },

    /// No such route.
    #[error("there is no API route {0}; see /v1/openapi.json")]
    NoRoute(String),

    /// The route exists, with another method.
    #[error("this route does not accept {0}; see /v1/openapi.json")]
    MethodNotAllowed(String),

    /// The listening socket could not be opened.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// A malformed request.
    pub fn bad_request(code: ErrorCode, message: impl Into<String>) -> Self {
        Error::BadRequest {
            code,
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }

    /// The HTTP status this error is answered with.
    pub fn status(&self) -> StatusCode {
        use baton_core::Error as Core;
        match self {
            Error::Core(e) => match e {
                Core::UnknownRun(_) | Core::UnknownSchedule(_) => StatusCode::NOT_FOUND,
                // A request that names a resource the host does not have conflicts with what
                // is declared; a resource route's own `{name}` answers 404 instead.
                Core::UnknownResource(_) => StatusCode::CONFLICT,
                Core::SelfCancel(_) | Core::Forbidden(_) => StatusCode::FORBIDDEN,
                Core::InvalidState(_) => StatusCode::CONFLICT,
                Core::Invalid(_) => StatusCode::BAD_REQUEST,
                Core::Closed => StatusCode::SERVICE_UNAVAILABLE,
                Core::Store(_) | Core::Migrate(_) | Core::Io { .. } | Core::InputFailed(_) => {
                    StatusCode::INTERNAL_SERVER_ERROR
                }
                Core::InputRefused { .. } => StatusCode::CONFLICT,
                Core::NoDisplay(_) => StatusCode::SERVICE_UNAVAILABLE,
                Core::NotSupported(_) => StatusCode::NOT_IMPLEMENTED,
                Core::TooManyRuns(_) => StatusCode::TOO_MANY_REQUESTS,
            },
            Error::Platform(baton_platform::Error::HostRunning { .. }) => StatusCode::CONFLICT,
            Error::Platform(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Error::Unauthorized => StatusCode::UNAUTHORIZED,
            Error::Forbidden(_) | Error::HostNotAllowed(_) | Error::OriginNotAllowed(_) => {
                StatusCode::FORBIDDEN
            }
            Error::BadRequest { status, .. } => *status,
            Error::NoRoute(_) => StatusCode::NOT_FOUND,
            Error::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            Error::Bind { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable code clients match on.
    pub fn code(&self) -> ErrorCode {
        match self {
            Error::Core(e) => e.code(),
            Error::Platform(e) => e.code(),
            Error::Unauthorized => ErrorCode::Unauthorized,
            Error::Forbidden(_) => ErrorCode::Forbidden,
            Error::HostNotAllowed(_) => ErrorCode::HostNotAllowed,
            Error::OriginNotAllowed(_) => ErrorCode::OriginNotAllowed,
            Error::BadRequest { code, .. } => *code,
            Error::NoRoute(_) => ErrorCode::NoRoute,
            Error::MethodNotAllowed(_) => ErrorCode::MethodNotAllowed,
            Error::Bind { .. } => ErrorCode::BindFailed,
        }
    }
}

/// The error body: `{"error":{"code":"…","message":"…"}}`.
#[derive(Debug, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// An error's code and sentence.
#[derive(Debug, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable, machine-readable: what a client matches on.
    pub code: ErrorCode,
    /// A sentence a person understands.
    pub message: String,
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let status = self.status();
        // 501 is an answer about the desktop (Wayland hides the pointer), not a failure.
        if status.is_server_error() && status != StatusCode::NOT_IMPLEMENTED {
            tracing::error!(error = %self, "request failed");
        }
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code(),
                message: self.to_string(),
            },
        };
        let early = matches!(
            self,
            Error::Unauthorized
                | Error::HostNotAllowed(_)
                | Error::OriginNotAllowed(_)
                | Error::NoRoute(_)
                | Error::MethodNotAllowed(_)
        );
        let mut response = (status, Json(body)).into_response();
        if early || status == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            // The body was never read (a refusal before it: nothing from a stranger is
            // buffered), or not all of it: the connection cannot carry another request, and a
            // client must not try (it would get a broken connection).
            response.headers_mut().insert(
                axum::http::header::CONNECTION,
                axum::http::HeaderValue::from_static("close"),
            );
        }
        response
    }
}

/// Shorthand for handlers.
pub type Result<T, E = Error> = std::result::Result<T, E>;
