//! Why a RayJob reconcile did not finish. Each variant says what was being done, so the log line alone tells what
//! to look at; its [`category`](operator_runtime::ReconcileError::category) tells an alert "the API server refuses
//! us" from "a Ray head does not answer".

use ray_builders::job_cluster::JobClusterError;
use ray_builders::submitter::SubmitterError;
use ray_dashboard_client::Error as DashboardError;

use super::dashboard::SubmissionError;

/// Why a RayJob reconcile did not finish.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading an object from the API server failed.
    #[error("reading {what}: {source}")]
    Read {
        /// The object, as `Kind namespace/name`.
        what: String,
        /// The client's error.
        #[source]
        source: kube::Error,
    },
    /// Creating, patching or deleting an object failed.
    #[error("{action} {what}: {source}")]
    Write {
        /// `creating`, `deleting`, `writing the status of`, ...
        action: &'static str,
        /// The object, as `Kind namespace/name`.
        what: String,
        /// The client's error.
        #[source]
        source: kube::Error,
    },
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
            Error::Read { .. } | Error::Write { .. } => "kube-api",
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
        let api = kube::Error::Api(Box::new(
            serde_json::from_value(serde_json::json!({
                "status": "Failure", "code": 403, "reason": "Forbidden", "message": "no",
            }))
            .unwrap_or_else(|e| panic!("{e}")),
        ));
        let write = Error::Write {
            action: "creating",
            what: "RayCluster team/sample".into(),
            source: api,
        };
        assert_eq!(write.category(), "kube-api");
        assert!(
            write
                .to_string()
                .starts_with("creating RayCluster team/sample: "),
            "{write}"
        );
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
