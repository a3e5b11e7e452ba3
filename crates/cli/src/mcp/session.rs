//! The run behind one MCP session, owned by an actor task.
//!
//! A session gets its run the first time it needs one (asking for the desktop, relaying a
//! cancel, amending), so an agent that only looks at the status leaves no trace in the history.
//! The run is bound to this process like `baton run`'s: an attach stream (a killed `baton mcp`
//! hands the desktop on at once) and heartbeats (a frozen one loses it after the TTL). When the
//! run ends it is replaced by a new one on the next need, except after the user cancelled it:
//! then the session is refused the desktop until it ends, because only the user decides that
//! work may go on.

use std::sync::Arc;
use std::time::Duration;

use baton_client::{Binding, Bound, BoundRun, Client};
use baton_core::clock::sleep_until;
use baton_core::{Outcome, ResourceName, RunId, RunSpec, RunState, RunStatus};
use baton_platform::DataDir;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::exit::{self, Failure};
use crate::link::Link;

/// What the session last heard about its run.
#[derive(Debug, Clone)]
pub enum Seen {
    /// The run's status, newest first wins.
    Status(Box<RunStatus>),
    /// The connection to the host broke: it went away (or restarted) under the run.
    HostGone,
}

impl Seen {
    /// The status, if the host is still there.
    pub fn status(&self) -> Option<&RunStatus> {
        match self {
            Seen::Status(status) => Some(status),
            Seen::HostGone => None,
        }
    }
}

/// The session's live run, as the tools use it.
#[derive(Debug, Clone)]
pub struct Active {
    /// The run.
    pub id: RunId,
    /// The host, acting as this run.
    pub me: Client,
    /// Its status as it changes.
    pub seen: watch::Receiver<Seen>,
    /// The run as bound to this process (which inbox notes were shown; how to end it).
    pub run: BoundRun,
}

impl Active {
    /// The run's latest status (`None` once the host is gone).
    pub fn status(&self) -> Option<RunStatus> {
        self.seen.borrow().status().cloned()
    }

    /// Inbox notes the agent has not been shown yet; they count as shown from now on.
    pub fn unread_notes(&self) -> Vec<String> {
        let Some(status) = self.status() else {
            return Vec::new();
        };
        self.run
            .take_unread(&status)
            .iter()
            .map(|n| format!("Note for run #{} from {}: {}", self.id, n.by, n.text))
            .collect()
    }
}

/// How the session's runs look and behave.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The title of a run the agent did not name.
    pub title: String,
    /// Give the desktop back after this long without a gated call (the proxy).
    pub idle_release: Option<Duration>,
}

/// Whether a run holds what it needs, or waits for it: a run holds everything it needs or
/// nothing.
fn holds_or_waits(status: &RunStatus) -> bool {
    !status.run.holds.is_empty() || status.run.state == RunState::Queued
}

/// A cloneable handle to the session actor.
#[derive(Debug, Clone)]
pub struct Session {
    tx: mpsc::Sender<Command>,
}

enum Command {
    Open {
        need: Option<Vec<ResourceName>>,
        title: Option<String>,
        client: String,
        reply: oneshot::Sender<Result<Active, Failure>>,
    },
    Current {
        reply: oneshot::Sender<Option<Active>>,
    },
    Release {
        reply: oneshot::Sender<Result<Option<RunStatus>, Failure>>,
    },
    Gate {
        begin: bool,
    },
    Close {
        reply: oneshot::Sender<()>,
    },
}

impl Session {
    /// Starts the actor.
    pub fn start(data_dir: DataDir, settings: Settings) -> Session {
        let (tx, rx) = mpsc::channel(32);
        let actor = Actor {
            data_dir,
            settings,
            slot: Slot::Empty,
            gated: 0,
            last_used: None,
            holding: false,
        };
        tokio::spawn(actor.main(rx));
        Session { tx }
    }

