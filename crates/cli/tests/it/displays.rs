//! Private displays (DESIGN rule 14) with real X servers: agents that need *a* screen, not the
//! person's, each get an Xvfb of their own from the pool `displays`, type there through Baton
//! at the same time, and leave nothing behind, however they end.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::common::*;

const SHORT: Duration = Duration::from_secs(20);

/// The X servers the daemon started, by pid: its children named Xvfb.
fn servers_of(daemon: u32) -> Vec<u32> {
    children_named(daemon, "Xvfb")
}

/// The window managers the daemon started on its displays.
fn window_managers_of(daemon: u32) -> Vec<u32> {
    children_named(daemon, "openbox")
}

/// The live children of `daemon` whose command is `name`, by pid.
fn children_named(daemon: u32, name: &str) -> Vec<u32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // pid (comm) state ppid …
        let Some((comm, rest)) = stat.split_once(") ") else {
            continue;
        };
        let mut fields = rest.split(' ');
        let state = fields.next().unwrap_or("");
        let ppid: u32 = fields.next().and_then(|p| p.parse().ok()).unwrap_or(0);
        if comm.ends_with(&format!("({name}")) && ppid == daemon && state != "Z" {
            found.push(pid);
        }
    }
    found
}

/// Whether a process runs as `pid` (a zombie has ended).
fn running(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|stat| {
            stat.split_once(") ")
                .is_some_and(|(_, rest)| !rest.starts_with('Z'))
        })
        .unwrap_or(false)
}

/// The socket of X display `:N`.
#[cfg_attr(not(unix), allow(dead_code))]
fn socket_of(display: &str) -> std::path::PathBuf {
    Path::new("/tmp/.X11-unix").join(format!("X{}", display.trim_start_matches(':')))
}

/// The identity of display `display`'s socket file now (device, inode, change time), if any.
fn socket_id(display: &str) -> Option<(u64, u64, i64)> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::metadata(socket_of(display)).ok()?;
        Some((m.dev(), m.ino(), m.ctime_nsec() + m.ctime() * 1_000_000_000))
    }
    #[cfg(not(unix))]
    {
        let _ = display;
        None
    }
}

/// Whether the very socket the display had is still there. Display numbers are reused as soon
/// as they are free, so another test's server may have made a new socket of the same name.
fn left_behind(display: &str, had: Option<(u64, u64, i64)>) -> bool {
    had.is_some() && socket_id(display) == had
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < SHORT,
            "still not so after {SHORT:?}: {what}"
        );
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// Eight agents type into windows of their own at once, each on its own private display: every
/// field comes out exactly right, the person's desktop is never queued for and its pointer
/// never moves, and every display ends with its run.
#[test]
fn eight_agents_type_at_once_each_on_a_private_display_of_its_own() {
    const AGENTS: usize = 8;
    let person = Xvfb::start();
    let d = Daemon::on_display(&person.display, &[]);
    let out = d.run(&["resource", "capacity", "displays", &AGENTS.to_string()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let pointer_before = person.pointer();
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();

    let mut agents = Vec::new();
    for i in 0..AGENTS {
        let script = format!(
            "echo \"$DISPLAY $BATON_DISPLAY\" > {dir}/{i}.display
             while [ ! -f {dir}/{i}.go ]; do sleep 0.02; done
             baton input move $(cat {dir}/{i}.go) click wait 150 type 'agent {i} typed this, and only this: {i}{i}{i}'
             touch {dir}/{i}.typed
             while [ ! -f {dir}/done ]; do sleep 0.02; done",
            dir = t.display()
        );
        agents.push(run_script(
            &d,
            &["--display", "private", "-t", &format!("agent {i}")],
            &script,
        ));
    }
    // All eight run at once, on eight displays, none of them the person's.
    let mut displays = Vec::new();
    for i in 0..AGENTS {
        let file = t.join(format!("{i}.display"));
        wait_file(&file, SHORT);
        wait_until("the display is named", || {
            read_trimmed(&file).split(' ').count() == 2
        });
        let named = read_trimmed(&file);
        let (display, told) = named.split_once(' ').unwrap();
        assert_eq!(display, told, "DISPLAY and BATON_DISPLAY agree");
        assert_ne!(display, person.display);
        displays.push(display.to_string());
    }
    let mut unique = displays.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), AGENTS, "{displays:?}");
    let servers = servers_of(d.child.id());
    assert_eq!(servers.len(), AGENTS, "one X server per agent: {servers:?}");
    let sockets: Vec<_> = displays.iter().map(|x| socket_id(x)).collect();
    let status = d.status();
    assert!(status["desktop"]["holder"].is_null(), "{status}");
    assert_eq!(status["desktop"]["queue"].as_array().unwrap().len(), 0);
    let list = text(&d.run(&["resource", "list"]).stdout);
    assert!(list.contains("displays: capacity 8, held by"), "{list}");

    // Each agent's window, on its own display; then all type at once.
    let mut windows: Vec<Fields> = displays.iter().map(|x| Fields::open(x, 1)).collect();
    for (i, window) in windows.iter().enumerate() {
        let (x, y) = window.centres[0];
        std::fs::write(t.join(format!("{i}.go")), format!("{x} {y}")).unwrap();
    }
    // A window lives as long as its display, which ends with its run: read them first.
    for (i, window) in windows.iter_mut().enumerate() {
        wait_file(&t.join(format!("{i}.typed")), SHORT);
        // The keys are sent; the window takes them in its own time.
        let want = format!("agent {i} typed this, and only this: {i}{i}{i}");
        let start = Instant::now();
        let mut got = window.texts();
        while got != [want.as_str()] && start.elapsed() < SHORT {
            std::thread::sleep(Duration::from_millis(50));
            got = window.texts();
        }
        assert_eq!(got, [want]);
    }
    assert_eq!(
        person.pointer(),
        pointer_before,
        "the person's pointer never moved"
    );
    std::fs::write(t.join("done"), "").unwrap();
    for (i, agent) in agents.iter_mut().enumerate() {
        let status = agent.wait(SHORT);
        assert_eq!(
            status.code(),
            Some(0),
            "agent {i}: {:?}",
            agent.stderr.all()
        );
    }
    drop(windows);
    // Each display ended with its run: no server, no socket.
    wait_until("every private display has ended", || {
        servers.iter().all(|pid| !running(*pid))
            && displays
                .iter()
                .zip(&sockets)
                .all(|(x, had)| !left_behind(x, *had))
    });
    let history = d.history();
    let to_desktop = history
        .iter()
        .filter(|run| run["needs_desktop"].as_bool() == Some(true))
        .count();
    assert_eq!(to_desktop, 0, "no agent asked for the person's desktop");
}

