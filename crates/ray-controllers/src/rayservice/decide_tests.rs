use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::jiff::Timestamp;
use ray_api_v1::raycluster::RayCluster;
use ray_api_v1::rayservice::{
    AppStatus, ApplicationStatus, RayService, RayServiceStatus, RayServiceStatuses, ServiceStatus,
};
use ray_builders::spec_hash::{hash_json, rayservice_cluster_hash};
use serde_json::json;

use super::*;

const CONFIG: &str =
    "applications:\n  - name: hello\n    import_path: ray_operator_demo.hello:app\n";

fn t(seconds: i64) -> Timestamp {
    Timestamp::from_second(1_800_000_000 + seconds).expect("test fixture")
}

fn cluster_config(image: &str, groups: usize) -> serde_json::Value {
    let groups: Vec<serde_json::Value> = (0..groups)
        .map(|i| {
            json!({"groupName": format!("g{i}"), "replicas": 1, "rayStartParams": {},
            "template": {"spec": {"containers": [{"name": "w", "image": image}]}}})
        })
        .collect();
    json!({"headGroupSpec": {"rayStartParams": {}, "template": {"spec": {"containers": [
        {"name": "ray-head", "image": image, "ports": [{"name": "serve", "containerPort": 8000}]}]}}},
        "workerGroupSpecs": groups})
}

fn service(config: &str, image: &str, status: Option<RayServiceStatuses>) -> RayService {
    let mut svc: RayService = serde_json::from_value(json!({
        "apiVersion": "ray.io/v1", "kind": "RayService",
        "metadata": {"name": "svc", "namespace": "default", "generation": 3, "uid": "u1"},
        "spec": {"serveConfigV2": config, "rayClusterConfig": cluster_config(image, 1)},
    }))
    .expect("test fixture");
    svc.status = status;
    svc
}

fn side(name: &str, apps: &[(&str, ApplicationStatus)]) -> RayServiceStatus {
    RayServiceStatus {
        ray_cluster_name: Some(name.into()),
        application_statuses: apps
            .iter()
            .map(|(n, s)| {
                (
                    (*n).to_owned(),
                    AppStatus {
                        status: Some(*s),
                        ..AppStatus::default()
                    },
                )
            })
            .collect(),
        ..RayServiceStatus::default()
    }
}

fn statuses(active: Option<&str>, pending: Option<&str>) -> RayServiceStatuses {
    RayServiceStatuses {
        active_service_status: active.map(|a| side(a, &[("hello", ApplicationStatus::Running)])),
        pending_service_status: pending.map(|p| side(p, &[])),
        ..RayServiceStatuses::default()
    }
}

/// A cluster made from `image`, with the config hash recorded when `config` is given, head ready or not.
fn cluster(
    name: &str,
    image: &str,
    groups: usize,
    config: Option<&str>,
    head_ready: bool,
) -> RayCluster {
    let spec: ray_api_v1::RayClusterSpec =
        serde_json::from_value(cluster_config(image, groups)).expect("test fixture");
    let mut annotations = BTreeMap::from([
        (
            "ray.io/hash-without-replicas-and-workers-to-delete".to_owned(),
            rayservice_cluster_hash(&spec).expect("hash"),
        ),
        ("ray.io/num-worker-groups".to_owned(), groups.to_string()),
    ]);
    if let Some(config) = config {
        let json = serde_json::to_value(
            serde_saphyr::from_str::<serde_json::Value>(config).expect("yaml"),
        )
        .expect("json");
        annotations.insert(SERVE_CONFIG_HASH_ANNOTATION.to_owned(), hash_json(&json));
    }
    serde_json::from_value(json!({
        "apiVersion": "ray.io/v1", "kind": "RayCluster",
        "metadata": {"name": name, "namespace": "default", "annotations": annotations,
            "labels": {"ray.io/originated-from-cr-name": "svc", "ray.io/originated-from-crd": "RayService"}},
        "spec": spec,
        "status": {"conditions": [{"type": "HeadPodReady", "status": if head_ready { "True" } else { "False" },
            "reason": "r", "message": "", "lastTransitionTime": "2027-01-15T08:00:00Z"}]},
    }))
    .expect("test fixture")
}

fn apps(list: &[(&str, ApplicationStatus)]) -> ServeInfo {
    ServeInfo::Found {
        applications: list
            .iter()
            .map(|(n, s)| {
                (
                    (*n).to_owned(),
                    AppStatus {
                        status: Some(*s),
                        message: (*s == ApplicationStatus::DeployFailed).then(|| {
                            "Traceback ...\nModuleNotFoundError: No module named 'x'".to_owned()
                        }),
                        ..AppStatus::default()
                    },
                )
            })
            .collect(),
        head_proxy_healthy: true,
    }
}

fn observed<'a>(cluster: &'a RayCluster, serve: ServeInfo) -> ClusterObservation<'a> {
    ClusterObservation {
        cluster,
        head_pod: Some((
            format!(
                "{}-head-x",
                cluster.metadata.name.as_deref().unwrap_or_default()
            ),
            Some("true".into()),
        )),
        serve,
    }
}

struct Case<'a> {
    service: &'a RayService,
    active: Option<ClusterObservation<'a>>,
    pending: Option<ClusterObservation<'a>>,
    owned: &'a [RayCluster],
    target: Option<&'a str>,
    endpoints: i32,
    services: Vec<OwnedService>,
    now: Timestamp,
}

impl<'a> Case<'a> {
    fn new(service: &'a RayService, owned: &'a [RayCluster]) -> Self {
        Case {
            service,
            active: None,
            pending: None,
            owned,
            target: None,
            endpoints: 0,
            services: Vec::new(),
            now: t(0),
        }
    }

    fn observation(&self) -> Observation<'a> {
        Observation {
            service: self.service,
            active: self.active.clone(),
            pending: self.pending.clone(),
            owned_clusters: self.owned,
            serve_service_target: self.target.map(str::to_owned),
            head_service_target: self.target.map(str::to_owned),
            num_serve_endpoints: self.endpoints,
            owned_services: self.services.clone(),
            deletion_delay: Duration::from_secs(60),
            now: self.now,
            suffix: "abcde",
        }
    }

    fn decide(&self) -> Decision {
        decide(&self.observation())
    }
}

fn pushes(d: &Decision) -> Vec<&str> {
    d.actions
        .iter()
        .filter_map(|a| match a {
            Action::ApplyServeConfig { cluster, .. } => Some(cluster.as_str()),
            _ => None,
        })
        .collect()
}

fn pending_name(d: &Decision) -> Option<&str> {
    d.status
        .pending_service_status
        .as_ref()?
        .ray_cluster_name
        .as_deref()
}

fn active_name(d: &Decision) -> Option<&str> {
    d.status
        .active_service_status
        .as_ref()?
        .ray_cluster_name
        .as_deref()
}

#[test]
fn a_new_rayservice_records_its_cluster_name_before_creating_it() {
    let svc = service(CONFIG, "ray:1", None);
    let d = Case::new(&svc, &[]).decide();
    assert_eq!(pending_name(&d), Some("svc-abcde"));
    assert!(d.actions.is_empty(), "{:?}", d.actions);
    assert_eq!(d.status.observed_generation, Some(3));

    let svc = service(CONFIG, "ray:1", Some(statuses(None, Some("svc-abcde"))));
    let d = Case::new(&svc, &[]).decide();
    assert_eq!(
        d.actions,
        vec![Action::CreateCluster {
            name: "svc-abcde".into()
        }]
    );
    assert_eq!(pending_name(&d), Some("svc-abcde"));
}

