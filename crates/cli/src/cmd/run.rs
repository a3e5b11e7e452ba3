//! `baton run` and `baton replace`: the flock-style wrapper.
//!
//! Submit, then bind the run to this process (`baton_client::Binding`: attached, so a kill -9
//! of this process hands the desktop on at once; heartbeats, so a frozen one loses it after the
//! TTL), wait in the queue saying honestly why, run the command with the run's environment,
//! finish the run with the command's outcome, exit with its code. A user's cancel ends the
//! command and everything it started (`crate::process::Job`: SIGTERM to its process group,
//! then SIGKILL after 5 s).

use std::time::Duration;

use baton_api::schedules::ADOPT_TOKEN_ENV;
use baton_client::models::PrivateDisplay;
use baton_client::{Binding, Bound, BoundRun, Client, Withdrawal, env};
use baton_core::clock::sleep_until;
use baton_core::messages::{granted_notice, queue_notice};
use baton_core::{Outcome, ResourceName, RunId, RunSpec, RunState, RunStatus};
use tokio::process::Command;
use tokio::time::Instant;

use crate::cli::{DisplayKind, RunArgs, seconds, ttl_seconds};
use crate::exit::{self, Failure};
use crate::process::{self, Job, Sig, Signals};

/// Refuses `--display private` before the run exists where the host starts no private
/// displays: the pool `displays` is there only where it does (or where the person once
/// sized it, for a host that since lost Xvfb: then opening the display says why).
async fn offers_private_displays(client: &Client) -> Result<(), Failure> {
    let displays = ResourceName::displays();
    if client.resources().await?.iter().any(|r| r.name == displays) {
        return Ok(());
    }
    Err(Failure::new(
        exit::REFUSED,
        "this Baton host starts no private displays: they need Linux and Xvfb (Debian: apt install xvfb), then a restart of Baton",
    ))
}

/// How long a cancelled command gets between SIGTERM and SIGKILL.
const GRACE: Duration = Duration::from_secs(5);

/// The exit code for a command that cannot be started (as in shells).
const CANNOT_START: u8 = 127;

pub async fn run(client: &Client, args: RunArgs, replace: Option<i64>) -> Result<u8, Failure> {
    if let Some(id) = args.adopt {
        return adopt(client, args, RunId(id)).await;
    }
    // Everything that can be refused is refused before the run exists.
    let program = args.command.first().map(String::as_str).unwrap_or("");
    if program.trim().is_empty() {
        return Err(Failure::new(exit::USAGE, "the command to run is empty"));
    }
    if !process::can_start(program) {
        return Err(Failure::new(
            CANNOT_START,
            format!("cannot start '{program}': no such executable file"),
        ));
    }
    let ttl_ms = args
        .ttl
        .map(|s| ttl_seconds(s, "--ttl"))
        .transpose()?
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    let give_up = args.wait.map(|s| seconds(s, "--wait")).transpose()?;
    let private = args.display == Some(DisplayKind::Private);
    let mut resources = args.resources;
    if private {
        offers_private_displays(client).await?;
        let displays = ResourceName::displays();
        if !resources.contains(&displays) {
            resources.push(displays);
        }
    }
    // Listen for signals before the run exists, so none arrives unhandled in between.
    let signals = Signals::new()
        .map_err(|e| Failure::new(exit::FAILED, format!("cannot listen for signals: {e}")))?;

    let spec = RunSpec {
        title: args
            .title
            .clone()
            .unwrap_or_else(|| baton_core::text::command_title(&args.command)),
        client: args.client,
        needs_desktop: args.desktop,
        resources,
        ttl_ms,
        queue: !args.no_wait,
    };
    let submitted = match replace {
        None => client.submit(&spec).await?,
        Some(old) => client.replace(RunId(old), &spec).await?,
    };
    let id = submitted.status.run.id;
    let me = client.as_run(id, submitted.token);
    match Binding::bind(me, submitted.status).await? {
        // Ended at once (a busy desktop with --no-wait), or cancelled before it could attach.
        Bound::Ended(status) => Ok(report_end(&status, false)),
        Bound::Live(binding) => {
            let mut wrapper = Wrapper {
                run: binding.run().clone(),
                command: args.command,
                private,
                job: None,
                notice: None,
                waited: false,
            };
            wrapper
                .drive(binding, signals, give_up.map(|d| Instant::now() + d))
                .await
        }
    }
}

