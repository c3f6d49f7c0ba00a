//! RayCluster: one Ray head pod and any number of worker groups.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    EnvFromSource, EnvVar, PodTemplateSpec, ResourceRequirements, SecurityContext, Service,
    VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::common::is_false;
use crate::validation::ClusterOwner;

/// The largest `maxReplicas` a worker group can have, and its default: Kubernetes' `int32` maximum.
pub const MAX_REPLICAS_DEFAULT: i32 = i32::MAX;

/// RayClusterSpec defines the desired state of a Ray cluster: its head, its worker groups and the optional Ray
/// autoscaler.
#[derive(
    CustomResource,
    Serialize,
    Deserialize,
    Clone,
    Debug,
    Default,
    PartialEq,
    JsonSchema,
    garde::Validate,
)]
#[garde(context(ClusterOwner as owner))]
#[kube(
    group = "ray.io",
    version = "v1",
    kind = "RayCluster",
    validation = crate::validation::crd_rules::RAY_CLUSTER[0].to_kube(),
    validation = crate::validation::crd_rules::RAY_CLUSTER[1].to_kube(),
    plural = "rayclusters",
    singular = "raycluster",
    namespaced,
    status = "RayClusterStatus",
    category = "all",
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
    #[garde(dive(self.group_context(owner)))]
    pub head_group_spec: HeadGroupSpec,
    /// The worker groups. Each group has its own pod template, replica bounds and `ray start` parameters; group
    /// names must be unique within the cluster.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["groupName"]))]
    #[garde(dive(self.group_context(owner)))]
    pub worker_group_specs: Vec<WorkerGroupSpec>,
    /// The Ray version the images run (for example `2.9.0`). The operator uses it to pick commands that the Ray
    /// version understands, such as the submitter's `ray job submit` options.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[garde(skip)]
    pub ray_version: Option<String>,
    /// Run the Ray autoscaler as a sidecar of the head pod. The autoscaler then owns `replicas` and
    /// `scaleStrategy.workersToDelete` of every worker group.
    #[serde(default, skip_serializing_if = "is_false")]
    #[garde(skip)]
    pub enable_in_tree_autoscaling: bool,
    /// Overrides for the autoscaler sidecar: image, resources, environment, upscaling mode and idle timeout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[garde(dive)]
    pub autoscaler_options: Option<AutoscalerOptions>,
    /// Annotations added to the head Service (they win over the same keys of a custom `headService`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[garde(skip)]
    pub head_service_annotations: Option<BTreeMap<String, String>>,
    /// Suspend the cluster: every head and worker pod is deleted, and they come back when this is set to false.
    #[serde(default, skip_serializing_if = "is_false")]
    #[garde(skip)]
    pub suspend: bool,
}

/// HeadGroupSpec describes the head pod and the Service in front of it.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[schemars(transform = crate::validation::crd_rules::head_group_schema)]
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
    pub ray_start_params: BTreeMap<String, String>,
    /// The head pod template. Its first container runs Ray.
    pub template: PodTemplateSpec,
}

/// WorkerGroupSpec describes one group of identical worker pods.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[schemars(transform = crate::validation::crd_rules::worker_group_schema)]
#[serde(rename_all = "camelCase")]
pub struct WorkerGroupSpec {
    /// The group's name, unique within the cluster. It appears in pod names (lowercased) and in the `ray.io/group`
    /// label, so it may hold letters, digits and `-`, starts and ends with a letter or digit, and has at most 63
    /// characters.
    #[schemars(
        length(min = 1, max = 63),
        regex(pattern = r"^[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?$")
    )]
    pub group_name: String,
    /// The number of replicas the group should have. The operator clamps it into `[minReplicas, maxReplicas]`.
    /// When the autoscaler is enabled it owns this field. Defaults to 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = 0), extend("minimum" = 0))]
    pub replicas: Option<i32>,
    /// The fewest replicas the group may have. Defaults to 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = 0), extend("minimum" = 0))]
    pub min_replicas: Option<i32>,
    /// The most replicas the group may have. Defaults to 2147483647 (no limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = 2147483647), extend("minimum" = 0))]
    pub max_replicas: Option<i32>,
    /// The number of pods (hosts) in each replica, for multi-host workers such as TPU slices. A replica is
    /// created and deleted as a whole. Defaults to 1; at most 4096.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = 1), extend("minimum" = 1), extend("maximum" = 4096))]
    pub num_of_hosts: Option<i32>,
    /// Parameters of the workers' `ray start` command, without the leading dashes (`num-cpus`, `resources`, ...).
    /// Every value is passed to `ray start` as data, never interpreted by a shell.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
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
    /// operator deletes exactly these pods and never picks other victims while the autoscaler is enabled.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub workers_to_delete: Vec<String>,
}

