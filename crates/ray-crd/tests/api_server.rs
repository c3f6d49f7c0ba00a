//! The generated CRDs against a real Kubernetes API server (crates/ray-testenv): they are accepted (so their schemas
//! are structural and their CEL rules compile within the cost budget), become Established, fit client-side apply's
//! annotation, keep every field a user writes, and reject the fields removed as unable to carry data.
//!
//! Like every control-plane test, these fail (they do not skip) when the binaries are missing; the message names
//! `cargo xtask testenv install`.

use std::collections::BTreeMap;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Client;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams};
use ray_crd::RayKind;
use ray_testenv::{ControlPlane, create_namespace, install_crds};
use serde_json::{Value, json};

const MANAGER: &str = "ray-crd-test";

async fn client_with_crds() -> Client {
    let plane = ControlPlane::shared()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let client = plane.client().await.unwrap_or_else(|e| panic!("{e}"));
    // Install what the generator produces now (not the committed files: `cargo xtask crd --check` compares those).
    let dir = tempfile::tempdir().expect("a temporary directory");
    for file in ray_crd::crd_files().expect("the CRDs render") {
        std::fs::write(dir.path().join(&file.file_name), &file.contents)
            .expect("writing a CRD file");
    }
    let mut names = install_crds(&client, dir.path())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    names.sort();
    assert_eq!(
        names,
        [
            "rayclusters.ray.io",
            "raycronjobs.ray.io",
            "rayjobs.ray.io",
            "rayservices.ray.io"
        ]
    );
    client
}

fn api(client: &Client, namespace: &str, kind: RayKind, version: &str) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk("ray.io", version, kind.name());
    let resource = ApiResource::from_gvk_with_plural(&gvk, kind.plural());
    Api::namespaced_with(client.clone(), namespace, &resource)
}

/// A pod template using the opaque subtrees (affinity, volume sources) next to fields with full schemas.
fn pod_template(container: &str) -> Value {
    json!({
        "metadata": { "labels": { "team": "ml" } },
        "spec": {
            "restartPolicy": "Never",
            "containers": [{
                "name": container,
                "image": "rayproject/ray:2.9.0",
                "resources": { "limits": { "cpu": "1" } },
                "volumeMounts": [{ "name": "logs", "mountPath": "/tmp/ray" }]
            }],
            "affinity": {
                "nodeAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": {
                        "nodeSelectorTerms": [{
                            "matchExpressions": [{ "key": "gpu", "operator": "In", "values": ["a100"] }]
                        }]
                    }
                }
            },
            "volumes": [
                { "name": "logs", "emptyDir": { "sizeLimit": "1Gi" } },
                { "name": "cfg", "configMap": { "name": "cfg", "items": [{ "key": "a", "path": "b" }] } }
            ]
        }
    })
}

fn rayjob(api_version: &str, name: &str) -> Value {
    json!({
        "apiVersion": api_version,
        "kind": "RayJob",
        "metadata": { "name": name },
        "spec": {
            "entrypoint": "python main.py",
            "shutdownAfterJobFinishes": true,
            "rayClusterSpec": {
                "rayVersion": "2.9.0",
                "headGroupSpec": { "rayStartParams": {}, "template": pod_template("ray-head") },
                "workerGroupSpecs": [{
                    "groupName": "gpu",
                    "replicas": 1,
                    "minReplicas": 0,
                    "maxReplicas": 4,
                    "rayStartParams": {},
                    "template": pod_template("ray-worker")
                }]
            },
            "submitterPodTemplate": pod_template("submitter")
        }
    })
}

