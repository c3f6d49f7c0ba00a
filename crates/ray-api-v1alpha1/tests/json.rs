//! The JSON-level `convert` (what a conversion webhook calls) on real YAML manifests, and its errors.

use ray_api_v1alpha1::{ConversionError, V1_PRESERVED_FIELDS_ANNOTATION, convert, convert_strict};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

fn manifest(name: &str) -> Value {
    let path = format!("{}/tests/manifests/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).expect("the manifest exists");
    serde_saphyr::from_str(&text).expect("the manifest is YAML")
}

/// The manifest as our types write it back (unset flags and empty maps are not written).
fn normalized<T: DeserializeOwned + Serialize>(object: &Value) -> Value {
    let typed: T = serde_json::from_value(object.clone()).expect("the manifest matches its types");
    serde_json::to_value(typed).expect("serializes")
}

#[test]
fn v1alpha1_manifests_convert_to_v1_and_back() {
    let cluster = manifest("raycluster-v1alpha1.yaml");
    let up = convert(cluster.clone(), "ray.io/v1").expect("converts");
    assert_eq!(up["apiVersion"], "ray.io/v1");
    assert_eq!(up["kind"], "RayCluster");
    assert_eq!(
        up["spec"]["workerGroupSpecs"][0]["groupName"],
        "small-group"
    );
    assert_eq!(up["spec"]["autoscalerOptions"]["upscalingMode"], "Default");
    // `unhealthy` has no v1 value: the v1 object shows no state and remembers it in its annotation.
    assert!(up["status"].get("state").is_none());
    assert_eq!(
        up["metadata"]["annotations"]["ray.io/v1alpha1-preserved-fields"],
        r#"[{"path":"/status/state","value":"unhealthy"}]"#
    );
    // v1 can read it.
    let _: ray_api_v1::RayCluster = serde_json::from_value(up.clone()).expect("a valid v1 object");
    let down = convert(up, "ray.io/v1alpha1").expect("converts back");
    assert_eq!(down, normalized::<ray_api_v1alpha1::RayCluster>(&cluster));

    for (name, kind) in [
        ("rayjob-v1alpha1.yaml", "RayJob"),
        ("rayservice-v1alpha1.yaml", "RayService"),
    ] {
        let object = manifest(name);
        let up = convert(object.clone(), "ray.io/v1").expect("converts");
        assert_eq!(up["apiVersion"], "ray.io/v1");
        assert_eq!(up["kind"], kind);
        let down = convert_strict(up, "ray.io/v1alpha1").expect("converts back");
        let expected = if kind == "RayJob" {
            normalized::<ray_api_v1alpha1::RayJob>(&object)
        } else {
            normalized::<ray_api_v1alpha1::RayService>(&object)
        };
        assert_eq!(down, expected, "{name}");
    }
}

#[test]
fn health_times_are_kept_on_the_v1_object() {
    let up = convert(manifest("rayservice-v1alpha1.yaml"), "ray.io/v1").expect("converts");
    let app = &up["status"]["activeServiceStatus"]["applicationStatuses"]["fruit_app"];
    assert_eq!(
        app,
        &json!({"status": "RUNNING", "serveDeploymentStatuses": {"MangoStand": {"status": "HEALTHY"}}})
    );
    let preserved: Value = serde_json::from_str(
        up["metadata"]["annotations"]["ray.io/v1alpha1-preserved-fields"]
            .as_str()
            .expect("annotated"),
    )
    .expect("the annotation is JSON");
    assert_eq!(preserved.as_array().map(Vec::len), Some(2));
}

#[test]
fn a_v1_manifest_keeps_its_v1_only_fields_through_v1alpha1() {
    let job = manifest("rayjob-v1.yaml");
    let down = convert(job.clone(), "ray.io/v1alpha1").expect("converts");
    assert_eq!(down["apiVersion"], "ray.io/v1alpha1");
    let spec = &down["spec"];
    for v1_only in ["activeDeadlineSeconds", "submissionMode", "submitterConfig"] {
        assert!(
            spec.get(v1_only).is_none(),
            "{v1_only} is not a v1alpha1 field"
        );
    }
    assert_eq!(spec["entrypoint"], "", "v1alpha1 requires an entrypoint");
    assert!(
        spec["rayClusterSpec"]["workerGroupSpecs"][0]
            .get("numOfHosts")
            .is_none()
    );
    assert!(down["status"].get("reason").is_none());
    assert!(
        down["status"]["rayClusterStatus"]
            .get("conditions")
            .is_none()
    );
    assert_eq!(
        down["status"]["rayClusterStatus"]["head"],
        json!({"podIP": "10.1.2.3"})
    );
    assert_eq!(down["status"]["jobDeploymentStatus"], "Failed");
    assert_eq!(down["metadata"]["annotations"]["owner"], "ml-platform");

    let preserved: Vec<Value> = serde_json::from_str(
        down["metadata"]["annotations"][V1_PRESERVED_FIELDS_ANNOTATION]
            .as_str()
            .expect("annotated"),
    )
    .expect("the annotation is a JSON list");
    let paths: Vec<&str> = preserved
        .iter()
        .filter_map(|entry| entry["path"].as_str())
        .collect();
    assert_eq!(
        paths,
        [
            "/spec/activeDeadlineSeconds",
            "/spec/entrypoint",
            "/spec/rayClusterSpec/workerGroupSpecs/groupName=tpu-group/numOfHosts",
            "/spec/submissionMode",
            "/spec/submitterConfig",
            "/status/rayClusterStatus/conditions",
            "/status/rayClusterStatus/head/podName",
            "/status/rayClusterStatus/readyWorkerReplicas",
            "/status/reason",
        ]
    );

    let up = convert_strict(down, "ray.io/v1").expect("converts back");
    assert_eq!(up, normalized::<ray_api_v1::RayJob>(&job));
}

#[test]
fn an_object_already_in_the_desired_version_is_returned_unchanged() {
    let cluster = manifest("raycluster-v1alpha1.yaml");
    assert_eq!(
        convert(cluster.clone(), "ray.io/v1alpha1").expect("no-op"),
        cluster
    );
}

#[test]
fn errors_name_what_is_wrong() {
    let cluster = manifest("raycluster-v1alpha1.yaml");

    let mut no_version = cluster.clone();
    no_version
        .as_object_mut()
        .expect("an object")
        .remove("apiVersion");
    let error = convert(no_version, "ray.io/v1").expect_err("no apiVersion");
    assert_eq!(
        error,
        ConversionError::MissingField {
            field: "apiVersion"
        }
    );
    assert!(error.to_string().contains("`apiVersion`"));

    let mut cron = cluster.clone();
    cron["kind"] = json!("RayCronJob");
    let error = convert(cron, "ray.io/v1").expect_err("RayCronJob has no v1alpha1");
    assert!(error.to_string().contains("`RayCronJob`"), "{error}");

    let mut other_group = cluster.clone();
    other_group["apiVersion"] = json!("batch/v1");
    let error = convert(other_group, "ray.io/v1").expect_err("not ray.io");
    assert!(
        error
            .to_string()
            .contains("the object's `apiVersion` is `batch/v1`"),
        "{error}"
    );

    let error = convert(cluster.clone(), "ray.io/v2").expect_err("no such version");
    assert!(
        error
            .to_string()
            .contains("the desired API version is `ray.io/v2`"),
        "{error}"
    );

    let mut invalid = cluster.clone();
    invalid["spec"]["workerGroupSpecs"][0]["replicas"] = json!("three");
    let error = convert(invalid, "ray.io/v1").expect_err("replicas must be a number");
    let message = error.to_string();
    assert!(message.contains("ray.io/v1alpha1 RayCluster"), "{message}");
    assert!(
        message.contains("`spec.workerGroupSpecs[0].replicas`"),
        "{message}"
    );

    let mut no_entrypoint = manifest("rayjob-v1alpha1.yaml");
    no_entrypoint["spec"]
        .as_object_mut()
        .expect("a spec")
        .remove("entrypoint");
    let message = convert(no_entrypoint, "ray.io/v1")
        .expect_err("entrypoint is required")
        .to_string();
    assert!(message.contains("entrypoint"), "{message}");
}

#[test]
fn a_garbage_annotation_fails_only_the_strict_conversion() {
    let mut cluster = manifest("raycluster-v1alpha1.yaml");
    cluster["metadata"]["annotations"] =
        json!({ V1_PRESERVED_FIELDS_ANNOTATION: "[{\"path\": 42}]" });
    let up = convert(cluster.clone(), "ray.io/v1").expect("lenient");
    assert!(
        up["metadata"]["annotations"]
            .get(V1_PRESERVED_FIELDS_ANNOTATION)
            .is_none()
    );
    let error = convert_strict(cluster, "ray.io/v1").expect_err("strict");
    assert!(
        matches!(error, ConversionError::PreservedFields { .. }),
        "{error}"
    );
}
