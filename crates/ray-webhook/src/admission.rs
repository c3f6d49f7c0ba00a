//! `POST /validate`: admission review of RayCluster, RayJob, RayService and RayCronJob objects.
//!
//! The rules are the ones the controllers apply ([`ray_api_v1::validation`]): one set of functions with two
//! callers, so an object the webhook admits is never rejected by the operator later and the other way round. A
//! `ray.io/v1alpha1` object is first converted to v1 ([`ray_api_v1alpha1::convert`]); its field names are the same,
//! so every reported path is also a path of the object as written.
//!
//! What is admitted without checks, so that problems which were already there never block clean-up or metadata
//! changes:
//!
//! - deletes and connects;
//! - writes to a subresource (`status`, `scale`): the operator writes status on objects it reports as invalid;
//! - updates of an object that is being deleted (`metadata.deletionTimestamp` set), so finalizers can be removed;
//! - updates that leave `spec` unchanged (labels, annotations, finalizers, owner references).
//!
//! A denial lists every problem, `path: message`, in the message and once per field in `details.causes`, with HTTP
//! code 422 (`Invalid`), the way the API server reports its own validation errors; `kubectl` then prints one line
//! per field.

use kube::core::admission::{AdmissionRequest, AdmissionResponse, AdmissionReview, Operation};
use kube::core::response::{StatusCause, StatusDetails, StatusSummary};
use kube::core::{DynamicObject, Status};
use ray_api_v1::{FieldError, RayObject};
use serde_json::Value;

use crate::MalformedReview;

/// Reads an `AdmissionReview` request body and returns the review to answer with.
///
/// # Errors
///
/// [`MalformedReview`] when the body is not an `AdmissionReview` with a `request` (answered with 400), or when a
/// create or update carries no `object`.
pub fn review(body: &[u8]) -> Result<AdmissionReview<DynamicObject>, MalformedReview> {
    let review: AdmissionReview<DynamicObject> = serde_json::from_slice(body).map_err(|error| {
        MalformedReview(format!(
            "the body is not an admission.k8s.io/v1 AdmissionReview: {error}"
        ))
    })?;
    let request: AdmissionRequest<DynamicObject> = review.try_into().map_err(|_| {
        MalformedReview("the AdmissionReview has no `request` to review".to_owned())
    })?;
    Ok(admit(&request)?.into_review())
}

/// Decides one admission request: allowed, or denied with every validation problem.
///
/// # Errors
///
/// [`MalformedReview`] when a create or update carries no `object`.
pub fn admit(
    request: &AdmissionRequest<DynamicObject>,
) -> Result<AdmissionResponse, MalformedReview> {
    let response = AdmissionResponse::from(request);
    if matches!(request.operation, Operation::Delete | Operation::Connect)
        || request
            .sub_resource
            .as_deref()
            .is_some_and(|s| !s.is_empty())
    {
        return Ok(response);
    }
    let object = request.object.as_ref().ok_or_else(|| {
        MalformedReview(format!(
            "the AdmissionReview for {:?} of {} {:?} has no `object`",
            request.operation, request.kind.kind, request.name
        ))
    })?;
    if request.operation == Operation::Update {
        let spec_unchanged = request
            .old_object
            .as_ref()
            .is_some_and(|old| old.data.get("spec") == object.data.get("spec"));
        if object.metadata.deletion_timestamp.is_some() || spec_unchanged {
            return Ok(response);
        }
    }
    let value = serde_json::to_value(object).map_err(|error| {
        MalformedReview(format!(
            "the reviewed object cannot be read as JSON: {error}"
        ))
    })?;
    match validate(value) {
        Ok(()) => Ok(response),
        Err(errors) => {
            let kind = object
                .types
                .as_ref()
                .map_or(request.kind.kind.as_str(), |t| t.kind.as_str());
            let name = object
                .metadata
                .name
                .clone()
                .or_else(|| {
                    object
                        .metadata
                        .generate_name
                        .clone()
                        .map(|p| format!("{p}*"))
                })
                .unwrap_or_default();
            tracing::info!(
                kind,
                namespace = request.namespace.as_deref().unwrap_or_default(),
                name = %name,
                problems = errors.len(),
                "admission denied"
            );
            Ok(deny(response, kind, &name, &errors))
        }
    }
}

