//! Carries out a RayJob's decision against the API server and the Ray dashboard: the finalizer, the status-check
//! failure window, each [`Action`], and the status with its transition Event. Every write carries the operator's
//! field manager; every outcome the user should see becomes an Event.

use crate::context::{merge_params, post_params};
use crate::error::ApiError;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ObjectReference, Service};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::api::{DeleteParams, Patch, PatchParams};
use kube::{Api, Resource, ResourceExt};
use operator_runtime::{Notice, api_message, finalizer};
use ray_api_v1::raycluster::RayCluster;
use ray_api_v1::rayjob::{JobDeploymentStatus, RayJob, RayJobStatus};
use ray_builders::submitter::SubmitterInputs;
use tracing::{debug, info, warn};

use super::decide::{self, Action};
use super::observe::ClusterAccess;
use super::{Context, Error, FINALIZER, STATUS_CHECK_FAILING_SINCE_ANNOTATION, dashboard, events};
use crate::context::FIELD_MANAGER;
use crate::dashboard_auth::DashboardAuth;

/// Applies one decision to one RayJob.
pub struct Applier<'a> {
    ctx: &'a Context,
    job: &'a RayJob,
    /// The RayJob, as the subject of its Events.
    reference: ObjectReference,
    namespace: String,
    name: String,
}

/// The Event reasons of creating one kind of child.
struct Reasons {
    created: &'static str,
    failed: &'static str,
}

const CLUSTER_REASONS: Reasons = Reasons {
    created: events::CREATED_RAY_CLUSTER,
    failed: events::FAILED_TO_CREATE_RAY_CLUSTER,
};

const SUBMITTER_REASONS: Reasons = Reasons {
    created: events::CREATED_SUBMITTER,
    failed: events::FAILED_TO_CREATE_SUBMITTER,
};

const SERVICE_REASONS: Reasons = Reasons {
    created: events::CREATED_SERVICE,
    failed: events::FAILED_TO_CREATE_SERVICE,
};

/// What the API server's answer to a create means.
#[derive(Debug)]
enum Creation {
    /// The object was created.
    Created,
    /// It existed already: made by an earlier pass or an earlier operator process.
    AlreadyExists,
    /// A real failure.
    Failed(kube::Error),
}

fn creation<K>(result: Result<K, kube::Error>) -> Creation {
    match result {
        Ok(_) => Creation::Created,
        Err(kube::Error::Api(status)) if status.is_already_exists() => Creation::AlreadyExists,
        Err(error) => Creation::Failed(error),
    }
}

/// A delete of something already gone counts as done.
fn ignore_not_found<K>(result: Result<K, kube::Error>) -> Result<(), kube::Error> {
    match result {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.is_not_found() => Ok(()),
        Err(error) => Err(error),
    }
}

impl<'a> Applier<'a> {
    /// An applier for `job`.
    pub fn new(ctx: &'a Context, job: &'a RayJob) -> Self {
        Applier {
            ctx,
            job,
            reference: job.object_ref(&()),
            namespace: job.namespace().unwrap_or_default(),
            name: job.name_any(),
        }
    }

    fn jobs(&self) -> Api<RayJob> {
        Api::namespaced(self.ctx.client.clone(), &self.namespace)
    }

    fn what(&self) -> String {
        format!("RayJob {}/{}", self.namespace, self.name)
    }

    async fn publish(&self, notice: Notice) {
        self.ctx.events.publish(&self.reference, notice).await;
    }

    /// Adds the finalizer unless the RayJob has it. Returns whether it wrote (the update brings the next pass).
    pub async fn add_finalizer(&self) -> Result<bool, Error> {
        Ok(
            finalizer::add(&self.jobs(), self.job, FINALIZER, FIELD_MANAGER)
                .await
                .map_err(ApiError::of("adding the finalizer to", self.what()))?,
        )
    }

    /// The cleanup of a deleted RayJob: stop its Ray job if it may still run (best effort, once), then remove the
    /// finalizer whatever happened, so a RayJob is never stranded. Nothing when the finalizer is already gone.
    pub async fn finalize(&self) -> Result<(), Error> {
        if !finalizer::has(self.job, FINALIZER) {
            return Ok(());
        }
        let status = self.job.status.clone().unwrap_or_default();
        if let Some(action) = decide::on_deletion(&status) {
            // The cluster's token, if it still exists and uses one.
            let cluster = match status.ray_cluster_name.as_deref() {
                Some(name) => {
                    let clusters: Api<RayCluster> =
                        Api::namespaced(self.ctx.client.clone(), &self.namespace);
                    clusters.get_opt(name).await.ok().flatten()
                }
                None => None,
            };
            let dashboard = match &cluster {
                Some(cluster) => {
                    crate::dashboard_auth::for_cluster(&self.ctx.client, cluster).await
                }
                None => DashboardAuth::Off,
            };
            let access = ClusterAccess {
                head_image: None,
                submitter_auth: None,
                dashboard: &dashboard,
            };
            self.execute(&action, &status, &access).await?;
        }
        finalizer::remove(&self.jobs(), self.job, FINALIZER, FIELD_MANAGER)
            .await
            .map_err(ApiError::of("removing the finalizer of", self.what()))?;
        Ok(())
    }

