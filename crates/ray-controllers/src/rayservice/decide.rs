//! What a RayService needs next, as a pure function of what the controller observed, so every rule is unit-tested
//! without an API server or a Ray head.
//!
//! The rules (KubeRay's `RayServiceReconciler` for the `ray.io/v1` API of KubeRay 1.1, with its lessons applied):
//! - **Names first.** A new cluster's name (`<rayservice>-<5 random characters>`) is written to
//!   `pendingServiceStatus.rayClusterName` before the cluster is created, so a restart never creates a second one.
//! - **Cluster spec changes.** The hash of `rayClusterConfig` (without worker replicas, `workersToDelete`,
//!   tolerations, scheduling gates) is compared with the one stored on the newest cluster. Equal: nothing to do.
//!   Only worker groups appended at the end: that cluster is updated in place. Anything else: a new pending cluster
//!   is prepared next to the active one, which keeps serving.
//! - **Serve config.** Pushed (`PUT /api/serve/applications/`) to a cluster whose head is ready when the hash of
//!   the config it last received (recorded on the RayCluster, so it survives restarts) differs from the spec's,
//!   or when Serve on it has no application at all (a head restarted without GCS fault tolerance). During an
//!   upgrade only the pending cluster receives config; the active one keeps what it serves.
//! - **Ready** means the head pod is ready, the cluster received the current config, and Serve reports at least
//!   one application and every application `RUNNING`. Only a ready cluster gets the serve Service and the
//!   RayService's head Service; a pending cluster becomes active in the pass that points the Services at it.
//! - **Old clusters** (neither active nor pending) are deleted after the deletion delay
//!   (`spec.rayClusterDeletionDelaySeconds`, else the operator's setting), counted from a time recorded on the
//!   cluster, so a restart neither forgets nor restarts the delay.
//! - **The head pod's `ray.io/serve` label** follows the health of the head's Serve proxy as Serve reports it, or
//!   stays `false` with `spec.excludeHeadPodFromServeSvc`, so only workers take Serve traffic.
//! - **`spec.upgradeStrategy.type: None`** (KubeRay 1.7): never a second cluster. The Serve config and appended
//!   worker groups are still applied in place; a `rayClusterConfig` change that needs a new cluster waits, and the
//!   `UpgradeInProgress` condition (reason `UpgradeStrategyNone`) and an Event say so. The first cluster, and a
//!   replacement for an active cluster that was deleted, are still created.
//! - **`spec.suspend`** (KubeRay 1.7) is atomic, as in KubeRay: the `Suspending` condition is written first, and
//!   only once it is in the status are the RayService's clusters (active, pending, old) and its serve and head
//!   Services deleted; it runs to completion even if `suspend` is set back meanwhile. Once nothing is left,
//!   `Suspended` is `True`. Setting `suspend` to false again sets `Suspended` to `False` (reason `Resumed`) and
//!   starts over as a new RayService: a new cluster, the Serve config pushed to it.
//!
//! [`decide`] runs one pure function per concern, in this order (each reads what the ones before it decided):
//! `goal` (validate the spec) → `suspension` (suspend, stay suspended or resume) → `clusters` (create, update in
//! place, or prepare a new one) → `serve` (push the
//! Serve config, the head's serve label) → `sides` (the active and pending statuses) → `traffic` (point the
//! Services, promote) → `new_cluster` (record the next cluster's name) → `old_clusters` (schedule and delete) →
//! `service_status` and `conditions` → `requeue`.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;
use ray_api_v1::raycluster::{RayCluster, RayClusterSpec};
use ray_api_v1::rayservice::{
    AppStatus, ApplicationStatus, RayService, RayServiceStatus, RayServiceStatuses,
    RayServiceUpgradeType, ServiceStatus,
};
use ray_builders::labels;
use ray_builders::spec_hash::{
    hash_json, rayservice_cluster_hash, rayservice_cluster_hash_first_groups,
};

use super::error::{ServeConfigError, SpecError};

/// Annotation on a RayService's RayCluster: the hash of the Serve config last applied to it (canonical JSON,
/// see [`ray_builders::spec_hash::hash_json`]). Written after each successful apply, so an operator restart
/// neither re-pushes the config nor forgets that it must.
pub const SERVE_CONFIG_HASH_ANNOTATION: &str = "ray.io/serve-config-hash";

/// Annotation on a RayService's RayCluster that no longer serves: when it will be deleted (RFC 3339).
pub const DELETE_AFTER_ANNOTATION: &str = "ray.io/delete-after";

/// How often a RayService is looked at while something is in progress (a cluster starting, Serve deploying).
pub const PROGRESS_INTERVAL: Duration = Duration::from_secs(2);

/// How often a serving RayService is looked at to refresh the applications' statuses from Serve.
pub const STEADY_INTERVAL: Duration = Duration::from_secs(10);

/// What Serve on a cluster said this pass.
#[derive(Debug, Clone, PartialEq)]
pub enum ServeInfo {
    /// The controller did not ask (the head is not ready, or there is no dashboard address).
    NotChecked,
    /// The dashboard could not be asked or answered with an error; the text says what happened.
    Unreachable(String),
    /// Serve's applications (by name, an empty name already mapped to `default`) and whether the head's Serve
    /// proxy is healthy.
    Found {
        /// The applications, in the RayService status format.
        applications: BTreeMap<String, AppStatus>,
        /// Whether Serve reports the proxy on the head node `HEALTHY`.
        head_proxy_healthy: bool,
    },
}

/// One of the RayService's clusters, as observed.
#[derive(Debug, Clone)]
pub struct ClusterObservation<'a> {
    /// The RayCluster.
    pub cluster: &'a RayCluster,
    /// The head pod's name and its current `ray.io/serve` label, when the head pod exists.
    pub head_pod: Option<(String, Option<String>)>,
    /// What Serve on the cluster said.
    pub serve: ServeInfo,
}