    /// The session's run, created if there is none; with `need`, it also asks for those
    /// resources (the desktop, or what the proxy gates on) unless it holds or waits for them
    /// already. Refused once the user cancelled it.
    pub async fn open(
        &self,
        need: Option<Vec<ResourceName>>,
        title: Option<String>,
        client: String,
    ) -> Result<Active, Failure> {
        let (reply, answer) = oneshot::channel();
        self.send(Command::Open {
            need,
            title,
            client,
            reply,
        })
        .await;
        answer.await.unwrap_or_else(|_| Err(closed()))
    }

    /// The session's run if it has a live one; creates nothing.
    pub async fn current(&self) -> Option<Active> {
        let (reply, answer) = oneshot::channel();
        self.send(Command::Current { reply }).await;
        answer.await.ok().flatten()
    }

    /// Gives the desktop back (or stops waiting for it); the run goes on. `None` if the session
    /// had nothing to give back.
    pub async fn release(&self) -> Result<Option<RunStatus>, Failure> {
        let (reply, answer) = oneshot::channel();
        self.send(Command::Release { reply }).await;
        answer.await.unwrap_or_else(|_| Err(closed()))
    }

    /// A gated call starts (`true`) or ends: no idle release while one runs.
    pub async fn gate(&self, begin: bool) {
        self.send(Command::Gate { begin }).await;
    }

    /// Ends the session's run (the session is over) and stops the actor.
    pub async fn close(&self) {
        let (reply, answer) = oneshot::channel();
        self.send(Command::Close { reply }).await;
        let _ = answer.await;
    }

    async fn send(&self, command: Command) {
        // The actor only stops after Close; a send after that has nobody to answer it, and the
        // caller's oneshot reports that.
        let _ = self.tx.send(command).await;
    }
}

fn closed() -> Failure {
    Failure::new(exit::FAILED, "the MCP session is closing")
}

enum Slot {
    Empty,
    Live(Box<Live>),
    /// The user cancelled the session's run: why, as the agent is told.
    Stopped(String),
}

struct Live {
    active: Active,
    /// Shared with the stream follower, so answers to this actor's own requests show at once.
    seen: Arc<watch::Sender<Seen>>,
    tasks: Vec<JoinHandle<()>>,
    _link: Option<Link>,
}

impl Drop for Live {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

struct Actor {
    data_dir: DataDir,
    settings: Settings,
    slot: Slot,
    /// Gated calls running now.
    gated: usize,
    /// When the desktop was last used through the session, or granted to it (for the idle
    /// release).
    last_used: Option<Instant>,
    /// Whether the run held the desktop when the actor last looked.
    holding: bool,
}

impl Actor {
    async fn main(mut self, mut rx: mpsc::Receiver<Command>) {
        loop {
            let idle = self.idle_deadline();
            // With an idle time, a grant or a release moves the deadline: look again then.
            let mut changes = match &self.slot {
                Slot::Live(live) if self.settings.idle_release.is_some() => {
                    Some(live.seen.subscribe())
                }
                _ => None,
            };
            tokio::select! {
                () = changed(&mut changes) => self.note_grant(),
                command = rx.recv() => match command {
                    Some(Command::Close { reply }) => {
                        self.end().await;
                        let _ = reply.send(());
                        return;
                    }
                    Some(command) => self.handle(command).await,
                    None => break,
                },
                () = sleep_until(idle) => {
                    // A grant may have arrived at the same moment: it restarts the idle time.
                    self.note_grant();
                    if self.idle_deadline().is_some_and(|d| d <= Instant::now()) {
                        self.last_used = None;
                        if let Err(failure) = self.release().await {
                            tracing::warn!(%failure, "could not give the idle desktop back");
                        }
                    }
                }
            }
        }
        self.end().await;
    }

