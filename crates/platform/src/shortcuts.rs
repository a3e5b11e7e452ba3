//! The stop hotkey on a Wayland desktop, through the GlobalShortcuts portal.
//!
//! Wayland lets no program grab keys for itself, so the desktop binds the shortcut on Baton's
//! behalf: Baton proposes a trigger, the desktop asks the person once (GNOME's *Add Keyboard
//! Shortcuts* dialog; KDE binds at once) and keeps the binding, and the portal tells Baton when
//! it is pressed. The binding is the desktop's: the trigger it assigned may differ from the one
//! proposed, and it is changed in the desktop's settings.
//!
//! The portal needs to know who asks. An unsandboxed program has no app id of its own, so Baton
//! registers one with the host Registry (`org.freedesktop.host.portal.Registry`), which accepts
//! only an id with an installed `.desktop` file: [`ensure_desktop_entry`] writes one in the
//! person's own applications folder when no package installed it.

use std::path::{Path, PathBuf};

use ashpd::desktop::Session;
use ashpd::desktop::global_shortcuts::{GlobalShortcuts, NewShortcut};
use futures_util::{Stream, StreamExt};

use crate::error::{Error, Result};

/// The id of the one shortcut Baton binds.
pub const STOP: &str = "stop";

/// A bound stop shortcut: the portal session stays open while this lives.
pub struct StopShortcut {
    _portal: GlobalShortcuts,
    _session: Session<GlobalShortcuts>,
    trigger: String,
}

impl std::fmt::Debug for StopShortcut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StopShortcut")
            .field("trigger", &self.trigger)
            .finish_non_exhaustive()
    }
}

impl StopShortcut {
    /// Registers `app_id`, asks the desktop to bind the stop shortcut (proposing `accelerator`,
    /// written as Baton's settings write it, `CmdOrCtrl+Alt+Shift+S`) and answers the binding
    /// with a stream that yields once per press. Waits as long as the person takes to answer
    /// the desktop's dialog. `patience`: how long the registration may be retried, for a
    /// `.desktop` file written just now (the portal learns of new files through a directory
    /// monitor, a moment later).
    pub async fn bind(
        app_id: &str,
        accelerator: &str,
        description: &str,
        patience: std::time::Duration,
    ) -> Result<(StopShortcut, impl Stream<Item = ()> + Send + 'static)> {
        // A connection of its own: the registration must be the first portal call on it.
        let connection = zbus::Connection::session()
            .await
            .map_err(|e| Error::NoPortal(e.to_string()))?;
        let id = app_id
            .parse::<ashpd::AppID>()
            .map_err(|_| Error::Shortcut(format!("'{app_id}' is not an application id")))?;
        let deadline = tokio::time::Instant::now() + patience;
        loop {
            match ashpd::register_host_app_with_connection(connection.clone(), id.clone()).await {
                Ok(()) => break,
                Err(_) if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(std::time::Duration::from_millis(250)).await;
                }
                Err(e) => {
                    return Err(Error::Shortcut(format!(
                        "the desktop does not know Baton as {app_id} ({e}); {app_id}.desktop must be installed"
                    )));
                }
            }
        }
        let portal = GlobalShortcuts::with_connection(connection)
            .await
            .map_err(|e| match e {
                ashpd::Error::PortalNotFound(_) => Error::Shortcut(
                    "this desktop's portal has no global shortcuts (GNOME 48 and KDE Plasma 5.27 or later have them)".into(),
                ),
                e => Error::from_portal(e),
            })?;
        let session = portal
            .create_session(Default::default())
            .await
            .map_err(Error::from_portal)?;
        let pressed = portal
            .receive_activated()
            .await
            .map_err(Error::from_portal)?
            .filter(|activated| std::future::ready(activated.shortcut_id() == STOP))
            .map(|_| ());
        let trigger = xdg_trigger(accelerator);
        let shortcut = NewShortcut::new(STOP, description).preferred_trigger(trigger.as_str());
        let bound = portal
            .bind_shortcuts(&session, &[shortcut], None, Default::default())
            .await;
        // GNOME 48 answers the binding with "ended" (2) while it did bind, so what counts is
        // what the session lists afterwards, not the answer's code; a refusal is said as one.
        match bound.as_ref().map(|request| request.response()) {
            Err(ashpd::Error::Response(ashpd::desktop::ResponseError::Cancelled))
            | Ok(Err(ashpd::Error::Response(ashpd::desktop::ResponseError::Cancelled))) => {
                return Err(Error::Shortcut(
                    "the desktop's dialog to add the stop hotkey was cancelled; restart Baton to be asked again".into(),
                ));
            }
            _ => {}
        }
        let listed = portal
            .list_shortcuts(&session, Default::default())
            .await
            .and_then(|request| request.response())
            .map_err(Error::from_portal)?;
        let trigger = listed
            .shortcuts()
            .iter()
            .find(|s| s.id() == STOP)
            .map(|s| readable_trigger(s.trigger_description()))
            .ok_or_else(|| {
                Error::Shortcut(
                    "the desktop did not bind the stop hotkey (its dialog was refused); restart Baton to be asked again".into(),
                )
            })?;
        Ok((
            StopShortcut {
                _portal: portal,
                _session: session,
                trigger,
            },
            pressed,
        ))
    }

    /// The trigger as the desktop describes it (`Ctrl+Alt+Shift+S`, or what the person chose).
    pub fn trigger(&self) -> &str {
        &self.trigger
    }
}

