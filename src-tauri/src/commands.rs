//! The IPC commands the windows call. Thin: each turns into one request to the core, as a user
//! request from the window that asked (`user:dashboard`, `user:settings`). Who may call which
//! command is set per window in `capabilities/`. A setting is checked, put in force, then
//! saved, in that order in every command: what is refused changes nothing, and nothing is saved
//! that the running host did not take.

use std::time::Duration;

use baton_api::models::Schedule;
use baton_api::settings::{HostSettings, TakeoverConfig};
use baton_core::schedule::EntrySpec;
use baton_core::timeline::Lane;
use baton_core::{
    Caller, HistoryQuery, ResourceName, ResourceState, Run, RunBrief, RunId, RunState, RunStatus,
    Snapshot, Timestamp,
};
use serde::{Deserialize, Serialize};
use tauri::{AppHandle, Manager, Runtime, State};
use tauri_plugin_autostart::{AutoLaunchManager, ManagerExt};

use crate::error::{Error, Result};
use crate::settings::{NotifySettings, Settings};
use crate::state::{AppState, HotkeyState};

fn dashboard() -> Caller {
    Caller::user("dashboard")
}

/// The status snapshot. Changes nothing.
#[tauri::command]
pub fn status(state: State<'_, AppState>) -> Snapshot {
    state.core.status()
}

/// The most events the picture reads: about three an hour's hand-offs each, for a host far
/// busier than a person's desktop.
const TIMELINE_EVENTS: u32 = 50_000;

/// Who held and waited for each resource over the last `minutes` (60 unless told, at most a
/// day), from the event log. Changes nothing.
#[tauri::command]
pub async fn timeline(state: State<'_, AppState>, minutes: Option<u32>) -> Result<Vec<Lane>> {
    let minutes = i64::from(minutes.unwrap_or(60).clamp(1, 24 * 60));
    let from = Timestamp(Timestamp::now().0 - minutes * 60_000);
    let store = state.core.store();
    let events = store.events_since(from, TIMELINE_EVENTS).await?;
    let mut ids: Vec<RunId> = events.iter().filter_map(|e| e.run_id).collect();
    ids.sort_unstable();
    ids.dedup();
    let briefs: std::collections::HashMap<RunId, RunBrief> = store
        .briefs(&ids)
        .await?
        .into_iter()
        .map(|b| (b.id, b))
        .collect();
    let declared: Vec<ResourceName> = state
        .core
        .status()
        .resources
        .into_iter()
        .map(|r| r.name)
        .collect();
    Ok(baton_core::timeline::lanes(
        &events,
        &declared,
        from,
        |id| {
            briefs.get(&id).cloned().unwrap_or_else(|| RunBrief {
                id,
                title: format!("run #{id}"),
                client: String::new(),
            })
        },
    ))
}

/// The private displays open now, each with its run. Changes nothing.
#[tauri::command]
pub fn displays(state: State<'_, AppState>) -> Vec<baton_api::models::PrivateDisplay> {
    state.api.displays.list()
}

/// A picture of run `id`'s private display, as PNG bytes (the dashboard's live view). Changes
/// nothing. The person's own desktop is never sent.
#[tauri::command]
pub async fn display_picture(state: State<'_, AppState>, id: i64) -> Result<tauri::ipc::Response> {
    let open = state.api.displays.get(RunId(id)).ok_or_else(|| {
        Error::Core(baton_core::Error::InvalidState(format!(
            "run #{id} has no private display open"
        )))
    })?;
    let png = open.gateway.screenshot().await?;
    Ok(tauri::ipc::Response::new(png))
}

/// Every resource, the desktop first, with holders and queues. Changes nothing.
#[tauri::command]
pub fn resources(state: State<'_, AppState>) -> Vec<ResourceState> {
    state.core.published().all_resources()
}

