//! Pod helpers for tests: wait for a pod to run, make a running pod fail.

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Patch, PatchParams};
use kube::{Api, Client};

use crate::error::{Error, Result};

/// Waits until the pod is `Running`, `Ready` and has an IP (which kwok gives it once it is scheduled onto a kwok
/// node), and returns it. Fails after `timeout` with the pod's last phase and conditions.
pub async fn wait_for_pod_running(
    client: &Client,
    namespace: &str,
    name: &str,
    timeout: Duration,
) -> Result<Pod> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let start = Instant::now();
    loop {
        let pod = pods
            .get_opt(name)
            .await
            .map_err(Error::kube(format!("reading pod {namespace}/{name}")))?;
        let status = pod.as_ref().and_then(|p| p.status.as_ref());
        let running = status.is_some_and(|s| {
            s.phase.as_deref() == Some("Running")
                && s.pod_ip.is_some()
                && s.conditions
                    .as_ref()
                    .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
        });
        if let (true, Some(pod)) = (running, pod.as_ref()) {
            return Ok(pod.clone());
        }
        if start.elapsed() > timeout {
            return Err(Error::Other(format!(
                "pod {namespace}/{name} was not Running with an IP after {} s; last status: {}",
                timeout.as_secs(),
                status
                    .map(|s| serde_json::to_string(s).unwrap_or_default())
                    .unwrap_or_else(|| "(pod not found)".into())
            )));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Makes a pod fail as if every container exited with `exit_code`: phase `Failed`, `Ready` false, each container
/// terminated with `reason`. This writes the status subresource, as a kubelet would; kwok's stages only act on
/// pods that are not yet running or are finishing, so they leave the failed status alone.
pub async fn fail_pod(
    client: &Client,
    namespace: &str,
    name: &str,
    exit_code: i32,
    reason: &str,
) -> Result<Pod> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let pod = pods
        .get(name)
        .await
        .map_err(Error::kube(format!("reading pod {namespace}/{name}")))?;
    let now = k8s_openapi::jiff::Timestamp::now().to_string();
    let containers: Vec<serde_json::Value> = pod
        .spec
        .iter()
        .flat_map(|s| s.containers.iter())
        .map(|c| {
            serde_json::json!({
                "name": c.name,
                "image": c.image.clone().unwrap_or_default(),
                "imageID": "",
                "ready": false,
                "restartCount": 0,
                "started": false,
                "state": {"terminated": {
                    "exitCode": exit_code,
                    "reason": reason,
                    "startedAt": now,
                    "finishedAt": now,
                }},
            })
        })
        .collect();
    let patch = serde_json::json!({
        "status": {
            "phase": "Failed",
            "reason": reason,
            "conditions": [
                {"type": "Ready", "status": "False", "reason": "PodFailed", "lastTransitionTime": now},
                {"type": "ContainersReady", "status": "False", "reason": "PodFailed", "lastTransitionTime": now},
            ],
            "containerStatuses": containers,
        }
    });
    pods.patch_status(name, &PatchParams::default(), &Patch::Strategic(patch))
        .await
        .map_err(Error::kube(format!("failing pod {namespace}/{name}")))
}
