//! The RayCluster controller's pure hot paths for a big cluster (1 head + 1,000 workers, every pod running and
//! ready): status computation and the pod decision, both run on every reconcile.

use std::collections::BTreeSet;

use criterion::{Criterion, criterion_group, criterion_main};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use ray_api_v1::RayCluster;
use ray_builders::{ClusterContext, DesiredCluster, RenderOptions, WorkerReplica};
use ray_controllers::pod_index::CachedPod;
use ray_controllers::raycluster::scaling::{Observation, pod_changes};
use ray_controllers::raycluster::status::{StatusInputs, compute};

const WORKERS: usize = 1000;

fn cluster() -> RayCluster {
    let container = |name: &str| {
        serde_json::json!({
            "name": name,
            "image": "rayproject/ray:2.60.0",
            "resources": { "requests": { "cpu": "1", "memory": "1Gi" } }
        })
    };
    serde_json::from_value(serde_json::json!({
        "apiVersion": "ray.io/v1",
        "kind": "RayCluster",
        "metadata": { "name": "bench", "namespace": "default", "uid": "0000-1111", "generation": 1 },
        "spec": {
            "headGroupSpec": { "rayStartParams": {}, "template": { "spec": { "containers": [container("ray-head")] } } },
            "workerGroupSpecs": [{
                "groupName": "workers", "replicas": WORKERS, "minReplicas": 0, "maxReplicas": WORKERS,
                "rayStartParams": {}, "template": { "spec": { "containers": [container("ray-worker")] } }
            }]
        }
    }))
    .expect("benchmark cluster is valid")
}

/// The cluster's pods as the cache would hold them: rendered, named, running and ready.
fn pods(cluster: &RayCluster) -> Vec<Pod> {
    let options = RenderOptions::default();
    let ctx = ClusterContext::new(cluster, &options).expect("context");
    let desired = DesiredCluster::build(&ctx).expect("renders");
    let running = |mut pod: Pod, name: String| {
        pod.metadata.name = Some(name);
        pod.status = serde_json::from_value(serde_json::json!({
            "phase": "Running",
            "podIP": "10.244.0.10",
            "conditions": [{ "type": "Ready", "status": "True" }]
        }))
        .expect("status");
        pod
    };
    let mut pods = vec![running(desired.head_pod.clone(), "bench-head".into())];
    for i in 0..WORKERS {
        let replica = WorkerReplica {
            index: i32::try_from(i).expect("small"),
            multi_host: None,
        };
        let pod = desired.workers[0].stamp(&replica).expect("worker");
        pods.push(running(pod, format!("bench-workers-{i:05}")));
    }
    pods
}

fn bench(c: &mut Criterion) {
    let cluster = cluster();
    let pods = pods(&cluster);
    let pods: Vec<CachedPod> = pods.iter().map(CachedPod::of).collect();
    let refs: Vec<&CachedPod> = pods.iter().collect();
    let now = Time(k8s_openapi::jiff::Timestamp::now());
    c.bench_function("status of a cluster with 1,000 ready workers", |b| {
        b.iter(|| {
            compute(&StatusInputs {
                cluster: std::hint::black_box(&cluster),
                pods: &refs,
                head_service: None,
                failure: None,
                now: now.clone(),
            })
        });
    });
    let unsettled = BTreeSet::new();
    c.bench_function("decide at steady state, 1,000 workers", |b| {
        b.iter(|| {
            let obs = Observation {
                spec: &cluster.spec,
                pods: std::hint::black_box(&refs),
                head_settled: true,
                head_restart_disabled: false,
                unsettled_groups: &unsettled,
                recreate: None,
            };
            let actions = pod_changes(&obs, &mut |g| format!("{g}-new"));
            assert!(actions.is_empty());
        });
    });
    let head_only = &refs[..1];
    c.bench_function("decide a scale-up from 0 to 1,000 workers", |b| {
        let mut n = 0u64;
        b.iter(|| {
            let obs = Observation {
                spec: &cluster.spec,
                pods: std::hint::black_box(head_only),
                head_settled: true,
                head_restart_disabled: false,
                unsettled_groups: &unsettled,
                recreate: None,
            };
            let actions = pod_changes(&obs, &mut |g| {
                n += 1;
                format!("{g}-{n}")
            });
            assert_eq!(actions.len(), WORKERS);
        });
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
