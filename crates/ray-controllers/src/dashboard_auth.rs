//! The token the operator's dashboard client sends to a cluster with token authentication.
//!
//! The token lives in a Secret (`authOptions.secretName`, or the one the RayCluster controller generates, named
//! after the cluster), key `auth_token`. It is read with one GET when a reconcile is about to talk to the dashboard,
//! never cached across reconciles (a rotated token is picked up at once) and never watched (the operator holds
//! `get` on Secrets, not `list`/`watch`). The token is never logged: [`Token`]'s `Debug` hides it, and errors name
//! the Secret, not its content.

use std::fmt;

use k8s_openapi::api::core::v1::Secret;
use kube::{Api, Client, ResourceExt};
use ray_api_v1::raycluster::RayCluster;
use ray_builders::auth::{self, TokenAuth};
use ray_dashboard_client::{DashboardClient, Error as DashboardError};

use crate::error::api_message;

/// A dashboard token, hidden from `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<hidden>)")
    }
}

/// What a dashboard client of one cluster sends.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum DashboardAuth {
    /// Nothing: the cluster does not use token authentication.
    #[default]
    Off,
    /// This token.
    Token(Token),
    /// The cluster uses token authentication but its token cannot be read; every dashboard call fails with this
    /// reason (naming the Secret) instead of being sent without the token.
    Unavailable(String),
}

impl DashboardAuth {
    /// Adds the token to `client`; a token that cannot be read is the client's error.
    pub fn apply(&self, client: DashboardClient) -> Result<DashboardClient, DashboardError> {
        match self {
            DashboardAuth::Off => Ok(client),
            DashboardAuth::Token(Token(token)) => client.with_auth_token(token),
            DashboardAuth::Unavailable(reason) => Err(DashboardError::Token {
                reason: reason.clone(),
            }),
        }
    }
}

/// Reads the dashboard token of `cluster` (one GET of its Secret), or [`DashboardAuth::Off`] without token
/// authentication.
pub async fn for_cluster(client: &Client, cluster: &RayCluster) -> DashboardAuth {
    let namespace = cluster.namespace().unwrap_or_default();
    match auth::token_auth(&cluster.name_any(), &cluster.spec) {
        None => DashboardAuth::Off,
        Some(TokenAuth::Kubernetes) => DashboardAuth::Unavailable(
            "authOptions.enableK8sTokenAuth: the operator cannot authenticate to this cluster's dashboard with \
             Kubernetes tokens; use a shared token (remove enableK8sTokenAuth) for RayJob and RayService clusters"
                .to_owned(),
        ),
        Some(TokenAuth::Secret { name, generated }) => {
            let secrets: Api<Secret> = Api::namespaced(client.clone(), &namespace);
            match secrets.get_opt(&name).await {
                Ok(Some(secret)) => from_secret(&secret, &namespace, &name),
                Ok(None) if generated => DashboardAuth::Unavailable(format!(
                    "Secret {namespace}/{name} (the cluster's generated token) does not exist yet"
                )),
                Ok(None) => DashboardAuth::Unavailable(format!(
                    "Secret {namespace}/{name} named by authOptions.secretName does not exist; create it with \
                     the token under the key {key}",
                    key = auth::TOKEN_KEY
                )),
                Err(error) => DashboardAuth::Unavailable(format!(
                    "reading Secret {namespace}/{name}: {}",
                    api_message(&error)
                )),
            }
        }
    }
}

/// The token of a Secret: its `auth_token` key, as UTF-8 text.
pub fn from_secret(secret: &Secret, namespace: &str, name: &str) -> DashboardAuth {
    let key = auth::TOKEN_KEY;
    let bytes = secret
        .data
        .as_ref()
        .and_then(|d| d.get(key))
        .map(|b| b.0.clone())
        .or_else(|| {
            // A Secret read back from the API server has only `data`; `stringData` is accepted for objects that
            // have not been through it.
            secret
                .string_data
                .as_ref()
                .and_then(|d| d.get(key))
                .map(|s| s.clone().into_bytes())
        });
    match bytes {
        None => DashboardAuth::Unavailable(format!(
            "Secret {namespace}/{name} has no key {key}; put the token there"
        )),
        Some(bytes) => match String::from_utf8(bytes) {
            Ok(token) if !token.is_empty() => DashboardAuth::Token(Token(token)),
            Ok(_) => DashboardAuth::Unavailable(format!(
                "the key {key} of Secret {namespace}/{name} is empty"
            )),
            Err(_) => DashboardAuth::Unavailable(format!(
                "the key {key} of Secret {namespace}/{name} is not UTF-8 text"
            )),
        },
    }
}

/// A fresh token for a generated Secret: 32 random bytes from the operating system, base64-encoded (as KubeRay
/// generates them).
pub fn generate_token() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; auth::GENERATED_TOKEN_BYTES];
    getrandom::fill(&mut bytes)?;
    Ok(data_encoding::BASE64.encode(&bytes))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use k8s_openapi::ByteString;
    use std::collections::BTreeMap;

    fn secret(key: &str, value: &[u8]) -> Secret {
        Secret {
            data: Some(BTreeMap::from([(
                key.to_owned(),
                ByteString(value.to_vec()),
            )])),
            ..Secret::default()
        }
    }

    #[test]
    fn the_token_is_the_auth_token_key_and_is_never_printed() {
        let auth = from_secret(&secret("auth_token", b"s3cr3t"), "ns", "c");
        assert_eq!(auth, DashboardAuth::Token(Token("s3cr3t".into())));
        assert!(!format!("{auth:?}").contains("s3cr3t"));
    }

    #[test]
    fn a_secret_without_the_key_or_with_an_empty_one_names_the_secret_and_key() {
        for secret in [secret("token", b"x"), secret("auth_token", b"")] {
            let DashboardAuth::Unavailable(reason) = from_secret(&secret, "ns", "c") else {
                panic!("expected an unavailable token");
            };
            assert!(
                reason.contains("ns/c") && reason.contains("auth_token"),
                "{reason}"
            );
        }
    }

    #[test]
    fn an_unavailable_token_fails_the_client_instead_of_sending_nothing() {
        let client = DashboardClient::new("http://127.0.0.1:8265").unwrap();
        let error = DashboardAuth::Unavailable("Secret ns/c does not exist yet".into())
            .apply(client)
            .err()
            .unwrap();
        assert!(error.to_string().contains("ns/c"), "{error}");
    }

    #[test]
    fn generated_tokens_are_32_random_bytes_in_base64() {
        let a = generate_token().unwrap();
        let b = generate_token().unwrap();
        assert_ne!(a, b);
        let decoded = data_encoding::BASE64.decode(a.as_bytes()).unwrap();
        assert_eq!(decoded.len(), 32);
    }
}
