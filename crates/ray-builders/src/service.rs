//! The head Service, the serve Service and the headless Service of multi-host worker groups.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::context::{
    ClusterContext, ContextError, DEFAULT_CLIENT_PORT, DEFAULT_DASHBOARD_PORT, DEFAULT_GCS_PORT,
    DEFAULT_METRICS_PORT, DEFAULT_SERVE_PORT, param_port,
};
use crate::labels;
use crate::names::{self, NameError};

/// A Service that cannot be rendered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServiceError {
    /// A derived name does not fit.
    #[error(transparent)]
    Name(#[from] NameError),
    /// A port parameter is invalid.
    #[error(transparent)]
    Context(#[from] ContextError),
    /// A serve Service is wanted but the head container declares no Serve port.
    #[error(
        "{field}: the head container has ports but none named 'serve' (or starting with 'serve-'); add one so the serve Service knows where Ray Serve listens"
    )]
    NoServePort {
        /// The head container's ports field.
        field: String,
    },
}

/// The ports of a cluster's head, by name: the head Ray container's ports (an unnamed port is called
/// `<port>-port`), or when it declares none, the defaults `client` 10001, `dashboard` 8265, `gcs-server` 6379,
/// `metrics` 8080 and `serve` 8000. A `metrics` port is always present.
pub fn head_ports(ctx: &ClusterContext<'_>) -> Result<BTreeMap<String, i32>, ContextError> {
    let declared = ctx
        .head_ray_container()
        .and_then(|c| c.ports.as_ref())
        .filter(|p| !p.is_empty());
    let mut ports: BTreeMap<String, i32> = match declared {
        Some(declared) => declared
            .iter()
            .map(|p| {
                let name = p
                    .name
                    .clone()
                    .filter(|n| !n.is_empty())
                    .unwrap_or_else(|| format!("{}-port", p.container_port));
                (name, p.container_port)
            })
            .collect(),
        None => BTreeMap::from([
            ("client".to_string(), i32::from(DEFAULT_CLIENT_PORT)),
            ("dashboard".to_string(), i32::from(DEFAULT_DASHBOARD_PORT)),
            ("gcs-server".to_string(), i32::from(DEFAULT_GCS_PORT)),
            ("metrics".to_string(), i32::from(DEFAULT_METRICS_PORT)),
            ("serve".to_string(), i32::from(DEFAULT_SERVE_PORT)),
        ]),
    };
    if !ports.contains_key("metrics") {
        let metrics = param_port(
            &ctx.cluster.spec.head_group_spec.ray_start_params,
            "metrics-export-port",
            &ctx.field("headGroupSpec"),
        )?
        .unwrap_or(DEFAULT_METRICS_PORT);
        ports.insert("metrics".to_string(), i32::from(metrics));
    }
    Ok(ports)
}

/// The dashboard port of the head: its port named `dashboard`, or 8265.
pub fn dashboard_port(ctx: &ClusterContext<'_>) -> Result<i32, ContextError> {
    Ok(head_ports(ctx)?
        .get("dashboard")
        .copied()
        .unwrap_or(i32::from(DEFAULT_DASHBOARD_PORT)))
}

/// The address of the cluster's dashboard, as the RayJob status and submitter use it: `<head FQDN>:<port>`
/// (no scheme).
pub fn dashboard_address(ctx: &ClusterContext<'_>) -> Result<String, ContextError> {
    Ok(format!("{}:{}", ctx.head_fqdn, dashboard_port(ctx)?))
}

fn service_port(name: &str, port: i32, app_protocol: bool) -> ServicePort {
    ServicePort {
        name: Some(name.to_string()),
        port,
        app_protocol: app_protocol.then(|| "tcp".to_string()),
        ..ServicePort::default()
    }
}

/// The head Service.
///
/// Without a custom `headService`: named `<cluster>-head-svc`, labelled and selecting the head pod, one port per
/// head port (sorted by name), annotated with `headServiceAnnotations`, of type `serviceType`. A `ClusterIP`
/// head Service is headless (`clusterIP: None`, publishing not-ready addresses) unless
/// [`RenderOptions::head_service_cluster_ip`](crate::RenderOptions::head_service_cluster_ip).
///
/// With a custom `headService`: the user's Service, with the namespace and selector forced, the operator's labels
/// and the `headServiceAnnotations` merged over the user's, the head ports the user did not declare (by name or
/// number) appended, and the name and type defaulted.
pub fn head_service(ctx: &ClusterContext<'_>) -> Result<Service, ServiceError> {
    let head = &ctx.cluster.spec.head_group_spec;
    let mut selector = labels::head_service_labels(&ctx.name);
    if let Some(app) = head
        .template
        .metadata
        .as_ref()
        .and_then(|m| m.labels.as_ref())
        .and_then(|l| l.get(labels::APP_NAME))
    {
        selector.insert(labels::APP_NAME.to_string(), app.clone());
    }
    let ports = head_ports(ctx)?;
    let extra_annotations = ctx.cluster.spec.head_service_annotations.clone();
    let owner = ctx.owner_reference().map(|o| vec![o]);

    if let Some(custom) = &head.head_service {
        let mut service = custom.clone();
        service.status = None;
        let meta = &mut service.metadata;
        meta.name = Some(ctx.head_service_name.clone());
        meta.namespace = Some(ctx.namespace.clone());
        let mut merged_labels = meta.labels.take().unwrap_or_default();
        merged_labels.extend(selector.clone());
        meta.labels = Some(merged_labels);
        if let Some(extra) = extra_annotations {
            meta.annotations
                .get_or_insert_with(BTreeMap::new)
                .extend(extra);
        }
        meta.owner_references = owner;
        let spec = service.spec.get_or_insert_with(ServiceSpec::default);
        spec.selector = Some(selector);
        let user_ports = spec.ports.get_or_insert_with(Vec::new);
        for (name, port) in &ports {
            let taken = user_ports
                .iter()
                .any(|p| p.name.as_deref() == Some(name.as_str()) || p.port == *port);
            if !taken {
                user_ports.push(service_port(name, *port, true));
            }
        }
        if spec.type_.as_deref().is_none_or(str::is_empty) {
            spec.type_ = head.service_type.clone();
        }
        return Ok(service);
    }

    let service_type = head.service_type.clone().filter(|t| !t.is_empty());
    let headless = !ctx.options.head_service_cluster_ip
        && service_type.as_deref().is_none_or(|t| t == "ClusterIP");
    Ok(Service {
        metadata: ObjectMeta {
            name: Some(ctx.head_service_name.clone()),
            namespace: Some(ctx.namespace.clone()),
            labels: Some(selector.clone()),
            annotations: extra_annotations.filter(|a| !a.is_empty()),
            owner_references: owner,
            ..ObjectMeta::default()
        },
        spec: Some(ServiceSpec {
            selector: Some(selector),
            ports: Some(
                ports
                    .iter()
                    .map(|(name, port)| service_port(name, *port, true))
                    .collect(),
            ),
            type_: service_type,
            cluster_ip: headless.then(|| "None".to_string()),
            publish_not_ready_addresses: headless.then_some(true),
            ..ServiceSpec::default()
        }),
        status: None,
    })
}

