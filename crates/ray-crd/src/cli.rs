//! Command-line options that switch the generated CRDs to the conversion webhook, shared by `ray-operator crd` and
//! `cargo xtask crd` (feature `cli`).

use std::path::PathBuf;

use crate::conversion::{ConversionWebhook, WebhookEndpoint};

/// The conversion options. Without `--conversion-webhook-service` or `--conversion-webhook-url` the CRDs keep the
/// `None` strategy.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ConversionArgs {
    /// Convert between ray.io/v1 and ray.io/v1alpha1 through the operator's webhook behind this Service,
    /// NAMESPACE/NAME or NAMESPACE/NAME:PORT (port 443 by default, path /convert), so nothing is lost when an
    /// object is written back through v1alpha1. The operator must then run with --webhook-addr.
    #[arg(
        long,
        value_name = "NAMESPACE/NAME[:PORT]",
        conflicts_with = "conversion_webhook_url"
    )]
    pub conversion_webhook_service: Option<WebhookEndpoint>,
    /// Like --conversion-webhook-service, for an operator outside the cluster: the full HTTPS URL of /convert,
    /// e.g. https://127.0.0.1:9443/convert.
    #[arg(long, value_name = "URL")]
    pub conversion_webhook_url: Option<String>,
    /// A PEM file with the CA that signed the webhook's certificate, written into the CRDs as `caBundle` (for a
    /// generated certificate: `ca.crt` in --webhook-cert-dir). Leave it out when cert-manager injects it.
    #[arg(long, value_name = "FILE")]
    pub conversion_ca_bundle_file: Option<PathBuf>,
    /// NAMESPACE/CERTIFICATE of the cert-manager Certificate of the webhook: adds the
    /// `cert-manager.io/inject-ca-from` annotation so cert-manager fills in and rotates the `caBundle`.
    #[arg(long, value_name = "NAMESPACE/CERTIFICATE")]
    pub conversion_inject_ca_from: Option<String>,
}

/// Why the conversion options cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConversionArgsError {
    /// A CA or cert-manager option without an endpoint.
    #[error(
        "{0} needs --conversion-webhook-service or --conversion-webhook-url (without either, the CRDs keep the None \
         conversion strategy)"
    )]
    NoEndpoint(&'static str),
    /// The URL is not HTTPS.
    #[error(
        "--conversion-webhook-url must be an https:// URL (the API server calls webhooks over TLS), got `{0}`"
    )]
    NotHttps(String),
    /// `--conversion-inject-ca-from` is not NAMESPACE/NAME.
    #[error("--conversion-inject-ca-from must be NAMESPACE/CERTIFICATE, got `{0}`")]
    BadCertificate(String),
    /// The CA file cannot be read or holds no certificate.
    #[error("--conversion-ca-bundle-file {}: {reason}", .path.display())]
    CaBundle {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

impl ConversionArgs {
    /// The webhook the options describe, or `None` for the default `None` strategy.
    ///
    /// # Errors
    ///
    /// When the options contradict each other, the URL is not HTTPS, or the CA file cannot be read.
    pub fn webhook(&self) -> Result<Option<ConversionWebhook>, ConversionArgsError> {
        let endpoint = match (
            &self.conversion_webhook_service,
            &self.conversion_webhook_url,
        ) {
            (Some(service), _) => service.clone(),
            (None, Some(url)) if url.starts_with("https://") => WebhookEndpoint::Url(url.clone()),
            (None, Some(url)) => return Err(ConversionArgsError::NotHttps(url.clone())),
            (None, None) => {
                if self.conversion_ca_bundle_file.is_some() {
                    return Err(ConversionArgsError::NoEndpoint(
                        "--conversion-ca-bundle-file",
                    ));
                }
                if self.conversion_inject_ca_from.is_some() {
                    return Err(ConversionArgsError::NoEndpoint(
                        "--conversion-inject-ca-from",
                    ));
                }
                return Ok(None);
            }
        };
        if let Some(certificate) = &self.conversion_inject_ca_from {
            let valid = certificate.split_once('/').is_some_and(|(ns, name)| {
                !ns.is_empty() && !name.is_empty() && !name.contains('/')
            });
            if !valid {
                return Err(ConversionArgsError::BadCertificate(certificate.clone()));
            }
        }
        let ca_bundle = match &self.conversion_ca_bundle_file {
            None => None,
            Some(path) => {
                let fail = |reason: String| ConversionArgsError::CaBundle {
                    path: path.clone(),
                    reason,
                };
                let pem = std::fs::read(path).map_err(|e| fail(e.to_string()))?;
                if !String::from_utf8_lossy(&pem).contains("-----BEGIN CERTIFICATE-----") {
                    return Err(fail("holds no PEM certificate".into()));
                }
                Some(pem)
            }
        };
        Ok(Some(ConversionWebhook {
            endpoint,
            ca_bundle,
            inject_ca_from: self.conversion_inject_ca_from.clone(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_endpoint_means_the_none_strategy_and_stray_options_are_errors() {
        assert!(matches!(ConversionArgs::default().webhook(), Ok(None)));
        let args = ConversionArgs {
            conversion_inject_ca_from: Some("ns/cert".into()),
            ..ConversionArgs::default()
        };
        let error = args.webhook().expect_err("no endpoint");
        assert!(
            error.to_string().contains("--conversion-webhook-service"),
            "{error}"
        );
    }

    #[test]
    fn urls_must_be_https_and_ca_files_must_hold_certificates() {
        let args = ConversionArgs {
            conversion_webhook_url: Some("http://127.0.0.1:9443/convert".into()),
            ..ConversionArgs::default()
        };
        assert!(matches!(
            args.webhook(),
            Err(ConversionArgsError::NotHttps(_))
        ));
        let args = ConversionArgs {
            conversion_webhook_url: Some("https://127.0.0.1:9443/convert".into()),
            conversion_ca_bundle_file: Some("/nonexistent/ca.crt".into()),
            ..ConversionArgs::default()
        };
        let error = args.webhook().expect_err("missing file");
        assert!(error.to_string().contains("/nonexistent/ca.crt"), "{error}");
    }
}
