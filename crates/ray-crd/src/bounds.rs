//! OpenAPI bounds on the embedded Kubernetes types, so that `kubectl apply` already rejects the most common
//! mistakes in what becomes a Pod or Service (a container without an image, a port out of range, an unknown
//! protocol), even on a cluster without the operator's validating webhook.
//!
//! These are the cheapest of the API server's Pod and Service rules: plain `required`, `minLength`, `maxLength`,
//! `minimum`, `maximum` and `enum` keywords, which cost nothing in the API server's CEL budget and a few bytes each
//! in the size budget. The full set of rules (names, environment, resources, volumes, ...) is in
//! `ray_api_v1::validation`, enforced by the webhook, the operator and `ray-operator render`.

use serde_json::{Map, Value, json};

use crate::path::{SchemaPath, Step};

/// Where pod templates are embedded (the same suffixes as the shrink table).
const POD_TEMPLATES: [&str; 3] = [
    "headGroupSpec.template",
    "workerGroupSpecs[].template",
    "submitterPodTemplate",
];

/// Where Services are embedded.
const SERVICES: [&str; 2] = ["headGroupSpec.headService", "serveService"];

/// A set of keywords added to the schema at `path` (relative to an embedding); `required` entries are added to
/// the node's `required` list.
struct Bound {
    path: &'static str,
    keywords: fn() -> Value,
}

/// Bounds inside every container list of a pod template (`containers` and `initContainers`).
const CONTAINER: &[Bound] = &[
    Bound {
        path: "",
        keywords: || json!({ "required": ["image"] }),
    },
    Bound {
        path: "image",
        keywords: || json!({ "minLength": 1 }),
    },
    Bound {
        path: "ports[].containerPort",
        keywords: || json!({ "minimum": 1, "maximum": 65535 }),
    },
    Bound {
        path: "ports[].hostPort",
        keywords: || json!({ "minimum": 0, "maximum": 65535 }),
    },
    Bound {
        path: "ports[].name",
        keywords: || json!({ "maxLength": 15 }),
    },
    Bound {
        path: "ports[].protocol",
        keywords: || json!({ "enum": ["TCP", "UDP", "SCTP"] }),
    },
];

/// Bounds inside an embedded Service.
const SERVICE: &[Bound] = &[
    Bound {
        path: "spec.ports[].port",
        keywords: || json!({ "minimum": 1, "maximum": 65535 }),
    },
    Bound {
        path: "spec.ports[].nodePort",
        keywords: || json!({ "minimum": 0, "maximum": 65535 }),
    },
    // A Service port's name is a DNS-1123 label (63 characters), unlike a container port's (15).
    Bound {
        path: "spec.ports[].name",
        keywords: || json!({ "maxLength": 63 }),
    },
    Bound {
        path: "spec.ports[].protocol",
        keywords: || json!({ "enum": ["TCP", "UDP", "SCTP"] }),
    },
];

/// An embedding and the bound tables applied under it, each below a base path (`spec.containers[]`).
type Target = (SchemaPath, Vec<(&'static str, &'static [Bound])>);

/// A bound whose target is missing from the generated schema: a bug in this table (for example after a
/// Kubernetes upgrade renamed a field), never caused by user input.
#[derive(Debug, thiserror::Error)]
#[error("bounds table: no `{path}` under `{at}`")]
pub struct BoundsError {
    /// Where the embedded type is.
    pub at: String,
    /// The bound's path inside it.
    pub path: &'static str,
}

/// Adds the bounds to a version's `openAPIV3Schema` in place; returns the full paths of the nodes it changed.
pub fn add_bounds(schema: &mut Value) -> Result<Vec<String>, BoundsError> {
    let mut changed = Vec::new();
    let mut targets: Vec<Target> = Vec::new();
    for at in POD_TEMPLATES {
        targets.push((
            parse(at),
            vec![
                ("spec.containers[]", CONTAINER),
                ("spec.initContainers[]", CONTAINER),
            ],
        ));
    }
    for at in SERVICES {
        targets.push((parse(at), vec![("", SERVICE)]));
    }
    walk(schema, &SchemaPath::default(), &targets, &mut changed)?;
    Ok(changed)
}

fn parse(path: &'static str) -> SchemaPath {
    // The table's paths are literals in this file; the unit test below parses every one of them.
    SchemaPath::parse(path).unwrap_or_default()
}

fn walk(
    node: &mut Value,
    path: &SchemaPath,
    targets: &[Target],
    changed: &mut Vec<String>,
) -> Result<(), BoundsError> {
    if let Some((_, groups)) = targets.iter().find(|(at, _)| path.ends_with(at)) {
        for (base, bounds) in groups {
            for bound in *bounds {
                let relative = parse(base).join(&parse(bound.path));
                let missing = || BoundsError {
                    at: path.to_string(),
                    path: bound.path,
                };
                let target = relative.resolve_mut(node).ok_or_else(missing)?;
                apply(target, (bound.keywords)()).ok_or_else(missing)?;
                changed.push(path.join(&relative).to_string());
            }
        }
        return Ok(());
    }
    if let Some(Value::Object(properties)) = node.get_mut("properties") {
        for (name, child) in properties.iter_mut() {
            walk(
                child,
                &path.child(Step::Property(name.clone())),
                targets,
                changed,
            )?;
        }
    }
    if let Some(items) = node.get_mut("items") {
        walk(items, &path.child(Step::Items), targets, changed)?;
    }
    if let Some(values @ Value::Object(_)) = node.get_mut("additionalProperties") {
        walk(values, &path.child(Step::Values), targets, changed)?;
    }
    Ok(())
}

/// Adds `keywords` to `node`: `required` entries join its list, the others are set.
fn apply(node: &mut Value, keywords: Value) -> Option<()> {
    let map: &mut Map<String, Value> = node.as_object_mut()?;
    let Value::Object(keywords) = keywords else {
        return None;
    };
    for (key, value) in keywords {
        if key == "required" {
            let list = map
                .entry("required")
                .or_insert_with(|| Value::Array(Vec::new()))
                .as_array_mut()?;
            for name in value.as_array()? {
                if !list.contains(name) {
                    list.push(name.clone());
                }
            }
        } else {
            map.insert(key, value);
        }
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_table_path_parses() {
        for path in POD_TEMPLATES.iter().chain(SERVICES.iter()) {
            assert!(SchemaPath::parse(path).is_some(), "{path}");
        }
        for bound in CONTAINER.iter().chain(SERVICE) {
            assert!(SchemaPath::parse(bound.path).is_some(), "{}", bound.path);
            assert!((bound.keywords)().is_object(), "{}", bound.path);
        }
    }

    #[test]
    fn required_entries_are_merged() {
        let mut node = json!({ "required": ["name"], "properties": {} });
        assert_eq!(
            apply(&mut node, json!({ "required": ["image", "name"] })),
            Some(())
        );
        assert_eq!(node["required"], json!(["name", "image"]));
    }
}
