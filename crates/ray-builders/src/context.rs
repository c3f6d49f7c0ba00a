//! What every builder needs to know about one RayCluster: its identity, where it came from, and the derived names
//! and addresses (head Service, head FQDN, GCS port) that pods and services share.

use k8s_openapi::api::core::v1::Container;
use ray_api_v1::RayCluster;

use crate::labels;
use crate::names::{self, NameError};
use crate::shell::ParamValue;

/// The version this operator reports in `ray.io/kuberay-version` and in Ray's usage tags.
pub const OPERATOR_VERSION: &str = env!("CARGO_PKG_VERSION");
/// The default GCS port of the head (`gcs-server`).
pub const DEFAULT_GCS_PORT: u16 = 6379;
/// The default dashboard port.
pub const DEFAULT_DASHBOARD_PORT: u16 = 8265;
/// The default Ray client port.
pub const DEFAULT_CLIENT_PORT: u16 = 10001;
/// The default metrics export port.
pub const DEFAULT_METRICS_PORT: u16 = 8080;
/// The default Ray Serve HTTP port.
pub const DEFAULT_SERVE_PORT: u16 = 8000;
/// The default dashboard agent port (health checks of every Ray node).
pub const DEFAULT_DASHBOARD_AGENT_PORT: u16 = 52365;

/// Operator-wide settings that change what is rendered. The defaults are KubeRay's defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderOptions {
    /// The cluster's DNS domain, used in the head FQDN (`<svc>.<ns>.svc.<domain>`). KubeRay reads it from the
    /// `CLUSTER_DOMAIN` environment variable.
    pub cluster_domain: String,
    /// The operator version written to `ray.io/kuberay-version` and Ray's usage-stats tags.
    pub operator_version: String,
    /// The namespace of objects whose manifest has none.
    pub default_namespace: String,
    /// Give the head Service a cluster IP (KubeRay's `ENABLE_RAY_HEAD_CLUSTER_IP_SERVICE=true`). By default a
    /// `ClusterIP` head Service is headless, so it resolves to the head pod even before it is ready.
    pub head_service_cluster_ip: bool,
    /// Fill in liveness and readiness probes the user left unset (KubeRay's `ENABLE_PROBES_INJECTION`).
    pub inject_probes: bool,
    /// Add the `wait-gcs-ready` init container to workers (KubeRay's `ENABLE_INIT_CONTAINER_INJECTION`).
    pub inject_wait_gcs_ready: bool,
    /// The most pods [`crate::render_cluster`], [`crate::render_job`] and [`crate::render_service`] render for
    /// one cluster (`ray-operator render --max-pods`): a spec asking for more is an error naming the field, so
    /// `replicas: 2147483647` cannot exhaust memory. The operator's reconcile does not read it.
    pub max_rendered_pods: u64,
}

/// The default of [`RenderOptions::max_rendered_pods`].
pub const DEFAULT_MAX_RENDERED_PODS: u64 = 10_000;

impl Default for RenderOptions {
    fn default() -> Self {
        RenderOptions {
            cluster_domain: "cluster.local".to_string(),
            operator_version: OPERATOR_VERSION.to_string(),
            default_namespace: "default".to_string(),
            head_service_cluster_ip: false,
            inject_probes: true,
            inject_wait_gcs_ready: true,
            max_rendered_pods: DEFAULT_MAX_RENDERED_PODS,
        }
    }
}

/// Which custom resource a RayCluster was created for, read from its `ray.io/originated-from-*` labels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A RayCluster the user created.
    RayCluster,
    /// The cluster of the named RayJob.
    RayJob(String),
    /// A cluster of the named RayService.
    RayService(String),
}

impl Origin {
    /// The kind name used in labels and in Ray's usage tags.
    pub fn kind(&self) -> &'static str {
        match self {
            Origin::RayCluster => labels::CRD_RAY_CLUSTER,
            Origin::RayJob(_) => labels::CRD_RAY_JOB,
            Origin::RayService(_) => labels::CRD_RAY_SERVICE,
        }
    }

    /// The JSON path of the cluster spec inside the user's object, so errors name the field the user wrote.
    pub fn spec_path(&self) -> &'static str {
        match self {
            Origin::RayCluster => "spec",
            Origin::RayJob(_) => "spec.rayClusterSpec",
            Origin::RayService(_) => "spec.rayClusterConfig",
        }
    }
}

