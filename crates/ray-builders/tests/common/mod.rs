//! Shared helpers of the integration tests: reading manifests and rendering them as `ray-operator render` does.

#![allow(dead_code)]

pub mod kubelet;
pub mod sandbox;

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

fn dns1123_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// Kubernetes' IsDNS1123Subdomain: at most 253 characters of dot-separated alphanumeric runs joined by `-` (no
/// per-label limit).
fn subdomain(s: &str) -> bool {
    s.len() <= 253
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
}

fn label_value(s: &str) -> bool {
    let ok = |c: char| c.is_ascii_alphanumeric();
    s.is_empty()
        || (s.len() <= 63
            && s.chars().all(|c| ok(c) || "-_.".contains(c))
            && s.starts_with(ok)
            && s.ends_with(ok))
}

/// Every way a rendered object could break Kubernetes' naming limits; empty when it fits.
pub fn limit_violations(object: &ray_builders::Object) -> Vec<String> {
    let meta = object.metadata();
    let mut problems = Vec::new();
    let kind = object.kind();
    let name = match (&meta.name, &meta.generate_name) {
        (Some(name), _) => name.clone(),
        // The API server appends 5 characters.
        (None, Some(prefix)) => format!("{prefix}bcdfg"),
        (None, None) => {
            problems.push(format!("{kind} has no name"));
            String::new()
        }
    };
    let fits = match kind {
        "Service" | "RayCluster" => {
            dns1123_label(&name) && name.starts_with(|c: char| c.is_ascii_lowercase())
        }
        "Job" => dns1123_label(&name),
        _ => subdomain(&name),
    };
    if !fits {
        problems.push(format!("{kind} name {name:?} does not fit"));
    }
    let mut label_maps = vec![meta.labels.clone().unwrap_or_default()];
    if let ray_builders::Object::Job(job) = object
        && let Some(labels) = job
            .spec
            .as_ref()
            .and_then(|s| s.template.metadata.as_ref())
            .and_then(|m| m.labels.clone())
    {
        label_maps.push(labels);
    }
    if let ray_builders::Object::Service(service) = object {
        label_maps.push(
            service
                .spec
                .as_ref()
                .and_then(|s| s.selector.clone())
                .unwrap_or_default(),
        );
    }
    for labels in label_maps {
        for (key, value) in labels {
            if !label_value(&value) {
                problems.push(format!(
                    "{kind} {name}: label {key}={value:?} is not a valid label value"
                ));
            }
        }
    }
    problems
}

/// The first container of the submitter Job among rendered objects (panics when there is none: a test expects one).
pub fn submitter_container(objects: &[Rendered]) -> k8s_openapi::api::core::v1::Container {
    objects
        .iter()
        .find_map(|o| match &o.object {
            ray_builders::Object::Job(job) => job
                .spec
                .as_ref()
                .and_then(|s| s.template.spec.as_ref())
                .and_then(|s| s.containers.first().cloned()),
            _ => None,
        })
        .expect("a submitter Job with a container")
}
