//! Label and annotation keys and values, exactly as KubeRay writes them.
//!
//! The Ray autoscaler, KubeRay's kubectl plugin, dashboards and users' scripts select Ray pods and services by these
//! keys, so they are a wire contract: never rename them.

use std::collections::BTreeMap;

/// Label on every object of a cluster: the RayCluster's name.
pub const CLUSTER: &str = "ray.io/cluster";
/// Label on Ray pods and the head Service: `head`, `worker` or `redis-cleanup`.
pub const NODE_TYPE: &str = "ray.io/node-type";
/// Label on Ray pods: `headgroup` for the head, the worker group's name for workers.
pub const GROUP: &str = "ray.io/group";
/// Label on Ray pods: always `yes`.
pub const IS_RAY_NODE: &str = "ray.io/is-ray-node";
/// Label on Ray pods, the head Service and the Ingress: `<cluster>-head` or `<cluster>-worker`.
pub const IDENTIFIER: &str = "ray.io/identifier";
/// Standard application-name label: always `kuberay`.
pub const APP_NAME: &str = "app.kubernetes.io/name";
/// Standard created-by label: always `kuberay-operator`. The operator caches only Jobs carrying it.
pub const APP_CREATED_BY: &str = "app.kubernetes.io/created-by";
/// Label on RayService pods (`true`/`false`: may this pod receive Serve traffic) and serve Services
/// (`<name>-serve`).
pub const SERVE: &str = "ray.io/serve";
/// Label on the headless worker Service of multi-host groups: the cluster's name.
pub const HEADLESS_WORKER_SVC: &str = "ray.io/headless-worker-svc";
/// Label on objects created for a RayJob or RayService: the owner's name.
pub const ORIGINATED_FROM_CR_NAME: &str = "ray.io/originated-from-cr-name";
/// Label on objects created for a RayJob or RayService: `RayCluster`, `RayJob` or `RayService`.
pub const ORIGINATED_FROM_CRD: &str = "ray.io/originated-from-crd";
/// Label on RayClusters created for a RayJob: its submission mode.
pub const JOB_SUBMISSION_MODE: &str = "ray.io/job-submission-mode";
/// Label on multi-host worker pods: the name of the replica (the set of hosts created and deleted together).
pub const WORKER_GROUP_REPLICA_NAME: &str = "ray.io/worker-group-replica-name";
/// Label on worker pods: the replica's index within its group.
pub const WORKER_GROUP_REPLICA_INDEX: &str = "ray.io/worker-group-replica-index";
/// Label on multi-host worker pods: the host's index within its replica (`0..numOfHosts`).
pub const REPLICA_HOST_INDEX: &str = "ray.io/replica-host-index";

/// Value of [`APP_NAME`].
pub const APP_NAME_VALUE: &str = "kuberay";
/// Value of [`APP_CREATED_BY`].
pub const APP_CREATED_BY_VALUE: &str = "kuberay-operator";
/// Value of [`IS_RAY_NODE`].
pub const IS_RAY_NODE_VALUE: &str = "yes";
/// Value of [`GROUP`] on the head pod.
pub const HEAD_GROUP_VALUE: &str = "headgroup";
/// Value of [`NODE_TYPE`] on the head.
pub const NODE_TYPE_HEAD: &str = "head";
/// Value of [`NODE_TYPE`] on workers.
pub const NODE_TYPE_WORKER: &str = "worker";
/// Value of [`NODE_TYPE`] on the Redis cleanup Job and its pod.
pub const NODE_TYPE_REDIS_CLEANUP: &str = "redis-cleanup";

/// Annotation on a RayCluster: `"true"` enables GCS fault tolerance with an external Redis (the seed-era switch).
/// On the head pod it is always written, `"true"` or `"false"`.
pub const FT_ENABLED_ANNOTATION: &str = "ray.io/ft-enabled";
/// Where client-side `kubectl apply` keeps a copy of the object it applied; never copied to children, never cached.
pub const LAST_APPLIED_ANNOTATION: &str = "kubectl.kubernetes.io/last-applied-configuration";
/// Annotation on a RayCluster: the Redis key namespace of its GCS data (defaults to the cluster's UID). Written to
/// the head pod too.
pub const EXTERNAL_STORAGE_NAMESPACE_ANNOTATION: &str = "ray.io/external-storage-namespace";
/// Annotation on a RayCluster: `"true"` keeps the user's Ray container command as it is; the generated
/// `ray start` command is then only available in the `KUBERAY_GEN_RAY_START_CMD` variable.
pub const OVERWRITE_CONTAINER_CMD_ANNOTATION: &str = "ray.io/overwrite-container-cmd";
/// Annotation on a RayCluster: `"true"` creates the serve Service for a plain RayCluster.
pub const ENABLE_SERVE_SERVICE_ANNOTATION: &str = "ray.io/enable-serve-service";
/// Annotation on RayService clusters: the spec hash the cluster was created from.
pub const HASH_WITHOUT_REPLICAS_ANNOTATION: &str =
    "ray.io/hash-without-replicas-and-workers-to-delete";
