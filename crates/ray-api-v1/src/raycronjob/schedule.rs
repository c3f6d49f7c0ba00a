//! `spec.schedule` and `spec.timeZone` of a RayCronJob: parsing, and the schedule times they give.
//!
//! A schedule is a standard cron expression of five fields, as Kubernetes CronJobs take them: minute (0-59), hour
//! (0-23), day of month (1-31), month (1-12 or `JAN`-`DEC`) and day of week (0-7, 0 and 7 are Sunday, or
//! `SUN`-`SAT`), each `*`, a value, a range `a-b`, a step `*/n`, `a-b/n` or `a/n`, or a comma-separated list of
//! those; `?` means `*` in the two day fields. When both day fields are restricted, a day matching either one
//! fires (as in Vixie cron). The macros `@yearly` (`@annually`), `@monthly`, `@weekly`, `@daily` (`@midnight`) and
//! `@hourly` stand for their usual expressions.
//!
//! Times are read in the time zone (an IANA name from the time zone database built into this crate; UTC when
//! unset). On a day when the clock skips an hour, a time inside the gap fires when the gap ends (02:30 becomes
//! 03:00); when the clock repeats an hour, a fixed time such as `30 2 * * *` fires once, at its first occurrence,
//! while a schedule with a wildcard or step in the minute or hour field fires on both passes.
//!
//! The cron arithmetic is [croner](https://docs.rs/croner)'s, on [jiff](https://docs.rs/jiff) times.

use std::str::FromStr;
use std::sync::OnceLock;

use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};
use k8s_openapi::jiff::Timestamp;
use k8s_openapi::jiff::tz::{TimeZone, TimeZoneDatabase};

/// What is wrong with a schedule or a time zone; the message says what to write instead.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    /// `spec.schedule` is not a schedule this operator reads.
    #[error("{0}")]
    Schedule(String),
    /// `spec.timeZone` names no time zone of the database.
    #[error("{0}")]
    TimeZone(String),
}

/// A parsed schedule in its time zone: gives the schedule times after (or at or before) any instant.
#[derive(Clone, Debug)]
pub struct CronSchedule {
    cron: Cron,
    zone: TimeZone,
}

/// The macros Kubernetes CronJobs accept, and the expression each stands for.
const MACROS: [(&str, &str); 7] = [
    ("@yearly", "0 0 1 1 *"),
    ("@annually", "0 0 1 1 *"),
    ("@monthly", "0 0 1 * *"),
    ("@weekly", "0 0 * * 0"),
    ("@daily", "0 0 * * *"),
    ("@midnight", "0 0 * * *"),
    ("@hourly", "0 * * * *"),
];

const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const WEEKDAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

/// The time zone database every schedule is read with: the one built into this crate, so the result does not
/// depend on the files of the machine (or container image) the operator runs on.
fn database() -> &'static TimeZoneDatabase {
    static DATABASE: OnceLock<TimeZoneDatabase> = OnceLock::new();
    DATABASE.get_or_init(TimeZoneDatabase::bundled)
}

/// The time zone named `name` (an IANA name such as `Europe/Berlin`); UTC when `None`.
pub fn time_zone(name: Option<&str>) -> Result<TimeZone, ScheduleError> {
    let Some(name) = name else {
        return Ok(TimeZone::UTC);
    };
    if name.trim().is_empty() {
        return Err(ScheduleError::TimeZone(
            "timeZone must not be empty: name an IANA time zone such as \"Europe/Berlin\", or remove the field \
             for UTC"
                .to_owned(),
        ));
    }
    database().get(name).map_err(|_| {
        ScheduleError::TimeZone(format!(
            "\"{name}\" is not a time zone of the IANA time zone database: use a name such as \"Europe/Berlin\" \
             or \"America/New_York\" (see `timedatectl list-timezones`), or remove the field for UTC"
        ))
    })
}

