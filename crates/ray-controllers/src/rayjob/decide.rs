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
//! - `InteractiveMode`: once the cluster is ready → `Waiting` until the user puts the id of the job they submitted
//!   into `spec.jobId` → `Running`. `SidecarMode`: the submitter is a container of the head pod (created with the
//!   cluster); the head pod disappearing or the container exiting non-zero fails the RayJob.
//! - `preRunningDeadlineSeconds` (counted from `startTime`) in `Initializing` or `Waiting` →
//!   `Failed`/`PreRunningDeadlineExceeded`.
//! - Every transition to `Failed` counts in `status.failed`, every success in `status.succeeded`. A failure that
//!   `backoffLimit` still allows (and not `DeadlineExceeded`) → `Retrying`: stop the Ray job, delete the submitter
//!   and the cluster, then `New` again with a new job id and a new cluster.
//! - `Complete`/`Failed`: the deletion strategy (module `deletion`): `deletionRules`, the legacy
//!   `onSuccess`/`onFailure` pair, or `shutdownAfterJobFinishes` (the RayCluster deleted `ttlSecondsAfterFinished`
//!   after `endTime`). Every due time is derived from `endTime`, so nothing is lost across restarts; until a step is
//!   due the decision asks to be woken exactly then (no polling). A cluster chosen by `clusterSelector` is never
//!   deleted.

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
        /// When Ray started the job (milliseconds since the epoch), if it did.
        start_ms: Option<u64>,
        /// When the job ended (milliseconds since the epoch), if it did.
        end_ms: Option<u64>,
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
    /// The submitter container of the head pod (`SidecarMode`, while `Running`).
    pub sidecar: SidecarSubmitter,
}

/// What the head pod says about the submitter container of a `SidecarMode` RayJob.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum SidecarSubmitter {
    /// Not looked at (another mode, or the RayJob is not running).
    #[default]
    NotChecked,
    /// The cluster has no head pod.
    HeadPodMissing,
    /// The container has not exited.
    Running,
    /// The container exited with this code; `reason` is the kubelet's.
    Exited {
        /// The exit code (0: `ray job submit` saw the job succeed).
        exit_code: i32,
        /// The kubelet's reason, such as `Error` or `Completed`.
        reason: String,
    },
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
    /// Create or repoint the RayJob's own head Service (`<rayjob>-head-svc`) at the current cluster (once per
    /// attempt, when the cluster is ready).
    EnsureJobHeadService,
    /// Scale every worker group of the RayCluster to zero (`suspend: true` on each group): `DeleteWorkers`.
    DeleteWorkers {
        /// The RayCluster's name.
        name: String,
        /// Why, for the event.
        reason: String,
    },
    /// Delete the RayJob itself (`DeleteSelf`); the garbage collector removes what it owns.
    DeleteSelf {
        /// Why, for the event.
        reason: String,
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
        super::deletion::finished(obs, &mut decision);
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
        JobDeploymentStatus::Waiting => waiting(obs, &mut decision),
        JobDeploymentStatus::Running => running(obs, &mut decision),
        JobDeploymentStatus::Suspending | JobDeploymentStatus::Retrying => {
            release(obs, &mut decision, state);
        }
        JobDeploymentStatus::Suspended => suspended(obs, &mut decision),
        JobDeploymentStatus::Complete
        | JobDeploymentStatus::Failed
        | JobDeploymentStatus::ValidationFailed => {}
    }
    count_attempt(obs, &mut decision, state);
    decision
}

/// Counts a finished attempt in `succeeded`/`failed` at the transition, and turns a failure `backoffLimit` still
/// allows into `Retrying` (KubeRay's rule: not after `DeadlineExceeded`, and never a spec that does not validate).
fn count_attempt(obs: &Observation<'_>, d: &mut Decision, before: JobDeploymentStatus) {
    let after = d
        .status
        .job_deployment_status
        .unwrap_or(JobDeploymentStatus::New);
    if before == after || !after.is_terminal() {
        return;
    }
    let failed = d.status.failed.unwrap_or(0);
    let succeeded = d.status.succeeded.unwrap_or(0);
    d.status.failed = Some(failed);
    d.status.succeeded = Some(succeeded);
    match after {
        JobDeploymentStatus::Complete => {
            if d.status.job_status == Some(JobStatus::Succeeded) {
                d.status.succeeded = Some(succeeded + 1);
            }
            return;
        }
        JobDeploymentStatus::Failed => d.status.failed = Some(failed + 1),
        _ => return,
    }
    let limit = obs.job.spec.backoff_limit.unwrap_or(0);
    let retryable = !matches!(
        d.status.reason,
        Some(JobFailedReason::DeadlineExceeded | JobFailedReason::ValidationFailed)
    );
    if retryable && failed < limit {
        let attempt = failed + 2;
        d.status.job_deployment_status = Some(JobDeploymentStatus::Retrying);
        d.status.message = Some(format!(
            "Attempt {} failed ({}); retrying on a new RayCluster (attempt {attempt} of {}, backoffLimit {limit}).",
            failed + 1,
            d.status.message.as_deref().unwrap_or("no message"),
            limit + 1,
        ));
        d.requeue_after = Some(Duration::ZERO);
    }
}

