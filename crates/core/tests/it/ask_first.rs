//! "Ask before an agent takes the desktop": with the setting on, the head of the queue waits for
//! the user's OK while the desktop stays free; nobody is cancelled by silence, nobody else gets
//! in, and the waiting runs are told so. Against the real actor and a real SQLite file.

use std::time::Duration;

use crate::common::{advance, core, desktop, user, with_ttl};
use baton_core::messages::{Standing, Voice, queued};
use baton_core::{Caller, EventKind, Outcome, RunId, RunState, check::check};

async fn events_of(h: &baton_core::Handle, id: RunId) -> Vec<EventKind> {
    h.events_after(0, 10_000)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.run_id == Some(id))
        .map(|e| e.kind)
        .collect()
}

#[tokio::test(start_paused = true)]
async fn the_free_desktop_waits_for_the_user_s_ok_and_silence_cancels_nobody() {
    let c = core().await;
    let h = &c.handle;
    assert!(h.set_ask_first(true, user()).await.unwrap());

    let a = h
        .submit(desktop("fill the expense form"), user())
        .await
        .unwrap();
    let a_id = a.status.run.id;
    assert_eq!(a.status.run.state, RunState::Queued);
    assert!(a.status.awaiting_ok);
    assert_eq!(
        a.status.message,
        queued(Standing::AwaitingOk, a_id, 1, Voice::Agent)
    );
    let b = h.submit(desktop("book the flight"), user()).await.unwrap();
    let b_id = b.status.run.id;
    assert!(!b.status.awaiting_ok);
    assert_eq!(
        b.status.message,
        "the desktop is free, but the user OKs each run that takes it: queued behind 'fill the expense form' (test), which waits for that OK, position 2; you will start automatically when it is your turn and the user allows it."
    );
    let snapshot = h.status();
    assert!(snapshot.desktop.holder.is_none());
    assert_eq!(snapshot.desktop.awaiting_ok.as_ref().unwrap().id, a_id);

    // An hour of the user's silence: the runs heartbeat, nobody is granted or cancelled.
    for _ in 0..360 {
        advance(h, Duration::from_secs(10)).await;
        h.heartbeat(a_id, Caller::Run(a_id), 0).await.unwrap();
        h.heartbeat(b_id, Caller::Run(b_id), 0).await.unwrap();
    }
    assert_eq!(h.status().desktop, snapshot.desktop);

    // Only the user allows, and only the run that was asked about.
    let before = h.status();
    let by_agent = h.allow(a_id, Caller::Run(b_id)).await.unwrap_err();
    assert_eq!(by_agent.code(), baton_core::ErrorCode::Forbidden);
    let not_asked = h.allow(b_id, user()).await.unwrap_err();
    assert_eq!(not_asked.code(), baton_core::ErrorCode::InvalidState);
    assert!(
        not_asked
            .to_string()
            .contains("is not the one waiting for your OK; 'fill the expense form' (test) is"),
        "{not_asked}"
    );
    assert_eq!(h.status(), before, "a refused OK changes nothing");

    let allowed = h.allow(a_id, Caller::user("notification")).await.unwrap();
    assert!(allowed.run.holds_desktop);
    assert!(!allowed.awaiting_ok);
    assert_eq!(allowed.run.lease_token, Some(1));
    assert!(events_of(h, a_id).await.contains(&EventKind::Allowed {
        by: baton_core::Caller::user("notification")
    }));
    // Behind a holder, a newcomer hears that it will need the user's OK too.
    let c3 = h.submit(desktop("upload receipts"), user()).await.unwrap();
    assert!(c3.status.ask_first);
    assert_eq!(
        c3.status.message,
        "the desktop is busy: queued behind 'fill the expense form' (test), position 2; the user OKs each run that takes the desktop, so you will start once it is released, it is your turn and they allow it."
    );

    // When it ends, the desktop stays free and the next one is asked about: no hand-off.
    h.finish(a_id, Caller::Run(a_id), Outcome::Succeeded, Some(0), None)
        .await
        .unwrap();
    let status = h.status();
    assert!(status.desktop.holder.is_none());
    assert_eq!(status.desktop.awaiting_ok.as_ref().unwrap().id, b_id);
    let b_now = h.heartbeat(b_id, Caller::Run(b_id), 0).await.unwrap();
    assert!(b_now.awaiting_ok);
    assert_eq!(
        b_now.message,
        queued(Standing::AwaitingOk, b_id, 1, Voice::Agent)
    );
    assert_eq!(
        events_of(h, b_id).await.last(),
        Some(&EventKind::AwaitingOk)
    );

    // A stale OK for the run that already ended stops at a clear refusal.
    let stale = h.allow(a_id, user()).await.unwrap_err();
    assert_eq!(stale.code(), baton_core::ErrorCode::InvalidState);
    assert!(stale.to_string().contains("already ended"), "{stale}");

    check(&h.events_after(0, 10_000).await.unwrap()).unwrap();
}

