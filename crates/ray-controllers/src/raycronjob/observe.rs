//! What the RayCronJob controller reads before it decides: the RayCronJob itself (its spec, checked with the rules
//! the webhook runs, and its status) and the clock. Nothing else: the RayJobs it created need not be read, since
//! each schedule time has one name and creating it again is harmless.

use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;
use ray_api_v1::raycronjob::RayCronJob;
use ray_api_v1::raycronjob::schedule::CronSchedule;
use ray_api_v1::{FieldError, ValidationErrors, validate_cron_job};

use super::Context;
use super::decide::Observation;

/// Everything observed about one RayCronJob this pass; lends itself to the decision as an [`Observation`].
#[derive(Debug)]
pub struct Facts {
    name: String,
    schedule: Result<CronSchedule, ValidationErrors>,
    /// The clock's time this pass.
    pub now: Timestamp,
}

/// Reads the facts about `cron_job`.
pub fn observe(cron_job: &RayCronJob, ctx: &Context) -> Facts {
    Facts {
        name: cron_job.name_any(),
        schedule: schedule_of(cron_job),
        now: ctx.settings.clock.now(),
    }
}

/// The RayCronJob's schedule, or every problem of its spec (an object the webhook would have refused: created
/// while the webhook was not installed, or valid under an older operator).
pub fn schedule_of(cron_job: &RayCronJob) -> Result<CronSchedule, ValidationErrors> {
    validate_cron_job(cron_job)?;
    CronSchedule::parse(&cron_job.spec.schedule, cron_job.spec.time_zone.as_deref()).map_err(
        |error| {
            let path = match error {
                ray_api_v1::raycronjob::schedule::ScheduleError::TimeZone(_) => "spec.timeZone",
                ray_api_v1::raycronjob::schedule::ScheduleError::Schedule(_) => "spec.schedule",
            };
            ValidationErrors(vec![FieldError::new(path, error.to_string())])
        },
    )
}

impl Facts {
    /// The decision's view of these facts and of `cron_job`.
    pub fn observation<'a>(&'a self, cron_job: &RayCronJob) -> Observation<'a> {
        Observation {
            name: &self.name,
            schedule: self.schedule.as_ref(),
            suspend: cron_job.spec.suspend,
            created: cron_job.metadata.creation_timestamp.as_ref().map(|t| t.0),
            last_schedule_time: cron_job
                .status
                .as_ref()
                .and_then(|s| s.last_schedule_time.as_ref())
                .map(|t| t.0),
            now: self.now,
        }
    }
}
