//! The submitter of a RayJob. In `K8sJobMode` it is a Kubernetes Job: it waits for the dashboard, submits the Ray
//! job unless a job with that submission id exists already (so a retried pod never submits twice), and follows its
//! logs. In `SidecarMode` it is a container of the head pod: it waits for the dashboard on the pod's own network,
//! submits once (the head pod never restarts it) and follows the job until it ends.

use std::collections::BTreeMap;

use k8s_openapi::api::batch::v1::{Job, JobSpec};
use k8s_openapi::api::core::v1::{
    Container, ContainerStatus, Pod, PodSpec, PodTemplateSpec, ResourceRequirements,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use ray_api_v1::RayJob;
use serde_json::Value;

use crate::context::owner_reference;
use crate::env;
use crate::labels;
use crate::names::{self, NameError, NameRule};
use crate::probes::parse_ray_version;
use crate::shell::{self, ShellError};
use crate::spec_hash::canonical_json;

/// The default submitter container's name, and the name of the submitter container in a `SidecarMode` head pod
/// (the controller finds it there by this name).
pub const CONTAINER_NAME: &str = "ray-job-submitter";
/// The submitter Job's default `backoffLimit`.
pub const DEFAULT_BACKOFF_LIMIT: i32 = 2;
/// The first Ray version whose `ray job submit` accepts `--metadata-json`.
pub const METADATA_JSON_MIN_RAY_VERSION: (u64, u64, u64) = (2, 6, 0);

/// A submitter that cannot be rendered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubmitterError {
    /// The RayJob has no name.
    #[error("metadata.name: the RayJob has no name")]
    MissingName,
    /// There is nothing to run.
    #[error("spec.entrypoint: the RayJob needs an entrypoint (the command the Ray job runs)")]
    MissingEntrypoint,
    /// `runtimeEnvYAML` is not a YAML mapping.
    #[error("spec.runtimeEnvYAML: not a valid runtime environment: {reason}")]
    InvalidRuntimeEnv {
        /// Why.
        reason: String,
    },
    /// `metadata` needs a newer Ray.
    #[error(
        "spec.metadata: Ray {ray_version} cannot attach job metadata (`ray job submit --metadata-json` needs Ray 2.6.0 or later); remove spec.metadata or raise spec.rayClusterSpec.rayVersion"
    )]
    MetadataUnsupported {
        /// The cluster's Ray version.
        ray_version: String,
    },
    /// The custom submitter template has no container.
    #[error(
        "spec.submitterPodTemplate.spec.containers: the submitter template needs at least one container"
    )]
    MissingContainer,
    /// The `SidecarMode` submitter needs the head's image.
    #[error(
        "spec.rayClusterSpec.headGroupSpec.template.spec.containers[0].image: in SidecarMode the submitter container runs the head's Ray image, but it has none; set it"
    )]
    SidecarMissingImage,
    /// The `SidecarMode` submitter needs the head's Ray container.
    #[error(
        "spec.rayClusterSpec.headGroupSpec.template.spec.containers: in SidecarMode the submitter runs next to the head's Ray container, but there is none; add it"
    )]
    SidecarMissingHead,
    /// The `SidecarMode` submitter needs the job id before the cluster exists.
    #[error(
        "status.jobId: in SidecarMode the job's submission id is part of the head pod, so it must be decided before the RayCluster is created"
    )]
    SidecarMissingJobId,
    /// The default submitter needs the head's image.
    #[error(
        "spec.rayClusterSpec.headGroupSpec.template.spec.containers[0].image: the default submitter runs the head's Ray image, but it has none; set it or give a spec.submitterPodTemplate"
    )]
    MissingImage,
    /// A value cannot be quoted.
    #[error(transparent)]
    Shell(#[from] ShellError),
    /// The Job name does not fit.
    #[error(transparent)]
    Name(#[from] NameError),
}

/// What the submitter needs that the operator decides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubmitterInputs<'a> {
    /// The Ray job's submission id (`spec.jobId`, or generated and recorded in `status.jobId`).
    pub job_id: &'a str,
    /// The dashboard address of the cluster, `host:port` or a URL (`status.dashboardURL`).
    pub dashboard_address: &'a str,
    /// The image of the cluster head's Ray container, for the default submitter.
    pub head_image: Option<&'a str>,
    /// How the submitter authenticates to a cluster with token authentication (the cluster's token, or its pod's
    /// ServiceAccount token).
    pub auth: Option<&'a crate::auth::TokenAuth>,
}

