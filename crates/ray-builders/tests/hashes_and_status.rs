//! Spec hashes change exactly when they should; desired resources and the Redis cleanup Job.

mod common;

use ray_api_v1::RayCluster;
use ray_builders::spec_hash::{
    pod_template_hashes, rayservice_cluster_hash, rayservice_cluster_hash_first_groups,
};
use ray_builders::{ClusterContext, RenderOptions};

fn base() -> RayCluster {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "ray.io/v1",
        "kind": "RayCluster",
        "metadata": { "name": "c", "namespace": "ns", "annotations": { "ray.io/ft-enabled": "true" } },
        "spec": {
            "headGroupSpec": {
                "rayStartParams": {},
                "template": { "spec": { "containers": [{ "name": "ray-head", "image": "ray:1",
                    "resources": { "limits": { "cpu": "2", "memory": "4Gi" } } }] } }
            },
            "workerGroupSpecs": [{
                "groupName": "a", "replicas": 2, "minReplicas": 1, "maxReplicas": 5,
                "template": { "spec": { "containers": [{ "name": "w", "image": "ray:1",
                    "resources": { "requests": { "cpu": "500m", "memory": "1Gi" },
                                   "limits": { "cpu": "1", "memory": "2Gi", "nvidia.com/gpu": "1" } } }] } }
            }]
        }
    }))
    .expect("valid cluster")
}

fn pod_hashes(cluster: &RayCluster) -> ray_builders::spec_hash::PodTemplateHashes {
    pod_template_hashes(cluster, &RenderOptions::default()).expect("hashes")
}

#[test]
fn pod_hashes_ignore_scaling_and_service_only_changes() {
    let before = pod_hashes(&base());
    let mut changed = base();
    let group = &mut changed.spec.worker_group_specs[0];
    group.replicas = Some(4);
    group.min_replicas = Some(0);
    group.max_replicas = Some(9);
    group.scale_strategy = Some(ray_api_v1::ScaleStrategy {
        workers_to_delete: vec!["c-a-worker-xyz".into()],
    });
    changed.spec.head_service_annotations = Some([("a".to_string(), "b".to_string())].into());
    changed.spec.head_group_spec.enable_ingress = true;
    changed.spec.suspend = true;
    assert_eq!(pod_hashes(&changed), before);

    // Operator upgrades do not count either.
    let other_version = RenderOptions {
        operator_version: "9.9.9".into(),
        ..RenderOptions::default()
    };
    assert_eq!(
        pod_template_hashes(&base(), &other_version).expect("hashes"),
        before
    );
}

#[test]
fn pod_hashes_change_for_pod_changes_per_group() {
    let before = pod_hashes(&base());

    let mut image = base();
    image.spec.worker_group_specs[0]
        .template
        .spec
        .as_mut()
        .expect("spec")
        .containers[0]
        .image = Some("ray:2".into());
    let after = pod_hashes(&image);
    assert_eq!(after.head, before.head, "the head did not change");
    assert_ne!(after.workers["a"], before.workers["a"]);

    // Renaming the head Service moves every worker's address, so workers change too.
    let mut renamed = base();
    renamed.spec.head_group_spec.head_service = Some(k8s_openapi::api::core::v1::Service {
        metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
            name: Some("elsewhere".into()),
            ..Default::default()
        },
        ..Default::default()
    });
    assert_ne!(pod_hashes(&renamed).workers["a"], before.workers["a"]);

    let mut params = base();
    params
        .spec
        .head_group_spec
        .ray_start_params
        .insert("num-cpus".into(), "0".into());
    assert_ne!(pod_hashes(&params).head, before.head);
}

#[test]
fn rayservice_hash_ignores_replicas_and_recognises_appended_groups() {
    let spec = base().spec;
    let hash = rayservice_cluster_hash(&spec).expect("hash");
    assert_eq!(hash.len(), 52);
    assert!(
        hash.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
    );

    let mut scaled = spec.clone();
    scaled.worker_group_specs[0].replicas = Some(7);
    scaled.worker_group_specs[0].scale_strategy = Some(ray_api_v1::ScaleStrategy::default());
    scaled.suspend = true;
    assert_eq!(rayservice_cluster_hash(&scaled).expect("hash"), hash);

    let mut annotated = spec.clone();
    annotated.head_service_annotations = Some([("a".to_string(), "b".to_string())].into());
    assert_ne!(rayservice_cluster_hash(&annotated).expect("hash"), hash);

    let mut appended = spec.clone();
    let mut extra = appended.worker_group_specs[0].clone();
    extra.group_name = "b".into();
    appended.worker_group_specs.push(extra);
    assert_ne!(rayservice_cluster_hash(&appended).expect("hash"), hash);
    assert_eq!(
        rayservice_cluster_hash_first_groups(&appended, 1).expect("hash"),
        hash
    );
}

#[test]
fn desired_resources_and_counts() {
    let cluster = base();
    let counts = ray_builders::resources::replica_counts(&cluster.spec);
    assert_eq!((counts.desired, counts.min, counts.max), (2, 1, 5));
    let desired = ray_builders::resources::desired_resources(&cluster.spec, "spec").expect("sum");
    // Head 2 CPU / 4Gi; 2 workers at their requests 500m / 1Gi, and their GPU limit (no request).
    assert_eq!(desired.cpu.0, "3");
    assert_eq!(desired.memory.0, "6Gi");
    assert_eq!(desired.gpu.0, "2");
    assert_eq!(desired.tpu.0, "0");

    let mut bad = cluster.clone();
    bad.spec.worker_group_specs[0]
        .template
        .spec
        .as_mut()
        .expect("spec")
        .containers[0]
        .resources
        .as_mut()
        .expect("resources")
        .requests
        .as_mut()
        .expect("requests")
        .insert(
            "cpu".into(),
            k8s_openapi::apimachinery::pkg::api::resource::Quantity("lots".into()),
        );
    let error = ray_builders::resources::desired_resources(&bad.spec, "spec").expect_err("invalid");
    assert!(
        error.to_string().starts_with(
            "spec.workerGroupSpecs[0].template.spec.containers[0].resources.requests[\"cpu\"]"
        ),
        "{error}"
    );
}

#[test]
fn redis_cleanup_job() {
    let mut cluster = base();
    cluster.metadata.uid = Some("0a1b2c3d-uid".into());
    let options = RenderOptions {
        operator_version: "test".into(),
        ..RenderOptions::default()
    };
    let ctx = ClusterContext::new(&cluster, &options).expect("context");
    let head = ray_builders::head_pod(&ctx).expect("head");
    let job = ray_builders::gcs_ft::redis_cleanup_job(&ctx, &head).expect("job");
    insta::assert_yaml_snapshot!(job);
}
