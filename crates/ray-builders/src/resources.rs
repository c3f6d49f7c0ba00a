//! Replica counts and the resources a cluster's spec asks for, as the RayCluster status reports them
//! (`desiredWorkerReplicas`, `desiredCPU`, ...).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::PodSpec;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use ray_api_v1::{RayClusterSpec, WorkerGroupSpec};

use crate::quantity::{Nanos, QuantityError};

/// The replicas a worker group should have: none while the group is suspended (`suspend: true`), else `replicas`
/// (or `minReplicas` when unset) clamped into `[minReplicas, maxReplicas]`.
pub fn desired_replicas(group: &WorkerGroupSpec) -> i32 {
    if group.suspend == Some(true) {
        return 0;
    }
    let min = group.min_replicas.unwrap_or(0).max(0);
    let max = group.max_replicas.unwrap_or(i32::MAX);
    group.replicas.unwrap_or(min).max(min).min(max).max(0)
}

/// Pods per replica (`numOfHosts`, at least 1).
pub fn hosts(group: &WorkerGroupSpec) -> i32 {
    group.num_of_hosts.unwrap_or(1).max(1)
}

/// Worker pod counts over all groups, saturating at `i32::MAX`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReplicaCounts {
    /// Σ desired replicas × hosts.
    pub desired: i32,
    /// Σ minReplicas × hosts.
    pub min: i32,
    /// Σ maxReplicas × hosts.
    pub max: i32,
}

/// The worker pod counts of a spec. A suspended group counts for nothing, not even its minimum and maximum.
pub fn replica_counts(spec: &RayClusterSpec) -> ReplicaCounts {
    let mut counts = ReplicaCounts::default();
    for group in &spec.worker_group_specs {
        if group.suspend == Some(true) {
            continue;
        }
        let hosts = hosts(group);
        counts.desired = counts
            .desired
            .saturating_add(desired_replicas(group).saturating_mul(hosts));
        counts.min = counts
            .min
            .saturating_add(group.min_replicas.unwrap_or(0).max(0).saturating_mul(hosts));
        counts.max = counts.max.saturating_add(
            group
                .max_replicas
                .unwrap_or(i32::MAX)
                .max(0)
                .saturating_mul(hosts),
        );
    }
    counts
}

/// The resources a cluster's pods ask for.
#[derive(Debug, Clone, PartialEq)]
pub struct DesiredResources {
    /// `cpu`.
    pub cpu: Quantity,
    /// `memory`.
    pub memory: Quantity,
    /// The sum of every resource whose name ends in `gpu` (`nvidia.com/gpu`, `amd.com/gpu`, ...).
    pub gpu: Quantity,
    /// `google.com/tpu`.
    pub tpu: Quantity,
}

/// Adds one pod template's resources to `totals`, `times` times: per container and resource, the request, or the
/// limit where no request is set.
fn add_pod(
    totals: &mut BTreeMap<String, Nanos>,
    pod: Option<&PodSpec>,
    times: i32,
    path: &str,
) -> Result<(), QuantityError> {
    for (index, container) in pod.iter().flat_map(|p| p.containers.iter()).enumerate() {
        let Some(resources) = container.resources.as_ref() else {
            continue;
        };
        let mut effective: BTreeMap<&String, (&Quantity, &str)> = BTreeMap::new();
        for (name, q) in resources.limits.iter().flatten() {
            effective.insert(name, (q, "limits"));
        }
        for (name, q) in resources.requests.iter().flatten() {
            effective.insert(name, (q, "requests"));
        }
        for (name, (q, kind)) in effective {
            let field =
                format!("{path}.template.spec.containers[{index}].resources.{kind}[\"{name}\"]");
            let amount = Nanos::parse(q, &field)?;
            let total = totals.entry(name.clone()).or_default();
            total.0 = total
                .0
                .saturating_add(amount.0.saturating_mul(i128::from(times)));
        }
    }
    Ok(())
}

/// The resources of the head pod plus each worker group's pod times its desired replicas and hosts.
///
/// `spec_path` is the JSON path of the cluster spec (`spec`, `spec.rayClusterSpec`, ...), used in errors.
pub fn desired_resources(
    spec: &RayClusterSpec,
    spec_path: &str,
) -> Result<DesiredResources, QuantityError> {
    let mut totals = BTreeMap::new();
    add_pod(
        &mut totals,
        spec.head_group_spec.template.spec.as_ref(),
        1,
        &format!("{spec_path}.headGroupSpec"),
    )?;
    for (index, group) in spec.worker_group_specs.iter().enumerate() {
        let times = desired_replicas(group).saturating_mul(hosts(group));
        add_pod(
            &mut totals,
            group.template.spec.as_ref(),
            times,
            &format!("{spec_path}.workerGroupSpecs[{index}]"),
        )?;
    }
    let get = |name: &str| totals.get(name).copied().unwrap_or_default();
    let gpu = totals
        .iter()
        .filter(|(name, _)| name.to_ascii_lowercase().ends_with("gpu"))
        .fold(Nanos::default(), |acc, (_, n)| {
            Nanos(acc.0.saturating_add(n.0))
        });
    Ok(DesiredResources {
        cpu: get("cpu").format(false),
        memory: get("memory").format(true),
        gpu: gpu.format(false),
        tpu: get("google.com/tpu").format(false),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn group(
        replicas: Option<i32>,
        min: Option<i32>,
        max: Option<i32>,
        hosts: Option<i32>,
    ) -> WorkerGroupSpec {
        WorkerGroupSpec {
            group_name: "g".into(),
            replicas,
            min_replicas: min,
            max_replicas: max,
            num_of_hosts: hosts,
            ..WorkerGroupSpec::default()
        }
    }

    #[test]
    fn replicas_are_clamped() {
        assert_eq!(desired_replicas(&group(Some(5), Some(1), Some(3), None)), 3);
        assert_eq!(desired_replicas(&group(Some(0), Some(1), Some(3), None)), 1);
        assert_eq!(desired_replicas(&group(None, Some(2), None, None)), 2);
        assert_eq!(desired_replicas(&group(Some(-4), None, None, None)), 0);
    }

    #[test]
    fn a_suspended_group_wants_no_replicas() {
        let mut g = group(Some(3), Some(2), Some(5), Some(2));
        g.suspend = Some(true);
        assert_eq!(desired_replicas(&g), 0);
        g.suspend = Some(false);
        assert_eq!(desired_replicas(&g), 3);
        let spec = RayClusterSpec {
            worker_group_specs: vec![g.clone(), {
                let mut s = g;
                s.suspend = Some(true);
                s
            }],
            ..RayClusterSpec::default()
        };
        // Only the running group counts, as with KubeRay's status.
        let counts = replica_counts(&spec);
        assert_eq!((counts.desired, counts.min, counts.max), (6, 4, 10));
    }

    #[test]
    fn counts_multiply_hosts_and_saturate() {
        let spec = RayClusterSpec {
            worker_group_specs: vec![
                group(Some(2), Some(1), None, Some(4)),
                group(Some(1), None, Some(5), None),
            ],
            ..RayClusterSpec::default()
        };
        let c = replica_counts(&spec);
        assert_eq!(c.desired, 9);
        assert_eq!(c.min, 4);
        assert_eq!(c.max, i32::MAX);
    }
}
