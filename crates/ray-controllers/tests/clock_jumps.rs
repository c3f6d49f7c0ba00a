//! Wall-clock jumps against the RayJob and RayService controllers, on the local control plane and the real Ray
//! head (as in `rayjob_lifecycle.rs`). The controllers read a [`ManualClock`] that stands still until the test moves
//! it: nothing time-based happens while it stands still, a jump forward makes what became due happen at once (the
//! jump wakes the controller; its requeue timers, on the real time, would fire minutes or hours later), and a jump
//! backward postpones what is not due any more without re-running, undoing or regressing anything.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Controller, Scenario, until};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::Api;
use kube::api::ListParams;
use ray_api_v1::RayCluster;
use ray_api_v1::rayjob::{JobDeploymentStatus, JobFailedReason, JobStatus, RayJob};
use ray_api_v1::rayservice::RayService;
use ray_controllers::ManualClock;
use ray_controllers::rayjob::events as job_events;
use ray_controllers::rayservice::decide::DELETE_AFTER_ANNOTATION;
use ray_controllers::rayservice::events as service_events;
use serde_json::json;

/// How long the tests watch for something that must *not* happen: longer than the RayJob controller's poll
/// interval, so at least one more reconcile ran meanwhile.
const QUIET: Duration = Duration::from_secs(5);

/// How soon after a jump what it made due must have happened: well under the requeue timers set on the old time
/// (60 s and more here), so only the wake-up of the jump can make it.
const PROMPTLY: Duration = Duration::from_secs(30);

/// A clock standing at the current second (whole seconds: the status and annotations keep no fractions).
fn frozen_clock() -> (Arc<ManualClock>, Timestamp) {
    let start =
        Timestamp::from_second(Timestamp::now().as_second()).unwrap_or_else(|e| panic!("{e}"));
    (ManualClock::new(start), start)
}

fn at(start: Timestamp, seconds: i64) -> Timestamp {
    start + SignedDuration::from_secs(seconds)
}

const ONE_HOUR: SignedDuration = SignedDuration::from_hours(1);

fn cluster_spec(workers: i32) -> serde_json::Value {
    let mut spec = json!({"headGroupSpec": {"rayStartParams": {}, "template": {"spec": {"containers": [
        {"name": "ray-head", "image": common::RAY_IMAGE}]}}}});
    if workers > 0 {
        spec["workerGroupSpecs"] = json!([common::worker_group("small", workers, 0, 4)]);
    }
    spec
}

/// A RayService's cluster, as `rayservice.rs` has it (the head's dashboard and Serve ports named).
fn service_cluster_spec() -> serde_json::Value {
    json!({"rayVersion": "2.60.0", "headGroupSpec": {"rayStartParams": {}, "template": {"spec": {"containers": [{
        "name": "ray-head", "image": common::RAY_IMAGE,
        "ports": [{"name": "dashboard", "containerPort": 8265}, {"name": "serve", "containerPort": 8000}]}]}}}})
}

fn job(name: &str, spec: serde_json::Value) -> RayJob {
    common::ray_object("RayJob", name, spec)
}

fn status_of(job: &RayJob) -> ray_api_v1::RayJobStatus {
    job.status.clone().unwrap_or_default()
}

