//! What the runner needs to know about a reconcile's error.

/// An error a reconcile returns. Its [`category`](ReconcileError::category) is a short, stable name
/// (`kube-api`, `render`, `dashboard`, ...) with few possible values: the runner uses it as the
/// `category` label of `ray_operator_reconcile_total` and in the log line, so an alert can tell "the API server
/// refuses us" from "a Ray head does not answer".
pub trait ReconcileError: std::error::Error + Send + Sync + 'static {
    /// The error's category; a constant per variant, never built from user input.
    fn category(&self) -> &'static str;
}

/// The message of an API error as the API server wrote it (quota, admission, validation), or the client's text.
pub fn api_message(error: &kube::Error) -> String {
    match error {
        kube::Error::Api(status) => status.message.clone(),
        other => other.to_string(),
    }
}
