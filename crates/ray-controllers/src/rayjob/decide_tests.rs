use std::time::Duration;

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use ray_api_v1::raycluster::{RayCluster, RayClusterStatus};
use ray_api_v1::rayjob::{
    JobDeploymentStatus as D, JobFailedReason, JobStatus, RayJob, RayJobStatus,
};

use super::decide::{
    Action, Decision, Observation, RayJobInfo, STATUS_CHECK_TIMEOUT, SidecarSubmitter, decide,
    on_deletion,
};

const URL: &str = "sample-raycluster-head-svc.default.svc.cluster.local:8265";

fn t(seconds: i64) -> Timestamp {
    Timestamp::from_second(1_800_000_000 + seconds).expect("test fixture")
}

fn job(extra_spec: serde_json::Value) -> RayJob {
    let mut spec = serde_json::json!({
        "entrypoint": "python -c 'print(1)'",
        "submissionMode": "HTTPMode",
        "rayClusterSpec": {
            "headGroupSpec": {
                "rayStartParams": {},
                "template": {"spec": {"containers": [{"name": "ray-head", "image": "rayproject/ray:2.9.0"}]}}
            }
        }
    });
    for (k, v) in extra_spec.as_object().expect("test fixture") {
        spec[k] = v.clone();
    }
    serde_json::from_value(serde_json::json!({
        "apiVersion": "ray.io/v1",
        "kind": "RayJob",
        "metadata": {"name": "sample", "namespace": "default", "generation": 2},
        "spec": spec,
    }))
    .expect("test fixture")
}

fn with_status(mut job: RayJob, state: D) -> RayJob {
    job.status = Some(RayJobStatus {
        job_id: Some("sample-abcde".into()),
        ray_cluster_name: Some("sample-fghij".into()),
        job_status: Some(JobStatus::New),
        job_deployment_status: Some(state),
        start_time: Some(Time(t(0))),
        dashboard_url: (state == D::Running).then(|| URL.to_owned()),
        ..RayJobStatus::default()
    });
    job
}

fn cluster(status: serde_json::Value) -> RayCluster {
    let mut c: RayCluster = serde_json::from_value(serde_json::json!({
        "apiVersion": "ray.io/v1",
        "kind": "RayCluster",
        "metadata": {"name": "sample-fghij", "namespace": "default"},
        "spec": {"headGroupSpec": {"rayStartParams": {}, "template": {"spec": {"containers": []}}}},
    }))
    .expect("test fixture");
    if !status.is_null() {
        c.status = Some(serde_json::from_value::<RayClusterStatus>(status).expect("test fixture"));
    }
    c
}

fn ready() -> RayCluster {
    cluster(serde_json::json!({"state": "ready"}))
}

fn submitter(condition: Option<(&str, &str)>) -> Job {
    let conditions = condition.map(|(kind, message)| {
        serde_json::json!([{"type": kind, "status": "True", "reason": "BackoffLimitExceeded", "message": message}])
    });
    serde_json::from_value(serde_json::json!({
        "metadata": {"name": "sample"},
        "status": {"conditions": conditions.unwrap_or(serde_json::json!([]))},
    }))
    .expect("test fixture")
}

struct Obs<'a> {
    job: &'a RayJob,
    cluster: Option<&'a RayCluster>,
    submitter: Option<&'a Job>,
    ray_job: RayJobInfo,
    failing_since: Option<Timestamp>,
    now: Timestamp,
    sidecar: SidecarSubmitter,
}

impl<'a> Obs<'a> {
    fn new(job: &'a RayJob) -> Self {
        Self {
            job,
            cluster: None,
            submitter: None,
            ray_job: RayJobInfo::NotChecked,
            failing_since: None,
            now: t(10),
            sidecar: SidecarSubmitter::NotChecked,
        }
    }
    fn run(&self) -> Decision {
        decide(&Observation {
            job: self.job,
            cluster: self.cluster,
            submitter: self.submitter,
            ray_job: &self.ray_job,
            dashboard_url: Some(URL),
            status_check_failing_since: self.failing_since,
            now: self.now,
            suffix: "xyz12",
            sidecar: self.sidecar.clone(),
        })
    }
}

fn state(d: &Decision) -> D {
    d.status.job_deployment_status.expect("test fixture")
}

#[test]
fn new_generates_names_and_creates_nothing() {
    let j = job(serde_json::json!({}));
    let d = Obs::new(&j).run();
    assert_eq!(state(&d), D::Initializing);
    assert_eq!(d.status.job_id.as_deref(), Some("sample-xyz12"));
    assert_eq!(d.status.ray_cluster_name.as_deref(), Some("sample-xyz12"));
    assert_eq!(d.status.start_time, Some(Time(t(10))));
    assert_eq!(d.status.observed_generation, Some(2));
    assert!(
        d.actions.is_empty(),
        "names must be stored before anything is created"
    );
}

