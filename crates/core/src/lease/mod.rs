//! The leases as a plain state machine: runs, and for each resource (the desktop and the ones
//! the person declared) its holders, its FIFO queue and its fencing counter. No I/O and no
//! async: every request mutates memory and records what must be persisted in a [`Batch`],
//! which the actor commits to SQLite before anyone is answered.
//!
//! A run that needs several resources is granted all of them at once, or waits holding none
//! (DESIGN rule 13): it is granted only when it is first in line for every one of them and
//! each has room, and those behind it in any of its lines wait for it, even for a resource
//! that is free. So the oldest waiting run is first in every line it stands in and is granted
//! as soon as enough holders let go: nobody is starved and nobody deadlocks.
//!
//! Each request validates everything before it changes anything, so a refused request leaves
//! both memory and the batch untouched (DESIGN: bad input changes nothing).
//!
//! This file holds the state and the requests; `views.rs` what the machine shows (status,
//! snapshot, the published state), `internals.rs` the steps the requests are made of. The
//! sentences are [`crate::messages`]', the text rules [`crate::text`]'s.

mod internals;
mod schedules;
mod views;

pub use schedules::Fired;

use internals::{ttl_of, user_only};
pub use views::{DesktopFlags, ended_status};

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use imbl::{OrdMap, Vector};
use tokio::time::Instant;

use crate::clock::Clock;
use crate::error::{Error, Result};
use crate::event::{Event, EventKind};
use crate::messages::{
    Standing, TAKEOVER_MESSAGE, Voice, busy_message, queued_message, state_message,
};
use crate::model::{
    Amendment, Caller, Desktop, Outcome, ResourceState, Run, RunId, RunSpec, RunState, RunStatus,
    Snapshot, Timestamp, Waiting,
};
use crate::published::Published;
use crate::resource::{self, ResourceName, check_capacity};
use crate::schedule::Entry;
use crate::text::{one_line, optional, required};

/// Bounds on what a client may send; beyond them a request is refused, not truncated.
pub mod limits {
    use std::time::Duration;

    /// Longest title, in characters.
    pub const TITLE_CHARS: usize = 200;
    /// Longest client name, in characters.
    pub const CLIENT_CHARS: usize = 64;
    /// Longest reason or outcome note, in characters.
    pub const REASON_CHARS: usize = 500;
    /// Longest amendment, in characters.
    pub const AMEND_CHARS: usize = 4000;
    /// Most unread amendments one run keeps.
    pub const INBOX_LEN: usize = 100;
    /// Shortest heartbeat TTL.
    pub const MIN_TTL: Duration = Duration::from_millis(100);
    /// Longest heartbeat TTL.
    pub const MAX_TTL: Duration = Duration::from_secs(24 * 3600);
}

/// How many runs may be active at once: a flood of submits (from any token, a run's too) is
/// refused before it makes the host slow or runs it out of memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caps {
    /// Active runs in all.
    pub max_active: usize,
    /// Active runs with the same client name.
    pub max_per_client: usize,
}

impl Default for Caps {
    fn default() -> Self {
        Caps {
            max_active: 10_000,
            max_per_client: 1_000,
        }
    }
}

/// Counters the machine resumes from, read from the store at start-up.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Resume {
    /// The last desktop lease token ever granted.
    pub last_token: u64,
    /// The resources the person declared, with their capacities.
    pub declared: Vec<(ResourceName, u32)>,
    /// The last token ever granted of each other resource, also of resources since removed:
    /// one declared again under the same name goes on from there.
    pub tokens: BTreeMap<ResourceName, u64>,
    /// The next run id to hand out.
    pub next_run_id: i64,
    /// The next event sequence number.
    pub next_seq: u64,
    /// Whether hand-offs were paused when Baton stopped.
    pub paused: bool,
    /// The schedule entries.
    pub schedules: Vec<Entry>,
}

/// What one request changed, to be committed in one SQLite transaction.
#[derive(Debug, Default)]
pub struct Batch {
    /// Final rows of every run the request touched.
    pub runs: Vec<Run>,
    /// New events, in order.
    pub events: Vec<Event>,
    /// The new value of each fencing counter a grant moved, the desktop's included.
    pub tokens: BTreeMap<ResourceName, u64>,
    /// The new hand-off pause flag, if it changed.
    pub paused: Option<bool>,
    /// Declared resources whose capacity is new (`Some`) or which were removed (`None`).
    pub declared: BTreeMap<ResourceName, Option<u32>>,
    /// Schedule entries that are new or changed (`Some`), or were removed (`None`).
    pub schedules: BTreeMap<String, Option<Entry>>,
}

