//! Every validation rule, with a failing and a passing case, checked in Rust and (where the rule also lives in the
//! CRD) against the CRD's CEL rules, evaluated client-side.

use kube::CustomResourceExt;
use ray_api_v1::parse::{RayObject, from_json_value};
use ray_api_v1::{RayCluster, RayJob, RayService, ValidationErrors};
use std::sync::OnceLock;

use serde_json::{Value, json};

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Cluster,
    Job,
    Service,
}

fn pod(name: &str) -> Value {
    json!({ "spec": { "containers": [{ "name": name, "image": "rayproject/ray:2.9.0" }] } })
}

fn cluster_spec() -> Value {
    json!({
        "rayVersion": "2.9.0",
        "headGroupSpec": { "rayStartParams": { "dashboard-host": "0.0.0.0" }, "template": pod("ray-head") },
        "workerGroupSpecs": [
            { "groupName": "small-group", "replicas": 1, "minReplicas": 0, "maxReplicas": 5, "template": pod("ray-worker") }
        ]
    })
}

fn base(kind: Kind) -> Value {
    match kind {
        Kind::Cluster => json!({
            "apiVersion": "ray.io/v1", "kind": "RayCluster", "metadata": { "name": "raycluster-sample" },
            "spec": cluster_spec()
        }),
        Kind::Job => json!({
            "apiVersion": "ray.io/v1", "kind": "RayJob", "metadata": { "name": "rayjob-sample" },
            "spec": { "entrypoint": "python /home/ray/samples/sample_code.py", "rayClusterSpec": cluster_spec() }
        }),
        Kind::Service => json!({
            "apiVersion": "ray.io/v1", "kind": "RayService", "metadata": { "name": "rayservice-sample" },
            "spec": {
                "serveConfigV2": "applications:\n  - name: fruit_app\n    import_path: fruit.deployment_graph\n",
                "rayClusterConfig": cluster_spec()
            }
        }),
    }
}

/// Sets the value at a JSON pointer, creating objects on the way; `Value::Null` removes the field.
fn set(doc: &mut Value, pointer: &str, value: Value) {
    let (parent, key) = pointer.rsplit_once('/').expect("pointer has a parent");
    let mut target = doc;
    for part in parent.split('/').skip(1) {
        target = match target {
            Value::Array(items) => &mut items[part.parse::<usize>().expect("index")],
            other => other
                .as_object_mut()
                .expect("object on the way")
                .entry(part)
                .or_insert_with(|| json!({})),
        };
    }
    match (target, value) {
        (Value::Object(map), Value::Null) => {
            map.remove(key);
        }
        (Value::Object(map), value) => {
            map.insert(key.to_owned(), value);
        }
        (Value::Array(items), value) => {
            let index = key.parse::<usize>().expect("index");
            if index == items.len() {
                items.push(value);
            } else {
                items[index] = value;
            }
        }
        (other, _) => panic!("cannot set {pointer} in {other}"),
    }
}

fn validate(doc: &Value) -> Result<(), ValidationErrors> {
    RayObject::from_json_value(doc.clone())
        .unwrap_or_else(|error| panic!("test object does not parse: {error}"))
        .validate()
}

/// The CRD's `openAPIV3Schema` of a kind, with its CEL rules compiled once.
fn compiled_schema(kind: Kind) -> &'static kube::core::cel::CompiledSchema {
    static SCHEMAS: [OnceLock<kube::core::cel::CompiledSchema>; 3] =
        [OnceLock::new(), OnceLock::new(), OnceLock::new()];
    let (index, crd) = match kind {
        Kind::Cluster => (0, RayCluster::crd as fn() -> _),
        Kind::Job => (1, RayJob::crd as fn() -> _),
        Kind::Service => (2, RayService::crd as fn() -> _),
    };
    SCHEMAS[index].get_or_init(|| {
        let crd: k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition = crd();
        let schema = serde_json::to_value(
            crd.spec.versions[0]
                .schema
                .as_ref()
                .and_then(|s| s.open_api_v3_schema.as_ref())
                .expect("schema"),
        )
        .expect("schema JSON");
        kube::core::cel::compile_schema(&schema)
    })
}

/// The CRD's CEL rules applied to `doc` as the API server would: the field paths of the failed rules (or a
/// description of a rule that could not be evaluated).
fn cel_failures(kind: Kind, doc: &Value) -> Vec<String> {
    let mut doc = doc.clone();
    // The API server turns generateName into a name before it evaluates the rules.
    if doc["metadata"].get("name").is_none()
        && let Some(prefix) = doc["metadata"]["generateName"].as_str()
    {
        let name = format!("{prefix}x7k2q");
        set(&mut doc, "/metadata/name", Value::String(name));
    }
    match kube::core::cel::Validator::new().validate_compiled(compiled_schema(kind), &doc, None) {
        Ok(()) => Vec::new(),
        Err(errors) => errors
            .iter()
            .map(|e| {
                if e.kind == kube::core::cel::ErrorKind::ValidationFailure {
                    e.field_path.clone()
                } else {
                    format!("CEL rule {:?} did not evaluate: {e}", e.rule)
                }
            })
            .collect(),
    }
}

#[test]
fn every_cel_rule_compiles() {
    for kind in [C, J, S] {
        let errors = compiled_schema(kind).compilation_errors();
        assert!(errors.is_empty(), "{kind:?}: {errors:?}");
    }
}

/// Where the CRD enforces a rule too.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Crd {
    /// Only the operator (Rust) enforces it.
    No,
    /// A CEL rule rejects it; the API server reports this field path.
    Cel(&'static str),
}

