//! The tray icon and its menu, the main surface on Linux (where trays get no clicks). Kept
//! current from the status snapshot: on every change, and every few seconds while someone holds
//! the desktop (the menu says for how long).

use std::time::Duration;

use baton_core::{Caller, Handle, Timestamp};
use tauri::image::Image;
use tauri::menu::{Menu, MenuEvent, MenuItem, PredefinedMenuItem};
use tauri::tray::{TrayIcon, TrayIconBuilder};
use tauri::{AppHandle, Manager, Wry};
use tauri_plugin_dialog::{DialogExt, MessageDialogButtons, MessageDialogKind};
use tokio::sync::watch;

use crate::error::Result;
use crate::state::{AppState, HotkeyState};
use crate::view::{IconKind, TrayView, hotkey_label, schedule_lines, tray_view};

/// Menu item ids.
pub mod ids {
    pub const STOP: &str = "stop";
    pub const PAUSE: &str = "pause";
    pub const DASHBOARD: &str = "dashboard";
    pub const SETTINGS: &str = "settings";
    pub const GIVE_BACK: &str = "give_back";
    pub const ALLOW: &str = "allow";
    pub const REFUSE: &str = "refuse";
    pub const QUIT: &str = "quit";
}

/// How often the holder's elapsed time is refreshed in the menu.
const REFRESH_WHILE_HELD: Duration = Duration::from_secs(5);

/// How often the next fires are looked at again while nothing else changes.
const REFRESH_SCHEDULES: Duration = Duration::from_secs(60);