#[tokio::test]
async fn every_crd_is_established_and_fits_client_side_apply() {
    let client = client_with_crds().await;
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    for crd in ray_crd::crds().expect("the CRDs assemble") {
        let name = crd.metadata.name.clone().expect("a CRD has a name");
        // What `kubectl apply` (client-side) does: store the applied object, as compact JSON, in an annotation.
        // The API server rejects annotations over 262,144 bytes in total.
        let last_applied = serde_json::to_string(&crd).expect("the CRD serializes");
        let mut annotated = crd.clone();
        annotated.metadata.annotations = Some(BTreeMap::from([(
            "kubectl.kubernetes.io/last-applied-configuration".to_owned(),
            last_applied,
        )]));
        let params = PatchParams::apply(MANAGER).force();
        crds.patch(&name, &params, &Patch::Apply(&annotated))
            .await
            .unwrap_or_else(|e| {
                panic!("{name} with its last-applied annotation was rejected: {e}")
            });

        let live = crds
            .get(&name)
            .await
            .unwrap_or_else(|e| panic!("reading {name}: {e}"));
        let conditions = live.status.and_then(|s| s.conditions).unwrap_or_default();
        let established = conditions
            .iter()
            .any(|c| c.type_ == "Established" && c.status == "True");
        assert!(established, "{name} is not Established: {conditions:?}");
        let problems: Vec<_> = conditions
            .iter()
            .filter(|c| c.type_ == "NonStructuralSchema" && c.status == "True")
            .collect();
        assert!(problems.is_empty(), "{name}: {problems:?}");
    }

    // The same check fails for a CRD over the budget (RayJob without its opaque subtrees, about 306 KB): the test
    // would notice if the budget stopped holding. Dry run, so the installed CRD stays as it is.
    let too_big =
        ray_crd::crd_at_level(RayKind::RayJob, Some(ray_crd::Level::Lossless)).expect("assembles");
    assert!(ray_crd::compact_json_size(&too_big).expect("serializes") > ray_crd::SIZE_BUDGET);
    let mut annotated = too_big.clone();
    annotated.metadata.annotations = Some(BTreeMap::from([(
        "kubectl.kubernetes.io/last-applied-configuration".to_owned(),
        serde_json::to_string(&too_big).expect("the CRD serializes"),
    )]));
    let mut params = PatchParams::apply(MANAGER).force();
    params.dry_run = true;
    let error = crds
        .patch("rayjobs.ray.io", &params, &Patch::Apply(&annotated))
        .await
        .expect_err("an annotation over 262,144 bytes is rejected");
    assert!(error.to_string().contains("Too long"), "{error}");
}

#[tokio::test]
async fn a_rayjob_reads_back_with_every_field_it_was_written_with() {
    let client = client_with_crds().await;
    let namespace = create_namespace(&client, "crd-roundtrip")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let jobs = api(&client, &namespace, RayKind::RayJob, "v1");
    let written = rayjob("ray.io/v1", "busy");
    let object: DynamicObject = serde_json::from_value(written.clone()).expect("a dynamic object");
    let params = PatchParams::apply(MANAGER).validation_strict();
    jobs.patch("busy", &params, &Patch::Apply(&object))
        .await
        .unwrap_or_else(|e| panic!("creating the RayJob: {e}"));

    let live = jobs
        .get("busy")
        .await
        .unwrap_or_else(|e| panic!("reading the RayJob: {e}"));
    let mut spec = live.data["spec"].clone();
    // The schema's defaults are filled in; everything else must be exactly what was written.
    let defaults = [
        ("/submissionMode", json!("K8sJobMode")),
        ("/ttlSecondsAfterFinished", json!(0)),
        ("/backoffLimit", json!(0)),
        ("/rayClusterSpec/workerGroupSpecs/0/numOfHosts", json!(1)),
        ("/rayClusterSpec/workerGroupSpecs/0/priority", json!(0)),
    ];
    for (pointer, value) in defaults {
        assert_eq!(spec.pointer(pointer), Some(&value), "default at {pointer}");
    }
    if let Some(map) = spec.as_object_mut() {
        map.remove("submissionMode");
        map.remove("ttlSecondsAfterFinished");
        map.remove("backoffLimit");
    }
    if let Some(group) = spec
        .pointer_mut("/rayClusterSpec/workerGroupSpecs/0")
        .and_then(Value::as_object_mut)
    {
        group.remove("numOfHosts");
        group.remove("priority");
    }
    assert_eq!(
        spec, written["spec"],
        "the stored spec differs from the written one"
    );
}