#[test]
fn spec_job_id_and_selector_win() {
    let j = job(serde_json::json!({
        "jobId": "my-id",
        "rayClusterSpec": null,
        "clusterSelector": {"ray.io/cluster": "shared"}
    }));
    let d = Obs::new(&j).run();
    assert_eq!(d.status.job_id.as_deref(), Some("my-id"));
    assert_eq!(d.status.ray_cluster_name.as_deref(), Some("shared"));
}

#[test]
fn generated_names_survive_a_second_pass() {
    let mut j = with_status(job(serde_json::json!({})), D::New);
    let d = Obs::new(&j).run();
    assert_eq!(d.status.job_id.as_deref(), Some("sample-abcde"));
    assert_eq!(d.status.ray_cluster_name.as_deref(), Some("sample-fghij"));
    j.status = Some(d.status);
    let d = Obs::new(&j).run();
    assert_eq!(
        d.actions,
        vec![Action::CreateCluster {
            name: "sample-fghij".into()
        }]
    );
}

#[test]
fn invalid_spec_fails_naming_the_field_without_creating_anything() {
    let j = job(serde_json::json!({"activeDeadlineSeconds": 0}));
    let d = Obs::new(&j).run();
    assert_eq!(state(&d), D::Failed);
    assert_eq!(d.status.reason, Some(JobFailedReason::ValidationFailed));
    let message = d.status.message.expect("test fixture");
    assert!(message.contains("activeDeadlineSeconds"), "{message}");
    assert!(d.actions.is_empty());
}

#[test]
fn initializing_says_why_it_waits() {
    let j = with_status(job(serde_json::json!({})), D::Initializing);
    let c = cluster(serde_json::json!({"conditions": [{
        "type": "HeadPodReady", "status": "False", "reason": "ErrImagePull",
        "message": "rpc error: pull access denied for rayproject/ray:nope",
        "lastTransitionTime": "2026-01-01T00:00:00Z"
    }]}));
    let mut o = Obs::new(&j);
    o.cluster = Some(&c);
    let d = o.run();
    assert_eq!(state(&d), D::Initializing);
    let message = d.status.message.expect("test fixture");
    assert!(message.contains("ErrImagePull"), "{message}");
    assert!(message.contains("pull access denied"), "{message}");
    assert!(d.actions.is_empty());

    let c = cluster(serde_json::json!({"reason": "spec.headGroupSpec: bad"}));
    o.cluster = Some(&c);
    let message = o.run().status.message.expect("test fixture");
    assert!(message.contains("spec.headGroupSpec: bad"), "{message}");
}

#[test]
fn ready_cluster_submits_over_http_and_runs() {
    let j = with_status(job(serde_json::json!({})), D::Initializing);
    let c = ready();
    let mut o = Obs::new(&j);
    o.cluster = Some(&c);
    let d = o.run();
    assert_eq!(state(&d), D::Running);
    assert_eq!(d.status.dashboard_url.as_deref(), Some(URL));
    assert_eq!(
        d.actions,
        vec![
            Action::EnsureJobHeadService,
            Action::SubmitOverHttp {
                dashboard_url: URL.into(),
                job_id: "sample-abcde".into()
            }
        ]
    );
}

#[test]
fn ready_cluster_creates_the_submitter_in_k8s_job_mode() {
    let j = with_status(
        job(serde_json::json!({"submissionMode": "K8sJobMode"})),
        D::Initializing,
    );
    let c = ready();
    let mut o = Obs::new(&j);
    o.cluster = Some(&c);
    let d = o.run();
    assert_eq!(state(&d), D::Running);
    assert_eq!(
        d.actions,
        vec![Action::EnsureJobHeadService, Action::CreateSubmitter]
    );
    let s = submitter(None);
    o.submitter = Some(&s);
    assert_eq!(
        o.run().actions,
        vec![Action::EnsureJobHeadService],
        "an existing submitter is kept"
    );
}

