//! The words of DESIGN section 1 as types: runs, their states, who is asking, and the views
//! (status snapshot, a run's own status) that the API and CLI serialize as they are.

use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::resource::ResourceName;

/// A run's id: allocated by the host, never reused (also not after a restart).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RunId(pub i64);

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A wall-clock instant in milliseconds since the Unix epoch.
///
/// Stored as an integer in SQLite and serialized as RFC 3339 (`2026-11-28T10:05:09.123Z`), so
/// people and scripts can both read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(value_type = String, format = DateTime))]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// Now, by the system clock.
    pub fn now() -> Self {
        let ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        Timestamp(ms)
    }

    /// As a [`SystemTime`], for formatting and arithmetic.
    pub fn to_system_time(self) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(u64::try_from(self.0).unwrap_or(0))
    }

    /// Time from `self` to `later`, zero if `later` is earlier.
    pub fn until(self, later: Timestamp) -> Duration {
        Duration::from_millis(u64::try_from(later.0 - self.0).unwrap_or(0))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        humantime::format_rfc3339_millis(self.to_system_time()).fmt(f)
    }
}

impl Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        let t = humantime::parse_rfc3339_weak(&text).map_err(serde::de::Error::custom)?;
        let ms = t
            .duration_since(UNIX_EPOCH)
            .map_err(serde::de::Error::custom)?
            .as_millis();
        Ok(Timestamp(
            i64::try_from(ms).map_err(serde::de::Error::custom)?,
        ))
    }
}

/// DESIGN section 3. `queued` and `running` are active; every other state is final.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum RunState {
    /// Waiting for the desktop.
    Queued,
    /// Started: holding the lease if it needs the desktop, or going on in parallel.
    Running,
    /// Finished by itself, successfully.
    Succeeded,
    /// Finished by itself, unsuccessfully.
    Failed,
    /// Stopped by the user (directly, or relayed by another run).
    Cancelled,
    /// Its holder stopped answering: heartbeat missed past the TTL, or its connection dropped.
    Expired,
    /// Its own client gave up waiting before it started.
    Withdrawn,
    /// Baton stopped under it.
    Interrupted,
}

impl RunState {
    /// Every state, for parsing and for tests.
    pub const ALL: [RunState; 8] = [
        RunState::Queued,
        RunState::Running,
        RunState::Succeeded,
        RunState::Failed,
        RunState::Cancelled,
        RunState::Expired,
        RunState::Withdrawn,
        RunState::Interrupted,
    ];

    /// Whether the run is still going (queued or running).
    pub fn is_active(self) -> bool {
        matches!(self, RunState::Queued | RunState::Running)
    }

    /// The lower-case name used in JSON, the database and the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            RunState::Queued => "queued",
            RunState::Running => "running",
            RunState::Succeeded => "succeeded",
            RunState::Failed => "failed",
            RunState::Cancelled => "cancelled",
            RunState::Expired => "expired",
            RunState::Withdrawn => "withdrawn",
            RunState::Interrupted => "interrupted",
        }
    }
}

impl fmt::Display for RunState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl std::str::FromStr for RunState {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RunState::ALL
            .into_iter()
            .find(|state| state.as_str() == s)
            .ok_or_else(|| {
                let names: Vec<_> = RunState::ALL.iter().map(|s| s.as_str()).collect();
                format!("unknown run state '{s}' (one of: {})", names.join(", "))
            })
    }
}

/// How a run ended by itself (`finish`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Outcome {
    /// The work was done.
    Succeeded,
    /// The work failed.
    Failed,
}

/// The HTTP header a user surface names itself in (`cli`, `tray`, `dashboard`, …), recorded as
/// [`Caller::User`]'s `via`. Absent: `api`.
pub const VIA_HEADER: &str = "x-baton-via";

/// Who is asking. The core's state machine enforces who may do what (DESIGN section 4), so that
/// no adapter can forget a rule; the two requests that never reach it (cancel targets and
/// input) are checked by the API (see docs/DESIGN.md, rules 6 and 8).
///
/// Recorded in the history (`cancelled_by`, an event's `by`) as `user:<via>` or `run:<id>`:
/// [`fmt::Display`] writes that form and [`std::str::FromStr`] is its one parser.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum Caller {
    /// The person at the computer, through one of their surfaces (`cli`, `tray`, `hotkey`,
    /// `dashboard`, `api`, …).
    User {
        /// The surface, recorded in `cancelled_by` as `user:<via>`.
        via: String,
    },
    /// A run acting with its own run token.
    Run(RunId),
}

