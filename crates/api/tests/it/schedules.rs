//! The schedule routes on a real host over real HTTP: entries added, edited, paused, resumed
//! and removed; every refusal a JSON error with the right status that changes nothing; and a
//! command that cannot start ending its run failed, saying why, in the run and in its log.

use std::time::{Duration, Instant};

use baton_api::{Host, HostOptions};
use baton_platform::DataDir;
use serde_json::{Value, json};

struct Api {
    http: reqwest::Client,
    url: String,
    token: String,
}

impl Api {
    fn new(host: &Host) -> Self {
        Api {
            http: reqwest::Client::new(),
            url: host.url(),
            token: host.data_dir().user_token().unwrap(),
        }
    }

    async fn call(
        &self,
        method: &str,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.url))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn user(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        self.call(method, path, &self.token, body).await
    }

    async fn entries(&self) -> Vec<Value> {
        let (status, body) = self.user("GET", "/v1/schedules", None).await;
        assert_eq!(status, 200);
        body.as_array().unwrap().clone()
    }
}

async fn host(dir: &std::path::Path, schedules: Option<&str>) -> Host {
    Host::start(HostOptions {
        input: baton_api::InputOptions::Disabled,
        schedules: schedules.map(Into::into),
        ..HostOptions::new(DataDir::at(dir), baton_platform::HostKind::Daemon)
    })
    .await
    .unwrap()
}

fn nightly() -> Value {
    json!({"name": "nightly", "cron": "0 3 * * *", "command": ["./backup.sh", "--all"]})
}

#[track_caller]
fn refused(answer: &(u16, Value), status: u16, code: &str, says: &str) {
    assert_eq!(answer.0, status, "{answer:?}");
    assert_eq!(answer.1["error"]["code"], code, "{answer:?}");
    let message = answer.1["error"]["message"].as_str().unwrap();
    assert!(message.contains(says), "{says:?} missing from {message:?}");
}

#[tokio::test]
async fn entries_are_added_edited_paused_and_removed_and_bad_ones_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let host = host(dir.path(), None).await;
    let api = Api::new(&host);

    let (status, added) = api.user("POST", "/v1/schedules", Some(nightly())).await;
    assert_eq!(status, 201, "{added}");
    assert_eq!(added["name"], "nightly");
    assert_eq!(
        added["missed"], "catch-up",
        "one catch-up run is the default"
    );
    assert_eq!(added["paused"], false);
    assert!(added["next_fire"].is_string(), "{added}");

    // Refusals: each with its status and sentence, and none changes the entry.
    refused(
        &api.user("POST", "/v1/schedules", Some(nightly())).await,
        409,
        "invalid_state",
        "already a schedule entry 'nightly'",
    );
    let mut bad = nightly();
    bad["name"] = json!("weekly");
    bad["cron"] = json!("0 3 * * 8");
    refused(
        &api.user("POST", "/v1/schedules", Some(bad)).await,
        400,
        "invalid_request",
        "the day of week field's '8' is not valid",
    );
    let mut unknown = nightly();
    unknown["name"] = json!("browse");
    unknown["resources"] = json!(["browser:work"]);
    refused(
        &api.user("POST", "/v1/schedules", Some(unknown)).await,
        409,
        "unknown_resource",
        "there is no resource 'browser:work'",
    );
    let mut extra = nightly();
    extra["name"] = json!("extra");
    extra["when"] = json!("always");
    let answer = api.user("POST", "/v1/schedules", Some(extra)).await;
    assert_eq!(answer.0, 400, "{answer:?}");
    refused(
        &api.user("PUT", "/v1/schedules/other", Some(nightly()))
            .await,
        400,
        "invalid_request",
        "the body names entry 'nightly' but the path 'other'",
    );
    let mut missing = nightly();
    missing["name"] = json!("missing");
    refused(
        &api.user("PUT", "/v1/schedules/missing", Some(missing))
            .await,
        404,
        "unknown_schedule",
        "there is no schedule entry 'missing'",
    );
    refused(
        &api.user("POST", "/v1/schedules/no%20such/pause", None)
            .await,
        400,
        "invalid_request",
        "is not a schedule entry's name",
    );
    // An agent's run token reads the entries but changes none.
    let (_, submitted) = api
        .user(
            "POST",
            "/v1/runs",
            Some(json!({"title": "agent", "client": "test"})),
        )
        .await;
    let agent = submitted["token"].as_str().unwrap();
    let (status, listed) = api.call("GET", "/v1/schedules", agent, None).await;
    assert_eq!(status, 200);
    assert_eq!(listed.as_array().unwrap().len(), 1);
    refused(
        &api.call("DELETE", "/v1/schedules/nightly", agent, None)
            .await,
        403,
        "forbidden",
        "only the user can remove schedule entries",
    );
    assert_eq!(api.entries().await, vec![added.clone()]);

    // An edit keeps the name and what it did not give; a new expression fires from now.
    let mut edited = nightly();
    edited["cron"] = json!("30 4 * * 1-5");
    edited["needs_desktop"] = json!(true);
    let (status, changed) = api.user("PUT", "/v1/schedules/nightly", Some(edited)).await;
    assert_eq!(status, 200, "{changed}");
    assert_eq!(changed["cron"], "30 4 * * 1-5");
    assert_eq!(changed["needs_desktop"], true);
    assert_eq!(changed["created_at"], added["created_at"]);

    let (status, paused) = api.user("POST", "/v1/schedules/nightly/pause", None).await;
    assert_eq!(status, 200);
    assert_eq!(
        (&paused["paused"], &paused["next_fire"]),
        (&json!(true), &Value::Null)
    );
    let (_, resumed) = api.user("POST", "/v1/schedules/nightly/resume", None).await;
    assert_eq!(resumed["paused"], false);
    assert!(resumed["next_fire"].is_string());

    // This host runs no commands: run-now says so and makes no run.
    refused(
        &api.user("POST", "/v1/schedules/nightly/run", None).await,
        409,
        "invalid_state",
        "--no-schedules",
    );
    let (_, history) = api
        .user("GET", "/v1/history?client=schedule:nightly", None)
        .await;
    assert_eq!(history, json!([]));

    let (status, removed) = api.user("DELETE", "/v1/schedules/nightly", None).await;
    assert_eq!((status, removed), (200, json!({"removed": "nightly"})));
    refused(
        &api.user("DELETE", "/v1/schedules/nightly", None).await,
        404,
        "unknown_schedule",
        "there is no schedule entry 'nightly'",
    );
    assert!(api.entries().await.is_empty());
    host.shutdown().await;
}

