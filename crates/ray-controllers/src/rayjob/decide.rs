//! The RayJob state machine (`status.jobDeploymentStatus`) as a pure function, so every transition is unit-tested
//! without an API server or a Ray head.
//!
//! The rules (KubeRay's `RayJobReconciler`, with its lessons applied):
//! - `New`: the job id (`spec.jobId`, else `<name>-<5 random chars>`) and the RayCluster name (the cluster named by
//!   `clusterSelector`, else `<name>-<5 random chars>`) are chosen once and written to the status *before* anything
//!   is created, so a restart never creates a second cluster or submits twice. → `Initializing`.
//! - `Initializing`: create the RayCluster (unless `clusterSelector` names an existing one) and wait until it is
//!   `ready`, saying in `status.message` *why* it waits (the cluster's reason, or its `HeadPodReady` condition:
//!   pending or unschedulable head, image pull errors). Once ready: `HTTPMode` submits over the dashboard (idempotent
//!   with our submission id), `K8sJobMode` creates the submitter Job. → `Running`.
//! - `Running`: follow the Ray job; a terminal Ray status ends the RayJob (`SUCCEEDED`/`STOPPED` → `Complete`,
//!   `FAILED` → `Failed`/`AppFailed`) with Ray's message. A failed submitter Job (its backoffLimit exhausted) →
//!   `Failed`/`SubmissionFailed` with the Job's message. Status checks that keep failing for
//!   [`STATUS_CHECK_TIMEOUT`] → `Failed`/`JobStatusCheckTimeoutExceeded`.
//! - `activeDeadlineSeconds` (counted from `startTime`) → `Failed`/`DeadlineExceeded`, and the Ray job is stopped.
//! - An invalid spec → `Failed`/`ValidationFailed` with the field in the message; nothing is created.
//! - `suspend` → `Suspending` (stop the Ray job, delete the submitter and the cluster) → `Suspended`; clearing it
//!   starts over from `New` with a new job id and cluster.
//! - `Complete`/`Failed` with `shutdownAfterJobFinishes`: the RayCluster is deleted `ttlSecondsAfterFinished` after
//!   `endTime`; until then the decision asks to be woken exactly then (no polling). A cluster chosen by
//!   `clusterSelector` is never deleted.

use std::time::Duration;

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use ray_api_v1::raycluster::{ClusterState, RayCluster};
use ray_api_v1::rayjob::{
    JobDeploymentStatus, JobFailedReason, JobStatus, JobSubmissionMode, RayJob, RayJobStatus,
};

/// The `clusterSelector` key that names an existing RayCluster.
pub const CLUSTER_SELECTOR_KEY: &str = "ray.io/cluster";

/// How long the Ray job's status may be impossible to read (dashboard down, slow or answering garbage) before the
/// RayJob fails with `JobStatusCheckTimeoutExceeded`. KubeRay's default.
pub const STATUS_CHECK_TIMEOUT: Duration = Duration::from_secs(300);

/// How often a RayJob is looked at again while it waits for something no watch reports (the Ray job's progress, a
/// selected cluster the RayJob does not own).
pub const POLL_INTERVAL: Duration = Duration::from_secs(3);

/// The name of the `HeadPodReady` condition the RayCluster controller sets.
const HEAD_POD_READY: &str = "HeadPodReady";

/// What the dashboard said about the Ray job, as the controller observed it this pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RayJobInfo {
    /// The controller did not ask (the RayJob is not running, or no dashboard address is known yet).
    NotChecked,
    /// The dashboard knows the job.
    Found {
        /// Ray's status of the job.
        status: JobStatus,
        /// Ray's message (for a failed job: why, for example the exit code).
        message: Option<String>,
    },
    /// The dashboard answered that no job has our submission id.
    NotFound,
    /// The dashboard could not be asked or answered with an error; the text says what happened.
    Unreachable(String),
}

/// Everything the decision depends on.
pub struct Observation<'a> {
    /// The RayJob (spec, status, name, generation).
    pub job: &'a RayJob,
    /// The RayCluster named by `status.rayClusterName`, if it exists.
    pub cluster: Option<&'a RayCluster>,
    /// The submitter Job (`K8sJobMode`), if it exists.
    pub submitter: Option<&'a Job>,
    /// What the dashboard said about the Ray job.
    pub ray_job: &'a RayJobInfo,
    /// The dashboard address of the cluster (`host:port`), when the controller could compute it.
    pub dashboard_url: Option<&'a str>,
    /// Since when status checks have been failing without a break (recorded on the RayJob by the controller, so it
    /// survives restarts).
    pub status_check_failing_since: Option<Timestamp>,
    /// The current time.
    pub now: Timestamp,
    /// Five random lower-case alphanumerics for generated names (passed in to keep the decision pure).
    pub suffix: &'a str,
}

