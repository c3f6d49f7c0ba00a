//! The shrink table fits the generated schemas of every kind and version, and does what docs/crds.md says.

mod common;

use ray_crd::RayKind;
use ray_crd::shrink::{EMBEDDINGS, ShrinkError, ShrinkReport, shrink_schema};
use serde_json::{Value, json};

use common::{version_names, version_schema};

/// Shrinks every version of `kind` from the unshrunk CRD and returns (version, report).
fn reports(kind: RayKind) -> Vec<(String, ShrinkReport)> {
    let crd = ray_crd::crd_at_level(kind, None).expect("the CRD assembles");
    let crd = ray_crd::crd_json(&crd).expect("to JSON");
    version_names(&crd)
        .into_iter()
        .map(|version| {
            let mut schema = version_schema(&crd, &version).expect("schema").clone();
            let report = shrink_schema(&mut schema).expect("the table fits the generated schema");
            (version, report)
        })
        .collect()
}

#[test]
fn every_embedding_is_found_somewhere() {
    let all: Vec<(RayKind, String, ShrinkReport)> = RayKind::ALL
        .into_iter()
        .flat_map(|kind| reports(kind).into_iter().map(move |(v, r)| (kind, v, r)))
        .collect();
    for embedding in EMBEDDINGS {
        let found = all.iter().any(|(_, _, report)| {
            report
                .embeddings
                .iter()
                .any(|path| path == embedding.at || path.ends_with(&format!(".{}", embedding.at)))
        });
        assert!(
            found,
            "shrink table entry `{}` ({}) matches no schema",
            embedding.at, embedding.type_name
        );
    }
    println!("opaque subtrees and removed fields:");
    for (kind, version, report) in &all {
        for path in &report.opaque {
            println!("  {kind} {version} opaque   {path}");
        }
        for path in &report.removed {
            println!("  {kind} {version} removed  {path}");
        }
    }
}

#[test]
fn rayjob_v1_is_reduced_in_all_three_pod_templates() {
    let (_, report) = reports(RayKind::RayJob)
        .into_iter()
        .find(|(v, _)| v == "v1")
        .expect("v1");
    let templates = [
        "spec.rayClusterSpec.headGroupSpec.template",
        "spec.rayClusterSpec.workerGroupSpecs[].template",
        "spec.submitterPodTemplate",
    ];
    let mut expected_opaque: Vec<String> = templates
        .iter()
        .flat_map(|t| [format!("{t}.spec.affinity"), format!("{t}.spec.volumes[]")])
        .collect();
    let mut expected_removed: Vec<String> = templates
        .iter()
        .map(|t| format!("{t}.spec.ephemeralContainers"))
        .collect();
    expected_removed.push("spec.rayClusterSpec.headGroupSpec.headService.status".into());
    let mut opaque = report.opaque.clone();
    let mut removed = report.removed.clone();
    for list in [
        &mut expected_opaque,
        &mut opaque,
        &mut expected_removed,
        &mut removed,
    ] {
        list.sort();
    }
    assert_eq!(opaque, expected_opaque);
    assert_eq!(removed, expected_removed);
}

#[test]
fn opaque_subtrees_keep_what_the_operator_reads() {
    let crd = common::crd_json(RayKind::RayCluster);
    let schema = version_schema(&crd, "v1").expect("schema");
    let pod = &schema["properties"]["spec"]["properties"]["headGroupSpec"]["properties"]["template"]
        ["properties"]["spec"];
    let affinity = &pod["properties"]["affinity"];
    assert_eq!(affinity["type"], "object");
    assert_eq!(affinity["x-kubernetes-preserve-unknown-fields"], true);
    assert!(
        affinity["description"]
            .as_str()
            .is_some_and(|d| d.contains("kubectl explain pod.spec.affinity"))
    );
    assert!(affinity.get("properties").is_none());

    let volume = &pod["properties"]["volumes"]["items"];
    assert_eq!(volume["x-kubernetes-preserve-unknown-fields"], true);
    assert_eq!(
        volume["properties"],
        json!({ "name": { "type": "string" } })
    );
    assert_eq!(volume["required"], json!(["name"]));

    let container = &pod["properties"]["containers"]["items"]["properties"];
    for field in [
        "name",
        "image",
        "command",
        "args",
        "env",
        "envFrom",
        "resources",
        "ports",
        "volumeMounts",
    ] {
        let node = &container[field];
        assert!(node.is_object(), "containers[].{field} is in the schema");
        assert!(
            node.get("x-kubernetes-preserve-unknown-fields").is_none(),
            "containers[].{field} keeps its schema"
        );
    }
    assert_eq!(
        container["env"]["items"]["properties"]["name"]["type"],
        "string"
    );
    assert!(pod["properties"].get("ephemeralContainers").is_none());
    let metadata = &schema["properties"]["spec"]["properties"]["headGroupSpec"]["properties"]["template"]
        ["properties"]["metadata"];
    assert_eq!(
        metadata["properties"]["labels"]["additionalProperties"]["type"],
        "string"
    );
    assert_eq!(
        metadata["properties"]["annotations"]["additionalProperties"]["type"],
        "string"
    );
    assert_eq!(pod["properties"]["restartPolicy"]["type"], "string");
}

#[test]
fn our_descriptions_survive_and_kubernetes_ones_do_not() {
    let crd = common::crd_json(RayKind::RayCluster);
    let schema = version_schema(&crd, "v1").expect("schema");
    let head = &schema["properties"]["spec"]["properties"]["headGroupSpec"]["properties"];
    assert!(
        head["template"]["description"]
            .as_str()
            .is_some_and(|d| !d.is_empty()),
        "our field keeps its text"
    );
    assert!(
        head["template"]["properties"]["spec"]
            .get("description")
            .is_none(),
        "PodSpec's text is dropped"
    );
    assert!(
        head["rayStartParams"]["description"]
            .as_str()
            .is_some_and(|d| !d.is_empty())
    );
}

#[test]
fn a_table_that_no_longer_fits_is_an_error_naming_the_field() {
    // Shrinking an already shrunk schema finds nothing to remove (a Service's `status` is found first): the same
    // error a Kubernetes upgrade that renamed a field would cause.
    let crd = common::crd_json(RayKind::RayCluster);
    let mut schema: Value = version_schema(&crd, "v1").expect("schema").clone();
    let error = shrink_schema(&mut schema).expect_err("the table no longer fits");
    assert!(
        matches!(error, ShrinkError::MissingTarget { .. }),
        "{error:?}"
    );
    let message = error.to_string();
    assert_eq!(
        message,
        "shrink table: Service at `spec.headGroupSpec.headService` has no field `status` to reduce"
    );
}
