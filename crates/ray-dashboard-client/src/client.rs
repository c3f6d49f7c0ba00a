//! The HTTP client itself.

use std::time::Duration;

use crate::decode::{self, MAX_RESPONSE_BYTES, is_already_exists};
use crate::error::Error;
use crate::jobs::{JobDetails, JobSubmitRequest, SubmitOutcome, VersionInfo};
use crate::serve::ServeInstanceDetails;
use reqwest::header::HeaderValue;
use reqwest::{Method, Url};

/// The default per-request timeout. Short on purpose: a reconcile that waits on a head must not hold up the others,
/// and the next reconcile simply asks again.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// A client for one Ray head's dashboard. Cheap to clone; clones share one connection pool.
#[derive(Clone, Debug)]
pub struct DashboardClient {
    base: Url,
    http: reqwest::Client,
    timeout: Duration,
    /// `x-ray-authorization: Bearer <token>` for a cluster with token authentication; marked sensitive, so it is
    /// never printed by `Debug`.
    auth: Option<HeaderValue>,
}

/// The header a Ray dashboard with token authentication (Ray 2.52 or later) reads the token from.
pub const AUTH_HEADER: &str = "x-ray-authorization";

impl DashboardClient {
    /// A client for the dashboard at `base_url`, such as `http://raycluster-head-svc.default.svc.cluster.local:8265`.
    pub fn new(base_url: &str) -> Result<Self, Error> {
        let invalid = |reason: &str| Error::InvalidUrl {
            url: base_url.to_owned(),
            reason: reason.to_owned(),
        };
        let base = Url::parse(base_url).map_err(|e| invalid(&e.to_string()))?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(invalid("the scheme must be http or https"));
        }
        if base.cannot_be_a_base() || base.host_str().is_none() {
            return Err(invalid("the URL needs a host, like http://127.0.0.1:8265"));
        }
        Ok(Self::with_http_client(base, reqwest::Client::new()))
    }

    /// A client that shares an existing `reqwest` client (and its connection pool) with others.
    pub fn with_http_client(base: Url, http: reqwest::Client) -> Self {
        Self {
            base,
            http,
            timeout: DEFAULT_TIMEOUT,
            auth: None,
        }
    }

    /// Sends `token` with every request, as a Ray head with `RAY_AUTH_MODE=token` requires. A token that cannot
    /// be an HTTP header value (a control character, a line break) is an error that does not repeat it.
    pub fn with_auth_token(mut self, token: &str) -> Result<Self, Error> {
        let mut value =
            HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| Error::Token {
                reason: "the token contains characters an HTTP header cannot carry (control characters or \
                         line breaks); write it as plain text"
                    .to_owned(),
            })?;
        value.set_sensitive(true);
        self.auth = Some(value);
        Ok(self)
    }

    /// Sets the per-request timeout (default [`DEFAULT_TIMEOUT`]).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The dashboard's base URL.
    pub fn base_url(&self) -> &Url {
        &self.base
    }

    /// `GET /api/version`: the head's Ray version. Also a cheap way to ask whether the dashboard is up.
    pub async fn version(&self) -> Result<VersionInfo, Error> {
        let (_, url, text) = self.send(Method::GET, &["api", "version"], None).await?;
        decode::version(url.as_str(), &text)
    }

    /// `POST /api/jobs/`: submits a job.
    ///
    /// With a `submission_id`, submitting is idempotent: when Ray answers that a job with this id already exists
    /// (it has used both 400 and 500 for that), the outcome is [`SubmitOutcome::AlreadyExists`], not an error.
    pub async fn submit_job(&self, request: &JobSubmitRequest) -> Result<SubmitOutcome, Error> {
        let body = serde_json::to_value(request).map_err(|e| Error::Decode {
            method: "POST",
            url: self.url(&["api", "jobs", ""]).to_string(),
            detail: format!("cannot encode the request: {e}"),
        })?;
        let answer = self
            .send(Method::POST, &["api", "jobs", ""], Some(body))
            .await
            .and_then(|(_, url, text)| {
                decode::submitted_id(url.as_str(), &text, request.submission_id.as_deref())
            });
        match answer {
            Ok(submission_id) => Ok(SubmitOutcome::Submitted { submission_id }),
            Err(error) => match (&error, &request.submission_id) {
                (
                    Error::Status {
                        status: 400 | 500,
                        body,
                        ..
                    },
                    Some(id),
                ) if is_already_exists(body, id) => Ok(SubmitOutcome::AlreadyExists {
                    submission_id: id.clone(),
                }),
                _ => Err(error),
            },
        }
    }

    /// `GET /api/jobs/{id}`: one job. A job Ray does not know is an error for which
    /// [`Error::is_not_found`] is true.
    pub async fn get_job(&self, submission_id: &str) -> Result<JobDetails, Error> {
        let (_, url, text) = self
            .send(Method::GET, &["api", "jobs", submission_id], None)
            .await?;
        decode::job(url.as_str(), &text)
    }

    /// `GET /api/jobs/`: every job the head knows, submitted or plain drivers.
    pub async fn list_jobs(&self) -> Result<Vec<JobDetails>, Error> {
        let (_, url, text) = self.send(Method::GET, &["api", "jobs", ""], None).await?;
        decode::jobs(url.as_str(), &text)
    }

    /// `POST /api/jobs/{id}/stop`: asks Ray to stop a job. `false` means the job was not running any more.
    pub async fn stop_job(&self, submission_id: &str) -> Result<bool, Error> {
        let (_, url, text) = self
            .send(Method::POST, &["api", "jobs", submission_id, "stop"], None)
            .await?;
        decode::stopped(url.as_str(), &text)
    }

    /// `DELETE /api/jobs/{id}`: forgets a finished job and its logs. Ray refuses (500) while the job runs.
    pub async fn delete_job(&self, submission_id: &str) -> Result<bool, Error> {
        let (_, url, text) = self
            .send(Method::DELETE, &["api", "jobs", submission_id], None)
            .await?;
        decode::deleted(url.as_str(), &text)
    }

    /// `GET /api/jobs/{id}/logs`: the driver's whole log so far.
    pub async fn job_logs(&self, submission_id: &str) -> Result<String, Error> {
        let (_, url, text) = self
            .send(Method::GET, &["api", "jobs", submission_id, "logs"], None)
            .await?;
        decode::logs(url.as_str(), &text)
    }

    /// `GET /api/serve/applications/`: the Serve applications and their deployments' statuses.
    pub async fn serve_applications(&self) -> Result<ServeInstanceDetails, Error> {
        let (_, url, text) = self
            .send(Method::GET, &["api", "serve", "applications", ""], None)
            .await?;
        decode::serve_applications(url.as_str(), &text)
    }

    /// `PUT /api/serve/applications/`: applies a whole Serve config (`serveConfigV2` as JSON). Declarative:
    /// applications not listed are removed. Ray answers before the applications are running; poll
    /// [`Self::serve_applications`] for their status.
    pub async fn put_serve_config(&self, config: &serde_json::Value) -> Result<(), Error> {
        self.send(
            Method::PUT,
            &["api", "serve", "applications", ""],
            Some(config.clone()),
        )
        .await
        .map(drop)
    }

    /// The URL of `segments` under the base URL; each segment is percent-encoded, so an id cannot change the path.
    fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        url
    }

    /// Sends one request and returns the body of a 2xx answer; anything else becomes an [`Error`].
    async fn send(
        &self,
        method: Method,
        segments: &[&str],
        body: Option<serde_json::Value>,
    ) -> Result<(&'static str, Url, String), Error> {
        let url = self.url(segments);
        let method_name = method_name(&method);
        let mut request = self.http.request(method, url.clone()).timeout(self.timeout);
        if let Some(auth) = &self.auth {
            request = request.header(AUTH_HEADER, auth.clone());
        }
        if let Some(body) = &body {
            request = request.json(body);
        }
        let transport = |e: reqwest::Error| {
            if e.is_timeout() {
                Error::Timeout {
                    method: method_name,
                    url: url.to_string(),
                    timeout: self.timeout,
                }
            } else {
                Error::Unreachable {
                    method: method_name,
                    url: url.to_string(),
                    detail: error_chain(&e),
                }
            }
        };
        let response = request.send().await.map_err(transport)?;
        let status = response.status();
        let text = read_body(response, method_name, &url, transport).await?;
        if !status.is_success() {
            return Err(decode::status_error(
                method_name,
                url.as_str(),
                status.as_u16(),
                text,
            ));
        }
        Ok((method_name, url, text))
    }
}