#[test]
fn terminal_ray_status_ends_the_job_with_rays_message() {
    let j = with_status(job(serde_json::json!({})), D::Running);
    let mut o = Obs::new(&j);
    o.ray_job = RayJobInfo::Found {
        status: JobStatus::Running,
        message: None,
        start_ms: None,
        end_ms: None,
    };
    let d = o.run();
    assert_eq!(state(&d), D::Running);
    assert_eq!(d.status.job_status, Some(JobStatus::Running));
    assert_eq!(d.requeue_after, Some(Duration::from_secs(3)));

    o.ray_job = RayJobInfo::Found {
        status: JobStatus::Succeeded,
        message: Some("Job finished successfully.".into()),
        start_ms: None,
        end_ms: None,
    };
    let d = o.run();
    assert_eq!(state(&d), D::Complete);
    assert_eq!(d.status.end_time, Some(Time(t(10))));

    o.ray_job = RayJobInfo::Found {
        status: JobStatus::Failed,
        message: Some("Job entrypoint command failed with exit code 3".into()),
        start_ms: None,
        end_ms: None,
    };
    let d = o.run();
    assert_eq!(state(&d), D::Failed);
    assert_eq!(d.status.reason, Some(JobFailedReason::AppFailed));
    assert_eq!(d.status.job_status, Some(JobStatus::Failed));
    assert!(
        d.status
            .message
            .expect("test fixture")
            .contains("exit code 3")
    );
}

#[test]
fn http_mode_resubmits_a_job_ray_does_not_know() {
    let j = with_status(job(serde_json::json!({})), D::Running);
    let mut o = Obs::new(&j);
    o.ray_job = RayJobInfo::NotFound;
    assert_eq!(
        o.run().actions,
        vec![Action::SubmitOverHttp {
            dashboard_url: URL.into(),
            job_id: "sample-abcde".into()
        }]
    );
}

#[test]
fn failed_submitter_fails_the_job_with_its_message() {
    let j = with_status(
        job(serde_json::json!({"submissionMode": "K8sJobMode"})),
        D::Running,
    );
    let s = submitter(Some((
        "Failed",
        "Job has reached the specified backoff limit",
    )));
    let mut o = Obs::new(&j);
    o.submitter = Some(&s);
    o.ray_job = RayJobInfo::NotFound;
    let d = o.run();
    assert_eq!(state(&d), D::Failed);
    assert_eq!(d.status.reason, Some(JobFailedReason::SubmissionFailed));
    assert!(
        d.status
            .message
            .expect("test fixture")
            .contains("backoff limit")
    );
}

#[test]
fn k8s_mode_waits_for_the_submitter_before_finishing() {
    let j = with_status(
        job(serde_json::json!({"submissionMode": "K8sJobMode"})),
        D::Running,
    );
    let running = submitter(None);
    let mut o = Obs::new(&j);
    o.submitter = Some(&running);
    o.ray_job = RayJobInfo::Found {
        status: JobStatus::Succeeded,
        message: None,
        start_ms: None,
        end_ms: None,
    };
    assert_eq!(state(&o.run()), D::Running);
    let done = submitter(Some(("Complete", "")));
    o.submitter = Some(&done);
    assert_eq!(state(&o.run()), D::Complete);
}

#[test]
fn deadline_fails_and_stops_the_ray_job() {
    let j = with_status(
        job(serde_json::json!({"activeDeadlineSeconds": 60})),
        D::Running,
    );
    let mut o = Obs::new(&j);
    let d = o.run();
    assert_eq!(state(&d), D::Running);
    assert_eq!(d.requeue_after, Some(Duration::from_secs(3)));
    o.now = t(60);
    let d = o.run();
    assert_eq!(state(&d), D::Failed);
    assert_eq!(d.status.reason, Some(JobFailedReason::DeadlineExceeded));
    assert_eq!(
        d.actions,
        vec![Action::StopRayJob {
            dashboard_url: URL.into(),
            job_id: "sample-abcde".into()
        }]
    );
}

#[test]
fn deadline_wakes_the_controller_while_initializing() {
    let j = with_status(
        job(serde_json::json!({"activeDeadlineSeconds": 60})),
        D::Initializing,
    );
    let c = cluster(serde_json::json!({}));
    let mut o = Obs::new(&j);
    o.cluster = Some(&c);
    assert_eq!(o.run().requeue_after, Some(Duration::from_secs(50)));
    o.now = t(61);
    let d = o.run();
    assert_eq!(d.status.reason, Some(JobFailedReason::DeadlineExceeded));
    assert!(d.actions.is_empty(), "nothing was submitted yet");
}

