//! Rules of a RayCluster spec: the head group, the worker groups and the autoscaler options.
//!
//! The head and worker group rules reach into the pod templates (`template.spec.containers`), which are Kubernetes
//! types, so they implement [`garde::Validate`] by hand to report the exact path; the other rules are garde
//! attributes on the types themselves.

use std::collections::BTreeMap;

use garde::{Path, Report};
use k8s_openapi::api::core::v1::{EnvVar, PodTemplateSpec};

use super::ClusterOwner;
use super::names::group_name_problem;
use crate::raycluster::{
    AutoscalerVersion, HeadGroupSpec, MAX_REPLICAS_DEFAULT, RayClusterSpec, WorkerGroupSpec,
};

/// The most pods one multi-host replica may have (`numOfHosts`). The operator creates a replica's pods together in
/// one reconcile, so the bound keeps that reconcile's work finite; the largest TPU slices have about 2,000 hosts.
pub const MAX_NUM_OF_HOSTS: i32 = 4096;

/// The environment variable that switches the Ray autoscaler to its v2 implementation.
pub(crate) const AUTOSCALER_V2_ENV: &str = "RAY_enable_autoscaler_v2";
/// The first Ray version whose autoscaler v2 reads a worker group's `priority`.
pub(crate) const PRIORITY_MIN_RAY_VERSION: (u32, u32, u32) = (2, 56, 0);
/// The environment variable the operator sets on the autoscaler container itself.
pub(crate) const GENERATED_AUTOSCALER_COMMAND_ENV: &str = "KUBERAY_GEN_AUTOSCALER_START_CMD";
/// The longest worker group name of a multi-host group: each replica is labelled `<group>-<5 characters>`, a
/// label value of at most 63 characters.
pub(crate) const MAX_MULTI_HOST_GROUP_NAME_LENGTH: usize = 57;
/// The Service types the head Service can have.
pub(crate) const HEAD_SERVICE_TYPES: [&str; 3] = ["ClusterIP", "NodePort", "LoadBalancer"];
/// The image pull policies Kubernetes knows.
pub(crate) const IMAGE_PULL_POLICIES: [&str; 3] = ["Always", "IfNotPresent", "Never"];

/// What the head and worker group rules need to know about the rest of the RayCluster spec.
///
/// It is built from the spec by [`GroupContext::for_spec`]; [`crate::validation::validate_cluster_spec`] does that
/// for you.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GroupContext {
    owner: ClusterOwner,
    autoscaling: bool,
    /// `autoscalerOptions.version` is set.
    version_pinned: bool,
    /// The autoscaler v2 is chosen: `autoscalerOptions.version: v2`, or the head's `RAY_enable_autoscaler_v2` is
    /// `1` or `true` (how it was chosen before KubeRay 1.4).
    autoscaler_v2: bool,
    /// The operator runs the autoscaler v2 and so sets `restartPolicy: Never` on every Ray pod.
    pinned_v2: bool,
    /// `rayVersion`.
    ray_version: Option<String>,
    /// How many worker groups carry each name.
    group_names: BTreeMap<String, usize>,
}

impl GroupContext {
    /// The context of the groups of `spec`, which belongs to an object of kind `owner`.
    pub fn for_spec(spec: &RayClusterSpec, owner: ClusterOwner) -> Self {
        let mut group_names = BTreeMap::new();
        for group in &spec.worker_group_specs {
            *group_names.entry(group.group_name.clone()).or_insert(0) += 1;
        }
        let version = spec
            .autoscaler_options
            .as_ref()
            .and_then(|options| options.version);
        let env_v2 = ray_container_env(&spec.head_group_spec.template)
            .iter()
            .any(|env| env.name == AUTOSCALER_V2_ENV && env_turns_on(env));
        let version_v2 = version == Some(AutoscalerVersion::V2);
        Self {
            owner,
            autoscaling: spec.enable_in_tree_autoscaling,
            version_pinned: version.is_some(),
            autoscaler_v2: version_v2 || env_v2,
            pinned_v2: spec.enable_in_tree_autoscaling && version_v2,
            ray_version: spec.ray_version.clone(),
            group_names,
        }
    }
}

