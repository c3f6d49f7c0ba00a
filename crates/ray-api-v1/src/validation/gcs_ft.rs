//! GCS fault tolerance with an external Redis: `gcsFaultToleranceOptions` and the legacy `ray.io/ft-enabled`
//! annotation, with the environment variables and start parameters the operator derives from them.
//!
//! With `gcsFaultToleranceOptions` the operator itself sets `RAY_REDIS_ADDRESS`, `REDIS_USERNAME`,
//! `REDIS_PASSWORD` and the `redis-username` / `redis-password` start parameters of the head, so a value the user
//! put there as well would compete with the options; such specs are rejected, pointing to the option to use. The
//! embedded `rocksdb` backend is not implemented and is rejected by [`super::unsupported`].

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::EnvVar;

use super::FieldError;
use super::pod::check_env;
use crate::raycluster::{GcsFaultToleranceBackend, RayClusterSpec, RedisCredential};

/// The annotation that turns on fault tolerance without `gcsFaultToleranceOptions` (KubeRay before 1.3).
pub const FT_ENABLED_ANNOTATION: &str = "ray.io/ft-enabled";
/// The annotation that names the Redis key namespace without `gcsFaultToleranceOptions`.
pub const EXTERNAL_STORAGE_NAMESPACE_ANNOTATION: &str = "ray.io/external-storage-namespace";
/// The head variable that points Ray at Redis.
const RAY_REDIS_ADDRESS: &str = "RAY_REDIS_ADDRESS";
/// The head variable holding the Redis password.
const REDIS_PASSWORD: &str = "REDIS_PASSWORD";
/// The head variable holding the Redis user name.
const REDIS_USERNAME: &str = "REDIS_USERNAME";

/// Whether a spec and the annotations of the object holding it ask for GCS fault tolerance: the
/// `ray.io/ft-enabled` annotation is `true` (any case), or `gcsFaultToleranceOptions` is set.
pub fn ft_enabled(spec: &RayClusterSpec, annotations: Option<&BTreeMap<String, String>>) -> bool {
    spec.gcs_fault_tolerance_options.is_some()
        || annotations
            .and_then(|a| a.get(FT_ENABLED_ANNOTATION))
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

/// The head's Ray container environment with each variable's path.
fn head_env<'a>(
    spec: &'a RayClusterSpec,
    path: &str,
) -> impl Iterator<Item = (String, &'a EnvVar)> {
    let env = spec
        .head_group_spec
        .template
        .spec
        .as_ref()
        .and_then(|pod| pod.containers.first())
        .and_then(|container| container.env.as_deref())
        .unwrap_or_default();
    let at = format!("{path}.headGroupSpec.template.spec.containers[0].env");
    env.iter()
        .enumerate()
        .map(move |(index, var)| (format!("{at}[{index}]"), var))
}

/// The head's `rayStartParams` entry `key`, when it is set to something.
fn head_param<'a>(spec: &'a RayClusterSpec, key: &str) -> Option<&'a str> {
    spec.head_group_spec
        .ray_start_params
        .get(key)
        .map(String::as_str)
        .filter(|v| !v.is_empty())
}

/// The rules that need only the spec at `path`.
pub(crate) fn check_spec(spec: &RayClusterSpec, path: &str, errors: &mut Vec<FieldError>) {
    let params_path = |key: &str| format!("{path}.headGroupSpec.rayStartParams[\"{key}\"]");
    // Ray reads the user name only from this start parameter; the operator fills it in from the option.
    if head_param(spec, "redis-username").is_some() {
        errors.push(FieldError::new(
            params_path("redis-username"),
            REDIS_USERNAME_PARAM,
        ));
    }
    for (at, var) in head_env(spec, path) {
        if var.name == REDIS_USERNAME {
            errors.push(FieldError::new(
                at,
                format!(
                    "the Redis user name is set with gcsFaultToleranceOptions.redisUsername: move it there and remove {REDIS_USERNAME}"
                ),
            ));
        }
    }

    let Some(options) = &spec.gcs_fault_tolerance_options else {
        return;
    };
    let options_path = format!("{path}.gcsFaultToleranceOptions");
    if head_param(spec, "redis-password").is_some() {
        errors.push(FieldError::new(
            params_path("redis-password"),
            REDIS_PASSWORD_PARAM,
        ));
    }
    for (at, var) in head_env(spec, path) {
        let option = match var.name.as_str() {
            REDIS_PASSWORD => "redisPassword",
            RAY_REDIS_ADDRESS => "redisAddress",
            _ => continue,
        };
        errors.push(FieldError::new(
            at,
            format!(
                "with gcsFaultToleranceOptions the operator sets {} itself: use gcsFaultToleranceOptions.{option} and remove the variable",
                var.name
            ),
        ));
    }
    let redis = options.backend.unwrap_or(GcsFaultToleranceBackend::Redis)
        == GcsFaultToleranceBackend::Redis;
    if redis
        && options
            .redis_address
            .as_deref()
            .is_none_or(|a| a.trim().is_empty())
    {
        errors.push(FieldError::new(
            format!("{options_path}.redisAddress"),
            REDIS_ADDRESS_REQUIRED,
        ));
    }
    for (field, credential) in [
        ("redisUsername", &options.redis_username),
        ("redisPassword", &options.redis_password),
    ] {
        if let Some(credential) = credential {
            check_credential(credential, &format!("{options_path}.{field}"), errors);
        }
    }
}

