//! Event reasons of the RayJob controller and the Event published at each `jobDeploymentStatus` transition, so
//! `kubectl describe rayjob` tells the whole story (which cluster, which job id, why it failed).

use operator_runtime::Notice;
use operator_runtime::events::{Severity, truncate_note};
use ray_api_v1::rayjob::{JobDeploymentStatus, RayJobStatus};

/// The RayJob moved to `Initializing`: its job id and RayCluster name were chosen.
pub const INITIALIZING: &str = "Initializing";
/// The Ray job was submitted (HTTPMode) or the submitter Job was created (K8sJobMode).
pub const RUNNING: &str = "Running";
/// The Ray job finished and the RayJob is complete.
pub const COMPLETED: &str = "Completed";
/// The RayJob failed; the note carries the reason and message.
pub const FAILED: &str = "Failed";
/// The RayJob is being suspended.
pub const SUSPENDING: &str = "Suspending";
/// The RayJob is suspended and has no RayCluster.
pub const SUSPENDED: &str = "Suspended";
/// `spec.suspend` was cleared; the RayJob starts over.
pub const RESUMED: &str = "Resumed";
/// The RayJob's RayCluster was created.
pub const CREATED_RAY_CLUSTER: &str = "CreatedRayCluster";
/// The RayJob's RayCluster could not be created; the note carries the API server's message.
pub const FAILED_TO_CREATE_RAY_CLUSTER: &str = "FailedToCreateRayCluster";
/// The submitter Job (`K8sJobMode`) was created.
pub const CREATED_SUBMITTER: &str = "CreatedRayJobSubmitter";
/// The submitter Job could not be created; the note carries the API server's message.
pub const FAILED_TO_CREATE_SUBMITTER: &str = "FailedToCreateRayJobSubmitter";
/// The RayJob's RayCluster was deleted (suspended, or finished with `shutdownAfterJobFinishes`).
pub const DELETED_RAY_CLUSTER: &str = "DeletedRayCluster";
/// The RayJob's own head Service (`<rayjob>-head-svc`) was created.
pub const CREATED_SERVICE: &str = "CreatedService";
/// The RayJob's head Service could not be created; the note carries the API server's message.
pub const FAILED_TO_CREATE_SERVICE: &str = "FailedToCreateService";
/// The RayJob's head Service was pointed at a new attempt's cluster.
pub const UPDATED_SERVICE: &str = "UpdatedService";
/// A `DeleteWorkers` deletion step suspended every worker group of the RayJob's cluster.
pub const DELETED_WORKERS: &str = "DeletedWorkers";
/// A `DeleteSelf` deletion step is deleting the RayJob.
pub const DELETING_RAYJOB: &str = "DeletingRayJob";
/// The attempt failed and `backoffLimit` allows another: the RayJob is retried on a new cluster.
pub const RETRYING: &str = "Retrying";
/// `InteractiveMode`: the cluster is ready and the RayJob waits for `spec.jobId`.
pub const WAITING: &str = "Waiting";
/// The RayJob cannot be read (its spec does not match the CRD's types).
pub const INVALID_RAYJOB_SPEC: &str = "InvalidRayJobSpec";

/// The Event `action` of everything this controller reports.
pub const ACTION: &str = "Reconcile";

/// The Event for a change of `jobDeploymentStatus` from `old` to `new`, or `None` when it did not change. The
/// note is already cut to what the API server accepts.
pub fn transition(old: Option<&RayJobStatus>, new: &RayJobStatus) -> Option<Notice> {
    let before = old
        .and_then(|s| s.job_deployment_status)
        .unwrap_or(JobDeploymentStatus::New);
    let after = new
        .job_deployment_status
        .unwrap_or(JobDeploymentStatus::New);
    if before == after {
        return None;
    }
    let cluster = new.ray_cluster_name.as_deref().unwrap_or("<none>");
    let job_id = new.job_id.as_deref().unwrap_or("<none>");
    let message = new.message.as_deref().unwrap_or_default();
    let (severity, reason, note) = match after {
        JobDeploymentStatus::New => (Severity::Normal, RESUMED, message.to_owned()),
        JobDeploymentStatus::Initializing => (
            Severity::Normal,
            INITIALIZING,
            format!("Ray job {job_id} will run on RayCluster {cluster}"),
        ),
        JobDeploymentStatus::Running => (
            Severity::Normal,
            RUNNING,
            format!("Ray job {job_id} submitted to RayCluster {cluster}"),
        ),
        JobDeploymentStatus::Complete => (
            Severity::Normal,
            COMPLETED,
            format!(
                "Ray job {job_id} finished with status {}",
                new.job_status
                    .and_then(|s| serde_json::to_value(s).ok())
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default()
            ),
        ),
        JobDeploymentStatus::Retrying => (Severity::Warning, RETRYING, message.to_owned()),
        JobDeploymentStatus::Waiting => (Severity::Normal, WAITING, message.to_owned()),
        JobDeploymentStatus::Failed | JobDeploymentStatus::ValidationFailed => (
            Severity::Warning,
            FAILED,
            match new.reason {
                Some(reason) => format!("{reason:?}: {message}"),
                None => message.to_owned(),
            },
        ),
        JobDeploymentStatus::Suspending => (Severity::Normal, SUSPENDING, message.to_owned()),
        JobDeploymentStatus::Suspended => (Severity::Normal, SUSPENDED, message.to_owned()),
    };
    Some(Notice {
        severity,
        reason: reason.to_owned(),
        action: ACTION.to_owned(),
        note: truncate_note(&note),
        related: None,
    })
}

#[cfg(test)]
mod tests {
    use ray_api_v1::rayjob::{JobFailedReason, JobStatus};

    use super::*;

    fn status(state: JobDeploymentStatus) -> RayJobStatus {
        RayJobStatus {
            job_deployment_status: Some(state),
            job_id: Some("sample-abcde".into()),
            ray_cluster_name: Some("sample-fghij".into()),
            ..RayJobStatus::default()
        }
    }

    #[test]
    fn no_event_without_a_transition() {
        let running = status(JobDeploymentStatus::Running);
        assert_eq!(transition(Some(&running), &running), None);
    }

    #[test]
    fn initializing_names_the_job_and_cluster() {
        let event = transition(None, &status(JobDeploymentStatus::Initializing));
        let event = event.unwrap_or_else(|| panic!("a transition"));
        assert_eq!(event.severity, Severity::Normal);
        assert_eq!(event.reason, INITIALIZING);
        assert!(event.note.contains("sample-abcde") && event.note.contains("sample-fghij"));
    }

    #[test]
    fn completion_names_rays_status() {
        let mut done = status(JobDeploymentStatus::Complete);
        done.job_status = Some(JobStatus::Succeeded);
        let old = status(JobDeploymentStatus::Running);
        let event = transition(Some(&old), &done).unwrap_or_else(|| panic!("a transition"));
        assert_eq!(event.reason, COMPLETED);
        assert!(event.note.ends_with("SUCCEEDED"), "{}", event.note);
    }

    #[test]
    fn failure_is_a_warning_with_reason_and_a_bounded_note() {
        let mut failed = status(JobDeploymentStatus::Failed);
        failed.reason = Some(JobFailedReason::SubmissionFailed);
        failed.message = Some("é".repeat(2000));
        let old = status(JobDeploymentStatus::Running);
        let event = transition(Some(&old), &failed).unwrap_or_else(|| panic!("a transition"));
        assert_eq!(event.severity, Severity::Warning);
        assert_eq!(event.reason, FAILED);
        assert!(event.note.starts_with("SubmissionFailed: "));
        assert!(event.note.len() <= 1024);
    }
}
