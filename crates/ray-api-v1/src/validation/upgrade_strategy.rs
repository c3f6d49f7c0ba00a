//! `upgradeStrategy` of a RayClusterSpec. As in KubeRay, only a RayCluster a user creates directly may have one: a
//! RayJob's or RayService's cluster is created, replaced and deleted by its owner, so `Recreate` there would fight
//! the owner (and `None` says nothing). The CRD's enum already limits `type` to `Recreate` and `None`.

use std::collections::BTreeMap;

use super::FieldError;
use crate::raycluster::RayClusterSpec;

/// The label the RayJob and RayService controllers put on the clusters they create, naming their kind.
const ORIGINATED_FROM_CRD: &str = "ray.io/originated-from-crd";

fn type_set(spec: &RayClusterSpec) -> bool {
    spec.upgrade_strategy
        .as_ref()
        .is_some_and(|s| s.type_.is_some())
}

/// Checks the cluster spec of a RayJob or RayService (`embedded_in` names the kind; `None` for a RayCluster).
pub(crate) fn check_spec(
    spec: &RayClusterSpec,
    path: &str,
    embedded_in: Option<&str>,
    errors: &mut Vec<FieldError>,
) {
    if let Some(kind) = embedded_in
        && type_set(spec)
    {
        errors.push(FieldError::new(
            format!("{path}.upgradeStrategy.type"),
            format!(
                "upgradeStrategy can be set only on a RayCluster created directly; the {kind} manages its \
                 cluster's pods itself: remove upgradeStrategy"
            ),
        ));
    }
}

/// Checks a RayCluster object created by a RayJob or RayService (KubeRay tells them by the label
/// `ray.io/originated-from-crd`), in case its spec was edited after creation.
pub(crate) fn check_origin(
    spec: &RayClusterSpec,
    labels: Option<&BTreeMap<String, String>>,
    errors: &mut Vec<FieldError>,
) {
    let owner = labels
        .and_then(|l| l.get(ORIGINATED_FROM_CRD))
        .map(String::as_str)
        .filter(|kind| matches!(*kind, "RayJob" | "RayService"));
    if let Some(kind) = owner
        && type_set(spec)
    {
        errors.push(FieldError::new(
            "spec.upgradeStrategy.type",
            format!(
                "upgradeStrategy can be set only on a RayCluster created directly, and this one was created by a \
                 {kind} (label {ORIGINATED_FROM_CRD}), which manages its pods itself: remove upgradeStrategy"
            ),
        ));
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;

    fn spec(strategy: serde_json::Value) -> RayClusterSpec {
        serde_json::from_value(json!({
            "upgradeStrategy": strategy,
            "headGroupSpec": {"template": {"spec": {"containers": [{"name": "ray"}]}}}
        }))
        .unwrap()
    }

    fn embedded(strategy: serde_json::Value, kind: Option<&str>) -> Vec<String> {
        let mut out = Vec::new();
        check_spec(&spec(strategy), "spec.rayClusterSpec", kind, &mut out);
        out.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn a_job_or_service_cluster_cannot_have_an_upgrade_strategy() {
        for kind in ["RayJob", "RayService"] {
            for type_ in ["Recreate", "None"] {
                let errors = embedded(json!({ "type": type_ }), Some(kind));
                assert_eq!(errors.len(), 1, "{kind} {type_}");
                assert!(
                    errors[0].starts_with("spec.rayClusterSpec.upgradeStrategy.type: ")
                        && errors[0].contains(kind)
                        && errors[0].contains("remove upgradeStrategy"),
                    "{}",
                    errors[0]
                );
            }
            assert!(embedded(json!({}), Some(kind)).is_empty());
        }
        assert!(embedded(json!({ "type": "Recreate" }), None).is_empty());
    }

    #[test]
    fn a_cluster_labelled_as_created_by_a_job_cannot_have_one() {
        let check = |label: Option<&str>| {
            let labels = label
                .map(|kind| BTreeMap::from([(ORIGINATED_FROM_CRD.to_string(), kind.to_string())]));
            let mut out = Vec::new();
            check_origin(
                &spec(json!({ "type": "Recreate" })),
                labels.as_ref(),
                &mut out,
            );
            out
        };
        assert_eq!(check(Some("RayJob")).len(), 1);
        assert_eq!(
            check(Some("RayService"))[0].path,
            "spec.upgradeStrategy.type"
        );
        assert!(check(Some("RayCluster")).is_empty());
        assert!(check(None).is_empty());
    }
}
