//! Why a RayCronJob reconcile did not finish.

use crate::error::ApiError;

/// Why a RayCronJob reconcile did not finish: an API request failed (creating the RayJob, writing the status).
/// Retried with the runner's back-off; the schedule time is not lost, since the status moves on only after the
/// RayJob exists.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An API request the reconcile could not go on without failed.
    #[error(transparent)]
    Api(#[from] ApiError),
}

impl operator_runtime::ReconcileError for Error {
    fn category(&self) -> &'static str {
        match self {
            Error::Api(_) => ApiError::CATEGORY,
        }
    }
}
