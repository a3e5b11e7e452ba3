//! Every honest sentence Baton says about the desktop and the other resources (DESIGN rule 11),
//! in one place: why a run waits, for what and for whom, why it may not act, how it ended. Where an agent and a person at a
//! terminal both hear about the same situation, the two wordings stand side by side
//! ([`Voice`]), built from the same facts, so that they cannot tell different stories.

use crate::model::{Caller, Run, RunBrief, RunId, RunState, RunStatus, Waiting};
use crate::resource::ResourceName;

/// Who reads a sentence about a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Voice {
    /// The agent whose run it is, addressed as "you" (the API's `message`, MCP, the hook).
    Agent,
    /// A person at a terminal reading about the run (the CLI's `baton run`), which names the
    /// command to answer with.
    Terminal,
}

impl Voice {
    /// "you will start" / "starting".
    fn start(self) -> &'static str {
        match self {
            Voice::Agent => "you will start",
            Voice::Terminal => "starting",
        }
    }

    /// Whose turn: "your turn" / "this one's turn".
    fn turn(self) -> &'static str {
        match self {
            Voice::Agent => "your turn",
            Voice::Terminal => "this one's turn",
        }
    }

    /// An agent reads whole sentences; a terminal line has no full stop.
    fn end(self) -> &'static str {
        match self {
            Voice::Agent => ".",
            Voice::Terminal => "",
        }
    }
}

/// Where a queued run stands: the facts every sentence about waiting is made of.
#[derive(Debug, Clone, Copy)]
pub enum Standing<'a> {
    /// Behind the run that holds the desktop.
    Behind {
        /// The holder.
        holder: &'a RunBrief,
        /// The person OKs each run that takes the desktop.
        ask_first: bool,
        /// The person paused hand-offs.
        handoffs_paused: bool,
    },
    /// At the head of the queue of a free desktop, waiting for the person's OK.
    AwaitingOk,
    /// Behind the run at the head that waits for the person's OK (named where known).
    BehindAwaitingOk {
        /// That run.
        head: Option<&'a RunBrief>,
    },
    /// The desktop is free, but the person paused hand-offs.
    HandoffsPaused,
    /// The desktop is free, but the run first in line for it waits for another resource it
    /// needs too (named where known); nobody overtakes it (DESIGN rule 13).
    BehindWaiting {
        /// That run.
        head: Option<&'a RunBrief>,
    },
}

impl<'a> Standing<'a> {
    /// From the desktop's state as the status snapshot has it: its holder, whether hand-offs
    /// are paused, and the run waiting for the person's OK (the run itself at position 1).
    pub fn of_desktop(
        holder: Option<&'a RunBrief>,
        position: usize,
        handoffs_paused: bool,
        awaiting_ok: Option<&'a RunBrief>,
        ask_first: bool,
    ) -> Self {
        match (holder, awaiting_ok) {
            (Some(holder), _) => Standing::Behind {
                holder,
                ask_first,
                handoffs_paused,
            },
            (None, Some(_)) if position == 1 => Standing::AwaitingOk,
            (None, Some(head)) => Standing::BehindAwaitingOk { head: Some(head) },
            (None, None) if handoffs_paused => Standing::HandoffsPaused,
            (None, None) => Standing::BehindWaiting { head: None },
        }
    }

    /// From a queued run's own status.
    pub fn of_status(status: &'a RunStatus) -> Self {
        match (&status.queued_behind, status.handoffs_paused) {
            (Some(holder), handoffs_paused) => Standing::Behind {
                holder,
                ask_first: status.ask_first,
                handoffs_paused,
            },
            (None, _) if status.awaiting_ok => Standing::AwaitingOk,
            (None, false) if status.ask_first => Standing::BehindAwaitingOk { head: None },
            (None, false) => Standing::BehindWaiting { head: None },
            (None, true) => Standing::HandoffsPaused,
        }
    }
}

