//! Property tests over random request sequences (DESIGN section 2), against the real actor and
//! a real SQLite file, with tokio time frozen and moved only by the sequence itself.
//!
//! Besides the desktop there are two declared resources: `a` (capacity 1) and `b` (capacity 2
//! at first; the sequence changes it). Runs need any mix of the three.
//!
//! A small reference model predicts, for every request, its answer and the resources that
//! follow (each one's holders and queue, the pause flag, the run waiting for the user's OK,
//! parallel runs). It grants plainly: as long as some queued run is first in line for every
//! resource it needs and each has room, it is granted. After every step the test also checks
//! that the newest event the snapshot reflects is already in SQLite (committed before
//! acknowledged); after the sequence, that the broadcast events equal the stored ones and that
//! the log replays without a breach (room, rising tokens per resource, FIFO, all at once).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

use baton_core::{
    Caller, Error, ErrorCode, Outcome, ResourceName, RunId, RunSpec, RunState, check::check,
};
use proptest::prelude::*;

const TTLS_MS: [u64; 3] = [500, 1000, 3000];

/// The resources, by bit: 1 the desktop, 2 `a`, 4 `b`.
const LINES: [&str; 3] = ["desktop", "a", "b"];

fn names(mask: u8) -> Vec<ResourceName> {
    LINES
        .iter()
        .enumerate()
        .filter(|(bit, _)| mask & (1 << bit) != 0)
        .map(|(_, name)| name.parse().unwrap())
        .collect()
}

#[derive(Debug, Clone)]
enum Op {
    Submit {
        needs: u8,
        ttl: usize,
        queue: bool,
    },
    Heartbeat(usize),
    Finish(usize, bool),
    Cancel {
        target: usize,
        by: Option<usize>,
        reason: bool,
    },
    Stop,
    Pause(bool),
    Front(usize),
    Release(usize),
    /// `needs` 0: the desktop, as the acquire of before there were other resources.
    Acquire(usize, u8),
    Withdraw(usize),
    Amend(usize),
    Replace(usize, u8),
    AskFirst(bool),
    Allow(usize),
    /// `b`'s capacity.
    Capacity(u32),
    Advance(u64),
    Status,
}

fn op() -> impl Strategy<Value = Op> {
    let idx = 0usize..12;
    prop_oneof![
        6 => (0u8..8, 0..TTLS_MS.len(), prop::bool::weighted(0.85))
            .prop_map(|(needs, ttl, queue)| Op::Submit { needs, ttl, queue }),
        3 => idx.clone().prop_map(Op::Heartbeat),
        3 => (idx.clone(), any::<bool>()).prop_map(|(i, ok)| Op::Finish(i, ok)),
        3 => (idx.clone(), prop::option::of(idx.clone()), any::<bool>())
            .prop_map(|(target, by, reason)| Op::Cancel { target, by, reason }),
        1 => Just(Op::Stop),
        1 => any::<bool>().prop_map(Op::Pause),
        1 => idx.clone().prop_map(Op::Front),
        2 => idx.clone().prop_map(Op::Release),
        2 => (idx.clone(), 0u8..8).prop_map(|(i, needs)| Op::Acquire(i, needs)),
        1 => idx.clone().prop_map(Op::Withdraw),
        1 => idx.clone().prop_map(Op::Amend),
        1 => (idx.clone(), 0u8..8).prop_map(|(i, needs)| Op::Replace(i, needs)),
        1 => any::<bool>().prop_map(Op::AskFirst),
        2 => idx.prop_map(Op::Allow),
        1 => (1u32..4).prop_map(Op::Capacity),
        3 => (0u64..1500).prop_map(Op::Advance),
        1 => Just(Op::Status),
    ]
}

#[derive(Debug, Clone)]
struct MRun {
    id: RunId,
    /// The resources it needs, by name.
    needs: BTreeSet<&'static str>,
    ttl: u64,
    state: RunState,
    started: bool,
    deadline: u64,
}

