//! Schedule entries: the routes (anyone with a token lists them; the person adds, edits,
//! pauses, resumes, removes and runs them now), and what makes them happen on a host: the
//! loop that fires each entry when it is due and the [`Launcher`] that runs a fire's command.
//!
//! A fire is made by the core (`baton_core::lease::Machine::fire`), which commits the run with
//! the entry's new mark in one transaction; the command is then run by `baton run --adopt`, the
//! same wrapper as `baton run`: it waits in the queue however long, heartbeats, and ends the
//! whole process tree when the person cancels. Its output goes to a log file of the run's own,
//! owner-only, which `GET /v1/runs/{id}/log` and `baton logs` read.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use axum::Extension;
use axum::Json;
use axum::extract::FromRequestParts;
use axum::extract::State;
use axum::http::StatusCode;
use axum::http::request::Parts;
use baton_core::lease::Fired;
use baton_core::schedule::{Entry, EntrySpec};
use baton_core::{Caller, ErrorCode, Handle, Outcome, RunId, RunStatus, Timestamp};
use chrono::Local;
use tokio_util::sync::CancellationToken;

use crate::error::{Error, ErrorBody, Result};
use crate::extract::{Body, RunPath, path_text};
use crate::models::{Schedule, ScheduleRemoved};
use crate::openapi::{Failures, TooMany};
use crate::state::ApiState;

/// The environment variable that hands `baton run --adopt` its run's token: an argument would
/// show it to every user of the machine in the process list.
pub const ADOPT_TOKEN_ENV: &str = "BATON_ADOPT_TOKEN";

/// How long the fire loop sleeps at most. Its timers run on the monotonic clock, which stops
/// while the machine sleeps: a fire due during sleep is seen at most this long after waking.
const LOOK_AT_LEAST_EVERY: Duration = Duration::from_secs(30);

/// Most of a log `GET /v1/runs/{id}/log` answers: its end.
pub const LOG_TAIL_BYTES: u64 = 1024 * 1024;

/// The `{name}` of a schedule route, checked as a name before anyone looks it up.
#[derive(Debug, Clone)]
pub struct SchedulePath(pub String);

impl<S> FromRequestParts<S> for SchedulePath
where
    S: Send + Sync,
{
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let raw = path_text(parts, state, ErrorCode::InvalidRequest).await?;
        baton_core::schedule::check_name(&raw)
            .map_err(|e| Error::bad_request(ErrorCode::InvalidRequest, e.to_string()))?;
        Ok(SchedulePath(raw))
    }
}

/// An entry as the routes (and the tray app's windows) show it: with its next fire in the
/// host's local time.
pub fn shown(entry: Entry) -> Schedule {
    let next_fire = entry.next_fire(&Local, Timestamp::now());
    Schedule { entry, next_fire }
}

/// Every schedule entry, by name, with its next fire in the host's local time zone. Changes
/// nothing.
#[utoipa::path(get, path = "/v1/schedules", tag = "schedules",
    responses((status = 200, body = [Schedule])))]
pub async fn list(State(state): State<ApiState>) -> Json<Vec<Schedule>> {
    Json(state.core.schedules().into_iter().map(shown).collect())
}

/// User only: adds an entry. Its fires start now.
#[utoipa::path(post, path = "/v1/schedules", tag = "schedules", request_body = EntrySpec,
    responses((status = 201, body = Schedule), (status = 403, body = ErrorBody),
              (status = 409, body = ErrorBody, description = "invalid_state: an entry has this name; unknown_resource"),
              Failures))]
pub async fn add(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Body(spec): Body<EntrySpec>,
) -> Result<(StatusCode, Json<Schedule>)> {
    let entry = state.core.put_schedule(spec, false, caller).await?;
    Ok((StatusCode::CREATED, Json(shown(entry))))
}

/// User only: changes an entry; the body names it as the path does. A new expression's fires
/// start now; whether it is paused, and its runs, stay.
#[utoipa::path(put, path = "/v1/schedules/{name}", tag = "schedules",
    params(("name" = String, Path)), request_body = EntrySpec,
    responses((status = 200, body = Schedule), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody, description = "unknown_schedule"),
              (status = 409, body = ErrorBody, description = "unknown_resource"),
              Failures))]
pub async fn edit(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    SchedulePath(name): SchedulePath,
    Body(spec): Body<EntrySpec>,
) -> Result<Json<Schedule>> {
    if spec.name != name {
        return Err(Error::bad_request(
            ErrorCode::InvalidRequest,
            format!(
                "the body names entry '{}' but the path '{name}': an entry keeps its name (remove it and add another to rename it)",
                spec.name
            ),
        ));
    }
    Ok(Json(shown(
        state.core.put_schedule(spec, true, caller).await?,
    )))
}

