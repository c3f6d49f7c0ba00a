//! Our controllers under Kueue (`sigs.k8s.io/kueue`, run as a process against this test binary's control plane, see
//! `ray_testenv::Kueue`): Kueue's webhook creates RayJobs and RayClusters that name a LocalQueue suspended, Kueue
//! admits them by clearing `spec.suspend` when the ClusterQueue has quota, and preempts a lower-priority one by
//! setting it again. Our operator must create nothing while suspended, delete the pods on suspend and recreate them on
//! admission.
//!
//! Kueue's webhooks are installed for the whole control plane, which is why these scenarios have a test binary (and
//! so a control plane) of their own. Each scenario has its own ClusterQueue (selecting only its namespace) and
//! LocalQueue, so their quotas do not interfere.

mod common;

use common::{Controller, RAY_IMAGE, Scenario, until};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{
    ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams,
    PostParams,
};
use kube::{Api, ResourceExt};
use ray_api_v1::rayjob::{JobDeploymentStatus, JobStatus, RayJob};
use ray_api_v1::{ClusterState, RayCluster};
use serde_json::{Value, json};
use tokio::sync::OnceCell;

const CONTROLLERS: &[Controller] = &[Controller::RayCluster, Controller::RayJob];
/// The label that puts a job in a LocalQueue.
const QUEUE_LABEL: &str = "kueue.x-k8s.io/queue-name";
/// The label that names a job's WorkloadPriorityClass.
const PRIORITY_LABEL: &str = "kueue.x-k8s.io/priority-class";
/// The LocalQueue of every scenario (in its own namespace).
const QUEUE: &str = "ray-queue";
/// The one ResourceFlavor, shared by the scenarios' ClusterQueues.
const FLAVOR: &str = "kueue-test-flavor";
const LOW: &str = "kueue-test-low";
const HIGH: &str = "kueue-test-high";

/// Kueue, started once for this test binary after the ray.io CRDs (it looks for each framework's API at start),
/// and known to be answering: a RayCluster that names a queue comes back suspended from a dry-run create.
async fn kueue() {
    static KUEUE: OnceCell<ray_testenv::Kueue> = OnceCell::const_new();
    KUEUE
        .get_or_init(|| async {
            let plane = ray_testenv::ControlPlane::shared()
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            let client = plane.client().await.unwrap_or_else(|e| panic!("{e}"));
            ray_testenv::install_crds(&client, &ray_testenv::project_crd_dir())
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            let options = ray_testenv::KueueOptions::new(plane.kubeconfig())
                .unwrap_or_else(|e| panic!("{e}"));
            let kueue = ray_testenv::Kueue::start(&client, options)
                .await
                .unwrap_or_else(|e| panic!("starting Kueue: {e}"));
            // The API server picks new webhook configurations up from a watch: wait until it calls Kueue.
            let clusters = ray_api(&client, "default", "RayCluster", "rayclusters");
            let probe: DynamicObject =
                serde_json::from_value(queued(cluster("kueue-probe", "100m", None)))
                    .unwrap_or_else(|e| panic!("{e}"));
            until("the API server to call Kueue's webhook", async || {
                let created = clusters
                    .create(
                        &PostParams {
                            dry_run: true,
                            ..PostParams::default()
                        },
                        &probe,
                    )
                    .await
                    .map_err(|e| e.to_string())?;
                if suspended(&created) {
                    Ok(())
                } else {
                    Err("created unsuspended".to_owned())
                }
            })
            .await;
            kueue
        })
        .await;
}

/// `group/version` `kind` (`plural`) of Kueue's API.
fn kueue_api(kind: &str, plural: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("kueue.x-k8s.io", "v1beta2", kind),
        plural,
    )
}