/// One resource in the model.
#[derive(Debug, Clone, Default)]
struct Line {
    capacity: usize,
    holders: BTreeSet<usize>,
    queue: VecDeque<usize>,
}

/// The reference model: the rules written as plainly as possible.
#[derive(Debug)]
struct Model {
    runs: Vec<MRun>,
    lines: BTreeMap<&'static str, Line>,
    paused: bool,
    /// The user OKs each run before it takes the free desktop.
    ask_first: bool,
    /// The head of the desktop's queue while it waits for that OK.
    awaiting: Option<usize>,
    now: u64,
}

impl Default for Model {
    fn default() -> Self {
        let line = |capacity| Line {
            capacity,
            ..Line::default()
        };
        Model {
            runs: Vec::new(),
            lines: [("desktop", line(1)), ("a", line(1)), ("b", line(2))].into(),
            paused: false,
            ask_first: false,
            awaiting: None,
            now: 0,
        }
    }
}

/// What the model expects a request to answer.
#[derive(Debug, PartialEq, Eq)]
enum Expect {
    Ok,
    Err(ErrorCode),
}

impl Model {
    fn active(&self, i: usize) -> bool {
        self.runs[i].state.is_active()
    }

    fn desktop_holder(&self) -> Option<usize> {
        self.lines["desktop"].holders.iter().next().copied()
    }

    fn holds(&self, i: usize) -> bool {
        self.lines.values().any(|line| line.holders.contains(&i))
    }

    /// Whether `name` has room for one more, and for the desktop whether hand-offs run and,
    /// unless `asked`, nobody must OK it first.
    fn open(&self, name: &str, asked: bool) -> bool {
        let line = &self.lines[name];
        line.holders.len() < line.capacity
            && (name != "desktop" || (!self.paused && (asked || !self.ask_first)))
    }

    fn ready(&self, i: usize, asked: bool) -> bool {
        let run = &self.runs[i];
        run.state == RunState::Queued
            && !run.needs.is_empty()
            && run
                .needs
                .iter()
                .all(|n| self.lines[n].queue.front() == Some(&i) && self.open(n, asked))
    }

    fn grant(&mut self, i: usize) {
        for name in self.runs[i].needs.clone() {
            let line = self.lines.get_mut(name).unwrap();
            line.queue.retain(|q| *q != i);
            line.holders.insert(i);
        }
        let run = &mut self.runs[i];
        run.state = RunState::Running;
        run.started = true;
        run.deadline = self.now + run.ttl;
    }

    /// Grants whoever may go, until nobody may.
    fn grant_ready(&mut self) {
        while let Some(i) = (0..self.runs.len()).find(|i| self.ready(*i, false)) {
            self.grant(i);
        }
    }

    fn unqueue(&mut self, i: usize) {
        for line in self.lines.values_mut() {
            line.queue.retain(|q| *q != i);
        }
    }

    fn release(&mut self, i: usize) {
        for line in self.lines.values_mut() {
            line.holders.remove(&i);
        }
    }

    fn end(&mut self, i: usize, state: RunState) {
        self.unqueue(i);
        self.release(i);
        self.runs[i].state = state;
        self.grant_ready();
    }

    fn place(&mut self, i: usize, may_queue: bool) {
        let needs = self.runs[i].needs.clone();
        if needs.is_empty() {
            self.runs[i].state = RunState::Running;
            self.runs[i].started = true;
        } else if needs
            .iter()
            .all(|n| self.lines[n].queue.is_empty() && self.open(n, false))
        {
            self.grant(i);
        } else if !may_queue {
            self.end(i, RunState::Withdrawn);
        } else {
            for n in &needs {
                self.lines.get_mut(n).unwrap().queue.push_back(i);
            }
            self.runs[i].state = RunState::Queued;
        }
    }

