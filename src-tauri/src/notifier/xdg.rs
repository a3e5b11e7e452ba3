//! Notifications with answers on the freedesktop notification server (D-Bus), through
//! notify-rust: each answer is an action; the server's `ActionInvoked` comes back on a thread
//! that waits for it, and goes to the notifier as an [`Answered`].

use tokio::sync::mpsc::UnboundedSender;

use super::Answered;
use crate::notice::{Answer, Notice};

/// How long a notification with answers stays up.
const ANSWER_WITHIN_MS: u32 = 60_000;

/// Whether the server says it shows actions (`GetCapabilities`).
pub fn actions_supported() -> bool {
    notify_rust::get_capabilities().is_ok_and(|caps| caps.iter().any(|c| c == "actions"))
}

/// Shows `notice` with a button for each of its answers; a click on the body is the dashboard.
pub fn show(notice: &Notice, body: &str, answers: UnboundedSender<Answered>) -> Result<(), String> {
    let mut notification = notify_rust::Notification::new();
    // The server closes it after a while, which ends the thread waiting for its answer.
    notification
        .appname("Baton")
        .summary("Baton")
        .body(body)
        .timeout(notify_rust::Timeout::Milliseconds(ANSWER_WITHIN_MS));
    for answer in &notice.answers {
        notification.action(answer.key(), answer.label());
    }
    let handle = notification.show().map_err(|e| e.to_string())?;
    let notice = notice.clone();
    std::thread::Builder::new()
        .name("baton-notification".into())
        .spawn(move || {
            handle.wait_for_action(|key| {
                if let Some(answer) = Answer::from_key(key)
                    && notice.answers.contains(&answer)
                {
                    let _ = answers.send((notice, answer));
                }
            });
        })
        .map_err(|e| e.to_string())?;
    Ok(())
}
