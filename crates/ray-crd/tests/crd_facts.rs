//! The CRD-level facts KubeRay users and tools rely on: names, versions, subresources, categories, printer columns,
//! conversion, defaults; and that the YAML we write is exactly the CRD.

mod common;

use ray_crd::{RayKind, crd_files};
use serde_json::{Value, json};

use common::{crd_json, version_names, version_schema};

#[test]
fn names_scope_and_categories_match_kuberay() {
    for (kind, plural, singular) in [
        (RayKind::RayCluster, "rayclusters", "raycluster"),
        (RayKind::RayJob, "rayjobs", "rayjob"),
        (RayKind::RayService, "rayservices", "rayservice"),
        (RayKind::RayCronJob, "raycronjobs", "raycronjob"),
    ] {
        let crd = crd_json(kind);
        assert_eq!(crd["metadata"]["name"], format!("{plural}.ray.io"));
        assert_eq!(crd["spec"]["group"], "ray.io");
        assert_eq!(crd["spec"]["scope"], "Namespaced");
        assert_eq!(
            crd["spec"]["names"],
            json!({ "kind": kind.name(), "plural": plural, "singular": singular, "categories": ["all"] }),
            "{kind}: no shortNames, category all"
        );
        assert_eq!(kind.file_name(), format!("ray.io_{plural}.yaml"));
    }
}

#[test]
fn v1_is_stored_and_only_status_is_a_subresource() {
    for kind in RayKind::ALL {
        let crd = crd_json(kind);
        let versions = crd["spec"]["versions"].as_array().expect("versions");
        let stored: Vec<&Value> = versions.iter().filter(|v| v["storage"] == true).collect();
        assert_eq!(stored.len(), 1, "{kind}: exactly one storage version");
        assert_eq!(stored[0]["name"], "v1");
        assert_eq!(versions[0]["name"], "v1", "{kind}: v1 is listed first");
        for version in versions {
            assert_eq!(
                version["served"], true,
                "{kind} {}: served",
                version["name"]
            );
            assert_eq!(
                version["subresources"],
                json!({ "status": {} }),
                "{kind}: no scale subresource"
            );
        }
        let v1 = &versions[0];
        assert!(
            v1.get("deprecated").is_none() || v1["deprecated"] == false,
            "{kind}: v1 is not deprecated"
        );
        assert_eq!(
            crd["spec"]["conversion"],
            json!({ "strategy": "None" }),
            "{kind}: no conversion webhook"
        );
    }
}

#[test]
fn v1alpha1_is_served_deprecated_and_not_stored() {
    for kind in RayKind::ALL
        .into_iter()
        .filter(|k| k.has_deprecated_version())
    {
        let crd = crd_json(kind);
        assert_eq!(version_names(&crd), ["v1", "v1alpha1"], "{kind}");
        let v1alpha1 = &crd["spec"]["versions"][1];
        assert_eq!(v1alpha1["served"], true);
        assert_eq!(v1alpha1["storage"], false);
        assert_eq!(v1alpha1["deprecated"], true);
        assert_eq!(
            v1alpha1["deprecationWarning"],
            format!(
                "ray.io/v1alpha1 {} is deprecated; use ray.io/v1 {}.",
                kind.name(),
                kind.name()
            )
        );
    }
}

