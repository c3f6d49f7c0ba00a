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
