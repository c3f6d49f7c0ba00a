//! The controllers' one view of the pods the operator manages: a compact summary of each pod, indexed by the
//! RayCluster it belongs to.
//!
//! KubeRay users see the operator's memory grow with every pod in the cluster. Here only pods with the label
//! `ray.io/node-type` are watched, and of each only what a decision or the status reads is kept ([`CachedPod`]:
//! a few hundred bytes, where even a pruned k8s-openapi `Pod` takes kilobytes in memory). A reconcile reads its
//! own cluster's entries ([`PodIndex::cluster_pods`]) without copying the others', so its cost does not grow with
//! the number of clusters.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, PoisonError, RwLock};

use futures::{Stream, StreamExt};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::Api;
use kube::runtime::{WatchStreamExt, watcher};
use ray_builders::labels;
use tokio::sync::watch;

/// The label every operator-managed pod carries.
pub const SELECTOR: &str = "ray.io/node-type";

/// A pod's role in its Ray cluster, from the label `ray.io/node-type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeType {
    /// The head pod.
    Head,
    /// A worker pod.
    Worker,
    /// Any other value of the label.
    Other,
}

/// A pod's `status.phase`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PodPhase {
    /// Not all containers started yet (or no phase reported).
    Pending,
    /// Bound to a node, containers started.
    Running,
    /// Every container exited with success and none restarts.
    Succeeded,
    /// Every container exited, at least one with failure.
    Failed,
    /// `Unknown` or a value this operator does not know.
    Unknown,
}

impl PodPhase {
    fn parse(phase: Option<&str>) -> Self {
        match phase {
            None | Some("Pending") => PodPhase::Pending,
            Some("Running") => PodPhase::Running,
            Some("Succeeded") => PodPhase::Succeeded,
            Some("Failed") => PodPhase::Failed,
            Some(_) => PodPhase::Unknown,
        }
    }

    /// The phase as the API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            PodPhase::Pending => "Pending",
            PodPhase::Running => "Running",
            PodPhase::Succeeded => "Succeeded",
            PodPhase::Failed => "Failed",
            PodPhase::Unknown => "Unknown",
        }
    }
}

/// Why something is not as wanted: a CamelCase reason and a message, as the API reports them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reason {
    /// `ErrImagePull`, `CrashLoopBackOff`, `Error`, ...
    pub reason: String,
    /// The kubelet's message, possibly empty.
    pub message: String,
}

/// The Ray container (the first container) has terminated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RayContainerExit {
    /// The container's name.
    pub container: String,
    /// Its exit code.
    pub code: i32,
}

/// What the controllers read of one pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedPod {
    /// `metadata.name`.
    pub name: String,
    /// `metadata.namespace`.
    pub namespace: String,
    /// `metadata.creationTimestamp`.
    pub created: Option<Time>,
    /// Whether `metadata.deletionTimestamp` is set: the pod is going away and no longer counts.
    pub terminating: bool,
    /// The label `ray.io/node-type`.
    pub node_type: NodeType,
    /// The label `ray.io/cluster`.
    pub cluster: Option<String>,
    /// The label `ray.io/group` (the worker group; `headgroup` on the head).
    pub group: Option<String>,
    /// The label `ray.io/worker-group-replica-index`, when it is a number.
    pub replica_index: Option<i32>,
    /// The label `ray.io/worker-group-replica-name` (multi-host replicas).
    pub replica_name: Option<String>,
    /// The label `ray.io/serve` (RayService: whether the pod takes Serve traffic).
    pub serve: Option<String>,
    /// `status.phase`.
    pub phase: PodPhase,
    /// Whether the condition `Ready` is `True`.
    pub ready: bool,
    /// `status.podIP`.
    pub ip: Option<String>,
    /// Whether `spec.restartPolicy` is `Never`: a terminated Ray container then never comes back.
    pub restart_never: bool,
    /// The exit code of the Ray container (the first container), when it has terminated. (Boxed, as the two
    /// below: rare, and a pointer instead of the struct keeps every healthy pod's summary 100 bytes smaller.)
    pub ray_container_exit: Option<Box<RayContainerExit>>,
    /// The first container that is waiting or terminated, with why; shown in the head's status condition.
    pub trouble: Option<Box<Reason>>,
    /// The reason and message of the `Ready` condition when it is there and not `True` (reason `Unknown` when
    /// it has none).
    pub not_ready: Option<Box<Reason>>,
    /// The annotation `ray.io/upgrade-strategy-recreate-hash`: the hash of the spec the pod was created from.
    pub spec_hash: Option<String>,
    /// The annotation `ray.io/kuberay-version`: the operator version that created the pod.
    pub operator_version: Option<String>,
}

