//! Field-by-field conversion of RayJob and its parts.
//!
//! From v1alpha1 to v1 nothing is lost. From v1 to v1alpha1 the v1-only fields (`activeDeadlineSeconds`,
//! `submissionMode`, `submitterConfig`, status `reason`, ...) are dropped here and an unset `entrypoint` becomes
//! the empty string (v1alpha1 requires the field); [`super`] carries all of that in an annotation when whole objects
//! are converted.

// Struct updates with `..Default::default()` look redundant today but make any field v1 gains later start
// unset (it is then restored from the preserved-fields annotation) instead of breaking the build.
#![allow(clippy::needless_update)]

use ray_api_v1 as v1;

use crate::rayjob::{JobDeploymentStatus, RayJobSpec, RayJobStatus};

/// Exact: v1 has every v1alpha1 spec field.
impl From<RayJobSpec> for v1::RayJobSpec {
    fn from(spec: RayJobSpec) -> Self {
        let RayJobSpec {
            entrypoint,
            metadata,
            runtime_env_yaml,
            job_id,
            shutdown_after_job_finishes,
            ttl_seconds_after_finished,
            ray_cluster_spec,
            cluster_selector,
            suspend,
            submitter_pod_template,
            entrypoint_num_cpus,
            entrypoint_num_gpus,
            entrypoint_resources,
        } = spec;
        Self {
            entrypoint: Some(entrypoint),
            metadata,
            runtime_env_yaml,
            job_id,
            shutdown_after_job_finishes,
            ttl_seconds_after_finished,
            ray_cluster_spec: ray_cluster_spec.map(Into::into),
            cluster_selector,
            suspend,
            submitter_pod_template,
            entrypoint_num_cpus,
            entrypoint_num_gpus,
            entrypoint_resources,
            ..Default::default()
        }
    }
}

/// Lossy on its own: drops v1-only fields, and an unset `entrypoint` becomes `""`.
impl From<v1::RayJobSpec> for RayJobSpec {
    fn from(spec: v1::RayJobSpec) -> Self {
        let v1::RayJobSpec {
            entrypoint,
            metadata,
            runtime_env_yaml,
            job_id,
            shutdown_after_job_finishes,
            ttl_seconds_after_finished,
            ray_cluster_spec,
            cluster_selector,
            suspend,
            submitter_pod_template,
            entrypoint_num_cpus,
            entrypoint_num_gpus,
            entrypoint_resources,
            ..
        } = spec;
        Self {
            entrypoint: entrypoint.unwrap_or_default(),
            metadata,
            runtime_env_yaml,
            job_id,
            shutdown_after_job_finishes,
            ttl_seconds_after_finished,
            ray_cluster_spec: ray_cluster_spec.map(Into::into),
            cluster_selector,
            suspend,
            submitter_pod_template,
            entrypoint_num_cpus,
            entrypoint_num_gpus,
            entrypoint_resources,
        }
    }
}

/// Lossy only where the embedded RayCluster status is (the state `unhealthy`).
impl From<RayJobStatus> for v1::RayJobStatus {
    fn from(status: RayJobStatus) -> Self {
        let RayJobStatus {
            job_id,
            ray_cluster_name,
            dashboard_url,
            job_status,
            job_deployment_status,
            message,
            start_time,
            end_time,
            ray_cluster_status,
            observed_generation,
        } = status;
        Self {
            job_id,
            ray_cluster_name,
            dashboard_url,
            job_status,
            job_deployment_status: job_deployment_status.map(Into::into),
            message,
            start_time,
            end_time,
            ray_cluster_status: ray_cluster_status.map(Into::into),
            observed_generation,
            ..Default::default()
        }
    }
}

/// Lossy on its own: drops `reason` and the v1-only parts of the embedded RayCluster status.
impl From<v1::RayJobStatus> for RayJobStatus {
    fn from(status: v1::RayJobStatus) -> Self {
        let v1::RayJobStatus {
            job_id,
            ray_cluster_name,
            dashboard_url,
            job_status,
            job_deployment_status,
            message,
            start_time,
            end_time,
            ray_cluster_status,
            observed_generation,
            ..
        } = status;
        Self {
            job_id,
            ray_cluster_name,
            dashboard_url,
            job_status,
            job_deployment_status: job_deployment_status.map(Into::into),
            message,
            start_time,
            end_time,
            ray_cluster_status: ray_cluster_status.map(Into::into),
            observed_generation,
        }
    }
}

/// Exact.
impl From<JobDeploymentStatus> for v1::JobDeploymentStatus {
    fn from(status: JobDeploymentStatus) -> Self {
        match status {
            JobDeploymentStatus::New => Self::New,
            JobDeploymentStatus::Initializing => Self::Initializing,
            JobDeploymentStatus::Running => Self::Running,
            JobDeploymentStatus::Complete => Self::Complete,
            JobDeploymentStatus::Failed => Self::Failed,
            JobDeploymentStatus::Suspending => Self::Suspending,
            JobDeploymentStatus::Suspended => Self::Suspended,
        }
    }
}

/// Every v1 value has a v1alpha1 value. A value v1 gains later must be mapped here to the nearest v1alpha1 value;
/// the exact value then travels in the preserved-fields annotation.
impl From<v1::JobDeploymentStatus> for JobDeploymentStatus {
    fn from(status: v1::JobDeploymentStatus) -> Self {
        match status {
            v1::JobDeploymentStatus::New => Self::New,
            v1::JobDeploymentStatus::Initializing => Self::Initializing,
            v1::JobDeploymentStatus::Running => Self::Running,
            v1::JobDeploymentStatus::Complete => Self::Complete,
            v1::JobDeploymentStatus::Failed => Self::Failed,
            v1::JobDeploymentStatus::Suspending => Self::Suspending,
            v1::JobDeploymentStatus::Suspended => Self::Suspended,
            // A retry starts over from a new cluster; an interactive job waiting for its id has its cluster.
            v1::JobDeploymentStatus::Retrying => Self::Initializing,
            v1::JobDeploymentStatus::Waiting => Self::Running,
            v1::JobDeploymentStatus::ValidationFailed => Self::Failed,
        }
    }
}
