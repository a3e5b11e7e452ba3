//! The OpenAPI document, generated from the handlers' annotations and the models' types, so it
//! cannot drift from the code. Served at `/v1/openapi.json`.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::{input, routes, stream};

/// The API description.
#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "Baton local API",
        description = "Share one desktop between many agents: a desktop lease with a fair queue. \
                       Loopback only; every route but /v1/health needs `Authorization: Bearer <token>` \
                       (the user token from the data directory, or a run token from submit).",
    ),
    paths(
        routes::health, routes::status, routes::submit, routes::run, routes::heartbeat,
        routes::wait, stream::attach, routes::amend, routes::replace, routes::cancel,
        routes::front, routes::finish, routes::release, routes::acquire, routes::withdraw,
        routes::cancel_targets, routes::stop, routes::pause, routes::resume, routes::history,
        routes::events, stream::events, routes::pause_holder, routes::resume_holder,
        input::input, input::pointer, input::screen,
    ),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
    tags(
        (name = "desktop", description = "The desktop lease: status, stop, pause"),
        (name = "runs", description = "Runs: submit, heartbeat, finish, cancel, …"),
        (name = "history", description = "The history and the event log"),
        (name = "input", description = "Input, sent by Baton for the desktop holder only"),
        (name = "host", description = "The host itself"),
    ),
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// `GET /v1/openapi.json`.
pub async fn serve() -> axum::Json<utoipa::openapi::OpenApi> {
    axum::Json(ApiDoc::openapi())
}
