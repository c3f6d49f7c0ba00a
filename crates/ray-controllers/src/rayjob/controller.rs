//! Runs the RayJob controller: the watches (RayJobs, and the RayClusters and submitter Jobs made for them) and the
//! runner that calls [`super::reconcile_job`] for each readable RayJob. A clock that jumps
//! ([`Clock::jumps`](crate::clock::Clock::jumps)) makes every RayJob be looked at again.

use std::sync::Arc;

use k8s_openapi::api::batch::v1::Job;
use kube::core::DeserializeGuard;
use kube::runtime::controller::Action as Requeue;
use kube::runtime::{Controller, watcher};
use kube::{Api, Client};
use operator_runtime::Shutdown;
use operator_runtime::runner::{self, Reconciler};
use ray_api_v1::raycluster::RayCluster;
use ray_api_v1::rayjob::RayJob;

use super::{Context, Error, Settings, events, reconcile_job};
use crate::clock::changes;

/// The label every RayCluster and submitter Job made for a RayJob carries; the controller watches only those.
const ORIGIN_LABEL_SELECTOR: &str = "ray.io/originated-from-crd=RayJob";

/// Runs the RayJob controller until `shutdown` resolves, then lets running reconciles finish.
pub async fn run(client: Client, settings: Settings, shutdown: Shutdown) {
    let common = &settings.controller;
    let jobs: Api<DeserializeGuard<RayJob>> = common.api(&client);
    let clusters: Api<RayCluster> = common.api(&client);
    let submitters: Api<Job> = common.api(&client);
    let owned = || watcher::Config::default().labels(ORIGIN_LABEL_SELECTOR);
    let mut controller = Controller::new(jobs, watcher::Config::default())
        .owns(clusters, owned())
        .owns(submitters, owned())
        .trigger_backoff(operator_runtime::watch_backoff());
    if let Some(jumps) = settings.clock.jumps() {
        // Requeue timers run on the real time; a due time the jump reached is acted on now.
        controller = controller.reconcile_all_on(changes(jumps));
    }
    let _registration = common.telemetry.kuberay.watch_rayjobs(controller.store());
    let events = common.events(&client);
    let runner_settings = common.runner(&events, "rayjobs");
    let ctx = Arc::new(Context {
        client,
        events,
        settings,
    });
    runner::run(controller, ctx, Vec::new(), runner_settings, shutdown).await;
}

impl Reconciler for Context {
    type Object = RayJob;
    type Error = Error;
    const NAME: &'static str = crate::metrics::RAYJOB;
    const UNREADABLE_REASON: &'static str = events::INVALID_RAYJOB_SPEC;

    async fn reconcile(&self, job: &RayJob) -> Result<Requeue, Error> {
        reconcile_job(job, self).await
    }
}
