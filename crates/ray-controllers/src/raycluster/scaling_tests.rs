use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::Pod;
use ray_api_v1::RayClusterSpec;
use ray_builders::PodStamp;
use serde_json::json;

use super::*;
use crate::pod_index::CachedPod;

fn spec(workers: serde_json::Value, autoscaling: bool, suspend: bool) -> RayClusterSpec {
    let mut value = json!({
        "headGroupSpec": {
            "rayStartParams": {},
            "template": {"spec": {"containers": [{"name": "ray-head", "image": "rayproject/ray:2.9.0"}]}}
        },
        "workerGroupSpecs": workers,
    });
    if autoscaling {
        value["enableInTreeAutoscaling"] = json!(true);
    }
    if suspend {
        value["suspend"] = json!(true);
    }
    serde_json::from_value(value).unwrap_or_else(|e| panic!("{e}"))
}

fn group(name: &str, replicas: i32, min: i32, max: i32) -> serde_json::Value {
    json!({
        "groupName": name, "replicas": replicas, "minReplicas": min, "maxReplicas": max,
        "rayStartParams": {},
        "template": {"spec": {"containers": [{"name": "ray-worker", "image": "rayproject/ray:2.9.0"}]}}
    })
}

fn pod(name: &str, node_type: &str, group: &str, index: i32, phase: &str) -> Pod {
    serde_json::from_value(json!({
        "metadata": {
            "name": name,
            "labels": {
                "ray.io/cluster": "c",
                "ray.io/node-type": node_type,
                "ray.io/group": group,
                "ray.io/worker-group-replica-index": index.to_string(),
            }
        },
        "spec": {"containers": [{"name": "ray"}]},
        "status": {
            "phase": phase,
            "conditions": [{"type": "Ready", "status": if phase == "Running" { "True" } else { "False" }}]
        }
    }))
    .unwrap_or_else(|e| panic!("{e}"))
}

fn head() -> Pod {
    pod("c-head-x", "head", "headgroup", 0, "Running")
}

fn workers(group: &str, n: i32) -> Vec<Pod> {
    (0..n)
        .map(|i| pod(&format!("{group}-{i}"), "worker", group, i, "Running"))
        .collect()
}

fn run(spec: &RayClusterSpec, pods: &[Pod]) -> Vec<PodChange> {
    run_with(spec, pods, true, &BTreeSet::new())
}

fn run_with(
    spec: &RayClusterSpec,
    pods: &[Pod],
    head_settled: bool,
    unsettled: &BTreeSet<String>,
) -> Vec<PodChange> {
    let summaries: Vec<CachedPod> = pods.iter().map(CachedPod::of).collect();
    let refs: Vec<&CachedPod> = summaries.iter().collect();
    let obs = Observation {
        spec,
        pods: &refs,
        head_settled,
        head_restart_disabled: false,
        unsettled_groups: unsettled,
        recreate: None,
    };
    let mut n = 0;
    pod_changes(&obs, &mut |g| {
        n += 1;
        format!("{g}-r{n}")
    })
}

fn creates(actions: &[PodChange]) -> Vec<i32> {
    actions
        .iter()
        .filter_map(|a| match a {
            PodChange::CreateWorker { replica, .. } => Some(replica.index),
            _ => None,
        })
        .collect()
}

