//! Proptest strategies for both API versions: every Ray field, with `None`/empty cases and every enum value, and a
//! representative subset of the embedded Kubernetes types (pod templates, Services, conditions).

#![allow(dead_code)]

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    ConfigMapEnvSource, Container, EnvFromSource, EnvVar, EnvVarSource, PodSpec, PodTemplateSpec,
    ResourceRequirements, SecretKeySelector, SecurityContext, Service, ServicePort, ServiceSpec,
    Toleration, VolumeMount,
};
use k8s_openapi::api::networking::v1::{
    IngressTLS, NetworkPolicyEgressRule, NetworkPolicyIngressRule, NetworkPolicyPort,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, ObjectMeta, Time};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use k8s_openapi::jiff::Timestamp;
use proptest::collection::{btree_map, vec};
use proptest::option::of;
use proptest::prelude::*;
use proptest::sample::select;
use ray_api_v1 as v1;
use ray_api_v1alpha1 as v1alpha1;

pub fn name() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9-]{0,7}"
}

pub fn text() -> impl Strategy<Value = String> {
    prop_oneof![Just(String::new()), "[ -~]{1,12}", "\\PC{1,6}"]
}

/// Worker group names, drawn from a small pool so that duplicates (invalid, but possible) occur, including names
/// with the characters the annotation path syntax escapes.
pub fn group_name() -> impl Strategy<Value = String> {
    select(vec!["small", "gpu", "cpu-large", "a=b", "x/y", "t~1", ""]).prop_map(str::to_owned)
}

pub fn map() -> impl Strategy<Value = BTreeMap<String, String>> {
    btree_map("[a-z./-]{1,10}", text(), 0..3)
}

pub fn time() -> impl Strategy<Value = Time> {
    // The API server keeps whole seconds, and `Time` serializes whole seconds.
    (0i64..4_000_000_000)
        .prop_map(|second| Time(Timestamp::from_second(second).expect("in jiff's range")))
}

pub fn quantity() -> impl Strategy<Value = Quantity> {
    select(vec!["1", "500m", "2Gi", "0", "1.5", "16"]).prop_map(|q| Quantity(q.to_owned()))
}

pub fn resources() -> impl Strategy<Value = ResourceRequirements> {
    let list = || {
        of(btree_map(
            select(vec!["cpu", "memory", "nvidia.com/gpu"]).prop_map(str::to_owned),
            quantity(),
            0..3,
        ))
    };
    (list(), list()).prop_map(|(limits, requests)| ResourceRequirements {
        limits,
        requests,
        ..Default::default()
    })
}

pub fn env_var() -> impl Strategy<Value = EnvVar> {
    ("[A-Z_]{1,8}", of(text())).prop_map(|(name, value)| EnvVar {
        name,
        value,
        ..Default::default()
    })
}

pub fn container() -> impl Strategy<Value = Container> {
    (
        name(),
        of("rayproject/ray:2\\.[0-9]{1,2}\\.[0-9]"),
        of(vec(env_var(), 0..3)),
        of(resources()),
        of(vec(text(), 0..3)),
        of(select(vec!["Always", "IfNotPresent", "Never"]).prop_map(str::to_owned)),
    )
        .prop_map(
            |(name, image, env, resources, args, image_pull_policy)| Container {
                name,
                image,
                env,
                resources,
                args,
                image_pull_policy,
                ..Default::default()
            },
        )
}

pub fn toleration() -> impl Strategy<Value = Toleration> {
    (
        of(name()),
        of(select(vec!["Equal", "Exists"]).prop_map(str::to_owned)),
        of(text()),
        of(0i64..1000),
    )
        .prop_map(|(key, operator, value, toleration_seconds)| Toleration {
            key,
            operator,
            value,
            toleration_seconds,
            effect: Some("NoSchedule".to_owned()),
        })
}

pub fn pod_template() -> impl Strategy<Value = PodTemplateSpec> {
    let metadata = of(
        (of(map()), of(map())).prop_map(|(labels, annotations)| ObjectMeta {
            labels,
            annotations,
            ..Default::default()
        }),
    );
    let spec = of((
        vec(container(), 0..3),
        of(vec(toleration(), 0..2)),
        of(map()),
        of(name()),
        of(vec(container(), 0..2)),
    )
        .prop_map(
            |(containers, tolerations, node_selector, service_account_name, init_containers)| {
                PodSpec {
                    containers,
                    tolerations,
                    node_selector,
                    service_account_name,
                    init_containers,
                    ..Default::default()
                }
            },
        ));
    (metadata, spec).prop_map(|(metadata, spec)| PodTemplateSpec { metadata, spec })
}

pub fn service() -> impl Strategy<Value = Service> {
    (
        of(name()),
        of(map()),
        of(select(vec!["ClusterIP", "NodePort", "LoadBalancer"]).prop_map(str::to_owned)),
        of(vec(
            (of(name()), 1i32..65535).prop_map(|(name, port)| ServicePort {
                name,
                port,
                ..Default::default()
            }),
            0..3,
        )),
    )
        .prop_map(|(name, annotations, type_, ports)| Service {
            metadata: ObjectMeta {
                name,
                annotations,
                ..Default::default()
            },
            spec: Some(ServiceSpec {
                type_,
                ports,
                ..Default::default()
            }),
            status: None,
        })
}