#[tokio::test]
async fn a_command_that_cannot_start_ends_its_run_failed_and_its_log_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let host = host(dir.path(), Some("/nonexistent/baton")).await;
    let api = Api::new(&host);
    let (status, _) = api.user("POST", "/v1/schedules", Some(nightly())).await;
    assert_eq!(status, 201);
    let (status, started) = api.user("POST", "/v1/schedules/nightly/run", None).await;
    assert_eq!(status, 201, "{started}");
    let id = started["run"]["id"].as_i64().unwrap();
    assert_eq!(started["run"]["client"], "schedule:nightly");
    assert_eq!(
        started["run"]["fire"],
        json!({"entry": "nightly", "stands_for": 0})
    );

    let deadline = Instant::now() + Duration::from_secs(10);
    let run = loop {
        let (_, run) = api.user("GET", &format!("/v1/runs/{id}"), None).await;
        if run["state"] != "queued" && run["state"] != "running" {
            break run;
        }
        assert!(Instant::now() < deadline, "the run never ended: {run}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(run["state"], "failed", "{run}");
    let outcome = run["outcome"].as_str().unwrap();
    assert!(
        outcome.contains("Baton could not start the scheduled command"),
        "{outcome}"
    );
    let (status, log) = api.user("GET", &format!("/v1/runs/{id}/log"), None).await;
    assert_eq!(status, 200);
    assert!(
        log.as_str()
            .unwrap()
            .contains("could not start the scheduled command"),
        "{log}"
    );
    // A run of no entry has no log; a run that does not exist is unknown.
    let (_, other) = api
        .user(
            "POST",
            "/v1/runs",
            Some(json!({"title": "t", "client": "test"})),
        )
        .await;
    let other = other["run"]["id"].as_i64().unwrap();
    refused(
        &api.user("GET", &format!("/v1/runs/{other}/log"), None)
            .await,
        404,
        "no_log",
        &format!("run #{other} has no log"),
    );
    refused(
        &api.user("GET", "/v1/runs/999999/log", None).await,
        404,
        "unknown_run",
        "there is no run #999999",
    );
    host.shutdown().await;
}
