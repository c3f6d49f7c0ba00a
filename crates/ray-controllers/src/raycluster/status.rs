//! The RayCluster status, computed from what the cache shows (never from what the operator believes it did), and
//! the rule for when it is written.
//!
//! Written only when it differs from the stored status, ignoring `lastUpdateTime`: a reconcile that changes
//! nothing makes no write, so a quiet cluster costs the API server nothing and the status write cannot re-trigger
//! the controller in a loop. What a user or tool waits on (state, reason, a condition turning `True` or `False`,
//! endpoints, observedGeneration) is written at once; a change of the details alone (the counters, a condition's
//! reason or message, the head's IPs) is coalesced to one write per [`COUNTER_INTERVAL`], except that the final
//! status of a converged cluster is written at once ([`when_to_write`]).

use std::time::Duration;

use crate::error::ApiError;
use k8s_openapi::api::core::v1::Service;

use crate::pod_index::{CachedPod, PodPhase};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Patch, PatchParams};
use kube::{Api, ResourceExt};
use ray_api_v1::{ClusterState, HeadInfo, RayCluster, RayClusterStatus};
use ray_builders::resources::{desired_resources, replica_counts};
use tracing::debug;

use super::Context;
use super::error::Error;
use super::scaling::{is_head, is_running_and_ready, is_terminating};
use crate::context::FIELD_MANAGER;

/// Condition type: the head pod is running and ready.
pub const HEAD_POD_READY: &str = "HeadPodReady";
/// Condition type: every pod was running and ready at least once (sticky).
pub const PROVISIONED: &str = "RayClusterProvisioned";
/// Condition type: creating or deleting a pod failed; the message is the API server's.
pub const REPLICA_FAILURE: &str = "ReplicaFailure";
/// `True` while a suspended cluster still has pods being deleted (KubeRay's condition).
pub const SUSPENDING: &str = "RayClusterSuspending";
/// `True` once a suspended cluster has no pod left (KubeRay's condition).
pub const SUSPENDED: &str = "RayClusterSuspended";

/// The shortest time between two status writes that change only counters (ready/available/desired/min/max
/// worker replicas, desired CPU/memory/GPU/TPU). Every pod that becomes ready moves a counter; writing each one
/// made status patches compete with pod creates for the operator's API budget (8,438 patches next to 11,000
/// creates for 1,000 clusters × 11 pods). Measured from the stored `lastUpdateTime`, so a restart or a new leader
/// keeps the pace without memory; that time has whole seconds, so two writes are at least 4 s apart.
pub const COUNTER_INTERVAL: Duration = Duration::from_secs(5);

/// When to write a computed status ([`when_to_write`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusWrite {
    /// The stored status is already what was computed (ignoring `lastUpdateTime`).
    Nothing,
    /// Write now: something a user or tool waits on changed, the cluster converged, or the counters last changed
    /// in a write at least [`COUNTER_INTERVAL`] ago.
    Now,
    /// Only counters changed and the last write is recent: look again after this long (never more than
    /// [`COUNTER_INTERVAL`]) and write the then-current values, even if no event arrives.
    Later(Duration),
}

/// Something that kept this reconcile from reaching the desired state, as shown in the status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// A CamelCase reason (`InvalidRayClusterSpec`, `FailedToCreateWorkerPod`, ...).
    pub reason: String,
    /// What happened, naming the field or carrying the API server's message.
    pub message: String,
    /// Whether a pod could not be created or deleted (sets `ReplicaFailure`).
    pub replica: bool,
}

/// What the status is computed from.
pub struct StatusInputs<'a> {
    /// The cluster as read.
    pub cluster: &'a RayCluster,
    /// The cluster's pods in the cache.
    pub pods: &'a [&'a CachedPod],
    /// The head Service, if it exists.
    pub head_service: Option<&'a Service>,
    /// What went wrong in this reconcile, if anything.
    pub failure: Option<&'a Failure>,
    /// The time used for new condition transitions.
    pub now: Time,
}

fn condition(
    old: &[Condition],
    type_: &str,
    status: bool,
    reason: &str,
    message: String,
    generation: Option<i64>,
    now: &Time,
) -> Condition {
    let status = if status { "True" } else { "False" }.to_string();
    let since = old
        .iter()
        .find(|c| c.type_ == type_ && c.status == status)
        .map(|c| c.last_transition_time.clone())
        .unwrap_or_else(|| now.clone());
    Condition {
        type_: type_.to_string(),
        status,
        reason: reason.to_string(),
        message,
        last_transition_time: since,
        observed_generation: generation,
    }
}

