//! One contender for each backend, as a user of that backend would write it, each on its own
//! connection (or, for flock, its own open file description):
//!
//! - Baton: one run per contender, attached (its life bound to the connection) and kept alive
//!   by heartbeats, as `baton run` and `baton mcp` do; a cycle is `acquire`, the grant seen on
//!   the attach stream (or in the answer when the desktop is free), then `release`.
//! - Redis: the usual fair queue: one token in a list; `BLPOP` takes it, `RPUSH` gives it back.
//! - etcd: its lock service (`Lock` with a lease, `Unlock`), what `etcdctl lock` uses.
//! - flock: `flock(LOCK_EX)` / `flock(LOCK_UN)` on one file.

use std::fs::File;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use baton_client::{Binding, Bound, BoundRun, Client};
use baton_core::{Outcome, RunSpec, RunStatus};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::peers::Peer;

/// The Redis list that holds the one token.
const REDIS_KEY: &str = "baton-bench-lock";
/// The etcd lock name.
const ETCD_LOCK: &str = "baton-bench-lock";

/// Where the contenders of one measurement connect.
#[derive(Debug, Clone)]
pub enum Target {
    Baton { url: String, token: String },
    Redis { url: String },
    Etcd { addr: String },
    Flock { path: Arc<std::path::Path> },
}

impl Target {
    pub fn baton(peer: &Peer) -> Target {
        Target::Baton {
            url: peer.addr.clone(),
            token: peer.token.clone(),
        }
    }

    /// Readies the backend: Redis gets its one token.
    pub async fn prepare(&self) -> Result<()> {
        if let Target::Redis { url } = self {
            let mut conn = redis_conn(url).await?;
            let _: () = redis::cmd("DEL")
                .arg(REDIS_KEY)
                .query_async(&mut conn)
                .await?;
            let _: () = redis::cmd("RPUSH")
                .arg(REDIS_KEY)
                .arg("token")
                .query_async(&mut conn)
                .await?;
        }
        Ok(())
    }

    pub async fn contender(&self, index: usize) -> Result<Contender> {
        Ok(match self {
            Target::Baton { url, token } => {
                Contender::Baton(BatonRun::start(url, token, index).await?)
            }
            Target::Redis { url } => Contender::Redis(redis_conn(url).await?),
            Target::Etcd { addr } => {
                let mut client = etcd_client::Client::connect([addr.as_str()], None).await?;
                // A lease outlives the measurement; it frees the lock if a contender died.
                let lease = client.lease_grant(600, None).await?.id();
                Contender::Etcd {
                    client: Box::new(client),
                    lease,
                    key: Vec::new(),
                }
            }
            Target::Flock { path } => Contender::Flock(Arc::new(
                File::options()
                    .read(true)
                    .write(true)
                    .create(true)
                    .truncate(false)
                    .open(path)?,
            )),
        })
    }

    /// A status reader: Baton's status, Redis's queue length, the etcd lock's waiters; flock
    /// has nothing to ask.
    pub async fn reader(&self) -> Result<Option<Reader>> {
        Ok(match self {
            Target::Baton { url, token } => Some(Reader::Baton(Client::at(url, token.as_str())?)),
            Target::Redis { url } => Some(Reader::Redis(redis_conn(url).await?)),
            Target::Etcd { addr } => Some(Reader::Etcd(Box::new(
                etcd_client::Client::connect([addr.as_str()], None).await?,
            ))),
            Target::Flock { .. } => None,
        })
    }
}

async fn redis_conn(url: &str) -> Result<redis::aio::MultiplexedConnection> {
    let client = redis::Client::open(url)?;
    // The default 500 ms response timeout would cut a long BLPOP short.
    let config = redis::AsyncConnectionConfig::new().set_response_timeout(None);
    Ok(client
        .get_multiplexed_async_connection_with_config(&config)
        .await?)
}

/// One party fighting for the lock.
pub enum Contender {
    Baton(BatonRun),
    Redis(redis::aio::MultiplexedConnection),
    /// Boxed: an etcd client is ten times the size of the others.
    Etcd {
        client: Box<etcd_client::Client>,
        lease: i64,
        key: Vec<u8>,
    },
    Flock(Arc<File>),
}

impl std::fmt::Debug for Contender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Contender::Baton(_) => "Contender::Baton",
            Contender::Redis(_) => "Contender::Redis",
            Contender::Etcd { .. } => "Contender::Etcd",
            Contender::Flock(_) => "Contender::Flock",
        })
    }
}

impl Contender {
    /// Returns once this contender holds the lock.
    pub async fn acquire(&mut self) -> Result<()> {
        match self {
            Contender::Baton(run) => run.acquire().await,
            Contender::Redis(conn) => {
                let _: (String, String) = redis::cmd("BLPOP")
                    .arg(REDIS_KEY)
                    .arg(0)
                    .query_async(conn)
                    .await?;
                Ok(())
            }
            Contender::Etcd { client, lease, key } => {
                let options = etcd_client::LockOptions::new().with_lease(*lease);
                *key = client.lock(ETCD_LOCK, Some(options)).await?.key().to_vec();
                Ok(())
            }
            Contender::Flock(file) => {
                let file = file.clone();
                tokio::task::spawn_blocking(move || file.lock()).await??;
                Ok(())
            }
        }
    }

