//! Baton's own tools: the desktop lease and the run, as an agent asks for them.
//!
//! Answers are sentences an agent can act on. A request Baton refuses (the desktop is not this
//! session's, the user stopped it, no host) is a tool result with `isError`, carrying the
//! reason; malformed arguments are refused by the tool router before anything happens.

use std::time::Duration;

use baton_client::Client;
use baton_client::models::{FinishRequest, InputRequest};
use baton_core::input::Action;
use baton_core::{Outcome, ResourceName, Run, RunId, RunState, RunStatus, Snapshot};
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, ContentBlock};
use rmcp::service::RequestContext;
use rmcp::{RoleServer, schemars, tool, tool_router};
use serde::Deserialize;
use tokio::time::Instant;

use crate::exit::Failure;
use crate::mcp::Baton;
use crate::mcp::session::{Active, stopped_message};
use crate::mcp::wait::{self, Progress, Until, Waited};

/// The longest wait one call may ask for. MCP clients give up on a call after their own
/// timeout (Codex: 60 s by default), and the run keeps its place either way.
pub const MAX_WAIT: Duration = Duration::from_secs(600);
/// What a session without a run is told when it tries to use the desktop.
const NO_RUN: &str =
    "this session neither holds nor waits for the desktop: call desktop_acquire first";
