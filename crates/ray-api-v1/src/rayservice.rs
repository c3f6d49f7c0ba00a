//! RayService: Ray Serve applications on a RayCluster, kept serving across config and cluster changes.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::common::is_false;
use crate::raycluster::{RayClusterSpec, RayClusterStatus};

/// RayServiceSpec describes Ray Serve applications and the cluster that serves them.
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
#[schemars(transform = crate::validation::crd_rules::ray_service_spec_schema)]
#[kube(
    group = "ray.io",
    version = "v1",
    kind = "RayService",
    validation = crate::validation::crd_rules::RAY_SERVICE[0].to_kube(),
    validation = crate::validation::crd_rules::RAY_SERVICE[1].to_kube(),
    plural = "rayservices",
    singular = "rayservice",
    namespaced,
    status = "RayServiceStatuses",
    category = "all",
    printcolumn = r#"{"name":"service status","type":"string","jsonPath":".status.serviceStatus","priority":0}"#,
    printcolumn = r#"{"name":"num serve endpoints","type":"string","jsonPath":".status.numServeEndpoints","priority":0}"#
)]
#[serde(rename_all = "camelCase")]
pub struct RayServiceSpec {
    /// The Serve applications to deploy, as a YAML string in Ray Serve's config format (an `applications` list).
    #[serde(
        rename = "serveConfigV2",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    #[garde(custom(crate::validation::service::serve_config))]
    pub serve_config_v2: Option<String>,
    /// The cluster that serves the applications. Changing it (other than worker replicas) prepares a new cluster
    /// and moves traffic to it once it serves.
    #[garde(dive(crate::validation::ClusterOwner::RayService))]
    pub ray_cluster_config: RayClusterSpec,
    /// Deprecated and ignored; kept so existing manifests still apply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[garde(skip)]
    pub service_unhealthy_second_threshold: Option<i32>,
    /// Deprecated and ignored; kept so existing manifests still apply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[garde(skip)]
    pub deployment_unhealthy_second_threshold: Option<i32>,
    /// A custom serve Service. Defaults to `<name>-serve-svc` on port 8000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[garde(skip)]
    pub serve_service: Option<Service>,
    /// Seconds an old cluster is kept after traffic moved to its successor (KubeRay 1.5), so requests in flight
    /// finish. Unset: the operator's `--rayservice-cluster-deletion-delay-seconds` (default 60).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("minimum" = 0))]
    #[garde(skip)]
    pub ray_cluster_deletion_delay_seconds: Option<i32>,
    /// How a changed `rayClusterConfig` is rolled out: `type: NewCluster` (the default: prepare a new cluster and
    /// switch traffic once it serves) or `type: None` (never a second cluster: a change that would need one waits,
    /// and the `UpgradeInProgress` condition says so). `NewClusterWithIncrementalUpgrade` is not supported yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[garde(skip)]
    pub upgrade_strategy: Option<RayServiceUpgradeStrategy>,
    /// The controller that reconciles this service: `ray.io/kuberay-operator` (this operator, also when unset) or
    /// `kueue.x-k8s.io/multikueue`, in which case the operator leaves the service entirely to Kueue. Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-validations" = crate::validation::managed_by::cel_rules()))]
    #[garde(skip)]
    pub managed_by: Option<String>,
    /// Keep the head pod out of the serve Service, so only workers take Serve traffic (KubeRay 1.3): the head
    /// pod's `ray.io/serve` label stays `false` whatever the health of its Serve proxy.
    #[serde(default, skip_serializing_if = "is_false")]
    #[garde(skip)]
    pub exclude_head_pod_from_serve_svc: bool,
    /// Delete everything the RayService owns (its RayClusters and its Services) and bring it back, on a new
    /// cluster, when set to false again (KubeRay 1.7). A suspension that started runs to completion first; the
    /// `Suspending` and `Suspended` conditions follow it.
    #[serde(default, skip_serializing_if = "is_false")]
    #[garde(skip)]
    pub suspend: bool,
}

/// RayServiceUpgradeStrategy says how a RayService moves to a changed cluster spec.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RayServiceUpgradeStrategy {
    /// `NewCluster`, `NewClusterWithIncrementalUpgrade` or `None`.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub type_: Option<RayServiceUpgradeType>,
    /// The steps of a `NewClusterWithIncrementalUpgrade`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_upgrade_options: Option<ClusterUpgradeOptions>,
}