impl Batch {
    /// Whether there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.runs.is_empty()
            && self.events.is_empty()
            && self.tokens.is_empty()
            && self.paused.is_none()
            && self.declared.is_empty()
            && self.schedules.is_empty()
    }
}

/// One resource's holders and queue. Cloned into every publication, which is O(1): the
/// collections are persistent ones.
#[derive(Debug, Clone)]
pub struct Pool {
    /// How many runs may hold it at once.
    pub capacity: u32,
    /// Who holds it, with the grant each holds it by.
    pub holders: OrdMap<RunId, Grant>,
    /// Who waits for it, first in line first.
    pub queue: Vector<RunId>,
    /// The last token granted of it.
    pub last_token: u64,
}

impl Pool {
    fn new(capacity: u32, last_token: u64) -> Self {
        Pool {
            capacity,
            holders: OrdMap::new(),
            queue: Vector::new(),
            last_token,
        }
    }

    /// Whether one more run may hold it.
    pub fn has_room(&self) -> bool {
        self.holders.len() < self.capacity as usize
    }

    /// The holder that has held it longest (the one a waiter is said to be behind).
    pub fn longest_holder(&self) -> Option<RunId> {
        self.holders
            .iter()
            .min_by_key(|(id, grant)| (grant.token, **id))
            .map(|(id, _)| *id)
    }
}

/// One grant of a resource to a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grant {
    /// Its fencing token.
    pub token: u64,
    /// When it was granted.
    pub since: Timestamp,
}

#[derive(Debug)]
struct Active {
    run: Run,
    /// Unread corrections.
    inbox: Vec<Amendment>,
    /// Corrections ever sent, so numbers never repeat after read ones are dropped.
    notes_sent: u32,
    /// Past this instant without a heartbeat the run expires (DESIGN rule 9).
    deadline: Instant,
    /// Open connections bound to this run's life; when the last one closes, it expires.
    attachments: BTreeSet<u64>,
}

/// The lease state machine. See the module docs.
///
/// No request costs more as the queue grows, apart from finding one run's place in it (a scan
/// of ids): deadlines are kept in order, active runs are counted as they come and go, and the
/// queue and rows are the persistent collections [`Published`] shares.
#[derive(Debug)]
pub struct Machine {
    clock: Arc<dyn Clock>,
    default_ttl: Duration,
    caps: Caps,
    runs: BTreeMap<RunId, Active>,
    /// Every resource, the desktop's always there, by name.
    pools: OrdMap<ResourceName, Pool>,
    /// The stored rows of the active runs, updated as batches are taken.
    rows: OrdMap<RunId, Arc<Run>>,
    /// The last token of every resource ever declared, removed ones too (never reused).
    tokens: BTreeMap<ResourceName, u64>,
    /// Heartbeat deadlines of the active runs, earliest first.
    deadlines: BTreeSet<(Instant, RunId)>,
    /// Active runs in all, and by client name.
    active_count: usize,
    per_client: HashMap<String, usize>,
    /// The person at the computer took over from the desktop's holder: its input is refused
    /// until resumed. Cleared whenever the desktop changes hands, so it ends with the holding.
    holder_paused: bool,
    /// Hand-offs of the desktop are paused.
    paused: bool,
    /// The user OKs each run that takes the free desktop (a setting, off by default).
    ask_first: bool,
    /// The head of the queue, while it waits for that OK. Set only when `ask_first`, nobody
    /// holds and hand-offs are not paused; [`Machine::reask`] keeps it so.
    awaiting_ok: Option<RunId>,
    /// The host starts private displays, so their pool is built in and stays.
    displays_built_in: bool,
    /// The schedule entries, by name; shared with every publication.
    schedules: OrdMap<String, Entry>,
    next_run_id: i64,
    next_seq: u64,
    next_attach: u64,
    dirty: BTreeSet<RunId>,
    batch: Batch,
}

impl Machine {
    /// A machine with no active runs, continuing the persisted counters.
    pub fn new(clock: Arc<dyn Clock>, default_ttl: Duration, caps: Caps, resume: Resume) -> Self {
        let mut pools = OrdMap::new();
        pools.insert(ResourceName::desktop(), Pool::new(1, resume.last_token));
        for (name, capacity) in resume.declared {
            let last_token = resume.tokens.get(&name).copied().unwrap_or(0);
            pools.insert(name, Pool::new(capacity, last_token));
        }
        Machine {
            clock,
            default_ttl,
            caps,
            runs: BTreeMap::new(),
            pools,
            tokens: resume.tokens,
            rows: OrdMap::new(),
            deadlines: BTreeSet::new(),
            active_count: 0,
            per_client: HashMap::new(),
            holder_paused: false,
            paused: resume.paused,
            ask_first: false,
            awaiting_ok: None,
            displays_built_in: false,
            schedules: resume
                .schedules
                .into_iter()
                .map(|entry| (entry.spec.name.clone(), entry))
                .collect(),
            next_run_id: resume.next_run_id,
            next_seq: resume.next_seq,
            next_attach: 1,
            dirty: BTreeSet::new(),
            batch: Batch::default(),
        }
    }