async fn get(env: &Scenario, name: &str) -> Option<RayJob> {
    env.api::<RayJob>()
        .get_opt(name)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

async fn until_state(env: &Scenario, name: &str, state: JobDeploymentStatus) -> RayJob {
    let jobs: Api<RayJob> = env.api();
    until(&format!("RayJob {name} {state:?}"), async || {
        let job = jobs.get(name).await.map_err(|e| e.to_string())?;
        let status = status_of(&job);
        if status.job_deployment_status == Some(state) {
            Ok(job)
        } else {
            Err(format!("{status:?}"))
        }
    })
    .await
}

async fn until_gone(env: &Scenario, name: &str) {
    until(&format!("RayJob {name} to be gone"), async || {
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
    .await
}

/// Whether every worker group of the RayCluster `name` is suspended (`None`: the cluster is gone).
async fn workers_suspended(env: &Scenario, name: &str) -> Option<bool> {
    let cluster = env
        .api::<RayCluster>()
        .get_opt(name)
        .await
        .unwrap_or_else(|e| panic!("{e}"))?;
    Some(
        cluster
            .spec
            .worker_group_specs
            .iter()
            .all(|g| g.suspend == Some(true)),
    )
}

/// Whether the RayCluster `name` exists and is not being deleted.
async fn cluster_live(env: &Scenario, name: &str) -> bool {
    env.api::<RayCluster>()
        .get_opt(name)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .is_some_and(|c| c.metadata.deletion_timestamp.is_none())
}

/// The RayClusters of the namespace that are not being deleted.
async fn live_clusters(env: &Scenario) -> Vec<String> {
    env.api::<RayCluster>()
        .list(&ListParams::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .items
        .into_iter()
        .filter(|c| c.metadata.deletion_timestamp.is_none())
        .filter_map(|c| c.metadata.name)
        .collect()
}

/// How many times each deletion step ran, by its Event: (DeleteWorkers, DeleteCluster, DeleteSelf).
async fn steps(env: &Scenario, cluster: &str) -> (i32, i32, i32) {
    (
        env.event_count(job_events::DELETED_WORKERS, cluster).await,
        env.event_count(job_events::DELETED_RAY_CLUSTER, cluster)
            .await,
        env.event_count(job_events::DELETING_RAYJOB, "deletion rule")
            .await,
    )
}

fn deletion_rules() -> serde_json::Value {
    let rule = |policy: &str, ttl: i32| json!({"policy": policy, "condition": {"jobStatus": "SUCCEEDED", "ttlSeconds": ttl}});
    json!({"deletionRules": [
        rule("DeleteWorkers", 60), rule("DeleteCluster", 120), rule("DeleteSelf", 180)]})
}

/// A succeeded RayJob with deletion rules DeleteWorkers at 60 s, DeleteCluster at 120 s and DeleteSelf at 180 s:
/// nothing is deleted while the clock stands still or after it jumped back; jumps forward run the rules in TTL
/// order, each once, and a jump back between two steps re-runs, undoes and re-creates nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deletion_rules_run_in_ttl_order_as_the_clock_jumps_and_never_twice() {
    let (clock, start) = frozen_clock();
    let env = Scenario::start_with_clock(
        "cj-rules",
        &[Controller::RayCluster, Controller::RayJob],
        clock.clone(),
    )
    .await;
    let name = "cleanup";
    env.create(job(
        name,
        json!({"entrypoint": "echo clock", "submissionMode": "HTTPMode",
            "rayClusterSpec": cluster_spec(2), "deletionStrategy": deletion_rules()}),
    ))
    .await;
    let done = until_state(&env, name, JobDeploymentStatus::Complete).await;
    let status = status_of(&done);
    assert_eq!(status.job_status, Some(JobStatus::Succeeded));
    // The times the controller writes are the clock's, not the system's.
    assert_eq!(status.start_time, Some(Time(start)), "{status:?}");
    assert_eq!(status.end_time, Some(Time(start)), "{status:?}");
    let cluster = status.ray_cluster_name.clone().unwrap_or_default();

    // The clock stands still: nothing is due, nothing is deleted, however long the real time runs.
    tokio::time::sleep(QUIET).await;
    assert_eq!(workers_suspended(&env, &cluster).await, Some(false));
    assert_eq!(steps(&env, &cluster).await, (0, 0, 0));

    // Back an hour: still nothing.
    clock.advance(-ONE_HOUR);
    tokio::time::sleep(QUIET).await;
    assert_eq!(workers_suspended(&env, &cluster).await, Some(false));
    assert_eq!(steps(&env, &cluster).await, (0, 0, 0));

    // Past the first TTL only: the workers go, the head and the RayJob stay.
    let jumped = Instant::now();
    clock.set(at(start, 90));
    until(
        "the worker groups to be suspended",
        async || match workers_suspended(&env, &cluster).await {
            Some(true) => Ok(()),
            other => Err(format!("{other:?}")),
        },
    )
    .await;
    assert!(jumped.elapsed() < PROMPTLY, "{:?}", jumped.elapsed());
    let pods: Api<Pod> = env.api();
    let workers = format!("ray.io/cluster={cluster},ray.io/node-type=worker");
    until("the worker pods to be deleted", async || {
        let list = pods
            .list(&ListParams::default().labels(&workers))
            .await
            .map_err(|e| e.to_string())?;
        match list
            .items
            .iter()
            .filter(|p| p.metadata.deletion_timestamp.is_none())
            .count()
        {
            0 => Ok(()),
            n => Err(format!("{n} left")),
        }
    })
    .await;
    env.until_event_count(job_events::DELETED_WORKERS, &cluster, 1)
        .await;
    assert!(cluster_live(&env, &cluster).await);

    // Back an hour between two steps: the workers stay deleted, the cluster stays, nothing runs again.
    clock.advance(-ONE_HOUR);
    tokio::time::sleep(QUIET).await;
    assert_eq!(workers_suspended(&env, &cluster).await, Some(true));
    assert!(cluster_live(&env, &cluster).await);
    assert_eq!(steps(&env, &cluster).await, (1, 0, 0));
    let after = status_of(&get(&env, name).await.unwrap_or_else(|| panic!("gone")));
    assert_eq!(
        after.job_deployment_status,
        Some(JobDeploymentStatus::Complete)
    );
    assert_eq!(after.end_time, Some(Time(start)), "the end is not moved");

    // Past the second TTL: the cluster goes, the RayJob stays.
    let jumped = Instant::now();
    clock.set(at(start, 150));
    env.until_cluster_deleted(&cluster).await;
    assert!(jumped.elapsed() < PROMPTLY, "{:?}", jumped.elapsed());
    env.until_event_count(job_events::DELETED_RAY_CLUSTER, &cluster, 1)
        .await;
    assert!(get(&env, name).await.is_some(), "DeleteSelf ran early");

    // An hour past the end: the RayJob deletes itself.
    let jumped = Instant::now();
    clock.set(start + ONE_HOUR);
    until_gone(&env, name).await;
    assert!(jumped.elapsed() < PROMPTLY, "{:?}", jumped.elapsed());
    env.until_event_count(job_events::DELETING_RAYJOB, "deletion rule", 1)
        .await;

    // And once more back and forth: nothing is left to run, nothing was re-created, no controller died.
    clock.advance(-ONE_HOUR * 2);
    clock.advance(ONE_HOUR * 4);
    tokio::time::sleep(QUIET).await;
    assert_eq!(steps(&env, &cluster).await, (1, 1, 1));
    assert_eq!(
        env.event_count(job_events::CREATED_RAY_CLUSTER, name).await,
        1
    );
    assert_eq!(live_clusters(&env).await, Vec::<String>::new());
    assert!(env.controllers_running());
    env.finish().await;
}

/// One jump past every TTL at once (an operator that was down, or a clock set forward by an hour): as in KubeRay,
/// only the furthest-reaching overdue rule runs — DeleteSelf — once, and its cluster goes with the RayJob; the
/// nearer steps are not run first just to be undone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_jump_past_every_ttl_runs_the_furthest_rule_once() {
    let (clock, start) = frozen_clock();
    let env = Scenario::start_with_clock(
        "cj-rules-once",
        &[Controller::RayCluster, Controller::RayJob],
        clock.clone(),
    )
    .await;
    let name = "at-once";
    env.create(job(
        name,
        json!({"entrypoint": "echo at once", "submissionMode": "HTTPMode",
            "rayClusterSpec": cluster_spec(1), "deletionStrategy": deletion_rules()}),
    ))
    .await;
    let done = until_state(&env, name, JobDeploymentStatus::Complete).await;
    let cluster = status_of(&done).ray_cluster_name.unwrap_or_default();
    tokio::time::sleep(QUIET).await;
    assert!(cluster_live(&env, &cluster).await);

    let jumped = Instant::now();
    clock.set(start + ONE_HOUR);
    until_gone(&env, name).await;
    assert!(
        jumped.elapsed() < PROMPTLY,
        "the jump, not the requeue timer set on the old time, must bring the deletion ({:?})",
        jumped.elapsed()
    );
    // The garbage collector removes the cluster the RayJob owned.
    env.until_cluster_deleted(&cluster).await;
    env.until_event_count(job_events::DELETING_RAYJOB, "deletion rule", 1)
        .await;
    tokio::time::sleep(QUIET).await;
    assert_eq!(steps(&env, &cluster).await, (0, 0, 1));
    assert_eq!(live_clusters(&env).await, Vec::<String>::new());
    assert!(env.controllers_running());
    env.finish().await;
}

/// activeDeadlineSeconds on a running Ray job: jumps backward, and forward to just before the deadline, fail
/// nothing; a jump past it fails the RayJob with `DeadlineExceeded` at once, at the clock's time, and stops the Ray
/// job.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jump_past_the_active_deadline_fails_the_rayjob_at_once_and_one_back_fails_nothing() {
    let (clock, start) = frozen_clock();
    let env = Scenario::start_with_clock(
        "cj-deadline",
        &[Controller::RayCluster, Controller::RayJob],
        clock.clone(),
    )
    .await;
    let name = "deadline";
    env.create(job(
        name,
        json!({"entrypoint": "sleep 300", "submissionMode": "HTTPMode", "activeDeadlineSeconds": 600,
            "rayClusterSpec": cluster_spec(0)}),
    ))
    .await;
    let running = until_state(&env, name, JobDeploymentStatus::Running).await;
    let job_id = status_of(&running).job_id.unwrap_or_default();
    until("the Ray job to run", async || {
        let details = env
            .dashboard()
            .get_job(&job_id)
            .await
            .map_err(|e| e.to_string())?;
        match details.status.as_str() {
            "RUNNING" => Ok(()),
            other => Err(other.to_owned()),
        }
    })
    .await;

    for now in [start - ONE_HOUR, at(start, 599)] {
        clock.set(now);
        tokio::time::sleep(QUIET).await;
        let status = status_of(&get(&env, name).await.unwrap_or_else(|| panic!("gone")));
        assert_eq!(
            status.job_deployment_status,
            Some(JobDeploymentStatus::Running),
            "at {now}: {status:?}"
        );
        assert_eq!(status.reason, None);
    }

    let jumped = Instant::now();
    clock.set(at(start, 601));
    let failed = until_state(&env, name, JobDeploymentStatus::Failed).await;
    assert!(jumped.elapsed() < PROMPTLY, "{:?}", jumped.elapsed());
    let status = status_of(&failed);
    assert_eq!(status.reason, Some(JobFailedReason::DeadlineExceeded));
    assert_eq!(status.end_time, Some(Time(at(start, 601))));
    assert_eq!(status.failed, Some(1));
    until("the Ray job to be stopped", async || {
        let details = env
            .dashboard()
            .get_job(&job_id)
            .await
            .map_err(|e| e.to_string())?;
        match details.status.as_str() {
            "STOPPED" => Ok(()),
            other => Err(other.to_owned()),
        }
    })
    .await;

    // Back again: a failed RayJob stays failed.
    clock.advance(-ONE_HOUR);
    tokio::time::sleep(QUIET).await;
    let status = status_of(&get(&env, name).await.unwrap_or_else(|| panic!("gone")));
    assert_eq!(
        status.job_deployment_status,
        Some(JobDeploymentStatus::Failed)
    );
    assert_eq!(status.end_time, Some(Time(at(start, 601))));
    assert!(env.controllers_running());
    env.finish().await;
}

/// preRunningDeadlineSeconds while the RayJob waits for a cluster nothing will make ready (no RayCluster
/// controller runs): no poll looks at it, so only the jump can bring the deadline early. A jump backward fails
/// nothing; one past the deadline fails it with `PreRunningDeadlineExceeded` at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jump_past_the_pre_running_deadline_wakes_a_rayjob_nothing_polls() {
    let (clock, start) = frozen_clock();
    let env = Scenario::start_with_clock("cj-prerun", &[Controller::RayJob], clock.clone()).await;
    let name = "stuck";
    env.create(job(
        name,
        json!({"entrypoint": "echo never", "submissionMode": "HTTPMode",
            "preRunningDeadlineSeconds": 600, "rayClusterSpec": cluster_spec(0)}),
    ))
    .await;
    until_state(&env, name, JobDeploymentStatus::Initializing).await;
    env.until_events(job_events::CREATED_RAY_CLUSTER).await;

    clock.advance(-ONE_HOUR);
    tokio::time::sleep(QUIET).await;
    let status = status_of(&get(&env, name).await.unwrap_or_else(|| panic!("gone")));
    assert_eq!(
        status.job_deployment_status,
        Some(JobDeploymentStatus::Initializing),
        "{status:?}"
    );

    let jumped = Instant::now();
    clock.set(at(start, 601));
    let failed = until_state(&env, name, JobDeploymentStatus::Failed).await;
    assert!(
        jumped.elapsed() < PROMPTLY,
        "the jump, not the 600 s requeue timer, must bring the deadline ({:?})",
        jumped.elapsed()
    );
    let status = status_of(&failed);
    assert_eq!(
        status.reason,
        Some(JobFailedReason::PreRunningDeadlineExceeded)
    );
    assert_eq!(status.end_time, Some(Time(at(start, 601))));
    assert!(env.controllers_running());
    env.finish().await;
}

