//! Validation of RayCluster, RayJob, RayService and RayCronJob objects.
//!
//! The same rules run everywhere: in the operator before it acts on an object (a rejected object gets a
//! `ValidationFailed` status naming the field), in a validating webhook, and in any tool that reads a manifest
//! (`render`, CI checks, ...). Every problem is reported, not only the first, and each one names the field by its
//! JSON path, for example `spec.workerGroupSpecs[1].minReplicas`, and says what to change.
//!
//! ```
//! use ray_api_v1::validation::validate_cluster;
//! use ray_api_v1::RayCluster;
//!
//! let cluster: RayCluster = serde_json::from_value(serde_json::json!({
//!     "apiVersion": "ray.io/v1",
//!     "kind": "RayCluster",
//!     "metadata": { "name": "demo" },
//!     "spec": {
//!         "headGroupSpec": {
//!             "template": { "spec": { "containers": [{ "name": "ray-head", "image": "rayproject/ray:2.9.0" }] } }
//!         },
//!         "workerGroupSpecs": [{
//!             "groupName": "cpu",
//!             "minReplicas": 5,
//!             "maxReplicas": 3,
//!             "template": { "spec": { "containers": [{ "name": "ray-worker", "image": "rayproject/ray:2.9.0" }] } }
//!         }]
//!     }
//! }))?;
//! let errors = validate_cluster(&cluster).unwrap_err();
//! assert_eq!(errors.to_string(),
//!     "spec.workerGroupSpecs[0].minReplicas: minReplicas (5) must not be greater than maxReplicas (3)");
//! # Ok::<(), serde_json::Error>(())
//! ```
//!
//! What the operator turns into Pods, Jobs and Services (pod templates, the autoscaler container, custom Services,
//! numeric `rayStartParams`) is held to the API server's own rules for those objects, so a mistake such as a
//! container without an image or `nvidia.com/gpu: 0.5` is reported here, naming the field, instead of surfacing
//! later as a failed Pod create.
//!
//! Rules that the API server can check itself are also part of the generated CRDs (OpenAPI bounds and CEL
//! `x-kubernetes-validations`), so a cluster without the operator's webhook still rejects those mistakes at
//! `kubectl apply` time; [`crd_rules`] holds them. `docs/api/validation.md` lists every rule and where it is enforced.
//!
//! Fields of newer KubeRay releases that the operator does not act on yet are rejected by name, in the CRD and here
//! alike, unless their value asks for nothing new; [`unsupported`] lists them.
//!
//! Defaults: a field the CRD defaults (`replicas`, `minReplicas`, `maxReplicas`, `numOfHosts`, `submissionMode`,
//! `ttlSecondsAfterFinished`) is validated as if it held its default when it is unset, so a manifest passes here
//! exactly when it passes after the API server filled in the defaults.

mod auth;
pub(crate) mod cluster;
pub mod crd_rules;
pub mod cron_job;
pub mod gcs_ft;
mod ingress;
pub(crate) mod job;
mod job_lifecycle;
mod kube_service;
#[cfg(test)]
mod kubernetes_parity;
pub mod managed_by;
mod metadata;
mod names;
mod pod;
mod resources;
pub(crate) mod service;
mod start_params;
pub mod unsupported;
mod upgrade_strategy;
mod workloads;
mod yaml;

use std::fmt;

use garde::Validate;

use crate::raycluster::{RayCluster, RayClusterSpec};
use crate::rayjob::{RayJob, RayJobSpec};
use crate::rayservice::{RayService, RayServiceSpec};

pub use cluster::{GroupContext, MAX_NUM_OF_HOSTS};
pub use cron_job::{MAX_CRON_JOB_NAME_LENGTH, validate_cron_job};
pub use metadata::MAX_ANNOTATIONS_BYTES;
pub use names::{MAX_CLUSTER_NAME_LENGTH, MAX_JOB_NAME_LENGTH, MAX_SERVICE_NAME_LENGTH};

/// One problem found in an object: the JSON path of the field and what is wrong with it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FieldError {
    /// The field's JSON path with the wire (camelCase) names and `[i]` list indices, for example
    /// `spec.workerGroupSpecs[1].minReplicas`.
    pub path: String,
    /// What is wrong and what to do about it, for example `minReplicas (5) must not be greater than maxReplicas (3)`.
    pub message: String,
}

