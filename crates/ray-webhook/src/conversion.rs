//! `POST /convert`: `ConversionReview`s between `ray.io/v1` and `ray.io/v1alpha1`.
//!
//! The API server calls this when the CRDs use the `Webhook` conversion strategy: for every read or write in a
//! version other than the stored `v1`, and for every list, with all objects of the request in one review. Each
//! object is converted with [`ray_api_v1alpha1::convert`], which keeps what the target version cannot hold in the
//! `ray.io/v1-preserved-fields` (or `ray.io/v1alpha1-preserved-fields`) annotation and puts it back on the way
//! home, so a v1 object read and written back through v1alpha1 keeps every field.
//!
//! The conversion is lenient with a hand-edited preserved-fields annotation (it ignores what it cannot use): a
//! broken annotation must never make an object unreadable. An object that cannot be converted at all (not a ray.io
//! kind, or not matching its version's schema) fails the whole review, as Kubernetes requires, with a message that
//! names the object and the field.

use kube::core::Status;
use kube::core::conversion::{ConversionRequest, ConversionResponse, ConversionReview};
use serde_json::Value;

use crate::MalformedReview;

/// At most this many failed objects are described in a failure message; the rest are counted.
const MAX_REPORTED_FAILURES: usize = 5;

/// Reads a `ConversionReview` request body and returns the review to answer with.
///
/// # Errors
///
/// [`MalformedReview`] when the body is not a `ConversionReview` with a `request` (answered with 400).
pub fn review(body: &[u8]) -> Result<ConversionReview, MalformedReview> {
    let review: ConversionReview = serde_json::from_slice(body).map_err(|error| {
        MalformedReview(format!(
            "the body is not an apiextensions.k8s.io/v1 ConversionReview: {error}"
        ))
    })?;
    let request = ConversionRequest::from_review(review).map_err(|_| {
        MalformedReview("the ConversionReview has no `request` to convert".to_owned())
    })?;
    Ok(convert(request).into_review())
}

/// Converts every object of a request to its `desiredAPIVersion`, or fails the whole request naming each object
/// that could not be converted.
pub fn convert(request: ConversionRequest) -> ConversionResponse {
    let desired = request.desired_api_version.clone();
    let objects = request.objects.clone();
    let response = ConversionResponse::for_request(request);
    let mut converted = Vec::with_capacity(objects.len());
    let mut failures = Vec::new();
    for (index, object) in objects.into_iter().enumerate() {
        let what = describe(index, &object);
        match ray_api_v1alpha1::convert(object, &desired) {
            Ok(object) => converted.push(object),
            Err(error) => failures.push(format!("{what}: {error}")),
        }
    }
    if failures.is_empty() {
        return response.success(converted);
    }
    let count = failures.len();
    tracing::warn!(desired = %desired, failed = count, first = %failures[0], "conversion failed");
    let mut message = format!(
        "cannot convert {count} object{} to {desired}: {}",
        if count == 1 { "" } else { "s" },
        failures
            .iter()
            .take(MAX_REPORTED_FAILURES)
            .cloned()
            .collect::<Vec<_>>()
            .join("; ")
    );
    if count > MAX_REPORTED_FAILURES {
        message.push_str(&format!("; and {} more", count - MAX_REPORTED_FAILURES));
    }
    response.failure(Status::failure(&message, "ConversionFailed"))
}