impl RayClusterSpec {
    /// The context garde passes to the head and worker groups (used by the derived `Validate`).
    pub(crate) fn group_context(&self, owner: &ClusterOwner) -> GroupContext {
        GroupContext::for_spec(self, *owner)
    }
}

impl garde::Validate for HeadGroupSpec {
    type Context = GroupContext;

    fn validate_into(
        &self,
        ctx: &GroupContext,
        parent: &mut dyn FnMut() -> Path,
        report: &mut Report,
    ) {
        let path = parent();
        check_template_has_containers(&self.template, "head", &path, report);

        if let Some(service_type) = self.service_type.as_deref()
            && !HEAD_SERVICE_TYPES.contains(&service_type)
        {
            report.append(
                path.join("serviceType"),
                garde::Error::new(format!(
                    "\"{service_type}\" is not a head Service type: use ClusterIP, NodePort or LoadBalancer"
                )),
            );
        }

        if ctx.autoscaling
            && ctx.version_pinned
            && let Some(index) = ray_container_env(&self.template)
                .iter()
                .position(|env| env.name == AUTOSCALER_V2_ENV)
        {
            report.append(
                containers_path(&path).join(0usize).join("env").join(index),
                garde::Error::new(format!(
                    "{AUTOSCALER_V2_ENV} and autoscalerOptions.version both choose the autoscaler version, and the operator sets the variable from autoscalerOptions.version: remove the variable"
                )),
            );
        }
        check_restart_policy(&self.template, ctx, &path, report);

        if !ctx.autoscaling
            && let Some((index, env)) = ray_container_env(&self.template)
                .iter()
                .enumerate()
                .find(|(_, env)| env.name == AUTOSCALER_V2_ENV)
            && env_turns_on(env)
        {
            report.append(
                containers_path(&path).join(0usize).join("env").join(index),
                garde::Error::new(format!(
                    "{AUTOSCALER_V2_ENV} turns on the autoscaler v2, but enableInTreeAutoscaling is false: set enableInTreeAutoscaling: true, or remove the variable"
                )),
            );
        }

        if ctx.owner == ClusterOwner::RayService
            && let Some(name) = self
                .head_service
                .as_ref()
                .and_then(|service| service.metadata.name.as_deref())
            && !name.is_empty()
        {
            report.append(
                path.join("headService").join("metadata").join("name"),
                garde::Error::new(format!(
                    "a RayService names its head Services itself (\"{name}\" would be shared by the old and new cluster during an upgrade): remove headService.metadata.name"
                )),
            );
        }
    }
}

impl garde::Validate for WorkerGroupSpec {
    type Context = GroupContext;

