//! The API through `tower::ServiceExt::oneshot` over the real router, core and SQLite file:
//! auth, the Host guard, every kind of bad input (each refused with the JSON error format and
//! changing nothing), and the contract of the main routes.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use baton_api::{ApiState, router};
use baton_core::clock::SystemClock;
use baton_core::input::{FakeDriver, Gateway, InputDriver, Step};
use baton_core::{Config, Durability, Store, Timestamp};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

const USER: &str = "user-token-for-tests";

struct Api {
    app: axum::Router,
    state: ApiState,
    /// What the fake input driver was asked to do.
    performed: std::sync::Arc<std::sync::Mutex<Vec<Step>>>,
    _dir: tempfile::TempDir,
}

async fn api() -> Api {
    let dir = tempfile::tempdir().unwrap();
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
    let performed = driver.performed.clone();
    let input = Gateway::spawn(
        move || Ok(Box::new(driver) as Box<dyn InputDriver>),
        core.watch_status(),
    );
    let state = ApiState::new(core, input, USER.into(), 7777, stopping);
    Api {
        app: router(state.clone()),
        state,
        performed,
        _dir: dir,
    }
}

struct Reply {
    status: StatusCode,
    body: Value,
}

impl Api {
    async fn send(&self, req: Request<Body>) -> Reply {
        let res = self.app.clone().oneshot(req).await.unwrap();
        let status = res.status();
        let bytes = res.into_body().collect().await.unwrap().to_bytes();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Reply { status, body }
    }

    async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header(header::HOST, "127.0.0.1:7777");
        if let Some(token) = token {
            req = req.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let body = body.map_or(Body::empty(), |b| Body::from(b.to_string()));
        self.send(req.body(body).unwrap()).await
    }

    async fn submit(&self, title: &str, desktop: bool) -> (i64, String) {
        let r = self
            .call(
                "POST",
                "/v1/runs",
                Some(USER),
                Some(json!({"title": title, "client": "test", "needs_desktop": desktop})),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
        (
            r.body["run"]["id"].as_i64().unwrap(),
            r.body["token"].as_str().unwrap().to_string(),
        )
    }

    /// Status and the event log, to show a refused request changed nothing.
    async fn fingerprint(&self) -> (Value, usize) {
        let status = self.call("GET", "/v1/status", Some(USER), None).await.body;
        let events = self
            .state
            .core
            .events_after(0, 100_000)
            .await
            .unwrap()
            .len();
        (status, events)
    }
}

fn error_code(reply: &Reply) -> &str {
    reply.body["error"]["code"]
        .as_str()
        .unwrap_or("<no error body>")
}

#[tokio::test]
async fn tokens_gate_every_route_but_health() {
    let api = api().await;
    assert_eq!(
        api.call("GET", "/v1/health", None, None).await.status,
        StatusCode::OK
    );
    for (method, path) in [
        ("GET", "/v1/status"),
        ("POST", "/v1/runs"),
        ("GET", "/v1/history"),
        ("GET", "/v1/events"),
        ("GET", "/v1/events/stream"),
        ("POST", "/v1/desktop/stop"),
        ("GET", "/v1/openapi.json"),
        ("POST", "/v1/runs/1/cancel"),
    ] {
        for token in [
            None,
            Some("wrong"),
            Some("run_1_00112233445566778899aabbccddeeff"),
        ] {
            let r = api.call(method, path, token, None).await;
            assert_eq!(
                r.status,
                StatusCode::UNAUTHORIZED,
                "{method} {path} {token:?}"
            );
            assert_eq!(error_code(&r), "unauthorized");
            assert!(
                r.body["error"]["message"]
                    .as_str()
                    .unwrap()
                    .contains("bearer token")
            );
        }
    }
}

#[tokio::test]
async fn foreign_hosts_and_web_origins_are_refused() {
    let api = api().await;
    for host in ["evil.example:7777", "127.0.0.1:8888", ""] {
        let req = Request::get("/v1/health")
            .header(header::HOST, host)
            .body(Body::empty())
            .unwrap();
        let r = api.send(req).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{host}");
        assert_eq!(error_code(&r), "host_not_allowed");
    }
    for host in ["localhost:7777", "[::1]:7777", "LOCALHOST:7777"] {
        let req = Request::get("/v1/health")
            .header(header::HOST, host)
            .body(Body::empty())
            .unwrap();
        assert_eq!(api.send(req).await.status, StatusCode::OK, "{host}");
    }
    let req = Request::get("/v1/status")
        .header(header::HOST, "127.0.0.1:7777")
        .header(header::ORIGIN, "https://evil.example")
        .header(header::AUTHORIZATION, format!("Bearer {USER}"))
        .body(Body::empty())
        .unwrap();
    let r = api.send(req).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(error_code(&r), "origin_not_allowed");
}

#[tokio::test]
async fn run_tokens_act_only_for_their_own_run() {
    let api = api().await;
    let (a, token_a) = api.submit("a", true).await;
    let (b, token_b) = api.submit("b", true).await;
    assert!(token_a.starts_with(&format!("run_{a}_")));

    let r = api
        .call(
            "POST",
            &format!("/v1/runs/{a}/heartbeat"),
            Some(&token_a),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body["run"]["holds_desktop"].as_bool().unwrap());

    let before = api.fingerprint().await;
    for path in ["heartbeat", "finish", "release", "acquire", "withdraw"] {
        let body = (path == "finish").then(|| json!({"outcome": "succeeded"}));
        let r = api
            .call(
                "POST",
                &format!("/v1/runs/{b}/{path}"),
                Some(&token_a),
                body,
            )
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{path}: {:?}", r.body);
        assert_eq!(error_code(&r), "forbidden");
    }
    // User-only requests refuse run tokens.
    for path in [
        "/v1/desktop/stop",
        "/v1/desktop/pause",
        "/v1/desktop/resume",
        &format!("/v1/runs/{b}/front"),
    ] {
        let r = api.call("POST", path, Some(&token_a), None).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{path}");
        assert!(
            r.body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("only the user")
        );
    }
    let r = api
        .call(
            "GET",
            &format!("/v1/runs/{b}/cancel-targets"),
            Some(&token_a),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // Not even the user token acts as a run: the user ends runs by cancelling them.
    for path in [
        "heartbeat",
        "finish",
        "release",
        "acquire",
        "withdraw",
        "attach",
    ] {
        let (method, body) = match path {
            "attach" => ("GET", None),
            "finish" => ("POST", Some(json!({"outcome": "succeeded"}))),
            _ => ("POST", None),
        };
        let r = api
            .call(method, &format!("/v1/runs/{a}/{path}"), Some(USER), body)
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "user {path}: {:?}", r.body);
        assert!(
            r.body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("cancel it")
        );
    }
    assert_eq!(api.fingerprint().await, before);

    let r = api
        .call(
            "GET",
            &format!("/v1/runs/{b}/cancel-targets"),
            Some(&token_b),
            None,
        )
        .await;
    let ids: Vec<i64> = r
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, vec![a]);
}

