//! GCS fault tolerance with Redis: when a fault-tolerant RayCluster is deleted, its GCS data must be removed from
//! Redis, or a new cluster with the same storage namespace would resume the old one's state.
//!
//! A finalizer holds the deletion while a cleanup Job runs. Upstream, a cleanup that cannot finish (or a Job that
//! cannot even be created, e.g. rejected by an admission policy) strands the cluster forever; here the finalizer is
//! removed after a hard deadline (annotation `ray.io/gcs-ft-deletion-timeout`, seconds, default 300) with a Warning
//! event naming the Redis storage namespace to clean by hand.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;
use kube::runtime::controller::Action as Requeue;
use operator_runtime::Notice;
use ray_api_v1::RayCluster;
use ray_builders::{ClusterContext, RenderError, RenderOptions, gcs_ft};

use super::decide::{Action, Decision};
use super::events;
use super::scaling::{is_head, is_terminating};
use crate::pod_index::CachedPod;

/// The finalizer KubeRay uses, so clusters created under KubeRay are cleaned up the same way.
pub const FINALIZER: &str = "ray.io/gcs-ft-redis-cleanup-finalizer";
/// The cluster annotation that sets the deadline, in seconds.
pub const DELETION_TIMEOUT_ANNOTATION: &str = "ray.io/gcs-ft-deletion-timeout";
/// The default deadline.
pub const DEFAULT_DELETION_TIMEOUT: Duration = Duration::from_secs(300);

/// Whether the cluster carries the cleanup finalizer.
pub fn has_finalizer(cluster: &RayCluster) -> bool {
    operator_runtime::finalizer::has(cluster, FINALIZER)
}