/// Everything the decision depends on.
pub struct Observation<'a> {
    /// The RayService.
    pub service: &'a RayService,
    /// The cluster named by `activeServiceStatus.rayClusterName`, if it exists.
    pub active: Option<ClusterObservation<'a>>,
    /// The cluster named by `pendingServiceStatus.rayClusterName`, if it exists.
    pub pending: Option<ClusterObservation<'a>>,
    /// Every RayCluster labelled as this RayService's (including the active and pending ones).
    pub owned_clusters: &'a [RayCluster],
    /// The `ray.io/cluster` selector of the serve Service, or `None` when the Service does not exist.
    pub serve_service_target: Option<String>,
    /// The `ray.io/cluster` selector of the RayService's head Service, or `None` when it does not exist.
    pub head_service_target: Option<String>,
    /// Ready endpoints (distinct pods) of the serve Service.
    pub num_serve_endpoints: i32,
    /// The RayService's own serve and head Services that exist (those it is the controller owner of).
    pub owned_services: Vec<OwnedService>,
    /// How long a cluster that no longer serves is kept before it is deleted, unless the spec's
    /// `rayClusterDeletionDelaySeconds` says otherwise (the operator's setting).
    pub deletion_delay: Duration,
    /// The current time.
    pub now: Timestamp,
    /// Five random lower-case alphanumerics for a new cluster's name (passed in to keep the decision pure).
    pub suffix: &'a str,
}

/// One of the RayService's own Services (the serve Service or its head Service), as observed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedService {
    /// Its name.
    pub name: String,
    /// Whether its deletion has started (a finalizer, such as a load balancer's, may hold it a while).
    pub deleting: bool,
}

/// One change the controller makes.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Create the RayCluster from `rayClusterConfig` with this name.
    CreateCluster {
        /// The name recorded in the status.
        name: String,
    },
    /// Overwrite the cluster's spec with `rayClusterConfig` (only worker groups were appended).
    UpdateCluster {
        /// The cluster.
        name: String,
    },
    /// `PUT` the Serve config to the cluster's dashboard, then record its hash on the cluster.
    ApplyServeConfig {
        /// The cluster.
        cluster: String,
        /// The config as JSON.
        config: serde_json::Value,
        /// Its hash, recorded in [`SERVE_CONFIG_HASH_ANNOTATION`] once Ray accepted it.
        hash: String,
    },
    /// Set the head pod's `ray.io/serve` label.
    SetHeadServeLabel {
        /// The cluster.
        cluster: String,
        /// The head pod.
        pod: String,
        /// The new value.
        serving: bool,
    },
    /// Create or update the serve Service and the RayService's head Service so that they select this cluster.
    PointServices {
        /// The cluster that takes the traffic.
        cluster: String,
    },
    /// Record on a cluster that no longer serves when it will be deleted.
    ScheduleClusterDeletion {
        /// The cluster.
        name: String,
        /// When.
        at: Timestamp,
    },
    /// Remove the deletion time from a cluster that is active or pending again.
    UnscheduleClusterDeletion {
        /// The cluster.
        name: String,
    },
    /// Delete a cluster that no longer serves.
    DeleteCluster {
        /// The cluster.
        name: String,
    },
    /// Delete one of the RayService's clusters because the RayService is suspended.
    DeleteClusterOnSuspend {
        /// The cluster.
        name: String,
    },
    /// Delete the RayService's serve or head Service because the RayService is suspended.
    DeleteServiceOnSuspend {
        /// The Service.
        name: String,
    },
}

/// A Warning or Normal Event that is not the direct outcome of an action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// Warning (a failure) or Normal.
    pub warning: bool,
    /// The Event's reason.
    pub reason: &'static str,
    /// The Event's note.
    pub message: String,
    /// The RayCluster the Event is about (the Event's `related` object), if any. Events about different
    /// clusters are then kept apart instead of being counted as repeats of one another.
    pub cluster: Option<String>,
}

/// What to do: the status to write (only when it differs), the actions, Events, and when to look again.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// The next status (without `lastUpdateTime`, which the controller sets when it writes).
    pub status: RayServiceStatuses,
    /// The changes to make, in order.
    pub actions: Vec<Action>,
    /// Events to publish.
    pub notes: Vec<Note>,
    /// Reconcile again after this long, or `None` to wait for a change.
    pub requeue_after: Option<Duration>,
}

/// Event reasons raised by the decision itself (the controller adds one per action).
pub mod reasons {
    /// The spec is invalid; nothing was changed.
    pub const INVALID_SPEC: &str = "InvalidRayServiceSpec";
    /// `rayClusterConfig` changed: a new cluster is prepared next to the serving one.
    pub const PREPARING_NEW_CLUSTER: &str = "PreparingNewRayCluster";
    /// The pending cluster serves: it became the active cluster.
    pub const PROMOTED_CLUSTER: &str = "PromotedRayCluster";
    /// A Serve application failed (`DEPLOY_FAILED` or `UNHEALTHY`); the note carries Ray's message.
    pub const SERVE_APPLICATION_FAILED: &str = "ServeApplicationFailed";
    /// The dashboard of a cluster could not be read.
    pub const SERVE_STATUS_UNAVAILABLE: &str = "FailedToGetServeApplications";
    /// `spec.suspend` is true: the RayService's clusters and Services are being deleted.
    pub const SUSPENDING: &str = "SuspendingRayService";
    /// Everything the RayService owned is gone.
    pub const SUSPENDED: &str = "SuspendedRayService";
    /// `spec.suspend` is false again: the RayService starts over on a new cluster.
    pub const RESUMED: &str = "ResumedRayService";
    /// `rayClusterConfig` changed in a way that needs a new cluster, which `upgradeStrategy.type: None` forbids.
    pub const UPGRADE_STRATEGY_NONE: &str = "UpgradeStrategyNone";
}

/// Condition types and reasons of `status.conditions` (KubeRay's names).
pub mod conditions {
    /// The service takes traffic: the serve Service points at the active cluster and has ready endpoints.
    pub const READY: &str = "Ready";
    /// A pending cluster is being prepared to take over from the active one.
    pub const UPGRADE_IN_PROGRESS: &str = "UpgradeInProgress";
    /// No cluster serves yet.
    pub const INITIALIZING: &str = "Initializing";
    /// The spec is invalid; the message names the field.
    pub const VALIDATION_FAILED: &str = "ValidationFailed";
    /// The serve Service has ready endpoints.
    pub const NON_ZERO_SERVE_ENDPOINTS: &str = "NonZeroServeEndpoints";
    /// The service was ready and its serve Service has no ready endpoint now.
    pub const ZERO_SERVE_ENDPOINTS: &str = "ZeroServeEndpoints";
    /// An active and a pending cluster exist.
    pub const BOTH_ACTIVE_PENDING_CLUSTERS_EXIST: &str = "BothActivePendingClustersExist";
    /// Only the active cluster exists.
    pub const NO_PENDING_CLUSTER: &str = "NoPendingCluster";
    /// The RayService's resources are being deleted because `spec.suspend` is true (KubeRay 1.7).
    pub const SUSPENDING: &str = "Suspending";
    /// Everything the RayService owned was deleted because `spec.suspend` is true (KubeRay 1.7).
    pub const SUSPENDED: &str = "Suspended";
    /// The deletion is under way.
    pub const SUSPEND_IN_PROGRESS: &str = "SuspendInProgress";
    /// The deletion is done.
    pub const SUSPEND_COMPLETE: &str = "SuspendComplete";
    /// `spec.suspend` is false again after a suspension.
    pub const RESUMED: &str = "Resumed";
    /// A `rayClusterConfig` change waits because `spec.upgradeStrategy.type` is `None` (this operator's reason:
    /// KubeRay says nothing).
    pub const UPGRADE_STRATEGY_NONE: &str = "UpgradeStrategyNone";
}