#[test]
fn printer_columns_match_kuberay() {
    // `priority: 0` is left out: the API server drops it, and writing it would make every apply a change.
    let column = |name: &str, type_: &str, path: &str, priority: i64| {
        let mut column = json!({ "name": name, "type": type_, "jsonPath": path });
        if priority != 0 {
            column["priority"] = json!(priority);
        }
        column
    };
    let expected = [
        (
            RayKind::RayCluster,
            vec![
                column(
                    "desired workers",
                    "integer",
                    ".status.desiredWorkerReplicas",
                    0,
                ),
                column(
                    "available workers",
                    "integer",
                    ".status.availableWorkerReplicas",
                    0,
                ),
                column("cpus", "string", ".status.desiredCPU", 0),
                column("memory", "string", ".status.desiredMemory", 0),
                column("gpus", "string", ".status.desiredGPU", 0),
                column("tpus", "string", ".status.desiredTPU", 1),
                column("status", "string", ".status.state", 0),
                column("age", "date", ".metadata.creationTimestamp", 0),
                column("head pod IP", "string", ".status.head.podIP", 1),
                column("head service IP", "string", ".status.head.serviceIP", 1),
            ],
        ),
        (
            RayKind::RayJob,
            vec![
                column("job status", "string", ".status.jobStatus", 0),
                column(
                    "deployment status",
                    "string",
                    ".status.jobDeploymentStatus",
                    0,
                ),
                column("ray cluster name", "string", ".status.rayClusterName", 0),
                column("start time", "string", ".status.startTime", 0),
                column("end time", "string", ".status.endTime", 0),
                column("age", "date", ".metadata.creationTimestamp", 0),
            ],
        ),
        (
            RayKind::RayService,
            vec![
                column("service status", "string", ".status.serviceStatus", 0),
                column(
                    "num serve endpoints",
                    "string",
                    ".status.numServeEndpoints",
                    0,
                ),
            ],
        ),
        (
            RayKind::RayCronJob,
            vec![
                column("schedule", "string", ".spec.schedule", 0),
                column("last schedule", "string", ".status.lastScheduleTime", 0),
                column("age", "date", ".metadata.creationTimestamp", 0),
                column("suspend", "boolean", ".spec.suspend", 0),
            ],
        ),
    ];
    for (kind, columns) in expected {
        let crd = crd_json(kind);
        assert_eq!(
            crd["spec"]["versions"][0]["additionalPrinterColumns"],
            Value::Array(columns),
            "{kind}"
        );
    }
}

#[test]
fn defaults_match_kuberay() {
    let cluster_spec_paths = [
        (RayKind::RayCluster, "spec"),
        (RayKind::RayJob, "spec.rayClusterSpec"),
        (RayKind::RayService, "spec.rayClusterConfig"),
        (RayKind::RayCronJob, "spec.jobTemplate.rayClusterSpec"),
    ];
    for (kind, spec) in cluster_spec_paths {
        let crd = crd_json(kind);
        let schema = version_schema(&crd, "v1").expect("v1 schema");
        for (field, default) in [
            ("replicas", json!(0)),
            ("minReplicas", json!(0)),
            ("maxReplicas", json!(2147483647)),
            ("numOfHosts", json!(1)),
        ] {
            let path = format!("{spec}.workerGroupSpecs[].{field}");
            let node = ray_crd::path::SchemaPath::parse(&path)
                .and_then(|p| p.resolve(schema).cloned())
                .unwrap_or_else(|| panic!("{kind}: {path} is in the schema"));
            assert_eq!(node["default"], default, "{kind}: default of {path}");
        }
    }
    let crd = crd_json(RayKind::RayJob);
    let schema = version_schema(&crd, "v1").expect("v1 schema");
    assert_eq!(
        schema["properties"]["spec"]["properties"]["submissionMode"]["default"],
        "K8sJobMode"
    );
    let crd = crd_json(RayKind::RayCronJob);
    let schema = version_schema(&crd, "v1").expect("v1 schema");
    assert_eq!(
        schema["properties"]["spec"]["properties"]["jobTemplate"]["properties"]["submissionMode"]["default"],
        "K8sJobMode"
    );
}

#[test]
fn raycronjob_is_v1_only() {
    let crd = crd_json(RayKind::RayCronJob);
    assert_eq!(version_names(&crd), ["v1"]);
    assert!(!RayKind::RayCronJob.has_deprecated_version());
    assert!(RayKind::RayJob.has_deprecated_version());
}

#[test]
fn yaml_files_are_exactly_the_crds() {
    let files = crd_files().expect("the CRD files render");
    assert_eq!(
        files.iter().map(|f| f.kind).collect::<Vec<_>>(),
        RayKind::ALL
    );
    for file in &files {
        assert!(
            file.contents.starts_with(ray_crd::HEADER),
            "{}: starts with the header",
            file.file_name
        );
        assert!(
            file.contents.contains("cargo xtask crd"),
            "the header says how to regenerate"
        );
        let parsed: Value = serde_saphyr::from_str(&file.contents).expect("the YAML parses");
        assert_eq!(
            parsed,
            crd_json(file.kind),
            "{}: the YAML reads back as the CRD",
            file.file_name
        );
    }
}

#[test]
fn the_stream_is_every_file_in_order() {
    let files = crd_files().expect("the CRD files render");
    let stream = ray_crd::all_crds_yaml().expect("the stream renders");
    let documents: Vec<Value> = serde_saphyr::from_multiple(&stream).expect("the stream parses");
    let expected: Vec<Value> = files.iter().map(|f| crd_json(f.kind)).collect();
    assert_eq!(documents, expected);
}