pub(super) fn job_name(job: &RayJob) -> &str {
    job.metadata.name.as_deref().unwrap_or_default()
}

pub(super) fn selected_cluster(job: &RayJob) -> Option<&str> {
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
    let given = job.spec.job_id.clone().filter(|id| !id.is_empty());
    // In InteractiveMode the user submits, so the id is the one they give (possibly later, while Waiting).
    let job_id = if mode(job) == JobSubmissionMode::InteractiveMode {
        given
    } else {
        Some(
            given
                .or_else(|| d.status.job_id.clone())
                .unwrap_or_else(|| format!("{name}-{}", obs.suffix)),
        )
    };
    let cluster = selected_cluster(job)
        .map(str::to_owned)
        .or_else(|| d.status.ray_cluster_name.clone())
        .unwrap_or_else(|| format!("{name}-{}", obs.suffix));
    d.status.job_id = job_id;
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
    let start = seconds_after_start_passed(obs, d, seconds)?;
    Some(format!(
        "The RayJob ran longer than activeDeadlineSeconds ({seconds}s) since it started at {start}; the Ray job was stopped."
    ))
}

/// `Some(message)` once `preRunningDeadlineSeconds` has passed; otherwise sets the wake-up for the deadline.
fn pre_running_deadline_passed(obs: &Observation<'_>, d: &mut Decision) -> Option<String> {
    let seconds = obs.job.spec.pre_running_deadline_seconds?;
    let start = seconds_after_start_passed(obs, d, seconds)?;
    Some(format!(
        "The RayJob did not reach Running within preRunningDeadlineSeconds ({seconds}s) since it started at {start}."
    ))
}

/// The recorded start time once `seconds` have passed since it; before that `None`, with a wake-up set for the
/// moment they will have. `None` too without a start time.
fn seconds_after_start_passed(
    obs: &Observation<'_>,
    d: &mut Decision,
    seconds: i32,
) -> Option<Timestamp> {
    let start = d.status.start_time.as_ref()?.0;
    let deadline = start
        .checked_add(SignedDuration::from_secs(seconds.into()))
        .ok()?;
    if obs.now >= deadline {
        return Some(start);
    }
    let left = Duration::try_from(obs.now.duration_until(deadline)).unwrap_or(Duration::ZERO);
    wake_within(d, left);
    None
}

/// Asks to be woken within `after` (keeps an earlier wake-up).
pub(super) fn wake_within(d: &mut Decision, after: Duration) {
    d.requeue_after = Some(d.requeue_after.map_or(after, |old| old.min(after)));
}

fn suspend(d: &mut Decision) {
    d.status.job_deployment_status = Some(JobDeploymentStatus::Suspending);
    d.status.message =
        Some("spec.suspend is true: stopping the Ray job and deleting the RayCluster.".into());
    d.requeue_after = Some(Duration::ZERO);
}

pub(super) fn cluster_name(d: &Decision) -> String {
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
    if let Some(message) = pre_running_deadline_passed(obs, d) {
        fail(obs, d, JobFailedReason::PreRunningDeadlineExceeded, message);
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
    if selected_cluster(job).is_none() {
        d.actions.push(Action::EnsureJobHeadService);
    }
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
        JobSubmissionMode::SidecarMode => {
            d.status.message = Some(format!(
                "The submitter container in the head pod of RayCluster {name} submits Ray job {job_id}."
            ));
        }
        JobSubmissionMode::InteractiveMode => {
            waiting(obs, d);
            return;
        }
    }
    d.status.job_deployment_status = Some(JobDeploymentStatus::Running);
    wake_within(d, POLL_INTERVAL);
}

