//! The handlers: each reads its input, asks the core, and returns the core's answer as JSON.
//! Who may do what is decided in the core, not here, except where the core is not asked: a run
//! token reads only its own cancel targets (below) and sends input only for its own run
//! (`input.rs`).

use axum::Extension;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use baton_core::{
    Caller, ErrorCode, Event, HistoryQuery, Run, RunId, RunSpec, RunState, RunStatus, Snapshot,
    Submitted,
};
use std::time::Duration;

use crate::error::{Error, ErrorBody, Result};
use crate::extract::{Body, Query, RunPath, bounded};
use crate::models::{
    AcquireRequest, AmendRequest, EventsParams, FinishRequest, Health, HeartbeatRequest,
    HistoryParams, HostFacts, Paused, ReasonRequest, StopRequest, Stopped, WaitParams,
};
use crate::openapi::{Conflict, Failures, TooMany};
use crate::state::ApiState;

/// Is the host up? The only route without a token.
#[utoipa::path(get, path = "/v1/health", tag = "host", security(()),
    responses((status = 200, body = Health)))]
pub async fn health() -> Json<Health> {
    Json(Health {
        status: "ok".into(),
        version: env!("CARGO_PKG_VERSION").into(),
    })
}

/// What this host can do here: the platform, and whether input and takeover detection work
/// (and why not). Changes nothing.
#[utoipa::path(get, path = "/v1/host", tag = "host",
    responses((status = 200, body = HostFacts), (status = 401, body = ErrorBody)))]
pub async fn host(State(state): State<ApiState>) -> Json<HostFacts> {
    Json(state.host_facts(true))
}

/// Who holds the desktop, who waits, what runs in parallel. Answered from memory; changes
/// nothing.
#[utoipa::path(get, path = "/v1/status", tag = "desktop",
    responses((status = 200, body = Snapshot), (status = 401, body = ErrorBody)))]
pub async fn status(State(state): State<ApiState>) -> Json<Snapshot> {
    Json(state.core.status())
}

/// Submits a run. A desktop run gets the lease or a queue position with the honest message;
/// with `queue: false` and a busy desktop it is recorded as `withdrawn` at once. The answer
/// carries the run token.
#[utoipa::path(post, path = "/v1/runs", tag = "runs", request_body = RunSpec,
    responses((status = 201, body = Submitted), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 409, body = ErrorBody, description = "unknown_resource: a resource that is not declared"),
              TooMany, Failures))]
pub async fn submit(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Body(spec): Body<RunSpec>,
) -> Result<(StatusCode, Json<Submitted>)> {
    let submitted = state.core.submit(spec, caller).await?;
    Ok((StatusCode::CREATED, Json(submitted)))
}

/// One run, live or from the history.
#[utoipa::path(get, path = "/v1/runs/{id}", tag = "runs", params(("id" = i64, Path)),
    responses((status = 200, body = Run), (status = 404, body = ErrorBody), Failures))]
pub async fn run(State(state): State<ApiState>, RunPath(id): RunPath) -> Result<Json<Run>> {
    Ok(Json(state.core.run(id).await?))
}

/// Keeps the run alive (its TTL starts again) and says where it stands, with its unread inbox;
/// notes numbered `inbox_after` and below count as read and are dropped. For a run that ended
/// it answers the final status. Only the run itself (its run token).
#[utoipa::path(post, path = "/v1/runs/{id}/heartbeat", tag = "runs", params(("id" = i64, Path)),
    request_body = Option<HeartbeatRequest>,
    responses((status = 200, body = RunStatus), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), Conflict, Failures))]
pub async fn heartbeat(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    RunPath(id): RunPath,
    Body(body): Body<HeartbeatRequest>,
) -> Result<Json<RunStatus>> {
    Ok(Json(
        state.core.heartbeat(id, caller, body.inbox_after).await?,
    ))
}

/// A heartbeat that waits until the run's status changes past `after_version`, or the timeout.
#[utoipa::path(get, path = "/v1/runs/{id}/wait", tag = "runs",
    params(("id" = i64, Path), WaitParams),
    responses((status = 200, body = RunStatus), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), Failures))]
pub async fn wait(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    RunPath(id): RunPath,
    Query(params): Query<WaitParams>,
) -> Result<Json<RunStatus>> {
    bounded(params.after_version, "after_version")?;
    bounded(params.timeout_ms, "timeout_ms")?;
    let status = state
        .core
        .wait(
            id,
            caller,
            params.after_version,
            params.inbox_after,
            Duration::from_millis(params.timeout_ms),
        )
        .await?;
    Ok(Json(status.inbox_after(params.inbox_after)))
}

/// Appends a correction to the run's inbox. Nothing is cancelled or requeued.
#[utoipa::path(post, path = "/v1/runs/{id}/amend", tag = "runs", params(("id" = i64, Path)),
    request_body = AmendRequest,
    responses((status = 200, body = RunStatus), (status = 404, body = ErrorBody),
              Conflict, Failures))]
