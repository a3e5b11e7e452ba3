//! The machine's own steps, which the requests are made of: creating and placing a run,
//! granting and handing on leases, ending runs, recording events, and the checks every request
//! shares.

use super::*;

/// What a spec asks for, checked.
pub(super) struct Checked {
    pub ttl: Duration,
    /// Every resource it needs, the desktop included, sorted and without repeats.
    pub needs: Vec<ResourceName>,
}

impl Machine {
    pub(super) fn validate_spec(&self, spec: &RunSpec) -> Result<Checked> {
        one_line(&spec.title, "the title", limits::TITLE_CHARS)?;
        one_line(&spec.client, "the client", limits::CLIENT_CHARS)?;
        let ttl = spec.ttl_ms.map_or(self.default_ttl, Duration::from_millis);
        check_ttl(ttl)?;
        let desktop = spec.needs_desktop.then(ResourceName::desktop);
        let needs = self.known(spec.resources.iter().cloned().chain(desktop))?;
        Ok(Checked { ttl, needs })
    }

    /// `names` as a run's needs: each a resource there is, sorted, without repeats, at most
    /// [`resource::limits::MAX_PER_RUN`] besides the desktop (the bound the API's document
    /// states for a spec's `resources`, which the desktop's flag comes on top of).
    pub(super) fn known(
        &self,
        names: impl IntoIterator<Item = ResourceName>,
    ) -> Result<Vec<ResourceName>> {
        let needs: BTreeSet<ResourceName> = names.into_iter().collect();
        let others = needs.iter().filter(|r| !r.is_desktop()).count();
        if others > resource::limits::MAX_PER_RUN {
            return Err(Error::Invalid(format!(
                "a run may need at most {} resources besides the desktop; this one names {others}",
                resource::limits::MAX_PER_RUN,
            )));
        }
        if let Some(unknown) = needs.iter().find(|name| !self.pools.contains_key(*name)) {
            return Err(self.unknown_resource(unknown));
        }
        Ok(needs.into_iter().collect())
    }

    /// The refusal of a name no resource has, listing the ones there are.
    pub(super) fn unknown_resource(&self, name: &ResourceName) -> Error {
        let known: Vec<&str> = self.pools.keys().map(ResourceName::as_str).collect();
        Error::UnknownResource(format!(
            "there is no resource '{name}': the resources are {}; the person declares others with 'baton resource add'",
            known.join(", ")
        ))
    }

