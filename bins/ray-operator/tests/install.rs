//! The install manifests against the real local control plane.
//!
//! - `config/` renders with the real `kubectl kustomize` and every object is accepted by the API server
//!   (server-side dry-run: schemas, defaulting, RBAC escalation checks), and the Deployment's pod meets the
//!   "restricted" Pod Security Standard its namespace enforces.
//! - The Helm charts (`charts/`), rendered with the real `helm template`, grant the same rules and run the same
//!   container as the kustomize output, and ship exactly the CRDs of `config/crd/`.
//! - The operator's ServiceAccount, authenticated with a real token, may do every verb the controllers use and
//!   nothing on resources they never touch; and `ray-operator run` with that token takes a RayCluster (autoscaler
//!   RBAC, Ingress, Services, pods), a RayJob (cluster, submitter Job, suspend, finalizer) and a RayService (its
//!   pending cluster) through their lifecycle without a single "forbidden" answer, in both the cluster-wide and
//!   the namespaced variant.
//!
//! kubectl and helm come from `cargo xtask testenv install`, like the control plane.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Service, ServiceAccount};
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::api::networking::v1::Ingress;
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::api::{DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::GroupVersionKind;
use kube::discovery::{Scope, pinned_kind};
use kube::{Api, Client};
use ray_api_v1::RayCluster;
use ray_api_v1::rayjob::{JobDeploymentStatus, RayJob};
use ray_api_v1::rayservice::RayService;
use serde_json::{Value, json};

/// The operator's namespace and ServiceAccount in the manifests.
const OPERATOR_NAMESPACE: &str = "ray-system";
const SERVICE_ACCOUNT: &str = "ray-operator";
/// The namespace config/namespaced watches.
const WATCHED_NAMESPACE: &str = "ray-workloads";
/// The Lease the operator elects its leader with (its --leader-election-id default).
const LEASE: &str = "ray-operator-rs-leader";
const FIELD_MANAGER: &str = "ray-operator-install-test";
const TIMEOUT: Duration = Duration::from_secs(90);

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn tool(binary: ray_testenv::Binary) -> PathBuf {
    binary.check().unwrap_or_else(|e| panic!("{e}"));
    binary.path
}

fn layout() -> ray_testenv::Layout {
    ray_testenv::Layout::from_env().unwrap_or_else(|e| panic!("{e}"))
}

fn run_tool(program: &Path, args: &[&str]) -> Vec<Value> {
    let out = std::process::Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", program.display()));
    assert!(
        out.status.success(),
        "{} {} failed: {}",
        program.display(),
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let docs: Vec<Value> = serde_saphyr::from_multiple(&text)
        .unwrap_or_else(|e| panic!("the output of {} is not YAML: {e}", args.join(" ")));
    docs.into_iter().filter(|d| !d.is_null()).collect()
}

/// `kubectl kustomize config/<dir>`.
fn kustomize(dir: &str) -> Vec<Value> {
    let path = repo().join("config").join(dir);
    run_tool(
        &tool(layout().kubectl()),
        &["kustomize", &path.to_string_lossy()],
    )
}

/// `helm template ray-operator charts/<chart> --namespace <namespace> <args>`.
fn helm_template(chart: &str, namespace: &str, args: &[&str]) -> Vec<Value> {
    let path = repo().join("charts").join(chart);
    let mut all = vec![
        "template",
        "ray-operator",
        path.to_str().unwrap_or_default(),
        "--namespace",
        namespace,
    ];
    all.extend_from_slice(args);
    run_tool(&tool(layout().helm()), &all)
}

fn kind(doc: &Value) -> &str {
    doc["kind"].as_str().unwrap_or_default()
}

fn name(doc: &Value) -> &str {
    doc["metadata"]["name"].as_str().unwrap_or_default()
}

/// The one object of `kind` named `name`.
fn find<'a>(docs: &'a [Value], kind_: &str, name_: &str) -> &'a Value {
    let found: Vec<&Value> = docs
        .iter()
        .filter(|d| kind(d) == kind_ && name(d) == name_)
        .collect();
    assert_eq!(found.len(), 1, "expected one {kind_} {name_}");
    found[0]
}

fn ids(docs: &[Value]) -> BTreeSet<String> {
    docs.iter()
        .map(|d| {
            format!(
                "{} {}/{}",
                kind(d),
                d["metadata"]["namespace"].as_str().unwrap_or(""),
                name(d)
            )
        })
        .collect()
}

/// Server-side applies `doc` (dry-run unless `real`), resolving its kind through discovery.
async fn apply(client: &Client, doc: &Value, real: bool) -> Result<(), String> {
    let api_version = doc["apiVersion"].as_str().unwrap_or_default();
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    let gvk = GroupVersionKind::gvk(group, version, kind(doc));
    let (resource, caps) = pinned_kind(client, &gvk)
        .await
        .map_err(|e| format!("{api_version} {}: {e}", kind(doc)))?;
    let api: Api<DynamicObject> = match caps.scope {
        Scope::Cluster => Api::all_with(client.clone(), &resource),
        Scope::Namespaced => {
            let ns = doc["metadata"]["namespace"]
                .as_str()
                .ok_or_else(|| format!("{} {} has no namespace", kind(doc), name(doc)))?;
            Api::namespaced_with(client.clone(), ns, &resource)
        }
    };
    let mut params = PatchParams::apply(FIELD_MANAGER).force();
    if !real {
        params = params.dry_run();
    }
    api.patch(name(doc), &params, &Patch::Apply(doc))
        .await
        .map(|_| ())
        .map_err(|e| format!("{} {}: {e}", kind(doc), name(doc)))
}

