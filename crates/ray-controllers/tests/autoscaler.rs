//! The real Ray autoscaler (`ray kuberay-autoscaler` of the test environment's Ray) drives a RayCluster through our
//! operator, on the local control plane and a local Ray head.
//!
//! kwok runs no containers, so this test plays the kubelet for the Ray containers: the Ray head runs on loopback
//! with the identity the head pod gives its Ray container (`RAY_CLOUD_INSTANCE_ID`, `RAY_NODE_TYPE_NAME`,
//! `RAY_enable_autoscaler_v2`), the autoscaler runs with the head pod's autoscaler container's command and
//! environment (plus the API server's address and a client certificate, which a pod gets from its service account,
//! and `--gcs-address`, since the head is not on the pod's IP), and every worker pod the operator creates gets a
//! Ray worker node on loopback with that pod's identity, stopped when the pod is deleted.
//!
//! Autoscaler v2 matches Ray nodes to pods by `RAY_CLOUD_INSTANCE_ID`, so scale-up from pending tasks and idle
//! scale-down through `workersToDelete` both run end to end.

mod common;

use std::collections::BTreeMap;

use common::{Controller, RAY_IMAGE, Scenario, until};
use k8s_openapi::api::core::v1::{Container, Pod};
use kube::api::ListParams;
use kube::{Api, ResourceExt};
use ray_api_v1::RayCluster;
use ray_testenv::{RayHead, RayHeadOptions, RayProcess};
use serde_json::json;

/// The variables of a Ray container the autoscaler relies on to match Ray nodes to pods and pick its version.
const RAY_IDENTITY: &[&str] = &[
    "RAY_CLOUD_INSTANCE_ID",
    "RAY_NODE_TYPE_NAME",
    "RAY_enable_autoscaler_v2",
];

/// How long an idle worker lives before the autoscaler removes it.
const IDLE_TIMEOUT_SECONDS: u64 = 10;

/// The environment of `container` as the kubelet would give it in `pod`: literal values, and the downward API
/// fields the operator uses (the pod's name, namespace and labels). Other sources (Secrets, ...) are left out.
fn container_env(pod: &Pod, container: &Container) -> Vec<(String, String)> {
    let labels = pod.metadata.labels.clone().unwrap_or_default();
    let mut env = Vec::new();
    for var in container.env.iter().flatten() {
        let value = if let Some(value) = &var.value {
            Some(value.clone())
        } else if let Some(field) = var.value_from.as_ref().and_then(|f| f.field_ref.as_ref()) {
            match field.field_path.as_str() {
                "metadata.name" => Some(pod.name_any()),
                "metadata.namespace" => pod.namespace(),
                path => path
                    .strip_prefix("metadata.labels['")
                    .and_then(|rest| rest.strip_suffix("']"))
                    .and_then(|key| labels.get(key).cloned()),
            }
        } else {
            None
        };
        if let Some(value) = value {
            env.push((var.name.clone(), value));
        }
    }
    env
}

/// The first container of `pod` named `name`.
fn container<'a>(pod: &'a Pod, name: &str) -> &'a Container {
    pod.spec
        .as_ref()
        .and_then(|s| s.containers.iter().find(|c| c.name == name))
        .unwrap_or_else(|| panic!("pod {} has no container {name}", pod.name_any()))
}

/// The identity variables of the Ray container (the first container) of `pod`.
fn ray_identity(pod: &Pod) -> Vec<(String, String)> {
    let ray = pod
        .spec
        .as_ref()
        .and_then(|s| s.containers.first())
        .unwrap_or_else(|| panic!("pod {} has no container", pod.name_any()));
    container_env(pod, ray)
        .into_iter()
        .filter(|(name, _)| RAY_IDENTITY.contains(&name.as_str()))
        .collect()
}

impl Scenario {
    async fn pods_of(&self, cluster: &str, node_type: &str) -> Vec<Pod> {
        self.api::<Pod>()
            .list(&ListParams::default().labels(&format!(
                "ray.io/cluster={cluster},ray.io/node-type={node_type}"
            )))
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .items
            .into_iter()
            .filter(|p| p.metadata.deletion_timestamp.is_none())
            .collect()
    }

    /// The one running pod of `node_type` of `cluster`.
    async fn until_one_running(&self, cluster: &str, node_type: &str) -> Pod {
        until(&format!("one running {node_type} pod"), async || {
            let pods = self.pods_of(cluster, node_type).await;
            match pods.as_slice() {
                [pod]
                    if pod.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running") =>
                {
                    Ok(pod.clone())
                }
                other => Err(format!(
                    "{} pods: {:?}",
                    other.len(),
                    other
                        .iter()
                        .map(|p| (
                            p.name_any(),
                            p.status.as_ref().and_then(|s| s.phase.clone())
                        ))
                        .collect::<Vec<_>>()
                )),
            }
        })
        .await
    }
}

