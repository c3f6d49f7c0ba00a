//! The RayJob controller: observes a RayJob's RayCluster, submitter Job and Ray job, asks [`decide`] what to do,
//! does it, writes the status only when it changed and publishes an Event at every transition.
//!
//! Dashboard requests use a short per-request timeout ([`Settings::dashboard_timeout`]), so a slow or hung head
//! delays only its own RayJob's reconcile by that much, never the others. A finalizer lets the controller stop the
//! Ray job when the RayJob is deleted; the stop is attempted once, bounded by the same timeout, and the finalizer
//! is removed whatever happens, so a RayJob is never stranded.
//!
//! Since when the Ray job's status checks have been failing is kept in the RayJob's
//! [`STATUS_CHECK_FAILING_SINCE_ANNOTATION`] annotation, not in memory, so an operator restart or a new leader
//! continues the same tolerance window instead of starting a fresh one (a crash-looping operator would otherwise
//! never give up on a dead dashboard). It is written only when a failure window starts or ends.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::jiff::Timestamp;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::core::DeserializeGuard;
use kube::runtime::controller::{Action as Requeue, Config as ControllerConfig};
use kube::runtime::events::{Event, EventType, Recorder};
use kube::runtime::{Controller, watcher};
use kube::{Api, Client, Resource, ResourceExt};
use ray_api_v1::raycluster::RayCluster;
use ray_api_v1::rayjob::{JobDeploymentStatus, JobStatus, RayJob, RayJobStatus};
use ray_builders::RenderOptions;
use ray_builders::submitter::SubmitterInputs;
use ray_dashboard_client::{DashboardClient, Error as DashboardError};
use tracing::{Instrument, debug, info, info_span, warn};

use super::dashboard::{client_base_url, dashboard_url, submit_request};
use super::decide::{Action, Observation, RayJobInfo, decide};
use super::events;
use crate::context::{FIELD_MANAGER, event_recorder, scope_label, scoped_api};
use crate::error::{Error, api_message};
use crate::raycluster::{FAILURE_REQUEUE, Shutdown};

/// The finalizer that lets the controller stop the Ray job before a RayJob disappears (KubeRay's name).
pub const FINALIZER: &str = "ray.io/rayjob-finalizer";

/// The RayJob annotation holding since when the Ray job's status checks have been failing without a break (an
/// RFC 3339 time), absent while they succeed. KubeRay 1.7 keeps this in `status.jobStatusCheckFailureStartTime`; the
/// v1 status this operator serves has no such field, and an annotation survives restarts just as well.
pub const STATUS_CHECK_FAILING_SINCE_ANNOTATION: &str =
    "ray.io/job-status-check-failure-start-time";

/// The label every RayCluster and submitter Job made for a RayJob carries; the controller watches only those.
const ORIGIN_LABEL_SELECTOR: &str = "ray.io/originated-from-crd=RayJob";

/// The default per-request timeout of dashboard calls.
pub const DEFAULT_DASHBOARD_TIMEOUT: Duration = Duration::from_secs(2);

/// Settings of the RayJob controller.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The namespace to watch, or `None` for all.
    pub namespace: Option<String>,
    /// How many RayJobs are reconciled at once.
    pub concurrency: u16,
    /// Rendering settings (the cluster DNS domain for dashboard addresses).
    pub render: RenderOptions,
    /// This operator instance's name in Events.
    pub instance: Option<String>,
    /// One dashboard URL used for every cluster instead of the head Service's DNS name, for an operator running
    /// outside the Kubernetes cluster (local development and tests).
    pub dashboard_url_override: Option<String>,
    /// The per-request timeout of dashboard calls.
    pub dashboard_timeout: Duration,
    /// Where reconciles, the cache's objects and cache sync are reported.
    pub telemetry: crate::context::Telemetry,
}

struct JobContext {
    client: Client,
    recorder: Recorder,
    settings: Settings,
}