/// One change the controller makes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Create the RayCluster from `spec.rayClusterSpec` with this name.
    CreateCluster {
        /// The RayCluster's name (from the status).
        name: String,
    },
    /// Delete the RayCluster the RayJob created.
    DeleteCluster {
        /// The RayCluster's name.
        name: String,
        /// Why, for the event.
        reason: String,
    },
    /// Submit the Ray job over the dashboard REST API; an "already exists" answer for our id counts as success.
    SubmitOverHttp {
        /// The dashboard address (`host:port`).
        dashboard_url: String,
        /// The submission id.
        job_id: String,
    },
    /// Create the submitter Job (`K8sJobMode`).
    CreateSubmitter,
    /// Delete the submitter Job.
    DeleteSubmitter,
    /// Ask Ray to stop the job (best effort).
    StopRayJob {
        /// The dashboard address (`host:port`).
        dashboard_url: String,
        /// The submission id.
        job_id: String,
    },
}

/// What to do: the status to write (only when it differs from the current one), the actions, and when to look
/// again.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// The next status.
    pub status: RayJobStatus,
    /// The changes to make, in order.
    pub actions: Vec<Action>,
    /// Reconcile again after this long, or `None` to wait for a watch event.
    pub requeue_after: Option<Duration>,
    /// Since when status checks have been failing (`None` once one succeeded or the RayJob finished), for the
    /// controller to record.
    pub status_check_failing_since: Option<Timestamp>,
}

/// Decides the next status and actions of a RayJob.
pub fn decide(obs: &Observation<'_>) -> Decision {
    let old = obs.job.status.clone().unwrap_or_default();
    let mut status = old.clone();
    status.observed_generation = obs.job.metadata.generation;
    let mut decision = Decision {
        status,
        actions: Vec::new(),
        requeue_after: None,
        status_check_failing_since: obs.status_check_failing_since,
    };
    let state = old
        .job_deployment_status
        .unwrap_or(JobDeploymentStatus::New);
    if state.is_terminal() {
        // A finished RayJob checks nothing any more: no failure window to remember.
        decision.status_check_failing_since = None;
        finished(obs, &mut decision);
        return decision;
    }
    if let Err(errors) = ray_api_v1::validation::validate_job(obs.job) {
        fail(
            obs,
            &mut decision,
            JobFailedReason::ValidationFailed,
            format!("The RayJob's spec is invalid: {errors}"),
        );
        return decision;
    }
    match state {
        JobDeploymentStatus::New => new(obs, &mut decision),
        JobDeploymentStatus::Initializing => initializing(obs, &mut decision),
        JobDeploymentStatus::Running => running(obs, &mut decision),
        JobDeploymentStatus::Suspending => suspending(obs, &mut decision),
        JobDeploymentStatus::Suspended => suspended(obs, &mut decision),
        JobDeploymentStatus::Complete | JobDeploymentStatus::Failed => {}
    }
    decision
}

fn job_name(job: &RayJob) -> &str {
    job.metadata.name.as_deref().unwrap_or_default()
}

fn selected_cluster(job: &RayJob) -> Option<&str> {
    job.spec
        .cluster_selector
        .get(CLUSTER_SELECTOR_KEY)
        .map(String::as_str)
}

fn mode(job: &RayJob) -> JobSubmissionMode {
    job.spec.submission_mode.unwrap_or_default()
}

fn fail(obs: &Observation<'_>, d: &mut Decision, reason: JobFailedReason, message: String) {
    d.status.job_deployment_status = Some(JobDeploymentStatus::Failed);
    d.status.reason = Some(reason);
    d.status.message = Some(message);
    d.status.end_time = Some(Time(obs.now));
    d.status_check_failing_since = None;
    // A finished RayJob may still have a cluster to shut down after its TTL.
    d.requeue_after = Some(Duration::ZERO);
}

