//! The RayCluster a RayService runs, and the Services a RayService or RayJob owns in front of its cluster.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Service, ServiceSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use ray_api_v1::{RayCluster, RayService};

use crate::context::{ClusterContext, RenderOptions, owner_reference};
use crate::labels::{self, NodeType};
use crate::names::{self, NameError};
use crate::service::{ServiceError, head_service, serve_ports};
use crate::spec_hash::{HashError, rayservice_cluster_hash};

/// A RayService whose cluster or Services cannot be rendered.
#[derive(Debug, thiserror::Error)]
pub enum ServiceClusterError {
    /// The RayService has no name.
    #[error("metadata.name: the RayService has no name")]
    MissingName,
    /// A derived name does not fit.
    #[error(transparent)]
    Name(#[from] NameError),
    /// The spec could not be hashed.
    #[error(transparent)]
    Hash(#[from] HashError),
    /// A Service cannot be rendered.
    #[error(transparent)]
    Service(#[from] ServiceError),
}

fn owner_name(meta: &ObjectMeta) -> Option<String> {
    meta.name.clone().filter(|n| !n.is_empty())
}

/// The RayCluster for a RayService, named `cluster_name` (the operator picks `<rayservice>-<5 random>` and
/// records it in status first).
///
/// Labels are the RayService's plus `ray.io/originated-from-cr-name` and `ray.io/originated-from-crd:
/// RayService`; annotations are the RayService's plus the spec hash, the number of worker groups and the operator
/// version; the spec is a copy of `rayClusterConfig`.
pub fn ray_cluster_for_service(
    service: &RayService,
    cluster_name: &str,
    options: &RenderOptions,
) -> Result<RayCluster, ServiceClusterError> {
    let name = owner_name(&service.metadata).ok_or(ServiceClusterError::MissingName)?;
    names::check_generated_cluster_name(cluster_name, "metadata.name")?;
    let config = &service.spec.ray_cluster_config;
    let mut cluster_labels = service.metadata.labels.clone().unwrap_or_default();
    cluster_labels.insert(labels::ORIGINATED_FROM_CR_NAME.to_string(), name.clone());
    cluster_labels.insert(
        labels::ORIGINATED_FROM_CRD.to_string(),
        labels::CRD_RAY_SERVICE.to_string(),
    );
    let mut annotations = service.metadata.annotations.clone().unwrap_or_default();
    annotations.insert(
        labels::HASH_WITHOUT_REPLICAS_ANNOTATION.to_string(),
        rayservice_cluster_hash(config)?,
    );
    annotations.insert(
        labels::NUM_WORKER_GROUPS_ANNOTATION.to_string(),
        config.worker_group_specs.len().to_string(),
    );
    annotations.insert(
        labels::KUBERAY_VERSION_ANNOTATION.to_string(),
        options.operator_version.clone(),
    );
    let mut cluster = RayCluster::new(cluster_name, config.clone());
    cluster.metadata = ObjectMeta {
        name: Some(cluster_name.to_string()),
        namespace: service.metadata.namespace.clone(),
        labels: Some(cluster_labels),
        annotations: Some(annotations),
        owner_references: owner_reference("RayService", &name, service.metadata.uid.as_deref())
            .map(|o| vec![o]),
        ..ObjectMeta::default()
    };
    Ok(cluster)
}

/// The head Service a RayJob or RayService keeps in front of its current cluster: `<owner>-head-svc`, built like
/// the cluster's head Service (ports, type, selector of the cluster's head) but labelled as the owner's.
/// `owner_kind` is `RayJob` or `RayService`.
pub fn owner_head_service(
    ctx: &ClusterContext<'_>,
    owner_kind: &str,
    owner: &ObjectMeta,
) -> Result<Service, ServiceClusterError> {
    let name = owner_name(owner).ok_or(ServiceClusterError::MissingName)?;
    let mut service = head_service(ctx)?;
    service.metadata.name = Some(names::head_service_name(&name, "metadata.name")?);
    service.metadata.labels = Some(BTreeMap::from([
        (labels::ORIGINATED_FROM_CR_NAME.to_string(), name.clone()),
        (
            labels::ORIGINATED_FROM_CRD.to_string(),
            owner_kind.to_string(),
        ),
        (
            labels::NODE_TYPE.to_string(),
            labels::NODE_TYPE_HEAD.to_string(),
        ),
        (
            labels::IDENTIFIER.to_string(),
            labels::identifier(&name, NodeType::Head),
        ),
    ]));
    service.metadata.owner_references =
        owner_reference(owner_kind, &name, owner.uid.as_deref()).map(|o| vec![o]);
    Ok(service)
}

/// The serve Service of a RayService: `serveService.metadata.name` or `<rayservice>-serve-svc`, selecting the
/// pods of the current cluster that are ready to serve (`ray.io/serve: "true"`) on the head's Serve ports.
///
/// A custom `serveService` keeps its own ports (replacing the generated ports of the same name), its labels
/// (the operator's win) and type; the selector and namespace are forced.
pub fn rayservice_serve_service(
    ctx: &ClusterContext<'_>,
    service: &RayService,
) -> Result<Service, ServiceClusterError> {
    let name = owner_name(&service.metadata).ok_or(ServiceClusterError::MissingName)?;
    let custom = service.spec.serve_service.as_ref();
    let svc_name = match custom
        .and_then(|s| s.metadata.name.clone())
        .filter(|n| !n.is_empty())
    {
        Some(custom_name) => {
            names::check(
                &custom_name,
                0,
                names::NameRule::Dns1035Label,
                "serve Service name",
                "spec.serveService.metadata.name",
            )?;
            custom_name
        }
        None => names::serve_service_name(&name, "metadata.name")?,
    };
    let mut ports = serve_ports(ctx)?;
    if ports.is_empty() && custom.is_none() {
        return Err(ServiceError::NoServePort {
            field: ctx.field("headGroupSpec.template.spec.containers[0].ports"),
        }
        .into());
    }
    let operator_labels = BTreeMap::from([
        (labels::ORIGINATED_FROM_CR_NAME.to_string(), name.clone()),
        (
            labels::ORIGINATED_FROM_CRD.to_string(),
            labels::CRD_RAY_SERVICE.to_string(),
        ),
        (
            labels::SERVE.to_string(),
            names::serve_label_value(&name, "metadata.name")?,
        ),
    ]);
    let selector = BTreeMap::from([
        (labels::CLUSTER.to_string(), ctx.name.clone()),
        (labels::SERVE.to_string(), "true".to_string()),
    ]);
    let mut out = custom.cloned().unwrap_or_default();
    out.status = None;
    out.metadata.name = Some(svc_name);
    out.metadata.namespace = Some(ctx.namespace.clone());
    let mut merged = out.metadata.labels.take().unwrap_or_default();
    merged.extend(operator_labels);
    out.metadata.labels = Some(merged);
    out.metadata.owner_references =
        owner_reference("RayService", &name, service.metadata.uid.as_deref()).map(|o| vec![o]);
    let spec = out.spec.get_or_insert_with(ServiceSpec::default);
    if let Some(user_ports) = spec.ports.take().filter(|p| !p.is_empty()) {
        ports.retain(|p| !user_ports.iter().any(|u| u.name == p.name));
        let mut combined = user_ports;
        combined.extend(ports);
        ports = combined;
    }
    spec.ports = Some(ports);
    spec.selector = Some(selector);
    if spec.type_.as_deref().is_none_or(str::is_empty) {
        spec.type_ = ctx
            .cluster
            .spec
            .head_group_spec
            .service_type
            .clone()
            .filter(|t| !t.is_empty());
    }
    Ok(out)
}
