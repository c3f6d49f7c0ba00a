//! Ray token authentication (`authOptions`) end to end: a real Ray head started with `RAY_AUTH_MODE=token` refuses
//! every dashboard request without its token, and the operator — reading the token from the cluster's Secret —
//! submits an `HTTPMode` RayJob to it and deploys a RayService's Serve config on it. The RayCluster controller's
//! side (a generated token Secret per cluster, the token wired into every Ray container) is checked on the control
//! plane too.

mod common;

use std::collections::BTreeMap;

use common::{Controller, Scenario, head_token, until, worker_group};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{Pod, Secret};
use kube::Api;
use kube::api::ListParams;
use ray_api_v1::RayCluster;
use ray_api_v1::rayjob::{JobDeploymentStatus, JobStatus, RayJob};
use ray_api_v1::rayservice::{ApplicationStatus, RayService, ServiceStatus};
use ray_dashboard_client::DashboardClient;
use serde_json::json;

/// The Secret the tests' clusters name in `authOptions.secretName`, holding the head's token.
const TOKEN_SECRET: &str = "ray-token";

fn cluster_spec(auth: serde_json::Value) -> serde_json::Value {
    json!({
        "rayVersion": "2.60.0",
        "authOptions": auth,
        "headGroupSpec": {"rayStartParams": {}, "template": {"spec": {"containers": [{
            "name": "ray-head", "image": common::RAY_IMAGE,
            "ports": [{"name": "dashboard", "containerPort": 8265}, {"name": "serve", "containerPort": 8000}],
        }]}}},
        "workerGroupSpecs": [worker_group("workers", 1, 1, 1)],
    })
}

impl Scenario {
    /// Creates the Secret holding the token-authenticated head's token.
    async fn create_token_secret(&self) {
        self.create(Secret {
            metadata: kube::api::ObjectMeta {
                name: Some(TOKEN_SECRET.into()),
                ..Default::default()
            },
            data: Some(BTreeMap::from([(
                "auth_token".to_owned(),
                ByteString(head_token().as_bytes().to_vec()),
            )])),
            ..Secret::default()
        })
        .await;
    }
}

/// The head refuses what carries no token or a wrong one, and answers the right one.
async fn the_head_refuses_requests_without_its_token(env: &Scenario) {
    let url = env.head().dashboard_url();
    let anonymous = DashboardClient::new(url).unwrap_or_else(|e| panic!("{e}"));
    let refused = anonymous
        .list_jobs()
        .await
        .expect_err("a request without the token must be refused");
    assert_eq!(refused.status(), Some(401), "{refused}");
    let wrong = DashboardClient::new(url)
        .and_then(|c| c.with_auth_token("not-the-token"))
        .unwrap_or_else(|e| panic!("{e}"));
    let refused = wrong
        .version()
        .await
        .expect_err("a wrong token must be refused");
    assert_eq!(refused.status(), Some(403), "{refused}");
    let right = DashboardClient::new(url)
        .and_then(|c| c.with_auth_token(head_token()))
        .unwrap_or_else(|e| panic!("{e}"));
    right.version().await.unwrap_or_else(|e| panic!("{e}"));
}

/// An `HTTPMode` RayJob on a cluster with `authOptions.secretName` is submitted with the token and succeeds; the
/// same head refuses an unauthenticated request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http_mode_ray_job_runs_on_a_token_authenticated_head() {
    let env =
        Scenario::start_on_token_head("token-job", &[Controller::RayCluster, Controller::RayJob])
            .await;
    the_head_refuses_requests_without_its_token(&env).await;
    env.create_token_secret().await;
    env.create::<RayJob>(common::ray_object(
        "RayJob",
        "token-job",
        json!({
            "entrypoint": "python -c \"print('authenticated')\"",
            "submissionMode": "HTTPMode",
            "rayClusterSpec": cluster_spec(json!({"mode": "token", "secretName": TOKEN_SECRET})),
        }),
    ))
    .await;
    let jobs: Api<RayJob> = env.api();
    let job = until("RayJob token-job Complete", async || {
        let job = jobs.get("token-job").await.map_err(|e| e.to_string())?;
        let status = job.status.clone().unwrap_or_default();
        match status.job_deployment_status {
            Some(JobDeploymentStatus::Complete) => Ok(job),
            Some(JobDeploymentStatus::Failed) => panic!("the RayJob failed: {status:?}"),
            _ => Err(format!("{status:?}")),
        }
    })
    .await;
    let status = job.status.unwrap_or_default();
    assert_eq!(status.job_status, Some(JobStatus::Succeeded));
    // Ray ran it: the head answers for the job id, with the token.
    let job_id = status.job_id.unwrap_or_default();
    let details = DashboardClient::new(env.head().dashboard_url())
        .and_then(|c| c.with_auth_token(head_token()))
        .unwrap_or_else(|e| panic!("{e}"))
        .get_job(&job_id)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(details.status.as_str(), "SUCCEEDED");

    // The cluster's pods get the token from the Secret, never as a literal.
    let cluster_name = status.ray_cluster_name.unwrap_or_default();
    let pods: Api<Pod> = env.api();
    let head = pods
        .list(&ListParams::default().labels(&format!(
            "ray.io/cluster={cluster_name},ray.io/node-type=head"
        )))
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .items;
    let head = serde_json::to_value(&head[0]).unwrap_or_else(|e| panic!("{e}"));
    let env_vars = &head["spec"]["containers"][0]["env"];
    assert!(
        env_vars
            .as_array()
            .is_some_and(|vars| vars.contains(&json!({"name": "RAY_AUTH_MODE", "value": "token"}))
                && vars.contains(&json!({"name": "RAY_AUTH_TOKEN", "valueFrom": {"secretKeyRef": {"name": TOKEN_SECRET, "key": "auth_token"}}}))),
        "{env_vars}"
    );
    assert!(!head.to_string().contains(head_token()));
    env.finish().await;
}

