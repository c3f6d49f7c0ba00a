//! Manifests: YAML and JSON parsing, validation, v1 <-> v1alpha1 conversion, rendering, and the YAML held in
//! `serveConfigV2` and `runtimeEnvYAML`.

use ray_api_v1::parse::{self, RayObject};
use ray_api_v1alpha1 as v1alpha1;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

fn json_of<T: Serialize>(object: &T) -> Value {
    serde_json::to_value(object).expect("a parsed object serializes")
}

fn object_json(object: &RayObject) -> Value {
    match object {
        RayObject::Cluster(o) => json_of(o),
        RayObject::Job(o) => json_of(o),
        RayObject::Service(o) => json_of(o),
        RayObject::CronJob(o) => json_of(o),
    }
}

/// What was read reads back from its own JSON, unchanged: nothing is lost or altered by serializing.
fn check_reads_back(object: &RayObject) {
    let written = object_json(object);
    let again = RayObject::from_json_value(written.clone())
        .unwrap_or_else(|e| panic!("an object we wrote does not read back: {e}\n{written}"));
    assert_eq!(
        object_json(&again),
        written,
        "reading what we wrote changed it"
    );
}

/// Every non-empty YAML document of the input, as JSON values; `None` for input the parser refuses.
fn yaml_values(data: &[u8]) -> Option<Vec<RayObject>> {
    let text = std::str::from_utf8(data).ok()?;
    match parse::from_yaml_documents(text) {
        Ok(objects) => Some(objects),
        Err(error) => {
            assert!(!error.to_string().is_empty(), "an empty error message");
            None
        }
    }
}

/// YAML (and JSON, which is YAML) manifests: the stream reader and the single-document typed readers.
pub(crate) fn manifest_yaml(data: &[u8]) {
    for object in yaml_values(data).unwrap_or_default() {
        check_reads_back(&object);
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let cluster = parse::from_yaml_str::<ray_api_v1::RayCluster>(text);
        let job = parse::from_yaml_str::<ray_api_v1::RayJob>(text);
        let service = parse::from_yaml_str::<ray_api_v1::RayService>(text);
        let cron_job = parse::from_yaml_str::<ray_api_v1::RayCronJob>(text);
        if let Ok(cluster) = cluster {
            check_reads_back(&RayObject::Cluster(cluster));
        }
        if let Ok(job) = job {
            check_reads_back(&RayObject::Job(job));
        }
        if let Ok(service) = service {
            check_reads_back(&RayObject::Service(service));
        }
        if let Ok(cron_job) = cron_job {
            check_reads_back(&RayObject::CronJob(cron_job));
        }
    }
}

/// JSON manifests, as the API server and the webhook hand them over.
pub(crate) fn manifest_json(data: &[u8]) {
    let Ok(value) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    if let Ok(object) = RayObject::from_json_value(value.clone()) {
        check_reads_back(&object);
    }
    let _ = parse::from_json_value::<ray_api_v1::RayCluster>(value.clone());
    let _ = parse::from_json_value::<ray_api_v1::RayJob>(value.clone());
    let _ = parse::from_json_value::<ray_api_v1::RayService>(value);
}

/// Validation of parsed objects: never panics, every error names a problem, the same input gives the same verdict,
/// and the webhook's verdict (which also reads v1alpha1) is the controllers' verdict.
pub(crate) fn validate(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(Some(value)) = parse::yaml_value(text) else {
        return;
    };
    let webhook = ray_webhook::admission::validate(value.clone());
    if let Err(errors) = &webhook {
        assert!(!errors.is_empty(), "a denial without a reason");
        for error in errors {
            assert!(
                !error.message.is_empty(),
                "an error without a message: {error:?}"
            );
        }
    }
    if value.get("apiVersion").and_then(Value::as_str) == Some(ray_api_v1::API_VERSION)
        && let Ok(object) = RayObject::from_json_value(value)
    {
        let verdict = object.validate();
        assert_eq!(
            verdict.clone().map_err(|e| e.0),
            webhook,
            "the webhook and the controllers disagree"
        );
        assert_eq!(
            object.validate(),
            verdict,
            "validation is not deterministic"
        );
    }
}

/// Converting to the other version and back is lossless, typed and as JSON, for objects of either version.
pub(crate) fn convert(data: &[u8]) {
    let value = match serde_json::from_slice::<Value>(data) {
        Ok(value) => value,
        Err(_) => match std::str::from_utf8(data).map(parse::yaml_value) {
            Ok(Ok(Some(value))) => value,
            _ => return,
        },
    };
    check_round_trips(&value);
    // Whatever the input, the JSON-level conversion never panics.
    let _ = v1alpha1::convert(value.clone(), ray_api_v1::API_VERSION);
    let _ = v1alpha1::convert(value, v1alpha1::API_VERSION);
}

/// If `value` reads as an object of its version, converting it to the other version and back gives it back.
pub(crate) fn check_round_trips(value: &Value) {
    let kind = value
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default();
    match value.get("apiVersion").and_then(Value::as_str) {
        Some(ray_api_v1::API_VERSION) => match kind {
            "RayCluster" => round_trip::<ray_api_v1::RayCluster, v1alpha1::RayCluster>(value),
            "RayJob" => round_trip::<ray_api_v1::RayJob, v1alpha1::RayJob>(value),
            "RayService" => round_trip::<ray_api_v1::RayService, v1alpha1::RayService>(value),
            _ => {}
        },
        Some(v1alpha1::API_VERSION) => match kind {
            "RayCluster" => round_trip::<v1alpha1::RayCluster, ray_api_v1::RayCluster>(value),
            "RayJob" => round_trip::<v1alpha1::RayJob, ray_api_v1::RayJob>(value),
            "RayService" => round_trip::<v1alpha1::RayService, ray_api_v1::RayService>(value),
            _ => {}
        },
        _ => {}
    }
}

