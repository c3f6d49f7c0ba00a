//! The RayCronJob decision, one behaviour per test: when RayJobs are due, what they are named, missed schedule
//! times, suspend, time zones, invalid specs, and when the controller looks again.

use std::time::Duration;

use k8s_openapi::jiff::Timestamp;
use ray_api_v1::raycronjob::schedule::CronSchedule;
use ray_api_v1::{FieldError, ValidationErrors};

use super::decide::{Decision, Due, MISSED_LIMIT, Observation, Run, decide, due};
use super::events;

fn at(text: &str) -> Timestamp {
    text.parse().unwrap_or_else(|e| panic!("{text}: {e}"))
}

fn schedule(text: &str, zone: Option<&str>) -> CronSchedule {
    CronSchedule::parse(text, zone).unwrap_or_else(|e| panic!("{text}: {e}"))
}

/// `decide` for RayCronJob `nightly` on `schedule`, created at `created`, last run at `last`, at `now`.
fn decision(schedule: &CronSchedule, created: &str, last: Option<&str>, now: &str) -> Decision {
    decide(&Observation {
        name: "nightly",
        schedule: Ok(schedule),
        suspend: false,
        created: Some(at(created)),
        last_schedule_time: last.map(at),
        now: at(now),
    })
}

fn run(time: &str) -> Option<Run> {
    let time = at(time);
    Some(Run {
        at: time,
        job_name: format!("nightly-{}", time.as_second() / 60),
    })
}

fn reasons(decision: &Decision) -> Vec<&'static str> {
    decision.notes.iter().map(|n| n.reason).collect()
}

#[test]
fn nothing_is_due_before_the_first_schedule_time_and_it_looks_again_exactly_then() {
    let minutely = schedule("* * * * *", None);
    let d = decision(
        &minutely,
        "2026-03-01T03:00:20Z",
        None,
        "2026-03-01T03:00:45Z",
    );
    assert_eq!(d.run, None);
    assert!(d.notes.is_empty());
    assert_eq!(d.requeue_after, Some(Duration::from_secs(15)));
}

#[test]
fn a_due_schedule_time_creates_its_rayjob_named_after_the_minute() {
    let minutely = schedule("* * * * *", None);
    let d = decision(
        &minutely,
        "2026-03-01T03:00:20Z",
        None,
        "2026-03-01T03:01:00Z",
    );
    assert_eq!(d.run, run("2026-03-01T03:01:00Z"));
    assert_eq!(
        d.run.as_ref().map(|r| r.job_name.as_str()),
        Some("nightly-29538901")
    );
    assert!(d.notes.is_empty(), "{:?}", d.notes);
    // And looks again at the next minute.
    assert_eq!(d.requeue_after, Some(Duration::from_secs(60)));
    // A little late (the timer fired after the minute): the same RayJob, the next look sooner.
    let late = decision(
        &minutely,
        "2026-03-01T03:00:20Z",
        None,
        "2026-03-01T03:01:02.5Z",
    );
    assert_eq!(late.run, run("2026-03-01T03:01:00Z"));
    assert_eq!(late.requeue_after, Some(Duration::from_millis(57_500)));
}

#[test]
fn after_a_run_the_next_pass_waits_for_the_next_time() {
    let minutely = schedule("* * * * *", None);
    // The status says 03:01 ran; at 03:01:30 nothing more is due.
    let d = decision(
        &minutely,
        "2026-03-01T03:00:20Z",
        Some("2026-03-01T03:01:00Z"),
        "2026-03-01T03:01:30Z",
    );
    assert_eq!(d.run, None);
    assert_eq!(d.requeue_after, Some(Duration::from_secs(30)));
}

#[test]
fn a_pass_that_did_not_see_its_own_status_decides_the_same_rayjob_again() {
    // The previous pass created the 03:01 RayJob but its status write did not land (or is not seen yet): the
    // same name again, which the API server answers with AlreadyExists, never a second RayJob.
    let minutely = schedule("* * * * *", None);
    let first = decision(
        &minutely,
        "2026-03-01T03:00:20Z",
        None,
        "2026-03-01T03:01:00Z",
    );
    let again = decision(
        &minutely,
        "2026-03-01T03:00:20Z",
        None,
        "2026-03-01T03:01:40Z",
    );
    assert_eq!(first.run, again.run);
}

