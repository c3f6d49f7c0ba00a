//! Field-by-field conversion of RayCluster and its parts.
//!
//! From v1alpha1 to v1 nothing is lost except the state `unhealthy`, which v1 has no value for. From v1 to
//! v1alpha1 every v1-only field is dropped here; [`super`] carries those fields in an annotation when whole objects
//! are converted. Fields are matched with `..` on the v1 side on purpose: any field v1 gains later is v1-only and is
//! preserved by the annotation without changes here.

// Struct updates with `..Default::default()` look redundant today but make any field v1 gains later start
// unset (it is then restored from the preserved-fields annotation) instead of breaking the build.
#![allow(clippy::needless_update)]

use ray_api_v1 as v1;

use crate::raycluster::{
    AutoscalerOptions, ClusterState, HeadGroupSpec, HeadInfo, RayClusterSpec, RayClusterStatus,
    ScaleStrategy, WorkerGroupSpec,
};

/// Exact: v1 has every v1alpha1 spec field.
impl From<RayClusterSpec> for v1::RayClusterSpec {
    fn from(spec: RayClusterSpec) -> Self {
        let RayClusterSpec {
            head_group_spec,
            worker_group_specs,
            ray_version,
            enable_in_tree_autoscaling,
            autoscaler_options,
            head_service_annotations,
            suspend,
        } = spec;
        Self {
            head_group_spec: head_group_spec.into(),
            worker_group_specs: worker_group_specs.into_iter().map(Into::into).collect(),
            ray_version,
            enable_in_tree_autoscaling,
            autoscaler_options: autoscaler_options.map(Into::into),
            head_service_annotations,
            suspend,
            ..Default::default()
        }
    }
}

/// Lossy on its own: drops v1-only fields such as `numOfHosts`. Convert the whole [`v1::RayCluster`] to keep them.
impl From<v1::RayClusterSpec> for RayClusterSpec {
    fn from(spec: v1::RayClusterSpec) -> Self {
        let v1::RayClusterSpec {
            head_group_spec,
            worker_group_specs,
            ray_version,
            enable_in_tree_autoscaling,
            autoscaler_options,
            head_service_annotations,
            suspend,
            ..
        } = spec;
        Self {
            head_group_spec: head_group_spec.into(),
            worker_group_specs: worker_group_specs.into_iter().map(Into::into).collect(),
            ray_version,
            enable_in_tree_autoscaling,
            autoscaler_options: autoscaler_options.map(Into::into),
            head_service_annotations,
            suspend,
        }
    }
}

/// Exact.
impl From<HeadGroupSpec> for v1::HeadGroupSpec {
    fn from(head: HeadGroupSpec) -> Self {
        let HeadGroupSpec {
            service_type,
            head_service,
            enable_ingress,
            ray_start_params,
            template,
        } = head;
        Self {
            service_type,
            head_service,
            enable_ingress,
            ray_start_params,
            template,
            ..Default::default()
        }
    }
}

/// Drops v1-only head fields, if any.
impl From<v1::HeadGroupSpec> for HeadGroupSpec {
    fn from(head: v1::HeadGroupSpec) -> Self {
        let v1::HeadGroupSpec {
            service_type,
            head_service,
            enable_ingress,
            ray_start_params,
            template,
            ..
        } = head;
        Self {
            service_type,
            head_service,
            enable_ingress,
            ray_start_params,
            template,
        }
    }
}

/// Exact; `numOfHosts` stays unset (v1 reads that as 1 host per replica, which is what v1alpha1 means).
impl From<WorkerGroupSpec> for v1::WorkerGroupSpec {
    fn from(group: WorkerGroupSpec) -> Self {
        let WorkerGroupSpec {
            group_name,
            replicas,
            min_replicas,
            max_replicas,
            ray_start_params,
            template,
            scale_strategy,
        } = group;
        Self {
            group_name,
            replicas,
            min_replicas,
            max_replicas,
            ray_start_params,
            template,
            scale_strategy: scale_strategy.map(Into::into),
            ..Default::default()
        }
    }
}

/// Lossy on its own: drops `numOfHosts`.
impl From<v1::WorkerGroupSpec> for WorkerGroupSpec {
    fn from(group: v1::WorkerGroupSpec) -> Self {
        let v1::WorkerGroupSpec {
            group_name,
            replicas,
            min_replicas,
            max_replicas,
            ray_start_params,
            template,
            scale_strategy,
            ..
        } = group;
        Self {
            group_name,
            replicas,
            min_replicas,
            max_replicas,
            ray_start_params,
            template,
            scale_strategy: scale_strategy.map(Into::into),
        }
    }
}

/// Exact.
impl From<ScaleStrategy> for v1::ScaleStrategy {
    fn from(strategy: ScaleStrategy) -> Self {
        let ScaleStrategy { workers_to_delete } = strategy;
        Self {
            workers_to_delete,
            ..Default::default()
        }
    }
}

