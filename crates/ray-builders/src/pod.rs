//! Head and worker pods.
//!
//! The Ray container is `containers[0]` of every Ray pod. The operator completes the user's template: identity
//! (generateName, namespace, labels), the generated `ray start` command, environment, ports, `/dev/shm`, default
//! probes, the autoscaler sidecar on the head and the `wait-gcs-ready` init container on workers.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Container, ContainerPort, EmptyDirVolumeSource, Pod, PodSpec, PodTemplateSpec,
    ResourceRequirements, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use crate::autoscaler;
use crate::context::{
    ClusterContext, ContextError, DEFAULT_DASHBOARD_AGENT_PORT, DEFAULT_DASHBOARD_PORT,
    DEFAULT_METRICS_PORT, DEFAULT_SERVE_PORT, Origin, param_port,
};
use crate::env;
use crate::gcs_ft;
use crate::labels::{self, NodeType};
use crate::names::{self, NameError};
use crate::probes::{self, ProbeTarget};
use crate::quantity::QuantityError;
use crate::shell::{self, ShellError};
use crate::start_command::{self, StartCommandError};

/// The shared-memory volume backing `/dev/shm` (Ray's object store).
pub const SHARED_MEMORY_VOLUME: &str = "shared-mem";
/// The name of the workers' init container that waits for the head's GCS.
pub const WAIT_GCS_READY: &str = "wait-gcs-ready";
/// The prefix of the generated Ray container command; `RAY_START_ULIMIT_OPEN_FILES` overrides the limit.
pub const ULIMIT: &str = "ulimit -n ${RAY_START_ULIMIT_OPEN_FILES:-65536}";

/// A pod that cannot be rendered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PodError {
    /// The template has no container (the first one runs Ray).
    #[error("{field}: the pod template needs at least one container; the first one runs Ray")]
    MissingContainer {
        /// The template's containers field.
        field: String,
    },
    /// There is no worker group with this index.
    #[error("spec.workerGroupSpecs[{index}]: no such worker group")]
    NoSuchGroup {
        /// The index asked for.
        index: usize,
    },
    /// A derived name or label does not fit.
    #[error(transparent)]
    Name(#[from] NameError),
    /// A value cannot be quoted.
    #[error(transparent)]
    Shell(#[from] ShellError),
    /// The `ray start` command cannot be built.
    #[error(transparent)]
    StartCommand(#[from] StartCommandError),
    /// A port parameter is invalid.
    #[error(transparent)]
    Context(#[from] ContextError),
    /// A resource quantity is invalid.
    #[error(transparent)]
    Quantity(#[from] QuantityError),
}

/// Which replica (and which host of a multi-host replica) a worker pod belongs to. The operator chooses these;
/// they become the `ray.io/worker-group-replica-*` and `ray.io/replica-host-index` labels.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WorkerReplica {
    /// The replica's index within its group (lowest free index first).
    pub index: i32,
    /// For groups with `numOfHosts > 1`: the replica's name and this pod's host index.
    pub multi_host: Option<MultiHostReplica>,
}

/// The identity of one host of a multi-host replica.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MultiHostReplica {
    /// The replica's name, `<group>-<5 random>`, shared by its hosts.
    pub name: String,
    /// This host's index, `0..numOfHosts`.
    pub host_index: i32,
}

struct Group<'a> {
    node_type: NodeType,
    group_label: String,
    group_label_field: String,
    template: &'a PodTemplateSpec,
    params: &'a BTreeMap<String, String>,
    /// The group's Ray logical `resources` and Ray node `labels` (the top-level fields).
    resources: &'a BTreeMap<String, String>,
    ray_labels: &'a BTreeMap<String, String>,
    path: String,
    generate_name: String,
}

/// Renders the head pod.
pub fn head_pod(ctx: &ClusterContext<'_>) -> Result<Pod, PodError> {
    let head = &ctx.cluster.spec.head_group_spec;
    let group = Group {
        node_type: NodeType::Head,
        group_label: labels::HEAD_GROUP_VALUE.to_string(),
        group_label_field: "metadata.name".to_string(),
        template: &head.template,
        params: &head.ray_start_params,
        resources: &head.resources,
        ray_labels: &head.labels,
        path: ctx.field("headGroupSpec"),
        generate_name: names::head_pod_generate_name(&ctx.name, "metadata.name")?,
    };
    build(ctx, &group)
}

/// Renders one pod of worker group `index` for the given replica: [`worker_template`] stamped with `replica`.
pub fn worker_pod(
    ctx: &ClusterContext<'_>,
    index: usize,
    replica: &WorkerReplica,
) -> Result<Pod, PodError> {
    worker_template(ctx, index)?.stamp(replica)
}

/// Renders the pod every replica of worker group `index` is created from. Pods of a group differ only in their
/// replica labels, so a group is rendered once and each pod stamped from it ([`WorkerTemplate::stamp`]): the
/// cost of rendering does not grow with `replicas`.
pub fn worker_template(ctx: &ClusterContext<'_>, index: usize) -> Result<WorkerTemplate, PodError> {
    let spec = ctx
        .cluster
        .spec
        .worker_group_specs
        .get(index)
        .ok_or(PodError::NoSuchGroup { index })?;
    let group_field = ctx.group_field(index, "groupName");
    let group = Group {
        node_type: NodeType::Worker,
        group_label: spec.group_name.clone(),
        group_label_field: group_field.clone(),
        template: &spec.template,
        params: &spec.ray_start_params,
        resources: &spec.resources,
        ray_labels: &spec.labels,
        path: ctx.field(&format!("workerGroupSpecs[{index}]")),
        generate_name: names::worker_pod_generate_name(
            &ctx.name,
            &spec.group_name,
            "metadata.name",
            &group_field,
        )?,
    };
    Ok(WorkerTemplate {
        group_index: index,
        group_name: spec.group_name.clone(),
        group_name_field: group_field,
        pod: build(ctx, &group)?,
    })
}

/// The rendered pod of one worker group, without the labels that tell its replicas apart.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkerTemplate {
    group_index: usize,
    group_name: String,
    group_name_field: String,
    pod: Pod,
}