pub fn condition() -> impl Strategy<Value = Condition> {
    (
        select(vec![
            "HeadPodReady",
            "RayClusterProvisioned",
            "ReplicaFailure",
        ]),
        select(vec!["True", "False", "Unknown"]),
        text(),
        text(),
        time(),
        of(0i64..100),
    )
        .prop_map(
            |(type_, status, reason, message, last_transition_time, observed_generation)| {
                Condition {
                    type_: type_.to_owned(),
                    status: status.to_owned(),
                    reason,
                    message,
                    last_transition_time,
                    observed_generation,
                }
            },
        )
}

/// Object metadata, with user annotations (never the conversion's own keys) or none at all.
pub fn object_meta() -> impl Strategy<Value = ObjectMeta> {
    (
        name(),
        of(name()),
        of(btree_map("[a-z.]{1,6}/[a-z-]{1,6}", text(), 1..3)),
        of(map()),
        of(0i64..100),
        of("[0-9]{1,6}"),
    )
        .prop_map(
            |(name, namespace, annotations, labels, generation, resource_version)| ObjectMeta {
                name: Some(name),
                namespace,
                annotations,
                labels,
                generation,
                resource_version,
                ..Default::default()
            },
        )
}

pub fn upscaling_mode() -> impl Strategy<Value = v1::UpscalingMode> {
    select(vec![
        v1::UpscalingMode::Conservative,
        v1::UpscalingMode::Default,
        v1::UpscalingMode::Aggressive,
    ])
}

pub fn job_status() -> impl Strategy<Value = v1::JobStatus> {
    use v1::JobStatus::*;
    select(vec![New, Pending, Running, Stopped, Succeeded, Failed])
}

pub fn application_status() -> impl Strategy<Value = v1::ApplicationStatus> {
    use v1::ApplicationStatus::*;
    select(vec![
        NotStarted,
        Deploying,
        Running,
        DeployFailed,
        Deleting,
        Unhealthy,
    ])
}

pub fn deployment_status() -> impl Strategy<Value = v1::ServeDeploymentStatusValue> {
    use v1::ServeDeploymentStatusValue::*;
    select(vec![Updating, Healthy, Unhealthy])
}

pub fn service_status() -> impl Strategy<Value = v1::ServiceStatus> {
    use v1::ServiceStatus::*;
    select(vec![
        NotRunning,
        Running,
        FailedToGetOrCreateRayCluster,
        WaitForServeDeploymentReady,
        FailedToGetServeDeploymentStatus,
        Restarting,
        FailedToUpdateIngress,
        FailedToUpdateServingPodLabel,
        FailedToUpdateService,
    ])
}

pub fn f32_value() -> impl Strategy<Value = f32> {
    prop_oneof![Just(0.0f32), Just(0.5f32), proptest::num::f32::NORMAL]
}

// ---------------------------------------------------------------------------------------------------- ray.io/v1

pub fn v1_autoscaler_options() -> impl Strategy<Value = v1::AutoscalerOptions> {
    (
        of(resources()),
        of("[a-z/:.0-9]{1,12}"),
        of(select(vec!["Always", "IfNotPresent"]).prop_map(str::to_owned)),
        vec(env_var(), 0..2),
        vec(
            name().prop_map(|name| EnvFromSource {
                config_map_ref: Some(ConfigMapEnvSource {
                    name,
                    optional: None,
                }),
                ..Default::default()
            }),
            0..2,
        ),
        vec(
            (name(), "/[a-z/]{1,10}").prop_map(|(name, mount_path)| VolumeMount {
                name,
                mount_path,
                ..Default::default()
            }),
            0..2,
        ),
        of(any::<bool>().prop_map(|privileged| SecurityContext {
            privileged: Some(privileged),
            ..Default::default()
        })),
        of(any::<i32>()),
        of(upscaling_mode()),
        of(select(vec![
            v1::AutoscalerVersion::V1,
            v1::AutoscalerVersion::V2,
        ])),
        vec(text(), 0..2),
        vec(text(), 0..2),
    )
        .prop_map(
            |(
                resources,
                image,
                image_pull_policy,
                env,
                env_from,
                volume_mounts,
                security_context,
                idle_timeout_seconds,
                upscaling_mode,
                version,
                command,
                args,
            )| {
                v1::AutoscalerOptions {
                    resources,
                    image,
                    image_pull_policy,
                    env,
                    env_from,
                    volume_mounts,
                    security_context,
                    idle_timeout_seconds,
                    upscaling_mode,
                    version,
                    command,
                    args,
                }
            },
        )
}

// The fields KubeRay added after 1.1 (see `ray_api_v1::validation::unsupported`).

pub fn v1_ingress_options() -> impl Strategy<Value = v1::IngressOptions> {
    (
        of(name()),
        of("/[a-z/]{0,8}"),
        of(select(vec![
            v1::IngressPathType::Exact,
            v1::IngressPathType::Prefix,
            v1::IngressPathType::ImplementationSpecific,
        ])),
        vec(
            (vec(name(), 0..2), of(name())).prop_map(|(hosts, secret_name)| IngressTLS {
                hosts: Some(hosts),
                secret_name,
            }),
            0..2,
        ),
    )
        .prop_map(|(host, path, path_type, tls)| v1::IngressOptions {
            host,
            path,
            path_type,
            tls,
        })
}