/// Decides the next status and actions of a RayService: one function per concern, in order.
pub fn decide(obs: &Observation<'_>) -> Decision {
    let mut d = Decision::keeping(obs.service.status.as_ref());
    if obs.service.metadata.deletion_timestamp.is_some() {
        // The clusters and Services carry owner references; the garbage collector removes them.
        return d;
    }
    let goal = match goal(obs.service) {
        Ok(goal) => goal,
        Err(error) => {
            invalid_spec(obs, &error, &mut d);
            return d;
        }
    };
    d.status.observed_generation = obs.service.metadata.generation;
    if suspension(obs, &mut d) {
        return d;
    }
    let clusters = clusters(obs, &goal, &mut d);
    let serving = serve(&clusters, &goal, &mut d);
    sides(obs, &clusters, &serving, &mut d);
    let traffic = traffic(obs, &clusters, &serving, &mut d);
    new_cluster(obs, &clusters, &traffic, &mut d);
    old_clusters(obs, &goal, &mut d);
    service_status(obs, &clusters, &traffic, &mut d);
    conditions(obs, &clusters, &traffic, &mut d);
    requeue(&serving, &mut d);
    d
}

impl Decision {
    /// No change: the current status (without `lastUpdateTime`), no action, no Event, no requeue.
    fn keeping(status: Option<&RayServiceStatuses>) -> Decision {
        let status = comparable(status);
        Decision {
            status,
            actions: Vec::new(),
            notes: Vec::new(),
            requeue_after: None,
        }
    }

    /// Reconcile again within `after` (the earliest of every reason to look again wins).
    fn wake_within(&mut self, after: Duration) {
        self.requeue_after = Some(self.requeue_after.map_or(after, |old| old.min(after)));
    }

    fn pending_name(&self) -> Option<String> {
        self.status
            .pending_service_status
            .as_ref()
            .and_then(|p| p.ray_cluster_name.clone())
    }

    fn active_name(&self) -> Option<String> {
        self.status
            .active_service_status
            .as_ref()
            .and_then(|s| s.ray_cluster_name.clone())
    }
}

/// What a valid spec asks for.
#[derive(Debug)]
struct Goal {
    /// The hash of `rayClusterConfig` the newest cluster must carry.
    cluster_hash: String,
    /// The Serve config as JSON and its hash, when the spec has one.
    serve_config: Option<(serde_json::Value, String)>,
    /// `excludeHeadPodFromServeSvc`: the head pods' `ray.io/serve` label stays `false`.
    exclude_head: bool,
    /// `rayClusterDeletionDelaySeconds`, when set (validated to be 0 or more).
    deletion_delay: Option<Duration>,
    /// `upgradeStrategy.type: None`: a spec change never prepares a second cluster.
    no_new_cluster: bool,
}

impl Goal {
    fn serve_config(&self) -> Option<(&serde_json::Value, &str)> {
        self.serve_config.as_ref().map(|(c, h)| (c, h.as_str()))
    }
}

/// The spec's goal, or why the spec is invalid (the webhook's rules first, then the Serve config, then the hash).
fn goal(service: &RayService) -> Result<Goal, SpecError> {
    ray_api_v1::validation::validate_service(service)?;
    let serve_config = serve_config_json(service)?.map(|config| {
        let hash = hash_json(&config);
        (config, hash)
    });
    let cluster_hash =
        rayservice_cluster_hash(&service.spec.ray_cluster_config).map_err(SpecError::Hash)?;
    Ok(Goal {
        cluster_hash,
        serve_config,
        exclude_head: service.spec.exclude_head_pod_from_serve_svc,
        deletion_delay: service
            .spec
            .ray_cluster_deletion_delay_seconds
            .and_then(|s| u64::try_from(s).ok())
            .map(Duration::from_secs),
        no_new_cluster: service.spec.upgrade_strategy.as_ref().and_then(|s| s.type_)
            == Some(RayServiceUpgradeType::NoUpgrade),
    })
}

/// An invalid spec changes nothing; the running service is left as it is, and the user is told which field.
fn invalid_spec(obs: &Observation<'_>, error: &SpecError, d: &mut Decision) {
    d.notes.push(Note {
        warning: true,
        reason: reasons::INVALID_SPEC,
        message: format!("The RayService's spec is invalid; nothing was changed: {error}"),
        cluster: None,
    });
    set_condition(
        &mut d.status.conditions,
        conditions::READY,
        false,
        conditions::VALIDATION_FAILED,
        format!(
            "The spec is invalid; nothing was changed and the last valid spec keeps serving: {error}"
        ),
        obs.service.metadata.generation,
        obs.now,
    );
}

/// Whether condition `type_` of the RayService's current status is `True`.
fn was_true(obs: &Observation<'_>, type_: &str) -> bool {
    obs.service.status.as_ref().is_some_and(|s| {
        s.conditions
            .iter()
            .any(|c| c.type_ == type_ && c.status == "True")
    })
}

/// `spec.suspend`: suspends (atomically, see the module docs), keeps a suspended RayService empty, or resumes one.
/// Returns whether the pass ends here (the RayService is, or is becoming, suspended).
fn suspension(obs: &Observation<'_>, d: &mut Decision) -> bool {
    let committed = was_true(obs, conditions::SUSPENDING);
    let suspended = was_true(obs, conditions::SUSPENDED);
    let wanted = obs.service.spec.suspend;
    if committed || (wanted && !suspended) {
        suspend(obs, committed, d);
        true
    } else if suspended && wanted {
        clear_sides(obs, d);
        if anything_left(obs) {
            delete_everything(obs, d);
            d.wake_within(PROGRESS_INTERVAL);
        }
        true
    } else {
        if suspended {
            resume(obs, d);
        }
        false
    }
}

