//! Shows the notices the event log calls for as OS notifications, gathered into summaries, as
//! the user's notification settings allow, and carries out what the person answers from them.
//!
//! Two notifiers: tauri-plugin-notification for plain notifications (everywhere, and the
//! fallback), and, where the notification server takes actions, one with buttons,
//! [`answers`], through notify-rust (which the plugin uses underneath): D-Bus actions on Linux
//! and the BSDs (`xdg.rs`), toast buttons on Windows (`windows.rs`), the notification centre on
//! macOS (`macos.rs`). Where the server takes no actions, notifications are the plain text, and
//! the settings window says so.

mod answers;
#[cfg(all(unix, not(target_os = "macos")))]
#[path = "xdg.rs"]
mod platform;
#[cfg(windows)]
#[path = "windows.rs"]
mod platform;
#[cfg(target_os = "macos")]
#[path = "macos.rs"]
mod platform;

use std::time::Duration;

use baton_core::clock::sleep_until;
use baton_core::{Caller, Handle, RunId};
use tauri::{AppHandle, Runtime};
use tauri_plugin_notification::NotificationExt;
use tokio::sync::{broadcast, mpsc, watch};
use tokio::time::Instant;

use crate::notice::{Answer, Coalescer, Notice, NoticeKind, Noticer};
use crate::settings::NotifySettings;

/// What the person answered, and to which notice.
pub type Answered = (Notice, Answer);

/// What the notifier found at start: whether the notification server shows buttons.
static WITH_ACTIONS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();

/// Whether notifications carry answers on this desktop; `None` until the notifier has asked.
pub fn with_actions() -> Option<bool> {
    WITH_ACTIONS.get().copied()
}

/// Whether this desktop's notification server shows buttons (asked once, at start).
pub fn actions_supported() -> bool {
    platform::actions_supported()
}

/// At most one notification of a kind per this long.
const WINDOW: Duration = Duration::from_secs(1);
/// How long a notice waits for others of its kind, so that a burst becomes one summary.
const GATHER: Duration = Duration::from_millis(150);

/// Runs until the scheduler's event stream closes.
pub async fn run<R: Runtime>(
    app: AppHandle<R>,
    core: Handle,
    mut settings: watch::Receiver<NotifySettings>,
) {
    let mut events = core.subscribe_events();
    let mut noticer = Noticer::default();
    noticer.learn(&core.status());
    let mut coalescer = Coalescer::new(WINDOW, GATHER);
    // A D-Bus round trip (up to the bus's activation timeout with no server): not here.
    let with_actions = tokio::task::spawn_blocking(actions_supported)
        .await
        .unwrap_or(false);
    let _ = WITH_ACTIONS.set(with_actions);
    tracing::info!(
        with_actions,
        "notifications {}",
        if with_actions {
            "carry answers"
        } else {
            "are plain: the notification server takes no actions"
        }
    );
    let (answered_tx, mut answered) = mpsc::unbounded_channel::<Answered>();
    // A run that waited for the user's OK when the app started is asked about now.
    if let Some(prompt) = noticer.prompt_for(&core.status()) {
        coalescer.offer(prompt, Instant::now());
    }
    let mut gate = Gate::default();
    loop {
        let due = coalescer.next_due();
        tokio::select! {
            Some((notice, answer)) = answered.recv() => {
                respond(&app, &core, &notice, answer).await;
            }
            received = events.recv() => match received {
                Ok(event) => {
                    for notice in noticer.on_event(&event) {
                        coalescer.offer(notice, Instant::now());
                    }
                }
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    tracing::warn!(missed, "notifications skipped: too many events at once");
                    noticer.learn(&core.status());
                }
                Err(broadcast::error::RecvError::Closed) => return,
            },
            () = sleep_until(due) => {
                for notice in coalescer.flush(Instant::now()) {
                    let current = settings.borrow().clone();
                    if let Some(notice) = gate.due(notice, &current) {
                        show(&app, &notice, with_actions.then_some(&answered_tx));
                    }
                }
            }
            changed = settings.changed() => {
                if changed.is_err() {
                    return;
                }
                let current = settings.borrow_and_update().clone();
                let waiting = core.published().awaiting_ok.as_ref().map(|r| r.id);
                if let Some(prompt) = gate.settings_changed(&current, waiting) {
                    show(&app, &prompt, with_actions.then_some(&answered_tx));
                }
            }
        }
    }
}

