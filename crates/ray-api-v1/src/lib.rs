//! The `ray.io/v1` API: RayCluster, RayJob and RayService.
//!
//! These types are usable on their own, without the operator: they serialize to exactly the JSON that KubeRay's Go
//! types produce (the same field names and enum values), so manifests written for KubeRay read and write back
//! unchanged. Everything optional is skipped when unset, so an object built here never sends a `null` under
//! server-side apply.
//!
//! ```
//! use ray_api_v1::RayCluster;
//!
//! let cluster: RayCluster = serde_json::from_value(serde_json::json!({
//!     "apiVersion": "ray.io/v1",
//!     "kind": "RayCluster",
//!     "metadata": { "name": "demo" },
//!     "spec": {
//!         "headGroupSpec": {
//!             "rayStartParams": { "dashboard-host": "0.0.0.0" },
//!             "template": { "spec": { "containers": [{ "name": "ray-head", "image": "rayproject/ray:2.9.0" }] } }
//!         }
//!     }
//! }))?;
//! assert!(cluster.spec.worker_group_specs.is_empty());
//! assert_eq!(cluster.spec.head_group_spec.ray_start_params["dashboard-host"], "0.0.0.0");
//! # Ok::<(), serde_json::Error>(())
//! ```

pub mod common;
pub mod parse;
pub mod quantity;
pub mod raycluster;
pub mod rayjob;
pub mod rayservice;
pub mod validation;

pub use parse::{ParseError, RayObject};
pub use raycluster::{
    AuthMode, AuthOptions, AutoscalerOptions, AutoscalerVersion, ClusterState, CollectorOptions,
    GcsEmbeddedStorage, GcsFaultToleranceBackend, GcsFaultToleranceOptions,
    GcsStorageDeletionPolicy, HeadGroupSpec, HeadInfo, HistoryServerOptions, IngressOptions,
    IngressPathType, NetworkPolicyConfig, NetworkPolicyMode, NetworkPolicyRules, RayCluster,
    RayClusterSpec, RayClusterStatus, RayClusterUpgradeStrategy, RayClusterUpgradeType,
    RedisCredential, ScaleStrategy, TlsOptions, UpscalingMode, WorkerGroupNetworkPolicyRules,
    WorkerGroupSpec,
};
pub use rayjob::{
    JobDeploymentStatus, JobFailedReason, JobStatus, JobSubmissionMode, RayJob, RayJobSpec,
    RayJobStatus, SubmitterConfig,
};
pub use rayservice::{
    AppStatus, ApplicationStatus, ClusterUpgradeOptions, RayService, RayServiceSpec,
    RayServiceStatus, RayServiceStatuses, RayServiceUpgradeStrategy, RayServiceUpgradeType,
    ServeDeploymentStatus, ServeDeploymentStatusValue, ServiceStatus,
};
pub use validation::{
    FieldError, ValidationErrors, validate_cluster, validate_job, validate_service,
};

/// The API group of every kind in this crate.
pub const GROUP: &str = "ray.io";
/// The API version of every kind in this crate.
pub const VERSION: &str = "v1";
/// The `apiVersion` of every object of this crate: `ray.io/v1`.
pub const API_VERSION: &str = "ray.io/v1";
