//! The RayService controller against the real local control plane (kwok runs the clusters' pods; the RayCluster
//! controller runs alongside and reports heads ready) and a real Ray head with Serve, to which every RayCluster's
//! dashboard is mapped through the dashboard URL override.
//!
//! There is one Ray head, so the active and the pending cluster of an upgrade both reach it. The tests observe
//! the upgrade where it differs: the pending cluster's head pod is kept unschedulable, so the pending cluster is
//! not ready and must not take the traffic, until a node for it appears.
//!
//! Serve on one head holds one declarative config (each deploy replaces every application), so distinct names are
//! not enough: the tests of this file take turns on the shared head.

mod common;

use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::{Controller, Scenario, until, worker_group};
use k8s_openapi::api::core::v1::{Node, Pod, Service};
use kube::Api;
use kube::api::{ListParams, Patch, PatchParams};
use ray_api_v1::RayCluster;
use ray_api_v1::rayservice::{ApplicationStatus, RayService, ServiceStatus};
use ray_controllers::rayservice::decide::{DELETE_AFTER_ANNOTATION, SERVE_CONFIG_HASH_ANNOTATION};
use serde_json::json;
use tokio::sync::Mutex;

/// Held by the test that has Serve on the shared head.
static TURN: Mutex<()> = Mutex::const_new(());

/// The port the shared head's Serve HTTP proxy listens on (the tests' Serve configs set it).
fn serve_port() -> u16 {
    static PORT: OnceLock<u16> = OnceLock::new();
    *PORT.get_or_init(|| ray_testenv::free_ports(1).unwrap_or_else(|e| panic!("{e}"))[0])
}

/// A Serve config with one application `hello` built from the demo module, on the shared head's Serve port.
fn serve_config(serve_port: u16, import_path: &str, args: Option<serde_json::Value>) -> String {
    let mut app = json!({
        "name": "hello",
        "route_prefix": "/",
        "import_path": import_path,
        "deployments": [{"name": "Hello", "num_replicas": 1, "ray_actor_options": {"num_cpus": 0}}],
    });
    if let Some(args) = args {
        app["args"] = args;
    }
    let config = json!({
        "http_options": {"host": "127.0.0.1", "port": serve_port},
        "applications": [app],
    });
    // JSON is YAML; Serve reads it either way.
    serde_json::to_string_pretty(&config).unwrap_or_else(|e| panic!("{e}"))
}

fn cluster_config(extra_head_env: &str) -> serde_json::Value {
    json!({
        "rayVersion": "2.60.0",
        "headGroupSpec": {"rayStartParams": {}, "template": {"spec": {"containers": [{
            "name": "ray-head", "image": common::RAY_IMAGE,
            "env": [{"name": "DEMO", "value": extra_head_env}],
            "ports": [{"name": "dashboard", "containerPort": 8265}, {"name": "serve", "containerPort": 8000}],
        }]}}},
        "workerGroupSpecs": [worker_group("workers", 1, 1, 1)],
    })
}

fn ray_service(name: &str, config: &str) -> RayService {
    common::ray_object(
        "RayService",
        name,
        json!({"serveConfigV2": config, "rayClusterConfig": cluster_config("one")}),
    )
}

/// The controllers every scenario of this file runs (the RayService controller's clusters need the RayCluster one).
const CONTROLLERS: &[Controller] = &[Controller::RayCluster, Controller::RayService];

// The steps of the RayService scenarios. The harness is a module of this test crate, so its type takes them here.
impl Scenario {
    fn services(&self) -> Api<RayService> {
        self.api()
    }

    fn clusters(&self) -> Api<RayCluster> {
        self.api()
    }

    fn svcs(&self) -> Api<Service> {
        self.api()
    }