/// `InteractiveMode` with a ready cluster: wait for the user's job id in `spec.jobId`, then follow that job.
fn waiting(obs: &Observation<'_>, d: &mut Decision) {
    let job = obs.job;
    if job.spec.suspend {
        suspend(d);
        return;
    }
    if let Some(message) = pre_running_deadline_passed(obs, d) {
        fail(obs, d, JobFailedReason::PreRunningDeadlineExceeded, message);
        return;
    }
    let name = cluster_name(d);
    match job.spec.job_id.as_deref().filter(|id| !id.is_empty()) {
        Some(job_id) => {
            d.status.job_id = Some(job_id.to_owned());
            d.status.job_deployment_status = Some(JobDeploymentStatus::Running);
            d.status.message = Some(format!(
                "Following Ray job {job_id}, submitted by the user to RayCluster {name}."
            ));
            wake_within(d, POLL_INTERVAL);
        }
        None => {
            d.status.job_deployment_status = Some(JobDeploymentStatus::Waiting);
            let address = d.status.dashboard_url.as_deref().unwrap_or("<dashboard>");
            d.status.message = Some(format!(
                "RayCluster {name} is ready. Submit the job (ray job submit --address http://{address} ...) and set spec.jobId to its submission id."
            ));
            // Setting spec.jobId changes the RayJob: the watch brings the next pass.
        }
    }
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
    let sidecar_mode = mode(job) == JobSubmissionMode::SidecarMode;
    let submitter = if k8s_mode {
        submitter_finished(obs.submitter)
    } else if sidecar_mode {
        match &obs.sidecar {
            SidecarSubmitter::HeadPodMissing => {
                fail(
                    obs,
                    d,
                    JobFailedReason::AppFailed,
                    "The head pod, which holds the submitter container, is gone.".into(),
                );
                return;
            }
            SidecarSubmitter::Exited { exit_code, reason } if *exit_code != 0 => Some((
                true,
                format!("the submitter container exited with code {exit_code} ({reason})"),
            )),
            SidecarSubmitter::Exited { .. } => Some((false, String::new())),
            SidecarSubmitter::Running | SidecarSubmitter::NotChecked => None,
        }
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
        let what = if sidecar_mode {
            "The submitter container failed"
        } else {
            "The submitter Job failed"
        };
        fail(obs, d, reason, format!("{what}: {message}"));
        return;
    }
    if k8s_mode && obs.submitter.is_none() {
        d.actions.push(Action::CreateSubmitter);
    }
    wake_within(d, POLL_INTERVAL);
    match obs.ray_job {
        RayJobInfo::NotChecked => {}
        RayJobInfo::Found {
            status,
            message,
            start_ms,
            end_ms,
        } => {
            d.status_check_failing_since = None;
            d.status.job_status = Some(*status);
            if let Some(message) = message.as_ref().filter(|m| !m.is_empty()) {
                d.status.message = Some(message.clone());
            }
            record_ray_times(d, *start_ms, *end_ms);
            // A submitter (Job or sidecar) follows the logs; wait for it so its output is complete.
            let submitter_done = !(k8s_mode || sidecar_mode) || submitter.is_some();
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
            if k8s_mode || sidecar_mode || mode(job) == JobSubmissionMode::InteractiveMode {
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

/// Ray's start and end times of the job, as `status.rayJobInfo`.
fn record_ray_times(d: &mut Decision, start_ms: Option<u64>, end_ms: Option<u64>) {
    let time = |ms: Option<u64>| {
        ms.filter(|ms| *ms > 0)
            .and_then(|ms| i64::try_from(ms).ok())
            .and_then(|ms| Timestamp::from_millisecond(ms).ok())
            .map(Time)
    };
    let (start, end) = (time(start_ms), time(end_ms));
    if start.is_none() && end.is_none() {
        return;
    }
    let info = d.status.ray_job_info.get_or_insert_with(Default::default);
    if start.is_some() {
        info.start_time = start;
    }
    if end.is_some() {
        info.end_time = end;
    }
}

/// `Suspending` and `Retrying`: stop the Ray job, delete the submitter and the cluster, and once both are gone
/// move on (`Suspended`, or `New` for the next attempt).
fn release(obs: &Observation<'_>, d: &mut Decision, state: JobDeploymentStatus) {
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
            reason: if state == JobDeploymentStatus::Retrying {
                "the attempt failed and the RayJob is retried on a new cluster".into()
            } else {
                "the RayJob is suspended".into()
            },
        });
    }
    if owned_cluster.is_none() && obs.submitter.is_none() {
        if state == JobDeploymentStatus::Retrying {
            d.status = RayJobStatus {
                job_deployment_status: Some(JobDeploymentStatus::New),
                job_status: Some(JobStatus::New),
                message: Some(format!(
                    "Starting attempt {} on a new RayCluster.",
                    d.status.failed.unwrap_or(0) + 1
                )),
                observed_generation: d.status.observed_generation,
                succeeded: d.status.succeeded,
                failed: d.status.failed,
                ..RayJobStatus::default()
            };
            d.status_check_failing_since = None;
            d.requeue_after = Some(Duration::ZERO);
            return;
        }
        d.status = RayJobStatus {
            job_deployment_status: Some(JobDeploymentStatus::Suspended),
            job_status: Some(JobStatus::New),
            message: Some("The RayJob is suspended; clear spec.suspend to start it again.".into()),
            start_time: d.status.start_time.clone(),
            observed_generation: d.status.observed_generation,
            succeeded: d.status.succeeded,
            failed: d.status.failed,
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
        succeeded: d.status.succeeded,
        failed: d.status.failed,
        ..RayJobStatus::default()
    };
    d.requeue_after = Some(Duration::ZERO);
}