/// Converts `runtimeEnvYAML` to the JSON `ray job submit --runtime-env-json` takes (keys sorted).
pub fn runtime_env_json(yaml: &str) -> Result<Option<String>, SubmitterError> {
    // The same budgeted parser as manifests (and validation): a YAML bomb is an error, not an OOM, and what counts
    // as empty is what YAML says (spaces, comments), not Rust's `trim` (which also drops a vertical tab, a YAML
    // syntax error that validation rejects).
    let value =
        ray_api_v1::parse::yaml_value(yaml).map_err(|e| SubmitterError::InvalidRuntimeEnv {
            reason: e.to_string(),
        })?;
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(value @ Value::Object(_)) => Ok(Some(canonical_json(&value))),
        Some(other) => Err(SubmitterError::InvalidRuntimeEnv {
            reason: format!("expected a mapping such as `pip: [requests]`, found {other}"),
        }),
    }
}

/// The dashboard's address as `ray job` takes it: with a scheme.
fn http_address(address: &str) -> String {
    if address.starts_with("http://") || address.starts_with("https://") {
        address.to_string()
    } else {
        format!("http://{address}")
    }
}

/// A shell loop that returns once the dashboard at `address` (with scheme) reports a healthy GCS. `field` names
/// where the address came from, should it not be quotable.
fn wait_for_dashboard(address: &str, field: &str) -> Result<String, SubmitterError> {
    let health_url = format!("{address}/api/gcs_healthz");
    let python = format!(
        "import urllib.request; r=urllib.request.urlopen({}, timeout=10); exit(0 if b'success' in r.read() else 1)",
        Value::String(health_url)
    );
    let waiting = format!("Waiting for Ray Dashboard GCS to become healthy at {address} ...");
    Ok(format!(
        "until python -c {python} >/dev/null 2>&1 ; do echo {waiting} ; sleep 2 ; done",
        python = shell::quote(&python, field)?,
        waiting = shell::quote(&waiting, field)?,
    ))
}

/// `ray job submit` with the job's options and entrypoint, each user value one quoted word. `addr` and `id` are
/// quoted already; `no_wait` returns as soon as the job is accepted (the caller follows the logs itself).
fn submit_words(
    job: &RayJob,
    addr: &str,
    id: &str,
    no_wait: bool,
) -> Result<Vec<String>, SubmitterError> {
    let spec = &job.spec;
    let entrypoint = spec.entrypoint.as_deref().unwrap_or("").trim();
    let words = shell::split_words(entrypoint, "spec.entrypoint")?;
    if words.is_empty() {
        return Err(SubmitterError::MissingEntrypoint);
    }
    let q = |v: &str, field: &str| shell::quote(v, field).map(|c| c.into_owned());
    let mut submit = vec![
        "ray".to_string(),
        "job".to_string(),
        "submit".to_string(),
        "--address".to_string(),
        addr.to_string(),
    ];
    if no_wait {
        submit.push("--no-wait".to_string());
    }
    if let Some(json) = runtime_env_json(spec.runtime_env_yaml.as_deref().unwrap_or(""))? {
        submit.push("--runtime-env-json".to_string());
        submit.push(q(&json, "spec.runtimeEnvYAML")?);
    }
    if !spec.metadata.is_empty() {
        let ray_version = spec
            .ray_cluster_spec
            .as_ref()
            .and_then(|c| c.ray_version.as_deref());
        if let Some(version) = parse_ray_version(ray_version)
            && version < METADATA_JSON_MIN_RAY_VERSION
        {
            return Err(SubmitterError::MetadataUnsupported {
                ray_version: ray_version.unwrap_or_default().to_string(),
            });
        }
        let metadata: serde_json::Map<String, Value> = spec
            .metadata
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        submit.push("--metadata-json".to_string());
        submit.push(q(
            &canonical_json(&Value::Object(metadata)),
            "spec.metadata",
        )?);
    }
    submit.push("--submission-id".to_string());
    submit.push(id.to_string());
    if let Some(cpus) = spec.entrypoint_num_cpus.filter(|c| *c > 0.0) {
        submit.push("--entrypoint-num-cpus".to_string());
        submit.push(format!("{cpus:.6}"));
    }
    if let Some(gpus) = spec.entrypoint_num_gpus.filter(|g| *g > 0.0) {
        submit.push("--entrypoint-num-gpus".to_string());
        submit.push(format!("{gpus:.6}"));
    }
    if let Some(resources) = spec
        .entrypoint_resources
        .as_deref()
        .filter(|r| !r.trim().is_empty())
    {
        submit.push("--entrypoint-resources".to_string());
        submit.push(q(resources, "spec.entrypointResources")?);
    }
    submit.push("--".to_string());
    for word in &words {
        submit.push(q(word, "spec.entrypoint")?);
    }
    Ok(submit)
}

