//! The real tray app on a private desktop (Xvfb, a private session bus, dunst, a stand-in tray
//! host), driven the way a person and agents drive it: `baton run` clients, the tray menu over
//! D-Bus, the global hotkey through X.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::*;

#[test]
fn without_a_display_the_tray_app_points_to_the_daemon() {
    let out = Command::new(workspace_bin("baton-tray"))
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr_text(&out);
    assert!(err.contains("there is no display"), "{err}");
    assert!(err.contains("run 'baton daemon' instead"), "{err}");

    // A display that is set but does not answer is said plainly too, not a GTK panic.
    let out = Command::new(workspace_bin("baton-tray"))
        .env("DISPLAY", ":987")
        .env_remove("WAYLAND_DISPLAY")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr_text(&out);
    assert!(
        err.contains("the display does not answer (DISPLAY=:987"),
        "{err}"
    );
}

#[test]
fn a_queued_run_is_announced_and_the_tray_shows_holder_and_queue() {
    let desk = Desktop::start();
    let _app = desk.start_app();
    desk.wait_menu("Desktop: free");
    assert_eq!(
        desk.menu()["icon"].as_str().map(|i| !i.is_empty()),
        Some(true)
    );
    let free_icon = desk.menu()["icon"].clone();

    let t = desk.scratch.path();
    let mut a = desk.hold("a", "log in", &["-c", "claude-code"]);
    wait_file(&t.join("a.id"), WAIT);
    let mut b = desk.spawn_baton(&["run", "-d", "-t", "fill form", "-c", "codex", "--", "true"]);

    let body = desk.wait_notification("is queued behind");
    assert_eq!(
        body,
        "'fill form' (codex) is queued behind 'log in' (claude-code), position 1 — it starts automatically when the desktop is released"
    );
    let holder = desk.wait_menu("Desktop: 'log in'");
    assert!(
        holder.starts_with("Desktop: 'log in' (claude-code) for "),
        "{holder}"
    );
    assert_eq!(desk.wait_menu("1 waiting"), "1 waiting: 'fill form'");
    assert_ne!(
        desk.menu()["icon"],
        free_icon,
        "the icon shows the desktop is held"
    );

    std::fs::write(t.join("a.go"), "").unwrap();
    assert_eq!(exit_of(&mut a).code(), Some(0));
    assert_eq!(exit_of(&mut b).code(), Some(0));
    desk.wait_menu("Desktop: free");
    assert_eq!(desk.wait_menu("Nobody"), "Nobody waiting");
}

#[test]
fn the_hotkey_stops_the_holder_and_the_hand_off_is_announced() {
    let desk = Desktop::start();
    let _app = desk.start_app();
    let t = desk.scratch.path();
    let mut a = desk.hold("a", "log in", &[]);
    wait_file(&t.join("a.id"), WAIT);
    let mut b = desk.hold("b", "fill form", &[]);
    desk.wait_notification("is queued behind");
    assert!(
        desk.wait_menu("Stop desktop holder")
            .contains("(Ctrl+Alt+Shift+S)")
    );

    desk.key("ctrl+alt+shift+s");

    assert_eq!(exit_of(&mut a).code(), Some(130));
    assert!(a.stderr.joined().contains("cancelled by the user"));
    assert_eq!(
        desk.wait_notification("Stopped"),
        "Stopped 'log in' (hotkey)"
    );
    assert_eq!(
        desk.wait_notification("Desktop handed"),
        "Desktop handed from 'log in' to 'fill form'"
    );
    wait_file(&t.join("b.id"), WAIT);
    let history = desk.history();
    let a_run = history.iter().find(|r| r["title"] == "log in").unwrap();
    assert_eq!(a_run["state"], "cancelled");
    assert_eq!(a_run["cancelled_by"], "user:hotkey");
    std::fs::write(t.join("b.go"), "").unwrap();
    assert_eq!(exit_of(&mut b).code(), Some(0));
}

