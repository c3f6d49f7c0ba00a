//! What every reconcile shares: the client, the Event publisher, the pod cache and the expectations.

use std::sync::Arc;

use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::core::v1::{Pod, Service};
use kube::runtime::reflector::Store;
use kube::{Api, Client, Resource};
use ray_builders::RenderOptions;

use crate::expectations::Expectations;
use crate::metrics::KubeRayMetrics;
use operator_runtime::{Health, Metrics};

/// Where controllers report what they do: metrics, and cache sync for readiness. One per process, shared by
/// every controller; [`Telemetry::default`] records into a registry nobody serves (tests, embedding).
#[derive(Clone, Debug)]
pub struct Telemetry {
    /// The Prometheus registry served on `--metrics-addr`: the operator's own series and [`Telemetry::kuberay`].
    pub metrics: Arc<Metrics>,
    /// KubeRay's `kuberay_*` series, collected from the controllers' caches at scrape time.
    pub kuberay: Arc<KubeRayMetrics>,
    /// Readiness and watch progress, served on `--health-addr`.
    pub health: Arc<Health>,
}

impl Default for Telemetry {
    fn default() -> Self {
        let kuberay = Arc::new(KubeRayMetrics::default());
        Telemetry {
            metrics: Arc::new(Metrics::with_collector(kuberay.collector())),
            kuberay,
            health: Arc::new(Health::default()),
        }
    }
}

/// The field manager of every object and status the operator writes.
pub const FIELD_MANAGER: &str = "ray-operator";

/// The handle a controller lists and watches through: its one namespace under `--watch-namespace`, else every
/// namespace.
pub(crate) fn scoped_api<K>(client: &Client, namespace: Option<&str>) -> Api<K>
where
    K: Resource<Scope = NamespaceResourceScope>,
    K::DynamicType: Default,
{
    match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

/// How logs and readiness name what a controller watches.
pub(crate) fn scope_label(namespace: Option<&str>) -> String {
    namespace.unwrap_or("<all namespaces>").to_string()
}

/// How the runner runs a controller of this operator: its concurrency, telemetry and the Event publisher for
/// objects that cannot be read.
pub(crate) fn runner_settings(
    events: &operator_runtime::EventPublisher,
    telemetry: &Telemetry,
    concurrency: u16,
    scope: String,
) -> operator_runtime::RunnerSettings {
    operator_runtime::RunnerSettings {
        concurrency,
        backoff: operator_runtime::Backoff::default(),
        metrics: telemetry.metrics.clone(),
        health: telemetry.health.clone(),
        events: events.clone(),
        scope,
    }
}

/// The Event publisher of a controller, reporting as this operator and its `--instance`.
pub(crate) fn event_publisher(
    client: &Client,
    instance: Option<String>,
) -> operator_runtime::EventPublisher {
    operator_runtime::EventPublisher::new(client, FIELD_MANAGER, instance)
}

/// Shared state of one controller (one watched namespace, or all of them).
pub struct Context {
    /// The API client.
    pub client: Client,
    /// The one Event publisher (cuts long notes, logs failures).
    pub events: operator_runtime::EventPublisher,
    /// The label-selected, pruned pod cache (see [`crate::pod_cache`]).
    pub pods: Store<Pod>,
    /// The operator's Services (label `ray.io/cluster`), so a reconcile finds an existing head Service without a
    /// GET request; only a Service the cache does not show yet is read from or created on the API server.
    pub services: Store<Service>,
    /// Creates and deletes not yet visible in `pods`; shared across namespaces.
    pub expectations: Arc<Expectations>,
    /// Operator-wide rendering settings.
    pub render: RenderOptions,
    /// KubeRay's series (provisioning durations).
    pub metrics: Arc<KubeRayMetrics>,
}