/// The bash script of the `K8sJobMode` submitter container.
///
/// Every user value (submission id, runtime environment, metadata, entrypoint resources, entrypoint words) is one
/// quoted word. The entrypoint is split into words as a shell would, but without expansion, and each word is
/// passed to `ray job submit` as data; Ray joins them back into the command it runs, so `$VAR`, `;` or `|` in an
/// entrypoint act on the Ray cluster as the user meant, never in the submitter pod.
pub fn submit_command(
    job: &RayJob,
    inputs: &SubmitterInputs<'_>,
) -> Result<String, SubmitterError> {
    let address = http_address(inputs.dashboard_address);
    let addr = shell::quote(&address, "status.dashboardURL")?.into_owned();
    let id = shell::quote(inputs.job_id, "spec.jobId")?.into_owned();
    let submit = submit_words(job, &addr, &id, true)?;
    Ok(format!(
        "{wait} ; if ! ray job status --address {addr} {id} >/dev/null 2>&1 ; then {submit} ; fi ; \
         ray job logs --address {addr} --follow {id}",
        wait = wait_for_dashboard(&address, "status.dashboardURL")?,
        submit = submit.join(" "),
    ))
}

/// The bash script of the `SidecarMode` submitter container: wait for the dashboard on the pod's own loopback
/// address, then `ray job submit` and follow the job until it ends (its exit ends the container). There is no
/// "already submitted?" check: the head pod's `restartPolicy` is `Never`, so the script runs once per cluster.
pub fn sidecar_submit_command(
    job: &RayJob,
    job_id: &str,
    dashboard_port: i32,
) -> Result<String, SubmitterError> {
    const PORTS: &str = "spec.rayClusterSpec.headGroupSpec.template.spec.containers[0].ports";
    let address = format!("http://{}", local_dashboard_address(dashboard_port));
    let addr = shell::quote(&address, PORTS)?.into_owned();
    let id = shell::quote(job_id, "spec.jobId")?.into_owned();
    let submit = submit_words(job, &addr, &id, false)?;
    Ok(format!(
        "{wait} ; {submit}",
        wait = wait_for_dashboard(&address, PORTS)?,
        submit = submit.join(" "),
    ))
}

/// The dashboard address of a `SidecarMode` submitter (`host:port`, no scheme): the head pod's loopback, since the
/// submitter shares the head's network namespace.
pub fn local_dashboard_address(dashboard_port: i32) -> String {
    format!("127.0.0.1:{dashboard_port}")
}

