//! The global hotkey that stops the desktop holder from any application (a user request,
//! recorded as `user:hotkey`). Ctrl+Alt+Shift+S by default, ⌘⌥⇧S on macOS (`CmdOrCtrl`).
//!
//! Windows, macOS and X11 register it with the system (tauri's global-shortcut plugin). A
//! Wayland session lets no program grab keys: there the desktop binds it for Baton through the
//! GlobalShortcuts portal (`baton_platform::shortcuts`), asking the person once, and the
//! trigger it assigned is what the tray and settings show. Where neither works, they say why.

use std::sync::Mutex;
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
    let last_press = Mutex::new(None::<Instant>);
    tauri_plugin_global_shortcut::Builder::new()
        .with_handler(move |app, _shortcut, event| {
            if event.state() == ShortcutState::Pressed {
                pressed(app, &last_press);
            }
        })
        .build()
}

/// A press of the stop hotkey, however it was heard: stops the holder, once per [`REPEAT`].
fn pressed<R: Runtime>(app: &AppHandle<R>, last_press: &Mutex<Option<Instant>>) {
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

/// Where the stop hotkey is bound in a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// With the system: Windows, macOS, X11 (tauri's plugin).
    System,
    /// By the desktop, through the GlobalShortcuts portal: a Wayland session (where an X11
    /// grab through XWayland would fire only while an X11 window has focus).
    Portal,
    /// Nowhere, and why.
    Unsupported(String),
}

/// The route for a Linux session with these variables (other platforms: the system).
pub fn route(display: Option<&str>, wayland_display: Option<&str>) -> Route {
    if wayland_display.is_some_and(|w| !w.is_empty()) {
        return Route::Portal;
    }
    if display.is_none_or(str::is_empty) {
        return Route::Unsupported(
            "global hotkeys need an X11 display or a Wayland desktop, and this session has neither; use the tray menu's Stop item"
                .into(),
        );
    }
    Route::System
}

/// This session's route.
fn route_here() -> Route {
    if !cfg!(all(unix, not(target_os = "macos"))) {
        return Route::System;
    }
    let var = |name| std::env::var(name).ok();
    route(var("DISPLAY").as_deref(), var("WAYLAND_DISPLAY").as_deref())
}

/// What the tray and settings say while the desktop's dialog waits for the person.
const ASKING: &str = "waiting for you to add it in the desktop's Add Keyboard Shortcuts dialog";

/// At start: registers the configured hotkey, and records why not if it cannot be. On Wayland
/// the desktop is asked in the background, as its dialog waits for the person.
pub fn start<R: Runtime>(app: &AppHandle<R>, state: &AppState) {
    let accelerator = state.hotkey.borrow().accelerator.clone();
    let outcome = match route_here() {
        Route::Unsupported(reason) => Err(Error::Setting(reason)),
        Route::System => register(app, &accelerator),
        Route::Portal => {
            state.hotkey.send_replace(HotkeyState {
                accelerator: accelerator.clone(),
                active: false,
                error: Some(ASKING.into()),
            });
            #[cfg(target_os = "linux")]
            tauri::async_runtime::spawn(portal::serve(app.clone(), accelerator));
            return;
        }
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
    match route_here() {
        Route::Unsupported(reason) => return Err(Error::Setting(reason)),
        Route::Portal => {
            return Err(Error::Setting(format!(
                "on Wayland the desktop keeps the stop hotkey's binding (now {}): change it in the desktop's keyboard shortcut settings, where Baton's is listed",
                state.hotkey.borrow().accelerator
            )));
        }
        Route::System => {}
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

/// The Wayland route: the desktop binds the hotkey through the GlobalShortcuts portal.
#[cfg(target_os = "linux")]
mod portal {
    use futures_util::StreamExt;

    use super::*;

    /// Asks the desktop for the binding, says what it assigned (or why not), and stops the
    /// holder on every press until the app ends.
    pub async fn serve<R: Runtime>(app: AppHandle<R>, accelerator: String) {
        let id = app.config().identifier.clone();
        let bound = async {
            let exe = std::env::current_exe().map_err(|e| e.to_string())?;
            let (_, written) = baton_platform::shortcuts::ensure_desktop_entry(&id, &exe)
                .map_err(|e| e.to_string())?;
            // A file written just now reaches the portal a moment later.
            let patience = if written {
                Duration::from_secs(10)
            } else {
                Duration::ZERO
            };
            baton_platform::shortcuts::StopShortcut::bind(
                &id,
                &accelerator,
                "Stop the run that holds the desktop",
                patience,
            )
            .await
            .map_err(|e| e.to_string())
        };
        let state = app.state::<AppState>();
        match bound.await {
            Ok((shortcut, presses)) => {
                tracing::info!(
                    trigger = shortcut.trigger(),
                    "the desktop bound the stop hotkey"
                );
                state.hotkey.send_replace(HotkeyState {
                    accelerator: shortcut.trigger().to_string(),
                    active: true,
                    error: None,
                });
                let last_press = Mutex::new(None::<Instant>);
                let mut presses = std::pin::pin!(presses);
                while presses.next().await.is_some() {
                    pressed(&app, &last_press);
                }
                drop(shortcut);
            }
            Err(why) => {
                tracing::warn!(error = %why, "no stop hotkey");
                state.hotkey.send_replace(HotkeyState {
                    accelerator,
                    active: false,
                    error: Some(why),
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn x11_registers_wayland_asks_the_desktop_and_nothing_else_has_one() {
        assert_eq!(route(Some(":0"), None), Route::System);
        assert_eq!(route(Some(":0"), Some("wayland-0")), Route::Portal);
        assert_eq!(route(None, Some("wayland-0")), Route::Portal);
        let Route::Unsupported(none) = route(None, None) else {
            panic!("no display, no hotkey");
        };
        assert!(none.contains("neither"), "{none}");
        assert_eq!(route(Some(""), Some("")), route(None, None));
    }
}
