//! Runs the RayCronJob controller: the RayCronJob watch and the runner that calls [`super::reconcile_cron_job`] for
//! each readable RayCronJob. The RayJobs it creates are not watched: nothing about them changes what is scheduled.
//! A clock that jumps ([`Clock::jumps`](super::Clock::jumps)) makes every RayCronJob be looked at again.

use std::sync::Arc;

use kube::core::DeserializeGuard;
use kube::runtime::controller::Action as Requeue;
use kube::runtime::{Controller, watcher};
use kube::{Api, Client};
use operator_runtime::Shutdown;
use operator_runtime::runner::{self, Reconciler};
use ray_api_v1::raycronjob::RayCronJob;

use super::{Context, Error, Settings, events, reconcile_cron_job};
use crate::clock::changes;

/// Runs the RayCronJob controller until `shutdown` resolves, then lets running reconciles finish.
pub async fn run(client: Client, settings: Settings, shutdown: Shutdown) {
    let common = &settings.controller;
    let cron_jobs: Api<DeserializeGuard<RayCronJob>> = common.api(&client);
    let mut controller = Controller::new(cron_jobs, watcher::Config::default())
        .trigger_backoff(operator_runtime::watch_backoff());
    if let Some(jumps) = settings.clock.jumps() {
        controller = controller.reconcile_all_on(changes(jumps));
    }
    let events = common.events(&client);
    let runner_settings = common.runner(&events, "raycronjobs");
    let ctx = Arc::new(Context {
        client,
        events,
        settings,
    });
    runner::run(controller, ctx, Vec::new(), runner_settings, shutdown).await;
}

impl Reconciler for Context {
    type Object = RayCronJob;
    type Error = Error;
    const NAME: &'static str = crate::metrics::RAYCRONJOB;
    const UNREADABLE_REASON: &'static str = events::INVALID_SPEC;

    async fn reconcile(&self, cron_job: &RayCronJob) -> Result<Requeue, Error> {
        reconcile_cron_job(cron_job, self).await
    }
}
