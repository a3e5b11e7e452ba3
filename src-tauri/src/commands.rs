//! The IPC commands the windows call. Thin: each turns into one request to the core, as a user
//! request from the window that asked (`user:dashboard`, `user:settings`). Who may call which
//! command is set per window in `capabilities/`.

use baton_core::{Caller, HistoryQuery, Run, RunId, RunState, RunStatus, Snapshot};
use tauri::State;

use crate::AppState;
use crate::error::{Error, Result};

fn dashboard() -> Caller {
    Caller::user("dashboard")
}

/// The status snapshot. Changes nothing.
#[tauri::command]
pub fn status(state: State<'_, AppState>) -> Snapshot {
    Snapshot::clone(&state.core.status())
}

/// A page of the history, newest first.
#[tauri::command]
pub async fn history(
    state: State<'_, AppState>,
    run_state: Option<String>,
    client: Option<String>,
    before: Option<i64>,
    limit: Option<u32>,
) -> Result<Vec<Run>> {
    let run_state = run_state
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<RunState>())
        .transpose()
        .map_err(Error::Setting)?;
    let query = HistoryQuery {
        state: run_state,
        client: client.filter(|c| !c.trim().is_empty()),
        before: before.map(RunId),
        limit: limit.unwrap_or(25).clamp(1, 200),
    };
    Ok(state.core.history(&query).await?)
}

/// Cancels whoever holds the desktop.
#[tauri::command]
pub async fn stop_holder(state: State<'_, AppState>) -> Result<Option<Run>> {
    Ok(state.core.stop_holder(dashboard(), None).await?)
}

/// Pauses or resumes hand-offs.
#[tauri::command]
pub async fn set_paused(state: State<'_, AppState>, paused: bool) -> Result<bool> {
    Ok(state.core.set_paused(paused, dashboard()).await?)
}

/// Cancels a run.
#[tauri::command]
pub async fn cancel_run(
    state: State<'_, AppState>,
    id: i64,
    reason: Option<String>,
) -> Result<Run> {
    Ok(state.core.cancel(RunId(id), dashboard(), reason).await?)
}

/// Moves a queued run to the front of the queue.
#[tauri::command]
pub async fn move_to_front(state: State<'_, AppState>, id: i64) -> Result<RunStatus> {
    Ok(state.core.front(RunId(id), dashboard()).await?)
}
