//! `ray-operator render` shows the pods the operator creates: for every example, builder fixture and a set of
//! suspended and `clusterSelector` cases, the pods `render` outputs (per cluster, head and worker group) are
//! exactly the pods the controllers' pure decisions create, starting from nothing.
//!
//! The operator side is driven through `rayjob::decide` (does the RayJob create a cluster?) and
//! `raycluster::scaling`, repeated until it creates nothing more (one decision creates at most
//! `MAX_CREATES_PER_RECONCILE` pods), with the pods it asked for added to the observation. The pods are made as the
//! controller makes them: from the cluster's `DesiredCluster`, the head as rendered and workers stamped from their
//! group's template.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;
use ray_api_v1::parse::RayObject;
use ray_api_v1::{RayCluster, RayJob};
use ray_builders::{ClusterContext, DesiredCluster, Object, RenderOptions, labels};
use ray_controllers::pod_index::CachedPod;
use ray_controllers::raycluster::scaling::{self, PodChange};
use ray_controllers::rayjob::decide::{self as job_decide, RayJobInfo};
use serde_json::{Value, json};

/// Pods per cluster name and group (`head` for the head).
type Counts = BTreeMap<(String, String), usize>;

fn pod_key(cluster: &str, pod: &Pod) -> (String, String) {
    let labels = pod.metadata.labels.clone().unwrap_or_default();
    let group = if labels.get(labels::NODE_TYPE).map(String::as_str) == Some(labels::NODE_TYPE_HEAD)
    {
        "head".to_string()
    } else {
        labels.get(labels::GROUP).cloned().unwrap_or_default()
    };
    (cluster.to_string(), group)
}

fn rendered_counts(objects: &[ray_builders::Rendered]) -> (Counts, BTreeSet<String>) {
    let mut counts = Counts::new();
    let mut clusters = BTreeSet::new();
    for rendered in objects {
        match &rendered.object {
            Object::Pod(pod) => {
                let cluster = pod
                    .metadata
                    .labels
                    .as_ref()
                    .and_then(|l| l.get(labels::CLUSTER))
                    .cloned()
                    .unwrap_or_default();
                *counts.entry(pod_key(&cluster, pod)).or_default() += 1;
            }
            Object::RayCluster(cluster) => {
                clusters.insert(cluster.metadata.name.clone().unwrap_or_default());
            }
            _ => {}
        }
    }
    (counts, clusters)
}

/// The pods `raycluster::scaling` creates for `cluster`, starting from none, until it creates nothing more.
fn operator_pods(cluster: &RayCluster, options: &RenderOptions, counts: &mut Counts) {
    let name = cluster.metadata.name.clone().unwrap_or_default();
    let ctx = ClusterContext::new(cluster, options).expect("the cluster renders");
    let desired = DesiredCluster::build(&ctx).expect("the cluster renders");
    let mut pods: Vec<Pod> = Vec::new();
    let mut replica_names = 0usize;
    for _pass in 0..1000 {
        let summaries: Vec<CachedPod> = pods.iter().map(CachedPod::of).collect();
        let refs: Vec<&CachedPod> = summaries.iter().collect();
        let unsettled = BTreeSet::new();
        let obs = scaling::Observation {
            spec: &cluster.spec,
            pods: &refs,
            head_settled: true,
            head_restart_disabled: false,
            unsettled_groups: &unsettled,
            recreate: cluster
                .spec
                .recreates_pods_on_change()
                .then_some(&desired.stamp),
        };
        let actions = scaling::pod_changes(&obs, &mut |group| {
            replica_names += 1;
            format!("{group}-r{replica_names}")
        });
        if actions.is_empty() {
            break;
        }
        for action in actions {
            let mut pod = match action {
                PodChange::CreateHead => desired.head_pod.clone(),
                PodChange::CreateWorker {
                    group_index,
                    replica,
                } => desired
                    .worker(group_index)
                    .expect("a template per group")
                    .stamp(&replica)
                    .expect("worker pod"),
                PodChange::Delete { name, .. } => {
                    pods.retain(|p| p.metadata.name.as_deref() != Some(name.as_str()));
                    continue;
                }
                // Pods made here carry this version's annotations already.
                PodChange::Restamp { name } => panic!("{name} restamped"),
            };
            pod.metadata.name = Some(format!(
                "{}{}",
                pod.metadata.generate_name.clone().unwrap_or_default(),
                pods.len()
            ));
            pods.push(pod);
        }
    }
    for pod in &pods {
        *counts.entry(pod_key(&name, pod)).or_default() += 1;
    }
}

