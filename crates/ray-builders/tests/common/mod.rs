//! Shared helpers of the integration tests: reading manifests and rendering them as `ray-operator render` does.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use ray_builders::{RenderOptions, Rendered};
use serde_json::Value;

/// The directory of the test fixtures.
pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// The repository's `examples/` directory.
pub fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

/// The `.yaml` files of a directory, sorted (none if it does not exist).
pub fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

/// Renders one manifest document by kind; `None` for documents that are not ray.io/v1 objects.
pub fn render_document(
    doc: &Value,
    options: &RenderOptions,
) -> Option<Result<Vec<Rendered>, String>> {
    if doc.get("apiVersion").and_then(Value::as_str) != Some("ray.io/v1") {
        return None;
    }
    let result = match doc.get("kind").and_then(Value::as_str)? {
        "RayCluster" => serde_json::from_value(doc.clone())
            .map_err(|e| e.to_string())
            .and_then(|c| ray_builders::render_cluster(&c, options).map_err(|e| e.to_string())),
        "RayJob" => serde_json::from_value(doc.clone())
            .map_err(|e| e.to_string())
            .and_then(|j| ray_builders::render_job(&j, options).map_err(|e| e.to_string())),
        "RayService" => serde_json::from_value(doc.clone())
            .map_err(|e| e.to_string())
            .and_then(|s| ray_builders::render_service(&s, options).map_err(|e| e.to_string())),
        _ => return None,
    };
    Some(result)
}

/// Renders every ray.io/v1 object of a manifest file.
pub fn render_file(path: &Path, options: &RenderOptions) -> Vec<Rendered> {
    let text = std::fs::read_to_string(path).expect("read manifest");
    let docs: Vec<Value> = serde_saphyr::from_multiple(&text).expect("manifest is YAML");
    let mut out = Vec::new();
    for doc in &docs {
        if let Some(result) = render_document(doc, options) {
            out.extend(result.unwrap_or_else(|e| panic!("{}: {e}", path.display())));
        }
    }
    out
}
