//! Every name the operator derives, checked against Kubernetes' limits when it is rendered.
//!
//! KubeRay shortens derived names silently (it keeps the last 50 or 63 characters), which makes a head Service
//! name differ from what workers look up and breaks DNS. Here a derived name that does not fit is an error that
//! names the field to shorten; nothing is ever truncated.

use sha2::{Digest, Sha256};

/// Characters of the random suffixes the Kubernetes API server and KubeRay append (no vowels, no confusable
/// digits).
pub const SUFFIX_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
/// Length of a random name suffix (`generateName`, generated cluster names, job ids, replica names).
pub const SUFFIX_LEN: usize = 5;
/// The longest DNS label: Service names, label values, Job names.
pub const MAX_LABEL: usize = 63;
/// The longest DNS subdomain: Pod, Ingress, ServiceAccount and Role names.
pub const MAX_SUBDOMAIN: usize = 253;
/// The longest RayCluster name: `<cluster>-serve-svc` must still be a valid Service name.
pub const MAX_CLUSTER_NAME: usize = MAX_LABEL - "-serve-svc".len();
/// The longest RayJob or RayService name: `<name>-<5 random>` must still be a valid RayCluster name.
pub const MAX_OWNER_NAME: usize = MAX_CLUSTER_NAME - SUFFIX_LEN - 1;

/// Which Kubernetes naming rule a name breaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameRule {
    /// RFC 1035 label: lower-case letters, digits and `-`, starting with a letter and ending with a letter or
    /// digit, at most 63 characters (Service names).
    Dns1035Label,
    /// RFC 1123 label: lower-case letters, digits and `-`, starting and ending with a letter or digit, at most 63
    /// characters.
    Dns1123Label,
    /// RFC 1123 subdomain: dot-separated RFC 1123 labels, at most 253 characters (Pod, Ingress, RBAC names).
    Dns1123Subdomain,
    /// Label value: at most 63 characters of letters, digits, `-`, `_` and `.`, starting and ending with a letter
    /// or digit (or empty).
    LabelValue,
}

impl NameRule {
    /// The length limit of the rule.
    pub fn max_len(self) -> usize {
        match self {
            NameRule::Dns1123Subdomain => MAX_SUBDOMAIN,
            _ => MAX_LABEL,
        }
    }

    fn describe(self) -> &'static str {
        match self {
            NameRule::Dns1035Label => {
                "lower-case letters, digits and '-', starting with a letter and ending with a letter or digit"
            }
            NameRule::Dns1123Label => {
                "lower-case letters, digits and '-', starting and ending with a letter or digit"
            }
            NameRule::Dns1123Subdomain => {
                "lower-case letters, digits, '-' and '.', starting and ending with a letter or digit"
            }
            NameRule::LabelValue => {
                "letters, digits, '-', '_' and '.', starting and ending with a letter or digit"
            }
        }
    }
}

/// A derived name or label value that Kubernetes would reject.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// The name is longer than the rule allows.
    #[error(
        "{field}: the {what} {value:?} would be {len} characters, over the Kubernetes limit of {max}; shorten {field} by {over} characters"
    )]
    TooLong {
        /// The field the name is derived from (a JSON path such as `spec.workerGroupSpecs[2].groupName`).
        field: String,
        /// What the name is for, such as `head Service name`.
        what: String,
        /// The derived name.
        value: String,
        /// Its length (including any random suffix the API server adds).
        len: usize,
        /// The limit.
        max: usize,
        /// How many characters too many.
        over: usize,
    },
    /// The name contains characters the rule does not allow.
    #[error("{field}: the {what} {value:?} is not valid: it must consist of {rule}")]
    Invalid {
        /// The field the name is derived from.
        field: String,
        /// What the name is for.
        what: String,
        /// The derived name.
        value: String,
        /// What the rule allows.
        rule: &'static str,
    },
}

impl NameError {
    /// The field the offending name is derived from.
    pub fn field(&self) -> &str {
        match self {
            NameError::TooLong { field, .. } | NameError::Invalid { field, .. } => field,
        }
    }
}

fn is_alnum_lower(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit()
}

fn dns1123_label_chars(s: &str) -> bool {
    !s.is_empty()
        && s.chars().all(|c| is_alnum_lower(c) || c == '-')
        && s.starts_with(is_alnum_lower)
        && s.ends_with(is_alnum_lower)
}