#[test]
fn failing_status_checks_are_tolerated_for_a_bounded_time() {
    let j = with_status(job(serde_json::json!({})), D::Running);
    let mut o = Obs::new(&j);
    o.ray_job = RayJobInfo::Unreachable("timed out after 2s".into());
    let d = o.run();
    assert_eq!(state(&d), D::Running);
    assert_eq!(d.status_check_failing_since, Some(t(10)));
    o.failing_since = Some(t(10));
    o.now = t(10 + STATUS_CHECK_TIMEOUT.as_secs() as i64 - 1);
    assert_eq!(state(&o.run()), D::Running);
    o.now = t(10 + STATUS_CHECK_TIMEOUT.as_secs() as i64);
    let d = o.run();
    assert_eq!(state(&d), D::Failed);
    assert_eq!(
        d.status.reason,
        Some(JobFailedReason::JobStatusCheckTimeoutExceeded)
    );
    assert_eq!(
        d.status_check_failing_since, None,
        "a failed RayJob keeps no window"
    );
    assert!(
        d.status
            .message
            .expect("test fixture")
            .contains("timed out after 2s")
    );
    o.ray_job = RayJobInfo::Found {
        status: JobStatus::Running,
        message: None,
        start_ms: None,
        end_ms: None,
    };
    o.now = t(20);
    assert_eq!(o.run().status_check_failing_since, None);
}

#[test]
fn ttl_deletes_the_cluster_at_the_right_time() {
    let mut j = with_status(
        job(serde_json::json!({"shutdownAfterJobFinishes": true, "ttlSecondsAfterFinished": 30})),
        D::Complete,
    );
    j.status.as_mut().expect("test fixture").end_time = Some(Time(t(100)));
    let c = ready();
    let mut o = Obs::new(&j);
    o.cluster = Some(&c);
    o.now = t(110);
    let d = o.run();
    assert!(d.actions.is_empty());
    assert_eq!(d.requeue_after, Some(Duration::from_secs(20)));
    o.now = t(130);
    let d = o.run();
    assert!(
        matches!(&d.actions[..], [Action::DeleteCluster { name, .. }] if name == "sample-fghij")
    );
    assert_eq!(d.requeue_after, None);
}

#[test]
fn finished_job_keeps_its_cluster_without_shutdown() {
    let j = with_status(job(serde_json::json!({})), D::Failed);
    let c = ready();
    let mut o = Obs::new(&j);
    o.cluster = Some(&c);
    o.now = t(100_000);
    let d = o.run();
    assert!(d.actions.is_empty());
    assert_eq!(d.requeue_after, None);
}

#[test]
fn selected_cluster_is_never_deleted() {
    let j = with_status(
        job(serde_json::json!({
            "rayClusterSpec": null,
            "clusterSelector": {"ray.io/cluster": "sample-fghij"},
            "shutdownAfterJobFinishes": true
        })),
        D::Complete,
    );
    let c = ready();
    let mut o = Obs::new(&j);
    o.cluster = Some(&c);
    o.now = t(100_000);
    assert!(o.run().actions.is_empty());

    let j = with_status(
        job(serde_json::json!({
            "rayClusterSpec": null,
            "clusterSelector": {"ray.io/cluster": "sample-fghij"}
        })),
        D::Initializing,
    );
    let mut o = Obs::new(&j);
    let d = o.run();
    assert!(
        d.actions.is_empty(),
        "a missing selected cluster is not created"
    );
    assert!(
        d.status
            .message
            .expect("test fixture")
            .contains("clusterSelector")
    );
    o.cluster = Some(&c);
    assert!(matches!(
        &o.run().actions[..],
        [Action::SubmitOverHttp { .. }]
    ));
}

#[test]
fn suspend_stops_deletes_and_resume_starts_over() {
    let j = with_status(
        job(serde_json::json!({"suspend": true, "shutdownAfterJobFinishes": true})),
        D::Running,
    );
    let d = Obs::new(&j).run();
    assert_eq!(state(&d), D::Suspending);

    let mut j = j;
    j.status
        .as_mut()
        .expect("test fixture")
        .job_deployment_status = Some(D::Suspending);
    let c = ready();
    let mut o = Obs::new(&j);
    o.cluster = Some(&c);
    let d = o.run();
    assert_eq!(state(&d), D::Suspending);
    assert_eq!(
        d.actions,
        vec![
            Action::StopRayJob {
                dashboard_url: URL.into(),
                job_id: "sample-abcde".into()
            },
            Action::DeleteCluster {
                name: "sample-fghij".into(),
                reason: "the RayJob is suspended".into()
            }
        ]
    );
    o.cluster = None;
    let d = o.run();
    assert_eq!(state(&d), D::Suspended);
    assert_eq!(d.status.job_id, None);
    assert_eq!(d.status.ray_cluster_name, None);

    let mut j = with_status(
        job(serde_json::json!({"shutdownAfterJobFinishes": true})),
        D::Suspended,
    );
    let d = Obs::new(&j).run();
    assert_eq!(state(&d), D::New);
    assert_eq!(d.status.job_id, None, "a new job id is generated on resume");
    j.status = Some(d.status);
    let d = Obs::new(&j).run();
    assert_eq!(state(&d), D::Initializing);
    assert_eq!(d.status.job_id.as_deref(), Some("sample-xyz12"));
}