#[test]
fn serve_waits_for_the_head_then_gets_the_config_then_takes_the_traffic() {
    let svc = service(CONFIG, "ray:1", Some(statuses(None, Some("svc-a"))));
    // Head not ready: nothing is asked of Serve, no traffic.
    let not_ready = [cluster("svc-a", "ray:1", 1, None, false)];
    let mut case = Case::new(&svc, &not_ready);
    case.pending = Some(observed(&not_ready[0], ServeInfo::NotChecked));
    let d = case.decide();
    assert!(d.actions.is_empty(), "{:?}", d.actions);
    assert_eq!(
        d.status.service_status,
        Some(ServiceStatus::WaitForServeDeploymentReady)
    );
    assert_eq!(d.requeue_after, Some(Duration::from_secs(2)));

    // Head ready, config never applied: push it; not ready in this pass even if Serve says RUNNING.
    let ready = [cluster("svc-a", "ray:1", 1, None, true)];
    let mut case = Case::new(&svc, &ready);
    case.pending = Some(observed(
        &ready[0],
        apps(&[("hello", ApplicationStatus::Running)]),
    ));
    let d = case.decide();
    assert_eq!(pushes(&d), vec!["svc-a"]);
    assert!(
        !d.actions
            .iter()
            .any(|a| matches!(a, Action::PointServices { .. }))
    );

    // Config recorded, still deploying: wait.
    let applied = [cluster("svc-a", "ray:1", 1, Some(CONFIG), true)];
    let mut case = Case::new(&svc, &applied);
    case.pending = Some(observed(
        &applied[0],
        apps(&[("hello", ApplicationStatus::Deploying)]),
    ));
    let d = case.decide();
    assert!(d.actions.is_empty(), "{:?}", d.actions);
    assert_eq!(
        d.status
            .pending_service_status
            .as_ref()
            .map(|p| p.application_statuses["hello"].status),
        Some(Some(ApplicationStatus::Deploying))
    );

    // Every application RUNNING: the Services point at it and it becomes the active cluster.
    case.pending = Some(observed(
        &applied[0],
        apps(&[("hello", ApplicationStatus::Running)]),
    ));
    let d = case.decide();
    assert_eq!(
        d.actions,
        vec![Action::PointServices {
            cluster: "svc-a".into()
        }]
    );
    assert_eq!(active_name(&d), Some("svc-a"));
    assert_eq!(pending_name(&d), None);
    assert!(
        d.notes
            .iter()
            .any(|n| n.reason == reasons::PROMOTED_CLUSTER)
    );
}

#[test]
fn zero_applications_mean_no_traffic_and_a_fresh_push() {
    let svc = service(CONFIG, "ray:1", Some(statuses(None, Some("svc-a"))));
    let applied = [cluster("svc-a", "ray:1", 1, Some(CONFIG), true)];
    let mut case = Case::new(&svc, &applied);
    case.pending = Some(observed(&applied[0], apps(&[])));
    let d = case.decide();
    assert_eq!(pushes(&d), vec!["svc-a"]);
    assert!(
        !d.actions
            .iter()
            .any(|a| matches!(a, Action::PointServices { .. }))
    );
}

#[test]
fn a_serve_config_change_is_applied_in_place_and_the_traffic_stays() {
    let changed = CONFIG.replace("hello:app", "hello:build");
    let svc = service(&changed, "ray:1", Some(statuses(Some("svc-a"), None)));
    let owned = [cluster("svc-a", "ray:1", 1, Some(CONFIG), true)];
    let mut case = Case::new(&svc, &owned);
    case.active = Some(observed(
        &owned[0],
        apps(&[("hello", ApplicationStatus::Running)]),
    ));
    case.target = Some("svc-a");
    case.endpoints = 2;
    let d = case.decide();
    assert_eq!(pushes(&d), vec!["svc-a"]);
    assert!(
        !d.actions
            .iter()
            .any(|a| matches!(a, Action::PointServices { .. }))
    );
    assert_eq!(pending_name(&d), None);
    assert_eq!(d.status.service_status, Some(ServiceStatus::Running));
}

#[test]
fn a_steady_service_changes_nothing_and_polls_slowly() {
    let svc = service(CONFIG, "ray:1", Some(statuses(Some("svc-a"), None)));
    let owned = [cluster("svc-a", "ray:1", 1, Some(CONFIG), true)];
    let mut case = Case::new(&svc, &owned);
    case.active = Some(observed(
        &owned[0],
        apps(&[("hello", ApplicationStatus::Running)]),
    ));
    case.target = Some("svc-a");
    case.endpoints = 1;
    let d = case.decide();
    assert!(d.actions.is_empty(), "{:?}", d.actions);
    assert!(d.notes.is_empty(), "{:?}", d.notes);
    assert_eq!(d.requeue_after, Some(Duration::from_secs(10)));
    assert_eq!(d.status.num_serve_endpoints, Some(1));
    let ready = condition(&d, "Ready");
    assert_eq!(
        (ready.0.as_str(), ready.1.as_str()),
        ("True", "NonZeroServeEndpoints")
    );
    let upgrade = condition(&d, "UpgradeInProgress");
    assert_eq!(
        (upgrade.0.as_str(), upgrade.1.as_str()),
        ("False", "NoPendingCluster")
    );
    // A later pass with nothing new writes nothing (transition times are kept).
    let svc = service(CONFIG, "ray:1", Some(d.status.clone()));
    let mut case = Case::new(&svc, &owned);
    case.active = Some(observed(
        &owned[0],
        apps(&[("hello", ApplicationStatus::Running)]),
    ));
    case.target = Some("svc-a");
    case.endpoints = 1;
    case.now = t(100);
    let again = case.decide();
    assert!(
        !changed(Some(&d.status), &again.status),
        "{:?}",
        again.status
    );
}

fn condition(d: &Decision, type_: &str) -> (String, String) {
    d.status
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
        .map(|c| (c.status.clone(), c.reason.clone()))
        .unwrap_or_else(|| panic!("no {type_} condition in {:?}", d.status.conditions))
}

#[test]
fn a_failed_deployment_is_reported_and_the_traffic_stays_on_the_last_good_cluster() {
    let svc = service(CONFIG, "ray:1", Some(statuses(Some("svc-a"), None)));
    let owned = [cluster("svc-a", "ray:1", 1, Some(CONFIG), true)];
    let mut case = Case::new(&svc, &owned);
    case.active = Some(observed(
        &owned[0],
        apps(&[("hello", ApplicationStatus::DeployFailed)]),
    ));
    case.target = Some("svc-a");
    case.endpoints = 1;
    let d = case.decide();
    assert!(d.actions.is_empty(), "{:?}", d.actions);
    let app = &d
        .status
        .active_service_status
        .as_ref()
        .expect("active")
        .application_statuses["hello"];
    assert_eq!(app.status, Some(ApplicationStatus::DeployFailed));
    assert!(
        app.message
            .as_deref()
            .is_some_and(|m| m.contains("No module named"))
    );
    let warning = d
        .notes
        .iter()
        .find(|n| n.reason == reasons::SERVE_APPLICATION_FAILED)
        .expect("a warning");
    assert!(
        warning.warning && warning.message.ends_with("No module named 'x'"),
        "{warning:?}"
    );
    // Reported once, not at every pass.
    let svc = service(CONFIG, "ray:1", Some(d.status.clone()));
    let mut case = Case::new(&svc, &owned);
    case.active = Some(observed(
        &owned[0],
        apps(&[("hello", ApplicationStatus::DeployFailed)]),
    ));
    case.target = Some("svc-a");
    case.endpoints = 1;
    assert!(case.decide().notes.is_empty());
}

#[test]
fn a_cluster_spec_change_prepares_a_pending_cluster_and_gives_it_the_config_only() {
    // Both the image and the Serve config change: the serving cluster keeps its config.
    let changed = CONFIG.replace("hello:app", "hello:build");
    let svc = service(&changed, "ray:2", Some(statuses(Some("svc-a"), None)));
    let owned = [cluster("svc-a", "ray:1", 1, Some(CONFIG), true)];
    let mut case = Case::new(&svc, &owned);
    case.active = Some(observed(
        &owned[0],
        apps(&[("hello", ApplicationStatus::Running)]),
    ));
    case.target = Some("svc-a");
    case.endpoints = 1;
    let d = case.decide();
    assert_eq!(pending_name(&d), Some("svc-abcde"));
    assert!(pushes(&d).is_empty(), "{:?}", d.actions);
    assert!(
        d.notes
            .iter()
            .any(|n| n.reason == reasons::PREPARING_NEW_CLUSTER)
    );
    assert_eq!(d.status.service_status, Some(ServiceStatus::Running));

    // The pending cluster, once its head is ready, gets the new config; the active one does not.
    let svc = service(
        &changed,
        "ray:2",
        Some(statuses(Some("svc-a"), Some("svc-b"))),
    );
    let owned = [
        cluster("svc-a", "ray:1", 1, Some(CONFIG), true),
        cluster("svc-b", "ray:2", 1, None, true),
    ];
    let mut case = Case::new(&svc, &owned);
    case.active = Some(observed(
        &owned[0],
        apps(&[("hello", ApplicationStatus::Running)]),
    ));
    case.pending = Some(observed(&owned[1], apps(&[])));
    case.target = Some("svc-a");
    case.endpoints = 1;
    let d = case.decide();
    assert_eq!(pushes(&d), vec!["svc-b"]);
    assert_eq!(active_name(&d), Some("svc-a"));
    assert_eq!(pending_name(&d), Some("svc-b"));
    assert!(
        !d.actions
            .iter()
            .any(|a| matches!(a, Action::ScheduleClusterDeletion { .. }))
    );
}

