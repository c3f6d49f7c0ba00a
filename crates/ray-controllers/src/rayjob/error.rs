//! Why a RayJob reconcile did not finish. Each variant says what was being done, so the log line alone tells what
//! to look at; its [`category`](operator_runtime::ReconcileError::category) tells an alert "the API server refuses
//! us" from "a Ray head does not answer".

use crate::error::ApiError;
use ray_builders::job_cluster::JobClusterError;
use ray_builders::submitter::SubmitterError;
use ray_dashboard_client::Error as DashboardError;

use super::dashboard::SubmissionError;

/// Why a RayJob reconcile did not finish.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An API request the reconcile could not go on without failed.
    #[error(transparent)]
    Api(#[from] ApiError),
    /// The RayCluster for the RayJob could not be rendered from `spec.rayClusterSpec`.
    #[error("rendering the RayJob's RayCluster: {0}")]
    RenderCluster(#[from] JobClusterError),
    /// The submitter Job could not be rendered from the spec.
    #[error("rendering the RayJob's submitter Job: {0}")]
    RenderSubmitter(#[from] SubmitterError),
    /// The spec cannot be submitted over the dashboard (`HTTPMode`); the message names the field.
    #[error("submitting the RayJob over HTTP: {0}")]
    InvalidSubmission(#[from] SubmissionError),
    /// A Ray dashboard request the reconcile depends on failed (submitting the job); retried with a back-off.
    #[error("Ray dashboard at {url}: {source}")]
    Dashboard {
        /// The dashboard's address.
        url: String,
        /// The client's error, with Ray's message when it answered.
        #[source]
        source: DashboardError,
    },
}

impl operator_runtime::ReconcileError for Error {
    fn category(&self) -> &'static str {
        match self {
            Error::Api(_) => ApiError::CATEGORY,
            Error::RenderCluster(_) | Error::RenderSubmitter(_) => "render",
            Error::InvalidSubmission(_) => "invalid-spec",
            Error::Dashboard { .. } => "dashboard",
        }
    }
}

#[cfg(test)]
mod tests {
    use operator_runtime::ReconcileError;

    use super::*;

    #[test]
    fn categories_tell_the_api_server_from_the_dashboard_and_the_spec() {
        let api: Error = ApiError::of("creating", "RayCluster team/sample")(
            kube::Error::LinesCodecMaxLineLengthExceeded,
        )
        .into();
        assert_eq!(api.category(), "kube-api");
        assert_eq!(
            Error::from(SubmissionError::MissingEntrypoint).category(),
            "invalid-spec"
        );
        assert_eq!(
            Error::from(SubmitterError::MissingEntrypoint).category(),
            "render"
        );
        let dashboard = Error::Dashboard {
            url: "http://head:8265".into(),
            source: DashboardError::InvalidUrl {
                url: "x".into(),
                reason: "no scheme".into(),
            },
        };
        assert_eq!(dashboard.category(), "dashboard");
    }
}
