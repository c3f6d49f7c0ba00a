//! The RayJob rules that tie fields together: retries, submission modes and the deletion strategy (KubeRay 1.7's
//! `ValidateRayJobSpec` and `validateDeletionConfiguration`, with messages that say what to change).

use std::collections::BTreeMap;

use super::FieldError;
use crate::rayjob::{
    DeletionPolicyType, DeletionRule, DeletionStrategy, JobDeploymentStatus, JobStatus,
    JobSubmissionMode, RayJobSpec,
};

/// Checks `backoffLimit`, the submission mode's constraints and `deletionStrategy` of the RayJob spec at `path`.
pub(crate) fn check(spec: &RayJobSpec, path: &str, errors: &mut Vec<FieldError>) {
    super::managed_by::check(spec.managed_by.as_deref(), path, errors);
    let selector = !spec.cluster_selector.is_empty();
    let mode = spec.submission_mode.unwrap_or_default();
    let retries = spec.backoff_limit.unwrap_or(0) > 0;
    if retries && selector {
        errors.push(FieldError::new(
            format!("{path}.backoffLimit"),
            "backoffLimit retries on a new RayCluster, which a RayJob using clusterSelector does not create: remove backoffLimit or clusterSelector",
        ));
    }
    if retries && mode == JobSubmissionMode::InteractiveMode {
        errors.push(FieldError::new(
            format!("{path}.backoffLimit"),
            "backoffLimit cannot be used with InteractiveMode: a retry would follow the job id you gave for the failed attempt",
        ));
    }
    if mode == JobSubmissionMode::SidecarMode {
        check_sidecar_mode(spec, path, selector, errors);
    }
    if let Some(strategy) = &spec.deletion_strategy {
        check_deletion_strategy(spec, strategy, &format!("{path}.deletionStrategy"), errors);
    }
}

fn check_sidecar_mode(spec: &RayJobSpec, path: &str, selector: bool, errors: &mut Vec<FieldError>) {
    if selector {
        errors.push(FieldError::new(
            format!("{path}.submissionMode"),
            "SidecarMode runs the submitter in the head pod of a cluster the RayJob creates, so it cannot use clusterSelector: use HTTPMode or K8sJobMode with an existing cluster",
        ));
    }
    if spec.submitter_pod_template.is_some() || spec.submitter_config.is_some() {
        errors.push(FieldError::new(
            format!("{path}.submissionMode"),
            "SidecarMode builds the submitter container itself: remove submitterPodTemplate and submitterConfig, or use K8sJobMode",
        ));
    }
    let restart_policy = spec
        .ray_cluster_spec
        .as_ref()
        .and_then(|cluster| cluster.head_group_spec.template.spec.as_ref())
        .and_then(|pod| pod.restart_policy.as_deref())
        .filter(|policy| !policy.is_empty() && *policy != "Never");
    if let Some(policy) = restart_policy {
        errors.push(FieldError::new(
            format!("{path}.rayClusterSpec.headGroupSpec.template.spec.restartPolicy"),
            format!(
                "in SidecarMode the head pod holds the submitter, which must run once, so its restartPolicy must be Never or unset, not \"{policy}\""
            ),
        ));
    }
}

fn check_deletion_strategy(
    spec: &RayJobSpec,
    strategy: &DeletionStrategy,
    path: &str,
    errors: &mut Vec<FieldError>,
) {
    let legacy = strategy.on_success.is_some() || strategy.on_failure.is_some();
    let rules = strategy.deletion_rules.as_deref().unwrap_or_default();
    let selector = !spec.cluster_selector.is_empty();
    let autoscaling = spec
        .ray_cluster_spec
        .as_ref()
        .is_some_and(|cluster| cluster.enable_in_tree_autoscaling);
    if strategy.deletion_rules.is_some() && rules.is_empty() {
        errors.push(FieldError::new(
            format!("{path}.deletionRules"),
            "deletionRules must hold at least one rule: add one, or remove deletionRules",
        ));
    }
    if legacy && strategy.deletion_rules.is_some() {
        errors.push(FieldError::new(
            path,
            "legacy policies (onSuccess/onFailure) and deletionRules cannot be used together within the same deletionStrategy",
        ));
        return;
    }
    if !legacy && strategy.deletion_rules.is_none() {
        errors.push(FieldError::new(
            path,
            "deletionStrategy requires either BOTH onSuccess and onFailure, OR the deletionRules field (cannot be empty)",
        ));
        return;
    }
    if legacy {
        for (name, policy) in [
            ("onSuccess", &strategy.on_success),
            ("onFailure", &strategy.on_failure),
        ] {
            let field = format!("{path}.{name}");
            let Some(policy) = policy else {
                errors.push(FieldError::new(
                    field,
                    "the legacy deletion policy needs both onSuccess and onFailure: add the missing one, or use deletionRules",
                ));
                continue;
            };
            let Some(policy) = policy.policy else {
                errors.push(FieldError::new(
                    format!("{field}.policy"),
                    "set the policy: DeleteCluster, DeleteWorkers, DeleteSelf or DeleteNone",
                ));
                continue;
            };
            check_policy_fits(
                policy,
                selector,
                autoscaling,
                &format!("{field}.policy"),
                errors,
            );
        }
        return;
    }
    if spec.shutdown_after_job_finishes {
        errors.push(FieldError::new(
            format!("{path}.deletionRules"),
            "shutdownAfterJobFinishes and deletionStrategy.deletionRules cannot be combined: express the cluster deletion as a DeleteCluster rule, or remove deletionRules",
        ));
    }
    check_rules(
        rules,
        selector,
        autoscaling,
        &format!("{path}.deletionRules"),
        errors,
    );
}

