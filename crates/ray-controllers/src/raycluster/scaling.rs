//! Which pods to create and delete, given the spec and the pods the cache shows: a pure function, so every
//! scaling rule is unit-tested without an API server. [`super::decide`] turns its changes into actions.
//!
//! The rules (KubeRay's `reconcilePods`, with its lessons applied):
//! - `suspend: true`: delete every pod. A worker group's own `suspend: true`: delete every pod of that group.
//! - `upgradeStrategy.type: Recreate` (KubeRay's rule, decided from the pods' annotations alone, so it survives a
//!   restart): when a pod this operator version created carries the spec hash of another spec, delete every pod
//!   and create nothing in that pass; the next passes create them from the current spec. Replica counts and
//!   `workersToDelete` are not part of the hash, so the autoscaler's changes never trigger it. A head created by
//!   another operator version (or KubeRay) is not compared: its annotations are brought up to date instead, so
//!   upgrading the operator replaces no pod.
//! - Head: none → create one; unhealthy → delete it (it is recreated on the next pass); more than one (only after
//!   a crash between create and cache update) → keep the oldest, delete the rest.
//! - Worker group: desired = `replicas` clamped into `[minReplicas, maxReplicas]` × `numOfHosts`. Unhealthy pods
//!   are deleted first and nothing is created for that group in the same pass. Then exactly the pods named in
//!   `scaleStrategy.workersToDelete` are deleted. Missing pods are created with the lowest free replica indices.
//!   Surplus pods are deleted only when autoscaling is off (the autoscaler is the only one allowed to pick victims
//!   when it runs), preferring pods that are not ready, then the highest replica index.
//! - Groups with `numOfHosts > 1` are created and deleted one whole replica (all its hosts) at a time.
//! - A group (or the head) whose previous creates and deletes the cache does not show yet is left alone.
//! - One reconcile creates at most [`MAX_CREATES_PER_RECONCILE`] pods over all groups (a multi-host replica is
//!   never split, so its hosts may exceed it once). The rest follow in the next reconciles, which the new pods'
//!   watch events trigger. Without the bound a `replicas: 2147483647` would make one decision allocate billions
//!   of actions and crash the operator for every other cluster; with it, memory per reconcile is fixed and a huge
//!   cluster takes turns with the others on the work queue.

use std::collections::{BTreeMap, BTreeSet};

use ray_api_v1::{RayClusterSpec, WorkerGroupSpec};
use ray_builders::resources::{desired_replicas, hosts};
use ray_builders::{MultiHostReplica, PodStamp, WorkerReplica};

use crate::pod_index::{CachedPod, NodeType, PodPhase};

/// Why a pod is deleted; shown in the event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeleteReason {
    /// The cluster is suspended.
    Suspended,
    /// The worker group is suspended (its `suspend: true`).
    GroupSuspended,
    /// The pod finished or its Ray container terminated and will not restart (the text says which).
    Unhealthy(String),
    /// The pod is named in `scaleStrategy.workersToDelete`.
    WorkersToDelete,
    /// The group has more pods than desired and autoscaling is off.
    ScaleDown,
    /// A second head pod.
    ExtraHead,
    /// A multi-host replica is missing hosts or one of its hosts is deleted, so the whole replica goes.
    IncompleteReplica,
    /// The spec changed and `upgradeStrategy.type` is `Recreate`.
    Recreate,
}

impl std::fmt::Display for DeleteReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DeleteReason::Suspended => f.write_str("the RayCluster is suspended"),
            DeleteReason::GroupSuspended => f.write_str("its worker group is suspended"),
            DeleteReason::Unhealthy(why) => write!(f, "{why}"),
            DeleteReason::WorkersToDelete => {
                f.write_str("it is listed in scaleStrategy.workersToDelete")
            }
            DeleteReason::ScaleDown => {
                f.write_str("the group has more pods than desired and autoscaling is off")
            }
            DeleteReason::ExtraHead => f.write_str("the cluster has more than one head pod"),
            DeleteReason::IncompleteReplica => {
                f.write_str("its multi-host replica is incomplete and is replaced as a whole")
            }
            DeleteReason::Recreate => f.write_str(
                "the RayCluster spec changed and upgradeStrategy.type is Recreate, so every pod is replaced",
            ),
        }
    }
}

/// The most pods one reconcile of one cluster creates. Large enough that ordinary scale-ups finish in one pass
/// (the API client's rate limit, not this, sets their pace), small enough that the actions and the pods rendered
/// for them stay a few megabytes.
pub const MAX_CREATES_PER_RECONCILE: usize = 500;

