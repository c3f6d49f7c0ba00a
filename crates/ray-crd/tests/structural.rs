//! The published schemas are structural (what the API server requires of a CRD schema), and the shrinking is
//! lossless: a manifest using the opaque subtrees survives the API server's pruning unchanged.
//!
//! The rules checked here are those of `k8s.io/apiextensions-apiserver/pkg/apiserver/schema/validation.go` that our
//! generator could break, plus this project's own stricter ones (an opaque subtree is always `type: object`). Only a
//! real API server proves the rest (CEL cost estimates, defaults); see docs/crds.md.

mod common;

use std::collections::BTreeSet;

use ray_crd::RayKind;
use serde_json::{Value, json};

use common::{crd_json, version_names, version_schema};

/// Keywords the API server rejects anywhere in a CRD schema.
const FORBIDDEN: &[&str] = &[
    "$ref",
    "$schema",
    "$defs",
    "definitions",
    "id",
    "patternProperties",
    "dependencies",
    "additionalItems",
    "const",
];

/// Keywords that must not appear inside `allOf`/`anyOf`/`oneOf`/`not` (they belong in the structural part).
const NOT_IN_VALUE_VALIDATION: &[&str] = &[
    "type",
    "nullable",
    "default",
    "description",
    "title",
    "additionalProperties",
    "items",
];

#[derive(Clone, Copy, PartialEq)]
enum Level {
    Root,
    Field,
    Item,
}

fn check(node: &Value, path: &str, level: Level, problems: &mut Vec<String>) {
    let Some(map) = node.as_object() else {
        problems.push(format!("{path}: a schema must be an object"));
        return;
    };
    let flag = |key: &str| map.get(key) == Some(&Value::Bool(true));
    let type_ = map.get("type").and_then(Value::as_str);
    let int_or_string = flag("x-kubernetes-int-or-string");
    let preserve = flag("x-kubernetes-preserve-unknown-fields");

    for key in FORBIDDEN {
        if map.contains_key(*key) {
            problems.push(format!("{path}: `{key}` is not allowed in a CRD schema"));
        }
    }
    if type_.is_none() && !int_or_string && !preserve {
        problems.push(format!("{path}: `type` must not be empty"));
    }
    if preserve && type_ != Some("object") {
        problems.push(format!(
            "{path}: x-kubernetes-preserve-unknown-fields needs `type: object`"
        ));
    }
    if preserve && int_or_string {
        problems.push(format!(
            "{path}: int-or-string cannot preserve unknown fields"
        ));
    }
    if flag("nullable") && type_.is_none() && !int_or_string {
        problems.push(format!("{path}: `nullable` without a type"));
    }
    if type_ == Some("array") && !map.contains_key("items") {
        problems.push(format!("{path}: an array needs `items`"));
    }
    if map.contains_key("properties") && map.contains_key("additionalProperties") {
        problems.push(format!(
            "{path}: `properties` and `additionalProperties` are mutually exclusive"
        ));
    }
    if level == Level::Root {
        if type_ != Some("object") {
            problems.push(format!("{path}: the root must be `type: object`"));
        }
        if map.contains_key("additionalProperties") {
            problems.push(format!("{path}: no `additionalProperties` at the root"));
        }
        if let Some(metadata) = map.get("properties").and_then(|p| p.get("metadata"))
            && metadata != &json!({ "type": "object" })
        {
            problems.push(format!(
                "{path}.metadata: the root metadata may only be `type: object`"
            ));
        }
    }
    if let Some(required) = map.get("required").and_then(Value::as_array) {
        let properties = map.get("properties").and_then(Value::as_object);
        for name in required.iter().filter_map(Value::as_str) {
            if !properties.is_some_and(|p| p.contains_key(name)) {
                problems.push(format!("{path}: required field `{name}` has no schema"));
            }
        }
    }
    if map.get("x-kubernetes-list-type").and_then(Value::as_str) == Some("map") {
        let items = &map["items"];
        let keys = map
            .get("x-kubernetes-list-map-keys")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if keys.is_empty() {
            problems.push(format!(
                "{path}: a list-type map needs x-kubernetes-list-map-keys"
            ));
        }
        for key in keys.iter().filter_map(Value::as_str) {
            let required = items["required"]
                .as_array()
                .is_some_and(|r| r.iter().any(|r| r == key));
            let defaulted = items["properties"][key].get("default").is_some();
            if !required && !defaulted {
                problems.push(format!(
                    "{path}: list-map key `{key}` must be required or defaulted"
                ));
            }
        }
    }
    for rule in map
        .get("x-kubernetes-validations")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if rule["rule"].as_str().is_none_or(str::is_empty) {
            problems.push(format!("{path}: a CEL validation without a rule"));
        }
    }
    for keyword in ["allOf", "anyOf", "oneOf", "not"] {
        let branches: Vec<&Value> = match map.get(keyword) {
            Some(Value::Array(list)) => list.iter().collect(),
            Some(single) => vec![single],
            None => continue,
        };
        for branch in branches {
            check_value_validation(branch, map, &format!("{path}.{keyword}"), problems);
        }
    }

    if let Some(properties) = map.get("properties").and_then(Value::as_object) {
        for (name, child) in properties {
            check(child, &format!("{path}.{name}"), Level::Field, problems);
        }
    }
    if let Some(items) = map.get("items") {
        check(items, &format!("{path}[]"), Level::Item, problems);
    }
    if let Some(values @ Value::Object(_)) = map.get("additionalProperties") {
        check(values, &format!("{path}{{}}"), Level::Field, problems);
    }
}