/// Parses `spec.schedule` alone (see the module documentation for what is accepted).
fn parse_expression(schedule: &str) -> Result<Cron, ScheduleError> {
    let text = schedule.trim();
    let fail = |problem: String| {
        Err(ScheduleError::Schedule(format!(
            "\"{schedule}\" is not a cron schedule: {problem}"
        )))
    };
    if text.is_empty() {
        return fail(
            "it is empty; write five fields (minute hour day-of-month month day-of-week), for example \
             \"0 3 * * *\" for 03:00 every day"
                .to_owned(),
        );
    }
    let upper = text.to_ascii_uppercase();
    if upper.starts_with("TZ=") || upper.starts_with("CRON_TZ=") {
        return fail(
            "a time zone cannot be part of the schedule: remove the TZ= prefix and set spec.timeZone instead"
                .to_owned(),
        );
    }
    let expression = if text.starts_with('@') {
        let lower = text.to_ascii_lowercase();
        if lower.starts_with("@every") {
            return fail(
                "@every is not supported: write the interval as five fields, for example \"*/15 * * * *\" for \
                 every 15 minutes"
                    .to_owned(),
            );
        }
        match MACROS.iter().find(|(name, _)| *name == lower) {
            Some((_, expression)) => (*expression).to_owned(),
            None => {
                return fail(
                    "the macros are @yearly, @annually, @monthly, @weekly, @daily, @midnight and @hourly"
                        .to_owned(),
                );
            }
        }
    } else {
        text.to_owned()
    };
    let fields: Vec<&str> = expression.split_whitespace().collect();
    if fields.len() != 5 {
        return fail(format!(
            "it has {} fields, a schedule has five (minute hour day-of-month month day-of-week, no seconds or \
             year), for example \"0 3 * * *\" for 03:00 every day",
            fields.len()
        ));
    }
    const NAMES: [&str; 5] = ["minute", "hour", "day-of-month", "month", "day-of-week"];
    for (index, field) in fields.iter().enumerate() {
        let names: &[&str] = match index {
            3 => &MONTHS,
            4 => &WEEKDAYS,
            _ => &[],
        };
        let question_mark = index == 2 || index == 4;
        if let Some(problem) = field_syntax_problem(field, names, question_mark) {
            return fail(format!("the {} field \"{field}\" {problem}", NAMES[index]));
        }
    }
    let parser = CronParser::builder()
        .seconds(Seconds::Disallowed)
        .year(Year::Disallowed)
        // `5/15` (from 5 on, every 15), as Kubernetes reads it.
        .sloppy_ranges(true)
        .build();
    match parser.parse(&expression) {
        Ok(cron) => Ok(cron),
        Err(error) => fail(format!(
            "{error}; the fields are minute (0-59), hour (0-23), day of month (1-31), month (1-12) and day of \
             week (0-7)"
        )),
    }
}

/// Why one field is not of the standard syntax (`*`, values, names, ranges, steps, lists; `?` in the day fields),
/// or `None`. The extensions of some cron implementations (`L`, `W`, `#`, a leading `+`) are refused here, since
/// Kubernetes CronJobs and KubeRay do not read them.
fn field_syntax_problem(field: &str, names: &[&str], question_mark: bool) -> Option<&'static str> {
    for item in field.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((range, step)) => (range, Some(step)),
            None => (item, None),
        };
        if let Some(step) = step
            && (step.is_empty() || !step.bytes().all(|b| b.is_ascii_digit()))
        {
            return Some("has a step that is not a number: write */n, a-b/n or a/n");
        }
        let is_value = |value: &str| {
            (!value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()))
                || names.iter().any(|name| name.eq_ignore_ascii_case(value))
        };
        let fine = match range {
            "*" => true,
            "?" => question_mark,
            _ => match range.split_once('-') {
                Some((from, to)) => is_value(from) && is_value(to),
                None => is_value(range),
            },
        };
        if !fine {
            return Some(if item.is_empty() {
                "has an empty list entry"
            } else {
                "is not *, a number, a range a-b, a step */n or a list of those (L, W, # and + are not supported)"
            });
        }
    }
    None
}

