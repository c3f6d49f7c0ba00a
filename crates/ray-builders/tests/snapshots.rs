//! Snapshot tests: the exact objects rendered for every fixture and example manifest, and the `ray start` command
//! for each start-parameter rule.

mod common;

use std::collections::BTreeMap;

use ray_api_v1::RayCluster;
use ray_builders::{
    ClusterContext, RenderOptions, WorkerReplica, head_pod, to_yaml_stream, worker_pod,
};

fn options() -> RenderOptions {
    RenderOptions {
        // Pinned so that a version bump does not churn every snapshot.
        operator_version: "test".to_string(),
        ..RenderOptions::default()
    }
}

#[test]
fn fixtures() {
    let files = common::yaml_files(&common::fixtures_dir());
    assert!(files.len() >= 10, "fixtures are missing");
    for file in files {
        let rendered = common::render_file(&file, &options());
        let yaml = to_yaml_stream(&rendered).expect("yaml");
        let name = file
            .file_stem()
            .and_then(|s| s.to_str())
            .expect("name")
            .to_string();
        insta::assert_snapshot!(format!("fixture__{name}"), yaml);
    }
}

#[test]
fn examples() {
    for file in common::yaml_files(&common::examples_dir()) {
        let text = std::fs::read_to_string(&file).expect("read example");
        if text.contains("kind: RayCronJob") {
            // What a RayCronJob creates depends on the time; `ray-operator render --now` renders it (bins tests).
            continue;
        }
        let rendered = common::render_file(&file, &options());
        let yaml = to_yaml_stream(&rendered).expect("yaml");
        let name = file
            .file_stem()
            .and_then(|s| s.to_str())
            .expect("name")
            .to_string();
        insta::assert_snapshot!(format!("example__{name}"), yaml);
    }
}

#[test]
fn rendering_is_byte_identical() {
    for file in common::yaml_files(&common::fixtures_dir()) {
        let a = to_yaml_stream(&common::render_file(&file, &options())).expect("yaml");
        let b = to_yaml_stream(&common::render_file(&file, &options())).expect("yaml");
        assert_eq!(a, b, "{}", file.display());
    }
}

/// A cluster whose head and single worker have the given start parameters and Ray container resources.
fn cluster(
    params: &[(&str, &str)],
    resources: serde_json::Value,
    annotations: serde_json::Value,
) -> RayCluster {
    let params: BTreeMap<&str, &str> = params.iter().copied().collect();
    serde_json::from_value(serde_json::json!({
        "apiVersion": "ray.io/v1",
        "kind": "RayCluster",
        "metadata": { "name": "c", "annotations": annotations },
        "spec": {
            "headGroupSpec": {
                "rayStartParams": params,
                "template": { "spec": { "containers": [{ "name": "h", "image": "ray", "resources": resources }] } }
            },
            "workerGroupSpecs": [{
                "groupName": "w",
                "rayStartParams": params,
                "template": { "spec": { "containers": [{ "name": "w", "image": "ray", "resources": resources }] } }
            }]
        }
    }))
    .expect("valid cluster")
}

fn start_commands(cluster: &RayCluster) -> String {
    let options = options();
    let ctx = ClusterContext::new(cluster, &options).expect("context");
    let command = |pod: k8s_openapi::api::core::v1::Pod| {
        pod.spec.expect("spec").containers[0]
            .env
            .iter()
            .flatten()
            .find(|e| e.name == "KUBERAY_GEN_RAY_START_CMD")
            .and_then(|e| e.value.clone())
            .expect("start command")
    };
    format!(
        "head:   {}\nworker: {}",
        command(head_pod(&ctx).expect("head")),
        command(worker_pod(&ctx, 0, &WorkerReplica::default()).expect("worker"))
    )
}

#[test]
fn ray_start_rules() {
    let none = serde_json::json!({});
    let cases: Vec<(&str, RayCluster)> = vec![
        ("defaults only", cluster(&[], none.clone(), none.clone())),
        (
            "user values win over defaults, block is always on",
            cluster(
                &[
                    ("dashboard-host", "127.0.0.1"),
                    ("metrics-export-port", "9090"),
                    ("block", "false"),
                ],
                none.clone(),
                none.clone(),
            ),
        ),
        (
            "true is a bare flag, false drops the flag, except log-color/include-dashboard/include-log-monitor",
            cluster(
                &[
                    ("disable-usage-stats", "True"),
                    ("no-monitor", "false"),
                    ("log-color", "false"),
                    ("include-dashboard", "true"),
                    ("include-log-monitor", "false"),
                ],
                none.clone(),
                none.clone(),
            ),
        ),
        (
            "num-cpus from the CPU limit, rounded up; memory from the memory limit; num-gpus from a GPU limit",
            cluster(
                &[],
                serde_json::json!({"limits": {"cpu": "1500m", "memory": "3Gi", "nvidia.com/gpu": "2"}}),
                none.clone(),
            ),
        ),
        (
            "num-cpus from the CPU request when there is no limit; memory requests are ignored",
            cluster(
                &[],
                serde_json::json!({"requests": {"cpu": "250m", "memory": "1Gi"}}),
                none.clone(),
            ),
        ),
        (
            "explicit parameters win over container resources",
            cluster(
                &[("num-cpus", "0"), ("memory", "100"), ("num-gpus", "0")],
                serde_json::json!({"limits": {"cpu": "4", "memory": "1Gi", "nvidia.com/gpu": "1"}}),
                none.clone(),
            ),
        ),
        (
            "a TPU limit becomes a TPU resource, merged into user resources",
            cluster(
                &[("resources", "'{\"custom\": 1}'")],
                serde_json::json!({"limits": {"google.com/tpu": "4"}}),
                none.clone(),
            ),
        ),
        (
            "a declared accelerator resource is kept",
            cluster(
                &[("resources", "{\"TPU\": 8}")],
                serde_json::json!({"limits": {"google.com/tpu": "4"}}),
                none.clone(),
            ),
        ),
        ("autoscaling adds no-monitor on the head", {
            let mut c = cluster(&[], none.clone(), none.clone());
            c.spec.enable_in_tree_autoscaling = true;
            c
        }),
        (
            "a custom GCS port moves the workers' address",
            cluster(&[("port", "6380")], none.clone(), none.clone()),
        ),
        (
            "user-quoted values are unwrapped once, environment references stay references",
            cluster(
                &[
                    ("resources", "\"{\\\"Custom_1\\\": 1}\""),
                    ("redis-password", "$REDIS_PASSWORD"),
                ],
                none.clone(),
                none.clone(),
            ),
        ),
    ];
    let mut out = String::new();
    for (name, cluster) in cases {
        out.push_str(&format!("# {name}\n{}\n\n", start_commands(&cluster)));
    }
    insta::assert_snapshot!(out);
}
