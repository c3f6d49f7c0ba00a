//! The end state every scenario must reach after its fault, read through an admin client that bypasses the fault
//! proxies: exactly the desired pods, no orphans, every status true, every RayJob done once, every RayService
//! serving from a ready cluster.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Pod, Service};
use kube::api::{DynamicObject, ListParams};
use kube::{Api, Client};
use serde_json::Value;

use super::env::NAMESPACE;
use super::workload::Kind;

/// The names of the invariants [`check`] covers, for the report.
pub const EXACT_PODS: &str = "exact pods per group";
pub const NO_ORPHANS: &str = "no orphan pods";
pub const STATUS_TRUE: &str = "status true";
pub const JOBS_ONCE: &str = "RayJobs SUCCEEDED, one Ray job each";
pub const SERVING: &str = "RayService serving from its ready cluster";

/// What must be true at the end besides what every RayCluster's spec asks for.
#[derive(Debug, Clone, Default)]
pub struct Expect {
    /// RayJobs that must end Complete/SUCCEEDED, each with exactly one Ray job submitted for it.
    pub jobs: Vec<String>,
    /// RayServices (name, greeting) that must be Ready and answer with the greeting.
    pub services: Vec<(String, String)>,
}

impl Expect {
    /// The invariant names this expectation checks, for the report.
    pub fn names(&self) -> Vec<&'static str> {
        let mut names = vec![EXACT_PODS, NO_ORPHANS, STATUS_TRUE];
        if !self.jobs.is_empty() {
            names.push(JOBS_ONCE);
        }
        if !self.services.is_empty() {
            names.push(SERVING);
        }
        names
    }
}

/// Where the checks look besides the API server.
#[derive(Clone)]
pub struct Probe {
    pub client: Client,
    /// The real Ray head's dashboard (never a fault proxy).
    pub dashboard: String,
    pub serve_port: u16,
}