fn new(obs: &Observation<'_>, d: &mut Decision) {
    let job = obs.job;
    if job.spec.suspend {
        d.status.job_deployment_status = Some(JobDeploymentStatus::Suspended);
        d.status.message = Some("The RayJob is suspended; no RayCluster is created.".into());
        return;
    }
    let name = job_name(job);
    let job_id = job
        .spec
        .job_id
        .clone()
        .or_else(|| d.status.job_id.clone())
        .unwrap_or_else(|| format!("{name}-{}", obs.suffix));
    let cluster = selected_cluster(job)
        .map(str::to_owned)
        .or_else(|| d.status.ray_cluster_name.clone())
        .unwrap_or_else(|| format!("{name}-{}", obs.suffix));
    d.status.job_id = Some(job_id);
    d.status.ray_cluster_name = Some(cluster.clone());
    d.status.job_status = Some(JobStatus::New);
    d.status.job_deployment_status = Some(JobDeploymentStatus::Initializing);
    d.status.start_time = Some(Time(obs.now));
    d.status.end_time = None;
    d.status.reason = None;
    d.status.message = Some(format!("Preparing RayCluster {cluster}."));
    // Nothing is created in this pass: the names must be stored first. Writing the status triggers the next pass.
}

/// `Some(message)` once `activeDeadlineSeconds` has passed; otherwise sets the wake-up for the deadline.
fn deadline_passed(obs: &Observation<'_>, d: &mut Decision) -> Option<String> {
    let seconds = obs.job.spec.active_deadline_seconds?;
    let start = d.status.start_time.as_ref()?.0;
    let deadline = start
        .checked_add(SignedDuration::from_secs(seconds.into()))
        .ok()?;
    if obs.now >= deadline {
        return Some(format!(
            "The RayJob ran longer than activeDeadlineSeconds ({seconds}s) since it started at {start}; the Ray job was stopped."
        ));
    }
    let left = Duration::try_from(obs.now.duration_until(deadline)).unwrap_or(Duration::ZERO);
    wake_within(d, left);
    None
}

/// Asks to be woken within `after` (keeps an earlier wake-up).
fn wake_within(d: &mut Decision, after: Duration) {
    d.requeue_after = Some(d.requeue_after.map_or(after, |old| old.min(after)));
}

fn suspend(d: &mut Decision) {
    d.status.job_deployment_status = Some(JobDeploymentStatus::Suspending);
    d.status.message =
        Some("spec.suspend is true: stopping the Ray job and deleting the RayCluster.".into());
    d.requeue_after = Some(Duration::ZERO);
}

fn cluster_name(d: &Decision) -> String {
    d.status.ray_cluster_name.clone().unwrap_or_default()
}

/// Why a cluster that is not `ready` is not ready, from its status: the cluster's reason, else the
/// `HeadPodReady` condition (pending, unschedulable, image pull errors), else what is still missing.
pub fn waiting_reason(cluster: &RayCluster) -> String {
    let name = cluster.metadata.name.as_deref().unwrap_or_default();
    let Some(status) = cluster.status.as_ref() else {
        return format!("Waiting for RayCluster {name} to be picked up by the operator.");
    };
    if let Some(reason) = status.reason.as_deref().filter(|r| !r.is_empty()) {
        return format!("Waiting for RayCluster {name} to become ready: {reason}");
    }
    if let Some(head) = status
        .conditions
        .iter()
        .find(|c| c.type_ == HEAD_POD_READY && c.status != "True")
    {
        let message = if head.message.is_empty() {
            String::new()
        } else {
            format!(": {}", head.message)
        };
        return format!(
            "Waiting for RayCluster {name} to become ready: head pod not ready ({}){message}",
            head.reason
        );
    }
    let ready = status.ready_worker_replicas.unwrap_or(0);
    let desired = status.desired_worker_replicas.unwrap_or(0);
    format!(
        "Waiting for RayCluster {name} to become ready: {ready} of {desired} worker pods are ready."
    )
}

