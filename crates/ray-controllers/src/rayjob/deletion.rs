//! What happens after a RayJob finished: its deletion strategy, as a pure part of [`super::decide`].
//!
//! Three styles, as KubeRay 1.7 has them:
//! - `deletionStrategy.deletionRules`: each rule whose condition matches the RayJob (`jobStatus` against the Ray
//!   job's status, `jobDeploymentStatus` against the RayJob's) is due `condition.ttlSeconds` after `endTime`. Of the
//!   due rules not yet carried out, the most far-reaching runs first (DeleteSelf, then DeleteCluster, then
//!   DeleteWorkers), so an operator that was down does not scale workers down just to delete the cluster next.
//! - the legacy `onSuccess`/`onFailure` pair: one policy by outcome, due `ttlSecondsAfterFinished` after `endTime`.
//! - `shutdownAfterJobFinishes`: the RayCluster is deleted `ttlSecondsAfterFinished` after `endTime`.
//!
//! Nothing is remembered in memory: whether a step is done is read from the world (the cluster gone or being
//! deleted, every worker group suspended), and the next due time from `endTime`, so an operator restart between
//! steps picks up exactly where the previous process stopped.

use std::time::Duration;

use k8s_openapi::jiff::{SignedDuration, Timestamp};
use ray_api_v1::raycluster::RayCluster;
use ray_api_v1::rayjob::{DeletionPolicyType, DeletionRule, JobStatus};

use super::decide::{Action, Decision, Observation, cluster_name, selected_cluster, wake_within};

/// Decides the deletion steps of a finished RayJob.
pub(super) fn finished(obs: &Observation<'_>, d: &mut Decision) {
    let job = obs.job;
    let end = d.status.end_time.as_ref().map_or(obs.now, |t| t.0);
    if let Some(strategy) = &job.spec.deletion_strategy {
        if let Some(rules) = strategy.deletion_rules.as_deref().filter(|r| !r.is_empty()) {
            by_rules(obs, d, rules, end);
            return;
        }
        let policy = match d.status.job_status {
            Some(JobStatus::Succeeded) => strategy.on_success.as_ref(),
            Some(JobStatus::Failed) => strategy.on_failure.as_ref(),
            _ => None,
        }
        .and_then(|p| p.policy);
        if let Some(policy) = policy {
            let ttl = job.spec.ttl_seconds_after_finished.unwrap_or(0).max(0);
            let what = format!(
                "the job finished and the legacy deletion policy {policy:?} is due (ttlSecondsAfterFinished {ttl}s)"
            );
            step_when_due(obs, d, policy, due(end, ttl), what);
        }
        return;
    }
    if !job.spec.shutdown_after_job_finishes {
        return;
    }
    let ttl = job.spec.ttl_seconds_after_finished.unwrap_or(0).max(0);
    step_when_due(
        obs,
        d,
        DeletionPolicyType::DeleteCluster,
        due(end, ttl),
        format!(
            "the job finished and ttlSecondsAfterFinished ({ttl}s) has passed (shutdownAfterJobFinishes)"
        ),
    );
}

fn due(end: Timestamp, ttl: i32) -> Timestamp {
    end.checked_add(SignedDuration::from_secs(ttl.max(0).into()))
        .unwrap_or(end)
}

/// Whether `rule`'s condition matches the finished RayJob.
fn matches(rule: &DeletionRule, d: &Decision) -> bool {
    match (
        rule.condition.job_status,
        rule.condition.job_deployment_status,
    ) {
        (Some(status), _) => d.status.job_status == Some(status),
        (None, Some(state)) => d.status.job_deployment_status == Some(state),
        (None, None) => false,
    }
}

/// How far a policy reaches: the due rule reaching furthest runs first.
fn impact(policy: DeletionPolicyType) -> u8 {
    match policy {
        DeletionPolicyType::DeleteSelf => 3,
        DeletionPolicyType::DeleteCluster => 2,
        DeletionPolicyType::DeleteWorkers => 1,
        DeletionPolicyType::DeleteNone => 0,
    }
}

