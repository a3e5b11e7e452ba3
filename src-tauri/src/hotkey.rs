//! The global hotkey that stops the desktop holder from any application (a user request,
//! recorded as `user:hotkey`). X11 only on Linux: under native Wayland it cannot be registered,
//! and the tray says so.

use baton_core::Caller;
use tauri::{AppHandle, Manager, Runtime};
use tauri_plugin_global_shortcut::{GlobalShortcutExt, Modifiers, Shortcut, ShortcutState};

use crate::error::{Error, Result};
use crate::state::{AppState, HotkeyState};

/// The plugin, with the handler every registered shortcut shares: stop the holder.
pub fn plugin<R: Runtime>() -> tauri::plugin::TauriPlugin<R> {
    tauri_plugin_global_shortcut::Builder::new()
        .with_handler(|app, _shortcut, event| {
            if event.state() != ShortcutState::Pressed {
                return;
            }
            let core = app.state::<AppState>().core.clone();
            tauri::async_runtime::spawn(async move {
                match core.stop_holder(Caller::user("hotkey"), None).await {
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

/// At start: registers the configured hotkey, and records why not if it cannot be.
pub fn start<R: Runtime>(app: &AppHandle<R>, state: &AppState) {
    let accelerator = state.hotkey.borrow().accelerator.clone();
    let outcome = register(app, &accelerator);
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
