//! The one pod cache of a controller: only pods the operator manages (label `ray.io/node-type`), with
//! `managedFields` and other bulky, unused parts stripped before they are stored.
//!
//! KubeRay users see the operator's memory grow with every pod in the cluster; selecting by label keeps unrelated
//! pods out entirely, and pruning keeps each cached pod small (managedFields alone is often half of a pod).

use futures::Stream;
use k8s_openapi::api::core::v1::{Container, ContainerStatus, Pod, PodSpec, PodStatus};
use kube::Api;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};

/// The label every operator-managed pod carries.
pub const SELECTOR: &str = "ray.io/node-type";

/// Keeps only what the controller reads: metadata (without managedFields and the last-applied annotation), from
/// the spec the restart policy, the node and each container's name, and from the status the phase, conditions,
/// pod IP, reason/message and each container's name, readiness, restarts and state.
///
/// Everything else (images, commands, env, resources, probes, volumes, security contexts, tolerations, image IDs,
/// host IPs, ...) is dropped before the pod is stored: the cache holds one entry per Ray pod in the cluster, and a
/// full pod is several times the size of this summary in memory (see docs/performance.md for the measurement).
pub fn prune(pod: &mut Pod) {
    pod.metadata.managed_fields = None;
    if let Some(annotations) = pod.metadata.annotations.as_mut() {
        annotations.remove("kubectl.kubernetes.io/last-applied-configuration");
    }
    if let Some(spec) = pod.spec.take() {
        pod.spec = Some(PodSpec {
            restart_policy: spec.restart_policy,
            node_name: spec.node_name,
            containers: spec
                .containers
                .into_iter()
                .map(|c| Container {
                    name: c.name,
                    ..Container::default()
                })
                .collect(),
            ..PodSpec::default()
        });
    }
    if let Some(status) = pod.status.take() {
        pod.status = Some(PodStatus {
            phase: status.phase,
            conditions: status.conditions,
            pod_ip: status.pod_ip,
            reason: status.reason,
            message: status.message,
            start_time: status.start_time,
            container_statuses: status.container_statuses.map(|statuses| {
                statuses
                    .into_iter()
                    .map(|c| ContainerStatus {
                        name: c.name,
                        ready: c.ready,
                        restart_count: c.restart_count,
                        started: c.started,
                        state: c.state,
                        ..ContainerStatus::default()
                    })
                    .collect()
            }),
            ..PodStatus::default()
        });
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
    selected_pod_cache(api, SELECTOR)
}

/// The same pruned pod cache for the pods matching `selector` (a label selector narrower than [`SELECTOR`], such
/// as head pods only); the stream must be polled for the store to fill.
pub fn selected_pod_cache(
    api: Api<Pod>,
    selector: &str,
) -> (
    Store<Pod>,
    impl Stream<Item = Result<Pod, watcher::Error>> + Send + 'static,
) {
    let (store, writer) = reflector::store();
    let stream = watcher(api, watcher::Config::default().labels(selector))
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

    #[test]
    fn pruning_keeps_the_status_fields_status_and_decisions_read() {
        let mut pod: k8s_openapi::api::core::v1::Pod = serde_json::from_value(json!({
            "metadata": {"name": "p", "namespace": "n", "labels": {"ray.io/node-type": "head"},
                "annotations": {"a": "b"}, "deletionTimestamp": "2026-01-01T00:00:00Z"},
            "spec": {"restartPolicy": "Always", "nodeName": "node-1", "containers": [{
                "name": "ray-head", "image": "rayproject/ray:2.60.0",
                "resources": {"requests": {"cpu": "1"}}, "ports": [{"containerPort": 6379}]}]},
            "status": {"phase": "Pending", "podIP": "10.0.0.1", "hostIP": "192.168.0.1",
                "conditions": [{"type": "Ready", "status": "False", "reason": "ContainersNotReady"}],
                "containerStatuses": [{"name": "ray-head", "image": "x", "imageID": "sha256:1", "ready": false,
                    "restartCount": 3, "state": {"waiting": {"reason": "ErrImagePull", "message": "no such image"}}}]}
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        super::prune(&mut pod);
        let spec = pod.spec.clone().unwrap_or_default();
        assert_eq!(spec.containers[0].name, "ray-head");
        assert!(spec.containers[0].image.is_none() && spec.containers[0].resources.is_none());
        assert_eq!(spec.node_name.as_deref(), Some("node-1"));
        let status = pod.status.clone().unwrap_or_default();
        assert_eq!(status.phase.as_deref(), Some("Pending"));
        assert_eq!(status.pod_ip.as_deref(), Some("10.0.0.1"));
        assert!(status.host_ip.is_none());
        assert_eq!(status.conditions.unwrap_or_default()[0].type_, "Ready");
        let container = &status.container_statuses.unwrap_or_default()[0];
        assert_eq!(container.restart_count, 3);
        assert!(container.image.is_empty());
        let waiting = container
            .state
            .clone()
            .and_then(|s| s.waiting)
            .unwrap_or_default();
        assert_eq!(waiting.reason.as_deref(), Some("ErrImagePull"));
        assert!(pod.metadata.deletion_timestamp.is_some());
        assert_eq!(pod.metadata.annotations.unwrap_or_default().len(), 1);
    }
}