/// How a RayService moves to a changed cluster spec.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
pub enum RayServiceUpgradeType {
    /// Prepare a new cluster and move all traffic to it once it serves.
    NewCluster,
    /// Prepare a new cluster and move traffic to it step by step through the Gateway API.
    NewClusterWithIncrementalUpgrade,
    /// Keep the current cluster; a changed cluster spec is not rolled out.
    #[serde(rename = "None")]
    NoUpgrade,
}

/// ClusterUpgradeOptions are the steps of an incremental upgrade.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterUpgradeOptions {
    /// How much of the old cluster's Serve capacity the new cluster scales up to per step, in percent. Defaults
    /// to 100.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = 100))]
    pub max_surge_percent: Option<i32>,
    /// How much traffic moves to the new cluster per step, in percent; at most `maxSurgePercent`.
    pub step_size_percent: i32,
    /// Seconds between two steps.
    pub interval_seconds: i32,
    /// The Gateway class of the Gateway the traffic goes through.
    pub gateway_class_name: String,
}

/// RayServiceStatuses is what the operator observed of the service (the `status` of a RayService).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RayServiceStatuses {
    /// The cluster that serves traffic now, and its applications.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_service_status: Option<RayServiceStatus>,
    /// The cluster being prepared to take over, and its applications.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_service_status: Option<RayServiceStatus>,
    /// The service's overall status: `Running` once it serves.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_status: Option<ServiceStatus>,
    /// How many endpoints the serve Service has.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_serve_endpoints: Option<i32>,
    /// When the operator last changed this status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_update_time: Option<Time>,
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Conditions (KubeRay's, from its 1.2 release on): `Ready` (the service takes traffic; `ValidationFailed` with
    /// the field when the spec is invalid), `UpgradeInProgress` (a pending cluster is being prepared), and
    /// `Suspending` / `Suspended` (KubeRay 1.7's `spec.suspend`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
}

/// RayServiceStatus describes one cluster of a RayService and its Serve applications.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RayServiceStatus {
    /// The Serve applications by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub application_statuses: BTreeMap<String, AppStatus>,
    /// The RayCluster's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ray_cluster_name: Option<String>,
    /// A copy of the RayCluster's status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ray_cluster_status: Option<RayClusterStatus>,
}

/// The status of one Serve application.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AppStatus {
    /// The application's status as Ray Serve reports it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<ApplicationStatus>,
    /// Ray Serve's message, for example why a deployment failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The application's deployments by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub serve_deployment_statuses: BTreeMap<String, ServeDeploymentStatus>,
}

/// The status of one Serve deployment.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServeDeploymentStatus {
    /// The deployment's status as Ray Serve reports it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<ServeDeploymentStatusValue>,
    /// Ray Serve's message about the deployment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// A Serve application's status, with Ray Serve's values.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ApplicationStatus {
    /// Not deployed yet.
    NotStarted,
    /// Being deployed or updated.
    Deploying,
    /// Deployed and healthy.
    Running,
    /// The deployment failed; the message says why.
    DeployFailed,
    /// Being deleted.
    Deleting,
    /// Deployed but unhealthy.
    Unhealthy,
}

/// A Serve deployment's status, with Ray Serve's values.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ServeDeploymentStatusValue {
    /// Being updated.
    Updating,
    /// Healthy.
    Healthy,
    /// Unhealthy.
    Unhealthy,
}

/// The overall status of a RayService.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
pub enum ServiceStatus {
    /// Not serving yet.
    #[serde(rename = "")]
    NotRunning,
    /// Every application runs and the services point at the active cluster.
    Running,
    /// The operator could not create or read the RayCluster.
    FailedToGetOrCreateRayCluster,
    /// Waiting for the Serve applications to become ready.
    WaitForServeDeploymentReady,
    /// The operator could not read the Serve applications' statuses.
    FailedToGetServeDeploymentStatus,
    /// A new cluster is being prepared.
    Restarting,
    /// The Ingress could not be updated.
    FailedToUpdateIngress,
    /// The serving label on the head pod could not be updated.
    FailedToUpdateServingPodLabel,
    /// The Services could not be updated.
    FailedToUpdateService,
}