/// DESIGN rule 11: the honest answer to run `id`, queued at `position`, in `voice`.
pub fn queued(standing: Standing<'_>, id: RunId, position: usize, voice: Voice) -> String {
    let (start, turn, end) = (voice.start(), voice.turn(), voice.end());
    match standing {
        Standing::Behind {
            holder,
            ask_first,
            handoffs_paused,
        } => {
            let then = if handoffs_paused {
                format!(
                    "hand-offs are paused by the user, so {start} automatically when they resume and the desktop is released"
                )
            } else if ask_first {
                format!(
                    "the user OKs each run that takes the desktop, so {start} once it is released, it is {turn} and they allow it"
                )
            } else {
                format!("{start} automatically when it is released")
            };
            format!(
                "the desktop is busy: queued behind '{}' ({}), position {position}; {then}{end}",
                holder.title, holder.client
            )
        }
        Standing::AwaitingOk => {
            let how = match voice {
                Voice::Agent => String::new(),
                Voice::Terminal => format!(" (the tray, or 'baton allow {id}')"),
            };
            format!(
                "the desktop is free, but the user OKs each run that takes it: waiting for the user's OK{how}, position 1; {start} automatically when they allow it{end}"
            )
        }
        Standing::BehindAwaitingOk { head } => {
            let head = head.map_or_else(
                || "the run".to_string(),
                |h| format!("'{}' ({})", h.title, h.client),
            );
            format!(
                "the desktop is free, but the user OKs each run that takes it: queued behind {head}, which waits for that OK, position {position}; {start} automatically when it is {turn} and the user allows it{end}"
            )
        }
        Standing::HandoffsPaused => format!(
            "hand-offs are paused by the user: queued at position {position}; {start} automatically when they resume{end}"
        ),
        Standing::BehindWaiting { head } => {
            let head = head.map_or_else(
                || "the run first in line".to_string(),
                |h| format!("'{}' ({}), first in line,", h.title, h.client),
            );
            format!(
                "the desktop is free, but {head} waits for another resource it needs too: queued at position {position}; {start} automatically when it is {turn}{end}"
            )
        }
    }
}

/// DESIGN rule 11 for a resource other than the desktop: where the run waits, for what and
/// behind whom, in `voice`.
pub fn waiting_message(waiting: &Waiting, voice: Voice) -> String {
    let (start, turn, end) = (voice.start(), voice.turn(), voice.end());
    let Waiting {
        resource,
        position,
        behind,
        ahead,
    } = waiting;
    match behind {
        Some(holder) => format!(
            "'{resource}' is busy: queued behind '{}' ({}) for '{resource}', position {position}; {start} automatically when it is {turn}{end}",
            holder.title, holder.client
        ),
        None => format!(
            "queued for '{resource}' at position {position}, behind {} that {} for it first; {start} automatically when it is {turn}{end}",
            match ahead {
                1 => "1 run".to_string(),
                n => format!("{n} runs"),
            },
            if *ahead == 1 { "waits" } else { "wait" },
        ),
    }
}

/// The agent's sentence for a run queued on the desktop as the snapshot has it (the API's
/// `message`, the hook's and the input refusal's reason).
pub fn queued_message(
    id: RunId,
    behind: Option<&RunBrief>,
    position: usize,
    handoffs_paused: bool,
    awaiting_ok: Option<&RunBrief>,
    ask_first: bool,
) -> String {
    let standing = Standing::of_desktop(behind, position, handoffs_paused, awaiting_ok, ask_first);
    queued(standing, id, position, Voice::Agent)
}

/// The terminal's sentence for a queued run, from its own status (`baton run` while it waits).
pub fn queue_notice(status: &RunStatus) -> String {
    if let Some(waiting) = &status.waiting_for {
        return waiting_message(waiting, Voice::Terminal);
    }
    let position = status.run.position.unwrap_or_default();
    queued(
        Standing::of_status(status),
        status.run.id,
        position,
        Voice::Terminal,
    )
}

/// The terminal's line when a run that waited is granted what it needs: each resource with
/// its token, the desktop's named as always.
pub fn granted_notice(run: &Run) -> String {
    let desktop = run.holds_desktop.then(|| {
        format!(
            "the desktop is yours (lease token {})",
            run.lease_token.unwrap_or_default()
        )
    });
    let others = held_besides_desktop(run);
    let others = match others.len() {
        0 => None,
        1 => Some(format!("{} is yours", others[0])),
        _ => Some(format!("{} are yours", others.join(" and "))),
    };
    let held: Vec<String> = desktop.into_iter().chain(others).collect();
    format!("{}; starting", held.join(", and "))
}

