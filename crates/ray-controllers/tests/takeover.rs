//! Taking over from a running KubeRay (issue #16): RayClusters and a RayService that KubeRay's operator created
//! and runs are reconciled by this operator once KubeRay is stopped and the CRDs are replaced with ours, and not
//! one pod is deleted or created, nor a RayCluster.
//!
//! KubeRay's CRDs and ours are both `*.ray.io`, so the test has a control plane of its own (not the shared one).
//! KubeRay cannot reach a Ray dashboard from here, so its RayService keeps a *pending* cluster that never becomes
//! active. Our RayService controller has every dashboard mapped to a real local Ray head, so the takeover goes
//! all the way: the cluster KubeRay created gets the Serve config, serves, and becomes the active one.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use common::{RAY_IMAGE, until, worker_group};
use futures::{FutureExt, StreamExt};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{ListParams, PostParams};
use kube::runtime::watcher;
use kube::{Api, Client, ResourceExt};
use ray_api_v1::RayCluster;
use ray_api_v1::rayservice::{ApplicationStatus, RayService, ServiceStatus};
use ray_controllers::context::{ControllerSettings, DashboardSettings};
use ray_testenv::{
    ControlPlane, ControlPlaneOptions, KUBERAY_VERSION, KubeRayOperator, KubeRayOptions, Layout,
    RayHead, RayHeadOptions,
};
use serde_json::json;

/// The standalone RayCluster.
const CLUSTER: &str = "plain";
/// The RayService.
const SERVICE: &str = "hello";
/// Our controllers' field manager (`ray_controllers::context::FIELD_MANAGER`).
const OUR_MANAGER: &str = "ray-operator";

/// Whether the pod is `Running` and `Ready` (kwok plays the kubelet).
fn running_and_ready(pod: &Pod) -> bool {
    pod.status.as_ref().is_some_and(|s| {
        s.phase.as_deref() == Some("Running")
            && s.conditions
                .iter()
                .flatten()
                .any(|c| c.type_ == "Ready" && c.status == "True")
    })
}

/// Every pod of the namespace, by name: its UID.
async fn pod_uids(pods: &Api<Pod>) -> Result<BTreeMap<String, String>, String> {
    let list = pods
        .list(&ListParams::default())
        .await
        .map_err(|e| e.to_string())?;
    Ok(list
        .items
        .iter()
        .map(|p| (p.name_any(), p.uid().unwrap_or_default()))
        .collect())
}

/// Names of the RayClusters of the namespace.
async fn cluster_names(clusters: &Api<RayCluster>) -> BTreeSet<String> {
    clusters
        .list(&ListParams::default())
        .await
        .unwrap_or_else(|e| panic!("listing RayClusters: {e}"))
        .items
        .iter()
        .map(ResourceExt::name_any)
        .collect()
}

/// Whether `manager` wrote the object's status subresource.
fn status_written_by(meta: &kube::api::ObjectMeta, manager: &str) -> bool {
    meta.managed_fields.iter().flatten().any(|m| {
        m.manager.as_deref() == Some(manager) && m.subresource.as_deref() == Some("status")
    })
}

/// What the pod watch saw from the moment KubeRay's pods were recorded: UIDs that appeared and pods that were
/// deleted or began terminating.
#[derive(Debug, Default)]
struct PodHistory {
    seen: BTreeSet<String>,
    gone: BTreeSet<String>,
}

/// Watches the namespace's pods into `history` until the task is aborted.
fn watch_pods(pods: Api<Pod>, history: Arc<Mutex<PodHistory>>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut events = watcher(pods, watcher::Config::default()).boxed();
        while let Some(event) = events.next().await {
            let mut h = history.lock().unwrap_or_else(PoisonError::into_inner);
            match event {
                Ok(watcher::Event::Apply(pod) | watcher::Event::InitApply(pod)) => {
                    let who = format!("{} ({})", pod.name_any(), pod.uid().unwrap_or_default());
                    if pod.metadata.deletion_timestamp.is_some() {
                        h.gone.insert(who.clone());
                    }
                    h.seen.insert(pod.uid().unwrap_or_default());
                }
                Ok(watcher::Event::Delete(pod)) => {
                    h.gone.insert(format!(
                        "{} ({})",
                        pod.name_any(),
                        pod.uid().unwrap_or_default()
                    ));
                }
                Ok(_) | Err(_) => {}
            }
        }
    })
}

fn serve_config(port: u16) -> String {
    let config = json!({
        "http_options": {"host": "127.0.0.1", "port": port},
        "applications": [{
            "name": "hello",
            "route_prefix": "/",
            "import_path": "ray_operator_demo.hello:app",
            "deployments": [{"name": "Hello", "num_replicas": 1, "ray_actor_options": {"num_cpus": 0}}],
        }],
    });
    serde_json::to_string_pretty(&config).unwrap_or_else(|e| panic!("{e}"))
}