    /// The same machine, asking the user before each run takes the free desktop (the setting,
    /// as the host starts with it).
    pub fn asking_first(mut self, ask_first: bool) -> Self {
        self.ask_first = ask_first;
        self
    }

    /// With the pool of private displays built in, as the desktop is (DESIGN rule 14): the host
    /// starts them, so the pool is there from the start with `capacity` (unless the person
    /// set another, which was stored), and cannot be removed. No event declares it: it is not
    /// the person's doing, and its tokens go on from the stored counter like any resource's.
    pub fn with_private_displays(mut self, capacity: Option<u32>) -> Self {
        let Some(capacity) = capacity else {
            return self;
        };
        self.displays_built_in = true;
        let name = ResourceName::displays();
        if !self.pools.contains_key(&name) {
            let last_token = self.tokens.get(&name).copied().unwrap_or(0);
            self.pools.insert(name, Pool::new(capacity, last_token));
        }
        self
    }

    // ----- requests -------------------------------------------------------------------------

    /// `submit`: a new run. Desktop runs get the lease or a queue place (or, with
    /// `queue: false`, are withdrawn at once when the desktop is busy). A run's token submits
    /// only while its run is active, so a stray child of a stopped agent cannot take the
    /// desktop back.
    pub fn submit(&mut self, spec: RunSpec, caller: &Caller, now: Instant) -> Result<RunId> {
        if let Caller::Run(by) = caller
            && !self.is_active(*by)
        {
            return Err(Error::Forbidden(format!(
                "run #{by} has ended, so its token can no longer submit runs; only a live run, or the user, can"
            )));
        }
        let checked = self.validate_spec(&spec)?;
        self.check_caps(spec.client.trim())?;
        let may_queue = spec.queue;
        let id = self.create(spec, checked, None, now);
        self.place(id, may_queue, now);
        Ok(id)
    }

    /// `heartbeat`: the run is alive; its TTL starts again. Inbox notes numbered `read_up_to`
    /// and below have been read and are dropped.
    pub fn heartbeat(
        &mut self,
        id: RunId,
        caller: &Caller,
        read_up_to: u32,
        now: Instant,
    ) -> Result<()> {
        self.only_self(id, caller, "send heartbeats for")?;
        let active = self.active_mut(id)?;
        active.inbox.retain(|note| note.n > read_up_to);
        self.renew(id, now);
        Ok(())
    }

    /// `attach`: binds the run's life to a connection as well as to its heartbeat. Returns the
    /// attachment id to pass to [`Machine::detach`] when the connection closes.
    pub fn attach(&mut self, id: RunId, caller: &Caller, now: Instant) -> Result<u64> {
        self.only_self(id, caller, "attach to")?;
        let attach_id = self.next_attach;
        self.active_mut(id)?.attachments.insert(attach_id);
        self.renew(id, now);
        self.next_attach += 1;
        Ok(attach_id)
    }

    /// A connection bound to the run closed. When it was the last one and the run is still
    /// active, the run expires at once: its client is gone (DESIGN rule 9).
    pub fn detach(&mut self, id: RunId, attach_id: u64, now: Instant) {
        let Some(active) = self.runs.get_mut(&id) else {
            return;
        };
        if !active.attachments.remove(&attach_id) || !active.attachments.is_empty() {
            return;
        }
        if active.run.state.is_active() {
            self.end(
                id,
                RunState::Expired,
                EventKind::Expired {
                    reason: "its connection to Baton closed".into(),
                },
                now,
            );
        }
    }

    /// `amend`: appends a correction to the run's inbox. Nothing is cancelled or requeued.
    pub fn amend(&mut self, id: RunId, caller: &Caller, text: &str) -> Result<u32> {
        self.amend_with(id, caller, text, None)
    }

