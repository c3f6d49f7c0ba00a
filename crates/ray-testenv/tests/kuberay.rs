//! KubeRay's own operator, built by `cargo xtask testenv install`, runs against a control plane of its own and
//! creates a RayCluster's pods. [`KUBERAY_VERSION`] is part of every install, so a missing one fails (naming the
//! install command); [`KUBERAY_SEED_VERSION`] is built only on request, so its test skips when it is missing.

use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::api::{ApiResource, DynamicObject, ListParams, PostParams};
use kube::core::GroupVersionKind;
use kube::{Api, Client};
use ray_testenv::{
    ControlPlane, ControlPlaneOptions, KUBERAY_SEED_VERSION, KUBERAY_VERSION, KubeRayOperator,
    KubeRayOptions, Layout, create_namespace, install_crds, is_running, until,
};

const RAY_IMAGE: &str = "rayproject/ray:2.60.0";

/// One head and a worker group of two, the smallest spec KubeRay's validation accepts.
fn small_cluster(name: &str) -> DynamicObject {
    let container = |name: &str| serde_json::json!({"name": name, "image": RAY_IMAGE});
    let object = serde_json::json!({
        "apiVersion": "ray.io/v1",
        "kind": "RayCluster",
        "metadata": {"name": name},
        "spec": {
            "rayVersion": "2.60.0",
            "headGroupSpec": {
                "rayStartParams": {},
                "template": {"spec": {"containers": [container("ray-head")]}},
            },
            "workerGroupSpecs": [{
                "groupName": "small",
                "replicas": 2,
                "minReplicas": 0,
                "maxReplicas": 2,
                "rayStartParams": {},
                "template": {"spec": {"containers": [container("ray-worker")]}},
            }],
        },
    });
    serde_json::from_value(object).unwrap_or_else(|e| panic!("a RayCluster object: {e}"))
}

/// Phases of the pods KubeRay created for cluster `name`, once there are three.
async fn three_pods(client: &Client, ns: &str, name: &str) -> Result<Vec<String>, String> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let list = pods
        .list(&ListParams::default().labels(&format!("ray.io/cluster={name}")))
        .await
        .map_err(|e| e.to_string())?;
    let phases: Vec<String> = list
        .items
        .iter()
        .map(|p| {
            p.status
                .as_ref()
                .and_then(|s| s.phase.clone())
                .unwrap_or_default()
        })
        .collect();
    if phases.len() == 3 {
        Ok(phases)
    } else {
        Err(format!("{} pods: {phases:?}", phases.len()))
    }
}

#[tokio::test]
async fn kuberay_creates_the_pods_of_a_raycluster() {
    let layout = Layout::from_env().unwrap_or_else(|e| panic!("{e}"));
    layout
        .check_kuberay(KUBERAY_VERSION)
        .unwrap_or_else(|e| panic!("{e}"));
    let crds = [
        "rayclusters.ray.io",
        "raycronjobs.ray.io",
        "rayjobs.ray.io",
        "rayservices.ray.io",
    ];
    small_cluster_runs(layout, KUBERAY_VERSION, &crds, &[]).await;
}

/// The seed API's release: no `--qps`/`--burst` (left out, and said so), no RayCronJob CRD.
#[tokio::test]
async fn kuberay_seed_release_creates_the_pods_of_a_raycluster() {
    let layout = Layout::from_env().unwrap_or_else(|e| panic!("{e}"));
    if let Err(e) = layout.check_kuberay(KUBERAY_SEED_VERSION) {
        eprintln!("skipped: {e}");
        return;
    }
    let crds = ["rayclusters.ray.io", "rayjobs.ray.io", "rayservices.ray.io"];
    small_cluster_runs(
        layout,
        KUBERAY_SEED_VERSION,
        &crds,
        &["--qps=50", "--burst=100"],
    )
    .await;
}

/// Installs `version`'s CRDs (expecting `crds`) into a fresh control plane, runs its operator with `--qps=50
/// --burst=100` (expecting `ignored` left out), and checks that a small RayCluster gets three running pods.
async fn small_cluster_runs(layout: Layout, version: &str, crds: &[&str], ignored: &[&str]) {
    // KubeRay's CRDs have the same names as ours: a control plane of its own, never the shared one.
    let mut options = ControlPlaneOptions::new().unwrap_or_else(|e| panic!("{e}"));
    options.layout = layout.clone();
    let plane = ControlPlane::start(options)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let client = plane.client().await.unwrap_or_else(|e| panic!("{e}"));
    let mut installed = install_crds(&client, &layout.kuberay_crd_dir(version))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    installed.sort();
    assert_eq!(installed, crds);

    let mut kuberay_options =
        KubeRayOptions::new(version, plane.kubeconfig()).unwrap_or_else(|e| panic!("{e}"));
    kuberay_options.layout = layout;
    kuberay_options.qps = Some(50.0);
    kuberay_options.burst = Some(100);
    let mut kuberay = KubeRayOperator::start(kuberay_options)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(kuberay.version(), version);
    assert_eq!(kuberay.ignored_flags(), ignored);
    assert_eq!(
        kuberay.args().iter().any(|a| a == "--qps=50"),
        ignored.is_empty(),
        "{:?}",
        kuberay.args()
    );
    let metrics = reqwest::get(kuberay.metrics_url())
        .await
        .unwrap_or_else(|e| panic!("GET {}: {e}", kuberay.metrics_url()))
        .text()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        metrics.contains("controller_runtime_"),
        "controller-runtime metrics expected"
    );

    let ns = create_namespace(&client, "kuberay")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let resource = ApiResource::from_gvk(&GroupVersionKind::gvk("ray.io", "v1", "RayCluster"));
    let clusters: Api<DynamicObject> = Api::namespaced_with(client.clone(), &ns, &resource);
    clusters
        .create(&PostParams::default(), &small_cluster("small"))
        .await
        .unwrap_or_else(|e| panic!("creating RayCluster {ns}/small: {e}"));

    let log = kuberay.log_path();
    let phases = until(
        "KubeRay to create the head and two worker pods",
        Duration::from_secs(90),
        async || three_pods(&client, &ns, "small").await,
    )
    .await;
    assert_eq!(
        phases.len(),
        3,
        "{phases:?}; KubeRay's log: {}",
        log.display()
    );
    // kwok plays kubelet: every pod KubeRay created is scheduled and runs.
    let running = until(
        "the three pods to run",
        Duration::from_secs(60),
        async || {
            let phases = three_pods(&client, &ns, "small").await?;
            if phases.iter().all(|p| p == "Running") {
                Ok(phases)
            } else {
                Err(format!("phases {phases:?}"))
            }
        },
    )
    .await;
    assert_eq!(running.len(), 3);
    kuberay
        .check_running()
        .unwrap_or_else(|e| panic!("KubeRay exited: {e}"));

    let pid = kuberay.pid();
    kuberay.stop();
    assert!(!is_running(pid), "KubeRay's operator survived stop()");
}
