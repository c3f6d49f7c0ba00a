//! Builds a RayCluster in code, validates it and prints it as YAML.
//!
//! ```sh
//! cargo run -p ray-examples --example build_cluster              # print the manifest
//! cargo run -p ray-examples --example build_cluster | kubectl apply -f -
//! ```
//!
//! Everything is typed: the `ray_api_v1` structs for the Ray parts, `k8s_openapi` for the pod templates. Fields
//! left at their defaults are not written, so the output is as short as a hand-written manifest.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Container, ContainerPort, PodSpec, PodTemplateSpec, ResourceRequirements,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use ray_api_v1::validation::validate_cluster;
use ray_api_v1::{HeadGroupSpec, RayCluster, RayClusterSpec, WorkerGroupSpec};

/// The Ray release the images run. `rayVersion` and the image tag must agree.
const RAY_VERSION: &str = "2.60.0";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let head = HeadGroupSpec {
        ray_start_params: BTreeMap::from([("dashboard-host".into(), "0.0.0.0".into())]),
        template: ray_pod(
            "ray-head",
            &[("gcs-server", 6379), ("dashboard", 8265), ("client", 10001)],
            "1",
            "2Gi",
        ),
        ..HeadGroupSpec::default()
    };
    let workers = WorkerGroupSpec {
        group_name: "workers".into(),
        replicas: Some(2),
        min_replicas: Some(1),
        max_replicas: Some(4),
        template: ray_pod("ray-worker", &[], "1", "1Gi"),
        ..WorkerGroupSpec::default()
    };
    let cluster = RayCluster::new(
        "raycluster-from-rust",
        RayClusterSpec {
            ray_version: Some(RAY_VERSION.into()),
            head_group_spec: head,
            worker_group_specs: vec![workers],
            ..RayClusterSpec::default()
        },
    );

    // The same rules the operator applies. Each error names its field, for example
    // `spec.workerGroupSpecs[0].minReplicas: minReplicas (5) must not be greater than maxReplicas (4)`.
    validate_cluster(&cluster)?;

    print!("{}", serde_saphyr::to_string(&cluster)?);
    Ok(())
}

/// A pod template whose only container runs Ray, with equal CPU and memory requests and limits (the operator
/// derives `ray start --num-cpus` and `--memory` from them).
fn ray_pod(name: &str, ports: &[(&str, i32)], cpu: &str, memory: &str) -> PodTemplateSpec {
    let resources = BTreeMap::from([
        ("cpu".to_owned(), Quantity(cpu.to_owned())),
        ("memory".to_owned(), Quantity(memory.to_owned())),
    ]);
    let ports = ports
        .iter()
        .map(|&(name, port)| ContainerPort {
            name: Some(name.into()),
            container_port: port,
            ..ContainerPort::default()
        })
        .collect::<Vec<_>>();
    PodTemplateSpec {
        metadata: None,
        spec: Some(PodSpec {
            containers: vec![Container {
                name: name.into(),
                image: Some(format!("rayproject/ray:{RAY_VERSION}")),
                ports: (!ports.is_empty()).then_some(ports),
                resources: Some(ResourceRequirements {
                    requests: Some(resources.clone()),
                    limits: Some(resources),
                    ..ResourceRequirements::default()
                }),
                ..Container::default()
            }],
            ..PodSpec::default()
        }),
    }
}
