//! The Ingress to the head's dashboard (`headGroupSpec.enableIngress`).

use std::collections::BTreeMap;

use k8s_openapi::api::networking::v1::{
    HTTPIngressPath, HTTPIngressRuleValue, Ingress, IngressBackend, IngressRule,
    IngressServiceBackend, IngressSpec, ServiceBackendPort,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use ray_api_v1::IngressPathType;

use crate::context::ClusterContext;
use crate::labels::{self, NodeType};
use crate::names;
use crate::service::{ServiceError, dashboard_port};

/// The dashboard Ingress, when `enableIngress` is true: named `<cluster>-head-ingress`, carrying the cluster's
/// annotations (except `kubernetes.io/ingress.class`, which becomes `ingressClassName`), with one rule that routes
/// `ingressOptions.path` (default `/`, matched as `pathType`, default `Prefix`) on `ingressOptions.host` (any host
/// when unset) to the head Service's dashboard port, and `ingressOptions.tls` as its TLS.
pub fn head_ingress(ctx: &ClusterContext<'_>) -> Result<Option<Ingress>, ServiceError> {
    let head = &ctx.cluster.spec.head_group_spec;
    if !head.enable_ingress {
        return Ok(None);
    }
    let options = head.ingress_options.clone().unwrap_or_default();
    // An empty string means unset, as it does in KubeRay's Go types.
    let path = options
        .path
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "/".to_string());
    let path_type = match options.path_type.unwrap_or(IngressPathType::Prefix) {
        IngressPathType::Exact => "Exact",
        IngressPathType::Prefix => "Prefix",
        IngressPathType::ImplementationSpecific => "ImplementationSpecific",
    };
    let name = names::ingress_name(&ctx.name, "metadata.name")?;
    let mut annotations = ctx.annotations().cloned().unwrap_or_default();
    let class = annotations.remove(labels::INGRESS_CLASS_ANNOTATION);
    // kubectl's record of the RayCluster it applied; on the Ingress it would mislead `kubectl apply`.
    annotations.remove(labels::LAST_APPLIED_ANNOTATION);
    let port = dashboard_port(ctx)?;
    Ok(Some(Ingress {
        metadata: ObjectMeta {
            name: Some(name),
            namespace: Some(ctx.namespace.clone()),
            labels: Some(BTreeMap::from([
                (labels::CLUSTER.to_string(), ctx.name.clone()),
                (
                    labels::IDENTIFIER.to_string(),
                    labels::identifier(&ctx.name, NodeType::Head),
                ),
                (
                    labels::APP_NAME.to_string(),
                    labels::APP_NAME_VALUE.to_string(),
                ),
                (
                    labels::APP_CREATED_BY.to_string(),
                    labels::APP_CREATED_BY_VALUE.to_string(),
                ),
            ])),
            annotations: (!annotations.is_empty()).then_some(annotations),
            owner_references: ctx.owner_reference().map(|o| vec![o]),
            ..ObjectMeta::default()
        },
        spec: Some(IngressSpec {
            ingress_class_name: class,
            rules: Some(vec![IngressRule {
                host: options.host.filter(|h| !h.is_empty()),
                http: Some(HTTPIngressRuleValue {
                    paths: vec![HTTPIngressPath {
                        path: Some(path),
                        path_type: path_type.to_string(),
                        backend: IngressBackend {
                            service: Some(IngressServiceBackend {
                                name: ctx.head_service_name.clone(),
                                port: Some(ServiceBackendPort {
                                    name: None,
                                    number: Some(port),
                                }),
                            }),
                            resource: None,
                        },
                    }],
                }),
            }]),
            tls: (!options.tls.is_empty()).then_some(options.tls),
            ..IngressSpec::default()
        }),
        status: None,
    }))
}

#[cfg(test)]
mod tests {
    use ray_api_v1::RayCluster;
    use serde_json::json;

    use super::*;
    use crate::RenderOptions;

