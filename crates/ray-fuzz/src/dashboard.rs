//! The Ray dashboard's answers: a Ray head runs an image the user chose, so its bodies are untrusted.

use ray_dashboard_client::{Error, decode};

const URL: &str = "http://127.0.0.1:8265/api/jobs/a";

/// A decode error names the call and shows how the body starts, in a bounded message.
fn check(result: Result<impl Sized, Error>, body: &str) {
    if let Err(error) = result {
        let message = error.to_string();
        assert!(
            message.contains(URL),
            "the error does not name the URL: {message}"
        );
        assert!(
            message.len() <= URL.len() + 2_000,
            "a {}-byte message for a {}-byte body",
            message.len(),
            body.len()
        );
    }
}

/// Every response decoder, and the error-status path, on the same body.
pub(crate) fn dashboard_response(data: &[u8]) {
    let body = String::from_utf8_lossy(data);
    check(decode::version(URL, &body), &body);
    check(decode::job(URL, &body), &body);
    check(decode::jobs(URL, &body), &body);
    check(decode::stopped(URL, &body), &body);
    check(decode::deleted(URL, &body), &body);
    check(decode::logs(URL, &body), &body);
    check(decode::serve_applications(URL, &body), &body);
    match decode::submitted_id(URL, &body, Some("requested")) {
        Ok(id) => assert!(
            !id.is_empty() || body.contains("\"\""),
            "an empty submission id out of {body:?}"
        ),
        Err(error) => check(Err::<(), _>(error), &body),
    }
    if let Ok(details) = decode::serve_applications(URL, &body) {
        // The readiness summary the RayService controller uses never panics either.
        let _ = format!("{details:?}");
    }
    let error = decode::status_error("GET", URL, 500, body.clone().into_owned());
    let message = error.to_string();
    assert!(
        message.len() <= URL.len() + 1_200,
        "an unbounded status message"
    );
    let _ = decode::is_already_exists(&body, "requested");
}