/// What the settings let through of the notices that are due, and the prompt Do Not Disturb
/// holds back. Checked when a notice is shown, not when it was made: switching a kind off (or
/// Do Not Disturb on) also silences what was already waiting.
#[derive(Debug, Default)]
struct Gate {
    /// The newest prompt for the user's OK that came while Do Not Disturb was on.
    held: Option<Notice>,
}

impl Gate {
    /// The notice to show now, as the settings have it (with its kind's answers switched off,
    /// the text alone); `None` when it is not shown. A prompt under Do Not Disturb is held.
    fn due(&mut self, notice: Notice, settings: &NotifySettings) -> Option<Notice> {
        let notice = if settings.answers(notice.kind) {
            notice
        } else {
            notice.without_answers()
        };
        if settings.shows(&notice) {
            return Some(notice);
        }
        if notice.kind == NoticeKind::Ask && settings.do_not_disturb {
            tracing::info!(run = ?notice.run, "prompt held back: Do Not Disturb");
            self.held = Some(notice);
        }
        None
    }

    /// The settings changed: the held prompt, once Do Not Disturb is off, if its run still
    /// waits for the user's OK (`waiting`; the tray or the dashboard may have answered since).
    fn settings_changed(
        &mut self,
        settings: &NotifySettings,
        waiting: Option<RunId>,
    ) -> Option<Notice> {
        let prompt = self.held.take_if(|_| !settings.do_not_disturb)?;
        (waiting.is_some() && prompt.run == waiting && settings.allows(NoticeKind::Ask))
            .then_some(prompt)
    }
}

/// Shows `notice`: with its answers where the server takes them (sent to `answers` when
/// clicked), else as plain text.
fn show<R: Runtime>(
    app: &AppHandle<R>,
    notice: &Notice,
    answers: Option<&mpsc::UnboundedSender<Answered>>,
) {
    tracing::info!(kind = ?notice.kind, text = %notice.text, "notification");
    if let Some(answers) = answers {
        // D-Bus and WinRT calls block: on a thread of their own, with the plain text as the
        // fallback.
        let (app, notice, answers) = (app.clone(), notice.clone(), answers.clone());
        tauri::async_runtime::spawn_blocking(move || {
            if let Err(e) = answers::show(&notice, &platform::body(&notice.text), answers) {
                tracing::warn!(error = %e, "cannot show a notification with answers");
                plain(&app, &notice.text);
            }
        });
        return;
    }
    plain(app, &notice.text);
}

fn plain<R: Runtime>(app: &AppHandle<R>, text: &str) {
    if let Err(e) = app
        .notification()
        .builder()
        .title("Baton")
        .body(platform::body(text))
        .show()
    {
        tracing::warn!(error = %e, "cannot show a notification");
    }
}

/// Carries out what the person answered; a refusal is told in a notification of its own.
async fn respond<R: Runtime>(app: &AppHandle<R>, core: &Handle, notice: &Notice, answer: Answer) {
    tracing::info!(?answer, run = ?notice.run, "answered from a notification");
    if answer == Answer::OpenDashboard {
        let opened = match notice.run {
            Some(run) => crate::web_windows::open_dashboard_on(app, run),
            None => crate::web_windows::open_dashboard(app),
        };
        if let Err(e) = opened {
            tracing::warn!(error = %e, "cannot open the dashboard");
        }
        return;
    }
    if let Err(why) = carry_out(core, notice.run, answer).await {
        plain(app, &why);
    }
}

/// Carries out `answer` on the run the notification named, as the user's request from the
/// notification, never on whoever else holds the desktop by now. `Err`: why it no longer
/// applies; then nothing changed.
pub async fn carry_out(core: &Handle, run: Option<RunId>, answer: Answer) -> Result<(), String> {
    let who = Caller::user("notification");
    let Some(run) = run else {
        return Err(
            "That notification is about several runs; open the dashboard to choose.".into(),
        );
    };
    let refused = |e: baton_core::Error| format!("Nothing changed: {e}.");
    match answer {
        Answer::OpenDashboard => Ok(()),
        Answer::Allow => core.allow(run, who).await.map(drop).map_err(refused),
        Answer::LetItGoFirst => core.front(run, who).await.map(drop).map_err(refused),
        Answer::CancelIt => core.cancel(run, who, None).await.map(drop).map_err(refused),
        Answer::StopIt => core
            .stop_holder(who, None, Some(run))
            .await
            .map(drop)
            .map_err(refused),
        Answer::GiveItBack => match core.set_holder_paused_if(run, false, who).await {
            Ok(true) => Ok(()),
            Ok(false) | Err(_) => Err(format!(
                "Nothing changed: run #{run} is not paused for you any more."
            )),
        },
    }
}

