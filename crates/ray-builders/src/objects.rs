//! Every object the operator creates for a RayCluster, RayJob or RayService, in the order it creates them.
//!
//! This is what `ray-operator render` prints. The RayCluster controller creates the same objects from the same
//! [`DesiredCluster`], choosing random names and replica identities itself.

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Pod, Secret, Service, ServiceAccount};
use k8s_openapi::api::networking::v1::Ingress;
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use ray_api_v1::validation::managed_by::external_manager;
use ray_api_v1::{JobSubmissionMode, RayCluster, RayClusterSpec, RayJob, RayService};
use serde::Serialize;

use crate::context::{ClusterContext, ContextError, RenderOptions};
use crate::desired::{DesiredCluster, SupportObjects, replica_name};
use crate::job_cluster::{self, JobClusterError};
use crate::labels;
use crate::names::{self, NameError};
use crate::pod::{MultiHostReplica, PodError, WorkerReplica};
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
    /// The cluster asks for more pods than `render` shows.
    #[error(
        "{field}: {replicas} replicas x {hosts} hosts = {pods} pods{so_far}; render shows at most {max} pods per cluster: lower the field, or raise the limit with --max-pods"
    )]
    TooManyPods {
        /// The field to lower (`spec.workerGroupSpecs[0].replicas`, `...minReplicas` or `...numOfHosts`).
        field: String,
        /// The group's desired replicas.
        replicas: i32,
        /// The group's pods per replica.
        hosts: i32,
        /// The group's pods.
        pods: u64,
        /// `, N with the head and the groups before it` when that differs from `pods`.
        so_far: String,
        /// The limit.
        max: u64,
    },
}

/// One rendered Kubernetes object.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum Object {
    /// A RayCluster generated for a RayJob or RayService.
    RayCluster(Box<RayCluster>),
    /// The Secret holding a generated Ray auth token (rendered without the token, which the operator generates).
    Secret(Box<Secret>),
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
            Object::Secret(_) => "Secret",
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
            Object::Secret(o) => &o.metadata,
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

/// The objects of a cluster other than pods: autoscaler RBAC, Ingress and Services, in the order the operator
/// creates them. The operator keeps them while the cluster is suspended.
pub fn cluster_support_objects(ctx: &ClusterContext<'_>) -> Result<Vec<Object>, RenderError> {
    Ok(SupportObjects::build(ctx)?.into_objects())
}

/// The RBAC objects, Ingress, Services, head pod and worker pods of a cluster: its [`DesiredCluster`] with every
/// desired replica stamped.
///
/// Worker pods are stamped at their desired count (replicas clamped into the group's bounds, times
/// `numOfHosts`), however large: callers with untrusted counts check [`check_pod_count`] first. Multi-host
/// replicas get names derived from the cluster, group and replica index, standing in for the random names the
/// operator picks.
pub fn cluster_objects(ctx: &ClusterContext<'_>) -> Result<Vec<Object>, RenderError> {
    let DesiredCluster {
        support,
        head_pod,
        workers,
        ..
    } = DesiredCluster::build(ctx)?;
    let mut out = support.into_objects();
    out.push(Object::Pod(Box::new(head_pod)));
    for (template, group) in workers.iter().zip(&ctx.cluster.spec.worker_group_specs) {
        let hosts = resources::hosts(group);
        for replica in 0..resources::desired_replicas(group) {
            if hosts > 1 {
                let name = replica_name(ctx, &group.group_name, replica);
                for host_index in 0..hosts {
                    let identity = WorkerReplica {
                        index: replica,
                        multi_host: Some(MultiHostReplica {
                            name: name.clone(),
                            host_index,
                        }),
                    };
                    out.push(Object::Pod(Box::new(template.stamp(&identity)?)));
                }
            } else {
                let identity = WorkerReplica {
                    index: replica,
                    multi_host: None,
                };
                out.push(Object::Pod(Box::new(template.stamp(&identity)?)));
            }
        }
    }
    Ok(out)
}

/// Counts the pods a cluster asks for (the head, and each group's desired replicas × `numOfHosts`) without
/// overflow and without rendering them, and fails naming the field once the count exceeds `max`.
pub fn check_pod_count(ctx: &ClusterContext<'_>, max: u64) -> Result<u64, RenderError> {
    let mut total: u64 = 1;
    for (index, group) in ctx.cluster.spec.worker_group_specs.iter().enumerate() {
        let replicas = resources::desired_replicas(group);
        let hosts = resources::hosts(group);
        let pods = u64::try_from(replicas)
            .unwrap_or(0)
            .saturating_mul(u64::try_from(hosts).unwrap_or(1));
        total = total.saturating_add(pods);
        if total > max {
            let field = if hosts > 1 && hosts >= replicas {
                "numOfHosts"
            } else if group.replicas.is_some_and(|r| r >= replicas) {
                "replicas"
            } else {
                "minReplicas"
            };
            return Err(RenderError::TooManyPods {
                field: ctx.group_field(index, field),
                replicas,
                hosts,
                pods,
                so_far: if total == pods {
                    String::new()
                } else {
                    format!(", {total} with the head and the groups before it")
                },
                max,
            });
        }
    }
    if total > max {
        // Only the head, with a limit of zero.
        return Err(RenderError::TooManyPods {
            field: ctx.field("headGroupSpec"),
            replicas: 1,
            hosts: 1,
            pods: 1,
            so_far: String::new(),
            max,
        });
    }
    Ok(total)
}

