//! The servers under test, each started fresh on loopback with throw-away data and stopped
//! when dropped: Baton's headless host, redis-server and etcd. (flock needs no server.)

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// A server process with its data directory.
#[derive(Debug)]
pub struct Peer {
    pub child: Child,
    /// Where clients reach it: a URL for Baton, host:port for Redis and etcd.
    pub addr: String,
    /// Baton's user token; empty for the others.
    pub token: String,
    /// The throw-away data, removed with the peer.
    _dir: tempfile::TempDir,
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Polls `ready` until it holds, for at most 20 s; a server that exits is reported at once.
async fn wait_ready<F, Fut>(child: &mut Child, what: &str, mut ready: F) -> Result<()>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let start = Instant::now();
    while !ready().await {
        if let Some(status) = child.try_wait()? {
            bail!("{what} exited at start ({status})");
        }
        if start.elapsed() > Duration::from_secs(20) {
            bail!("{what} did not become ready in 20 s");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

/// `baton daemon` with SQLite at the given durability (`normal` or `full`).
pub async fn baton(bin: &Path, durability: &str) -> Result<Peer> {
    baton_with(bin, durability, &[]).await
}

/// `baton daemon` with more flags.
pub async fn baton_with(bin: &Path, durability: &str, flags: &[&str]) -> Result<Peer> {
    let dir = tempfile::tempdir()?;
    let mut child = Command::new(bin)
        .args(["daemon", "--durability", durability])
        .args(flags)
        .env("BATON_DATA_DIR", dir.path())
        .env("BATON_LOG", "warn")
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("could not start {}", bin.display()))?;
    let host = dir.path().join("host.json");
    wait_ready(&mut child, "baton daemon", || async { host.exists() }).await?;
    let info: serde_json::Value = serde_json::from_slice(&std::fs::read(&host)?)?;
    let addr = info["url"]
        .as_str()
        .context("host.json without url")?
        .to_string();
    let token = std::fs::read_to_string(dir.path().join("token"))?
        .trim()
        .to_string();
    Ok(Peer {
        child,
        addr,
        token,
        _dir: dir,
    })
}

/// redis-server without persistence (`--save ''`, no AOF): Redis at its fastest.
pub async fn redis() -> Result<Peer> {
    let dir = tempfile::tempdir()?;
    let port = free_port()?;
    let mut child = Command::new("redis-server")
        .args([
            "--bind",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--save",
            "",
        ])
        .args(["--appendonly", "no", "--dir"])
        .arg(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("could not start redis-server (Debian: apt install redis-server)")?;
    let addr = format!("127.0.0.1:{port}");
    let url = format!("redis://{addr}/");
    wait_ready(&mut child, "redis-server", || {
        let url = url.clone();
        async move {
            let Ok(client) = redis::Client::open(url) else {
                return false;
            };
            match client.get_multiplexed_async_connection().await {
                Ok(mut conn) => redis::cmd("PING")
                    .query_async::<String>(&mut conn)
                    .await
                    .is_ok(),
                Err(_) => false,
            }
        }
    })
    .await?;
    Ok(Peer {
        child,
        addr,
        token: String::new(),
        _dir: dir,
    })
}

/// A one-member etcd cluster. etcd syncs its write-ahead log on every write, so it compares
/// with Baton's `full`.
pub async fn etcd() -> Result<Peer> {
    let dir = tempfile::tempdir()?;
    let (client_port, peer_port) = (free_port()?, free_port()?);
    let client_url = format!("http://127.0.0.1:{client_port}");
    let peer_url = format!("http://127.0.0.1:{peer_port}");
    let data: PathBuf = dir.path().join("data");
    let mut child = Command::new("etcd")
        .args(["--name", "bench", "--data-dir"])
        .arg(&data)
        .args([
            "--listen-client-urls",
            &client_url,
            "--advertise-client-urls",
            &client_url,
        ])
        .args([
            "--listen-peer-urls",
            &peer_url,
            "--initial-advertise-peer-urls",
            &peer_url,
        ])
        .args(["--initial-cluster", &format!("bench={peer_url}")])
        .args(["--log-level", "error"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("could not start etcd (Debian: apt install etcd-server)")?;
    let addr = format!("127.0.0.1:{client_port}");
    wait_ready(&mut child, "etcd", || {
        let addr = addr.clone();
        async move {
            match etcd_client::Client::connect([addr], None).await {
                Ok(mut client) => client.get("ready", None).await.is_ok(),
                Err(_) => false,
            }
        }
    })
    .await?;
    Ok(Peer {
        child,
        addr,
        token: String::new(),
        _dir: dir,
    })
}