fn initializing(obs: &Observation<'_>, d: &mut Decision) {
    let job = obs.job;
    if job.spec.suspend {
        suspend(d);
        return;
    }
    if let Some(message) = deadline_passed(obs, d) {
        fail(obs, d, JobFailedReason::DeadlineExceeded, message);
        return;
    }
    let name = cluster_name(d);
    let Some(cluster) = obs.cluster else {
        if selected_cluster(job).is_some() {
            d.status.message = Some(format!(
                "Waiting for RayCluster {name}, named by clusterSelector, to exist in this namespace."
            ));
            wake_within(d, POLL_INTERVAL);
        } else {
            d.status.message = Some(format!("Creating RayCluster {name}."));
            d.actions.push(Action::CreateCluster { name });
        }
        return;
    };
    d.status.ray_cluster_status = cluster.status.clone();
    let ready = cluster.status.as_ref().and_then(|s| s.state) == Some(ClusterState::Ready);
    if !ready {
        d.status.message = Some(waiting_reason(cluster));
        if selected_cluster(job).is_some() {
            // A selected cluster is not owned, so no watch event tells us it became ready.
            wake_within(d, POLL_INTERVAL);
        }
        return;
    }
    let Some(url) = obs.dashboard_url else {
        d.status.message = Some(format!(
            "RayCluster {name} is ready, but its dashboard address is not known yet (head Service missing)."
        ));
        wake_within(d, POLL_INTERVAL);
        return;
    };
    d.status.dashboard_url = Some(url.to_owned());
    let job_id = d.status.job_id.clone().unwrap_or_default();
    match mode(job) {
        JobSubmissionMode::HttpMode => {
            d.actions.push(Action::SubmitOverHttp {
                dashboard_url: url.to_owned(),
                job_id: job_id.clone(),
            });
            d.status.message = Some(format!(
                "Submitted Ray job {job_id} to RayCluster {name} over the dashboard API."
            ));
        }
        JobSubmissionMode::K8sJobMode => {
            if obs.submitter.is_none() {
                d.actions.push(Action::CreateSubmitter);
            }
            d.status.message = Some(format!(
                "Created the submitter Job for Ray job {job_id} on RayCluster {name}."
            ));
        }
    }
    d.status.job_deployment_status = Some(JobDeploymentStatus::Running);
    wake_within(d, POLL_INTERVAL);
}

/// The submitter Job's `Failed` or `Complete` condition, if set: `(failed, message)`.
fn submitter_finished(job: Option<&Job>) -> Option<(bool, String)> {
    let conditions = job?.status.as_ref()?.conditions.as_ref()?;
    conditions
        .iter()
        .filter(|c| c.status == "True")
        .find_map(|c| match c.type_.as_str() {
            "Failed" => Some((
                true,
                c.message
                    .clone()
                    .or_else(|| c.reason.clone())
                    .unwrap_or_else(|| "the submitter Job failed".into()),
            )),
            "Complete" => Some((false, String::new())),
            _ => None,
        })
}

/// What to do before a deleted RayJob's finalizer is removed: stop its Ray job unless Ray already finished it.
/// Best effort and once: the finalizer goes whatever happens, so a RayJob is never stranded.
pub fn on_deletion(status: &RayJobStatus) -> Option<Action> {
    if status.job_status.is_some_and(JobStatus::is_terminal) {
        return None;
    }
    Some(Action::StopRayJob {
        dashboard_url: status.dashboard_url.clone()?,
        job_id: status.job_id.clone()?,
    })
}

fn stop_action(d: &Decision) -> Option<Action> {
    Some(Action::StopRayJob {
        dashboard_url: d.status.dashboard_url.clone()?,
        job_id: d.status.job_id.clone()?,
    })
}

fn running(obs: &Observation<'_>, d: &mut Decision) {
    let job = obs.job;
    if job.spec.suspend {
        suspend(d);
        return;
    }
    if let Some(message) = deadline_passed(obs, d) {
        d.actions.extend(stop_action(d));
        fail(obs, d, JobFailedReason::DeadlineExceeded, message);
        return;
    }
    if let Some(cluster) = obs.cluster {
        d.status.ray_cluster_status = cluster.status.clone();
    }
    let k8s_mode = mode(job) == JobSubmissionMode::K8sJobMode;
    let submitter = if k8s_mode {
        submitter_finished(obs.submitter)
    } else {
        None
    };
    if let Some((true, message)) = &submitter {
        let already_failed = matches!(
            obs.ray_job,
            RayJobInfo::Found {
                status: JobStatus::Failed,
                ..
            }
        );
        if already_failed {
            d.status.job_status = Some(JobStatus::Failed);
        }
        let reason = if already_failed {
            JobFailedReason::AppFailed
        } else {
            JobFailedReason::SubmissionFailed
        };
        fail(
            obs,
            d,
            reason,
            format!("The submitter Job failed: {message}"),
        );
        return;
    }
    if k8s_mode && obs.submitter.is_none() {
        d.actions.push(Action::CreateSubmitter);
    }
    wake_within(d, POLL_INTERVAL);
    match obs.ray_job {
        RayJobInfo::NotChecked => {}
        RayJobInfo::Found { status, message } => {
            d.status_check_failing_since = None;
            d.status.job_status = Some(*status);
            if let Some(message) = message.as_ref().filter(|m| !m.is_empty()) {
                d.status.message = Some(message.clone());
            }
            // In K8sJobMode the submitter follows the logs; wait for it so its pod's output is complete.
            let submitter_done = !k8s_mode || submitter.is_some();
            if status.is_terminal() && submitter_done {
                d.status.end_time = Some(Time(obs.now));
                if *status == JobStatus::Failed {
                    d.status.job_deployment_status = Some(JobDeploymentStatus::Failed);
                    d.status.reason = Some(JobFailedReason::AppFailed);
                } else {
                    d.status.job_deployment_status = Some(JobDeploymentStatus::Complete);
                }
                d.requeue_after = Some(Duration::ZERO);
            }
        }
        RayJobInfo::NotFound => {
            d.status_check_failing_since = None;
            if k8s_mode {
                if submitter.is_some() {
                    fail(
                        obs,
                        d,
                        JobFailedReason::AppFailed,
                        "The submitter Job completed but the Ray job is not found on the RayCluster."
                            .into(),
                    );
                }
            } else if let Some(url) = d.status.dashboard_url.clone() {
                // Idempotent: Ray answers "already exists" for our id, which the client treats as success.
                d.actions.push(Action::SubmitOverHttp {
                    dashboard_url: url,
                    job_id: d.status.job_id.clone().unwrap_or_default(),
                });
            }
        }
        RayJobInfo::Unreachable(error) => {
            let since = obs.status_check_failing_since.unwrap_or(obs.now);
            d.status_check_failing_since = Some(since);
            let failing_for =
                Duration::try_from(since.duration_until(obs.now)).unwrap_or(Duration::ZERO);
            if failing_for >= STATUS_CHECK_TIMEOUT {
                fail(
                    obs,
                    d,
                    JobFailedReason::JobStatusCheckTimeoutExceeded,
                    format!(
                        "The Ray job's status could not be read since {since} (more than {}s): {error}",
                        STATUS_CHECK_TIMEOUT.as_secs()
                    ),
                );
            }
        }
    }
}

