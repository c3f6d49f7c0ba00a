//! Watches the whole scenario for what must never happen even for a moment, which an end-state check cannot see:
//! a RayCluster or RayJob state going backwards, a RayJob's Ray job id changing (a second submission), and Serve
//! traffic switched to a RayCluster that was not ready. It polls through the admin client every 200 ms (a poll, not
//! a watch, so it keeps going through API server restarts; a state shorter than that can slip through).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::core::v1::Service;
use kube::api::ListParams;
use kube::{Api, Client};
use tokio::task::JoinHandle;

use super::env::NAMESPACE;
use super::workload::Kind;

/// The invariant names the monitor covers, for the report.
pub const NO_REGRESSION: &str = "no state regressed";
pub const SAFE_SWITCH: &str = "traffic only to ready clusters";

/// A running monitor; [`Monitor::finish`] stops it and returns what it saw.
pub struct Monitor {
    task: JoinHandle<()>,
    violations: Arc<Mutex<Vec<String>>>,
}

#[derive(Default)]
struct Seen {
    /// RayCluster uid → (name, last state).
    clusters: BTreeMap<String, (String, String)>,
    /// RayJob uid → (name, last deployment status, last Ray status, job id).
    jobs: BTreeMap<String, (String, String, String, String)>,
    /// serve Service name → the cluster it selected last.
    serve: BTreeMap<String, String>,
}

impl Monitor {
    pub fn start(client: Client) -> Monitor {
        let violations = Arc::new(Mutex::new(Vec::new()));
        let found = violations.clone();
        let task = tokio::spawn(async move {
            let mut seen = Seen::default();
            loop {
                let new = poll(&client, &mut seen).await;
                if !new.is_empty()
                    && let Ok(mut all) = found.lock()
                {
                    all.extend(new);
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        });
        Monitor { task, violations }
    }

    /// Stops the monitor; `Err` lists what it saw go wrong.
    pub fn finish(self) -> Result<(), String> {
        self.task.abort();
        let all = self
            .violations
            .lock()
            .map(|v| v.clone())
            .unwrap_or_else(|_| vec!["the monitor's lock was poisoned".into()]);
        if all.is_empty() {
            Ok(())
        } else {
            Err(all.join("; "))
        }
    }
}

/// One poll; returns the violations it found. A failed list (API server down) is skipped.
async fn poll(client: &Client, seen: &mut Seen) -> Vec<String> {
    let mut violations = Vec::new();
    let params = ListParams::default();
    // Services before clusters: a cluster's `ready` is sticky and must come before a switch to it, so a cluster
    // list read after the Service list shows every selected cluster as ready if the switch was safe.
    let svcs: Api<Service> = Api::namespaced(client.clone(), NAMESPACE);
    let serve_svcs = svcs.list(&params).await.ok().map(|l| l.items);
    let Ok(clusters) = Kind::RayCluster.api(client).list(&params).await else {
        return violations;
    };
    let mut states = BTreeMap::new();
    for cluster in &clusters.items {
        let name = cluster.metadata.name.clone().unwrap_or_default();
        let uid = cluster.metadata.uid.clone().unwrap_or_default();
        let state = cluster.data["status"]["state"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let suspend = cluster.data["spec"]["suspend"].as_bool() == Some(true);
        states.insert(name.clone(), state.clone());
        if let Some((_, before)) = seen.clusters.get(&uid)
            && before == "ready"
            && state != "ready"
            && !(suspend && state == "suspended")
        {
            violations.push(format!(
                "{NO_REGRESSION}: RayCluster {name} went from ready to {state:?}"
            ));
        }
        seen.clusters.insert(uid, (name, state));
    }
    if let Ok(jobs) = Kind::RayJob.api(client).list(&params).await {
        for job in &jobs.items {
            let name = job.metadata.name.clone().unwrap_or_default();
            let uid = job.metadata.uid.clone().unwrap_or_default();
            let status = &job.data["status"];
            let text = |key: &str| status[key].as_str().unwrap_or_default().to_string();
            let (deployment, ray, id) = (
                text("jobDeploymentStatus"),
                text("jobStatus"),
                text("jobId"),
            );
            if let Some((_, d0, r0, id0)) = seen.jobs.get(&uid) {
                if deployment_rank(&deployment) < deployment_rank(d0) {
                    violations.push(format!(
                        "{NO_REGRESSION}: RayJob {name} went from {d0:?} to {deployment:?}"
                    ));
                }
                if ray_rank(&ray) < ray_rank(r0) {
                    violations.push(format!(
                        "{NO_REGRESSION}: RayJob {name}'s Ray job went from {r0:?} to {ray:?}"
                    ));
                }
                if !id0.is_empty() && id != *id0 {
                    violations.push(format!(
                        "{NO_REGRESSION}: RayJob {name}'s job id changed from {id0} to {id:?}"
                    ));
                }
            }
            seen.jobs.insert(uid, (name, deployment, ray, id));
        }
    }
    if let Some(list) = serve_svcs {
        for svc in list {
            let name = svc.metadata.name.clone().unwrap_or_default();
            if !name.ends_with("-serve-svc") {
                continue;
            }
            let Some(selected) = svc
                .spec
                .and_then(|s| s.selector)
                .and_then(|s| s.get("ray.io/cluster").cloned())
            else {
                continue;
            };
            if seen.serve.get(&name) != Some(&selected) {
                let state = states.get(&selected).cloned().unwrap_or_default();
                if state != "ready" {
                    violations.push(format!(
                        "{SAFE_SWITCH}: Service {name} switched to RayCluster {selected} while its state was {state:?}"
                    ));
                }
                seen.serve.insert(name, selected);
            }
        }
    }
    violations
}

/// The order of `jobDeploymentStatus` values a RayJob without retries or suspension moves through.
fn deployment_rank(status: &str) -> u8 {
    match status {
        "" | "New" => 0,
        "Initializing" | "Waiting" => 1,
        "Running" => 2,
        // Retrying and suspension legitimately restart the sequence; the workload uses neither.
        "Retrying" | "Suspending" | "Suspended" => 0,
        _ => 3,
    }
}

/// The order of Ray's job statuses.
fn ray_rank(status: &str) -> u8 {
    match status {
        "" => 0,
        "PENDING" => 1,
        "RUNNING" => 2,
        _ => 3,
    }
}