fn deleted(actions: &[PodChange]) -> Vec<String> {
    actions
        .iter()
        .filter_map(|a| match a {
            PodChange::Delete { name, .. } => Some(name.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn an_empty_cluster_gets_a_head_and_its_workers() {
    let s = spec(json!([group("g", 3, 1, 5)]), false, false);
    let actions = run(&s, &[]);
    assert_eq!(actions[0], PodChange::CreateHead);
    assert_eq!(creates(&actions), [0, 1, 2]);
}

#[test]
fn a_steady_cluster_needs_nothing() {
    let s = spec(json!([group("g", 2, 1, 5)]), false, false);
    let mut pods = vec![head()];
    pods.extend(workers("g", 2));
    assert_eq!(run(&s, &pods), []);
}

#[test]
fn scale_up_uses_the_lowest_free_indices() {
    let s = spec(json!([group("g", 4, 0, 5)]), false, false);
    let mut pods = vec![head()];
    pods.push(pod("g-a", "worker", "g", 1, "Running"));
    pods.push(pod("g-b", "worker", "g", 3, "Running"));
    assert_eq!(creates(&run(&s, &pods)), [0, 2]);
}

#[test]
fn replicas_are_clamped_into_min_and_max() {
    let above = spec(json!([group("g", 9, 1, 3)]), false, false);
    assert_eq!(creates(&run(&above, &[head()])).len(), 3);
    let below = spec(json!([group("g", 0, 2, 3)]), false, false);
    assert_eq!(creates(&run(&below, &[head()])).len(), 2);
}

#[test]
fn scale_down_without_autoscaling_is_deterministic_and_prefers_unready_pods() {
    let s = spec(json!([group("g", 2, 0, 5)]), false, false);
    let mut pods = vec![head()];
    pods.extend(workers("g", 3));
    pods.push(pod("g-pending", "worker", "g", 7, "Pending"));
    let first = run(&s, &pods);
    assert_eq!(deleted(&first), ["g-pending", "g-2"]);
    pods.reverse();
    assert_eq!(
        deleted(&run(&s, &pods)),
        ["g-pending", "g-2"],
        "list order does not matter"
    );
}

#[test]
fn with_autoscaling_the_operator_never_picks_victims() {
    let s = spec(json!([group("g", 1, 0, 5)]), true, false);
    let mut pods = vec![head()];
    pods.extend(workers("g", 3));
    assert_eq!(run(&s, &pods), []);
}

#[test]
fn workers_to_delete_deletes_exactly_those_pods() {
    for autoscaling in [true, false] {
        let mut g = group("g", 2, 0, 5);
        g["scaleStrategy"] = json!({"workersToDelete": ["g-0", "not-a-pod"]});
        let s = spec(json!([g]), autoscaling, false);
        let mut pods = vec![head()];
        pods.extend(workers("g", 3));
        let actions = run(&s, &pods);
        assert_eq!(deleted(&actions), ["g-0"], "autoscaling={autoscaling}");
        assert_eq!(creates(&actions), Vec::<i32>::new());
    }
}

#[test]
fn workers_to_delete_below_replicas_is_refilled() {
    let mut g = group("g", 3, 0, 5);
    g["scaleStrategy"] = json!({"workersToDelete": ["g-1"]});
    let s = spec(json!([g]), true, false);
    let mut pods = vec![head()];
    pods.extend(workers("g", 3));
    let actions = run(&s, &pods);
    assert_eq!(deleted(&actions), ["g-1"]);
    assert_eq!(creates(&actions), [1]);
}

#[test]
fn failed_and_succeeded_workers_are_replaced_in_a_later_pass() {
    let s = spec(json!([group("g", 3, 0, 5)]), false, false);
    let mut pods = vec![head()];
    pods.extend(workers("g", 1));
    pods.push(pod("g-failed", "worker", "g", 1, "Failed"));
    pods.push(pod("g-done", "worker", "g", 2, "Succeeded"));
    let actions = run(&s, &pods);
    assert_eq!(deleted(&actions), ["g-failed", "g-done"]);
    assert!(
        creates(&actions).is_empty(),
        "no creation in the pass that deletes unhealthy pods"
    );
    let healthy: Vec<Pod> = pods
        .into_iter()
        .filter(|p| unhealthy(&CachedPod::of(p)).is_none())
        .collect();
    assert_eq!(creates(&run(&s, &healthy)), [1, 2]);
}

#[test]
fn a_terminated_ray_container_with_restart_policy_never_is_replaced() {
    let mut p = pod("g-0", "worker", "g", 0, "Running");
    let patch: Pod = serde_json::from_value(json!({
        "metadata": {},
        "spec": {"restartPolicy": "Never", "containers": [{"name": "ray"}]},
        "status": {"phase": "Running", "containerStatuses": [{
            "name": "ray", "image": "", "imageID": "", "ready": false, "restartCount": 0,
            "state": {"terminated": {"exitCode": 1}}
        }]}
    }))
    .unwrap_or_else(|e| panic!("{e}"));
    p.spec = patch.spec.clone();
    p.status = patch.status.clone();
    assert!(unhealthy(&CachedPod::of(&p)).is_some());
    let mut always = p.clone();
    if let Some(s) = always.spec.as_mut() {
        s.restart_policy = Some("Always".into());
    }
    assert!(
        unhealthy(&CachedPod::of(&always)).is_none(),
        "the kubelet restarts it"
    );
    let s = spec(json!([group("g", 1, 0, 5)]), false, false);
    assert_eq!(deleted(&run(&s, &[head(), p])), ["g-0"]);
}

#[test]
fn a_missing_head_is_created_and_a_failed_head_deleted() {
    let s = spec(json!([]), false, false);
    assert_eq!(run(&s, &[]), [PodChange::CreateHead]);
    let failed = pod("c-head-x", "head", "headgroup", 0, "Failed");
    assert_eq!(deleted(&run(&s, &[failed])), ["c-head-x"]);
}

#[test]
fn an_extra_head_is_deleted_keeping_the_oldest() {
    let s = spec(json!([]), false, false);
    let mut old = pod("c-head-b", "head", "headgroup", 0, "Running");
    old.metadata.creation_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
        k8s_openapi::jiff::Timestamp::UNIX_EPOCH,
    ));
    let mut new = pod("c-head-a", "head", "headgroup", 0, "Running");
    new.metadata.creation_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
        k8s_openapi::jiff::Timestamp::now(),
    ));
    assert_eq!(deleted(&run(&s, &[new, old])), ["c-head-a"]);
}