/// One change to the cluster's pods.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PodChange {
    /// Delete a pod.
    Delete {
        /// The pod's name.
        name: String,
        /// The worker group's name, or `None` for the head.
        group: Option<String>,
        /// Why.
        reason: DeleteReason,
    },
    /// Create the head pod.
    CreateHead,
    /// Create a worker pod of the group at `group_index` in `workerGroupSpecs`.
    CreateWorker {
        /// Index into `workerGroupSpecs`.
        group_index: usize,
        /// The replica (and host) the pod is.
        replica: WorkerReplica,
    },
    /// Write the current spec hash and operator version into a head pod created by another operator version, so
    /// that the Recreate upgrade strategy compares it from now on.
    Restamp {
        /// The pod's name.
        name: String,
    },
}

/// What the controller knows when it decides.
pub struct Observation<'a> {
    /// The cluster's spec.
    pub spec: &'a RayClusterSpec,
    /// Every pod of the cluster in the cache (label `ray.io/cluster`), terminating ones included.
    pub pods: &'a [&'a CachedPod],
    /// Whether the head's previous creates and deletes are visible in the cache.
    pub head_settled: bool,
    /// Worker groups whose previous creates and deletes are not visible yet.
    pub unsettled_groups: &'a BTreeSet<String>,
    /// A lost head pod is not replaced: the cluster carries `ray.io/disable-provisioned-head-restart: "true"` (a
    /// SidecarMode RayJob's, whose submitter must not run twice) and was provisioned once already.
    pub head_restart_disabled: bool,
    /// With `upgradeStrategy.type: Recreate`: the annotations of a pod created from the current spec by this
    /// operator version. `None` leaves pods of older specs alone.
    pub recreate: Option<&'a PodStamp>,
}

fn name(pod: &CachedPod) -> String {
    pod.name.clone()
}

/// Whether a pod is being deleted already (it no longer counts).
pub fn is_terminating(pod: &CachedPod) -> bool {
    pod.terminating
}

/// Whether a pod is a head pod.
pub fn is_head(pod: &CachedPod) -> bool {
    pod.is_head()
}

/// Whether a pod is a worker of the named group.
pub fn is_worker_of(pod: &CachedPod, group: &str) -> bool {
    pod.is_worker_of(group)
}

/// Whether a pod is `Running` with condition `Ready=True`.
pub fn is_running_and_ready(pod: &CachedPod) -> bool {
    pod.is_running_and_ready()
}

/// Why a pod must be replaced, if it must: it finished (`Failed`/`Succeeded`), or it is `Running` but its Ray
/// container (the first container) terminated and `restartPolicy: Never` means it never comes back.
pub fn unhealthy(pod: &CachedPod) -> Option<String> {
    match pod.phase {
        PodPhase::Failed | PodPhase::Succeeded => {
            Some(format!("the pod is {}", pod.phase.as_str()))
        }
        PodPhase::Running if pod.restart_never => pod.ray_container_exit.as_ref().map(|exit| {
            format!(
                "its Ray container {:?} terminated (exit code {}) and restartPolicy is Never",
                exit.container, exit.code
            )
        }),
        _ => None,
    }
}

fn replica_index(pod: &CachedPod) -> Option<i32> {
    pod.replica_index
}

/// The lowest `count` replica indices not used by `used`.
fn free_indices(used: &BTreeSet<i32>, count: usize) -> Vec<i32> {
    (0..).filter(|i| !used.contains(i)).take(count).collect()
}

