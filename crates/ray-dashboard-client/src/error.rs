//! What can go wrong talking to a Ray dashboard.

use std::time::Duration;

/// A failed dashboard request. Every variant names the method and URL, so a status message built from it tells the
/// user which head and which call failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The base URL given to [`crate::DashboardClient::new`] is not an absolute `http(s)` URL.
    #[error("invalid Ray dashboard URL {url:?}: {reason}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The cluster uses token authentication and its token cannot be used (unreadable, or not valid in an HTTP
    /// header). The token itself is never part of the message.
    #[error("no usable Ray auth token: {reason}")]
    Token {
        /// Why, naming the Secret or the problem.
        reason: String,
    },
    /// The dashboard did not answer within the request timeout.
    #[error("{method} {url}: the Ray dashboard did not answer within {timeout:?}")]
    Timeout {
        /// HTTP method.
        method: &'static str,
        /// Full request URL.
        url: String,
        /// The timeout that expired.
        timeout: Duration,
    },
    /// The dashboard could not be reached (connection refused, reset, DNS failure, ...).
    #[error("{method} {url}: cannot reach the Ray dashboard: {detail}")]
    Unreachable {
        /// HTTP method.
        method: &'static str,
        /// Full request URL.
        url: String,
        /// The transport error, with its causes.
        detail: String,
    },
    /// The dashboard answered with an error status. Ray's error bodies are plain text (often a Python traceback);
    /// `message` is its last meaningful line and `body` the whole text.
    #[error("{method} {url}: the Ray dashboard answered {status}: {message}")]
    Status {
        /// HTTP method.
        method: &'static str,
        /// Full request URL.
        url: String,
        /// HTTP status code.
        status: u16,
        /// Ray's message: the last non-empty line of the body, e.g. `ValueError: Job with ... already exists`.
        message: String,
        /// The whole response body.
        body: String,
    },
    /// The dashboard answered 2xx with a body that is not the expected JSON.
    #[error("{method} {url}: unexpected answer from the Ray dashboard: {detail}")]
    Decode {
        /// HTTP method.
        method: &'static str,
        /// Full request URL.
        url: String,
        /// What did not parse, and the start of the body.
        detail: String,
    },
}

impl Error {
    /// The HTTP status the dashboard answered with, if it answered with an error status.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Whether the dashboard said the job (or other object) does not exist.
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }

    /// Whether retrying the same request later may succeed: timeouts, unreachable heads and 5xx answers. A 4xx
    /// answer means the request itself is wrong.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Timeout { .. } | Self::Unreachable { .. } => true,
            Self::Status { status, .. } => *status >= 500,
            Self::InvalidUrl { .. } | Self::Decode { .. } | Self::Token { .. } => false,
        }
    }
}

/// The part of a Ray error body worth showing a user: its last non-empty line (the exception line of a traceback),
/// or the whole text when it is a single line. Bounded so a huge body cannot flood a status field.
pub(crate) fn ray_message(body: &str) -> String {
    const MAX: usize = 1024;
    let line = body
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("(empty body)");
    truncate(line, MAX)
}

/// Cuts `text` to at most `max` bytes on a character boundary, marking the cut.
pub(crate) fn truncate(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ray_message_takes_the_exception_line_of_a_traceback() {
        let body = "Traceback (most recent call last):\n  File \"x.py\", line 1\nValueError: Job with submission_id t2 already exists. Please use a different submission_id.\n\n";
        assert_eq!(
            ray_message(body),
            "ValueError: Job with submission_id t2 already exists. Please use a different submission_id."
        );
        assert_eq!(
            ray_message("Job nope does not exist"),
            "Job nope does not exist"
        );
        assert_eq!(ray_message("  \n"), "(empty body)");
    }

    #[test]
    fn truncate_respects_char_boundaries() {
        let s = "é".repeat(10);
        let t = truncate(&s, 5);
        assert!(t.ends_with('…'));
        assert!(t.len() <= 5 + '…'.len_utf8());
    }

    #[test]
    fn transient_errors_are_timeouts_unreachable_and_5xx() {
        let status = |status| Error::Status {
            method: "GET",
            url: "u".into(),
            status,
            message: String::new(),
            body: String::new(),
        };
        assert!(status(503).is_transient());
        assert!(!status(400).is_transient());
        assert!(status(404).is_not_found());
        assert!(
            Error::Timeout {
                method: "GET",
                url: "u".into(),
                timeout: std::time::Duration::from_secs(1)
            }
            .is_transient()
        );
    }
}
