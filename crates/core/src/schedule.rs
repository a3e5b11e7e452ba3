//! Schedules: the entries the person keeps, when each fires, and what a host that comes late
//! makes of the fires it missed.
//!
//! An entry ([`EntrySpec`] as given, [`Entry`] as kept) names a command that the host runs as
//! a run of client `schedule:<name>` whenever its expression fires. The machine keeps the
//! entries and fires them (`crate::lease`), so that a fire is committed in the same
//! transaction as the run it makes: a host killed in the middle of a fire neither loses it
//! nor makes it twice.
//!
//! An expression is 5 cron fields (minute, hour, day of month, month, day of week), or 6 with
//! seconds first, evaluated by `croner` in a time zone the caller gives: the user's local one
//! on the host, a fixed one in tests. `croner` keeps wall-clock fires right across daylight
//! saving: a fire in the hour that is skipped in spring comes at the end of the gap, and one in
//! the hour that repeats in autumn comes once.
//!
//! Fires are missed while the host is down, the machine sleeps, or the entry's earlier run is
//! still active: [`due`] says what to do about them. However many there are, at most one run is
//! made, and it says how many fires it stands for, so that nothing piles up and nothing
//! vanishes without a trace.

use chrono::{DateTime, TimeZone, Timelike};
use croner::Cron;
use croner::parser::{CronParser, Seconds};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::model::{RunId, Timestamp};
use crate::resource::ResourceName;

/// Bounds on what an entry may hold.
pub mod limits {
    /// Longest entry name: `schedule:<name>` is its runs' client, which has at most 64.
    pub const NAME_CHARS: usize = 48;
    /// Most words in a command.
    pub const COMMAND_WORDS: usize = 256;
    /// Most bytes in a command, its words together (the API's whole body is at most 64 KiB).
    pub const COMMAND_BYTES: usize = 64 * 1024;
    /// Longest expression, in characters.
    pub const CRON_CHARS: usize = 256;
    /// Most entries a host keeps.
    pub const ENTRIES: usize = 1000;
}

/// An entry as the person gives it (`baton schedule add`, the API, the settings window).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct EntrySpec {
    /// Letters, digits, `.`, `_` and `-`; its runs' client is `schedule:<name>`.
    pub name: String,
    /// 5 cron fields (minute hour day-of-month month day-of-week), or 6 with seconds first, in
    /// the host's local time zone.
    pub cron: String,
    /// The program and its arguments, run as `baton run` runs them.
    pub command: Vec<String>,
    /// Its runs' title; the command line when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Whether its runs need the desktop (they queue for it like any run).
    #[serde(default)]
    pub needs_desktop: bool,
    /// The declared resources its runs need besides the desktop.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<ResourceName>,
    /// What becomes of the fires missed while the host was down, the machine slept or the
    /// entry's run was still going: one catch-up run (the default), or none.
    #[serde(default)]
    pub missed: Missed,
}

impl EntrySpec {
    /// Checks everything but the resources (the machine knows which are declared); the parsed
    /// expression.
    pub fn check(&self) -> Result<CronExpr> {
        check_name(&self.name)?;
        let chars = self.cron.chars().count();
        if chars > limits::CRON_CHARS {
            return Err(Error::Invalid(format!(
                "a cron expression has at most {} characters; this one has {chars}",
                limits::CRON_CHARS
            )));
        }
        let expr = CronExpr::parse(&self.cron)?;
        let Some(program) = self.command.first() else {
            return Err(Error::Invalid(format!(
                "schedule entry '{}' needs a command to run",
                self.name
            )));
        };
        if program.trim().is_empty() {
            return Err(Error::Invalid("the command's program is empty".into()));
        }
        if self.command.len() > limits::COMMAND_WORDS {
            return Err(Error::Invalid(format!(
                "a command has at most {} words; this one has {}",
                limits::COMMAND_WORDS,
                self.command.len()
            )));
        }
        let bytes: usize = self.command.iter().map(String::len).sum();
        if bytes > limits::COMMAND_BYTES {
            return Err(Error::Invalid(format!(
                "a command has at most {} bytes; this one has {bytes}",
                limits::COMMAND_BYTES
            )));
        }
        if self.command.iter().any(|word| word.contains('\0')) {
            return Err(Error::Invalid(
                "a command's words cannot contain NUL characters".into(),
            ));
        }
        if let Some(title) = &self.title {
            crate::text::one_line(title, "the title", crate::lease::limits::TITLE_CHARS)?;
        }
        Ok(expr)
    }