/// Whether the RayJob controller creates a cluster, and its name: two decisions from a new RayJob (the first
/// records the names, the second acts).
fn job_cluster(job: &RayJob) -> Option<String> {
    let mut job = job.clone();
    let info = RayJobInfo::NotChecked;
    for _pass in 0..2 {
        let decision = job_decide::decide(&job_decide::Observation {
            job: &job,
            cluster: None,
            submitter: None,
            ray_job: &info,
            dashboard_url: None,
            status_check_failing_since: None,
            now: Timestamp::UNIX_EPOCH,
            suffix: "abcde",
            sidecar: job_decide::SidecarSubmitter::NotChecked,
        });
        for action in &decision.actions {
            if let job_decide::Action::CreateCluster { name } = action {
                return Some(name.clone());
            }
        }
        job.status = Some(decision.status);
    }
    None
}

/// Checks one manifest document; returns a description of it for the report.
fn check(doc: Value, options: &RenderOptions) -> Option<String> {
    if doc.get("apiVersion").and_then(Value::as_str) != Some("ray.io/v1") {
        return None;
    }
    let object = RayObject::from_json_value(doc).expect("a Ray object");
    let (rendered, what) = match &object {
        RayObject::Cluster(c) => (ray_builders::render_cluster(c, options), "RayCluster"),
        RayObject::Job(j) => (ray_builders::render_job(j, options), "RayJob"),
        RayObject::Service(s) => (ray_builders::render_service(s, options), "RayService"),
        // A RayCronJob creates RayJobs; what they create is checked with the RayJob samples.
        RayObject::CronJob(_) => return None,
    };
    let rendered = rendered.expect("renders");
    let (render_counts, render_clusters) = rendered_counts(&rendered);

    let mut operator_counts = Counts::new();
    let mut operator_clusters = BTreeSet::new();
    // render names generated clusters `<owner>-<suffix derived from the owner>`; the operator's random name is
    // replaced by the same one so the counts compare.
    match &object {
        RayObject::Cluster(cluster) => {
            let mut cluster = cluster.clone();
            if cluster.metadata.namespace.is_none() {
                cluster.metadata.namespace = Some(options.default_namespace.clone());
            }
            operator_pods(&cluster, options, &mut operator_counts);
        }
        RayObject::Job(job) => {
            let mut job = job.clone();
            if job.metadata.namespace.is_none() {
                job.metadata.namespace = Some(options.default_namespace.clone());
            }
            if job_cluster(&job).is_some() {
                let owner = job.metadata.name.clone().unwrap_or_default();
                let name = ray_builders::objects::render_cluster_name(&owner);
                let cluster = ray_builders::job_cluster::ray_cluster_for_job(&job, &name, "job-id")
                    .expect("job cluster")
                    .expect("a cluster spec");
                operator_clusters.insert(name);
                operator_pods(&cluster, options, &mut operator_counts);
            }
        }
        RayObject::Service(service) => {
            let mut service = service.clone();
            if service.metadata.namespace.is_none() {
                service.metadata.namespace = Some(options.default_namespace.clone());
            }
            let owner = service.metadata.name.clone().unwrap_or_default();
            let name = ray_builders::objects::render_cluster_name(&owner);
            let cluster =
                ray_builders::service_cluster::ray_cluster_for_service(&service, &name, options)
                    .expect("service cluster");
            operator_clusters.insert(name);
            operator_pods(&cluster, options, &mut operator_counts);
        }
        RayObject::CronJob(_) => {}
    }
    let name = object_name(&object);
    assert_eq!(
        render_clusters, operator_clusters,
        "{what}/{name}: render and the operator disagree on the RayCluster created"
    );
    assert_eq!(
        render_counts, operator_counts,
        "{what}/{name}: render and the operator disagree on the pods"
    );
    Some(format!("{what}/{name}"))
}

fn object_name(object: &RayObject) -> String {
    match object {
        RayObject::Cluster(c) => c.metadata.name.clone(),
        RayObject::Job(j) => j.metadata.name.clone(),
        RayObject::Service(s) => s.metadata.name.clone(),
        RayObject::CronJob(c) => c.metadata.name.clone(),
    }
    .unwrap_or_default()
}

fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("read dir")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

