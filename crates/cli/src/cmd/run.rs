//! `baton run` and `baton replace`: the flock-style wrapper.
//!
//! Submit, attach (the run's life is bound to this process's connection, so a kill -9 of this
//! process hands the desktop on at once), heartbeat every third of the TTL (so a frozen process
//! loses it after the TTL), wait in the queue saying honestly why, run the command with the
//! run's environment, finish the run with the command's outcome, exit with its code. A user's
//! cancel ends the command and everything it started: SIGTERM to its process group, then
//! SIGKILL after 5 s.

use std::os::fd::AsFd;
use std::process::ExitStatus;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use baton_core::{RunId, RunState, RunStatus, Submitted};
use nix::sys::signal::{SigSet, Signal, killpg};
use nix::unistd::{Pid, getpgrp, setpgid, tcgetpgrp, tcsetpgrp};
use serde_json::json;
use tokio::process::{Child, Command};
use tokio::signal::unix::{Signal as SignalStream, SignalKind, signal};
use tokio::time::Instant;

use crate::cli::RunArgs;
use crate::client::{self, Client, EventStream};
use crate::exit::{self, Failure};

/// How long a cancelled command gets between SIGTERM and SIGKILL.
const GRACE: Duration = Duration::from_secs(5);

/// The exit code for a command that cannot be started (as in shells).
const CANNOT_START: u8 = 127;

pub async fn run(client: &Client, args: RunArgs, replace: Option<i64>) -> Result<u8, Failure> {
    // Everything that can be refused is refused before the run exists.
    let program = args.command.first().map(String::as_str).unwrap_or("");
    if program.trim().is_empty() {
        return Err(Failure::new(exit::USAGE, "the command to run is empty"));
    }
    if !can_start(program) {
        return Err(Failure::new(
            CANNOT_START,
            format!("cannot start '{program}': no such executable file"),
        ));
    }
    let ttl_ms = args
        .ttl
        .map(|s| crate::cmd::daemon::ttl_seconds(s, "--ttl"))
        .transpose()?
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    let give_up = args
        .wait
        .map(|s| crate::cmd::daemon::seconds(s, "--wait"))
        .transpose()?;
    // Listen for signals before the run exists, so none arrives unhandled in between.
    let signals = Signals::new()?;

    let title = args
        .title
        .clone()
        .unwrap_or_else(|| title_of(&args.command));
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
        // Only a busy desktop with --no-wait ends a run at submit.
        eprintln!("baton: {}", submitted.status.message);
        return Ok(exit::GAVE_UP);
    }
    let me = client.as_run(id, submitted.token.clone());
    let mut wrapper = Wrapper {
        me,
        id,
        command: args.command,
        child: None,
        terminal: None,
        notice: None,
        inbox_read: Arc::new(AtomicU32::new(0)),
        waited: false,
    };
    let stream = match wrapper.me.stream(&format!("/v1/runs/{id}/attach")).await {
        Ok(stream) => stream,
        Err(failure) => return wrapper.attach_failed(failure).await,
    };
    let ttl = Duration::from_millis(submitted.status.run.ttl_ms);
    let heartbeat = tokio::spawn(heartbeat(
        wrapper.me.clone(),
        id,
        ttl,
        wrapper.inbox_read.clone(),
    ));
    let code = wrapper
        .drive(stream, signals, give_up.map(|d| Instant::now() + d))
        .await;
    heartbeat.abort();
    wrapper.take_back_terminal();
    code
}

struct Signals {
    interrupt: SignalStream,
    terminate: SignalStream,
    hangup: SignalStream,
}

impl Signals {
    fn new() -> Result<Self, Failure> {
        let listen = |kind| {
            signal(kind)
                .map_err(|e| Failure::new(exit::FAILED, format!("cannot listen for signals: {e}")))
        };
        Ok(Signals {
            interrupt: listen(SignalKind::interrupt())?,
            terminate: listen(SignalKind::terminate())?,
            hangup: listen(SignalKind::hangup())?,
        })
    }

    async fn recv(&mut self) -> Signal {
        tokio::select! {
            _ = self.interrupt.recv() => Signal::SIGINT,
            _ = self.terminate.recv() => Signal::SIGTERM,
            _ = self.hangup.recv() => Signal::SIGHUP,
        }
    }
}

struct Wrapper {
    me: Client,
    id: RunId,
    command: Vec<String>,
    child: Option<Child>,
    /// The terminal's foreground process group before the command was given the terminal.
    terminal: Option<Pid>,
    /// The last queue notice printed, to print again only when it changes.
    notice: Option<String>,
    /// The newest inbox note printed; heartbeats acknowledge it.
    inbox_read: Arc<AtomicU32>,
    waited: bool,
}