/// The tray: the icon and the items whose text changes.
pub struct Tray {
    icon: TrayIcon,
    menu: Menu<Wry>,
    holder: MenuItem<Wry>,
    queue: MenuItem<Wry>,
    /// A line for each other resource in use, after the queue's.
    resources: Vec<MenuItem<Wry>>,
    /// A line for each schedule entry to fire soonest, after the resources'.
    schedules: Vec<MenuItem<Wry>>,
    stop: MenuItem<Wry>,
    pause: MenuItem<Wry>,
    give_back: MenuItem<Wry>,
    allow: MenuItem<Wry>,
    refuse: MenuItem<Wry>,
    stop_label: String,
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
    /// Builds the tray for `view`; `missing` are lines saying what the host cannot do here.
    pub fn build(
        app: &AppHandle,
        view: &TrayView,
        hotkey: &HotkeyState,
        missing: &[String],
    ) -> Result<Tray> {
        let holder = MenuItem::new(app, menu_text(&view.holder), false, None::<&str>)?;
        let queue = MenuItem::new(app, menu_text(&view.queue), false, None::<&str>)?;
        let missing = missing
            .iter()
            .map(|line| MenuItem::new(app, menu_text(line), false, None::<&str>))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let stop_text = stop_label(hotkey);
        let stop = MenuItem::with_id(app, ids::STOP, &stop_text, view.can_stop, None::<&str>)?;
        let pause = MenuItem::with_id(app, ids::PAUSE, &view.pause, true, None::<&str>)?;
        let give_back = MenuItem::with_id(
            app,
            ids::GIVE_BACK,
            give_back_label(view),
            view.give_back.is_some(),
            None::<&str>,
        )?;
        let (allow_text, refuse_text) = ask_labels(view);
        let allow = MenuItem::with_id(
            app,
            ids::ALLOW,
            menu_text(&allow_text),
            view.ask.is_some(),
            None::<&str>,
        )?;
        let refuse = MenuItem::with_id(
            app,
            ids::REFUSE,
            menu_text(&refuse_text),
            view.ask.is_some(),
            None::<&str>,
        )?;
        let dashboard =
            MenuItem::with_id(app, ids::DASHBOARD, "Open dashboard", true, None::<&str>)?;
        let settings = MenuItem::with_id(app, ids::SETTINGS, "Settings…", true, None::<&str>)?;
        let quit = MenuItem::with_id(app, ids::QUIT, "Quit Baton", true, None::<&str>)?;
        let separators = [
            PredefinedMenuItem::separator(app)?,
            PredefinedMenuItem::separator(app)?,
            PredefinedMenuItem::separator(app)?,
        ];
        let mut items: Vec<&dyn tauri::menu::IsMenuItem<tauri::Wry>> = vec![&holder, &queue];
        items.extend(
            missing
                .iter()
                .map(|m| m as &dyn tauri::menu::IsMenuItem<tauri::Wry>),
        );
        items.extend([
            &separators[0] as &dyn tauri::menu::IsMenuItem<tauri::Wry>,
            &stop,
            &give_back,
            &allow,
            &refuse,
            &pause,
            &separators[1],
            &dashboard,
            &settings,
            &separators[2],
            &quit,
        ]);
        let menu = Menu::with_items(app, &items)?;
        let resources = info_items(app, &menu, &view.resources, 2)?;
        let schedules = info_items(app, &menu, &view.schedules, 2 + resources.len())?;
        let icon = TrayIconBuilder::with_id("baton")
            .icon(icon_image(view.icon)?)
            .tooltip(&view.tooltip)
            .menu(&menu)
            .show_menu_on_left_click(true)
            .on_menu_event(on_menu_event)
            .build(app)?;
        Ok(Tray {
            icon,
            menu,
            holder,
            queue,
            resources,
            schedules,
            stop,
            pause,
            give_back,
            allow,
            refuse,
            stop_label: stop_text,
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
        if old.as_ref().is_none_or(|o| o.resources != view.resources) {
            let items = std::mem::take(&mut self.resources);
            self.resources = self.replace_lines(items, &view.resources, 2)?;
        }
        if old.as_ref().is_none_or(|o| o.schedules != view.schedules) {
            let at = 2 + self.resources.len();
            let items = std::mem::take(&mut self.schedules);
            self.schedules = self.replace_lines(items, &view.schedules, at)?;
        }
        if changed(|v| &v.tooltip) {
            self.icon.set_tooltip(Some(&view.tooltip))?;
        }
        if old.as_ref().is_none_or(|o| o.give_back != view.give_back) {
            self.give_back.set_text(menu_text(&give_back_label(view)))?;
            self.give_back.set_enabled(view.give_back.is_some())?;
        }
        if old.as_ref().is_none_or(|o| o.ask != view.ask) {
            let (allow, refuse) = ask_labels(view);
            self.allow.set_text(menu_text(&allow))?;
            self.refuse.set_text(menu_text(&refuse))?;
            self.allow.set_enabled(view.ask.is_some())?;
            self.refuse.set_enabled(view.ask.is_some())?;
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

    /// Shows `lines` in `items` (lines of text at `at` in the menu): in place when there are as
    /// many, else as new items.
    fn replace_lines(
        &self,
        items: Vec<MenuItem<Wry>>,
        lines: &[String],
        at: usize,
    ) -> Result<Vec<MenuItem<Wry>>> {
        if items.len() == lines.len() {
            for (item, line) in items.iter().zip(lines) {
                item.set_text(menu_text(line))?;
            }
            return Ok(items);
        }
        for item in items {
            self.menu.remove(&item)?;
        }
        info_items(self.icon.app_handle(), &self.menu, lines, at)
    }

    /// Says on the Stop item which hotkey stops the holder, or that none works.
    pub fn set_hotkey(&mut self, hotkey: &HotkeyState) -> Result<()> {
        let label = stop_label(hotkey);
        if self.stop_label != label {
            self.stop.set_text(&label)?;
            self.stop_label = label;
        }
        Ok(())
    }
}

/// Keeps the tray current until the app ends.
pub async fn follow(
    app: AppHandle,
    core: Handle,
    mut hotkey: watch::Receiver<HotkeyState>,
    mut tray: Tray,
) {
    let mut updates = core.watch_status();
    // The schedule lines, and the publication (its entries) and minute they were made for:
    // made again only when the entries change or the minute does, not at every commit.
    let mut lines: Option<(std::sync::Arc<baton_core::Published>, i64, Vec<String>)> = None;
    loop {
        let current_hotkey = hotkey.borrow_and_update().clone();
        if let Err(e) = tray.set_hotkey(&current_hotkey) {
            tracing::warn!(error = %e, "cannot update the tray");
        }
        let published = updates.borrow_and_update().clone();
        let snapshot = published.snapshot();
        let now = Timestamp::now();
        let mut view = tray_view(&snapshot, now);
        let minute = now.0.div_euclid(60_000);
        view.schedules = match &lines {
            Some((seen, made, shown))
                if seen.schedules.ptr_eq(&published.schedules) && *made == minute =>
            {
                shown.clone()
            }
            _ => {
                let entries: Vec<_> = published.schedules.values().cloned().collect();
                let shown = schedule_lines(&entries, now, &chrono::Local);
                lines = Some((published.clone(), minute, shown.clone()));
                shown
            }
        };
        if let Err(e) = tray.show(&view) {
            tracing::warn!(error = %e, "cannot update the tray");
        }
        let shown = &app.state::<AppState>().tray_shown;
        shown.set(
            snapshot.desktop.holder.as_ref().map(|r| r.id),
            snapshot.desktop.paused,
        );
        shown.set_awaiting_ok(snapshot.desktop.awaiting_ok.as_ref().map(|r| r.id));
        // Holders' times go on: refresh them while anything is held.
        let held = snapshot.desktop.holder.is_some()
            || snapshot.resources.iter().any(|r| !r.holders.is_empty());
        // And the next fires' days ("today", "tomorrow") go on, while there are any.
        let refresh = async {
            if held {
                tokio::time::sleep(REFRESH_WHILE_HELD).await;
            } else if !view.schedules.is_empty() {
                tokio::time::sleep(REFRESH_SCHEDULES).await;
            } else {
                std::future::pending::<()>().await;
            }
        };
        tokio::select! {
            changed = updates.changed() => if changed.is_err() {
                return;
            },
            _ = hotkey.changed() => {}
            () = refresh => {}
        }
    }
}

/// Lines of text (the other resources in use, the next fires) put in the menu at `at`: after
/// the desktop's holder and queue (2), and after each other.
fn info_items(
    app: &AppHandle,
    menu: &Menu<Wry>,
    lines: &[String],
    at: usize,
) -> Result<Vec<MenuItem<Wry>>> {
    let mut items = Vec::with_capacity(lines.len());
    for (offset, line) in lines.iter().enumerate() {
        let item = MenuItem::new(app, menu_text(line), false, None::<&str>)?;
        menu.insert(&item, at + offset)?;
        items.push(item);
    }
    Ok(items)
}

fn on_menu_event(app: &AppHandle, event: MenuEvent) {
    let state = app.state::<AppState>();
    let core = state.core.clone();
    match event.id().as_ref() {
        // Both act on what the menu showed: not on a holder the desktop was handed to since,
        // nor on a pause someone else switched meanwhile. So does Give back, below.
        ids::STOP => {
            let seen = state.tray_shown.holder();
            tauri::async_runtime::spawn(async move {
                if let Err(e) = core.stop_holder(Caller::user("tray"), None, seen).await {
                    tracing::warn!(error = %e, "stop from the tray failed");
                }
            });
        }
        ids::PAUSE => {
            let pause = !state.tray_shown.paused();
            tauri::async_runtime::spawn(async move {
                if let Err(e) = core.set_paused(pause, Caller::user("tray")).await {
                    tracing::warn!(error = %e, "pause from the tray failed");
                }
            });
        }
        ids::DASHBOARD => {
            if let Err(e) = crate::web_windows::open_dashboard(app) {
                tracing::warn!(error = %e, "cannot open the dashboard");
            }
        }
        // Gives back to the holder the menu named, as Stop does: if the desktop has been
        // handed on since, the next holder's pause is not this click's business.
        ids::GIVE_BACK => {
            let Some(seen) = state.tray_shown.holder() else {
                return;
            };
            tauri::async_runtime::spawn(async move {
                let who = Caller::user("tray");
                if let Err(e) = core.set_holder_paused_if(seen, false, who).await {
                    tracing::warn!(error = %e, "giving the desktop back failed");
                }
            });
        }
        // Both answer about the run the menu named, never one asked about since.
        ids::ALLOW | ids::REFUSE => {
            let Some(run) = state.tray_shown.awaiting_ok() else {
                return;
            };
            let allow = event.id().as_ref() == ids::ALLOW;
            tauri::async_runtime::spawn(async move {
                let who = Caller::user("tray");
                let result = if allow {
                    core.allow(run, who).await.map(drop)
                } else {
                    core.cancel(run, who, None).await.map(drop)
                };
                if let Err(e) = result {
                    tracing::warn!(error = %e, "answering from the tray failed");
                }
            });
        }
        ids::SETTINGS => {
            if let Err(e) = crate::web_windows::open_settings(app) {
                tracing::warn!(error = %e, "cannot open the settings");
            }
        }
        ids::QUIT => confirm_quit(app, &state),
        _ => {}
    }
}

/// Quits at once when nothing runs; otherwise asks first, saying what quitting does.
fn confirm_quit(app: &AppHandle, state: &AppState) {
    let snapshot = state.core.status();
    let active = usize::from(snapshot.desktop.holder.is_some())
        + snapshot.desktop.queue.len()
        + snapshot.running.len();
    if active == 0 {
        state.quit();
        return;
    }
    let (runs, them, clients) = if active == 1 {
        ("1 run is".to_string(), "it", "its client is")
    } else {
        (format!("{active} runs are"), "them", "their clients are")
    };
    let app = app.clone();
    app.dialog()
        .message(format!(
            "{runs} still active. Quitting ends {them} as interrupted, and {clients} told."
        ))
        .title("Quit Baton?")
        .kind(MessageDialogKind::Warning)
        .buttons(MessageDialogButtons::OkCancelCustom(
            "Quit".into(),
            "Keep running".into(),
        ))
        .show(move |quit| {
            if quit {
                app.state::<AppState>().quit();
            }
        });
}

/// The item stays in the menu (greyed out) so the menu does not jump about.
/// The Allow and Cancel items' words; greyed out while nobody waits for the user's OK.
fn ask_labels(view: &TrayView) -> (String, String) {
    match &view.ask {
        Some((_, allow, refuse)) => (allow.clone(), refuse.clone()),
        None => (
            "Allow: nobody waits for your OK".into(),
            "Cancel: nobody waits for your OK".into(),
        ),
    }
}

fn give_back_label(view: &TrayView) -> String {
    view.give_back
        .clone()
        .unwrap_or_else(|| "Give the desktop back".into())
}

fn stop_label(hotkey: &HotkeyState) -> String {
    if hotkey.active {
        format!(
            "Stop desktop holder ({})",
            hotkey_label(&hotkey.accelerator)
        )
    } else {
        "Stop desktop holder (hotkey unavailable)".into()
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