/// While suspending or suspended, no cluster is active or pending and nothing serves.
fn clear_sides(obs: &Observation<'_>, d: &mut Decision) {
    d.status.active_service_status = None;
    d.status.pending_service_status = None;
    d.status.service_status = Some(ServiceStatus::NotRunning);
    d.status.num_serve_endpoints = Some(obs.num_serve_endpoints);
}

/// Whether anything the RayService owned is still there (being deleted or not).
fn anything_left(obs: &Observation<'_>) -> bool {
    !obs.owned_clusters.is_empty() || !obs.owned_services.is_empty()
}

/// Deletes what the RayService still owns (what is being deleted already is waited for).
fn delete_everything(obs: &Observation<'_>, d: &mut Decision) {
    for cluster in obs.owned_clusters {
        if cluster.metadata.deletion_timestamp.is_none() {
            d.actions.push(Action::DeleteClusterOnSuspend {
                name: name_of(cluster),
            });
        }
    }
    for svc in &obs.owned_services {
        if !svc.deleting {
            d.actions.push(Action::DeleteServiceOnSuspend {
                name: svc.name.clone(),
            });
        }
    }
}

/// Suspending: first the `Suspending` condition is written (nothing is deleted in that pass, so a suspension that
/// started is never half-forgotten); once it is in the status, everything is deleted, whatever `spec.suspend`
/// says meanwhile; once nothing is left, `Suspended`.
fn suspend(obs: &Observation<'_>, committed: bool, d: &mut Decision) {
    let generation = obs.service.metadata.generation;
    let now = obs.now;
    clear_sides(obs, d);
    let mut set = |type_: &str, status: bool, reason: &str, message: &str| {
        set_condition(
            &mut d.status.conditions,
            type_,
            status,
            reason,
            message.to_owned(),
            generation,
            now,
        );
    };
    if !committed || anything_left(obs) {
        let message =
            "spec.suspend is true: deleting the RayClusters and Services of the RayService";
        set(
            conditions::SUSPENDING,
            true,
            conditions::SUSPEND_IN_PROGRESS,
            message,
        );
        set(
            conditions::READY,
            false,
            conditions::SUSPEND_IN_PROGRESS,
            "The RayService is being suspended",
        );
        set(
            conditions::UPGRADE_IN_PROGRESS,
            false,
            conditions::SUSPEND_IN_PROGRESS,
            "The RayService is being suspended",
        );
        if committed {
            delete_everything(obs, d);
        } else {
            let names: Vec<String> = obs
                .owned_clusters
                .iter()
                .map(|c| format!("RayCluster {}", name_of(c)))
                .chain(
                    obs.owned_services
                        .iter()
                        .map(|s| format!("Service {}", s.name)),
                )
                .collect();
            d.notes.push(Note {
                warning: false,
                reason: reasons::SUSPENDING,
                message: if names.is_empty() {
                    "spec.suspend is true: the RayService creates nothing until it is false"
                        .to_owned()
                } else {
                    format!("spec.suspend is true: deleting {}", names.join(", "))
                },
                cluster: None,
            });
        }
        d.wake_within(PROGRESS_INTERVAL);
        return;
    }
    let message = "Everything the RayService owned was deleted";
    set(
        conditions::SUSPENDING,
        false,
        conditions::SUSPEND_COMPLETE,
        message,
    );
    set(
        conditions::SUSPENDED,
        true,
        conditions::SUSPEND_COMPLETE,
        message,
    );
    set(
        conditions::READY,
        false,
        conditions::SUSPEND_COMPLETE,
        "The RayService is suspended",
    );
    set(
        conditions::UPGRADE_IN_PROGRESS,
        false,
        conditions::SUSPEND_COMPLETE,
        "The RayService is suspended",
    );
    d.status.num_serve_endpoints = Some(0);
    d.notes.push(Note {
        warning: false,
        reason: reasons::SUSPENDED,
        message: "The RayService is suspended: its RayClusters and Services were deleted"
            .to_owned(),
        cluster: None,
    });
    if !obs.service.spec.suspend {
        // Set back to false while suspending: the next pass resumes.
        d.wake_within(PROGRESS_INTERVAL);
    }
}

/// Resuming: `Suspended` turns `False`, and the RayService starts over like a new one (`Ready` is set again by
/// [`conditions`], with a new transition time, so it reads as initializing since now).
fn resume(obs: &Observation<'_>, d: &mut Decision) {
    set_condition(
        &mut d.status.conditions,
        conditions::SUSPENDED,
        false,
        conditions::RESUMED,
        "spec.suspend is false: a new RayCluster is created and given the Serve config".to_owned(),
        obs.service.metadata.generation,
        obs.now,
    );
    d.status.conditions.retain(|c| c.type_ != conditions::READY);
    d.notes.push(Note {
        warning: false,
        reason: reasons::RESUMED,
        message: "spec.suspend is false: the RayService starts over on a new RayCluster".to_owned(),
        cluster: None,
    });
}

/// The Serve config of the spec as JSON (`None` when the spec has none), or why it cannot be used.
pub fn serve_config_json(
    service: &RayService,
) -> Result<Option<serde_json::Value>, ServeConfigError> {
    let Some(text) = service
        .spec
        .serve_config_v2
        .as_deref()
        .filter(|t| !t.trim().is_empty())
    else {
        return Ok(None);
    };
    // The same budgeted parser as manifests: a YAML bomb in the Serve config is an error, not an OOM.
    let value = ray_api_v1::parse::yaml_value(text)?.unwrap_or(serde_json::Value::Null);
    if !value.is_object() {
        return Err(ServeConfigError::NotAMapping);
    }
    Ok(Some(value))
}

/// Sets condition `type_`, keeping its `lastTransitionTime` when its status does not change.
fn set_condition(
    list: &mut Vec<Condition>,
    type_: &str,
    status: bool,
    reason: &str,
    message: String,
    generation: Option<i64>,
    now: Timestamp,
) {
    let status = if status { "True" } else { "False" }.to_owned();
    let since = list
        .iter()
        .find(|c| c.type_ == type_ && c.status == status)
        .map_or(Time(now), |c| c.last_transition_time.clone());
    list.retain(|c| c.type_ != type_);
    list.push(Condition {
        type_: type_.to_owned(),
        status,
        reason: reason.to_owned(),
        message,
        last_transition_time: since,
        observed_generation: generation,
    });
    list.sort_by(|a, b| a.type_.cmp(&b.type_));
}