/// The dashboard port of a head Ray container: its port named `dashboard`, or 8265 (as KubeRay finds it).
pub fn container_dashboard_port(head: &Container) -> i32 {
    head.ports
        .iter()
        .flatten()
        .find(|p| p.name.as_deref() == Some("dashboard"))
        .map_or(i32::from(crate::context::DEFAULT_DASHBOARD_PORT), |p| {
            p.container_port
        })
}

/// The submitter container with KubeRay's default resources (1 CPU / 1Gi limit, 500m / 200Mi request).
fn default_container(image: &str) -> Container {
    let quantities = |cpu: &str, memory: &str| {
        BTreeMap::from([
            ("cpu".to_string(), Quantity(cpu.to_string())),
            ("memory".to_string(), Quantity(memory.to_string())),
        ])
    };
    Container {
        name: CONTAINER_NAME.to_string(),
        image: Some(image.to_string()),
        resources: Some(ResourceRequirements {
            limits: Some(quantities("1", "1Gi")),
            requests: Some(quantities("500m", "200Mi")),
            ..ResourceRequirements::default()
        }),
        ..Container::default()
    }
}

/// The command of a submitter container: bash, stopping at the first failing command, running `script`.
fn run_script(container: &mut Container, script: String) {
    container.command = Some(vec![
        "/bin/bash".to_string(),
        "-ce".to_string(),
        "--".to_string(),
    ]);
    container.args = Some(vec![script]);
}

/// The variables every submitter container gets (the user's values win): `PYTHONUNBUFFERED`, so logs appear as
/// they are written, and `RAY_DASHBOARD_ADDRESS` and `RAY_JOB_SUBMISSION_ID`, which a custom submitter uses to
/// submit the job itself.
fn add_submitter_env(container: &mut Container, dashboard_address: &str, job_id: &str) {
    env::push_if_absent(&mut container.env, env::value("PYTHONUNBUFFERED", "1"));
    env::push_if_absent(
        &mut container.env,
        env::value(env::RAY_DASHBOARD_ADDRESS, dashboard_address),
    );
    env::push_if_absent(
        &mut container.env,
        env::value(env::RAY_JOB_SUBMISSION_ID, job_id),
    );
}

/// The submitter container a `SidecarMode` RayJob adds to its head pod, after the head's Ray container `head`:
/// named [`CONTAINER_NAME`], running the head's image with the default submitter's resources and
/// [`sidecar_submit_command`], with the submitter variables (`RAY_DASHBOARD_ADDRESS` is the loopback address it
/// submits to) and, with token authentication, the token. The caller adds the token volume to the pod.
pub fn sidecar_container(
    job: &RayJob,
    head: &Container,
    job_id: &str,
    auth: Option<&crate::auth::TokenAuth>,
) -> Result<Container, SubmitterError> {
    if job_id.is_empty() {
        return Err(SubmitterError::SidecarMissingJobId);
    }
    let image = head
        .image
        .as_deref()
        .filter(|i| !i.is_empty())
        .ok_or(SubmitterError::SidecarMissingImage)?;
    let port = container_dashboard_port(head);
    let mut container = default_container(image);
    run_script(&mut container, sidecar_submit_command(job, job_id, port)?);
    add_submitter_env(&mut container, &local_dashboard_address(port), job_id);
    if let Some(auth) = auth {
        crate::auth::configure_container(auth, &mut container);
    }
    Ok(container)
}

/// The status of the `SidecarMode` submitter container in a head pod, found by [`CONTAINER_NAME`]; `None` before
/// the kubelet reports it (or in a pod without one).
pub fn sidecar_submitter_status(pod: &Pod) -> Option<&ContainerStatus> {
    pod.status
        .as_ref()?
        .container_statuses
        .as_ref()?
        .iter()
        .find(|c| c.name == CONTAINER_NAME)
}

fn default_template(image: &str) -> PodTemplateSpec {
    PodTemplateSpec {
        metadata: None,
        spec: Some(PodSpec {
            containers: vec![default_container(image)],
            restart_policy: Some("Never".to_string()),
            ..PodSpec::default()
        }),
    }
}

