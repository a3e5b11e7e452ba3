//! A private desktop for end-to-end tests of the real tray app: Xvfb on a display it picks
//! itself, a private D-Bus session bus, dunst as the real notification daemon (`-print`), and a
//! stand-in tray host (`harness/tray_host.py`). Everything lives in a scratch folder and dies
//! with the fixture, so tests run in parallel and leave nothing behind.

#![allow(dead_code, clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

pub use baton_testkit::*;
use serde_json::Value;

const TRAY_HOST: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/harness/tray_host.py");
const CLOSE_WINDOW: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/harness/close_window.py");
const NOTIFICATIONS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/harness/notifications.py"
);
/// Debian's interpreter, which has python3-gi (a pyenv `python3` on PATH may not).
const PYTHON: &str = "/usr/bin/python3";
pub const WAIT: Duration = Duration::from_secs(15);

pub struct Desktop {
    pub scratch: tempfile::TempDir,
    pub display: String,
    pub bus: String,
    /// The X server, when this desktop started it (not when it shares another's display).
    _xvfb: Option<Xvfb>,
    dbus: Child,
    /// dunst, or the stand-in server that presses buttons (`harness/notifications.py`).
    dunst: Proc,
    stand_in: bool,
    /// The stand-in's stdin: "press ID KEY".
    presses: Option<std::sync::Mutex<std::process::ChildStdin>>,
    tray_host: Child,
}

/// A notification as the stand-in server received it.
#[derive(Debug, Clone)]
pub struct Received {
    pub id: u64,
    pub body: String,
    pub actions: Vec<String>,
}

impl Desktop {
    /// A desktop with an X display of its own.
    pub fn start() -> Desktop {
        Desktop::on_display(None, false)
    }

    /// A desktop whose notification server is the stand-in that presses buttons as a person
    /// clicks them ([`Desktop::press`]).
    pub fn with_answers() -> Desktop {
        Desktop::on_display(None, true)
    }

    /// A second session (its own bus, notification daemon, tray host and data directory) on
    /// `other`'s X display: another user session's applications, as far as X is concerned.
    pub fn sharing_display(other: &Desktop) -> Desktop {
        Desktop::on_display(Some(other.display.clone()), false)
    }

    fn on_display(shared: Option<String>, stand_in: bool) -> Desktop {
        for tool in ["Xvfb", "dbus-daemon", "dunst", "xdotool", PYTHON] {
            let found = Command::new("sh")
                .args(["-c", &format!("command -v {tool}")])
                .output()
                .unwrap()
                .status
                .success();
            assert!(
                found,
                "{tool} is missing: run 'make test' (it installs what these tests need)"
            );
        }
        let scratch = tempfile::tempdir().unwrap();
        for dir in ["data", "cache", "config", "tmp", "tray", "home"] {
            std::fs::create_dir_all(scratch.path().join(dir)).unwrap();
        }

        let (xvfb, display) = match shared {
            Some(display) => (None, display),
            None => {
                let xvfb = Xvfb::start();
                let display = xvfb.display.clone();
                (Some(xvfb), display)
            }
        };

        let mut dbus = Command::new("dbus-daemon")
            .args(["--session", "--nofork", "--print-address=1"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut bus = String::new();
        BufReader::new(dbus.stdout.take().unwrap())
            .read_line(&mut bus)
            .unwrap();
        let bus = bus.trim().to_string();

        let env = |command: &mut Command| {
            desktop_env(command, &display, &bus, scratch.path());
        };
        let mut presses = None;
        let dunst = if stand_in {
            let mut server = Command::new(PYTHON);
            env(&mut server);
            let mut proc = Proc::spawn(server.arg(NOTIFICATIONS).stdin(Stdio::piped()));
            presses = proc.child.stdin.take().map(std::sync::Mutex::new);
            proc
        } else {
            let mut dunst = Command::new("dunst");
            env(&mut dunst);
            Proc::spawn(dunst.arg("-print"))
        };
        let mut tray_host = {
            let mut command = Command::new(PYTHON);
            env(&mut command);
            command
                .args([
                    TRAY_HOST,
                    "watch",
                    scratch.path().join("tray").to_str().unwrap(),
                ])
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .unwrap()
        };
        let mut ready = String::new();
        BufReader::new(tray_host.stdout.take().unwrap())
            .read_line(&mut ready)
            .unwrap();
        assert_eq!(
            ready.trim(),
            "ready",
            "the stand-in tray host did not start"
        );
        let desktop = Desktop {
            scratch,
            display,
            bus,
            _xvfb: xvfb,
            dbus,
            dunst,
            stand_in,
            presses,
            tray_host,
        };
        desktop.wait_for_bus_name("org.freedesktop.Notifications");
        desktop
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.scratch.path().join(name)
    }

    /// Points a command at this desktop, this bus and the scratch folder.
    pub fn env<'a>(&self, command: &'a mut Command) -> &'a mut Command {
        desktop_env(command, &self.display, &self.bus, self.scratch.path())
    }

