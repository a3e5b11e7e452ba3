//! The request and answer bodies of the local API that are not the core's own types (runs,
//! statuses, snapshots and events travel as the core serializes them). The server reads them,
//! this crate's client writes them: one definition for both sides.

use baton_core::{Outcome, ResourceName, Run, Timestamp};
use serde::{Deserialize, Serialize};

/// `GET /v1/health`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Health {
    /// Always `ok` when the host answers.
    pub status: String,
    /// The host's version.
    pub version: String,
}

/// `GET /v1/host`: what this host can do here, so that a feature the platform or the session
/// lacks is said where the user looks (`baton status`, the tray) instead of failing later.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HostFacts {
    /// `linux`, `windows` or `macos`.
    pub platform: String,
    /// The host's version.
    pub version: String,
    /// The input gateway: Baton moving the mouse and typing for the holder.
    pub input: Feature,
    /// Noticing the person at the computer and pausing the holder meanwhile.
    pub takeover: Feature,
}

impl HostFacts {
    /// What does not work here, a line each, as `baton status`, the tray menu and the
    /// settings say it: `Input: off (…)`, `Takeover: limited (…)`.
    pub fn not_working(&self) -> Vec<String> {
        [("Input", &self.input), ("Takeover", &self.takeover)]
            .into_iter()
            .filter_map(|(name, feature)| feature.say(name))
            .collect()
    }
}

/// One of the host's features, and why not when it is off.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Feature {
    /// Whether it works on this host now.
    pub available: bool,
    /// Why not, in a sentence, when it does not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub why_not: Option<String>,
    /// What it cannot do here though it works, in a sentence (takeover detection that samples
    /// only, for want of a permission or a display extension).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<String>,
}

impl Feature {
    /// Available when there is no reason against it.
    pub fn from_reason(why_not: Option<String>) -> Feature {
        Feature {
            available: why_not.is_none(),
            why_not,
            limit: None,
        }
    }

    /// `NAME: off (why)` or `NAME: limited (limit)`; nothing when it works fully.
    pub fn say(&self, name: &str) -> Option<String> {
        match (&self.why_not, &self.limit) {
            (Some(why), _) if !self.available => Some(format!("{name}: off ({why})")),
            (_, Some(limit)) => Some(format!("{name}: limited ({limit})")),
            _ => None,
        }
    }

    /// The same, with what it cannot do though it works (nothing when it is off).
    pub fn limited(self, limit: Option<String>) -> Feature {
        Feature {
            limit: limit.filter(|_| self.available),
            ..self
        }
    }
}

/// `POST /v1/runs/{id}/heartbeat`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct HeartbeatRequest {
    /// Inbox notes numbered this or lower have been read: they are dropped and left out.
    #[serde(default)]
    pub inbox_after: u32,
}

/// `GET /v1/runs/{id}/wait`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[serde(deny_unknown_fields)]
pub struct WaitParams {
    /// Return as soon as the run's status `version` is above this (0: at once).
    #[serde(default)]
    pub after_version: u64,
    /// Longest wait in milliseconds (capped at half the run's TTL, and 60 s).
    #[serde(default = "default_wait_ms")]
    pub timeout_ms: u64,
    /// Inbox notes numbered this or lower have been read: they are dropped and left out.
    #[serde(default)]
    pub inbox_after: u32,
}

fn default_wait_ms() -> u64 {
    30_000
}

/// `POST /v1/runs/{id}/amend`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AmendRequest {
    /// The correction.
    pub text: String,
    /// The user's words. Required when a run writes to another run's inbox (it relays the
    /// user's correction); recorded with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// `POST /v1/runs/{id}/cancel`, `POST /v1/runs/{id}/withdraw`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ReasonRequest {
    /// Why. Required when a run relays the user's stop for another run.
    #[serde(default)]
    pub reason: Option<String>,
}

/// `POST /v1/desktop/stop`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct StopRequest {
    /// Why (recorded in the history).
    #[serde(default)]
    pub reason: Option<String>,
    /// Stop only if this run still holds the desktop: the holder the user saw. If it changed
    /// hands meanwhile, nothing is stopped (409).
    #[serde(default)]
    pub run_id: Option<i64>,
}

/// `POST /v1/runs/{id}/finish`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct FinishRequest {
    /// How the run ended.
    pub outcome: Outcome,
    /// Its command's exit code.
    #[serde(default)]
    pub exit_code: Option<i32>,
    /// A few words on how it went.
    #[serde(default)]
    pub note: Option<String>,
}

/// `POST /v1/desktop/stop`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Stopped {
    /// The run that was stopped; `null` when the desktop was free.
    pub stopped: Option<Run>,
}

