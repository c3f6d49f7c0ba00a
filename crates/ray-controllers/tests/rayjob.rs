//! The RayJob controller against the real local control plane (kwok makes the cluster's pods Running, so the
//! RayCluster controller, running alongside, reports it `ready`) and a real Ray head, which every RayCluster's
//! dashboard is mapped to through the dashboard URL override.
//!
//! Every scenario is a test of its own, with its own namespace and controllers; the Ray head is shared by the tests
//! of this file, which may run at the same time, so each creates RayJobs (and so Ray job ids) of its own names.
//!
//! kwok completes every pod a Job owns as soon as it runs, without running anything. The submitter scenarios that
//! need to decide the outcome themselves give the submitter pod a node selector no node matches, so it stays
//! `Pending`, and then write its status as a kubelet would: `Failed`, or `Succeeded` after the test submitted the Ray
//! job itself, as `ray job submit` in the pod would have.

mod common;

use common::{Controller, Scenario, until};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{DeleteParams, ListParams, Patch, PatchParams};
use kube::{Api, ResourceExt};
use ray_api_v1::rayjob::{JobDeploymentStatus, JobFailedReason, JobStatus, RayJob};
use ray_api_v1::{ClusterState, RayCluster};
use ray_controllers::rayjob::STATUS_CHECK_FAILING_SINCE_ANNOTATION;
use ray_dashboard_client::JobSubmitRequest;
use serde_json::json;

/// A node selector that matches no node, so the scheduler leaves the pod `Pending` and kwok never completes it.
const NO_NODE: &str = "ray-operator-test/no-such-node";

/// The controllers every scenario of this file runs (the RayJob controller's clusters need the RayCluster one).
const CONTROLLERS: &[Controller] = &[Controller::RayCluster, Controller::RayJob];

// The steps of the RayJob scenarios. The harness is a module of this test crate, so its type takes them here.
impl Scenario {
    fn jobs(&self) -> Api<RayJob> {
        self.api()
    }

    /// Ray's status of the job `job_id` on the head, e.g. `RUNNING` or `STOPPED`.
    async fn ray_status(&self, job_id: &str) -> Result<String, ray_dashboard_client::Error> {
        let details = self.dashboard().get_job(job_id).await?;
        Ok(details.status.as_str().to_owned())
    }

    async fn until_ray_status(&self, job_id: &str, wanted: &str) {
        until(
            &format!("Ray job {job_id} {wanted} on the head"),
            async || {
                let status = self.ray_status(job_id).await.map_err(|e| e.to_string())?;
                if status == wanted {
                    Ok(())
                } else {
                    Err(status)
                }
            },
        )
        .await
    }

    async fn until_state(&self, name: &str, state: JobDeploymentStatus) -> RayJob {
        until(&format!("RayJob {name} {state:?}"), async || {
            let job = self.jobs().get(name).await.map_err(|e| e.to_string())?;
            let status = job.status.clone().unwrap_or_default();
            if status.job_deployment_status == Some(state) {
                Ok(job)
            } else if status.job_deployment_status == Some(JobDeploymentStatus::Failed) {
                panic!("RayJob {name} failed while waiting for {state:?}: {status:?}")
            } else {
                Err(format!("{status:?}"))
            }
        })
        .await
    }

    /// Waits until the RayJob is `Failed` (which [`Scenario::until_state`] treats as an error).
    async fn until_failed(&self, name: &str) -> RayJob {
        until(&format!("RayJob {name} to fail"), async || {
            let job = self.jobs().get(name).await.map_err(|e| e.to_string())?;
            match job.status.as_ref().and_then(|s| s.job_deployment_status) {
                Some(JobDeploymentStatus::Failed) => Ok(job),
                other => Err(format!("{other:?}")),
            }
        })
        .await
    }

    /// Waits until the RayJob is `Running` and Ray runs its job; returns the job id.
    async fn until_ray_job_running(&self, name: &str) -> String {
        let job = self.until_state(name, JobDeploymentStatus::Running).await;
        let job_id = job.status.and_then(|s| s.job_id).unwrap_or_default();
        self.until_ray_status(&job_id, "RUNNING").await;
        job_id
    }

    async fn until_deleted(&self, name: &str) {
        until(&format!("RayJob {name} to disappear"), async || match self
            .jobs()
            .get_opt(name)
            .await
            .map_err(|e| e.to_string())?
        {
            None => Ok(()),
            Some(job) => Err(format!("finalizers {:?}", job.metadata.finalizers)),
        })
        .await
    }

