//! How runs and durations read in a terminal.

use std::time::Duration;

use baton_core::{Event, EventKind, Run, Timestamp};

/// `42s`, `2m10s`, `1h05m`.
pub fn duration(d: Duration) -> String {
    let secs = d.as_secs();
    match secs {
        0..60 => format!("{secs}s"),
        60..3600 => format!("{}m{:02}s", secs / 60, secs % 60),
        _ => format!("{}h{:02}m", secs / 3600, (secs % 3600) / 60),
    }
}

/// Time since `t`.
pub fn since(t: Timestamp) -> String {
    duration(t.until(Timestamp::now()))
}

/// At most `chars` characters, with `…` where it was cut.
pub fn truncate(text: &str, chars: usize) -> String {
    if text.chars().count() <= chars {
        text.to_string()
    } else {
        let mut short: String = text.chars().take(chars.saturating_sub(1)).collect();
        short.push('…');
        short
    }
}

/// `#12 'title' (client)`.
pub fn run(run: &Run) -> String {
    format!("#{} '{}' ({})", run.id, run.title, run.client)
}

/// `'browser:work': ` before what an event says of a resource besides the desktop; nothing for
/// the desktop, so its lines read as they always have.
fn of(resource: &baton_core::ResourceName) -> String {
    if resource.is_desktop() {
        String::new()
    } else {
        format!("'{resource}': ")
    }
}

/// One line per event for `baton events`.
pub fn event(event: &Event) -> String {
    let run = event
        .run_id
        .map(|id| format!("run #{id} "))
        .unwrap_or_default();
    let detail = match &event.kind {
        EventKind::Submitted {
            title,
            client,
            needs_desktop,
            resources,
            replaces,
        } => format!(
            "'{title}' ({client}){}{}{}",
            if *needs_desktop {
                ", needs the desktop"
            } else {
                ""
            },
            if resources.is_empty() {
                String::new()
            } else {
                let names: Vec<&str> = resources.iter().map(|r| r.as_str()).collect();
                format!(", needs {}", names.join(", "))
            },
            replaces
                .map(|r| format!(", replacing #{r}"))
                .unwrap_or_default()
        ),
        EventKind::Queued {
            position,
            behind,
            resource,
        } => format!(
            "{}position {position}{}",
            of(resource),
            behind.map(|b| format!(", behind #{b}")).unwrap_or_default()
        ),
        EventKind::Granted {
            lease_token,
            handed_from,
            resource,
        } => format!(
            "{}lease token {lease_token}{}",
            of(resource),
            handed_from
                .map(|f| format!(", handed from #{f}"))
                .unwrap_or_default()
        ),
        EventKind::Released {
            lease_token,
            handed_to,
            resource,
        } => match (lease_token, handed_to) {
            (Some(t), Some(to)) => format!("{}lease token {t}, handed to #{to}", of(resource)),
            (Some(t), None) => format!("{}lease token {t}", of(resource)),
            (None, _) => format!("{}left the queue", of(resource)),
        },
        EventKind::Reordered {
            position,
            by,
            resource,
        } => format!("{}to position {position} by {by}", of(resource)),
        EventKind::ResourceAdded {
            resource,
            capacity,
            by,
        }
        | EventKind::CapacityChanged {
            resource,
            capacity,
            by,
        } => format!("'{resource}', capacity {capacity}, by {by}"),
        EventKind::ResourceRemoved { resource, by } => format!("'{resource}' by {by}"),
        EventKind::Amended { n, by, text } => format!("note {n} from {by}: {text}"),
        EventKind::Cancelled { by, reason, .. } => format!(
            "by {by}{}",
            reason
                .as_ref()
                .map(|r| format!(": {r}"))
                .unwrap_or_default()
        ),
        EventKind::Expired { reason } | EventKind::Withdrawn { reason } => reason.clone(),
        EventKind::Finished { outcome, exit_code } => format!(
            "{}{}",
            serde_json::to_value(outcome)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
            exit_code
                .map(|c| format!(", exit code {c}"))
                .unwrap_or_default()
        ),
        EventKind::HandoffsPaused { by }
        | EventKind::HandoffsResumed { by }
        | EventKind::HolderPaused { by }
        | EventKind::HolderResumed { by }
        | EventKind::Allowed { by } => format!("by {by}"),
        EventKind::AwaitingOk => "waiting for the user's OK to take the desktop".into(),
        EventKind::Started | EventKind::Interrupted => String::new(),
    };
    format!(
        "{:>6}  {}  {run}{}{}{detail}",
        event.seq,
        event.at,
        event.kind.name(),
        if detail.is_empty() { "" } else { ": " }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_a_clock() {
        assert_eq!(duration(Duration::from_secs(5)), "5s");
        assert_eq!(duration(Duration::from_secs(130)), "2m10s");
        assert_eq!(duration(Duration::from_secs(3900)), "1h05m");
    }
}
