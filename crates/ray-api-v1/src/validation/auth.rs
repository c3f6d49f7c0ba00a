//! `authOptions`: Ray's token authentication.
//!
//! Token authentication needs Ray 2.52 or later (2.55 for tokens checked by the Kubernetes API server), and
//! `rayVersion` is how the operator knows which Ray the images run: without it, or with an older one, the cluster
//! would start with the variables set and Ray ignoring them, that is without authentication, so such specs are
//! rejected. `authOptions` without `mode` asks for `token` (the documented default).

use super::FieldError;
use super::job::parse_version;
use super::names::dns1123_subdomain_problem;
use crate::raycluster::{AuthMode, RayClusterSpec};

/// The first Ray release with token authentication.
pub const TOKEN_AUTH_MIN_RAY_VERSION: (u32, u32, u32) = (2, 52, 0);
/// The first Ray release that checks tokens with the Kubernetes API server.
pub const K8S_TOKEN_AUTH_MIN_RAY_VERSION: (u32, u32, u32) = (2, 55, 0);

fn version_text((major, minor, patch): (u32, u32, u32)) -> String {
    format!("{major}.{minor}.{patch}")
}

/// Checks `authOptions` of a RayClusterSpec at `path`. `embedded_in` is `Some("RayJob")` or `Some("RayService")`
/// for a cluster spec inside those, whose dashboards the operator must reach with a shared token.
pub(crate) fn check_spec(
    spec: &RayClusterSpec,
    path: &str,
    embedded_in: Option<&str>,
    errors: &mut Vec<FieldError>,
) {
    let Some(options) = &spec.auth_options else {
        return;
    };
    let field = |name: &str| format!("{path}.authOptions.{name}");
    let k8s = options.enable_k8s_token_auth == Some(true);
    let token = options.mode.unwrap_or(AuthMode::Token) == AuthMode::Token;
    if !token {
        if k8s {
            errors.push(FieldError::new(
                field("enableK8sTokenAuth"),
                "enableK8sTokenAuth needs authOptions.mode: token; set the mode or remove enableK8sTokenAuth",
            ));
        }
        return;
    }
    if let Some(name) = options.secret_name.as_deref() {
        if k8s {
            errors.push(FieldError::new(
                field("secretName"),
                "with enableK8sTokenAuth the Kubernetes API server checks tokens and no shared token is used; \
                 remove secretName or enableK8sTokenAuth",
            ));
        } else if let Some(problem) = dns1123_subdomain_problem(name) {
            errors.push(FieldError::new(
                field("secretName"),
                format!("\"{name}\" is not a valid Secret name: {problem}"),
            ));
        }
    }
    if k8s && let Some(kind) = embedded_in {
        errors.push(FieldError::new(
            field("enableK8sTokenAuth"),
            format!(
                "enableK8sTokenAuth is supported for RayCluster objects only: the operator must reach a {kind}'s \
                 dashboard with a shared token; remove enableK8sTokenAuth"
            ),
        ));
    }
    let (needed, what) = if k8s {
        (K8S_TOKEN_AUTH_MIN_RAY_VERSION, "enableK8sTokenAuth")
    } else {
        (TOKEN_AUTH_MIN_RAY_VERSION, "token authentication")
    };
    let version_path = format!("{path}.rayVersion");
    match spec.ray_version.as_deref().filter(|v| !v.trim().is_empty()) {
        None => errors.push(FieldError::new(
            version_path,
            format!(
                "{what} (authOptions) needs Ray {} or later; set rayVersion to the Ray version of the images",
                version_text(needed)
            ),
        )),
        Some(version) => match parse_version(version) {
            None => errors.push(FieldError::new(
                version_path,
                format!("\"{version}\" is not a Ray version such as 2.52.0, which {what} (authOptions) needs"),
            )),
            Some(found) if found < needed => errors.push(FieldError::new(
                version_path,
                format!(
                    "{what} (authOptions) needs Ray {} or later, but rayVersion is {version}; upgrade Ray or \
                     remove authOptions",
                    version_text(needed)
                ),
            )),
            Some(_) => {}
        },
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn errors(
        version: Option<&str>,
        auth: serde_json::Value,
        embedded_in: Option<&str>,
    ) -> Vec<String> {
        let spec: RayClusterSpec = serde_json::from_value(json!({
            "rayVersion": version,
            "authOptions": auth,
            "headGroupSpec": {"rayStartParams": {}, "template": {"spec": {"containers": [{"name": "ray"}]}}}
        }))
        .unwrap();
        let mut out = Vec::new();
        check_spec(&spec, "spec", embedded_in, &mut out);
        out.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn token_authentication_needs_a_ray_version_that_has_it() {
        assert!(errors(Some("2.52.0"), json!({"mode": "token"}), None).is_empty());
        assert!(errors(Some("2.60.0"), json!({}), None).is_empty());
        assert!(errors(None, json!({"mode": "disabled"}), None).is_empty());
        for (version, expected) in [
            (None, "set rayVersion"),
            (
                Some("2.51.1"),
                "needs Ray 2.52.0 or later, but rayVersion is 2.51.1",
            ),
            (Some("latest"), "is not a Ray version"),
        ] {
            let found = errors(version, json!({"mode": "token"}), None);
            assert_eq!(found.len(), 1, "{found:?}");
            assert!(
                found[0].starts_with("spec.rayVersion: ") && found[0].contains(expected),
                "{found:?}"
            );
        }
    }

    #[test]
    fn kubernetes_token_authentication_rules() {
        let k8s = json!({"mode": "token", "enableK8sTokenAuth": true});
        assert!(errors(Some("2.55.0"), k8s.clone(), None).is_empty());
        assert!(errors(Some("2.54.0"), k8s.clone(), None)[0].contains("needs Ray 2.55.0"));
        let found = errors(Some("2.60.0"), k8s.clone(), Some("RayService"));
        assert!(
            found[0].starts_with("spec.authOptions.enableK8sTokenAuth: ")
                && found[0].contains("RayService"),
            "{found:?}"
        );
        let found = errors(
            Some("2.60.0"),
            json!({"mode": "token", "enableK8sTokenAuth": true, "secretName": "s"}),
            None,
        );
        assert!(
            found[0].starts_with("spec.authOptions.secretName: "),
            "{found:?}"
        );
        let found = errors(
            Some("2.60.0"),
            json!({"mode": "disabled", "enableK8sTokenAuth": true}),
            None,
        );
        assert!(
            found[0].contains("needs authOptions.mode: token"),
            "{found:?}"
        );
    }

    #[test]
    fn the_secret_name_must_be_a_secret_name() {
        let found = errors(
            Some("2.60.0"),
            json!({"mode": "token", "secretName": "Not_A_Name"}),
            None,
        );
        assert!(
            found[0].starts_with(
                "spec.authOptions.secretName: \"Not_A_Name\" is not a valid Secret name"
            ),
            "{found:?}"
        );
    }
}
