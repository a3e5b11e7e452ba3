//! The global hotkey that stops the desktop holder from any application (a user request,
//! recorded as `user:hotkey`). X11 only on Linux: under native Wayland it cannot be registered,
//! and the tray says so.

use baton_core::Caller;
use tauri::{AppHandle, Manager, Runtime};
use tauri_plugin_global_shortcut::{GlobalShortcutExt, Shortcut, ShortcutState};

use crate::AppState;
use crate::error::{Error, Result};

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

/// Parses an accelerator such as `CmdOrCtrl+Alt+Shift+S`.
pub fn parse(accelerator: &str) -> Result<Shortcut> {
    accelerator.parse::<Shortcut>().map_err(|e| {
        Error::Setting(format!(
            "'{accelerator}' is not a hotkey Baton understands ({e}); write it like CmdOrCtrl+Alt+Shift+S"
        ))
    })
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