pub fn v1_redis_credential() -> impl Strategy<Value = v1::RedisCredential> {
    (
        of(text()),
        of((name(), name()).prop_map(|(name, key)| EnvVarSource {
            secret_key_ref: Some(SecretKeySelector {
                name,
                key,
                optional: None,
            }),
            ..Default::default()
        })),
    )
        .prop_map(|(value, value_from)| v1::RedisCredential { value_from, value })
}

pub fn v1_gcs_fault_tolerance_options() -> impl Strategy<Value = v1::GcsFaultToleranceOptions> {
    let storage = (
        of(name()),
        of(quantity()),
        of(name()),
        vec(
            select(vec!["ReadWriteOnce", "ReadWriteMany"]).prop_map(str::to_owned),
            0..2,
        ),
        of("[a-z/]{1,8}"),
        of(select(vec![
            v1::GcsStorageDeletionPolicy::DeleteWithCluster,
            v1::GcsStorageDeletionPolicy::Retain,
        ])),
    )
        .prop_map(
            |(claim_name, size, storage_class_name, access_modes, sub_path, deletion_policy)| {
                v1::GcsEmbeddedStorage {
                    claim_name,
                    size,
                    storage_class_name,
                    access_modes,
                    sub_path,
                    deletion_policy,
                }
            },
        );
    (
        of(select(vec![
            v1::GcsFaultToleranceBackend::Redis,
            v1::GcsFaultToleranceBackend::Rocksdb,
        ])),
        of(v1_redis_credential()),
        of(v1_redis_credential()),
        of(text()),
        of(text()),
        of(storage),
    )
        .prop_map(
            |(
                backend,
                redis_username,
                redis_password,
                external_storage_namespace,
                redis_address,
                storage,
            )| v1::GcsFaultToleranceOptions {
                backend,
                redis_username,
                redis_password,
                external_storage_namespace,
                redis_address,
                storage,
            },
        )
}

fn network_policy_rules()
-> impl Strategy<Value = (Vec<NetworkPolicyIngressRule>, Vec<NetworkPolicyEgressRule>)> {
    let port = || {
        of(1i32..65535).prop_map(|port| NetworkPolicyPort {
            port: port.map(IntOrString::Int),
            ..Default::default()
        })
    };
    (
        vec(
            port().prop_map(|port| NetworkPolicyIngressRule {
                ports: Some(vec![port]),
                from: None,
            }),
            0..2,
        ),
        vec(
            port().prop_map(|port| NetworkPolicyEgressRule {
                ports: Some(vec![port]),
                to: None,
            }),
            0..2,
        ),
    )
}

pub fn v1_network_policy() -> impl Strategy<Value = v1::NetworkPolicyConfig> {
    let rules = || {
        network_policy_rules().prop_map(|(ingress_rules, egress_rules)| v1::NetworkPolicyRules {
            ingress_rules,
            egress_rules,
        })
    };
    (
        of(select(vec![
            v1::NetworkPolicyMode::DenyAll,
            v1::NetworkPolicyMode::DenyAllIngress,
            v1::NetworkPolicyMode::DenyAllEgress,
        ])),
        of(rules()),
        of(rules()),
        vec(
            (group_name(), network_policy_rules()).prop_map(
                |(group_name, (ingress_rules, egress_rules))| v1::WorkerGroupNetworkPolicyRules {
                    group_name,
                    ingress_rules,
                    egress_rules,
                },
            ),
            0..2,
        ),
    )
        .prop_map(
            |(mode, head, worker, worker_groups)| v1::NetworkPolicyConfig {
                mode,
                head,
                worker,
                worker_groups,
            },
        )
}

/// The RayClusterSpec fields KubeRay added after 1.1.
#[allow(clippy::type_complexity)]
pub fn v1_cluster_spec_additions() -> impl Strategy<
    Value = (
        Option<v1::RayClusterUpgradeStrategy>,
        Option<v1::AuthOptions>,
        Option<String>,
        Option<v1::GcsFaultToleranceOptions>,
        Option<v1::HistoryServerOptions>,
        Option<v1::NetworkPolicyConfig>,
        Option<v1::TlsOptions>,
    ),
> {
    (
        of(of(select(vec![
            v1::RayClusterUpgradeType::Recreate,
            v1::RayClusterUpgradeType::NoUpgrade,
        ]))
        .prop_map(|type_| v1::RayClusterUpgradeStrategy { type_ })),
        of((
            of(any::<bool>()),
            of(name()),
            of(select(vec![v1::AuthMode::Disabled, v1::AuthMode::Token])),
        )
            .prop_map(
                |(enable_k8s_token_auth, secret_name, mode)| v1::AuthOptions {
                    enable_k8s_token_auth,
                    secret_name,
                    mode,
                },
            )),
        of(
            select(vec!["ray.io/kuberay-operator", "kueue.x-k8s.io/multikueue"])
                .prop_map(str::to_owned),
        ),
        of(v1_gcs_fault_tolerance_options()),
        of(of((
            of("[a-z/:.0-9]{1,12}"),
            of(select(vec!["Always", "Never"]).prop_map(str::to_owned)),
            of(resources()),
            vec(env_var(), 0..2),
        )
            .prop_map(
                |(image, image_pull_policy, resources, env)| v1::CollectorOptions {
                    image,
                    image_pull_policy,
                    resources,
                    env,
                },
            ))
        .prop_map(|collector_options| v1::HistoryServerOptions { collector_options })),
        of(v1_network_policy()),
        of(of(any::<bool>()).prop_map(|enabled| v1::TlsOptions { enabled })),
    )
}