    fn new_run(&mut self, needs: u8, ttl: u64) -> usize {
        let i = self.runs.len();
        self.runs.push(MRun {
            id: RunId(i64::try_from(i).unwrap() + 1),
            needs: line_names(needs),
            ttl,
            state: RunState::Queued,
            started: false,
            deadline: self.now + ttl,
        });
        i
    }

    fn ended_or(&self, i: usize) -> Option<Expect> {
        (!self.active(i)).then_some(Expect::Err(ErrorCode::InvalidState))
    }

    /// Applies `op`, then asks the user's OK of whoever should be asked now: the head of the
    /// desktop's queue while the desktop is free, hand-offs run, asking is on and it could be
    /// granted everything else it needs.
    fn apply(&mut self, op: &Op) -> Expect {
        let expect = self.apply_op(op);
        self.awaiting = self.lines["desktop"]
            .queue
            .front()
            .copied()
            .filter(|head| self.ask_first && self.ready(*head, true));
        expect
    }

    fn apply_op(&mut self, op: &Op) -> Expect {
        let n = self.runs.len();
        let pick = |i: usize| i % n.max(1);
        match *op {
            Op::Submit { needs, ttl, queue } => {
                let i = self.new_run(needs, TTLS_MS[ttl]);
                self.place(i, queue);
                Expect::Ok
            }
            Op::Status => Expect::Ok,
            Op::Stop => {
                if let Some(h) = self.desktop_holder() {
                    self.end(h, RunState::Cancelled);
                }
                Expect::Ok
            }
            Op::Pause(paused) => {
                self.paused = paused;
                self.grant_ready();
                Expect::Ok
            }
            Op::AskFirst(ask_first) => {
                self.ask_first = ask_first;
                self.grant_ready();
                Expect::Ok
            }
            Op::Capacity(capacity) => {
                self.lines.get_mut("b").unwrap().capacity = capacity as usize;
                self.grant_ready();
                Expect::Ok
            }
            Op::Advance(ms) => {
                self.now += ms;
                let mut due: Vec<(u64, usize)> = (0..n)
                    .filter(|i| self.active(*i) && self.runs[*i].deadline <= self.now)
                    .map(|i| (self.runs[i].deadline, i))
                    .collect();
                due.sort_unstable();
                for (_, i) in due {
                    self.end(i, RunState::Expired);
                }
                Expect::Ok
            }
            _ if n == 0 => Expect::Ok,
            Op::Heartbeat(i) => {
                let i = pick(i);
                if self.active(i) {
                    self.runs[i].deadline = self.now + self.runs[i].ttl;
                }
                Expect::Ok
            }
            Op::Finish(i, ok) => {
                let i = pick(i);
                if let Some(e) = self.ended_or(i) {
                    return e;
                }
                if self.runs[i].state == RunState::Queued && !self.runs[i].started {
                    return Expect::Err(ErrorCode::InvalidState);
                }
                self.end(
                    i,
                    if ok {
                        RunState::Succeeded
                    } else {
                        RunState::Failed
                    },
                );
                Expect::Ok
            }
            Op::Cancel { target, by, reason } => {
                let target = pick(target);
                if let Some(by) = by.map(pick) {
                    if by == target {
                        return Expect::Err(ErrorCode::SelfCancel);
                    }
                    if !reason {
                        return Expect::Err(ErrorCode::InvalidRequest);
                    }
                    if !self.active(by) {
                        return Expect::Err(ErrorCode::Forbidden);
                    }
                }
                if let Some(e) = self.ended_or(target) {
                    return e;
                }
                self.end(target, RunState::Cancelled);
                Expect::Ok
            }
            Op::Front(i) => {
                let i = pick(i);
                if let Some(e) = self.ended_or(i) {
                    return e;
                }
                if self.runs[i].state != RunState::Queued || self.runs[i].needs.is_empty() {
                    return Expect::Err(ErrorCode::InvalidState);
                }
                for name in self.runs[i].needs.clone() {
                    let queue = &mut self.lines.get_mut(name).unwrap().queue;
                    queue.retain(|q| *q != i);
                    queue.push_front(i);
                }
                self.grant_ready();
                Expect::Ok
            }
            Op::Release(i) => {
                let i = pick(i);
                if let Some(e) = self.ended_or(i) {
                    return e;
                }
                if self.holds(i) {
                    self.release(i);
                    self.runs[i].state = RunState::Running;
                } else if self.runs[i].state == RunState::Queued && self.runs[i].started {
                    self.unqueue(i);
                    self.runs[i].state = RunState::Running;
                } else {
                    return Expect::Err(ErrorCode::InvalidState);
                }
                self.grant_ready();
                Expect::Ok
            }
            Op::Acquire(i, needs) => {
                let i = pick(i);
                if let Some(e) = self.ended_or(i) {
                    return e;
                }
                let wanted = line_names(if needs == 0 { 1 } else { needs });
                if self.runs[i].state == RunState::Queued || self.holds(i) {
                    return if wanted.is_subset(&self.runs[i].needs) {
                        Expect::Ok
                    } else {
                        Expect::Err(ErrorCode::InvalidState)
                    };
                }
                self.runs[i].needs = wanted;
                self.place(i, true);
                Expect::Ok
            }
            Op::Withdraw(i) => {
                let i = pick(i);
                if let Some(e) = self.ended_or(i) {
                    return e;
                }
                if self.runs[i].state != RunState::Queued || self.runs[i].started {
                    return Expect::Err(ErrorCode::InvalidState);
                }
                self.end(i, RunState::Withdrawn);
                Expect::Ok
            }
            Op::Amend(i) => self.ended_or(pick(i)).unwrap_or(Expect::Ok),
            Op::Allow(i) => {
                let i = pick(i);
                if let Some(e) = self.ended_or(i) {
                    return e;
                }
                if self.awaiting != Some(i) {
                    return Expect::Err(ErrorCode::InvalidState);
                }
                self.grant(i);
                self.grant_ready();
                Expect::Ok
            }
            Op::Replace(i, needs) => {
                let old = pick(i);
                if let Some(e) = self.ended_or(old) {
                    return e;
                }
                let new = self.new_run(needs, TTLS_MS[1]);
                let same = !self.runs[new].needs.is_empty()
                    && self.runs[new].needs == self.runs[old].needs;
                if same && self.holds(old) {
                    self.runs[old].state = RunState::Cancelled;
                    self.release(old);
                    self.grant(new);
                } else if same && self.runs[old].state == RunState::Queued {
                    self.runs[old].state = RunState::Cancelled;
                    for line in self.lines.values_mut() {
                        for q in &mut line.queue {
                            if *q == old {
                                *q = new;
                            }
                        }
                    }
                    self.runs[new].state = RunState::Queued;
                } else {
                    self.end(old, RunState::Cancelled);
                    self.place(new, true);
                }
                Expect::Ok
            }
        }
    }
}

