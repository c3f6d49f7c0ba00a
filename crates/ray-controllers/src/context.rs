//! What every controller shares: telemetry, the field manager, and the settings every controller is configured
//! with.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::NamespaceResourceScope;
use kube::{Api, Client, Resource};
use operator_runtime::events::EventSettings;
use operator_runtime::{Backoff, EventPublisher, Health, Metrics, RunnerSettings};
use ray_builders::RenderOptions;

use crate::metrics::KubeRayMetrics;

/// Where controllers report what they do: metrics, Events, and cache sync for readiness. One per process, shared
/// by every controller; [`Telemetry::default`] records into a registry nobody serves (tests, embedding).
#[derive(Clone, Debug)]
pub struct Telemetry {
    /// The Prometheus registry served on `--metrics-addr`: the operator's own series and [`Telemetry::kuberay`].
    pub metrics: Arc<Metrics>,
    /// KubeRay's `kuberay_*` series, collected from the controllers' caches at scrape time.
    pub kuberay: Arc<KubeRayMetrics>,
    /// Readiness and watch progress, served on `--health-addr`.
    pub health: Arc<Health>,
    /// The Event publisher every controller shares: one queue, spam filter and client with its own token bucket
    /// (the operator's, closed at shutdown). `None` (the default): each controller makes its own publisher on its
    /// client.
    pub events: Option<EventPublisher>,
}

impl Default for Telemetry {
    fn default() -> Self {
        let kuberay = Arc::new(KubeRayMetrics::default());
        Telemetry {
            metrics: Arc::new(Metrics::with_collector(kuberay.collector())),
            kuberay,
            health: Arc::new(Health::default()),
            events: None,
        }
    }
}

/// The field manager of every object and status the operator writes.
pub const FIELD_MANAGER: &str = "ray-operator";

/// Create and replace parameters naming the operator as the field manager.
pub(crate) fn post_params() -> kube::api::PostParams {
    kube::api::PostParams {
        field_manager: Some(FIELD_MANAGER.to_string()),
        ..kube::api::PostParams::default()
    }
}

/// Merge-patch parameters naming the operator as the field manager.
pub(crate) fn merge_params() -> kube::api::PatchParams {
    kube::api::PatchParams {
        field_manager: Some(FIELD_MANAGER.to_string()),
        ..kube::api::PatchParams::default()
    }
}

/// What every controller is configured with; `raycluster::Settings`, and the first part of the RayJob and
/// RayService settings.
#[derive(Debug, Clone)]
pub struct ControllerSettings {
    /// The namespace to watch, or `None` for all.
    pub namespace: Option<String>,
    /// How many objects are reconciled at once (one object is never reconciled twice at once).
    pub concurrency: u16,
    /// Rendering settings (the cluster DNS domain, the operator version, probes and init containers).
    pub render: RenderOptions,
    /// This operator instance's name in Events (`reportingInstance`), e.g. the pod name.
    pub instance: Option<String>,
    /// Where reconciles, the caches' objects and cache sync are reported.
    pub telemetry: Telemetry,
}

impl ControllerSettings {
    /// The handle a controller lists and watches through: its one namespace under `--watch-namespace`, else every
    /// namespace.
    pub(crate) fn api<K>(&self, client: &Client) -> Api<K>
    where
        K: Resource<Scope = NamespaceResourceScope>,
        K::DynamicType: Default,
    {
        match &self.namespace {
            Some(ns) => Api::namespaced(client.clone(), ns),
            None => Api::all(client.clone()),
        }
    }

    /// How logs and readiness name what is watched: `what` in the namespace or in all of them.
    pub(crate) fn scope(&self, what: &str) -> String {
        match &self.namespace {
            Some(ns) => format!("{what} in {ns}"),
            None => format!("{what} in <all namespaces>"),
        }
    }

    /// The Event publisher of a controller: [`Telemetry::events`], else a new one on `client` reporting as this
    /// operator and its `--instance`.
    pub(crate) fn events(&self, client: &Client) -> EventPublisher {
        match &self.telemetry.events {
            Some(events) => events.clone(),
            None => EventPublisher::with_settings(
                client,
                FIELD_MANAGER,
                self.instance.clone(),
                EventSettings::default(),
                self.telemetry.metrics.clone(),
            ),
        }
    }

    /// How the runner runs a controller watching `what` (`rayclusters`): concurrency, telemetry, back-off and
    /// the Event publisher for objects that cannot be read.
    pub(crate) fn runner(&self, events: &EventPublisher, what: &str) -> RunnerSettings {
        RunnerSettings {
            concurrency: self.concurrency,
            backoff: Backoff::default(),
            metrics: self.telemetry.metrics.clone(),
            health: self.telemetry.health.clone(),
            events: events.clone(),
            scope: self.scope(what),
        }
    }
}

/// How the RayJob and RayService controllers reach Ray dashboards.
#[derive(Debug, Clone)]
pub struct DashboardSettings {
    /// One dashboard URL used for every cluster instead of the head Service's DNS name, for an operator running
    /// outside the Kubernetes cluster (local development and tests).
    pub url_override: Option<String>,
    /// The per-request timeout of dashboard calls, kept short so a slow head delays only its own object.
    pub timeout: Duration,
}

impl Default for DashboardSettings {
    fn default() -> Self {
        DashboardSettings {
            url_override: None,
            timeout: DEFAULT_DASHBOARD_TIMEOUT,
        }
    }
}

/// The default per-request timeout of dashboard calls.
pub const DEFAULT_DASHBOARD_TIMEOUT: Duration = Duration::from_secs(2);
