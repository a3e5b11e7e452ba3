//! Schedule entries on a paused clock, through the real actor and a real SQLite file: fires
//! made on time, missed ones caught up once or let go, an entry's runs one at a time, and
//! everything kept across a restart.

use std::time::Duration;

use baton_core::lease::Fired;
use baton_core::schedule::{EntrySpec, Fire, Missed};
use baton_core::{Caller, ErrorCode, Outcome, RunId, RunState, Timestamp};
use chrono::Utc;

use crate::common::{EPOCH, advance, core, open_at, user};

const MINUTE: Duration = Duration::from_secs(60);

fn every_minute(name: &str) -> EntrySpec {
    EntrySpec {
        name: name.into(),
        cron: "* * * * *".into(),
        command: vec!["true".into()],
        title: None,
        needs_desktop: false,
        resources: Vec::new(),
        missed: Missed::CatchUp,
    }
}

fn host() -> Caller {
    Caller::user("schedule")
}

/// `EPOCH` plus `minutes`.
fn minute(minutes: i64) -> Timestamp {
    Timestamp(EPOCH.0 + minutes * 60_000)
}

async fn fire(h: &baton_core::Handle, name: &str) -> Fired {
    h.fire(name.into(), Utc, host()).await.unwrap().0
}

/// Moves time on by `by`, keeping run `id` alive with heartbeats as its command's wrapper would.
async fn keep_alive(h: &baton_core::Handle, id: RunId, by: Duration) {
    let mut left = by;
    while !left.is_zero() {
        let step = left.min(Duration::from_secs(5));
        advance(h, step).await;
        h.heartbeat(id, Caller::Run(id), 0).await.unwrap();
        left -= step;
    }
}

#[tokio::test(start_paused = true)]
async fn an_entry_fires_on_time_and_its_run_records_the_fire() {
    let c = core().await;
    let h = &c.handle;
    let entry = h
        .put_schedule(every_minute("tick"), false, user())
        .await
        .unwrap();
    assert_eq!(
        entry.handled, EPOCH,
        "fires before the entry existed are not due"
    );
    assert_eq!(fire(h, "tick").await, Fired::NotDue);

    advance(h, MINUTE).await;
    let (fired, token) = h.fire("tick".into(), Utc, host()).await.unwrap();
    let Fired::Made(id) = fired else {
        panic!("expected a run, got {fired:?}")
    };
    assert!(
        token.is_some(),
        "whoever runs the command gets the run's token"
    );
    let run = h.run(id).await.unwrap();
    assert_eq!(run.client, "schedule:tick");
    assert_eq!(run.title, "true");
    assert_eq!(run.state, RunState::Running);
    assert_eq!(
        run.fire,
        Some(Fire {
            entry: "tick".into(),
            at: Some(minute(1)),
            stands_for: 1
        })
    );
    let entry = &h.schedules()[0];
    assert_eq!(entry.handled, minute(1));
    assert_eq!(entry.last_run, Some(id));
    // A second look at the same moment makes nothing more.
    assert_eq!(fire(h, "tick").await, Fired::NotDue);
}