fn line_names(mask: u8) -> BTreeSet<&'static str> {
    LINES
        .iter()
        .enumerate()
        .filter(|(bit, _)| mask & (1 << bit) != 0)
        .map(|(_, name)| *name)
        .collect()
}

fn outcome<T>(result: Result<T, Error>) -> Expect {
    match result {
        Ok(_) => Expect::Ok,
        Err(e) => Expect::Err(e.code()),
    }
}

async fn perform(h: &baton_core::Handle, model: &Model, op: &Op) -> Expect {
    let n = model.runs.len();
    let id = |i: usize| model.runs[i % n.max(1)].id;
    let user = || Caller::user("prop");
    let spec = |title: &str, needs: u8| {
        let named = names(needs & !1);
        RunSpec::new(title, "prop", needs & 1 != 0).with_resources(named)
    };
    match *op {
        Op::Submit { needs, ttl, queue } => {
            let mut spec = spec("r", needs);
            spec.ttl_ms = Some(TTLS_MS[ttl]);
            spec.queue = queue;
            outcome(h.submit(spec, user()).await)
        }
        Op::Status => {
            let before = h.status();
            let events = h.events_after(0, 100_000).await.unwrap().len();
            for _ in 0..3 {
                let _ = h.status();
                if n > 0 {
                    let _ = h.run(id(0)).await;
                    let _ = h.cancel_targets(id(0));
                }
                let _ = h.history(&Default::default()).await.unwrap();
            }
            assert_eq!(h.status(), before, "status changed something");
            assert_eq!(h.events_after(0, 100_000).await.unwrap().len(), events);
            Expect::Ok
        }
        Op::Stop => outcome(h.stop_holder(user(), None, None).await),
        Op::Pause(paused) => outcome(h.set_paused(paused, user()).await),
        Op::AskFirst(ask_first) => outcome(h.set_ask_first(ask_first, user()).await),
        Op::Capacity(capacity) => {
            outcome(h.set_capacity("b".parse().unwrap(), capacity, user()).await)
        }
        Op::Advance(ms) => {
            tokio::time::advance(Duration::from_millis(ms)).await;
            h.barrier().await.unwrap();
            Expect::Ok
        }
        _ if n == 0 => Expect::Ok,
        Op::Allow(i) => outcome(h.allow(id(i), user()).await),
        Op::Heartbeat(i) => outcome(h.heartbeat(id(i), Caller::Run(id(i)), 0).await),
        Op::Finish(i, ok) => {
            let outcome_ = if ok {
                Outcome::Succeeded
            } else {
                Outcome::Failed
            };
            outcome(
                h.finish(id(i), Caller::Run(id(i)), outcome_, None, None)
                    .await,
            )
        }
        Op::Cancel { target, by, reason } => {
            let caller = by.map_or_else(user, |b| Caller::Run(id(b)));
            let reason = reason.then(|| "the user said so".to_string());
            let result = h.cancel(id(target), caller, reason).await;
            if by.is_some_and(|b| id(b) == id(target)) {
                assert!(
                    matches!(result, Err(Error::SelfCancel(_))),
                    "a self-cancel was not refused: {result:?}"
                );
            }
            outcome(result)
        }
        Op::Front(i) => outcome(h.front(id(i), user()).await),
        Op::Release(i) => outcome(h.release(id(i), Caller::Run(id(i))).await),
        Op::Acquire(i, 0) => outcome(h.acquire(id(i), Caller::Run(id(i))).await),
        Op::Acquire(i, needs) => outcome(
            h.acquire_resources(id(i), Caller::Run(id(i)), names(needs))
                .await,
        ),
        Op::Withdraw(i) => outcome(h.withdraw(id(i), Caller::Run(id(i)), None).await),
        Op::Amend(i) => outcome(h.amend(id(i), user(), "note".into()).await),
        Op::Replace(i, needs) => {
            let mut spec = spec("r2", needs);
            spec.ttl_ms = Some(TTLS_MS[1]);
            outcome(h.replace(id(i), spec, user()).await)
        }
    }
}