/// A problem with the cluster as a whole, found before any object is rendered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContextError {
    /// The cluster has no name.
    #[error("metadata.name: the RayCluster has no name")]
    MissingName,
    /// A derived name does not fit Kubernetes' limits.
    #[error(transparent)]
    Name(#[from] NameError),
    /// A port in `rayStartParams` is not a port number.
    #[error("{field}: {value:?} is not a port number (1-65535)")]
    InvalidPort {
        /// The `rayStartParams` field.
        field: String,
        /// Its value.
        value: String,
    },
    /// The spec could not be hashed (does not happen for well-formed API objects).
    #[error("spec: the cluster spec could not be hashed: {0}")]
    Hash(String),
}

/// What every pod of a cluster carries to tell which spec and which operator version created it: the annotations
/// `ray.io/upgrade-strategy-recreate-hash` and `ray.io/kuberay-version`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodStamp {
    /// [`crate::spec_hash::recreate_hash`] of the cluster's spec.
    pub spec_hash: String,
    /// The operator's version ([`RenderOptions::operator_version`]); when empty no version annotation is written.
    pub operator_version: String,
}

/// One RayCluster together with the names and addresses derived from it.
#[derive(Debug, Clone)]
pub struct ClusterContext<'a> {
    /// The cluster being rendered.
    pub cluster: &'a RayCluster,
    /// Operator-wide settings.
    pub options: &'a RenderOptions,
    /// The cluster's name.
    pub name: String,
    /// The cluster's namespace (or the default namespace).
    pub namespace: String,
    /// Which resource the cluster was created for.
    pub origin: Origin,
    /// The head Service's name: `headService.metadata.name` or `<cluster>-head-svc`.
    pub head_service_name: String,
    /// The head Service's DNS name: `<head svc>.<namespace>.svc.<cluster domain>`.
    pub head_fqdn: String,
    /// The GCS port of the head: `rayStartParams.port` or 6379.
    pub gcs_port: u16,
    /// The spec hash and operator version every pod is annotated with.
    pub stamp: PodStamp,
}