/// AutoscalerOptions configures the Ray autoscaler sidecar.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema, garde::Validate)]
#[garde(context(ClusterOwner))]
#[serde(rename_all = "camelCase")]
pub struct AutoscalerOptions {
    /// Resource requests and limits of the autoscaler container. Defaults to 500m CPU and 512Mi memory, requested
    /// and limited alike.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[garde(skip)]
    pub resources: Option<ResourceRequirements>,
    /// The autoscaler's image. Defaults to the image of the head's Ray container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("minLength" = 1))]
    #[garde(skip)]
    pub image: Option<String>,
    /// The autoscaler's image pull policy. Defaults to `IfNotPresent`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("enum" = ["Always", "IfNotPresent", "Never"]))]
    #[garde(custom(crate::validation::cluster::image_pull_policy))]
    pub image_pull_policy: Option<String>,
    /// Extra environment variables of the autoscaler container.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[garde(inner(custom(crate::validation::cluster::autoscaler_env)))]
    pub env: Vec<EnvVar>,
    /// Extra environment sources of the autoscaler container.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[garde(skip)]
    pub env_from: Vec<EnvFromSource>,
    /// Extra volume mounts of the autoscaler container (for example TLS certificates).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[garde(skip)]
    pub volume_mounts: Vec<VolumeMount>,
    /// The autoscaler container's security context.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[garde(skip)]
    pub security_context: Option<SecurityContext>,
    /// Seconds a worker may sit idle before the autoscaler removes it. Read by the Ray autoscaler, not by the
    /// operator; Ray's default is 60.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("minimum" = 0))]
    #[garde(custom(crate::validation::cluster::idle_timeout))]
    pub idle_timeout_seconds: Option<i32>,
    /// How eagerly the autoscaler adds workers. Read by the Ray autoscaler, not by the operator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[garde(skip)]
    pub upscaling_mode: Option<UpscalingMode>,
}

/// How eagerly the Ray autoscaler adds workers.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
pub enum UpscalingMode {
    /// Upscaling is rate-limited: at most as many pending workers as the cluster has nodes.
    Conservative,
    /// Upscaling is not rate-limited.
    Default,
    /// An alias for `Default`.
    Aggressive,
}

/// RayClusterStatus is what the operator observed of the cluster.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RayClusterStatus {
    /// The cluster's state: `ready` once every pod runs and is ready, `suspended` once a suspended cluster has no
    /// pods left.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<ClusterState>,
    /// Why the cluster is in its state, when something is wrong (for example a validation error naming a field).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Worker pods that are running and ready.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_worker_replicas: Option<i32>,
    /// Worker pods that are running.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub available_worker_replicas: Option<i32>,
    /// Worker pods the spec asks for: the sum over groups of clamped replicas times hosts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desired_worker_replicas: Option<i32>,
    /// The sum over groups of minReplicas times hosts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_worker_replicas: Option<i32>,
    /// The sum over groups of maxReplicas times hosts, saturating at 2147483647.
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
    /// The head Service's ports by name (`dashboard`, `client`, `gcs-server`, ...), as node ports for a NodePort
    /// Service and target ports otherwise.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub endpoints: BTreeMap<String, String>,
    /// Where the head is: its pod and Service addresses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head: Option<HeadInfo>,
    /// Conditions: `HeadPodReady`, `RayClusterProvisioned`, `ReplicaFailure`, ...
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

/// The state of a RayCluster.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
pub enum ClusterState {
    /// Every pod is running and ready.
    #[serde(rename = "ready")]
    Ready,
    /// Kept for compatibility with KubeRay; never set.
    #[serde(rename = "failed")]
    Failed,
    /// The cluster is suspended and has no pods.
    #[serde(rename = "suspended")]
    Suspended,
}

/// HeadInfo tells where the head pod and its Service are.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HeadInfo {
    /// The head pod's IP.
    #[serde(rename = "podIP", default, skip_serializing_if = "Option::is_none")]
    pub pod_ip: Option<String>,
    /// The head Service's cluster IP (the head pod's IP for a headless Service).
    #[serde(rename = "serviceIP", default, skip_serializing_if = "Option::is_none")]
    pub service_ip: Option<String>,
    /// The head pod's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_name: Option<String>,
    /// The head Service's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_name: Option<String>,
}