/// `HeadPodReady` from the head pod's `Ready` condition; when the head is not ready, the first waiting or
/// terminated container reason (an image pull error, a crash loop) with its message.
fn head_pod_ready(head: Option<&CachedPod>) -> (bool, String, String) {
    let Some(head) = head else {
        return (false, "HeadPodNotFound".into(), "Head Pod not found".into());
    };
    if head.ready {
        return (true, "HeadPodRunningAndReady".into(), String::new());
    }
    match head.trouble.as_ref().or(head.not_ready.as_ref()) {
        Some(why) => (false, why.reason.clone(), why.message.clone()),
        None => (false, "Unknown".into(), String::new()),
    }
}

/// Where clients reach the cluster: for each named head Service port, its node port, else its target port.
fn endpoints(service: &Service) -> std::collections::BTreeMap<String, String> {
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
    service
        .spec
        .iter()
        .flat_map(|s| s.ports.iter().flatten())
        .filter_map(|p| {
            let name = p.name.clone().filter(|n| !n.is_empty())?;
            let value = match (p.node_port, &p.target_port) {
                (Some(node), _) if node > 0 => node.to_string(),
                (_, Some(IntOrString::Int(port))) => port.to_string(),
                (_, Some(IntOrString::String(port))) => port.clone(),
                (_, None) => p.port.to_string(),
            };
            Some((name, value))
        })
        .collect()
}

/// Computes the status from `inputs` and writes it when [`when_to_write`] says so (server-side apply of the
/// status only), and records the provisioning time the first time the cluster is provisioned. Returns when to
/// look again for a write that was put off.
pub async fn write(ctx: &Context, inputs: StatusInputs<'_>) -> Result<Option<Duration>, Error> {
    let cluster = inputs.cluster;
    let time = inputs.now.clone();
    let computed = compute(&inputs);
    match when_to_write(cluster.status.as_ref(), &computed, time.0) {
        StatusWrite::Nothing => return Ok(None),
        StatusWrite::Later(wait) => {
            debug!(?wait, "counter-only status change put off");
            return Ok(Some(wait));
        }
        StatusWrite::Now => {}
    }
    let namespace = cluster.namespace().unwrap_or_default();
    let name = cluster.name_any();
    let provisioned = |conditions: &[Condition]| {
        conditions
            .iter()
            .any(|c| c.type_ == PROVISIONED && c.status == "True")
    };
    let newly_provisioned = provisioned(&computed.conditions)
        && !cluster
            .status
            .as_ref()
            .is_some_and(|s| provisioned(&s.conditions));
    let status = with_update_time(computed, time.clone());
    let api: Api<RayCluster> = Api::namespaced(ctx.client.clone(), &namespace);
    let patch = serde_json::json!({
        "apiVersion": "ray.io/v1",
        "kind": "RayCluster",
        "status": status,
    });
    api.patch_status(
        &name,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&patch),
    )
    .await
    .map_err(ApiError::of(
        "writing the status of",
        format!("RayCluster {namespace}/{name}"),
    ))?;
    debug!(state = ?status.state, "status written");
    if newly_provisioned {
        ctx.metrics.record_cluster_provisioned(cluster, &time);
    }
    Ok(None)
}

