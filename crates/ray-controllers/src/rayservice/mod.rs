//! The RayService controller: a RayCluster plus Ray Serve applications, kept serving while the Serve config
//! (applied in place) or the cluster spec (a new cluster is prepared, traffic moves once it serves, the old one is
//! deleted after a delay; with `upgradeStrategy.type: None` the change waits instead) changes. `spec.suspend`
//! deletes everything the RayService owns until it is false again.
//!
//! One reconcile ([`reconcile_service`]) reads top to bottom: [`observe`] gathers the facts (the API server, the
//! head pod and EndpointSlice caches, Serve on each cluster) → [`decide`](mod@decide) is the pure state machine → [`apply`]
//! makes each change and publishes an Event for every outcome → the status is written only when it changed.
//! [`controller`] runs it (the watches, the caches); [`events`] names every Event; [`error`] says why a reconcile
//! did not finish.
//!
//! The time (the old clusters' `ray.io/delete-after`, condition and update times) comes from
//! [`Settings::clock`]; a jump of that clock wakes every RayService, so an old cluster whose deletion time a jump
//! forward reached is deleted at once, and a jump backward only postpones it.
//!
//! No finalizer: the clusters and Services carry controller owner references to the RayService, so the garbage
//! collector removes them with it, and nothing outside Kubernetes needs cleaning up.

pub mod apply;
pub mod controller;
pub mod decide;
pub mod error;
pub mod events;
pub mod observe;

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::Client;
use kube::runtime::controller::Action as Requeue;
use kube::runtime::reflector::Store;
use operator_runtime::EventPublisher;
use ray_api_v1::rayservice::RayService;
use ray_api_v1::validation::managed_by::external_manager;
use ray_builders::names;

use crate::pod_index::PodIndex;

pub use controller::{Settings, run};
pub use error::Error;

use apply::Applier;
use decide::decide;

/// How soon a reconcile that found the caches not yet synced tries again.
const CACHE_RETRY: Duration = Duration::from_secs(1);

/// The shortest requeue, so a deadline that has just passed does not spin.
const MIN_REQUEUE: Duration = Duration::from_millis(100);

/// What every RayService reconcile shares.
pub struct Context {
    /// The API client.
    pub client: Client,
    /// The one Event publisher.
    pub events: EventPublisher,
    /// The controller's settings.
    pub settings: Settings,
    /// Head pods (label-selected, pruned; see [`observe::HEAD_POD_SELECTOR`]).
    pub pods: Arc<PodIndex>,
    /// EndpointSlices of the RayServices' Services (see [`observe::endpoint_slice_cache`]).
    pub endpoint_slices: Store<EndpointSlice>,
}

/// Reconciles one RayService: observe → decide → apply → status.
pub async fn reconcile_service(service: &RayService, ctx: &Context) -> Result<Requeue, Error> {
    if let Some(manager) = external_manager(service.spec.managed_by.as_deref()) {
        // Another controller (MultiKueue) owns it: no clusters, no Services, no status, as in KubeRay.
        tracing::debug!(
            managed_by = manager,
            "skipping a RayService managed by another controller"
        );
        return Ok(Requeue::await_change());
    }
    if service.metadata.deletion_timestamp.is_some() {
        // The clusters and Services carry owner references; the garbage collector removes them.
        return Ok(Requeue::await_change());
    }
    if !observe::caches_ready(ctx).await {
        return Ok(Requeue::requeue(CACHE_RETRY));
    }
    let facts = observe::observe(service, ctx).await?;

    let now = ctx.settings.clock.now();
    let suffix = new_cluster_suffix(service);
    let decision = decide(&facts.observation(service, ctx.settings.deletion_delay, now, &suffix));

    let applier = Applier::new(ctx, service, &facts.owned);
    applier.publish(&decision.notes).await;
    for action in &decision.actions {
        applier.apply(action).await?;
    }
    applier.write_status(&decision.status, now).await?;

    Ok(match decision.requeue_after {
        Some(after) => Requeue::requeue(after.max(MIN_REQUEUE)),
        None => Requeue::await_change(),
    })
}

/// Five random characters for the name of a cluster this pass may prepare (used only when it does; the name is
/// recorded in the status before the cluster is created).
fn new_cluster_suffix(service: &RayService) -> String {
    let seed = format!(
        "{:?}/{:?}",
        service.metadata.uid,
        std::time::SystemTime::now()
    );
    names::random_suffix_from(seed.as_bytes())
}