#[test]
fn terminating_pods_do_not_count() {
    let s = spec(json!([group("g", 1, 0, 5)]), false, false);
    let mut gone = pod("g-0", "worker", "g", 0, "Running");
    gone.metadata.deletion_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
        k8s_openapi::jiff::Timestamp::now(),
    ));
    let actions = run(&s, &[head(), gone]);
    assert_eq!(creates(&actions), [0]);
    assert!(deleted(&actions).is_empty());
}

#[test]
fn suspend_deletes_every_pod_and_creates_nothing() {
    let s = spec(json!([group("g", 2, 0, 5)]), false, true);
    let mut pods = vec![head()];
    pods.extend(workers("g", 2));
    let actions = run(&s, &pods);
    assert_eq!(deleted(&actions), ["c-head-x", "g-0", "g-1"]);
    assert!(actions.iter().all(|a| matches!(
        a,
        PodChange::Delete {
            reason: DeleteReason::Suspended,
            ..
        }
    )));
    assert_eq!(run(&s, &[]), []);
}

#[test]
fn a_suspended_group_loses_all_its_pods_and_the_rest_of_the_cluster_runs_on() {
    let mut suspended = group("s", 2, 1, 5);
    suspended["suspend"] = json!(true);
    let mut multi_host = group("m", 1, 1, 5);
    multi_host["suspend"] = json!(true);
    multi_host["numOfHosts"] = json!(2);
    let s = spec(
        json!([suspended, group("g", 2, 0, 5), multi_host]),
        false,
        false,
    );
    let mut pods = vec![head()];
    pods.extend(workers("s", 2));
    // Even an unhealthy pod goes with its group, without waiting for a pass of its own.
    pods.push(pod("s-failed", "worker", "s", 2, "Failed"));
    pods.extend(workers("g", 1));
    pods.extend(workers("m", 2));
    let actions = run(&s, &pods);
    assert_eq!(deleted(&actions), ["s-0", "s-1", "s-failed", "m-0", "m-1"]);
    assert!(actions.iter().all(|a| match a {
        PodChange::Delete { reason, .. } => *reason == DeleteReason::GroupSuspended,
        PodChange::CreateWorker { group_index, .. } => *group_index == 1,
        PodChange::CreateHead | PodChange::Restamp { .. } => false,
    }));
    assert_eq!(creates(&actions), [1], "the other group is scaled as usual");
    // Suspended, with no pods left: nothing to do, despite minReplicas.
    let mut rest = vec![head()];
    rest.extend(workers("g", 2));
    assert_eq!(run(&s, &rest), []);
}

#[test]
fn unsettled_groups_and_heads_are_left_alone() {
    let s = spec(
        json!([group("a", 2, 0, 5), group("b", 1, 0, 5)]),
        false,
        false,
    );
    let unsettled: BTreeSet<String> = ["a".to_string()].into();
    let actions = run_with(&s, &[], false, &unsettled);
    assert!(!actions.contains(&PodChange::CreateHead));
    assert_eq!(
        actions,
        [PodChange::CreateWorker {
            group_index: 1,
            replica: WorkerReplica {
                index: 0,
                multi_host: None
            }
        }]
    );
}