/// Computes the status. `lastUpdateTime` is carried over; [`with_update_time`] sets it when the status is
/// written.
pub fn compute(inputs: &StatusInputs<'_>) -> RayClusterStatus {
    let cluster = inputs.cluster;
    let old = cluster.status.clone().unwrap_or_default();
    let generation = cluster.metadata.generation;
    let spec = &cluster.spec;
    let active: Vec<&CachedPod> = inputs
        .pods
        .iter()
        .copied()
        .filter(|p| !is_terminating(p))
        .collect();
    let workers: Vec<&CachedPod> = active.iter().copied().filter(|p| !is_head(p)).collect();
    let head = active.iter().copied().find(|p| is_head(p));
    let counts = replica_counts(spec);
    let count = |f: &dyn Fn(&CachedPod) -> bool| {
        i32::try_from(workers.iter().filter(|p| f(p)).count()).unwrap_or(i32::MAX)
    };

    let mut status = RayClusterStatus {
        state: old.state,
        reason: inputs.failure.map(|f| f.message.clone()),
        ready_worker_replicas: Some(count(&is_running_and_ready)),
        available_worker_replicas: Some(count(&|p| p.phase == PodPhase::Running)),
        desired_worker_replicas: Some(counts.desired),
        min_worker_replicas: Some(counts.min),
        max_worker_replicas: Some(counts.max),
        desired_cpu: None,
        desired_memory: None,
        desired_gpu: None,
        desired_tpu: None,
        last_update_time: old.last_update_time.clone(),
        state_transition_times: old.state_transition_times.clone(),
        endpoints: inputs.head_service.map(endpoints).unwrap_or_default(),
        head: None,
        conditions: Vec::new(),
        observed_generation: generation,
    };
    if let Ok(resources) = desired_resources(spec, "spec") {
        status.desired_cpu = Some(resources.cpu);
        status.desired_memory = Some(resources.memory);
        status.desired_gpu = Some(resources.gpu);
        status.desired_tpu = Some(resources.tpu);
    }
    let head_ip = head.and_then(|h| h.ip.clone());
    let service_ip = inputs
        .head_service
        .and_then(|s| s.spec.as_ref())
        .and_then(|s| {
            match s.cluster_ip.as_deref() {
                // A headless head Service resolves to the head pod, so the pod's IP is the service IP.
                Some("None") | Some("") | None => head_ip.clone(),
                Some(ip) => Some(ip.to_string()),
            }
        });
    let head_info = HeadInfo {
        pod_ip: head_ip.clone(),
        service_ip,
        pod_name: head.map(|h| h.name.clone()),
        service_name: inputs.head_service.and_then(|s| s.metadata.name.clone()),
    };
    if head_info != HeadInfo::default() {
        status.head = Some(head_info);
    }

    let all_ready = !active.is_empty() && active.iter().all(|p| is_running_and_ready(p));
    let expected_pods = usize::try_from(counts.desired)
        .unwrap_or(usize::MAX)
        .saturating_add(1);
    if inputs.failure.is_none() && !spec.suspend && all_ready && active.len() == expected_pods {
        status.state = Some(ClusterState::Ready);
    }
    if spec.suspend && inputs.pods.is_empty() {
        status.state = Some(ClusterState::Suspended);
    }
    let now = &inputs.now;
    // As KubeRay: the time a state is entered, kept per state, so a state entered again gets the new time. The
    // same time becomes `lastUpdateTime`, since a new state is always written at once.
    if let Some(state) = status.state
        && status.state != old.state
    {
        status.state_transition_times.insert(state, now.clone());
    }

    let (head_ready, reason, message) = head_pod_ready(head);
    status.conditions.push(condition(
        &old.conditions,
        HEAD_POD_READY,
        head_ready,
        &reason,
        message,
        generation,
        now,
    ));
    let was_provisioned = old
        .conditions
        .iter()
        .any(|c| c.type_ == PROVISIONED && c.status == "True");
    let provisioned =
        was_provisioned || (all_ready && active.len() == expected_pods && !spec.suspend);
    status.conditions.push(condition(
        &old.conditions,
        PROVISIONED,
        provisioned,
        if provisioned {
            "AllPodRunningAndReadyFirstTime"
        } else {
            "RayClusterPodsProvisioning"
        },
        if provisioned {
            "All Ray Pods are running and ready".into()
        } else {
            "Ray Pods are being provisioned".into()
        },
        generation,
        now,
    ));
    // KubeRay's suspend conditions: Suspending while pods of a suspended cluster remain, Suspended once they are
    // gone; both False again after `suspend` is cleared (kept, so the history shows).
    let had_suspend_conditions = old
        .conditions
        .iter()
        .any(|c| c.type_ == SUSPENDING || c.type_ == SUSPENDED);
    if spec.suspend || had_suspend_conditions {
        let suspending = spec.suspend && !inputs.pods.is_empty();
        let suspended = spec.suspend && inputs.pods.is_empty();
        status.conditions.push(condition(
            &old.conditions,
            SUSPENDING,
            suspending,
            SUSPENDING,
            if suspending {
                "spec.suspend is true: deleting the cluster's pods".into()
            } else {
                String::new()
            },
            generation,
            now,
        ));
        status.conditions.push(condition(
            &old.conditions,
            SUSPENDED,
            suspended,
            SUSPENDED,
            if suspended {
                "spec.suspend is true and every pod is gone".into()
            } else {
                String::new()
            },
            generation,
            now,
        ));
    }
    if let Some(failure) = inputs.failure.filter(|f| f.replica) {
        status.conditions.push(condition(
            &old.conditions,
            REPLICA_FAILURE,
            true,
            &failure.reason,
            failure.message.clone(),
            generation,
            now,
        ));
    }
    status
}

/// Whether `new` differs from what is stored, ignoring `lastUpdateTime`.
pub fn changed(old: Option<&RayClusterStatus>, new: &RayClusterStatus) -> bool {
    let Some(old) = old else {
        return true;
    };
    let mut a = old.clone();
    let mut b = new.clone();
    a.last_update_time = None;
    b.last_update_time = None;
    a != b
}