/// `desktop_wait` without a time.
const DEFAULT_WAIT: Duration = Duration::from_secs(30);

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AcquireArgs {
    /// What you are going to do on the desktop, in a few words. The user sees it in the tray,
    /// the queue and the history.
    #[serde(default)]
    pub title: Option<String>,
    /// If the desktop is busy, wait up to this many seconds for it (0, the default: answer at
    /// once; at most 600). You keep your place in the queue either way.
    #[serde(default)]
    pub wait_seconds: Option<f64>,
    /// What to acquire, all at once (default: ["desktop"]). Name other resources the user
    /// declared, such as "browser:work", with or without "desktop": you get all of them
    /// together, or wait holding none.
    #[serde(default)]
    pub resources: Option<Vec<String>>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WaitArgs {
    /// Wait up to this many seconds (default 30, at most 600).
    #[serde(default)]
    pub seconds: Option<f64>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InputArgs {
    /// The actions, run in order as one batch. Examples: {"kind":"move","x":640,"y":360},
    /// {"kind":"click"}, {"kind":"type","text":"hello"}, {"kind":"key","combo":"ctrl+l"},
    /// {"kind":"scroll","dy":3}, {"kind":"wait","ms":500}.
    pub actions: Vec<Action>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AmendArgs {
    /// The run to send the correction to.
    pub run_id: i64,
    /// The correction, as its agent should read it.
    pub text: String,
    /// Required for another run than this session's own: what the user said, in their words
    /// (a session writes to another run's inbox only to relay the user's correction).
    #[serde(default)]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Copy, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FinishOutcome {
    Succeeded,
    Failed,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FinishArgs {
    /// How the work went.
    pub outcome: FinishOutcome,
    /// A few words on the result, for the history.
    #[serde(default)]
    pub note: Option<String>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelArgs {
    /// The run to cancel (see cancel_targets). Never your own.
    pub run_id: i64,
    /// What the user asked for, in their words; recorded in the history.
    pub reason: String,
}

#[tool_router(vis = "pub(crate)")]
impl Baton {
    /// Who holds the desktop, who waits for it, what runs in parallel, and where this session
    /// stands. Read-only: asking changes nothing.
    #[tool(annotations(read_only_hint = true, open_world_hint = false))]
    async fn desktop_status(&self) -> CallToolResult {
        let snapshot: Snapshot = match self.user() {
            Ok(user) => match user.status().await {
                Ok(snapshot) => snapshot,
                Err(failure) => return refused(&failure),
            },
            Err(failure) => return refused(&failure),
        };
        let current = self.session.current().await;
        let mut text = describe_snapshot(&snapshot);
        text.push('\n');
        text.push_str(&match current.as_ref().and_then(Active::status) {
            Some(status) => format!("This session: {}", describe(&status)),
            None => {
                "This session has no run: it neither holds nor waits for the desktop.".to_string()
            }
        });
        answer(current.as_ref(), text)
    }

    /// Ask for the desktop (mouse, keyboard, screen) before using it. Either you get it at once,
    /// or you are queued first come, first served, told honestly behind whom and at which
    /// position, and you get it automatically when it is handed on (call desktop_wait, or pass
    /// wait_seconds). Work that does not need the desktop does not need this.
    #[tool(annotations(
        read_only_hint = false,
        destructive_hint = false,
        open_world_hint = false
    ))]
    async fn desktop_acquire(
        &self,
        Parameters(args): Parameters<AcquireArgs>,
        context: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let wait_for = match seconds(args.wait_seconds, Duration::ZERO, "wait_seconds") {
            Ok(wait_for) => wait_for,
            Err(message) => return error(message),
        };
        let need = match args.resources {
            None => vec![ResourceName::desktop()],
            Some(names) => match names
                .iter()
                .map(|n| n.parse::<ResourceName>())
                .collect::<Result<Vec<_>, _>>()
            {
                Ok(names) if !names.is_empty() => names,
                Ok(_) => {
                    return error(
                        "resources is empty: name at least one, such as \"desktop\"".into(),
                    );
                }
                Err(e) => return error(e.to_string()),
            },
        };
        let active = match self
            .session
            .open(Some(need), args.title, self.client_name(&context))
            .await
        {
            Ok(active) => active,
            Err(failure) => return refused(&failure),
        };
        self.wait_and_answer(active, wait_for, &context).await
    }

    /// Wait for the desktop you asked for with desktop_acquire, up to `seconds`. While you wait
    /// you keep your place and get progress notifications saying where you stand.
    #[tool(annotations(
        read_only_hint = false,
        destructive_hint = false,
        open_world_hint = false
    ))]
    async fn desktop_wait(
        &self,
        Parameters(args): Parameters<WaitArgs>,
        context: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let wait_for = match seconds(args.seconds, DEFAULT_WAIT, "seconds") {
            Ok(wait_for) => wait_for,
            Err(message) => return error(message),
        };
        let Some(active) = self.session.current().await else {
            return self.no_run().await;
        };
        let waits = active
            .status()
            .is_some_and(|s| !s.run.holds.is_empty() || s.run.state == RunState::Queued);
        if !waits {
            return error(format!(
                "run #{} neither holds nor waits for the desktop: call desktop_acquire first",
                active.id
            ));
        }
        self.wait_and_answer(active, wait_for, &context).await
    }

    /// Give the desktop back when you are done with it, so the next in line starts at once.
    /// Your run goes on without it; desktop_acquire queues you again (at the back).
    #[tool(annotations(
        read_only_hint = false,
        destructive_hint = false,
        open_world_hint = false
    ))]
    async fn desktop_release(&self) -> CallToolResult {
        let current = self.session.current().await;
        match self.session.release().await {
            Ok(Some(status)) => answer(
                current.as_ref(),
                format!(
                    "Released: run #{} no longer holds or waits for the desktop and goes on without it.",
                    status.run.id
                ),
            ),
            Ok(None) => answer(
                current.as_ref(),
                "This session neither holds nor waits for the desktop: nothing to release."
                    .to_string(),
            ),
            Err(failure) => refused(&failure),
        }
    }

    /// Move the mouse, click, type and press keys: Baton does it for you, only while you hold
    /// the desktop. Every action is checked again just before it runs, so if you lose the
    /// desktop (the user stopped you, or is using the computer) the rest does not run.
    /// Coordinates are screen pixels; key combos look like "ctrl+l", "Return", "alt+Tab".
    #[tool(annotations(
        read_only_hint = false,
        destructive_hint = true,
        open_world_hint = true
    ))]
    async fn desktop_input(&self, Parameters(args): Parameters<InputArgs>) -> CallToolResult {
        let Some(active) = self.session.current().await else {
            return self.no_run().await;
        };
        let Some(status) = active.status() else {
            return refused(&Failure::no_host());
        };
        // A session that holds a private display acts there, by that display's token.
        let private = status.run.holds.contains(&ResourceName::displays());
        let token = match (private, status.run.holds_desktop, status.run.lease_token) {
            (true, _, _) => match active.me.open_display(active.id).await {
                Ok(display) => display.lease_token,
                Err(failure) => return refused_with(&active, &failure),
            },
            (false, true, Some(token)) => token,
            _ => {
                return error(format!(
                    "run #{} does not hold the desktop: {} Call desktop_acquire (and desktop_wait) first.",
                    active.id, status.message
                ));
            }
        };
        let count = args.actions.len();
        let body = InputRequest {
            lease_token: token,
            actions: args.actions,
        };
        // Input is use of the desktop: no idle release while it runs, and the idle time starts
        // again after it.
        self.session.gate(true).await;
        let ran = active.me.input(active.id, &body).await;
        self.session.gate(false).await;
        match ran {
            Ok(_) => answer(
                Some(&active),
                format!(
                    "Done: {count} action{} ran.",
                    if count == 1 { "" } else { "s" }
                ),
            ),
            Err(failure) => refused_with(&active, &failure),
        }
    }

    /// A picture of this session's private display (Linux), as PNG: acquire "displays" first
    /// (desktop_acquire with resources ["displays"]). The display is yours alone while you hold
    /// it: programs you start with its DISPLAY (given here) open there, and desktop_input acts
    /// there. The person's own screen is never sent.
    #[tool(annotations(read_only_hint = true, open_world_hint = false))]
    async fn display_screenshot(&self) -> CallToolResult {
        let Some(active) = self.session.current().await else {
            return self.no_run().await;
        };
        let display = match active.me.open_display(active.id).await {
            Ok(display) => display,
            Err(failure) => return refused_with(&active, &failure),
        };
        match active.me.screenshot(active.id).await {
            Ok(png) => {
                use base64::Engine;
                let mut content = with_notes(
                    Some(&active),
                    format!(
                        "Run #{}'s private display {} ({}x{}; start programs there with DISPLAY={}).",
                        active.id, display.display, display.width, display.height, display.display
                    ),
                );
                content.insert(
                    0,
                    ContentBlock::image(
                        base64::engine::general_purpose::STANDARD.encode(png),
                        "image/png",
                    ),
                );
                CallToolResult::success(content)
            }
            Err(failure) => refused_with(&active, &failure),
        }
    }

    /// Send a correction to a run's inbox: your own, or another agent's to relay what the user
    /// said (give their words as the reason). Nothing is cancelled or requeued; its agent reads
    /// it with its next answer from Baton.
    #[tool(annotations(
        read_only_hint = false,
        destructive_hint = false,
        open_world_hint = false
    ))]
    async fn run_amend(
        &self,
        Parameters(args): Parameters<AmendArgs>,
        context: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let active = match self.run_for(&context).await {
            Ok(active) => active,
            Err(refusal) => return refusal,
        };
        let sent = active
            .me
            .amend(RunId(args.run_id), args.text, args.reason)
            .await;
        match sent {
            Ok(status) => answer(
                Some(&active),
                format!(
                    "Sent to the inbox of run #{} '{}'.",
                    status.run.id, status.run.title
                ),
            ),
            Err(failure) => refused_with(&active, &failure),
        }
    }

    /// Say that this session's work is done, with its outcome. The desktop is handed on if you
    /// held it. A later desktop_acquire starts a new run.
    #[tool(annotations(
        read_only_hint = false,
        destructive_hint = false,
        open_world_hint = false
    ))]
    async fn run_finish(&self, Parameters(args): Parameters<FinishArgs>) -> CallToolResult {
        let Some(active) = self.session.current().await else {
            return self.no_run().await;
        };
        let started = active
            .status()
            .is_some_and(|status| status.run.started_at.is_some());
        let outcome = match args.outcome {
            FinishOutcome::Succeeded => Outcome::Succeeded,
            FinishOutcome::Failed => Outcome::Failed,
        };
        let id = active.id;
        let done = if started {
            let finish = FinishRequest {
                outcome,
                exit_code: None,
                note: args.note,
            };
            active.me.finish(id, &finish).await
        } else {
            // It never got the desktop: it stops waiting instead.
            let reason = args
                .note
                .unwrap_or_else(|| "its agent finished before it started".into());
            active.me.withdraw(id, Some(reason)).await
        };
        match done {
            Ok(run) => answer(
                Some(&active),
                format!(
                    "Run #{id} ended: {}{}.",
                    run.state,
                    run.outcome.map(|o| format!(" ({o})")).unwrap_or_default()
                ),
            ),
            Err(failure) => refused_with(&active, &failure),
        }
    }

    /// The runs you may cancel when the user asks you to stop one: every active run except
    /// this session's own. Read-only.
    #[tool(annotations(read_only_hint = true, open_world_hint = false))]
    async fn cancel_targets(&self) -> CallToolResult {
        let current = self.session.current().await;
        let runs: Result<Vec<Run>, baton_client::Error> = match &current {
            Some(active) => active.me.cancel_targets(active.id).await,
            None => match self.user() {
                Ok(user) => user.status().await.map(|s| {
                    s.desktop
                        .holder
                        .into_iter()
                        .chain(s.desktop.queue)
                        .chain(s.running)
                        .collect()
                }),
                Err(failure) => Err(failure),
            },
        };
        match runs {
            Ok(runs) if runs.is_empty() => {
                answer(current.as_ref(), "No other run is active.".to_string())
            }
            Ok(runs) => answer(
                current.as_ref(),
                runs.iter()
                    .map(|run| format!("- {}", brief(run)))
                    .collect::<Vec<_>>()
                    .join("\n"),
            ),
            Err(failure) => refused(&failure),
        }
    }

    /// Cancel another run because the user asked you to, saying why in the user's words. Only
    /// for runs in cancel_targets: a run can never cancel itself (to stop your own work, use
    /// run_finish).
    #[tool(annotations(
        read_only_hint = false,
        destructive_hint = true,
        open_world_hint = false
    ))]
    async fn run_cancel(
        &self,
        Parameters(args): Parameters<CancelArgs>,
        context: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let active = match self.run_for(&context).await {
            Ok(active) => active,
            Err(refusal) => return refusal,
        };
        let cancelled = active
            .me
            .cancel(RunId(args.run_id), Some(args.reason))
            .await;
        match cancelled {
            Ok(run) => answer(
                Some(&active),
                format!("Cancelled {} for the user.", brief(&run)),
            ),
            Err(failure) => refused_with(&active, &failure),
        }
    }
}

