//! GCS fault tolerance with Redis: when a fault-tolerant RayCluster is deleted, its GCS data must be removed from
//! Redis, or a new cluster with the same storage namespace would resume the old one's state.
//!
//! A finalizer holds the deletion while a cleanup Job runs. Upstream, a cleanup that cannot finish (or a Job that
//! cannot even be created, e.g. rejected by an admission policy) strands the cluster forever; here the finalizer is
//! removed after a hard deadline (annotation `ray.io/gcs-ft-deletion-timeout`, seconds, default 300) with a Warning
//! event naming the Redis storage namespace to clean by hand.

use std::time::Duration;

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::runtime::controller::Action as Requeue;
use kube::runtime::events::EventType;
use kube::{Api, ResourceExt};
use ray_api_v1::RayCluster;
use ray_builders::{ClusterContext, gcs_ft};
use tracing::{info, warn};

use super::decide::is_terminating;
use super::events;
use crate::context::{Context, FIELD_MANAGER};
use crate::error::{Error, api_message};

/// The finalizer KubeRay uses, so clusters created under KubeRay are cleaned up the same way.
pub const FINALIZER: &str = "ray.io/gcs-ft-redis-cleanup-finalizer";
/// The cluster annotation that sets the deadline, in seconds.
pub const DELETION_TIMEOUT_ANNOTATION: &str = "ray.io/gcs-ft-deletion-timeout";
/// The default deadline.
pub const DEFAULT_DELETION_TIMEOUT: Duration = Duration::from_secs(300);

/// Whether the cluster carries the cleanup finalizer.
pub fn has_finalizer(cluster: &RayCluster) -> bool {
    cluster.finalizers().iter().any(|f| f == FINALIZER)
}

/// The cleanup deadline: the annotation if it is a positive number of seconds, else 300 s.
pub fn deletion_timeout(cluster: &RayCluster) -> Duration {
    cluster
        .annotations()
        .get(DELETION_TIMEOUT_ANNOTATION)
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|s| *s > 0)
        .map(Duration::from_secs)
        .unwrap_or(DEFAULT_DELETION_TIMEOUT)
}

async fn set_finalizers(
    ctx: &Context,
    cluster: &RayCluster,
    finalizers: Vec<String>,
) -> Result<(), Error> {
    let namespace = cluster.namespace().unwrap_or_default();
    let name = cluster.name_any();
    let api: Api<RayCluster> = Api::namespaced(ctx.client.clone(), &namespace);
    // The resourceVersion makes this a compare-and-swap: a finalizer another controller added meanwhile is not lost.
    let patch = serde_json::json!({
        "metadata": {"finalizers": finalizers, "resourceVersion": cluster.resource_version()}
    });
    api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map(|_| ())
        .map_err(|source| Error::Write {
            action: "updating the finalizers of",
            what: format!("RayCluster {namespace}/{name}"),
            source,
        })
}

/// Adds the finalizer to a live fault-tolerant cluster. Returns `true` if it wrote (the update triggers the next
/// reconcile).
pub async fn ensure_finalizer(ctx: &Context, cluster: &RayCluster) -> Result<bool, Error> {
    if !gcs_ft::ft_enabled(cluster)
        || has_finalizer(cluster)
        || cluster.metadata.deletion_timestamp.is_some()
    {
        return Ok(false);
    }
    let mut finalizers = cluster.finalizers().to_vec();
    finalizers.push(FINALIZER.to_string());
    set_finalizers(ctx, cluster, finalizers).await?;
    info!("added the GCS fault-tolerance cleanup finalizer");
    Ok(true)
}

fn job_finished(job: &Job) -> bool {
    job.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| {
            c.iter().any(|c| {
                matches!(c.type_.as_str(), "Complete" | "Failed" | "FailureTarget")
                    && c.status == "True"
            })
        })
}

