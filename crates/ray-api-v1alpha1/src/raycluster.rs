//! RayCluster (`ray.io/v1alpha1`): one Ray head pod and any number of worker groups.
//!
//! This is the frozen, deprecated shape of the kind. Compared with `ray.io/v1` it has no `numOfHosts` on worker
//! groups, no status `conditions` or `readyWorkerReplicas`, and the head info has only the two IP addresses. Its
//! [`ClusterState`] also knows `unhealthy`, a state v1 dropped.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    EnvFromSource, EnvVar, PodTemplateSpec, ResourceRequirements, SecurityContext, Service,
    VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::common::is_false;

/// How eagerly the Ray autoscaler adds workers. The values are the same in both API versions.
pub use ray_api_v1::UpscalingMode;

/// RayClusterSpec defines the desired state of a Ray cluster: its head, its worker groups and the optional Ray
/// autoscaler.
///
/// `ray.io/v1alpha1` is deprecated: write `ray.io/v1` instead. Objects written through this version keep every
/// `ray.io/v1` field they already had (see the crate documentation on conversion).
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "ray.io",
    version = "v1alpha1",
    kind = "RayCluster",
    plural = "rayclusters",
    singular = "raycluster",
    namespaced,
    status = "RayClusterStatus",
    category = "all",
    served = true,
    derive = "PartialEq",
    doc = "A Ray cluster (deprecated `ray.io/v1alpha1` version; use `ray.io/v1`): one head pod and any number of worker groups.",
    storage = false,
    deprecated = "ray.io/v1alpha1 RayCluster is deprecated; use ray.io/v1 RayCluster.",
    printcolumn = r#"{"name":"desired workers","type":"integer","jsonPath":".status.desiredWorkerReplicas","priority":0}"#,
    printcolumn = r#"{"name":"available workers","type":"integer","jsonPath":".status.availableWorkerReplicas","priority":0}"#,
    printcolumn = r#"{"name":"cpus","type":"string","jsonPath":".status.desiredCPU","priority":0}"#,
    printcolumn = r#"{"name":"memory","type":"string","jsonPath":".status.desiredMemory","priority":0}"#,
    printcolumn = r#"{"name":"gpus","type":"string","jsonPath":".status.desiredGPU","priority":0}"#,
    printcolumn = r#"{"name":"tpus","type":"string","jsonPath":".status.desiredTPU","priority":1}"#,
    printcolumn = r#"{"name":"status","type":"string","jsonPath":".status.state","priority":0}"#,
    printcolumn = r#"{"name":"age","type":"date","jsonPath":".metadata.creationTimestamp","priority":0}"#,
    printcolumn = r#"{"name":"head pod IP","type":"string","jsonPath":".status.head.podIP","priority":1}"#,
    printcolumn = r#"{"name":"head service IP","type":"string","jsonPath":".status.head.serviceIP","priority":1}"#
)]
#[serde(rename_all = "camelCase")]
pub struct RayClusterSpec {
    /// The head pod: its template, its `ray start` parameters and the Service in front of it.
    pub head_group_spec: HeadGroupSpec,
    /// The worker groups. Each group has its own pod template, replica bounds and `ray start` parameters; group
    /// names must be unique within the cluster, because they identify the group (also across API versions).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub worker_group_specs: Vec<WorkerGroupSpec>,
    /// The Ray version the images run (for example `2.9.0`). The operator uses it to pick commands that the Ray
    /// version understands.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ray_version: Option<String>,
    /// Run the Ray autoscaler as a sidecar of the head pod. The autoscaler then owns `replicas` and
    /// `scaleStrategy.workersToDelete` of every worker group.
    #[serde(default, skip_serializing_if = "is_false")]
    pub enable_in_tree_autoscaling: bool,
    /// Overrides for the autoscaler sidecar: image, resources, environment, upscaling mode and idle timeout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autoscaler_options: Option<AutoscalerOptions>,
    /// Annotations added to the head Service (they win over the same keys of a custom `headService`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head_service_annotations: Option<BTreeMap<String, String>>,
    /// Suspend the cluster: every head and worker pod is deleted, and they come back when this is set to false.
    #[serde(default, skip_serializing_if = "is_false")]
    pub suspend: bool,
}

/// HeadGroupSpec describes the head pod and the Service in front of it.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HeadGroupSpec {
    /// The Kubernetes Service type of the head Service (`ClusterIP` when unset). Workers reach the head through it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_type: Option<String>,
    /// A custom head Service. Its metadata and spec are merged with what the operator generates; the operator keeps
    /// the selector and the Ray ports working.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head_service: Option<Service>,
    /// Create an Ingress for the head Service's dashboard port.
    #[serde(default, skip_serializing_if = "is_false")]
    pub enable_ingress: bool,
    /// Parameters of the head's `ray start` command, without the leading dashes: `num-cpus`, `dashboard-host`,
    /// `object-store-memory`, ... A value of `"true"` for a flag that takes no value (such as `block`) adds the bare
    /// flag. Every value is passed to `ray start` as data, never interpreted by a shell.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("default" = {}))]
    pub ray_start_params: BTreeMap<String, String>,
    /// The head pod template. Its first container runs Ray.
    pub template: PodTemplateSpec,
}

