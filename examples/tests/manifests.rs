//! Every sample manifest under `examples/` reads as the type its `apiVersion` and `kind` name, keeps every field it
//! sets when written back, never writes a `null`, and passes validation. Intentionally invalid manifests under
//! `examples/tests/invalid/` fail with an error that names the offending field.

use std::path::Path;

use ray_api_v1::{ParseError, RayObject};
use ray_examples::{Manifest, ManifestError};
use serde_json::Value;

/// The samples other work refers to by name: they must exist and hold the kind their name says.
const REQUIRED_SAMPLES: &[(&str, &str, &str)] = &[
    ("ray-cluster.sample.yaml", "ray.io/v1", "RayCluster"),
    ("ray-cluster.complete.yaml", "ray.io/v1", "RayCluster"),
    ("ray-job.sample.yaml", "ray.io/v1", "RayJob"),
    ("ray-job.complete.yaml", "ray.io/v1", "RayJob"),
    ("ray-service.sample.yaml", "ray.io/v1", "RayService"),
    ("ray-service.complete.yaml", "ray.io/v1", "RayService"),
    ("ray-cronjob.sample.yaml", "ray.io/v1", "RayCronJob"),
    ("v1alpha1/ray-cluster.yaml", "ray.io/v1alpha1", "RayCluster"),
    ("v1alpha1/ray-job.yaml", "ray.io/v1alpha1", "RayJob"),
    ("v1alpha1/ray-service.yaml", "ray.io/v1alpha1", "RayService"),
];

fn samples() -> Vec<(String, Manifest)> {
    let paths = ray_examples::manifest_paths().expect("examples/ can be listed");
    assert!(
        paths.len() >= REQUIRED_SAMPLES.len(),
        "expected at least {} sample manifests under {}, found {paths:?}",
        REQUIRED_SAMPLES.len(),
        ray_examples::manifest_dir().display()
    );
    paths
        .iter()
        .map(|path| {
            let name = relative_name(path);
            let manifest = Manifest::read(path).unwrap_or_else(|error| panic!("{error}"));
            (name, manifest)
        })
        .collect()
}

fn relative_name(path: &Path) -> String {
    path.strip_prefix(ray_examples::manifest_dir())
        .unwrap_or(path)
        .display()
        .to_string()
}

#[test]
fn the_required_samples_exist_and_hold_their_kind() {
    for (name, api_version, kind) in REQUIRED_SAMPLES {
        let manifest = ray_examples::load(name).unwrap_or_else(|error| panic!("{error}"));
        assert_eq!(manifest.kind(), *kind, "{name}");
        assert_eq!(manifest.api_version(), *api_version, "{name}");
    }
}

#[test]
fn every_sample_file_name_matches_its_kind() {
    for (name, manifest) in samples() {
        let file = name.rsplit('/').next().unwrap_or(&name);
        let expected_prefix = match manifest.kind() {
            "RayCluster" => "ray-cluster",
            "RayJob" => "ray-job",
            "RayService" => "ray-service",
            "RayCronJob" => "ray-cronjob",
            other => panic!("{name}: unexpected kind {other}"),
        };
        assert!(
            file.starts_with(expected_prefix),
            "{name} holds a {} but its name does not start with {expected_prefix}",
            manifest.kind()
        );
    }
}

#[test]
fn every_sample_starts_with_a_comment_saying_how_to_apply_it() {
    for path in ray_examples::manifest_paths().expect("examples/ can be listed") {
        let name = relative_name(&path);
        let text = std::fs::read_to_string(&path).expect("sample is readable");
        assert!(text.starts_with("# "), "{name} must start with a comment");
        let header: String = text
            .lines()
            .take_while(|line| line.starts_with('#'))
            .collect::<Vec<_>>()
            .join("\n");
        assert!(
            header.contains("kubectl apply -f examples/"),
            "{name}: the leading comment must say how to apply it"
        );
    }
}

