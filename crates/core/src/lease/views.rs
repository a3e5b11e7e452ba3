//! What the machine shows without changing anything: the published state, the snapshot, one
//! run's status, the batch a commit takes.

use super::*;

/// The desktop's flags that every waiter's status reflects: when one of them changes, each
/// waiter is told at once, not with its next move in the queue.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DesktopFlags {
    paused: bool,
    holder_paused: bool,
    awaiting_ok: Option<RunId>,
    ask_first: bool,
}

impl Machine {
    /// The desktop's flags as they are now.
    pub fn desktop_flags(&self) -> DesktopFlags {
        DesktopFlags {
            paused: self.paused,
            holder_paused: self.holder_paused,
            awaiting_ok: self.awaiting_ok,
            ask_first: self.ask_first,
        }
    }

    /// Whether `id` is an active run.
    pub fn is_active(&self, id: RunId) -> bool {
        self.runs.get(&id).is_some_and(|a| a.run.state.is_active())
    }

    /// What the scheduler publishes after a commit: O(log n) to make, see [`Published`]. It
    /// reflects the rows as of the last [`Machine::take_batch`].
    pub fn published(&self) -> Published {
        let holder = self.desktop_holder();
        let desktop = Desktop {
            holder: holder.map(|(id, _)| self.view(id)),
            lease_token: holder.map(|(_, grant)| grant.token),
            since: holder.map(|(_, grant)| grant.since),
            paused: self.paused,
            holder_paused: holder.is_some() && self.holder_paused,
            awaiting_ok: self.awaiting_ok.map(|id| self.runs[&id].run.brief()),
            ask_first: self.ask_first,
            queue: Vec::new(),
        };
        Published::new(
            desktop,
            self.next_seq - 1,
            self.pools.clone(),
            self.rows.clone(),
            self.schedules.clone(),
        )
    }

    /// The full status snapshot, built from the machine's own state as it is now (tests and
    /// fuzzing compare it with what [`Machine::published`] shares; the scheduler publishes that).
    pub fn snapshot(&self) -> Snapshot {
        let holder = self.desktop_holder();
        let desktop = ResourceName::desktop();
        let brief = |id: &RunId| self.runs[id].run.brief();
        Snapshot {
            desktop: Desktop {
                lease_token: holder.map(|(_, grant)| grant.token),
                since: holder.map(|(_, grant)| grant.since),
                holder: holder.map(|(id, _)| self.view(id)),
                paused: self.paused,
                holder_paused: holder.is_some() && self.holder_paused,
                awaiting_ok: self.awaiting_ok.map(|id| self.runs[&id].run.brief()),
                ask_first: self.ask_first,
                queue: self
                    .pool(&desktop)
                    .queue
                    .iter()
                    .enumerate()
                    .map(|(index, id)| {
                        let mut run = self.runs[id].run.clone();
                        crate::published::fill_holds(&self.pools, &mut run);
                        run.position = Some(index + 1);
                        run
                    })
                    .collect(),
            },
            running: self
                .runs
                .values()
                .filter(|a| {
                    a.run.state == RunState::Running
                        && holder.is_none_or(|(holder, _)| holder != a.run.id)
                })
                .map(|a| self.view(a.run.id))
                .collect(),
            resources: self
                .pools
                .iter()
                .filter(|(name, _)| !name.is_desktop())
                .map(|(name, pool)| {
                    crate::published::resource_state(name, pool, |id| Some(brief(id)))
                })
                .collect(),
            last_event: self.next_seq - 1,
        }
    }

    /// One resource as the status shows it, the desktop included.
    pub fn resource_state(&self, name: &ResourceName) -> Option<crate::model::ResourceState> {
        let pool = self.pools.get(name)?;
        Some(crate::published::resource_state(name, pool, |id| {
            self.runs.get(id).map(|a| a.run.brief())
        }))
    }

    /// What run `id` learns about itself. `None` if the machine does not know it.
    pub fn status(&self, id: RunId) -> Option<RunStatus> {
        let active = self.runs.get(&id)?;
        let run = self.view(id);
        let desktop_holder = self.desktop_holder().map(|(h, _)| h);
        let holder = desktop_holder.map(|h| self.runs[&h].run.brief());
        let queued = run.state == RunState::Queued;
        let paused = self.holder_paused && desktop_holder == Some(id);
        let awaiting_ok = self.awaiting_ok == Some(id);
        let awaited = self.awaiting_ok.map(|a| self.runs[&a].run.brief());
        let waiting_for = self.waiting_for(&run);
        let message = match (run.state, run.position) {
            (RunState::Queued, Some(_)) if awaiting_ok => {
                crate::messages::queued(Standing::AwaitingOk, id, 1, Voice::Agent)
            }
            (RunState::Queued, _) if let Some(waiting) = &waiting_for => {
                crate::messages::waiting_message(waiting, Voice::Agent)
            }
            (RunState::Queued, Some(position)) => queued_message(
                id,
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
            queued_behind: holder.filter(|_| queued && waiting_for.is_none()),
            waiting_for,
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

    /// What a queued run waits for when it is not the desktop: the first resource, by name,
    /// that keeps it from starting (it is not first in line there, or there is no room). A run
    /// that waits for the desktop hears about the desktop first: it has the most to say
    /// (hand-offs paused, the person's OK).
    fn waiting_for(&self, run: &Run) -> Option<Waiting> {
        if run.state != RunState::Queued {
            return None;
        }
        let desktop = ResourceName::desktop();
        if run.needs_desktop {
            let pool = self.pool(&desktop);
            let first = pool.queue.front() == Some(&run.id);
            if !first || !pool.has_room() || self.paused || self.awaiting_ok == Some(run.id) {
                return None;
            }
        }
        run.resources
            .iter()
            .filter(|r| !r.is_desktop())
            .find_map(|r| {
                let pool = self.pool(r);
                let index = pool.queue.index_of(&run.id)?;
                (index > 0 || !pool.has_room()).then(|| Waiting {
                    resource: r.clone(),
                    position: index + 1,
                    behind: pool.longest_holder().map(|h| self.runs[&h].run.brief()),
                    ahead: index,
                })
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
            run.holds.clear();
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
}

/// The status of a run that has already ended, built from its stored row.
pub fn ended_status(run: Run) -> RunStatus {
    RunStatus {
        cancelled: run.state == RunState::Cancelled,
        ended: !run.state.is_active(),
        queued_behind: None,
        waiting_for: None,
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
