//! Which OS notifications the event log calls for, and how bursts are coalesced. Pure (time is
//! passed in), so it is tested without a display or a notification daemon.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::time::Duration;

use baton_core::{Event, EventKind, RunBrief, RunId, Snapshot};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

/// The kinds of notification, each switchable in the settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeKind {
    /// A run is queued behind the holder.
    Queued,
    /// The desktop was handed from one run to the next.
    Handoff,
    /// The user stopped a run.
    Stopped,
    /// A run stopped responding (heartbeat or connection lost).
    Expired,
}

/// One notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// Its kind.
    pub kind: NoticeKind,
    /// The sentence.
    pub text: String,
}

impl Notice {
    fn new(kind: NoticeKind, text: String) -> Self {
        Notice { kind, text }
    }
}

/// How many ended runs' names are remembered (hand-off events name runs that just ended).
const REMEMBERED_ENDED: usize = 512;

/// Turns events into notices. It remembers run names from `submitted` events and the
/// snapshot it was seeded with.
#[derive(Debug, Default)]
pub struct Noticer {
    runs: HashMap<RunId, RunBrief>,
    ended: VecDeque<RunId>,
    queued: HashSet<RunId>,
    holder: Option<RunId>,
    /// A holder that expired while someone waited: the grant that follows says who got it.
    expired_holder: Option<RunId>,
}

impl Noticer {
    /// Learns the runs of a snapshot (at start-up, before any event).
    pub fn learn(&mut self, snapshot: &Snapshot) {
        let desktop = &snapshot.desktop;
        for run in desktop
            .holder
            .iter()
            .chain(&desktop.queue)
            .chain(&snapshot.running)
        {
            self.runs.insert(run.id, run.brief());
        }
        self.holder = desktop.holder.as_ref().map(|r| r.id);
        self.queued = desktop.queue.iter().map(|r| r.id).collect();
    }

    /// The notices `event` calls for. `holder_now` is the holder in the newest snapshot,
    /// which tells whether anyone took over from a holder that stopped responding.
    pub fn on_event(&mut self, event: &Event, holder_now: Option<RunId>) -> Vec<Notice> {
        let Some(id) = event.run_id else {
            return Vec::new();
        };
        let mut notices = Vec::new();
        match &event.kind {
            EventKind::Submitted { title, client, .. } => {
                self.runs.insert(
                    id,
                    RunBrief {
                        id,
                        title: title.clone(),
                        client: client.clone(),
                    },
                );
            }
            EventKind::Queued { position, behind } => {
                self.queued.insert(id);
                let text = match behind {
                    Some(holder) => format!(
                        "{} is queued behind {}, position {position} — it starts automatically when the desktop is released",
                        self.name(id),
                        self.name(*holder)
                    ),
                    None => format!(
                        "{} is queued at position {position} — hand-offs are paused; it starts automatically when they resume",
                        self.name(id)
                    ),
                };
                notices.push(Notice::new(NoticeKind::Queued, text));
            }
            EventKind::Granted { handed_from, .. } => {
                self.queued.remove(&id);
                self.holder = Some(id);
                if let Some(from) = handed_from {
                    if self.expired_holder.take() == Some(*from) {
                        notices.push(Notice::new(
                            NoticeKind::Expired,
                            format!(
                                "{} stopped responding; the desktop went to {}",
                                self.title(*from),
                                self.title(id)
                            ),
                        ));
                    } else {
                        notices.push(Notice::new(
                            NoticeKind::Handoff,
                            format!(
                                "Desktop handed from {} to {}",
                                self.title(*from),
                                self.title(id)
                            ),
                        ));
                    }
                }
            }
            EventKind::Released { lease_token } => {
                if lease_token.is_some() && self.holder == Some(id) {
                    self.holder = None;
                }
                self.queued.remove(&id);
            }
            EventKind::Cancelled {
                by, replaced_by, ..
            } => {
                let how = match (by.strip_prefix("user:"), by.strip_prefix("run:")) {
                    (Some(surface), _) => surface.to_string(),
                    (None, Some(run)) => format!("relayed by run #{run}"),
                    _ => by.clone(),
                };
                let text = match replaced_by {
                    Some(new) => format!(
                        "Stopped {} ({how}), replaced by {}",
                        self.title(id),
                        self.title(*new)
                    ),
                    None => format!("Stopped {} ({how})", self.title(id)),
                };
                notices.push(Notice::new(NoticeKind::Stopped, text));
                self.ended(id);
            }
            EventKind::Expired { .. } => {
                let was_queued = self.queued.contains(&id);
                if self.holder == Some(id) {
                    match holder_now {
                        Some(next) if next != id => self.expired_holder = Some(id),
                        _ => notices.push(Notice::new(
                            NoticeKind::Expired,
                            format!("{} stopped responding; the desktop is free", self.title(id)),
                        )),
                    }
                } else if was_queued {
                    notices.push(Notice::new(
                        NoticeKind::Expired,
                        format!("{} stopped responding and left the queue", self.title(id)),
                    ));
                }
                self.ended(id);
            }
            EventKind::Finished { .. } | EventKind::Withdrawn { .. } | EventKind::Interrupted => {
                self.ended(id);
            }
            _ => {}
        }
        notices
    }