    async fn handle(&mut self, command: Command) {
        match command {
            Command::Open {
                need,
                title,
                client,
                reply,
            } => {
                let opened = self.open(need, title, client).await;
                let _ = reply.send(opened);
            }
            Command::Current { reply } => {
                self.refresh();
                let current = match &self.slot {
                    Slot::Live(live) => Some(live.active.clone()),
                    _ => None,
                };
                let _ = reply.send(current);
            }
            Command::Release { reply } => {
                let _ = reply.send(self.release().await);
            }
            Command::Gate { begin } => {
                if begin {
                    self.gated += 1;
                } else {
                    self.gated = self.gated.saturating_sub(1);
                }
                self.last_used = Some(Instant::now());
            }
            Command::Close { .. } => unreachable!("handled by the loop"),
        }
    }

    /// A fresh grant counts as use: a session that waited in the queue longer than the idle
    /// time must not give the desktop back the moment it gets it.
    fn note_grant(&mut self) {
        let holds = match &self.slot {
            Slot::Live(live) => live
                .active
                .status()
                .is_some_and(|s| !s.run.holds.is_empty()),
            _ => false,
        };
        if holds && !self.holding {
            self.last_used = Some(Instant::now());
        }
        self.holding = holds;
    }

    /// Follows the run's end: a cancelled run closes the session to the desktop, any other end
    /// leaves room for a new run.
    fn refresh(&mut self) {
        let Slot::Live(live) = &self.slot else {
            return;
        };
        let next = match &*live.active.seen.borrow() {
            Seen::HostGone => Slot::Empty,
            Seen::Status(status) if status.run.state == RunState::Cancelled => {
                Slot::Stopped(stopped_message(status))
            }
            Seen::Status(status) if status.ended => Slot::Empty,
            Seen::Status(_) => return,
        };
        self.slot = next;
        self.gated = 0;
        self.last_used = None;
        self.holding = false;
    }

    async fn open(
        &mut self,
        need: Option<Vec<ResourceName>>,
        title: Option<String>,
        client: String,
    ) -> Result<Active, Failure> {
        self.refresh();
        if let Slot::Stopped(message) = &self.slot {
            return Err(Failure::new(exit::CANCELLED, message.clone()));
        }
        if let Slot::Empty = self.slot {
            let live = self.submit(need.as_deref(), title, client).await?;
            self.slot = Slot::Live(Box::new(live));
        } else if let Slot::Live(live) = &self.slot
            && let Some(need) = &need
        {
            let status = live.active.status();
            let asked = status.as_ref().is_some_and(|s| {
                holds_or_waits(s) && need.iter().all(|r| s.run.resources.contains(r))
            });
            if !asked {
                // Asking for more while it holds something is refused by the host, with the
                // reason: release first.
                let status = live
                    .active
                    .me
                    .acquire_resources(live.active.id, need.clone())
                    .await?;
                publish(&live.seen, status);
            }
        }
        if need.is_some() {
            self.last_used = Some(Instant::now());
        }
        match &self.slot {
            Slot::Live(live) => Ok(live.active.clone()),
            _ => Err(closed()),
        }
    }

    /// Submits the session's run and binds it to this process.
    async fn submit(
        &self,
        need: Option<&[ResourceName]>,
        title: Option<String>,
        client: String,
    ) -> Result<Live, Failure> {
        let user = Client::connect_as_user(&self.data_dir)?;
        let title = title
            .filter(|t| !t.trim().is_empty())
            .unwrap_or_else(|| self.settings.title.clone());
        let spec =
            RunSpec::new(title, client, false).with_resources(need.unwrap_or_default().to_vec());
        let submitted = user.submit(&spec).await?;
        let id = submitted.status.run.id;
        let me = user.as_run(id, submitted.token);
        let (run, first, tasks) = match Binding::bind(me.clone(), submitted.status.clone()).await? {
            Bound::Live(binding) => {
                let run = binding.run().clone();
                (run, submitted.status, Some(binding))
            }
            // Cancelled before it could attach: the session learns it as from the stream.
            Bound::Ended(status) => (BoundRun::detached(id, me.clone()), *status, None),
        };
        let (seen, receiver) = watch::channel(Seen::Status(Box::new(first)));
        let seen = Arc::new(seen);
        let tasks = tasks
            .map(|binding| tokio::spawn(follow(binding, seen.clone())))
            .into_iter()
            .collect();
        let link = match Link::write(&self.data_dir, id) {
            Ok(link) => Some(link),
            Err(e) => {
                tracing::warn!("cannot record the session for the Claude Code hook: {e}");
                None
            }
        };
        Ok(Live {
            active: Active {
                id,
                me,
                seen: receiver,
                run,
            },
            seen,
            tasks,
            _link: link,
        })
    }

