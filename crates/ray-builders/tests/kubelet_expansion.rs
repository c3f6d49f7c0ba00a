//! Every user value that reaches a container command is data after the kubelet's `$(VAR)` expansion and bash.
//!
//! For generated hostile values (quotes, backticks, `$(`, `$$`, `${`, `;`, `|`, `&`, newlines, backslashes,
//! unicode, `touch PWNED` attempts, and `$(NAME)` references to container variables that hold hostile values
//! themselves), the rendered pods and submitter Job are started as the kubelet starts them (a port of its
//! expansion, `common/kubelet.rs`) under real bash with a stub `ray`. The checks: no injected command ran, and
//! `ray` received exactly the intended arguments: each value as the kubelet reads it, a reference to a shell
//! variable name giving that variable's content (its text `$(NAME)` when undefined, as the kubelet leaves it),
//! anything else literal.

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;

use common::kubelet::{self, Map};
use common::sandbox::Sandbox;
use k8s_openapi::api::core::v1::{Container, Pod};
use proptest::prelude::*;
use ray_api_v1::{RayCluster, RayJob};
use ray_builders::shell::ParamValue;
use ray_builders::start_command::VALUED_BOOLEAN_FLAGS;
use ray_builders::{ClusterContext, Object, RenderOptions, WorkerReplica, head_pod, worker_pod};
use serde_json::json;

/// Pieces hostile values are made of.
const FRAGMENTS: &[&str] = &[
    "'",
    "\"",
    "`",
    "$(",
    "$$",
    "${",
    "$",
    "(",
    ")",
    ";",
    "|",
    "&",
    "\n",
    "\t",
    "\\",
    " ",
    "*",
    "~",
    "#",
    "!",
    "<",
    ">",
    "=",
    "--",
    "a",
    "é",
    "日本",
    "touch PWNED-a",
    "$(touch PWNED-b)",
    "`touch PWNED-c`",
    "; touch PWNED-d;",
    "'; touch PWNED-e; '",
    "\"; touch PWNED-f; \"",
    "$((1+1))",
    "$(V0)",
    "$(V1)",
    "$(REDIS_PASSWORD)",
    "$(RAY_CLUSTER_NAME)",
    "$(RAY_JOB_SUBMISSION_ID)",
    "$(a.b)",
    "$(UNDEFINED_X)",
    "$$(V0)",
    "'$(V1)'",
    "$V0",
    "${V1}",
];

/// Names of container variables the values refer to.
const ENV_NAMES: &[&str] = &["V0", "V1", "REDIS_PASSWORD"];

fn hostile(max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(FRAGMENTS), 0..max).prop_map(|v| v.concat())
}

fn env_entries(names: &'static [&'static str]) -> impl Strategy<Value = Vec<(String, String)>> {
    prop::collection::vec(
        (
            prop::sample::select(names).prop_map(str::to_string),
            hostile(5),
        ),
        0..4,
    )
}

fn env_json(entries: &[(String, String)]) -> serde_json::Value {
    entries
        .iter()
        .map(|(name, value)| json!({ "name": name, "value": value }))
        .collect()
}

fn is_shell_identifier(name: &[u8]) -> bool {
    name.first()
        .is_some_and(|c| c.is_ascii_alphabetic() || *c == b'_')
        && name.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_')
}

/// What a value means once the kubelet and bash have read it as data.
fn intended(value: &str, env: &Map) -> Vec<u8> {
    kubelet::read_references(value.as_bytes(), &|name| {
        if is_shell_identifier(name) {
            env.get(name).cloned()
        } else {
            None
        }
    })
}

fn concat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// The `ray start` arguments the parameters should produce (after `start` and `--head`).
fn expected_flags(params: &BTreeMap<String, String>, env: &Map) -> Vec<Vec<u8>> {
    let mut flags = Vec::new();
    for (key, value) in params {
        let lower = value.to_ascii_lowercase();
        if (lower == "true" || lower == "false") && !VALUED_BOOLEAN_FLAGS.contains(&key.as_str()) {
            if lower == "true" {
                flags.push(intended(&format!("--{key}"), env));
            }
            continue;
        }
        flags.push(match ParamValue::parse(value) {
            ParamValue::Literal(text) => intended(&format!("--{key}={text}"), env),
            ParamValue::EnvRef(name) => concat(&[
                &intended(&format!("--{key}="), env),
                env.get(name.as_bytes())
                    .map(Vec::as_slice)
                    .unwrap_or_default(),
            ]),
        });
    }
    flags
}

