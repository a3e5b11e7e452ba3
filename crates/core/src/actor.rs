//! The scheduler actor: one tokio task owns the [`Machine`] and the [`Store`]; everything else
//! holds a cloneable [`Handle`] and talks to it over a channel with oneshot replies.
//!
//! For every request the actor (1) applies it to the machine, (2) commits the resulting batch in
//! one SQLite transaction, (3) publishes the new snapshot, per-run statuses and events, and only
//! then (4) replies. Requests that queued up while a commit ran are applied in arrival order and
//! share the next transaction and publish (a group commit): under contention that is most of
//! the work saved, and each answer still waits for the commit that holds its change. A failed commit stops the actor: memory and disk must never disagree, and a
//! restart recovers from disk (DESIGN rule 10).
//!
//! Status is answered from the published state (a `watch` channel of [`Published`]): it never
//! waits for the actor or the database, and it changes nothing (DESIGN rule 5).
//!
//! A commit costs what it changed, not what is queued: the published state shares the queue and
//! rows with the machine, and a run's own status (its `watch` channel) is recomputed after a
//! commit only when the run changed or someone is waiting on the channel; a channel nobody
//! watches is brought up to date when it is next read. A watched run that a commit did not
//! touch (no row, no event of its own, no change of the desktop's flags) can only have moved
//! in a queue or seen another holder: those moves are told at most every [`QUEUE_MOVES`],
//! so a hand-off with many waiters does not rebuild every waiter's status.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use chrono::TimeZone;
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::time::Instant;

use crate::auth::RunTokens;
use crate::clock::{Clock, sleep_until};
use crate::error::{Error, Result};
use crate::event::Event;
use crate::lease::{Caps, DesktopFlags, Fired, Machine, ended_status};
use crate::model::{Caller, Outcome, ResourceState, Run, RunId, RunSpec, RunStatus, Snapshot};
use crate::published::Published;
use crate::resource::ResourceName;
use crate::schedule::{Entry, EntrySpec};
use crate::store::{HistoryQuery, Opened, Store};

/// The default heartbeat TTL (DESIGN: 15 s unless a run asks otherwise).
pub const DEFAULT_TTL: Duration = Duration::from_secs(15);

/// Longest a single `wait` blocks.
pub const MAX_WAIT: Duration = Duration::from_secs(60);

/// How the scheduler is set up.
#[derive(Debug, Clone)]
pub struct Config {
    /// Heartbeat TTL for runs that do not ask for another.
    pub default_ttl: Duration,
    /// How many runs may be active at once.
    pub caps: Caps,
    /// Whether the user OKs each run before it takes the free desktop.
    pub ask_first: bool,
    /// Where the host starts private displays, how many at once by default: then their pool,
    /// `displays`, is built in.
    pub private_displays: Option<u32>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            default_ttl: DEFAULT_TTL,
            caps: Caps::default(),
            ask_first: false,
            private_displays: None,
        }
    }
}

/// The answer to `submit` and `replace`: the run's status and its run token.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Submitted {
    /// The bearer token scoped to this run: heartbeat, wait, attach, finish, release, acquire,
    /// amend, and relaying the user's stop for other runs.
    pub token: String,
    /// Where the run stands.
    #[serde(flatten)]
    pub status: RunStatus,
}

/// A run's life bound to a connection: while this lives the run is attached; drop it when the
/// connection closes and, if it was the last, the run expires at once.
#[derive(Debug)]
pub struct Attachment {
    /// The run's status, updated on every change; closed after the final one.
    pub updates: watch::Receiver<RunStatus>,
    guard: DetachOnDrop,
}

impl Attachment {
    /// The run this attachment belongs to.
    pub fn run_id(&self) -> RunId {
        self.guard.run
    }
}

#[derive(Debug)]
struct DetachOnDrop {
    run: RunId,
    attach_id: u64,
    tx: mpsc::UnboundedSender<(RunId, u64)>,
}

impl Drop for DetachOnDrop {
    fn drop(&mut self) {
        let _ = self.tx.send((self.run, self.attach_id));
    }
}

/// A request as the actor runs it: applied to the machine at once, answered after the commit
/// of its group.
type Job = Box<dyn FnOnce(&mut Machine, Instant) -> Box<dyn Pending> + Send>;

