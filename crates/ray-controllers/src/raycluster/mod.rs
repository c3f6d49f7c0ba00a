//! The RayCluster controller: keeps a head pod, worker pods per group, Services, Ingress and autoscaler RBAC in
//! line with each RayCluster, and reports what it sees in the status, in Events and in logs.
//!
//! One reconcile (`reconcile_cluster`) reads top to bottom:
//! - [`observe`]: the pods in the cache and the expectations, what the spec asks for ([`desired`], validated and
//!   rendered once), and which desired children exist;
//! - [`decide`]: a pure function from those facts to a [`decide::Decision`] — the actions, the Events, whether to
//!   report a status, when to look again (pod scaling rules in [`scaling`], the GCS cleanup in [`gcs_ft`]);
//! - [`apply`]: every action against the API server, recording expectations first and reporting each outcome;
//! - [`status`]: computed from the cache and what apply met, written only if it changed: at once when something
//!   a user or tool waits on changed or the cluster converged, a change of counters alone at most once per
//!   [`status::COUNTER_INTERVAL`] (the reconcile then looks again when the interval ends).

pub mod apply;
pub mod controller;
pub mod decide;
pub mod desired;
pub mod error;
pub mod events;
pub mod gcs_ft;
pub mod observe;
pub mod scaling;
pub mod status;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::Client;
use kube::runtime::controller::Action as Requeue;
use ray_api_v1::RayCluster;
use ray_api_v1::validation::managed_by::external_manager;
use ray_builders::{RenderOptions, names};

use crate::context::ControllerSettings;
use crate::expectations::Expectations;
use crate::metrics::KubeRayMetrics;
use crate::pod_index::{CachedPod, PodIndex};
pub use controller::run;
pub use error::Error;
use kube::runtime::reflector::Store;
use operator_runtime::EventPublisher;
pub use operator_runtime::Shutdown;
use status::StatusInputs;

/// How long to wait before retrying after a failure the user or the cluster must fix (quota, admission).
pub const FAILURE_REQUEUE: Duration = Duration::from_secs(10);

/// Settings of the RayCluster controller: those of every controller.
pub type Settings = ControllerSettings;

/// What every RayCluster reconcile shares (one controller: one watched namespace, or all of them).
pub struct Context {
    /// The API client.
    pub client: Client,
    /// The one Event publisher (cuts long notes, logs failures).
    pub events: EventPublisher,
    /// The operator's pods, by cluster (see [`crate::pod_index`]).
    pub pods: Arc<PodIndex>,
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

/// One reconcile of a readable RayCluster: observe → decide → apply → status.
pub async fn reconcile_cluster(cluster: &RayCluster, ctx: &Context) -> Result<Requeue, Error> {
    if let Some(manager) = external_manager(cluster.spec.managed_by.as_deref()) {
        // Another controller (MultiKueue) owns it: no children, no status, no finalizer, as in KubeRay.
        tracing::debug!(
            managed_by = manager,
            "skipping a RayCluster managed by another controller"
        );
        return Ok(Requeue::await_change());
    }
    let Some(facts) = observe::observe(ctx, cluster).await? else {
        // The pod cache has not finished its first list; deciding from it would create pods that exist.
        return Ok(Requeue::requeue(Duration::from_secs(1)));
    };
    let decision = decide::decide(&facts, &mut random_replica_names(cluster));
    let outcome = apply::apply(ctx, cluster, decision.events, decision.actions).await?;
    let mut put_off = None;
    if let Some(report) = decision.status {
        let pods: Vec<&CachedPod> = facts.pods.iter().map(AsRef::as_ref).collect();
        put_off = status::write(
            ctx,
            StatusInputs {
                cluster,
                pods: &pods,
                head_service: facts.head_service().or(outcome.head_service.as_ref()),
                failure: report.failure.as_ref().or(outcome.failure.as_ref()),
                now: Time(facts.now),
            },
        )
        .await?;
    }
    Ok(match put_off {
        // Sooner than any other requeue of a reconcile that reports a status (checked below).
        Some(wait) => Requeue::requeue(wait),
        None if outcome.failure.is_some() => Requeue::requeue(FAILURE_REQUEUE),
        None => decision.requeue,
    })
}

// A put-off status write requeues instead of the decision's requeue, which must therefore never be sooner.
const _: () = assert!(
    status::COUNTER_INTERVAL.as_millis() <= FAILURE_REQUEUE.as_millis()
        && status::COUNTER_INTERVAL.as_millis()
            <= crate::expectations::EXPECTATION_TIMEOUT.as_millis()
);

/// Fresh names for multi-host replicas, `<group>-<5 random>`, never the same twice in one reconcile.
fn random_replica_names(cluster: &RayCluster) -> impl FnMut(&str) -> String {
    let uid = cluster.metadata.uid.clone().unwrap_or_default();
    let mut used: HashSet<String> = HashSet::new();
    move |group| loop {
        let seed = format!(
            "{uid}/{group}/{:?}/{}",
            std::time::SystemTime::now(),
            used.len()
        );
        let candidate = names::with_suffix(group, &names::random_suffix_from(seed.as_bytes()));
        if used.insert(candidate.clone()) {
            break candidate;
        }
    }
}