impl Caller {
    /// The surface of Baton's own takeover detection: the person at the computer, noticed
    /// rather than asking.
    const TAKEOVER: &str = "takeover";

    /// A user request through `via`.
    pub fn user(via: impl Into<String>) -> Self {
        Caller::User { via: via.into() }
    }

    /// The person at the computer, as Baton's takeover detection noticed them.
    pub fn takeover() -> Self {
        Caller::user(Self::TAKEOVER)
    }

    /// Whether this is [`Caller::takeover`].
    pub fn is_takeover(&self) -> bool {
        matches!(self, Caller::User { via } if via == Self::TAKEOVER)
    }

    /// Whether the person at the computer asks (through any surface), not an agent's run.
    pub fn is_user(&self) -> bool {
        matches!(self, Caller::User { .. })
    }
}

impl fmt::Display for Caller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Caller::User { via } => write!(f, "user:{via}"),
            Caller::Run(id) => write!(f, "run:{id}"),
        }
    }
}

/// Text that is not `user:<via>` or `run:<id>`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' names no caller: a caller is user:<surface> or run:<id>")]
pub struct UnknownCaller(pub String);

impl std::str::FromStr for Caller {
    type Err = UnknownCaller;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Some(via) = s.strip_prefix("user:").filter(|via| !via.is_empty()) {
            return Ok(Caller::user(via));
        }
        s.strip_prefix("run:")
            .and_then(|id| id.parse::<i64>().ok())
            .filter(|id| *id > 0)
            .map(|id| Caller::Run(RunId(id)))
            .ok_or_else(|| UnknownCaller(s.to_string()))
    }
}

/// On the wire a caller is its text, so the document says a string of that form.
#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for Caller {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .pattern(Some("^(user:[a-z0-9_-]{1,32}|run:[1-9][0-9]*)$"))
            .description(Some("Who: `user:<surface>` (the person, through `cli`, `tray`, `hotkey`, …) or `run:<id>` (an agent's run)"))
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for Caller {}

impl From<Caller> for String {
    fn from(caller: Caller) -> String {
        caller.to_string()
    }
}

impl TryFrom<String> for Caller {
    type Error = UnknownCaller;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        text.parse()
    }
}

/// What a client asks for when it submits a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RunSpec {
    /// Shown to the user: what the run is doing.
    pub title: String,
    /// Who submitted it: `claude-code`, `codex`, `cron`, `cli`, … (free text).
    pub client: String,
    /// Whether it needs the mouse, keyboard and screen (the same as naming `desktop` in
    /// `resources`).
    #[serde(default)]
    pub needs_desktop: bool,
    /// The resources it needs besides the desktop, by name (`browser:work`): it is granted all
    /// of them at once, or waits holding none. Each must be declared. Left out when empty, so
    /// a desktop run's spec reads the same to a host from before resources.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<ResourceName>,
    /// Heartbeat TTL in milliseconds; the host's default (15 s) when absent.
    #[serde(default)]
    pub ttl_ms: Option<u64>,
    /// `false`: do not queue. If the desktop is busy the run is recorded as `withdrawn` at once
    /// and the answer says who holds it.
    #[serde(default = "yes")]
    pub queue: bool,
}

fn yes() -> bool {
    true
}

impl RunSpec {
    /// A spec with the defaults: queue when busy, default TTL.
    pub fn new(title: impl Into<String>, client: impl Into<String>, needs_desktop: bool) -> Self {
        RunSpec {
            title: title.into(),
            client: client.into(),
            needs_desktop,
            resources: Vec::new(),
            ttl_ms: None,
            queue: true,
        }
    }

    /// The same spec, needing `resources` as well.
    pub fn with_resources(mut self, resources: impl IntoIterator<Item = ResourceName>) -> Self {
        self.resources.extend(resources);
        self
    }
}