/// A value-validation branch may only restrict what the structural part already specifies.
fn check_value_validation(
    branch: &Value,
    outer: &serde_json::Map<String, Value>,
    path: &str,
    problems: &mut Vec<String>,
) {
    let Some(map) = branch.as_object() else {
        return;
    };
    let int_or_string = outer.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true));
    for key in NOT_IN_VALUE_VALIDATION {
        if map.contains_key(*key) && !(int_or_string && *key == "type") {
            problems.push(format!(
                "{path}: `{key}` is not allowed inside value validation"
            ));
        }
    }
    if map.keys().any(|k| k.starts_with("x-kubernetes-")) {
        problems.push(format!(
            "{path}: x-kubernetes extensions are not allowed inside value validation"
        ));
    }
    if let Some(properties) = map.get("properties").and_then(Value::as_object) {
        let outer_properties = outer.get("properties").and_then(Value::as_object);
        for name in properties.keys() {
            if !outer_properties.is_some_and(|p| p.contains_key(name)) {
                problems.push(format!(
                    "{path}: `{name}` is not specified outside value validation"
                ));
            }
        }
    }
}

#[test]
fn every_published_schema_is_structural() {
    let mut problems = Vec::new();
    for kind in RayKind::ALL {
        let crd = crd_json(kind);
        for version in version_names(&crd) {
            let schema = version_schema(&crd, &version).expect("every version has a schema");
            check(
                schema,
                &format!("{kind} {version}"),
                Level::Root,
                &mut problems,
            );
        }
    }
    assert!(
        problems.is_empty(),
        "not structural:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_checker_catches_non_structural_schemas() {
    let bad = json!({
        "type": "object",
        "properties": {
            "untyped": {},
            "opaque": { "x-kubernetes-preserve-unknown-fields": true },
            "list": { "type": "array" },
            "both": { "type": "object", "properties": {}, "additionalProperties": { "type": "string" } },
            "nullable": { "nullable": true, "enum": ["a"] },
            "keyed": {
                "type": "array",
                "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["name"],
                "items": { "type": "object", "properties": { "name": { "type": "string" } } }
            },
            "validated": { "type": "object", "anyOf": [{ "type": "object" }] },
            "ref": { "$ref": "#/x" }
        }
    });
    let mut problems = Vec::new();
    check(&bad, "bad", Level::Root, &mut problems);
    for expected in [
        "bad.untyped: `type` must not be empty",
        "bad.opaque: x-kubernetes-preserve-unknown-fields needs `type: object`",
        "bad.list: an array needs `items`",
        "bad.both: `properties` and `additionalProperties` are mutually exclusive",
        "bad.nullable: `nullable` without a type",
        "bad.keyed: list-map key `name` must be required or defaulted",
        "bad.validated.anyOf: `type` is not allowed inside value validation",
        "bad.ref: `$ref` is not allowed in a CRD schema",
    ] {
        assert!(
            problems.iter().any(|p| p == expected),
            "missing {expected:?} in {problems:#?}"
        );
    }
}

/// The API server's pruning: drop every field the schema does not specify, except below
/// `x-kubernetes-preserve-unknown-fields`.
fn prune(value: &mut Value, schema: &Value) {
    match value {
        Value::Object(object) => {
            let preserve =
                schema.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true));
            if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
                object.retain(|key, _| preserve || properties.contains_key(key));
                for (key, child) in object.iter_mut() {
                    if let Some(child_schema) = properties.get(key) {
                        prune(child, child_schema);
                    }
                }
            } else if let Some(values @ Value::Object(_)) = schema.get("additionalProperties") {
                object.values_mut().for_each(|child| prune(child, values));
            } else if !preserve {
                object.clear();
            }
        }
        Value::Array(list) => {
            if let Some(items) = schema.get("items") {
                list.iter_mut().for_each(|child| prune(child, items));
            }
        }
        _ => {}
    }
}

