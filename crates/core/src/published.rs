//! What the scheduler publishes after every commit, made in O(log n) however long the queue.
//!
//! The desktop's head (holder, token, flags) is copied, because the input gateway checks it
//! before every action; the resources (their holders and queues, the desktop's among them)
//! and the rows of the active runs are persistent collections shared with the
//! [`crate::lease::Machine`], so a commit that changes one run changes one entry, however many
//! resources and runs there are. The full [`Snapshot`], which lists every waiting run, is built by whoever reads it
//! (DESIGN rule 5: status is read from this, never from the actor). It is deliberately not
//! cached here: the scheduler drops the previous publication when it publishes the next, and
//! freeing a snapshot of ten thousand runs there would put the queue's length back on every
//! request's path.

use std::sync::Arc;

use imbl::{OrdMap, Vector};

use crate::lease::Pool;
use crate::model::{
    Desktop, Holding, ResourceState, Run, RunBrief, RunId, RunState, Snapshot, Timestamp,
};
use crate::resource::ResourceName;
use crate::schedule::Entry;

/// The lease as of one commit. Cheap to clone into a `watch` channel; see the module docs.
#[derive(Debug, Clone)]
pub struct Published {
    /// The holder, as its snapshot entry shows it.
    pub holder: Option<Run>,
    /// The holder's fencing token.
    pub lease_token: Option<u64>,
    /// Since when the holder has held the desktop.
    pub since: Option<Timestamp>,
    /// Whether the user has paused hand-offs.
    pub paused: bool,
    /// Whether the person at the computer has taken over from the holder.
    pub holder_paused: bool,
    /// The head of the queue, when it waits for the person's OK to take the free desktop.
    pub awaiting_ok: Option<RunBrief>,
    /// Whether the user OKs each run before it takes the free desktop.
    pub ask_first: bool,
    /// The newest event reflected here.
    pub last_event: u64,
    /// Every resource's holders and queue, the desktop's included.
    pub(crate) pools: OrdMap<ResourceName, Pool>,
    /// Rows of the active runs as stored: no position, `holds_desktop` false.
    pub(crate) rows: OrdMap<RunId, Arc<Run>>,
    /// The schedule entries, by name.
    pub schedules: OrdMap<String, Entry>,
}

impl Published {
    pub(crate) fn new(
        desktop: Desktop,
        last_event: u64,
        pools: OrdMap<ResourceName, Pool>,
        rows: OrdMap<RunId, Arc<Run>>,
        schedules: OrdMap<String, Entry>,
    ) -> Self {
        Published {
            holder: desktop.holder,
            lease_token: desktop.lease_token,
            since: desktop.since,
            paused: desktop.paused,
            holder_paused: desktop.holder_paused,
            awaiting_ok: desktop.awaiting_ok,
            ask_first: desktop.ask_first,
            last_event,
            pools,
            rows,
            schedules,
        }
    }

    /// Whether run `id` is active (queued or running).
    pub fn is_active(&self, id: RunId) -> bool {
        self.rows.contains_key(&id)
    }

    /// The desktop's queue.
    fn desktop_queue(&self) -> Vector<RunId> {
        self.pools
            .get(&ResourceName::desktop())
            .map(|pool| pool.queue.clone())
            .unwrap_or_default()
    }

    /// A run as the snapshot shows it: its stored row, with what it holds and where it waits.
    fn row(&self, id: &RunId) -> Option<Run> {
        let mut run = Run::clone(self.rows.get(id)?);
        fill_in(&self.pools, &mut run);
        Some(run)
    }

    /// Every resource, the desktop first, as `GET /v1/resources` shows them.
    pub fn all_resources(&self) -> Vec<ResourceState> {
        let desktop = ResourceName::desktop();
        let brief = |id: &RunId| self.rows.get(id).map(|run| run.brief());
        self.pools
            .get(&desktop)
            .map(|pool| resource_state(&desktop, pool, brief))
            .into_iter()
            .chain(self.resources())
            .collect()
    }