fn cluster_spec(workers: i32) -> serde_json::Value {
    json!({
        "rayVersion": "2.60.0",
        "enableInTreeAutoscaling": false,
        "headGroupSpec": {"rayStartParams": {}, "template": {"spec": {"containers": [{
            "name": "ray-head", "image": RAY_IMAGE,
            "resources": {"requests": {"cpu": "1", "memory": "2Gi"}},
            "ports": [{"name": "dashboard", "containerPort": 8265}, {"name": "serve", "containerPort": 8000}],
        }]}}},
        "workerGroupSpecs": [worker_group("workers", workers, workers, workers)],
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_kuberay_is_taken_over_without_churn() {
    let layout = Layout::from_env().unwrap_or_else(|e| panic!("{e}"));
    let options = ControlPlaneOptions::new().unwrap_or_else(|e| panic!("{e}"));
    // The Ray head starts while the control plane and KubeRay do: each takes tens of seconds.
    let (plane, head) = tokio::join!(ControlPlane::start(options), async {
        RayHead::start(RayHeadOptions::new().unwrap_or_else(|e| panic!("{e}"))).await
    });
    let plane = plane.unwrap_or_else(|e| panic!("starting the control plane: {e}"));
    let head = head.unwrap_or_else(|e| panic!("starting the Ray head: {e}"));
    let client = plane.client().await.unwrap_or_else(|e| panic!("{e}"));
    ray_testenv::install_crds(&client, &layout.kuberay_crd_dir(KUBERAY_VERSION))
        .await
        .unwrap_or_else(|e| panic!("installing KubeRay's CRDs: {e}"));
    let namespace = ray_testenv::create_namespace(&client, "takeover")
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    // KubeRay runs the namespace.
    let mut kuberay_options =
        KubeRayOptions::new(KUBERAY_VERSION, plane.kubeconfig()).unwrap_or_else(|e| panic!("{e}"));
    kuberay_options.layout = layout.clone();
    kuberay_options
        .extra_args
        .push(format!("--watch-namespace={namespace}"));
    let kuberay = KubeRayOperator::start(kuberay_options)
        .await
        .unwrap_or_else(|e| panic!("starting KubeRay {KUBERAY_VERSION}: {e}"));

    let clusters: Api<RayCluster> = Api::namespaced(client.clone(), &namespace);
    let services: Api<RayService> = Api::namespaced(client.clone(), &namespace);
    let pods: Api<Pod> = Api::namespaced(client.clone(), &namespace);
    clusters
        .create(
            &PostParams::default(),
            &common::ray_object::<RayCluster>("RayCluster", CLUSTER, cluster_spec(2)),
        )
        .await
        .unwrap_or_else(|e| panic!("creating RayCluster {CLUSTER}: {e}"));
    let serve_port = ray_testenv::free_ports(1).unwrap_or_else(|e| panic!("{e}"))[0];
    let service: RayService = common::ray_object(
        "RayService",
        SERVICE,
        json!({"serveConfigV2": serve_config(serve_port), "rayClusterConfig": cluster_spec(1)}),
    );
    services
        .create(&PostParams::default(), &service)
        .await
        .unwrap_or_else(|e| panic!("creating RayService {SERVICE}: {e}"));

    // KubeRay creates every pod: the RayCluster's head and two workers, the RayService's pending cluster's head
    // and worker. Its RayService never gets further than pending: it cannot reach that cluster's dashboard.
    let pending = until(
        "KubeRay's RayService to record its pending cluster",
        async || {
            let service = services.get(SERVICE).await.map_err(|e| e.to_string())?;
            service
                .status
                .as_ref()
                .and_then(|s| s.pending_service_status.as_ref())
                .and_then(|p| p.ray_cluster_name.clone())
                .filter(|n| !n.is_empty())
                .ok_or_else(|| format!("{:?}", service.status))
        },
    )
    .await;
    let before = until("KubeRay's five pods to run and be ready", async || {
        let list = pods
            .list(&ListParams::default())
            .await
            .map_err(|e| e.to_string())?;
        let of = |cluster: &str| {
            list.items
                .iter()
                .filter(|p| p.labels().get("ray.io/cluster").map(String::as_str) == Some(cluster))
                .filter(|p| running_and_ready(p))
                .count()
        };
        if of(CLUSTER) == 3 && of(&pending) == 2 && list.items.len() == 5 {
            pod_uids(&pods).await
        } else {
            Err(format!(
                "{} of 3 and {} of 2 ready; {} pods",
                of(CLUSTER),
                of(&pending),
                list.items.len()
            ))
        }
    })
    .await;
    let kuberay_hash = clusters
        .get(&pending)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .annotations()
        .get("ray.io/hash-without-replicas-and-workers-to-delete")
        .cloned()
        .unwrap_or_else(|| panic!("KubeRay wrote no spec hash on {pending}"));
    let names_before = cluster_names(&clusters).await;
    assert_eq!(
        names_before,
        BTreeSet::from([CLUSTER.to_owned(), pending.clone()])
    );

    // From here on, every pod that appears or goes is seen.
    let history = Arc::new(Mutex::new(PodHistory::default()));
    let watch = watch_pods(pods.clone(), history.clone());

    // The upgrade: KubeRay stops, our CRDs replace its CRDs (server-side apply, forced), our operator starts.
    kuberay.stop();
    ray_testenv::install_crds(&client, &ray_testenv::project_crd_dir())
        .await
        .unwrap_or_else(|e| panic!("installing our CRDs over KubeRay's: {e}"));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let shutdown = async move {
        let _ = stopped.await;
    }
    .boxed()
    .shared();
    let controller = ControllerSettings {
        namespace: Some(namespace.clone()),
        concurrency: 4,
        render: ray_builders::RenderOptions::default(),
        instance: Some("takeover".into()),
        telemetry: ray_controllers::Telemetry::default(),
    };
    let ours = Client::clone(&client);
    let raycluster = tokio::spawn(ray_controllers::raycluster::run(
        ours.clone(),
        controller.clone(),
        Arc::new(ray_controllers::Expectations::default()),
        shutdown.clone(),
    ));
    let rayservice = tokio::spawn(ray_controllers::rayservice::run(
        ours,
        ray_controllers::rayservice::Settings {
            controller,
            dashboard: DashboardSettings {
                url_override: Some(head.dashboard_url().to_owned()),
                timeout: Duration::from_secs(5),
            },
            deletion_delay: Duration::from_secs(3),
            clock: Arc::new(ray_controllers::SystemClock),
        },
        shutdown,
    ));

    // Our RayCluster controller reports both clusters.
    for name in [CLUSTER, pending.as_str()] {
        until(&format!("our status on RayCluster {name}"), async || {
            let cluster = clusters.get(name).await.map_err(|e| e.to_string())?;
            let status = cluster.status.clone().unwrap_or_default();
            if status_written_by(&cluster.metadata, OUR_MANAGER)
                && status.observed_generation == cluster.metadata.generation
            {
                Ok(())
            } else {
                Err(format!("{:?}", cluster.metadata.managed_fields))
            }
        })
        .await;
    }
    // Our RayService controller gives KubeRay's pending cluster the Serve config and promotes it once it serves.
    let service = until("RayService to serve on KubeRay's cluster", async || {
        let service = services.get(SERVICE).await.map_err(|e| e.to_string())?;
        let status = service.status.clone().unwrap_or_default();
        let active = status.active_service_status.as_ref();
        let app = active
            .and_then(|a| a.application_statuses.get("hello"))
            .and_then(|a| a.status);
        if status_written_by(&service.metadata, OUR_MANAGER)
            && status.service_status == Some(ServiceStatus::Running)
            && app == Some(ApplicationStatus::Running)
        {
            Ok(service)
        } else {
            Err(format!("{status:?}"))
        }
    })
    .await;
    // A few more passes: anything deferred (a cluster scheduled for deletion, a replacement) would show now.
    tokio::time::sleep(Duration::from_secs(8)).await;
    assert!(
        !raycluster.is_finished() && !rayservice.is_finished(),
        "a controller stopped"
    );

    let status = service.status.clone().unwrap_or_default();
    assert_eq!(
        status
            .active_service_status
            .as_ref()
            .and_then(|a| a.ray_cluster_name.as_deref()),
        Some(pending.as_str()),
        "the cluster KubeRay created serves: {status:?}"
    );
    let now = services
        .get(SERVICE)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let now_status = now.status.unwrap_or_default();
    assert!(
        now_status
            .pending_service_status
            .as_ref()
            .and_then(|p| p.ray_cluster_name.as_deref())
            .is_none_or(str::is_empty),
        "no new cluster is prepared: {now_status:?}"
    );
    assert_eq!(
        cluster_names(&clusters).await,
        names_before,
        "no RayCluster created or deleted"
    );
    let cluster = clusters
        .get(&pending)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        !cluster.annotations().contains_key("ray.io/delete-after"),
        "KubeRay's cluster is not scheduled for deletion"
    );
    assert_eq!(
        cluster
            .annotations()
            .get("ray.io/hash-without-replicas-and-workers-to-delete"),
        Some(&kuberay_hash),
        "KubeRay's spec hash is left as it is"
    );

    let after = pod_uids(&pods).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(after, before, "the same pods (names and UIDs)");
    watch.abort();
    let _ = watch.await;
    {
        let history = history.lock().unwrap_or_else(PoisonError::into_inner);
        let expected: BTreeSet<String> = before.values().cloned().collect();
        assert_eq!(
            history.seen, expected,
            "no pod appeared while our operator ran"
        );
        assert!(
            history.gone.is_empty(),
            "no pod was deleted: {:?}",
            history.gone
        );
    }

    let _ = stop.send(());
    for task in [raycluster, rayservice] {
        let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
    }
}