fn head(replicas_note: &str) -> Value {
    json!({
        "rayStartParams": {},
        "template": { "metadata": { "labels": { "note": replicas_note } },
                      "spec": { "containers": [{ "name": "ray-head", "image": "rayproject/ray:2.9.0" }] } }
    })
}

fn workers() -> Value {
    json!([
        { "groupName": "small", "replicas": 3, "minReplicas": 1, "maxReplicas": 5, "rayStartParams": {},
          "template": { "spec": { "containers": [{ "name": "w", "image": "rayproject/ray:2.9.0" }] } } },
        { "groupName": "clamped", "replicas": 9, "minReplicas": 0, "maxReplicas": 2, "rayStartParams": {},
          "template": { "spec": { "containers": [{ "name": "w", "image": "rayproject/ray:2.9.0" }] } } },
        { "groupName": "multi", "replicas": 2, "numOfHosts": 3, "maxReplicas": 4, "rayStartParams": {},
          "template": { "spec": { "containers": [{ "name": "w", "image": "rayproject/ray:2.9.0" }] } } },
        { "groupName": "big", "replicas": 700, "maxReplicas": 1000, "rayStartParams": {},
          "template": { "spec": { "containers": [{ "name": "w", "image": "rayproject/ray:2.9.0" }] } } }
    ])
}

/// Suspended clusters and RayJobs, clusterSelector with and without rayClusterSpec, groups clamped, multi-host
/// and larger than one decision's create budget.
fn edge_cases() -> Vec<Value> {
    let cluster = |name: &str, suspend: bool| {
        json!({
            "apiVersion": "ray.io/v1", "kind": "RayCluster",
            "metadata": { "name": name, "namespace": "ns" },
            "spec": { "suspend": suspend, "headGroupSpec": head("x"), "workerGroupSpecs": workers() }
        })
    };
    let job = |name: &str, extra: Value| {
        let mut spec = json!({
            "entrypoint": "python x.py",
            "rayClusterSpec": { "headGroupSpec": head("x"), "workerGroupSpecs": workers() }
        });
        if let (Some(spec), Some(extra)) = (spec.as_object_mut(), extra.as_object()) {
            for (k, v) in extra {
                spec.insert(k.clone(), v.clone());
            }
        }
        json!({ "apiVersion": "ray.io/v1", "kind": "RayJob", "metadata": { "name": name, "namespace": "ns" },
                "spec": spec })
    };
    vec![
        cluster("running", false),
        cluster("suspended", true),
        job("plain", json!({})),
        job("suspended-job", json!({ "suspend": true })),
        job(
            "selector-and-spec",
            json!({ "clusterSelector": { "ray.io/cluster": "shared" } }),
        ),
        job(
            "selector-only",
            json!({ "clusterSelector": { "ray.io/cluster": "shared" }, "rayClusterSpec": null,
                    "submissionMode": "HTTPMode" }),
        ),
        job(
            "suspended-cluster-spec",
            json!({ "rayClusterSpec": { "suspend": true, "headGroupSpec": head("x"), "workerGroupSpecs": workers() } }),
        ),
        json!({
            "apiVersion": "ray.io/v1", "kind": "RayService",
            "metadata": { "name": "svc", "namespace": "ns" },
            "spec": { "rayClusterConfig": { "suspend": true, "headGroupSpec": head("x"), "workerGroupSpecs": workers() } }
        }),
    ]
}

#[test]
fn render_shows_the_pods_the_operator_creates() {
    let options = RenderOptions::default();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut checked = Vec::new();
    let mut files = yaml_files(&root.join("examples"));
    files.extend(yaml_files(&root.join("crates/ray-builders/tests/fixtures")));
    assert!(files.len() >= 15, "examples or fixtures are missing");
    for file in files {
        let text = std::fs::read_to_string(&file).expect("read manifest");
        let docs: Vec<Value> = serde_saphyr::from_multiple(&text).expect("YAML");
        for doc in docs {
            checked.extend(check(doc, &options));
        }
    }
    for doc in edge_cases() {
        checked.push(check(doc, &options).expect("a ray.io/v1 object"));
    }
    assert!(checked.len() >= 25, "{checked:?}");
    for case in [
        "RayCluster/suspended",
        "RayJob/selector-and-spec",
        "RayJob/suspended-job",
        "RayJob/suspended-cluster-spec",
        "RayService/svc",
    ] {
        assert!(checked.iter().any(|c| c == case), "{case} not checked");
    }
}