/// `baton run --adopt RUN_ID`: the host made the run (a schedule entry fired) and starts this
/// wrapper for it, with the run's token in the environment; from here on it is `baton run`.
async fn adopt(client: &Client, args: RunArgs, id: RunId) -> Result<u8, Failure> {
    let token = std::env::var(ADOPT_TOKEN_ENV)
        .ok()
        .filter(|token| !token.is_empty())
        .ok_or_else(|| {
            Failure::new(
                exit::USAGE,
                format!("--adopt is how the host runs a scheduled command: it needs the run's token in {ADOPT_TOKEN_ENV}"),
            )
        })?;
    let signals = Signals::new()
        .map_err(|e| Failure::new(exit::FAILED, format!("cannot listen for signals: {e}")))?;
    let me = client.as_run(id, token);
    let status = me.heartbeat(id, 0).await?;
    match Binding::bind(me, status).await? {
        Bound::Ended(status) => Ok(report_end(&status, false)),
        Bound::Live(binding) => {
            let mut wrapper = Wrapper {
                run: binding.run().clone(),
                command: args.command,
                private: args.display == Some(DisplayKind::Private),
                job: None,
                notice: None,
                waited: false,
            };
            wrapper.drive(binding, signals, None).await
        }
    }
}

struct Wrapper {
    run: BoundRun,
    command: Vec<String>,
    /// The command runs on a display of its own, asked for once the run holds `displays`.
    private: bool,
    job: Option<Job>,
    /// The last queue notice printed, to print again only when it changes.
    notice: Option<String>,
    waited: bool,
}

impl Wrapper {
    async fn drive(
        &mut self,
        mut binding: Binding,
        mut signals: Signals,
        mut give_up_at: Option<Instant>,
    ) -> Result<u8, Failure> {
        loop {
            tokio::select! {
                status = binding.next() => {
                    let status = match status {
                        Ok(Some(status)) => status,
                        // The stream ended without a final status, or broke: the host is gone.
                        Ok(None) => return self.host_gone().await,
                        // A status this version cannot read: its command must not go on
                        // driving the desktop unwatched.
                        Err(e) => {
                            self.end_job().await;
                            return Err(e.into());
                        }
                    };
                    if let Some(code) = self.on_status(status).await? {
                        return Ok(code);
                    }
                    if self.job.is_some() {
                        give_up_at = None;
                    }
                }
                exit_status = wait_job(&mut self.job) => {
                    return self.job_exited(exit_status).await;
                }
                () = sleep_until(give_up_at) => {
                    give_up_at = None;
                    match self.run.withdraw("gave up waiting (--wait)").await {
                        Withdrawal::HostGone => return self.host_gone().await,
                        Withdrawal::Withdrawn => {
                            eprintln!("baton: gave up waiting for the desktop; run #{} withdrawn", self.run.id());
                            return Ok(exit::GAVE_UP);
                        }
                        // Granted in the meantime: the command runs after all.
                        Withdrawal::Started => {}
                        // Still queued, perhaps: this wrapper's end closes its stream, and
                        // the host ends the run with it.
                        Withdrawal::Failed(e) => {
                            self.end_job().await;
                            return Err(e.into());
                        }
                    }
                }
                sig = signals.recv() => {
                    if let Some(code) = self.on_signal(sig).await? {
                        return Ok(code);
                    }
                }
            }
        }
    }

