//! `baton-tray`: Baton as a tray application. It hosts the same core and local API as
//! `baton daemon` (one tokio runtime, shared with Tauri), so agents and the CLI cannot tell the
//! two apart, and adds what a person at the computer needs: the tray, a stop hotkey,
//! notifications, a dashboard and settings.
//!
//! Map of the crate:
//! - [`state`]: what the parts share, and the task that owns the host.
//! - [`view`]: what the tray shows for a snapshot (pure).
//! - [`notice`]: which notifications the event log calls for, and their coalescing (pure).
//! - [`tray`]: the tray icon and menu, kept current.
//! - [`hotkey`]: the global stop hotkey, replaceable live.
//! - [`notifier`]: shows the notices as OS notifications.
//! - [`web_windows`]: the dashboard and settings web windows, created on demand, kept live.
//! - [`commands`]: the IPC commands the windows call.
//! - [`settings`]: the settings, kept in Baton's database.
//! - [`error`]: the crate's one error type.

/// The bundle identifier (`tauri.conf.json`), which notifications name the app by where the
/// platform asks for it before the app's config is at hand.
pub const IDENTIFIER: &str = "app.baton.tray";

pub mod commands;
pub mod error;
pub mod hotkey;
pub mod notice;
pub mod notifier;
pub mod settings;
pub mod state;
pub mod tray;
pub mod view;
pub mod web_windows;

use baton_api::{Host, HostOptions};
use baton_core::Timestamp;
use baton_platform::DataDir;
use tauri::ipc::Invoke;
use tauri::{Manager, RunEvent, Runtime};
use tauri_plugin_log::{Target, TargetKind};

pub use error::{Error, Result};
pub use state::AppState;

use crate::settings::Settings;

/// How the app is started.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Open the dashboard at once.
    pub dashboard: bool,
    /// Open the settings at once.
    pub settings: bool,
}