pub async fn amend(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    RunPath(id): RunPath,
    Body(body): Body<AmendRequest>,
) -> Result<Json<RunStatus>> {
    Ok(Json(
        state
            .core
            .amend_with(id, caller, body.text, body.reason)
            .await?,
    ))
}

/// User only: cancels the run and puts a new one in its place (its queue slot, or the lease
/// directly if it held it).
#[utoipa::path(post, path = "/v1/runs/{id}/replace", tag = "runs", params(("id" = i64, Path)),
    request_body = RunSpec,
    responses((status = 201, body = Submitted), (status = 403, body = ErrorBody),
              (status = 409, body = ErrorBody, description = "invalid_state, or unknown_resource"),
              TooMany, Failures))]
pub async fn replace(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    RunPath(id): RunPath,
    Body(spec): Body<RunSpec>,
) -> Result<(StatusCode, Json<Submitted>)> {
    let submitted = state.core.replace(id, spec, caller).await?;
    Ok((StatusCode::CREATED, Json(submitted)))
}

/// Cancels a run: the user, or a run relaying the user's stop for *another* run with a
/// reason. A run's own token is refused (`self_cancel`).
#[utoipa::path(post, path = "/v1/runs/{id}/cancel", tag = "runs", params(("id" = i64, Path)),
    request_body = Option<ReasonRequest>,
    responses((status = 200, body = Run), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), Conflict, Failures))]
pub async fn cancel(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    RunPath(id): RunPath,
    Body(body): Body<ReasonRequest>,
) -> Result<Json<Run>> {
    Ok(Json(state.core.cancel(id, caller, body.reason).await?))
}

/// User only: moves a queued run to the head of the queue.
#[utoipa::path(post, path = "/v1/runs/{id}/front", tag = "runs", params(("id" = i64, Path)),
    responses((status = 200, body = RunStatus), (status = 403, body = ErrorBody),
              Conflict, Failures))]
pub async fn front(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    RunPath(id): RunPath,
) -> Result<Json<RunStatus>> {
    Ok(Json(state.core.front(id, caller).await?))
}

/// User only: OKs the run that waits for it at the head of the queue (with "ask before a run
/// takes the desktop" on), which takes the free desktop now. Any other run is refused (409).
#[utoipa::path(post, path = "/v1/runs/{id}/allow", tag = "runs", params(("id" = i64, Path)),
    responses((status = 200, body = RunStatus), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), Conflict, Failures))]
pub async fn allow(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    RunPath(id): RunPath,
) -> Result<Json<RunStatus>> {
    Ok(Json(state.core.allow(id, caller).await?))
}

/// The run ends itself with an outcome; its lease is handed on.
#[utoipa::path(post, path = "/v1/runs/{id}/finish", tag = "runs", params(("id" = i64, Path)),
    request_body = FinishRequest,
    responses((status = 200, body = Run), (status = 403, body = ErrorBody),
              Conflict, Failures))]
pub async fn finish(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    RunPath(id): RunPath,
    Body(body): Body<FinishRequest>,
) -> Result<Json<Run>> {
    let run = state
        .core
        .finish(id, caller, body.outcome, body.exit_code, body.note)
        .await?;
    Ok(Json(run))
}

/// The run gives the desktop back (or stops waiting for it again) and goes on in parallel.
#[utoipa::path(post, path = "/v1/runs/{id}/release", tag = "runs", params(("id" = i64, Path)),
    responses((status = 200, body = RunStatus), Conflict, Failures))]
pub async fn release(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    RunPath(id): RunPath,
) -> Result<Json<RunStatus>> {
    Ok(Json(state.core.release(id, caller).await?))
}

/// The run asks for the desktop (again), or for the resources it names, all at once; it queues
/// at the back of each line. A run that holds or waits for something asks only for that.
#[utoipa::path(post, path = "/v1/runs/{id}/acquire", tag = "runs", params(("id" = i64, Path)),
    request_body = Option<AcquireRequest>,
    responses((status = 200, body = RunStatus),
              (status = 409, body = ErrorBody, description = "invalid_state, or unknown_resource"),
              Failures))]
pub async fn acquire(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    RunPath(id): RunPath,
    Body(body): Body<AcquireRequest>,
) -> Result<Json<RunStatus>> {
    let status = match body.resources {
        None => state.core.acquire(id, caller).await?,
        Some(resources) => state.core.acquire_resources(id, caller, resources).await?,
    };
    Ok(Json(status))
}

/// The run's client gives up waiting before the run started.
#[utoipa::path(post, path = "/v1/runs/{id}/withdraw", tag = "runs", params(("id" = i64, Path)),
    request_body = Option<ReasonRequest>,
    responses((status = 200, body = Run), Conflict, Failures))]
