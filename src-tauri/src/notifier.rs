//! Shows the notices the event log calls for as OS notifications, coalesced, as the user's
//! notification settings allow.

use std::time::Duration;

use baton_core::Handle;
use tauri::{AppHandle, Runtime};
use tauri_plugin_notification::NotificationExt;
use tokio::sync::{broadcast, watch};
use tokio::time::Instant;

use crate::notice::{Coalescer, Notice, Noticer};
use crate::settings::NotifySettings;

/// At most one notification of a kind per this long.
const WINDOW: Duration = Duration::from_secs(1);

/// Runs until the scheduler's event stream closes.
pub async fn run<R: Runtime>(
    app: AppHandle<R>,
    core: Handle,
    settings: watch::Receiver<NotifySettings>,
) {
    let mut events = core.subscribe_events();
    let mut noticer = Noticer::default();
    noticer.learn(&core.status());
    let mut coalescer = Coalescer::new(WINDOW);
    loop {
        let due = coalescer.next_due();
        tokio::select! {
            received = events.recv() => match received {
                Ok(event) => {
                    let holder = core.status().desktop.holder.as_ref().map(|r| r.id);
                    for notice in noticer.on_event(&event, holder) {
                        if !settings.borrow().allows(notice.kind) {
                            continue;
                        }
                        if let Some(notice) = coalescer.offer(notice, Instant::now()) {
                            show(&app, &notice);
                        }
                    }
                }
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    tracing::warn!(missed, "notifications skipped: too many events at once");
                }
                Err(broadcast::error::RecvError::Closed) => return,
            },
            () = sleep_until(due) => {
                for notice in coalescer.flush(Instant::now()) {
                    show(&app, &notice);
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
        .body(&notice.text)
        .show()
    {
        tracing::warn!(error = %e, "cannot show a notification");
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}
