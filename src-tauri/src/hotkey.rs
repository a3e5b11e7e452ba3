//! The global hotkey that stops the desktop holder from any application (a user request,
//! recorded as `user:hotkey`). Ctrl+Alt+Shift+S by default, ⌘⌥⇧S on macOS (`CmdOrCtrl`). X11
//! only on Linux: in a Wayland session it is not registered,
//! and the tray and settings say why.

use std::time::{Duration, Instant};

use baton_core::Caller;
use tauri::{AppHandle, Manager, Runtime};
use tauri_plugin_global_shortcut::{GlobalShortcutExt, Modifiers, Shortcut, ShortcutState};

use crate::error::{Error, Result};
use crate::state::{AppState, HotkeyState};

/// Presses closer together than this are one press: the second must not stop the run the
/// desktop was just handed to, which the user has not seen yet.
const REPEAT: Duration = Duration::from_secs(1);

/// The plugin, with the handler every registered shortcut shares: stop the holder.
pub fn plugin<R: Runtime>() -> tauri::plugin::TauriPlugin<R> {
    let last_press = std::sync::Mutex::new(None::<Instant>);
    tauri_plugin_global_shortcut::Builder::new()
        .with_handler(move |app, _shortcut, event| {
            if event.state() != ShortcutState::Pressed {
                return;
            }
            if let Ok(mut last) = last_press.lock() {
                let now = Instant::now();
                if last.is_some_and(|t| now.duration_since(t) < REPEAT) {
                    return;
                }
                *last = Some(now);
            }
            let core = app.state::<AppState>().core.clone();
            tauri::async_runtime::spawn(async move {
                match core.stop_holder(Caller::user("hotkey"), None, None).await {
                    Ok(Some(run)) => tracing::info!(run = %run.id, "stopped by the hotkey"),
                    Ok(None) => tracing::info!("hotkey pressed; the desktop was free"),
                    Err(e) => tracing::warn!(error = %e, "stop by the hotkey failed"),
                }
            });
        })
        .build()
}

/// Parses an accelerator such as `CmdOrCtrl+Alt+Shift+S`. A key without Ctrl, Alt or Super is
/// refused: as a global hotkey it would swallow ordinary typing in every application.
pub fn parse(accelerator: &str) -> Result<Shortcut> {
    let shortcut = accelerator.parse::<Shortcut>().map_err(|e| {
        Error::Setting(format!(
            "'{accelerator}' is not a hotkey Baton understands ({e}); write it like CmdOrCtrl+Alt+Shift+S"
        ))
    })?;
    let needed = Modifiers::CONTROL | Modifiers::ALT | Modifiers::SUPER | Modifiers::META;
    if !shortcut.mods.intersects(needed) {
        return Err(Error::Setting(format!(
            "'{accelerator}' needs Ctrl, Alt or Super as well: on its own it would stop ordinary typing in every application"
        )));
    }
    Ok(shortcut)
}

/// Registers `accelerator` as the stop hotkey.
pub fn register<R: Runtime>(app: &AppHandle<R>, accelerator: &str) -> Result<()> {
    let shortcut = parse(accelerator)?;
    app.global_shortcut().register(shortcut).map_err(|e| {
        Error::Setting(format!(
            "the hotkey {accelerator} cannot be registered ({e}); another application may hold it, or this desktop (native Wayland) does not allow global hotkeys"
        ))
    })
}

/// Why global hotkeys cannot work in this session, if they cannot.
///
/// They need X11. Without an X display there is nothing to register with; under Wayland (even
/// with XWayland) a grab only fires while an X11 window has focus, which is not a hotkey a
/// person can rely on.
pub fn unsupported(
    display: Option<&str>,
    wayland_display: Option<&str>,
    session_type: Option<&str>,
) -> Option<String> {
    if display.is_none_or(str::is_empty) {
        return Some(
            "global hotkeys need an X11 display, and this session has none; use the tray menu's Stop item"
                .into(),
        );
    }
    if wayland_display.is_some_and(|w| !w.is_empty()) || session_type == Some("wayland") {
        return Some(
            "this is a Wayland session, where a global hotkey only reaches Baton while an X11 window has focus; use the tray menu's Stop item"
                .into(),
        );
    }
    None
}

/// Windows and macOS register global hotkeys with the system itself, without X11.
fn unsupported_here() -> Option<String> {
    if !cfg!(all(unix, not(target_os = "macos"))) {
        return None;
    }
    let var = |name| std::env::var(name).ok();
    unsupported(
        var("DISPLAY").as_deref(),
        var("WAYLAND_DISPLAY").as_deref(),
        var("XDG_SESSION_TYPE").as_deref(),
    )
}

/// At start: registers the configured hotkey, and records why not if it cannot be.
pub fn start<R: Runtime>(app: &AppHandle<R>, state: &AppState) {
    let accelerator = state.hotkey.borrow().accelerator.clone();
    let outcome = match unsupported_here() {
        Some(reason) => Err(Error::Setting(reason)),
        None => register(app, &accelerator),
    };
    if let Err(e) = &outcome {
        tracing::warn!(error = %e, "no stop hotkey");
    }
    state.hotkey.send_replace(HotkeyState {
        accelerator,
        active: outcome.is_ok(),
        error: outcome.err().map(|e| e.to_string()),
    });
}

/// Makes `accelerator` the stop hotkey, live. One that does not parse or cannot be registered
/// is refused with a sentence, and the old one stays in force.
pub fn replace<R: Runtime>(app: &AppHandle<R>, state: &AppState, accelerator: &str) -> Result<()> {
    let accelerator = accelerator.trim();
    let new = parse(accelerator)?;
    if let Some(reason) = unsupported_here() {
        return Err(Error::Setting(reason));
    }
    // One change at a time: interleaved, two changes could leave the old key registered.
    let _one_at_a_time = state
        .hotkey_change
        .lock()
        .map_err(|_| Error::Setting("the hotkey could not be changed; try again".into()))?;
    let current = state.hotkey.borrow().clone();
    let old = current
        .active
        .then(|| parse(&current.accelerator).ok())
        .flatten();
    if old == Some(new) {
        return Ok(());
    }
    if let Some(old) = old {
        let _ = app.global_shortcut().unregister(old);
    }
    if let Err(e) = register(app, accelerator) {
        if let Some(old) = old {
            let _ = app.global_shortcut().register(old);
        }
        return Err(e);
    }
    state.hotkey.send_replace(HotkeyState {
        accelerator: accelerator.to_string(),
        active: true,
        error: None,
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hotkeys_work_only_in_x11_sessions() {
        assert_eq!(unsupported(Some(":0"), None, Some("x11")), None);
        assert_eq!(unsupported(Some(":0"), None, None), None);
        let none = unsupported(None, Some("wayland-0"), Some("wayland")).expect("no X display");
        assert!(none.contains("no"), "{none}");
        let xwayland =
            unsupported(Some(":0"), Some("wayland-0"), Some("wayland")).expect("wayland");
        assert!(xwayland.contains("Wayland session"), "{xwayland}");
        assert!(unsupported(Some(":0"), None, Some("wayland")).is_some());
    }
}
