//! An invariant checker over the event log: replays events in order and reports the first
//! breach of DESIGN section 2 that the log itself can show.
//!
//! It is independent of the [`crate::lease`] machine on purpose (a second, simpler model of the
//! same rules), so tests, the torture suite and a live soak can all run it against what Baton
//! actually committed.
//!
//! Checked, for the desktop and every other resource alike: never more holders than the
//! resource's capacity, one for the desktop (rule 1); lease tokens strictly increase per
//! resource, also across restarts (rule 2); grants go to the head of the resource's queue, in
//! arrival order, unless the user reordered or replaced (rule 4); a run is granted everything
//! it needs in a row and never holds something while it still waits for something else (rule
//! 13); a resource is removed only while nobody holds or waits for it. For the desktop also:
//! nobody is granted while hand-offs are paused (except a replacement); the user's OK is asked
//! only for the head of the queue while the desktop is free, and an OK lets in only the run it
//! was asked for, at once. And: an ended run is never granted again; a release that names the
//! run it hands on to is followed by that grant before anything but other grants and releases;
//! sequence numbers strictly increase.
//!
//! A resource whose declaration the log no longer holds (pruned history) is taken to have room
//! for everyone: the checker cannot know its capacity, so it does not guess one.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};

use crate::event::{Event, EventKind};
use crate::model::RunId;
use crate::resource::ResourceName;

/// A breach of an invariant, at the event that shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The offending event's sequence number.
    pub seq: u64,
    /// What is wrong, in a sentence.
    pub message: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "event {}: {}", self.seq, self.message)
    }
}

/// Replays `events` (a whole log, oldest first) and returns the first violation.
pub fn check(events: &[Event]) -> Result<Summary, Violation> {
    let mut checker = Checker::default();
    for event in events {
        checker.apply(event)?;
    }
    Ok(checker.summary)
}

/// What the replay saw.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// Number of grants, one for each resource granted.
    pub grants: usize,
    /// Grants that went to the run at the head of the resource's queue, or straight to a
    /// newcomer while nobody waited.
    pub in_order_grants: usize,
    /// The highest desktop lease token seen.
    pub last_token: u64,
}

/// One resource, as the replay knows it.
#[derive(Debug, Default)]
struct Line {
    /// `None`: not declared in the log (see the module docs).
    capacity: Option<u32>,
    holders: BTreeMap<RunId, u64>,
    queue: VecDeque<RunId>,
    last_token: u64,
}

/// The replay, one event at a time: for a checker that follows a live event stream (the soak
/// test) rather than a finished log.
#[derive(Debug)]
pub struct Checker {
    last_seq: u64,
    lines: HashMap<ResourceName, Line>,
    paused: bool,
    /// The run the user's OK was last asked for, until it is granted or ends.
    awaiting_ok: Option<RunId>,
    ended: HashSet<RunId>,
    /// new run -> the run it replaces.
    replaces: HashMap<RunId, RunId>,
    /// Runs a release or an OK said a resource goes to: each is granted before anything but
    /// grants and releases happens.
    promised: BTreeSet<RunId>,
    /// The run the last event granted something to: its grants come in a row.
    granting: Option<RunId>,
    summary: Summary,
}

impl Default for Checker {
    fn default() -> Self {
        let mut lines = HashMap::new();
        lines.insert(
            ResourceName::desktop(),
            Line {
                capacity: Some(1),
                ..Line::default()
            },
        );
        Checker {
            last_seq: 0,
            lines,
            paused: false,
            awaiting_ok: None,
            ended: HashSet::new(),
            replaces: HashMap::new(),
            promised: BTreeSet::new(),
            granting: None,
            summary: Summary::default(),
        }
    }
}

impl Checker {
    /// What the replay has seen so far.
    pub fn summary(&self) -> &Summary {
        &self.summary
    }

    fn line(&mut self, resource: &ResourceName) -> &mut Line {
        self.lines.entry(resource.clone()).or_default()
    }