impl CachedPod {
    /// The summary of `pod`.
    pub fn of(pod: &Pod) -> Self {
        let meta = &pod.metadata;
        let label = |key: &str| meta.labels.as_ref().and_then(|l| l.get(key)).cloned();
        let annotation = |key: &str| {
            meta.annotations
                .as_ref()
                .and_then(|a| a.get(key))
                .filter(|v| !v.is_empty())
                .cloned()
        };
        let node_type = match meta
            .labels
            .as_ref()
            .and_then(|l| l.get(labels::NODE_TYPE))
            .map(String::as_str)
        {
            Some(labels::NODE_TYPE_HEAD) => NodeType::Head,
            Some(labels::NODE_TYPE_WORKER) => NodeType::Worker,
            _ => NodeType::Other,
        };
        let spec = pod.spec.as_ref();
        let status = pod.status.as_ref();
        let ray_container = spec
            .and_then(|s| s.containers.first())
            .map(|c| c.name.as_str());
        let container_statuses = status
            .and_then(|s| s.container_statuses.as_deref())
            .unwrap_or_default();
        let ray_container_exit = ray_container.and_then(|ray| {
            container_statuses
                .iter()
                .find(|c| c.name == ray)
                .and_then(|c| c.state.as_ref())
                .and_then(|s| s.terminated.as_ref())
                .map(|t| RayContainerExit {
                    container: ray.to_owned(),
                    code: t.exit_code,
                })
                .map(Box::new)
        });
        let trouble = container_statuses
            .iter()
            .find_map(|c| {
                let state = c.state.as_ref()?;
                if let Some(waiting) = &state.waiting {
                    return Some(Reason {
                        reason: waiting.reason.clone()?,
                        message: waiting.message.clone().unwrap_or_default(),
                    });
                }
                let terminated = state.terminated.as_ref()?;
                Some(Reason {
                    reason: terminated
                        .reason
                        .clone()
                        .unwrap_or_else(|| "Terminated".into()),
                    message: terminated.message.clone().unwrap_or_default(),
                })
            })
            .map(Box::new);
        CachedPod {
            name: meta.name.clone().unwrap_or_default(),
            namespace: meta.namespace.clone().unwrap_or_default(),
            created: meta.creation_timestamp.clone(),
            terminating: meta.deletion_timestamp.is_some(),
            node_type,
            cluster: label(labels::CLUSTER),
            group: label(labels::GROUP),
            replica_index: label(labels::WORKER_GROUP_REPLICA_INDEX).and_then(|v| v.parse().ok()),
            replica_name: label(labels::WORKER_GROUP_REPLICA_NAME),
            serve: label(labels::SERVE),
            phase: PodPhase::parse(status.and_then(|s| s.phase.as_deref())),
            ready: status
                .and_then(|s| s.conditions.as_deref())
                .unwrap_or_default()
                .iter()
                .any(|c| c.type_ == "Ready" && c.status == "True"),
            not_ready: status
                .and_then(|s| s.conditions.as_deref())
                .unwrap_or_default()
                .iter()
                .find(|c| c.type_ == "Ready")
                .filter(|c| c.status != "True")
                .map(|c| Reason {
                    reason: c
                        .reason
                        .clone()
                        .filter(|r| !r.is_empty())
                        .unwrap_or_else(|| "Unknown".into()),
                    message: c.message.clone().unwrap_or_default(),
                })
                .map(Box::new),
            ip: status.and_then(|s| s.pod_ip.clone()),
            restart_never: spec.and_then(|s| s.restart_policy.as_deref()) == Some("Never"),
            ray_container_exit,
            trouble,
            spec_hash: annotation(labels::RECREATE_HASH_ANNOTATION),
            operator_version: annotation(labels::KUBERAY_VERSION_ANNOTATION),
        }
    }