impl CronSchedule {
    /// Parses a schedule and its time zone (`None`: UTC). The schedule must fire at least once.
    pub fn parse(schedule: &str, time_zone_name: Option<&str>) -> Result<Self, ScheduleError> {
        let cron = parse_expression(schedule)?;
        let zone = time_zone(time_zone_name)?;
        let parsed = CronSchedule { cron, zone };
        // A day that does not exist in any month (`0 0 30 2 *`) never fires: say so now, not by silence later.
        if parsed.next_after(Timestamp::UNIX_EPOCH).is_none() {
            return Err(ScheduleError::Schedule(format!(
                "\"{schedule}\" never fires: no month has the day it names; check the day-of-month and month \
                 fields"
            )));
        }
        Ok(parsed)
    }

    /// The first schedule time strictly after `after`, or `None` when there is none within the years croner
    /// searches (only for schedules that never fire).
    pub fn next_after(&self, after: Timestamp) -> Option<Timestamp> {
        let start = after.to_zoned(self.zone.clone());
        self.cron
            .find_next_occurrence(&start, false)
            .ok()
            .map(|next| next.timestamp())
    }

    /// The last schedule time at or before `at`, or `None` when there is none.
    pub fn latest_at_or_before(&self, at: Timestamp) -> Option<Timestamp> {
        let start = at.to_zoned(self.zone.clone());
        self.cron
            .find_previous_occurrence(&start, true)
            .ok()
            .map(|previous| previous.timestamp())
    }

    /// The time zone the schedule is read in.
    pub fn zone(&self) -> &TimeZone {
        &self.zone
    }
}

impl FromStr for CronSchedule {
    type Err = ScheduleError;

