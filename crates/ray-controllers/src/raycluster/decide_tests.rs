use std::collections::BTreeSet;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::jiff::Timestamp;
use ray_api_v1::RayCluster;
use ray_builders::RenderOptions;
use serde_json::json;

use super::*;
use crate::pod_index::CachedPod;
use crate::raycluster::desired;
use crate::raycluster::gcs_ft::CleanupJob;
use crate::raycluster::observe::Existing;

fn cluster(extra_spec: serde_json::Value) -> RayCluster {
    let mut value = json!({
        "apiVersion": "ray.io/v1", "kind": "RayCluster",
        "metadata": { "name": "c", "namespace": "ns", "uid": "u-1" },
        "spec": {
            "headGroupSpec": {
                "rayStartParams": {},
                "template": {"spec": {"containers": [{"name": "ray-head", "image": "rayproject/ray:2.9.0"}]}}
            },
            "workerGroupSpecs": [{
                "groupName": "w", "replicas": 2, "minReplicas": 0, "maxReplicas": 5, "rayStartParams": {},
                "template": {"spec": {"containers": [{"name": "ray-worker", "image": "rayproject/ray:2.9.0"}]}}
            }]
        }
    });
    if let (Some(spec), Some(extra)) = (value["spec"].as_object_mut(), extra_spec.as_object()) {
        for (k, v) in extra {
            spec.insert(k.clone(), v.clone());
        }
    }
    serde_json::from_value(value).unwrap_or_else(|e| panic!("{e}"))
}

fn pod(name: &str, node_type: &str, index: i32) -> Arc<CachedPod> {
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {
            "name": name,
            "labels": {
                "ray.io/cluster": "c", "ray.io/node-type": node_type,
                "ray.io/group": if node_type == "head" { "headgroup" } else { "w" },
                "ray.io/worker-group-replica-index": index.to_string(),
            }
        },
        "spec": {"containers": [{"name": "ray"}]},
        "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}
    }))
    .unwrap_or_else(|e| panic!("{e}"));
    Arc::new(CachedPod::of(&pod))
}

fn steady_pods() -> Vec<Arc<CachedPod>> {
    vec![
        pod("c-head-x", "head", 0),
        pod("c-w-0", "worker", 0),
        pod("c-w-1", "worker", 1),
    ]
}

fn facts<'c>(cluster: &'c RayCluster, pods: Vec<Arc<CachedPod>>, phase: Phase) -> Facts<'c> {
    Facts {
        cluster,
        now: Timestamp::UNIX_EPOCH,
        pods,
        phase,
    }
}

