//! The core's state machine under arbitrary request sequences: no input may make it panic,
//! and the events it emits must keep every rule (`baton_core::check`), with at most one holder
//! in every snapshot. Each 4 bytes are one request: kind, which run, who asks, and a value.
//! Besides the desktop there are two resources, `a` (capacity 1) and `b` (capacity 2), which
//! runs need as the value's bits say.
#![no_main]

use std::sync::Arc;
use std::time::Duration;

use baton_core::check::check;
use baton_core::clock::SystemClock;
use baton_core::lease::{Caps, Machine, Resume};
use baton_core::{Caller, Outcome, ResourceName, RunId, RunSpec};
use libfuzzer_sys::fuzz_target;
use tokio::time::Instant;

fuzz_target!(|data: &[u8]| {
    let resume = Resume {
        next_run_id: 1,
        next_seq: 1,
        ..Resume::default()
    };
    let mut m = Machine::new(
        Arc::new(SystemClock),
        Duration::from_secs(15),
        Caps::default(),
        resume,
    );
    let names: Vec<ResourceName> = ["a", "b"].iter().map(|n| n.parse().unwrap()).collect();
    m.add_resource(names[0].clone(), 1, &Caller::user("fuzz"))
        .unwrap();
    m.add_resource(names[1].clone(), 2, &Caller::user("fuzz"))
        .unwrap();
    // The resources a value's bits name besides the desktop.
    let named = |value: u8| -> Vec<ResourceName> {
        names
            .iter()
            .enumerate()
            .filter(|(i, _)| value & (8 << i) != 0)
            .map(|(_, n)| n.clone())
            .collect()
    };
    let mut now = Instant::now();
    let mut runs: Vec<RunId> = Vec::new();
    let mut events = Vec::new();
    let mut attachments: Vec<(RunId, u64)> = Vec::new();
    for op in data.chunks_exact(4) {
        let (kind, which, who, value) = (op[0], op[1] as usize, op[2], op[3]);
        let run = if runs.is_empty() {
            RunId(1 + which as i64 % 4)
        } else {
            runs[which % runs.len()]
        };
        let caller = match who % 3 {
            0 => Caller::user("fuzz"),
            1 => Caller::Run(run),
            _ => Caller::Run(RunId(run.0 + 1)),
        };
        let text = "x".repeat(value as usize % 5);
        let _ = match kind % 18 {
            0 | 1 => {
                let mut spec = RunSpec::new(&format!("r{value}"), "fuzz", value % 3 != 0)
                    .with_resources(named(value));
                spec.queue = value % 7 != 0;
                spec.ttl_ms = (value % 5 == 0).then_some(u64::from(value) * 10);
                m.submit(spec, &Caller::user("fuzz"), now)
                    .map(|id| runs.push(id))
            }
            2 => m.heartbeat(run, &caller, u32::from(value), now),
            3 => m
                .attach(run, &caller, now)
                .map(|a| attachments.push((run, a))),
            4 => {
                if let Some((id, a)) = attachments.pop() {
                    m.detach(id, a, now);
                }
                Ok(())
            }
            5 => m.amend(run, &caller, &text).map(drop),
            6 => m.cancel(run, &caller, Some(&text), now).map(drop),
            7 => m
                .stop_holder(&caller, None, (value % 2 == 0).then_some(run), now)
                .map(drop),
            8 => m.set_paused(value % 2 == 0, &caller, now).map(drop),
            9 => m.front(run, &caller, now),
            10 => {
                let outcome = if value % 2 == 0 {
                    Outcome::Succeeded
                } else {
                    Outcome::Failed
                };
                m.finish(run, &caller, outcome, None, None, now).map(drop)
            }
            11 => m.release(run, &caller, now),
            12 => {
                let mut wanted = named(value);
                if value % 2 == 0 {
                    wanted.push(ResourceName::desktop());
                }
                m.acquire(run, &caller, &wanted, now)
            }
            13 => m.withdraw(run, &caller, None, now).map(drop),
            14 => {
                let spec = RunSpec::new(&text, "fuzz", value % 2 == 0).with_resources(named(value));
                m.replace(run, spec, &caller, now).map(drop)
            }
            15 => m.pause_holder(&caller).map(drop),
            16 => m.resume_holder(&caller).map(drop),
            17 if value % 4 == 0 => m
                .set_capacity(
                    &names[usize::from(value) % 2],
                    u32::from(value % 3) + 1,
                    &caller,
                    now,
                )
                .map(drop),
            _ => {
                now += Duration::from_millis(u64::from(value) * 100);
                m.expire_due(now);
                Ok(())
            }
        };
        let snapshot = m.snapshot();
        if let Some(holder) = &snapshot.desktop.holder {
            assert!(
                !snapshot.desktop.queue.iter().any(|r| r.id == holder.id),
                "holder also queued"
            );
        }
        let (batch, ended) = m.take_batch();
        events.extend(batch.events);
        m.forget(&ended);
        // What the scheduler publishes (shared, built on demand) is the machine's own view.
        assert_eq!(
            m.published().snapshot(),
            m.snapshot(),
            "published state drifted"
        );
    }
    if let Err(violation) = check(&events) {
        panic!("the events break a rule: {violation:?}");
    }
});
