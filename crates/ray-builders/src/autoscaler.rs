//! The Ray autoscaler sidecar of the head pod (`enableInTreeAutoscaling`).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, ResourceRequirements, VolumeMount};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use crate::context::ClusterContext;
use crate::env;
use crate::labels;

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

/// The autoscaler sidecar, with `autoscalerOptions` applied: `resources`, `image`, `imagePullPolicy` and
/// `securityContext` replace the defaults; `env`, `envFrom` and `volumeMounts` are appended.
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
        env::value(env::KUBERAY_GEN_AUTOSCALER_START_CMD, AUTOSCALER_COMMAND),
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
        command: Some(vec![
            "/bin/bash".to_string(),
            "-c".to_string(),
            "--".to_string(),
        ]),
        args: Some(vec![AUTOSCALER_COMMAND.to_string()]),
        env: Some(environment),
        env_from: (!options.env_from.is_empty()).then_some(options.env_from),
        resources: Some(options.resources.unwrap_or_else(default_resources)),
        volume_mounts: Some(mounts),
        security_context: options.security_context,
        ..Container::default()
    }
}