fn running(cluster: &RayCluster, existing: Existing) -> Phase {
    let desired =
        desired::build(cluster, &RenderOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    Phase::Running(Box::new(Running {
        desired,
        existing,
        head_settled: true,
        unsettled_groups: BTreeSet::new(),
    }))
}

fn everything_exists() -> Existing {
    Existing {
        auth_secret: true,
        service_account: true,
        role: true,
        role_binding: true,
        ingress: true,
        head_service: Some(Service::default()),
        headless_service: true,
        serve_service: true,
    }
}

fn run<'f>(facts: &'f Facts<'_>) -> Decision<'f> {
    let mut n = 0;
    decide(facts, &mut |group| {
        n += 1;
        format!("{group}-{n}")
    })
}

fn created_kinds(decision: &Decision<'_>) -> Vec<&'static str> {
    decision
        .actions
        .iter()
        .filter_map(|a| match a {
            Action::Create(Child::AuthSecret(_)) => Some("Secret"),
            Action::Create(Child::ServiceAccount(_)) => Some("ServiceAccount"),
            Action::Create(Child::Role(_)) => Some("Role"),
            Action::Create(Child::RoleBinding(_)) => Some("RoleBinding"),
            Action::Create(Child::Ingress(_)) => Some("Ingress"),
            Action::Create(Child::HeadService(_)) => Some("HeadService"),
            Action::Create(Child::Service(_)) => Some("Service"),
            _ => None,
        })
        .collect()
}

#[test]
fn a_new_cluster_gets_its_children_in_order_then_its_pods_from_the_rendered_objects() {
    let c = cluster(json!({ "enableInTreeAutoscaling": true }));
    let mut c = c;
    c.spec.head_group_spec.enable_ingress = true;
    let f = facts(&c, Vec::new(), running(&c, Existing::default()));
    let decision = run(&f);
    assert_eq!(
        created_kinds(&decision),
        [
            "ServiceAccount",
            "Role",
            "RoleBinding",
            "Ingress",
            "HeadService"
        ]
    );
    let Some(Action::ChangePods { changes, desired }) = decision.actions.last() else {
        panic!("{:?}", decision.actions);
    };
    assert_eq!(changes.len(), 3, "the head and two workers");
    assert_eq!(changes[0], PodChange::CreateHead);
    // The pods are created from the objects the build rendered, not rendered again.
    let Phase::Running(r) = &f.phase else {
        panic!("running");
    };
    assert!(std::ptr::eq(*desired, &r.desired));
    assert_eq!(decision.status, Some(StatusReport { failure: None }));
    assert_eq!(decision.requeue, Requeue::requeue(EXPECTATION_TIMEOUT));
    assert!(decision.events.is_empty());
}

#[test]
fn children_that_exist_are_left_alone() {
    let mut c = cluster(json!({ "enableInTreeAutoscaling": true }));
    c.spec.head_group_spec.enable_ingress = true;
    let f = facts(&c, steady_pods(), running(&c, everything_exists()));
    let decision = run(&f);
    assert!(decision.actions.is_empty(), "{:?}", decision.actions);
    assert_eq!(decision.requeue, Requeue::await_change());
    assert_eq!(decision.status, Some(StatusReport { failure: None }));
}

#[test]
fn a_cluster_with_token_authentication_gets_its_token_secret_before_anything_else() {
    let c = cluster(json!({
        "rayVersion": "2.60.0",
        "enableInTreeAutoscaling": true,
        "authOptions": {"mode": "token"}
    }));
    let f = facts(&c, Vec::new(), running(&c, Existing::default()));
    let decision = run(&f);
    assert_eq!(
        created_kinds(&decision),
        [
            "Secret",
            "ServiceAccount",
            "Role",
            "RoleBinding",
            "HeadService"
        ]
    );
    let Some(Action::Create(Child::AuthSecret(secret))) = decision.actions.first() else {
        panic!("{:?}", decision.actions);
    };
    // Rendered without a token: the applier generates it at creation.
    assert_eq!(secret.metadata.name.as_deref(), Some("c"));
    assert!(secret.data.is_none() && secret.string_data.is_none());

    // An existing Secret is left alone (the token is never regenerated), and a user's Secret is never created.
    let f = facts(&c, steady_pods(), running(&c, everything_exists()));
    assert!(created_kinds(&run(&f)).is_empty());
    let own = cluster(json!({
        "rayVersion": "2.60.0",
        "authOptions": {"mode": "token", "secretName": "mine"}
    }));
    let f = facts(&own, Vec::new(), running(&own, Existing::default()));
    assert_eq!(created_kinds(&run(&f)), ["HeadService"]);
}

#[test]
fn only_the_missing_child_is_created() {
    let c = cluster(json!({}));
    let existing = Existing {
        head_service: None,
        ..everything_exists()
    };
    let f = facts(&c, steady_pods(), running(&c, existing));
    assert_eq!(created_kinds(&run(&f)), ["HeadService"]);
}

#[test]
fn unsettled_expectations_look_again_after_the_expectation_timeout() {
    let c = cluster(json!({}));
    let mut phase = running(&c, everything_exists());
    if let Phase::Running(r) = &mut phase {
        r.unsettled_groups.insert("w".into());
    }
    let f = facts(&c, steady_pods(), phase);
    let decision = run(&f);
    assert!(decision.actions.is_empty());
    assert_eq!(decision.requeue, Requeue::requeue(EXPECTATION_TIMEOUT));
}

#[test]
fn an_invalid_spec_creates_nothing_and_reports_why() {
    let c = cluster(json!({}));
    let f = facts(
        &c,
        Vec::new(),
        Phase::Invalid(desired::InvalidSpec::Render(
            ray_builders::RenderError::Pod(ray_builders::pod::PodError::MissingContainer {
                field: "spec.headGroupSpec.template.spec.containers".into(),
            }),
        )),
    );
    let decision = run(&f);
    assert!(decision.actions.is_empty());
    let [event] = decision.events.as_slice() else {
        panic!("{:?}", decision.events);
    };
    assert_eq!(event.reason, events::INVALID_SPEC);
    assert_eq!(event.action, events::ACTION_VALIDATE);
    assert_eq!(event.severity, operator_runtime::events::Severity::Warning);
    assert!(
        event
            .note
            .starts_with("Invalid RayCluster spec: spec.headGroupSpec.template.spec.containers"),
        "{}",
        event.note
    );
    let failure = decision
        .status
        .and_then(|s| s.failure)
        .unwrap_or_else(|| panic!("a failure"));
    assert_eq!(failure.reason, events::INVALID_SPEC);
    assert_eq!(failure.message, event.note);
    assert!(!failure.replica);
    assert_eq!(decision.requeue, Requeue::await_change());
}

#[test]
fn a_fault_tolerant_cluster_gets_the_finalizer_first() {
    let c = cluster(json!({}));
    let f = facts(&c, Vec::new(), Phase::NeedsFinalizer);
    let decision = run(&f);
    assert_eq!(decision.actions, [Action::AddFinalizer]);
    assert_eq!(decision.status, None);
    assert_eq!(decision.requeue, Requeue::await_change());
}

#[test]
fn a_deleted_cluster_forgets_its_expectations_and_leaves_the_rest_to_the_garbage_collector() {
    let c = cluster(json!({}));
    let f = facts(&c, steady_pods(), Phase::Deleted);
    let decision = run(&f);
    assert_eq!(decision.actions, [Action::ForgetExpectations]);
    assert_eq!(decision.status, None);
    assert_eq!(decision.requeue, Requeue::await_change());
}

#[test]
fn a_deleted_cluster_with_the_finalizer_is_cleaned_up() {
    let mut c = cluster(json!({}));
    c.metadata.deletion_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
        Timestamp::UNIX_EPOCH,
    ));
    let f = facts(&c, steady_pods(), Phase::CleaningUp(CleanupJob::Unread));
    let decision = run(&f);
    assert_eq!(decision.actions[0], Action::ForgetExpectations);
    assert!(matches!(
        &decision.actions[1],
        Action::DeletePodsForCleanup { pods } if pods.len() == 3
    ));
    assert_eq!(decision.status, None);
}