fn assert_same_resources(h: &baton_core::Handle, model: &Model, step: usize, op: &Op) {
    let snapshot = h.status();
    let ids = |v: &mut dyn Iterator<Item = usize>| -> Vec<RunId> {
        v.map(|i| model.runs[i].id).collect()
    };
    let holder = snapshot.desktop.holder.as_ref().map(|r| r.id);
    let queue: Vec<RunId> = snapshot.desktop.queue.iter().map(|r| r.id).collect();
    let running: Vec<RunId> = snapshot.running.iter().map(|r| r.id).collect();
    let desktop_holder = model.desktop_holder();
    let expected_running = ids(&mut (0..model.runs.len())
        .filter(|i| model.runs[*i].state == RunState::Running && desktop_holder != Some(*i)));
    let ctx = format!("after step {step} ({op:?})");
    assert_eq!(
        holder,
        desktop_holder.map(|i| model.runs[i].id),
        "holder {ctx}"
    );
    assert_eq!(
        queue,
        ids(&mut model.lines["desktop"].queue.iter().copied()),
        "queue {ctx}"
    );
    assert_eq!(running, expected_running, "parallel runs {ctx}");
    assert_eq!(snapshot.desktop.paused, model.paused, "paused {ctx}");
    assert_eq!(
        snapshot.desktop.awaiting_ok.as_ref().map(|r| r.id),
        model.awaiting.map(|i| model.runs[i].id),
        "the run waiting for the user's OK {ctx}"
    );
    for name in ["a", "b"] {
        let line = &model.lines[name];
        let state = snapshot
            .resources
            .iter()
            .find(|r| r.name.as_str() == name)
            .unwrap_or_else(|| panic!("'{name}' missing {ctx}"));
        let mut holders: Vec<RunId> = state.holders.iter().map(|h| h.run.id).collect();
        holders.sort();
        assert_eq!(
            holders,
            ids(&mut line.holders.iter().copied()),
            "holders of '{name}' {ctx}"
        );
        assert_eq!(
            state.capacity as usize, line.capacity,
            "capacity of '{name}' {ctx}"
        );
        let queue: Vec<RunId> = state.queue.iter().map(|r| r.id).collect();
        assert_eq!(
            queue,
            ids(&mut line.queue.iter().copied()),
            "queue of '{name}' {ctx}"
        );
    }
    // All or nothing: a run that holds something holds everything it needs and waits for
    // nothing; and only the snapshot's holders say they hold.
    for run in snapshot.desktop.queue.iter().chain(&snapshot.running) {
        let held: BTreeSet<&str> = run.holds.iter().map(ResourceName::as_str).collect();
        let needed: BTreeSet<&str> = run.resources.iter().map(ResourceName::as_str).collect();
        assert!(
            held.is_empty() || held == needed,
            "run {} holds {held:?} of {needed:?} {ctx}",
            run.id
        );
        assert!(!run.holds_desktop, "a non-holder claims the desktop {ctx}");
    }
}