/// The honest answer to a run that asked not to wait, when the desktop is not free.
/// `asks_first`: the desktop is free, but the person OKs each run that takes it.
pub fn busy_message(
    holder: Option<&RunBrief>,
    waiting: usize,
    handoffs_paused: bool,
    asks_first: bool,
) -> String {
    let who = match holder {
        Some(h) => format!("the desktop is busy: held by '{}' ({})", h.title, h.client),
        None if handoffs_paused => "the desktop is held back: the user paused hand-offs".into(),
        None if asks_first => {
            "the desktop is free, but the user OKs each run that takes it".to_string()
        }
        None => "the desktop is held back".to_string(),
    };
    let queue = match waiting {
        0 => String::new(),
        1 => ", 1 run waiting".to_string(),
        n => format!(", {n} runs waiting"),
    };
    let paused = if handoffs_paused && holder.is_some() {
        ", hand-offs paused"
    } else {
        ""
    };
    format!("{who}{queue}{paused}; not queued, because the run asked not to wait")
}

/// The honest answer to a run that asked not to wait, when a resource other than the desktop
/// has no room for it now.
pub fn resource_busy_message(
    resource: &ResourceName,
    holder: Option<&RunBrief>,
    holders: usize,
    waiting: usize,
) -> String {
    let who = match (holder, holders) {
        (Some(h), 1) => format!("'{resource}' is busy: held by '{}' ({})", h.title, h.client),
        (Some(h), n) => format!(
            "'{resource}' is busy: held by '{}' ({}) and {} more",
            h.title,
            h.client,
            n - 1
        ),
        (None, _) => format!("'{resource}' is not free"),
    };
    let queue = match waiting {
        0 => String::new(),
        1 => ", 1 run waiting".to_string(),
        n => format!(", {n} runs waiting"),
    };
    format!("{who}{queue}; not queued, because the run asked not to wait")
}

/// The sentence for a run that is not waiting.
pub(crate) fn state_message(run: &Run) -> String {
    let id = run.id;
    match run.state {
        RunState::Queued => format!("run #{id} is waiting for the desktop"),
        RunState::Running if run.holds_desktop && run.holds.len() > 1 => format!(
            "run #{id} holds the desktop with lease token {}, and {}",
            run.lease_token.unwrap_or_default(),
            others_held(run)
        ),
        RunState::Running if run.holds_desktop => format!(
            "run #{id} holds the desktop with lease token {}",
            run.lease_token.unwrap_or_default()
        ),
        RunState::Running if !run.holds.is_empty() => format!(
            "run #{id} holds {}, in parallel with the desktop",
            others_held(run)
        ),
        RunState::Running => format!("run #{id} is running in parallel, without the desktop"),
        RunState::Succeeded | RunState::Failed => format!(
            "run #{id} finished: {}",
            run.outcome.as_deref().unwrap_or(run.state.as_str())
        ),
        RunState::Cancelled => format!(
            "run #{id} was cancelled by {}{}",
            match &run.cancelled_by {
                Some(by @ Caller::Run(_)) => format!("the user (relayed by {by})"),
                _ => "the user".to_string(),
            },
            run.reason
                .as_deref()
                .map(|r| format!(": {r}"))
                .unwrap_or_default()
        ),
        RunState::Expired => format!(
            "run #{id} expired: {}",
            run.reason
                .as_deref()
                .unwrap_or("its holder stopped answering")
        ),
        RunState::Withdrawn => format!(
            "run #{id} was withdrawn: {}",
            run.reason
                .as_deref()
                .unwrap_or("its client stopped waiting")
        ),
        RunState::Interrupted => format!("run #{id} was interrupted: Baton stopped under it"),
    }
}

/// The resources besides the desktop that a run holds, each with its token:
/// `'browser:work' (lease token 3) and 'phone' (lease token 1)`; empty when there are none.
pub fn others_held(run: &Run) -> String {
    held_besides_desktop(run).join(" and ")
}

fn held_besides_desktop(run: &Run) -> Vec<String> {
    run.holds
        .iter()
        .filter(|r| !r.is_desktop())
        .map(|r| {
            format!(
                "'{r}' (lease token {})",
                run.leases.get(r).copied().unwrap_or_default()
            )
        })
        .collect()
}

/// What a holder hears while the person at the computer uses it (DESIGN rule 11's honesty, for
/// a takeover).
pub const TAKEOVER_MESSAGE: &str =
    "the person at the computer is using it; you keep your place and resume automatically";

/// Why a run's input is refused: its lease token is not the one it holds the desktop under now.
pub fn stale_token(id: RunId, lease_token: u64, current: u64) -> String {
    format!(
        "lease token {lease_token} is stale: run #{id} holds the desktop under token {current} now"
    )
}

