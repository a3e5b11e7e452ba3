//! An invariant checker over the event log: replays events in order and reports the first
//! breach of DESIGN section 2 that the log itself can show.
//!
//! It is independent of the [`crate::lease`] machine on purpose (a second, simpler model of the
//! same rules), so tests, the torture suite and a live soak can all run it against what Baton
//! actually committed.
//!
//! Checked: never two holders (rule 1); lease tokens strictly increase, also across restarts
//! (rule 2); grants go to the head of the queue, in arrival order, unless the user reordered or
//! replaced (rule 4); nobody is granted while hand-offs are paused (except a replacement); the
//! user's OK is asked only for the head of the queue while the desktop is free, and an OK lets in
//! only the run it was asked for, at once; an ended run is never granted again; sequence numbers
//! strictly increase.

use std::collections::{HashMap, HashSet, VecDeque};

use crate::event::{Event, EventKind};
use crate::model::RunId;

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
    /// Number of grants.
    pub grants: usize,
    /// Grants that went to the run at the head of the queue, or straight to a newcomer while
    /// nobody waited.
    pub in_order_grants: usize,
    /// The highest lease token seen.
    pub last_token: u64,
}

/// The replay, one event at a time: for a checker that follows a live event stream (the soak
/// test) rather than a finished log.
#[derive(Debug, Default)]
pub struct Checker {
    last_seq: u64,
    holder: Option<(RunId, u64)>,
    queue: VecDeque<RunId>,
    paused: bool,
    /// The run the user's OK was last asked for, until it is granted or ends.
    awaiting_ok: Option<RunId>,
    ended: HashSet<RunId>,
    /// new run -> the run it replaces.
    replaces: HashMap<RunId, RunId>,
    /// The run a release just said the lease goes to: the next event must grant it.
    promised: Option<RunId>,
    summary: Summary,
}

