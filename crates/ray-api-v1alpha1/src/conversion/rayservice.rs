//! Field-by-field conversion of RayService and its parts.
//!
//! The specs hold the same fields. The statuses differ: v1alpha1 application and deployment statuses carry
//! `healthLastUpdateTime`, which v1 dropped, and the embedded RayCluster statuses differ as described in
//! [`super::raycluster`]. [`super`] carries whatever one side cannot hold in an annotation when whole objects are
//! converted.

// Struct updates with `..Default::default()` look redundant today but make any field v1 gains later start
// unset (it is then restored from the preserved-fields annotation) instead of breaking the build.
#![allow(clippy::needless_update)]

use ray_api_v1 as v1;

use crate::rayservice::{
    AppStatus, RayServiceSpec, RayServiceStatus, RayServiceStatuses, ServeDeploymentStatus,
};

/// Exact.
impl From<RayServiceSpec> for v1::RayServiceSpec {
    fn from(spec: RayServiceSpec) -> Self {
        let RayServiceSpec {
            serve_config_v2,
            ray_cluster_config,
            service_unhealthy_second_threshold,
            deployment_unhealthy_second_threshold,
            serve_service,
        } = spec;
        Self {
            serve_config_v2,
            ray_cluster_config: ray_cluster_config.into(),
            service_unhealthy_second_threshold,
            deployment_unhealthy_second_threshold,
            serve_service,
            ..Default::default()
        }
    }
}

/// Lossy on its own: drops the v1-only parts of the cluster config (such as `numOfHosts`).
impl From<v1::RayServiceSpec> for RayServiceSpec {
    fn from(spec: v1::RayServiceSpec) -> Self {
        let v1::RayServiceSpec {
            serve_config_v2,
            ray_cluster_config,
            service_unhealthy_second_threshold,
            deployment_unhealthy_second_threshold,
            serve_service,
            ..
        } = spec;
        Self {
            serve_config_v2,
            ray_cluster_config: ray_cluster_config.into(),
            service_unhealthy_second_threshold,
            deployment_unhealthy_second_threshold,
            serve_service,
        }
    }
}

/// Lossy on its own: drops `healthLastUpdateTime` and the state `unhealthy` of the embedded cluster statuses.
impl From<RayServiceStatuses> for v1::RayServiceStatuses {
    fn from(statuses: RayServiceStatuses) -> Self {
        let RayServiceStatuses {
            active_service_status,
            pending_service_status,
            service_status,
            num_serve_endpoints,
            last_update_time,
            observed_generation,
        } = statuses;
        Self {
            active_service_status: active_service_status.map(Into::into),
            pending_service_status: pending_service_status.map(Into::into),
            service_status,
            num_serve_endpoints,
            last_update_time,
            observed_generation,
            ..Default::default()
        }
    }
}

/// Lossy on its own: drops the v1-only parts of the embedded cluster statuses.
impl From<v1::RayServiceStatuses> for RayServiceStatuses {
    fn from(statuses: v1::RayServiceStatuses) -> Self {
        let v1::RayServiceStatuses {
            active_service_status,
            pending_service_status,
            service_status,
            num_serve_endpoints,
            last_update_time,
            observed_generation,
            ..
        } = statuses;
        Self {
            active_service_status: active_service_status.map(Into::into),
            pending_service_status: pending_service_status.map(Into::into),
            service_status,
            num_serve_endpoints,
            last_update_time,
            observed_generation,
        }
    }
}

/// Lossy on its own, as [`RayServiceStatuses`].
impl From<RayServiceStatus> for v1::RayServiceStatus {
    fn from(status: RayServiceStatus) -> Self {
        let RayServiceStatus {
            application_statuses,
            ray_cluster_name,
            ray_cluster_status,
        } = status;
        Self {
            application_statuses: application_statuses
                .into_iter()
                .map(|(name, app)| (name, app.into()))
                .collect(),
            ray_cluster_name,
            ray_cluster_status: ray_cluster_status.map(Into::into),
            ..Default::default()
        }
    }
}

/// Lossy on its own, as [`RayServiceStatuses`].
impl From<v1::RayServiceStatus> for RayServiceStatus {
    fn from(status: v1::RayServiceStatus) -> Self {
        let v1::RayServiceStatus {
            application_statuses,
            ray_cluster_name,
            ray_cluster_status,
            ..
        } = status;
        Self {
            application_statuses: application_statuses
                .into_iter()
                .map(|(name, app)| (name, app.into()))
                .collect(),
            ray_cluster_name,
            ray_cluster_status: ray_cluster_status.map(Into::into),
        }
    }
}

/// Lossy on its own: drops `healthLastUpdateTime`.
impl From<AppStatus> for v1::AppStatus {
    fn from(app: AppStatus) -> Self {
        let AppStatus {
            status,
            message,
            health_last_update_time: _,
            serve_deployment_statuses,
        } = app;
        Self {
            status,
            message,
            serve_deployment_statuses: serve_deployment_statuses
                .into_iter()
                .map(|(name, deployment)| (name, deployment.into()))
                .collect(),
            ..Default::default()
        }
    }
}

/// Exact for every field v1alpha1 has; `healthLastUpdateTime` stays unset.
impl From<v1::AppStatus> for AppStatus {
    fn from(app: v1::AppStatus) -> Self {
        let v1::AppStatus {
            status,
            message,
            serve_deployment_statuses,
            ..
        } = app;
        Self {
            status,
            message,
            health_last_update_time: None,
            serve_deployment_statuses: serve_deployment_statuses
                .into_iter()
                .map(|(name, deployment)| (name, deployment.into()))
                .collect(),
        }
    }
}

/// Lossy on its own: drops `healthLastUpdateTime`.
impl From<ServeDeploymentStatus> for v1::ServeDeploymentStatus {
    fn from(deployment: ServeDeploymentStatus) -> Self {
        let ServeDeploymentStatus {
            status,
            message,
            health_last_update_time: _,
        } = deployment;
        Self {
            status,
            message,
            ..Default::default()
        }
    }
}

/// Exact for every field v1alpha1 has; `healthLastUpdateTime` stays unset.
impl From<v1::ServeDeploymentStatus> for ServeDeploymentStatus {
    fn from(deployment: v1::ServeDeploymentStatus) -> Self {
        let v1::ServeDeploymentStatus {
            status, message, ..
        } = deployment;
        Self {
            status,
            message,
            health_last_update_time: None,
        }
    }
}