#[test]
fn a_pending_cluster_that_never_serves_never_takes_the_traffic() {
    let svc = service(
        CONFIG,
        "ray:2",
        Some(statuses(Some("svc-a"), Some("svc-b"))),
    );
    let owned = [
        cluster("svc-a", "ray:1", 1, Some(CONFIG), true),
        cluster("svc-b", "ray:2", 1, Some(CONFIG), true),
    ];
    let mut case = Case::new(&svc, &owned);
    case.active = Some(observed(
        &owned[0],
        apps(&[("hello", ApplicationStatus::Running)]),
    ));
    case.pending = Some(observed(
        &owned[1],
        apps(&[("hello", ApplicationStatus::DeployFailed)]),
    ));
    case.target = Some("svc-a");
    case.endpoints = 1;
    let d = case.decide();
    assert!(
        !d.actions
            .iter()
            .any(|a| matches!(a, Action::PointServices { .. }))
    );
    assert_eq!(active_name(&d), Some("svc-a"));
    assert_eq!(pending_name(&d), Some("svc-b"));
    assert!(
        d.notes
            .iter()
            .any(|n| n.reason == reasons::SERVE_APPLICATION_FAILED)
    );
}

#[test]
fn a_ready_pending_cluster_takes_the_traffic_and_the_old_one_is_deleted_after_the_delay() {
    let svc = service(
        CONFIG,
        "ray:2",
        Some(statuses(Some("svc-a"), Some("svc-b"))),
    );
    let owned = [
        cluster("svc-a", "ray:1", 1, Some(CONFIG), true),
        cluster("svc-b", "ray:2", 1, Some(CONFIG), true),
    ];
    let mut case = Case::new(&svc, &owned);
    case.active = Some(observed(
        &owned[0],
        apps(&[("hello", ApplicationStatus::Running)]),
    ));
    case.pending = Some(observed(
        &owned[1],
        apps(&[("hello", ApplicationStatus::Running)]),
    ));
    case.target = Some("svc-a");
    case.endpoints = 1;
    let d = case.decide();
    assert_eq!(
        d.actions,
        vec![
            Action::PointServices {
                cluster: "svc-b".into()
            },
            Action::ScheduleClusterDeletion {
                name: "svc-a".into(),
                at: t(60)
            },
        ]
    );
    assert_eq!(active_name(&d), Some("svc-b"));
    assert_eq!(pending_name(&d), None);

    // Later passes: wait for the recorded time (even across a restart), then delete.
    let mut old = cluster("svc-a", "ray:1", 1, Some(CONFIG), true);
    old.metadata
        .annotations
        .get_or_insert_default()
        .insert(DELETE_AFTER_ANNOTATION.into(), t(60).to_string());
    let svc = service(CONFIG, "ray:2", Some(statuses(Some("svc-b"), None)));
    let owned = [old, cluster("svc-b", "ray:2", 1, Some(CONFIG), true)];
    let mut case = Case::new(&svc, &owned);
    case.active = Some(observed(
        &owned[1],
        apps(&[("hello", ApplicationStatus::Running)]),
    ));
    case.target = Some("svc-b");
    case.endpoints = 1;
    case.now = t(30);
    let d = case.decide();
    assert!(d.actions.is_empty(), "{:?}", d.actions);
    assert!(
        d.requeue_after
            .is_some_and(|r| r <= Duration::from_secs(30))
    );
    case.now = t(61);
    let d = case.decide();
    assert_eq!(
        d.actions,
        vec![Action::DeleteCluster {
            name: "svc-a".into()
        }]
    );
}

#[test]
fn appended_worker_groups_update_the_cluster_in_place() {
    let mut svc = service(CONFIG, "ray:1", Some(statuses(Some("svc-a"), None)));
    svc.spec.ray_cluster_config =
        serde_json::from_value(cluster_config("ray:1", 2)).expect("test fixture");
    let owned = [cluster("svc-a", "ray:1", 1, Some(CONFIG), true)];
    let mut case = Case::new(&svc, &owned);
    case.active = Some(observed(
        &owned[0],
        apps(&[("hello", ApplicationStatus::Running)]),
    ));
    case.target = Some("svc-a");
    case.endpoints = 1;
    let d = case.decide();
    assert_eq!(
        d.actions,
        vec![Action::UpdateCluster {
            name: "svc-a".into()
        }]
    );
    assert_eq!(pending_name(&d), None);
}

#[test]
fn going_back_to_the_serving_spec_drops_the_pending_cluster() {
    let svc = service(
        CONFIG,
        "ray:1",
        Some(statuses(Some("svc-a"), Some("svc-b"))),
    );
    let owned = [
        cluster("svc-a", "ray:1", 1, Some(CONFIG), true),
        cluster("svc-b", "ray:2", 1, None, false),
    ];
    let mut case = Case::new(&svc, &owned);
    case.active = Some(observed(
        &owned[0],
        apps(&[("hello", ApplicationStatus::Running)]),
    ));
    case.pending = Some(observed(&owned[1], ServeInfo::NotChecked));
    case.target = Some("svc-a");
    case.endpoints = 1;
    let d = case.decide();
    assert_eq!(pending_name(&d), None);
    assert_eq!(
        d.actions,
        vec![Action::ScheduleClusterDeletion {
            name: "svc-b".into(),
            at: t(60)
        }]
    );
}

#[test]
fn an_invalid_serve_config_changes_nothing_and_says_which_field() {
    let svc = service(
        "applications: [\n  - name: x\n",
        "ray:1",
        Some(statuses(Some("svc-a"), None)),
    );
    let owned = [cluster("svc-a", "ray:1", 1, Some(CONFIG), true)];
    let mut case = Case::new(&svc, &owned);
    case.active = Some(observed(
        &owned[0],
        apps(&[("hello", ApplicationStatus::Running)]),
    ));
    case.target = Some("svc-a");
    let d = case.decide();
    assert!(d.actions.is_empty());
    let mut unchanged = d.status.clone();
    let ready = unchanged.conditions.pop().expect("the Ready condition");
    assert_eq!(unchanged, svc.status.clone().unwrap_or_default());
    assert_eq!(
        (
            ready.type_.as_str(),
            ready.status.as_str(),
            ready.reason.as_str()
        ),
        ("Ready", "False", "ValidationFailed")
    );
    assert!(
        ready.message.contains("spec.serveConfigV2"),
        "{}",
        ready.message
    );
    assert_eq!(d.requeue_after, None);
    let note = &d.notes[0];
    assert!(note.warning && note.reason == reasons::INVALID_SPEC);
    assert!(
        note.message.contains("spec.serveConfigV2"),
        "{}",
        note.message
    );
    assert!(serve_config_json(&svc).is_err());
}

#[test]
fn the_head_serve_label_follows_the_proxy() {
    let svc = service(CONFIG, "ray:1", Some(statuses(Some("svc-a"), None)));
    let owned = [cluster("svc-a", "ray:1", 1, Some(CONFIG), true)];
    let mut case = Case::new(&svc, &owned);
    let mut obs = observed(&owned[0], apps(&[("hello", ApplicationStatus::Running)]));
    obs.head_pod = Some(("svc-a-head-x".into(), Some("false".into())));
    case.active = Some(obs);
    case.target = Some("svc-a");
    let d = case.decide();
    assert_eq!(
        d.actions,
        vec![Action::SetHeadServeLabel {
            cluster: "svc-a".into(),
            pod: "svc-a-head-x".into(),
            serving: true
        }]
    );
    // No endpoints yet: not Running.
    assert_eq!(
        d.status.service_status,
        Some(ServiceStatus::WaitForServeDeploymentReady)
    );
}

#[test]
fn an_unreachable_dashboard_is_reported_and_changes_no_traffic() {
    let svc = service(CONFIG, "ray:1", Some(statuses(None, Some("svc-a"))));
    let owned = [cluster("svc-a", "ray:1", 1, None, true)];
    let mut case = Case::new(&svc, &owned);
    case.pending = Some(observed(
        &owned[0],
        ServeInfo::Unreachable("connection refused".into()),
    ));
    let d = case.decide();
    assert!(d.actions.is_empty());
    assert_eq!(
        d.status.service_status,
        Some(ServiceStatus::FailedToGetServeDeploymentStatus)
    );
    assert!(
        d.notes
            .iter()
            .any(|n| n.reason == reasons::SERVE_STATUS_UNAVAILABLE
                && n.message.contains("connection refused"))
    );
}

/// Nine levels of ten aliases: 10^9 strings if expanded.
fn billion_laughs() -> String {
    let mut text = String::from("a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for level in 1..10 {
        let list = vec![format!("*a{}", level - 1); 10].join(", ");
        text.push_str(&format!("a{level}: &a{level} [{list}]\n"));
    }
    text
}

