//! Notifications with answers, through notify-rust on every desktop: each answer is an action
//! (a D-Bus action, a toast button, an entry of the notification's menu on macOS); the response
//! comes back on a thread that waits for it and goes to the notifier as an [`Answered`]. What
//! differs per platform (whether the server takes actions, how the notification names the app)
//! is in `platform`.

use notify_rust::NotificationResponse;
use tokio::sync::mpsc::UnboundedSender;

use super::{Answered, platform};
use crate::notice::{Answer, Notice};

/// Shows `notice` with a button for each of its answers; a click on its body is the dashboard.
/// Blocks for the platform call (D-Bus, WinRT); the answer is awaited on a thread of its own.
pub fn show(notice: &Notice, body: &str, answers: UnboundedSender<Answered>) -> Result<(), String> {
    let mut notification = platform::notification();
    notification.summary("Baton").body(body);
    for answer in &notice.answers {
        notification.action(answer.key(), answer.label());
    }
    let handle = notification.show().map_err(|e| e.to_string())?;
    let notice = notice.clone();
    std::thread::Builder::new()
        .name("baton-notification".into())
        .spawn(move || {
            let waited = handle.wait_for_response(|response: &NotificationResponse| {
                if let Some(answer) = answered(response)
                    && notice.answers.contains(&answer)
                {
                    let _ = answers.send((notice, answer));
                }
            });
            if let Err(e) = waited {
                tracing::debug!(error = %e, "no answer from a notification");
            }
        })
        .map_err(|e| e.to_string())?;
    Ok(())
}

/// The answer a response stands for: a button's, or the dashboard for a click on the body.
fn answered(response: &NotificationResponse) -> Option<Answer> {
    match response {
        NotificationResponse::Default => Some(Answer::OpenDashboard),
        NotificationResponse::Action(key) => Answer::from_key(key),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buttons_and_body_clicks_read_as_answers_and_closing_as_none() {
        assert_eq!(
            answered(&NotificationResponse::Action("allow".into())),
            Some(Answer::Allow)
        );
        assert_eq!(
            answered(&NotificationResponse::Action("default".into())),
            Some(Answer::OpenDashboard)
        );
        assert_eq!(
            answered(&NotificationResponse::Default),
            Some(Answer::OpenDashboard)
        );
        assert_eq!(
            answered(&NotificationResponse::Action("rm -rf".into())),
            None
        );
        assert_eq!(
            answered(&NotificationResponse::Closed(
                notify_rust::CloseReason::Dismissed
            )),
            None
        );
    }
}
