//! Windows toasts (WinRT, through notify-rust): buttons for the answers, the body click for the
//! dashboard. Type-checked here, not run: Wine has no toast platform.

/// Windows 10 and later show toast buttons.
pub fn actions_supported() -> bool {
    true
}

/// A toast as Baton sends it. Windows shows a toast only for an AppUserModelID it knows: the
/// installer's shortcut registers the bundle identifier; a build run from `target\` has none,
/// so it borrows PowerShell's (as the notification plugin does) and the toast says so.
pub fn notification() -> notify_rust::Notification {
    let mut notification = notify_rust::Notification::new();
    notification.appname("Baton").app_id(&app_id());
    notification
}

fn app_id() -> String {
    let from_target = std::env::current_exe()
        .ok()
        .is_some_and(|exe| super::built_by_cargo(&exe));
    if from_target {
        // notify-rust's default: PowerShell's AppUserModelID.
        POWERSHELL_APP_ID.into()
    } else {
        crate::IDENTIFIER.into()
    }
}

/// PowerShell's AppUserModelID, registered on every Windows.
const POWERSHELL_APP_ID: &str =
    "{1AC14E77-02E7-4E5D-B744-2EB1AE5198B7}\\WindowsPowerShell\\v1.0\\powershell.exe";

/// Toast text is XML that notify-rust escapes; nothing to do here.
pub fn body(text: &str) -> String {
    text.to_string()
}