#[test]
fn a_yaml_bomb_in_the_serve_config_is_refused_not_expanded() {
    let svc = service(&billion_laughs(), "ray:1", None);
    let error = serve_config_json(&svc)
        .expect_err("an alias bomb")
        .to_string();
    assert!(error.starts_with("spec.serveConfigV2:"), "{error}");
    assert!(error.contains("too large or too complex"), "{error}");
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let error = serve_config_json(&service(&deep, "ray:1", None))
        .expect_err("too deep")
        .to_string();
    assert!(error.starts_with("spec.serveConfigV2:"), "{error}");
}

// The phases, one at a time.

/// A decision that starts from the service's status, as `decide` starts.
fn start(service: &RayService) -> Decision {
    Decision::keeping(service.status.as_ref())
}

fn valid_goal(service: &RayService) -> Goal {
    goal(service).expect("a valid spec")
}

#[test]
fn the_goal_is_the_cluster_hash_and_the_serve_config_or_why_the_spec_is_invalid() {
    let svc = service(CONFIG, "ray:1", None);
    let valid = valid_goal(&svc);
    assert_eq!(
        Some(valid.cluster_hash.as_str()),
        rayservice_cluster_hash(&svc.spec.ray_cluster_config)
            .ok()
            .as_deref()
    );
    let (config, hash) = valid.serve_config().expect("a Serve config");
    assert_eq!(config["applications"][0]["name"], "hello");
    assert_eq!(hash, hash_json(config));

    let no_config = service("", "ray:1", None);
    assert!(valid_goal(&no_config).serve_config.is_none());

    let not_a_mapping = service("- a\n- b\n", "ray:1", None);
    assert!(goal(&not_a_mapping).is_err());
    assert!(matches!(
        serve_config_json(&not_a_mapping),
        Err(ServeConfigError::NotAMapping)
    ));
    let mut unnamed = service(CONFIG, "ray:1", None);
    unnamed.metadata.name = Some("Not_A_Name".into());
    assert!(matches!(goal(&unnamed), Err(SpecError::Validation(_))));
}

#[test]
fn the_cluster_phase_creates_the_recorded_cluster_and_compares_the_newest_with_the_goal() {
    // A recorded active cluster that is gone is forgotten, and a new one is needed.
    let svc = service(CONFIG, "ray:1", Some(statuses(Some("svc-a"), None)));
    let case = Case::new(&svc, &[]);
    let obs = case.observation();
    let mut d = start(&svc);
    let found = clusters(&obs, &valid_goal(&svc), &mut d);
    assert!(found.prepare_new && found.active.is_none());
    assert!(d.status.active_service_status.is_none());
    assert!(d.actions.is_empty());

    // The recorded pending cluster does not exist yet: it is created, and nothing new is prepared.
    let svc = service(CONFIG, "ray:1", Some(statuses(None, Some("svc-b"))));
    let case = Case::new(&svc, &[]);
    let obs = case.observation();
    let mut d = start(&svc);
    let found = clusters(&obs, &valid_goal(&svc), &mut d);
    assert!(!found.prepare_new);
    assert_eq!(found.pending_name.as_deref(), Some("svc-b"));
    assert_eq!(
        d.actions,
        vec![Action::CreateCluster {
            name: "svc-b".into()
        }]
    );
    assert_eq!(d.requeue_after, Some(PROGRESS_INTERVAL));

    // The pending cluster runs an older spec than the goal: a newer one is needed.
    let svc = service(
        CONFIG,
        "ray:3",
        Some(statuses(Some("svc-a"), Some("svc-b"))),
    );
    let owned = [
        cluster("svc-a", "ray:1", 1, Some(CONFIG), true),
        cluster("svc-b", "ray:2", 1, None, false),
    ];
    let mut case = Case::new(&svc, &owned);
    case.active = Some(observed(&owned[0], ServeInfo::NotChecked));
    case.pending = Some(observed(&owned[1], ServeInfo::NotChecked));
    let obs = case.observation();
    let mut d = start(&svc);
    let found = clusters(&obs, &valid_goal(&svc), &mut d);
    assert!(found.prepare_new && found.pending.is_some());
    assert!(d.actions.is_empty() && d.notes.is_empty());
}

#[test]
fn serve_pushes_only_where_allowed_and_is_ready_only_with_the_current_config_running() {
    let svc = service(CONFIG, "ray:1", None);
    let goal = valid_goal(&svc);
    let config = goal.serve_config();
    let fresh = cluster("svc-a", "ray:1", 1, None, true);
    let applied = cluster("svc-a", "ray:1", 1, Some(CONFIG), true);
    let running = apps(&[("hello", ApplicationStatus::Running)]);

    let mut d = start(&svc);
    let state = cluster_serve(
        &observed(&fresh, ServeInfo::NotChecked),
        config,
        true,
        false,
        &mut d,
    );
    assert_eq!(
        state,
        ServeState {
            ready: false,
            applications: None
        }
    );
    assert!(d.actions.is_empty());

    // Not allowed to push (another cluster is coming): no push, and not ready with an old config.
    let mut d = start(&svc);
    let state = cluster_serve(
        &observed(&fresh, running.clone()),
        config,
        false,
        false,
        &mut d,
    );
    assert!(!state.ready && d.actions.is_empty());

    let mut d = start(&svc);
    let state = cluster_serve(&observed(&applied, running), config, false, false, &mut d);
    assert!(state.ready && d.actions.is_empty());

    let mut d = start(&svc);
    let deploying = apps(&[("hello", ApplicationStatus::Deploying)]);
    let state = cluster_serve(&observed(&applied, deploying), config, true, false, &mut d);
    assert!(!state.ready && d.actions.is_empty());
}

#[test]
fn an_excluded_head_never_serves_whatever_its_proxy_says() {
    let mut svc = service(CONFIG, "ray:1", Some(statuses(Some("svc-a"), None)));
    svc.spec.exclude_head_pod_from_serve_svc = true;
    let owned = [cluster("svc-a", "ray:1", 1, Some(CONFIG), true)];
    let unlabel = vec![Action::SetHeadServeLabel {
        cluster: "svc-a".into(),
        pod: "svc-a-head-x".into(),
        serving: false,
    }];
    let healthy = apps(&[("hello", ApplicationStatus::Running)]);
    // A head that served before the field was set loses the label, whether or not Serve answers.
    for serve in [
        healthy.clone(),
        ServeInfo::NotChecked,
        ServeInfo::Unreachable("timeout".into()),
    ] {
        let mut case = Case::new(&svc, &owned);
        case.active = Some(observed(&owned[0], serve.clone()));
        case.target = Some("svc-a");
        case.endpoints = 1;
        assert_eq!(case.decide().actions, unlabel, "{serve:?}");
    }
    // A healthy proxy does not label it back, and the service still serves through its workers.
    let mut case = Case::new(&svc, &owned);
    let mut obs = observed(&owned[0], healthy);
    obs.head_pod = Some(("svc-a-head-x".into(), Some("false".into())));
    case.active = Some(obs);
    case.target = Some("svc-a");
    case.endpoints = 1;
    let d = case.decide();
    assert!(d.actions.is_empty(), "{:?}", d.actions);
    assert_eq!(d.status.service_status, Some(ServiceStatus::Running));
}

#[test]
fn the_head_serve_label_is_set_only_when_it_differs_from_the_proxy_health() {
    let svc = service(CONFIG, "ray:1", None);
    let owned = cluster("svc-a", "ray:1", 1, Some(CONFIG), true);
    let mut obs = observed(&owned, ServeInfo::NotChecked);
    let mut d = start(&svc);
    head_serve_label(&obs, true, &mut d);
    assert!(d.actions.is_empty());
    head_serve_label(&obs, false, &mut d);
    assert_eq!(
        d.actions,
        vec![Action::SetHeadServeLabel {
            cluster: "svc-a".into(),
            pod: "svc-a-head-x".into(),
            serving: false
        }]
    );
    obs.head_pod = Some(("svc-a-head-x".into(), None));
    let mut d = start(&svc);
    head_serve_label(&obs, true, &mut d);
    assert_eq!(d.actions.len(), 1);
    obs.head_pod = None;
    let mut d = start(&svc);
    head_serve_label(&obs, true, &mut d);
    assert!(d.actions.is_empty());
}

fn ready_state() -> Option<ServeState> {
    Some(ServeState {
        ready: true,
        applications: None,
    })
}

