//! The operator's webhooks: admission validation and CRD version conversion, served over HTTPS.
//!
//! The Kubernetes API server calls two endpoints of one HTTPS server:
//!
//! - `POST /validate` ([`VALIDATE_PATH`]) receives an `AdmissionReview` (`admission.k8s.io/v1`) for every create
//!   and update of a RayCluster, RayJob, RayService or RayCronJob, in `ray.io/v1` or `ray.io/v1alpha1`. It runs the
//!   same validation the controllers run ([`ray_api_v1::validation`]; a v1alpha1 object is converted to v1 first) and
//!   denies an invalid object with every problem and its field path, so `kubectl apply` fails before anything is
//!   stored instead of the object failing later in its status. See [`admission`].
//! - `POST /convert` ([`CONVERT_PATH`]) receives a `ConversionReview` (`apiextensions.k8s.io/v1`) when the CRDs use
//!   the `Webhook` conversion strategy, and converts objects between `ray.io/v1` and `ray.io/v1alpha1` without
//!   losing the fields only v1 has ([`ray_api_v1alpha1::conversion`]). See [`conversion`].
//!
//! The server speaks TLS only (rustls). Its certificate comes from a directory in the layout of a cert-manager
//! Secret (`tls.crt`, `tls.key`) and is reloaded when the files change, so a rotated certificate is served without
//! a restart; for local runs, when the directory holds no certificate, a self-signed one is generated and its CA
//! written next to it for registering the webhooks. See [`certs`].
//!
//! ```no_run
//! # async fn example() -> Result<(), ray_webhook::WebhookError> {
//! use ray_webhook::{WebhookConfig, WebhookServer};
//!
//! let config = WebhookConfig::new("127.0.0.1:9443".parse().expect("address"), "/tmp/certs".into());
//! let server = WebhookServer::bind(config).await?;
//! println!("serving on https://{}", server.local_addr());
//! server.serve(async { let _ = tokio::signal::ctrl_c().await; }).await;
//! # Ok(()) }
//! ```
//!
//! [`registration`] builds the `ValidatingWebhookConfiguration` that routes the three kinds to `/validate`;
//! `ray_crd::ConversionWebhook` builds CRDs whose conversion points at `/convert`. `docs/webhooks.md` describes
//! deployment.

pub mod admission;
pub mod certs;
pub mod conversion;
pub mod registration;
mod server;

pub use certs::{CA_FILE, CERT_FILE, CertError, KEY_FILE};
pub use server::{WebhookConfig, WebhookError, WebhookServer};

/// The path the API server posts `AdmissionReview`s to.
pub const VALIDATE_PATH: &str = "/validate";

/// The path the API server posts `ConversionReview`s to (the one the CRDs name, [`ray_crd::CONVERSION_PATH`]).
pub const CONVERT_PATH: &str = ray_crd::CONVERSION_PATH;

/// The largest `AdmissionReview` body accepted, in bytes; a larger one is answered with `413 Payload Too Large`.
pub const MAX_ADMISSION_BODY_BYTES: usize = ray_api_v1::parse::limits::MAX_ADMISSION_REVIEW_BYTES;

/// The largest `ConversionReview` body accepted, in bytes. The API server converts a whole list in one review, so
/// a `kubectl get rayclusters -o yaml --all-namespaces` through the other version can be large; a larger one is
/// answered with `413 Payload Too Large`.
pub const MAX_BODY_BYTES: usize = ray_api_v1::parse::limits::MAX_CONVERSION_REVIEW_BYTES;

/// A request body that is not a review the API server would send: not JSON, not the expected kind, or without its
/// `request`. The server answers it with `400 Bad Request` and this text; the API server never sends one, so it
/// usually means something other than the API server is calling the webhook.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct MalformedReview(pub String);