    /// The title of its runs: the one given, or the command line on one line.
    pub fn run_title(&self) -> String {
        match &self.title {
            Some(title) => title.trim().to_string(),
            None => crate::text::command_title(&self.command),
        }
    }

    /// The client name of its runs.
    pub fn client(&self) -> String {
        client_of(&self.name)
    }
}

/// The client name of entry `name`'s runs.
pub fn client_of(name: &str) -> String {
    format!("schedule:{name}")
}

/// Refuses a name that is not an entry's.
pub fn check_name(name: &str) -> Result<()> {
    let chars = name.chars().count();
    if chars == 0 {
        return Err(Error::Invalid("a schedule entry needs a name".into()));
    }
    if chars > limits::NAME_CHARS {
        return Err(Error::Invalid(format!(
            "a schedule entry's name has at most {} characters; this one has {chars}",
            limits::NAME_CHARS
        )));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(Error::Invalid(format!(
            "'{}' is not a schedule entry's name: use letters, digits and '.' '_' '-' only (not {bad:?})",
            name.escape_debug()
        )));
    }
    Ok(())
}

/// An entry as the host keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Entry {
    /// What the person gave.
    #[serde(flatten)]
    pub spec: EntrySpec,
    /// Paused entries let their fires go.
    pub paused: bool,
    /// When it was added.
    pub created_at: Timestamp,
    /// Its fires up to here are dealt with: made into a run, or let go.
    pub handled: Timestamp,
    /// The run its newest fire made (or `run-now`): while it is active, fires wait for it.
    pub last_run: Option<RunId>,
    /// Why its last fire made no run (a resource since removed, a cap on runs), until one
    /// does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

impl Entry {
    /// Its next fire from `now` on (or from the last one it handled, if that is later), in
    /// time zone `tz`; `None` while it is paused, or if it never fires again.
    pub fn next_fire<Tz: TimeZone>(&self, tz: &Tz, now: Timestamp) -> Option<Timestamp> {
        if self.paused {
            return None;
        }
        let expr = CronExpr::parse(&self.spec.cron).ok()?;
        let from = tz.timestamp_millis_opt(self.handled.max(now).0).single()?;
        Some(Timestamp(expr.next_after(&from)?.timestamp_millis()))
    }
}

/// What made a run of a schedule entry, recorded with the run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Fire {
    /// The entry's name.
    pub entry: String,
    /// The newest fire the run stands for; absent for a run the person asked for
    /// (`run-now`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<Timestamp>,
    /// How many fires it stands for: 1 on time, more for a catch-up of missed ones
    /// ([`COUNT_AT_MOST`] at most), 0 for `run-now`.
    pub stands_for: u32,
}

/// The fields of a 6-field expression, in order, with what each takes; a 5-field one has all
/// but the first.
const FIELDS: [(&str, &str); 6] = [
    ("second", "0–59"),
    ("minute", "0–59"),
    ("hour", "0–23"),
    ("day of month", "1–31 or L"),
    ("month", "1–12 or JAN–DEC"),
    ("day of week", "0–7 or SUN–SAT"),
];

/// At most this many missed fires are counted one by one: a per-second entry after a week
/// asleep counts "at least" this many, not 604 800.
pub const COUNT_AT_MOST: u32 = 10_000;

/// A parsed cron expression.
#[derive(Debug, Clone)]
pub struct CronExpr {
    text: String,
    cron: Cron,
}