pub fn v1_head_group_spec() -> impl Strategy<Value = v1::HeadGroupSpec> {
    (
        of(select(vec!["ClusterIP", "NodePort"]).prop_map(str::to_owned)),
        of(service()),
        any::<bool>(),
        map(),
        pod_template(),
        of(v1_ingress_options()),
        map(),
        map(),
    )
        .prop_map(
            |(
                service_type,
                head_service,
                enable_ingress,
                ray_start_params,
                template,
                ingress_options,
                resources,
                labels,
            )| {
                v1::HeadGroupSpec {
                    service_type,
                    head_service,
                    enable_ingress,
                    ray_start_params,
                    template,
                    ingress_options,
                    resources,
                    labels,
                }
            },
        )
}

pub fn v1_worker_group(
    group_name: impl Strategy<Value = String>,
) -> impl Strategy<Value = v1::WorkerGroupSpec> {
    (
        group_name,
        of(any::<i32>()),
        of(0i32..10),
        of(prop_oneof![Just(i32::MAX), 0i32..100]),
        of(prop_oneof![Just(1i32), 2i32..8]),
        map(),
        pod_template(),
        of(vec(name(), 0..3).prop_map(|workers_to_delete| v1::ScaleStrategy { workers_to_delete })),
        (
            of(any::<bool>()),
            of(any::<i32>()),
            of(prop_oneof![Just(0i32), any::<i32>()]),
            map(),
            map(),
        ),
    )
        .prop_map(
            |(
                group_name,
                replicas,
                min_replicas,
                max_replicas,
                num_of_hosts,
                ray_start_params,
                template,
                scale_strategy,
                (suspend, idle_timeout_seconds, priority, resources, labels),
            )| {
                v1::WorkerGroupSpec {
                    group_name,
                    replicas,
                    min_replicas,
                    max_replicas,
                    num_of_hosts,
                    ray_start_params,
                    template,
                    scale_strategy,
                    suspend,
                    idle_timeout_seconds,
                    priority,
                    resources,
                    labels,
                }
            },
        )
}

pub fn v1_cluster_spec() -> impl Strategy<Value = v1::RayClusterSpec> {
    (
        v1_head_group_spec(),
        vec(v1_worker_group(group_name()), 0..4),
        of("2\\.[0-9]{1,2}\\.[0-9]"),
        any::<bool>(),
        of(v1_autoscaler_options()),
        of(map()),
        any::<bool>(),
        v1_cluster_spec_additions(),
    )
        .prop_map(
            |(
                head_group_spec,
                worker_group_specs,
                ray_version,
                enable_in_tree_autoscaling,
                autoscaler_options,
                head_service_annotations,
                suspend,
                (
                    upgrade_strategy,
                    auth_options,
                    managed_by,
                    gcs_fault_tolerance_options,
                    history_server_options,
                    network_policy,
                    tls_options,
                ),
            )| {
                v1::RayClusterSpec {
                    head_group_spec,
                    worker_group_specs,
                    ray_version,
                    enable_in_tree_autoscaling,
                    autoscaler_options,
                    head_service_annotations,
                    suspend,
                    upgrade_strategy,
                    auth_options,
                    managed_by,
                    gcs_fault_tolerance_options,
                    history_server_options,
                    network_policy,
                    tls_options,
                }
            },
        )
}

pub fn v1_cluster_state() -> impl Strategy<Value = v1::ClusterState> {
    select(vec![
        v1::ClusterState::Ready,
        v1::ClusterState::Failed,
        v1::ClusterState::Suspended,
    ])
}

pub fn v1_head_info() -> impl Strategy<Value = v1::HeadInfo> {
    (
        of("10\\.[0-9]\\.[0-9]\\.[0-9]"),
        of("10\\.[0-9]\\.[0-9]\\.[0-9]"),
        of(name()),
        of(name()),
    )
        .prop_map(
            |(pod_ip, service_ip, pod_name, service_name)| v1::HeadInfo {
                pod_ip,
                service_ip,
                pod_name,
                service_name,
            },
        )
}

pub fn v1_cluster_status() -> impl Strategy<Value = v1::RayClusterStatus> {
    (
        (
            of(v1_cluster_state()),
            of(text()),
            of(0i32..10),
            of(0i32..10),
            of(0i32..10),
            of(0i32..10),
            of(any::<i32>()),
        ),
        (
            of(quantity()),
            of(quantity()),
            of(quantity()),
            of(quantity()),
        ),
        (
            of(time()),
            map(),
            of(v1_head_info()),
            vec(condition(), 0..3),
            of(any::<i64>()),
            btree_map(v1_cluster_state(), time(), 0..3),
        ),
    )
        .prop_map(
            |(
                (
                    state,
                    reason,
                    ready_worker_replicas,
                    available_worker_replicas,
                    desired_worker_replicas,
                    min_worker_replicas,
                    max_worker_replicas,
                ),
                (desired_cpu, desired_memory, desired_gpu, desired_tpu),
                (
                    last_update_time,
                    endpoints,
                    head,
                    conditions,
                    observed_generation,
                    state_transition_times,
                ),
            )| v1::RayClusterStatus {
                state,
                reason,
                ready_worker_replicas,
                available_worker_replicas,
                desired_worker_replicas,
                min_worker_replicas,
                max_worker_replicas,
                desired_cpu,
                desired_memory,
                desired_gpu,
                desired_tpu,
                last_update_time,
                state_transition_times,
                endpoints,
                head,
                conditions,
                observed_generation,
            },
        )
}

