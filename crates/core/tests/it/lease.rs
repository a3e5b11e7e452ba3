//! The lease's rules of docs/DESIGN.md section 2 (1 to 6, 9, 11 and the lease's part of 7) and
//! the requests of section 4, scenario by scenario, against the real actor and a real SQLite
//! file. Input (rule 8), durability across crashes (rule 10) and commands (the rest of rule 7)
//! have tests of their own: see the table in docs/DESIGN.md.

use std::time::Duration;

use crate::common::{advance, core, desktop, parallel, user, with_ttl};
use baton_core::actor::QUEUE_MOVES;
use baton_core::{Caller, Error, EventKind, Outcome, ResourceName, RunId, RunState, check::check};

async fn all_events(handle: &baton_core::Handle) -> Vec<baton_core::Event> {
    handle.events_after(0, 10_000).await.unwrap()
}

#[tokio::test(start_paused = true)]
async fn desktop_runs_queue_fifo_and_are_told_the_honest_thing() {
    let c = core().await;
    let h = &c.handle;
    let a = h
        .submit(desktop("log in to the bank"), user())
        .await
        .unwrap();
    assert_eq!(a.status.run.state, RunState::Running);
    assert!(a.status.run.holds_desktop);
    assert_eq!(a.status.run.lease_token, Some(1));

    let mut spec = desktop("fill the form");
    spec.client = "codex".into();
    let b = h.submit(spec, user()).await.unwrap();
    assert_eq!(b.status.run.state, RunState::Queued);
    assert_eq!(b.status.run.position, Some(1));
    assert_eq!(b.status.run.lease_token, None);
    assert_eq!(
        b.status.message,
        "the desktop is busy: queued behind 'log in to the bank' (test), position 1; you will start automatically when it is released."
    );
    assert_eq!(b.status.queued_behind.as_ref().unwrap().id, a.status.run.id);

    let c3 = h.submit(desktop("third"), user()).await.unwrap();
    assert_eq!(c3.status.run.position, Some(2));

    let status = h.status();
    let queue: Vec<RunId> = status.desktop.queue.iter().map(|r| r.id).collect();
    assert_eq!(queue, vec![b.status.run.id, c3.status.run.id]);

    // The holder finishes: the lease goes straight to the first in line with a new token.
    h.finish(
        a.status.run.id,
        Caller::Run(a.status.run.id),
        Outcome::Succeeded,
        Some(0),
        None,
    )
    .await
    .unwrap();
    let status = h.status();
    let holder = status.desktop.holder.as_ref().unwrap();
    assert_eq!(holder.id, b.status.run.id);
    assert_eq!(status.desktop.lease_token, Some(2));
    assert_eq!(status.desktop.queue[0].position, Some(1));

    let events = all_events(h).await;
    assert!(events.iter().any(|e| e.run_id == Some(b.status.run.id)
        && e.kind
            == EventKind::Granted {
                lease_token: 2,
                handed_from: Some(a.status.run.id),
                resource: ResourceName::desktop(),
            }));
    check(&events).unwrap();
}

#[tokio::test(start_paused = true)]
async fn work_without_the_desktop_never_waits() {
    let c = core().await;
    let h = &c.handle;
    h.submit(desktop("holder"), user()).await.unwrap();
    h.submit(desktop("waiter"), user()).await.unwrap();
    h.set_paused(true, user()).await.unwrap();
    let p = h.submit(parallel("run the tests"), user()).await.unwrap();
    assert_eq!(p.status.run.state, RunState::Running);
    assert!(!p.status.run.holds_desktop);
    assert_eq!(h.status().running.len(), 1);
}

#[tokio::test(start_paused = true)]
async fn status_changes_nothing() {
    let c = core().await;
    let h = &c.handle;
    h.submit(desktop("a"), user()).await.unwrap();
    h.submit(desktop("b"), user()).await.unwrap();
    let before = h.status();
    let events_before = all_events(h).await;
    for _ in 0..10 {
        let _ = h.status();
        let _ = h.run(RunId(1)).await.unwrap();
        let _ = h.history(&Default::default()).await.unwrap();
        let _ = h.cancel_targets(RunId(2));
    }
    assert_eq!(h.status(), before);
    assert_eq!(all_events(h).await, events_before);
}