    async fn release(&mut self) -> Result<Option<RunStatus>, Failure> {
        self.refresh();
        let Slot::Live(live) = &self.slot else {
            return Ok(None);
        };
        if !live.active.status().is_some_and(|s| holds_or_waits(&s)) {
            return Ok(None);
        }
        let status = live.active.me.release(live.active.id).await?;
        publish(&live.seen, status.clone());
        Ok(Some(status))
    }

    /// The session is over: its run ends (withdrawn if it never started).
    async fn end(&mut self) {
        self.refresh();
        let Slot::Live(live) = std::mem::replace(&mut self.slot, Slot::Empty) else {
            return;
        };
        let id = live.active.id;
        // Withdrawn if it never started, else finished; a grant in between is no race.
        if let Err(failure) = live
            .active
            .run
            .leave(Outcome::Succeeded, "its MCP session ended")
            .await
        {
            tracing::debug!(%failure, "ending run #{id}");
        }
    }

    /// When to give the desktop back for want of use: only with an idle time set, while the
    /// run holds the desktop and no gated call runs.
    fn idle_deadline(&self) -> Option<Instant> {
        let idle = self.settings.idle_release?;
        let Slot::Live(live) = &self.slot else {
            return None;
        };
        if self.gated > 0
            || !live
                .active
                .status()
                .is_some_and(|s| !s.run.holds.is_empty())
        {
            return None;
        }
        Some(self.last_used? + idle)
    }
}

/// What the agent is told once the user cancelled its run, whichever way it learns it.
pub fn stopped_message(status: &RunStatus) -> String {
    let reason = status
        .run
        .reason
        .as_deref()
        .map(|r| format!(" ({r})"))
        .unwrap_or_default();
    format!(
        "the user stopped this session's run #{}{reason}. Baton refuses this session the desktop from now on: stop the desktop work and tell the user. A new MCP session may start again when the user wants it.",
        status.run.id
    )
}

/// Keeps the newest status: answers to requests and the stream may arrive in either order.
fn publish(seen: &watch::Sender<Seen>, status: RunStatus) {
    seen.send_if_modified(|current| match current {
        Seen::Status(old) if old.version >= status.version => false,
        _ => {
            *current = Seen::Status(Box::new(status));
            true
        }
    });
}

/// Reads the run's attach stream into the watch until the run ends or the host goes away.
/// The binding lives here: when this task ends or is aborted, its heartbeats stop.
async fn follow(mut binding: Binding, seen: Arc<watch::Sender<Seen>>) {
    loop {
        match binding.next().await {
            Ok(Some(status)) => {
                let ended = status.ended;
                publish(&seen, status);
                if ended {
                    return;
                }
            }
            // A status this version cannot read: the next one may be readable.
            Err(_) => continue,
            Ok(None) => {
                seen.send_replace(Seen::HostGone);
                return;
            }
        }
    }
}

async fn changed(receiver: &mut Option<watch::Receiver<Seen>>) {
    let Some(receiver) = receiver else {
        return std::future::pending().await;
    };
    if receiver.changed().await.is_err() {
        std::future::pending::<()>().await;
    }
}