/// A pod template that uses every subtree the shrinking touches, plus the fields the operator reads.
fn busy_pod_template(container: &str) -> Value {
    json!({
        "metadata": { "labels": { "team": "ml" }, "annotations": { "note": "kept" } },
        "spec": {
            "restartPolicy": "Never",
            "containers": [{
                "name": container,
                "image": "rayproject/ray:2.9.0",
                "command": ["/bin/bash", "-lc", "--"],
                "args": ["ray start"],
                "env": [{ "name": "A", "valueFrom": { "fieldRef": { "fieldPath": "status.podIP" } } }],
                "envFrom": [{ "configMapRef": { "name": "cfg" } }],
                "ports": [{ "containerPort": 6379, "name": "gcs" }],
                "resources": { "limits": { "cpu": "1", "nvidia.com/gpu": 1 }, "requests": { "memory": "2Gi" } },
                "volumeMounts": [{ "name": "logs", "mountPath": "/tmp/ray" }],
                "readinessProbe": { "exec": { "command": ["true"] }, "periodSeconds": 5 },
                "securityContext": { "capabilities": { "add": ["SYS_PTRACE"] } },
                "lifecycle": { "preStop": { "exec": { "command": ["ray", "stop"] } } }
            }],
            "affinity": {
                "nodeAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": {
                        "nodeSelectorTerms": [{
                            "matchExpressions": [{ "key": "gpu", "operator": "In", "values": ["a100"] }]
                        }]
                    }
                },
                "podAntiAffinity": {
                    "preferredDuringSchedulingIgnoredDuringExecution": [{
                        "weight": 10,
                        "podAffinityTerm": { "topologyKey": "kubernetes.io/hostname" }
                    }]
                }
            },
            "volumes": [
                { "name": "logs", "emptyDir": { "sizeLimit": "1Gi" } },
                { "name": "cfg", "configMap": { "name": "cfg", "items": [{ "key": "a", "path": "b" }] } },
                { "name": "data", "persistentVolumeClaim": { "claimName": "data" } },
                { "name": "tok", "projected": { "sources": [{ "serviceAccountToken": { "path": "t" } }] } }
            ],
            "tolerations": [{ "key": "gpu", "operator": "Exists", "effect": "NoSchedule" }],
            "nodeSelector": { "pool": "gpu" }
        }
    })
}

fn busy_cluster_spec() -> Value {
    json!({
        "rayVersion": "2.9.0",
        "headGroupSpec": {
            "rayStartParams": { "dashboard-host": "0.0.0.0" },
            "headService": { "metadata": { "annotations": { "a": "b" } }, "spec": { "type": "ClusterIP" } },
            "template": busy_pod_template("ray-head")
        },
        "workerGroupSpecs": [{
            "groupName": "gpu",
            "replicas": 1,
            "minReplicas": 0,
            "maxReplicas": 4,
            "rayStartParams": {},
            "template": busy_pod_template("ray-worker")
        }]
    })
}

fn busy_spec(kind: RayKind) -> Value {
    match kind {
        RayKind::RayCluster => busy_cluster_spec(),
        RayKind::RayJob => json!({
            "entrypoint": "python main.py",
            "rayClusterSpec": busy_cluster_spec(),
            "submitterPodTemplate": busy_pod_template("submitter")
        }),
        RayKind::RayService => json!({
            "serveConfigV2": "applications: []",
            "rayClusterConfig": busy_cluster_spec(),
            "serveService": { "metadata": { "name": "serve" }, "spec": { "ports": [{ "port": 8000 }] } }
        }),
        RayKind::RayCronJob => json!({
            "schedule": "0 3 * * *",
            "timeZone": "Europe/Berlin",
            "jobTemplate": busy_spec(RayKind::RayJob)
        }),
    }
}