#[test]
fn every_sample_round_trips_without_losing_a_field() {
    for (name, manifest) in samples() {
        let path = ray_examples::manifest_dir().join(&name);
        let text = std::fs::read_to_string(&path).expect("sample is readable");
        let original: Value = serde_saphyr::from_str(&text).expect("sample is YAML");

        let written = manifest.to_json().expect("serializes to JSON");
        let nulls = null_paths(&written, "");
        assert!(
            nulls.is_empty(),
            "{name}: serialized with nulls at {nulls:?}"
        );

        let mut differences = Vec::new();
        compare(&original, &written, "", &mut differences);
        assert!(
            differences.is_empty(),
            "{name}: the typed object does not keep what the file says (a misspelt or unknown field is dropped \
             on read):\n  {}",
            differences.join("\n  ")
        );

        // Written as YAML and read back, the object is unchanged.
        let yaml = serde_saphyr::to_string(&written).expect("serializes to YAML");
        let reread =
            Manifest::from_yaml(&yaml).unwrap_or_else(|error| panic!("{name}: {error}\n{yaml}"));
        assert_eq!(reread.kind(), manifest.kind(), "{name}");
        assert_eq!(
            reread.to_json().expect("serializes to JSON"),
            written,
            "{name}: YAML round trip changed the object"
        );

        // And so is the JSON the API server would receive.
        let rejson = Manifest::from_yaml(&written.to_string())
            .unwrap_or_else(|error| panic!("{name}: {error}"));
        assert_eq!(
            rejson.to_json().expect("serializes to JSON"),
            written,
            "{name}: JSON round trip changed the object"
        );
    }
}

#[test]
fn every_sample_passes_validation() {
    for (name, manifest) in samples() {
        if let Err(errors) = manifest.validate() {
            panic!("{name} fails validation:\n{errors}");
        }
    }
}

/// The v1alpha1 RayCluster sample is the v1 sample under another name.
#[test]
fn the_v1alpha1_cluster_is_the_v1_sample_under_another_name() {
    let v1alpha1 =
        ray_examples::load("v1alpha1/ray-cluster.yaml").unwrap_or_else(|error| panic!("{error}"));
    let RayObject::Cluster(mut converted) = v1alpha1.to_v1() else {
        panic!("v1alpha1/ray-cluster.yaml did not convert to a RayCluster");
    };
    let sample =
        ray_examples::load("ray-cluster.sample.yaml").unwrap_or_else(|error| panic!("{error}"));
    converted.metadata.name = Some("raycluster-sample".into());
    assert_eq!(
        serde_json::to_value(&converted).expect("serializes"),
        sample.to_json().expect("serializes")
    );
}

/// Every sample survives a trip through the other API version unchanged: v1 → v1alpha1 → v1 keeps the fields
/// v1alpha1 cannot hold (`numOfHosts`, `submissionMode`, ...), and v1alpha1 → v1 → v1alpha1 gives the object back.
#[test]
fn every_sample_survives_conversion_to_the_other_version_and_back() {
    for (name, manifest) in samples() {
        let before = manifest.to_json().expect("serializes");
        let after = match &manifest {
            Manifest::RayCluster(object) => {
                let old: ray_api_v1alpha1::RayCluster = (**object).clone().into();
                serde_json::to_value(ray_api_v1::RayCluster::from(old))
            }
            Manifest::RayJob(object) => {
                let old: ray_api_v1alpha1::RayJob = (**object).clone().into();
                serde_json::to_value(ray_api_v1::RayJob::from(old))
            }
            Manifest::RayService(object) => {
                let old: ray_api_v1alpha1::RayService = (**object).clone().into();
                serde_json::to_value(ray_api_v1::RayService::from(old))
            }
            Manifest::RayClusterV1alpha1(object) => {
                let new: ray_api_v1::RayCluster = (**object).clone().into();
                serde_json::to_value(ray_api_v1alpha1::RayCluster::from(new))
            }
            Manifest::RayJobV1alpha1(object) => {
                let new: ray_api_v1::RayJob = (**object).clone().into();
                serde_json::to_value(ray_api_v1alpha1::RayJob::from(new))
            }
            Manifest::RayServiceV1alpha1(object) => {
                let new: ray_api_v1::RayService = (**object).clone().into();
                serde_json::to_value(ray_api_v1alpha1::RayService::from(new))
            }
            // RayCronJob has one version only.
            Manifest::RayCronJob(object) => serde_json::to_value(object),
        }
        .expect("serializes");
        assert_eq!(
            after, before,
            "{name} changed on its way through the other API version"
        );
    }
}

