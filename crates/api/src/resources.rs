//! The resource routes: anyone with a token reads the resources; the person declares, resizes
//! and removes them (the core refuses a run's token, as for every user-only request).

use axum::Extension;
use axum::Json;
use axum::extract::FromRequestParts;
use axum::extract::State;
use axum::http::StatusCode;
use axum::http::request::Parts;
use baton_core::{Caller, ErrorCode, ResourceName, ResourceState};

use crate::error::{Error, ErrorBody, Result};
use crate::extract::{Body, path_text};
use crate::models::{AddResource, CapacityRequest, Removed};
use crate::openapi::{Conflict, Failures};
use crate::state::ApiState;

/// The `{name}` of a resource route, checked as a name before anyone looks it up.
#[derive(Debug, Clone)]
pub struct ResourcePath(pub ResourceName);

impl<S> FromRequestParts<S> for ResourcePath
where
    S: Send + Sync,
{
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let raw = path_text(parts, state, ErrorCode::InvalidRequest).await?;
        raw.parse()
            .map(ResourcePath)
            .map_err(|e: baton_core::Error| {
                Error::bad_request(ErrorCode::InvalidRequest, e.to_string())
            })
    }
}

/// Every resource, the desktop first: who holds each, with which token, and who waits.
/// Changes nothing.
#[utoipa::path(get, path = "/v1/resources", tag = "resources",
    responses((status = 200, body = [ResourceState])))]
pub async fn list(State(state): State<ApiState>) -> Json<Vec<ResourceState>> {
    Json(state.core.published().all_resources())
}

/// User only: declares a resource that runs may then need.
#[utoipa::path(post, path = "/v1/resources", tag = "resources", request_body = AddResource,
    responses((status = 201, body = ResourceState), (status = 403, body = ErrorBody),
              Conflict, Failures))]
pub async fn add(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Body(body): Body<AddResource>,
) -> Result<(StatusCode, Json<ResourceState>)> {
    let added = state
        .core
        .add_resource(body.name, body.capacity, caller)
        .await?;
    Ok((StatusCode::CREATED, Json(added)))
}

/// User only: how many runs may hold a resource at once; it applies to its queue at once.
#[utoipa::path(post, path = "/v1/resources/{name}/capacity", tag = "resources",
    params(("name" = ResourceName, Path)), request_body = CapacityRequest,
    responses((status = 200, body = ResourceState), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody, description = "unknown_resource"),
              (status = 409, body = ErrorBody, description = "invalid_state: the desktop's is 1"),
              Failures))]
pub async fn capacity(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    ResourcePath(name): ResourcePath,
    Body(body): Body<CapacityRequest>,
) -> Result<Json<ResourceState>> {
    let changed = state
        .core
        .set_capacity(name, body.capacity, caller)
        .await
        .map_err(not_found)?;
    Ok(Json(changed))
}

/// User only: removes a resource nobody holds or waits for.
#[utoipa::path(delete, path = "/v1/resources/{name}", tag = "resources",
    params(("name" = ResourceName, Path)),
    responses((status = 200, body = Removed), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody, description = "unknown_resource"),
              Conflict, Failures))]
pub async fn remove(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    ResourcePath(name): ResourcePath,
) -> Result<Json<Removed>> {
    state
        .core
        .remove_resource(name.clone(), caller)
        .await
        .map_err(not_found)?;
    Ok(Json(Removed { removed: name }))
}

/// On a resource route, the resource its path names is the one that is missing: 404.
fn not_found(error: baton_core::Error) -> Error {
    match error {
        baton_core::Error::UnknownResource(message) => Error::BadRequest {
            code: ErrorCode::UnknownResource,
            status: StatusCode::NOT_FOUND,
            message,
        },
        other => Error::Core(other),
    }
}
