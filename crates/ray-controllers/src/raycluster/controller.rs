//! Runs the RayCluster controller: the RayCluster watch, the pod and Service caches whose changes reconcile their
//! cluster, and the runner that calls [`super::reconcile_cluster`] for each readable RayCluster.

use std::sync::Arc;

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Api;
use kube::Client;
use kube::core::DeserializeGuard;
use kube::runtime::controller::Action as Requeue;
use kube::runtime::{Controller, WatchStreamExt, reflector, watcher};
use operator_runtime::Shutdown;
use operator_runtime::runner::{self, Reconciler};
use ray_api_v1::RayCluster;
use ray_builders::labels;

use super::{Context, Error, Settings, events, reconcile_cluster};
use crate::expectations::Expectations;
use crate::pod_index::{self, PodIndex};

/// Runs the RayCluster controller until `shutdown` resolves, then lets running reconciles finish.
pub async fn run(
    client: Client,
    settings: Settings,
    expectations: Arc<Expectations>,
    shutdown: Shutdown,
) {
    let clusters: Api<DeserializeGuard<RayCluster>> = settings.api(&client);
    let pods = Arc::new(PodIndex::new());
    let pod_stream = pod_index::watch(settings.api(&client), pod_index::SELECTOR, pods.clone());
    let (service_store, service_writer) = kube::runtime::reflector::store();
    let service_stream = watcher(
        settings.api::<Service>(&client),
        watcher::Config::default().labels(labels::CLUSTER),
    )
    .backoff(operator_runtime::watch_backoff())
    .modify(|service: &mut Service| slim(&mut service.metadata))
    .reflect(service_writer)
    .touched_objects();
    let events = settings.events(&client);
    let caches = vec![pods.readiness(settings.scope("pods"))];
    let ctx = Arc::new(Context {
        events: events.clone(),
        client,
        pods,
        services: service_store,
        expectations,
        render: settings.render.clone(),
        metrics: settings.telemetry.kuberay.clone(),
    });
    // The controller's RayCluster cache keeps every cluster; what no reconcile reads is dropped before it is
    // stored: managedFields, and kubectl's last-applied annotation (a second copy of the whole spec).
    let (cluster_store, cluster_writer) = reflector::store();
    let cluster_stream = watcher(clusters, watcher::Config::default())
        .backoff(operator_runtime::watch_backoff())
        .modify(|guard: &mut DeserializeGuard<RayCluster>| {
            if let Ok(cluster) = guard.0.as_mut() {
                slim(&mut cluster.metadata);
            }
        })
        .reflect(cluster_writer)
        .applied_objects();
    let controller = Controller::for_stream(cluster_stream, cluster_store)
        .owns_stream(pod_stream)
        .owns_stream(service_stream)
        .trigger_backoff(operator_runtime::watch_backoff());
    let _registration = (settings.telemetry.kuberay).watch_rayclusters(controller.store());
    let runner = settings.runner(&events, "rayclusters");
    runner::run(controller, ctx, caches, runner, shutdown).await;
}

/// Drops from a cached object's metadata what no reconcile reads.
fn slim(meta: &mut ObjectMeta) {
    meta.managed_fields = None;
    if let Some(annotations) = meta.annotations.as_mut() {
        annotations.remove(labels::LAST_APPLIED_ANNOTATION);
    }
}

impl Reconciler for Context {
    type Object = RayCluster;
    type Error = Error;
    const NAME: &'static str = crate::metrics::RAYCLUSTER;
    const UNREADABLE_REASON: &'static str = events::INVALID_SPEC;

    async fn reconcile(&self, cluster: &RayCluster) -> Result<Requeue, Error> {
        reconcile_cluster(cluster, self).await
    }
}