/// A run as status, history and events show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Run {
    /// Never reused.
    pub id: RunId,
    /// What it is doing.
    pub title: String,
    /// Who submitted it.
    pub client: String,
    /// Whether it needs the desktop.
    pub needs_desktop: bool,
    /// Every resource it needs, the desktop included when it does, by name.
    #[serde(default)]
    pub resources: Vec<ResourceName>,
    /// Where it is in its life.
    pub state: RunState,
    /// Whether it holds the desktop lease right now.
    pub holds_desktop: bool,
    /// The resources it holds right now: all it needs, or none. Left out when it holds none:
    /// each waiter's status is sent at every move of its queue, and the status read lists
    /// every waiter, so empty fields are bytes on the hand-off's path.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub holds: Vec<ResourceName>,
    /// The fencing token of its latest grant of the desktop; `null` until it has held it.
    pub lease_token: Option<u64>,
    /// The fencing token of its latest grant of each resource it has held, the desktop's
    /// included. Left out until it has held something, like `holds`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub leases: BTreeMap<ResourceName, u64>,
    /// 1-based place in the queue while queued: the desktop's when it waits for the desktop,
    /// else that of the first resource it waits for (`waiting_for` in its status says which).
    pub position: Option<usize>,
    /// Heartbeat TTL in milliseconds.
    pub ttl_ms: u64,
    /// When it was submitted.
    pub created_at: Timestamp,
    /// When it started (first grant, or at once for a parallel run).
    pub started_at: Option<Timestamp>,
    /// When it reached a final state.
    pub finished_at: Option<Timestamp>,
    /// Free text: how it ended, in a few words.
    pub outcome: Option<String>,
    /// The exit code its command reported, when it had one.
    pub exit_code: Option<i32>,
    /// Who cancelled it (`user:cli`, `user:hotkey`, `run:12`), for cancelled runs.
    pub cancelled_by: Option<Caller>,
    /// Why it was cancelled, expired or withdrawn.
    pub reason: Option<String>,
    /// The schedule entry's fire that made it; absent for every other run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fire: Option<crate::schedule::Fire>,
}

impl Run {
    /// `'<title>' (<client>)`, the way the user sees a run named in a sentence.
    pub fn label(&self) -> String {
        format!("'{}' ({})", self.title, self.client)
    }

    /// Whether it needs `resource`.
    pub fn needs(&self, resource: &ResourceName) -> bool {
        self.resources.contains(resource)
    }

    /// A short reference to this run.
    pub fn brief(&self) -> RunBrief {
        RunBrief {
            id: self.id,
            title: self.title.clone(),
            client: self.client.clone(),
        }
    }
}

/// Enough of a run to name it in a sentence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RunBrief {
    /// Its id.
    pub id: RunId,
    /// Its title.
    pub title: String,
    /// Its client.
    pub client: String,
}

/// A correction appended to a run's inbox (`amend`). Nothing is cancelled or requeued by it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Amendment {
    /// 1-based number within the run's inbox; pass the last one you saw as `inbox_after`.
    pub n: u32,
    /// When it arrived.
    pub at: Timestamp,
    /// Who sent it (`user:cli`, `run:12`).
    pub by: String,
    /// The correction itself.
    pub text: String,
}

/// What a run learns about itself: the answer to heartbeat, wait and attach.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RunStatus {
    /// The run as it is now.
    pub run: Run,
    /// Whether the user cancelled it; a cancelled run must stop.
    pub cancelled: bool,
    /// Whether the run has reached a final state.
    pub ended: bool,
    /// While queued: the run holding the desktop.
    pub queued_behind: Option<RunBrief>,
    /// While queued for a resource other than the desktop: which one, where, and behind whom.
    /// Left out otherwise, like the run's empty `holds`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiting_for: Option<Waiting>,
    /// While queued: whether the user has paused hand-offs.
    pub handoffs_paused: bool,
    /// While holding: whether the person at the computer has taken over (input is refused
    /// until it resumes; the run keeps its place).
    #[serde(default)]
    pub paused: bool,
    /// While queued at the head: the desktop is free, and the run waits for the person's OK to
    /// take it (nobody is cancelled by silence; it starts when they allow it).
    #[serde(default)]
    pub awaiting_ok: bool,
    /// Whether the user OKs each run before it takes the free desktop: a queued run then
    /// starts only once they allow it.
    #[serde(default)]
    pub ask_first: bool,
    /// The honest sentence about where the run stands.
    pub message: String,
    /// Corrections sent to the run (`amend`), oldest first.
    pub inbox: Vec<Amendment>,
    /// Grows by one at every change of this status; pass it to `wait` to block until the next.
    pub version: u64,
}

