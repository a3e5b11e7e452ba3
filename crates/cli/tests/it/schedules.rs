//! Schedule entries on a real `baton daemon`: a per-second entry firing real commands with
//! their logs, a desktop entry queued behind a holder, and kill -9 of the host in the middle
//! of fires. Every test ends by checking the fires' books: the runs of an entry stand for
//! exactly the fires that passed between its creation and the last one it handled, each once.

use std::time::{Duration, Instant};

use baton_client::models::Schedule;
use baton_core::{Run, RunState};

use crate::common::{Daemon, assert_says, text};

fn ok(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}: {}{}",
        out.status.code(),
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

fn entry(d: &Daemon, name: &str) -> Schedule {
    let entries: Vec<Schedule> =
        serde_json::from_str(&ok(&d.run(&["schedule", "list", "--json"]))).unwrap();
    entries
        .into_iter()
        .find(|e| e.entry.spec.name == name)
        .unwrap_or_else(|| panic!("no entry {name}"))
}

/// The runs of entry `name`, oldest first.
fn runs_of(d: &Daemon, name: &str) -> Vec<Run> {
    let client = format!("schedule:{name}");
    let out = d.run(&["history", "--json", "--limit", "1000", "--client", &client]);
    let mut runs: Vec<Run> = serde_json::from_str(&ok(&out)).unwrap();
    runs.reverse();
    runs
}

