//! Making the CRD schemas small enough for client-side `kubectl apply`, without dropping anything a user writes.
//!
//! `kubectl apply` (client-side) stores the whole applied object in the `kubectl.kubernetes.io/last-applied-configuration`
//! annotation, and annotations are limited to 262,144 bytes. A CRD that embeds full Kubernetes `PodTemplateSpec`
//! schemas (with all their descriptions) is far bigger: upstream KubeRay's RayJob CRD is about 377 KB, and applying it
//! fails with `metadata.annotations: Too long`. This module rewrites the generated schemas, driven by the table
//! [`EMBEDDINGS`], in three ways:
//!
//! 1. **Descriptions of embedded Kubernetes types are dropped.** They repeat the Kubernetes API documentation
//!    (`kubectl explain pod.spec`), once per pod template and per version. The description of *our* field that holds
//!    the Kubernetes type is kept, and so is every description of our own types: that is the `kubectl explain` text of
//!    the ray.io API. A Kubernetes type as the values of our map or the items of our list (`stateTransitionTimes{}`)
//!    has no field of its own, so all of its text goes; our map's or list's description stays.
//! 2. **Fields that can never carry data are removed** ([`Action::Remove`]): a pod template's `ephemeralContainers`
//!    (the API server rejects Pods created with ephemeral containers: "cannot be set on create") and an embedded
//!    Service's `status` (the API server ignores the status of an object in a create request, and the operator builds
//!    Services from the spec and metadata only). A manifest that sets them is rejected by `kubectl`'s strict field
//!    validation instead of failing later when the operator creates the Pod.
//! 3. **Rarely used, deep subtrees become opaque** ([`Action::Opaque`]): the schema says `type: object` with
//!    `x-kubernetes-preserve-unknown-fields: true`, so the API server stores the subtree exactly as written, and
//!    checks it when the operator creates the Pod from the template (a rejection is reported in the RayCluster's
//!    status). Fields the operator reads itself (containers with their name, image, command, args, env, ports,
//!    resources and volume mounts; pod labels and annotations; restart policy; volume names) keep their full schema.
//!
//! The rewrite works on the generated JSON schema of every version of every kind alike: an embedding is found by the
//! end of its path (`workerGroupSpecs[].template` matches in RayCluster's `spec`, RayJob's `spec.rayClusterSpec` and
//! RayService's `spec.rayClusterConfig`).

use serde_json::{Map, Value};

use crate::path::{SchemaPath, Step};

/// A Kubernetes type embedded in the ray.io schemas, and how its schema is reduced.
#[derive(Debug)]
pub struct Embedding {
    /// The end of the path that leads to the embedded type, for example `workerGroupSpecs[].template`.
    pub at: &'static str,
    /// The Kubernetes type found there (for documentation and error messages).
    pub type_name: &'static str,
    /// Changes inside the embedded type, besides dropping its descriptions.
    pub edits: &'static [Edit],
}

/// One change inside an embedded Kubernetes type.
#[derive(Debug)]
pub struct Edit {
    /// The path inside the embedded type, for example `spec.affinity`.
    pub path: &'static str,
    /// What happens to the schema there.
    pub action: Action,
}

/// What an [`Edit`] does to a schema node.
#[derive(Debug)]
pub enum Action {
    /// Remove the field from the schema. Only for fields that can never carry data; `why` says why.
    Remove {
        /// Why removing the field loses nothing.
        why: &'static str,
    },
    /// Replace the subtree by `type: object` + `x-kubernetes-preserve-unknown-fields: true`: its content is stored as
    /// written and checked by the API server when the operator creates the object. The properties in `keep` keep
    /// their full schema.
    Opaque {
        /// Properties that keep their full schema (the operator reads them).
        keep: &'static [&'static str],
        /// The `kubectl explain` path of the Kubernetes documentation for this subtree.
        explain: &'static str,
    },
}

/// Changes inside every pod template.
const POD_TEMPLATE: &[Edit] = &[
    Edit {
        path: "spec.ephemeralContainers",
        action: Action::Remove {
            why: "the API server rejects a Pod created with ephemeral containers (they can only be added to a \
                  running Pod through its ephemeralcontainers subresource)",
        },
    },
    Edit {
        path: "spec.affinity",
        action: Action::Opaque {
            keep: &[],
            explain: "pod.spec.affinity",
        },
    },
    Edit {
        path: "spec.volumes[]",
        action: Action::Opaque {
            keep: &["name"],
            explain: "pod.spec.volumes",
        },
    },
];