/// `POST /v1/desktop/pause` and `/resume`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Paused {
    /// Whether hand-offs are paused now.
    pub paused: bool,
    /// Whether this request changed it.
    pub changed: bool,
}

/// `GET /v1/history`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[serde(deny_unknown_fields)]
pub struct HistoryParams {
    /// At most this many runs (default 50, at most 1000).
    pub limit: Option<u32>,
    /// Only runs in this state.
    pub state: Option<String>,
    /// Only runs of this client.
    pub client: Option<String>,
    /// Only runs with an id below this (the next page).
    pub before: Option<i64>,
}

/// `GET /v1/events` and `/v1/events/stream`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[serde(deny_unknown_fields)]
pub struct EventsParams {
    /// Events after this sequence number. For the stream, `Last-Event-ID` wins; without
    /// either the stream starts with the next new event.
    pub after: Option<u64>,
    /// At most this many (default 1000, at most 10000; not for the stream).
    pub limit: Option<u32>,
}

/// `POST /v1/runs/{id}/input`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct InputRequest {
    /// The lease token the run was granted (`BATON_LEASE_TOKEN`).
    pub lease_token: u64,
    /// What to do, in order.
    pub actions: Vec<baton_core::input::Action>,
}

/// The answer to input: what ran.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InputReport {
    /// The actions that ran, in order (all of them).
    pub ran: Vec<baton_core::input::Action>,
}

/// `GET /v1/input/pointer`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Point {
    /// Column.
    pub x: i32,
    /// Row.
    pub y: i32,
}

/// `GET /v1/input/screen`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ScreenSize {
    /// Pixels across.
    pub width: i32,
    /// Pixels down.
    pub height: i32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_feature_says_off_or_limited_and_nothing_when_it_works() {
        let works = Feature::from_reason(None);
        assert_eq!(works.say("Input"), None);
        let off = Feature::from_reason(Some("no display".into()));
        assert_eq!(off.say("Input").as_deref(), Some("Input: off (no display)"));
        let limited = Feature::from_reason(None).limited(Some("samples only".into()));
        assert_eq!(
            limited.say("Takeover").as_deref(),
            Some("Takeover: limited (samples only)")
        );
        // Off wins: a limit of a feature that does not work at all is not said.
        let both = Feature::from_reason(Some("no display".into())).limited(Some("x".into()));
        assert_eq!(both.limit, None);
        let facts = HostFacts {
            platform: "linux".into(),
            version: "0".into(),
            input: off,
            takeover: limited,
        };
        assert_eq!(
            facts.not_working(),
            [
                "Input: off (no display)",
                "Takeover: limited (samples only)"
            ]
        );
    }
}

/// `POST /v1/resources`: the person declares a resource that runs may then need.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AddResource {
    /// Its name: letters, digits and `:` `.` `_` `-`, such as `browser:work`.
    pub name: ResourceName,
    /// How many runs may hold it at once (default 1).
    #[serde(default = "one")]
    pub capacity: u32,
}

fn one() -> u32 {
    1
}

/// `POST /v1/resources/{name}/capacity`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CapacityRequest {
    /// How many runs may hold it at once from now on.
    pub capacity: u32,
}

/// `POST /v1/runs/{id}/acquire`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AcquireRequest {
    /// What to acquire, all at once; absent: the desktop.
    #[serde(default)]
    pub resources: Option<Vec<ResourceName>>,
}

/// `DELETE /v1/resources/{name}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Removed {
    /// The resource that is gone.
    pub removed: ResourceName,
}

/// A schedule entry and its next fire, as `GET /v1/schedules` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Schedule {
    /// The entry.
    #[serde(flatten)]
    pub entry: baton_core::schedule::Entry,
    /// Its next fire in the host's local time zone; absent while it is paused.
    pub next_fire: Option<Timestamp>,
}

/// `DELETE /v1/schedules/{name}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ScheduleRemoved {
    /// The entry that is gone; its runs stay in the history.
    pub removed: String,
}

/// `POST /v1/runs/{id}/display`: the private display the host started for a run that holds
/// a unit of `displays`, and `GET /v1/displays`, which lists them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PrivateDisplay {
    /// The run it belongs to.
    pub run: baton_core::RunId,
    /// Its X display, for `DISPLAY` (`:5`).
    pub display: String,
    /// The token the run holds `displays` by; `baton input` presents it there.
    pub lease_token: u64,
    /// Pixels across.
    pub width: i32,
    /// Pixels down.
    pub height: i32,
    /// The X server's process id.
    pub pid: u32,
    /// The window manager running on it (`openbox`); `null` when none is installed, and then
    /// windows open where they ask to and nothing gives them focus.
    #[serde(default)]
    pub window_manager: Option<String>,
}