pub fn v1_ray_cluster() -> impl Strategy<Value = v1::RayCluster> {
    (object_meta(), v1_cluster_spec(), of(v1_cluster_status())).prop_map(
        |(metadata, spec, status)| v1::RayCluster {
            metadata,
            spec,
            status,
        },
    )
}

pub fn v1_job_deployment_status() -> impl Strategy<Value = v1::JobDeploymentStatus> {
    use v1::JobDeploymentStatus::*;
    select(vec![
        New,
        Initializing,
        Running,
        Complete,
        Failed,
        Suspending,
        Suspended,
        Retrying,
        Waiting,
        ValidationFailed,
    ])
}

pub fn v1_job_failed_reason() -> impl Strategy<Value = v1::JobFailedReason> {
    use v1::JobFailedReason::*;
    select(vec![
        SubmissionFailed,
        DeadlineExceeded,
        AppFailed,
        ValidationFailed,
        JobStatusCheckTimeoutExceeded,
        PreRunningDeadlineExceeded,
        JobDeploymentStatusTransitionGracePeriodExceeded,
    ])
}

pub fn v1_job_spec() -> impl Strategy<Value = v1::RayJobSpec> {
    (
        (
            of(text()),
            map(),
            of(text()),
            of(name()),
            any::<bool>(),
            of(0i32..1000),
            of(1i32..10000),
        ),
        (
            of(v1_cluster_spec()),
            map(),
            of(select(vec![
                v1::JobSubmissionMode::K8sJobMode,
                v1::JobSubmissionMode::HttpMode,
                v1::JobSubmissionMode::InteractiveMode,
                v1::JobSubmissionMode::SidecarMode,
            ])),
        ),
        (
            any::<bool>(),
            of(pod_template()),
            of(f32_value()),
            of(f32_value()),
            of(text()),
        ),
        of(of(0i32..10).prop_map(|backoff_limit| v1::SubmitterConfig { backoff_limit })),
        (
            of(0i32..10),
            of(1i32..1000),
            of(select(vec![
                "ray.io/kuberay-operator".to_owned(),
                "kueue.x-k8s.io/multikueue".to_owned(),
            ])),
            of(deletion_strategy()),
        ),
    )
        .prop_map(
            |(
                (
                    entrypoint,
                    metadata,
                    runtime_env_yaml,
                    job_id,
                    shutdown_after_job_finishes,
                    ttl_seconds_after_finished,
                    active_deadline_seconds,
                ),
                (ray_cluster_spec, cluster_selector, submission_mode),
                (
                    suspend,
                    submitter_pod_template,
                    entrypoint_num_cpus,
                    entrypoint_num_gpus,
                    entrypoint_resources,
                ),
                submitter_config,
                (backoff_limit, pre_running_deadline_seconds, managed_by, deletion_strategy),
            )| v1::RayJobSpec {
                entrypoint,
                metadata,
                runtime_env_yaml,
                job_id,
                shutdown_after_job_finishes,
                ttl_seconds_after_finished,
                active_deadline_seconds,
                ray_cluster_spec,
                cluster_selector,
                submission_mode,
                suspend,
                submitter_pod_template,
                entrypoint_num_cpus,
                entrypoint_num_gpus,
                entrypoint_resources,
                submitter_config,
                backoff_limit,
                pre_running_deadline_seconds,
                managed_by,
                deletion_strategy,
            },
        )
}

fn deletion_policy_type() -> impl Strategy<Value = v1::rayjob::DeletionPolicyType> {
    use v1::rayjob::DeletionPolicyType::*;
    select(vec![DeleteWorkers, DeleteCluster, DeleteSelf, DeleteNone])
}

fn deletion_strategy() -> impl Strategy<Value = v1::rayjob::DeletionStrategy> {
    let policy =
        || of(deletion_policy_type()).prop_map(|policy| v1::rayjob::DeletionPolicy { policy });
    let rule = (
        deletion_policy_type(),
        of(job_status()),
        of(v1_job_deployment_status()),
        0i32..1000,
    )
        .prop_map(|(policy, job_status, job_deployment_status, ttl_seconds)| {
            v1::rayjob::DeletionRule {
                policy,
                condition: v1::rayjob::DeletionCondition {
                    job_status,
                    job_deployment_status,
                    ttl_seconds,
                },
            }
        });
    (
        of(policy()),
        of(policy()),
        of(proptest::collection::vec(rule, 0..4)),
    )
        .prop_map(
            |(on_success, on_failure, deletion_rules)| v1::rayjob::DeletionStrategy {
                on_success,
                on_failure,
                deletion_rules,
            },
        )
}

