//! The KubeRay 1.7 fields the operator does not support yet: they parse and serialize like every other field, and a
//! value that asks for unsupported behaviour is rejected by name, by the Rust validation and by the CRD's CEL rules
//! alike, with the same message.

use std::sync::OnceLock;

use kube::CustomResourceExt;
use ray_api_v1::parse::{RayObject, from_json_value, from_yaml_str};
use ray_api_v1::validation::unsupported::{Accepted, Holder, UNSUPPORTED_FIELDS, UnsupportedField};
use ray_api_v1::{RayCluster, RayJob, RayService, ValidationErrors};
use serde_json::{Value, json};

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Cluster,
    Job,
    Service,
}

fn pod(name: &str) -> Value {
    json!({ "spec": { "containers": [{ "name": name, "image": "rayproject/ray:2.9.0" }] } })
}

fn cluster_spec() -> Value {
    json!({
        "rayVersion": "2.9.0",
        "enableInTreeAutoscaling": true,
        "autoscalerOptions": { "idleTimeoutSeconds": 60 },
        "headGroupSpec": { "template": pod("ray-head") },
        "workerGroupSpecs": [
            { "groupName": "small", "replicas": 1, "minReplicas": 0, "maxReplicas": 5, "template": pod("ray-worker") }
        ]
    })
}

fn base(kind: Kind) -> Value {
    match kind {
        Kind::Cluster => json!({
            "apiVersion": "ray.io/v1", "kind": "RayCluster", "metadata": { "name": "demo" },
            "spec": cluster_spec()
        }),
        Kind::Job => json!({
            "apiVersion": "ray.io/v1", "kind": "RayJob", "metadata": { "name": "demo" },
            "spec": { "entrypoint": "python main.py", "rayClusterSpec": cluster_spec() }
        }),
        Kind::Service => json!({
            "apiVersion": "ray.io/v1", "kind": "RayService", "metadata": { "name": "demo" },
            "spec": { "serveConfigV2": "applications: []\n", "rayClusterConfig": cluster_spec() }
        }),
    }
}

/// Where the spec holding the field is in an object of `kind`: (JSON pointer, field path).
fn holder_location(kind: Kind, holder: Holder) -> Option<(String, String)> {
    let (pointer, path) = match (kind, holder) {
        (Kind::Service, Holder::ServiceSpec) => return Some(("/spec".into(), "spec".into())),
        (_, Holder::ServiceSpec) => return None,
        (Kind::Cluster, _) => ("/spec", "spec"),
        (Kind::Job, _) => ("/spec/rayClusterSpec", "spec.rayClusterSpec"),
        (Kind::Service, _) => ("/spec/rayClusterConfig", "spec.rayClusterConfig"),
    };
    let (inner_pointer, inner_path) = match holder {
        Holder::ClusterSpec | Holder::ServiceSpec => ("", ""),
        Holder::HeadGroup => ("/headGroupSpec", ".headGroupSpec"),
        Holder::WorkerGroup => ("/workerGroupSpecs/0", ".workerGroupSpecs[0]"),
        Holder::AutoscalerOptions => ("/autoscalerOptions", ".autoscalerOptions"),
        Holder::GcsFaultToleranceOptions => {
            ("/gcsFaultToleranceOptions", ".gcsFaultToleranceOptions")
        }
    };
    Some((
        format!("{pointer}{inner_pointer}"),
        format!("{path}{inner_path}"),
    ))
}