    /// The one pod of the submitter Job `name`, once it exists.
    async fn submitter_pod(&self, name: &str) -> Pod {
        let pods: Api<Pod> = self.api();
        let selector = format!("batch.kubernetes.io/job-name={name}");
        until(&format!("the pod of submitter Job {name}"), async || {
            let list = pods
                .list(&ListParams::default().labels(&selector))
                .await
                .map_err(|e| e.to_string())?;
            list.items
                .into_iter()
                .next()
                .ok_or_else(|| "no pod yet".to_string())
        })
        .await
    }
}

fn cluster_spec() -> serde_json::Value {
    json!({"headGroupSpec": {"rayStartParams": {}, "template": {"spec": {"containers": [
        {"name": "ray-head", "image": "rayproject/ray:2.9.0"}]}}}})
}

/// A RayJob named `name` on a new cluster; `extra` is merged into its spec.
fn job(name: &str, mode: &str, entrypoint: &str, extra: serde_json::Value) -> RayJob {
    let mut spec = json!({
        "entrypoint": entrypoint,
        "submissionMode": mode,
        "rayClusterSpec": cluster_spec(),
    });
    if let (Some(spec), serde_json::Value::Object(extra)) = (spec.as_object_mut(), extra) {
        spec.extend(extra);
    }
    common::ray_object("RayJob", name, spec)
}

/// Extra spec of a K8sJobMode RayJob whose submitter pod stays `Pending` and is not retried.
fn pending_submitter() -> serde_json::Value {
    json!({
        "submitterConfig": {"backoffLimit": 0},
        "submitterPodTemplate": {"spec": {
            "nodeSelector": {NO_NODE: "true"},
            "containers": [{"name": "ray-job-submitter", "image": "rayproject/ray:2.9.0"}],
        }},
    })
}

/// HTTPMode: exit 0 → Complete/SUCCEEDED; exit 3 → Failed/FAILED with Ray's message; deleting a finished RayJob
/// goes through the finalizer and does not get stuck.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_mode_success_and_failure() {
    let env = Scenario::start("rj-http", CONTROLLERS).await;
    env.create(job(
        "succeeds",
        "HTTPMode",
        "echo hello from the rayjob test",
        json!({}),
    ))
    .await;
    env.create(job(
        "fails",
        "HTTPMode",
        "echo about to fail && exit 3",
        json!({}),
    ))
    .await;

    let done = env
        .until_state("succeeds", JobDeploymentStatus::Complete)
        .await;
    let status = done.status.unwrap_or_default();
    assert_eq!(status.job_status, Some(JobStatus::Succeeded));
    let job_id = status.job_id.unwrap_or_default();
    assert!(job_id.starts_with("succeeds-"), "{job_id}");
    assert_eq!(
        status.dashboard_url.as_deref(),
        Some(env.head().dashboard_url())
    );
    assert_eq!(
        env.ray_status(&job_id).await.ok().as_deref(),
        Some("SUCCEEDED")
    );

    let failed = env.until_failed("fails").await;
    let status = failed.status.unwrap_or_default();
    assert_eq!(status.job_status, Some(JobStatus::Failed));
    assert_eq!(status.reason, Some(JobFailedReason::AppFailed));
    let message = status.message.unwrap_or_default();
    assert!(message.contains("exit code 3"), "{message}");

    env.jobs()
        .delete("succeeds", &DeleteParams::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    env.until_deleted("succeeds").await;
    env.finish().await;
}

/// `activeDeadlineSeconds` fails a long job with `DeadlineExceeded`, and the Ray job is stopped on the head.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deadline_stops_the_ray_job() {
    let env = Scenario::start("rj-deadline", CONTROLLERS).await;
    let name = "deadline";
    env.create(job(
        name,
        "HTTPMode",
        "sleep 600",
        json!({"activeDeadlineSeconds": 15}),
    ))
    .await;
    let job_id = env
        .until_state(name, JobDeploymentStatus::Running)
        .await
        .status
        .and_then(|s| s.job_id)
        .unwrap_or_default();
    let failed = env.until_failed(name).await;
    let status = failed.status.unwrap_or_default();
    assert_eq!(status.reason, Some(JobFailedReason::DeadlineExceeded));
    let message = status.message.unwrap_or_default();
    assert!(message.contains("activeDeadlineSeconds (15s)"), "{message}");
    let (start, end) = (status.start_time.map(|t| t.0), status.end_time.map(|t| t.0));
    let ran = start
        .zip(end)
        .map(|(s, e)| s.duration_until(e))
        .unwrap_or_default();
    assert!(ran >= SignedDuration::from_secs(14), "ran for {ran}");
    env.until_ray_status(&job_id, "STOPPED").await;
    env.finish().await;
}

