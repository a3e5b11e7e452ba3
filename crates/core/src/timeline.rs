//! Who held each resource, who waited and for how long, and when the person stepped in, over a
//! window of time: the dashboard's picture, made from the event log alone. Pure, so it is tested
//! without a host.
//!
//! A hold or a wait that began before the window starts at the window's start; one still going
//! on at its end has no end.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::event::{Event, EventKind};
use crate::model::{RunBrief, RunId, Timestamp};
use crate::resource::ResourceName;

/// What a span of a lane shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum SpanKind {
    /// The run held the resource.
    Held,
    /// The run waited for it.
    Waited,
}

/// One run holding, or waiting for, one resource for a while.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Span {
    /// The run.
    pub run: RunBrief,
    /// Held or waited.
    pub kind: SpanKind,
    /// From when (the window's start if it began before).
    pub from: Timestamp,
    /// Until when; `null` while it goes on.
    pub to: Option<Timestamp>,
}

/// What a mark on a lane shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum MarkKind {
    /// The person at the computer took over from the holder.
    Takeover,
    /// The person stopped the run.
    Stop,
    /// The holder stopped answering and lost the resource.
    Expired,
}

/// A moment on a lane.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Mark {
    /// What happened.
    pub kind: MarkKind,
    /// When.
    pub at: Timestamp,
    /// To which run.
    pub run: RunBrief,
}

/// One resource's row of the picture.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Lane {
    /// The resource.
    pub resource: ResourceName,
    /// Holds and waits, in the order they began.
    pub spans: Vec<Span>,
    /// Takeovers, stops and expiries, in order.
    pub marks: Vec<Mark>,
}

/// The picture of `events` (oldest first, all at or after `from`) from `from` on: a lane for
/// the desktop and one for each resource in `resources` or in the events. `brief` names a run
/// the events name.
pub fn lanes(
    events: &[Event],
    resources: &[ResourceName],
    from: Timestamp,
    brief: impl Fn(RunId) -> RunBrief,
) -> Vec<Lane> {
    let mut picture = Picture {
        lanes: BTreeMap::new(),
        open: HashMap::new(),
        seen: HashSet::new(),
        from,
    };
    picture.lane(&ResourceName::desktop());
    for resource in resources {
        picture.lane(resource);
    }
    for event in events {
        let Some(run) = event.run_id else { continue };
        let at = event.at;
        match &event.kind {
            EventKind::Queued { resource, .. } => {
                picture.begin(resource, brief(run), SpanKind::Waited, at);
            }
            EventKind::Granted { resource, .. } => {
                if picture.open.contains_key(&(run, resource.clone())) {
                    picture.end(resource, run, at, || brief(run), SpanKind::Waited);
                }
                picture.begin(resource, brief(run), SpanKind::Held, at);
            }
            EventKind::Released {
                lease_token,
                resource,
                ..
            } => {
                let kind = if lease_token.is_some() {
                    SpanKind::Held
                } else {
                    SpanKind::Waited
                };
                picture.end(resource, run, at, || brief(run), kind);
            }
            EventKind::Cancelled { .. }
            | EventKind::Expired { .. }
            | EventKind::Finished { .. }
            | EventKind::Withdrawn { .. }
            | EventKind::Interrupted => {
                let mark = match &event.kind {
                    EventKind::Cancelled { .. } => Some(MarkKind::Stop),
                    EventKind::Expired { .. } => Some(MarkKind::Expired),
                    _ => None,
                };
                let mut involved: Vec<ResourceName> = picture
                    .open
                    .keys()
                    .filter(|(r, _)| *r == run)
                    .map(|(_, resource)| resource.clone())
                    .collect();
                involved.sort();
                for resource in involved {
                    if let Some(kind) = mark {
                        picture.mark(&resource, kind, at, brief(run));
                    }
                    picture.end(&resource, run, at, || brief(run), SpanKind::Waited);
                }
            }
            EventKind::HolderPaused { by } if by.is_takeover() => {
                picture.mark(&ResourceName::desktop(), MarkKind::Takeover, at, brief(run));
            }
            _ => {}
        }
    }
    picture.lanes.into_values().collect()
}

/// The lanes being drawn, and the spans still open.
struct Picture {
    lanes: BTreeMap<ResourceName, Lane>,
    /// (run, resource) -> the index of its open span in the resource's lane.
    open: HashMap<(RunId, ResourceName), usize>,
    /// Every (run, resource) that had a span in the window: a release after the run's end
    /// (which closed its spans) is no span that began before the window.
    seen: HashSet<(RunId, ResourceName)>,
    from: Timestamp,
}

impl Picture {
    fn lane(&mut self, resource: &ResourceName) -> &mut Lane {
        self.lanes.entry(resource.clone()).or_insert_with(|| Lane {
            resource: resource.clone(),
            spans: Vec::new(),
            marks: Vec::new(),
        })
    }