/// Values of each entry that must be rejected, and values that must be accepted.
fn samples(entry: &UnsupportedField) -> (Vec<Value>, Vec<Value>) {
    match (entry.holder, entry.field) {
        (Holder::ClusterSpec, "authOptions") => (
            vec![
                json!({ "mode": "token" }),
                json!({ "mode": "disabled", "secretName": "token" }),
                json!({ "enableK8sTokenAuth": false }),
            ],
            vec![json!({ "mode": "disabled" }), json!({})],
        ),
        (Holder::GcsFaultToleranceOptions, "backend") => {
            (vec![json!("rocksdb")], vec![json!("redis")])
        }
        (Holder::GcsFaultToleranceOptions, "storage") => (
            vec![
                json!({ "size": "1Gi" }),
                json!({ "claimName": "gcs" }),
                json!({}),
            ],
            vec![],
        ),
        (Holder::ClusterSpec, "historyServerOptions") => (
            vec![json!({ "collectorOptions": { "image": "collector:1" } })],
            vec![],
        ),
        (Holder::ClusterSpec, "networkPolicy") => {
            (vec![json!({ "mode": "DenyAllIngress" }), json!({})], vec![])
        }
        (Holder::ClusterSpec, "tlsOptions") => (
            vec![json!({ "enabled": true })],
            vec![json!({ "enabled": false }), json!({})],
        ),
        (Holder::ServiceSpec, "upgradeStrategy") => (
            vec![
                json!({ "type": "NewClusterWithIncrementalUpgrade" }),
                json!({ "type": "NewCluster", "clusterUpgradeOptions": {
                    "stepSizePercent": 10, "intervalSeconds": 30, "gatewayClassName": "istio" } }),
                json!({ "type": "None", "clusterUpgradeOptions": {
                    "stepSizePercent": 10, "intervalSeconds": 30, "gatewayClassName": "istio" } }),
            ],
            vec![
                json!({ "type": "NewCluster" }),
                json!({ "type": "None" }),
                json!({}),
            ],
        ),
        (holder, field) => panic!(
            "no samples for {holder:?} {field}: add rejected and accepted values to samples() in this test"
        ),
    }
}

fn set(doc: &mut Value, pointer: &str, field: &str, value: Value) {
    // The fields of gcsFaultToleranceOptions are set on options that are valid on their own.
    if let Some(spec) = pointer.strip_suffix("/gcsFaultToleranceOptions")
        && doc.pointer(pointer).is_none()
    {
        set(
            doc,
            spec,
            "gcsFaultToleranceOptions",
            json!({ "redisAddress": "redis:6379" }),
        );
    }
    doc.pointer_mut(pointer)
        .and_then(Value::as_object_mut)
        .unwrap_or_else(|| panic!("{pointer} is an object"))
        .insert(field.to_owned(), value);
}

fn validate(doc: &Value) -> Result<(), ValidationErrors> {
    RayObject::from_json_value(doc.clone())
        .unwrap_or_else(|error| panic!("test object does not parse: {error}"))
        .validate()
}

fn crd_schema(kind: Kind) -> Value {
    let crd = match kind {
        Kind::Cluster => RayCluster::crd(),
        Kind::Job => RayJob::crd(),
        Kind::Service => RayService::crd(),
    };
    serde_json::to_value(
        crd.spec.versions[0]
            .schema
            .as_ref()
            .and_then(|s| s.open_api_v3_schema.as_ref())
            .expect("schema"),
    )
    .expect("schema JSON")
}

fn compiled_schema(kind: Kind) -> &'static kube::core::cel::CompiledSchema {
    static SCHEMAS: [OnceLock<kube::core::cel::CompiledSchema>; 3] =
        [OnceLock::new(), OnceLock::new(), OnceLock::new()];
    let index = kind as usize;
    SCHEMAS[index].get_or_init(|| kube::core::cel::compile_schema(&crd_schema(kind)))
}

/// The CEL failures of `doc`: (field path, message).
fn cel_failures(kind: Kind, doc: &Value) -> Vec<(String, String)> {
    match kube::core::cel::Validator::new().validate_compiled(compiled_schema(kind), doc, None) {
        Ok(()) => Vec::new(),
        Err(errors) => errors
            .iter()
            .map(|e| {
                assert_eq!(
                    e.kind,
                    kube::core::cel::ErrorKind::ValidationFailure,
                    "rule {:?} did not evaluate: {e}",
                    e.rule
                );
                (e.field_path.clone(), e.message.clone())
            })
            .collect(),
    }
}

#[test]
fn the_base_objects_are_valid() {
    for kind in [Kind::Cluster, Kind::Job, Kind::Service] {
        assert_eq!(validate(&base(kind)), Ok(()), "{kind:?}");
        assert_eq!(cel_failures(kind, &base(kind)), Vec::new(), "{kind:?}");
    }
}

