//! The preserved-fields annotation: values one API version cannot hold, carried on the object in the other version.
//!
//! The annotation value is a compact JSON array of entries, each naming one field of the object's `spec` or
//! `status` by a path and saying what to put back there:
//!
//! ```json
//! [{"path":"/spec/workerGroupSpecs/groupName=gpu/numOfHosts","value":4},
//!  {"path":"/spec/entrypoint","shown":""}]
//! ```
//!
//! - `path` is a JSON Pointer (RFC 6901: segments separated by `/`, `~1` for a `/` and `~0` for a `~` inside a
//!   segment), with one addition: in a list of worker groups a segment `groupName=<name>` selects the group by its
//!   name rather than by its position, so removing or reordering groups never moves a value to another group.
//! - `value` is the value to put back. An entry without `value` removes the field.
//! - `shown` is what the object showed at that path when the annotation was written (an entry without `shown`
//!   expects the field to be absent). An entry is applied only while that is still true, so a field a user changed
//!   through the other version keeps the user's value.
//!
//! An entry whose parent no longer exists (a removed worker group, a removed `rayClusterSpec`, ...) is skipped:
//! nothing is resurrected.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

/// Lists whose elements are identified by a key field rather than by their position: field name → key field.
const KEYED_LISTS: &[(&str, &str)] = &[("workerGroupSpecs", "groupName")];

/// The top-level parts of an object that entries may touch. Metadata is never changed by a conversion.
const BODY_FIELDS: &[&str] = &["spec", "status"];

/// One field the other API version cannot hold.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub(crate) struct Entry {
    /// Where the field is, as described in the module documentation.
    path: String,
    /// The value to put back; `None` removes the field.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    value: Option<Value>,
    /// What the object showed at `path` when the entry was written; `None` means the field was absent.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    shown: Option<Value>,
}

/// Deserializes a field that is present (even as `null`) into `Some`, so that only a missing key means `None`.
fn present<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(deserializer).map(Some)
}

/// What happened to one entry when it was applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The value was put back (or the field removed).
    Applied,
    /// The entry no longer fits the object (its parent is gone, or the field was edited) and was left out.
    Skipped,
}

/// Keeps only `spec` and `status` of a serialized object: the parts that differ between the API versions.
pub(crate) fn body(object: &Value) -> Value {
    let mut out = Map::new();
    if let Value::Object(fields) = object {
        for name in BODY_FIELDS {
            if let Some(value) = fields.get(*name) {
                out.insert((*name).to_owned(), value.clone());
            }
        }
    }
    Value::Object(out)
}

/// Computes the entries that turn `shown` (the object as the other version can show it) back into `original`.
pub(crate) fn diff(original: &Value, shown: &Value) -> Vec<Entry> {
    let mut entries = Vec::new();
    diff_at(&mut Vec::new(), Some(original), Some(shown), &mut entries);
    entries
}

fn diff_at(
    path: &mut Vec<String>,
    original: Option<&Value>,
    shown: Option<&Value>,
    out: &mut Vec<Entry>,
) {
    if original == shown {
        return;
    }
    match (original, shown) {
        (Some(Value::Object(original)), Some(Value::Object(shown))) => {
            let keys: std::collections::BTreeSet<&String> =
                original.keys().chain(shown.keys()).collect();
            for key in keys {
                path.push(key.clone());
                diff_at(path, original.get(key), shown.get(key), out);
                path.pop();
            }
            return;
        }
        (Some(Value::Array(original)), Some(Value::Array(shown))) => {
            if let Some(key_field) = path.last().and_then(|name| key_field_of(name))
                && let (Some(original_keys), Some(shown_keys)) = (
                    element_keys(original, key_field),
                    element_keys(shown, key_field),
                )
                && original_keys == shown_keys
            {
                for ((key, original), shown) in original_keys.iter().zip(original).zip(shown) {
                    path.push(format!("{key_field}={key}"));
                    diff_at(path, Some(original), Some(shown), out);
                    path.pop();
                }
                return;
            }
        }
        _ => {}
    }
    out.push(Entry {
        path: to_pointer(path),
        value: original.cloned(),
        shown: shown.cloned(),
    });
}

