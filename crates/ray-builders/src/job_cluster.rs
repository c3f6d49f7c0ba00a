//! The RayCluster a RayJob creates from its `rayClusterSpec`, and the RayJob's own head Service.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use ray_api_v1::{JobSubmissionMode, RayCluster, RayJob};

use crate::context::owner_reference;
use crate::labels;
use crate::names::{self, NameError};

/// The value of `ray.io/job-submission-mode` for a mode.
pub fn submission_mode_value(mode: JobSubmissionMode) -> &'static str {
    match mode {
        JobSubmissionMode::K8sJobMode => "K8sJobMode",
        JobSubmissionMode::HttpMode => "HTTPMode",
    }
}

/// A RayJob whose cluster cannot be rendered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JobClusterError {
    /// The RayJob has no name.
    #[error("metadata.name: the RayJob has no name")]
    MissingName,
    /// The generated cluster name does not fit.
    #[error(transparent)]
    Name(#[from] NameError),
}

/// The RayCluster for a RayJob, named `cluster_name` (the operator picks `<rayjob>-<5 random>` and records it in
/// `status.rayClusterName` first). `None` when the job runs on an existing cluster (`clusterSelector`).
///
/// Labels are the RayJob's plus `ray.io/originated-from-cr-name`, `ray.io/originated-from-crd: RayJob` and
/// `ray.io/job-submission-mode`; annotations are the RayJob's; the spec is a copy of `rayClusterSpec`.
pub fn ray_cluster_for_job(
    job: &RayJob,
    cluster_name: &str,
) -> Result<Option<RayCluster>, JobClusterError> {
    let job_name = job
        .metadata
        .name
        .clone()
        .filter(|n| !n.is_empty())
        .ok_or(JobClusterError::MissingName)?;
    let Some(spec) = job.spec.ray_cluster_spec.clone() else {
        return Ok(None);
    };
    names::check_generated_cluster_name(cluster_name, "metadata.name")?;
    let mut cluster_labels: BTreeMap<String, String> =
        job.metadata.labels.clone().unwrap_or_default();
    cluster_labels.insert(
        labels::ORIGINATED_FROM_CR_NAME.to_string(),
        job_name.clone(),
    );
    cluster_labels.insert(
        labels::ORIGINATED_FROM_CRD.to_string(),
        labels::CRD_RAY_JOB.to_string(),
    );
    cluster_labels.insert(
        labels::JOB_SUBMISSION_MODE.to_string(),
        submission_mode_value(job.spec.submission_mode.unwrap_or_default()).to_string(),
    );
    let mut cluster = RayCluster::new(cluster_name, spec);
    cluster.metadata = ObjectMeta {
        name: Some(cluster_name.to_string()),
        namespace: job.metadata.namespace.clone(),
        labels: Some(cluster_labels),
        annotations: job.metadata.annotations.clone(),
        owner_references: owner_reference("RayJob", &job_name, job.metadata.uid.as_deref())
            .map(|o| vec![o]),
        ..ObjectMeta::default()
    };
    Ok(Some(cluster))
}
