//! Huge replica counts neither exhaust memory nor overflow, and render shows what the operator creates for
//! suspended clusters and RayJobs that select an existing cluster.

use ray_api_v1::{RayCluster, RayJob, RayService};
use ray_builders::objects::{RenderError, check_pod_count};
use ray_builders::resources::{desired_replicas, desired_resources, hosts, replica_counts};
use ray_builders::spec_hash::{pod_template_hashes, rayservice_cluster_hash};
use ray_builders::{
    ClusterContext, Object, RenderOptions, Rendered, job_notes, render_cluster, render_job,
    render_service, service_notes,
};
use serde_json::{Value, json};

fn cluster(spec: Value) -> RayCluster {
    serde_json::from_value(json!({
        "apiVersion": "ray.io/v1",
        "kind": "RayCluster",
        "metadata": { "name": "big", "namespace": "ns" },
        "spec": spec,
    }))
    .expect("a RayCluster")
}

fn head() -> Value {
    json!({
        "rayStartParams": {},
        "template": { "spec": { "containers": [{
            "name": "ray-head", "image": "ray",
            "resources": { "limits": { "cpu": "1E", "memory": "8Ei", "nvidia.com/gpu": "1E" } }
        }] } }
    })
}

fn group(replicas: i32, hosts: i32) -> Value {
    json!({
        "groupName": "g",
        "replicas": replicas,
        "minReplicas": replicas,
        "maxReplicas": i32::MAX,
        "numOfHosts": hosts,
        "rayStartParams": {},
        "template": { "spec": { "containers": [{
            "name": "ray-worker", "image": "ray",
            "resources": {
                "requests": { "cpu": "1E", "memory": "8Ei", "google.com/tpu": "4" },
                "limits": { "nvidia.com/gpu": "1E" }
            }
        }] } }
    })
}

fn huge(replicas: i32, hosts: i32) -> RayCluster {
    cluster(json!({
        "headGroupSpec": head(),
        "workerGroupSpecs": [group(replicas, hosts), group(replicas, hosts)],
    }))
}

fn pods(objects: &[Rendered]) -> usize {
    objects
        .iter()
        .filter(|o| matches!(o.object, Object::Pod(_)))
        .count()
}

#[test]
fn render_refuses_more_pods_than_the_limit_naming_the_field() {
    let options = RenderOptions::default();
    let err = render_cluster(&huge(i32::MAX, 1), &options).expect_err("too many pods");
    assert!(matches!(err, RenderError::TooManyPods { .. }));
    assert_eq!(
        err.to_string(),
        "spec.workerGroupSpecs[0].replicas: 2147483647 replicas x 1 hosts = 2147483647 pods, 2147483648 with the head and the groups before it; render shows at most 10000 pods per cluster: lower the field, or raise the limit with --max-pods"
    );
    let err = render_cluster(&huge(1, i32::MAX), &options).expect_err("too many pods");
    assert!(
        err.to_string()
            .starts_with("spec.workerGroupSpecs[0].numOfHosts: 1 replicas x 2147483647 hosts"),
        "{err}"
    );
    let err = render_cluster(&huge(i32::MAX, i32::MAX), &options).expect_err("too many pods");
    assert!(
        err.to_string().contains("= 4611686014132420609 pods"),
        "{err}"
    );

    // The limit counts the head and every group: 1 + 2 × 3 = 7 pods.
    let small = huge(3, 1);
    let at = |max| RenderOptions {
        max_rendered_pods: max,
        ..RenderOptions::default()
    };
    assert_eq!(pods(&render_cluster(&small, &at(7)).expect("fits")), 7);
    let err = render_cluster(&small, &at(6)).expect_err("one too many");
    assert!(
        err.to_string().starts_with(
            "spec.workerGroupSpecs[1].replicas: 3 replicas x 1 hosts = 3 pods, 7 with the head and the groups before it; render shows at most 6 pods"
        ),
        "{err}"
    );
}

