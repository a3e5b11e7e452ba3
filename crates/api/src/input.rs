//! The input routes: the holder's batches, and the pointer and screen anyone may read.
//!
//! The gateway decides action by action whether the run may still act; when it stops, this
//! module turns the reason into the honest sentence (where the run stands, and why).

use axum::Extension;
use axum::Json;
use axum::extract::State;
use baton_core::input::{self, Stop};
use baton_core::messages::{self, TAKEOVER_MESSAGE};
use baton_core::{Caller, Error as CoreError, ErrorCode, RunId, RunState, queued_message};

use crate::error::{Error, ErrorBody, Result};
use crate::extract::{Body, RunPath};
use crate::models::{InputReport, InputRequest, Point, ScreenSize};
use crate::openapi::Failures;
use crate::state::ApiState;

/// The holder sends input, with its run token and lease token. The batch is checked as a
/// whole first (a bad one runs nothing), then runs in order, each action only while the run
/// still holds the desktop with that token and the person at the computer is not using it.
#[utoipa::path(post, path = "/v1/runs/{id}/input", tag = "input", params(("id" = i64, Path)),
    request_body = InputRequest,
    responses((status = 200, body = InputReport),
              (status = 400, body = ErrorBody, description = "invalid_request: the batch, nothing ran"),
              (status = 403, body = ErrorBody),
              (status = 409, body = ErrorBody, description = "not_holder, stale_token, cancelled, user_active"),
              Failures))]
pub async fn input(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    RunPath(id): RunPath,
    Body(request): Body<InputRequest>,
) -> Result<Json<InputReport>> {
    if caller != Caller::Run(id) {
        return Err(Error::Forbidden(format!(
            "only run #{id} itself sends its input, with its run token and its lease token"
        )));
    }
    // A run with a private display acts there (DESIGN rule 14), else on the desktop.
    let private = state.displays.get(id);
    let gateway = private.as_ref().map_or(&state.input, |open| &open.gateway);
    let screen = gateway.screen().await?;
    let steps = input::validate(&request.actions, screen)?;
    let total = steps.len();
    let outcome = gateway.run(id, request.lease_token, steps).await?;
    match outcome.stopped {
        None => Ok(Json(InputReport {
            ran: request.actions,
        })),
        Some(stop) => {
            let (code, why) = match private {
                Some(_) => private_refusal(id, request.lease_token, stop),
                None => refusal(&state, id, request.lease_token, stop).await?,
            };
            let message = if outcome.ran == 0 {
                format!("nothing ran: {why}")
            } else {
                format!(
                    "stopped before action {} of {total} ({} ran): {why}",
                    outcome.ran + 1,
                    outcome.ran
                )
            };
            Err(Error::Core(CoreError::InputRefused { code, message }))
        }
    }
}

/// Why run `id` may not act on its private display any more.
fn private_refusal(id: RunId, lease_token: u64, stop: Stop) -> (ErrorCode, String) {
    match stop {
        Stop::StaleToken { current } => (
            ErrorCode::StaleToken,
            messages::stale_token(id, lease_token, current),
        ),
        Stop::UserActive | Stop::NotHolder => (
            ErrorCode::NotHolder,
            format!("run #{id} no longer holds its private display"),
        ),
    }
}

/// Why run `id` may not act: the code and the honest sentence.
async fn refusal(
    state: &ApiState,
    id: RunId,
    lease_token: u64,
    stop: Stop,
) -> Result<(ErrorCode, String)> {
    Ok(match stop {
        Stop::StaleToken { current } => (
            ErrorCode::StaleToken,
            messages::stale_token(id, lease_token, current),
        ),
        Stop::UserActive => (ErrorCode::UserActive, TAKEOVER_MESSAGE.to_string()),
        Stop::NotHolder => {
            let run = state.core.run(id).await?;
            let published = state.core.published();
            let holder = published.holder.as_ref().map(|h| h.brief());
            match run.state {
                RunState::Cancelled => (ErrorCode::Cancelled, messages::cancelled_input(&run)),
                RunState::Queued => (
                    ErrorCode::NotHolder,
                    queued_message(
                        id,
                        holder.as_ref(),
                        run.position.unwrap_or_default(),
                        published.paused,
                        published.awaiting_ok.as_ref(),
                        published.ask_first,
                    ),
                ),
                RunState::Running => (
                    ErrorCode::NotHolder,
                    messages::not_holder(id, holder.as_ref()),
                ),
                ended => (
                    ErrorCode::StaleToken,
                    messages::ended_input(id, lease_token, ended),
                ),
            }
        }
    })
}

/// Where the pointer is. Anyone with a token may ask. A desktop that tells no program (Wayland)
/// is answered with 501 `not_supported`, and what to do instead.
#[utoipa::path(get, path = "/v1/input/pointer", tag = "input",
    responses((status = 200, body = Point), (status = 501, body = ErrorBody), Failures))]
pub async fn pointer(State(state): State<ApiState>) -> Result<Json<Point>> {
    let (x, y) = state.input.pointer().await?;
    Ok(Json(Point { x, y }))
}

/// The main screen's size. Anyone with a token may ask.
#[utoipa::path(get, path = "/v1/input/screen", tag = "input",
    responses((status = 200, body = ScreenSize), Failures))]
pub async fn screen(State(state): State<ApiState>) -> Result<Json<ScreenSize>> {
    let (width, height) = state.input.screen().await?;
    Ok(Json(ScreenSize { width, height }))
}
