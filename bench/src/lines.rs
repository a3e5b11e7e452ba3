//! What the queue rows and the resource rows share: parking many runs on a host, and the
//! Redis list a user would keep as the queue instead (`RPUSH` to queue, `LREM` from the tail
//! to take an entry out, `LRANGE 0 -1` to read it all).

use std::time::{Duration, Instant};

use anyhow::Result;
use baton_client::Client;
use baton_core::RunSpec;

/// Parked runs are spread over this many client names, so no per-client cap is reached.
const CLIENTS: usize = 50;
/// Submits in flight while parking.
const PARKING_IN_FLIGHT: usize = 32;

/// A run that waits as long as the measurement lasts: parked runs send no heartbeats.
pub fn long_lived(spec: RunSpec) -> RunSpec {
    RunSpec {
        ttl_ms: Some(6 * 3600 * 1000),
        ..spec
    }
}

/// Submits `count` runs made by `make(title, client)`, a few dozen in flight at a time.
pub async fn park(
    client: &Client,
    count: usize,
    make: impl Fn(String, String) -> RunSpec,
) -> Result<()> {
    let mut next = 0;
    while next < count {
        let batch: Vec<_> = (next..count.min(next + PARKING_IN_FLIGHT))
            .map(|i| {
                let client = client.clone();
                let spec = make(format!("parked {i}"), format!("parked-{}", i % CLIENTS));
                tokio::spawn(async move { client.submit(&spec).await })
            })
            .collect();
        next += batch.len();
        for task in batch {
            task.await??;
        }
    }
    Ok(())
}

/// A Redis list standing for a queue `len` entries long.
pub struct RedisList {
    conn: redis::aio::MultiplexedConnection,
    key: &'static str,
    len: usize,
}

impl RedisList {
    /// Empties `key` and fills it with `len` entries.
    pub async fn fill(url: &str, key: &'static str, len: usize) -> Result<Self> {
        let mut conn = redis::Client::open(url)?
            .get_multiplexed_async_connection()
            .await?;
        let _: () = redis::cmd("DEL").arg(key).query_async(&mut conn).await?;
        for chunk in (0..len).collect::<Vec<_>>().chunks(1000) {
            let entries: Vec<String> = chunk.iter().map(|i| format!("parked {i}")).collect();
            let _: () = redis::cmd("RPUSH")
                .arg(key)
                .arg(entries)
                .query_async(&mut conn)
                .await?;
        }
        Ok(Self { conn, key, len })
    }

    /// Queues an entry and takes it out again, as a cancelled run is: the time of both.
    pub async fn push_remove(&mut self, i: usize) -> Result<Duration> {
        let entry = format!("measured {i}");
        let start = Instant::now();
        let _: () = redis::cmd("RPUSH")
            .arg(self.key)
            .arg(&entry)
            .query_async(&mut self.conn)
            .await?;
        let removed: i64 = redis::cmd("LREM")
            .arg(self.key)
            .arg(-1)
            .arg(&entry)
            .query_async(&mut self.conn)
            .await?;
        let took = start.elapsed();
        anyhow::ensure!(removed == 1, "LREM removed {removed}");
        Ok(took)
    }

    /// Reads the whole list, as a status read does the queue.
    pub async fn range(&mut self) -> Result<Duration> {
        let start = Instant::now();
        let all: Vec<String> = redis::cmd("LRANGE")
            .arg(self.key)
            .arg(0)
            .arg(-1)
            .query_async(&mut self.conn)
            .await?;
        let took = start.elapsed();
        anyhow::ensure!(
            all.len() == self.len,
            "{} entries instead of {}",
            all.len(),
            self.len
        );
        Ok(took)
    }
}