    /// Replays the next event of the log; the first violation it shows, if any.
    pub fn apply(&mut self, event: &Event) -> Result<(), Violation> {
        let fail = |message: String| {
            Err(Violation {
                seq: event.seq,
                message,
            })
        };
        if event.seq <= self.last_seq {
            return fail(format!(
                "sequence number {} does not follow {}",
                event.seq, self.last_seq
            ));
        }
        self.last_seq = event.seq;
        let is_grant = matches!(event.kind, EventKind::Granted { .. });
        let is_release = matches!(event.kind, EventKind::Released { .. });
        if !self.promised.is_empty() && !is_grant && !is_release {
            return fail(format!(
                "run {} was promised a resource, but {} of {:?} came before its grant",
                self.promised.iter().next().map_or(0, |id| id.0),
                event.kind.name(),
                event.run_id
            ));
        }
        if let Some(granted) = self.granting.take()
            && !(is_grant && event.run_id == Some(granted))
            && let Some((resource, _)) = self
                .lines
                .iter()
                .find(|(_, line)| line.queue.contains(&granted))
        {
            return fail(format!(
                "run {granted} was granted some of what it needs while it still waits for '{resource}'"
            ));
        }
        let Some(run) = event.run_id else {
            return self.apply_host_event(event);
        };
        match &event.kind {
            EventKind::Submitted { replaces, .. } => {
                if let Some(old) = replaces {
                    self.replaces.insert(run, *old);
                }
            }
            EventKind::Queued {
                position, resource, ..
            } => {
                if self.ended.contains(&run) {
                    return fail(format!("run {run} queued after it ended"));
                }
                let is_replacement = self.replaces.contains_key(&run);
                let queue = &mut self.line(resource).queue;
                let index = position.saturating_sub(1);
                if *position == 0 || index > queue.len() {
                    return fail(format!(
                        "run {run} queued for '{resource}' at position {position} of a queue of {}",
                        queue.len()
                    ));
                }
                if index != queue.len() && !is_replacement {
                    return fail(format!(
                        "run {run} joined the queue for '{resource}' at position {position}, not at the back ({})",
                        queue.len() + 1
                    ));
                }
                queue.insert(index, run);
            }
            EventKind::Reordered {
                position, resource, ..
            } => {
                let queue = &mut self.line(resource).queue;
                let Some(index) = queue.iter().position(|q| *q == run) else {
                    return fail(format!(
                        "run {run} reordered but not queued for '{resource}'"
                    ));
                };
                queue.remove(index);
                queue.insert(position.saturating_sub(1).min(queue.len()), run);
            }
            EventKind::Granted {
                lease_token,
                handed_from,
                resource,
            } => {
                self.promised.remove(&run);
                self.granting = Some(run);
                if self.ended.contains(&run) {
                    return fail(format!("run {run} granted after it ended"));
                }
                let replacement = self
                    .replaces
                    .get(&run)
                    .is_some_and(|old| Some(*old) == *handed_from);
                if self.paused && resource.is_desktop() && !replacement {
                    return fail(format!("run {run} granted while hand-offs were paused"));
                }
                let line = self.line(resource);
                // A replacement takes over the grant of the run it replaces, room or not: the
                // person may have lowered the capacity under it, and holders keep theirs.
                if !replacement
                    && line
                        .capacity
                        .is_some_and(|capacity| line.holders.len() >= capacity as usize)
                {
                    let (holder, token) = line
                        .holders
                        .iter()
                        .next()
                        .map(|(h, t)| (h.0, *t))
                        .unwrap_or_default();
                    return fail(format!(
                        "run {run} granted token {lease_token} of '{resource}' while it has no room: run {holder} still holds token {token}"
                    ));
                }
                if *lease_token <= line.last_token {
                    return fail(format!(
                        "lease token {lease_token} of '{resource}' does not exceed the previous {}",
                        line.last_token
                    ));
                }
                let in_order = match line.queue.iter().position(|q| *q == run) {
                    Some(0) => {
                        line.queue.pop_front();
                        true
                    }
                    Some(index) => {
                        return fail(format!(
                            "run {run} granted '{resource}' from queue position {} ahead of run {}",
                            index + 1,
                            line.queue[0]
                        ));
                    }
                    None if replacement => false,
                    None if !line.queue.is_empty() => {
                        return fail(format!(
                            "run {run} granted '{resource}' without queueing while run {} waited",
                            line.queue[0]
                        ));
                    }
                    None => true,
                };
                line.holders.insert(run, *lease_token);
                line.last_token = *lease_token;
                if in_order {
                    self.summary.in_order_grants += 1;
                }
                if resource.is_desktop() {
                    self.awaiting_ok = None;
                    self.summary.last_token = *lease_token;
                }
                self.summary.grants += 1;
            }
            EventKind::Released {
                lease_token,
                handed_to,
                resource,
            } => {
                let line = self.line(resource);
                match lease_token {
                    Some(token) => {
                        if line.holders.get(&run) != Some(token) {
                            return fail(format!(
                                "run {run} released token {token} of '{resource}', but the holders were {:?}",
                                line.holders
                            ));
                        }
                        line.holders.remove(&run);
                        if let Some(next) = handed_to {
                            self.promised.insert(*next);
                        }
                    }
                    None => line.queue.retain(|q| *q != run),
                }
            }
            EventKind::Cancelled { .. }
            | EventKind::Expired { .. }
            | EventKind::Finished { .. }
            | EventKind::Withdrawn { .. }
            | EventKind::Interrupted => {
                if !self.ended.insert(run) {
                    return fail(format!("run {run} ended twice"));
                }
                if self.awaiting_ok == Some(run) {
                    self.awaiting_ok = None;
                }
                let interrupted = matches!(event.kind, EventKind::Interrupted);
                for line in self.lines.values_mut() {
                    line.queue.retain(|q| *q != run);
                    // After a crash the store interrupts the holders without release events:
                    // the leases died with the host.
                    if interrupted {
                        line.holders.remove(&run);
                    }
                }
            }
            EventKind::HolderPaused { .. } | EventKind::HolderResumed { .. } => {
                if !self
                    .line(&ResourceName::desktop())
                    .holders
                    .contains_key(&run)
                {
                    return fail(format!("run {run} paused or resumed while not holding"));
                }
            }
            EventKind::AwaitingOk => {
                let paused = self.paused;
                let desktop = self.line(&ResourceName::desktop());
                if let Some(holder) = desktop.holders.keys().next() {
                    return fail(format!(
                        "the user's OK was asked for run {run} while run {holder} holds the desktop"
                    ));
                }
                if paused {
                    return fail(format!(
                        "the user's OK was asked for run {run} while hand-offs were paused"
                    ));
                }
                if desktop.queue.front() != Some(&run) {
                    return fail(format!(
                        "the user's OK was asked for run {run}, which is not at the head of the queue"
                    ));
                }
                self.awaiting_ok = Some(run);
            }
            EventKind::Allowed { .. } => {
                if self.awaiting_ok != Some(run) {
                    return fail(format!(
                        "run {run} was allowed, but the user's OK was asked for {:?}",
                        self.awaiting_ok
                    ));
                }
                self.promised.insert(run);
            }
            EventKind::Started | EventKind::Amended { .. } => {}
            EventKind::HandoffsPaused { .. }
            | EventKind::HandoffsResumed { .. }
            | EventKind::ResourceAdded { .. }
            | EventKind::CapacityChanged { .. }
            | EventKind::ResourceRemoved { .. } => {
                return fail(format!("{} event names a run", event.kind.name()));
            }
        }
        Ok(())
    }

