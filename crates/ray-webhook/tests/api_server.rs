//! The webhooks against the real API server of the local control plane (`crates/ray-testenv`).
//!
//! The API server runs on 127.0.0.1, so the webhooks are registered by URL (`https://127.0.0.1:<port>/...`) with the
//! CA the server generated as `caBundle`. The validating webhook configuration only matches this test's namespace
//! and is deleted afterwards; the CRDs switched to the `Webhook` conversion strategy are switched back. Both tests
//! hold one lock because the conversion test changes the cluster-wide CRDs that the validation test relies on.

use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::time::{Duration, Instant};

use k8s_openapi::ByteString;
use k8s_openapi::api::admissionregistration::v1::{
    ValidatingWebhookConfiguration, WebhookClientConfig,
};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::api::{DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use kube::{Api, Client};
use ray_testenv::{ControlPlane, project_crd_dir, project_namespace, read_documents};
use ray_webhook::{WebhookConfig, WebhookServer};
use serde_json::{Value, json};
use tokio::sync::oneshot;

/// Serializes the tests of this binary (see the module docs).
static CLUSTER_WIDE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Runs an async clean-up when dropped, also when the test panics (multi-thread runtime only).
struct Cleanup(Option<Pin<Box<dyn Future<Output = ()> + Send>>>);

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Some(work) = self.0.take() {
            tokio::task::block_in_place(|| tokio::runtime::Handle::current().block_on(work));
        }
    }
}

async fn client() -> Client {
    ControlPlane::shared()
        .await
        .expect("local control plane (run `cargo xtask testenv install`)")
        .client()
        .await
        .expect("client")
}

/// A webhook server on a free loopback port with a generated certificate; returns its base URL, CA (PEM), the
/// stop signal and the directory (kept alive by the caller).
async fn start_server() -> (String, String, oneshot::Sender<()>, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = WebhookConfig::new(
        "127.0.0.1:0".parse().expect("addr"),
        dir.path().join("certs"),
    );
    let server = WebhookServer::bind(config).await.expect("webhook server");
    let url = format!("https://127.0.0.1:{}", server.local_addr().port());
    let ca = server.generated_ca().expect("generated CA").to_owned();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(server.serve(async {
        let _ = stopped.await;
    }));
    (url, ca, stop, dir)
}

fn api_for(client: &Client, namespace: &str, api_version: &str, kind: &str) -> Api<DynamicObject> {
    let (group, version) = api_version.split_once('/').expect("group/version");
    let plural = match kind {
        "RayCluster" => "rayclusters",
        "RayJob" => "rayjobs",
        "RayService" => "rayservices",
        "RayCronJob" => "raycronjobs",
        other => panic!("unexpected kind {other}"),
    };
    let resource =
        ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural);
    Api::namespaced_with(client.clone(), namespace, &resource)
}

/// Creates `doc` in `namespace` as a server-side dry run; the API server's error message on rejection.
async fn dry_run_create(client: &Client, namespace: &str, doc: &Value) -> Result<(), String> {
    let mut doc = doc.clone();
    if let Some(meta) = doc.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("namespace");
    }
    let api = api_for(
        client,
        namespace,
        doc["apiVersion"].as_str().expect("apiVersion"),
        doc["kind"].as_str().expect("kind"),
    );
    let object: DynamicObject = serde_json::from_value(doc).expect("object");
    let params = PostParams {
        dry_run: true,
        ..PostParams::default()
    };
    api.create(&params, &object)
        .await
        .map(drop)
        .map_err(|error| match error {
            kube::Error::Api(status) => status.message,
            other => other.to_string(),
        })
}

fn invalid_example(file: &str) -> Value {
    let path = ray_examples::manifest_dir()
        .join("tests")
        .join("invalid")
        .join(file);
    read_documents(Path::new(&path))
        .expect("readable")
        .remove(0)
}

/// How the API server quotes a denial by our webhook.
fn denied_by_webhook() -> String {
    format!(
        "admission webhook \"{}\" denied the request",
        ray_webhook::registration::WEBHOOK_NAME
    )
}

