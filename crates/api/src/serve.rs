//! Serving the API on a listener, with limits a hostile neighbour cannot get round: anyone on
//! the machine can open connections to a TCP port.
//!
//! - At most [`Limits::connections`] connections at once; one more is closed at once rather
//!   than queued, so a flood costs the host a bounded number of file descriptors. The user's
//!   own clients talk over the data directory's socket, which has limits of its own and which
//!   only they can reach, so a flood of the TCP port never locks them out.
//! - A request's headers must arrive within [`Limits::header_timeout`], counted from the moment
//!   the connection waits for a request: a client that sends nothing, sends headers a byte at
//!   a time, or keeps an idle keep-alive connection open loses it.
//! - On shutdown, every connection is asked to finish its request and close.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::serve::Listener;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

/// What one server allows.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Connections open at once.
    pub connections: usize,
    /// From waiting for a request to having its headers.
    pub header_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            connections: 256,
            header_timeout: Duration::from_secs(10),
        }
    }
}

/// Serves `app` on `listener` until `stop` resolves, then lets the open connections finish.
pub async fn serve<L>(
    mut listener: L,
    app: Router,
    limits: Limits,
    stop: impl Future<Output = ()> + Send,
) where
    L: Listener,
    L::Io: Send + Unpin + 'static,
{
    tokio::pin!(stop);
    let permits = Arc::new(Semaphore::new(limits.connections));
    let (drain, draining) = watch::channel(false);
    let mut connections = JoinSet::new();
    let mut refused: u64 = 0;
    loop {
        let io = tokio::select! {
            (io, _) = listener.accept() => io,
            () = &mut stop => break,
        };
        while connections.try_join_next().is_some() {}
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            refused += 1;
            if refused.is_power_of_two() {
                tracing::warn!(
                    refused,
                    limit = limits.connections,
                    "too many connections: closing new ones until some end"
                );
            }
            drop(io);
            continue;
        };
        let service = TowerToHyperService::new(app.clone());
        let mut draining = draining.clone();
        connections.spawn(async move {
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_timeout);
            let connection = builder.serve_connection(TokioIo::new(io), service);
            tokio::pin!(connection);
            tokio::select! {
                _ = connection.as_mut() => {}
                () = until_set(&mut draining) => {
                    connection.as_mut().graceful_shutdown();
                    let _ = connection.await;
                }
            }
            drop(permit);
        });
    }
    // No new connection may queue on a listener nobody accepts from any more (a retired port's
    // clients must find it closed and look for the host again).
    drop(listener);
    drain.send_replace(true);
    while connections.join_next().await.is_some() {}
}

/// Resolves once `flag` is true (or its sender is gone).
async fn until_set(flag: &mut watch::Receiver<bool>) {
    let _ = flag.wait_for(|set| *set).await;
}