    /// Returns once the release is acknowledged.
    pub async fn release(&mut self) -> Result<()> {
        match self {
            Contender::Baton(run) => run.release().await,
            Contender::Redis(conn) => {
                let _: () = redis::cmd("RPUSH")
                    .arg(REDIS_KEY)
                    .arg("token")
                    .query_async(conn)
                    .await?;
                Ok(())
            }
            Contender::Etcd { client, key, .. } => {
                client.unlock(std::mem::take(key)).await?;
                Ok(())
            }
            Contender::Flock(file) => Ok(file.unlock()?),
        }
    }

    /// Ends the contender's session (Baton: finishes the run).
    pub async fn close(self) -> Result<()> {
        match self {
            Contender::Baton(run) => run.finish().await,
            Contender::Etcd {
                mut client, lease, ..
            } => {
                client.lease_revoke(lease).await?;
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

/// A Baton run used as a lock handle, bound to the contender as `baton run` binds its run.
pub struct BatonRun {
    run: BoundRun,
    /// The run's status, as the attach stream last told it.
    status: watch::Receiver<RunStatus>,
    /// The lease token of this run's latest grant.
    last_grant: u64,
    follower: JoinHandle<()>,
}

impl BatonRun {
    async fn start(url: &str, user_token: &str, index: usize) -> Result<BatonRun> {
        let user = Client::at(url, user_token)?;
        let spec = RunSpec::new(format!("contender {index}"), "bench", false);
        let submitted = user.submit(&spec).await?;
        let id = submitted.status.run.id;
        let me = user.as_run(id, submitted.token);
        let (tx, status) = watch::channel(submitted.status.clone());
        let mut binding = match Binding::bind(me, submitted.status).await? {
            Bound::Live(binding) => binding,
            Bound::Ended(status) => bail!("the run ended at once: {}", status.message),
        };
        let run = binding.run().clone();
        // The binding (its attach stream and heartbeats) lives in the follower.
        let follower = tokio::spawn(async move {
            while let Ok(Some(status)) = binding.next().await {
                let _ = tx.send(status);
            }
        });
        Ok(BatonRun {
            run,
            status,
            last_grant: 0,
            follower,
        })
    }

    /// A grant newer than the last one this run saw.
    fn granted(&self, status: &RunStatus) -> Option<u64> {
        let token = status.run.lease_token?;
        (status.run.holds_desktop && token > self.last_grant).then_some(token)
    }

    async fn acquire(&mut self) -> Result<()> {
        let answer = self.run.me().acquire(self.run.id()).await?;
        if let Some(token) = self.granted(&answer) {
            self.last_grant = token;
            return Ok(());
        }
        loop {
            let current = self.status.borrow_and_update().clone();
            if let Some(token) = self.granted(&current) {
                self.last_grant = token;
                return Ok(());
            }
            if current.ended {
                bail!("the run ended while waiting: {}", current.message);
            }
            self.status
                .changed()
                .await
                .context("the attach stream ended")?;
        }
    }

    async fn release(&mut self) -> Result<()> {
        self.run.me().release(self.run.id()).await?;
        Ok(())
    }

    async fn finish(self) -> Result<()> {
        let finished = self.run.finish(Outcome::Succeeded, None, None).await;
        self.follower.abort();
        finished?;
        Ok(())
    }
}

/// A client asking for the state while the contenders fight.
pub enum Reader {
    Baton(Client),
    Redis(redis::aio::MultiplexedConnection),
    Etcd(Box<etcd_client::Client>),
}

impl std::fmt::Debug for Reader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Reader")
    }
}

impl Reader {
    pub async fn read(&mut self) -> Result<()> {
        match self {
            Reader::Baton(client) => {
                // The whole answer, read and checked as JSON but not built into a snapshot:
                // the client's own decoding is not the host's cost.
                client.get::<serde::de::IgnoredAny>("/v1/status").await?;
            }
            Reader::Redis(conn) => {
                let _: i64 = redis::cmd("LLEN").arg(REDIS_KEY).query_async(conn).await?;
            }
            Reader::Etcd(client) => {
                let options = etcd_client::GetOptions::new().with_prefix();
                client.get(ETCD_LOCK, Some(options)).await?;
            }
        }
        Ok(())
    }
}

/// Baton's FIFO share from its own event log: a grant is in order when the run granted is the
/// one that has waited longest (or nobody was waiting). This is the server's sequence, not the
/// clients' clocks.
pub async fn baton_fifo(url: &str, token: &str, after: u64) -> Result<(usize, usize, u64)> {
    let client = Client::at(url, token)?;
    let mut waiting: std::collections::VecDeque<i64> = Default::default();
    let (mut grants, mut in_order, mut last) = (0, 0, after);
    loop {
        let events = client.events(last, 1000).await?;
        if events.is_empty() {
            return Ok((in_order, grants, last));
        }
        for event in events {
            last = event.seq;
            let run = event.run_id.map_or(0, |r| r.0);
            match event.kind.name() {
                "queued" => waiting.push_back(run),
                "granted" => {
                    grants += 1;
                    match waiting.front() {
                        None => in_order += 1,
                        Some(&first) if first == run => {
                            waiting.pop_front();
                            in_order += 1;
                        }
                        Some(_) => waiting.retain(|r| *r != run),
                    }
                }
                "released" | "withdrawn" | "finished" | "cancelled" | "expired" => {
                    waiting.retain(|r| *r != run);
                }
                _ => {}
            }
        }
    }
}