fn text(args: &[&str]) -> Vec<Vec<u8>> {
    args.iter().map(|a| a.as_bytes().to_vec()).collect()
}

fn ray_container(pod: &Pod) -> &Container {
    &pod.spec.as_ref().expect("pod spec").containers[0]
}

/// Starts `container` as the kubelet does; returns the `ray` calls and the files an injected command left.
fn start(container: &Container) -> (Vec<Vec<Vec<u8>>>, Vec<PathBuf>) {
    let sandbox = Sandbox::new();
    let process = kubelet::process(container);
    let ok = sandbox.run_process(&process);
    assert!(ok, "{} failed: {:?}", container.name, container.args);
    (sandbox.raw_calls(), sandbox.stray_files())
}

/// Runs the container's `KUBERAY_GEN_RAY_START_CMD` with `bash -c`, as a user of overwrite-container-cmd does.
fn start_generated(container: &Container) -> (Vec<Vec<Vec<u8>>>, Vec<PathBuf>) {
    let sandbox = Sandbox::new();
    let env = kubelet::environment(container.env.as_deref().unwrap_or_default());
    let generated = env
        .get(b"KUBERAY_GEN_RAY_START_CMD".as_slice())
        .expect("KUBERAY_GEN_RAY_START_CMD")
        .clone();
    let process = kubelet::Process {
        argv: vec![b"bash".to_vec(), b"-c".to_vec(), generated],
        env,
    };
    assert!(
        sandbox.run_process(&process),
        "KUBERAY_GEN_RAY_START_CMD failed: {:?}",
        String::from_utf8_lossy(&process.argv[2])
    );
    (sandbox.raw_calls(), sandbox.stray_files())
}

fn show(calls: &[Vec<Vec<u8>>]) -> Vec<Vec<String>> {
    calls
        .iter()
        .map(|c| {
            c.iter()
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect()
        })
        .collect()
}

#[derive(Debug, Clone)]
struct ClusterCase {
    namespace: String,
    head_params: BTreeMap<String, String>,
    worker_params: BTreeMap<String, String>,
    env: Vec<(String, String)>,
    autoscaler_env: Vec<(String, String)>,
}

fn params() -> impl Strategy<Value = BTreeMap<String, String>> {
    (
        prop::collection::btree_map(hostile(4).prop_map(|k| format!("x{k}")), hostile(6), 0..4),
        hostile(4),
    )
        .prop_map(|(mut params, password)| {
            params.insert("redis-password".to_string(), password);
            params
        })
}

prop_compose! {
    fn cluster_case()(
        namespace in prop_oneof![Just("ns".to_string()), hostile(4).prop_map(|n| format!("ns{n}"))],
        head_params in params(),
        worker_params in params(),
        env in env_entries(ENV_NAMES),
        autoscaler_env in env_entries(&["V0", "RAY_CLUSTER_NAME", "RAY_CLUSTER_NAMESPACE"]),
    ) -> ClusterCase {
        ClusterCase { namespace, head_params, worker_params, env, autoscaler_env }
    }
}

fn cluster_of(case: &ClusterCase) -> RayCluster {
    let env = env_json(&case.env);
    serde_json::from_value(json!({
        "apiVersion": "ray.io/v1",
        "kind": "RayCluster",
        "metadata": { "name": "hostile", "namespace": case.namespace },
        "spec": {
            "enableInTreeAutoscaling": true,
            "autoscalerOptions": { "env": env_json(&case.autoscaler_env) },
            "headGroupSpec": {
                "rayStartParams": case.head_params,
                "template": { "spec": { "containers": [{ "name": "ray-head", "image": "ray", "env": env }] } }
            },
            "workerGroupSpecs": [{
                "groupName": "g",
                "replicas": 1,
                "rayStartParams": case.worker_params,
                "template": { "spec": { "containers": [{ "name": "ray-worker", "image": "ray", "env": env }] } }
            }]
        }
    }))
    .expect("a RayCluster")
}

