//! User values placed in generated shell commands are data, never code.
//!
//! Each test renders a pod or submitter Job with hostile values, runs the generated container command under real
//! `bash` with stub `ray` and `python` programs on `PATH` that record their arguments, and checks that `ray`
//! received exactly the intended arguments and that nothing else ran.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use k8s_openapi::api::core::v1::Container;
use ray_api_v1::{RayCluster, RayJob};
use ray_builders::{ClusterContext, RenderOptions, WorkerReplica, head_pod, worker_pod};

/// A scratch directory with stub programs; every `ray` call appends its arguments (NUL-separated, one call per
/// record ending in an extra NUL) to `calls`.
struct Sandbox {
    dir: tempfile::TempDir,
}

impl Sandbox {
    fn new() -> Sandbox {
        let dir = tempfile::tempdir().expect("temp dir");
        let bin = dir.path().join("bin");
        std::fs::create_dir(&bin).expect("bin dir");
        let calls = dir.path().join("calls");
        write_script(
            &bin.join("ray"),
            &format!(
                "#!/bin/bash\nfor a in \"$@\"; do printf '%s\\0' \"$a\" >> {calls:?}; done\nprintf '\\0' >> {calls:?}\n# `ray job status` reports an unknown job, so the submitter submits.\n[ \"$1 $2\" = 'job status' ] && exit 1\nexit 0\n"
            ),
        );
        write_script(&bin.join("python"), "#!/bin/bash\nexit 0\n");
        Sandbox { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Runs `bash -c -- script` in the sandbox with the given extra environment.
    fn run(&self, script: &str, env: &[(&str, &str)]) {
        let path = format!(
            "{}:{}",
            self.path().join("bin").display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let status = Command::new("bash")
            .arg("-c")
            .arg("--")
            .arg(script)
            .current_dir(self.path())
            .env("PATH", path)
            .env("RAY_START_ULIMIT_OPEN_FILES", "256")
            .envs(env.iter().copied())
            .status()
            .expect("bash runs");
        assert!(status.success(), "script failed: {script}");
    }

    /// The recorded `ray` calls, each as its argument list.
    fn calls(&self) -> Vec<Vec<String>> {
        let raw = std::fs::read(self.path().join("calls")).unwrap_or_default();
        let mut calls = Vec::new();
        let mut current = Vec::new();
        for field in raw
            .split(|b| *b == 0)
            .collect::<Vec<_>>()
            .split_last()
            .map(|(_, rest)| rest.to_vec())
            .unwrap_or_default()
        {
            if field.is_empty() {
                calls.push(std::mem::take(&mut current));
            } else {
                current.push(String::from_utf8(field.to_vec()).expect("utf-8"));
            }
        }
        calls
    }

    /// Files created in the sandbox other than our own: proof that an injected command ran.
    fn stray_files(&self) -> Vec<PathBuf> {
        std::fs::read_dir(self.path())
            .expect("read sandbox")
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| {
                !matches!(
                    p.file_name().and_then(|n| n.to_str()),
                    Some("bin" | "calls")
                )
            })
            .collect()
    }
}

fn write_script(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).expect("write stub");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).expect("chmod stub");
}

/// Runs the Ray container command of a rendered pod.
fn run_container(sandbox: &Sandbox, container: &Container, env: &[(&str, &str)]) {
    let command = container.command.clone().unwrap_or_default();
    assert_eq!(command, ["/bin/bash", "-c", "--"]);
    let args = container.args.clone().unwrap_or_default();
    assert_eq!(args.len(), 1);
    sandbox.run(&args[0], env);
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
    serde_json::from_value(serde_json::json!({
        "apiVersion": "ray.io/v1",
        "kind": "RayCluster",
        "metadata": { "name": "hostile", "namespace": "ns" },
        "spec": {
            "headGroupSpec": {
                "rayStartParams": params,
                "template": { "spec": { "containers": [{ "name": "ray-head", "image": "ray" }] } }
            },
            "workerGroupSpecs": [{
                "groupName": "g",
                "replicas": 1,
                "rayStartParams": params,
                "template": { "spec": { "containers": [{ "name": "ray-worker", "image": "ray" }] } }
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
    run_container(&sandbox, container, &[("REDIS_PASSWORD", PASSWORD)]);

    let mut expected = vec!["start".to_string(), "--head".to_string()];
    expected.extend(expected_flags(&[
        "--dashboard-agent-listen-port=52365",
        "--dashboard-host=0.0.0.0",
        "--metrics-export-port=8080",
    ]));
    assert_eq!(sandbox.calls(), vec![expected.clone()]);
    assert_eq!(sandbox.stray_files(), Vec::<PathBuf>::new());

    // The same words come out of `KUBERAY_GEN_RAY_START_CMD` for users who run it themselves.
    let generated = container
        .env
        .iter()
        .flatten()
        .find(|e| e.name == "KUBERAY_GEN_RAY_START_CMD")
        .and_then(|e| e.value.clone())
        .expect("generated command in env");
    let again = Sandbox::new();
    again.run(&generated, &[("REDIS_PASSWORD", PASSWORD)]);
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
    run_container(
        &sandbox,
        &pod.spec.as_ref().expect("spec").containers[0],
        &[("REDIS_PASSWORD", PASSWORD)],
    );
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
    let submitter = objects
        .iter()
        .find_map(|o| match &o.object {
            ray_builders::Object::Job(job) => Some(job.clone()),
            _ => None,
        })
        .expect("submitter job");
    let container = &submitter
        .spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .expect("pod spec")
        .containers[0];
    assert_eq!(
        container.command.clone().unwrap_or_default(),
        ["/bin/bash", "-ce", "--"]
    );
    let sandbox = Sandbox::new();
    sandbox.run(&container.args.clone().unwrap_or_default()[0], &[]);

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
