//! Shows the notices the event log calls for as OS notifications, gathered into summaries, as
//! the user's notification settings allow.

use std::time::Duration;

use baton_core::Handle;
use baton_core::clock::sleep_until;
use tauri::{AppHandle, Runtime};
use tauri_plugin_notification::NotificationExt;
use tokio::sync::{broadcast, watch};
use tokio::time::Instant;

use crate::notice::{Coalescer, Notice, Noticer};
use crate::settings::NotifySettings;

/// At most one notification of a kind per this long.
const WINDOW: Duration = Duration::from_secs(1);
/// How long a notice waits for others of its kind, so that a burst becomes one summary.
const GATHER: Duration = Duration::from_millis(150);

/// Runs until the scheduler's event stream closes.
pub async fn run<R: Runtime>(
    app: AppHandle<R>,
    core: Handle,
    settings: watch::Receiver<NotifySettings>,
) {
    let mut events = core.subscribe_events();
    let mut noticer = Noticer::default();
    noticer.learn(&core.status());
    let mut coalescer = Coalescer::new(WINDOW, GATHER);
    loop {
        let due = coalescer.next_due();
        tokio::select! {
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
                    // Checked when shown: switching a kind off (or Do Not Disturb on) also
                    // silences what was already waiting.
                    if settings.borrow().allows(notice.kind) {
                        show(&app, &notice);
                    }
                }
            }
        }
    }
}

fn show<R: Runtime>(app: &AppHandle<R>, notice: &Notice) {
    tracing::info!(kind = ?notice.kind, text = %notice.text, "notification");
    if let Err(e) = app
        .notification()
        .builder()
        .title("Baton")
        .body(escape_markup(&notice.text))
        .show()
    {
        tracing::warn!(error = %e, "cannot show a notification");
    }
}

/// Notification servers render a little markup in bodies (links, images, bold). Titles come
/// from agents, so they are shown as text.
fn escape_markup(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_cannot_smuggle_markup_into_notifications() {
        assert_eq!(
            escape_markup("'<a href=\"x\">pay</a> & go' (evil)"),
            "'&lt;a href=\"x\"&gt;pay&lt;/a&gt; &amp; go' (evil)"
        );
    }
}
