//! Named resources (DESIGN rule 13, and rules 1, 2, 4, 6, 7, 9 and 11 for resources besides the
//! desktop), scenario by scenario, against the real actor and a real SQLite file.

use std::time::Duration;

use crate::common::{
    advance, core, desktop, open_at, open_with, parallel, submitted, user, with_ttl,
};
use baton_core::{
    Caller, Error, ErrorCode, EventKind, Outcome, ResourceName, RunId, RunSpec, RunState,
    check::check,
};

fn name(text: &str) -> ResourceName {
    text.parse().unwrap()
}

fn needing(title: &str, names: &[&str]) -> RunSpec {
    parallel(title).with_resources(names.iter().map(|n| name(n)))
}

async fn declare(h: &baton_core::Handle, resource: &str, capacity: u32) {
    h.add_resource(name(resource), capacity, user())
        .await
        .unwrap();
}

fn holders(h: &baton_core::Handle, resource: &str) -> Vec<RunId> {
    let status = h.status();
    let state = status
        .resources
        .iter()
        .find(|r| r.name.as_str() == resource)
        .unwrap();
    state.holders.iter().map(|held| held.run.id).collect()
}

fn queue(h: &baton_core::Handle, resource: &str) -> Vec<RunId> {
    let status = h.status();
    let state = status
        .resources
        .iter()
        .find(|r| r.name.as_str() == resource)
        .unwrap();
    state.queue.iter().map(|r| r.id).collect()
}

/// A runtime of its own for each start of a host over the same file: dropping it is the crash.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

async fn finish(h: &baton_core::Handle, id: RunId) {
    h.finish(id, Caller::Run(id), Outcome::Succeeded, None, None)
        .await
        .unwrap();
}

#[tokio::test(start_paused = true)]
async fn two_resources_and_the_desktop_are_leased_independently_and_jointly() {
    let c = core().await;
    let h = &c.handle;
    declare(h, "browser:work", 1).await;
    declare(h, "phone", 1).await;

    // Independently: each resource its own holder, each with its own first token.
    let a = h
        .submit(needing("browse", &["browser:work"]), user())
        .await
        .unwrap();
    let p = submitted(h, needing("call", &["phone"])).await;
    let d = submitted(h, desktop("click")).await;
    assert_eq!(a.status.run.state, RunState::Running);
    assert_eq!(a.status.run.holds, vec![name("browser:work")]);
    assert_eq!(a.status.run.leases[&name("browser:work")], 1);
    assert!(!a.status.run.holds_desktop);
    assert_eq!(holders(h, "phone"), vec![p]);
    assert_eq!(h.status().desktop.holder.as_ref().unwrap().id, d);
    assert_eq!(h.status().desktop.lease_token, Some(1));

    // Jointly: all three at once, or none while any is held.
    let mut spec = needing("everything", &["browser:work", "phone"]);
    spec.needs_desktop = true;
    let j = h.submit(spec, user()).await.unwrap();
    let j_id = j.status.run.id;
    assert_eq!(j.status.run.state, RunState::Queued);
    assert!(
        j.status.run.holds.is_empty(),
        "it holds none while it waits"
    );
    finish(h, a.status.run.id).await;
    finish(h, p).await;
    // The browser and the phone are free, but it waits holding none of them.
    assert!(holders(h, "browser:work").is_empty() && holders(h, "phone").is_empty());
    assert_eq!(queue(h, "browser:work"), vec![j_id]);
    finish(h, d).await;
    let run = h.run(j_id).await.unwrap();
    assert_eq!(run.state, RunState::Running);
    assert_eq!(
        run.holds,
        vec![name("browser:work"), ResourceName::desktop(), name("phone")]
    );
    assert_eq!(run.leases[&name("browser:work")], 2);
    assert_eq!(run.leases[&name("phone")], 2);
    assert_eq!(run.lease_token, Some(2));

    // The grants came in a row, one for each resource, each with its own token.
    let events = h.events_after(0, 1000).await.unwrap();
    let granted: Vec<(String, u64)> = events
        .iter()
        .filter(|e| e.run_id == Some(j_id))
        .filter_map(|e| match &e.kind {
            EventKind::Granted {
                lease_token,
                resource,
                ..
            } => Some((resource.to_string(), *lease_token)),
            _ => None,
        })
        .collect();
    assert_eq!(
        granted,
        [("browser:work", 2), ("desktop", 2), ("phone", 2)].map(|(r, t)| (r.to_string(), t))
    );

    // A vanished holder loses everything it held at once.
    let w = submitted(h, needing("waiter", &["phone"])).await;
    h.cancel(j_id, user(), None).await.unwrap();
    assert_eq!(holders(h, "phone"), vec![w]);
    assert!(holders(h, "browser:work").is_empty());
    assert!(h.status().desktop.holder.is_none());
    check(&h.events_after(0, 1000).await.unwrap()).unwrap();
}