/// The submitter Job: named after the RayJob, labelled as the RayJob's, with `submitterConfig.backoffLimit`
/// (default 2) and the user's `submitterPodTemplate` or a default pod running the head's Ray image (1 CPU / 1Gi
/// limit, 500m / 200Mi request). The first container runs [`submit_command`] unless the user gave it a command (a
/// light-weight submitter, which needs no `spec.entrypoint`); it always gets `PYTHONUNBUFFERED`, `RAY_DASHBOARD_ADDRESS` and `RAY_JOB_SUBMISSION_ID`. A template without a
/// `restartPolicy` gets `Never` (Kubernetes Jobs reject the pod default `Always`).
pub fn submitter_job(job: &RayJob, inputs: &SubmitterInputs<'_>) -> Result<Job, SubmitterError> {
    let name = job
        .metadata
        .name
        .clone()
        .filter(|n| !n.is_empty())
        .ok_or(SubmitterError::MissingName)?;
    names::check(
        &name,
        0,
        NameRule::Dns1123Label,
        "submitter Job name",
        "metadata.name",
    )?;
    let job_labels = BTreeMap::from([
        (labels::ORIGINATED_FROM_CR_NAME.to_string(), name.clone()),
        (
            labels::ORIGINATED_FROM_CRD.to_string(),
            labels::CRD_RAY_JOB.to_string(),
        ),
        (
            labels::APP_CREATED_BY.to_string(),
            labels::APP_CREATED_BY_VALUE.to_string(),
        ),
    ]);
    let mut template = match &job.spec.submitter_pod_template {
        Some(template) => template.clone(),
        None => default_template(inputs.head_image.ok_or(SubmitterError::MissingImage)?),
    };
    let meta = template.metadata.get_or_insert_with(ObjectMeta::default);
    meta.labels
        .get_or_insert_with(BTreeMap::new)
        .extend(job_labels.clone());
    let pod = template.spec.get_or_insert_with(PodSpec::default);
    if pod.restart_policy.as_deref().is_none_or(str::is_empty) {
        pod.restart_policy = Some("Never".to_string());
    }
    let container = pod
        .containers
        .first_mut()
        .ok_or(SubmitterError::MissingContainer)?;
    // A container with its own command (a light-weight submitter) submits the job itself from the variables
    // below; only the generated script needs an entrypoint.
    if container.command.as_ref().is_none_or(Vec::is_empty) {
        run_script(container, submit_command(job, inputs)?);
    }
    add_submitter_env(container, inputs.dashboard_address, inputs.job_id);
    if let Some(auth) = inputs.auth {
        crate::auth::configure_container(auth, container);
        crate::auth::add_token_volume(auth, pod);
    }
    Ok(Job {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            namespace: job.metadata.namespace.clone(),
            labels: Some(job_labels),
            owner_references: owner_reference("RayJob", &name, job.metadata.uid.as_deref())
                .map(|o| vec![o]),
            ..ObjectMeta::default()
        },
        spec: Some(JobSpec {
            backoff_limit: Some(
                job.spec
                    .submitter_config
                    .as_ref()
                    .and_then(|c| c.backoff_limit)
                    .unwrap_or(DEFAULT_BACKOFF_LIMIT),
            ),
            template,
            ..JobSpec::default()
        }),
        status: None,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn job_with_submitter(container: serde_json::Value) -> RayJob {
        serde_json::from_value(json!({
            "apiVersion": "ray.io/v1", "kind": "RayJob",
            "metadata": {"name": "light"},
            "spec": {"submitterPodTemplate": {"spec": {"containers": [container]}}}
        }))
        .unwrap()
    }

    fn inputs() -> SubmitterInputs<'static> {
        SubmitterInputs {
            job_id: "light-id",
            dashboard_address: "light-abcde-head-svc.ns.svc.cluster.local:8265",
            head_image: None,
            auth: None,
        }
    }

    /// KubeRay's light-weight submitter sample: no entrypoint, a container with its own command that reads the
    /// dashboard address and submission id from its environment.
    #[test]
    fn a_submitter_with_its_own_command_needs_no_entrypoint() {
        let job = job_with_submitter(json!({
            "name": "mine", "image": "quay.io/kuberay/submitter:v1.5.1",
            "command": ["/submitter"], "args": ["--", "python", "job.py"]
        }));
        let rendered = submitter_job(&job, &inputs()).unwrap();
        let pod = serde_json::to_value(rendered.spec.unwrap().template.spec).unwrap();
        let container = &pod["containers"][0];
        assert_eq!(container["command"], json!(["/submitter"]));
        assert_eq!(container["args"], json!(["--", "python", "job.py"]));
        assert_eq!(
            container["env"],
            json!([
                {"name": "PYTHONUNBUFFERED", "value": "1"},
                {"name": "RAY_DASHBOARD_ADDRESS", "value": "light-abcde-head-svc.ns.svc.cluster.local:8265"},
                {"name": "RAY_JOB_SUBMISSION_ID", "value": "light-id"},
            ])
        );
        assert_eq!(pod["restartPolicy"], json!("Never"));
    }

    #[test]
    fn a_generated_submit_script_still_needs_an_entrypoint() {
        let job = job_with_submitter(json!({"name": "mine", "image": "ray"}));
        assert_eq!(
            submitter_job(&job, &inputs()).unwrap_err(),
            SubmitterError::MissingEntrypoint
        );
    }

    #[test]
    fn the_sidecar_status_is_found_by_container_name() {
        let pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": "head"},
            "status": {"containerStatuses": [
                {"name": "ray-head", "image": "ray", "imageID": "", "ready": true, "restartCount": 0},
                {"name": CONTAINER_NAME, "image": "ray", "imageID": "", "ready": false, "restartCount": 0,
                 "state": {"terminated": {"exitCode": 1}}}
            ]}
        }))
        .unwrap();
        let status = sidecar_submitter_status(&pod).unwrap();
        assert_eq!(status.name, CONTAINER_NAME);
        let exit = status.state.as_ref().and_then(|s| s.terminated.as_ref());
        assert_eq!(exit.map(|t| t.exit_code), Some(1));
        let no_status: Pod = serde_json::from_value(json!({"metadata": {"name": "head"}})).unwrap();
        assert!(sidecar_submitter_status(&no_status).is_none());
    }

    #[test]
    fn the_dashboard_port_is_the_port_named_dashboard() {
        let head: Container = serde_json::from_value(json!({"name": "h", "ports": [
            {"name": "gcs-server", "containerPort": 6379},
            {"name": "dashboard", "containerPort": 9000}
        ]}))
        .unwrap();
        assert_eq!(container_dashboard_port(&head), 9000);
        let bare: Container = serde_json::from_value(json!({"name": "h"})).unwrap();
        assert_eq!(container_dashboard_port(&bare), 8265);
    }

    #[test]
    fn a_yaml_bomb_in_the_runtime_env_is_refused_not_expanded() {
        let mut bomb = String::from("a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
        for level in 1..10 {
            let list = vec![format!("*a{}", level - 1); 10].join(", ");
            bomb.push_str(&format!("a{level}: &a{level} [{list}]\n"));
        }
        let error = runtime_env_json(&bomb).expect_err("an alias bomb");
        assert!(
            error.to_string().contains("too large or too complex"),
            "{error}"
        );
        let deep = format!("{}{}", "{a: ".repeat(100_000), "}".repeat(100_000));
        runtime_env_json(&deep).expect_err("too deep");
        // Found by fuzzing (embedded_yaml): empty is what YAML says, as in validation.
        assert_eq!(runtime_env_json("  \n# nothing\n").expect("empty"), None);
        runtime_env_json("\u{b} ").expect_err("a vertical tab is not YAML whitespace");
        assert_eq!(
            runtime_env_json("pip: [requests]\nenv_vars: {A: b}\n").expect("a mapping"),
            Some(r#"{"env_vars":{"A":"b"},"pip":["requests"]}"#.to_owned())
        );
    }
}