impl Baton {
    fn user(&self) -> Result<Client, baton_client::Error> {
        Client::connect_as_user(&self.data_dir)
    }

    async fn wait_and_answer(
        &self,
        active: Active,
        wait_for: Duration,
        context: &RequestContext<RoleServer>,
    ) -> CallToolResult {
        let mut progress = Progress::of(context);
        let deadline = Instant::now() + wait_for;
        let waited = wait::wait(
            active.seen.clone(),
            Until::Holding,
            Some(deadline),
            &mut progress,
            &context.ct,
        )
        .await;
        match waited {
            Waited::Ready(status) | Waited::NotYet(status) => {
                answer(Some(&active), describe(&status))
            }
            Waited::Ended(status) => error(describe(&status)),
            Waited::HostGone => refused(&Failure::no_host()),
            Waited::CallCancelled => error(format!(
                "the call was cancelled; run #{} keeps its place",
                active.id
            )),
        }
    }
}

/// Seconds from a tool argument, checked.
fn seconds(value: Option<f64>, default: Duration, name: &str) -> Result<Duration, String> {
    match value {
        None => Ok(default),
        Some(s) if s.is_finite() && (0.0..=MAX_WAIT.as_secs_f64()).contains(&s) => {
            Ok(Duration::from_secs_f64(s))
        }
        Some(s) => Err(format!(
            "{name} must be a number of seconds from 0 to {}, not {s}",
            MAX_WAIT.as_secs()
        )),
    }
}

