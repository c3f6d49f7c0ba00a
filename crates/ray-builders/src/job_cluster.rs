//! The RayCluster a RayJob creates from its `rayClusterSpec`, and the RayJob's own head Service.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use ray_api_v1::{JobSubmissionMode, RayCluster, RayJob};

use crate::context::{ClusterContext, ContextError, RenderOptions, owner_reference};
use crate::labels::{self, NodeType};
use crate::names::{self, NameError};
use crate::service::ServiceError;
use crate::submitter::{self, SubmitterError};

/// The value of `ray.io/job-submission-mode` for a mode.
pub fn submission_mode_value(mode: JobSubmissionMode) -> &'static str {
    match mode {
        JobSubmissionMode::K8sJobMode => "K8sJobMode",
        JobSubmissionMode::HttpMode => "HTTPMode",
        JobSubmissionMode::InteractiveMode => "InteractiveMode",
        JobSubmissionMode::SidecarMode => "SidecarMode",
    }
}

/// A RayJob whose cluster cannot be rendered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JobClusterError {
    /// The RayJob has no name.
    #[error("metadata.name: the RayJob has no name")]
    MissingName,
    /// The generated cluster name does not fit.
    #[error(transparent)]
    Name(#[from] NameError),
    /// The `SidecarMode` submitter container cannot be rendered.
    #[error(transparent)]
    Submitter(#[from] SubmitterError),
    /// The cluster's identity (names, ports) is invalid, so its head Service cannot be rendered.
    #[error(transparent)]
    Context(#[from] ContextError),
    /// The RayJob's head Service cannot be rendered.
    #[error(transparent)]
    Service(#[from] ServiceError),
}

/// The RayJob's name, or the error naming `metadata.name`.
fn job_name(job: &RayJob) -> Result<String, JobClusterError> {
    job.metadata
        .name
        .clone()
        .filter(|n| !n.is_empty())
        .ok_or(JobClusterError::MissingName)
}

/// Whether the RayJob runs on an existing RayCluster (`clusterSelector`) instead of creating one.
fn uses_existing_cluster(job: &RayJob) -> bool {
    !job.spec.cluster_selector.is_empty()
}

/// The RayCluster for a RayJob, named `cluster_name` (the operator picks `<rayjob>-<5 random>` and records it in
/// `status.rayClusterName` first). `None` when the job runs on an existing cluster (`clusterSelector`).
///
/// Labels are the RayJob's plus `ray.io/originated-from-cr-name`, `ray.io/originated-from-crd: RayJob` and
/// `ray.io/job-submission-mode`; annotations are the RayJob's; the spec is a copy of `rayClusterSpec`.
///
/// In `SidecarMode` the head pod also runs the submitter ([`submitter::sidecar_container`], submitting `job_id`,
/// so the operator decides the id, `status.jobId`, before creating the cluster), its `restartPolicy` is `Never`
/// (a restarted submitter would submit again), and the cluster carries
/// `ray.io/disable-provisioned-head-restart: "true"` so that the RayCluster controller does not replace a head
/// pod whose submitter has run. `job_id` is not used in other modes.
pub fn ray_cluster_for_job(
    job: &RayJob,
    cluster_name: &str,
    job_id: &str,
) -> Result<Option<RayCluster>, JobClusterError> {
    let job_name = job_name(job)?;
    let Some(mut spec) = job.spec.ray_cluster_spec.clone() else {
        return Ok(None);
    };
    names::check_generated_cluster_name(cluster_name, "metadata.name")?;
    let mode = job.spec.submission_mode.unwrap_or_default();
    let mut cluster_labels: BTreeMap<String, String> =
        job.metadata.labels.clone().unwrap_or_default();
    cluster_labels.insert(
        labels::ORIGINATED_FROM_CR_NAME.to_string(),
        job_name.clone(),
    );
    cluster_labels.insert(
        labels::ORIGINATED_FROM_CRD.to_string(),
        labels::CRD_RAY_JOB.to_string(),
    );
    cluster_labels.insert(
        labels::JOB_SUBMISSION_MODE.to_string(),
        submission_mode_value(mode).to_string(),
    );
    let mut annotations = job.metadata.annotations.clone();
    if mode == JobSubmissionMode::SidecarMode {
        annotations.get_or_insert_with(BTreeMap::new).insert(
            labels::DISABLE_PROVISIONED_HEAD_RESTART_ANNOTATION.to_string(),
            "true".to_string(),
        );
        let auth = crate::auth::token_auth(cluster_name, &spec);
        let pod = spec
            .head_group_spec
            .template
            .spec
            .as_mut()
            .ok_or(SubmitterError::SidecarMissingHead)?;
        let head = pod
            .containers
            .first()
            .ok_or(SubmitterError::SidecarMissingHead)?;
        let sidecar = submitter::sidecar_container(job, head, job_id, auth.as_ref())?;
        pod.containers.push(sidecar);
        pod.restart_policy = Some("Never".to_string());
    }
    let mut cluster = RayCluster::new(cluster_name, spec);
    cluster.metadata = ObjectMeta {
        name: Some(cluster_name.to_string()),
        namespace: job.metadata.namespace.clone(),
        labels: Some(cluster_labels),
        annotations,
        owner_references: owner_reference("RayJob", &job_name, job.metadata.uid.as_deref())
            .map(|o| vec![o]),
        ..ObjectMeta::default()
    };
    Ok(Some(cluster))
}

/// The RayJob's own head Service, `<rayjob>-head-svc`, in front of `cluster` (the job's current RayCluster), as
/// KubeRay keeps it so that clients reach the job's head by one name across retries: the cluster's head Service
/// (ports, type, annotations, headless or not as `options` say) selecting that cluster's head pod, labelled
/// `ray.io/originated-from-cr-name`, `ray.io/originated-from-crd: RayJob`, `ray.io/node-type: head` and
/// `ray.io/identifier: <rayjob>-head`, and owned by the RayJob once it has a UID.
///
/// `None` for a job on an existing cluster (`clusterSelector`): that cluster's own head Service serves it.
pub fn job_head_service(
    job: &RayJob,
    cluster: &RayCluster,
    options: &RenderOptions,
) -> Result<Option<Service>, JobClusterError> {
    let name = job_name(job)?;
    if uses_existing_cluster(job) {
        return Ok(None);
    }
    let service_name = names::head_service_name(&name, "metadata.name")?;
    let ctx = ClusterContext::new(cluster, options)?;
    let mut service = crate::service::head_service(&ctx)?;
    service.metadata.name = Some(service_name);
    if let Some(namespace) = job.metadata.namespace.clone().filter(|n| !n.is_empty()) {
        service.metadata.namespace = Some(namespace);
    }
    service.metadata.labels = Some(BTreeMap::from([
        (labels::ORIGINATED_FROM_CR_NAME.to_string(), name.clone()),
        (
            labels::ORIGINATED_FROM_CRD.to_string(),
            labels::CRD_RAY_JOB.to_string(),
        ),
        (
            labels::NODE_TYPE.to_string(),
            labels::NODE_TYPE_HEAD.to_string(),
        ),
        (
            labels::IDENTIFIER.to_string(),
            labels::identifier(&name, NodeType::Head),
        ),
    ]));
    service.metadata.owner_references =
        owner_reference("RayJob", &name, job.metadata.uid.as_deref()).map(|o| vec![o]);
    Ok(Some(service))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn job(mode: &str, extra: Value) -> RayJob {
        let mut value = json!({
            "apiVersion": "ray.io/v1", "kind": "RayJob",
            "metadata": {"name": "j", "namespace": "ns", "uid": "job-uid"},
            "spec": {
                "submissionMode": mode,
                "entrypoint": "python main.py",
                "rayClusterSpec": {
                    "rayVersion": "2.52.0",
                    "headGroupSpec": {"rayStartParams": {}, "template": {"spec": {"containers": [
                        {"name": "ray-head", "image": "rayproject/ray:2.52.0",
                         "ports": [{"name": "dashboard", "containerPort": 8300}]}
                    ]}}}
                }
            }
        });
        json_patch(&mut value, extra);
        serde_json::from_value(value).unwrap()
    }

    /// Merges `patch` into `target` (objects key by key; anything else replaces).
    fn json_patch(target: &mut Value, patch: Value) {
        match (target, patch) {
            (Value::Object(t), Value::Object(p)) => {
                for (k, v) in p {
                    json_patch(t.entry(k).or_insert(Value::Null), v);
                }
            }
            (t, p) => *t = p,
        }
    }

    fn head_pod_spec(cluster: &RayCluster) -> Value {
        serde_json::to_value(&cluster.spec.head_group_spec.template.spec).unwrap()
    }

    #[test]
    fn sidecar_mode_puts_a_submitter_next_to_the_head_and_never_restarts_it() {
        let cluster = ray_cluster_for_job(&job("SidecarMode", json!({})), "j-abcde", "j-id")
            .unwrap()
            .unwrap();
        let annotations = cluster.metadata.annotations.clone().unwrap();
        assert_eq!(
            annotations[labels::DISABLE_PROVISIONED_HEAD_RESTART_ANNOTATION],
            "true"
        );
        let spec = head_pod_spec(&cluster);
        assert_eq!(spec["restartPolicy"], json!("Never"));
        let sidecar = &spec["containers"][1];
        assert_eq!(sidecar["name"], json!(submitter::CONTAINER_NAME));
        assert_eq!(sidecar["image"], json!("rayproject/ray:2.52.0"));
        assert_eq!(
            sidecar["resources"],
            json!({"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "500m", "memory": "200Mi"}})
        );
        assert_eq!(
            sidecar["env"],
            json!([
                {"name": "PYTHONUNBUFFERED", "value": "1"},
                {"name": "RAY_DASHBOARD_ADDRESS", "value": "127.0.0.1:8300"},
                {"name": "RAY_JOB_SUBMISSION_ID", "value": "j-id"},
            ])
        );
        let script = sidecar["args"][0].as_str().unwrap();
        // Waits on the pod's own dashboard port, then submits once and follows the job (no --no-wait, and no
        // "already submitted?" check, which only a retried submitter Job needs).
        assert!(
            script.contains("urlopen(\"http://127.0.0.1:8300/api/gcs_healthz\""),
            "{script}"
        );
        assert!(
            script.ends_with(
                "; ray job submit --address http://127.0.0.1:8300 --submission-id j-id -- python main.py"
            ),
            "{script}"
        );
        assert!(!script.contains("ray job status"), "{script}");
        // The RayJob's own annotations are kept.
        let with_annotation = job(
            "SidecarMode",
            json!({"metadata": {"annotations": {"a": "b"}}}),
        );
        let cluster = ray_cluster_for_job(&with_annotation, "j-abcde", "j-id")
            .unwrap()
            .unwrap();
        assert_eq!(cluster.metadata.annotations.unwrap().len(), 2);
    }

    #[test]
    fn other_modes_copy_the_cluster_spec_unchanged() {
        for mode in ["K8sJobMode", "HTTPMode", "InteractiveMode"] {
            let job = job(mode, json!({}));
            let cluster = ray_cluster_for_job(&job, "j-abcde", "").unwrap().unwrap();
            assert_eq!(&cluster.spec, job.spec.ray_cluster_spec.as_ref().unwrap());
            assert_eq!(cluster.metadata.annotations, None, "{mode}");
            assert_eq!(
                cluster.metadata.labels.unwrap()[labels::JOB_SUBMISSION_MODE],
                mode
            );
        }
    }

    #[test]
    fn sidecar_mode_needs_the_job_id_and_a_head_image() {
        let err = ray_cluster_for_job(&job("SidecarMode", json!({})), "j-abcde", "").unwrap_err();
        assert!(err.to_string().starts_with("status.jobId:"), "{err}");
        let no_image = job(
            "SidecarMode",
            json!({"spec": {"rayClusterSpec": {"headGroupSpec": {"template": {"spec": {"containers": [
                {"name": "ray-head"}
            ]}}}}}}),
        );
        let err = ray_cluster_for_job(&no_image, "j-abcde", "id").unwrap_err();
        assert!(
            err.to_string().starts_with(
                "spec.rayClusterSpec.headGroupSpec.template.spec.containers[0].image:"
            ),
            "{err}"
        );
    }

    #[test]
    fn the_sidecar_carries_the_cluster_token() {
        let secret = job(
            "SidecarMode",
            json!({"spec": {"rayClusterSpec": {"authOptions": {"mode": "token"}}}}),
        );
        let cluster = ray_cluster_for_job(&secret, "j-abcde", "id")
            .unwrap()
            .unwrap();
        let env = &head_pod_spec(&cluster)["containers"][1]["env"];
        assert_eq!(
            env.as_array().unwrap()[3..],
            [
                json!({"name": "RAY_AUTH_MODE", "value": "token"}),
                json!({"name": "RAY_AUTH_TOKEN", "valueFrom": {"secretKeyRef": {"name": "j-abcde", "key": "auth_token"}}}),
            ]
        );
        // With Kubernetes token auth the sidecar mounts the pod's projected token, which the head pod declares.
        let k8s = job(
            "SidecarMode",
            json!({"metadata": {"uid": null}, "spec": {"rayClusterSpec": {"authOptions": {"mode": "token", "enableK8sTokenAuth": true}}}}),
        );
        let rendered = crate::render_job(&k8s, &RenderOptions::default()).unwrap();
        let head = rendered
            .iter()
            .find_map(|r| match &r.object {
                crate::Object::Pod(p)
                    if p.metadata.labels.as_ref().unwrap()[labels::NODE_TYPE] == "head" =>
                {
                    Some(serde_json::to_value(&p.spec).unwrap())
                }
                _ => None,
            })
            .unwrap();
        let sidecar = &head["containers"][1];
        assert_eq!(sidecar["name"], json!(submitter::CONTAINER_NAME));
        assert_eq!(sidecar["volumeMounts"][0]["name"], json!("ray-token"));
        assert!(
            head["volumes"]
                .as_array()
                .unwrap()
                .iter()
                .any(|v| v["name"] == json!("ray-token"))
        );
    }

    #[test]
    fn the_job_head_service_follows_the_current_cluster_and_belongs_to_the_job() {
        let job = job("K8sJobMode", json!({}));
        let cluster = ray_cluster_for_job(&job, "j-abcde", "").unwrap().unwrap();
        let service = job_head_service(&job, &cluster, &RenderOptions::default())
            .unwrap()
            .unwrap();
        let value = serde_json::to_value(&service).unwrap();
        assert_eq!(value["metadata"]["name"], json!("j-head-svc"));
        assert_eq!(value["metadata"]["namespace"], json!("ns"));
        assert_eq!(
            value["metadata"]["labels"],
            json!({
                "ray.io/originated-from-cr-name": "j",
                "ray.io/originated-from-crd": "RayJob",
                "ray.io/node-type": "head",
                "ray.io/identifier": "j-head",
            })
        );
        assert_eq!(
            value["metadata"]["ownerReferences"],
            json!([{"apiVersion": "ray.io/v1", "kind": "RayJob", "name": "j", "uid": "job-uid",
                    "controller": true, "blockOwnerDeletion": true}])
        );
        let selector = &value["spec"]["selector"];
        assert_eq!(selector[labels::CLUSTER], json!("j-abcde"));
        assert_eq!(selector[labels::NODE_TYPE], json!("head"));
        assert_eq!(
            value["spec"]["ports"],
            json!([
                {"name": "dashboard", "port": 8300, "appProtocol": "tcp"},
                {"name": "metrics", "port": 8080, "appProtocol": "tcp"},
            ])
        );
        assert_eq!(value["spec"]["clusterIP"], json!("None"));
        // Like the cluster's own head Service, it gets a cluster IP when the operator is told to give one.
        let options = RenderOptions {
            head_service_cluster_ip: true,
            ..RenderOptions::default()
        };
        let service = job_head_service(&job, &cluster, &options).unwrap().unwrap();
        assert_eq!(service.spec.unwrap().cluster_ip, None);
    }

    #[test]
    fn no_job_head_service_on_an_existing_cluster() {
        let selector = job(
            "K8sJobMode",
            json!({"spec": {"clusterSelector": {"ray.io/cluster": "shared"}}}),
        );
        let cluster = RayCluster::new("shared", selector.spec.ray_cluster_spec.clone().unwrap());
        assert_eq!(
            job_head_service(&selector, &cluster, &RenderOptions::default()).unwrap(),
            None
        );
    }

    #[test]
    fn a_job_name_too_long_for_its_head_service_names_metadata_name() {
        let long = "a".repeat(56);
        let job = job("K8sJobMode", json!({"metadata": {"name": long}}));
        let cluster = RayCluster::new("c", job.spec.ray_cluster_spec.clone().unwrap());
        let err = job_head_service(&job, &cluster, &RenderOptions::default()).unwrap_err();
        let message = err.to_string();
        assert!(message.starts_with("metadata.name:"), "{message}");
        assert!(message.contains("shorten metadata.name by 2"), "{message}");
    }

    /// What `render` shows per mode is what the operator creates: the cluster and the RayJob's head Service
    /// always, a submitter Job only in K8sJobMode, the submitter container only in SidecarMode.
    #[test]
    fn render_shows_a_submitter_job_only_in_k8s_job_mode() {
        for (mode, extra) in [
            ("K8sJobMode", json!({})),
            ("HTTPMode", json!({})),
            ("InteractiveMode", json!({"spec": {"entrypoint": null}})),
            ("SidecarMode", json!({})),
        ] {
            let rendered = crate::render_job(&job(mode, extra), &RenderOptions::default()).unwrap();
            let kinds: Vec<String> = rendered
                .iter()
                .map(|r| format!("{}/{}", r.object.kind(), r.object.display_name()))
                .collect();
            let mut expected = vec![
                "RayCluster/j-77nf4",
                "Service/j-77nf4-head-svc",
                "Pod/j-77nf4-head-*",
            ];
            if mode == "K8sJobMode" {
                expected.push("Job/j");
            }
            expected.push("Service/j-head-svc");
            assert_eq!(kinds, expected, "{mode}");
            let head_containers = rendered
                .iter()
                .find_map(|r| match &r.object {
                    crate::Object::Pod(p) => Some(p.spec.as_ref().unwrap().containers.len()),
                    _ => None,
                })
                .unwrap();
            assert_eq!(
                head_containers,
                if mode == "SidecarMode" { 2 } else { 1 },
                "{mode}"
            );
        }
    }
}
