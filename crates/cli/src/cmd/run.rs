//! `baton run` and `baton replace`: the flock-style wrapper.
//!
//! Submit, attach (the run's life is bound to this process's connection, so a kill -9 of this
//! process hands the desktop on at once), heartbeat every third of the TTL (so a frozen process
//! loses it after the TTL), wait in the queue saying honestly why, run the command with the
//! run's environment, finish the run with the command's outcome, exit with its code. A user's
//! cancel ends the command: SIGTERM, then SIGKILL after 5 s.

use std::process::ExitStatus;
use std::time::Duration;

use baton_core::{RunId, RunState, RunStatus, Submitted};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::json;
use tokio::process::{Child, Command};
use tokio::signal::unix::{SignalKind, signal};
use tokio::time::Instant;

use crate::cli::RunArgs;
use crate::client::{self, Client, EventStream};
use crate::exit::{self, Failure};

/// How long a cancelled command gets between SIGTERM and SIGKILL.
const GRACE: Duration = Duration::from_secs(5);

pub async fn run(client: &Client, args: RunArgs, replace: Option<i64>) -> Result<u8, Failure> {
    let title = args
        .title
        .clone()
        .unwrap_or_else(|| title_of(&args.command));
    let ttl_ms = args
        .ttl
        .map(|s| crate::cmd::daemon::seconds(s, "--ttl"))
        .transpose()?
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    let give_up = args
        .wait
        .map(|s| crate::cmd::daemon::seconds(s, "--wait"))
        .transpose()?;
    let spec = json!({
        "title": title,
        "client": args.client,
        "needs_desktop": args.desktop,
        "ttl_ms": ttl_ms,
        "queue": !args.no_wait,
    });
    let submitted: Submitted = match replace {
        None => client.post("/v1/runs", &spec).await?,
        Some(old) => {
            client
                .post(&format!("/v1/runs/{old}/replace"), &spec)
                .await?
        }
    };
    let id = submitted.status.run.id;
    if submitted.status.ended {
        // Only `--no-wait` on a busy desktop ends a run at submit.
        eprintln!("baton: {}", submitted.status.message);
        return Ok(exit::GAVE_UP);
    }
    let me = client.as_run(id, submitted.token.clone());
    let stream = me.stream(&format!("/v1/runs/{id}/attach")).await?;
    let ttl = Duration::from_millis(submitted.status.run.ttl_ms);
    let heartbeat = tokio::spawn(heartbeat(me.clone(), id, ttl));
    let mut wrapper = Wrapper {
        me,
        id,
        command: args.command,
        child: None,
        notice: None,
        inbox_seen: 0,
        waited: false,
    };
    let code = wrapper
        .drive(stream, give_up.map(|d| Instant::now() + d))
        .await;
    heartbeat.abort();
    code
}

struct Wrapper {
    me: Client,
    id: RunId,
    command: Vec<String>,
    child: Option<Child>,
    /// The last queue notice printed, to print again only when it changes.
    notice: Option<String>,
    inbox_seen: u32,
    waited: bool,
}

impl Wrapper {
    async fn drive(
        &mut self,
        mut stream: EventStream,
        mut give_up_at: Option<Instant>,
    ) -> Result<u8, Failure> {
        let mut interrupt = signal(SignalKind::interrupt()).map_err(signal_failure)?;
        let mut terminate = signal(SignalKind::terminate()).map_err(signal_failure)?;
        let mut hangup = signal(SignalKind::hangup()).map_err(signal_failure)?;
        loop {
            tokio::select! {
                message = stream.next() => {
                    let status = match message {
                        Ok(Some(message)) => parse_status(&message.data)?,
                        // The stream ended without a final status, or broke: the host is gone.
                        Ok(None) | Err(_) => return self.host_gone().await,
                    };
                    if let Some(code) = self.on_status(status).await? {
                        return Ok(code);
                    }
                    if self.child.is_some() {
                        give_up_at = None;
                    }
                }
                exit_status = wait_child(&mut self.child) => {
                    return self.child_exited(exit_status).await;
                }
                () = sleep_until(give_up_at) => {
                    let _ = self
                        .me
                        .post::<serde_json::Value>(
                            &format!("/v1/runs/{}/withdraw", self.id),
                            &json!({"reason": "gave up waiting (--wait)"}),
                        )
                        .await;
                    eprintln!("baton: gave up waiting for the desktop; run #{} withdrawn", self.id);
                    return Ok(exit::GAVE_UP);
                }
                _ = interrupt.recv() => {
                    // Ctrl+C reaches the command directly (same process group); only a run
                    // that has not started yet needs withdrawing.
                    if self.child.is_none() {
                        return self.withdraw_on_signal(Signal::SIGINT).await;
                    }
                }
                _ = terminate.recv() => return self.on_signal(Signal::SIGTERM).await,
                _ = hangup.recv() => return self.on_signal(Signal::SIGHUP).await,
            }
        }
    }

