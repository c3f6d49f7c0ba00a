//! Why a RayCluster reconcile did not finish. Each error names what was being done to which object, so the log
//! line alone says what to look at; its [`category`](ReconcileError::category) labels the reconcile metric.
//!
//! A spec that does not validate or render is not an error: the reconcile reports it (Event and status) and
//! waits for the user. Failures the user or the cluster must fix (quota, admission) are not errors either: they
//! are reported the same way and retried after [`super::FAILURE_REQUEUE`].

use operator_runtime::ReconcileError;
use ray_builders::RenderError;

/// Why a RayCluster reconcile did not finish.
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
    /// Writing an object failed in a way the reconcile cannot go on from.
    #[error("{action} {what}: {source}")]
    Write {
        /// `deleting`, `updating the finalizers of`, ...
        action: &'static str,
        /// The object, as `Kind namespace/name`.
        what: String,
        /// The client's error.
        #[source]
        source: kube::Error,
    },
    /// Writing the status failed.
    #[error("writing the status of RayCluster {what}: {source}")]
    Status {
        /// `namespace/name`.
        what: String,
        /// The client's error.
        #[source]
        source: kube::Error,
    },
    /// An object could not be rendered: the GCS cleanup Job of a deleted cluster, or a pod stamped from a
    /// template that rendered.
    #[error("rendering: {0}")]
    Render(#[from] RenderError),
}

impl ReconcileError for Error {
    fn category(&self) -> &'static str {
        match self {
            Error::Read { .. } | Error::Write { .. } | Error::Status { .. } => "kube-api",
            Error::Render(_) => "render",
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
                Error::Read {
                    what: "Role ns/c".into(),
                    source: api(),
                },
                "kube-api",
            ),
            (
                Error::Status {
                    what: "ns/c".into(),
                    source: api(),
                },
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