/// A request applied to the machine and waiting for its commit. It carries its own typed reply,
/// so the actor answers every request without knowing what it asked.
trait Pending: Send {
    /// Sends the answer. `failure`: the group's failed commit, told as it is to the first
    /// request that needs it; the others learn that the scheduler stopped, which it does.
    fn answer(self: Box<Self>, actor: &mut Actor, failed: bool, failure: &mut Option<Error>);
}

/// The one [`Pending`]: what the machine answered (`A`), made into the reply (`T`) once the
/// change is committed (for most requests `A` is the reply; for the ones that answer a run's
/// status, the status published by the commit).
struct Awaiting<A, T> {
    applied: Result<A>,
    finish: fn(&mut Actor, A) -> Result<T>,
    reply: oneshot::Sender<Result<T>>,
}

impl<A: Send, T: Send> Pending for Awaiting<A, T> {
    fn answer(self: Box<Self>, actor: &mut Actor, failed: bool, failure: &mut Option<Error>) {
        let result = match self.applied {
            Err(e) => Err(e),
            Ok(_) if failed => Err(failure.take().unwrap_or(Error::Closed)),
            Ok(value) => (self.finish)(actor, value),
        };
        let _ = self.reply.send(result);
    }
}

/// Where a [`Command::Watch`] is answered: a `wait` gets the channel, an `attach` also the
/// attachment's id.
enum WatchReply {
    Wait(oneshot::Sender<Result<watch::Receiver<RunStatus>>>),
    Attach(oneshot::Sender<Result<(watch::Receiver<RunStatus>, u64)>>),
}

enum Command {
    Apply(Job),
    /// A run's status channel (a heartbeat first); for an attach, with the run's life bound to
    /// the answer.
    Watch {
        id: RunId,
        caller: Caller,
        reply: WatchReply,
    },
    Shutdown {
        reply: oneshot::Sender<()>,
    },
}

/// The cloneable door to the scheduler.
#[derive(Clone)]
pub struct Handle {
    tx: mpsc::Sender<Command>,
    detach_tx: mpsc::UnboundedSender<(RunId, u64)>,
    published: watch::Receiver<Arc<Published>>,
    events: broadcast::Sender<Arc<Event>>,
    store: Store,
    tokens: Arc<RunTokens>,
}

impl std::fmt::Debug for Handle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handle").finish_non_exhaustive()
    }
}

/// Starts the scheduler actor on the current tokio runtime.
pub fn spawn(opened: Opened, clock: Arc<dyn Clock>, config: Config) -> Handle {
    let Opened { store, resume, .. } = opened;
    let machine = Machine::new(clock, config.default_ttl, config.caps, resume)
        .asking_first(config.ask_first)
        .with_private_displays(config.private_displays);
    let (tx, rx) = mpsc::channel(256);
    let (detach_tx, detach_rx) = mpsc::unbounded_channel();
    let (published_tx, published) = watch::channel(Arc::new(machine.published()));
    let (events, _) = broadcast::channel(1024);
    let actor = Actor {
        machine,
        store: store.clone(),
        rx,
        detach_rx,
        published_tx,
        events: events.clone(),
        statuses: HashMap::new(),
        watched: BTreeSet::new(),
        moves_told: Instant::now(),
        moves_due: None,
        flags: DesktopFlags::default(),
        ended_cache: HashMap::new(),
        deferred: None,
        failed: false,
    };
    tokio::spawn(actor.run());
    Handle {
        tx,
        detach_tx,
        published,
        events,
        store,
        tokens: Arc::new(RunTokens::generate()),
    }
}

impl Handle {
    // ----- reads: from memory or the store, never through the actor -----------------------

    /// The status snapshot. Changes nothing (DESIGN rule 5).
    pub fn status(&self) -> Snapshot {
        self.published().snapshot()
    }

    /// The published state: the desktop's head at once, the full snapshot on demand.
    pub fn published(&self) -> Arc<Published> {
        self.published.borrow().clone()
    }

    /// A receiver that sees every publication (tray, dashboard, SSE, the input gateway).
    pub fn watch_status(&self) -> watch::Receiver<Arc<Published>> {
        self.published.clone()
    }

    /// Events as they are committed. A receiver that lags should re-read from
    /// [`Handle::events_after`].
    pub fn subscribe_events(&self) -> broadcast::Receiver<Arc<Event>> {
        self.events.subscribe()
    }

