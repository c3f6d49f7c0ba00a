//! The client against a real Ray head (the venv from `cargo xtask testenv install`): every call the operator makes,
//! with the answers the real dashboard gives, including its failures.

use std::time::Duration;

use ray_dashboard_client::{
    ApplicationStatus, DashboardClient, JobDetails, JobStatus, JobSubmitRequest, SubmitOutcome,
};
use ray_testenv::{RayHead, RayHeadOptions};

/// Polls a job until it reaches a terminal status (bounded, so a broken head fails the test instead of hanging).
async fn wait_terminal(client: &DashboardClient, id: &str) -> JobDetails {
    for _ in 0..240 {
        let job = client.get_job(id).await.expect("get job");
        if job.status.is_terminal() {
            return job;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    panic!("job {id} did not finish within two minutes");
}

async fn wait_status(client: &DashboardClient, id: &str, wanted: JobStatus) {
    for _ in 0..240 {
        if client.get_job(id).await.expect("get job").status == wanted {
            return;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    panic!("job {id} never reached {wanted}");
}

/// One head for the whole file: it takes seconds to start and a gigabyte of memory.
#[tokio::test(flavor = "multi_thread")]
async fn jobs_and_serve_against_a_real_ray_head() {
    let head = RayHead::start(RayHeadOptions::new().expect("Ray venv layout"))
        .await
        .expect("start a Ray head");
    let client = DashboardClient::new(head.dashboard_url())
        .expect("url")
        .with_timeout(Duration::from_secs(10));

    let version = client.version().await.expect("version");
    assert!(
        version
            .ray_version
            .as_deref()
            .is_some_and(|v| v.starts_with("2.")),
        "{version:?}"
    );

    jobs(&client).await;
    serve(&client).await;
    head.stop();
}

async fn jobs(client: &DashboardClient) {
    // A job that succeeds, with metadata and a runtime env.
    let mut ok =
        JobSubmitRequest::new("python -c \"import os; print('answer', os.environ['ANSWER'])\"")
            .with_submission_id("client-ok");
    ok.metadata = Some([("owner".to_owned(), "test".to_owned())].into());
    ok.runtime_env = Some(serde_json::json!({"env_vars": {"ANSWER": "42"}}));
    let outcome = client.submit_job(&ok).await.expect("submit");
    assert_eq!(
        outcome,
        SubmitOutcome::Submitted {
            submission_id: "client-ok".into()
        }
    );

    // Submitting the same id again is recognised as already done, whatever status code this Ray uses for it.
    let again = client
        .submit_job(&ok)
        .await
        .expect("resubmitting is not an error");
    assert_eq!(
        again,
        SubmitOutcome::AlreadyExists {
            submission_id: "client-ok".into()
        }
    );

    let done = wait_terminal(client, "client-ok").await;
    assert_eq!(done.status, JobStatus::Succeeded, "{done:?}");
    assert_eq!(done.driver_exit_code, Some(0));
    assert!(done.start_time.is_some() && done.end_time.is_some());
    let logs = client.job_logs("client-ok").await.expect("logs");
    assert!(logs.contains("answer 42"), "{logs}");

    // A failing job reports Ray's message and exit code.
    let failing = JobSubmitRequest::new("python -c \"import sys; sys.exit(3)\"")
        .with_submission_id("client-fail");
    client.submit_job(&failing).await.expect("submit");
    let failed = wait_terminal(client, "client-fail").await;
    assert_eq!(failed.status, JobStatus::Failed);
    assert_eq!(failed.driver_exit_code, Some(3));
    assert!(
        failed
            .message
            .as_deref()
            .unwrap_or_default()
            .contains("exit code 3"),
        "{failed:?}"
    );

    // Stopping a running job; stopping it again says it was not running.
    let long = JobSubmitRequest::new("python -c \"import time; time.sleep(600)\"")
        .with_submission_id("client-stop");
    client.submit_job(&long).await.expect("submit");
    wait_status(client, "client-stop", JobStatus::Running).await;
    assert!(client.stop_job("client-stop").await.expect("stop"));
    let stopped = wait_terminal(client, "client-stop").await;
    assert_eq!(stopped.status, JobStatus::Stopped);
    assert!(!client.stop_job("client-stop").await.expect("second stop"));

    // Listing sees them all; deleting forgets one; a missing job is "not found" with Ray's text.
    let ids: Vec<_> = client
        .list_jobs()
        .await
        .expect("list")
        .into_iter()
        .filter_map(|j| j.submission_id)
        .collect();
    for id in ["client-ok", "client-fail", "client-stop"] {
        assert!(ids.iter().any(|i| i == id), "{id} missing from {ids:?}");
    }
    assert!(client.delete_job("client-ok").await.expect("delete"));
    let missing = client.get_job("client-ok").await.expect_err("deleted");
    assert!(missing.is_not_found(), "{missing}");
    assert!(missing.to_string().contains("does not exist"), "{missing}");
}

async fn serve(client: &DashboardClient) {
    // A tiny Serve application from a module on the head's PYTHONPATH (a temp dir of this test).
    let module_dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        module_dir.path().join("hello_app.py"),
        "from ray import serve\n\n@serve.deployment(ray_actor_options={'num_cpus': 0})\nclass Hello:\n    async def __call__(self, request):\n        return 'hello'\n\napp = Hello.bind()\n",
    )
    .expect("write module");
    let port = ray_testenv::free_ports(1).expect("free port")[0];
    let config = |import_path: &str| {
        serde_json::json!({
            "proxy_location": "HeadOnly",
            "http_options": {"host": "127.0.0.1", "port": port},
            "applications": [{
                "name": "hello",
                "route_prefix": "/",
                "import_path": import_path,
                "runtime_env": {"env_vars": {"PYTHONPATH": module_dir.path().to_string_lossy()}},
            }],
        })
    };

    client
        .put_serve_config(&config("hello_app:app"))
        .await
        .expect("put config");
    let mut running = false;
    for _ in 0..240 {
        let details = client
            .serve_applications()
            .await
            .expect("serve applications");
        if details.all_running() {
            running = true;
            assert_eq!(
                details.applications["hello"].route_prefix.as_deref(),
                Some("/")
            );
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(running, "the Serve application never became RUNNING");

    // A bad import path is accepted by the PUT and then reported as DEPLOY_FAILED with Ray's message.
    client
        .put_serve_config(&config("no_such_module:app"))
        .await
        .expect("put bad config");
    let mut failure = None;
    for _ in 0..240 {
        let details = client
            .serve_applications()
            .await
            .expect("serve applications");
        let app = &details.applications["hello"];
        if app.status == ApplicationStatus::DeployFailed {
            failure = app.message.clone();
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let message = failure.expect("the bad config never reached DEPLOY_FAILED");
    assert!(message.contains("no_such_module"), "{message}");

    // A config that is not a Serve config at all is rejected with 400 and pydantic's message.
    let error = client
        .put_serve_config(&serde_json::json!({"applications": [{"name": "x"}]}))
        .await
        .expect_err("400");
    assert_eq!(error.status(), Some(400), "{error}");
    assert!(
        error.to_string().contains("import_path")
            || matches!(error, ray_dashboard_client::Error::Status { ref body, .. } if body.contains("import_path")),
        "{error}"
    );
}