#[test]
fn missed_schedule_times_run_only_the_latest_and_say_so() {
    let minutely = schedule("* * * * *", None);
    // Last ran 03:01; the operator was down until 03:05:30: 03:02 to 03:05 are due, only 03:05 runs.
    let d = decision(
        &minutely,
        "2026-03-01T03:00:20Z",
        Some("2026-03-01T03:01:00Z"),
        "2026-03-01T03:05:30Z",
    );
    assert_eq!(d.run, run("2026-03-01T03:05:00Z"));
    assert_eq!(reasons(&d), [events::MISSED_SCHEDULES]);
    assert!(
        d.notes[0].message.starts_with("3 earlier schedule time(s)"),
        "{}",
        d.notes[0].message
    );
    assert!(!d.notes[0].warning);
    assert_eq!(d.requeue_after, Some(Duration::from_secs(30)));
}

#[test]
fn more_than_a_hundred_missed_times_warn_and_still_run_the_latest() {
    let minutely = schedule("* * * * *", None);
    // A day without the operator: 1440 minutes.
    let d = decision(
        &minutely,
        "2026-03-01T00:00:00Z",
        Some("2026-03-01T00:00:00Z"),
        "2026-03-02T00:00:10Z",
    );
    assert_eq!(d.run, run("2026-03-02T00:00:00Z"));
    assert_eq!(reasons(&d), [events::TOO_MANY_MISSED_TIMES]);
    assert!(d.notes[0].warning);
    assert!(
        d.notes[0].message.contains("more than 100"),
        "{}",
        d.notes[0].message
    );
    // Exactly 100 due: no Warning yet.
    let hundred = decision(
        &minutely,
        "2026-03-01T00:00:00Z",
        Some("2026-03-01T00:00:00Z"),
        "2026-03-01T01:40:00Z",
    );
    assert_eq!(reasons(&hundred), [events::MISSED_SCHEDULES]);
    assert!(hundred.notes[0].message.starts_with("99 earlier"));
}

#[test]
fn due_counts_up_to_the_limit_and_finds_the_latest_beyond_it() {
    let minutely = schedule("* * * * *", None);
    assert_eq!(
        due(
            &minutely,
            at("2026-03-01T00:00:00Z"),
            at("2026-03-01T00:00:59Z")
        ),
        Due::NotYet {
            next: at("2026-03-01T00:01:00Z")
        }
    );
    assert_eq!(
        due(
            &minutely,
            at("2026-03-01T00:00:00Z"),
            at("2026-03-01T00:03:00Z")
        ),
        Due::Now {
            at: at("2026-03-01T00:03:00Z"),
            count: 3,
            first: at("2026-03-01T00:01:00Z")
        }
    );
    assert_eq!(
        due(
            &minutely,
            at("2026-03-01T00:00:00Z"),
            at("2026-04-01T12:34:56Z")
        ),
        Due::Now {
            at: at("2026-04-01T12:34:00Z"),
            count: MISSED_LIMIT + 1,
            first: at("2026-03-01T00:01:00Z")
        }
    );
}

#[test]
fn the_first_time_is_counted_from_the_creation() {
    let nightly = schedule("0 3 * * *", None);
    // Created after 03:00: the first RayJob is the next day's.
    let d = decision(
        &nightly,
        "2026-03-01T03:00:01Z",
        None,
        "2026-03-01T12:00:00Z",
    );
    assert_eq!(d.run, None);
    assert_eq!(d.requeue_after, Some(Duration::from_secs(15 * 3600)));
    let d = decision(
        &nightly,
        "2026-03-01T03:00:01Z",
        None,
        "2026-03-02T03:00:00Z",
    );
    assert_eq!(d.run, run("2026-03-02T03:00:00Z"));
    assert_eq!(d.requeue_after, Some(Duration::from_secs(24 * 3600)));
}