/// Declares a resource, from the settings window.
#[tauri::command]
pub async fn add_resource(
    state: State<'_, AppState>,
    name: String,
    capacity: Option<u32>,
) -> Result<ResourceState> {
    let name: ResourceName = name.trim().parse()?;
    Ok(state
        .core
        .add_resource(name, capacity.unwrap_or(1), settings_window())
        .await?)
}

/// Changes a resource's capacity, from the settings window.
#[tauri::command]
pub async fn set_capacity(
    state: State<'_, AppState>,
    name: String,
    capacity: u32,
) -> Result<ResourceState> {
    let name: ResourceName = name.parse()?;
    Ok(state
        .core
        .set_capacity(name, capacity, settings_window())
        .await?)
}

/// Removes a resource nobody holds or waits for, from the settings window.
#[tauri::command]
pub async fn remove_resource(state: State<'_, AppState>, name: String) -> Result<()> {
    let name: ResourceName = name.parse()?;
    Ok(state.core.remove_resource(name, settings_window()).await?)
}

/// Every schedule entry, with its next fire. Changes nothing.
#[tauri::command]
pub fn schedules(state: State<'_, AppState>) -> Vec<Schedule> {
    state
        .core
        .schedules()
        .into_iter()
        .map(baton_api::schedules::shown)
        .collect()
}

/// Adds an entry, or with `replace` changes one, from the settings window.
#[tauri::command]
pub async fn put_schedule(
    state: State<'_, AppState>,
    spec: EntrySpec,
    replace: bool,
) -> Result<Schedule> {
    let entry = state
        .core
        .put_schedule(spec, replace, settings_window())
        .await?;
    Ok(baton_api::schedules::shown(entry))
}

/// Removes an entry, from the settings window; its runs stay in the history.
#[tauri::command]
pub async fn remove_schedule(state: State<'_, AppState>, name: String) -> Result<()> {
    state.core.remove_schedule(name, settings_window()).await?;
    Ok(())
}

/// Pauses (`paused`) or resumes an entry, from the settings window.
#[tauri::command]
pub async fn pause_schedule(
    state: State<'_, AppState>,
    name: String,
    paused: bool,
) -> Result<Schedule> {
    let entry = state
        .core
        .pause_schedule(name, paused, settings_window())
        .await?;
    Ok(baton_api::schedules::shown(entry))
}

/// Runs an entry now, through the queue, from the dashboard.
#[tauri::command]
pub async fn run_schedule(state: State<'_, AppState>, name: String) -> Result<RunStatus> {
    Ok(baton_api::schedules::run_entry_now(&state.api, name, dashboard()).await?)
}

