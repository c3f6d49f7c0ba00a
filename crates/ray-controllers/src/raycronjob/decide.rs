//! The RayCronJob decision: a pure function from what was observed (the spec's validity, its schedule, the last
//! schedule time, the creation time and the clock) to the RayJob to create, the status to write, the Events to
//! publish and when to look again.
//!
//! The policy, as Kubernetes CronJobs have it (without `startingDeadlineSeconds` and with `concurrencyPolicy:
//! Allow`):
//!
//! - The schedule times considered are those after `status.lastScheduleTime` (after `metadata.creationTimestamp`
//!   while it is unset) up to now.
//! - When several have passed (the operator was down, or the RayCronJob was suspended), only the most recent one
//!   gets a RayJob; the others are reported in a `MissedSchedules` Event, and when there were more than
//!   [`MISSED_LIMIT`], in a `TooManyMissedTimes` Warning.
//! - The RayJob is named after its schedule time ([`scheduled_job_name`]), so creating it again (after a restart,
//!   or when the status write of the pass that created it failed) is an `AlreadyExists`, never a second RayJob.
//! - `status.lastScheduleTime` becomes that schedule time once the RayJob exists.
//! - The controller looks again exactly at the next schedule time; nothing polls in between.
//! - While `spec.suspend` is true nothing is created and the status stays; RayJobs created before are untouched.

use std::time::Duration;

use k8s_openapi::jiff::Timestamp;
use ray_api_v1::ValidationErrors;
use ray_api_v1::raycronjob::schedule::CronSchedule;
use ray_api_v1::raycronjob::scheduled_job_name;
use ray_api_v1::validation::MAX_JOB_NAME_LENGTH;
use ray_api_v1::validation::cron_job::job_name_too_long;

use super::events;

/// How many missed schedule times are tolerated without a Warning (Kubernetes CronJob's number).
pub const MISSED_LIMIT: usize = 100;

/// Everything the decision depends on.
#[derive(Debug)]
pub struct Observation<'a> {
    /// The RayCronJob's name.
    pub name: &'a str,
    /// The schedule in its time zone, or every problem of the spec.
    pub schedule: Result<&'a CronSchedule, &'a ValidationErrors>,
    /// `spec.suspend`.
    pub suspend: bool,
    /// `metadata.creationTimestamp`.
    pub created: Option<Timestamp>,
    /// `status.lastScheduleTime`.
    pub last_schedule_time: Option<Timestamp>,
    /// The clock's time.
    pub now: Timestamp,
}

/// A RayJob to create.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Run {
    /// The schedule time it is for.
    pub at: Timestamp,
    /// Its name, `<RayCronJob>-<minutes since 1970 of at>`.
    pub job_name: String,
}

/// An Event to publish.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Note {
    /// A Warning (else Normal).
    pub warning: bool,
    /// The reason, one of [`events`].
    pub reason: &'static str,
    /// What happened and, for a Warning, what to do.
    pub message: String,
}

/// What to do about one RayCronJob now.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Decision {
    /// The RayJob to create (then `status.lastScheduleTime` becomes its time).
    pub run: Option<Run>,
    /// Events to publish, whatever happens to the run.
    pub notes: Vec<Note>,
    /// When to look again (`None`: only when the RayCronJob changes).
    pub requeue_after: Option<Duration>,
}

/// Which schedule times are due at `now` for a schedule last run at (or created at) `earliest`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Due {
    /// None yet; the first is `next`.
    NotYet {
        /// The next schedule time.
        next: Timestamp,
    },
    /// `at` is the most recent schedule time at or before now; `count` schedule times are due in all (`at`
    /// included), counted up to [`MISSED_LIMIT`] + 1; `first` is the earliest of them.
    Now {
        /// The schedule time to run.
        at: Timestamp,
        /// How many schedule times are due, `at` included (at most [`MISSED_LIMIT`] + 1: "more than the limit").
        count: usize,
        /// The earliest due schedule time.
        first: Timestamp,
    },
    /// The schedule fires no more.
    Never,
}