/// Waits until `pred` holds for entry `name`'s runs.
fn wait_runs(d: &Daemon, name: &str, what: &str, pred: impl Fn(&[Run]) -> bool) -> Vec<Run> {
    let start = Instant::now();
    loop {
        let runs = runs_of(d, name);
        if pred(&runs) {
            return runs;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "timed out waiting for {what}: {runs:#?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Pauses entry `name`, waits for its last run to end, and checks its books: each run made by
/// a fire stands for the fires since the one before it (the first: since the entry was made),
/// so together they stand for every fire up to the last one handled, each exactly once. The
/// entry fires every second. Returns the runs.
fn books_balance(d: &Daemon, name: &str) -> Vec<Run> {
    ok(&d.run(&["schedule", "pause", name]));
    let runs = wait_runs(d, name, "its runs to end", |runs| {
        runs.iter().all(|r| !r.state.is_active())
    });
    let entry = entry(d, name).entry;
    let second = |ms: i64| ms.div_euclid(1000);
    let mut since = second(entry.created_at.0);
    let fired: Vec<&Run> = runs
        .iter()
        .filter(|r| r.fire.as_ref().is_some_and(|f| f.at.is_some()))
        .collect();
    assert!(!fired.is_empty(), "no fire made a run");
    for run in &fired {
        let fire = run.fire.as_ref().unwrap();
        let at = second(fire.at.unwrap().0);
        assert_eq!(
            i64::from(fire.stands_for),
            at - since,
            "run #{} stands for the fires after {since} up to {at}: {runs:#?}",
            run.id
        );
        since = at;
    }
    assert_eq!(
        since,
        second(entry.handled.0),
        "the last run stands for the last fire handled"
    );
    runs
}

#[test]
fn a_per_second_entry_fires_real_commands_one_at_a_time_and_keeps_their_logs() {
    let d = Daemon::start();
    let added = ok(&d.run(&[
        "schedule",
        "add",
        "tick",
        "--cron",
        "* * * * * *",
        "--",
        "sh",
        "-c",
        "echo \"tick of run $BATON_RUN_ID\"; sleep 0.3",
    ]));
    assert_says(&added, &["added tick: '* * * * * *', next ", "(in "]);
    let listed = ok(&d.run(&["schedule", "list"]));
    assert_says(&listed, &["tick: '* * * * * *', next "]);

    let runs = wait_runs(&d, "tick", "three runs that succeeded", |runs| {
        runs.iter()
            .filter(|r| r.state == RunState::Succeeded)
            .count()
            >= 3
    });
    let run = runs
        .iter()
        .find(|r| r.state == RunState::Succeeded)
        .unwrap();
    assert_eq!(
        run.title,
        "sh -c echo \"tick of run $BATON_RUN_ID\"; sleep 0.3"
    );
    assert_eq!(run.exit_code, Some(0));
    let log = ok(&d.run(&["logs", &run.id.to_string()]));
    assert_eq!(log, format!("tick of run {}\n", run.id));

    // Owner-only: the folder and each run's file.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        let folder = d.dir.join("logs");
        assert_eq!(mode(&folder), 0o700);
        assert_eq!(mode(&folder.join(format!("{}.log", run.id))), 0o600);
    }

    let runs = books_balance(&d, "tick");
    // One at a time: each run was made after the one before it had ended.
    for pair in runs.windows(2) {
        let ended = pair[0].finished_at.unwrap();
        assert!(
            pair[1].created_at >= ended,
            "run #{} was made at {} before run #{} ended at {ended}",
            pair[1].id,
            pair[1].created_at,
            pair[0].id
        );
    }
    let listed = ok(&d.run(&["schedule", "list"]));
    assert_says(&listed, &["tick: '* * * * * *', paused"]);

    // A run of another client has no log; a run that does not exist is unknown.
    let other = d.run(&["run", "--", "true"]);
    assert!(other.status.success());
    let id = d.history()[0]["id"].as_i64().unwrap();
    let out = d.run(&["logs", &id.to_string()]);
    assert!(!out.status.success());
    assert_says(&text(&out.stderr), &[&format!("run #{id} has no log")]);
    let out = d.run(&["logs", "999999"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
}

#[test]
fn a_desktop_entry_queued_behind_a_holder_makes_one_run_not_a_burst() {
    let d = Daemon::start();
    let mut holder = d.spawn(&["run", "--desktop", "--title", "holder", "--", "sleep", "4"]);
    d.wait_status("the holder", Duration::from_secs(10), |s| {
        s["desktop"]["holder"]["title"] == "holder"
    });
    ok(&d.run(&[
        "schedule",
        "add",
        "desk",
        "--cron",
        "* * * * * *",
        "--desktop",
        "--",
        "true",
    ]));
    // Fires pass every second while the desktop is held: one run waits, and only one.
    let runs = wait_runs(&d, "desk", "a queued run", |runs| !runs.is_empty());
    assert_eq!(runs[0].state, RunState::Queued);
    std::thread::sleep(Duration::from_secs(2));
    let status = d.status();
    let queue = status["desktop"]["queue"].as_array().unwrap();
    assert_eq!(queue.len(), 1, "{status:#}");
    assert_eq!(queue[0]["client"], "schedule:desk");
    assert_eq!(
        runs_of(&d, "desk").len(),
        1,
        "one run while the desktop is held"
    );

    assert!(holder.child.wait().unwrap().success());
    let runs = wait_runs(&d, "desk", "the queued run to succeed", |runs| {
        runs.first().is_some_and(|r| r.state == RunState::Succeeded)
    });
    assert_eq!(runs[0].fire.as_ref().unwrap().stands_for, 1);
    // The fires that passed while it waited make one catch-up run, not one each.
    let runs = wait_runs(&d, "desk", "the catch-up run", |runs| runs.len() >= 2);
    // It waited at least the two seconds above, with a fire in each.
    assert!(
        runs[1].fire.as_ref().unwrap().stands_for >= 2,
        "the catch-up stands for the fires it waited through: {runs:#?}"
    );
    books_balance(&d, "desk");
}

#[test]
fn kill_9_of_the_host_amid_fires_loses_none_and_doubles_none() {
    let tmp = tempfile::tempdir().unwrap();
    let mut d = Daemon::start_in(tmp.path(), &[]);
    // Each run takes longer than a second, so fires also pass while one runs.
    ok(&d.run(&[
        "schedule",
        "add",
        "beat",
        "--cron",
        "* * * * * *",
        "--",
        "sleep",
        "1.5",
    ]));
    // Kills at moments that fall at every point of a second: a fire being decided, its run
    // just committed, its command starting or running. The first comes 1.3 s after the entry
    // was made: its first run (made within a second) is still running then. Once the host
    // stays down for 2.5 s, so that fires pass while nothing runs.
    for (pause_ms, down_ms) in [
        (1300, 0),
        (700, 0),
        (1150, 2500),
        (450, 0),
        (1900, 0),
        (850, 0),
    ] {
        std::thread::sleep(Duration::from_millis(pause_ms));
        d.signal("KILL");
        let _ = d.child.wait();
        std::thread::sleep(Duration::from_millis(down_ms));
        d = Daemon::start_in(tmp.path(), &[]);
    }
    std::thread::sleep(Duration::from_millis(1500));
    let runs = books_balance(&d, "beat");
    assert!(
        runs.iter().any(|r| r.state == RunState::Interrupted),
        "some kill fell while a run was active: {runs:#?}"
    );
    assert!(
        runs.iter().any(|r| r.fire.as_ref().unwrap().stands_for > 1),
        "the fires missed while the host was down were caught up: {runs:#?}"
    );
}

#[test]
fn bad_entries_are_refused_with_a_sentence_and_change_nothing() {
    let d = Daemon::start();
    let out = d.run(&["schedule", "add", "x", "--cron", "* 25 * * *", "--", "true"]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out.stderr));
    assert_says(&text(&out.stderr), &["the hour field's '25' is not valid"]);
    let out = d.run(&["schedule", "add", "x", "--cron", "* * * *", "--", "true"]);
    assert_says(&text(&out.stderr), &["has 4 fields"]);
    let out = d.run(&[
        "schedule",
        "add",
        "x",
        "--cron",
        "* * * * *",
        "--missed",
        "later",
        "--",
        "true",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert_says(
        &text(&out.stderr),
        &["'later' is not a policy for missed fires"],
    );
    let out = d.run(&["schedule", "remove", "nope"]);
    assert!(!out.status.success());
    assert_says(&text(&out.stderr), &["there is no schedule entry 'nope'"]);
    assert_says(&ok(&d.run(&["schedule", "list"])), &["no schedule entries"]);
}

#[test]
fn the_person_s_cancel_ends_a_scheduled_run_s_whole_process_tree() {
    let d = Daemon::start();
    let pids = d.dir.join("pids");
    // The command starts a child of its own and waits: both must go.
    let script = format!("sleep 300 & echo $$ $! > {}; wait", pids.display());
    ok(&d.run(&[
        "schedule",
        "add",
        "long",
        "--cron",
        "* * * * * *",
        "--",
        "sh",
        "-c",
        &script,
    ]));
    let start = Instant::now();
    while !pids.exists()
        || std::fs::read_to_string(&pids)
            .unwrap()
            .split_whitespace()
            .count()
            < 2
    {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the command never started"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let tree: Vec<u32> = std::fs::read_to_string(&pids)
        .unwrap()
        .split_whitespace()
        .map(|p| p.parse().unwrap())
        .collect();
    ok(&d.run(&["schedule", "pause", "long"]));
    let id = runs_of(&d, "long")[0].id;
    ok(&d.run(&["cancel", &id.to_string()]));
    let start = Instant::now();
    while tree.iter().any(|pid| crate::common::alive(*pid)) {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "still running after the cancel: {tree:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let run = wait_runs(&d, "long", "the run to end", |runs| {
        runs.iter().all(|r| !r.state.is_active())
    });
    assert_eq!(run[0].state, RunState::Cancelled);
    assert_eq!(
        run[0].cancelled_by,
        Some(baton_core::Caller::user("cli")),
        "{run:#?}"
    );
}