    fn ended(&mut self, id: RunId) {
        self.queued.remove(&id);
        self.ended.push_back(id);
        while self.ended.len() > REMEMBERED_ENDED {
            if let Some(old) = self.ended.pop_front() {
                self.runs.remove(&old);
            }
        }
    }

    /// `'title' (client)`.
    fn name(&self, id: RunId) -> String {
        self.runs.get(&id).map_or_else(
            || format!("run #{id}"),
            |r| format!("'{}' ({})", r.title, r.client),
        )
    }

    /// `'title'`.
    fn title(&self, id: RunId) -> String {
        self.runs
            .get(&id)
            .map_or_else(|| format!("run #{id}"), |r| format!("'{}'", r.title))
    }
}

/// At most one notification per kind per window; what arrives meanwhile is shown as one
/// summary when the window ends.
#[derive(Debug)]
pub struct Coalescer {
    window: Duration,
    last: HashMap<NoticeKind, Instant>,
    pending: BTreeMap<NoticeKind, Vec<String>>,
}

impl Coalescer {
    /// A coalescer with this window (the product uses one second).
    pub fn new(window: Duration) -> Self {
        Coalescer {
            window,
            last: HashMap::new(),
            pending: BTreeMap::new(),
        }
    }

    /// `notice` is to be shown now, or held back (returns `None`) to go into a summary.
    pub fn offer(&mut self, notice: Notice, now: Instant) -> Option<Notice> {
        let busy = self
            .last
            .get(&notice.kind)
            .is_some_and(|last| now < *last + self.window)
            || self.pending.contains_key(&notice.kind);
        if busy {
            self.pending
                .entry(notice.kind)
                .or_default()
                .push(notice.text);
            None
        } else {
            self.last.insert(notice.kind, now);
            Some(notice)
        }
    }

    /// When the next held-back summary is due.
    pub fn next_due(&self) -> Option<Instant> {
        self.pending
            .keys()
            .filter_map(|kind| self.last.get(kind).map(|last| *last + self.window))
            .min()
    }

    /// The summaries due at `now`.
    pub fn flush(&mut self, now: Instant) -> Vec<Notice> {
        let due: Vec<NoticeKind> = self
            .pending
            .keys()
            .copied()
            .filter(|kind| {
                self.last
                    .get(kind)
                    .is_none_or(|last| now >= *last + self.window)
            })
            .collect();
        due.into_iter()
            .filter_map(|kind| {
                let texts = self.pending.remove(&kind)?;
                self.last.insert(kind, now);
                Some(summary(kind, texts))
            })
            .collect()
    }
}