impl WorkerTemplate {
    /// The group's index in `workerGroupSpecs`.
    pub fn group_index(&self) -> usize {
        self.group_index
    }

    /// The group's name.
    pub fn group_name(&self) -> &str {
        &self.group_name
    }

    /// The rendered pod, without replica labels.
    pub fn pod(&self) -> &Pod {
        &self.pod
    }

    /// Checks that `replica`'s labels are valid label values, without building the pod.
    pub fn check(&self, replica: &WorkerReplica) -> Result<(), PodError> {
        if let Some(multi) = &replica.multi_host {
            names::check_label_value(
                &multi.name,
                "ray.io/worker-group-replica-name label value",
                &self.group_name_field,
            )?;
        }
        Ok(())
    }

    /// The pod of `replica`: the template with the `ray.io/worker-group-replica-*` and `ray.io/replica-host-index`
    /// labels. Copies the template; renders nothing.
    pub fn stamp(&self, replica: &WorkerReplica) -> Result<Pod, PodError> {
        self.check(replica)?;
        let mut pod = self.pod.clone();
        let labels = pod.metadata.labels.get_or_insert_with(BTreeMap::new);
        labels.insert(
            labels::WORKER_GROUP_REPLICA_INDEX.to_string(),
            replica.index.to_string(),
        );
        if let Some(multi) = &replica.multi_host {
            labels.insert(
                labels::WORKER_GROUP_REPLICA_NAME.to_string(),
                multi.name.clone(),
            );
            labels.insert(
                labels::REPLICA_HOST_INDEX.to_string(),
                multi.host_index.to_string(),
            );
        }
        Ok(pod)
    }
}

