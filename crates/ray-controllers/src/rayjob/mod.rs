//! The RayJob controller: the `jobDeploymentStatus` state machine.
//!
//! One reconcile of a readable RayJob is [`reconcile_job`]: [`observe`] gathers the facts (the RayJob's RayCluster,
//! its submitter Job, the Ray job's info from the dashboard), [`decide::decide`] — a pure function — returns the
//! next status and the actions to take, and [`apply`] carries them out, writes the status only when it changed and
//! publishes an Event at every transition. Everything a restart must remember (the job id, the RayCluster name) is
//! put into the status before any action uses it. [`controller`] holds the watch and the `run` loop.
//!
//! Dashboard requests use a short per-request timeout ([`DashboardSettings::timeout`]), so a slow or hung head
//! delays only its own RayJob's reconcile by that much, never the others. A finalizer lets the controller stop the
//! Ray job when the RayJob is deleted; the stop is attempted once, bounded by the same timeout, and the finalizer
//! is removed whatever happens, so a RayJob is never stranded.
//!
//! Since when the Ray job's status checks have been failing is kept in the RayJob's
//! [`STATUS_CHECK_FAILING_SINCE_ANNOTATION`] annotation, not in memory, so an operator restart or a new leader
//! continues the same tolerance window instead of starting a fresh one (a crash-looping operator would otherwise
//! never give up on a dead dashboard). It is written only when a failure window starts or ends.
//!
//! Every time the controller decides by (`startTime`, `endTime`, `activeDeadlineSeconds`,
//! `preRunningDeadlineSeconds`, the deletion TTLs, the status-check failure window) comes from
//! [`Settings::clock`], read once per reconcile. A jump of that clock wakes every RayJob: forward, whatever became
//! due happens at once; backward, what is not due any more waits, and nothing done is undone or done again (every
//! step is read from the world and the status, not from the clock).

use std::sync::Arc;
use std::time::Duration;

use crate::clock::Clock;
use crate::context::{ControllerSettings, DashboardSettings};
use kube::Client;
use kube::runtime::controller::Action as Requeue;
use operator_runtime::EventPublisher;
use ray_api_v1::rayjob::RayJob;
use ray_api_v1::validation::managed_by::external_manager;

pub mod apply;
pub mod controller;
pub mod dashboard;
pub mod decide;
#[cfg(test)]
mod decide_tests;
mod deletion;
pub mod error;
pub mod events;
pub mod observe;

pub use controller::run;
pub use error::Error;

/// The finalizer that lets the controller stop the Ray job before a RayJob disappears (KubeRay's name).
pub const FINALIZER: &str = "ray.io/rayjob-finalizer";

/// The RayJob annotation holding since when the Ray job's status checks have been failing without a break (an
/// RFC 3339 time), absent while they succeed. KubeRay 1.7 keeps this in `status.jobStatusCheckFailureStartTime`; the
/// v1 status this operator serves has no such field, and an annotation survives restarts just as well.
pub const STATUS_CHECK_FAILING_SINCE_ANNOTATION: &str =
    "ray.io/job-status-check-failure-start-time";

pub use crate::context::DEFAULT_DASHBOARD_TIMEOUT;

/// The shortest wait before looking at a RayJob again, so a decision asking for "now" does not spin.
const MIN_REQUEUE: Duration = Duration::from_millis(100);

/// Settings of the RayJob controller.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Those of every controller.
    pub controller: ControllerSettings,
    /// How Ray dashboards are reached.
    pub dashboard: DashboardSettings,
    /// Where the time comes from: [`SystemClock`](crate::clock::SystemClock) in the operator, a
    /// [`ManualClock`](crate::clock::ManualClock) in a test that jumps it. Every time-based decision reads it.
    pub clock: Arc<dyn Clock>,
}

/// What every RayJob reconcile shares.
pub struct Context {
    /// The API client.
    pub client: Client,
    /// Publishes the RayJobs' Events.
    pub events: EventPublisher,
    /// The controller's settings.
    pub settings: Settings,
}

/// Reconciles one readable RayJob: the finalizer first, then observe → decide → apply → status.
pub async fn reconcile_job(job: &RayJob, ctx: &Context) -> Result<Requeue, Error> {
    if let Some(manager) = external_manager(job.spec.managed_by.as_deref()) {
        // Another controller (MultiKueue) owns it: no cluster, no submitter, no finalizer, no status.
        tracing::debug!(
            managed_by = manager,
            "skipping a RayJob managed by another controller"
        );
        return Ok(Requeue::await_change());
    }
    let applier = apply::Applier::new(ctx, job);
    if job.metadata.deletion_timestamp.is_some() {
        applier.finalize().await?;
        return Ok(Requeue::await_change());
    }
    if applier.add_finalizer().await? {
        // The update brings the next reconcile.
        return Ok(Requeue::await_change());
    }

    let facts = observe::observe(job, ctx).await?;
    let decision = decide::decide(&facts.observation(job));

    applier
        .record_failure_window(
            facts.status_check_failing_since,
            decision.status_check_failing_since,
        )
        .await?;
    for action in &decision.actions {
        applier
            .execute(action, &decision.status, &facts.cluster_access(job))
            .await?;
    }

    applier.write_status(&decision.status).await?;
    Ok(match decision.requeue_after {
        Some(after) => Requeue::requeue(after.max(MIN_REQUEUE)),
        None => Requeue::await_change(),
    })
}