#[test]
fn a_rayjob_cluster_too_large_to_render_names_the_rayjob_field() {
    let job: RayJob = serde_json::from_value(json!({
        "apiVersion": "ray.io/v1",
        "kind": "RayJob",
        "metadata": { "name": "big-job", "namespace": "ns" },
        "spec": {
            "entrypoint": "python x.py",
            "rayClusterSpec": { "headGroupSpec": head(), "workerGroupSpecs": [group(i32::MAX, 1)] }
        }
    }))
    .expect("a RayJob");
    let err = render_job(&job, &RenderOptions::default()).expect_err("too many pods");
    assert!(
        err.to_string()
            .starts_with("spec.rayClusterSpec.workerGroupSpecs[0].replicas: 2147483647 replicas"),
        "{err}"
    );
}

#[test]
fn counts_and_resources_of_huge_groups_saturate_without_panicking() {
    for (replicas, num_hosts) in [(i32::MAX, 1), (1, i32::MAX), (i32::MAX, i32::MAX)] {
        let cluster = huge(replicas, num_hosts);
        let spec = &cluster.spec;
        let group = &spec.worker_group_specs[0];
        assert_eq!(desired_replicas(group), replicas);
        assert_eq!(hosts(group), num_hosts);
        let counts = replica_counts(spec);
        assert_eq!(counts.desired, i32::MAX);
        assert_eq!(counts.min, i32::MAX);
        assert_eq!(counts.max, i32::MAX);
        let resources = desired_resources(spec, "spec").expect("resources");
        // Saturated sums still format as quantities.
        assert!(!resources.cpu.0.is_empty());
        assert!(!resources.memory.0.is_empty());
        assert!(!resources.gpu.0.is_empty());
        assert!(!resources.tpu.0.is_empty());
        // Hashes and the operator's render check render one pod per group, whatever the counts.
        let hashes = pod_template_hashes(&cluster, &RenderOptions::default()).expect("hashes");
        assert_eq!(hashes.workers.len(), 1);
        rayservice_cluster_hash(spec).expect("hash");
        let options = RenderOptions::default();
        let ctx = ClusterContext::new(&cluster, &options).expect("context");
        ray_builders::DesiredCluster::build(&ctx).expect("renders");
        let total = u64::try_from(replicas).expect("positive")
            * u64::try_from(num_hosts).expect("positive")
            * 2
            + 1;
        assert_eq!(check_pod_count(&ctx, u64::MAX).expect("no limit"), total);
    }
}

#[test]
fn a_suspended_cluster_renders_its_services_but_no_pods() {
    let mut suspended = huge(i32::MAX, 1);
    suspended.spec.suspend = true;
    let objects = render_cluster(&suspended, &RenderOptions::default()).expect("renders");
    assert_eq!(pods(&objects), 0);
    let kinds: Vec<&str> = objects.iter().map(|o| o.object.kind()).collect();
    assert_eq!(kinds, ["Service"]);
    assert_eq!(ray_builders::cluster_notes(&suspended).len(), 1);

    // The same for the cluster of a RayService.
    let service: RayService = serde_json::from_value(json!({
        "apiVersion": "ray.io/v1",
        "kind": "RayService",
        "metadata": { "name": "svc", "namespace": "ns" },
        "spec": { "rayClusterConfig": {
            "suspend": true,
            "headGroupSpec": head(),
            "workerGroupSpecs": [group(2, 1)]
        } }
    }))
    .expect("a RayService");
    let objects = render_service(&service, &RenderOptions::default()).expect("renders");
    assert_eq!(pods(&objects), 0);
    assert!(objects.iter().any(|o| o.object.kind() == "RayCluster"));
}

