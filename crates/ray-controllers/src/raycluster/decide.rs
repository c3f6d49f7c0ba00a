//! What one reconcile does, decided from its [`Facts`] by a pure function: the actions to apply (in order), the
//! Events to publish, whether to report a status, and when to look again. Every rule is unit-tested without an
//! API server.
//!
//! - A deleted cluster: its expectations are forgotten; with the GCS cleanup finalizer, the cleanup runs
//!   ([`gcs_ft::cleanup`]); without it, the garbage collector removes the children.
//! - A fault-tolerant cluster without the finalizer gets it first, and nothing else until the update comes back.
//! - An invalid spec creates nothing: one `InvalidRayClusterSpec` Warning, and the status says why.
//! - Otherwise the missing children are created (a generated auth token's Secret, autoscaler RBAC, Ingress, then
//!   Services: create-only, so a
//!   user's edits are not fought over), then pods are changed as [`scaling`] decides (including the Recreate
//!   upgrade strategy, from the pods' spec hash annotations).

use std::time::Duration;

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Secret, Service, ServiceAccount};

use crate::pod_index::CachedPod;
use k8s_openapi::api::networking::v1::Ingress;
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::runtime::controller::Action as Requeue;
use operator_runtime::Notice;
use ray_builders::DesiredCluster;

use super::observe::{Facts, Phase, Running};
use super::scaling::{self, Observation, PodChange};
use super::status::Failure;
use super::{events, gcs_ft};
use crate::expectations::EXPECTATION_TIMEOUT;

/// Everything one reconcile does, in order: publish [`Decision::events`], apply [`Decision::actions`], report
/// the status if [`Decision::status`] says so, and requeue.
#[derive(Debug)]
pub struct Decision<'f> {
    /// The changes, in the order they are applied.
    pub actions: Vec<Action<'f>>,
    /// Events decided before anything is applied (an invalid spec, a cleanup deadline). The outcomes of the
    /// actions are reported by [`super::apply`] as they happen.
    pub events: Vec<Notice>,
    /// `Some` when this reconcile computes and writes the status (after the actions).
    pub status: Option<StatusReport>,
    /// When to look again if every action succeeds; a failure met while applying requeues after
    /// [`super::FAILURE_REQUEUE`] instead.
    pub requeue: Requeue,
}

/// What the status step is told beyond what the cache shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusReport {
    /// A failure decided before anything was applied (an invalid spec). Failures met while applying are
    /// reported when this is `None`.
    pub failure: Option<Failure>,
}

/// One change to make.
#[derive(Debug, Clone, PartialEq)]
pub enum Action<'f> {
    /// Forget the cluster's expectations: it is being deleted and its pods with it.
    ForgetExpectations,
    /// Add the GCS cleanup finalizer; its update brings the next reconcile.
    AddFinalizer,
    /// Remove the GCS cleanup finalizer, letting the deletion finish.
    RemoveFinalizer {
        /// Why, for the log.
        because: &'static str,
    },
    /// Create a child that does not exist.
    Create(Child<'f>),
    /// Delete and create pods, in order, creating from the cluster's rendered head pod and worker templates.
    ChangePods {
        /// The changes, as [`scaling::pod_changes`] decided them.
        changes: Vec<PodChange>,
        /// What the pods are created from.
        desired: &'f DesiredCluster,
    },
    /// Delete the pods of a deleted cluster, which must be gone before its GCS data is cleaned up.
    DeletePodsForCleanup {
        /// The pods not terminating yet.
        pods: Vec<String>,
    },
    /// Create the Job that deletes the cluster's GCS data from Redis.
    CreateCleanupJob {
        /// The Job.
        job: &'f Job,
        /// How long until the finalizer is removed anyway, for the failure message.
        deadline_in: Duration,
    },
}

