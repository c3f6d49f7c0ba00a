//! RayJob (`ray.io/v1alpha1`): run one entrypoint on a Ray cluster, record its outcome and clean up.
//!
//! This is the frozen, deprecated shape of the kind. Compared with `ray.io/v1` it has no `submissionMode` (jobs are
//! always submitted by a Kubernetes Job), no `activeDeadlineSeconds`, no `submitterConfig`, and its status has no
//! `reason`. `entrypoint` is required.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::common::is_false;
use crate::raycluster::{RayClusterSpec, RayClusterStatus};

/// The status of a Ray job, with Ray's own values. The values are the same in both API versions.
pub use ray_api_v1::JobStatus;

/// RayJobSpec describes a Ray job: its entrypoint, the cluster it runs on and what happens afterwards.
///
/// `ray.io/v1alpha1` is deprecated: write `ray.io/v1` instead. Objects written through this version keep every
/// `ray.io/v1` field they already had (see the crate documentation on conversion).
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "ray.io",
    version = "v1alpha1",
    kind = "RayJob",
    plural = "rayjobs",
    singular = "rayjob",
    namespaced,
    status = "RayJobStatus",
    category = "all",
    served = true,
    derive = "PartialEq",
    doc = "A Ray job (deprecated `ray.io/v1alpha1` version; use `ray.io/v1`): one entrypoint run on a Ray cluster.",
    storage = false,
    deprecated = "ray.io/v1alpha1 RayJob is deprecated; use ray.io/v1 RayJob."
)]
#[serde(rename_all = "camelCase")]
pub struct RayJobSpec {
    /// The command the Ray job runs, for example `python /home/ray/samples/sample_code.py`. Required in this
    /// version.
    pub entrypoint: String,
    /// Metadata attached to the Ray job (shown by `ray job list` and the dashboard).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
    /// The Ray runtime environment as a YAML string (pip packages, working_dir, env_vars, ...).
    #[serde(
        rename = "runtimeEnvYAML",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub runtime_env_yaml: Option<String>,
    /// The Ray job's submission id. When unset the operator generates one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_id: Option<String>,
    /// Delete the RayCluster once the job has succeeded or failed (after `ttlSecondsAfterFinished`).
    #[serde(default, skip_serializing_if = "is_false")]
    pub shutdown_after_job_finishes: bool,
    /// Seconds to keep the RayCluster after the job finished, when `shutdownAfterJobFinishes` is true. Defaults
    /// to 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = 0))]
    pub ttl_seconds_after_finished: Option<i32>,
    /// The cluster to create for this job. Required unless `clusterSelector` picks an existing cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ray_cluster_spec: Option<RayClusterSpec>,
    /// Run on an existing RayCluster instead of creating one: the `ray.io/cluster` key names it. A selected
    /// cluster is never deleted by the RayJob.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub cluster_selector: BTreeMap<String, String>,
    /// Suspend the job: while true no RayCluster exists for it. Setting it on a running job stops the Ray job and
    /// deletes the cluster; setting it back to false starts over with a new cluster.
    #[serde(default, skip_serializing_if = "is_false")]
    pub suspend: bool,
    /// The pod template of the submitter Job. When unset the operator uses the head's Ray image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub submitter_pod_template: Option<PodTemplateSpec>,
    /// CPUs reserved for the entrypoint command.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entrypoint_num_cpus: Option<f32>,
    /// GPUs reserved for the entrypoint command.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entrypoint_num_gpus: Option<f32>,
    /// Custom Ray resources reserved for the entrypoint command, as a JSON object string such as `{"Custom_1": 1}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entrypoint_resources: Option<String>,
}

/// RayJobStatus is what the operator observed of the job.
///
/// The `ray.io/v1` status also has `reason`; read the object as `ray.io/v1` to see it.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RayJobStatus {
    /// The Ray job's submission id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_id: Option<String>,
    /// The RayCluster the job runs on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ray_cluster_name: Option<String>,
    /// The address of the cluster's Ray dashboard.
    #[serde(
        rename = "dashboardURL",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub dashboard_url: Option<String>,
    /// The Ray job's status as Ray reports it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_status: Option<JobStatus>,
    /// Where the RayJob is in its lifecycle.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_deployment_status: Option<JobDeploymentStatus>,
    /// A human-readable explanation of the current state, such as Ray's message or what the job is waiting for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// When the RayJob started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<Time>,
    /// When the RayJob finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_time: Option<Time>,
    /// A copy of the RayCluster's status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ray_cluster_status: Option<RayClusterStatus>,
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

/// Where a RayJob is in its lifecycle.
///
/// KubeRay's frozen v1alpha1 package declares only `""`, `Initializing`, `Running`, `Complete` and `Suspended`,
/// but operators since KubeRay 1.1 also write `Failed` and `Suspending`, and a v1alpha1 reader sees them. Both
/// are listed here so reading through v1alpha1 shows the true state instead of an approximation.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
pub enum JobDeploymentStatus {
    /// Just created; nothing done yet.
    #[serde(rename = "")]
    New,
    /// The cluster is being created or waited for.
    Initializing,
    /// The Ray job was submitted and is being watched.
    Running,
    /// The Ray job finished (successfully or not) and the RayJob is done.
    Complete,
    /// The RayJob failed; read the object as `ray.io/v1` for the `reason`.
    Failed,
    /// The RayJob is being suspended: the Ray job is stopped and the cluster deleted.
    Suspending,
    /// The RayJob is suspended and has no cluster.
    Suspended,
}
