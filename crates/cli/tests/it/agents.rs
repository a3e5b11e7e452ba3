//! The README's recipes, tried with the real agents. Claude Code and Codex (pinned in
//! `tests/agents/package.json`; `make test` installs them) run offline against a scripted model
//! (`harness/fake_model.py`), with Baton plugged in exactly as the README says: `claude mcp add`,
//! `codex mcp add`, the gating proxy, and the Claude Code `PreToolUse` hook in
//! `~/.claude/settings.json`. What the agent was told comes back through the model's log.
//!
//! `BATON_TEST_AGENTS` may name another directory holding `claude` and `codex`.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;
use serde_json::{Value, json};

const HARNESS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/harness");

fn agents_bin() -> PathBuf {
    let dir = std::env::var_os("BATON_TEST_AGENTS").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/agents/node_modules/.bin"),
        PathBuf::from,
    );
    assert!(
        dir.join("claude").exists() && dir.join("codex").exists(),
        "the real agents are not installed in {}: run `npm ci` in crates/cli/tests/agents \
         (make test does)",
        dir.display()
    );
    dir
}

/// A user's machine in miniature: a home directory whose default Baton data directory a real
/// `baton daemon` serves, and `baton`, `claude` and `codex` on the PATH.
struct Machine {
    home: tempfile::TempDir,
    daemon: Daemon,
    path: String,
}

impl Machine {
    fn start() -> Machine {
        let home = tempfile::tempdir().unwrap();
        let data = home.path().join(".local/share/baton");
        let daemon = Daemon::start_in(&data, &[]);
        let path = format!("{}:{}", agents_bin().display(), path_with_baton());
        Machine { home, daemon, path }
    }

    /// A command as the user would type it: only the home directory and the PATH are set, so
    /// every tool finds Baton by its default data directory, as it would for them.
    fn command(&self, program: &str) -> Command {
        let mut command = Command::new(program);
        command
            .current_dir(self.home.path())
            .env_clear()
            .env("HOME", self.home.path())
            .env("PATH", &self.path)
            .env("LANG", "C.UTF-8")
            .env("BATON_LOG", "warn");
        command
    }

    fn run(&self, program: &str, args: &[&str]) -> Output {
        let out = self.command(program).args(args).output().unwrap();
        assert!(
            out.status.success(),
            "{program} {args:?} failed: {}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
        out
    }

    /// Another agent holding the desktop with `baton run --desktop`, until it is killed.
    fn other_holder(&self) -> Proc {
        let holder = self.daemon.spawn(&[
            "run",
            "--desktop",
            "--title",
            "other agent",
            "--client",
            "someone-else",
            "--",
            "sleep",
            "600",
        ]);
        self.daemon
            .wait_status("the other agent to hold the desktop", SECS_10, |s| {
                s["desktop"]["holder"]["title"] == "other agent"
            });
        holder
    }
}

const SECS_10: Duration = Duration::from_secs(10);

/// The scripted model: the agent calls the plan's tools in order, then stops.
struct Model {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Model {
    fn start(dir: &Path, plan: Value) -> Model {
        let plan_file = dir.join("plan.json");
        std::fs::write(&plan_file, plan.to_string()).unwrap();
        let log = dir.join("model.log");
        let mut child = Command::new("/usr/bin/python3")
            .arg(format!("{HARNESS}/fake_model.py"))
            .arg(&plan_file)
            .arg(&log)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line.trim().parse().unwrap();
        Model { child, port, log }
    }

    /// What the agent sent back for each tool call so far: (tool, text, refused).
    fn results(&self) -> Vec<(String, String, bool)> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(|line| {
                let v: Value = serde_json::from_str(line).unwrap();
                (
                    v["tool"].as_str().unwrap().to_string(),
                    v["text"].as_str().unwrap().to_string(),
                    v["is_error"].as_bool().unwrap(),
                )
            })
            .collect()
    }

