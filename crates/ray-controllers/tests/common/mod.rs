//! The harness every controller integration test shares: the local control plane of this test process, a namespace
//! per scenario, one Ray head per test binary, and the operator's controllers run in-process for the scenario's
//! namespace.
//!
//! A kube `Client` belongs to the tokio runtime it was made on (its request buffer runs as a task there), and every
//! `#[tokio::test]` has a runtime of its own. So each scenario makes its own client and runs its own controllers;
//! only processes are shared between scenarios, through statics: the control plane
//! ([`ray_testenv::ControlPlane::shared`]) and the Ray head ([`ray_head`]), whose supervisor holds child
//! processes and no tasks. Statics are never dropped; the testenv watchdog stops their processes when the test
//! process exits.
//!
//! This file is the only place that names the controllers' entry points, so moving one is a change here alone.

#![allow(
    dead_code,
    reason = "each test binary uses a part of the harness; what one leaves unused, another uses"
)]

use ray_controllers::context::{ControllerSettings, DashboardSettings};
use std::fmt::Debug;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures::FutureExt;
use futures::future::{BoxFuture, Shared};
use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::api::events::v1::Event;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Api, Client, Resource, ResourceExt};
use ray_api_v1::RayCluster;
use ray_controllers::{Clock, Expectations, SystemClock};
use ray_dashboard_client::DashboardClient;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;
use tokio::sync::{OnceCell, oneshot};
use tokio::task::JoinHandle;

/// The longest any single wait may take (generous: the machine is shared with builds).
pub const TIMEOUT: Duration = Duration::from_secs(120);

/// How long the RayService controller keeps a cluster that lost the traffic (short, so a test sees it go).
pub const RAYSERVICE_DELETION_DELAY: Duration = Duration::from_secs(3);

/// How long a stopping controller may take to let its running reconciles finish.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// The Ray image of the clusters the tests create (kwok runs nothing, so the tag only has to be valid).
pub const RAY_IMAGE: &str = "rayproject/ray:2.60.0";

/// Waits until `check` returns `Ok`, failing with `what` and the last observation after [`TIMEOUT`].
pub async fn until<T, E: std::fmt::Display>(
    what: &str,
    check: impl AsyncFnMut() -> Result<T, E>,
) -> T {
    ray_testenv::until(what, TIMEOUT, check).await
}

/// The Ray head of this test binary, started by the first scenario that asks for it. Scenarios run on it at the same
/// time, so whatever they create there (Ray jobs, named after their RayJobs) must have names of their own.
async fn ray_head() -> &'static ray_testenv::RayHead {
    static HEAD: OnceCell<ray_testenv::RayHead> = OnceCell::const_new();
    HEAD.get_or_init(|| async {
        let options = ray_testenv::RayHeadOptions::new().unwrap_or_else(|e| panic!("{e}"));
        ray_testenv::RayHead::start(options)
            .await
            .unwrap_or_else(|e| panic!("starting the Ray head: {e}"))
    })
    .await
}

/// The token of this test binary's token-authenticated Ray head ([`Scenario::start_on_token_head`]): random,
/// base64, as the operator generates them.
pub fn head_token() -> &'static str {
    static TOKEN: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    TOKEN.get_or_init(|| {
        ray_controllers::dashboard_auth::generate_token().unwrap_or_else(|e| panic!("{e}"))
    })
}

/// A Ray head with token authentication (`RAY_AUTH_MODE=token`, [`head_token`]), started on first use.
async fn token_ray_head() -> &'static ray_testenv::RayHead {
    static HEAD: OnceCell<ray_testenv::RayHead> = OnceCell::const_new();
    HEAD.get_or_init(|| async {
        let mut options = ray_testenv::RayHeadOptions::new().unwrap_or_else(|e| panic!("{e}"));
        options.auth_token = Some(head_token().to_owned());
        ray_testenv::RayHead::start(options)
            .await
            .unwrap_or_else(|e| panic!("starting the token-authenticated Ray head: {e}"))
    })
    .await
}

