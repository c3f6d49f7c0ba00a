//! `headGroupSpec.ingressOptions` (KubeRay 1.7), held to the rules the API server applies to the Ingress built from
//! it, so a bad host or path is reported on the RayCluster instead of as a failed Ingress create.
//!
//! `pathType` needs no rule here: it is an enum, so a value outside `Exact`, `Prefix` and `ImplementationSpecific`
//! is rejected when the manifest is read (and by the CRD schema).

use super::FieldError;
use super::names::dns1123_subdomain_problem;
use crate::raycluster::{HeadGroupSpec, IngressPathType};

/// Sequences the API server refuses in an `Exact` or `Prefix` Ingress path.
const INVALID_PATH_SEQUENCES: [&str; 5] = ["//", "/./", "/../", "%2f", "%2F"];
/// Endings the API server refuses in an `Exact` or `Prefix` Ingress path.
const INVALID_PATH_SUFFIXES: [&str; 2] = ["/..", "/."];

/// Checks `ingressOptions` of the head group at `head_path`.
pub(crate) fn check_head(head: &HeadGroupSpec, head_path: &str, errors: &mut Vec<FieldError>) {
    let Some(options) = &head.ingress_options else {
        return;
    };
    let path = format!("{head_path}.ingressOptions");
    if let Some(host) = options.host.as_deref().filter(|h| !h.is_empty())
        && let Some(problem) = host_problem(host, true)
    {
        errors.push(FieldError::new(
            format!("{path}.host"),
            format!("\"{host}\" is not a valid Ingress host: {problem}"),
        ));
    }
    if let Some(value) = options.path.as_deref().filter(|p| !p.is_empty()) {
        let path_type = options.path_type.unwrap_or(IngressPathType::Prefix);
        if let Some(problem) = path_problem(value, path_type) {
            errors.push(FieldError::new(
                format!("{path}.path"),
                format!("\"{value}\" is not a valid Ingress path: {problem}"),
            ));
        }
    }
    for (i, tls) in options.tls.iter().enumerate() {
        for (j, host) in tls.hosts.iter().flatten().enumerate() {
            if let Some(problem) = host_problem(host, false) {
                errors.push(FieldError::new(
                    format!("{path}.tls[{i}].hosts[{j}]"),
                    format!("\"{host}\" is not a valid TLS host: {problem}"),
                ));
            }
        }
        if let Some(secret) = tls.secret_name.as_deref().filter(|s| !s.is_empty())
            && let Some(problem) = dns1123_subdomain_problem(secret)
        {
            errors.push(FieldError::new(
                format!("{path}.tls[{i}].secretName"),
                format!("\"{secret}\" is not a valid Secret name: {problem}"),
            ));
        }
    }
}

/// Why `host` cannot be an Ingress host name: a DNS-1123 subdomain, or one whose first label is `*`. A rule's host
/// (`reject_ip`) must not be an IP address either.
fn host_problem(host: &str, reject_ip: bool) -> Option<&'static str> {
    if reject_ip && host.parse::<std::net::IpAddr>().is_ok() {
        return Some("it must be a DNS name, not an IP address");
    }
    match host.strip_prefix("*.") {
        Some(rest) => dns1123_subdomain_problem(rest),
        None if host.contains('*') => {
            Some("a wildcard is only allowed as the whole first label, as in *.example.com")
        }
        None => dns1123_subdomain_problem(host),
    }
}

/// Why `path` cannot be an Ingress path of `path_type`, with the API server's rules.
fn path_problem(path: &str, path_type: IngressPathType) -> Option<String> {
    if !path.starts_with('/') {
        return Some("it must be an absolute path, starting with '/'".to_owned());
    }
    if path_type == IngressPathType::ImplementationSpecific {
        return None;
    }
    if let Some(sequence) = INVALID_PATH_SEQUENCES.iter().find(|s| path.contains(**s)) {
        return Some(format!("it must not contain '{sequence}'"));
    }
    INVALID_PATH_SUFFIXES
        .iter()
        .find(|s| path.ends_with(**s))
        .map(|suffix| format!("it must not end with '{suffix}'"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_follow_the_api_servers_rules() {
        assert_eq!(path_problem("/dash", IngressPathType::Prefix), None);
        assert!(path_problem("dash", IngressPathType::Exact).is_some());
        assert!(path_problem("dash", IngressPathType::ImplementationSpecific).is_some());
        assert!(path_problem("/a//b", IngressPathType::Prefix).is_some());
        assert!(path_problem("/a/..", IngressPathType::Exact).is_some());
        // Regex paths are the Ingress controller's business.
        assert_eq!(
            path_problem("/ray(/|$)(.*)", IngressPathType::ImplementationSpecific),
            None
        );
    }

    #[test]
    fn hosts_are_dns_names_with_an_optional_leading_wildcard() {
        assert_eq!(host_problem("ray.example.com", true), None);
        assert_eq!(host_problem("*.example.com", true), None);
        assert!(host_problem("10.0.0.1", true).is_some());
        assert!(host_problem("ray.*.com", true).is_some());
        assert!(host_problem("Ray.example.com", false).is_some());
    }
}
