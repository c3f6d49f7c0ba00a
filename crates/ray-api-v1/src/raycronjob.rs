//! RayCronJob: create a RayJob from a template on a cron schedule.
//!
//! Each schedule time creates one RayJob, named after the RayCronJob and the scheduled minute
//! ([`scheduled_job_name`]), so that whoever creates it again for the same time (a restarted operator, a second
//! reconcile) gets `AlreadyExists` instead of a duplicate. [`RayCronJob::job_at`] builds that RayJob; the operator
//! and `ray-operator render` both use it. [`schedule`] reads `spec.schedule` and `spec.timeZone`.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference, Time};
use k8s_openapi::jiff::Timestamp;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::common::is_false;
use crate::rayjob::{RayJob, RayJobSpec};

pub mod schedule;

/// The label on every RayJob a RayCronJob created: the RayCronJob's name (KubeRay's key).
pub const CRON_JOB_NAME_LABEL: &str = "ray.io/cronjob-name";

/// The annotation on every RayJob a RayCronJob created: the schedule time it was created for, RFC 3339 in UTC
/// (KubeRay's key).
pub const SCHEDULED_TIMESTAMP_ANNOTATION: &str = "ray.io/cronjob-scheduled-timestamp";

/// RayCronJobSpec says which RayJob to create, and when.
#[derive(
    CustomResource,
    Serialize,
    Deserialize,
    Clone,
    Debug,
    Default,
    PartialEq,
    JsonSchema,
    garde::Validate,
)]
#[kube(
    group = "ray.io",
    version = "v1",
    kind = "RayCronJob",
    validation = crate::validation::cron_job::RAY_CRON_JOB[0].to_kube(),
    validation = crate::validation::cron_job::RAY_CRON_JOB[1].to_kube(),
    plural = "raycronjobs",
    singular = "raycronjob",
    namespaced,
    status = "RayCronJobStatus",
    category = "all",
    printcolumn = r#"{"name":"schedule","type":"string","jsonPath":".spec.schedule","priority":0}"#,
    printcolumn = r#"{"name":"last schedule","type":"string","jsonPath":".status.lastScheduleTime","priority":0}"#,
    printcolumn = r#"{"name":"age","type":"date","jsonPath":".metadata.creationTimestamp","priority":0}"#,
    printcolumn = r#"{"name":"suspend","type":"boolean","jsonPath":".spec.suspend","priority":0}"#
)]
#[serde(rename_all = "camelCase")]
pub struct RayCronJobSpec {
    /// The spec of the RayJob created at each schedule time; the same rules apply as to a RayJob's `spec`.
    /// Changing it affects only the RayJobs created afterwards.
    #[garde(skip)]
    pub job_template: RayJobSpec,
    /// When to create a RayJob: a standard cron expression of five fields (minute, hour, day of month, month,
    /// day of week), for example `0 3 * * *` for 03:00 every day, or one of `@yearly`, `@annually`, `@monthly`,
    /// `@weekly`, `@daily`, `@midnight` and `@hourly`. Read in `timeZone`.
    #[schemars(extend("maxLength" = 1024))]
    #[garde(custom(crate::validation::cron_job::schedule_field))]
    pub schedule: String,
    /// The IANA time zone the schedule is read in, for example `Europe/Berlin`. Unset: UTC. The time zone
    /// database built into the operator is used, so the operator image needs none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("minLength" = 1))]
    #[garde(custom(crate::validation::cron_job::time_zone_field))]
    pub time_zone: Option<String>,
    /// Stop creating RayJobs while true. RayJobs created before are left alone. When it is set back to false,
    /// the most recent schedule time missed meanwhile runs at once.
    #[serde(default, skip_serializing_if = "is_false")]
    #[garde(skip)]
    pub suspend: bool,
}

/// RayCronJobStatus is what the operator recorded of the schedule (the `status` of a RayCronJob).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RayCronJobStatus {
    /// The schedule time of the most recent RayJob created. The next RayJob is created at the first schedule time
    /// after it (after the RayCronJob's creation while unset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_schedule_time: Option<Time>,
}

