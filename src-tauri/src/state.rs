//! What the app's parts share (Tauri-managed state), and the task that owns the host.

use std::future::Future;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

use baton_api::{ApiState, Host};
use baton_core::{Handle, RunId};
use baton_platform::DataDir;
use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::error::{Error, Result};
use crate::settings::{NotifySettings, Settings};

/// Requests to the task that owns the host. Stopping is not one: it is the app's
/// cancellation token ([`AppState::quit`]).
#[derive(Debug)]
pub enum HostRequest {
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
    /// The root of the app's cancellation tree, cancelled once to stop: the task that owns the
    /// host then stops it cleanly (runs end `interrupted`, then the host's own token ends its
    /// servers and streams) and ends the app.
    stop: CancellationToken,
    /// The task that owns the host: closed once it is made, empty once the host has stopped.
    owner: TaskTracker,
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
            stop: CancellationToken::new(),
            owner: TaskTracker::new(),
        };
        (state, requests)
    }

    /// The task that owns `host` until the app stops, to be spawned once; it answers whether
    /// the scheduler failed. Tracked, so that [`AppState::stop_and_wait`] can wait for its end.
    pub fn host_owner(
        &self,
        host: Host,
        requests: mpsc::UnboundedReceiver<HostRequest>,
        signals: std::io::Result<baton_api::signals::Signals>,
    ) -> impl Future<Output = bool> + use<> {
        let owner = self
            .owner
            .track_future(own_host(host, requests, signals, self.stop.clone()));
        self.owner.close();
        owner
    }

    /// Asks the app to stop cleanly: active runs end `interrupted` and their clients are told.
    pub fn quit(&self) {
        self.stop.cancel();
    }

    /// Whether the host has stopped: its owner was made and has ended.
    pub fn has_stopped(&self) -> bool {
        self.owner.is_closed() && self.owner.is_empty()
    }

    /// Stops the host and waits until it has, for at most `budget`. For the thread of an event
    /// loop that is ending, outside the async runtime.
    pub fn stop_and_wait(&self, budget: std::time::Duration) {
        self.quit();
        let owner = self.owner.clone();
        // The timer is made inside the runtime: this thread is not one of its own.
        let stopping = async move { tokio::time::timeout(budget, owner.wait()).await };
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

/// Owns the host: serves requests until the app's token is cancelled (a quit), a stop signal (SIGINT/SIGTERM/SIGHUP: the
/// terminal it was started from closed; on Windows the console's events, logoff and
/// shutdown), or a failed scheduler, then stops it cleanly. Returns whether the scheduler
/// failed. `signals` were listened for before the host started serving.
async fn own_host(
    mut host: Host,
    mut requests: mpsc::UnboundedReceiver<HostRequest>,
    signals: std::io::Result<baton_api::signals::Signals>,
    stop: CancellationToken,
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
                None => break false,
            },
            () = stop.cancelled() => break false,
            _ = signals.recv() => break false,
            () = host.failed() => break true,
        }
    };
    tracing::info!("stopping: active runs end as 'interrupted'");
    host.shutdown().await;
    failed
}
