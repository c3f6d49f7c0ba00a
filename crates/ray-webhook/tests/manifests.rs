//! The install manifests register the webhook exactly as `ray_webhook::registration` describes it, at the paths the
//! server serves.

use k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration;

#[test]
fn the_kustomize_validating_webhook_matches_the_registration() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../config/components/webhook/validating_webhook.yaml");
    let documents = ray_testenv::read_documents(&path).expect("the install manifest");
    let installed: ValidatingWebhookConfiguration =
        serde_json::from_value(documents[0].clone()).expect("a ValidatingWebhookConfiguration");
    let installed = installed.webhooks.expect("webhooks").remove(0);
    let expected = ray_webhook::registration::validating_webhook(installed.client_config.clone());
    assert_eq!(installed, expected);
    let service = installed
        .client_config
        .service
        .expect("a Service reference");
    assert_eq!(service.path.as_deref(), Some(ray_webhook::VALIDATE_PATH));
}