/// Runs the RayJob controller until `shutdown` resolves.
pub async fn run(client: Client, settings: Settings, shutdown: Shutdown) {
    let namespace = settings.namespace.as_deref();
    let jobs: Api<DeserializeGuard<RayJob>> = scoped_api(&client, namespace);
    let clusters: Api<RayCluster> = scoped_api(&client, namespace);
    let submitters: Api<Job> = scoped_api(&client, namespace);
    let recorder = event_recorder(&client, settings.instance.clone());
    let concurrency = settings.concurrency;
    let scope = scope_label(settings.namespace.as_deref());
    let telemetry = settings.telemetry.clone();
    let ctx = Arc::new(JobContext {
        client,
        recorder,
        settings,
    });
    info!(namespace = %scope, "starting the RayJob controller");
    let owned = || watcher::Config::default().labels(ORIGIN_LABEL_SELECTOR);
    // Registered before the first await, so readiness waits for this controller too.
    let sync = telemetry.health.cache(format!("rayjobs in {scope}"));
    let controller = Controller::new(jobs, watcher::Config::default())
        .owns(clusters, owned())
        .owns(submitters, owned())
        .with_config(ControllerConfig::default().concurrency(concurrency));
    let job_store = controller.store();
    let early_store = job_store.clone();
    let _registration = telemetry.metrics.watch_rayjobs(job_store.clone());
    let synced = async move {
        // The store ends (with an error) when the controller stops, so this never outlives it.
        if job_store.wait_until_ready().await.is_ok() {
            sync.synced();
        }
    };
    let metrics = telemetry.metrics.clone();
    let running = controller
        .graceful_shutdown_on(shutdown.clone())
        .run(
            move |object, ctx| {
                let metrics = metrics.clone();
                async move {
                    metrics
                        .observe_reconcile(crate::metrics::RAYJOB, reconcile(object, ctx))
                        .await
                }
            },
            error_policy,
            ctx,
        )
        .for_each(|result| async move {
            match result {
                Ok((object, _)) => debug!(namespace = ?object.namespace, name = %object.name, "reconciled"),
                Err(kube::runtime::controller::Error::ReconcilerFailed(error, object)) => {
                    warn!(namespace = ?object.namespace, name = %object.name, %error, "reconcile failed")
                }
                Err(error) => warn!(%error, "controller error"),
            }
        });
    crate::raycluster::stop_before_sync(
        async {
            futures::join!(running, synced);
        },
        early_store,
        shutdown,
    )
    .await;
    info!(namespace = %scope, "the RayJob controller stopped");
}

fn error_policy(_: Arc<DeserializeGuard<RayJob>>, _: &Error, _: Arc<JobContext>) -> Requeue {
    Requeue::requeue(FAILURE_REQUEUE)
}

async fn reconcile(
    obj: Arc<DeserializeGuard<RayJob>>,
    ctx: Arc<JobContext>,
) -> Result<Requeue, Error> {
    let span = info_span!("reconcile_rayjob", namespace = %obj.namespace().unwrap_or_default(), name = %obj.name_any());
    async move {
        match &obj.0 {
            Ok(job) => reconcile_job(job, &ctx).await,
            Err(invalid) => {
                warn!(error = %invalid.error, "the RayJob cannot be read");
                publish(
                    &ctx,
                    &obj.object_ref(&()),
                    true,
                    "InvalidRayJobSpec",
                    format!("The RayJob cannot be read: {}", invalid.error),
                )
                .await;
                Ok(Requeue::await_change())
            }
        }
    }
    .instrument(span)
    .await
}

async fn publish(
    ctx: &JobContext,
    reference: &k8s_openapi::api::core::v1::ObjectReference,
    warning: bool,
    reason: &str,
    note: String,
) {
    let event = Event {
        type_: if warning {
            EventType::Warning
        } else {
            EventType::Normal
        },
        reason: reason.to_string(),
        note: Some(note),
        action: "Reconcile".to_string(),
        secondary: None,
    };
    if let Err(error) = ctx.recorder.publish(&event, reference).await {
        warn!(%error, "could not publish an event");
    }
}

fn dashboard(ctx: &JobContext, address: &str) -> Result<DashboardClient, DashboardError> {
    Ok(DashboardClient::new(&client_base_url(address))?
        .with_timeout(ctx.settings.dashboard_timeout))
}

async fn stop_ray_job(ctx: &JobContext, address: &str, job_id: &str) {
    match dashboard(ctx, address) {
        Ok(client) => match client.stop_job(job_id).await {
            Ok(_) => info!(%job_id, "asked Ray to stop the job"),
            Err(error) => warn!(%job_id, %error, "could not stop the Ray job"),
        },
        Err(error) => warn!(%job_id, %error, "could not stop the Ray job"),
    }
}

/// The failure window's start recorded on `job`; an unreadable value counts as absent (the window restarts).
fn recorded_failing_since(job: &RayJob) -> Option<Timestamp> {
    job.annotations()
        .get(STATUS_CHECK_FAILING_SINCE_ANNOTATION)?
        .parse()
        .ok()
}