    /// Whether this is a head pod.
    pub fn is_head(&self) -> bool {
        self.node_type == NodeType::Head
    }

    /// Whether this is a worker of the named group.
    pub fn is_worker_of(&self, group: &str) -> bool {
        self.node_type == NodeType::Worker && self.group.as_deref() == Some(group)
    }

    /// Whether the pod is `Running` with condition `Ready=True`.
    pub fn is_running_and_ready(&self) -> bool {
        self.phase == PodPhase::Running && self.ready
    }
}

/// The pods of one namespace: each cluster's pods by name, and which cluster each pod is filed under (so a pod
/// whose `ray.io/cluster` label changes, or that is deleted, is found without a scan). A cluster's name is stored
/// once and shared by its pods' entries.
#[derive(Debug, Default)]
struct Namespace {
    clusters: HashMap<Arc<str>, BTreeMap<String, Arc<CachedPod>>>,
    filed_under: HashMap<String, Arc<str>>,
}

/// Every indexed pod, by namespace.
#[derive(Debug, Default)]
struct Pods {
    namespaces: HashMap<String, Namespace>,
}

impl Pods {
    fn insert(&mut self, pod: CachedPod) {
        self.remove(&pod.namespace, &pod.name);
        // A pod without the cluster label belongs to no RayCluster any controller reconciles.
        let Some(cluster) = pod.cluster.as_deref() else {
            return;
        };
        let namespace = self.namespaces.entry(pod.namespace.clone()).or_default();
        let cluster: Arc<str> = match namespace.clusters.get_key_value(cluster) {
            Some((shared, _)) => shared.clone(),
            None => Arc::from(cluster),
        };
        namespace
            .filed_under
            .insert(pod.name.clone(), cluster.clone());
        namespace
            .clusters
            .entry(cluster)
            .or_default()
            .insert(pod.name.clone(), Arc::new(pod));
    }

    fn remove(&mut self, namespace: &str, name: &str) {
        let Some(ns) = self.namespaces.get_mut(namespace) else {
            return;
        };
        if let Some(cluster) = ns.filed_under.remove(name)
            && let Some(pods) = ns.clusters.get_mut(&cluster)
        {
            pods.remove(name);
            if pods.is_empty() {
                ns.clusters.remove(&cluster);
            }
        }
        if ns.filed_under.is_empty() {
            self.namespaces.remove(namespace);
        }
    }

    fn len(&self) -> usize {
        self.namespaces.values().map(|n| n.filed_under.len()).sum()
    }
}

/// The index: filled by the stream [`watch()`] returns, read by reconciles.
#[derive(Debug)]
pub struct PodIndex {
    live: RwLock<Pods>,
    /// The next list's pods while the watch (re)lists; swapped in whole when the list is done, so a reconcile
    /// never sees half a list.
    relist: RwLock<Option<Pods>>,
    synced: watch::Sender<bool>,
}

impl Default for PodIndex {
    fn default() -> Self {
        PodIndex {
            live: RwLock::default(),
            relist: RwLock::default(),
            synced: watch::Sender::new(false),
        }
    }
}

impl PodIndex {
    /// An empty index whose first list has not finished; tests fill it with [`PodIndex::insert`].
    pub fn new() -> Self {
        Self::default()
    }

    /// The pods of the RayCluster `namespace/cluster` (label `ray.io/cluster`), terminating ones included, in
    /// name order.
    pub fn cluster_pods(&self, namespace: &str, cluster: &str) -> Vec<Arc<CachedPod>> {
        let live = self.live.read().unwrap_or_else(PoisonError::into_inner);
        live.namespaces
            .get(namespace)
            .and_then(|ns| ns.clusters.get(cluster))
            .map(|pods| pods.values().cloned().collect())
            .unwrap_or_default()
    }