#[test]
fn services_that_disagree_are_pointed_at_the_serving_cluster() {
    let svc = service(CONFIG, "ray:1", Some(statuses(Some("svc-a"), None)));
    let owned = [cluster("svc-a", "ray:1", 1, Some(CONFIG), true)];
    let mut case = Case::new(&svc, &owned);
    case.active = Some(observed(&owned[0], ServeInfo::NotChecked));
    let mut obs = case.observation();
    obs.serve_service_target = Some("svc-a".into());
    obs.head_service_target = Some("svc-old".into());
    let found = Clusters {
        active: obs.active.as_ref(),
        pending: None,
        pending_name: None,
        prepare_new: false,
        held: None,
    };
    let serving = Serving {
        active: ready_state(),
        pending: None,
    };
    let mut d = start(&svc);
    let pointed = traffic(&obs, &found, &serving, &mut d);
    assert_eq!(
        d.actions,
        vec![Action::PointServices {
            cluster: "svc-a".into()
        }]
    );
    assert_eq!(
        pointed,
        Traffic {
            serving: Some("svc-a".into()),
            active: Some("svc-a".into())
        }
    );
    assert!(pointed.serves());

    // Nothing serves: the Services are left where they are.
    let mut d = start(&svc);
    let idle = Serving {
        active: None,
        pending: None,
    };
    let left = traffic(&obs, &found, &idle, &mut d);
    assert!(d.actions.is_empty());
    assert_eq!(left.serving, None);
    assert!(!left.serves());
}

#[test]
fn a_pending_cluster_is_promoted_only_once_the_services_select_it() {
    let svc = service(
        CONFIG,
        "ray:2",
        Some(statuses(Some("svc-a"), Some("svc-b"))),
    );
    let owned = [
        cluster("svc-a", "ray:1", 1, Some(CONFIG), true),
        cluster("svc-b", "ray:2", 1, Some(CONFIG), true),
    ];
    let pending = observed(&owned[1], ServeInfo::NotChecked);
    let found = Clusters {
        active: None,
        pending: Some(&pending),
        pending_name: Some("svc-b".into()),
        prepare_new: false,
        held: None,
    };
    let mut d = start(&svc);
    assert_eq!(promote(&found, Some("svc-a"), &mut d), Some("svc-a".into()));
    assert!(d.notes.is_empty());
    assert_eq!(d.pending_name().as_deref(), Some("svc-b"));

    let mut d = start(&svc);
    assert_eq!(promote(&found, Some("svc-b"), &mut d), Some("svc-b".into()));
    assert_eq!(d.active_name().as_deref(), Some("svc-b"));
    assert_eq!(d.pending_name(), None);
    assert_eq!(d.notes[0].reason, reasons::PROMOTED_CLUSTER);
    assert!(d.notes[0].message.contains("from RayCluster svc-a"));

    // Selected but not created yet (a stale Service): not promoted.
    let missing = Clusters {
        pending: None,
        ..found
    };
    let mut d = start(&svc);
    assert_eq!(
        promote(&missing, Some("svc-b"), &mut d),
        Some("svc-a".into())
    );
}

#[test]
fn a_new_cluster_name_is_recorded_once() {
    let svc = service(CONFIG, "ray:2", Some(statuses(Some("svc-a"), None)));
    let case = Case::new(&svc, &[]);
    let obs = case.observation();
    let found = Clusters {
        active: None,
        pending: None,
        pending_name: None,
        prepare_new: true,
        held: None,
    };
    let serving_a = Traffic {
        serving: Some("svc-a".into()),
        active: Some("svc-a".into()),
    };
    let mut d = start(&svc);
    new_cluster(&obs, &found, &serving_a, &mut d);
    assert_eq!(d.pending_name().as_deref(), Some("svc-abcde"));
    assert_eq!(d.notes[0].reason, reasons::PREPARING_NEW_CLUSTER);
    assert_eq!(d.requeue_after, Some(PROGRESS_INTERVAL));

    // A recorded pending cluster that does not exist yet is not renamed.
    let svc = service(
        CONFIG,
        "ray:2",
        Some(statuses(Some("svc-a"), Some("svc-b"))),
    );
    let mut d = start(&svc);
    new_cluster(&obs, &found, &serving_a, &mut d);
    assert_eq!(d.pending_name().as_deref(), Some("svc-b"));
    assert!(d.notes.is_empty());
}

#[test]
fn the_spec_deletion_delay_wins_over_the_operator_setting() {
    let owned = [
        cluster("svc-a", "ray:1", 1, Some(CONFIG), true),
        cluster("svc-b", "ray:1", 1, Some(CONFIG), true),
    ];
    // svc-b serves; svc-a is idle and seen for the first time. The operator's setting is 60 s.
    for (spec, due) in [(None, t(60)), (Some(5), t(5)), (Some(0), t(0))] {
        let mut svc = service(CONFIG, "ray:1", Some(statuses(Some("svc-b"), None)));
        svc.spec.ray_cluster_deletion_delay_seconds = spec;
        let case = Case::new(&svc, &owned);
        let mut d = start(&svc);
        old_clusters(&case.observation(), &valid_goal(&svc), &mut d);
        assert_eq!(
            d.actions,
            vec![Action::ScheduleClusterDeletion {
                name: "svc-a".into(),
                at: due
            }],
            "{spec:?}"
        );
        let wait = Duration::try_from(t(0).duration_until(due)).expect("not negative");
        assert_eq!(
            d.requeue_after,
            Some(wait.max(Duration::from_millis(100))),
            "{spec:?}"
        );
    }
}

#[test]
fn a_negative_deletion_delay_is_an_invalid_spec_naming_the_field() {
    let mut svc = service(CONFIG, "ray:1", Some(statuses(Some("svc-a"), None)));
    svc.spec.ray_cluster_deletion_delay_seconds = Some(-1);
    let owned = [cluster("svc-a", "ray:1", 1, Some(CONFIG), true)];
    let d = Case::new(&svc, &owned).decide();
    assert!(d.actions.is_empty(), "{:?}", d.actions);
    let [note] = d.notes.as_slice() else {
        panic!("one note: {:?}", d.notes)
    };
    assert_eq!(note.reason, reasons::INVALID_SPEC);
    assert!(
        note.message.contains("spec.rayClusterDeletionDelaySeconds"),
        "{}",
        note.message
    );
}

#[test]
fn old_clusters_keep_their_deletion_time_and_clusters_in_use_lose_it() {
    let mut scheduled = cluster("svc-a", "ray:1", 1, Some(CONFIG), true);
    scheduled
        .metadata
        .annotations
        .get_or_insert_default()
        .insert(DELETE_AFTER_ANNOTATION.into(), t(60).to_string());
    let mut leaving = cluster("svc-c", "ray:1", 1, None, true);
    leaving.metadata.deletion_timestamp =
        Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(t(0)));
    // svc-a is active again; svc-c is already being deleted.
    let svc = service(CONFIG, "ray:1", Some(statuses(Some("svc-a"), None)));
    let owned = [scheduled, leaving];
    let case = Case::new(&svc, &owned);
    let mut d = start(&svc);
    old_clusters(&case.observation(), &valid_goal(&svc), &mut d);
    assert_eq!(
        d.actions,
        vec![Action::UnscheduleClusterDeletion {
            name: "svc-a".into()
        }]
    );
    assert_eq!(d.requeue_after, None);
}

#[test]
fn an_old_clusters_deletion_time_follows_the_clock_whichever_way_it_jumps() {
    let mut old = cluster("svc-a", "ray:1", 1, Some(CONFIG), true);
    old.metadata
        .annotations
        .get_or_insert_default()
        .insert(DELETE_AFTER_ANNOTATION.into(), t(60).to_string());
    let svc = service(CONFIG, "ray:1", Some(statuses(Some("svc-b"), None)));
    let owned = [old];
    let mut case = Case::new(&svc, &owned);
    let old_clusters_at = |case: &Case<'_>| {
        let mut d = start(&svc);
        old_clusters(&case.observation(), &valid_goal(&svc), &mut d);
        d
    };

    // Backward, an hour before the recorded time: nothing is deleted, nothing rescheduled, woken when it is due.
    case.now = t(-3600);
    let d = old_clusters_at(&case);
    assert!(d.actions.is_empty(), "{:?}", d.actions);
    assert_eq!(d.requeue_after, Some(Duration::from_secs(3660)));

    // Forward, an hour past it: deleted at once.
    case.now = t(3600);
    assert_eq!(
        old_clusters_at(&case).actions,
        vec![Action::DeleteCluster {
            name: "svc-a".into()
        }]
    );
}