    #[test]
    fn the_ingress_carries_the_cluster_annotations_but_not_kubectls_record() {
        let cluster: RayCluster = serde_json::from_value(json!({
            "apiVersion": "ray.io/v1", "kind": "RayCluster",
            "metadata": {"name": "c", "namespace": "n", "annotations": {
                "kubernetes.io/ingress.class": "nginx",
                "nginx.ingress.kubernetes.io/rewrite-target": "/",
                "kubectl.kubernetes.io/last-applied-configuration": "{\"kind\":\"RayCluster\"}"}},
            "spec": {"headGroupSpec": {"enableIngress": true, "rayStartParams": {},
                "template": {"spec": {"containers": [{"name": "ray-head", "image": "rayproject/ray:2.9.0"}]}}}}
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        let options = RenderOptions::default();
        let ctx = ClusterContext::new(&cluster, &options).unwrap_or_else(|e| panic!("{e}"));
        let ingress = head_ingress(&ctx)
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|| panic!("enableIngress is true"));
        let annotations = ingress.metadata.annotations.unwrap_or_default();
        assert_eq!(
            annotations.keys().collect::<Vec<_>>(),
            ["nginx.ingress.kubernetes.io/rewrite-target"]
        );
        assert_eq!(
            ingress.spec.and_then(|s| s.ingress_class_name).as_deref(),
            Some("nginx")
        );
    }

    fn ingress_of(head_group_spec: serde_json::Value) -> Ingress {
        let mut spec = json!({"rayStartParams": {},
            "template": {"spec": {"containers": [{"name": "ray-head", "image": "rayproject/ray:2.9.0"}]}}});
        if let (Some(spec), Some(extra)) = (spec.as_object_mut(), head_group_spec.as_object()) {
            spec.extend(extra.clone());
        }
        let cluster: RayCluster = serde_json::from_value(json!({
            "apiVersion": "ray.io/v1", "kind": "RayCluster",
            "metadata": {"name": "c", "namespace": "n"},
            "spec": {"headGroupSpec": spec}
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        let options = RenderOptions::default();
        let ctx = ClusterContext::new(&cluster, &options).unwrap_or_else(|e| panic!("{e}"));
        head_ingress(&ctx)
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|| panic!("enableIngress is true"))
    }

    #[test]
    fn ingress_options_set_the_host_the_path_and_tls() {
        let ingress = ingress_of(json!({"enableIngress": true, "ingressOptions": {
            "host": "ray.example.com", "path": "/dashboard", "pathType": "Exact",
            "tls": [{"hosts": ["ray.example.com"], "secretName": "ray-tls"}]}}));
        let spec = ingress.spec.unwrap_or_default();
        let rules = spec.rules.unwrap_or_default();
        assert_eq!(rules.len(), 1);
        assert_eq!(rules[0].host.as_deref(), Some("ray.example.com"));
        let paths = rules[0].http.clone().unwrap_or_default().paths;
        assert_eq!(paths.len(), 1);
        assert_eq!(paths[0].path.as_deref(), Some("/dashboard"));
        assert_eq!(paths[0].path_type, "Exact");
        let backend = paths[0].backend.service.clone().unwrap_or_default();
        assert_eq!(backend.name, "c-head-svc");
        assert_eq!(backend.port.and_then(|p| p.number), Some(8265));
        let tls = spec.tls.unwrap_or_default();
        assert_eq!(tls.len(), 1);
        assert_eq!(tls[0].secret_name.as_deref(), Some("ray-tls"));
        assert_eq!(
            tls[0].hosts.as_deref(),
            Some(&["ray.example.com".to_string()][..])
        );
    }

    #[test]
    fn ingress_options_without_enable_ingress_create_nothing_and_render_says_so() {
        let cluster: RayCluster = serde_json::from_value(json!({
            "apiVersion": "ray.io/v1", "kind": "RayCluster",
            "metadata": {"name": "c", "namespace": "n"},
            "spec": {"headGroupSpec": {"ingressOptions": {"host": "ray.example.com"}, "rayStartParams": {},
                "template": {"spec": {"containers": [{"name": "ray-head", "image": "rayproject/ray:2.9.0"}]}}}}
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        let options = RenderOptions::default();
        let ctx = ClusterContext::new(&cluster, &options).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(head_ingress(&ctx).unwrap_or_else(|e| panic!("{e}")), None);
        let notes = crate::cluster_notes(&cluster);
        assert!(
            notes
                .iter()
                .any(|n| n.starts_with("spec.headGroupSpec.ingressOptions is ignored")),
            "{notes:?}"
        );
    }

    #[test]
    fn without_ingress_options_any_host_and_every_path_reach_the_dashboard() {
        let ingress = ingress_of(json!({"enableIngress": true}));
        let spec = ingress.spec.unwrap_or_default();
        let rule = spec.rules.unwrap_or_default().remove(0);
        assert_eq!(rule.host, None);
        let path = rule.http.unwrap_or_default().paths.remove(0);
        assert_eq!(path.path.as_deref(), Some("/"));
        assert_eq!(path.path_type, "Prefix");
        assert_eq!(spec.tls, None);
    }
}
