//! What every reconcile shares: the client, the event recorder, the pod cache and the expectations.

use std::sync::Arc;

use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::core::v1::{Pod, Service};
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::reflector::Store;
use kube::{Api, Client, Resource};
use ray_builders::RenderOptions;

use crate::expectations::Expectations;
use crate::health::Health;
use crate::metrics::Metrics;

/// Where controllers report what they do: metrics, and cache sync for readiness. One per process, shared by
/// every controller; [`Telemetry::default`] records into a registry nobody serves (tests, embedding).
#[derive(Clone, Debug, Default)]
pub struct Telemetry {
    /// The Prometheus registry served on `--metrics-addr`.
    pub metrics: Arc<Metrics>,
    /// Readiness and watch progress, served on `--health-addr`.
    pub health: Arc<Health>,
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

/// The Event recorder of a controller, reporting as this operator and its `--instance`.
pub(crate) fn event_recorder(client: &Client, instance: Option<String>) -> Recorder {
    Recorder::new(
        client.clone(),
        Reporter {
            controller: FIELD_MANAGER.to_string(),
            instance,
        },
    )
}

/// Shared state of one controller (one watched namespace, or all of them).
pub struct Context {
    /// The API client.
    pub client: Client,
    /// Publishes events.k8s.io Events, aggregating repeats.
    pub recorder: Recorder,
    /// The label-selected, pruned pod cache (see [`crate::pod_cache`]).
    pub pods: Store<Pod>,
    /// The operator's Services (label `ray.io/cluster`), so a reconcile finds an existing head Service without a
    /// GET request; only a Service the cache does not show yet is read from or created on the API server.
    pub services: Store<Service>,
    /// Creates and deletes not yet visible in `pods`; shared across namespaces.
    pub expectations: Arc<Expectations>,
    /// Operator-wide rendering settings.
    pub render: RenderOptions,
    /// Metrics (reconciles, provisioning durations).
    pub metrics: Arc<Metrics>,
}