/// Whether a live cluster that keeps its GCS data in Redis (fault tolerance by `gcsFaultToleranceOptions` or the
/// `ray.io/ft-enabled` annotation) still lacks the cleanup finalizer.
pub fn needs_finalizer(cluster: &RayCluster) -> bool {
    gcs_ft::uses_redis(cluster)
        && !has_finalizer(cluster)
        && cluster.metadata.deletion_timestamp.is_none()
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

/// Whether the cleanup Job finished, whether it succeeded or not (a failed cleanup is not retried: the Warning
/// at the deadline would say the same).
pub fn job_finished(job: &Job) -> bool {
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

/// What the cleanup of a deleted cluster knows about its Job.
#[derive(Debug, Clone, PartialEq)]
pub enum CleanupJob {
    /// Not looked at: a head pod is still there, and the cleanup waits for it to go first.
    Unread,
    /// The Job exists.
    Exists {
        /// Whether it finished.
        finished: bool,
    },
    /// There is no Job: the one to create, or `None` when the cluster's identity cannot be rendered any more.
    Missing(Option<Box<Job>>),
}

/// Renders the cleanup Job of a deleted cluster from its head pod; `None` when the cluster's identity (names,
/// ports) cannot be rendered any more, so no Job can be built and the deadline ends the wait.
pub fn cleanup_job(
    cluster: &RayCluster,
    options: &RenderOptions,
) -> Result<Option<Job>, RenderError> {
    let Ok(ctx) = ClusterContext::new(cluster, options) else {
        return Ok(None);
    };
    let head = ray_builders::head_pod(&ctx)?;
    Ok(Some(gcs_ft::redis_cleanup_job(&ctx, &head)?))
}

/// The cleanup of a deleted cluster that carries the finalizer: delete its pods, wait for the head to be gone
/// (or Ray would write the data back), run the cleanup Job, and remove the finalizer once the Job finished or the
/// deadline passed.
pub fn cleanup<'f>(
    cluster: &RayCluster,
    pods: &[Arc<CachedPod>],
    job: &'f CleanupJob,
    now: Timestamp,
) -> Decision<'f> {
    if !gcs_ft::uses_redis(cluster) && gcs_ft::ft_enabled(cluster) {
        // The embedded backend keeps nothing in Redis (the operator does not implement it, but a cluster may
        // still carry the finalizer from KubeRay).
        return Decision {
            actions: vec![Action::RemoveFinalizer {
                because: "the cluster keeps no GCS data in Redis",
            }],
            ..Decision::wait(Requeue::await_change())
        };
    }
    let age = cluster
        .metadata
        .deletion_timestamp
        .as_ref()
        .map(|t| Duration::try_from(now.duration_since(t.0)).unwrap_or_default())
        .unwrap_or_default();
    let timeout = deletion_timeout(cluster);
    if age >= timeout {
        let storage = gcs_ft::storage_namespace(cluster).unwrap_or_else(|| "<unknown>".into());
        let note = format!(
            "The Redis cleanup did not finish within {} s; removed the finalizer. Delete the GCS data of Redis storage \
             namespace {storage:?} by hand (the keys prefixed with it).",
            timeout.as_secs()
        );
        return Decision {
            actions: vec![Action::RemoveFinalizer {
                because: "the GCS cleanup deadline passed",
            }],
            events: vec![Notice::warning(
                events::FORCE_DELETED_STUCK_CLUSTER,
                events::ACTION_CLEANUP,
                note,
            )],
            ..Decision::wait(Requeue::await_change())
        };
    }
    let remaining = timeout.saturating_sub(age);
    let wait = |d: Duration| Requeue::requeue(d.min(remaining).max(Duration::from_millis(500)));

    let mut actions = Vec::new();
    let running: Vec<String> = pods
        .iter()
        .filter(|p| !is_terminating(p))
        .map(|p| p.name.clone())
        .collect();
    if !running.is_empty() {
        actions.push(Action::DeletePodsForCleanup { pods: running });
    }
    let (more, requeue) = match job {
        _ if pods.iter().any(|p| is_head(p)) => (None, wait(Duration::from_secs(10))),
        CleanupJob::Unread => (None, wait(Duration::from_secs(10))),
        CleanupJob::Exists { finished: true } => (
            Some(Action::RemoveFinalizer {
                because: "the Redis cleanup Job finished",
            }),
            Requeue::await_change(),
        ),
        CleanupJob::Exists { finished: false } => (None, wait(Duration::from_secs(5))),
        CleanupJob::Missing(Some(job)) => (
            Some(Action::CreateCleanupJob {
                job,
                deadline_in: remaining,
            }),
            wait(Duration::from_secs(5)),
        ),
        // The spec cannot be rendered any more: no Job can be built; the deadline ends the wait.
        CleanupJob::Missing(None) => (None, wait(remaining)),
    };
    actions.extend(more);
    Decision {
        actions,
        ..Decision::wait(requeue)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn cluster(deleted: &str) -> RayCluster {
        serde_json::from_value(json!({
            "apiVersion": "ray.io/v1", "kind": "RayCluster",
            "metadata": { "name": "c", "namespace": "ns", "deletionTimestamp": deleted,
                          "finalizers": [FINALIZER], "annotations": { DELETION_TIMEOUT_ANNOTATION: "60" } },
            "spec": {"headGroupSpec": {"rayStartParams": {}, "template": {"spec": {"containers": [{"name": "h", "image": "i"}]}}}}
        }))
        .unwrap_or_else(|e| panic!("{e}"))
    }

    fn pod(name: &str, node_type: &str, terminating: bool) -> Arc<CachedPod> {
        let mut pod: k8s_openapi::api::core::v1::Pod = serde_json::from_value(json!({
            "metadata": { "name": name, "labels": { "ray.io/node-type": node_type } }
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        if terminating {
            pod.metadata.deletion_timestamp =
                cluster("2026-01-01T00:00:00Z").metadata.deletion_timestamp;
        }
        Arc::new(CachedPod::of(&pod))
    }

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_second(1_767_225_600 + seconds).unwrap_or_else(|e| panic!("{e}"))
    }

    const DELETED: &str = "2026-01-01T00:00:00Z";

    fn live(annotations: serde_json::Value, options: Option<serde_json::Value>) -> RayCluster {
        let mut doc = json!({
            "apiVersion": "ray.io/v1", "kind": "RayCluster",
            "metadata": { "name": "c", "namespace": "ns", "annotations": annotations },
            "spec": {"headGroupSpec": {"rayStartParams": {}, "template": {"spec": {"containers": [{"name": "h", "image": "i"}]}}}}
        });
        if let Some(options) = options {
            doc["spec"]["gcsFaultToleranceOptions"] = options;
        }
        serde_json::from_value(doc).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn redis_clusters_get_the_finalizer_whether_options_or_the_annotation_enable_it() {
        let options = live(json!({}), Some(json!({ "redisAddress": "redis:6379" })));
        assert!(needs_finalizer(&options));
        let annotation = live(json!({ "ray.io/ft-enabled": "true" }), None);
        assert!(needs_finalizer(&annotation));
        assert!(!needs_finalizer(&live(json!({}), None)));
        // The embedded backend keeps nothing in Redis.
        let rocksdb = live(json!({}), Some(json!({ "backend": "rocksdb" })));
        assert!(!needs_finalizer(&rocksdb));
    }

    #[test]
    fn a_deleted_embedded_backend_cluster_loses_the_finalizer_at_once() {
        let mut cluster = live(json!({}), Some(json!({ "backend": "rocksdb" })));
        cluster.metadata.deletion_timestamp = self::cluster(DELETED).metadata.deletion_timestamp;
        cluster.metadata.finalizers = Some(vec![FINALIZER.to_string()]);
        let pods = [pod("h", "head", false)];
        let decision = cleanup(&cluster, &pods, &CleanupJob::Unread, at(1));
        assert!(matches!(
            decision.actions.as_slice(),
            [Action::RemoveFinalizer { .. }]
        ));
        assert!(decision.events.is_empty());
    }

    #[test]
    fn the_deadline_warning_names_the_storage_namespace_of_the_options() {
        let mut cluster = cluster(DELETED);
        cluster.spec.gcs_fault_tolerance_options = Some(ray_api_v1::GcsFaultToleranceOptions {
            redis_address: Some("redis:6379".into()),
            external_storage_namespace: Some("shared-ns".into()),
            ..Default::default()
        });
        let decision = cleanup(&cluster, &[], &CleanupJob::Unread, at(60));
        let [event] = decision.events.as_slice() else {
            panic!("{:?}", decision.events);
        };
        assert!(event.note.contains("\"shared-ns\""), "{}", event.note);
    }

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

    #[test]
    fn pods_go_first_and_the_job_waits_for_the_head() {
        let cluster = cluster(DELETED);
        let pods = [pod("h", "head", false), pod("w", "worker", true)];
        let decision = cleanup(&cluster, &pods, &CleanupJob::Unread, at(10));
        assert_eq!(
            decision.actions,
            [Action::DeletePodsForCleanup {
                pods: vec!["h".into()]
            }]
        );
        assert_eq!(decision.requeue, Requeue::requeue(Duration::from_secs(10)));
        assert!(decision.events.is_empty());
        // A terminating head still holds the Job back.
        let job = CleanupJob::Missing(Some(Box::default()));
        let pods = [pod("h", "head", true)];
        let decision = cleanup(&cluster, &pods, &job, at(55));
        assert!(decision.actions.is_empty());
        assert_eq!(
            decision.requeue,
            Requeue::requeue(Duration::from_secs(5)),
            "capped by the deadline"
        );
    }

    #[test]
    fn the_job_is_created_once_the_head_is_gone_and_the_finalizer_removed_when_it_finished() {
        let cluster = cluster(DELETED);
        let job = CleanupJob::Missing(Some(Box::default()));
        let decision = cleanup(&cluster, &[], &job, at(20));
        assert!(matches!(
            decision.actions.as_slice(),
            [Action::CreateCleanupJob { deadline_in, .. }] if *deadline_in == Duration::from_secs(40)
        ));
        assert_eq!(decision.requeue, Requeue::requeue(Duration::from_secs(5)));
        let running = cleanup(
            &cluster,
            &[],
            &CleanupJob::Exists { finished: false },
            at(20),
        );
        assert!(running.actions.is_empty());
        let finished = cleanup(
            &cluster,
            &[],
            &CleanupJob::Exists { finished: true },
            at(20),
        );
        assert!(matches!(
            finished.actions.as_slice(),
            [Action::RemoveFinalizer { .. }]
        ));
        assert_eq!(finished.requeue, Requeue::await_change());
        let unrenderable = cleanup(&cluster, &[], &CleanupJob::Missing(None), at(20));
        assert!(unrenderable.actions.is_empty());
        assert_eq!(
            unrenderable.requeue,
            Requeue::requeue(Duration::from_secs(40))
        );
    }

    #[test]
    fn at_the_deadline_the_finalizer_goes_with_a_warning_naming_the_storage() {
        let cluster = cluster(DELETED);
        let pods = [pod("h", "head", false)];
        let decision = cleanup(&cluster, &pods, &CleanupJob::Unread, at(60));
        assert!(matches!(
            decision.actions.as_slice(),
            [Action::RemoveFinalizer { .. }]
        ));
        let [event] = decision.events.as_slice() else {
            panic!("{:?}", decision.events);
        };
        assert_eq!(event.reason, events::FORCE_DELETED_STUCK_CLUSTER);
        assert_eq!(event.action, events::ACTION_CLEANUP);
        assert!(event.note.contains("within 60 s"), "{}", event.note);
        assert_eq!(decision.requeue, Requeue::await_change());
    }
}