    /// Starts the real tray app and waits until its tray item is registered and its API answers.
    pub fn start_app(&self) -> Proc {
        let mut app = Proc::spawn(self.env(&mut Command::new(workspace_bin("baton-tray"))));
        let start = Instant::now();
        while !(self.path("tray/items").exists() && self.path("baton/host.json").exists()) {
            assert!(
                app.is_running(),
                "the tray app exited: {:?}",
                app.stderr.all()
            );
            assert!(
                start.elapsed() < WAIT,
                "the tray app did not come up: {:?}",
                app.stderr.all()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        app
    }

    /// A `baton` CLI command on this desktop.
    pub fn baton(&self) -> Command {
        let mut command = Command::new(workspace_bin("baton"));
        self.env(&mut command);
        command
    }

    pub fn baton_output(&self, args: &[&str]) -> Output {
        self.baton().args(args).output().unwrap()
    }

    pub fn spawn_baton(&self, args: &[&str]) -> Proc {
        Proc::spawn(self.baton().args(args))
    }

    /// `baton run -d -t TITLE OPTIONS… -- <hold_script(name)>` in the background: a desktop run
    /// that writes `NAME.id` when it starts and holds until `NAME.go` exists.
    pub fn hold(&self, name: &str, title: &str, options: &[&str]) -> Proc {
        let script = hold_script(self.scratch.path(), name);
        let mut args = vec!["run", "-d", "-t", title];
        args.extend_from_slice(options);
        args.extend(["--", "sh", "-c", &script]);
        self.spawn_baton(&args)
    }

    pub fn status(&self) -> Value {
        let out = self.baton_output(&["status", "--json"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    pub fn history(&self) -> Vec<Value> {
        let out = self.baton_output(&["history", "--json"]);
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// Waits for a run of schedule entry `entry` that succeeded, and checks that its log holds
    /// the line its command prints, `tick from <run id>` (`sh -c 'echo tick from
    /// $BATON_RUN_ID'`): the app's host ran it through `baton run --adopt`, with its run.
    pub fn a_tick_ran(&self, entry: &str) {
        let client = format!("schedule:{entry}");
        let succeeded = || {
            self.history()
                .into_iter()
                .find(|r| r["client"] == client.as_str() && r["state"] == "succeeded")
        };
        wait_until(&format!("a run of '{entry}' that succeeded"), || {
            succeeded().is_some()
        });
        let id = succeeded()
            .and_then(|r| r["id"].as_i64())
            .unwrap()
            .to_string();
        let out = self.baton_output(&["logs", &id]);
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            format!("tick from {id}\n")
        );
    }

    /// The tray item's icon and menu, as the stand-in tray host reads them over D-Bus.
    pub fn menu(&self) -> Value {
        let out = self.tray_host(&["menu"]);
        serde_json::from_slice(&out.stdout).unwrap()
    }

    pub fn menu_labels(&self) -> Vec<String> {
        self.menu()["entries"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["type"] == "standard")
            .map(|e| e["label"].as_str().unwrap().to_string())
            .collect()
    }

    /// Waits until the menu has an entry starting with `prefix`; returns that entry's label.
    pub fn wait_menu(&self, prefix: &str) -> String {
        self.wait_menu_where(prefix, |_| true)
    }

    /// Waits for a menu entry that starts with `prefix` and is `wanted`: the menu follows the
    /// host on its own, so an entry read too early (before a notification's news reached the
    /// menu) would show the state before.
    pub fn wait_menu_where(&self, prefix: &str, wanted: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let labels = self.menu_labels();
            if let Some(label) = labels.iter().find(|l| l.starts_with(prefix) && wanted(l)) {
                return label.clone();
            }
            assert!(
                start.elapsed() < WAIT,
                "no menu entry {prefix:?} as wanted; menu: {labels:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Clicks the menu entry whose label starts with `prefix`.
    pub fn click(&self, prefix: &str) {
        let out = self.tray_host(&["click", prefix]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn tray_host(&self, args: &[&str]) -> Output {
        let out = self
            .env(&mut Command::new(PYTHON))
            .arg(TRAY_HOST)
            .arg(args[0])
            .arg(self.path("tray"))
            .args(&args[1..])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "tray host: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// Presses keys on this display, as a person would (the global hotkey sees them).
    pub fn key(&self, combo: &str) {
        let status = self
            .env(&mut Command::new("xdotool"))
            .args(["key", combo])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Ids of the visible windows whose name matches `pattern`.
    pub fn windows(&self, pattern: &str) -> Vec<String> {
        let out = self
            .env(&mut Command::new("xdotool"))
            .args(["search", "--onlyvisible", "--name", pattern])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// Waits for a visible window whose name matches `pattern`; returns its id.
    pub fn wait_window(&self, pattern: &str) -> String {
        let start = Instant::now();
        loop {
            if let Some(id) = self.windows(pattern).into_iter().next() {
                return id;
            }
            assert!(start.elapsed() < WAIT, "no window {pattern:?} appeared");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Asks `window` to close, as a window manager's close button does, and waits until the
    /// app has destroyed it: the app answers the request when it gets to it, and a window
    /// gone from the screen may only be hidden.
    pub fn close_window(&self, window: &str) {
        let status = self
            .env(&mut Command::new(PYTHON))
            .args([CLOSE_WINDOW, window, &WAIT.as_secs().to_string()])
            .status()
            .unwrap();
        match status.code() {
            Some(0) => {}
            Some(2) => panic!("window {window} was only hidden on close, not destroyed"),
            _ => panic!("window {window} was not destroyed on close ({status})"),
        }
    }

    /// Gives `window` the keyboard focus (there is no window manager) and presses `key`.
    pub fn key_to(&self, window: &str, key: &str) {
        let status = self
            .env(&mut Command::new("xdotool"))
            .args(["windowfocus", "--sync", window, "sleep", "0.2", "key", key])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Bodies of the notifications the notification daemon received.
    pub fn notifications(&self) -> Vec<String> {
        if self.stand_in {
            return self.received().into_iter().map(|r| r.body).collect();
        }
        notification_bodies(&self.dunst.stdout.all())
    }

    /// What the stand-in server received, in order.
    pub fn received(&self) -> Vec<Received> {
        self.dunst
            .stdout
            .all()
            .iter()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .filter(|v| v.get("id").is_some())
            .map(|v| Received {
                id: v["id"].as_u64().unwrap(),
                body: v["body"].as_str().unwrap().to_string(),
                actions: v["actions"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|a| a.as_str().unwrap().to_string())
                    .collect(),
            })
            .collect()
    }

    /// Waits for a notification with `needle` in its body, as the stand-in server got it.
    pub fn wait_received(&self, needle: &str) -> Received {
        self.wait_notification(needle);
        self.received()
            .into_iter()
            .rev()
            .find(|r| r.body.contains(needle))
            .unwrap()
    }

    /// Presses the action `key` of notification `id`, as a person's click does.
    pub fn press(&self, id: u64, key: &str) {
        use std::io::Write;
        let mut stdin = self
            .presses
            .as_ref()
            .expect("the stand-in server")
            .lock()
            .unwrap();
        writeln!(stdin, "press {id} {key}").unwrap();
        stdin.flush().unwrap();
    }

    /// Waits for a notification whose body contains `needle`; returns the body.
    pub fn wait_notification(&self, needle: &str) -> String {
        let start = Instant::now();
        loop {
            if let Some(body) = self
                .notifications()
                .into_iter()
                .find(|b| b.contains(needle))
            {
                return body;
            }
            assert!(
                start.elapsed() < WAIT,
                "no notification containing {needle:?}; got {:?}",
                self.notifications()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn wait_for_bus_name(&self, name: &str) {
        let start = Instant::now();
        loop {
            let out = self
                .env(&mut Command::new("dbus-send"))
                .args([
                    "--session",
                    "--print-reply",
                    "--dest=org.freedesktop.DBus",
                    "/org/freedesktop/DBus",
                    "org.freedesktop.DBus.NameHasOwner",
                    &format!("string:{name}"),
                ])
                .output()
                .unwrap();
            if String::from_utf8_lossy(&out.stdout).contains("boolean true") {
                return;
            }
            assert!(start.elapsed() < WAIT, "{name} never appeared on the bus");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Desktop {
    fn drop(&mut self) {
        for child in [&mut self.tray_host, &mut self.dbus] {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The `body:` fields of `dunst -print` output. A body may span lines (summaries are joined
/// with newlines); it ends at the line that starts the next field.
fn notification_bodies(lines: &[String]) -> Vec<String> {
    let mut bodies = Vec::new();
    let mut current: Option<String> = None;
    for line in lines {
        let trimmed = line.trim_start();
        if let Some(rest) = trimmed.strip_prefix("body: '") {
            current = Some(rest.to_string());
        } else if let Some(body) = current.as_mut() {
            if trimmed.starts_with("icon: ") {
                // dunst frames the body in quotes; strip its closing one only.
                bodies.push(body.strip_suffix('\'').unwrap_or(body).to_string());
                current = None;
            } else {
                body.push('\n');
                body.push_str(line);
            }
        }
    }
    bodies
}

fn desktop_env<'a>(
    command: &'a mut Command,
    display: &str,
    bus: &str,
    scratch: &Path,
) -> &'a mut Command {
    command
        .env("DISPLAY", display)
        .env_remove("WAYLAND_DISPLAY")
        .env_remove("XDG_SESSION_TYPE")
        .env("DBUS_SESSION_BUS_ADDRESS", bus)
        .env("XDG_DATA_HOME", scratch.join("data"))
        .env("XDG_CACHE_HOME", scratch.join("cache"))
        .env("XDG_CONFIG_HOME", scratch.join("config"))
        .env("XDG_RUNTIME_DIR", scratch.join("tmp"))
        .env("TMPDIR", scratch.join("tmp"))
        .env("BATON_DATA_DIR", scratch.join("baton"))
        // Some libraries write under $HOME whatever XDG says (autostart entries, for one).
        .env("HOME", scratch.join("home"))
        .env_remove("BATON_URL")
        .env_remove("BATON_RUN_TOKEN")
        .env_remove("BATON_RUN_ID")
        .env_remove("BATON_LEASE_TOKEN")
        // No accessibility bus in a private session; GTK would wait for it.
        .env("NO_AT_BRIDGE", "1")
}

/// Waits for `child` to exit within [`WAIT`].
pub fn exit_of(proc: &mut Proc) -> ExitStatus {
    proc.wait(WAIT)
}

pub fn stderr_text(out: &Output) -> String {
    let mut text = String::new();
    let _ = (&out.stderr[..]).read_to_string(&mut text);
    text
}

pub fn wait_until(what: &str, pred: impl Fn() -> bool) {
    let start = Instant::now();
    while !pred() {
        assert!(start.elapsed() < WAIT, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub fn hold_script(dir: &Path, name: &str) -> String {
    format!(
        // Written aside, then renamed: the file appears whole, never empty.
        "echo $BATON_RUN_ID > {d}/{name}.id.tmp; mv {d}/{name}.id.tmp {d}/{name}.id; \
         while [ ! -e {d}/{name}.go ]; do sleep 0.02; done",
        d = dir.display()
    )
}
