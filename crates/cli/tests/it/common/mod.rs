//! A harness for end-to-end tests of the real `baton` binary: a real `baton daemon` on a
//! temporary data directory, real client processes, real signals.

#![allow(dead_code, clippy::unwrap_used, clippy::print_stderr)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

pub use baton_testkit::*;

use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::process::ChildStdin;

pub const BATON: &str = env!("CARGO_BIN_EXE_baton");

/// A `baton` command for `dir`, with no run identity inherited from the test's environment.
pub fn baton_in(dir: &Path) -> Command {
    let mut command = Command::new(BATON);
    command
        .env("BATON_DATA_DIR", dir)
        .env_remove("BATON_URL")
        .env_remove("BATON_RUN_ID")
        .env_remove("BATON_RUN_TOKEN")
        .env_remove("BATON_LEASE_TOKEN")
        .env_remove("BATON_CLIENT")
        // X11 tests stay on their X display when run from a Wayland desktop.
        .env_remove("WAYLAND_DISPLAY")
        .env("BATON_LOG", "warn");
    command
}

/// A running `baton daemon`.
pub struct Daemon {
    pub dir: PathBuf,
    pub child: Child,
    pub log: Lines,
    _tmp: Option<tempfile::TempDir>,
}

impl Daemon {
    /// A daemon on a fresh data directory.
    pub fn start() -> Daemon {
        let tmp = tempfile::tempdir().unwrap();
        let mut daemon = Daemon::start_in(tmp.path(), &[]);
        daemon._tmp = Some(tmp);
        daemon
    }

    /// A daemon on `dir`, with extra arguments.
    pub fn start_in(dir: &Path, args: &[&str]) -> Daemon {
        Daemon::start_with(dir, args, &[])
    }

    /// A daemon on a fresh data directory that sends input to X display `display`.
    pub fn on_display(display: &str, args: &[&str]) -> Daemon {
        let tmp = tempfile::tempdir().unwrap();
        let mut daemon = Daemon::start_with(tmp.path(), args, &[("DISPLAY", display)]);
        daemon._tmp = Some(tmp);
        daemon
    }