    /// The resources besides the desktop, as the snapshot shows them.
    pub fn resources(&self) -> Vec<ResourceState> {
        self.pools
            .iter()
            .filter(|(name, _)| !name.is_desktop())
            .map(|(name, pool)| {
                resource_state(name, pool, |id| self.rows.get(id).map(|run| run.brief()))
            })
            .collect()
    }

    /// The token `run` holds `resource` by, while it holds it: what a gateway of that resource
    /// checks before each action.
    pub fn token_of(&self, resource: &ResourceName, run: RunId) -> Option<u64> {
        Some(self.pools.get(resource)?.holders.get(&run)?.token)
    }

    /// Whether `resource` is declared.
    pub fn has_resource(&self, resource: &ResourceName) -> bool {
        self.pools.contains_key(resource)
    }

    /// The holder's id.
    pub fn holder_id(&self) -> Option<RunId> {
        self.holder.as_ref().map(|h| h.id)
    }

    /// The full status snapshot: every waiting and parallel run. O(n) in the runs listed.
    pub fn snapshot(&self) -> Snapshot {
        let holder = self.holder_id();
        // Each place is the run's index in the line being walked: looking each one up would
        // make the snapshot quadratic in the queue.
        let queue = self
            .desktop_queue()
            .iter()
            .enumerate()
            .filter_map(|(index, id)| {
                let mut run = Run::clone(self.rows.get(id)?);
                fill_holds(&self.pools, &mut run);
                run.position = Some(index + 1);
                Some(run)
            })
            .collect();
        let running = self
            .rows
            .values()
            .filter(|run| run.state == RunState::Running && Some(run.id) != holder)
            .filter_map(|run| self.row(&run.id))
            .collect();
        Snapshot {
            desktop: Desktop {
                holder: self.holder.clone(),
                lease_token: self.lease_token,
                since: self.since,
                paused: self.paused,
                holder_paused: self.holder_paused,
                awaiting_ok: self.awaiting_ok.clone(),
                ask_first: self.ask_first,
                queue,
            },
            running,
            resources: self.resources(),
            last_event: self.last_event,
        }
    }
}

/// Fills in what a run's stored row leaves out, from the resources as they are: what it holds,
/// and while it is queued its place in line (the desktop's when it waits for the desktop, else
/// that of the first resource it waits for).
pub(crate) fn fill_in(pools: &OrdMap<ResourceName, Pool>, run: &mut Run) {
    fill_holds(pools, run);
    run.position = None;
    if run.state == RunState::Queued {
        let desktop = ResourceName::desktop();
        let line = if run.needs_desktop {
            Some(&desktop)
        } else {
            run.resources.first()
        };
        run.position = line
            .and_then(|line| pools.get(line)?.queue.index_of(&run.id))
            .map(|index| index + 1);
    }
}

/// What `run` holds, from the pools: its stored row says nothing of it.
pub(crate) fn fill_holds(pools: &OrdMap<ResourceName, Pool>, run: &mut Run) {
    // Only a started run holds anything (a queued one waits holding nothing, DESIGN rule 13):
    // the status read fills in every waiter, and needs no lookup for them.
    if run.state != RunState::Running {
        run.holds.clear();
        run.holds_desktop = false;
        return;
    }
    let id = run.id;
    run.holds = run
        .resources
        .iter()
        .filter(|r| pools.get(*r).is_some_and(|p| p.holders.contains_key(&id)))
        .cloned()
        .collect();
    run.holds_desktop = run.holds.iter().any(ResourceName::is_desktop);
}

/// One resource as the snapshot shows it; `brief` names a run.
pub(crate) fn resource_state(
    name: &ResourceName,
    pool: &Pool,
    brief: impl Fn(&RunId) -> Option<RunBrief>,
) -> ResourceState {
    let mut holders: Vec<Holding> = pool
        .holders
        .iter()
        .filter_map(|(id, grant)| {
            Some(Holding {
                run: brief(id)?,
                lease_token: grant.token,
                since: grant.since,
            })
        })
        .collect();
    holders.sort_by_key(|h| h.lease_token);
    ResourceState {
        name: name.clone(),
        capacity: pool.capacity,
        holders,
        queue: pool.queue.iter().filter_map(&brief).collect(),
    }
}
