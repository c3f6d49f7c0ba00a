//! What the client makes of the bodies the dashboard answers with, as pure functions: the client calls these after
//! each request, and tests and fuzzing feed them bodies directly, without a network.
//!
//! A Ray head is a container that users choose; its answers are untrusted. Every function here returns an
//! [`Error`] for a body it cannot use (never panics), and the client reads at most [`MAX_RESPONSE_BYTES`].

use serde::de::DeserializeOwned;

use crate::error::{Error, ray_message, truncate};
use crate::jobs::{
    DeleteResponse, JobDetails, LogsResponse, StopResponse, SubmitResponse, VersionInfo,
};
use crate::serve::ServeInstanceDetails;

/// The largest response body read from the dashboard. A job's log is the largest answer; Ray itself caps what the
/// Jobs API returns far below this.
pub const MAX_RESPONSE_BYTES: usize = 64 * 1024 * 1024;

/// Decodes a JSON body as `T`, or says what is wrong and how the body starts.
pub(crate) fn json<T: DeserializeOwned>(
    method: &'static str,
    url: &str,
    body: &str,
) -> Result<T, Error> {
    // serde_json quotes a mistyped value whole in its message; a huge one must not make a huge message (it ends
    // up in status conditions and events).
    serde_json::from_str(body).map_err(|e| Error::Decode {
        method,
        url: url.to_owned(),
        detail: format!(
            "{}; the body starts with {:?}",
            truncate(&e.to_string(), 300),
            truncate(body, 200)
        ),
    })
}

/// `GET /api/version`.
pub fn version(url: &str, body: &str) -> Result<VersionInfo, Error> {
    json("GET", url, body)
}

/// `GET /api/jobs/{id}`.
pub fn job(url: &str, body: &str) -> Result<JobDetails, Error> {
    json("GET", url, body)
}

/// `GET /api/jobs/`.
pub fn jobs(url: &str, body: &str) -> Result<Vec<JobDetails>, Error> {
    json("GET", url, body)
}

/// `POST /api/jobs/`: the submission id Ray reports (or the deprecated job id), else the one requested.
pub fn submitted_id(url: &str, body: &str, requested: Option<&str>) -> Result<String, Error> {
    let response: SubmitResponse = json("POST", url, body)?;
    Ok(response
        .submission_id
        .or(response.job_id)
        .or_else(|| requested.map(str::to_owned))
        .unwrap_or_default())
}

/// `POST /api/jobs/{id}/stop`: whether the job was stopped.
pub fn stopped(url: &str, body: &str) -> Result<bool, Error> {
    json::<StopResponse>("POST", url, body).map(|r| r.stopped)
}

/// `DELETE /api/jobs/{id}`: whether the job was deleted.
pub fn deleted(url: &str, body: &str) -> Result<bool, Error> {
    json::<DeleteResponse>("DELETE", url, body).map(|r| r.deleted)
}

/// `GET /api/jobs/{id}/logs`: the driver's log.
pub fn logs(url: &str, body: &str) -> Result<String, Error> {
    json::<LogsResponse>("GET", url, body).map(|r| r.logs)
}

/// `GET /api/serve/applications/`.
pub fn serve_applications(url: &str, body: &str) -> Result<ServeInstanceDetails, Error> {
    json("GET", url, body)
}

/// An error status: the error with the last meaningful line of Ray's (plain-text, often traceback) body.
pub fn status_error(method: &'static str, url: &str, status: u16, body: String) -> Error {
    Error::Status {
        method,
        url: url.to_owned(),
        status,
        message: ray_message(&body),
        body,
    }
}

/// Whether an error status means that a job with this submission id already exists (a retried submit).
pub fn is_already_exists(body: &str, submission_id: &str) -> bool {
    body.contains("already exists") && body.contains(submission_id)
}