fn check_cluster(case: &ClusterCase) -> Result<(), TestCaseError> {
    let cluster = cluster_of(case);
    let options = RenderOptions::default();
    let ctx = ClusterContext::new(&cluster, &options).expect("context");
    // Values are read with the environment of the container that runs them.
    let env_of = |c: &Container| kubelet::environment(c.env.as_deref().unwrap_or_default());
    let fqdn = format!("hostile-head-svc.{}.svc.cluster.local", case.namespace);

    // Head: ray start, and the same from KUBERAY_GEN_RAY_START_CMD.
    let head = head_pod(&ctx).expect("head pod");
    let mut head_params = case.head_params.clone();
    for (key, value) in [
        ("dashboard-host", "0.0.0.0"),
        ("metrics-export-port", "8080"),
        ("dashboard-agent-listen-port", "52365"),
        ("block", "true"),
        ("no-monitor", "true"),
    ] {
        head_params.insert(key.to_string(), value.to_string());
    }
    let mut expected = text(&["start", "--head"]);
    expected.extend(expected_flags(&head_params, &env_of(ray_container(&head))));
    for (calls, stray) in [
        start(ray_container(&head)),
        start_generated(ray_container(&head)),
    ] {
        prop_assert_eq!(&stray, &Vec::<PathBuf>::new());
        prop_assert_eq!(show(&calls), show(std::slice::from_ref(&expected)));
    }

    // Autoscaler: the cluster name and namespace as its environment holds them.
    let autoscaler = head
        .spec
        .as_ref()
        .expect("spec")
        .containers
        .iter()
        .find(|c| c.name == ray_builders::autoscaler::CONTAINER_NAME)
        .expect("autoscaler");
    let autoscaler_env = kubelet::environment(autoscaler.env.as_deref().unwrap_or_default());
    let (calls, stray) = start(autoscaler);
    prop_assert_eq!(&stray, &Vec::<PathBuf>::new());
    let expected = vec![
        b"kuberay-autoscaler".to_vec(),
        b"--cluster-name".to_vec(),
        autoscaler_env[b"RAY_CLUSTER_NAME".as_slice()].clone(),
        b"--cluster-namespace".to_vec(),
        autoscaler_env[b"RAY_CLUSTER_NAMESPACE".as_slice()].clone(),
    ];
    prop_assert_eq!(show(&calls), show(&[expected]));

    // Worker: ray start (with the head address, which holds the namespace), its generated command, and the
    // wait-gcs-ready init container.
    let worker = worker_pod(&ctx, 0, &WorkerReplica::default()).expect("worker pod");
    let mut worker_params = case.worker_params.clone();
    for (key, value) in [
        ("address", format!("{fqdn}:6379")),
        ("metrics-export-port", "8080".to_string()),
        ("dashboard-agent-listen-port", "52365".to_string()),
        ("block", "true".to_string()),
    ] {
        worker_params.insert(key.to_string(), value);
    }
    let mut expected = text(&["start"]);
    expected.extend(expected_flags(
        &worker_params,
        &env_of(ray_container(&worker)),
    ));
    for (calls, stray) in [
        start(ray_container(&worker)),
        start_generated(ray_container(&worker)),
    ] {
        prop_assert_eq!(&stray, &Vec::<PathBuf>::new());
        prop_assert_eq!(show(&calls), show(std::slice::from_ref(&expected)));
    }
    let init = worker
        .spec
        .as_ref()
        .and_then(|s| s.init_containers.as_ref())
        .and_then(|c| c.first())
        .expect("wait-gcs-ready");
    let (calls, stray) = start(init);
    prop_assert_eq!(&stray, &Vec::<PathBuf>::new());
    let address = intended(&format!("{fqdn}:6379"), &env_of(init));
    prop_assert_eq!(
        show(&calls),
        show(&[vec![
            b"health-check".to_vec(),
            b"--address".to_vec(),
            address
        ]])
    );
    Ok(())
}