#[tokio::test(start_paused = true)]
async fn a_run_never_cancels_itself_but_may_relay_the_user() {
    let c = core().await;
    let h = &c.handle;
    let a = crate::common::submitted(h, desktop("a")).await;
    let b = crate::common::submitted(h, desktop("b")).await;

    // Not listed among its own cancel targets.
    let targets: Vec<RunId> = h.cancel_targets(a).iter().map(|r| r.id).collect();
    assert_eq!(targets, vec![b]);

    // A self-cancel is refused, with or without a reason, and changes nothing.
    let before = h.status();
    for reason in [None, Some("the user said stop".to_string())] {
        let err = h.cancel(a, Caller::Run(a), reason).await.unwrap_err();
        assert!(matches!(err, Error::SelfCancel(id) if id == a), "{err}");
        assert!(err.to_string().contains("cannot cancel itself"));
    }
    assert_eq!(h.status(), before);

    // Relaying needs a reason.
    let err = h.cancel(b, Caller::Run(a), None).await.unwrap_err();
    assert_eq!(err.code(), baton_core::ErrorCode::InvalidRequest);

    // With one it is recorded as relayed by run a.
    let cancelled = h
        .cancel(b, Caller::Run(a), Some("user: skip the form".into()))
        .await
        .unwrap();
    assert_eq!(cancelled.state, RunState::Cancelled);
    assert_eq!(cancelled.cancelled_by, Some(Caller::Run(a)));
    assert_eq!(cancelled.reason.as_deref(), Some("user: skip the form"));
    let stored = h.run(b).await.unwrap();
    assert_eq!(stored.cancelled_by, cancelled.cancelled_by);
}

#[tokio::test(start_paused = true)]
async fn only_the_user_reorders_replaces_pauses_and_stops() {
    let c = core().await;
    let h = &c.handle;
    let a = crate::common::submitted(h, desktop("a")).await;
    let b = crate::common::submitted(h, desktop("b")).await;
    let agent = Caller::Run(a);
    let before = h.status();
    assert_eq!(
        h.front(b, agent.clone()).await.unwrap_err().code(),
        baton_core::ErrorCode::Forbidden
    );
    assert_eq!(
        h.set_paused(true, agent.clone()).await.unwrap_err().code(),
        baton_core::ErrorCode::Forbidden
    );
    assert_eq!(
        h.stop_holder(agent.clone(), None, None)
            .await
            .unwrap_err()
            .code(),
        baton_core::ErrorCode::Forbidden
    );
    assert_eq!(
        h.replace(b, desktop("c"), agent.clone())
            .await
            .unwrap_err()
            .code(),
        baton_core::ErrorCode::Forbidden
    );
    // A run acts only on itself.
    assert_eq!(
        h.finish(b, agent.clone(), Outcome::Failed, None, None)
            .await
            .unwrap_err()
            .code(),
        baton_core::ErrorCode::Forbidden
    );
    assert_eq!(
        h.release(b, agent).await.unwrap_err().code(),
        baton_core::ErrorCode::Forbidden
    );
    assert_eq!(h.status(), before);
}

#[tokio::test(start_paused = true)]
async fn cancelling_the_holder_hands_the_lease_on_at_once() {
    let c = core().await;
    let h = &c.handle;
    let a = crate::common::submitted(h, desktop("a")).await;
    let b = crate::common::submitted(h, desktop("b")).await;
    let stopped = h
        .stop_holder(Caller::user("hotkey"), Some("wrong window".into()), None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stopped.id, a);
    assert_eq!(
        stopped.cancelled_by,
        Some(baton_core::Caller::user("hotkey"))
    );
    let status = h.status();
    assert_eq!(status.desktop.holder.as_ref().unwrap().id, b);
    // Nothing left to stop after the queue drains.
    h.stop_holder(user(), None, None).await.unwrap();
    assert_eq!(h.stop_holder(user(), None, None).await.unwrap(), None);
}

