//! The webhook's request bodies, through the same functions the HTTPS handlers call.

use serde_json::Value;

/// `POST /validate`: a well-formed review is answered for its own request, and a denial says why.
pub(crate) fn admission(data: &[u8]) {
    let Ok(review) = ray_webhook::admission::review(data) else {
        return;
    };
    let answer = serde_json::to_value(&review).expect("the answer serializes");
    // The typed review skips fields it does not know without checking them (a lone surrogate `\ud800` in one is
    // accepted), so the body is not always a valid JSON value.
    if let Ok(request) = serde_json::from_slice::<Value>(data) {
        assert_eq!(
            answer["response"]["uid"], request["request"]["uid"],
            "the answer is for another request"
        );
    }
    if answer["response"]["allowed"] == Value::Bool(false) {
        let message = answer["response"]["status"]["message"]
            .as_str()
            .unwrap_or_default();
        assert!(!message.is_empty(), "a denial without a message: {answer}");
    }
}

/// `POST /convert`: a successful review converts every object to the desired version, in order, and converting
/// them back gives what a direct conversion gives.
pub(crate) fn conversion(data: &[u8]) {
    let Ok(review) = ray_webhook::conversion::review(data) else {
        return;
    };
    let answer = serde_json::to_value(&review).expect("the answer serializes");
    let Ok(request) = serde_json::from_slice::<Value>(data) else {
        return; // see `admission`
    };
    let response = &answer["response"];
    assert_eq!(
        response["uid"], request["request"]["uid"],
        "the answer is for another request"
    );
    if response["result"]["status"] != "Success" {
        let message = response["result"]["message"].as_str().unwrap_or_default();
        assert!(!message.is_empty(), "a failure without a message: {answer}");
        return;
    }
    let desired = request["request"]["desiredAPIVersion"]
        .as_str()
        .unwrap_or_default();
    let objects = request["request"]["objects"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let converted = response["convertedObjects"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(converted.len(), objects.len(), "objects were lost or added");
    for (original, converted) in objects.iter().zip(converted) {
        assert_eq!(
            converted["apiVersion"], desired,
            "an object in the wrong version"
        );
        let direct = ray_api_v1alpha1::convert(original.clone(), desired)
            .expect("the webhook converted it, so the library does");
        assert_eq!(
            converted, direct,
            "the webhook and the library convert differently"
        );
        // And the object survives the round trip (typed and as JSON).
        crate::manifests::check_round_trips(original);
    }
}