#[test]
fn a_suspended_rayservice_renders_nothing() {
    let mut service: RayService = serde_json::from_value(json!({
        "apiVersion": "ray.io/v1",
        "kind": "RayService",
        "metadata": { "name": "svc", "namespace": "ns" },
        "spec": { "suspend": true, "rayClusterConfig": {
            "headGroupSpec": head(),
            "workerGroupSpecs": [group(2, 1)]
        } }
    }))
    .expect("a RayService");
    // The operator deletes a suspended RayService's clusters and Services, so there is nothing to show.
    let objects = render_service(&service, &RenderOptions::default()).expect("renders");
    assert!(objects.is_empty(), "{} objects", objects.len());
    let notes = service_notes(&service);
    assert_eq!(notes.len(), 1);
    assert!(notes[0].contains("spec.suspend"), "{notes:?}");

    service.spec.suspend = false;
    let objects = render_service(&service, &RenderOptions::default()).expect("renders");
    assert_eq!(pods(&objects), 3);
    assert!(service_notes(&service).is_empty());
}

fn job(spec: Value) -> RayJob {
    serde_json::from_value(json!({
        "apiVersion": "ray.io/v1",
        "kind": "RayJob",
        "metadata": { "name": "job", "namespace": "ns" },
        "spec": spec,
    }))
    .expect("a RayJob")
}

#[test]
fn a_cluster_selector_wins_over_a_cluster_spec() {
    let both = job(json!({
        "entrypoint": "python x.py",
        "clusterSelector": { "ray.io/cluster": "shared" },
        "rayClusterSpec": { "headGroupSpec": head(), "workerGroupSpecs": [group(2, 1)] }
    }));
    let objects = render_job(&both, &RenderOptions::default()).expect("renders");
    // No RayCluster and no pods: the operator runs the job on the selected cluster; its default submitter uses
    // that cluster's image, which render cannot read.
    assert!(
        objects.is_empty(),
        "{:?}",
        objects.iter().map(|o| o.object.kind()).collect::<Vec<_>>()
    );
    let notes = job_notes(&both);
    assert!(
        notes
            .iter()
            .any(|n| n.starts_with("spec.rayClusterSpec is ignored")),
        "{notes:?}"
    );

    // With its own submitter template the submitter is shown, pointing at the selected cluster.
    let mut with_template = both.clone();
    with_template.spec.submitter_pod_template = Some(
        serde_json::from_value(
            json!({ "spec": { "containers": [{ "name": "s", "image": "ray" }] } }),
        )
        .expect("template"),
    );
    let objects = render_job(&with_template, &RenderOptions::default()).expect("renders");
    let kinds: Vec<&str> = objects.iter().map(|o| o.object.kind()).collect();
    assert_eq!(kinds, ["Job"]);
    let text = serde_json::to_string(&objects[0].object).expect("json");
    assert!(
        text.contains("shared-head-svc.ns.svc.cluster.local:8265"),
        "{text}"
    );
}

#[test]
fn suspended_rayjobs_and_suspended_job_clusters_render_what_the_operator_creates() {
    let mut suspended = job(json!({
        "entrypoint": "python x.py",
        "suspend": true,
        "rayClusterSpec": { "headGroupSpec": head(), "workerGroupSpecs": [group(2, 1)] }
    }));
    assert!(
        render_job(&suspended, &RenderOptions::default())
            .expect("renders")
            .is_empty()
    );
    assert_eq!(job_notes(&suspended).len(), 1);

    // A RayJob whose cluster spec is suspended: the cluster without pods, and no submitter (the cluster never
    // becomes ready).
    suspended.spec.suspend = false;
    if let Some(spec) = suspended.spec.ray_cluster_spec.as_mut() {
        spec.suspend = true;
    }
    let objects = render_job(&suspended, &RenderOptions::default()).expect("renders");
    assert_eq!(pods(&objects), 0);
    assert!(objects.iter().any(|o| o.object.kind() == "RayCluster"));
    assert!(!objects.iter().any(|o| o.object.kind() == "Job"));
    assert_eq!(job_notes(&suspended).len(), 1);
}
