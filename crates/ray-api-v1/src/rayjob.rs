//! RayJob: run one entrypoint on a Ray cluster, record its outcome and clean up.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::common::is_false;
use crate::raycluster::{RayClusterSpec, RayClusterStatus};

/// RayJobSpec describes a Ray job: its entrypoint, the cluster it runs on and what happens afterwards.
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
#[schemars(transform = crate::validation::crd_rules::ray_job_spec_schema)]
#[kube(
    group = "ray.io",
    version = "v1",
    kind = "RayJob",
    validation = crate::validation::crd_rules::RAY_JOB[0].to_kube(),
    validation = crate::validation::crd_rules::RAY_JOB[1].to_kube(),
    plural = "rayjobs",
    singular = "rayjob",
    namespaced,
    status = "RayJobStatus",
    category = "all",
    printcolumn = r#"{"name":"job status","type":"string","jsonPath":".status.jobStatus","priority":0}"#,
    printcolumn = r#"{"name":"deployment status","type":"string","jsonPath":".status.jobDeploymentStatus","priority":0}"#,
    printcolumn = r#"{"name":"ray cluster name","type":"string","jsonPath":".status.rayClusterName","priority":0}"#,
    printcolumn = r#"{"name":"start time","type":"string","jsonPath":".status.startTime","priority":0}"#,
    printcolumn = r#"{"name":"end time","type":"string","jsonPath":".status.endTime","priority":0}"#,
    printcolumn = r#"{"name":"age","type":"date","jsonPath":".metadata.creationTimestamp","priority":0}"#
)]
#[serde(rename_all = "camelCase")]
pub struct RayJobSpec {
    /// The command the Ray job runs, for example `python /home/ray/samples/sample_code.py`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[garde(custom(crate::validation::job::entrypoint(&self.submission_mode, &self.submitter_pod_template)))]
    pub entrypoint: Option<String>,
    /// Metadata attached to the Ray job (shown by `ray job list` and the dashboard).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[garde(custom(crate::validation::job::metadata_ray_version(&self.ray_cluster_spec)))]
    pub metadata: BTreeMap<String, String>,
    /// The Ray runtime environment as a YAML string (pip packages, working_dir, env_vars, ...).
    #[serde(
        rename = "runtimeEnvYAML",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    #[garde(custom(crate::validation::job::runtime_env))]
    pub runtime_env_yaml: Option<String>,
    /// The Ray job's submission id. When unset the operator generates one and records it in status before it
    /// submits, so a restart never submits twice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[garde(skip)]
    pub job_id: Option<String>,
    /// Delete the RayCluster once the job has succeeded or failed (after `ttlSecondsAfterFinished`).
    #[serde(default, skip_serializing_if = "is_false")]
    #[garde(skip)]
    pub shutdown_after_job_finishes: bool,
    /// Seconds to keep the RayCluster after the job finished, when `shutdownAfterJobFinishes` is true. Defaults
    /// to 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = 0))]
    #[schemars(extend("minimum" = 0))]
    #[garde(custom(crate::validation::job::ttl_seconds(self.shutdown_after_job_finishes)))]
    pub ttl_seconds_after_finished: Option<i32>,
    /// Seconds the RayJob may be active, counted from its start, before the operator stops the job and marks it
    /// `Failed` with reason `DeadlineExceeded`. Must be positive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("minimum" = 1))]
    #[garde(custom(crate::validation::job::active_deadline))]
    pub active_deadline_seconds: Option<i32>,
    /// The cluster to create for this job. Required unless `clusterSelector` picks an existing cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[garde(
        custom(crate::validation::job::cluster_or_selector(&self.cluster_selector)),
        dive(crate::validation::ClusterOwner::RayJob)
    )]
    pub ray_cluster_spec: Option<RayClusterSpec>,
    /// Run on an existing RayCluster instead of creating one: the `ray.io/cluster` key names it. A selected
    /// cluster is never deleted by the RayJob.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[garde(custom(crate::validation::job::cluster_selector))]
    pub cluster_selector: BTreeMap<String, String>,
    /// How the job is submitted: `K8sJobMode` (a Kubernetes Job runs `ray job submit`, the default) or `HTTPMode`
    /// (the operator submits over the Ray dashboard's REST API).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = "K8sJobMode"))]
    #[garde(skip)]
    pub submission_mode: Option<JobSubmissionMode>,
    /// Suspend the job: while true no RayCluster exists for it. Setting it on a running job stops the Ray job and
    /// deletes the cluster; setting it back to false starts over with a new cluster.
    #[serde(default, skip_serializing_if = "is_false")]
    #[garde(
        custom(crate::validation::job::suspend_needs_shutdown(self.shutdown_after_job_finishes)),
        custom(crate::validation::job::suspend_without_selector(&self.cluster_selector))
    )]
    pub suspend: bool,
    /// The pod template of the submitter Job (`K8sJobMode`). When unset the operator uses the head's Ray image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[garde(skip)]
    pub submitter_pod_template: Option<PodTemplateSpec>,
    /// CPUs reserved for the entrypoint command.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("minimum" = 0))]
    #[garde(custom(crate::validation::job::entrypoint_amount("entrypointNumCpus")))]
    pub entrypoint_num_cpus: Option<f32>,
    /// GPUs reserved for the entrypoint command.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("minimum" = 0))]
    #[garde(custom(crate::validation::job::entrypoint_amount("entrypointNumGpus")))]
    pub entrypoint_num_gpus: Option<f32>,
    /// Custom Ray resources reserved for the entrypoint command, as a JSON object string such as `{"Custom_1": 1}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[garde(custom(crate::validation::job::entrypoint_resources))]
    pub entrypoint_resources: Option<String>,
    /// Settings of the submitter Kubernetes Job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[garde(dive)]
    pub submitter_config: Option<SubmitterConfig>,
    /// How many times a failed RayJob is retried, each time on a new RayCluster with a new Ray job id. Defaults to
    /// 0 (no retry). A RayJob that failed with `DeadlineExceeded` is never retried.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = 0))]
    #[schemars(extend("minimum" = 0))]
    #[garde(custom(crate::validation::job::job_backoff_limit))]
    pub backoff_limit: Option<i32>,
    /// Seconds the RayJob may take from its start to reach `Running` (the Ray job submitted, or its id given in
    /// `InteractiveMode`); past it the RayJob fails with `PreRunningDeadlineExceeded`. Must be positive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("minimum" = 1))]
    #[garde(custom(crate::validation::job::pre_running_deadline))]
    pub pre_running_deadline_seconds: Option<i32>,
    /// Which controller reconciles this RayJob: unset or `ray.io/kuberay-operator` (this operator), or
    /// `kueue.x-k8s.io/multikueue`, in which case the operator leaves the RayJob to Kueue. Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-validations" = crate::validation::managed_by::cel_rules()))]
    #[garde(skip)]
    pub managed_by: Option<String>,
    /// What to delete after the RayJob finished, and when: the legacy `onSuccess`/`onFailure` pair, or
    /// `deletionRules` (each a condition, a TTL and a policy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = crate::validation::crd_rules::deletion_strategy_schema)]
    #[garde(skip)]
    pub deletion_strategy: Option<DeletionStrategy>,
}

