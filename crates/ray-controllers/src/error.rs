//! Errors of a reconcile. Each names the step and the object, so the log line alone says what to look at.

/// Why a reconcile did not finish.
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
    /// Creating or deleting an object failed (the Event and status carry the same message).
    #[error("{action} {what}: {source}")]
    Write {
        /// `creating`, `deleting`, ...
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
    /// A pod or Service could not be rendered from the spec (also reported as an Event and in the status).
    #[error("rendering RayCluster {what}: {message}")]
    Render {
        /// `namespace/name`.
        what: String,
        /// The renderer's message, naming the field.
        message: String,
    },
    /// A Ray dashboard request the reconcile depends on failed (submitting a job); retried with a back-off.
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
            Error::Read { .. } | Error::Write { .. } | Error::Status { .. } => "kube-api",
            Error::Render { .. } => "render",
            Error::Dashboard { .. } => "dashboard",
        }
    }
}

pub use operator_runtime::api_message;