/// A client of the shared control plane whose every request that is not a read (GET: get, list, watch) increments
/// `writes`, to count a controller's writes.
pub async fn counting_client(writes: Arc<AtomicUsize>) -> Client {
    let plane = ray_testenv::ControlPlane::shared()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let kubeconfig =
        kube::config::Kubeconfig::read_from(plane.kubeconfig()).unwrap_or_else(|e| panic!("{e}"));
    let config = kube::Config::from_custom_kubeconfig(
        kubeconfig,
        &kube::config::KubeConfigOptions::default(),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let layer =
        tower::util::MapRequestLayer::new(move |request: http::Request<kube::client::Body>| {
            if request.method() != http::Method::GET {
                writes.fetch_add(1, Ordering::SeqCst);
            }
            request
        });
    kube::client::ClientBuilder::try_from(config)
        .unwrap_or_else(|e| panic!("{e}"))
        .with_layer(&layer)
        .build()
}

/// A `ray.io/v1` object of `kind` named `name` with `spec`.
pub fn ray_object<K: DeserializeOwned>(kind: &str, name: &str, spec: serde_json::Value) -> K {
    serde_json::from_value(json!({
        "apiVersion": "ray.io/v1",
        "kind": kind,
        "metadata": {"name": name},
        "spec": spec,
    }))
    .unwrap_or_else(|e| panic!("a {kind} {name}: {e}"))
}

/// A worker group of [`RAY_IMAGE`] workers, as JSON for a spec or a patch.
pub fn worker_group(name: &str, replicas: i32, min: i32, max: i32) -> serde_json::Value {
    json!({"groupName": name, "replicas": replicas, "minReplicas": min, "maxReplicas": max,
        "rayStartParams": {}, "template": {"spec": {"containers": [
            {"name": "ray-worker", "image": RAY_IMAGE}]}}})
}

/// A controller a scenario runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(
    clippy::enum_variant_names,
    reason = "each controller is named after the kind it reconciles"
)]
pub enum Controller {
    /// `ray_controllers::raycluster`.
    RayCluster,
    /// `ray_controllers::rayjob`.
    RayJob,
    /// `ray_controllers::rayservice`.
    RayService,
    /// `ray_controllers::raycronjob`, on the system clock (see [`Scenario::run_raycronjob_controller`] for another).
    RayCronJob,
}

/// One scenario's world: its own client and namespace, and the controllers it runs there. [`Scenario::finish`]
/// stops the controllers and deletes the namespace; dropping an unfinished scenario (a failed assertion) does the
/// same, so a failing scenario leaves nothing running for the others.
pub struct Scenario {
    /// A client of the shared control plane, bound to this test's runtime.
    pub client: Client,
    /// The scenario's namespace, the only one its controllers watch.
    pub namespace: String,
    stop: Option<oneshot::Sender<()>>,
    shutdown: Shared<BoxFuture<'static, ()>>,
    running: Vec<(Controller, JoinHandle<()>)>,
    head: Option<&'static ray_testenv::RayHead>,
    /// Map dashboards to the token-authenticated head instead of the plain one.
    token_head: bool,
    /// The clock of the RayJob and RayService controllers (the system clock unless the scenario sets one).
    clock: Arc<dyn Clock>,
}

impl Scenario {
    /// Makes a client of the shared control plane (started by the first caller) and a namespace `<prefix>-*`,
    /// with the project's CRDs installed, and runs `controllers` there.
    pub async fn start(prefix: &str, controllers: &[Controller]) -> Scenario {
        Self::start_with(prefix, controllers, false, Arc::new(SystemClock)).await
    }

    /// Like [`Scenario::start`], with every cluster's dashboard mapped to the token-authenticated Ray head.
    pub async fn start_on_token_head(prefix: &str, controllers: &[Controller]) -> Scenario {
        Self::start_with(prefix, controllers, true, Arc::new(SystemClock)).await
    }

    /// Like [`Scenario::start`], with the RayJob and RayService controllers (also when run again after a crash)
    /// reading the time from `clock`.
    pub async fn start_with_clock(
        prefix: &str,
        controllers: &[Controller],
        clock: Arc<dyn Clock>,
    ) -> Scenario {
        Self::start_with(prefix, controllers, false, clock).await
    }

    async fn start_with(
        prefix: &str,
        controllers: &[Controller],
        token_head: bool,
        clock: Arc<dyn Clock>,
    ) -> Scenario {
        let (_, client, namespace) = ray_testenv::ControlPlane::shared_namespace(prefix)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let (stop, stopped) = oneshot::channel::<()>();
        let shutdown = async move {
            let _ = stopped.await;
        }
        .boxed()
        .shared();
        let mut scenario = Scenario {
            client,
            namespace,
            stop: Some(stop),
            shutdown,
            running: Vec::new(),
            head: None,
            token_head,
            clock,
        };
        for controller in controllers {
            scenario.run(*controller).await;
        }
        scenario
    }