/// Validates a RayCluster, RayJob, RayService or RayCronJob given as JSON, in `ray.io/v1` (or, except RayCronJob,
/// `ray.io/v1alpha1`).
///
/// Type errors (a string where a number belongs, an unknown enum value) are reported like rule violations, with
/// the field's path.
///
/// # Errors
///
/// Every problem found, never empty.
pub fn validate(object: Value) -> Result<(), Vec<FieldError>> {
    let api_version = object.get("apiVersion").and_then(Value::as_str);
    let v1 = match api_version {
        Some(ray_api_v1::API_VERSION) => object,
        Some(ray_api_v1alpha1::API_VERSION) => {
            ray_api_v1alpha1::convert(object, ray_api_v1::API_VERSION)
                .map_err(|error| vec![conversion_error(error)])?
        }
        other => {
            return Err(vec![FieldError::new(
                "apiVersion",
                format!(
                    "expected ray.io/v1 or ray.io/v1alpha1, found {}",
                    other.map_or_else(|| "nothing".to_owned(), |v| format!("\"{v}\""))
                ),
            )]);
        }
    };
    let object = RayObject::from_json_value(v1).map_err(|error| vec![parse_error(error)])?;
    object.validate().map_err(|errors| errors.0)
}

/// A conversion error as a field error: the path when the conversion names one.
fn conversion_error(error: ray_api_v1alpha1::ConversionError) -> FieldError {
    match error {
        ray_api_v1alpha1::ConversionError::InvalidObject { path, message, .. } => {
            FieldError::new(if path == "." { String::new() } else { path }, message)
        }
        other => FieldError::new("", other.to_string()),
    }
}

/// A parse error as a field error.
fn parse_error(error: ray_api_v1::ParseError) -> FieldError {
    match error {
        ray_api_v1::ParseError::Field { path, message } => FieldError::new(path, message),
        other => FieldError::new("", other.to_string()),
    }
}

