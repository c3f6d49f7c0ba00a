//! Everything of a RayCluster, RayJob or RayService that the operator turns into a Pod, a Job or a Service, checked
//! with the API server's rules ([`super::pod`], [`super::kube_service`], [`super::metadata`]) and `ray start`'s
//! ([`super::start_params`]): the head and worker pod templates, the autoscaler container, a RayJob's submitter
//! template, the custom head Service and a RayService's `serveService`.
//!
//! These rules report paths that contain map keys (`resources.limits["nvidia.com/gpu"]`), so they are collected
//! as [`FieldError`]s directly rather than through garde, whose path mapping rewrites `_` in every segment.

use super::FieldError;
use super::kube_service::check_service;
use super::metadata::{check_annotations, check_metadata};
use super::names::{MAX_LABEL_LENGTH, dns1035_label_problem};
use super::pod::{Additions, check_autoscaler, check_pod_template, declared_volumes};
use super::start_params::{check_group_fields, check_start_params};
use crate::raycluster::RayClusterSpec;
use crate::rayjob::{JobSubmissionMode, RayJobSpec};
use crate::rayservice::RayServiceSpec;

/// The volume backing `/dev/shm` that the operator adds to head and worker pods.
const SHARED_MEMORY_VOLUME: &str = "shared-mem";
/// The log volume the operator adds to the head pod for the autoscaler.
const LOG_VOLUME: &str = "ray-logs";
/// The autoscaler container the operator adds to the head pod.
const AUTOSCALER_CONTAINER: &str = "autoscaler";
/// The restart policies a Job's pods may have.
const JOB_RESTART_POLICIES: [&str; 2] = ["Never", "OnFailure"];

/// Checks a RayCluster spec at `path` (`spec`, `spec.rayClusterSpec` or `spec.rayClusterConfig`); `embedded_in`
/// names the kind holding it (`RayJob`, `RayService`), `None` for a RayCluster.
pub(crate) fn check_cluster_spec(
    spec: &RayClusterSpec,
    path: &str,
    embedded_in: Option<&str>,
    errors: &mut Vec<FieldError>,
) {
    let head = &spec.head_group_spec;
    let head_path = format!("{path}.headGroupSpec");
    let autoscaling = spec.enable_in_tree_autoscaling;
    let head_volumes: &[&str] = if autoscaling {
        &[SHARED_MEMORY_VOLUME, LOG_VOLUME]
    } else {
        &[SHARED_MEMORY_VOLUME]
    };
    let head_containers: &[&str] = if autoscaling {
        &[AUTOSCALER_CONTAINER]
    } else {
        &[]
    };
    check_pod_template(
        &head.template,
        &format!("{head_path}.template"),
        Additions {
            volumes: head_volumes,
            containers: head_containers,
        },
        errors,
    );
    check_start_params(&head.ray_start_params, &head_path, errors);
    check_group_fields(
        &head.ray_start_params,
        &head.resources,
        &head.labels,
        &head_path,
        errors,
    );
    super::ingress::check_head(head, &head_path, errors);
    super::managed_by::check(spec.managed_by.as_deref(), path, errors);
    if let Some(service) = &head.head_service {
        check_service(
            service,
            &format!("{head_path}.headService"),
            head.service_type.as_deref(),
            errors,
        );
    }
    if let Some(annotations) = &spec.head_service_annotations {
        check_annotations(
            annotations,
            &format!("{path}.headServiceAnnotations"),
            errors,
        );
    }

    for (i, group) in spec.worker_group_specs.iter().enumerate() {
        let group_path = format!("{path}.workerGroupSpecs[{i}]");
        check_pod_template(
            &group.template,
            &format!("{group_path}.template"),
            Additions {
                volumes: &[SHARED_MEMORY_VOLUME],
                containers: &[],
            },
            errors,
        );
        check_start_params(&group.ray_start_params, &group_path, errors);
        check_group_fields(
            &group.ray_start_params,
            &group.resources,
            &group.labels,
            &group_path,
            errors,
        );
    }

    if let Some(options) = &spec.autoscaler_options {
        let mut volumes = declared_volumes(&head.template);
        volumes.extend([SHARED_MEMORY_VOLUME, LOG_VOLUME]);
        check_autoscaler(
            options,
            &format!("{path}.autoscalerOptions"),
            &volumes,
            errors,
        );
    }

    super::unsupported::check_cluster_spec(spec, path, errors);
    super::auth::check_spec(spec, path, embedded_in, errors);
    super::upgrade_strategy::check_spec(spec, path, embedded_in, errors);
    super::gcs_ft::check_spec(spec, path, errors);
}

