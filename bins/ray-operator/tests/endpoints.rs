//! `/readyz`, `/livez` and `/metrics` of a running `ray-operator` process on the local control plane.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{Operator, cluster, pod_count, series, setup, until};
use kube::Api;
use kube::api::PostParams;
use ray_api_v1::{ClusterState, RayCluster};
use tokio::net::{TcpListener, TcpStream};

/// A TCP proxy to the API server that holds every connection until opened: while closed, the operator cannot
/// reach the API server (as when it starts before the control plane is up).
async fn gated_proxy(target: SocketAddr) -> (u16, tokio::sync::watch::Sender<bool>) {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let port = listener
        .local_addr()
        .unwrap_or_else(|e| panic!("{e}"))
        .port();
    let (open, gate) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            let mut gate = gate.clone();
            tokio::spawn(async move {
                if gate.wait_for(|open| *open).await.is_err() {
                    return;
                }
                if let Ok(mut outbound) = TcpStream::connect(target).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
            });
        }
    });
    (port, open)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_waits_for_the_caches_and_metrics_show_requests_reconciles_and_clusters() {
    let setup = setup("op-endpoints").await;
    let target: SocketAddr = setup
        .server
        .trim_start_matches("https://")
        .parse()
        .unwrap_or_else(|e| panic!("{e}"));
    let (port, gate) = gated_proxy(target).await;
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let kubeconfig = dir.path().join("kubeconfig");
    let text = std::fs::read_to_string(&setup.kubeconfig).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(
        &kubeconfig,
        text.replace(&setup.server, &format!("https://127.0.0.1:{port}")),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let operator = Operator::start(&setup, &kubeconfig, &[]);

    // The API server is unreachable: not ready, but alive (no watch has stalled; none is open).
    let (status, body) = operator.probe("/readyz").await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("waiting for the API server"), "{body}");
    let (status, body) = operator.probe("/livez").await;
    assert_eq!(status, 200, "{body}");
    let metrics = operator.scrape().await;
    assert!(metrics.contains("ray_operator_is_leader 0"), "{metrics}");

    gate.send_replace(true);
    let body = until(
        Duration::from_secs(30),
        "ready after the caches synced",
        || async {
            let (status, body) = operator.probe("/readyz").await;
            (status == 200).then_some(body)
        },
    )
    .await;
    assert!(body.contains("caches synced"), "{body}");

    let clusters: Api<RayCluster> = Api::namespaced(setup.client.clone(), &setup.namespace);
    clusters
        .create(&PostParams::default(), &cluster("m", 1))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    until(Duration::from_secs(60), "the RayCluster ready", || async {
        let c = clusters.get("m").await.ok()?;
        (c.status?.state == Some(ClusterState::Ready)).then_some(())
    })
    .await;
    assert_eq!(pod_count(&setup, "m").await, 2);

    let ns = &setup.namespace;
    let metrics = until(
        Duration::from_secs(10),
        "the provisioning duration",
        || async {
            let text = operator.scrape().await;
            text.contains("kuberay_cluster_provisioned_duration_seconds{")
                .then_some(text)
        },
    )
    .await;
    for expected in [
        r#"ray_operator_kube_api_requests_total{verb="watch",resource="pods",code="200"}"#,
        r#"ray_operator_kube_api_requests_total{verb="watch",resource="rayclusters",code="200"}"#,
        r#"ray_operator_kube_api_requests_total{verb="create",resource="pods",code="201"}"#,
        r#"ray_operator_kube_api_requests_total{verb="patch",resource="rayclusters/status",code="200"}"#,
        r#"ray_operator_reconcile_total{controller="raycluster",result="success",category=""}"#,
        r#"ray_operator_reconcile_duration_seconds_count{controller="raycluster"}"#,
        r#"ray_operator_kube_api_request_duration_seconds_count{verb="create"}"#,
    ] {
        assert!(
            series(&metrics, expected).is_some_and(|v| v >= 1.0),
            "{expected} in\n{metrics}"
        );
    }
    assert_eq!(
        series(
            &metrics,
            r#"ray_operator_kube_api_requests_total{verb="create",resource="pods",code="201"}"#
        ),
        Some(2.0),
        "one head and one worker created"
    );
    assert!(metrics.contains("ray_operator_is_leader 1"));
    let uid = clusters
        .get("m")
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .metadata
        .uid
        .unwrap_or_default();
    assert!(
        metrics.contains(&format!(
            r#"kuberay_cluster_info{{name="m",namespace="{ns}",uid="{uid}",owner_kind="None"}} 1"#
        )),
        "{metrics}"
    );
    assert!(metrics.contains(&format!(
        r#"kuberay_cluster_condition_provisioned{{name="m",namespace="{ns}",uid="{uid}",condition="true"}} 1"#
    )));
    assert!(
        series(
            &metrics,
            &format!(r#"kuberay_cluster_provisioned_duration_seconds{{name="m",namespace="{ns}",uid="{uid}"}}"#)
        )
        .is_some_and(|s| s > 0.0 && s < 120.0)
    );

    // A suspended RayJob creates nothing but is reported from the RayJob cache.
    let jobs: Api<ray_api_v1::rayjob::RayJob> = Api::namespaced(setup.client.clone(), ns);
    let job: ray_api_v1::rayjob::RayJob = serde_json::from_value(serde_json::json!({
        "apiVersion": "ray.io/v1", "kind": "RayJob",
        "metadata": {"name": "j"},
        "spec": {"entrypoint": "python -c 'print(1)'", "suspend": true, "shutdownAfterJobFinishes": true,
            "rayClusterSpec": {"headGroupSpec": {"rayStartParams": {}, "template": {"spec": {"containers": [
                {"name": "ray-head", "image": "rayproject/ray:2.60.0"}]}}}}}
    }))
    .unwrap_or_else(|e| panic!("{e}"));
    let job_uid = jobs
        .create(&PostParams::default(), &job)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .metadata
        .uid
        .unwrap_or_default();
    let metrics = until(Duration::from_secs(10), "the RayJob series", || async {
        let text = operator.scrape().await;
        text.contains(&format!(
            r#"kuberay_job_deployment_status{{name="j",namespace="{ns}",uid="{job_uid}""#
        ))
        .then_some(text)
    })
    .await;
    assert!(
        metrics.contains(&format!(
            r#"kuberay_job_info{{name="j",namespace="{ns}",uid="{job_uid}"}} 1"#
        )),
        "{metrics}"
    );
    until(
        Duration::from_secs(10),
        "the RayJob reconcile counted",
        || async {
            series(
                &operator.scrape().await,
                r#"ray_operator_reconcile_total{controller="rayjob",result="success",category=""}"#,
            )
            .filter(|n| *n >= 1.0)
        },
    )
    .await;

    let (status, body) = operator.probe("/livez").await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("watches making progress"), "{body}");
    operator.stop().await;
}
