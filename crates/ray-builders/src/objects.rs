//! Every object the operator creates for a RayCluster, RayJob or RayService, in the order it creates them.
//!
//! This is what `ray-operator render` prints. The controllers create the same objects one by one, calling the
//! per-object builders directly (they choose random names and replica identities themselves).

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Pod, Service, ServiceAccount};
use k8s_openapi::api::networking::v1::Ingress;
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use ray_api_v1::{JobSubmissionMode, RayCluster, RayJob, RayService};
use serde::Serialize;

use crate::context::{ClusterContext, ContextError, RenderOptions};
use crate::ingress;
use crate::job_cluster::{self, JobClusterError};
use crate::labels;
use crate::names::{self, NameError};
use crate::pod::{self, MultiHostReplica, PodError, WorkerReplica};
use crate::rbac;
use crate::resources;
use crate::service::{self, ServiceError};
use crate::service_cluster::{self, ServiceClusterError};
use crate::submitter::{self, SubmitterError, SubmitterInputs};

/// Anything that stops an object from being rendered. Every variant names the user's field.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// The cluster's identity is invalid.
    #[error(transparent)]
    Context(#[from] ContextError),
    /// A pod cannot be rendered.
    #[error(transparent)]
    Pod(#[from] PodError),
    /// A Service or Ingress cannot be rendered.
    #[error(transparent)]
    Service(#[from] ServiceError),
    /// A derived name does not fit.
    #[error(transparent)]
    Name(#[from] NameError),
    /// A RayJob's cluster cannot be rendered.
    #[error(transparent)]
    JobCluster(#[from] JobClusterError),
    /// A RayJob's submitter cannot be rendered.
    #[error(transparent)]
    Submitter(#[from] SubmitterError),
    /// A RayService's cluster or Services cannot be rendered.
    #[error(transparent)]
    ServiceCluster(#[from] ServiceClusterError),
}

/// One rendered Kubernetes object.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum Object {
    /// A RayCluster generated for a RayJob or RayService.
    RayCluster(Box<RayCluster>),
    /// The autoscaler's ServiceAccount.
    ServiceAccount(Box<ServiceAccount>),
    /// The autoscaler's Role.
    Role(Box<Role>),
    /// The autoscaler's RoleBinding.
    RoleBinding(Box<RoleBinding>),
    /// The dashboard Ingress.
    Ingress(Box<Ingress>),
    /// A head, serve or headless Service.
    Service(Box<Service>),
    /// A head or worker pod.
    Pod(Box<Pod>),
    /// The submitter Job.
    Job(Box<Job>),
}

impl Object {
    /// The object's kind.
    pub fn kind(&self) -> &'static str {
        match self {
            Object::RayCluster(_) => "RayCluster",
            Object::ServiceAccount(_) => "ServiceAccount",
            Object::Role(_) => "Role",
            Object::RoleBinding(_) => "RoleBinding",
            Object::Ingress(_) => "Ingress",
            Object::Service(_) => "Service",
            Object::Pod(_) => "Pod",
            Object::Job(_) => "Job",
        }
    }

    /// The object's metadata.
    pub fn metadata(&self) -> &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
        match self {
            Object::RayCluster(o) => &o.metadata,
            Object::ServiceAccount(o) => &o.metadata,
            Object::Role(o) => &o.metadata,
            Object::RoleBinding(o) => &o.metadata,
            Object::Ingress(o) => &o.metadata,
            Object::Service(o) => &o.metadata,
            Object::Pod(o) => &o.metadata,
            Object::Job(o) => &o.metadata,
        }
    }

    /// The object's name, or for a pod its `generateName` followed by `*`.
    pub fn display_name(&self) -> String {
        let meta = self.metadata();
        match (&meta.name, &meta.generate_name) {
            (Some(name), _) => name.clone(),
            (None, Some(prefix)) => format!("{prefix}*"),
            (None, None) => String::new(),
        }
    }
}

/// An object together with the user object it was rendered from.
#[derive(Debug, Clone)]
pub struct Rendered {
    /// `<Kind>/<name>` of the user's object (RayCluster, RayJob or RayService).
    pub source: String,
    /// The rendered object.
    pub object: Object,
}

/// The RBAC objects, Ingress, Services, head pod and worker pods of a cluster.
///
/// Worker pods are rendered at their desired count (replicas clamped into the group's bounds, times
/// `numOfHosts`). Multi-host replicas get names derived from the cluster, group and replica index, standing in
/// for the random names the operator picks.
pub fn cluster_objects(ctx: &ClusterContext<'_>) -> Result<Vec<Object>, RenderError> {
    let mut out = Vec::new();
    if let Some(rbac) = rbac::autoscaler_rbac(ctx)? {
        if let Some(account) = rbac.service_account {
            out.push(Object::ServiceAccount(Box::new(account)));
        }
        out.push(Object::Role(Box::new(rbac.role)));
        out.push(Object::RoleBinding(Box::new(rbac.role_binding)));
    }
    if let Some(ingress) = ingress::head_ingress(ctx)? {
        out.push(Object::Ingress(Box::new(ingress)));
    }
    out.push(Object::Service(Box::new(service::head_service(ctx)?)));
    if let Some(headless) = service::headless_worker_service(ctx)? {
        out.push(Object::Service(Box::new(headless)));
    }
    if let Some(serve) = service::cluster_serve_service(ctx)? {
        out.push(Object::Service(Box::new(serve)));
    }
    out.push(Object::Pod(Box::new(pod::head_pod(ctx)?)));
    for (index, group) in ctx.cluster.spec.worker_group_specs.iter().enumerate() {
        let hosts = resources::hosts(group);
        for replica in 0..resources::desired_replicas(group) {
            if hosts > 1 {
                let seed = format!("{}/{}/{replica}", ctx.name, group.group_name);
                let name = names::with_suffix(
                    &group.group_name,
                    &names::random_suffix_from(seed.as_bytes()),
                );
                for host in 0..hosts {
                    let identity = WorkerReplica {
                        index: replica,
                        multi_host: Some(MultiHostReplica {
                            name: name.clone(),
                            host_index: host,
                        }),
                    };
                    out.push(Object::Pod(Box::new(pod::worker_pod(
                        ctx, index, &identity,
                    )?)));
                }
            } else {
                let identity = WorkerReplica {
                    index: replica,
                    multi_host: None,
                };
                out.push(Object::Pod(Box::new(pod::worker_pod(
                    ctx, index, &identity,
                )?)));
            }
        }
    }
    Ok(out)
}

fn rendered(source: &str, objects: Vec<Object>) -> Vec<Rendered> {
    objects
        .into_iter()
        .map(|object| Rendered {
            source: source.to_string(),
            object,
        })
        .collect()
}

fn with_namespace(
    meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
    options: &RenderOptions,
) -> k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
    let mut meta = meta.clone();
    if meta.namespace.as_deref().is_none_or(str::is_empty) {
        meta.namespace = Some(options.default_namespace.clone());
    }
    meta
}

/// Renders everything the operator creates for a RayCluster.
pub fn render_cluster(
    cluster: &RayCluster,
    options: &RenderOptions,
) -> Result<Vec<Rendered>, RenderError> {
    let ctx = ClusterContext::new(cluster, options)?;
    Ok(rendered(
        &format!("RayCluster/{}", ctx.name),
        cluster_objects(&ctx)?,
    ))
}

/// The name of the RayCluster `render` shows for a RayJob or RayService: `<name>-<suffix>` with a suffix
/// derived from the name (the operator picks a random one).
pub fn render_cluster_name(owner: &str) -> String {
    names::with_suffix(owner, &names::random_suffix_from(owner.as_bytes()))
}

/// Renders everything the operator creates for a RayJob: its RayCluster and the cluster's objects, the RayJob's
/// head Service, and in `K8sJobMode` the submitter Job. With `clusterSelector` only the submitter is rendered, and
/// only when it has its own `submitterPodTemplate` (the default one runs the existing cluster's head image, which
/// render cannot read).
pub fn render_job(job: &RayJob, options: &RenderOptions) -> Result<Vec<Rendered>, RenderError> {
    let mut job = job.clone();
    job.metadata = with_namespace(&job.metadata, options);
    let name = job
        .metadata
        .name
        .clone()
        .filter(|n| !n.is_empty())
        .ok_or(JobClusterError::MissingName)?;
    let source = format!("RayJob/{name}");
    let namespace = job.metadata.namespace.clone().unwrap_or_default();
    let job_id = job
        .spec
        .job_id
        .clone()
        .filter(|id| !id.is_empty())
        .unwrap_or_else(|| {
            names::with_suffix(
                &name,
                &names::random_suffix_from(format!("{name}/job-id").as_bytes()),
            )
        });
    let mut out = Vec::new();
    let (dashboard, head_image) =
        match job_cluster::ray_cluster_for_job(&job, &render_cluster_name(&name))? {
            Some(cluster) => {
                let ctx = ClusterContext::new(&cluster, options)?;
                let objects = cluster_objects(&ctx)?;
                let dashboard = service::dashboard_address(&ctx)?;
                let image = ctx.head_ray_container().and_then(|c| c.image.clone());
                let head =
                    service_cluster::owner_head_service(&ctx, labels::CRD_RAY_JOB, &job.metadata)?;
                out.push(Object::RayCluster(Box::new(cluster.clone())));
                out.extend(objects);
                out.push(Object::Service(Box::new(head)));
                (dashboard, image)
            }
            None => {
                let selected = job
                    .spec
                    .cluster_selector
                    .get(labels::CLUSTER)
                    .cloned()
                    .unwrap_or_default();
                let head = names::head_service_name(
                    &selected,
                    "spec.clusterSelector[\"ray.io/cluster\"]",
                )?;
                (
                    format!(
                        "{head}.{namespace}.svc.{}:{}",
                        options.cluster_domain,
                        crate::context::DEFAULT_DASHBOARD_PORT
                    ),
                    None,
                )
            }
        };
    let k8s_job_mode =
        job.spec.submission_mode.unwrap_or_default() == JobSubmissionMode::K8sJobMode;
    let can_render_submitter = head_image.is_some() || job.spec.submitter_pod_template.is_some();
    if k8s_job_mode && (can_render_submitter || job.spec.ray_cluster_spec.is_some()) {
        let inputs = SubmitterInputs {
            job_id: &job_id,
            dashboard_address: &dashboard,
            head_image: head_image.as_deref(),
        };
        out.push(Object::Job(Box::new(submitter::submitter_job(
            &job, &inputs,
        )?)));
    }
    Ok(rendered(&source, out))
}

/// Renders everything the operator creates for a RayService: its RayCluster and the cluster's objects, and the
/// RayService's head and serve Services pointing at that cluster.
pub fn render_service(
    service: &RayService,
    options: &RenderOptions,
) -> Result<Vec<Rendered>, RenderError> {
    let mut service = service.clone();
    service.metadata = with_namespace(&service.metadata, options);
    let name = service
        .metadata
        .name
        .clone()
        .filter(|n| !n.is_empty())
        .ok_or(ServiceClusterError::MissingName)?;
    let cluster =
        service_cluster::ray_cluster_for_service(&service, &render_cluster_name(&name), options)?;
    let ctx = ClusterContext::new(&cluster, options)?;
    let mut out = vec![Object::RayCluster(Box::new(cluster.clone()))];
    out.extend(cluster_objects(&ctx)?);
    out.push(Object::Service(Box::new(
        service_cluster::owner_head_service(&ctx, labels::CRD_RAY_SERVICE, &service.metadata)?,
    )));
    out.push(Object::Service(Box::new(
        service_cluster::rayservice_serve_service(&ctx, &service)?,
    )));
    Ok(rendered(&format!("RayService/{name}"), out))
}

/// An object that could not be written as YAML.
#[derive(Debug, thiserror::Error)]
#[error("{source_name}: the rendered {kind} could not be written as YAML: {message}")]
pub struct YamlError {
    /// The user object it came from.
    pub source_name: String,
    /// The kind of the rendered object.
    pub kind: &'static str,
    /// The serializer's message.
    pub message: String,
}

/// Writes rendered objects as a YAML stream: each document starts with `---` and a `# Source: <Kind>/<name>`
/// comment naming the user object it came from, like `helm template`.
pub fn to_yaml_stream(objects: &[Rendered]) -> Result<String, YamlError> {
    let mut out = String::new();
    for rendered in objects {
        let yaml = serde_saphyr::to_string(&rendered.object).map_err(|e| YamlError {
            source_name: rendered.source.clone(),
            kind: rendered.object.kind(),
            message: e.to_string(),
        })?;
        out.push_str("---\n# Source: ");
        out.push_str(&rendered.source);
        out.push('\n');
        out.push_str(&yaml);
        if !yaml.ends_with('\n') {
            out.push('\n');
        }
    }
    Ok(out)
}