/// Whether `exe` is a build cargo left in its target directory (`target/debug/`,
/// `target/<triple>/release/`, ...) rather than an installed app: Windows knows no toast app
/// for such a build.
#[cfg_attr(not(windows), allow(dead_code))]
fn built_by_cargo(exe: &std::path::Path) -> bool {
    fn name(dir: &std::path::Path) -> Option<&str> {
        dir.file_name()?.to_str()
    }
    let Some(profile) = exe.parent() else {
        return false;
    };
    matches!(name(profile), Some("debug" | "release"))
        && profile
            .ancestors()
            .skip(1)
            .take(2)
            .any(|dir| name(dir) == Some("target"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    async fn core() -> (Handle, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let opened = baton_core::Store::open(
            &dir.path().join("baton.db"),
            baton_core::Durability::Normal,
            baton_core::Timestamp::now(),
        )
        .await
        .unwrap();
        let core = baton_core::spawn(
            opened,
            std::sync::Arc::new(baton_core::clock::SystemClock),
            baton_core::Config::default(),
        );
        (core, dir)
    }

    async fn submit(core: &Handle, title: &str) -> RunId {
        let spec = baton_core::RunSpec::new(title, "test", true);
        core.submit(spec, baton_core::Caller::user("test"))
            .await
            .unwrap()
            .status
            .run
            .id
    }

    #[tokio::test]
    async fn each_answer_acts_on_the_run_named_as_the_user_s_request() {
        let (core, _dir) = core().await;
        let a = submit(&core, "a").await;
        let b = submit(&core, "b").await;
        let c = submit(&core, "c").await;
        carry_out(&core, Some(c), Answer::LetItGoFirst)
            .await
            .unwrap();
        assert_eq!(core.status().desktop.queue[0].id, c);
        carry_out(&core, Some(b), Answer::CancelIt).await.unwrap();
        let cancelled = core.run(b).await.unwrap();
        assert_eq!(
            cancelled.cancelled_by,
            Some(baton_core::Caller::user("notification"))
        );
        core.pause_holder(Caller::user("takeover")).await.unwrap();
        carry_out(&core, Some(a), Answer::GiveItBack).await.unwrap();
        assert!(!core.status().desktop.holder_paused);
        carry_out(&core, Some(a), Answer::StopIt).await.unwrap();
        let stopped = core.run(a).await.unwrap();
        assert_eq!(
            stopped.cancelled_by,
            Some(baton_core::Caller::user("notification"))
        );
        assert_eq!(
            core.status().desktop.holder.unwrap().id,
            c,
            "c got the desktop"
        );
    }

    #[tokio::test]
    async fn allow_lets_in_only_the_run_asked_about_and_cancel_refuses_it() {
        let (core, _dir) = core().await;
        core.set_ask_first(true, Caller::user("test"))
            .await
            .unwrap();
        let a = submit(&core, "a").await;
        let b = submit(&core, "b").await;
        let c = submit(&core, "c").await;
        // Cancel it: the next one is asked about, and still nobody holds the desktop.
        carry_out(&core, Some(a), Answer::CancelIt).await.unwrap();
        assert!(core.status().desktop.holder.is_none());
        // An OK meant for a (or for c, not asked about) lets nobody in.
        let before = core.status();
        let why = carry_out(&core, Some(a), Answer::Allow).await.unwrap_err();
        assert!(why.contains("already ended"), "{why}");
        let why = carry_out(&core, Some(c), Answer::Allow).await.unwrap_err();
        assert!(why.contains("not the one waiting for your OK"), "{why}");
        assert_eq!(core.status(), before);
        carry_out(&core, Some(b), Answer::Allow).await.unwrap();
        assert_eq!(core.status().desktop.holder.unwrap().id, b);
        let events = core.events_after(0, 1000).await.unwrap();
        assert!(events.iter().any(|e| e.run_id == Some(b)
            && e.kind
                == baton_core::EventKind::Allowed {
                    by: baton_core::Caller::user("notification")
                }));
    }

    #[tokio::test]
    async fn a_stale_answer_says_so_and_changes_nothing() {
        let (core, _dir) = core().await;
        let a = submit(&core, "a").await;
        let b = submit(&core, "b").await;
        core.cancel(a, Caller::user("cli"), None).await.unwrap();
        let before = core.status();
        // "Stop it" for a run that no longer holds the desktop stops nobody, b included.
        let why = carry_out(&core, Some(a), Answer::StopIt).await.unwrap_err();
        assert!(why.contains("changed hands"), "{why}");
        let why = carry_out(&core, Some(b), Answer::LetItGoFirst)
            .await
            .unwrap_err();
        assert!(why.contains("not waiting"), "{why}");
        let why = carry_out(&core, Some(a), Answer::CancelIt)
            .await
            .unwrap_err();
        assert!(why.contains("already ended"), "{why}");
        let why = carry_out(&core, Some(b), Answer::GiveItBack)
            .await
            .unwrap_err();
        assert!(why.contains("not paused"), "{why}");
        let why = carry_out(&core, None, Answer::StopIt).await.unwrap_err();
        assert!(why.contains("several runs"), "{why}");
        assert_eq!(core.status(), before);
    }

    fn prompt(run: i64) -> Notice {
        let mut snapshot = baton_core::Snapshot::default();
        snapshot.desktop.awaiting_ok = Some(baton_core::RunBrief {
            id: RunId(run),
            title: "t".into(),
            client: "c".into(),
        });
        crate::notice::Noticer::default()
            .prompt_for(&snapshot)
            .unwrap()
    }

    #[test]
    fn do_not_disturb_holds_the_newest_prompt_until_it_ends_if_its_run_still_waits() {
        let mut gate = Gate::default();
        let quiet = NotifySettings {
            do_not_disturb: true,
            ..NotifySettings::default()
        };
        let normal = NotifySettings::default();
        assert_eq!(gate.due(prompt(1), &quiet), None);
        assert_eq!(
            gate.due(prompt(2), &quiet),
            None,
            "the newer one replaces it"
        );
        assert_eq!(
            gate.settings_changed(&quiet, Some(RunId(2))),
            None,
            "still quiet"
        );
        assert_eq!(
            gate.settings_changed(&normal, Some(RunId(2))),
            Some(prompt(2))
        );
        assert_eq!(
            gate.settings_changed(&normal, Some(RunId(2))),
            None,
            "shown once"
        );
        // Answered meanwhile (from the tray): nothing is shown when Do Not Disturb ends.
        gate.due(prompt(3), &quiet);
        assert_eq!(gate.settings_changed(&normal, None), None);
        // Other kinds are not held: they are simply not shown.
        let mut other = gate.due(prompt(4), &normal).unwrap();
        other.kind = NoticeKind::Queued;
        assert_eq!(gate.due(other, &quiet), None);
        assert_eq!(gate.settings_changed(&normal, Some(RunId(4))), None);
        // With a kind's answers off, it is shown as text that opens the dashboard.
        let mut plain = normal.clone();
        plain.answers.ask = false;
        assert_eq!(
            gate.due(prompt(5), &plain).unwrap().answers,
            vec![Answer::OpenDashboard]
        );
    }

    #[test]
    fn notifications_name_the_app_by_its_bundle_identifier() {
        let conf: serde_json::Value =
            serde_json::from_str(include_str!("../../tauri.conf.json")).unwrap();
        assert_eq!(conf["identifier"], crate::IDENTIFIER);
    }

    #[cfg(all(unix, not(target_os = "macos")))]
    #[test]
    fn titles_cannot_smuggle_markup_into_notifications() {
        assert_eq!(
            platform::body("'<a href=\"x\">pay</a> & go' (evil)"),
            "'&lt;a href=\"x\"&gt;pay&lt;/a&gt; &amp; go' (evil)"
        );
    }

    #[test]
    fn a_build_in_cargos_target_directory_is_told_from_an_installed_app() {
        use std::path::Path;
        for built in [
            "/src/baton/target/debug/baton-tray.exe",
            "/src/baton/target/release/baton-tray.exe",
            "/src/baton/target/x86_64-pc-windows-gnu/debug/baton-tray.exe",
        ] {
            assert!(built_by_cargo(Path::new(built)), "{built}");
        }
        for installed in [
            "/Program Files/Baton/baton-tray.exe",
            "/Program Files/release/baton-tray.exe",
            "/a/target/b/c/debug/baton-tray.exe",
            "baton-tray.exe",
        ] {
            assert!(!built_by_cargo(Path::new(installed)), "{installed}");
        }
    }
}