async fn reconcile_job(job: &RayJob, ctx: &JobContext) -> Result<Requeue, Error> {
    let namespace = job.namespace().unwrap_or_default();
    let name = job.name_any();
    let jobs: Api<RayJob> = Api::namespaced(ctx.client.clone(), &namespace);
    let what = format!("RayJob {namespace}/{name}");
    let has_finalizer = job.finalizers().iter().any(|f| f == FINALIZER);
    let status = job.status.clone().unwrap_or_default();

    if job.metadata.deletion_timestamp.is_some() {
        if has_finalizer {
            let running = !status.job_status.is_some_and(JobStatus::is_terminal);
            if let (true, Some(address), Some(job_id)) =
                (running, &status.dashboard_url, &status.job_id)
            {
                stop_ray_job(ctx, address, job_id).await;
            }
            let rest: Vec<&String> = job
                .finalizers()
                .iter()
                .filter(|f| *f != FINALIZER)
                .collect();
            let patch = serde_json::json!({"metadata": {
                "resourceVersion": job.resource_version(), "finalizers": rest}});
            jobs.patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
                .map_err(|source| Error::Write {
                    action: "removing the finalizer of",
                    what,
                    source,
                })?;
        }
        return Ok(Requeue::await_change());
    }
    if !has_finalizer {
        let mut finalizers = job.finalizers().to_vec();
        finalizers.push(FINALIZER.to_string());
        let patch = serde_json::json!({"metadata": {
            "resourceVersion": job.resource_version(), "finalizers": finalizers}});
        jobs.patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map_err(|source| Error::Write {
                action: "adding the finalizer to",
                what,
                source,
            })?;
        // The update brings the next reconcile.
        return Ok(Requeue::await_change());
    }

    let clusters: Api<RayCluster> = Api::namespaced(ctx.client.clone(), &namespace);
    let submitters: Api<Job> = Api::namespaced(ctx.client.clone(), &namespace);
    let cluster = match status.ray_cluster_name.as_deref() {
        Some(cluster_name) => {
            clusters
                .get_opt(cluster_name)
                .await
                .map_err(|source| Error::Read {
                    what: format!("RayCluster {namespace}/{cluster_name}"),
                    source,
                })?
        }
        None => None,
    };
    let submitter = submitters
        .get_opt(&name)
        .await
        .map_err(|source| Error::Read {
            what: format!("Job {namespace}/{name}"),
            source,
        })?;
    let address = cluster.as_ref().and_then(|c| {
        dashboard_url(
            c,
            &ctx.settings.render,
            ctx.settings.dashboard_url_override.as_deref(),
        )
        .map_err(|error| warn!(%error, "no dashboard address for the RayCluster"))
        .ok()
    });
    let state = status.job_deployment_status;
    let ray_job = match (state, &status.dashboard_url, &status.job_id) {
        (Some(ray_api_v1::rayjob::JobDeploymentStatus::Running), Some(url), Some(job_id)) => {
            match dashboard(ctx, url) {
                Err(error) => RayJobInfo::Unreachable(error.to_string()),
                Ok(client) => match client.get_job(job_id).await {
                    Ok(details) => RayJobInfo::Found {
                        status: ray_status(details.status.as_str()),
                        message: details.message,
                    },
                    Err(error) if error.is_not_found() => RayJobInfo::NotFound,
                    Err(error) => RayJobInfo::Unreachable(error.to_string()),
                },
            }
        }
        _ => RayJobInfo::NotChecked,
    };
    let failing_since = recorded_failing_since(job);
    let seed = format!("{:?}/{:?}", job.metadata.uid, std::time::SystemTime::now());
    let suffix = ray_builders::names::random_suffix_from(seed.as_bytes());
    let decision = decide(&Observation {
        job,
        cluster: cluster.as_ref(),
        submitter: submitter.as_ref(),
        ray_job: &ray_job,
        dashboard_url: address.as_deref(),
        status_check_failing_since: failing_since,
        now: Timestamp::now(),
        suffix: &suffix,
    });
    if decision.status_check_failing_since != failing_since
        || (failing_since.is_none()
            && job
                .annotations()
                .contains_key(STATUS_CHECK_FAILING_SINCE_ANNOTATION))
    {
        let value = decision
            .status_check_failing_since
            .map(|since| since.to_string());
        let patch = serde_json::json!({"metadata": {"annotations": {
            STATUS_CHECK_FAILING_SINCE_ANNOTATION: value}}});
        jobs.patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map_err(|source| Error::Write {
                action: "recording the status check failures of",
                what: what.clone(),
                source,
            })?;
    }

    let reference = job.object_ref(&());
    // The head image for a default submitter: the observed cluster's (clusterSelector), else the spec's.
    let image = head_image(cluster.as_ref().map(|c| &c.spec))
        .or_else(|| head_image(job.spec.ray_cluster_spec.as_ref()));
    for action in &decision.actions {
        apply(
            ctx,
            job,
            &decision.status,
            action,
            &clusters,
            &submitters,
            &reference,
            image,
        )
        .await?;
    }

    if job.status.as_ref() != Some(&decision.status) {
        let patch = serde_json::json!({
            "apiVersion": "ray.io/v1",
            "kind": "RayJob",
            "status": decision.status,
        });
        jobs.patch_status(
            &name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&patch),
        )
        .await
        .map_err(|source| Error::Write {
            action: "writing the status of",
            what: what.clone(),
            source,
        })?;
        let before = job.status.as_ref().and_then(|s| s.job_deployment_status);
        let started = decision
            .status
            .start_time
            .as_ref()
            .or_else(|| job.status.as_ref().and_then(|s| s.start_time.as_ref()));
        if let (Some(after), Some(started)) = (decision.status.job_deployment_status, started)
            && after.is_terminal()
            && !before.is_some_and(JobDeploymentStatus::is_terminal)
        {
            // KubeRay's retry count is the number of earlier failed attempts; this operator does not retry a
            // RayJob (no backoffLimit yet), so it is always 0.
            ctx.settings.telemetry.metrics.record_job_finished(
                job,
                started,
                after,
                0,
                &k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(Timestamp::now()),
            );
        }
        if let Some(event) = events::transition(job.status.as_ref(), &decision.status) {
            info!(reason = event.reason, note = %event.note, "RayJob transition");
            publish(ctx, &reference, event.warning, event.reason, event.note).await;
        }
    }
    Ok(match decision.requeue_after {
        Some(after) => Requeue::requeue(after.max(Duration::from_millis(100))),
        None => Requeue::await_change(),
    })
}

