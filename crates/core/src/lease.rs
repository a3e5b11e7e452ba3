//! The desktop lease as a plain state machine: runs, the FIFO queue, the holder and the fencing
//! counter. No I/O and no async: every request mutates memory and records what must be persisted
//! in a [`Batch`], which the actor commits to SQLite before anyone is answered.
//!
//! Each request validates everything before it changes anything, so a refused request leaves
//! both memory and the batch untouched (DESIGN: bad input changes nothing).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use imbl::{OrdMap, Vector};
use tokio::time::Instant;

use crate::clock::Clock;
use crate::error::{Error, Result};
use crate::event::{Event, EventKind};
use crate::model::{
    AWAITING_OK_MESSAGE, Amendment, Caller, Desktop, Outcome, Run, RunId, RunSpec, RunState,
    RunStatus, Snapshot, Timestamp, busy_message, queued_message,
};
use crate::published::Published;

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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resume {
    /// The last lease token ever granted.
    pub last_token: u64,
    /// The next run id to hand out.
    pub next_run_id: i64,
    /// The next event sequence number.
    pub next_seq: u64,
    /// Whether hand-offs were paused when Baton stopped.
    pub paused: bool,
}

/// What one request changed, to be committed in one SQLite transaction.
#[derive(Debug, Default)]
pub struct Batch {
    /// Final rows of every run the request touched.
    pub runs: Vec<Run>,
    /// New events, in order.
    pub events: Vec<Event>,
    /// The new value of the fencing counter, if a grant happened.
    pub last_token: Option<u64>,
    /// The new hand-off pause flag, if it changed.
    pub paused: Option<bool>,
}

impl Batch {
    /// Whether there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.runs.is_empty()
            && self.events.is_empty()
            && self.last_token.is_none()
            && self.paused.is_none()
    }
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

#[derive(Debug, Clone, Copy)]
struct Holder {
    id: RunId,
    token: u64,
    since: Timestamp,
    /// The person at the computer took over: input is refused until resumed. Part of the
    /// holder, so it ends with the holding.
    paused: bool,
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
    queue: Vector<RunId>,
    /// The stored rows of the active runs, updated as batches are taken.
    rows: OrdMap<RunId, Arc<Run>>,
    /// Heartbeat deadlines of the active runs, earliest first.
    deadlines: BTreeSet<(Instant, RunId)>,
    /// Active runs in all, and by client name.
    active_count: usize,
    per_client: HashMap<String, usize>,
    holder: Option<Holder>,
    paused: bool,
    /// The user OKs each run that takes the free desktop (a setting, off by default).
    ask_first: bool,
    /// The head of the queue, while it waits for that OK. Set only when `ask_first`, nobody
    /// holds and hand-offs are not paused; [`Machine::reask`] keeps it so.
    awaiting_ok: Option<RunId>,
    last_token: u64,
    next_run_id: i64,
    next_seq: u64,
    next_attach: u64,
    dirty: BTreeSet<RunId>,
    batch: Batch,
}