#[test]
fn the_service_status_says_what_the_traffic_waits_for() {
    let svc = service(CONFIG, "ray:1", Some(statuses(Some("svc-a"), None)));
    let owned = [cluster("svc-a", "ray:1", 1, Some(CONFIG), true)];
    let serves = Traffic {
        serving: Some("svc-a".into()),
        active: Some("svc-a".into()),
    };
    let idle = Traffic {
        serving: None,
        active: None,
    };
    let status = |endpoints: i32, serve: ServeInfo, traffic: &Traffic| {
        let mut case = Case::new(&svc, &owned);
        case.endpoints = endpoints;
        case.active = Some(observed(&owned[0], serve));
        let obs = case.observation();
        let found = Clusters {
            active: obs.active.as_ref(),
            pending: None,
            pending_name: None,
            prepare_new: false,
            held: None,
        };
        let mut d = start(&svc);
        service_status(&obs, &found, traffic, &mut d);
        assert_eq!(d.status.num_serve_endpoints, Some(endpoints));
        d.status.service_status
    };
    let down = || ServeInfo::Unreachable("refused".into());
    assert_eq!(
        status(1, ServeInfo::NotChecked, &serves),
        Some(ServiceStatus::Running)
    );
    assert_eq!(
        status(1, down(), &idle),
        Some(ServiceStatus::FailedToGetServeDeploymentStatus)
    );
    assert_eq!(
        status(0, ServeInfo::NotChecked, &serves),
        Some(ServiceStatus::WaitForServeDeploymentReady)
    );
    assert_eq!(
        status(0, ServeInfo::NotChecked, &idle),
        Some(ServiceStatus::NotRunning)
    );
}

#[test]
fn a_service_that_was_ready_and_lost_its_endpoints_says_so() {
    let svc = service(CONFIG, "ray:1", Some(statuses(Some("svc-a"), None)));
    let owned = [cluster("svc-a", "ray:1", 1, Some(CONFIG), true)];
    let mut case = Case::new(&svc, &owned);
    case.active = Some(observed(
        &owned[0],
        apps(&[("hello", ApplicationStatus::Running)]),
    ));
    case.target = Some("svc-a");
    case.endpoints = 1;
    let ready = case.decide();
    let svc = service(CONFIG, "ray:1", Some(ready.status.clone()));
    let mut case = Case::new(&svc, &owned);
    case.endpoints = 0;
    let obs = case.observation();
    let traffic = Traffic {
        serving: Some("svc-a".into()),
        active: Some("svc-a".into()),
    };
    let mut d = start(&svc);
    d.status.service_status = Some(ServiceStatus::WaitForServeDeploymentReady);
    let found = Clusters {
        active: None,
        pending: None,
        pending_name: None,
        prepare_new: false,
        held: None,
    };
    conditions(&obs, &found, &traffic, &mut d);
    let ready = condition(&d, "Ready");
    assert_eq!(
        (ready.0.as_str(), ready.1.as_str()),
        ("False", "ZeroServeEndpoints")
    );
    let upgrade = condition(&d, "UpgradeInProgress");
    assert_eq!(
        (upgrade.0.as_str(), upgrade.1.as_str()),
        ("False", "NoPendingCluster")
    );
}

#[test]
fn only_a_steady_serving_service_is_looked_at_slowly() {
    let svc = service(CONFIG, "ray:1", Some(statuses(Some("svc-a"), None)));
    let serving = Serving {
        active: ready_state(),
        pending: None,
    };
    let mut d = start(&svc);
    d.status.service_status = Some(ServiceStatus::Running);
    requeue(&serving, &mut d);
    assert_eq!(d.requeue_after, Some(STEADY_INTERVAL));

    let mut busy = start(&svc);
    busy.status.service_status = Some(ServiceStatus::Running);
    busy.actions.push(Action::DeleteCluster {
        name: "svc-old".into(),
    });
    requeue(&serving, &mut busy);
    assert_eq!(busy.requeue_after, Some(PROGRESS_INTERVAL));

    // An earlier, sooner reason to look again wins.
    let mut soon = start(&svc);
    soon.status.service_status = Some(ServiceStatus::Running);
    soon.wake_within(Duration::from_millis(500));
    requeue(&serving, &mut soon);
    assert_eq!(soon.requeue_after, Some(Duration::from_millis(500)));
}

/// A cluster as KubeRay left it: its own spec hash (SHA-1 of Go's JSON, base32hex), and the spec as its Go types
/// write it back (`resources: {}` and `metadata: {}` where the user wrote nothing).
fn kuberay_cluster(name: &str, image: &str, groups: usize) -> RayCluster {
    let mut cluster = cluster(name, image, groups, None, true);
    if let Some(annotations) = cluster.metadata.annotations.as_mut() {
        annotations.insert(
            labels::HASH_WITHOUT_REPLICAS_ANNOTATION.to_owned(),
            "3VBHQ5NSHI0LQGGE8T2D4UNI5H6DRNL2".to_owned(),
        );
    }
    let mut spec = serde_json::to_value(&cluster.spec).expect("json");
    spec["headGroupSpec"]["template"]["metadata"] = json!({});
    spec["headGroupSpec"]["template"]["spec"]["containers"][0]["resources"] = json!({});
    for group in spec["workerGroupSpecs"]
        .as_array_mut()
        .expect("groups")
        .iter_mut()
    {
        group["template"]["spec"]["containers"][0]["resources"] = json!({});
        group["template"]["spec"]["containers"][0]["env"] = json!(null);
    }
    cluster.spec = serde_json::from_value(spec).expect("test fixture");
    cluster
}

#[test]
fn a_cluster_kuberay_made_from_the_same_config_is_kept_and_gets_the_serve_config() {
    let svc = service(CONFIG, "ray:1", Some(statuses(None, Some("svc-kuber"))));
    let owned = [kuberay_cluster("svc-kuber", "ray:1", 1)];
    assert_ne!(
        owned[0].spec, svc.spec.ray_cluster_config,
        "the fixture differs as Go writes it"
    );
    let mut case = Case::new(&svc, &owned);
    case.pending = Some(observed(&owned[0], apps(&[])));
    let d = case.decide();
    assert_eq!(
        pending_name(&d),
        Some("svc-kuber"),
        "no new cluster is prepared"
    );
    assert_eq!(pushes(&d), vec!["svc-kuber"]);
    assert!(
        !d.actions.iter().any(|a| matches!(
            a,
            Action::CreateCluster { .. } | Action::UpdateCluster { .. }
        )),
        "{:?}",
        d.actions
    );

    // Serving on it, it is promoted like a cluster of ours.
    let mut ready = owned[0].clone();
    ready.metadata.annotations.get_or_insert_default().insert(
        SERVE_CONFIG_HASH_ANNOTATION.to_owned(),
        valid_goal(&svc).serve_config.expect("config").1,
    );
    let owned = [ready];
    let mut case = Case::new(&svc, &owned);
    case.pending = Some(observed(
        &owned[0],
        apps(&[("hello", ApplicationStatus::Running)]),
    ));
    case.target = Some("svc-kuber");
    case.endpoints = 1;
    let d = case.decide();
    assert_eq!(active_name(&d), Some("svc-kuber"));
    assert_eq!(pending_name(&d), None);
    assert!(d.actions.is_empty(), "{:?}", d.actions);
}

#[test]
fn a_cluster_kuberay_made_from_another_config_is_replaced_or_extended() {
    // The image changed since KubeRay made the serving cluster: a new cluster is prepared.
    let svc = service(CONFIG, "ray:2", Some(statuses(Some("svc-kuber"), None)));
    let owned = [kuberay_cluster("svc-kuber", "ray:1", 1)];
    let mut case = Case::new(&svc, &owned);
    case.active = Some(observed(
        &owned[0],
        apps(&[("hello", ApplicationStatus::Running)]),
    ));
    case.target = Some("svc-kuber");
    case.endpoints = 1;
    let d = case.decide();
    assert_eq!(pending_name(&d), Some("svc-abcde"));
    assert_eq!(active_name(&d), Some("svc-kuber"));

    // A worker group appended to what it runs: updated in place.
    let mut svc = service(CONFIG, "ray:1", Some(statuses(Some("svc-kuber"), None)));
    svc.spec.ray_cluster_config =
        serde_json::from_value(cluster_config("ray:1", 2)).expect("test fixture");
    let mut case = Case::new(&svc, &owned);
    case.active = Some(observed(
        &owned[0],
        apps(&[("hello", ApplicationStatus::Running)]),
    ));
    case.target = Some("svc-kuber");
    case.endpoints = 1;
    let d = case.decide();
    // KubeRay records no Serve config hash on its clusters, so the config is pushed once as well.
    assert_eq!(
        d.actions.first(),
        Some(&Action::UpdateCluster {
            name: "svc-kuber".into()
        }),
        "{:?}",
        d.actions
    );
    assert_eq!(pending_name(&d), None);
}