/// The end of a scheduled run's log, for the dashboard. Changes nothing.
#[tauri::command]
pub async fn run_log(state: State<'_, AppState>, id: i64) -> Result<String> {
    Ok(baton_api::schedules::read_log(&state.api, RunId(id)).await?)
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

/// Cancels whoever holds the desktop: only `run_id`, the holder the page showed, if given.
#[tauri::command]
pub async fn stop_holder(state: State<'_, AppState>, run_id: Option<i64>) -> Result<Option<Run>> {
    Ok(state
        .core
        .stop_holder(dashboard(), None, run_id.map(RunId))
        .await?)
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

/// Gives the desktop back to its holder after the person at the computer took over.
#[tauri::command]
pub async fn resume_holder(state: State<'_, AppState>) -> Result<bool> {
    Ok(state.core.resume_holder(dashboard()).await?)
}

/// Lets the run that waits for the user's OK take the desktop; only that run.
#[tauri::command]
pub async fn allow_run(state: State<'_, AppState>, id: i64) -> Result<RunStatus> {
    Ok(state.core.allow(RunId(id), dashboard()).await?)
}

/// Moves a queued run to the front of the queue.
#[tauri::command]
pub async fn move_to_front(state: State<'_, AppState>, id: i64) -> Result<RunStatus> {
    Ok(state.core.front(RunId(id), dashboard()).await?)
}

// ----- settings ---------------------------------------------------------------------------

fn settings_window() -> Caller {
    Caller::user("settings")
}

/// What the settings window shows.
#[derive(Debug, Serialize)]
pub struct SettingsView {
    /// The stop hotkey and whether it works.
    pub hotkey: HotkeyState,
    /// Which notifications are shown.
    pub notifications: NotifySettings,
    /// Whether they carry answers (buttons): `false` where the notification server shows
    /// none, `null` before the app has asked it.
    pub notification_answers: Option<bool>,
    /// Heartbeat TTL for runs that do not ask for their own, in seconds.
    pub default_ttl_secs: f64,
    /// The configured API port (0: any free port).
    pub api_port: u16,
    /// Where the API listens now.
    pub api_url: String,
    /// Whether Baton starts at login.
    pub autostart: bool,
    /// Noticing the person at the computer.
    pub takeover: TakeoverConfig,
    /// Whether the user OKs each run before it takes the free desktop.
    pub ask_first: bool,
    /// Caps on active runs and how long the history is kept.
    pub limits: Limits,
    /// The data directory.
    pub data_dir: String,
    /// The user token's file.
    pub token_file: String,
    /// What does not work on this computer, a sentence each (no input, no takeover detection
    /// or only some of it): the same lines as the tray menu and `baton status`.
    pub not_working: Vec<String>,
    /// Which Baton this is, with its commit (as `baton --version` says it): what a person
    /// names when they report something.
    pub version: &'static str,
}

async fn view<R: Runtime>(app: &AppHandle<R>, state: &AppState) -> SettingsView {
    let stored = Settings::load(state.core.store()).await;
    SettingsView {
        hotkey: state.hotkey.borrow().clone(),
        notifications: state.notifications.borrow().clone(),
        notification_answers: crate::notifier::with_actions(),
        default_ttl_secs: stored.host.default_ttl_secs,
        api_port: stored.host.api_port,
        api_url: state
            .data_dir
            .host_info()
            .ok()
            .flatten()
            .map(|h| h.url)
            .unwrap_or_default(),
        autostart: app
            .try_state::<AutoLaunchManager>()
            .is_some_and(|_| app.autolaunch().is_enabled().unwrap_or(false)),
        takeover: stored.host.takeover,
        ask_first: stored.host.ask_first,
        limits: Limits {
            max_active_runs: stored.host.max_active_runs,
            max_runs_per_client: stored.host.max_runs_per_client,
            retention_days: stored.host.retention_days,
        },
        data_dir: state.data_dir.path().display().to_string(),
        token_file: state.data_dir.token_path().display().to_string(),
        not_working: state.api.host_facts(false).not_working(),
        version: baton_api::VERSION,
    }
}

/// The settings, as they are in force.
#[tauri::command]
pub async fn get_settings<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
) -> Result<SettingsView> {
    Ok(view(&app, &state).await)
}

/// A new stop hotkey, registered at once; the old one stays if the new one is refused.
#[tauri::command]
pub async fn set_hotkey<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    accelerator: String,
) -> Result<SettingsView> {
    crate::hotkey::replace(&app, &state, &accelerator)?;
    Settings::save_hotkey(state.core.store(), accelerator.trim()).await?;
    Ok(view(&app, &state).await)
}

/// Which notifications to show, in force at once.
#[tauri::command]
pub async fn set_notifications<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    notifications: NotifySettings,
) -> Result<SettingsView> {
    state.notifications.send_replace(notifications.clone());
    Settings::save_notifications(state.core.store(), &notifications).await?;
    Ok(view(&app, &state).await)
}

/// The heartbeat TTL for runs submitted from now on.
#[tauri::command]
pub async fn set_default_ttl<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    seconds: f64,
) -> Result<SettingsView> {
    let ttl = ttl(seconds)?;
    state.core.set_default_ttl(ttl, settings_window()).await?;
    HostSettings::save_default_ttl(state.core.store(), seconds).await?;
    Ok(view(&app, &state).await)
}