#[test]
fn the_tray_menu_stops_the_holder_and_pauses_hand_offs() {
    let desk = Desktop::start();
    let _app = desk.start_app();
    let t = desk.scratch.path();
    let mut a = desk.hold("a", "a", &[]);
    wait_file(&t.join("a.id"), WAIT);
    let mut b = desk.hold("b", "b", &[]);
    desk.wait_menu("1 waiting");
    let held_icon = desk.menu()["icon"].clone();

    desk.click("Pause hand-offs");
    desk.wait_menu("Resume hand-offs");
    wait_until("hand-offs paused", || {
        desk.status()["desktop"]["paused"] == true
    });
    assert_ne!(
        desk.menu()["icon"],
        held_icon,
        "the icon shows hand-offs are paused"
    );

    desk.click("Stop desktop holder");
    assert_eq!(exit_of(&mut a).code(), Some(130));
    let history = desk.history();
    assert_eq!(
        history.iter().find(|r| r["title"] == "a").unwrap()["cancelled_by"],
        "user:tray"
    );
    // Paused: the desktop stays free, b keeps waiting.
    desk.wait_menu("Desktop: free");
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(!t.join("b.id").exists());
    let stop = desk.menu()["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| {
            e["label"]
                .as_str()
                .unwrap()
                .starts_with("Stop desktop holder")
        })
        .cloned()
        .unwrap();
    assert_eq!(
        stop["enabled"], false,
        "nothing to stop while the desktop is free"
    );

    desk.click("Resume hand-offs");
    wait_file(&t.join("b.id"), WAIT);
    desk.wait_menu("Pause hand-offs");
    std::fs::write(t.join("b.go"), "").unwrap();
    assert_eq!(exit_of(&mut b).code(), Some(0));
}

#[test]
fn quitting_interrupts_active_runs_and_tells_their_clients() {
    let desk = Desktop::start();
    let mut app = desk.start_app();
    let t = desk.scratch.path();
    let mut a = desk.hold("a", "a", &[]);
    wait_file(&t.join("a.id"), WAIT);
    desk.click("Quit Baton");
    let dialog = desk.wait_window("^Quit Baton\\?$");
    desk.key_to(&dialog, "Return");
    assert_eq!(exit_of(&mut app).code(), Some(0));
    assert_eq!(exit_of(&mut a).code(), Some(69));
    assert!(
        a.stderr
            .joined()
            .contains("the Baton host stopped under run #1"),
        "{:?}",
        a.stderr.all()
    );
    assert!(!desk.path("baton/host.json").exists());

    // The next start finds the run interrupted.
    let _app = desk.start_app();
    assert_eq!(desk.history()[0]["state"], "interrupted");
}