/// The schedule times due at `now` after `earliest`.
pub fn due(schedule: &CronSchedule, earliest: Timestamp, now: Timestamp) -> Due {
    let Some(first) = schedule.next_after(earliest) else {
        return Due::Never;
    };
    if first > now {
        return Due::NotYet { next: first };
    }
    let mut at = first;
    let mut count = 1;
    while count <= MISSED_LIMIT {
        match schedule.next_after(at) {
            Some(next) if next <= now => {
                at = next;
                count += 1;
            }
            _ => return Due::Now { at, count, first },
        }
    }
    // More than the limit: find the most recent one directly instead of stepping through all of them.
    let latest = schedule
        .latest_at_or_before(now)
        .filter(|latest| *latest > at)
        .unwrap_or(at);
    Due::Now {
        at: latest,
        count,
        first,
    }
}

/// Decides what to do about one RayCronJob.
pub fn decide(observation: &Observation<'_>) -> Decision {
    let schedule = match observation.schedule {
        Ok(schedule) => schedule,
        Err(errors) => {
            return Decision {
                notes: vec![invalid(format!(
                    "no RayJob is created until the spec is fixed: {}",
                    errors
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join("; ")
                ))],
                ..Decision::default()
            };
        }
    };
    if observation.suspend {
        return Decision {
            notes: vec![Note {
                warning: false,
                reason: events::SUSPENDED,
                message: "spec.suspend is true: no RayJob is created until it is false again; RayJobs created \
                          before are left alone"
                    .to_owned(),
            }],
            ..Decision::default()
        };
    }
    let now = observation.now;
    let earliest = observation
        .last_schedule_time
        .or(observation.created)
        .unwrap_or(now);
    let (at, count, first) = match due(schedule, earliest, now) {
        Due::Never => {
            return Decision {
                notes: vec![invalid(format!(
                    "the schedule fires no more after {earliest}: change spec.schedule"
                ))],
                ..Decision::default()
            };
        }
        Due::NotYet { next } => {
            return Decision {
                requeue_after: Some(until(now, next)),
                ..Decision::default()
            };
        }
        Due::Now { at, count, first } => (at, count, first),
    };
    let job_name = scheduled_job_name(observation.name, at);
    if job_name.chars().count() > MAX_JOB_NAME_LENGTH {
        return Decision {
            notes: vec![invalid(
                job_name_too_long(observation.name, &job_name).to_string(),
            )],
            ..Decision::default()
        };
    }
    let mut notes = Vec::new();
    if count > MISSED_LIMIT {
        notes.push(Note {
            warning: true,
            reason: events::TOO_MANY_MISSED_TIMES,
            message: format!(
                "more than {MISSED_LIMIT} schedule times were missed since {first}: only the most recent, {at}, \
                 runs. Check that the operator is running and that its clock is right"
            ),
        });
    } else if count > 1 {
        notes.push(Note {
            warning: false,
            reason: events::MISSED_SCHEDULES,
            message: format!(
                "{} earlier schedule time(s) from {first} on were missed (the operator was not running, or the \
                 RayCronJob was suspended): only the most recent, {at}, runs",
                count - 1
            ),
        });
    }
    // The next look: the schedule time after the one run now (after now, since `at` is the latest due).
    let requeue_after = schedule.next_after(at).map(|next| until(now, next));
    Decision {
        run: Some(Run { at, job_name }),
        notes,
        requeue_after,
    }
}

/// A Warning that the RayCronJob cannot be scheduled.
fn invalid(message: String) -> Note {
    Note {
        warning: true,
        reason: events::INVALID_SPEC,
        message,
    }
}

/// The time from `now` to `then` (zero when it has passed).
fn until(now: Timestamp, then: Timestamp) -> Duration {
    Duration::try_from(then.duration_since(now)).unwrap_or(Duration::ZERO)
}
