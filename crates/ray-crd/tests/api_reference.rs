//! Every field of the API reference is in the CRD schema of its version, with the right JSON type.
//!
//! The list of fields is `api-reference-fields.txt`, derived once from the API reference (see its header).

mod common;

use ray_crd::RayKind;
use ray_crd::path::SchemaPath;
use serde_json::Value;

use common::{crd_json, version_schema};

/// One line of `api-reference-fields.txt`.
struct Field {
    line: usize,
    version: String,
    kind: RayKind,
    path: String,
    json_type: String,
}

fn fields() -> Vec<Field> {
    let text = include_str!("api-reference-fields.txt");
    let mut fields = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line_number = index + 1;
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let parts: Vec<&str> = line.split_whitespace().collect();
        let [version, kind, path, json_type] = parts[..] else {
            panic!(
                "api-reference-fields.txt:{line_number}: expected `<version> <kind> <path> <type>`, got {line:?}"
            );
        };
        let kind = RayKind::ALL
            .into_iter()
            .find(|k| k.name() == kind)
            .unwrap_or_else(|| {
                panic!("api-reference-fields.txt:{line_number}: unknown kind {kind}")
            });
        fields.push(Field {
            line: line_number,
            version: version.to_owned(),
            kind,
            path: path.to_owned(),
            json_type: json_type.to_owned(),
        });
    }
    fields
}

/// Whether `node` has JSON type `expected` (notation of `api-reference-fields.txt`).
fn has_type(node: &Value, expected: &str) -> bool {
    let type_of = |n: &Value| n.get("type").and_then(Value::as_str).map(str::to_owned);
    if expected == "int-or-string" {
        return node.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true));
    }
    if let Some(inner) = expected
        .strip_prefix("array<")
        .and_then(|t| t.strip_suffix('>'))
    {
        return type_of(node).as_deref() == Some("array")
            && node
                .get("items")
                .is_some_and(|items| has_type(items, inner));
    }
    if let Some(inner) = expected
        .strip_prefix("map<")
        .and_then(|t| t.strip_suffix('>'))
    {
        return type_of(node).as_deref() == Some("object")
            && node
                .get("additionalProperties")
                .is_some_and(|values| has_type(values, inner));
    }
    type_of(node).as_deref() == Some(expected)
}

/// Checks every listed field of `version`; returns how many were checked.
fn check_version(version: &str) -> usize {
    let mut problems = Vec::new();
    let mut checked = 0;
    let crds: Vec<(RayKind, Value)> = RayKind::ALL.into_iter().map(|k| (k, crd_json(k))).collect();
    for field in fields().into_iter().filter(|f| f.version == version) {
        checked += 1;
        let Some((_, crd)) = crds.iter().find(|(k, _)| *k == field.kind) else {
            continue;
        };
        let Some(schema) = version_schema(crd, version) else {
            problems.push(format!(
                "{} has no version {version}",
                field.kind.crd_name()
            ));
            break;
        };
        let Some(path) = SchemaPath::parse(&field.path) else {
            panic!(
                "api-reference-fields.txt:{}: malformed path {}",
                field.line, field.path
            );
        };
        match path.resolve(schema) {
            None => problems.push(format!("{version} {} {}: missing", field.kind, field.path)),
            Some(node) if !has_type(node, &field.json_type) => problems.push(format!(
                "{version} {} {}: expected {}, schema has {}",
                field.kind,
                field.path,
                field.json_type,
                serde_json::to_string(node)
                    .unwrap_or_default()
                    .chars()
                    .take(160)
                    .collect::<String>()
            )),
            Some(_) => {}
        }
    }
    assert!(
        problems.is_empty(),
        "{} of {checked} fields are wrong:\n{}",
        problems.len(),
        problems.join("\n")
    );
    checked
}

#[test]
fn every_v1_field_has_its_json_type() {
    let checked = check_version("v1");
    assert!(
        checked > 150,
        "the list covers the v1 reference and status ({checked} fields)"
    );
}

#[test]
fn every_v1alpha1_field_has_its_json_type() {
    let checked = check_version("v1alpha1");
    assert!(
        checked > 100,
        "the list covers the v1alpha1 reference ({checked} fields)"
    );
}

#[test]
fn the_type_check_rejects_wrong_types() {
    let schema = serde_json::json!({
        "type": "array",
        "items": { "type": "object" }
    });
    assert!(has_type(&schema, "array<object>"));
    assert!(!has_type(&schema, "array<string>"));
    assert!(!has_type(&schema, "object"));
    let map = serde_json::json!({ "type": "object", "additionalProperties": { "type": "string" } });
    assert!(has_type(&map, "map<string>"));
    assert!(has_type(&map, "object"));
    assert!(!has_type(
        &serde_json::json!({ "type": "object" }),
        "map<string>"
    ));
    assert!(has_type(
        &serde_json::json!({ "x-kubernetes-int-or-string": true }),
        "int-or-string"
    ));
    assert!(!has_type(
        &serde_json::json!({ "type": "string" }),
        "int-or-string"
    ));
}
