//! Server-sent event streams: the event log (resumable with `Last-Event-ID`) and a run's own
//! attach stream, which binds the run's life to the connection.
//!
//! Each stream is fed by a task that ends when the client goes away (its channel closes when
//! hyper drops the response body), so nothing outlives a connection.

use std::convert::Infallible;
use std::sync::Arc;

use axum::Extension;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, KeepAliveStream, Sse};
use baton_core::actor::QUEUE_MOVES;
use baton_core::clock::sleep_until;
use baton_core::{Caller, Event};
use tokio::sync::{broadcast, mpsc};
use tokio::time::Instant;
use tokio_stream::wrappers::ReceiverStream;

use crate::error::Result;
use crate::extract::{Query, RunPath, bounded};
use crate::models::EventsParams;
use crate::openapi::{Conflict, Failures};
use crate::state::ApiState;

type SseStream = Sse<KeepAliveStream<ReceiverStream<Result<SseEvent, Infallible>>>>;

/// Events as they are committed, as SSE (`id` = sequence number, `event` = kind). Resumes
/// after `Last-Event-ID` (or `?after=`) from the stored log, then follows live.
#[utoipa::path(get, path = "/v1/events/stream", tag = "history", operation_id = "events_stream",
    params(EventsParams),
    responses((status = 200, description = "text/event-stream of Event", content_type = "text/event-stream"), Failures))]
pub async fn events(
    State(state): State<ApiState>,
    headers: HeaderMap,
    Query(params): Query<EventsParams>,
) -> Result<SseStream> {
    let resume = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .or(params.after);
    resume.map(|a| bounded(a, "after")).transpose()?;
    let (tx, rx) = mpsc::channel(256);
    // Subscribe before reading the backlog, so nothing falls between the two.
    let live = state.core.subscribe_events();
    let after = resume.unwrap_or_else(|| state.core.published().last_event);
    tokio::spawn(follow_events(state, live, after, tx));
    Ok(sse(rx))
}

async fn follow_events(
    state: ApiState,
    mut live: broadcast::Receiver<Arc<Event>>,
    mut last: u64,
    tx: mpsc::Sender<Result<SseEvent, Infallible>>,
) {
    let stopping = state.stopping.clone();
    if stopping.is_cancelled() || !send_backlog(&state, &mut last, &tx).await {
        return;
    }
    loop {
        tokio::select! {
            () = tx.closed() => return,
            () = stopping.cancelled() => return,
            received = live.recv() => match received {
                Ok(event) if event.seq > last => {
                    last = event.seq;
                    if tx.send(Ok(to_sse(&event))).await.is_err() {
                        return;
                    }
                }
                Ok(_) => {}
                // Too slow to keep up with the live feed: catch up from the stored log.
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    if !send_backlog(&state, &mut last, &tx).await {
                        return;
                    }
                }
                Err(broadcast::error::RecvError::Closed) => return,
            },
        }
    }
}

/// Sends stored events after `last`; false when the client is gone or the store failed.
async fn send_backlog(
    state: &ApiState,
    last: &mut u64,
    tx: &mpsc::Sender<Result<SseEvent, Infallible>>,
) -> bool {
    loop {
        let page = match state.core.events_after(*last, 500).await {
            Ok(page) => page,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the event log for a stream");
                return false;
            }
        };
        if page.is_empty() {
            return true;
        }
        for event in page {
            *last = event.seq;
            if tx.send(Ok(to_sse(&event))).await.is_err() {
                return false;
            }
        }
    }
}

fn to_sse(event: &Event) -> SseEvent {
    with_json(
        SseEvent::default()
            .id(event.seq.to_string())
            .event(event.kind.name()),
        event,
    )
}

/// `event` with `value` as its data, written as JSON in one piece: axum's `json_data` passes
/// every fragment serde writes (a hundred or so for a run's status) through its line-splitting
/// writer one by one, which showed in the hand-off bench's profile. Compact JSON has no line
/// breaks, so one pass over the whole is all the splitting needs.
fn with_json(event: SseEvent, value: &impl serde::Serialize) -> SseEvent {
    match serde_json::to_string(value) {
        Ok(json) => event.data(json),
        // Baton's own types always serialize; an empty event is what json_data's error gave.
        Err(_) => SseEvent::default(),
    }
}

/// Binds the run's life to this connection: a `status` event now and at every change, until the
/// run ends. When the connection closes while the run is active, the run expires at once and
/// its lease is handed on. Heartbeats are still needed (a frozen client keeps its socket open).
#[utoipa::path(get, path = "/v1/runs/{id}/attach", tag = "runs", params(("id" = i64, Path)),
    responses((status = 200, description = "text/event-stream of RunStatus", content_type = "text/event-stream"),
              (status = 403, body = crate::error::ErrorBody), Conflict, Failures))]
pub async fn attach(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    RunPath(id): RunPath,
) -> Result<SseStream> {
    let mut attachment = state.core.attach(id, caller).await?;
    let (tx, rx) = mpsc::channel(16);
    tokio::spawn(async move {
        loop {
            let status = attachment.updates.borrow_and_update().clone();
            if tx.send(Ok(status_event(&status))).await.is_err() || status.ended {
                break;
            }
            let sent_at = Instant::now();
            // Waits for a change worth telling: a grant, a cancel, a pause, a note, the end at
            // once; a mere move up the queue at most every QUEUE_MOVES. With many waiters every
            // hand-off moves each of them, and writing all of them at once costs the hand-off.
            let mut hold_until: Option<Instant> = None;
            let closed = loop {
                tokio::select! {
                    () = tx.closed() => break true,
                    () = sleep_until(hold_until) => break false,
                    changed = attachment.updates.changed() => {
                        if changed.is_err() {
                            // The channel closed: the run ended (or the scheduler stopped). Its
                            // last status is still in the channel.
                            let last = attachment.updates.borrow().clone();
                            let _ = tx.send(Ok(status_event(&last))).await;
                            break true;
                        }
                        let only_moved = queue_move_only(&status, &attachment.updates.borrow());
                        if !only_moved {
                            break false;
                        }
                        let due = sent_at + QUEUE_MOVES;
                        if due <= Instant::now() {
                            break false;
                        }
                        hold_until = Some(due);
                    },
                }
            };
            if closed {
                break;
            }
        }
        // Dropping the attachment detaches; if the client left early, the run expires.
        drop(attachment);
    });
    Ok(sse(rx))
}

/// Whether `next` differs from `sent` only in the run's place in the queue and the sentence
/// that says it.
fn queue_move_only(sent: &baton_core::RunStatus, next: &baton_core::RunStatus) -> bool {
    sent.run.state == baton_core::RunState::Queued
        && next.run.state == baton_core::RunState::Queued
        && sent.cancelled == next.cancelled
        && sent.ended == next.ended
        && sent.paused == next.paused
        && sent.handoffs_paused == next.handoffs_paused
        && sent.awaiting_ok == next.awaiting_ok
        && sent.inbox.len() == next.inbox.len()
}

fn status_event(status: &baton_core::RunStatus) -> SseEvent {
    with_json(SseEvent::default().event("status"), status)
}

fn sse(rx: mpsc::Receiver<Result<SseEvent, Infallible>>) -> SseStream {
    Sse::new(ReceiverStream::new(rx)).keep_alive(KeepAlive::default())
}
