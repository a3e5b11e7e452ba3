//! `baton mcp` against a real host, driven by a real MCP client (rmcp's), over real stdio.

use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::*;
use rmcp::model::{
    CallToolRequestParams, CallToolResult, ClientCapabilities, ClientConfig, Implementation,
    ProgressNotificationParam,
};
use rmcp::service::{NotificationContext, RunningService};
use rmcp::transport::TokioChildProcess;
use rmcp::{ClientHandler, RoleClient, ServiceExt};
use serde_json::{Value, json};

/// An MCP client that keeps the progress messages it is sent.
#[derive(Clone)]
struct Agent {
    info: ClientConfig,
    progress: Arc<Mutex<Vec<String>>>,
    tools_changed: Arc<std::sync::atomic::AtomicUsize>,
}

impl ClientHandler for Agent {
    fn get_info(&self) -> ClientConfig {
        self.info.clone()
    }

    async fn on_progress(
        &self,
        params: ProgressNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        self.progress
            .lock()
            .unwrap()
            .push(params.message.unwrap_or_default());
    }

    async fn on_tool_list_changed(&self, _context: NotificationContext<RoleClient>) {
        self.tools_changed
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

struct Session {
    client: RunningService<RoleClient, Agent>,
    progress: Arc<Mutex<Vec<String>>>,
    /// How many times Baton said its tools changed.
    tools_changed: Arc<std::sync::atomic::AtomicUsize>,
    /// The `baton mcp` process.
    pid: u32,
}

impl Session {
    /// `baton mcp ARGS…` on `dir`'s host, as the MCP client `name`.
    async fn start(dir: &Path, name: &str, args: &[&str]) -> Session {
        let mut command = tokio::process::Command::new(BATON);
        command
            .arg("mcp")
            .args(args)
            .env("BATON_DATA_DIR", dir)
            .env_remove("BATON_URL")
            .env_remove("BATON_RUN_TOKEN")
            .env("BATON_LOG", "warn");
        let transport = TokioChildProcess::builder(command)
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap()
            .0;
        let pid = transport.id().unwrap();
        let progress = Arc::new(Mutex::new(Vec::new()));
        let tools_changed = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let agent = Agent {
            info: ClientConfig::new(
                ClientCapabilities::default(),
                Implementation::new(name, "1.0"),
            ),
            progress: progress.clone(),
            tools_changed: tools_changed.clone(),
        };
        let client = agent.serve(transport).await.unwrap();
        Session {
            client,
            progress,
            tools_changed,
            pid,
        }
    }

    /// Calls a tool: whether Baton said no, and the text of the answer.
    async fn call(&self, tool: &str, args: Value) -> (bool, String) {
        let result = self.try_call(tool, args).await.unwrap();
        (result.is_error == Some(true), text_of(&result))
    }

    async fn try_call(
        &self,
        tool: &str,
        args: Value,
    ) -> Result<CallToolResult, rmcp::ServiceError> {
        let params = CallToolRequestParams::new(tool.to_string())
            .with_arguments(args.as_object().cloned().unwrap_or_default());
        self.client.peer().call_tool(params).await
    }

    async fn ok(&self, tool: &str, args: Value) -> String {
        let (error, text) = self.call(tool, args).await;
        assert!(!error, "{tool} was refused: {text}");
        text
    }

    async fn refused(&self, tool: &str, args: Value) -> String {
        let (error, text) = self.call(tool, args).await;
        assert!(error, "{tool} should have been refused: {text}");
        text
    }

    /// The tools the session lists now, by name.
    async fn tool_names(&self) -> Vec<String> {
        let tools = self.client.peer().list_all_tools().await.unwrap();
        tools.iter().map(|t| t.name.to_string()).collect()
    }

    /// Waits until Baton has said at least once that its tools changed.
    async fn wait_tools_changed(&self, within: Duration) {
        let started = Instant::now();
        while self.tools_changed.load(std::sync::atomic::Ordering::SeqCst) == 0 {
            assert!(
                started.elapsed() < within,
                "the agent was not told the tools changed"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn end(self) {
        let _ = self.client.cancel().await;
    }
}

fn text_of(result: &CallToolResult) -> String {
    result
        .content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect::<Vec<_>>()
        .join("\n")
}

fn run_of(d: &Daemon, client: &str) -> Value {
    d.history()
        .into_iter()
        .find(|r| r["client"] == client)
        .unwrap_or_else(|| panic!("no run of {client}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tools_are_listed_with_schemas_and_status_changes_nothing() {
    let d = Daemon::start();
    let agent = Session::start(&d.dir, "agent-a", &[]).await;
    let tools = agent.client.peer().list_all_tools().await.unwrap();
    let mut names: Vec<_> = tools.iter().map(|t| t.name.to_string()).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "cancel_targets",
            "desktop_acquire",
            "desktop_input",
            "desktop_release",
            "desktop_status",
            "desktop_wait",
            "display_screenshot",
            "run_amend",
            "run_cancel",
            "run_finish"
        ]
    );
    let tool = |name: &str| tools.iter().find(|t| t.name == name).unwrap();
    let status_tool = tool("desktop_status");
    assert_eq!(
        status_tool.annotations.as_ref().unwrap().read_only_hint,
        Some(true)
    );
    assert!(
        status_tool
            .description
            .as_deref()
            .unwrap()
            .contains("changes nothing")
    );
    // Arguments are described, with what is required.
    let input = serde_json::to_value(&*tool("desktop_input").input_schema).unwrap();
    assert_eq!(input["required"], json!(["actions"]));
    let schema_text = input.to_string();
    for kind in ["move", "click", "type", "key", "scroll", "wait"] {
        assert!(
            schema_text.contains(&format!("\"{kind}\"")),
            "{kind} missing: {schema_text}"
        );
    }
    let cancel = serde_json::to_value(&*tool("run_cancel").input_schema).unwrap();
    assert_eq!(cancel["required"], json!(["run_id", "reason"]));

    let before = d.status();
    let text = agent.ok("desktop_status", json!({})).await;
    assert!(text.contains("The desktop is free."), "{text}");
    assert!(text.contains("This session has no run"), "{text}");
    assert_eq!(d.status(), before, "asking changed the status");
    assert!(d.history().is_empty(), "asking made a run");
    agent.end().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_second_agent_is_queued_honestly_and_granted_when_the_first_releases() {
    let d = Daemon::start();
    let a = Session::start(&d.dir, "agent-a", &[]).await;
    let b = Session::start(&d.dir, "agent-b", &[]).await;

    let text = a
        .ok("desktop_acquire", json!({ "title": "fill the form" }))
        .await;
    assert!(text.contains("holds the desktop"), "{text}");
    let run_a = run_of(&d, "agent-a")["id"].as_i64().unwrap();
    assert_eq!(d.holder_id(), Some(run_a));

    let text = b.ok("desktop_acquire", json!({ "title": "book" })).await;
    assert!(
        text.contains("queued behind 'fill the form' (agent-a), position 1"),
        "{text}"
    );
    assert!(text.contains("desktop_wait"), "{text}");
    // Not holding: its input is refused before anything runs.
    let text = b
        .refused("desktop_input", json!({ "actions": [{ "kind": "click" }] }))
        .await;
    assert!(text.contains("does not hold the desktop"), "{text}");

    // B waits; it is told where it stands while it waits, and granted when A releases.
    let b = Arc::new(b);
    let waiter = {
        let b = b.clone();
        tokio::spawn(async move { b.call("desktop_wait", json!({ "seconds": 30 })).await })
    };
    let started = Instant::now();
    while b.progress.lock().unwrap().is_empty() {
        assert!(started.elapsed() < Duration::from_secs(10), "no progress");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        b.progress.lock().unwrap()[0].contains("queued behind 'fill the form'"),
        "{:?}",
        b.progress.lock().unwrap()
    );
    assert!(!waiter.is_finished());
    let text = a.ok("desktop_release", json!({})).await;
    assert!(text.contains("Released"), "{text}");
    let (refused, text) = waiter.await.unwrap();
    assert!(!refused && text.contains("holds the desktop"), "{text}");
    let run_b = run_of(&d, "agent-b")["id"].as_i64().unwrap();
    assert_eq!(d.holder_id(), Some(run_b));

    // A run can never cancel itself, and is not among its own cancel targets.
    let targets = b.ok("cancel_targets", json!({})).await;
    assert!(targets.contains(&format!("run #{run_a}")), "{targets}");
    assert!(!targets.contains(&format!("run #{run_b}")), "{targets}");
    let before = d.status();
    let text = b
        .refused(
            "run_cancel",
            json!({ "run_id": run_b, "reason": "the user said stop" }),
        )
        .await;
    assert!(text.contains("itself"), "{text}");
    assert_eq!(
        d.status(),
        before,
        "a refused self-cancel changed something"
    );

    // Relaying the user's stop for another run is recorded as such.
    b.ok(
        "run_cancel",
        json!({ "run_id": run_a, "reason": "the user said stop" }),
    )
    .await;
    let record = d.run_record(run_a);
    assert_eq!(record["state"], "cancelled");
    assert_eq!(record["cancelled_by"], format!("run:{run_b}"));
    // The cancelled session is refused the desktop from now on.
    let text = a.refused("desktop_acquire", json!({})).await;
    assert!(text.contains("stopped this session's run"), "{text}");

    // The session's end ends its run and hands the desktop on.
    Arc::into_inner(b).unwrap().end().await;
    d.wait_status("the desktop free", Duration::from_secs(10), |s| {
        s["desktop"]["holder"].is_null()
    });
    assert_eq!(d.run_record(run_b)["state"], "succeeded");
    a.end().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notes_reach_the_agent_and_finish_ends_the_run() {
    let d = Daemon::start();
    let a = Session::start(&d.dir, "agent-a", &[]).await;
    a.ok("desktop_acquire", json!({ "title": "write the report" }))
        .await;
    let id = run_of(&d, "agent-a")["id"].as_i64().unwrap();
    let out = d.run(&["amend", &id.to_string(), "use the 2025 figures"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let started = Instant::now();
    loop {
        let text = a.ok("desktop_status", json!({})).await;
        if text.contains("use the 2025 figures") {
            assert!(text.contains("from user:cli"), "{text}");
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "no note: {text}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // A note is shown once.
    let text = a.ok("desktop_status", json!({})).await;
    assert!(!text.contains("2025 figures"), "{text}");

    let text = a
        .ok(
            "run_finish",
            json!({ "outcome": "failed", "note": "the form is gone" }),
        )
        .await;
    assert!(text.contains("failed"), "{text}");
    let record = d.run_record(id);
    assert_eq!(record["state"], "failed");
    assert_eq!(record["outcome"], "the form is gone");
    assert!(d.holder_id().is_none());
    // After a finish, a new acquire is a new run.
    a.ok("desktop_acquire", json!({})).await;
    assert_ne!(d.holder_id(), Some(id));
    a.end().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_calls_get_clear_errors_and_change_nothing() {
    let d = Daemon::start();
    let a = Session::start(&d.dir, "agent-a", &[]).await;
    let before = d.status();

    let error = a.try_call("desktop_grab", json!({})).await.unwrap_err();
    assert!(
        error.to_string().contains("unknown tool 'desktop_grab'"),
        "{error}"
    );
    let text = a.refused("run_cancel", json!({ "run_id": 1 })).await;
    assert!(text.contains("reason"), "{text}");
    let text = a
        .refused("desktop_acquire", json!({ "wait_seconds": "soon" }))
        .await;
    assert!(
        text.contains("wait_seconds") || text.contains("invalid type"),
        "{text}"
    );
    let text = a
        .refused("desktop_acquire", json!({ "wait_seconds": -1 }))
        .await;
    assert!(text.contains("from 0 to 600"), "{text}");
    let text = a
        .refused(
            "desktop_input",
            json!({ "actions": [{ "kind": "teleport" }] }),
        )
        .await;
    assert!(text.contains("teleport"), "{text}");
    assert_eq!(d.status(), before);
    assert!(d.history().is_empty());
    a.end().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_host_it_says_how_to_start_one_and_a_vanished_host_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let a = Session::start(dir.path(), "agent-a", &[]).await;
    // The server itself answers; its tools say what is missing.
    assert_eq!(a.client.peer().list_all_tools().await.unwrap().len(), 10);
    let text = a.refused("desktop_acquire", json!({})).await;
    assert!(text.contains("no Baton host is running"), "{text}");
    assert!(text.contains("baton daemon"), "{text}");

    // A host starts later: the same session works.
    let d = Daemon::start_in(dir.path(), &[]);
    let text = a.ok("desktop_acquire", json!({})).await;
    assert!(text.contains("holds the desktop"), "{text}");
    // The host dies under the session.
    d.signal("KILL");
    drop(d);
    let text = a.refused("desktop_status", json!({})).await;
    assert!(text.contains("no Baton host is running"), "{text}");
    let text = a
        .refused("desktop_input", json!({ "actions": [{ "kind": "click" }] }))
        .await;
    assert!(text.contains("no Baton host is running"), "{text}");
    // And `baton mcp` ends cleanly when its client goes.
    let started = Instant::now();
    a.end().await;
    assert!(started.elapsed() < Duration::from_secs(8));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_session_hands_the_desktop_on_at_once() {
    let d = Daemon::start();
    let a = Session::start(&d.dir, "agent-a", &[]).await;
    let b = Session::start(&d.dir, "agent-b", &[]).await;
    a.ok("desktop_acquire", json!({})).await;
    b.ok("desktop_acquire", json!({})).await;
    let run_a = run_of(&d, "agent-a")["id"].as_i64().unwrap();
    let run_b = run_of(&d, "agent-b")["id"].as_i64().unwrap();
    // The session's record names its process.
    let record: Value = std::fs::read_dir(d.dir.join("mcp-sessions"))
        .unwrap()
        .map(|e| serde_json::from_slice(&std::fs::read(e.unwrap().path()).unwrap()).unwrap())
        .find(|r: &Value| r["run"] == run_a)
        .unwrap();
    signal(
        u32::try_from(record["pid"].as_u64().unwrap()).unwrap(),
        "KILL",
    );
    let started = Instant::now();
    d.wait_status("the hand-off", Duration::from_secs(5), |s| {
        s["desktop"]["holder"]["id"] == run_b
    });
    eprintln!("hand-off after kill -9: {:?}", started.elapsed());
    assert_eq!(d.run_record(run_a)["state"], "expired");
    b.end().await;
}

// ----- the gating proxy ----------------------------------------------------------------------

const DESKTOP_MCP: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/harness/desktop_mcp.py");

/// `baton mcp` options for a proxy in front of the test's desktop server, logging to `log`.
fn proxy(log: &Path, options: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = options.iter().map(|s| s.to_string()).collect();
    args.extend(["--proxy", "--", "/usr/bin/python3", DESKTOP_MCP].map(String::from));
    args.push(log.display().to_string());
    args
}

async fn proxied(d: &Daemon, name: &str, log: &Path, options: &[&str]) -> Session {
    let args = proxy(log, options);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    Session::start(&d.dir, name, &args).await
}

/// A call the test desktop server recorded.
#[derive(Debug, Clone)]
struct Call {
    tool: String,
    who: String,
    start: f64,
    end: Option<f64>,
    /// The DISPLAY the server ran on.
    display: String,
}

fn calls(log: &Path) -> Vec<Call> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .map(|line| {
            let v: Value = serde_json::from_str(line).unwrap();
            Call {
                tool: v["tool"].as_str().unwrap().to_string(),
                who: v["who"].as_str().unwrap().to_string(),
                start: v["start"].as_f64().unwrap(),
                end: v["end"].as_f64(),
                display: v["display"].as_str().unwrap_or_default().to_string(),
            }
        })
        .collect()
}

const INPUT_TOOLS: [&str; 3] = ["click", "type_text", "press_key"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tool_the_server_adds_mid_session_is_announced_and_runs_gated() {
    let d = Daemon::start();
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("calls.jsonl");
    let p = proxied(&d, "agent-1", &log, &[]).await;
    let before = p.tool_names().await;
    assert!(!before.contains(&"drag_window".to_string()), "{before:?}");

    // A read: it passes without the desktop, and the server adds an input tool.
    assert_eq!(
        p.ok("show_more_tools", json!({ "who": "p" })).await,
        "show_more_tools done for p"
    );
    assert_eq!(d.holder_id(), None, "a read takes no desktop");
    p.wait_tools_changed(Duration::from_secs(10)).await;
    let after = p.tool_names().await;
    assert!(after.contains(&"drag_window".to_string()), "{after:?}");

    // The new tool runs, and as input: only once the session holds the desktop.
    assert_eq!(
        p.ok("drag_window", json!({ "who": "p" })).await,
        "drag_window done for p"
    );
    let run = run_of(&d, "agent-1")["id"].as_i64().unwrap();
    assert_eq!(
        d.holder_id(),
        Some(run),
        "the new input tool took the desktop"
    );
    assert!(
        calls(&log).iter().any(|c| c.tool == "drag_window"),
        "{:?}",
        calls(&log)
    );
    // A tool nobody listed is still refused, naming the ones there are.
    let (refused, text) = p.call("fly_away", json!({})).await;
    assert!(refused && text.contains("drag_window"), "{text}");
    p.end().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxied_input_calls_of_two_sessions_never_interleave_and_reads_pass() {
    let d = Daemon::start();
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("calls.jsonl");
    let p1 = proxied(&d, "agent-1", &log, &[]).await;
    let p2 = Arc::new(proxied(&d, "agent-2", &log, &[]).await);

    let tools = p1.client.peer().list_all_tools().await.unwrap();
    let names: Vec<_> = tools.iter().map(|t| t.name.to_string()).collect();
    for name in ["click", "screenshot", "desktop_acquire", "desktop_status"] {
        assert!(names.contains(&name.to_string()), "{name} not in {names:?}");
    }

    let text = p1.ok("click", json!({ "who": "p1" })).await;
    assert_eq!(text, "click done for p1");
    let run_1 = run_of(&d, "agent-1")["id"].as_i64().unwrap();
    assert_eq!(d.holder_id(), Some(run_1), "the session keeps the desktop");

    // Session 2's input waits in the queue, told why.
    let waiting_click = {
        let p2 = p2.clone();
        tokio::spawn(async move { p2.call("click", json!({ "who": "p2" })).await })
    };
    let started = Instant::now();
    while p2.progress.lock().unwrap().is_empty() {
        assert!(started.elapsed() < Duration::from_secs(10), "no progress");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        p2.progress.lock().unwrap()[0].contains("queued behind"),
        "{:?}",
        p2.progress.lock().unwrap()
    );
    // Its reads are not delayed.
    let asked = Instant::now();
    let text = p2.ok("screenshot", json!({ "who": "p2" })).await;
    assert_eq!(text, "screenshot done for p2");
    assert!(
        asked.elapsed() < Duration::from_secs(2),
        "{:?}",
        asked.elapsed()
    );
    assert!(!waiting_click.is_finished());

    // Session 1 goes on with its input while 2 waits.
    for tool in ["type_text", "press_key", "click", "type_text"] {
        p1.ok(tool, json!({ "who": "p1" })).await;
    }
    assert!(!waiting_click.is_finished());
    // Session 1 ends: the desktop is handed on and 2's click runs.
    p1.end().await;
    let (refused, text) = waiting_click.await.unwrap();
    assert!(!refused, "{text}");
    assert_eq!(text, "click done for p2");
    let run_2 = run_of(&d, "agent-2")["id"].as_i64().unwrap();
    assert_eq!(d.holder_id(), Some(run_2));
    p2.ok("press_key", json!({ "who": "p2" })).await;

    let recorded = calls(&log);
    let input: Vec<_> = recorded
        .iter()
        .filter(|c| INPUT_TOOLS.contains(&c.tool.as_str()))
        .collect();
    assert_eq!(input.len(), 7, "{recorded:?}");
    for a in &input {
        for b in &input {
            if a.who != b.who {
                let (a_end, b_end) = (a.end.unwrap(), b.end.unwrap());
                assert!(
                    a_end <= b.start || b_end <= a.start,
                    "input of two sessions overlapped: {a:?} {b:?}"
                );
            }
        }
    }
    let screenshot = recorded.iter().find(|c| c.tool == "screenshot").unwrap();
    let click_2 = input.iter().find(|c| c.who == "p2").unwrap();
    assert!(
        screenshot.start < click_2.start,
        "the read waited for the desktop"
    );
    Arc::into_inner(p2).unwrap().end().await;
    d.wait_status("the desktop free", Duration::from_secs(10), |s| {
        s["desktop"]["holder"].is_null()
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_desktop_server_gets_clear_errors_and_the_lease_back() {
    let d = Daemon::start();
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("calls.jsonl");
    let p = proxied(&d, "agent-1", &log, &["--call-timeout", "1"]).await;

    p.ok("click", json!({ "who": "p" })).await;
    assert!(d.holder_id().is_some());
    // A call that never answers.
    let asked = Instant::now();
    let text = p.refused("scroll_forever", json!({ "who": "p" })).await;
    assert!(
        text.contains("did not answer 'scroll_forever' within 1 s"),
        "{text}"
    );
    assert!(text.contains("given back"), "{text}");
    assert!(asked.elapsed() < Duration::from_secs(5));
    assert!(d.holder_id().is_none());

    // A server that crashes under a call.
    p.ok("click", json!({ "who": "p" })).await;
    let text = p.refused("click_and_crash", json!({ "who": "p" })).await;
    assert!(text.contains("has stopped"), "{text}");
    assert!(d.holder_id().is_none());
    let text = p.refused("screenshot", json!({ "who": "p" })).await;
    assert!(text.contains("has stopped"), "{text}");
    // Baton's own tools still answer.
    p.ok("desktop_status", json!({})).await;
    let started = Instant::now();
    p.end().await;
    assert!(started.elapsed() < Duration::from_secs(8));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_session_gives_the_desktop_back_and_a_cancelled_one_is_refused() {
    let d = Daemon::start();
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("calls.jsonl");
    let p = proxied(&d, "agent-1", &log, &["--idle", "0.5"]).await;

    p.ok("click", json!({ "who": "p" })).await;
    let id = d.holder_id().unwrap();
    d.wait_status("the idle release", Duration::from_secs(5), |s| {
        s["desktop"]["holder"].is_null()
    });
    assert_eq!(d.run_record(id)["state"], "running", "the run goes on");

    p.ok("click", json!({ "who": "p" })).await;
    assert_eq!(d.holder_id(), Some(id), "the same run, again");
    let out = d.run(&["cancel", &id.to_string()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let text = p.refused("click", json!({ "who": "p" })).await;
    assert!(text.contains("stopped this session's run"), "{text}");
    // Reads still pass.
    p.ok("list_windows", json!({ "who": "p" })).await;
    assert_eq!(
        calls(&log).iter().filter(|c| c.tool == "click").count(),
        2,
        "the refused click reached the desktop"
    );
    p.end().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_wait_in_the_queue_does_not_count_as_idle() {
    let d = Daemon::start();
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("calls.jsonl");
    let mut other = d.spawn(&["run", "--desktop", "--title", "other", "--", "sleep", "600"]);
    d.wait_status("the other holder", Duration::from_secs(10), |s| {
        s["desktop"]["holder"]["title"] == "other"
    });
    let p = proxied(&d, "agent-1", &log, &["--idle", "0.3"]).await;
    // The click waits three idle times in the queue, then the other holder dies.
    let killer = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(1)).await;
        signal(other.pid(), "KILL");
        other.wait(Duration::from_secs(10));
    });
    let text = p.ok("click", json!({ "who": "p" })).await;
    assert!(text.contains("click done"), "{text}");
    killer.await.unwrap();
    // The grant was not taken back before the click ran (the click would have been
    // interrupted); the idle release came once, after it.
    d.wait_status(
        "the idle release after the click",
        Duration::from_secs(5),
        |s| s["desktop"]["holder"].is_null(),
    );
    let id = run_of(&d, "agent-1")["id"].as_i64().unwrap();
    let kinds: Vec<String> = text_lines(&d.run(&["events", "--json"]).stdout)
        .into_iter()
        .filter(|e| e["run_id"] == id)
        .filter_map(|e| e["kind"].as_str().map(String::from))
        .collect();
    assert_eq!(
        kinds
            .iter()
            .filter(|k| *k == "granted" || *k == "released")
            .collect::<Vec<_>>(),
        ["granted", "released"],
        "{kinds:?}"
    );
    p.end().await;
}

fn text_lines(bytes: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(bytes)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_desktop_server_that_dies_between_calls_gives_the_desktop_back() {
    let d = Daemon::start();
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("calls.jsonl");
    // --idle 0: the session would keep the desktop until it ends.
    let p = proxied(&d, "agent-1", &log, &["--idle", "0"]).await;
    p.ok("click_then_exit", json!({ "who": "p" })).await;
    assert!(d.holder_id().is_some());
    tokio::time::sleep(Duration::from_secs(1)).await;
    let text = p.refused("screenshot", json!({ "who": "p" })).await;
    assert!(text.contains("has stopped"), "{text}");
    assert!(text.contains("given back"), "{text}");
    assert!(d.holder_id().is_none());
    p.end().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_ends_baton_mcp_even_when_the_host_is_frozen() {
    let d = Daemon::start();
    let a = Session::start(&d.dir, "agent-a", &[]).await;
    a.ok("desktop_acquire", json!({})).await;
    d.signal("STOP");
    signal(a.pid, "TERM");
    let started = Instant::now();
    while alive(a.pid) {
        assert!(
            started.elapsed() < Duration::from_secs(6),
            "baton mcp still runs after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    d.signal("CONT");
}

// ----- the Claude Code hook ------------------------------------------------------------------

const HOOK_INPUT: &str = r#"{"session_id":"abc123","transcript_path":"/tmp/t.jsonl","cwd":"/tmp","permission_mode":"default","hook_event_name":"PreToolUse","tool_name":"mcp__playwright__browser_click","tool_input":{"element":"Submit"},"tool_use_id":"toolu_1"}"#;

/// Runs the hook as Claude Code does: JSON on stdin. How long it took, and what it printed
/// (nothing: the tool runs; else the refusal).
fn hook(dir: &Path, input: &str) -> (Duration, Option<String>) {
    let started = Instant::now();
    let mut child = baton_in(dir)
        .args(["hook", "claude-code"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The hook may exit before it reads its input (its input deadline).
    let mut stdin = child.stdin.take().unwrap();
    feed(&mut stdin, input.as_bytes());
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    let took = started.elapsed();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    if stdout.trim().is_empty() {
        return (took, None);
    }
    let answer: Value = serde_json::from_str(stdout.trim()).unwrap();
    let output = &answer["hookSpecificOutput"];
    assert_eq!(output["hookEventName"], "PreToolUse");
    assert_eq!(output["permissionDecision"], "deny");
    (
        took,
        Some(
            output["permissionDecisionReason"]
                .as_str()
                .unwrap()
                .to_string(),
        ),
    )
}

fn denied(dir: &Path, input: &str) -> String {
    let (took, reason) = hook(dir, input);
    assert!(took < Duration::from_secs(1), "the hook took {took:?}");
    reason.expect("the hook let the tool run")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_claude_code_hook_answers_within_a_second_both_ways() {
    let d = Daemon::start();
    let reason = denied(&d.dir, HOOK_INPUT);
    assert!(
        reason.contains("mcp__playwright__browser_click"),
        "{reason}"
    );
    assert!(reason.contains("desktop_acquire"), "{reason}");
    let reason = denied(&d.dir, "not json");
    assert!(reason.contains("PreToolUse JSON"), "{reason}");

    // Someone else holds the desktop; this agent's session queues.
    let mut holder = d.spawn(&[
        "run",
        "--desktop",
        "--title",
        "pay the bills",
        "--",
        "sleep",
        "60",
    ]);
    d.wait_status("the holder", Duration::from_secs(10), |s| {
        !s["desktop"]["holder"].is_null()
    });
    let a = Session::start(&d.dir, "claude-code", &[]).await;
    a.ok("desktop_acquire", json!({})).await;
    let reason = denied(&d.dir, HOOK_INPUT);
    assert!(
        reason.contains("queued behind 'pay the bills' (cli), position 1"),
        "{reason}"
    );

    // Granted: the tool may run, and the hook says so at once.
    signal(holder.pid(), "TERM");
    holder.wait(Duration::from_secs(10));
    let run = run_of(&d, "claude-code")["id"].as_i64().unwrap();
    d.wait_status("the grant", Duration::from_secs(10), |s| {
        s["desktop"]["holder"]["id"] == run
    });
    let (took, reason) = hook(&d.dir, HOOK_INPUT);
    assert_eq!(reason, None);
    assert!(took < Duration::from_secs(1), "the hook took {took:?}");

    // A host that does not answer: the hook still answers in time (refusing).
    d.signal("STOP");
    let reason = denied(&d.dir, HOOK_INPUT);
    d.signal("CONT");
    assert!(reason.contains("did not answer in time"), "{reason}");
    a.end().await;

    // No host at all.
    drop(d);
    let dir = tempfile::tempdir().unwrap();
    let reason = denied(dir.path(), HOOK_INPUT);
    assert!(reason.contains("no Baton host is running"), "{reason}");
}

#[test]
fn the_hook_refuses_in_time_when_its_input_never_ends() {
    let d = Daemon::start();
    let started = Instant::now();
    let mut child = baton_in(&d.dir)
        .args(["hook", "claude-code"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // Half an input, and stdin left open; the hook may already have given up on it.
    let mut stdin = child.stdin.take().unwrap();
    feed(&mut stdin, &HOOK_INPUT.as_bytes()[..40]);
    let status = wait_timeout(&mut child, Duration::from_secs(5)).expect("the hook hung");
    let took = started.elapsed();
    drop(stdin);
    assert!(status.success());
    assert!(took < Duration::from_millis(1500), "the hook took {took:?}");
    let mut out = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut out).unwrap();
    let answer: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(answer["hookSpecificOutput"]["permissionDecision"], "deny");
}

#[test]
fn explain_lists_what_the_proxy_gates_and_a_server_that_claims_read_only_is_not_believed() {
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("calls.jsonl");
    let explain = |extra: &[&str]| {
        let mut args = vec!["mcp".to_string(), "--explain".to_string()];
        args.extend(extra.iter().map(|s| s.to_string()));
        args.extend(proxy(&log, &[]));
        let out = crate::common::baton_in(tmp.path())
            .args(&args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", crate::common::text(&out.stderr));
        crate::common::text(&out.stdout)
    };
    let line = |text: &str, tool: &str| -> String {
        text.lines()
            .find(|l| l.contains(&format!(" {tool}: ")))
            .unwrap_or_else(|| panic!("{tool} not listed: {text}"))
            .to_string()
    };
    let text = explain(&[]);
    assert!(
        line(&text, "click").contains("GATED")
            && line(&text, "click").contains("'click' drives input")
    );
    assert!(line(&text, "screenshot").contains("passes"));
    // An unknown tool that says it only reads waits for the desktop anyway.
    let computer = line(&text, "computer");
    assert!(
        computer.contains("GATED") && computer.contains("no word of its name says it only reads"),
        "{computer}"
    );
    // Unless the user trusts the server's hints, or names it.
    assert!(line(&explain(&["--trust-read-only-hints"]), "computer").contains("passes"));
    assert!(line(&explain(&["--no-gate", "computer"]), "computer").contains("passes"));
    // Nothing was called.
    assert!(calls(&log).is_empty());
}

/// `baton mcp --proxy --resource NAME`: a server's acting tools wait for the named resource,
/// not the desktop (a Playwright server on its browser profile); a plain session acquires a
/// named resource through desktop_acquire.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proxy_gates_a_server_on_a_named_resource() {
    let d = Daemon::start();
    let out = d.run(&["resource", "add", "browser:work"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("calls.jsonl");
    let gate = ["--resource", "browser:work"];
    let p1 = proxied(&d, "agent-1", &log, &gate).await;
    let p2 = Arc::new(proxied(&d, "agent-2", &log, &gate).await);

    assert_eq!(
        p1.ok("click", json!({ "who": "p1" })).await,
        "click done for p1"
    );
    let run_1 = run_of(&d, "agent-1");
    assert_eq!(run_1["resources"], json!(["browser:work"]));
    assert_eq!(d.holder_id(), None, "the desktop stays free");

    // Session 2's acting call waits for the browser, told for what and behind whom.
    let waiting = {
        let p2 = p2.clone();
        tokio::spawn(async move { p2.call("click", json!({ "who": "p2" })).await })
    };
    let started = Instant::now();
    while p2.progress.lock().unwrap().is_empty() {
        assert!(started.elapsed() < Duration::from_secs(10), "no progress");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let said = p2.progress.lock().unwrap()[0].clone();
    assert!(said.contains("for 'browser:work', position 1"), "{said}");
    // A desktop session meanwhile is not held up by the browser's queue.
    let plain = Session::start(&d.dir, "agent-3", &[]).await;
    let text = plain.ok("desktop_acquire", json!({})).await;
    assert!(text.contains("holds the desktop"), "{text}");
    plain.ok("desktop_release", json!({})).await;
    assert!(!waiting.is_finished());

    p1.end().await;
    let (refused, text) = waiting.await.unwrap();
    assert!(!refused, "{text}");
    assert_eq!(text, "click done for p2");

    // A plain session asks for the browser by name; a name that is none is refused with the
    // known ones.
    let text = plain
        .refused("desktop_acquire", json!({ "resources": ["browser:wrok"] }))
        .await;
    assert!(text.contains("browser:work"), "{text}");
    let text = plain
        .ok(
            "desktop_acquire",
            json!({ "resources": ["browser:work"], "title": "compare prices" }),
        )
        .await;
    assert!(text.contains("for 'browser:work'"), "{text}");
    p2.ok("desktop_release", json!({})).await;
    let text = plain.ok("desktop_wait", json!({ "seconds": 10 })).await;
    assert!(
        text.contains("holds 'browser:work' (lease token 3)"),
        "{text}"
    );
    plain.end().await;
}

/// CPU time a process has used so far, in clock ticks (user and system, from /proc).
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let (_, rest) = stat.rsplit_once(") ").unwrap();
    // Fields after the command: state is the 3rd of the line, utime the 14th, stime the 15th.
    let fields: Vec<&str> = rest.split(' ').collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

/// A call that waits for a slow desktop server to start waits quietly: the proxy sleeps until
/// the server answers, it does not spin.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_waiting_for_a_slow_server_to_start_costs_no_cpu() {
    let d = Daemon::start();
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("calls.jsonl");
    let slow = format!(
        "sleep 3; exec /usr/bin/python3 {DESKTOP_MCP} {}",
        log.display()
    );
    let p = Arc::new(
        Session::start(
            &d.dir,
            "agent-slow",
            &["--proxy", "--no-gate", "click", "--", "sh", "-c", &slow],
        )
        .await,
    );
    let call = {
        let p = p.clone();
        tokio::spawn(async move { p.call("click", json!({ "who": "slow" })).await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = cpu_ticks(p.pid);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let spent = cpu_ticks(p.pid) - before;
    assert!(!call.is_finished(), "the server is still starting");
    // Clock ticks are hundredths of a second: a spinning wait would spend about 200.
    assert!(
        spent <= 20,
        "the waiting proxy spent {spent} ticks of CPU in 2 s"
    );
    let (refused, answer) = tokio::time::timeout(Duration::from_secs(30), call)
        .await
        .expect("the call goes through once the server is up")
        .unwrap();
    assert!(!refused, "{answer}");
    assert_eq!(answer, "click done for slow");
    Arc::into_inner(p).unwrap().end().await;
}

/// `baton mcp --proxy --display private` when every display is taken: the session starts at
/// once with Baton's own tools, a call to one of the server's hears where its display stands
/// in line, and when the display is free the server starts, its tools are announced and the
/// call goes through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proxy_waiting_for_a_private_display_says_where_it_stands() {
    let d = Daemon::start();
    let out = d.run(&["resource", "capacity", "displays", "1"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let mut holder = run_script(
        &d,
        &["--display", "private", "-t", "the form"],
        &format!(
            "touch {dir}/held; while [ ! -f {dir}/go ]; do sleep 0.02; done",
            dir = t.display()
        ),
    );
    wait_file(&t.join("held"), Duration::from_secs(20));
    let log = t.join("calls.jsonl");
    let p = Arc::new(proxied(&d, "agent-w", &log, &["--display", "private"]).await);
    let listed = p.tool_names().await;
    assert!(listed.iter().any(|n| n == "desktop_status"), "{listed:?}");
    assert!(!listed.iter().any(|n| n == "click"), "{listed:?}");

    let call = {
        let p = p.clone();
        tokio::spawn(async move { p.call("click", json!({ "who": "w" })).await })
    };
    // It hears at once that the server is starting, then where its display's run stands.
    let started = Instant::now();
    let said = loop {
        let heard = p.progress.lock().unwrap().clone();
        if let Some(place) = heard.iter().find(|m| m.contains("queued")) {
            break place.clone();
        }
        assert!(started.elapsed() < Duration::from_secs(20), "{heard:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_says(
        &said,
        &[
            "waits for its private display",
            "queued behind 'the form'",
            "for 'displays', position 1",
        ],
    );
    assert!(!call.is_finished(), "the call waits for the display");
    assert!(calls(&log).is_empty());

    std::fs::write(t.join("go"), "").unwrap();
    assert_eq!(holder.wait(Duration::from_secs(20)).code(), Some(0));
    let (refused, answer) = tokio::time::timeout(Duration::from_secs(30), call)
        .await
        .expect("the call goes through once the display is free")
        .unwrap();
    assert!(!refused, "{answer}");
    assert_eq!(answer, "click done for w");
    p.wait_tools_changed(Duration::from_secs(20)).await;
    let listed = p.tool_names().await;
    assert!(listed.iter().any(|n| n == "click"), "{listed:?}");
    Arc::into_inner(p).unwrap().end().await;
}

/// `baton mcp --proxy --display private`: each session's server runs on a display of its own,
/// held from the pool `displays` for the session, so two sessions act at once and nobody
/// waits for the person's desktop; the displays end with the sessions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proxy_runs_each_session_s_server_on_a_private_display_of_its_own() {
    let d = Daemon::start();
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("calls.jsonl");
    let private = ["--display", "private"];
    let p1 = Arc::new(proxied(&d, "agent-1", &log, &private).await);
    let p2 = Arc::new(proxied(&d, "agent-2", &log, &private).await);
    // Both act at once: a call of session 1 that never ends holds up nothing of session 2's,
    // where a gated proxy would make it wait for the desktop.
    let hanging = {
        let p1 = p1.clone();
        tokio::spawn(async move { p1.call("scroll_forever", json!({ "who": "p1" })).await })
    };
    let started = Instant::now();
    while !calls(&log).iter().any(|c| c.tool == "scroll_forever") {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "session 1's call never reached its server"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        p2.ok("click", json!({ "who": "p2" })).await,
        "click done for p2"
    );
    assert!(!hanging.is_finished(), "session 1's call is still going");
    hanging.abort();
    let _ = hanging.await;
    let recorded = calls(&log);
    assert_eq!(recorded.len(), 2, "{recorded:?}");
    let (first, second) = (&recorded[0], &recorded[1]);
    for call in &recorded {
        assert!(call.display.starts_with(':'), "{call:?}");
    }
    assert_ne!(first.display, second.display, "a display each");
    assert_eq!(d.holder_id(), None, "the person's desktop was never taken");
    let resources = d.status()["resources"].clone();
    let displays = resources
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "displays")
        .unwrap()
        .clone();
    assert_eq!(
        displays["holders"].as_array().unwrap().len(),
        2,
        "{displays}"
    );

    // A plain session takes a display of its own, acts there and looks at it.
    let plain = Session::start(&d.dir, "agent-3", &[]).await;
    let text = plain.refused("display_screenshot", json!({})).await;
    assert!(text.contains("call desktop_acquire first"), "{text}");
    let text = plain
        .ok(
            "desktop_acquire",
            json!({ "resources": ["displays"], "title": "a form" }),
        )
        .await;
    assert!(text.contains("'displays'"), "{text}");
    plain
        .ok(
            "desktop_input",
            json!({ "actions": [{ "kind": "move", "x": 10, "y": 20 }] }),
        )
        .await;
    let shot = plain
        .try_call("display_screenshot", json!({}))
        .await
        .unwrap();
    assert_ne!(shot.is_error, Some(true), "{}", text_of(&shot));
    let image = shot.content[0].as_image().expect("an image first");
    assert_eq!(image.mime_type, "image/png");
    assert!(image.data.starts_with("iVBORw0KGgo"), "a PNG, base64");
    assert!(text_of(&shot).contains("DISPLAY=:"), "{}", text_of(&shot));
    assert_eq!(d.holder_id(), None, "the person's desktop was never taken");
    plain.end().await;

    Arc::into_inner(p1).unwrap().end().await;
    Arc::into_inner(p2).unwrap().end().await;
    let started = Instant::now();
    loop {
        let resources = d.status()["resources"].clone();
        let held = resources
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == "displays")
            .map(|r| r["holders"].as_array().unwrap().len());
        if held == Some(0) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "still held: {resources}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
