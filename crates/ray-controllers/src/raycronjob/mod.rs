//! The RayCronJob controller: creates a RayJob from `spec.jobTemplate` at each time of `spec.schedule`.
//!
//! One reconcile ([`reconcile_cron_job`]) reads top to bottom: [`observe`] checks the spec and reads the clock →
//! [`decide::decide`], a pure function, says which schedule time (if any) is due, which Events to publish and when
//! to look again → [`apply`] publishes the Events, creates the RayJob and records the schedule time in
//! `status.lastScheduleTime`. [`controller`] runs it; [`events`] names every Event.
//!
//! What makes it safe to restart at any point:
//! - each schedule time has one RayJob name, `<RayCronJob>-<minutes since 1970>`, so creating it again is an
//!   `AlreadyExists`, which counts as done;
//! - the status moves on only after the RayJob exists, so a crash between the two creates nothing twice and
//!   loses nothing;
//! - missed schedule times (the operator was down) run once, the most recent of them, as Kubernetes CronJobs do.
//!
//! Time comes from [`Settings::clock`]: the system clock in the operator, a [`ManualClock`] in tests. The
//! controller asks to be woken exactly at the next schedule time and does nothing in between.
//!
//! No finalizer: the RayJobs carry a controller owner reference to their RayCronJob, so the garbage collector
//! deletes them with it.

pub mod apply;
pub mod clock;
pub mod controller;
pub mod decide;
#[cfg(test)]
mod decide_tests;
pub mod error;
pub mod events;
pub mod observe;

use std::sync::Arc;
use std::time::Duration;

use kube::Client;
use kube::runtime::controller::Action as Requeue;
use operator_runtime::EventPublisher;
use ray_api_v1::raycronjob::RayCronJob;

use crate::context::ControllerSettings;

pub use crate::clock::{Clock, ManualClock, SystemClock};
pub use controller::run;
pub use error::Error;

/// The shortest requeue, so a schedule time that has just passed does not spin.
const MIN_REQUEUE: Duration = Duration::from_millis(100);

/// Settings of the RayCronJob controller.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Those of every controller.
    pub controller: ControllerSettings,
    /// Where the time comes from: [`SystemClock`] in the operator.
    pub clock: Arc<dyn Clock>,
}

/// What every RayCronJob reconcile shares.
pub struct Context {
    /// The API client.
    pub client: Client,
    /// Publishes the RayCronJobs' Events.
    pub events: EventPublisher,
    /// The controller's settings.
    pub settings: Settings,
}

/// Reconciles one readable RayCronJob: observe → decide → apply.
pub async fn reconcile_cron_job(cron_job: &RayCronJob, ctx: &Context) -> Result<Requeue, Error> {
    if cron_job.metadata.deletion_timestamp.is_some() {
        // Its RayJobs carry owner references; the garbage collector removes them.
        return Ok(Requeue::await_change());
    }
    let facts = observe::observe(cron_job, ctx);
    let decision = decide::decide(&facts.observation(cron_job));

    let applier = apply::Applier::new(ctx, cron_job);
    applier.publish(&decision.notes).await;
    if let Some(run) = &decision.run {
        applier.create_job(run).await?;
        applier.record_schedule_time(run.at).await?;
    }
    Ok(match decision.requeue_after {
        Some(after) => Requeue::requeue(after.max(MIN_REQUEUE)),
        None => Requeue::await_change(),
    })
}