    /// Runs `controller` for this namespace (again, after [`Scenario::crash`]), on this scenario's client.
    pub async fn run(&mut self, controller: Controller) {
        match controller {
            Controller::RayCluster => self.run_raycluster_controller(self.client.clone()),
            Controller::RayJob => self.run_rayjob_controller().await,
            Controller::RayService => self.run_rayservice_controller().await,
            Controller::RayCronJob => self.run_raycronjob_controller(Arc::new(SystemClock)),
        }
    }

    /// The shared Ray head, which the RayJob and RayService controllers of this scenario talk to.
    pub fn head(&self) -> &'static ray_testenv::RayHead {
        self.head
            .unwrap_or_else(|| panic!("the scenario runs no controller that uses the Ray head"))
    }

    /// A client of the shared head's dashboard (Jobs and Serve APIs).
    pub fn dashboard(&self) -> DashboardClient {
        DashboardClient::new(self.head().dashboard_url())
            .unwrap_or_else(|e| panic!("{e}"))
            .with_timeout(Duration::from_secs(10))
    }

    /// The shared Ray head, started on first use; every cluster's dashboard is mapped to it.
    async fn use_ray_head(&mut self) -> &'static ray_testenv::RayHead {
        let head = if self.token_head {
            token_ray_head().await
        } else {
            ray_head().await
        };
        self.head = Some(head);
        head
    }

    /// What every controller of this scenario is configured with.
    fn controller_settings(&self) -> ControllerSettings {
        ControllerSettings {
            namespace: Some(self.namespace.clone()),
            concurrency: 4,
            render: ray_builders::RenderOptions::default(),
            instance: Some("test".into()),
            telemetry: ray_controllers::Telemetry::default(),
        }
    }

    /// Every cluster's dashboard on the shared Ray head.
    async fn dashboard_settings(&mut self) -> DashboardSettings {
        DashboardSettings {
            url_override: Some(self.use_ray_head().await.dashboard_url().to_owned()),
            timeout: Duration::from_secs(5),
        }
    }

    /// Runs the RayCluster controller for this namespace on `client` (this scenario's, or one that counts
    /// requests).
    pub fn run_raycluster_controller(&mut self, client: Client) {
        let expectations = Arc::new(Expectations::default());
        let run = ray_controllers::raycluster::run(
            client,
            self.controller_settings(),
            expectations,
            self.shutdown.clone(),
        );
        self.running
            .push((Controller::RayCluster, tokio::spawn(run)));
    }

    /// Runs the RayJob controller for this namespace, with every cluster's dashboard on the shared Ray head.
    async fn run_rayjob_controller(&mut self) {
        let settings = ray_controllers::rayjob::Settings {
            controller: self.controller_settings(),
            dashboard: self.dashboard_settings().await,
            clock: self.clock.clone(),
        };
        let run =
            ray_controllers::rayjob::run(self.client.clone(), settings, self.shutdown.clone());
        self.running.push((Controller::RayJob, tokio::spawn(run)));
    }

    /// Runs the RayService controller for this namespace, with every cluster's dashboard on the shared Ray head.
    async fn run_rayservice_controller(&mut self) {
        let settings = ray_controllers::rayservice::Settings {
            controller: self.controller_settings(),
            dashboard: self.dashboard_settings().await,
            deletion_delay: RAYSERVICE_DELETION_DELAY,
            clock: self.clock.clone(),
        };
        let run =
            ray_controllers::rayservice::run(self.client.clone(), settings, self.shutdown.clone());
        self.running
            .push((Controller::RayService, tokio::spawn(run)));
    }

    /// Runs the RayCronJob controller for this namespace, reading the time from `clock`.
    pub fn run_raycronjob_controller(&mut self, clock: Arc<dyn Clock>) {
        let settings = ray_controllers::raycronjob::Settings {
            controller: self.controller_settings(),
            clock,
        };
        let run =
            ray_controllers::raycronjob::run(self.client.clone(), settings, self.shutdown.clone());
        self.running
            .push((Controller::RayCronJob, tokio::spawn(run)));
    }

    /// Kills `which` mid-flight, as a crash would (nothing is finished or flushed).
    pub async fn crash(&mut self, which: Controller) {
        let (crashed, running) = std::mem::take(&mut self.running)
            .into_iter()
            .partition(|(controller, _)| *controller == which);
        self.running = running;
        for (_, task) in crashed {
            task.abort();
            let _ = task.await;
        }
    }

    /// Whether every controller this scenario started still runs (none returned or panicked).
    pub fn controllers_running(&self) -> bool {
        self.running.iter().all(|(_, task)| !task.is_finished())
    }

    /// `K`s in this scenario's namespace.
    pub fn api<K>(&self) -> Api<K>
    where
        K: Resource<Scope = NamespaceResourceScope>,
        K::DynamicType: Default,
    {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    /// Creates `object` in this scenario's namespace.
    pub async fn create<K>(&self, object: K) -> K
    where
        K: Resource<Scope = NamespaceResourceScope> + Serialize + DeserializeOwned + Clone + Debug,
        K::DynamicType: Default,
    {
        self.api::<K>()
            .create(&PostParams::default(), &object)
            .await
            .unwrap_or_else(|e| panic!("creating {}: {e}", object.name_any()))
    }

    /// Merges `spec` into the spec of the `K` named `name`.
    pub async fn patch_spec<K>(&self, name: &str, spec: serde_json::Value)
    where
        K: Resource<Scope = NamespaceResourceScope> + DeserializeOwned + Clone + Debug,
        K::DynamicType: Default,
    {
        self.api::<K>()
            .patch(
                name,
                &PatchParams::default(),
                &Patch::Merge(json!({ "spec": spec })),
            )
            .await
            .unwrap_or_else(|e| panic!("patching {name}: {e}"));
    }

    /// Waits until the RayCluster `name` is gone or being deleted.
    pub async fn until_cluster_deleted(&self, name: &str) {
        let clusters: Api<RayCluster> = self.api();
        until(
            &format!("RayCluster {name} to be deleted"),
            async || match clusters.get_opt(name).await.map_err(|e| e.to_string())? {
                Some(c) if c.metadata.deletion_timestamp.is_none() => {
                    Err("still there".to_string())
                }
                _ => Ok(()),
            },
        )
        .await
    }

    /// The Events of this namespace with `reason`.
    pub async fn events(&self, reason: &str) -> Vec<Event> {
        self.api::<Event>()
            .list(&ListParams::default())
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .items
            .into_iter()
            .filter(|e| e.reason.as_deref() == Some(reason))
            .collect()
    }

    /// How many times an Event with `reason` whose note contains `text` was published (repeats included).
    pub async fn event_count(&self, reason: &str, text: &str) -> i32 {
        self.events(reason)
            .await
            .into_iter()
            .filter(|e| e.note.as_deref().is_some_and(|n| n.contains(text)))
            .map(|e| e.series.map_or(1, |s| s.count))
            .sum()
    }

    /// Waits until Events with `reason` exist and returns them. Events are written from a queue after the reconcile
    /// that reports them, so a test that saw the reconcile's effect polls for its Event.
    pub async fn until_events(&self, reason: &str) -> Vec<Event> {
        until(&format!("a {reason} Event"), async || {
            let events = self.events(reason).await;
            if events.is_empty() {
                Err("none yet")
            } else {
                Ok(events)
            }
        })
        .await
    }

    /// Waits until at least `at_least` Events with `reason` whose note contains `text` were published.
    pub async fn until_event_count(&self, reason: &str, text: &str, at_least: i32) {
        until(
            &format!("{at_least} {reason} Events about {text}"),
            async || match self.event_count(reason, text).await {
                n if n >= at_least => Ok(()),
                n => Err(format!("{n} so far")),
            },
        )
        .await
    }

    /// Stops the controllers (letting running reconciles finish) and deletes the namespace.
    pub async fn finish(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        for (_, task) in std::mem::take(&mut self.running) {
            let _ = tokio::time::timeout(STOP_GRACE, task).await;
        }
        let namespaces: Api<Namespace> = Api::all(self.client.clone());
        let _ = namespaces
            .delete(&self.namespace, &DeleteParams::default())
            .await;
    }
}

impl Drop for Scenario {
    /// A scenario that did not finish (it failed): the controllers are aborted and the namespace is deleted from a
    /// thread with a runtime and a client of its own, since this test's runtime may be unwinding.
    fn drop(&mut self) {
        let Some(stop) = self.stop.take() else {
            return;
        };
        let _ = stop.send(());
        for (_, task) in self.running.drain(..) {
            task.abort();
        }
        let namespace = self.namespace.clone();
        let _ = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async {
                let delete = async {
                    let plane = ray_testenv::ControlPlane::shared().await.ok()?;
                    let namespaces: Api<Namespace> = Api::all(plane.client().await.ok()?);
                    namespaces
                        .delete(&namespace, &DeleteParams::default())
                        .await
                        .ok()
                };
                let _ = tokio::time::timeout(STOP_GRACE, delete).await;
            });
        })
        .join();
    }
}