/// What to clean up after a RayJob reached `Complete` or `Failed`. Either both `onSuccess` and `onFailure`
/// (legacy), or `deletionRules`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeletionStrategy {
    /// What to delete once the job succeeded (legacy; prefer `deletionRules`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_success: Option<DeletionPolicy>,
    /// What to delete once the job failed (legacy; prefer `deletionRules`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_failure: Option<DeletionPolicy>,
    /// Deletion steps, each taken `ttlSeconds` after its condition was reached. When several are overdue at once
    /// (for example after the operator was down) the most far-reaching one is taken first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("minItems" = 1))]
    pub deletion_rules: Option<Vec<DeletionRule>>,
}

/// The legacy single-step deletion policy.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeletionPolicy {
    /// What to delete. Required when the legacy `onSuccess`/`onFailure` pair is used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<DeletionPolicyType>,
}

/// One deletion step: when its condition holds for `condition.ttlSeconds`, delete what `policy` names.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeletionRule {
    /// What to delete.
    pub policy: DeletionPolicyType,
    /// When to delete it.
    pub condition: DeletionCondition,
}

/// The trigger of a deletion rule: exactly one of `jobStatus` (the Ray job's outcome) or `jobDeploymentStatus`
/// (the RayJob's, useful when the job was never submitted), plus a delay.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = crate::validation::crd_rules::deletion_condition_schema)]
pub struct DeletionCondition {
    /// The Ray job status that triggers the rule: `SUCCEEDED` or `FAILED`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_status: Option<JobStatus>,
    /// The RayJob deployment status that triggers the rule: `Failed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_deployment_status: Option<JobDeploymentStatus>,
    /// Seconds from the RayJob's end to the deletion. Defaults to 0.
    #[serde(default, skip_serializing_if = "is_zero")]
    #[schemars(extend("default" = 0))]
    #[schemars(extend("minimum" = 0))]
    pub ttl_seconds: i32,
}

fn is_zero(value: &i32) -> bool {
    *value == 0
}

/// What a deletion step deletes.
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, JsonSchema,
)]
pub enum DeletionPolicyType {
    /// The worker pods: every worker group is scaled to zero; the head stays (logs, dashboard).
    DeleteWorkers,
    /// The RayCluster.
    DeleteCluster,
    /// The RayJob itself, and with it everything it owns.
    DeleteSelf,
    /// Nothing.
    DeleteNone,
}