#[tokio::test(start_paused = true)]
async fn fires_missed_while_the_run_goes_on_make_one_catch_up_run() {
    let c = core().await;
    let h = &c.handle;
    h.put_schedule(every_minute("tick"), false, user())
        .await
        .unwrap();
    advance(h, MINUTE).await;
    let Fired::Made(first) = fire(h, "tick").await else {
        panic!("no run")
    };
    // Three more fires pass while the first run goes on: they wait for it.
    keep_alive(h, first, 3 * MINUTE).await;
    assert_eq!(fire(h, "tick").await, Fired::Waiting(first));
    h.finish(first, Caller::Run(first), Outcome::Succeeded, Some(0), None)
        .await
        .unwrap();
    let Fired::Made(second) = fire(h, "tick").await else {
        panic!("no catch-up run")
    };
    assert_eq!(
        h.run(second).await.unwrap().fire,
        Some(Fire {
            entry: "tick".into(),
            at: Some(minute(4)),
            stands_for: 3
        })
    );
    assert_eq!(fire(h, "tick").await, Fired::NotDue);
    let runs = h
        .history(&baton_core::HistoryQuery {
            client: Some("schedule:tick".into()),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(runs.len(), 2, "one run per fire made, not one per fire");
}

#[tokio::test(start_paused = true)]
async fn a_skipping_entry_lets_late_fires_go_and_makes_the_next_one_on_time() {
    let c = core().await;
    let h = &c.handle;
    let spec = EntrySpec {
        cron: "0 * * * *".into(),
        missed: Missed::Skip,
        ..every_minute("skip")
    };
    h.put_schedule(spec, false, user()).await.unwrap();
    // The host was away for three hours and ten minutes: nothing is made for them.
    advance(h, 190 * MINUTE).await;
    assert_eq!(fire(h, "skip").await, Fired::LetGo { passed: 3 });
    assert_eq!(h.schedules()[0].handled, minute(180));
    assert!(h.status().running.is_empty());
    // The next fire, made on time, runs.
    advance(h, 50 * MINUTE).await;
    let Fired::Made(id) = fire(h, "skip").await else {
        panic!("no run on time")
    };
    let made = h.run(id).await.unwrap().fire.unwrap();
    assert_eq!((made.at, made.stands_for), (Some(minute(240)), 1));
}

#[tokio::test(start_paused = true)]
async fn a_desktop_entry_queues_behind_the_holder_and_waits_however_long() {
    let c = core().await;
    let h = &c.handle;
    let holder = crate::common::submitted(h, crate::common::desktop("holder")).await;
    let spec = EntrySpec {
        needs_desktop: true,
        ..every_minute("desk")
    };
    h.put_schedule(spec, false, user()).await.unwrap();
    keep_alive(h, holder, MINUTE).await;
    let Fired::Made(queued) = fire(h, "desk").await else {
        panic!("no run")
    };
    let run = h.run(queued).await.unwrap();
    assert_eq!(run.state, RunState::Queued);
    assert_eq!(run.position, Some(1));
    // Ten more fires pass while it waits: none makes another run.
    for _ in 0..10 {
        let step = MINUTE / 6;
        for _ in 0..6 {
            advance(h, step).await;
            h.heartbeat(holder, Caller::Run(holder), 0).await.unwrap();
            h.heartbeat(queued, Caller::Run(queued), 0).await.unwrap();
        }
        assert_eq!(fire(h, "desk").await, Fired::Waiting(queued));
    }
    assert_eq!(h.status().desktop.queue.len(), 1);
    h.finish(
        holder,
        Caller::Run(holder),
        Outcome::Succeeded,
        Some(0),
        None,
    )
    .await
    .unwrap();
    assert_eq!(h.run(queued).await.unwrap().state, RunState::Running);
}

#[tokio::test(start_paused = true)]
async fn entries_are_refused_with_a_reason_and_nothing_changes() {
    let c = core().await;
    let h = &c.handle;
    let refused = |e: baton_core::Error| (e.code(), e.to_string());
    let bad_cron = EntrySpec {
        cron: "61 * * * *".into(),
        ..every_minute("bad")
    };
    let (code, message) = refused(h.put_schedule(bad_cron, false, user()).await.unwrap_err());
    assert_eq!(code, ErrorCode::InvalidRequest);
    assert!(message.contains("minute field's '61'"), "{message}");
    let bad_name = every_minute("no spaces");
    assert_eq!(
        refused(h.put_schedule(bad_name, false, user()).await.unwrap_err()).0,
        ErrorCode::InvalidRequest
    );
    let unknown = EntrySpec {
        resources: vec!["browser:work".parse().unwrap()],
        ..every_minute("browse")
    };
    assert_eq!(
        refused(h.put_schedule(unknown, false, user()).await.unwrap_err()).0,
        ErrorCode::UnknownResource
    );
    let empty = EntrySpec {
        command: Vec::new(),
        ..every_minute("empty")
    };
    assert_eq!(
        refused(h.put_schedule(empty, false, user()).await.unwrap_err()).0,
        ErrorCode::InvalidRequest
    );
    assert!(h.schedules().is_empty());

    h.put_schedule(every_minute("tick"), false, user())
        .await
        .unwrap();
    let (code, message) = refused(
        h.put_schedule(every_minute("tick"), false, user())
            .await
            .unwrap_err(),
    );
    assert_eq!(code, ErrorCode::InvalidState);
    assert!(
        message.contains("already a schedule entry 'tick'"),
        "{message}"
    );
    assert_eq!(
        refused(
            h.put_schedule(every_minute("nope"), true, user())
                .await
                .unwrap_err()
        )
        .0,
        ErrorCode::UnknownSchedule
    );
    assert_eq!(
        refused(h.remove_schedule("nope".into(), user()).await.unwrap_err()).0,
        ErrorCode::UnknownSchedule
    );
    // An agent's run token changes no entry.
    let agent = crate::common::submitted(h, crate::common::parallel("agent")).await;
    let (code, _) = refused(
        h.remove_schedule("tick".into(), Caller::Run(agent))
            .await
            .unwrap_err(),
    );
    assert_eq!(code, ErrorCode::Forbidden);
    assert_eq!(h.schedules().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn pause_lets_fires_go_and_run_now_makes_one_run_at_a_time() {
    let c = core().await;
    let h = &c.handle;
    h.put_schedule(every_minute("tick"), false, user())
        .await
        .unwrap();
    h.pause_schedule("tick".into(), true, user()).await.unwrap();
    advance(h, 3 * MINUTE).await;
    assert_eq!(fire(h, "tick").await, Fired::NotDue);
    let resumed = h
        .pause_schedule("tick".into(), false, user())
        .await
        .unwrap();
    assert!(!resumed.paused);
    assert_eq!(resumed.handled, minute(3), "fires while paused are let go");
    assert_eq!(fire(h, "tick").await, Fired::NotDue);

    let now = h.run_now("tick".into(), user()).await.unwrap();
    let id = now.status.run.id;
    assert_eq!(
        h.run(id).await.unwrap().fire,
        Some(Fire {
            entry: "tick".into(),
            at: None,
            stands_for: 0
        })
    );
    let e = h.run_now("tick".into(), user()).await.unwrap_err();
    assert_eq!(e.code(), ErrorCode::InvalidState);
    assert!(
        e.to_string().contains(&format!("run #{id} is active")),
        "{e}"
    );
}

#[test]
fn entries_and_their_fires_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("baton.db");
    let runtime = || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .unwrap()
    };
    let first = runtime();
    let (made, entry) = first.block_on(async {
        let _freeze = crate::common::freeze_time();
        let h = open_at(&path).await;
        let spec = EntrySpec {
            title: Some("Nightly report".into()),
            ..every_minute("report")
        };
        h.put_schedule(spec, false, user()).await.unwrap();
        advance(&h, MINUTE).await;
        let Fired::Made(id) = fire(&h, "report").await else {
            panic!("no run")
        };
        (id, h.schedules()[0].clone())
    });
    drop(first);
    runtime().block_on(async {
        let _freeze = crate::common::freeze_time();
        let h = open_at(&path).await;
        assert_eq!(h.schedules(), vec![entry.clone()]);
        let run = h.run(made).await.unwrap();
        assert_eq!(run.state, RunState::Interrupted);
        assert_eq!(run.title, "Nightly report");
        assert_eq!(run.fire.unwrap().at, Some(entry.handled));
        // The new life's clock starts at EPOCH again: the fire handled is not made twice.
        assert_eq!(fire(&h, "report").await, Fired::NotDue);
        h.remove_schedule("report".into(), user()).await.unwrap();
    });
    runtime().block_on(async {
        let _freeze = crate::common::freeze_time();
        let h = open_at(&path).await;
        assert!(h.schedules().is_empty());
    });
}
