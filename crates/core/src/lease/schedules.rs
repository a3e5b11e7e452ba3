//! The schedule entries the machine keeps, and their fires.
//!
//! A fire is a submit whose run goes into the same batch as the entry's new `handled` mark, so
//! one transaction commits both: a host killed before the commit fires again after its restart
//! (the fire is still due), one killed after it finds the run (interrupted, with the fire it
//! stands for) and the fire handled. Nothing is lost and nothing is made twice.

use chrono::{DateTime, TimeZone};
use tokio::time::Instant;

use super::Machine;
use super::internals::user_only;
use crate::error::{Error, Result};
use crate::model::{Caller, RunId, RunSpec, Timestamp};
use crate::schedule::{self, CronExpr, Entry, EntrySpec, Fire};

/// What one look at an entry did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fired {
    /// No fire passed since the last one handled (or the entry is paused).
    NotDue,
    /// Fires passed, but the entry's earlier run is still active: they wait for it to end
    /// and are then dealt with together (one catch-up run, or let go).
    Waiting(RunId),
    /// The fires that passed were let go (a skipping entry, late).
    LetGo {
        /// How many.
        passed: u32,
    },
    /// A run was made for them.
    Made(RunId),
    /// The run could not be made (a resource since removed, a cap on runs): the fires are
    /// handled, and the entry says why in its `problem`.
    Refused(String),
}

/// `at` in time zone `tz`.
fn in_zone<Tz: TimeZone>(tz: &Tz, at: Timestamp) -> Result<DateTime<Tz>> {
    tz.timestamp_millis_opt(at.0)
        .single()
        .ok_or_else(|| Error::Invalid(format!("{} ms is not a time Baton can place", at.0)))
}

impl Machine {
    /// `schedule add` (or, with `replace`, `schedule edit`): user only. A new entry's fires
    /// start now, and so do an edited one's when its expression changed; its other state
    /// (paused, its last run) stays.
    pub fn put_schedule(
        &mut self,
        spec: EntrySpec,
        replace: bool,
        caller: &Caller,
    ) -> Result<Entry> {
        user_only(caller, "add or change schedule entries")?;
        let at = self.clock.now();
        spec.check()?;
        self.known(spec.resources.iter().cloned())?;
        let entry = match (self.schedules.get(&spec.name), replace) {
            (Some(_), false) => {
                return Err(Error::InvalidState(format!(
                    "there is already a schedule entry '{}': change it with 'baton schedule edit', or remove it first",
                    spec.name
                )));
            }
            (None, true) => return Err(Error::UnknownSchedule(spec.name)),
            (None, false) => {
                if self.schedules.len() >= schedule::limits::ENTRIES {
                    return Err(Error::Invalid(format!(
                        "Baton keeps at most {} schedule entries; remove one first",
                        schedule::limits::ENTRIES
                    )));
                }
                Entry {
                    spec,
                    paused: false,
                    created_at: at,
                    handled: at,
                    last_run: None,
                    problem: None,
                }
            }
            (Some(old), true) => {
                let handled = if old.spec.cron == spec.cron {
                    old.handled
                } else {
                    old.handled.max(at)
                };
                Entry {
                    spec,
                    handled,
                    problem: None,
                    ..old.clone()
                }
            }
        };
        self.keep_schedule(entry.clone());
        Ok(entry)
    }

    /// `schedule remove`: user only. Its runs, active ones too, go on; the history keeps them.
    pub fn remove_schedule(&mut self, name: &str, caller: &Caller) -> Result<Entry> {
        user_only(caller, "remove schedule entries")?;
        let entry = self
            .schedules
            .remove(name)
            .ok_or_else(|| Error::UnknownSchedule(name.into()))?;
        self.batch.schedules.insert(name.into(), None);
        Ok(entry)
    }

    /// `schedule pause` (true) and `resume`: user only. The fires that pass while an entry is
    /// paused are let go: a resumed entry fires next at its next time from now.
    pub fn pause_schedule(&mut self, name: &str, paused: bool, caller: &Caller) -> Result<Entry> {
        user_only(caller, "pause or resume schedule entries")?;
        let at = self.clock.now();
        let mut entry = self.schedule(name)?;
        if entry.paused != paused {
            entry.paused = paused;
            if !paused {
                entry.handled = entry.handled.max(at);
            }
            self.keep_schedule(entry.clone());
        }
        Ok(entry)
    }