/// A TTL in seconds, within what the scheduler accepts.
pub fn ttl(seconds: f64) -> Result<Duration> {
    baton_core::lease::ttl_from_secs(seconds).map_err(|e| Error::Setting(e.to_string()))
}

/// Moves the API to `port` (0: any free port); a port in use is refused and nothing changes.
#[tauri::command]
pub async fn set_api_port<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    port: u16,
) -> Result<SettingsView> {
    state.set_port(port).await?;
    HostSettings::save_api_port(state.core.store(), port).await?;
    Ok(view(&app, &state).await)
}

/// The user token, read from its file.
#[tauri::command]
pub fn user_token(state: State<'_, AppState>) -> Result<String> {
    Ok(state.data_dir.user_token()?)
}

/// A new user token: written to its file and in force at once; the old one stops working.
#[tauri::command]
pub fn regenerate_token(state: State<'_, AppState>) -> Result<String> {
    let token = state.data_dir.regenerate_user_token()?;
    state.api.set_user_token(token.clone());
    Ok(token)
}

/// Start Baton at login, or not.
#[tauri::command]
pub async fn set_autostart<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    enabled: bool,
) -> Result<SettingsView> {
    let launcher = app.autolaunch();
    let outcome = if enabled {
        ensure_autostart_dir()?;
        launcher.enable()
    } else {
        launcher.disable()
    };
    outcome.map_err(|e| Error::Setting(format!("Cannot change start at login: {e}")))?;
    Ok(view(&app, &state).await)
}

/// The autostart library writes `~/.config/autostart/<app>.desktop` on Linux but does not create
/// the folder, which an account that never had an autostart entry lacks.
fn ensure_autostart_dir() -> Result<()> {
    if cfg!(target_os = "linux")
        && let Some(home) = dirs::home_dir()
    {
        let dir = home.join(".config").join("autostart");
        std::fs::create_dir_all(&dir)
            .map_err(|e| Error::Setting(format!("Cannot create {}: {e}", dir.display())))?;
    }
    Ok(())
}

/// Caps on active runs, and how long the history is kept.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// The most active runs in all.
    pub max_active_runs: usize,
    /// The most active runs of one client.
    pub max_runs_per_client: usize,
    /// Days of history kept.
    pub retention_days: u32,
}

/// New caps and retention, in force at once: submits beyond a cap are refused from now on (the
/// runs already active stay), and the history older than the retention is pruned now.
#[tauri::command]
pub async fn set_limits<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    limits: Limits,
) -> Result<SettingsView> {
    let store = state.core.store();
    let days = baton_api::settings::check_retention(limits.retention_days)?;
    let caps = baton_core::Caps {
        max_active: limits.max_active_runs,
        max_per_client: limits.max_runs_per_client,
    };
    state.core.set_caps(caps, settings_window()).await?;
    state
        .retention
        .send_replace(Duration::from_secs(u64::from(days) * 24 * 3600));
    HostSettings::save_caps(store, limits.max_active_runs, limits.max_runs_per_client).await?;
    HostSettings::save_retention(store, days).await?;
    Ok(view(&app, &state).await)
}

/// Whether to ask the user before each run takes the free desktop; in force at once (off: the
/// run waiting for an OK takes the desktop now).
#[tauri::command]
pub async fn set_ask_first<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    ask_first: bool,
) -> Result<SettingsView> {
    state
        .core
        .set_ask_first(ask_first, settings_window())
        .await?;
    HostSettings::save_ask_first(state.core.store(), ask_first).await?;
    Ok(view(&app, &state).await)
}

/// Whether to pause the holder while the person at the computer uses it, and how long to wait
/// after their last input; in force at once.
#[tauri::command]
pub async fn set_takeover<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    takeover: TakeoverConfig,
) -> Result<SettingsView> {
    let settings = takeover.to_settings()?;
    state.takeover.send_replace(settings);
    HostSettings::save_takeover(state.core.store(), &takeover).await?;
    Ok(view(&app, &state).await)
}