/// Deleting a RayJob whose Ray job runs stops the Ray job (through the finalizer) before the RayJob goes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_running_rayjob_stops_the_ray_job() {
    let env = Scenario::start("rj-delete", CONTROLLERS).await;
    let name = "deleted-while-running";
    env.create(job(name, "HTTPMode", "sleep 600", json!({})))
        .await;
    let job_id = env.until_ray_job_running(name).await;
    env.jobs()
        .delete(name, &DeleteParams::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    env.until_deleted(name).await;
    env.until_ray_status(&job_id, "STOPPED").await;
    env.finish().await;
}

/// K8sJobMode: the submitter Job runs `ray job submit` for our id against the cluster's dashboard. kwok completes
/// its pod without running it, so the Job completes while Ray never saw the job: the RayJob fails saying so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submitter_command_and_env() {
    let env = Scenario::start("rj-submitter", CONTROLLERS).await;
    let name = "submitter";
    env.create(job(name, "K8sJobMode", "python -c 'print(1)'", json!({})))
        .await;
    let submitters: Api<Job> = env.api();
    let submitter = until("the submitter Job", async || {
        submitters
            .get_opt(name)
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| "not yet".to_string())
    })
    .await;
    let finished = env.until_failed(name).await;
    let status = finished.status.unwrap_or_default();
    assert_eq!(status.reason, Some(JobFailedReason::AppFailed));
    let message = status.message.unwrap_or_default();
    assert!(message.contains("Ray job is not found"), "{message}");
    let job_id = status.job_id.unwrap_or_default();
    let container = submitter
        .spec
        .and_then(|s| s.template.spec)
        .and_then(|s| s.containers.into_iter().next())
        .unwrap_or_else(|| panic!("the submitter has a container"));
    let command = container.args.unwrap_or_default().join(" ");
    assert!(command.contains("ray job submit"), "{command}");
    assert!(command.contains(&job_id), "{command}");
    let env_vars = container.env.unwrap_or_default();
    assert!(
        env_vars
            .iter()
            .any(|e| e.name == "RAY_JOB_SUBMISSION_ID" && e.value.as_deref() == Some(&job_id))
    );
    env.finish().await;
}

/// K8sJobMode: the submitter pod fails, its Job exhausts `submitterConfig.backoffLimit` (0) and fails, and the
/// RayJob fails with `SubmissionFailed` carrying the Job's message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submitter_failure_is_submission_failed() {
    let env = Scenario::start("rj-submitter-fails", CONTROLLERS).await;
    let name = "submitter-fails";
    env.create(job(
        name,
        "K8sJobMode",
        "python -c 'print(1)'",
        pending_submitter(),
    ))
    .await;
    let pod = env.submitter_pod(name).await;
    env.until_state(name, JobDeploymentStatus::Running).await;
    ray_testenv::fail_pod(&env.client, &env.namespace, &pod.name_any(), 1, "Error")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let failed = env.until_failed(name).await;
    let status = failed.status.unwrap_or_default();
    assert_eq!(status.reason, Some(JobFailedReason::SubmissionFailed));
    let submitters: Api<Job> = env.api();
    let submitter = submitters.get(name).await.unwrap_or_else(|e| panic!("{e}"));
    let job_message = submitter
        .status
        .and_then(|s| s.conditions)
        .unwrap_or_default()
        .into_iter()
        .find(|c| c.type_ == "Failed" && c.status == "True")
        .and_then(|c| c.message)
        .unwrap_or_else(|| panic!("the submitter Job has a Failed condition with a message"));
    let message = status.message.unwrap_or_default();
    assert!(
        message.contains(&job_message),
        "{message:?} does not carry the Job's message {job_message:?}"
    );
    env.finish().await;
}

