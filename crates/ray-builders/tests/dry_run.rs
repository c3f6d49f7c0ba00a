//! Every rendered object is accepted by a real Kubernetes API server (server-side dry run), for the fixtures, the
//! repository's examples and a generated set of clusters, jobs and services covering every feature switch.
//!
//! Needs the local control plane: `cargo xtask testenv install` (CI's `.ci/run` does it).

mod common;

use std::fmt::Debug;
use std::path::Path;

use k8s_openapi::NamespaceResourceScope;
use kube::api::{Api, PostParams};
use kube::{Client, Resource};
use ray_builders::{Object, RenderOptions, Rendered};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

async fn create<K>(
    client: &Client,
    namespace: &str,
    object: &K,
    dry_run: bool,
) -> Result<(), String>
where
    K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>
        + Clone
        + Serialize
        + DeserializeOwned
        + Debug,
{
    let api: Api<K> = Api::namespaced(client.clone(), namespace);
    let params = PostParams {
        dry_run,
        ..PostParams::default()
    };
    match api.create(&params, object).await {
        Ok(_) => Ok(()),
        // A ServiceAccount shared by several renders of the same cluster name.
        Err(kube::Error::Api(status)) if !dry_run && status.code == 409 => Ok(()),
        Err(e) => Err(e.to_string()),
    }
}

/// Submits one rendered object: ServiceAccounts for real (pods that use them are only admitted when they exist),
/// everything else as a dry run.
async fn submit(client: &Client, namespace: &str, rendered: &Rendered) -> Result<(), String> {
    match &rendered.object {
        Object::RayCluster(o) => create(client, namespace, o.as_ref(), true).await,
        Object::Secret(o) => create(client, namespace, o.as_ref(), true).await,
        Object::ServiceAccount(o) => create(client, namespace, o.as_ref(), false).await,
        Object::Role(o) => create(client, namespace, o.as_ref(), true).await,
        Object::RoleBinding(o) => create(client, namespace, o.as_ref(), true).await,
        Object::Ingress(o) => create(client, namespace, o.as_ref(), true).await,
        Object::Service(o) => create(client, namespace, o.as_ref(), true).await,
        Object::Pod(o) => create(client, namespace, o.as_ref(), true).await,
        Object::Job(o) => create(client, namespace, o.as_ref(), true).await,
    }
}

/// Renders a manifest document into `namespace`.
fn render_into(doc: &Value, namespace: &str) -> Vec<Rendered> {
    let mut doc = doc.clone();
    if let Some(meta) = doc.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.insert("namespace".into(), Value::String(namespace.into()));
    }
    let options = RenderOptions {
        default_namespace: namespace.to_string(),
        ..RenderOptions::default()
    };
    match common::render_document(&doc, &options) {
        Some(result) => result.unwrap_or_else(|e| panic!("render failed: {e}\n{doc}")),
        None => Vec::new(),
    }
}

fn manifest_documents(dir: &Path) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for file in common::yaml_files(dir) {
        let text = std::fs::read_to_string(&file).expect("read manifest");
        let docs: Vec<Value> = serde_saphyr::from_multiple(&text).expect("manifest is YAML");
        for doc in docs {
            out.push((file.display().to_string(), doc));
        }
    }
    out
}