/// Decides the pod changes of one reconcile. `new_replica_name` gives a fresh name for a multi-host replica of
/// the named group (the controller uses random suffixes; tests use a counter).
pub fn pod_changes(
    obs: &Observation<'_>,
    new_replica_name: &mut dyn FnMut(&str) -> String,
) -> Vec<PodChange> {
    let active: Vec<&CachedPod> = obs
        .pods
        .iter()
        .copied()
        .filter(|p| !is_terminating(p))
        .collect();
    let mut actions = Vec::new();
    let mut budget = MAX_CREATES_PER_RECONCILE;

    if obs.spec.suspend {
        return delete_all(obs, &active, DeleteReason::Suspended);
    }

    if let Some(stamp) = obs.recreate {
        if active.iter().any(|p| outdated(p, stamp)) {
            return delete_all(obs, &active, DeleteReason::Recreate);
        }
        if obs.head_settled {
            for head in active.iter().filter(|p| is_head(p)) {
                if head.operator_version.as_deref() != Some(stamp.operator_version.as_str()) {
                    actions.push(PodChange::Restamp { name: name(head) });
                }
            }
        }
    }

    if obs.head_settled {
        let mut heads: Vec<&CachedPod> = active.iter().copied().filter(|p| is_head(p)).collect();
        heads.sort_by_key(|p| (p.created.clone(), name(p)));
        match heads.split_first() {
            None if obs.head_restart_disabled => {}
            None => {
                actions.push(PodChange::CreateHead);
                budget -= 1;
            }
            Some((head, extra)) => {
                if let Some(why) = unhealthy(head) {
                    actions.push(PodChange::Delete {
                        name: name(head),
                        group: None,
                        reason: DeleteReason::Unhealthy(why),
                    });
                }
                for pod in extra {
                    actions.push(PodChange::Delete {
                        name: name(pod),
                        group: None,
                        reason: DeleteReason::ExtraHead,
                    });
                }
            }
        }
    }

    for (index, group) in obs.spec.worker_group_specs.iter().enumerate() {
        if obs.unsettled_groups.contains(&group.group_name) {
            continue;
        }
        let pods: Vec<&CachedPod> = active
            .iter()
            .copied()
            .filter(|p| is_worker_of(p, &group.group_name))
            .collect();
        if group.suspend == Some(true) {
            for pod in pods {
                actions.push(delete(pod, group, DeleteReason::GroupSuspended));
            }
            continue;
        }
        if hosts(group) > 1 {
            decide_multi_host(
                obs.spec,
                index,
                group,
                &pods,
                new_replica_name,
                &mut budget,
                &mut actions,
            );
        } else {
            decide_group(obs.spec, index, group, &pods, &mut budget, &mut actions);
        }
    }
    actions
}

/// Whether `pod` was created by this operator version from another spec than the current one. A pod without the
/// annotations, or of another version, is not compared (KubeRay's rule; its hash may be computed differently).
fn outdated(pod: &CachedPod, stamp: &PodStamp) -> bool {
    pod.operator_version.as_deref() == Some(stamp.operator_version.as_str())
        && pod
            .spec_hash
            .as_deref()
            .is_some_and(|hash| hash != stamp.spec_hash)
}

/// Deletes every head and worker pod of the cluster whose head or group has settled (the rest go in a later pass),
/// including workers of groups no longer in the spec, which would otherwise keep the cluster from ever being
/// suspended or recreated.
fn delete_all(
    obs: &Observation<'_>,
    active: &[&CachedPod],
    reason: DeleteReason,
) -> Vec<PodChange> {
    let mut actions = Vec::new();
    if obs.head_settled {
        for pod in active.iter().filter(|p| is_head(p)) {
            actions.push(PodChange::Delete {
                name: name(pod),
                group: None,
                reason: reason.clone(),
            });
        }
    }
    for group in &obs.spec.worker_group_specs {
        if obs.unsettled_groups.contains(&group.group_name) {
            continue;
        }
        for pod in active.iter().filter(|p| is_worker_of(p, &group.group_name)) {
            actions.push(delete(pod, group, reason.clone()));
        }
    }
    let in_spec = |group: &str| {
        obs.spec
            .worker_group_specs
            .iter()
            .any(|g| g.group_name == group)
    };
    for pod in active
        .iter()
        .filter(|p| p.node_type == NodeType::Worker && !p.group.as_deref().is_some_and(in_spec))
    {
        actions.push(PodChange::Delete {
            name: name(pod),
            group: Some(pod.group.clone().unwrap_or_default()),
            reason: reason.clone(),
        });
    }
    actions
}

fn delete(pod: &CachedPod, group: &WorkerGroupSpec, reason: DeleteReason) -> PodChange {
    PodChange::Delete {
        name: name(pod),
        group: Some(group.group_name.clone()),
        reason,
    }
}

fn workers_to_delete(group: &WorkerGroupSpec) -> BTreeSet<&str> {
    group
        .scale_strategy
        .iter()
        .flat_map(|s| s.workers_to_delete.iter())
        .map(String::as_str)
        .collect()
}

/// Scale-down victims in a deterministic order: not ready first, then the highest replica index, then name.
fn victim_order(a: &&CachedPod, b: &&CachedPod) -> std::cmp::Ordering {
    is_running_and_ready(a)
        .cmp(&is_running_and_ready(b))
        .then_with(|| replica_index(b).cmp(&replica_index(a)))
        .then_with(|| name(b).cmp(&name(a)))
}