    /// Records since when the Ray job's status checks have been failing (`decided`) in the RayJob's annotation
    /// when it differs from what was `recorded`, or drops an unreadable annotation.
    pub async fn record_failure_window(
        &self,
        recorded: Option<Timestamp>,
        decided: Option<Timestamp>,
    ) -> Result<(), Error> {
        let unreadable = recorded.is_none()
            && self
                .job
                .annotations()
                .contains_key(STATUS_CHECK_FAILING_SINCE_ANNOTATION);
        if decided == recorded && !unreadable {
            return Ok(());
        }
        let value = decided.map(|since| since.to_string());
        let patch = serde_json::json!({"metadata": {"annotations": {
            STATUS_CHECK_FAILING_SINCE_ANNOTATION: value}}});
        self.jobs()
            .patch(&self.name, &merge_params(), &Patch::Merge(&patch))
            .await
            .map_err(ApiError::of(
                "recording the status check failures of",
                self.what(),
            ))?;
        Ok(())
    }

    /// Executes `action`. `status` is the decided status (the job id and dashboard address a submitter needs);
    /// `cluster` what the submitter and the dashboard client need to know about the cluster.
    pub async fn execute(
        &self,
        action: &Action,
        status: &RayJobStatus,
        cluster: &ClusterAccess<'_>,
    ) -> Result<(), Error> {
        match action {
            Action::CreateCluster { name } => {
                self.create_cluster(name, status.job_id.as_deref().unwrap_or_default())
                    .await
            }
            Action::DeleteCluster { name, reason } => self.delete_cluster(name, reason).await,
            Action::SubmitOverHttp {
                dashboard_url,
                job_id,
            } => {
                self.submit_over_http(dashboard_url, job_id, cluster.dashboard)
                    .await
            }
            Action::CreateSubmitter => self.create_submitter(status, cluster).await,
            Action::DeleteSubmitter => self.delete_submitter().await,
            Action::StopRayJob {
                dashboard_url,
                job_id,
            } => {
                self.stop_ray_job(dashboard_url, job_id, cluster.dashboard)
                    .await;
                Ok(())
            }
            Action::EnsureJobHeadService => self.ensure_job_head_service(status).await,
            Action::DeleteWorkers { name, reason } => self.delete_workers(name, reason).await,
            Action::DeleteSelf { reason } => self.delete_self(reason).await,
        }
    }

    /// Points `<rayjob>-head-svc` at the head of the attempt's cluster: created when missing, its selector
    /// replaced when it still points at an earlier attempt's cluster, left alone otherwise (no write).
    async fn ensure_job_head_service(&self, status: &RayJobStatus) -> Result<(), Error> {
        let Some(cluster_name) = status.ray_cluster_name.as_deref() else {
            return Ok(());
        };
        let clusters: Api<RayCluster> = Api::namespaced(self.ctx.client.clone(), &self.namespace);
        let Some(cluster) = clusters.get_opt(cluster_name).await.map_err(ApiError::of(
            "reading",
            format!("RayCluster {}/{cluster_name}", self.namespace),
        ))?
        else {
            return Ok(());
        };
        let Some(desired) = ray_builders::job_cluster::job_head_service(
            self.job,
            &cluster,
            &self.ctx.settings.controller.render,
        )?
        else {
            return Ok(());
        };
        let name = desired.metadata.name.clone().unwrap_or_default();
        let what = format!("Service {}/{name}", self.namespace);
        let services: Api<Service> = Api::namespaced(self.ctx.client.clone(), &self.namespace);
        let existing = services
            .get_opt(&name)
            .await
            .map_err(ApiError::of("reading", what.clone()))?;
        match existing {
            None => {
                let created = services.create(&post_params(), &desired).await;
                self.report_creation(created, &SERVICE_REASONS, what).await
            }
            Some(current) => {
                let selector = |s: &Service| s.spec.as_ref().and_then(|spec| spec.selector.clone());
                if selector(&current) == selector(&desired) {
                    return Ok(());
                }
                let patch = serde_json::json!({"spec": {
                    "selector": selector(&desired),
                    "ports": desired.spec.as_ref().and_then(|s| s.ports.clone()),
                }});
                services
                    .patch(&name, &merge_params(), &Patch::Merge(&patch))
                    .await
                    .map_err(ApiError::of("repointing", what.clone()))?;
                self.publish(Notice::normal(
                    events::UPDATED_SERVICE,
                    events::ACTION,
                    format!("Pointed {what} at RayCluster {cluster_name}"),
                ))
                .await;
                Ok(())
            }
        }
    }

