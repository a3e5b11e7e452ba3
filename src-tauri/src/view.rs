//! What the tray shows for a status snapshot: which icon, and the menu's lines. Pure, so it is
//! tested without a display.

use baton_core::schedule::Entry;
use baton_core::{ResourceState, Run, RunBrief, RunId, Snapshot, Timestamp};
use chrono::{TimeZone, Timelike};

/// The tray icon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IconKind {
    /// Nobody holds the desktop.
    Free,
    /// A run holds it.
    Held,
    /// Hand-offs are paused by the user, the person took over, or a run waits for their OK.
    Paused,
}

/// The tray menu's changing lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrayView {
    /// Which icon.
    pub icon: IconKind,
    /// `Desktop: 'title' (client) for 2m10s` or `Desktop: free`.
    pub holder: String,
    /// `2 waiting: 'B', 'C'` or `Nobody waiting`.
    pub queue: String,
    /// A line for each other resource in use: `browser:work: 'A' (codex) for 12s, 1 waiting`.
    pub resources: Vec<String>,
    /// A line for each of the schedule entries to fire next, soonest first:
    /// `Schedule 'backup': next today 02:00` (see [`schedule_lines`]).
    pub schedules: Vec<String>,
    /// Whether there is a holder to stop.
    pub can_stop: bool,
    /// `Pause hand-offs` or `Resume hand-offs`.
    pub pause: String,
    /// While the person at the computer has taken over: `Give the desktop back to 'A'`.
    pub give_back: Option<String>,
    /// While a run waits for the user's OK: the run, `Allow 'B' to take the desktop` and
    /// `Cancel 'B'`.
    pub ask: Option<(RunId, String, String)>,
    /// The tooltip (where the platform shows one).
    pub tooltip: String,
}

/// How many queued titles the menu names before it says "…".
const NAMED_IN_QUEUE: usize = 3;

/// The view of `snapshot` at `now`.
pub fn tray_view(snapshot: &Snapshot, now: Timestamp) -> TrayView {
    let desktop = &snapshot.desktop;
    let holder = match (&desktop.holder, desktop.since) {
        (Some(run), Some(since)) if desktop.holder_paused => format!(
            "Desktop: {} for {}, paused while you use it",
            label(run),
            elapsed(since.until(now).as_secs())
        ),
        (Some(run), Some(since)) => format!(
            "Desktop: {} for {}",
            label(run),
            elapsed(since.until(now).as_secs())
        ),
        (Some(run), None) => format!("Desktop: {}", label(run)),
        (None, _) => match &desktop.awaiting_ok {
            Some(waiting) => format!("Desktop: free, {} waits for your OK", brief(waiting)),
            None => "Desktop: free".to_string(),
        },
    };
    let queue = match desktop.queue.len() {
        0 => "Nobody waiting".to_string(),
        n => {
            let mut names: Vec<String> = desktop
                .queue
                .iter()
                .take(NAMED_IN_QUEUE)
                .map(|r| format!("'{}'", r.title))
                .collect();
            if n > NAMED_IN_QUEUE {
                names.push("…".into());
            }
            format!("{n} waiting: {}", names.join(", "))
        }
    };
    let icon = if desktop.paused || desktop.holder_paused || desktop.awaiting_ok.is_some() {
        IconKind::Paused
    } else if desktop.holder.is_some() {
        IconKind::Held
    } else {
        IconKind::Free
    };
    let pause = if desktop.paused {
        "Resume hand-offs"
    } else {
        "Pause hand-offs"
    };
    let tooltip = match (&desktop.holder, desktop.paused) {
        (_, true) => format!("Baton: hand-offs paused. {holder}"),
        (Some(_), false) => format!("Baton: {holder}; {queue}"),
        (None, false) if desktop.awaiting_ok.is_some() => format!("Baton: {holder}"),
        (None, false) => "Baton: the desktop is free".to_string(),
    };
    TrayView {
        icon,
        holder,
        queue,
        resources: snapshot
            .resources
            .iter()
            .filter(|r| !r.holders.is_empty() || !r.queue.is_empty())
            .map(|r| resource_line(r, now))
            .collect(),
        schedules: Vec::new(),
        can_stop: desktop.holder.is_some(),
        pause: pause.to_string(),
        give_back: desktop
            .holder
            .as_ref()
            .filter(|_| desktop.holder_paused)
            .map(|run| format!("Give the desktop back to '{}'", run.title)),
        ask: desktop.awaiting_ok.as_ref().map(|waiting| {
            (
                waiting.id,
                format!("Allow '{}' to take the desktop", waiting.title),
                format!("Cancel '{}'", waiting.title),
            )
        }),
        tooltip,
    }
}