/// Server-side applies a Kueue object (cluster-scoped unless `namespace`).
async fn apply(env: &Scenario, kind: &str, plural: &str, namespace: Option<&str>, object: Value) {
    let resource = kueue_api(kind, plural);
    let api: Api<DynamicObject> = match namespace {
        Some(ns) => Api::namespaced_with(env.client.clone(), ns, &resource),
        None => Api::all_with(env.client.clone(), &resource),
    };
    let name = object["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let mut object = object;
    object["apiVersion"] = json!("kueue.x-k8s.io/v1beta2");
    object["kind"] = json!(kind);
    api.patch(
        &name,
        &PatchParams::apply("kueue-test").force(),
        &Patch::Apply(&object),
    )
    .await
    .unwrap_or_else(|e| panic!("applying {kind} {name}: {e}"));
}

/// The ClusterQueue of this scenario: `cpu` of quota, its namespace only, lower priorities preempted.
fn cluster_queue_name(env: &Scenario) -> String {
    format!("cq-{}", env.namespace)
}

/// A ResourceFlavor, a ClusterQueue with `cpu` of quota for this scenario's namespace, and the LocalQueue
/// [`QUEUE`] there.
async fn queues(env: &Scenario, cpu: &str) {
    apply(
        env,
        "ResourceFlavor",
        "resourceflavors",
        None,
        json!({"metadata": {"name": FLAVOR}}),
    )
    .await;
    apply(
        env,
        "ClusterQueue",
        "clusterqueues",
        None,
        json!({
            "metadata": {"name": cluster_queue_name(env)},
            "spec": {
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": env.namespace}},
                "preemption": {"withinClusterQueue": "LowerPriority"},
                "resourceGroups": [{
                    "coveredResources": ["cpu"],
                    "flavors": [{"name": FLAVOR, "resources": [{"name": "cpu", "nominalQuota": cpu}]}],
                }],
            },
        }),
    )
    .await;
    apply(
        env,
        "LocalQueue",
        "localqueues",
        Some(&env.namespace),
        json!({"metadata": {"name": QUEUE}, "spec": {"clusterQueue": cluster_queue_name(env)}}),
    )
    .await;
}

/// Deletes the scenario's ClusterQueue (cluster-scoped, so the namespace's deletion does not take it), then
/// finishes the scenario.
async fn finish(env: Scenario) {
    let queues: Api<DynamicObject> = Api::all_with(
        env.client.clone(),
        &kueue_api("ClusterQueue", "clusterqueues"),
    );
    let _ = queues
        .delete(&cluster_queue_name(&env), &DeleteParams::default())
        .await;
    env.finish().await;
}

/// The head group of a cluster whose head asks for `cpu` (what Kueue counts against the quota).
///
/// The manifests here are JSON, as users write them for this operator: without `rayStartParams` (and the workers
/// without `minReplicas`/`maxReplicas`). Kueue decodes a queued object into KubeRay's Go types, where those fields
/// have no `omitempty`, so its webhook's patch writes them as `null`; the CRD must take that.
fn head(cpu: &str) -> Value {
    json!({"template": {"spec": {"containers": [{
        "name": "ray-head", "image": RAY_IMAGE,
        "resources": {"requests": {"cpu": cpu}, "limits": {"cpu": cpu}},
    }]}}})
}

/// A RayCluster `name` with a head of `cpu`, and `workers` workers of 100m when given.
fn cluster(name: &str, cpu: &str, workers: Option<i32>) -> Value {
    let mut spec = json!({"headGroupSpec": head(cpu)});
    if let Some(replicas) = workers {
        spec["workerGroupSpecs"] = json!([{
            "groupName": "workers", "replicas": replicas, "template": {"spec": {"containers": [{
                "name": "ray-worker", "image": RAY_IMAGE,
                "resources": {"requests": {"cpu": "100m"}, "limits": {"cpu": "100m"}},
            }]}},
        }]);
    }
    ray_manifest("RayCluster", name, spec)
}

fn ray_manifest(kind: &str, name: &str, spec: Value) -> Value {
    json!({"apiVersion": "ray.io/v1", "kind": kind, "metadata": {"name": name}, "spec": spec})
}

/// `manifest` labelled `key: value`.
fn labelled(mut manifest: Value, key: &str, value: &str) -> Value {
    manifest["metadata"]["labels"][key] = json!(value);
    manifest
}

/// `manifest` labelled with the LocalQueue [`QUEUE`].
fn queued(manifest: Value) -> Value {
    labelled(manifest, QUEUE_LABEL, QUEUE)
}

/// `manifest` labelled with the WorkloadPriorityClass `class`.
fn with_priority(manifest: Value, class: &str) -> Value {
    labelled(manifest, PRIORITY_LABEL, class)
}

/// The API of the ray.io/v1 `kind` (`plural`) in `namespace`, for manifests as written.
fn ray_api(client: &kube::Client, namespace: &str, kind: &str, plural: &str) -> Api<DynamicObject> {
    let resource =
        ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("ray.io", "v1", kind), plural);
    Api::namespaced_with(client.clone(), namespace, &resource)
}

/// Creates `manifest` (a RayCluster or RayJob) in the scenario's namespace; returns what the API server stored,
/// after the webhooks.
async fn create(env: &Scenario, manifest: Value) -> DynamicObject {
    let kind = manifest["kind"].as_str().unwrap_or_default().to_owned();
    let plural = format!("{}s", kind.to_lowercase());
    let object: DynamicObject =
        serde_json::from_value(manifest).unwrap_or_else(|e| panic!("a {kind}: {e}"));
    ray_api(&env.client, &env.namespace, &kind, &plural)
        .create(&PostParams::default(), &object)
        .await
        .unwrap_or_else(|e| panic!("creating {kind} {}: {e}", object.name_any()))
}

