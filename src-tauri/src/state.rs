//! What the app's parts share (Tauri-managed state), and the task that owns the host.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

use baton_api::{ApiState, Host};
use baton_core::{Handle, RunId};
use baton_platform::DataDir;
use tokio::sync::{mpsc, oneshot, watch};

use crate::error::{Error, Result};
use crate::settings::{NotifySettings, Settings};

/// Requests to the task that owns the host.
#[derive(Debug)]
pub enum HostRequest {
    /// Stop cleanly and end the app.
    Quit,
    /// Move the API to another port; answers the new URL.
    SetPort {
        /// 0: any free port.
        port: u16,
        /// The new URL, or why not.
        reply: oneshot::Sender<Result<String>>,
    },
}

/// The stop hotkey as configured, and whether it works.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct HotkeyState {
    /// The accelerator, such as `CmdOrCtrl+Alt+Shift+S`.
    pub accelerator: String,
    /// Whether it is registered with the system.
    pub active: bool,
    /// Why it is not, in a sentence.
    pub error: Option<String>,
}

/// Shared by commands, the tray, the hotkey handler and the notifier.
#[derive(Debug)]
pub struct AppState {
    /// The scheduler.
    pub core: Handle,
    /// The API's state (the user token lives here).
    pub api: ApiState,
    /// The data directory served.
    pub data_dir: DataDir,
    /// Which notifications to show; changed live by the settings window.
    pub notifications: watch::Sender<NotifySettings>,
    /// The stop hotkey; the tray shows it.
    pub hotkey: watch::Sender<HotkeyState>,
    /// How the host notices the person at the computer; changed live.
    pub takeover: watch::Sender<baton_core::takeover::TakeoverSettings>,
    /// How long the history is kept; changed live.
    pub retention: watch::Sender<std::time::Duration>,
    /// Held while the hotkey is being replaced, so two changes cannot interleave.
    pub hotkey_change: Mutex<()>,
    /// What the tray menu shows now, so its items act on what the user saw.
    pub tray_shown: TrayShown,
    host: mpsc::UnboundedSender<HostRequest>,
    /// Whether the host has stopped (and the app asked its event loop to end).
    stopped: watch::Sender<bool>,
}

/// The holder and pause state the tray menu last showed.
#[derive(Debug, Default)]
pub struct TrayShown {
    holder: AtomicI64,
    paused: AtomicBool,
    awaiting_ok: AtomicI64,
}

impl TrayShown {
    /// Records what the menu now shows.
    pub fn set(&self, holder: Option<RunId>, paused: bool) {
        self.holder
            .store(holder.map_or(0, |id| id.0), Ordering::Relaxed);
        self.paused.store(paused, Ordering::Relaxed);
    }

    /// The holder the menu shows.
    pub fn holder(&self) -> Option<RunId> {
        Some(self.holder.load(Ordering::Relaxed))
            .filter(|id| *id > 0)
            .map(RunId)
    }

    /// Records which run the menu shows as waiting for the user's OK.
    pub fn set_awaiting_ok(&self, run: Option<RunId>) {
        self.awaiting_ok
            .store(run.map_or(0, |id| id.0), Ordering::Relaxed);
    }

    /// The run the menu shows as waiting for the user's OK: Allow and Cancel act on it only.
    pub fn awaiting_ok(&self) -> Option<RunId> {
        Some(self.awaiting_ok.load(Ordering::Relaxed))
            .filter(|id| *id > 0)
            .map(RunId)
    }

    /// Whether the menu shows hand-offs as paused.
    pub fn paused(&self) -> bool {
        self.paused.load(Ordering::Relaxed)
    }
}

impl AppState {
    /// The state for a running host, with the receiving end of the host requests.
    pub fn new(
        core: Handle,
        api: ApiState,
        data_dir: DataDir,
        takeover: watch::Sender<baton_core::takeover::TakeoverSettings>,
        retention: watch::Sender<std::time::Duration>,
        settings: &Settings,
    ) -> (Self, mpsc::UnboundedReceiver<HostRequest>) {
        let (host, requests) = mpsc::unbounded_channel();
        let state = AppState {
            core,
            api,
            data_dir,
            notifications: watch::Sender::new(settings.notifications.clone()),
            hotkey: watch::Sender::new(HotkeyState {
                accelerator: settings.hotkey.clone(),
                active: false,
                error: None,
            }),
            hotkey_change: Mutex::new(()),
            takeover,
            retention,
            tray_shown: TrayShown::default(),
            host,
            stopped: watch::Sender::new(false),
        };
        (state, requests)
    }

    /// Asks the app to stop cleanly: active runs end `interrupted` and their clients are told.
    pub fn quit(&self) {
        let _ = self.host.send(HostRequest::Quit);
    }

    /// Notes that the host has stopped, before the app ends its event loop.
    pub fn mark_stopped(&self) {
        self.stopped.send_replace(true);
    }

    /// Whether the host has stopped.
    pub fn has_stopped(&self) -> bool {
        *self.stopped.borrow()
    }

    /// Stops the host and waits until it has, for at most `budget`. For the thread of an event
    /// loop that is ending, outside the async runtime.
    pub fn stop_and_wait(&self, budget: std::time::Duration) {
        let mut stopped = self.stopped.subscribe();
        self.quit();
        // The timer is made inside the runtime: this thread is not one of its own.
        let stopping = async move {
            tokio::time::timeout(budget, stopped.wait_for(|stopped| *stopped))
                .await
                .map(drop)
        };
        if tauri::async_runtime::block_on(stopping).is_err() {
            tracing::warn!("the host did not stop in time; the app ends anyway");
        }
    }

    /// Moves the API to `port`.
    pub async fn set_port(&self, port: u16) -> Result<String> {
        let (reply, answer) = oneshot::channel();
        self.host
            .send(HostRequest::SetPort { port, reply })
            .map_err(|_| Error::Core(baton_core::Error::Closed))?;
        answer
            .await
            .map_err(|_| Error::Core(baton_core::Error::Closed))?
    }
}

/// Owns the host: serves requests until a quit, a stop signal (SIGINT/SIGTERM/SIGHUP: the
/// terminal it was started from closed; on Windows the console's events, logoff and
/// shutdown), or a failed scheduler, then stops it cleanly. Returns whether the scheduler
/// failed. `signals` were listened for before the host started serving.
pub async fn own_host(
    mut host: Host,
    mut requests: mpsc::UnboundedReceiver<HostRequest>,
    signals: std::io::Result<baton_api::signals::Signals>,
) -> bool {
    let Ok(mut signals) = signals else {
        tracing::error!("cannot listen for signals");
        host.shutdown().await;
        return true;
    };
    let failed = loop {
        tokio::select! {
            request = requests.recv() => match request {
                Some(HostRequest::SetPort { port, reply }) => {
                    let _ = reply.send(host.set_port(port).await.map_err(Error::from));
                }
                Some(HostRequest::Quit) | None => break false,
            },
            _ = signals.recv() => break false,
            () = host.failed() => break true,
        }
    };
    tracing::info!("stopping: active runs end as 'interrupted'");
    host.shutdown().await;
    failed
}