/// Every Serve application in a RayService sample imports code that exists in `examples/serve/`.
#[test]
fn serve_samples_import_the_demo_application() {
    let mut checked = 0;
    for (name, manifest) in samples() {
        let Manifest::RayService(service) = manifest else {
            continue;
        };
        let config = service
            .spec
            .serve_config_v2
            .as_deref()
            .unwrap_or_else(|| panic!("{name}: spec.serveConfigV2 is missing"));
        let config: Value = serde_saphyr::from_str(config)
            .unwrap_or_else(|error| panic!("{name}: spec.serveConfigV2 is not YAML: {error}"));
        let applications = config["applications"]
            .as_array()
            .unwrap_or_else(|| panic!("{name}: serveConfigV2 has no applications list"));
        for application in applications {
            let import_path = application["import_path"]
                .as_str()
                .unwrap_or_else(|| panic!("{name}: an application has no import_path"));
            let (module, attribute) = import_path.split_once(':').unwrap_or_else(|| {
                panic!("{name}: import_path {import_path} is not module:attribute")
            });
            let file = ray_examples::manifest_dir()
                .join("serve")
                .join(format!("{}.py", module.replace('.', "/")));
            let source = std::fs::read_to_string(&file).unwrap_or_else(|error| {
                panic!(
                    "{name}: import_path {import_path}: cannot read {}: {error}",
                    file.display()
                )
            });
            assert!(
                source.contains(&format!("\n{attribute} = "))
                    || source.contains(&format!("\ndef {attribute}(")),
                "{name}: import_path {import_path}: {} defines no `{attribute}`",
                file.display()
            );
            checked += 1;
        }
    }
    assert!(
        checked >= 3,
        "expected the RayService samples to hold applications, found {checked}"
    );
}

