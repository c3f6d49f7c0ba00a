//! Objects edited through one version after a conversion: the user's edits win, removed worker groups stay removed,
//! and a broken annotation is ignored (or reported by the strict conversion) without panicking.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::PodTemplateSpec;
use ray_api_v1 as v1;
use ray_api_v1alpha1::{
    self as v1alpha1, ConversionError, StrictInto, V1_PRESERVED_FIELDS_ANNOTATION,
    V1ALPHA1_PRESERVED_FIELDS_ANNOTATION,
};
use serde_json::json;

fn worker(name: &str, hosts: Option<i32>) -> v1::WorkerGroupSpec {
    v1::WorkerGroupSpec {
        group_name: name.to_owned(),
        replicas: Some(1),
        num_of_hosts: hosts,
        template: PodTemplateSpec::default(),
        ..Default::default()
    }
}

fn cluster(groups: Vec<v1::WorkerGroupSpec>) -> v1::RayCluster {
    v1::RayCluster::new(
        "demo",
        v1::RayClusterSpec {
            worker_group_specs: groups,
            ..Default::default()
        },
    )
}

fn annotation(
    meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
    key: &str,
) -> Option<String> {
    meta.annotations.as_ref().and_then(|a| a.get(key)).cloned()
}

fn hosts(cluster: &v1::RayCluster) -> Vec<(String, Option<i32>)> {
    cluster
        .spec
        .worker_group_specs
        .iter()
        .map(|g| (g.group_name.clone(), g.num_of_hosts))
        .collect()
}