fn multi_host_group(replicas: i32) -> serde_json::Value {
    let mut g = group("tpu", replicas, 0, 4);
    g["numOfHosts"] = json!(2);
    g
}

fn host(name: &str, replica: &str, index: i32) -> Pod {
    let mut p = pod(name, "worker", "tpu", index, "Running");
    if let Some(l) = p.metadata.labels.as_mut() {
        l.insert("ray.io/worker-group-replica-name".into(), replica.into());
    }
    p
}

#[test]
fn multi_host_groups_are_created_as_whole_replicas() {
    let s = spec(json!([multi_host_group(2)]), false, false);
    let actions = run(&s, &[head()]);
    let hosts: Vec<(i32, String, i32)> = actions
        .iter()
        .filter_map(|a| match a {
            PodChange::CreateWorker { replica, .. } => replica
                .multi_host
                .as_ref()
                .map(|m| (replica.index, m.name.clone(), m.host_index)),
            _ => None,
        })
        .collect();
    assert_eq!(
        hosts,
        [
            (0, "tpu-r1".to_string(), 0),
            (0, "tpu-r1".to_string(), 1),
            (1, "tpu-r2".to_string(), 0),
            (1, "tpu-r2".to_string(), 1)
        ]
    );
}

#[test]
fn multi_host_replicas_are_deleted_whole() {
    let mut g = multi_host_group(2);
    g["scaleStrategy"] = json!({"workersToDelete": ["a0"]});
    let s = spec(json!([g]), true, false);
    let pods = vec![
        head(),
        host("a0", "tpu-a", 0),
        host("a1", "tpu-a", 0),
        host("b0", "tpu-b", 1),
        host("b1", "tpu-b", 1),
        host("c0", "tpu-c", 2), // incomplete: its second host is gone
    ];
    let actions = run(&s, &pods);
    let mut gone = deleted(&actions);
    gone.sort();
    assert_eq!(gone, ["a0", "a1", "c0"]);
    assert_eq!(
        creates(&actions),
        [0, 0],
        "one replica (two hosts) refills replica index 0"
    );
}

#[test]
fn multi_host_scale_down_without_autoscaling_removes_whole_replicas() {
    let s = spec(json!([multi_host_group(1)]), false, false);
    let pods = vec![
        head(),
        host("a0", "tpu-a", 0),
        host("a1", "tpu-a", 0),
        host("b0", "tpu-b", 1),
        host("b1", "tpu-b", 1),
    ];
    let mut gone = deleted(&run(&s, &pods));
    gone.sort();
    assert_eq!(gone, ["b0", "b1"]);
}

fn big_multi_host_group(name: &str, replicas: i32, hosts: i32) -> serde_json::Value {
    let mut g = group(name, replicas, 0, i32::MAX);
    g["numOfHosts"] = json!(hosts);
    g
}

#[test]
fn a_huge_replica_count_creates_a_bounded_batch_per_reconcile() {
    // `replicas: 2147483647` must not make one decision allocate billions of actions.
    let s = spec(json!([group("g", i32::MAX, 0, i32::MAX)]), false, false);
    let actions = run(&s, &[]);
    assert_eq!(actions[0], PodChange::CreateHead);
    assert_eq!(creates(&actions).len(), MAX_CREATES_PER_RECONCILE - 1);
    // The next pass, with those pods in the cache, continues with the next free indices.
    let mut pods = vec![head()];
    pods.extend(workers("g", 499));
    let next = creates(&run(&s, &pods));
    assert_eq!(next.len(), MAX_CREATES_PER_RECONCILE);
    assert_eq!(next.first(), Some(&499));
}

#[test]
fn the_creation_budget_is_shared_by_all_groups() {
    let s = spec(
        json!([group("a", 400, 0, 1000), group("b", 400, 0, 1000)]),
        false,
        false,
    );
    let mut pods = vec![head()];
    let actions = run(&s, &pods);
    let per_group = |actions: &[PodChange], index: usize| {
        actions
            .iter()
            .filter(
                |a| matches!(a, PodChange::CreateWorker { group_index, .. } if *group_index == index),
            )
            .count()
    };
    assert_eq!(per_group(&actions, 0), 400);
    assert_eq!(per_group(&actions, 1), 100);
    // Once group a is complete, group b gets the rest.
    pods.extend(workers("a", 400));
    pods.extend(workers("b", 100));
    let actions = run(&s, &pods);
    assert_eq!(per_group(&actions, 0), 0);
    assert_eq!(per_group(&actions, 1), 300);
}

