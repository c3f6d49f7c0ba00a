//! The RayCluster controller against the real local control plane (kube-apiserver, controller-manager with its
//! garbage collector, scheduler, kwok making pods Running). Each test has its own namespace and runs its own
//! controller in-process, watching only that namespace.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{Controller, RAY_IMAGE, Scenario, until, worker_group};
use k8s_openapi::api::core::v1::{Pod, ResourceQuota, Service};
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Api, ResourceExt};
use ray_api_v1::{ClusterState, RayCluster, RayClusterUpgradeStrategy, RayClusterUpgradeType};
use serde_json::json;

/// The controllers every scenario of this file runs.
const CONTROLLERS: &[Controller] = &[Controller::RayCluster];

// The steps of the RayCluster scenarios. The harness is a module of this test crate, so its type takes them here.
impl Scenario {
    fn clusters(&self) -> Api<RayCluster> {
        self.api()
    }

    fn pods(&self) -> Api<Pod> {
        self.api()
    }

    async fn apply_example(&self, file: &str) -> RayCluster {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../examples")
            .join(file);
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let cluster: RayCluster = serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{e}"));
        self.create(cluster).await
    }

    /// Sets the one worker group `workers` of the cluster `name` to `replicas`, between 0 and 5.
    async fn scale(&self, name: &str, replicas: i32) {
        self.patch_spec::<RayCluster>(
            name,
            json!({"workerGroupSpecs": [worker_group("workers", replicas, 0, 5)]}),
        )
        .await;
    }

    /// The names of the worker pods of the cluster `name`.
    async fn worker_names(&self, name: &str) -> Vec<String> {
        self.cluster_pods(name)
            .await
            .into_iter()
            .filter(|p| label(p, "ray.io/node-type") == "worker")
            .map(|p| p.name_any())
            .collect()
    }

    async fn cluster_pods(&self, name: &str) -> Vec<Pod> {
        self.pods()
            .list(&ListParams::default().labels(&format!("ray.io/cluster={name}")))
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .items
            .into_iter()
            .filter(|p| p.metadata.deletion_timestamp.is_none())
            .collect()
    }

    /// Waits until the cluster is `ready` with exactly `workers` worker pods (and one head) running.
    async fn until_ready(&self, name: &str, workers: usize) -> RayCluster {
        until(
            &format!("{name} ready with {workers} workers"),
            async || {
                let cluster = self.clusters().get(name).await.map_err(|e| e.to_string())?;
                let pods = self.cluster_pods(name).await;
                let status = cluster.status.clone().unwrap_or_default();
                let worker_count = pods
                    .iter()
                    .filter(|p| label(p, "ray.io/node-type") == "worker")
                    .count();
                let head_count = pods
                    .iter()
                    .filter(|p| label(p, "ray.io/node-type") == "head")
                    .count();
                if status.state == Some(ClusterState::Ready)
                    && worker_count == workers
                    && head_count == 1
                    && status.ready_worker_replicas == i32::try_from(workers).ok()
                {
                    Ok(cluster)
                } else {
                    Err(format!(
                        "{head_count} heads, {worker_count} workers, status {status:?}"
                    ))
                }
            },
        )
        .await
    }

    /// Waits until the RayCluster `name` is gone.
    async fn until_gone(&self, name: &str) {
        until(&format!("RayCluster {name} deleted"), async || {
            let gone = self
                .clusters()
                .get_opt(name)
                .await
                .map_err(|e| e.to_string())?
                .is_none();
            if gone {
                Ok(())
            } else {
                Err("still there".to_string())
            }
        })
        .await;
    }

    /// Creates a ResourceQuota and waits until the quota controller has computed its usage (before that, new
    /// objects are not counted against it).
    async fn create_quota(&self, quota: serde_json::Value) {
        let quota: ResourceQuota = serde_json::from_value(quota).unwrap_or_else(|e| panic!("{e}"));
        let name = quota.name_any();
        self.create(quota).await;
        let quotas: Api<ResourceQuota> = self.api();
        until("quota status", async || {
            let q = quotas.get(&name).await.map_err(|e| e.to_string())?;
            q.status
                .and_then(|s| s.used)
                .map(|_| ())
                .ok_or_else(|| "no usage yet".to_string())
        })
        .await;
    }
}