/// Denies with every problem in the message and in `details.causes`.
fn deny(
    mut response: AdmissionResponse,
    kind: &str,
    name: &str,
    errors: &[FieldError],
) -> AdmissionResponse {
    let list = errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ");
    response.allowed = false;
    response.result = Status {
        status: Some(StatusSummary::Failure),
        code: 422,
        message: format!("{kind} \"{name}\" is invalid: {list}"),
        metadata: None,
        reason: "Invalid".to_owned(),
        details: Some(StatusDetails {
            name: name.to_owned(),
            group: ray_api_v1::GROUP.to_owned(),
            kind: kind.to_owned(),
            uid: String::new(),
            causes: errors
                .iter()
                .map(|error| StatusCause {
                    reason: "FieldValueInvalid".to_owned(),
                    message: error.message.clone(),
                    field: error.path.clone(),
                })
                .collect(),
            retry_after_seconds: 0,
        }),
    };
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn review_body(operation: &str, object: Value, old: Option<Value>) -> Vec<u8> {
        let kind = object["kind"].as_str().unwrap_or("RayCluster").to_owned();
        serde_json::to_vec(&json!({
            "apiVersion": "admission.k8s.io/v1",
            "kind": "AdmissionReview",
            "request": {
                "uid": "4b1d-uid",
                "kind": { "group": "ray.io", "version": "v1", "kind": kind },
                "resource": { "group": "ray.io", "version": "v1", "resource": "rayclusters" },
                "name": "demo",
                "namespace": "ns",
                "operation": operation,
                "userInfo": { "username": "someone" },
                "object": object,
                "oldObject": old,
                "dryRun": false
            }
        }))
        .expect("json")
    }

    fn cluster(min: i64, max: i64) -> Value {
        json!({
            "apiVersion": "ray.io/v1",
            "kind": "RayCluster",
            "metadata": { "name": "demo", "namespace": "ns" },
            "spec": {
                "headGroupSpec": { "template": { "spec": { "containers": [{ "name": "h", "image": "ray" }] } } },
                "workerGroupSpecs": [{
                    "groupName": "w", "minReplicas": min, "maxReplicas": max,
                    "template": { "spec": { "containers": [{ "name": "w", "image": "ray" }] } }
                }]
            }
        })
    }

    fn response(body: &[u8]) -> AdmissionResponse {
        review(body)
            .expect("well-formed")
            .response
            .expect("a response")
    }

    #[test]
    fn a_valid_cluster_is_allowed_and_the_uid_is_echoed() {
        let response = response(&review_body("CREATE", cluster(1, 2), None));
        assert!(response.allowed);
        assert_eq!(response.uid, "4b1d-uid");
    }

    #[test]
    fn an_invalid_cluster_is_denied_with_the_field_path() {
        let response = response(&review_body("CREATE", cluster(3, 2), None));
        assert!(!response.allowed);
        assert_eq!(response.result.code, 422);
        assert_eq!(
            response.result.message,
            "RayCluster \"demo\" is invalid: spec.workerGroupSpecs[0].minReplicas: minReplicas (3) must not be \
             greater than maxReplicas (2)"
        );
        let causes = &response.result.details.expect("details").causes;
        assert_eq!(causes.len(), 1);
        assert_eq!(causes[0].field, "spec.workerGroupSpecs[0].minReplicas");
    }

    #[test]
    fn hostile_sizes_are_denied_or_refused_not_crashed_on() {
        // A string longer than any object Kubernetes stores: denied, naming the field.
        let mut object = cluster(1, 2);
        object["spec"]["rayVersion"] = json!("x".repeat(5 * 1024 * 1024));
        let response = response(&review_body("CREATE", object, None));
        assert!(!response.allowed);
        let causes = response.result.details.expect("details").causes;
        assert_eq!(causes[0].field, "spec.rayVersion");
        assert!(
            causes[0].message.contains("5242880 bytes"),
            "{}",
            causes[0].message
        );
        // Nesting deeper than serde_json reads: a malformed review (400), not a stack overflow.
        let mut object = cluster(1, 2);
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        object["spec"]["rayVersion"] = json!("placeholder");
        let body = String::from_utf8(review_body("CREATE", object, None))
            .expect("utf-8")
            .replace("\"placeholder\"", &deep);
        let error = review(body.as_bytes()).expect_err("too deep");
        assert!(error.0.contains("recursion limit"), "{error}");
    }

    #[test]
    fn every_problem_is_listed() {
        let mut object = cluster(3, 2);
        object["metadata"]["name"] = json!("Not_A_Valid_Name");
        let response = response(&review_body("CREATE", object, None));
        let causes = response.result.details.expect("details").causes;
        let fields: Vec<&str> = causes.iter().map(|c| c.field.as_str()).collect();
        assert_eq!(
            fields,
            ["metadata.name", "spec.workerGroupSpecs[0].minReplicas"]
        );
        assert!(response.result.message.contains("metadata.name: "));
        assert!(
            response
                .result
                .message
                .contains("; spec.workerGroupSpecs[0].minReplicas: ")
        );
    }

    /// What becomes a Pod or Service is held to the API server's rules at admission (issue #13), so the mistake is
    /// reported on `kubectl apply` instead of as a failed Pod create.
    #[test]
    fn pod_and_service_mistakes_are_denied_naming_the_field() {
        let head = "/spec/headGroupSpec/template/spec/containers/0";
        let cases: [(&str, Value, &str); 9] = [
            (
                "image",
                Value::Null,
                "spec.headGroupSpec.template.spec.containers[0].image",
            ),
            (
                "ports",
                json!([{ "containerPort": 70000 }]),
                "spec.headGroupSpec.template.spec.containers[0].ports[0].containerPort",
            ),
            (
                "env",
                json!([{ "name": "A=B", "value": "1" }]),
                "spec.headGroupSpec.template.spec.containers[0].env[0].name",
            ),
            (
                "resources",
                json!({ "limits": { "memory": "12Gb" } }),
                "spec.headGroupSpec.template.spec.containers[0].resources.limits[\"memory\"]",
            ),
            (
                "resources",
                json!({ "limits": { "cpu": "-1" } }),
                "spec.headGroupSpec.template.spec.containers[0].resources.limits[\"cpu\"]",
            ),
            (
                "resources",
                json!({ "limits": { "nvidia.com/gpu": "0.5" } }),
                "spec.headGroupSpec.template.spec.containers[0].resources.limits[\"nvidia.com/gpu\"]",
            ),
            (
                "resources",
                json!({ "limits": { "gpu": 1 } }),
                "spec.headGroupSpec.template.spec.containers[0].resources.limits[\"gpu\"]",
            ),
            (
                "/spec/headGroupSpec/headService",
                json!({ "spec": { "ports": [{ "name": "http", "port": 80 }, { "name": "http", "port": 81 }] } }),
                "spec.headGroupSpec.headService.spec.ports[1].name",
            ),
            (
                "/metadata/annotations",
                json!({ "a": "x".repeat(262_144) }),
                "metadata.annotations",
            ),
        ];
        for (field, value, path) in cases {
            let mut object = cluster(1, 2);
            let pointer = if field.starts_with('/') {
                field.to_owned()
            } else {
                format!("{head}/{field}")
            };
            let (parent, key) = pointer.rsplit_once('/').expect("a parent");
            let target = object
                .pointer_mut(parent)
                .and_then(Value::as_object_mut)
                .expect("the parent object");
            if value.is_null() {
                target.remove(key);
            } else {
                target.insert(key.to_owned(), value);
            }
            let response = response(&review_body("CREATE", object, None));
            assert!(!response.allowed, "{path}");
            let causes = response.result.details.expect("details").causes;
            assert!(
                causes.iter().any(|cause| cause.field == path),
                "{path} not among {causes:?}"
            );
        }
    }

    #[test]
    fn a_type_error_names_the_field() {
        let mut object = cluster(1, 2);
        object["spec"]["workerGroupSpecs"][0]["replicas"] = json!("two");
        let response = response(&review_body("CREATE", object, None));
        assert!(!response.allowed);
        let causes = response.result.details.expect("details").causes;
        assert_eq!(causes[0].field, "spec.workerGroupSpecs[0].replicas");
    }

    #[test]
    fn v1alpha1_objects_are_converted_then_validated() {
        let mut object = cluster(3, 2);
        object["apiVersion"] = json!("ray.io/v1alpha1");
        let response = response(&review_body("CREATE", object, None));
        assert!(!response.allowed);
        assert!(
            response
                .result
                .message
                .contains("spec.workerGroupSpecs[0].minReplicas"),
            "{}",
            response.result.message
        );
        let mut object = cluster(1, 2);
        object["apiVersion"] = json!("ray.io/v1alpha1");
        assert!(self::response(&review_body("CREATE", object, None)).allowed);
    }

    #[test]
    fn deletes_status_writes_and_metadata_only_updates_are_allowed() {
        let invalid = cluster(3, 2);
        assert!(
            response(&review_body(
                "DELETE",
                invalid.clone(),
                Some(invalid.clone())
            ))
            .allowed
        );

        let mut relabelled = invalid.clone();
        relabelled["metadata"]["labels"] = json!({ "team": "a" });
        assert!(response(&review_body("UPDATE", relabelled, Some(invalid.clone()))).allowed);

        let mut deleting = cluster(4, 2);
        deleting["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
        assert!(response(&review_body("UPDATE", deleting, Some(invalid.clone()))).allowed);

        let mut status = serde_json::from_slice::<Value>(&review_body(
            "UPDATE",
            cluster(4, 2),
            Some(invalid.clone()),
        ))
        .expect("json");
        status["request"]["subResource"] = json!("status");
        assert!(response(&serde_json::to_vec(&status).expect("json")).allowed);

        // A spec change is checked, even when the old object was invalid too.
        assert!(!response(&review_body("UPDATE", cluster(4, 2), Some(invalid))).allowed);
    }

    #[test]
    fn malformed_reviews_are_reported_not_panicked_on() {
        let error = review(b"not json").expect_err("malformed");
        assert!(
            error
                .0
                .contains("not an admission.k8s.io/v1 AdmissionReview"),
            "{error}"
        );
        let error = review(br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}"#)
            .expect_err("no request");
        assert!(error.0.contains("no `request`"), "{error}");
        let mut body = serde_json::from_slice::<Value>(&review_body("CREATE", cluster(1, 2), None))
            .expect("json");
        body["request"]["object"] = Value::Null;
        let error = review(&serde_json::to_vec(&body).expect("json")).expect_err("no object");
        assert!(error.0.contains("has no `object`"), "{error}");
    }

    #[test]
    fn cron_jobs_are_checked_with_their_schedule_and_job_template() {
        let cron_job = |schedule: &str, min: i64| {
            let mut template = cluster(min, 2)["spec"].clone();
            template["workerGroupSpecs"][0]["replicas"] = json!(min);
            json!({
                "apiVersion": "ray.io/v1", "kind": "RayCronJob",
                "metadata": { "name": "nightly", "namespace": "ns" },
                "spec": { "schedule": schedule, "jobTemplate": {
                    "entrypoint": "python job.py", "rayClusterSpec": template } }
            })
        };
        assert!(response(&review_body("CREATE", cron_job("0 3 * * *", 1), None)).allowed);
        let denied = response(&review_body("CREATE", cron_job("0 3 * *", 3), None));
        assert!(!denied.allowed);
        let fields: Vec<String> = denied
            .result
            .details
            .expect("details")
            .causes
            .into_iter()
            .map(|c| c.field)
            .collect();
        assert!(fields.contains(&"spec.schedule".to_owned()), "{fields:?}");
        assert!(
            fields.contains(
                &"spec.jobTemplate.rayClusterSpec.workerGroupSpecs[0].minReplicas".to_owned()
            ),
            "{fields:?}"
        );
    }

    #[test]
    fn foreign_objects_are_denied_naming_api_version() {
        let errors = validate(json!({ "apiVersion": "v1", "kind": "Pod" })).expect_err("foreign");
        assert_eq!(errors[0].path, "apiVersion");
    }
}
