//! The `ray.io/v1` API: RayCluster, RayJob, RayService and RayCronJob.
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
//!
//! Built in code, an object needs only the fields that matter; the rest stay at their defaults and are not written:
//!
//! ```
//! use std::collections::BTreeMap;
//!
//! use k8s_openapi::api::core::v1::{Container, PodSpec, PodTemplateSpec};
//! use ray_api_v1::{HeadGroupSpec, RayCluster, RayClusterSpec, WorkerGroupSpec};
//!
//! let pod = |container: &str| PodTemplateSpec {
//!     metadata: None,
//!     spec: Some(PodSpec {
//!         containers: vec![Container {
//!             name: container.into(),
//!             image: Some("rayproject/ray:2.9.0".into()),
//!             ..Container::default()
//!         }],
//!         ..PodSpec::default()
//!     }),
//! };
//! let cluster = RayCluster::new(
//!     "demo",
//!     RayClusterSpec {
//!         head_group_spec: HeadGroupSpec {
//!             ray_start_params: BTreeMap::from([("dashboard-host".into(), "0.0.0.0".into())]),
//!             template: pod("ray-head"),
//!             ..HeadGroupSpec::default()
//!         },
//!         worker_group_specs: vec![WorkerGroupSpec {
//!             group_name: "cpu".into(),
//!             replicas: Some(2),
//!             min_replicas: Some(1),
//!             max_replicas: Some(4),
//!             template: pod("ray-worker"),
//!             ..WorkerGroupSpec::default()
//!         }],
//!         ..RayClusterSpec::default()
//!     },
//! );
//! // The operator's own rules; each error names its field.
//! ray_api_v1::validate_cluster(&cluster)?;
//!
//! let json = serde_json::to_value(&cluster)?;
//! assert_eq!(json["apiVersion"], "ray.io/v1");
//! assert_eq!(json["spec"]["workerGroupSpecs"][0]["maxReplicas"], 4);
//! // Unset optional fields are left out rather than written as `null`.
//! assert!(!serde_json::to_string(&cluster)?.contains("null"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

/// The README's examples, compiled as doctests so that what crates.io shows keeps building.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

pub mod common;
pub mod parse;
pub mod quantity;
pub mod raycluster;
pub mod raycronjob;
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
pub use raycronjob::{RayCronJob, RayCronJobSpec, RayCronJobStatus};
pub use rayjob::{
    DeletionCondition, DeletionPolicy, DeletionPolicyType, DeletionRule, DeletionStrategy,
    JobDeploymentStatus, JobFailedReason, JobStatus, JobSubmissionMode, RayJob, RayJobSpec,
    RayJobStatus, RayJobStatusInfo, SubmitterConfig,
};
pub use rayservice::{
    AppStatus, ApplicationStatus, ClusterUpgradeOptions, RayService, RayServiceSpec,
    RayServiceStatus, RayServiceStatuses, RayServiceUpgradeStrategy, RayServiceUpgradeType,
    ServeDeploymentStatus, ServeDeploymentStatusValue, ServiceStatus,
};
pub use validation::{
    FieldError, ValidationErrors, validate_cluster, validate_cron_job, validate_job,
    validate_service,
};

/// The API group of every kind in this crate.
pub const GROUP: &str = "ray.io";
/// The API version of every kind in this crate.
pub const VERSION: &str = "v1";
/// The `apiVersion` of every object of this crate: `ray.io/v1`.
pub const API_VERSION: &str = "ray.io/v1";