/// An accelerator as Baton's settings write it (`CmdOrCtrl+Alt+Shift+S`) in the form of the
/// XDG shortcuts specification that the portal takes (`CTRL+ALT+SHIFT+s`).
pub fn xdg_trigger(accelerator: &str) -> String {
    let parts: Vec<&str> = accelerator.split('+').map(str::trim).collect();
    let Some((key, modifiers)) = parts.split_last() else {
        return String::new();
    };
    let mut out: Vec<String> = modifiers
        .iter()
        .map(|m| match m.to_ascii_lowercase().as_str() {
            "cmdorctrl" | "commandorcontrol" | "ctrl" | "control" => "CTRL".to_string(),
            "alt" | "option" => "ALT".to_string(),
            "shift" => "SHIFT".to_string(),
            "super" | "meta" | "cmd" | "command" | "logo" => "LOGO".to_string(),
            other => other.to_ascii_uppercase(),
        })
        .collect();
    let key = if key.chars().count() == 1 {
        key.to_lowercase()
    } else {
        (*key).to_string()
    };
    out.push(key);
    out.join("+")
}

/// A trigger as the desktop describes it, as people read it: GNOME says `Press
/// <Shift><Control><Alt>s` (GTK's notation), KDE `Ctrl+Alt+K`; both become `Shift+Ctrl+Alt+S`
/// and `Ctrl+Alt+K`.
pub fn readable_trigger(description: &str) -> String {
    let text = description.trim();
    let text = text.strip_prefix("Press ").unwrap_or(text);
    if !text.contains('<') {
        return text.to_string();
    }
    let mut parts = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find('<') {
        let Some(close) = rest[open..].find('>') else {
            break;
        };
        let modifier = &rest[open + 1..open + close];
        parts.push(match modifier.to_ascii_lowercase().as_str() {
            "control" | "ctrl" | "primary" => "Ctrl".to_string(),
            "shift" => "Shift".to_string(),
            "alt" | "mod1" => "Alt".to_string(),
            "super" | "meta" | "logo" => "Super".to_string(),
            _ => modifier.to_string(),
        });
        rest = &rest[open + close + 1..];
    }
    let key = rest.trim();
    if key.chars().count() == 1 {
        parts.push(key.to_uppercase());
    } else if !key.is_empty() {
        parts.push(key.to_string());
    }
    parts.join("+")
}

/// Makes sure the desktop can find `APP_ID.desktop`, which the portal's Registry requires of
/// an unsandboxed program: if no data directory has it (a package installs it), writes one,
/// hidden from menus, into `$XDG_DATA_HOME/applications`. Answers the file that serves, and
/// whether it was written just now.
pub fn ensure_desktop_entry(app_id: &str, exe: &Path) -> Result<(PathBuf, bool)> {
    let name = format!("{app_id}.desktop");
    let data_home = std::env::var_os("XDG_DATA_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .ok_or_else(|| Error::Shortcut("neither XDG_DATA_HOME nor HOME is set".into()))?;
    let data_dirs = std::env::var("XDG_DATA_DIRS")
        .ok()
        .filter(|d| !d.is_empty())
        .unwrap_or_else(|| "/usr/local/share:/usr/share".into());
    let existing = std::iter::once(data_home.clone())
        .chain(std::env::split_paths(&data_dirs))
        .map(|dir| dir.join("applications").join(&name))
        .find(|file| file.is_file());
    if let Some(file) = existing {
        return Ok((file, false));
    }
    let file = data_home.join("applications").join(&name);
    let entry = format!(
        "[Desktop Entry]\nType=Application\nName=Baton\nComment=Many agents, one desktop\nExec={}\nIcon={app_id}\nNoDisplay=true\n",
        exe.display()
    );
    let written = std::fs::create_dir_all(data_home.join("applications"))
        .and_then(|()| std::fs::write(&file, entry));
    written.map_err(|e| {
        Error::Shortcut(format!(
            "cannot write {} for the desktop: {e}",
            file.display()
        ))
    })?;
    Ok((file, true))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accelerators_become_xdg_triggers() {
        assert_eq!(xdg_trigger("CmdOrCtrl+Alt+Shift+S"), "CTRL+ALT+SHIFT+s");
        assert_eq!(xdg_trigger("Super+F5"), "LOGO+F5");
        assert_eq!(xdg_trigger("Ctrl+Escape"), "CTRL+Escape");
    }

    #[test]
    fn the_desktops_descriptions_read_as_people_write_them() {
        assert_eq!(
            readable_trigger("Press <Shift><Control><Alt>s"),
            "Shift+Ctrl+Alt+S"
        );
        assert_eq!(readable_trigger("Ctrl+Alt+K"), "Ctrl+Alt+K");
        assert_eq!(readable_trigger("<Super>F5"), "Super+F5");
    }
}
