//! A real host on loopback (`Host::start` over a temporary data directory), real HTTP with
//! reqwest: the host note, the one-host rule, SSE resume, and a dropped attach connection
//! handing the lease on.

use std::time::{Duration, Instant};

use baton_api::{Host, HostOptions};
use baton_platform::DataDir;
use futures_util::StreamExt;
use serde_json::{Value, json};

fn options(dir: &std::path::Path) -> HostOptions {
    HostOptions {
        input: baton_api::InputOptions::Disabled,
        ..HostOptions::new(DataDir::at(dir), baton_platform::HostKind::Daemon)
    }
}

struct Client {
    http: reqwest::Client,
    url: String,
    token: String,
}

impl Client {
    fn new(host: &Host) -> Self {
        Client {
            http: reqwest::Client::new(),
            url: host.url(),
            token: host.data_dir().user_token().unwrap(),
        }
    }

    async fn post(&self, path: &str, token: &str, body: Value) -> Value {
        self.http
            .post(format!("{}{path}", self.url))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    async fn submit(&self, title: &str) -> (i64, String) {
        let r = self
            .post(
                "/v1/runs",
                &self.token,
                json!({"title": title, "client": "http", "needs_desktop": true}),
            )
            .await;
        (
            r["run"]["id"].as_i64().unwrap(),
            r["token"].as_str().unwrap().into(),
        )
    }

    async fn stream(&self, path: &str, token: &str, last_event_id: Option<u64>) -> SseReader {
        let mut req = self
            .http
            .get(format!("{}{path}", self.url))
            .bearer_auth(token);
        if let Some(id) = last_event_id {
            req = req.header("Last-Event-ID", id.to_string());
        }
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), 200);
        SseReader {
            bytes: Box::pin(res.bytes_stream()),
            buffer: String::new(),
        }
    }
}

/// Just enough of an SSE parser for tests: returns (id, event, data) per message.
struct SseReader {
    bytes:
        std::pin::Pin<Box<dyn futures_util::Stream<Item = reqwest::Result<bytes::Bytes>> + Send>>,
    buffer: String,
}

impl SseReader {
    async fn next(&mut self) -> Option<(Option<String>, String, Value)> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let (mut id, mut event, mut data) = (None, String::new(), String::new());
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("id:") {
                        id = Some(v.trim().to_string());
                    } else if let Some(v) = line.strip_prefix("event:") {
                        event = v.trim().to_string();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim_start());
                    }
                }
                if data.is_empty() {
                    continue; // keep-alive comment
                }
                return Some((id, event, serde_json::from_str(&data).unwrap()));
            }
            let chunk = tokio::time::timeout(Duration::from_secs(10), self.bytes.next())
                .await
                .expect("no SSE message within 10 s")?;
            self.buffer.push_str(&String::from_utf8_lossy(&chunk.ok()?));
        }
    }
}

#[tokio::test]
async fn one_host_per_data_directory_and_a_note_saying_where() {
    let dir = tempfile::tempdir().unwrap();
    let host = Host::start(options(dir.path())).await.unwrap();
    let note = DataDir::at(dir.path()).host_info().unwrap().unwrap();
    assert_eq!(note.url, host.url());
    assert_eq!(note.pid, std::process::id());
    assert!(note.url.starts_with("http://127.0.0.1:"));

    let err = Host::start(options(dir.path())).await.unwrap_err();
    assert_eq!(err.code(), baton_core::ErrorCode::HostRunning);
    assert!(err.to_string().contains(&host.url()), "{err}");

    let c = Client::new(&host);
    let (a, _) = c.submit("a").await;
    host.shutdown().await;
    assert!(DataDir::at(dir.path()).host_info().unwrap().is_none());

    // The next host finds the run interrupted by the clean stop.
    let host = Host::start(options(dir.path())).await.unwrap();
    let run = host.core().run(baton_core::RunId(a)).await.unwrap();
    assert_eq!(run.state, baton_core::RunState::Interrupted);
    host.shutdown().await;
}

