//! What the tests that run `ray-operator` as a process share: a test namespace on the shared control plane, the
//! operator process with free ports for its endpoints, and HTTP GETs of those endpoints.

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Pod;
use kube::api::ListParams;
use kube::{Api, Client};
use ray_api_v1::RayCluster;
use serde_json::json;
use tokio::process::{Child, Command};

/// A test namespace on the shared control plane.
pub struct Setup {
    pub client: Client,
    pub namespace: String,
    pub kubeconfig: PathBuf,
    pub server: String,
}

pub async fn setup(prefix: &str) -> Setup {
    let (plane, client, namespace) = ray_testenv::ControlPlane::shared_namespace(prefix)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    Setup {
        client,
        namespace,
        kubeconfig: plane.kubeconfig().to_path_buf(),
        server: plane.server().to_string(),
    }
}

/// A running operator and where its endpoints are.
pub struct Operator {
    pub child: Child,
    pub metrics: String,
    pub health: String,
}

impl Operator {
    /// Starts `ray-operator run` for the setup's namespace with free ports and `extra` flags.
    pub fn start(setup: &Setup, kubeconfig: &std::path::Path, extra: &[&str]) -> Operator {
        let ports = ray_testenv::free_ports(2).unwrap_or_else(|e| panic!("{e}"));
        let metrics = format!("127.0.0.1:{}", ports[0]);
        let health = format!("127.0.0.1:{}", ports[1]);
        let child = Command::new(env!("CARGO_BIN_EXE_ray-operator"))
            .args([
                "run",
                "--watch-namespace",
                &setup.namespace,
                "--log-format",
                "json",
                "--metrics-addr",
                &metrics,
                "--health-addr",
                &health,
            ])
            .args(extra)
            .env("KUBECONFIG", kubeconfig)
            // OPERATOR_LOG=info shows the operators' logs when a test fails.
            .env(
                "RUST_LOG",
                std::env::var("OPERATOR_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("starting ray-operator: {e}"));
        Operator {
            child,
            metrics: format!("http://{metrics}/metrics"),
            health: format!("http://{health}"),
        }
    }

    pub fn pid(&self) -> nix::unistd::Pid {
        let pid = self
            .child
            .id()
            .and_then(|p| i32::try_from(p).ok())
            .unwrap_or_else(|| panic!("no pid"));
        nix::unistd::Pid::from_raw(pid)
    }

    /// Sends SIGTERM and expects a clean exit within 15 s.
    pub async fn stop(mut self) {
        nix::sys::signal::kill(self.pid(), nix::sys::signal::Signal::SIGTERM)
            .unwrap_or_else(|e| panic!("{e}"));
        let status = tokio::time::timeout(Duration::from_secs(15), self.child.wait())
            .await
            .unwrap_or_else(|_| panic!("ray-operator did not stop within 15 s of SIGTERM"))
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(status.success(), "exit status {status}");
    }

    /// `GET /metrics`, once the server answers.
    pub async fn scrape(&self) -> String {
        let (status, body) = get(&self.metrics).await;
        assert_eq!(status, 200, "{body}");
        body
    }

    /// `GET <health>/<path>`: status and body, once the server answers.
    pub async fn probe(&self, path: &str) -> (u16, String) {
        get(&format!("{}{path}", self.health)).await
    }
}

/// GET with retries while nothing listens yet (the operator is starting), for up to 20 s.
pub async fn get(url: &str) -> (u16, String) {
    let start = Instant::now();
    loop {
        match reqwest::get(url).await {
            Ok(response) => {
                let status = response.status().as_u16();
                let body = response.text().await.unwrap_or_default();
                return (status, body);
            }
            Err(error) => {
                assert!(
                    start.elapsed() < Duration::from_secs(20),
                    "{url} never answered: {error}"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// Polls `check` every 100 ms until it returns `Some`, failing after `limit` with `what`.
pub async fn until<T, F, Fut>(limit: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(start.elapsed() < limit, "{what} within {limit:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub fn cluster(name: &str, replicas: i32) -> RayCluster {
    serde_json::from_value(json!({
        "apiVersion": "ray.io/v1", "kind": "RayCluster",
        "metadata": {"name": name},
        "spec": {
            "headGroupSpec": {"rayStartParams": {}, "template": {"spec": {"containers": [
                {"name": "ray-head", "image": "rayproject/ray:2.60.0"}]}}},
            "workerGroupSpecs": [{"groupName": "workers", "replicas": replicas, "minReplicas": 0, "maxReplicas": 100,
                "rayStartParams": {}, "template": {"spec": {"containers": [
                    {"name": "ray-worker", "image": "rayproject/ray:2.60.0"}]}}}]
        }
    }))
    .unwrap_or_else(|e| panic!("{e}"))
}

pub async fn pod_count(setup: &Setup, name: &str) -> usize {
    let pods: Api<Pod> = Api::namespaced(setup.client.clone(), &setup.namespace);
    pods.list(&ListParams::default().labels(&format!("ray.io/cluster={name}")))
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .items
        .len()
}

/// The value of the first series whose line starts with `prefix` (name and labels), if any.
pub fn series(text: &str, prefix: &str) -> Option<f64> {
    text.lines()
        .find(|line| line.starts_with(prefix))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}
