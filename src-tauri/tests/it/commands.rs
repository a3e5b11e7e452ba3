//! The IPC commands through Tauri's mock runtime (no display), over a real host (SQLite file,
//! HTTP on loopback) owned the way the app owns it: what the windows' buttons do, and the
//! sentences their errors show.

use baton_api::{Host, HostOptions};
use baton_core::{Handle, RunSpec};
use baton_platform::DataDir;
use baton_tray::AppState;
use baton_tray::settings::Settings;
use serde_json::{Value, json};
use tauri::WebviewWindowBuilder;
use tauri::ipc::{CallbackFn, InvokeBody};
use tauri::test::{
    INVOKE_KEY, MockRuntime, get_ipc_response, mock_builder, mock_context, noop_assets,
};
use tauri::webview::InvokeRequest;

struct Fixture {
    core: Handle,
    data_dir: DataDir,
    webview: tauri::WebviewWindow<MockRuntime>,
    _app: tauri::App<MockRuntime>,
    _dir: tempfile::TempDir,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = DataDir::at(dir.path());
    // The host lives on Tauri's runtime, where the commands run.
    let host = tauri::async_runtime::block_on(Host::start(HostOptions {
        input: baton_api::InputOptions::Disabled,
        ..HostOptions::new(data_dir.clone(), baton_platform::HostKind::Tray)
    }))
    .unwrap();
    let core = host.core().clone();
    let (state, requests) = AppState::new(
        core.clone(),
        host.state().clone(),
        data_dir.clone(),
        host.takeover().clone(),
        host.retention().clone(),
        &Settings::default(),
    );
    let signals = tauri::async_runtime::block_on(async { baton_api::signals::Signals::new() });
    tauri::async_runtime::spawn(state.host_owner(host, requests, signals));
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
        data_dir,
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
        tauri::async_runtime::block_on(async move {
            core.submit(spec, baton_core::Caller::user("test")).await
        })
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

#[test]
fn settings_show_what_is_in_force() {
    let f = fixture();
    let view = f.invoke("get_settings", json!({})).unwrap();
    assert_eq!(view["hotkey"]["accelerator"], "CmdOrCtrl+Alt+Shift+S");
    assert_eq!(view["notifications"]["queued"], true);
    assert_eq!(view["notifications"]["do_not_disturb"], false);
    assert_eq!(view["default_ttl_secs"], 15.0);
    assert_eq!(view["api_port"], 0);
    assert_eq!(
        view["api_url"],
        f.data_dir.host_info().unwrap().unwrap().url
    );
    assert_eq!(view["autostart"], false);
    // The same version and commit as `baton --version`.
    assert_eq!(view["version"], baton_api::VERSION);
    assert!(
        !baton_api::COMMIT.is_empty()
            && view["version"]
                .as_str()
                .unwrap()
                .contains(baton_api::COMMIT),
        "{view}"
    );
}

#[test]
fn notification_switches_are_kept_and_in_force_at_once() {
    let f = fixture();
    let notifications = json!({"queued": false, "handoff": true, "stopped": true, "expired": false, "takeover": false, "ask": true, "do_not_disturb": true,
        "answers": {"queued": true, "handoff": false, "takeover": true, "ask": true},
        "resources": ["browser:work"]});
    let view = f
        .invoke("set_notifications", json!({"notifications": notifications}))
        .unwrap();
    assert_eq!(view["notifications"], notifications);
    let stored = tauri::async_runtime::block_on(Settings::load(f.core.store()));
    assert!(stored.notifications.do_not_disturb && !stored.notifications.queued);
    assert!(!stored.notifications.answers.handoff && stored.notifications.answers.queued);
    assert_eq!(
        stored.notifications.resources.len(),
        1,
        "announced per resource"
    );
    // A malformed value is refused by the IPC layer and changes nothing.
    assert!(
        f.invoke(
            "set_notifications",
            json!({"notifications": {"queued": "yes"}})
        )
        .is_err()
    );
    let stored = tauri::async_runtime::block_on(Settings::load(f.core.store()));
    assert!(stored.notifications.do_not_disturb);
}

#[test]
fn asking_first_is_kept_in_force_at_once_and_allow_lets_in_only_the_waiting_run() {
    let f = fixture();
    let view = f
        .invoke("set_ask_first", json!({"askFirst": true}))
        .unwrap();
    assert_eq!(view["ask_first"], true);
    let stored = tauri::async_runtime::block_on(Settings::load(f.core.store()));
    assert!(stored.host.ask_first, "kept for the next start");
    let core = f.core.clone();
    let (a, b) = tauri::async_runtime::block_on(async move {
        let a = core
            .submit(
                RunSpec::new("a", "test", true),
                baton_core::Caller::user("test"),
            )
            .await
            .unwrap();
        let b = core
            .submit(
                RunSpec::new("b", "test", true),
                baton_core::Caller::user("test"),
            )
            .await
            .unwrap();
        (a.status.run.id, b.status.run.id)
    });
    assert!(f.core.status().desktop.holder.is_none());
    let refused = f.invoke("allow_run", json!({"id": b.0})).unwrap_err();
    assert!(
        refused
            .as_str()
            .unwrap()
            .contains("is not the one waiting for your OK"),
        "{refused}"
    );
    let allowed = f.invoke("allow_run", json!({"id": a.0})).unwrap();
    assert_eq!(allowed["run"]["holds_desktop"], true);
    // Off again: from now on the desktop is handed on without asking.
    let view = f
        .invoke("set_ask_first", json!({"askFirst": false}))
        .unwrap();
    assert_eq!(view["ask_first"], false);
    let core = f.core.clone();
    tauri::async_runtime::block_on(async move {
        core.cancel(a, baton_core::Caller::user("test"), None)
            .await
            .unwrap();
    });
    assert_eq!(f.core.status().desktop.holder.unwrap().id, b);
}

#[test]
fn the_default_ttl_applies_to_new_runs_and_absurd_values_are_refused() {
    let f = fixture();
    let view = f.invoke("set_default_ttl", json!({"seconds": 40})).unwrap();
    assert_eq!(view["default_ttl_secs"], 40.0);
    let core = f.core.clone();
    let run = tauri::async_runtime::block_on(async move {
        core.submit(
            RunSpec::new("new", "test", false),
            baton_core::Caller::user("test"),
        )
        .await
    })
    .unwrap();
    assert_eq!(run.status.run.ttl_ms, 40_000);
    for seconds in [0.0, -5.0, 100_000.0, 1e20, f64::MAX] {
        let err = f
            .invoke("set_default_ttl", json!({"seconds": seconds}))
            .unwrap_err();
        assert!(
            err.as_str()
                .unwrap()
                .starts_with("A heartbeat TTL must be between 0.1 seconds and 24 hours"),
            "{err}"
        );
    }
    assert_eq!(
        f.invoke("get_settings", json!({})).unwrap()["default_ttl_secs"],
        40.0,
        "the old setting stays"
    );
}

#[test]
fn the_api_moves_to_a_free_port_and_a_taken_one_is_refused() {
    let f = fixture();
    let before = f.invoke("get_settings", json!({})).unwrap()["api_url"].clone();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let err = f.invoke("set_api_port", json!({"port": port})).unwrap_err();
    assert!(
        err.as_str()
            .unwrap()
            .contains(&format!("cannot listen on 127.0.0.1:{port}")),
        "{err}"
    );
    assert_eq!(
        f.invoke("get_settings", json!({})).unwrap()["api_url"],
        before
    );
    drop(taken);
    let view = f.invoke("set_api_port", json!({"port": port})).unwrap();
    assert_eq!(view["api_url"], format!("http://127.0.0.1:{port}"));
    assert_eq!(view["api_port"], port);
}

#[test]
fn the_user_token_is_shown_and_regenerated_and_the_old_one_stops_working() {
    let f = fixture();
    let old = f.invoke("user_token", json!({})).unwrap();
    assert_eq!(old.as_str().unwrap(), f.data_dir.user_token().unwrap());
    let new = f.invoke("regenerate_token", json!({})).unwrap();
    assert_ne!(new, old);
    assert_eq!(new.as_str().unwrap(), f.data_dir.user_token().unwrap());
    let url = f.data_dir.host_info().unwrap().unwrap().url;
    let status = |token: &str| {
        let (url, token) = (url.clone(), token.to_string());
        tauri::async_runtime::block_on(async move {
            match baton_client::Client::at(&url, token)
                .unwrap()
                .status()
                .await
            {
                Ok(_) => 200,
                Err(baton_client::Error::Api { status, .. }) => status,
                Err(e) => panic!("{e}"),
            }
        })
    };
    assert_eq!(status(old.as_str().unwrap()), 401);
    assert_eq!(status(new.as_str().unwrap()), 200);

    // A token file that cannot be read is said plainly.
    std::fs::remove_file(f.data_dir.token_path()).unwrap();
    std::fs::create_dir(f.data_dir.token_path()).unwrap();
    let err = f.invoke("user_token", json!({})).unwrap_err();
    assert!(
        err.as_str()
            .unwrap()
            .starts_with("cannot read the user token at "),
        "{err}"
    );
}

#[test]
fn a_hotkey_that_does_not_parse_is_refused_with_a_sentence() {
    let f = fixture();
    for bad in ["Ctrl+Banana", "", "Ctrl+Alt+"] {
        let err = f
            .invoke("set_hotkey", json!({"accelerator": bad}))
            .unwrap_err();
        assert!(
            err.as_str()
                .unwrap()
                .contains("is not a hotkey Baton understands"),
            "{bad}: {err}"
        );
    }
    for bare in ["Shift+K", "F5"] {
        let err = f
            .invoke("set_hotkey", json!({"accelerator": bare}))
            .unwrap_err();
        assert!(
            err.as_str().unwrap().contains("needs Ctrl, Alt or Super"),
            "{bare}: {err}"
        );
    }
    assert_eq!(
        f.invoke("get_settings", json!({})).unwrap()["hotkey"]["accelerator"],
        "CmdOrCtrl+Alt+Shift+S",
        "the old hotkey stays"
    );
}

#[test]
fn stop_acts_only_on_the_holder_the_page_showed() {
    let f = fixture();
    let a = f.submit("a");
    let b = f.submit("b");
    assert_eq!(
        f.invoke("stop_holder", json!({"runId": a})).unwrap()["id"],
        a
    );
    // A second click arrives after the hand-off: b is not stopped.
    let err = f.invoke("stop_holder", json!({"runId": a})).unwrap_err();
    assert!(err.as_str().unwrap().contains("changed hands"), "{err}");
    assert_eq!(f.core.status().desktop.holder.as_ref().unwrap().id.0, b);
}

#[test]
fn takeover_settings_are_checked_and_the_holder_is_given_back() {
    let f = fixture();
    let view = f
        .invoke(
            "set_takeover",
            json!({"takeover": {"enabled": false, "quiet_secs": 30}}),
        )
        .unwrap();
    assert_eq!(
        view["takeover"],
        json!({"enabled": false, "quiet_secs": 30.0})
    );
    let err = f
        .invoke(
            "set_takeover",
            json!({"takeover": {"enabled": true, "quiet_secs": 0.2}}),
        )
        .unwrap_err();
    assert!(
        err.as_str().unwrap().contains("between 1 and 600 seconds"),
        "{err}"
    );
    assert_eq!(
        f.invoke("get_settings", json!({})).unwrap()["takeover"]["enabled"],
        false
    );

    let a = f.submit("a");
    let core = f.core.clone();
    tauri::async_runtime::block_on(async move {
        core.pause_holder(baton_core::Caller::user("takeover"))
            .await
    })
    .unwrap();
    assert!(f.core.status().desktop.holder_paused);
    assert_eq!(f.invoke("resume_holder", json!({})).unwrap(), true);
    assert!(!f.core.status().desktop.holder_paused);
    assert_eq!(f.core.status().desktop.holder.as_ref().unwrap().id.0, a);
}

#[test]
fn caps_and_retention_are_checked_and_in_force_at_once() {
    let f = fixture();
    // A run that ended 40 days ago, under an id below the ones this host hands out (the newest
    // run is never pruned, so ids are never reused).
    let day = 24 * 3600 * 1000;
    let ended = baton_core::Timestamp(baton_core::Timestamp::now().0 - 40 * day);
    let old = baton_core::Run {
        id: baton_core::RunId(0),
        title: "old".into(),
        client: "cron".into(),
        needs_desktop: false,
        resources: Vec::new(),
        state: baton_core::RunState::Succeeded,
        holds_desktop: false,
        holds: Vec::new(),
        lease_token: None,
        leases: Default::default(),
        position: None,
        ttl_ms: 15_000,
        created_at: ended,
        started_at: Some(ended),
        finished_at: Some(ended),
        outcome: None,
        exit_code: None,
        cancelled_by: None,
        reason: None,
        fire: None,
    };
    let store = f.core.store().clone();
    tauri::async_runtime::block_on(async move {
        let batch = baton_core::lease::Batch {
            runs: vec![old],
            ..Default::default()
        };
        store.commit(&batch).await
    })
    .unwrap();
    let newer = f.submit("newer");
    let err = f
        .invoke(
            "set_limits",
            json!({"limits": {"max_active_runs": 0, "max_runs_per_client": 5, "retention_days": 30}}),
        )
        .unwrap_err();
    assert!(err.as_str().unwrap().contains("at least 1"), "{err}");
    let view = f
        .invoke(
            "set_limits",
            json!({"limits": {"max_active_runs": 10, "max_runs_per_client": 2, "retention_days": 30}}),
        )
        .unwrap();
    assert_eq!(
        view["limits"],
        json!({"max_active_runs": 10, "max_runs_per_client": 2, "retention_days": 30})
    );
    // The cap holds for the next submit: "test" has one active run and may have two.
    f.submit("second");
    let core = f.core.clone();
    let refused = tauri::async_runtime::block_on(async move {
        core.submit(
            RunSpec::new("third", "test", true),
            baton_core::Caller::user("test"),
        )
        .await
    })
    .unwrap_err();
    assert_eq!(
        refused.code(),
        baton_core::ErrorCode::TooManyRuns,
        "{refused}"
    );
    // The old run is pruned at once; the newer one stays.
    let store = f.core.store().clone();
    let ids = tauri::async_runtime::block_on(async move {
        for _ in 0..100 {
            let runs = store
                .history(&baton_core::HistoryQuery {
                    limit: 100,
                    ..Default::default()
                })
                .await
                .unwrap();
            if runs.iter().all(|r| r.id.0 != 0) {
                return runs.iter().map(|r| r.id.0).collect::<Vec<_>>();
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("the old run was not pruned");
    });
    assert!(ids.contains(&newer), "{ids:?}");
}

#[test]
fn resources_are_declared_resized_and_removed_and_the_timeline_shows_them() {
    let f = fixture();
    let added = f
        .invoke(
            "add_resource",
            json!({"name": "browser:work", "capacity": 2}),
        )
        .unwrap();
    assert_eq!(added["capacity"], 2);
    // A typo in a name, or a bad capacity, is refused with a sentence and changes nothing.
    let refused = f
        .invoke("add_resource", json!({"name": "a b", "capacity": 1}))
        .unwrap_err();
    assert!(
        refused.as_str().unwrap().contains("not a resource name"),
        "{refused}"
    );
    assert!(
        f.invoke(
            "set_capacity",
            json!({"name": "browser:work", "capacity": 0})
        )
        .is_err()
    );
    let listed = f.invoke("resources", json!({})).unwrap();
    let names: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        // Built in where the host starts private displays (Xvfb is installed).
        .filter(|name| *name != "displays")
        .collect();
    assert_eq!(names, ["desktop", "browser:work"]);
    let resized = f
        .invoke(
            "set_capacity",
            json!({"name": "browser:work", "capacity": 3}),
        )
        .unwrap();
    assert_eq!(resized["capacity"], 3);

    // A run on the desktop shows in the last hour's picture, with a lane per resource.
    let id = f.submit("log in");
    let lanes = f.invoke("timeline", json!({"minutes": 60})).unwrap();
    let lanes = lanes.as_array().unwrap();
    let desktop = lanes.iter().find(|l| l["resource"] == "desktop").unwrap();
    assert_eq!(desktop["spans"][0]["run"]["id"], id);
    assert_eq!(desktop["spans"][0]["kind"], "held");
    assert!(desktop["spans"][0]["to"].is_null(), "still held");
    assert!(lanes.iter().any(|l| l["resource"] == "browser:work"));

    f.invoke("remove_resource", json!({"name": "browser:work"}))
        .unwrap();
    let listed = f.invoke("resources", json!({})).unwrap();
    assert!(
        !listed
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["name"] == "browser:work"),
        "{listed}"
    );
    // Removed or never declared, it is named in the refusal with the ones there are.
    let refused = f
        .invoke("remove_resource", json!({"name": "browser:work"}))
        .unwrap_err();
    assert!(refused.as_str().unwrap().contains("desktop"), "{refused}");
}