/// Where the session's run stands, in a sentence the agent can act on.
pub fn describe(status: &RunStatus) -> String {
    let id = status.run.id;
    if status.ended {
        return match status.run.state {
            RunState::Cancelled => stopped_message(status),
            state => format!("run #{id} has ended ({state}): {}", status.message),
        };
    }
    if status.run.holds_desktop {
        let token = status.run.lease_token.unwrap_or_default();
        if status.paused {
            return format!(
                "run #{id} holds the desktop (lease token {token}), but {}",
                status.message
            );
        }
        return format!(
            "run #{id} holds the desktop (lease token {token}){}. Use it (desktop_input, or your desktop tools), then call desktop_release so the next in line can start.",
            others_held(status)
        );
    }
    if !status.run.holds.is_empty() {
        return format!(
            "run #{id} holds {}. Use it, then call desktop_release so the next in line can start.",
            others_held(status).trim_start_matches(", and ")
        );
    }
    if status.run.state == RunState::Queued {
        return format!(
            "run #{id}: {} Call desktop_wait to wait for it; you keep your place.",
            status.message
        );
    }
    format!("run #{id} runs without the desktop.")
}

/// `, and 'browser:work' (lease token 3)`: what a run holds besides the desktop.
fn others_held(status: &RunStatus) -> String {
    let held = baton_core::messages::others_held(&status.run);
    if held.is_empty() {
        held
    } else {
        format!(", and {held}")
    }
}

