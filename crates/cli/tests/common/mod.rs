//! A harness for end-to-end tests of the real `baton` binary: a real `baton daemon` on a
//! temporary data directory, real client processes, real signals.

#![allow(dead_code, clippy::unwrap_used, clippy::print_stderr)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

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
        let mut child = baton_in(dir)
            .arg("daemon")
            .args(args)
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

/// A background process with its output collected line by line.
pub struct Proc {
    pub child: Child,
    pub stdout: Lines,
    pub stderr: Lines,
}

impl Proc {
    pub fn spawn(command: &mut Command) -> Proc {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        Proc {
            stdout: Lines::read(child.stdout.take().unwrap()),
            stderr: Lines::read(child.stderr.take().unwrap()),
            child,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn wait(&mut self, timeout: Duration) -> ExitStatus {
        let status = wait_timeout(&mut self.child, timeout).unwrap_or_else(|| {
            panic!(
                "process did not end within {timeout:?}; stderr: {:?}",
                self.stderr.all()
            )
        });
        // Let the reader threads drain what is left.
        std::thread::sleep(Duration::from_millis(50));
        status
    }

    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Lines read from a pipe by a background thread.
#[derive(Clone)]
pub struct Lines(Arc<Mutex<Vec<String>>>);

impl Lines {
    fn read(pipe: impl std::io::Read + Send + 'static) -> Lines {
        let lines = Lines(Arc::new(Mutex::new(Vec::new())));
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines() {
                let Ok(line) = line else { break };
                sink.0.lock().unwrap().push(line);
            }
        });
        lines
    }

    pub fn all(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }

    pub fn joined(&self) -> String {
        self.all().join("\n")
    }

    /// Waits for a line containing `needle` and returns it.
    pub fn wait_for(&self, needle: &str, timeout: Duration) -> String {
        let start = Instant::now();
        loop {
            if let Some(line) = self.all().into_iter().find(|l| l.contains(needle)) {
                return line;
            }
            assert!(
                start.elapsed() < timeout,
                "no line containing {needle:?} within {timeout:?}; got: {:?}",
                self.all()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

pub fn signal(pid: u32, sig: &str) {
    let status = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status()
        .unwrap();
    assert!(status.success(), "kill -{sig} {pid} failed");
}

pub fn wait_timeout(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        if start.elapsed() > timeout {
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Waits until `path` exists.
pub fn wait_file(path: &Path, timeout: Duration) {
    let start = Instant::now();
    while !path.exists() {
        assert!(
            start.elapsed() < timeout,
            "{} did not appear within {timeout:?}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Whether a process with this pid is alive (and not a zombie).
pub fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|stat| {
            let state = stat.rsplit(')').next().unwrap_or("").trim_start();
            !state.starts_with('Z')
        })
        .unwrap_or(false)
}

/// The run id `baton run` was given, read from its command's environment via a file.
pub fn read_trimmed(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap().trim().to_string()
}
