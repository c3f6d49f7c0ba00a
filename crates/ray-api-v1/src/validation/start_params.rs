//! `rayStartParams` values that `ray start` parses as numbers: a value it cannot parse makes every pod of the
//! group fail at start, so it is reported on the object instead. Also the group fields the operator writes into
//! `rayStartParams`: Ray logical `resources` and Ray node `labels`.

use std::collections::BTreeMap;

use super::FieldError;
use super::metadata::check_labels;

/// Parameters that `ray start` declares as integers (`--num-cpus INTEGER`, `--num-gpus INTEGER`, `--memory INTEGER`
/// in bytes, `--object-store-memory INTEGER`): whole, non-negative numbers. Fractional CPUs or GPUs are Ray
/// custom resources or `resources`, not these flags.
const AMOUNTS: [&str; 2] = ["num-cpus", "num-gpus"];
/// Parameters that are byte counts: non-negative integers.
const BYTES: [&str; 2] = ["memory", "object-store-memory"];
/// Ports the operator also exposes or Ray needs fixed: 1-65535.
const PORTS: [&str; 9] = [
    "port",
    "gcs-server-port",
    "dashboard-port",
    "dashboard-grpc-port",
    "dashboard-agent-listen-port",
    "dashboard-agent-grpc-port",
    "ray-client-server-port",
    "metrics-export-port",
    "runtime-env-agent-port",
];
/// Ports where Ray reads 0 as "choose one": 0-65535.
const PORTS_OR_ZERO: [&str; 4] = [
    "node-manager-port",
    "object-manager-port",
    "min-worker-port",
    "max-worker-port",
];

/// Checks the numeric `rayStartParams` of a group at `path` (for example `spec.workerGroupSpecs[0]`).
///
/// A value that starts with `$` (`$(NUM_CPUS)`, `$NUM_CPUS`, `${NUM_CPUS}`) is expanded from the container's
/// environment when the pod starts, so it is not checked here.
pub(crate) fn check_start_params(
    params: &BTreeMap<String, String>,
    path: &str,
    errors: &mut Vec<FieldError>,
) {
    for (key, value) in params {
        if value.starts_with('$') {
            continue;
        }
        let key = key.as_str();
        let problem = if AMOUNTS.contains(&key) {
            value
                .parse::<u64>()
                .is_err()
                .then_some("must be a whole, non-negative number, for example \"2\"")
        } else if BYTES.contains(&key) {
            value.parse::<u64>().is_err().then_some(
                "must be a whole, non-negative number of bytes, for example \"4294967296\"",
            )
        } else if PORTS.contains(&key) {
            (!value.parse::<u16>().is_ok_and(|port| port >= 1))
                .then_some("must be a port number between 1 and 65535")
        } else if PORTS_OR_ZERO.contains(&key) {
            value
                .parse::<u16>()
                .is_err()
                .then_some("must be a port number between 0 (Ray chooses one) and 65535")
        } else {
            None
        };
        if let Some(problem) = problem {
            errors.push(FieldError::new(
                format!("{path}.rayStartParams[\"{key}\"]"),
                format!("{key} {problem}, but it is \"{value}\": ray start would refuse it; fix the value"),
            ));
        }
    }
}

/// The `rayStartParams` that a group's `resources` field sets (KubeRay's rule: a group sets its Ray resources one
/// way only).
const RESOURCE_PARAMS: [&str; 4] = ["num-cpus", "num-gpus", "memory", "resources"];

/// Checks a group's Ray logical `resources` and Ray node `labels` at `path` (for example
/// `spec.workerGroupSpecs[0]`), which the operator writes into its `rayStartParams`.
pub(crate) fn check_group_fields(
    params: &BTreeMap<String, String>,
    resources: &BTreeMap<String, String>,
    labels: &BTreeMap<String, String>,
    path: &str,
    errors: &mut Vec<FieldError>,
) {
    if !resources.is_empty() {
        let both: Vec<String> = RESOURCE_PARAMS
            .iter()
            .filter(|key| params.get(**key).is_some_and(|v| !v.is_empty()))
            .map(|key| format!("rayStartParams[\"{key}\"]"))
            .collect();
        if !both.is_empty() {
            errors.push(FieldError::new(
                format!("{path}.resources"),
                format!(
                    "resources and {} both set the group's Ray resources: use only one of them (resources sets num-cpus, memory, num-gpus and custom resources)",
                    both.join(", ")
                ),
            ));
        }
    }
    for (name, amount) in resources {
        let field = format!("{path}.resources[\"{name}\"]");
        match crate::quantity::parse_nanos(amount.trim()) {
            Err(_) => errors.push(FieldError::new(
                field,
                format!(
                    "\"{amount}\" is not a quantity: write the amount of {name} like \"2\", \"500m\" or \"8Gi\""
                ),
            )),
            Ok(nanos) if nanos < 0 => errors.push(FieldError::new(
                field,
                format!("the amount of {name} must not be negative, but it is \"{amount}\""),
            )),
            Ok(_) => {}
        }
    }
    if params.contains_key("labels") {
        errors.push(FieldError::new(
            format!("{path}.rayStartParams[\"labels\"]"),
            "Ray node labels are set with the group's labels field, which also puts them on the pods: move them there and remove rayStartParams[\"labels\"]",
        ));
    }
    check_labels(labels, &format!("{path}.labels"), errors);
}
