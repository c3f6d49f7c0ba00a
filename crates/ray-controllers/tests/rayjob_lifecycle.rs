//! The KubeRay 1.7 RayJob lifecycle against the local control plane and the real Ray head: retries with
//! `backoffLimit`, deletion rules across an operator restart, `InteractiveMode` driven by the real `ray job submit`,
//! and `SidecarMode`'s head pod. As in `rayjob.rs`, kwok makes pods Running and every cluster's dashboard is the
//! shared local Ray head.

mod common;

use common::{Controller, Scenario, until};
use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{ListParams, Patch, PatchParams};
use kube::{Api, ResourceExt};
use ray_api_v1::RayCluster;
use ray_api_v1::rayjob::{JobDeploymentStatus, JobStatus, RayJob};
use ray_dashboard_client::JobSubmitRequest;
use serde_json::json;

const CONTROLLERS: &[Controller] = &[Controller::RayCluster, Controller::RayJob];

fn cluster_spec(workers: i32) -> serde_json::Value {
    let mut spec = json!({"headGroupSpec": {"rayStartParams": {}, "template": {"spec": {"containers": [
        {"name": "ray-head", "image": common::RAY_IMAGE}]}}}});
    if workers > 0 {
        spec["workerGroupSpecs"] = json!([common::worker_group("small", workers, 0, 4)]);
    }
    spec
}

fn job(name: &str, spec: serde_json::Value) -> RayJob {
    common::ray_object("RayJob", name, spec)
}

