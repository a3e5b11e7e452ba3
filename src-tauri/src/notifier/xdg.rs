//! The freedesktop notification server (D-Bus): it says whether it shows actions
//! (`GetCapabilities`); a notification with answers stays up for a minute.

/// How long a notification with answers stays up; the server closing it ends the thread that
/// waits for its answer.
const ANSWER_WITHIN_MS: u32 = 60_000;

/// Whether the server says it shows actions (`GetCapabilities`).
pub fn actions_supported() -> bool {
    notify_rust::get_capabilities().is_ok_and(|caps| caps.iter().any(|c| c == "actions"))
}

/// A notification as Baton sends it here.
pub fn notification() -> notify_rust::Notification {
    let mut notification = notify_rust::Notification::new();
    notification
        .appname("Baton")
        .timeout(notify_rust::Timeout::Milliseconds(ANSWER_WITHIN_MS));
    notification
}

/// Notification servers render a little markup in bodies (links, images, bold). Titles come
/// from agents, so they are shown as text.
pub fn body(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