#[test]
fn a_suspended_new_job_creates_nothing() {
    let j = job(serde_json::json!({"suspend": true, "shutdownAfterJobFinishes": true}));
    let d = Obs::new(&j).run();
    assert_eq!(state(&d), D::Suspended);
    assert!(d.actions.is_empty());
}

#[test]
fn deleting_stops_a_ray_job_that_may_still_run() {
    let running = with_status(job(serde_json::json!({})), D::Running);
    let mut status = running.status.unwrap_or_default();
    assert_eq!(
        on_deletion(&status),
        Some(Action::StopRayJob {
            dashboard_url: URL.into(),
            job_id: "sample-abcde".into()
        })
    );
    status.job_status = Some(JobStatus::Succeeded);
    assert_eq!(on_deletion(&status), None, "Ray already finished it");
    let initializing = with_status(job(serde_json::json!({})), D::Initializing);
    assert_eq!(
        on_deletion(&initializing.status.unwrap_or_default()),
        None,
        "no dashboard address yet: nothing was submitted"
    );
}

fn finished_job(extra_spec: serde_json::Value, state: D, ray_status: JobStatus) -> RayJob {
    let mut job = with_status(job(extra_spec), state);
    if let Some(status) = job.status.as_mut() {
        status.job_status = Some(ray_status);
        status.end_time = Some(Time(t(0)));
    }
    job
}

fn found(status: JobStatus) -> RayJobInfo {
    RayJobInfo::Found {
        status,
        message: Some("Job entrypoint command failed with exit code 1".into()),
        start_ms: Some(1_800_000_001_000),
        end_ms: None,
    }
}

#[test]
fn a_failure_within_the_backoff_limit_is_retried_and_counted() {
    let j = with_status(job(serde_json::json!({"backoffLimit": 2})), D::Running);
    let c = ready();
    let mut o = Obs::new(&j);
    o.cluster = Some(&c);
    o.ray_job = found(JobStatus::Failed);
    let d = o.run();
    assert_eq!(state(&d), D::Retrying);
    assert_eq!(d.status.failed, Some(1));
    assert_eq!(d.status.succeeded, Some(0));
    assert_eq!(d.status.reason, Some(JobFailedReason::AppFailed));
    let info = d
        .status
        .ray_job_info
        .as_ref()
        .and_then(|i| i.start_time.clone());
    assert_eq!(info, Some(Time(t(1))));
    assert!(
        d.status
            .message
            .as_deref()
            .is_some_and(|m| m.contains("attempt 2 of 3")),
        "{:?}",
        d.status.message
    );
}

#[test]
fn the_last_allowed_failure_ends_the_rayjob_failed() {
    let mut j = with_status(job(serde_json::json!({"backoffLimit": 2})), D::Running);
    if let Some(s) = j.status.as_mut() {
        s.failed = Some(2);
    }
    let c = ready();
    let mut o = Obs::new(&j);
    o.cluster = Some(&c);
    o.ray_job = found(JobStatus::Failed);
    let d = o.run();
    assert_eq!(state(&d), D::Failed);
    assert_eq!(d.status.failed, Some(3));
    assert_eq!(d.status.reason, Some(JobFailedReason::AppFailed));
}

#[test]
fn a_deadline_exceeded_failure_is_never_retried() {
    let j = with_status(
        job(serde_json::json!({"backoffLimit": 5, "activeDeadlineSeconds": 5})),
        D::Running,
    );
    let d = Obs::new(&j).run();
    assert_eq!(state(&d), D::Failed);
    assert_eq!(d.status.reason, Some(JobFailedReason::DeadlineExceeded));
    assert_eq!(d.status.failed, Some(1));
}

#[test]
fn a_success_is_counted() {
    let j = with_status(job(serde_json::json!({"backoffLimit": 1})), D::Running);
    let c = ready();
    let mut o = Obs::new(&j);
    o.cluster = Some(&c);
    o.ray_job = found(JobStatus::Succeeded);
    let d = o.run();
    assert_eq!(state(&d), D::Complete);
    assert_eq!((d.status.succeeded, d.status.failed), (Some(1), Some(0)));
}

