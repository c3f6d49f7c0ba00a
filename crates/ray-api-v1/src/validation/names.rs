//! Object names and the Kubernetes name formats (DNS-1035 and DNS-1123 labels).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::{FieldError, ValidationErrors};

/// The longest RayCluster name: the operator derives Service names such as `<name>-serve-svc` from it, and those
/// must fit in 63 characters.
pub const MAX_CLUSTER_NAME_LENGTH: usize = 53;
/// The longest RayJob name: the RayCluster created for a RayJob is named `<name>-<5 random characters>`, which must
/// fit the RayCluster limit.
pub const MAX_JOB_NAME_LENGTH: usize = 47;
/// The longest RayService name: the RayClusters created for a RayService are named `<name>-<5 random characters>`,
/// which must fit the RayCluster limit.
pub const MAX_SERVICE_NAME_LENGTH: usize = 47;

/// The longest Kubernetes label (and DNS label).
pub(crate) const MAX_LABEL_LENGTH: usize = 63;

/// The API server appends this many random characters to a `generateName` prefix.
const GENERATED_SUFFIX_LENGTH: usize = 5;

/// How long a kind's names may be, and why.
pub(crate) struct NameRule {
    pub kind: &'static str,
    pub max_length: usize,
    pub reason: &'static str,
}

impl NameRule {
    pub const RAY_CLUSTER: Self = Self {
        kind: "RayCluster",
        max_length: MAX_CLUSTER_NAME_LENGTH,
        reason: "names derived from it, such as the `<name>-serve-svc` Service, must fit in 63 characters",
    };
    pub const RAY_JOB: Self = Self {
        kind: "RayJob",
        max_length: MAX_JOB_NAME_LENGTH,
        reason: "the RayCluster created for it is named `<name>-<5 random characters>` and must fit in 53 characters",
    };
    pub const RAY_SERVICE: Self = Self {
        kind: "RayService",
        max_length: MAX_SERVICE_NAME_LENGTH,
        reason: "the RayClusters created for it are named `<name>-<5 random characters>` and must fit in 53 characters",
    };
}

/// Checks `metadata.name`, or `metadata.generateName` when the object has no name yet.
///
/// For `generateName` the API server appends 5 random characters, so the prefix must leave room for them, and it
/// must be the start of a valid name (it may end with `-`).
pub(crate) fn check_object_name(
    metadata: &ObjectMeta,
    rule: NameRule,
    errors: &mut ValidationErrors,
) {
    let kind = rule.kind;
    let max = rule.max_length;
    match (metadata.name.as_deref(), metadata.generate_name.as_deref()) {
        (Some(name), _) if !name.is_empty() => {
            let length = name.chars().count();
            if length > max {
                errors.0.push(FieldError::new(
                    "metadata.name",
                    format!(
                        "{kind} names must be at most {max} characters, but \"{name}\" has {length}: {}; choose a shorter name",
                        rule.reason
                    ),
                ));
            }
            if let Some(problem) = dns1035_label_problem(name) {
                errors.0.push(FieldError::new(
                    "metadata.name",
                    format!("\"{name}\" is not a valid {kind} name: {problem}"),
                ));
            }
        }
        (_, Some(prefix)) if !prefix.is_empty() => {
            let max_prefix = max - GENERATED_SUFFIX_LENGTH;
            let length = prefix.chars().count();
            if length > max_prefix {
                errors.0.push(FieldError::new(
                    "metadata.generateName",
                    format!(
                        "{kind} names must be at most {max} characters and the API server appends 5 random characters, so generateName may have at most {max_prefix}, but \"{prefix}\" has {length}; choose a shorter prefix"
                    ),
                ));
            }
            // A prefix may end with '-': check it as if one more letter followed.
            if let Some(problem) = dns1035_label_problem(&format!("{prefix}a")) {
                errors.0.push(FieldError::new(
                    "metadata.generateName",
                    format!("\"{prefix}\" does not start a valid {kind} name: {problem}"),
                ));
            }
        }
        _ => errors.0.push(FieldError::new(
            "metadata.name",
            format!("a {kind} needs a name: set metadata.name (or metadata.generateName)"),
        )),
    }
}

/// Why `value` is not a DNS-1035 label (lowercase letters, digits and `-`, starting with a letter and ending with a
/// letter or digit), or `None` when it is one. The length limit is the caller's business.
pub(crate) fn dns1035_label_problem(value: &str) -> Option<&'static str> {
    label_problem(value, false)
}

/// Why `value` cannot be a worker group name, or `None` when it can. A group name appears (lowercased) in pod names
/// and verbatim in the `ray.io/group` label, so it is a DNS-1123 label except that upper-case letters are allowed,
/// as KubeRay allows them: manifests with names like `gpuGroup` keep working.
pub(crate) fn group_name_problem(value: &str) -> Option<&'static str> {
    if value.chars().count() > MAX_LABEL_LENGTH {
        return Some("it must be at most 63 characters");
    }
    if !value.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return Some("use only letters, digits and '-'");
    }
    if !value.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return Some("it must start with a letter or a digit");
    }
    if !value.ends_with(|c: char| c.is_ascii_alphanumeric()) {
        return Some("it must end with a letter or a digit");
    }
    None
}

fn label_problem(value: &str, may_start_with_digit: bool) -> Option<&'static str> {
    let Some(first) = value.chars().next() else {
        return Some("it must not be empty");
    };
    if !value
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        return Some("use only lowercase letters, digits and '-'");
    }
    if may_start_with_digit {
        if !first.is_ascii_alphanumeric() {
            return Some("it must start with a lowercase letter or a digit");
        }
    } else if !first.is_ascii_lowercase() {
        return Some("it must start with a lowercase letter");
    }
    if value.ends_with('-') {
        return Some("it must end with a lowercase letter or a digit");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns1035_labels() {
        for good in ["a", "raycluster-sample", "a1", "a-b-c"] {
            assert_eq!(dns1035_label_problem(good), None, "{good}");
        }
        for (bad, why) in [
            ("", "empty"),
            ("1abc", "start with a lowercase letter"),
            ("-abc", "start with a lowercase letter"),
            ("abc-", "end with"),
            ("Abc", "lowercase"),
            ("a_b", "lowercase"),
            ("a.b", "lowercase"),
        ] {
            let problem = dns1035_label_problem(bad).unwrap_or_default();
            assert!(problem.contains(why), "{bad}: {problem}");
        }
    }

    #[test]
    fn group_names() {
        for good in ["a", "1abc", "small-group", "gpuGroup", &"a".repeat(63)] {
            assert_eq!(group_name_problem(good), None, "{good}");
        }
        for (bad, why) in [
            ("", "start with"),
            ("-abc", "start with"),
            ("abc-", "end with"),
            ("small_group", "letters, digits and '-'"),
            ("small.group", "letters, digits and '-'"),
            (&"a".repeat(64), "63"),
        ] {
            let problem = group_name_problem(bad).unwrap_or_default();
            assert!(problem.contains(why), "{bad}: {problem}");
        }
    }
}
