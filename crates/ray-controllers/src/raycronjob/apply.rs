//! Carries out a RayCronJob's [`Decision`](super::decide::Decision): publishes its Events, creates the RayJob of
//! the schedule time (an `AlreadyExists` counts as created: it was made by an earlier pass or process), then
//! records the schedule time in the status. Every write names the operator's field manager.

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Patch, PatchParams};
use kube::{Api, Resource, ResourceExt};
use operator_runtime::{Notice, api_message};
use ray_api_v1::raycronjob::{RayCronJob, RayCronJobStatus};
use ray_api_v1::rayjob::RayJob;
use tracing::{debug, info, warn};

use super::decide::{Note, Run};
use super::{Context, Error, events};
use crate::context::{FIELD_MANAGER, post_params};
use crate::error::ApiError;

/// Applies one decision to one RayCronJob.
pub struct Applier<'a> {
    ctx: &'a Context,
    cron_job: &'a RayCronJob,
    /// The RayCronJob, as the subject of its Events.
    reference: ObjectReference,
    namespace: String,
    name: String,
}

impl<'a> Applier<'a> {
    /// An applier for `cron_job`.
    pub fn new(ctx: &'a Context, cron_job: &'a RayCronJob) -> Self {
        Applier {
            ctx,
            cron_job,
            reference: cron_job.object_ref(&()),
            namespace: cron_job.namespace().unwrap_or_default(),
            name: cron_job.name_any(),
        }
    }

    /// Publishes the decision's Events (logged too).
    pub async fn publish(&self, notes: &[Note]) {
        for note in notes {
            let notice = if note.warning {
                warn!(reason = note.reason, note = %note.message, "RayCronJob event");
                Notice::warning(note.reason, events::ACTION, note.message.clone())
            } else {
                info!(reason = note.reason, note = %note.message, "RayCronJob event");
                Notice::normal(note.reason, events::ACTION, note.message.clone())
            };
            self.ctx.events.publish(&self.reference, notice).await;
        }
    }

    /// Creates the RayJob of `run` from `spec.jobTemplate`; one that exists already counts as created.
    pub async fn create_job(&self, run: &Run) -> Result<(), Error> {
        let job = self.cron_job.job_at(run.at);
        let jobs: Api<RayJob> = Api::namespaced(self.ctx.client.clone(), &self.namespace);
        let what = format!("RayJob {}/{}", self.namespace, run.job_name);
        match jobs.create(&post_params(), &job).await {
            Ok(_) => {
                let note = format!(
                    "Created RayJob {} for the schedule time {}",
                    run.job_name, run.at
                );
                info!(job = %run.job_name, at = %run.at, "created the RayJob of a schedule time");
                self.ctx
                    .events
                    .publish(
                        &self.reference,
                        Notice::normal(events::CREATED_RAY_JOB, events::ACTION, note),
                    )
                    .await;
                Ok(())
            }
            Err(kube::Error::Api(status)) if status.is_already_exists() => {
                debug!(%what, "already exists: created by an earlier pass");
                Ok(())
            }
            Err(source) => {
                let note = format!(
                    "Could not create {what} for the schedule time {}: {}",
                    run.at,
                    api_message(&source)
                );
                self.ctx
                    .events
                    .publish(
                        &self.reference,
                        Notice::warning(events::FAILED_TO_CREATE_RAY_JOB, events::ACTION, note),
                    )
                    .await;
                Err(ApiError {
                    action: "creating",
                    what,
                    source,
                }
                .into())
            }
        }
    }

    /// Writes `status.lastScheduleTime = at` unless it says so already.
    pub async fn record_schedule_time(&self, at: Timestamp) -> Result<(), Error> {
        let status = RayCronJobStatus {
            last_schedule_time: Some(Time(at)),
        };
        if self.cron_job.status.as_ref() == Some(&status) {
            return Ok(());
        }
        let patch = serde_json::json!({
            "apiVersion": "ray.io/v1",
            "kind": "RayCronJob",
            "status": status,
        });
        let cron_jobs: Api<RayCronJob> = Api::namespaced(self.ctx.client.clone(), &self.namespace);
        cron_jobs
            .patch_status(
                &self.name,
                &PatchParams::apply(FIELD_MANAGER).force(),
                &Patch::Apply(&patch),
            )
            .await
            .map_err(ApiError::of(
                "writing the status of",
                format!("RayCronJob {}/{}", self.namespace, self.name),
            ))?;
        Ok(())
    }
}
