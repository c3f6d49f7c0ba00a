//! The Ingress to the head's dashboard (`headGroupSpec.enableIngress`).

use std::collections::BTreeMap;

use k8s_openapi::api::networking::v1::{
    HTTPIngressPath, HTTPIngressRuleValue, Ingress, IngressBackend, IngressRule,
    IngressServiceBackend, IngressSpec, ServiceBackendPort,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::context::ClusterContext;
use crate::labels::{self, NodeType};
use crate::names;
use crate::service::{ServiceError, dashboard_port};

/// The dashboard Ingress, when `enableIngress` is true: named `<cluster>-head-ingress`, carrying the cluster's
/// annotations (except `kubernetes.io/ingress.class`, which becomes `ingressClassName`), routing `/` (prefix) to
/// the head Service's dashboard port.
pub fn head_ingress(ctx: &ClusterContext<'_>) -> Result<Option<Ingress>, ServiceError> {
    if !ctx.cluster.spec.head_group_spec.enable_ingress {
        return Ok(None);
    }
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
                host: None,
                http: Some(HTTPIngressRuleValue {
                    paths: vec![HTTPIngressPath {
                        path: Some("/".to_string()),
                        path_type: "Prefix".to_string(),
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
}
