//! Everything a reconcile decides from, gathered before anything is written: the cluster's pods in the cache and
//! what the expectations say about them, what the spec asks for ([`super::desired`], rendered once), and which of
//! the desired children exist (the Service cache first, then the API server).
//!
//! Only what the cluster's phase needs is read: a deleted cluster's children are not looked at, a live one's
//! cleanup Job is not.

use crate::error::ApiError;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Instant;

use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Secret, Service, ServiceAccount};
use k8s_openapi::api::networking::v1::Ingress;
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use k8s_openapi::jiff::Timestamp;
use kube::runtime::reflector::ObjectRef;
use kube::{Api, Resource, ResourceExt};
use ray_api_v1::RayCluster;
use ray_builders::{DesiredCluster, RenderError, SupportObjects, names};
use serde::de::DeserializeOwned;
use tracing::warn;

use super::Context;
use super::desired::{self, InvalidSpec};
use super::error::Error;
use super::gcs_ft::{self, CleanupJob};
use super::scaling::{is_head, is_worker_of};
use crate::expectations::GroupKey;
use crate::pod_index::CachedPod;

/// What one reconcile knows.
#[derive(Debug)]
pub struct Facts<'c> {
    /// The cluster as read.
    pub cluster: &'c RayCluster,
    /// When the facts were gathered.
    pub now: Timestamp,
    /// Every pod of the cluster in the cache (label `ray.io/cluster`), terminating ones included.
    pub pods: Vec<Arc<CachedPod>>,
    /// Where the cluster is in its life, with what that phase needs.
    pub phase: Phase,
}

/// Where a cluster is in its life.
#[derive(Debug)]
pub enum Phase {
    /// Deleted, without the GCS cleanup finalizer: the garbage collector removes the children.
    Deleted,
    /// Deleted, held by the GCS cleanup finalizer.
    CleaningUp(CleanupJob),
    /// Live and fault tolerant, without the cleanup finalizer yet.
    NeedsFinalizer,
    /// Live, with a spec that does not validate or render.
    Invalid(InvalidSpec),
    /// Live, with a spec that renders.
    Running(Box<Running>),
}

/// What a live cluster with a valid spec asks for and what exists of it.
#[derive(Debug)]
pub struct Running {
    /// Everything the spec asks for, rendered once.
    pub desired: DesiredCluster,
    /// Which of the desired children exist.
    pub existing: Existing,
    /// Whether the head's previous creates and deletes are visible in the cache.
    pub head_settled: bool,
    /// Worker groups whose previous creates and deletes are not visible yet.
    pub unsettled_groups: BTreeSet<String>,
}

/// Which of the desired children other than pods exist (a child the spec does not ask for counts as absent).
#[derive(Debug, Default)]
pub struct Existing {
    /// The Secret of the generated Ray auth token.
    pub auth_secret: bool,
    /// The autoscaler's ServiceAccount.
    pub service_account: bool,
    /// The autoscaler's Role.
    pub role: bool,
    /// The autoscaler's RoleBinding.
    pub role_binding: bool,
    /// The dashboard Ingress.
    pub ingress: bool,
    /// The head Service as it exists (the status reports its endpoints).
    pub head_service: Option<Service>,
    /// The headless worker Service.
    pub headless_service: bool,
    /// The serve Service.
    pub serve_service: bool,
}

impl Facts<'_> {
    /// The head Service as it existed before this reconcile.
    pub fn head_service(&self) -> Option<&Service> {
        match &self.phase {
            Phase::Running(running) => running.existing.head_service.as_ref(),
            _ => None,
        }
    }
}

/// Gathers the facts of one reconcile; `None` while the pod cache has not finished its first list.
pub async fn observe<'c>(
    ctx: &Context,
    cluster: &'c RayCluster,
) -> Result<Option<Facts<'c>>, Error> {
    // The RayCluster watch can deliver objects before the pod cache has finished its first list; deciding from
    // a partial cache would create pods that already exist (seen when a new leader or a restarted operator
    // starts). The wait ends at once after the first list, and is bounded.
    if !operator_runtime::runner::synced_within_wait(ctx.pods.wait_until_synced()).await {
        return Ok(None);
    }
    let namespace = cluster.namespace().unwrap_or_default();
    let name = cluster.name_any();
    let pods = ctx.pods.cluster_pods(&namespace, &name);
    let phase = if cluster.metadata.deletion_timestamp.is_some() {
        if gcs_ft::has_finalizer(cluster) {
            Phase::CleaningUp(cleanup_job(ctx, cluster, &pods).await?)
        } else {
            Phase::Deleted
        }
    } else if gcs_ft::needs_finalizer(cluster) {
        Phase::NeedsFinalizer
    } else {
        match desired::build(cluster, &ctx.render) {
            Err(invalid) => {
                warn!(message = %invalid, "the RayCluster spec is invalid; nothing is created");
                Phase::Invalid(invalid)
            }
            Ok(desired) => {
                let existing = existing(ctx, &namespace, &desired.support).await?;
                let (head_settled, unsettled_groups) = settled(ctx, cluster, &pods);
                Phase::Running(Box::new(Running {
                    desired,
                    existing,
                    head_settled,
                    unsettled_groups,
                }))
            }
        }
    };
    Ok(Some(Facts {
        cluster,
        now: Timestamp::now(),
        pods,
        phase,
    }))
}

