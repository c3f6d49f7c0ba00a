//! The RayCronJob controller against the real local control plane, driven by a manual clock: a schedule of every
//! minute is run through several minutes in seconds, across controller restarts, a lost status write, an outage
//! that misses several ticks, and a suspension. Only the RayCronJob controller runs, so the RayJobs it creates are
//! left as created.

mod common;

use std::time::Duration;

use common::{Controller, Scenario, until};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{ListParams, Patch, PatchParams};
use kube::{Api, ResourceExt};
use ray_api_v1::raycronjob::schedule::CronSchedule;
use ray_api_v1::raycronjob::{
    CRON_JOB_NAME_LABEL, RayCronJob, SCHEDULED_TIMESTAMP_ANNOTATION, scheduled_job_name,
};
use ray_api_v1::rayjob::RayJob;
use ray_controllers::raycronjob::{ManualClock, events};
use serde_json::json;

/// How long a check that something does *not* happen waits for the controller to have had its chance.
const QUIET: Duration = Duration::from_secs(3);

const NAME: &str = "every-minute";

impl Scenario {
    /// The names of the RayJobs of RayCronJob [`NAME`], sorted.
    async fn cron_rayjobs(&self) -> Vec<String> {
        let jobs: Api<RayJob> = self.api();
        let mut names: Vec<String> = jobs
            .list(&ListParams::default().labels(&format!("{CRON_JOB_NAME_LABEL}={NAME}")))
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .items
            .iter()
            .map(|job| job.name_any())
            .collect();
        names.sort();
        names
    }

    /// Waits until the RayJobs of [`NAME`] are exactly `wanted` and its `status.lastScheduleTime` is `last`.
    async fn until_rayjobs(&self, wanted: &[String], last: Timestamp) {
        let cron_jobs: Api<RayCronJob> = self.api();
        until(
            &format!("RayJobs {wanted:?} and lastScheduleTime {last}"),
            async || {
                let found = self.cron_rayjobs().await;
                let status = cron_jobs
                    .get(NAME)
                    .await
                    .map_err(|e| e.to_string())?
                    .status
                    .and_then(|s| s.last_schedule_time)
                    .map(|t| t.0);
                if found == wanted && status == Some(last) {
                    Ok(())
                } else {
                    Err(format!("RayJobs {found:?}, lastScheduleTime {status:?}"))
                }
            },
        )
        .await;
    }

    /// Asserts that after [`QUIET`] the RayJobs of [`NAME`] are still exactly `wanted`.
    async fn still_rayjobs(&self, wanted: &[String], why: &str) {
        tokio::time::sleep(QUIET).await;
        assert_eq!(self.cron_rayjobs().await, wanted, "{why}");
    }
}