/// Changes inside every embedded Service.
const SERVICE: &[Edit] = &[Edit {
    path: "status",
    action: Action::Remove {
        why: "a Service's status is written by Kubernetes, never by its creator; the operator creates Services from \
              their metadata and spec",
    },
}];

/// Every embedded Kubernetes type of the ray.io schemas (all kinds, all versions) and how it is reduced.
///
/// A Kubernetes type not listed here keeps its full schema, descriptions included; that is safe, only bigger.
pub const EMBEDDINGS: &[Embedding] = &[
    Embedding {
        at: "headGroupSpec.template",
        type_name: "PodTemplateSpec",
        edits: POD_TEMPLATE,
    },
    Embedding {
        at: "workerGroupSpecs[].template",
        type_name: "PodTemplateSpec",
        edits: POD_TEMPLATE,
    },
    Embedding {
        at: "submitterPodTemplate",
        type_name: "PodTemplateSpec",
        edits: POD_TEMPLATE,
    },
    Embedding {
        at: "headGroupSpec.headService",
        type_name: "Service",
        edits: SERVICE,
    },
    Embedding {
        at: "serveService",
        type_name: "Service",
        edits: SERVICE,
    },
    Embedding {
        at: "autoscalerOptions.resources",
        type_name: "ResourceRequirements",
        edits: &[],
    },
    Embedding {
        at: "autoscalerOptions.env",
        type_name: "EnvVar list",
        edits: &[],
    },
    Embedding {
        at: "autoscalerOptions.envFrom",
        type_name: "EnvFromSource list",
        edits: &[],
    },
    Embedding {
        at: "autoscalerOptions.volumeMounts",
        type_name: "VolumeMount list",
        edits: &[],
    },
    Embedding {
        at: "autoscalerOptions.securityContext",
        type_name: "SecurityContext",
        edits: &[],
    },
    Embedding {
        at: "conditions",
        type_name: "Condition list",
        edits: &[],
    },
    Embedding {
        at: "stateTransitionTimes{}",
        type_name: "Time",
        edits: &[],
    },
    // Fields of KubeRay 1.3 to 1.7 (rejected as not supported yet, but part of the schema).
    Embedding {
        at: "headGroupSpec.ingressOptions.tls",
        type_name: "IngressTLS list",
        edits: &[],
    },
    Embedding {
        at: "redisUsername.valueFrom",
        type_name: "EnvVarSource",
        edits: &[],
    },
    Embedding {
        at: "redisPassword.valueFrom",
        type_name: "EnvVarSource",
        edits: &[],
    },
    Embedding {
        at: "collectorOptions.resources",
        type_name: "ResourceRequirements",
        edits: &[],
    },
    Embedding {
        at: "collectorOptions.env",
        type_name: "EnvVar list",
        edits: &[],
    },
    Embedding {
        at: "ingressRules",
        type_name: "NetworkPolicyIngressRule list",
        edits: &[],
    },
    Embedding {
        at: "egressRules",
        type_name: "NetworkPolicyEgressRule list",
        edits: &[],
    },
];

/// A problem with the shrink table itself: it no longer matches the generated schema (for example after a
/// Kubernetes or k8s-openapi upgrade renamed a field). This is a bug in this crate, never caused by user input.
#[derive(Debug, thiserror::Error)]
pub enum ShrinkError {
    /// A path in the table is not valid path notation.
    #[error("shrink table: `{0}` is not a valid schema path")]
    BadPath(&'static str),
    /// An edit's target does not exist in the embedded type.
    #[error("shrink table: {type_name} at `{at}` has no field `{edit}` to reduce")]
    MissingTarget {
        /// Where the embedded type is.
        at: String,
        /// The embedded type.
        type_name: &'static str,
        /// The edit's path inside it.
        edit: &'static str,
    },
    /// An opaque subtree would not be an object (the API server only preserves unknown fields of objects).
    #[error("shrink table: `{at}` is not an object schema, so it cannot be made opaque")]
    NotAnObject {
        /// The full path of the node.
        at: String,
    },
}

/// What one call of [`shrink_schema`] did, for tests and the size report.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ShrinkReport {
    /// Full paths where an embedded Kubernetes type was found (and its descriptions dropped).
    pub embeddings: Vec<String>,
    /// Full paths of removed fields.
    pub removed: Vec<String>,
    /// Full paths of subtrees made opaque.
    pub opaque: Vec<String>,
}