/// What `render` shows of a cluster: everything, except that a suspended cluster has no pods (the operator
/// deletes them and keeps the rest), and a cluster asking for more than `max_rendered_pods` pods is an error.
fn rendered_cluster_objects(ctx: &ClusterContext<'_>) -> Result<Vec<Object>, RenderError> {
    if ctx.cluster.spec.suspend {
        return cluster_support_objects(ctx);
    }
    check_pod_count(ctx, ctx.options.max_rendered_pods)?;
    cluster_objects(ctx)
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
        rendered_cluster_objects(&ctx)?,
    ))
}

/// The name of the RayCluster `render` shows for a RayJob or RayService: `<name>-<suffix>` with a suffix
/// derived from the name (the operator picks a random one).
pub fn render_cluster_name(owner: &str) -> String {
    names::with_suffix(owner, &names::random_suffix_from(owner.as_bytes()))
}

/// The RayCluster a RayJob runs on when it names one with `clusterSelector` (`ray.io/cluster`). The operator then
/// uses that cluster and ignores `rayClusterSpec`, as KubeRay does.
fn selected_cluster(job: &RayJob) -> Option<&str> {
    job.spec
        .cluster_selector
        .get(labels::CLUSTER)
        .map(String::as_str)
        .filter(|c| !c.is_empty())
}

