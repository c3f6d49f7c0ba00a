//! Stable hashes of cluster specs, to tell which changes need new pods or a new cluster.
//!
//! Every hash is SHA-256 over a canonical JSON serialization (object keys sorted at every level, no whitespace),
//! written as lower-case base32hex without padding (52 characters, so it also fits a label value). Neither the
//! algorithm nor the encoding depends on the Rust version or on hash-map ordering, so a hash written by one
//! operator build is understood by the next.

use std::collections::BTreeMap;

use data_encoding::BASE32HEX_NOPAD;
use ray_api_v1::{RayCluster, RayClusterSpec};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::context::{ClusterContext, RenderOptions};
use crate::labels;
use crate::pod::{self, PodError, WorkerReplica};

/// A spec that cannot be hashed.
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    /// The spec could not be serialized (does not happen for well-formed API objects).
    #[error("the cluster spec could not be serialized for hashing: {0}")]
    Serialize(#[from] serde_json::Error),
    /// A pod of the cluster could not be rendered.
    #[error(transparent)]
    Pod(#[from] PodError),
    /// The cluster's identity is invalid.
    #[error(transparent)]
    Context(#[from] crate::context::ContextError),
}

/// Writes `value` as canonical JSON: object keys sorted at every level, no insignificant whitespace.
pub fn canonical_json(value: &Value) -> String {
    fn write(value: &Value, out: &mut String) {
        match value {
            Value::Object(map) => {
                let sorted: BTreeMap<&String, &Value> = map.iter().collect();
                out.push('{');
                for (i, (key, value)) in sorted.into_iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&Value::String(key.clone()).to_string());
                    out.push(':');
                    write(value, out);
                }
                out.push('}');
            }
            Value::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write(item, out);
                }
                out.push(']');
            }
            scalar => out.push_str(&scalar.to_string()),
        }
    }
    let mut out = String::new();
    write(value, &mut out);
    out
}

/// SHA-256 of the canonical JSON of `value`, as lower-case base32hex without padding.
pub fn hash_json(value: &Value) -> String {
    let digest = Sha256::digest(canonical_json(value).as_bytes());
    BASE32HEX_NOPAD.encode(&digest).to_ascii_lowercase()
}

/// Clears what the autoscaler, Kueue or a suspend toggles without needing different pods: worker `replicas`,
/// `minReplicas`, `maxReplicas`, `scaleStrategy`, every template's `tolerations` and `schedulingGates`, and
/// `suspend`.
fn mute(spec: &RayClusterSpec) -> RayClusterSpec {
    let mut spec = spec.clone();
    spec.suspend = false;
    if let Some(pod) = spec.head_group_spec.template.spec.as_mut() {
        pod.tolerations = None;
        pod.scheduling_gates = None;
    }
    for group in &mut spec.worker_group_specs {
        // The CRD defaults `priority` to 0 (KubeRay 1.7), so objects stored before that default existed read back
        // with it: 0 and absent must hash alike, or upgrading the CRDs would start a new cluster for every
        // RayService.
        if group.priority == Some(0) {
            group.priority = None;
        }
        group.replicas = None;
        group.min_replicas = None;
        group.max_replicas = None;
        group.scale_strategy = None;
        if let Some(pod) = group.template.spec.as_mut() {
            pod.tolerations = None;
            pod.scheduling_gates = None;
        }
    }
    spec
}

/// The hash a RayService stores in `ray.io/hash-without-replicas-and-workers-to-delete` on its cluster: any change
/// of `rayClusterConfig` other than worker replica counts, `workersToDelete`, tolerations, scheduling gates and
/// `suspend` changes it, and makes the RayService prepare a new cluster.
pub fn rayservice_cluster_hash(spec: &RayClusterSpec) -> Result<String, HashError> {
    Ok(hash_json(&serde_json::to_value(mute(spec))?))
}