#[test]
fn an_unknown_kind_is_rejected_with_a_message_naming_it() {
    let error = Manifest::from_yaml("apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n")
        .expect_err("a Pod is no sample");
    assert!(
        matches!(error, ManifestError::UnknownKind { .. }),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(
        message.contains("`apiVersion: v1`") && message.contains("`kind: Pod`"),
        "{message}"
    );

    let error = Manifest::from_yaml("kind: RayCluster\n").expect_err("apiVersion is missing");
    assert!(error.to_string().contains("`apiVersion: `"), "{error}");
}

#[test]
fn malformed_yaml_is_an_error_not_a_panic() {
    let error = Manifest::from_yaml("apiVersion: ray.io/v1\nkind: RayCluster\nspec: [unclosed\n")
        .expect_err("not YAML");
    assert!(matches!(error, ManifestError::Yaml { .. }), "{error:?}");
}

/// Intentionally invalid manifests: the field paths the errors must name (exactly these), and a few words of what it must say.
/// Files that do not even fit the types fail to read; the others fail validation.
const INVALID: &[(&str, &[&str], &str)] = &[
    (
        "unknown-submission-mode.yaml",
        &["spec.submissionMode"],
        "unknown variant `BatchMode`",
    ),
    (
        "replicas-not-a-number.yaml",
        &["spec.workerGroupSpecs[0].replicas"],
        "expected i32",
    ),
    (
        "min-replicas-above-max.yaml",
        &["spec.workerGroupSpecs[0].minReplicas"],
        "maxReplicas",
    ),
    (
        "duplicate-group-names.yaml",
        &[
            "spec.workerGroupSpecs[0].groupName",
            "spec.workerGroupSpecs[1].groupName",
        ],
        "unique",
    ),
    (
        "job-without-cluster.yaml",
        &["spec.rayClusterSpec"],
        "clusterSelector",
    ),
    ("job-name-too-long.yaml", &["metadata.name"], "47"),
    (
        "service-serve-config-not-yaml.yaml",
        &["spec.serveConfigV2"],
        "line",
    ),
    (
        "v1alpha1-head-without-containers.yaml",
        &["spec.headGroupSpec.template.spec.containers"],
        "container",
    ),
];

#[test]
fn invalid_manifests_fail_with_an_error_naming_the_field() {
    let dir = ray_examples::manifest_dir().join("tests").join("invalid");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .expect("examples/tests/invalid exists")
        .map(|entry| {
            entry
                .expect("listable")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    files.sort();
    let mut expected: Vec<String> = INVALID
        .iter()
        .map(|(file, ..)| (*file).to_owned())
        .collect();
    expected.sort();
    assert_eq!(
        files,
        expected,
        "every file in {} needs an expectation here",
        dir.display()
    );

    for (file, paths, words) in INVALID {
        let errors: Vec<(String, String)> = match Manifest::read(&dir.join(file)) {
            Err(ManifestError::Parse {
                source: ParseError::Field { path, message },
                ..
            }) => vec![(path, message)],
            Err(other) => panic!("{file}: expected an error naming {paths:?}, got: {other}"),
            Ok(manifest) => match manifest.validate() {
                Ok(()) => panic!("{file}: passed validation, expected errors at {paths:?}"),
                Err(errors) => errors
                    .iter()
                    .map(|error| (error.path.clone(), error.message.clone()))
                    .collect(),
            },
        };
        assert_eq!(
            errors
                .iter()
                .map(|(path, _)| path.as_str())
                .collect::<Vec<_>>(),
            *paths,
            "{file}: the errors are not exactly at {paths:?}: {errors:?}"
        );
        for (path, message) in &errors {
            assert!(
                message.contains(words),
                "{file}: the message at {path} does not say {words:?}: {message}"
            );
        }
    }
}

/// The JSON paths of every `null` in `value`.
fn null_paths(value: &Value, path: &str) -> Vec<String> {
    match value {
        Value::Null => vec![path.to_owned()],
        Value::Array(items) => items
            .iter()
            .enumerate()
            .flat_map(|(index, item)| null_paths(item, &format!("{path}[{index}]")))
            .collect(),
        Value::Object(fields) => fields
            .iter()
            .flat_map(|(key, item)| null_paths(item, &format!("{path}.{key}")))
            .collect(),
        _ => Vec::new(),
    }
}

/// Records where `written` differs from `original`. Fields set to their empty default (`false`, `{}`, `[]`) may be
/// left out of `written`, numbers compare by value (`1` and `1.0`), a number may come back as a string with the
/// same text (a Kubernetes quantity such as `cpu: 1`), and an embedded Service gains its `apiVersion` and `kind`.
fn compare(original: &Value, written: &Value, path: &str, differences: &mut Vec<String>) {
    match (original, written) {
        (Value::Object(original), Value::Object(written)) => {
            for (key, value) in original {
                let field = format!("{path}.{key}");
                match written.get(key) {
                    Some(written) => compare(value, written, &field, differences),
                    None if is_empty_default(value) => {}
                    None => differences.push(format!("{field} is dropped")),
                }
            }
            // k8s-openapi writes the type of an embedded Kubernetes object (`apiVersion: v1`, `kind: Service` of a
            // `headService` or `serveService`); those two are the only fields the types may add.
            let embedded_type_meta =
                |key: &str| path.ends_with("Service") && matches!(key, "apiVersion" | "kind");
            for key in written.keys().filter(|key| !original.contains_key(*key)) {
                if !embedded_type_meta(key) {
                    differences.push(format!("{path}.{key} is added"));
                }
            }
        }
        (Value::Array(original), Value::Array(written)) if original.len() == written.len() => {
            for (index, (original, written)) in original.iter().zip(written).enumerate() {
                compare(original, written, &format!("{path}[{index}]"), differences);
            }
        }
        (Value::Number(original), Value::Number(written))
            if original.as_f64() == written.as_f64() => {}
        (Value::Number(original), Value::String(written)) if original.to_string() == *written => {}
        (original, written) if original == written => {}
        (original, written) => differences.push(format!("{path}: {original} became {written}")),
    }
}

fn is_empty_default(value: &Value) -> bool {
    match value {
        Value::Bool(flag) => !flag,
        Value::Object(fields) => fields.is_empty(),
        Value::Array(items) => items.is_empty(),
        _ => false,
    }
}