/// Annotation on RayService clusters: how many worker groups the cluster had when it was created or updated.
pub const NUM_WORKER_GROUPS_ANNOTATION: &str = "ray.io/num-worker-groups";
/// Annotation on RayService clusters and on every pod: the operator version that created them.
pub const KUBERAY_VERSION_ANNOTATION: &str = "ray.io/kuberay-version";
/// Annotation on every pod: the hash of the cluster spec the pod was created from
/// ([`crate::spec_hash::recreate_hash`]). With `upgradeStrategy.type: Recreate`, a pod whose hash differs from the
/// current spec's makes the operator replace every pod of the cluster.
pub const RECREATE_HASH_ANNOTATION: &str = "ray.io/upgrade-strategy-recreate-hash";
/// Annotation on the RayCluster of a `SidecarMode` RayJob: `"true"` tells the RayCluster controller not to
/// recreate the head pod once it has been provisioned (the submitter runs in it, and a new head would submit the
/// job again).
pub const DISABLE_PROVISIONED_HEAD_RESTART_ANNOTATION: &str =
    "ray.io/disable-provisioned-head-restart";
/// Annotation on a RayCluster that names the Ingress class of its dashboard Ingress.
pub const INGRESS_CLASS_ANNOTATION: &str = "kubernetes.io/ingress.class";

/// `RayCluster`, `RayJob` or `RayService`: the values of [`ORIGINATED_FROM_CRD`].
pub const CRD_RAY_CLUSTER: &str = "RayCluster";
/// See [`CRD_RAY_CLUSTER`].
pub const CRD_RAY_JOB: &str = "RayJob";
/// See [`CRD_RAY_CLUSTER`].
pub const CRD_RAY_SERVICE: &str = "RayService";

/// Whether a pod belongs to the head or to a worker group.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeType {
    /// The head pod.
    Head,
    /// A worker pod.
    Worker,
}

impl NodeType {
    /// The value of the `ray.io/node-type` label.
    pub fn as_str(self) -> &'static str {
        match self {
            NodeType::Head => NODE_TYPE_HEAD,
            NodeType::Worker => NODE_TYPE_WORKER,
        }
    }
}

/// The value of `ray.io/identifier`: `<cluster>-head` or `<cluster>-worker`.
pub fn identifier(cluster: &str, node_type: NodeType) -> String {
    format!("{cluster}-{}", node_type.as_str())
}

/// The labels the operator puts on every Ray pod of a group. User template labels are kept, except that
/// `ray.io/cluster`, `ray.io/node-type` and `ray.io/group` always carry the operator's values (selectors depend on
/// them).
pub fn ray_pod_labels(
    user: Option<&BTreeMap<String, String>>,
    cluster: &str,
    node_type: NodeType,
    group: &str,
) -> BTreeMap<String, String> {
    let mut labels = user.cloned().unwrap_or_default();
    let defaults = [
        (IS_RAY_NODE, IS_RAY_NODE_VALUE.to_string()),
        (IDENTIFIER, identifier(cluster, node_type)),
        (APP_NAME, APP_NAME_VALUE.to_string()),
        (APP_CREATED_BY, APP_CREATED_BY_VALUE.to_string()),
    ];
    for (key, value) in defaults {
        labels.entry(key.to_string()).or_insert(value);
    }
    labels.insert(CLUSTER.to_string(), cluster.to_string());
    labels.insert(NODE_TYPE.to_string(), node_type.as_str().to_string());
    labels.insert(GROUP.to_string(), group.to_string());
    labels
}

/// A pod template's labels with a group's Ray node `labels` (KubeRay 1.5's top-level field) merged in; the group's
/// win. [`ray_pod_labels`] then adds the operator's labels.
pub fn with_group_labels(
    template: Option<&BTreeMap<String, String>>,
    group: &BTreeMap<String, String>,
) -> Option<BTreeMap<String, String>> {
    if group.is_empty() {
        return template.cloned();
    }
    let mut merged = template.cloned().unwrap_or_default();
    merged.extend(group.iter().map(|(k, v)| (k.clone(), v.clone())));
    Some(merged)
}

/// The value of `ray start --labels` for a group's Ray node labels: `key=value` pairs sorted by key and joined by
/// commas, as KubeRay writes them; `None` without labels.
pub fn ray_start_labels(labels: &BTreeMap<String, String>) -> Option<String> {
    if labels.is_empty() {
        return None;
    }
    let pairs: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    Some(pairs.join(","))
}

/// The labels and selector of a cluster's head Service.
pub fn head_service_labels(cluster: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (CLUSTER.to_string(), cluster.to_string()),
        (NODE_TYPE.to_string(), NODE_TYPE_HEAD.to_string()),
        (IDENTIFIER.to_string(), identifier(cluster, NodeType::Head)),
        (APP_NAME.to_string(), APP_NAME_VALUE.to_string()),
        (APP_CREATED_BY.to_string(), APP_CREATED_BY_VALUE.to_string()),
    ])
}

/// Whether an annotation map has `key` set to `"true"` (case-insensitive, as KubeRay reads its switches).
pub fn annotation_is_true(annotations: Option<&BTreeMap<String, String>>, key: &str) -> bool {
    annotations
        .and_then(|a| a.get(key))
        .is_some_and(|v| v.eq_ignore_ascii_case("true"))
}
