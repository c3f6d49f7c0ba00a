//! Carries out a [`Decision`](super::decide::Decision) against the API server: its Events first, then every action in order — finalizers,
//! missing children (autoscaler RBAC, Ingress, Services), then pods (deletes before creates, head before
//! workers). Each pod create and delete is recorded in the expectations *before* the call, and every outcome
//! becomes an Event.

use crate::error::ApiError;
use std::fmt::Debug;
use std::time::Instant;

use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ObjectReference, Pod, Service};
use kube::api::{DeleteParams, Patch};
use kube::{Api, Resource, ResourceExt};
use operator_runtime::{Notice, api_message};
use ray_api_v1::RayCluster;
use ray_builders::{DesiredCluster, RenderError, labels};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tracing::{info, warn};

use super::Context;
use super::decide::{Action, Child};
use super::error::Error;
use super::events;
use super::gcs_ft::FINALIZER;
use super::scaling::{DeleteReason, PodChange};
use super::status::Failure;
use crate::context::{FIELD_MANAGER, merge_params, post_params};
use crate::expectations::GroupKey;

/// Most pod creations one reconcile has in flight at once. Creating a big group one pod at a time makes its
/// scale-up as slow as the API server's latency (about 20 pods/s on a loaded machine); a few in parallel make it
/// as fast as `--kube-api-qps` allows, while other RayClusters' reconciles still get their turn at the shared
/// request budget (each has at most this many requests waiting).
pub const PARALLEL_CREATES: usize = 8;

/// What applying met that the status reports.
#[derive(Debug, Default)]
pub struct Outcome {
    /// The first failure the user or the cluster must fix (quota, admission), already reported in an Event.
    pub failure: Option<Failure>,
    /// The head Service, when this reconcile created it (or found it created meanwhile).
    pub head_service: Option<Service>,
}

/// Publishes the decision's Events and applies its actions, in order. A failure the user or the cluster must fix
/// is reported (Event, [`Outcome::failure`]) and the remaining actions still run; an error the reconcile cannot go
/// on from ends it.
pub async fn apply(
    ctx: &Context,
    cluster: &RayCluster,
    notices: Vec<Notice>,
    actions: Vec<Action<'_>>,
) -> Result<Outcome, Error> {
    let applier = Applier {
        ctx,
        cluster,
        namespace: cluster.namespace().unwrap_or_default(),
        name: cluster.name_any(),
        reference: cluster.object_ref(&()),
    };
    for notice in notices {
        applier.publish(notice).await;
    }
    let mut outcome = Outcome::default();
    for action in actions {
        match action {
            Action::ForgetExpectations => ctx
                .expectations
                .forget_cluster(&applier.namespace, &applier.name),
            Action::AddFinalizer => {
                applier.add_finalizer().await?;
                info!("added the GCS fault-tolerance cleanup finalizer");
            }
            Action::RemoveFinalizer { because } => {
                info!(
                    because,
                    "removing the GCS fault-tolerance cleanup finalizer"
                );
                applier.remove_finalizer().await?;
            }
            Action::Create(child) => {
                if let Err(failure) = applier.create_child(child, &mut outcome).await? {
                    outcome.failure.get_or_insert(failure);
                }
            }
            Action::ChangePods { changes, desired } => {
                if !changes.is_empty() {
                    info!(actions = changes.len(), "changing pods");
                }
                if let Some(failure) = applier.pods(changes, desired).await? {
                    outcome.failure.get_or_insert(failure);
                }
            }
            Action::DeletePodsForCleanup { pods } => applier.delete_for_cleanup(&pods).await?,
            Action::CreateCleanupJob { job, deadline_in } => {
                applier.create_cleanup_job(job, deadline_in).await;
            }
        }
    }
    Ok(outcome)
}

/// Applies changes for one RayCluster.
struct Applier<'a> {
    ctx: &'a Context,
    cluster: &'a RayCluster,
    namespace: String,
    name: String,
    /// The cluster, as the subject of Events.
    reference: ObjectReference,
}

