//! The rules of a RayCronJob: its name (short enough for the names of the RayJobs it creates), its schedule and
//! time zone, and its `jobTemplate` (a RayJob spec, with a RayJob spec's rules).

use super::crd_rules::CelRule;
use super::names::{self, NameRule};
use super::{FieldError, ValidationErrors, validate_job_spec, workloads};
use crate::raycronjob::RayCronJob;
use crate::raycronjob::schedule::{self, CronSchedule};

/// The longest RayCronJob name: each RayJob it creates is named `<name>-<minutes since 1970>` (9 more characters
/// until the year 2160) and must fit the RayJob limit of 47.
pub const MAX_CRON_JOB_NAME_LENGTH: usize = 38;

const NAME_RULE: NameRule = NameRule {
    kind: "RayCronJob",
    max_length: MAX_CRON_JOB_NAME_LENGTH,
    reason: "each RayJob it creates is named `<name>-<scheduled time in minutes since 1970>` (9 more characters) and \
             must fit in 47 characters",
};

/// Rules on the RayCronJob object itself (its name), in the CRD.
pub const RAY_CRON_JOB: &[CelRule] = &[
    CelRule {
        rule: "size(self.metadata.name) <= 38",
        message: "metadata.name: RayCronJob names must be at most 38 characters: each RayJob it creates is named \
                  `<name>-<scheduled time in minutes since 1970>` (9 more characters) and must fit in 47 characters",
        field_path: None,
    },
    CelRule {
        rule: "self.metadata.name.matches('^[a-z]([-a-z0-9]*[a-z0-9])?$')",
        message: "metadata.name: a RayCronJob name must be a DNS-1035 label: lowercase letters, digits and '-', \
                  starting with a letter and ending with a letter or digit",
        field_path: None,
    },
];

/// garde rule of `spec.schedule`: a five-field cron expression or a macro that fires at least once.
pub(crate) fn schedule_field(value: &str, _: &()) -> garde::Result {
    CronSchedule::parse(value, None)
        .map(drop)
        .map_err(|error| garde::Error::new(error.to_string()))
}

/// garde rule of `spec.timeZone`: an IANA time zone name.
pub(crate) fn time_zone_field(value: &Option<String>, _: &()) -> garde::Result {
    match value {
        None => Ok(()),
        Some(name) => schedule::time_zone(Some(name))
            .map(drop)
            .map_err(|error| garde::Error::new(error.to_string())),
    }
}

/// Validates a RayCronJob: its name (at most 38 characters, a DNS-1035 label), its schedule and time zone, and
/// `spec.jobTemplate` with the rules of a RayJob's spec (reported under `spec.jobTemplate`).
pub fn validate_cron_job(cron_job: &RayCronJob) -> Result<(), ValidationErrors> {
    let mut errors = ValidationErrors(Vec::new());
    names::check_object_name(&cron_job.metadata, NAME_RULE, &mut errors);
    workloads::check_object_metadata(&cron_job.metadata, &mut errors.0);
    if let Err(report) = garde::Validate::validate(&cron_job.spec) {
        errors.extend_report("spec", report);
    }
    let template = &cron_job.spec.job_template;
    errors.extend(validate_job_spec(template, "spec.jobTemplate"));
    if let Some(job_id) = template.job_id.as_deref().filter(|id| !id.is_empty())
        && !template.cluster_selector.is_empty()
    {
        errors.0.push(FieldError::new(
            "spec.jobTemplate.jobId",
            format!(
                "every RayJob of this RayCronJob would submit the Ray job id \"{job_id}\" to the same selected \
                 cluster, and Ray refuses an id it has seen: remove jobId, so that each RayJob generates its own"
            ),
        ));
    }
    errors.into_result()
}

/// A field error for a RayCronJob whose RayJob for some schedule time would get a name longer than a RayJob may
/// have (which [`MAX_CRON_JOB_NAME_LENGTH`] prevents until the year 2160).
pub fn job_name_too_long(cron_job: &str, job_name: &str) -> FieldError {
    FieldError::new(
        "metadata.name",
        format!(
            "the RayJob for this schedule time would be named \"{job_name}\" ({} characters), longer than the 47 \
             a RayJob name may have: recreate the RayCronJob \"{cron_job}\" under a name of at most {} characters",
            job_name.chars().count(),
            47usize.saturating_sub(job_name.chars().count() - cron_job.chars().count()),
        ),
    )
}