#[tokio::test(start_paused = true)]
async fn a_silent_holder_expires_after_its_ttl_and_the_next_starts() {
    let c = core().await;
    let h = &c.handle;
    let ttl = Duration::from_secs(2);
    let a = crate::common::submitted(h, with_ttl(desktop("a"), ttl)).await;
    let b = crate::common::submitted(h, with_ttl(desktop("b"), Duration::from_secs(60))).await;

    // Heartbeats keep it alive well past one TTL.
    for _ in 0..5 {
        advance(h, Duration::from_millis(1500)).await;
        h.heartbeat(a, Caller::Run(a), 0).await.unwrap();
    }
    assert_eq!(h.status().desktop.holder.as_ref().unwrap().id, a);

    // Silence: just short of the TTL nothing happens, just past it the lease moves.
    advance(h, Duration::from_millis(1999)).await;
    assert_eq!(h.status().desktop.holder.as_ref().unwrap().id, a);
    advance(h, Duration::from_millis(2)).await;
    let status = h.status();
    assert_eq!(status.desktop.holder.as_ref().unwrap().id, b);
    let expired = h.run(a).await.unwrap();
    assert_eq!(expired.state, RunState::Expired);
    assert_eq!(expired.reason.as_deref(), Some("no heartbeat for 2s"));

    // The expired run's heartbeat tells it what happened, it does not revive it.
    let late = h.heartbeat(a, Caller::Run(a), 0).await.unwrap();
    assert!(late.ended);
    assert_eq!(late.run.state, RunState::Expired);
    check(&all_events(h).await).unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_dropped_connection_releases_at_once() {
    let c = core().await;
    let h = &c.handle;
    let a = crate::common::submitted(h, desktop("a")).await;
    let b = crate::common::submitted(h, desktop("b")).await;
    let attachment = h.attach(a, Caller::Run(a)).await.unwrap();
    let mut waiter = h.attach(b, Caller::Run(b)).await.unwrap();
    drop(attachment);
    // No time passes: the waiter is granted because the holder's connection closed.
    waiter.updates.changed().await.unwrap();
    let status = waiter.updates.borrow().clone();
    assert!(status.run.holds_desktop, "{status:?}");
    assert_eq!(h.run(a).await.unwrap().state, RunState::Expired);
}

#[tokio::test(start_paused = true)]
async fn paused_hand_offs_keep_the_holder_and_hold_the_queue() {
    let c = core().await;
    let h = &c.handle;
    let a = crate::common::submitted(h, desktop("a")).await;
    let b = crate::common::submitted(h, desktop("b")).await;
    assert!(h.set_paused(true, user()).await.unwrap());
    assert!(!h.set_paused(true, user()).await.unwrap(), "idempotent");
    h.finish(a, Caller::Run(a), Outcome::Succeeded, None, None)
        .await
        .unwrap();
    let status = h.status();
    assert!(status.desktop.holder.is_none());
    assert!(status.desktop.paused);
    let waiting = h.heartbeat(b, Caller::Run(b), 0).await.unwrap();
    assert!(
        waiting.message.contains("hand-offs are paused"),
        "{}",
        waiting.message
    );
    // Newcomers queue behind, even though the desktop is free.
    let c3 = h.submit(desktop("c"), user()).await.unwrap();
    assert_eq!(c3.status.run.position, Some(2));
    h.set_paused(false, user()).await.unwrap();
    assert_eq!(h.status().desktop.holder.as_ref().unwrap().id, b);
    check(&all_events(h).await).unwrap();
}

#[tokio::test(start_paused = true)]
async fn the_user_moves_a_run_to_the_front() {
    let c = core().await;
    let h = &c.handle;
    let a = crate::common::submitted(h, desktop("a")).await;
    let b = crate::common::submitted(h, desktop("b")).await;
    let d = crate::common::submitted(h, desktop("d")).await;
    let moved = h.front(d, user()).await.unwrap();
    assert_eq!(moved.run.position, Some(1));
    assert_eq!(
        h.front(a, user()).await.unwrap_err().code(),
        baton_core::ErrorCode::InvalidState
    );
    h.cancel(a, user(), None).await.unwrap();
    assert_eq!(h.status().desktop.holder.as_ref().unwrap().id, d);
    assert_eq!(h.status().desktop.queue[0].id, b);
    check(&all_events(h).await).unwrap();
}

#[tokio::test(start_paused = true)]
async fn replace_puts_the_new_run_in_the_old_ones_place() {
    let c = core().await;
    let h = &c.handle;
    let a = crate::common::submitted(h, desktop("a")).await;
    let b = crate::common::submitted(h, desktop("b")).await;
    let d = crate::common::submitted(h, desktop("d")).await;

    // A queued run: the replacement takes its slot, not the back of the queue.
    let b2 = h.replace(b, desktop("b, corrected"), user()).await.unwrap();
    assert_eq!(b2.status.run.position, Some(1));
    let old = h.run(b).await.unwrap();
    assert_eq!(old.state, RunState::Cancelled);
    assert_eq!(
        old.reason.as_deref(),
        Some(&*format!("replaced by run #{}", b2.status.run.id))
    );

    // The holder: the replacement gets the lease directly, with a new token.
    let a2 = h.replace(a, desktop("a, corrected"), user()).await.unwrap();
    assert!(a2.status.run.holds_desktop);
    assert_eq!(a2.status.run.lease_token, Some(2));
    let queue: Vec<RunId> = h.status().desktop.queue.iter().map(|r| r.id).collect();
    assert_eq!(queue, vec![b2.status.run.id, d]);

    // An ended run cannot be replaced.
    let err = h.replace(a, desktop("x"), user()).await.unwrap_err();
    assert_eq!(err.code(), baton_core::ErrorCode::InvalidState);
    assert!(err.to_string().contains("already ended"), "{err}");
    check(&all_events(h).await).unwrap();
}

#[tokio::test(start_paused = true)]
async fn release_goes_on_in_parallel_and_acquire_queues_at_the_back() {
    let c = core().await;
    let h = &c.handle;
    let a = crate::common::submitted(h, desktop("a")).await;
    let b = crate::common::submitted(h, desktop("b")).await;
    let released = h.release(a, Caller::Run(a)).await.unwrap();
    assert_eq!(released.run.state, RunState::Running);
    assert!(!released.run.holds_desktop);
    assert_eq!(h.status().desktop.holder.as_ref().unwrap().id, b);
    assert_eq!(h.status().running[0].id, a);

    let again = h.acquire(a, Caller::Run(a)).await.unwrap();
    assert_eq!(again.run.state, RunState::Queued);
    assert_eq!(again.run.position, Some(1));
    h.finish(b, Caller::Run(b), Outcome::Succeeded, None, None)
        .await
        .unwrap();
    let status = h.heartbeat(a, Caller::Run(a), 0).await.unwrap();
    assert!(status.run.holds_desktop);
    assert_eq!(status.run.lease_token, Some(3));
    check(&all_events(h).await).unwrap();
}

#[tokio::test(start_paused = true)]
async fn amendments_reach_the_inbox_and_change_nothing_else() {
    let c = core().await;
    let h = &c.handle;
    let a = crate::common::submitted(h, desktop("a")).await;
    let b = crate::common::submitted(h, desktop("b")).await;
    let before = h.status();
    h.amend(a, user(), "use the staging account".into())
        .await
        .unwrap();
    // Another run writes to a's inbox only to relay the user, with the user's words.
    let err = h
        .amend(a, Caller::Run(b), "and log out after".into())
        .await
        .unwrap_err();
    assert_eq!(err.code(), baton_core::ErrorCode::Forbidden, "{err}");
    h.amend_with(
        a,
        Caller::Run(b),
        "and log out after".into(),
        Some("the user said so".into()),
    )
    .await
    .unwrap();
    // Its own inbox, a run may write to freely.
    h.amend(b, Caller::Run(b), "remember the login".into())
        .await
        .unwrap();
    let after = h.status();
    assert_eq!(
        after.desktop, before.desktop,
        "nothing cancelled or requeued"
    );
    assert_eq!(after.running, before.running);
    let status = h.heartbeat(a, Caller::Run(a), 0).await.unwrap();
    let texts: Vec<_> = status
        .inbox
        .iter()
        .map(|m| (m.n, m.by.as_str(), m.text.as_str()))
        .collect();
    let by_b = format!("run:{b} relaying the user: the user said so");
    assert_eq!(
        texts,
        vec![
            (1, "user:test", "use the staging account"),
            (2, by_b.as_str(), "and log out after")
        ]
    );
    assert_eq!(status.inbox_after(1).inbox.len(), 1);
    assert_eq!(
        h.amend(a, user(), "   ".into()).await.unwrap_err().code(),
        baton_core::ErrorCode::InvalidRequest
    );
}

#[tokio::test(start_paused = true)]
async fn no_wait_and_withdraw_record_a_withdrawn_run() {
    let c = core().await;
    let h = &c.handle;
    h.submit(desktop("a"), user()).await.unwrap();
    let mut spec = desktop("impatient");
    spec.queue = false;
    let refused = h.submit(spec, user()).await.unwrap();
    assert_eq!(refused.status.run.state, RunState::Withdrawn);
    assert!(refused.status.ended);
    assert_eq!(
        refused.status.message,
        "run #2 was withdrawn: the desktop is busy: held by 'a' (test); not queued, because the run asked not to wait"
    );
    assert!(h.status().desktop.queue.is_empty());

    let b = crate::common::submitted(h, desktop("b")).await;
    let gone = h.withdraw(b, Caller::Run(b), None).await.unwrap();
    assert_eq!(gone.state, RunState::Withdrawn);
    assert!(h.status().desktop.queue.is_empty());
    check(&all_events(h).await).unwrap();
}

#[tokio::test(start_paused = true)]
async fn wait_blocks_until_the_run_is_granted() {
    let c = core().await;
    let h = c.handle.clone();
    let a = crate::common::submitted(&h, desktop("a")).await;
    let queued = h.submit(desktop("b"), user()).await.unwrap();
    let b = queued.status.run.id;
    let waiter = {
        let h = h.clone();
        let version = queued.status.version;
        tokio::spawn(async move {
            h.wait(b, Caller::Run(b), version, 0, Duration::from_secs(5))
                .await
        })
    };
    tokio::task::yield_now().await;
    advance(&h, Duration::from_millis(100)).await;
    assert!(!waiter.is_finished());
    h.finish(a, Caller::Run(a), Outcome::Succeeded, None, None)
        .await
        .unwrap();
    let status = waiter.await.unwrap().unwrap();
    assert!(status.run.holds_desktop);

    // With nothing changing, wait returns after its timeout (capped at half the TTL).
    let version = status.version;
    let waiter = tokio::spawn({
        let h = h.clone();
        async move {
            h.wait(b, Caller::Run(b), version, 0, Duration::from_secs(30))
                .await
        }
    });
    tokio::task::yield_now().await;
    advance(&h, Duration::from_millis(7400)).await;
    assert!(!waiter.is_finished());
    advance(&h, Duration::from_millis(200)).await;
    let status = waiter.await.unwrap().unwrap();
    assert_eq!(status.version, version);
}

#[tokio::test(start_paused = true)]
async fn bad_requests_are_refused_and_change_nothing() {
    let c = core().await;
    let h = &c.handle;
    let a = crate::common::submitted(h, desktop("a")).await;
    let before = h.status();
    let events = all_events(h).await;
    let long = "x".repeat(201);
    for spec in [
        desktop(""),
        desktop("   "),
        desktop(&long),
        with_ttl(desktop("t"), Duration::ZERO),
        with_ttl(desktop("t"), Duration::from_secs(25 * 3600)),
    ] {
        assert_eq!(
            h.submit(spec, user()).await.unwrap_err().code(),
            baton_core::ErrorCode::InvalidRequest
        );
    }
    assert_eq!(
        h.cancel(RunId(999), user(), None).await.unwrap_err().code(),
        baton_core::ErrorCode::UnknownRun
    );
    h.finish(a, Caller::Run(a), Outcome::Succeeded, None, None)
        .await
        .unwrap();
    let after_finish = h.status();
    let err = h.cancel(a, user(), None).await.unwrap_err();
    assert_eq!(err.code(), baton_core::ErrorCode::InvalidState);
    assert!(
        err.to_string().contains("already ended (succeeded)"),
        "{err}"
    );
    assert_eq!(h.status(), after_finish);
    assert_ne!(before, after_finish);
    // Only the finish (and the release it implies) reached the log.
    assert_eq!(all_events(h).await.len(), events.len() + 2);
}

#[tokio::test(start_paused = true)]
async fn nobody_acts_as_a_run_but_the_run_itself() {
    let c = core().await;
    let h = &c.handle;
    let a = crate::common::submitted(h, desktop("a")).await;
    let b = crate::common::submitted(h, desktop("b")).await;
    let before = h.status();
    // Not even the user: the user ends a run by cancelling it, recorded as such.
    for caller in [user(), Caller::Run(b)] {
        let codes = [
            h.heartbeat(a, caller.clone(), 0).await.map(|_| ()),
            h.attach(a, caller.clone()).await.map(|_| ()),
            h.finish(a, caller.clone(), Outcome::Succeeded, None, None)
                .await
                .map(|_| ()),
            h.release(a, caller.clone()).await.map(|_| ()),
            h.acquire(a, caller.clone()).await.map(|_| ()),
            h.withdraw(
                b,
                if caller == user() {
                    user()
                } else {
                    Caller::Run(a)
                },
                None,
            )
            .await
            .map(|_| ()),
        ];
        for result in codes {
            let err = result.unwrap_err();
            assert_eq!(
                err.code(),
                baton_core::ErrorCode::Forbidden,
                "{caller:?}: {err}"
            );
            assert!(err.to_string().contains("itself can"), "{err}");
        }
    }
    assert_eq!(h.status(), before);
}

#[tokio::test(start_paused = true)]
async fn read_notes_are_dropped_and_numbers_never_repeat() {
    let c = core().await;
    let h = &c.handle;
    let a = crate::common::submitted(h, desktop("a")).await;
    for i in 0..100 {
        h.amend(a, user(), format!("note {i}")).await.unwrap();
    }
    let err = h.amend(a, user(), "one too many".into()).await.unwrap_err();
    assert!(err.to_string().contains("100 unread corrections"), "{err}");
    // Reading them makes room; the next note is number 101, not 1.
    let status = h.heartbeat(a, Caller::Run(a), 100).await.unwrap();
    assert!(status.inbox.is_empty());
    let status = h.amend(a, user(), "after reading".into()).await.unwrap();
    assert_eq!(
        status.inbox.iter().map(|n| n.n).collect::<Vec<_>>(),
        vec![101]
    );
}

#[tokio::test(start_paused = true)]
async fn a_run_waiting_to_reacquire_can_still_finish() {
    let c = core().await;
    let h = &c.handle;
    let a = crate::common::submitted(h, desktop("a")).await;
    let b = crate::common::submitted(h, desktop("b")).await;
    h.release(a, Caller::Run(a)).await.unwrap();
    assert_eq!(
        h.acquire(a, Caller::Run(a)).await.unwrap().run.state,
        RunState::Queued
    );
    let done = h
        .finish(a, Caller::Run(a), Outcome::Succeeded, Some(0), None)
        .await
        .unwrap();
    assert_eq!(done.state, RunState::Succeeded);
    assert!(h.status().desktop.queue.is_empty());
    assert_eq!(h.status().desktop.holder.as_ref().unwrap().id, b);
    // A run that never started must withdraw instead.
    let d = crate::common::submitted(h, desktop("d")).await;
    let err = h
        .finish(d, Caller::Run(d), Outcome::Succeeded, None, None)
        .await
        .unwrap_err();
    assert_eq!(err.code(), baton_core::ErrorCode::InvalidState);
    check(&all_events(h).await).unwrap();
}

#[tokio::test(start_paused = true)]
async fn an_ended_run_can_no_longer_relay_a_stop() {
    let c = core().await;
    let h = &c.handle;
    let a = crate::common::submitted(h, parallel("a")).await;
    let b = crate::common::submitted(h, desktop("b")).await;
    h.finish(a, Caller::Run(a), Outcome::Succeeded, None, None)
        .await
        .unwrap();
    let err = h
        .cancel(b, Caller::Run(a), Some("user said so".into()))
        .await
        .unwrap_err();
    assert_eq!(err.code(), baton_core::ErrorCode::Forbidden);
    assert!(h.status().desktop.holder.is_some());
}

#[tokio::test(start_paused = true)]
async fn the_user_changes_the_default_ttl_for_new_runs() {
    let c = core().await;
    let h = &c.handle;
    let before = h
        .submit(desktop("before"), user())
        .await
        .unwrap()
        .status
        .run;
    assert_eq!(before.ttl_ms, 15_000);
    h.set_default_ttl(Duration::from_secs(40), user())
        .await
        .unwrap();
    let after = h
        .submit(parallel("after"), user())
        .await
        .unwrap()
        .status
        .run;
    assert_eq!(after.ttl_ms, 40_000);
    // Runs already going keep theirs; bad values and agents are refused.
    assert_eq!(h.run(before.id).await.unwrap().ttl_ms, 15_000);
    for ttl in [Duration::ZERO, Duration::from_secs(25 * 3600)] {
        let err = h.set_default_ttl(ttl, user()).await.unwrap_err();
        assert_eq!(err.code(), baton_core::ErrorCode::InvalidRequest);
    }
    let err = h
        .set_default_ttl(Duration::from_secs(5), Caller::Run(before.id))
        .await
        .unwrap_err();
    assert_eq!(err.code(), baton_core::ErrorCode::Forbidden);
    assert_eq!(
        h.submit(parallel("still"), user())
            .await
            .unwrap()
            .status
            .run
            .ttl_ms,
        40_000
    );
}

#[tokio::test(start_paused = true)]
async fn a_stop_aimed_at_a_holder_that_is_gone_stops_nobody() {
    let c = core().await;
    let h = &c.handle;
    let a = crate::common::submitted(h, desktop("a")).await;
    let b = crate::common::submitted(h, desktop("b")).await;
    // The user saw a holding and clicks Stop twice: the second click lands after the hand-off.
    let stopped = h.stop_holder(user(), None, Some(a)).await.unwrap().unwrap();
    assert_eq!(stopped.id, a);
    let err = h.stop_holder(user(), None, Some(a)).await.unwrap_err();
    assert_eq!(err.code(), baton_core::ErrorCode::InvalidState);
    assert!(
        err.to_string()
            .contains("changed hands: 'b' (test) holds it now"),
        "{err}"
    );
    assert_eq!(h.status().desktop.holder.as_ref().unwrap().id, b);
    // The release said where the lease was going.
    let events = all_events(h).await;
    assert!(events.iter().any(|e| e.run_id == Some(a)
        && e.kind
            == EventKind::Released {
                lease_token: Some(1),
                handed_to: Some(b),
                resource: ResourceName::desktop(),
            }));
    h.finish(b, Caller::Run(b), Outcome::Succeeded, None, None)
        .await
        .unwrap();
    let err = h.stop_holder(user(), None, Some(b)).await.unwrap_err();
    assert!(
        err.to_string().contains("no longer holds the desktop"),
        "{err}"
    );
}

#[tokio::test]
async fn caps_refuse_runs_beyond_them_and_free_as_runs_end() {
    let dir = tempfile::tempdir().unwrap();
    let clock = std::sync::Arc::new(baton_core::clock::TokioClock::starting_at(
        crate::common::EPOCH,
    ));
    let opened = baton_core::Store::open(
        &dir.path().join("baton.db"),
        baton_core::Durability::Normal,
        baton_core::clock::Clock::now(&*clock),
    )
    .await
    .unwrap();
    let caps = baton_core::Caps {
        max_active: 3,
        max_per_client: 2,
    };
    let h = baton_core::spawn(
        opened,
        clock,
        baton_core::Config {
            caps,
            ..Default::default()
        },
    );
    let spec = |client: &str| baton_core::RunSpec::new("t", client, true);
    let a = crate::common::submitted(&h, spec("a")).await;
    h.submit(spec("a"), user()).await.unwrap();
    let refused = h.submit(spec("a"), user()).await.unwrap_err();
    assert!(matches!(refused, Error::TooManyRuns(_)), "{refused}");
    assert_eq!(refused.code(), baton_core::ErrorCode::TooManyRuns);
    h.submit(spec("b"), user()).await.unwrap();
    let refused = h.submit(spec("c"), user()).await.unwrap_err();
    assert!(refused.to_string().contains("3 active runs"), "{refused}");
    // A refused submit is not recorded, and the queue is as it was.
    assert_eq!(h.status().desktop.queue.len(), 2);
    h.cancel(a, Caller::user("test"), None).await.unwrap();
    h.submit(spec("c"), user()).await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_run_hears_its_new_place_whether_or_not_it_was_watching() {
    let c = core().await;
    let h = &c.handle;
    let holder = crate::common::submitted(h, desktop("holder")).await;
    let first = crate::common::submitted(h, desktop("first")).await;
    let unwatched = h.submit(desktop("unwatched"), user()).await.unwrap();
    let watched = crate::common::submitted(h, desktop("watched")).await;
    let mut attached = h.attach(watched, Caller::Run(watched)).await.unwrap();
    assert_eq!(attached.updates.borrow().run.position, Some(3));
    // Someone ahead leaves: the watcher is told without asking, within QUEUE_MOVES (a move is
    // not news enough to rebuild every waiter's status at every hand-off), and not before.
    h.cancel(first, user(), None).await.unwrap();
    advance(h, QUEUE_MOVES - Duration::from_millis(1)).await;
    assert!(!attached.updates.has_changed().unwrap());
    assert_eq!(attached.updates.borrow().run.position, Some(3));
    advance(h, Duration::from_millis(1)).await;
    attached.updates.changed().await.unwrap();
    assert_eq!(attached.updates.borrow().run.position, Some(2));
    // The run nobody watched learns its place when it asks, with a newer version.
    let id = unwatched.status.run.id;
    let now = h.heartbeat(id, Caller::Run(id), 0).await.unwrap();
    assert_eq!(now.run.position, Some(1));
    assert!(now.version > unwatched.status.version, "{now:?}");
    assert_eq!(h.status().desktop.queue[0].position, Some(1));
    // The holder hands on: both hear it.
    h.finish(holder, Caller::Run(holder), Outcome::Succeeded, None, None)
        .await
        .unwrap();
    advance(h, QUEUE_MOVES).await;
    attached.updates.changed().await.unwrap();
    assert_eq!(attached.updates.borrow().run.position, Some(1));
    let now = h.heartbeat(id, Caller::Run(id), 0).await.unwrap();
    assert!(now.run.holds_desktop, "{now:?}");
    // A grant is the run's own news: told at once, with no time passing.
    h.finish(id, Caller::Run(id), Outcome::Succeeded, None, None)
        .await
        .unwrap();
    attached.updates.changed().await.unwrap();
    assert!(attached.updates.borrow().run.holds_desktop);
}

#[tokio::test(start_paused = true)]
async fn what_was_seen_of_one_holder_never_pauses_or_resumes_the_next() {
    let c = core().await;
    let h = &c.handle;
    let a = crate::common::submitted(h, desktop("a")).await;
    let b = crate::common::submitted(h, desktop("b")).await;
    h.finish(a, Caller::Run(a), Outcome::Succeeded, None, None)
        .await
        .unwrap();
    // The person's input seen under a, weighed after the hand-off to b: nothing happens.
    let takeover = Caller::user("takeover");
    assert!(
        !h.set_holder_paused_if(a, true, takeover.clone())
            .await
            .unwrap()
    );
    assert!(!h.status().desktop.holder_paused);
    assert!(
        h.set_holder_paused_if(b, true, takeover.clone())
            .await
            .unwrap()
    );
    assert!(!h.set_holder_paused_if(a, false, takeover).await.unwrap());
    assert!(
        h.status().desktop.holder_paused,
        "b stays paused until its own resume"
    );
}