fn name_of(cluster: &RayCluster) -> String {
    cluster.metadata.name.clone().unwrap_or_default()
}

fn annotation<'a>(cluster: &'a RayCluster, key: &str) -> Option<&'a str> {
    cluster
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(key))
        .map(String::as_str)
}

/// How a cluster's spec compares with the goal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SpecChange {
    None,
    WorkerGroupsAppended,
    NeedsNewCluster,
}

fn spec_change(cluster: &RayCluster, service: &RayService, goal: &str) -> SpecChange {
    let Some(stored) = annotation(cluster, labels::HASH_WITHOUT_REPLICAS_ANNOTATION) else {
        return SpecChange::NeedsNewCluster;
    };
    if stored == goal {
        return SpecChange::None;
    }
    let spec = &service.spec.ray_cluster_config;
    if !is_our_hash(stored) {
        return compare_specs(&cluster.spec, spec);
    }
    let groups = annotation(cluster, labels::NUM_WORKER_GROUPS_ANNOTATION)
        .and_then(|n| n.parse::<usize>().ok());
    if let Some(groups) = groups
        && groups < spec.worker_group_specs.len()
        && rayservice_cluster_hash_first_groups(spec, groups).is_ok_and(|h| h == stored)
    {
        return SpecChange::WorkerGroupsAppended;
    }
    SpecChange::NeedsNewCluster
}

/// Whether `hash` has the form of ours ([`hash_json`]: 52 lower-case base32hex characters). KubeRay writes its own
/// (SHA-1 of Go's JSON, upper-case), which cannot be compared with ours.
fn is_our_hash(hash: &str) -> bool {
    hash.len() == 52 && hash.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'v'))
}

/// A cluster whose stored hash another operator wrote (a RayService KubeRay ran before this operator took over)
/// is compared by what it runs: its spec and `rayClusterConfig`, hashed alike. Both went through the same CRD
/// defaulting; what KubeRay's Go types add on the way (`resources: {}`, `metadata: {}`) is left out of both.
fn compare_specs(running: &RayClusterSpec, goal: &RayClusterSpec) -> SpecChange {
    let Some(running_hash) = normalized_hash(running) else {
        return SpecChange::NeedsNewCluster;
    };
    if normalized_hash(goal).as_ref() == Some(&running_hash) {
        return SpecChange::None;
    }
    let groups = running.worker_group_specs.len();
    if groups < goal.worker_group_specs.len() {
        let mut first = goal.clone();
        first.worker_group_specs.truncate(groups);
        if normalized_hash(&first).as_ref() == Some(&running_hash) {
            return SpecChange::WorkerGroupsAppended;
        }
    }
    SpecChange::NeedsNewCluster
}

/// [`rayservice_cluster_hash`] of `spec` without nulls, empty objects and empty lists (at every level), so that
/// a spec written back from Go types hashes like the one a user wrote. `None` if it cannot be hashed.
fn normalized_hash(spec: &RayClusterSpec) -> Option<String> {
    /// Removes empty members; returns whether `value` itself is empty.
    fn prune(value: &mut serde_json::Value) -> bool {
        match value {
            serde_json::Value::Object(map) => {
                map.retain(|_, v| !prune(v));
                map.is_empty()
            }
            serde_json::Value::Array(items) => {
                for item in items.iter_mut() {
                    prune(item);
                }
                items.is_empty()
            }
            serde_json::Value::Null => true,
            _ => false,
        }
    }
    let mut value = serde_json::to_value(spec).ok()?;
    prune(&mut value);
    let spec: RayClusterSpec = serde_json::from_value(value).ok()?;
    rayservice_cluster_hash(&spec).ok()
}

/// The RayService's clusters once the cluster phase has run.
#[derive(Debug)]
struct Clusters<'o, 'a> {
    /// The active cluster, when it exists.
    active: Option<&'o ClusterObservation<'a>>,
    /// The pending cluster, when it exists and is still wanted.
    pending: Option<&'o ClusterObservation<'a>>,
    /// The recorded pending cluster's name, when it is still wanted (it may not exist yet).
    pending_name: Option<String>,
    /// Whether `rayClusterConfig` needs a new cluster (its name is recorded by `new_cluster`).
    prepare_new: bool,
    /// The cluster that keeps running an older spec because `upgradeStrategy.type` is `None`, if any.
    held: Option<String>,
}

/// Cluster spec changes: forget a vanished active cluster, drop a pending cluster that is no longer needed, create
/// the recorded pending cluster, and compare the newest cluster (pending if any, else active) with the goal.
fn clusters<'o, 'a>(obs: &'o Observation<'a>, goal: &Goal, d: &mut Decision) -> Clusters<'o, 'a> {
    let service = obs.service;
    let active = obs.active.as_ref();
    let mut pending = obs.pending.as_ref();
    let mut pending_name = service
        .status
        .as_ref()
        .and_then(|s| s.pending_service_status.as_ref())
        .and_then(|s| s.ray_cluster_name.clone())
        .filter(|n| !n.is_empty());
    // A recorded active cluster that is gone (deleted by hand) is forgotten; a new one is prepared below.
    if active.is_none() {
        d.status.active_service_status = None;
    }
    // rayClusterConfig went back to what the active cluster runs: the pending cluster is not needed any more.
    if let (Some(a), Some(p)) = (active, &pending_name)
        && spec_change(a.cluster, service, &goal.cluster_hash) == SpecChange::None
    {
        d.notes.push(Note {
            warning: false,
            reason: reasons::PREPARING_NEW_CLUSTER,
            message: format!(
                "rayClusterConfig matches the serving RayCluster {} again; RayCluster {p} is no longer needed",
                name_of(a.cluster)
            ),
            cluster: Some(p.clone()),
        });
        pending = None;
        pending_name = None;
        d.status.pending_service_status = None;
    }
    // A recorded pending cluster that does not exist yet is created (its name was written in an earlier pass).
    if let (Some(name), None) = (&pending_name, pending) {
        d.actions.push(Action::CreateCluster { name: name.clone() });
        d.wake_within(PROGRESS_INTERVAL);
    }
    let mut held = None;
    let prepare_new = match pending.or(active) {
        None => pending_name.is_none(),
        Some(newest) => match spec_change(newest.cluster, service, &goal.cluster_hash) {
            SpecChange::None => false,
            SpecChange::WorkerGroupsAppended => {
                d.actions.push(Action::UpdateCluster {
                    name: name_of(newest.cluster),
                });
                false
            }
            // As KubeRay: with `None` no second cluster is ever prepared; the change waits.
            SpecChange::NeedsNewCluster if goal.no_new_cluster => {
                held = Some(name_of(newest.cluster));
                false
            }
            SpecChange::NeedsNewCluster => true,
        },
    };
    Clusters {
        active,
        pending,
        pending_name,
        prepare_new,
        held,
    }
}

