//! One namespace per test, so tests sharing a control plane never see each other's objects.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::PostParams;
use kube::{Api, Client};

use crate::error::{Error, Result};

/// The label every test namespace carries, so a person can list (or delete) them all.
pub const TEST_NAMESPACE_LABEL: &str = "ray-testenv/test-namespace";

/// Creates a namespace named `<prefix>-<random>` and waits until its `default` service account exists: the API
/// server's ServiceAccount admission rejects pods in a namespace until the controller-manager has created it.
pub async fn create_namespace(client: &Client, prefix: &str) -> Result<String> {
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let ns = Namespace {
        metadata: ObjectMeta {
            generate_name: Some(format!("{prefix}-")),
            labels: Some(BTreeMap::from([(
                TEST_NAMESPACE_LABEL.to_owned(),
                "true".to_owned(),
            )])),
            ..ObjectMeta::default()
        },
        ..Namespace::default()
    };
    let created = namespaces
        .create(&PostParams::default(), &ns)
        .await
        .map_err(Error::kube(format!(
            "creating a namespace named {prefix}-*"
        )))?;
    let name = created
        .metadata
        .name
        .ok_or_else(|| Error::Other("the API server returned a namespace without a name".into()))?;
    let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), &name);
    let start = Instant::now();
    while accounts
        .get_opt("default")
        .await
        .map_err(Error::kube(format!("reading {name}/default")))?
        .is_none()
    {
        if start.elapsed() > Duration::from_secs(30) {
            return Err(Error::Other(format!(
                "service account {name}/default was not created within 30 s: is kube-controller-manager running?"
            )));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(name)
}