#[test]
fn multi_host_replicas_are_created_whole_within_the_budget() {
    let s = spec(
        json!([big_multi_host_group("tpu", i32::MAX, 64)]),
        false,
        false,
    );
    let actions = run(&s, &[head()]);
    let created = creates(&actions);
    // 500 / 64 = 7 whole replicas of 64 hosts.
    assert_eq!(created.len(), 7 * 64);
    // A replica larger than the whole budget is still created, one per reconcile.
    let s = spec(json!([big_multi_host_group("big", 3, 600)]), false, false);
    assert_eq!(creates(&run(&s, &[head()])).len(), 600);
}

#[test]
fn a_lost_head_is_not_replaced_when_provisioned_head_restart_is_disabled() {
    let s = spec(json!([]), false, false);
    let refs: Vec<&CachedPod> = Vec::new();
    let obs = Observation {
        spec: &s,
        pods: &refs,
        head_settled: true,
        head_restart_disabled: true,
        recreate: None,
        unsettled_groups: &BTreeSet::new(),
    };
    assert!(pod_changes(&obs, &mut |g| g.to_owned()).is_empty());
}

/// The stamp the operator version "v-now" writes on pods of `spec`.
fn stamp_of(spec: &RayClusterSpec) -> PodStamp {
    PodStamp {
        spec_hash: ray_builders::spec_hash::recreate_hash(spec).unwrap_or_else(|e| panic!("{e}")),
        operator_version: "v-now".into(),
    }
}

/// `pod` with the spec hash and operator version annotations.
fn stamped(mut pod: Pod, stamp: &PodStamp) -> Pod {
    let annotations = pod.metadata.annotations.get_or_insert_default();
    annotations.insert(
        ray_builders::labels::RECREATE_HASH_ANNOTATION.into(),
        stamp.spec_hash.clone(),
    );
    annotations.insert(
        ray_builders::labels::KUBERAY_VERSION_ANNOTATION.into(),
        stamp.operator_version.clone(),
    );
    pod
}

fn run_recreate(
    spec: &RayClusterSpec,
    pods: &[Pod],
    unsettled: &BTreeSet<String>,
) -> Vec<PodChange> {
    let summaries: Vec<CachedPod> = pods.iter().map(CachedPod::of).collect();
    let refs: Vec<&CachedPod> = summaries.iter().collect();
    let stamp = stamp_of(spec);
    let obs = Observation {
        spec,
        pods: &refs,
        head_settled: true,
        head_restart_disabled: false,
        unsettled_groups: unsettled,
        recreate: Some(&stamp),
    };
    pod_changes(&obs, &mut |g| format!("{g}-r"))
}

/// A running cluster of `spec`: the head and two workers of group `g`, all stamped from `spec`.
fn running_pods(spec: &RayClusterSpec) -> Vec<Pod> {
    let stamp = stamp_of(spec);
    let mut pods = vec![stamped(head(), &stamp)];
    pods.extend(workers("g", 2).into_iter().map(|p| stamped(p, &stamp)));
    pods
}

fn with_image(mut spec: RayClusterSpec, image: &str) -> RayClusterSpec {
    if let Some(pod) = spec.worker_group_specs[0].template.spec.as_mut() {
        pod.containers[0].image = Some(image.into());
    }
    spec
}

#[test]
fn recreate_deletes_every_pod_once_a_pod_template_changes_and_creates_nothing_in_that_pass() {
    let old = spec(json!([group("g", 2, 0, 5)]), false, false);
    let mut pods = running_pods(&old);
    // A worker of a group removed from the spec goes too, or it would block the recreation forever.
    pods.push(stamped(
        pod("gone-0", "worker", "gone", 0, "Running"),
        &stamp_of(&old),
    ));
    let new = with_image(old.clone(), "rayproject/ray:2.10.0");
    let actions = run_recreate(&new, &pods, &BTreeSet::new());
    assert_eq!(deleted(&actions), ["c-head-x", "g-0", "g-1", "gone-0"]);
    assert_eq!(actions.len(), 4, "nothing is created in the same pass");
    assert!(actions.iter().all(|a| matches!(
        a,
        PodChange::Delete {
            reason: DeleteReason::Recreate,
            ..
        }
    )));
    // Once they are gone (or terminating), the cluster is created anew from the current spec.
    let actions = run_recreate(&new, &[], &BTreeSet::new());
    assert_eq!(actions[0], PodChange::CreateHead);
    assert_eq!(creates(&actions), [0, 1]);
}