#[test]
fn retrying_releases_the_cluster_then_starts_over_keeping_the_counts() {
    let mut j = with_status(job(serde_json::json!({"backoffLimit": 2})), D::Retrying);
    if let Some(s) = j.status.as_mut() {
        s.failed = Some(1);
        s.succeeded = Some(0);
    }
    let c = ready();
    let mut o = Obs::new(&j);
    o.cluster = Some(&c);
    let d = o.run();
    assert_eq!(state(&d), D::Retrying);
    assert!(
        d.actions
            .iter()
            .any(|a| matches!(a, Action::DeleteCluster { name, .. } if name == "sample-fghij"))
    );

    let d = Obs::new(&j).run();
    assert_eq!(state(&d), D::New);
    assert_eq!(d.status.failed, Some(1));
    assert_eq!(d.status.job_id, None);
    assert_eq!(d.status.ray_cluster_name, None);
    assert!(d.actions.is_empty());
}

#[test]
fn interactive_mode_waits_for_the_users_job_id_then_follows_it() {
    let spec = serde_json::json!({"submissionMode": "InteractiveMode", "entrypoint": null});
    let fresh = job(spec.clone());
    let d = Obs::new(&fresh).run();
    assert_eq!(state(&d), D::Initializing);
    assert_eq!(
        d.status.job_id, None,
        "the user submits: no id is generated"
    );

    let mut j = with_status(job(spec.clone()), D::Initializing);
    if let Some(s) = j.status.as_mut() {
        s.job_id = None;
    }
    let c = ready();
    let mut o = Obs::new(&j);
    o.cluster = Some(&c);
    let d = o.run();
    assert_eq!(state(&d), D::Waiting);
    assert!(
        !d.actions
            .iter()
            .any(|a| matches!(a, Action::SubmitOverHttp { .. } | Action::CreateSubmitter))
    );
    assert!(
        d.status
            .message
            .as_deref()
            .is_some_and(|m| m.contains("spec.jobId"))
    );

    let mut spec = spec;
    spec["jobId"] = "raysubmit_123".into();
    let j = with_status(job(spec), D::Waiting);
    let mut o = Obs::new(&j);
    o.cluster = Some(&c);
    let d = o.run();
    assert_eq!(state(&d), D::Running);
    assert_eq!(d.status.job_id.as_deref(), Some("raysubmit_123"));
}

#[test]
fn the_pre_running_deadline_fails_a_rayjob_stuck_before_running() {
    let spec =
        serde_json::json!({"preRunningDeadlineSeconds": 5, "submissionMode": "InteractiveMode"});
    let j = with_status(job(spec.clone()), D::Waiting);
    let d = Obs::new(&j).run();
    assert_eq!(state(&d), D::Failed);
    assert_eq!(
        d.status.reason,
        Some(JobFailedReason::PreRunningDeadlineExceeded)
    );

    let j = with_status(job(spec), D::Initializing);
    let mut o = Obs::new(&j);
    o.now = t(2);
    let d = o.run();
    assert_eq!(state(&d), D::Initializing);
    assert!(d.requeue_after.is_some_and(|r| r <= Duration::from_secs(3)));
}

#[test]
fn sidecar_mode_follows_the_submitter_container() {
    let spec = serde_json::json!({"submissionMode": "SidecarMode"});
    let j = with_status(job(spec), D::Running);
    let c = ready();

    let mut o = Obs::new(&j);
    o.cluster = Some(&c);
    o.sidecar = SidecarSubmitter::Exited {
        exit_code: 1,
        reason: "Error".into(),
    };
    o.ray_job = RayJobInfo::NotFound;
    let d = o.run();
    assert_eq!(state(&d), D::Failed);
    assert_eq!(d.status.reason, Some(JobFailedReason::SubmissionFailed));

    o.sidecar = SidecarSubmitter::HeadPodMissing;
    let d = o.run();
    assert_eq!(state(&d), D::Failed);
    assert_eq!(d.status.reason, Some(JobFailedReason::AppFailed));

    o.sidecar = SidecarSubmitter::Running;
    o.ray_job = found(JobStatus::Succeeded);
    assert_eq!(
        state(&o.run()),
        D::Running,
        "the submitter still prints the logs"
    );

    o.sidecar = SidecarSubmitter::Exited {
        exit_code: 0,
        reason: "Completed".into(),
    };
    assert_eq!(state(&o.run()), D::Complete);
}

#[test]
fn the_job_head_service_is_pointed_at_each_attempts_cluster() {
    let j = with_status(job(serde_json::json!({})), D::Initializing);
    let c = ready();
    let mut o = Obs::new(&j);
    o.cluster = Some(&c);
    let d = o.run();
    assert_eq!(state(&d), D::Running);
    assert!(d.actions.contains(&Action::EnsureJobHeadService));

    let j = with_status(
        job(
            serde_json::json!({"clusterSelector": {"ray.io/cluster": "sample-fghij"}, "rayClusterSpec": null}),
        ),
        D::Initializing,
    );
    let mut o = Obs::new(&j);
    o.cluster = Some(&c);
    assert!(!o.run().actions.contains(&Action::EnsureJobHeadService));
}