    /// `amend` with a reason: the user corrects any run; a run corrects its own inbox, and
    /// another run's only to relay the user's correction, saying so (`reason`: the user's
    /// words), and only while it is active itself. The relay is recorded with the reason.
    pub fn amend_with(
        &mut self,
        id: RunId,
        caller: &Caller,
        text: &str,
        reason: Option<&str>,
    ) -> Result<u32> {
        let text = required(text, "the correction", limits::AMEND_CHARS)?;
        let reason = optional(reason, "the reason", limits::REASON_CHARS)?;
        let by = match (caller, reason) {
            (Caller::Run(by), reason) if *by != id => {
                let Some(reason) = reason else {
                    return Err(Error::Forbidden(format!(
                        "run #{by} may write to run #{id}'s inbox only to relay the user's correction: give the user's words as the reason"
                    )));
                };
                if !self.is_active(*by) {
                    return Err(Error::Forbidden(format!(
                        "run #{by} has ended, so it can no longer relay corrections"
                    )));
                }
                format!("{caller} relaying the user: {reason}")
            }
            _ => caller.to_string(),
        };
        let at = self.clock.now();
        let active = self.active_mut(id)?;
        if active.inbox.len() >= limits::INBOX_LEN {
            return Err(Error::InvalidState(format!(
                "run #{id} already has {} unread corrections; it is not reading its inbox",
                limits::INBOX_LEN
            )));
        }
        active.notes_sent += 1;
        let n = active.notes_sent;
        active.inbox.push(Amendment {
            n,
            at,
            by: by.clone(),
            text: text.clone(),
        });
        self.event(Some(id), EventKind::Amended { n, by, text });
        Ok(n)
    }

    /// `cancel` (DESIGN rule 6, and the lease's part of rule 7): only the user, or a run relaying the user's stop for
    /// *another* run with a reason. The lease is released at once and handed on.
    pub fn cancel(
        &mut self,
        id: RunId,
        caller: &Caller,
        reason: Option<&str>,
        now: Instant,
    ) -> Result<Run> {
        let reason = optional(reason, "the reason", limits::REASON_CHARS)?;
        if let Caller::Run(by) = caller {
            if *by == id {
                return Err(Error::SelfCancel(id));
            }
            if reason.is_none() {
                return Err(Error::Invalid(format!(
                    "run #{by} may relay the user's stop for run #{id} only with a reason saying what the user asked"
                )));
            }
            if !self.is_active(*by) {
                return Err(Error::Forbidden(format!(
                    "run #{by} has ended, so it can no longer relay the user's stop"
                )));
            }
        }
        self.active(id)?;
        Ok(self.cancel_unchecked(id, caller, reason, None, now))
    }

    /// `stop holder`: the user cancels whoever holds the desktop now. `None` when it is free.
    ///
    /// `only`: the holder the user saw. If the desktop has changed hands since (a double click
    /// lands after the hand-off), nothing is stopped: the user never saw the new holder.
    pub fn stop_holder(
        &mut self,
        caller: &Caller,
        reason: Option<&str>,
        only: Option<RunId>,
        now: Instant,
    ) -> Result<Option<Run>> {
        user_only(caller, "stop the desktop holder")?;
        let reason = optional(reason, "the reason", limits::REASON_CHARS)?;
        match (self.desktop_holder().map(|(id, _)| id), only) {
            (Some(holder), Some(seen)) if holder != seen => Err(Error::InvalidState(format!(
                "the desktop changed hands: {} holds it now, not run #{seen}; nothing was stopped",
                self.runs[&holder].run.label()
            ))),
            (None, Some(seen)) => Err(Error::InvalidState(format!(
                "run #{seen} no longer holds the desktop, which is free; nothing was stopped"
            ))),
            (holder, _) => {
                Ok(holder.map(|id| self.cancel_unchecked(id, caller, reason, None, now)))
            }
        }
    }

    /// `pause` / `resume` hand-offs. While paused the holder goes on but nobody new is granted.
    pub fn set_paused(&mut self, paused: bool, caller: &Caller, now: Instant) -> Result<bool> {
        user_only(
            caller,
            if paused {
                "pause hand-offs"
            } else {
                "resume hand-offs"
            },
        )?;
        if self.paused == paused {
            return Ok(false);
        }
        self.paused = paused;
        self.batch.paused = Some(paused);
        let by = caller.clone();
        let kind = if paused {
            EventKind::HandoffsPaused { by }
        } else {
            EventKind::HandoffsResumed { by }
        };
        self.event(None, kind);
        self.settle([ResourceName::desktop()], None, now);
        Ok(true)
    }