#[test]
fn a_hash_of_ours_that_differs_is_trusted_over_the_spec() {
    // Our own hash records the config the pods were made from; a spec edited on the cluster does not change that.
    let svc = service(CONFIG, "ray:2", Some(statuses(Some("svc-a"), None)));
    let mut edited = cluster("svc-a", "ray:1", 1, Some(CONFIG), true);
    edited.spec = svc.spec.ray_cluster_config.clone();
    let owned = [edited];
    let mut case = Case::new(&svc, &owned);
    case.active = Some(observed(
        &owned[0],
        apps(&[("hello", ApplicationStatus::Running)]),
    ));
    case.target = Some("svc-a");
    case.endpoints = 1;
    assert_eq!(pending_name(&case.decide()), Some("svc-abcde"));
    assert!(is_our_hash(
        &rayservice_cluster_hash(&svc.spec.ray_cluster_config).expect("hash")
    ));
    assert!(!is_our_hash("3VBHQ5NSHI0LQGGE8T2D4UNI5H6DRNL2"));
}

#[test]
fn a_side_kuberay_left_without_a_cluster_is_read_as_absent() {
    // KubeRay writes the pending side as a zero struct; its fields stay after a takeover.
    let leftover = RayServiceStatus {
        ray_cluster_status: Some(ray_api_v1::raycluster::RayClusterStatus::default()),
        ..RayServiceStatus::default()
    };
    let mut status = statuses(Some("svc-kuber"), None);
    status.pending_service_status = Some(leftover);
    let svc = service(CONFIG, "ray:2", Some(status.clone()));
    let owned = [kuberay_cluster("svc-kuber", "ray:1", 1)];
    let mut case = Case::new(&svc, &owned);
    case.active = Some(observed(
        &owned[0],
        apps(&[("hello", ApplicationStatus::Running)]),
    ));
    case.target = Some("svc-kuber");
    case.endpoints = 1;
    let d = case.decide();
    assert_eq!(
        pending_name(&d),
        Some("svc-abcde"),
        "the leftover does not block a new cluster"
    );

    let mut without = status.clone();
    without.pending_service_status = None;
    assert!(
        !changed(Some(&status), &without),
        "no status write for the leftover alone"
    );
    assert!(changed(Some(&without), &statuses(Some("svc-other"), None)));
}

fn no_upgrades(mut svc: RayService) -> RayService {
    svc.spec.upgrade_strategy = Some(ray_api_v1::rayservice::RayServiceUpgradeStrategy {
        type_: Some(ray_api_v1::rayservice::RayServiceUpgradeType::NoUpgrade),
        ..Default::default()
    });
    svc
}

/// A pass over a serving `svc-a` (its Services select it, one endpoint).
fn serving_case<'a>(svc: &'a RayService, owned: &'a [RayCluster]) -> Case<'a> {
    let mut case = Case::new(svc, owned);
    case.active = Some(observed(
        &owned[0],
        apps(&[("hello", ApplicationStatus::Running)]),
    ));
    case.target = Some("svc-a");
    case.endpoints = 1;
    case
}

#[test]
fn with_upgrade_strategy_none_a_cluster_change_waits_and_the_status_says_why() {
    let svc = no_upgrades(service(
        CONFIG,
        "ray:2",
        Some(statuses(Some("svc-a"), None)),
    ));
    let owned = [cluster("svc-a", "ray:1", 1, Some(CONFIG), true)];
    let d = serving_case(&svc, &owned).decide();
    assert_eq!(pending_name(&d), None);
    assert!(d.actions.is_empty(), "{:?}", d.actions);
    assert!(
        !d.notes
            .iter()
            .any(|n| n.reason == reasons::PREPARING_NEW_CLUSTER)
    );
    assert_eq!(d.status.service_status, Some(ServiceStatus::Running));
    assert_eq!(condition(&d, "Ready").0, "True");
    assert_eq!(
        condition(&d, "UpgradeInProgress"),
        ("False".into(), "UpgradeStrategyNone".into())
    );
    let message = &d
        .status
        .conditions
        .iter()
        .find(|c| c.type_ == "UpgradeInProgress")
        .expect("condition")
        .message;
    assert!(
        message.contains("spec.upgradeStrategy.type is None") && message.contains("svc-a"),
        "{message}"
    );
    let note = d
        .notes
        .iter()
        .find(|n| n.reason == reasons::UPGRADE_STRATEGY_NONE)
        .expect("an Event says the change waits");
    assert_eq!(note.cluster.as_deref(), Some("svc-a"));
    assert_eq!(d.requeue_after, Some(STEADY_INTERVAL));

    // The next pass says nothing new and writes nothing.
    let svc = no_upgrades(service(CONFIG, "ray:2", Some(d.status.clone())));
    let mut case = serving_case(&svc, &owned);
    case.now = t(30);
    let again = case.decide();
    assert!(again.actions.is_empty(), "{:?}", again.actions);
    assert!(again.notes.is_empty(), "{:?}", again.notes);
    assert!(!changed(Some(&d.status), &again.status));

    // Back to NewCluster: the waiting change is rolled out on a new cluster.
    let mut svc = service(CONFIG, "ray:2", Some(d.status.clone()));
    svc.metadata.generation = Some(4);
    let d = serving_case(&svc, &owned).decide();
    assert_eq!(pending_name(&d), Some("svc-abcde"));
}

#[test]
fn with_upgrade_strategy_none_the_serve_config_is_still_applied_in_place() {
    // The image and the Serve config change together: the config goes to the serving cluster at once.
    let changed = CONFIG.replace("hello:app", "hello:build");
    let svc = no_upgrades(service(
        &changed,
        "ray:2",
        Some(statuses(Some("svc-a"), None)),
    ));
    let owned = [cluster("svc-a", "ray:1", 1, Some(CONFIG), true)];
    let d = serving_case(&svc, &owned).decide();
    assert_eq!(pushes(&d), vec!["svc-a"]);
    assert_eq!(pending_name(&d), None);
    assert_eq!(
        condition(&d, "UpgradeInProgress"),
        ("False".into(), "UpgradeStrategyNone".into())
    );
}

#[test]
fn with_upgrade_strategy_none_appended_worker_groups_and_the_first_cluster_are_still_made() {
    let mut svc = no_upgrades(service(
        CONFIG,
        "ray:1",
        Some(statuses(Some("svc-a"), None)),
    ));
    svc.spec.ray_cluster_config =
        serde_json::from_value(cluster_config("ray:1", 2)).expect("test fixture");
    let owned = [cluster("svc-a", "ray:1", 1, Some(CONFIG), true)];
    let d = serving_case(&svc, &owned).decide();
    assert_eq!(
        d.actions,
        vec![Action::UpdateCluster {
            name: "svc-a".into()
        }]
    );
    assert_eq!(
        condition(&d, "UpgradeInProgress"),
        ("False".into(), "NoPendingCluster".into())
    );

    // No cluster at all (a new RayService, or its active cluster was deleted by hand): one is made.
    let svc = no_upgrades(service(CONFIG, "ray:1", None));
    let d = Case::new(&svc, &[]).decide();
    assert_eq!(pending_name(&d), Some("svc-abcde"));
}

fn suspended_spec(status: Option<RayServiceStatuses>, suspend: bool) -> RayService {
    let mut svc = service(CONFIG, "ray:1", status);
    svc.spec.suspend = suspend;
    svc
}

fn owned_services() -> Vec<OwnedService> {
    ["svc-serve-svc", "svc-head-svc"]
        .into_iter()
        .map(|name| OwnedService {
            name: name.into(),
            deleting: false,
        })
        .collect()
}

fn condition_message(d: &Decision, type_: &str) -> String {
    d.status
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
        .map(|c| c.message.clone())
        .unwrap_or_default()
}