/// `steady_pods` as the operator created them from `cluster`'s spec: with its spec hash and version annotations.
fn pods_created_from(cluster: &RayCluster) -> Vec<Arc<CachedPod>> {
    let desired =
        desired::build(cluster, &RenderOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    steady_pods()
        .into_iter()
        .map(|pod| {
            let mut pod = (*pod).clone();
            pod.spec_hash = Some(desired.stamp.spec_hash.clone());
            pod.operator_version = Some(desired.stamp.operator_version.clone());
            Arc::new(pod)
        })
        .collect()
}

fn pod_changes_of<'d>(decision: &'d Decision<'_>) -> &'d [PodChange] {
    match decision.actions.last() {
        Some(Action::ChangePods { changes, .. }) => changes,
        _ => &[],
    }
}

/// With `upgradeStrategy.type: Recreate`, a changed worker template deletes the head and every worker (and creates
/// nothing in that pass); a replicas change only scales; with `None` the old pods stay.
#[test]
fn recreate_replaces_every_pod_for_a_template_change_only() {
    let recreate = json!({"upgradeStrategy": {"type": "Recreate"}});
    let before = cluster(recreate.clone());
    let pods = pods_created_from(&before);

    let mut changed = before.clone();
    if let Some(pod) = changed.spec.worker_group_specs[0].template.spec.as_mut() {
        pod.containers[0].image = Some("rayproject/ray:2.10.0".into());
    }
    let f = facts(
        &changed,
        pods.clone(),
        running(&changed, everything_exists()),
    );
    let decision = run(&f);
    let changes = pod_changes_of(&decision);
    assert_eq!(changes.len(), 3, "{changes:?}");
    assert!(changes.iter().all(|c| matches!(
        c,
        PodChange::Delete {
            reason: scaling::DeleteReason::Recreate,
            ..
        }
    )));

    let mut scaled = before.clone();
    scaled.spec.worker_group_specs[0].replicas = Some(3);
    let f = facts(&scaled, pods.clone(), running(&scaled, everything_exists()));
    let decision = run(&f);
    assert!(
        matches!(pod_changes_of(&decision), [PodChange::CreateWorker { .. }]),
        "{:?}",
        decision.actions
    );

    let mut none = changed.clone();
    none.spec.upgrade_strategy = serde_json::from_value(json!({"type": "None"})).ok();
    let f = facts(&none, pods, running(&none, everything_exists()));
    assert_eq!(pod_changes_of(&run(&f)), []);
}