    fn wait_results(&self, count: usize, timeout: Duration) -> Vec<(String, String, bool)> {
        let start = Instant::now();
        loop {
            let results = self.results();
            if results.len() >= count {
                return results;
            }
            assert!(
                start.elapsed() < timeout,
                "the agent sent {} tool results, not {count}: {results:#?}",
                results.len()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Model {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The desktop tools the test's desktop server ran (click, screenshot, …), in order.
fn desktop_calls(log: &Path) -> Vec<String> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .map(|line| {
            serde_json::from_str::<Value>(line).unwrap()["tool"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect()
}

fn run_of(d: &Daemon, client: &str) -> Value {
    d.history()
        .into_iter()
        .find(|r| r["client"] == client)
        .unwrap_or_else(|| panic!("no run of {client}: {:#?}", d.history()))
}

/// Claude Code with `claude mcp add --scope user baton -- baton mcp`, a desktop MCP server of
/// its own, and the README's hook guarding that server's tools: the hook refuses the desktop
/// tool until the session holds the desktop, says honestly whom it is queued behind, and lets
/// the tool through once Baton grants the desktop.
#[test]
fn claude_code_with_baton_mcp_and_the_hook() {
    let m = Machine::start();
    let tmp = tempfile::tempdir().unwrap();
    let desk_log = tmp.path().join("desk.log");

    m.run(
        "claude",
        &[
            "mcp", "add", "--scope", "user", "baton", "--", "baton", "mcp",
        ],
    );
    let desk = format!("{HARNESS}/desktop_mcp.py");
    let desk_log_arg = desk_log.display().to_string();
    m.run(
        "claude",
        &[
            "mcp",
            "add",
            "--scope",
            "user",
            "desk",
            "--",
            "python3",
            &desk,
            &desk_log_arg,
        ],
    );
    // The health check connects to each server as Claude Code does; it starts no run.
    let list = text(&m.run("claude", &["mcp", "list"]).stdout);
    assert!(
        list.lines()
            .any(|l| l.starts_with("baton: baton mcp") && l.contains("Connected")),
        "claude mcp list: {list}"
    );
    assert!(
        m.daemon.history().is_empty(),
        "the health check started a run"
    );

    // The README's hook, verbatim.
    std::fs::create_dir_all(m.home.path().join(".claude")).unwrap();
    std::fs::write(
        m.home.path().join(".claude/settings.json"),
        json!({"hooks": {"PreToolUse": [{
            "matcher": "mcp__desk__.*",
            "hooks": [{"type": "command", "command": "baton hook claude-code"}]
        }]}})
        .to_string(),
    )
    .unwrap();

    let mut other = m.other_holder();
    let model = Model::start(
        tmp.path(),
        json!([
            {"tool": "mcp__desk__click", "input": {"who": "claude"}},
            {"tool": "mcp__baton__desktop_acquire", "input": {"title": "click the button"}},
            {"tool": "mcp__desk__click", "input": {"who": "claude"}},
            {"tool": "mcp__baton__desktop_wait", "input": {"seconds": 60}},
            {"tool": "mcp__desk__click", "input": {"who": "claude"}},
            {"tool": "mcp__baton__desktop_release", "input": {}},
        ]),
    );
    let mut claude = m
        .command("claude")
        .args([
            "-p",
            "Click the button on the desktop.",
            "--allowedTools",
            "mcp__baton__desktop_acquire,mcp__baton__desktop_wait,\
             mcp__baton__desktop_release,mcp__desk__click",
        ])
        .env(
            "ANTHROPIC_BASE_URL",
            format!("http://127.0.0.1:{}", model.port),
        )
        .env("ANTHROPIC_API_KEY", "sk-test")
        .env("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();

    // Queued behind the other agent: the hook refuses the click, saying so; nothing clicked.
    let results = model.wait_results(3, Duration::from_secs(90));
    let (tool, text0, refused) = &results[0];
    assert_eq!(tool, "mcp__desk__click");
    assert!(*refused && text0.contains("desktop_acquire"), "{text0}");
    let (_, acquired, _) = &results[1];
    assert!(
        acquired.contains("queued behind 'other agent' (someone-else), position 1"),
        "{acquired}"
    );
    let (_, text2, refused) = &results[2];
    assert!(*refused, "the hook let a queued session click: {text2}");
    assert!(text2.contains("queued behind 'other agent'"), "{text2}");
    assert!(desktop_calls(&desk_log).is_empty());

    // The other agent dies; Claude Code's wait ends with the grant and its click goes through.
    signal(other.pid(), "KILL");
    other.wait(SECS_10);
    let status = finish(&mut claude, Duration::from_secs(90));
    let results = model.results();
    assert!(
        status.success(),
        "claude -p failed; tool results: {results:#?}"
    );
    assert_eq!(results.len(), 6, "{results:#?}");
    assert!(
        results[3].1.contains("holds the desktop"),
        "{}",
        results[3].1
    );
    assert_eq!(
        results[4],
        (
            "mcp__desk__click".into(),
            "click done for claude".into(),
            false
        )
    );
    assert_eq!(desktop_calls(&desk_log), ["click"]);

    let run = run_of(&m.daemon, "claude-code");
    assert_eq!(run["title"], "click the button");
    assert_eq!(run["state"], "succeeded", "{run:#}");
    assert!(run["lease_token"].as_i64().unwrap() >= 2, "{run:#}");
    assert!(m.daemon.status()["desktop"]["holder"].is_null());
}

/// Codex with the README's `config.toml` lines (written by `codex mcp add`), and a desktop MCP
/// server gated by `baton mcp --proxy`: its screenshot passes while another agent holds the
/// desktop, its click waits in the queue and runs once the desktop is handed on.
#[test]
fn codex_with_baton_mcp_and_a_gated_desktop_server() {
    let m = Machine::start();
    let tmp = tempfile::tempdir().unwrap();
    let desk_log = tmp.path().join("desk.log");
    let mut other = m.other_holder();
    let model = Model::start(
        tmp.path(),
        json!([
            {"tool": "mcp__baton__desktop_status", "input": {}},
            {"tool": "mcp__desk__screenshot", "input": {"who": "codex"}},
            {"tool": "mcp__desk__click", "input": {"who": "codex"}},
        ]),
    );

    // The model provider first (top-level keys), then the recipe's own commands.
    let config = m.home.path().join(".codex/config.toml");
    std::fs::create_dir_all(config.parent().unwrap()).unwrap();
    std::fs::write(
        &config,
        format!(
            "model = \"scripted\"\nmodel_provider = \"scripted\"\n\n\
             [model_providers.scripted]\nname = \"scripted\"\n\
             base_url = \"http://127.0.0.1:{}/v1\"\nwire_api = \"responses\"\n",
            model.port
        ),
    )
    .unwrap();
    m.run("codex", &["mcp", "add", "baton", "--", "baton", "mcp"]);
    let desk = format!("{HARNESS}/desktop_mcp.py");
    let desk_log_arg = desk_log.display().to_string();
    m.run(
        "codex",
        &[
            "mcp",
            "add",
            "desk",
            "--",
            "baton",
            "mcp",
            "--proxy",
            "--",
            "python3",
            &desk,
            &desk_log_arg,
        ],
    );
    let mut written = std::fs::read_to_string(&config).unwrap();
    // `codex exec` has nobody to ask, so the desktop server's tools are approved up front.
    written = written.replace(
        "[mcp_servers.desk]\n",
        "[mcp_servers.desk]\ndefault_tools_approval_mode = \"approve\"\n",
    );
    std::fs::write(&config, &written).unwrap();
    assert!(
        written.contains("[mcp_servers.baton]\ncommand = \"baton\"\nargs = [\"mcp\"]\n"),
        "codex wrote something else than the README shows:\n{written}"
    );

    let mut codex = m
        .command("codex")
        .args([
            "exec",
            "--skip-git-repo-check",
            "-s",
            "read-only",
            "Click the button.",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();

    // Status and the screenshot pass at once; the click waits for the other agent.
    let results = model.wait_results(2, Duration::from_secs(90));
    assert!(
        results[0].1.contains("held by") || results[0].1.contains("other agent"),
        "{}",
        results[0].1
    );
    assert!(
        results[1].1.contains("screenshot done for codex"),
        "{}",
        results[1].1
    );
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(
        desktop_calls(&desk_log),
        ["screenshot"],
        "the click did not wait"
    );
    assert_eq!(model.results().len(), 2);
    let queued = m.daemon.status();
    assert_eq!(
        queued["desktop"]["queue"][0]["client"], "codex",
        "{queued:#}"
    );

    signal(other.pid(), "KILL");
    other.wait(SECS_10);
    let status = finish(&mut codex, Duration::from_secs(90));
    let results = model.results();
    assert!(
        status.success(),
        "codex exec failed; tool results: {results:#?}"
    );
    assert_eq!(results.len(), 3, "{results:#?}");
    assert!(
        results[2].1.contains("click done for codex"),
        "{}",
        results[2].1
    );
    assert_eq!(desktop_calls(&desk_log), ["screenshot", "click"]);

    // Codex ended its MCP sessions: the proxy's run gave the desktop back and succeeded.
    let run = m
        .daemon
        .wait_status("the proxy to give the desktop back", SECS_10, |s| {
            s["desktop"]["holder"].is_null()
        });
    drop(run);
    let proxied = run_of(&m.daemon, "codex");
    assert_eq!(proxied["state"], "succeeded", "{proxied:#}");
}

/// Waits for the agent to exit; one that hangs is killed and its output shown.
fn finish(agent: &mut Child, timeout: Duration) -> std::process::ExitStatus {
    if let Some(status) = wait_timeout(agent, timeout) {
        return status;
    }
    let _ = agent.kill();
    let _ = agent.wait();
    let mut all = String::new();
    for pipe in [
        agent
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn std::io::Read>),
        agent
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn std::io::Read>),
    ]
    .into_iter()
    .flatten()
    {
        let mut pipe = pipe;
        let _ = pipe.read_to_string(&mut all);
    }
    panic!("the agent hung: {all}");
}