/// K8sJobMode: the Ray job (submitted here, as `ray job submit` in the submitter pod would) succeeds, but the
/// RayJob stays `Running` until the submitter finishes too; once its pod succeeds, the RayJob is `Complete`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submitter_success_completes() {
    let env = Scenario::start("rj-submitter-succeeds", CONTROLLERS).await;
    let name = "submitter-succeeds";
    env.create(job(
        name,
        "K8sJobMode",
        "echo submitted",
        pending_submitter(),
    ))
    .await;
    let pod = env.submitter_pod(name).await;
    let running = env.until_state(name, JobDeploymentStatus::Running).await;
    let job_id = running.status.and_then(|s| s.job_id).unwrap_or_default();
    let request = JobSubmitRequest::new("echo submitted by the test").with_submission_id(&job_id);
    env.dashboard()
        .submit_job(&request)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    until(
        "RayJob submitter-succeeds to mirror SUCCEEDED",
        async || {
            let job = env.jobs().get(name).await.map_err(|e| e.to_string())?;
            let status = job.status.unwrap_or_default();
            if status.job_status == Some(JobStatus::Succeeded) {
                assert_eq!(
                    status.job_deployment_status,
                    Some(JobDeploymentStatus::Running),
                    "the RayJob must wait for its submitter"
                );
                Ok(())
            } else {
                Err(format!("{status:?}"))
            }
        },
    )
    .await;

    let pods: Api<Pod> = env.api();
    let now = Timestamp::now().to_string();
    let succeeded = json!({"status": {
        "phase": "Succeeded",
        "conditions": [{"type": "Ready", "status": "False", "reason": "PodCompleted", "lastTransitionTime": now}],
        "containerStatuses": [{
            "name": "ray-job-submitter", "image": "rayproject/ray:2.9.0", "imageID": "", "ready": false,
            "restartCount": 0, "started": false,
            "state": {"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": now, "finishedAt": now}},
        }],
    }});
    pods.patch_status(
        &pod.name_any(),
        &PatchParams::default(),
        &Patch::Strategic(succeeded),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let done = env.until_state(name, JobDeploymentStatus::Complete).await;
    let status = done.status.unwrap_or_default();
    assert_eq!(status.job_status, Some(JobStatus::Succeeded));
    assert_eq!(status.reason, None);
    env.finish().await;
}

/// `shutdownAfterJobFinishes` with `ttlSecondsAfterFinished`: the cluster stays until the TTL has passed after the
/// end, then it is deleted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_is_deleted_after_the_ttl() {
    let env = Scenario::start("rj-ttl", CONTROLLERS).await;
    let name = "ttl";
    let ttl = 4;
    env.create(job(
        name,
        "HTTPMode",
        "echo short",
        json!({"shutdownAfterJobFinishes": true, "ttlSecondsAfterFinished": ttl}),
    ))
    .await;
    let done = env.until_state(name, JobDeploymentStatus::Complete).await;
    let status = done.status.unwrap_or_default();
    let cluster = status.ray_cluster_name.unwrap_or_default();
    // endTime has whole seconds, so it may be up to a second before the real end: the deadline is never late.
    let due = status
        .end_time
        .map(|t| t.0)
        .unwrap_or_else(|| panic!("a Complete RayJob has an endTime"))
        + SignedDuration::from_secs(ttl);
    let clusters: Api<RayCluster> = env.api();
    if Timestamp::now() < due {
        let kept = clusters
            .get_opt(&cluster)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(
            kept.is_some_and(|c| c.metadata.deletion_timestamp.is_none()),
            "RayCluster {cluster} was deleted before ttlSecondsAfterFinished"
        );
    }
    env.until_cluster_deleted(&cluster).await;
    let now = Timestamp::now();
    assert!(now >= due, "deleted at {now}, before {due}");
    env.finish().await;
}

/// `clusterSelector`: the job runs on an existing RayCluster, which is neither deleted when the job finishes (even
/// with `shutdownAfterJobFinishes`) nor when the RayJob is deleted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_selector_uses_an_existing_cluster_and_keeps_it() {
    let env = Scenario::start("rj-selector", CONTROLLERS).await;
    let existing = "existing";
    let clusters: Api<RayCluster> = env.api();
    env.create::<RayCluster>(common::ray_object("RayCluster", existing, cluster_spec()))
        .await;
    let name = "on-existing";
    let mut on_existing = job(
        name,
        "HTTPMode",
        "echo on an existing cluster",
        json!({"shutdownAfterJobFinishes": true, "clusterSelector": {"ray.io/cluster": existing}}),
    );
    on_existing.spec.ray_cluster_spec = None;
    env.create(on_existing).await;
    let done = env.until_state(name, JobDeploymentStatus::Complete).await;
    let status = done.status.unwrap_or_default();
    assert_eq!(status.ray_cluster_name.as_deref(), Some(existing));
    assert_eq!(status.job_status, Some(JobStatus::Succeeded));
    let mirrored = status.ray_cluster_status.and_then(|s| s.state);
    assert_eq!(mirrored, Some(ClusterState::Ready));

    env.jobs()
        .delete(name, &DeleteParams::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    env.until_deleted(name).await;
    let kept = clusters
        .get_opt(existing)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("RayCluster {existing} was deleted"));
    assert_eq!(kept.metadata.deletion_timestamp, None);
    assert_eq!(kept.metadata.owner_references, None);
    env.finish().await;
}

