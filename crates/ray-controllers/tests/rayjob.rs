//! The RayJob controller against the real local control plane (kwok makes the cluster's pods Running, so the
//! RayCluster controller, running alongside, reports it `ready`) and a real Ray head, which every RayCluster's
//! dashboard is mapped to through the dashboard URL override. kwok completes every pod it sees, so a submitter Job
//! "succeeds" without running `ray job submit`.

use std::time::Duration;

use futures::FutureExt;
use k8s_openapi::api::batch::v1::Job;
use kube::api::{DeleteParams, PostParams};
use kube::{Api, Client};
use ray_api_v1::rayjob::{JobDeploymentStatus, JobFailedReason, JobStatus, RayJob};
use ray_controllers::Expectations;
use ray_controllers::raycluster::{self, Shutdown};
use ray_controllers::rayjob::controller;
use serde_json::json;

const TIMEOUT: Duration = Duration::from_secs(120);

fn job(name: &str, mode: &str, entrypoint: &str) -> RayJob {
    serde_json::from_value(json!({
        "apiVersion": "ray.io/v1",
        "kind": "RayJob",
        "metadata": {"name": name},
        "spec": {
            "entrypoint": entrypoint,
            "submissionMode": mode,
            "rayClusterSpec": {"headGroupSpec": {"rayStartParams": {}, "template": {"spec": {"containers": [
                {"name": "ray-head", "image": "rayproject/ray:2.9.0"}]}}}},
        },
    }))
    .unwrap_or_else(|e| panic!("{e}"))
}

async fn until<T>(what: &str, mut check: impl AsyncFnMut() -> Result<T, String>) -> T {
    let start = std::time::Instant::now();
    loop {
        match check().await {
            Ok(value) => return value,
            Err(last) if start.elapsed() > TIMEOUT => {
                panic!("timed out waiting for {what}; last: {last}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    }
}

async fn until_state(jobs: &Api<RayJob>, name: &str, state: JobDeploymentStatus) -> RayJob {
    until(&format!("{name} {state:?}"), async || {
        let job = jobs.get(name).await.map_err(|e| e.to_string())?;
        let status = job.status.clone().unwrap_or_default();
        if status.job_deployment_status == Some(state) {
            Ok(job)
        } else {
            Err(format!("{status:?}"))
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ray_jobs_run_on_a_real_ray_head() {
    let plane = ray_testenv::ControlPlane::shared()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let client: Client = plane.client().await.unwrap_or_else(|e| panic!("{e}"));
    let namespace = ray_testenv::project_namespace(&client, "rayjob")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let head = ray_testenv::RayHead::start(
        ray_testenv::RayHeadOptions::new().unwrap_or_else(|e| panic!("{e}")),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));

    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let shutdown: Shutdown = async move {
        let _ = rx.await;
    }
    .boxed()
    .shared();
    let clusters = tokio::spawn(raycluster::run(
        client.clone(),
        raycluster::Settings {
            namespace: Some(namespace.clone()),
            concurrency: 4,
            render: ray_builders::RenderOptions::default(),
            instance: Some("test".into()),
        },
        std::sync::Arc::new(Expectations::default()),
        shutdown.clone(),
    ));
    let jobs_task = tokio::spawn(controller::run(
        client.clone(),
        controller::Settings {
            namespace: Some(namespace.clone()),
            concurrency: 4,
            render: ray_builders::RenderOptions::default(),
            instance: Some("test".into()),
            dashboard_url_override: Some(head.dashboard_url().to_owned()),
            dashboard_timeout: Duration::from_secs(5),
        },
        shutdown,
    ));

    let jobs: Api<RayJob> = Api::namespaced(client.clone(), &namespace);
    for (name, mode, entrypoint) in [
        ("succeeds", "HTTPMode", "echo hello from the rayjob test"),
        ("fails", "HTTPMode", "echo about to fail && exit 3"),
        ("submitter", "K8sJobMode", "python -c 'print(1)'"),
    ] {
        jobs.create(&PostParams::default(), &job(name, mode, entrypoint))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }

    let done = until_state(&jobs, "succeeds", JobDeploymentStatus::Complete).await;
    let status = done.status.unwrap_or_default();
    assert_eq!(status.job_status, Some(JobStatus::Succeeded));
    let job_id = status.job_id.unwrap_or_default();
    assert!(job_id.starts_with("succeeds-"), "{job_id}");
    assert_eq!(status.dashboard_url.as_deref(), Some(head.dashboard_url()));

    let failed = until_state(&jobs, "fails", JobDeploymentStatus::Failed).await;
    let status = failed.status.unwrap_or_default();
    assert_eq!(status.job_status, Some(JobStatus::Failed));
    assert_eq!(status.reason, Some(JobFailedReason::AppFailed));
    let message = status.message.unwrap_or_default();
    assert!(message.contains("exit code 3"), "{message}");

    // K8sJobMode: the submitter Job runs `ray job submit` for our id against the cluster's dashboard.
    let submitters: Api<Job> = Api::namespaced(client.clone(), &namespace);
    let submitter = until("the submitter Job", async || {
        submitters
            .get_opt("submitter")
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| "not yet".to_string())
    })
    .await;
    // kwok completes the submitter's pod without running it, so the Job completes while Ray never saw the job:
    // the RayJob fails saying so, as KubeRay's does.
    let finished = until_state(&jobs, "submitter", JobDeploymentStatus::Failed).await;
    let status = finished.status.unwrap_or_default();
    assert_eq!(status.reason, Some(JobFailedReason::AppFailed));
    let message = status.message.unwrap_or_default();
    assert!(message.contains("Ray job is not found"), "{message}");
    let job_id = status.job_id.unwrap_or_default();
    let container = submitter
        .spec
        .and_then(|s| s.template.spec)
        .and_then(|s| s.containers.into_iter().next())
        .unwrap_or_else(|| panic!("the submitter has a container"));
    let command = container.args.unwrap_or_default().join(" ");
    assert!(command.contains("ray job submit"), "{command}");
    assert!(command.contains(&job_id), "{command}");
    let env = container.env.unwrap_or_default();
    assert!(
        env.iter()
            .any(|e| e.name == "RAY_JOB_SUBMISSION_ID" && e.value.as_deref() == Some(&job_id))
    );

    // Deleting a RayJob goes through the finalizer and does not get stuck.
    jobs.delete("succeeds", &DeleteParams::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    until("the deleted RayJob to disappear", async || {
        match jobs.get_opt("succeeds").await.map_err(|e| e.to_string())? {
            None => Ok(()),
            Some(job) => Err(format!("finalizers {:?}", job.metadata.finalizers)),
        }
    })
    .await;

    let _ = tx.send(());
    let _ = tokio::time::timeout(Duration::from_secs(10), clusters).await;
    let _ = tokio::time::timeout(Duration::from_secs(10), jobs_task).await;
    head.stop();
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
    let _ = namespaces
        .delete(&namespace, &DeleteParams::default())
        .await;
}