async fn get(env: &Scenario, name: &str) -> RayJob {
    env.api::<RayJob>()
        .get(name)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

async fn until_state(env: &Scenario, name: &str, state: JobDeploymentStatus) -> RayJob {
    let jobs: Api<RayJob> = env.api();
    until(&format!("RayJob {name} {state:?}"), async || {
        let job = jobs.get(name).await.map_err(|e| e.to_string())?;
        let status = job.status.clone().unwrap_or_default();
        if status.job_deployment_status == Some(state) {
            Ok(job)
        } else {
            Err(format!("{status:?}"))
        }
    })
    .await
}

fn status_of(job: &RayJob) -> ray_api_v1::RayJobStatus {
    job.status.clone().unwrap_or_default()
}

/// backoffLimit 2: the entrypoint fails on its first two runs and succeeds on the third; each attempt runs on a
/// RayCluster of its own with a Ray job id of its own, and the counts end in the status.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_failing_twice_succeeds_on_its_third_cluster() {
    let env = Scenario::start("rj-backoff", CONTROLLERS).await;
    let name = "flaky";
    // The attempt counter lives on the Ray head's disk, which every attempt's job shares.
    let counter = std::env::temp_dir().join(format!("{}-attempts", env.namespace));
    let _ = std::fs::remove_file(&counter);
    let path = counter.display();
    let entrypoint = format!(
        "n=$(cat {path} 2>/dev/null || echo 0); n=$((n+1)); echo $n > {path}; echo attempt $n; test $n -ge 3"
    );
    env.create(job(
        name,
        json!({"entrypoint": entrypoint, "submissionMode": "HTTPMode", "backoffLimit": 2,
            "rayClusterSpec": cluster_spec(0)}),
    ))
    .await;

    // Watch the attempts go by: every cluster and job id the RayJob used.
    let mut clusters = std::collections::BTreeSet::new();
    let mut job_ids = std::collections::BTreeSet::new();
    let done = until("RayJob flaky Complete", async || {
        let job = get(&env, name).await;
        let status = status_of(&job);
        clusters.extend(status.ray_cluster_name.clone());
        job_ids.extend(status.job_id.clone());
        match status.job_deployment_status {
            Some(JobDeploymentStatus::Complete) => Ok(job),
            Some(JobDeploymentStatus::Failed) => panic!("the RayJob failed: {status:?}"),
            other => Err(format!("{other:?}, failed {:?}", status.failed)),
        }
    })
    .await;
    let status = status_of(&done);
    assert_eq!(status.job_status, Some(JobStatus::Succeeded));
    assert_eq!((status.succeeded, status.failed), (Some(1), Some(2)));
    // Each retry is a transition with its Event (polling the status could miss the short Retrying state).
    env.until_event_count("Retrying", "retrying on a new RayCluster", 2)
        .await;
    let attempts = std::fs::read_to_string(&counter).unwrap_or_default();
    assert_eq!(attempts.trim(), "3", "the entrypoint ran {attempts} times");

    // Three clusters were created (the two failed attempts' are deleted), with three Ray job ids on the head.
    env.until_event_count("CreatedRayCluster", name, 3).await;
    assert_eq!(env.event_count("CreatedRayCluster", name).await, 3);
    assert!(!clusters.is_empty());
    let ray_jobs: Vec<_> = env
        .dashboard()
        .list_jobs()
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .into_iter()
        .filter(|j| j.entrypoint.as_deref() == Some(entrypoint.as_str()))
        .collect();
    let mut statuses: Vec<_> = ray_jobs
        .iter()
        .map(|j| j.status.as_str().to_owned())
        .collect();
    statuses.sort();
    assert_eq!(statuses, ["FAILED", "FAILED", "SUCCEEDED"], "{ray_jobs:?}");
    let ids: std::collections::BTreeSet<_> = ray_jobs
        .iter()
        .filter_map(|j| j.submission_id.clone())
        .collect();
    assert_eq!(
        ids.len(),
        3,
        "every attempt has its own Ray job id: {ids:?}"
    );
    assert!(job_ids.is_subset(&ids), "{job_ids:?} not in {ids:?}");
    let live: Api<RayCluster> = env.api();
    let remaining: Vec<String> = live
        .list(&ListParams::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .items
        .into_iter()
        .filter(|c| c.metadata.deletion_timestamp.is_none())
        .map(|c| c.name_any())
        .collect();
    assert_eq!(
        remaining,
        vec![status.ray_cluster_name.clone().unwrap_or_default()],
        "only the successful attempt's cluster is left"
    );
    let _ = std::fs::remove_file(&counter);
    env.finish().await;
}

/// deletionRules DeleteWorkers (2 s) → DeleteCluster (8 s) → DeleteSelf (12 s) after success, with the operator
/// killed after the first step and started again before the second is due: every step happens once, none early.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deletion_rules_run_in_order_across_an_operator_restart() {
    let mut env = Scenario::start("rj-rules", CONTROLLERS).await;
    let name = "cleanup";
    let rule = |policy: &str, ttl: i32| json!({"policy": policy, "condition": {"jobStatus": "SUCCEEDED", "ttlSeconds": ttl}});
    env.create(job(
        name,
        json!({"entrypoint": "echo rules", "submissionMode": "HTTPMode",
            "rayClusterSpec": cluster_spec(2),
            "deletionStrategy": {"deletionRules": [
                rule("DeleteWorkers", 2), rule("DeleteCluster", 8), rule("DeleteSelf", 12)]}}),
    ))
    .await;
    let done = until_state(&env, name, JobDeploymentStatus::Complete).await;
    let status = status_of(&done);
    let cluster = status.ray_cluster_name.clone().unwrap_or_default();
    let end = status
        .end_time
        .map(|t| t.0)
        .unwrap_or_else(|| panic!("a Complete RayJob has an endTime"));
    let clusters: Api<RayCluster> = env.api();
    let pods: Api<Pod> = env.api();
    let workers = format!("ray.io/cluster={cluster},ray.io/node-type=worker");

    // Step 1: the workers go, the head stays.
    until("every worker group suspended", async || {
        let c = clusters.get(&cluster).await.map_err(|e| e.to_string())?;
        if c.spec
            .worker_group_specs
            .iter()
            .all(|g| g.suspend == Some(true))
        {
            Ok(())
        } else {
            Err("not yet".to_string())
        }
    })
    .await;
    assert!(Timestamp::now() >= end + SignedDuration::from_secs(2));
    until("the worker pods to be deleted", async || {
        let list = pods
            .list(&ListParams::default().labels(&workers))
            .await
            .map_err(|e| e.to_string())?;
        let live = list
            .items
            .iter()
            .filter(|p| p.metadata.deletion_timestamp.is_none())
            .count();
        if live == 0 {
            Ok(())
        } else {
            Err(format!("{live} left"))
        }
    })
    .await;

    // The operator dies and comes back before the cluster's turn.
    env.crash(Controller::RayJob).await;
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    env.run(Controller::RayJob).await;

    // Step 2: the cluster, not before its TTL.
    env.until_cluster_deleted(&cluster).await;
    let now = Timestamp::now();
    assert!(
        now >= end + SignedDuration::from_secs(8),
        "cluster deleted at {now}, end {end}"
    );
    assert!(
        env.api::<RayJob>()
            .get_opt(name)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .is_some(),
        "the RayJob went before its DeleteSelf TTL"
    );

    // Step 3: the RayJob itself.
    until("RayJob cleanup to delete itself", async || {
        match env
            .api::<RayJob>()
            .get_opt(name)
            .await
            .map_err(|e| e.to_string())?
        {
            None => Ok(()),
            Some(_) => Err("still there".to_string()),
        }
    })
    .await;
    let now = Timestamp::now();
    assert!(
        now >= end + SignedDuration::from_secs(12),
        "RayJob deleted at {now}, end {end}"
    );
    assert_eq!(env.event_count("DeletedWorkers", &cluster).await, 1);
    assert_eq!(env.event_count("DeletedRayCluster", &cluster).await, 1);
    env.finish().await;
}

