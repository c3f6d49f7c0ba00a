//! `ray-operator run` as a process against the real local control plane: it reconciles, stops cleanly on
//! SIGTERM, and after `kill -9` in the middle of a large scale-up a restarted operator ends with exact pod counts.

use std::process::Stdio;
use std::time::{Duration, Instant};

use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use ray_api_v1::{ClusterState, RayCluster};
use serde_json::json;
use tokio::process::{Child, Command};

mod common;

use common::{Setup, cluster, pod_count, setup};

fn operator(setup: &Setup) -> Child {
    Command::new(env!("CARGO_BIN_EXE_ray-operator"))
        .args([
            "run",
            "--watch-namespace",
            &setup.namespace,
            "--log-format",
            "json",
            // Tests run operators side by side: no fixed ports.
            "--metrics-addr",
            "off",
            "--health-addr",
            "off",
        ])
        .env("KUBECONFIG", &setup.kubeconfig)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("starting ray-operator: {e}"))
}

async fn until_ready(setup: &Setup, name: &str, workers: i32) {
    let clusters: Api<RayCluster> = Api::namespaced(setup.client.clone(), &setup.namespace);
    let start = Instant::now();
    loop {
        let c = clusters.get(name).await.unwrap_or_else(|e| panic!("{e}"));
        let status = c.status.unwrap_or_default();
        if status.state == Some(ClusterState::Ready)
            && status.ready_worker_replicas == Some(workers)
        {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "{name} not ready: {status:?}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_reconciles_and_stops_on_sigterm() {
    let setup = setup("op-run").await;
    let mut child = operator(&setup);
    let clusters: Api<RayCluster> = Api::namespaced(setup.client.clone(), &setup.namespace);
    clusters
        .create(&PostParams::default(), &cluster("one", 2))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    until_ready(&setup, "one", 2).await;
    let pid = child
        .id()
        .and_then(|p| i32::try_from(p).ok())
        .unwrap_or_else(|| panic!("no pid"));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let status = tokio::time::timeout(Duration::from_secs(15), child.wait())
        .await
        .unwrap_or_else(|_| panic!("ray-operator did not stop within 15 s of SIGTERM"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(status.success(), "exit status {status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_operator_restarts_into_exact_pod_counts() {
    let setup = setup("op-kill").await;
    let mut child = operator(&setup);
    let clusters: Api<RayCluster> = Api::namespaced(setup.client.clone(), &setup.namespace);
    for name in ["a", "b", "c"] {
        clusters
            .create(&PostParams::default(), &cluster(name, 1))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }
    for name in ["a", "b", "c"] {
        until_ready(&setup, name, 1).await;
    }
    for name in ["a", "b", "c"] {
        let patch = json!({"spec": {"workerGroupSpecs": [{"groupName": "workers", "replicas": 25, "minReplicas": 0,
            "maxReplicas": 100, "rayStartParams": {}, "template": {"spec": {"containers": [
                {"name": "ray-worker", "image": "rayproject/ray:2.60.0"}]}}}]}});
        clusters
            .patch(name, &PatchParams::default(), &Patch::Merge(patch))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }
    // Kill as soon as the scale-up is under way but not finished.
    let start = Instant::now();
    loop {
        let n = pod_count(&setup, "a").await;
        if n > 4 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "scale-up never started"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.start_kill().unwrap_or_else(|e| panic!("{e}"));
    let _ = child.wait().await;
    let mid = pod_count(&setup, "a").await;
    let _restarted = operator(&setup);
    for name in ["a", "b", "c"] {
        until_ready(&setup, name, 25).await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    for name in ["a", "b", "c"] {
        assert_eq!(
            pod_count(&setup, name).await,
            26,
            "{name}: 1 head + 25 workers (killed at {mid} pods of a)"
        );
    }
}