    /// `DeleteWorkers`: suspends every worker group of the cluster, so the RayCluster controller deletes the
    /// workers and keeps the head (logs and dashboard stay reachable).
    async fn delete_workers(&self, name: &str, reason: &str) -> Result<(), Error> {
        let clusters: Api<RayCluster> = Api::namespaced(self.ctx.client.clone(), &self.namespace);
        let what = format!("RayCluster {}/{name}", self.namespace);
        let Some(cluster) = clusters
            .get_opt(name)
            .await
            .map_err(ApiError::of("reading", what.clone()))?
        else {
            return Ok(());
        };
        let groups: Vec<_> = cluster
            .spec
            .worker_group_specs
            .iter()
            .cloned()
            .map(|mut group| {
                group.suspend = Some(true);
                group
            })
            .collect();
        // A merge patch replaces the list whole; the resourceVersion guards against a concurrent change.
        let patch = serde_json::json!({
            "metadata": {"resourceVersion": cluster.metadata.resource_version},
            "spec": {"workerGroupSpecs": groups},
        });
        clusters
            .patch(name, &merge_params(), &Patch::Merge(&patch))
            .await
            .map_err(ApiError::of(
                "suspending the worker groups of",
                what.clone(),
            ))?;
        self.publish(Notice::normal(
            events::DELETED_WORKERS,
            events::ACTION,
            format!("Deleted the workers of {what}: {reason}"),
        ))
        .await;
        Ok(())
    }

    /// `DeleteSelf`: deletes the RayJob; the garbage collector removes its cluster, submitter and Service.
    async fn delete_self(&self, reason: &str) -> Result<(), Error> {
        self.publish(Notice::normal(
            events::DELETING_RAYJOB,
            events::ACTION,
            format!("Deleting the RayJob: {reason}"),
        ))
        .await;
        let deleted = self
            .jobs()
            .delete(&self.name, &DeleteParams::background())
            .await;
        Ok(ignore_not_found(deleted).map_err(ApiError::of("deleting", self.what()))?)
    }

    async fn create_cluster(&self, name: &str, job_id: &str) -> Result<(), Error> {
        let Some(cluster) = ray_builders::job_cluster::ray_cluster_for_job(self.job, name, job_id)?
        else {
            return Ok(());
        };
        let clusters: Api<RayCluster> = Api::namespaced(self.ctx.client.clone(), &self.namespace);
        let created = clusters.create(&post_params(), &cluster).await;
        let what = format!("RayCluster {}/{name}", self.namespace);
        self.report_creation(created, &CLUSTER_REASONS, what).await
    }

    async fn delete_cluster(&self, name: &str, reason: &str) -> Result<(), Error> {
        let clusters: Api<RayCluster> = Api::namespaced(self.ctx.client.clone(), &self.namespace);
        let deleted = clusters.delete(name, &DeleteParams::background()).await;
        if deleted.is_ok() {
            self.publish(Notice::normal(
                events::DELETED_RAY_CLUSTER,
                events::ACTION,
                format!("Deleted RayCluster {name}: {reason}"),
            ))
            .await;
        }
        Ok(ignore_not_found(deleted).map_err(ApiError::of(
            "deleting",
            format!("RayCluster {}/{name}", self.namespace),
        ))?)
    }

    async fn submit_over_http(
        &self,
        dashboard_url: &str,
        job_id: &str,
        auth: &DashboardAuth,
    ) -> Result<(), Error> {
        let request = dashboard::submit_request(self.job, job_id)?;
        let failed = |source| Error::Dashboard {
            url: dashboard_url.to_owned(),
            source,
        };
        dashboard::client(dashboard_url, self.ctx.settings.dashboard.timeout, auth)
            .map_err(failed)?
            .submit_job(&request)
            .await
            .map_err(failed)?;
        info!(%job_id, "submitted the Ray job");
        Ok(())
    }

    async fn create_submitter(
        &self,
        status: &RayJobStatus,
        cluster: &ClusterAccess<'_>,
    ) -> Result<(), Error> {
        let inputs = SubmitterInputs {
            job_id: status.job_id.as_deref().unwrap_or_default(),
            dashboard_address: status.dashboard_url.as_deref().unwrap_or_default(),
            head_image: cluster.head_image,
            auth: cluster.submitter_auth.as_ref(),
        };
        let submitter = ray_builders::submitter::submitter_job(self.job, &inputs)?;
        let submitters: Api<Job> = Api::namespaced(self.ctx.client.clone(), &self.namespace);
        let created = submitters.create(&post_params(), &submitter).await;
        let what = format!("submitter Job {}/{}", self.namespace, self.name);
        self.report_creation(created, &SUBMITTER_REASONS, what)
            .await
    }