/// A RayService on a cluster with `authOptions.secretName` gets its Serve config deployed with the token and
/// serves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ray_service_serves_on_a_token_authenticated_head() {
    let env = Scenario::start_on_token_head(
        "token-svc",
        &[Controller::RayCluster, Controller::RayService],
    )
    .await;
    env.create_token_secret().await;
    let serve_port = ray_testenv::free_ports(1).unwrap_or_else(|e| panic!("{e}"))[0];
    let config = json!({
        "http_options": {"host": "127.0.0.1", "port": serve_port},
        "applications": [{
            "name": "hello", "route_prefix": "/", "import_path": "ray_operator_demo.hello:app",
            "deployments": [{"name": "Hello", "num_replicas": 1, "ray_actor_options": {"num_cpus": 0}}],
        }],
    });
    env.create::<RayService>(common::ray_object(
        "RayService",
        "token-svc",
        json!({
            "serveConfigV2": config.to_string(),
            "rayClusterConfig": cluster_spec(json!({"mode": "token", "secretName": TOKEN_SECRET})),
        }),
    ))
    .await;
    let services: Api<RayService> = env.api();
    until("RayService token-svc serving", async || {
        let service = services.get("token-svc").await.map_err(|e| e.to_string())?;
        let status = service.status.clone().unwrap_or_default();
        let app = status
            .active_service_status
            .as_ref()
            .and_then(|a| a.application_statuses.get("hello"))
            .and_then(|a| a.status);
        if status.service_status == Some(ServiceStatus::Running)
            && app == Some(ApplicationStatus::Running)
        {
            Ok(())
        } else {
            Err(format!("{status:?}"))
        }
    })
    .await;
    let answer = reqwest::get(format!("http://127.0.0.1:{serve_port}/"))
        .await
        .and_then(reqwest::Response::error_for_status)
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(answer.status().is_success());
    env.finish().await;
}

/// Without `secretName` the RayCluster controller generates the cluster's token: one Secret named after the
/// cluster, owned by it, 32 random bytes in base64, created once (a second reconcile does not replace it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_without_a_secret_name_gets_a_generated_token() {
    let env = Scenario::start("token-gen", &[Controller::RayCluster]).await;
    env.create::<RayCluster>(common::ray_object(
        "RayCluster",
        "gen",
        cluster_spec(json!({"mode": "token"})),
    ))
    .await;
    let secrets: Api<Secret> = env.api();
    let secret = until("the generated token Secret", async || {
        secrets
            .get_opt("gen")
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| "not yet".to_string())
    })
    .await;
    let token = secret
        .data
        .as_ref()
        .and_then(|d| d.get("auth_token"))
        .map(|b| b.0.clone())
        .unwrap_or_default();
    let decoded = data_encoding::BASE64
        .decode(&token)
        .unwrap_or_else(|e| panic!("the token is not base64: {e}"));
    assert_eq!(decoded.len(), 32);
    let owner = secret
        .metadata
        .owner_references
        .as_ref()
        .and_then(|o| o.first())
        .map(|o| (o.kind.clone(), o.name.clone()));
    assert_eq!(owner, Some(("RayCluster".into(), "gen".into())));

    // Every Ray container reads it from the Secret; the head and the worker come up.
    let clusters: Api<RayCluster> = env.api();
    until("RayCluster gen ready", async || {
        let cluster = clusters.get("gen").await.map_err(|e| e.to_string())?;
        match cluster.status.as_ref().and_then(|s| s.state) {
            Some(ray_api_v1::ClusterState::Ready) => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    let pods: Api<Pod> = env.api();
    for pod in pods
        .list(&ListParams::default().labels("ray.io/cluster=gen"))
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .items
    {
        let value = serde_json::to_value(&pod).unwrap_or_else(|e| panic!("{e}"));
        let reference = json!({"name": "RAY_AUTH_TOKEN", "valueFrom": {"secretKeyRef": {"name": "gen", "key": "auth_token"}}});
        let mut containers: Vec<&serde_json::Value> = value["spec"]["containers"]
            .as_array()
            .into_iter()
            .flatten()
            .take(1)
            .collect();
        containers.extend(
            value["spec"]["initContainers"]
                .as_array()
                .into_iter()
                .flatten(),
        );
        for container in containers {
            assert!(
                container["env"]
                    .as_array()
                    .is_some_and(|vars| vars.contains(&reference)),
                "{}: {container}",
                pod.metadata.name.as_deref().unwrap_or_default()
            );
        }
    }
    let again = secrets.get("gen").await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        again.data, secret.data,
        "the token must never be regenerated"
    );
    env.finish().await;
}