impl Wrapper {
    async fn drive(
        &mut self,
        mut stream: EventStream,
        mut signals: Signals,
        mut give_up_at: Option<Instant>,
    ) -> Result<u8, Failure> {
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
                    give_up_at = None;
                    match self.give_up("gave up waiting (--wait)").await {
                        Some(exit::NO_HOST) => return self.host_gone().await,
                        Some(code) => {
                            eprintln!("baton: gave up waiting for the desktop; run #{} withdrawn", self.id);
                            return Ok(code);
                        }
                        // Granted in the meantime: the command runs after all.
                        None => {}
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
        let read = self.inbox_read.load(Ordering::Relaxed);
        for note in status.inbox.iter().filter(|note| note.n > read) {
            eprintln!(
                "baton: note for run #{} from {}: {}",
                self.id, note.by, note.text
            );
            self.inbox_read.store(note.n, Ordering::Relaxed);
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

    fn spawn(&mut self, status: &RunStatus) -> Result<Child, Failure> {
        let (program, args) = self
            .command
            .split_first()
            .ok_or_else(|| Failure::new(exit::USAGE, "the command to run is empty"))?;
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
        let foreground = terminal_foreground();
        own_process_group(&mut command, foreground.is_some());
        let child = command
            .spawn()
            .map_err(|e| Failure::new(CANNOT_START, format!("cannot start '{program}': {e}")))?;
        if let Some(pid) = child.id().and_then(|p| i32::try_from(p).ok()) {
            // Also from this side, so the group exists whichever process runs first.
            let _ = setpgid(Pid::from_raw(pid), Pid::from_raw(pid));
            if foreground.is_some() {
                let _ = tcsetpgrp(std::io::stdin().as_fd(), Pid::from_raw(pid));
                self.terminal = foreground;
            }
        }
        Ok(child)
    }

    async fn child_exited(
        &mut self,
        exit_status: std::io::Result<ExitStatus>,
    ) -> Result<u8, Failure> {
        self.child = None;
        self.take_back_terminal();
        let exit_status = exit_status
            .map_err(|e| Failure::new(exit::FAILED, format!("lost track of the command: {e}")))?;
        let (code, note) = match (exit_status.code(), signal_of(&exit_status)) {
            (Some(code), _) => (code, None),
            (None, Some(sig)) => (128 + sig, Some(format!("killed by signal {sig}"))),
            (None, None) => (1, None),
        };
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
        let body = json!({
            "outcome": if ok { "succeeded" } else { "failed" },
            "exit_code": exit_code,
            "note": note.map(|n| crate::format::truncate(n, 400)),
        });
        let finished = self
            .me
            .post::<serde_json::Value>(&format!("/v1/runs/{}/finish", self.id), &body)
            .await;
        match finished {
            Ok(_) => None,
            Err(_) => self.current_status().await,
        }
    }

    async fn current_status(&self) -> Option<RunStatus> {
        let read = self.inbox_read.load(Ordering::Relaxed);
        self.me
            .post(
                &format!("/v1/runs/{}/heartbeat", self.id),
                &json!({ "inbox_after": read }),
            )
            .await
            .ok()
    }

    /// The run ended while this process waited or ran the command.
    async fn ended(&mut self, status: &RunStatus) -> Result<u8, Failure> {
        let code = match status.run.state {
            RunState::Cancelled => exit::CANCELLED,
            RunState::Interrupted => exit::NO_HOST,
            // Finished through the API by the command itself: wait for it, keep its code.
            RunState::Succeeded | RunState::Failed => {
                let code = match self.child.take() {
                    Some(mut child) => child
                        .wait()
                        .await
                        .ok()
                        .and_then(|s| s.code())
                        .and_then(|c| u8::try_from(c & 0xff).ok())
                        .unwrap_or(exit::OK),
                    None => exit::OK,
                };
                self.take_back_terminal();
                return Ok(code);
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

    /// The attach request failed right after submit: end the run rather than leave it to its
    /// TTL, or report how it already ended (a user may have cancelled it in between).
    async fn attach_failed(&mut self, failure: Failure) -> Result<u8, Failure> {
        if failure.code == exit::NO_HOST {
            return Err(failure);
        }
        if let Some(status) = self.current_status().await
            && status.ended
        {
            return self.ended(&status).await;
        }
        self.give_up("its client could not attach").await;
        Err(failure)
    }

    /// A signal to this process. Once the command runs it is passed on to the command's
    /// process group, and the run ends with the command's outcome; before that, the run is
    /// withdrawn.
    async fn on_signal(&mut self, sig: Signal) -> Result<Option<u8>, Failure> {
        let code = u8::try_from(128 + sig as i32).unwrap_or(exit::CANCELLED);
        let Some(child) = self.child.as_mut() else {
            match self
                .give_up(&format!("its client stopped waiting ({sig})"))
                .await
            {
                Some(exit::NO_HOST) => return self.host_gone().await.map(Some),
                Some(_) => eprintln!("baton: stopped waiting ({sig}); run #{} withdrawn", self.id),
                // Granted just now: end the run instead of starting the command.
                None => {
                    let note = format!("its client got {sig} before the command started");
                    self.finish(false, None, Some(&note)).await;
                    eprintln!(
                        "baton: stopped ({sig}) before the command started; run #{} ended",
                        self.id
                    );
                }
            }
            return Ok(Some(code));
        };
        if let Some(pid) = child.id() {
            let _ = killpg(pgid(pid), sig);
        }
        let exit_status = child.wait().await;
        self.child_exited(exit_status).await.map(Some)
    }

    /// Withdraws the run before its command started. `None` if it cannot be withdrawn because
    /// it has just been granted: the grant is on its way in the stream, and the command will
    /// run after all.
    async fn give_up(&self, reason: &str) -> Option<u8> {
        let withdrawn = self
            .me
            .post::<serde_json::Value>(
                &format!("/v1/runs/{}/withdraw", self.id),
                &json!({ "reason": reason }),
            )
            .await;
        match withdrawn {
            Ok(_) => Some(exit::GAVE_UP),
            Err(failure) if failure.code == exit::NO_HOST => Some(exit::NO_HOST),
            Err(_) => None,
        }
    }

    /// Ends the command and what it started, if it runs: SIGTERM to its process group, then
    /// SIGKILL after the grace period. True if there was one.
    async fn end_child(&mut self) -> bool {
        let Some(mut child) = self.child.take() else {
            return false;
        };
        let group = child.id().map(pgid);
        if let Some(group) = group {
            let _ = killpg(group, Signal::SIGTERM);
        }
        if tokio::time::timeout(GRACE, child.wait()).await.is_err() {
            if let Some(group) = group {
                let _ = killpg(group, Signal::SIGKILL);
            }
            let _ = child.kill().await;
        }
        self.take_back_terminal();
        true
    }

    /// Makes this process's group the terminal's foreground again, if the command had it.
    fn take_back_terminal(&mut self) {
        let Some(group) = self.terminal.take() else {
            return;
        };
        // A background process that touches the terminal gets SIGTTOU; hold it off meanwhile.
        let mut ttou = SigSet::empty();
        ttou.add(Signal::SIGTTOU);
        let _ = ttou.thread_block();
        let _ = tcsetpgrp(std::io::stdin().as_fd(), group);
        let _ = ttou.thread_unblock();
    }
}

/// Keeps the run alive, and acknowledges the inbox notes already shown. A frozen process stops
/// heartbeating and loses the desktop after the TTL; a dead one loses it at once through its
/// closed attach connection.
pub(crate) async fn heartbeat(me: Client, id: RunId, ttl: Duration, inbox_read: Arc<AtomicU32>) {
    let path = format!("/v1/runs/{id}/heartbeat");
    let every = (ttl / 3).max(Duration::from_millis(30));
    loop {
        tokio::time::sleep(every).await;
        let body = json!({ "inbox_after": inbox_read.load(Ordering::Relaxed) });
        if let Ok(status) = me.post::<RunStatus>(&path, &body).await
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

/// Whether `program` names an executable file, directly or on `PATH`.
fn can_start(program: &str) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let executable = |path: &std::path::Path| {
        path.metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if program.contains('/') {
        return executable(std::path::Path::new(program));
    }
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| executable(&dir.join(program))))
}

/// The command line, as a title.
fn title_of(command: &[String]) -> String {
    crate::format::truncate(&command.join(" "), 200)
}

async fn wait_child(child: &mut Option<Child>) -> std::io::Result<ExitStatus> {
    match child {
        Some(child) => child.wait().await,
        None => std::future::pending().await,
    }
}

/// Sleeps until `deadline`, or for ever without one: the arm of a `select!` that has no
/// deadline to keep.
pub(crate) async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

fn signal_of(status: &ExitStatus) -> Option<i32> {
    std::os::unix::process::ExitStatusExt::signal(status)
}

/// The command leads its own process group, whose id is its pid.
fn pgid(pid: u32) -> Pid {
    Pid::from_raw(i32::try_from(pid).unwrap_or(i32::MAX))
}

/// This process's group, if it is the terminal's foreground group (run from a shell prompt);
/// the command is then given the terminal so it can read from it and gets Ctrl+C itself.
fn terminal_foreground() -> Option<Pid> {
    let stdin = std::io::stdin();
    let ours = getpgrp();
    (std::io::IsTerminal::is_terminal(&stdin)
        && tcgetpgrp(stdin.as_fd()).is_ok_and(|fg| fg == ours))
    .then_some(ours)
}

/// In the child, before exec: lead a new process group (so a cancel reaches everything the
/// command starts), take the terminal if this process had it, and get SIGTERM if this process
/// dies (kill -9 included), so a command never goes on driving the desktop after its lease went
/// with its wrapper.
#[allow(unsafe_code)]
pub(crate) fn own_process_group(command: &mut Command, take_terminal: bool) {
    // SAFETY: the closure runs in the forked child before exec and makes only
    // async-signal-safe calls (setpgid, sigprocmask, tcsetpgrp, prctl), allocating nothing.
    unsafe {
        command.pre_exec(move || {
            setpgid(Pid::from_raw(0), Pid::from_raw(0))?;
            if take_terminal {
                let mut ttou = SigSet::empty();
                ttou.add(Signal::SIGTTOU);
                ttou.thread_block()?;
                let _ = tcsetpgrp(std::io::stdin().as_fd(), nix::unistd::getpid());
                ttou.thread_unblock()?;
            }
            nix::sys::prctl::set_pdeathsig(Signal::SIGTERM)?;
            Ok(())
        });
    }
}