/// A child of the cluster other than a pod, as rendered.
#[derive(Debug, Clone, PartialEq)]
pub enum Child<'f> {
    /// The Secret of a generated Ray auth token (rendered without the token, which is generated at creation).
    AuthSecret(&'f Secret),
    /// The autoscaler's ServiceAccount.
    ServiceAccount(&'f ServiceAccount),
    /// The autoscaler's Role.
    Role(&'f Role),
    /// The autoscaler's RoleBinding.
    RoleBinding(&'f RoleBinding),
    /// The dashboard Ingress.
    Ingress(&'f Ingress),
    /// The head Service (the status reports its endpoints).
    HeadService(&'f Service),
    /// The headless worker Service or the serve Service.
    Service(&'f Service),
}

impl Decision<'_> {
    /// A decision that only waits.
    pub fn wait(requeue: Requeue) -> Self {
        Decision {
            actions: Vec::new(),
            events: Vec::new(),
            status: None,
            requeue,
        }
    }
}

/// Decides one reconcile. `new_replica_name` gives a fresh name for a multi-host replica of the named group (the
/// controller uses random suffixes; tests use a counter).
pub fn decide<'f>(
    facts: &'f Facts<'_>,
    new_replica_name: &mut dyn FnMut(&str) -> String,
) -> Decision<'f> {
    match &facts.phase {
        Phase::Deleted => Decision {
            actions: vec![Action::ForgetExpectations],
            ..Decision::wait(Requeue::await_change())
        },
        Phase::CleaningUp(job) => {
            let mut decision = gcs_ft::cleanup(facts.cluster, &facts.pods, job, facts.now);
            decision.actions.insert(0, Action::ForgetExpectations);
            decision
        }
        Phase::NeedsFinalizer => Decision {
            actions: vec![Action::AddFinalizer],
            ..Decision::wait(Requeue::await_change())
        },
        Phase::Invalid(invalid) => {
            let message = format!("Invalid RayCluster spec: {invalid}");
            Decision {
                actions: Vec::new(),
                events: vec![Notice::warning(
                    events::INVALID_SPEC,
                    events::ACTION_VALIDATE,
                    message.clone(),
                )],
                status: Some(StatusReport {
                    failure: Some(Failure {
                        reason: events::INVALID_SPEC.to_string(),
                        message,
                        replica: false,
                    }),
                }),
                requeue: Requeue::await_change(),
            }
        }
        Phase::Running(running) => decide_running(facts, running, new_replica_name),
    }
}

fn decide_running<'f>(
    facts: &'f Facts<'_>,
    running: &'f Running,
    new_replica_name: &mut dyn FnMut(&str) -> String,
) -> Decision<'f> {
    let desired = &running.desired;
    let support = &desired.support;
    let existing = &running.existing;
    let mut actions = Vec::new();
    // The token first: pods read it from the Secret when they start.
    if let Some(secret) = &support.auth_secret
        && !existing.auth_secret
    {
        actions.push(Action::Create(Child::AuthSecret(secret)));
    }
    if let Some(rbac) = &support.rbac {
        if let Some(account) = &rbac.service_account
            && !existing.service_account
        {
            actions.push(Action::Create(Child::ServiceAccount(account)));
        }
        if !existing.role {
            actions.push(Action::Create(Child::Role(&rbac.role)));
        }
        if !existing.role_binding {
            actions.push(Action::Create(Child::RoleBinding(&rbac.role_binding)));
        }
    }
    if let Some(ingress) = &support.ingress
        && !existing.ingress
    {
        actions.push(Action::Create(Child::Ingress(ingress)));
    }
    if existing.head_service.is_none() {
        actions.push(Action::Create(Child::HeadService(&support.head_service)));
    }
    if let Some(headless) = &support.headless_service
        && !existing.headless_service
    {
        actions.push(Action::Create(Child::Service(headless)));
    }
    if let Some(serve) = &support.serve_service
        && !existing.serve_service
    {
        actions.push(Action::Create(Child::Service(serve)));
    }

    let pods: Vec<&CachedPod> = facts.pods.iter().map(AsRef::as_ref).collect();
    let changes = scaling::pod_changes(
        &Observation {
            spec: &facts.cluster.spec,
            pods: &pods,
            head_settled: running.head_settled,
            unsettled_groups: &running.unsettled_groups,
            head_restart_disabled: head_restart_disabled(facts.cluster),
            recreate: facts
                .cluster
                .spec
                .recreates_pods_on_change()
                .then_some(&desired.stamp),
        },
        new_replica_name,
    );
    let acted = !changes.is_empty();
    if acted {
        actions.push(Action::ChangePods { changes, desired });
    }
    Decision {
        actions,
        events: Vec::new(),
        status: Some(StatusReport { failure: None }),
        requeue: if acted || !running.head_settled || !running.unsettled_groups.is_empty() {
            // The pod watch brings the next reconcile; this only matters if an expected change never shows up.
            Requeue::requeue(EXPECTATION_TIMEOUT)
        } else {
            Requeue::await_change()
        },
    }
}

#[cfg(test)]
#[path = "decide_tests.rs"]
mod tests;

/// KubeRay's `ray.io/disable-provisioned-head-restart`: once a cluster with it was provisioned, a lost head pod is
/// not replaced (a SidecarMode RayJob's new head would submit the same job id again, or lose the workers' state).
fn head_restart_disabled(cluster: &ray_api_v1::RayCluster) -> bool {
    let annotated = cluster
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(ray_builders::labels::DISABLE_PROVISIONED_HEAD_RESTART_ANNOTATION))
        .is_some_and(|v| v == "true");
    annotated
        && cluster.status.as_ref().is_some_and(|status| {
            status
                .conditions
                .iter()
                .any(|c| c.type_ == "RayClusterProvisioned" && c.status == "True")
        })
}