    /// Committed events after `after`, oldest first.
    pub async fn events_after(&self, after: u64, limit: u32) -> Result<Vec<Event>> {
        self.store.events_after(after, limit).await
    }

    /// The history, newest first.
    pub async fn history(&self, query: &HistoryQuery) -> Result<Vec<Run>> {
        self.store.history(query).await
    }

    /// One run: live from the snapshot when active, else from the history.
    pub async fn run(&self, id: RunId) -> Result<Run> {
        let snapshot = self.status();
        let desktop = &snapshot.desktop;
        let live = desktop
            .holder
            .iter()
            .chain(&desktop.queue)
            .chain(&snapshot.running)
            .find(|r| r.id == id);
        match live {
            Some(run) => Ok(run.clone()),
            None => self.store.run(id).await?.ok_or(Error::UnknownRun(id)),
        }
    }

    /// The runs `caller` may relay a user's stop for: every active run but its own
    /// (DESIGN rule 6: a run is never listed among its own cancel targets).
    pub fn cancel_targets(&self, caller: RunId) -> Vec<Run> {
        let snapshot = self.status();
        let desktop = &snapshot.desktop;
        desktop
            .holder
            .iter()
            .chain(&desktop.queue)
            .chain(&snapshot.running)
            .filter(|r| r.id != caller)
            .cloned()
            .collect()
    }

    /// The store, for settings and checks.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Issues and checks run tokens.
    pub fn tokens(&self) -> &RunTokens {
        &self.tokens
    }

    /// Resolves when the actor has stopped (shutdown, or a failed commit).
    pub async fn closed(&self) {
        self.tx.closed().await;
    }

    // ----- requests ------------------------------------------------------------------------

    /// `submit` by `caller`: a run whose run has ended may submit no more.
    pub async fn submit(&self, spec: RunSpec, caller: Caller) -> Result<Submitted> {
        let status = self
            .status_op(move |m, now| m.submit(spec, &caller, now))
            .await?;
        Ok(Submitted {
            token: self.tokens.issue(status.run.id),
            status,
        })
    }

    /// `replace`: user only.
    pub async fn replace(&self, old: RunId, spec: RunSpec, caller: Caller) -> Result<Submitted> {
        let result = self
            .status_op(move |m, now| m.replace(old, spec, &caller, now))
            .await;
        let status = self.or_explained(result, old).await?;
        Ok(Submitted {
            token: self.tokens.issue(status.run.id),
            status,
        })
    }

    /// `heartbeat`: keeps the run alive and tells it where it stands; inbox notes numbered
    /// `read_up_to` and below are acknowledged and left out. For a run that has ended it
    /// answers the final status, so a client learns why it lost the lease.
    pub async fn heartbeat(&self, id: RunId, caller: Caller, read_up_to: u32) -> Result<RunStatus> {
        let result = self
            .status_op(move |m, now| m.heartbeat(id, &caller, read_up_to, now).map(|()| id))
            .await;
        match result {
            Ok(status) => Ok(status.inbox_after(read_up_to)),
            Err(Error::UnknownRun(_)) => self.ended(id).await,
            Err(e) => Err(e),
        }
    }

    /// `wait`: a heartbeat that blocks until the run's status is newer than `after_version` (or
    /// `timeout` passes, capped at half the run's TTL so the wait itself never lets it expire).
    pub async fn wait(
        &self,
        id: RunId,
        caller: Caller,
        after_version: u64,
        read_up_to: u32,
        timeout: Duration,
    ) -> Result<RunStatus> {
        let start = Instant::now();
        let (reply, answer) = oneshot::channel();
        let mut updates = match self
            .watch(id, caller.clone(), WatchReply::Wait(reply), answer)
            .await
        {
            Ok(updates) => updates,
            Err(Error::UnknownRun(_)) => return self.ended(id).await,
            Err(e) => return Err(e),
        };
        let ttl = Duration::from_millis(updates.borrow().run.ttl_ms);
        let deadline = start + timeout.min(ttl / 2).min(MAX_WAIT);
        loop {
            if updates.borrow().version > after_version {
                break;
            }
            match tokio::time::timeout_at(deadline, updates.changed()).await {
                Ok(Ok(())) => continue,
                // Closed: the run ended and its final status is in the channel.
                Ok(Err(_)) => break,
                Err(_) => return self.heartbeat(id, caller, read_up_to).await,
            }
        }
        let status = updates.borrow().clone();
        if status.ended {
            Ok(status)
        } else {
            self.heartbeat(id, caller, read_up_to).await
        }
    }

