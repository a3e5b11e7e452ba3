//! Hosting Baton: the data directory's lock and token, the store, the scheduler and the HTTP
//! server, started and stopped in the right order. `baton daemon` and the tray app both host
//! through this, so agents cannot tell them apart.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::serve::ListenerExt;
use baton_core::clock::SystemClock;
use baton_core::{Config, DataDir, Durability, Handle, HostInfo, HostLock, Store, Timestamp};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::error::{Error, Result};
use crate::state::ApiState;

/// How to host.
#[derive(Debug, Clone)]
pub struct HostOptions {
    /// The data directory to serve.
    pub data_dir: DataDir,
    /// Port on 127.0.0.1; 0 picks a free one (clients find it in `host.json`).
    pub port: u16,
    /// `daemon` or `tray`, written into `host.json`.
    pub kind: String,
    /// SQLite `synchronous` level.
    pub durability: Durability,
    /// Scheduler settings.
    pub config: Config,
}

/// A running host. Stop it with [`Host::shutdown`]; dropping it without that is a crash, which
/// the next start recovers from.
#[derive(Debug)]
pub struct Host {
    core: Handle,
    state: ApiState,
    addr: SocketAddr,
    data_dir: DataDir,
    stopping: watch::Sender<bool>,
    server: JoinHandle<std::io::Result<()>>,
    interrupted: usize,
    _lock: HostLock,
}

impl Host {
    /// Takes the data directory (refusing if another host serves it), opens the store
    /// (interrupting runs a crash left active), starts the scheduler and the server, and writes
    /// `host.json`.
    pub async fn start(options: HostOptions) -> Result<Host> {
        let HostOptions {
            data_dir,
            port,
            kind,
            durability,
            config,
        } = options;
        data_dir.create()?;
        let lock = data_dir.lock()?;
        let token = data_dir.ensure_user_token()?;
        let opened = Store::open(&data_dir.db_path(), durability, Timestamp::now()).await?;
        let interrupted = opened.interrupted.len();
        if interrupted > 0 {
            tracing::warn!(
                runs = ?opened.interrupted,
                "Baton stopped while these runs were active; they are now 'interrupted'"
            );
        }
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| Error::Bind {
                addr: addr.to_string(),
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| Error::Bind {
            addr: addr.to_string(),
            source,
        })?;
        let core = baton_core::spawn(opened, Arc::new(SystemClock), config);
        let (stopping, stop_rx) = watch::channel(false);
        let state = ApiState::new(core.clone(), token, addr.port(), stop_rx.clone());
        let app = crate::router(state.clone());
        let mut stop_signal = stop_rx;
        // Small writes (SSE events, short JSON answers) must go out at once: with Nagle's
        // algorithm on, each one can wait ~40 ms for the client's delayed ACK.
        let listener = listener.tap_io(|tcp| {
            if let Err(e) = tcp.set_nodelay(true) {
                tracing::warn!(error = %e, "cannot set TCP_NODELAY");
            }
        });
        let server = tokio::spawn(
            axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stop_signal.wait_for(|s| *s).await;
                })
                .into_future(),
        );
        let host = Host {
            core,
            state,
            addr,
            data_dir,
            stopping,
            server,
            interrupted,
            _lock: lock,
        };
        host.data_dir.write_host_info(&HostInfo {
            url: host.url(),
            pid: std::process::id(),
            kind,
            version: env!("CARGO_PKG_VERSION").into(),
            started_at: Timestamp::now(),
        })?;
        tracing::info!(url = %host.url(), dir = %host.data_dir.path().display(), "Baton is serving");
        Ok(host)
    }

    /// The API's base URL, `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The scheduler.
    pub fn core(&self) -> &Handle {
        &self.core
    }

    /// The API's shared state (to change the user token live).
    pub fn state(&self) -> &ApiState {
        &self.state
    }

    /// The data directory served.
    pub fn data_dir(&self) -> &DataDir {
        &self.data_dir
    }

    /// How many runs a previous crash left active (now `interrupted`).
    pub fn interrupted_at_start(&self) -> usize {
        self.interrupted
    }

    /// Resolves if the scheduler stops on its own (its database failed).
    pub async fn failed(&self) {
        self.core.closed().await;
    }

    /// Stops cleanly: active runs end `interrupted` (attached clients are told), streams end,
    /// the server stops, `host.json` is removed and the database is closed.
    pub async fn shutdown(self) {
        self.core.shutdown().await;
        self.stopping.send_replace(true);
        match tokio::time::timeout(Duration::from_secs(5), self.server).await {
            Ok(Ok(Err(e))) => tracing::warn!(error = %e, "the server stopped with an error"),
            Err(_) => tracing::warn!("connections still open after 5 s; closing anyway"),
            _ => {}
        }
        self.data_dir.remove_host_info();
        self.core.store().close().await;
    }
}
