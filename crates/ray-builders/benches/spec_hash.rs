//! How long the spec hashes take: the pod-template hashes of a cluster with 10 worker groups (computed when a
//! cluster's pods are compared with its spec) and the RayService cluster hash.

use criterion::{Criterion, criterion_group, criterion_main};
use ray_api_v1::RayCluster;
use ray_builders::RenderOptions;
use ray_builders::spec_hash::{pod_template_hashes, rayservice_cluster_hash};

fn cluster(groups: usize) -> RayCluster {
    let workers: Vec<serde_json::Value> = (0..groups)
        .map(|i| {
            serde_json::json!({
                "groupName": format!("group-{i}"),
                "replicas": 10,
                "minReplicas": 0,
                "maxReplicas": 100,
                "rayStartParams": { "num-cpus": "4" },
                "template": { "spec": { "containers": [{
                    "name": "ray-worker",
                    "image": "rayproject/ray:2.60.0",
                    "env": [{ "name": "A", "value": "1" }, { "name": "B", "value": "2" }],
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
            "headGroupSpec": {
                "rayStartParams": {},
                "template": { "spec": { "containers": [{ "name": "ray-head", "image": "rayproject/ray:2.60.0" }] } }
            },
            "workerGroupSpecs": workers
        }
    }))
    .expect("benchmark cluster is valid")
}

fn bench(c: &mut Criterion) {
    let cluster = cluster(10);
    let options = RenderOptions::default();
    c.bench_function("pod-template hashes, 10 worker groups", |b| {
        b.iter(|| pod_template_hashes(std::hint::black_box(&cluster), &options).expect("hashes"));
    });
    c.bench_function("RayService cluster hash, 10 worker groups", |b| {
        b.iter(|| rayservice_cluster_hash(std::hint::black_box(&cluster.spec)).expect("hash"));
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