/// User only: removes an entry. Its runs, active ones too, go on and stay in the history.
#[utoipa::path(delete, path = "/v1/schedules/{name}", tag = "schedules",
    params(("name" = String, Path)),
    responses((status = 200, body = ScheduleRemoved), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody, description = "unknown_schedule"), Failures))]
pub async fn remove(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    SchedulePath(name): SchedulePath,
) -> Result<Json<ScheduleRemoved>> {
    let entry = state.core.remove_schedule(name, caller).await?;
    Ok(Json(ScheduleRemoved {
        removed: entry.spec.name,
    }))
}

/// User only: pauses an entry; the fires that pass while it is paused are let go.
#[utoipa::path(post, path = "/v1/schedules/{name}/pause", tag = "schedules",
    params(("name" = String, Path)),
    responses((status = 200, body = Schedule), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody, description = "unknown_schedule"), Failures))]
pub async fn pause(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    SchedulePath(name): SchedulePath,
) -> Result<Json<Schedule>> {
    Ok(Json(shown(
        state.core.pause_schedule(name, true, caller).await?,
    )))
}

/// User only: resumes a paused entry; it fires next at its next time from now.
#[utoipa::path(post, path = "/v1/schedules/{name}/resume", tag = "schedules",
    params(("name" = String, Path)),
    responses((status = 200, body = Schedule), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody, description = "unknown_schedule"), Failures))]
pub async fn resume(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    SchedulePath(name): SchedulePath,
) -> Result<Json<Schedule>> {
    Ok(Json(shown(
        state.core.pause_schedule(name, false, caller).await?,
    )))
}

/// User only: runs an entry now, as a fire would (through the queue), standing for no fire.
/// Refused while its earlier run is active: an entry has one run at a time.
#[utoipa::path(post, path = "/v1/schedules/{name}/run", tag = "schedules",
    params(("name" = String, Path)),
    responses((status = 201, body = RunStatus), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody, description = "unknown_schedule"),
              (status = 409, body = ErrorBody, description = "invalid_state: its run is active, or this host runs no scheduled commands; unknown_resource"),
              TooMany, Failures))]
pub async fn run_now(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    SchedulePath(name): SchedulePath,
) -> Result<(StatusCode, Json<RunStatus>)> {
    let status = run_entry_now(&state, name, caller).await?;
    Ok((StatusCode::CREATED, Json(status)))
}

/// Entry `name`'s run now, its command started: for the route and the tray app's windows.
pub async fn run_entry_now(state: &ApiState, name: String, caller: Caller) -> Result<RunStatus> {
    let Some(launcher) = state.launcher.clone() else {
        return Err(Error::Core(baton_core::Error::InvalidState(
            "this host runs no scheduled commands: it was started with --no-schedules, or the \
             baton program is not installed beside the tray app"
                .into(),
        )));
    };
    let entry = state
        .core
        .schedules()
        .into_iter()
        .find(|e| e.spec.name == name)
        .ok_or_else(|| baton_core::Error::UnknownSchedule(name.clone()))?;
    let submitted = state.core.run_now(name, caller).await?;
    launcher
        .launch(
            &state.core,
            &entry.spec,
            submitted.status.run.id,
            submitted.token,
        )
        .await;
    Ok(submitted.status)
}

/// The output of a scheduled run's command (its end, at most 1 MiB), as plain text.
#[utoipa::path(get, path = "/v1/runs/{id}/log", tag = "schedules", params(("id" = i64, Path)),
    responses((status = 200, body = String, content_type = "text/plain"),
              (status = 404, body = ErrorBody, description = "unknown_run, or no_log: the run is not a scheduled one"),
              Failures))]
pub async fn log(State(state): State<ApiState>, RunPath(id): RunPath) -> Result<String> {
    read_log(&state, id).await
}

/// The end of run `id`'s log: for the route and the tray app's dashboard.
pub async fn read_log(state: &ApiState, id: RunId) -> Result<String> {
    // The run first: "no such run" and "a run without a log" are different answers.
    let run = state.core.run(id).await?;
    let Some(launcher) = &state.launcher else {
        return Err(no_log(id));
    };
    if run.fire.is_none() {
        return Err(no_log(id));
    }
    let path = launcher.log_path(id);
    let text = tokio::task::spawn_blocking(move || read_tail(&path, LOG_TAIL_BYTES))
        .await
        .map_err(|e| baton_core::Error::Invalid(format!("reading the log failed: {e}")))?;
    text.ok_or_else(|| no_log(id))
}

