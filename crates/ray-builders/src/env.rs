//! Environment variable names the operator injects, and small helpers to add them.
//!
//! Ray, its autoscaler and users' scripts read these names; they are a wire contract.

use k8s_openapi::api::core::v1::{EnvVar, EnvVarSource, ObjectFieldSelector};

/// The cluster's name (from the pod's `ray.io/cluster` label).
pub const RAY_CLUSTER_NAME: &str = "RAY_CLUSTER_NAME";
/// The cluster's namespace.
pub const RAY_CLUSTER_NAMESPACE: &str = "RAY_CLUSTER_NAMESPACE";
/// The pod's name, which Ray uses as the node's cloud instance id.
pub const RAY_CLOUD_INSTANCE_ID: &str = "RAY_CLOUD_INSTANCE_ID";
/// The pod's group (from the `ray.io/group` label), which the autoscaler uses as the node type.
pub const RAY_NODE_TYPE_NAME: &str = "RAY_NODE_TYPE_NAME";
/// The generated `ray start` command, for users who start Ray themselves (`ray.io/overwrite-container-cmd`).
pub const KUBERAY_GEN_RAY_START_CMD: &str = "KUBERAY_GEN_RAY_START_CMD";
/// The GCS port of the head.
pub const RAY_PORT: &str = "RAY_PORT";
/// The address Ray clients in the pod connect to: `127.0.0.1:<port>` on the head, `<head FQDN>:<port>` on
/// workers.
pub const RAY_ADDRESS: &str = "RAY_ADDRESS";
/// The head Service's fully qualified DNS name.
pub const FQ_RAY_IP: &str = "FQ_RAY_IP";
/// The head Service's name (deprecated by KubeRay in favour of `FQ_RAY_IP`, still injected).
pub const RAY_IP: &str = "RAY_IP";
/// Tells Ray's usage statistics that KubeRay (or a compatible operator) runs it.
pub const RAY_USAGE_STATS_KUBERAY_IN_USE: &str = "RAY_USAGE_STATS_KUBERAY_IN_USE";
/// Extra usage-statistics tags: operator version and the custom resource kind.
pub const RAY_USAGE_STATS_EXTRA_TAGS: &str = "RAY_USAGE_STATS_EXTRA_TAGS";
/// Lets the Ray dashboard report the pod's disk usage.
pub const RAY_DASHBOARD_ENABLE_K8S_DISK_USAGE: &str = "RAY_DASHBOARD_ENABLE_K8S_DISK_USAGE";
/// How long workers wait for a restarted GCS (set to 600 seconds with GCS fault tolerance).
pub const RAY_GCS_RPC_SERVER_RECONNECT_TIMEOUT_S: &str = "RAY_gcs_rpc_server_reconnect_timeout_s";
/// The Redis key namespace of the cluster's GCS data.
pub const RAY_EXTERNAL_STORAGE_NAMESPACE: &str = "RAY_external_storage_namespace";
/// The Redis password of GCS fault tolerance.
pub const REDIS_PASSWORD: &str = "REDIS_PASSWORD";
/// The Redis address of GCS fault tolerance.
pub const RAY_REDIS_ADDRESS: &str = "RAY_REDIS_ADDRESS";
/// The Redis user name of GCS fault tolerance.
pub const REDIS_USERNAME: &str = "REDIS_USERNAME";
/// The generated autoscaler command.
pub const KUBERAY_GEN_AUTOSCALER_START_CMD: &str = "KUBERAY_GEN_AUTOSCALER_START_CMD";
/// The head pod's name, for the autoscaler.
pub const RAY_HEAD_POD_NAME: &str = "RAY_HEAD_POD_NAME";
/// The API version of the Ray custom resources, for the autoscaler.
pub const KUBERAY_CRD_VER: &str = "KUBERAY_CRD_VER";
/// The submitter's dashboard address (host:port, no scheme).
pub const RAY_DASHBOARD_ADDRESS: &str = "RAY_DASHBOARD_ADDRESS";
/// The submitter's Ray job submission id.
pub const RAY_JOB_SUBMISSION_ID: &str = "RAY_JOB_SUBMISSION_ID";

/// An environment variable with a literal value.
pub fn value(name: &str, value: impl Into<String>) -> EnvVar {
    EnvVar {
        name: name.to_string(),
        value: Some(value.into()),
        value_from: None,
    }
}

/// An environment variable read from a field of the pod (`metadata.name`, `metadata.labels['ray.io/cluster']`).
pub fn field(name: &str, path: &str) -> EnvVar {
    EnvVar {
        name: name.to_string(),
        value: None,
        value_from: Some(EnvVarSource {
            field_ref: Some(ObjectFieldSelector {
                api_version: None,
                field_path: path.to_string(),
            }),
            ..EnvVarSource::default()
        }),
    }
}

/// Whether `env` defines `name`.
pub fn exists(env: Option<&Vec<EnvVar>>, name: &str) -> bool {
    env.is_some_and(|e| e.iter().any(|v| v.name == name))
}

/// Appends `var` unless the list already defines that name: the user's value always wins.
pub fn push_if_absent(env: &mut Option<Vec<EnvVar>>, var: EnvVar) {
    if !exists(env.as_ref(), &var.name) {
        env.get_or_insert_with(Vec::new).push(var);
    }
}
