//! GCS fault tolerance with an external Redis, and the Job that removes a deleted cluster's data from Redis.
//!
//! Fault tolerance is switched on by `spec.gcsFaultToleranceOptions` (KubeRay 1.3), from which the operator sets
//! the head's Redis address, credentials and start parameters, or by the older RayCluster annotation
//! `ray.io/ft-enabled: "true"`, with which the user points Ray at Redis with the head's `RAY_REDIS_ADDRESS`
//! variable and, optionally, the `redis-password` start parameter. Validation keeps the two apart. The embedded
//! `rocksdb` backend is not implemented (validation rejects it), so fault tolerance here always means Redis.

use std::collections::BTreeMap;

use k8s_openapi::api::batch::v1::{Job, JobSpec};
use k8s_openapi::api::core::v1::{Container, Pod, PodTemplateSpec, ResourceRequirements};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use ray_api_v1::{GcsFaultToleranceBackend, RayCluster, RedisCredential};

use crate::context::ClusterContext;
use crate::env;
use crate::labels;
use crate::names::{self, NameError};
use crate::shell::ParamValue;

/// Seconds the cleanup Job may run before Kubernetes stops it.
pub const CLEANUP_DEADLINE_SECONDS: i64 = 300;

/// Whether the cluster has GCS fault tolerance: `gcsFaultToleranceOptions` is set, or the annotation
/// `ray.io/ft-enabled` is `"true"` (any case).
pub fn ft_enabled(cluster: &RayCluster) -> bool {
    ray_api_v1::validation::gcs_ft::ft_enabled(&cluster.spec, cluster.metadata.annotations.as_ref())
}

/// Whether the cluster keeps its GCS data in Redis, which must be cleaned up when the cluster is deleted: fault
/// tolerance with any backend but the embedded `rocksdb` one.
pub fn uses_redis(cluster: &RayCluster) -> bool {
    ft_enabled(cluster)
        && cluster
            .spec
            .gcs_fault_tolerance_options
            .as_ref()
            .and_then(|o| o.backend)
            != Some(GcsFaultToleranceBackend::Rocksdb)
}

/// The Redis key namespace of the cluster's GCS data: `gcsFaultToleranceOptions.externalStorageNamespace`, else
/// the `ray.io/external-storage-namespace` annotation, else the cluster's UID. `None` when none is set (before the
/// cluster exists there is no UID).
pub fn storage_namespace(cluster: &RayCluster) -> Option<String> {
    cluster
        .spec
        .gcs_fault_tolerance_options
        .as_ref()
        .and_then(|o| o.external_storage_namespace.clone())
        .filter(|s| !s.is_empty())
        .or_else(|| {
            cluster
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(labels::EXTERNAL_STORAGE_NAMESPACE_ANNOTATION))
                .cloned()
        })
        .or_else(|| cluster.metadata.uid.clone())
        .filter(|s| !s.is_empty())
}

/// A Redis credential as an environment variable of the head.
fn credential_var(name: &str, credential: &RedisCredential) -> k8s_openapi::api::core::v1::EnvVar {
    k8s_openapi::api::core::v1::EnvVar {
        name: name.to_string(),
        value: credential.value.clone(),
        value_from: credential.value_from.clone(),
    }
}