/// A RayService's old cluster (one labelled as the RayService's that neither serves nor is being prepared, as an
/// upgrade leaves it) with `rayClusterDeletionDelaySeconds: 3600`: its `ray.io/delete-after` is the clock's time
/// plus the delay; a jump backward neither deletes nor reschedules it; a jump past it deletes it at once, once.
/// No RayCluster controller runs, so the RayService's own new cluster never gets ready and Serve is not involved.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jump_past_delete_after_deletes_the_old_cluster_at_once() {
    let (clock, start) = frozen_clock();
    let env =
        Scenario::start_with_clock("cj-service", &[Controller::RayService], clock.clone()).await;
    let service: RayService = common::ray_object(
        "RayService",
        "svc",
        json!({"serveConfigV2": "applications:\n  - name: hello\n    import_path: ray_operator_demo.hello:app\n",
            "rayClusterConfig": service_cluster_spec(), "rayClusterDeletionDelaySeconds": 3600}),
    );
    env.create(service).await;
    let old = "svc-old";
    let mut leftover: RayCluster = common::ray_object("RayCluster", old, cluster_spec(0));
    leftover.metadata.labels = Some(ray_controllers::rayservice::observe::owned_labels("svc"));
    env.create(leftover).await;

    let recorded = until("the old cluster's deletion time", async || {
        let cluster = env
            .api::<RayCluster>()
            .get(old)
            .await
            .map_err(|e| e.to_string())?;
        cluster
            .metadata
            .annotations
            .unwrap_or_default()
            .get(DELETE_AFTER_ANNOTATION)
            .cloned()
            .ok_or("not scheduled yet".to_string())
    })
    .await;
    let due: Timestamp = recorded.parse().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(due, start + ONE_HOUR, "the delay counts from the clock");

    clock.advance(-ONE_HOUR);
    tokio::time::sleep(QUIET).await;
    let cluster = env
        .api::<RayCluster>()
        .get(old)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(cluster.metadata.deletion_timestamp.is_none());
    assert_eq!(
        cluster
            .metadata
            .annotations
            .unwrap_or_default()
            .get(DELETE_AFTER_ANNOTATION),
        Some(&recorded),
        "a jump backward does not reschedule"
    );

    let jumped = Instant::now();
    clock.set(at(start, 3601));
    env.until_cluster_deleted(old).await;
    assert!(jumped.elapsed() < PROMPTLY, "{:?}", jumped.elapsed());
    env.until_event_count(service_events::DELETED_CLUSTER, old, 1)
        .await;
    tokio::time::sleep(QUIET).await;
    assert_eq!(
        env.event_count(service_events::DELETED_CLUSTER, old).await,
        1
    );
    assert_eq!(
        env.event_count(service_events::SCHEDULED_CLUSTER_DELETION, old)
            .await,
        1
    );
    // The RayService's own cluster is untouched.
    assert_eq!(live_clusters(&env).await.len(), 1);
    assert!(env.controllers_running());
    env.finish().await;
}
