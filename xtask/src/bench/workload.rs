//! What the scale benchmark creates: fake nodes big enough for every pod, namespaces, RayClusters, and the plain
//! pods of the floor measurement; and what it watches to see them converge.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{Namespace, Node, Pod, PodSchedulingGate, Service};
use k8s_openapi::api::events::v1::Event;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::core::PartialObjectMeta;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, ResourceExt};
use ray_api_v1::RayCluster;
use serde_json::json;

/// Prefix of the namespaces the measured RayClusters go to (`bench-ns-0`, `bench-ns-1`, ...).
pub const CLUSTER_NAMESPACE_PREFIX: &str = "bench-ns-";
/// The namespace of the two fairness clusters.
pub const FAIRNESS_NAMESPACE: &str = "bench-fairness";
/// The namespace of the floor measurement's plain pods.
pub const FLOOR_NAMESPACE: &str = "bench-floor";
/// Pods each benchmark node accepts. kwok nodes cost nothing per pod, and few nodes keep kwok's heartbeats cheap.
pub const PODS_PER_NODE: usize = 1000;
/// The worker group of every benchmark cluster.
pub const GROUP: &str = "workers";
/// Ray image named in the pods (never pulled: kwok runs no containers).
const IMAGE: &str = "rayproject/ray:2.60.0";

/// The RayCluster namespace of cluster `index`.
pub fn cluster_namespace(index: usize, namespaces: usize) -> String {
    format!("{CLUSTER_NAMESPACE_PREFIX}{}", index % namespaces.max(1))
}

/// The worker group of a benchmark cluster with `replicas` workers (small requests, as in KubeRay's own
/// scalability tests, so that many fit on a node).
pub fn worker_group(replicas: usize, max: usize) -> serde_json::Value {
    json!({
        "groupName": GROUP,
        "replicas": replicas,
        "minReplicas": 0,
        "maxReplicas": max.max(replicas),
        "rayStartParams": {},
        "template": {"spec": {"containers": [{
            "name": "ray-worker",
            "image": IMAGE,
            "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}}
        }]}}
    })
}

/// A RayCluster of one head and `workers` workers in one group that may grow to `max`.
pub fn cluster(
    name: &str,
    namespace: &str,
    workers: usize,
    max: usize,
) -> anyhow::Result<RayCluster> {
    let value = json!({
        "apiVersion": "ray.io/v1",
        "kind": "RayCluster",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "rayVersion": "2.60.0",
            "headGroupSpec": {
                "rayStartParams": {},
                "template": {"spec": {"containers": [{
                    "name": "ray-head",
                    "image": IMAGE,
                    "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"cpu": "1", "memory": "2Gi"}}
                }]}}
            },
            "workerGroupSpecs": [worker_group(workers, max)]
        }
    });
    let cluster: RayCluster =
        serde_json::from_value(value).context("the benchmark's RayCluster does not parse")?;
    if let Err(errors) = ray_api_v1::validation::validate_cluster(&cluster) {
        anyhow::bail!("the benchmark's RayCluster is invalid: {errors}");
    }
    Ok(cluster)
}