    fn begin(&mut self, resource: &ResourceName, run: RunBrief, kind: SpanKind, at: Timestamp) {
        let id = run.id;
        let lane = self.lane(resource);
        lane.spans.push(Span {
            run,
            kind,
            from: at,
            to: None,
        });
        let index = lane.spans.len() - 1;
        self.open.insert((id, resource.clone()), index);
        self.seen.insert((id, resource.clone()));
    }

    /// Ends `run`'s open span on `resource` at `at`; one that began before the window is drawn
    /// from the window's start, as `kind`.
    fn end(
        &mut self,
        resource: &ResourceName,
        run: RunId,
        at: Timestamp,
        brief: impl FnOnce() -> RunBrief,
        kind: SpanKind,
    ) {
        let from = self.from;
        let key = (run, resource.clone());
        match self.open.remove(&key) {
            Some(index) => {
                if let Some(span) = self.lane(resource).spans.get_mut(index) {
                    span.to = Some(at);
                }
            }
            None if self.seen.contains(&key) => {}
            None => {
                self.seen.insert(key);
                self.lane(resource).spans.push(Span {
                    run: brief(),
                    kind,
                    from,
                    to: Some(at),
                });
            }
        }
    }

    fn mark(&mut self, resource: &ResourceName, kind: MarkKind, at: Timestamp, run: RunBrief) {
        self.lane(resource).marks.push(Mark { kind, at, run });
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::model::Caller;

    fn ev(at: i64, run: i64, kind: EventKind) -> Event {
        Event {
            seq: 0,
            at: Timestamp(at),
            run_id: Some(RunId(run)),
            kind,
        }
    }

    fn brief(id: RunId) -> RunBrief {
        RunBrief {
            id,
            title: format!("run {id}"),
            client: "test".into(),
        }
    }

    fn desktop() -> ResourceName {
        ResourceName::desktop()
    }

    #[test]
    fn holds_waits_takeovers_and_stops_become_spans_and_marks() {
        let browser: ResourceName = "browser:work".parse().unwrap();
        let granted = |resource: &ResourceName| EventKind::Granted {
            lease_token: 1,
            handed_from: None,
            resource: resource.clone(),
        };
        let events = [
            // Run 1 held the desktop since before the window and releases at 20.
            ev(
                20,
                1,
                EventKind::Released {
                    lease_token: Some(1),
                    handed_to: Some(RunId(2)),
                    resource: desktop(),
                },
            ),
            ev(
                30,
                3,
                EventKind::Queued {
                    position: 1,
                    behind: Some(RunId(2)),
                    resource: desktop(),
                },
            ),
            ev(20, 2, granted(&desktop())),
            ev(
                40,
                2,
                EventKind::HolderPaused {
                    by: Caller::takeover(),
                },
            ),
            ev(
                50,
                2,
                EventKind::Cancelled {
                    by: Caller::user("tray"),
                    reason: None,
                    replaced_by: None,
                },
            ),
            // The end's own release follows the cancel: no second span for run 2.
            ev(
                50,
                2,
                EventKind::Released {
                    lease_token: Some(2),
                    handed_to: Some(RunId(3)),
                    resource: desktop(),
                },
            ),
            ev(50, 3, granted(&desktop())),
            ev(60, 4, granted(&browser)),
        ];
        let lanes = lanes(
            &events,
            std::slice::from_ref(&browser),
            Timestamp(10),
            brief,
        );
        assert_eq!(lanes.len(), 2);
        let desk = lanes.iter().find(|l| l.resource.is_desktop()).unwrap();
        let spans: Vec<(i64, SpanKind, i64, Option<i64>)> = desk
            .spans
            .iter()
            .map(|s| (s.run.id.0, s.kind, s.from.0, s.to.map(|t| t.0)))
            .collect();
        assert_eq!(
            spans,
            [
                (1, SpanKind::Held, 10, Some(20)),
                (3, SpanKind::Waited, 30, Some(50)),
                (2, SpanKind::Held, 20, Some(50)),
                (3, SpanKind::Held, 50, None),
            ]
        );
        let marks: Vec<(MarkKind, i64, i64)> = desk
            .marks
            .iter()
            .map(|m| (m.kind, m.at.0, m.run.id.0))
            .collect();
        assert_eq!(
            marks,
            [(MarkKind::Takeover, 40, 2), (MarkKind::Stop, 50, 2)]
        );
        let browser_lane = lanes.iter().find(|l| l.resource == browser).unwrap();
        assert_eq!(browser_lane.spans.len(), 1);
        assert_eq!(browser_lane.spans[0].to, None, "still held");
    }
}
