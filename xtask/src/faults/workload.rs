//! The scenarios' workload: RayClusters that scale, RayJobs that run on the real Ray head, a RayService whose
//! config changes, as manifests a user would write, and the requests that change them.

use anyhow::Context as _;
use kube::api::{DynamicObject, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use kube::{Api, Client};
use serde_json::{Value, json};

use super::env::NAMESPACE;

/// The image the manifests name (kwok runs nothing; the name only has to be valid).
const RAY_IMAGE: &str = "rayproject/ray:2.60.0";

/// The ray.io kinds the scenarios create.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(clippy::enum_variant_names, reason = "the kinds' own names")]
pub enum Kind {
    RayCluster,
    RayJob,
    RayService,
}

impl Kind {
    pub fn resource(self) -> ApiResource {
        let kind = match self {
            Kind::RayCluster => "RayCluster",
            Kind::RayJob => "RayJob",
            Kind::RayService => "RayService",
        };
        ApiResource::from_gvk(&GroupVersionKind::gvk("ray.io", "v1", kind))
    }

    pub fn api(self, client: &Client) -> Api<DynamicObject> {
        Api::namespaced_with(client.clone(), NAMESPACE, &self.resource())
    }
}

/// The worker group every RayCluster of the suite has.
fn worker_group(replicas: usize) -> Value {
    json!({
        "groupName": "workers", "replicas": replicas, "minReplicas": 0, "maxReplicas": 100,
        "rayStartParams": {},
        "template": {"spec": {"containers": [{"name": "ray-worker", "image": RAY_IMAGE}]}},
    })
}

/// A RayCluster spec: a head and `workers` workers in the group `workers`.
fn cluster_spec(workers: usize, head_env: &str) -> Value {
    json!({
        "rayVersion": "2.60.0",
        "headGroupSpec": {"rayStartParams": {}, "template": {"spec": {"containers": [{
            "name": "ray-head", "image": RAY_IMAGE,
            "env": [{"name": "FAULTS_REVISION", "value": head_env}],
            "ports": [{"name": "dashboard", "containerPort": 8265}, {"name": "serve", "containerPort": 8000}],
        }]}}},
        "workerGroupSpecs": [worker_group(workers)],
    })
}

fn object(kind: &str, name: &str, spec: Value) -> anyhow::Result<DynamicObject> {
    Ok(serde_json::from_value(json!({
        "apiVersion": "ray.io/v1", "kind": kind,
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": spec,
    }))?)
}

/// Creates the RayCluster `name` with `workers` workers.
pub async fn create_cluster(client: &Client, name: &str, workers: usize) -> anyhow::Result<()> {
    let cluster = object("RayCluster", name, cluster_spec(workers, "one"))?;
    Kind::RayCluster
        .api(client)
        .create(&PostParams::default(), &cluster)
        .await
        .with_context(|| format!("creating RayCluster {name}"))?;
    Ok(())
}

/// Sets the worker group's replicas of the RayCluster `name`, as a user's `kubectl patch` would.
pub async fn scale(client: &Client, name: &str, workers: usize) -> anyhow::Result<()> {
    let patch = json!({"spec": {"workerGroupSpecs": [worker_group(workers)]}});
    Kind::RayCluster
        .api(client)
        .patch(name, &PatchParams::default(), &Patch::Merge(patch))
        .await
        .with_context(|| format!("scaling RayCluster {name} to {workers} workers"))?;
    Ok(())
}

/// Creates an HTTPMode RayJob whose entrypoint runs on the real Ray head for about `seconds`; its cluster stays
/// after the job (so the exact-pods check covers it too).
pub async fn create_job(client: &Client, name: &str, seconds: u32) -> anyhow::Result<()> {
    let job = object(
        "RayJob",
        name,
        json!({
            "entrypoint": format!("sleep {seconds} && echo {name} done"),
            "submissionMode": "HTTPMode",
            "shutdownAfterJobFinishes": false,
            "rayClusterSpec": cluster_spec(1, "job"),
        }),
    )?;
    Kind::RayJob
        .api(client)
        .create(&PostParams::default(), &job)
        .await
        .with_context(|| format!("creating RayJob {name}"))?;
    Ok(())
}

/// The Serve config of the RayServices: the demo application answering `greeting` on `serve_port`.
fn serve_config(serve_port: u16, greeting: &str) -> anyhow::Result<String> {
    let config = json!({
        "http_options": {"host": "127.0.0.1", "port": serve_port},
        "applications": [{
            "name": "hello", "route_prefix": "/", "import_path": "ray_operator_demo.hello:build",
            "args": {"greeting": greeting},
            "deployments": [{"name": "Hello", "num_replicas": 1, "ray_actor_options": {"num_cpus": 0}}],
        }],
    });
    Ok(serde_json::to_string_pretty(&config)?)
}

/// Creates the RayService `name` serving `greeting`.
pub async fn create_service(
    client: &Client,
    name: &str,
    serve_port: u16,
    greeting: &str,
) -> anyhow::Result<()> {
    let service = object(
        "RayService",
        name,
        json!({
            "serveConfigV2": serve_config(serve_port, greeting)?,
            "rayClusterConfig": cluster_spec(1, "one"),
        }),
    )?;
    Kind::RayService
        .api(client)
        .create(&PostParams::default(), &service)
        .await
        .with_context(|| format!("creating RayService {name}"))?;
    Ok(())
}

/// Changes the RayService's Serve config (in place) to serve `greeting`.
pub async fn set_greeting(
    client: &Client,
    name: &str,
    serve_port: u16,
    greeting: &str,
) -> anyhow::Result<()> {
    let patch = json!({"spec": {"serveConfigV2": serve_config(serve_port, greeting)?}});
    Kind::RayService
        .api(client)
        .patch(name, &PatchParams::default(), &Patch::Merge(patch))
        .await
        .with_context(|| format!("changing RayService {name}'s Serve config"))?;
    Ok(())
}

/// Changes the RayService's cluster config, which makes a new RayCluster and switches traffic to it once ready
/// (an upgrade), together with the Serve config (`greeting`).
pub async fn upgrade_service(
    client: &Client,
    name: &str,
    serve_port: u16,
    revision: &str,
    greeting: &str,
) -> anyhow::Result<()> {
    let patch = json!({"spec": {
        "serveConfigV2": serve_config(serve_port, greeting)?,
        "rayClusterConfig": cluster_spec(1, revision),
    }});
    Kind::RayService
        .api(client)
        .patch(name, &PatchParams::default(), &Patch::Merge(patch))
        .await
        .with_context(|| format!("upgrading RayService {name}"))?;
    Ok(())
}
