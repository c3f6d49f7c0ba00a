//! Everything a RayJob reconcile reads before it decides: the RayJob's RayCluster and submitter Job from the API
//! server, the Ray job's status from the cluster's dashboard, and the status-check failure window recorded on the
//! RayJob. No writes happen here.

use crate::error::ApiError;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;
use kube::api::ListParams;
use kube::{Api, ResourceExt};
use ray_api_v1::RayClusterSpec;
use ray_api_v1::raycluster::RayCluster;
use ray_api_v1::rayjob::{JobDeploymentStatus, JobStatus, JobSubmissionMode, RayJob};
use ray_builders::labels;
use tracing::warn;

use super::decide::{Observation, RayJobInfo, SidecarSubmitter};
use super::{Context, Error, STATUS_CHECK_FAILING_SINCE_ANNOTATION, dashboard};
use crate::dashboard_auth::{self, DashboardAuth};
use ray_builders::auth::TokenAuth;

/// What one reconcile found out about a RayJob; [`Facts::observation`] hands it to [`super::decide::decide`].
#[derive(Debug, Clone)]
pub struct Facts {
    /// The RayCluster named by `status.rayClusterName`, if it exists.
    pub cluster: Option<RayCluster>,
    /// The submitter Job (named like the RayJob), if it exists.
    pub submitter: Option<Job>,
    /// What the dashboard said about the Ray job (asked only while the RayJob is `Running`).
    pub ray_job: RayJobInfo,
    /// The cluster's dashboard address, when it can be computed.
    pub dashboard_url: Option<String>,
    /// The token the dashboard client sends (read from the cluster's Secret when it uses token authentication).
    pub dashboard_auth: DashboardAuth,
    /// Since when the Ray job's status checks have been failing, as recorded on the RayJob.
    pub status_check_failing_since: Option<Timestamp>,
    /// When the facts were gathered, by [`super::Settings::clock`].
    pub now: Timestamp,
    /// Five random characters for names generated this pass.
    pub suffix: String,
    /// The head pod's submitter container (`SidecarMode`, while `Running`).
    pub sidecar: SidecarSubmitter,
}

impl Facts {
    /// The facts as the pure decision takes them.
    pub fn observation<'a>(&'a self, job: &'a RayJob) -> Observation<'a> {
        Observation {
            job,
            cluster: self.cluster.as_ref(),
            submitter: self.submitter.as_ref(),
            ray_job: &self.ray_job,
            dashboard_url: self.dashboard_url.as_deref(),
            status_check_failing_since: self.status_check_failing_since,
            now: self.now,
            suffix: &self.suffix,
            sidecar: self.sidecar.clone(),
        }
    }

    /// The head image a default submitter runs: the observed cluster's (a `clusterSelector` cluster), else the one
    /// in the RayJob's `rayClusterSpec`.
    pub fn head_image<'a>(&'a self, job: &'a RayJob) -> Option<&'a str> {
        head_image(self.cluster.as_ref().map(|c| &c.spec))
            .or_else(|| head_image(job.spec.ray_cluster_spec.as_ref()))
    }

    /// What the actions need to know about the cluster: the submitter's image and authentication, and the
    /// dashboard token.
    pub fn cluster_access<'a>(&'a self, job: &'a RayJob) -> ClusterAccess<'a> {
        ClusterAccess {
            head_image: self.head_image(job),
            submitter_auth: self
                .cluster
                .as_ref()
                .and_then(|c| ray_builders::auth::token_auth(&c.name_any(), &c.spec)),
            dashboard: &self.dashboard_auth,
        }
    }
}

/// What a RayJob's actions need to know about its cluster.
#[derive(Debug)]
pub struct ClusterAccess<'a> {
    /// The image a default submitter runs.
    pub head_image: Option<&'a str>,
    /// How the submitter authenticates to the cluster, when it uses token authentication.
    pub submitter_auth: Option<TokenAuth>,
    /// What the operator's dashboard client sends.
    pub dashboard: &'a DashboardAuth,
}

/// Gathers the facts about `job`. A RayCluster or Job that cannot be read fails the reconcile; a dashboard that
/// cannot be asked is a fact ([`RayJobInfo::Unreachable`]), which the decision tolerates for a while.
pub async fn observe(job: &RayJob, ctx: &Context) -> Result<Facts, Error> {
    let namespace = job.namespace().unwrap_or_default();
    let name = job.name_any();
    let status = job.status.clone().unwrap_or_default();
    let cluster = match status.ray_cluster_name.as_deref() {
        Some(cluster_name) => {
            let clusters: Api<RayCluster> = Api::namespaced(ctx.client.clone(), &namespace);
            clusters.get_opt(cluster_name).await.map_err(ApiError::of(
                "reading",
                format!("RayCluster {namespace}/{cluster_name}"),
            ))?
        }
        None => None,
    };
    let submitters: Api<Job> = Api::namespaced(ctx.client.clone(), &namespace);
    let submitter = submitters
        .get_opt(&name)
        .await
        .map_err(ApiError::of("reading", format!("Job {namespace}/{name}")))?;
    let dashboard_url = cluster.as_ref().and_then(|cluster| {
        dashboard::dashboard_url(
            cluster,
            &ctx.settings.controller.render,
            ctx.settings.dashboard.url_override.as_deref(),
        )
        .map_err(|error| warn!(%error, "no dashboard address for the RayCluster"))
        .ok()
    });
    let dashboard_auth = match &cluster {
        Some(cluster) => dashboard_auth::for_cluster(&ctx.client, cluster).await,
        None => DashboardAuth::Off,
    };
    let ray_job = match (
        status.job_deployment_status,
        &status.dashboard_url,
        &status.job_id,
    ) {
        (Some(JobDeploymentStatus::Running), Some(url), Some(job_id)) => {
            ray_job_info(ctx, url, job_id, &dashboard_auth).await
        }
        _ => RayJobInfo::NotChecked,
    };
    let sidecar = match (&cluster, status.job_deployment_status) {
        (Some(cluster), Some(JobDeploymentStatus::Running))
            if job.spec.submission_mode == Some(JobSubmissionMode::SidecarMode) =>
        {
            sidecar_submitter(ctx, &namespace, &cluster.name_any()).await?
        }
        _ => SidecarSubmitter::NotChecked,
    };
    let seed = format!("{:?}/{:?}", job.metadata.uid, std::time::SystemTime::now());
    Ok(Facts {
        cluster,
        submitter,
        ray_job,
        dashboard_url,
        dashboard_auth,
        status_check_failing_since: recorded_failing_since(job),
        now: ctx.settings.clock.now(),
        suffix: ray_builders::names::random_suffix_from(seed.as_bytes()),
        sidecar,
    })
}