struct Case {
    name: &'static str,
    kind: Kind,
    edits: Vec<(&'static str, Value)>,
    /// The expected problems: path and words the message must contain. Empty: the object is valid.
    expect: Vec<(&'static str, &'static [&'static str])>,
    crd: Crd,
}

fn case(
    name: &'static str,
    kind: Kind,
    edits: Vec<(&'static str, Value)>,
    expect: Vec<(&'static str, &'static [&'static str])>,
    crd: Crd,
) -> Case {
    Case {
        name,
        kind,
        edits,
        expect,
        crd,
    }
}

fn ok(name: &'static str, kind: Kind, edits: Vec<(&'static str, Value)>) -> Case {
    case(name, kind, edits, Vec::new(), Crd::No)
}

const C: Kind = Kind::Cluster;
const J: Kind = Kind::Job;
const S: Kind = Kind::Service;

fn cases() -> Vec<Case> {
    let mut all = rule_cases();
    all.extend(gcs_ft_cases());
    all.extend(pod_cases());
    all.extend(group_field_cases());
    all.extend(job_lifecycle_cases());
    all
}

fn rule(policy: &str, condition: Value) -> Value {
    json!({ "policy": policy, "condition": condition })
}

/// KubeRay 1.7's RayJob fields: retries, deadlines, submission modes, `managedBy` and the deletion strategy.
fn job_lifecycle_cases() -> Vec<Case> {
    vec![
        ok("backoff limit", J, vec![("/spec/backoffLimit", json!(3))]),
        case(
            "backoff limit with a selected cluster",
            J,
            vec![
                ("/spec/backoffLimit", json!(1)),
                ("/spec/rayClusterSpec", Value::Null),
                ("/spec/clusterSelector", json!({ "ray.io/cluster": "c" })),
            ],
            vec![("spec.backoffLimit", &["clusterSelector"])],
            Crd::Cel("spec.backoffLimit"),
        ),
        case(
            "backoff limit in interactive mode",
            J,
            vec![
                ("/spec/backoffLimit", json!(1)),
                ("/spec/submissionMode", json!("InteractiveMode")),
            ],
            vec![("spec.backoffLimit", &["InteractiveMode"])],
            Crd::Cel("spec.backoffLimit"),
        ),
        case(
            "negative backoff limit",
            J,
            vec![("/spec/backoffLimit", json!(-1))],
            vec![("spec.backoffLimit", &["0 or more", "-1"])],
            Crd::No,
        ),
        case(
            "zero pre-running deadline",
            J,
            vec![("/spec/preRunningDeadlineSeconds", json!(0))],
            vec![("spec.preRunningDeadlineSeconds", &["positive", "0"])],
            Crd::No,
        ),
        ok(
            "interactive mode needs no entrypoint",
            J,
            vec![
                ("/spec/submissionMode", json!("InteractiveMode")),
                ("/spec/entrypoint", Value::Null),
            ],
        ),
        ok(
            "sidecar mode",
            J,
            vec![("/spec/submissionMode", json!("SidecarMode"))],
        ),
        case(
            "sidecar mode with a submitter template",
            J,
            vec![
                ("/spec/submissionMode", json!("SidecarMode")),
                ("/spec/submitterConfig", json!({ "backoffLimit": 1 })),
            ],
            vec![(
                "spec.submissionMode",
                &["submitterPodTemplate and submitterConfig"],
            )],
            Crd::Cel("spec.submissionMode"),
        ),
        case(
            "sidecar mode with a selected cluster",
            J,
            vec![
                ("/spec/submissionMode", json!("SidecarMode")),
                ("/spec/rayClusterSpec", Value::Null),
                ("/spec/clusterSelector", json!({ "ray.io/cluster": "c" })),
            ],
            vec![("spec.submissionMode", &["clusterSelector"])],
            Crd::Cel("spec.submissionMode"),
        ),
        case(
            "sidecar mode with a restarting head",
            J,
            vec![
                ("/spec/submissionMode", json!("SidecarMode")),
                (
                    "/spec/rayClusterSpec/headGroupSpec/template/spec/restartPolicy",
                    json!("Always"),
                ),
            ],
            vec![(
                "spec.rayClusterSpec.headGroupSpec.template.spec.restartPolicy",
                &["Never or unset", "Always"],
            )],
            Crd::No,
        ),
        case(
            "unknown manager",
            J,
            vec![("/spec/managedBy", json!("someone-else"))],
            vec![("spec.managedBy", &["must be either", "someone-else"])],
            Crd::Cel("spec.managedBy"),
        ),
        ok(
            "deletion rules",
            J,
            vec![(
                "/spec/deletionStrategy",
                json!({ "deletionRules": [
                    rule("DeleteWorkers", json!({ "jobStatus": "FAILED", "ttlSeconds": 10 })),
                    rule("DeleteCluster", json!({ "jobStatus": "FAILED", "ttlSeconds": 20 })),
                    rule("DeleteSelf", json!({ "jobDeploymentStatus": "Failed", "ttlSeconds": 5 })),
                ]}),
            )],
        ),
        ok(
            "legacy deletion policies",
            J,
            vec![(
                "/spec/deletionStrategy",
                json!({ "onSuccess": { "policy": "DeleteCluster" }, "onFailure": { "policy": "DeleteNone" } }),
            )],
        ),
        case(
            "legacy policy alone",
            J,
            vec![(
                "/spec/deletionStrategy",
                json!({ "onSuccess": { "policy": "DeleteCluster" } }),
            )],
            vec![(
                "spec.deletionStrategy.onFailure",
                &["both onSuccess and onFailure"],
            )],
            Crd::Cel("spec.deletionStrategy"),
        ),
        case(
            "legacy and rules together",
            J,
            vec![(
                "/spec/deletionStrategy",
                json!({ "onSuccess": { "policy": "DeleteCluster" }, "onFailure": { "policy": "DeleteNone" },
                    "deletionRules": [rule("DeleteSelf", json!({ "jobStatus": "FAILED" }))] }),
            )],
            vec![("spec.deletionStrategy", &["cannot be used together"])],
            Crd::Cel("spec.deletionStrategy"),
        ),
        case(
            "rules with shutdownAfterJobFinishes",
            J,
            vec![
                ("/spec/shutdownAfterJobFinishes", json!(true)),
                (
                    "/spec/deletionStrategy",
                    json!({ "deletionRules": [rule("DeleteSelf", json!({ "jobStatus": "FAILED" }))] }),
                ),
            ],
            vec![(
                "spec.deletionStrategy.deletionRules",
                &["cannot be combined"],
            )],
            Crd::Cel("spec.deletionStrategy"),
        ),
        case(
            "a condition with both statuses",
            J,
            vec![(
                "/spec/deletionStrategy",
                json!({ "deletionRules": [rule("DeleteSelf",
                    json!({ "jobStatus": "FAILED", "jobDeploymentStatus": "Failed" }))] }),
            )],
            vec![(
                "spec.deletionStrategy.deletionRules[0].condition",
                &["cannot be used together"],
            )],
            Crd::Cel("spec.deletionStrategy.deletionRules[0].condition"),
        ),
        case(
            "a condition on a running job",
            J,
            vec![(
                "/spec/deletionStrategy",
                json!({ "deletionRules": [rule("DeleteSelf", json!({ "jobStatus": "RUNNING" }))] }),
            )],
            vec![(
                "spec.deletionStrategy.deletionRules[0].condition.jobStatus",
                &["SUCCEEDED or FAILED"],
            )],
            Crd::No,
        ),
        case(
            "the cluster deleted before its workers",
            J,
            vec![(
                "/spec/deletionStrategy",
                json!({ "deletionRules": [
                    rule("DeleteWorkers", json!({ "jobStatus": "FAILED", "ttlSeconds": 30 })),
                    rule("DeleteCluster", json!({ "jobStatus": "FAILED", "ttlSeconds": 10 })),
                ]}),
            )],
            vec![(
                "spec.deletionStrategy.deletionRules[1].condition.ttlSeconds",
                &["DeleteCluster TTL (10s) must be at least the DeleteWorkers TTL (30s)"],
            )],
            Crd::No,
        ),
        case(
            "a duplicate rule",
            J,
            vec![(
                "/spec/deletionStrategy",
                json!({ "deletionRules": [
                    rule("DeleteSelf", json!({ "jobStatus": "FAILED", "ttlSeconds": 30 })),
                    rule("DeleteSelf", json!({ "jobStatus": "FAILED", "ttlSeconds": 10 })),
                ]}),
            )],
            vec![(
                "spec.deletionStrategy.deletionRules[1].policy",
                &["second DeleteSelf rule"],
            )],
            Crd::No,
        ),
        case(
            "deleting a selected cluster",
            J,
            vec![
                ("/spec/rayClusterSpec", Value::Null),
                ("/spec/clusterSelector", json!({ "ray.io/cluster": "c" })),
                (
                    "/spec/deletionStrategy",
                    json!({ "deletionRules": [rule("DeleteCluster", json!({ "jobStatus": "FAILED" }))] }),
                ),
            ],
            vec![(
                "spec.deletionStrategy.deletionRules[0].policy",
                &["clusterSelector"],
            )],
            Crd::No,
        ),
        case(
            "deleting workers the autoscaler brings back",
            J,
            vec![
                ("/spec/rayClusterSpec/enableInTreeAutoscaling", json!(true)),
                (
                    "/spec/deletionStrategy",
                    json!({ "deletionRules": [rule("DeleteWorkers", json!({ "jobStatus": "FAILED" }))] }),
                ),
            ],
            vec![(
                "spec.deletionStrategy.deletionRules[0].policy",
                &["enableInTreeAutoscaling"],
            )],
            Crd::No,
        ),
    ]
}

/// The group fields of KubeRay 1.5 to 1.7: Ray node `labels` and Ray logical `resources`, a worker group's
/// `suspend`, `idleTimeoutSeconds` and `priority`, and the autoscaler's `version`.
fn group_field_cases() -> Vec<Case> {
    let autoscaling = || ("/spec/enableInTreeAutoscaling", json!(true));
    let v2 = || ("/spec/autoscalerOptions/version", json!("v2"));
    let head_env = "/spec/headGroupSpec/template/spec/containers/0/env";
    vec![
        ok(
            "labels and resources on the head and the workers",
            C,
            vec![
                ("/spec/headGroupSpec/rayStartParams", json!({})),
                (
                    "/spec/headGroupSpec/labels",
                    json!({ "ray.io/region": "us-central2" }),
                ),
                ("/spec/headGroupSpec/resources", json!({ "CPU": "0" })),
                (
                    "/spec/workerGroupSpecs/0/labels",
                    json!({ "cpu-family": "intel", "empty": "" }),
                ),
                (
                    "/spec/workerGroupSpecs/0/resources",
                    json!({ "CPU": "2", "memory": "4Gi", "GPU": "1", "TPU": "500m" }),
                ),
            ],
        ),
        case(
            "resources together with rayStartParams resource flags",
            C,
            vec![
                ("/spec/headGroupSpec/rayStartParams/num-cpus", json!("1")),
                (
                    "/spec/headGroupSpec/rayStartParams/resources",
                    json!("{\"a\": 1}"),
                ),
                ("/spec/headGroupSpec/resources", json!({ "CPU": "0" })),
            ],
            vec![(
                "spec.headGroupSpec.resources",
                &[
                    "rayStartParams[\"num-cpus\"], rayStartParams[\"resources\"]",
                    "use only one",
                ],
            )],
            Crd::No,
        ),
        case(
            "a group resource that is not a quantity (RayJob)",
            J,
            vec![(
                "/spec/rayClusterSpec/workerGroupSpecs/0/resources",
                json!({ "CPU": "lots", "GPU": "-1" }),
            )],
            vec![
                (
                    "spec.rayClusterSpec.workerGroupSpecs[0].resources[\"CPU\"]",
                    &["\"lots\" is not a quantity", "CPU"],
                ),
                (
                    "spec.rayClusterSpec.workerGroupSpecs[0].resources[\"GPU\"]",
                    &["must not be negative"],
                ),
            ],
            Crd::No,
        ),
        case(
            "labels in rayStartParams (RayService)",
            S,
            vec![(
                "/spec/rayClusterConfig/workerGroupSpecs/0/rayStartParams",
                json!({ "labels": "zone=a" }),
            )],
            vec![(
                "spec.rayClusterConfig.workerGroupSpecs[0].rayStartParams[\"labels\"]",
                &["group's labels field", "move them there"],
            )],
            Crd::No,
        ),
        case(
            "group labels that are not Kubernetes labels",
            C,
            vec![(
                "/spec/workerGroupSpecs/0/labels",
                json!({ "bad key": "a", "ok": "bad value" }),
            )],
            vec![
                (
                    "spec.workerGroupSpecs[0].labels",
                    &["label key \"bad key\""],
                ),
                (
                    "spec.workerGroupSpecs[0].labels",
                    &["the value of label \"ok\""],
                ),
            ],
            Crd::No,
        ),
        ok(
            "a suspended worker group",
            C,
            vec![("/spec/workerGroupSpecs/0/suspend", json!(true))],
        ),
        case(
            "a suspended worker group with the autoscaler",
            C,
            vec![
                autoscaling(),
                ("/spec/workerGroupSpecs/0/suspend", json!(true)),
            ],
            vec![(
                "spec.workerGroupSpecs[0].suspend",
                &[
                    "cannot be suspended while the autoscaler runs",
                    "enableInTreeAutoscaling",
                ],
            )],
            Crd::No,
        ),
        case(
            "a group idle timeout without the autoscaler v2",
            C,
            vec![
                autoscaling(),
                ("/spec/workerGroupSpecs/0/idleTimeoutSeconds", json!(30)),
            ],
            vec![(
                "spec.workerGroupSpecs[0].idleTimeoutSeconds",
                &["autoscaler v2 only", "autoscalerOptions.version to v2"],
            )],
            Crd::No,
        ),
        case(
            "a negative group idle timeout",
            C,
            vec![
                autoscaling(),
                v2(),
                ("/spec/workerGroupSpecs/0/idleTimeoutSeconds", json!(-1)),
            ],
            vec![(
                "spec.workerGroupSpecs[0].idleTimeoutSeconds",
                &["must not be negative", "-1"],
            )],
            Crd::No,
        ),
        ok(
            "a group idle timeout with the autoscaler v2",
            C,
            vec![
                autoscaling(),
                v2(),
                ("/spec/workerGroupSpecs/0/idleTimeoutSeconds", json!(30)),
            ],
        ),
        ok(
            "a group idle timeout with RAY_enable_autoscaler_v2 (before KubeRay 1.4)",
            C,
            vec![
                autoscaling(),
                (
                    head_env,
                    json!([{ "name": "RAY_enable_autoscaler_v2", "value": "1" }]),
                ),
                ("/spec/workerGroupSpecs/0/idleTimeoutSeconds", json!(0)),
            ],
        ),
        case(
            "a group priority without the autoscaler v2 and on an old Ray",
            J,
            vec![("/spec/rayClusterSpec/workerGroupSpecs/0/priority", json!(5))],
            vec![
                (
                    "spec.rayClusterSpec.workerGroupSpecs[0].priority",
                    &["priority (5) is read by the autoscaler v2 only"],
                ),
                (
                    "spec.rayClusterSpec.workerGroupSpecs[0].priority",
                    &["Ray 2.56.0 or newer", "rayVersion is \"2.9.0\""],
                ),
            ],
            Crd::No,
        ),
        case(
            "a group priority without rayVersion",
            C,
            vec![
                autoscaling(),
                v2(),
                ("/spec/rayVersion", Value::Null),
                ("/spec/workerGroupSpecs/0/priority", json!(-3)),
            ],
            vec![(
                "spec.workerGroupSpecs[0].priority",
                &["rayVersion is not set"],
            )],
            Crd::No,
        ),
        ok(
            "a group priority with the autoscaler v2 on Ray 2.56",
            C,
            vec![
                autoscaling(),
                v2(),
                ("/spec/rayVersion", json!("2.56.0")),
                ("/spec/workerGroupSpecs/0/priority", json!(10)),
            ],
        ),
        ok(
            "the default group priority",
            C,
            vec![("/spec/workerGroupSpecs/0/priority", json!(0))],
        ),
        case(
            "autoscalerOptions.version and RAY_enable_autoscaler_v2 together",
            C,
            vec![
                autoscaling(),
                ("/spec/autoscalerOptions/version", json!("v1")),
                (
                    head_env,
                    json!([{ "name": "RAY_enable_autoscaler_v2", "value": "false" }]),
                ),
            ],
            vec![(
                "spec.headGroupSpec.template.spec.containers[0].env[0]",
                &[
                    "autoscalerOptions.version both choose",
                    "remove the variable",
                ],
            )],
            Crd::No,
        ),
        case(
            "restart policies other than Never with the autoscaler v2",
            C,
            vec![
                autoscaling(),
                v2(),
                (
                    "/spec/headGroupSpec/template/spec/restartPolicy",
                    json!("OnFailure"),
                ),
                (
                    "/spec/workerGroupSpecs/0/template/spec/restartPolicy",
                    json!("Always"),
                ),
            ],
            vec![
                (
                    "spec.headGroupSpec.template.spec.restartPolicy",
                    &["Never or unset", "\"OnFailure\""],
                ),
                (
                    "spec.workerGroupSpecs[0].template.spec.restartPolicy",
                    &["Never or unset", "\"Always\""],
                ),
            ],
            Crd::No,
        ),
        ok(
            "restart policy Always with the autoscaler v1",
            C,
            vec![
                autoscaling(),
                ("/spec/autoscalerOptions/version", json!("v1")),
                (
                    "/spec/workerGroupSpecs/0/template/spec/restartPolicy",
                    json!("Always"),
                ),
            ],
        ),
        ok(
            "the autoscaler's command and args",
            C,
            vec![
                autoscaling(),
                (
                    "/spec/autoscalerOptions/command",
                    json!(["/bin/bash", "-lc", "--"]),
                ),
                (
                    "/spec/autoscalerOptions/args",
                    json!(["ulimit -n 65536; $KUBERAY_GEN_AUTOSCALER_START_CMD"]),
                ),
            ],
        ),
    ]
}

/// GCS fault tolerance: `gcsFaultToleranceOptions` against the legacy annotation, variables and start parameters.
fn gcs_ft_cases() -> Vec<Case> {
    let options = || json!({ "redisAddress": "redis:6379" });
    let head_env = |name: &str| json!([{ "name": name, "value": "x" }]);
    let env_path = "/spec/headGroupSpec/template/spec/containers/0/env";
    vec![
        ok(
            "gcs ft options with credentials from a Secret and a literal",
            C,
            vec![(
                "/spec/gcsFaultToleranceOptions",
                json!({
                    "redisAddress": "rediss://redis:6379",
                    "redisUsername": { "value": "ray" },
                    "redisPassword": { "valueFrom": { "secretKeyRef": { "name": "redis", "key": "password" } } },
                    "externalStorageNamespace": "ns",
                    "backend": "redis"
                }),
            )],
        ),
        ok(
            "legacy gcs ft annotation with RAY_REDIS_ADDRESS and redis-password",
            C,
            vec![
                (
                    "/metadata/annotations",
                    json!({ "ray.io/ft-enabled": "True" }),
                ),
                (env_path, head_env("RAY_REDIS_ADDRESS")),
                (
                    "/spec/headGroupSpec/rayStartParams/redis-password",
                    json!("$REDIS_PASSWORD"),
                ),
            ],
        ),
        case(
            "gcs ft options with the ft-enabled annotation",
            C,
            vec![
                (
                    "/metadata/annotations",
                    json!({ "ray.io/ft-enabled": "true" }),
                ),
                ("/spec/gcsFaultToleranceOptions", options()),
            ],
            vec![(
                "metadata.annotations[\"ray.io/ft-enabled\"]",
                &[
                    "spec.gcsFaultToleranceOptions already turns on",
                    "remove the ray.io/ft-enabled annotation",
                ],
            )],
            Crd::No,
        ),
        case(
            "gcs ft options with the storage namespace annotation (RayJob)",
            J,
            vec![
                (
                    "/metadata/annotations",
                    json!({ "ray.io/external-storage-namespace": "ns" }),
                ),
                ("/spec/rayClusterSpec/gcsFaultToleranceOptions", options()),
            ],
            vec![(
                "metadata.annotations[\"ray.io/external-storage-namespace\"]",
                &["gcsFaultToleranceOptions.externalStorageNamespace"],
            )],
            Crd::No,
        ),
        case(
            "gcs ft options with the ft-enabled annotation (RayService)",
            S,
            vec![
                (
                    "/metadata/annotations",
                    json!({ "ray.io/ft-enabled": "false" }),
                ),
                ("/spec/rayClusterConfig/gcsFaultToleranceOptions", options()),
            ],
            vec![(
                "metadata.annotations[\"ray.io/ft-enabled\"]",
                &["spec.rayClusterConfig.gcsFaultToleranceOptions already turns on"],
            )],
            Crd::No,
        ),
        case(
            "gcs ft options with redis-password in rayStartParams",
            C,
            vec![
                ("/spec/gcsFaultToleranceOptions", options()),
                (
                    "/spec/headGroupSpec/rayStartParams/redis-password",
                    json!("$REDIS_PASSWORD"),
                ),
            ],
            vec![(
                "spec.headGroupSpec.rayStartParams[\"redis-password\"]",
                &[
                    "gcsFaultToleranceOptions.redisPassword",
                    "remove the redis-password parameter",
                ],
            )],
            Crd::Cel("spec.headGroupSpec.rayStartParams"),
        ),
        case(
            "gcs ft options with REDIS_PASSWORD on the head",
            S,
            vec![
                ("/spec/rayClusterConfig/gcsFaultToleranceOptions", options()),
                (
                    "/spec/rayClusterConfig/headGroupSpec/template/spec/containers/0/env",
                    head_env("REDIS_PASSWORD"),
                ),
            ],
            vec![(
                "spec.rayClusterConfig.headGroupSpec.template.spec.containers[0].env[0]",
                &["REDIS_PASSWORD", "gcsFaultToleranceOptions.redisPassword"],
            )],
            Crd::No,
        ),
        case(
            "gcs ft options with RAY_REDIS_ADDRESS on the head",
            C,
            vec![
                ("/spec/gcsFaultToleranceOptions", options()),
                (env_path, head_env("RAY_REDIS_ADDRESS")),
            ],
            vec![(
                "spec.headGroupSpec.template.spec.containers[0].env[0]",
                &["RAY_REDIS_ADDRESS", "gcsFaultToleranceOptions.redisAddress"],
            )],
            Crd::No,
        ),
        case(
            "RAY_REDIS_ADDRESS without gcs fault tolerance",
            C,
            vec![(env_path, head_env("RAY_REDIS_ADDRESS"))],
            vec![(
                "spec.headGroupSpec.template.spec.containers[0].env[0]",
                &[
                    "GCS fault tolerance is off",
                    "spec.gcsFaultToleranceOptions.redisAddress",
                ],
            )],
            Crd::No,
        ),
        case(
            "redis-username in rayStartParams",
            C,
            vec![(
                "/spec/headGroupSpec/rayStartParams/redis-username",
                json!("ray"),
            )],
            vec![(
                "spec.headGroupSpec.rayStartParams[\"redis-username\"]",
                &[
                    "gcsFaultToleranceOptions.redisUsername",
                    "remove the redis-username parameter",
                ],
            )],
            Crd::Cel("spec.headGroupSpec.rayStartParams"),
        ),
        case(
            "REDIS_USERNAME on the head (legacy annotation)",
            J,
            vec![
                (
                    "/metadata/annotations",
                    json!({ "ray.io/ft-enabled": "true" }),
                ),
                (
                    "/spec/rayClusterSpec/headGroupSpec/template/spec/containers/0/env",
                    head_env("REDIS_USERNAME"),
                ),
            ],
            vec![(
                "spec.rayClusterSpec.headGroupSpec.template.spec.containers[0].env[0]",
                &["REDIS_USERNAME", "gcsFaultToleranceOptions.redisUsername"],
            )],
            Crd::No,
        ),
        case(
            "gcs ft options without redisAddress",
            C,
            vec![(
                "/spec/gcsFaultToleranceOptions",
                json!({ "redisPassword": { "value": "p" } }),
            )],
            vec![(
                "spec.gcsFaultToleranceOptions.redisAddress",
                &["redis backend needs the Redis server", "set redisAddress"],
            )],
            Crd::Cel("spec.gcsFaultToleranceOptions.redisAddress"),
        ),
        case(
            "gcs ft credential with value and valueFrom",
            C,
            vec![(
                "/spec/gcsFaultToleranceOptions",
                json!({
                    "redisAddress": "redis:6379",
                    "redisPassword": { "value": "p", "valueFrom": { "secretKeyRef": { "name": "redis", "key": "password" } } }
                }),
            )],
            vec![(
                "spec.gcsFaultToleranceOptions.redisPassword.valueFrom",
                &["value and valueFrom cannot both be set"],
            )],
            Crd::No,
        ),
        case(
            "gcs ft credential from a Secret without a name",
            C,
            vec![(
                "/spec/gcsFaultToleranceOptions",
                json!({
                    "redisAddress": "redis:6379",
                    "redisUsername": { "valueFrom": { "secretKeyRef": { "name": "", "key": "user" } } }
                }),
            )],
            vec![(
                "spec.gcsFaultToleranceOptions.redisUsername.valueFrom.secretKeyRef.name",
                &["Secret"],
            )],
            Crd::No,
        ),
        case(
            "gcs ft rocksdb backend",
            C,
            vec![(
                "/spec/gcsFaultToleranceOptions",
                json!({ "backend": "rocksdb" }),
            )],
            vec![(
                "spec.gcsFaultToleranceOptions.backend",
                &[
                    "gcsFaultToleranceOptions.backend is not supported by this operator yet",
                    "rocksdb backend is not implemented",
                ],
            )],
            Crd::Cel("spec.gcsFaultToleranceOptions.backend"),
        ),
        case(
            "gcs ft embedded storage",
            S,
            vec![(
                "/spec/rayClusterConfig/gcsFaultToleranceOptions",
                json!({ "redisAddress": "redis:6379", "storage": { "size": "1Gi" } }),
            )],
            vec![(
                "spec.rayClusterConfig.gcsFaultToleranceOptions.storage",
                &[
                    "gcsFaultToleranceOptions.storage is not supported by this operator yet",
                    "rocksdb",
                ],
            )],
            Crd::Cel("spec.rayClusterConfig.gcsFaultToleranceOptions.storage"),
        ),
    ]
}

fn rule_cases() -> Vec<Case> {
    let long = |n: usize| Value::String("a".repeat(n));
    vec![
        // --- names ---
        case(
            "cluster name too long",
            C,
            vec![("/metadata/name", long(54))],
            vec![(
                "metadata.name",
                &["at most 53 characters", "has 54", "shorter"],
            )],
            Crd::Cel(""),
        ),
        ok(
            "cluster name of 53 characters",
            C,
            vec![("/metadata/name", long(53))],
        ),
        case(
            "cluster name not DNS-1035",
            C,
            vec![("/metadata/name", json!("1-cluster"))],
            vec![(
                "metadata.name",
                &[
                    "not a valid RayCluster name",
                    "start with a lowercase letter",
                ],
            )],
            Crd::Cel(""),
        ),
        case(
            "cluster name with uppercase",
            C,
            vec![("/metadata/name", json!("MyCluster"))],
            vec![("metadata.name", &["lowercase letters, digits and '-'"])],
            Crd::Cel(""),
        ),
        ok(
            "cluster name with digits and dashes",
            C,
            vec![("/metadata/name", json!("a-1-b"))],
        ),
        case(
            "job name too long",
            J,
            vec![("/metadata/name", long(48))],
            vec![(
                "metadata.name",
                &["RayJob names must be at most 47", "has 48"],
            )],
            Crd::Cel(""),
        ),
        ok(
            "job name of 47 characters",
            J,
            vec![("/metadata/name", long(47))],
        ),
        case(
            "service name too long",
            S,
            vec![("/metadata/name", long(48))],
            vec![(
                "metadata.name",
                &["RayService names must be at most 47", "has 48"],
            )],
            Crd::Cel(""),
        ),
        ok(
            "service name of 47 characters",
            S,
            vec![("/metadata/name", long(47))],
        ),
        case(
            "no name at all",
            C,
            vec![("/metadata/name", Value::Null)],
            vec![("metadata.name", &["needs a name", "generateName"])],
            Crd::No,
        ),
        case(
            "generateName too long",
            J,
            vec![
                ("/metadata/name", Value::Null),
                (
                    "/metadata/generateName",
                    Value::String(format!("{}-", "a".repeat(42))),
                ),
            ],
            vec![("metadata.generateName", &["at most 42", "has 43"])],
            Crd::No,
        ),
        case(
            "generateName with an underscore",
            C,
            vec![
                ("/metadata/name", Value::Null),
                ("/metadata/generateName", json!("my_cluster-")),
            ],
            vec![(
                "metadata.generateName",
                &["does not start a valid RayCluster name"],
            )],
            Crd::No,
        ),
        ok(
            "generateName ending with a dash",
            C,
            vec![
                ("/metadata/name", Value::Null),
                ("/metadata/generateName", json!("demo-")),
            ],
        ),
        // --- pod templates ---
        case(
            "head template without containers",
            C,
            vec![("/spec/headGroupSpec/template/spec/containers", json!([]))],
            vec![(
                "spec.headGroupSpec.template.spec.containers",
                &["head pod template needs at least one container"],
            )],
            Crd::Cel("spec.headGroupSpec.template"),
        ),
        case(
            "head template without pod spec",
            C,
            vec![("/spec/headGroupSpec/template", json!({}))],
            vec![(
                "spec.headGroupSpec.template.spec.containers",
                &["at least one container"],
            )],
            Crd::Cel("spec.headGroupSpec.template"),
        ),
        case(
            "worker template without containers",
            C,
            vec![(
                "/spec/workerGroupSpecs/0/template/spec/containers",
                json!([]),
            )],
            vec![(
                "spec.workerGroupSpecs[0].template.spec.containers",
                &["worker pod template needs at least one container"],
            )],
            Crd::Cel("spec.workerGroupSpecs[0].template"),
        ),
        // --- worker group names ---
        case(
            "duplicate worker group names",
            C,
            vec![(
                "/spec/workerGroupSpecs/1",
                json!({ "groupName": "small-group", "template": pod("w") }),
            )],
            vec![
                (
                    "spec.workerGroupSpecs[0].groupName",
                    &["worker group names must be unique", "\"small-group\""],
                ),
                (
                    "spec.workerGroupSpecs[1].groupName",
                    &["worker group names must be unique"],
                ),
            ],
            Crd::No,
        ),
        ok(
            "distinct worker group names",
            C,
            vec![(
                "/spec/workerGroupSpecs/1",
                json!({ "groupName": "gpu-group", "template": pod("w") }),
            )],
        ),
        case(
            "empty worker group name",
            C,
            vec![("/spec/workerGroupSpecs/0/groupName", json!(""))],
            vec![(
                "spec.workerGroupSpecs[0].groupName",
                &["needs a name", "set groupName"],
            )],
            Crd::No,
        ),
        case(
            "worker group name that cannot be a pod name",
            C,
            vec![("/spec/workerGroupSpecs/0/groupName", json!("Small_Group"))],
            vec![(
                "spec.workerGroupSpecs[0].groupName",
                &[
                    "cannot be used in pod names and labels",
                    "letters, digits and '-'",
                ],
            )],
            Crd::No,
        ),
        case(
            "worker group name with upper-case letters, which KubeRay accepts",
            C,
            vec![("/spec/workerGroupSpecs/0/groupName", json!("gpuGroup"))],
            vec![],
            Crd::No,
        ),
        case(
            "worker group name longer than a label",
            C,
            vec![("/spec/workerGroupSpecs/0/groupName", long(64))],
            vec![(
                "spec.workerGroupSpecs[0].groupName",
                &["at most 63 characters"],
            )],
            Crd::No,
        ),
        case(
            "multi-host group name too long",
            C,
            vec![
                ("/spec/workerGroupSpecs/0/groupName", long(58)),
                ("/spec/workerGroupSpecs/0/numOfHosts", json!(2)),
            ],
            vec![(
                "spec.workerGroupSpecs[0].groupName",
                &["multi-host", "at most 57", "has 58"],
            )],
            Crd::Cel("spec.workerGroupSpecs[0].groupName"),
        ),
        ok(
            "single-host group name of 63 characters",
            C,
            vec![("/spec/workerGroupSpecs/0/groupName", long(63))],
        ),
        case(
            "more hosts per replica than the operator creates together",
            C,
            vec![("/spec/workerGroupSpecs/0/numOfHosts", json!(i32::MAX))],
            vec![(
                "spec.workerGroupSpecs[0].numOfHosts",
                &["at most 4096", "2147483647"],
            )],
            Crd::No,
        ),
        ok(
            "replicas 2147483647 is valid (created in bounded batches)",
            C,
            vec![
                ("/spec/workerGroupSpecs/0/replicas", json!(i32::MAX)),
                ("/spec/workerGroupSpecs/0/maxReplicas", json!(i32::MAX)),
            ],
        ),
        // --- replicas ---
        case(
            "negative replicas",
            C,
            vec![("/spec/workerGroupSpecs/0/replicas", json!(-1))],
            vec![(
                "spec.workerGroupSpecs[0].replicas",
                &["must not be negative", "-1"],
            )],
            Crd::No,
        ),
        case(
            "negative minReplicas",
            C,
            vec![("/spec/workerGroupSpecs/0/minReplicas", json!(-2))],
            vec![(
                "spec.workerGroupSpecs[0].minReplicas",
                &["must not be negative", "-2"],
            )],
            Crd::No,
        ),
        case(
            "negative maxReplicas",
            C,
            vec![
                ("/spec/workerGroupSpecs/0/maxReplicas", json!(-1)),
                ("/spec/workerGroupSpecs/0/minReplicas", json!(-1)),
            ],
            vec![
                (
                    "spec.workerGroupSpecs[0].minReplicas",
                    &["must not be negative"],
                ),
                (
                    "spec.workerGroupSpecs[0].maxReplicas",
                    &["must not be negative"],
                ),
            ],
            Crd::No,
        ),
        case(
            "zero hosts",
            C,
            vec![("/spec/workerGroupSpecs/0/numOfHosts", json!(0))],
            vec![(
                "spec.workerGroupSpecs[0].numOfHosts",
                &["at least 1", "it is 0"],
            )],
            Crd::No,
        ),
        ok(
            "two hosts",
            C,
            vec![("/spec/workerGroupSpecs/0/numOfHosts", json!(2))],
        ),
        case(
            "minReplicas above maxReplicas",
            C,
            vec![
                ("/spec/workerGroupSpecs/0/minReplicas", json!(5)),
                ("/spec/workerGroupSpecs/0/maxReplicas", json!(3)),
            ],
            vec![(
                "spec.workerGroupSpecs[0].minReplicas",
                &["minReplicas (5) must not be greater than maxReplicas (3)"],
            )],
            Crd::Cel("spec.workerGroupSpecs[0].minReplicas"),
        ),
        ok(
            "minReplicas equal to maxReplicas",
            C,
            vec![
                ("/spec/workerGroupSpecs/0/minReplicas", json!(3)),
                ("/spec/workerGroupSpecs/0/maxReplicas", json!(3)),
            ],
        ),
        ok(
            "unset minReplicas and maxReplicas take the CRD defaults",
            C,
            vec![
                ("/spec/workerGroupSpecs/0/minReplicas", Value::Null),
                ("/spec/workerGroupSpecs/0/maxReplicas", Value::Null),
            ],
        ),
        case(
            "minReplicas above the default maxReplicas is impossible, above an explicit one is not",
            C,
            vec![
                ("/spec/workerGroupSpecs/0/minReplicas", Value::Null),
                ("/spec/workerGroupSpecs/0/maxReplicas", json!(-1)),
            ],
            vec![
                (
                    "spec.workerGroupSpecs[0].maxReplicas",
                    &["must not be negative"],
                ),
                (
                    "spec.workerGroupSpecs[0].minReplicas",
                    &["minReplicas (0) must not be greater than maxReplicas (-1)"],
                ),
            ],
            Crd::No,
        ),
        // --- head ---
        case(
            "autoscaler v2 without autoscaling",
            C,
            vec![(
                "/spec/headGroupSpec/template/spec/containers/0/env",
                json!([{ "name": "RAY_enable_autoscaler_v2", "value": "1" }]),
            )],
            vec![(
                "spec.headGroupSpec.template.spec.containers[0].env[0]",
                &["RAY_enable_autoscaler_v2", "enableInTreeAutoscaling: true"],
            )],
            Crd::No,
        ),
        ok(
            "autoscaler v2 with autoscaling",
            C,
            vec![
                (
                    "/spec/headGroupSpec/template/spec/containers/0/env",
                    json!([{ "name": "RAY_enable_autoscaler_v2", "value": "true" }]),
                ),
                ("/spec/enableInTreeAutoscaling", json!(true)),
            ],
        ),
        ok(
            "autoscaler v2 switched off without autoscaling",
            C,
            vec![(
                "/spec/headGroupSpec/template/spec/containers/0/env",
                json!([{ "name": "RAY_enable_autoscaler_v2", "value": "0" }]),
            )],
        ),
        case(
            "unknown head Service type",
            C,
            vec![("/spec/headGroupSpec/serviceType", json!("Headless"))],
            vec![(
                "spec.headGroupSpec.serviceType",
                &["\"Headless\" is not a head Service type", "ClusterIP"],
            )],
            Crd::Cel("spec.headGroupSpec.serviceType"),
        ),
        ok(
            "NodePort head Service",
            C,
            vec![("/spec/headGroupSpec/serviceType", json!("NodePort"))],
        ),
        ok(
            "a RayCluster may name its head Service",
            C,
            vec![(
                "/spec/headGroupSpec/headService",
                json!({ "metadata": { "name": "my-head" } }),
            )],
        ),
        // --- autoscaler options ---
        case(
            "negative autoscaler idle timeout",
            C,
            vec![("/spec/autoscalerOptions/idleTimeoutSeconds", json!(-1))],
            vec![(
                "spec.autoscalerOptions.idleTimeoutSeconds",
                &["must not be negative", "-1"],
            )],
            Crd::No,
        ),
        ok(
            "zero autoscaler idle timeout",
            C,
            vec![("/spec/autoscalerOptions/idleTimeoutSeconds", json!(0))],
        ),
        case(
            "autoscaler env overriding the start command",
            C,
            vec![(
                "/spec/autoscalerOptions/env",
                json!([{ "name": "FOO", "value": "1" }, { "name": "KUBERAY_GEN_AUTOSCALER_START_CMD", "value": "x" }]),
            )],
            vec![(
                "spec.autoscalerOptions.env[1]",
                &["KUBERAY_GEN_AUTOSCALER_START_CMD", "remove it"],
            )],
            Crd::No,
        ),
        case(
            "unknown autoscaler pull policy",
            C,
            vec![(
                "/spec/autoscalerOptions/imagePullPolicy",
                json!("Sometimes"),
            )],
            vec![(
                "spec.autoscalerOptions.imagePullPolicy",
                &["\"Sometimes\" is not an image pull policy"],
            )],
            Crd::No,
        ),
        ok(
            "autoscaler pull policy Always",
            C,
            vec![("/spec/autoscalerOptions/imagePullPolicy", json!("Always"))],
        ),
        // --- RayJob ---
        case(
            "job without entrypoint",
            J,
            vec![("/spec/entrypoint", Value::Null)],
            vec![("spec.entrypoint", &["nothing to run", "set entrypoint"])],
            Crd::Cel("spec.entrypoint"),
        ),
        case(
            "job with a blank entrypoint",
            J,
            vec![("/spec/entrypoint", json!("  "))],
            vec![("spec.entrypoint", &["nothing to run"])],
            Crd::Cel("spec.entrypoint"),
        ),
        ok(
            "job whose custom submitter has a command",
            J,
            vec![
                ("/spec/entrypoint", Value::Null),
                (
                    "/spec/submitterPodTemplate",
                    json!({ "spec": { "restartPolicy": "Never", "containers": [{ "name": "s", "image": "submitter", "command": ["/submit"] }] } }),
                ),
            ],
        ),
        case(
            "HTTPMode job without entrypoint but with a submitter command",
            J,
            vec![
                ("/spec/entrypoint", Value::Null),
                ("/spec/submissionMode", json!("HTTPMode")),
                (
                    "/spec/submitterPodTemplate",
                    json!({ "spec": { "containers": [{ "name": "s", "image": "submitter", "command": ["/submit"] }] } }),
                ),
            ],
            vec![("spec.entrypoint", &["nothing to run"])],
            Crd::Cel("spec.entrypoint"),
        ),
        case(
            "job metadata on an old Ray",
            J,
            vec![
                ("/spec/metadata", json!({ "owner": "me" })),
                ("/spec/rayClusterSpec/rayVersion", json!("2.5.1")),
            ],
            vec![("spec.metadata", &["Ray 2.6.0 or newer", "\"2.5.1\""])],
            Crd::No,
        ),
        ok(
            "job metadata on Ray 2.6",
            J,
            vec![
                ("/spec/metadata", json!({ "owner": "me" })),
                ("/spec/rayClusterSpec/rayVersion", json!("2.6.0")),
            ],
        ),
        case(
            "runtime env that is not YAML",
            J,
            vec![(
                "/spec/runtimeEnvYAML",
                json!("pip:\n  - requests\n env_vars: {"),
            )],
            vec![(
                "spec.runtimeEnvYAML",
                &["runtime environment is not valid YAML", "line 3"],
            )],
            Crd::No,
        ),
        case(
            "runtime env that is a list",
            J,
            vec![("/spec/runtimeEnvYAML", json!("- requests\n- numpy\n"))],
            vec![("spec.runtimeEnvYAML", &["must be a YAML mapping", "a list"])],
            Crd::No,
        ),
        ok(
            "runtime env mapping",
            J,
            vec![(
                "/spec/runtimeEnvYAML",
                json!("pip:\n  - requests==2.26.0\nenv_vars:\n  counter_name: test_counter\n"),
            )],
        ),
        ok(
            "empty runtime env",
            J,
            vec![("/spec/runtimeEnvYAML", json!(""))],
        ),
        case(
            "negative TTL",
            J,
            vec![
                ("/spec/ttlSecondsAfterFinished", json!(-1)),
                ("/spec/shutdownAfterJobFinishes", json!(true)),
            ],
            vec![(
                "spec.ttlSecondsAfterFinished",
                &["must not be negative", "-1"],
            )],
            Crd::No,
        ),
        case(
            "TTL without shutdown",
            J,
            vec![("/spec/ttlSecondsAfterFinished", json!(10))],
            vec![(
                "spec.ttlSecondsAfterFinished",
                &["only applies when shutdownAfterJobFinishes is true", "(10)"],
            )],
            Crd::Cel("spec.ttlSecondsAfterFinished"),
        ),
        ok(
            "TTL with shutdown",
            J,
            vec![
                ("/spec/ttlSecondsAfterFinished", json!(10)),
                ("/spec/shutdownAfterJobFinishes", json!(true)),
            ],
        ),
        ok(
            "zero TTL without shutdown",
            J,
            vec![("/spec/ttlSecondsAfterFinished", json!(0))],
        ),
        case(
            "zero active deadline",
            J,
            vec![("/spec/activeDeadlineSeconds", json!(0))],
            vec![(
                "spec.activeDeadlineSeconds",
                &["must be a positive number of seconds", "it is 0"],
            )],
            Crd::No,
        ),
        ok(
            "one second active deadline",
            J,
            vec![("/spec/activeDeadlineSeconds", json!(1))],
        ),
        case(
            "job without any cluster",
            J,
            vec![("/spec/rayClusterSpec", Value::Null)],
            vec![(
                "spec.rayClusterSpec",
                &["needs a cluster", "clusterSelector"],
            )],
            Crd::Cel("spec.rayClusterSpec"),
        ),
        ok(
            "job on a selected cluster",
            J,
            vec![
                ("/spec/rayClusterSpec", Value::Null),
                (
                    "/spec/clusterSelector",
                    json!({ "ray.io/cluster": "existing" }),
                ),
            ],
        ),
        case(
            "cluster selector without ray.io/cluster",
            J,
            vec![
                ("/spec/rayClusterSpec", Value::Null),
                ("/spec/clusterSelector", json!({ "app": "x" })),
            ],
            vec![("spec.clusterSelector", &["\"ray.io/cluster\""])],
            Crd::Cel("spec.clusterSelector"),
        ),
        case(
            "cluster selector with an empty cluster name",
            J,
            vec![("/spec/clusterSelector", json!({ "ray.io/cluster": "" }))],
            vec![("spec.clusterSelector", &["\"ray.io/cluster\""])],
            Crd::Cel("spec.clusterSelector"),
        ),
        case(
            "suspended job without shutdown",
            J,
            vec![("/spec/suspend", json!(true))],
            vec![(
                "spec.suspend",
                &["only be suspended when shutdownAfterJobFinishes is true"],
            )],
            Crd::Cel("spec.suspend"),
        ),
        ok(
            "suspended job with shutdown",
            J,
            vec![
                ("/spec/suspend", json!(true)),
                ("/spec/shutdownAfterJobFinishes", json!(true)),
            ],
        ),
        case(
            "suspended job on a selected cluster",
            J,
            vec![
                ("/spec/suspend", json!(true)),
                ("/spec/shutdownAfterJobFinishes", json!(true)),
                ("/spec/rayClusterSpec", Value::Null),
                (
                    "/spec/clusterSelector",
                    json!({ "ray.io/cluster": "existing" }),
                ),
            ],
            vec![("spec.suspend", &["existing cluster", "cannot be suspended"])],
            Crd::Cel("spec.suspend"),
        ),
        case(
            "negative entrypoint CPUs",
            J,
            vec![("/spec/entrypointNumCpus", json!(-1.0))],
            vec![("spec.entrypointNumCpus", &["must not be negative"])],
            Crd::No,
        ),
        case(
            "negative entrypoint GPUs",
            J,
            vec![("/spec/entrypointNumGpus", json!(-0.5))],
            vec![("spec.entrypointNumGpus", &["must not be negative", "-0.5"])],
            Crd::No,
        ),
        ok(
            "fractional entrypoint resources",
            J,
            vec![
                ("/spec/entrypointNumCpus", json!(0.5)),
                ("/spec/entrypointNumGpus", json!(0)),
            ],
        ),
        case(
            "entrypoint resources that are not JSON",
            J,
            vec![("/spec/entrypointResources", json!("{Custom_1: 1}"))],
            vec![(
                "spec.entrypointResources",
                &["not valid JSON", "{\"Custom_1\": 1}"],
            )],
            Crd::No,
        ),
        case(
            "entrypoint resources that are a list",
            J,
            vec![("/spec/entrypointResources", json!("[1]"))],
            vec![("spec.entrypointResources", &["JSON object", "a list"])],
            Crd::No,
        ),
        case(
            "entrypoint resources with a string amount",
            J,
            vec![("/spec/entrypointResources", json!("{\"Custom_1\": \"1\"}"))],
            vec![(
                "spec.entrypointResources",
                &["[\"Custom_1\"] must be a non-negative number"],
            )],
            Crd::No,
        ),
        ok(
            "entrypoint resources object",
            J,
            vec![(
                "/spec/entrypointResources",
                json!("{\"Custom_1\": 1, \"Custom_2\": 0.5}"),
            )],
        ),
        case(
            "negative submitter backoff limit",
            J,
            vec![("/spec/submitterConfig/backoffLimit", json!(-1))],
            vec![(
                "spec.submitterConfig.backoffLimit",
                &["must not be negative"],
            )],
            Crd::No,
        ),
        ok(
            "zero submitter backoff limit",
            J,
            vec![("/spec/submitterConfig/backoffLimit", json!(0))],
        ),
        case(
            "job's cluster spec uses the cluster rules",
            J,
            vec![(
                "/spec/rayClusterSpec/workerGroupSpecs/0/minReplicas",
                json!(9),
            )],
            vec![(
                "spec.rayClusterSpec.workerGroupSpecs[0].minReplicas",
                &["minReplicas (9) must not be greater than maxReplicas (5)"],
            )],
            Crd::Cel("spec.rayClusterSpec.workerGroupSpecs[0].minReplicas"),
        ),
        // --- RayService ---
        case(
            "serve config that is not YAML",
            S,
            vec![(
                "/spec/serveConfigV2",
                json!("applications:\n  - name: a\n   import_path: x"),
            )],
            vec![(
                "spec.serveConfigV2",
                &["Serve config is not valid YAML", "line 3"],
            )],
            Crd::No,
        ),
        case(
            "serve config that is a string",
            S,
            vec![("/spec/serveConfigV2", json!("just text"))],
            vec![(
                "spec.serveConfigV2",
                &["must be a YAML mapping", "a string"],
            )],
            Crd::No,
        ),
        ok(
            "service without serve config",
            S,
            vec![("/spec/serveConfigV2", Value::Null)],
        ),
        case(
            "service naming its head Service",
            S,
            vec![(
                "/spec/rayClusterConfig/headGroupSpec/headService",
                json!({ "metadata": { "name": "my-head" } }),
            )],
            vec![(
                "spec.rayClusterConfig.headGroupSpec.headService.metadata.name",
                &["names its head Services itself", "\"my-head\""],
            )],
            Crd::Cel("spec.rayClusterConfig.headGroupSpec.headService"),
        ),
        ok(
            "service with a head Service without a name",
            S,
            vec![(
                "/spec/rayClusterConfig/headGroupSpec/headService",
                json!({ "metadata": { "annotations": { "a": "b" } } }),
            )],
        ),
        case(
            "negative cluster deletion delay",
            S,
            vec![("/spec/rayClusterDeletionDelaySeconds", json!(-1))],
            vec![(
                "spec.rayClusterDeletionDelaySeconds",
                &["must not be negative", "got -1"],
            )],
            Crd::No,
        ),
        ok(
            "zero cluster deletion delay",
            S,
            vec![("/spec/rayClusterDeletionDelaySeconds", json!(0))],
        ),
        ok(
            "service excluding its head pod from the serve Service",
            S,
            vec![("/spec/excludeHeadPodFromServeSvc", json!(true))],
        ),
        case(
            "service's cluster spec uses the cluster rules",
            S,
            vec![(
                "/spec/rayClusterConfig/workerGroupSpecs/0/template/spec/containers",
                json!([]),
            )],
            vec![(
                "spec.rayClusterConfig.workerGroupSpecs[0].template.spec.containers",
                &["at least one container"],
            )],
            Crd::Cel("spec.rayClusterConfig.workerGroupSpecs[0].template"),
        ),
    ]
}

/// The API server's rules for what the operator turns into Pods and Services (issue #13): each case would
/// otherwise pass `kubectl apply` and fail only when the operator creates the Pod or Service.
fn pod_cases() -> Vec<Case> {
    const HEAD: &str = "/spec/headGroupSpec/template/spec/containers/0";
    let head =
        |field: &str| -> &'static str { Box::leak(format!("{HEAD}/{field}").into_boxed_str()) };
    let resources =
        |limits: Value, requests: Value| json!({ "limits": limits, "requests": requests });
    let big = Value::String("x".repeat(262_144));
    vec![
        // --- containers ---
        case(
            "container without an image",
            C,
            vec![(head("image"), Value::Null)],
            vec![(
                "spec.headGroupSpec.template.spec.containers[0].image",
                &["needs an image", "set image"],
            )],
            Crd::No,
        ),
        case(
            "container with an empty image",
            C,
            vec![(
                "/spec/workerGroupSpecs/0/template/spec/containers/0/image",
                json!(""),
            )],
            vec![(
                "spec.workerGroupSpecs[0].template.spec.containers[0].image",
                &["needs an image"],
            )],
            Crd::No,
        ),
        case(
            "image with surrounding whitespace",
            C,
            vec![(head("image"), json!(" rayproject/ray:2.9.0"))],
            vec![(
                "spec.headGroupSpec.template.spec.containers[0].image",
                &["whitespace"],
            )],
            Crd::No,
        ),
        case(
            "container name not a DNS-1123 label",
            C,
            vec![(head("name"), json!("Ray_Head"))],
            vec![(
                "spec.headGroupSpec.template.spec.containers[0].name",
                &["not a valid container name", "lowercase"],
            )],
            Crd::No,
        ),
        case(
            "init container named like a container",
            C,
            vec![(
                "/spec/workerGroupSpecs/0/template/spec/initContainers",
                json!([{ "name": "ray-worker", "image": "busybox" }]),
            )],
            vec![(
                "spec.workerGroupSpecs[0].template.spec.initContainers[0].name",
                &[
                    "spec.workerGroupSpecs[0].template.spec.containers[0] is also named \"ray-worker\"",
                    "unique",
                ],
            )],
            Crd::No,
        ),
        case(
            "init container without an image",
            C,
            vec![(
                "/spec/workerGroupSpecs/0/template/spec/initContainers",
                json!([{ "name": "init" }]),
            )],
            vec![(
                "spec.workerGroupSpecs[0].template.spec.initContainers[0].image",
                &["needs an image"],
            )],
            Crd::No,
        ),
        case(
            "container named like the autoscaler sidecar",
            C,
            vec![
                ("/spec/enableInTreeAutoscaling", json!(true)),
                (
                    "/spec/headGroupSpec/template/spec/containers/1",
                    json!({ "name": "autoscaler", "image": "busybox" }),
                ),
            ],
            vec![(
                "spec.headGroupSpec.template.spec.containers[1].name",
                &["operator adds a container named \"autoscaler\""],
            )],
            Crd::No,
        ),
        ok(
            "a container may be named autoscaler without autoscaling",
            C,
            vec![(
                "/spec/headGroupSpec/template/spec/containers/1",
                json!({ "name": "autoscaler", "image": "busybox" }),
            )],
        ),
        // --- ports ---
        case(
            "containerPort above 65535",
            C,
            vec![(head("ports"), json!([{ "containerPort": 70000 }]))],
            vec![(
                "spec.headGroupSpec.template.spec.containers[0].ports[0].containerPort",
                &["between 1 and 65535", "70000"],
            )],
            Crd::No,
        ),
        case(
            "containerPort 0",
            C,
            vec![(head("ports"), json!([{ "containerPort": 0 }]))],
            vec![(
                "spec.headGroupSpec.template.spec.containers[0].ports[0].containerPort",
                &["between 1 and 65535"],
            )],
            Crd::No,
        ),
        case(
            "negative hostPort",
            C,
            vec![(
                head("ports"),
                json!([{ "containerPort": 8265, "hostPort": -1 }]),
            )],
            vec![(
                "spec.headGroupSpec.template.spec.containers[0].ports[0].hostPort",
                &["hostPort must be between"],
            )],
            Crd::No,
        ),
        ok(
            "hostPort 0 means none",
            C,
            vec![(
                head("ports"),
                json!([{ "containerPort": 8265, "hostPort": 0 }]),
            )],
        ),
        case(
            "port name not an IANA service name",
            C,
            vec![(
                head("ports"),
                json!([{ "name": "Dashboard", "containerPort": 8265 }, { "name": "my--port", "containerPort": 1 }, { "name": "1234", "containerPort": 2 }, { "name": "a-very-long-port-name", "containerPort": 3 }]),
            )],
            vec![
                (
                    "spec.headGroupSpec.template.spec.containers[0].ports[0].name",
                    &["not a valid port name", "lowercase"],
                ),
                (
                    "spec.headGroupSpec.template.spec.containers[0].ports[1].name",
                    &["next to another '-'"],
                ),
                (
                    "spec.headGroupSpec.template.spec.containers[0].ports[2].name",
                    &["at least one letter"],
                ),
                (
                    "spec.headGroupSpec.template.spec.containers[0].ports[3].name",
                    &["at most 15"],
                ),
            ],
            Crd::No,
        ),
        case(
            "duplicate port names in a container, unknown protocol",
            C,
            vec![(
                head("ports"),
                json!([{ "name": "dashboard", "containerPort": 8265 }, { "name": "dashboard", "containerPort": 8266, "protocol": "HTTP" }]),
            )],
            vec![
                (
                    "spec.headGroupSpec.template.spec.containers[0].ports[1].name",
                    &["also named \"dashboard\"", "unique"],
                ),
                (
                    "spec.headGroupSpec.template.spec.containers[0].ports[1].protocol",
                    &["\"HTTP\" is not a protocol", "TCP, UDP or SCTP"],
                ),
            ],
            Crd::No,
        ),
        case(
            "one host port used by two containers",
            C,
            vec![
                (
                    head("ports"),
                    json!([{ "containerPort": 8265, "hostPort": 8265 }]),
                ),
                (
                    "/spec/headGroupSpec/template/spec/containers/1",
                    json!({ "name": "sidecar", "image": "busybox", "ports": [{ "containerPort": 80, "hostPort": 8265 }] }),
                ),
            ],
            vec![(
                "spec.headGroupSpec.template.spec.containers[1].ports[0].hostPort",
                &["already uses hostPort 8265/TCP"],
            )],
            Crd::No,
        ),
        // --- environment ---
        case(
            "env var name with '='",
            C,
            vec![(
                head("env"),
                json!([{ "name": "A=B", "value": "1" }, { "name": "", "value": "2" }]),
            )],
            vec![
                (
                    "spec.headGroupSpec.template.spec.containers[0].env[0].name",
                    &["not a valid environment variable name", "'='"],
                ),
                (
                    "spec.headGroupSpec.template.spec.containers[0].env[1].name",
                    &["must not be empty"],
                ),
            ],
            Crd::No,
        ),
        ok(
            "env var names: any printable ASCII but '=' (Kubernetes 1.34+)",
            C,
            vec![(
                head("env"),
                json!([{ "name": "my.env-name", "value": "1" }, { "name": "1ST", "value": "2" }]),
            )],
        ),
        case(
            "valueFrom with two sources, with none, and beside a value",
            C,
            vec![(
                head("env"),
                json!([
                    { "name": "A", "valueFrom": { "fieldRef": { "fieldPath": "status.podIP" }, "secretKeyRef": { "name": "s", "key": "k" } } },
                    { "name": "B", "valueFrom": {} },
                    { "name": "C", "value": "x", "valueFrom": { "configMapKeyRef": { "name": "cm", "key": "k" } } }
                ]),
            )],
            vec![
                (
                    "spec.headGroupSpec.template.spec.containers[0].env[0].valueFrom",
                    &["only one source"],
                ),
                (
                    "spec.headGroupSpec.template.spec.containers[0].env[1].valueFrom",
                    &["needs a source"],
                ),
                (
                    "spec.headGroupSpec.template.spec.containers[0].env[2].valueFrom",
                    &["value and valueFrom cannot both be set"],
                ),
            ],
            Crd::No,
        ),
        case(
            "secretKeyRef with a bad key and no name",
            C,
            vec![(
                head("env"),
                json!([{ "name": "A", "valueFrom": { "secretKeyRef": { "name": "", "key": "a/b" } } }]),
            )],
            vec![
                (
                    "spec.headGroupSpec.template.spec.containers[0].env[0].valueFrom.secretKeyRef.name",
                    &["not a valid Secret name"],
                ),
                (
                    "spec.headGroupSpec.template.spec.containers[0].env[0].valueFrom.secretKeyRef.key",
                    &["not a valid Secret key"],
                ),
            ],
            Crd::No,
        ),
        case(
            "envFrom with a bad prefix and without a source",
            C,
            vec![(
                head("envFrom"),
                json!([{ "prefix": "A=", "configMapRef": { "name": "cm" } }, { "prefix": "B_" }]),
            )],
            vec![
                (
                    "spec.headGroupSpec.template.spec.containers[0].envFrom[0].prefix",
                    &["cannot start environment variable names"],
                ),
                (
                    "spec.headGroupSpec.template.spec.containers[0].envFrom[1]",
                    &["needs a source"],
                ),
            ],
            Crd::No,
        ),
        // --- resources ---
        case(
            "malformed quantity",
            C,
            vec![(
                head("resources"),
                resources(json!({ "memory": "12Gb" }), json!({})),
            )],
            vec![(
                "spec.headGroupSpec.template.spec.containers[0].resources.limits[\"memory\"]",
                &["\"12Gb\" is not a Kubernetes quantity", "1.5Gi"],
            )],
            Crd::No,
        ),
        case(
            "negative CPU",
            C,
            vec![(
                head("resources"),
                resources(json!({ "cpu": "-1" }), json!({})),
            )],
            vec![(
                "spec.headGroupSpec.template.spec.containers[0].resources.limits[\"cpu\"]",
                &["must not be negative", "-1"],
            )],
            Crd::No,
        ),
        case(
            "fractional GPU",
            C,
            vec![(
                "/spec/workerGroupSpecs/0/template/spec/containers/0/resources",
                resources(
                    json!({ "nvidia.com/gpu": "0.5" }),
                    json!({ "nvidia.com/gpu": "0.5" }),
                ),
            )],
            vec![
                (
                    "spec.workerGroupSpecs[0].template.spec.containers[0].resources.limits[\"nvidia.com/gpu\"]",
                    &["whole number", "use 1"],
                ),
                (
                    "spec.workerGroupSpecs[0].template.spec.containers[0].resources.requests[\"nvidia.com/gpu\"]",
                    &["whole number"],
                ),
            ],
            Crd::No,
        ),
        case(
            "unqualified GPU resource",
            C,
            vec![(
                "/spec/workerGroupSpecs/0/template/spec/containers/0/resources",
                resources(json!({ "gpu": 1 }), json!({})),
            )],
            vec![(
                "spec.workerGroupSpecs[0].template.spec.containers[0].resources.limits[\"gpu\"]",
                &["not a container resource", "nvidia.com/gpu"],
            )],
            Crd::No,
        ),
        case(
            "request above limit",
            C,
            vec![(
                head("resources"),
                resources(json!({ "cpu": "1" }), json!({ "cpu": "1500m" })),
            )],
            vec![(
                "spec.headGroupSpec.template.spec.containers[0].resources.requests[\"cpu\"]",
                &["must not be greater than the limit (1)"],
            )],
            Crd::No,
        ),
        case(
            "extended resource request without or unlike its limit",
            C,
            vec![(
                head("resources"),
                resources(
                    json!({ "example.com/fpga": "2" }),
                    json!({ "nvidia.com/gpu": "1", "example.com/fpga": "1" }),
                ),
            )],
            vec![
                (
                    "spec.headGroupSpec.template.spec.containers[0].resources.requests[\"nvidia.com/gpu\"]",
                    &["cannot be overcommitted", "needs an equal limit"],
                ),
                (
                    "spec.headGroupSpec.template.spec.containers[0].resources.requests[\"example.com/fpga\"]",
                    &["must equal its limit (2)"],
                ),
            ],
            Crd::No,
        ),
        ok(
            "usual resources",
            C,
            vec![(
                "/spec/workerGroupSpecs/0/template/spec/containers/0/resources",
                resources(
                    json!({ "cpu": "2", "memory": "4Gi", "nvidia.com/gpu": 1, "ephemeral-storage": "10G" }),
                    json!({ "cpu": "500m", "memory": "2Gi", "nvidia.com/gpu": "1" }),
                ),
            )],
        ),
        // --- volumes ---
        case(
            "volume mount of an undeclared volume, duplicate volumes",
            C,
            vec![
                (
                    "/spec/headGroupSpec/template/spec/volumes",
                    json!([
                        { "name": "data", "emptyDir": {} },
                        { "name": "data", "emptyDir": {} },
                        { "name": "Bad_Name", "emptyDir": {} },
                        { "name": "nothing" },
                        { "name": "two", "emptyDir": {}, "configMap": { "name": "cm" } }
                    ]),
                ),
                (
                    head("volumeMounts"),
                    json!([
                        { "name": "data", "mountPath": "/data" },
                        { "name": "missing", "mountPath": "/missing" },
                        { "name": "data", "mountPath": "/data" },
                        { "name": "shared-mem", "mountPath": "/dev/shm" }
                    ]),
                ),
            ],
            vec![
                (
                    "spec.headGroupSpec.template.spec.volumes[1].name",
                    &["also named \"data\""],
                ),
                (
                    "spec.headGroupSpec.template.spec.volumes[2].name",
                    &["not a valid volume name"],
                ),
                (
                    "spec.headGroupSpec.template.spec.volumes[3]",
                    &["needs a source"],
                ),
                (
                    "spec.headGroupSpec.template.spec.volumes[4]",
                    &["only one source", "has 2"],
                ),
                (
                    "spec.headGroupSpec.template.spec.containers[0].volumeMounts[1].name",
                    &["no volume of this pod is named \"missing\""],
                ),
                (
                    "spec.headGroupSpec.template.spec.containers[0].volumeMounts[2].mountPath",
                    &["mount paths must be unique"],
                ),
            ],
            Crd::No,
        ),
        // --- labels and annotations ---
        case(
            "pod template labels and annotation keys",
            C,
            vec![(
                "/spec/workerGroupSpecs/0/template/metadata",
                json!({ "labels": { "-bad": "ok", "app": "not valid!" }, "annotations": { "a/b/c": "x" } }),
            )],
            vec![
                (
                    "spec.workerGroupSpecs[0].template.metadata.labels",
                    &["label key \"-bad\""],
                ),
                (
                    "spec.workerGroupSpecs[0].template.metadata.labels",
                    &["value of label \"app\""],
                ),
                (
                    "spec.workerGroupSpecs[0].template.metadata.annotations",
                    &["annotation key \"a/b/c\"", "at most one '/'"],
                ),
            ],
            Crd::No,
        ),
        case(
            "pod template annotations over 256 KiB",
            C,
            vec![(
                "/spec/headGroupSpec/template/metadata",
                json!({ "annotations": { "a": big.clone() } }),
            )],
            vec![(
                "spec.headGroupSpec.template.metadata.annotations",
                &["262145 bytes", "at most 262144"],
            )],
            Crd::No,
        ),
        ok(
            "pod template annotations of exactly 256 KiB",
            C,
            vec![(
                "/spec/headGroupSpec/template/metadata",
                json!({ "annotations": { "a": "x".repeat(262_143) } }),
            )],
        ),
        case(
            "object annotations over 256 KiB and a bad label",
            S,
            vec![
                ("/metadata/annotations", json!({ "example.com/big": big })),
                ("/metadata/labels", json!({ "bad key": "v" })),
            ],
            vec![
                ("metadata.labels", &["label key \"bad key\""]),
                ("metadata.annotations", &["at most 262144"]),
            ],
            Crd::No,
        ),
        // --- Services ---
        case(
            "duplicate port names in a custom head Service",
            C,
            vec![(
                "/spec/headGroupSpec/headService",
                json!({ "spec": { "ports": [{ "name": "http", "port": 80 }, { "name": "http", "port": 81 }] } }),
            )],
            vec![(
                "spec.headGroupSpec.headService.spec.ports[1].name",
                &["also named \"http\"", "unique"],
            )],
            Crd::No,
        ),
        case(
            "Service port names are DNS-1123 labels (up to 63 characters), not 15-character container port names",
            C,
            vec![(
                "/spec/headGroupSpec/headService",
                json!({ "spec": { "ports": [
                    { "name": "custom-ray-head-service-port", "port": 80 },
                    { "name": "Not_A_Label", "port": 81 },
                    { "name": "a".repeat(64), "port": 82 }
                ] } }),
            )],
            vec![
                (
                    "spec.headGroupSpec.headService.spec.ports[1].name",
                    &["not a valid port name"],
                ),
                (
                    "spec.headGroupSpec.headService.spec.ports[2].name",
                    &["at most 63"],
                ),
            ],
            Crd::No,
        ),
        case(
            "custom head Service ports: unnamed, out of range, duplicate number, bad targetPort, nodePort on ClusterIP",
            C,
            vec![(
                "/spec/headGroupSpec/headService",
                json!({ "spec": { "ports": [
                    { "port": 80 },
                    { "name": "big", "port": 70000 },
                    { "name": "again", "port": 80, "targetPort": "Not_A_Name" },
                    { "name": "node", "port": 90, "nodePort": 30090, "protocol": "ICMP" }
                ] } }),
            )],
            vec![
                (
                    "spec.headGroupSpec.headService.spec.ports[0].name",
                    &["needs a name for each"],
                ),
                (
                    "spec.headGroupSpec.headService.spec.ports[1].port",
                    &["between 1 and 65535"],
                ),
                (
                    "spec.headGroupSpec.headService.spec.ports[2].port",
                    &["ports[0] already exposes 80/TCP"],
                ),
                (
                    "spec.headGroupSpec.headService.spec.ports[2].targetPort",
                    &["neither a port number nor"],
                ),
                (
                    "spec.headGroupSpec.headService.spec.ports[3].protocol",
                    &["\"ICMP\" is not a protocol"],
                ),
                (
                    "spec.headGroupSpec.headService.spec.ports[3].nodePort",
                    &["only applies to Services of type NodePort"],
                ),
            ],
            Crd::No,
        ),
        ok(
            "nodePort on a head Service whose group asks for NodePort",
            C,
            vec![
                ("/spec/headGroupSpec/serviceType", json!("NodePort")),
                (
                    "/spec/headGroupSpec/headService",
                    json!({ "spec": { "ports": [{ "name": "dashboard", "port": 8265, "nodePort": 30265 }] } }),
                ),
            ],
        ),
        case(
            "duplicate port names in serveService",
            S,
            vec![(
                "/spec/serveService",
                json!({ "metadata": { "name": "Serve_Svc" }, "spec": { "ports": [{ "name": "serve", "port": 8000 }, { "name": "serve", "port": 8001 }] } }),
            )],
            vec![
                (
                    "spec.serveService.metadata.name",
                    &["not a valid Service name"],
                ),
                (
                    "spec.serveService.spec.ports[1].name",
                    &["also named \"serve\""],
                ),
            ],
            Crd::No,
        ),
        // --- rayStartParams ---
        case(
            "numeric rayStartParams",
            C,
            vec![
                ("/spec/headGroupSpec/rayStartParams/num-cpus", json!("-1")),
                ("/spec/headGroupSpec/rayStartParams/memory", json!("1.5")),
                ("/spec/headGroupSpec/rayStartParams/port", json!("70000")),
                (
                    "/spec/workerGroupSpecs/0/rayStartParams/num-gpus",
                    json!("two"),
                ),
                (
                    "/spec/workerGroupSpecs/0/rayStartParams/min-worker-port",
                    json!("0"),
                ),
                // `ray start --num-gpus` is an INTEGER option: 0.5 fails in every pod.
                ("/spec/headGroupSpec/rayStartParams/num-gpus", json!("0.5")),
            ],
            vec![
                (
                    "spec.headGroupSpec.rayStartParams[\"memory\"]",
                    &["whole, non-negative number of bytes", "\"1.5\""],
                ),
                (
                    "spec.headGroupSpec.rayStartParams[\"num-cpus\"]",
                    &["non-negative number", "\"-1\""],
                ),
                (
                    "spec.headGroupSpec.rayStartParams[\"port\"]",
                    &["between 1 and 65535"],
                ),
                (
                    "spec.headGroupSpec.rayStartParams[\"num-gpus\"]",
                    &["whole, non-negative number", "\"0.5\""],
                ),
                (
                    "spec.workerGroupSpecs[0].rayStartParams[\"num-gpus\"]",
                    &["non-negative number"],
                ),
            ],
            Crd::No,
        ),
        ok(
            "rayStartParams from environment variables",
            C,
            vec![
                (
                    "/spec/headGroupSpec/rayStartParams/num-cpus",
                    json!("$(NUM_CPUS)"),
                ),
                (
                    "/spec/headGroupSpec/rayStartParams/memory",
                    json!("${MEMORY}"),
                ),
                ("/spec/headGroupSpec/rayStartParams/num-gpus", json!("2")),
            ],
        ),
        // --- autoscaler container ---
        case(
            "autoscaler options: empty image, bad quantity, env name, unknown volume",
            C,
            vec![(
                "/spec/autoscalerOptions",
                json!({
                    "image": "",
                    "resources": { "limits": { "cpu": "lots" } },
                    "env": [{ "name": "" , "value": "1" }],
                    "volumeMounts": [{ "name": "nope", "mountPath": "/x" }, { "name": "ray-logs", "mountPath": "/tmp/ray" }]
                }),
            )],
            vec![
                ("spec.autoscalerOptions.image", &["needs an image"]),
                (
                    "spec.autoscalerOptions.resources.limits[\"cpu\"]",
                    &["not a Kubernetes quantity"],
                ),
                ("spec.autoscalerOptions.env[0].name", &["must not be empty"]),
                (
                    "spec.autoscalerOptions.volumeMounts[0].name",
                    &["no volume of this pod is named \"nope\""],
                ),
            ],
            Crd::No,
        ),
        // --- RayJob and RayService templates ---
        case(
            "submitter pod template: no image, restartPolicy Always",
            J,
            vec![(
                "/spec/submitterPodTemplate",
                json!({ "spec": { "restartPolicy": "Always", "containers": [{ "name": "submitter" }] } }),
            )],
            vec![
                (
                    "spec.submitterPodTemplate.spec.containers[0].image",
                    &["needs an image"],
                ),
                (
                    "spec.submitterPodTemplate.spec.restartPolicy",
                    &["Never or OnFailure"],
                ),
            ],
            Crd::No,
        ),
        case(
            "submitter pod template without containers",
            J,
            vec![(
                "/spec/submitterPodTemplate",
                json!({ "spec": { "containers": [] } }),
            )],
            vec![(
                "spec.submitterPodTemplate.spec.containers",
                &["needs a container"],
            )],
            Crd::No,
        ),
        case(
            "RayJob cluster spec: port out of range",
            J,
            vec![(
                "/spec/rayClusterSpec/headGroupSpec/template/spec/containers/0/ports",
                json!([{ "containerPort": 65536 }]),
            )],
            vec![(
                "spec.rayClusterSpec.headGroupSpec.template.spec.containers[0].ports[0].containerPort",
                &["between 1 and 65535"],
            )],
            Crd::No,
        ),
        case(
            "RayService cluster config: fractional GPU",
            S,
            vec![(
                "/spec/rayClusterConfig/workerGroupSpecs/0/template/spec/containers/0/resources",
                json!({ "limits": { "nvidia.com/gpu": "500m" } }),
            )],
            vec![(
                "spec.rayClusterConfig.workerGroupSpecs[0].template.spec.containers[0].resources.limits[\"nvidia.com/gpu\"]",
                &["whole number"],
            )],
            Crd::No,
        ),
    ]
}

#[test]
fn the_base_objects_are_valid() {
    for kind in [C, J, S] {
        let doc = base(kind);
        assert_eq!(validate(&doc), Ok(()), "{kind:?}");
        assert_eq!(cel_failures(kind, &doc), Vec::<String>::new(), "{kind:?}");
    }
}

#[test]
fn every_rule_fails_and_passes() {
    let mut failures = Vec::new();
    for case in cases() {
        let mut doc = base(case.kind);
        for (pointer, value) in &case.edits {
            set(&mut doc, pointer, value.clone());
        }
        let found: Vec<(String, String)> = match validate(&doc) {
            Ok(()) => Vec::new(),
            Err(errors) => {
                assert!(!errors.is_empty(), "{}: Err without errors", case.name);
                errors.into_iter().map(|e| (e.path, e.message)).collect()
            }
        };
        let matches = found.len() == case.expect.len()
            && case.expect.iter().all(|(path, words)| {
                found
                    .iter()
                    .any(|(p, m)| p == path && words.iter().all(|w| m.contains(w)))
            });
        if !matches {
            failures.push(format!(
                "{}:\n  expected {:?}\n  found    {:?}",
                case.name, case.expect, found
            ));
        }

        let cel = cel_failures(case.kind, &doc);
        match case.crd {
            Crd::No if !case.expect.is_empty() => {}
            Crd::No => {
                if !cel.is_empty() {
                    failures.push(format!(
                        "{}: valid object rejected by CEL at {cel:?}",
                        case.name
                    ));
                }
            }
            Crd::Cel(path) => {
                if !cel.iter().any(|p| p == path) {
                    failures.push(format!(
                        "{}: CEL should reject at {path:?}, found {cel:?}",
                        case.name
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn all_problems_are_reported_at_once() {
    let mut doc = base(J);
    set(&mut doc, "/metadata/name", json!("Bad_Name"));
    set(&mut doc, "/spec/activeDeadlineSeconds", json!(-5));
    set(
        &mut doc,
        "/spec/rayClusterSpec/workerGroupSpecs/0/replicas",
        json!(-1),
    );
    set(
        &mut doc,
        "/spec/rayClusterSpec/headGroupSpec/template/spec/containers",
        json!([]),
    );
    let errors = validate(&doc).expect_err("invalid");
    let paths: Vec<&str> = errors.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "metadata.name",
            "spec.activeDeadlineSeconds",
            "spec.rayClusterSpec.headGroupSpec.template.spec.containers",
            "spec.rayClusterSpec.workerGroupSpecs[0].replicas",
        ]
    );
    // Display: one "path: message" line per problem.
    let text = errors.to_string();
    assert_eq!(text.lines().count(), 4, "{text}");
    assert!(text.lines().all(|line| line.contains(": ")), "{text}");
    assert!(
        text.starts_with("metadata.name: \"Bad_Name\" is not a valid RayJob name"),
        "{text}"
    );
}

#[test]
fn typed_entry_points_agree_with_ray_object() {
    let cluster: RayCluster = from_json_value(base(C)).expect("cluster");
    assert_eq!(ray_api_v1::validate_cluster(&cluster), Ok(()));
    let job: RayJob = from_json_value(base(J)).expect("job");
    assert_eq!(ray_api_v1::validate_job(&job), Ok(()));
    let service: RayService = from_json_value(base(S)).expect("service");
    assert_eq!(ray_api_v1::validate_service(&service), Ok(()));

    // A spec on its own, with the caller's path prefix.
    let mut spec = cluster.spec.clone();
    spec.worker_group_specs[0].min_replicas = Some(10);
    let errors = ray_api_v1::validation::validate_cluster_spec(
        &spec,
        "spec.jobTemplate.rayClusterSpec",
        ray_api_v1::validation::ClusterOwner::RayJob,
    )
    .expect_err("min > max");
    assert_eq!(
        errors.iter().map(|e| e.path.as_str()).collect::<Vec<_>>(),
        ["spec.jobTemplate.rayClusterSpec.workerGroupSpecs[0].minReplicas"]
    );
}

/// The OpenAPI bounds the API server enforces without CEL.
#[test]
fn crd_bounds() {
    fn schema_of(
        crd: k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
    ) -> Value {
        serde_json::to_value(
            crd.spec.versions[0]
                .schema
                .as_ref()
                .and_then(|s| s.open_api_v3_schema.as_ref()),
        )
        .expect("schema")
    }
    fn at<'a>(schema: &'a Value, path: &str) -> &'a Value {
        path.split('.').fold(schema, |node, part| match part {
            "[]" => &node["items"],
            name => &node["properties"][name],
        })
    }
    let cluster = schema_of(RayCluster::crd());
    let group = "spec.workerGroupSpecs.[]";
    for (field, minimum) in [
        ("replicas", 0),
        ("minReplicas", 0),
        ("maxReplicas", 0),
        ("numOfHosts", 1),
    ] {
        assert_eq!(
            at(&cluster, &format!("{group}.{field}"))["minimum"].as_f64(),
            Some(f64::from(minimum)),
            "{field}"
        );
    }
    assert_eq!(
        at(&cluster, &format!("{group}.numOfHosts"))["maximum"].as_f64(),
        Some(f64::from(ray_api_v1::validation::MAX_NUM_OF_HOSTS))
    );
    let name = at(&cluster, &format!("{group}.groupName"));
    assert_eq!(
        (name["minLength"].clone(), name["maxLength"].clone()),
        (json!(1), json!(63))
    );
    assert_eq!(
        name["pattern"],
        json!("^[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?$")
    );
    let groups = at(&cluster, "spec.workerGroupSpecs");
    assert_eq!(groups["x-kubernetes-list-type"], json!("map"));
    assert_eq!(groups["x-kubernetes-list-map-keys"], json!(["groupName"]));
    assert_eq!(
        at(&cluster, "spec.autoscalerOptions.idleTimeoutSeconds")["minimum"].as_f64(),
        Some(f64::from(0))
    );
    assert_eq!(
        at(&cluster, "spec.autoscalerOptions.imagePullPolicy")["enum"],
        json!(["Always", "IfNotPresent", "Never"])
    );

    let job = schema_of(RayJob::crd());
    for (field, minimum) in [
        ("ttlSecondsAfterFinished", 0.0),
        ("activeDeadlineSeconds", 1.0),
        ("entrypointNumCpus", 0.0),
        ("entrypointNumGpus", 0.0),
        ("submitterConfig.backoffLimit", 0.0),
        ("backoffLimit", 0.0),
        ("preRunningDeadlineSeconds", 1.0),
    ] {
        assert_eq!(
            at(&job, &format!("spec.{field}"))["minimum"].as_f64(),
            Some(minimum),
            "{field}"
        );
    }
    assert_eq!(
        at(&job, "spec.submissionMode")["enum"],
        json!(["K8sJobMode", "HTTPMode", "InteractiveMode", "SidecarMode"])
    );
    // The RayJob's cluster spec carries the cluster rules too.
    assert_eq!(
        at(&job, "spec.rayClusterSpec.workerGroupSpecs")["x-kubernetes-list-type"],
        json!("map")
    );

    let service = schema_of(RayService::crd());
    assert_eq!(
        at(&service, "spec.rayClusterDeletionDelaySeconds")["minimum"].as_f64(),
        Some(0.0)
    );
}
