//! RayService (`ray.io/v1alpha1`): Ray Serve applications on a RayCluster, kept serving across config and cluster
//! changes.
//!
//! This is the frozen, deprecated shape of the kind. Its spec has the same fields as `ray.io/v1` at the time; its
//! application and deployment statuses additionally carry `healthLastUpdateTime`, which `ray.io/v1` dropped.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::raycluster::{RayClusterSpec, RayClusterStatus};

/// A Serve application's status, with Ray Serve's values. The values are the same in both API versions.
pub use ray_api_v1::ApplicationStatus;
/// A Serve deployment's status, with Ray Serve's values. The values are the same in both API versions.
pub use ray_api_v1::ServeDeploymentStatusValue;
/// The overall status of a RayService. The values are the same in both API versions.
pub use ray_api_v1::ServiceStatus;

/// RayServiceSpec describes Ray Serve applications and the cluster that serves them.
///
/// `ray.io/v1alpha1` is deprecated: write `ray.io/v1` instead. Objects written through this version keep every
/// `ray.io/v1` field they already had (see the crate documentation on conversion).
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "ray.io",
    version = "v1alpha1",
    kind = "RayService",
    plural = "rayservices",
    singular = "rayservice",
    namespaced,
    status = "RayServiceStatuses",
    category = "all",
    served = true,
    derive = "PartialEq",
    doc = "Ray Serve applications and their cluster (deprecated `ray.io/v1alpha1` version; use `ray.io/v1`).",
    storage = false,
    deprecated = "ray.io/v1alpha1 RayService is deprecated; use ray.io/v1 RayService.",
    printcolumn = r#"{"name":"ServiceStatus","type":"string","jsonPath":".status.serviceStatus","priority":0}"#
)]
#[serde(rename_all = "camelCase")]
pub struct RayServiceSpec {
    /// The Serve applications to deploy, as a YAML string in Ray Serve's config format (an `applications` list).
    #[serde(
        rename = "serveConfigV2",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub serve_config_v2: Option<String>,
    /// The cluster that serves the applications. Changing it (other than worker replicas) prepares a new cluster
    /// and moves traffic to it once it serves.
    pub ray_cluster_config: RayClusterSpec,
    /// Deprecated and ignored; kept so existing manifests still apply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_unhealthy_second_threshold: Option<i32>,
    /// Deprecated and ignored; kept so existing manifests still apply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment_unhealthy_second_threshold: Option<i32>,
    /// A custom serve Service. Defaults to `<name>-serve-svc` on port 8000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serve_service: Option<Service>,
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
    /// When the application's health was last checked. Only this version has it; `ray.io/v1` dropped it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_last_update_time: Option<Time>,
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
    /// When the deployment's health was last checked. Only this version has it; `ray.io/v1` dropped it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_last_update_time: Option<Time>,
}