/// The hash every pod carries in `ray.io/upgrade-strategy-recreate-hash`: KubeRay's hash for the Recreate upgrade
/// strategy. Like [`rayservice_cluster_hash`] it ignores what the autoscaler, Kueue or a suspend change (worker
/// replica counts, `workersToDelete`, tolerations, scheduling gates, `suspend`), and also `upgradeStrategy` itself
/// (switching to Recreate replaces nothing by itself) and each worker group's `suspend`, which deletes and brings
/// back that group's pods on its own.
pub fn recreate_hash(spec: &RayClusterSpec) -> Result<String, HashError> {
    let mut spec = mute(spec);
    spec.upgrade_strategy = None;
    for group in &mut spec.worker_group_specs {
        group.suspend = None;
    }
    Ok(hash_json(&serde_json::to_value(spec)?))
}

/// [`rayservice_cluster_hash`] of the spec cut to its first `groups` worker groups. When a RayService's new spec
/// has this hash equal to the running cluster's stored hash, the only change is worker groups appended at the
/// end, which the operator applies in place instead of preparing a new cluster.
pub fn rayservice_cluster_hash_first_groups(
    spec: &RayClusterSpec,
    groups: usize,
) -> Result<String, HashError> {
    let mut spec = spec.clone();
    spec.worker_group_specs.truncate(groups);
    rayservice_cluster_hash(&spec)
}

/// Hashes of the pods a cluster's spec asks for: one for the head, one per worker group (by group name).
///
/// A pod whose stored hash differs from the current one was created from an older spec and only a new pod
/// would pick the change up. The hashes cover exactly what is rendered into the pods (so a change of
/// `headServiceAnnotations`, `replicas` or `enableIngress` does not count, while a change of the head Service's
/// name does, because workers connect to it), minus tolerations, scheduling gates and the per-replica labels,
/// and independent of the operator version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodTemplateHashes {
    /// The head pod's hash.
    pub head: String,
    /// Each worker group's pod hash.
    pub workers: BTreeMap<String, String>,
}

fn pod_hash(mut pod: k8s_openapi::api::core::v1::Pod) -> Result<String, HashError> {
    // The owner reference names the cluster's UID, which is not part of its spec; the spec hash and operator
    // version annotations change with fields and versions these hashes leave out.
    pod.metadata.owner_references = None;
    if let Some(annotations) = pod.metadata.annotations.as_mut() {
        annotations.remove(labels::RECREATE_HASH_ANNOTATION);
        annotations.remove(labels::KUBERAY_VERSION_ANNOTATION);
        if annotations.is_empty() {
            pod.metadata.annotations = None;
        }
    }
    if let Some(spec) = pod.spec.as_mut() {
        spec.tolerations = None;
        spec.scheduling_gates = None;
    }
    if let Some(labels) = pod.metadata.labels.as_mut() {
        labels.remove(labels::WORKER_GROUP_REPLICA_INDEX);
        labels.remove(labels::WORKER_GROUP_REPLICA_NAME);
        labels.remove(labels::REPLICA_HOST_INDEX);
    }
    Ok(hash_json(&serde_json::to_value(&pod)?))
}