fn matches_rule(value: &str, rule: NameRule) -> bool {
    match rule {
        NameRule::Dns1123Label => dns1123_label_chars(value),
        NameRule::Dns1035Label => {
            dns1123_label_chars(value) && value.starts_with(|c: char| c.is_ascii_lowercase())
        }
        NameRule::Dns1123Subdomain => value.split('.').all(dns1123_label_chars),
        NameRule::LabelValue => {
            let ok = |c: char| c.is_ascii_alphanumeric();
            value.is_empty()
                || (value
                    .chars()
                    .all(|c| ok(c) || c == '-' || c == '_' || c == '.')
                    && value.starts_with(ok)
                    && value.ends_with(ok))
        }
    }
}

/// Checks `value` (which will get `suffix_len` more characters from the API server) against `rule`.
///
/// `what` says what the name is for and `field` which user field it comes from, so the error tells the user what
/// to shorten or fix.
pub fn check(
    value: &str,
    suffix_len: usize,
    rule: NameRule,
    what: &str,
    field: &str,
) -> Result<(), NameError> {
    let len = value.chars().count() + suffix_len;
    let max = rule.max_len();
    if len > max {
        return Err(NameError::TooLong {
            field: field.to_string(),
            what: what.to_string(),
            value: value.to_string(),
            len,
            max,
            over: len - max,
        });
    }
    // A generateName prefix ends with '-'; the suffix makes it end with an alphanumeric character.
    let probe = if suffix_len > 0 {
        format!("{value}{}", "b".repeat(suffix_len))
    } else {
        value.to_string()
    };
    if !matches_rule(&probe, rule) {
        return Err(NameError::Invalid {
            field: field.to_string(),
            what: what.to_string(),
            value: value.to_string(),
            rule: rule.describe(),
        });
    }
    Ok(())
}

/// Checks a label value.
pub fn check_label_value(value: &str, what: &str, field: &str) -> Result<(), NameError> {
    check(value, 0, NameRule::LabelValue, what, field)
}

/// The `generateName` of the head pod: `<cluster>-head-` (lower-cased, as KubeRay does).
pub fn head_pod_generate_name(cluster: &str, field: &str) -> Result<String, NameError> {
    let name = format!("{cluster}-head-").to_lowercase();
    check(
        &name,
        SUFFIX_LEN,
        NameRule::Dns1123Subdomain,
        "head pod name",
        field,
    )?;
    Ok(name)
}

/// The `generateName` of a worker group's pods: `<cluster>-<group>-worker-` (lower-cased, as KubeRay does).
pub fn worker_pod_generate_name(
    cluster: &str,
    group: &str,
    cluster_field: &str,
    group_field: &str,
) -> Result<String, NameError> {
    let name = format!("{cluster}-{group}-worker-").to_lowercase();
    let field = if matches_rule(&group.to_lowercase(), NameRule::Dns1123Subdomain) {
        // Valid characters: the length is the problem, and the group name is the part the user controls per
        // group; name both.
        format!("{cluster_field} or {group_field}")
    } else {
        group_field.to_string()
    };
    check(
        &name,
        SUFFIX_LEN,
        NameRule::Dns1123Subdomain,
        "worker pod name",
        &field,
    )?;
    Ok(name)
}

/// The default head Service name: `<owner>-head-svc`. The owner is the RayCluster, or the RayJob or RayService
/// for their own head Services.
pub fn head_service_name(owner: &str, field: &str) -> Result<String, NameError> {
    let name = format!("{owner}-head-svc");
    check(&name, 0, NameRule::Dns1035Label, "head Service name", field)?;
    Ok(name)
}

/// The serve Service name: `<owner>-serve-svc`.
pub fn serve_service_name(owner: &str, field: &str) -> Result<String, NameError> {
    let name = format!("{owner}-serve-svc");
    check(
        &name,
        0,
        NameRule::Dns1035Label,
        "serve Service name",
        field,
    )?;
    Ok(name)
}

/// The value of the `ray.io/serve` label on serve Services: `<owner>-serve`.
pub fn serve_label_value(owner: &str, field: &str) -> Result<String, NameError> {
    let value = format!("{owner}-serve");
    check_label_value(&value, "ray.io/serve label value", field)?;
    Ok(value)
}

/// The headless Service of multi-host worker groups: `<cluster>-headless`.
pub fn headless_service_name(cluster: &str, field: &str) -> Result<String, NameError> {
    let name = format!("{cluster}-headless");
    check(
        &name,
        0,
        NameRule::Dns1035Label,
        "headless worker Service name",
        field,
    )?;
    Ok(name)
}

/// The dashboard Ingress: `<cluster>-head-ingress`.
pub fn ingress_name(cluster: &str, field: &str) -> Result<String, NameError> {
    let name = format!("{cluster}-head-ingress");
    check(&name, 0, NameRule::Dns1123Subdomain, "Ingress name", field)?;
    Ok(name)
}

