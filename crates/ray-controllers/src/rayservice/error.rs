//! Why a RayService reconcile did not finish, and why a spec cannot be used. Each reconcile error says what was
//! being done to which object, so the log line alone tells what to look at; its
//! [`category`](operator_runtime::ReconcileError::category) tells an alert "the API server refuses us" from "a Ray
//! head does not answer".

use crate::error::ApiError;
use ray_builders::context::ContextError;
use ray_builders::service_cluster::ServiceClusterError;
use ray_builders::spec_hash::HashError;

/// Why a RayService reconcile did not finish.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An API request the reconcile could not go on without failed.
    #[error(transparent)]
    Api(#[from] ApiError),
    /// A RayCluster or Service could not be rendered from the RayService's spec.
    #[error("rendering the objects of RayService {service}: {source}")]
    Render {
        /// The RayService, as `namespace/name`.
        service: String,
        /// What the builders refused, naming the field.
        #[source]
        source: RenderError,
    },
    /// Ray did not take the Serve config (it rejected it, or its dashboard could not be reached); retried with a
    /// back-off.
    #[error("Ray dashboard at {url}: {message}")]
    Dashboard {
        /// The dashboard's address.
        url: String,
        /// What went wrong, with Ray's message when it answered.
        message: String,
    },
}

impl operator_runtime::ReconcileError for Error {
    fn category(&self) -> &'static str {
        match self {
            Error::Api(_) => ApiError::CATEGORY,
            Error::Render { .. } => "render",
            Error::Dashboard { .. } => "dashboard",
        }
    }
}

/// What the builders could not render for a RayService.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// The RayCluster, the serve Service or the RayService's head Service.
    #[error(transparent)]
    Objects(#[from] ServiceClusterError),
    /// The cluster as a whole (its name, a port parameter).
    #[error(transparent)]
    Cluster(#[from] ContextError),
}

/// Why a cluster's dashboard cannot be addressed.
#[derive(Debug, thiserror::Error)]
pub enum DashboardAddressError {
    /// The head Service's address cannot be derived from the cluster (a bad dashboard port parameter).
    #[error(transparent)]
    Address(#[from] ContextError),
    /// The address is not a URL the client accepts.
    #[error(transparent)]
    Client(#[from] ray_dashboard_client::Error),
}

/// Why `spec.serveConfigV2` cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ServeConfigError {
    /// The text is not YAML, or too large or deep to be read safely.
    #[error("spec.serveConfigV2: not valid YAML: {0}")]
    Yaml(#[from] ray_api_v1::parse::ParseError),
    /// The YAML is not a mapping.
    #[error("spec.serveConfigV2: must be a YAML mapping with an `applications` list")]
    NotAMapping,
}

/// Why a RayService's spec is invalid; the decision changes nothing while it is.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// The webhook's validation rules; one `path: message` line per problem.
    #[error(transparent)]
    Validation(#[from] ray_api_v1::validation::ValidationErrors),
    /// The Serve config.
    #[error(transparent)]
    ServeConfig(#[from] ServeConfigError),
    /// `rayClusterConfig` cannot be hashed (its pods cannot be rendered), so changes cannot be told apart.
    #[error("rayClusterConfig cannot be hashed")]
    Hash(#[source] HashError),
}

#[cfg(test)]
mod tests {
    use operator_runtime::ReconcileError;

    use super::*;

    #[test]
    fn categories_tell_the_api_server_from_the_dashboard_and_the_spec() {
        let api: Error = ApiError::of("creating", "RayCluster team/svc-abcde")(
            kube::Error::LinesCodecMaxLineLengthExceeded,
        )
        .into();
        assert_eq!(api.category(), "kube-api");
        let render = Error::Render {
            service: "team/svc".into(),
            source: ContextError::MissingName.into(),
        };
        assert_eq!(render.category(), "render");
        assert!(render.to_string().contains("metadata.name"), "{render}");
        let dashboard = Error::Dashboard {
            url: "http://head:8265".into(),
            message: "Ray answered 400: bad".into(),
        };
        assert_eq!(dashboard.category(), "dashboard");
    }
}
