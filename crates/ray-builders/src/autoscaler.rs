//! The Ray autoscaler sidecar of the head pod (`enableInTreeAutoscaling`).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, PodSpec, ResourceRequirements, VolumeMount};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use ray_api_v1::AutoscalerVersion;

use crate::context::ClusterContext;
use crate::env;
use crate::labels::{self, NodeType};

/// The autoscaler container's name.
pub const CONTAINER_NAME: &str = "autoscaler";
/// The shared log volume of the Ray and autoscaler containers.
pub const LOG_VOLUME: &str = "ray-logs";
/// Where Ray writes its logs (and the autoscaler reads them).
pub const LOG_PATH: &str = "/tmp/ray";

/// The autoscaler's command. The cluster name and namespace are read by bash from the container's environment, in
/// double quotes, so they are data: KubeRay's `$(RAY_CLUSTER_NAME)` is substituted by the kubelet into the
/// command text, where an `autoscalerOptions.env` entry of that name would run as code.
pub const AUTOSCALER_COMMAND: &str = "ray kuberay-autoscaler --cluster-name \"${RAY_CLUSTER_NAME}\" --cluster-namespace \"${RAY_CLUSTER_NAMESPACE}\"";

/// The value of `KUBERAY_GEN_AUTOSCALER_START_CMD`, for `autoscalerOptions.args` that run the generated command
/// themselves (`ulimit -n 65536; $KUBERAY_GEN_AUTOSCALER_START_CMD`). The kubelet replaces the `$(...)` references
/// in an environment value with variables defined earlier in the list only, that is with the cluster's name and
/// namespace (DNS labels, safe as shell words), never with an `autoscalerOptions.env` entry; so the variable
/// holds a plain command line, as with KubeRay, that a shell can split into words.
pub const AUTOSCALER_COMMAND_ENV_VALUE: &str = "ray kuberay-autoscaler --cluster-name $(RAY_CLUSTER_NAME) --cluster-namespace $(RAY_CLUSTER_NAMESPACE)";

/// The Ray variable that picks the autoscaler implementation (`true`: v2, `false`: v1).
pub const ENABLE_AUTOSCALER_V2_ENV: &str = "RAY_enable_autoscaler_v2";

/// The autoscaler version `autoscalerOptions.version` pins, if any. Without it, Ray chooses (v2 from Ray 2.47 on).
pub fn pinned_version(ctx: &ClusterContext<'_>) -> Option<AutoscalerVersion> {
    ctx.cluster
        .spec
        .autoscaler_options
        .as_ref()
        .and_then(|options| options.version)
}

/// Applies a pinned autoscaler version to a Ray pod of an autoscaling cluster, as KubeRay does: the head's Ray
/// container gets `RAY_enable_autoscaler_v2` (`true` for v2, `false` for v1), and with v2 every Ray pod gets
/// `restartPolicy: Never`, because the autoscaler v2 replaces a pod whose Ray container exits instead of letting
/// the kubelet restart it into a node Ray has already declared dead.
pub fn apply_version(ctx: &ClusterContext<'_>, spec: &mut PodSpec, node_type: NodeType) {
    if !ctx.autoscaling() {
        return;
    }
    let Some(version) = pinned_version(ctx) else {
        return;
    };
    let v2 = version == AutoscalerVersion::V2;
    if node_type == NodeType::Head
        && let Some(ray) = spec.containers.first_mut()
    {
        env::push_if_absent(
            &mut ray.env,
            env::value(ENABLE_AUTOSCALER_V2_ENV, v2.to_string()),
        );
    }
    if v2 {
        spec.restart_policy = Some("Never".to_string());
    }
}

/// The default resources of the autoscaler: 500m CPU and 512Mi memory, requested and limited alike.
pub fn default_resources() -> ResourceRequirements {
    let amounts = BTreeMap::from([
        ("cpu".to_string(), Quantity("500m".to_string())),
        ("memory".to_string(), Quantity("512Mi".to_string())),
    ]);
    ResourceRequirements {
        limits: Some(amounts.clone()),
        requests: Some(amounts),
        ..ResourceRequirements::default()
    }
}

/// The autoscaler sidecar, with `autoscalerOptions` applied: `resources`, `image`, `imagePullPolicy`,
/// `securityContext`, and `command` and `args` when not empty, replace the defaults; `env`, `envFrom` and
/// `volumeMounts` are appended.
pub fn autoscaler_container(ctx: &ClusterContext<'_>, ray_container: &Container) -> Container {
    let options = ctx
        .cluster
        .spec
        .autoscaler_options
        .clone()
        .unwrap_or_default();
    let mut environment = vec![
        env::field(
            env::RAY_CLUSTER_NAME,
            &format!("metadata.labels['{}']", labels::CLUSTER),
        ),
        env::field(env::RAY_CLUSTER_NAMESPACE, "metadata.namespace"),
        env::field(env::RAY_HEAD_POD_NAME, "metadata.name"),
        env::value(env::KUBERAY_CRD_VER, "v1"),
        env::value(
            env::KUBERAY_GEN_AUTOSCALER_START_CMD,
            AUTOSCALER_COMMAND_ENV_VALUE,
        ),
    ];
    environment.extend(options.env);
    // Read the Ray container's logs from the volume it writes them to (its own mount at /tmp/ray, or the
    // `ray-logs` volume the operator adds), unless the options mount something there already.
    let at_log_path = |m: &VolumeMount| m.mount_path.trim_end_matches('/') == LOG_PATH;
    let mut mounts = Vec::new();
    if !options.volume_mounts.iter().any(at_log_path) {
        let volume = ray_container
            .volume_mounts
            .iter()
            .flatten()
            .find(|m| at_log_path(m))
            .map_or_else(|| LOG_VOLUME.to_string(), |m| m.name.clone());
        mounts.push(VolumeMount {
            name: volume,
            mount_path: LOG_PATH.to_string(),
            ..VolumeMount::default()
        });
    }
    mounts.extend(options.volume_mounts);
    Container {
        name: CONTAINER_NAME.to_string(),
        image: options.image.or_else(|| ray_container.image.clone()),
        image_pull_policy: Some(
            options
                .image_pull_policy
                .unwrap_or_else(|| "IfNotPresent".to_string()),
        ),
        command: Some(if options.command.is_empty() {
            vec!["/bin/bash".to_string(), "-c".to_string(), "--".to_string()]
        } else {
            options.command
        }),
        args: Some(if options.args.is_empty() {
            vec![AUTOSCALER_COMMAND.to_string()]
        } else {
            options.args
        }),
        env: Some(environment),
        env_from: (!options.env_from.is_empty()).then_some(options.env_from),
        resources: Some(options.resources.unwrap_or_else(default_resources)),
        volume_mounts: Some(mounts),
        security_context: options.security_context,
        ..Container::default()
    }
}