fn suspending(obs: &Observation<'_>, d: &mut Decision) {
    let job_running = !d.status.job_status.is_some_and(JobStatus::is_terminal);
    if job_running && obs.cluster.is_some() {
        d.actions.extend(stop_action(d));
    }
    if obs.submitter.is_some() {
        d.actions.push(Action::DeleteSubmitter);
    }
    let owned_cluster = obs.cluster.filter(|_| selected_cluster(obs.job).is_none());
    if owned_cluster.is_some() {
        d.actions.push(Action::DeleteCluster {
            name: cluster_name(d),
            reason: "the RayJob is suspended".into(),
        });
    }
    if owned_cluster.is_none() && obs.submitter.is_none() {
        d.status = RayJobStatus {
            job_deployment_status: Some(JobDeploymentStatus::Suspended),
            job_status: Some(JobStatus::New),
            message: Some("The RayJob is suspended; clear spec.suspend to start it again.".into()),
            start_time: d.status.start_time.clone(),
            observed_generation: d.status.observed_generation,
            ..RayJobStatus::default()
        };
        d.status_check_failing_since = None;
        return;
    }
    wake_within(d, POLL_INTERVAL);
}

fn suspended(obs: &Observation<'_>, d: &mut Decision) {
    if obs.job.spec.suspend {
        return;
    }
    d.status = RayJobStatus {
        job_deployment_status: Some(JobDeploymentStatus::New),
        job_status: Some(JobStatus::New),
        message: Some("spec.suspend was cleared: starting over with a new RayCluster.".into()),
        observed_generation: d.status.observed_generation,
        ..RayJobStatus::default()
    };
    d.requeue_after = Some(Duration::ZERO);
}

fn finished(obs: &Observation<'_>, d: &mut Decision) {
    let job = obs.job;
    if !job.spec.shutdown_after_job_finishes || selected_cluster(job).is_some() {
        return;
    }
    let Some(cluster) = obs.cluster else {
        return;
    };
    if cluster.metadata.deletion_timestamp.is_some() {
        return;
    }
    let ttl = job.spec.ttl_seconds_after_finished.unwrap_or(0).max(0);
    let end = d.status.end_time.as_ref().map_or(obs.now, |t| t.0);
    let due = end
        .checked_add(SignedDuration::from_secs(ttl.into()))
        .unwrap_or(end);
    if obs.now >= due {
        d.actions.push(Action::DeleteCluster {
            name: cluster_name(d),
            reason: format!(
                "the job finished and ttlSecondsAfterFinished ({ttl}s) has passed (shutdownAfterJobFinishes)"
            ),
        });
    } else {
        let left = Duration::try_from(obs.now.duration_until(due)).unwrap_or(Duration::ZERO);
        d.requeue_after = Some(left);
    }
}