    /// `attach`: binds the run's life to the returned [`Attachment`] (and so to a connection),
    /// on top of its heartbeat.
    pub async fn attach(&self, id: RunId, caller: Caller) -> Result<Attachment> {
        let (reply, answer) = oneshot::channel();
        let (updates, attach_id) = match self
            .watch(id, caller, WatchReply::Attach(reply), answer)
            .await
        {
            Ok(pair) => pair,
            Err(e) => return Err(self.explained(e, id).await),
        };
        Ok(Attachment {
            updates,
            guard: DetachOnDrop {
                run: id,
                attach_id,
                tx: self.detach_tx.clone(),
            },
        })
    }

    /// `amend`: appends a correction to the run's inbox.
    pub async fn amend(&self, id: RunId, caller: Caller, text: String) -> Result<RunStatus> {
        self.amend_with(id, caller, text, None).await
    }

    /// `amend`, with the user's words when a run relays a correction for another run.
    pub async fn amend_with(
        &self,
        id: RunId,
        caller: Caller,
        text: String,
        reason: Option<String>,
    ) -> Result<RunStatus> {
        let result = self
            .status_op(move |m, _| {
                m.amend_with(id, &caller, &text, reason.as_deref())
                    .map(|_| id)
            })
            .await;
        self.or_explained(result, id).await
    }

    /// `cancel` (user, or relayed by another run with a reason; never self).
    pub async fn cancel(&self, id: RunId, caller: Caller, reason: Option<String>) -> Result<Run> {
        let result = self
            .apply(move |m, now| m.cancel(id, &caller, reason.as_deref(), now))
            .await;
        self.or_explained(result, id).await
    }

    /// `stop holder`: cancels whoever holds the desktop; `None` when it is free. With `only`,
    /// only if that run still holds it (see [`Machine::stop_holder`]).
    pub async fn stop_holder(
        &self,
        caller: Caller,
        reason: Option<String>,
        only: Option<RunId>,
    ) -> Result<Option<Run>> {
        self.apply(move |m, now| m.stop_holder(&caller, reason.as_deref(), only, now))
            .await
    }

    /// `pause` (true) or `resume` (false) hand-offs. Returns whether anything changed.
    pub async fn set_paused(&self, paused: bool, caller: Caller) -> Result<bool> {
        self.apply(move |m, now| m.set_paused(paused, &caller, now))
            .await
    }

    /// The person at the computer takes over: the holder's input is refused until resumed.
    /// Returns whether anything changed.
    pub async fn pause_holder(&self, caller: Caller) -> Result<bool> {
        self.apply(move |m, _| m.pause_holder(&caller)).await
    }

    /// Pauses (`true`) or resumes the holder only if it is still run `only` (see
    /// [`Machine::set_holder_paused_if`]). Returns whether anything changed.
    pub async fn set_holder_paused_if(
        &self,
        only: RunId,
        paused: bool,
        caller: Caller,
    ) -> Result<bool> {
        self.apply(move |m, _| m.set_holder_paused_if(only, paused, &caller))
            .await
    }

    /// The holder may send input again. Returns whether anything changed.
    pub async fn resume_holder(&self, caller: Caller) -> Result<bool> {
        self.apply(move |m, _| m.resume_holder(&caller)).await
    }

    /// The user changes the heartbeat TTL for runs submitted from now on.
    pub async fn set_default_ttl(&self, ttl: Duration, caller: Caller) -> Result<()> {
        self.apply(move |m, _| m.set_default_ttl(ttl, &caller))
            .await
    }

    /// The user changes the caps on active runs, for submits from now on.
    pub async fn set_caps(&self, caps: Caps, caller: Caller) -> Result<()> {
        self.apply(move |m, _| m.set_caps(caps, &caller)).await
    }

    /// `allow`: the user OKs the run waiting for it, which takes the desktop now.
    pub async fn allow(&self, id: RunId, caller: Caller) -> Result<RunStatus> {
        let result = self
            .status_op(move |m, now| m.allow(id, &caller, now).map(|()| id))
            .await;
        self.or_explained(result, id).await
    }