/// Whether a created object's `spec.suspend` is `true`.
fn suspended(object: &DynamicObject) -> bool {
    object.data["spec"]["suspend"] == json!(true)
}

/// The Running, not deleted pods of the RayCluster `name`.
async fn running_pods(env: &Scenario, name: &str) -> Vec<Pod> {
    env.api::<Pod>()
        .list(&ListParams::default().labels(&format!("ray.io/cluster={name}")))
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .items
        .into_iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .filter(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"))
        .collect()
}

/// How many pods (of any phase, not being deleted) the RayCluster `name` has.
async fn pod_count(env: &Scenario, name: &str) -> usize {
    env.api::<Pod>()
        .list(&ListParams::default().labels(&format!("ray.io/cluster={name}")))
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .items
        .iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .count()
}

/// The Workload Kueue made for the object of `kind` named `owner`, once there is one.
async fn workload(env: &Scenario, kind: &str, owner: &str) -> DynamicObject {
    let workloads: Api<DynamicObject> = Api::namespaced_with(
        env.client.clone(),
        &env.namespace,
        &kueue_api("Workload", "workloads"),
    );
    until(&format!("the Workload of {kind} {owner}"), async || {
        let list = workloads
            .list(&ListParams::default())
            .await
            .map_err(|e| e.to_string())?;
        list.items
            .into_iter()
            .find(|w| {
                w.owner_references()
                    .iter()
                    .any(|o| o.kind == kind && o.name == owner)
            })
            .ok_or_else(|| "none yet".to_owned())
    })
    .await
}

/// The `reason` of the Workload's condition `type_` when it is `True`.
fn condition_reason(workload: &DynamicObject, type_: &str) -> Option<String> {
    workload.data["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_ && c["status"] == "True")
        .map(|c| c["reason"].as_str().unwrap_or_default().to_owned())
}

/// Waits until the Workload of `kind` `owner` has the condition `type_` `True`; returns the workload.
async fn until_workload(env: &Scenario, kind: &str, owner: &str, type_: &str) -> DynamicObject {
    until(
        &format!("the Workload of {kind} {owner} {type_}"),
        async || {
            let found = workload(env, kind, owner).await;
            if condition_reason(&found, type_).is_some() {
                Ok(found)
            } else {
                Err(format!("conditions {}", found.data["status"]["conditions"]))
            }
        },
    )
    .await
}

/// Waits until the RayCluster `name` is `ready` with `pods` Running pods, admitted (not suspended).
async fn until_running(env: &Scenario, name: &str, pods: usize) {
    let clusters: Api<RayCluster> = env.api();
    until(
        &format!("RayCluster {name} ready with {pods} pods"),
        async || {
            let c = clusters.get(name).await.map_err(|e| e.to_string())?;
            let running = running_pods(env, name).await.len();
            let state = c.status.as_ref().and_then(|s| s.state);
            if !c.spec.suspend && state == Some(ClusterState::Ready) && running == pods {
                Ok(())
            } else {
                Err(format!(
                    "suspend {}, state {state:?}, {running} running pods",
                    c.spec.suspend
                ))
            }
        },
    )
    .await
}

/// Waits until the RayCluster `name` is suspended with no pods left.
async fn until_suspended(env: &Scenario, name: &str) {
    let clusters: Api<RayCluster> = env.api();
    until(
        &format!("RayCluster {name} suspended without pods"),
        async || {
            let c = clusters.get(name).await.map_err(|e| e.to_string())?;
            let pods = pod_count(env, name).await;
            let state = c.status.as_ref().and_then(|s| s.state);
            if c.spec.suspend && state == Some(ClusterState::Suspended) && pods == 0 {
                Ok(())
            } else {
                Err(format!(
                    "suspend {}, state {state:?}, {pods} pods",
                    c.spec.suspend
                ))
            }
        },
    )
    .await
}

/// A RayJob that names the queue is created suspended, stays without a cluster until Kueue admits it, then its
/// cluster comes up, the Ray job runs on the (shared, real) head and succeeds, Kueue sees the Workload finish and
/// the cluster is shut down (Kueue requires `shutdownAfterJobFinishes`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queued_rayjob_is_admitted_runs_and_finishes() {
    let env = Scenario::start("kq-rayjob", CONTROLLERS).await;
    kueue().await;
    queues(&env, "2").await;
    let name = "queued-job";
    let job = queued(ray_manifest(
        "RayJob",
        name,
        json!({
            "entrypoint": "echo hello from a queued rayjob",
            "submissionMode": "HTTPMode",
            "shutdownAfterJobFinishes": true,
            "rayClusterSpec": {"headGroupSpec": head("1")},
        }),
    ));
    let created = create(&env, job).await;
    assert!(
        suspended(&created),
        "Kueue's webhook creates a queued RayJob suspended"
    );

    until_workload(&env, "RayJob", name, "Admitted").await;
    let jobs: Api<RayJob> = env.api();
    let cluster = until("the admitted RayJob's cluster", async || {
        let job = jobs.get(name).await.map_err(|e| e.to_string())?;
        let status = job.status.unwrap_or_default();
        match status.ray_cluster_name {
            Some(cluster) if !job.spec.suspend && !cluster.is_empty() => Ok(cluster),
            _ => Err(format!(
                "suspend {}, {:?}",
                job.spec.suspend, status.job_deployment_status
            )),
        }
    })
    .await;
    until(
        &format!("the head pod of {cluster} running"),
        async || match running_pods(&env, &cluster).await.len() {
            1 => Ok(()),
            n => Err(format!("{n} running pods")),
        },
    )
    .await;

    let done = until(&format!("RayJob {name} Complete"), async || {
        let job = jobs.get(name).await.map_err(|e| e.to_string())?;
        let status = job.status.clone().unwrap_or_default();
        match status.job_deployment_status {
            Some(JobDeploymentStatus::Complete) => Ok(status),
            Some(JobDeploymentStatus::Failed) => panic!("RayJob {name} failed: {status:?}"),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    assert_eq!(done.job_status, Some(JobStatus::Succeeded));
    let job_id = done.job_id.unwrap_or_default();
    let on_head = env
        .dashboard()
        .get_job(&job_id)
        .await
        .unwrap_or_else(|e| panic!("Ray job {job_id}: {e}"));
    assert_eq!(on_head.status.as_str(), "SUCCEEDED");

    until_workload(&env, "RayJob", name, "Finished").await;
    env.until_cluster_deleted(&cluster).await;
    finish(env).await;
}

/// A RayCluster that names the queue is created suspended and gets pods only once Kueue admits it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queued_raycluster_gets_its_pods_once_admitted() {
    let env = Scenario::start("kq-raycluster", CONTROLLERS).await;
    kueue().await;
    let name = "queued-cluster";
    // No queues yet: Kueue cannot admit it, so it must stay suspended, with no pods.
    let created = create(&env, queued(cluster(name, "1", Some(2)))).await;
    assert!(suspended(&created), "Kueue's webhook creates it suspended");
    // Kueue's patch wrote `null` for the omitted `rayStartParams`; the CRD's default made it `{}`.
    assert_eq!(
        created.data["spec"]["headGroupSpec"]["rayStartParams"],
        json!({})
    );
    workload(&env, "RayCluster", name).await;
    until_suspended(&env, name).await;

    queues(&env, "2").await;
    until_workload(&env, "RayCluster", name, "Admitted").await;
    until_running(&env, name, 3).await;
    finish(env).await;
}

/// With quota for one cluster, a high-priority cluster preempts a running low-priority one: Kueue suspends the low
/// one, our operator deletes its pods, the high one runs. When the high one is deleted, the low one is admitted again
/// and its pods come back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_higher_priority_cluster_preempts_and_the_preempted_one_comes_back() {
    let env = Scenario::start("kq-preempt", CONTROLLERS).await;
    kueue().await;
    queues(&env, "1").await;
    for (class, value) in [(LOW, 10), (HIGH, 1000)] {
        apply(
            &env,
            "WorkloadPriorityClass",
            "workloadpriorityclasses",
            None,
            json!({"metadata": {"name": class}, "value": value}),
        )
        .await;
    }

    create(&env, with_priority(queued(cluster("low", "1", None)), LOW)).await;
    until_running(&env, "low", 1).await;

    create(
        &env,
        with_priority(queued(cluster("high", "1", None)), HIGH),
    )
    .await;
    until_suspended(&env, "low").await;
    let preempted = until_workload(&env, "RayCluster", "low", "Evicted").await;
    assert_eq!(
        condition_reason(&preempted, "Evicted").as_deref(),
        Some("Preempted"),
        "{}",
        preempted.data["status"]
    );
    until_running(&env, "high", 1).await;

    let clusters: Api<RayCluster> = env.api();
    clusters
        .delete("high", &DeleteParams::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    env.until_cluster_deleted("high").await;
    until_running(&env, "low", 1).await;
    finish(env).await;
}