fn cron_job(schedule: &str) -> RayCronJob {
    common::ray_object(
        "RayCronJob",
        NAME,
        json!({
            "schedule": schedule,
            "jobTemplate": {
                "entrypoint": "python -c 'print(1)'",
                "rayClusterSpec": {"headGroupSpec": {"rayStartParams": {}, "template": {"spec": {"containers": [
                    {"name": "ray-head", "image": common::RAY_IMAGE}]}}}}
            }
        }),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_minutely_schedule_creates_one_rayjob_per_tick_across_restarts() {
    let mut scenario = Scenario::start("raycronjob", &[]).await;
    // The clock starts at the real time: the API server stamps the creation with it, and the first tick is counted
    // from there.
    let clock = ManualClock::new(Timestamp::now());
    scenario.run_raycronjob_controller(clock.clone());
    let created = scenario.create(cron_job("* * * * *")).await;
    let created_at = created
        .metadata
        .creation_timestamp
        .as_ref()
        .map(|t| t.0)
        .expect("a creation time");
    let minutely: CronSchedule = "* * * * *".parse().expect("a schedule");
    let tick = |n: i64| {
        let first = minutely.next_after(created_at).expect("a first tick");
        first + SignedDuration::from_mins(n)
    };
    let job = |n: i64| scheduled_job_name(NAME, tick(n));
    let second = SignedDuration::from_secs(1);

    // Before the first tick: nothing.
    clock.set(tick(0) - second);
    scenario
        .still_rayjobs(&[], "nothing is due before the first tick")
        .await;

    // The first tick: its RayJob, owned by the RayCronJob, labelled and annotated with the schedule time.
    clock.set(tick(0) + second);
    scenario.until_rayjobs(&[job(0)], tick(0)).await;
    let jobs: Api<RayJob> = scenario.api();
    let first = jobs.get(&job(0)).await.expect("the first RayJob");
    let owner = &first.metadata.owner_references.as_ref().expect("an owner")[0];
    assert_eq!(
        (owner.kind.as_str(), owner.name.as_str(), owner.controller),
        ("RayCronJob", NAME, Some(true))
    );
    assert_eq!(Some(owner.uid.clone()), created.metadata.uid);
    assert_eq!(
        first.annotations().get(SCHEDULED_TIMESTAMP_ANNOTATION),
        Some(&tick(0).strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
    );
    assert_eq!(
        first.spec.entrypoint.as_deref(),
        Some("python -c 'print(1)'")
    );
    scenario
        .until_event_count(events::CREATED_RAY_JOB, &job(0), 1)
        .await;

    // Later in the same minute: nothing more.
    clock.set(tick(0) + SignedDuration::from_secs(40));
    scenario
        .still_rayjobs(&[job(0)], "one RayJob per tick")
        .await;

    // A restart, then the next tick: one more RayJob.
    scenario.crash(Controller::RayCronJob).await;
    clock.set(tick(1) + second);
    scenario.run_raycronjob_controller(clock.clone());
    scenario.until_rayjobs(&[job(0), job(1)], tick(1)).await;

    // A restart without a new tick creates nothing.
    scenario.crash(Controller::RayCronJob).await;
    scenario.run_raycronjob_controller(clock.clone());
    scenario
        .still_rayjobs(&[job(0), job(1)], "a restart within a tick creates nothing")
        .await;

    // The status write after a create is lost (here: set back by hand): the next pass creates the same name again,
    // the API server answers AlreadyExists, and the status moves on. Still one RayJob per tick.
    let cron_jobs: Api<RayCronJob> = scenario.api();
    cron_jobs
        .patch_status(
            NAME,
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"lastScheduleTime": tick(0).to_string()}})),
        )
        .await
        .expect("status set back");
    scenario.until_rayjobs(&[job(0), job(1)], tick(1)).await;

    // Down for several ticks: only the most recent one runs, and an Event says which were missed.
    scenario.crash(Controller::RayCronJob).await;
    clock.set(tick(5) + SignedDuration::from_secs(20));
    scenario.run_raycronjob_controller(clock.clone());
    scenario
        .until_rayjobs(&[job(0), job(1), job(5)], tick(5))
        .await;
    let missed = scenario.until_events(events::MISSED_SCHEDULES).await;
    let note = missed[0].note.clone().unwrap_or_default();
    assert!(note.starts_with("3 earlier schedule time(s)"), "{note}");

    // Suspended: no RayJob at the next ticks, and those created before stay.
    let suspend = json!({"suspend": true});
    scenario.patch_spec::<RayCronJob>(NAME, suspend).await;
    scenario.until_events(events::SUSPENDED).await;
    clock.set(tick(7) + second);
    scenario
        .still_rayjobs(
            &[job(0), job(1), job(5)],
            "a suspended RayCronJob creates nothing",
        )
        .await;

    // Resumed: the most recent tick missed while suspended runs at once.
    scenario
        .patch_spec::<RayCronJob>(NAME, json!({"suspend": false}))
        .await;
    scenario
        .until_rayjobs(&[job(0), job(1), job(5), job(7)], tick(7))
        .await;
    assert!(scenario.controllers_running());
    scenario.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_schedule_is_reported_and_nothing_is_created() {
    let mut scenario = Scenario::start("raycronjob-invalid", &[]).await;
    let clock = ManualClock::new(Timestamp::now());
    scenario.run_raycronjob_controller(clock.clone());
    // The CRD cannot check a cron expression (the webhook does, and is not installed here).
    scenario.create(cron_job("0 0 30 2 *")).await;
    let events = scenario.until_events(events::INVALID_SPEC).await;
    let note = events[0].note.clone().unwrap_or_default();
    assert!(
        note.contains("spec.schedule: ") && note.contains("never fires"),
        "{note}"
    );
    clock.advance(SignedDuration::from_hours(24 * 400));
    scenario
        .still_rayjobs(&[], "an invalid RayCronJob creates nothing")
        .await;
    scenario.finish().await;
}