    /// Reacts to a status from the attach stream. `Some(code)` ends the wrapper.
    async fn on_status(&mut self, status: RunStatus) -> Result<Option<u8>, Failure> {
        let seen = self.inbox_seen;
        for note in status.inbox.iter().filter(|a| a.n > seen) {
            eprintln!(
                "baton: note for run #{} from {}: {}",
                self.id, note.by, note.text
            );
            self.inbox_seen = note.n;
        }
        if status.ended {
            return self.ended(&status).await.map(Some);
        }
        match status.run.state {
            RunState::Queued => {
                let notice = queue_notice(&status);
                if self.notice.as_ref() != Some(&notice) {
                    eprintln!("baton: {notice}");
                    self.notice = Some(notice);
                }
                self.waited = true;
            }
            RunState::Running if self.child.is_none() => {
                if self.waited {
                    eprintln!(
                        "baton: the desktop is yours (lease token {}); starting",
                        status.run.lease_token.unwrap_or_default()
                    );
                }
                match self.spawn(&status) {
                    Ok(child) => self.child = Some(child),
                    Err(failure) => {
                        self.finish(false, None, Some(&failure.message)).await;
                        return Err(failure);
                    }
                }
            }
            _ => {}
        }
        Ok(None)
    }

    fn spawn(&self, status: &RunStatus) -> Result<Child, Failure> {
        let (program, args) = self
            .command
            .split_first()
            .ok_or_else(|| Failure::new(exit::USAGE, "no command to run"))?;
        let mut command = Command::new(program);
        command
            .args(args)
            .env(client::URL_ENV, self.me.base())
            .env(client::RUN_ID_ENV, self.id.to_string())
            .env(client::RUN_TOKEN_ENV, self.me.token())
            .env_remove(client::LEASE_TOKEN_ENV);
        if status.run.holds_desktop
            && let Some(token) = status.run.lease_token
        {
            command.env(client::LEASE_TOKEN_ENV, token.to_string());
        }
        end_with_parent(&mut command);
        command
            .spawn()
            .map_err(|e| Failure::new(127, format!("cannot start '{program}': {e}")))
    }

    async fn child_exited(
        &mut self,
        exit_status: std::io::Result<ExitStatus>,
    ) -> Result<u8, Failure> {
        self.child = None;
        let exit_status = exit_status
            .map_err(|e| Failure::new(exit::FAILED, format!("lost track of the command: {e}")))?;
        let (code, note) = match (exit_status.code(), signal_of(&exit_status)) {
            (Some(code), _) => (code, None),
            (None, Some(sig)) => (128 + sig, Some(format!("killed by signal {sig}"))),
            (None, None) => (1, None),
        };
        match self.finish(code == 0, Some(code), note.as_deref()).await {
            // The run ended some other way while the command was finishing (the user
            // cancelled it, or the command finished the run itself): say which.
            Some(status) if status.run.state == RunState::Cancelled => {
                eprintln!("baton: {}", status.message);
                Ok(exit::CANCELLED)
            }
            _ => Ok(u8::try_from(code & 0xff).unwrap_or(1)),
        }
    }

    /// Finishes the run. On refusal returns the run's current status.
    async fn finish(
        &self,
        ok: bool,
        exit_code: Option<i32>,
        note: Option<&str>,
    ) -> Option<RunStatus> {
        let body = json!({
            "outcome": if ok { "succeeded" } else { "failed" },
            "exit_code": exit_code,
            "note": note,
        });
        let finished = self
            .me
            .post::<serde_json::Value>(&format!("/v1/runs/{}/finish", self.id), &body)
            .await;
        match finished {
            Ok(_) => None,
            Err(_) => self
                .me
                .post(&format!("/v1/runs/{}/heartbeat", self.id), &json!({}))
                .await
                .ok(),
        }
    }

    /// The run ended while this process waited or ran the command.
    async fn ended(&mut self, status: &RunStatus) -> Result<u8, Failure> {
        let code = match status.run.state {
            RunState::Cancelled => exit::CANCELLED,
            RunState::Interrupted => exit::NO_HOST,
            // Finished through the API by the command itself: wait for it, keep its code.
            RunState::Succeeded | RunState::Failed => {
                return match self.child.take() {
                    Some(mut child) => {
                        let status = child.wait().await.ok();
                        Ok(status
                            .and_then(|s| s.code())
                            .and_then(|c| u8::try_from(c & 0xff).ok())
                            .unwrap_or(exit::OK))
                    }
                    None => Ok(exit::OK),
                };
            }
            _ => exit::GAVE_UP,
        };
        let stopped = self.end_child().await;
        let message = match status.run.state {
            RunState::Cancelled => format!("cancelled by the user ({})", status.message),
            RunState::Interrupted => format!(
                "the Baton host stopped under run #{}; {}",
                self.id,
                if stopped {
                    "the command was ended (it no longer holds the desktop)"
                } else {
                    "it never started"
                }
            ),
            _ => status.message.clone(),
        };
        eprintln!("baton: {message}");
        Ok(code)
    }