#[tokio::test(start_paused = true)]
async fn the_honest_message_names_the_resource_and_the_place() {
    let c = core().await;
    let h = &c.handle;
    declare(h, "browser:work", 1).await;
    let mut spec = needing("research", &["browser:work"]);
    spec.client = "codex".into();
    let a = submitted(h, spec).await;
    let b = h
        .submit(needing("compare prices", &["browser:work"]), user())
        .await
        .unwrap();
    assert_eq!(b.status.run.state, RunState::Queued);
    assert_eq!(b.status.run.position, Some(1));
    let waiting = b.status.waiting_for.as_ref().unwrap();
    assert_eq!(waiting.resource, name("browser:work"));
    assert_eq!(waiting.behind.as_ref().unwrap().id, a);
    assert!(
        b.status.queued_behind.is_none(),
        "it is not behind the desktop"
    );
    for fact in [
        "queued behind 'research' (codex) for 'browser:work'",
        "position 1",
        "automatically",
    ] {
        assert!(b.status.message.contains(fact), "{}", b.status.message);
    }
    // The terminal's words carry the same facts.
    let notice = baton_core::messages::queue_notice(&b.status);
    assert!(
        notice.contains("'research' (codex) for 'browser:work', position 1"),
        "{notice}"
    );

    // A run that may not wait hears who holds it, and is withdrawn.
    let mut spec = needing("now or never", &["browser:work"]);
    spec.queue = false;
    let n = h.submit(spec, user()).await.unwrap();
    assert_eq!(n.status.run.state, RunState::Withdrawn);
    assert!(
        n.status
            .message
            .contains("'browser:work' is busy: held by 'research' (codex)"),
        "{}",
        n.status.message
    );
}

#[tokio::test(start_paused = true)]
async fn an_unknown_name_is_refused_with_the_known_ones_and_changes_nothing() {
    let c = core().await;
    let h = &c.handle;
    declare(h, "browser:work", 1).await;
    let before = h.events_after(0, 1000).await.unwrap();
    let err = h
        .submit(needing("typo", &["browser:wrok"]), user())
        .await
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::UnknownResource);
    let text = err.to_string();
    for fact in ["'browser:wrok'", "browser:work", "desktop"] {
        assert!(text.contains(fact), "{text}");
    }
    assert_eq!(h.events_after(0, 1000).await.unwrap(), before);
    assert!(h.history(&Default::default()).await.unwrap().is_empty());
    assert_eq!(h.status().resources.len(), 1, "no resource was made");

    // Malformed names never get that far.
    assert!(
        serde_json::from_value::<RunSpec>(serde_json::json!({
            "title": "t", "client": "c", "resources": ["a b"]
        }))
        .is_err()
    );
}

