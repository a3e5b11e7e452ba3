//! Schedules: when an entry fires, and what a host that comes late makes of the fires it
//! missed. The rules only, so far: entries are not stored, served or fired yet.
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

use chrono::{DateTime, TimeZone};
use croner::Cron;
use croner::parser::{CronParser, Seconds};

use crate::error::{Error, Result};

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
    pub fn next_after<Tz: TimeZone>(&self, t: &DateTime<Tz>) -> Option<DateTime<Tz>> {
        self.cron.find_next_occurrence(t, false).ok()
    }
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
#[serde(rename_all = "kebab-case")]
pub enum Missed {
    /// One run stands for all of them (like anacron): a job that was due still happens, once.
    #[default]
    CatchUp,
    /// They are let go; only a fire the host makes on time runs.
    Skip,
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
            if let Ok(newest) = expr.cron.find_previous_occurrence(now, true) {
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