#[test]
fn recreate_ignores_replica_counts_and_workers_to_delete() {
    let old = spec(json!([group("g", 2, 0, 5)]), false, false);
    let pods = running_pods(&old);
    // Scaled up, with new bounds: a new worker, nothing deleted.
    let mut up = old.clone();
    up.worker_group_specs[0].replicas = Some(3);
    up.worker_group_specs[0].min_replicas = Some(1);
    up.worker_group_specs[0].max_replicas = Some(9);
    assert_eq!(run_recreate(&up, &pods, &BTreeSet::new()), run(&up, &pods));
    assert_eq!(creates(&run_recreate(&up, &pods, &BTreeSet::new())), [2]);
    // Scaled down naming the victim, as the autoscaler does: exactly that pod goes.
    let mut down = old.clone();
    down.worker_group_specs[0].replicas = Some(1);
    down.worker_group_specs[0].scale_strategy = Some(ray_api_v1::ScaleStrategy {
        workers_to_delete: vec!["g-1".into()],
    });
    assert_eq!(
        deleted(&run_recreate(&down, &pods, &BTreeSet::new())),
        ["g-1"]
    );
    // Tolerations and scheduling gates (added by Kueue) do not count either.
    let mut queued = old.clone();
    if let Some(pod) = queued.worker_group_specs[0].template.spec.as_mut() {
        pod.tolerations = Some(vec![Default::default()]);
    }
    assert_eq!(run_recreate(&queued, &pods, &BTreeSet::new()), []);
}

#[test]
fn without_recreate_pods_of_an_older_spec_are_left_alone() {
    let old = spec(json!([group("g", 2, 0, 5)]), false, false);
    let pods = running_pods(&old);
    let new = with_image(old, "rayproject/ray:2.10.0");
    assert_eq!(run(&new, &pods), []);
}

#[test]
fn pods_of_another_operator_version_are_restamped_not_recreated() {
    let old = spec(json!([group("g", 2, 0, 5)]), false, false);
    let new = with_image(old.clone(), "rayproject/ray:2.10.0");
    let by_kuberay = PodStamp {
        spec_hash: "KUBERAYHASH".into(),
        operator_version: "v1.6.2".into(),
    };
    let mut pods = vec![stamped(head(), &by_kuberay)];
    pods.extend(workers("g", 2).into_iter().map(|p| stamped(p, &by_kuberay)));
    assert_eq!(
        run_recreate(&new, &pods, &BTreeSet::new()),
        [PodChange::Restamp {
            name: "c-head-x".into()
        }]
    );
    // Pods from before the annotations existed: the head is stamped, nothing is deleted.
    let mut bare = vec![head()];
    bare.extend(workers("g", 2));
    assert_eq!(
        run_recreate(&new, &bare, &BTreeSet::new()),
        [PodChange::Restamp {
            name: "c-head-x".into()
        }]
    );
    // Once stamped by this version, a later change of the template replaces everything.
    let mut pods = vec![stamped(head(), &stamp_of(&old))];
    pods.extend(workers("g", 2).into_iter().map(|p| stamped(p, &by_kuberay)));
    assert_eq!(
        deleted(&run_recreate(&new, &pods, &BTreeSet::new())),
        ["c-head-x", "g-0", "g-1"]
    );
}

#[test]
fn recreate_waits_for_unsettled_groups_and_creates_nothing_while_old_pods_remain() {
    let old = spec(json!([group("g", 2, 0, 5)]), false, false);
    let pods = running_pods(&old);
    let new = with_image(old, "rayproject/ray:2.10.0");
    let unsettled = BTreeSet::from(["g".to_string()]);
    assert_eq!(
        deleted(&run_recreate(&new, &pods, &unsettled)),
        ["c-head-x"]
    );
    // The head is gone, the group's old workers are still there: they go next, and no head is created yet.
    let actions = run_recreate(&new, &pods[1..], &BTreeSet::new());
    assert_eq!(deleted(&actions), ["g-0", "g-1"]);
    assert!(!actions.contains(&PodChange::CreateHead));
}
