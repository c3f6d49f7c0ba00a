//! RayCluster: one Ray head pod and any number of worker groups.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    EnvFromSource, EnvVar, EnvVarSource, PodTemplateSpec, ResourceRequirements, SecurityContext,
    Service, VolumeMount,
};
use k8s_openapi::api::networking::v1::{
    IngressTLS, NetworkPolicyEgressRule, NetworkPolicyIngressRule,
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
#[schemars(transform = crate::validation::crd_rules::ray_cluster_spec_schema)]
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
    /// What happens to running pods when the spec changes (KubeRay 1.6): `type: Recreate` deletes every pod once
    /// the spec changes in anything but worker replica counts, `workersToDelete`, tolerations, scheduling gates
    /// and `suspend`, and creates them anew; `None` (the default) leaves running pods alone. Only for a RayCluster
    /// created directly, not for the cluster of a RayJob or RayService.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[garde(skip)]
    pub upgrade_strategy: Option<RayClusterUpgradeStrategy>,
    /// Ray token authentication (KubeRay 1.6). Not supported yet: only `mode: disabled` is accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[garde(skip)]
    pub auth_options: Option<AuthOptions>,
    /// The controller that reconciles this cluster: `ray.io/kuberay-operator` (this operator, also when unset) or
    /// `kueue.x-k8s.io/multikueue`, in which case the operator leaves the cluster entirely to Kueue. Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-validations" = crate::validation::managed_by::cel_rules()))]
    #[garde(skip)]
    pub managed_by: Option<String>,
    /// GCS fault tolerance: keep the cluster's metadata in Redis or an embedded RocksDB store so that a restarted
    /// head pod recovers it. Not supported yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[garde(skip)]
    pub gcs_fault_tolerance_options: Option<GcsFaultToleranceOptions>,
    /// A sidecar that collects logs and events for the Ray history server (KubeRay 1.7). Not supported yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[garde(skip)]
    pub history_server_options: Option<HistoryServerOptions>,
    /// NetworkPolicies isolating the cluster's pods (KubeRay 1.7). Not supported yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[garde(skip)]
    pub network_policy: Option<NetworkPolicyConfig>,
    /// Mutual TLS between the cluster's Ray processes, with certificates from cert-manager (KubeRay 1.7). Not
    /// supported yet: only `enabled: false` is accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[garde(skip)]
    pub tls_options: Option<TlsOptions>,
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
    /// Host, path and TLS of the dashboard Ingress (KubeRay 1.7); used only when `enableIngress` is true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingress_options: Option<IngressOptions>,
    /// Ray logical resources of the head as quantities (KubeRay 1.5), instead of `num-cpus` and friends in
    /// `rayStartParams`: `CPU` becomes `--num-cpus`, `memory` `--memory` (bytes), a GPU name (`GPU`,
    /// `nvidia.com/gpu`, ...) `--num-gpus`, each rounded up to a whole number, and any other name a custom resource
    /// in `--resources`. Cannot be combined with those `rayStartParams`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub resources: BTreeMap<String, String>,
    /// Ray node labels of the head (KubeRay 1.5), passed as `ray start --labels` and also put on the head pod
    /// (winning over the template's labels of the same key), so tasks and actors can select nodes by label.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
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
    #[schemars(extend("default" = {}))]
    pub ray_start_params: BTreeMap<String, String>,
    /// The worker pod template. Its first container runs Ray.
    pub template: PodTemplateSpec,
    /// Which pods to remove when the group scales down.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale_strategy: Option<ScaleStrategy>,
    /// Delete every pod of this group while keeping the rest of the cluster; the group wants no replicas until
    /// this is false again. KubeRay uses it for a RayJob's `DeleteWorkers` deletion rule. Not allowed with the
    /// autoscaler, which decides the group's replicas.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspend: Option<bool>,
    /// Seconds a worker of this group may be idle before the autoscaler v2 removes it, overriding
    /// `autoscalerOptions.idleTimeoutSeconds` (KubeRay 1.3). Read by the Ray autoscaler; needs
    /// `autoscalerOptions.version: v2`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("minimum" = 0))]
    pub idle_timeout_seconds: Option<i32>,
    /// Which group the autoscaler v2 prefers when several could take the same work; higher wins (KubeRay 1.7).
    /// Read by the Ray autoscaler; a value other than 0 needs `autoscalerOptions.version: v2` and `rayVersion`
    /// 2.56.0 or newer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = 0))]
    pub priority: Option<i32>,
    /// Ray logical resources of the group's workers as quantities (KubeRay 1.5), as `headGroupSpec.resources`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub resources: BTreeMap<String, String>,
    /// Ray node labels of the group's workers (KubeRay 1.5), as `headGroupSpec.labels`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
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
#[schemars(transform = crate::validation::crd_rules::autoscaler_options_schema)]
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
    /// Pin the autoscaler to v1 or v2 instead of letting the Ray version choose (KubeRay 1.4): the head's Ray
    /// container gets `RAY_enable_autoscaler_v2`, and with v2 every Ray pod gets `restartPolicy: Never`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[garde(skip)]
    pub version: Option<AutoscalerVersion>,
    /// Replace the autoscaler container's command (KubeRay 1.7).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[garde(skip)]
    pub command: Vec<String>,
    /// Replace the autoscaler container's arguments (KubeRay 1.7). The generated command is in the container's
    /// `KUBERAY_GEN_AUTOSCALER_START_CMD`, for arguments that add to it (`ulimit -n 65536;
    /// $KUBERAY_GEN_AUTOSCALER_START_CMD` with the default `bash -c` command).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[garde(skip)]
    pub args: Vec<String>,
}

