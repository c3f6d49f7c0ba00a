//! Writing CRDs as YAML, byte-for-byte reproducibly.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use serde_json::{Map, Value};

use crate::{CrdError, RayKind};

/// The comment at the top of every generated CRD file.
pub const HEADER: &str = "\
# Generated from the Rust types in crates/ray-api-v1 and crates/ray-api-v1alpha1 by crates/ray-crd. Do not edit.
# Regenerate with `cargo xtask crd`; `ray-operator crd` prints the same CRDs.
";

/// One generated CRD file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CrdFile {
    /// The kind the CRD defines.
    pub kind: RayKind,
    /// The file's name under `config/crd/`, for example `ray.io_rayclusters.yaml`.
    pub file_name: String,
    /// The file's content: [`HEADER`], then the CRD as YAML.
    pub contents: String,
}

/// The CRD as YAML, with every mapping's keys sorted, so the output does not depend on how the JSON map type
/// happens to be compiled (serde_json's `preserve_order` feature may be switched on by any crate in a build).
pub(crate) fn to_yaml(kind: RayKind, crd: &CustomResourceDefinition) -> Result<String, CrdError> {
    let json = serde_json::to_value(crd).map_err(|source| CrdError::Json { kind, source })?;
    serde_saphyr::to_string(&sorted(json)).map_err(|source| CrdError::Yaml { kind, source })
}

/// `value` with the keys of every object in sorted order.
fn sorted(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(String, Value)> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k, sorted(v)))
                    .collect::<Map<_, _>>(),
            )
        }
        Value::Array(list) => Value::Array(list.into_iter().map(sorted).collect()),
        other => other,
    }
}