    fn validate_into(
        &self,
        ctx: &GroupContext,
        parent: &mut dyn FnMut() -> Path,
        report: &mut Report,
    ) {
        let path = parent();
        let name = self.group_name.as_str();

        if name.is_empty() {
            report.append(
                path.join("groupName"),
                garde::Error::new(
                    "a worker group needs a name: set groupName (letters, digits and '-')",
                ),
            );
        } else {
            if let Some(problem) = group_name_problem(name) {
                report.append(
                    path.join("groupName"),
                    garde::Error::new(format!(
                        "\"{name}\" cannot be used in pod names and labels: {problem}"
                    )),
                );
            }
            if ctx.group_names.get(name).copied().unwrap_or(0) > 1 {
                report.append(
                    path.join("groupName"),
                    garde::Error::new(format!(
                        "worker group names must be unique, and another worker group is also named \"{name}\": rename one of them"
                    )),
                );
            }
            let hosts = self.num_of_hosts.unwrap_or(1);
            let length = name.chars().count();
            if hosts > 1 && length > MAX_MULTI_HOST_GROUP_NAME_LENGTH {
                report.append(
                    path.join("groupName"),
                    garde::Error::new(format!(
                        "a multi-host group's name may have at most {MAX_MULTI_HOST_GROUP_NAME_LENGTH} characters (each replica is labelled \"<groupName>-<5 characters>\", at most 63), but \"{name}\" has {length}"
                    )),
                );
            }
        }

        for (field, value) in [
            ("replicas", self.replicas),
            ("minReplicas", self.min_replicas),
            ("maxReplicas", self.max_replicas),
        ] {
            if let Some(value) = value
                && value < 0
            {
                report.append(
                    path.join(field),
                    garde::Error::new(format!("{field} must not be negative, but it is {value}")),
                );
            }
        }
        if let Some(hosts) = self.num_of_hosts
            && hosts < 1
        {
            report.append(
                path.join("numOfHosts"),
                garde::Error::new(format!(
                    "numOfHosts is the number of pods per replica and must be at least 1, but it is {hosts}"
                )),
            );
        }
        if let Some(hosts) = self.num_of_hosts
            && hosts > MAX_NUM_OF_HOSTS
        {
            report.append(
                path.join("numOfHosts"),
                garde::Error::new(format!(
                    "numOfHosts is the number of pods per replica, created together; it must be at most \
                     {MAX_NUM_OF_HOSTS} (more hosts than the largest TPU slice), but it is {hosts}"
                )),
            );
        }
        let min = self.min_replicas.unwrap_or(0);
        let max = self.max_replicas.unwrap_or(MAX_REPLICAS_DEFAULT);
        if min > max {
            report.append(
                path.join("minReplicas"),
                garde::Error::new(format!(
                    "minReplicas ({min}) must not be greater than maxReplicas ({max})"
                )),
            );
        }

        check_template_has_containers(&self.template, "worker", &path, report);
        check_restart_policy(&self.template, ctx, &path, report);
        self.check_autoscaler_fields(ctx, &path, report);
    }
}

impl WorkerGroupSpec {
    /// `suspend`, `idleTimeoutSeconds` and `priority`, which depend on the autoscaler.
    fn check_autoscaler_fields(&self, ctx: &GroupContext, path: &Path, report: &mut Report) {
        if self.suspend == Some(true) && ctx.autoscaling {
            report.append(
                path.join("suspend"),
                garde::Error::new(
                    "a worker group cannot be suspended while the autoscaler runs, because the autoscaler decides its replicas: set suspend to false, or turn enableInTreeAutoscaling off",
                ),
            );
        }
        if let Some(seconds) = self.idle_timeout_seconds {
            if seconds < 0 {
                report.append(
                    path.join("idleTimeoutSeconds"),
                    garde::Error::new(format!(
                        "idleTimeoutSeconds must not be negative, but it is {seconds}"
                    )),
                );
            } else if !ctx.autoscaler_v2 {
                report.append(
                    path.join("idleTimeoutSeconds"),
                    garde::Error::new(
                        "a worker group's idleTimeoutSeconds is read by the autoscaler v2 only: set autoscalerOptions.version to v2, or remove it (autoscalerOptions.idleTimeoutSeconds applies to every group)",
                    ),
                );
            }
        }
        if let Some(priority) = self.priority.filter(|p| *p != 0) {
            if !ctx.autoscaler_v2 {
                report.append(
                    path.join("priority"),
                    garde::Error::new(format!(
                        "priority ({priority}) is read by the autoscaler v2 only: set autoscalerOptions.version to v2, or set priority to 0"
                    )),
                );
            }
            let (major, minor, patch) = PRIORITY_MIN_RAY_VERSION;
            let problem = match ctx.ray_version.as_deref() {
                None | Some("") => Some("rayVersion is not set".to_owned()),
                Some(version) => match super::job::parse_version(version) {
                    None => Some(format!("rayVersion \"{version}\" is not a Ray version")),
                    Some(parsed) if parsed < PRIORITY_MIN_RAY_VERSION => {
                        Some(format!("rayVersion is \"{version}\""))
                    }
                    Some(_) => None,
                },
            };
            if let Some(problem) = problem {
                report.append(
                    path.join("priority"),
                    garde::Error::new(format!(
                        "priority needs Ray {major}.{minor}.{patch} or newer, but {problem}: set rayVersion to the Ray version of the images, or set priority to 0"
                    )),
                );
            }
        }
    }
}

