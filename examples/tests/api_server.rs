//! The samples against the real API server of the local control plane (`crates/ray-testenv`), with our CRDs
//! installed from `config/crd/`: every sample is accepted by server-side apply with strict field validation and
//! reads back with every field it set (nothing pruned), and every invalid manifest that the CRD schema can catch is
//! rejected with the offending field named in the API server's own message.

use std::path::Path;

use kube::api::{DynamicObject, Patch, PatchParams};
use kube::core::GroupVersionKind;
use kube::discovery::pinned_kind;
use kube::{Api, Client};
use ray_testenv::{ControlPlane, project_namespace, read_documents};
use serde_json::Value;

/// Installs the CRDs (idempotent) and returns a client and a fresh namespace.
async fn setup(prefix: &str) -> (Client, String) {
    let plane = ControlPlane::shared()
        .await
        .expect("local control plane (run `cargo xtask testenv install`)");
    let client = plane.client().await.expect("client");
    let namespace = project_namespace(&client, prefix)
        .await
        .expect("install the CRDs and create a namespace");
    (client, namespace)
}

/// Server-side applies one document the way `kubectl apply --server-side` does (strict field validation: an unknown
/// field is an error, not a silent drop) and returns what the API server stored.
async fn apply(client: &Client, namespace: &str, doc: &Value) -> Result<Value, String> {
    let api_version = doc["apiVersion"].as_str().expect("apiVersion");
    let kind = doc["kind"].as_str().expect("kind");
    let name = doc
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .expect("metadata.name");
    let (group, version) = api_version.split_once('/').expect("group/version");
    let (resource, _) = pinned_kind(client, &GroupVersionKind::gvk(group, version, kind))
        .await
        .expect("CRD is served");
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), namespace, &resource);
    let params = PatchParams::apply("ray-examples-test")
        .force()
        .validation_strict();
    let stored = api
        .patch(name, &params, &Patch::Apply(doc))
        .await
        .map_err(|e| e.to_string())?;
    Ok(serde_json::to_value(stored).expect("serializable"))
}

/// Every leaf value of `wanted` is at the same place in `stored` (which may hold more: defaults, metadata).
fn missing_fields(wanted: &Value, stored: &Value, path: &str, out: &mut Vec<String>) {
    match (wanted, stored) {
        (Value::Object(w), Value::Object(s)) => {
            for (key, value) in w {
                match s.get(key) {
                    Some(inner) => missing_fields(value, inner, &format!("{path}.{key}"), out),
                    None => out.push(format!("{path}.{key}")),
                }
            }
        }
        (Value::Array(w), Value::Array(s)) if w.len() == s.len() => {
            for (i, (a, b)) in w.iter().zip(s).enumerate() {
                missing_fields(a, b, &format!("{path}[{i}]"), out);
            }
        }
        (w, s) if w == s => {}
        (w, s) => out.push(format!("{path}: wrote {w}, stored {s}")),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_sample_is_accepted_and_nothing_it_sets_is_pruned() {
    let (client, namespace) = setup("examples").await;
    let paths = ray_examples::manifest_paths().expect("samples");
    assert!(paths.len() >= 9, "expected the samples, found {paths:?}");
    for path in paths {
        for mut doc in read_documents(&path).expect("readable") {
            // The samples name no namespace; apply them into this test's own.
            if let Some(meta) = doc.get_mut("metadata").and_then(Value::as_object_mut) {
                meta.remove("namespace");
            }
            let stored = apply(&client, &namespace, &doc)
                .await
                .unwrap_or_else(|e| panic!("{}: rejected by the API server: {e}", path.display()));
            let mut missing = Vec::new();
            let spec = doc.get("spec").cloned().unwrap_or(Value::Null);
            missing_fields(&spec, &stored["spec"], "spec", &mut missing);
            assert!(
                missing.is_empty(),
                "{}: the API server dropped or changed {missing:#?}",
                path.display()
            );
        }
    }
}

/// Invalid manifests the CRD schema itself rejects (no webhook, no operator needed), with words the API server's
/// message must contain: the field path and what is wrong. `service-serve-config-not-yaml.yaml` is left out on
/// purpose: YAML inside a string is checked by the operator's validation, not by the schema. So is
/// `v1alpha1-head-without-containers.yaml`: the deprecated v1alpha1 schema keeps upstream's shape with no CEL rules,
/// and such objects are reported by the operator's validation after conversion to v1.
const REJECTED_BY_THE_API_SERVER: &[(&str, &[&str])] = &[
    (
        "unknown-submission-mode.yaml",
        &["spec.submissionMode", "BatchMode"],
    ),
    // Server-side apply names list entries by their key: `.spec.workerGroupSpecs[groupName="workers"].replicas`.
    (
        "replicas-not-a-number.yaml",
        &[
            ".spec.workerGroupSpecs[groupName=\"workers\"].replicas",
            "expected numeric",
        ],
    ),
    (
        "min-replicas-above-max.yaml",
        &["spec.workerGroupSpecs[0]", "maxReplicas"],
    ),
    (
        "duplicate-group-names.yaml",
        &[
            ".spec.workerGroupSpecs",
            "duplicate entries for key [groupName=\"workers\"]",
        ],
    ),
    ("job-without-cluster.yaml", &["spec", "clusterSelector"]),
    ("job-name-too-long.yaml", &["metadata.name", "47"]),
];

#[tokio::test(flavor = "multi_thread")]
async fn invalid_manifests_are_rejected_by_the_api_server_naming_the_field() {
    let (client, namespace) = setup("invalid").await;
    let dir = ray_examples::manifest_dir().join("tests").join("invalid");
    let mut failures = Vec::new();
    for (file, words) in REJECTED_BY_THE_API_SERVER {
        let path = dir.join(file);
        let doc = read_documents(Path::new(&path))
            .expect("readable")
            .remove(0);
        match apply(&client, &namespace, &doc).await {
            Ok(_) => failures.push(format!("{file}: accepted by the API server")),
            Err(message) => {
                for word in *words {
                    if !message.contains(word) {
                        failures.push(format!("{file}: message lacks {word:?}: {message}"));
                    }
                }
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}