/// How many entries the menu names, the soonest to fire.
const NAMED_SCHEDULES: usize = 3;

/// A line for each of the [`NAMED_SCHEDULES`] entries that fire soonest, in time zone `tz`:
/// `Schedule 'backup': next today 02:00`, `… tomorrow 09:30`, `… Mon 14 Dec 09:30`; seconds
/// only for a fire that is not on a whole minute; then how many more there are. Paused entries
/// are left out.
pub fn schedule_lines<Tz: TimeZone>(entries: &[Entry], now: Timestamp, tz: &Tz) -> Vec<String>
where
    Tz::Offset: std::fmt::Display,
{
    let mut next: Vec<(Timestamp, &str)> = entries
        .iter()
        .filter_map(|e| Some((e.next_fire(tz, now)?, e.spec.name.as_str())))
        .collect();
    next.sort();
    let more = next.len().saturating_sub(NAMED_SCHEDULES);
    let today = tz
        .timestamp_millis_opt(now.0)
        .single()
        .map(|t| t.date_naive());
    let mut lines: Vec<String> = next
        .into_iter()
        .take(NAMED_SCHEDULES)
        .filter_map(|(at, name)| {
            let at = tz.timestamp_millis_opt(at.0).single()?;
            let time = if at.second() == 0 {
                at.format("%H:%M")
            } else {
                at.format("%H:%M:%S")
            };
            let day = match today {
                Some(today) if at.date_naive() == today => "today".to_string(),
                Some(today) if today.succ_opt() == Some(at.date_naive()) => "tomorrow".into(),
                _ => at.format("%a %-d %b").to_string(),
            };
            Some(format!("Schedule '{name}': next {day} {time}"))
        })
        .collect();
    match more {
        0 => {}
        1 => lines.push("and 1 more schedule (see the dashboard)".into()),
        n => lines.push(format!("and {n} more schedules (see the dashboard)")),
    }
    lines
}

/// A resource in use: who holds it (or how many of its capacity are held) and how many wait.
fn resource_line(resource: &ResourceState, now: Timestamp) -> String {
    let held = match (resource.capacity, resource.holders.as_slice()) {
        (_, []) => "free".to_string(),
        (1, [holding]) => format!(
            "{} for {}",
            brief(&holding.run),
            elapsed(holding.since.until(now).as_secs())
        ),
        (capacity, holders) => format!("{} of {capacity} held", holders.len()),
    };
    let waiting = match resource.queue.len() {
        0 => String::new(),
        n => format!(", {n} waiting"),
    };
    format!("{}: {held}{waiting}", resource.name)
}

/// `'title' (client)`, for a run named in a sentence.
fn brief(run: &RunBrief) -> String {
    format!("'{}' ({})", run.title, run.client)
}

/// `'title' (client)`.
pub fn label(run: &Run) -> String {
    format!("'{}' ({})", run.title, run.client)
}

/// `42s`, `2m10s`, `1h05m`.
pub fn elapsed(secs: u64) -> String {
    match secs {
        0..60 => format!("{secs}s"),
        60..3600 => format!("{}m{:02}s", secs / 60, secs % 60),
        _ => format!("{}h{:02}m", secs / 3600, (secs % 3600) / 60),
    }
}

