//! `spec.managedBy` of a RayCluster or RayService: which controller reconciles the object. Anything but this
//! operator's name hands the object to another controller (MultiKueue dispatches it to a worker cluster), and the
//! operator then leaves it alone entirely.

use serde_json::{Value, json};

use super::FieldError;

/// The value that means "this operator" (KubeRay's name, kept so manifests move between the two unchanged).
pub const KUBERAY_OPERATOR: &str = "ray.io/kuberay-operator";
/// Kueue's MultiKueue, the one other manager KubeRay accepts.
pub const MULTIKUEUE: &str = "kueue.x-k8s.io/multikueue";
/// Every value `managedBy` may hold.
pub const ACCEPTED: [&str; 2] = [KUBERAY_OPERATOR, MULTIKUEUE];

/// The API server's message when `managedBy` changes (KubeRay's wording).
pub const IMMUTABLE_MESSAGE: &str = "the managedBy field is immutable";
/// The message for a value outside [`ACCEPTED`].
pub const VALUE_MESSAGE: &str = "the managedBy field value must be either 'ray.io/kuberay-operator' or 'kueue.x-k8s.io/multikueue'";

/// The other controller `managed_by` hands the object to, or `None` when this operator reconciles it (unset or
/// [`KUBERAY_OPERATOR`]).
pub fn external_manager(managed_by: Option<&str>) -> Option<&str> {
    managed_by.filter(|manager| *manager != KUBERAY_OPERATOR)
}

/// Reports `managedBy` at `path` when it is set to a value outside [`ACCEPTED`]. (That it never changes is a
/// transition rule of the CRD: it needs the old object.)
pub(crate) fn check(managed_by: Option<&str>, path: &str, errors: &mut Vec<FieldError>) {
    if let Some(value) = managed_by
        && !ACCEPTED.contains(&value)
    {
        errors.push(FieldError::new(
            format!("{path}.managedBy"),
            format!("{VALUE_MESSAGE}, not \"{value}\""),
        ));
    }
}

/// The `x-kubernetes-validations` of the `managedBy` field, for `#[schemars(extend(...))]`.
pub(crate) fn cel_rules() -> Value {
    json!([
        { "rule": "self == oldSelf", "message": IMMUTABLE_MESSAGE },
        {
            "rule": format!("self in ['{KUBERAY_OPERATOR}', '{MULTIKUEUE}']"),
            "message": VALUE_MESSAGE,
        },
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_another_managers_name_hands_the_object_over() {
        assert_eq!(external_manager(None), None);
        assert_eq!(external_manager(Some(KUBERAY_OPERATOR)), None);
        assert_eq!(external_manager(Some(MULTIKUEUE)), Some(MULTIKUEUE));
    }

    #[test]
    fn unknown_managers_are_reported_by_field() {
        let mut errors = Vec::new();
        check(Some(MULTIKUEUE), "spec", &mut errors);
        assert!(errors.is_empty());
        check(Some("example.com/mine"), "spec", &mut errors);
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].path, "spec.managedBy");
    }
}
