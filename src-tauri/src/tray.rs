//! The tray icon and its menu, the main surface on Linux (where trays get no clicks). Kept
//! current from the status snapshot: on every change, and every few seconds while someone holds
//! the desktop (the menu says for how long).

use std::time::Duration;

use baton_core::{Caller, Handle, Timestamp};
use tauri::image::Image;
use tauri::menu::{Menu, MenuEvent, MenuItem, PredefinedMenuItem};
use tauri::tray::{TrayIcon, TrayIconBuilder};
use tauri::{AppHandle, Manager, Wry};

use crate::AppState;
use crate::error::Result;
use crate::view::{IconKind, TrayView, hotkey_label, tray_view};

/// Menu item ids.
pub mod ids {
    pub const STOP: &str = "stop";
    pub const PAUSE: &str = "pause";
    pub const DASHBOARD: &str = "dashboard";
    pub const QUIT: &str = "quit";
}

/// How often the holder's elapsed time is refreshed in the menu.
const REFRESH_WHILE_HELD: Duration = Duration::from_secs(5);

/// The tray: the icon and the items whose text changes.
pub struct Tray {
    icon: TrayIcon,
    holder: MenuItem<Wry>,
    queue: MenuItem<Wry>,
    stop: MenuItem<Wry>,
    pause: MenuItem<Wry>,
    shown: Option<TrayView>,
}

impl std::fmt::Debug for Tray {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tray")
            .field("shown", &self.shown)
            .finish_non_exhaustive()
    }
}

impl Tray {
    /// Builds the tray for `view`.
    pub fn build(app: &AppHandle, view: &TrayView, hotkey: Option<&str>) -> Result<Tray> {
        let holder = MenuItem::new(app, menu_text(&view.holder), false, None::<&str>)?;
        let queue = MenuItem::new(app, menu_text(&view.queue), false, None::<&str>)?;
        let stop = MenuItem::with_id(
            app,
            ids::STOP,
            stop_label(hotkey),
            view.can_stop,
            None::<&str>,
        )?;
        let pause = MenuItem::with_id(app, ids::PAUSE, &view.pause, true, None::<&str>)?;
        let dashboard =
            MenuItem::with_id(app, ids::DASHBOARD, "Open dashboard", true, None::<&str>)?;
        let quit = MenuItem::with_id(app, ids::QUIT, "Quit Baton", true, None::<&str>)?;
        let menu = Menu::with_items(
            app,
            &[
                &holder,
                &queue,
                &PredefinedMenuItem::separator(app)?,
                &stop,
                &pause,
                &PredefinedMenuItem::separator(app)?,
                &dashboard,
                &PredefinedMenuItem::separator(app)?,
                &quit,
            ],
        )?;
        let icon = TrayIconBuilder::with_id("baton")
            .icon(icon_image(view.icon)?)
            .tooltip(&view.tooltip)
            .menu(&menu)
            .show_menu_on_left_click(true)
            .on_menu_event(on_menu_event)
            .build(app)?;
        Ok(Tray {
            icon,
            holder,
            queue,
            stop,
            pause,
            shown: Some(view.clone()),
        })
    }

    /// Shows `view`, changing only what changed.
    pub fn show(&mut self, view: &TrayView) -> Result<()> {
        let old = self.shown.take();
        let changed = |f: fn(&TrayView) -> &str| old.as_ref().is_none_or(|o| f(o) != f(view));
        if changed(|v| &v.holder) {
            self.holder.set_text(menu_text(&view.holder))?;
        }
        if changed(|v| &v.queue) {
            self.queue.set_text(menu_text(&view.queue))?;
        }
        if changed(|v| &v.pause) {
            self.pause.set_text(&view.pause)?;
        }
        if changed(|v| &v.tooltip) {
            self.icon.set_tooltip(Some(&view.tooltip))?;
        }
        if old.as_ref().is_none_or(|o| o.can_stop != view.can_stop) {
            self.stop.set_enabled(view.can_stop)?;
        }
        if old.as_ref().is_none_or(|o| o.icon != view.icon) {
            self.icon.set_icon(Some(icon_image(view.icon)?))?;
        }
        self.shown = Some(view.clone());
        Ok(())
    }

    /// Says on the Stop item whether the hotkey works.
    pub fn set_hotkey(&self, hotkey: Option<&str>) -> Result<()> {
        Ok(self.stop.set_text(stop_label(hotkey))?)
    }
}

/// Keeps the tray current until the app ends.
pub async fn follow(core: Handle, mut tray: Tray) {
    let mut updates = core.watch_status();
    loop {
        let snapshot = updates.borrow_and_update().clone();
        if let Err(e) = tray.show(&tray_view(&snapshot, Timestamp::now())) {
            tracing::warn!(error = %e, "cannot update the tray");
        }
        let held = snapshot.desktop.holder.is_some();
        let changed = async {
            if held {
                let _ = tokio::time::timeout(REFRESH_WHILE_HELD, updates.changed()).await;
                Ok(())
            } else {
                updates.changed().await
            }
        };
        if changed.await.is_err() {
            return;
        }
    }
}

fn on_menu_event(app: &AppHandle, event: MenuEvent) {
    let state = app.state::<AppState>();
    let core = state.core.clone();
    match event.id().as_ref() {
        ids::STOP => {
            tauri::async_runtime::spawn(async move {
                if let Err(e) = core.stop_holder(Caller::user("tray"), None).await {
                    tracing::warn!(error = %e, "stop from the tray failed");
                }
            });
        }
        ids::PAUSE => {
            tauri::async_runtime::spawn(async move {
                let paused = core.status().desktop.paused;
                if let Err(e) = core.set_paused(!paused, Caller::user("tray")).await {
                    tracing::warn!(error = %e, "pause from the tray failed");
                }
            });
        }
        ids::DASHBOARD => {
            if let Err(e) = crate::windows::open_dashboard(app) {
                tracing::warn!(error = %e, "cannot open the dashboard");
            }
        }
        ids::QUIT => state.quit(),
        _ => {}
    }
}

fn stop_label(hotkey: Option<&str>) -> String {
    match hotkey {
        Some(hotkey) => format!("Stop desktop holder ({})", hotkey_label(hotkey)),
        None => "Stop desktop holder (hotkey unavailable)".into(),
    }
}

/// Menu labels treat `&` as a mnemonic marker; show it as itself.
fn menu_text(text: &str) -> String {
    text.replace('&', "&&")
}

fn icon_image(kind: IconKind) -> Result<Image<'static>> {
    let bytes: &[u8] = match kind {
        IconKind::Free => include_bytes!("../../icons/tray-free.png"),
        IconKind::Held => include_bytes!("../../icons/tray-held.png"),
        IconKind::Paused => include_bytes!("../../icons/tray-paused.png"),
    };
    Ok(Image::from_bytes(bytes)?)
}