/// A hotkey as people read it on this platform: `Ctrl+Alt+Shift+S`.
pub fn hotkey_label(accelerator: &str) -> String {
    let command = if cfg!(target_os = "macos") {
        "Cmd"
    } else {
        "Ctrl"
    };
    accelerator
        .split('+')
        .map(|part| match part.to_ascii_lowercase().as_str() {
            "cmdorctrl" | "commandorcontrol" | "cmdorcontrol" | "commandorctrl" => {
                command.to_string()
            }
            "control" | "ctrl" => "Ctrl".to_string(),
            "option" | "alt" => "Alt".to_string(),
            "shift" => "Shift".to_string(),
            "super" | "meta" | "cmd" | "command" => "Super".to_string(),
            _ => part.to_string(),
        })
        .collect::<Vec<_>>()
        .join("+")
}

#[cfg(test)]
mod tests {
    use super::*;
    use baton_core::{Desktop, RunId, RunState};

    fn run(id: i64, title: &str, client: &str) -> Run {
        Run {
            id: RunId(id),
            title: title.into(),
            client: client.into(),
            needs_desktop: true,
            resources: vec![baton_core::ResourceName::desktop()],
            state: RunState::Queued,
            holds_desktop: false,
            holds: Vec::new(),
            lease_token: None,
            leases: Default::default(),
            position: None,
            ttl_ms: 15_000,
            created_at: Timestamp(0),
            started_at: None,
            finished_at: None,
            outcome: None,
            exit_code: None,
            cancelled_by: None,
            reason: None,
            fire: None,
        }
    }

    #[test]
    fn the_entries_to_fire_soonest_get_a_line_each_in_local_time() {
        use baton_core::schedule::{EntrySpec, Missed};
        let tz = chrono::FixedOffset::east_opt(3600).expect("an offset");
        // 2026-12-07 10:00:00 at +01:00, a Monday.
        let now = Timestamp(1_796_634_000_000);
        let entry = |name: &str, cron: &str, paused| Entry {
            spec: EntrySpec {
                name: name.into(),
                cron: cron.into(),
                command: vec!["true".into()],
                title: None,
                needs_desktop: false,
                resources: Vec::new(),
                missed: Missed::CatchUp,
            },
            paused,
            created_at: Timestamp(0),
            handled: now,
            last_run: None,
            problem: None,
        };
        let entries = [
            entry("weekly", "30 9 * * 3", false),
            entry("paused", "* * * * *", true),
            entry("nightly", "0 2 * * *", false),
            entry("soon", "15 30 10 * * *", false),
            entry("yearly", "0 0 1 1 *", false),
        ];
        assert_eq!(
            schedule_lines(&entries, now, &tz),
            vec![
                "Schedule 'soon': next today 10:30:15",
                "Schedule 'nightly': next tomorrow 02:00",
                "Schedule 'weekly': next Wed 9 Dec 09:30",
                "and 1 more schedule (see the dashboard)",
            ]
        );
    }

    #[test]
    fn a_free_desktop() {
        let view = tray_view(&Snapshot::default(), Timestamp(0));
        assert_eq!(view.icon, IconKind::Free);
        assert_eq!(view.holder, "Desktop: free");
        assert_eq!(view.queue, "Nobody waiting");
        assert!(!view.can_stop);
        assert_eq!(view.pause, "Pause hand-offs");
    }

    #[test]
    fn a_held_desktop_with_a_queue() {
        let snapshot = Snapshot {
            desktop: Desktop {
                holder: Some(run(1, "log in", "claude-code")),
                lease_token: Some(7),
                since: Some(Timestamp(1_000)),
                paused: false,
                holder_paused: false,
                awaiting_ok: None,
                ask_first: false,
                queue: vec![
                    run(2, "B", "codex"),
                    run(3, "C", "cron"),
                    run(4, "D", "cli"),
                    run(5, "E", "cli"),
                ],
            },
            ..Snapshot::default()
        };
        let view = tray_view(&snapshot, Timestamp(131_000));
        assert_eq!(view.icon, IconKind::Held);
        assert_eq!(view.holder, "Desktop: 'log in' (claude-code) for 2m10s");
        assert_eq!(view.queue, "4 waiting: 'B', 'C', 'D', …");
        assert!(view.can_stop);
    }