/// The reasons to report for creating one kind of child.
#[derive(Debug)]
pub struct Reasons {
    /// The kind, for messages.
    pub kind: &'static str,
    /// Event reason on success.
    pub created: &'static str,
    /// Event reason on failure.
    pub failed: &'static str,
}

impl Applier<'_> {
    /// Publishes an Event about the cluster (never fails: the reconcile's own result matters more than its
    /// report).
    async fn publish(&self, notice: Notice) {
        self.ctx.events.publish(&self.reference, notice).await;
    }

    fn namespace(&self) -> &str {
        &self.namespace
    }

    /// A reference to one of the cluster's pods, for an Event's `related`.
    fn pod_reference(&self, name: &str) -> ObjectReference {
        ObjectReference {
            api_version: Some("v1".to_string()),
            kind: Some("Pod".to_string()),
            namespace: Some(self.namespace.clone()),
            name: Some(name.to_string()),
            ..ObjectReference::default()
        }
    }

    fn clusters(&self) -> Api<RayCluster> {
        Api::namespaced(self.ctx.client.clone(), &self.namespace)
    }

    fn finalizer_error(&self, source: kube::Error) -> Error {
        ApiError {
            action: "updating the finalizers of",
            what: format!("RayCluster {}/{}", self.namespace, self.name),
            source,
        }
        .into()
    }

    async fn add_finalizer(&self) -> Result<(), Error> {
        operator_runtime::finalizer::add(&self.clusters(), self.cluster, FINALIZER, FIELD_MANAGER)
            .await
            .map(drop)
            .map_err(|source| self.finalizer_error(source))
    }

    async fn remove_finalizer(&self) -> Result<(), Error> {
        operator_runtime::finalizer::remove(
            &self.clusters(),
            self.cluster,
            FINALIZER,
            FIELD_MANAGER,
        )
        .await
        .map(drop)
        .map_err(|source| self.finalizer_error(source))
    }

    /// Creates a child the cache and the API server did not show; the head Service goes into `outcome` for the
    /// status.
    async fn create_child(
        &self,
        child: Child<'_>,
        outcome: &mut Outcome,
    ) -> Result<Result<(), Failure>, Error> {
        Ok(match child {
            Child::AuthSecret(secret) => {
                let mut secret = secret.clone();
                let token = crate::dashboard_auth::generate_token().map_err(|e| {
                    Error::Token(format!("the operating system gave no random bytes: {e}"))
                })?;
                secret.string_data = Some(std::collections::BTreeMap::from([(
                    ray_builders::auth::TOKEN_KEY.to_string(),
                    token,
                )]));
                self.create(&secret, &AUTH_SECRET).await?.map(drop)
            }
            Child::ServiceAccount(account) => {
                self.create(account, &SERVICE_ACCOUNT).await?.map(drop)
            }
            Child::Role(role) => self.create(role, &ROLE).await?.map(drop),
            Child::RoleBinding(binding) => self.create(binding, &ROLE_BINDING).await?.map(drop),
            Child::Ingress(ingress) => self.create(ingress, &INGRESS).await?.map(drop),
            Child::HeadService(service) => self.create(service, &SERVICE).await?.map(|created| {
                outcome.head_service = Some(created);
            }),
            Child::Service(service) => self.create(service, &SERVICE).await?.map(drop),
        })
    }

    /// Creates `object`; one that appeared since it was read counts as created (and is returned as it exists).
    /// Children are create-only, as in KubeRay: a user's edits to a Service are not fought over.
    async fn create<K>(&self, object: &K, reasons: &Reasons) -> Result<Result<K, Failure>, Error>
    where
        K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>
            + Clone
            + DeserializeOwned
            + Serialize
            + Debug,
    {
        let api: Api<K> = Api::namespaced(self.ctx.client.clone(), self.namespace());
        let name = object.meta().name.clone().unwrap_or_default();
        match api.create(&post_params(), object).await {
            Ok(created) => {
                info!(kind = reasons.kind, child = %name, "created");
                self.publish(Notice::normal(
                    reasons.created,
                    events::ACTION_CREATE,
                    format!("Created {} {}/{name}", reasons.kind, self.namespace()),
                ))
                .await;
                Ok(Ok(created))
            }
            Err(kube::Error::Api(status)) if status.is_already_exists() => {
                Ok(api.get(&name).await.map(Ok).map_err(ApiError::of(
                    "reading",
                    format!("{} {}/{name}", reasons.kind, self.namespace()),
                ))?)
            }
            Err(error) => {
                let message = format!(
                    "Failed to create {} {}/{name}: {}",
                    reasons.kind,
                    self.namespace(),
                    api_message(&error)
                );
                warn!(%error, kind = reasons.kind, child = %name, "create failed");
                self.publish(Notice::warning(
                    reasons.failed,
                    events::ACTION_CREATE,
                    message.clone(),
                ))
                .await;
                Ok(Err(Failure {
                    reason: reasons.failed.to_string(),
                    message,
                    replica: false,
                }))
            }
        }
    }

    /// Deletes the pods of a deleted cluster before its GCS cleanup. A pod the API server refuses to delete (or
    /// that is gone) is looked at again on the next pass.
    async fn delete_for_cleanup(&self, pods: &[String]) -> Result<(), Error> {
        let api: Api<Pod> = Api::namespaced(self.ctx.client.clone(), self.namespace());
        for name in pods {
            match api.delete(name, &DeleteParams::default()).await {
                Ok(_) | Err(kube::Error::Api(_)) => {}
                Err(source) => {
                    return Err(ApiError {
                        action: "deleting",
                        what: format!("Pod {}/{name}", self.namespace()),
                        source,
                    }
                    .into());
                }
            }
        }
        Ok(())
    }

    /// Creates the Redis cleanup Job; a failure is reported and waited out (the deadline removes the finalizer).
    async fn create_cleanup_job(&self, job: &Job, deadline_in: std::time::Duration) {
        let jobs: Api<Job> = Api::namespaced(self.ctx.client.clone(), self.namespace());
        let job_name = job.name_any();
        let namespace = self.namespace();
        match jobs.create(&post_params(), job).await {
            Ok(_) => {
                self.publish(Notice::normal(
                    events::CREATED_REDIS_CLEANUP_JOB,
                    events::ACTION_CLEANUP,
                    format!("Created Redis cleanup Job {namespace}/{job_name}"),
                ))
                .await;
            }
            Err(error) => {
                warn!(%error, "creating the Redis cleanup Job failed");
                self.publish(Notice::warning(
                    events::FAILED_TO_CREATE_REDIS_CLEANUP_JOB,
                    events::ACTION_CLEANUP,
                    format!(
                        "Failed to create Redis cleanup Job {namespace}/{job_name}: {}; the finalizer is removed at \
                         the deadline in {} s",
                        api_message(&error),
                        deadline_in.as_secs()
                    ),
                ))
                .await;
            }
        }
    }

    fn key(&self, group: Option<&str>) -> GroupKey {
        match group {
            None => GroupKey::head(self.namespace(), &self.name),
            Some(g) => GroupKey::worker(self.namespace(), &self.name, g),
        }
    }

    /// Deletes and creates pods as decided. A group's creates go in slow-start batches of up to
    /// [`PARALLEL_CREATES`]; a group stops after the batch in which a create failed (the next would fail for the
    /// same reason, typically quota), and the failure is returned for the status.
    ///
    /// Creations are reported with one Event per group and reconcile ("Created 10 worker Pods of group ...")
    /// rather than one per pod: an Event is an API request like a pod creation, so per-pod Events would halve the
    /// pods the operator can create within its `--kube-api-qps` (client-go's event spam filter drops most of
    /// KubeRay's per-pod Events for the same reason). Failures are still reported one by one.
    async fn pods(
        &self,
        changes: Vec<PodChange>,
        desired: &DesiredCluster,
    ) -> Result<Option<Failure>, Error> {
        let api: Api<Pod> = Api::namespaced(self.ctx.client.clone(), self.namespace());
        let mut failure = None;
        let mut failed_groups: Vec<Option<usize>> = Vec::new();
        // Names of the pods created, by group (`None`: the head), in creation order.
        let mut created: Vec<(Option<String>, Vec<String>)> = Vec::new();
        let mut note_created = |group: Option<String>, name: String| match created
            .iter_mut()
            .find(|(g, _)| *g == group)
        {
            Some((_, names)) => names.push(name),
            None => created.push((group, vec![name])),
        };
        let mut changes = changes.into_iter().peekable();
        while let Some(change) = changes.next() {
            match change {
                PodChange::Delete {
                    name,
                    group,
                    reason,
                } => {
                    if let Some(f) = self
                        .delete_pod(&api, &name, group.as_deref(), &reason)
                        .await
                    {
                        failure.get_or_insert(f);
                    }
                }
                PodChange::Restamp { name } => self.restamp(&api, &name, desired).await,
                PodChange::CreateHead => {
                    if failed_groups.contains(&None) {
                        continue;
                    }
                    match self.create_pod(&api, &desired.head_pod, None).await {
                        Ok(name) => note_created(None, name),
                        Err(f) => {
                            failed_groups.push(None);
                            failure.get_or_insert(f);
                        }
                    }
                }
                PodChange::CreateWorker {
                    group_index,
                    replica,
                } => {
                    // This group's consecutive creates. Each pod is stamped from the group's template just before
                    // its batch is sent, so memory stays at one batch of pods however many are created.
                    let mut replicas = vec![replica];
                    while let Some(PodChange::CreateWorker {
                        group_index: next, ..
                    }) = changes.peek()
                        && *next == group_index
                    {
                        if let Some(PodChange::CreateWorker { replica, .. }) = changes.next() {
                            replicas.push(replica);
                        }
                    }
                    if failed_groups.contains(&Some(group_index)) {
                        continue;
                    }
                    let template = desired.worker(group_index).ok_or(RenderError::Pod(
                        ray_builders::pod::PodError::NoSuchGroup { index: group_index },
                    ))?;
                    let mut pending = replicas.into_iter();
                    let group = Some(template.group_name().to_string());
                    // Slow start, as Kubernetes' ReplicaSet controller does: batches of 1, 2, 4, ... up to
                    // PARALLEL_CREATES, stopping after a batch with a failure (quota, admission), so a doomed
                    // scale-up costs a request or two, not hundreds.
                    let mut batch = 1;
                    while !pending.as_slice().is_empty()
                        && !failed_groups.contains(&Some(group_index))
                    {
                        let pods = pending
                            .by_ref()
                            .take(batch)
                            .map(|replica| template.stamp(&replica).map_err(RenderError::from))
                            .collect::<Result<Vec<Pod>, RenderError>>()?;
                        let results = futures::future::join_all(
                            pods.iter()
                                .map(|pod| self.create_pod(&api, pod, group.as_deref())),
                        )
                        .await;
                        for result in results {
                            match result {
                                Ok(name) => note_created(group.clone(), name),
                                Err(f) => {
                                    if !failed_groups.contains(&Some(group_index)) {
                                        failed_groups.push(Some(group_index));
                                    }
                                    failure.get_or_insert(f);
                                }
                            }
                        }
                        batch = (batch * 2).min(PARALLEL_CREATES);
                    }
                }
            }
        }
        for (group, names) in created {
            let (reason, note) = created_note(self.namespace(), group.as_deref(), &names);
            let mut notice = Notice::normal(reason, events::ACTION_CREATE, note);
            // The recorder folds Events with the same reason and `related` into one series that keeps the first
            // note: naming the batch's first pod keeps every batch an Event of its own, so each created pod can be
            // found in `kubectl get events`.
            if let Some(first) = names.first() {
                notice = notice.related_to(self.pod_reference(first));
            }
            self.publish(notice).await;
        }
        Ok(failure)
    }

    /// Creates one pod; returns its name, or the failure (already reported in an Event).
    async fn create_pod(
        &self,
        api: &Api<Pod>,
        pod: &Pod,
        group: Option<&str>,
    ) -> Result<String, Failure> {
        let (failed, kind) = match group {
            None => (events::FAILED_TO_CREATE_HEAD_POD, "head pod"),
            Some(_) => (events::FAILED_TO_CREATE_WORKER_POD, "worker pod"),
        };
        let key = self.key(group);
        let ticket = self.ctx.expectations.expect_create(&key, Instant::now());
        match api.create(&post_params(), pod).await {
            Ok(pod) => {
                let name = pod.metadata.name.clone().unwrap_or_default();
                self.ctx.expectations.created(&ticket, &name);
                info!(pod = %name, group = group.unwrap_or("head"), "created {kind}");
                Ok(name)
            }
            Err(error) => {
                self.ctx.expectations.create_failed(&ticket);
                let message = match group {
                    None => format!("Failed to create head Pod: {}", api_message(&error)),
                    Some(g) => format!(
                        "Failed to create worker Pod of group {g}: {}",
                        api_message(&error)
                    ),
                };
                warn!(%error, group = group.unwrap_or("head"), "creating a {kind} failed");
                self.publish(Notice::warning(
                    failed,
                    events::ACTION_CREATE,
                    message.clone(),
                ))
                .await;
                Err(Failure {
                    reason: failed.to_string(),
                    message,
                    replica: true,
                })
            }
        }
    }

    /// Writes the current spec hash and operator version into a pod made by another operator version (merge patch
    /// of two annotations). A failure is logged and retried by a later reconcile: until then the pod is only not
    /// compared, nothing is lost.
    async fn restamp(&self, api: &Api<Pod>, name: &str, desired: &DesiredCluster) {
        let patch = serde_json::json!({"metadata": {"annotations": {
            labels::RECREATE_HASH_ANNOTATION: desired.stamp.spec_hash,
            labels::KUBERAY_VERSION_ANNOTATION: desired.stamp.operator_version,
        }}});
        match api
            .patch(name, &merge_params(), &Patch::Merge(&patch))
            .await
        {
            Ok(_) => info!(
                pod = %name,
                "brought the spec hash of a pod created by another operator version up to date"
            ),
            Err(kube::Error::Api(status)) if status.is_not_found() => {}
            Err(error) => {
                warn!(%error, pod = %name, "updating the pod's spec hash annotation failed")
            }
        }
    }

    async fn delete_pod(
        &self,
        api: &Api<Pod>,
        name: &str,
        group: Option<&str>,
        reason: &DeleteReason,
    ) -> Option<Failure> {
        let (deleted, failed) = match group {
            None => (events::DELETED_HEAD_POD, events::FAILED_TO_DELETE_HEAD_POD),
            Some(_) => (
                events::DELETED_WORKER_POD,
                events::FAILED_TO_DELETE_WORKER_POD,
            ),
        };
        let key = self.key(group);
        self.ctx
            .expectations
            .expect_delete(&key, name, Instant::now());
        match api.delete(name, &DeleteParams::default()).await {
            Ok(_) => {
                info!(pod = %name, %reason, "deleted pod");
                // `related` names the pod, so deletions of different pods are never folded into one series.
                self.publish(
                    Notice::normal(
                        deleted,
                        events::ACTION_DELETE,
                        format!("Deleted Pod {}/{name}: {reason}", self.namespace()),
                    )
                    .related_to(self.pod_reference(name)),
                )
                .await;
                None
            }
            // Already gone: the goal is reached.
            Err(kube::Error::Api(status)) if status.is_not_found() => None,
            Err(error) => {
                self.ctx.expectations.delete_failed(&key, name);
                let message = format!(
                    "Failed to delete Pod {}/{name}: {}",
                    self.namespace(),
                    api_message(&error)
                );
                warn!(%error, pod = %name, "delete failed");
                self.publish(Notice::warning(
                    failed,
                    events::ACTION_DELETE,
                    message.clone(),
                ))
                .await;
                Some(Failure {
                    reason: failed.to_string(),
                    message,
                    replica: true,
                })
            }
        }
    }
}