impl Checker {
    /// What the replay has seen so far.
    pub fn summary(&self) -> &Summary {
        &self.summary
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
        if let Some(promised) = self.promised.take() {
            let granted = matches!(event.kind, EventKind::Granted { .. });
            if !granted || event.run_id != Some(promised) {
                return fail(format!(
                    "the lease was released to run {promised}, but the next event is {} of {:?}",
                    event.kind.name(),
                    event.run_id
                ));
            }
        }
        let Some(run) = event.run_id else {
            match event.kind {
                EventKind::HandoffsPaused { .. } => {
                    self.paused = true;
                    self.awaiting_ok = None;
                }
                EventKind::HandoffsResumed { .. } => self.paused = false,
                _ => return fail(format!("{} event without a run", event.kind.name())),
            }
            return Ok(());
        };
        match &event.kind {
            EventKind::Submitted { replaces, .. } => {
                if let Some(old) = replaces {
                    self.replaces.insert(run, *old);
                }
            }
            EventKind::Queued { position, .. } => {
                if self.ended.contains(&run) {
                    return fail(format!("run {run} queued after it ended"));
                }
                let index = position.saturating_sub(1);
                if *position == 0 || index > self.queue.len() {
                    return fail(format!(
                        "run {run} queued at position {position} of a queue of {}",
                        self.queue.len()
                    ));
                }
                let is_replacement = self.replaces.contains_key(&run);
                if index != self.queue.len() && !is_replacement {
                    return fail(format!(
                        "run {run} joined the queue at position {position}, not at the back ({})",
                        self.queue.len() + 1
                    ));
                }
                self.queue.insert(index, run);
            }
            EventKind::Reordered { position, .. } => {
                let Some(index) = self.queue.iter().position(|q| *q == run) else {
                    return fail(format!("run {run} reordered but not queued"));
                };
                self.queue.remove(index);
                self.queue.insert(position.saturating_sub(1), run);
            }
            EventKind::Granted {
                lease_token,
                handed_from,
            } => {
                if let Some((holder, token)) = self.holder {
                    return fail(format!(
                        "run {run} granted token {lease_token} while run {holder} still holds token {token}"
                    ));
                }
                if self.ended.contains(&run) {
                    return fail(format!("run {run} granted after it ended"));
                }
                if *lease_token <= self.summary.last_token {
                    return fail(format!(
                        "lease token {lease_token} does not exceed the previous {}",
                        self.summary.last_token
                    ));
                }
                let replacement = self
                    .replaces
                    .get(&run)
                    .is_some_and(|old| Some(*old) == *handed_from);
                match self.queue.iter().position(|q| *q == run) {
                    Some(0) => {
                        self.queue.pop_front();
                        self.summary.in_order_grants += 1;
                    }
                    Some(index) => {
                        return fail(format!(
                            "run {run} granted from queue position {} ahead of run {}",
                            index + 1,
                            self.queue[0]
                        ));
                    }
                    None if replacement => {}
                    None if !self.queue.is_empty() => {
                        return fail(format!(
                            "run {run} granted without queueing while run {} waited",
                            self.queue[0]
                        ));
                    }
                    None => self.summary.in_order_grants += 1,
                }
                if self.paused && !replacement {
                    return fail(format!("run {run} granted while hand-offs were paused"));
                }
                self.holder = Some((run, *lease_token));
                self.awaiting_ok = None;
                self.summary.last_token = *lease_token;
                self.summary.grants += 1;
            }
            EventKind::Released {
                lease_token,
                handed_to,
            } => match lease_token {
                Some(token) => {
                    if self.holder != Some((run, *token)) {
                        return fail(format!(
                            "run {run} released token {token}, but the holder was {:?}",
                            self.holder
                        ));
                    }
                    self.holder = None;
                    self.promised = *handed_to;
                }
                None => self.queue.retain(|q| *q != run),
            },
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
                self.queue.retain(|q| *q != run);
                // After a crash the store interrupts the holder without a release event: the
                // lease died with the host.
                if matches!(event.kind, EventKind::Interrupted)
                    && self.holder.is_some_and(|(h, _)| h == run)
                {
                    self.holder = None;
                }
            }
            EventKind::HolderPaused { .. } | EventKind::HolderResumed { .. } => {
                if self.holder.map(|(h, _)| h) != Some(run) {
                    return fail(format!("run {run} paused or resumed while not holding"));
                }
            }
            EventKind::AwaitingOk => {
                if let Some((holder, _)) = self.holder {
                    return fail(format!(
                        "the user's OK was asked for run {run} while run {holder} holds the desktop"
                    ));
                }
                if self.paused {
                    return fail(format!(
                        "the user's OK was asked for run {run} while hand-offs were paused"
                    ));
                }
                if self.queue.front() != Some(&run) {
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
                self.promised = Some(run);
            }
            EventKind::Started | EventKind::Amended { .. } => {}
            EventKind::HandoffsPaused { .. } | EventKind::HandoffsResumed { .. } => {
                return fail(format!("{} event names a run", event.kind.name()));
            }
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
                },
            ),
            ev(
                3,
                3,
                EventKind::Queued {
                    position: 2,
                    behind: Some(RunId(1)),
                },
            ),
            ev(
                4,
                1,
                EventKind::Released {
                    lease_token: Some(1),
                    handed_to: None,
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
                },
            ),
            ev(
                3,
                3,
                EventKind::Queued {
                    position: 2,
                    behind: Some(RunId(1)),
                },
            ),
            ev(
                4,
                1,
                EventKind::Released {
                    lease_token: Some(1),
                    handed_to: Some(RunId(2)),
                },
            ),
            ev(
                5,
                3,
                EventKind::Reordered {
                    position: 1,
                    by: Caller::user("x"),
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
                },
            ),
            ev(
                5,
                2,
                EventKind::Granted {
                    lease_token: 2,
                    handed_from: Some(RunId(1)),
                },
            ),
        ];
        let summary = check(&log).expect("valid");
        assert_eq!(summary.grants, 2);
        assert_eq!(summary.in_order_grants, 2);
    }
}
