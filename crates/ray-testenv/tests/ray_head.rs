//! The real Ray head from the venv: the Jobs REST API the operator uses, and a clean teardown.

use std::time::{Duration, Instant};

use ray_testenv::{Error, Layout, RayHead, RayHeadOptions, is_running};
use serde_json::{Value, json};

#[tokio::test]
async fn a_job_submitted_over_rest_succeeds_and_the_head_leaves_nothing_behind() {
    let head = RayHead::start(RayHeadOptions::new().unwrap_or_else(|e| panic!("{e}")))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let http = reqwest::Client::new();
    let base = head.dashboard_url().to_owned();

    let submitted: Value = http
        .post(format!("{base}/api/jobs/"))
        .json(&json!({"entrypoint": "python -c \"print(6 * 7)\"", "submission_id": "answer"}))
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .unwrap_or_else(|e| panic!("submitting: {e}"))
        .json()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(submitted["submission_id"], "answer", "{submitted}");

    let start = Instant::now();
    let status = loop {
        let job: Value = http
            .get(format!("{base}/api/jobs/answer"))
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .unwrap_or_else(|e| panic!("polling: {e}"))
            .json()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let status = job["status"].as_str().unwrap_or("").to_owned();
        if ["SUCCEEDED", "FAILED", "STOPPED"].contains(&status.as_str()) {
            break job;
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "job still {status}: {job}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert_eq!(status["status"], "SUCCEEDED", "{status}");
    let logs: Value = http
        .get(format!("{base}/api/jobs/answer/logs"))
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .unwrap_or_else(|e| panic!("logs: {e}"))
        .json()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(logs["logs"].as_str().unwrap_or("").contains("42"), "{logs}");

    // Teardown: `ray start`, the watchdog, and every Ray daemon and worker are gone, and so is the directory.
    let mut pids = head.pids();
    let daemons = head.ray_processes();
    assert!(
        daemons.len() >= 3,
        "expected GCS, raylet, dashboard...: {daemons:?}"
    );
    pids.extend(daemons);
    let dir = head.dir().to_owned();
    drop(head);
    let alive: Vec<u32> = pids.into_iter().filter(|&p| is_running(p)).collect();
    assert!(alive.is_empty(), "still running after drop: {alive:?}");
    assert!(!dir.exists(), "{} still exists", dir.display());
}

#[tokio::test]
async fn a_missing_venv_names_the_install_command() {
    let empty = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let options = RayHeadOptions {
        layout: Layout::at(empty.path()),
        ..RayHeadOptions::new().unwrap_or_else(|e| panic!("{e}"))
    };
    let err = RayHead::start(options).await.expect_err("no venv there");
    assert!(matches!(err, Error::MissingBinary { .. }), "{err:?}");
    assert!(
        err.to_string().contains("cargo xtask testenv install"),
        "{err}"
    );
}

#[tokio::test]
async fn a_taken_dashboard_port_is_reported() {
    let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
    let port = held.local_addr().unwrap_or_else(|e| panic!("{e}")).port();
    let options = RayHeadOptions {
        dashboard_port: Some(port),
        ..RayHeadOptions::new().unwrap_or_else(|e| panic!("{e}"))
    };
    let err = RayHead::start(options).await.expect_err("port is held");
    assert!(
        matches!(err, Error::PortTaken { port: p, .. } if p == port),
        "{err:?}"
    );
}