#[cfg(test)]
thread_local! {
    /// How many pods this thread rendered: tests show that a group is rendered once, not once per replica.
    pub(crate) static RENDERED_PODS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Renders a group's pod. Worker replica labels are left to [`WorkerTemplate::stamp`].
fn build(ctx: &ClusterContext<'_>, group: &Group<'_>) -> Result<Pod, PodError> {
    #[cfg(test)]
    RENDERED_PODS.with(|count| count.set(count.get() + 1));
    let node_type = group.node_type;
    let mut spec: PodSpec = group.template.spec.clone().unwrap_or_default();
    if spec.containers.is_empty() {
        return Err(PodError::MissingContainer {
            field: format!("{}.template.spec.containers", group.path),
        });
    }
    let mut meta = group.template.metadata.clone().unwrap_or_default();
    meta.name = None;
    meta.generate_name = Some(group.generate_name.clone());
    meta.namespace = Some(ctx.namespace.clone());
    // Without an owner reference the garbage collector would keep the pods after the RayCluster is deleted.
    meta.owner_references = ctx.owner_reference().map(|o| vec![o]);

    // Labels.
    let labels_field = format!("{}.template.metadata.labels", group.path);
    for (key, value) in meta.labels.iter().flatten() {
        names::check_label_value(value, &format!("value of label {key}"), &labels_field)?;
    }
    let ray_labels_field = format!("{}.labels", group.path);
    for (key, value) in group.ray_labels {
        names::check_label_value(value, &format!("value of label {key}"), &ray_labels_field)?;
    }
    meta.labels = labels::with_group_labels(meta.labels.as_ref(), group.ray_labels);
    names::check_label_value(
        &group.group_label,
        "ray.io/group label value",
        &group.group_label_field,
    )?;
    let identifier = labels::identifier(&ctx.name, node_type);
    names::check_label_value(
        &identifier,
        "ray.io/identifier label value",
        "metadata.name",
    )?;
    let mut pod_labels = labels::ray_pod_labels(
        meta.labels.as_ref(),
        &ctx.name,
        node_type,
        &group.group_label,
    );
    if matches!(ctx.origin, Origin::RayService(_)) {
        // The RayService controller flips the head to "true" once its Serve proxy is healthy; workers are gated
        // by their readiness probe instead.
        let serving = node_type == NodeType::Worker;
        pod_labels.insert(labels::SERVE.to_string(), serving.to_string());
    }
    meta.labels = Some(pod_labels);

    // Annotations.
    let mut annotations = meta.annotations.take().unwrap_or_default();
    if labels::annotation_is_true(
        ctx.annotations(),
        labels::OVERWRITE_CONTAINER_CMD_ANNOTATION,
    ) {
        annotations.insert(
            labels::OVERWRITE_CONTAINER_CMD_ANNOTATION.to_string(),
            "true".to_string(),
        );
    }
    let keep_user_command = labels::annotation_is_true(
        Some(&annotations),
        labels::OVERWRITE_CONTAINER_CMD_ANNOTATION,
    );

    let user_ray_container = spec.containers[0].clone();
    let group_params =
        start_command::group_params(group.params, group.resources, group.ray_labels, &group.path)?;
    let mut params = start_command::complete_params(
        ctx,
        node_type,
        &group_params,
        &user_ray_container,
        &group.path,
    )?;

    match node_type {
        NodeType::Head => {
            gcs_ft::configure_head(
                ctx.cluster,
                &mut spec.containers[0],
                &mut annotations,
                &mut params,
            );
            if ctx.autoscaling() {
                let account = ctx.autoscaler_service_account();
                names::check(
                    &account,
                    0,
                    names::NameRule::Dns1123Subdomain,
                    "autoscaler ServiceAccount name",
                    &format!("{}.template.spec.serviceAccountName", group.path),
                )?;
                spec.service_account_name = Some(account);
                let sidecar = autoscaler::autoscaler_container(ctx, &spec.containers[0]);
                spec.containers.push(sidecar);
                autoscaler::apply_version(ctx, &mut spec, node_type);
            }
        }
        NodeType::Worker => {
            gcs_ft::configure_worker(ctx.cluster, &mut spec.containers[0]);
            autoscaler::apply_version(ctx, &mut spec, node_type);
            if ctx.options.inject_wait_gcs_ready {
                let init = wait_gcs_ready(ctx, &user_ray_container)?;
                spec.init_containers.get_or_insert_with(Vec::new).push(init);
            }
        }
    }
    // Which spec and operator version made the pod, as KubeRay writes them (it on the head only): with the Recreate
    // upgrade strategy a pod of an older spec makes the operator replace them all.
    annotations.insert(
        labels::RECREATE_HASH_ANNOTATION.to_string(),
        ctx.stamp.spec_hash.clone(),
    );
    if !ctx.stamp.operator_version.is_empty() {
        annotations.insert(
            labels::KUBERAY_VERSION_ANNOTATION.to_string(),
            ctx.stamp.operator_version.clone(),
        );
    }
    meta.annotations = Some(annotations);

    // Ports: Prometheus scrapes the metrics port by name.
    let metrics_port =
        param_port(&params, "metrics-export-port", &group.path)?.unwrap_or(DEFAULT_METRICS_PORT);
    let ports = spec.containers[0].ports.get_or_insert_with(Vec::new);
    if !ports.iter().any(|p| p.name.as_deref() == Some("metrics")) {
        ports.push(ContainerPort {
            name: Some("metrics".to_string()),
            container_port: i32::from(metrics_port),
            protocol: Some("TCP".to_string()),
            ..ContainerPort::default()
        });
    }

    add_shared_memory(&mut spec, &params);
    if node_type == NodeType::Head && ctx.autoscaling() {
        add_log_volume(&mut spec);
    }

    let start = start_command::ray_start_command(node_type, &params, &group.path)?;
    if !keep_user_command {
        rewrite_command(&mut spec.containers[0], &start);
    }

    for init in spec.init_containers.iter_mut().flatten() {
        env::push_if_absent(
            &mut init.env,
            env::value(env::FQ_RAY_IP, ctx.head_fqdn.clone()),
        );
        env::push_if_absent(
            &mut init.env,
            env::value(env::RAY_IP, ctx.head_service_name.clone()),
        );
    }
    inject_ray_env(ctx, node_type, &mut spec.containers[0], &start);
    crate::auth::configure_pod(ctx, &mut spec);

    if ctx.options.inject_probes {
        let target = ProbeTarget {
            node_type,
            agent_port: param_port(&params, "dashboard-agent-listen-port", &group.path)?
                .unwrap_or(DEFAULT_DASHBOARD_AGENT_PORT),
            dashboard_port: param_port(&params, "dashboard-port", &group.path)?
                .unwrap_or(DEFAULT_DASHBOARD_PORT),
            serve_port: (node_type == NodeType::Worker
                && matches!(ctx.origin, Origin::RayService(_)))
            .then(|| serve_port(&spec.containers[0])),
            http_health: probes::parse_ray_version(ctx.cluster.spec.ray_version.as_deref())
                .is_some_and(|v| v >= probes::HTTP_HEALTH_MIN_RAY_VERSION),
        };
        let ray = &mut spec.containers[0];
        if ray.liveness_probe.is_none() {
            ray.liveness_probe = Some(probes::liveness(&target));
        }
        if ray.readiness_probe.is_none() {
            ray.readiness_probe = Some(probes::readiness(&target));
        }
    }

    Ok(Pod {
        metadata: meta,
        spec: Some(spec),
        status: None,
    })
}

/// The Serve port of a Ray container: its port named `serve`, or 8000.
fn serve_port(container: &Container) -> u16 {
    container
        .ports
        .iter()
        .flatten()
        .find(|p| p.name.as_deref() == Some("serve"))
        .and_then(|p| u16::try_from(p.container_port).ok())
        .unwrap_or(DEFAULT_SERVE_PORT)
}

/// Replaces the Ray container's command with `bash -c` running the user's command (if any), raising the open
/// files limit and running `ray start`. A command that already contains `ray start` is left alone.
fn rewrite_command(container: &mut Container, start: &str) {
    let user: Vec<&str> = container
        .command
        .iter()
        .flatten()
        .chain(container.args.iter().flatten())
        .map(String::as_str)
        .collect();
    let user = user.join(" ");
    if user.contains("ray start") {
        return;
    }
    let script = if user.trim().is_empty() {
        format!("{ULIMIT}; {start}")
    } else {
        format!("{user} && {ULIMIT}; {start}")
    };
    container.command = Some(vec![
        "/bin/bash".to_string(),
        "-c".to_string(),
        "--".to_string(),
    ]);
    container.args = Some(vec![script]);
}

fn mounts_at(container: &Container, path: &str) -> bool {
    container
        .volume_mounts
        .iter()
        .flatten()
        .any(|m| m.mount_path.trim_end_matches('/') == path)
}

fn has_volume(spec: &PodSpec, name: &str) -> bool {
    spec.volumes.iter().flatten().any(|v| v.name == name)
}

/// Backs `/dev/shm` with memory sized like the Ray container (its memory limit, else request), unless the user
/// chose a `plasma-directory` or mounts `/dev/shm` already.
fn add_shared_memory(spec: &mut PodSpec, params: &BTreeMap<String, String>) {
    let ray = &spec.containers[0];
    if params.contains_key("plasma-directory")
        || mounts_at(ray, "/dev/shm")
        || has_volume(spec, SHARED_MEMORY_VOLUME)
    {
        return;
    }
    let resources = ray.resources.as_ref();
    let size: Option<Quantity> = resources
        .and_then(|r| r.limits.as_ref())
        .and_then(|l| l.get("memory"))
        .or_else(|| {
            resources
                .and_then(|r| r.requests.as_ref())
                .and_then(|l| l.get("memory"))
        })
        .cloned();
    spec.volumes.get_or_insert_with(Vec::new).push(Volume {
        name: SHARED_MEMORY_VOLUME.to_string(),
        empty_dir: Some(EmptyDirVolumeSource {
            medium: Some("Memory".to_string()),
            size_limit: size,
            ..EmptyDirVolumeSource::default()
        }),
        ..Volume::default()
    });
    spec.containers[0]
        .volume_mounts
        .get_or_insert_with(Vec::new)
        .push(VolumeMount {
            name: SHARED_MEMORY_VOLUME.to_string(),
            mount_path: "/dev/shm".to_string(),
            ..VolumeMount::default()
        });
}

/// Shares Ray's log directory between the Ray container and the autoscaler: when the Ray container does not
/// mount `/tmp/ray` itself, an `emptyDir` named `ray-logs` is mounted there.
fn add_log_volume(spec: &mut PodSpec) {
    if mounts_at(&spec.containers[0], autoscaler::LOG_PATH) {
        return;
    }
    if !has_volume(spec, autoscaler::LOG_VOLUME) {
        spec.volumes.get_or_insert_with(Vec::new).push(Volume {
            name: autoscaler::LOG_VOLUME.to_string(),
            empty_dir: Some(EmptyDirVolumeSource::default()),
            ..Volume::default()
        });
    }
    spec.containers[0]
        .volume_mounts
        .get_or_insert_with(Vec::new)
        .push(VolumeMount {
            name: autoscaler::LOG_VOLUME.to_string(),
            mount_path: autoscaler::LOG_PATH.to_string(),
            ..VolumeMount::default()
        });
}

/// The environment of the Ray container. Every variable is added only if the user did not set it.
fn inject_ray_env(ctx: &ClusterContext<'_>, node_type: NodeType, ray: &mut Container, start: &str) {
    let e = &mut ray.env;
    if node_type == NodeType::Worker {
        env::push_if_absent(e, env::value(env::FQ_RAY_IP, ctx.head_fqdn.clone()));
        env::push_if_absent(e, env::value(env::RAY_IP, ctx.head_service_name.clone()));
    }
    env::push_if_absent(
        e,
        env::field(
            env::RAY_CLUSTER_NAME,
            &format!("metadata.labels['{}']", labels::CLUSTER),
        ),
    );
    env::push_if_absent(
        e,
        env::field(env::RAY_CLUSTER_NAMESPACE, "metadata.namespace"),
    );
    env::push_if_absent(e, env::field(env::RAY_CLOUD_INSTANCE_ID, "metadata.name"));
    env::push_if_absent(
        e,
        env::field(
            env::RAY_NODE_TYPE_NAME,
            &format!("metadata.labels['{}']", labels::GROUP),
        ),
    );
    env::push_if_absent(e, env::value(env::KUBERAY_GEN_RAY_START_CMD, start));
    env::push_if_absent(e, env::value(env::RAY_PORT, ctx.gcs_port.to_string()));
    if matches!(ctx.origin, Origin::RayService(_)) {
        // Fail fast when the GCS is gone, so Serve keeps answering from its cached state.
        env::push_if_absent(
            e,
            env::value("RAY_timeout_ms_task_wait_for_death_info", "0"),
        );
        env::push_if_absent(e, env::value("RAY_gcs_server_request_timeout_seconds", "5"));
        env::push_if_absent(e, env::value("RAY_SERVE_KV_TIMEOUT_S", "5"));
    }
    let address = match node_type {
        NodeType::Head => format!("127.0.0.1:{}", ctx.gcs_port),
        NodeType::Worker => format!("{}:{}", ctx.head_fqdn, ctx.gcs_port),
    };
    env::push_if_absent(e, env::value(env::RAY_ADDRESS, address));
    env::push_if_absent(e, env::value(env::RAY_USAGE_STATS_KUBERAY_IN_USE, "1"));
    if node_type == NodeType::Head {
        env::push_if_absent(
            e,
            env::value(
                env::RAY_USAGE_STATS_EXTRA_TAGS,
                format!(
                    "kuberay_version={};kuberay_crd={}",
                    ctx.options.operator_version,
                    ctx.origin.kind()
                ),
            ),
        );
    }
    env::push_if_absent(e, env::value(env::RAY_DASHBOARD_ENABLE_K8S_DISK_USAGE, "1"));
}

/// The `wait-gcs-ready` init container: workers start Ray only once the head's GCS answers, so they do not
/// crash-loop while the head starts. It uses the Ray container's image, environment and mounts as the user
/// wrote them.
fn wait_gcs_ready(ctx: &ClusterContext<'_>, ray: &Container) -> Result<Container, ShellError> {
    let raw_address = format!("{}:{}", ctx.head_fqdn, ctx.gcs_port);
    let address = shell::quote(&raw_address, "metadata.namespace")?;
    // Inside the double-quoted messages a quoted word needs the double quotes closed around it.
    let quoted_in_text = if *address == raw_address {
        raw_address.clone()
    } else {
        format!("\"{address}\"")
    };
    let script = format!(
        r#"SECONDS=0
while true; do
  if (( SECONDS <= 120 )); then
    if ray health-check --address {address} > /dev/null 2>&1; then
      echo "GCS is ready."
      break
    fi
    echo "$SECONDS seconds elapsed: waiting for the GCS of the head at {quoted_in_text}."
  else
    if ray health-check --address {address}; then
      echo "GCS is ready. Errors printed above can be ignored."
      break
    fi
    echo "$SECONDS seconds elapsed: still waiting for the GCS of the head at {quoted_in_text}. Check that the head pod runs and that network policies let workers reach it."
  fi
  sleep 5
done"#
    );
    let amounts = BTreeMap::from([
        ("cpu".to_string(), Quantity("200m".to_string())),
        ("memory".to_string(), Quantity("256Mi".to_string())),
    ]);
    Ok(Container {
        name: WAIT_GCS_READY.to_string(),
        image: ray.image.clone(),
        image_pull_policy: ray.image_pull_policy.clone(),
        security_context: ray.security_context.clone(),
        command: Some(vec![
            "/bin/bash".to_string(),
            "-c".to_string(),
            "--".to_string(),
        ]),
        args: Some(vec![script]),
        env: ray.env.clone(),
        volume_mounts: ray.volume_mounts.clone(),
        resources: Some(ResourceRequirements {
            limits: Some(amounts.clone()),
            requests: Some(amounts),
            ..ResourceRequirements::default()
        }),
        ..Container::default()
    })
}