    /// An event about the host rather than a run.
    fn apply_host_event(&mut self, event: &Event) -> Result<(), Violation> {
        let fail = |message: String| {
            Err(Violation {
                seq: event.seq,
                message,
            })
        };
        match &event.kind {
            EventKind::HandoffsPaused { .. } => {
                self.paused = true;
                self.awaiting_ok = None;
            }
            EventKind::HandoffsResumed { .. } => self.paused = false,
            EventKind::ResourceAdded {
                resource, capacity, ..
            } => {
                if resource.is_desktop() {
                    return fail("the desktop was declared again".into());
                }
                let line = self.line(resource);
                if line.capacity.is_some() {
                    return fail(format!("'{resource}' was declared twice"));
                }
                line.capacity = Some(*capacity);
            }
            EventKind::CapacityChanged {
                resource, capacity, ..
            } => {
                if resource.is_desktop() {
                    return fail("the desktop's capacity changed".into());
                }
                self.line(resource).capacity = Some(*capacity);
            }
            EventKind::ResourceRemoved { resource, .. } => {
                let line = self.line(resource);
                if !line.holders.is_empty() || !line.queue.is_empty() {
                    return fail(format!(
                        "'{resource}' was removed while held by {:?} and waited for by {:?}",
                        line.holders.keys().collect::<Vec<_>>(),
                        line.queue
                    ));
                }
                // Its tokens go on if it is declared again.
                line.capacity = None;
            }
            _ => return fail(format!("{} event without a run", event.kind.name())),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Caller, Timestamp};

    fn ev(seq: u64, run: i64, kind: EventKind) -> Event {
        Event {
            seq,
            at: Timestamp(0),
            run_id: Some(RunId(run)),
            kind,
        }
    }

    fn granted(token: u64) -> EventKind {
        EventKind::Granted {
            lease_token: token,
            handed_from: None,
            resource: ResourceName::desktop(),
        }
    }

    #[test]
    fn detects_two_holders() {
        let log = [ev(1, 1, granted(1)), ev(2, 2, granted(2))];
        let err = check(&log).expect_err("two holders");
        assert_eq!(err.seq, 2);
    }

    #[test]
    fn detects_token_going_back() {
        let log = [
            ev(1, 1, granted(5)),
            ev(
                2,
                1,
                EventKind::Released {
                    lease_token: Some(5),
                    handed_to: None,
                    resource: ResourceName::desktop(),
                },
            ),
            ev(3, 2, granted(5)),
        ];
        assert_eq!(check(&log).expect_err("stale token").seq, 3);
    }

    #[test]
    fn detects_queue_jumping() {
        let log = [
            ev(1, 1, granted(1)),
            ev(
                2,
                2,
                EventKind::Queued {
                    position: 1,
                    behind: Some(RunId(1)),
                    resource: ResourceName::desktop(),
                },
            ),
            ev(
                3,
                3,
                EventKind::Queued {
                    position: 2,
                    behind: Some(RunId(1)),
                    resource: ResourceName::desktop(),
                },
            ),
            ev(
                4,
                1,
                EventKind::Released {
                    lease_token: Some(1),
                    handed_to: None,
                    resource: ResourceName::desktop(),
                },
            ),
            ev(5, 3, granted(2)),
        ];
        assert_eq!(check(&log).expect_err("fifo").seq, 5);
    }

    #[test]
    fn detects_a_release_to_one_run_and_a_grant_to_another() {
        let log = [
            ev(1, 1, granted(1)),
            ev(
                2,
                2,
                EventKind::Queued {
                    position: 1,
                    behind: Some(RunId(1)),
                    resource: ResourceName::desktop(),
                },
            ),
            ev(
                3,
                3,
                EventKind::Queued {
                    position: 2,
                    behind: Some(RunId(1)),
                    resource: ResourceName::desktop(),
                },
            ),
            ev(
                4,
                1,
                EventKind::Released {
                    lease_token: Some(1),
                    handed_to: Some(RunId(2)),
                    resource: ResourceName::desktop(),
                },
            ),
            ev(
                5,
                3,
                EventKind::Reordered {
                    position: 1,
                    by: Caller::user("x"),
                    resource: ResourceName::desktop(),
                },
            ),
        ];
        assert_eq!(check(&log).expect_err("broken promise").seq, 5);
    }

    #[test]
    fn accepts_an_orderly_hand_off() {
        let log = [
            ev(1, 1, granted(1)),
            ev(
                2,
                2,
                EventKind::Queued {
                    position: 1,
                    behind: Some(RunId(1)),
                    resource: ResourceName::desktop(),
                },
            ),
            ev(
                3,
                1,
                EventKind::Finished {
                    outcome: crate::Outcome::Succeeded,
                    exit_code: Some(0),
                },
            ),
            ev(
                4,
                1,
                EventKind::Released {
                    lease_token: Some(1),
                    handed_to: None,
                    resource: ResourceName::desktop(),
                },
            ),
            ev(
                5,
                2,
                EventKind::Granted {
                    lease_token: 2,
                    handed_from: Some(RunId(1)),
                    resource: ResourceName::desktop(),
                },
            ),
        ];
        let summary = check(&log).expect("valid");
        assert_eq!(summary.grants, 2);
        assert_eq!(summary.in_order_grants, 2);
    }
    fn on(resource: &str, kind: EventKind) -> EventKind {
        let name: ResourceName = resource.parse().expect("a name");
        match kind {
            EventKind::Granted {
                lease_token,
                handed_from,
                ..
            } => EventKind::Granted {
                lease_token,
                handed_from,
                resource: name,
            },
            EventKind::Queued {
                position, behind, ..
            } => EventKind::Queued {
                position,
                behind,
                resource: name,
            },
            other => other,
        }
    }

    fn declared(seq: u64, resource: &str, capacity: u32) -> Event {
        Event {
            seq,
            at: Timestamp(0),
            run_id: None,
            kind: EventKind::ResourceAdded {
                resource: resource.parse().expect("a name"),
                capacity,
                by: Caller::user("x"),
            },
        }
    }

    fn queued(position: usize) -> EventKind {
        EventKind::Queued {
            position,
            behind: None,
            resource: ResourceName::desktop(),
        }
    }

    #[test]
    fn tokens_rise_per_resource_and_room_is_the_capacity() {
        let log = [
            declared(1, "b", 2),
            ev(2, 1, granted(1)),
            ev(3, 2, on("b", granted(1))),
            ev(4, 3, on("b", granted(2))),
        ];
        assert_eq!(check(&log).expect("valid").grants, 3);
        let mut over = log.to_vec();
        over.push(ev(5, 4, on("b", granted(3))));
        assert_eq!(check(&over).expect_err("no room").seq, 5);
    }

    #[test]
    fn detects_holding_one_resource_while_waiting_for_another() {
        let log = [
            declared(1, "a", 1),
            ev(2, 1, on("a", granted(1))),
            ev(3, 2, on("a", queued(1))),
            ev(4, 2, queued(1)),
            ev(5, 2, granted(1)),
            // Run 2 got the desktop but still waits for 'a': the next event shows it.
            ev(6, 3, EventKind::Started),
        ];
        let err = check(&log).expect_err("hold and wait");
        assert_eq!(err.seq, 6);
        assert!(err.message.contains("still waits for 'a'"), "{err}");
    }

    #[test]
    fn detects_a_resource_removed_while_held() {
        let log = [
            declared(1, "a", 1),
            ev(2, 1, on("a", granted(1))),
            Event {
                seq: 3,
                at: Timestamp(0),
                run_id: None,
                kind: EventKind::ResourceRemoved {
                    resource: "a".parse().expect("a name"),
                    by: Caller::user("x"),
                },
            },
        ];
        assert_eq!(check(&log).expect_err("removed while held").seq, 3);
    }
}