impl RunStatus {
    /// Drops the amendments numbered `n` and below, the ones the caller has already seen.
    pub fn inbox_after(mut self, n: u32) -> Self {
        self.inbox.retain(|a| a.n > n);
        self
    }
}

/// Where a queued run waits for a resource other than the desktop.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Waiting {
    /// The resource it waits for: the first, by name, that it cannot have yet.
    pub resource: ResourceName,
    /// 1-based place in that resource's queue.
    pub position: usize,
    /// A run holding it (the longest holder), if anyone holds it.
    pub behind: Option<RunBrief>,
    /// Runs ahead of it in that queue.
    pub ahead: usize,
}

/// The status snapshot (DESIGN section 4, `status`): answered from memory, changes nothing.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Snapshot {
    /// The desktop lease and its queue.
    pub desktop: Desktop,
    /// Runs going on in parallel, without the desktop (those holding other resources too).
    pub running: Vec<Run>,
    /// Every resource besides the desktop, by name: who holds it and who waits.
    #[serde(default)]
    pub resources: Vec<ResourceState>,
    /// Sequence number of the newest event reflected here.
    pub last_event: u64,
}

/// Who owns the desktop and who waits.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Desktop {
    /// The run holding the lease, if any.
    pub holder: Option<Run>,
    /// The holder's lease token.
    pub lease_token: Option<u64>,
    /// Since when the holder has held it.
    pub since: Option<Timestamp>,
    /// Whether the user has paused hand-offs.
    pub paused: bool,
    /// Whether the person at the computer has taken over: the holder keeps the lease, but its
    /// input is refused until it resumes.
    pub holder_paused: bool,
    /// The run at the head of the queue that waits for the person's OK to take the free
    /// desktop (the "ask before an agent takes the desktop" setting); nobody else is granted
    /// meanwhile.
    #[serde(default)]
    pub awaiting_ok: Option<RunBrief>,
    /// Whether the user OKs each run before it takes the free desktop (the setting in force).
    #[serde(default)]
    pub ask_first: bool,
    /// Waiting runs, first in line first.
    pub queue: Vec<Run>,
}

/// A declared resource as the status shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ResourceState {
    /// Its name.
    pub name: ResourceName,
    /// How many runs may hold it at once.
    pub capacity: u32,
    /// The runs holding it, longest first.
    pub holders: Vec<Holding>,
    /// The runs waiting for it, first in line first.
    pub queue: Vec<RunBrief>,
}

/// One run's hold of a resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Holding {
    /// The run.
    pub run: RunBrief,
    /// The fencing token of this grant.
    pub lease_token: u64,
    /// Since when it holds the resource.
    pub since: Timestamp,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_caller_is_written_and_read_back_in_one_form() {
        for caller in [
            Caller::user("cli"),
            Caller::takeover(),
            Caller::Run(RunId(12)),
        ] {
            let text = caller.to_string();
            assert_eq!(text.parse::<Caller>(), Ok(caller.clone()));
            assert_eq!(
                serde_json::to_value(&caller).unwrap(),
                serde_json::json!(text)
            );
            assert_eq!(
                serde_json::from_value::<Caller>(text.into()).unwrap(),
                caller
            );
        }
        assert_eq!(Caller::takeover().to_string(), "user:takeover");
        assert!(Caller::takeover().is_takeover());
        assert!(!Caller::user("tray").is_takeover());
        for wrong in [
            "", "user:", "run:", "run:0", "run:-3", "run:x", "agent:7", "cli",
        ] {
            assert_eq!(
                wrong.parse::<Caller>(),
                Err(UnknownCaller(wrong.into())),
                "{wrong}"
            );
            assert!(serde_json::from_value::<Caller>(wrong.into()).is_err());
        }
    }
}