    async fn service(&self, name: &str) -> RayService {
        self.services()
            .get(name)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// Waits until the RayService is `Running` on one active cluster with `hello` RUNNING and no pending cluster.
    async fn until_serving(&self, name: &str) -> RayService {
        until(&format!("RayService {name} serving"), async || {
            let service = self.service(name).await;
            let status = service.status.clone().unwrap_or_default();
            let app = status
                .active_service_status
                .as_ref()
                .and_then(|a| a.application_statuses.get("hello"))
                .and_then(|a| a.status);
            if status.service_status == Some(ServiceStatus::Running)
                && app == Some(ApplicationStatus::Running)
                && status.pending_service_status.is_none()
            {
                Ok(service)
            } else {
                Err(format!("{status:?}"))
            }
        })
        .await
    }

    async fn selector(&self, svc: &str) -> Option<String> {
        self.svcs()
            .get_opt(svc)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .and_then(|s| s.spec?.selector?.get("ray.io/cluster").cloned())
    }

    async fn cluster_names(&self) -> Vec<String> {
        self.clusters()
            .list(&ListParams::default())
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .items
            .into_iter()
            .filter(|c| c.metadata.deletion_timestamp.is_none())
            .filter_map(|c| c.metadata.name)
            .collect()
    }

    /// `GET /` on the head's Serve proxy: the body of a success.
    async fn curl(&self) -> Result<String, ServeAnswer> {
        let url = format!("http://127.0.0.1:{}/", serve_port());
        let unreachable = |e: reqwest::Error| ServeAnswer::Unreachable(e.to_string());
        let response = reqwest::get(&url).await.map_err(unreachable)?;
        let status = response.status();
        let text = response.text().await.map_err(unreachable)?;
        if status.is_success() {
            Ok(text)
        } else {
            Err(ServeAnswer::Refused(status.as_u16(), text))
        }
    }
}

fn active_name(service: &RayService) -> String {
    service
        .status
        .as_ref()
        .and_then(|s| s.active_service_status.as_ref())
        .and_then(|a| a.ray_cluster_name.clone())
        .unwrap_or_else(|| panic!("no active cluster in {:?}", service.status))
}

/// `(status, reason)` of the RayService's condition `type_`.
fn condition(service: &RayService, type_: &str) -> (String, String) {
    service
        .status
        .as_ref()
        .and_then(|s| s.conditions.iter().find(|c| c.type_ == type_))
        .map(|c| (c.status.clone(), c.reason.clone()))
        .unwrap_or_else(|| panic!("no {type_} condition in {:?}", service.status))
}

fn annotation(cluster: &RayCluster, key: &str) -> Option<String> {
    cluster.metadata.annotations.as_ref()?.get(key).cloned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_applies_config_in_place_and_keeps_serving_through_a_bad_config() {
    let _turn = TURN.lock().await;
    let env = Scenario::start("rayservice-serve", CONTROLLERS).await;
    let port = serve_port();
    env.create(ray_service(
        "hello",
        &serve_config(port, "ray_operator_demo.hello:app", None),
    ))
    .await;

    // Ready: the application runs on the real head and the operator says so.
    let service = env.until_serving("hello").await;
    let status = service.status.clone().unwrap_or_default();
    let cluster = active_name(&service);
    assert!(cluster.starts_with("hello-"), "{cluster}");
    assert_eq!(status.observed_generation, service.metadata.generation);
    assert!(status.num_serve_endpoints.unwrap_or(0) >= 1, "{status:?}");
    assert!(status.last_update_time.is_some());
    assert_eq!(
        condition(&service, "Ready"),
        ("True".into(), "NonZeroServeEndpoints".into())
    );
    let dashboard = env.dashboard();
    let serve = dashboard
        .serve_applications()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        serve.applications["hello"].status,
        ray_dashboard_client::ApplicationStatus::Running
    );
    let deployments = &status
        .active_service_status
        .as_ref()
        .unwrap_or_else(|| panic!("active"))
        .application_statuses["hello"]
        .serve_deployment_statuses;
    assert!(deployments.contains_key("Hello"), "{deployments:?}");
    assert_eq!(env.curl().await.as_deref(), Ok("hello"));
    assert_eq!(env.selector("hello-serve-svc").await, Some(cluster.clone()));
    assert_eq!(env.selector("hello-head-svc").await, Some(cluster.clone()));
    let pods: Api<Pod> = env.api();
    assert_eq!(
        head_serve_label(&pods, &cluster).await.as_deref(),
        Some("true")
    );
    let recorded = env
        .clusters()
        .get(&cluster)
        .await
        .map(|c| annotation(&c, SERVE_CONFIG_HASH_ANNOTATION))
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        recorded.is_some(),
        "the applied config is recorded on the cluster"
    );