    /// The user turns asking before each grant on or off. Returns whether anything changed.
    pub async fn set_ask_first(&self, ask_first: bool, caller: Caller) -> Result<bool> {
        self.apply(move |m, now| m.set_ask_first(ask_first, &caller, now))
            .await
    }

    /// `front`: the user moves a queued run to the head of the queue.
    pub async fn front(&self, id: RunId, caller: Caller) -> Result<RunStatus> {
        let result = self
            .status_op(move |m, now| m.front(id, &caller, now).map(|()| id))
            .await;
        self.or_explained(result, id).await
    }

    /// `finish`: the run ends itself.
    pub async fn finish(
        &self,
        id: RunId,
        caller: Caller,
        outcome: Outcome,
        exit_code: Option<i32>,
        note: Option<String>,
    ) -> Result<Run> {
        let result = self
            .apply(move |m, now| m.finish(id, &caller, outcome, exit_code, note.as_deref(), now))
            .await;
        self.or_explained(result, id).await
    }

    /// `release`: the run gives the desktop back and goes on in parallel.
    pub async fn release(&self, id: RunId, caller: Caller) -> Result<RunStatus> {
        let result = self
            .status_op(move |m, now| m.release(id, &caller, now).map(|()| id))
            .await;
        self.or_explained(result, id).await
    }

    /// `acquire`: the run asks for the desktop (again) and queues at the back.
    pub async fn acquire(&self, id: RunId, caller: Caller) -> Result<RunStatus> {
        self.acquire_resources(id, caller, vec![ResourceName::desktop()])
            .await
    }

    /// `acquire` of `resources`, all at once (see [`Machine::acquire`]).
    pub async fn acquire_resources(
        &self,
        id: RunId,
        caller: Caller,
        resources: Vec<ResourceName>,
    ) -> Result<RunStatus> {
        let result = self
            .status_op(move |m, now| m.acquire(id, &caller, &resources, now).map(|()| id))
            .await;
        self.or_explained(result, id).await
    }

    /// `resource add`: the person declares a resource.
    pub async fn add_resource(
        &self,
        name: ResourceName,
        capacity: u32,
        caller: Caller,
    ) -> Result<ResourceState> {
        self.apply(move |m, _| m.add_resource(name, capacity, &caller))
            .await
    }

    /// Changes a resource's capacity; it applies to its queue at once. Returns the resource
    /// as it is then.
    pub async fn set_capacity(
        &self,
        name: ResourceName,
        capacity: u32,
        caller: Caller,
    ) -> Result<ResourceState> {
        self.apply(move |m, now| m.set_capacity(&name, capacity, &caller, now))
            .await
    }

    /// `resource remove`: only while nobody holds the resource or waits for it.
    pub async fn remove_resource(&self, name: ResourceName, caller: Caller) -> Result<()> {
        self.apply(move |m, _| m.remove_resource(&name, &caller))
            .await
    }

    /// The schedule entries, by name, as the last commit published them. Changes nothing.
    pub fn schedules(&self) -> Vec<Entry> {
        self.published().schedules.values().cloned().collect()
    }

    /// `schedule add`, or with `replace` `schedule edit`: user only.
    pub async fn put_schedule(
        &self,
        spec: EntrySpec,
        replace: bool,
        caller: Caller,
    ) -> Result<Entry> {
        self.apply(move |m, _| m.put_schedule(spec, replace, &caller))
            .await
    }

    /// `schedule remove`: user only.
    pub async fn remove_schedule(&self, name: String, caller: Caller) -> Result<Entry> {
        self.apply(move |m, _| m.remove_schedule(&name, &caller))
            .await
    }

    /// `schedule pause` (true) or `resume`: user only.
    pub async fn pause_schedule(
        &self,
        name: String,
        paused: bool,
        caller: Caller,
    ) -> Result<Entry> {
        self.apply(move |m, _| m.pause_schedule(&name, paused, &caller))
            .await
    }