/// Runs the cleanup of a deleted cluster that carries the finalizer: delete its pods, run the cleanup Job, and
/// remove the finalizer once the Job finished or the deadline passed.
pub async fn cleanup(
    ctx: &Context,
    cluster: &RayCluster,
    builder: Option<&ClusterContext<'_>>,
    pods: &[&Pod],
    reference: &k8s_openapi::api::core::v1::ObjectReference,
) -> Result<Requeue, Error> {
    let namespace = cluster.namespace().unwrap_or_default();
    let name = cluster.name_any();
    let remove = |cluster: &RayCluster| {
        cluster
            .finalizers()
            .iter()
            .filter(|f| *f != FINALIZER)
            .cloned()
            .collect::<Vec<_>>()
    };
    let age = cluster
        .metadata
        .deletion_timestamp
        .as_ref()
        .map(|t| {
            let since = k8s_openapi::jiff::Timestamp::now().duration_since(t.0);
            Duration::try_from(since).unwrap_or_default()
        })
        .unwrap_or_default();
    let timeout = deletion_timeout(cluster);
    if age >= timeout {
        let storage = gcs_ft::storage_namespace(cluster).unwrap_or_else(|| "<unknown>".into());
        let note = format!(
            "The Redis cleanup did not finish within {} s; removed the finalizer. Delete the GCS data of Redis storage \
             namespace {storage:?} by hand (the keys prefixed with it).",
            timeout.as_secs()
        );
        warn!(%storage, "GCS cleanup deadline passed; removing the finalizer");
        publish(
            ctx,
            reference,
            EventType::Warning,
            "ForceDeletedStuckCluster",
            note,
        )
        .await;
        set_finalizers(ctx, cluster, remove(cluster)).await?;
        return Ok(Requeue::await_change());
    }
    let remaining = timeout.saturating_sub(age);
    let wait = |d: Duration| Requeue::requeue(d.min(remaining).max(Duration::from_millis(500)));

    // The head must be gone before the cleanup runs, or Ray would write the data back.
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), &namespace);
    let mut heads_left = false;
    for pod in pods {
        if super::decide::is_head(pod) {
            heads_left = true;
        }
        if !is_terminating(pod) {
            let pod_name = pod.metadata.name.clone().unwrap_or_default();
            match api.delete(&pod_name, &DeleteParams::default()).await {
                Ok(_) | Err(kube::Error::Api(_)) => {}
                Err(source) => {
                    return Err(Error::Write {
                        action: "deleting",
                        what: format!("Pod {namespace}/{pod_name}"),
                        source,
                    });
                }
            }
        }
    }
    if heads_left {
        return Ok(wait(Duration::from_secs(10)));
    }

    let Some(builder) = builder else {
        // The spec cannot be rendered any more: no Job can be built; the deadline ends the wait.
        return Ok(wait(remaining));
    };
    let jobs: Api<Job> = Api::namespaced(ctx.client.clone(), &namespace);
    let job_name =
        ray_builders::names::redis_cleanup_job_name(&name, "metadata.name").map_err(|e| {
            Error::Render {
                what: format!("{namespace}/{name}"),
                message: e.to_string(),
            }
        })?;
    match jobs
        .get_opt(&job_name)
        .await
        .map_err(|source| Error::Read {
            what: format!("Job {namespace}/{job_name}"),
            source,
        })? {
        Some(job) if job_finished(&job) => {
            info!(job = %job_name, "Redis cleanup Job finished; removing the finalizer");
            set_finalizers(ctx, cluster, remove(cluster)).await?;
            Ok(Requeue::await_change())
        }
        Some(_) => Ok(wait(Duration::from_secs(5))),
        None => {
            let render = |e: &dyn std::fmt::Display| Error::Render {
                what: format!("{namespace}/{name}"),
                message: e.to_string(),
            };
            let head = ray_builders::head_pod(builder).map_err(|e| render(&e))?;
            let job = gcs_ft::redis_cleanup_job(builder, &head).map_err(|e| render(&e))?;
            let params = PostParams {
                field_manager: Some(FIELD_MANAGER.to_string()),
                ..PostParams::default()
            };
            match jobs.create(&params, &job).await {
                Ok(_) => {
                    publish(
                        ctx,
                        reference,
                        EventType::Normal,
                        "CreatedRedisCleanupJob",
                        format!("Created Redis cleanup Job {namespace}/{job_name}"),
                    )
                    .await;
                }
                Err(error) => {
                    let message = format!(
                        "Failed to create Redis cleanup Job {namespace}/{job_name}: {}; the finalizer is removed at the \
                         deadline in {} s",
                        api_message(&error),
                        remaining.as_secs()
                    );
                    warn!(%error, "creating the Redis cleanup Job failed");
                    publish(
                        ctx,
                        reference,
                        EventType::Warning,
                        "FailedToCreateRedisCleanupJob",
                        message,
                    )
                    .await;
                }
            }
            Ok(wait(Duration::from_secs(5)))
        }
    }
}

async fn publish(
    ctx: &Context,
    reference: &k8s_openapi::api::core::v1::ObjectReference,
    type_: EventType,
    reason: &str,
    note: String,
) {
    let event = kube::runtime::events::Event {
        type_,
        reason: reason.to_string(),
        note: Some(events::note(&note)),
        action: "Cleanup".to_string(),
        secondary: None,
    };
    if let Err(error) = ctx.recorder.publish(&event, reference).await {
        warn!(%error, reason, "could not publish an event");
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_deadline_comes_from_the_annotation_or_defaults_to_300_seconds() {
        let mut c: RayCluster = serde_json::from_value(json!({
            "apiVersion": "ray.io/v1", "kind": "RayCluster", "metadata": {"name": "c"},
            "spec": {"headGroupSpec": {"rayStartParams": {}, "template": {"spec": {"containers": [{"name": "h", "image": "i"}]}}}}
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(deletion_timeout(&c), DEFAULT_DELETION_TIMEOUT);
        c.metadata.annotations =
            Some([(DELETION_TIMEOUT_ANNOTATION.to_string(), "7".to_string())].into());
        assert_eq!(deletion_timeout(&c), Duration::from_secs(7));
        c.metadata.annotations =
            Some([(DELETION_TIMEOUT_ANNOTATION.to_string(), "-1".to_string())].into());
        assert_eq!(deletion_timeout(&c), DEFAULT_DELETION_TIMEOUT);
    }
}
