//! Malformed input gives an error naming the field (or the YAML position), never a panic.

use ray_api_v1::parse::{
    Document, ParseError, ParsedObject, RayObject, deserialize_reporting_unknown, from_json_value,
    from_yaml_documents, from_yaml_str, read_documents, yaml_value,
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
        RayObject::from_json_value(json!({ "apiVersion": "ray.io/v1", "kind": "RayBatch" }))
            .expect_err("kind"),
    );
    assert_eq!(path, "kind");
    assert!(message.contains("RayBatch"), "{message}");
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

/// A RayCluster as KubeRay's samples write it: with a ConfigMap volume and a few YAML 1.1 spellings.
const CLUSTER_WITH_VOLUME: &str = r#"
apiVersion: ray.io/v1
kind: RayCluster
metadata:
  name: demo
  labels:
    mode: "0777"
    enabled: "yes"
spec:
  enableInTreeAutoscaling: yes
  headGroupSpec:
    rayStartParams:
      num-cpus: "0777"
    template:
      spec:
        containers:
          - name: ray-head
            image: rayproject/ray:2.9.0
        volumes:
          - name: scripts
            configMap:
              name: scripts
              defaultMode: 0777
          - name: hex
            configMap:
              name: scripts
              defaultMode: 0x1F
"#;

fn ray_documents(text: &str) -> Vec<Document> {
    read_documents(text)
        .expect("well-formed YAML")
        .into_iter()
        .map(|document| document.expect("a readable document"))
        .collect()
}

fn only_cluster(text: &str) -> (RayCluster, Vec<String>) {
    match ray_documents(text).pop() {
        Some(Document::Ray(ParsedObject {
            object: RayObject::Cluster(cluster),
            unknown_fields,
        })) => (cluster, unknown_fields),
        other => panic!("expected a RayCluster, got {other:?}"),
    }
}

#[test]
fn yaml_1_1_scalars_read_as_kubectl_reads_them() {
    let (cluster, unknown) = only_cluster(CLUSTER_WITH_VOLUME);
    assert_eq!(unknown, Vec::<String>::new());
    let volumes = cluster
        .spec
        .head_group_spec
        .template
        .spec
        .as_ref()
        .expect("pod spec")
        .volumes
        .clone()
        .expect("volumes");
    let modes: Vec<Option<i32>> = volumes
        .iter()
        .map(|volume| {
            volume
                .config_map
                .as_ref()
                .and_then(|source| source.default_mode)
        })
        .collect();
    // 0777 is octal (YAML 1.1, as kubectl reads it), 0x1F hexadecimal.
    assert_eq!(modes, [Some(0o777), Some(31)]);
    assert_eq!(modes[0], Some(511));
    // `yes` is a boolean, as in kubectl.
    assert!(cluster.spec.enable_in_tree_autoscaling);
    // Quoted values stay strings, exactly as written.
    assert_eq!(
        cluster.spec.head_group_spec.ray_start_params["num-cpus"],
        "0777"
    );
    let labels = cluster.metadata.labels.expect("labels");
    assert_eq!(labels["mode"], "0777");
    assert_eq!(labels["enabled"], "yes");

    // The same rules hold for YAML inside string fields (runtimeEnvYAML, serveConfigV2), as KubeRay reads those.
    assert_eq!(
        yaml_value("mode: 0777\nhex: 0x1F\nflag: off\nquoted: \"0777\"\nplain: 0.5\n")
            .expect("yaml"),
        Some(json!({ "mode": 511, "hex": 31, "flag": false, "quoted": "0777", "plain": 0.5 }))
    );
}