/// Polls [`check`] until it passes, then checks again after a short hold (so a late duplicate pod or a flapping
/// status is caught). Returns the seconds it took, or the last failure after `timeout`.
pub async fn settle(probe: &Probe, expect: &Expect, timeout: Duration) -> Result<f64, String> {
    let start = Instant::now();
    let mut said = Instant::now();
    loop {
        let last = match check(probe, expect).await {
            Ok(()) => {
                let took = start.elapsed().as_secs_f64();
                tokio::time::sleep(Duration::from_secs(3)).await;
                return check(probe, expect)
                    .await
                    .map(|()| took)
                    .map_err(|e| format!("held, then broke 3 s later: {e}"));
            }
            Err(e) => e,
        };
        if said.elapsed() > Duration::from_secs(15) {
            eprintln!(
                "    {:.0} s, still waiting: {last}",
                start.elapsed().as_secs_f64()
            );
            said = Instant::now();
        }
        if start.elapsed() > timeout {
            return Err(format!(
                "not settled after {:.0} s: {last}",
                timeout.as_secs_f64()
            ));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// One pass over every invariant; the first one broken, said.
pub async fn check(probe: &Probe, expect: &Expect) -> Result<(), String> {
    let client = &probe.client;
    let clusters = list(client, Kind::RayCluster).await?;
    let pods: Api<Pod> = Api::namespaced(client.clone(), NAMESPACE);
    let pods = pods
        .list(&ListParams::default().labels("ray.io/cluster"))
        .await
        .map_err(|e| format!("listing pods: {e}"))?
        .items;
    let mut by_cluster: BTreeMap<String, Vec<&Pod>> = BTreeMap::new();
    for pod in &pods {
        let labels = pod.metadata.labels.clone().unwrap_or_default();
        let cluster = labels.get("ray.io/cluster").cloned().unwrap_or_default();
        by_cluster.entry(cluster).or_default().push(pod);
    }
    let mut uids = BTreeMap::new();
    for cluster in &clusters {
        let name = cluster.metadata.name.clone().unwrap_or_default();
        uids.insert(
            name.clone(),
            cluster.metadata.uid.clone().unwrap_or_default(),
        );
        if cluster.metadata.deletion_timestamp.is_some() {
            continue;
        }
        let spec = &cluster.data["spec"];
        if spec["suspend"].as_bool() == Some(true) {
            continue;
        }
        let cluster_pods = by_cluster.get(&name).map(Vec::as_slice).unwrap_or(&[]);
        exact_pods(&name, spec, cluster_pods)?;
        status_true(&name, cluster)?;
    }
    for pod in &pods {
        let name = pod.metadata.name.clone().unwrap_or_default();
        let labels = pod.metadata.labels.clone().unwrap_or_default();
        let cluster = labels.get("ray.io/cluster").cloned().unwrap_or_default();
        let Some(uid) = uids.get(&cluster) else {
            return Err(format!(
                "{NO_ORPHANS}: pod {name} belongs to RayCluster {cluster}, which does not exist"
            ));
        };
        let owned = pod
            .metadata
            .owner_references
            .iter()
            .flatten()
            .any(|o| &o.uid == uid);
        if !owned {
            return Err(format!(
                "{NO_ORPHANS}: pod {name} is not owned by the current RayCluster {cluster}"
            ));
        }
    }
    if !expect.jobs.is_empty() {
        jobs_once(probe, expect).await?;
    }
    for (name, greeting) in &expect.services {
        serving(probe, &clusters, name, greeting).await?;
    }
    Ok(())
}

async fn list(client: &Client, kind: Kind) -> Result<Vec<DynamicObject>, String> {
    kind.api(client)
        .list(&ListParams::default())
        .await
        .map(|l| l.items)
        .map_err(|e| format!("listing {kind:?}s: {e}"))
}

/// One head, and per worker group exactly `replicas × numOfHosts` workers; nothing terminating.
fn exact_pods(cluster: &str, spec: &Value, pods: &[&Pod]) -> Result<(), String> {
    let terminating: Vec<String> = pods
        .iter()
        .filter(|p| p.metadata.deletion_timestamp.is_some())
        .filter_map(|p| p.metadata.name.clone())
        .collect();
    if !terminating.is_empty() {
        return Err(format!(
            "{EXACT_PODS}: RayCluster {cluster} still has terminating pods {terminating:?}"
        ));
    }
    let role = |p: &Pod, key: &str| {
        p.metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(key).cloned())
            .unwrap_or_default()
    };
    let heads = pods
        .iter()
        .filter(|p| role(p, "ray.io/node-type") == "head")
        .count();
    if heads != 1 {
        return Err(format!(
            "{EXACT_PODS}: RayCluster {cluster} has {heads} head pods, wants 1"
        ));
    }
    let empty = Vec::new();
    for group in spec["workerGroupSpecs"].as_array().unwrap_or(&empty) {
        let name = group["groupName"].as_str().unwrap_or_default();
        let replicas = group["replicas"].as_u64().unwrap_or(0);
        let hosts = group["numOfHosts"].as_u64().unwrap_or(1).max(1);
        let wanted = if group["suspend"].as_bool() == Some(true) {
            0
        } else {
            replicas * hosts
        };
        let have = pods
            .iter()
            .filter(|p| role(p, "ray.io/node-type") == "worker" && role(p, "ray.io/group") == name)
            .count() as u64;
        if have != wanted {
            return Err(format!(
                "{EXACT_PODS}: RayCluster {cluster} group {name} has {have} pods, wants {wanted}"
            ));
        }
    }
    Ok(())
}

/// The RayCluster's status says what is true: ready, every worker ready, the current generation observed.
fn status_true(cluster: &str, object: &DynamicObject) -> Result<(), String> {
    let status = &object.data["status"];
    let state = status["state"].as_str().unwrap_or_default();
    if state != "ready" {
        return Err(format!(
            "{STATUS_TRUE}: RayCluster {cluster} state is {state:?}, not ready"
        ));
    }
    let empty = Vec::new();
    let wanted: u64 = object.data["spec"]["workerGroupSpecs"]
        .as_array()
        .unwrap_or(&empty)
        .iter()
        .map(|g| g["replicas"].as_u64().unwrap_or(0) * g["numOfHosts"].as_u64().unwrap_or(1))
        .sum();
    let ready = status["readyWorkerReplicas"].as_u64().unwrap_or(0);
    if ready != wanted {
        return Err(format!(
            "{STATUS_TRUE}: RayCluster {cluster} status.readyWorkerReplicas is {ready}, wants {wanted}"
        ));
    }
    let observed = status["observedGeneration"].as_i64();
    if observed.is_some() && observed != object.metadata.generation {
        return Err(format!(
            "{STATUS_TRUE}: RayCluster {cluster} status.observedGeneration {observed:?} is behind generation {:?}",
            object.metadata.generation
        ));
    }
    Ok(())
}

/// Every expected RayJob Complete/SUCCEEDED, and the Ray head ran exactly one job for each (a restart mid-submit
/// must not submit twice).
async fn jobs_once(probe: &Probe, expect: &Expect) -> Result<(), String> {
    let jobs = list(&probe.client, Kind::RayJob).await?;
    let submitted = ray_jobs(&probe.dashboard).await?;
    for name in &expect.jobs {
        let Some(job) = jobs
            .iter()
            .find(|j| j.metadata.name.as_deref() == Some(name))
        else {
            return Err(format!("{JOBS_ONCE}: RayJob {name} is gone"));
        };
        let status = &job.data["status"];
        let deployment = status["jobDeploymentStatus"].as_str().unwrap_or_default();
        let ray = status["jobStatus"].as_str().unwrap_or_default();
        if deployment != "Complete" || ray != "SUCCEEDED" {
            return Err(format!(
                "{JOBS_ONCE}: RayJob {name} is {deployment:?}/{ray:?}, not Complete/SUCCEEDED"
            ));
        }
        let prefix = format!("{name}-");
        let ids: Vec<&String> = submitted
            .iter()
            .filter(|id| id.starts_with(&prefix))
            .collect();
        if ids.len() != 1 {
            return Err(format!(
                "{JOBS_ONCE}: the Ray head ran {} jobs for RayJob {name}: {ids:?}",
                ids.len()
            ));
        }
    }
    Ok(())
}

/// The submission ids of every job the Ray head knows.
async fn ray_jobs(dashboard: &str) -> Result<Vec<String>, String> {
    let url = format!("{}/api/jobs/", dashboard.trim_end_matches('/'));
    let jobs: Vec<Value> = reqwest::Client::new()
        .get(&url)
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .map_err(|e| format!("GET {url}: {e}"))?
        .json()
        .await
        .map_err(|e| format!("GET {url}: {e}"))?;
    Ok(jobs
        .iter()
        .filter_map(|j| j["submission_id"].as_str().map(str::to_owned))
        .collect())
}

/// The RayService is Ready, its serve Service selects its active cluster, that cluster is ready, and Serve answers
/// with the expected greeting.
async fn serving(
    probe: &Probe,
    clusters: &[DynamicObject],
    name: &str,
    greeting: &str,
) -> Result<(), String> {
    let services = list(&probe.client, Kind::RayService).await?;
    let Some(service) = services
        .iter()
        .find(|s| s.metadata.name.as_deref() == Some(name))
    else {
        return Err(format!("{SERVING}: RayService {name} is gone"));
    };
    let status = &service.data["status"];
    let ready = status["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| c["type"] == "Ready" && c["status"] == "True");
    if !ready {
        return Err(format!("{SERVING}: RayService {name} is not Ready"));
    }
    let active = status["activeServiceStatus"]["rayClusterName"]
        .as_str()
        .unwrap_or_default();
    let pending = status["pendingServiceStatus"]["rayClusterName"]
        .as_str()
        .unwrap_or_default();
    if !pending.is_empty() {
        return Err(format!(
            "{SERVING}: RayService {name} still has a pending cluster {pending}"
        ));
    }
    let cluster_state = clusters
        .iter()
        .find(|c| c.metadata.name.as_deref() == Some(active))
        .and_then(|c| c.data["status"]["state"].as_str().map(str::to_owned));
    if cluster_state.as_deref() != Some("ready") {
        return Err(format!(
            "{SERVING}: RayService {name}'s active cluster {active:?} is {cluster_state:?}, not ready"
        ));
    }
    let svcs: Api<Service> = Api::namespaced(probe.client.clone(), NAMESPACE);
    let serve_svc = format!("{name}-serve-svc");
    let selected = svcs
        .get_opt(&serve_svc)
        .await
        .map_err(|e| format!("reading Service {serve_svc}: {e}"))?
        .and_then(|s| s.spec)
        .and_then(|s| s.selector)
        .and_then(|s| s.get("ray.io/cluster").cloned());
    if selected.as_deref() != Some(active) {
        return Err(format!(
            "{SERVING}: Service {serve_svc} selects cluster {selected:?}, the active one is {active:?}"
        ));
    }
    let url = format!("http://127.0.0.1:{}/", probe.serve_port);
    let body = reqwest::Client::new()
        .get(&url)
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .map_err(|e| format!("{SERVING}: GET {url}: {e}"))?
        .text()
        .await
        .map_err(|e| format!("{SERVING}: GET {url}: {e}"))?;
    if body.trim() != greeting {
        return Err(format!(
            "{SERVING}: Serve answers {body:?}, the RayService {name} wants {greeting:?}"
        ));
    }
    Ok(())
}
