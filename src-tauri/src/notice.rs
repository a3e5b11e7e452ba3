//! Which OS notifications the event log calls for, and how bursts are coalesced. Pure (time is
//! passed in), so it is tested without a display or a notification daemon.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::time::Duration;

use baton_core::{Caller, Event, EventKind, ResourceName, RunBrief, RunId, Snapshot};
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
    /// The person at the computer took over from the holder.
    Takeover,
    /// A run waits for the user's OK to take the free desktop ("ask before an agent takes the
    /// desktop"): a prompt, held back rather than dropped while Do Not Disturb is on.
    Ask,
}

/// What the person can answer from a notification. Each is a user request recorded as
/// `user:notification`, on the run the notification named.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Answer {
    /// Let the run that waits for the user's OK take the desktop.
    Allow,
    /// Move the queued run to the front.
    LetItGoFirst,
    /// Cancel the run.
    CancelIt,
    /// Stop the run that holds the desktop, only if it still does.
    StopIt,
    /// End a takeover: the paused holder may act again.
    GiveItBack,
    /// Open the dashboard (also a click on the notification itself).
    OpenDashboard,
}

impl Answer {
    /// Every answer.
    pub const ALL: [Answer; 6] = [
        Answer::Allow,
        Answer::LetItGoFirst,
        Answer::CancelIt,
        Answer::StopIt,
        Answer::GiveItBack,
        Answer::OpenDashboard,
    ];

    /// The action's key on the notification server. A click on the body is `default`.
    pub fn key(self) -> &'static str {
        match self {
            Answer::Allow => "allow",
            Answer::LetItGoFirst => "front",
            Answer::CancelIt => "cancel",
            Answer::StopIt => "stop",
            Answer::GiveItBack => "give-back",
            Answer::OpenDashboard => "default",
        }
    }

    /// The button's words.
    pub fn label(self) -> &'static str {
        match self {
            Answer::Allow => "Allow",
            Answer::LetItGoFirst => "Let it go first",
            Answer::CancelIt => "Cancel it",
            Answer::StopIt => "Stop it",
            Answer::GiveItBack => "Give it back",
            Answer::OpenDashboard => "Open dashboard",
        }
    }

    /// The answer a server's action key stands for.
    pub fn from_key(key: &str) -> Option<Answer> {
        Answer::ALL.into_iter().find(|a| a.key() == key)
    }
}

/// One notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// Its kind.
    pub kind: NoticeKind,
    /// The sentence.
    pub text: String,
    /// The run it is about; none for a summary of several.
    pub run: Option<RunId>,
    /// What the person can answer from it, first the most likely.
    pub answers: Vec<Answer>,
    /// The resource it is about when it is not the desktop: shown only where the person
    /// switched that resource's notifications on.
    pub resource: Option<ResourceName>,
}

impl Notice {
    fn new(kind: NoticeKind, text: String) -> Self {
        Notice {
            kind,
            text,
            run: None,
            answers: vec![Answer::OpenDashboard],
            resource: None,
        }
    }

    /// The same notice with no answer but the dashboard (its kind's answers are switched off).
    pub fn without_answers(mut self) -> Self {
        self.answers = vec![Answer::OpenDashboard];
        self
    }

    /// A notice about `run`, with the answers its kind offers (the dashboard always).
    fn about(kind: NoticeKind, run: RunId, text: String) -> Self {
        let mut answers = match kind {
            NoticeKind::Queued => vec![Answer::LetItGoFirst, Answer::CancelIt],
            NoticeKind::Ask => vec![Answer::Allow, Answer::CancelIt],
            NoticeKind::Handoff => vec![Answer::StopIt],
            NoticeKind::Takeover => vec![Answer::GiveItBack, Answer::StopIt],
            NoticeKind::Stopped | NoticeKind::Expired => Vec::new(),
        };
        answers.push(Answer::OpenDashboard);
        Notice {
            kind,
            text,
            run: Some(run),
            answers,
            resource: None,
        }
    }

    /// A notice about `run` and a resource besides the desktop. Stopping is the desktop's
    /// alone: for a resource the answer is cancelling the run.
    fn on_resource(kind: NoticeKind, run: RunId, resource: &ResourceName, text: String) -> Self {
        let mut notice = Notice::about(kind, run, text);
        for answer in &mut notice.answers {
            if *answer == Answer::StopIt {
                *answer = Answer::CancelIt;
            }
        }
        notice.resource = Some(resource.clone());
        notice
    }
}