/// Fails with the autoscaler's output if it has exited.
fn check_alive(autoscaler: &mut RayProcess) -> Result<(), String> {
    autoscaler
        .check_running()
        .map_err(|e| format!("the autoscaler exited: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn autoscaler_v2_scales_a_worker_group_up_for_pending_tasks_and_removes_the_idle_worker() {
    let env = Scenario::start("autoscaler", &[Controller::RayCluster]).await;
    let name = "scaled";
    let cluster: RayCluster = common::ray_object(
        "RayCluster",
        name,
        json!({
            "rayVersion": "2.60.0",
            "enableInTreeAutoscaling": true,
            "autoscalerOptions": {"version": "v2", "idleTimeoutSeconds": IDLE_TIMEOUT_SECONDS},
            // The head takes no tasks, so a task needs a worker.
            "headGroupSpec": {"rayStartParams": {"num-cpus": "0"}, "template": {"spec": {"containers": [
                {"name": "ray-head", "image": RAY_IMAGE}]}}},
            "workerGroupSpecs": [{"groupName": "small", "replicas": 0, "minReplicas": 0, "maxReplicas": 2,
                "rayStartParams": {"num-cpus": "1"}, "template": {"spec": {"containers": [
                    {"name": "ray-worker", "image": RAY_IMAGE}]}}}]
        }),
    );
    env.create(cluster).await;
    let head_pod = env.until_one_running(name, "head").await;

    // The head's Ray container, on loopback.
    let mut options = RayHeadOptions::new().unwrap_or_else(|e| panic!("{e}"));
    options.num_cpus = 0;
    options.env = ray_identity(&head_pod);
    assert!(
        options
            .env
            .iter()
            .any(|(k, v)| k == "RAY_enable_autoscaler_v2" && v == "true"),
        "autoscalerOptions.version v2 sets RAY_enable_autoscaler_v2=true on the head: {:?}",
        options.env
    );
    let head = RayHead::start(options)
        .await
        .unwrap_or_else(|e| panic!("starting the Ray head: {e}"));

    // The head pod's autoscaler container, as the kubelet would run it, with what a pod gets from its service
    // account (the API server's address and credentials) and the head's GCS address.
    let plane = ray_testenv::ControlPlane::shared()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let server = url_host_port(plane.server());
    let pki = plane.dir().join("pki");
    let sidecar = container(&head_pod, "autoscaler");
    let mut argv: Vec<String> = sidecar
        .command
        .iter()
        .flatten()
        .chain(sidecar.args.iter().flatten())
        .cloned()
        .collect();
    let script = argv
        .last_mut()
        .unwrap_or_else(|| panic!("the autoscaler container has no command"));
    assert!(script.starts_with("ray kuberay-autoscaler"), "{script}");
    script.push_str(&format!(" --gcs-address {}", head.gcs_address()));
    let mut autoscaler_env = container_env(&head_pod, sidecar);
    autoscaler_env.extend([
        ("KUBERNETES_SERVICE_HOST".to_owned(), server.0),
        ("KUBERNETES_SERVICE_PORT_HTTPS".to_owned(), server.1),
        (
            "RAY_KUBERAY_CLIENT_CERT_PATH".to_owned(),
            pki.join("admin.crt").display().to_string(),
        ),
        (
            "RAY_KUBERAY_CLIENT_KEY_PATH".to_owned(),
            pki.join("admin.key").display().to_string(),
        ),
        (
            "RAY_KUBERAY_CA_CERT_PATH".to_owned(),
            pki.join("ca.crt").display().to_string(),
        ),
    ]);
    let mut autoscaler = head
        .run_in_venv("autoscaler", &argv, &autoscaler_env)
        .unwrap_or_else(|e| panic!("starting the autoscaler: {e}"));

    // A task that needs a CPU only a worker has: pending until the autoscaler scales the group up.
    let driver_script = format!(
        "import ray\nray.init(address={gcs:?})\n\n@ray.remote(num_cpus=1)\ndef where():\n    import os\n    return os.environ.get('RAY_CLOUD_INSTANCE_ID', '')\n\nprint('TASK RAN ON', ray.get(where.remote(), timeout=600))\n",
        gcs = head.gcs_address()
    );
    let mut driver = head
        .run_in_venv(
            "driver",
            &["python".to_owned(), "-c".to_owned(), driver_script.clone()],
            &[],
        )
        .unwrap_or_else(|e| panic!("starting the driver: {e}"));

    let clusters: Api<RayCluster> = env.api();
    let worker_pod = until(
        "the autoscaler raises the group's replicas and the operator creates the worker pod",
        async || {
            check_alive(&mut autoscaler)?;
            let cluster = clusters.get(name).await.map_err(|e| e.to_string())?;
            let replicas = cluster.spec.worker_group_specs[0].replicas;
            let workers = env.pods_of(name, "worker").await;
            match workers.as_slice() {
                [pod] if replicas == Some(1) => Ok(pod.clone()),
                other => Err(format!(
                    "replicas {replicas:?}, {} worker pods; autoscaler output:\n{}",
                    other.len(),
                    autoscaler.log_tail(20)
                )),
            }
        },
    )
    .await;
    let worker_name = worker_pod.name_any();
    let worker_pod = env.until_one_running(name, "worker").await;
    assert_eq!(worker_pod.name_any(), worker_name);

    // The worker pod's Ray container, on loopback, with the pod's identity.
    let identity = ray_identity(&worker_pod);
    let identity_map: BTreeMap<_, _> = identity.iter().cloned().collect();
    assert_eq!(
        identity_map.get("RAY_CLOUD_INSTANCE_ID"),
        Some(&worker_name),
        "the worker's Ray node is named after its pod"
    );
    assert_eq!(
        identity_map.get("RAY_NODE_TYPE_NAME").map(String::as_str),
        Some("small")
    );
    let worker = head
        .start_worker(1, &identity)
        .unwrap_or_else(|e| panic!("starting the Ray worker: {e}"));

    until("the pending task runs on the new worker", async || {
        check_alive(&mut autoscaler)?;
        let out = driver.log_tail(30);
        if out.contains(&format!("TASK RAN ON {worker_name}")) {
            Ok(())
        } else {
            match driver.check_running() {
                Ok(()) => Err(format!("driver output so far:\n{out}")),
                Err(e) => Err(format!("the driver exited without the result: {e}")),
            }
        }
    })
    .await;

    // Idle now: the autoscaler names the worker in workersToDelete, and the operator deletes exactly that pod.
    let deleted = until(
        "the autoscaler asks for the idle worker's deletion and the operator deletes it",
        async || {
            check_alive(&mut autoscaler)?;
            let pods = env.pods_of(name, "worker").await;
            let cluster = clusters.get(name).await.map_err(|e| e.to_string())?;
            let group = &cluster.spec.worker_group_specs[0];
            if pods.is_empty() {
                Ok(group.replicas)
            } else {
                Err(format!(
                    "worker pods {:?}, replicas {:?}, scaleStrategy {:?}; autoscaler output:\n{}",
                    pods.iter().map(ResourceExt::name_any).collect::<Vec<_>>(),
                    group.replicas,
                    group.scale_strategy,
                    autoscaler.log_tail(20)
                ))
            }
        },
    )
    .await;
    assert_eq!(deleted, Some(0), "the group is scaled back to zero");
    // What a kubelet does with a deleted pod's containers.
    worker.stop();
    let deletions = env.events("DeletedWorkerPod").await;
    assert!(
        deletions
            .iter()
            .any(|e| e.note.as_deref().unwrap_or_default().contains(&worker_name)),
        "an Event names the deleted pod {worker_name}: {:?}",
        deletions.iter().map(|e| &e.note).collect::<Vec<_>>()
    );
    assert_eq!(
        env.pods_of(name, "head").await[0].name_any(),
        head_pod.name_any(),
        "the head pod is untouched"
    );

    // Autoscaler v2 clears a finished workersToDelete with its next scale request: new demand brings a new worker
    // (a new pod, never the deleted one back) and an empty list.
    let _second_driver = head
        .run_in_venv(
            "second-driver",
            &["python".to_owned(), "-c".to_owned(), driver_script],
            &[],
        )
        .unwrap_or_else(|e| panic!("starting the second driver: {e}"));
    let replacement = until(
        "the next scale-up clears workersToDelete and brings a new worker pod",
        async || {
            check_alive(&mut autoscaler)?;
            let cluster = clusters.get(name).await.map_err(|e| e.to_string())?;
            let group = &cluster.spec.worker_group_specs[0];
            let listed = group
                .scale_strategy
                .as_ref()
                .map(|s| s.workers_to_delete.clone())
                .unwrap_or_default();
            let pods = env.pods_of(name, "worker").await;
            match pods.as_slice() {
                [pod] if listed.is_empty() && group.replicas == Some(1) => Ok(pod.name_any()),
                other => Err(format!(
                    "workersToDelete {listed:?}, replicas {:?}, worker pods {:?}; autoscaler output:\n{}",
                    group.replicas,
                    other.iter().map(ResourceExt::name_any).collect::<Vec<_>>(),
                    autoscaler.log_tail(20)
                )),
            }
        },
    )
    .await;
    assert_ne!(replacement, worker_name, "a new pod, not the deleted one");
    autoscaler.stop();
    driver.stop();
    head.stop();
    env.finish().await;
}

/// `https://127.0.0.1:6443` → (`127.0.0.1`, `6443`).
fn url_host_port(server: &str) -> (String, String) {
    let rest = server.trim_start_matches("https://").trim_end_matches('/');
    let (host, port) = rest
        .rsplit_once(':')
        .unwrap_or_else(|| panic!("no port in the API server address {server}"));
    (host.to_owned(), port.to_owned())
}