#[test]
fn suspend_is_recorded_first_then_everything_is_deleted_then_the_service_is_suspended() {
    // A serving RayService in the middle of an upgrade, with an old cluster waiting for its deletion.
    let serving = serving_case(
        &service(CONFIG, "ray:1", Some(statuses(Some("svc-a"), None))),
        &[cluster("svc-a", "ray:1", 1, Some(CONFIG), true)],
    )
    .decide()
    .status;
    let mut upgrading = serving.clone();
    upgrading.pending_service_status = Some(side("svc-b", &[]));
    let owned = [
        cluster("svc-a", "ray:1", 1, Some(CONFIG), true),
        cluster("svc-b", "ray:2", 1, None, false),
        cluster("svc-old", "ray:0", 1, Some(CONFIG), true),
    ];

    // Pass 1: only the Suspending condition; nothing is deleted or created yet.
    let svc = suspended_spec(Some(upgrading), true);
    let mut case = serving_case(&svc, &owned);
    case.pending = Some(observed(&owned[1], ServeInfo::NotChecked));
    case.services = owned_services();
    let d = case.decide();
    assert!(d.actions.is_empty(), "{:?}", d.actions);
    assert_eq!(
        condition(&d, "Suspending"),
        ("True".into(), "SuspendInProgress".into())
    );
    assert_eq!(condition(&d, "Ready").0, "False");
    assert_eq!(active_name(&d), None);
    assert_eq!(pending_name(&d), None);
    assert_eq!(d.status.service_status, Some(ServiceStatus::NotRunning));
    let note = d
        .notes
        .iter()
        .find(|n| n.reason == reasons::SUSPENDING)
        .expect("an Event");
    assert!(
        note.message.contains("RayCluster svc-b") && note.message.contains("Service svc-head-svc"),
        "{}",
        note.message
    );
    assert_eq!(d.requeue_after, Some(PROGRESS_INTERVAL));

    // Pass 2: everything is deleted: the active, pending and old clusters and both Services. Setting suspend
    // back to false now changes nothing: the suspension runs to completion.
    for suspend in [true, false] {
        let svc = suspended_spec(Some(d.status.clone()), suspend);
        let mut case = Case::new(&svc, &owned);
        case.services = owned_services();
        case.target = Some("svc-a");
        let deleting = case.decide();
        assert_eq!(
            deleting.actions,
            vec![
                Action::DeleteClusterOnSuspend {
                    name: "svc-a".into()
                },
                Action::DeleteClusterOnSuspend {
                    name: "svc-b".into()
                },
                Action::DeleteClusterOnSuspend {
                    name: "svc-old".into()
                },
                Action::DeleteServiceOnSuspend {
                    name: "svc-serve-svc".into()
                },
                Action::DeleteServiceOnSuspend {
                    name: "svc-head-svc".into()
                },
            ],
            "suspend: {suspend}"
        );
        assert_eq!(condition(&deleting, "Suspending").0, "True");
        assert_eq!(deleting.requeue_after, Some(PROGRESS_INTERVAL));
    }

    // Pass 3: nothing is left: Suspended.
    let svc = suspended_spec(Some(d.status.clone()), true);
    let d = Case::new(&svc, &[]).decide();
    assert!(d.actions.is_empty(), "{:?}", d.actions);
    for type_ in ["Suspending", "Ready", "UpgradeInProgress"] {
        assert_eq!(
            condition(&d, type_),
            ("False".into(), "SuspendComplete".into()),
            "{type_}"
        );
    }
    assert_eq!(
        condition(&d, "Suspended"),
        ("True".into(), "SuspendComplete".into())
    );
    assert_eq!(d.status.num_serve_endpoints, Some(0));
    assert_eq!(d.status.service_status, Some(ServiceStatus::NotRunning));
    assert!(d.notes.iter().any(|n| n.reason == reasons::SUSPENDED));
    assert_eq!(d.requeue_after, None);

    // And it stays so: nothing to do, nothing to write, nothing to say.
    let svc = suspended_spec(Some(d.status.clone()), true);
    let mut case = Case::new(&svc, &[]);
    case.now = t(100);
    let still = case.decide();
    assert!(still.actions.is_empty() && still.notes.is_empty());
    assert!(!changed(Some(&d.status), &still.status));
    assert_eq!(still.requeue_after, None);
}

#[test]
fn what_is_already_being_deleted_is_waited_for() {
    let mut suspending = statuses(None, None);
    set_condition(
        &mut suspending.conditions,
        conditions::SUSPENDING,
        true,
        conditions::SUSPEND_IN_PROGRESS,
        String::new(),
        Some(3),
        t(0),
    );
    let svc = suspended_spec(Some(suspending), true);
    let mut going = cluster("svc-a", "ray:1", 1, Some(CONFIG), true);
    going.metadata.deletion_timestamp =
        Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(t(1)));
    let owned = [going];
    let mut case = Case::new(&svc, &owned);
    case.services = vec![OwnedService {
        name: "svc-serve-svc".into(),
        deleting: true,
    }];
    let d = case.decide();
    assert!(d.actions.is_empty(), "{:?}", d.actions);
    assert_eq!(condition(&d, "Suspending").0, "True");
    assert!(!d.status.conditions.iter().any(|c| c.type_ == "Suspended"));
    assert_eq!(d.requeue_after, Some(PROGRESS_INTERVAL));
}

#[test]
fn a_rayservice_created_suspended_never_creates_anything() {
    let svc = suspended_spec(None, true);
    let d = Case::new(&svc, &[]).decide();
    assert!(d.actions.is_empty(), "{:?}", d.actions);
    assert_eq!(pending_name(&d), None);
    assert!(
        d.notes
            .iter()
            .any(|n| n.reason == reasons::SUSPENDING && n.message.contains("creates nothing"))
    );
    let svc = suspended_spec(Some(d.status), true);
    let d = Case::new(&svc, &[]).decide();
    assert!(d.actions.is_empty(), "{:?}", d.actions);
    assert_eq!(pending_name(&d), None);
    assert_eq!(condition(&d, "Suspended").0, "True");
}

#[test]
fn resuming_starts_over_on_a_new_cluster_that_gets_the_serve_config() {
    // Suspended, then suspend set back to false.
    let svc = suspended_spec(None, true);
    let first = Case::new(&svc, &[]).decide();
    let svc = suspended_spec(Some(first.status), true);
    let suspended = Case::new(&svc, &[]).decide().status;

    let svc = suspended_spec(Some(suspended.clone()), false);
    let mut case = Case::new(&svc, &[]);
    case.now = t(500);
    let d = case.decide();
    assert_eq!(
        condition(&d, "Suspended"),
        ("False".into(), "Resumed".into())
    );
    assert!(
        condition_message(&d, "Suspended").contains("spec.suspend is false"),
        "{:?}",
        d.status.conditions
    );
    // Ready says Initializing, since now (not since the suspension).
    assert_eq!(
        condition(&d, "Ready"),
        ("False".into(), "Initializing".into())
    );
    let since = d
        .status
        .conditions
        .iter()
        .find(|c| c.type_ == "Ready")
        .map(|c| c.last_transition_time.0);
    assert_eq!(since, Some(t(500)));
    assert_eq!(pending_name(&d), Some("svc-abcde"));
    assert!(d.notes.iter().any(|n| n.reason == reasons::RESUMED));

    // The next passes create the cluster and push the Serve config to it once its head is ready.
    let svc = suspended_spec(Some(d.status.clone()), false);
    let created = Case::new(&svc, &[]).decide();
    assert_eq!(
        created.actions,
        vec![Action::CreateCluster {
            name: "svc-abcde".into()
        }]
    );
    // Suspended stays False; no second resume Event.
    assert!(!created.notes.iter().any(|n| n.reason == reasons::RESUMED));
    let fresh = [cluster("svc-abcde", "ray:1", 1, None, true)];
    let mut case = Case::new(&svc, &fresh);
    case.pending = Some(observed(&fresh[0], apps(&[])));
    assert_eq!(pushes(&case.decide()), vec!["svc-abcde"]);
}

#[test]
fn suspend_set_back_while_suspending_completes_the_suspension_then_resumes() {
    let svc = suspended_spec(None, true);
    let committed = Case::new(&svc, &[]).decide().status;
    let svc = suspended_spec(Some(committed), false);
    let d = Case::new(&svc, &[]).decide();
    assert_eq!(condition(&d, "Suspended").0, "True");
    assert_eq!(pending_name(&d), None);
    // Looked at again soon, so the resume follows.
    assert_eq!(d.requeue_after, Some(PROGRESS_INTERVAL));
    let svc = suspended_spec(Some(d.status), false);
    let d = Case::new(&svc, &[]).decide();
    assert_eq!(condition(&d, "Suspended").0, "False");
    assert_eq!(pending_name(&d), Some("svc-abcde"));
}

#[test]
fn an_invalid_spec_is_reported_before_a_suspension() {
    let mut svc = suspended_spec(Some(statuses(Some("svc-a"), None)), true);
    svc.spec.ray_cluster_deletion_delay_seconds = Some(-1);
    let owned = [cluster("svc-a", "ray:1", 1, Some(CONFIG), true)];
    let d = serving_case(&svc, &owned).decide();
    assert!(d.actions.is_empty(), "{:?}", d.actions);
    assert_eq!(
        condition(&d, "Ready"),
        ("False".into(), "ValidationFailed".into())
    );
    assert!(!d.status.conditions.iter().any(|c| c.type_ == "Suspending"));
}