/// The name of the RayJob a RayCronJob named `cron_job` creates for schedule time `at`: `<cron_job>-<minutes since
/// 1970-01-01T00:00:00Z>`, as Kubernetes names a CronJob's Jobs. One name per scheduled minute, whoever creates it.
pub fn scheduled_job_name(cron_job: &str, at: Timestamp) -> String {
    format!("{cron_job}-{}", at.as_second().div_euclid(60))
}

impl RayCronJob {
    /// The RayJob this RayCronJob creates for schedule time `at`: named by [`scheduled_job_name`], in the same
    /// namespace, labelled [`CRON_JOB_NAME_LABEL`], annotated [`SCHEDULED_TIMESTAMP_ANNOTATION`], with the spec of
    /// `spec.jobTemplate`, and owned by the RayCronJob (a controller owner reference, once it has a UID), so the
    /// garbage collector deletes it with the RayCronJob.
    pub fn job_at(&self, at: Timestamp) -> RayJob {
        let name = self.metadata.name.clone().unwrap_or_default();
        let owner = self
            .metadata
            .uid
            .as_deref()
            .filter(|uid| !uid.is_empty())
            .map(|uid| OwnerReference {
                api_version: crate::API_VERSION.to_owned(),
                kind: "RayCronJob".to_owned(),
                name: name.clone(),
                uid: uid.to_owned(),
                controller: Some(true),
                block_owner_deletion: Some(true),
            });
        let mut job = RayJob::new(
            &scheduled_job_name(&name, at),
            self.spec.job_template.clone(),
        );
        job.metadata = ObjectMeta {
            name: job.metadata.name.take(),
            namespace: self.metadata.namespace.clone(),
            labels: Some(BTreeMap::from([(
                CRON_JOB_NAME_LABEL.to_owned(),
                name.clone(),
            )])),
            annotations: Some(BTreeMap::from([(
                SCHEDULED_TIMESTAMP_ANNOTATION.to_owned(),
                at.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
            )])),
            owner_references: owner.map(|owner| vec![owner]),
            ..ObjectMeta::default()
        };
        job
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn job_names_count_minutes_since_1970() {
        assert_eq!(
            scheduled_job_name("nightly", at("1970-01-01T00:01:00Z")),
            "nightly-1"
        );
        // Seconds within the minute do not change the name.
        assert_eq!(
            scheduled_job_name("nightly", at("2026-03-01T03:00:59Z")),
            scheduled_job_name("nightly", at("2026-03-01T03:00:00Z"))
        );
        assert_eq!(
            scheduled_job_name("nightly", at("2026-03-01T03:00:00Z")),
            format!("nightly-{}", 1_772_334_000 / 60)
        );
    }

    #[test]
    fn the_job_carries_the_template_label_annotation_and_owner() {
        let mut cron: RayCronJob = serde_json::from_value(serde_json::json!({
            "apiVersion": "ray.io/v1", "kind": "RayCronJob",
            "metadata": {"name": "nightly", "namespace": "team", "uid": "u-1"},
            "spec": {"schedule": "0 3 * * *", "jobTemplate": {"entrypoint": "python job.py"}}
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        let job = cron.job_at(at("2026-03-01T03:00:00Z"));
        assert_eq!(job.metadata.name.as_deref(), Some("nightly-29538900"));
        assert_eq!(job.metadata.namespace.as_deref(), Some("team"));
        assert_eq!(
            job.metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(CRON_JOB_NAME_LABEL)),
            Some(&"nightly".to_owned())
        );
        assert_eq!(
            job.metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(SCHEDULED_TIMESTAMP_ANNOTATION)),
            Some(&"2026-03-01T03:00:00Z".to_owned())
        );
        let owner = &job.metadata.owner_references.as_ref().expect("an owner")[0];
        assert_eq!(
            (owner.kind.as_str(), owner.uid.as_str()),
            ("RayCronJob", "u-1")
        );
        assert_eq!(owner.controller, Some(true));
        assert_eq!(job.spec.entrypoint.as_deref(), Some("python job.py"));
        // Without a UID (not created yet, as `render` sees it) there is no owner reference.
        cron.metadata.uid = None;
        assert!(
            cron.job_at(at("2026-03-01T03:00:00Z"))
                .metadata
                .owner_references
                .is_none()
        );
    }
}