/// Why the input of a run that has ended is refused.
pub fn ended_input(id: RunId, lease_token: u64, ended: RunState) -> String {
    format!(
        "run #{id} no longer holds the desktop (it {ended}); lease token {lease_token} is stale"
    )
}

/// Why a cancelled run's input is refused.
pub fn cancelled_input(run: &Run) -> String {
    format!(
        "run #{} was cancelled by the user{}; its input is refused",
        run.id,
        run.reason
            .as_deref()
            .map(|r| format!(": {r}"))
            .unwrap_or_default()
    )
}

/// Why a running run that does not hold the desktop may not send input.
pub fn not_holder(id: RunId, holder: Option<&RunBrief>) -> String {
    match holder {
        Some(h) => format!(
            "run #{id} does not hold the desktop: '{}' ({}) does; acquire it first",
            h.title, h.client
        ),
        None => format!("run #{id} does not hold the desktop, which is free; acquire it first"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn brief(id: i64, title: &str, client: &str) -> RunBrief {
        RunBrief {
            id: RunId(id),
            title: title.into(),
            client: client.into(),
        }
    }

    /// Both voices tell the same facts of every standing; only the agent is addressed as "you"
    /// and reads full stops, only the terminal is told the command that answers.
    #[test]
    fn both_voices_tell_the_same_facts() {
        let holder = brief(1, "log in", "claude-code");
        let head = brief(2, "fill the form", "codex");
        let cases: Vec<(Standing<'_>, usize, Vec<&str>)> = vec![
            (
                Standing::Behind {
                    holder: &holder,
                    ask_first: false,
                    handoffs_paused: false,
                },
                3,
                vec![
                    "queued behind 'log in' (claude-code)",
                    "position 3",
                    "automatically when it is released",
                ],
            ),
            (
                Standing::Behind {
                    holder: &holder,
                    ask_first: true,
                    handoffs_paused: false,
                },
                2,
                vec![
                    "'log in' (claude-code)",
                    "position 2",
                    "the user OKs each run",
                    "they allow it",
                ],
            ),
            (
                Standing::Behind {
                    holder: &holder,
                    ask_first: true,
                    handoffs_paused: true,
                },
                1,
                vec![
                    "'log in' (claude-code)",
                    "position 1",
                    "hand-offs are paused",
                    "when they resume",
                ],
            ),
            (
                Standing::AwaitingOk,
                1,
                vec![
                    "the desktop is free",
                    "waiting for the user's OK",
                    "position 1",
                ],
            ),
            (
                Standing::BehindAwaitingOk { head: Some(&head) },
                2,
                vec![
                    "'fill the form' (codex)",
                    "which waits for that OK",
                    "position 2",
                ],
            ),
            (
                Standing::HandoffsPaused,
                4,
                vec!["hand-offs are paused", "position 4", "when they resume"],
            ),
        ];
        for (standing, position, facts) in cases {
            let agent = queued(standing, RunId(9), position, Voice::Agent);
            let terminal = queued(standing, RunId(9), position, Voice::Terminal);
            for fact in facts {
                assert!(agent.contains(fact), "{agent}: lacks {fact}");
                assert!(terminal.contains(fact), "{terminal}: lacks {fact}");
            }
            assert!(
                agent.contains("you will start") && agent.ends_with('.'),
                "{agent}"
            );
            assert!(
                !terminal.contains("you") && !terminal.ends_with('.'),
                "{terminal}"
            );
        }
        assert!(
            queued(Standing::AwaitingOk, RunId(9), 1, Voice::Terminal).contains("'baton allow 9'")
        );
    }

    /// The snapshot's view and the run's own status read the same standing.
    #[test]
    fn the_snapshot_and_the_status_agree() {
        let holder = brief(1, "log in", "claude-code");
        assert!(matches!(
            Standing::of_desktop(Some(&holder), 2, true, None, false),
            Standing::Behind {
                handoffs_paused: true,
                ..
            }
        ));
        let me = brief(5, "me", "codex");
        assert!(matches!(
            Standing::of_desktop(None, 1, false, Some(&me), true),
            Standing::AwaitingOk
        ));
        assert!(matches!(
            Standing::of_desktop(None, 2, false, Some(&me), true),
            Standing::BehindAwaitingOk { head: Some(_) }
        ));
        assert!(matches!(
            Standing::of_desktop(None, 2, true, None, false),
            Standing::HandoffsPaused
        ));
    }
}