#[test]
fn files_mixing_in_other_kinds_keep_their_ray_objects() {
    let text = format!(
        r#"
apiVersion: v1
kind: ConfigMap
metadata:
  name: scripts
data:
  run.py: print("hi")
---
{CLUSTER}
---
apiVersion: scheduling.volcano.sh/v1beta1
kind: Queue
metadata:
  generateName: kuberay-test-queue-
---
apiVersion: ray.io/v1alpha1
kind: RayCluster
metadata:
  name: old
spec: {{}}
"#
    );
    let documents = ray_documents(&text);
    assert_eq!(documents.len(), 4, "{documents:?}");
    match &documents[0] {
        Document::Other(other) => assert_eq!(other.to_string(), "ConfigMap v1 \"scripts\""),
        other => panic!("{other:?}"),
    }
    match &documents[1] {
        Document::Ray(parsed) => assert_eq!(
            (parsed.object.kind(), parsed.object.name()),
            ("RayCluster", "demo")
        ),
        other => panic!("{other:?}"),
    }
    match &documents[2] {
        Document::Other(other) => assert_eq!(
            other.to_string(),
            "Queue scheduling.volcano.sh/v1beta1 \"kuberay-test-queue-\""
        ),
        other => panic!("{other:?}"),
    }
    match &documents[3] {
        Document::V1alpha1 { kind, value } => {
            assert_eq!(kind, "RayCluster");
            assert_eq!(value["metadata"]["name"], "old");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn documents_that_are_not_objects_or_unknown_ray_kinds_are_errors() {
    let text = "- a\n- b\n---\nmetadata: {name: x}\n---\napiVersion: ray.io/v1\nkind: RayBatch\nmetadata: {name: x}\n---\napiVersion: ray.io/v2\nkind: RayCluster\n---\nkind: ConfigMap\n";
    let results = read_documents(text).expect("well-formed YAML");
    let errors: Vec<(String, String)> = results
        .into_iter()
        .map(|result| field_error(result.expect_err("every document is wrong")))
        .collect();
    assert_eq!(errors[0].0, "");
    assert!(errors[0].1.contains("found a list"), "{:?}", errors[0]);
    assert_eq!(errors[1].0, "kind");
    assert!(errors[1].1.starts_with("missing"), "{:?}", errors[1]);
    assert_eq!(errors[2].0, "kind");
    assert!(
        errors[2].1.contains("RayBatch") && errors[2].1.contains("does not implement"),
        "{:?}",
        errors[2]
    );
    assert_eq!(errors[3].0, "apiVersion");
    assert!(errors[3].1.contains("\"ray.io/v2\""), "{:?}", errors[3]);
    assert_eq!(errors[4].0, "apiVersion");
    assert_eq!(errors.len(), 5);
}

#[test]
fn generate_name_objects_read_and_validate_without_a_name() {
    let text = CLUSTER.replace("  name: demo\n", "  generateName: demo-\n");
    let (cluster, _) = only_cluster(&text);
    assert_eq!(cluster.metadata.name, None);
    assert_eq!(cluster.metadata.generate_name.as_deref(), Some("demo-"));
    assert_eq!(ray_api_v1::validate_cluster(&cluster), Ok(()));

    let text = CLUSTER.replace("  name: demo\n", "  labels: {a: b}\n");
    let (cluster, _) = only_cluster(&text);
    let errors = ray_api_v1::validate_cluster(&cluster).expect_err("no name");
    assert!(errors.to_string().contains("metadata.name"), "{errors}");
}

#[test]
fn unknown_fields_are_listed_by_path() {
    let text = CLUSTER
        .replace("  name: demo\n", "  name: demo\n  lables: {a: b}\n")
        .replace(
            "spec:\n  headGroupSpec:\n",
            "spec:\n  headGroupSpec:\n    foo: 1\n    rayStartParam: {}\n",
        )
        .replace(
            "            image: rayproject/ray:2.9.0\n  workerGroupSpecs",
            "            image: rayproject/ray:2.9.0\n            imagePullPolice: Always\n  workerGroupSpecs",
        )
        .replace("      replicas: 1\n", "      replicas: 1\n      replica: 2\n")
        + "status_: {}\n";
    let (cluster, unknown) = only_cluster(&text);
    assert_eq!(
        unknown,
        [
            "metadata.lables",
            "spec.headGroupSpec.foo",
            "spec.headGroupSpec.rayStartParam",
            "spec.headGroupSpec.template.spec.containers[0].imagePullPolice",
            "spec.workerGroupSpecs[0].replica",
            "status_",
        ]
    );
    // The object is still read: unknown fields are left out, the rest is kept.
    assert_eq!(cluster.spec.worker_group_specs[0].replicas, Some(1));

    // Strict reading refuses the object, one error per field, each naming its path.
    let Document::Ray(parsed) = ray_documents(&text).remove(0) else {
        panic!("a Ray object");
    };
    let errors = parsed.strict().expect_err("unknown fields");
    assert_eq!(errors.len(), 6);
    let first = errors[0].to_string();
    assert!(
        first.starts_with("metadata.lables: unknown field: RayCluster has no such field"),
        "{first}"
    );
    // Without unknown fields, strict reading gives the object.
    let Document::Ray(parsed) = ray_documents(CLUSTER).remove(0) else {
        panic!("a Ray object");
    };
    assert_eq!(parsed.strict().expect("no unknown field").name(), "demo");
}

#[test]
fn unknown_fields_of_other_types_are_found_too() {
    #[derive(serde::Deserialize)]
    struct Small {
        #[allow(dead_code)]
        name: String,
    }
    let (_, unknown) = deserialize_reporting_unknown::<Vec<Small>>(
        json!([{ "name": "a" }, { "name": "b", "nmae": "c" }]),
    )
    .expect("reads");
    assert_eq!(unknown, ["[1].nmae"]);
}
