//! Malformed input gives an error naming the field (or the YAML position), never a panic.

use ray_api_v1::parse::{
    ParseError, RayObject, from_json_value, from_yaml_documents, from_yaml_str,
};
use ray_api_v1::{RayCluster, RayJob};
use serde_json::json;

const CLUSTER: &str = r#"
apiVersion: ray.io/v1
kind: RayCluster
metadata:
  name: demo
spec:
  headGroupSpec:
    template:
      spec:
        containers:
          - name: ray-head
            image: rayproject/ray:2.9.0
  workerGroupSpecs:
    - groupName: cpu
      replicas: 1
      template:
        spec:
          containers:
            - name: ray-worker
              image: rayproject/ray:2.9.0
"#;

fn field_error(error: ParseError) -> (String, String) {
    match error {
        ParseError::Field { path, message } => (path, message),
        other => panic!("expected a field error, got {other:?}"),
    }
}

#[test]
fn a_manifest_reads_and_validates() {
    let cluster: RayCluster = from_yaml_str(CLUSTER).expect("valid manifest");
    assert_eq!(cluster.spec.worker_group_specs[0].replicas, Some(1));
    assert_eq!(ray_api_v1::validate_cluster(&cluster), Ok(()));
}

#[test]
fn wrong_types_name_the_field() {
    let text = CLUSTER.replace("replicas: 1", "replicas: \"a\"");
    let (path, message) =
        field_error(from_yaml_str::<RayCluster>(&text).expect_err("string replicas"));
    assert_eq!(path, "spec.workerGroupSpecs[0].replicas");
    assert_eq!(message, r#"invalid type: string "a", expected i32"#);

    let text = CLUSTER.replace(
        "image: rayproject/ray:2.9.0\n  workerGroupSpecs",
        "image: [1]\n  workerGroupSpecs",
    );
    let (path, message) = field_error(from_yaml_str::<RayCluster>(&text).expect_err("list image"));
    assert_eq!(path, "spec.headGroupSpec.template.spec.containers[0].image");
    assert!(message.contains("invalid type: sequence"), "{message}");
}

#[test]
fn missing_required_fields_name_the_parent() {
    let error = from_json_value::<RayCluster>(json!({
        "apiVersion": "ray.io/v1", "kind": "RayCluster", "metadata": { "name": "x" },
        "spec": { "headGroupSpec": { "rayStartParams": {} } }
    }))
    .expect_err("no template");
    let (path, message) = field_error(error);
    assert_eq!(path, "spec.headGroupSpec");
    assert_eq!(message, "missing field `template`");
}

#[test]
fn unknown_enum_values_name_the_field_and_the_choices() {
    let error = from_json_value::<RayJob>(json!({
        "apiVersion": "ray.io/v1", "kind": "RayJob", "metadata": { "name": "x" },
        "spec": { "entrypoint": "python x.py", "submissionMode": "Foo", "clusterSelector": { "ray.io/cluster": "c" } }
    }))
    .expect_err("unknown mode");
    let (path, message) = field_error(error);
    assert_eq!(path, "spec.submissionMode");
    assert!(message.contains("unknown variant `Foo`"), "{message}");
    assert!(
        message.contains("K8sJobMode") && message.contains("HTTPMode"),
        "{message}"
    );

    let text = CLUSTER
        .replace("kind: RayCluster\n", "kind: RayCluster\nspec_ignored: 1\n")
        .replace(
            "  workerGroupSpecs:",
            "  autoscalerOptions:\n    upscalingMode: Fast\n  workerGroupSpecs:",
        );
    let (path, message) =
        field_error(from_yaml_str::<RayCluster>(&text).expect_err("unknown mode"));
    assert_eq!(path, "spec.autoscalerOptions.upscalingMode");
    assert!(message.contains("unknown variant `Fast`"), "{message}");
}

#[test]
fn broken_yaml_reports_the_position() {
    let text = "apiVersion: ray.io/v1\nkind: RayCluster\nmetadata:\n  name: [demo\n";
    match from_yaml_str::<RayCluster>(text).expect_err("broken") {
        ParseError::Syntax {
            line,
            column,
            message,
        } => {
            assert!(line.is_some() && column.is_some(), "{line:?} {column:?}");
            assert!(
                !message.contains(" at line "),
                "the position is printed once: {message}"
            );
        }
        other => panic!("expected a syntax error, got {other:?}"),
    }
    let error = from_yaml_str::<RayCluster>("a: b: c").expect_err("broken");
    assert_eq!(
        error.to_string(),
        "line 1, column 5: mapping values are not allowed in this context"
    );
    let error = from_yaml_str::<RayCluster>("a: 1\na: 2\n").expect_err("duplicate key");
    assert!(
        error
            .to_string()
            .starts_with("line 2, column 1: duplicate mapping key"),
        "{error}"
    );
}

#[test]
fn wrong_api_version_or_kind_is_named() {
    let text = CLUSTER.replace("ray.io/v1", "ray.io/v1alpha1");
    let (path, message) = field_error(from_yaml_str::<RayCluster>(&text).expect_err("v1alpha1"));
    assert_eq!(path, "apiVersion");
    assert!(message.contains("ray.io/v1alpha1"), "{message}");

    let (path, _) =
        field_error(from_yaml_str::<RayJob>(CLUSTER).expect_err("cluster read as a job"));
    assert_eq!(path, "kind");

    let (path, message) = field_error(
        RayObject::from_json_value(json!({ "apiVersion": "ray.io/v1", "kind": "RayCronJob" }))
            .expect_err("kind"),
    );
    assert_eq!(path, "kind");
    assert!(message.contains("RayCronJob"), "{message}");
}

#[test]
fn multi_document_streams() {
    let job = r#"
apiVersion: ray.io/v1
kind: RayJob
metadata:
  name: job
spec:
  entrypoint: python x.py
  clusterSelector:
    ray.io/cluster: demo
"#;
    let text = format!("{CLUSTER}---\n{job}---\n");
    let objects = from_yaml_documents(&text).expect("two documents");
    assert_eq!(
        objects.iter().map(RayObject::kind).collect::<Vec<_>>(),
        ["RayCluster", "RayJob"]
    );
    assert_eq!(
        objects.iter().map(RayObject::name).collect::<Vec<_>>(),
        ["demo", "job"]
    );
    assert!(objects.iter().all(|o| o.validate().is_ok()));

    let broken = format!(
        "{CLUSTER}---\n{}",
        job.replace("entrypoint: python x.py", "entrypoint: [python]")
    );
    let error = from_yaml_documents(&broken).expect_err("second document broken");
    assert!(
        matches!(&error, ParseError::Document { index: 1, .. }),
        "{error:?}"
    );
    assert!(
        error
            .to_string()
            .starts_with("document 2: spec.entrypoint: invalid type: sequence"),
        "{error}"
    );

    let error = from_yaml_str::<RayCluster>(&text).expect_err("two documents for one object");
    assert!(error.to_string().contains("found 2"), "{error}");
    assert!(from_yaml_str::<RayCluster>("").is_err());
    assert_eq!(
        from_yaml_documents("---\n---\n")
            .expect("empty stream")
            .len(),
        0
    );
}

#[test]
fn hostile_input_never_panics() {
    let deep = format!("{}1{}", "[".repeat(10_000), "]".repeat(10_000));
    assert!(from_yaml_documents(&deep).is_err());
    let laughs = "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]\ng: [*f, *f, *f, *f, *f, *f, *f, *f, *f]\n";
    let _ = from_yaml_documents(laughs);
    for text in [
        "\u{0}",
        "{",
        "]",
        "- - -",
        "? a",
        "!!binary x",
        "key: !!int x",
        "\u{feff}",
        "&a *a",
        "a: *missing",
    ] {
        let _ = from_yaml_documents(text);
        let _ = from_yaml_str::<RayCluster>(text);
    }
    // Strings inside the objects are parsed too (runtimeEnvYAML, serveConfigV2).
    let job: RayJob = from_json_value(json!({
        "apiVersion": "ray.io/v1", "kind": "RayJob", "metadata": { "name": "x" },
        "spec": { "entrypoint": "x", "clusterSelector": { "ray.io/cluster": "c" }, "runtimeEnvYAML": deep }
    }))
    .expect("a string is a string");
    assert!(ray_api_v1::validate_job(&job).is_err());
}