    /// Makes what is due of entry `name` in time zone `tz` (see [`Machine::fire`]); a run
    /// made comes with its token, for whoever runs its command.
    pub async fn fire<Tz: TimeZone + Send + 'static>(
        &self,
        name: String,
        tz: Tz,
        caller: Caller,
    ) -> Result<(Fired, Option<String>)> {
        let fired = self
            .apply(move |m, now| m.fire(&name, &tz, &caller, now))
            .await?;
        let token = match &fired {
            Fired::Made(id) => Some(self.tokens.issue(*id)),
            _ => None,
        };
        Ok((fired, token))
    }

    /// `schedule run-now`: user only. The run made, with its token.
    pub async fn run_now(&self, name: String, caller: Caller) -> Result<Submitted> {
        let status = self
            .status_op(move |m, now| m.run_now(&name, &caller, now))
            .await?;
        Ok(Submitted {
            token: self.tokens.issue(status.run.id),
            status,
        })
    }

    /// `withdraw`: the run's client gives up before it started.
    pub async fn withdraw(&self, id: RunId, caller: Caller, reason: Option<String>) -> Result<Run> {
        let result = self
            .apply(move |m, now| m.withdraw(id, &caller, reason.as_deref(), now))
            .await;
        self.or_explained(result, id).await
    }

    /// Waits until the actor has applied everything sent before, including expiries that are
    /// already due. Changes nothing.
    pub async fn barrier(&self) -> Result<()> {
        self.apply(|_, _| Ok(())).await
    }

    /// Stops the scheduler: every active run is marked `interrupted` (committed), attached
    /// clients see it, and further requests get [`Error::Closed`].
    pub async fn shutdown(&self) {
        let (reply, done) = oneshot::channel();
        if self.tx.send(Command::Shutdown { reply }).await.is_ok() {
            let _ = done.await;
        }
    }

    // ----- plumbing ------------------------------------------------------------------------

    /// Sends `op` to the actor and waits for its answer, made by `finish` after the commit.
    async fn request<A, T>(
        &self,
        op: impl FnOnce(&mut Machine, Instant) -> Result<A> + Send + 'static,
        finish: fn(&mut Actor, A) -> Result<T>,
    ) -> Result<T>
    where
        A: Send + 'static,
        T: Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job: Job = Box::new(move |m, now| {
            Box::new(Awaiting {
                applied: op(m, now),
                finish,
                reply,
            })
        });
        self.tx
            .send(Command::Apply(job))
            .await
            .map_err(|_| Error::Closed)?;
        answer.await.map_err(|_| Error::Closed)?
    }

    /// A request whose answer is what the machine answered.
    async fn apply<T: Send + 'static>(
        &self,
        op: impl FnOnce(&mut Machine, Instant) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        self.request(op, |_, value| Ok(value)).await
    }

    /// A request about run `id` (the machine answers the id), answered with the run's status as
    /// the commit published it.
    async fn status_op(
        &self,
        op: impl FnOnce(&mut Machine, Instant) -> Result<RunId> + Send + 'static,
    ) -> Result<RunStatus> {
        self.request(op, Actor::last_status).await
    }

    /// Sends a [`Command::Watch`] answered through `reply`, and waits for `answer`.
    async fn watch<T>(
        &self,
        id: RunId,
        caller: Caller,
        reply: WatchReply,
        answer: oneshot::Receiver<Result<T>>,
    ) -> Result<T> {
        self.tx
            .send(Command::Watch { id, caller, reply })
            .await
            .map_err(|_| Error::Closed)?;
        answer.await.map_err(|_| Error::Closed)?
    }

    /// The final status of a run that is no longer active.
    async fn ended(&self, id: RunId) -> Result<RunStatus> {
        let run = self.store.run(id).await?.ok_or(Error::UnknownRun(id))?;
        Ok(ended_status(run))
    }

    /// The machine only knows active runs: turn "unknown" into "already ended" when the
    /// history has the run.
    async fn explained(&self, error: Error, id: RunId) -> Error {
        match error {
            Error::UnknownRun(_) => match self.store.run(id).await {
                Ok(Some(run)) => Error::InvalidState(format!(
                    "run #{id} has already ended ({}); nothing more can be done with it",
                    run.state
                )),
                Ok(None) => Error::UnknownRun(id),
                Err(e) => e,
            },
            other => other,
        }
    }

    async fn or_explained<T>(&self, result: Result<T>, id: RunId) -> Result<T> {
        match result {
            Ok(value) => Ok(value),
            Err(e) => Err(self.explained(e, id).await),
        }
    }
}

