//! Why a RayCluster reconcile did not finish. Each error names what was being done to which object, so the log
//! line alone says what to look at; its [`category`](ReconcileError::category) labels the reconcile metric.
//!
//! A spec that does not validate or render is not an error: the reconcile reports it (Event and status) and
//! waits for the user. Failures the user or the cluster must fix (quota, admission) are not errors either: they
//! are reported the same way and retried after [`super::FAILURE_REQUEUE`].

use operator_runtime::ReconcileError;

use crate::error::ApiError;
use ray_builders::RenderError;

/// Why a RayCluster reconcile did not finish.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An API request the reconcile could not go on without failed.
    #[error(transparent)]
    Api(#[from] ApiError),
    /// An object could not be rendered: the GCS cleanup Job of a deleted cluster, or a pod stamped from a
    /// template that rendered.
    #[error("rendering: {0}")]
    Render(#[from] RenderError),
    /// A Ray auth token could not be generated.
    #[error("generating the Ray auth token: {0}")]
    Token(String),
}

impl ReconcileError for Error {
    fn category(&self) -> &'static str {
        match self {
            Error::Api(_) => ApiError::CATEGORY,
            Error::Render(_) => "render",
            Error::Token(_) => "token",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn categories_are_stable() {
        let api = || kube::Error::LinesCodecMaxLineLengthExceeded;
        let cases = [
            (
                ApiError::of("reading", "Role ns/c")(api()).into(),
                "kube-api",
            ),
            (
                Error::Render(RenderError::Pod(ray_builders::pod::PodError::NoSuchGroup {
                    index: 3,
                })),
                "render",
            ),
        ];
        for (error, category) in cases {
            assert_eq!(error.category(), category, "{error}");
        }
    }
}