/// When to write `new` over the stored `old`, at `now`. Pure: the time of the last write is the stored
/// `lastUpdateTime`.
///
/// - Nothing when nothing but `lastUpdateTime` differs.
/// - Now when anything besides the details differs (state, reason, a condition turning `True` or no longer
///   `True`, endpoints, observedGeneration: what `kubectl wait`, the RayJob and the RayService controllers wait
///   on), when the cluster converged (its final status is written at once), when the stored status has no
///   `lastUpdateTime`, or when the last write is at least [`COUNTER_INTERVAL`] old.
/// - A new cluster's first status (nothing stored yet) is written now only when it has news (a state, a
///   reason, a condition `True`); otherwise after [`COUNTER_INTERVAL`], with whatever the pods show by then.
/// - Details are the counters, a condition's reason, message and transition time while its status stays, and
///   the head's pod and service IPs: they change several times while pods come up, and each immediate write
///   would take an API request from that work.
/// - Later otherwise, at the end of the interval.
pub fn when_to_write(
    old: Option<&RayClusterStatus>,
    new: &RayClusterStatus,
    now: Timestamp,
) -> StatusWrite {
    let Some(old) = old else {
        // A new cluster's first status says little (no state, no condition True yet): it waits with the details,
        // unless it already has news.
        let news = new.state.is_some()
            || new.reason.is_some()
            || new.conditions.iter().any(|c| c.status == "True")
            || converged(new);
        return if news {
            StatusWrite::Now
        } else {
            StatusWrite::Later(COUNTER_INTERVAL)
        };
    };
    if !changed(Some(old), new) {
        return StatusWrite::Nothing;
    }
    if without_details(old) != without_details(new) || converged(new) {
        return StatusWrite::Now;
    }
    let Some(last) = old.last_update_time.as_ref() else {
        return StatusWrite::Now;
    };
    // A `lastUpdateTime` ahead of this clock (another leader's skew) counts as just written.
    let elapsed = Duration::try_from(now.duration_since(last.0)).unwrap_or(Duration::ZERO);
    match COUNTER_INTERVAL.checked_sub(elapsed) {
        Some(wait) if !wait.is_zero() => StatusWrite::Later(wait),
        _ => StatusWrite::Now,
    }
}

/// `status` without the details that move while pods come up (see [`when_to_write`]), nor `lastUpdateTime`.
fn without_details(status: &RayClusterStatus) -> RayClusterStatus {
    RayClusterStatus {
        head: None,
        // Only the conditions that hold: a condition turning `True`, or no longer `True`, is news; one appearing
        // as `False` (the head not ready yet) is a detail.
        conditions: status
            .conditions
            .iter()
            .filter(|c| c.status == "True")
            .map(|c| Condition {
                type_: c.type_.clone(),
                status: c.status.clone(),
                observed_generation: c.observed_generation,
                reason: String::new(),
                message: String::new(),
                last_transition_time: Time(Timestamp::UNIX_EPOCH),
            })
            .collect(),
        ready_worker_replicas: None,
        available_worker_replicas: None,
        desired_worker_replicas: None,
        min_worker_replicas: None,
        max_worker_replicas: None,
        desired_cpu: None,
        desired_memory: None,
        desired_gpu: None,
        desired_tpu: None,
        last_update_time: None,
        ..status.clone()
    }
}

/// Whether every desired pod runs and is ready: the head is ready, nothing failed, and every desired worker is
/// ready and running.
fn converged(status: &RayClusterStatus) -> bool {
    let head_ready = status
        .conditions
        .iter()
        .any(|c| c.type_ == HEAD_POD_READY && c.status == "True");
    let desired = status.desired_worker_replicas.unwrap_or(0);
    head_ready
        && status.reason.is_none()
        && status.ready_worker_replicas.unwrap_or(0) == desired
        && status.available_worker_replicas.unwrap_or(0) == desired
}

