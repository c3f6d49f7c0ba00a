//! CRDs that convert between `ray.io/v1` and `ray.io/v1alpha1` through the operator's conversion webhook.
//!
//! The published CRDs (`config/crd/`) use the `None` strategy: the API server only rewrites `apiVersion`, so
//! writing a v1 object back through v1alpha1 drops the fields v1alpha1 lacks. With the `Webhook` strategy the API
//! server asks the operator (`POST /convert`), which keeps those fields in an annotation and restores them. The
//! operator must then be running and reachable for every v1alpha1 request, which is why it is an install option.
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use ray_crd::{ConversionWebhook, WebhookEndpoint};
//!
//! let webhook = ConversionWebhook {
//!     endpoint: "ray-system/ray-operator-webhook".parse::<WebhookEndpoint>()?,
//!     ca_bundle: None,
//!     inject_ca_from: Some("ray-system/ray-operator-webhook".into()),
//! };
//! let crds = ray_crd::crds_with_conversion(&webhook)?;
//! let conversion = crds[0].spec.conversion.as_ref().expect("conversion");
//! assert_eq!(conversion.strategy, "Webhook");
//! # Ok(()) }
//! ```

use std::collections::BTreeMap;
use std::str::FromStr;

use k8s_openapi::ByteString;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceConversion, CustomResourceDefinition, ServiceReference, WebhookClientConfig,
    WebhookConversion,
};

/// The path of the operator's conversion endpoint.
pub const CONVERSION_PATH: &str = "/convert";

/// The port of the webhook Service in the install manifests (the API server's default for Service references).
pub const DEFAULT_SERVICE_PORT: i32 = 443;

/// The annotation cert-manager's CA injector reads to fill in `caBundle` from a Certificate's CA.
pub const CERT_MANAGER_INJECT_CA_FROM: &str = "cert-manager.io/inject-ca-from";

/// Where the API server reaches the conversion webhook.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WebhookEndpoint {
    /// A Service in the cluster; the path is [`CONVERSION_PATH`].
    Service {
        /// The Service's namespace.
        namespace: String,
        /// The Service's name.
        name: String,
        /// The Service port ([`DEFAULT_SERVICE_PORT`] when not given).
        port: i32,
    },
    /// A URL, `https://host:port/convert`, for an operator outside the cluster (for example a local run).
    Url(String),
}

/// Why a `--conversion-webhook-service` value cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{0}` is not a Service: write NAMESPACE/NAME or NAMESPACE/NAME:PORT, for example ray-system/ray-operator-webhook:443"
)]
pub struct EndpointParseError(pub String);

impl FromStr for WebhookEndpoint {
    type Err = EndpointParseError;

    /// Reads `NAMESPACE/NAME` or `NAMESPACE/NAME:PORT` as a Service endpoint.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let fail = || EndpointParseError(text.to_owned());
        let (namespace, rest) = text.split_once('/').ok_or_else(fail)?;
        let (name, port) = match rest.split_once(':') {
            Some((name, port)) => (
                name,
                port.parse::<i32>()
                    .ok()
                    .filter(|p| (1..=65535).contains(p))
                    .ok_or_else(fail)?,
            ),
            None => (rest, DEFAULT_SERVICE_PORT),
        };
        if namespace.is_empty() || name.is_empty() || name.contains('/') {
            return Err(fail());
        }
        Ok(Self::Service {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            port,
        })
    }
}

/// How the CRDs reach the conversion webhook and trust its certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConversionWebhook {
    /// The Service or URL.
    pub endpoint: WebhookEndpoint,
    /// The CA certificate(s), PEM, that signed the webhook's serving certificate. `None` when something else fills
    /// it in (cert-manager's CA injector, see `inject_ca_from`).
    pub ca_bundle: Option<Vec<u8>>,
    /// `NAMESPACE/CERTIFICATE` of a cert-manager Certificate: adds the `cert-manager.io/inject-ca-from` annotation
    /// so cert-manager writes and rotates the `caBundle`.
    pub inject_ca_from: Option<String>,
}

impl ConversionWebhook {
    /// Switches `crd` to the `Webhook` conversion strategy with this endpoint (ConversionReview `v1`).
    pub fn apply_to(&self, crd: &mut CustomResourceDefinition) {
        let (service, url) = match &self.endpoint {
            WebhookEndpoint::Service {
                namespace,
                name,
                port,
            } => (
                Some(ServiceReference {
                    namespace: namespace.clone(),
                    name: name.clone(),
                    path: Some(CONVERSION_PATH.to_owned()),
                    port: Some(*port),
                }),
                None,
            ),
            WebhookEndpoint::Url(url) => (None, Some(url.clone())),
        };
        crd.spec.conversion = Some(CustomResourceConversion {
            strategy: "Webhook".to_owned(),
            webhook: Some(WebhookConversion {
                client_config: Some(WebhookClientConfig {
                    ca_bundle: self.ca_bundle.clone().map(ByteString),
                    service,
                    url,
                }),
                conversion_review_versions: vec!["v1".to_owned()],
            }),
        });
        if let Some(certificate) = &self.inject_ca_from {
            crd.metadata
                .annotations
                .get_or_insert_with(BTreeMap::new)
                .insert(CERT_MANAGER_INJECT_CA_FROM.to_owned(), certificate.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_endpoints_parse_with_and_without_port() {
        assert_eq!(
            "ray-system/webhook".parse::<WebhookEndpoint>(),
            Ok(WebhookEndpoint::Service {
                namespace: "ray-system".into(),
                name: "webhook".into(),
                port: 443
            })
        );
        assert_eq!(
            "ns/svc:9443".parse::<WebhookEndpoint>(),
            Ok(WebhookEndpoint::Service {
                namespace: "ns".into(),
                name: "svc".into(),
                port: 9443
            })
        );
        for bad in ["svc", "/svc", "ns/", "ns/svc:0", "ns/svc:http", "a/b/c"] {
            let error = bad.parse::<WebhookEndpoint>().expect_err(bad);
            assert!(error.to_string().contains("NAMESPACE/NAME"), "{error}");
        }
    }
}
