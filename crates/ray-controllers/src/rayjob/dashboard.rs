//! How the operator reaches a RayJob's cluster dashboard, and what it submits there in `HTTPMode`.
//!
//! In a real cluster the dashboard is the head Service's DNS name and dashboard port
//! ([`ray_builders::service::dashboard_address`]). An operator running outside the cluster (local development,
//! `cargo xtask up`, tests) cannot resolve that name, so it can be given one URL that replaces every cluster's
//! dashboard address (`ray-operator run --dashboard-url-override http://127.0.0.1:8265`).

use std::collections::BTreeMap;
use std::time::Duration;

use ray_api_v1::raycluster::RayCluster;
use ray_api_v1::rayjob::RayJob;
use ray_builders::context::ContextError;
use ray_builders::submitter::SubmitterError;
use ray_builders::{ClusterContext, RenderOptions};
use ray_dashboard_client::{DashboardClient, Error as DashboardError, JobSubmitRequest};

use crate::dashboard_auth::DashboardAuth;

/// Why a RayJob's spec cannot be submitted over the dashboard. Each message starts with the field.
#[derive(Debug, thiserror::Error)]
pub enum SubmissionError {
    /// No entrypoint to run.
    #[error("spec.entrypoint: HTTPMode needs an entrypoint to submit")]
    MissingEntrypoint,
    /// `runtimeEnvYAML` is not a runtime environment (the builder's message names the field).
    #[error(transparent)]
    RuntimeEnv(#[from] SubmitterError),
    /// The runtime environment's JSON does not parse.
    #[error("spec.runtimeEnvYAML: {0}")]
    RuntimeEnvJson(#[source] serde_json::Error),
    /// `entrypointResources` is not a JSON object of numbers.
    #[error(
        "spec.entrypointResources: must be a JSON object of numbers such as {{\"Custom_1\": 1}}: {0}"
    )]
    EntrypointResources(#[source] serde_json::Error),
}

/// The dashboard address to record in `status.dashboardURL` for `cluster`: `override_url` when given, else
/// `<head Service FQDN>:<dashboard port>` (the cluster's own namespace, which the render context takes from it).
pub fn dashboard_url(
    cluster: &RayCluster,
    options: &RenderOptions,
    override_url: Option<&str>,
) -> Result<String, ContextError> {
    if let Some(url) = override_url {
        return Ok(url.to_owned());
    }
    let ctx = ClusterContext::new(cluster, options)?;
    ray_builders::service::dashboard_address(&ctx)
}

/// The base URL for the dashboard client: the recorded address with `http://` added when it has no scheme.
pub fn client_base_url(address: &str) -> String {
    if address.starts_with("http://") || address.starts_with("https://") {
        address.trim_end_matches('/').to_owned()
    } else {
        format!("http://{}", address.trim_end_matches('/'))
    }
}

/// A client of the dashboard at `address` (as recorded in `status.dashboardURL`) whose every request gives up
/// after `timeout`, so a hung head delays only its own RayJob, and carries the cluster's token when it has one.
pub fn client(
    address: &str,
    timeout: Duration,
    auth: &DashboardAuth,
) -> Result<DashboardClient, DashboardError> {
    auth.apply(DashboardClient::new(&client_base_url(address))?.with_timeout(timeout))
}

/// The `HTTPMode` submission of `job` under `job_id`. The entrypoint is passed to Ray as it is written (Ray runs
/// it in a shell on the head, as `ray job submit` would); nothing is interpreted by the operator. Errors name the
/// field.
pub fn submit_request(job: &RayJob, job_id: &str) -> Result<JobSubmitRequest, SubmissionError> {
    let spec = &job.spec;
    let entrypoint = spec
        .entrypoint
        .as_deref()
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .ok_or(SubmissionError::MissingEntrypoint)?;
    let mut request = JobSubmitRequest::new(entrypoint).with_submission_id(job_id);
    if let Some(yaml) = spec.runtime_env_yaml.as_deref() {
        request.runtime_env = ray_builders::submitter::runtime_env_json(yaml)?
            .map(|json| serde_json::from_str(&json))
            .transpose()
            .map_err(SubmissionError::RuntimeEnvJson)?;
    }
    if !spec.metadata.is_empty() {
        request.metadata = Some(spec.metadata.clone());
    }
    request.entrypoint_num_cpus = spec.entrypoint_num_cpus.filter(|n| *n > 0.0).map(f64::from);
    request.entrypoint_num_gpus = spec.entrypoint_num_gpus.filter(|n| *n > 0.0).map(f64::from);
    if let Some(resources) = spec.entrypoint_resources.as_deref() {
        let parsed: BTreeMap<String, f64> =
            serde_json::from_str(resources).map_err(SubmissionError::EntrypointResources)?;
        request.entrypoint_resources = Some(parsed);
    }
    Ok(request)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(spec: serde_json::Value) -> RayJob {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "ray.io/v1", "kind": "RayJob",
            "metadata": {"name": "sample", "namespace": "team"},
            "spec": spec,
        }))
        .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn entrypoint_reaches_ray_unchanged() {
        let entrypoint = "python -c 'import sys; print(\"$HOME; rm -rf /\")' | tee out && exit 3";
        let request = submit_request(&job(serde_json::json!({"entrypoint": entrypoint})), "id-1")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(request.entrypoint, entrypoint);
        assert_eq!(request.submission_id.as_deref(), Some("id-1"));
        assert_eq!(request.runtime_env, None);
    }

    #[test]
    fn runtime_env_metadata_and_resources_are_converted() {
        let spec = serde_json::json!({
            "entrypoint": "python main.py",
            "runtimeEnvYAML": "env_vars:\n  A: b\npip: [requests]\n",
            "metadata": {"team": "ml"},
            "entrypointNumCpus": 1.5,
            "entrypointResources": "{\"Custom_1\": 2}",
        });
        let request = submit_request(&job(spec), "id").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            request.runtime_env,
            Some(serde_json::json!({"env_vars": {"A": "b"}, "pip": ["requests"]}))
        );
        assert_eq!(
            request.metadata,
            Some(BTreeMap::from([("team".into(), "ml".into())]))
        );
        assert_eq!(request.entrypoint_num_cpus, Some(1.5));
        assert_eq!(request.entrypoint_num_gpus, None);
        assert_eq!(
            request.entrypoint_resources,
            Some(BTreeMap::from([("Custom_1".into(), 2.0)]))
        );
    }

    #[test]
    fn bad_input_names_the_field() {
        let error = submit_request(&job(serde_json::json!({})), "id").err();
        assert!(error.is_some_and(|e| e.to_string().starts_with("spec.entrypoint")));
        let spec = serde_json::json!({"entrypoint": "x", "entrypointResources": "[1]"});
        let error = submit_request(&job(spec), "id").err();
        assert!(error.is_some_and(|e| e.to_string().starts_with("spec.entrypointResources")));
        let spec = serde_json::json!({"entrypoint": "x", "runtimeEnvYAML": "[1]"});
        let error = submit_request(&job(spec), "id").err();
        assert!(error.is_some_and(|e| e.to_string().starts_with("spec.runtimeEnvYAML")));
    }

    #[test]
    fn dashboard_address_is_the_head_service_unless_overridden() {
        let cluster: RayCluster = serde_json::from_value(serde_json::json!({
            "apiVersion": "ray.io/v1", "kind": "RayCluster",
            "metadata": {"name": "sample-abcde", "namespace": "team"},
            "spec": {"headGroupSpec": {"rayStartParams": {}, "template": {"spec": {"containers": [
                {"name": "ray-head", "image": "rayproject/ray:2.9.0"}]}}}},
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        let options = RenderOptions::default();
        let address = dashboard_url(&cluster, &options, None).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            address.starts_with("sample-abcde-head-svc.team.svc.") && address.ends_with(":8265"),
            "{address}"
        );
        assert_eq!(client_base_url(&address), format!("http://{address}"));
        let local = dashboard_url(&cluster, &options, Some("http://127.0.0.1:8265"));
        assert_eq!(local, Ok("http://127.0.0.1:8265".to_owned()));
        assert_eq!(
            client_base_url("http://127.0.0.1:8265/"),
            "http://127.0.0.1:8265"
        );
    }
}