struct Actor {
    machine: Machine,
    store: Store,
    rx: mpsc::Receiver<Command>,
    detach_rx: mpsc::UnboundedReceiver<(RunId, u64)>,
    published_tx: watch::Sender<Arc<Published>>,
    events: broadcast::Sender<Arc<Event>>,
    /// One status channel per active run (heartbeat answers, wait, attach); up to date for the
    /// runs that changed in the last commit and the watched ones, refreshed when read.
    statuses: HashMap<RunId, watch::Sender<RunStatus>>,
    /// Runs whose channel had a receiver at the last publication (a `wait` or an attachment).
    watched: BTreeSet<RunId>,
    /// When the watched runs were last all brought up to date.
    moves_told: Instant,
    /// When the watched runs are next to be brought up to date: set while some of them may
    /// have moved since `moves_told`.
    moves_due: Option<Instant>,
    /// The desktop's flags at the last publication: a change of them is told to every
    /// watched run at once.
    flags: DesktopFlags,
    /// Final statuses of the runs that ended in the last commit, to answer their request.
    ended_cache: HashMap<RunId, RunStatus>,
    /// A command taken from the channel while gathering a group commit, to handle next.
    deferred: Option<Command>,
    failed: bool,
}

/// The most requests one group commit gathers, so the first of them waits a bounded time.
const MAX_GROUP: usize = 64;

/// How often a watched run is told at most that it moved in a queue or that another run
/// holds what it waits for (grants, cancels, notes and the desktop's flags are told at once).
pub const QUEUE_MOVES: Duration = Duration::from_millis(100);

impl Actor {
    async fn run(mut self) {
        loop {
            if let Some(command) = self.deferred.take() {
                if self.dispatch(Some(command)).await {
                    break;
                }
                continue;
            }
            let deadline = self.machine.next_deadline();
            // Expiries and dropped connections first: a TTL is a hard bound, so a heartbeat that
            // arrives after the deadline has passed does not rescue the run.
            tokio::select! {
                biased;
                () = sleep_until(deadline), if deadline.is_some() => {
                    self.machine.expire_due(Instant::now());
                    let _ = self.commit().await;
                }
                () = sleep_until(self.moves_due), if self.moves_due.is_some() => {
                    self.tell_moves(&[]);
                }
                Some((id, attach_id)) = self.detach_rx.recv() => {
                    self.machine.detach(id, attach_id, Instant::now());
                    let _ = self.commit().await;
                }
                command = self.rx.recv() => if self.dispatch(command).await {
                    break;
                },
            }
            if self.failed {
                tracing::error!("the scheduler stopped because its database failed");
                break;
            }
        }
        self.rx.close();
    }

    /// Handles one command from the channel (`None`: every handle is gone); true when the
    /// actor is to stop.
    async fn dispatch(&mut self, command: Option<Command>) -> bool {
        match command {
            Some(Command::Shutdown { reply }) => {
                self.shutdown().await;
                let _ = reply.send(());
                true
            }
            Some(command) => {
                self.handle(command).await;
                false
            }
            None => {
                self.shutdown().await;
                true
            }
        }
    }

    async fn handle(&mut self, command: Command) {
        match command {
            Command::Apply(job) => {
                let mut group = vec![job(&mut self.machine, Instant::now())];
                while group.len() < MAX_GROUP {
                    match self.rx.try_recv() {
                        Ok(Command::Apply(job)) => {
                            group.push(job(&mut self.machine, Instant::now()));
                        }
                        Ok(other) => {
                            self.deferred = Some(other);
                            break;
                        }
                        Err(_) => break,
                    }
                }
                let mut failure = self.commit().await.err();
                let failed = failure.is_some();
                for pending in group {
                    pending.answer(self, failed, &mut failure);
                }
            }
            Command::Watch { id, caller, reply } => {
                let now = Instant::now();
                match reply {
                    WatchReply::Wait(reply) => {
                        let result = self
                            .machine
                            .heartbeat(id, &caller, 0, now)
                            .and_then(|()| self.subscribe(id));
                        let _ = reply.send(result);
                    }
                    WatchReply::Attach(reply) => {
                        let result = self
                            .machine
                            .attach(id, &caller, now)
                            .and_then(|attach_id| Ok((self.subscribe(id)?, attach_id)));
                        // If the asker is gone (its connection dropped while waiting for this),
                        // nobody holds the attachment: undo it, or it would keep the run
                        // attached forever.
                        if let Err(Ok((_, attach_id))) = reply.send(result) {
                            self.machine.detach(id, attach_id, now);
                            let _ = self.commit().await;
                        }
                    }
                }
            }
            Command::Shutdown { .. } => {}
        }
    }