#[derive(Debug, Clone)]
struct JobCase {
    entrypoint: Vec<String>,
    job_id: String,
    runtime_env: BTreeMap<String, String>,
    metadata: BTreeMap<String, String>,
    num_cpus: Option<f64>,
    num_gpus: Option<f64>,
    resources: String,
    env: Vec<(String, String)>,
}

prop_compose! {
    fn job_case()(
        entrypoint in prop::collection::vec(hostile(4), 1..5),
        job_id in hostile(4),
        runtime_env in prop::collection::btree_map(hostile(3), hostile(4), 0..3),
        metadata in prop::collection::btree_map(hostile(3), hostile(4), 0..3),
        num_cpus in prop::option::of(prop::sample::select(&[0.5, 1.0, 2.25][..])),
        num_gpus in prop::option::of(prop::sample::select(&[1.0, 0.125][..])),
        resources in hostile(4),
        env in env_entries(&["V0", "V1", "RAY_JOB_SUBMISSION_ID"]),
    ) -> JobCase {
        JobCase { entrypoint, job_id, runtime_env, metadata, num_cpus, num_gpus, resources, env }
    }
}

fn check_job(case: &JobCase) -> Result<(), TestCaseError> {
    let quoted: Vec<String> = case
        .entrypoint
        .iter()
        .map(|w| shlex::try_quote(w).expect("no NUL").into_owned())
        .collect();
    let entrypoint = quoted.join(" ");
    prop_assume!(shlex::split(entrypoint.trim()).as_ref() == Some(&case.entrypoint));
    let runtime_env_yaml =
        serde_json::to_string(&json!({ "env_vars": case.runtime_env })).expect("json");
    let job: RayJob = serde_json::from_value(json!({
        "apiVersion": "ray.io/v1",
        "kind": "RayJob",
        "metadata": { "name": "hostile-job", "namespace": "ns" },
        "spec": {
            "entrypoint": entrypoint,
            "jobId": case.job_id,
            "runtimeEnvYAML": runtime_env_yaml,
            "metadata": case.metadata,
            "entrypointNumCpus": case.num_cpus,
            "entrypointNumGpus": case.num_gpus,
            "entrypointResources": case.resources,
            "submitterPodTemplate": { "spec": { "containers": [{
                "name": "submit", "image": "ray", "env": env_json(&case.env)
            }] } },
            "rayClusterSpec": {
                "headGroupSpec": {
                    "rayStartParams": {},
                    "template": { "spec": { "containers": [{ "name": "ray-head", "image": "ray" }] } }
                }
            }
        }
    }))
    .expect("a RayJob");
    let objects = ray_builders::render_job(&job, &RenderOptions::default())
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    let cluster = objects
        .iter()
        .find_map(|o| match &o.object {
            Object::RayCluster(c) => c.metadata.name.clone(),
            _ => None,
        })
        .expect("cluster");
    let container = &common::submitter_container(&objects);
    let env = kubelet::environment(container.env.as_deref().unwrap_or_default());
    let (calls, stray) = start(container);
    prop_assert_eq!(&stray, &Vec::<PathBuf>::new());

    let address = format!("http://{cluster}-head-svc.ns.svc.cluster.local:8265").into_bytes();
    let id = if case.job_id.is_empty() {
        // render stands in for the operator's random id with one derived from the RayJob's name: plain text.
        ray_builders::names::with_suffix(
            "hostile-job",
            &ray_builders::names::random_suffix_from(b"hostile-job/job-id"),
        )
        .into_bytes()
    } else {
        intended(&case.job_id, &env)
    };
    let mut submit = text(&["job", "submit", "--address"]);
    submit.push(address.clone());
    submit.push(b"--no-wait".to_vec());
    if let Some(json) =
        ray_builders::submitter::runtime_env_json(&runtime_env_yaml).expect("runtime env")
    {
        submit.push(b"--runtime-env-json".to_vec());
        submit.push(intended(&json, &env));
    }
    if !case.metadata.is_empty() {
        let object: serde_json::Map<String, serde_json::Value> = case
            .metadata
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
            .collect();
        submit.push(b"--metadata-json".to_vec());
        submit.push(intended(
            &ray_builders::spec_hash::canonical_json(&serde_json::Value::Object(object)),
            &env,
        ));
    }
    submit.push(b"--submission-id".to_vec());
    submit.push(id.clone());
    if let Some(cpus) = case.num_cpus {
        submit.push(b"--entrypoint-num-cpus".to_vec());
        submit.push(format!("{cpus:.6}").into_bytes());
    }
    if let Some(gpus) = case.num_gpus {
        submit.push(b"--entrypoint-num-gpus".to_vec());
        submit.push(format!("{gpus:.6}").into_bytes());
    }
    if !case.resources.trim().is_empty() {
        submit.push(b"--entrypoint-resources".to_vec());
        submit.push(intended(&case.resources, &env));
    }
    submit.push(b"--".to_vec());
    submit.extend(case.entrypoint.iter().map(|w| intended(w, &env)));
    let mut status = text(&["job", "status", "--address"]);
    status.extend([address.clone(), id.clone()]);
    let mut logs = text(&["job", "logs", "--address"]);
    logs.extend([address, b"--follow".to_vec(), id]);
    prop_assert_eq!(show(&calls), show(&[status, submit, logs]));
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn cluster_commands_pass_hostile_values_as_data(case in cluster_case()) {
        check_cluster(&case)?;
    }

    #[test]
    fn submitter_command_passes_hostile_values_as_data(case in job_case()) {
        check_job(&case)?;
    }
}

