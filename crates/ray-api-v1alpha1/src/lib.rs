//! The deprecated `ray.io/v1alpha1` API: RayCluster, RayJob and RayService as KubeRay froze them in December 2023.
//!
//! New manifests should use `ray.io/v1` (the `ray-api-v1` crate). This crate exists so that manifests and tools
//! written for v1alpha1 keep working: the operator serves this version next to v1 (v1 is the stored version), and
//! objects convert between the two without losing anything.
//!
//! Compared with `ray.io/v1`, v1alpha1 lacks `numOfHosts` on worker groups, `activeDeadlineSeconds`,
//! `submissionMode` and `submitterConfig` on RayJob, and several status fields (RayCluster `conditions`,
//! `readyWorkerReplicas`, the head's pod and Service names, RayJob `reason`). It has two things v1 does not: the
//! RayCluster state `unhealthy` and `healthLastUpdateTime` on RayService application and deployment statuses.
//!
//! Whole objects convert with `From`/`Into` in both directions, and [`convert`] converts JSON objects by
//! `apiVersion`. Whatever one version cannot hold travels in an annotation and comes back, so a round trip through
//! either version returns the original object; see [`conversion`] for how, and `docs/api/v1alpha1.md` for users.
//!
//! ```
//! use ray_api_v1alpha1::RayCluster;
//!
//! let cluster: RayCluster = serde_json::from_value(serde_json::json!({
//!     "apiVersion": "ray.io/v1alpha1",
//!     "kind": "RayCluster",
//!     "metadata": { "name": "demo" },
//!     "spec": {
//!         "headGroupSpec": {
//!             "template": { "spec": { "containers": [{ "name": "ray-head", "image": "rayproject/ray:2.9.0" }] } }
//!         },
//!         "workerGroupSpecs": [{
//!             "groupName": "small",
//!             "template": { "spec": { "containers": [{ "name": "ray-worker", "image": "rayproject/ray:2.9.0" }] } }
//!         }]
//!     }
//! }))?;
//! assert_eq!(cluster.spec.worker_group_specs[0].group_name, "small");
//!
//! // To ray.io/v1, the version the operator works with: a plain `Into`.
//! let v1: ray_api_v1::RayCluster = cluster.clone().into();
//! assert_eq!(v1.spec.worker_group_specs[0].group_name, "small");
//! // v1 has `numOfHosts` (v1alpha1 does not); converted objects get v1's default of one host per replica.
//! assert_eq!(v1.spec.worker_group_specs[0].num_of_hosts, None);
//!
//! // And back: nothing is lost.
//! let back: RayCluster = v1.into();
//! assert_eq!(back, cluster);
//! # Ok::<(), serde_json::Error>(())
//! ```
//!
//! Objects whose kind is known only at run time (a conversion webhook, a manifest of several kinds) convert as JSON:
//!
//! ```
//! let object = serde_json::json!({
//!     "apiVersion": "ray.io/v1alpha1",
//!     "kind": "RayJob",
//!     "metadata": { "name": "nightly" },
//!     "spec": { "entrypoint": "python train.py" }
//! });
//! let v1 = ray_api_v1alpha1::convert(object, ray_api_v1::API_VERSION)?;
//! assert_eq!(v1["apiVersion"], "ray.io/v1");
//! assert_eq!(v1["spec"]["entrypoint"], "python train.py");
//! # Ok::<(), ray_api_v1alpha1::ConversionError>(())
//! ```

/// The README's examples, compiled as doctests so that what crates.io shows keeps building.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

mod common;
pub mod conversion;
pub mod raycluster;
pub mod rayjob;
pub mod rayservice;

pub use conversion::{
    ConversionError, StrictInto, V1_PRESERVED_FIELDS_ANNOTATION,
    V1ALPHA1_PRESERVED_FIELDS_ANNOTATION, convert, convert_strict,
};
pub use raycluster::{
    AutoscalerOptions, ClusterState, HeadGroupSpec, HeadInfo, RayCluster, RayClusterSpec,
    RayClusterStatus, ScaleStrategy, UpscalingMode, WorkerGroupSpec,
};
pub use rayjob::{JobDeploymentStatus, JobStatus, RayJob, RayJobSpec, RayJobStatus};
pub use rayservice::{
    AppStatus, ApplicationStatus, RayService, RayServiceSpec, RayServiceStatus, RayServiceStatuses,
    ServeDeploymentStatus, ServeDeploymentStatusValue, ServiceStatus,
};

/// The API group of every kind in this crate.
pub const GROUP: &str = "ray.io";
/// The API version of every kind in this crate.
pub const VERSION: &str = "v1alpha1";
/// The full `apiVersion` of every kind in this crate, as written in manifests.
pub const API_VERSION: &str = "ray.io/v1alpha1";
