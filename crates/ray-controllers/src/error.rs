//! The error every controller shares: an API request the reconcile could not go on without. Each controller's own
//! error enum (`raycluster::Error`, `rayjob::Error`, `rayservice::Error`) wraps it next to its domain errors.

/// An API request failed: what was being done to which object, and the client's error. Category `kube-api`.
#[derive(Debug, thiserror::Error)]
#[error("{action} {what}: {source}")]
pub struct ApiError {
    /// `reading`, `creating`, `writing the status of`, `adding the finalizer to`, ...
    pub action: &'static str,
    /// The object, as `Kind namespace/name`.
    pub what: String,
    /// The client's error.
    #[source]
    pub source: kube::Error,
}

impl ApiError {
    /// The reconcile metric's category of every API error.
    pub const CATEGORY: &'static str = "kube-api";

    /// An error of `action` on `what`, for `map_err`: `.map_err(ApiError::of("reading", what))`.
    pub fn of(
        action: &'static str,
        what: impl Into<String>,
    ) -> impl FnOnce(kube::Error) -> ApiError {
        let what = what.into();
        move |source| ApiError {
            action,
            what,
            source,
        }
    }
}

pub use operator_runtime::api_message;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_names_the_action_and_the_object() {
        let error = ApiError::of("creating", "RayCluster team/sample")(
            kube::Error::LinesCodecMaxLineLengthExceeded,
        );
        assert!(
            error
                .to_string()
                .starts_with("creating RayCluster team/sample: "),
            "{error}"
        );
    }
}
