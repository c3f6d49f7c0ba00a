//! Rules of a RayJob spec, used by the garde attributes on [`crate::RayJobSpec`].

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::PodTemplateSpec;

use super::yaml::{check_yaml_mapping, describe};
use crate::raycluster::RayClusterSpec;
use crate::rayjob::JobSubmissionMode;

/// The `clusterSelector` key that names the RayCluster a job runs on.
pub(crate) const CLUSTER_SELECTOR_KEY: &str = "ray.io/cluster";

type Check<'a, T> = Box<dyn FnOnce(&T, &()) -> garde::Result + 'a>;

/// A RayJob needs an entrypoint, unless a custom submitter (K8sJobMode with a `submitterPodTemplate` whose first
/// container has its own `command`) runs the job itself.
pub(crate) fn entrypoint<'a>(
    mode: &'a Option<JobSubmissionMode>,
    submitter: &'a Option<PodTemplateSpec>,
) -> Check<'a, Option<String>> {
    Box::new(move |entrypoint, _| {
        if entrypoint.as_deref().is_some_and(|e| !e.trim().is_empty()) {
            return Ok(());
        }
        if mode.unwrap_or_default() == JobSubmissionMode::InteractiveMode {
            // The user submits the job; the operator only follows it.
            return Ok(());
        }
        let custom_submitter_command = mode.unwrap_or_default() == JobSubmissionMode::K8sJobMode
            && submitter
                .as_ref()
                .and_then(|template| template.spec.as_ref())
                .and_then(|spec| spec.containers.first())
                .and_then(|container| container.command.as_ref())
                .is_some_and(|command| !command.is_empty());
        if custom_submitter_command {
            return Ok(());
        }
        Err(garde::Error::new(
            "the job has nothing to run: set entrypoint to the command to run, for example \"python /home/ray/job.py\"",
        ))
    })
}

/// Ray accepts job metadata from version 2.6.0 on.
pub(crate) fn metadata_ray_version(
    cluster: &Option<RayClusterSpec>,
) -> Check<'_, BTreeMap<String, String>> {
    Box::new(move |metadata, _| {
        let version = cluster
            .as_ref()
            .and_then(|spec| spec.ray_version.as_deref());
        if let Some(version) = version
            && !metadata.is_empty()
            && parse_version(version).is_some_and(|v| v < (2, 6, 0))
        {
            return Err(garde::Error::new(format!(
                "job metadata needs Ray 2.6.0 or newer, but rayClusterSpec.rayVersion is \"{version}\": remove metadata or use a newer Ray"
            )));
        }
        Ok(())
    })
}

/// `major.minor.patch` of a Ray version such as `2.9.0` or `2.10.0rc1`; `None` when it does not start like one.
pub(crate) fn parse_version(version: &str) -> Option<(u32, u32, u32)> {
    let mut parts = version.trim_start_matches('v').split('.');
    let mut number = || -> Option<u32> {
        let part = parts.next()?;
        let digits: String = part.chars().take_while(char::is_ascii_digit).collect();
        digits.parse().ok()
    };
    let major = number()?;
    let minor = number()?;
    Some((major, minor, number().unwrap_or(0)))
}

/// `runtimeEnvYAML` must be a YAML mapping.
pub(crate) fn runtime_env(value: &Option<String>, _: &()) -> garde::Result {
    match value.as_deref() {
        Some(text) => check_yaml_mapping(text, "the runtime environment"),
        None => Ok(()),
    }
}

/// `ttlSecondsAfterFinished` must not be negative, and a positive one only means something when the cluster is
/// deleted after the job.
pub(crate) fn ttl_seconds(shutdown_after_job_finishes: bool) -> Check<'static, Option<i32>> {
    Box::new(move |value, _| match *value {
        Some(ttl) if ttl < 0 => Err(garde::Error::new(format!(
            "ttlSecondsAfterFinished must not be negative, but it is {ttl}"
        ))),
        Some(ttl) if ttl > 0 && !shutdown_after_job_finishes => Err(garde::Error::new(format!(
            "ttlSecondsAfterFinished ({ttl}) only applies when shutdownAfterJobFinishes is true: set shutdownAfterJobFinishes: true, or remove ttlSecondsAfterFinished"
        ))),
        _ => Ok(()),
    })
}

/// `activeDeadlineSeconds` must be positive.
pub(crate) fn active_deadline(value: &Option<i32>, _: &()) -> garde::Result {
    match *value {
        Some(seconds) if seconds <= 0 => Err(garde::Error::new(format!(
            "activeDeadlineSeconds must be a positive number of seconds, but it is {seconds}"
        ))),
        _ => Ok(()),
    }
}

/// A RayJob needs a cluster: one to create (`rayClusterSpec`) or an existing one (`clusterSelector`).
pub(crate) fn cluster_or_selector(
    selector: &BTreeMap<String, String>,
) -> Check<'_, Option<RayClusterSpec>> {
    Box::new(move |spec, _| {
        if spec.is_none() && selector.is_empty() {
            return Err(garde::Error::new(
                "the job needs a cluster: set rayClusterSpec to create one, or clusterSelector to use an existing RayCluster",
            ));
        }
        Ok(())
    })
}

