//! API requests counted from the operator's own log, for operators without the request counter in /metrics (or to
//! cross-check it): with `--trace-requests` the operator runs with
//! `RUST_LOG=info,kube_client::client::builder=debug,ray_controllers=debug,operator_runtime=debug` and JSON logs, so kube-client logs one
//! `requesting` line per request sent (after the rate limiter), carrying the method and URL, and the controllers log
//! one `reconciled` line per finished reconcile. Tracing costs the operator some CPU, so timings of such a run are
//! not comparable with an untraced one.

use serde_json::Value;

use super::metrics::Snapshot;

/// The `RUST_LOG` that makes the operator log every request and reconcile.
pub const RUST_LOG: &str =
    "info,kube_client::client::builder=debug,ray_controllers=debug,operator_runtime=debug";

/// The Kubernetes verb and resource (with subresource, e.g. `rayclusters/status`) of a request.
pub fn verb_and_resource(method: &str, url: &str) -> (String, String) {
    let (path, query) = url.split_once('?').map_or((url, ""), |(p, q)| (p, q));
    // Drop the scheme and host if the URL is absolute.
    let path = match path.find("://") {
        Some(i) => path[i + 3..].find('/').map_or("/", |j| &path[i + 3 + j..]),
        None => path,
    };
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    // /api/v1/... or /apis/<group>/<version>/...
    let rest: &[&str] = match segments.first() {
        Some(&"api") => segments.get(2..).unwrap_or(&[]),
        Some(&"apis") => segments.get(3..).unwrap_or(&[]),
        _ => &[],
    };
    let rest = match rest {
        ["namespaces", _, tail @ ..] if !tail.is_empty() => tail,
        other => other,
    };
    let (resource, named) = match rest {
        [] => ("(other)".to_string(), false),
        [resource] => (resource.to_string(), false),
        [resource, _name] => (resource.to_string(), true),
        [resource, _name, sub, ..] => (format!("{resource}/{sub}"), true),
    };
    let watch = query
        .split('&')
        .any(|kv| kv == "watch=true" || kv == "watch=1");
    let verb = match (method, named) {
        ("GET", _) if watch => "watch",
        ("GET", true) => "get",
        ("GET", false) => "list",
        ("POST", _) => "create",
        ("PUT", _) => "update",
        ("PATCH", _) => "patch",
        ("DELETE", true) => "delete",
        ("DELETE", false) => "deletecollection",
        (other, _) => other,
    };
    (verb.to_lowercase(), resource)
}

/// Counts requests and reconciles logged with a timestamp in `[from, to)` (RFC 3339 strings compare in time
/// order when both are UTC with the same precision, so they are parsed first).
pub fn count(
    log: &str,
    from: k8s_openapi::jiff::Timestamp,
    to: k8s_openapi::jiff::Timestamp,
) -> Snapshot {
    let mut snapshot = Snapshot {
        has_requests: true,
        ..Snapshot::default()
    };
    for line in log.lines() {
        let Ok(value) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        let Some(at) = value
            .get("timestamp")
            .and_then(Value::as_str)
            .and_then(|t| t.parse::<k8s_openapi::jiff::Timestamp>().ok())
        else {
            continue;
        };
        if at < from || at >= to {
            continue;
        }
        let message = value
            .pointer("/fields/message")
            .and_then(Value::as_str)
            .unwrap_or("");
        match message {
            "requesting" => {
                let span = value.get("span");
                let field = |k: &str| {
                    span.and_then(|s| s.get(k))
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string()
                };
                let (verb, resource) = verb_and_resource(&field("http.method"), &field("http.url"));
                *snapshot
                    .requests
                    .entry(format!("{verb} {resource}"))
                    .or_default() += 1.0;
            }
            "reconciled" => {
                // The runner names the controller in a field; older logs only in the target.
                let controller = value
                    .get("fields")
                    .and_then(|f| f.get("controller"))
                    .and_then(Value::as_str)
                    .or_else(|| {
                        value
                            .get("target")
                            .and_then(Value::as_str)
                            .and_then(|t| t.split("::").nth(1))
                    })
                    .unwrap_or("unknown")
                    .to_string();
                *snapshot.reconciles.entry(controller).or_default() += 1.0;
            }
            _ => {}
        }
    }
    snapshot
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_map_to_kubernetes_verbs_and_resources() {
        let cases = [
            ("POST", "/api/v1/namespaces/a/pods", "create", "pods"),
            (
                "GET",
                "/api/v1/namespaces/a/services/x-head-svc",
                "get",
                "services",
            ),
            (
                "GET",
                "/api/v1/pods?&labelSelector=ray.io%2Fnode-type&watch=true&timeoutSeconds=290",
                "watch",
                "pods",
            ),
            (
                "GET",
                "/apis/ray.io/v1/rayclusters?limit=500",
                "list",
                "rayclusters",
            ),
            (
                "PATCH",
                "/apis/ray.io/v1/namespaces/a/rayclusters/rc-1/status?fieldManager=x&force=true",
                "patch",
                "rayclusters/status",
            ),
            (
                "POST",
                "/apis/events.k8s.io/v1/namespaces/a/events",
                "create",
                "events",
            ),
            ("DELETE", "/api/v1/namespaces/a/pods/p", "delete", "pods"),
            (
                "DELETE",
                "/api/v1/namespaces/a/pods",
                "deletecollection",
                "pods",
            ),
            (
                "PUT",
                "https://127.0.0.1:6443/apis/ray.io/v1/namespaces/a/rayclusters/rc",
                "update",
                "rayclusters",
            ),
        ];
        for (method, url, verb, resource) in cases {
            assert_eq!(
                verb_and_resource(method, url),
                (verb.to_string(), resource.to_string()),
                "{method} {url}"
            );
        }
    }

    #[test]
    fn counts_only_lines_in_the_window() {
        let log = r#"{"timestamp":"2026-01-01T00:00:01.000000Z","level":"DEBUG","fields":{"message":"requesting"},"target":"kube_client::client::builder","span":{"http.method":"POST","http.url":"/api/v1/namespaces/a/pods","name":"HTTP"}}
{"timestamp":"2026-01-01T00:00:02.000000Z","level":"DEBUG","fields":{"message":"requesting"},"target":"kube_client::client::builder","span":{"http.method":"POST","http.url":"/api/v1/namespaces/a/pods","name":"HTTP"}}
{"timestamp":"2026-01-01T00:00:02.500000Z","level":"DEBUG","fields":{"message":"reconciled","controller":"raycluster","name":"rc"},"target":"operator_runtime::runner"}
not json
{"timestamp":"2026-01-01T00:00:09.000000Z","level":"DEBUG","fields":{"message":"requesting"},"target":"kube_client::client::builder","span":{"http.method":"GET","http.url":"/api/v1/namespaces/a/services/s","name":"HTTP"}}"#;
        let from: k8s_openapi::jiff::Timestamp = "2026-01-01T00:00:01.5Z".parse().expect("time");
        let to: k8s_openapi::jiff::Timestamp = "2026-01-01T00:00:05Z".parse().expect("time");
        let s = count(log, from, to);
        assert_eq!(s.requests.get("create pods"), Some(&1.0));
        assert_eq!(s.requests.len(), 1);
        assert_eq!(s.reconciles.get("raycluster"), Some(&1.0));
    }
}