#[test]
fn pruning_keeps_everything_a_user_can_set() {
    for kind in RayKind::ALL {
        let crd = crd_json(kind);
        for version in version_names(&crd) {
            let schema = version_schema(&crd, &version).expect("schema");
            let object = json!({ "spec": busy_spec(kind) });
            let mut pruned = object.clone();
            prune(&mut pruned, schema);
            assert_eq!(
                pruned, object,
                "{kind} {version}: pruning changed a valid manifest"
            );
        }
    }
}

#[test]
fn only_fields_that_cannot_carry_data_were_removed() {
    // Ephemeral containers in a template and a Service's status are pruned (and rejected by kubectl's strict
    // field validation): Kubernetes would refuse or discard them anyway when the operator creates the objects.
    let crd = crd_json(RayKind::RayService);
    let schema = version_schema(&crd, "v1").expect("schema");
    let mut spec = busy_spec(RayKind::RayService);
    spec["rayClusterConfig"]["headGroupSpec"]["template"]["spec"]["ephemeralContainers"] =
        json!([{ "name": "debug" }]);
    spec["serveService"]["status"] = json!({ "loadBalancer": {} });
    let mut pruned = json!({ "spec": spec });
    prune(&mut pruned, schema);
    assert_eq!(pruned, json!({ "spec": busy_spec(RayKind::RayService) }));
}

#[test]
fn the_pruner_drops_unknown_fields() {
    let schema = json!({ "type": "object", "properties": { "a": { "type": "string" } } });
    let mut value = json!({ "a": "x", "b": "y" });
    prune(&mut value, &schema);
    assert_eq!(value, json!({ "a": "x" }));
}

/// Every description found in the JSON schema of a Kubernetes type.
fn kubernetes_descriptions(schema: &Value, into: &mut BTreeSet<String>) {
    match schema {
        Value::Object(map) => {
            for (key, value) in map {
                match (key.as_str(), value) {
                    ("description", Value::String(text)) => {
                        into.insert(text.clone());
                    }
                    _ => kubernetes_descriptions(value, into),
                }
            }
        }
        Value::Array(list) => list.iter().for_each(|v| kubernetes_descriptions(v, into)),
        _ => {}
    }
}

fn crd_descriptions(node: &Value, path: &str, found: &mut Vec<(String, String)>) {
    let Some(map) = node.as_object() else { return };
    if let Some(Value::String(text)) = map.get("description") {
        found.push((path.to_owned(), text.clone()));
    }
    if let Some(properties) = map.get("properties").and_then(Value::as_object) {
        for (name, child) in properties {
            crd_descriptions(child, &format!("{path}.{name}"), found);
        }
    }
    if let Some(items) = map.get("items") {
        crd_descriptions(items, &format!("{path}[]"), found);
    }
    if let Some(values @ Value::Object(_)) = map.get("additionalProperties") {
        crd_descriptions(values, &format!("{path}{{}}"), found);
    }
}

#[test]
fn no_description_of_an_embedded_kubernetes_type_is_left() {
    use k8s_openapi::api::core::v1::{PodTemplateSpec, Service};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;

    let mut kubernetes = BTreeSet::new();
    for schema in [
        schemars::schema_for!(PodTemplateSpec),
        schemars::schema_for!(Service),
        schemars::schema_for!(Condition),
    ] {
        kubernetes_descriptions(
            &serde_json::to_value(schema).expect("schema to JSON"),
            &mut kubernetes,
        );
    }
    assert!(
        kubernetes.len() > 500,
        "collected Kubernetes' descriptions ({})",
        kubernetes.len()
    );

    let mut left = Vec::new();
    for kind in RayKind::ALL {
        let crd = crd_json(kind);
        for version in version_names(&crd) {
            let mut found = Vec::new();
            crd_descriptions(
                version_schema(&crd, &version).expect("schema"),
                &format!("{kind} {version}"),
                &mut found,
            );
            assert!(
                found.len() > 20,
                "{kind} {version}: our own descriptions are kept"
            );
            left.extend(
                found
                    .into_iter()
                    .filter(|(_, text)| kubernetes.contains(text))
                    .map(|(path, _)| path),
            );
        }
    }
    assert!(
        left.is_empty(),
        "descriptions copied from Kubernetes types (add the embedding to shrink::EMBEDDINGS):\n{}",
        left.join("\n")
    );
}