/// A cluster selector must name the RayCluster with the `ray.io/cluster` key.
pub(crate) fn cluster_selector(selector: &BTreeMap<String, String>, _: &()) -> garde::Result {
    if selector.is_empty() {
        return Ok(());
    }
    match selector.get(CLUSTER_SELECTOR_KEY) {
        Some(name) if !name.is_empty() => Ok(()),
        _ => Err(garde::Error::new(format!(
            "clusterSelector must name the RayCluster to run on with the key \"{CLUSTER_SELECTOR_KEY}\", for example {CLUSTER_SELECTOR_KEY}: my-cluster"
        ))),
    }
}

/// Suspending a job deletes its cluster, which only makes sense when the cluster belongs to the job.
pub(crate) fn suspend_needs_shutdown(shutdown_after_job_finishes: bool) -> Check<'static, bool> {
    Box::new(move |suspend, _| {
        if *suspend && !shutdown_after_job_finishes {
            return Err(garde::Error::new(
                "a RayJob can only be suspended when shutdownAfterJobFinishes is true: set shutdownAfterJobFinishes: true, or suspend: false",
            ));
        }
        Ok(())
    })
}

/// A job on a selected (existing) cluster cannot be suspended: the cluster is not the job's to delete.
pub(crate) fn suspend_without_selector(selector: &BTreeMap<String, String>) -> Check<'_, bool> {
    Box::new(move |suspend, _| {
        if *suspend && !selector.is_empty() {
            return Err(garde::Error::new(
                "a RayJob that runs on an existing cluster (clusterSelector) cannot be suspended: remove suspend or clusterSelector",
            ));
        }
        Ok(())
    })
}

/// `entrypointNumCpus` / `entrypointNumGpus` must not be negative.
pub(crate) fn entrypoint_amount(field: &'static str) -> Check<'static, Option<f32>> {
    Box::new(move |value, _| match *value {
        Some(amount) if amount.is_nan() || amount < 0.0 => Err(garde::Error::new(format!(
            "{field} must not be negative, but it is {amount}"
        ))),
        _ => Ok(()),
    })
}

/// `entrypointResources` must be a JSON object of non-negative numbers, such as `{"Custom_1": 1}`.
pub(crate) fn entrypoint_resources(value: &Option<String>, _: &()) -> garde::Result {
    let Some(text) = value.as_deref() else {
        return Ok(());
    };
    let example = "for example {\"Custom_1\": 1}";
    let parsed: serde_json::Value = serde_json::from_str(text).map_err(|error| {
        garde::Error::new(format!(
            "entrypointResources must be a JSON object of resource amounts ({example}), but it is not valid JSON: {error}"
        ))
    })?;
    let serde_json::Value::Object(resources) = parsed else {
        return Err(garde::Error::new(format!(
            "entrypointResources must be a JSON object of resource amounts ({example}), but it is {}",
            describe(&parsed)
        )));
    };
    for (name, amount) in &resources {
        if !amount.as_f64().is_some_and(|a| a >= 0.0) {
            return Err(garde::Error::new(format!(
                "entrypointResources[\"{name}\"] must be a non-negative number, but it is {amount}"
            )));
        }
    }
    Ok(())
}

/// `submitterConfig.backoffLimit` must not be negative.
pub(crate) fn backoff_limit(value: &Option<i32>, _: &()) -> garde::Result {
    match *value {
        Some(limit) if limit < 0 => Err(garde::Error::new(format!(
            "backoffLimit must not be negative, but it is {limit}"
        ))),
        _ => Ok(()),
    }
}

/// The RayJob's `backoffLimit` must not be negative.
pub(crate) fn job_backoff_limit(value: &Option<i32>, _: &()) -> garde::Result {
    match *value {
        Some(limit) if limit < 0 => Err(garde::Error::new(format!(
            "backoffLimit must be 0 or more retries, but it is {limit}"
        ))),
        _ => Ok(()),
    }
}

/// `preRunningDeadlineSeconds` must be positive.
pub(crate) fn pre_running_deadline(value: &Option<i32>, _: &()) -> garde::Result {
    match *value {
        Some(seconds) if seconds <= 0 => Err(garde::Error::new(format!(
            "preRunningDeadlineSeconds must be a positive number of seconds, but it is {seconds}"
        ))),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::parse_version;

    #[test]
    fn ray_versions() {
        assert_eq!(parse_version("2.9.0"), Some((2, 9, 0)));
        assert_eq!(parse_version("2.10.0rc1"), Some((2, 10, 0)));
        assert_eq!(parse_version("v2.5"), Some((2, 5, 0)));
        assert_eq!(parse_version("nightly"), None);
        assert!(parse_version("2.5.1").is_some_and(|v| v < (2, 6, 0)));
    }
}
