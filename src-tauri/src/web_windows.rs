//! The dashboard and settings windows: created on demand, destroyed on close (WebKitGTK costs
//! about 240 MiB a window, so the tray app idles with none), and kept live by events.

use baton_core::{Handle, RunId};
use tauri::{AppHandle, Emitter, Manager, Runtime, WebviewUrl, WebviewWindowBuilder};

use crate::error::Result;

/// The dashboard's window label (also its capability's).
pub const DASHBOARD: &str = "dashboard";

/// The settings window's label (also its capability's).
pub const SETTINGS: &str = "settings";

/// The event carrying each new status snapshot.
pub const STATUS_EVENT: &str = "baton://status";
/// The event carrying each committed event of the log.
pub const LOG_EVENT: &str = "baton://event";

/// The event naming the run the dashboard is to show (a click on a notification about it).
pub const FOCUS_EVENT: &str = "baton://focus";

/// Shows the dashboard, creating it if it is not open.
pub fn open_dashboard<R: Runtime>(app: &AppHandle<R>) -> Result<()> {
    open(app, DASHBOARD, "index.html", "Baton", (880.0, 720.0), None)
}

/// Shows the dashboard on run `run`: highlighted wherever it is shown (holder, queue,
/// history). A new window learns it before its page runs, an open one by an event.
pub fn open_dashboard_on<R: Runtime>(app: &AppHandle<R>, run: RunId) -> Result<()> {
    if app.get_webview_window(DASHBOARD).is_some() {
        open_dashboard(app)?;
        app.emit_to(DASHBOARD, FOCUS_EVENT, run.0)?;
        return Ok(());
    }
    let script = format!("window.__BATON_FOCUS = {};", run.0);
    open(
        app,
        DASHBOARD,
        "index.html",
        "Baton",
        (880.0, 720.0),
        Some(&script),
    )
}

/// Shows the settings, creating the window if it is not open.
pub fn open_settings<R: Runtime>(app: &AppHandle<R>) -> Result<()> {
    open(
        app,
        SETTINGS,
        "settings.html",
        "Baton settings",
        (600.0, 720.0),
        None,
    )
}

fn open<R: Runtime>(
    app: &AppHandle<R>,
    label: &str,
    page: &str,
    title: &str,
    (width, height): (f64, f64),
    script: Option<&str>,
) -> Result<()> {
    if let Some(window) = app.get_webview_window(label) {
        window.unminimize()?;
        window.show()?;
        window.set_focus()?;
        // Said, as the next is, so that a request (a click in the menu, a second launch) is
        // seen to have been carried out, and how: the tray menu answers a click before the app
        // acts on it.
        tracing::info!("showing the open window '{label}'");
        return Ok(());
    }
    let mut builder = WebviewWindowBuilder::new(app, label, WebviewUrl::App(page.into()))
        .title(title)
        .inner_size(width, height)
        .min_inner_size(480.0, 400.0);
    if let Some(script) = script {
        builder = builder.initialization_script(script);
    }
    let window = builder.build()?;
    tracing::info!("opened the window '{label}'");
    reload_after_crash(&window)?;
    end_web_process_on_close(&window);
    Ok(())
}

/// A page's web process may crash; the app (and the lease) do not go with it, and the page
/// comes back instead of staying blank. (A process Baton ends itself, at a close, is not
/// brought back.)
#[cfg(target_os = "linux")]
fn reload_after_crash<R: Runtime>(window: &tauri::WebviewWindow<R>) -> Result<()> {
    window.with_webview(|webview| {
        use webkit2gtk::WebViewExt;
        webview
            .inner()
            .connect_web_process_terminated(|view, reason| {
                if reason == webkit2gtk::WebProcessTerminationReason::TerminatedByApi {
                    return;
                }
                tracing::warn!(?reason, "a window's page crashed; reloading it");
                view.reload();
            });
    })?;
    Ok(())
}

#[cfg(not(target_os = "linux"))]
fn reload_after_crash<R: Runtime>(_window: &tauri::WebviewWindow<R>) -> Result<()> {
    Ok(())
}

/// Ends a closing window's web process. WebKitGTK 2.52 (Debian 13) keeps the process of a
/// destroyed web view alive, idle, for as long as the app runs: each dashboard opened and
/// closed would leave one behind (measured: three cycles, three processes). A window is made
/// when opened and destroyed when closed so that its memory goes with it, so the close ends
/// the process too.
#[cfg(target_os = "linux")]
fn end_web_process_on_close<R: Runtime>(window: &tauri::WebviewWindow<R>) {
    let closing = window.clone();
    window.on_window_event(move |event| {
        if let tauri::WindowEvent::CloseRequested { .. } = event {
            let ended = closing.with_webview(|webview| {
                use webkit2gtk::WebViewExt;
                webview.inner().terminate_web_process();
            });
            if let Err(e) = ended {
                tracing::debug!(error = %e, "cannot end a closing window's web process");
            }
        }
    });
}

#[cfg(not(target_os = "linux"))]
fn end_web_process_on_close<R: Runtime>(_window: &tauri::WebviewWindow<R>) {}

/// Pushes every new snapshot and every committed event to the open windows, so they never
/// poll. Emitting with no window open costs next to nothing.
pub async fn follow<R: Runtime>(app: AppHandle<R>, core: Handle) {
    let mut status = core.watch_status();
    let mut events = core.subscribe_events();
    loop {
        tokio::select! {
            changed = status.changed() => {
                if changed.is_err() {
                    return;
                }
                let published = status.borrow_and_update().clone();
                let snapshot = published.snapshot();
                if let Err(e) = app.emit(STATUS_EVENT, &snapshot) {
                    tracing::warn!(error = %e, "cannot send the status to the windows");
                }
            }
            received = events.recv() => match received {
                Ok(event) => {
                    let _ = app.emit(LOG_EVENT, &*event);
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            },
        }
    }
}