/// Applies fault tolerance to the head pod: the `ray.io/ft-enabled` annotation (always written), the storage
/// namespace annotation and variable, and the Redis connection. With `gcsFaultToleranceOptions` that is
/// `RAY_REDIS_ADDRESS` and, for each credential, its variable (`REDIS_USERNAME`, `REDIS_PASSWORD`) and the start
/// parameter that reads it (`redis-username`, `redis-password`, added to `params`); with the annotation only,
/// `REDIS_PASSWORD` from a literal `redis-password` start parameter.
pub(crate) fn configure_head(
    cluster: &RayCluster,
    ray_container: &mut Container,
    annotations: &mut BTreeMap<String, String>,
    params: &mut BTreeMap<String, String>,
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
    if let Some(options) = &cluster.spec.gcs_fault_tolerance_options {
        env::push_if_absent(
            &mut ray_container.env,
            env::value(
                env::RAY_REDIS_ADDRESS,
                options.redis_address.clone().unwrap_or_default(),
            ),
        );
        for (credential, variable, param) in [
            (
                &options.redis_username,
                env::REDIS_USERNAME,
                "redis-username",
            ),
            (
                &options.redis_password,
                env::REDIS_PASSWORD,
                "redis-password",
            ),
        ] {
            if let Some(credential) = credential {
                params.insert(param.to_string(), format!("${variable}"));
                env::push_if_absent(&mut ray_container.env, credential_var(variable, credential));
            }
        }
    } else if let Some(ParamValue::Literal(password)) =
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
    // The Job is not a Ray node: it takes the head's annotations but not the spec hash and version that tell the
    // Ray pods of an older spec (as in KubeRay, which adds them after building the head pod the Job is made from).
    let annotations = head_pod
        .metadata
        .annotations
        .clone()
        .map(|mut annotations| {
            annotations.remove(labels::RECREATE_HASH_ANNOTATION);
            annotations.remove(labels::KUBERAY_VERSION_ANNOTATION);
            annotations
        });
    let annotations = annotations.filter(|a| !a.is_empty());
    Ok(Job {
        metadata: ObjectMeta {
            name: Some(name),
            namespace: Some(ctx.namespace.clone()),
            labels: Some(labels.clone()),
            annotations: annotations.clone(),
            owner_references: ctx.owner_reference().map(|o| vec![o]),
            ..ObjectMeta::default()
        },
        spec: Some(JobSpec {
            backoff_limit: Some(0),
            active_deadline_seconds: Some(CLEANUP_DEADLINE_SECONDS),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels),
                    annotations,
                    ..ObjectMeta::default()
                }),
                spec: Some(spec),
            },
            ..JobSpec::default()
        }),
        status: None,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use k8s_openapi::api::core::v1::EnvVar;
    use serde_json::{Value, json};

    use super::*;
    use crate::{RenderOptions, WorkerReplica, head_pod, worker_pod};

    fn cluster(annotations: Value, options: Option<Value>, head_params: Value) -> RayCluster {
        let mut spec = json!({
            "rayVersion": "2.46.0",
            "headGroupSpec": {
                "rayStartParams": head_params,
                "template": { "spec": { "containers": [{ "name": "ray-head", "image": "rayproject/ray:2.46.0" }] } }
            },
            "workerGroupSpecs": [{
                "groupName": "workers", "replicas": 1, "minReplicas": 0, "maxReplicas": 2,
                "template": { "spec": { "containers": [{ "name": "ray-worker", "image": "rayproject/ray:2.46.0" }] } }
            }]
        });
        if let Some(options) = options {
            spec["gcsFaultToleranceOptions"] = options;
        }
        serde_json::from_value(json!({
            "apiVersion": "ray.io/v1", "kind": "RayCluster",
            "metadata": { "name": "ft", "namespace": "ns", "uid": "0a1b-uid", "annotations": annotations },
            "spec": spec
        }))
        .unwrap()
    }

    static OPTIONS: std::sync::LazyLock<RenderOptions> =
        std::sync::LazyLock::new(|| RenderOptions {
            operator_version: "test".into(),
            ..RenderOptions::default()
        });

    fn ray_container(pod: &Pod) -> &Container {
        &pod.spec.as_ref().unwrap().containers[0]
    }

    fn env<'a>(container: &'a Container, name: &str) -> Option<&'a EnvVar> {
        container.env.iter().flatten().find(|v| v.name == name)
    }

    fn start_script(container: &Container) -> String {
        container.args.clone().unwrap_or_default().join(" ")
    }

    fn secret_ref(name: &str, key: &str) -> Value {
        json!({ "secretKeyRef": { "name": name, "key": key } })
    }

    #[test]
    fn options_set_the_redis_connection_of_the_head() {
        let cluster = cluster(
            json!({}),
            Some(json!({
                "redisAddress": "rediss://redis.example:6380",
                "redisUsername": { "valueFrom": secret_ref("redis", "user") },
                "redisPassword": { "value": "s3cret" },
                "externalStorageNamespace": "shared-ns"
            })),
            json!({}),
        );
        assert!(ft_enabled(&cluster) && uses_redis(&cluster));
        let ctx = ClusterContext::new(&cluster, &OPTIONS).unwrap();
        let head = head_pod(&ctx).unwrap();
        let annotations = head.metadata.annotations.clone().unwrap();
        assert_eq!(annotations[labels::FT_ENABLED_ANNOTATION], "true");
        // The option wins over the UID.
        assert_eq!(
            annotations[labels::EXTERNAL_STORAGE_NAMESPACE_ANNOTATION],
            "shared-ns"
        );
        let ray = ray_container(&head);
        let value = |name: &str| env(ray, name).and_then(|v| v.value.clone());
        assert_eq!(
            value(env::RAY_REDIS_ADDRESS).as_deref(),
            Some("rediss://redis.example:6380")
        );
        assert_eq!(
            value(env::RAY_EXTERNAL_STORAGE_NAMESPACE).as_deref(),
            Some("shared-ns")
        );
        assert_eq!(value(env::REDIS_PASSWORD).as_deref(), Some("s3cret"));
        let username = env(ray, env::REDIS_USERNAME).unwrap();
        assert_eq!(username.value, None);
        let from = username.value_from.as_ref().unwrap();
        let secret = from.secret_key_ref.as_ref().unwrap();
        assert_eq!(
            (secret.name.as_str(), secret.key.as_str()),
            ("redis", "user")
        );
        // The start parameters read the variables, so the secret never appears in the command.
        let script = start_script(ray);
        assert!(
            script.contains("--redis-username=\"${REDIS_USERNAME}\""),
            "{script}"
        );
        assert!(
            script.contains("--redis-password=\"${REDIS_PASSWORD}\""),
            "{script}"
        );
        assert!(!script.contains("s3cret"), "{script}");
    }

    #[test]
    fn options_without_credentials_add_no_credential_parameters() {
        let cluster = cluster(
            json!({}),
            Some(json!({ "redisAddress": "redis:6379" })),
            json!({}),
        );
        let ctx = ClusterContext::new(&cluster, &OPTIONS).unwrap();
        let head = head_pod(&ctx).unwrap();
        let ray = ray_container(&head);
        assert!(env(ray, env::REDIS_PASSWORD).is_none());
        assert!(env(ray, env::REDIS_USERNAME).is_none());
        let script = start_script(ray);
        assert!(!script.contains("--redis-"), "{script}");
        // Without the option, the namespace is the cluster's UID.
        assert_eq!(
            env(ray, env::RAY_EXTERNAL_STORAGE_NAMESPACE).and_then(|v| v.value.as_deref()),
            Some("0a1b-uid")
        );
    }

    #[test]
    fn workers_wait_for_a_restarted_gcs_with_options_or_annotation() {
        for cluster in [
            cluster(
                json!({}),
                Some(json!({ "redisAddress": "redis:6379" })),
                json!({}),
            ),
            cluster(json!({ "ray.io/ft-enabled": "TRUE" }), None, json!({})),
        ] {
            let ctx = ClusterContext::new(&cluster, &OPTIONS).unwrap();
            let replica = WorkerReplica {
                index: 0,
                multi_host: None,
            };
            let worker = worker_pod(&ctx, 0, &replica).unwrap();
            let timeout = env(
                ray_container(&worker),
                env::RAY_GCS_RPC_SERVER_RECONNECT_TIMEOUT_S,
            );
            assert_eq!(timeout.and_then(|v| v.value.as_deref()), Some("600"));
            // Only the head talks to Redis.
            assert!(env(ray_container(&worker), env::RAY_REDIS_ADDRESS).is_none());
        }
        let off = cluster(json!({}), None, json!({}));
        let ctx = ClusterContext::new(&off, &OPTIONS).unwrap();
        let worker = worker_pod(
            &ctx,
            0,
            &WorkerReplica {
                index: 0,
                multi_host: None,
            },
        )
        .unwrap();
        assert!(
            env(
                ray_container(&worker),
                env::RAY_GCS_RPC_SERVER_RECONNECT_TIMEOUT_S
            )
            .is_none()
        );
        let head = head_pod(&ctx).unwrap();
        assert_eq!(
            head.metadata.annotations.unwrap()[labels::FT_ENABLED_ANNOTATION],
            "false"
        );
    }

    #[test]
    fn the_legacy_annotation_path_is_unchanged() {
        let cluster = cluster(
            json!({ "ray.io/ft-enabled": "true", "ray.io/external-storage-namespace": "legacy-ns" }),
            None,
            json!({ "redis-password": "literal-pw" }),
        );
        let ctx = ClusterContext::new(&cluster, &OPTIONS).unwrap();
        let head = head_pod(&ctx).unwrap();
        let ray = ray_container(&head);
        assert_eq!(
            env(ray, env::REDIS_PASSWORD).and_then(|v| v.value.as_deref()),
            Some("literal-pw")
        );
        assert_eq!(
            env(ray, env::RAY_EXTERNAL_STORAGE_NAMESPACE).and_then(|v| v.value.as_deref()),
            Some("legacy-ns")
        );
        // The operator adds no address of its own: the user gives RAY_REDIS_ADDRESS.
        assert!(env(ray, env::RAY_REDIS_ADDRESS).is_none());
        assert!(env(ray, env::REDIS_USERNAME).is_none());
    }

    #[test]
    fn only_the_embedded_backend_keeps_no_data_in_redis() {
        let rocksdb = cluster(json!({}), Some(json!({ "backend": "rocksdb" })), json!({}));
        assert!(ft_enabled(&rocksdb));
        assert!(!uses_redis(&rocksdb));
        let redis = cluster(json!({}), Some(json!({ "backend": "redis" })), json!({}));
        assert!(uses_redis(&redis));
        assert!(!uses_redis(&cluster(json!({}), None, json!({}))));
    }

    #[test]
    fn the_cleanup_job_logs_in_with_the_user_name_and_password_of_the_head() {
        let cluster = cluster(
            json!({}),
            Some(json!({
                "redisAddress": "rediss://redis:6379",
                "redisUsername": { "value": "ray" },
                "redisPassword": { "valueFrom": secret_ref("redis", "password") }
            })),
            json!({}),
        );
        let ctx = ClusterContext::new(&cluster, &OPTIONS).unwrap();
        let head = head_pod(&ctx).unwrap();
        let job = redis_cleanup_job(&ctx, &head).unwrap();
        let pod = job.spec.unwrap().template.spec.unwrap();
        let container = &pod.containers[0];
        assert_eq!(
            env(container, env::REDIS_USERNAME).and_then(|v| v.value.as_deref()),
            Some("ray")
        );
        let password = env(container, env::REDIS_PASSWORD).unwrap();
        assert!(
            password
                .value_from
                .as_ref()
                .unwrap()
                .secret_key_ref
                .is_some()
        );
        assert_eq!(
            env(container, env::RAY_REDIS_ADDRESS).and_then(|v| v.value.as_deref()),
            Some("rediss://redis:6379")
        );
        let script = start_script(container);
        // The script passes the user name only when the variable is there, and TLS for rediss:// addresses.
        assert!(
            script.contains("if \"REDIS_USERNAME\" in os.environ"),
            "{script}"
        );
        assert!(
            script.contains("use_ssl=parsed.scheme == \"rediss\""),
            "{script}"
        );
        assert!(!script.contains("ray start"), "{script}");
    }
}