#[test]
fn the_dashboard_opens_on_demand_once_and_a_second_launch_shows_it() {
    // What the app logs once it has carried out a request to open the dashboard (the tray menu
    // answers a click before the app acts on it, so a pause proves nothing).
    const SHOWN: &str = "showing the open window 'dashboard'";
    const OPENED: &str = "opened the window 'dashboard'";
    let desk = Desktop::start();
    let app = desk.start_app();
    desk.wait_menu("Desktop: ");
    assert!(desk.windows("^Baton$").is_empty(), "no window while idle");

    desk.click("Open dashboard");
    let window = desk.wait_window("^Baton$");
    desk.click("Open dashboard");
    app.stderr.wait_count(SHOWN, 1, WAIT);
    assert_eq!(
        desk.windows("^Baton$"),
        std::slice::from_ref(&window),
        "opening again shows the same window"
    );

    // A second launch hands over to the running app and ends.
    let second = desk
        .env(&mut Command::new(workspace_bin("baton-tray")))
        .output()
        .unwrap();
    assert_eq!(second.status.code(), Some(0), "{}", stderr_text(&second));
    app.stderr.wait_count(SHOWN, 2, WAIT);
    assert_eq!(desk.windows("^Baton$"), std::slice::from_ref(&window));
    let opened = app
        .stderr
        .all()
        .iter()
        .filter(|l| l.contains(OPENED))
        .count();
    assert_eq!(opened, 1, "{:?}", app.stderr.all());

    // Closing it destroys it, web process and all; the app lives on in the tray.
    wait_until("the dashboard's web process", || {
        !web_processes(app.pid()).is_empty()
    });
    let open = settled_web_processes(app.pid());
    assert!(!open.is_empty(), "the dashboard's web process ended");
    desk.close_window(&window);
    assert!(
        desk.windows("^Baton$").is_empty(),
        "a dashboard window is left after the close: {:?}",
        desk.windows("^Baton$")
    );
    assert!(
        desk.status()["desktop"].is_object(),
        "the host still answers"
    );
    desk.click("Open dashboard");
    let reopened = desk.wait_window("^Baton$");
    assert_ne!(reopened, window, "a new window, not the closed one shown");
    // The new window has its web process, and the closed one's is gone: no more of them than
    // while the first was open. (Counted, not named: WebKit may give the new page a process
    // it had started beforehand.)
    let start = Instant::now();
    loop {
        let live = web_processes(app.pid());
        if !live.is_empty() && live.len() <= open.len() {
            break;
        }
        assert!(
            start.elapsed() < WAIT,
            "the closed window's web processes live on. While it was open: {}. Now: {}",
            describe(&open),
            describe(&live)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_daemon_on_the_same_data_directory_keeps_the_tray_app_out() {
    let desk = Desktop::start();
    let daemon = Proc::spawn(desk.baton().arg("daemon"));
    daemon.stderr.wait_for("serving", WAIT);
    let out = desk
        .env(&mut Command::new(workspace_bin("baton-tray")))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr_text(&out);
    assert!(
        err.contains("another Baton host is already serving"),
        "{err}"
    );
    assert!(err.contains("http://127.0.0.1:"), "{err}");
}

#[test]
fn quitting_with_active_runs_asks_first() {
    let desk = Desktop::start();
    let mut app = desk.start_app();
    let t = desk.scratch.path();
    let mut a = desk.hold("a", "a", &[]);
    wait_file(&t.join("a.id"), WAIT);

    // Escape keeps Baton running.
    desk.click("Quit Baton");
    let dialog = desk.wait_window("^Quit Baton\\?$");
    desk.key_to(&dialog, "Escape");
    wait_until("the dialog to close", || {
        desk.windows("^Quit Baton\\?$").is_empty()
    });
    assert!(app.is_running());
    assert!(a.is_running());

    // Enter accepts the default answer, Quit.
    desk.click("Quit Baton");
    let dialog = desk.wait_window("^Quit Baton\\?$");
    desk.key_to(&dialog, "Return");
    assert_eq!(exit_of(&mut app).code(), Some(0));
    assert_eq!(exit_of(&mut a).code(), Some(69));
}

#[test]
fn a_crashed_webview_does_not_take_the_host_down() {
    let desk = Desktop::start();
    let app = desk.start_app();
    let t = desk.scratch.path();
    let mut a = desk.hold("a", "a", &[]);
    wait_file(&t.join("a.id"), WAIT);
    desk.click("Open dashboard");
    desk.wait_window("^Baton$");

    // WebKit renders pages in web processes of their own: kill them as a crash would.
    // (The window maps a moment before WebKit starts the page's process, and a kill during
    // that start-up handshake is a different event, which WebKit itself does not survive: wait
    // until the page has run, and crash it then.)
    wait_until("the dashboard's web process", || {
        !web_processes(app.pid()).is_empty()
    });
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let web = web_processes(app.pid());
    for pid in &web {
        signal(*pid, "KILL");
    }
    std::thread::sleep(std::time::Duration::from_millis(500));
    let mut app = app;
    assert!(
        app.is_running(),
        "the app died with its webview: {:?}",
        app.stderr.all()
    );
    let status = desk.status();
    assert_eq!(
        status["desktop"]["holder"]["title"], "a",
        "the lease survived"
    );
    assert!(a.is_running());
    desk.wait_menu("Desktop: 'a'");
    // The page comes back in a new web process.
    wait_until("the page to be reloaded", || {
        web_processes(app.pid())
            .iter()
            .any(|pid| !web.contains(pid))
    });
    std::fs::write(t.join("a.go"), "").unwrap();
    assert_eq!(exit_of(&mut a).code(), Some(0));
}

/// Pids of the live descendants of `pid` whose command name starts with `name`. A zombie (or
/// a process being reaped) has ended already, though its parent has not yet collected it.
fn children_named(pid: u32, name: &str) -> Vec<u32> {
    // (pid, parent pid, command name) of every live process, from /proc/*/stat.
    let processes: Vec<(u32, u32, String)> = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|entry| {
            let stat = std::fs::read_to_string(entry.path().join("stat")).ok()?;
            let (head, tail) = stat.rsplit_once(')')?;
            let (pid, comm) = head.split_once(" (")?;
            let mut fields = tail.split_whitespace();
            let state = fields.next()?;
            if state == "Z" || state == "X" {
                return None;
            }
            let ppid = fields.next()?.parse().ok()?;
            Some((pid.parse().ok()?, ppid, comm.to_string()))
        })
        .collect();
    let mut found = Vec::new();
    let mut parents = vec![pid];
    while let Some(parent) = parents.pop() {
        for (child, _, comm) in processes.iter().filter(|(_, ppid, _)| *ppid == parent) {
            if comm.starts_with(name) {
                found.push(*child);
            }
            parents.push(*child);
        }
    }
    found
}

/// The live web processes of the app `pid`'s pages (WebKit renders each page in a process of
/// its own; the kernel cuts its command name, WebKitWebProcess, to 15 characters).
fn web_processes(pid: u32) -> Vec<u32> {
    let mut pids = children_named(pid, "WebKitWebProces");
    pids.sort_unstable();
    pids
}

/// The app's web processes once the set has not changed for a second: WebKit starts and
/// replaces them for a while after a page opens.
fn settled_web_processes(pid: u32) -> Vec<u32> {
    let start = Instant::now();
    let mut seen = web_processes(pid);
    let mut since = Instant::now();
    while since.elapsed() < Duration::from_secs(1) {
        assert!(
            start.elapsed() < WAIT,
            "the web processes never settled: {}",
            describe(&seen)
        );
        std::thread::sleep(Duration::from_millis(100));
        let now = web_processes(pid);
        if now != seen {
            seen = now;
            since = Instant::now();
        }
    }
    seen
}

/// Each process as a failure message needs it: its pid, state (`/proc/PID/stat`), where it
/// sleeps in the kernel (`/proc/PID/wchan`) and its command line, to tell a process that hangs
/// from one that lingers.
fn describe(pids: &[u32]) -> String {
    if pids.is_empty() {
        return "none".into();
    }
    pids.iter()
        .map(|pid| {
            let read = |file: &str| std::fs::read_to_string(format!("/proc/{pid}/{file}"));
            let state = read("stat")
                .ok()
                .and_then(|stat| {
                    let (_, tail) = stat.rsplit_once(')')?;
                    tail.split_whitespace().next().map(str::to_string)
                })
                .unwrap_or_else(|| "gone".into());
            let wchan = read("wchan").unwrap_or_default();
            let cmdline = read("cmdline")
                .unwrap_or_default()
                .replace('\0', " ")
                .trim_end()
                .to_string();
            format!("pid {pid} (state {state}, wchan {wchan:?}, {cmdline:?})")
        })
        .collect::<Vec<_>>()
        .join("; ")
}

#[test]
fn a_hotkey_another_application_holds_is_reported_plainly() {
    let desk = Desktop::start();
    let _first = desk.start_app();
    desk.wait_menu("Stop desktop holder (Ctrl+Alt+Shift+S)");
    // Another session's application on the same X display already holds the combination.
    let other = Desktop::sharing_display(&desk);
    let _second = other.start_app();
    assert_eq!(
        other.wait_menu("Stop desktop holder"),
        "Stop desktop holder (hotkey unavailable)"
    );
    // The key still belongs to the first, which still works.
    let t = desk.scratch.path();
    let mut a = desk.hold("a", "a", &[]);
    wait_file(&t.join("a.id"), WAIT);
    desk.key("ctrl+alt+shift+s");
    assert_eq!(exit_of(&mut a).code(), Some(130));
}

#[test]
fn a_takeover_is_announced_and_the_tray_gives_the_desktop_back() {
    let desk = Desktop::start();
    let _app = desk.start_app();
    let t = desk.scratch.path();
    let mut a = desk.hold("a", "log in", &[]);
    wait_file(&t.join("a.id"), WAIT);
    assert!(
        !desk.wait_menu("Give the desktop back").contains("'"),
        "greyed out while nobody took over"
    );

    // The person grabs the mouse.
    let moved = desk
        .env(&mut Command::new("xdotool"))
        .args(["mousemove", "600", "400"])
        .status()
        .unwrap();
    assert!(moved.success());
    assert_eq!(
        desk.wait_notification("paused while you use the computer"),
        "'log in' is paused while you use the computer; it goes on by itself once you stop"
    );
    desk.wait_menu_where("Desktop: 'log in'", |l| {
        l.ends_with("paused while you use it")
    });
    wait_until("the takeover in the status", || {
        desk.status()["desktop"]["holder_paused"] == true
    });

    // The tray gives it back at once, well before the quiet time.
    desk.click("Give the desktop back to 'log in'");
    wait_until("the holder to resume", || {
        desk.status()["desktop"]["holder_paused"] == false
    });
    std::thread::sleep(std::time::Duration::from_millis(600));
    assert_eq!(
        desk.status()["desktop"]["holder_paused"],
        false,
        "the old input does not take it over again"
    );
    let history = desk.baton_output(&["events", "--json"]);
    assert!(String::from_utf8_lossy(&history.stdout).contains("\"by\":\"user:tray\""));
    std::fs::write(t.join("a.go"), "").unwrap();
    assert_eq!(exit_of(&mut a).code(), Some(0));
}

#[test]
fn closing_the_terminal_it_was_started_from_stops_it_cleanly() {
    let desk = Desktop::start();
    let mut app = desk.start_app();
    let t = desk.scratch.path();
    let mut a = desk.hold("a", "a", &[]);
    wait_file(&t.join("a.id"), WAIT);
    // The terminal's hang-up: the same clean stop as SIGTERM, not a crash.
    signal(app.pid(), "HUP");
    assert_eq!(exit_of(&mut app).code(), Some(0));
    assert_eq!(exit_of(&mut a).code(), Some(69));
    assert!(!desk.path("baton/host.json").exists());
    let _app = desk.start_app();
    assert_eq!(desk.history()[0]["state"], "interrupted");
}

#[test]
fn a_person_answers_from_the_notifications_alone() {
    let desk = Desktop::with_answers();
    let _app = desk.start_app();
    let t = desk.scratch.path();
    let mut a = desk.hold("a", "log in", &[]);
    wait_file(&t.join("a.id"), WAIT);
    let mut b = desk.hold("b", "fill form", &[]);
    let queued_b = desk.wait_received("'fill form'");
    assert!(
        queued_b.body.contains("is queued behind 'log in'"),
        "{queued_b:?}"
    );
    assert_eq!(queued_b.actions, ["front", "cancel", "default"]);
    let mut c = desk.hold("c", "pay bills", &[]);
    let queued_c = desk.wait_received("'pay bills'");
    wait_until("two runs waiting", || {
        desk.status()["desktop"]["queue"].as_array().map(Vec::len) == Some(2)
    });

    // Let it go first: c moves ahead of b, as the user's request from the notification.
    desk.press(queued_c.id, "front");
    wait_until("c at the front", || {
        desk.status()["desktop"]["queue"][0]["title"] == "pay bills"
    });
    let events = events_json(&desk);
    assert!(events.contains("\"by\":\"user:notification\""), "{events}");

    // Cancel it: b leaves the queue, its command exits 130.
    desk.press(queued_b.id, "cancel");
    assert_eq!(exit_of(&mut b).code(), Some(130));
    let history = desk.history();
    let b_run = history.iter().find(|r| r["title"] == "fill form").unwrap();
    assert_eq!(b_run["cancelled_by"], "user:notification");

    // The holder finishes; the hand-off's Stop it stops the new holder, c.
    std::fs::write(t.join("a.go"), "").unwrap();
    assert_eq!(exit_of(&mut a).code(), Some(0));
    let handoff = desk.wait_received("Desktop handed from 'log in' to 'pay bills'");
    assert_eq!(handoff.actions, ["stop", "default"]);
    desk.press(handoff.id, "stop");
    assert_eq!(exit_of(&mut c).code(), Some(130));

    // A stale answer: a hand-off to f, then f is cancelled elsewhere and g holds the desktop.
    // Stop it on that notification stops nobody, and a notification says so.
    let mut e = desk.hold("e", "first", &[]);
    wait_file(&t.join("e.id"), WAIT);
    let mut f = desk.hold("f", "second", &[]);
    desk.wait_received("'second'");
    std::fs::write(t.join("e.go"), "").unwrap();
    assert_eq!(exit_of(&mut e).code(), Some(0));
    let stale = desk.wait_received("Desktop handed from 'first' to 'second'");
    let f_id = read_trimmed(&t.join("f.id"));
    let out = desk.baton_output(&["cancel", &f_id]);
    assert!(out.status.success());
    assert_eq!(exit_of(&mut f).code(), Some(130));
    let mut g = desk.hold("g", "third", &[]);
    wait_file(&t.join("g.id"), WAIT);
    desk.press(stale.id, "stop");
    let refusal = desk.wait_notification("Nothing changed");
    assert!(refusal.contains("changed hands"), "{refusal}");
    assert_eq!(desk.status()["desktop"]["holder"]["title"], "third");
    std::fs::write(t.join("g.go"), "").unwrap();
    assert_eq!(exit_of(&mut g).code(), Some(0));
}

#[test]
fn a_takeover_is_given_back_from_its_notification() {
    let desk = Desktop::with_answers();
    let _app = desk.start_app();
    let t = desk.scratch.path();
    let mut a = desk.hold("a", "log in", &[]);
    wait_file(&t.join("a.id"), WAIT);
    let moved = desk
        .env(&mut Command::new("xdotool"))
        .args(["mousemove", "600", "400"])
        .status()
        .unwrap();
    assert!(moved.success());
    let takeover = desk.wait_received("paused while you use the computer");
    assert_eq!(takeover.actions, ["give-back", "stop", "default"]);
    wait_until("the takeover in the status", || {
        desk.status()["desktop"]["holder_paused"] == true
    });
    desk.press(takeover.id, "give-back");
    wait_until("the holder to resume", || {
        desk.status()["desktop"]["holder_paused"] == false
    });
    let events = events_json(&desk);
    assert!(
        events.contains("\"kind\":\"holder_resumed\"")
            && events.contains("\"by\":\"user:notification\""),
        "{events}"
    );
    std::fs::write(t.join("a.go"), "").unwrap();
    assert_eq!(exit_of(&mut a).code(), Some(0));
}

/// The event log as `baton events --json` prints it.
fn events_json(desk: &Desktop) -> String {
    String::from_utf8_lossy(&desk.baton_output(&["events", "--json"]).stdout).to_string()
}

/// Turns on "ask before an agent takes the desktop" in the data directory's settings, as the
/// settings window stores it, before the app starts.
fn ask_first(desk: &Desktop, notifications: &baton_tray::settings::NotifySettings) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let dir = baton_platform::DataDir::at(desk.path("baton"));
        dir.create().unwrap();
        let opened = baton_core::Store::open(
            &dir.db_path(),
            baton_core::Durability::Normal,
            baton_core::Timestamp::now(),
        )
        .await
        .unwrap();
        baton_api::settings::HostSettings::save_ask_first(&opened.store, true)
            .await
            .unwrap();
        baton_tray::settings::Settings::save_notifications(&opened.store, notifications)
            .await
            .unwrap();
    });
}