/// Creates the Namespaces for real (so namespaced objects can be checked) and dry-runs everything else. Objects
/// of cert-manager (not installed on the local control plane) are returned instead of applied.
async fn dry_run_all(client: &Client, docs: &[Value]) -> Vec<String> {
    let mut skipped = Vec::new();
    let mut errors = Vec::new();
    for doc in docs.iter().filter(|d| kind(d) == "Namespace") {
        apply(client, doc, true)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }
    for doc in docs.iter().filter(|d| kind(d) != "Namespace") {
        if doc["apiVersion"]
            .as_str()
            .is_some_and(|v| v.starts_with("cert-manager.io/"))
        {
            skipped.push(format!("{} {}", kind(doc), name(doc)));
            continue;
        }
        if let Err(e) = apply(client, doc, false).await {
            errors.push(e);
        }
    }
    assert!(
        errors.is_empty(),
        "the API server rejected:\n{}",
        errors.join("\n")
    );
    skipped
}

async fn shared_client() -> Client {
    let plane = ray_testenv::ControlPlane::shared()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    plane.client().await.unwrap_or_else(|e| panic!("{e}"))
}

async fn ensure_namespace(client: &Client, name_: &str) {
    let doc = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name_}});
    apply(client, &doc, true)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
}

/// The Deployment's pod, as the ReplicaSet would create it, is admitted in a namespace that enforces the
/// "restricted" Pod Security Standard; the same pod without its securityContext is not (so the check can fail).
async fn pod_is_restricted(client: &Client, deployment: &Value) {
    let ns = deployment["metadata"]["namespace"]
        .as_str()
        .unwrap_or_default();
    let mut spec = deployment["spec"]["template"]["spec"].clone();
    // The ServiceAccount admission would look the account up; Pod Security does not care about it.
    if let Some(spec) = spec.as_object_mut() {
        spec.remove("serviceAccountName");
    }
    let pod = |spec: Value| {
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "pod-security-check", "namespace": ns},
               "spec": spec})
    };
    apply(client, &pod(spec.clone()), false)
        .await
        .unwrap_or_else(|e| panic!("the operator pod is not admitted under `restricted`: {e}"));
    let mut loose = spec;
    loose["containers"][0]
        .as_object_mut()
        .map(|c| c.remove("securityContext"));
    let rejected = apply(client, &pod(loose), false)
        .await
        .expect_err("a pod without the container securityContext must be rejected");
    assert!(rejected.contains("violates PodSecurity"), "{rejected}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kustomize_variants_are_accepted_by_the_api_server() {
    let client = shared_client().await;
    ray_testenv::install_crds(&client, &ray_testenv::project_crd_dir())
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    let default = kustomize("default");
    let expected: BTreeSet<String> = [
        "Namespace /ray-system",
        "ServiceAccount ray-system/ray-operator",
        "ClusterRole /ray-operator",
        "ClusterRoleBinding /ray-operator",
        "Role ray-system/ray-operator-leader-election",
        "RoleBinding ray-system/ray-operator-leader-election",
        "Deployment ray-system/ray-operator",
        "Service ray-system/ray-operator-metrics",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(ids(&default), expected);
    assert!(dry_run_all(&client, &default).await.is_empty());
    let deployment = find(&default, "Deployment", "ray-operator");
    let args = &deployment["spec"]["template"]["spec"]["containers"][0]["args"];
    assert_eq!(
        args,
        &json!([
            "run",
            "--leader-elect",
            "--metrics-addr=0.0.0.0:8080",
            "--health-addr=0.0.0.0:8082",
            "--log-format=json"
        ])
    );
    pod_is_restricted(&client, deployment).await;

    // The documented commands themselves, through the real kubectl (the namespace exists now, so a dry run of the
    // namespaced objects can be checked).
    let plane = ray_testenv::ControlPlane::shared()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let kubeconfig = plane.kubeconfig().to_string_lossy().into_owned();
    for source in [
        ["-f", "config/crd/"],
        ["-k", "config/default"],
        ["-k", "config/webhook"],
    ] {
        let path = repo().join(source[1]);
        let out = std::process::Command::new(tool(layout().kubectl()))
            .args([
                "--kubeconfig",
                &kubeconfig,
                "apply",
                "--server-side",
                "--dry-run=server",
                source[0],
            ])
            .arg(&path)
            .output()
            .unwrap_or_else(|e| panic!("running kubectl apply: {e}"));
        let stderr = String::from_utf8_lossy(&out.stderr);
        // cert-manager is not installed here: only its two objects may be refused, for that reason.
        let refused: Vec<&str> = stderr
            .lines()
            .filter(|l| !l.contains("cert-manager.io/v1"))
            .filter(|l| !l.trim().is_empty() && !l.starts_with("ensure CRDs are installed first"))
            .collect();
        assert!(
            refused.is_empty(),
            "kubectl apply --server-side {} {}: {stderr}",
            source[0],
            source[1]
        );
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("serverside-applied"),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
    }

    // Namespaced: nothing cluster-scoped; the operator's rules as a Role in the watched namespace.
    ensure_namespace(&client, WATCHED_NAMESPACE).await;
    let namespaced = kustomize("namespaced");
    let cluster_scoped: Vec<&Value> = namespaced
        .iter()
        .filter(|d| kind(d).starts_with("Cluster"))
        .collect();
    assert!(cluster_scoped.is_empty(), "{cluster_scoped:?}");
    let role = find(&namespaced, "Role", "ray-operator");
    assert_eq!(role["metadata"]["namespace"], WATCHED_NAMESPACE);
    assert_eq!(
        role["rules"],
        find(&default, "ClusterRole", "ray-operator")["rules"]
    );
    let binding = find(&namespaced, "RoleBinding", "ray-operator");
    assert_eq!(binding["metadata"]["namespace"], WATCHED_NAMESPACE);
    assert_eq!(binding["subjects"][0]["namespace"], OPERATOR_NAMESPACE);
    let args =
        find(&namespaced, "Deployment", "ray-operator")["spec"]["template"]["spec"]["containers"]
            [0]["args"]
            .clone();
    assert!(
        args.as_array()
            .is_some_and(|a| a.contains(&json!("--watch-namespace=ray-workloads"))),
        "{args}"
    );
    assert!(dry_run_all(&client, &namespaced).await.is_empty());

    // With the admission webhook: everything but cert-manager's objects goes through the API server.
    let webhook = kustomize("webhook");
    let skipped = dry_run_all(&client, &webhook).await;
    assert_eq!(
        skipped,
        [
            "Certificate ray-operator-webhook",
            "Issuer ray-operator-selfsigned"
        ]
    );
    let config = find(&webhook, "ValidatingWebhookConfiguration", "ray-operator");
    assert_eq!(
        config["webhooks"][0]["clientConfig"]["service"],
        json!({"name": "ray-operator-webhook", "namespace": "ray-system", "path": "/validate", "port": 443})
    );
    let deployment = find(&webhook, "Deployment", "ray-operator");
    pod_is_restricted(&client, deployment).await;
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    assert!(
        container["args"]
            .as_array()
            .is_some_and(|a| a.contains(&json!("--webhook-addr=0.0.0.0:9443"))),
        "{container}"
    );
}

/// Where two JSON values differ, if they do; numbers compare by value (Helm writes `0.0` as `0`).
fn difference(a: &Value, b: &Value, path: &str) -> Option<String> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            (x.as_f64() != y.as_f64()).then(|| format!("{path}: {x} != {y}"))
        }
        (Value::Object(x), Value::Object(y)) => {
            let keys: BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            keys.into_iter().find_map(|k| {
                difference(
                    x.get(k).unwrap_or(&Value::Null),
                    y.get(k).unwrap_or(&Value::Null),
                    &format!("{path}.{k}"),
                )
            })
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .enumerate()
            .find_map(|(i, (x, y))| difference(x, y, &format!("{path}[{i}]"))),
        _ => (a != b).then(|| format!("{path}: {a} != {b}")),
    }
}

