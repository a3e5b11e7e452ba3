//! Durability across a crash and a clean stop (DESIGN rules 2 and 10), in-process: the first
//! life's runtime is dropped with the actor in it, so no shutdown code runs. That is only an
//! approximation of a crash (SQLite still closes its connections as they are dropped); the real
//! one, kill -9 of `baton daemon`, is in the CLI's end-to-end tests.

use crate::common::{desktop, open_at, parallel, user};
use baton_core::{Caller, EventKind, Outcome, RunId, RunState, check::check};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn a_crash_interrupts_active_runs_and_tokens_keep_rising() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("baton.db");

    let first = runtime();
    let (a, b, c, p) = first.block_on(async {
        let h = open_at(&path).await;
        let a = crate::common::submitted(&h, desktop("a")).await;
        let b = crate::common::submitted(&h, desktop("b")).await;
        let p = crate::common::submitted(&h, parallel("p")).await;
        h.finish(a, Caller::Run(a), Outcome::Succeeded, Some(0), None)
            .await
            .unwrap();
        let c = crate::common::submitted(&h, desktop("c")).await;
        h.amend(b, Caller::user("test"), "acknowledged".into())
            .await
            .unwrap();
        assert_eq!(h.status().desktop.lease_token, Some(2));
        (a, b, c, p)
    });
    // The actor dies with its runtime: no shutdown, nothing flushed by hand.
    drop(first);

    runtime().block_on(async {
        let h = open_at(&path).await;
        assert_eq!(h.store().integrity_check().await.unwrap(), "ok");
        assert_eq!(h.run(a).await.unwrap().state, RunState::Succeeded);
        for id in [b, c, p] {
            let run = h.run(id).await.unwrap();
            assert_eq!(run.state, RunState::Interrupted, "{id}");
            assert!(run.finished_at.is_some());
        }
        let events = h.events_after(0, 1000).await.unwrap();
        let interrupted: Vec<RunId> = events
            .iter()
            .filter(|e| e.kind == EventKind::Interrupted)
            .filter_map(|e| e.run_id)
            .collect();
        assert_eq!(interrupted, vec![b, p, c]);
        // The acknowledged amendment survived.
        assert!(
            events.iter().any(
                |e| matches!(&e.kind, EventKind::Amended { text, .. } if text == "acknowledged")
            )
        );

        // Nothing is active after the restart, ids and tokens continue.
        let status = h.status();
        assert!(status.desktop.holder.is_none() && status.desktop.queue.is_empty());
        let d = h.submit(desktop("d"), user()).await.unwrap();
        assert!(d.status.run.id > c);
        assert_eq!(d.status.run.lease_token, Some(3));
        check(&h.events_after(0, 1000).await.unwrap()).unwrap();
    });
}

#[test]
fn a_clean_stop_interrupts_and_tells_attached_clients() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("baton.db");
    runtime().block_on(async {
        let h = open_at(&path).await;
        let a = crate::common::submitted(&h, desktop("a")).await;
        let mut attached = h.attach(a, Caller::Run(a)).await.unwrap();
        h.shutdown().await;
        // The attached client sees the final status, then the channel closes.
        let _ = attached.updates.changed().await;
        let last = attached.updates.borrow().clone();
        assert_eq!(last.run.state, RunState::Interrupted);
        assert!(attached.updates.changed().await.is_err());
        assert_eq!(
            h.submit(desktop("late"), user()).await.unwrap_err().code(),
            baton_core::ErrorCode::ShuttingDown
        );
    });
    runtime().block_on(async {
        let h = open_at(&path).await;
        assert_eq!(h.run(RunId(1)).await.unwrap().state, RunState::Interrupted);
        check(&h.events_after(0, 1000).await.unwrap()).unwrap();
    });
}

#[test]
fn pruning_keeps_active_runs_and_the_newest_so_ids_and_sequence_numbers_go_on() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("baton.db");
    let first = runtime();
    let (p, b, last_seq) = first.block_on(async {
        let h = open_at(&path).await;
        let run = |s: baton_core::Submitted| (s.status.run.id, s.token);
        let (a, _) = run(h.submit(parallel("a"), user()).await.unwrap());
        h.finish(a, Caller::Run(a), Outcome::Succeeded, None, None)
            .await
            .unwrap();
        let (p, _) = run(h.submit(parallel("p"), user()).await.unwrap());
        let (b, _) = run(h.submit(parallel("b"), user()).await.unwrap());
        h.cancel(b, user(), None).await.unwrap();
        // Everything is older than a cutoff in the future.
        let pruned = h
            .store()
            .prune(baton_core::Timestamp(i64::MAX))
            .await
            .unwrap();
        assert_eq!(
            pruned.runs, 1,
            "only the ended run that is not the newest goes"
        );
        let kept = h.events_after(0, 1000).await.unwrap();
        assert_eq!(kept.len(), 1, "the newest event stays: {kept:?}");
        assert!(h.store().run(a).await.unwrap().is_none());
        assert!(
            h.store().run(b).await.unwrap().is_some(),
            "the newest run stays"
        );
        (p, b, kept[0].seq)
    });
    drop(first);
    let second = runtime();
    second.block_on(async {
        let h = open_at(&path).await;
        let next = crate::common::submitted(&h, parallel("next")).await;
        assert_eq!(next, RunId(b.0 + 1), "ids are never reused");
        let events = h.events_after(0, 1000).await.unwrap();
        assert!(events.iter().all(|e| e.seq >= last_seq), "{events:?}");
        assert!(events.iter().any(|e| e.seq > last_seq));
        // The run a crash left active was kept, and is interrupted now.
        let run = h.store().run(p).await.unwrap().unwrap();
        assert_eq!(run.state, RunState::Interrupted);
    });
}
