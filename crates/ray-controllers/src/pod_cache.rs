//! The one pod cache of a controller: only pods the operator manages (label `ray.io/node-type`), with
//! `managedFields` and other bulky, unused parts stripped before they are stored.
//!
//! KubeRay users see the operator's memory grow with every pod in the cluster; selecting by label keeps unrelated
//! pods out entirely, and pruning keeps each cached pod small (managedFields alone is often half of a pod).

use futures::Stream;
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};

/// The label every operator-managed pod carries.
pub const SELECTOR: &str = "ray.io/node-type";

/// Drops what the controller never reads: managedFields, the last-applied annotation, and per-container image
/// IDs and environment values are kept only where status and decisions need them.
pub fn prune(pod: &mut Pod) {
    pod.metadata.managed_fields = None;
    if let Some(annotations) = pod.metadata.annotations.as_mut() {
        annotations.remove("kubectl.kubernetes.io/last-applied-configuration");
    }
    if let Some(spec) = pod.spec.as_mut() {
        // Decisions read the first container's name and the restart policy; status reads nothing else.
        spec.init_containers = None;
        spec.volumes = None;
        spec.affinity = None;
        spec.tolerations = None;
        for container in &mut spec.containers {
            container.env = None;
            container.env_from = None;
            container.args = None;
            container.command = None;
            container.volume_mounts = None;
            container.liveness_probe = None;
            container.readiness_probe = None;
            container.startup_probe = None;
        }
    }
}

/// A pod watch (label-selected, pruned) that fills `Store` and yields every touched pod, to be given to
/// `Controller::owns_stream` so a pod change triggers its RayCluster.
pub fn pod_cache(
    api: Api<Pod>,
) -> (
    Store<Pod>,
    impl Stream<Item = Result<Pod, watcher::Error>> + Send + 'static,
) {
    let (store, writer) = reflector::store();
    let stream = watcher(api, watcher::Config::default().labels(SELECTOR))
        .default_backoff()
        .modify(prune)
        .reflect(writer)
        .touched_objects();
    (store, stream)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn pruning_drops_managed_fields_and_env_but_keeps_what_decisions_read() {
        let mut pod: k8s_openapi::api::core::v1::Pod = serde_json::from_value(json!({
            "metadata": {"name": "p", "labels": {"ray.io/node-type": "worker"},
                "managedFields": [{"manager": "x", "operation": "Update"}]},
            "spec": {"restartPolicy": "Never", "containers": [{"name": "ray", "env": [{"name": "A", "value": "1"}]}]},
            "status": {"phase": "Running"}
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        super::prune(&mut pod);
        assert!(pod.metadata.managed_fields.is_none());
        let spec = pod.spec.clone().unwrap_or_default();
        assert!(spec.containers[0].env.is_none());
        assert_eq!(spec.containers[0].name, "ray");
        assert_eq!(spec.restart_policy.as_deref(), Some("Never"));
        assert_eq!(pod.metadata.labels.unwrap_or_default().len(), 1);
    }
}