/// Checks a RayJob spec at `path`: its cluster spec and its submitter pod template.
pub(crate) fn check_job_spec(spec: &RayJobSpec, path: &str, errors: &mut Vec<FieldError>) {
    super::job_lifecycle::check(spec, path, errors);
    if let Some(cluster) = &spec.ray_cluster_spec {
        check_cluster_spec(
            cluster,
            &format!("{path}.rayClusterSpec"),
            Some("RayJob"),
            errors,
        );
    }
    let k8s_job_mode = spec.submission_mode.unwrap_or_default() == JobSubmissionMode::K8sJobMode;
    if let Some(template) = spec
        .submitter_pod_template
        .as_ref()
        .filter(|_| k8s_job_mode)
    {
        let template_path = format!("{path}.submitterPodTemplate");
        check_pod_template(template, &template_path, Additions::default(), errors);
        let pod = template.spec.as_ref();
        if pod.is_none_or(|pod| pod.containers.is_empty()) {
            errors.push(FieldError::new(
                format!("{template_path}.spec.containers"),
                "the submitter pod template needs a container (the first one submits the job): add one, or remove submitterPodTemplate to use the default submitter",
            ));
        }
        if let Some(policy) = pod.and_then(|pod| pod.restart_policy.as_deref())
            && !policy.is_empty()
            && !JOB_RESTART_POLICIES.contains(&policy)
        {
            errors.push(FieldError::new(
                format!("{template_path}.spec.restartPolicy"),
                format!(
                    "the submitter runs as a Kubernetes Job, whose pods' restartPolicy must be Never or OnFailure, but it is \"{policy}\": change it, or remove it (the operator sets Never)"
                ),
            ));
        }
    }
}

/// Checks a RayService spec at `path`: its deletion delay, its cluster config and its `serveService`.
pub(crate) fn check_service_spec(spec: &RayServiceSpec, path: &str, errors: &mut Vec<FieldError>) {
    super::unsupported::check_service_spec(spec, path, errors);
    super::managed_by::check(spec.managed_by.as_deref(), path, errors);
    if let Some(delay) = spec.ray_cluster_deletion_delay_seconds.filter(|d| *d < 0) {
        errors.push(FieldError::new(
            format!("{path}.rayClusterDeletionDelaySeconds"),
            format!(
                "must not be negative (got {delay}): set it to 0 or more seconds, or remove it to use the operator's default"
            ),
        ));
    }
    check_cluster_spec(
        &spec.ray_cluster_config,
        &format!("{path}.rayClusterConfig"),
        Some("RayService"),
        errors,
    );
    if let Some(service) = &spec.serve_service {
        let service_path = format!("{path}.serveService");
        if let Some(name) = service.metadata.name.as_deref().filter(|n| !n.is_empty()) {
            let problem = if name.len() > MAX_LABEL_LENGTH {
                Some("it must be at most 63 characters")
            } else {
                dns1035_label_problem(name)
            };
            if let Some(problem) = problem {
                errors.push(FieldError::new(
                    format!("{service_path}.metadata.name"),
                    format!("\"{name}\" is not a valid Service name: {problem}"),
                ));
            }
        }
        check_service(
            service,
            &service_path,
            spec.ray_cluster_config
                .head_group_spec
                .service_type
                .as_deref(),
            errors,
        );
    }
}

/// Checks the labels and annotations of a RayCluster, RayJob or RayService itself.
pub(crate) fn check_object_metadata(
    metadata: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
    errors: &mut Vec<FieldError>,
) {
    check_metadata(metadata, "metadata", errors);
}
