//! What the machine shows without changing anything: the published state, the snapshot, one
//! run's status, the batch a commit takes.

use super::*;

impl Machine {
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
            (RunState::Queued, Some(_)) if awaiting_ok => {
                crate::messages::queued(Standing::AwaitingOk, id, 1, Voice::Agent)
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
}

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