#[test]
fn every_unsupported_field_is_rejected_by_name_in_rust_and_in_the_crd() {
    let mut failures = Vec::new();
    for entry in UNSUPPORTED_FIELDS {
        let (rejected, accepted) = samples(entry);
        assert_eq!(
            accepted.is_empty(),
            entry.accepted == Accepted::Nothing,
            "{}: accepted samples must exist exactly when the entry accepts a value",
            entry.name()
        );
        for kind in [Kind::Cluster, Kind::Job, Kind::Service] {
            let Some((pointer, holder_path)) = holder_location(kind, entry.holder) else {
                continue;
            };
            let path = format!("{holder_path}.{}", entry.field);
            for value in &rejected {
                let mut doc = base(kind);
                set(&mut doc, &pointer, entry.field, value.clone());
                let expected = vec![(path.clone(), entry.message())];
                let found: Vec<(String, String)> = match validate(&doc) {
                    Ok(()) => Vec::new(),
                    Err(errors) => errors.into_iter().map(|e| (e.path, e.message)).collect(),
                };
                if found != expected {
                    failures.push(format!(
                        "{kind:?} {path} = {value}: Rust found {found:?}, expected {expected:?}"
                    ));
                }
                let cel = cel_failures(kind, &doc);
                if cel != expected {
                    failures.push(format!(
                        "{kind:?} {path} = {value}: CEL found {cel:?}, expected {expected:?}"
                    ));
                }
            }
            for value in &accepted {
                let mut doc = base(kind);
                set(&mut doc, &pointer, entry.field, value.clone());
                if let Err(errors) = validate(&doc) {
                    failures.push(format!(
                        "{kind:?} {path} = {value}: Rust rejected an accepted value: {errors}"
                    ));
                }
                let cel = cel_failures(kind, &doc);
                if !cel.is_empty() {
                    failures.push(format!(
                        "{kind:?} {path} = {value}: CEL rejected an accepted value: {cel:?}"
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn messages_name_the_field_and_say_what_to_do() {
    for entry in UNSUPPORTED_FIELDS {
        let message = entry.message();
        assert!(
            message.starts_with(&format!(
                "{} is not supported by this operator yet: remove it",
                entry.name()
            )),
            "{message}"
        );
    }
    // The whole line a user reads, for an entry inside a RayJob's cluster spec (whichever is still in the table).
    let Some(entry) = UNSUPPORTED_FIELDS
        .iter()
        .find(|entry| entry.holder != Holder::ServiceSpec)
    else {
        return;
    };
    let (pointer, holder_path) = holder_location(Kind::Job, entry.holder).expect("in a RayJob");
    let rejected = samples(entry).0.remove(0);
    let errors = validate(&{
        let mut doc = base(Kind::Job);
        set(&mut doc, &pointer, entry.field, rejected);
        doc
    })
    .expect_err("not supported");
    assert_eq!(
        errors.to_string(),
        format!(
            "{holder_path}.{}: {} is not supported by this operator yet: {}",
            entry.field,
            entry.name(),
            entry.message().split_once(": ").expect("message").1
        )
    );
    assert!(
        errors.to_string().starts_with("spec.rayClusterSpec."),
        "{errors}"
    );
}

/// The CEL rule of an object-valued entry must forbid every field of the type it does not accept, so the list in
/// the table has to match the schema.
#[test]
fn object_entries_name_every_field_of_their_type() {
    let schema = crd_schema(Kind::Service);
    let spec = &schema["properties"]["spec"];
    let cluster = &spec["properties"]["rayClusterConfig"];
    for entry in UNSUPPORTED_FIELDS {
        let Accepted::Object { fields, others } = entry.accepted else {
            continue;
        };
        let holder = match entry.holder {
            Holder::ServiceSpec => spec,
            Holder::ClusterSpec => cluster,
            other => panic!("no object entry expected on {other:?}"),
        };
        let mut in_schema: Vec<&str> = holder["properties"][entry.field]["properties"]
            .as_object()
            .unwrap_or_else(|| panic!("{} has properties", entry.name()))
            .keys()
            .map(String::as_str)
            .collect();
        in_schema.sort_unstable();
        let mut in_table: Vec<&str> = fields
            .iter()
            .map(|(name, _)| *name)
            .chain(others.iter().copied())
            .collect();
        in_table.sort_unstable();
        assert_eq!(in_table, in_schema, "{}", entry.name());
    }
}

#[test]
fn every_unsupported_field_is_in_the_schema() {
    let schema = crd_schema(Kind::Service);
    let spec = &schema["properties"]["spec"];
    let cluster = &spec["properties"]["rayClusterConfig"];
    for entry in UNSUPPORTED_FIELDS {
        let holder = match entry.holder {
            Holder::ServiceSpec => spec,
            Holder::ClusterSpec => cluster,
            Holder::HeadGroup => &cluster["properties"]["headGroupSpec"],
            Holder::WorkerGroup => &cluster["properties"]["workerGroupSpecs"]["items"],
            Holder::AutoscalerOptions => &cluster["properties"]["autoscalerOptions"],
            Holder::GcsFaultToleranceOptions => &cluster["properties"]["gcsFaultToleranceOptions"],
        };
        assert!(
            holder["properties"].get(entry.field).is_some(),
            "{} is not in the schema",
            entry.name()
        );
    }
}

/// A KubeRay 1.7 manifest that uses the new fields only with the values the operator honours.
const CLUSTER_17: &str = r#"
apiVersion: ray.io/v1
kind: RayCluster
metadata:
  name: raycluster-17
spec:
  rayVersion: "2.52.0"
  managedBy: ray.io/kuberay-operator
  upgradeStrategy:
    type: None
  authOptions:
    mode: disabled
  tlsOptions:
    enabled: false
  enableInTreeAutoscaling: true
  autoscalerOptions:
    upscalingMode: Default
    idleTimeoutSeconds: 60
  headGroupSpec:
    rayStartParams: {}
    template:
      spec:
        containers:
          - name: ray-head
            image: rayproject/ray:2.52.0
  workerGroupSpecs:
    - groupName: workers
      replicas: 1
      minReplicas: 1
      maxReplicas: 5
      numOfHosts: 1
      priority: 0
      suspend: false
      rayStartParams: {}
      template:
        spec:
          containers:
            - name: ray-worker
              image: rayproject/ray:2.52.0
"#;

const SERVICE_17: &str = r#"
apiVersion: ray.io/v1
kind: RayService
metadata:
  name: rayservice-17
spec:
  managedBy: ray.io/kuberay-operator
  upgradeStrategy:
    type: NewCluster
  excludeHeadPodFromServeSvc: false
  suspend: false
  serveConfigV2: |
    applications:
      - name: fruit_app
        import_path: fruit.deployment_graph
  rayClusterConfig:
    rayVersion: "2.52.0"
    headGroupSpec:
      rayStartParams: {}
      template:
        spec:
          containers:
            - name: ray-head
              image: rayproject/ray:2.52.0
    workerGroupSpecs:
      - groupName: workers
        replicas: 1
        minReplicas: 1
        maxReplicas: 5
        template:
          spec:
            containers:
              - name: ray-worker
                image: rayproject/ray:2.52.0
"#;

#[test]
fn a_kuberay_17_manifest_with_supported_values_parses_and_validates() {
    let cluster: RayCluster = from_yaml_str(CLUSTER_17).expect("parses");
    assert_eq!(ray_api_v1::validate_cluster(&cluster), Ok(()));
    assert_eq!(
        cluster.spec.managed_by.as_deref(),
        Some("ray.io/kuberay-operator")
    );
    assert_eq!(cluster.spec.worker_group_specs[0].priority, Some(0));
    let doc = serde_json::to_value(&cluster).expect("serializes");
    assert_eq!(cel_failures(Kind::Cluster, &doc), Vec::new());

    let service: RayService = from_yaml_str(SERVICE_17).expect("parses");
    assert_eq!(ray_api_v1::validate_service(&service), Ok(()));
    assert_eq!(
        service.spec.upgrade_strategy.and_then(|s| s.type_),
        Some(ray_api_v1::RayServiceUpgradeType::NewCluster)
    );
    let doc = serde_json::to_value(from_yaml_str::<RayService>(SERVICE_17).expect("parses"))
        .expect("serializes");
    assert_eq!(cel_failures(Kind::Service, &doc), Vec::new());
}

/// The RayService fields this operator implements from KubeRay 1.7: `suspend: true` and `upgradeStrategy.type:
/// None` pass the Rust validation and the CRD's rules alike.
#[test]
fn a_suspended_rayservice_without_upgrades_is_valid() {
    let mut doc = base(Kind::Service);
    doc["spec"]["suspend"] = json!(true);
    doc["spec"]["upgradeStrategy"] = json!({ "type": "None" });
    assert_eq!(validate(&doc), Ok(()));
    assert_eq!(cel_failures(Kind::Service, &doc), Vec::new());
    let service: RayService = from_json_value(doc).expect("parses");
    assert!(service.spec.suspend);
    assert_eq!(
        service.spec.upgrade_strategy.and_then(|s| s.type_),
        Some(ray_api_v1::RayServiceUpgradeType::NoUpgrade)
    );
}

/// Every field of every new type, set: it reads into the types and serializes back to the same JSON.
#[test]
fn every_new_field_round_trips_through_the_types() {
    let rules = json!({
        "ingressRules": [{ "from": [{ "podSelector": { "matchLabels": { "app": "a" } } }], "ports": [{ "port": 8265 }] }],
        "egressRules": [{ "to": [{ "namespaceSelector": {} }], "ports": [{ "port": 53, "protocol": "UDP" }] }]
    });
    let mut spec = cluster_spec();
    let extra = json!({
        "upgradeStrategy": { "type": "Recreate" },
        "authOptions": { "mode": "token", "secretName": "token", "enableK8sTokenAuth": true },
        "managedBy": "kueue.x-k8s.io/multikueue",
        "gcsFaultToleranceOptions": {
            "backend": "rocksdb",
            "redisUsername": { "value": "user" },
            "redisPassword": { "valueFrom": { "secretKeyRef": { "name": "redis", "key": "password" } } },
            "externalStorageNamespace": "ns",
            "redisAddress": "redis:6379",
            "storage": {
                "claimName": "gcs", "size": "2Gi", "storageClassName": "fast",
                "accessModes": ["ReadWriteMany"], "subPath": "gcs", "deletionPolicy": "Retain"
            }
        },
        "historyServerOptions": { "collectorOptions": {
            "image": "collector:1", "imagePullPolicy": "Always",
            "resources": { "limits": { "cpu": "1" } },
            "env": [{ "name": "STORAGE_BACKEND", "value": "s3" }]
        } },
        "networkPolicy": {
            "mode": "DenyAllEgress", "head": rules, "worker": rules,
            "workerGroups": [{ "groupName": "small", "egressRules": rules["egressRules"] }]
        },
        "tlsOptions": { "enabled": true }
    });
    for (key, value) in extra.as_object().expect("object") {
        spec[key] = value.clone();
    }
    spec["headGroupSpec"]["ingressOptions"] = json!({
        "host": "ray.example.com", "path": "/ray", "pathType": "Exact",
        "tls": [{ "hosts": ["ray.example.com"], "secretName": "tls" }]
    });
    spec["headGroupSpec"]["resources"] = json!({ "CPU": "0" });
    spec["headGroupSpec"]["labels"] = json!({ "zone": "a" });
    let group = &mut spec["workerGroupSpecs"][0];
    group["suspend"] = json!(true);
    group["idleTimeoutSeconds"] = json!(30);
    group["priority"] = json!(3);
    group["resources"] = json!({ "GPU": "1" });
    group["labels"] = json!({ "accelerator": "a100" });
    spec["autoscalerOptions"]["version"] = json!("v2");
    spec["autoscalerOptions"]["command"] = json!(["ray-autoscaler"]);
    spec["autoscalerOptions"]["args"] = json!(["--verbose"]);

    let mut cluster = base(Kind::Cluster);
    cluster["spec"] = spec.clone();
    let typed: RayCluster = from_json_value(cluster.clone()).expect("parses");
    assert_eq!(serde_json::to_value(&typed).expect("serializes"), cluster);

    let mut service = base(Kind::Service);
    service["spec"]["rayClusterConfig"] = spec;
    service["spec"]["rayClusterDeletionDelaySeconds"] = json!(30);
    service["spec"]["upgradeStrategy"] = json!({
        "type": "NewClusterWithIncrementalUpgrade",
        "clusterUpgradeOptions": {
            "maxSurgePercent": 50, "stepSizePercent": 10, "intervalSeconds": 30, "gatewayClassName": "istio"
        }
    });
    service["spec"]["managedBy"] = json!("kueue.x-k8s.io/multikueue");
    service["spec"]["excludeHeadPodFromServeSvc"] = json!(true);
    service["spec"]["suspend"] = json!(true);
    let typed: RayService = from_json_value(service.clone()).expect("parses");
    assert_eq!(serde_json::to_value(&typed).expect("serializes"), service);
}

#[test]
fn unknown_enum_values_of_new_fields_are_rejected_when_read() {
    for (pointer, field, value) in [
        ("/spec", "authOptions", json!({ "mode": "password" })),
        ("/spec", "upgradeStrategy", json!({ "type": "Rolling" })),
        ("/spec", "networkPolicy", json!({ "mode": "AllowAll" })),
        (
            "/spec",
            "gcsFaultToleranceOptions",
            json!({ "backend": "etcd" }),
        ),
        ("/spec/autoscalerOptions", "version", json!("v3")),
    ] {
        let mut doc = base(Kind::Cluster);
        set(&mut doc, pointer, field, value.clone());
        let error = from_json_value::<RayCluster>(doc).expect_err("unknown enum value");
        assert!(
            error.to_string().contains("unknown variant"),
            "{field} = {value}: {error}"
        );
    }
}