/// Exact for every field v1alpha1 has.
impl From<v1::ScaleStrategy> for ScaleStrategy {
    fn from(strategy: v1::ScaleStrategy) -> Self {
        let v1::ScaleStrategy {
            workers_to_delete, ..
        } = strategy;
        Self { workers_to_delete }
    }
}

/// Exact.
impl From<AutoscalerOptions> for v1::AutoscalerOptions {
    fn from(options: AutoscalerOptions) -> Self {
        let AutoscalerOptions {
            resources,
            image,
            image_pull_policy,
            env,
            env_from,
            volume_mounts,
            security_context,
            idle_timeout_seconds,
            upscaling_mode,
        } = options;
        Self {
            resources,
            image,
            image_pull_policy,
            env,
            env_from,
            volume_mounts,
            security_context,
            idle_timeout_seconds,
            upscaling_mode,
            ..Default::default()
        }
    }
}

/// Drops v1-only autoscaler options, if any.
impl From<v1::AutoscalerOptions> for AutoscalerOptions {
    fn from(options: v1::AutoscalerOptions) -> Self {
        let v1::AutoscalerOptions {
            resources,
            image,
            image_pull_policy,
            env,
            env_from,
            volume_mounts,
            security_context,
            idle_timeout_seconds,
            upscaling_mode,
            ..
        } = options;
        Self {
            resources,
            image,
            image_pull_policy,
            env,
            env_from,
            volume_mounts,
            security_context,
            idle_timeout_seconds,
            upscaling_mode,
        }
    }
}

/// Lossy on its own: the state `unhealthy` has no v1 value and becomes no state.
impl From<RayClusterStatus> for v1::RayClusterStatus {
    fn from(status: RayClusterStatus) -> Self {
        let RayClusterStatus {
            state,
            reason,
            available_worker_replicas,
            desired_worker_replicas,
            min_worker_replicas,
            max_worker_replicas,
            desired_cpu,
            desired_memory,
            desired_gpu,
            desired_tpu,
            last_update_time,
            endpoints,
            head,
            observed_generation,
        } = status;
        Self {
            state: state.and_then(cluster_state_to_v1),
            reason,
            available_worker_replicas,
            desired_worker_replicas,
            min_worker_replicas,
            max_worker_replicas,
            desired_cpu,
            desired_memory,
            desired_gpu,
            desired_tpu,
            last_update_time,
            endpoints,
            head: head.map(Into::into),
            observed_generation,
            ..Default::default()
        }
    }
}

/// Lossy on its own: drops `conditions`, `readyWorkerReplicas` and the head's pod and Service names.
impl From<v1::RayClusterStatus> for RayClusterStatus {
    fn from(status: v1::RayClusterStatus) -> Self {
        let v1::RayClusterStatus {
            state,
            reason,
            available_worker_replicas,
            desired_worker_replicas,
            min_worker_replicas,
            max_worker_replicas,
            desired_cpu,
            desired_memory,
            desired_gpu,
            desired_tpu,
            last_update_time,
            endpoints,
            head,
            observed_generation,
            ..
        } = status;
        Self {
            state: state.map(Into::into),
            reason,
            available_worker_replicas,
            desired_worker_replicas,
            min_worker_replicas,
            max_worker_replicas,
            desired_cpu,
            desired_memory,
            desired_gpu,
            desired_tpu,
            last_update_time,
            endpoints,
            head: head.map(Into::into),
            observed_generation,
        }
    }
}

/// Exact.
impl From<HeadInfo> for v1::HeadInfo {
    fn from(head: HeadInfo) -> Self {
        let HeadInfo { pod_ip, service_ip } = head;
        Self {
            pod_ip,
            service_ip,
            ..Default::default()
        }
    }
}

/// Lossy on its own: drops the head's pod and Service names.
impl From<v1::HeadInfo> for HeadInfo {
    fn from(head: v1::HeadInfo) -> Self {
        let v1::HeadInfo {
            pod_ip, service_ip, ..
        } = head;
        Self { pod_ip, service_ip }
    }
}

/// Every v1 state exists in v1alpha1.
impl From<v1::ClusterState> for ClusterState {
    fn from(state: v1::ClusterState) -> Self {
        match state {
            v1::ClusterState::Ready => Self::Ready,
            v1::ClusterState::Failed => Self::Failed,
            v1::ClusterState::Suspended => Self::Suspended,
        }
    }
}

/// The v1 equivalent of a v1alpha1 state; `unhealthy` has none.
pub(crate) fn cluster_state_to_v1(state: ClusterState) -> Option<v1::ClusterState> {
    match state {
        ClusterState::Ready => Some(v1::ClusterState::Ready),
        ClusterState::Unhealthy => None,
        ClusterState::Failed => Some(v1::ClusterState::Failed),
        ClusterState::Suspended => Some(v1::ClusterState::Suspended),
    }
}