pub fn v1_job_status() -> impl Strategy<Value = v1::RayJobStatus> {
    (
        (
            of(name()),
            of(name()),
            of("http://[a-z.]{1,10}:8265"),
            of(job_status()),
            of(v1_job_deployment_status()),
            of(v1_job_failed_reason()),
        ),
        (
            of(text()),
            of(time()),
            of(time()),
            of(v1_cluster_status()),
            of(any::<i64>()),
        ),
        (
            of((of(time()), of(time())).prop_map(|(start_time, end_time)| {
                v1::rayjob::RayJobStatusInfo {
                    start_time,
                    end_time,
                }
            })),
            of(0i32..5),
            of(0i32..5),
        ),
    )
        .prop_map(
            |(
                (
                    job_id,
                    ray_cluster_name,
                    dashboard_url,
                    job_status,
                    job_deployment_status,
                    reason,
                ),
                (message, start_time, end_time, ray_cluster_status, observed_generation),
                (ray_job_info, succeeded, failed),
            )| v1::RayJobStatus {
                job_id,
                ray_cluster_name,
                dashboard_url,
                job_status,
                job_deployment_status,
                reason,
                message,
                start_time,
                end_time,
                ray_cluster_status,
                observed_generation,
                ray_job_info,
                succeeded,
                failed,
            },
        )
}

pub fn v1_ray_job() -> impl Strategy<Value = v1::RayJob> {
    (object_meta(), v1_job_spec(), of(v1_job_status())).prop_map(|(metadata, spec, status)| {
        v1::RayJob {
            metadata,
            spec,
            status,
        }
    })
}

pub fn v1_service_spec() -> impl Strategy<Value = v1::RayServiceSpec> {
    (
        of(text()),
        v1_cluster_spec(),
        of(any::<i32>()),
        of(any::<i32>()),
        of(service()),
        (
            of(0i32..600),
            of((
                of(select(vec![
                    v1::RayServiceUpgradeType::NewCluster,
                    v1::RayServiceUpgradeType::NewClusterWithIncrementalUpgrade,
                    v1::RayServiceUpgradeType::NoUpgrade,
                ])),
                of((of(0i32..=100), 0i32..=100, 1i32..60, name()).prop_map(
                    |(
                        max_surge_percent,
                        step_size_percent,
                        interval_seconds,
                        gateway_class_name,
                    )| {
                        v1::ClusterUpgradeOptions {
                            max_surge_percent,
                            step_size_percent,
                            interval_seconds,
                            gateway_class_name,
                        }
                    },
                )),
            )
                .prop_map(|(type_, cluster_upgrade_options)| {
                    v1::RayServiceUpgradeStrategy {
                        type_,
                        cluster_upgrade_options,
                    }
                })),
            of(
                select(vec!["ray.io/kuberay-operator", "kueue.x-k8s.io/multikueue"])
                    .prop_map(str::to_owned),
            ),
            any::<bool>(),
            any::<bool>(),
        ),
    )
        .prop_map(
            |(
                serve_config_v2,
                ray_cluster_config,
                service_unhealthy_second_threshold,
                deployment_unhealthy_second_threshold,
                serve_service,
                (
                    ray_cluster_deletion_delay_seconds,
                    upgrade_strategy,
                    managed_by,
                    exclude_head_pod_from_serve_svc,
                    suspend,
                ),
            )| {
                v1::RayServiceSpec {
                    serve_config_v2,
                    ray_cluster_config,
                    service_unhealthy_second_threshold,
                    deployment_unhealthy_second_threshold,
                    serve_service,
                    ray_cluster_deletion_delay_seconds,
                    upgrade_strategy,
                    managed_by,
                    exclude_head_pod_from_serve_svc,
                    suspend,
                }
            },
        )
}

pub fn v1_app_status() -> impl Strategy<Value = v1::AppStatus> {
    (
        of(application_status()),
        of(text()),
        btree_map(
            name(),
            (of(deployment_status()), of(text()))
                .prop_map(|(status, message)| v1::ServeDeploymentStatus { status, message }),
            0..3,
        ),
    )
        .prop_map(
            |(status, message, serve_deployment_statuses)| v1::AppStatus {
                status,
                message,
                serve_deployment_statuses,
            },
        )
}

pub fn v1_service_cluster_status() -> impl Strategy<Value = v1::RayServiceStatus> {
    (
        btree_map("[a-z_./]{1,8}", v1_app_status(), 0..3),
        of(name()),
        of(v1_cluster_status()),
    )
        .prop_map(
            |(application_statuses, ray_cluster_name, ray_cluster_status)| v1::RayServiceStatus {
                application_statuses,
                ray_cluster_name,
                ray_cluster_status,
            },
        )
}

pub fn v1_service_statuses() -> impl Strategy<Value = v1::RayServiceStatuses> {
    (
        of(v1_service_cluster_status()),
        of(v1_service_cluster_status()),
        of(service_status()),
        of(0i32..10),
        of(time()),
        of(any::<i64>()),
        vec(condition(), 0..3),
    )
        .prop_map(
            |(
                active_service_status,
                pending_service_status,
                service_status,
                num_serve_endpoints,
                last_update_time,
                observed_generation,
                conditions,
            )| {
                v1::RayServiceStatuses {
                    active_service_status,
                    pending_service_status,
                    service_status,
                    num_serve_endpoints,
                    last_update_time,
                    observed_generation,
                    conditions,
                }
            },
        )
}

