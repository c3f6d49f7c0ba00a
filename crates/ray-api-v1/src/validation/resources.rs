//! A container's `resources`: the API server's rules for resource names and amounts, and between requests and
//! limits. The operator also reads these amounts for `ray start --num-cpus/--num-gpus/--memory`, so a bad one
//! would otherwise end up in the Ray command line.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ResourceRequirements;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use super::FieldError;
use super::names::qualified_name_problem;
use crate::quantity::{self, NANOS_PER_UNIT};

/// The resources a container may name without a domain.
const STANDARD_RESOURCES: [&str; 3] = ["cpu", "memory", "ephemeral-storage"];
/// The prefix of huge page resources (`hugepages-2Mi`).
const HUGE_PAGES_PREFIX: &str = "hugepages-";

/// Checks `resources` at `path` (for example `spec.headGroupSpec.template.spec.containers[0].resources`).
pub(crate) fn check_resources(
    resources: &ResourceRequirements,
    path: &str,
    errors: &mut Vec<FieldError>,
) {
    let empty = BTreeMap::new();
    let limits = resources.limits.as_ref().unwrap_or(&empty);
    let requests = resources.requests.as_ref().unwrap_or(&empty);
    let limit_amounts = amounts(limits, &format!("{path}.limits"), errors);
    let request_amounts = amounts(requests, &format!("{path}.requests"), errors);

    for (name, request) in &request_amounts {
        let at = format!("{path}.requests[\"{name}\"]");
        let shown = &requests[*name].0;
        match limit_amounts.get(name) {
            Some(limit) if request > limit => errors.push(FieldError::new(
                at,
                format!(
                    "the request ({shown}) must not be greater than the limit ({}): lower the request or raise the limit",
                    limits[*name].0
                ),
            )),
            Some(limit) if !overcommit_allowed(name) && request != limit => {
                errors.push(FieldError::new(
                    at,
                    format!(
                        "{name} cannot be overcommitted, so its request ({shown}) must equal its limit ({}): set both to the same amount, or set only the limit",
                        limits[*name].0
                    ),
                ))
            }
            None if !overcommit_allowed(name) => errors.push(FieldError::new(
                at,
                format!(
                    "{name} cannot be overcommitted, so a request needs an equal limit: set limits[\"{name}\"] to {shown} (or set only the limit)"
                ),
            )),
            _ => {}
        }
    }

    let names = || limits.keys().chain(requests.keys());
    if names().any(|name| name.starts_with(HUGE_PAGES_PREFIX))
        && !names().any(|name| name == "cpu" || name == "memory")
    {
        errors.push(FieldError::new(
            path,
            "huge pages also need a cpu or memory request or limit: add one",
        ));
    }
}

/// The amounts of a `limits` or `requests` map that are valid, in nano-units; problems are reported.
fn amounts<'a>(
    map: &'a BTreeMap<String, Quantity>,
    path: &str,
    errors: &mut Vec<FieldError>,
) -> BTreeMap<&'a str, i128> {
    let mut valid = BTreeMap::new();
    for (name, amount) in map {
        let at = format!("{path}[\"{name}\"]");
        if let Some(problem) = resource_name_problem(name) {
            errors.push(FieldError::new(&at, problem));
            continue;
        }
        let nanos = match quantity::parse_nanos(&amount.0) {
            Ok(nanos) => nanos,
            Err(error) => {
                errors.push(FieldError::new(&at, format!("\"{}\" is {error}", amount.0)));
                continue;
            }
        };
        if nanos < 0 {
            errors.push(FieldError::new(
                &at,
                format!(
                    "{name} must not be negative, but it is {}: use 0 or more",
                    amount.0
                ),
            ));
            continue;
        }
        if is_extended(name) && !quantity::is_whole(nanos) {
            errors.push(FieldError::new(
                &at,
                format!(
                    "{name} is an extended resource and must be a whole number, but it is {} ({} units): devices such as GPUs cannot be split; use {}",
                    amount.0,
                    nanos as f64 / NANOS_PER_UNIT as f64,
                    (nanos + NANOS_PER_UNIT - 1) / NANOS_PER_UNIT
                ),
            ));
            continue;
        }
        valid.insert(name.as_str(), nanos);
    }
    valid
}

/// Why a container cannot name a resource `name`, or `None` when it can: a standard resource (`cpu`, `memory`,
/// `ephemeral-storage`, `hugepages-<size>`) or a fully qualified one (`nvidia.com/gpu`).
fn resource_name_problem(name: &str) -> Option<String> {
    if let Some(problem) = qualified_name_problem(name) {
        return Some(format!(
            "\"{name}\" is not a resource name: {problem}; use cpu, memory, ephemeral-storage or a fully qualified name such as nvidia.com/gpu"
        ));
    }
    if !name.contains('/') {
        if STANDARD_RESOURCES.contains(&name) || name.starts_with(HUGE_PAGES_PREFIX) {
            return None;
        }
        return Some(format!(
            "\"{name}\" is not a container resource: use cpu, memory, ephemeral-storage, hugepages-<size>, or a fully qualified extended resource such as nvidia.com/gpu (a GPU is nvidia.com/gpu, not gpu)"
        ));
    }
    if is_extended(name) {
        // The API server also needs "requests.<name>" (its quota name) to be a qualified name.
        if name.starts_with("requests.")
            || qualified_name_problem(&format!("requests.{name}")).is_some()
        {
            return Some(format!(
                "\"{name}\" is not a valid extended resource name: its domain must not start with \"requests.\" and must have at most 244 characters"
            ));
        }
    }
    None
}

/// Whether a resource is an extended one (a domain other than `kubernetes.io`): counted in whole units, and
/// never overcommitted.
fn is_extended(name: &str) -> bool {
    name.contains('/') && !name.contains("kubernetes.io/")
}

/// Whether a request may be below its limit: only for native resources other than huge pages.
fn overcommit_allowed(name: &str) -> bool {
    !is_extended(name) && !name.starts_with(HUGE_PAGES_PREFIX)
}