/// The reason and note of the Event reporting the pods one reconcile created in one group (`None`: the head).
/// One pod reads as before aggregation; several are counted and named (the publisher cuts long notes).
pub fn created_note(
    namespace: &str,
    group: Option<&str>,
    names: &[String],
) -> (&'static str, String) {
    match (group, names) {
        (None, [name]) => (
            events::CREATED_HEAD_POD,
            format!("Created head Pod {namespace}/{name}"),
        ),
        (None, names) => (
            events::CREATED_HEAD_POD,
            format!("Created {} head Pods: {}", names.len(), names.join(", ")),
        ),
        (Some(g), [name]) => (
            events::CREATED_WORKER_POD,
            format!("Created worker Pod {namespace}/{name} of group {g}"),
        ),
        (Some(g), names) => (
            events::CREATED_WORKER_POD,
            format!(
                "Created {} worker Pods of group {g} in {namespace}: {}",
                names.len(),
                names.join(", ")
            ),
        ),
    }
}

/// The head Service's reasons.
pub const SERVICE: Reasons = Reasons {
    kind: "Service",
    created: events::CREATED_SERVICE,
    failed: events::FAILED_TO_CREATE_SERVICE,
};
/// The Ingress's reasons.
pub const INGRESS: Reasons = Reasons {
    kind: "Ingress",
    created: events::CREATED_INGRESS,
    failed: events::FAILED_TO_CREATE_INGRESS,
};
/// The generated auth token Secret's reasons.
pub const AUTH_SECRET: Reasons = Reasons {
    kind: "Secret",
    created: events::CREATED_SECRET,
    failed: events::FAILED_TO_CREATE_SECRET,
};
/// The autoscaler ServiceAccount's reasons.
pub const SERVICE_ACCOUNT: Reasons = Reasons {
    kind: "ServiceAccount",
    created: events::CREATED_SERVICE_ACCOUNT,
    failed: events::FAILED_TO_CREATE_SERVICE_ACCOUNT,
};
/// The autoscaler Role's reasons.
pub const ROLE: Reasons = Reasons {
    kind: "Role",
    created: events::CREATED_ROLE,
    failed: events::FAILED_TO_CREATE_ROLE,
};
/// The autoscaler RoleBinding's reasons.
pub const ROLE_BINDING: Reasons = Reasons {
    kind: "RoleBinding",
    created: events::CREATED_ROLE_BINDING,
    failed: events::FAILED_TO_CREATE_ROLE_BINDING,
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_created_pod_reads_as_before_and_several_are_counted() {
        let one = vec!["c-workers-abc".to_string()];
        assert_eq!(
            created_note("ns", Some("workers"), &one),
            (
                events::CREATED_WORKER_POD,
                "Created worker Pod ns/c-workers-abc of group workers".to_string()
            )
        );
        let three: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
        let (reason, note) = created_note("ns", Some("workers"), &three);
        assert_eq!(reason, events::CREATED_WORKER_POD);
        assert_eq!(
            note,
            "Created 3 worker Pods of group workers in ns: a, b, c"
        );
        assert_eq!(
            created_note("ns", None, &one[..1]).0,
            events::CREATED_HEAD_POD
        );
    }
}