    async fn host_gone(&mut self) -> Result<u8, Failure> {
        let stopped = self.end_child().await;
        Err(Failure::new(
            exit::NO_HOST,
            if stopped {
                "the Baton host went away; the command was ended because it no longer holds the desktop"
            } else {
                "the Baton host went away before the run started"
            },
        ))
    }

    /// SIGTERM or SIGHUP to this process: pass it on to the command and end the run with the
    /// command's outcome; before the command started, withdraw.
    async fn on_signal(&mut self, sig: Signal) -> Result<u8, Failure> {
        let Some(child) = self.child.as_mut() else {
            return self.withdraw_on_signal(sig).await;
        };
        if let Some(pid) = child.id() {
            let _ = kill(Pid::from_raw(i32::try_from(pid).unwrap_or(0)), sig);
        }
        let exit_status = child.wait().await;
        self.child_exited(exit_status).await
    }

    async fn withdraw_on_signal(&self, sig: Signal) -> Result<u8, Failure> {
        let _ = self
            .me
            .post::<serde_json::Value>(
                &format!("/v1/runs/{}/withdraw", self.id),
                &json!({"reason": format!("its client stopped waiting ({sig})")}),
            )
            .await;
        eprintln!("baton: stopped waiting; run #{} withdrawn", self.id);
        Ok(u8::try_from(128 + sig as i32).unwrap_or(exit::CANCELLED))
    }

    /// Ends the command, if one runs: SIGTERM, then SIGKILL after the grace period. True if
    /// there was one.
    async fn end_child(&mut self) -> bool {
        let Some(mut child) = self.child.take() else {
            return false;
        };
        if let Some(pid) = child.id() {
            let _ = kill(
                Pid::from_raw(i32::try_from(pid).unwrap_or(0)),
                Signal::SIGTERM,
            );
        }
        if tokio::time::timeout(GRACE, child.wait()).await.is_err() {
            let _ = child.kill().await;
        }
        true
    }
}

/// Keeps the run alive. A frozen process stops heartbeating and loses the desktop after the
/// TTL; a dead one loses it at once through its closed attach connection.
async fn heartbeat(me: Client, id: RunId, ttl: Duration) {
    let path = format!("/v1/runs/{id}/heartbeat");
    let every = (ttl / 3).max(Duration::from_millis(30));
    loop {
        tokio::time::sleep(every).await;
        if let Ok(status) = me.post::<RunStatus>(&path, &json!({})).await
            && status.ended
        {
            return;
        }
    }
}

/// The honest sentence while queued.
fn queue_notice(status: &RunStatus) -> String {
    let position = status.run.position.unwrap_or_default();
    match (&status.queued_behind, status.handoffs_paused) {
        (Some(holder), false) => format!(
            "the desktop is busy: queued behind '{}' ({}), position {position}; starting automatically when it is released",
            holder.title, holder.client
        ),
        (Some(holder), true) => format!(
            "the desktop is busy: queued behind '{}' ({}), position {position}; hand-offs are paused by the user, so starting automatically when they resume and it is released",
            holder.title, holder.client
        ),
        (None, _) => format!(
            "hand-offs are paused by the user: queued at position {position}; starting automatically when they resume"
        ),
    }
}

fn parse_status(data: &str) -> Result<RunStatus, Failure> {
    serde_json::from_str(data).map_err(|e| {
        Failure::new(
            exit::FAILED,
            format!("the host sent a status Baton cannot read: {e}"),
        )
    })
}

/// The command line, as a title.
fn title_of(command: &[String]) -> String {
    let line = command.join(" ");
    if line.chars().count() <= 200 {
        line
    } else {
        let mut short: String = line.chars().take(199).collect();
        short.push('…');
        short
    }
}

async fn wait_child(child: &mut Option<Child>) -> std::io::Result<ExitStatus> {
    match child {
        Some(child) => child.wait().await,
        None => std::future::pending().await,
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

fn signal_of(status: &ExitStatus) -> Option<i32> {
    std::os::unix::process::ExitStatusExt::signal(status)
}

fn signal_failure(e: std::io::Error) -> Failure {
    Failure::new(exit::FAILED, format!("cannot listen for signals: {e}"))
}

/// Asks the kernel to SIGTERM the command if this process dies (kill -9 included), so a
/// command never goes on driving the desktop after its lease went with its wrapper.
#[allow(unsafe_code)]
fn end_with_parent(command: &mut Command) {
    // SAFETY: the closure runs in the forked child before exec and only makes the
    // async-signal-safe prctl(2) call.
    unsafe {
        command.pre_exec(|| {
            nix::sys::prctl::set_pdeathsig(Signal::SIGTERM).map_err(std::io::Error::from)
        });
    }
}
