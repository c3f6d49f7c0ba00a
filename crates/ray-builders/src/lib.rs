//! Rendering of every Kubernetes object the operator creates, as pure functions of the ray.io API types.
//!
//! Nothing here talks to an API server: given the same input, the same objects come out, byte for byte, so the
//! operator's `render` command can show a user exactly what it would create, and the controllers can compare
//! what exists with what should.
//!
//! Names, labels, ports, environment variables and the `ray start` command follow KubeRay exactly, because the
//! Ray autoscaler, dashboards, kubectl plugins and users' scripts depend on them. Three things are deliberately
//! better: user values in shell commands are quoted ([`shell`]), derived names that do not fit Kubernetes' limits
//! are errors naming the field to shorten instead of being truncated ([`names`]), and output is deterministic.
//!
//! ```
//! use ray_builders::{render_cluster, RenderOptions};
//!
//! let cluster: ray_api_v1::RayCluster = serde_json::from_value(serde_json::json!({
//!     "apiVersion": "ray.io/v1",
//!     "kind": "RayCluster",
//!     "metadata": { "name": "demo", "namespace": "ml" },
//!     "spec": {
//!         "headGroupSpec": {
//!             "rayStartParams": {},
//!             "template": { "spec": { "containers": [{ "name": "ray-head", "image": "rayproject/ray:2.9.0" }] } }
//!         },
//!         "workerGroupSpecs": [{
//!             "groupName": "cpu", "replicas": 2, "minReplicas": 1, "maxReplicas": 4,
//!             "template": { "spec": { "containers": [{ "name": "ray-worker", "image": "rayproject/ray:2.9.0" }] } }
//!         }]
//!     }
//! }))?;
//! let objects = render_cluster(&cluster, &RenderOptions::default())?;
//! let names: Vec<String> = objects.iter().map(|o| format!("{}/{}", o.object.kind(), o.object.display_name())).collect();
//! assert_eq!(names, [
//!     "Service/demo-head-svc",
//!     "Pod/demo-head-*",
//!     "Pod/demo-cpu-worker-*",
//!     "Pod/demo-cpu-worker-*",
//! ]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! One object at a time: the head pod, with the `ray start` command and the labels the Ray tooling looks for.
//!
//! ```
//! use ray_builders::{ClusterContext, RenderOptions, head_pod};
//!
//! let cluster: ray_api_v1::RayCluster = serde_json::from_value(serde_json::json!({
//!     "apiVersion": "ray.io/v1",
//!     "kind": "RayCluster",
//!     "metadata": { "name": "demo", "namespace": "ml" },
//!     "spec": {
//!         "headGroupSpec": {
//!             "rayStartParams": { "dashboard-host": "0.0.0.0" },
//!             "template": { "spec": { "containers": [{ "name": "ray-head", "image": "rayproject/ray:2.9.0" }] } }
//!         }
//!     }
//! }))?;
//! let options = RenderOptions::default();
//! let ctx = ClusterContext::new(&cluster, &options)?;
//! let pod = head_pod(&ctx)?;
//!
//! let labels = pod.metadata.labels.as_ref().expect("the head pod is labelled");
//! assert_eq!(labels["ray.io/cluster"], "demo");
//! assert_eq!(labels["ray.io/node-type"], "head");
//! let container = &pod.spec.as_ref().expect("a pod spec").containers[0];
//! let command = container.args.as_ref().expect("the ray start command").join(" ");
//! assert!(command.contains("ray start --head"), "{command}");
//! assert!(command.contains("--dashboard-host=0.0.0.0"), "{command}");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

/// The README's examples, compiled as doctests so that what crates.io shows keeps building.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

pub mod auth;
pub mod autoscaler;
pub mod context;
pub mod desired;
pub mod env;
pub mod gcs_ft;
pub mod ingress;
pub mod job_cluster;
pub mod labels;
pub mod names;
pub mod objects;
pub mod pod;
pub mod probes;
pub mod quantity;
pub mod rbac;
pub mod resources;
pub mod service;
pub mod service_cluster;
pub mod shell;
pub mod spec_hash;
pub mod start_command;
pub mod submitter;

pub use context::{
    ClusterContext, DEFAULT_MAX_RENDERED_PODS, OPERATOR_VERSION, Origin, PodStamp, RenderOptions,
};
pub use desired::{DesiredCluster, SupportObjects};
pub use objects::{
    Object, RenderError, Rendered, cluster_notes, job_notes, render_cluster, render_job,
    render_service, service_notes, to_yaml_stream,
};
pub use pod::{
    MultiHostReplica, WorkerReplica, WorkerTemplate, head_pod, worker_pod, worker_template,
};