#[tokio::test(start_paused = true)]
async fn cancelling_the_waiting_run_asks_about_the_next_and_reordering_asks_anew() {
    let c = core().await;
    let h = &c.handle;
    h.set_ask_first(true, user()).await.unwrap();
    let a = crate::common::submitted(h, desktop("a")).await;
    let b = crate::common::submitted(h, desktop("b")).await;
    let c3 = crate::common::submitted(h, desktop("c")).await;

    // Cancel it: the user's refusal. The next is asked about, still nobody holds.
    h.cancel(a, Caller::user("notification"), None)
        .await
        .unwrap();
    let status = h.status();
    assert!(status.desktop.holder.is_none());
    assert_eq!(status.desktop.awaiting_ok.as_ref().unwrap().id, b);

    // The user moves c first: c is asked about now, and an OK meant for b lets nobody in.
    h.front(c3, user()).await.unwrap();
    assert_eq!(h.status().desktop.awaiting_ok.as_ref().unwrap().id, c3);
    assert_eq!(
        h.allow(b, user()).await.unwrap_err().code(),
        baton_core::ErrorCode::InvalidState
    );
    assert!(h.status().desktop.holder.is_none());

    // Paused hand-offs hold the question back; resuming asks it again.
    h.set_paused(true, user()).await.unwrap();
    assert!(h.status().desktop.awaiting_ok.is_none());
    let refused = h.allow(c3, user()).await.unwrap_err();
    assert!(
        refused.to_string().contains("hand-offs to resume"),
        "{refused}"
    );
    h.set_paused(false, user()).await.unwrap();
    assert_eq!(h.status().desktop.awaiting_ok.as_ref().unwrap().id, c3);

    // Turning asking off lets the waiting run in at once.
    assert!(h.set_ask_first(false, user()).await.unwrap());
    let status = h.status();
    assert_eq!(status.desktop.holder.as_ref().unwrap().id, c3);
    assert!(status.desktop.awaiting_ok.is_none());
    // ... and from then on hand-offs happen by themselves again.
    h.finish(c3, Caller::Run(c3), Outcome::Succeeded, None, None)
        .await
        .unwrap();
    assert_eq!(h.status().desktop.holder.as_ref().unwrap().id, b);

    // Only the user changes the setting.
    assert_eq!(
        h.set_ask_first(true, Caller::Run(b))
            .await
            .unwrap_err()
            .code(),
        baton_core::ErrorCode::Forbidden
    );
    check(&h.events_after(0, 10_000).await.unwrap()).unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_waiting_run_that_vanishes_is_not_asked_about_and_no_wait_runs_are_withdrawn() {
    let c = core().await;
    let h = &c.handle;
    h.set_ask_first(true, user()).await.unwrap();
    let a = crate::common::submitted(h, with_ttl(desktop("a"), Duration::from_secs(1))).await;
    let b = crate::common::submitted(h, with_ttl(desktop("b"), Duration::from_secs(60))).await;
    // a's client is gone (no heartbeat): it expires as always, and b is asked about.
    advance(h, Duration::from_secs(2)).await;
    assert_eq!(h.run(a).await.unwrap().state, RunState::Expired);
    assert_eq!(h.status().desktop.awaiting_ok.as_ref().unwrap().id, b);

    // A run that asked not to wait is not queued for an OK either; it is told why.
    let mut spec = desktop("quick look");
    spec.queue = false;
    let quick = h.submit(spec, user()).await.unwrap();
    assert_eq!(quick.status.run.state, RunState::Withdrawn);
    assert!(
        quick
            .status
            .message
            .contains("the desktop is free, but the user OKs each run that takes it, 1 run waiting; not queued"),
        "{}",
        quick.status.message
    );
}

#[tokio::test]
async fn the_setting_is_read_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let clock = std::sync::Arc::new(baton_core::clock::SystemClock);
    let opened = baton_core::Store::open(
        &dir.path().join("baton.db"),
        baton_core::Durability::Normal,
        baton_core::clock::Clock::now(&*clock),
    )
    .await
    .unwrap();
    let h = baton_core::spawn(
        opened,
        clock,
        baton_core::Config {
            ask_first: true,
            ..Default::default()
        },
    );
    let a = h.submit(desktop("a"), user()).await.unwrap();
    assert!(a.status.awaiting_ok);
    assert!(h.status().desktop.holder.is_none());
}