/// The key field of a keyed list, by the list's field name.
fn key_field_of(list_name: &str) -> Option<&'static str> {
    KEYED_LISTS
        .iter()
        .find(|(name, _)| *name == list_name)
        .map(|(_, key)| *key)
}

/// The key of every element, when every element is an object with a distinct string key.
fn element_keys<'a>(elements: &'a [Value], key_field: &str) -> Option<Vec<&'a str>> {
    let mut keys = Vec::with_capacity(elements.len());
    for element in elements {
        let key = element.get(key_field)?.as_str()?;
        if keys.contains(&key) {
            return None;
        }
        keys.push(key);
    }
    Some(keys)
}

fn to_pointer(path: &[String]) -> String {
    path.iter()
        .map(|segment| format!("/{}", segment.replace('~', "~0").replace('/', "~1")))
        .collect()
}

/// Parses an entry's path into its segments, refusing paths outside `spec` and `status`.
fn parse_pointer(pointer: &str) -> Result<Vec<String>, String> {
    let Some(rest) = pointer.strip_prefix('/') else {
        return Err(format!("path `{pointer}` does not start with `/`"));
    };
    let segments: Vec<String> = rest
        .split('/')
        .map(|segment| segment.replace("~1", "/").replace("~0", "~"))
        .collect();
    match segments.first() {
        Some(first) if BODY_FIELDS.contains(&first.as_str()) => Ok(segments),
        _ => Err(format!(
            "path `{pointer}` must point inside `/spec` or `/status`"
        )),
    }
}

/// Parses an annotation value into entries.
pub(crate) fn parse(text: &str) -> Result<Vec<Entry>, String> {
    let entries: Vec<Entry> = serde_json::from_str(text).map_err(|error| {
        format!("it is not a JSON list of {{\"path\", \"value\", \"shown\"}} entries ({error})")
    })?;
    for entry in &entries {
        parse_pointer(&entry.path)?;
    }
    Ok(entries)
}

/// Renders entries as the annotation value.
pub(crate) fn render(entries: &[Entry]) -> String {
    // Serializing a list of plain JSON values cannot fail; fall back to an empty list rather than panic.
    serde_json::to_string(entries).unwrap_or_else(|_| "[]".to_owned())
}

/// Applies one entry to a serialized object (or its body). Fails only when the path itself is malformed.
pub(crate) fn apply(object: &mut Value, entry: &Entry) -> Result<Outcome, String> {
    let segments = parse_pointer(&entry.path)?;
    let Some((last, parents)) = segments.split_last() else {
        return Err(format!("path `{}` is empty", entry.path));
    };
    let mut node = object;
    for segment in parents {
        let next = match node {
            Value::Object(fields) => fields.get_mut(segment),
            Value::Array(elements) => select_keyed(elements, segment),
            _ => None,
        };
        match next {
            Some(next) => node = next,
            None => return Ok(Outcome::Skipped),
        }
    }
    let Value::Object(fields) = node else {
        return Ok(Outcome::Skipped);
    };
    if fields.get(last) != entry.shown.as_ref() {
        return Ok(Outcome::Skipped);
    }
    match &entry.value {
        Some(value) => {
            fields.insert(last.clone(), value.clone());
        }
        None => {
            fields.remove(last);
        }
    }
    Ok(Outcome::Applied)
}