#[test]
fn with_ask_first_the_desktop_waits_free_until_the_person_allows_from_a_notification() {
    let desk = Desktop::with_answers();
    // Queued notices without their buttons, as Settings switches them.
    let mut notifications = baton_tray::settings::NotifySettings::default();
    notifications.answers.queued = false;
    ask_first(&desk, &notifications);
    let _app = desk.start_app();
    let t = desk.scratch.path();
    let mut a = desk.hold("a", "fill form", &[]);
    let asked_a = desk.wait_received("'fill form' (cli) wants the desktop");
    assert_eq!(asked_a.actions, ["allow", "cancel", "default"]);
    desk.wait_menu_where("Desktop: free", |l| {
        l == "Desktop: free, 'fill form' (cli) waits for your OK"
    });
    desk.wait_menu("Allow 'fill form' to take the desktop");
    let mut b = desk.hold("b", "pay bills", &[]);
    let queued_b = desk.wait_received(
        "'pay bills' (cli) is queued at position 2, behind a run that waits for your OK",
    );
    assert_eq!(
        queued_b.actions,
        ["default"],
        "its answers are switched off"
    );
    // Silence: the desktop stays free and nobody's command runs.
    std::thread::sleep(std::time::Duration::from_secs(1));
    assert_eq!(desk.status()["desktop"]["holder"], serde_json::Value::Null);
    assert!(!t.join("a.id").exists() && !t.join("b.id").exists());

    // Cancel it: a never started, and b is asked about, still on a free desktop.
    desk.press(asked_a.id, "cancel");
    assert_eq!(exit_of(&mut a).code(), Some(130));
    assert!(!t.join("a.id").exists(), "a's command ran");
    let asked_b = desk.wait_received("'pay bills' (cli) wants the desktop");
    assert_eq!(desk.status()["desktop"]["holder"], serde_json::Value::Null);

    // The person moves c first (from the CLI): c is asked about now, and the Allow still on
    // b's notification lets nobody in, and says so.
    let mut c = desk.hold("c", "upload", &[]);
    desk.wait_received("'upload' (cli) is queued at position 2");
    let c_id = desk.status()["desktop"]["queue"][1]["id"].to_string();
    assert!(desk.baton_output(&["front", &c_id]).status.success());
    let asked_c = desk.wait_received("'upload' (cli) wants the desktop");
    desk.press(asked_b.id, "allow");
    let refusal = desk.wait_notification("Nothing changed");
    assert!(
        refusal.contains("is not the one waiting for your OK"),
        "{refusal}"
    );
    assert_eq!(desk.status()["desktop"]["holder"], serde_json::Value::Null);

    // Allow: c takes the desktop, as the user's request from the notification.
    desk.press(asked_c.id, "allow");
    wait_file(&t.join("c.id"), WAIT);
    assert_eq!(desk.status()["desktop"]["holder"]["title"], "upload");
    let events = events_json(&desk);
    assert!(
        events.contains("\"kind\":\"allowed\",\"by\":\"user:notification\""),
        "{events}"
    );

    // The tray menu answers too: once c is done, b is asked about again, and Allow in the
    // menu lets it in.
    std::fs::write(t.join("c.go"), "").unwrap();
    assert_eq!(exit_of(&mut c).code(), Some(0));
    desk.wait_menu("Allow 'pay bills' to take the desktop");
    desk.click("Allow 'pay bills' to take the desktop");
    wait_file(&t.join("b.id"), WAIT);
    assert_eq!(desk.status()["desktop"]["holder"]["title"], "pay bills");
    let events = events_json(&desk);
    assert!(
        events.contains("\"kind\":\"allowed\",\"by\":\"user:tray\""),
        "{events}"
    );
    // A click on a notification's body opens the dashboard (on the run it was about).
    assert!(desk.windows("^Baton$").is_empty());
    let mut d = desk.hold("d", "last", &[]);
    let queued_d = desk.wait_received("'last' (cli) is queued behind 'pay bills'");
    desk.press(queued_d.id, "default");
    desk.wait_window("^Baton$");
    std::fs::write(t.join("b.go"), "").unwrap();
    assert_eq!(exit_of(&mut b).code(), Some(0));
    assert!(
        desk.baton_output(&[
            "cancel",
            &desk.status()["desktop"]["queue"][0]["id"].to_string()
        ])
        .status
        .success()
    );
    assert_eq!(exit_of(&mut d).code(), Some(130));
}