/// The decision of DESIGN rule 13: a run that needs two resources is never overtaken by a
/// stream of runs that need one of them, however long the stream.
#[tokio::test(start_paused = true)]
async fn a_run_that_needs_two_is_not_starved_by_runs_that_need_one() {
    let c = core().await;
    let h = &c.handle;
    declare(h, "browser:work", 1).await;
    let d = submitted(h, desktop("holds the desktop")).await;
    let b = submitted(h, needing("holds the browser", &["browser:work"])).await;
    let mut both = needing("needs both", &["browser:work"]);
    both.needs_desktop = true;
    let j = submitted(h, both).await;
    // The desktop comes free: j still waits for the browser, and keeps its place.
    finish(h, d).await;
    assert!(h.status().desktop.holder.is_none());
    // A stream of desktop-only runs arrives: none of them overtakes j on the desktop.
    let mut stream = Vec::new();
    for i in 0..5 {
        let s = h
            .submit(desktop(&format!("stream {i}")), user())
            .await
            .unwrap();
        assert_eq!(s.status.run.state, RunState::Queued);
        assert!(
            s.status.message.contains("waits for another resource"),
            "{}",
            s.status.message
        );
        stream.push(s.status.run.id);
    }
    assert!(h.status().desktop.holder.is_none(), "nobody overtook it");
    // The browser comes free: j gets both at once, and the stream follows after it.
    finish(h, b).await;
    assert_eq!(h.status().desktop.holder.as_ref().unwrap().id, j);
    assert_eq!(holders(h, "browser:work"), vec![j]);
    finish(h, j).await;
    assert_eq!(h.status().desktop.holder.as_ref().unwrap().id, stream[0]);
    check(&h.events_after(0, 1000).await.unwrap()).unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_change_of_capacity_applies_to_the_queue_at_once() {
    let c = core().await;
    let h = &c.handle;
    declare(h, "licence:cad", 1).await;
    let runs: Vec<RunId> = {
        let mut runs = Vec::new();
        for i in 0..4 {
            runs.push(submitted(h, needing(&format!("cad {i}"), &["licence:cad"])).await);
        }
        runs
    };
    assert_eq!(holders(h, "licence:cad"), vec![runs[0]]);
    // More room: the next two in line start at once, in order.
    let state = h
        .set_capacity(name("licence:cad"), 3, user())
        .await
        .unwrap();
    assert_eq!(state.capacity, 3);
    assert_eq!(state.holders.len(), 3, "the answer shows the new holders");
    assert_eq!(holders(h, "licence:cad"), vec![runs[0], runs[1], runs[2]]);
    assert_eq!(queue(h, "licence:cad"), vec![runs[3]]);
    // Less room: the holders keep theirs; nobody new starts until they are within it.
    h.set_capacity(name("licence:cad"), 1, user())
        .await
        .unwrap();
    finish(h, runs[0]).await;
    finish(h, runs[1]).await;
    assert_eq!(holders(h, "licence:cad"), vec![runs[2]]);
    assert_eq!(queue(h, "licence:cad"), vec![runs[3]]);
    finish(h, runs[2]).await;
    assert_eq!(holders(h, "licence:cad"), vec![runs[3]]);
    // Only the person changes it, and the desktop's stays 1.
    let err = h
        .set_capacity(name("licence:cad"), 2, Caller::Run(runs[3]))
        .await
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::Forbidden);
    let err = h
        .set_capacity(ResourceName::desktop(), 2, user())
        .await
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidState);
    check(&h.events_after(0, 1000).await.unwrap()).unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_resource_is_removed_only_while_nobody_holds_or_waits_for_it() {
    let c = core().await;
    let h = &c.handle;
    declare(h, "phone", 1).await;
    let a = submitted(h, needing("call", &["phone"])).await;
    let err = h.remove_resource(name("phone"), user()).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidState);
    assert!(err.to_string().contains("'call' (test) holds it"), "{err}");
    finish(h, a).await;
    h.remove_resource(name("phone"), user()).await.unwrap();
    assert!(h.status().resources.is_empty());
    let err = h
        .submit(needing("call again", &["phone"]), user())
        .await
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::UnknownResource);
    // Declared again, its tokens go on from where they were: a fencing token is never reused.
    declare(h, "phone", 1).await;
    let b = h
        .submit(needing("call again", &["phone"]), user())
        .await
        .unwrap();
    assert_eq!(b.status.run.leases[&name("phone")], 2);
    // The desktop is built in: neither declared nor removed.
    assert_eq!(
        h.add_resource(ResourceName::desktop(), 1, user())
            .await
            .unwrap_err()
            .code(),
        ErrorCode::InvalidState
    );
    assert!(matches!(
        h.remove_resource(ResourceName::desktop(), user()).await,
        Err(Error::InvalidState(_))
    ));
    check(&h.events_after(0, 1000).await.unwrap()).unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_run_that_holds_asks_for_more_only_after_releasing() {
    let c = core().await;
    let h = &c.handle;
    declare(h, "a", 1).await;
    declare(h, "b", 1).await;
    let x = submitted(h, needing("x", &["a"])).await;
    // More while holding would be hold-and-wait: refused, nothing changes.
    let err = h
        .acquire_resources(x, Caller::Run(x), vec![name("a"), name("b")])
        .await
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidState);
    assert!(err.to_string().contains("release first"), "{err}");
    assert_eq!(holders(h, "a"), vec![x]);
    // What it already holds is no change.
    h.acquire_resources(x, Caller::Run(x), vec![name("a")])
        .await
        .unwrap();
    // Released, it asks for both at once.
    h.release(x, Caller::Run(x)).await.unwrap();
    let status = h
        .acquire_resources(x, Caller::Run(x), vec![name("a"), name("b")])
        .await
        .unwrap();
    assert_eq!(status.run.holds, vec![name("a"), name("b")]);
    check(&h.events_after(0, 1000).await.unwrap()).unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_silent_holder_loses_every_resource_after_its_ttl() {
    let c = core().await;
    let h = &c.handle;
    declare(h, "a", 1).await;
    let mut spec = with_ttl(needing("silent", &["a"]), Duration::from_secs(1));
    spec.needs_desktop = true;
    let s = submitted(h, spec).await;
    let w = submitted(h, needing("waits", &["a"])).await;
    advance(h, Duration::from_millis(1100)).await;
    assert_eq!(h.run(s).await.unwrap().state, RunState::Expired);
    assert!(h.status().desktop.holder.is_none());
    assert_eq!(holders(h, "a"), vec![w]);
    check(&h.events_after(0, 1000).await.unwrap()).unwrap();
}