/// What is said about a `redis-username` start parameter of the head (also the CRD's message).
pub(crate) const REDIS_USERNAME_PARAM: &str = "the Redis user name is set with gcsFaultToleranceOptions.redisUsername: move it there and remove the redis-username parameter";
/// What is said about a `redis-password` start parameter of the head with the options (also the CRD's message).
pub(crate) const REDIS_PASSWORD_PARAM: &str = "with gcsFaultToleranceOptions the Redis password is set with gcsFaultToleranceOptions.redisPassword: move it there and remove the redis-password parameter";
/// What is said when the Redis backend has no address (also the CRD's message).
pub(crate) const REDIS_ADDRESS_REQUIRED: &str = "GCS fault tolerance with the redis backend needs the Redis server: set redisAddress to host:port or a redis:// or rediss:// URI";

/// A credential becomes an environment variable of the head, so it follows the same rules as one.
fn check_credential(credential: &RedisCredential, path: &str, errors: &mut Vec<FieldError>) {
    let var = EnvVar {
        name: REDIS_PASSWORD.to_owned(),
        value: credential.value.clone(),
        value_from: credential.value_from.clone(),
    };
    let mut found = Vec::new();
    check_env(std::slice::from_ref(&var), "", &mut found);
    errors.extend(found.into_iter().map(|error| FieldError {
        path: format!("{path}{}", error.path.trim_start_matches("[0]")),
        message: error.message,
    }));
}

/// The rules that relate the spec at `path` to the annotations of the object holding it (a RayCluster, or the
/// RayJob or RayService whose annotations its RayCluster gets).
pub(crate) fn check_annotations(
    spec: &RayClusterSpec,
    path: &str,
    annotations: Option<&BTreeMap<String, String>>,
    errors: &mut Vec<FieldError>,
) {
    let annotation = |key: &str| {
        annotations
            .and_then(|a| a.get(key))
            .filter(|v| !v.is_empty())
            .is_some()
    };
    let annotation_path = |key: &str| format!("metadata.annotations[\"{key}\"]");
    if spec.gcs_fault_tolerance_options.is_some() {
        if annotation(FT_ENABLED_ANNOTATION) {
            errors.push(FieldError::new(
                annotation_path(FT_ENABLED_ANNOTATION),
                format!(
                    "{path}.gcsFaultToleranceOptions already turns on GCS fault tolerance: remove the {FT_ENABLED_ANNOTATION} annotation"
                ),
            ));
        }
        if annotations.is_some_and(|a| a.contains_key(EXTERNAL_STORAGE_NAMESPACE_ANNOTATION)) {
            errors.push(FieldError::new(
                annotation_path(EXTERNAL_STORAGE_NAMESPACE_ANNOTATION),
                format!(
                    "with {path}.gcsFaultToleranceOptions the storage namespace is set with gcsFaultToleranceOptions.externalStorageNamespace: move it there and remove the annotation"
                ),
            ));
        }
    } else if !ft_enabled(spec, annotations) {
        for (at, var) in head_env(spec, path) {
            if var.name == RAY_REDIS_ADDRESS {
                errors.push(FieldError::new(
                    at,
                    format!(
                        "{RAY_REDIS_ADDRESS} points Ray at Redis, but GCS fault tolerance is off: set {path}.gcsFaultToleranceOptions.redisAddress instead of the variable"
                    ),
                ));
            }
        }
    }
}