/// Every invalid example with the field the API server's error must name, and whether our webhook is the one that
/// rejects it (the others the CRD schema rejects before validating webhooks run).
const INVALID: &[(&str, &str, bool)] = &[
    (
        "duplicate-group-names.yaml",
        "spec.workerGroupSpecs[1]",
        false,
    ),
    ("job-name-too-long.yaml", "metadata.name", false),
    ("job-without-cluster.yaml", "spec", false),
    (
        "min-replicas-above-max.yaml",
        "spec.workerGroupSpecs[0]",
        false,
    ),
    (
        "replicas-not-a-number.yaml",
        "spec.workerGroupSpecs[0].replicas",
        false,
    ),
    (
        "service-serve-config-not-yaml.yaml",
        "spec.serveConfigV2",
        true,
    ),
    ("unknown-submission-mode.yaml", "spec.submissionMode", false),
    (
        "v1alpha1-head-without-containers.yaml",
        "spec.headGroupSpec.template.spec.containers",
        true,
    ),
];

#[test]
fn the_table_covers_every_invalid_example_and_the_webhook_names_each_field() {
    let dir = ray_examples::manifest_dir().join("tests").join("invalid");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .expect("invalid examples")
        .map(|entry| {
            entry
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    files.sort();
    let listed: Vec<&str> = INVALID.iter().map(|(file, _, _)| *file).collect();
    assert_eq!(files, listed, "list every file of {}", dir.display());
    // The webhook's own validation rejects all of them, including those the schema catches first.
    for (file, field, _) in INVALID {
        let errors = ray_webhook::admission::validate(invalid_example(file)).expect_err(file);
        let field = field.replace("[1]", "");
        assert!(
            errors.iter().any(|e| e.path.starts_with(&field)),
            "{file}: expected a problem at {field}, got {errors:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn validating_webhook_rejects_invalid_examples_naming_the_field_and_admits_samples() {
    let _lock = CLUSTER_WIDE.lock().await;
    let client = client().await;
    let namespace = project_namespace(&client, "webhook-validate")
        .await
        .expect("CRDs and namespace");
    let (url, ca, _stop, _dir) = start_server().await;

    // Registered for this namespace only, so other tests on this control plane never reach this server.
    let name = format!("ray-webhook-test-{namespace}");
    let mut configuration = ray_webhook::registration::validating_webhook_configuration(
        &name,
        WebhookClientConfig {
            url: Some(format!("{url}{}", ray_webhook::VALIDATE_PATH)),
            ca_bundle: Some(ByteString(ca.into_bytes())),
            service: None,
        },
    );
    for webhook in configuration.webhooks.iter_mut().flatten() {
        webhook.namespace_selector = Some(LabelSelector {
            match_labels: Some(
                [("kubernetes.io/metadata.name".to_owned(), namespace.clone())].into(),
            ),
            ..LabelSelector::default()
        });
    }
    let configurations: Api<ValidatingWebhookConfiguration> = Api::all(client.clone());
    configurations
        .create(&PostParams::default(), &configuration)
        .await
        .expect("register the webhook");
    let _unregister = {
        let configurations = configurations.clone();
        let name = name.clone();
        Cleanup(Some(Box::pin(async move {
            let _ = configurations.delete(&name, &DeleteParams::default()).await;
        })))
    };

    // The API server picks the configuration up asynchronously: wait until it calls us.
    let probe = invalid_example("service-serve-config-not-yaml.yaml");
    let start = Instant::now();
    loop {
        match dry_run_create(&client, &namespace, &probe).await {
            Err(message) if message.contains(&denied_by_webhook()) => break,
            outcome => assert!(
                start.elapsed() < Duration::from_secs(30),
                "the webhook was not called within 30 s; last outcome: {outcome:?}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let mut failures = Vec::new();
    for (file, field, by_webhook) in INVALID {
        match dry_run_create(&client, &namespace, &invalid_example(file)).await {
            Ok(()) => failures.push(format!("{file}: admitted")),
            Err(message) => {
                if !message.contains(field) {
                    failures.push(format!(
                        "{file}: the message does not name {field}: {message}"
                    ));
                }
                if *by_webhook && !message.contains(&denied_by_webhook()) {
                    failures.push(format!("{file}: not denied by the webhook: {message}"));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");

    let samples = ray_examples::manifest_paths().expect("samples");
    assert!(
        samples
            .iter()
            .any(|p| p.to_string_lossy().contains("v1alpha1"))
    );
    for path in samples {
        for doc in read_documents(&path).expect("readable") {
            if let Err(message) = dry_run_create(&client, &namespace, &doc).await {
                panic!("{}: rejected: {message}", path.display());
            }
        }
    }
}

/// A RayCluster, RayJob and RayService each using fields that only ray.io/v1 has.
fn v1_only_objects() -> Vec<Value> {
    let pod = |name: &str| json!({ "spec": { "containers": [{ "name": name, "image": "rayproject/ray:2.60.0" }] } });
    // No empty maps such as `rayStartParams: {}`: the typed conversion writes an empty map as absent, which
    // means the same (docs/webhooks.md).
    let cluster_spec = json!({
        "headGroupSpec": { "template": pod("ray-head") },
        "workerGroupSpecs": [{
            "groupName": "tpu", "replicas": 1, "minReplicas": 1, "maxReplicas": 2, "numOfHosts": 2,
            "template": pod("ray-worker")
        }]
    });
    vec![
        json!({
            "apiVersion": "ray.io/v1", "kind": "RayCluster", "metadata": { "name": "multi-host" },
            "spec": cluster_spec.clone()
        }),
        json!({
            "apiVersion": "ray.io/v1", "kind": "RayJob", "metadata": { "name": "deadline" },
            "spec": {
                "entrypoint": "python -c 'print(1)'",
                "activeDeadlineSeconds": 600,
                "submissionMode": "HTTPMode",
                "submitterConfig": { "backoffLimit": 3 },
                "clusterSelector": { "ray.io/cluster": "multi-host" }
            }
        }),
        json!({
            "apiVersion": "ray.io/v1", "kind": "RayService", "metadata": { "name": "serve" },
            "spec": { "rayClusterConfig": cluster_spec }
        }),
    ]
}

/// Where [`v1_only_objects`] set fields that ray.io/v1alpha1 cannot hold.
fn v1_only_fields(kind: &str) -> &'static [&'static str] {
    match kind {
        "RayCluster" => &["/spec/workerGroupSpecs/0/numOfHosts"],
        "RayJob" => &[
            "/spec/activeDeadlineSeconds",
            "/spec/submissionMode",
            "/spec/submitterConfig",
        ],
        _ => &["/spec/rayClusterConfig/workerGroupSpecs/0/numOfHosts"],
    }
}

/// Creates each object as v1, reads it and writes it back through v1alpha1 unchanged, and returns each as read
/// back in v1 afterwards, with the objects as first stored.
async fn round_trip_through_v1alpha1(
    client: &Client,
    namespace: &str,
    suffix: &str,
) -> Vec<(Value, Value)> {
    let mut results = Vec::new();
    for mut object in v1_only_objects() {
        let kind = object["kind"].as_str().expect("kind").to_owned();
        let name = format!(
            "{}-{suffix}",
            object["metadata"]["name"].as_str().expect("name")
        );
        object["metadata"]["name"] = json!(name);
        let v1 = api_for(client, namespace, "ray.io/v1", &kind);
        let old = api_for(client, namespace, "ray.io/v1alpha1", &kind);
        let created = v1
            .create(
                &PostParams::default(),
                &serde_json::from_value(object).expect("object"),
            )
            .await
            .unwrap_or_else(|e| panic!("create {kind} {name}: {e}"));
        let read = old.get(&name).await.expect("read as v1alpha1");
        old.replace(&name, &PostParams::default(), &read)
            .await
            .unwrap_or_else(|e| panic!("write {kind} {name} back as v1alpha1: {e}"));
        let after = v1.get(&name).await.expect("read as v1");
        results.push((
            serde_json::to_value(created).expect("json"),
            serde_json::to_value(after).expect("json"),
        ));
    }
    results
}

#[tokio::test(flavor = "multi_thread")]
async fn conversion_webhook_keeps_v1_fields_through_v1alpha1_and_none_loses_them() {
    let _lock = CLUSTER_WIDE.lock().await;
    let client = client().await;
    let namespace = project_namespace(&client, "webhook-convert")
        .await
        .expect("CRDs and namespace");

    // Without the webhook (the default `None` strategy) the API server prunes what v1alpha1 does not know.
    for (created, after) in round_trip_through_v1alpha1(&client, &namespace, "none").await {
        let kind = created["kind"].as_str().expect("kind");
        for pointer in v1_only_fields(kind) {
            assert!(
                created.pointer(pointer).is_some(),
                "{kind}: {pointer} was not stored"
            );
            assert_ne!(
                created.pointer(pointer),
                after.pointer(pointer),
                "{kind}: expected {pointer} to be lost through v1alpha1 without the webhook"
            );
        }
    }

    let (url, ca, _stop, _dir) = start_server().await;
    let webhook = ray_crd::ConversionWebhook {
        endpoint: ray_crd::WebhookEndpoint::Url(format!("{url}{}", ray_webhook::CONVERT_PATH)),
        ca_bundle: Some(ca.into_bytes()),
        inject_ca_from: None,
    };
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let params = PatchParams::apply(ray_testenv::FIELD_MANAGER).force();
    let _restore = {
        let client = client.clone();
        Cleanup(Some(Box::pin(async move {
            let _ = ray_testenv::install_crds(&client, &project_crd_dir()).await;
        })))
    };
    for crd in ray_crd::crds_with_conversion(&webhook).expect("CRDs") {
        let name = crd.metadata.name.clone().expect("name");
        crds.patch(&name, &params, &Patch::Apply(&crd))
            .await
            .unwrap_or_else(|e| panic!("switch {name} to the webhook: {e}"));
    }

    // The API server switches strategies asynchronously: wait until a v1alpha1 read carries the annotation that
    // only the webhook writes, for every kind.
    let probes = round_trip_probe(&client, &namespace).await;
    let start = Instant::now();
    for (api, name) in &probes {
        loop {
            let read = api.get(name).await.expect("read as v1alpha1");
            let annotated =
                read.metadata.annotations.as_ref().is_some_and(|a| {
                    a.contains_key(ray_api_v1alpha1::V1_PRESERVED_FIELDS_ANNOTATION)
                });
            if annotated {
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "the API server did not use the conversion webhook within 30 s"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    for (created, after) in round_trip_through_v1alpha1(&client, &namespace, "webhook").await {
        assert_eq!(
            created["spec"], after["spec"],
            "{}: a field was lost or changed through v1alpha1",
            created["kind"]
        );
        assert_eq!(
            created["metadata"]["annotations"], after["metadata"]["annotations"],
            "{}: the preserved-fields annotation must not stay on the v1 object",
            created["kind"]
        );
    }
}

/// One v1 object per kind, created for probing when the conversion webhook is in use; their v1alpha1 APIs.
async fn round_trip_probe(client: &Client, namespace: &str) -> Vec<(Api<DynamicObject>, String)> {
    let mut probes = Vec::new();
    for mut object in v1_only_objects() {
        let kind = object["kind"].as_str().expect("kind").to_owned();
        let name = format!(
            "{}-probe",
            object["metadata"]["name"].as_str().expect("name")
        );
        object["metadata"]["name"] = json!(name);
        api_for(client, namespace, "ray.io/v1", &kind)
            .create(
                &PostParams::default(),
                &serde_json::from_value(object).expect("object"),
            )
            .await
            .unwrap_or_else(|e| panic!("create {kind} {name}: {e}"));
        probes.push((api_for(client, namespace, "ray.io/v1alpha1", &kind), name));
    }
    probes
}