/// Declared resources, their capacities and their tokens outlive the host (rule 2 per
/// resource), and a run's resources are in the history.
#[test]
fn resources_and_their_tokens_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("baton.db");
    let first = runtime();
    let a = first.block_on(async {
        let h = open_at(&path).await;
        h.add_resource(name("browser:work"), 2, user())
            .await
            .unwrap();
        let a = submitted(&h, needing("a", &["browser:work"])).await;
        submitted(&h, needing("b", &["browser:work"])).await;
        a
    });
    drop(first);
    runtime().block_on(async {
        let h = open_at(&path).await;
        let status = h.status();
        assert_eq!(status.resources.len(), 1);
        assert_eq!(status.resources[0].capacity, 2);
        assert!(
            status.resources[0].holders.is_empty(),
            "the crash ended them"
        );
        let stored = h.run(a).await.unwrap();
        assert_eq!(stored.resources, vec![name("browser:work")]);
        assert_eq!(stored.leases[&name("browser:work")], 1);
        let c = h
            .submit(needing("c", &["browser:work"]), user())
            .await
            .unwrap();
        assert_eq!(c.status.run.leases[&name("browser:work")], 3);
        check(&h.events_after(0, 1000).await.unwrap()).unwrap();
    });
}

/// The bound on a run's resources is the one the API's document states for `resources`; the
/// desktop's flag comes on top (the contract test found a run of 16 and the desktop refused).
#[tokio::test(start_paused = true)]
async fn sixteen_resources_and_the_desktop_are_one_run_s_most() {
    let c = core().await;
    let h = &c.handle;
    let mut names = Vec::new();
    for i in 0..17 {
        declare(h, &format!("r{i}"), 1).await;
        names.push(format!("r{i}"));
    }
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let mut spec = needing("sixteen and the desktop", &refs[..16]);
    spec.needs_desktop = true;
    let run = h.submit(spec, user()).await.unwrap();
    assert_eq!(run.status.run.holds.len(), 17);
    let err = h
        .submit(needing("seventeen", &refs), user())
        .await
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidRequest);
    assert!(err.to_string().contains("at most 16"), "{err}");
}

/// Where the host starts private displays, their pool is built in (DESIGN rule 14): there from
/// the start with the host's capacity and without an event, never removed, a capacity the
/// person sets kept across starts, and its tokens rising across starts like any resource's.
#[test]
fn the_pool_of_private_displays_is_built_in_where_the_host_offers_them() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("baton.db");
    let offering = |capacity| baton_core::Config {
        private_displays: Some(capacity),
        ..baton_core::Config::default()
    };
    let first = runtime();
    first.block_on(async {
        let h = open_with(&path, offering(5)).await;
        let status = h.status();
        assert_eq!(status.resources.len(), 1);
        assert_eq!(status.resources[0].name, ResourceName::displays());
        assert_eq!(status.resources[0].capacity, 5);
        assert_eq!(status.last_event, 0, "no event declares it");
        let refused = h
            .remove_resource(ResourceName::displays(), user())
            .await
            .unwrap_err();
        assert!(refused.to_string().contains("built in"), "{refused}");
        let a = submitted(&h, needing("a", &["displays"])).await;
        assert_eq!(h.run(a).await.unwrap().leases[&ResourceName::displays()], 1);
        h.set_capacity(ResourceName::displays(), 8, user())
            .await
            .unwrap();
    });
    drop(first);
    runtime().block_on(async {
        let h = open_with(&path, offering(5)).await;
        let status = h.status();
        assert_eq!(
            status.resources[0].capacity, 8,
            "the person's capacity stays"
        );
        let b = submitted(&h, needing("b", &["displays"])).await;
        assert_eq!(h.run(b).await.unwrap().leases[&ResourceName::displays()], 2);
        check(&h.events_after(0, 1000).await.unwrap()).unwrap();
    });
    // A host that starts none has no such pool, unless the person once sized it: then it is
    // an ordinary resource there, which the person may remove.
    runtime().block_on(async {
        let h = open_at(&path).await;
        assert_eq!(h.status().resources[0].capacity, 8);
        h.remove_resource(ResourceName::displays(), user())
            .await
            .unwrap();
        assert!(h.status().resources.is_empty());
    });
}
