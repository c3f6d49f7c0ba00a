//! Runs the RayService controller: the RayService watch, the watches of what it owns (RayClusters and Services,
//! which trigger a reconcile of their RayService), and the head pod and EndpointSlice caches the reconcile reads
//! (which trigger nothing: the reconcile polls while anything is in progress). Each readable RayService is
//! reconciled by [`super::reconcile_service`]. A clock that jumps ([`Clock::jumps`]) makes every RayService be
//! looked at again.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::core::DeserializeGuard;
use kube::runtime::controller::Action as Requeue;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::{Controller, watcher};
use kube::{Api, Client};
use operator_runtime::Shutdown;
use operator_runtime::runner::{self, Cache, Reconciler};
use ray_api_v1::raycluster::RayCluster;
use ray_api_v1::rayservice::RayService;

use super::observe::{self, HEAD_POD_SELECTOR, ORIGIN_LABEL_SELECTOR};
use super::{Context, Error, events, reconcile_service};
use crate::clock::{Clock, changes};
use crate::context::{ControllerSettings, DashboardSettings};
use crate::pod_index::{self, PodIndex};

/// KubeRay's default delay between a cluster losing the traffic and its deletion.
pub const DEFAULT_DELETION_DELAY: Duration = Duration::from_secs(60);

/// Settings of the RayService controller.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Those of every controller.
    pub controller: ControllerSettings,
    /// How Ray dashboards are reached.
    pub dashboard: DashboardSettings,
    /// How long a cluster that no longer serves is kept before it is deleted (so in-flight requests finish).
    pub deletion_delay: Duration,
    /// Where the time comes from: [`SystemClock`](crate::clock::SystemClock) in the operator, a
    /// [`ManualClock`](crate::clock::ManualClock) in a test that jumps it.
    pub clock: Arc<dyn Clock>,
}

/// Runs the RayService controller until `shutdown` resolves.
pub async fn run(client: Client, settings: Settings, shutdown: Shutdown) {
    let common = &settings.controller;
    let objects: Api<DeserializeGuard<RayService>> = common.api(&client);
    let clusters: Api<RayCluster> = common.api(&client);
    let svcs: Api<Service> = common.api(&client);
    let events = common.events(&client);
    let runner = common.runner(&events, "rayservices");
    let pods = Arc::new(PodIndex::new());
    let pod_stream = pod_index::watch(common.api(&client), HEAD_POD_SELECTOR, pods.clone());
    let (endpoint_slices, slice_stream) = observe::endpoint_slice_cache(common.api(&client));
    let caches = vec![
        pods.readiness(common.scope("head pods")),
        Cache::of(common.scope("serve endpoints"), endpoint_slices.clone()),
    ];
    let telemetry = settings.controller.telemetry.clone();
    let ctx = Arc::new(Context {
        client,
        events,
        settings,
        pods,
        endpoint_slices,
    });
    let owned = || watcher::Config::default().labels(ORIGIN_LABEL_SELECTOR);
    let jumps = ctx.settings.clock.jumps();
    let mut controller = Controller::new(objects, watcher::Config::default())
        .owns(clusters, owned())
        .owns(svcs, owned())
        // The controller polls the cache watches (and stops them with it); they trigger no reconcile.
        .watches_stream(pod_stream, |_: Pod| no_trigger())
        .watches_stream(slice_stream, |_: EndpointSlice| no_trigger())
        .trigger_backoff(operator_runtime::watch_backoff());
    if let Some(jumps) = jumps {
        // Requeue timers run on the real time; a deletion time the jump reached is acted on now.
        controller = controller.reconcile_all_on(changes(jumps));
    }
    let _registration = telemetry
        .kuberay
        .watch_rayservices(controller.store(), service_conditions);
    runner::run(controller, ctx, caches, runner, shutdown).await;
}

/// The RayServices a cache update reconciles: none.
fn no_trigger() -> Option<ObjectRef<DeserializeGuard<RayService>>> {
    None
}

impl Reconciler for Context {
    type Object = RayService;
    type Error = Error;
    const NAME: &'static str = crate::metrics::RAYSERVICE;
    const UNREADABLE_REASON: &'static str = events::INVALID_SPEC;

    async fn reconcile(&self, object: &RayService) -> Result<Requeue, Error> {
        reconcile_service(object, self).await
    }
}

/// KubeRay's `kuberay_service_condition_*` reading of a RayService: its `Ready` and `UpgradeInProgress` conditions.
fn service_conditions(
    object: &DeserializeGuard<RayService>,
) -> Option<crate::metrics::ServiceConditions> {
    let service = object.0.as_ref().ok()?;
    let conditions = service
        .status
        .as_ref()
        .map(|s| s.conditions.as_slice())
        .unwrap_or_default();
    let is_true = |type_: &str| {
        conditions
            .iter()
            .any(|c| c.type_ == type_ && c.status == "True")
    };
    Some(crate::metrics::ServiceConditions {
        ready: is_true(super::decide::conditions::READY),
        upgrade_in_progress: is_true(super::decide::conditions::UPGRADE_IN_PROGRESS),
    })
}

#[cfg(test)]
mod metrics_tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_service_series_follow_the_ready_and_upgrade_conditions() {
        let service: RayService = serde_json::from_value(json!({
            "apiVersion": "ray.io/v1", "kind": "RayService",
            "metadata": {"name": "s", "namespace": "ns"},
            "spec": {"rayClusterConfig": {"headGroupSpec": {"rayStartParams": {}, "template": {"spec": {
                "containers": [{"name": "ray-head", "image": "rayproject/ray:2.60.0"}]}}}}},
            "status": {"conditions": [
                {"type": "Ready", "status": "True", "reason": "NonZeroServeEndpoints", "message": "",
                 "lastTransitionTime": "2026-01-01T00:00:00Z"},
                {"type": "UpgradeInProgress", "status": "False", "reason": "NoPendingCluster", "message": "",
                 "lastTransitionTime": "2026-01-01T00:00:00Z"}]}
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            service_conditions(&DeserializeGuard(Ok(service))),
            Some(crate::metrics::ServiceConditions {
                ready: true,
                upgrade_in_progress: false
            })
        );
    }
}