    /// Parses a schedule read in UTC.
    fn from_str(schedule: &str) -> Result<Self, Self::Err> {
        Self::parse(schedule, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    fn schedule(text: &str, zone: Option<&str>) -> CronSchedule {
        CronSchedule::parse(text, zone).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    fn error(text: &str) -> String {
        match parse_expression(text) {
            Ok(_) => panic!("{text:?} parsed"),
            Err(error) => error.to_string(),
        }
    }

    #[test]
    fn standard_expressions_and_macros_parse() {
        for text in [
            "* * * * *",
            "*/5 * * * *",
            "5/15 * * * *",
            "0 3 * * *",
            "0 9-17 * * MON-FRI",
            "30 2 1,15 jan,jul ?",
            "0 0 ? * 7",
            "  0 0 * * *  ",
            "@hourly",
            "@DAILY",
            "@midnight",
            "@weekly",
            "@monthly",
            "@yearly",
            "@annually",
        ] {
            assert!(parse_expression(text).is_ok(), "{text}");
        }
    }

    #[test]
    fn everything_else_is_refused_with_what_to_write() {
        assert!(error("").contains("empty"));
        assert!(error("* * * *").contains("it has 4 fields"));
        assert!(error("0 * * * * *").contains("no seconds"));
        assert!(error("@every 5m").contains("*/15 * * * *"));
        assert!(error("@reboot").contains("the macros are"));
        assert!(error("TZ=Europe/Berlin 0 3 * * *").contains("spec.timeZone"));
        assert!(error("CRON_TZ=UTC 0 3 * * *").contains("spec.timeZone"));
        assert!(error("61 * * * *").contains("0-59"));
        assert!(
            error("*/0 * * * *").contains("zero"),
            "{}",
            error("*/0 * * * *")
        );
        assert!(error("0 0 L * *").contains("day-of-month field \"L\""));
        assert!(error("0 0 15W * *").contains("not supported"));
        assert!(error("0 0 * * 5#2").contains("day-of-week"));
        assert!(error("0 0 1 * +MON").contains("day-of-week"));
        assert!(error("0 0 * FOO *").contains("month field"));
        assert!(error("0,,5 * * * *").contains("empty list entry"));
        assert!(error("*/x * * * *").contains("step"));
        assert!(error("? * * * *").contains("minute field"));
    }

    #[test]
    fn a_schedule_that_never_fires_is_refused() {
        let error = CronSchedule::parse("0 0 30 2 *", None).expect_err("February 30");
        assert!(error.to_string().contains("never fires"), "{error}");
        // 29 February fires in leap years.
        assert!(CronSchedule::parse("0 0 29 2 *", None).is_ok());
    }

    #[test]
    fn time_zones_are_iana_names_and_default_to_utc() {
        assert_eq!(time_zone(None), Ok(TimeZone::UTC));
        assert!(time_zone(Some("Europe/Berlin")).is_ok());
        assert!(time_zone(Some("America/New_York")).is_ok());
        // Names are matched without regard to case.
        assert!(time_zone(Some("europe/berlin")).is_ok());
        let unknown = time_zone(Some("Mars/Olympus_Mons")).expect_err("no such zone");
        assert!(unknown.to_string().contains("\"Mars/Olympus_Mons\""));
        assert!(time_zone(Some(" ")).is_err());
        assert!(matches!(
            CronSchedule::parse("0 3 * * *", Some("Local")),
            Err(ScheduleError::TimeZone(_))
        ));
    }

    #[test]
    fn next_and_latest_times_in_utc() {
        let every_minute = schedule("* * * * *", None);
        assert_eq!(
            every_minute.next_after(at("2026-03-01T03:00:00Z")),
            Some(at("2026-03-01T03:01:00Z"))
        );
        assert_eq!(
            every_minute.next_after(at("2026-03-01T03:00:30Z")),
            Some(at("2026-03-01T03:01:00Z"))
        );
        assert_eq!(
            every_minute.latest_at_or_before(at("2026-03-01T03:00:00Z")),
            Some(at("2026-03-01T03:00:00Z"))
        );
        assert_eq!(
            every_minute.latest_at_or_before(at("2026-03-01T03:00:59.9Z")),
            Some(at("2026-03-01T03:00:00Z"))
        );
        let nightly = schedule("0 3 * * *", None);
        assert_eq!(
            nightly.next_after(at("2026-03-01T03:00:00Z")),
            Some(at("2026-03-02T03:00:00Z"))
        );
        // Either day field restricted: a day matching either fires (the 1st, or a Monday).
        let either = schedule("0 0 1 * MON", None);
        assert_eq!(
            either.next_after(at("2026-03-01T00:00:00Z")),
            Some(at("2026-03-02T00:00:00Z"))
        );
    }

    #[test]
    fn times_are_read_in_the_time_zone() {
        let berlin = schedule("0 3 * * *", Some("Europe/Berlin"));
        // 03:00 in Berlin is 02:00 UTC in winter and 01:00 UTC in summer.
        assert_eq!(
            berlin.next_after(at("2026-01-10T12:00:00Z")),
            Some(at("2026-01-11T02:00:00Z"))
        );
        assert_eq!(
            berlin.next_after(at("2026-07-10T12:00:00Z")),
            Some(at("2026-07-11T01:00:00Z"))
        );
    }

    #[test]
    fn daylight_saving_gaps_shift_and_repeats_fire_once() {
        let half_past_two = schedule("30 2 * * *", Some("Europe/Berlin"));
        // 2026-03-29: 02:00 jumps to 03:00, so 02:30 does not exist; it runs when the gap ends.
        assert_eq!(
            half_past_two.next_after(at("2026-03-28T12:00:00Z")),
            Some(at("2026-03-29T01:00:00Z"))
        );
        // 2026-10-25: 03:00 goes back to 02:00, so 02:30 happens twice; a fixed time runs once, the first time.
        let first = half_past_two.next_after(at("2026-10-24T12:00:00Z"));
        assert_eq!(first, Some(at("2026-10-25T00:30:00Z")));
        assert_eq!(
            first.and_then(|first| half_past_two.next_after(first)),
            Some(at("2026-10-26T01:30:00Z"))
        );
    }
}