    // A Serve config change is applied in place, to the same cluster.
    env.patch_spec::<RayService>(
        "hello",
        json!({"serveConfigV2": serve_config(port, "ray_operator_demo.hello:build", Some(json!({"greeting": "bonjour"})))}),
    )
    .await;
    until("the new config to serve", async || {
        env.curl().await.and_then(|text| {
            if text == "bonjour" {
                Ok(())
            } else {
                Err(ServeAnswer::Other(text))
            }
        })
    })
    .await;
    let service = env.until_serving("hello").await;
    assert_eq!(active_name(&service), cluster);
    assert_eq!(env.cluster_names().await, vec![cluster.clone()]);
    env.until_event_count("UpdatedServeApplications", &cluster, 2)
        .await;

    // A config Ray cannot deploy: DEPLOY_FAILED with Ray's message in the status, and the old application keeps
    // serving on the real head, through the same Services.
    env.patch_spec::<RayService>(
        "hello",
        json!({"serveConfigV2": serve_config(port, "no_such_module:app", None)}),
    )
    .await;
    let message = until("DEPLOY_FAILED in the status", async || {
        let status = env.service("hello").await.status.unwrap_or_default();
        let app = status
            .active_service_status
            .and_then(|a| a.application_statuses.get("hello").cloned())
            .unwrap_or_default();
        match app.status {
            Some(ApplicationStatus::DeployFailed) => Ok(app.message.unwrap_or_default()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    assert!(
        message.contains("No module named 'no_such_module'"),
        "{message}"
    );
    assert_eq!(env.curl().await.as_deref(), Ok("bonjour"));
    assert_eq!(env.selector("hello-serve-svc").await, Some(cluster.clone()));
    env.until_event_count("ServeApplicationFailed", "no_such_module", 1)
        .await;

    // A config Ray rejects outright (no import_path): a Warning event with Ray's validation message; the running
    // application is untouched.
    let no_import_path = serde_json::to_string(&json!({
        "http_options": {"host": "127.0.0.1", "port": port},
        "applications": [{"name": "hello", "route_prefix": "/"}],
    }))
    .unwrap_or_else(|e| panic!("{e}"));
    env.patch_spec::<RayService>("hello", json!({"serveConfigV2": no_import_path}))
        .await;
    env.until_event_count("FailedToUpdateServeApplications", "import_path", 1)
        .await;
    assert_eq!(env.curl().await.as_deref(), Ok("bonjour"));
    assert_eq!(env.selector("hello-serve-svc").await, Some(cluster.clone()));

    // serveConfigV2 that is not YAML: a Warning event naming the field; nothing is deployed or changed.
    let before = env.service("hello").await.status;
    env.patch_spec::<RayService>(
        "hello",
        json!({"serveConfigV2": "applications: [\n  - name: x\n"}),
    )
    .await;
    env.until_event_count("InvalidRayServiceSpec", "spec.serveConfigV2", 1)
        .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = env.service("hello").await.status;
    assert_eq!(
        after.as_ref().and_then(|s| s.active_service_status.clone()),
        before
            .as_ref()
            .and_then(|s| s.active_service_status.clone())
    );
    assert_eq!(env.curl().await.as_deref(), Ok("bonjour"));

    // excludeHeadPodFromServeSvc: the healthy head leaves the serve Service (its label turns false), on the same
    // cluster.
    env.patch_spec::<RayService>(
        "hello",
        json!({"excludeHeadPodFromServeSvc": true, "serveConfigV2": serve_config(port, "ray_operator_demo.hello:build", Some(json!({"greeting": "bonjour"})))}),
    )
    .await;
    until(
        "the head pod to leave the serve Service",
        async || match head_serve_label(&pods, &cluster).await {
            Some(label) if label == "false" => Ok(()),
            other => Err(format!("ray.io/serve is {other:?}")),
        },
    )
    .await;
    assert_eq!(env.cluster_names().await, vec![cluster]);
    env.finish().await;
}

/// The `ray.io/serve` label of the cluster's head pod.
async fn head_serve_label(pods: &Api<Pod>, cluster: &str) -> Option<String> {
    let heads = pods
        .list(
            &ListParams::default()
                .labels(&format!("ray.io/cluster={cluster},ray.io/node-type=head")),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    heads
        .items
        .first()
        .and_then(|p| p.metadata.labels.as_ref()?.get("ray.io/serve").cloned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_spec_change_moves_traffic_only_when_the_new_cluster_serves_even_across_a_restart()
{
    let _turn = TURN.lock().await;
    let mut env = Scenario::start("rayservice-upgrade", CONTROLLERS).await;
    let port = serve_port();
    env.create(ray_service(
        "svc",
        &serve_config(port, "ray_operator_demo.hello:app", None),
    ))
    .await;
    let service = env.until_serving("svc").await;
    let old = active_name(&service);

    // Appending a worker group updates the serving cluster in place.
    let mut config = cluster_config("one");
    let extra = worker_group("extra", 0, 0, 1);
    config["workerGroupSpecs"]
        .as_array_mut()
        .unwrap_or_else(|| panic!("groups"))
        .push(extra);
    env.patch_spec::<RayService>("svc", json!({"rayClusterConfig": config}))
        .await;
    until(
        "the appended worker group on the serving cluster",
        async || {
            let cluster = env.clusters().get(&old).await.map_err(|e| e.to_string())?;
            match cluster.spec.worker_group_specs.len() {
                2 => Ok(()),
                n => Err(format!("{n} groups")),
            }
        },
    )
    .await;
    assert_eq!(env.cluster_names().await, vec![old.clone()]);
    assert!(
        env.service("svc")
            .await
            .status
            .unwrap_or_default()
            .pending_service_status
            .is_none()
    );

    // A cluster spec change whose new head cannot be scheduled yet: a pending cluster is prepared, and the
    // traffic stays on the old cluster while the new one is not ready.
    let pool = format!("pool-{}", env.namespace);
    let mut config = config.clone();
    config["headGroupSpec"]["template"]["spec"]["containers"][0]["env"][0]["value"] = json!("two");
    config["headGroupSpec"]["template"]["spec"]["nodeSelector"] =
        json!({"ray-operator-test/pool": pool});
    env.patch_spec::<RayService>("svc", json!({"rayClusterConfig": config}))
        .await;
    let new = until("a pending cluster", async || {
        let status = env.service("svc").await.status.unwrap_or_default();
        let pending = status
            .pending_service_status
            .and_then(|p| p.ray_cluster_name)
            .ok_or("no pending cluster yet".to_string())?;
        env.clusters()
            .get(&pending)
            .await
            .map_err(|e| e.to_string())?;
        Ok::<_, String>(pending)
    })
    .await;
    assert_ne!(new, old);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let status = env.service("svc").await.status.unwrap_or_default();
    assert_eq!(
        status.service_status,
        Some(ServiceStatus::Running),
        "{status:?}"
    );
    assert_eq!(active_name(&env.service("svc").await), old);
    assert_eq!(env.selector("svc-serve-svc").await, Some(old.clone()));
    assert_eq!(env.selector("svc-head-svc").await, Some(old.clone()));
    assert_eq!(env.event_count("UpdatedServeApplications", &new).await, 0);
    assert_eq!(curl_ok(&env).await, "hello");
    let service = env.service("svc").await;
    assert_eq!(
        condition(&service, "UpgradeInProgress"),
        ("True".into(), "BothActivePendingClustersExist".into())
    );
    assert_eq!(condition(&service, "Ready").0, "True");

    // The operator crashes and comes back: it resumes the same upgrade, without a new cluster and without
    // pushing the config to the serving cluster again.
    let pushes_to_old = env.event_count("UpdatedServeApplications", &old).await;
    let recorded = annotation(
        &env.clusters()
            .get(&old)
            .await
            .unwrap_or_else(|e| panic!("{e}")),
        SERVE_CONFIG_HASH_ANNOTATION,
    );
    env.crash(Controller::RayService).await;
    env.run(Controller::RayService).await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    let mut names = env.cluster_names().await;
    names.sort();
    let mut expected = vec![old.clone(), new.clone()];
    expected.sort();
    assert_eq!(names, expected);
    let status = env.service("svc").await.status.unwrap_or_default();
    assert_eq!(
        status
            .pending_service_status
            .and_then(|p| p.ray_cluster_name),
        Some(new.clone())
    );
    assert_eq!(
        env.event_count("UpdatedServeApplications", &old).await,
        pushes_to_old
    );
    assert_eq!(
        annotation(
            &env.clusters()
                .get(&old)
                .await
                .unwrap_or_else(|e| panic!("{e}")),
            SERVE_CONFIG_HASH_ANNOTATION
        ),
        recorded
    );
    assert_eq!(env.selector("svc-serve-svc").await, Some(old.clone()));

    // A node for the new head appears: the new cluster becomes ready, gets the config, takes the traffic, and
    // the old cluster is deleted after the deletion delay.
    let node_name = format!("rs-{}", env.namespace);
    ray_testenv::create_fake_node(&env.client, &node_name)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let nodes: Api<Node> = Api::all(env.client.clone());
    nodes
        .patch(
            &node_name,
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"ray-operator-test/pool": pool}}})),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let service = env.until_serving("svc").await;
    assert_eq!(active_name(&service), new);
    assert_eq!(
        condition(&service, "UpgradeInProgress"),
        ("False".into(), "NoPendingCluster".into())
    );
    assert_eq!(env.selector("svc-serve-svc").await, Some(new.clone()));
    assert_eq!(env.selector("svc-head-svc").await, Some(new.clone()));
    env.until_event_count("UpdatedServeApplications", &new, 1)
        .await;
    env.until_event_count("PromotedRayCluster", &new, 1).await;
    let switched = Instant::now();
    let old_cluster = env
        .clusters()
        .get_opt(&old)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    if let Some(old_cluster) = old_cluster {
        assert!(annotation(&old_cluster, DELETE_AFTER_ANNOTATION).is_some());
    }
    env.until_cluster_deleted(&old).await;
    assert!(switched.elapsed() < common::RAYSERVICE_DELETION_DELAY + Duration::from_secs(10));
    // The Event follows the delete request, so it may land just after the cluster is gone.
    env.until_event_count("DeletedRayCluster", &old, 1).await;
    assert_eq!(curl_ok(&env).await, "hello");
    let labels: BTreeMap<String, String> = env
        .clusters()
        .get(&new)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .metadata
        .labels
        .unwrap_or_default();
    assert_eq!(
        labels
            .get("ray.io/originated-from-cr-name")
            .map(String::as_str),
        Some("svc")
    );

    let _ = ray_testenv::remove_node(&env.client, &node_name).await;
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suspend_deletes_every_cluster_and_service_and_resume_serves_again_on_a_new_cluster() {
    let _turn = TURN.lock().await;
    let env = Scenario::start("rayservice-suspend", CONTROLLERS).await;
    let port = serve_port();
    env.create(ray_service(
        "sus",
        &serve_config(port, "ray_operator_demo.hello:app", None),
    ))
    .await;
    let old = active_name(&env.until_serving("sus").await);

    // Suspend: every RayCluster and both Services go, and the status says so.
    env.patch_spec::<RayService>("sus", json!({"suspend": true}))
        .await;
    let service = until("the RayService to be suspended", async || {
        let service = env.service("sus").await;
        let suspended = service.status.as_ref().is_some_and(|s| {
            s.conditions
                .iter()
                .any(|c| c.type_ == "Suspended" && c.status == "True")
        });
        if suspended {
            Ok(service)
        } else {
            Err(format!("{:?}", service.status))
        }
    })
    .await;
    let left = env
        .clusters()
        .list(&ListParams::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .items;
    assert!(left.is_empty(), "clusters left: {left:?}");
    for svc in ["sus-serve-svc", "sus-head-svc"] {
        let found = env
            .svcs()
            .get_opt(svc)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(found.is_none(), "{svc} is still there: {found:?}");
    }
    let status = service.status.clone().unwrap_or_default();
    assert!(status.active_service_status.is_none(), "{status:?}");
    assert!(status.pending_service_status.is_none(), "{status:?}");
    assert_ne!(status.service_status, Some(ServiceStatus::Running));
    assert_eq!(
        condition(&service, "Suspended"),
        ("True".into(), "SuspendComplete".into())
    );
    assert_eq!(
        condition(&service, "Suspending"),
        ("False".into(), "SuspendComplete".into())
    );
    assert_eq!(
        condition(&service, "Ready"),
        ("False".into(), "SuspendComplete".into())
    );
    env.until_event_count("DeletedRayCluster", &old, 1).await;
    env.until_event_count("DeletedService", "sus-serve-svc", 1)
        .await;
    env.until_event_count("DeletedService", "sus-head-svc", 1)
        .await;
    env.until_event_count("SuspendedRayService", "", 1).await;

    // It stays empty while suspended.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(env.cluster_names().await.is_empty());

    // Resume: a new cluster, the Serve config pushed to it, the Services back, serving again.
    env.patch_spec::<RayService>("sus", json!({"suspend": false}))
        .await;
    let service = env.until_serving("sus").await;
    let new = active_name(&service);
    assert_ne!(new, old);
    assert_eq!(
        condition(&service, "Suspended"),
        ("False".into(), "Resumed".into())
    );
    assert_eq!(condition(&service, "Ready").0, "True");
    assert_eq!(env.cluster_names().await, vec![new.clone()]);
    assert_eq!(env.selector("sus-serve-svc").await, Some(new.clone()));
    assert_eq!(env.selector("sus-head-svc").await, Some(new.clone()));
    env.until_event_count("UpdatedServeApplications", &new, 1)
        .await;
    env.until_event_count("ResumedRayService", "", 1).await;
    assert_eq!(curl_ok(&env).await, "hello");
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upgrade_strategy_none_keeps_one_cluster_says_why_and_still_applies_serve_config() {
    let _turn = TURN.lock().await;
    let env = Scenario::start("rayservice-no-upgrade", CONTROLLERS).await;
    let port = serve_port();
    let mut service = ray_service(
        "keep",
        &serve_config(port, "ray_operator_demo.hello:app", None),
    );
    service.spec.upgrade_strategy = Some(ray_api_v1::rayservice::RayServiceUpgradeStrategy {
        type_: Some(ray_api_v1::RayServiceUpgradeType::NoUpgrade),
        ..Default::default()
    });
    env.create(service).await;
    let cluster = active_name(&env.until_serving("keep").await);

    // A change that would need a new cluster: none is prepared, and the status and an Event say why.
    env.patch_spec::<RayService>("keep", json!({"rayClusterConfig": cluster_config("two")}))
        .await;
    let message = until("UpgradeInProgress to say the change waits", async || {
        let service = env.service("keep").await;
        let found = service.status.as_ref().and_then(|s| {
            s.conditions
                .iter()
                .find(|c| c.type_ == "UpgradeInProgress" && c.reason == "UpgradeStrategyNone")
                .map(|c| c.message.clone())
        });
        found.ok_or_else(|| format!("{:?}", service.status))
    })
    .await;
    assert!(
        message.contains("upgradeStrategy.type is None") && message.contains(&cluster),
        "{message}"
    );
    env.until_event_count("UpgradeStrategyNone", &cluster, 1)
        .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(env.cluster_names().await, vec![cluster.clone()]);
    let service = env.service("keep").await;
    let status = service.status.clone().unwrap_or_default();
    assert!(status.pending_service_status.is_none(), "{status:?}");
    assert_eq!(status.service_status, Some(ServiceStatus::Running));
    assert_eq!(condition(&service, "Ready").0, "True");
    assert_eq!(env.event_count("PreparingNewRayCluster", "").await, 0);
    assert_eq!(curl_ok(&env).await, "hello");

    // The Serve config still goes to the one cluster, in place.
    env.patch_spec::<RayService>(
        "keep",
        json!({"serveConfigV2": serve_config(port, "ray_operator_demo.hello:build", Some(json!({"greeting": "bonjour"})))}),
    )
    .await;
    until("the new config to serve", async || {
        env.curl().await.and_then(|text| {
            if text == "bonjour" {
                Ok(())
            } else {
                Err(ServeAnswer::Other(text))
            }
        })
    })
    .await;
    env.until_event_count("UpdatedServeApplications", &cluster, 2)
        .await;
    assert_eq!(env.cluster_names().await, vec![cluster.clone()]);
    assert_eq!(active_name(&env.until_serving("keep").await), cluster);
    env.finish().await;
}

async fn curl_ok(env: &Scenario) -> String {
    env.curl()
        .await
        .unwrap_or_else(|e| panic!("GET / on Serve: {e}"))
}

/// What `GET /` on Serve answered when it was not what a scenario waits for.
#[derive(Debug, PartialEq, Eq)]
enum ServeAnswer {
    /// No answer (connection refused, reset).
    Unreachable(String),
    /// An HTTP error status and its body.
    Refused(u16, String),
    /// A success with another body.
    Other(String),
}

impl std::fmt::Display for ServeAnswer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ServeAnswer::Unreachable(error) => write!(f, "unreachable: {error}"),
            ServeAnswer::Refused(status, body) => write!(f, "{status}: {body}"),
            ServeAnswer::Other(body) => write!(f, "answered {body:?}"),
        }
    }
}