    async fn delete_submitter(&self) -> Result<(), Error> {
        let submitters: Api<Job> = Api::namespaced(self.ctx.client.clone(), &self.namespace);
        let deleted = submitters
            .delete(&self.name, &DeleteParams::background())
            .await;
        Ok(ignore_not_found(deleted).map_err(ApiError::of(
            "deleting",
            format!("Job {}/{}", self.namespace, self.name),
        ))?)
    }

    /// Asks Ray to stop the job; best effort, bounded by the dashboard timeout, never an error.
    async fn stop_ray_job(&self, address: &str, job_id: &str, auth: &DashboardAuth) {
        let stopped = match dashboard::client(address, self.ctx.settings.dashboard.timeout, auth) {
            Ok(client) => client.stop_job(job_id).await,
            Err(error) => Err(error),
        };
        match stopped {
            Ok(_) => info!(%job_id, "asked Ray to stop the job"),
            Err(error) => warn!(%job_id, %error, "could not stop the Ray job"),
        }
    }

    /// Reports the outcome of creating an object the RayJob needs: a `created` Event on success; nothing when it
    /// already exists (an earlier pass, or a restarted operator, created it: not a failure); a `failed` warning and
    /// the error otherwise.
    async fn report_creation<K>(
        &self,
        created: Result<K, kube::Error>,
        reasons: &Reasons,
        what: String,
    ) -> Result<(), Error> {
        match creation(created) {
            Creation::Created => {
                self.publish(Notice::normal(
                    reasons.created,
                    events::ACTION,
                    format!("Created {what}"),
                ))
                .await;
                Ok(())
            }
            Creation::AlreadyExists => {
                debug!(%what, "already exists");
                Ok(())
            }
            Creation::Failed(source) => {
                self.publish(Notice::warning(
                    reasons.failed,
                    events::ACTION,
                    format!("Could not create {what}: {}", api_message(&source)),
                ))
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

    /// Writes `status` when it differs from the RayJob's, then records a finished job's duration and publishes
    /// the transition's Event.
    pub async fn write_status(&self, status: &RayJobStatus) -> Result<(), Error> {
        let old = self.job.status.as_ref();
        if old == Some(status) {
            return Ok(());
        }
        let patch = serde_json::json!({
            "apiVersion": "ray.io/v1",
            "kind": "RayJob",
            "status": status,
        });
        self.jobs()
            .patch_status(
                &self.name,
                &PatchParams::apply(FIELD_MANAGER).force(),
                &Patch::Apply(&patch),
            )
            .await
            .map_err(ApiError::of("writing the status of", self.what()))?;
        let before = old.and_then(|s| s.job_deployment_status);
        let started = status
            .start_time
            .as_ref()
            .or_else(|| old.and_then(|s| s.start_time.as_ref()));
        let attempt_ended = |state: JobDeploymentStatus| {
            state.is_terminal() || state == JobDeploymentStatus::Retrying
        };
        if let (Some(after), Some(started)) = (status.job_deployment_status, started)
            && attempt_ended(after)
            && !before.is_some_and(attempt_ended)
        {
            // KubeRay's retry count: the failed attempts before this one.
            let retries = old.and_then(|s| s.failed).unwrap_or(0);
            self.ctx
                .settings
                .controller
                .telemetry
                .kuberay
                .record_job_finished(
                    self.job,
                    started,
                    after,
                    retries.max(0).unsigned_abs(),
                    &Time(self.ctx.settings.clock.now()),
                );
        }
        if let Some(notice) = events::transition(old, status) {
            info!(reason = %notice.reason, note = %notice.note, "RayJob transition");
            self.publish(notice).await;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api_error(code: u16, reason: &str) -> kube::Error {
        let status: kube::core::Status = serde_json::from_value(serde_json::json!({
            "status": "Failure", "code": code, "reason": reason, "message": format!("{reason} for the test"),
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        kube::Error::Api(Box::new(status))
    }

    #[test]
    fn only_real_create_failures_count_as_failures() {
        assert!(matches!(creation(Ok::<(), _>(())), Creation::Created));
        let exists = creation::<()>(Err(api_error(409, "AlreadyExists")));
        assert!(matches!(exists, Creation::AlreadyExists), "{exists:?}");
        let forbidden = creation::<()>(Err(api_error(403, "Forbidden")));
        assert!(
            matches!(&forbidden, Creation::Failed(e) if api_message(e) == "Forbidden for the test"),
            "{forbidden:?}"
        );
    }

    #[test]
    fn deleting_what_is_gone_is_done() {
        assert!(ignore_not_found(Err::<(), _>(api_error(404, "NotFound"))).is_ok());
        assert!(ignore_not_found(Err::<(), _>(api_error(409, "Conflict"))).is_err());
    }
}