/// Creates `count` kwok nodes (`bench-node-N`) with room for [`PODS_PER_NODE`] pods each and waits until they are
/// Ready.
pub async fn create_nodes(client: &Client, count: usize) -> anyhow::Result<()> {
    let nodes: Api<Node> = Api::all(client.clone());
    for i in 0..count {
        let name = format!("bench-node-{i}");
        let capacity = json!({"cpu": "4000", "memory": "64Ti", "pods": PODS_PER_NODE.to_string()});
        let node: Node = serde_json::from_value(json!({
            "metadata": {
                "name": name,
                "annotations": {ray_testenv::KWOK_ANNOTATION: ray_testenv::KWOK_ANNOTATION_VALUE},
                "labels": {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
                           "kubernetes.io/arch": "amd64", "type": "kwok"}
            },
            "status": {"capacity": capacity, "allocatable": capacity}
        }))?;
        nodes
            .create(&PostParams::default(), &node)
            .await
            .with_context(|| format!("creating node {name}"))?;
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    for i in 0..count {
        let name = format!("bench-node-{i}");
        while !ray_testenv::is_ready(client, &name).await? {
            if Instant::now() > deadline {
                anyhow::bail!("kwok did not make node {name} Ready within 120 s");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    Ok(())
}

/// Creates a namespace (no-op if it exists).
pub async fn create_namespace(client: &Client, name: &str) -> anyhow::Result<()> {
    let namespace: Namespace = serde_json::from_value(json!({"metadata": {"name": name}}))?;
    match Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &namespace)
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.is_already_exists() => Ok(()),
        Err(e) => Err(e).with_context(|| format!("creating namespace {name}")),
    }
}

/// Creates RayClusters, `in_flight` at a time. Returns when every create was answered.
pub async fn create_clusters(
    client: &Client,
    clusters: Vec<RayCluster>,
    in_flight: usize,
) -> anyhow::Result<()> {
    futures::stream::iter(clusters.into_iter().map(|cluster| {
        let client = client.clone();
        async move {
            let namespace = cluster.namespace().unwrap_or_default();
            let name = cluster.name_any();
            Api::<RayCluster>::namespaced(client, &namespace)
                .create(&PostParams::default(), &cluster)
                .await
                .with_context(|| format!("creating RayCluster {namespace}/{name}"))
        }
    }))
    .buffer_unordered(in_flight)
    .try_for_each(|_| async { Ok(()) })
    .await
}

/// Sets the worker count of a benchmark cluster (the whole group is rewritten, as a merge patch replaces lists).
pub async fn scale(
    client: &Client,
    namespace: &str,
    name: &str,
    replicas: usize,
    max: usize,
) -> anyhow::Result<()> {
    let patch = json!({"spec": {"workerGroupSpecs": [worker_group(replicas, max)]}});
    Api::<RayCluster>::namespaced(client.clone(), namespace)
        .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .with_context(|| format!("scaling RayCluster {namespace}/{name} to {replicas} workers"))?;
    Ok(())
}

/// What the floor measurement found.
#[derive(Debug, Clone, Copy)]
pub struct FloorTiming {
    /// Pods created.
    pub pods: usize,
    /// Seconds from the first create to the last answer.
    pub seconds: f64,
}

/// The floor: creates `count` pods shaped like the operator's worker pods from a plain client limited to the
/// same QPS and burst, as fast as that allows, and times it. The pods carry a scheduling gate, so neither the
/// scheduler nor kwok touch them, and are deleted (grace period 0) afterwards.
pub async fn floor(
    client: &Client,
    template: &RayCluster,
    count: usize,
    in_flight: usize,
) -> anyhow::Result<FloorTiming> {
    let options = ray_builders::RenderOptions {
        default_namespace: FLOOR_NAMESPACE.to_string(),
        ..ray_builders::RenderOptions::default()
    };
    let ctx = ray_builders::ClusterContext::new(template, &options)
        .context("rendering the floor's pod")?;
    let mut pod = ray_builders::worker_pod(&ctx, 0, &ray_builders::WorkerReplica::default())
        .context("rendering the floor's pod")?;
    // Not one of the operator's pods: no ray.io labels, so its label-selected cache never sees them.
    if let Some(labels) = pod.metadata.labels.as_mut() {
        labels.retain(|k, _| !k.starts_with("ray.io/"));
    }
    pod.metadata.namespace = Some(FLOOR_NAMESPACE.to_string());
    pod.metadata.generate_name = None;
    if let Some(spec) = pod.spec.as_mut() {
        spec.scheduling_gates = Some(vec![PodSchedulingGate {
            name: "bench.ray.io/floor".to_string(),
        }]);
    }
    let api: Api<Pod> = Api::namespaced(client.clone(), FLOOR_NAMESPACE);
    let started = Instant::now();
    futures::stream::iter((0..count).map(|i| {
        let mut pod = pod.clone();
        pod.metadata.name = Some(format!("floor-{i}"));
        let api = api.clone();
        async move {
            api.create(&PostParams::default(), &pod)
                .await
                .with_context(|| format!("creating floor pod {i}"))
        }
    }))
    .buffer_unordered(in_flight)
    .try_for_each(|_| async { Ok(()) })
    .await?;
    let seconds = started.elapsed().as_secs_f64();
    // One delete-collection of 11,000 pods can outlast the API server's request timeout on a loaded machine (the
    // deletion goes on server-side); ask again until the list is empty.
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let deleted = api
            .delete_collection(
                &DeleteParams {
                    grace_period_seconds: Some(0),
                    ..DeleteParams::default()
                },
                &ListParams::default().limit(2000),
            )
            .await;
        let remaining = api
            .list_metadata(&ListParams::default().limit(1))
            .await
            .context("listing the floor's pods")?;
        if remaining.items.is_empty() {
            break;
        }
        if Instant::now() > deadline {
            let why = deleted.err().map(|e| format!(": {e}")).unwrap_or_default();
            anyhow::bail!("the floor's pods were not deleted within 300 s{why}");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Ok(FloorTiming {
        pods: count,
        seconds,
    })
}

/// What the watches have seen of one RayCluster.
#[derive(Debug, Clone, Copy, Default)]
pub struct ClusterSeen {
    /// `status.state == ready`.
    pub ready: bool,
    /// `status.readyWorkerReplicas`.
    pub ready_workers: i64,
}

/// Everything the watches have seen in the benchmark's namespaces.
#[derive(Debug, Default)]
pub struct Seen {
    /// Existing operator pods by (namespace, name), with their cluster.
    pods: HashMap<(String, String), String>,
    /// RayClusters by (namespace, name).
    clusters: HashMap<(String, String), ClusterSeen>,
    /// Whether changes are being counted (the quiet period).
    counting: bool,
    /// Changes (added, modified or deleted objects) by kind while counting.
    changes: BTreeMap<String, u64>,
}

impl Seen {
    /// Operator pods existing in namespaces whose name starts with `prefix`.
    pub fn pods_in(&self, prefix: &str) -> usize {
        self.pods
            .keys()
            .filter(|(ns, _)| ns.starts_with(prefix))
            .count()
    }

    /// Operator pods of one cluster.
    pub fn pods_of(&self, namespace: &str, cluster: &str) -> usize {
        self.pods
            .iter()
            .filter(|((ns, _), c)| ns == namespace && c.as_str() == cluster)
            .count()
    }

    /// RayClusters in namespaces starting with `prefix` that are ready with `workers` ready workers.
    pub fn ready_in(&self, prefix: &str, workers: i64) -> usize {
        self.clusters
            .iter()
            .filter(|((ns, _), c)| ns.starts_with(prefix) && c.ready && c.ready_workers >= workers)
            .count()
    }

    /// One cluster, if seen.
    pub fn cluster(&self, namespace: &str, name: &str) -> ClusterSeen {
        self.clusters
            .get(&(namespace.to_string(), name.to_string()))
            .copied()
            .unwrap_or_default()
    }

    /// Starts counting changes from zero.
    pub fn start_counting(&mut self) {
        self.changes.clear();
        self.counting = true;
    }

    /// Stops counting and returns the changes by kind.
    pub fn stop_counting(&mut self) -> BTreeMap<String, u64> {
        self.counting = false;
        std::mem::take(&mut self.changes)
    }

    fn changed(&mut self, kind: &str) {
        if self.counting {
            *self.changes.entry(kind.to_string()).or_default() += 1;
        }
    }
}

/// Shared view of what the watches saw.
pub type Shared = Arc<Mutex<Seen>>;

fn is_bench(namespace: Option<&str>) -> bool {
    namespace.is_some_and(|ns| ns.starts_with("bench-"))
}

fn key(meta: &kube::api::ObjectMeta) -> (String, String) {
    (
        meta.namespace.clone().unwrap_or_default(),
        meta.name.clone().unwrap_or_default(),
    )
}

/// Starts watches on the operator's pods (metadata only), RayClusters, Services and Events in every namespace and
/// records what they see in benchmark namespaces. The tasks end with the runtime.
pub fn watch(client: &Client) -> Shared {
    let seen: Shared = Arc::default();
    let pods = watcher(
        Api::<PartialObjectMeta<Pod>>::all(client.clone()),
        watcher::Config::default().labels("ray.io/node-type"),
    )
    .default_backoff();
    let shared = seen.clone();
    tokio::spawn(pods.for_each(move |event| {
        let shared = shared.clone();
        async move {
            let Ok(mut seen) = shared.lock() else { return };
            match event {
                Ok(watcher::Event::Apply(p) | watcher::Event::InitApply(p))
                    if is_bench(p.metadata.namespace.as_deref()) =>
                {
                    let cluster = p
                        .labels()
                        .get("ray.io/cluster")
                        .cloned()
                        .unwrap_or_default();
                    seen.pods.insert(key(&p.metadata), cluster);
                    seen.changed("pods");
                }
                Ok(watcher::Event::Delete(p)) if is_bench(p.metadata.namespace.as_deref()) => {
                    seen.pods.remove(&key(&p.metadata));
                    seen.changed("pods");
                }
                _ => {}
            }
        }
    }));
    let clusters = watcher(
        Api::<RayCluster>::all(client.clone()),
        watcher::Config::default(),
    )
    .default_backoff();
    let shared = seen.clone();
    tokio::spawn(clusters.for_each(move |event| {
        let shared = shared.clone();
        async move {
            let Ok(mut seen) = shared.lock() else { return };
            match event {
                Ok(watcher::Event::Apply(c) | watcher::Event::InitApply(c))
                    if is_bench(c.metadata.namespace.as_deref()) =>
                {
                    let status = c.status.as_ref();
                    let state = status
                        .and_then(|s| s.state.as_ref())
                        .and_then(|s| serde_json::to_value(s).ok());
                    seen.clusters.insert(
                        key(&c.metadata),
                        ClusterSeen {
                            ready: state.as_ref().and_then(|v| v.as_str()) == Some("ready"),
                            ready_workers: status
                                .and_then(|s| s.ready_worker_replicas)
                                .map(i64::from)
                                .unwrap_or(0),
                        },
                    );
                    seen.changed("rayclusters");
                }
                Ok(watcher::Event::Delete(c)) if is_bench(c.metadata.namespace.as_deref()) => {
                    seen.clusters.remove(&key(&c.metadata));
                    seen.changed("rayclusters");
                }
                _ => {}
            }
        }
    }));
    count_changes::<Service>(client, &seen, "services");
    count_changes::<Event>(client, &seen, "events");
    seen
}

/// Counts changes to objects of kind `K` in benchmark namespaces while counting is on.
fn count_changes<K>(client: &Client, seen: &Shared, kind: &'static str)
where
    K: kube::Resource<DynamicType = ()>
        + Clone
        + std::fmt::Debug
        + serde::de::DeserializeOwned
        + Send
        + 'static,
{
    let stream = watcher(
        Api::<PartialObjectMeta<K>>::all(client.clone()),
        watcher::Config::default(),
    )
    .default_backoff();
    let shared = seen.clone();
    tokio::spawn(stream.for_each(move |event| {
        let shared = shared.clone();
        async move {
            // Only live events: a relist after a broken watch re-reports every object and is not a change.
            if let Ok(watcher::Event::Apply(o) | watcher::Event::Delete(o)) = &event
                && is_bench(o.metadata.namespace.as_deref())
                && let Ok(mut seen) = shared.lock()
            {
                seen.changed(kind);
            }
        }
    }));
}