/// The status to write, stamped with the write time.
pub fn with_update_time(mut status: RayClusterStatus, now: Time) -> RayClusterStatus {
    status.last_update_time = Some(now);
    status
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
    use serde_json::json;

    use super::*;
    use k8s_openapi::api::core::v1::Pod;

    fn cluster(workers: i32, suspend: bool) -> RayCluster {
        serde_json::from_value(json!({
            "apiVersion": "ray.io/v1", "kind": "RayCluster",
            "metadata": {"name": "c", "namespace": "ns", "generation": 3},
            "spec": {
                "suspend": suspend,
                "headGroupSpec": {"rayStartParams": {}, "template": {"spec": {"containers": [
                    {"name": "ray-head", "image": "ray", "resources": {"requests": {"cpu": "1", "memory": "1Gi"}}}]}}},
                "workerGroupSpecs": [{"groupName": "g", "replicas": workers, "minReplicas": 0, "maxReplicas": 5,
                    "rayStartParams": {}, "template": {"spec": {"containers": [
                        {"name": "ray-worker", "image": "ray", "resources": {"limits": {"cpu": "2", "nvidia.com/gpu": "1"}}}]}}}]
            }
        }))
        .unwrap_or_else(|e| panic!("{e}"))
    }

    fn pod(name: &str, node_type: &str, ready: bool, ip: &str) -> CachedPod {
        let pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": name, "labels": {"ray.io/node-type": node_type}},
            "status": {"phase": "Running", "podIP": ip,
                "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]}
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        CachedPod::of(&pod)
    }

    fn head_service() -> Service {
        serde_json::from_value(json!({
            "metadata": {"name": "c-head-svc"},
            "spec": {"clusterIP": "None", "ports": [
                {"name": "dashboard", "port": 8265, "targetPort": 8265},
                {"name": "client", "port": 10001, "targetPort": 10001}]}
        }))
        .unwrap_or_else(|e| panic!("{e}"))
    }

    fn now() -> Time {
        Time(k8s_openapi::jiff::Timestamp::UNIX_EPOCH)
    }

    #[test]
    fn a_fully_running_cluster_is_ready_with_counts_endpoints_and_head_info() {
        let c = cluster(2, false);
        let pods = [
            pod("h", "head", true, "10.0.0.1"),
            pod("w1", "worker", true, "10.0.0.2"),
            pod("w2", "worker", true, "10.0.0.3"),
        ];
        let refs: Vec<&CachedPod> = pods.iter().collect();
        let svc = head_service();
        let s = compute(&StatusInputs {
            cluster: &c,
            pods: &refs,
            head_service: Some(&svc),
            failure: None,
            now: now(),
        });
        assert_eq!(s.state, Some(ClusterState::Ready));
        assert_eq!(
            (
                s.ready_worker_replicas,
                s.available_worker_replicas,
                s.desired_worker_replicas
            ),
            (Some(2), Some(2), Some(2))
        );
        assert_eq!(
            (s.min_worker_replicas, s.max_worker_replicas),
            (Some(0), Some(5))
        );
        assert_eq!(s.observed_generation, Some(3));
        assert_eq!(
            s.endpoints.get("dashboard").map(String::as_str),
            Some("8265")
        );
        let head = s.head.clone().unwrap_or_default();
        assert_eq!(head.pod_ip.as_deref(), Some("10.0.0.1"));
        assert_eq!(
            head.service_ip.as_deref(),
            Some("10.0.0.1"),
            "headless service: the head pod's IP"
        );
        assert_eq!(head.service_name.as_deref(), Some("c-head-svc"));
        assert_eq!(s.desired_cpu.as_ref().map(|q| q.0.as_str()), Some("5"));
        assert_eq!(s.desired_gpu.as_ref().map(|q| q.0.as_str()), Some("2"));
        assert!(
            s.conditions
                .iter()
                .any(|c| c.type_ == PROVISIONED && c.status == "True")
        );
        assert!(
            s.conditions
                .iter()
                .any(|c| c.type_ == HEAD_POD_READY && c.status == "True")
        );
    }

    /// `stateTransitionTimes` (KubeRay 1.7): the time each state was last entered, kept while the state stays
    /// and for the states left, and renewed when a state is entered again.
    #[test]
    fn state_transition_times_record_when_each_state_was_entered() {
        let at = |seconds: i64| {
            Time(
                k8s_openapi::jiff::Timestamp::from_second(seconds)
                    .unwrap_or_else(|e| panic!("{e}")),
            )
        };
        let ready_pods = [
            pod("h", "head", true, "10.0.0.1"),
            pod("w1", "worker", true, "10.0.0.2"),
        ];
        let ready_refs: Vec<&CachedPod> = ready_pods.iter().collect();
        let step = |cluster: &RayCluster, pods: &[&CachedPod], seconds: i64| {
            compute(&StatusInputs {
                cluster,
                pods,
                head_service: None,
                failure: None,
                now: at(seconds),
            })
        };
        // Provisioning: no state, no time.
        let mut c = cluster(1, false);
        let s = step(&c, &ready_refs[..1], 10);
        assert_eq!(s.state, None);
        assert!(s.state_transition_times.is_empty());
        // Ready at 20.
        c.status = Some(s);
        let s = step(&c, &ready_refs, 20);
        assert_eq!(s.state, Some(ClusterState::Ready));
        assert_eq!(
            s.state_transition_times,
            BTreeMap::from([(ClusterState::Ready, at(20))])
        );
        // Still ready at 30: the time of entering stays.
        c.status = Some(s);
        let s = step(&c, &ready_refs, 30);
        assert_eq!(s.state_transition_times[&ClusterState::Ready], at(20));
        assert!(!changed(c.status.as_ref(), &s), "nothing new to write");
        // Suspended at 40 (no pods left): a second entry, the first one kept.
        let mut suspended = cluster(1, true);
        suspended.status = Some(s);
        let s = step(&suspended, &[], 40);
        assert_eq!(s.state, Some(ClusterState::Suspended));
        assert_eq!(
            s.state_transition_times,
            BTreeMap::from([
                (ClusterState::Ready, at(20)),
                (ClusterState::Suspended, at(40))
            ])
        );
        assert_eq!(
            when_to_write(suspended.status.as_ref(), &s, at(40).0),
            StatusWrite::Now
        );
        // Resumed and ready again at 50: ready gets the new time.
        c.status = Some(s);
        let s = step(&c, &ready_refs, 50);
        assert_eq!(
            s.state_transition_times,
            BTreeMap::from([
                (ClusterState::Ready, at(50)),
                (ClusterState::Suspended, at(40))
            ])
        );
        let written = serde_json::to_value(with_update_time(s, at(50))).unwrap_or_default();
        assert_eq!(
            written["stateTransitionTimes"],
            json!({"ready": "1970-01-01T00:00:50Z", "suspended": "1970-01-01T00:00:40Z"})
        );
    }

    #[test]
    fn a_cluster_missing_pods_is_not_ready_and_a_failure_sets_reason_and_replica_failure() {
        let c = cluster(2, false);
        let pods = [
            pod("h", "head", true, "10.0.0.1"),
            pod("w1", "worker", false, "10.0.0.2"),
        ];
        let refs: Vec<&CachedPod> = pods.iter().collect();
        let failure = Failure {
            reason: "FailedToCreateWorkerPod".into(),
            message: "exceeded quota".into(),
            replica: true,
        };
        let s = compute(&StatusInputs {
            cluster: &c,
            pods: &refs,
            head_service: None,
            failure: Some(&failure),
            now: now(),
        });
        assert_eq!(s.state, None);
        assert_eq!(s.reason.as_deref(), Some("exceeded quota"));
        assert_eq!(s.ready_worker_replicas, Some(0));
        assert_eq!(s.available_worker_replicas, Some(1));
        let rf = s
            .conditions
            .iter()
            .find(|c| c.type_ == REPLICA_FAILURE)
            .cloned()
            .unwrap_or_else(|| panic!("no ReplicaFailure"));
        assert_eq!(
            (rf.status.as_str(), rf.reason.as_str(), rf.message.as_str()),
            ("True", "FailedToCreateWorkerPod", "exceeded quota")
        );
    }

    #[test]
    fn a_suspended_cluster_without_pods_is_suspended() {
        let c = cluster(2, true);
        let s = compute(&StatusInputs {
            cluster: &c,
            pods: &[],
            head_service: None,
            failure: None,
            now: now(),
        });
        assert_eq!(s.state, Some(ClusterState::Suspended));
        let head = s
            .conditions
            .iter()
            .find(|c| c.type_ == HEAD_POD_READY)
            .cloned()
            .unwrap_or_else(|| panic!("none"));
        assert_eq!(head.reason, "HeadPodNotFound");
        let is = |type_: &str| {
            s.conditions
                .iter()
                .find(|c| c.type_ == type_)
                .map(|c| c.status.clone())
        };
        assert_eq!(is(SUSPENDED).as_deref(), Some("True"));
        assert_eq!(is(SUSPENDING).as_deref(), Some("False"));
    }

    #[test]
    fn suspending_while_pods_remain_then_both_false_after_resume() {
        let mut c = cluster(0, true);
        let pods = [pod("h", "head", true, "10.0.0.1")];
        let refs: Vec<&CachedPod> = pods.iter().collect();
        fn inputs<'a>(c: &'a RayCluster, refs: &'a [&'a CachedPod]) -> StatusInputs<'a> {
            StatusInputs {
                cluster: c,
                pods: refs,
                head_service: None,
                failure: None,
                now: now(),
            }
        }
        let s = compute(&inputs(&c, &refs));
        let status_of = |s: &RayClusterStatus, type_: &str| {
            s.conditions
                .iter()
                .find(|x| x.type_ == type_)
                .map(|x| x.status.clone())
        };
        assert_eq!(status_of(&s, SUSPENDING).as_deref(), Some("True"));
        assert_eq!(status_of(&s, SUSPENDED).as_deref(), Some("False"));
        c.status = Some(s);
        c.spec.suspend = false;
        let resumed = compute(&inputs(&c, &refs));
        assert_eq!(status_of(&resumed, SUSPENDING).as_deref(), Some("False"));
        assert_eq!(status_of(&resumed, SUSPENDED).as_deref(), Some("False"));
        let plain = cluster(0, false);
        assert_eq!(status_of(&compute(&inputs(&plain, &refs)), SUSPENDED), None);
    }

    #[test]
    fn an_unchanged_status_is_not_written_and_update_time_alone_is_no_change() {
        let mut c = cluster(0, false);
        let pods = [pod("h", "head", true, "10.0.0.1")];
        let refs: Vec<&CachedPod> = pods.iter().collect();
        let first = compute(&StatusInputs {
            cluster: &c,
            pods: &refs,
            head_service: None,
            failure: None,
            now: now(),
        });
        assert!(changed(c.status.as_ref(), &first));
        c.status = Some(with_update_time(first, now()));
        let later = Time(k8s_openapi::jiff::Timestamp::now());
        let second = compute(&StatusInputs {
            cluster: &c,
            pods: &refs,
            head_service: None,
            failure: None,
            now: later,
        });
        assert!(
            !changed(c.status.as_ref(), &second),
            "transition times are kept, so nothing changed"
        );
        let third = compute(&StatusInputs {
            cluster: &c,
            pods: &[],
            head_service: None,
            failure: None,
            now: now(),
        });
        assert!(changed(c.status.as_ref(), &third));
    }

    #[test]
    fn an_image_pull_error_on_the_head_is_the_head_pod_ready_reason() {
        let head: Pod = serde_json::from_value(json!({
            "metadata": {"name": "h", "labels": {"ray.io/node-type": "head"}},
            "status": {"phase": "Pending",
                "conditions": [{"type": "Ready", "status": "False", "reason": "ContainersNotReady"}],
                "containerStatuses": [{"name": "ray-head", "image": "ray:nope", "imageID": "", "ready": false,
                    "restartCount": 0, "state": {"waiting": {"reason": "ErrImagePull", "message": "pull access denied"}}}]}
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        let c = cluster(0, false);
        let head = CachedPod::of(&head);
        let refs = [&head];
        let s = compute(&StatusInputs {
            cluster: &c,
            pods: &refs,
            head_service: None,
            failure: None,
            now: now(),
        });
        let cond = s
            .conditions
            .iter()
            .find(|c| c.type_ == HEAD_POD_READY)
            .cloned()
            .unwrap_or_else(|| panic!("none"));
        assert_eq!(
            (
                cond.status.as_str(),
                cond.reason.as_str(),
                cond.message.as_str()
            ),
            ("False", "ErrImagePull", "pull access denied")
        );
        assert_eq!(s.state, None);
    }

    /// A status written at second `written` of a cluster of one head and `desired` workers, `ready` of them ready.
    fn written(written: i64, ready: i32, desired: i32) -> RayClusterStatus {
        RayClusterStatus {
            ready_worker_replicas: Some(ready),
            available_worker_replicas: Some(ready),
            desired_worker_replicas: Some(desired),
            min_worker_replicas: Some(0),
            max_worker_replicas: Some(5),
            last_update_time: Some(at(written)),
            conditions: vec![Condition {
                type_: HEAD_POD_READY.into(),
                status: "True".into(),
                reason: "HeadPodRunningAndReady".into(),
                message: String::new(),
                last_transition_time: at(0),
                observed_generation: Some(1),
            }],
            observed_generation: Some(1),
            ..RayClusterStatus::default()
        }
    }

    fn at(second: i64) -> Time {
        Time(Timestamp::from_second(1_700_000_000 + second).unwrap_or_else(|e| panic!("{e}")))
    }

    fn rule(old: &RayClusterStatus, new: &RayClusterStatus, second: i64) -> StatusWrite {
        when_to_write(Some(old), new, at(second).0)
    }

    #[test]
    fn a_counter_only_change_within_the_interval_is_written_when_it_ends() {
        let old = written(100, 1, 10);
        let new = RayClusterStatus {
            ready_worker_replicas: Some(2),
            available_worker_replicas: Some(3),
            ..old.clone()
        };
        assert_eq!(
            rule(&old, &new, 102),
            StatusWrite::Later(Duration::from_secs(3))
        );
        assert_eq!(rule(&old, &new, 100), StatusWrite::Later(COUNTER_INTERVAL));
        let resources = RayClusterStatus {
            desired_cpu: Some(Quantity("5".into())),
            ..old.clone()
        };
        assert_eq!(
            rule(&old, &resources, 101),
            StatusWrite::Later(Duration::from_secs(4))
        );
    }

    #[test]
    fn a_counter_only_change_after_the_interval_is_written_now() {
        let old = written(100, 1, 10);
        let new = RayClusterStatus {
            ready_worker_replicas: Some(2),
            ..old.clone()
        };
        assert_eq!(rule(&old, &new, 105), StatusWrite::Now);
        assert_eq!(rule(&old, &new, 160), StatusWrite::Now);
    }

    #[test]
    fn what_users_and_tools_wait_on_is_written_now() {
        let old = written(100, 1, 10);
        let state = RayClusterStatus {
            state: Some(ClusterState::Ready),
            ready_worker_replicas: Some(2),
            ..old.clone()
        };
        assert_eq!(rule(&old, &state, 101), StatusWrite::Now);
        let reason = RayClusterStatus {
            reason: Some("exceeded quota".into()),
            ..old.clone()
        };
        assert_eq!(rule(&old, &reason, 101), StatusWrite::Now);
        let mut head_not_ready = old.clone();
        head_not_ready.conditions[0].status = "False".into();
        head_not_ready.conditions[0].reason = "CrashLoopBackOff".into();
        assert_eq!(rule(&old, &head_not_ready, 101), StatusWrite::Now);

        let generation = RayClusterStatus {
            observed_generation: Some(2),
            desired_worker_replicas: Some(11),
            ..old.clone()
        };
        assert_eq!(rule(&old, &generation, 101), StatusWrite::Now);
        let endpoints = RayClusterStatus {
            endpoints: [("dashboard".to_string(), "8265".to_string())].into(),
            ..old.clone()
        };
        assert_eq!(rule(&old, &endpoints, 101), StatusWrite::Now);
    }

    #[test]
    fn details_that_move_while_pods_come_up_are_coalesced() {
        let old = written(100, 1, 10);
        let mut other_reason = old.clone();
        other_reason.conditions[0].reason = "Other".into();
        other_reason.conditions[0].message = "the head pod is being scheduled".into();
        assert_eq!(
            rule(&old, &other_reason, 101),
            StatusWrite::Later(Duration::from_secs(4))
        );
        let head = RayClusterStatus {
            head: Some(HeadInfo {
                pod_ip: Some("10.0.0.1".into()),
                ..HeadInfo::default()
            }),
            ..old.clone()
        };
        assert_eq!(
            rule(&old, &head, 101),
            StatusWrite::Later(Duration::from_secs(4))
        );
        assert_eq!(rule(&old, &head, 105), StatusWrite::Now);
    }

    #[test]
    fn the_final_counters_of_a_converged_cluster_are_written_now() {
        let old = RayClusterStatus {
            state: Some(ClusterState::Ready),
            ..written(100, 9, 10)
        };
        let converged = RayClusterStatus {
            ready_worker_replicas: Some(10),
            available_worker_replicas: Some(10),
            ..old.clone()
        };
        assert_eq!(rule(&old, &converged, 101), StatusWrite::Now);
        let mut head_down = converged.clone();
        head_down.conditions[0].status = "False".into();
        let old_head_down = RayClusterStatus {
            conditions: head_down.conditions.clone(),
            ..old.clone()
        };
        assert_eq!(
            rule(&old_head_down, &head_down, 101),
            StatusWrite::Later(Duration::from_secs(4)),
            "workers all ready but the head is not: not converged"
        );
    }

    #[test]
    fn an_unchanged_status_is_nothing_whatever_the_update_time() {
        let old = written(100, 3, 10);
        let same = RayClusterStatus {
            last_update_time: Some(at(200)),
            ..old.clone()
        };
        assert_eq!(rule(&old, &same, 101), StatusWrite::Nothing);
        assert_eq!(rule(&old, &same, 500), StatusWrite::Nothing);
    }

    #[test]
    fn without_a_stored_write_time_or_status_the_write_is_now_and_a_future_one_waits_at_most_the_interval()
     {
        let new = written(100, 2, 10);
        assert_eq!(when_to_write(None, &new, at(100).0), StatusWrite::Now);
        let mut nothing_yet = new.clone();
        nothing_yet.conditions[0].status = "False".into();
        assert_eq!(
            when_to_write(None, &nothing_yet, at(100).0),
            StatusWrite::Later(COUNTER_INTERVAL),
            "a new cluster whose head is not ready yet"
        );
        let failed = RayClusterStatus {
            reason: Some("exceeded quota".into()),
            ..nothing_yet.clone()
        };
        assert_eq!(when_to_write(None, &failed, at(100).0), StatusWrite::Now);
        let never = RayClusterStatus {
            last_update_time: None,
            ready_worker_replicas: Some(1),
            ..new.clone()
        };
        assert_eq!(rule(&never, &new, 100), StatusWrite::Now);
        let skewed = RayClusterStatus {
            ready_worker_replicas: Some(1),
            ..written(160, 2, 10)
        };
        assert_eq!(
            rule(&skewed, &new, 100),
            StatusWrite::Later(COUNTER_INTERVAL),
            "a lastUpdateTime from a clock ahead of ours"
        );
    }
}