    /// `front`: the user moves a queued run to the head of every queue it waits in (DESIGN
    /// rule 4); it starts at once if that is all it waited for.
    pub fn front(&mut self, id: RunId, caller: &Caller, now: Instant) -> Result<()> {
        user_only(caller, "reorder the queue")?;
        let run = &self.active(id)?.run;
        if run.state != RunState::Queued || run.resources.is_empty() {
            return Err(Error::InvalidState(format!(
                "run #{id} is not waiting for the desktop or another resource (it is {}); only queued runs can move",
                run.state
            )));
        }
        let mut moved = Vec::new();
        for resource in self.needs_of(id) {
            let pool = self.pool_mut(&resource);
            if let Some(index) = pool.queue.index_of(&id).filter(|index| *index > 0) {
                pool.queue.remove(index);
                pool.queue.push_front(id);
                moved.push(resource.clone());
                self.event(
                    Some(id),
                    EventKind::Reordered {
                        position: 1,
                        by: caller.clone(),
                        resource,
                    },
                );
            }
        }
        self.settle(moved, None, now);
        Ok(())
    }

    /// `allow`: the user OKs the run that waits for it at the head of the queue, which takes
    /// the free desktop now. Only that run: an answer about one run never lets another in.
    pub fn allow(&mut self, id: RunId, caller: &Caller, now: Instant) -> Result<()> {
        user_only(caller, "allow a run to take the desktop")?;
        let run = &self.active(id)?.run;
        let holder = self.desktop_holder().map(|(holder, _)| holder);
        if self.awaiting_ok != Some(id) {
            let why = if holder == Some(id) {
                format!("run #{id} already holds the desktop")
            } else if let Some(other) = self.awaiting_ok {
                format!(
                    "run #{id} is not the one waiting for your OK; {} is",
                    self.runs[&other].run.label()
                )
            } else if run.state == RunState::Queued && holder.is_some() {
                format!("run #{id} waits for the desktop, which is busy; nothing to allow yet")
            } else if run.state == RunState::Queued && self.paused {
                format!(
                    "run #{id} waits for hand-offs to resume, which you paused; nothing to allow yet"
                )
            } else {
                format!("run #{id} is not waiting for your OK (it is {})", run.state)
            };
            return Err(Error::InvalidState(format!("{why}; nothing was allowed")));
        }
        self.awaiting_ok = None;
        self.event(Some(id), EventKind::Allowed { by: caller.clone() });
        let needs = self.needs_of(id);
        self.grant(id, None, now);
        // Its lines have new heads, which may go now where there is more room.
        self.settle(needs, None, now);
        Ok(())
    }

    /// The user turns asking before each grant on or off. Off: the run waiting for the OK
    /// takes the desktop at once. Returns whether anything changed.
    pub fn set_ask_first(
        &mut self,
        ask_first: bool,
        caller: &Caller,
        now: Instant,
    ) -> Result<bool> {
        user_only(
            caller,
            "change whether Baton asks before a run takes the desktop",
        )?;
        if self.ask_first == ask_first {
            return Ok(false);
        }
        self.ask_first = ask_first;
        self.settle([ResourceName::desktop()], None, now);
        Ok(true)
    }

    /// `finish`: the run ends itself with an outcome; its lease is handed on.
    pub fn finish(
        &mut self,
        id: RunId,
        caller: &Caller,
        outcome: Outcome,
        exit_code: Option<i32>,
        note: Option<&str>,
        now: Instant,
    ) -> Result<Run> {
        self.only_self(id, caller, "finish")?;
        let note = optional(note, "the outcome note", limits::REASON_CHARS)?;
        let run = &self.active(id)?.run;
        if run.state == RunState::Queued && run.started_at.is_none() {
            return Err(Error::InvalidState(format!(
                "run #{id} has not started yet; withdraw it instead of finishing it"
            )));
        }
        let (state, default_note) = match outcome {
            Outcome::Succeeded => (RunState::Succeeded, "succeeded"),
            Outcome::Failed => (RunState::Failed, "failed"),
        };
        let run = &mut self.active_mut(id)?.run;
        run.exit_code = exit_code;
        run.outcome = Some(note.unwrap_or_else(|| match exit_code {
            Some(code) => format!("exited with code {code}"),
            None => default_note.to_string(),
        }));
        Ok(self.end(id, state, EventKind::Finished { outcome, exit_code }, now))
    }

    /// `release`: the run gives back everything it holds (or stops waiting for it again) and
    /// goes on in parallel.
    pub fn release(&mut self, id: RunId, caller: &Caller, now: Instant) -> Result<()> {
        self.only_self(id, caller, "release the desktop for")?;
        let run = &self.active(id)?.run;
        if self.holds_any(id) {
            self.set_state(id, RunState::Running);
            self.release_all(id, now);
            return Ok(());
        }
        if run.state == RunState::Queued && run.started_at.is_some() {
            let left = self.unqueue(id);
            self.set_state(id, RunState::Running);
            for resource in &left {
                self.event(
                    Some(id),
                    EventKind::Released {
                        lease_token: None,
                        handed_to: None,
                        resource: resource.clone(),
                    },
                );
            }
            self.settle(left, None, now);
            return Ok(());
        }
        Err(Error::InvalidState(format!(
            "run #{id} does not hold the desktop, so there is nothing to release"
        )))
    }