pub fn v1_ray_service() -> impl Strategy<Value = v1::RayService> {
    (object_meta(), v1_service_spec(), of(v1_service_statuses())).prop_map(
        |(metadata, spec, status)| v1::RayService {
            metadata,
            spec,
            status,
        },
    )
}

// ---------------------------------------------------------------------------------------------- ray.io/v1alpha1

pub fn v1alpha1_worker_group() -> impl Strategy<Value = v1alpha1::WorkerGroupSpec> {
    (
        group_name(),
        of(any::<i32>()),
        of(0i32..10),
        of(prop_oneof![Just(i32::MAX), 0i32..100]),
        map(),
        pod_template(),
        of(vec(name(), 0..3)
            .prop_map(|workers_to_delete| v1alpha1::ScaleStrategy { workers_to_delete })),
    )
        .prop_map(
            |(
                group_name,
                replicas,
                min_replicas,
                max_replicas,
                ray_start_params,
                template,
                scale_strategy,
            )| v1alpha1::WorkerGroupSpec {
                group_name,
                replicas,
                min_replicas,
                max_replicas,
                ray_start_params,
                template,
                scale_strategy,
            },
        )
}

pub fn v1alpha1_cluster_spec() -> impl Strategy<Value = v1alpha1::RayClusterSpec> {
    (
        v1_head_group_spec(),
        vec(v1alpha1_worker_group(), 0..4),
        of("2\\.[0-9]{1,2}\\.[0-9]"),
        any::<bool>(),
        of(v1_autoscaler_options()),
        of(map()),
        any::<bool>(),
    )
        .prop_map(
            |(
                head,
                worker_group_specs,
                ray_version,
                enable_in_tree_autoscaling,
                autoscaler,
                head_service_annotations,
                suspend,
            )| {
                v1alpha1::RayClusterSpec {
                    head_group_spec: v1alpha1::HeadGroupSpec {
                        service_type: head.service_type,
                        head_service: head.head_service,
                        enable_ingress: head.enable_ingress,
                        ray_start_params: head.ray_start_params,
                        template: head.template,
                    },
                    worker_group_specs,
                    ray_version,
                    enable_in_tree_autoscaling,
                    autoscaler_options: autoscaler.map(|a| v1alpha1::AutoscalerOptions {
                        resources: a.resources,
                        image: a.image,
                        image_pull_policy: a.image_pull_policy,
                        env: a.env,
                        env_from: a.env_from,
                        volume_mounts: a.volume_mounts,
                        security_context: a.security_context,
                        idle_timeout_seconds: a.idle_timeout_seconds,
                        upscaling_mode: a.upscaling_mode,
                    }),
                    head_service_annotations,
                    suspend,
                }
            },
        )
}

pub fn v1alpha1_cluster_state() -> impl Strategy<Value = v1alpha1::ClusterState> {
    use v1alpha1::ClusterState::*;
    select(vec![Ready, Unhealthy, Failed, Suspended])
}

pub fn v1alpha1_cluster_status() -> impl Strategy<Value = v1alpha1::RayClusterStatus> {
    (
        (
            of(v1alpha1_cluster_state()),
            of(text()),
            of(0i32..10),
            of(0i32..10),
            of(0i32..10),
            of(any::<i32>()),
        ),
        (
            of(quantity()),
            of(quantity()),
            of(quantity()),
            of(quantity()),
        ),
        (
            of(time()),
            map(),
            of((
                of("10\\.[0-9]\\.[0-9]\\.[0-9]"),
                of("10\\.[0-9]\\.[0-9]\\.[0-9]"),
            )
                .prop_map(|(pod_ip, service_ip)| v1alpha1::HeadInfo { pod_ip, service_ip })),
            of(any::<i64>()),
        ),
    )
        .prop_map(
            |(
                (
                    state,
                    reason,
                    available_worker_replicas,
                    desired_worker_replicas,
                    min_worker_replicas,
                    max_worker_replicas,
                ),
                (desired_cpu, desired_memory, desired_gpu, desired_tpu),
                (last_update_time, endpoints, head, observed_generation),
            )| v1alpha1::RayClusterStatus {
                state,
                reason,
                available_worker_replicas,
                desired_worker_replicas,
                min_worker_replicas,
                max_worker_replicas,
                desired_cpu,
                desired_memory,
                desired_gpu,
                desired_tpu,
                last_update_time,
                endpoints,
                head,
                observed_generation,
            },
        )
}

pub fn v1alpha1_ray_cluster() -> impl Strategy<Value = v1alpha1::RayCluster> {
    (
        object_meta(),
        v1alpha1_cluster_spec(),
        of(v1alpha1_cluster_status()),
    )
        .prop_map(|(metadata, spec, status)| v1alpha1::RayCluster {
            metadata,
            spec,
            status,
        })
}

pub fn v1alpha1_job_deployment_status() -> impl Strategy<Value = v1alpha1::JobDeploymentStatus> {
    use v1alpha1::JobDeploymentStatus::*;
    select(vec![
        New,
        Initializing,
        Running,
        Complete,
        Failed,
        Suspending,
        Suspended,
    ])
}