#[test]
fn the_annotation_records_exactly_what_v1alpha1_cannot_hold() {
    let down: v1alpha1::RayCluster =
        cluster(vec![worker("tpu", Some(4)), worker("cpu", None)]).into();
    assert_eq!(
        annotation(&down.metadata, V1_PRESERVED_FIELDS_ANNOTATION).as_deref(),
        Some(r#"[{"path":"/spec/workerGroupSpecs/groupName=tpu/numOfHosts","value":4}]"#)
    );
    // Nothing to preserve: no annotation at all (and no empty annotation map).
    let plain: v1alpha1::RayCluster = cluster(vec![worker("cpu", None)]).into();
    assert_eq!(plain.metadata.annotations, None);
}

#[test]
fn removing_a_worker_group_in_v1alpha1_does_not_resurrect_its_hosts() {
    let mut down: v1alpha1::RayCluster =
        cluster(vec![worker("tpu", Some(4)), worker("cpu", Some(2))]).into();
    down.spec.worker_group_specs.remove(0);
    let up: v1::RayCluster = down.clone().into();
    assert_eq!(hosts(&up), [("cpu".to_owned(), Some(2))]);

    // A new group in the position of the removed one gets nothing of it.
    let mut renamed = down.clone();
    renamed.spec.worker_group_specs.insert(
        0,
        v1alpha1::WorkerGroupSpec {
            group_name: "tpu-new".to_owned(),
            ..Default::default()
        },
    );
    let up: v1::RayCluster = renamed.into();
    assert_eq!(
        hosts(&up),
        [("tpu-new".to_owned(), None), ("cpu".to_owned(), Some(2))]
    );
}

#[test]
fn reordered_worker_groups_keep_their_own_hosts() {
    let mut down: v1alpha1::RayCluster =
        cluster(vec![worker("tpu", Some(4)), worker("cpu", Some(2))]).into();
    down.spec.worker_group_specs.reverse();
    down.spec.worker_group_specs[0].replicas = Some(7);
    let up: v1::RayCluster = down.into();
    assert_eq!(
        hosts(&up),
        [("cpu".to_owned(), Some(2)), ("tpu".to_owned(), Some(4))]
    );
    assert_eq!(up.spec.worker_group_specs[0].replicas, Some(7));
}

#[test]
fn an_entrypoint_set_through_v1alpha1_wins_over_the_preserved_unset_one() {
    let job = v1::RayJob::new(
        "job",
        v1::RayJobSpec {
            entrypoint: None,
            active_deadline_seconds: Some(60),
            ..Default::default()
        },
    );
    let mut down: v1alpha1::RayJob = job.clone().into();
    assert_eq!(down.spec.entrypoint, "");
    let up: v1::RayJob = down.clone().into();
    assert_eq!(
        up.spec.entrypoint, None,
        "unchanged: the unset entrypoint comes back"
    );

    down.spec.entrypoint = "python main.py".to_owned();
    let up: v1::RayJob = down.into();
    assert_eq!(up.spec.entrypoint.as_deref(), Some("python main.py"));
    assert_eq!(up.spec.active_deadline_seconds, Some(60));
}

#[test]
fn removing_the_cluster_spec_in_v1alpha1_drops_its_preserved_values() {
    let job = v1::RayJob::new(
        "job",
        v1::RayJobSpec {
            entrypoint: Some("python main.py".to_owned()),
            ray_cluster_spec: Some(v1::RayClusterSpec {
                worker_group_specs: vec![worker("tpu", Some(4))],
                ..Default::default()
            }),
            ..Default::default()
        },
    );
    let mut down: v1alpha1::RayJob = job.into();
    down.spec.ray_cluster_spec = None;
    down.spec.cluster_selector =
        BTreeMap::from([("ray.io/cluster".to_owned(), "shared".to_owned())]);
    let up: v1::RayJob = down.into();
    assert_eq!(up.spec.ray_cluster_spec, None);
    assert_eq!(up.spec.cluster_selector["ray.io/cluster"], "shared");
}

#[test]
fn v1alpha1_only_values_survive_v1_but_yield_to_newer_v1_status() {
    let mut original = v1alpha1::RayCluster::new("demo", Default::default());
    original.status = Some(v1alpha1::RayClusterStatus {
        state: Some(v1alpha1::ClusterState::Unhealthy),
        ..Default::default()
    });
    let mut up: v1::RayCluster = original.clone().into();
    assert_eq!(up.status.as_ref().and_then(|s| s.state), None);
    assert_eq!(
        annotation(&up.metadata, V1ALPHA1_PRESERVED_FIELDS_ANNOTATION).as_deref(),
        Some(r#"[{"path":"/status/state","value":"unhealthy"}]"#)
    );
    let down: v1alpha1::RayCluster = up.clone().into();
    assert_eq!(down, original);

    // The operator (writing v1) has since set a state: that is what a v1alpha1 reader sees.
    up.status = Some(v1::RayClusterStatus {
        state: Some(v1::ClusterState::Ready),
        ..Default::default()
    });
    let down: v1alpha1::RayCluster = up.into();
    assert_eq!(
        down.status.and_then(|s| s.state),
        Some(v1alpha1::ClusterState::Ready)
    );
    assert_eq!(down.metadata.annotations, None);
}

#[test]
fn health_times_survive_v1_per_application() {
    let time = |s: i64| {
        k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
            k8s_openapi::jiff::Timestamp::from_second(s).expect("a valid second"),
        )
    };
    let mut original = v1alpha1::RayService::new("svc", Default::default());
    original.status = Some(v1alpha1::RayServiceStatuses {
        active_service_status: Some(v1alpha1::RayServiceStatus {
            application_statuses: BTreeMap::from([(
                "app/one".to_owned(),
                v1alpha1::AppStatus {
                    health_last_update_time: Some(time(1_700_000_000)),
                    serve_deployment_statuses: BTreeMap::from([(
                        "d".to_owned(),
                        v1alpha1::ServeDeploymentStatus {
                            health_last_update_time: Some(time(1_700_000_001)),
                            ..Default::default()
                        },
                    )]),
                    ..Default::default()
                },
            )]),
            ..Default::default()
        }),
        ..Default::default()
    });
    let up: v1::RayService = original.clone().into();
    let text = annotation(&up.metadata, V1ALPHA1_PRESERVED_FIELDS_ANNOTATION).expect("preserved");
    assert!(
        text.contains(
            "/status/activeServiceStatus/applicationStatuses/app~1one/healthLastUpdateTime"
        )
    );
    let down: v1alpha1::RayService = up.into();
    assert_eq!(down, original);
}

#[test]
fn user_annotations_are_kept_and_stale_conversion_annotations_dropped() {
    let mut object = cluster(vec![worker("tpu", Some(4))]);
    object.metadata.annotations = Some(BTreeMap::from([
        ("team".to_owned(), "ml".to_owned()),
        // A v1 object never legitimately carries the annotation meant for v1alpha1 objects.
        (
            V1_PRESERVED_FIELDS_ANNOTATION.to_owned(),
            "stale".to_owned(),
        ),
    ]));
    let down: v1alpha1::RayCluster = object.into();
    let annotations = down.metadata.annotations.clone().expect("annotations");
    assert_eq!(annotations["team"], "ml");
    assert!(annotations[V1_PRESERVED_FIELDS_ANNOTATION].contains("numOfHosts"));
    let up: v1::RayCluster = down.into();
    assert_eq!(
        up.metadata.annotations,
        Some(BTreeMap::from([("team".to_owned(), "ml".to_owned())]))
    );
    assert_eq!(hosts(&up), [("tpu".to_owned(), Some(4))]);
}

fn with_annotation(text: &str) -> v1alpha1::RayCluster {
    let mut down = v1alpha1::RayCluster::new(
        "demo",
        v1alpha1::RayClusterSpec {
            worker_group_specs: vec![
                v1alpha1::WorkerGroupSpec {
                    group_name: "a".to_owned(),
                    ..Default::default()
                },
                v1alpha1::WorkerGroupSpec {
                    group_name: "b".to_owned(),
                    ..Default::default()
                },
            ],
            ..Default::default()
        },
    );
    down.metadata.annotations = Some(BTreeMap::from([(
        V1_PRESERVED_FIELDS_ANNOTATION.to_owned(),
        text.to_owned(),
    )]));
    down
}

#[test]
fn a_garbage_annotation_is_ignored_and_reported_by_the_strict_conversion() {
    let down = with_annotation("{not json");
    let up: v1::RayCluster = down.clone().into();
    assert_eq!(up.metadata.annotations, None);
    assert_eq!(hosts(&up), [("a".to_owned(), None), ("b".to_owned(), None)]);

    let error = StrictInto::<v1::RayCluster>::strict_into(down).expect_err("garbage is reported");
    assert!(matches!(
        error,
        ConversionError::PreservedFields {
            annotation: V1_PRESERVED_FIELDS_ANNOTATION,
            ..
        }
    ));
    let message = error.to_string();
    assert!(message.contains("ray.io/v1-preserved-fields"), "{message}");
    assert!(message.contains("not a JSON list"), "{message}");
    assert!(message.contains("remove it"), "{message}");
}

#[test]
fn an_entry_that_does_not_fit_is_dropped_and_the_others_still_apply() {
    let down = with_annotation(
        r#"[{"path":"/spec/workerGroupSpecs/groupName=a/numOfHosts","value":"four"},
            {"path":"/spec/workerGroupSpecs/groupName=b/numOfHosts","value":3}]"#,
    );
    let up: v1::RayCluster = down.clone().into();
    assert_eq!(
        hosts(&up),
        [("a".to_owned(), None), ("b".to_owned(), Some(3))]
    );

    let error = StrictInto::<v1::RayCluster>::strict_into(down).expect_err("misfit is reported");
    let message = error.to_string();
    assert!(
        message.contains("spec.workerGroupSpecs[0].numOfHosts"),
        "{message}"
    );
}

