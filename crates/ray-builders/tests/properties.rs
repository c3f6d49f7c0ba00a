//! Property tests: for generated specs, rendering never panics; valid specs render, every name and label value
//! fits Kubernetes' limits, and the output is deterministic; invalid specs are errors that name a field.

mod common;

use std::collections::BTreeMap;

use proptest::prelude::*;
use ray_api_v1::{RayCluster, RayJob, RayService};
use ray_builders::{RenderOptions, render_cluster, render_job, render_service, to_yaml_stream};

const SAFE_PARAM_KEYS: &[&str] = &[
    "num-cpus",
    "object-store-memory",
    "temp-dir",
    "resources",
    "log-color",
    "disable-usage-stats",
];
const CPUS: &[&str] = &["1", "500m", "2.5", "100", "1e3"];
const MEMORY: &[&str] = &["1Gi", "512Mi", "1.5G", "3000000000"];

fn params(keys: &'static [&'static str]) -> impl Strategy<Value = BTreeMap<String, String>> {
    prop::collection::btree_map(
        prop::sample::select(keys).prop_map(str::to_string),
        any::<String>().prop_filter("no NUL", |s| !s.contains('\0')),
        0..4,
    )
}

prop_compose! {
    fn worker_group(index: usize)(
        name in "[a-z][a-z0-9-]{0,20}[a-z0-9]",
        replicas in prop::option::of(0i32..3),
        min in prop::option::of(0i32..2),
        max in prop::option::of(0i32..4),
        hosts in prop::option::of(1i32..3),
        params in params(SAFE_PARAM_KEYS),
        cpu in prop::sample::select(CPUS),
        memory in prop::sample::select(MEMORY),
        gpu in 0u8..2,
    ) -> serde_json::Value {
        let mut limits = serde_json::json!({ "cpu": cpu, "memory": memory });
        if gpu > 0 { limits["nvidia.com/gpu"] = serde_json::json!(gpu.to_string()); }
        serde_json::json!({
            "groupName": format!("{name}-{index}"),
            "replicas": replicas, "minReplicas": min, "maxReplicas": max, "numOfHosts": hosts,
            "rayStartParams": params,
            "template": { "spec": { "containers": [{ "name": "ray-worker", "image": "rayproject/ray:2.9.0", "resources": { "limits": limits } }] } }
        })
    }
}

prop_compose! {
    /// A valid RayCluster spec (as JSON), with arbitrary start-parameter values and feature switches.
    fn valid_spec()(
        groups in prop::collection::vec(0usize..1, 0..4)
            .prop_flat_map(|v| v.iter().enumerate().map(|(i, _)| worker_group(i)).collect::<Vec<_>>()),
        head_params in params(SAFE_PARAM_KEYS),
        autoscaling in any::<bool>(),
        ingress in any::<bool>(),
        service_type in prop::sample::select(vec![None, Some("ClusterIP"), Some("NodePort"), Some("LoadBalancer")]),
        ray_version in prop::sample::select(vec![None, Some("2.9.0"), Some("2.53.0")]),
    ) -> serde_json::Value {
        serde_json::json!({
            "rayVersion": ray_version,
            "enableInTreeAutoscaling": autoscaling,
            "headGroupSpec": {
                "enableIngress": ingress,
                "serviceType": service_type,
                "rayStartParams": head_params,
                "template": { "spec": { "containers": [{ "name": "ray-head", "image": "rayproject/ray:2.9.0",
                    "ports": [{ "name": "dashboard", "containerPort": 8265 }, { "name": "serve", "containerPort": 8000 }] }] } }
            },
            "workerGroupSpecs": groups,
        })
    }
}

fn annotations(ft: bool, serve: bool) -> serde_json::Value {
    let mut a = serde_json::Map::new();
    if ft {
        a.insert("ray.io/ft-enabled".into(), "true".into());
    }
    if serve {
        a.insert("ray.io/enable-serve-service".into(), "true".into());
    }
    serde_json::Value::Object(a)
}