/// The prompt: `name` wants the free desktop; allow it or cancel it.
fn ask(run: RunId, name: &str) -> Notice {
    Notice::about(
        NoticeKind::Ask,
        run,
        format!("{name} wants the desktop — it waits for your OK; nobody else starts meanwhile"),
    )
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
    /// Whether the user paused hand-offs (a queue with nobody holding then waits for them,
    /// not for the user's OK).
    paused: bool,
    /// A holder that stopped responding: its release and the grant that follows say who got
    /// the desktop.
    expired_holder: Option<RunId>,
    /// The run the user's OK was asked for, until it is granted or ends.
    awaiting_ok: Option<RunId>,
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
        self.paused = desktop.paused;
        self.awaiting_ok = desktop.awaiting_ok.as_ref().map(|r| r.id);
    }

    /// The prompt for the run the snapshot says waits for the user's OK (at start-up, or when
    /// Do Not Disturb ends and the one held back is out of date).
    pub fn prompt_for(&self, snapshot: &Snapshot) -> Option<Notice> {
        let waiting = snapshot.desktop.awaiting_ok.as_ref()?;
        Some(ask(
            waiting.id,
            &format!("'{}' ({})", waiting.title, waiting.client),
        ))
    }

    /// The notices `event` calls for.
    pub fn on_event(&mut self, event: &Event) -> Vec<Notice> {
        let Some(id) = event.run_id else {
            match event.kind {
                EventKind::HandoffsPaused { .. } => {
                    self.paused = true;
                    self.awaiting_ok = None;
                }
                EventKind::HandoffsResumed { .. } => self.paused = false,
                _ => {}
            }
            return Vec::new();
        };
        let mut notices = Vec::new();
        // Other resources than the desktop have notices of their own, which the person
        // switches on per resource (the gate checks).
        if let EventKind::Queued { resource, .. }
        | EventKind::Granted { resource, .. }
        | EventKind::Released { resource, .. } = &event.kind
            && !resource.is_desktop()
        {
            return self.on_resource_event(id, resource, &event.kind);
        }
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
            EventKind::Queued {
                position, behind, ..
            } => {
                self.queued.insert(id);
                let text = match behind {
                    Some(holder) => format!(
                        "{} is queued behind {}, position {position} — it starts automatically when the desktop is released",
                        self.name(id),
                        self.name(*holder)
                    ),
                    None if self.paused => format!(
                        "{} is queued at position {position} — hand-offs are paused; it starts automatically when they resume",
                        self.name(id)
                    ),
                    // First in line on a free desktop: the prompt that follows says it all.
                    None if *position == 1 => return notices,
                    None if self.awaiting_ok.is_some() => format!(
                        "{} is queued at position {position}, behind a run that waits for your OK",
                        self.name(id)
                    ),
                    None => format!(
                        "{} is queued at position {position}, behind a run that waits for another resource it needs",
                        self.name(id)
                    ),
                };
                notices.push(Notice::about(NoticeKind::Queued, id, text));
            }
            EventKind::AwaitingOk => {
                self.awaiting_ok = Some(id);
                notices.push(ask(id, &self.name(id)));
            }
            EventKind::Granted { handed_from, .. } => {
                self.awaiting_ok = None;
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
                        notices.push(Notice::about(
                            NoticeKind::Handoff,
                            id,
                            format!(
                                "Desktop handed from {} to {}",
                                self.title(*from),
                                self.title(id)
                            ),
                        ));
                    }
                }
            }
            EventKind::Released {
                lease_token,
                handed_to,
                ..
            } => {
                if lease_token.is_some() && self.holder == Some(id) {
                    self.holder = None;
                }
                self.queued.remove(&id);
                // A holder that stopped responding, and nobody to take over.
                if self.expired_holder == Some(id) && handed_to.is_none() {
                    self.expired_holder = None;
                    notices.push(Notice::new(
                        NoticeKind::Expired,
                        format!("{} stopped responding; the desktop is free", self.title(id)),
                    ));
                }
            }
            EventKind::Cancelled {
                by, replaced_by, ..
            } => {
                let how = match by {
                    Caller::User { via } => via.clone(),
                    Caller::Run(run) => format!("relayed by run #{run}"),
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
                if self.holder == Some(id) {
                    // Its release says next whether anyone takes over.
                    self.expired_holder = Some(id);
                } else if self.queued.contains(&id) {
                    notices.push(Notice::new(
                        NoticeKind::Expired,
                        format!("{} stopped responding and left the queue", self.title(id)),
                    ));
                }
                self.ended(id);
            }
            EventKind::HolderPaused { by } if by.is_takeover() => {
                notices.push(Notice::about(
                    NoticeKind::Takeover,
                    id,
                    format!(
                        "{} is paused while you use the computer; it goes on by itself once you stop",
                        self.title(id)
                    ),
                ));
            }
            EventKind::Finished { .. } | EventKind::Withdrawn { .. } | EventKind::Interrupted => {
                self.ended(id);
            }
            _ => {}
        }
        notices
    }

    /// The notices a resource besides the desktop calls for: its queueing and its hand-offs.
    fn on_resource_event(
        &mut self,
        id: RunId,
        resource: &ResourceName,
        kind: &EventKind,
    ) -> Vec<Notice> {
        match kind {
            EventKind::Queued {
                position, behind, ..
            } => {
                let behind = match behind {
                    Some(holder) => format!("behind {}", self.name(*holder)),
                    None => "behind runs that wait for it".to_string(),
                };
                vec![Notice::on_resource(
                    NoticeKind::Queued,
                    id,
                    resource,
                    format!(
                        "{} is queued for '{resource}' {behind}, position {position} — it starts automatically when '{resource}' is free",
                        self.name(id)
                    ),
                )]
            }
            EventKind::Granted {
                handed_from: Some(from),
                ..
            } => vec![Notice::on_resource(
                NoticeKind::Handoff,
                id,
                resource,
                format!(
                    "'{resource}' handed from {} to {}",
                    self.title(*from),
                    self.title(id)
                ),
            )],
            _ => Vec::new(),
        }
    }

    fn ended(&mut self, id: RunId) {
        self.queued.remove(&id);
        if self.awaiting_ok == Some(id) {
            self.awaiting_ok = None;
        }
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

/// At most one notification per kind per window, and a burst becomes one summary: a notice
/// waits a moment (the gather time) for others of its kind before it is shown, and what comes
/// within the window after one was shown waits for the window to end.
#[derive(Debug)]
pub struct Coalescer {
    window: Duration,
    gather: Duration,
    /// When a notice of each kind was last shown.
    last: HashMap<NoticeKind, Instant>,
    /// Notices waiting, with when the first of them arrived.
    pending: BTreeMap<NoticeKind, (Instant, Vec<Notice>)>,
}

impl Coalescer {
    /// A coalescer showing at most one notice of a kind per `window`, gathering a burst for
    /// `gather` (the product uses one second and 150 ms).
    pub fn new(window: Duration, gather: Duration) -> Self {
        Coalescer {
            window,
            gather,
            last: HashMap::new(),
            pending: BTreeMap::new(),
        }
    }

    /// Takes a notice; it is shown by a later [`Coalescer::flush`].
    pub fn offer(&mut self, notice: Notice, now: Instant) {
        self.pending
            .entry(notice.kind)
            .or_insert_with(|| (now, Vec::new()))
            .1
            .push(notice);
    }

    /// When the next notice is due.
    pub fn next_due(&self) -> Option<Instant> {
        self.pending
            .iter()
            .map(|(kind, (first, _))| self.due(*kind, *first))
            .min()
    }

    /// The notices due at `now`: one per kind, a summary where several waited.
    pub fn flush(&mut self, now: Instant) -> Vec<Notice> {
        let due: Vec<NoticeKind> = self
            .pending
            .iter()
            .filter(|(kind, (first, _))| now >= self.due(**kind, *first))
            .map(|(kind, _)| *kind)
            .collect();
        due.into_iter()
            .filter_map(|kind| {
                let (_, notices) = self.pending.remove(&kind)?;
                self.last.insert(kind, now);
                Some(summary(kind, notices))
            })
            .collect()
    }

    fn due(&self, kind: NoticeKind, first: Instant) -> Instant {
        let gathered = first + self.gather;
        match self.last.get(&kind) {
            Some(last) => gathered.max(*last + self.window),
            None => gathered,
        }
    }
}

/// Several notices of one kind as one, which answers only with the dashboard: it names no
/// single run to act on.
fn summary(kind: NoticeKind, mut notices: Vec<Notice>) -> Notice {
    // Only one run waits for the user's OK at a time: the newest prompt is the one that
    // stands, the older ones were about runs that no longer wait.
    if (notices.len() == 1 || kind == NoticeKind::Ask)
        && let Some(newest) = notices.pop()
    {
        return newest;
    }
    let resources = notices.iter().any(|n| n.resource.is_some());
    let texts: Vec<String> = notices.into_iter().map(|n| n.text).collect();
    let n = texts.len();
    let head = match kind {
        NoticeKind::Queued => format!("{n} runs were queued:"),
        NoticeKind::Handoff if resources => format!("Resources changed hands {n} times:"),
        NoticeKind::Handoff => format!("The desktop changed hands {n} times:"),
        NoticeKind::Stopped => format!("{n} runs were stopped:"),
        NoticeKind::Expired => format!("{n} runs stopped responding:"),
        NoticeKind::Takeover => format!("You took over {n} times:"),
        NoticeKind::Ask => format!("{n} runs asked for the desktop:"),
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
            resources: Vec::new(),
        }
    }

    fn texts(noticer: &mut Noticer, events: &[Event]) -> Vec<String> {
        events
            .iter()
            .flat_map(|e| noticer.on_event(e))
            .map(|n| n.text)
            .collect()
    }

    #[test]
    fn another_resource_has_notices_of_its_own_shown_only_where_switched_on() {
        let browser: ResourceName = "browser:work".parse().expect("a name");
        let mut n = Noticer::default();
        let mut notices = Vec::new();
        for event in [
            ev(1, 1, submitted("research", "codex")),
            ev(
                2,
                1,
                EventKind::Granted {
                    lease_token: 1,
                    handed_from: None,
                    resource: browser.clone(),
                },
            ),
            ev(3, 2, submitted("compare", "cli")),
            ev(
                4,
                2,
                EventKind::Queued {
                    position: 1,
                    behind: Some(RunId(1)),
                    resource: browser.clone(),
                },
            ),
            ev(
                5,
                1,
                EventKind::Released {
                    lease_token: Some(1),
                    handed_to: Some(RunId(2)),
                    resource: browser.clone(),
                },
            ),
            ev(
                6,
                2,
                EventKind::Granted {
                    lease_token: 2,
                    handed_from: Some(RunId(1)),
                    resource: browser.clone(),
                },
            ),
        ] {
            notices.extend(n.on_event(&event));
        }
        let texts: Vec<&str> = notices.iter().map(|n| n.text.as_str()).collect();
        assert_eq!(
            texts,
            [
                "'compare' (cli) is queued for 'browser:work' behind 'research' (codex), position 1 — it starts automatically when 'browser:work' is free",
                "'browser:work' handed from 'research' to 'compare'",
            ]
        );
        assert!(
            notices
                .iter()
                .all(|n| n.resource.as_ref() == Some(&browser))
        );
        // Stopping is the desktop's: the hand-off's answer is cancelling the run.
        assert!(notices[1].answers.contains(&Answer::CancelIt));
        assert!(!notices[1].answers.contains(&Answer::StopIt));
        // Off by default; on where the person switched the resource on.
        let mut settings = crate::settings::NotifySettings::default();
        assert!(!settings.shows(&notices[0]));
        settings.resources.insert(browser);
        assert!(settings.shows(&notices[0]));
        settings.queued = false;
        assert!(
            !settings.shows(&notices[0]),
            "the kind's switch still counts"
        );
        // The desktop's own notices do not depend on it.
        let mut desktop = Noticer::default();
        let desktop_notices: Vec<Notice> = [
            ev(1, 1, submitted("a", "cli")),
            ev(
                2,
                2,
                EventKind::Queued {
                    position: 1,
                    behind: Some(RunId(1)),
                    resource: ResourceName::desktop(),
                },
            ),
        ]
        .iter()
        .flat_map(|e| desktop.on_event(e))
        .collect();
        assert!(crate::settings::NotifySettings::default().shows(&desktop_notices[0]));
    }

    #[test]
    fn a_run_waiting_for_the_ok_is_one_prompt_with_allow_and_cancel() {
        let mut n = Noticer::default();
        let queued = |position| EventKind::Queued {
            position,
            behind: None,
            resource: baton_core::ResourceName::desktop(),
        };
        let mut notices = Vec::new();
        for event in [
            ev(1, 1, submitted("fill the form", "codex")),
            ev(2, 1, queued(1)),
            ev(3, 1, EventKind::AwaitingOk),
            ev(4, 2, submitted("book", "cli")),
            ev(5, 2, queued(2)),
        ] {
            notices.extend(n.on_event(&event));
        }
        let texts: Vec<&str> = notices.iter().map(|n| n.text.as_str()).collect();
        assert_eq!(
            texts,
            [
                "'fill the form' (codex) wants the desktop — it waits for your OK; nobody else starts meanwhile",
                "'book' (cli) is queued at position 2, behind a run that waits for your OK",
            ]
        );
        assert_eq!(notices[0].kind, NoticeKind::Ask);
        assert_eq!(notices[0].run, Some(RunId(1)));
        assert_eq!(
            notices[0].answers,
            vec![Answer::Allow, Answer::CancelIt, Answer::OpenDashboard]
        );
        // With hand-offs paused, a queue on a free desktop waits for them, not for an OK.
        n.on_event(&Event {
            seq: 6,
            at: Timestamp(0),
            run_id: None,
            kind: EventKind::HandoffsPaused {
                by: baton_core::Caller::user("tray"),
            },
        });
        let paused = n.on_event(&ev(7, 3, queued(3)));
        assert!(
            paused[0].text.contains("hand-offs are paused"),
            "{paused:?}"
        );
        // Prompts asked in a burst (the user reordering) keep the newest, with its answers.
        n.on_event(&ev(8, 2, submitted("book", "cli")));
        let newer = n.on_event(&ev(9, 2, EventKind::AwaitingOk)).remove(0);
        let mut c = Coalescer::new(Duration::from_secs(1), Duration::from_millis(150));
        let t0 = Instant::now();
        c.offer(notices[0].clone(), t0);
        c.offer(newer.clone(), t0);
        assert_eq!(c.flush(t0 + Duration::from_secs(1)), vec![newer]);
        // At start-up, the run already waiting is asked about from the snapshot.
        let mut snapshot = Snapshot::default();
        snapshot.desktop.awaiting_ok = Some(RunBrief {
            id: RunId(4),
            title: "t".into(),
            client: "c".into(),
        });
        let prompt = Noticer::default()
            .prompt_for(&snapshot)
            .expect("a prompt for the waiting run");
        assert_eq!(prompt.run, Some(RunId(4)));
        assert_eq!(prompt.kind, NoticeKind::Ask);
    }

    #[test]
    fn each_notice_about_one_run_carries_its_answers_and_a_summary_only_the_dashboard() {
        let mut n = Noticer::default();
        let granted = |from: Option<i64>| EventKind::Granted {
            lease_token: 1,
            handed_from: from.map(RunId),
            resource: baton_core::ResourceName::desktop(),
        };
        let queued = EventKind::Queued {
            position: 1,
            behind: Some(RunId(1)),
            resource: baton_core::ResourceName::desktop(),
        };
        let paused = EventKind::HolderPaused {
            by: baton_core::Caller::user("takeover"),
        };
        let mut notices = Vec::new();
        for event in [
            ev(1, 1, submitted("a", "x")),
            ev(2, 1, granted(None)),
            ev(3, 2, submitted("b", "y")),
            ev(4, 2, queued),
            ev(5, 1, paused),
            ev(6, 2, granted(Some(1))),
        ] {
            notices.extend(n.on_event(&event));
        }
        let answers: Vec<(NoticeKind, Option<RunId>, Vec<Answer>)> = notices
            .iter()
            .map(|n| (n.kind, n.run, n.answers.clone()))
            .collect();
        use Answer::*;
        assert_eq!(
            answers,
            [
                (
                    NoticeKind::Queued,
                    Some(RunId(2)),
                    vec![LetItGoFirst, CancelIt, OpenDashboard]
                ),
                (
                    NoticeKind::Takeover,
                    Some(RunId(1)),
                    vec![GiveItBack, StopIt, OpenDashboard]
                ),
                (
                    NoticeKind::Handoff,
                    Some(RunId(2)),
                    vec![StopIt, OpenDashboard]
                ),
            ]
        );
        // A burst of two queued notices becomes one that names no run.
        let mut c = Coalescer::new(Duration::from_secs(1), Duration::from_millis(150));
        let t0 = Instant::now();
        c.offer(notices[0].clone(), t0);
        c.offer(notices[0].clone(), t0);
        let shown = c.flush(t0 + Duration::from_secs(1));
        assert_eq!(shown[0].run, None);
        assert_eq!(shown[0].answers, vec![OpenDashboard]);
        for answer in Answer::ALL {
            assert_eq!(Answer::from_key(answer.key()), Some(answer));
        }
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
                    resource: baton_core::ResourceName::desktop(),
                },
            ),
            ev(3, 2, submitted("fill form", "codex")),
            ev(
                4,
                2,
                EventKind::Queued {
                    position: 1,
                    behind: Some(RunId(1)),
                    resource: baton_core::ResourceName::desktop(),
                },
            ),
            ev(
                5,
                1,
                EventKind::Cancelled {
                    by: baton_core::Caller::user("hotkey"),
                    reason: None,
                    replaced_by: None,
                },
            ),
            ev(
                6,
                1,
                EventKind::Released {
                    lease_token: Some(1),
                    handed_to: Some(RunId(2)),
                    resource: baton_core::ResourceName::desktop(),
                },
            ),
            ev(
                7,
                2,
                EventKind::Granted {
                    lease_token: 2,
                    handed_from: Some(RunId(1)),
                    resource: baton_core::ResourceName::desktop(),
                },
            ),
        ];
        assert_eq!(
            texts(&mut n, &log),
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
                    resource: baton_core::ResourceName::desktop(),
                },
            ),
            ev(3, 2, submitted("B", "y")),
        ];
        texts(&mut n, &setup);
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
                    handed_to: Some(RunId(2)),
                    resource: baton_core::ResourceName::desktop(),
                },
            ),
            ev(
                6,
                2,
                EventKind::Granted {
                    lease_token: 2,
                    handed_from: Some(RunId(1)),
                    resource: baton_core::ResourceName::desktop(),
                },
            ),
        ];
        assert_eq!(
            texts(&mut n, &log),
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
                    handed_to: None,
                    resource: baton_core::ResourceName::desktop(),
                },
            ),
        ];
        assert_eq!(
            texts(&mut n, &log),
            vec!["'B' stopped responding; the desktop is free"]
        );
    }

    #[test]
    fn relayed_stops_and_paused_queues_are_named_honestly() {
        let mut n = Noticer::default();
        let log = [
            Event {
                seq: 1,
                at: Timestamp(0),
                run_id: None,
                kind: EventKind::HandoffsPaused {
                    by: baton_core::Caller::user("cli"),
                },
            },
            ev(1, 1, submitted("A", "x")),
            ev(
                2,
                1,
                EventKind::Queued {
                    position: 1,
                    behind: None,
                    resource: baton_core::ResourceName::desktop(),
                },
            ),
            ev(
                3,
                1,
                EventKind::Cancelled {
                    by: baton_core::Caller::Run(baton_core::RunId(7)),
                    reason: Some("user said".into()),
                    replaced_by: None,
                },
            ),
        ];
        assert_eq!(
            texts(&mut n, &log),
            vec![
                "'A' (x) is queued at position 1 — hand-offs are paused; it starts automatically when they resume",
                "Stopped 'A' (relayed by run #7)",
            ]
        );
    }

    #[test]
    fn bursts_become_one_summary_per_kind_per_second() {
        let ms = Duration::from_millis;
        let mut c = Coalescer::new(Duration::from_secs(1), ms(150));
        let t0 = Instant::now();
        let q = |i: u32| Notice::new(NoticeKind::Queued, format!("q{i}"));
        // A burst: five at once become one summary after the gather time.
        for i in 1..=5 {
            c.offer(q(i), t0 + ms(u64::from(i) * 10));
        }
        // Another kind is not held back by this one.
        c.offer(Notice::new(NoticeKind::Stopped, "s".into()), t0);
        assert_eq!(c.next_due(), Some(t0 + ms(150)));
        assert!(c.flush(t0 + ms(149)).is_empty());
        let shown = c.flush(t0 + ms(160));
        assert_eq!(shown.len(), 2);
        assert_eq!(
            shown[0].text,
            "5 runs were queued:\nq1\nq2\nq3\n… and 2 more"
        );
        assert_eq!(shown[1].text, "s");
        // A single one shows as itself, but not sooner than a second after the last of its kind.
        c.offer(q(6), t0 + ms(300));
        assert_eq!(c.next_due(), Some(t0 + ms(1160)));
        assert!(c.flush(t0 + ms(1000)).is_empty());
        assert_eq!(c.flush(t0 + ms(1160)), vec![q(6)]);
        assert_eq!(c.next_due(), None);
    }
}