/// The PNG's width and height, from its header.
fn png_size(png: &[u8]) -> (u32, u32) {
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    let word = |at: usize| u32::from_be_bytes(png[at..at + 4].try_into().unwrap());
    (word(16), word(20))
}

/// A run's `baton input` acts on its own display, with its token of `displays` and no other;
/// a run without a private display is refused one; the run and the person look at it.
#[test]
fn a_private_display_takes_its_own_run_s_input_and_shows_it() {
    let d = Daemon::start();
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let mut holder = run_script(
        &d,
        &["--display", "private", "-t", "private"],
        &format!(
            "set -e
             echo $BATON_RUN_ID > {dir}/id.tmp; mv {dir}/id.tmp {dir}/id
             baton input move 40 50
             baton input --lease-token 999 move 1 1 2> {dir}/stale || echo $? > {dir}/stale.code
             baton screenshot -o {dir}/own.png
             while [ ! -f {dir}/go ]; do sleep 0.02; done",
            dir = t.display()
        ),
    );
    wait_file(&t.join("id"), SHORT);
    let id = read_trimmed(&t.join("id"));
    wait_file(&t.join("own.png"), SHORT);
    assert_eq!(
        png_size(&std::fs::read(t.join("own.png")).unwrap()),
        (1280, 800)
    );
    wait_file(&t.join("stale.code"), SHORT);
    assert_eq!(crate::common::read_written(&t.join("stale.code")), "4");
    let stale = read_trimmed(&t.join("stale"));
    assert!(stale.contains("999"), "{stale}");

    // Another run, without a display of its own: no input, no display, no picture.
    let other = d
        .baton()
        .env("PATH", path_with_baton())
        .args(["run", "-t", "no display", "--", "baton", "screenshot"])
        .output()
        .unwrap();
    assert_eq!(other.status.code(), Some(4), "{}", text(&other.stderr));
    assert!(
        text(&other.stderr).contains("has no private display"),
        "{}",
        text(&other.stderr)
    );
    assert_eq!(servers_of(d.child.id()).len(), 1);

    // The person looks at it, by run id.
    let picture = t.join("person.png");
    let out = d.run(&["screenshot", &id, "-o", picture.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(png_size(&std::fs::read(&picture).unwrap()), (1280, 800));

    std::fs::write(t.join("go"), "").unwrap();
    assert_eq!(
        holder.wait(SHORT).code(),
        Some(0),
        "{:?}",
        holder.stderr.all()
    );
    // Its display has ended: nothing left to look at.
    wait_until("the display has ended", || {
        servers_of(d.child.id()).is_empty()
    });
    let out = d.run(&["screenshot", &id]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out.stderr));
}

/// Nothing is left behind: a kill -9 of a run's wrapper ends its display at once, and a kill
/// -9 of the host ends every display it started (the servers get SIGTERM from the kernel and
/// take their sockets with them).
#[test]
fn kill_9_of_a_run_or_of_the_host_leaves_no_display_behind() {
    let d = Daemon::start();
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let start = |name: &str| {
        run_script(
            &d,
            &["--display", "private", "-t", name],
            // Written whole, then named: the test reads it as soon as the name is there.
            &format!(
                "echo $DISPLAY > {dir}/{name}.tmp; mv {dir}/{name}.tmp {dir}/{name}; sleep 600",
                dir = t.display()
            ),
        )
    };
    let mut a = start("a");
    wait_file(&t.join("a"), SHORT);
    let a_display = read_trimmed(&t.join("a"));
    let a_servers = servers_of(d.child.id());
    assert_eq!(a_servers.len(), 1);
    let a_managers = window_managers_of(d.child.id());
    assert_eq!(a_managers.len(), 1, "a window manager runs on the display");
    let a_socket = socket_id(&a_display);
    assert!(a_socket.is_some());
    signal(a.pid(), "KILL");
    a.wait(SHORT);
    wait_until("a's display ends with its wrapper", || {
        !running(a_servers[0]) && !running(a_managers[0]) && !left_behind(&a_display, a_socket)
    });

    let _b = start("b");
    let _c = start("c");
    wait_file(&t.join("b"), SHORT);
    wait_file(&t.join("c"), SHORT);
    let displays = [read_trimmed(&t.join("b")), read_trimmed(&t.join("c"))];
    let servers = servers_of(d.child.id());
    assert_eq!(servers.len(), 2, "{servers:?}");
    let managers = window_managers_of(d.child.id());
    assert_eq!(managers.len(), 2, "{managers:?}");
    let sockets: Vec<_> = displays.iter().map(|x| socket_id(x)).collect();
    signal(d.child.id(), "KILL");
    wait_until("the host's displays end with it", || {
        servers.iter().chain(&managers).all(|pid| !running(*pid))
            && displays
                .iter()
                .zip(&sockets)
                .all(|(x, had)| !left_behind(x, *had))
    });
}

/// The window that has the focus on `display`, by name, as agents' tools ask for it (EWMH's
/// `_NET_ACTIVE_WINDOW`, which only a window manager keeps).
fn active_window(display: &str) -> Option<String> {
    let out = std::process::Command::new("xdotool")
        .args(["getactivewindow", "getwindowname"])
        .env("DISPLAY", display)
        .output()
        .unwrap();
    out.status
        .success()
        .then(|| text(&out.stdout).trim().to_string())
}

/// A window manager runs on each private display: a window that opens gets the focus, and
/// the hints agents' tools rely on (`xdotool getactivewindow`) are there. It ends with the
/// display. A host without one still starts displays, and the run is told what it lacks.
#[test]
fn a_window_manager_gives_a_private_display_s_windows_the_focus() {
    let d = Daemon::start();
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let script = format!(
        "echo $DISPLAY > {dir}/display.tmp; mv {dir}/display.tmp {dir}/display
         while [ ! -f {dir}/go ]; do sleep 0.02; done",
        dir = t.display()
    );
    let mut run = run_script(&d, &["--display", "private", "-t", "managed"], &script);
    wait_file(&t.join("display"), SHORT);
    let display = crate::common::read_written(&t.join("display"));
    let managers = window_managers_of(d.child.id());
    assert_eq!(managers.len(), 1, "{managers:?}");
    let window = Fields::open(&display, 1);
    wait_until("the new window has the focus", || {
        active_window(&display).as_deref() == Some("baton test fields")
    });
    std::fs::write(t.join("go"), "").unwrap();
    assert_eq!(run.wait(SHORT).code(), Some(0), "{:?}", run.stderr.all());
    assert!(
        !run.stderr
            .all()
            .iter()
            .any(|l| l.contains("window manager")),
        "{:?}",
        run.stderr.all()
    );
    drop(window);
    wait_until("the window manager ends with the display", || {
        !running(managers[0])
    });

    // A host whose PATH has Xvfb but no window manager.
    let bare = tempfile::tempdir().unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink("/usr/bin/Xvfb", bare.path().join("Xvfb")).unwrap();
    let data = tempfile::tempdir().unwrap();
    let path = bare.path().to_str().unwrap().to_string();
    let d = Daemon::start_with(data.path(), &[], &[("PATH", &path)]);
    std::fs::remove_file(t.join("go")).unwrap();
    std::fs::remove_file(t.join("display")).unwrap();
    let mut run = run_script(&d, &["--display", "private", "-t", "bare"], &script);
    wait_file(&t.join("display"), SHORT);
    let display = crate::common::read_written(&t.join("display"));
    assert_eq!(servers_of(d.child.id()).len(), 1);
    assert!(window_managers_of(d.child.id()).is_empty());
    assert_eq!(active_window(&display), None, "nothing keeps the focus");
    std::fs::write(t.join("go"), "").unwrap();
    assert_eq!(run.wait(SHORT).code(), Some(0), "{:?}", run.stderr.all());
    let said = run.stderr.all().join("\n");
    assert_says(
        &said,
        &[
            &format!("the private display {display} has no window manager"),
            "openbox",
        ],
    );
}
