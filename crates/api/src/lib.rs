//! `baton-api`: Baton's local HTTP API, a thin axum adapter over `baton-core`.
//!
//! Loopback only, bearer tokens on every route but `/v1/health`, a Host/Origin allowlist, JSON
//! errors as `{"error":{"code","message"}}`, SSE streams, and an OpenAPI document.
//!
//! Map of the crate:
//! - [`host`]: starts and stops a whole host (lock, store, scheduler, server, `host.json`).
//! - [`settings`]: the host's settings kept in the data directory, applied by every host.
//! - [`signals`]: the signals that ask a host (or a wrapper) to stop, per platform.
//! - [`serve`]: serving a listener within limits (connections, header and idle time).
//! - [`routes`]: the JSON handlers.
//! - [`input`]: the input routes: the holder's batches, pointer and screen.
//! - [`stream`]: the SSE handlers (event log, a run's attach stream).
//! - [`auth`]: the Host/Origin guard and bearer auth.
//! - [`extract`]: body, query and path extractors that answer in the API's error format.
//! - [`models`]: request and response bodies that exist only at the HTTP edge.
//! - [`openapi`]: the generated OpenAPI document.
//! - [`state`]: what handlers share.
//! - [`error`]: the crate's one error type and its HTTP mapping.

pub mod auth;
pub mod error;
pub mod extract;
pub mod host;
pub mod input;
pub mod models;
pub mod openapi;
pub mod routes;
pub mod serve;
pub mod settings;
pub mod signals;
pub mod state;
pub mod stream;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware::from_fn_with_state;
use axum::routing::{get, post};

pub use error::{Error, ErrorBody, Result};

/// The commit this build is from: Git's short hash, `BATON_COMMIT` where the builder set it, or
/// `unknown` (see `build.rs`).
pub const COMMIT: &str = env!("BATON_COMMIT");

/// The version people are shown (`baton --version`, the tray's settings): the release and the
/// commit, so a report names exactly what ran.
pub const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (", env!("BATON_COMMIT"), ")");
pub use host::{Host, HostOptions, InputOptions, Overrides};
pub use state::ApiState;

/// Largest request body accepted.
pub const BODY_LIMIT: usize = 64 * 1024;

/// The whole API.
pub fn router(state: ApiState) -> Router {
    let protected = Router::new()
        .route("/v1/status", get(routes::status))
        .route("/v1/host", get(routes::host))
        .route("/v1/runs", post(routes::submit))
        .route("/v1/runs/{id}", get(routes::run))
        .route("/v1/runs/{id}/heartbeat", post(routes::heartbeat))
        .route("/v1/runs/{id}/wait", get(routes::wait))
        .route("/v1/runs/{id}/attach", get(stream::attach))
        .route("/v1/runs/{id}/amend", post(routes::amend))
        .route("/v1/runs/{id}/replace", post(routes::replace))
        .route("/v1/runs/{id}/cancel", post(routes::cancel))
        .route("/v1/runs/{id}/front", post(routes::front))
        .route("/v1/runs/{id}/allow", post(routes::allow))
        .route("/v1/runs/{id}/finish", post(routes::finish))
        .route("/v1/runs/{id}/release", post(routes::release))
        .route("/v1/runs/{id}/acquire", post(routes::acquire))
        .route("/v1/runs/{id}/withdraw", post(routes::withdraw))
        .route("/v1/runs/{id}/cancel-targets", get(routes::cancel_targets))
        .route("/v1/desktop/stop", post(routes::stop))
        .route("/v1/desktop/pause", post(routes::pause))
        .route("/v1/desktop/resume", post(routes::resume))
        .route("/v1/desktop/holder/pause", post(routes::pause_holder))
        .route("/v1/desktop/holder/resume", post(routes::resume_holder))
        .route("/v1/runs/{id}/input", post(input::input))
        .route("/v1/input/pointer", get(input::pointer))
        .route("/v1/input/screen", get(input::screen))
        .route("/v1/history", get(routes::history))
        .route("/v1/events", get(routes::events))
        .route("/v1/events/stream", get(stream::events))
        .route("/v1/openapi.json", get(openapi::serve))
        // A body is read only once the token is good: nothing a stranger sends is buffered.
        .route_layer(axum::middleware::from_fn(extract::read_whole_body))
        .route_layer(from_fn_with_state(state.clone(), auth::require_token));
    Router::new()
        .route("/v1/health", get(routes::health))
        .merge(protected)
        .fallback(routes::no_route)
        .method_not_allowed_fallback(routes::wrong_method)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(from_fn_with_state(state.clone(), auth::guard_host))
        .with_state(state)
}