impl Machine {
    /// A machine with no active runs, continuing the persisted counters.
    pub fn new(clock: Arc<dyn Clock>, default_ttl: Duration, caps: Caps, resume: Resume) -> Self {
        Machine {
            clock,
            default_ttl,
            caps,
            runs: BTreeMap::new(),
            queue: Vector::new(),
            rows: OrdMap::new(),
            deadlines: BTreeSet::new(),
            active_count: 0,
            per_client: HashMap::new(),
            holder: None,
            paused: resume.paused,
            ask_first: false,
            awaiting_ok: None,
            last_token: resume.last_token,
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

    // ----- requests -------------------------------------------------------------------------

    /// `submit`: a new run. Desktop runs get the lease or a queue place (or, with
    /// `queue: false`, are withdrawn at once when the desktop is busy).
    pub fn submit(&mut self, spec: RunSpec, now: Instant) -> Result<RunId> {
        self.submit_by(spec, &Caller::user("api"), now)
    }

    /// `submit` by `caller`: a run's token submits only while its run is active, so a stray
    /// child of a stopped agent cannot take the desktop back.
    pub fn submit_by(&mut self, spec: RunSpec, caller: &Caller, now: Instant) -> Result<RunId> {
        if let Caller::Run(by) = caller
            && !self.is_active(*by)
        {
            return Err(Error::Forbidden(format!(
                "run #{by} has ended, so its token can no longer submit runs; only a live run, or the user, can"
            )));
        }
        let ttl = self.validate_spec(&spec)?;
        self.check_caps(spec.client.trim())?;
        let may_queue = spec.queue;
        let id = self.create(spec, ttl, None, now);
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
                format!("{} relaying the user: {reason}", caller.label())
            }
            _ => caller.label(),
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
        match (self.holder, only) {
            (Some(holder), Some(seen)) if holder.id != seen => Err(Error::InvalidState(format!(
                "the desktop changed hands: {} holds it now, not run #{seen}; nothing was stopped",
                self.runs[&holder.id].run.label()
            ))),
            (None, Some(seen)) => Err(Error::InvalidState(format!(
                "run #{seen} no longer holds the desktop, which is free; nothing was stopped"
            ))),
            (holder, _) => {
                Ok(holder.map(|h| self.cancel_unchecked(h.id, caller, reason, None, now)))
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
        let by = caller.label();
        let kind = if paused {
            EventKind::HandoffsPaused { by }
        } else {
            EventKind::HandoffsResumed { by }
        };
        self.event(None, kind);
        self.grant_next(None, now);
        Ok(true)
    }

    /// `front`: the user moves a queued run to the head of the queue (DESIGN rule 4).
    pub fn front(&mut self, id: RunId, caller: &Caller) -> Result<()> {
        user_only(caller, "reorder the queue")?;
        let state = self.active(id)?.run.state;
        let Some(index) = self.queue.index_of(&id) else {
            return Err(Error::InvalidState(format!(
                "run #{id} is not waiting for the desktop (it is {state}); only queued runs can move"
            )));
        };
        if index > 0 {
            self.queue.remove(index);
            self.queue.push_front(id);
            self.event(
                Some(id),
                EventKind::Reordered {
                    position: 1,
                    by: caller.label(),
                },
            );
            self.reask();
        }
        Ok(())
    }

    /// `allow`: the user OKs the run that waits for it at the head of the queue, which takes
    /// the free desktop now. Only that run: an answer about one run never lets another in.
    pub fn allow(&mut self, id: RunId, caller: &Caller, now: Instant) -> Result<()> {
        user_only(caller, "allow a run to take the desktop")?;
        let run = &self.active(id)?.run;
        if self.awaiting_ok != Some(id) {
            let why = if self.holder.is_some_and(|h| h.id == id) {
                format!("run #{id} already holds the desktop")
            } else if let Some(other) = self.awaiting_ok {
                format!(
                    "run #{id} is not the one waiting for your OK; {} is",
                    self.runs[&other].run.label()
                )
            } else if run.state == RunState::Queued && self.holder.is_some() {
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
        self.queue.pop_front();
        self.event(Some(id), EventKind::Allowed { by: caller.label() });
        self.grant(id, None, now);
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
        self.grant_next(None, now);
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

    /// `release`: the run gives the desktop back (or stops waiting for it again) and goes on in
    /// parallel.
    pub fn release(&mut self, id: RunId, caller: &Caller, now: Instant) -> Result<()> {
        self.only_self(id, caller, "release the desktop for")?;
        let run = &self.active(id)?.run;
        if self.holder.is_some_and(|h| h.id == id) {
            self.release_lease(id, now);
            self.set_state(id, RunState::Running);
            return Ok(());
        }
        if run.state == RunState::Queued && run.started_at.is_some() {
            self.unqueue(id);
            self.set_state(id, RunState::Running);
            self.event(
                Some(id),
                EventKind::Released {
                    lease_token: None,
                    handed_to: None,
                },
            );
            self.reask();
            return Ok(());
        }
        Err(Error::InvalidState(format!(
            "run #{id} does not hold the desktop, so there is nothing to release"
        )))
    }

    /// `acquire`: a running run asks for the desktop (again); it queues at the back.
    pub fn acquire(&mut self, id: RunId, caller: &Caller, now: Instant) -> Result<()> {
        self.only_self(id, caller, "acquire the desktop for")?;
        let run = &self.active(id)?.run;
        if run.state == RunState::Queued || self.holder.is_some_and(|h| h.id == id) {
            return Ok(());
        }
        if !run.needs_desktop {
            self.active_mut(id)?.run.needs_desktop = true;
            self.dirty.insert(id);
        }
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
        let ttl = self.validate_spec(&spec)?;
        let old_client = &self.active(old)?.run.client;
        // The old run's place is freed, but a new client name takes a place of its own.
        if old_client != spec.client.trim() {
            self.check_caps_of_client(spec.client.trim())?;
        }
        let needs_desktop = spec.needs_desktop;
        let slot = self.queue.index_of(&old);
        let held = self.holder.filter(|h| h.id == old);
        let new = self.create(spec, ttl, Some(old), now);
        let reason = Some(format!("replaced by run #{new}"));

        match (needs_desktop, held, slot) {
            (true, Some(_), _) => {
                // The replacement takes the lease straight from the old run, bypassing the
                // queue: the user asked for exactly this.
                self.end_without_handoff(old, caller, reason, new);
                self.grant(new, Some(old), now);
            }
            (true, None, Some(index)) => {
                self.end_without_handoff(old, caller, reason, new);
                self.queue.insert(index, new);
                let behind = self.holder.map(|h| h.id);
                self.event(
                    Some(new),
                    EventKind::Queued {
                        position: index + 1,
                        behind,
                    },
                );
                self.reask();
            }
            _ => {
                self.cancel_unchecked(old, caller, reason, Some(new), now);
                self.place(new, true, now);
            }
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
        let Some(holder) = self.holder.as_mut() else {
            return Err(Error::InvalidState(
                "nobody holds the desktop, so there is no holder to pause or resume".into(),
            ));
        };
        if only.is_some_and(|only| only != holder.id) {
            return Ok(false);
        }
        if holder.paused == paused {
            return Ok(false);
        }
        holder.paused = paused;
        let (id, by) = (holder.id, caller.label());
        let kind = if paused {
            EventKind::HolderPaused { by }
        } else {
            EventKind::HolderResumed { by }
        };
        self.event(Some(id), kind);
        Ok(true)
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

    // ----- views ---------------------------------------------------------------------------

    /// Whether `id` is an active run.
    pub fn is_active(&self, id: RunId) -> bool {
        self.runs.get(&id).is_some_and(|a| a.run.state.is_active())
    }

    /// What the scheduler publishes after a commit: O(log n) to make, see [`Published`]. It
    /// reflects the rows as of the last [`Machine::take_batch`].
    pub fn published(&self) -> Published {
        let desktop = Desktop {
            holder: self.holder.map(|h| self.view(h.id)),
            lease_token: self.holder.map(|h| h.token),
            since: self.holder.map(|h| h.since),
            paused: self.paused,
            holder_paused: self.holder.is_some_and(|h| h.paused),
            awaiting_ok: self.awaiting_ok.map(|id| self.runs[&id].run.brief()),
            ask_first: self.ask_first,
            queue: Vec::new(),
        };
        Published::new(
            desktop,
            self.next_seq - 1,
            self.queue.clone(),
            self.rows.clone(),
        )
    }

    /// The full status snapshot, built from the machine's own state as it is now (tests and
    /// fuzzing compare it with what [`Machine::published`] shares; the scheduler publishes that).
    pub fn snapshot(&self) -> Snapshot {
        let holder = self.holder.map(|h| self.view(h.id));
        Snapshot {
            desktop: Desktop {
                lease_token: self.holder.map(|h| h.token),
                since: self.holder.map(|h| h.since),
                holder,
                paused: self.paused,
                holder_paused: self.holder.is_some_and(|h| h.paused),
                awaiting_ok: self.awaiting_ok.map(|id| self.runs[&id].run.brief()),
                ask_first: self.ask_first,
                queue: self
                    .queue
                    .iter()
                    .enumerate()
                    .map(|(index, id)| Run {
                        position: Some(index + 1),
                        ..self.runs[id].run.clone()
                    })
                    .collect(),
            },
            running: self
                .runs
                .values()
                .filter(|a| {
                    a.run.state == RunState::Running && self.holder.is_none_or(|h| h.id != a.run.id)
                })
                .map(|a| self.view(a.run.id))
                .collect(),
            last_event: self.next_seq - 1,
        }
    }

    /// What run `id` learns about itself. `None` if the machine does not know it.
    pub fn status(&self, id: RunId) -> Option<RunStatus> {
        let active = self.runs.get(&id)?;
        let run = self.view(id);
        let holder = self.holder.map(|h| self.runs[&h.id].run.brief());
        let queued = run.state == RunState::Queued;
        let paused = self.holder.is_some_and(|h| h.id == id && h.paused);
        let awaiting_ok = self.awaiting_ok == Some(id);
        let awaited = self.awaiting_ok.map(|a| self.runs[&a].run.brief());
        let message = match (run.state, run.position) {
            (RunState::Queued, Some(_)) if awaiting_ok => AWAITING_OK_MESSAGE.to_string(),
            (RunState::Queued, Some(position)) => queued_message(
                holder.as_ref(),
                position,
                self.paused,
                awaited.as_ref(),
                self.ask_first,
            ),
            _ if paused => TAKEOVER_MESSAGE.to_string(),
            _ => state_message(&run),
        };
        Some(RunStatus {
            cancelled: run.state == RunState::Cancelled,
            ended: !run.state.is_active(),
            queued_behind: holder.filter(|_| queued),
            handoffs_paused: self.paused,
            paused,
            awaiting_ok,
            ask_first: self.ask_first && queued,
            message,
            inbox: active.inbox.clone(),
            version: 0,
            run,
        })
    }

    /// Takes the changes of the last request, and forgets runs that ended in it (they live on in
    /// the store). Returns the batch and the ids of the runs that ended.
    pub fn take_batch(&mut self) -> (Batch, Vec<RunId>) {
        let mut batch = std::mem::take(&mut self.batch);
        let mut ended = Vec::new();
        for id in std::mem::take(&mut self.dirty) {
            let Some(active) = self.runs.get(&id) else {
                continue;
            };
            let mut run = active.run.clone();
            run.position = None;
            run.holds_desktop = false;
            if active.run.state.is_active() {
                self.rows.insert(id, Arc::new(run.clone()));
            } else {
                self.rows.remove(&id);
                ended.push(id);
            }
            batch.runs.push(run);
        }
        (batch, ended)
    }

    /// Drops runs that ended, once their last status has been published.
    pub fn forget(&mut self, ended: &[RunId]) {
        for id in ended {
            self.runs.remove(id);
        }
    }

    // ----- internals -----------------------------------------------------------------------

    fn validate_spec(&self, spec: &RunSpec) -> Result<Duration> {
        one_line(&spec.title, "the title", limits::TITLE_CHARS)?;
        one_line(&spec.client, "the client", limits::CLIENT_CHARS)?;
        let ttl = spec.ttl_ms.map_or(self.default_ttl, Duration::from_millis);
        check_ttl(ttl)?;
        Ok(ttl)
    }

    fn create(
        &mut self,
        spec: RunSpec,
        ttl: Duration,
        replaces: Option<RunId>,
        now: Instant,
    ) -> RunId {
        let id = RunId(self.next_run_id);
        self.next_run_id += 1;
        let run = Run {
            id,
            title: spec.title.trim().to_string(),
            client: spec.client.trim().to_string(),
            needs_desktop: spec.needs_desktop,
            state: RunState::Queued,
            holds_desktop: false,
            lease_token: None,
            position: None,
            ttl_ms: u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX),
            created_at: self.clock.now(),
            started_at: None,
            finished_at: None,
            outcome: None,
            exit_code: None,
            cancelled_by: None,
            reason: None,
        };
        self.event(
            Some(id),
            EventKind::Submitted {
                title: run.title.clone(),
                client: run.client.clone(),
                needs_desktop: run.needs_desktop,
                replaces,
            },
        );
        self.active_count += 1;
        *self.per_client.entry(run.client.clone()).or_default() += 1;
        self.deadlines.insert((now + ttl, id));
        self.runs.insert(
            id,
            Active {
                run,
                inbox: Vec::new(),
                notes_sent: 0,
                deadline: now + ttl,
                attachments: BTreeSet::new(),
            },
        );
        self.dirty.insert(id);
        id
    }

    /// Starts a fresh (or re-acquiring) run: in parallel, with the lease, in the queue, or —
    /// when it may not queue — withdrawn.
    fn place(&mut self, id: RunId, may_queue: bool, now: Instant) {
        let run = &self.runs[&id].run;
        if !run.needs_desktop {
            let at = self.clock.now();
            self.active_mut_unchecked(id)
                .run
                .started_at
                .get_or_insert(at);
            self.set_state(id, RunState::Running);
            self.event(Some(id), EventKind::Started);
            return;
        }
        if self.holder.is_none() && !self.paused && self.queue.is_empty() && !self.ask_first {
            self.grant(id, None, now);
            return;
        }
        let behind = self.holder.map(|h| h.id);
        if !may_queue {
            let brief = behind.map(|b| self.runs[&b].run.brief());
            let reason = busy_message(
                brief.as_ref(),
                self.queue.len(),
                self.paused,
                self.ask_first,
            );
            self.end(
                id,
                RunState::Withdrawn,
                EventKind::Withdrawn { reason },
                now,
            );
            return;
        }
        self.queue.push_back(id);
        self.set_state(id, RunState::Queued);
        self.event(
            Some(id),
            EventKind::Queued {
                position: self.queue.len(),
                behind,
            },
        );
        self.reask();
    }

    fn grant(&mut self, id: RunId, handed_from: Option<RunId>, now: Instant) {
        debug_assert!(self.holder.is_none(), "two holders");
        // Whoever waited for the user's OK waits for the desktop again.
        if let Some(waiting) = self.awaiting_ok.take() {
            self.dirty.insert(waiting);
        }
        self.last_token += 1;
        let token = self.last_token;
        let since = self.clock.now();
        self.holder = Some(Holder {
            id,
            token,
            since,
            paused: false,
        });
        self.batch.last_token = Some(token);
        let active = self.active_mut_unchecked(id);
        active.run.lease_token = Some(token);
        active.run.started_at.get_or_insert(since);
        // A grant is a sign of life for the waiter, and it gets a whole TTL to notice.
        self.renew(id, now);
        self.set_state(id, RunState::Running);
        self.event(
            Some(id),
            EventKind::Granted {
                lease_token: token,
                handed_from,
            },
        );
    }

    /// Grants the head of the queue, unless someone holds the lease or hand-offs are paused;
    /// asks the user first when they OK each run.
    fn grant_next(&mut self, handed_from: Option<RunId>, now: Instant) {
        if self.holder.is_some() || self.paused || self.ask_first {
            self.reask();
            return;
        }
        if let Some(next) = self.queue.pop_front() {
            self.grant(next, handed_from, now);
        }
    }

    /// Keeps the user's OK asked for the right run: the head of the queue while the desktop is
    /// free, hand-offs are not paused and the user OKs each run; nobody otherwise. A new head
    /// is asked anew (an `awaiting_ok` event), so an answer about the old one never lets the
    /// new one in.
    fn reask(&mut self) {
        let due = self
            .queue
            .front()
            .copied()
            .filter(|_| self.ask_first && self.holder.is_none() && !self.paused);
        if self.awaiting_ok == due {
            return;
        }
        if let Some(old) = self.awaiting_ok.filter(|old| self.runs.contains_key(old)) {
            self.dirty.insert(old);
        }
        self.awaiting_ok = due;
        if let Some(id) = due {
            self.dirty.insert(id);
            self.event(Some(id), EventKind::AwaitingOk);
        }
    }

    fn release_lease(&mut self, id: RunId, now: Instant) {
        let Some(holder) = self.holder.filter(|h| h.id == id) else {
            return;
        };
        self.holder = None;
        let handed_to = if self.paused || self.ask_first {
            None
        } else {
            self.queue.front().copied()
        };
        self.event(
            Some(id),
            EventKind::Released {
                lease_token: Some(holder.token),
                handed_to,
            },
        );
        self.grant_next(Some(id), now);
    }

    fn cancel_unchecked(
        &mut self,
        id: RunId,
        caller: &Caller,
        reason: Option<String>,
        replaced_by: Option<RunId>,
        now: Instant,
    ) -> Run {
        let by = caller.label();
        let run = &mut self.active_mut_unchecked(id).run;
        run.cancelled_by = Some(by.clone());
        run.reason.clone_from(&reason);
        self.end(
            id,
            RunState::Cancelled,
            EventKind::Cancelled {
                by,
                reason,
                replaced_by,
            },
            now,
        )
    }

    /// Cancels the run that `replace` puts another in place of, without handing its lease or
    /// queue slot to anyone else.
    fn end_without_handoff(
        &mut self,
        id: RunId,
        caller: &Caller,
        reason: Option<String>,
        replaced_by: RunId,
    ) {
        let by = caller.label();
        let run = &mut self.active_mut_unchecked(id).run;
        run.cancelled_by = Some(by.clone());
        run.reason.clone_from(&reason);
        self.unqueue(id);
        let token = self.holder.filter(|h| h.id == id).map(|h| h.token);
        self.close(
            id,
            RunState::Cancelled,
            EventKind::Cancelled {
                by,
                reason,
                replaced_by: Some(replaced_by),
            },
        );
        if let Some(token) = token {
            self.holder = None;
            self.event(
                Some(id),
                EventKind::Released {
                    lease_token: Some(token),
                    handed_to: Some(replaced_by),
                },
            );
        }
    }

    /// Moves an active run to a final state: out of the queue, and if it held the lease, the
    /// lease is released at once and handed to the next in line (DESIGN rule 7).
    fn end(&mut self, id: RunId, state: RunState, kind: EventKind, now: Instant) -> Run {
        self.unqueue(id);
        self.close(id, state, kind);
        self.release_lease(id, now);
        self.reask();
        self.view(id)
    }

    fn close(&mut self, id: RunId, state: RunState, kind: EventKind) {
        let at = self.clock.now();
        let active = self.active_mut_unchecked(id);
        let deadline = active.deadline;
        let run = &mut active.run;
        run.finished_at = Some(at);
        let client = run.client.clone();
        self.deadlines.remove(&(deadline, id));
        self.active_count -= 1;
        if let Some(count) = self.per_client.get_mut(&client) {
            *count -= 1;
            if *count == 0 {
                self.per_client.remove(&client);
            }
        }
        let run = &mut self.active_mut_unchecked(id).run;
        if let EventKind::Expired { reason } | EventKind::Withdrawn { reason } = &kind {
            run.reason.get_or_insert_with(|| reason.clone());
        }
        self.set_state(id, state);
        self.event(Some(id), kind);
    }

    fn release_for_shutdown(&mut self) {
        // Nothing is granted while everything is being interrupted.
        if let Some(holder) = self.holder.take() {
            self.event(
                Some(holder.id),
                EventKind::Released {
                    lease_token: Some(holder.token),
                    handed_to: None,
                },
            );
        }
        self.queue.clear();
    }

    fn set_state(&mut self, id: RunId, state: RunState) {
        self.active_mut_unchecked(id).run.state = state;
        self.dirty.insert(id);
    }

    fn event(&mut self, run_id: Option<RunId>, kind: EventKind) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.batch.events.push(Event {
            seq,
            at: self.clock.now(),
            run_id,
            kind,
        });
    }

    fn view(&self, id: RunId) -> Run {
        let mut run = self.runs[&id].run.clone();
        run.holds_desktop = self.holder.is_some_and(|h| h.id == id);
        run.position = if run.state == RunState::Queued {
            self.queue.index_of(&id).map(|index| index + 1)
        } else {
            None
        };
        run
    }

    /// Takes `id` out of the queue, if it is in it (only queued runs are).
    fn unqueue(&mut self, id: RunId) {
        if self
            .runs
            .get(&id)
            .is_some_and(|a| a.run.state == RunState::Queued)
            && let Some(index) = self.queue.index_of(&id)
        {
            self.queue.remove(index);
        }
    }

    /// The run showed a sign of life: its TTL starts again.
    fn renew(&mut self, id: RunId, now: Instant) {
        let active = self.active_mut_unchecked(id);
        let old = active.deadline;
        active.deadline = now + ttl_of(&active.run);
        let new = active.deadline;
        self.deadlines.remove(&(old, id));
        self.deadlines.insert((new, id));
    }

    /// Refuses a new run when a cap on active runs is reached.
    fn check_caps(&self, client: &str) -> Result<()> {
        if self.active_count >= self.caps.max_active {
            return Err(Error::TooManyRuns(format!(
                "Baton already has {} active runs, the most it takes; wait for some to end, or raise the cap in the settings",
                self.active_count
            )));
        }
        self.check_caps_of_client(client)
    }

    fn check_caps_of_client(&self, client: &str) -> Result<()> {
        let of_client = self.per_client.get(client).copied().unwrap_or(0);
        if of_client >= self.caps.max_per_client {
            return Err(Error::TooManyRuns(format!(
                "the client '{client}' already has {of_client} active runs, the most one client may have; wait for some to end, or raise the cap in the settings"
            )));
        }
        Ok(())
    }

    fn active(&self, id: RunId) -> Result<&Active> {
        self.runs
            .get(&id)
            .filter(|a| a.run.state.is_active())
            .ok_or(Error::UnknownRun(id))
    }

    fn active_mut(&mut self, id: RunId) -> Result<&mut Active> {
        self.runs
            .get_mut(&id)
            .filter(|a| a.run.state.is_active())
            .ok_or(Error::UnknownRun(id))
    }

    fn active_mut_unchecked(&mut self, id: RunId) -> &mut Active {
        self.runs.get_mut(&id).expect("run checked by the caller")
    }

    /// Requests a run makes about itself. Not even the user makes them on a run's behalf: the
    /// user ends a run by cancelling it, which is recorded as such (DESIGN rule 6), and a
    /// user's heartbeat must not keep a vanished client's lease alive (rule 9).
    fn only_self(&self, id: RunId, caller: &Caller, what: &str) -> Result<()> {
        match caller {
            Caller::Run(by) if *by == id => Ok(()),
            Caller::Run(by) => Err(Error::Forbidden(format!(
                "run #{by} cannot {what} run #{id}: only run #{id} itself can"
            ))),
            Caller::User { .. } => Err(Error::Forbidden(format!(
                "only run #{id} itself can {what} it; to stop it, cancel it"
            ))),
        }
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

fn ttl_of(run: &Run) -> Duration {
    Duration::from_millis(run.ttl_ms)
}

fn user_only(caller: &Caller, what: &str) -> Result<()> {
    if caller.is_user() {
        Ok(())
    } else {
        Err(Error::Forbidden(format!(
            "only the user can {what}; {} is an agent's run token",
            caller.label()
        )))
    }
}

/// A non-empty, bounded piece of text, trimmed. Line breaks and tabs may stand inside it, no
/// other control character. The bound counts the text as sent (so the API's document can state
/// it as a `maxLength`), the rest is checked on the trimmed text; [`text_pattern`] says the same
/// as regular expressions for the document.
fn required(text: &str, what: &str, max_chars: usize) -> Result<String> {
    checked(text, what, max_chars, refused_in_multi_line)?
        .ok_or_else(|| Error::Invalid(format!("{what} must not be empty")))
}

/// Checks `text` as sent against `max_chars`, then its trimmed form against `refused`; `None`
/// when it is blank.
fn checked(
    text: &str,
    what: &str,
    max_chars: usize,
    refused: impl Fn(char) -> bool,
) -> Result<Option<String>> {
    if text.chars().count() > max_chars {
        return Err(Error::Invalid(format!(
            "{what} is too long: at most {max_chars} characters"
        )));
    }
    let trimmed = text.trim();
    if let Some(c) = trimmed.chars().find(|c| refused(*c)) {
        return Err(refused_character(what, c));
    }
    Ok(Some(trimmed.to_string()).filter(|t| !t.is_empty()))
}

/// Control characters (escape sequences among them) and the bidirectional overrides: text with
/// them, shown in a terminal or a notification, can rewrite what is around it.
pub fn rewrites_terminals(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// What a one-line text refuses: also the Unicode line and paragraph separators, which
/// notification servers show as line breaks (a title could fake a second line).
pub fn breaks_one_line(c: char) -> bool {
    rewrites_terminals(c) || matches!(c, '\u{2028}' | '\u{2029}')
}

/// In texts that may span lines, line breaks and tabs are allowed.
fn refused_in_multi_line(c: char) -> bool {
    !matches!(c, '\n' | '\t') && rewrites_terminals(c)
}

fn refused_character(what: &str, c: char) -> Error {
    Error::Invalid(format!(
        "{what} contains the control character U+{:04X}, which could rewrite the terminal or notification that shows it: send plain text",
        u32::from(c)
    ))
}

/// A one-line text: also no line breaks or tabs.
fn one_line(text: &str, what: &str, max_chars: usize) -> Result<String> {
    checked(text, what, max_chars, breaks_one_line)?
        .ok_or_else(|| Error::Invalid(format!("{what} must not be empty")))
}

/// Like [`required`], but absent or blank text is simply `None`.
fn optional(text: Option<&str>, what: &str, max_chars: usize) -> Result<Option<String>> {
    match text {
        None => Ok(None),
        Some(text) => checked(text, what, max_chars, refused_in_multi_line),
    }
}

/// The texts a request carries, as regular expressions (ECMA-262 and Python alike) that match
/// exactly what [`Machine`] accepts, for the API's document (a property test holds the two
/// together, and a contract test holds the host to the document).
pub mod text_pattern {
    /// What `str::trim` removes: Unicode's White_Space.
    const SPACE: &str =
        r"\t\n\u000b\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000";
    /// Refused in one-line texts: control characters and bidirectional overrides.
    const ONE_LINE_REFUSED: &str =
        r"\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069";
    /// Refused in texts that may span lines: the same, but for line breaks and tabs.
    const MULTI_LINE_REFUSED: &str =
        r"\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069";

    fn pattern(refused: &str, optional: bool) -> String {
        let core = format!("[^{SPACE}{refused}]([^{refused}]*[^{SPACE}{refused}])?");
        if optional {
            format!("^[{SPACE}]*({core}[{SPACE}]*)?$")
        } else {
            format!("^[{SPACE}]*{core}[{SPACE}]*$")
        }
    }

    /// Titles and client names.
    pub fn one_line() -> String {
        pattern(ONE_LINE_REFUSED, false)
    }

    /// Corrections.
    pub fn multi_line() -> String {
        pattern(MULTI_LINE_REFUSED, false)
    }

    /// Reasons and notes, which may be blank (then they are left out).
    pub fn optional_multi_line() -> String {
        pattern(MULTI_LINE_REFUSED, true)
    }
}

/// The sentence for a run that is not waiting.
fn state_message(run: &Run) -> String {
    let id = run.id;
    match run.state {
        RunState::Queued => format!("run #{id} is waiting for the desktop"),
        RunState::Running if run.holds_desktop => format!(
            "run #{id} holds the desktop with lease token {}",
            run.lease_token.unwrap_or_default()
        ),
        RunState::Running => format!("run #{id} is running in parallel, without the desktop"),
        RunState::Succeeded | RunState::Failed => format!(
            "run #{id} finished: {}",
            run.outcome.as_deref().unwrap_or(run.state.as_str())
        ),
        RunState::Cancelled => format!(
            "run #{id} was cancelled by {}{}",
            match run.cancelled_by.as_deref() {
                Some(by) if by.starts_with("run:") => format!("the user (relayed by {by})"),
                _ => "the user".to_string(),
            },
            run.reason
                .as_deref()
                .map(|r| format!(": {r}"))
                .unwrap_or_default()
        ),
        RunState::Expired => format!(
            "run #{id} expired: {}",
            run.reason
                .as_deref()
                .unwrap_or("its holder stopped answering")
        ),
        RunState::Withdrawn => format!(
            "run #{id} was withdrawn: {}",
            run.reason
                .as_deref()
                .unwrap_or("its client stopped waiting")
        ),
        RunState::Interrupted => format!("run #{id} was interrupted: Baton stopped under it"),
    }
}

/// What a holder hears while the person at the computer uses it (DESIGN rule 11's honesty, for
/// a takeover).
pub const TAKEOVER_MESSAGE: &str =
    "the person at the computer is using it; you keep your place and resume automatically";

/// The status of a run that has already ended, built from its stored row.
pub fn ended_status(run: Run) -> RunStatus {
    RunStatus {
        cancelled: run.state == RunState::Cancelled,
        ended: !run.state.is_active(),
        queued_behind: None,
        handoffs_paused: false,
        paused: false,
        awaiting_ok: false,
        ask_first: false,
        message: state_message(&run),
        inbox: Vec::new(),
        version: 0,
        run,
    }
}
