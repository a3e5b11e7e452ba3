//! Bad input at volume: one client sends thousands of random requests (well-formed and not,
//! with every kind of token, id, body and header) to a real host over loopback. No request may
//! get a 500 or kill the host; every refusal must be a JSON error; and a refused request must
//! change nothing (the event log does not move).
//!
//! Requests: `BATON_RANDOM_HTTP` (default 3000). The seed is printed; `BATON_RANDOM_SEED`
//! replays one.

use std::time::Duration;

use baton_api::{Host, HostOptions};
use baton_platform::DataDir;
use baton_testkit::{Rng, env_number};
use serde_json::{Value, json};

const POSTS: &[&str] = &[
    "heartbeat",
    "amend",
    "replace",
    "cancel",
    "front",
    "finish",
    "release",
    "acquire",
    "withdraw",
    "input",
];

/// A random body: often right for some route, often not.
fn body(rng: &mut Rng, lease: Option<u64>) -> Vec<u8> {
    let text = |rng: &mut Rng| -> Value {
        match rng.below(5) {
            0 => json!(""),
            1 => json!("x".repeat(rng.below(3000))),
            2 => json!(5),
            3 => Value::Null,
            _ => json!(format!("t{}", rng.below(100))),
        }
    };
    let value = match rng.below(12) {
        0 => json!({"title": text(rng), "client": text(rng), "needs_desktop": rng.below(2) == 0}),
        1 => {
            json!({"title": "ok", "client": "fuzz", "needs_desktop": true, "ttl_ms": rng.next_u64()})
        }
        2 => json!({"outcome": *rng.pick(&["succeeded", "failed", "cancelled", "", "exploded"])}),
        3 => json!({"reason": text(rng)}),
        4 => json!({"text": text(rng)}),
        5 => json!({"lease_token": lease.unwrap_or(0), "actions": [
            {"kind": *rng.pick(&["move", "click", "type", "key", "scroll", "wait", "teleport"]),
             "x": rng.below(5000) as i64 - 100, "y": 10, "text": "hi", "combo": "ctrl+", "ms": 10}
        ]}),
        6 => json!({"lease_token": lease.unwrap_or(0), "actions": []}),
        7 => json!([1, 2, 3]),
        8 => {
            // Deep nesting.
            let depth = 200 + rng.below(2000);
            return format!("{}{}", "[".repeat(depth), "]".repeat(depth)).into_bytes();
        }
        9 => return (0..rng.below(200)).map(|_| rng.next_u64() as u8).collect(),
        10 => return vec![b'x'; 70 * 1024],
        _ => json!({}),
    };
    value.to_string().into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_requests_never_get_a_500_and_refusals_change_nothing() {
    let requests = env_number("BATON_RANDOM_HTTP", 3000) as usize;
    eprintln!("random_http: {requests} requests");
    let mut rng = Rng::from_env("BATON_RANDOM_SEED");

    let dir = tempfile::tempdir().unwrap();
    let host = Host::start(HostOptions {
        input: baton_api::InputOptions::Disabled,
        // No expiries during the test: every change is a request's.
        overrides: baton_api::host::Overrides {
            default_ttl: Some(Duration::from_secs(3600)),
            ..Default::default()
        },
        ..HostOptions::new(DataDir::at(dir.path()), baton_platform::HostKind::Daemon)
    })
    .await
    .unwrap();
    let url = host.url();
    let user = host.data_dir().user_token().unwrap();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let mut runs: Vec<(i64, String)> = Vec::new();
    let mut counts = std::collections::BTreeMap::<u16, usize>::new();

    for step in 0..requests {
        let run = (!runs.is_empty()).then(|| runs[rng.below(runs.len())].clone());
        let id = match rng.below(6) {
            0 => "999999".to_string(),
            1 => rng
                .pick(&["abc", "-1", "0", "18446744073709551616", "1.5", "%00"])
                .to_string(),
            _ => run.as_ref().map_or("1".into(), |(id, _)| id.to_string()),
        };
        let token = match rng.below(6) {
            0 => None,
            1 => Some("run_1_0000".to_string()),
            2 | 3 => Some(user.clone()),
            _ => run.as_ref().map(|(_, t)| t.clone()),
        };
        let (method, path) = match rng.below(10) {
            0..=2 => ("POST", "/v1/runs".to_string()),
            3..=5 => ("POST", format!("/v1/runs/{id}/{}", rng.pick(POSTS))),
            6 => (
                "POST",
                format!(
                    "/v1/desktop/{}",
                    rng.pick(&[
                        "stop",
                        "pause",
                        "resume",
                        "holder/pause",
                        "holder/resume",
                        "nope"
                    ])
                ),
            ),
            7 => (
                "GET",
                format!(
                    "/v1/{}",
                    rng.pick(&[
                        "status",
                        "history?limit=abc",
                        "history?state=weird",
                        "events?after=-4",
                        "input/pointer",
                        "runs/1",
                        "nothing"
                    ])
                ),
            ),
            8 => ("DELETE", "/v1/runs".to_string()),
            _ => ("GET", format!("/v1/runs/{id}/cancel-targets")),
        };
        let before = host.core().status().last_event;
        let lease = host.core().status().desktop.lease_token;
        let payload = if path == "/v1/runs" && rng.below(2) == 0 {
            // Enough good submissions that there is state for the bad requests to not change.
            json!({"title": format!("r{step}"), "client": "fuzz", "needs_desktop": rng.below(3) > 0})
                .to_string()
                .into_bytes()
        } else {
            body(&mut rng, lease)
        };
        let size = payload.len();
        let mut request = http
            .request(method.parse().unwrap(), format!("{url}{path}"))
            .body(payload)
            .header(
                "content-type",
                *rng.pick(&["application/json", "application/json", "text/plain"]),
            );
        if let Some(token) = &token {
            request = request.bearer_auth(token);
        }
        if rng.below(20) == 0 {
            request = request.header("host", "evil.example");
        }
        let response = request.send().await.unwrap_or_else(|e| {
            panic!("step {step}: {method} {path} ({size} bytes): the host did not answer: {e:?}")
        });
        let status = response.status().as_u16();
        *counts.entry(status).or_default() += 1;
        let text = response.text().await.unwrap();
        assert!(
            status < 500 || (status == 503 && text.contains("no_display")),
            "step {step}: {method} {path} -> {status}: {text}"
        );
        if status >= 400 {
            let error: Value = serde_json::from_str(&text).unwrap_or_else(|_| {
                panic!("step {step}: {method} {path} -> {status}, not JSON: {text}")
            });
            assert!(
                error["error"]["code"].is_string() && error["error"]["message"].is_string(),
                "step {step}: {text}"
            );
            assert_eq!(
                host.core().status().last_event,
                before,
                "step {step}: the refused {method} {path} ({status}: {text}) changed something"
            );
        } else if path == "/v1/runs" && method == "POST" {
            let answer: Value = serde_json::from_str(&text).unwrap();
            runs.push((
                answer["run"]["id"].as_i64().unwrap(),
                answer["token"].as_str().unwrap().to_string(),
            ));
        }
    }
    eprintln!("random_http: answers by status: {counts:?}");
    assert!(
        counts.keys().any(|s| *s < 300),
        "nothing succeeded: {counts:?}"
    );
    assert!(
        counts.keys().filter(|s| **s >= 400).count() >= 4,
        "{counts:?}"
    );
    // The host is still sound: the log keeps every rule.
    let events = host.core().events_after(0, 1_000_000).await.unwrap();
    baton_core::check::check(&events).unwrap();
    host.shutdown().await;
}