fn decide_group(
    spec: &RayClusterSpec,
    index: usize,
    group: &WorkerGroupSpec,
    pods: &[&CachedPod],
    budget: &mut usize,
    actions: &mut Vec<PodChange>,
) {
    let unhealthy_pods: Vec<(&CachedPod, String)> = pods
        .iter()
        .filter_map(|p| unhealthy(p).map(|why| (*p, why)))
        .collect();
    if !unhealthy_pods.is_empty() {
        for (pod, why) in unhealthy_pods {
            actions.push(delete(pod, group, DeleteReason::Unhealthy(why)));
        }
        return;
    }
    let named = workers_to_delete(group);
    let mut remaining = Vec::new();
    for pod in pods {
        if named.contains(name(pod).as_str()) {
            actions.push(delete(pod, group, DeleteReason::WorkersToDelete));
        } else {
            remaining.push(*pod);
        }
    }
    let desired = usize::try_from(desired_replicas(group)).unwrap_or(0);
    if remaining.len() < desired {
        let used: BTreeSet<i32> = remaining.iter().filter_map(|p| replica_index(p)).collect();
        let count = (desired - remaining.len()).min(*budget);
        *budget -= count;
        for replica_index in free_indices(&used, count) {
            actions.push(PodChange::CreateWorker {
                group_index: index,
                replica: WorkerReplica {
                    index: replica_index,
                    multi_host: None,
                },
            });
        }
    } else if remaining.len() > desired && !spec.enable_in_tree_autoscaling {
        remaining.sort_by(victim_order);
        for pod in &remaining[..remaining.len() - desired] {
            actions.push(delete(pod, group, DeleteReason::ScaleDown));
        }
    }
}

fn decide_multi_host(
    spec: &RayClusterSpec,
    index: usize,
    group: &WorkerGroupSpec,
    pods: &[&CachedPod],
    new_replica_name: &mut dyn FnMut(&str) -> String,
    budget: &mut usize,
    actions: &mut Vec<PodChange>,
) {
    let hosts_per_replica = usize::try_from(hosts(group)).unwrap_or(1);
    let mut replicas: BTreeMap<String, Vec<&CachedPod>> = BTreeMap::new();
    for pod in pods {
        let replica = pod.replica_name.clone().unwrap_or_default();
        replicas.entry(replica).or_default().push(pod);
    }
    let named = workers_to_delete(group);
    let mut complete: Vec<(String, Vec<&CachedPod>)> = Vec::new();
    for (replica, members) in replicas {
        let reason = if members.len() != hosts_per_replica || replica.is_empty() {
            Some(DeleteReason::IncompleteReplica)
        } else if let Some(why) = members.iter().find_map(|p| unhealthy(p)) {
            Some(DeleteReason::Unhealthy(why))
        } else if members.iter().any(|p| named.contains(name(p).as_str())) {
            Some(DeleteReason::WorkersToDelete)
        } else {
            None
        };
        match reason {
            Some(reason) => {
                for pod in members {
                    actions.push(delete(pod, group, reason.clone()));
                }
            }
            None => complete.push((replica, members)),
        }
    }
    let desired = usize::try_from(desired_replicas(group)).unwrap_or(0);
    if complete.len() < desired {
        let used: BTreeSet<i32> = complete
            .iter()
            .filter_map(|(_, members)| members.first().and_then(|p| replica_index(p)))
            .collect();
        // Whole replicas only: as many as the budget holds, and one even when a single replica is larger than
        // the whole budget (validation bounds numOfHosts), so such a group still makes progress.
        let mut count = (desired - complete.len()).min(*budget / hosts_per_replica);
        if count == 0 && *budget == MAX_CREATES_PER_RECONCILE {
            count = 1;
        }
        *budget = budget.saturating_sub(count.saturating_mul(hosts_per_replica));
        for replica_index in free_indices(&used, count) {
            let replica_name = new_replica_name(&group.group_name);
            for host_index in 0..hosts(group) {
                actions.push(PodChange::CreateWorker {
                    group_index: index,
                    replica: WorkerReplica {
                        index: replica_index,
                        multi_host: Some(MultiHostReplica {
                            name: replica_name.clone(),
                            host_index,
                        }),
                    },
                });
            }
        }
    } else if complete.len() > desired && !spec.enable_in_tree_autoscaling {
        complete.sort_by(|(an, a), (bn, b)| {
            let ready = |m: &Vec<&CachedPod>| m.iter().all(|p| is_running_and_ready(p));
            let idx = |m: &Vec<&CachedPod>| m.first().and_then(|p| replica_index(p));
            ready(a)
                .cmp(&ready(b))
                .then_with(|| idx(b).cmp(&idx(a)))
                .then_with(|| bn.cmp(an))
        });
        for (_, members) in &complete[..complete.len() - desired] {
            for pod in members {
                actions.push(delete(pod, group, DeleteReason::ScaleDown));
            }
        }
    }
}

#[cfg(test)]
#[path = "scaling_tests.rs"]
mod tests;
