//! The Serve API's responses.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::jobs::open_string_enum;

open_string_enum! {
    /// A Serve application's status.
    ApplicationStatus {
        /// Not deployed yet.
        NotStarted = "NOT_STARTED",
        /// Being deployed or updated.
        Deploying = "DEPLOYING",
        /// Deploying failed; the message says why.
        DeployFailed = "DEPLOY_FAILED",
        /// Running and healthy.
        Running = "RUNNING",
        /// Running but unhealthy.
        Unhealthy = "UNHEALTHY",
        /// Being deleted.
        Deleting = "DELETING",
    }
}

open_string_enum! {
    /// A Serve deployment's status.
    DeploymentStatus {
        /// Being updated.
        Updating = "UPDATING",
        /// Healthy.
        Healthy = "HEALTHY",
        /// Unhealthy.
        Unhealthy = "UNHEALTHY",
        /// Deploying failed.
        DeployFailed = "DEPLOY_FAILED",
        /// Adding replicas.
        Upscaling = "UPSCALING",
        /// Removing replicas.
        Downscaling = "DOWNSCALING",
    }
}

/// `GET /api/serve/applications/`: the Serve instance and its applications. When Serve is not running the
/// applications map is empty.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct ServeInstanceDetails {
    /// The applications by name.
    #[serde(default)]
    pub applications: BTreeMap<String, ApplicationDetails>,
    /// `MULTI_APP` on every Ray version this operator supports.
    #[serde(default)]
    pub deploy_mode: Option<String>,
    /// The target capacity in percent, when one is set.
    #[serde(default)]
    pub target_capacity: Option<f64>,
    /// The HTTP proxies by node id: where Serve accepts traffic, and whether each proxy is healthy.
    #[serde(default)]
    pub proxies: BTreeMap<String, ProxyDetails>,
}

/// One Serve HTTP proxy (one per node that takes traffic).
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct ProxyDetails {
    /// The IP address of the node the proxy runs on (the pod IP in Kubernetes).
    #[serde(default)]
    pub node_ip: Option<String>,
    /// `HEALTHY`, `STARTING`, `UNHEALTHY`, `DRAINING` or `DRAINED`, as Serve reports it.
    #[serde(default)]
    pub status: Option<String>,
}

impl ProxyDetails {
    /// Whether Serve reports the proxy `HEALTHY`, i.e. ready to take traffic.
    pub fn is_healthy(&self) -> bool {
        self.status.as_deref() == Some("HEALTHY")
    }
}

/// One Serve application.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct ApplicationDetails {
    /// The application's name (may be empty on old Ray versions, meaning `default`).
    #[serde(default)]
    pub name: String,
    /// The HTTP route prefix, if the application serves HTTP.
    #[serde(default)]
    pub route_prefix: Option<String>,
    /// The application's status.
    pub status: ApplicationStatus,
    /// Ray's message, for example the import error of a failed deployment.
    #[serde(default)]
    pub message: Option<String>,
    /// When the application was last deployed, in Unix seconds.
    #[serde(default)]
    pub last_deployed_time_s: Option<f64>,
    /// The application's deployments by name (empty while it is deploying).
    #[serde(default)]
    pub deployments: BTreeMap<String, DeploymentDetails>,
}

/// One Serve deployment.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
pub struct DeploymentDetails {
    /// The deployment's name.
    #[serde(default)]
    pub name: String,
    /// The deployment's status.
    pub status: DeploymentStatus,
    /// Ray's message about the deployment.
    #[serde(default)]
    pub message: Option<String>,
}

impl ServeInstanceDetails {
    /// Whether Serve is ready to take traffic: at least one application, and every application running.
    pub fn all_running(&self) -> bool {
        !self.applications.is_empty()
            && self
                .applications
                .values()
                .all(|app| app.status == ApplicationStatus::Running)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_running_application_and_ignores_unknown_fields() {
        let body = r#"{"controller_info": {}, "proxy_location": "HeadOnly", "deploy_mode": "MULTI_APP",
            "proxies": {"n1": {"node_id": "n1", "node_ip": "10.0.0.7", "actor_id": "a", "status": "HEALTHY"}},
            "applications": {"hello": {"name": "hello", "route_prefix": "/", "docs_path": null, "status": "RUNNING",
              "message": "", "last_deployed_time_s": 1795624300.5, "deployed_app_config": {}, "source": "declarative",
              "deployments": {"Hello": {"name": "Hello", "status": "HEALTHY", "status_trigger": "CONFIG_UPDATE_COMPLETED",
                "message": "", "replicas": []}}}},
            "target_capacity": null, "target_groups": []}"#;
        let details: ServeInstanceDetails = serde_json::from_str(body).expect("parses");
        assert!(details.all_running());
        assert!(details.proxies["n1"].is_healthy());
        assert_eq!(details.proxies["n1"].node_ip.as_deref(), Some("10.0.0.7"));
        assert_eq!(
            details.applications["hello"].deployments["Hello"].status,
            DeploymentStatus::Healthy
        );
    }

    #[test]
    fn an_empty_instance_is_not_ready() {
        let details: ServeInstanceDetails =
            serde_json::from_str(r#"{"controller_info": {}, "proxies": {}, "applications": {}, "target_capacity": null}"#)
                .expect("parses");
        assert!(!details.all_running());
    }

    #[test]
    fn one_failed_application_makes_the_instance_not_ready() {
        let body = r#"{"applications": {
            "a": {"name": "a", "status": "RUNNING"},
            "b": {"name": "b", "status": "DEPLOY_FAILED", "message": "ModuleNotFoundError: No module named 'x'"}}}"#;
        let details: ServeInstanceDetails = serde_json::from_str(body).expect("parses");
        assert!(!details.all_running());
        assert_eq!(
            details.applications["b"].status,
            ApplicationStatus::DeployFailed
        );
    }
}