fn cluster_with_workers(suspended: bool) -> RayCluster {
    let mut c = ready();
    c.spec.worker_group_specs = serde_json::from_value(serde_json::json!([{
        "groupName": "small", "replicas": 1, "minReplicas": 0, "maxReplicas": 2, "rayStartParams": {},
        "suspend": suspended,
        "template": {"spec": {"containers": [{"name": "ray-worker", "image": "rayproject/ray:2.9.0"}]}}
    }]))
    .expect("test fixture");
    c
}

fn rules() -> serde_json::Value {
    serde_json::json!({"deletionStrategy": {"deletionRules": [
        {"policy": "DeleteWorkers", "condition": {"jobStatus": "SUCCEEDED", "ttlSeconds": 30}},
        {"policy": "DeleteCluster", "condition": {"jobStatus": "SUCCEEDED", "ttlSeconds": 60}},
        {"policy": "DeleteSelf", "condition": {"jobStatus": "SUCCEEDED", "ttlSeconds": 90}},
        {"policy": "DeleteSelf", "condition": {"jobDeploymentStatus": "Failed", "ttlSeconds": 5}},
    ]}})
}

#[test]
fn deletion_rules_run_in_ttl_order_from_what_the_world_shows() {
    let j = finished_job(rules(), D::Complete, JobStatus::Succeeded);
    let live = cluster_with_workers(false);
    let scaled_down = cluster_with_workers(true);
    let mut o = Obs::new(&j);
    o.cluster = Some(&live);

    o.now = t(10);
    let d = o.run();
    assert!(d.actions.is_empty());
    assert_eq!(d.requeue_after, Some(Duration::from_secs(20)));

    o.now = t(31);
    let d = o.run();
    assert!(
        matches!(d.actions.as_slice(), [Action::DeleteWorkers { name, .. }] if name == "sample-fghij")
    );

    // After a restart: the workers are suspended, so that step is done; the next is due at 60 s.
    o.cluster = Some(&scaled_down);
    let d = o.run();
    assert!(d.actions.is_empty(), "{:?}", d.actions);
    assert_eq!(d.requeue_after, Some(Duration::from_secs(29)));

    o.now = t(61);
    let d = o.run();
    assert!(matches!(
        d.actions.as_slice(),
        [Action::DeleteCluster { .. }]
    ));

    // The cluster is gone; DeleteSelf at 90 s.
    o.cluster = None;
    o.now = t(91);
    assert!(matches!(
        o.run().actions.as_slice(),
        [Action::DeleteSelf { .. }]
    ));
}

#[test]
fn of_several_overdue_rules_the_most_far_reaching_runs_first() {
    let j = finished_job(rules(), D::Complete, JobStatus::Succeeded);
    let live = cluster_with_workers(false);
    let mut o = Obs::new(&j);
    o.cluster = Some(&live);
    o.now = t(500);
    assert!(matches!(
        o.run().actions.as_slice(),
        [Action::DeleteSelf { .. }]
    ));
}

#[test]
fn deployment_status_rules_match_a_rayjob_that_failed_before_its_job_ran() {
    let j = finished_job(rules(), D::Failed, JobStatus::Pending);
    let live = cluster_with_workers(false);
    let mut o = Obs::new(&j);
    o.cluster = Some(&live);
    o.now = t(6);
    assert!(matches!(
        o.run().actions.as_slice(),
        [Action::DeleteSelf { .. }]
    ));
}

#[test]
fn the_legacy_policy_follows_the_outcome() {
    let spec = serde_json::json!({"deletionStrategy": {
        "onSuccess": {"policy": "DeleteCluster"}, "onFailure": {"policy": "DeleteNone"}}});
    let live = cluster_with_workers(false);
    let ok = finished_job(spec.clone(), D::Complete, JobStatus::Succeeded);
    let mut o = Obs::new(&ok);
    o.cluster = Some(&live);
    assert!(matches!(
        o.run().actions.as_slice(),
        [Action::DeleteCluster { .. }]
    ));
    let failed = finished_job(spec, D::Failed, JobStatus::Failed);
    let mut o = Obs::new(&failed);
    o.cluster = Some(&live);
    assert!(o.run().actions.is_empty());
}

// The clock jumped backward: `now` lies before the times recorded in the status. Nothing may fail, run or be
// undone early, no duration may come out negative, and the controller asks to be woken when the (recorded) due
// time comes.

