//! `spec.managedBy` (RayCluster, RayService) and `headGroupSpec.ingressOptions` (KubeRay 1.7): the values KubeRay
//! accepts pass, the rest are rejected by name, in Rust and in the CRD; `managedBy` cannot change.

use kube::CustomResourceExt;
use kube::core::cel::{CompiledSchema, Validator, compile_schema};
use ray_api_v1::parse::from_json_value;
use ray_api_v1::{RayCluster, RayService};
use serde_json::{Value, json};

fn pod(name: &str) -> Value {
    json!({ "spec": { "containers": [{ "name": name, "image": "rayproject/ray:2.9.0" }] } })
}

fn cluster_spec() -> Value {
    json!({ "headGroupSpec": { "template": pod("ray-head") } })
}

fn cluster(extra: Value) -> Value {
    let mut doc = json!({
        "apiVersion": "ray.io/v1", "kind": "RayCluster", "metadata": { "name": "demo" },
        "spec": cluster_spec()
    });
    merge(&mut doc["spec"], extra);
    doc
}

fn service(extra: Value) -> Value {
    let mut doc = json!({
        "apiVersion": "ray.io/v1", "kind": "RayService", "metadata": { "name": "demo" },
        "spec": { "serveConfigV2": "applications: []\n", "rayClusterConfig": cluster_spec() }
    });
    merge(&mut doc["spec"], extra);
    doc
}

fn merge(target: &mut Value, extra: Value) {
    if let (Some(target), Value::Object(extra)) = (target.as_object_mut(), extra) {
        target.extend(extra);
    }
}

fn schema(service: bool) -> CompiledSchema {
    let crd = if service {
        RayService::crd()
    } else {
        RayCluster::crd()
    };
    let schema = crd.spec.versions[0]
        .schema
        .as_ref()
        .and_then(|s| s.open_api_v3_schema.as_ref())
        .expect("schema");
    compile_schema(&serde_json::to_value(schema).expect("schema JSON"))
}

/// The messages of the CEL rules `doc` fails, given the object it replaces (`old`) on an update.
fn cel_messages(schema: &CompiledSchema, doc: &Value, old: Option<&Value>) -> Vec<String> {
    match Validator::new().validate_compiled(schema, doc, old) {
        Ok(()) => Vec::new(),
        Err(errors) => errors.iter().map(|e| e.message.clone()).collect(),
    }
}

fn rust_errors(doc: &Value) -> Vec<String> {
    let result = if doc["kind"] == "RayService" {
        ray_api_v1::validate_service(&from_json_value::<RayService>(doc.clone()).expect("parses"))
    } else {
        ray_api_v1::validate_cluster(&from_json_value::<RayCluster>(doc.clone()).expect("parses"))
    };
    match result {
        Ok(()) => Vec::new(),
        Err(errors) => errors.iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn managed_by_takes_kuberays_two_values_everywhere() {
    let cluster_schema = schema(false);
    let service_schema = schema(true);
    for value in ["ray.io/kuberay-operator", "kueue.x-k8s.io/multikueue"] {
        let managed = json!({ "managedBy": value });
        for (doc, schema) in [
            (cluster(managed.clone()), &cluster_schema),
            (service(managed.clone()), &service_schema),
        ] {
            assert_eq!(rust_errors(&doc), Vec::<String>::new(), "{value}");
            assert_eq!(
                cel_messages(schema, &doc, None),
                Vec::<String>::new(),
                "{value}"
            );
        }
    }
    for (doc, schema, path) in [
        (
            cluster(json!({ "managedBy": "example.com/mine" })),
            &cluster_schema,
            "spec.managedBy",
        ),
        (
            service(json!({ "managedBy": "example.com/mine" })),
            &service_schema,
            "spec.managedBy",
        ),
    ] {
        let errors = rust_errors(&doc);
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(
            errors[0].starts_with(&format!("{path}: the managedBy field value must be either")),
            "{errors:?}"
        );
        assert_eq!(
            cel_messages(schema, &doc, None),
            [
                "the managedBy field value must be either 'ray.io/kuberay-operator' or 'kueue.x-k8s.io/multikueue'"
            ]
        );
    }
}

#[test]
fn managed_by_cannot_change() {
    for (make, schema) in [
        (cluster as fn(Value) -> Value, schema(false)),
        (service, schema(true)),
    ] {
        let old = make(json!({ "managedBy": "kueue.x-k8s.io/multikueue" }));
        let same = old.clone();
        assert_eq!(
            cel_messages(&schema, &same, Some(&old)),
            Vec::<String>::new()
        );
        let changed = make(json!({ "managedBy": "ray.io/kuberay-operator" }));
        assert_eq!(
            cel_messages(&schema, &changed, Some(&old)),
            ["the managedBy field is immutable"]
        );
    }
}

#[test]
fn ingress_options_are_accepted_and_checked_like_the_ingress_they_become() {
    let options = |value: Value| {
        cluster(json!({ "headGroupSpec": {
            "template": pod("ray-head"), "enableIngress": true, "ingressOptions": value
        } }))
    };
    let good = options(json!({
        "host": "ray.example.com", "path": "/dashboard", "pathType": "Exact",
        "tls": [{ "hosts": ["ray.example.com", "*.example.com"], "secretName": "ray-tls" }]
    }));
    assert_eq!(rust_errors(&good), Vec::<String>::new());
    assert_eq!(
        cel_messages(&schema(false), &good, None),
        Vec::<String>::new()
    );

    let bad = options(json!({
        "host": "10.0.0.1", "path": "dashboard",
        "tls": [{ "hosts": ["Not A Host"], "secretName": "Bad_Secret" }]
    }));
    let errors = rust_errors(&bad);
    let paths: Vec<&str> = errors
        .iter()
        .filter_map(|e| e.split_once(": ").map(|(path, _)| path))
        .collect();
    assert_eq!(
        paths,
        [
            "spec.headGroupSpec.ingressOptions.host",
            "spec.headGroupSpec.ingressOptions.path",
            "spec.headGroupSpec.ingressOptions.tls[0].hosts[0]",
            "spec.headGroupSpec.ingressOptions.tls[0].secretName",
        ],
        "{errors:?}"
    );

    let mut unknown = options(json!({ "pathType": "Regex" }));
    let error = from_json_value::<RayCluster>(unknown.take()).expect_err("not a path type");
    assert!(error.to_string().contains("pathType"), "{error}");
}

#[test]
fn ingress_options_without_enable_ingress_are_accepted() {
    // KubeRay ignores them then; so does the operator (`render` says so).
    let doc = cluster(json!({ "headGroupSpec": {
        "template": pod("ray-head"), "ingressOptions": { "host": "ray.example.com" }
    } }));
    assert_eq!(rust_errors(&doc), Vec::<String>::new());
    assert_eq!(
        cel_messages(&schema(false), &doc, None),
        Vec::<String>::new()
    );
}