#[test]
fn entries_outside_spec_and_status_are_refused() {
    let down = with_annotation(r#"[{"path":"/metadata/name","value":"hijacked"}]"#);
    let up: v1::RayCluster = down.clone().into();
    assert_eq!(up.metadata.name.as_deref(), Some("demo"));
    let message = StrictInto::<v1::RayCluster>::strict_into(down)
        .expect_err("refused")
        .to_string();
    assert!(message.contains("/metadata/name"), "{message}");
}

#[test]
fn entries_for_edited_fields_are_not_errors() {
    // The annotation was written when group `a` had no replicas; the user has since set them.
    let mut down =
        with_annotation(r#"[{"path":"/spec/workerGroupSpecs/groupName=a/replicas","value":5}]"#);
    down.spec.worker_group_specs[0].replicas = Some(2);
    let up: v1::RayCluster = down.strict_into().expect("a skipped entry is not an error");
    assert_eq!(up.spec.worker_group_specs[0].replicas, Some(2));
}

#[test]
fn specs_and_statuses_convert_on_their_own() {
    let spec = v1::RayClusterSpec {
        worker_group_specs: vec![worker("tpu", Some(4))],
        ..Default::default()
    };
    let down: v1alpha1::RayClusterSpec = spec.into();
    let up: v1::RayClusterSpec = down.into();
    assert_eq!(
        hosts(&cluster(up.worker_group_specs)),
        [("tpu".to_owned(), None)],
        "specs alone cannot preserve"
    );

    let status = v1alpha1::RayJobStatus {
        job_deployment_status: Some(v1alpha1::JobDeploymentStatus::Failed),
        ..Default::default()
    };
    let up: v1::RayJobStatus = status.into();
    assert_eq!(
        up.job_deployment_status,
        Some(v1::JobDeploymentStatus::Failed)
    );
    let json = serde_json::to_value(up).expect("serializes");
    assert_eq!(json, json!({"jobDeploymentStatus": "Failed"}));
}