/// A policy that deletes the cluster or its workers needs a cluster the RayJob owns, and workers the autoscaler
/// would not bring back.
fn check_policy_fits(
    policy: DeletionPolicyType,
    selector: bool,
    autoscaling: bool,
    path: &str,
    errors: &mut Vec<FieldError>,
) {
    let touches_cluster = matches!(
        policy,
        DeletionPolicyType::DeleteCluster | DeletionPolicyType::DeleteWorkers
    );
    if selector && touches_cluster {
        errors.push(FieldError::new(
            path,
            format!(
                "{policy:?} cannot be used with clusterSelector: the RayJob does not own that cluster (use DeleteSelf or DeleteNone)"
            ),
        ));
    } else if autoscaling && policy == DeletionPolicyType::DeleteWorkers {
        errors.push(FieldError::new(
            path,
            "DeleteWorkers cannot be used with enableInTreeAutoscaling: the autoscaler would bring the workers back (use DeleteCluster)",
        ));
    }
}

/// The order in which policies must fire for one condition: workers, then the cluster, then the RayJob.
const ORDER: [DeletionPolicyType; 3] = [
    DeletionPolicyType::DeleteWorkers,
    DeletionPolicyType::DeleteCluster,
    DeletionPolicyType::DeleteSelf,
];

fn check_rules(
    rules: &[DeletionRule],
    selector: bool,
    autoscaling: bool,
    path: &str,
    errors: &mut Vec<FieldError>,
) {
    // condition (as written) → policy → (ttl, index)
    let mut by_condition: BTreeMap<String, BTreeMap<DeletionPolicyType, (i32, usize)>> =
        BTreeMap::new();
    for (i, rule) in rules.iter().enumerate() {
        let rule_path = format!("{path}[{i}]");
        let condition = &rule.condition;
        let trigger = match (condition.job_status, condition.job_deployment_status) {
            (Some(_), Some(_)) => {
                errors.push(FieldError::new(
                    format!("{rule_path}.condition"),
                    "JobStatus and JobDeploymentStatus cannot be used together within the same deletion condition.",
                ));
                continue;
            }
            (None, None) => {
                errors.push(FieldError::new(
                    format!("{rule_path}.condition"),
                    "the deletion condition requires either the JobStatus or the JobDeploymentStatus field.",
                ));
                continue;
            }
            (Some(status), None) => {
                if !matches!(status, JobStatus::Succeeded | JobStatus::Failed) {
                    errors.push(FieldError::new(
                        format!("{rule_path}.condition.jobStatus"),
                        format!(
                            "a deletion rule fires on a finished job: jobStatus must be SUCCEEDED or FAILED, not \"{}\"",
                            json_name(&status)
                        ),
                    ));
                    continue;
                }
                format!("jobStatus {}", json_name(&status))
            }
            (None, Some(status)) => {
                if status != JobDeploymentStatus::Failed {
                    errors.push(FieldError::new(
                        format!("{rule_path}.condition.jobDeploymentStatus"),
                        format!(
                            "a deletion rule fires on a finished job: jobDeploymentStatus must be Failed, not \"{}\"",
                            json_name(&status)
                        ),
                    ));
                    continue;
                }
                format!("jobDeploymentStatus {}", json_name(&status))
            }
        };
        if condition.ttl_seconds < 0 {
            errors.push(FieldError::new(
                format!("{rule_path}.condition.ttlSeconds"),
                format!(
                    "ttlSeconds must not be negative, but it is {}",
                    condition.ttl_seconds
                ),
            ));
        }
        let before = errors.len();
        check_policy_fits(
            rule.policy,
            selector,
            autoscaling,
            &format!("{rule_path}.policy"),
            errors,
        );
        if errors.len() > before {
            continue;
        }
        let policies = by_condition.entry(trigger.clone()).or_default();
        if let Some((_, first)) = policies.get(&rule.policy) {
            errors.push(FieldError::new(
                format!("{rule_path}.policy"),
                format!(
                    "a second {:?} rule for {trigger} (the first is deletionRules[{first}]): remove one",
                    rule.policy
                ),
            ));
            continue;
        }
        policies.insert(rule.policy, (condition.ttl_seconds, i));
    }
    for (trigger, policies) in &by_condition {
        let mut previous: Option<(DeletionPolicyType, i32)> = None;
        for policy in ORDER {
            let Some(&(ttl, index)) = policies.get(&policy) else {
                continue;
            };
            if let Some((earlier, earlier_ttl)) = previous
                && ttl < earlier_ttl
            {
                errors.push(FieldError::new(
                    format!("{path}[{index}].condition.ttlSeconds"),
                    format!(
                        "for {trigger}, the {policy:?} TTL ({ttl}s) must be at least the {earlier:?} TTL ({earlier_ttl}s): workers go first, then the cluster, then the RayJob"
                    ),
                ));
            }
            previous = Some((policy, ttl));
        }
    }
}

/// The wire value of a status enum, for messages.
fn json_name<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}
