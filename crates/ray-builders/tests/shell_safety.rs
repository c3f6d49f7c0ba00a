//! User values placed in generated shell commands are data, never code.
//!
//! Each test renders a pod or submitter Job with hostile values, runs the generated container command under real
//! `bash` with stub `ray` and `python` programs on `PATH` that record their arguments, and checks that `ray`
//! received exactly the intended arguments and that nothing else ran.

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;

use common::kubelet;
use common::sandbox::Sandbox;
use k8s_openapi::api::core::v1::Container;
use ray_api_v1::{RayCluster, RayJob};
use ray_builders::{ClusterContext, RenderOptions, WorkerReplica, head_pod, worker_pod};

/// Runs a container as the kubelet starts it (its `$(VAR)` references expanded from its environment) and checks
/// that it succeeded.
fn run_container(sandbox: &Sandbox, container: &Container) {
    let command = container.command.clone().unwrap_or_default();
    assert!(
        command == ["/bin/bash", "-c", "--"] || command == ["/bin/bash", "-ce", "--"],
        "{command:?}"
    );
    assert_eq!(container.args.clone().unwrap_or_default().len(), 1);
    assert!(
        sandbox.run_process(&kubelet::process(container)),
        "the container command failed: {:?}",
        container.args
    );
}

/// Runs the `KUBERAY_GEN_RAY_START_CMD` of a container as a user would (`bash -c "$KUBERAY_GEN_RAY_START_CMD"`),
/// with the variable's value as the kubelet sets it.
fn run_generated_command(sandbox: &Sandbox, container: &Container) {
    let env = kubelet::environment(container.env.as_deref().unwrap_or_default());
    let generated = env
        .get(b"KUBERAY_GEN_RAY_START_CMD".as_slice())
        .expect("generated command in env")
        .clone();
    let process = kubelet::Process {
        argv: vec![b"bash".to_vec(), b"-c".to_vec(), generated],
        env,
    };
    assert!(sandbox.run_process(&process));
}