fn no_log(id: RunId) -> Error {
    Error::BadRequest {
        code: ErrorCode::NoLog,
        status: StatusCode::NOT_FOUND,
        message: format!(
            "run #{id} has no log: only the runs of schedule entries keep one, on the host that ran them"
        ),
    }
}

/// The last `max` bytes of the file at `path`, as text (`None` if there is no such file).
fn read_tail(path: &Path, max: u64) -> Option<String> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = std::fs::File::open(path).ok()?;
    let len = file.metadata().ok()?.len();
    if len > max {
        file.seek(SeekFrom::Start(len - max)).ok()?;
    }
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).ok()?;
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

/// The folder of the scheduled runs' logs in data directory `data_dir`.
pub fn logs_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("logs")
}

/// Removes the logs last written before `cutoff` (the history's retention) whose run is not
/// active, as the history prunes the runs: logs must not fill the disk over the years.
pub async fn prune_logs(store: &baton_core::Store, logs: &Path, cutoff: Timestamp) {
    let folder = logs.to_path_buf();
    let cutoff_time = cutoff.to_system_time();
    let old = tokio::task::spawn_blocking(move || {
        let Ok(entries) = std::fs::read_dir(&folder) else {
            return Vec::new();
        };
        entries
            .filter_map(std::result::Result::ok)
            .filter_map(|entry| {
                let name = entry.file_name().into_string().ok()?;
                let id: i64 = name.strip_suffix(".log")?.parse().ok()?;
                let written = entry.metadata().ok()?.modified().ok()?;
                (written < cutoff_time).then(|| (RunId(id), entry.path()))
            })
            .collect::<Vec<_>>()
    })
    .await
    .unwrap_or_default();
    for (id, path) in old {
        let active = matches!(store.run(id).await, Ok(Some(run)) if run.state.is_active());
        if !active && let Err(e) = std::fs::remove_file(&path) {
            tracing::warn!(path = %path.display(), error = %e, "cannot remove an old log");
        }
    }
}

/// Runs the commands of scheduled runs: `baton run --adopt RUN_ID -- COMMAND…`, with the run's
/// token in its environment and its output in the run's log file.
#[derive(Debug, Clone)]
pub struct Launcher {
    /// The `baton` program.
    program: PathBuf,
    /// The data directory, which the wrapper finds the host through.
    data_dir: PathBuf,
}

impl Launcher {
    /// Runs commands with the `baton` at `program`, for the host of `data_dir`.
    pub fn new(program: PathBuf, data_dir: PathBuf) -> Self {
        Launcher { program, data_dir }
    }

    /// Where run `id`'s log is.
    pub fn log_path(&self, id: RunId) -> PathBuf {
        logs_dir(&self.data_dir).join(format!("{}.log", id.0))
    }

    /// Starts the command of run `id` of `spec`. If it cannot start, the run ends failed,
    /// saying why, rather than wait for its TTL.
    pub async fn launch(&self, core: &Handle, spec: &EntrySpec, id: RunId, token: String) {
        match self.spawn(spec, id, &token) {
            Ok(mut child) => {
                // Reaped here; the wrapper itself reports to the host.
                tokio::spawn(async move {
                    let _ = child.wait().await;
                });
            }
            Err(why) => {
                tracing::error!(run = %id, error = %why, "cannot start a scheduled command");
                let note = format!("Baton could not start the scheduled command: {why}");
                // The log says so too, where the person looks for the command's output.
                if let Ok(mut log) = std::fs::OpenOptions::new()
                    .append(true)
                    .open(self.log_path(id))
                {
                    use std::io::Write;
                    let _ = writeln!(log, "baton: {note}");
                }
                if let Err(e) = core
                    .finish(id, Caller::Run(id), Outcome::Failed, None, Some(note))
                    .await
                {
                    tracing::warn!(run = %id, error = %e, "cannot end the run that did not start");
                }
            }
        }
    }

    fn spawn(
        &self,
        spec: &EntrySpec,
        id: RunId,
        token: &str,
    ) -> std::io::Result<tokio::process::Child> {
        let log = self.open_log(id)?;
        let mut command = tokio::process::Command::new(&self.program);
        command.arg("run").arg("--adopt").arg(id.0.to_string());
        if spec
            .resources
            .contains(&baton_core::ResourceName::displays())
        {
            command.args(["--display", "private"]);
        }
        command
            .arg("--")
            .args(&spec.command)
            .env(baton_platform::datadir::DATA_DIR_ENV, &self.data_dir)
            .env(ADOPT_TOKEN_ENV, token)
            // Not a run's own `baton` (should the host have been started inside one): the
            // wrapper acts with the token above, on the host of the data directory.
            .env_remove("BATON_URL")
            .env_remove("BATON_RUN_ID")
            .env_remove("BATON_RUN_TOKEN")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        #[cfg(windows)]
        {
            /// No console window for a command the tray app starts.
            const CREATE_NO_WINDOW: u32 = 0x0800_0000;
            command.creation_flags(CREATE_NO_WINDOW);
        }
        command.spawn()
    }