/// A cluster's serve readiness, and the status of its applications.
#[derive(Debug, Clone, PartialEq)]
struct ServeState {
    /// The cluster received the current config and every application is `RUNNING`.
    ready: bool,
    /// What Serve reported, when it was asked and answered.
    applications: Option<BTreeMap<String, AppStatus>>,
}

/// Serve on both clusters this pass.
#[derive(Debug)]
struct Serving {
    active: Option<ServeState>,
    pending: Option<ServeState>,
}

/// Serve: the pending cluster gets the config; the active one only when no other cluster is coming.
fn serve(clusters: &Clusters<'_, '_>, goal: &Goal, d: &mut Decision) -> Serving {
    let config = goal.serve_config();
    let exclude_head = goal.exclude_head;
    let pending = clusters
        .pending
        .map(|p| cluster_serve(p, config, true, exclude_head, d));
    let active_may_push = clusters.pending_name.is_none() && !clusters.prepare_new;
    let active = clusters
        .active
        .map(|a| cluster_serve(a, config, active_may_push, exclude_head, d));
    Serving { active, pending }
}

/// Serve on one cluster: its head's serve label (kept `false` with `exclude_head`), the config when it needs it
/// (and `may_push`), and whether it is ready.
fn cluster_serve(
    obs: &ClusterObservation<'_>,
    config: Option<(&serde_json::Value, &str)>,
    may_push: bool,
    exclude_head: bool,
    d: &mut Decision,
) -> ServeState {
    if exclude_head {
        // Whatever Serve says (or whether it answers at all): a head that once served loses the label.
        head_serve_label(obs, false, d);
    }
    let ServeInfo::Found {
        applications,
        head_proxy_healthy,
    } = &obs.serve
    else {
        return ServeState {
            ready: false,
            applications: None,
        };
    };
    let name = name_of(obs.cluster);
    if !exclude_head {
        head_serve_label(obs, *head_proxy_healthy, d);
    }
    let mut current_config = false;
    if let Some((config, hash)) = config {
        let recorded = annotation(obs.cluster, SERVE_CONFIG_HASH_ANNOTATION);
        let needs_push = recorded != Some(hash) || applications.is_empty();
        if needs_push && may_push {
            d.actions.push(Action::ApplyServeConfig {
                cluster: name,
                config: config.clone(),
                hash: hash.to_owned(),
            });
        }
        current_config = !needs_push;
    }
    let running = !applications.is_empty()
        && applications
            .values()
            .all(|a| a.status == Some(ApplicationStatus::Running));
    ServeState {
        ready: current_config && running,
        applications: Some(applications.clone()),
    }
}

/// The head pod's `ray.io/serve` label follows the health of the head's Serve proxy.
fn head_serve_label(obs: &ClusterObservation<'_>, healthy: bool, d: &mut Decision) {
    if let Some((pod, label)) = &obs.head_pod
        && (label.as_deref() == Some("true")) != healthy
    {
        d.actions.push(Action::SetHeadServeLabel {
            cluster: name_of(obs.cluster),
            pod: pod.clone(),
            serving: healthy,
        });
    }
}

/// The active and pending statuses (applications as Serve reports them), a Warning for each application that failed
/// since the last status, and one for each cluster whose dashboard could not be read.
fn sides(obs: &Observation<'_>, clusters: &Clusters<'_, '_>, serving: &Serving, d: &mut Decision) {
    let old = obs.service.status.as_ref();
    if let Some(a) = clusters.active {
        let old = old.and_then(|s| s.active_service_status.as_ref());
        let name = name_of(a.cluster);
        let apps = serving.active.as_ref().and_then(|s| s.applications.clone());
        let status = cluster_status(old, Some(a.cluster), &name, apps);
        failed_applications(old, &status, &name, d);
        d.status.active_service_status = Some(status);
    }
    if let Some(name) = &clusters.pending_name {
        let old = old.and_then(|s| s.pending_service_status.as_ref());
        let apps = serving
            .pending
            .as_ref()
            .and_then(|s| s.applications.clone());
        let status = cluster_status(old, clusters.pending.map(|p| p.cluster), name, apps);
        failed_applications(old, &status, name, d);
        d.status.pending_service_status = Some(status);
    }
    for (side, observed) in [("active", clusters.active), ("pending", clusters.pending)] {
        if let Some(ClusterObservation {
            cluster,
            serve: ServeInfo::Unreachable(error),
            ..
        }) = observed
        {
            let name = name_of(cluster);
            d.notes.push(Note {
                warning: true,
                reason: reasons::SERVE_STATUS_UNAVAILABLE,
                message: format!(
                    "Could not read the Serve applications of the {side} RayCluster {name}: {error}"
                ),
                cluster: Some(name),
            });
        }
    }
}

fn cluster_status(
    old: Option<&RayServiceStatus>,
    cluster: Option<&RayCluster>,
    name: &str,
    applications: Option<BTreeMap<String, AppStatus>>,
) -> RayServiceStatus {
    let same_cluster = old.is_some_and(|o| o.ray_cluster_name.as_deref() == Some(name));
    let previous_apps = old
        .filter(|_| same_cluster)
        .map(|o| o.application_statuses.clone())
        .unwrap_or_default();
    RayServiceStatus {
        application_statuses: applications.unwrap_or(previous_apps),
        ray_cluster_name: Some(name.to_owned()),
        ray_cluster_status: cluster.and_then(|c| c.status.clone()).map(|mut s| {
            // The mirrored copy would otherwise change the RayService's status at every cluster status write.
            s.last_update_time = None;
            s
        }),
    }
}