/// Clusters, jobs and services over every combination of the feature switches that change rendering.
fn generated_documents() -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for bits in 0u32..64 {
        let on = |bit: u32| bits & (1 << bit) != 0;
        let (autoscaling, ingress, ft, multi_host, serve, custom_head) =
            (on(0), on(1), on(2), on(3), on(4), on(5));
        let service_type = ["ClusterIP", "NodePort", "LoadBalancer"][(bits % 3) as usize];
        let ray_version = if bits % 2 == 0 { "2.9.0" } else { "2.53.0" };
        let mut annotations = serde_json::Map::new();
        if ft {
            annotations.insert("ray.io/ft-enabled".into(), "true".into());
        }
        if serve {
            annotations.insert("ray.io/enable-serve-service".into(), "true".into());
        }
        let container = |name: &str| {
            serde_json::json!({
                "name": name, "image": "rayproject/ray:2.9.0",
                "resources": { "limits": { "cpu": "1500m", "memory": "2Gi", "google.com/tpu": if multi_host { "4" } else { "0" } } }
            })
        };
        let mut head_ports = serde_json::json!([
            { "name": "gcs-server", "containerPort": 6379 },
            { "name": "dashboard", "containerPort": 8265 },
            { "name": "serve", "containerPort": 8000 },
            { "containerPort": 9999 }
        ]);
        if bits % 5 == 0 {
            head_ports = serde_json::json!([]);
        }
        let mut head_container = container("ray-head");
        head_container["ports"] = head_ports;
        let mut head = serde_json::json!({
            "enableIngress": ingress,
            "serviceType": service_type,
            "rayStartParams": { "num-cpus": "1; echo not code", "resources": "'{\"custom\": 1}'" },
            "template": { "metadata": { "labels": { "team": "research" } }, "spec": { "containers": [head_container] } }
        });
        if custom_head {
            head["headService"] = serde_json::json!({
                "metadata": { "name": format!("custom-head-{bits}"), "labels": { "x": "y" } },
                "spec": { "ports": [{ "name": "dashboard", "port": 8265 }, { "name": "extra", "port": 7777 }] }
            });
        }
        let spec = serde_json::json!({
            "rayVersion": ray_version,
            "enableInTreeAutoscaling": autoscaling,
            "autoscalerOptions": { "env": [{ "name": "A", "value": "b" }] },
            "headServiceAnnotations": { "example.com/note": "yes" },
            "headGroupSpec": head,
            "workerGroupSpecs": [
                { "groupName": "cpu", "replicas": 2, "minReplicas": 0, "maxReplicas": 3,
                  "rayStartParams": { "metrics-export-port": "9090" },
                  "template": { "spec": { "containers": [container("ray-worker")] } } },
                { "groupName": "hosts", "replicas": 1, "minReplicas": 0, "maxReplicas": 2,
                  "numOfHosts": if multi_host { 2 } else { 1 },
                  "template": { "spec": { "containers": [container("ray-worker")] } } }
            ]
        });
        out.push((
            format!("generated cluster {bits}"),
            serde_json::json!({ "apiVersion": "ray.io/v1", "kind": "RayCluster",
                "metadata": { "name": format!("gen-{bits}"), "annotations": annotations }, "spec": spec }),
        ));
        if bits % 4 == 0 {
            out.push((
                format!("generated job {bits}"),
                serde_json::json!({ "apiVersion": "ray.io/v1", "kind": "RayJob",
                    "metadata": { "name": format!("gen-job-{bits}") },
                    "spec": { "entrypoint": "python -c \"print('hi; there')\" $HOME",
                              "runtimeEnvYAML": "pip: [requests]", "metadata": { "k": "v" },
                              "entrypointNumCpus": 0.5, "rayClusterSpec": spec } }),
            ));
            if !custom_head {
                out.push((
                    format!("generated service {bits}"),
                    serde_json::json!({ "apiVersion": "ray.io/v1", "kind": "RayService",
                        "metadata": { "name": format!("gen-svc-{bits}") },
                        "spec": { "serveConfigV2": "applications: []", "rayClusterConfig": spec } }),
                ));
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rendered_objects_pass_server_side_dry_run() {
    let plane = ray_testenv::ControlPlane::shared()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let client = plane.client().await.unwrap_or_else(|e| panic!("{e}"));
    let namespace = ray_testenv::project_namespace(&client, "builders-dry-run")
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    let mut documents = manifest_documents(&common::fixtures_dir());
    documents.extend(manifest_documents(&common::examples_dir()));
    documents.extend(generated_documents());

    let mut submitted = 0;
    let mut failures = Vec::new();
    for (origin, doc) in &documents {
        for rendered in render_into(doc, &namespace) {
            submitted += 1;
            if let Err(e) = submit(&client, &namespace, &rendered).await {
                failures.push(format!(
                    "{origin}: {} {}/{}: {e}",
                    rendered.source,
                    rendered.object.kind(),
                    rendered.object.display_name()
                ));
            }
        }
    }
    assert!(submitted > 500, "only {submitted} objects were submitted");
    assert!(
        failures.is_empty(),
        "{} rejected:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