fn ray_status(wire: &str) -> JobStatus {
    serde_json::from_value(serde_json::Value::String(wire.to_owned())).unwrap_or(JobStatus::Pending)
}

fn head_image(spec: Option<&ray_api_v1::RayClusterSpec>) -> Option<&str> {
    spec?
        .head_group_spec
        .template
        .spec
        .as_ref()?
        .containers
        .first()?
        .image
        .as_deref()
}

/// What the API server's answer to a create means.
#[derive(Debug)]
enum Creation {
    /// The object was created.
    Created,
    /// It existed already (HTTP 409): made by an earlier pass or an earlier operator process.
    AlreadyExists,
    /// A real failure.
    Failed(kube::Error),
}

fn creation<K>(result: Result<K, kube::Error>) -> Creation {
    match result {
        Ok(_) => Creation::Created,
        Err(kube::Error::Api(status)) if status.code == 409 => Creation::AlreadyExists,
        Err(error) => Creation::Failed(error),
    }
}

/// Reports the outcome of creating an object the RayJob needs: `Created<kind>` on success; nothing when it already
/// exists (an earlier pass, or a restarted operator, created it: not a failure); a `FailedToCreate<kind>` warning
/// and the error otherwise.
async fn created_or_exists<K>(
    ctx: &JobContext,
    reference: &k8s_openapi::api::core::v1::ObjectReference,
    created: Result<K, kube::Error>,
    kind: &str,
    what: String,
) -> Result<(), Error> {
    match creation(created) {
        Creation::Created => {
            publish(
                ctx,
                reference,
                false,
                &format!("Created{kind}"),
                format!("Created {what}"),
            )
            .await;
            Ok(())
        }
        Creation::AlreadyExists => {
            debug!(%what, "already exists");
            Ok(())
        }
        Creation::Failed(source) => {
            publish(
                ctx,
                reference,
                true,
                &format!("FailedToCreate{kind}"),
                format!("Could not create {what}: {}", api_message(&source)),
            )
            .await;
            Err(Error::Write {
                action: "creating",
                what,
                source,
            })
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn apply(
    ctx: &JobContext,
    job: &RayJob,
    status: &RayJobStatus,
    action: &Action,
    clusters: &Api<RayCluster>,
    submitters: &Api<Job>,
    reference: &k8s_openapi::api::core::v1::ObjectReference,
    head_image: Option<&str>,
) -> Result<(), Error> {
    let namespace = job.namespace().unwrap_or_default();
    let render = |message: String| Error::Render {
        what: format!("{namespace}/{}", job.name_any()),
        message,
    };
    let ignore = |code: u16| {
        move |result: Result<(), kube::Error>| match result {
            Err(kube::Error::Api(status)) if status.code == code => Ok(()),
            other => other,
        }
    };
    match action {
        Action::CreateCluster { name } => {
            let Some(cluster) = ray_builders::job_cluster::ray_cluster_for_job(job, name)
                .map_err(|e| render(e.to_string()))?
            else {
                return Ok(());
            };
            let created = clusters.create(&PostParams::default(), &cluster).await;
            let what = format!("RayCluster {namespace}/{name}");
            created_or_exists(ctx, reference, created, "RayCluster", what).await
        }
        Action::DeleteCluster { name, reason } => {
            let deleted = clusters
                .delete(name, &DeleteParams::background())
                .await
                .map(|_| ());
            if deleted.is_ok() {
                publish(
                    ctx,
                    reference,
                    false,
                    "DeletedRayCluster",
                    format!("Deleted RayCluster {name}: {reason}"),
                )
                .await;
            }
            ignore(404)(deleted).map_err(|source| Error::Write {
                action: "deleting",
                what: format!("RayCluster {namespace}/{name}"),
                source,
            })
        }
        Action::SubmitOverHttp {
            dashboard_url,
            job_id,
        } => {
            let request = submit_request(job, job_id).map_err(render)?;
            let client = dashboard(ctx, dashboard_url).map_err(|e| Error::Dashboard {
                url: dashboard_url.clone(),
                message: e.to_string(),
            })?;
            client
                .submit_job(&request)
                .await
                .map_err(|e| Error::Dashboard {
                    url: dashboard_url.clone(),
                    message: e.to_string(),
                })?;
            info!(%job_id, "submitted the Ray job");
            Ok(())
        }
        Action::CreateSubmitter => {
            let inputs = SubmitterInputs {
                job_id: status.job_id.as_deref().unwrap_or_default(),
                dashboard_address: status.dashboard_url.as_deref().unwrap_or_default(),
                head_image,
            };
            let submitter = ray_builders::submitter::submitter_job(job, &inputs)
                .map_err(|e| render(e.to_string()))?;
            let created = submitters.create(&PostParams::default(), &submitter).await;
            let what = format!("submitter Job {namespace}/{}", job.name_any());
            created_or_exists(ctx, reference, created, "RayJobSubmitter", what).await
        }
        Action::DeleteSubmitter => {
            let deleted = submitters
                .delete(&job.name_any(), &DeleteParams::background())
                .await
                .map(|_| ());
            ignore(404)(deleted).map_err(|source| Error::Write {
                action: "deleting",
                what: format!("Job {namespace}/{}", job.name_any()),
                source,
            })
        }
        Action::StopRayJob {
            dashboard_url,
            job_id,
        } => {
            stop_ray_job(ctx, dashboard_url, job_id).await;
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api_error(code: u16, reason: &str) -> kube::Error {
        let status: kube::core::Status = serde_json::from_value(serde_json::json!({
            "status": "Failure", "code": code, "reason": reason, "message": format!("{reason} for the test"),
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        kube::Error::Api(Box::new(status))
    }

    #[test]
    fn only_real_create_failures_count_as_failures() {
        assert!(matches!(creation(Ok::<(), _>(())), Creation::Created));
        let exists = creation::<()>(Err(api_error(409, "AlreadyExists")));
        assert!(matches!(exists, Creation::AlreadyExists), "{exists:?}");
        let forbidden = creation::<()>(Err(api_error(403, "Forbidden")));
        assert!(
            matches!(&forbidden, Creation::Failed(e) if api_message(e) == "Forbidden for the test"),
            "{forbidden:?}"
        );
    }

    #[test]
    fn the_failure_window_is_read_from_the_annotation() {
        let job = |annotation: Option<&str>| -> RayJob {
            let mut annotations = serde_json::Map::new();
            if let Some(value) = annotation {
                annotations.insert(STATUS_CHECK_FAILING_SINCE_ANNOTATION.into(), value.into());
            }
            serde_json::from_value(serde_json::json!({
                "apiVersion": "ray.io/v1", "kind": "RayJob",
                "metadata": {"name": "sample", "annotations": annotations},
                "spec": {"entrypoint": "true"},
            }))
            .unwrap_or_else(|e| panic!("{e}"))
        };
        let since: Timestamp = "2026-01-02T03:04:05.5Z"
            .parse()
            .unwrap_or_else(|e| panic!("{e}"));
        let recorded = recorded_failing_since(&job(Some(&since.to_string())));
        assert_eq!(recorded, Some(since));
        assert_eq!(recorded_failing_since(&job(None)), None);
        assert_eq!(recorded_failing_since(&job(Some("yesterday"))), None);
    }
}