#[tokio::test]
async fn a_run_cannot_cancel_itself_and_relays_are_recorded() {
    let api = api().await;
    let (a, token_a) = api.submit("a", true).await;
    let (b, _) = api.submit("b", true).await;
    let before = api.fingerprint().await;
    let r = api
        .call(
            "POST",
            &format!("/v1/runs/{a}/cancel"),
            Some(&token_a),
            Some(json!({"reason": "user said stop"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(error_code(&r), "self_cancel");
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("cannot cancel itself")
    );
    let r = api
        .call(
            "POST",
            &format!("/v1/runs/{b}/cancel"),
            Some(&token_a),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(api.fingerprint().await, before);

    let r = api
        .call(
            "POST",
            &format!("/v1/runs/{b}/cancel"),
            Some(&token_a),
            Some(json!({"reason": "user: not this one"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["state"], "cancelled");
    assert_eq!(r.body["cancelled_by"], format!("run:{a}"));
}

#[tokio::test]
async fn user_surfaces_are_recorded_by_name() {
    let api = api().await;
    let (a, _) = api.submit("a", true).await;
    let req = Request::post("/v1/desktop/stop")
        .header(header::HOST, "127.0.0.1:7777")
        .header(header::AUTHORIZATION, format!("Bearer {USER}"))
        .header("x-baton-via", "hotkey")
        .body(Body::from(r#"{"reason":"wrong window"}"#))
        .unwrap();
    let r = api.send(req).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["stopped"]["id"], a);
    assert_eq!(r.body["stopped"]["cancelled_by"], "user:hotkey");
    let r = api.call("POST", "/v1/desktop/stop", Some(USER), None).await;
    assert_eq!(r.body["stopped"], Value::Null, "nothing to stop");
    let req = Request::post("/v1/desktop/pause")
        .header(header::HOST, "127.0.0.1:7777")
        .header(header::AUTHORIZATION, format!("Bearer {USER}"))
        .header("x-baton-via", "Not Valid!")
        .body(Body::empty())
        .unwrap();
    assert_eq!(api.send(req).await.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn only_the_user_allows_and_only_the_run_that_waits_for_it() {
    let api = api().await;
    api.state
        .core
        .set_ask_first(true, baton_core::Caller::user("test"))
        .await
        .unwrap();
    let (a, token_a) = api.submit("fill the form", true).await;
    let (b, _) = api.submit("book the flight", true).await;
    let status = api.call("GET", "/v1/status", Some(USER), None).await.body;
    assert_eq!(status["desktop"]["holder"], Value::Null);
    assert_eq!(status["desktop"]["awaiting_ok"]["id"], a);
    let waiting = api
        .call(
            "POST",
            &format!("/v1/runs/{a}/heartbeat"),
            Some(&token_a),
            None,
        )
        .await;
    assert_eq!(waiting.body["awaiting_ok"], true, "{:?}", waiting.body);
    assert!(
        waiting.body["message"]
            .as_str()
            .unwrap()
            .contains("waiting for the user's OK"),
        "{:?}",
        waiting.body
    );

    let before = api.fingerprint().await;
    // The waiting run cannot let itself in.
    let r = api
        .call("POST", &format!("/v1/runs/{a}/allow"), Some(&token_a), None)
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{:?}", r.body);
    // An OK for a run nobody asked about is a conflict, and lets nobody in.
    let r = api
        .call("POST", &format!("/v1/runs/{b}/allow"), Some(USER), None)
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{:?}", r.body);
    assert_eq!(error_code(&r), "invalid_state");
    let r = api
        .call("POST", "/v1/runs/999/allow", Some(USER), None)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{:?}", r.body);
    assert_eq!(api.fingerprint().await, before);

    let req = Request::post(format!("/v1/runs/{a}/allow"))
        .header(header::HOST, "127.0.0.1:7777")
        .header(header::AUTHORIZATION, format!("Bearer {USER}"))
        .header("x-baton-via", "cli")
        .body(Body::empty())
        .unwrap();
    let r = api.send(req).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["run"]["holds_desktop"], true);
    let events = api.state.core.events_after(0, 1000).await.unwrap();
    assert!(events.iter().any(|e| e.run_id == Some(baton_core::RunId(a))
        && e.kind
            == baton_core::EventKind::Allowed {
                by: baton_core::Caller::user("cli")
            }));
}

#[tokio::test]
async fn bad_input_gets_a_clear_error_and_changes_nothing() {
    let api = api().await;
    let (a, _) = api.submit("a", true).await;
    let before = api.fingerprint().await;
    let huge = "x".repeat(baton_api::BODY_LIMIT + 1);
    let cases: Vec<(&str, String, Option<String>, StatusCode, &str)> = vec![
        (
            "POST",
            "/v1/runs".into(),
            Some("{not json".into()),
            StatusCode::BAD_REQUEST,
            "invalid_json",
        ),
        (
            "POST",
            "/v1/runs".into(),
            Some(r#"{"title":"t","client":"c","colour":"red"}"#.into()),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            "POST",
            "/v1/runs".into(),
            Some(r#"{"title":"t"}"#.into()),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            "POST",
            "/v1/runs".into(),
            Some(r#"{"title":"t","client":"c","needs_desktop":"yes"}"#.into()),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            "POST",
            "/v1/runs".into(),
            Some(r#"{"title":" ","client":"c"}"#.into()),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            "POST",
            "/v1/runs".into(),
            Some(r#"{"title":"t","client":"c","ttl_ms":0}"#.into()),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            "POST",
            "/v1/runs".into(),
            Some(format!(r#"{{"title":"{huge}","client":"c"}}"#)),
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
        ),
        (
            "POST",
            "/v1/runs/abc/cancel".into(),
            None,
            StatusCode::BAD_REQUEST,
            "invalid_run_id",
        ),
        (
            "POST",
            "/v1/runs/-3/cancel".into(),
            None,
            StatusCode::BAD_REQUEST,
            "invalid_run_id",
        ),
        (
            "POST",
            "/v1/runs/999/cancel".into(),
            None,
            StatusCode::NOT_FOUND,
            "unknown_run",
        ),
        (
            "GET",
            "/v1/runs/999".into(),
            None,
            StatusCode::NOT_FOUND,
            "unknown_run",
        ),
        (
            "POST",
            format!("/v1/runs/{a}/finish"),
            Some(r#"{"outcome":"great"}"#.into()),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            "POST",
            format!("/v1/runs/{a}/amend"),
            Some(r#"{"text":""}"#.into()),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            "POST",
            format!("/v1/runs/{a}/front"),
            None,
            StatusCode::CONFLICT,
            "invalid_state",
        ),
        (
            "GET",
            "/v1/history?state=lost".into(),
            None,
            StatusCode::BAD_REQUEST,
            "invalid_query",
        ),
        (
            "GET",
            "/v1/history?limit=many".into(),
            None,
            StatusCode::BAD_REQUEST,
            "invalid_query",
        ),
        (
            "GET",
            "/v1/history?colour=red".into(),
            None,
            StatusCode::BAD_REQUEST,
            "invalid_query",
        ),
        (
            "GET",
            "/v1/nowhere".into(),
            None,
            StatusCode::NOT_FOUND,
            "no_route",
        ),
        (
            "DELETE",
            "/v1/status".into(),
            None,
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        ),
    ];
    for (method, path, body, status, code) in cases {
        let mut req = Request::builder()
            .method(method)
            .uri(&path)
            .header(header::HOST, "127.0.0.1:7777")
            .header(header::AUTHORIZATION, format!("Bearer {USER}"));
        if body.is_some() {
            req = req.header(header::CONTENT_TYPE, "application/json");
        }
        let req = req.body(body.map_or(Body::empty(), Body::from)).unwrap();
        let r = api.send(req).await;
        assert_eq!(
            (r.status, error_code(&r)),
            (status, code),
            "{method} {path}: {:?}",
            r.body
        );
        assert!(!r.body["error"]["message"].as_str().unwrap().is_empty());
        assert_eq!(
            api.fingerprint().await,
            before,
            "{method} {path} changed something"
        );
    }
}

#[tokio::test]
async fn the_main_routes_keep_their_contract() {
    let api = api().await;
    let (a, token_a) = api.submit("log in", true).await;
    let r = api
        .call(
            "POST",
            "/v1/runs",
            Some(USER),
            Some(json!({"title": "form", "client": "codex", "needs_desktop": true})),
        )
        .await;
    let b = r.body["run"]["id"].as_i64().unwrap();
    assert_eq!(r.body["run"]["state"], "queued");
    assert_eq!(r.body["run"]["position"], 1);
    assert_eq!(r.body["queued_behind"]["title"], "log in");
    assert!(
        r.body["message"]
            .as_str()
            .unwrap()
            .starts_with("the desktop is busy: queued behind 'log in' (test), position 1")
    );

    let status = api.call("GET", "/v1/status", Some(USER), None).await.body;
    assert_eq!(status["desktop"]["holder"]["id"], a);
    assert_eq!(status["desktop"]["queue"][0]["id"], b);
    assert_eq!(status["desktop"]["paused"], false);
    for key in [
        "id",
        "title",
        "client",
        "needs_desktop",
        "state",
        "lease_token",
        "position",
        "created_at",
        "started_at",
    ] {
        assert!(
            status["desktop"]["holder"].get(key).is_some(),
            "RUN lacks {key}"
        );
    }

    let r = api
        .call(
            "POST",
            &format!("/v1/runs/{a}/amend"),
            Some(USER),
            Some(json!({"text": "use staging"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = api
        .call(
            "POST",
            &format!("/v1/runs/{a}/heartbeat"),
            Some(&token_a),
            Some(json!({"inbox_after": 0})),
        )
        .await;
    assert_eq!(r.body["inbox"][0]["text"], "use staging");
    let version = r.body["version"].as_u64().unwrap();
    let r = api
        .call(
            "GET",
            &format!("/v1/runs/{a}/wait?after_version={version}&timeout_ms=10"),
            Some(&token_a),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);

    let r = api
        .call(
            "POST",
            &format!("/v1/runs/{a}/finish"),
            Some(&token_a),
            Some(json!({"outcome": "failed", "exit_code": 3})),
        )
        .await;
    assert_eq!(r.body["state"], "failed");
    assert_eq!(r.body["exit_code"], 3);
    assert_eq!(r.body["outcome"], "exited with code 3");

    let history = api
        .call("GET", "/v1/history?state=failed", Some(USER), None)
        .await
        .body;
    assert_eq!(history.as_array().unwrap().len(), 1);
    assert!(history[0].get("finished_at").is_some() && history[0].get("cancelled_by").is_some());

    let events = api
        .call("GET", "/v1/events?after=0", Some(USER), None)
        .await
        .body;
    let kinds: Vec<&str> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert!(
        kinds.starts_with(&[
            "submitted",
            "granted",
            "submitted",
            "queued",
            "amended",
            "finished",
            "released",
            "granted"
        ]),
        "{kinds:?}"
    );

    let doc = api
        .call("GET", "/v1/openapi.json", Some(USER), None)
        .await
        .body;
    assert_eq!(doc["info"]["title"], "Baton local API");
    for path in [
        "/v1/runs",
        "/v1/runs/{id}/cancel",
        "/v1/events/stream",
        "/v1/runs/{id}/attach",
        "/v1/desktop/stop",
    ] {
        assert!(doc["paths"].get(path).is_some(), "openapi lacks {path}");
    }
    // Every error's code is one of a listed set, the same set the clients parse.
    let schemas = &doc["components"]["schemas"];
    assert_eq!(
        schemas["ErrorDetail"]["properties"]["code"]["$ref"],
        "#/components/schemas/ErrorCode"
    );
    let listed: Vec<&str> = schemas["ErrorCode"]["enum"]
        .as_array()
        .expect("ErrorCode is an enum")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let known: Vec<&str> = baton_core::ErrorCode::ALL
        .iter()
        .map(|c| c.as_str())
        .collect();
    assert_eq!(listed, known);
}

impl Api {
    fn performed(&self) -> Vec<Step> {
        self.performed.lock().unwrap().clone()
    }

    async fn input(&self, id: i64, token: &str, lease_token: u64, actions: Value) -> Reply {
        self.call(
            "POST",
            &format!("/v1/runs/{id}/input"),
            Some(token),
            Some(json!({"lease_token": lease_token, "actions": actions})),
        )
        .await
    }
}

#[tokio::test]
async fn the_holder_s_input_runs_in_order_and_is_reported() {
    let api = api().await;
    let (a, token) = api.submit("a", true).await;
    let actions = json!([
        {"kind": "move", "x": 321, "y": 123},
        {"kind": "click", "button": "left", "count": 2},
        {"kind": "type", "text": "hello"},
        {"kind": "key", "combo": "ctrl+l"},
        {"kind": "move", "x": -20, "y": 5, "relative": true},
        {"kind": "scroll", "dy": 3},
    ]);
    let r = api.input(a, &token, 1, actions).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    // What ran, in order, with the defaults spelled out.
    let kinds: Vec<&str> = r.body["ran"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["move", "click", "type", "key", "move", "scroll"]);
    assert_eq!(
        r.body["ran"][0],
        json!({"kind": "move", "x": 321, "y": 123, "relative": false})
    );
    assert_eq!(
        r.body["ran"][5],
        json!({"kind": "scroll", "dx": 0, "dy": 3})
    );
    let performed = api.performed();
    assert_eq!(performed.len(), 6);
    assert_eq!(performed[0], Step::MoveTo(321, 123));
    assert_eq!(performed[2], Step::Type("hello".into()));
    assert_eq!(performed[4], Step::MoveBy(-20, 5));
    let pointer = api.call("GET", "/v1/input/pointer", Some(USER), None).await;
    assert_eq!(pointer.body, json!({"x": 301, "y": 128}));
    let screen = api
        .call("GET", "/v1/input/screen", Some(&token), None)
        .await;
    assert_eq!(screen.body, json!({"width": 1280, "height": 800}));
}

#[tokio::test]
async fn input_from_anyone_but_the_holder_with_its_token_is_refused_and_runs_nothing() {
    let api = api().await;
    let (a, token_a) = api.submit("log in", true).await;
    let (b, token_b) = api.submit("form", true).await;
    let (p, token_p) = api.submit("tests", false).await;
    let click = json!([{"kind": "click"}]);
    let cases = [
        // (run, token, lease token, status, code, in the message)
        (
            a,
            USER.to_string(),
            1,
            StatusCode::FORBIDDEN,
            "forbidden",
            "only run",
        ),
        (
            a,
            token_b.clone(),
            1,
            StatusCode::FORBIDDEN,
            "forbidden",
            "only run",
        ),
        (
            b,
            token_b.clone(),
            1,
            StatusCode::CONFLICT,
            "not_holder",
            "queued behind 'log in' (test), position 1",
        ),
        (
            p,
            token_p.clone(),
            1,
            StatusCode::CONFLICT,
            "not_holder",
            "'log in' (test) does",
        ),
        (
            a,
            token_a.clone(),
            7,
            StatusCode::CONFLICT,
            "stale_token",
            "under token 1 now",
        ),
    ];
    for (run, token, lease, status, code, text) in cases {
        let r = api.input(run, &token, lease, click.clone()).await;
        assert_eq!((r.status, error_code(&r)), (status, code), "{:?}", r.body);
        let message = r.body["error"]["message"].as_str().unwrap();
        assert!(message.contains(text), "{message}");
    }
    // The user takes over: the holder keeps its place, its input is refused until resumed.
    assert_eq!(
        api.call("POST", "/v1/desktop/holder/pause", Some(USER), None)
            .await
            .status,
        StatusCode::OK
    );
    let r = api.input(a, &token_a, 1, click.clone()).await;
    assert_eq!(error_code(&r), "user_active");
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("person at the computer is using it")
    );
    let hb = api
        .call(
            "POST",
            &format!("/v1/runs/{a}/heartbeat"),
            Some(&token_a),
            None,
        )
        .await;
    assert_eq!(hb.body["paused"], true, "the holder hears it is paused");
    assert!(api.performed().is_empty(), "nothing reached the display");
    api.call("POST", "/v1/desktop/holder/resume", Some(USER), None)
        .await;
    assert_eq!(
        api.input(a, &token_a, 1, click.clone()).await.status,
        StatusCode::OK
    );

    // After the hand-off the old holder's token is refused; the new holder's works.
    api.call(
        "POST",
        &format!("/v1/runs/{a}/finish"),
        Some(&token_a),
        Some(json!({"outcome": "succeeded"})),
    )
    .await;
    let r = api.input(a, &token_a, 1, click.clone()).await;
    assert_eq!(error_code(&r), "stale_token");
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no longer holds the desktop (it succeeded)")
    );
    assert_eq!(
        api.input(b, &token_b, 2, click.clone()).await.status,
        StatusCode::OK
    );
    assert_eq!(api.performed().len(), 2);

    // A cancelled run is told so.
    api.call(
        "POST",
        &format!("/v1/runs/{b}/cancel"),
        Some(USER),
        Some(json!({"reason": "wrong site"})),
    )
    .await;
    let r = api.input(b, &token_b, 2, click).await;
    assert_eq!(error_code(&r), "cancelled");
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("cancelled by the user: wrong site")
    );
}

#[tokio::test]
async fn a_bad_batch_is_refused_whole_before_anything_runs() {
    let api = api().await;
    let (a, token) = api.submit("a", true).await;
    let good = json!({"kind": "move", "x": 1, "y": 1});
    let cases = [
        (json!([]), "invalid_request", "empty"),
        (
            json!([good, {"kind": "move", "x": 5000, "y": 1}]),
            "invalid_request",
            "off the screen",
        ),
        (
            json!([good, {"kind": "key", "combo": "ctrl+Banana"}]),
            "invalid_request",
            "unknown key 'Banana'",
        ),
        (
            json!([good, {"kind": "key", "combo": "ctrl++"}]),
            "invalid_request",
            "not a key combination",
        ),
        (
            json!([good, {"kind": "type", "text": "x".repeat(3000)}]),
            "invalid_request",
            "at most 2000",
        ),
        (
            json!([good, {"kind": "teleport"}]),
            "invalid_request",
            "unknown variant",
        ),
        (
            json!([good, {"kind": "move", "x": 1, "y": 1, "speed": 9}]),
            "invalid_request",
            "unknown field",
        ),
    ];
    for (actions, code, text) in cases {
        let r = api.input(a, &token, 1, actions).await;
        assert_eq!(
            (r.status, error_code(&r)),
            (StatusCode::BAD_REQUEST, code),
            "{:?}",
            r.body
        );
        assert!(
            r.body["error"]["message"].as_str().unwrap().contains(text),
            "{:?}",
            r.body
        );
    }
    assert!(api.performed().is_empty(), "a refused batch sends nothing");
}

#[tokio::test]
async fn a_cancel_in_the_middle_of_a_batch_stops_it_before_the_next_action() {
    let api = api().await;
    let (a, token) = api.submit("a", true).await;
    let batch = json!([
        {"kind": "move", "x": 10, "y": 10},
        {"kind": "wait", "ms": 400},
        {"kind": "move", "x": 20, "y": 20},
        {"kind": "wait", "ms": 400},
        {"kind": "move", "x": 30, "y": 30},
    ]);
    let sending = {
        let api_app = api.app.clone();
        let token = token.clone();
        tokio::spawn(async move {
            let req = Request::post(format!("/v1/runs/{a}/input"))
                .header(header::HOST, "127.0.0.1:7777")
                .header(header::AUTHORIZATION, format!("Bearer {token}"))
                .body(Body::from(
                    json!({"lease_token": 1, "actions": batch}).to_string(),
                ))
                .unwrap();
            let res = api_app.oneshot(req).await.unwrap();
            let status = res.status();
            let bytes = res.into_body().collect().await.unwrap().to_bytes();
            (status, serde_json::from_slice::<Value>(&bytes).unwrap())
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(150)).await;
    let r = api
        .call("POST", &format!("/v1/runs/{a}/cancel"), Some(USER), None)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let (status, body) = sending.await.unwrap();
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["error"]["code"], "cancelled");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("stopped before action 3 of 5 (2 ran)"),
        "{body}"
    );
    assert_eq!(
        api.performed(),
        vec![Step::MoveTo(10, 10)],
        "nothing after the cancel"
    );
}

#[tokio::test]
async fn without_a_display_input_says_so_and_everything_else_works() {
    let dir = tempfile::tempdir().unwrap();
    let opened = Store::open(
        &dir.path().join("baton.db"),
        Durability::Normal,
        Timestamp::now(),
    )
    .await
    .unwrap();
    let core = baton_core::spawn(opened, Arc::new(SystemClock), Config::default());
    let stopping = tokio_util::sync::CancellationToken::new();
    let state = ApiState::new(
        core,
        Gateway::unavailable("DISPLAY is not set"),
        USER.into(),
        7777,
        stopping,
    );
    let api = Api {
        app: router(state.clone()),
        state,
        performed: Default::default(),
        _dir: dir,
    };
    let (a, token) = api.submit("a", true).await;
    let r = api.input(a, &token, 1, json!([{"kind": "click"}])).await;
    assert_eq!(
        (r.status, error_code(&r)),
        (StatusCode::SERVICE_UNAVAILABLE, "no_display")
    );
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("DISPLAY is not set")
    );
    let r = api.call("GET", "/v1/input/pointer", Some(USER), None).await;
    assert_eq!(error_code(&r), "no_display");
    assert_eq!(
        api.call("GET", "/v1/status", Some(USER), None).await.status,
        StatusCode::OK
    );
}

impl Api {
    async fn raw(&self, method: &str, path: &str, token: &str, body: &'static [u8]) -> Reply {
        let req = Request::builder()
            .method(method)
            .uri(path)
            .header(header::HOST, "127.0.0.1:7777")
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .body(Body::from(body))
            .unwrap();
        self.send(req).await
    }
}

/// What the document states, the server does: the cases a contract tester found where the two
/// parted (schemathesis, `make contract`, runs the whole document against a real host).
#[tokio::test]
async fn requests_the_document_allows_are_taken_and_what_it_forbids_is_refused() {
    let api = api().await;
    let (id, token) = api.submit("a", false).await;
    let doc = api
        .call("GET", "/v1/openapi.json", Some(USER), None)
        .await
        .body;
    let title = &doc["components"]["schemas"]["RunSpec"]["properties"]["title"];
    assert_eq!(title["minLength"], 1);
    assert_eq!(title["maxLength"], 200);
    assert!(title["pattern"].as_str().unwrap().starts_with('^'));
    assert_eq!(
        doc["paths"]["/v1/runs"]["post"]["responses"]["429"]["content"]["application/json"]["schema"]
            ["$ref"],
        "#/components/schemas/ErrorBody"
    );
    // 3.0 is the integer 3 to JSON Schema, so to clients generated from the document.
    let r = api
        .call(
            "POST",
            &format!("/v1/runs/{id}/finish"),
            Some(&token),
            Some(json!({"outcome": "failed", "exit_code": 3.0})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["exit_code"], 3);
    // A body is a JSON object: not a struct's fields as an array, not a form feed.
    for body in [&b"[null, null]"[..], b"\x0c", b" "] {
        let r = api.raw("POST", "/v1/desktop/stop", USER, body).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body:?}: {}", r.body);
    }
    // No body at all is no fields, for a route whose fields are all optional.
    let r = api.raw("POST", "/v1/desktop/stop", USER, b"").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    // Numbers beyond what the document states are refused, not wrapped or taken.
    let r = api
        .call(
            "GET",
            "/v1/events?after=9241296180532678656",
            Some(USER),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
}

#[tokio::test]
async fn resources_are_declared_by_the_person_and_leased_alone_and_together() {
    let api = api().await;
    // Only the desktop at first.
    let r = api.call("GET", "/v1/resources", Some(USER), None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body.as_array().unwrap().len(), 1);
    assert_eq!(r.body[0]["name"], "desktop");
    assert_eq!(r.body[0]["capacity"], 1);

    let r = api
        .call(
            "POST",
            "/v1/resources",
            Some(USER),
            Some(json!({"name": "browser:work"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!(r.body["capacity"], 1, "capacity 1 unless told");

    // A run needs the browser and the desktop: granted both at once, each with its token.
    let r = api
        .call(
            "POST",
            "/v1/runs",
            Some(USER),
            Some(
                json!({"title": "a", "client": "codex", "needs_desktop": true,
                        "resources": ["browser:work"]}),
            ),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let a = r.body["run"]["id"].as_i64().unwrap();
    assert_eq!(r.body["run"]["holds"], json!(["browser:work", "desktop"]));
    assert_eq!(
        r.body["run"]["leases"],
        json!({"browser:work": 1, "desktop": 1})
    );
    assert_eq!(r.body["run"]["lease_token"], 1, "the desktop's, as before");

    // Another needs only the browser: queued, and told for what and behind whom.
    let r = api
        .call(
            "POST",
            "/v1/runs",
            Some(USER),
            Some(json!({"title": "b", "client": "claude-code", "resources": ["browser:work"]})),
        )
        .await;
    let (b, b_token) = (
        r.body["run"]["id"].as_i64().unwrap(),
        r.body["token"].as_str().unwrap().to_string(),
    );
    assert_eq!(r.body["run"]["state"], "queued");
    assert_eq!(r.body["waiting_for"]["resource"], "browser:work");
    let message = r.body["message"].as_str().unwrap();
    assert!(
        message.contains("queued behind 'a' (codex) for 'browser:work', position 1"),
        "{message}"
    );
    let status = api.call("GET", "/v1/status", Some(USER), None).await.body;
    assert_eq!(status["resources"][0]["name"], "browser:work");
    assert_eq!(status["resources"][0]["holders"][0]["run"]["id"], a);
    assert_eq!(status["resources"][0]["queue"][0]["id"], b);

    // Bad input: a clear error, and nothing changes.
    let before = api.fingerprint().await;
    let cases = [
        (
            "POST",
            "/v1/resources",
            json!({"name": "a b"}),
            StatusCode::BAD_REQUEST,
        ),
        (
            "POST",
            "/v1/resources",
            json!({"name": "x", "capacity": 0}),
            StatusCode::BAD_REQUEST,
        ),
        (
            "POST",
            "/v1/resources",
            json!({"name": "browser:work"}),
            StatusCode::CONFLICT,
        ),
        (
            "POST",
            "/v1/resources/nope/capacity",
            json!({"capacity": 2}),
            StatusCode::NOT_FOUND,
        ),
        (
            "POST",
            "/v1/resources/desktop/capacity",
            json!({"capacity": 2}),
            StatusCode::CONFLICT,
        ),
        (
            "DELETE",
            "/v1/resources/desktop",
            Value::Null,
            StatusCode::CONFLICT,
        ),
        (
            "DELETE",
            "/v1/resources/nope",
            Value::Null,
            StatusCode::NOT_FOUND,
        ),
        (
            "POST",
            "/v1/runs",
            json!({"title": "t", "client": "c", "resources": ["browser:wrok"]}),
            StatusCode::CONFLICT,
        ),
        (
            "DELETE",
            "/v1/resources/browser:work",
            Value::Null,
            StatusCode::CONFLICT,
        ),
        (
            "DELETE",
            "/v1/resources/a%20b",
            Value::Null,
            StatusCode::BAD_REQUEST,
        ),
    ];
    for (method, path, body, want) in cases {
        let body = (!body.is_null()).then_some(body);
        let r = api.call(method, path, Some(USER), body).await;
        assert_eq!(r.status, want, "{method} {path}: {:?}", r.body);
        assert!(
            r.body["error"]["message"].as_str().is_some(),
            "{:?}",
            r.body
        );
    }
    let typo = api
        .call(
            "POST",
            "/v1/runs",
            Some(USER),
            Some(json!({"title": "t", "client": "c", "resources": ["browser:wrok"]})),
        )
        .await;
    assert_eq!(error_code(&typo), "unknown_resource");
    assert!(
        typo.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("browser:work"),
        "the known ones are listed: {:?}",
        typo.body
    );
    // A run's token declares nothing.
    let r = api
        .call(
            "POST",
            "/v1/resources",
            Some(&b_token),
            Some(json!({"name": "mine"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(api.fingerprint().await, before);

    // More room: b starts at once.
    let r = api
        .call(
            "POST",
            "/v1/resources/browser:work/capacity",
            Some(USER),
            Some(json!({"capacity": 2})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["holders"].as_array().unwrap().len(), 2);

    // b releases, then acquires the browser again through the acquire route's body.
    let r = api
        .call(
            "POST",
            &format!("/v1/runs/{b}/release"),
            Some(&b_token),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let r = api
        .call(
            "POST",
            &format!("/v1/runs/{b}/acquire"),
            Some(&b_token),
            Some(json!({"resources": ["browser:work"]})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["run"]["leases"]["browser:work"], 3);

    // Removed once nobody holds or waits for it.
    for id in [a, b] {
        let r = api
            .call("POST", &format!("/v1/runs/{id}/cancel"), Some(USER), None)
            .await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    }
    let r = api
        .call("DELETE", "/v1/resources/browser:work", Some(USER), None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["removed"], "browser:work");
    let r = api.call("GET", "/v1/resources", Some(USER), None).await;
    assert_eq!(r.body.as_array().unwrap().len(), 1);
    let events = api.state.core.events_after(0, 1000).await.unwrap();
    baton_core::check::check(&events).unwrap();
}
