//! Faults a real Ray head will not produce on demand — a hung dashboard, 5xx answers, garbage bodies, a closed
//! port — injected by a tiny HTTP server on loopback that answers with canned responses.

use std::time::Duration;

use ray_dashboard_client::{DashboardClient, Error, JobStatus, JobSubmitRequest, SubmitOutcome};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// What the fake dashboard does with the one request it accepts.
enum Behaviour {
    /// Answer with this status line, content type and body.
    Respond(&'static str, &'static str, String),
    /// Read the request and never answer.
    Hang,
}

/// Starts a one-request fake dashboard; the handle yields the raw request it received.
async fn fake_dashboard(behaviour: Behaviour) -> (DashboardClient, JoinHandle<String>) {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let url = format!("http://{}", listener.local_addr().expect("local addr"));
    let handle = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.expect("accept");
        let request = read_request(&mut socket).await;
        match behaviour {
            Behaviour::Respond(status, content_type, body) => {
                let response = format!(
                    "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                socket.write_all(response.as_bytes()).await.expect("write");
            }
            Behaviour::Hang => tokio::time::sleep(Duration::from_secs(30)).await,
        }
        request
    });
    let client = DashboardClient::new(&url)
        .expect("valid url")
        .with_timeout(Duration::from_millis(500));
    (client, handle)
}

/// Reads one HTTP/1.1 request (headers and a content-length body).
async fn read_request(socket: &mut tokio::net::TcpStream) -> String {
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = socket.read(&mut buf).await.expect("read");
        if n == 0 {
            break;
        }
        data.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&data);
        if let Some(end) = text.find("\r\n\r\n") {
            let length = text[..end]
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().to_owned())
                })
                .and_then(|v| v.parse::<usize>().ok())
                .unwrap_or(0);
            if data.len() >= end + 4 + length {
                break;
            }
        }
    }
    String::from_utf8_lossy(&data).into_owned()
}

const TRACEBACK_EXISTS: &str = "Traceback (most recent call last):\n  File \"/ray/dashboard/modules/job/job_head.py\", line 1, in submit_job\nValueError: Job with submission_id my-job already exists. Please use a different submission_id.\n";

#[tokio::test]
async fn a_hung_dashboard_times_out_instead_of_blocking() {
    let (client, _server) = fake_dashboard(Behaviour::Hang).await;
    let error = client.get_job("my-job").await.expect_err("must time out");
    assert!(matches!(error, Error::Timeout { .. }), "{error:?}");
    assert!(error.is_transient());
    assert!(error.to_string().contains("/api/jobs/my-job"), "{error}");
}

#[tokio::test]
async fn a_500_keeps_the_status_and_rays_message() {
    let body =
        "Traceback (most recent call last):\n  File \"x\"\nRuntimeError: GCS is down\n".to_owned();
    let (client, _server) = fake_dashboard(Behaviour::Respond(
        "500 Internal Server Error",
        "text/plain",
        body,
    ))
    .await;
    let error = client.list_jobs().await.expect_err("500 is an error");
    match &error {
        Error::Status {
            status,
            message,
            body,
            ..
        } => {
            assert_eq!(*status, 500);
            assert_eq!(message, "RuntimeError: GCS is down");
            assert!(body.starts_with("Traceback"));
        }
        other => panic!("expected a status error, got {other:?}"),
    }
    assert!(error.is_transient());
}

