//! GCS fault tolerance with an external Redis, and the Job that removes a deleted cluster's data from Redis.
//!
//! In this API generation, fault tolerance is switched on by the RayCluster annotation `ray.io/ft-enabled: "true"`;
//! the user points Ray at Redis with the head's `RAY_REDIS_ADDRESS` variable and, optionally, the
//! `redis-password` start parameter.

use std::collections::BTreeMap;

use k8s_openapi::api::batch::v1::{Job, JobSpec};
use k8s_openapi::api::core::v1::{Container, Pod, PodTemplateSpec, ResourceRequirements};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use ray_api_v1::RayCluster;

use crate::context::ClusterContext;
use crate::env;
use crate::labels;
use crate::names::{self, NameError};
use crate::shell::ParamValue;

/// Seconds the cleanup Job may run before Kubernetes stops it.
pub const CLEANUP_DEADLINE_SECONDS: i64 = 300;

/// Whether the cluster has GCS fault tolerance (`ray.io/ft-enabled: "true"`, any case).
pub fn ft_enabled(cluster: &RayCluster) -> bool {
    labels::annotation_is_true(
        cluster.metadata.annotations.as_ref(),
        labels::FT_ENABLED_ANNOTATION,
    )
}

/// The Redis key namespace of the cluster's GCS data: the `ray.io/external-storage-namespace` annotation, or the
/// cluster's UID. `None` before the cluster exists (no UID yet) and without the annotation.
pub fn storage_namespace(cluster: &RayCluster) -> Option<String> {
    cluster
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(labels::EXTERNAL_STORAGE_NAMESPACE_ANNOTATION))
        .cloned()
        .or_else(|| cluster.metadata.uid.clone())
        .filter(|s| !s.is_empty())
}

/// Applies fault tolerance to the head pod: the `ray.io/ft-enabled` annotation (always written), the storage
/// namespace annotation and variable, and `REDIS_PASSWORD` from a literal `redis-password` start parameter.
pub(crate) fn configure_head(
    cluster: &RayCluster,
    ray_container: &mut Container,
    annotations: &mut BTreeMap<String, String>,
    params: &BTreeMap<String, String>,
) {
    let enabled = ft_enabled(cluster);
    annotations.insert(
        labels::FT_ENABLED_ANNOTATION.to_string(),
        enabled.to_string(),
    );
    if !enabled {
        return;
    }
    if let Some(namespace) = storage_namespace(cluster) {
        annotations.insert(
            labels::EXTERNAL_STORAGE_NAMESPACE_ANNOTATION.to_string(),
            namespace.clone(),
        );
        env::push_if_absent(
            &mut ray_container.env,
            env::value(env::RAY_EXTERNAL_STORAGE_NAMESPACE, namespace),
        );
    }
    if let Some(ParamValue::Literal(password)) =
        params.get("redis-password").map(|p| ParamValue::parse(p))
    {
        env::push_if_absent(
            &mut ray_container.env,
            env::value(env::REDIS_PASSWORD, password),
        );
    }
}

/// Applies fault tolerance to a worker's Ray container: workers wait up to 10 minutes for a restarted GCS.
pub(crate) fn configure_worker(cluster: &RayCluster, ray_container: &mut Container) {
    if ft_enabled(cluster) {
        env::push_if_absent(
            &mut ray_container.env,
            env::value(env::RAY_GCS_RPC_SERVER_RECONNECT_TIMEOUT_S, "600"),
        );
    }
}

const CLEANUP_SCRIPT: &str = r#"import os, sys
from urllib.parse import urlparse
from ray._private.gcs_utils import cleanup_redis_storage
address = os.getenv("RAY_REDIS_ADDRESS", "").split(",")[0]
if "://" not in address:
    address = "redis://" + address
parsed = urlparse(address)
kwargs = {}
if "REDIS_USERNAME" in os.environ:
    kwargs["username"] = os.getenv("REDIS_USERNAME", parsed.username)
ok = cleanup_redis_storage(host=parsed.hostname, port=parsed.port, password=os.getenv("REDIS_PASSWORD", parsed.password or ""), use_ssl=parsed.scheme == "rediss", storage_namespace=os.getenv("RAY_external_storage_namespace"), **kwargs)
sys.exit(0 if ok else 1)"#;

/// The Job that deletes a deleted cluster's GCS data from Redis, built from its head pod: the head's labels (with
/// `ray.io/node-type: redis-cleanup`), annotations, environment and Ray image, no probes, 200m CPU and 256Mi
/// memory, no retries, and a 300-second deadline.
pub fn redis_cleanup_job(ctx: &ClusterContext<'_>, head_pod: &Pod) -> Result<Job, NameError> {
    let name = names::redis_cleanup_job_name(&ctx.name, "metadata.name")?;
    let mut labels = head_pod.metadata.labels.clone().unwrap_or_default();
    labels.insert(
        labels::NODE_TYPE.to_string(),
        labels::NODE_TYPE_REDIS_CLEANUP.to_string(),
    );
    let mut spec = head_pod.spec.clone().unwrap_or_default();
    spec.containers.truncate(1);
    if let Some(container) = spec.containers.first_mut() {
        let script = format!(
            "echo {} && python -c {}",
            crate::shell::quote(
                "Deleting the GCS data of this cluster from Redis. If this Job fails, delete the keys of the storage namespace in RAY_external_storage_namespace by hand.",
                "metadata.name"
            )
            .unwrap_or_default(),
            crate::shell::quote(CLEANUP_SCRIPT, "metadata.name").unwrap_or_default()
        );
        container.command = Some(vec![
            "/bin/bash".to_string(),
            "-c".to_string(),
            "--".to_string(),
        ]);
        container.args = Some(vec![script]);
        container.liveness_probe = None;
        container.readiness_probe = None;
        container.startup_probe = None;
        env::push_if_absent(
            &mut container.env,
            env::value("RAY_redis_db_connect_retries", "120"),
        );
        env::push_if_absent(
            &mut container.env,
            env::value("RAY_redis_db_connect_wait_milliseconds", "500"),
        );
        let amounts = BTreeMap::from([
            ("cpu".to_string(), Quantity("200m".to_string())),
            ("memory".to_string(), Quantity("256Mi".to_string())),
        ]);
        container.resources = Some(ResourceRequirements {
            limits: Some(amounts.clone()),
            requests: Some(amounts),
            ..ResourceRequirements::default()
        });
    }
    spec.restart_policy = Some("Never".to_string());
    Ok(Job {
        metadata: ObjectMeta {
            name: Some(name),
            namespace: Some(ctx.namespace.clone()),
            labels: Some(labels.clone()),
            annotations: head_pod.metadata.annotations.clone(),
            owner_references: ctx.owner_reference().map(|o| vec![o]),
            ..ObjectMeta::default()
        },
        spec: Some(JobSpec {
            backoff_limit: Some(0),
            active_deadline_seconds: Some(CLEANUP_DEADLINE_SECONDS),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels),
                    annotations: head_pod.metadata.annotations.clone(),
                    ..ObjectMeta::default()
                }),
                spec: Some(spec),
            },
            ..JobSpec::default()
        }),
        status: None,
    })
}
