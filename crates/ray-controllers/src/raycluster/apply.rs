//! Carries out decisions against the API server, in a fixed order: autoscaler RBAC, Ingress, Services, then pods
//! (deletes before creates, head before workers). Each create and delete is recorded in the expectations
//! *before* the call, and every outcome becomes an Event.

use std::fmt::Debug;
use std::time::Instant;

use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::core::v1::{ObjectReference, Pod, Service};
use kube::api::{DeleteParams, PostParams};
use kube::runtime::events::{Event, EventType};
use kube::runtime::reflector::ObjectRef;
use kube::{Api, Resource};
use ray_builders::ClusterContext;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tracing::{info, warn};

use super::decide::{Action, DeleteReason};
use super::events;
use super::status::Failure;
use crate::context::{Context, FIELD_MANAGER};
use crate::error::{Error, api_message};
use crate::expectations::GroupKey;

/// Most pod creations one reconcile has in flight at once. Creating a big group one pod at a time makes its
/// scale-up as slow as the API server's latency (about 20 pods/s on a loaded machine); a few in parallel make it
/// as fast as `--kube-api-qps` allows, while other RayClusters' reconciles still get their turn at the shared
/// request budget (each has at most this many requests waiting).
pub const PARALLEL_CREATES: usize = 8;

/// Applies changes for one RayCluster.
pub struct Applier<'a> {
    /// Shared controller state.
    pub ctx: &'a Context,
    /// The cluster's rendering context.
    pub cluster: &'a ClusterContext<'a>,
    /// The cluster, as the subject of Events.
    pub reference: ObjectReference,
}

fn params() -> PostParams {
    PostParams {
        field_manager: Some(FIELD_MANAGER.to_string()),
        ..PostParams::default()
    }
}

/// The reasons to report for creating one kind of child.
pub struct Reasons {
    /// The kind, for messages.
    pub kind: &'static str,
    /// Event reason on success.
    pub created: &'static str,
    /// Event reason on failure.
    pub failed: &'static str,
}