impl<'a> ClusterContext<'a> {
    /// Derives the cluster's identity and checks the names every object shares.
    pub fn new(
        cluster: &'a RayCluster,
        options: &'a RenderOptions,
    ) -> Result<ClusterContext<'a>, ContextError> {
        let name = cluster
            .metadata
            .name
            .clone()
            .filter(|n| !n.is_empty())
            .ok_or(ContextError::MissingName)?;
        let namespace = cluster
            .metadata
            .namespace
            .clone()
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| options.default_namespace.clone());
        let labels = cluster.metadata.labels.as_ref();
        let owner = labels
            .and_then(|l| l.get(labels::ORIGINATED_FROM_CR_NAME))
            .cloned();
        let origin = match (
            labels
                .and_then(|l| l.get(labels::ORIGINATED_FROM_CRD))
                .map(String::as_str),
            owner,
        ) {
            (Some(labels::CRD_RAY_JOB), Some(owner)) => Origin::RayJob(owner),
            (Some(labels::CRD_RAY_SERVICE), Some(owner)) => Origin::RayService(owner),
            _ => Origin::RayCluster,
        };
        let spec_path = origin.spec_path();
        names::check(
            &name,
            0,
            names::NameRule::Dns1035Label,
            "RayCluster name",
            "metadata.name",
        )?;
        let custom_head_name = cluster
            .spec
            .head_group_spec
            .head_service
            .as_ref()
            .and_then(|s| s.metadata.name.clone())
            .filter(|n| !n.is_empty());
        let head_service_name = match custom_head_name {
            Some(custom) => {
                let field = format!("{spec_path}.headGroupSpec.headService.metadata.name");
                names::check(
                    &custom,
                    0,
                    names::NameRule::Dns1035Label,
                    "head Service name",
                    &field,
                )?;
                custom
            }
            None => names::head_service_name(&name, "metadata.name")?,
        };
        let head_fqdn = format!(
            "{head_service_name}.{namespace}.svc.{}",
            options.cluster_domain
        );
        let gcs_port = param_port(
            &cluster.spec.head_group_spec.ray_start_params,
            "port",
            &format!("{spec_path}.headGroupSpec"),
        )?
        .unwrap_or(DEFAULT_GCS_PORT);
        let stamp = PodStamp {
            spec_hash: crate::spec_hash::recreate_hash(&cluster.spec)
                .map_err(|e| ContextError::Hash(e.to_string()))?,
            operator_version: options.operator_version.clone(),
        };
        Ok(ClusterContext {
            cluster,
            options,
            name,
            namespace,
            origin,
            head_service_name,
            head_fqdn,
            gcs_port,
            stamp,
        })
    }

    /// The JSON path of `rest` inside the user's object, such as `spec.rayClusterSpec.headGroupSpec`.
    pub fn field(&self, rest: &str) -> String {
        format!("{}.{rest}", self.origin.spec_path())
    }

    /// The JSON path of worker group `index`.
    pub fn group_field(&self, index: usize, rest: &str) -> String {
        self.field(&format!("workerGroupSpecs[{index}].{rest}"))
    }

    /// The head's Ray container as the user wrote it (index 0 of the head template), if any.
    pub fn head_ray_container(&self) -> Option<&'a Container> {
        self.cluster
            .spec
            .head_group_spec
            .template
            .spec
            .as_ref()
            .and_then(|s| s.containers.first())
    }

    /// Whether the in-tree autoscaler runs.
    pub fn autoscaling(&self) -> bool {
        self.cluster.spec.enable_in_tree_autoscaling
    }

    /// The name of the autoscaler's ServiceAccount: the head template's `serviceAccountName`, or the cluster's
    /// name.
    pub fn autoscaler_service_account(&self) -> String {
        self.cluster
            .spec
            .head_group_spec
            .template
            .spec
            .as_ref()
            .and_then(|s| s.service_account_name.clone())
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| self.name.clone())
    }

    /// Whether the user set the head's ServiceAccount (then the operator does not create one).
    pub fn user_service_account(&self) -> bool {
        self.cluster
            .spec
            .head_group_spec
            .template
            .spec
            .as_ref()
            .and_then(|s| s.service_account_name.as_deref())
            .is_some_and(|n| !n.is_empty())
    }

    /// The cluster's annotations.
    pub fn annotations(&self) -> Option<&'a std::collections::BTreeMap<String, String>> {
        self.cluster.metadata.annotations.as_ref()
    }

    /// A controller owner reference to the cluster, once it exists (has a UID). Rendering before creation (the
    /// `render` command) leaves owner references out.
    pub fn owner_reference(
        &self,
    ) -> Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference> {
        owner_reference(
            "RayCluster",
            &self.name,
            self.cluster.metadata.uid.as_deref(),
        )
    }
}

/// A controller owner reference to a `ray.io/v1` object, if it has a UID.
pub fn owner_reference(
    kind: &str,
    name: &str,
    uid: Option<&str>,
) -> Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference> {
    let uid = uid.filter(|u| !u.is_empty())?;
    Some(
        k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference {
            api_version: "ray.io/v1".to_string(),
            kind: kind.to_string(),
            name: name.to_string(),
            uid: uid.to_string(),
            controller: Some(true),
            block_owner_deletion: Some(true),
        },
    )
}

/// Reads a port number from `rayStartParams[key]` (`group_path` is the group's JSON path).
pub fn param_port(
    params: &std::collections::BTreeMap<String, String>,
    key: &str,
    group_path: &str,
) -> Result<Option<u16>, ContextError> {
    let Some(raw) = params.get(key) else {
        return Ok(None);
    };
    let text = ParamValue::parse(raw);
    text.literal()
        .and_then(|v| v.trim().parse::<u16>().ok())
        .filter(|p| *p != 0)
        .map(Some)
        .ok_or_else(|| ContextError::InvalidPort {
            field: format!("{group_path}.rayStartParams[\"{key}\"]"),
            value: raw.clone(),
        })
}