fn hostile_params() -> BTreeMap<String, String> {
    [
        ("num-cpus", "1; touch PWNED-semicolon"),
        ("object-store-memory", "$(touch PWNED-subst)"),
        ("node-ip-address", "`touch PWNED-backtick`"),
        ("temp-dir", "/tmp/it's \"quoted\" dir"),
        ("resources", "{\"a b\": 1}\n touch PWNED-newline"),
        ("storage", "* ?"),
        ("x;touch PWNED-key", "v"),
        ("include-dashboard", "false"),
        ("disable-usage-stats", "TRUE"),
        ("tricky", "'$(touch PWNED-singlequoted)'"),
        ("redis-password", "$REDIS_PASSWORD"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

fn hostile_cluster() -> RayCluster {
    let params = hostile_params();
    let env = serde_json::json!([{ "name": "REDIS_PASSWORD", "value": PASSWORD }]);
    serde_json::from_value(serde_json::json!({
        "apiVersion": "ray.io/v1",
        "kind": "RayCluster",
        "metadata": { "name": "hostile", "namespace": "ns" },
        "spec": {
            "headGroupSpec": {
                "rayStartParams": params,
                "template": { "spec": { "containers": [{ "name": "ray-head", "image": "ray", "env": env }] } }
            },
            "workerGroupSpecs": [{
                "groupName": "g",
                "replicas": 1,
                "rayStartParams": params,
                "template": { "spec": { "containers": [{ "name": "ray-worker", "image": "ray", "env": env }] } }
            }]
        }
    }))
    .expect("valid cluster")
}

const PASSWORD: &str = "p@ss $(touch PWNED-env) ; `x` '";

fn expected_flags(defaults: &[&str]) -> Vec<String> {
    let mut flags: Vec<String> = vec![
        "--disable-usage-stats".into(),
        "--include-dashboard=false".into(),
        "--node-ip-address=`touch PWNED-backtick`".into(),
        "--num-cpus=1; touch PWNED-semicolon".into(),
        "--object-store-memory=$(touch PWNED-subst)".into(),
        format!("--redis-password={PASSWORD}"),
        "--resources={\"a b\": 1}\n touch PWNED-newline".into(),
        "--storage=* ?".into(),
        "--temp-dir=/tmp/it's \"quoted\" dir".into(),
        "--tricky=$(touch PWNED-singlequoted)".into(),
        "--x;touch PWNED-key=v".into(),
    ];
    flags.extend(defaults.iter().map(|d| d.to_string()));
    flags.push("--block".into());
    // `ray start` flags are rendered in sorted key order.
    flags.sort_by_key(|f| {
        f.trim_start_matches('-')
            .split('=')
            .next()
            .unwrap_or("")
            .to_string()
    });
    flags
}

#[test]
fn head_ray_start_receives_hostile_params_as_data() {
    let cluster = hostile_cluster();
    let options = RenderOptions::default();
    let ctx = ClusterContext::new(&cluster, &options).expect("context");
    let pod = head_pod(&ctx).expect("head pod");
    let container = &pod.spec.as_ref().expect("spec").containers[0];

    let sandbox = Sandbox::new();
    run_container(&sandbox, container);

    let mut expected = vec!["start".to_string(), "--head".to_string()];
    expected.extend(expected_flags(&[
        "--dashboard-agent-listen-port=52365",
        "--dashboard-host=0.0.0.0",
        "--metrics-export-port=8080",
    ]));
    assert_eq!(sandbox.calls(), vec![expected.clone()]);
    assert_eq!(sandbox.stray_files(), Vec::<PathBuf>::new());

    // The same words come out of `KUBERAY_GEN_RAY_START_CMD` for users who run it themselves.
    let again = Sandbox::new();
    run_generated_command(&again, container);
    assert_eq!(again.calls(), vec![expected]);
    assert_eq!(again.stray_files(), Vec::<PathBuf>::new());
}

#[test]
fn worker_ray_start_receives_hostile_params_as_data() {
    let cluster = hostile_cluster();
    let options = RenderOptions::default();
    let ctx = ClusterContext::new(&cluster, &options).expect("context");
    let pod = worker_pod(&ctx, 0, &WorkerReplica::default()).expect("worker pod");
    let sandbox = Sandbox::new();
    run_container(&sandbox, &pod.spec.as_ref().expect("spec").containers[0]);
    let mut expected = vec!["start".to_string()];
    expected.extend(expected_flags(&[
        "--address=hostile-head-svc.ns.svc.cluster.local:6379",
        "--dashboard-agent-listen-port=52365",
        "--metrics-export-port=8080",
    ]));
    assert_eq!(sandbox.calls(), vec![expected]);
    assert_eq!(sandbox.stray_files(), Vec::<PathBuf>::new());
}

#[test]
fn submitter_passes_entrypoint_and_json_as_data() {
    let job: RayJob = serde_json::from_value(serde_json::json!({
        "apiVersion": "ray.io/v1",
        "kind": "RayJob",
        "metadata": { "name": "hostile-job", "namespace": "ns" },
        "spec": {
            "entrypoint": "python -c \"import sys; print(sys.argv)\" $(touch PWNED-ep) `touch PWNED-bt` ; echo hi > PWNED-redirect 'a b'\\ c *",
            "jobId": "id; touch PWNED-id",
            "runtimeEnvYAML": "env_vars:\n  X: \"$(touch PWNED-env)'\\\"\"\npip: [requests]\n",
            "metadata": { "owner": "`touch PWNED-meta`" },
            "entrypointNumCpus": 1.5,
            "entrypointResources": "{\"r\": 1} ; touch PWNED-res",
            "rayClusterSpec": {
                "headGroupSpec": {
                    "rayStartParams": {},
                    "template": { "spec": { "containers": [{ "name": "ray-head", "image": "ray" }] } }
                }
            }
        }
    }))
    .expect("valid job");
    let objects = ray_builders::render_job(&job, &RenderOptions::default()).expect("renders");
    let container = &common::submitter_container(&objects);
    assert_eq!(
        container.command.clone().unwrap_or_default(),
        ["/bin/bash", "-ce", "--"]
    );
    let sandbox = Sandbox::new();
    run_container(&sandbox, container);

    let cluster = objects
        .iter()
        .find_map(|o| match &o.object {
            ray_builders::Object::RayCluster(c) => c.metadata.name.clone(),
            _ => None,
        })
        .expect("cluster");
    let address = format!("http://{cluster}-head-svc.ns.svc.cluster.local:8265");
    let id = "id; touch PWNED-id".to_string();
    let calls = sandbox.calls();
    let expected_submit: Vec<String> = [
        "job",
        "submit",
        "--address",
        &address,
        "--no-wait",
        "--runtime-env-json",
        r#"{"env_vars":{"X":"$(touch PWNED-env)'\""},"pip":["requests"]}"#,
        "--metadata-json",
        r#"{"owner":"`touch PWNED-meta`"}"#,
        "--submission-id",
        &id,
        "--entrypoint-num-cpus",
        "1.500000",
        "--entrypoint-resources",
        "{\"r\": 1} ; touch PWNED-res",
        "--",
        "python",
        "-c",
        "import sys; print(sys.argv)",
        "$(touch",
        "PWNED-ep)",
        "`touch",
        "PWNED-bt`",
        ";",
        "echo",
        "hi",
        ">",
        "PWNED-redirect",
        "a b c",
        "*",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert_eq!(
        calls,
        vec![
            vec![
                "job".to_string(),
                "status".into(),
                "--address".into(),
                address.clone(),
                id.clone()
            ],
            expected_submit,
            vec![
                "job".to_string(),
                "logs".into(),
                "--address".into(),
                address.clone(),
                "--follow".into(),
                id
            ],
        ]
    );
    assert_eq!(sandbox.stray_files(), Vec::<PathBuf>::new());
}

/// The `SidecarMode` submitter: the same data-not-code guarantee, and it submits once, on the pod's loopback.
#[test]
fn sidecar_submitter_passes_entrypoint_as_data() {
    let job: RayJob = serde_json::from_value(serde_json::json!({
        "apiVersion": "ray.io/v1",
        "kind": "RayJob",
        "metadata": { "name": "hostile-sidecar", "namespace": "ns" },
        "spec": {
            "submissionMode": "SidecarMode",
            "entrypoint": "python run.py $(touch PWNED-ep) ; touch PWNED-semi '$(RAY_JOB_SUBMISSION_ID)'",
            "jobId": "id`touch PWNED-id`",
            "runtimeEnvYAML": "env_vars: {X: \"$(touch PWNED-env)'\"}\n",
            "rayClusterSpec": {
                "headGroupSpec": {
                    "rayStartParams": {},
                    "template": { "spec": { "containers": [{ "name": "ray-head", "image": "ray" }] } }
                }
            }
        }
    }))
    .expect("valid job");
    let objects = ray_builders::render_job(&job, &RenderOptions::default()).expect("renders");
    let sidecar = objects
        .iter()
        .find_map(|o| match &o.object {
            ray_builders::Object::Pod(pod) => pod
                .spec
                .as_ref()
                .and_then(|s| s.containers.iter().find(|c| c.name == "ray-job-submitter"))
                .cloned(),
            _ => None,
        })
        .expect("a head pod with the submitter container");
    let (calls, stray) = ray_calls_of(&sidecar);
    let expected: Vec<String> = [
        "job",
        "submit",
        "--address",
        "http://127.0.0.1:8265",
        "--runtime-env-json",
        r#"{"env_vars":{"X":"$(touch PWNED-env)'"}}"#,
        "--submission-id",
        "id`touch PWNED-id`",
        "--",
        "python",
        "run.py",
        "$(touch",
        "PWNED-ep)",
        ";",
        "touch",
        "PWNED-semi",
        // A kubelet reference reads the container's variable, as data.
        "id`touch PWNED-id`",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert_eq!(calls, vec![expected]);
    assert_eq!(stray, Vec::<PathBuf>::new());
}

/// A value that would end single quotes and run `touch` if the kubelet pasted it into quoted command text.
const BREAKOUT: &str = "x' ; touch PWNED-breakout ; echo '";

fn ray_calls_of(container: &Container) -> (Vec<Vec<String>>, Vec<PathBuf>) {
    let sandbox = Sandbox::new();
    run_container(&sandbox, container);
    (sandbox.calls(), sandbox.stray_files())
}

/// Regression: `redis-password: $(REDIS_PASSWORD)` (KubeRay's kubelet-style reference) with a Secret value that
/// contains a quote used to run the rest of the value as code.
#[test]
fn kubelet_reference_in_ray_start_params_is_data() {
    let cluster: RayCluster = serde_json::from_value(serde_json::json!({
        "apiVersion": "ray.io/v1",
        "kind": "RayCluster",
        "metadata": { "name": "ref", "namespace": "ns" },
        "spec": {
            "headGroupSpec": {
                "rayStartParams": { "redis-password": "$(REDIS_PASSWORD)", "node-ip-address": "$$(touch PWNED-escaped)" },
                "template": { "spec": { "containers": [{
                    "name": "ray-head", "image": "ray",
                    "env": [{ "name": "REDIS_PASSWORD", "value": BREAKOUT }]
                }] } }
            }
        }
    }))
    .expect("valid cluster");
    let options = RenderOptions::default();
    let ctx = ClusterContext::new(&cluster, &options).expect("context");
    let pod = head_pod(&ctx).expect("head pod");
    let container = &pod.spec.as_ref().expect("spec").containers[0];
    let (calls, stray) = ray_calls_of(container);
    assert_eq!(stray, Vec::<PathBuf>::new());
    assert_eq!(calls.len(), 1);
    assert!(
        calls[0].contains(&format!("--redis-password={BREAKOUT}")),
        "{calls:?}"
    );
    // `$$` is the kubelet's escape for a literal `$`: the text reaches Ray as `$(touch ...)`, never run.
    assert!(
        calls[0].contains(&"--node-ip-address=$(touch PWNED-escaped)".to_string()),
        "{calls:?}"
    );
    let again = Sandbox::new();
    run_generated_command(&again, container);
    assert_eq!(again.calls(), calls);
    assert_eq!(again.stray_files(), Vec::<PathBuf>::new());
}

/// Regression: a RayJob entrypoint referring to a variable of the submitter container (`$(TOKEN)`).
#[test]
fn kubelet_reference_in_entrypoint_is_data() {
    let job: RayJob = serde_json::from_value(serde_json::json!({
        "apiVersion": "ray.io/v1",
        "kind": "RayJob",
        "metadata": { "name": "ref-job", "namespace": "ns" },
        "spec": {
            "entrypoint": "python run.py --token $(TOKEN) --id=$(RAY_JOB_SUBMISSION_ID)",
            "jobId": "job-1",
            "submitterPodTemplate": { "spec": { "containers": [{
                "name": "submit", "image": "ray",
                "env": [{ "name": "TOKEN", "value": BREAKOUT }]
            }] } },
            "rayClusterSpec": {
                "headGroupSpec": {
                    "rayStartParams": {},
                    "template": { "spec": { "containers": [{ "name": "ray-head", "image": "ray" }] } }
                }
            }
        }
    }))
    .expect("valid job");
    let objects = ray_builders::render_job(&job, &RenderOptions::default()).expect("renders");
    let container = &common::submitter_container(&objects);
    let (calls, stray) = ray_calls_of(container);
    assert_eq!(stray, Vec::<PathBuf>::new());
    let submit = calls
        .iter()
        .find(|c| c.get(1).map(String::as_str) == Some("submit"))
        .expect("ray job submit ran");
    let separator = submit.iter().position(|a| a == "--").expect("--");
    assert_eq!(
        submit[separator + 1..],
        ["python", "run.py", "--token", BREAKOUT, "--id=job-1"]
    );
}

/// Regression: an `autoscalerOptions.env` entry named `RAY_CLUSTER_NAME` overrides the cluster name the
/// autoscaler command reads; KubeRay's `$(RAY_CLUSTER_NAME)` pasted it into the command text.
#[test]
fn autoscaler_command_reads_cluster_name_as_data() {
    let cluster: RayCluster = serde_json::from_value(serde_json::json!({
        "apiVersion": "ray.io/v1",
        "kind": "RayCluster",
        "metadata": { "name": "auto", "namespace": "ns" },
        "spec": {
            "enableInTreeAutoscaling": true,
            "autoscalerOptions": { "env": [{ "name": "RAY_CLUSTER_NAME", "value": BREAKOUT }] },
            "headGroupSpec": {
                "rayStartParams": {},
                "template": { "spec": { "containers": [{ "name": "ray-head", "image": "ray" }] } }
            }
        }
    }))
    .expect("valid cluster");
    let options = RenderOptions::default();
    let ctx = ClusterContext::new(&cluster, &options).expect("context");
    let pod = head_pod(&ctx).expect("head pod");
    let autoscaler = pod
        .spec
        .as_ref()
        .expect("spec")
        .containers
        .iter()
        .find(|c| c.name == ray_builders::autoscaler::CONTAINER_NAME)
        .expect("autoscaler container");
    let (calls, stray) = ray_calls_of(autoscaler);
    assert_eq!(stray, Vec::<PathBuf>::new());
    assert_eq!(
        calls,
        [[
            "kuberay-autoscaler",
            "--cluster-name",
            BREAKOUT,
            "--cluster-namespace",
            // The kubelet reads metadata.namespace; the test's stand-in for a field reference.
            "from:RAY_CLUSTER_NAMESPACE",
        ]]
    );
}

/// `autoscalerOptions.args` that run the generated command themselves (KubeRay 1.7's documented use of
/// `KUBERAY_GEN_AUTOSCALER_START_CMD`) start the autoscaler with the cluster's own name and namespace, even when
/// `autoscalerOptions.env` redefines `RAY_CLUSTER_NAME` with a hostile value.
#[test]
fn autoscaler_args_can_run_the_generated_command() {
    let cluster: RayCluster = serde_json::from_value(serde_json::json!({
        "apiVersion": "ray.io/v1",
        "kind": "RayCluster",
        "metadata": { "name": "auto", "namespace": "ns" },
        "spec": {
            "enableInTreeAutoscaling": true,
            "autoscalerOptions": {
                "env": [{ "name": "RAY_CLUSTER_NAME", "value": BREAKOUT }],
                "args": ["echo starting; $KUBERAY_GEN_AUTOSCALER_START_CMD"]
            },
            "headGroupSpec": {
                "template": { "spec": { "containers": [{ "name": "ray-head", "image": "ray" }] } }
            }
        }
    }))
    .expect("valid cluster");
    let options = RenderOptions::default();
    let ctx = ClusterContext::new(&cluster, &options).expect("context");
    let pod = head_pod(&ctx).expect("head pod");
    let autoscaler = pod
        .spec
        .as_ref()
        .expect("spec")
        .containers
        .iter()
        .find(|c| c.name == ray_builders::autoscaler::CONTAINER_NAME)
        .expect("autoscaler container");
    assert_eq!(
        autoscaler.args.as_deref(),
        Some(["echo starting; $KUBERAY_GEN_AUTOSCALER_START_CMD".to_string()].as_slice())
    );
    let (calls, stray) = ray_calls_of(autoscaler);
    assert_eq!(stray, Vec::<PathBuf>::new());
    assert_eq!(
        calls,
        [[
            "kuberay-autoscaler",
            "--cluster-name",
            // The kubelet expands the variable's `$(RAY_CLUSTER_NAME)` with the field reference defined before
            // it, not with the later `autoscalerOptions.env` entry.
            "from:RAY_CLUSTER_NAME",
            "--cluster-namespace",
            "from:RAY_CLUSTER_NAMESPACE",
        ]]
    );
}