fn label(pod: &Pod, key: &str) -> String {
    pod.metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(key))
        .cloned()
        .unwrap_or_default()
}

fn small_cluster(name: &str, replicas: i32, autoscaling: bool) -> RayCluster {
    common::ray_object(
        "RayCluster",
        name,
        json!({
            "enableInTreeAutoscaling": autoscaling,
            "headGroupSpec": {"rayStartParams": {}, "template": {"spec": {"containers": [
                {"name": "ray-head", "image": RAY_IMAGE}]}}},
            "workerGroupSpecs": [worker_group("workers", replicas, 0, 5)]
        }),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sample_becomes_a_ready_cluster_with_services_and_status() {
    let env = Scenario::start("rc-sample", CONTROLLERS).await;
    env.apply_example("ray-cluster.sample.yaml").await;
    let cluster = env.until_ready("raycluster-sample", 1).await;
    let status = cluster.status.clone().unwrap_or_default();
    assert_eq!(status.desired_worker_replicas, Some(1));
    assert_eq!(
        (status.min_worker_replicas, status.max_worker_replicas),
        (Some(1), Some(3))
    );
    assert_eq!(status.observed_generation, cluster.metadata.generation);
    assert_eq!(
        status.endpoints.get("dashboard").map(String::as_str),
        Some("8265")
    );
    assert_eq!(
        status.endpoints.get("client").map(String::as_str),
        Some("10001")
    );
    let head = status.head.clone().unwrap_or_default();
    let head_pod = env
        .cluster_pods("raycluster-sample")
        .await
        .into_iter()
        .find(|p| label(p, "ray.io/node-type") == "head")
        .unwrap_or_else(|| panic!("no head pod"));
    let head_ip = head_pod.status.as_ref().and_then(|s| s.pod_ip.clone());
    assert!(head_ip.is_some());
    assert_eq!(head.pod_ip, head_ip);
    assert_eq!(head.service_ip, head_ip, "the head Service is headless");
    assert_eq!(
        head.service_name.as_deref(),
        Some("raycluster-sample-head-svc")
    );
    let owner = head_pod
        .metadata
        .owner_references
        .clone()
        .unwrap_or_default();
    assert_eq!(owner.len(), 1);
    assert_eq!(
        (owner[0].controller, owner[0].block_owner_deletion),
        (Some(true), Some(true))
    );

    let services: Api<Service> = env.api();
    let svc = services
        .get("raycluster-sample-head-svc")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let spec = svc.spec.clone().unwrap_or_default();
    let selector = spec.selector.clone().unwrap_or_default();
    assert_eq!(
        selector.get("ray.io/cluster").map(String::as_str),
        Some("raycluster-sample")
    );
    assert_eq!(
        selector.get("ray.io/node-type").map(String::as_str),
        Some("head")
    );
    let mut ports: Vec<(String, i32)> = spec
        .ports
        .iter()
        .flatten()
        .map(|p| (p.name.clone().unwrap_or_default(), p.port))
        .collect();
    ports.sort();
    assert_eq!(
        ports,
        [
            ("client".into(), 10001),
            ("dashboard".into(), 8265),
            ("gcs-server".into(), 6379),
            ("metrics".into(), 8080)
        ]
    );
    env.until_events("CreatedHeadPod").await;
    env.until_events("CreatedWorkerPod").await;
    env.until_events("CreatedService").await;
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_complete_example_becomes_ready_with_ingress_rbac_and_its_groups() {
    let env = Scenario::start("rc-complete", CONTROLLERS).await;
    env.apply_example("ray-cluster.complete.yaml").await;
    let cluster = env.until_ready("raycluster-complete", 1).await;
    let name = "raycluster-complete";
    let ingress: Api<k8s_openapi::api::networking::v1::Ingress> = env.api();
    assert!(
        ingress
            .get_opt(&format!("{name}-head-ingress"))
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .is_some()
    );
    let roles: Api<k8s_openapi::api::rbac::v1::Role> = env.api();
    assert!(
        roles
            .get_opt(name)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .is_some()
    );
    let services: Api<Service> = env.api();
    let head_service = cluster
        .status
        .clone()
        .unwrap_or_default()
        .head
        .unwrap_or_default()
        .service_name;
    let head_service = head_service.unwrap_or_else(|| panic!("status names no head service"));
    assert!(
        services
            .get_opt(&head_service)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .is_some()
    );
    // The multi-host group starts at 0 replicas; scaling it creates one whole replica (2 hosts).
    let mut groups = cluster.spec.worker_group_specs.clone();
    for g in &mut groups {
        if g.group_name == "multi-host" {
            g.replicas = Some(1);
        }
    }
    env.patch_spec::<RayCluster>(name, json!({ "workerGroupSpecs": groups }))
        .await;
    env.until_ready(name, 3).await;
    let headless = services
        .get_opt(&format!("{name}-headless"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        headless.is_some(),
        "a multi-host group gets the headless worker Service"
    );
    let hosts: Vec<Pod> = env
        .cluster_pods(name)
        .await
        .into_iter()
        .filter(|p| label(p, "ray.io/group") == "multi-host")
        .collect();
    assert_eq!(hosts.len(), 2);
    assert_eq!(
        label(&hosts[0], "ray.io/worker-group-replica-name"),
        label(&hosts[1], "ray.io/worker-group-replica-name")
    );
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scaling_follows_replicas_clamping_and_workers_to_delete() {
    let env = Scenario::start("rc-scale", CONTROLLERS).await;
    env.create(small_cluster("scale", 2, false)).await;
    env.until_ready("scale", 2).await;
    // Up, then above maxReplicas (clamped to 5), then down without autoscaling.
    env.scale("scale", 4).await;
    env.until_ready("scale", 4).await;
    env.scale("scale", 9).await;
    env.until_ready("scale", 5).await;
    let before = env.worker_names("scale").await;
    env.scale("scale", 1).await;
    env.until_ready("scale", 1).await;
    // Each deleted pod is named by an Event of its own: `kubectl get events` tells which pods went, never one
    // Event with a count that names only the first.
    let after = env.worker_names("scale").await;
    let deleted: Vec<&String> = before.iter().filter(|n| !after.contains(n)).collect();
    assert_eq!(deleted.len(), 4, "{before:?} -> {after:?}");
    until("an Event naming each deleted pod", async || {
        let notes: Vec<String> = env
            .events("DeletedWorkerPod")
            .await
            .into_iter()
            .filter_map(|e| e.note)
            .collect();
        let unnamed: Vec<&&String> = deleted
            .iter()
            .filter(|name| !notes.iter().any(|note| note.contains(name.as_str())))
            .collect();
        if unnamed.is_empty() {
            Ok(())
        } else {
            Err(format!("no Event names {unnamed:?}; notes {notes:?}"))
        }
    })
    .await;

    // With autoscaling, lowering replicas alone deletes nothing; workersToDelete deletes exactly the named pod.
    env.patch_spec::<RayCluster>(
        "scale",
        json!({"enableInTreeAutoscaling": true, "workerGroupSpecs": [worker_group("workers", 3, 0, 5)]}),
    )
    .await;
    env.until_ready("scale", 3).await;
    env.scale("scale", 2).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let workers: Vec<String> = env
        .cluster_pods("scale")
        .await
        .into_iter()
        .filter(|p| label(p, "ray.io/node-type") == "worker")
        .filter_map(|p| p.metadata.name)
        .collect();
    assert_eq!(
        workers.len(),
        3,
        "the operator picked a victim while autoscaling is on"
    );
    let victim = workers[1].clone();
    let mut group = worker_group("workers", 2, 0, 5);
    group["scaleStrategy"] = json!({"workersToDelete": [victim]});
    env.patch_spec::<RayCluster>("scale", json!({"workerGroupSpecs": [group]}))
        .await;
    env.until_ready("scale", 2).await;
    let left: Vec<String> = env
        .cluster_pods("scale")
        .await
        .into_iter()
        .filter_map(|p| p.metadata.name)
        .collect();
    assert!(!left.contains(&victim));
    for name in workers.iter().filter(|n| **n != victim) {
        assert!(
            left.contains(name),
            "{name} was deleted but not named in workersToDelete"
        );
    }
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_head_and_a_failed_worker_are_replaced() {
    let env = Scenario::start("rc-heal", CONTROLLERS).await;
    env.create(small_cluster("heal", 2, false)).await;
    env.until_ready("heal", 2).await;
    let pods = env.cluster_pods("heal").await;
    let head = pods
        .iter()
        .find(|p| label(p, "ray.io/node-type") == "head")
        .and_then(|p| p.metadata.name.clone());
    let head = head.unwrap_or_else(|| panic!("no head"));
    env.pods()
        .delete(&head, &DeleteParams::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let worker = pods
        .iter()
        .find(|p| label(p, "ray.io/node-type") == "worker")
        .and_then(|p| p.metadata.name.clone());
    let worker = worker.unwrap_or_else(|| panic!("no worker"));
    ray_testenv::fail_pod(&env.client, &env.namespace, &worker, 1, "Error")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    until("head and worker replaced", async || {
        let names: Vec<String> = env
            .cluster_pods("heal")
            .await
            .into_iter()
            .filter_map(|p| p.metadata.name)
            .collect();
        if names.len() == 3 && !names.contains(&head) && !names.contains(&worker) {
            Ok(())
        } else {
            Err(format!("{names:?}"))
        }
    })
    .await;
    env.until_ready("heal", 2).await;
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suspend_deletes_every_pod_and_resume_brings_them_back() {
    let env = Scenario::start("rc-suspend", CONTROLLERS).await;
    env.create(small_cluster("sus", 2, false)).await;
    env.until_ready("sus", 2).await;
    env.patch_spec::<RayCluster>("sus", json!({"suspend": true}))
        .await;
    until("suspended", async || {
        let c = env.clusters().get("sus").await.map_err(|e| e.to_string())?;
        let pods = env.cluster_pods("sus").await;
        let state = c.status.and_then(|s| s.state);
        if pods.is_empty() && state == Some(ClusterState::Suspended) {
            Ok(())
        } else {
            Err(format!("{} pods, {state:?}", pods.len()))
        }
    })
    .await;
    env.patch_spec::<RayCluster>("sus", json!({"suspend": false}))
        .await;
    env.until_ready("sus", 2).await;
    env.finish().await;
}

/// `upgradeStrategy.type: Recreate`: a replicas change scales as usual, keeping every pod; a change of the worker
/// template replaces every pod, head included, with pods of the new template. The template changes while the
/// operator is down, so the new operator can only tell the old pods by their annotations.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recreate_replaces_every_pod_when_a_template_changes_but_not_when_replicas_do() {
    let mut env = Scenario::start("rc-recreate", CONTROLLERS).await;
    let mut cluster = small_cluster("rec", 2, false);
    cluster.spec.upgrade_strategy = Some(RayClusterUpgradeStrategy {
        type_: Some(RayClusterUpgradeType::Recreate),
    });
    env.create(cluster).await;
    let ready = env.until_ready("rec", 2).await;
    let status = ready.status.unwrap_or_default();
    assert!(
        status
            .state_transition_times
            .contains_key(&ClusterState::Ready),
        "stateTransitionTimes: {:?}",
        status.state_transition_times
    );
    let names = |pods: &[Pod]| -> Vec<String> { pods.iter().map(ResourceExt::name_any).collect() };
    let first = names(&env.cluster_pods("rec").await);

    env.scale("rec", 3).await;
    env.until_ready("rec", 3).await;
    let scaled = names(&env.cluster_pods("rec").await);
    for name in &first {
        assert!(
            scaled.contains(name),
            "{name} was replaced by a replicas change: {scaled:?}"
        );
    }

    env.crash(Controller::RayCluster).await;
    let mut group = worker_group("workers", 3, 0, 5);
    group["template"]["metadata"] = json!({"labels": {"revision": "2"}});
    env.patch_spec::<RayCluster>("rec", json!({"workerGroupSpecs": [group]}))
        .await;
    env.run(Controller::RayCluster).await;
    until("every pod replaced by one of the new spec", async || {
        let pods = env.cluster_pods("rec").await;
        let old: Vec<String> = names(&pods)
            .into_iter()
            .filter(|n| scaled.contains(n))
            .collect();
        let workers: Vec<&Pod> = pods
            .iter()
            .filter(|p| label(p, "ray.io/node-type") == "worker")
            .collect();
        let heads = pods.len() - workers.len();
        let new_template = workers.iter().all(|p| label(p, "revision") == "2");
        if old.is_empty() && heads == 1 && workers.len() == 3 && new_template {
            Ok(())
        } else {
            Err(format!(
                "old pods left {old:?}, {heads} heads, {} workers",
                workers.len()
            ))
        }
    })
    .await;
    env.until_ready("rec", 3).await;
    let notes: Vec<String> = env
        .until_events("DeletedHeadPod")
        .await
        .into_iter()
        .filter_map(|e| e.note)
        .collect();
    assert!(
        notes
            .iter()
            .any(|n| n.contains("upgradeStrategy.type is Recreate")),
        "{notes:?}"
    );
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_spec_creates_nothing_and_reports_the_field_until_fixed() {
    let env = Scenario::start("rc-invalid", CONTROLLERS).await;
    let mut cluster = small_cluster("bad", 1, false);
    // A rule only the operator checks (the CRD cannot): autoscaler v2 requested without autoscaling.
    cluster.spec.head_group_spec.template = serde_json::from_value(json!({"spec": {"containers": [
        {"name": "ray-head", "image": RAY_IMAGE, "env": [{"name": "RAY_enable_autoscaler_v2", "value": "true"}]}]}}))
        .unwrap_or_else(|e| panic!("{e}"));
    env.create(cluster).await;
    let reason = until("a status reason", async || {
        let c = env.clusters().get("bad").await.map_err(|e| e.to_string())?;
        c.status
            .and_then(|s| s.reason)
            .ok_or_else(|| "no reason yet".to_string())
    })
    .await;
    assert!(
        reason.contains("spec.headGroupSpec.template.spec.containers[0].env[0]"),
        "{reason}"
    );
    env.until_events("InvalidRayClusterSpec").await;
    assert!(env.cluster_pods("bad").await.is_empty());
    let services: Api<Service> = env.api();
    assert!(
        services
            .list(&ListParams::default())
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .items
            .is_empty()
    );
    env.patch_spec::<RayCluster>("bad", json!({"headGroupSpec": {"rayStartParams": {}, "template": {"spec": {"containers": [{"name": "ray-head", "image": RAY_IMAGE}]}}}})).await;
    let fixed = env.until_ready("bad", 1).await;
    assert_eq!(fixed.status.and_then(|s| s.reason), None);
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quota_rejection_is_reported_in_events_and_status() {
    let env = Scenario::start("rc-quota", CONTROLLERS).await;
    env.create_quota(json!({"metadata": {"name": "two-pods"}, "spec": {"hard": {"pods": "2"}}}))
        .await;
    env.create(small_cluster("quota", 3, false)).await;
    let condition = until("ReplicaFailure", async || {
        let c = env
            .clusters()
            .get("quota")
            .await
            .map_err(|e| e.to_string())?;
        c.status
            .unwrap_or_default()
            .conditions
            .into_iter()
            .find(|c| c.type_ == "ReplicaFailure" && c.status == "True")
            .ok_or_else(|| "no condition yet".to_string())
    })
    .await;
    assert_eq!(condition.reason, "FailedToCreateWorkerPod");
    assert!(
        condition.message.contains("exceeded quota"),
        "{}",
        condition.message
    );
    let events = env.until_events("FailedToCreateWorkerPod").await;
    assert!(events.iter().any(|e| {
        e.note
            .as_deref()
            .unwrap_or_default()
            .contains("exceeded quota")
    }));
    assert_eq!(env.cluster_pods("quota").await.len(), 2);
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_the_cluster_garbage_collects_its_children() {
    let env = Scenario::start("rc-gc", CONTROLLERS).await;
    env.create(small_cluster("gc", 2, false)).await;
    env.until_ready("gc", 2).await;
    env.clusters()
        .delete("gc", &DeleteParams::foreground())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let services: Api<Service> = env.api();
    until("children garbage-collected", async || {
        let pods = env
            .pods()
            .list(&ListParams::default())
            .await
            .map_err(|e| e.to_string())?
            .items
            .len();
        let svcs = services
            .list(&ListParams::default())
            .await
            .map_err(|e| e.to_string())?
            .items
            .len();
        let gone = env
            .clusters()
            .get_opt("gc")
            .await
            .map_err(|e| e.to_string())?
            .is_none();
        if pods == 0 && svcs == 0 && gone {
            Ok(())
        } else {
            Err(format!(
                "{pods} pods, {svcs} services, cluster gone: {gone}"
            ))
        }
    })
    .await;
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_steady_cluster_makes_no_writes() {
    let writes = Arc::new(AtomicUsize::new(0));
    let client = common::counting_client(writes.clone()).await;
    let mut env = Scenario::start("rc-steady", &[]).await;
    env.run_raycluster_controller(client);
    env.create(small_cluster("steady", 2, false)).await;
    env.until_ready("steady", 2).await;
    // Let the last watch events (pods becoming ready, the status write) arrive and be reconciled.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let settled = env
        .clusters()
        .get("steady")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let before = writes.load(Ordering::SeqCst);
    assert!(
        before >= 4,
        "the counter sees the controller's writes (head, workers, service, status): {before}"
    );
    // A change that needs no action (a label) triggers a reconcile, which must write nothing.
    env.clusters()
        .patch(
            "steady",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"touched": "yes"}}})),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(
        writes.load(Ordering::SeqCst),
        before,
        "write requests during a quiet interval"
    );
    let after = env
        .clusters()
        .get("steady")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(settled.status, after.status);
    env.finish().await;
}

fn ft_cluster(name: &str) -> RayCluster {
    let mut cluster = small_cluster(name, 1, false);
    cluster.metadata.annotations = Some(
        [
            ("ray.io/ft-enabled".to_string(), "true".to_string()),
            (
                "ray.io/gcs-ft-deletion-timeout".to_string(),
                "8".to_string(),
            ),
            (
                "ray.io/external-storage-namespace".to_string(),
                "my-storage-ns".to_string(),
            ),
        ]
        .into(),
    );
    cluster.spec.head_group_spec.template = serde_json::from_value(json!({"spec": {"containers": [
        {"name": "ray-head", "image": RAY_IMAGE, "env": [{"name": "RAY_REDIS_ADDRESS", "value": "redis:6379"}]}]}}))
        .unwrap_or_else(|e| panic!("{e}"));
    cluster
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gcs_ft_cluster_is_released_when_its_cleanup_job_completes() {
    let env = Scenario::start("rc-gcsft", CONTROLLERS).await;
    env.create(ft_cluster("ft")).await;
    env.until_ready("ft", 1).await;
    let live = env
        .clusters()
        .get("ft")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        live.metadata
            .finalizers
            .unwrap_or_default()
            .contains(&"ray.io/gcs-ft-redis-cleanup-finalizer".to_string())
    );
    env.clusters()
        .delete("ft", &DeleteParams::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    // kwok runs the Job's pod to completion, as a successful cleanup would.
    env.until_gone("ft").await;
    let jobs: Api<k8s_openapi::api::batch::v1::Job> = env.api();
    let job = jobs
        .get_opt("ft-redis-cleanup")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    if let Some(job) = job {
        // Not yet garbage-collected: check it is the cleanup Job.
        let labels = job.metadata.labels.clone().unwrap_or_default();
        assert_eq!(
            labels.get("ray.io/node-type").map(String::as_str),
            Some("redis-cleanup")
        );
    }
    env.until_events("CreatedRedisCleanupJob").await;
    assert!(env.events("ForceDeletedStuckCluster").await.is_empty());
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gcs_ft_cluster_whose_cleanup_cannot_run_is_released_at_the_deadline() {
    let env = Scenario::start("rc-gcsft-stuck", CONTROLLERS).await;
    env.create(ft_cluster("stuck")).await;
    env.until_ready("stuck", 1).await;
    // No Job may be created in this namespace (like an admission policy rejecting the cleanup Job).
    env.create_quota(
        json!({"metadata": {"name": "no-jobs"}, "spec": {"hard": {"count/jobs.batch": "0"}}}),
    )
    .await;
    env.clusters()
        .delete("stuck", &DeleteParams::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    until("FailedToCreateRedisCleanupJob", async || {
        let n = env.events("FailedToCreateRedisCleanupJob").await.len();
        if n > 0 {
            Ok(())
        } else {
            Err("no event yet".to_string())
        }
    })
    .await;
    env.until_gone("stuck").await;
    let events = env.until_events("ForceDeletedStuckCluster").await;
    assert!(
        events.iter().any(|e| e
            .note
            .as_deref()
            .unwrap_or_default()
            .contains("my-storage-ns")),
        "the event names the storage namespace: {events:?}"
    );
    env.finish().await;
}

/// One hostile RayCluster (`replicas: 2147483647`) in a namespace must neither crash the controller nor stop it
/// from scaling the other clusters there. Its workers run at a PriorityClass that a scoped ResourceQuota caps at a
/// few pods, as a namespace quota would in a real cluster, so the test's control plane is not flooded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poisoned_cluster_does_not_stop_the_others_scaling_up() {
    use k8s_openapi::api::scheduling::v1::PriorityClass;
    let env = Scenario::start("rc-poison", CONTROLLERS).await;
    let class_name = format!("{}-poison", env.namespace);
    let classes: Api<PriorityClass> = Api::all(env.client.clone());
    let class: PriorityClass = serde_json::from_value(json!({
        "metadata": {"name": class_name}, "value": 0
    }))
    .unwrap_or_else(|e| panic!("{e}"));
    classes
        .create(&PostParams::default(), &class)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    env.create_quota(json!({
        "metadata": {"name": "poison-pods"},
        "spec": {
            "hard": {"pods": "5"},
            "scopeSelector": {"matchExpressions": [
                {"scopeName": "PriorityClass", "operator": "In", "values": [class_name]}
            ]}
        }
    }))
    .await;

    let mut poisoned = small_cluster("poisoned", i32::MAX, false);
    let group = &mut poisoned.spec.worker_group_specs[0];
    group.max_replicas = Some(i32::MAX);
    if let Some(spec) = group.template.spec.as_mut() {
        spec.priority_class_name = Some(class_name.clone());
    }
    env.create(poisoned).await;
    for name in ["healthy-a", "healthy-b", "healthy-c"] {
        env.create(small_cluster(name, 1, false)).await;
    }
    for name in ["healthy-a", "healthy-b", "healthy-c"] {
        env.until_ready(name, 1).await;
    }
    // Scale the healthy clusters up while the poisoned one keeps failing to create its workers.
    for name in ["healthy-a", "healthy-b", "healthy-c"] {
        env.scale(name, 5).await;
    }
    for name in ["healthy-a", "healthy-b", "healthy-c"] {
        env.until_ready(name, 5).await;
    }
    // The poisoned cluster got its head and no more workers than the quota allows, and says why.
    let condition = until("ReplicaFailure on the poisoned cluster", async || {
        let c = env
            .clusters()
            .get("poisoned")
            .await
            .map_err(|e| e.to_string())?;
        let status = c.status.unwrap_or_default();
        let pods = env.cluster_pods("poisoned").await.len();
        status
            .conditions
            .iter()
            .find(|c| c.type_ == "ReplicaFailure" && c.status == "True")
            .cloned()
            .ok_or_else(|| format!("{pods} pods, status {status:?}"))
    })
    .await;
    assert!(
        condition.message.contains("exceeded quota"),
        "{}",
        condition.message
    );
    let pods = env.cluster_pods("poisoned").await;
    let workers = pods
        .iter()
        .filter(|p| label(p, "ray.io/node-type") == "worker")
        .count();
    assert!(workers <= 5, "{workers} workers despite the quota of 5");
    assert_eq!(
        pods.iter()
            .filter(|p| label(p, "ray.io/node-type") == "head")
            .count(),
        1
    );
    assert!(env.controllers_running(), "the controller stopped");
    let _ = classes.delete(&class_name, &DeleteParams::default()).await;
    env.finish().await;
}
