//! Labels and annotations: the API server's rules for an object's metadata, applied to the objects' own metadata
//! and to the metadata the operator copies into the Pods and Services it creates.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::FieldError;
use super::names::{label_value_problem, qualified_name_problem};

/// The most bytes all annotations of one object may take together (keys and values), as the API server counts.
pub const MAX_ANNOTATIONS_BYTES: usize = 256 * 1024;

/// Checks the labels and annotations of `metadata`, which sits at `path` (for example
/// `spec.headGroupSpec.template.metadata`).
pub(crate) fn check_metadata(metadata: &ObjectMeta, path: &str, errors: &mut Vec<FieldError>) {
    if let Some(labels) = &metadata.labels {
        check_labels(labels, &format!("{path}.labels"), errors);
    }
    if let Some(annotations) = &metadata.annotations {
        check_annotations(annotations, &format!("{path}.annotations"), errors);
    }
}

/// Label keys are qualified names (`name` or `prefix/name`) and values at most 63 letters, digits, `-`, `_`, `.`.
pub(crate) fn check_labels(
    labels: &BTreeMap<String, String>,
    path: &str,
    errors: &mut Vec<FieldError>,
) {
    for (key, value) in labels {
        if let Some(problem) = qualified_name_problem(key) {
            errors.push(FieldError::new(
                path,
                format!("label key \"{key}\" is not a valid label key: {problem}; rename it"),
            ));
        }
        if let Some(problem) = label_value_problem(value) {
            errors.push(FieldError::new(
                path,
                format!("the value of label \"{key}\" {problem}, but it is \"{value}\"; change it"),
            ));
        }
    }
}

/// Annotation keys are qualified names (compared in lower case, as the API server does) and all annotations
/// together may take at most 256 KiB.
pub(crate) fn check_annotations(
    annotations: &BTreeMap<String, String>,
    path: &str,
    errors: &mut Vec<FieldError>,
) {
    let mut total = 0usize;
    for (key, value) in annotations {
        total = total.saturating_add(key.len()).saturating_add(value.len());
        if let Some(problem) = qualified_name_problem(&key.to_lowercase()) {
            errors.push(FieldError::new(
                path,
                format!(
                    "annotation key \"{key}\" is not a valid annotation key: {problem}; rename it"
                ),
            ));
        }
    }
    if total > MAX_ANNOTATIONS_BYTES {
        errors.push(FieldError::new(
            path,
            format!(
                "the annotations take {total} bytes (keys and values), but Kubernetes allows at most {MAX_ANNOTATIONS_BYTES}: remove or shorten some, or keep large data in a ConfigMap"
            ),
        ));
    }
}