    /// Creates run `id`'s log file, owner-only (its folder too), empty.
    fn open_log(&self, id: RunId) -> std::io::Result<std::fs::File> {
        let path = self.log_path(id);
        let mut folder = std::fs::DirBuilder::new();
        folder.recursive(true);
        let mut file = std::fs::OpenOptions::new();
        file.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
            folder.mode(0o700);
            file.mode(0o600);
        }
        if let Some(parent) = path.parent() {
            folder.create(parent)?;
        }
        file.open(&path)
    }
}

/// The host's fire loop: looks at every entry when its next fire comes (and at least every
/// [`LOOK_AT_LEAST_EVERY`], and whenever the entries change or a run an entry waits for ends),
/// has the core make what is due, and starts the commands of the runs made.
pub async fn fire_loop(core: Handle, launcher: Launcher, stopping: CancellationToken) {
    let caller = Caller::user("schedule");
    let mut published = core.watch_status();
    loop {
        let seen = published.borrow_and_update().clone();
        let now = Timestamp::now();
        let mut wake = now.0 + i64::try_from(LOOK_AT_LEAST_EVERY.as_millis()).unwrap_or(30_000);
        let mut waiting = Vec::new();
        for entry in seen.schedules.values() {
            let Some(next) = entry.next_fire(&Local, entry.handled) else {
                continue;
            };
            if next.0 > now.0 {
                wake = wake.min(next.0);
                continue;
            }
            match core
                .fire(entry.spec.name.clone(), Local, caller.clone())
                .await
            {
                Ok((Fired::Made(id), Some(token))) => {
                    tracing::info!(entry = %entry.spec.name, run = %id, "schedule entry fired");
                    launcher.launch(&core, &entry.spec, id, token).await;
                }
                Ok((Fired::Waiting(run), _)) => waiting.push(run),
                Ok((Fired::LetGo { passed }, _)) => tracing::info!(
                    entry = %entry.spec.name, passed, "missed fires let go (the entry skips them)"
                ),
                Ok((Fired::Refused(why), _)) => {
                    tracing::warn!(entry = %entry.spec.name, %why, "schedule entry made no run");
                }
                Ok(_) => {}
                // Removed meanwhile; or the host is stopping.
                Err(baton_core::Error::UnknownSchedule(_)) => {}
                Err(e) => {
                    tracing::warn!(entry = %entry.spec.name, error = %e, "cannot fire a schedule entry");
                    if matches!(e, baton_core::Error::Closed) {
                        return;
                    }
                }
            }
        }
        let sleep = Duration::from_millis(u64::try_from(wake - Timestamp::now().0).unwrap_or(0));
        let deadline = tokio::time::Instant::now() + sleep;
        // Publications come with every commit: only those that change the entries, or end a
        // run an entry waits for, are worth a look before the deadline.
        loop {
            tokio::select! {
                () = tokio::time::sleep_until(deadline) => break,
                () = stopping.cancelled() => return,
                changed = published.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    let now = published.borrow_and_update().clone();
                    if !now.schedules.ptr_eq(&seen.schedules)
                        || waiting.iter().any(|run| !now.is_active(*run))
                    {
                        break;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn logs_older_than_the_retention_go_and_the_rest_stay() {
        let dir = tempfile::tempdir().unwrap();
        let opened = baton_core::Store::open(
            &dir.path().join("baton.db"),
            baton_core::Durability::Normal,
            Timestamp::now(),
        )
        .await
        .unwrap();
        let logs = logs_dir(dir.path());
        std::fs::create_dir_all(&logs).unwrap();
        let write = |name: &str, age: Duration| {
            let file = std::fs::File::create(logs.join(name)).unwrap();
            file.set_modified(std::time::SystemTime::now() - age)
                .unwrap();
        };
        let day = Duration::from_secs(86_400);
        write("7.log", 100 * day);
        write("8.log", day);
        write("notes.txt", 100 * day);
        let cutoff = Timestamp(Timestamp::now().0 - 90 * 86_400_000);
        prune_logs(&opened.store, &logs, cutoff).await;
        let mut left: Vec<String> = std::fs::read_dir(&logs)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(left, ["8.log", "notes.txt"]);
    }
}