/// `suspend` stops the Ray job, deletes the cluster and ends `Suspended`; clearing it starts over with a new job id
/// and a new cluster, and the new job runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suspend_stops_and_resume_starts_over() {
    let env = Scenario::start("rj-suspend", CONTROLLERS).await;
    let name = "suspended";
    env.create(job(
        name,
        "HTTPMode",
        "sleep 600",
        json!({"shutdownAfterJobFinishes": true}),
    ))
    .await;
    let first_id = env.until_ray_job_running(name).await;
    let first_cluster = env
        .jobs()
        .get(name)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .status
        .and_then(|s| s.ray_cluster_name)
        .unwrap_or_default();
    env.patch_spec::<RayJob>(name, json!({"suspend": true}))
        .await;
    let suspended = env.until_state(name, JobDeploymentStatus::Suspended).await;
    let status = suspended.status.unwrap_or_default();
    assert_eq!(status.job_id, None);
    assert_eq!(status.ray_cluster_name, None);
    env.until_ray_status(&first_id, "STOPPED").await;
    let clusters: Api<RayCluster> = env.api();
    let gone = clusters
        .get_opt(&first_cluster)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        gone.is_none(),
        "RayCluster {first_cluster} still exists after suspension"
    );

    env.patch_spec::<RayJob>(name, json!({"suspend": false}))
        .await;
    let second_id = env.until_ray_job_running(name).await;
    assert_ne!(second_id, first_id);
    let resumed = env.jobs().get(name).await.unwrap_or_else(|e| panic!("{e}"));
    let second_cluster = resumed
        .status
        .and_then(|s| s.ray_cluster_name)
        .unwrap_or_default();
    assert!(
        !second_cluster.is_empty() && second_cluster != first_cluster,
        "{second_cluster}"
    );
    env.jobs()
        .delete(name, &DeleteParams::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    env.until_ray_status(&second_id, "STOPPED").await;
    env.finish().await;
}

/// The status-check failure window is recorded on the RayJob, so it survives an operator restart: a RayJob whose
/// dashboard stops answering records when the failures began, and a recorded start older than the tolerance
/// (as after a restart long after the failures began) fails it with `JobStatusCheckTimeoutExceeded`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_check_window_survives_a_restart() {
    let env = Scenario::start("rj-status-check", CONTROLLERS).await;
    let name = "unreachable";
    env.create(job(name, "HTTPMode", "sleep 600", json!({})))
        .await;
    let job_id = env.until_ray_job_running(name).await;
    // The dashboard of this RayJob stops answering (nothing listens on port 1).
    env.jobs()
        .patch_status(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"dashboardURL": "http://127.0.0.1:1"}})),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let since = until("the failure window to be recorded", async || {
        let job = env.jobs().get(name).await.map_err(|e| e.to_string())?;
        job.annotations()
            .get(STATUS_CHECK_FAILING_SINCE_ANNOTATION)
            .cloned()
            .ok_or_else(|| "no annotation yet".to_string())
    })
    .await;
    let since: Timestamp = since.parse().unwrap_or_else(|e| panic!("{since}: {e}"));
    assert!(
        since <= Timestamp::now(),
        "the window starts in the past: {since}"
    );
    assert_eq!(
        env.jobs()
            .get(name)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .status
            .and_then(|s| s.job_deployment_status),
        Some(JobDeploymentStatus::Running)
    );
    let long_ago = (Timestamp::now() - SignedDuration::from_secs(600)).to_string();
    env.jobs()
        .patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"annotations": {
                STATUS_CHECK_FAILING_SINCE_ANNOTATION: long_ago}}})),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let failed = env.until_failed(name).await;
    let status = failed.status.unwrap_or_default();
    assert_eq!(
        status.reason,
        Some(JobFailedReason::JobStatusCheckTimeoutExceeded)
    );
    let message = status.message.unwrap_or_default();
    assert!(message.contains(&long_ago[..19]), "{message}");
    // A finished RayJob keeps no failure window.
    until("the failure window to be cleared", async || {
        let job = env.jobs().get(name).await.map_err(|e| e.to_string())?;
        match job.annotations().get(STATUS_CHECK_FAILING_SINCE_ANNOTATION) {
            None => Ok(()),
            Some(value) => Err(value.clone()),
        }
    })
    .await;
    let _ = env.dashboard().stop_job(&job_id).await;
    env.finish().await;
}