    #[test]
    fn resources_in_use_get_a_line_each_and_idle_ones_none() {
        use baton_core::{Holding, ResourceState};
        let holding = |id, title: &str, since| Holding {
            run: run(id, title, "codex").brief(),
            lease_token: 1,
            since: Timestamp(since),
        };
        let state = |name: &str, capacity, holders, queue| ResourceState {
            name: name.parse().expect("a resource name"),
            capacity,
            holders,
            queue,
        };
        let snapshot = Snapshot {
            resources: vec![
                state(
                    "browser:work",
                    1,
                    vec![holding(1, "research", 0)],
                    vec![run(2, "B", "cli").brief()],
                ),
                state("idle", 1, vec![], vec![]),
                state(
                    "licence:cad",
                    3,
                    vec![holding(3, "x", 0), holding(4, "y", 0)],
                    vec![],
                ),
            ],
            ..Snapshot::default()
        };
        let view = tray_view(&snapshot, Timestamp(12_000));
        assert_eq!(
            view.resources,
            [
                "browser:work: 'research' (codex) for 12s, 1 waiting",
                "licence:cad: 2 of 3 held",
            ]
        );
        assert_eq!(view.icon, IconKind::Free, "the icon is the desktop's");
    }

    #[test]
    fn paused_hand_offs_win_the_icon() {
        let mut snapshot = Snapshot::default();
        snapshot.desktop.paused = true;
        snapshot.desktop.queue = vec![run(2, "B", "codex")];
        let view = tray_view(&snapshot, Timestamp(0));
        assert_eq!(view.icon, IconKind::Paused);
        assert_eq!(view.pause, "Resume hand-offs");
        assert_eq!(view.queue, "1 waiting: 'B'");
    }

    #[test]
    fn a_takeover_shows_who_waits_for_the_person() {
        let mut snapshot = Snapshot::default();
        snapshot.desktop.holder = Some(run(1, "log in", "claude-code"));
        snapshot.desktop.since = Some(Timestamp(0));
        snapshot.desktop.holder_paused = true;
        let view = tray_view(&snapshot, Timestamp(5_000));
        assert_eq!(view.icon, IconKind::Paused);
        assert_eq!(
            view.holder,
            "Desktop: 'log in' (claude-code) for 5s, paused while you use it"
        );
        assert_eq!(
            view.give_back.as_deref(),
            Some("Give the desktop back to 'log in'")
        );
        snapshot.desktop.holder_paused = false;
        assert_eq!(tray_view(&snapshot, Timestamp(5_000)).give_back, None);
    }

    #[test]
    fn a_run_waiting_for_the_user_s_ok_is_named_with_both_answers() {
        let mut snapshot = Snapshot::default();
        snapshot.desktop.queue = vec![run(2, "fill the form", "codex"), run(3, "C", "cli")];
        snapshot.desktop.awaiting_ok = Some(run(2, "fill the form", "codex").brief());
        let view = tray_view(&snapshot, Timestamp(0));
        assert_eq!(
            view.holder,
            "Desktop: free, 'fill the form' (codex) waits for your OK"
        );
        assert_eq!(view.icon, IconKind::Paused);
        assert!(
            view.tooltip.contains("waits for your OK"),
            "{}",
            view.tooltip
        );
        let (id, allow, cancel) = view.ask.expect("both answers");
        assert_eq!(id, RunId(2));
        assert_eq!(allow, "Allow 'fill the form' to take the desktop");
        assert_eq!(cancel, "Cancel 'fill the form'");
        snapshot.desktop.awaiting_ok = None;
        assert_eq!(tray_view(&snapshot, Timestamp(0)).ask, None);
    }

    #[test]
    fn hotkeys_read_naturally() {
        let expected = if cfg!(target_os = "macos") {
            "Cmd+Alt+Shift+S"
        } else {
            "Ctrl+Alt+Shift+S"
        };
        assert_eq!(hotkey_label("CmdOrCtrl+Alt+Shift+S"), expected);
    }
}