/// How far a schema is reduced; each step includes the ones before it. Used to measure each step's effect.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Only drop descriptions of embedded Kubernetes types.
    Descriptions,
    /// Also remove fields that can never carry data.
    Lossless,
    /// Also make the listed subtrees opaque (what the published CRDs use).
    Full,
}

/// Reduces a version's `openAPIV3Schema` in place, as described in the module docs.
pub fn shrink_schema(schema: &mut Value) -> Result<ShrinkReport, ShrinkError> {
    shrink_schema_to(schema, Level::Full)
}

/// Like [`shrink_schema`], stopping at `level`.
pub fn shrink_schema_to(schema: &mut Value, level: Level) -> Result<ShrinkReport, ShrinkError> {
    let table = EMBEDDINGS
        .iter()
        .map(|e| {
            SchemaPath::parse(e.at)
                .map(|p| (p, e))
                .ok_or(ShrinkError::BadPath(e.at))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut report = ShrinkReport::default();
    walk(schema, &SchemaPath::default(), &table, level, &mut report)?;
    Ok(report)
}

fn walk(
    node: &mut Value,
    path: &SchemaPath,
    table: &[(SchemaPath, &Embedding)],
    level: Level,
    report: &mut ShrinkReport,
) -> Result<(), ShrinkError> {
    if let Some((_, embedding)) = table.iter().find(|(at, _)| path.ends_with(at)) {
        return reduce(node, path, embedding, level, report);
    }
    if let Some(Value::Object(properties)) = node.get_mut("properties") {
        for (name, child) in properties.iter_mut() {
            walk(
                child,
                &path.child(Step::Property(name.clone())),
                table,
                level,
                report,
            )?;
        }
    }
    if let Some(items) = node.get_mut("items") {
        walk(items, &path.child(Step::Items), table, level, report)?;
    }
    if let Some(values @ Value::Object(_)) = node.get_mut("additionalProperties") {
        walk(values, &path.child(Step::Values), table, level, report)?;
    }
    Ok(())
}

fn reduce(
    node: &mut Value,
    path: &SchemaPath,
    embedding: &Embedding,
    level: Level,
    report: &mut ShrinkReport,
) -> Result<(), ShrinkError> {
    report.embeddings.push(path.to_string());
    // A node reached through a property carries the doc comment of our field; everything below it is Kubernetes'
    // text. The values of a map and the items of a list have no field of their own: their description is the
    // Kubernetes type's (for example `Time is a wrapper around time.Time ...` for `stateTransitionTimes{}`), and
    // goes with the rest. Our description of the map or list stays on the node above.
    let own = match path.0.last() {
        Some(Step::Property(_)) => node.get("description").cloned(),
        _ => None,
    };
    strip_descriptions(node);
    if let (Some(own), Value::Object(map)) = (own, &mut *node) {
        map.insert("description".into(), own);
    }
    for edit in embedding.edits {
        let wanted = match edit.action {
            Action::Remove { .. } => Level::Lossless,
            Action::Opaque { .. } => Level::Full,
        };
        if level < wanted {
            continue;
        }
        let relative = SchemaPath::parse(edit.path).ok_or(ShrinkError::BadPath(edit.path))?;
        let full = path.join(&relative);
        let missing = || ShrinkError::MissingTarget {
            at: path.to_string(),
            type_name: embedding.type_name,
            edit: edit.path,
        };
        match &edit.action {
            Action::Remove { .. } => {
                let Some((Step::Property(name), parent)) = relative.0.split_last() else {
                    return Err(ShrinkError::BadPath(edit.path));
                };
                let parent = SchemaPath(parent.to_vec())
                    .resolve_mut(node)
                    .ok_or_else(missing)?;
                remove_property(parent, name).ok_or_else(missing)?;
                report.removed.push(full.to_string());
            }
            Action::Opaque { keep, explain } => {
                let target = relative.resolve_mut(node).ok_or_else(missing)?;
                make_opaque(target, keep, explain).ok_or_else(|| ShrinkError::NotAnObject {
                    at: full.to_string(),
                })?;
                report.opaque.push(full.to_string());
            }
        }
    }
    Ok(())
}

/// Removes every `description` in `node` and below it.
pub fn strip_descriptions(node: &mut Value) {
    match node {
        Value::Object(map) => {
            map.remove("description");
            for (key, value) in map.iter_mut() {
                // Property names, enum values and defaults are data, not schemas: a property may itself be called
                // `description`, so only recurse into schema-valued keys.
                match key.as_str() {
                    "properties" => {
                        if let Value::Object(properties) = value {
                            properties.values_mut().for_each(strip_descriptions);
                        }
                    }
                    "items" | "additionalProperties" | "not" => strip_descriptions(value),
                    "allOf" | "anyOf" | "oneOf" => {
                        if let Value::Array(list) = value {
                            list.iter_mut().for_each(strip_descriptions);
                        }
                    }
                    _ => {}
                }
            }
        }
        Value::Array(list) => list.iter_mut().for_each(strip_descriptions),
        _ => {}
    }
}

/// Removes property `name` of an object schema (and from its `required` list). `None` if there is no such property.
fn remove_property(parent: &mut Value, name: &str) -> Option<()> {
    let map = parent.as_object_mut()?;
    map.get_mut("properties")?.as_object_mut()?.remove(name)?;
    if let Some(Value::Array(required)) = map.get_mut("required") {
        required.retain(|r| r.as_str() != Some(name));
        if required.is_empty() {
            map.remove("required");
        }
    }
    Some(())
}

/// Turns an object schema into an opaque one that keeps `keep`. `None` if it is not an object schema.
fn make_opaque(node: &mut Value, keep: &[&str], explain: &str) -> Option<()> {
    let map = node.as_object_mut()?;
    if map.get("type").and_then(Value::as_str) != Some("object") {
        return None;
    }
    let mut kept = Map::new();
    if let Some(Value::Object(properties)) = map.get("properties") {
        for name in keep {
            kept.insert((*name).to_owned(), properties.get(*name)?.clone());
        }
    }
    let required: Vec<Value> = match map.get("required") {
        Some(Value::Array(required)) => required
            .iter()
            .filter(|r| r.as_str().is_some_and(|r| keep.contains(&r)))
            .cloned()
            .collect(),
        _ => Vec::new(),
    };
    let nullable = map.get("nullable").cloned();
    let mut out = Map::new();
    out.insert(
        "description".into(),
        Value::String(opaque_description(keep, explain)),
    );
    if let Some(nullable) = nullable {
        out.insert("nullable".into(), nullable);
    }
    if !kept.is_empty() {
        out.insert("properties".into(), Value::Object(kept));
    }
    if !required.is_empty() {
        out.insert("required".into(), Value::Array(required));
    }
    out.insert("type".into(), Value::String("object".into()));
    out.insert(
        "x-kubernetes-preserve-unknown-fields".into(),
        Value::Bool(true),
    );
    *map = out;
    Some(())
}

fn opaque_description(keep: &[&str], explain: &str) -> String {
    let kept = if keep.is_empty() {
        String::new()
    } else {
        let names: Vec<String> = keep.iter().map(|k| format!("`{k}`")).collect();
        format!("Only {} is checked here; the rest is ", names.join(", "))
    };
    let lead = if kept.is_empty() { "Kept" } else { "kept" };
    format!(
        "{kept}{lead} as written and checked by Kubernetes when the operator creates the Pod (see `kubectl explain \
         {explain}`)."
    )
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// The values of a map of Kubernetes `Time`s lose the type's description (they have no doc comment of ours),
    /// while the map keeps ours.
    #[test]
    fn a_map_of_kubernetes_values_keeps_only_our_description() {
        let mut schema = json!({
            "type": "object",
            "properties": {
                "stateTransitionTimes": {
                    "description": "ours",
                    "type": "object",
                    "additionalProperties": {
                        "description": "Time is a wrapper around time.Time",
                        "type": "string",
                        "format": "date-time"
                    }
                }
            }
        });
        let report = shrink_schema(&mut schema).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(report.embeddings, ["stateTransitionTimes{}"]);
        assert_eq!(
            schema["properties"]["stateTransitionTimes"],
            json!({
                "description": "ours",
                "type": "object",
                "additionalProperties": { "type": "string", "format": "date-time" }
            })
        );
    }
}