/// WorkerGroupSpec describes one group of identical worker pods.
///
/// Unlike `ray.io/v1` there is no `numOfHosts`: every replica is a single pod. A group converted from v1 keeps its
/// `numOfHosts` as long as its `groupName` stays the same.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WorkerGroupSpec {
    /// The group's name, unique within the cluster. It appears in pod names and in the `ray.io/group` label.
    pub group_name: String,
    /// The number of replicas the group should have. The operator clamps it into `[minReplicas, maxReplicas]`.
    /// When the autoscaler is enabled it owns this field. Defaults to 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = 0))]
    pub replicas: Option<i32>,
    /// The fewest replicas the group may have. Defaults to 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = 0))]
    pub min_replicas: Option<i32>,
    /// The most replicas the group may have. Defaults to 2147483647 (no limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = 2147483647))]
    pub max_replicas: Option<i32>,
    /// Parameters of the workers' `ray start` command, without the leading dashes (`num-cpus`, `resources`, ...).
    /// Every value is passed to `ray start` as data, never interpreted by a shell.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("default" = {}))]
    pub ray_start_params: BTreeMap<String, String>,
    /// The worker pod template. Its first container runs Ray.
    pub template: PodTemplateSpec,
    /// Which pods to remove when the group scales down.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale_strategy: Option<ScaleStrategy>,
}

/// ScaleStrategy names the worker pods to remove.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScaleStrategy {
    /// Names of the worker pods to delete. The Ray autoscaler writes this together with a lower `replicas`; the
    /// operator deletes exactly these pods.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub workers_to_delete: Vec<String>,
}

/// AutoscalerOptions configures the Ray autoscaler sidecar.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AutoscalerOptions {
    /// Resource requests and limits of the autoscaler container. Defaults to 500m CPU and 512Mi memory, requested
    /// and limited alike.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
    /// The autoscaler's image. Defaults to the image of the head's Ray container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// The autoscaler's image pull policy. Defaults to `IfNotPresent`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_pull_policy: Option<String>,
    /// Extra environment variables of the autoscaler container.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<EnvVar>,
    /// Extra environment sources of the autoscaler container.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env_from: Vec<EnvFromSource>,
    /// Extra volume mounts of the autoscaler container (for example TLS certificates).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volume_mounts: Vec<VolumeMount>,
    /// The autoscaler container's security context.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_context: Option<SecurityContext>,
    /// Seconds a worker may sit idle before the autoscaler removes it. Read by the Ray autoscaler, not by the
    /// operator; Ray's default is 60.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_timeout_seconds: Option<i32>,
    /// How eagerly the autoscaler adds workers (`Conservative`, `Default` or `Aggressive`). Read by the Ray
    /// autoscaler, not by the operator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upscaling_mode: Option<UpscalingMode>,
}

/// RayClusterStatus is what the operator observed of the cluster.
///
/// The `ray.io/v1` status also has `conditions`, `readyWorkerReplicas` and the head's pod and Service names; read
/// the object as `ray.io/v1` to see them.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RayClusterStatus {
    /// The cluster's state: `ready` once every pod runs and is ready, `suspended` once a suspended cluster has no
    /// pods left.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<ClusterState>,
    /// Why the cluster is in its state, when something is wrong.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Worker pods that are running.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub available_worker_replicas: Option<i32>,
    /// Worker pods the spec asks for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desired_worker_replicas: Option<i32>,
    /// The sum over groups of minReplicas.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_worker_replicas: Option<i32>,
    /// The sum over groups of maxReplicas, saturating at 2147483647.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_worker_replicas: Option<i32>,
    /// Total CPU the cluster's pods ask for (requests, or limits where no request is set).
    #[serde(
        rename = "desiredCPU",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub desired_cpu: Option<Quantity>,
    /// Total memory the cluster's pods ask for.
    #[serde(
        rename = "desiredMemory",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub desired_memory: Option<Quantity>,
    /// Total GPUs the cluster's pods ask for.
    #[serde(
        rename = "desiredGPU",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub desired_gpu: Option<Quantity>,
    /// Total TPUs (`google.com/tpu`) the cluster's pods ask for.
    #[serde(
        rename = "desiredTPU",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub desired_tpu: Option<Quantity>,
    /// When the operator last changed this status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_update_time: Option<Time>,
    /// The head Service's ports by name (`dashboard`, `client`, `gcs-server`, ...).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub endpoints: BTreeMap<String, String>,
    /// Where the head is: its pod and Service addresses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head: Option<HeadInfo>,
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

/// The state of a RayCluster, with the `ray.io/v1alpha1` values.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
pub enum ClusterState {
    /// Every pod is running and ready.
    #[serde(rename = "ready")]
    Ready,
    /// A state of early KubeRay releases, kept so old objects still read. `ray.io/v1` has no such state: read as
    /// v1, the cluster shows no state until the operator sets one.
    #[serde(rename = "unhealthy")]
    Unhealthy,
    /// Kept for compatibility with KubeRay; never set.
    #[serde(rename = "failed")]
    Failed,
    /// The cluster is suspended and has no pods.
    #[serde(rename = "suspended")]
    Suspended,
}

/// HeadInfo tells where the head pod and its Service are.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct HeadInfo {
    /// The head pod's IP.
    #[serde(rename = "podIP", default, skip_serializing_if = "Option::is_none")]
    pub pod_ip: Option<String>,
    /// The head Service's cluster IP (the head pod's IP for a headless Service).
    #[serde(rename = "serviceIP", default, skip_serializing_if = "Option::is_none")]
    pub service_ip: Option<String>,
}