/// Whether the head's and each group's previous creates and deletes show in the cache.
fn settled(
    ctx: &Context,
    cluster: &RayCluster,
    pods: &[Arc<CachedPod>],
) -> (bool, BTreeSet<String>) {
    let namespace = cluster.namespace().unwrap_or_default();
    let name = cluster.name_any();
    let instant = Instant::now();
    let names_of = |filter: &dyn Fn(&CachedPod) -> bool| -> BTreeSet<&str> {
        pods.iter()
            .filter(|p| filter(p))
            .map(|p| p.name.as_str())
            .collect()
    };
    let head_settled = ctx.expectations.satisfied(
        &GroupKey::head(&namespace, &name),
        &names_of(&is_head),
        instant,
    );
    let mut unsettled = BTreeSet::new();
    for group in &cluster.spec.worker_group_specs {
        let key = GroupKey::worker(&namespace, &name, &group.group_name);
        if !ctx.expectations.satisfied(
            &key,
            &names_of(&|p| is_worker_of(p, &group.group_name)),
            instant,
        ) {
            unsettled.insert(group.group_name.clone());
        }
    }
    (head_settled, unsettled)
}

/// Reads an object of the cluster's namespace by name.
async fn read<K>(ctx: &Context, namespace: &str, kind: &str, name: &str) -> Result<Option<K>, Error>
where
    K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug,
{
    let api: Api<K> = Api::namespaced(ctx.client.clone(), namespace);
    Ok(api.get_opt(name).await.map_err(ApiError::of(
        "reading",
        format!("{kind} {namespace}/{name}"),
    ))?)
}

fn name_of<K: Resource>(object: &K) -> &str {
    object.meta().name.as_deref().unwrap_or_default()
}

/// Whether `object` exists, by its name.
async fn exists<K>(ctx: &Context, namespace: &str, kind: &str, object: &K) -> Result<bool, Error>
where
    K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug,
{
    Ok(read::<K>(ctx, namespace, kind, name_of(object))
        .await?
        .is_some())
}

/// A Service as the Service cache (every Service labelled `ray.io/cluster`, watched) shows it: a reconcile reads
/// nothing from the API server for Services. One the cache does not show yet is created; if it exists after all
/// (just created, or made by someone else without the label), the create's AlreadyExists reads it then.
fn service(ctx: &Context, namespace: &str, desired: &Service) -> Option<Service> {
    let key = ObjectRef::<Service>::new(name_of(desired)).within(namespace);
    ctx.services.get(&key).map(|cached| cached.as_ref().clone())
}

/// Which desired children exist, read in the order they are created.
async fn existing(
    ctx: &Context,
    namespace: &str,
    desired: &SupportObjects,
) -> Result<Existing, Error> {
    let mut existing = Existing::default();
    if let Some(secret) = &desired.auth_secret {
        // Metadata only: whether it exists, without transferring the token.
        let api: Api<Secret> = Api::namespaced(ctx.client.clone(), namespace);
        let name = name_of(secret);
        existing.auth_secret = api
            .get_metadata_opt(name)
            .await
            .map_err(ApiError::of(
                "reading",
                format!("Secret {namespace}/{name}"),
            ))?
            .is_some();
    }
    if let Some(rbac) = &desired.rbac {
        if let Some(account) = &rbac.service_account {
            existing.service_account =
                exists::<ServiceAccount>(ctx, namespace, "ServiceAccount", account).await?;
        }
        existing.role = exists::<Role>(ctx, namespace, "Role", &rbac.role).await?;
        existing.role_binding =
            exists::<RoleBinding>(ctx, namespace, "RoleBinding", &rbac.role_binding).await?;
    }
    if let Some(ingress) = &desired.ingress {
        existing.ingress = exists::<Ingress>(ctx, namespace, "Ingress", ingress).await?;
    }
    existing.head_service = service(ctx, namespace, &desired.head_service);
    if let Some(headless) = &desired.headless_service {
        existing.headless_service = service(ctx, namespace, headless).is_some();
    }
    if let Some(serve) = &desired.serve_service {
        existing.serve_service = service(ctx, namespace, serve).is_some();
    }
    Ok(existing)
}

/// The cleanup Job of a deleted cluster: read once its head is gone, and rendered when it does not exist.
async fn cleanup_job(
    ctx: &Context,
    cluster: &RayCluster,
    pods: &[Arc<CachedPod>],
) -> Result<CleanupJob, Error> {
    if pods.iter().any(|p| is_head(p)) {
        return Ok(CleanupJob::Unread);
    }
    let namespace = cluster.namespace().unwrap_or_default();
    let job_name = names::redis_cleanup_job_name(&cluster.name_any(), "metadata.name")
        .map_err(RenderError::from)?;
    Ok(
        match read::<Job>(ctx, &namespace, "Job", &job_name).await? {
            Some(job) => CleanupJob::Exists {
                finished: gcs_ft::job_finished(&job),
            },
            None => CleanupJob::Missing(gcs_ft::cleanup_job(cluster, &ctx.render)?.map(Box::new)),
        },
    )
}