/// With the autoscaler v2 the operator sets `restartPolicy: Never` on every Ray pod (the autoscaler replaces a pod
/// whose Ray container exits), so a template asking for another policy is a contradiction.
fn check_restart_policy(
    template: &PodTemplateSpec,
    ctx: &GroupContext,
    group: &Path,
    report: &mut Report,
) {
    if !ctx.pinned_v2 {
        return;
    }
    if let Some(policy) = template
        .spec
        .as_ref()
        .and_then(|spec| spec.restart_policy.as_deref())
        .filter(|policy| !policy.is_empty() && *policy != "Never")
    {
        report.append(
            group.join("template").join("spec").join("restartPolicy"),
            garde::Error::new(format!(
                "the autoscaler v2 replaces Ray pods whose Ray container exits, so restartPolicy must be Never or unset, but it is \"{policy}\": remove it"
            )),
        );
    }
}

/// Whether an `RAY_enable_autoscaler_v2` entry turns the autoscaler v2 on (`1` or `true`, as Ray reads it).
fn env_turns_on(env: &EnvVar) -> bool {
    env.value
        .as_deref()
        .is_some_and(|v| v == "1" || v == "true")
}

/// `<template>.spec.containers`.
fn containers_path(group: &Path) -> Path {
    group.join("template").join("spec").join("containers")
}

/// A pod template of the head or a worker group must have a container: its first one runs Ray.
fn check_template_has_containers(
    template: &PodTemplateSpec,
    role: &str,
    group: &Path,
    report: &mut Report,
) {
    let has_containers = template
        .spec
        .as_ref()
        .is_some_and(|spec| !spec.containers.is_empty());
    if !has_containers {
        report.append(
            containers_path(group),
            garde::Error::new(format!(
                "the {role} pod template needs at least one container (the first one runs Ray): add one under template.spec.containers"
            )),
        );
    }
}

/// The environment of the first (Ray) container of a template.
fn ray_container_env(template: &PodTemplateSpec) -> &[EnvVar] {
    template
        .spec
        .as_ref()
        .and_then(|spec| spec.containers.first())
        .and_then(|container| container.env.as_deref())
        .unwrap_or_default()
}

/// `autoscalerOptions.idleTimeoutSeconds` must not be negative.
pub(crate) fn idle_timeout(value: &Option<i32>, _: &ClusterOwner) -> garde::Result {
    match value {
        Some(seconds) if *seconds < 0 => Err(garde::Error::new(format!(
            "idleTimeoutSeconds must not be negative, but it is {seconds}"
        ))),
        _ => Ok(()),
    }
}

/// `autoscalerOptions.imagePullPolicy` must be one Kubernetes knows.
pub(crate) fn image_pull_policy(value: &Option<String>, _: &ClusterOwner) -> garde::Result {
    match value.as_deref() {
        Some(policy) if !IMAGE_PULL_POLICIES.contains(&policy) => Err(garde::Error::new(format!(
            "\"{policy}\" is not an image pull policy: use Always, IfNotPresent or Never"
        ))),
        _ => Ok(()),
    }
}

/// An autoscaler environment variable must not be one the operator sets itself.
pub(crate) fn autoscaler_env(env: &EnvVar, _: &ClusterOwner) -> garde::Result {
    if env.name == GENERATED_AUTOSCALER_COMMAND_ENV {
        return Err(garde::Error::new(format!(
            "{GENERATED_AUTOSCALER_COMMAND_ENV} is set by the operator to start the autoscaler: remove it"
        )));
    }
    Ok(())
}