    pub(super) fn create(
        &mut self,
        spec: RunSpec,
        checked: Checked,
        replaces: Option<RunId>,
        now: Instant,
    ) -> RunId {
        let Checked { ttl, needs } = checked;
        let id = RunId(self.next_run_id);
        self.next_run_id += 1;
        let needs_desktop = needs.iter().any(ResourceName::is_desktop);
        let run = Run {
            id,
            title: spec.title.trim().to_string(),
            client: spec.client.trim().to_string(),
            needs_desktop,
            resources: needs,
            state: RunState::Queued,
            holds_desktop: false,
            holds: Vec::new(),
            lease_token: None,
            leases: BTreeMap::new(),
            position: None,
            ttl_ms: u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX),
            created_at: self.clock.now(),
            started_at: None,
            finished_at: None,
            outcome: None,
            exit_code: None,
            cancelled_by: None,
            reason: None,
            fire: None,
        };
        self.event(
            Some(id),
            EventKind::Submitted {
                title: run.title.clone(),
                client: run.client.clone(),
                needs_desktop,
                resources: run
                    .resources
                    .iter()
                    .filter(|r| !r.is_desktop())
                    .cloned()
                    .collect(),
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

    /// The pool of a resource the machine knows (every name it holds was checked).
    pub(super) fn pool(&self, name: &ResourceName) -> &Pool {
        self.pools
            .get(name)
            .expect("a resource checked by the caller")
    }

    pub(super) fn pool_mut(&mut self, name: &ResourceName) -> &mut Pool {
        self.pools
            .get_mut(name)
            .expect("a resource checked by the caller")
    }

    /// The resources run `id` needs.
    pub(super) fn needs_of(&self, id: RunId) -> Vec<ResourceName> {
        self.runs[&id].run.resources.clone()
    }

    /// The desktop's holder.
    pub(super) fn desktop_holder(&self) -> Option<(RunId, Grant)> {
        self.pool(&ResourceName::desktop())
            .holders
            .iter()
            .next()
            .map(|(id, grant)| (*id, *grant))
    }

    /// Whether run `id` holds anything (it holds all it needs, or nothing).
    pub(super) fn holds_any(&self, id: RunId) -> bool {
        self.runs.get(&id).is_some_and(|a| {
            a.run.resources.iter().any(|r| {
                self.pools
                    .get(r)
                    .is_some_and(|p| p.holders.contains_key(&id))
            })
        })
    }

    /// Whether `resource` may go to another run now, as far as the resource itself goes: it
    /// has room, and for the desktop, hand-offs run. `ask`: the desktop's OK counts as given
    /// (to find whom to ask).
    fn open(&self, resource: &ResourceName, ask: bool) -> bool {
        self.pool(resource).has_room()
            && (!resource.is_desktop() || (!self.paused && (ask || !self.ask_first)))
    }

    /// Whether queued run `id` may be granted now: first in line for every resource it needs,
    /// and each of them open (DESIGN rule 13).
    pub(super) fn ready(&self, id: RunId, ask: bool) -> bool {
        let Some(active) = self.runs.get(&id) else {
            return false;
        };
        active.run.state == RunState::Queued
            && active.run.resources.iter().all(|r| {
                let pool = self.pool(r);
                pool.queue.front() == Some(&id) && self.open(r, ask)
            })
    }

    /// Whether a new run needing `needs` could be granted at once: nobody waits for any of
    /// them and each is open.
    fn free_for(&self, needs: &[ResourceName]) -> bool {
        needs
            .iter()
            .all(|r| self.pool(r).queue.is_empty() && self.open(r, false))
    }

    /// Starts a fresh (or re-acquiring) run: in parallel, with its leases, in the queues, or —
    /// when it may not queue — withdrawn.
    pub(super) fn place(&mut self, id: RunId, may_queue: bool, now: Instant) {
        let needs = self.needs_of(id);
        if needs.is_empty() {
            let at = self.clock.now();
            self.active_mut_unchecked(id)
                .run
                .started_at
                .get_or_insert(at);
            self.set_state(id, RunState::Running);
            self.event(Some(id), EventKind::Started);
            return;
        }
        if self.free_for(&needs) {
            self.grant(id, None, now);
            return;
        }
        if !may_queue {
            let reason = self.busy_reason(&needs);
            self.end(
                id,
                RunState::Withdrawn,
                EventKind::Withdrawn { reason },
                now,
            );
            return;
        }
        self.set_state(id, RunState::Queued);
        for resource in needs {
            let pool = self.pool_mut(&resource);
            pool.queue.push_back(id);
            let position = pool.queue.len();
            let behind = pool.longest_holder();
            self.event(
                Some(id),
                EventKind::Queued {
                    position,
                    behind,
                    resource,
                },
            );
        }
        self.reask();
    }

    /// Why a run that may not wait cannot start now: about the desktop when it is the
    /// desktop that is not free, else about the first resource that is not.
    fn busy_reason(&self, needs: &[ResourceName]) -> String {
        let desktop = ResourceName::desktop();
        let blocked = if needs.contains(&desktop) && !self.free_for(std::slice::from_ref(&desktop))
        {
            desktop
        } else {
            needs
                .iter()
                .find(|r| !self.free_for(std::slice::from_ref(*r)))
                .cloned()
                .unwrap_or(desktop)
        };
        let pool = self.pool(&blocked);
        let holder = pool.longest_holder().map(|b| self.runs[&b].run.brief());
        if blocked.is_desktop() {
            busy_message(
                holder.as_ref(),
                pool.queue.len(),
                self.paused,
                self.ask_first,
            )
        } else {
            crate::messages::resource_busy_message(
                &blocked,
                holder.as_ref(),
                pool.holders.len(),
                pool.queue.len(),
            )
        }
    }

    /// Grants run `id` every resource it needs, at once: one `granted` event each, in a row.
    /// The run is taken out of the queues it waited in. The caller knows there is room, or
    /// that `id` replaces a holder and takes over its grants (which may be over a capacity the
    /// person lowered since: holders keep theirs).
    pub(super) fn grant(&mut self, id: RunId, handed_from: Option<RunId>, now: Instant) {
        let needs = self.needs_of(id);
        let since = self.clock.now();
        for resource in &needs {
            let pool = self.pool_mut(resource);
            if pool.queue.front() == Some(&id) {
                pool.queue.pop_front();
            } else if let Some(index) = pool.queue.index_of(&id) {
                pool.queue.remove(index);
            }
            pool.last_token += 1;
            let token = pool.last_token;
            pool.holders.insert(id, Grant { token, since });
            self.tokens.insert(resource.clone(), token);
            self.batch.tokens.insert(resource.clone(), token);
            let run = &mut self.active_mut_unchecked(id).run;
            run.leases.insert(resource.clone(), token);
            if resource.is_desktop() {
                run.lease_token = Some(token);
                self.holder_paused = false;
                // Whoever waited for the user's OK waits for the desktop again.
                if let Some(waiting) = self.awaiting_ok.take() {
                    self.dirty.insert(waiting);
                }
            }
            self.event(
                Some(id),
                EventKind::Granted {
                    lease_token: token,
                    handed_from,
                    resource: resource.clone(),
                },
            );
        }
        self.active_mut_unchecked(id)
            .run
            .started_at
            .get_or_insert(since);
        // A grant is a sign of life for the waiter, and it gets a whole TTL to notice.
        self.renew(id, now);
        self.set_state(id, RunState::Running);
    }

    /// Grants every run that may be granted now, looking only at the queues of `resources`
    /// and at those a grant changes: the cost follows what changed, not how many resources
    /// or waiting runs there are. Then asks the user's OK of whoever should be asked.
    pub(super) fn settle(
        &mut self,
        resources: impl IntoIterator<Item = ResourceName>,
        handed_from: Option<RunId>,
        now: Instant,
    ) {
        let mut work: Vec<ResourceName> = resources.into_iter().collect();
        while let Some(resource) = work.pop() {
            let Some(head) = self
                .pools
                .get(&resource)
                .and_then(|pool| pool.queue.front().copied())
            else {
                continue;
            };
            if self.ready(head, false) {
                let needs = self.needs_of(head);
                self.grant(head, handed_from, now);
                work.extend(needs);
            }
        }
        self.reask();
    }

    /// Keeps the user's OK asked for the right run: the head of the desktop's queue, while
    /// the desktop is free, hand-offs are not paused, the user OKs each run, and it could be
    /// granted everything else it needs; nobody otherwise. A new head is asked anew (an
    /// `awaiting_ok` event), so an answer about the old one never lets the new one in.
    pub(super) fn reask(&mut self) {
        let due = self
            .pool(&ResourceName::desktop())
            .queue
            .front()
            .copied()
            .filter(|head| self.ask_first && self.ready(*head, true));
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

    /// Run `id` lets go of everything it holds, and each resource goes to whoever may have it
    /// now. The `released` events name the run a resource goes to straight away; their grants
    /// follow before anything else happens.
    pub(super) fn release_all(&mut self, id: RunId, now: Instant) {
        let mut released = Vec::new();
        for resource in self.needs_of(id) {
            let pool = self.pool_mut(&resource);
            if let Some(grant) = pool.holders.remove(&id) {
                if resource.is_desktop() {
                    self.holder_paused = false;
                }
                released.push((resource, grant.token));
            }
        }
        if released.is_empty() {
            return;
        }
        for (resource, token) in &released {
            let handed_to = self
                .pool(resource)
                .queue
                .front()
                .copied()
                .filter(|head| self.ready(*head, false));
            self.event(
                Some(id),
                EventKind::Released {
                    lease_token: Some(*token),
                    handed_to,
                    resource: resource.clone(),
                },
            );
        }
        self.settle(released.into_iter().map(|(r, _)| r), Some(id), now);
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

    /// Cancels the run that `replace` puts another in place of, without handing its leases or
    /// queue places to anyone else: `replaced_by` takes them.
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
        let mut held = Vec::new();
        for resource in self.needs_of(id) {
            if let Some(grant) = self.pool_mut(&resource).holders.remove(&id) {
                held.push((resource, grant.token));
            }
        }
        self.close(
            id,
            RunState::Cancelled,
            EventKind::Cancelled {
                by,
                reason,
                replaced_by: Some(replaced_by),
            },
        );
        for (resource, token) in held {
            if resource.is_desktop() {
                self.holder_paused = false;
            }
            self.event(
                Some(id),
                EventKind::Released {
                    lease_token: Some(token),
                    handed_to: Some(replaced_by),
                    resource,
                },
            );
        }
    }

    /// Moves an active run to a final state: out of the queues, and whatever it held is
    /// released at once and handed to the next in line (DESIGN rule 7).
    pub(super) fn end(&mut self, id: RunId, state: RunState, kind: EventKind, now: Instant) -> Run {
        let left = self.unqueue(id);
        self.close(id, state, kind);
        self.release_all(id, now);
        // Its places in line are free: whoever was behind it may go now.
        self.settle(left, None, now);
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
        let names: Vec<ResourceName> = self.pools.keys().cloned().collect();
        for resource in names {
            let pool = self.pool_mut(&resource);
            let holders: Vec<(RunId, Grant)> =
                pool.holders.iter().map(|(id, g)| (*id, *g)).collect();
            pool.holders.clear();
            pool.queue.clear();
            for (id, grant) in holders {
                self.event(
                    Some(id),
                    EventKind::Released {
                        lease_token: Some(grant.token),
                        handed_to: None,
                        resource: resource.clone(),
                    },
                );
            }
        }
        self.holder_paused = false;
        self.awaiting_ok = None;
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
        crate::published::fill_in(&self.pools, &mut run);
        run
    }

    /// Takes `id` out of every queue it is in (only queued runs are in any); the resources
    /// whose queues it left.
    pub(super) fn unqueue(&mut self, id: RunId) -> Vec<ResourceName> {
        if self
            .runs
            .get(&id)
            .is_none_or(|a| a.run.state != RunState::Queued)
        {
            return Vec::new();
        }
        let mut left = Vec::new();
        for resource in self.needs_of(id) {
            let pool = self.pool_mut(&resource);
            if let Some(index) = pool.queue.index_of(&id) {
                pool.queue.remove(index);
                left.push(resource);
            }
        }
        left
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