pub fn v1alpha1_job_spec() -> impl Strategy<Value = v1alpha1::RayJobSpec> {
    (
        (
            text(),
            map(),
            of(text()),
            of(name()),
            any::<bool>(),
            of(0i32..1000),
        ),
        (
            of(v1alpha1_cluster_spec()),
            map(),
            any::<bool>(),
            of(pod_template()),
        ),
        (of(f32_value()), of(f32_value()), of(text())),
    )
        .prop_map(
            |(
                (
                    entrypoint,
                    metadata,
                    runtime_env_yaml,
                    job_id,
                    shutdown_after_job_finishes,
                    ttl_seconds_after_finished,
                ),
                (ray_cluster_spec, cluster_selector, suspend, submitter_pod_template),
                (entrypoint_num_cpus, entrypoint_num_gpus, entrypoint_resources),
            )| v1alpha1::RayJobSpec {
                entrypoint,
                metadata,
                runtime_env_yaml,
                job_id,
                shutdown_after_job_finishes,
                ttl_seconds_after_finished,
                ray_cluster_spec,
                cluster_selector,
                suspend,
                submitter_pod_template,
                entrypoint_num_cpus,
                entrypoint_num_gpus,
                entrypoint_resources,
            },
        )
}

pub fn v1alpha1_job_status() -> impl Strategy<Value = v1alpha1::RayJobStatus> {
    (
        (
            of(name()),
            of(name()),
            of("http://[a-z.]{1,10}:8265"),
            of(job_status()),
            of(v1alpha1_job_deployment_status()),
        ),
        (
            of(text()),
            of(time()),
            of(time()),
            of(v1alpha1_cluster_status()),
            of(any::<i64>()),
        ),
    )
        .prop_map(
            |(
                (job_id, ray_cluster_name, dashboard_url, job_status, job_deployment_status),
                (message, start_time, end_time, ray_cluster_status, observed_generation),
            )| v1alpha1::RayJobStatus {
                job_id,
                ray_cluster_name,
                dashboard_url,
                job_status,
                job_deployment_status,
                message,
                start_time,
                end_time,
                ray_cluster_status,
                observed_generation,
            },
        )
}

pub fn v1alpha1_ray_job() -> impl Strategy<Value = v1alpha1::RayJob> {
    (
        object_meta(),
        v1alpha1_job_spec(),
        of(v1alpha1_job_status()),
    )
        .prop_map(|(metadata, spec, status)| v1alpha1::RayJob {
            metadata,
            spec,
            status,
        })
}

pub fn v1alpha1_service_spec() -> impl Strategy<Value = v1alpha1::RayServiceSpec> {
    (
        of(text()),
        v1alpha1_cluster_spec(),
        of(any::<i32>()),
        of(any::<i32>()),
        of(service()),
    )
        .prop_map(
            |(
                serve_config_v2,
                ray_cluster_config,
                service_unhealthy_second_threshold,
                deployment_unhealthy_second_threshold,
                serve_service,
            )| {
                v1alpha1::RayServiceSpec {
                    serve_config_v2,
                    ray_cluster_config,
                    service_unhealthy_second_threshold,
                    deployment_unhealthy_second_threshold,
                    serve_service,
                }
            },
        )
}

pub fn v1alpha1_app_status() -> impl Strategy<Value = v1alpha1::AppStatus> {
    (
        of(application_status()),
        of(text()),
        of(time()),
        btree_map(
            name(),
            (of(deployment_status()), of(text()), of(time())).prop_map(
                |(status, message, health_last_update_time)| v1alpha1::ServeDeploymentStatus {
                    status,
                    message,
                    health_last_update_time,
                },
            ),
            0..3,
        ),
    )
        .prop_map(
            |(status, message, health_last_update_time, serve_deployment_statuses)| {
                v1alpha1::AppStatus {
                    status,
                    message,
                    health_last_update_time,
                    serve_deployment_statuses,
                }
            },
        )
}

pub fn v1alpha1_service_cluster_status() -> impl Strategy<Value = v1alpha1::RayServiceStatus> {
    (
        btree_map("[a-z_./]{1,8}", v1alpha1_app_status(), 0..3),
        of(name()),
        of(v1alpha1_cluster_status()),
    )
        .prop_map(
            |(application_statuses, ray_cluster_name, ray_cluster_status)| {
                v1alpha1::RayServiceStatus {
                    application_statuses,
                    ray_cluster_name,
                    ray_cluster_status,
                }
            },
        )
}

pub fn v1alpha1_service_statuses() -> impl Strategy<Value = v1alpha1::RayServiceStatuses> {
    (
        of(v1alpha1_service_cluster_status()),
        of(v1alpha1_service_cluster_status()),
        of(service_status()),
        of(0i32..10),
        of(time()),
        of(any::<i64>()),
    )
        .prop_map(
            |(
                active_service_status,
                pending_service_status,
                service_status,
                num_serve_endpoints,
                last_update_time,
                observed_generation,
            )| {
                v1alpha1::RayServiceStatuses {
                    active_service_status,
                    pending_service_status,
                    service_status,
                    num_serve_endpoints,
                    last_update_time,
                    observed_generation,
                }
            },
        )
}

pub fn v1alpha1_ray_service() -> impl Strategy<Value = v1alpha1::RayService> {
    (
        object_meta(),
        v1alpha1_service_spec(),
        of(v1alpha1_service_statuses()),
    )
        .prop_map(|(metadata, spec, status)| v1alpha1::RayService {
            metadata,
            spec,
            status,
        })
}