/// The kubelet port agrees with Kubernetes' own expansion tests (expand_test.go).
#[test]
fn kubelet_port_matches_kubernetes_cases() {
    let env: Map = [
        ("VAR_A", "A"),
        ("VAR_B", "B"),
        ("VAR_C", "C"),
        ("VAR_REF", "$(VAR_A)"),
        ("VAR_EMPTY", ""),
    ]
    .into_iter()
    .map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec()))
    .collect();
    for (input, expected) in [
        ("$(VAR_A)", "A"),
        ("___$(VAR_B)___", "___B___"),
        ("$$(VAR_B)_$(VAR_A)", "$(VAR_B)_A"),
        ("f000-$$VAR_A", "f000-$VAR_A"),
        ("foo\\$(VAR_C)bar", "foo\\Cbar"),
        ("$(VAR_A$(VAR_B))", "$(VAR_A$(VAR_B))"),
        ("$(VAR_A$(VAR_B)", "$(VAR_A$(VAR_B)"),
        ("$(VAR_REF)", "$(VAR_A)"),
        ("foo$(VAR_EMPTY)bar", "foobar"),
        ("foo$(VAR_Awhoops!", "foo$(VAR_Awhoops!"),
        ("$?_boo_$!", "$?_boo_$!"),
        ("$VAR_A", "$VAR_A"),
        ("$(VAR_DNE)", "$(VAR_DNE)"),
        ("$$$$$$(BIG_MONEY)", "$$$(BIG_MONEY)"),
        ("$$$$$$$(VAR_A)", "$$$A"),
        ("$$$$$$$(GOOD_ODDS)", "$$$$(GOOD_ODDS)"),
        ("${VAR_A}", "${VAR_A}"),
        ("$(VAR_B)_______$(A", "B_______$(A"),
        ("$(VAR_C)_______$(", "C_______$("),
        ("$(VAR_A)foobarzab$", "Afoobarzab$"),
        ("--$($($($($--", "--$($($($($--"),
        ("$($($($($--foo$(", "$($($($($--foo$("),
        ("$(foo$$var)", "$(foo$$var)"),
    ] {
        assert_eq!(
            String::from_utf8(kubelet::expand(input.as_bytes(), &env)).expect("utf-8"),
            expected,
            "{input}"
        );
    }
}