/// Several notices of one kind as one.
fn summary(kind: NoticeKind, mut texts: Vec<String>) -> Notice {
    if texts.len() == 1 {
        return Notice::new(kind, texts.remove(0));
    }
    let n = texts.len();
    let head = match kind {
        NoticeKind::Queued => format!("{n} runs were queued:"),
        NoticeKind::Handoff => format!("The desktop changed hands {n} times:"),
        NoticeKind::Stopped => format!("{n} runs were stopped:"),
        NoticeKind::Expired => format!("{n} runs stopped responding:"),
    };
    let shown = 3;
    let mut lines = vec![head];
    lines.extend(texts.iter().take(shown).cloned());
    if n > shown {
        lines.push(format!("… and {} more", n - shown));
    }
    Notice::new(kind, lines.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use baton_core::Timestamp;

    fn ev(seq: u64, run: i64, kind: EventKind) -> Event {
        Event {
            seq,
            at: Timestamp(0),
            run_id: Some(RunId(run)),
            kind,
        }
    }

    fn submitted(title: &str, client: &str) -> EventKind {
        EventKind::Submitted {
            title: title.into(),
            client: client.into(),
            needs_desktop: true,
            replaces: None,
        }
    }

    fn texts(noticer: &mut Noticer, events: &[Event], holder_now: Option<i64>) -> Vec<String> {
        events
            .iter()
            .flat_map(|e| noticer.on_event(e, holder_now.map(RunId)))
            .map(|n| n.text)
            .collect()
    }

    #[test]
    fn queue_stop_and_hand_off_read_as_the_issue_says() {
        let mut n = Noticer::default();
        let log = [
            ev(1, 1, submitted("log in", "claude-code")),
            ev(
                2,
                1,
                EventKind::Granted {
                    lease_token: 1,
                    handed_from: None,
                },
            ),
            ev(3, 2, submitted("fill form", "codex")),
            ev(
                4,
                2,
                EventKind::Queued {
                    position: 1,
                    behind: Some(RunId(1)),
                },
            ),
            ev(
                5,
                1,
                EventKind::Cancelled {
                    by: "user:hotkey".into(),
                    reason: None,
                    replaced_by: None,
                },
            ),
            ev(
                6,
                1,
                EventKind::Released {
                    lease_token: Some(1),
                },
            ),
            ev(
                7,
                2,
                EventKind::Granted {
                    lease_token: 2,
                    handed_from: Some(RunId(1)),
                },
            ),
        ];
        assert_eq!(
            texts(&mut n, &log, Some(2)),
            vec![
                "'fill form' (codex) is queued behind 'log in' (claude-code), position 1 — it starts automatically when the desktop is released",
                "Stopped 'log in' (hotkey)",
                "Desktop handed from 'log in' to 'fill form'",
            ]
        );
    }

    #[test]
    fn a_holder_that_stops_responding_says_who_got_the_desktop() {
        let mut n = Noticer::default();
        let setup = [
            ev(1, 1, submitted("A", "x")),
            ev(
                2,
                1,
                EventKind::Granted {
                    lease_token: 1,
                    handed_from: None,
                },
            ),
            ev(3, 2, submitted("B", "y")),
        ];
        texts(&mut n, &setup, Some(1));
        let log = [
            ev(
                4,
                1,
                EventKind::Expired {
                    reason: "no heartbeat for 15s".into(),
                },
            ),
            ev(
                5,
                1,
                EventKind::Released {
                    lease_token: Some(1),
                },
            ),
            ev(
                6,
                2,
                EventKind::Granted {
                    lease_token: 2,
                    handed_from: Some(RunId(1)),
                },
            ),
        ];
        assert_eq!(
            texts(&mut n, &log, Some(2)),
            vec!["'A' stopped responding; the desktop went to 'B'"]
        );
        // Nobody waiting: the desktop is free.
        let log = [
            ev(
                7,
                2,
                EventKind::Expired {
                    reason: "its connection to Baton closed".into(),
                },
            ),
            ev(
                8,
                2,
                EventKind::Released {
                    lease_token: Some(2),
                },
            ),
        ];
        assert_eq!(
            texts(&mut n, &log, None),
            vec!["'B' stopped responding; the desktop is free"]
        );
    }

    #[test]
    fn relayed_stops_and_paused_queues_are_named_honestly() {
        let mut n = Noticer::default();
        let log = [
            ev(1, 1, submitted("A", "x")),
            ev(
                2,
                1,
                EventKind::Queued {
                    position: 1,
                    behind: None,
                },
            ),
            ev(
                3,
                1,
                EventKind::Cancelled {
                    by: "run:7".into(),
                    reason: Some("user said".into()),
                    replaced_by: None,
                },
            ),
        ];
        assert_eq!(
            texts(&mut n, &log, None),
            vec![
                "'A' (x) is queued at position 1 — hand-offs are paused; it starts automatically when they resume",
                "Stopped 'A' (relayed by run #7)",
            ]
        );
    }

    #[test]
    fn bursts_become_one_summary_per_kind_per_second() {
        let mut c = Coalescer::new(Duration::from_secs(1));
        let t0 = Instant::now();
        let q = |i: u32| Notice::new(NoticeKind::Queued, format!("q{i}"));
        assert_eq!(c.offer(q(1), t0).map(|n| n.text), Some("q1".into()));
        // Another kind is not held back by this one.
        assert!(
            c.offer(Notice::new(NoticeKind::Stopped, "s".into()), t0)
                .is_some()
        );
        for i in 2..=6 {
            assert!(c.offer(q(i), t0 + Duration::from_millis(100)).is_none());
        }
        assert_eq!(c.next_due(), Some(t0 + Duration::from_secs(1)));
        assert!(c.flush(t0 + Duration::from_millis(999)).is_empty());
        let flushed = c.flush(t0 + Duration::from_secs(1));
        assert_eq!(flushed.len(), 1);
        assert_eq!(
            flushed[0].text,
            "5 runs were queued:\nq2\nq3\nq4\n… and 2 more"
        );
        // The window starts again with the summary.
        assert!(c.offer(q(7), t0 + Duration::from_millis(1500)).is_none());
        assert_eq!(c.flush(t0 + Duration::from_secs(2)), vec![q(7)]);
        assert_eq!(c.next_due(), None);
    }
}