fn check_rendered(rendered: &[ray_builders::Rendered]) -> Result<(), TestCaseError> {
    for r in rendered {
        let problems = common::limit_violations(&r.object);
        prop_assert!(problems.is_empty(), "{problems:?}");
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn valid_clusters_render_within_limits(
        name in "[a-z][a-z0-9-]{0,51}[a-z0-9]",
        spec in valid_spec(),
        ft in any::<bool>(),
        serve in any::<bool>(),
    ) {
        let cluster: RayCluster = serde_json::from_value(serde_json::json!({
            "apiVersion": "ray.io/v1", "kind": "RayCluster",
            "metadata": { "name": name, "annotations": annotations(ft, serve) },
            "spec": spec,
        })).expect("generated cluster deserializes");
        let options = RenderOptions::default();
        let rendered = render_cluster(&cluster, &options).map_err(|e| TestCaseError::fail(e.to_string()))?;
        check_rendered(&rendered)?;
        let again = render_cluster(&cluster, &options).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(to_yaml_stream(&rendered).expect("yaml"), to_yaml_stream(&again).expect("yaml"));
    }

    #[test]
    fn valid_jobs_and_services_render_within_limits(
        name in "[a-z][a-z0-9-]{0,45}[a-z0-9]",
        spec in valid_spec(),
        entrypoint in "[ -~]{1,40}",
        http in any::<bool>(),
    ) {
        let entrypoint = format!("python {}", shlex_safe(&entrypoint));
        let job: RayJob = serde_json::from_value(serde_json::json!({
            "apiVersion": "ray.io/v1", "kind": "RayJob",
            "metadata": { "name": name },
            "spec": { "entrypoint": entrypoint, "rayClusterSpec": spec, "submissionMode": if http { "HTTPMode" } else { "K8sJobMode" } },
        })).expect("generated job deserializes");
        let rendered = render_job(&job, &RenderOptions::default()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        check_rendered(&rendered)?;

        let service: RayService = serde_json::from_value(serde_json::json!({
            "apiVersion": "ray.io/v1", "kind": "RayService",
            "metadata": { "name": name },
            "spec": { "rayClusterConfig": job.spec.ray_cluster_spec },
        })).expect("generated service deserializes");
        let rendered = render_service(&service, &RenderOptions::default()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        check_rendered(&rendered)?;
    }

    #[test]
    fn arbitrary_clusters_never_panic_and_errors_name_a_field(
        name in "\\PC{0,70}",
        group_names in prop::collection::vec("\\PC{0,70}", 0..3),
        params in prop::collection::btree_map("[a-z-]{1,30}", "\\PC{0,12}", 0..5),
        label_value in "\\PC{0,70}",
        cpu in "\\PC{0,6}",
        autoscaling in any::<bool>(),
        ingress in any::<bool>(),
        service_account in prop::option::of("\\PC{0,60}"),
    ) {
        let groups: Vec<serde_json::Value> = group_names.iter().map(|g| serde_json::json!({
            "groupName": g, "replicas": 1, "numOfHosts": 2, "rayStartParams": params,
            "template": { "metadata": { "labels": { "app": label_value } },
                          "spec": { "containers": [{ "name": "w", "resources": { "limits": { "cpu": cpu } } }] } }
        })).collect();
        let cluster: RayCluster = serde_json::from_value(serde_json::json!({
            "apiVersion": "ray.io/v1", "kind": "RayCluster",
            "metadata": { "name": name },
            "spec": {
                "enableInTreeAutoscaling": autoscaling,
                "headGroupSpec": { "enableIngress": ingress, "rayStartParams": params,
                    "template": { "spec": { "serviceAccountName": service_account, "containers": [{ "name": "h" }] } } },
                "workerGroupSpecs": groups,
            },
        })).expect("generated cluster deserializes");
        match render_cluster(&cluster, &RenderOptions::default()) {
            Ok(rendered) => check_rendered(&rendered)?,
            Err(error) => {
                let message = error.to_string();
                prop_assert!(
                    message.starts_with("metadata.") || message.starts_with("spec."),
                    "error does not start with a field path: {message}"
                );
            }
        }
    }
}

/// Keeps generated entrypoint text splittable (balanced quotes, no trailing backslash).
fn shlex_safe(s: &str) -> String {
    s.chars()
        .filter(|c| !matches!(c, '\'' | '"' | '\\'))
        .collect()
}
