//! `baton input` on a real X display (Xvfb): input reaches the display for the holder only,
//! with its current lease token; a user's stop ends a batch before its next action.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::*;
use serde_json::Value;

const SHORT: Duration = Duration::from_secs(10);
fn wait_pointer(x: &Xvfb, at: (i32, i32)) {
    let start = Instant::now();
    while x.pointer() != at {
        assert!(
            start.elapsed() < SHORT,
            "pointer at {:?}, not {at:?}",
            x.pointer()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn the_holder_moves_the_pointer_and_types_into_a_real_text_field() {
    let x = Xvfb::start();
    let d = Daemon::on_display(&x.display, &[]);
    // On a display the host can do both, and says nothing against them.
    let status = text(&d.run(&["status"]).stdout);
    assert!(!status.contains(": off ("), "{status}");
    let out = d
        .baton()
        .env("PATH", path_with_baton())
        .args([
            "run", "-d", "-t", "move", "--", "baton", "input", "move", "321", "123",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(x.pointer(), (321, 123));

    let mut fields = Fields::open(&x.display, 1);
    let (cx, cy) = fields.centres[0];
    let sentence = "The quick brown fox jumps over the lazy dog, 42 times!";
    let script = format!("baton input move {cx} {cy} click wait 150 type '{sentence}'");
    let mut typer = run_script(&d, &["-d", "-t", "type"], &script);
    assert_eq!(
        typer.wait(SHORT).code(),
        Some(0),
        "{:?}",
        typer.stderr.all()
    );
    let start = Instant::now();
    while fields.texts()[0] != sentence {
        assert!(
            start.elapsed() < SHORT,
            "the field says {:?}",
            fields.texts()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // Anyone may ask where the pointer is and how big the screen is.
    let out = d.run(&["input", "pointer"]);
    assert_eq!(text(&out.stdout).trim(), format!("{cx} {cy}"));
    assert_eq!(text(&d.run(&["input", "screen"]).stdout).trim(), "1280 800");
}

#[test]
fn a_run_that_does_not_hold_the_desktop_is_refused_and_nothing_moves() {
    let x = Xvfb::start();
    let d = Daemon::on_display(&x.display, &[]);
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let mut holder = run_script(
        &d,
        &["-d", "-t", "holder"],
        &format!(
            "baton input move 100 100; echo $BATON_RUN_ID > {d}/a.id.tmp; mv {d}/a.id.tmp {d}/a.id; while [ ! -e {d}/a.go ]; do sleep 0.05; done",
            d = t.display()
        ),
    );
    wait_file(&t.join("a.id"), SHORT);
    wait_pointer(&x, (100, 100));

    // A run without the desktop.
    let out = d
        .baton()
        .env("PATH", path_with_baton())
        .args([
            "run", "-t", "sneaky", "--", "baton", "input", "move", "5", "5",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(err.contains("no lease token"), "{err}");
    // Even with a lease token it made up, it is not the holder.
    let out = d
        .baton()
        .env("PATH", path_with_baton())
        .args([
            "run",
            "-t",
            "forger",
            "--",
            "sh",
            "-c",
            "baton input --lease-token 1 move 5 5",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4));
    assert!(
        text(&out.stderr).contains("does not hold the desktop: 'holder' (cli) does"),
        "{}",
        text(&out.stderr)
    );
    // Outside any run.
    let out = d.run(&["input", "move", "5", "5"]);
    assert_eq!(out.status.code(), Some(4));
    assert!(
        text(&out.stderr).contains("inside 'baton run --desktop"),
        "{}",
        text(&out.stderr)
    );
    // A bad batch is a usage error, and runs nothing.
    assert_eq!(d.run(&["input", "jump"]).status.code(), Some(2));

    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(x.pointer(), (100, 100), "nothing moved the pointer");
    std::fs::write(t.join("a.go"), "").unwrap();
    assert_eq!(holder.wait(SHORT).code(), Some(0));
}

#[test]
fn after_a_hand_off_the_old_lease_token_is_refused() {
    let x = Xvfb::start();
    let d = Daemon::on_display(&x.display, &[]);
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    // The old holder's command goes on after its wrapper froze and its lease expired.
    let script = format!(
        "echo ready > {d}/a.ready; while [ ! -e {d}/a.go ]; do sleep 0.05; done; baton input move 50 50 2> {d}/a.err; echo $? > {d}/a.code",
        d = t.display()
    );
    let mut a = run_script(&d, &["-d", "--ttl", "1", "-t", "old"], &script);
    wait_file(&t.join("a.ready"), SHORT);
    let mut b = run_script(
        &d,
        &["-d", "-t", "new"],
        &format!(
            "baton input move 200 200; echo done > {d}/b.done",
            d = t.display()
        ),
    );
    b.stderr.wait_for("queued behind 'old'", SHORT);
    signal(a.pid(), "STOP");
    wait_file(&t.join("b.done"), SHORT);
    assert_eq!(b.wait(SHORT).code(), Some(0));
    assert_eq!(x.pointer(), (200, 200));

    std::fs::write(t.join("a.go"), "").unwrap();
    wait_file(&t.join("a.code"), SHORT);
    assert_eq!(read_trimmed(&t.join("a.code")), "4");
    let err = read_trimmed(&t.join("a.err"));
    assert!(
        err.contains("no longer holds the desktop (it expired); lease token 1 is stale"),
        "{err}"
    );
    assert_eq!(x.pointer(), (200, 200), "the stale holder moved nothing");
    signal(a.pid(), "CONT");
    assert_eq!(a.wait(SHORT).code(), Some(75));
}

#[test]
fn a_stop_during_a_long_batch_ends_it_before_its_next_action() {
    let x = Xvfb::start();
    let d = Daemon::on_display(&x.display, &[]);
    let tmp = tempfile::tempdir().unwrap();
    let script = format!(
        "echo started > {d}/started; baton input move 10 10 wait 1500 move 20 20 wait 1500 move 30 30",
        d = tmp.path().display()
    );
    let mut a = run_script(&d, &["-d", "-t", "long"], &script);
    wait_file(&tmp.path().join("started"), SHORT);
    wait_pointer(&x, (10, 10));
    let out = d.run(&["stop"]);
    assert!(
        text(&out.stdout).contains("stopped #1 'long'"),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(a.wait(SHORT).code(), Some(130));
    // Past the moment the batch would have gone on: nothing more happened.
    std::thread::sleep(Duration::from_millis(3500));
    assert_eq!(x.pointer(), (10, 10));
}

#[test]
fn a_daemon_without_a_display_says_no_display_and_works_otherwise() {
    let d = Daemon::start();
    let out = d
        .baton()
        .env("PATH", path_with_baton())
        .args(["run", "-d", "--", "baton", "input", "click"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4));
    assert!(
        text(&out.stderr).contains("there is no display to send input to"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(d.run(&["status"]).status.code(), Some(0));
}

#[test]
fn a_display_without_xtest_turns_input_off_says_why_and_refuses_the_holder() {
    // Xvfb drops RECORD with XTEST. enigo would connect to such a display and fail only at the
    // first event: the host checks first, and says so where the user looks.
    let x = Xvfb::without("XTEST");
    let d = Daemon::on_display(&x.display, &[]);
    let status = text(&d.run(&["status"]).stdout);
    assert!(
        status.contains(
            "Input: off (the display has no XTEST extension, which Baton needs to move the mouse and type)\n"
        ) && status.contains(
            "Takeover: off (takeover detection needs the input gateway, which is off)\n"
        ),
        "{status}"
    );
    let before = x.pointer();
    let out = d
        .baton()
        .env("PATH", path_with_baton())
        .args(["run", "-d", "--", "baton", "input", "move", "5", "7"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("no XTEST extension"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(x.pointer(), before);
    // The rest of Baton works: the run above ended and the desktop is free.
    assert!(d.status()["desktop"]["holder"].is_null());
}

#[test]
fn the_person_at_the_computer_takes_over_and_the_holder_waits_its_turn() {
    let x = Xvfb::start();
    let d = Daemon::on_display(&x.display, &["--takeover-quiet", "1"]);
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let script = format!(
        "baton input move 100 100 type hello; echo ready > {d}/ready; \
         while [ ! -e {d}/go1 ]; do sleep 0.05; done; baton input move 110 110 2> {d}/err1; echo $? > {d}/code1; \
         while [ ! -e {d}/go2 ]; do sleep 0.05; done; baton input move 120 120 2> {d}/err2; echo $? > {d}/code2",
        d = t.display()
    );
    let mut a = run_script(&d, &["-d", "-t", "holder"], &script);
    wait_file(&t.join("ready"), SHORT);
    // Baton's own input is not a person.
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(d.status()["desktop"]["holder_paused"], false);

    // The person grabs the mouse.
    let moved = Command::new("xdotool")
        .env("DISPLAY", &x.display)
        .args(["mousemove", "700", "700"])
        .status()
        .unwrap();
    assert!(moved.success());
    d.wait_status("the takeover", SHORT, |s| {
        s["desktop"]["holder_paused"] == true
    });
    std::fs::write(t.join("go1"), "").unwrap();
    wait_file(&t.join("code1"), SHORT);
    assert_eq!(crate::common::read_written(&t.join("code1")), "4");
    let err = read_trimmed(&t.join("err1"));
    assert!(
        err.contains("the person at the computer is using it; you keep your place"),
        "{err}"
    );
    assert_eq!(
        x.pointer(),
        (700, 700),
        "the holder did not fight the person"
    );

    // A quiet second later the holder goes on, with the same lease.
    d.wait_status("the holder to resume", SHORT, |s| {
        s["desktop"]["holder_paused"] == false
    });
    std::fs::write(t.join("go2"), "").unwrap();
    wait_file(&t.join("code2"), SHORT);
    assert_eq!(
        crate::common::read_written(&t.join("code2")),
        "0",
        "{}",
        read_trimmed(&t.join("err2"))
    );
    assert_eq!(x.pointer(), (120, 120));
    assert_eq!(a.wait(SHORT).code(), Some(0));
    let events = text(&d.run(&["events", "--json"]).stdout);
    let kinds: Vec<Value> = events
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|e| e["kind"].as_str().is_some_and(|k| k.starts_with("holder_")))
        .collect();
    assert_eq!(kinds.len(), 2, "{kinds:?}");
    assert_eq!(kinds[0]["kind"], "holder_paused");
    assert_eq!(kinds[0]["by"], "user:takeover");
    assert_eq!(kinds[1]["kind"], "holder_resumed");
}