#[test]
fn do_not_disturb_holds_the_question_back_and_the_tray_menu_answers_it() {
    let desk = Desktop::with_answers();
    let notifications = baton_tray::settings::NotifySettings {
        do_not_disturb: true,
        ..Default::default()
    };
    ask_first(&desk, &notifications);
    let _app = desk.start_app();
    let t = desk.scratch.path();
    let mut a = desk.hold("a", "fill form", &[]);
    desk.wait_menu_where("Desktop: free", |l| {
        l == "Desktop: free, 'fill form' (cli) waits for your OK"
    });
    std::thread::sleep(std::time::Duration::from_secs(1));
    assert!(
        desk.received().is_empty(),
        "Do Not Disturb shows nothing: {:?}",
        desk.received()
    );
    desk.click("Allow 'fill form' to take the desktop");
    wait_file(&t.join("a.id"), WAIT);
    std::fs::write(t.join("a.go"), "").unwrap();
    assert_eq!(exit_of(&mut a).code(), Some(0));
}

/// Other resources in the real tray menu: a line for each one in use, with its holder and how
/// many wait, gone once it is free again; their queueing is not announced (the desktop's is).
#[test]
fn the_tray_menu_shows_each_busy_resource_with_its_holder_and_queue() {
    let desk = Desktop::start();
    let _app = desk.start_app();
    desk.wait_menu("Desktop: free");
    let out = desk.baton_output(&["resource", "add", "browser:work"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let t = desk.scratch.path();
    // Runs that need the browser only (hold() would take the desktop too).
    let browse = |name: &str, title: &str| {
        let script = hold_script(t, name);
        desk.spawn_baton(&[
            "run",
            "-r",
            "browser:work",
            "-t",
            title,
            "--",
            "sh",
            "-c",
            &script,
        ])
    };
    let mut a = browse("a", "research");
    wait_file(&t.join("a.id"), WAIT);
    let line = desk.wait_menu("browser:work:");
    assert!(
        line.starts_with("browser:work: 'research' (cli) for "),
        "{line}"
    );
    let mut b = browse("b", "compare");
    desk.wait_menu_where("browser:work:", |l| l.ends_with(", 1 waiting"));
    // The desktop's lines are the desktop's.
    assert_eq!(desk.wait_menu("Desktop:"), "Desktop: free");
    assert_eq!(desk.wait_menu("Nobody"), "Nobody waiting");
    std::fs::write(t.join("a.go"), "").unwrap();
    assert_eq!(exit_of(&mut a).code(), Some(0));
    wait_file(&t.join("b.id"), WAIT);
    desk.wait_menu_where("browser:work:", |l| {
        l.starts_with("browser:work: 'compare'")
    });
    std::fs::write(t.join("b.go"), "").unwrap();
    assert_eq!(exit_of(&mut b).code(), Some(0));
    wait_until("the resource line to go", || {
        !desk
            .menu_labels()
            .iter()
            .any(|l| l.starts_with("browser:work"))
    });
    assert!(
        !desk
            .received()
            .iter()
            .any(|n| n.body.contains("browser:work") || n.body.contains("compare")),
        "no notice about another resource: {:?}",
        desk.received()
    );
}

#[test]
fn the_tray_app_fires_schedule_entries_and_its_menu_shows_the_next_fires() {
    let desk = Desktop::start();
    let _app = desk.start_app();
    desk.wait_menu("Desktop: free");
    let ok = |args: &[&str]| {
        let out = desk.baton_output(args);
        assert!(out.status.success(), "{args:?}: {}", stderr_text(&out));
    };
    ok(&[
        "schedule",
        "add",
        "nightly",
        "--cron",
        "0 2 * * *",
        "--",
        "true",
    ]);
    let line = desk.wait_menu("Schedule 'nightly'");
    assert!(
        line == "Schedule 'nightly': next today 02:00"
            || line == "Schedule 'nightly': next tomorrow 02:00",
        "{line}"
    );

    // The tray app's host fires through the baton program installed beside it.
    ok(&[
        "schedule",
        "add",
        "tick",
        "--cron",
        "* * * * * *",
        "--",
        "sh",
        "-c",
        "echo tick from $BATON_RUN_ID",
    ]);
    desk.wait_menu("Schedule 'tick': next ");
    desk.a_tick_ran("tick");

    // Paused, it leaves the menu; the soonest others stay.
    ok(&["schedule", "pause", "tick"]);
    wait_until("the paused entry to leave the menu", || {
        !desk
            .menu_labels()
            .iter()
            .any(|l| l.starts_with("Schedule 'tick'"))
    });
    assert!(
        desk.menu_labels()
            .iter()
            .any(|l| l.starts_with("Schedule 'nightly'"))
    );
}