#[tokio::test]
async fn the_host_says_what_it_cannot_do_here_and_why() {
    let dir = tempfile::tempdir().unwrap();
    let host = Host::start(options(dir.path())).await.unwrap();
    let c = Client::new(&host);
    let get = |token: Option<String>| {
        let mut request = c.http.get(format!("{}/v1/host", c.url));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send()
    };
    let facts: Value = get(Some(c.token.clone()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(facts["platform"], std::env::consts::OS);
    assert_eq!(
        facts["input"],
        json!({"available": false, "why_not": "input is disabled on this host"})
    );
    assert_eq!(facts["takeover"]["available"], false);
    // Like everything but the health check, it needs a token.
    assert_eq!(get(None).await.unwrap().status(), 401);
    host.shutdown().await;
}

#[tokio::test]
async fn the_event_stream_resumes_after_last_event_id() {
    let dir = tempfile::tempdir().unwrap();
    let host = Host::start(options(dir.path())).await.unwrap();
    let c = Client::new(&host);
    // What the host itself recorded at start (the pool of private displays, where it starts
    // them) comes before.
    let base = host.core().status().last_event;
    let id = |n: u64| Some((base + n).to_string());
    c.submit("a").await;
    c.submit("b").await; // then: submitted, granted, submitted, queued

    let mut stream = c
        .stream("/v1/events/stream", &c.token, Some(base + 2))
        .await;
    let (got, event, data) = stream.next().await.unwrap();
    assert_eq!((got, event.as_str()), (id(3), "submitted"));
    assert_eq!(data["title"], "b");
    assert_eq!(stream.next().await.unwrap().0, id(4));

    // Then it follows live.
    c.submit("c").await;
    let (got, event, _) = stream.next().await.unwrap();
    assert_eq!((got, event.as_str()), (id(5), "submitted"));
    host.shutdown().await;
}

#[tokio::test]
async fn a_dropped_attach_connection_hands_the_lease_on_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let host = Host::start(options(dir.path())).await.unwrap();
    let c = Client::new(&host);
    let (a, token_a) = c.submit("a").await;
    let (b, token_b) = c.submit("b").await;
    let mut holder = c
        .stream(&format!("/v1/runs/{a}/attach"), &token_a, None)
        .await;
    let (_, event, status) = holder.next().await.unwrap();
    assert_eq!(event, "status");
    assert_eq!(status["run"]["holds_desktop"], true);

    let mut waiter = c
        .stream(&format!("/v1/runs/{b}/attach"), &token_b, None)
        .await;
    assert_eq!(waiter.next().await.unwrap().2["run"]["state"], "queued");

    let dropped = Instant::now();
    drop(holder);
    let (_, _, status) = waiter.next().await.unwrap();
    let latency = dropped.elapsed();
    assert_eq!(status["run"]["holds_desktop"], true, "{status}");
    assert!(
        latency < Duration::from_secs(1),
        "hand-off took {latency:?}"
    );
    let run = host.core().run(baton_core::RunId(a)).await.unwrap();
    assert_eq!(run.state, baton_core::RunState::Expired);
    assert_eq!(
        run.reason.as_deref(),
        Some("its connection to Baton closed")
    );

    // Finishing ends the attach stream with the final status.
    c.post(
        &format!("/v1/runs/{b}/finish"),
        &token_b,
        json!({"outcome": "succeeded"}),
    )
    .await;
    let (_, _, last) = waiter.next().await.unwrap();
    assert_eq!(last["ended"], true);
    assert!(
        waiter.next().await.is_none(),
        "the stream closes after the final status"
    );
    host.shutdown().await;
}

#[tokio::test]
async fn moving_to_another_port_keeps_attached_clients_and_refuses_a_taken_port() {
    let dir = tempfile::tempdir().unwrap();
    let mut host = Host::start(options(dir.path())).await.unwrap();
    let c = Client::new(&host);
    let (a, token_a) = c.submit("a").await;
    let mut attached = c
        .stream(&format!("/v1/runs/{a}/attach"), &token_a, None)
        .await;
    assert_eq!(
        attached.next().await.unwrap().2["run"]["holds_desktop"],
        true
    );
    let old = host.url();

    // A port someone else holds is refused, and nothing changes.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let err = host.set_port(port).await.unwrap_err();
    assert_eq!(err.code(), baton_core::ErrorCode::BindFailed);
    assert!(
        err.to_string().contains("Address already in use") || err.to_string().contains("in use"),
        "{err}"
    );
    assert_eq!(host.url(), old);
    drop(taken);

    let new = host.set_port(0).await.unwrap();
    assert_ne!(new, old);
    assert_eq!(
        DataDir::at(dir.path()).host_info().unwrap().unwrap().url,
        new,
        "host.json moved"
    );
    // New clients use the new port (its Host header is allowed there) ...
    let moved = Client {
        url: new.clone(),
        ..Client::new(&host)
    };
    let (b, _) = moved.submit("b").await;
    // ... while the attached client's connection lives on: it still hears about its run.
    moved
        .post("/v1/desktop/stop", &moved.token, json!({}))
        .await;
    let (_, _, status) = attached.next().await.unwrap();
    assert_eq!(status["run"]["state"], "cancelled");
    assert_eq!(
        host.core().run(baton_core::RunId(b)).await.unwrap().state,
        baton_core::RunState::Running
    );
    // The old port takes no new connections.
    assert!(reqwest::get(format!("{old}/v1/health")).await.is_err());
    host.shutdown().await;
}

#[tokio::test]
async fn a_waiter_hears_its_grant_at_once_and_queue_moves_at_most_every_100_ms() {
    let dir = tempfile::tempdir().unwrap();
    let host = Host::start(options(dir.path())).await.unwrap();
    let c = Client::new(&host);
    // Twelve runs: a holder, ten ahead of the watched waiter, the waiter last.
    let mut runs = Vec::new();
    for i in 0..12 {
        runs.push(c.submit(&format!("r{i}")).await);
    }
    let (last, last_token) = runs.pop().unwrap();
    let mut waiter = c
        .stream(&format!("/v1/runs/{last}/attach"), &last_token, None)
        .await;
    assert_eq!(waiter.next().await.unwrap().2["run"]["position"], 11);

    // Ten hand-offs in a burst: the waiter moves from 11 to 1.
    let started = Instant::now();
    for (id, token) in &runs[..11] {
        c.post(
            &format!("/v1/runs/{id}/finish"),
            token,
            json!({"outcome": "succeeded"}),
        )
        .await;
    }
    let posted = started.elapsed();
    let mut heard = Vec::new();
    loop {
        let (_, _, status) = waiter.next().await.unwrap();
        heard.push((started.elapsed(), status.clone()));
        if status["run"]["holds_desktop"] == true {
            break;
        }
    }
    let (at, granted) = heard.last().unwrap();
    assert_eq!(granted["run"]["lease_token"], 12, "{granted}");
    // The grant is told at once, not held back with the queue moves.
    assert!(
        at.saturating_sub(posted) < Duration::from_millis(50),
        "{posted:?} {heard:?}"
    );
    // Position updates before it were gathered: never two within 100 ms.
    let moves: Vec<Duration> = heard[..heard.len() - 1].iter().map(|(t, _)| *t).collect();
    for pair in moves.windows(2) {
        assert!(pair[1] - pair[0] >= Duration::from_millis(95), "{heard:?}");
    }
    assert!(moves.len() < 10, "every move was sent: {heard:?}");
    host.shutdown().await;
}