#[test]
fn a_clock_before_the_start_time_fails_no_deadline_early() {
    let spec = serde_json::json!({"activeDeadlineSeconds": 60, "preRunningDeadlineSeconds": 30});
    let j = with_status(job(spec.clone()), D::Running);
    let mut o = Obs::new(&j);
    o.now = t(-3600);
    let d = o.run();
    assert_eq!(state(&d), D::Running);
    assert_eq!(d.status.reason, None);
    assert!(d.actions.is_empty(), "{:?}", d.actions);
    assert_eq!(d.requeue_after, Some(Duration::from_secs(3)));

    let j = with_status(job(spec), D::Initializing);
    let c = cluster(serde_json::json!({}));
    let mut o = Obs::new(&j);
    o.cluster = Some(&c);
    o.now = t(-3600);
    let d = o.run();
    assert_eq!(state(&d), D::Initializing);
    // Woken when the earlier deadline (preRunningDeadlineSeconds) comes, measured from the jumped clock.
    assert_eq!(d.requeue_after, Some(Duration::from_secs(3630)));
    // And once the clock is past it again, the deadline applies.
    o.now = t(31);
    assert_eq!(
        o.run().status.reason,
        Some(JobFailedReason::PreRunningDeadlineExceeded)
    );
}

#[test]
fn a_clock_before_the_failure_window_started_does_not_end_it() {
    let j = with_status(job(serde_json::json!({})), D::Running);
    let mut o = Obs::new(&j);
    o.ray_job = RayJobInfo::Unreachable("connection refused".into());
    o.failing_since = Some(t(10));
    o.now = t(-3600);
    let d = o.run();
    assert_eq!(state(&d), D::Running);
    assert_eq!(d.status_check_failing_since, Some(t(10)));
    // The window keeps its recorded start: the timeout counts from it once the clock is back.
    o.now = t(10 + STATUS_CHECK_TIMEOUT.as_secs() as i64);
    assert_eq!(
        o.run().status.reason,
        Some(JobFailedReason::JobStatusCheckTimeoutExceeded)
    );
}

#[test]
fn a_clock_before_the_end_time_runs_and_undoes_no_deletion_rule() {
    let j = finished_job(rules(), D::Complete, JobStatus::Succeeded);
    let live = cluster_with_workers(false);
    let scaled_down = cluster_with_workers(true);
    let mut o = Obs::new(&j);
    o.cluster = Some(&live);
    o.now = t(-3600);
    let d = o.run();
    assert!(d.actions.is_empty(), "{:?}", d.actions);
    assert_eq!(d.status.job_deployment_status, Some(D::Complete));
    assert_eq!(
        d.status.end_time,
        Some(Time(t(0))),
        "the recorded end stays"
    );
    assert_eq!(d.requeue_after, Some(Duration::from_secs(3630)));

    // The workers were deleted before the jump: they stay deleted, and nothing else runs.
    o.cluster = Some(&scaled_down);
    let d = o.run();
    assert!(d.actions.is_empty(), "{:?}", d.actions);

    // The clock comes back past the cluster's TTL: the next step, once.
    o.now = t(61);
    assert!(matches!(
        o.run().actions.as_slice(),
        [Action::DeleteCluster { .. }]
    ));
}

#[test]
fn the_legacy_ttl_waits_out_a_clock_jumped_backward() {
    let mut j = with_status(
        job(serde_json::json!({"shutdownAfterJobFinishes": true, "ttlSecondsAfterFinished": 30})),
        D::Complete,
    );
    j.status.as_mut().expect("test fixture").end_time = Some(Time(t(100)));
    let c = ready();
    let mut o = Obs::new(&j);
    o.cluster = Some(&c);
    o.now = t(-10_000);
    let d = o.run();
    assert!(d.actions.is_empty());
    assert_eq!(d.requeue_after, Some(Duration::from_secs(10_130)));
}

#[test]
fn extreme_clocks_neither_panic_nor_fail_anything_early() {
    let spec = serde_json::json!({"activeDeadlineSeconds": i32::MAX, "preRunningDeadlineSeconds": i32::MAX});
    for now in [Timestamp::MIN, Timestamp::MAX] {
        for state_before in [D::New, D::Initializing, D::Running] {
            let j = with_status(job(spec.clone()), state_before);
            let mut o = Obs::new(&j);
            o.now = now;
            o.ray_job = RayJobInfo::Unreachable("down".into());
            o.failing_since = Some(t(0));
            let _ = o.run();
        }
        let j = finished_job(rules(), D::Complete, JobStatus::Succeeded);
        let mut o = Obs::new(&j);
        o.now = now;
        let d = o.run();
        if now == Timestamp::MIN {
            assert!(d.actions.is_empty(), "{:?}", d.actions);
        }
    }
}