impl FieldError {
    /// A problem at `path` described by `message`.
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// Every problem found in an object, in a stable order (by field, in the order the fields appear).
///
/// It is never empty when returned as an `Err`. `Display` prints one `path: message` line per problem, which is
/// what the operator writes into the object's status and what command-line tools print.
#[derive(Clone, Debug, PartialEq, Eq, Hash, thiserror::Error)]
#[error("{}", lines(.0))]
pub struct ValidationErrors(pub Vec<FieldError>);

fn lines(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

impl ValidationErrors {
    /// The problems, in order.
    pub fn iter(&self) -> std::slice::Iter<'_, FieldError> {
        self.0.iter()
    }

    /// How many problems were found.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether no problem was found (never true for an `Err` returned by this module).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The problems reported for exactly this path.
    pub fn at<'a>(&'a self, path: &'a str) -> impl Iterator<Item = &'a FieldError> + 'a {
        self.0.iter().filter(move |error| error.path == path)
    }

    /// `Ok(())` when nothing was found, otherwise `Err(self)`.
    fn into_result(self) -> Result<(), ValidationErrors> {
        if self.0.is_empty() { Ok(()) } else { Err(self) }
    }

    /// Adds garde's findings, with their paths placed under `prefix`.
    fn extend_report(&mut self, prefix: &str, report: garde::Report) {
        for (path, error) in report.into_inner() {
            self.0.push(FieldError::new(
                join_path(prefix, &json_path(&path.to_string())),
                error.message(),
            ));
        }
    }
}