    /// How many pods the index holds.
    pub fn len(&self) -> usize {
        self.live
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Whether the index holds no pod.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Adds or replaces a pod, and marks the index synced (for tests and for callers that fill it by hand).
    pub fn insert(&self, pod: &Pod) {
        self.live
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(CachedPod::of(pod));
        self.synced.send_replace(true);
    }

    /// Resolves once the first list has been indexed.
    pub async fn wait_until_synced(&self) {
        let mut synced = self.synced.subscribe();
        // The sender lives in `self`, so the channel cannot close while this borrow lasts.
        let _ = synced.wait_for(|synced| *synced).await;
    }

    /// The index as a cache the runner waits for before the controller counts as ready, named `name`.
    pub fn readiness(self: &Arc<Self>, name: impl Into<String>) -> operator_runtime::runner::Cache {
        let index = self.clone();
        operator_runtime::runner::Cache::from_future(name, async move {
            index.wait_until_synced().await;
            true
        })
    }

    /// Applies one watch event.
    fn apply(&self, event: &watcher::Event<Pod>) {
        match event {
            watcher::Event::Apply(pod) => self
                .live
                .write()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(CachedPod::of(pod)),
            watcher::Event::Delete(pod) => {
                let meta = &pod.metadata;
                self.live
                    .write()
                    .unwrap_or_else(PoisonError::into_inner)
                    .remove(
                        meta.namespace.as_deref().unwrap_or_default(),
                        meta.name.as_deref().unwrap_or_default(),
                    );
            }
            watcher::Event::Init => {
                *self.relist.write().unwrap_or_else(PoisonError::into_inner) =
                    Some(Pods::default());
            }
            watcher::Event::InitApply(pod) => {
                if let Some(pods) = self
                    .relist
                    .write()
                    .unwrap_or_else(PoisonError::into_inner)
                    .as_mut()
                {
                    pods.insert(CachedPod::of(pod));
                }
            }
            watcher::Event::InitDone => {
                let listed = self
                    .relist
                    .write()
                    .unwrap_or_else(PoisonError::into_inner)
                    .take();
                if let Some(listed) = listed {
                    *self.live.write().unwrap_or_else(PoisonError::into_inner) = listed;
                }
                self.synced.send_replace(true);
            }
        }
    }
}

/// Watches the pods matching `selector` (at least [`SELECTOR`]), keeps `index` current and yields every touched
/// pod, for `Controller::owns_stream` (a pod change reconciles its RayCluster) or `watches_stream`. The stream must
/// be polled for the index to fill; the pods it yields are not kept.
pub fn watch(
    api: Api<Pod>,
    selector: &str,
    index: Arc<PodIndex>,
) -> impl Stream<Item = Result<Pod, watcher::Error>> + Send + 'static {
    watcher(api, watcher::Config::default().labels(selector))
        .backoff(operator_runtime::watch_backoff())
        .inspect(move |event| {
            if let Ok(event) = event {
                index.apply(event);
            }
        })
        .touched_objects()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn pod(name: &str, cluster: &str, node_type: &str) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": "ns",
                "labels": {"ray.io/cluster": cluster, "ray.io/node-type": node_type, "ray.io/group": "g",
                    "ray.io/worker-group-replica-index": "3"}},
            "spec": {"containers": [{"name": "ray"}]},
        }))
        .unwrap_or_else(|e| panic!("{e}"))
    }

    fn names(index: &PodIndex, cluster: &str) -> Vec<String> {
        index
            .cluster_pods("ns", cluster)
            .iter()
            .map(|p| p.name.clone())
            .collect()
    }

    #[test]
    fn the_summary_keeps_what_decisions_and_the_status_read() {
        let pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": "c-head", "namespace": "n", "creationTimestamp": "2026-01-01T00:00:00Z",
                "deletionTimestamp": "2026-01-01T00:01:00Z",
                "labels": {"ray.io/cluster": "c", "ray.io/node-type": "head", "ray.io/group": "headgroup",
                    "ray.io/serve": "true", "ray.io/worker-group-replica-name": "r"},
                "managedFields": [{"manager": "x", "operation": "Update"}]},
            "spec": {"restartPolicy": "Never", "containers": [
                {"name": "ray-head", "image": "rayproject/ray:2.60.0", "env": [{"name": "A", "value": "1"}]},
                {"name": "sidecar"}]},
            "status": {"phase": "Running", "podIP": "10.0.0.1",
                "conditions": [{"type": "Ready", "status": "False"}],
                "containerStatuses": [
                    {"name": "sidecar", "image": "x", "imageID": "", "ready": false, "restartCount": 0,
                        "state": {"waiting": {"reason": "ErrImagePull", "message": "no such image"}}},
                    {"name": "ray-head", "image": "x", "imageID": "", "ready": false, "restartCount": 1,
                        "state": {"terminated": {"exitCode": 137, "reason": "OOMKilled"}}}]}
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        let summary = CachedPod::of(&pod);
        assert_eq!(summary.name, "c-head");
        assert_eq!(summary.namespace, "n");
        assert!(summary.terminating && summary.created.is_some());
        assert!(summary.is_head() && !summary.is_worker_of("headgroup"));
        assert_eq!(summary.cluster.as_deref(), Some("c"));
        assert_eq!(summary.serve.as_deref(), Some("true"));
        assert_eq!(summary.replica_name.as_deref(), Some("r"));
        assert_eq!(summary.phase, PodPhase::Running);
        assert!(!summary.ready && !summary.is_running_and_ready());
        assert_eq!(summary.ip.as_deref(), Some("10.0.0.1"));
        assert!(summary.restart_never);
        // The Ray container is the first one in the spec, wherever its status is listed.
        assert_eq!(
            summary.ray_container_exit.as_deref(),
            Some(&RayContainerExit {
                container: "ray-head".into(),
                code: 137
            })
        );
        assert_eq!(
            summary.trouble.as_deref(),
            Some(&Reason {
                reason: "ErrImagePull".into(),
                message: "no such image".into()
            })
        );
        assert_eq!(
            summary.not_ready.as_deref(),
            Some(&Reason {
                reason: "Unknown".into(),
                message: String::new()
            })
        );
    }

    #[test]
    fn a_pod_without_status_is_pending_and_not_ready() {
        let summary = CachedPod::of(&pod("w", "c", "worker"));
        assert_eq!(summary.phase, PodPhase::Pending);
        assert!(!summary.ready && !summary.restart_never);
        assert_eq!(summary.replica_index, Some(3));
        assert!(summary.is_worker_of("g") && !summary.is_head());
        assert_eq!(summary.ray_container_exit, None);
    }

    #[test]
    fn pods_are_filed_under_their_cluster_and_move_when_the_label_changes() {
        let index = PodIndex::new();
        index.apply(&watcher::Event::Apply(pod("a-1", "a", "worker")));
        index.apply(&watcher::Event::Apply(pod("a-0", "a", "head")));
        index.apply(&watcher::Event::Apply(pod("b-0", "b", "head")));
        assert_eq!(names(&index, "a"), ["a-0", "a-1"]);
        assert_eq!(names(&index, "b"), ["b-0"]);
        assert!(index.cluster_pods("other-ns", "a").is_empty());

        index.apply(&watcher::Event::Apply(pod("a-1", "b", "worker")));
        assert_eq!(names(&index, "a"), ["a-0"]);
        assert_eq!(names(&index, "b"), ["a-1", "b-0"]);

        index.apply(&watcher::Event::Delete(pod("a-1", "b", "worker")));
        assert_eq!(names(&index, "b"), ["b-0"]);
        assert_eq!(index.len(), 2);
    }

    #[tokio::test]
    async fn a_relist_replaces_the_index_only_when_it_is_complete() {
        let index = PodIndex::new();
        assert!(
            futures::FutureExt::now_or_never(index.wait_until_synced()).is_none(),
            "not synced before the first list"
        );
        index.apply(&watcher::Event::Init);
        index.apply(&watcher::Event::InitApply(pod("a-0", "a", "head")));
        assert!(index.is_empty(), "half a list is not shown");
        index.apply(&watcher::Event::InitDone);
        index.wait_until_synced().await;
        assert_eq!(names(&index, "a"), ["a-0"]);

        // The watch restarts; a-0 was deleted while it was down, a-1 created.
        index.apply(&watcher::Event::Init);
        index.apply(&watcher::Event::InitApply(pod("a-1", "a", "worker")));
        assert_eq!(
            names(&index, "a"),
            ["a-0"],
            "the old view stays until the list is done"
        );
        index.apply(&watcher::Event::InitDone);
        assert_eq!(names(&index, "a"), ["a-1"]);
    }
}