/// The state of the submitter container in the head pod of `cluster` (`SidecarMode`).
async fn sidecar_submitter(
    ctx: &Context,
    namespace: &str,
    cluster: &str,
) -> Result<SidecarSubmitter, Error> {
    let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), namespace);
    let selector = format!(
        "{}={cluster},{}={}",
        labels::CLUSTER,
        labels::NODE_TYPE,
        labels::NODE_TYPE_HEAD
    );
    let heads = pods
        .list(&ListParams::default().labels(&selector))
        .await
        .map_err(ApiError::of(
            "listing",
            format!("the head pod of RayCluster {namespace}/{cluster}"),
        ))?;
    let Some(head) = heads
        .items
        .iter()
        .find(|pod| pod.metadata.deletion_timestamp.is_none())
    else {
        return Ok(SidecarSubmitter::HeadPodMissing);
    };
    Ok(sidecar_state(head))
}

/// What `head` says about its submitter container.
pub fn sidecar_state(head: &Pod) -> SidecarSubmitter {
    let terminated = head
        .status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .and_then(|statuses| {
            statuses
                .iter()
                .find(|c| c.name == ray_builders::submitter::CONTAINER_NAME)
        })
        .and_then(|c| c.state.as_ref())
        .and_then(|state| state.terminated.as_ref());
    match terminated {
        Some(t) => SidecarSubmitter::Exited {
            exit_code: t.exit_code,
            reason: t.reason.clone().unwrap_or_default(),
        },
        None => SidecarSubmitter::Running,
    }
}

/// Asks the dashboard at `address` about the Ray job `job_id`.
async fn ray_job_info(
    ctx: &Context,
    address: &str,
    job_id: &str,
    auth: &DashboardAuth,
) -> RayJobInfo {
    let client = match dashboard::client(address, ctx.settings.dashboard.timeout, auth) {
        Ok(client) => client,
        Err(error) => return RayJobInfo::Unreachable(error.to_string()),
    };
    match client.get_job(job_id).await {
        Ok(details) => RayJobInfo::Found {
            status: ray_status(details.status.as_str()),
            message: details.message,
            start_ms: details.start_time,
            end_ms: details.end_time,
        },
        Err(error) if error.is_not_found() => RayJobInfo::NotFound,
        Err(error) => RayJobInfo::Unreachable(error.to_string()),
    }
}

/// The failure window's start recorded on `job`; an unreadable value counts as absent (the window restarts).
pub fn recorded_failing_since(job: &RayJob) -> Option<Timestamp> {
    job.annotations()
        .get(STATUS_CHECK_FAILING_SINCE_ANNOTATION)?
        .parse()
        .ok()
}

/// Ray's wire status (`SUCCEEDED`, ...); one this operator does not know counts as `PENDING`.
fn ray_status(wire: &str) -> JobStatus {
    serde_json::from_value(serde_json::Value::String(wire.to_owned())).unwrap_or(JobStatus::Pending)
}

fn head_image(spec: Option<&RayClusterSpec>) -> Option<&str> {
    spec?
        .head_group_spec
        .template
        .spec
        .as_ref()?
        .containers
        .first()?
        .image
        .as_deref()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(annotation: Option<&str>) -> RayJob {
        let mut annotations = serde_json::Map::new();
        if let Some(value) = annotation {
            annotations.insert(STATUS_CHECK_FAILING_SINCE_ANNOTATION.into(), value.into());
        }
        serde_json::from_value(serde_json::json!({
            "apiVersion": "ray.io/v1", "kind": "RayJob",
            "metadata": {"name": "sample", "annotations": annotations},
            "spec": {"entrypoint": "true"},
        }))
        .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn the_failure_window_is_read_from_the_annotation() {
        let since: Timestamp = "2026-01-02T03:04:05.5Z"
            .parse()
            .unwrap_or_else(|e| panic!("{e}"));
        let recorded = recorded_failing_since(&job(Some(&since.to_string())));
        assert_eq!(recorded, Some(since));
        assert_eq!(recorded_failing_since(&job(None)), None);
        assert_eq!(recorded_failing_since(&job(Some("yesterday"))), None);
    }

    #[test]
    fn unknown_ray_statuses_count_as_pending() {
        assert_eq!(ray_status("SUCCEEDED"), JobStatus::Succeeded);
        assert_eq!(ray_status("SOMETHING_NEW"), JobStatus::Pending);
    }
}
