//! `baton-tray`: Baton as a tray application. It hosts the same core and local API as
//! `baton daemon` (one tokio runtime, shared with Tauri), so agents and the CLI cannot tell the
//! two apart, and adds what a person at the computer needs: the tray, a stop hotkey and
//! notifications.
//!
//! Map of the crate:
//! - [`view`]: what the tray shows for a snapshot (pure).
//! - [`notice`]: which notifications the event log calls for, and their coalescing (pure).
//! - [`tray`]: the tray icon and menu, kept current.
//! - [`windows`]: the dashboard window, created on demand and kept live by events.
//! - [`commands`]: the IPC commands the windows call.
//! - [`hotkey`]: the global stop hotkey.
//! - [`notifier`]: shows the notices as OS notifications.
//! - [`settings`]: the tray app's settings, kept in Baton's database.
//! - [`error`]: the crate's one error type.

pub mod commands;
pub mod error;
pub mod hotkey;
pub mod notice;
pub mod notifier;
pub mod settings;
pub mod tray;
pub mod view;
pub mod windows;

use baton_api::{Host, HostOptions};
use baton_core::{Config, DataDir, Durability, Handle, Timestamp};
use tauri::ipc::Invoke;
use tauri::{AppHandle, Manager, RunEvent, Runtime};
use tauri_plugin_log::{Target, TargetKind};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::{mpsc, watch};

pub use error::{Error, Result};

use crate::settings::{NotifySettings, Settings};

/// What the app's parts share (Tauri-managed state).
#[derive(Debug)]
pub struct AppState {
    /// The scheduler.
    pub core: Handle,
    /// Which notifications to show; the settings window changes it live.
    pub notifications: watch::Sender<NotifySettings>,
    quit: mpsc::UnboundedSender<()>,
}

impl AppState {
    /// The state for `core`, with the receiving ends of the quit request and the notification
    /// settings.
    pub fn new(
        core: Handle,
        notifications: NotifySettings,
    ) -> (
        Self,
        mpsc::UnboundedReceiver<()>,
        watch::Receiver<NotifySettings>,
    ) {
        let (quit, quit_rx) = mpsc::unbounded_channel();
        let (notifications, notify_rx) = watch::channel(notifications);
        (
            AppState {
                core,
                notifications,
                quit,
            },
            quit_rx,
            notify_rx,
        )
    }

    /// Asks the app to stop cleanly: active runs end `interrupted` and their clients are told.
    pub fn quit(&self) {
        let _ = self.quit.send(());
    }
}

/// How the app is started.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Open the dashboard at once.
    pub dashboard: bool,
}

/// Runs the tray app on the data directory; returns when the app ends.
///
/// A second launch on the same desktop opens the running app's dashboard and exits
/// (tauri-plugin-single-instance). If a `baton daemon` already serves the data directory, the
/// app says so and exits.
pub fn run(options: Options) -> Result<()> {
    let data_dir = DataDir::resolve()?;
    let app = tauri::Builder::default()
        // First, so that a second instance goes no further than handing over.
        .plugin(tauri_plugin_single_instance::init(|app, _argv, _cwd| {
            if let Err(e) = windows::open_dashboard(app) {
                tracing::warn!(error = %e, "cannot open the dashboard");
            }
        }))
        .plugin(
            tauri_plugin_log::Builder::new()
                .targets([
                    Target::new(TargetKind::Stderr),
                    Target::new(TargetKind::LogDir { file_name: None }),
                ])
                .level(tauri_plugin_log::log::LevelFilter::Info)
                .build(),
        )
        .plugin(tauri_plugin_notification::init())
        .plugin(hotkey::plugin())
        .invoke_handler(handler())
        .setup(move |app| {
            let handle = app.handle().clone();
            let host = match tauri::async_runtime::block_on(Host::start(HostOptions {
                data_dir,
                port: 0,
                kind: "tray".into(),
                durability: Durability::Normal,
                config: Config::default(),
            })) {
                Ok(host) => host,
                Err(e) => {
                    // Another host (a `baton daemon`) serves this data directory.
                    eprintln!("baton-tray: {e}");
                    std::process::exit(1);
                }
            };
            let core = host.core().clone();
            let settings = tauri::async_runtime::block_on(Settings::load(core.store()));
            let (state, quit_rx, notify_rx) =
                AppState::new(core.clone(), settings.notifications.clone());
            app.manage(state);
            let hotkey = match hotkey::register(&handle, &settings.hotkey) {
                Ok(()) => Some(settings.hotkey.clone()),
                Err(e) => {
                    tracing::warn!(error = %e, "no stop hotkey");
                    None
                }
            };
            let view = view::tray_view(&core.status(), Timestamp::now());
            let tray = tray::Tray::build(&handle, &view, hotkey.as_deref())?;
            tauri::async_runtime::spawn(tray::follow(core.clone(), tray));
            tauri::async_runtime::spawn(notifier::run(handle.clone(), core.clone(), notify_rx));
            tauri::async_runtime::spawn(windows::follow(handle.clone(), core.clone()));
            tauri::async_runtime::spawn(lifecycle(handle.clone(), host, quit_rx));
            if options.dashboard {
                windows::open_dashboard(&handle)?;
            }
            tracing::info!("Baton's tray app is running");
            Ok(())
        })
        .build(tauri::generate_context!())?;
    app.run(|_app, event| {
        // Closing the last window does not end the app: it lives in the tray.
        if let RunEvent::ExitRequested {
            code: None, api, ..
        } = event
        {
            api.prevent_exit();
        }
    });
    Ok(())
}

/// Owns the host until the user quits (tray menu), the process is told to stop (SIGINT,
/// SIGTERM), or the scheduler fails; then stops it cleanly and ends the app.
async fn lifecycle(app: AppHandle, host: Host, mut quit: mpsc::UnboundedReceiver<()>) {
    let (Ok(mut interrupt), Ok(mut terminate)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        tracing::error!("cannot listen for signals");
        return;
    };
    let failed = tokio::select! {
        _ = quit.recv() => false,
        _ = interrupt.recv() => false,
        _ = terminate.recv() => false,
        () = host.failed() => true,
    };
    tracing::info!("stopping: active runs end as 'interrupted'");
    host.shutdown().await;
    app.exit(i32::from(failed));
}

/// The IPC commands, for the app and for tests with the mock runtime.
pub fn handler<R: Runtime>() -> impl Fn(Invoke<R>) -> bool + Send + Sync + 'static {
    tauri::generate_handler![
        commands::status,
        commands::history,
        commands::stop_holder,
        commands::set_paused,
        commands::cancel_run,
        commands::move_to_front,
    ]
}