    /// Reacts to a status from the attach stream. `Some(code)` ends the wrapper.
    async fn on_status(&mut self, status: RunStatus) -> Result<Option<u8>, Failure> {
        for note in self.run.take_unread(&status) {
            eprintln!(
                "baton: note for run #{} from {}: {}",
                self.run.id(),
                note.by,
                note.text
            );
        }
        if status.ended {
            return Ok(Some(self.ended(&status).await));
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
            RunState::Running if self.job.is_none() => {
                if self.waited {
                    eprintln!("baton: {}", granted_notice(&status.run));
                }
                let spawned = match self.private_display().await {
                    Ok(display) => self.spawn(&status, display.as_ref()),
                    Err(failure) => Err(failure),
                };
                match spawned {
                    Ok(job) => self.job = Some(job),
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

    /// The run's private display, when it asked for one: started by the host now.
    async fn private_display(&self) -> Result<Option<PrivateDisplay>, Failure> {
        if !self.private {
            return Ok(None);
        }
        let display = self.run.me().open_display(self.run.id()).await?;
        if display.window_manager.is_none() {
            eprintln!(
                "baton: the private display {} has no window manager (the host has no openbox): windows open where they ask to, and nothing gives them focus",
                display.display
            );
        }
        Ok(Some(display))
    }

    fn spawn(
        &mut self,
        status: &RunStatus,
        display: Option<&PrivateDisplay>,
    ) -> Result<Job, Failure> {
        let (program, args) = self
            .command
            .split_first()
            .ok_or_else(|| Failure::new(exit::USAGE, "the command to run is empty"))?;
        let me = self.run.me();
        let mut command = Command::new(program);
        command.args(args).env_remove(env::URL);
        // The command's own `baton` finds the host through the same data directory (and its
        // socket); BATON_URL is for programs that speak HTTP over TCP.
        if let Some(url) = me.tcp_url() {
            command.env(env::URL, url);
        }
        if let Some(dir) = me.data_dir() {
            command.env(baton_platform::datadir::DATA_DIR_ENV, dir.path());
        }
        command
            .env(env::RUN_ID, self.run.id().to_string())
            .env(env::RUN_TOKEN, me.token())
            .env_remove(ADOPT_TOKEN_ENV)
            .env_remove(env::LEASE_TOKEN)
            .env_remove(env::LEASES);
        if !status.run.leases.is_empty() {
            command.env(env::LEASES, env::leases(&status.run.leases));
        }
        if status.run.holds_desktop
            && let Some(token) = status.run.lease_token
        {
            command.env(env::LEASE_TOKEN, token.to_string());
        }
        command.env_remove(env::DISPLAY);
        if let Some(display) = display {
            // Its own X display, and no way to the person's Wayland session by mistake.
            command
                .env("DISPLAY", &display.display)
                .env(env::DISPLAY, &display.display)
                .env_remove("WAYLAND_DISPLAY");
        }
        Job::spawn(command)
            .map_err(|e| Failure::new(CANNOT_START, format!("cannot start '{program}': {e}")))
    }

    async fn job_exited(
        &mut self,
        exit_status: std::io::Result<std::process::ExitStatus>,
    ) -> Result<u8, Failure> {
        self.job = None;
        let exit_status = exit_status
            .map_err(|e| Failure::new(exit::FAILED, format!("lost track of the command: {e}")))?;
        let (code, note) = process::exit_of(&exit_status);
        let own_code = u8::try_from(code & 0xff).unwrap_or(1);
        match self.finish(code == 0, Some(code), note.as_deref()).await {
            // The run ended some other way while the command was finishing: say how, with the
            // exit code for it (the user cancelled it, or it lost the desktop while this
            // process was frozen, or the host stopped).
            Some(status) if status.ended => {
                let code = match status.run.state {
                    RunState::Cancelled => exit::CANCELLED,
                    RunState::Expired | RunState::Withdrawn => exit::GAVE_UP,
                    RunState::Interrupted => exit::NO_HOST,
                    _ => own_code,
                };
                if code != own_code {
                    eprintln!("baton: {}", status.message);
                }
                Ok(code)
            }
            _ => Ok(own_code),
        }
    }

    /// Finishes the run. On refusal returns the run's current status.
    async fn finish(
        &self,
        ok: bool,
        exit_code: Option<i32>,
        note: Option<&str>,
    ) -> Option<RunStatus> {
        let outcome = if ok {
            Outcome::Succeeded
        } else {
            Outcome::Failed
        };
        let note = note.map(|n| crate::format::truncate(n, 400));
        match self.run.finish(outcome, exit_code, note).await {
            Ok(_) => None,
            Err(_) => self.run.current().await,
        }
    }

    /// The run ended while this process waited or ran the command.
    async fn ended(&mut self, status: &RunStatus) -> u8 {
        if matches!(status.run.state, RunState::Succeeded | RunState::Failed) {
            // Finished through the API by the command itself: wait for it, keep its code.
            let code = match self.job.take() {
                Some(mut job) => job
                    .wait()
                    .await
                    .ok()
                    .and_then(|s| s.code())
                    .and_then(|c| u8::try_from(c & 0xff).ok())
                    .unwrap_or(exit::OK),
                None => exit::OK,
            };
            return code;
        }
        let stopped = self.end_job().await;
        report_end(status, stopped)
    }

    async fn host_gone(&mut self) -> Result<u8, Failure> {
        let stopped = self.end_job().await;
        Err(Failure::new(
            exit::NO_HOST,
            if stopped {
                "the Baton host went away; the command was ended because its run no longer holds anything (the desktop, its resources or its private display)"
            } else {
                "the Baton host went away before the run started"
            },
        ))
    }

    /// A signal to this process. Once the command runs it is passed on to the command's
    /// process group, and the run ends with the command's outcome; before that, the run is
    /// withdrawn.
    async fn on_signal(&mut self, sig: Sig) -> Result<Option<u8>, Failure> {
        let Some(job) = self.job.as_mut() else {
            match self
                .run
                .withdraw(&format!("its client stopped waiting ({sig})"))
                .await
            {
                Withdrawal::HostGone => return self.host_gone().await.map(Some),
                Withdrawal::Withdrawn => eprintln!(
                    "baton: stopped waiting ({sig}); run #{} withdrawn",
                    self.run.id()
                ),
                // The host ends the run when this wrapper's stream closes, at its exit.
                Withdrawal::Failed(e) => eprintln!(
                    "baton: stopped waiting ({sig}); withdrawing run #{} failed ({e}), so it ends as this command exits",
                    self.run.id()
                ),
                // Granted just now: end the run instead of starting the command.
                Withdrawal::Started => {
                    let note = format!("its client got {sig} before the command started");
                    self.finish(false, None, Some(&note)).await;
                    eprintln!(
                        "baton: stopped ({sig}) before the command started; run #{} ended",
                        self.run.id()
                    );
                }
            }
            return Ok(Some(sig.exit_code()));
        };
        job.forward(sig);
        let exit_status = job.wait().await;
        self.job_exited(exit_status).await.map(Some)
    }

    /// Ends the command and what it started, if it runs. True if there was one.
    async fn end_job(&mut self) -> bool {
        let Some(mut job) = self.job.take() else {
            return false;
        };
        job.end(GRACE).await;
        true
    }
}

/// Says how the run ended when it ended some other way than its command's outcome (`stopped`:
/// a command was running and has been ended), and the exit code for it.
fn report_end(status: &RunStatus, stopped: bool) -> u8 {
    let id = status.run.id;
    let (code, message) = match status.run.state {
        RunState::Cancelled => (
            exit::CANCELLED,
            format!("cancelled by the user ({})", status.message),
        ),
        RunState::Interrupted => (
            exit::NO_HOST,
            format!(
                "the Baton host stopped under run #{id}; {}",
                if stopped {
                    "the command was ended (its run no longer holds anything)"
                } else {
                    "it never started"
                }
            ),
        ),
        RunState::Succeeded | RunState::Failed => return exit::OK,
        _ => (exit::GAVE_UP, status.message.clone()),
    };
    eprintln!("baton: {message}");
    code
}

async fn wait_job(job: &mut Option<Job>) -> std::io::Result<std::process::ExitStatus> {
    match job {
        Some(job) => job.wait().await,
        None => std::future::pending().await,
    }
}