impl CronExpr {
    /// Parses `text`; a bad one is refused with a sentence that names the field and the value
    /// that is wrong (the whole expression is refused, never a part of it taken).
    pub fn parse(text: &str) -> Result<CronExpr> {
        let fields: Vec<&str> = text.split_whitespace().collect();
        let names = match fields.len() {
            5 => &FIELDS[1..],
            6 => &FIELDS[..],
            n => {
                return Err(Error::Invalid(format!(
                    "'{text}' has {n} field{}: a cron expression has 5 (minute hour day-of-month \
                     month day-of-week), or 6 with seconds first",
                    if n == 1 { "" } else { "s" }
                )));
            }
        };
        let parser = CronParser::builder().seconds(Seconds::Optional).build();
        // Each field alone, the others `*`: the first one refused is the one to name.
        for (i, (field, (name, takes))) in fields.iter().zip(names).enumerate() {
            let probe: Vec<&str> = (0..fields.len())
                .map(|j| if j == i { *field } else { "*" })
                .collect();
            if let Err(e) = parser.parse(&probe.join(" ")) {
                return Err(Error::Invalid(format!(
                    "in '{text}', the {name} field's '{field}' is not valid ({}): it takes \
                     {takes}, `*`, lists (1,5), ranges (1-5) and steps (*/5)",
                    why(&e)
                )));
            }
        }
        let cron = parser.parse(text).map_err(|e| {
            Error::Invalid(format!(
                "'{text}' is not a valid cron expression ({})",
                why(&e)
            ))
        })?;
        let expr = CronExpr {
            text: fields.join(" "),
            cron,
        };
        // An expression that can never fire (the 30th of February) is as wrong as a typo.
        if expr.next_after(&chrono::Utc::now()).is_none() {
            return Err(Error::Invalid(format!("'{text}' never fires")));
        }
        Ok(expr)
    }

    /// The expression as given, its fields separated by one space.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The first fire strictly after `t`, in `t`'s time zone; `None` if it never fires again.
    /// Fires fall on whole seconds: croner keeps the fraction of a second it is given, so `t`
    /// loses it first.
    pub fn next_after<Tz: TimeZone>(&self, t: &DateTime<Tz>) -> Option<DateTime<Tz>> {
        self.cron.find_next_occurrence(&whole_second(t), false).ok()
    }
}

/// `t` without its fraction of a second. By subtraction, not `with_nanosecond`, which goes
/// through the local time and finds none in an hour that repeats in autumn.
fn whole_second<Tz: TimeZone>(t: &DateTime<Tz>) -> DateTime<Tz> {
    t.clone() - chrono::TimeDelta::nanoseconds(i64::from(t.nanosecond()))
}

/// croner's message, without its type's prefix, for a sentence of ours.
fn why(e: &croner::errors::CronError) -> String {
    let text = e.to_string();
    let text = text
        .split_once(": ")
        .map_or(text.as_str(), |(_, rest)| rest)
        .trim_end_matches('.');
    // Our sentence goes on after it: no capital in the middle.
    let mut chars = text.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_lowercase().chain(chars).collect()
    })
}

/// What an entry does about fires it missed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "kebab-case")]
pub enum Missed {
    /// One run stands for all of them (like anacron): a job that was due still happens, once.
    #[default]
    CatchUp,
    /// They are let go; only a fire the host makes on time runs.
    Skip,
}

impl Missed {
    /// The policy as the CLI, the API and the store spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Missed::CatchUp => "catch-up",
            Missed::Skip => "skip",
        }
    }
}

impl std::str::FromStr for Missed {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        match text {
            "catch-up" => Ok(Missed::CatchUp),
            "skip" => Ok(Missed::Skip),
            other => Err(Error::Invalid(format!(
                "'{other}' is not a policy for missed fires: use 'catch-up' (one run for all of them) or 'skip'"
            ))),
        }
    }
}

/// How late a fire may be made and still count as on time: a host busy for a moment, or a
/// timer that woke a little late, does not make a missed fire.
pub const ON_TIME: chrono::TimeDelta = chrono::TimeDelta::seconds(60);

/// What is due of an entry at `now`, its fires up to `handled` being dealt with already.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Due<Tz: TimeZone> {
    /// The newest fire that passed: what the entry has handled once this is acted on.
    pub latest: DateTime<Tz>,
    /// The fires that passed since `handled`, `latest` among them (at most
    /// [`COUNT_AT_MOST`]: "at least" that many beyond).
    pub passed: u32,
    /// How many of them the run to make now stands for: all of them when catching up, the
    /// newest alone when a skipping entry makes it on time, and 0 (no run: all are let go)
    /// when a skipping entry is late.
    pub stands_for: u32,
}