/// The head's Serve ports: those named `serve` or starting with `serve-`.
pub fn serve_ports(ctx: &ClusterContext<'_>) -> Result<Vec<ServicePort>, ServiceError> {
    let ports: Vec<ServicePort> = head_ports(ctx)?
        .iter()
        .filter(|(name, _)| *name == "serve" || name.starts_with("serve-"))
        .map(|(name, port)| service_port(name, *port, false))
        .collect();
    Ok(ports)
}

/// The serve Service of a plain RayCluster, when it carries `ray.io/enable-serve-service: "true"`: named
/// `<cluster>-serve-svc`, selecting every pod of the cluster on the head's Serve ports.
pub fn cluster_serve_service(ctx: &ClusterContext<'_>) -> Result<Option<Service>, ServiceError> {
    if !labels::annotation_is_true(ctx.annotations(), labels::ENABLE_SERVE_SERVICE_ANNOTATION) {
        return Ok(None);
    }
    let ports = serve_ports(ctx)?;
    if ports.is_empty() {
        return Err(ServiceError::NoServePort {
            field: ctx.field("headGroupSpec.template.spec.containers[0].ports"),
        });
    }
    let name = names::serve_service_name(&ctx.name, "metadata.name")?;
    let serve_label = names::serve_label_value(&ctx.name, "metadata.name")?;
    Ok(Some(Service {
        metadata: ObjectMeta {
            name: Some(name),
            namespace: Some(ctx.namespace.clone()),
            labels: Some(BTreeMap::from([
                (
                    labels::ORIGINATED_FROM_CR_NAME.to_string(),
                    ctx.name.clone(),
                ),
                (
                    labels::ORIGINATED_FROM_CRD.to_string(),
                    labels::CRD_RAY_CLUSTER.to_string(),
                ),
                (labels::SERVE.to_string(), serve_label),
            ])),
            owner_references: ctx.owner_reference().map(|o| vec![o]),
            ..ObjectMeta::default()
        },
        spec: Some(ServiceSpec {
            selector: Some(BTreeMap::from([(
                labels::CLUSTER.to_string(),
                ctx.name.clone(),
            )])),
            ports: Some(ports),
            type_: ctx
                .cluster
                .spec
                .head_group_spec
                .service_type
                .clone()
                .filter(|t| !t.is_empty()),
            ..ServiceSpec::default()
        }),
        status: None,
    }))
}

/// The headless Service giving multi-host worker pods stable DNS names, when any group has `numOfHosts > 1`:
/// named `<cluster>-headless`, selecting the cluster's workers.
pub fn headless_worker_service(ctx: &ClusterContext<'_>) -> Result<Option<Service>, ServiceError> {
    let multi_host = ctx
        .cluster
        .spec
        .worker_group_specs
        .iter()
        .any(|g| g.num_of_hosts.unwrap_or(1) > 1);
    if !multi_host {
        return Ok(None);
    }
    let name = names::headless_service_name(&ctx.name, "metadata.name")?;
    Ok(Some(Service {
        metadata: ObjectMeta {
            name: Some(name),
            namespace: Some(ctx.namespace.clone()),
            labels: Some(BTreeMap::from([(
                labels::HEADLESS_WORKER_SVC.to_string(),
                ctx.name.clone(),
            )])),
            owner_references: ctx.owner_reference().map(|o| vec![o]),
            ..ObjectMeta::default()
        },
        spec: Some(ServiceSpec {
            selector: Some(BTreeMap::from([
                (labels::CLUSTER.to_string(), ctx.name.clone()),
                (
                    labels::NODE_TYPE.to_string(),
                    labels::NODE_TYPE_WORKER.to_string(),
                ),
            ])),
            cluster_ip: Some("None".to_string()),
            type_: Some("ClusterIP".to_string()),
            publish_not_ready_addresses: Some(true),
            ..ServiceSpec::default()
        }),
        status: None,
    }))
}