    /// `acquire`: a running run asks for `resources` (again), all at once; it queues at the
    /// back of each line. A run that holds or waits for something may only ask for what it
    /// already has or waits for: asking for more while holding is how two runs deadlock
    /// (DESIGN rule 13), so it releases first and asks for everything together.
    pub fn acquire(
        &mut self,
        id: RunId,
        caller: &Caller,
        resources: &[ResourceName],
        now: Instant,
    ) -> Result<()> {
        self.only_self(id, caller, "acquire the desktop for")?;
        let wanted = self.known(resources.iter().cloned())?;
        let run = &self.active(id)?.run;
        if run.state == RunState::Queued || self.holds_any(id) {
            let more: Vec<&str> = wanted
                .iter()
                .filter(|r| !run.needs(r))
                .map(ResourceName::as_str)
                .collect();
            if more.is_empty() {
                return Ok(());
            }
            let doing = if run.state == RunState::Queued {
                "waits for"
            } else {
                "holds"
            };
            let has: Vec<&str> = run.resources.iter().map(ResourceName::as_str).collect();
            return Err(Error::InvalidState(format!(
                "run #{id} {doing} {} and cannot ask for {} as well: a run asks for everything it needs at once, so release first, then acquire all of it together",
                has.join(", "),
                more.join(", ")
            )));
        }
        if wanted.is_empty() {
            return Err(Error::Invalid("acquire needs at least one resource".into()));
        }
        let run = &mut self.active_mut(id)?.run;
        run.needs_desktop = wanted.iter().any(ResourceName::is_desktop);
        run.resources = wanted;
        self.dirty.insert(id);
        self.place(id, true, now);
        Ok(())
    }

    /// `withdraw`: the run's own client gives up waiting before the run started.
    pub fn withdraw(
        &mut self,
        id: RunId,
        caller: &Caller,
        reason: Option<&str>,
        now: Instant,
    ) -> Result<Run> {
        self.only_self(id, caller, "withdraw")?;
        let reason = optional(reason, "the reason", limits::REASON_CHARS)?;
        let run = &self.active(id)?.run;
        if run.state != RunState::Queued || run.started_at.is_some() {
            return Err(Error::InvalidState(format!(
                "run #{id} has already started; finish it or release the desktop instead"
            )));
        }
        let reason = reason.unwrap_or_else(|| "its client stopped waiting".into());
        Ok(self.end(
            id,
            RunState::Withdrawn,
            EventKind::Withdrawn { reason },
            now,
        ))
    }

    /// `replace`: the user cancels a run and puts a new one in its place: its queue slot, or the
    /// lease directly if it held it.
    pub fn replace(
        &mut self,
        old: RunId,
        spec: RunSpec,
        caller: &Caller,
        now: Instant,
    ) -> Result<RunId> {
        user_only(caller, "replace a run")?;
        let checked = self.validate_spec(&spec)?;
        let old_run = &self.active(old)?.run;
        // The old run's place is freed, but a new client name takes a place of its own.
        if old_run.client != spec.client.trim() {
            self.check_caps_of_client(spec.client.trim())?;
        }
        // What the old run holds or waits for passes to the new one when it needs exactly
        // the same; otherwise the new run starts afresh.
        let same = !checked.needs.is_empty() && checked.needs == old_run.resources;
        let held = same && self.holds_any(old);
        let queued = same && old_run.state == RunState::Queued;
        let new = self.create(spec, checked, Some(old), now);
        let reason = Some(format!("replaced by run #{new}"));

        if held {
            // The replacement takes the leases straight from the old run, bypassing the
            // queues: the user asked for exactly this.
            self.end_without_handoff(old, caller, reason, new);
            self.grant(new, Some(old), now);
        } else if queued {
            let slots: Vec<(ResourceName, usize)> = self
                .needs_of(new)
                .into_iter()
                .filter_map(|r| {
                    let index = self.pool(&r).queue.index_of(&old)?;
                    Some((r, index))
                })
                .collect();
            self.end_without_handoff(old, caller, reason, new);
            self.set_state(new, RunState::Queued);
            for (resource, index) in slots {
                let pool = self.pool_mut(&resource);
                pool.queue.set(index, new);
                let behind = pool.longest_holder();
                self.event(
                    Some(new),
                    EventKind::Queued {
                        position: index + 1,
                        behind,
                        resource,
                    },
                );
            }
            self.reask();
        } else {
            self.cancel_unchecked(old, caller, reason, Some(new), now);
            self.place(new, true, now);
        }
        Ok(new)
    }