/// Which implementation of the Ray autoscaler runs.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum AutoscalerVersion {
    /// The original autoscaler.
    V1,
    /// The autoscaler v2 (Ray's default from 2.47 on).
    V2,
}

/// RayClusterUpgradeStrategy says what happens to running pods when the cluster's spec changes.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct RayClusterUpgradeStrategy {
    /// `Recreate` deletes every pod and creates new ones from the new spec; `None` leaves running pods alone.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub type_: Option<RayClusterUpgradeType>,
}

impl RayClusterSpec {
    /// Whether `upgradeStrategy.type` is `Recreate`.
    pub fn recreates_pods_on_change(&self) -> bool {
        self.upgrade_strategy
            .as_ref()
            .and_then(|s| s.type_)
            .is_some_and(|t| t == RayClusterUpgradeType::Recreate)
    }
}

/// How a RayCluster's pods are upgraded.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
pub enum RayClusterUpgradeType {
    /// Delete every pod when the spec changes, then create them from the new spec.
    Recreate,
    /// Leave running pods alone when the spec changes.
    #[serde(rename = "None")]
    NoUpgrade,
}

/// AuthOptions turns on Ray's token authentication for the cluster.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuthOptions {
    /// Let the Kubernetes API server check the tokens (Ray 2.55 or later); RayCluster objects only.
    #[serde(
        rename = "enableK8sTokenAuth",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub enable_k8s_token_auth: Option<bool>,
    /// A Secret holding the token under the key `auth_token`, instead of one generated per cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_name: Option<String>,
    /// `token` turns authentication on, `disabled` leaves it off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<AuthMode>,
}

/// Whether Ray authenticates requests.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum AuthMode {
    /// No authentication.
    Disabled,
    /// Requests must carry the cluster's token.
    Token,
}

/// GcsFaultToleranceOptions keeps the GCS metadata outside the head pod, so a new head pod picks it up.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = crate::validation::crd_rules::gcs_fault_tolerance_options_schema)]
pub struct GcsFaultToleranceOptions {
    /// Where the metadata is kept: `redis` (an external Redis, the default) or `rocksdb` (a volume on the head
    /// pod). It cannot change once the cluster exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-validations" = [{
        "rule": "self == oldSelf",
        "message": "gcsFaultToleranceOptions.backend cannot be changed once set: create a new cluster instead"
    }]))]
    pub backend: Option<GcsFaultToleranceBackend>,
    /// The Redis user name, as a value or a reference.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redis_username: Option<RedisCredential>,
    /// The Redis password, as a value or a reference.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redis_password: Option<RedisCredential>,
    /// The namespace of the cluster's data in Redis; defaults to the RayCluster's UID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_storage_namespace: Option<String>,
    /// The address of the Redis server (`redis` backend).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redis_address: Option<String>,
    /// The volume of the embedded store (`rocksdb` backend).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<GcsEmbeddedStorage>,
}

/// Where the GCS keeps its metadata.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum GcsFaultToleranceBackend {
    /// An external Redis server.
    Redis,
    /// An embedded RocksDB store on a persistent volume of the head pod.
    Rocksdb,
}

/// RedisCredential is a Redis user name or password: literally, or from a Secret or ConfigMap.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RedisCredential {
    /// Where to read the value from, as in a container's `env[].valueFrom`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_from: Option<EnvVarSource>,
    /// The value itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// GcsEmbeddedStorage is the PersistentVolumeClaim of the embedded RocksDB store: an existing claim, or one the