fn by_rules(obs: &Observation<'_>, d: &mut Decision, rules: &[DeletionRule], end: Timestamp) {
    let mut next: Option<Timestamp> = None;
    let mut overdue: Option<&DeletionRule> = None;
    for rule in rules.iter().filter(|rule| matches(rule, d)) {
        let at = due(end, rule.condition.ttl_seconds);
        if obs.now < at {
            next = Some(next.map_or(at, |n| n.min(at)));
            continue;
        }
        if done(obs, rule.policy) {
            continue;
        }
        if overdue.is_none_or(|o| impact(rule.policy) > impact(o.policy)) {
            overdue = Some(rule);
        }
    }
    if let Some(rule) = overdue {
        let trigger = match (
            rule.condition.job_status,
            rule.condition.job_deployment_status,
        ) {
            (Some(status), _) => format!("jobStatus {}", wire(&status)),
            (None, Some(state)) => format!("jobDeploymentStatus {}", wire(&state)),
            (None, None) => String::new(),
        };
        let why = format!(
            "deletion rule {:?} for {trigger} is due ({}s after the job ended)",
            rule.policy, rule.condition.ttl_seconds
        );
        push_step(obs, d, rule.policy, why);
        // The step's effect (cluster gone, workers suspended) is seen by the watch; look again soon regardless,
        // since the next rule may already be due.
        wake_within(d, super::decide::POLL_INTERVAL);
    }
    if let Some(at) = next {
        let left = Duration::try_from(obs.now.duration_until(at)).unwrap_or(Duration::ZERO);
        wake_within(d, left);
    }
}

/// Takes `policy` now if `at` has passed and it is not done yet, else asks to be woken at `at`.
fn step_when_due(
    obs: &Observation<'_>,
    d: &mut Decision,
    policy: DeletionPolicyType,
    at: Timestamp,
    why: String,
) {
    if obs.now < at {
        let left = Duration::try_from(obs.now.duration_until(at)).unwrap_or(Duration::ZERO);
        wake_within(d, left);
        return;
    }
    if !done(obs, policy) {
        push_step(obs, d, policy, why);
    }
}

/// Whether the effect of `policy` is already in place (read from the world, so restarts repeat nothing).
fn done(obs: &Observation<'_>, policy: DeletionPolicyType) -> bool {
    let owned = selected_cluster(obs.job).is_none();
    let live_cluster: Option<&RayCluster> = obs
        .cluster
        .filter(|c| owned && c.metadata.deletion_timestamp.is_none());
    match policy {
        DeletionPolicyType::DeleteNone => true,
        // A RayJob being deleted is finalized, never decided; so DeleteSelf is never done here.
        DeletionPolicyType::DeleteSelf => false,
        DeletionPolicyType::DeleteCluster => live_cluster.is_none(),
        DeletionPolicyType::DeleteWorkers => live_cluster.is_none_or(|c| {
            c.spec
                .worker_group_specs
                .iter()
                .all(|group| group.suspend == Some(true))
        }),
    }
}

fn push_step(obs: &Observation<'_>, d: &mut Decision, policy: DeletionPolicyType, why: String) {
    let name = cluster_name(d);
    match policy {
        DeletionPolicyType::DeleteNone => {}
        DeletionPolicyType::DeleteSelf => d.actions.push(Action::DeleteSelf { reason: why }),
        DeletionPolicyType::DeleteCluster if selected_cluster(obs.job).is_none() => {
            d.actions.push(Action::DeleteCluster { name, reason: why });
        }
        DeletionPolicyType::DeleteWorkers if selected_cluster(obs.job).is_none() => {
            d.actions.push(Action::DeleteWorkers { name, reason: why });
        }
        // A cluster chosen by clusterSelector belongs to someone else (validation refuses these combinations).
        DeletionPolicyType::DeleteCluster | DeletionPolicyType::DeleteWorkers => {}
    }
}

fn wire<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}