    /// Run `id`'s status channel, brought up to date and watched from now on.
    fn subscribe(&mut self, id: RunId) -> Result<watch::Receiver<RunStatus>> {
        self.refresh(id);
        self.watched.insert(id);
        self.statuses
            .get(&id)
            .map(watch::Sender::subscribe)
            .ok_or(Error::UnknownRun(id))
    }

    /// The status just published for `id` (also for a run that ended in this request).
    fn last_status(&mut self, id: RunId) -> Result<RunStatus> {
        self.refresh(id);
        match self.statuses.get(&id) {
            Some(tx) => Ok(tx.borrow().clone()),
            None => self
                .ended_cache
                .get(&id)
                .cloned()
                .ok_or(Error::UnknownRun(id)),
        }
    }

    /// Commits the machine's pending batch, then publishes. See the module docs.
    async fn commit(&mut self) -> Result<()> {
        let (batch, ended) = self.machine.take_batch();
        if batch.is_empty() {
            return Ok(());
        }
        // The runs this commit touched: their rows, and the runs its events are about (a
        // note changes no row). An event about no run (hand-offs paused) may concern all.
        let mut changed: Vec<RunId> = batch.runs.iter().map(|run| run.id).collect();
        changed.extend(batch.events.iter().filter_map(|e| e.run_id));
        changed.sort_unstable();
        changed.dedup();
        let for_all = batch.events.iter().any(|e| e.run_id.is_none());
        if let Err(e) = self.store.commit(&batch).await {
            tracing::error!(error = %e, "commit failed");
            self.failed = true;
            return Err(e);
        }
        self.publish(&changed, &ended, for_all);
        for event in batch.events {
            let _ = self.events.send(Arc::new(event));
        }
        Ok(())
    }

    /// `changed`: sorted, the runs the commit touched; `for_all`: it may concern every run.
    fn publish(&mut self, changed: &[RunId], ended: &[RunId], for_all: bool) {
        for id in changed {
            self.refresh(*id);
        }
        let flags = self.machine.desktop_flags();
        if for_all || flags != self.flags {
            self.flags = flags;
            self.tell_moves(changed);
        } else if self.moves_due.is_none() && !self.watched.is_empty() {
            // Told after this request is answered (the loop's timer), not before: the moves
            // are not the request's own news, and a hand-off should not wait for them. With
            // nobody watching there is nobody to tell, and the timer stays off.
            self.moves_due = Some(self.moves_told + QUEUE_MOVES);
        }
        // Dropping the sender after its final value closes the channel: waiters wake and see
        // that the run ended.
        self.ended_cache.clear();
        for id in ended {
            self.watched.remove(id);
            if let Some(tx) = self.statuses.remove(id) {
                self.ended_cache.insert(*id, tx.borrow().clone());
            }
        }
        self.machine.forget(ended);
        self.published_tx
            .send_replace(Arc::new(self.machine.published()));
    }

    /// Brings every watched run but those in `done` (sorted, just refreshed) up to date, and
    /// forgets the runs nobody watches any more.
    fn tell_moves(&mut self, done: &[RunId]) {
        self.watched.retain(|id| {
            self.statuses
                .get(id)
                .is_some_and(|tx| tx.receiver_count() > 0)
        });
        let watched: Vec<RunId> = self
            .watched
            .iter()
            .copied()
            .filter(|id| done.binary_search(id).is_err())
            .collect();
        for id in watched {
            self.refresh(id);
        }
        self.moves_told = Instant::now();
        self.moves_due = None;
    }

    /// Brings run `id`'s channel up to date with the machine (creating it for a new run); its
    /// version goes up only when the status changed.
    fn refresh(&mut self, id: RunId) {
        let Some(mut status) = self.machine.status(id) else {
            return;
        };
        match self.statuses.get(&id) {
            Some(tx) => {
                tx.send_if_modified(|current| {
                    status.version = current.version;
                    if *current == status {
                        return false;
                    }
                    status.version += 1;
                    *current = status;
                    true
                });
            }
            None => {
                status.version = 1;
                self.statuses.insert(id, watch::channel(status).0);
            }
        }
    }

    async fn shutdown(&mut self) {
        self.machine.interrupt_all(Instant::now());
        let _ = self.commit().await;
    }
}