/// Finds the one element of a keyed list that a `key=value` segment names.
fn select_keyed<'a>(elements: &'a mut [Value], segment: &str) -> Option<&'a mut Value> {
    let (key_field, key) = segment.split_once('=')?;
    let mut matches = elements
        .iter_mut()
        .filter(|element| element.get(key_field).and_then(Value::as_str) == Some(key));
    let found = matches.next()?;
    if matches.next().is_some() {
        return None;
    }
    Some(found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn diff_keys_worker_groups_by_name_and_apply_restores() {
        let original = json!({"spec": {"workerGroupSpecs": [
            {"groupName": "a", "numOfHosts": 2},
            {"groupName": "b/c~d", "replicas": 1}
        ]}});
        let shown = json!({"spec": {"workerGroupSpecs": [
            {"groupName": "a"},
            {"groupName": "b/c~d", "replicas": 1}
        ]}});
        let entries = diff(&original, &shown);
        assert_eq!(
            entries,
            vec![Entry {
                path: "/spec/workerGroupSpecs/groupName=a/numOfHosts".into(),
                value: Some(json!(2)),
                shown: None
            }]
        );
        let mut target = shown.clone();
        for entry in &entries {
            assert_eq!(apply(&mut target, entry), Ok(Outcome::Applied));
        }
        assert_eq!(target, original);
    }

    #[test]
    fn segments_with_slashes_and_tildes_round_trip() {
        let original = json!({"status": {"apps": {"a/b~c": {"x": 1}}}});
        let shown = json!({"status": {"apps": {"a/b~c": {}}}});
        let entries = diff(&original, &shown);
        assert_eq!(entries[0].path, "/status/apps/a~1b~0c/x");
        let mut target = shown;
        assert_eq!(apply(&mut target, &entries[0]), Ok(Outcome::Applied));
        assert_eq!(target, original);
    }

    #[test]
    fn duplicate_group_names_fall_back_to_the_whole_list() {
        let original =
            json!({"spec": {"workerGroupSpecs": [{"groupName": "a", "n": 1}, {"groupName": "a"}]}});
        let shown = json!({"spec": {"workerGroupSpecs": [{"groupName": "a"}, {"groupName": "a"}]}});
        let entries = diff(&original, &shown);
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].path, "/spec/workerGroupSpecs");
        let mut target = shown;
        assert_eq!(apply(&mut target, &entries[0]), Ok(Outcome::Applied));
        assert_eq!(target, original);
    }

    #[test]
    fn an_edited_field_keeps_the_edit() {
        let entry = Entry {
            path: "/status/jobDeploymentStatus".into(),
            value: Some(json!("Retrying")),
            shown: Some(json!("Running")),
        };
        let mut edited = json!({"status": {"jobDeploymentStatus": "Complete"}});
        assert_eq!(apply(&mut edited, &entry), Ok(Outcome::Skipped));
        assert_eq!(
            edited,
            json!({"status": {"jobDeploymentStatus": "Complete"}})
        );
        let mut unchanged = json!({"status": {"jobDeploymentStatus": "Running"}});
        assert_eq!(apply(&mut unchanged, &entry), Ok(Outcome::Applied));
        assert_eq!(
            unchanged,
            json!({"status": {"jobDeploymentStatus": "Retrying"}})
        );
    }

    #[test]
    fn a_missing_parent_is_not_resurrected() {
        let entry = Entry {
            path: "/spec/rayClusterSpec/workerGroupSpecs/groupName=gone/numOfHosts".into(),
            value: Some(json!(4)),
            shown: None,
        };
        let mut target =
            json!({"spec": {"rayClusterSpec": {"workerGroupSpecs": [{"groupName": "other"}]}}});
        let before = target.clone();
        assert_eq!(apply(&mut target, &entry), Ok(Outcome::Skipped));
        assert_eq!(target, before);
        let mut no_cluster = json!({"spec": {}});
        assert_eq!(apply(&mut no_cluster, &entry), Ok(Outcome::Skipped));
        assert_eq!(no_cluster, json!({"spec": {}}));
    }

    #[test]
    fn removal_entries_and_null_values_are_distinct() {
        let parsed = parse(r#"[{"path":"/spec/a","shown":""},{"path":"/spec/b","value":null}]"#);
        assert_eq!(
            parsed,
            Ok(vec![
                Entry {
                    path: "/spec/a".into(),
                    value: None,
                    shown: Some(json!(""))
                },
                Entry {
                    path: "/spec/b".into(),
                    value: Some(Value::Null),
                    shown: None
                },
            ])
        );
    }

    #[test]
    fn malformed_annotations_are_rejected_with_a_reason() {
        for (text, expected) in [
            ("not json", "not a JSON list"),
            (r#"{"path":"/spec/a"}"#, "not a JSON list"),
            (
                r#"[{"path":"/metadata/name","value":"x"}]"#,
                "inside `/spec` or `/status`",
            ),
            (
                r#"[{"path":"spec/a","value":1}]"#,
                "does not start with `/`",
            ),
            (r#"[{"path":"/","value":1}]"#, "inside `/spec` or `/status`"),
            (
                r#"[{"path":"/spec/a","value":1,"extra":2}]"#,
                "not a JSON list",
            ),
        ] {
            let error = parse(text).expect_err(text);
            assert!(error.contains(expected), "{text}: {error}");
        }
    }
}