    /// Looks at entry `name` now, its expression read in time zone `tz` (the host's local
    /// one; a fixed one in tests), and makes what is due of it: see [`Fired`] and
    /// [`schedule::due`].
    pub fn fire<Tz: TimeZone>(
        &mut self,
        name: &str,
        tz: &Tz,
        caller: &Caller,
        instant: Instant,
    ) -> Result<Fired> {
        user_only(caller, "fire schedule entries")?;
        let now = in_zone(tz, self.clock.now())?;
        let mut entry = self.schedule(name)?;
        if entry.paused {
            return Ok(Fired::NotDue);
        }
        // Stored by this host after the same check: one that no longer parses is not due.
        let expr = CronExpr::parse(&entry.spec.cron)?;
        let handled = in_zone(tz, entry.handled)?;
        let Some(due) = schedule::due(&expr, &handled, &now, entry.spec.missed) else {
            return Ok(Fired::NotDue);
        };
        if let Some(run) = entry.last_run.filter(|run| self.is_active(*run)) {
            return Ok(Fired::Waiting(run));
        }
        entry.handled = Timestamp(due.latest.timestamp_millis());
        if due.stands_for == 0 {
            self.keep_schedule(entry);
            return Ok(Fired::LetGo { passed: due.passed });
        }
        let fire = Fire {
            entry: name.into(),
            at: Some(entry.handled),
            stands_for: due.stands_for,
        };
        let fired = match self.submit_fire(&entry.spec, fire, instant) {
            Ok(id) => {
                entry.last_run = Some(id);
                entry.problem = None;
                Fired::Made(id)
            }
            Err(e) => {
                let why = e.to_string();
                entry.problem = Some(why.clone());
                Fired::Refused(why)
            }
        };
        self.keep_schedule(entry);
        Ok(fired)
    }

    /// `schedule run-now`: user only. A run of the entry at once, standing for no fire; refused
    /// while its earlier run is still active, as a fire would wait.
    pub fn run_now(&mut self, name: &str, caller: &Caller, instant: Instant) -> Result<RunId> {
        user_only(caller, "run schedule entries")?;
        let mut entry = self.schedule(name)?;
        if let Some(run) = entry.last_run.filter(|run| self.is_active(*run)) {
            return Err(Error::InvalidState(format!(
                "schedule entry '{name}' is still running: its run #{run} is active, and an entry has one run at a time"
            )));
        }
        let fire = Fire {
            entry: name.into(),
            at: None,
            stands_for: 0,
        };
        let id = self.submit_fire(&entry.spec, fire, instant)?;
        entry.last_run = Some(id);
        entry.problem = None;
        self.keep_schedule(entry);
        Ok(id)
    }

    /// The entry `name`, as it is now.
    fn schedule(&self, name: &str) -> Result<Entry> {
        self.schedules
            .get(name)
            .cloned()
            .ok_or_else(|| Error::UnknownSchedule(name.into()))
    }

    /// Keeps `entry` in memory and in the batch.
    fn keep_schedule(&mut self, entry: Entry) {
        self.batch
            .schedules
            .insert(entry.spec.name.clone(), Some(entry.clone()));
        self.schedules.insert(entry.spec.name.clone(), entry);
    }

    /// Submits the run of a fire: queued like any run, with the fire recorded in its row.
    fn submit_fire(&mut self, spec: &EntrySpec, fire: Fire, instant: Instant) -> Result<RunId> {
        let run = RunSpec {
            title: spec.run_title(),
            client: spec.client(),
            needs_desktop: spec.needs_desktop,
            resources: spec.resources.clone(),
            ttl_ms: None,
            queue: true,
        };
        let checked = self.validate_spec(&run)?;
        self.check_caps(&run.client)?;
        let id = self.create(run, checked, None, instant);
        if let Some(active) = self.runs.get_mut(&id) {
            active.run.fire = Some(fire);
        }
        self.place(id, true, instant);
        Ok(id)
    }
}