    /// A daemon on `dir`, with extra arguments and environment.
    pub fn start_with(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Daemon {
        let mut child = baton_in(dir)
            .arg("daemon")
            .args(args)
            .envs(env.iter().copied())
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let log = Lines::read(child.stderr.take().unwrap());
        let daemon = Daemon {
            dir: dir.to_path_buf(),
            child,
            log,
            _tmp: None,
        };
        daemon.log.wait_for("serving", Duration::from_secs(20));
        daemon
    }

    pub fn baton(&self) -> Command {
        baton_in(&self.dir)
    }

    /// Runs `baton ARGS…` to completion.
    pub fn run(&self, args: &[&str]) -> Output {
        self.baton().args(args).output().unwrap()
    }

    /// Starts `baton ARGS…` in the background, capturing stdout and stderr line by line.
    pub fn spawn(&self, args: &[&str]) -> Proc {
        Proc::spawn(self.baton().args(args))
    }

    pub fn status(&self) -> Value {
        let out = self.run(&["status", "--json"]);
        assert!(out.status.success(), "status failed: {}", text(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    }

    pub fn history(&self) -> Vec<Value> {
        let out = self.run(&["history", "--json", "--limit", "1000"]);
        assert!(
            out.status.success(),
            "history failed: {}",
            text(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    pub fn run_record(&self, id: i64) -> Value {
        self.history()
            .into_iter()
            .find(|r| r["id"] == id)
            .unwrap_or_else(|| panic!("run {id} not in the history"))
    }

    /// Waits until `pred` holds for the status snapshot.
    pub fn wait_status(
        &self,
        what: &str,
        timeout: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> Value {
        let start = Instant::now();
        loop {
            let status = self.status();
            if pred(&status) {
                return status;
            }
            assert!(
                start.elapsed() < timeout,
                "timed out waiting for {what}: {status:#}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn holder_id(&self) -> Option<i64> {
        self.status()["desktop"]["holder"]["id"].as_i64()
    }

    pub fn signal(&self, sig: &str) {
        signal(self.child.id(), sig);
    }

    /// SIGTERM and wait for a clean exit.
    pub fn stop(mut self) -> ExitStatus {
        self.signal("TERM");
        wait_timeout(&mut self.child, Duration::from_secs(15)).expect("daemon did not stop")
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ----- input on a real display ---------------------------------------------------------------

const FIELDS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/harness/fields.py");

/// The directory of the `baton` binary, for commands that call `baton input` by name.
pub fn path_with_baton() -> String {
    format!(
        "{}:{}",
        std::path::Path::new(BATON).parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

/// `baton run ARGS -- sh -c SCRIPT`, with `baton` on the command's PATH.
pub fn run_script(d: &Daemon, args: &[&str], script: &str) -> Proc {
    let mut all = vec!["run"];
    all.extend_from_slice(args);
    all.extend(["--", "sh", "-c", script]);
    Proc::spawn(d.baton().env("PATH", path_with_baton()).args(&all))
}

/// Asserts that `said` (a line or a message) contains every fact, naming the missing one.
#[track_caller]
pub fn assert_says(said: &str, facts: &[&str]) {
    for fact in facts {
        assert!(said.contains(fact), "{fact:?} missing from: {said}");
    }
}

/// A window of text fields (tests/harness/fields.py) on `display`.
pub struct Fields {
    child: Child,
    stdin: ChildStdin,
    lines: std::io::Lines<BufReader<std::process::ChildStdout>>,
    pub centres: Vec<(i32, i32)>,
}

impl Fields {
    pub fn open(display: &str, count: usize) -> Fields {
        let mut child = Command::new("/usr/bin/python3")
            .arg(FIELDS)
            .arg(count.to_string())
            .env("DISPLAY", display)
            .env("NO_AT_BRIDGE", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let first: Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
        let centres = first
            .as_array()
            .unwrap()
            .iter()
            .map(|c| (c[0].as_i64().unwrap() as i32, c[1].as_i64().unwrap() as i32))
            .collect();
        Fields {
            child,
            stdin,
            lines,
            centres,
        }
    }

    pub fn texts(&mut self) -> Vec<String> {
        writeln!(self.stdin, "dump").unwrap();
        let line = self.lines.next().unwrap().unwrap();
        serde_json::from_str(&line).unwrap()
    }
}

impl Drop for Fields {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Fields {
    /// Empties every field.
    pub fn clear(&mut self) {
        writeln!(self.stdin, "clear").unwrap();
        let line = self.lines.next().unwrap().unwrap();
        assert_eq!(line.trim(), "cleared");
    }
}

/// Writes `input` to a child's stdin. A child may exit before it reads its input (a deadline,
/// a failpoint), and then the write fails with BrokenPipe: that is the child's answer, for the
/// caller to check, not the test's error. Any other failure is.
pub fn feed(stdin: &mut ChildStdin, input: &[u8]) {
    if let Err(e) = stdin.write_all(input) {
        assert_eq!(
            e.kind(),
            std::io::ErrorKind::BrokenPipe,
            "writing the child's input failed: {e}"
        );
    }
}

/// A runtime for tests that are many clients at once.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// `PRAGMA integrity_check` of a host's database, and every run's state, read straight from
/// the file (read-only, so the reading changes nothing).
pub fn inspect_db(db: &Path) -> (String, std::collections::HashMap<i64, String>) {
    use sqlx::ConnectOptions;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut conn = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(db)
            .read_only(true)
            .connect()
            .await
            .unwrap();
        let check = sqlx::query_scalar("PRAGMA integrity_check")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        let runs: Vec<(i64, String)> = sqlx::query_as("SELECT id, state FROM runs")
            .fetch_all(&mut conn)
            .await
            .unwrap();
        (check, runs.into_iter().collect())
    })
}
