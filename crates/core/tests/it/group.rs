//! Many clients at once against the real actor and a real SQLite file, on a multi-threaded
//! runtime, so requests pile up while a commit runs and share group commits. Every answer must
//! still come after its change is on disk, and the log must keep every rule.

use std::path::Path;
use std::sync::Arc;

use crate::common::{desktop, open_at, user};
use baton_core::{Caller, Error, Outcome, RunState, check::check};

/// Reads a run's state straight from the file, on a connection of its own.
async fn state_on_disk(db: &Path, id: i64) -> Option<String> {
    use sqlx::ConnectOptions;
    let mut conn = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(db)
        .read_only(true)
        .connect()
        .await
        .unwrap();
    sqlx::query_scalar("SELECT state FROM runs WHERE id = ?1")
        .bind(id)
        .fetch_optional(&mut conn)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_share_commits_and_every_answer_is_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let db = Arc::new(dir.path().join("baton.db"));
    let handle = open_at(&db).await;
    let clients = 24;
    let rounds = 15;
    let commits_before = handle.store().commits();
    let succeeded = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for client in 0..clients {
        let (h, db, succeeded) = (handle.clone(), db.clone(), succeeded.clone());
        tasks.push(tokio::spawn(async move {
            for round in 0..rounds {
                let submitted = h
                    .submit(desktop(&format!("c{client} r{round}")), user())
                    .await
                    .unwrap();
                let id = submitted.status.run.id;
                // Answered, so committed: another connection sees it.
                let seen = state_on_disk(&db, id.0).await.unwrap();
                assert!(seen == "queued" || seen == "running", "#{id}: {seen}");
                // Half finish at once (waiting or holding), half are cancelled by the user.
                let ended = if round % 2 == 0 {
                    // The run ends itself: finished once it started, withdrawn while it
                    // waits (a grant may come between the two).
                    let me = Caller::Run(id);
                    loop {
                        match h
                            .finish(id, me.clone(), Outcome::Succeeded, None, None)
                            .await
                        {
                            Ok(run) => break run,
                            Err(Error::InvalidState(_)) => {}
                            Err(e) => panic!("{e}"),
                        }
                        match h.withdraw(id, me.clone(), None).await {
                            Ok(run) => break run,
                            Err(Error::InvalidState(_)) => {}
                            Err(e) => panic!("{e}"),
                        }
                    }
                } else {
                    h.cancel(id, Caller::user("test"), Some("done".into()))
                        .await
                        .unwrap()
                };
                let on_disk = state_on_disk(&db, id.0).await.unwrap();
                assert_eq!(on_disk, ended.state.as_str(), "#{id}");
                assert!(matches!(
                    ended.state,
                    RunState::Succeeded | RunState::Cancelled | RunState::Withdrawn
                ));
                if ended.state == RunState::Succeeded {
                    succeeded.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let events = handle.events_after(0, 100_000).await.unwrap();
    let summary = check(&events).unwrap();
    // A desktop run finishes only after it was granted the desktop.
    let succeeded = succeeded.load(std::sync::atomic::Ordering::Relaxed);
    assert!(
        summary.grants >= succeeded,
        "{} grants in the log, but {succeeded} desktop runs finished",
        summary.grants
    );
    // Every submit and every end was a change acknowledged after its commit; sharing means
    // fewer commits than that.
    let acknowledged = (clients * rounds * 2) as u64;
    let commits = handle.store().commits() - commits_before;
    eprintln!("group commit: {acknowledged} acknowledged changes in {commits} commits");
    assert!(
        commits < acknowledged,
        "{acknowledged} acknowledged changes took {commits} commits: none shared one"
    );
    let submitted = events
        .iter()
        .filter(|e| e.kind.name() == "submitted")
        .count();
    assert_eq!(submitted, clients * rounds);
    let status = handle.status();
    assert!(status.desktop.holder.is_none(), "{status:?}");
    assert!(status.desktop.queue.is_empty(), "{status:?}");
}
