//! The IPC commands through Tauri's mock runtime (no display), over a real core and a real
//! SQLite file: what the dashboard's buttons do, and the sentences its errors show.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use baton_core::clock::SystemClock;
use baton_core::{Config, Durability, Handle, RunSpec, Store, Timestamp};
use baton_tray::AppState;
use baton_tray::settings::NotifySettings;
use serde_json::{Value, json};
use tauri::WebviewWindowBuilder;
use tauri::ipc::{CallbackFn, InvokeBody};
use tauri::test::{
    INVOKE_KEY, MockRuntime, get_ipc_response, mock_builder, mock_context, noop_assets,
};
use tauri::webview::InvokeRequest;

struct Fixture {
    core: Handle,
    webview: tauri::WebviewWindow<MockRuntime>,
    _app: tauri::App<MockRuntime>,
    _dir: tempfile::TempDir,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("baton.db");
    // The actor lives on Tauri's runtime, where the commands run.
    let core = tauri::async_runtime::block_on(async move {
        let opened = Store::open(&path, Durability::Normal, Timestamp::now())
            .await
            .unwrap();
        baton_core::spawn(opened, Arc::new(SystemClock), Config::default())
    });
    let (state, _quit, _notify) = AppState::new(core.clone(), NotifySettings::default());
    let app = mock_builder()
        .manage(state)
        .invoke_handler(baton_tray::handler())
        .build(mock_context(noop_assets()))
        .unwrap();
    let webview = WebviewWindowBuilder::new(&app, "dashboard", Default::default())
        .build()
        .unwrap();
    Fixture {
        core,
        webview,
        _app: app,
        _dir: dir,
    }
}

impl Fixture {
    fn invoke(&self, command: &str, args: Value) -> Result<Value, Value> {
        get_ipc_response(
            &self.webview,
            InvokeRequest {
                cmd: command.into(),
                callback: CallbackFn(0),
                error: CallbackFn(1),
                url: "tauri://localhost".parse().unwrap(),
                body: InvokeBody::Json(args),
                headers: Default::default(),
                invoke_key: INVOKE_KEY.to_string(),
            },
        )
        .map(|body| body.deserialize::<Value>().unwrap())
    }

    fn submit(&self, title: &str) -> i64 {
        let core = self.core.clone();
        let spec = RunSpec::new(title, "test", true);
        tauri::async_runtime::block_on(async move { core.submit(spec).await })
            .unwrap()
            .status
            .run
            .id
            .0
    }
}

#[test]
fn status_shows_holder_queue_and_parallel_runs() {
    let f = fixture();
    let a = f.submit("log in");
    let b = f.submit("fill form");
    let status = f.invoke("status", json!({})).unwrap();
    assert_eq!(status["desktop"]["holder"]["id"], a);
    assert_eq!(status["desktop"]["queue"][0]["id"], b);
    assert_eq!(status["desktop"]["queue"][0]["position"], 1);
    assert_eq!(status["desktop"]["paused"], false);
}

#[test]
fn dashboard_buttons_are_user_requests_from_the_dashboard() {
    let f = fixture();
    let a = f.submit("a");
    let b = f.submit("b");
    let c = f.submit("c");

    let moved = f.invoke("move_to_front", json!({"id": c})).unwrap();
    assert_eq!(moved["run"]["position"], 1);

    let cancelled = f
        .invoke("cancel_run", json!({"id": b, "reason": "not needed"}))
        .unwrap();
    assert_eq!(cancelled["state"], "cancelled");
    assert_eq!(cancelled["cancelled_by"], "user:dashboard");
    assert_eq!(cancelled["reason"], "not needed");

    assert_eq!(
        f.invoke("set_paused", json!({"paused": true})).unwrap(),
        true
    );
    assert!(f.core.status().desktop.paused);

    let stopped = f.invoke("stop_holder", json!({})).unwrap();
    assert_eq!(stopped["id"], a);
    assert_eq!(stopped["cancelled_by"], "user:dashboard");
    // Paused: c waits even though the desktop is free.
    assert!(f.core.status().desktop.holder.is_none());
    f.invoke("set_paused", json!({"paused": false})).unwrap();
    assert_eq!(f.core.status().desktop.holder.as_ref().unwrap().id.0, c);
    assert_eq!(f.invoke("stop_holder", json!({})).unwrap()["id"], c);
    assert_eq!(f.invoke("stop_holder", json!({})).unwrap(), Value::Null);
}

#[test]
fn history_pages_and_filters() {
    let f = fixture();
    let ids: Vec<i64> = (0..5).map(|i| f.submit(&format!("run {i}"))).collect();
    f.invoke("cancel_run", json!({"id": ids[2]})).unwrap();
    let page = f.invoke("history", json!({"limit": 2})).unwrap();
    let page: Vec<i64> = page
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_i64().unwrap())
        .collect();
    assert_eq!(page, vec![ids[4], ids[3]], "newest first");
    let older = f
        .invoke("history", json!({"limit": 2, "before": ids[3]}))
        .unwrap();
    assert_eq!(older[0]["id"], ids[2]);
    let cancelled = f
        .invoke("history", json!({"runState": "cancelled"}))
        .unwrap();
    assert_eq!(cancelled.as_array().unwrap().len(), 1);
    assert_eq!(cancelled[0]["cancelled_by"], "user:dashboard");
}

#[test]
fn refusals_come_back_as_sentences() {
    let f = fixture();
    let a = f.submit("a");
    assert_eq!(
        f.invoke("cancel_run", json!({"id": 999})).unwrap_err(),
        "there is no run #999"
    );
    assert!(
        f.invoke("move_to_front", json!({"id": a}))
            .unwrap_err()
            .as_str()
            .unwrap()
            .contains("only queued runs can move")
    );
    assert!(
        f.invoke("history", json!({"runState": "lost"}))
            .unwrap_err()
            .as_str()
            .unwrap()
            .contains("unknown run state 'lost'")
    );
    // A malformed call is refused by the IPC layer, not a panic.
    assert!(f.invoke("cancel_run", json!({"id": "a"})).is_err());
}