impl IntoIterator for ValidationErrors {
    type Item = FieldError;
    type IntoIter = std::vec::IntoIter<FieldError>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'a> IntoIterator for &'a ValidationErrors {
    type Item = &'a FieldError;
    type IntoIter = std::slice::Iter<'a, FieldError>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

/// Turns a path of Rust field names, as garde reports them (`worker_group_specs[0].min_replicas`), into the JSON
/// path (`workerGroupSpecs[0].minReplicas`). garde 0.23 parses but ignores its `rename` attribute, so the mapping
/// is done here; the table-driven tests check every reported path against the wire names.
fn json_path(path: &str) -> String {
    path.split('.')
        .map(|segment| {
            let (name, indices) = segment.split_at(segment.find('[').unwrap_or(segment.len()));
            format!("{}{indices}", json_field_name(name))
        })
        .collect::<Vec<_>>()
        .join(".")
}

/// The JSON name of a Rust field name: camelCase, except where serde renames the field.
fn json_field_name(name: &str) -> String {
    match name {
        "runtime_env_yaml" => "runtimeEnvYAML".to_owned(),
        _ => {
            let mut out = String::with_capacity(name.len());
            let mut upper = false;
            for c in name.chars() {
                if c == '_' {
                    upper = true;
                } else if upper {
                    out.extend(c.to_uppercase());
                    upper = false;
                } else {
                    out.push(c);
                }
            }
            out
        }
    }
}

/// Joins a path prefix such as `spec` and a relative path such as `workerGroupSpecs[0].replicas`.
fn join_path(prefix: &str, path: &str) -> String {
    match (prefix.is_empty(), path.is_empty()) {
        (true, _) => path.to_owned(),
        (false, true) => prefix.to_owned(),
        (false, false) if path.starts_with('[') => format!("{prefix}{path}"),
        (false, false) => format!("{prefix}.{path}"),
    }
}

/// Which object a RayCluster spec belongs to. A few rules differ: a RayService manages its own head Service
/// names, so its `rayClusterConfig` may not name the head Service.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum ClusterOwner {
    /// A RayCluster object's own `spec`.
    #[default]
    RayCluster,
    /// A RayJob's `spec.rayClusterSpec`.
    RayJob,
    /// A RayService's `spec.rayClusterConfig`.
    RayService,
}

/// Validates a RayCluster: its name (at most 53 characters, a DNS-1035 label) and its spec.
pub fn validate_cluster(cluster: &RayCluster) -> Result<(), ValidationErrors> {
    let mut errors = ValidationErrors(Vec::new());
    names::check_object_name(&cluster.metadata, names::NameRule::RAY_CLUSTER, &mut errors);
    workloads::check_object_metadata(&cluster.metadata, &mut errors.0);
    errors.extend(validate_cluster_spec(
        &cluster.spec,
        "spec",
        ClusterOwner::RayCluster,
    ));
    gcs_ft::check_annotations(
        &cluster.spec,
        "spec",
        cluster.metadata.annotations.as_ref(),
        &mut errors.0,
    );
    upgrade_strategy::check_origin(
        &cluster.spec,
        cluster.metadata.labels.as_ref(),
        &mut errors.0,
    );
    errors.into_result()
}

/// Validates a RayJob: its name (at most 47 characters, a DNS-1035 label), its spec and the RayCluster spec it
/// embeds (`spec.rayClusterSpec`, with the same rules as a RayCluster's spec).
pub fn validate_job(job: &RayJob) -> Result<(), ValidationErrors> {
    let mut errors = ValidationErrors(Vec::new());
    names::check_object_name(&job.metadata, names::NameRule::RAY_JOB, &mut errors);
    workloads::check_object_metadata(&job.metadata, &mut errors.0);
    errors.extend(validate_job_spec(&job.spec, "spec"));
    // The RayJob's annotations are its RayCluster's.
    if let Some(spec) = &job.spec.ray_cluster_spec {
        gcs_ft::check_annotations(
            spec,
            "spec.rayClusterSpec",
            job.metadata.annotations.as_ref(),
            &mut errors.0,
        );
    }
    errors.into_result()
}

/// Validates a RayService: its name (at most 47 characters, a DNS-1035 label), its Serve config and the RayCluster
/// spec it embeds (`spec.rayClusterConfig`).
pub fn validate_service(service: &RayService) -> Result<(), ValidationErrors> {
    let mut errors = ValidationErrors(Vec::new());
    names::check_object_name(&service.metadata, names::NameRule::RAY_SERVICE, &mut errors);
    workloads::check_object_metadata(&service.metadata, &mut errors.0);
    errors.extend(validate_service_spec(&service.spec, "spec"));
    // The RayService's annotations are its RayClusters'.
    gcs_ft::check_annotations(
        &service.spec.ray_cluster_config,
        "spec.rayClusterConfig",
        service.metadata.annotations.as_ref(),
        &mut errors.0,
    );
    errors.into_result()
}

/// Validates a RayCluster spec on its own. `path` is where the spec sits in its object (`spec` for a RayCluster,
/// `spec.rayClusterSpec` for a RayJob, `spec.rayClusterConfig` for a RayService) and prefixes every reported path.
pub fn validate_cluster_spec(
    spec: &RayClusterSpec,
    path: &str,
    owner: ClusterOwner,
) -> Result<(), ValidationErrors> {
    let mut errors = ValidationErrors(Vec::new());
    if let Err(report) = spec.validate_with(&owner) {
        errors.extend_report(path, report);
    }
    let embedded_in = match owner {
        ClusterOwner::RayCluster => None,
        ClusterOwner::RayJob => Some("RayJob"),
        ClusterOwner::RayService => Some("RayService"),
    };
    workloads::check_cluster_spec(spec, path, embedded_in, &mut errors.0);
    errors.into_result()
}

/// Validates a RayJob spec on its own (including its `rayClusterSpec`); `path` prefixes every reported path.
pub fn validate_job_spec(spec: &RayJobSpec, path: &str) -> Result<(), ValidationErrors> {
    let mut errors = ValidationErrors(Vec::new());
    if let Err(report) = spec.validate() {
        errors.extend_report(path, report);
    }
    workloads::check_job_spec(spec, path, &mut errors.0);
    errors.into_result()
}

/// Validates a RayService spec on its own (including its `rayClusterConfig`); `path` prefixes every reported path.
pub fn validate_service_spec(spec: &RayServiceSpec, path: &str) -> Result<(), ValidationErrors> {
    let mut errors = ValidationErrors(Vec::new());
    if let Err(report) = spec.validate() {
        errors.extend_report(path, report);
    }
    workloads::check_service_spec(spec, path, &mut errors.0);
    errors.into_result()
}

impl ValidationErrors {
    fn extend(&mut self, other: Result<(), ValidationErrors>) {
        if let Err(other) = other {
            self.0.extend(other.0);
        }
    }
}