/// InteractiveMode, as `kubectl ray job submit` drives it: the cluster comes up, the RayJob waits; the user submits
/// with the real `ray job submit` and records the submission id in `spec.jobId`; the RayJob follows that job to its
/// end. The RayJob's own head Service points at the cluster's head.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interactive_mode_follows_the_job_the_user_submitted() {
    let env = Scenario::start("rj-interactive", CONTROLLERS).await;
    let name = "interactive";
    env.create(job(
        name,
        json!({"submissionMode": "InteractiveMode", "rayClusterSpec": cluster_spec(0)}),
    ))
    .await;
    let waiting = until_state(&env, name, JobDeploymentStatus::Waiting).await;
    let status = status_of(&waiting);
    assert_eq!(status.job_id, None, "the operator must not pick the id");
    let cluster = status.ray_cluster_name.clone().unwrap_or_default();

    let submission_id = format!("{}-interactive", env.namespace);
    let layout = ray_testenv::Layout::from_env().unwrap_or_else(|e| panic!("{e}"));
    let ray = layout.ray_binary().path;
    let address = env.head().dashboard_url().to_owned();
    let id = submission_id.clone();
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(ray)
            .args([
                "job",
                "submit",
                "--address",
                &address,
                "--submission-id",
                &id,
                "--no-wait",
                "--",
                "echo",
                "interactive",
            ])
            .output()
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"))
    .unwrap_or_else(|e| panic!("running ray job submit: {e}"));
    assert!(
        output.status.success(),
        "ray job submit failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    // Still waiting: the operator does not guess which job is the user's.
    assert_eq!(
        status_of(&get(&env, name).await).job_deployment_status,
        Some(JobDeploymentStatus::Waiting)
    );
    env.patch_spec::<RayJob>(name, json!({"jobId": submission_id}))
        .await;
    let done = until_state(&env, name, JobDeploymentStatus::Complete).await;
    let status = status_of(&done);
    assert_eq!(status.job_id.as_deref(), Some(submission_id.as_str()));
    assert_eq!(status.job_status, Some(JobStatus::Succeeded));
    assert!(
        status
            .ray_job_info
            .as_ref()
            .is_some_and(|i| i.start_time.is_some() && i.end_time.is_some()),
        "rayJobInfo: {:?}",
        status.ray_job_info
    );

    let services: Api<Service> = env.api();
    let service = services
        .get(&format!("{name}-head-svc"))
        .await
        .unwrap_or_else(|e| panic!("the RayJob's head Service: {e}"));
    let selector = service.spec.and_then(|s| s.selector).unwrap_or_default();
    assert_eq!(selector.get("ray.io/cluster"), Some(&cluster));
    assert_eq!(
        service
            .metadata
            .owner_references
            .unwrap_or_default()
            .first()
            .map(|o| o.kind.as_str()),
        Some("RayJob")
    );
    env.finish().await;
}