/// How a RayJob is submitted to its cluster.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
pub enum JobSubmissionMode {
    /// A Kubernetes Job runs `ray job submit` against the cluster.
    #[default]
    K8sJobMode,
    /// The operator submits the job over the Ray dashboard's REST API.
    #[serde(rename = "HTTPMode")]
    HttpMode,
    /// The operator creates the cluster and waits: the user submits the job (`ray job submit`) and then sets
    /// `spec.jobId` to its submission id, which the operator follows from then on.
    InteractiveMode,
    /// A submitter container in the head pod runs `ray job submit` once the dashboard answers.
    SidecarMode,
}

/// SubmitterConfig configures the submitter Kubernetes Job.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema, garde::Validate)]
#[serde(rename_all = "camelCase")]
pub struct SubmitterConfig {
    /// The submitter Job's backoffLimit: how often a failed submitter pod is retried. Defaults to 2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("minimum" = 0))]
    #[garde(custom(crate::validation::job::backoff_limit))]
    pub backoff_limit: Option<i32>,
}

/// RayJobStatus is what the operator observed of the job.
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
    /// Why the RayJob failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<JobFailedReason>,
    /// A human-readable explanation of the current state, such as Ray's message or what the job is waiting for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// When the RayJob started (left `New`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<Time>,
    /// When the RayJob reached `Complete` or `Failed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_time: Option<Time>,
    /// A copy of the RayCluster's status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ray_cluster_status: Option<RayClusterStatus>,
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Start and end of the Ray job as Ray reports them.
    #[serde(
        rename = "rayJobInfo",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub ray_job_info: Option<RayJobStatusInfo>,
    /// How many attempts succeeded (0 or 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub succeeded: Option<i32>,
    /// How many attempts failed; with `backoffLimit`, at most `backoffLimit + 1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed: Option<i32>,
}

/// When the Ray job itself started and ended, as Ray recorded it.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RayJobStatusInfo {
    /// When Ray started the job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<Time>,
    /// When the job ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_time: Option<Time>,
}

/// The status of a Ray job, with Ray's own values.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
pub enum JobStatus {
    /// Not submitted yet.
    #[serde(rename = "")]
    New,
    /// Submitted, waiting to run.
    #[serde(rename = "PENDING")]
    Pending,
    /// Running.
    #[serde(rename = "RUNNING")]
    Running,
    /// Stopped by a user or the operator.
    #[serde(rename = "STOPPED")]
    Stopped,
    /// The entrypoint exited with status 0.
    #[serde(rename = "SUCCEEDED")]
    Succeeded,
    /// The entrypoint failed.
    #[serde(rename = "FAILED")]
    Failed,
}

impl JobStatus {
    /// Whether Ray will not change this status any more.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Stopped | Self::Succeeded | Self::Failed)
    }
}

/// Where a RayJob is in its lifecycle.
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
    /// The RayJob failed; `reason` and `message` say why.
    Failed,
    /// The RayJob is being suspended: the Ray job is stopped and the cluster deleted.
    Suspending,
    /// The RayJob is suspended and has no cluster.
    Suspended,
    /// The attempt failed and `backoffLimit` allows another: the cluster is deleted and the RayJob starts over.
    Retrying,
    /// `InteractiveMode`: the cluster is ready and the operator waits for `spec.jobId`.
    Waiting,
    /// KubeRay's status for an invalid spec. This operator reports `Failed` with reason `ValidationFailed`
    /// instead, and reads this value (written by KubeRay before a takeover) as finished.
    ValidationFailed,
}

impl JobDeploymentStatus {
    /// Whether the RayJob will not change this status any more (deletion rules may still run).
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Complete | Self::Failed | Self::ValidationFailed)
    }
}

/// Why a RayJob failed.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
pub enum JobFailedReason {
    /// The job could not be submitted (for example the submitter Job failed).
    SubmissionFailed,
    /// `activeDeadlineSeconds` passed before the job finished.
    DeadlineExceeded,
    /// The Ray job itself failed.
    AppFailed,
    /// The RayJob's spec is invalid; `message` names the field.
    ValidationFailed,
    /// The Ray dashboard could not be asked for the job's status for too long.
    JobStatusCheckTimeoutExceeded,
    /// `preRunningDeadlineSeconds` passed before the job reached `Running`.
    PreRunningDeadlineExceeded,
    /// KubeRay's reason for a submitter that finished without the job reaching a terminal status in time; read,
    /// never written by this operator.
    JobDeploymentStatusTransitionGracePeriodExceeded,
}