/// What is due of `expr` at `now`: `None` while no fire passed since `handled`.
pub fn due<Tz: TimeZone>(
    expr: &CronExpr,
    handled: &DateTime<Tz>,
    now: &DateTime<Tz>,
    missed: Missed,
) -> Option<Due<Tz>> {
    let first = expr.next_after(handled)?;
    if first > *now {
        return None;
    }
    let mut latest = first;
    let mut passed = 1;
    while let Some(next) = expr.next_after(&latest) {
        if next > *now {
            break;
        }
        latest = next;
        passed += 1;
        if passed >= COUNT_AT_MOST {
            // Jump to the newest fire before `now` without counting each.
            if let Ok(newest) = expr.cron.find_previous_occurrence(&whole_second(now), true) {
                latest = newest;
            }
            break;
        }
    }
    let on_time = now.clone().signed_duration_since(latest.clone()) <= ON_TIME;
    let stands_for = match missed {
        Missed::CatchUp => passed,
        Missed::Skip if on_time => 1,
        Missed::Skip => 0,
    };
    Some(Due {
        latest,
        passed,
        stands_for,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use chrono::Timelike;
    use chrono_tz::{America::New_York, Europe::Berlin, Tz};

    fn at(tz: Tz, text: &str) -> DateTime<Tz> {
        let naive = chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S").unwrap();
        tz.from_local_datetime(&naive).earliest().unwrap()
    }

    fn fires(expr: &str, from: DateTime<Tz>, n: usize) -> Vec<String> {
        let expr = CronExpr::parse(expr).unwrap();
        let mut t = from;
        (0..n)
            .map(|_| {
                t = expr.next_after(&t).unwrap();
                t.to_rfc3339()
            })
            .collect()
    }

    #[test]
    fn five_fields_or_six_with_seconds_first() {
        let every_minute = CronExpr::parse("* * * * *").unwrap();
        let t = at(Berlin, "2026-06-01 12:00:30");
        assert_eq!(
            every_minute.next_after(&t).unwrap(),
            at(Berlin, "2026-06-01 12:01:00")
        );
        let every_second = CronExpr::parse("* * * * * *").unwrap();
        assert_eq!(
            every_second.next_after(&t).unwrap(),
            at(Berlin, "2026-06-01 12:00:31")
        );
        assert_eq!(
            CronExpr::parse("  30  9 * * 1-5 ").unwrap().as_str(),
            "30 9 * * 1-5"
        );
        // From within a second, the next fire is on a whole one all the same.
        let within = t + chrono::TimeDelta::milliseconds(340);
        assert_eq!(
            every_second.next_after(&within).unwrap(),
            at(Berlin, "2026-06-01 12:00:31")
        );
        assert_eq!(
            every_minute.next_after(&within).unwrap(),
            at(Berlin, "2026-06-01 12:01:00")
        );
    }

    #[test]
    fn a_bad_expression_names_its_field_and_value() {
        let said = |text: &str| CronExpr::parse(text).unwrap_err().to_string();
        assert!(
            said("61 * * * *").contains("the minute field's '61' is not valid"),
            "{}",
            said("61 * * * *")
        );
        assert!(
            said("0 25 * * *").contains("the hour field's '25'"),
            "{}",
            said("0 25 * * *")
        );
        assert!(
            said("0 9 * * funday").contains("the day of week field's 'funday'"),
            "{}",
            said("0 9 * * funday")
        );
        assert!(
            said("0 9 0 * *").contains("the day of month field's '0'"),
            "{}",
            said("0 9 0 * *")
        );
        assert!(
            said("0 9 * 13 *").contains("the month field's '13'"),
            "{}",
            said("0 9 * 13 *")
        );
        assert!(
            said("75 0 9 * * *").contains("the second field's '75'"),
            "{}",
            said("75 0 9 * * *")
        );
        assert!(
            said("0 9 * *").contains("has 4 fields"),
            "{}",
            said("0 9 * *")
        );
        assert!(said("").contains("has 0 fields"), "{}", said(""));
        assert!(said("0 0 9 * * * 2030").contains("has 7 fields"));
        assert!(
            said("0 0 30 2 *").contains("never fires"),
            "{}",
            said("0 0 30 2 *")
        );
    }

    #[test]
    fn a_daily_fire_keeps_its_wall_clock_time_across_daylight_saving() {
        // Berlin springs forward on 2026-03-29 (02:00 → 03:00) and falls back on 2026-10-25.
        assert_eq!(
            fires("30 9 * * *", at(Berlin, "2026-03-28 10:00:00"), 2),
            ["2026-03-29T09:30:00+02:00", "2026-03-30T09:30:00+02:00"]
        );
        assert_eq!(
            fires("30 9 * * *", at(Berlin, "2026-10-24 10:00:00"), 2),
            ["2026-10-25T09:30:00+01:00", "2026-10-26T09:30:00+01:00"]
        );
    }

    #[test]
    fn a_fire_in_the_skipped_hour_comes_once_after_it_and_one_in_the_repeated_hour_once() {
        // 02:30 does not exist in Berlin on 2026-03-29: it fires when the gap ends, once.
        let spring = fires("30 2 * * *", at(Berlin, "2026-03-28 12:00:00"), 2);
        assert_eq!(
            spring,
            ["2026-03-29T03:00:00+02:00", "2026-03-30T02:30:00+02:00"]
        );
        // 01:30 happens twice in New York on 2026-11-01: it fires at the first, once.
        let autumn = fires("30 1 * * *", at(New_York, "2026-10-31 12:00:00"), 2);
        assert_eq!(
            autumn,
            ["2026-11-01T01:30:00-04:00", "2026-11-02T01:30:00-05:00"]
        );
    }

    #[test]
    fn an_hourly_entry_fires_every_real_hour_across_daylight_saving() {
        let spring = fires("0 * * * *", at(Berlin, "2026-03-29 00:30:00"), 3);
        assert_eq!(
            spring,
            [
                "2026-03-29T01:00:00+01:00",
                "2026-03-29T03:00:00+02:00",
                "2026-03-29T04:00:00+02:00"
            ]
        );
    }

    #[test]
    fn nothing_is_due_before_the_next_fire() {
        let expr = CronExpr::parse("0 * * * *").unwrap();
        let handled = at(Berlin, "2026-06-01 12:00:00");
        assert_eq!(
            due(
                &expr,
                &handled,
                &at(Berlin, "2026-06-01 12:59:59"),
                Missed::CatchUp
            ),
            None
        );
        let on_time = due(
            &expr,
            &handled,
            &at(Berlin, "2026-06-01 13:00:01"),
            Missed::Skip,
        )
        .unwrap();
        assert_eq!((on_time.passed, on_time.stands_for), (1, 1));
        assert_eq!(on_time.latest, at(Berlin, "2026-06-01 13:00:00"));
    }

    #[test]
    fn missed_fires_make_one_catch_up_run_that_says_how_many_it_stands_for() {
        let expr = CronExpr::parse("*/15 * * * *").unwrap();
        let handled = at(Berlin, "2026-06-01 12:00:00");
        // Asleep from 12:05 to 14:10: eight fires passed.
        let now = at(Berlin, "2026-06-01 14:10:00");
        let caught = due(&expr, &handled, &now, Missed::CatchUp).unwrap();
        assert_eq!(
            caught,
            Due {
                latest: at(Berlin, "2026-06-01 14:00:00"),
                passed: 8,
                stands_for: 8
            }
        );
        // Handled: nothing more is due until the next fire, so there is no second run.
        assert_eq!(due(&expr, &caught.latest, &now, Missed::CatchUp), None);
        // Skipping lets all eight go: the newest is ten minutes late.
        let skipped = due(&expr, &handled, &now, Missed::Skip).unwrap();
        assert_eq!((skipped.passed, skipped.stands_for), (8, 0));
        assert_eq!(skipped.latest, caught.latest);
        // A skipping entry whose newest fire comes on time runs for that one alone.
        let now = at(Berlin, "2026-06-01 14:00:30");
        let on_time = due(&expr, &handled, &now, Missed::Skip).unwrap();
        assert_eq!((on_time.passed, on_time.stands_for), (8, 1));
    }

    #[test]
    fn a_week_asleep_with_a_per_second_entry_is_counted_at_most_so_far() {
        let expr = CronExpr::parse("* * * * * *").unwrap();
        let handled = at(Berlin, "2026-06-01 12:00:00");
        let now = at(Berlin, "2026-06-08 12:00:00");
        let caught = due(&expr, &handled, &now, Missed::CatchUp).unwrap();
        assert_eq!(caught.passed, COUNT_AT_MOST);
        assert_eq!(caught.latest, now);
        assert_eq!(caught.latest.second(), 0);
    }
}
