//! Adding and removing one finalizer of an object, as a compare-and-swap: the patch carries the object's
//! `resourceVersion`, so a finalizer another controller added or removed meanwhile is never lost (the API server
//! answers 409 Conflict and the next reconcile tries again with the fresh object).
//!
//! Not kube-runtime's `finalizer()`: that wraps the whole reconcile in apply/cleanup halves, while the Ray
//! controllers decide from the object whether a cleanup is needed at all (a RayCluster without GCS fault
//! tolerance gets no finalizer) and run it as a state of their own state machine.

use kube::api::{Patch, PatchParams};
use kube::{Api, Resource, ResourceExt};
use serde::de::DeserializeOwned;

/// What the finalizer functions can patch: any resource kube can read back.
pub trait Finalizable: Resource + Clone + DeserializeOwned + std::fmt::Debug {}

impl<K: Resource + Clone + DeserializeOwned + std::fmt::Debug> Finalizable for K {}

/// Whether `object` carries the finalizer `name`.
pub fn has<K: ResourceExt>(object: &K, name: &str) -> bool {
    object.finalizers().iter().any(|f| f == name)
}

/// Adds the finalizer `name` to `object` unless it has it. Returns whether it wrote.
pub async fn add<K: Finalizable>(
    api: &Api<K>,
    object: &K,
    name: &str,
    field_manager: &str,
) -> Result<bool, kube::Error> {
    if has(object, name) {
        return Ok(false);
    }
    let mut finalizers = object.finalizers().to_vec();
    finalizers.push(name.to_string());
    write(api, object, finalizers, field_manager).await?;
    Ok(true)
}

/// Removes the finalizer `name` from `object` if it has it. Returns whether it wrote; an object that is already
/// gone counts as done.
pub async fn remove<K: Finalizable>(
    api: &Api<K>,
    object: &K,
    name: &str,
    field_manager: &str,
) -> Result<bool, kube::Error> {
    if !has(object, name) {
        return Ok(false);
    }
    let finalizers: Vec<String> = object
        .finalizers()
        .iter()
        .filter(|f| *f != name)
        .cloned()
        .collect();
    match write(api, object, finalizers, field_manager).await {
        Ok(()) => Ok(true),
        Err(kube::Error::Api(status)) if status.is_not_found() => Ok(false),
        Err(error) => Err(error),
    }
}

async fn write<K: Finalizable>(
    api: &Api<K>,
    object: &K,
    finalizers: Vec<String>,
    field_manager: &str,
) -> Result<(), kube::Error> {
    let patch = serde_json::json!({
        "metadata": {"finalizers": finalizers, "resourceVersion": object.resource_version()}
    });
    let params = PatchParams {
        field_manager: Some(field_manager.to_string()),
        ..PatchParams::default()
    };
    api.patch(&object.name_any(), &params, &Patch::Merge(&patch))
        .await?;
    Ok(())
}
