//! `baton hook claude-code`: Claude Code's PreToolUse hook for desktop tools.
//!
//! Claude Code runs it before each matching tool call with the call as JSON on stdin. It lets
//! the call through (prints nothing) only when this Claude Code session holds the desktop
//! through `baton mcp` and the person at the computer is not using it; otherwise it refuses at
//! once with the honest reason, which Claude reads. It never waits for the desktop, and it
//! answers within a second whatever the host does: a hook that times out would let the tool
//! run.

use std::io::Read;
use std::time::Duration;

use baton_core::messages::TAKEOVER_MESSAGE;
use baton_core::{RunId, Snapshot, queued_message};
use baton_platform::DataDir;
use serde_json::json;

use baton_client::Client;

use crate::exit;
use crate::{link, process};

/// The whole decision, from reading stdin to the answer, fits in this.
const BUDGET: Duration = Duration::from_millis(800);
/// Claude Code's hook input is small; anything beyond this is not it.
const MAX_INPUT: u64 = 4 << 20;

/// What the hook answers.
#[derive(Debug, PartialEq, Eq)]
pub enum Decision {
    Allow,
    Deny(String),
}

pub async fn claude_code(data_dir: &DataDir) -> u8 {
    let started = std::time::Instant::now();
    // A failpoint for the test that a panic still denies (debug builds only).
    #[cfg(debug_assertions)]
    if std::env::var_os("BATON_TEST_HOOK_PANIC").is_some() {
        panic!("the test asked the hook to panic");
    }
    // Reading stdin counts against the budget too: an input that never ends must not hold the
    // hook until the agent gives up on it (and runs the tool).
    let tool = match tokio::time::timeout(BUDGET, tokio::task::spawn_blocking(read_input)).await {
        Ok(Ok(Ok(tool))) => tool,
        Ok(Ok(Err(why))) => {
            print_deny(&why);
            return exit::OK;
        }
        Ok(Err(_)) | Err(_) => {
            print_deny(
                "Baton's hook did not get its whole input in time, so the desktop tool does not run; try again",
            );
            // The reading thread is still blocked on stdin: leave without waiting for it.
            std::process::exit(i32::from(exit::OK));
        }
    };
    let decision = tokio::time::timeout(
        BUDGET.saturating_sub(started.elapsed()),
        decide(data_dir, &tool),
    )
        .await
        .unwrap_or_else(|_| {
            Decision::Deny(format!(
                "'{tool}' needs the desktop, and the Baton host did not answer in time; try again in a moment"
            ))
        });
    if let Decision::Deny(reason) = decision {
        print_deny(&reason);
    }
    exit::OK
}

/// The tool's name from the hook input on stdin.
fn read_input() -> Result<String, String> {
    let mut text = String::new();
    std::io::stdin()
        .take(MAX_INPUT)
        .read_to_string(&mut text)
        .map_err(|e| format!("Baton's hook could not read its input: {e}"))?;
    let input: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        format!(
            "Baton's hook expects Claude Code's PreToolUse JSON on stdin, which this is not: {e}"
        )
    })?;
    Ok(input["tool_name"]
        .as_str()
        .unwrap_or("this desktop tool")
        .to_string())
}

/// Prints Claude Code's deny answer with `reason`.
pub fn print_deny(reason: &str) {
    use std::io::Write;
    let answer = json!({
        "hookSpecificOutput": {
            "hookEventName": "PreToolUse",
            "permissionDecision": "deny",
            "permissionDecisionReason": reason,
        }
    });
    println!("{answer}");
    let _ = std::io::stdout().flush();
}

async fn decide(data_dir: &DataDir, tool: &str) -> Decision {
    let user = match Client::connect_as_user(data_dir) {
        Ok(user) => user,
        Err(failure) => {
            return Decision::Deny(format!(
                "'{tool}' needs the desktop, which agents share through Baton, but {failure}"
            ));
        }
    };
    let mine: Vec<RunId> = link::sessions_of(data_dir, &process::ancestors())
        .into_iter()
        .map(|record| record.run)
        .collect();
    let acquire_first = format!(
        "'{tool}' needs the desktop, which agents share through Baton: call Baton's desktop_acquire tool first (and desktop_wait if you are queued), then try again"
    );
    if mine.is_empty() {
        return Decision::Deny(acquire_first);
    }
    let snapshot = match user.status().await {
        Ok(snapshot) => snapshot,
        Err(failure) => {
            return Decision::Deny(format!(
                "'{tool}' needs the desktop, and Baton could not say who holds it: {failure}"
            ));
        }
    };
    decision(&snapshot, &mine, tool).unwrap_or(Decision::Deny(acquire_first))
}

/// The answer from the status, for a session whose runs are `mine`; `None` when none of them
/// holds or waits for the desktop.
pub fn decision(snapshot: &Snapshot, mine: &[RunId], tool: &str) -> Option<Decision> {
    let desktop = &snapshot.desktop;
    if let Some(holder) = desktop.holder.as_ref().filter(|h| mine.contains(&h.id)) {
        if desktop.holder_paused {
            return Some(Decision::Deny(format!(
                "'{tool}' must wait: run #{} holds the desktop, but {TAKEOVER_MESSAGE}",
                holder.id
            )));
        }
        return Some(Decision::Allow);
    }
    let (index, queued) = desktop
        .queue
        .iter()
        .enumerate()
        .find(|(_, run)| mine.contains(&run.id))?;
    let holder = desktop.holder.as_ref().map(|h| h.brief());
    Some(Decision::Deny(format!(
        "'{tool}' must wait (run #{}): {} Call desktop_wait, then try again.",
        queued.id,
        queued_message(
            queued.id,
            holder.as_ref(),
            index + 1,
            desktop.paused,
            desktop.awaiting_ok.as_ref(),
            desktop.ask_first,
        )
    )))
}