/// Renders everything the operator creates for a RayJob, in order: its RayCluster and the cluster's objects
/// (in `SidecarMode` the head pod runs the submitter), the submitter Job (`K8sJobMode` only; `HTTPMode` submits
/// over the dashboard API and `InteractiveMode` leaves submission to the user), and the RayJob's head Service
/// `<rayjob>-head-svc`.
///
/// It follows the operator: a suspended RayJob gets nothing; with `clusterSelector` the named cluster is used
/// (any `rayClusterSpec` is ignored) and only the submitter is rendered, and only when it has its own
/// `submitterPodTemplate` (the default one runs the existing cluster's head image, which render cannot read); a
/// RayCluster with `suspend: true` has no pods and never becomes ready, so no submitter and no head Service are
/// created for it. [`job_notes`] says which of these applies.
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
    if job.spec.suspend {
        return Ok(Vec::new());
    }
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
    let new_cluster = match selected_cluster(&job) {
        Some(_) => None,
        None => job_cluster::ray_cluster_for_job(&job, &render_cluster_name(&name), &job_id)?,
    };
    let mut cluster_suspended = false;
    let mut submitter_auth = None;
    let mut job_head_service = None;
    let (dashboard, head_image) = match new_cluster {
        Some(cluster) => {
            submitter_auth = crate::auth::token_auth(
                &cluster.metadata.name.clone().unwrap_or_default(),
                &cluster.spec,
            );
            cluster_suspended = cluster.spec.suspend;
            let ctx = ClusterContext::new(&cluster, options)?;
            let objects = rendered_cluster_objects(&ctx)?;
            let dashboard = service::dashboard_address(&ctx)?;
            let image = ctx.head_ray_container().and_then(|c| c.image.clone());
            // Created once the job runs, which a suspended cluster never does.
            if !cluster_suspended {
                job_head_service = job_cluster::job_head_service(&job, &cluster, options)?;
            }
            out.push(Object::RayCluster(Box::new(cluster.clone())));
            out.extend(objects);
            (dashboard, image)
        }
        None => {
            let selected = selected_cluster(&job).unwrap_or_default();
            let head =
                names::head_service_name(selected, "spec.clusterSelector[\"ray.io/cluster\"]")?;
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
    let creates_cluster = selected_cluster(&job).is_none() && job.spec.ray_cluster_spec.is_some();
    // With a new cluster the submitter uses its head image (an error naming the field if it has none); with a
    // selected cluster only a submitter with its own template can be shown.
    let shows_submitter = if creates_cluster {
        !cluster_suspended
    } else {
        job.spec.submitter_pod_template.is_some()
    };
    if k8s_job_mode && shows_submitter {
        let inputs = SubmitterInputs {
            job_id: &job_id,
            dashboard_address: &dashboard,
            head_image: head_image.as_deref(),
            auth: submitter_auth.as_ref(),
        };
        out.push(Object::Job(Box::new(submitter::submitter_job(
            &job, &inputs,
        )?)));
    }
    if let Some(service) = job_head_service {
        out.push(Object::Service(Box::new(service)));
    }
    Ok(rendered(&source, out))
}

/// Notes on a RayClusterSpec at `path`, wherever it is embedded.
fn spec_notes(spec: &RayClusterSpec, path: &str) -> Vec<String> {
    let head = &spec.head_group_spec;
    let mut notes = Vec::new();
    // KubeRay accepts ingressOptions without enableIngress and ignores them; so does the operator, but say so.
    if head.ingress_options.is_some() && !head.enable_ingress {
        notes.push(format!(
            "{path}.headGroupSpec.ingressOptions is ignored: no Ingress is created unless {path}.headGroupSpec.enableIngress is true"
        ));
    }
    notes
}

/// What a user should know about how [`render_cluster`] shows a RayCluster.
pub fn cluster_notes(cluster: &RayCluster) -> Vec<String> {
    let mut notes = spec_notes(&cluster.spec, "spec");
    if let Some(manager) = external_manager(cluster.spec.managed_by.as_deref()) {
        notes.push(format!(
            "spec.managedBy is {manager}: the operator leaves this RayCluster to that controller and creates nothing for it; shown is what it would create otherwise"
        ));
    }
    if cluster.spec.suspend {
        notes.push(
            "spec.suspend is true: the operator deletes every pod of a suspended RayCluster (its Services and other objects stay), so no pods are shown"
                .to_string(),
        );
    }
    notes
}

/// What a user should know about how [`render_job`] shows a RayJob: what the operator ignores or does not create
/// yet, and why.
pub fn job_notes(job: &RayJob) -> Vec<String> {
    let mut notes = Vec::new();
    if job.spec.suspend {
        notes.push(
            "spec.suspend is true: the operator creates nothing for a suspended RayJob, so nothing is shown"
                .to_string(),
        );
        return notes;
    }
    if let Some(manager) = external_manager(job.spec.managed_by.as_deref()) {
        notes.push(format!(
            "spec.managedBy is {manager}: the operator leaves this RayJob to that controller and creates nothing for it; shown is what it would create otherwise"
        ));
    }
    let mode = job.spec.submission_mode.unwrap_or_default();
    if mode == JobSubmissionMode::InteractiveMode {
        notes.push(
            "spec.submissionMode is InteractiveMode: the operator creates the cluster and no submitter; submit the job yourself and set spec.jobId to its submission id"
                .to_string(),
        );
    }
    let k8s_job_mode = mode == JobSubmissionMode::K8sJobMode;
    match selected_cluster(job) {
        Some(selected) => {
            if job.spec.ray_cluster_spec.is_some() {
                notes.push(format!(
                    "spec.rayClusterSpec is ignored: spec.clusterSelector names the existing RayCluster {selected:?}, which the job runs on (as with KubeRay); remove one of the two"
                ));
            }
            if k8s_job_mode && job.spec.submitter_pod_template.is_none() {
                notes.push(format!(
                    "the job runs on the existing RayCluster {selected:?}; its default submitter Job uses that cluster's head image, which render cannot read, so it is not shown"
                ));
            }
        }
        None => {
            if let Some(spec) = &job.spec.ray_cluster_spec {
                notes.extend(spec_notes(spec, "spec.rayClusterSpec"));
            }
            if job
                .spec
                .ray_cluster_spec
                .as_ref()
                .is_some_and(|c| c.suspend)
            {
                notes.push(
                    "spec.rayClusterSpec.suspend is true: the RayCluster is created without pods and never becomes ready, so no pods, no submitter and no RayJob head Service are shown"
                        .to_string(),
                );
            }
        }
    }
    notes
}

/// What a user should know about how [`render_service`] shows a RayService.
pub fn service_notes(service: &RayService) -> Vec<String> {
    if service.spec.suspend {
        return vec![
            "spec.suspend is true: the operator deletes the RayClusters and Services of a suspended RayService and creates none, so nothing is shown"
                .to_string(),
        ];
    }
    let mut notes = spec_notes(&service.spec.ray_cluster_config, "spec.rayClusterConfig");
    if let Some(manager) = external_manager(service.spec.managed_by.as_deref()) {
        notes.push(format!(
            "spec.managedBy is {manager}: the operator leaves this RayService to that controller and creates nothing for it; shown is what it would create otherwise"
        ));
    }
    if service.spec.ray_cluster_config.suspend {
        notes.push(
            "spec.rayClusterConfig.suspend is true: the RayCluster is created without pods, so no pods are shown"
                .to_string(),
        );
    }
    notes
}

/// Renders everything the operator creates for a RayService: its RayCluster and the cluster's objects, and the
/// RayService's head and serve Services pointing at that cluster. A suspended RayService gets nothing (the
/// operator deletes its clusters and Services); [`service_notes`] says so.
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
    if service.spec.suspend {
        return Ok(Vec::new());
    }
    let cluster =
        service_cluster::ray_cluster_for_service(&service, &render_cluster_name(&name), options)?;
    let ctx = ClusterContext::new(&cluster, options)?;
    let mut out = vec![Object::RayCluster(Box::new(cluster.clone()))];
    out.extend(rendered_cluster_objects(&ctx)?);
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