#[test]
fn schedules_are_read_in_their_time_zone() {
    let berlin = schedule("0 3 * * *", Some("Europe/Berlin"));
    // 03:00 in Berlin on 1 March is 02:00 UTC.
    let d = decision(
        &berlin,
        "2026-03-01T00:00:00Z",
        None,
        "2026-03-01T01:59:00Z",
    );
    assert_eq!(d.run, None);
    assert_eq!(d.requeue_after, Some(Duration::from_secs(60)));
    let d = decision(
        &berlin,
        "2026-03-01T00:00:00Z",
        None,
        "2026-03-01T02:00:00Z",
    );
    assert_eq!(d.run, run("2026-03-01T02:00:00Z"));
    // The clocks go forward on 29 March: the next RayJob after that is at 01:00 UTC.
    let d = decision(
        &berlin,
        "2026-03-01T00:00:00Z",
        Some("2026-03-29T01:00:00Z"),
        "2026-03-29T01:00:05Z",
    );
    assert_eq!(d.requeue_after, Some(Duration::from_secs(24 * 3600 - 5)));
    // Unset time zone: UTC.
    let utc = schedule("0 3 * * *", None);
    let d = decision(&utc, "2026-03-01T00:00:00Z", None, "2026-03-01T02:00:00Z");
    assert_eq!(d.run, None);
}

#[test]
fn suspend_creates_nothing_and_resuming_runs_the_latest_missed_time() {
    let minutely = schedule("* * * * *", None);
    let suspended = decide(&Observation {
        name: "nightly",
        schedule: Ok(&minutely),
        suspend: true,
        created: Some(at("2026-03-01T03:00:00Z")),
        last_schedule_time: Some(at("2026-03-01T03:01:00Z")),
        now: at("2026-03-01T03:10:00Z"),
    });
    assert_eq!(suspended.run, None);
    assert_eq!(
        suspended.requeue_after, None,
        "a change of spec.suspend wakes it"
    );
    assert_eq!(reasons(&suspended), [events::SUSPENDED]);
    let resumed = decision(
        &minutely,
        "2026-03-01T03:00:00Z",
        Some("2026-03-01T03:01:00Z"),
        "2026-03-01T03:10:00Z",
    );
    assert_eq!(resumed.run, run("2026-03-01T03:10:00Z"));
    assert_eq!(reasons(&resumed), [events::MISSED_SCHEDULES]);
}

#[test]
fn an_invalid_spec_schedules_nothing_and_names_the_fields() {
    let errors = ValidationErrors(vec![FieldError::new(
        "spec.schedule",
        "\"0 3 * *\" is not a cron schedule",
    )]);
    let d = decide(&Observation {
        name: "nightly",
        schedule: Err(&errors),
        suspend: false,
        created: Some(at("2026-03-01T03:00:00Z")),
        last_schedule_time: None,
        now: at("2026-03-02T03:00:00Z"),
    });
    assert_eq!(d.run, None);
    assert_eq!(d.requeue_after, None);
    assert_eq!(reasons(&d), [events::INVALID_SPEC]);
    assert!(d.notes[0].warning);
    assert!(
        d.notes[0].message.contains("spec.schedule: "),
        "{}",
        d.notes[0].message
    );
}

#[test]
fn a_rayjob_name_over_the_limit_is_reported_not_created() {
    // 39 characters (validation allows 38): the RayJob name would have 48.
    let name = "a".repeat(39);
    let minutely = schedule("* * * * *", None);
    let d = decide(&Observation {
        name: &name,
        schedule: Ok(&minutely),
        suspend: false,
        created: Some(at("2026-03-01T03:00:00Z")),
        last_schedule_time: None,
        now: at("2026-03-01T03:01:00Z"),
    });
    assert_eq!(d.run, None);
    assert_eq!(reasons(&d), [events::INVALID_SPEC]);
    assert!(
        d.notes[0].message.contains("at most 38 characters"),
        "{}",
        d.notes[0].message
    );
}

#[test]
fn names_are_deterministic_per_schedule_time() {
    let every_five = schedule("*/5 * * * *", None);
    let names: Vec<String> = ["2026-03-01T03:05:00Z", "2026-03-01T03:05:59Z"]
        .iter()
        .filter_map(|now| {
            decision(&every_five, "2026-03-01T03:00:00Z", None, now)
                .run
                .map(|r| r.job_name)
        })
        .collect();
    assert_eq!(names, ["nightly-29538905", "nightly-29538905"]);
}