/// Runs `ops` against the real actor and the model, both starting with asking first on or off.
fn run_sequence(ops: Vec<Op>, ask_first: bool) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap();
    rt.block_on(async move {
        let c = crate::common::core().await;
        let h = &c.handle;
        let mut broadcast = h.subscribe_events();
        let mut model = Model::default();
        for (name, capacity) in [("a", 1), ("b", 2)] {
            h.add_resource(name.parse().unwrap(), capacity, Caller::user("prop"))
                .await
                .unwrap();
        }
        if ask_first {
            let op = Op::AskFirst(true);
            assert_eq!(perform(h, &model, &op).await, model.apply(&op));
        }
        for (step, op) in ops.iter().enumerate() {
            let got = perform(h, &model, op).await;
            let expected = model.apply(op);
            assert_eq!(got, expected, "answer to step {step} ({op:?})");
            assert_same_resources(h, &model, step, op);
            // Committed before acknowledged: read straight from SQLite, every run's stored
            // state is already what the model says.
            let stored = h
                .store()
                .history(&baton_core::HistoryQuery {
                    limit: 1000,
                    ..Default::default()
                })
                .await
                .unwrap();
            assert_eq!(stored.len(), model.runs.len(), "step {step}");
            for row in &stored {
                let expected = model.runs.iter().find(|r| r.id == row.id).unwrap().state;
                assert_eq!(
                    row.state, expected,
                    "stored {:?} after step {step} ({op:?})",
                    row.id
                );
            }
        }
        let stored = h.events_after(0, 100_000).await.unwrap();
        let mut seen = Vec::new();
        while let Ok(event) = broadcast.try_recv() {
            seen.push((*event).clone());
        }
        assert_eq!(
            seen, stored,
            "every acknowledged change is in the log, in order"
        );
        if let Err(violation) = check(&stored) {
            panic!("invariant broken: {violation}\nops: {ops:?}");
        }
        // Every transition left an event: replaying the log alone gives every run's state.
        let replayed = states_from_events(&stored);
        for run in &model.runs {
            assert_eq!(
                replayed.get(&run.id),
                Some(&run.state),
                "replayed {:?}",
                run.id
            );
        }
    });
}