/// SidecarMode: the head pod carries the submitter container (restartPolicy Never, the job id the RayJob chose);
/// the RayJob runs until the Ray job ended and the submitter exited, as a kubelet reports it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sidecar_mode_submits_from_the_head_pod() {
    let env = Scenario::start("rj-sidecar", CONTROLLERS).await;
    let name = "sidecar";
    env.create(job(
        name,
        json!({"entrypoint": "echo sidecar", "submissionMode": "SidecarMode",
            "rayClusterSpec": cluster_spec(0)}),
    ))
    .await;
    let running = until_state(&env, name, JobDeploymentStatus::Running).await;
    let status = status_of(&running);
    let job_id = status.job_id.clone().unwrap_or_default();
    let cluster = status.ray_cluster_name.clone().unwrap_or_default();

    let pods: Api<Pod> = env.api();
    let heads = pods
        .list(
            &ListParams::default()
                .labels(&format!("ray.io/cluster={cluster},ray.io/node-type=head")),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let head = heads
        .items
        .first()
        .unwrap_or_else(|| panic!("no head pod"))
        .clone();
    let spec = head.spec.clone().unwrap_or_default();
    assert_eq!(spec.restart_policy.as_deref(), Some("Never"));
    let names: Vec<&str> = spec.containers.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["ray-head", "ray-job-submitter"]);
    let submitter = &spec.containers[1];
    let env_value = |key: &str| {
        submitter
            .env
            .iter()
            .flatten()
            .find(|e| e.name == key)
            .and_then(|e| e.value.clone())
    };
    assert_eq!(env_value("RAY_JOB_SUBMISSION_ID"), Some(job_id.clone()));
    let script = submitter
        .args
        .iter()
        .flatten()
        .chain(submitter.command.iter().flatten())
        .cloned()
        .collect::<Vec<_>>()
        .join(" ");
    assert!(
        script.contains("ray job submit")
            && script.contains(&job_id)
            && script.contains("echo sidecar"),
        "{script}"
    );
    // No submitter Job in this mode.
    let jobs: Api<k8s_openapi::api::batch::v1::Job> = env.api();
    assert!(
        jobs.get_opt(name)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .is_none()
    );

    // What the sidecar does in a real pod: submit with its id, wait for the end, exit 0.
    env.dashboard()
        .submit_job(&JobSubmitRequest::new("echo sidecar").with_submission_id(&job_id))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    until("the RayJob to see SUCCEEDED", async || {
        let status = status_of(&get(&env, name).await);
        match status.job_status {
            Some(JobStatus::Succeeded) => {
                assert_eq!(
                    status.job_deployment_status,
                    Some(JobDeploymentStatus::Running),
                    "the RayJob must wait for the submitter container"
                );
                Ok(())
            }
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    let now = Timestamp::now().to_string();
    let statuses: Vec<serde_json::Value> = spec
        .containers
        .iter()
        .map(|c| {
            let state = if c.name == "ray-job-submitter" {
                json!({"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": now, "finishedAt": now}})
            } else {
                json!({"running": {"startedAt": now}})
            };
            json!({"name": c.name, "image": c.image, "imageID": "", "ready": c.name == "ray-head",
                "restartCount": 0, "started": c.name == "ray-head", "state": state})
        })
        .collect();
    pods.patch_status(
        &head.name_any(),
        &PatchParams::default(),
        &Patch::Strategic(json!({"status": {"containerStatuses": statuses}})),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let done = until_state(&env, name, JobDeploymentStatus::Complete).await;
    assert_eq!(status_of(&done).job_status, Some(JobStatus::Succeeded));
    env.finish().await;
}
