//! The group fields of KubeRay 1.5 to 1.7 that change the pods: Ray node `labels` and Ray logical `resources` of
//! the head and worker groups, and the autoscaler's `version`, `command` and `args`.

use k8s_openapi::api::core::v1::{Container, Pod};
use ray_api_v1::RayCluster;
use ray_builders::{ClusterContext, RenderOptions, WorkerReplica, head_pod, worker_pod};
use serde_json::{Value, json};

fn cluster(spec: Value) -> RayCluster {
    let mut spec = spec;
    let template = |name: &str| json!({ "spec": { "containers": [{ "name": name, "image": "rayproject/ray:2.56.0" }] } });
    if spec["headGroupSpec"]["template"].is_null() {
        spec["headGroupSpec"]["template"] = template("ray-head");
    }
    if let Some(groups) = spec
        .get_mut("workerGroupSpecs")
        .and_then(Value::as_array_mut)
    {
        for group in groups {
            if group["template"].is_null() {
                group["template"] = template("ray-worker");
            }
        }
    }
    serde_json::from_value(json!({
        "apiVersion": "ray.io/v1",
        "kind": "RayCluster",
        "metadata": { "name": "c", "namespace": "ns" },
        "spec": spec,
    }))
    .unwrap_or_else(|e| panic!("{e}"))
}

fn pods(cluster: &RayCluster) -> (Pod, Pod) {
    let options = RenderOptions::default();
    let ctx = ClusterContext::new(cluster, &options).unwrap_or_else(|e| panic!("{e}"));
    let head = head_pod(&ctx).unwrap_or_else(|e| panic!("{e}"));
    let worker = worker_pod(&ctx, 0, &WorkerReplica::default()).unwrap_or_else(|e| panic!("{e}"));
    (head, worker)
}

fn container<'a>(pod: &'a Pod, name: &str) -> &'a Container {
    pod.spec
        .as_ref()
        .and_then(|s| s.containers.iter().find(|c| c.name == name))
        .unwrap_or_else(|| panic!("no container {name}"))
}

fn ray(pod: &Pod) -> &Container {
    &pod.spec.as_ref().expect("spec").containers[0]
}

fn env<'a>(container: &'a Container, name: &str) -> Option<&'a str> {
    container
        .env
        .iter()
        .flatten()
        .find(|e| e.name == name)
        .and_then(|e| e.value.as_deref())
}

fn start_command(pod: &Pod) -> String {
    env(ray(pod), "KUBERAY_GEN_RAY_START_CMD")
        .expect("generated command")
        .to_string()
}

/// Whether the `ray start` command of `pod` has this word (flags never contain spaces here).
fn has_flag(pod: &Pod, flag: &str) -> bool {
    start_command(pod)
        .split_whitespace()
        .any(|word| word == flag)
}

fn label<'a>(pod: &'a Pod, key: &str) -> Option<&'a str> {
    pod.metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(key))
        .map(String::as_str)
}

fn restart_policy(pod: &Pod) -> Option<&str> {
    pod.spec.as_ref().and_then(|s| s.restart_policy.as_deref())
}

#[test]
fn group_labels_become_ray_node_labels_and_pod_labels() {
    let (head, worker) = pods(&cluster(json!({
        "headGroupSpec": {
            "labels": { "ray.io/region": "us-central2" },
        },
        "workerGroupSpecs": [{
            "groupName": "gpu", "replicas": 1,
            "labels": { "zone": "b", "ray.io/accelerator-type": "A100", "ray.io/group": "not-this" },
            "template": {
                "metadata": { "labels": { "zone": "a", "team": "search" } },
                "spec": { "containers": [{ "name": "ray-worker", "image": "rayproject/ray:2.56.0" }] }
            }
        }]
    })));
    assert!(
        has_flag(&head, "--labels=ray.io/region=us-central2"),
        "{}",
        start_command(&head)
    );
    assert_eq!(label(&head, "ray.io/region"), Some("us-central2"));
    // Sorted by key, comma-separated, as KubeRay writes them.
    assert!(
        has_flag(
            &worker,
            "--labels=ray.io/accelerator-type=A100,ray.io/group=not-this,zone=b"
        ),
        "{}",
        start_command(&worker)
    );
    // The group's labels win over the template's; the operator's selector labels win over both.
    assert_eq!(label(&worker, "zone"), Some("b"));
    assert_eq!(label(&worker, "team"), Some("search"));
    assert_eq!(label(&worker, "ray.io/accelerator-type"), Some("A100"));
    assert_eq!(label(&worker, "ray.io/group"), Some("gpu"));
}

