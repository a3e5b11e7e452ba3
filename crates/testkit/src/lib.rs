//! Helpers for Baton's end-to-end tests, shared by the CLI's and the tray app's suites: a
//! background process with its output collected line by line, waiting for files and lines,
//! signals, finding the workspace's binaries, a private X display, and reproducible randomness
//! for the random-sequence tests.

#![allow(clippy::unwrap_used, clippy::missing_panics_doc)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A background process with its output collected line by line.
#[derive(Debug)]
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
#[derive(Debug, Clone)]
pub struct Lines(Arc<Mutex<Vec<String>>>);

impl Lines {
    /// Collects the lines of `pipe` from now on.
    pub fn read(pipe: impl std::io::Read + Send + 'static) -> Lines {
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

    /// Waits until `count` lines contain `needle`: the same line said once per request, and
    /// a request's line does not say which one it answers.
    pub fn wait_count(&self, needle: &str, count: usize, timeout: Duration) {
        let start = Instant::now();
        loop {
            let found = self.all().iter().filter(|l| l.contains(needle)).count();
            if found >= count {
                return;
            }
            assert!(
                start.elapsed() < timeout,
                "{found} lines containing {needle:?} within {timeout:?}, not {count}; got: {:?}",
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

/// A file's content, trimmed.
/// The line a script wrote to `path` with `echo … > path`, trimmed: waits until it is whole.
/// The shell creates the file empty before it writes, so a file that exists may not hold its
/// line yet.
pub fn read_written(path: &Path) -> String {
    let start = Instant::now();
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        if text.ends_with('\n') {
            return text.trim().to_string();
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{} never held a whole line: {text:?}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

pub fn read_trimmed(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap().trim().to_string()
}

/// A binary of this workspace, next to the running test's own executable
/// (`target/<profile>/NAME`). `cargo test --workspace` builds them all before running tests.
pub fn workspace_bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(Path::parent).unwrap();
    let bin = dir.join(name);
    assert!(
        bin.exists(),
        "{} is missing: build it first (cargo build --workspace --bins)",
        bin.display()
    );
    bin
}

/// A virtual X display for a test, on a display number Xvfb picks itself (`-displayfd`), so
/// tests can run side by side. Stopped when dropped.
#[derive(Debug)]
pub struct Xvfb {
    child: Child,
    /// `:N`, for `DISPLAY`.
    pub display: String,
}

impl Xvfb {
    /// Starts a 1280x800 screen.
    pub fn start() -> Xvfb {
        Xvfb::with_args(&[])
    }

    /// The same screen without the X extension `name` (`RECORD`, say): a display that lacks
    /// what Baton would use.
    pub fn without(name: &str) -> Xvfb {
        Xvfb::with_args(&["-extension", name])
    }

    fn with_args(extra: &[&str]) -> Xvfb {
        let mut child = Command::new("Xvfb")
            .args([
                "-displayfd",
                "1",
                "-screen",
                "0",
                "1280x800x24",
                "-nolisten",
                "tcp",
            ])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("Xvfb is missing: run 'make test' (it installs what these tests need)");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        Xvfb {
            child,
            display: format!(":{}", line.trim()),
        }
    }

    /// Where the pointer is, by xdotool.
    pub fn pointer(&self) -> (i32, i32) {
        let out = Command::new("xdotool")
            .env("DISPLAY", &self.display)
            .args(["getmouselocation", "--shell"])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        let field = |name: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(-1)
        };
        (field("X="), field("Y="))
    }
}

impl Drop for Xvfb {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ----- reproducible randomness for the random-sequence tests --------------------------------

/// A small xorshift generator: the torture and random-request tests need reproducible
/// randomness, not a crate for it.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed | 1)
    }

    /// Seeded from `$var` when it is set (to replay a failed run), else from the clock. The
    /// seed is printed, so that any run can be replayed.
    pub fn from_env(var: &str) -> Rng {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64;
        let seed = env_number(var, now);
        eprintln!("{var}={seed}");
        Rng::new(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// A number from the environment (a test's rounds, seconds or seed), or `default`.
pub fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