    /// Expires every run whose heartbeat deadline has passed (DESIGN rule 9).
    pub fn expire_due(&mut self, now: Instant) {
        let due: Vec<(Instant, RunId)> = self
            .deadlines
            .iter()
            .take_while(|(deadline, _)| *deadline <= now)
            .copied()
            .collect();
        for (_, id) in due {
            let ttl = ttl_of(&self.runs[&id].run);
            self.end(
                id,
                RunState::Expired,
                EventKind::Expired {
                    reason: format!("no heartbeat for {}", humantime::format_duration(ttl)),
                },
                now,
            );
        }
    }

    /// The earliest heartbeat deadline among active runs.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.deadlines.first().map(|(deadline, _)| *deadline)
    }

    /// Baton is stopping: every active run ends `interrupted`, nobody is granted.
    pub fn interrupt_all(&mut self, now: Instant) {
        self.release_for_shutdown();
        let ids: Vec<RunId> = self.runs.keys().copied().collect();
        for id in ids {
            if self.runs[&id].run.state.is_active() {
                self.end(id, RunState::Interrupted, EventKind::Interrupted, now);
            }
        }
    }

    /// The person at the computer takes over: the holder keeps the lease and its place, but its
    /// input is refused until [`Machine::resume_holder`]. Returns whether anything changed.
    pub fn pause_holder(&mut self, caller: &Caller) -> Result<bool> {
        self.set_holder_paused(caller, true, None)
    }

    /// The holder may send input again.
    pub fn resume_holder(&mut self, caller: &Caller) -> Result<bool> {
        self.set_holder_paused(caller, false, None)
    }

    /// Pauses (`true`) or resumes the holder only if it is still run `only`: what was seen of
    /// one holder (the person's input, a notification about it) never acts on the next one.
    /// `Ok(false)`, changing nothing, when someone else holds the desktop by now.
    pub fn set_holder_paused_if(
        &mut self,
        only: RunId,
        paused: bool,
        caller: &Caller,
    ) -> Result<bool> {
        self.set_holder_paused(caller, paused, Some(only))
    }

    fn set_holder_paused(
        &mut self,
        caller: &Caller,
        paused: bool,
        only: Option<RunId>,
    ) -> Result<bool> {
        user_only(
            caller,
            if paused {
                "pause the desktop holder"
            } else {
                "resume the desktop holder"
            },
        )?;
        let Some((id, _)) = self.desktop_holder() else {
            return Err(Error::InvalidState(
                "nobody holds the desktop, so there is no holder to pause or resume".into(),
            ));
        };
        if only.is_some_and(|only| only != id) {
            return Ok(false);
        }
        if self.holder_paused == paused {
            return Ok(false);
        }
        self.holder_paused = paused;
        let by = caller.clone();
        let kind = if paused {
            EventKind::HolderPaused { by }
        } else {
            EventKind::HolderResumed { by }
        };
        self.event(Some(id), kind);
        Ok(true)
    }

    /// `resource add`: the person declares a resource that runs may then need.
    pub fn add_resource(
        &mut self,
        name: ResourceName,
        capacity: u32,
        caller: &Caller,
    ) -> Result<ResourceState> {
        user_only(caller, "declare a resource")?;
        check_capacity(capacity)?;
        if let Some(pool) = self.pools.get(&name) {
            return Err(if name.is_desktop() {
                Error::InvalidState("'desktop' is built in; it needs no declaring".into())
            } else {
                Error::InvalidState(format!(
                    "'{name}' is already declared, with capacity {}; change its capacity instead",
                    pool.capacity
                ))
            });
        }
        if self.pools.len() > resource::limits::MAX_DECLARED {
            return Err(Error::InvalidState(format!(
                "{} resources are declared, the most Baton takes; remove one first",
                resource::limits::MAX_DECLARED
            )));
        }
        let last_token = self.tokens.get(&name).copied().unwrap_or(0);
        self.pools
            .insert(name.clone(), Pool::new(capacity, last_token));
        self.batch.declared.insert(name.clone(), Some(capacity));
        self.event(
            None,
            EventKind::ResourceAdded {
                resource: name.clone(),
                capacity,
                by: caller.clone(),
            },
        );
        Ok(self.resource_state(&name).expect("just declared"))
    }

    /// `resource capacity`: how many runs may hold a resource at once. It applies at once:
    /// more room grants whoever may go now; less lets the holders keep theirs, and nobody new
    /// is granted until they are within it. Returns the resource as it is then.
    pub fn set_capacity(
        &mut self,
        name: &ResourceName,
        capacity: u32,
        caller: &Caller,
        now: Instant,
    ) -> Result<ResourceState> {
        user_only(caller, "change a resource's capacity")?;
        check_capacity(capacity)?;
        if name.is_desktop() {
            return Err(Error::InvalidState(
                "the desktop's capacity is 1: there is one mouse and one keyboard".into(),
            ));
        }
        let Some(pool) = self.pools.get_mut(name) else {
            return Err(self.unknown_resource(name));
        };
        if pool.capacity == capacity {
            return Ok(self.resource_state(name).expect("a known resource"));
        }
        pool.capacity = capacity;
        self.batch.declared.insert(name.clone(), Some(capacity));
        self.event(
            None,
            EventKind::CapacityChanged {
                resource: name.clone(),
                capacity,
                by: caller.clone(),
            },
        );
        self.settle([name.clone()], None, now);
        Ok(self.resource_state(name).expect("a known resource"))
    }

    /// `resource remove`: only while nobody holds the resource or waits for it.
    pub fn remove_resource(&mut self, name: &ResourceName, caller: &Caller) -> Result<()> {
        user_only(caller, "remove a resource")?;
        if name.is_desktop() {
            return Err(Error::InvalidState(
                "the desktop is built in and cannot be removed".into(),
            ));
        }
        if self.displays_built_in && *name == ResourceName::displays() {
            return Err(Error::InvalidState(
                "'displays' is built in: it is the pool of private displays this host starts; change its capacity instead".into(),
            ));
        }
        let Some(pool) = self.pools.get(name) else {
            return Err(self.unknown_resource(name));
        };
        if !pool.holders.is_empty() || !pool.queue.is_empty() {
            let holders: Vec<String> = pool
                .holders
                .keys()
                .map(|id| self.runs[id].run.label())
                .collect();
            let held = match holders.len() {
                0 => "nobody holds it".to_string(),
                _ => format!("{} holds it", holders.join(" and ")),
            };
            return Err(Error::InvalidState(format!(
                "'{name}' is in use: {held}, and {} waiting; it can be removed once nobody holds it or waits for it",
                match pool.queue.len() {
                    1 => "1 run is".to_string(),
                    n => format!("{n} runs are"),
                }
            )));
        }
        self.pools.remove(name);
        self.batch.declared.insert(name.clone(), None);
        self.event(
            None,
            EventKind::ResourceRemoved {
                resource: name.clone(),
                by: caller.clone(),
            },
        );
        Ok(())
    }

    /// Changes the caps on active runs, for submits from now on; runs already active stay.
    pub fn set_caps(&mut self, caps: Caps, caller: &Caller) -> Result<()> {
        user_only(caller, "change the caps on active runs")?;
        if caps.max_active == 0 || caps.max_per_client == 0 {
            return Err(Error::Invalid(
                "a cap on active runs must be at least 1".into(),
            ));
        }
        self.caps = caps;
        Ok(())
    }

    /// Changes the TTL for runs submitted from now on that do not ask for their own.
    pub fn set_default_ttl(&mut self, ttl: Duration, caller: &Caller) -> Result<()> {
        user_only(caller, "change the default heartbeat TTL")?;
        check_ttl(ttl)?;
        self.default_ttl = ttl;
        Ok(())
    }
}