/// Warnings for applications that failed since the last status.
fn failed_applications(
    old: Option<&RayServiceStatus>,
    new: &RayServiceStatus,
    cluster: &str,
    d: &mut Decision,
) {
    for (app, status) in &new.application_statuses {
        let failed = matches!(
            status.status,
            Some(ApplicationStatus::DeployFailed | ApplicationStatus::Unhealthy)
        );
        let before = old
            .filter(|o| o.ray_cluster_name == new.ray_cluster_name)
            .and_then(|o| o.application_statuses.get(app));
        let was = before.map(|b| (b.status, b.message.clone()));
        if failed && was != Some((status.status, status.message.clone())) {
            d.notes.push(Note {
                warning: true,
                reason: reasons::SERVE_APPLICATION_FAILED,
                message: format!(
                    "Serve application {app} on RayCluster {cluster} is {}: {}",
                    status
                        .status
                        .and_then(|s| serde_json::to_value(s).ok())
                        .and_then(|v| v.as_str().map(str::to_owned))
                        .unwrap_or_default(),
                    status
                        .message
                        .as_deref()
                        .map(last_line)
                        .unwrap_or("(no message)")
                ),
                cluster: Some(cluster.to_owned()),
            });
        }
    }
}

/// The last non-empty line of Ray's message: for a traceback, the exception (what an Event note has room for).
fn last_line(message: &str) -> &str {
    message
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or(message)
}

/// Where the traffic goes once the traffic phase has run.
#[derive(Debug, PartialEq)]
struct Traffic {
    /// The cluster both Services select after this pass, when they agree.
    serving: Option<String>,
    /// The active cluster after this pass (the pending one once it is promoted).
    active: Option<String>,
}

impl Traffic {
    /// Whether the Services select the active cluster.
    fn serves(&self) -> bool {
        self.active.is_some() && self.serving == self.active
    }
}

/// Traffic: to the pending cluster once it serves, else stays on (or goes to) the active one when it serves.
fn traffic(
    obs: &Observation<'_>,
    clusters: &Clusters<'_, '_>,
    serving: &Serving,
    d: &mut Decision,
) -> Traffic {
    let ready = |state: &Option<ServeState>| state.as_ref().is_some_and(|s| s.ready);
    let target = if ready(&serving.pending) {
        clusters.pending.map(|p| name_of(p.cluster))
    } else if ready(&serving.active) {
        clusters.active.map(|a| name_of(a.cluster))
    } else {
        None
    };
    let mut selected = obs
        .serve_service_target
        .clone()
        .filter(|t| obs.head_service_target.as_ref() == Some(t));
    if let Some(target) = target
        && selected.as_ref() != Some(&target)
    {
        d.actions.push(Action::PointServices {
            cluster: target.clone(),
        });
        selected = Some(target);
    }
    let active = promote(clusters, selected.as_deref(), d);
    Traffic {
        serving: selected,
        active,
    }
}

/// Promotion: when the Services point at the pending cluster, it is the active one now. Returns the active
/// cluster's name.
fn promote(
    clusters: &Clusters<'_, '_>,
    selected: Option<&str>,
    d: &mut Decision,
) -> Option<String> {
    let active = d.active_name();
    let Some(p) = clusters
        .pending_name
        .as_deref()
        .filter(|p| Some(*p) == selected && clusters.pending.is_some())
    else {
        return active;
    };
    let promoted = d.status.pending_service_status.take();
    d.notes.push(Note {
        warning: false,
        reason: reasons::PROMOTED_CLUSTER,
        message: match &active {
            Some(old_active) => format!(
                "RayCluster {p} serves every application; traffic moved to it from RayCluster {old_active}"
            ),
            None => format!("RayCluster {p} serves every application and takes the traffic"),
        },
        cluster: Some(p.to_owned()),
    });
    d.status.active_service_status = promoted;
    Some(p.to_owned())
}

/// A new cluster: its name is recorded now and it is created in the next pass (so a restart never makes two).
fn new_cluster(
    obs: &Observation<'_>,
    clusters: &Clusters<'_, '_>,
    traffic: &Traffic,
    d: &mut Decision,
) {
    if !clusters.prepare_new
        || (d.status.pending_service_status.is_some() && clusters.pending.is_none())
    {
        return;
    }
    let service = obs.service.metadata.name.as_deref().unwrap_or_default();
    let name = ray_builders::names::with_suffix(service, obs.suffix);
    if let Some(current) = &traffic.active {
        d.notes.push(Note {
            warning: false,
            reason: reasons::PREPARING_NEW_CLUSTER,
            message: format!(
                "rayClusterConfig changed: preparing RayCluster {name}; RayCluster {current} keeps serving until it is ready"
            ),
            cluster: Some(name.clone()),
        });
    }
    d.status.pending_service_status = Some(RayServiceStatus {
        ray_cluster_name: Some(name),
        ..RayServiceStatus::default()
    });
    d.wake_within(PROGRESS_INTERVAL);
}

/// Clusters that neither serve nor are being prepared are deleted after the delay (the spec's, else the
/// operator's), counted from a time recorded on the cluster when it is first seen idle; a cluster that is active
/// or pending again loses that time. A changed delay applies to clusters that become idle afterwards.
fn old_clusters(obs: &Observation<'_>, goal: &Goal, d: &mut Decision) {
    let delay = goal.deletion_delay.unwrap_or(obs.deletion_delay);
    let keep: Vec<String> = [d.active_name(), d.pending_name()]
        .into_iter()
        .flatten()
        .collect();
    for cluster in obs.owned_clusters {
        let name = name_of(cluster);
        let due = annotation(cluster, DELETE_AFTER_ANNOTATION);
        if keep.contains(&name) {
            if due.is_some() {
                d.actions.push(Action::UnscheduleClusterDeletion { name });
            }
            continue;
        }
        if cluster.metadata.deletion_timestamp.is_some() {
            continue;
        }
        match due.and_then(|t| t.parse::<Timestamp>().ok()) {
            None => {
                // Whole seconds: the time is shown to users in an annotation and an Event.
                let seconds = i64::try_from(delay.as_secs()).unwrap_or(i64::MAX);
                let at = Timestamp::from_second(obs.now.as_second().saturating_add(seconds))
                    .unwrap_or(obs.now);
                d.actions.push(Action::ScheduleClusterDeletion { name, at });
                d.wake_within(delay.max(Duration::from_millis(100)));
            }
            Some(at) if obs.now >= at => d.actions.push(Action::DeleteCluster { name }),
            Some(at) => {
                let left = Duration::try_from(obs.now.duration_until(at)).unwrap_or_default();
                d.wake_within(left.max(Duration::from_millis(100)));
            }
        }
    }
}

