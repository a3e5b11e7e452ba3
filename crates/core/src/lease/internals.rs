//! The machine's own steps, which the requests are made of: creating and placing a run,
//! granting and handing on the lease, ending runs, recording events, and the checks every
//! request shares.

use super::*;

impl Machine {
    pub(super) fn validate_spec(&self, spec: &RunSpec) -> Result<Duration> {
        one_line(&spec.title, "the title", limits::TITLE_CHARS)?;
        one_line(&spec.client, "the client", limits::CLIENT_CHARS)?;
        let ttl = spec.ttl_ms.map_or(self.default_ttl, Duration::from_millis);
        check_ttl(ttl)?;
        Ok(ttl)
    }

    pub(super) fn create(
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
    pub(super) fn place(&mut self, id: RunId, may_queue: bool, now: Instant) {
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

    pub(super) fn grant(&mut self, id: RunId, handed_from: Option<RunId>, now: Instant) {
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
    pub(super) fn grant_next(&mut self, handed_from: Option<RunId>, now: Instant) {
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
    pub(super) fn reask(&mut self) {
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

    pub(super) fn release_lease(&mut self, id: RunId, now: Instant) {
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

    pub(super) fn cancel_unchecked(
        &mut self,
        id: RunId,
        caller: &Caller,
        reason: Option<String>,
        replaced_by: Option<RunId>,
        now: Instant,
    ) -> Run {
        let by = caller.clone();
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
    pub(super) fn end_without_handoff(
        &mut self,
        id: RunId,
        caller: &Caller,
        reason: Option<String>,
        replaced_by: RunId,
    ) {
        let by = caller.clone();
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
    pub(super) fn end(&mut self, id: RunId, state: RunState, kind: EventKind, now: Instant) -> Run {
        self.unqueue(id);
        self.close(id, state, kind);
        self.release_lease(id, now);
        self.reask();
        self.view(id)
    }

    pub(super) fn close(&mut self, id: RunId, state: RunState, kind: EventKind) {
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

    pub(super) fn release_for_shutdown(&mut self) {
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

    pub(super) fn set_state(&mut self, id: RunId, state: RunState) {
        self.active_mut_unchecked(id).run.state = state;
        self.dirty.insert(id);
    }

    pub(super) fn event(&mut self, run_id: Option<RunId>, kind: EventKind) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.batch.events.push(Event {
            seq,
            at: self.clock.now(),
            run_id,
            kind,
        });
    }

    pub(super) fn view(&self, id: RunId) -> Run {
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
    pub(super) fn unqueue(&mut self, id: RunId) {
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
    pub(super) fn renew(&mut self, id: RunId, now: Instant) {
        let active = self.active_mut_unchecked(id);
        let old = active.deadline;
        active.deadline = now + ttl_of(&active.run);
        let new = active.deadline;
        self.deadlines.remove(&(old, id));
        self.deadlines.insert((new, id));
    }

    /// Refuses a new run when a cap on active runs is reached.
    pub(super) fn check_caps(&self, client: &str) -> Result<()> {
        if self.active_count >= self.caps.max_active {
            return Err(Error::TooManyRuns(format!(
                "Baton already has {} active runs, the most it takes; wait for some to end, or raise the cap in the settings",
                self.active_count
            )));
        }
        self.check_caps_of_client(client)
    }

    pub(super) fn check_caps_of_client(&self, client: &str) -> Result<()> {
        let of_client = self.per_client.get(client).copied().unwrap_or(0);
        if of_client >= self.caps.max_per_client {
            return Err(Error::TooManyRuns(format!(
                "the client '{client}' already has {of_client} active runs, the most one client may have; wait for some to end, or raise the cap in the settings"
            )));
        }
        Ok(())
    }

    pub(super) fn active(&self, id: RunId) -> Result<&Active> {
        self.runs
            .get(&id)
            .filter(|a| a.run.state.is_active())
            .ok_or(Error::UnknownRun(id))
    }

    pub(super) fn active_mut(&mut self, id: RunId) -> Result<&mut Active> {
        self.runs
            .get_mut(&id)
            .filter(|a| a.run.state.is_active())
            .ok_or(Error::UnknownRun(id))
    }

    pub(super) fn active_mut_unchecked(&mut self, id: RunId) -> &mut Active {
        self.runs.get_mut(&id).expect("run checked by the caller")
    }

    /// Requests a run makes about itself. Not even the user makes them on a run's behalf: the
    /// user ends a run by cancelling it, which is recorded as such (DESIGN rule 6), and a
    /// user's heartbeat must not keep a vanished client's lease alive (rule 9).
    pub(super) fn only_self(&self, id: RunId, caller: &Caller, what: &str) -> Result<()> {
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

pub(super) fn ttl_of(run: &Run) -> Duration {
    Duration::from_millis(run.ttl_ms)
}

pub(super) fn user_only(caller: &Caller, what: &str) -> Result<()> {
    if caller.is_user() {
        Ok(())
    } else {
        Err(Error::Forbidden(format!(
            "only the user can {what}; {caller} is an agent's run token"
        )))
    }
}