/// A heartbeat TTL within [`limits::MIN_TTL`] and [`limits::MAX_TTL`].
pub fn check_ttl(ttl: Duration) -> Result<()> {
    if (limits::MIN_TTL..=limits::MAX_TTL).contains(&ttl) {
        Ok(())
    } else {
        Err(Error::Invalid(format!(
            "a heartbeat TTL of {} ms is out of range: it must be between {} ms and {} hours",
            ttl.as_millis(),
            limits::MIN_TTL.as_millis(),
            limits::MAX_TTL.as_secs() / 3600
        )))
    }
}

/// A heartbeat TTL given in seconds (a flag, a setting), within the bounds [`check_ttl`] keeps.
/// Compared as a number first: a huge or non-finite value does not even fit a [`Duration`].
pub fn ttl_from_secs(seconds: f64) -> Result<Duration> {
    if (limits::MIN_TTL.as_secs_f64()..=limits::MAX_TTL.as_secs_f64()).contains(&seconds) {
        Ok(Duration::from_secs_f64(seconds))
    } else {
        Err(Error::Invalid(format!(
            "A heartbeat TTL must be between {} seconds and {} hours; {seconds} is not.",
            limits::MIN_TTL.as_secs_f64(),
            limits::MAX_TTL.as_secs() / 3600
        )))
    }
}