/// The overall `serviceStatus` and the serve endpoint count.
fn service_status(
    obs: &Observation<'_>,
    clusters: &Clusters<'_, '_>,
    traffic: &Traffic,
    d: &mut Decision,
) {
    d.status.num_serve_endpoints = Some(obs.num_serve_endpoints);
    let serves = traffic.serves();
    let unreachable = [clusters.active, clusters.pending]
        .into_iter()
        .flatten()
        .any(|o| matches!(o.serve, ServeInfo::Unreachable(_)));
    d.status.service_status = Some(if serves && obs.num_serve_endpoints > 0 {
        ServiceStatus::Running
    } else if unreachable {
        ServiceStatus::FailedToGetServeDeploymentStatus
    } else if d.status.pending_service_status.is_some() || serves {
        // A cluster is coming, or the Services point at the active cluster but no pod is ready to take traffic yet.
        ServiceStatus::WaitForServeDeploymentReady
    } else {
        ServiceStatus::NotRunning
    });
}

/// The `Ready` and `UpgradeInProgress` conditions (KubeRay's reasons, and `UpgradeStrategyNone` when a change waits).
fn conditions(
    obs: &Observation<'_>,
    clusters: &Clusters<'_, '_>,
    traffic: &Traffic,
    d: &mut Decision,
) {
    let generation = obs.service.metadata.generation;
    let was_ready = obs.service.status.as_ref().is_some_and(|s| {
        s.conditions
            .iter()
            .any(|c| c.type_ == conditions::READY && c.status == "True")
    });
    let pending = d.pending_name();
    let (ready, reason, message) = if d.status.service_status == Some(ServiceStatus::Running) {
        (
            true,
            conditions::NON_ZERO_SERVE_ENDPOINTS,
            format!(
                "RayCluster {} serves through {} ready endpoint(s)",
                traffic.active.as_deref().unwrap_or_default(),
                obs.num_serve_endpoints
            ),
        )
    } else if was_ready {
        (
            false,
            conditions::ZERO_SERVE_ENDPOINTS,
            "The serve Service has no ready endpoint".to_owned(),
        )
    } else {
        (
            false,
            conditions::INITIALIZING,
            match &pending {
                Some(p) => format!(
                    "Waiting for RayCluster {p}: its head pod to be ready, then every Serve application to be RUNNING"
                ),
                None => "Waiting for the serve Service to have a ready endpoint".to_owned(),
            },
        )
    };
    set_condition(
        &mut d.status.conditions,
        conditions::READY,
        ready,
        reason,
        message,
        generation,
        obs.now,
    );
    let (upgrading, reason, message) = match (&traffic.active, &pending) {
        (Some(a), Some(p)) => (
            true,
            conditions::BOTH_ACTIVE_PENDING_CLUSTERS_EXIST,
            format!("RayCluster {p} is being prepared to take over from RayCluster {a}"),
        ),
        (Some(_), None) if clusters.held.is_some() => {
            let held = clusters.held.as_deref().unwrap_or_default();
            let message = format!(
                "rayClusterConfig changed in a way that needs a new RayCluster, but spec.upgradeStrategy.type is None: \
                 the change waits and RayCluster {held} keeps running the previous spec. Set \
                 spec.upgradeStrategy.type to NewCluster to roll it out, or revert rayClusterConfig"
            );
            let already_said = obs.service.status.as_ref().is_some_and(|s| {
                s.conditions.iter().any(|c| {
                    c.type_ == conditions::UPGRADE_IN_PROGRESS
                        && c.reason == conditions::UPGRADE_STRATEGY_NONE
                        && c.observed_generation == generation
                })
            });
            if !already_said {
                d.notes.push(Note {
                    warning: false,
                    reason: reasons::UPGRADE_STRATEGY_NONE,
                    message: message.clone(),
                    cluster: Some(held.to_owned()),
                });
            }
            (false, conditions::UPGRADE_STRATEGY_NONE, message)
        }
        (Some(_), None) => (false, conditions::NO_PENDING_CLUSTER, String::new()),
        (None, _) => (
            false,
            conditions::INITIALIZING,
            "No cluster serves yet".to_owned(),
        ),
    };
    set_condition(
        &mut d.status.conditions,
        conditions::UPGRADE_IN_PROGRESS,
        upgrading,
        reason,
        message,
        generation,
        obs.now,
    );
}

/// A serving RayService with nothing to do is looked at slowly (to refresh the applications' statuses); anything
/// in progress is looked at soon.
fn requeue(serving: &Serving, d: &mut Decision) {
    let steady = d.status.pending_service_status.is_none()
        && d.actions.is_empty()
        && d.status.service_status == Some(ServiceStatus::Running)
        && serving.active.as_ref().is_some_and(|s| s.ready);
    d.wake_within(if steady {
        STEADY_INTERVAL
    } else {
        PROGRESS_INTERVAL
    });
}

/// The status with `lastUpdateTime` set, for writing.
pub fn with_update_time(mut status: RayServiceStatuses, now: Timestamp) -> RayServiceStatuses {
    status.last_update_time = Some(Time(now));
    status
}

/// Whether the status changed in anything but `lastUpdateTime`.
pub fn changed(old: Option<&RayServiceStatuses>, new: &RayServiceStatuses) -> bool {
    comparable(old) != comparable(Some(new))
}

/// The status without `lastUpdateTime` and without an active or pending side that names no cluster. KubeRay
/// writes both sides always (Go structs), with zero values where there is no cluster; those fields stay its own
/// after a takeover (a server-side apply removes only what this operator wrote), so they are read as absent
/// here: otherwise a leftover pending side would block every new cluster and make each pass write the status.
fn comparable(status: Option<&RayServiceStatuses>) -> RayServiceStatuses {
    let mut status = status.cloned().unwrap_or_default();
    status.last_update_time = None;
    let named = |side: &Option<RayServiceStatus>| {
        side.as_ref()
            .and_then(|s| s.ray_cluster_name.as_deref())
            .is_some_and(|n| !n.is_empty())
    };
    if !named(&status.active_service_status) {
        status.active_service_status = None;
    }
    if !named(&status.pending_service_status) {
        status.pending_service_status = None;
    }
    status
}

#[cfg(test)]
#[path = "decide_tests.rs"]
mod tests;