/// Computes [`PodTemplateHashes`] for a cluster.
pub fn pod_template_hashes(
    cluster: &RayCluster,
    options: &RenderOptions,
) -> Result<PodTemplateHashes, HashError> {
    let options = RenderOptions {
        operator_version: String::new(),
        ..options.clone()
    };
    let ctx = ClusterContext::new(cluster, &options)?;
    let head = pod_hash(pod::head_pod(&ctx)?)?;
    let mut workers = BTreeMap::new();
    for (index, group) in cluster.spec.worker_group_specs.iter().enumerate() {
        let pod = pod::worker_pod(&ctx, index, &WorkerReplica::default())?;
        workers.insert(group.group_name.clone(), pod_hash(pod)?);
    }
    Ok(PodTemplateHashes { head, workers })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn canonical_json_sorts_keys_at_every_level() {
        let a = json!({"b": 1, "a": {"d": [1, {"z": 1, "y": 2}], "c": "x"}});
        assert_eq!(
            canonical_json(&a),
            r#"{"a":{"c":"x","d":[1,{"y":2,"z":1}]},"b":1}"#
        );
    }

    #[test]
    fn the_default_worker_priority_hashes_like_none() {
        let spec: RayClusterSpec = serde_json::from_value(serde_json::json!({
            "headGroupSpec": {"rayStartParams": {}, "template": {"spec": {"containers": [{"name": "h", "image": "i"}]}}},
            "workerGroupSpecs": [{"groupName": "g", "rayStartParams": {},
                "template": {"spec": {"containers": [{"name": "w", "image": "i"}]}}}]
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        let mut defaulted = spec.clone();
        defaulted.worker_group_specs[0].priority = Some(0);
        let hash =
            |s: &RayClusterSpec| rayservice_cluster_hash(s).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(hash(&spec), hash(&defaulted));
        defaulted.worker_group_specs[0].priority = Some(1);
        assert_ne!(hash(&spec), hash(&defaulted));
    }

    /// As with KubeRay, every group field that changes the pods (or what the autoscaler does) changes the hash, so a
    /// RayService prepares a new cluster for it; worker replica counts do not.
    #[test]
    fn group_fields_change_the_hash() {
        let spec: RayClusterSpec = serde_json::from_value(json!({
            "enableInTreeAutoscaling": true,
            "headGroupSpec": {"template": {"spec": {"containers": [{"name": "h", "image": "i"}]}}},
            "workerGroupSpecs": [{"groupName": "g", "template": {"spec": {"containers": [{"name": "w", "image": "i"}]}}}]
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        let hash =
            |s: &RayClusterSpec| rayservice_cluster_hash(s).unwrap_or_else(|e| panic!("{e}"));
        let base = hash(&spec);
        type Change = fn(&mut RayClusterSpec);
        let changes: Vec<(&str, Change)> = vec![
            ("head labels", |s| {
                s.head_group_spec.labels.insert("zone".into(), "a".into());
            }),
            ("head resources", |s| {
                s.head_group_spec.resources.insert("CPU".into(), "0".into());
            }),
            ("worker labels", |s| {
                s.worker_group_specs[0]
                    .labels
                    .insert("zone".into(), "a".into());
            }),
            ("worker resources", |s| {
                s.worker_group_specs[0]
                    .resources
                    .insert("GPU".into(), "1".into());
            }),
            ("idle timeout", |s| {
                s.worker_group_specs[0].idle_timeout_seconds = Some(30)
            }),
            ("priority", |s| s.worker_group_specs[0].priority = Some(2)),
            ("group suspend", |s| {
                s.worker_group_specs[0].suspend = Some(true)
            }),
            ("autoscaler version", |s| {
                s.autoscaler_options = Some(ray_api_v1::AutoscalerOptions {
                    version: Some(ray_api_v1::AutoscalerVersion::V2),
                    ..Default::default()
                });
            }),
            ("autoscaler args", |s| {
                s.autoscaler_options = Some(ray_api_v1::AutoscalerOptions {
                    args: vec!["x".into()],
                    ..Default::default()
                });
            }),
        ];
        for (name, change) in changes {
            let mut changed = spec.clone();
            change(&mut changed);
            assert_ne!(hash(&changed), base, "{name}");
        }
        let mut scaled = spec.clone();
        scaled.worker_group_specs[0].replicas = Some(7);
        assert_eq!(hash(&scaled), base);
    }

    #[test]
    fn hash_is_pinned() {
        // Pinned so that a change of algorithm, encoding or canonical form is noticed: stored hashes would no
        // longer match and every RayService would roll its cluster.
        assert_eq!(
            hash_json(&json!({"a": 1})),
            "05dbqvqsolt2rmabem8f0imo1117742uscvcbjlulph2eqknv1h0"
        );
    }
}