#[test]
fn group_resources_become_ray_start_resource_flags() {
    let (head, worker) = pods(&cluster(json!({
        "headGroupSpec": {
            "resources": { "CPU": "0" },
            "template": { "spec": { "containers": [{
                "name": "ray-head", "image": "rayproject/ray:2.56.0",
                "resources": { "limits": { "cpu": "4", "memory": "8Gi" } }
            }] } }
        },
        "workerGroupSpecs": [{
            "groupName": "g", "replicas": 1,
            "resources": {
                "cpu": "1500m", "Memory": "1Gi", "nvidia.com/mig-2g.32gb": "2",
                "TPU": "4", "fraction": "500m"
            },
            "template": { "spec": { "containers": [{
                "name": "ray-worker", "image": "rayproject/ray:2.56.0",
                "resources": { "limits": { "cpu": "8", "memory": "32Gi", "nvidia.com/gpu": "4" } }
            }] } }
        }]
    })));
    let head_cmd = start_command(&head);
    // The group's CPU: 0 wins over the container's limit (a head that schedules no tasks); memory still comes from
    // the container.
    assert!(has_flag(&head, "--num-cpus=0"), "{head_cmd}");
    assert!(has_flag(&head, "--memory=8589934592"), "{head_cmd}");
    let worker_cmd = start_command(&worker);
    assert!(
        has_flag(&worker, "--num-cpus=2"),
        "rounded up: {worker_cmd}"
    );
    assert!(has_flag(&worker, "--memory=1073741824"), "{worker_cmd}");
    assert!(
        has_flag(&worker, "--num-gpus=2"),
        "a MIG slice counts GPUs: {worker_cmd}"
    );
    assert!(
        has_flag(&worker, r#"'--resources={"TPU":4,"fraction":0.5}'"#),
        "custom resources are exact, keys sorted: {worker_cmd}"
    );
}

#[test]
fn a_tpu_limit_is_not_added_twice_when_the_group_declares_the_tpus() {
    let (_, worker) = pods(&cluster(json!({
        "headGroupSpec": {},
        "workerGroupSpecs": [{
            "groupName": "tpu", "replicas": 1,
            "resources": { "TPU": "8" },
            "template": { "spec": { "containers": [{
                "name": "ray-worker", "image": "rayproject/ray:2.56.0",
                "resources": { "limits": { "google.com/tpu": "4" } }
            }] } }
        }]
    })));
    assert!(
        has_flag(&worker, r#"'--resources={"TPU":8}'"#),
        "{}",
        start_command(&worker)
    );
}

#[test]
fn autoscaler_v2_pins_the_version_and_never_restarts_ray_pods() {
    let spec = |version: Value| {
        json!({
            "enableInTreeAutoscaling": true,
            "autoscalerOptions": { "version": version },
            "headGroupSpec": {},
            "workerGroupSpecs": [{ "groupName": "g", "replicas": 1 }]
        })
    };
    let (head, worker) = pods(&cluster(spec(json!("v2"))));
    assert_eq!(env(ray(&head), "RAY_enable_autoscaler_v2"), Some("true"));
    assert_eq!(restart_policy(&head), Some("Never"));
    assert_eq!(restart_policy(&worker), Some("Never"));
    assert_eq!(
        env(ray(&worker), "RAY_enable_autoscaler_v2"),
        None,
        "only the head runs the autoscaler"
    );

    let (head, worker) = pods(&cluster(spec(json!("v1"))));
    assert_eq!(env(ray(&head), "RAY_enable_autoscaler_v2"), Some("false"));
    assert_eq!(restart_policy(&head), None);
    assert_eq!(restart_policy(&worker), None);

    // Unpinned: Ray chooses, the operator sets nothing.
    let mut unpinned = spec(Value::Null);
    unpinned["autoscalerOptions"] = json!({});
    let (head, worker) = pods(&cluster(unpinned));
    assert_eq!(env(ray(&head), "RAY_enable_autoscaler_v2"), None);
    assert_eq!(restart_policy(&head), None);
    assert_eq!(restart_policy(&worker), None);
}

#[test]
fn the_version_means_nothing_without_the_autoscaler() {
    let (head, worker) = pods(&cluster(json!({
        "autoscalerOptions": { "version": "v2" },
        "headGroupSpec": {},
        "workerGroupSpecs": [{ "groupName": "g", "replicas": 1 }]
    })));
    assert_eq!(env(ray(&head), "RAY_enable_autoscaler_v2"), None);
    assert_eq!(restart_policy(&head), None);
    assert_eq!(restart_policy(&worker), None);
}

#[test]
fn autoscaler_command_and_args_replace_the_defaults() {
    let (head, _) = pods(&cluster(json!({
        "enableInTreeAutoscaling": true,
        "autoscalerOptions": {
            "command": ["/bin/sh", "-c"],
            "args": ["exec $KUBERAY_GEN_AUTOSCALER_START_CMD --verbose"]
        },
        "headGroupSpec": {},
        "workerGroupSpecs": [{ "groupName": "g", "replicas": 1 }]
    })));
    let autoscaler = container(&head, ray_builders::autoscaler::CONTAINER_NAME);
    assert_eq!(
        autoscaler.command.as_deref(),
        Some(["/bin/sh".to_string(), "-c".to_string()].as_slice())
    );
    assert_eq!(
        autoscaler.args.as_deref(),
        Some(["exec $KUBERAY_GEN_AUTOSCALER_START_CMD --verbose".to_string()].as_slice())
    );
    assert_eq!(
        env(autoscaler, "KUBERAY_GEN_AUTOSCALER_START_CMD"),
        Some(
            "ray kuberay-autoscaler --cluster-name $(RAY_CLUSTER_NAME) --cluster-namespace $(RAY_CLUSTER_NAMESPACE)"
        )
    );

    // Only args: the default bash command stays.
    let (head, _) = pods(&cluster(json!({
        "enableInTreeAutoscaling": true,
        "autoscalerOptions": { "args": ["sleep 1; $KUBERAY_GEN_AUTOSCALER_START_CMD"] },
        "headGroupSpec": {},
        "workerGroupSpecs": [{ "groupName": "g", "replicas": 1 }]
    })));
    let autoscaler = container(&head, ray_builders::autoscaler::CONTAINER_NAME);
    assert_eq!(
        autoscaler.command.as_deref(),
        Some(["/bin/bash".to_string(), "-c".to_string(), "--".to_string()].as_slice())
    );
}

#[test]
fn a_suspended_group_renders_no_pods() {
    let cluster = cluster(json!({
        "headGroupSpec": {},
        "workerGroupSpecs": [
            { "groupName": "paused", "replicas": 3, "minReplicas": 1, "suspend": true },
            { "groupName": "running", "replicas": 2 }
        ]
    }));
    let rendered = ray_builders::render_cluster(&cluster, &RenderOptions::default())
        .unwrap_or_else(|e| panic!("{e}"));
    let workers: Vec<String> = rendered
        .iter()
        .filter_map(|r| match &r.object {
            ray_builders::Object::Pod(pod) => label(pod, "ray.io/group").map(str::to_string),
            _ => None,
        })
        .filter(|group| group != "headgroup")
        .collect();
    assert_eq!(workers, ["running", "running"]);
}

#[test]
fn a_bad_group_resource_names_the_field() {
    let options = RenderOptions::default();
    let bad = cluster(json!({
        "headGroupSpec": {},
        "workerGroupSpecs": [{ "groupName": "g", "replicas": 1, "resources": { "CPU": "lots" } }]
    }));
    let ctx = ClusterContext::new(&bad, &options).unwrap_or_else(|e| panic!("{e}"));
    let error = worker_pod(&ctx, 0, &WorkerReplica::default()).expect_err("not a quantity");
    assert!(
        error
            .to_string()
            .starts_with(r#"spec.workerGroupSpecs[0].resources["CPU"]: "lots""#),
        "{error}"
    );
}