#[tokio::test]
async fn already_exists_is_success_for_our_own_id_whether_ray_says_500_or_400() {
    for status in ["500 Internal Server Error", "400 Bad Request"] {
        let (client, server) = fake_dashboard(Behaviour::Respond(
            status,
            "text/plain",
            TRACEBACK_EXISTS.to_owned(),
        ))
        .await;
        let request = JobSubmitRequest::new("python -c 'print(1)'").with_submission_id("my-job");
        let outcome = client
            .submit_job(&request)
            .await
            .expect("already exists is not an error");
        assert_eq!(
            outcome,
            SubmitOutcome::AlreadyExists {
                submission_id: "my-job".into()
            }
        );
        let sent = server.await.expect("server");
        assert!(sent.starts_with("POST /api/jobs/ HTTP/1.1"), "{sent}");
        assert!(sent.contains(r#""submission_id":"my-job""#), "{sent}");
    }
}

#[tokio::test]
async fn already_exists_for_another_id_stays_an_error() {
    let (client, _server) = fake_dashboard(Behaviour::Respond(
        "500 Internal Server Error",
        "text/plain",
        TRACEBACK_EXISTS.to_owned(),
    ))
    .await;
    let request = JobSubmitRequest::new("true").with_submission_id("other-job");
    let error = client.submit_job(&request).await.expect_err("not our id");
    assert_eq!(error.status(), Some(500));
}

#[tokio::test]
async fn a_404_is_not_found() {
    let body = "Job nope does not exist".to_owned();
    let (client, _server) =
        fake_dashboard(Behaviour::Respond("404 Not Found", "text/plain", body)).await;
    let error = client.get_job("nope").await.expect_err("404");
    assert!(error.is_not_found());
    assert!(!error.is_transient());
    assert!(
        error.to_string().contains("Job nope does not exist"),
        "{error}"
    );
}

#[tokio::test]
async fn garbage_in_a_200_is_a_decode_error_naming_the_body() {
    let body = "<html>proxy error</html>".to_owned();
    let (client, _server) = fake_dashboard(Behaviour::Respond("200 OK", "text/html", body)).await;
    let error = client.get_job("x").await.expect_err("not JSON");
    assert!(matches!(error, Error::Decode { .. }), "{error:?}");
    assert!(error.to_string().contains("proxy error"), "{error}");
}

#[tokio::test]
async fn a_closed_port_is_unreachable() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    drop(listener);
    let client = DashboardClient::new(&url).expect("valid url");
    let error = client.version().await.expect_err("nothing listens");
    assert!(matches!(error, Error::Unreachable { .. }), "{error:?}");
    assert!(error.is_transient());
}

#[tokio::test]
async fn get_job_parses_a_pending_job_with_nulls() {
    let body = r#"{"type":"SUBMISSION","job_id":null,"submission_id":"a","driver_info":null,"status":"PENDING","entrypoint":"x","message":"Job has not started yet.","error_type":null,"start_time":1795624264348,"end_time":null,"metadata":null,"runtime_env":null,"driver_exit_code":null}"#;
    let (client, server) = fake_dashboard(Behaviour::Respond(
        "200 OK",
        "application/json",
        body.to_owned(),
    ))
    .await;
    let job = client.get_job("a").await.expect("parses");
    assert_eq!(job.status, JobStatus::Pending);
    assert_eq!(job.end_time, None);
    assert!(
        server
            .await
            .expect("server")
            .starts_with("GET /api/jobs/a HTTP/1.1")
    );
}

/// Starts a one-request dashboard that sends `head` and then up to `chunks` MiB of `x` without a length.
async fn flooding_dashboard(head: &'static str, chunks: usize) -> DashboardClient {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.expect("accept");
        read_request(&mut socket).await;
        if socket.write_all(head.as_bytes()).await.is_err() {
            return;
        }
        let chunk = vec![b'x'; 1024 * 1024];
        for _ in 0..chunks {
            if socket.write_all(&chunk).await.is_err() {
                return; // the client stopped reading: what we want
            }
        }
    });
    DashboardClient::new(&url)
        .expect("valid url")
        .with_timeout(Duration::from_secs(20))
}

#[tokio::test]
async fn an_endless_response_is_cut_off_at_the_limit() {
    use ray_dashboard_client::decode::MAX_RESPONSE_BYTES;
    let limit_mib = MAX_RESPONSE_BYTES / (1024 * 1024);
    // A declared length over the limit is refused before reading.
    let client = flooding_dashboard(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 999999999999\r\n\r\n",
        1,
    )
    .await;
    let error = client.job_logs("a").await.expect_err("too large");
    assert!(error.to_string().contains("larger than"), "{error}");
    // A body without a length is read up to the limit, then refused.
    let client = flooding_dashboard(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nconnection: close\r\n\r\n",
        limit_mib + 8,
    )
    .await;
    let error = client.job_logs("a").await.expect_err("too large");
    assert!(matches!(error, Error::Decode { .. }), "{error:?}");
    assert!(error.to_string().contains("larger than"), "{error}");
}

#[test]
fn bodies_decode_without_a_network() {
    use ray_dashboard_client::decode;
    let url = "http://127.0.0.1:8265/api/jobs/a";
    let job = decode::job(url, r#"{"status":"RUNNING","submission_id":"a"}"#).expect("a job");
    assert_eq!(job.status, JobStatus::Running);
    let error = decode::job(url, "<html>").expect_err("not JSON");
    assert!(error.to_string().contains(url), "{error}");
    assert_eq!(
        decode::submitted_id(url, r#"{"job_id":"old"}"#, Some("mine")).expect("ok"),
        "old"
    );
    assert_eq!(
        decode::submitted_id(url, "{}", Some("mine")).expect("ok"),
        "mine"
    );
    let error = decode::status_error("GET", url, 500, TRACEBACK_EXISTS.to_owned());
    assert!(
        error
            .to_string()
            .ends_with("Please use a different submission_id."),
        "{error}"
    );
}

/// Found by fuzzing (dashboard_response): serde_json quotes a mistyped string whole, so a huge one made a huge
/// error message.
#[test]
fn a_huge_mistyped_value_gives_a_bounded_message() {
    use ray_dashboard_client::decode;
    let url = "http://127.0.0.1:8265/api/jobs/";
    let body = format!(r#"[{{"type": "{}", "status": 7}}]"#, "x".repeat(100_000));
    let error = decode::jobs(url, &body).expect_err("status is not a string");
    assert!(
        error.to_string().len() < 1_000,
        "{} bytes",
        error.to_string().len()
    );
    let body = format!(
        r#"{{"status": "RUNNING", "start_time": "{}"}}"#,
        "é".repeat(50_000)
    );
    let error = decode::job(url, &body).expect_err("start_time is not a number");
    assert!(
        error.to_string().len() < 1_000,
        "{} bytes",
        error.to_string().len()
    );
}
