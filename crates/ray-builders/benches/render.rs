//! How long rendering takes for a large cluster: 100 worker groups (one pod each), with the autoscaler on.

use criterion::{Criterion, criterion_group, criterion_main};
use ray_api_v1::RayCluster;
use ray_builders::{RenderOptions, render_cluster};

fn cluster(groups: usize) -> RayCluster {
    let workers: Vec<serde_json::Value> = (0..groups)
        .map(|i| {
            serde_json::json!({
                "groupName": format!("group-{i}"),
                "replicas": 1,
                "minReplicas": 0,
                "maxReplicas": 10,
                "rayStartParams": { "num-cpus": "4" },
                "template": { "spec": { "containers": [{
                    "name": "ray-worker",
                    "image": "rayproject/ray:2.9.0",
                    "resources": { "limits": { "cpu": "4", "memory": "16Gi" } }
                }] } }
            })
        })
        .collect();
    serde_json::from_value(serde_json::json!({
        "apiVersion": "ray.io/v1",
        "kind": "RayCluster",
        "metadata": { "name": "bench", "namespace": "default" },
        "spec": {
            "enableInTreeAutoscaling": true,
            "headGroupSpec": {
                "rayStartParams": {},
                "template": { "spec": { "containers": [{ "name": "ray-head", "image": "rayproject/ray:2.9.0" }] } }
            },
            "workerGroupSpecs": workers
        }
    }))
    .expect("benchmark cluster is valid")
}

fn bench(c: &mut Criterion) {
    let cluster = cluster(100);
    let options = RenderOptions::default();
    c.bench_function("render a cluster with 100 worker groups", |b| {
        b.iter(|| render_cluster(std::hint::black_box(&cluster), &options).expect("renders"));
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