/// What the comparison between the chart and kustomize looks at in a Deployment: everything that decides how
/// the operator runs (labels differ: Helm adds its own).
fn pod_essentials(deployment: &Value) -> Value {
    let spec = &deployment["spec"]["template"]["spec"];
    json!({
        "replicas": deployment["spec"]["replicas"],
        "container": spec["containers"],
        "securityContext": spec["securityContext"],
        "serviceAccountName": spec["serviceAccountName"],
        "volumes": spec["volumes"],
        "terminationGracePeriodSeconds": spec["terminationGracePeriodSeconds"],
    })
}

/// Kind, namespace and name of every object, without the Namespace (Helm installs into an existing one).
fn ids_without_namespace(docs: &[Value]) -> BTreeSet<String> {
    let objects: Vec<Value> = docs
        .iter()
        .filter(|d| kind(d) != "Namespace")
        .cloned()
        .collect();
    ids(&objects)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_helm_chart_renders_what_kustomize_renders() {
    let client = shared_client().await;
    ray_testenv::install_crds(&client, &ray_testenv::project_crd_dir())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    ensure_namespace(&client, OPERATOR_NAMESPACE).await;
    ensure_namespace(&client, WATCHED_NAMESPACE).await;
    for chart in ["ray-operator", "ray-operator-crds"] {
        let out = std::process::Command::new(tool(layout().helm()))
            .args(["lint", "--strict"])
            .arg(repo().join("charts").join(chart))
            .output()
            .unwrap_or_else(|e| panic!("running helm lint: {e}"));
        assert!(
            out.status.success(),
            "helm lint --strict charts/{chart}: {}",
            String::from_utf8_lossy(&out.stdout)
        );
    }

    for (variant, values) in [
        ("default", vec![]),
        (
            "namespaced",
            vec!["--set", "watchNamespaces={ray-workloads}"],
        ),
        ("webhook", vec!["--set", "webhook.enabled=true"]),
    ] {
        let kustomized = kustomize(variant);
        let chart = helm_template("ray-operator", OPERATOR_NAMESPACE, &values);
        assert_eq!(
            ids_without_namespace(&chart),
            ids_without_namespace(&kustomized),
            "{variant}: the same objects"
        );
        for doc in kustomized.iter().filter(|d| kind(d) != "Namespace") {
            let same = find(&chart, kind(doc), name(doc));
            match kind(doc) {
                "ClusterRole" | "Role" => assert_eq!(
                    same["rules"],
                    doc["rules"],
                    "{variant}: {} {}",
                    kind(doc),
                    name(doc)
                ),
                "ClusterRoleBinding" | "RoleBinding" => {
                    assert_eq!(same["roleRef"], doc["roleRef"], "{variant}: {}", name(doc));
                    assert_eq!(
                        same["subjects"],
                        doc["subjects"],
                        "{variant}: {}",
                        name(doc)
                    );
                }
                "Deployment" => assert_eq!(
                    pod_essentials(same),
                    pod_essentials(doc),
                    "{variant}: the operator pod"
                ),
                "Service" => assert_eq!(
                    same["spec"]["ports"],
                    doc["spec"]["ports"],
                    "{variant}: {}",
                    name(doc)
                ),
                "ValidatingWebhookConfiguration" => {
                    assert_eq!(same["webhooks"], doc["webhooks"], "{variant}");
                    assert_eq!(
                        same["metadata"]["annotations"], doc["metadata"]["annotations"],
                        "{variant}"
                    );
                }
                "Certificate" | "Issuer" => {
                    assert_eq!(same["spec"], doc["spec"], "{variant}: {}", name(doc))
                }
                _ => {}
            }
        }
        let skipped = dry_run_all(&client, &chart).await;
        assert_eq!(skipped.is_empty(), variant != "webhook", "{skipped:?}");
    }

    // Several watched namespaces: a Role and RoleBinding in each, one --watch-namespace list.
    let chart = helm_template(
        "ray-operator",
        OPERATOR_NAMESPACE,
        &["--set", "watchNamespaces={ray-workloads,ray-system}"],
    );
    let roles: BTreeSet<String> = chart
        .iter()
        .filter(|d| kind(d) == "Role" && name(d) == "ray-operator")
        .map(|d| d["metadata"]["namespace"].as_str().unwrap_or("").to_owned())
        .collect();
    assert_eq!(
        roles,
        BTreeSet::from(["ray-system".into(), "ray-workloads".into()])
    );
    let args = &find(&chart, "Deployment", "ray-operator")["spec"]["template"]["spec"]["containers"]
        [0]["args"];
    assert!(
        args.as_array()
            .is_some_and(|a| a.contains(&json!("--watch-namespace=ray-workloads,ray-system"))),
        "{args}"
    );
    assert!(dry_run_all(&client, &chart).await.is_empty());

    // The CRD chart ships config/crd/ unchanged but for its labels and the keep policy.
    let crds = helm_template("ray-operator-crds", OPERATOR_NAMESPACE, &[]);
    let mut shipped = Vec::new();
    for file in
        ray_testenv::yaml_files(&ray_testenv::project_crd_dir()).unwrap_or_else(|e| panic!("{e}"))
    {
        shipped.extend(ray_testenv::read_documents(&file).unwrap_or_else(|e| panic!("{e}")));
    }
    assert_eq!(crds.len(), shipped.len());
    for crd in &crds {
        assert_eq!(
            crd["metadata"]["annotations"]["helm.sh/resource-policy"],
            "keep",
            "{}",
            name(crd)
        );
        let mut bare = crd.clone();
        if let Some(meta) = bare["metadata"].as_object_mut() {
            meta.remove("labels");
            meta.remove("annotations");
        }
        if let Some(difference) = difference(&bare, find(&shipped, kind(crd), name(crd)), "") {
            panic!(
                "{}: the chart's CRD differs from config/crd/ at {difference}",
                name(crd)
            );
        }
    }
    assert!(dry_run_all(&client, &crds).await.is_empty());

    // The conversion option: the Webhook strategy through the operator's webhook Service, CA from cert-manager.
    let converting = helm_template(
        "ray-operator-crds",
        OPERATOR_NAMESPACE,
        &["--set", "conversionWebhook.enabled=true"],
    );
    // Exactly what `ray-operator crd --conversion-*` prints for the same Service and Certificate, but for the
    // chart's labels and keep policy.
    let generated = run_tool(
        Path::new(env!("CARGO_BIN_EXE_ray-operator")),
        &[
            "crd",
            "--conversion-webhook-service",
            "ray-system/ray-operator-webhook",
            "--conversion-inject-ca-from",
            "ray-system/ray-operator-webhook",
        ],
    );
    assert_eq!(converting.len(), generated.len());
    for crd in &converting {
        assert_eq!(
            crd["spec"]["conversion"]["strategy"],
            "Webhook",
            "{}",
            name(crd)
        );
        let mut bare = crd.clone();
        if let Some(meta) = bare["metadata"].as_object_mut() {
            meta.remove("labels");
        }
        if let Some(annotations) = bare["metadata"]["annotations"].as_object_mut() {
            annotations.remove("helm.sh/resource-policy");
        }
        if let Some(difference) = difference(&bare, find(&generated, kind(crd), name(crd)), "") {
            panic!(
                "{}: the chart's converting CRD differs from `ray-operator crd --conversion-*` at {difference}",
                name(crd)
            );
        }
    }
    assert!(dry_run_all(&client, &converting).await.is_empty());
}

/// One permission: verb on `group/resource[/subresource]`, optionally one object by name.
#[derive(Debug, Clone, Copy)]
struct Access {
    verb: &'static str,
    group: &'static str,
    resource: &'static str,
    subresource: &'static str,
    name: &'static str,
}

const fn access(verb: &'static str, group: &'static str, resource: &'static str) -> Access {
    Access {
        verb,
        group,
        resource,
        subresource: "",
        name: "",
    }
}

const fn sub(
    verb: &'static str,
    group: &'static str,
    resource: &'static str,
    subresource: &'static str,
) -> Access {
    Access {
        verb,
        group,
        resource,
        subresource,
        name: "",
    }
}

/// Everything the controllers call in a namespace they reconcile, read off the code (crates/ray-controllers,
/// bins/ray-operator); docs/install.md explains each line.
const NEEDED_IN_WATCHED_NAMESPACE: &[Access] = &[
    // RayCluster: watch, finalizer (merge patch), status (apply); created, deleted, listed by RayJob and
    // RayService, updated in place and annotated by RayService.
    access("list", "ray.io", "rayclusters"),
    access("watch", "ray.io", "rayclusters"),
    access("get", "ray.io", "rayclusters"),
    access("create", "ray.io", "rayclusters"),
    access("update", "ray.io", "rayclusters"),
    access("delete", "ray.io", "rayclusters"),
    access("patch", "ray.io", "rayclusters"),
    sub("patch", "ray.io", "rayclusters", "status"),
    sub("update", "ray.io", "rayclusters", "finalizers"),
    // RayJob: watch, finalizer, status; created by RayCronJob; deleted by its `DeleteSelf` rule. RayService:
    // watch, status.
    access("list", "ray.io", "rayjobs"),
    access("watch", "ray.io", "rayjobs"),
    access("patch", "ray.io", "rayjobs"),
    access("create", "ray.io", "rayjobs"),
    access("delete", "ray.io", "rayjobs"),
    sub("patch", "ray.io", "rayjobs", "status"),
    sub("update", "ray.io", "rayjobs", "finalizers"),
    access("list", "ray.io", "rayservices"),
    access("watch", "ray.io", "rayservices"),
    sub("patch", "ray.io", "rayservices", "status"),
    sub("update", "ray.io", "rayservices", "finalizers"),
    // RayCronJob: watch, status (apply); finalizers for the owner references of the RayJobs it creates.
    access("list", "ray.io", "raycronjobs"),
    access("watch", "ray.io", "raycronjobs"),
    sub("patch", "ray.io", "raycronjobs", "status"),
    sub("update", "ray.io", "raycronjobs", "finalizers"),
    // Pods: a watch, creates, deletes, the RayService head label (patch); get and pods/resize because the
    // autoscaler Role grants them.
    access("list", "", "pods"),
    access("watch", "", "pods"),
    access("create", "", "pods"),
    access("delete", "", "pods"),
    access("get", "", "pods"),
    access("patch", "", "pods"),
    sub("patch", "", "pods", "resize"),
    // Services: a watch, get-or-create, RayService's server-side apply, a suspended RayService's Services deleted.
    access("list", "", "services"),
    access("watch", "", "services"),
    access("get", "", "services"),
    access("create", "", "services"),
    access("patch", "", "services"),
    access("delete", "", "services"),
    access("list", "discovery.k8s.io", "endpointslices"),
    access("watch", "discovery.k8s.io", "endpointslices"),
    // Ray token authentication: the generated token's Secret (create), a token read by name (get).
    access("get", "", "secrets"),
    access("create", "", "secrets"),
    // The autoscaler's ServiceAccount, Role and RoleBinding, the head Ingress: get-or-create.
    access("get", "", "serviceaccounts"),
    access("create", "", "serviceaccounts"),
    access("get", "rbac.authorization.k8s.io", "roles"),
    access("create", "rbac.authorization.k8s.io", "roles"),
    access("get", "rbac.authorization.k8s.io", "rolebindings"),
    access("create", "rbac.authorization.k8s.io", "rolebindings"),
    access("get", "networking.k8s.io", "ingresses"),
    access("create", "networking.k8s.io", "ingresses"),
    // Submitter and Redis cleanup Jobs.
    access("list", "batch", "jobs"),
    access("watch", "batch", "jobs"),
    access("get", "batch", "jobs"),
    access("create", "batch", "jobs"),
    access("delete", "batch", "jobs"),
    // Events.
    access("create", "events.k8s.io", "events"),
    access("patch", "events.k8s.io", "events"),
];

/// Things no controller does; the operator must not be able to do them anywhere.
const NEVER: &[Access] = &[
    access("list", "", "secrets"),
    access("watch", "", "secrets"),
    access("update", "", "secrets"),
    access("delete", "", "secrets"),
    access("create", "", "configmaps"),
    access("update", "", "configmaps"),
    access("delete", "", "configmaps"),
    access("update", "", "pods"),
    access("deletecollection", "", "pods"),
    sub("create", "", "pods", "exec"),
    sub("create", "", "pods", "portforward"),
    access("update", "", "services"),
    access("create", "", "events"),
    access("create", "apps", "deployments"),
    access("update", "ray.io", "rayjobs"),
    access("patch", "ray.io", "rayservices"),
    access("delete", "ray.io", "rayservices"),
    access("patch", "ray.io", "raycronjobs"),
    access("delete", "ray.io", "raycronjobs"),
    access("update", "rbac.authorization.k8s.io", "roles"),
    access("delete", "rbac.authorization.k8s.io", "roles"),
    access("escalate", "rbac.authorization.k8s.io", "roles"),
    access("bind", "rbac.authorization.k8s.io", "roles"),
    access("create", "", "serviceaccounts/token"),
    access("list", "coordination.k8s.io", "leases"),
];

/// Cluster-scoped things the operator never needs.
const NEVER_CLUSTER_WIDE: &[Access] = &[
    access("list", "", "nodes"),
    access("list", "", "namespaces"),
    access("delete", "", "namespaces"),
    access("create", "rbac.authorization.k8s.io", "clusterroles"),
    access("escalate", "rbac.authorization.k8s.io", "clusterroles"),
    access("bind", "rbac.authorization.k8s.io", "clusterroles"),
    access("create", "rbac.authorization.k8s.io", "clusterrolebindings"),
    access(
        "create",
        "apiextensions.k8s.io",
        "customresourcedefinitions",
    ),
    access(
        "update",
        "apiextensions.k8s.io",
        "customresourcedefinitions",
    ),
    access(
        "patch",
        "admissionregistration.k8s.io",
        "validatingwebhookconfigurations",
    ),
    access("create", "authorization.k8s.io", "subjectaccessreviews"),
];

/// Whether the client's identity may do `access` in `namespace` ("" for all namespaces / cluster-scoped).
async fn can(client: &Client, namespace: &str, access: Access) -> bool {
    let review = SelfSubjectAccessReview {
        spec: SelfSubjectAccessReviewSpec {
            resource_attributes: Some(ResourceAttributes {
                namespace: (!namespace.is_empty()).then(|| namespace.to_owned()),
                verb: Some(access.verb.to_owned()),
                group: Some(access.group.to_owned()),
                resource: Some(access.resource.to_owned()),
                subresource: (!access.subresource.is_empty())
                    .then(|| access.subresource.to_owned()),
                name: (!access.name.is_empty()).then(|| access.name.to_owned()),
                ..ResourceAttributes::default()
            }),
            ..SelfSubjectAccessReviewSpec::default()
        },
        ..SelfSubjectAccessReview::default()
    };
    let api: Api<SelfSubjectAccessReview> = Api::all(client.clone());
    api.create(&PostParams::default(), &review)
        .await
        .unwrap_or_else(|e| panic!("SelfSubjectAccessReview: {e}"))
        .status
        .is_some_and(|s| s.allowed)
}

/// Checks a list of permissions, collecting every one that is not as expected.
async fn expect(
    client: &Client,
    namespace: &str,
    list: &[Access],
    allowed: bool,
    wrong: &mut Vec<String>,
) {
    for a in list {
        if can(client, namespace, *a).await != allowed {
            wrong.push(format!(
                "{} {} {}/{}{}{} in {:?}",
                if allowed { "cannot" } else { "CAN" },
                a.verb,
                a.group,
                a.resource,
                if a.subresource.is_empty() { "" } else { "/" },
                a.subresource,
                namespace
            ));
        }
    }
}

/// An install: the kustomize variant applied for real (all but the Deployment, which cannot run here), and a
/// kubeconfig that authenticates as the operator's ServiceAccount with a token from the TokenRequest API.
struct Installed {
    kubeconfig: tempfile::NamedTempFile,
    operator: Client,
}

async fn install(plane: &ray_testenv::ControlPlane, admin: &Client, variant: &str) -> Installed {
    ray_testenv::install_crds(admin, &ray_testenv::project_crd_dir())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let docs = kustomize(variant);
    for doc in docs.iter().filter(|d| kind(d) == "Namespace") {
        apply(admin, doc, true)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }
    for doc in docs
        .iter()
        .filter(|d| !matches!(kind(d), "Namespace" | "Deployment"))
    {
        apply(admin, doc, true)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let accounts: Api<ServiceAccount> = Api::namespaced(admin.clone(), OPERATOR_NAMESPACE);
    let token = accounts
        .create_token_request(
            SERVICE_ACCOUNT,
            &PostParams::default(),
            &TokenRequest {
                spec: Some(TokenRequestSpec {
                    expiration_seconds: Some(3600),
                    ..TokenRequestSpec::default()
                }),
                ..TokenRequest::default()
            },
        )
        .await
        .unwrap_or_else(|e| panic!("requesting a token for the operator's ServiceAccount: {e}"))
        .status
        .map(|s| s.token)
        .unwrap_or_default();
    let admin_config: Value = serde_json::from_str(
        &std::fs::read_to_string(plane.kubeconfig()).unwrap_or_else(|e| panic!("{e}")),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let mut config = admin_config;
    config["users"] = json!([{"name": "ray-operator", "user": {"token": token}}]);
    config["contexts"][0]["context"]["user"] = json!("ray-operator");
    let mut kubeconfig = tempfile::NamedTempFile::new().unwrap_or_else(|e| panic!("{e}"));
    std::io::Write::write_all(&mut kubeconfig, config.to_string().as_bytes())
        .unwrap_or_else(|e| panic!("{e}"));
    let parsed = Kubeconfig::read_from(kubeconfig.path()).unwrap_or_else(|e| panic!("{e}"));
    let operator = Client::try_from(
        kube::Config::from_custom_kubeconfig(parsed, &KubeConfigOptions::default())
            .await
            .unwrap_or_else(|e| panic!("{e}")),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    Installed {
        kubeconfig,
        operator,
    }
}

/// The permission matrix of an install whose operator reconciles `watched` (`None`: every namespace).
async fn check_permissions(installed: &Installed, admin: &Client, watched: Option<&str>) {
    let elsewhere = ray_testenv::create_namespace(admin, "unwatched")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let client = &installed.operator;
    let mut wrong = Vec::new();
    match watched {
        None => {
            // Every namespace, and the cluster-wide watches the controllers start.
            expect(
                client,
                &elsewhere,
                NEEDED_IN_WATCHED_NAMESPACE,
                true,
                &mut wrong,
            )
            .await;
            let watches: Vec<Access> = NEEDED_IN_WATCHED_NAMESPACE
                .iter()
                .filter(|a| matches!(a.verb, "list" | "watch"))
                .copied()
                .collect();
            expect(client, "", &watches, true, &mut wrong).await;
            expect(client, &elsewhere, NEVER, false, &mut wrong).await;
        }
        Some(ns) => {
            expect(client, ns, NEEDED_IN_WATCHED_NAMESPACE, true, &mut wrong).await;
            expect(client, ns, NEVER, false, &mut wrong).await;
            // Nothing at all outside the watched namespace.
            expect(
                client,
                &elsewhere,
                NEEDED_IN_WATCHED_NAMESPACE,
                false,
                &mut wrong,
            )
            .await;
            expect(
                client,
                "",
                &[
                    access("list", "ray.io", "rayclusters"),
                    access("list", "", "pods"),
                ],
                false,
                &mut wrong,
            )
            .await;
        }
    }
    expect(client, "", NEVER_CLUSTER_WIDE, false, &mut wrong).await;
    expect(client, "", NEVER, false, &mut wrong).await;
    // Leader election: its own Lease in its own namespace, nothing else there.
    expect(
        client,
        OPERATOR_NAMESPACE,
        &[
            access("create", "coordination.k8s.io", "leases"),
            Access {
                name: LEASE,
                ..access("get", "coordination.k8s.io", "leases")
            },
            Access {
                name: LEASE,
                ..access("update", "coordination.k8s.io", "leases")
            },
        ],
        true,
        &mut wrong,
    )
    .await;
    expect(
        client,
        OPERATOR_NAMESPACE,
        &[
            Access {
                name: "someone-else",
                ..access("update", "coordination.k8s.io", "leases")
            },
            access("delete", "coordination.k8s.io", "leases"),
            access("list", "", "secrets"),
        ],
        false,
        &mut wrong,
    )
    .await;
    assert!(
        wrong.is_empty(),
        "the operator's ServiceAccount:\n{}",
        wrong.join("\n")
    );

    // The escalation check is real: the operator can create the autoscaler's Role, not a Role that lists Secrets.
    let ns = watched.unwrap_or(&elsewhere);
    let roles: Api<Role> = Api::namespaced(client.clone(), ns);
    let role = |name_: &str, resource: &str, verbs: &[&str]| -> Role {
        serde_json::from_value(json!({"metadata": {"name": name_},
            "rules": [{"apiGroups": [""], "resources": [resource], "verbs": verbs}]}))
        .unwrap_or_else(|e| panic!("{e}"))
    };
    let dry = PostParams {
        dry_run: true,
        ..PostParams::default()
    };
    roles
        .create(
            &dry,
            &role("pods", "pods", &["get", "list", "watch", "patch"]),
        )
        .await
        .unwrap_or_else(|e| {
            panic!("the operator must be able to grant what the autoscaler needs: {e}")
        });
    let refused = roles
        .create(&dry, &role("secrets", "secrets", &["list"]))
        .await
        .expect_err("the operator must not be able to grant listing Secrets");
    assert!(refused.to_string().contains("forbidden"), "{refused}");
}

async fn until<T>(what: &str, check: impl AsyncFnMut() -> Result<T, String>) -> T {
    ray_testenv::until(what, TIMEOUT, check).await
}

/// Runs `ray-operator run` as the ServiceAccount through a RayCluster and a RayJob lifecycle in `namespace`, then
/// returns its log.
async fn lifecycle(
    installed: &Installed,
    admin: &Client,
    namespace: &str,
    variant: &str,
) -> String {
    let log = tempfile::NamedTempFile::new().unwrap_or_else(|e| panic!("{e}"));
    let stderr = log.reopen().unwrap_or_else(|e| panic!("{e}"));
    let ports = ray_testenv::free_ports(3).unwrap_or_else(|e| panic!("{e}"));
    let (metrics_port, health_port, closed_port) = (ports[0], ports[1], ports[2]);
    // The Deployment's own arguments, so the manifests' flags are checked by the real binary, with the two servers
    // on free loopback ports instead of 0.0.0.0:8080 and :8082.
    let docs = kustomize(variant);
    let deployment = find(&docs, "Deployment", "ray-operator");
    let mut args: Vec<String> = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
        .as_array()
        .unwrap_or_else(|| panic!("the Deployment has args"))
        .iter()
        .map(|a| a.as_str().unwrap_or_default().to_owned())
        .map(|a| match a.split_once('=') {
            Some(("--metrics-addr", _)) => format!("--metrics-addr=127.0.0.1:{metrics_port}"),
            Some(("--health-addr", _)) => format!("--health-addr=127.0.0.1:{health_port}"),
            _ => a,
        })
        .collect();
    assert!(args.contains(&"--leader-elect".to_owned()), "{args:?}");
    // No Ray head: the RayJob's dashboard calls fail, which the lifecycle below does not depend on.
    args.push(format!(
        "--dashboard-url-override=http://127.0.0.1:{closed_port}"
    ));
    let mut operator = tokio::process::Command::new(env!("CARGO_BIN_EXE_ray-operator"))
        .args(&args)
        .env("KUBECONFIG", installed.kubeconfig.path())
        // What the Deployment sets from the downward API.
        .env("POD_NAMESPACE", OPERATOR_NAMESPACE)
        .env("POD_NAME", format!("ray-operator-{variant}"))
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(stderr)
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("starting ray-operator: {e}"));
    until("/readyz", async || {
        let url = format!("http://127.0.0.1:{health_port}/readyz");
        match reqwest::get(&url).await {
            Ok(r) if r.status().is_success() => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;

    // A RayCluster with everything the RayCluster controller can create: autoscaler RBAC, Ingress, Services, pods.
    let clusters: Api<RayCluster> = Api::namespaced(admin.clone(), namespace);
    let cluster: RayCluster = serde_json::from_value(json!({
        "apiVersion": "ray.io/v1", "kind": "RayCluster",
        "metadata": {"name": "rbac-check"},
        "spec": {
            "enableInTreeAutoscaling": true,
            "headGroupSpec": {"enableIngress": true, "rayStartParams": {}, "template": {"spec": {"containers": [
                {"name": "ray-head", "image": "rayproject/ray:2.60.0"}]}}},
            "workerGroupSpecs": [{"groupName": "workers", "replicas": 1, "minReplicas": 0, "maxReplicas": 4,
                "rayStartParams": {}, "template": {"spec": {"containers": [
                    {"name": "ray-worker", "image": "rayproject/ray:2.60.0"}]}}}]
        }
    }))
    .unwrap_or_else(|e| panic!("{e}"));
    clusters
        .create(&PostParams::default(), &cluster)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    until("the RayCluster to be ready", async || {
        let c = clusters
            .get("rbac-check")
            .await
            .map_err(|e| e.to_string())?;
        let state = c.status.as_ref().and_then(|s| s.state);
        match state {
            Some(ray_api_v1::ClusterState::Ready) => Ok(()),
            _ => Err(format!("{:?}", c.status)),
        }
    })
    .await;
    let roles: Api<Role> = Api::namespaced(admin.clone(), namespace);
    let bindings: Api<RoleBinding> = Api::namespaced(admin.clone(), namespace);
    let ingresses: Api<Ingress> = Api::namespaced(admin.clone(), namespace);
    let services: Api<Service> = Api::namespaced(admin.clone(), namespace);
    for (what, found) in [
        (
            "the autoscaler Role",
            roles.get_opt("rbac-check").await.map(|o| o.is_some()),
        ),
        (
            "the autoscaler RoleBinding",
            bindings.get_opt("rbac-check").await.map(|o| o.is_some()),
        ),
        (
            "the head Ingress",
            ingresses
                .list(&ListParams::default())
                .await
                .map(|l| !l.items.is_empty()),
        ),
        (
            "the head Service",
            services
                .list(&ListParams::default())
                .await
                .map(|l| !l.items.is_empty()),
        ),
    ] {
        assert!(
            found.unwrap_or_else(|e| panic!("{e}")),
            "{what} was not created"
        );
    }

    // A RayJob: its RayCluster, its submitter Job, suspended (both deleted), then deleted through its finalizer.
    let jobs: Api<RayJob> = Api::namespaced(admin.clone(), namespace);
    let job: RayJob = serde_json::from_value(json!({
        "apiVersion": "ray.io/v1", "kind": "RayJob",
        "metadata": {"name": "rbac-job"},
        "spec": {"entrypoint": "python -c 'print(1)'", "submissionMode": "K8sJobMode", "shutdownAfterJobFinishes": true,
            "rayClusterSpec": {"headGroupSpec": {"rayStartParams": {}, "template": {"spec": {"containers": [
                {"name": "ray-head", "image": "rayproject/ray:2.60.0"}]}}}}}
    }))
    .unwrap_or_else(|e| panic!("{e}"));
    jobs.create(&PostParams::default(), &job)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let submitters: Api<Job> = Api::namespaced(admin.clone(), namespace);
    until("the RayJob's submitter Job", async || {
        let list = submitters
            .list(&ListParams::default())
            .await
            .map_err(|e| e.to_string())?;
        if list.items.is_empty() {
            Err("none yet".into())
        } else {
            Ok(())
        }
    })
    .await;
    jobs.patch(
        "rbac-job",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"suspend": true}})),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    until("the RayJob to be suspended", async || {
        let j = jobs.get("rbac-job").await.map_err(|e| e.to_string())?;
        let status = j.status.unwrap_or_default();
        if status.job_deployment_status == Some(JobDeploymentStatus::Suspended) {
            Ok(())
        } else {
            Err(format!("{status:?}"))
        }
    })
    .await;
    jobs.delete("rbac-job", &DeleteParams::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    until("the RayJob to be gone", async || {
        match jobs.get_opt("rbac-job").await {
            Ok(None) => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;

    // A RayJob that fails (its deadline passes while its cluster comes up) and is deleted by its own
    // `DeleteSelf` rule: the operator deletes the RayJob itself.
    let doomed: RayJob = serde_json::from_value(json!({
        "apiVersion": "ray.io/v1", "kind": "RayJob",
        "metadata": {"name": "rbac-self"},
        "spec": {"entrypoint": "python -c 'print(1)'", "activeDeadlineSeconds": 1,
            "deletionStrategy": {"deletionRules": [
                {"policy": "DeleteSelf", "condition": {"jobDeploymentStatus": "Failed"}}]},
            "rayClusterSpec": {"headGroupSpec": {"template": {"spec": {"containers": [
                {"name": "ray-head", "image": "rayproject/ray:2.60.0"}]}}}}}
    }))
    .unwrap_or_else(|e| panic!("{e}"));
    jobs.create(&PostParams::default(), &doomed)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    until("the failed RayJob to delete itself", async || {
        match jobs.get_opt("rbac-self").await {
            Ok(None) => Ok(()),
            other => Err(format!("{:?}", other.map(|j| j.and_then(|j| j.status)))),
        }
    })
    .await;

    // A RayService: its pending RayCluster, recorded in its status. (Without a Ray head its Serve applications
    // never become healthy, so its Services are not switched; the permission matrix covers that part.)
    let ray_services: Api<RayService> = Api::namespaced(admin.clone(), namespace);
    let service: RayService = serde_json::from_value(json!({
        "apiVersion": "ray.io/v1", "kind": "RayService",
        "metadata": {"name": "rbac-serve"},
        "spec": {"serveConfigV2": "applications: []\n", "rayClusterConfig": {
            "headGroupSpec": {"rayStartParams": {}, "template": {"spec": {"containers": [
                {"name": "ray-head", "image": "rayproject/ray:2.60.0"}]}}}}}
    }))
    .unwrap_or_else(|e| panic!("{e}"));
    ray_services
        .create(&PostParams::default(), &service)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let pending = until("the RayService's pending RayCluster", async || {
        let s = ray_services
            .get("rbac-serve")
            .await
            .map_err(|e| e.to_string())?;
        s.status
            .as_ref()
            .and_then(|s| s.pending_service_status.as_ref())
            .and_then(|p| p.ray_cluster_name.clone())
            .ok_or_else(|| format!("{:?}", s.status))
    })
    .await;
    until("the pending RayCluster", async || {
        clusters
            .get_opt(&pending)
            .await
            .map_err(|e| e.to_string())?
            .map(drop)
            .ok_or_else(|| "not yet".to_owned())
    })
    .await;
    ray_services
        .delete("rbac-serve", &DeleteParams::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    // Events were published by the operator.
    let events: Api<Event> = Api::namespaced(admin.clone(), namespace);
    let published = events
        .list(&ListParams::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .items
        .into_iter()
        .filter(|e| e.reporting_controller.as_deref() == Some("ray-operator"))
        .count();
    assert!(published > 0, "no Events from the operator");
    // It reconciled as the elected leader: the Lease it created (and renewed with "update") is there.
    let leases: Api<Lease> = Api::namespaced(admin.clone(), OPERATOR_NAMESPACE);
    let lease = leases
        .get_opt(LEASE)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        lease.is_some(),
        "the operator did not create its Lease {LEASE}"
    );

    // Not one request was refused, by the operator's own count.
    let metrics = reqwest::get(format!("http://127.0.0.1:{metrics_port}/metrics"))
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .text()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        metrics.contains("ray_operator_kube_api_requests_total{"),
        "{metrics}"
    );
    let refused: Vec<&str> = metrics
        .lines()
        .filter(|l| {
            l.starts_with("ray_operator_kube_api_requests_total{") && l.contains("code=\"403\"")
        })
        .collect();
    assert!(refused.is_empty(), "requests refused: {refused:?}");

    if let Some(pid) = operator.id() {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
    }
    let _ = tokio::time::timeout(Duration::from_secs(15), operator.wait()).await;
    std::fs::read_to_string(log.path()).unwrap_or_else(|e| panic!("{e}"))
}

fn assert_never_forbidden(log: &str) {
    let denied: Vec<&str> = log
        .lines()
        // The API server's 403 always says "forbidden"; a bare "403" also matches timestamps and random names.
        .filter(|l| l.to_ascii_lowercase().contains("forbidden"))
        .collect();
    assert!(
        denied.is_empty(),
        "the operator was refused:\n{}",
        denied.join("\n")
    );
    assert!(log.contains("ray-operator starting"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cluster_wide_install_grants_exactly_what_the_operator_uses() {
    let plane = ray_testenv::ControlPlane::shared()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let admin = plane.client().await.unwrap_or_else(|e| panic!("{e}"));
    let installed = install(plane, &admin, "default").await;
    check_permissions(&installed, &admin, None).await;
    let namespace = ray_testenv::create_namespace(&admin, "install-default")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let log = lifecycle(&installed, &admin, &namespace, "default").await;
    assert_never_forbidden(&log);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_namespaced_install_grants_exactly_what_the_operator_uses_in_its_namespace() {
    // A control plane of its own: the cluster-wide test's ClusterRoleBinding would grant this ServiceAccount
    // everything everywhere, and its operator would reconcile this test's objects too.
    let mut options = ray_testenv::ControlPlaneOptions::new().unwrap_or_else(|e| panic!("{e}"));
    options.nodes = 1;
    let plane = ray_testenv::ControlPlane::start(options)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let admin = plane.client().await.unwrap_or_else(|e| panic!("{e}"));
    ensure_namespace(&admin, WATCHED_NAMESPACE).await;
    let installed = install(&plane, &admin, "namespaced").await;
    check_permissions(&installed, &admin, Some(WATCHED_NAMESPACE)).await;
    // The Deployment's args carry --watch-namespace=ray-workloads.
    let log = lifecycle(&installed, &admin, WATCHED_NAMESPACE, "namespaced").await;
    assert_never_forbidden(&log);
}