impl Applier<'_> {
    /// Publishes an Event about the cluster. A failure to publish is logged, never fatal: the reconcile's own
    /// result matters more than its report.
    pub async fn event(&self, type_: EventType, reason: &str, action: &str, note: String) {
        let event = Event {
            type_,
            reason: reason.to_string(),
            note: Some(events::note(&note)),
            action: action.to_string(),
            secondary: None,
        };
        if let Err(error) = self.ctx.recorder.publish(&event, &self.reference).await {
            warn!(%error, reason, "could not publish an event");
        }
    }

    fn namespace(&self) -> &str {
        &self.cluster.namespace
    }

    /// Creates `object` unless an object of its name exists; returns what exists afterwards. Children are
    /// create-only, as in KubeRay: a user's edits to a Service are not fought over.
    pub async fn ensure<K>(&self, object: K, reasons: &Reasons) -> Result<Result<K, Failure>, Error>
    where
        K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>
            + Clone
            + DeserializeOwned
            + Serialize
            + Debug,
    {
        let api: Api<K> = Api::namespaced(self.ctx.client.clone(), self.namespace());
        let name = object.meta().name.clone().unwrap_or_default();
        let what = format!("{} {}/{name}", reasons.kind, self.namespace());
        if let Some(existing) = api.get_opt(&name).await.map_err(|source| Error::Read {
            what: what.clone(),
            source,
        })? {
            return Ok(Ok(existing));
        }
        match api.create(&params(), &object).await {
            Ok(created) => {
                info!(kind = reasons.kind, child = %name, "created");
                self.event(
                    EventType::Normal,
                    reasons.created,
                    events::ACTION_CREATE,
                    format!("Created {} {}/{name}", reasons.kind, self.namespace()),
                )
                .await;
                Ok(Ok(created))
            }
            Err(kube::Error::Api(status)) if status.is_already_exists() => api
                .get(&name)
                .await
                .map(Ok)
                .map_err(|source| Error::Read { what, source }),
            Err(error) => {
                let message = format!(
                    "Failed to create {} {}/{name}: {}",
                    reasons.kind,
                    self.namespace(),
                    api_message(&error)
                );
                warn!(%error, kind = reasons.kind, child = %name, "create failed");
                self.event(
                    EventType::Warning,
                    reasons.failed,
                    events::ACTION_CREATE,
                    message.clone(),
                )
                .await;
                Ok(Err(Failure {
                    reason: reasons.failed.to_string(),
                    message,
                    replica: false,
                }))
            }
        }
    }

    /// [`Self::ensure`] for a Service, answered from the Service cache when it shows the Service: at steady state
    /// a reconcile then reads nothing from the API server.
    pub async fn ensure_service(
        &self,
        service: Service,
        reasons: &Reasons,
    ) -> Result<Result<Service, Failure>, Error> {
        let name = service.metadata.name.clone().unwrap_or_default();
        let key = ObjectRef::<Service>::new(&name).within(self.namespace());
        if let Some(cached) = self.ctx.services.get(&key) {
            return Ok(Ok(cached.as_ref().clone()));
        }
        self.ensure(service, reasons).await
    }

    fn key(&self, group: Option<&str>) -> GroupKey {
        match group {
            None => GroupKey::head(self.namespace(), &self.cluster.name),
            Some(g) => GroupKey::worker(self.namespace(), &self.cluster.name, g),
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
    pub async fn pods(&self, actions: Vec<Action>) -> Result<Option<Failure>, Error> {
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
        let mut actions = actions.into_iter().peekable();
        while let Some(action) = actions.next() {
            match action {
                Action::Delete {
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
                Action::CreateHead => {
                    if failed_groups.contains(&None) {
                        continue;
                    }
                    let pod = ray_builders::head_pod(self.cluster).map_err(|e| Error::Render {
                        what: format!("{}/{}", self.namespace(), self.cluster.name),
                        message: e.to_string(),
                    })?;
                    match self.create_pod(&api, pod, None).await {
                        Ok(name) => note_created(None, name),
                        Err(f) => {
                            failed_groups.push(None);
                            failure.get_or_insert(f);
                        }
                    }
                }
                Action::CreateWorker {
                    group_index,
                    replica,
                } => {
                    // This group's consecutive creates. Each pod is rendered just before its batch is sent, so memory
                    // stays at one batch of pods however many are created (the reconcile rendered one pod of every
                    // group before deciding, so a template that cannot render has already stopped it).
                    let mut replicas = vec![replica];
                    while let Some(Action::CreateWorker {
                        group_index: next, ..
                    }) = actions.peek()
                        && *next == group_index
                    {
                        if let Some(Action::CreateWorker { replica, .. }) = actions.next() {
                            replicas.push(replica);
                        }
                    }
                    if failed_groups.contains(&Some(group_index)) {
                        continue;
                    }
                    let mut pending = replicas.into_iter();
                    let group = self
                        .cluster
                        .cluster
                        .spec
                        .worker_group_specs
                        .get(group_index)
                        .map(|g| g.group_name.clone());
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
                            .map(|replica| {
                                ray_builders::worker_pod(self.cluster, group_index, &replica)
                                    .map_err(|e| Error::Render {
                                        what: format!("{}/{}", self.namespace(), self.cluster.name),
                                        message: e.to_string(),
                                    })
                            })
                            .collect::<Result<Vec<Pod>, Error>>()?;
                        let results = futures::future::join_all(
                            pods.into_iter()
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
            self.event(EventType::Normal, reason, events::ACTION_CREATE, note)
                .await;
        }
        Ok(failure)
    }

    /// Creates one pod; returns its name, or the failure (already reported in an Event).
    async fn create_pod(
        &self,
        api: &Api<Pod>,
        mut pod: Pod,
        group: Option<&str>,
    ) -> Result<String, Failure> {
        // The pod builders leave owner references to the caller; without one the garbage collector would keep
        // the pods after the RayCluster is deleted.
        pod.metadata.owner_references = self.cluster.owner_reference().map(|o| vec![o]);
        let (failed, kind) = match group {
            None => (events::FAILED_TO_CREATE_HEAD_POD, "head pod"),
            Some(_) => (events::FAILED_TO_CREATE_WORKER_POD, "worker pod"),
        };
        let key = self.key(group);
        let ticket = self.ctx.expectations.expect_create(&key, Instant::now());
        match api.create(&params(), &pod).await {
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
                self.event(
                    EventType::Warning,
                    failed,
                    events::ACTION_CREATE,
                    message.clone(),
                )
                .await;
                Err(Failure {
                    reason: failed.to_string(),
                    message,
                    replica: true,
                })
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
                self.event(
                    EventType::Normal,
                    deleted,
                    events::ACTION_DELETE,
                    format!("Deleted Pod {}/{name}: {reason}", self.namespace()),
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
                self.event(
                    EventType::Warning,
                    failed,
                    events::ACTION_DELETE,
                    message.clone(),
                )
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
/// One pod reads as before aggregation; several are counted and named (the note is cut at 1,000 characters).
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