/// Each run's state as the event log alone tells it.
fn states_from_events(events: &[baton_core::Event]) -> std::collections::HashMap<RunId, RunState> {
    use baton_core::EventKind as K;
    let mut states = std::collections::HashMap::new();
    for event in events {
        let Some(id) = event.run_id else { continue };
        let state = match &event.kind {
            K::Submitted { .. } | K::Queued { .. } => RunState::Queued,
            K::Started | K::Granted { .. } | K::Released { .. } => RunState::Running,
            K::Finished {
                outcome: Outcome::Succeeded,
                ..
            } => RunState::Succeeded,
            K::Finished {
                outcome: Outcome::Failed,
                ..
            } => RunState::Failed,
            K::Cancelled { .. } => RunState::Cancelled,
            K::Expired { .. } => RunState::Expired,
            K::Withdrawn { .. } => RunState::Withdrawn,
            K::Interrupted => RunState::Interrupted,
            _ => continue,
        };
        // A release after a run ended is the end's own hand-off, not a new state.
        if matches!(event.kind, K::Released { .. })
            && states.get(&id).is_some_and(|s: &RunState| !s.is_active())
        {
            continue;
        }
        states.insert(id, state);
    }
    states
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(96),
        ..ProptestConfig::default()
    })]

    #[test]
    fn random_request_sequences_keep_every_rule(ops in prop::collection::vec(op(), 1..60)) {
        run_sequence(ops, false);
    }

    /// The same with the user OKing each grant from the start, so that sequences spend most
    /// of their steps with a run waiting for that OK.
    #[test]
    fn random_sequences_asking_first_keep_every_rule(ops in prop::collection::vec(op(), 1..60)) {
        run_sequence(ops, true);
    }
}

/// Characters where the text rules have edges: spaces that trim removes and spaces it keeps,
/// line breaks and tabs, other controls (some of them spaces to other languages), a
/// bidirectional override, and plain letters.
const EDGES: [char; 15] = [
    'a', 'é', ' ', '\t', '\n', '\r', '\u{b}', '\u{85}', '\u{a0}', '\u{3000}', '\u{1c}', '\u{0}',
    '\u{202e}', '\u{200b}', '\u{2028}',
];

fn edge_text() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(&EDGES[..]), 0..7)
        .prop_map(|chars| chars.into_iter().collect())
}

proptest! {
    /// The patterns the API's document states accept exactly the texts the lease accepts.
    #[test]
    fn the_documented_text_patterns_are_the_rules(text in edge_text()) {
        use baton_core::lease::{Caps, Machine, Resume};
        use baton_core::text::text_pattern;
        let full = |p: String| regex::Regex::new(&p).unwrap();
        let resume = Resume { next_run_id: 1, next_seq: 1, ..Resume::default() };
        let mut m = Machine::new(
            std::sync::Arc::new(baton_core::clock::SystemClock),
            Duration::from_secs(15),
            Caps::default(),
            resume,
        );
        let now = tokio::time::Instant::now();
        let user = Caller::user("test");
        let title_ok = m.submit(RunSpec::new(text.clone(), "c", false), &user, now).is_ok();
        prop_assert_eq!(title_ok, full(text_pattern::one_line()).is_match(&text), "title {:?}", text);
        let run = m.submit(RunSpec::new("t", "c", true), &user, now).unwrap();
        let amend_ok = m.amend(run, &user, &text).is_ok();
        prop_assert_eq!(amend_ok, full(text_pattern::multi_line()).is_match(&text), "correction {:?}", text);
        let cancel_ok = m.cancel(run, &user, Some(&text), now).is_ok();
        prop_assert_eq!(
            cancel_ok,
            full(text_pattern::optional_multi_line()).is_match(&text),
            "reason {:?}",
            text
        );
    }
}