fn describe_snapshot(snapshot: &Snapshot) -> String {
    let desktop = &snapshot.desktop;
    let mut lines = Vec::new();
    match &desktop.holder {
        Some(holder) => {
            lines.push(format!(
                "The desktop is held by {}, lease token {}.",
                brief(holder),
                desktop.lease_token.unwrap_or_default()
            ));
            if desktop.holder_paused {
                lines.push(
                    "The person at the computer is using it; the holder is paused.".to_string(),
                );
            }
        }
        None => lines.push("The desktop is free.".to_string()),
    }
    if desktop.paused {
        lines.push("The user has paused hand-offs.".to_string());
    }
    if let Some(waiting) = &desktop.awaiting_ok {
        lines.push(format!(
            "The user OKs each run that takes the desktop: '{}' ({}) waits for that OK; nobody else starts meanwhile.",
            waiting.title, waiting.client
        ));
    }
    if desktop.queue.is_empty() {
        lines.push("Nobody waits for it.".to_string());
    } else {
        lines.push("Waiting, first in line first:".to_string());
        lines.extend(
            desktop
                .queue
                .iter()
                .enumerate()
                .map(|(i, run)| format!("{}. {}", i + 1, brief(run))),
        );
    }
    if !snapshot.running.is_empty() {
        lines.push("Running in parallel, without the desktop:".to_string());
        lines.extend(
            snapshot
                .running
                .iter()
                .map(|run| format!("- {}", brief(run))),
        );
    }
    lines.join("\n")
}

fn brief(run: &Run) -> String {
    format!("run #{} '{}' ({})", run.id, run.title, run.client)
}

/// A successful answer, with the notes that arrived in the run's inbox.
fn answer(active: Option<&Active>, text: String) -> CallToolResult {
    CallToolResult::success(with_notes(active, text))
}

/// Baton said no: the reason, as a tool error.
impl Baton {
    /// The session's run for a request that needs one but not the desktop (a relay, a note),
    /// or the refusal to answer with.
    async fn run_for(
        &self,
        context: &RequestContext<RoleServer>,
    ) -> Result<Active, CallToolResult> {
        self.session
            .open(None, None, self.client_name(context))
            .await
            .map_err(|failure| refused(&failure))
    }

    /// The answer when the session has no live run: the host being gone is the likelier
    /// reason after a run vanished, and the one the agent must be told.
    async fn no_run(&self) -> CallToolResult {
        let reachable = match Client::connect_as_user(&self.data_dir) {
            Ok(user) => user.health().await,
            Err(failure) => Err(failure),
        };
        match reachable {
            Ok(_) => error(NO_RUN.to_string()),
            Err(failure) => refused(&failure),
        }
    }
}

/// A refusal: the host's sentence, or the session's own ([`Failure`]).
fn refused(failure: &dyn std::fmt::Display) -> CallToolResult {
    error(failure.to_string())
}

fn refused_with(active: &Active, failure: &dyn std::fmt::Display) -> CallToolResult {
    CallToolResult::error(with_notes(Some(active), failure.to_string()))
}

pub(crate) fn error(message: String) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(message)])
}

fn with_notes(active: Option<&Active>, text: String) -> Vec<ContentBlock> {
    let mut content = vec![ContentBlock::text(text)];
    if let Some(active) = active {
        content.extend(active.unread_notes().into_iter().map(ContentBlock::text));
    }
    content
}