/// Runs the tray app on the data directory; returns when the app ends.
///
/// A second launch on the same desktop opens the running app's dashboard and exits
/// (tauri-plugin-single-instance). If a `baton daemon` already serves the data directory, the
/// app says so and exits.
pub fn run(options: Options) -> Result<()> {
    let data_dir = DataDir::resolve()?;
    let app = tauri::Builder::default()
        // First, so that a second instance goes no further than handing over. One instance per
        // data directory: its D-Bus name carries the directory.
        .plugin(
            tauri_plugin_single_instance::Builder::new()
                .dbus_id(instance_id(&data_dir))
                .callback(|app, argv, _cwd| {
                    let opened = if argv.iter().any(|a| a == "--settings") {
                        web_windows::open_settings(app)
                    } else {
                        web_windows::open_dashboard(app)
                    };
                    if let Err(e) = opened {
                        tracing::warn!(error = %e, "cannot open the window");
                    }
                })
                .build(),
        )
        .plugin(
            tauri_plugin_log::Builder::new()
                .targets([
                    Target::new(TargetKind::Stderr),
                    Target::new(TargetKind::LogDir { file_name: None }),
                ])
                .level(tauri_plugin_log::log::LevelFilter::Info)
                // The portals' D-Bus library narrates every handshake and proxy at info.
                .level_for("zbus", tauri_plugin_log::log::LevelFilter::Warn)
                .level_for("tracing::span", tauri_plugin_log::log::LevelFilter::Warn)
                .build(),
        )
        .plugin(tauri_plugin_notification::init())
        .plugin(tauri_plugin_dialog::init())
        .plugin(tauri_plugin_autostart::init(
            tauri_plugin_autostart::MacosLauncher::LaunchAgent,
            None,
        ))
        .plugin(hotkey::plugin())
        .invoke_handler(handler())
        .setup(move |app| {
            let handle = app.handle().clone();
            // Listened for before the host serves: a stop that comes while the tray app is
            // still starting (a session that ends at once, a script) stops the host cleanly
            // instead of killing the process with its host note left behind.
            let signals =
                tauri::async_runtime::block_on(async { baton_api::signals::Signals::new() });
            // The stored default TTL, API port and takeover setting are applied by the host
            // itself, as for `baton daemon` on the same data directory.
            let host = match tauri::async_runtime::block_on(Host::start(HostOptions {
                schedules: sibling_cli(),
                ..HostOptions::new(data_dir.clone(), baton_platform::HostKind::Tray)
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
            let (state, requests) = AppState::new(
                core.clone(),
                host.state().clone(),
                data_dir,
                host.takeover().clone(),
                host.retention().clone(),
                &settings,
            );
            app.manage(state);
            let state = app.state::<AppState>();

            hotkey::start(&handle, &state);
            let view = view::tray_view(&core.status(), Timestamp::now());
            // What this host cannot do here (no input, no takeover detection, or only some of
            // it), said in the menu.
            let missing = host.state().host_facts(false).not_working();
            let tray = tray::Tray::build(&handle, &view, &state.hotkey.borrow(), &missing)?;
            tauri::async_runtime::spawn(tray::follow(
                handle.clone(),
                core.clone(),
                state.hotkey.subscribe(),
                tray,
            ));
            tauri::async_runtime::spawn(notifier::run(
                handle.clone(),
                core.clone(),
                state.notifications.subscribe(),
            ));
            tauri::async_runtime::spawn(web_windows::follow(handle.clone(), core.clone()));
            let owner = state.host_owner(host, requests, signals);
            let app = handle.clone();
            tauri::async_runtime::spawn(async move {
                // The owner is done (and dropped) before the exit is asked for, so the ending
                // loop finds the host stopped.
                let failed = owner.await;
                app.exit(i32::from(failed));
            });
            if options.dashboard {
                web_windows::open_dashboard(&handle)?;
            }
            if options.settings {
                web_windows::open_settings(&handle)?;
            }
            tracing::info!("Baton's tray app is running");
            Ok(())
        })
        .build(tauri::generate_context!())?;
    app.run(|app, event| match event {
        // Closing the last window does not end the app: it lives in the tray.
        RunEvent::ExitRequested {
            code: None, api, ..
        } => api.prevent_exit(),
        RunEvent::Exit => stop_under_an_ending_loop(app),
        _ => {}
    });
    Ok(())
}

/// How long an event loop that ends under a running host waits for its clean stop: about what
/// Windows gives a window at logoff before it shows its "apps are preventing shutdown" screen.
const STOP_BUDGET: std::time::Duration = std::time::Duration::from_secs(5);

/// The event loop ends. Normally the host stopped first and the app asked for the end. But
/// the system can end the loop under a running host: Windows when the session ends (the
/// loop's own window answers `WM_ENDSESSION`), macOS at logout. Then the host stops here,
/// cleanly, before the process goes; and the process goes at once, with its tray icon
/// removed, because tao 0.35 panics on any message that reaches a loop it has ended.
fn stop_under_an_ending_loop<R: Runtime>(app: &tauri::AppHandle<R>) {
    let Some(state) = app.try_state::<AppState>() else {
        return;
    };
    if state.has_stopped() {
        return;
    }
    tracing::info!("the system ends the app: stopping the host cleanly first");
    state.stop_and_wait(STOP_BUDGET);
    app.cleanup_before_exit();
    std::process::exit(0);
}

/// The `baton` program installed beside this one, which runs the commands of schedule entries
/// (`baton run --adopt`); without it the entries are kept but none fires, and the log says so.
fn sibling_cli() -> Option<std::path::PathBuf> {
    let name = if cfg!(windows) { "baton.exe" } else { "baton" };
    let cli = std::env::current_exe().ok()?.parent()?.join(name);
    if cli.is_file() {
        Some(cli)
    } else {
        tracing::warn!(
            missing = %cli.display(),
            "the baton program is not beside the tray app: schedule entries will not fire"
        );
        None
    }
}

/// The single-instance D-Bus name for a data directory. A SHA-256 of the path, not std's
/// `DefaultHasher`, whose output may change between Rust releases: two builds of Baton (an
/// upgrade while one runs) must find each other under the same name.
fn instance_id(data_dir: &DataDir) -> String {
    use sha2::{Digest, Sha256};
    let path = std::fs::canonicalize(data_dir.path()).unwrap_or_else(|_| data_dir.path().into());
    let digest = Sha256::digest(path.as_os_str().as_encoded_bytes());
    let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    format!("app.baton.tray.d{hex}")
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
        commands::get_settings,
        commands::set_hotkey,
        commands::set_notifications,
        commands::set_default_ttl,
        commands::set_ask_first,
        commands::allow_run,
        commands::set_api_port,
        commands::user_token,
        commands::regenerate_token,
        commands::set_autostart,
        commands::resume_holder,
        commands::set_takeover,
        commands::set_limits,
        commands::timeline,
        commands::resources,
        commands::add_resource,
        commands::set_capacity,
        commands::remove_resource,
        commands::displays,
        commands::display_picture,
        commands::schedules,
        commands::put_schedule,
        commands::remove_schedule,
        commands::pause_schedule,
        commands::run_schedule,
        commands::run_log,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pinned: a different name for the same directory would let a second app start beside
    /// the first after an upgrade.
    #[test]
    fn the_instance_name_of_a_data_directory_is_stable() {
        let dir = DataDir::at("/nonexistent/baton-instance-test");
        assert_eq!(instance_id(&dir), "app.baton.tray.dbbaad40b540444a3");
    }
}