/// operator creates.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GcsEmbeddedStorage {
    /// An existing claim to use as it is; the other fields then do not apply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claim_name: Option<String>,
    /// The size of the claim the operator creates. Defaults to 1Gi.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<Quantity>,
    /// The storage class of the claim the operator creates; the cluster default when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_class_name: Option<String>,
    /// The access modes of the claim the operator creates. Defaults to `ReadWriteOnce`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub access_modes: Vec<String>,
    /// A subdirectory of the volume to use instead of its root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_path: Option<String>,
    /// Whether the claim the operator creates is deleted with the cluster (`DeleteWithCluster`, the default) or
    /// kept (`Retain`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_policy: Option<GcsStorageDeletionPolicy>,
}

/// What happens to the operator-created GCS claim when its RayCluster is deleted.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
pub enum GcsStorageDeletionPolicy {
    /// The claim, and the data on it, go with the cluster.
    DeleteWithCluster,
    /// The claim stays, so a new cluster can pick up the data.
    Retain,
}

/// HistoryServerOptions configures what the Ray history server collects from the cluster.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HistoryServerOptions {
    /// The collector sidecar.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collector_options: Option<CollectorOptions>,
}

/// CollectorOptions configures the history server's collector sidecar.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CollectorOptions {
    /// The collector's image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// The collector's image pull policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("enum" = ["Always", "IfNotPresent", "Never"]))]
    pub image_pull_policy: Option<String>,
    /// The collector container's resources.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
    /// Extra environment of the collector container (for example the storage backend's settings).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<EnvVar>,
}

/// NetworkPolicyConfig isolates the cluster's pods with NetworkPolicies. Traffic between the cluster's own pods is
/// always allowed.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NetworkPolicyConfig {
    /// Which directions are denied by default. Defaults to `DenyAll`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = "DenyAll"))]
    pub mode: Option<NetworkPolicyMode>,
    /// Extra rules of the head pod's policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head: Option<NetworkPolicyRules>,
    /// Extra rules of the worker pods' policy, for groups without an entry in `workerGroups`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker: Option<NetworkPolicyRules>,
    /// Extra rules of single worker groups, replacing `worker` for them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["groupName"]))]
    pub worker_groups: Vec<WorkerGroupNetworkPolicyRules>,
}

/// Which traffic a cluster's NetworkPolicies deny by default.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
pub enum NetworkPolicyMode {
    /// Deny incoming and outgoing traffic.
    DenyAll,
    /// Deny incoming traffic.
    DenyAllIngress,
    /// Deny outgoing traffic.
    DenyAllEgress,
}

/// NetworkPolicyRules are NetworkPolicy rules added to a policy the operator generates.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NetworkPolicyRules {
    /// Allowed incoming traffic (when the mode denies it).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ingress_rules: Vec<NetworkPolicyIngressRule>,
    /// Allowed outgoing traffic (when the mode denies it). DNS is not allowed unless a rule says so.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub egress_rules: Vec<NetworkPolicyEgressRule>,
}

/// WorkerGroupNetworkPolicyRules are NetworkPolicy rules of one worker group.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WorkerGroupNetworkPolicyRules {
    /// The worker group, by its `groupName`.
    pub group_name: String,
    /// Allowed incoming traffic (when the mode denies it).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ingress_rules: Vec<NetworkPolicyIngressRule>,
    /// Allowed outgoing traffic (when the mode denies it).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub egress_rules: Vec<NetworkPolicyEgressRule>,
}

/// TlsOptions turns on mutual TLS between the cluster's Ray processes.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct TlsOptions {
    /// Whether mutual TLS is on. Defaults to false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
}

/// IngressOptions shapes the Ingress the operator creates for the head's dashboard.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IngressOptions {
    /// The host name the Ingress rule matches; any host when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// The HTTP path routed to the dashboard. Defaults to `/`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// How `path` is matched. Defaults to `Prefix`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_type: Option<IngressPathType>,
    /// TLS termination of the Ingress.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tls: Vec<IngressTLS>,
}

/// How an Ingress path is matched, with Kubernetes' values.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
pub enum IngressPathType {
    /// The path must match exactly.
    Exact,
    /// The path must match a prefix, element by element.
    Prefix,
    /// The Ingress controller decides.
    ImplementationSpecific,
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
    /// When the cluster last entered each state it has been in, by state (`ready`, `suspended`): a state entered
    /// again gets the new time (KubeRay 1.7).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub state_transition_times: BTreeMap<ClusterState, Time>,
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
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, JsonSchema,
)]
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