#[tokio::test]
async fn fields_that_cannot_carry_data_are_rejected_not_dropped() {
    let client = client_with_crds().await;
    let namespace = create_namespace(&client, "crd-strict")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let jobs = api(&client, &namespace, RayKind::RayJob, "v1");
    let mut manifest = rayjob("ray.io/v1", "debug");
    manifest["spec"]["rayClusterSpec"]["headGroupSpec"]["template"]["spec"]["ephemeralContainers"] =
        json!([{ "name": "debug", "image": "busybox" }]);
    let object: DynamicObject = serde_json::from_value(manifest).expect("a dynamic object");
    let params = PatchParams::apply(MANAGER).validation_strict();
    let error = jobs
        .patch("debug", &params, &Patch::Apply(&object))
        .await
        .expect_err("strict validation rejects it");
    let message = error.to_string();
    assert!(
        message.contains("ephemeralContainers"),
        "the rejection names the field: {message}"
    );
}

/// The bounds of `ray_crd::bounds`: the API server itself rejects a container without an image, a port out of
/// range and an unknown protocol at apply time, naming each field.
#[tokio::test]
async fn pod_and_service_bounds_are_enforced_at_apply() {
    let client = client_with_crds().await;
    let namespace = create_namespace(&client, "crd-bounds")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let jobs = api(&client, &namespace, RayKind::RayJob, "v1");
    let mut manifest = rayjob("ray.io/v1", "bounds");
    let cluster = &mut manifest["spec"]["rayClusterSpec"];
    cluster["headGroupSpec"]["template"]["spec"]["containers"][0]
        .as_object_mut()
        .expect("a container")
        .remove("image");
    cluster["workerGroupSpecs"][0]["template"]["spec"]["containers"][0]["ports"] =
        json!([{ "containerPort": 70000 }]);
    cluster["headGroupSpec"]["headService"] =
        json!({ "spec": { "ports": [{ "name": "http", "port": 0, "protocol": "HTTP" }] } });
    let object: DynamicObject = serde_json::from_value(manifest).expect("a dynamic object");
    let error = jobs
        .patch(
            "bounds",
            &PatchParams::apply(MANAGER),
            &Patch::Apply(&object),
        )
        .await
        .expect_err("the API server rejects it");
    let message = error.to_string();
    for field in [
        "spec.rayClusterSpec.headGroupSpec.template.spec.containers[0].image",
        "spec.rayClusterSpec.workerGroupSpecs[0].template.spec.containers[0].ports[0].containerPort",
        "spec.rayClusterSpec.headGroupSpec.headService.spec.ports[0].port",
        "spec.rayClusterSpec.headGroupSpec.headService.spec.ports[0].protocol",
    ] {
        assert!(
            message.contains(field),
            "the rejection names {field}: {message}"
        );
    }
}

#[tokio::test]
async fn v1alpha1_objects_are_served_and_stored_as_v1() {
    let client = client_with_crds().await;
    let namespace = create_namespace(&client, "crd-v1alpha1")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let old = api(&client, &namespace, RayKind::RayJob, "v1alpha1");
    let object: DynamicObject =
        serde_json::from_value(rayjob("ray.io/v1alpha1", "old")).expect("a dynamic object");
    let params = PatchParams::apply(MANAGER).validation_strict();
    old.patch("old", &params, &Patch::Apply(&object))
        .await
        .unwrap_or_else(|e| panic!("writing v1alpha1: {e}"));
    let through_v1 = api(&client, &namespace, RayKind::RayJob, "v1")
        .get("old")
        .await
        .unwrap_or_else(|e| panic!("reading through v1: {e}"));
    let api_version = through_v1.types.map(|t| t.api_version).unwrap_or_default();
    assert_eq!(api_version, "ray.io/v1");
    assert_eq!(through_v1.data["spec"]["entrypoint"], "python main.py");
    assert_eq!(
        through_v1
            .data
            .pointer("/spec/rayClusterSpec/headGroupSpec/template/spec/affinity"),
        pod_template("x").pointer("/spec/affinity"),
        "the opaque affinity survives the v1alpha1 write"
    );
}
