//! Request decoding end to end: arbitrary requests through the whole API router (auth, path and
//! query parsing, body decoding and validation, the core) over one long-lived core on a real
//! SQLite file. No input may panic or produce a 500. The first byte picks the route, the second
//! the token, the rest is the body.
#![no_main]

use std::sync::{Arc, OnceLock};

use axum::body::Body;
use axum::http::Request;
use baton_core::clock::SystemClock;
use baton_core::input::{FakeDriver, Gateway, InputDriver};
use baton_core::{Config, Durability, Store, Timestamp};
use libfuzzer_sys::fuzz_target;
use tower::ServiceExt;

const USER: &str = "fuzz-user-token";

struct Api {
    rt: tokio::runtime::Runtime,
    app: axum::Router,
    _dir: tempfile::TempDir,
}

fn api() -> &'static Api {
    static API: OnceLock<Api> = OnceLock::new();
    API.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let app = rt.block_on(async {
            let opened = Store::open(
                &dir.path().join("baton.db"),
                Durability::Normal,
                Timestamp::now(),
            )
            .await
            .unwrap();
            let core = baton_core::spawn(opened, Arc::new(SystemClock), Config::default());
            let stopping = tokio_util::sync::CancellationToken::new();
            let driver = FakeDriver::new();
            let input = Gateway::spawn(
                move || Ok(Box::new(driver) as Box<dyn InputDriver>),
                core.watch_status(),
            );
            baton_api::router(baton_api::ApiState::new(
                core,
                input,
                USER.into(),
                7777,
                stopping,
            ))
        });
        Api { rt, app, _dir: dir }
    })
}

const ROUTES: &[(&str, &str)] = &[
    ("POST", "/v1/runs"),
    ("POST", "/v1/runs/1/heartbeat"),
    ("POST", "/v1/runs/1/amend"),
    ("POST", "/v1/runs/2/replace"),
    ("POST", "/v1/runs/1/cancel"),
    ("POST", "/v1/runs/3/front"),
    ("POST", "/v1/runs/1/finish"),
    ("POST", "/v1/runs/1/release"),
    ("POST", "/v1/runs/1/acquire"),
    ("POST", "/v1/runs/1/withdraw"),
    ("POST", "/v1/runs/1/input"),
    ("POST", "/v1/desktop/stop"),
    ("POST", "/v1/desktop/pause"),
    ("POST", "/v1/desktop/resume"),
    ("GET", "/v1/status"),
    ("GET", "/v1/history?limit=5&state=queued"),
    ("GET", "/v1/events?after=0&limit=3"),
    ("GET", "/v1/runs/1"),
    ("GET", "/v1/runs/1/cancel-targets"),
];

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let (method, path) = ROUTES[data[0] as usize % ROUTES.len()];
    // A path from the input now and then: the id and query parsers get odd text too.
    let path = if data[0] >= 240 {
        format!(
            "/v1/runs/{}/finish",
            String::from_utf8_lossy(&data[2..data.len().min(12)])
        )
    } else {
        path.to_string()
    };
    let token = match data[1] % 3 {
        0 => USER.to_string(),
        1 => "run_1_00".to_string(),
        _ => String::from_utf8_lossy(&data[2..data.len().min(20)]).into_owned(),
    };
    let request = Request::builder()
        .method(method)
        .uri(path.as_str())
        .header("host", "127.0.0.1:7777")
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .body(Body::from(data[2..].to_vec()));
    let Ok(request) = request else {
        return; // not a valid HTTP request at all: no server would see it
    };
    let api = api();
    let response = api.rt.block_on(api.app.clone().oneshot(request)).unwrap();
    assert!(
        !response.status().is_server_error() || response.status() == 503,
        "{method} {path} -> {}",
        response.status()
    );
});