/// `value` read as `A`, converted to `B` and back, is `A` again; the JSON-level conversion agrees.
fn round_trip<A, B>(value: &Value)
where
    A: DeserializeOwned + Serialize + Clone + From<B> + kube::Resource<DynamicType = ()>,
    B: DeserializeOwned + Serialize + From<A> + kube::Resource<DynamicType = ()>,
{
    let Ok(original) = serde_json::from_value::<A>(value.clone()) else {
        return;
    };
    let there = B::from(original.clone());
    let back = A::from(there);
    let original_json = json_of(&original);
    assert_eq!(
        json_of(&back),
        original_json,
        "the typed round trip lost something"
    );

    let from = A::api_version(&()).into_owned();
    let to = B::api_version(&()).into_owned();
    let converted = v1alpha1::convert(value.clone(), &to)
        .unwrap_or_else(|e| panic!("an object that reads as {from} does not convert: {e}"));
    let returned = v1alpha1::convert(converted.clone(), &from)
        .unwrap_or_else(|e| panic!("a converted object does not convert back: {e}\n{converted}"));
    assert_eq!(
        returned, original_json,
        "the JSON round trip lost something"
    );
}

/// Rendering of valid objects: never panics, and the same object renders to the same YAML twice.
pub(crate) fn render(data: &[u8]) {
    let options = ray_builders::RenderOptions::default();
    for object in yaml_values(data).unwrap_or_default() {
        if object.validate().is_err() {
            continue;
        }
        let render = || match &object {
            RayObject::Cluster(o) => ray_builders::render_cluster(o, &options),
            RayObject::Job(o) => ray_builders::render_job(o, &options),
            RayObject::Service(o) => ray_builders::render_service(o, &options),
            // A RayCronJob renders as the RayJob it creates (here for the schedule time 1970-01-01T00:00Z, the
            // timestamp's default).
            RayObject::CronJob(o) => {
                ray_builders::render_job(&o.job_at(Default::default()), &options)
            }
        };
        let Ok(first) = render() else {
            continue;
        };
        let yaml = ray_builders::to_yaml_stream(&first).expect("rendered objects write as YAML");
        let again = ray_builders::to_yaml_stream(&render().expect("rendered once, renders again"))
            .expect("rendered objects write as YAML");
        assert_eq!(yaml, again, "rendering is not deterministic");
    }
}

/// Whether validation finds nothing wrong with the field at `path`, whatever it says about the rest.
fn field_valid(result: Result<(), ray_api_v1::ValidationErrors>, path: &str) -> bool {
    match result {
        Ok(()) => true,
        Err(errors) => !errors.0.iter().any(|e| e.path == path),
    }
}

/// A RayJob with `runtimeEnvYAML` set to `text`.
fn job_with_runtime_env(text: &str) -> ray_api_v1::RayJob {
    serde_json::from_value(json!({
        "apiVersion": "ray.io/v1", "kind": "RayJob",
        "metadata": {"name": "job", "namespace": "default"},
        "spec": {"entrypoint": "python main.py", "runtimeEnvYAML": text},
    }))
    .expect("a fixed RayJob")
}

/// A RayService with `serveConfigV2` set to `text`.
fn service_with_serve_config(text: &str) -> ray_api_v1::RayService {
    serde_json::from_value(json!({
        "apiVersion": "ray.io/v1", "kind": "RayService",
        "metadata": {"name": "svc", "namespace": "default"},
        "spec": {
            "serveConfigV2": text,
            "rayClusterConfig": {"headGroupSpec": {"template": {"spec": {
                "containers": [{"name": "ray-head", "image": "rayproject/ray:2.9.0"}]
            }}}},
        },
    }))
    .expect("a fixed RayService")
}

/// The YAML held in `runtimeEnvYAML` and `serveConfigV2`: the budgeted parser never panics, and validation accepts
/// exactly what the operator can use later (the submitter's runtime environment, the Serve config it sends).
pub(crate) fn embedded_yaml(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let parsed = parse::yaml_value(text);
    let usable = matches!(parsed, Ok(None | Some(Value::Null | Value::Object(_))));

    let runtime_env = ray_builders::submitter::runtime_env_json(text);
    if let Ok(Some(json)) = &runtime_env {
        let value: Value = serde_json::from_str(json).expect("the runtime env JSON reads back");
        assert!(
            value.is_object(),
            "the runtime env is not a mapping: {json}"
        );
    }
    let job_valid = field_valid(
        ray_api_v1::validate_job(&job_with_runtime_env(text)),
        "spec.runtimeEnvYAML",
    );
    assert_eq!(
        job_valid,
        runtime_env.is_ok(),
        "validation and the submitter disagree on runtimeEnvYAML {text:?}: {runtime_env:?}"
    );
    assert_eq!(
        job_valid, usable,
        "validation and the parser disagree on {text:?}"
    );

    let service_valid = field_valid(
        ray_api_v1::validate_service(&service_with_serve_config(text)),
        "spec.serveConfigV2",
    );
    assert_eq!(service_valid, usable, "serveConfigV2 {text:?}");
}