pub async fn withdraw(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    RunPath(id): RunPath,
    Body(body): Body<ReasonRequest>,
) -> Result<Json<Run>> {
    Ok(Json(state.core.withdraw(id, caller, body.reason).await?))
}

/// The runs this run may relay a user's stop for: every active run except itself.
#[utoipa::path(get, path = "/v1/runs/{id}/cancel-targets", tag = "runs",
    params(("id" = i64, Path)),
    responses((status = 200, body = [Run]), (status = 403, body = ErrorBody), Failures))]
pub async fn cancel_targets(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    RunPath(id): RunPath,
) -> Result<Json<Vec<Run>>> {
    if let Caller::Run(by) = caller
        && by != id
    {
        return Err(Error::Forbidden(format!(
            "run #{by} can only ask for its own cancel targets"
        )));
    }
    Ok(Json(state.core.cancel_targets(id)))
}

/// User only: cancels whoever holds the desktop now (or only the run `run_id`, if it still does).
#[utoipa::path(post, path = "/v1/desktop/stop", tag = "desktop", request_body = Option<StopRequest>,
    responses((status = 200, body = Stopped), (status = 403, body = ErrorBody),
              Conflict, Failures))]
pub async fn stop(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Body(body): Body<StopRequest>,
) -> Result<Json<Stopped>> {
    let stopped = state
        .core
        .stop_holder(caller, body.reason, body.run_id.map(RunId))
        .await?;
    Ok(Json(Stopped { stopped }))
}

/// User only: no new hand-offs until resumed; the holder goes on.
#[utoipa::path(post, path = "/v1/desktop/pause", tag = "desktop",
    responses((status = 200, body = Paused), (status = 403, body = ErrorBody), Failures))]
pub async fn pause(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<Paused>> {
    let changed = state.core.set_paused(true, caller).await?;
    Ok(Json(Paused {
        paused: true,
        changed,
    }))
}

/// User only: hand-offs go on; the head of the queue starts if the desktop is free.
#[utoipa::path(post, path = "/v1/desktop/resume", tag = "desktop",
    responses((status = 200, body = Paused), (status = 403, body = ErrorBody), Failures))]
pub async fn resume(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<Paused>> {
    let changed = state.core.set_paused(false, caller).await?;
    Ok(Json(Paused {
        paused: false,
        changed,
    }))
}

/// User only: the person at the computer takes over; the holder keeps its place, its input is
/// refused until resumed.
#[utoipa::path(post, path = "/v1/desktop/holder/pause", tag = "desktop",
    responses((status = 200, body = Paused), (status = 403, body = ErrorBody),
              Conflict, Failures))]
pub async fn pause_holder(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<Paused>> {
    let changed = state.core.pause_holder(caller).await?;
    Ok(Json(Paused {
        paused: true,
        changed,
    }))
}

/// User only: gives the desktop back to its holder after a takeover.
#[utoipa::path(post, path = "/v1/desktop/holder/resume", tag = "desktop",
    responses((status = 200, body = Paused), (status = 403, body = ErrorBody),
              Conflict, Failures))]
pub async fn resume_holder(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<Paused>> {
    let changed = state.core.resume_holder(caller).await?;
    Ok(Json(Paused {
        paused: false,
        changed,
    }))
}

/// Runs, newest first.
#[utoipa::path(get, path = "/v1/history", tag = "history", params(HistoryParams),
    responses((status = 200, body = [Run]), (status = 400, body = ErrorBody), Failures))]
pub async fn history(
    State(state): State<ApiState>,
    Query(params): Query<HistoryParams>,
) -> Result<Json<Vec<Run>>> {
    let run_state = params
        .state
        .as_deref()
        .map(str::parse::<RunState>)
        .transpose()
        .map_err(|e| Error::bad_request(ErrorCode::InvalidQuery, e))?;
    let query = HistoryQuery {
        state: run_state,
        client: params.client,
        before: params.before.map(RunId),
        limit: params.limit.unwrap_or(50),
    };
    Ok(Json(state.core.history(&query).await?))
}

/// Committed events after `after`, oldest first.
#[utoipa::path(get, path = "/v1/events", tag = "history", params(EventsParams),
    responses((status = 200, body = [Event]), Failures))]
pub async fn events(
    State(state): State<ApiState>,
    Query(params): Query<EventsParams>,
) -> Result<Json<Vec<Event>>> {
    params.after.map(|a| bounded(a, "after")).transpose()?;
    let events = state
        .core
        .events_after(params.after.unwrap_or(0), params.limit.unwrap_or(1000))
        .await?;
    Ok(Json(events))
}

/// Unknown routes.
pub async fn no_route(uri: axum::http::Uri) -> Error {
    Error::NoRoute(uri.path().to_string())
}

/// Known routes, wrong method.
pub async fn wrong_method(method: axum::http::Method) -> Error {
    Error::MethodNotAllowed(method.to_string())
}