/// Whether an error body is Ray's "a job with this submission id already exists" for `submission_id`.
/// Reads the body as text, refusing one larger than [`MAX_RESPONSE_BYTES`] before it is all in memory.
async fn read_body(
    mut response: reqwest::Response,
    method: &'static str,
    url: &Url,
    transport: impl Fn(reqwest::Error) -> Error,
) -> Result<String, Error> {
    let too_large = || Error::Decode {
        method,
        url: url.to_string(),
        detail: format!(
            "the response is larger than {MAX_RESPONSE_BYTES} bytes; a Ray dashboard never sends that much"
        ),
    };
    if response
        .content_length()
        .is_some_and(|length| length > MAX_RESPONSE_BYTES as u64)
    {
        return Err(too_large());
    }
    let mut bytes = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(&transport)? {
        if bytes.len() + chunk.len() > MAX_RESPONSE_BYTES {
            return Err(too_large());
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

fn method_name(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        _ => "REQUEST",
    }
}

/// An error with all its causes, so "error sending request" also says "connection refused".
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {

    /// A token is never printed (the client's `Debug`, an error about it), and one an HTTP header cannot carry is
    /// refused rather than sent mangled.
    #[test]
    fn auth_tokens_stay_secret_and_must_fit_a_header() {
        let client = DashboardClient::new("http://127.0.0.1:8265")
            .and_then(|c| c.with_auth_token("s3cr3t-token"))
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(!format!("{client:?}").contains("s3cr3t"));
        let refused = DashboardClient::new("http://127.0.0.1:8265")
            .and_then(|c| c.with_auth_token("line\nbreak-s3cr3t"))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(refused.contains("no usable Ray auth token"), "{refused}");
        assert!(!refused.contains("s3cr3t"), "{refused}");
    }
    use super::*;

    #[test]
    fn rejects_urls_that_are_not_http() {
        for bad in ["127.0.0.1:8265", "ftp://x", "not a url", "mailto:a@b"] {
            let error = DashboardClient::new(bad).expect_err(bad);
            assert!(
                error.to_string().contains("invalid Ray dashboard URL"),
                "{error}"
            );
        }
    }

    #[test]
    fn ids_are_single_path_segments() {
        let client = DashboardClient::new("http://127.0.0.1:8265").expect("valid");
        assert_eq!(
            client.url(&["api", "jobs", ""]).as_str(),
            "http://127.0.0.1:8265/api/jobs/"
        );
        assert_eq!(
            client.url(&["api", "jobs", "../x?y#z"]).as_str(),
            "http://127.0.0.1:8265/api/jobs/..%2Fx%3Fy%23z"
        );
        let prefixed = DashboardClient::new("http://127.0.0.1:8001/proxy/").expect("valid");
        assert_eq!(
            prefixed.url(&["api", "version"]).as_str(),
            "http://127.0.0.1:8001/proxy/api/version"
        );
    }

    #[test]
    fn recognises_already_exists_only_for_our_id() {
        let body = "Traceback...\nValueError: Job with submission_id t2 already exists. Please use a different submission_id.";
        assert!(is_already_exists(body, "t2"));
        assert!(!is_already_exists(body, "t3"));
        assert!(!is_already_exists("ValueError: bad runtime env", "t2"));
    }
}
