//! The `ValidatingWebhookConfiguration` that sends RayCluster, RayJob, RayService and RayCronJob writes to
//! `/validate`.
//!
//! One definition of the rules for the install manifests, the tests and anyone registering the webhook by hand:
//! creates and updates of the three kinds in both versions, `sideEffects: None` (so dry runs are checked too),
//! `failurePolicy: Fail` (an object is never admitted unchecked while the webhook is down), a 5-second timeout
//! (validation takes milliseconds). `config/components/webhook/validating_webhook.yaml` holds the same and a test keeps
//! the two equal.

use k8s_openapi::api::admissionregistration::v1::{
    RuleWithOperations, ValidatingWebhook, ValidatingWebhookConfiguration, WebhookClientConfig,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

/// The webhook's name inside the configuration; the API server quotes it in every denial:
/// `admission webhook "validate.ray.io" denied the request: ...`.
pub const WEBHOOK_NAME: &str = "validate.ray.io";

/// The resources the webhook reviews.
/// (RayCronJob has no v1alpha1 version; a rule naming a version a resource lacks matches nothing there.)
pub const RESOURCES: [&str; 4] = ["rayclusters", "rayjobs", "rayservices", "raycronjobs"];

/// The webhook entry for `client_config` (a Service reference with path [`crate::VALIDATE_PATH`], or a URL, and
/// the `caBundle`). Adjust `namespace_selector` or `object_selector` on the result to limit where it applies.
pub fn validating_webhook(client_config: WebhookClientConfig) -> ValidatingWebhook {
    ValidatingWebhook {
        name: WEBHOOK_NAME.to_owned(),
        admission_review_versions: vec!["v1".to_owned()],
        client_config,
        failure_policy: Some("Fail".to_owned()),
        match_policy: Some("Equivalent".to_owned()),
        rules: Some(vec![RuleWithOperations {
            api_groups: Some(vec![ray_api_v1::GROUP.to_owned()]),
            api_versions: Some(vec![
                ray_api_v1::VERSION.to_owned(),
                ray_api_v1alpha1::VERSION.to_owned(),
            ]),
            operations: Some(vec!["CREATE".to_owned(), "UPDATE".to_owned()]),
            resources: Some(RESOURCES.iter().map(|r| (*r).to_owned()).collect()),
            scope: Some("Namespaced".to_owned()),
        }]),
        side_effects: "None".to_owned(),
        timeout_seconds: Some(5),
        ..ValidatingWebhook::default()
    }
}

/// A `ValidatingWebhookConfiguration` named `name` holding [`validating_webhook`] for `client_config`.
pub fn validating_webhook_configuration(
    name: &str,
    client_config: WebhookClientConfig,
) -> ValidatingWebhookConfiguration {
    ValidatingWebhookConfiguration {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            ..ObjectMeta::default()
        },
        webhooks: Some(vec![validating_webhook(client_config)]),
    }
}
