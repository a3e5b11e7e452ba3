//! macOS's notification centre (NSUserNotificationCenter, through notify-rust): one answer is a
//! button, several are a menu on it, a click on the body is the dashboard. Type-checked here,
//! not run: no Mac.

/// The notification centre shows actions.
pub fn actions_supported() -> bool {
    // The notifications go out in the app's name, not Terminal's.
    if let Err(e) = notify_rust::set_application(crate::IDENTIFIER) {
        tracing::warn!(error = %e, "notifications will not name Baton");
    }
    true
}

/// A notification as Baton sends it; its answers are listed under "Answer".
pub fn notification() -> notify_rust::Notification {
    use notify_rust::NsNotificationExt;
    let mut notification = notify_rust::Notification::new();
    notification.appname("Baton").actions_label("Answer");
    notification
}

/// The notification centre shows text as it is.
pub fn body(text: &str) -> String {
    text.to_string()
}
