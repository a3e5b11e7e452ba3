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
//! - [`resources`]: the resource routes: read them; the person declares, resizes, removes.
//! - [`schedules`]: schedule entries: their routes, the host's fire loop, and the launcher
//!   that runs a fire's command and keeps its log.
//! - [`displays`]: the runs' private displays: started for a run that holds one of the pool
//!   `displays`, its input and screenshots, ended as soon as it lets go.
//! - [`stream`]: the SSE handlers (event log, a run's attach stream).
//! - [`auth`]: the Host/Origin guard and bearer auth.
//! - [`extract`]: body, query and path extractors that answer in the API's error format.
//! - [`models`]: request and response bodies that exist only at the HTTP edge.
//! - [`openapi`]: the generated OpenAPI document.
//! - [`state`]: what handlers share.
//! - [`error`]: the crate's one error type and its HTTP mapping.

pub mod auth;
pub mod displays;
pub mod error;
pub mod extract;
pub mod host;
pub mod input;
pub mod models;
pub mod openapi;
pub mod resources;
pub mod routes;
pub mod schedules;
pub mod serve;
pub mod settings;
pub mod signals;
pub mod state;
pub mod stream;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware::from_fn_with_state;
use axum::routing::get;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

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

/// Every route that needs a token, with its OpenAPI operation: the router and the document
/// are both made from this one list, so neither can have a route the other lacks.
pub(crate) fn protected_routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(routes::status))
        .routes(routes!(routes::host))
        .routes(routes!(routes::submit))
        .routes(routes!(routes::run))
        .routes(routes!(routes::heartbeat))
        .routes(routes!(routes::wait))
        .routes(routes!(stream::attach))
        .routes(routes!(routes::amend))
        .routes(routes!(routes::replace))
        .routes(routes!(routes::cancel))
        .routes(routes!(routes::front))
        .routes(routes!(routes::allow))
        .routes(routes!(routes::finish))
        .routes(routes!(routes::release))
        .routes(routes!(routes::acquire))
        .routes(routes!(routes::withdraw))
        .routes(routes!(routes::cancel_targets))
        .routes(routes!(routes::stop))
        .routes(routes!(routes::pause))
        .routes(routes!(routes::resume))
        .routes(routes!(routes::pause_holder))
        .routes(routes!(routes::resume_holder))
        .routes(routes!(input::input))
        .routes(routes!(input::pointer))
        .routes(routes!(input::screen))
        .routes(routes!(resources::list, resources::add))
        .routes(routes!(resources::capacity))
        .routes(routes!(resources::remove))
        .routes(routes!(displays::open))
        .routes(routes!(displays::screenshot))
        .routes(routes!(displays::list))
        .routes(routes!(schedules::list, schedules::add))
        .routes(routes!(schedules::edit, schedules::remove))
        .routes(routes!(schedules::pause))
        .routes(routes!(schedules::resume))
        .routes(routes!(schedules::run_now))
        .routes(routes!(schedules::log))
        .routes(routes!(routes::history))
        .routes(routes!(routes::events))
        .routes(routes!(stream::events))
}

/// The routes anyone on the loopback may call.
pub(crate) fn public_routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new().routes(routes!(routes::health))
}

/// The whole API.
pub fn router(state: ApiState) -> Router {
    let (protected, _) = protected_routes().split_for_parts();
    let (public, _) = public_routes().split_for_parts();
    let protected = protected
        // The document describes the routes above; it is not one of them.
        .route("/v1/openapi.json", get(openapi::serve))
        // A body is read only once the token is good: nothing a stranger sends is buffered.
        .route_layer(axum::middleware::from_fn(extract::read_whole_body))
        .route_layer(from_fn_with_state(state.clone(), auth::require_token));
    public
        .merge(protected)
        .fallback(routes::no_route)
        .method_not_allowed_fallback(routes::wrong_method)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(from_fn_with_state(state.clone(), auth::guard_host))
        .with_state(state)
}
