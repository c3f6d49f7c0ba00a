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

/// Why `value` is not a DNS-1123 label (at most 63 lowercase letters, digits and `-`, starting and ending with a
/// letter or digit), the format of container, volume and port-less object names; `None` when it is one.
pub(crate) fn dns1123_label_problem(value: &str) -> Option<&'static str> {
    if value.len() > MAX_LABEL_LENGTH {
        return Some("it must be at most 63 characters");
    }
    label_problem(value, true)
}

/// Why `value` is not a DNS-1123 subdomain (at most 253 characters: DNS-1123 labels joined by `.`), the format
/// of ConfigMap and Secret names and of label prefixes; `None` when it is one.
pub(crate) fn dns1123_subdomain_problem(value: &str) -> Option<&'static str> {
    if value.is_empty() {
        return Some("it must not be empty");
    }
    if value.len() > 253 {
        return Some("it must be at most 253 characters");
    }
    if value
        .split('.')
        .any(|part| label_problem(part, true).is_some())
    {
        return Some(
            "use only lowercase letters, digits, '-' and '.', with a letter or digit at the start, at the end and around each '.'",
        );
    }
    None
}

/// Why `value` is not a qualified name (`name` or `prefix/name`, where the prefix is a DNS-1123 subdomain and the
/// name at most 63 letters, digits, `-`, `_` and `.`, starting and ending with a letter or digit), the format of
/// label and annotation keys and resource names; `None` when it is one.
pub(crate) fn qualified_name_problem(value: &str) -> Option<String> {
    let mut parts = value.split('/');
    let (prefix, name) = match (parts.next(), parts.next(), parts.next()) {
        (Some(name), None, None) => (None, name),
        (Some(prefix), Some(name), None) => (Some(prefix), name),
        _ => return Some("it may contain at most one '/' (prefix/name)".to_owned()),
    };
    if let Some(prefix) = prefix {
        if prefix.is_empty() {
            return Some("the prefix before '/' must not be empty".to_owned());
        }
        if let Some(problem) = dns1123_subdomain_problem(prefix) {
            return Some(format!(
                "the prefix before '/' must be a DNS subdomain: {problem}"
            ));
        }
    }
    if name.is_empty() {
        return Some("the name must not be empty".to_owned());
    }
    if name.len() > MAX_LABEL_LENGTH {
        return Some("the name (after any '/') must be at most 63 characters".to_owned());
    }
    label_value_problem(name).map(|problem| format!("the name {problem}"))
}

/// Why `value` is not a label value (empty, or at most 63 letters, digits, `-`, `_` and `.`, starting and ending
/// with a letter or digit); `None` when it is one.
pub(crate) fn label_value_problem(value: &str) -> Option<&'static str> {
    if value.is_empty() {
        return None;
    }
    if value.len() > MAX_LABEL_LENGTH {
        return Some("must be at most 63 characters");
    }
    if !value
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Some("may contain only letters, digits, '-', '_' and '.'");
    }
    if !value.starts_with(|c: char| c.is_ascii_alphanumeric())
        || !value.ends_with(|c: char| c.is_ascii_alphanumeric())
    {
        return Some("must start and end with a letter or digit");
    }
    None
}

/// Why `value` is not a port name (an IANA service name: at most 15 lowercase letters, digits and `-`, with at
/// least one letter, no `-` at either end and no `--`); `None` when it is one.
pub(crate) fn port_name_problem(value: &str) -> Option<&'static str> {
    if value.is_empty() {
        return Some("it must not be empty");
    }
    if value.len() > 15 {
        return Some("it must be at most 15 characters");
    }
    if !value
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        return Some("use only lowercase letters, digits and '-'");
    }
    if !value.chars().any(|c| c.is_ascii_lowercase()) {
        return Some("it must contain at least one letter");
    }
    if value.starts_with('-') || value.ends_with('-') || value.contains("--") {
        return Some("'-' may not be at either end or next to another '-'");
    }
    None
}

/// Why `value` is not an environment variable name (Kubernetes 1.34 and later: not empty, printable ASCII
/// characters other than `=`); `None` when it is one.
pub(crate) fn env_var_name_problem(value: &str) -> Option<&'static str> {
    if value.is_empty() {
        return Some("it must not be empty");
    }
    if !value.chars().all(|c| (' '..='~').contains(&c) && c != '=') {
        return Some("use only printable ASCII characters other than '='");
    }
    None
}

/// Why `value` is not a ConfigMap or Secret key (at most 253 letters, digits, `-`, `_` and `.`, not `.`, `..` or
/// starting with `..`); `None` when it is one.
pub(crate) fn config_key_problem(value: &str) -> Option<&'static str> {
    if value.is_empty() {
        return Some("it must not be empty");
    }
    if value.len() > 253 {
        return Some("it must be at most 253 characters");
    }
    if !value
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Some("use only letters, digits, '-', '_' and '.'");
    }
    if value == "." || value.starts_with("..") {
        return Some("it must not be '.' or start with '..'");
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

    #[test]
    fn kubernetes_formats() {
        assert_eq!(dns1123_label_problem("ray-head"), None);
        assert_eq!(dns1123_label_problem("1abc"), None);
        assert!(dns1123_label_problem("Ray").is_some());
        assert!(dns1123_label_problem(&"a".repeat(64)).is_some());
        assert_eq!(dns1123_subdomain_problem("example.com"), None);
        assert!(dns1123_subdomain_problem("example..com").is_some());
        assert!(dns1123_subdomain_problem("-a.com").is_some());
        for good in ["app", "ray.io/cluster", "a_b.c-d", "A", "example.com/X_1"] {
            assert_eq!(qualified_name_problem(good), None, "{good}");
        }
        for bad in [
            "",
            "/a",
            "a/",
            "a/b/c",
            "-a",
            "a b",
            "Example.com/a",
            &"a".repeat(64),
        ] {
            assert!(qualified_name_problem(bad).is_some(), "{bad}");
        }
        for good in ["", "v1", "a.b_c-d"] {
            assert_eq!(label_value_problem(good), None, "{good}");
        }
        for bad in ["-a", "a b", "a/b", &"a".repeat(64)] {
            assert!(label_value_problem(bad).is_some(), "{bad}");
        }
        for good in ["http", "dashboard", "gcs-server", "a1", "client-8265"] {
            assert_eq!(port_name_problem(good), None, "{good}");
        }
        for bad in [
            "",
            "8265",
            "a--b",
            "-a",
            "a-",
            "Http",
            "a_b",
            "sixteen-chars-xx",
        ] {
            assert!(port_name_problem(bad).is_some(), "{bad}");
        }
        for good in ["PATH", "my.env-name", "1A", "a b", "~!@#"] {
            assert_eq!(env_var_name_problem(good), None, "{good}");
        }
        for bad in ["", "A=B", "caf\u{e9}", "tab\there"] {
            assert!(env_var_name_problem(bad).is_some(), "{bad}");
        }
        for good in ["key", "a.b", "config_1-x"] {
            assert_eq!(config_key_problem(good), None, "{good}");
        }
        for bad in ["", ".", "..a", "a/b"] {
            assert!(config_key_problem(bad).is_some(), "{bad}");
        }
    }
}