/// `object 2 (RayJob ns/name)`, with whatever of that the object has.
fn describe(index: usize, object: &Value) -> String {
    let text = |pointer: &str| object.pointer(pointer).and_then(Value::as_str);
    let kind = text("/kind").unwrap_or("object without kind");
    let name = match (text("/metadata/namespace"), text("/metadata/name")) {
        (Some(namespace), Some(name)) => format!(" {namespace}/{name}"),
        (None, Some(name)) => format!(" {name}"),
        _ => String::new(),
    };
    format!("object {index} ({kind}{name})")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body(desired: &str, objects: Vec<Value>) -> Vec<u8> {
        serde_json::to_vec(&json!({
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "ConversionReview",
            "request": { "uid": "c0ffee", "desiredAPIVersion": desired, "objects": objects }
        }))
        .expect("json")
    }

    fn job(api_version: &str) -> Value {
        json!({
            "apiVersion": api_version,
            "kind": "RayJob",
            "metadata": { "name": "job", "namespace": "ns" },
            "spec": { "entrypoint": "python main.py", "activeDeadlineSeconds": 600, "submissionMode": "HTTPMode" }
        })
    }

    fn answer(body: &[u8]) -> Value {
        serde_json::to_value(review(body).expect("well-formed")).expect("json")
    }

    #[test]
    fn converts_every_object_in_order_and_back_losslessly() {
        let mut cluster = json!({
            "apiVersion": "ray.io/v1", "kind": "RayCluster", "metadata": { "name": "c", "namespace": "ns" },
            "spec": { "headGroupSpec": { "template": { "spec": { "containers": [{ "name": "h", "image": "ray" }] } } },
                      "workerGroupSpecs": [{ "groupName": "tpu", "numOfHosts": 4,
                          "template": { "spec": { "containers": [{ "name": "w", "image": "ray" }] } } }] }
        });
        cluster["metadata"]["labels"] = json!({ "a": "b" });
        let answer = answer(&body(
            "ray.io/v1alpha1",
            vec![job("ray.io/v1"), cluster.clone()],
        ));
        let response = &answer["response"];
        assert_eq!(response["uid"], "c0ffee");
        assert_eq!(response["result"]["status"], "Success");
        let converted = response["convertedObjects"].as_array().expect("objects");
        assert_eq!(converted.len(), 2);
        assert_eq!(converted[0]["kind"], "RayJob");
        assert_eq!(converted[0]["apiVersion"], "ray.io/v1alpha1");
        assert!(converted[0]["spec"].get("activeDeadlineSeconds").is_none());
        assert!(
            converted[1]["spec"]["workerGroupSpecs"][0]
                .get("numOfHosts")
                .is_none()
        );

        let back = self::answer(&body("ray.io/v1", converted.clone()));
        let back = back["response"]["convertedObjects"]
            .as_array()
            .expect("objects")
            .clone();
        assert_eq!(back, vec![job("ray.io/v1"), cluster]);
    }

    #[test]
    fn a_failed_object_fails_the_review_naming_it() {
        let mut broken = job("ray.io/v1");
        broken["spec"]["activeDeadlineSeconds"] = json!("soon");
        let answer = answer(&body(
            "ray.io/v1alpha1",
            vec![
                job("ray.io/v1"),
                broken,
                json!({ "apiVersion": "v1", "kind": "Pod" }),
            ],
        ));
        let result = &answer["response"]["result"];
        assert_eq!(result["status"], "Failure");
        let message = result["message"].as_str().expect("message");
        assert!(
            message.starts_with("cannot convert 2 objects to ray.io/v1alpha1: "),
            "{message}"
        );
        assert!(message.contains("object 1 (RayJob ns/job)"), "{message}");
        assert!(message.contains("spec.activeDeadlineSeconds"), "{message}");
        assert!(message.contains("object 2 (Pod)"), "{message}");
        assert!(
            answer["response"]["convertedObjects"]
                .as_array()
                .is_none_or(Vec::is_empty)
        );
    }

    #[test]
    fn an_unknown_desired_version_fails_with_a_message() {
        let answer = answer(&body("ray.io/v2", vec![job("ray.io/v1")]));
        let message = answer["response"]["result"]["message"]
            .as_str()
            .expect("message");
        assert!(message.contains("ray.io/v2"), "{message}");
    }

    #[test]
    fn malformed_reviews_are_reported() {
        assert!(
            review(b"{")
                .expect_err("not json")
                .0
                .contains("ConversionReview")
        );
        let error =
            review(br#"{"apiVersion":"apiextensions.k8s.io/v1","kind":"ConversionReview"}"#)
                .expect_err("no request");
        assert!(error.0.contains("no `request`"), "{error}");
    }
}