/// The Redis cleanup Job: `<cluster>-redis-cleanup` (a Job name must fit a label value, 63 characters).
pub fn redis_cleanup_job_name(cluster: &str, field: &str) -> Result<String, NameError> {
    let name = format!("{cluster}-redis-cleanup");
    check(
        &name,
        0,
        NameRule::Dns1123Label,
        "Redis cleanup Job name",
        field,
    )?;
    Ok(name)
}

/// A name with a random suffix: `<base>-<suffix>`, used for the RayCluster of a RayJob or RayService, generated
/// Ray job ids and multi-host replica names. `suffix` must be [`SUFFIX_LEN`] characters of [`SUFFIX_ALPHABET`]
/// (see [`random_suffix_from`]).
pub fn with_suffix(base: &str, suffix: &str) -> String {
    format!("{base}-{suffix}")
}

/// A suffix of [`SUFFIX_LEN`] characters of [`SUFFIX_ALPHABET`] derived from `seed` (SHA-256).
///
/// The operator uses fresh random bytes as the seed; `ray-operator render` uses the object's name, so that its
/// output is the same on every run.
pub fn random_suffix_from(seed: &[u8]) -> String {
    let digest = Sha256::digest(seed);
    digest
        .iter()
        .take(SUFFIX_LEN)
        .map(|b| SUFFIX_ALPHABET[usize::from(*b) % SUFFIX_ALPHABET.len()] as char)
        .collect()
}

/// Checks the name of a RayCluster generated for a RayJob or RayService (`<owner>-<suffix>`).
pub fn check_generated_cluster_name(name: &str, field: &str) -> Result<(), NameError> {
    if name.chars().count() > MAX_CLUSTER_NAME {
        let len = name.chars().count();
        return Err(NameError::TooLong {
            field: field.to_string(),
            what: "RayCluster name".to_string(),
            value: name.to_string(),
            len,
            max: MAX_CLUSTER_NAME,
            over: len - MAX_CLUSTER_NAME,
        });
    }
    check(name, 0, NameRule::Dns1035Label, "RayCluster name", field)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn too_long_service_name_names_the_field_and_the_excess() {
        let cluster = "a".repeat(60);
        let err = head_service_name(&cluster, "metadata.name").unwrap_err();
        assert_eq!(err.field(), "metadata.name");
        let msg = err.to_string();
        assert!(msg.contains("69 characters"), "{msg}");
        assert!(msg.contains("shorten metadata.name by 6"), "{msg}");
    }

    #[test]
    fn generate_name_counts_the_api_server_suffix() {
        // 253 - 5 (suffix) = 248 characters of prefix fit, 249 do not.
        let ok = "a".repeat(248 - "-head-".len());
        assert!(head_pod_generate_name(&ok, "metadata.name").is_ok());
        let long = "a".repeat(249 - "-head-".len());
        assert!(head_pod_generate_name(&long, "metadata.name").is_err());
    }

    #[test]
    fn worker_generate_name_lowercases_and_rejects_bad_characters() {
        assert_eq!(
            worker_pod_generate_name("c", "Small", "metadata.name", "g").unwrap(),
            "c-small-worker-"
        );
        let err = worker_pod_generate_name(
            "c",
            "small_group",
            "metadata.name",
            "spec.workerGroupSpecs[0].groupName",
        )
        .unwrap_err();
        assert_eq!(err.field(), "spec.workerGroupSpecs[0].groupName");
        assert!(matches!(err, NameError::Invalid { .. }));
    }

    #[test]
    fn label_values() {
        assert!(check_label_value("", "x", "f").is_ok());
        assert!(check_label_value("a.b_c-D", "x", "f").is_ok());
        assert!(check_label_value("-a", "x", "f").is_err());
        assert!(check_label_value("a b", "x", "f").is_err());
        assert!(check_label_value(&"a".repeat(64), "x", "f").is_err());
    }

    #[test]
    fn service_names_must_start_with_a_letter() {
        assert!(head_service_name("1abc", "metadata.name").is_err());
        assert!(head_service_name("abc", "metadata.name").is_ok());
    }

    #[test]
    fn suffix_is_stable_and_uses_the_api_server_alphabet() {
        let a = random_suffix_from(b"my-job");
        assert_eq!(a, random_suffix_from(b"my-job"));
        assert_ne!(a, random_suffix_from(b"my-job2"));
        assert_eq!(a.len(), SUFFIX_LEN);
        assert!(a.bytes().all(|b| SUFFIX_ALPHABET.contains(&b)));
    }
}
