//! The `ray start` command line of head and worker pods.
//!
//! Parameters come from `rayStartParams`, completed with KubeRay's defaults and with CPU, memory, GPU and
//! accelerator counts read from the Ray container's resources. Flags are written in sorted key order; every key and
//! value is one quoted shell word (see [`crate::shell`]).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Container;

use crate::context::{
    ClusterContext, ContextError, DEFAULT_DASHBOARD_AGENT_PORT, DEFAULT_METRICS_PORT,
};
use crate::labels::NodeType;
use crate::quantity::{Nanos, QuantityError};
use crate::shell::{ParamValue, ShellError};

/// Flags whose `true`/`false` value is passed as `--flag=value` instead of as a bare switch.
pub const VALUED_BOOLEAN_FLAGS: &[&str] =
    &["log-color", "include-dashboard", "include-log-monitor"];

/// Limits keys of custom accelerators and the Ray resource each one becomes.
const CUSTOM_ACCELERATORS: &[(&str, &str)] = &[
    ("aws.amazon.com/neuroncore", "neuron_cores"),
    ("google.com/tpu", "TPU"),
];

/// A `ray start` command that cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StartCommandError {
    /// A value cannot be quoted.
    #[error(transparent)]
    Shell(#[from] ShellError),
    /// A container resource is not a quantity.
    #[error(transparent)]
    Quantity(#[from] QuantityError),
    /// A port parameter is not a port.
    #[error(transparent)]
    Context(#[from] ContextError),
    /// `rayStartParams.resources` is not a JSON object of numbers, but an accelerator count has to be added to it.
    #[error(
        "{field}: {value:?} is not a JSON object of resource counts such as '{{\"TPU\": 4}}' ({reason}); it is needed to add the container's {accelerator} limit"
    )]
    InvalidResources {
        /// The field.
        field: String,
        /// Its value.
        value: String,
        /// The accelerator limit that had to be merged in.
        accelerator: String,
        /// Why it did not parse.
        reason: String,
    },
}

/// The `rayStartParams` of a group as the user means them: its own `rayStartParams`, with the group's Ray logical
/// `resources` and Ray node `labels` (KubeRay 1.5's top-level fields) written into them as KubeRay does.
///
/// `resources`: `cpu` (any case) becomes `num-cpus`, `memory` becomes `memory` (bytes) and a GPU resource
/// ([`is_gpu_resource`]) becomes `num-gpus`, each rounded up to a whole number; every other name goes into the
/// `resources` JSON object with its exact amount. `labels` become `labels=k1=v1,k2=v2`, sorted by key. Validation
/// rejects groups that set the same thing both ways; here the top-level fields win, as with KubeRay.
pub fn group_params(
    params: &BTreeMap<String, String>,
    resources: &BTreeMap<String, String>,
    labels: &BTreeMap<String, String>,
    group_path: &str,
) -> Result<BTreeMap<String, String>, StartCommandError> {
    let mut params = params.clone();
    let mut custom = serde_json::Map::new();
    for (name, amount) in resources {
        let field = format!("{group_path}.resources[\"{name}\"]");
        let nanos = Nanos::parse(
            &k8s_openapi::apimachinery::pkg::api::resource::Quantity(amount.clone()),
            &field,
        )?;
        let lower = name.to_ascii_lowercase();
        let flag = if lower == "cpu" {
            Some("num-cpus")
        } else if lower == "memory" {
            Some("memory")
        } else if is_gpu_resource(&lower) {
            Some("num-gpus")
        } else {
            None
        };
        match flag {
            Some(flag) => {
                params.insert(flag.to_string(), nanos.ceil_units().to_string());
            }
            None => {
                custom.insert(name.clone(), resource_amount(nanos));
            }
        }
    }
    if !custom.is_empty() {
        params.insert(
            "resources".to_string(),
            crate::spec_hash::canonical_json(&serde_json::Value::Object(custom)),
        );
    }
    if let Some(value) = crate::labels::ray_start_labels(labels) {
        params.insert("labels".to_string(), value);
    }
    Ok(params)
}

/// Whether a resource name (lower case) counts GPUs: it ends in `gpu` (`nvidia.com/gpu`, `amd.com/gpu`, `GPU`) or
/// is an NVIDIA MIG slice such as `nvidia.com/mig-2g.32gb`.
pub fn is_gpu_resource(name: &str) -> bool {
    if name.ends_with("gpu") {
        return true;
    }
    // `nvidia.com/mig-<slices>g.<memory>gb`
    name.strip_prefix("nvidia.com/mig-")
        .and_then(|rest| rest.strip_suffix("gb"))
        .and_then(|rest| rest.split_once("g."))
        .is_some_and(|(slices, memory)| {
            [slices, memory]
                .iter()
                .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()))
        })
}

/// A custom Ray resource's amount in the `resources` JSON: a whole number when it is one, else the decimal number
/// (Ray accepts fractional custom resources such as `0.5`).
fn resource_amount(nanos: Nanos) -> serde_json::Value {
    const NANO: i128 = ray_api_v1::quantity::NANOS_PER_UNIT;
    if nanos.0 % NANO == 0
        && let Ok(units) = i64::try_from(nanos.0 / NANO)
    {
        return serde_json::Value::from(units);
    }
    // Precision beyond f64 does not matter for a scheduling amount; KubeRay converts to float64 too.
    #[allow(clippy::cast_precision_loss)]
    let amount = nanos.0 as f64 / NANO as f64;
    serde_json::Value::from(amount)
}

/// Completes the `rayStartParams` of a group: KubeRay's defaults for the node type, then `num-cpus`, `memory`,
/// `num-gpus` and custom accelerators from the Ray container's resources (only where the user set none).
///
/// `group_path` is the JSON path of the group (`spec.headGroupSpec`, `spec.workerGroupSpecs[1]`).
pub fn complete_params(
    ctx: &ClusterContext<'_>,
    node_type: NodeType,
    user: &BTreeMap<String, String>,
    ray_container: &Container,
    group_path: &str,
) -> Result<BTreeMap<String, String>, StartCommandError> {
    let mut params = user.clone();
    let defaults: Vec<(&str, String)> = match node_type {
        NodeType::Head => vec![
            ("dashboard-host", "0.0.0.0".to_string()),
            ("metrics-export-port", DEFAULT_METRICS_PORT.to_string()),
            (
                "dashboard-agent-listen-port",
                DEFAULT_DASHBOARD_AGENT_PORT.to_string(),
            ),
        ],
        NodeType::Worker => vec![
            ("address", format!("{}:{}", ctx.head_fqdn, ctx.gcs_port)),
            ("metrics-export-port", DEFAULT_METRICS_PORT.to_string()),
            (
                "dashboard-agent-listen-port",
                DEFAULT_DASHBOARD_AGENT_PORT.to_string(),
            ),
        ],
    };
    for (key, value) in defaults {
        params.entry(key.to_string()).or_insert(value);
    }
    // `ray start` must stay in the foreground: the container lives as long as Ray does.
    params.insert("block".to_string(), "true".to_string());
    if node_type == NodeType::Head && ctx.autoscaling() {
        // The autoscaler sidecar replaces Ray's own monitor process.
        params.insert("no-monitor".to_string(), "true".to_string());
    }
    add_container_resources(&mut params, ray_container, group_path)?;
    Ok(params)
}

fn resource_field(group_path: &str, kind: &str, key: &str) -> String {
    format!("{group_path}.template.spec.containers[0].resources.{kind}[\"{key}\"]")
}

fn add_container_resources(
    params: &mut BTreeMap<String, String>,
    container: &Container,
    group_path: &str,
) -> Result<(), StartCommandError> {
    let resources = container.resources.as_ref();
    let limits = resources.and_then(|r| r.limits.as_ref());
    let requests = resources.and_then(|r| r.requests.as_ref());
    let quantity = |map: Option<
        &BTreeMap<String, k8s_openapi::apimachinery::pkg::api::resource::Quantity>,
    >,
                    kind: &str,
                    key: &str|
     -> Result<Nanos, QuantityError> {
        match map.and_then(|m| m.get(key)) {
            Some(q) => Nanos::parse(q, &resource_field(group_path, kind, key)),
            None => Ok(Nanos::default()),
        }
    };
    if !params.contains_key("num-cpus") {
        let mut cpu = quantity(limits, "limits", "cpu")?;
        if cpu.is_zero() {
            cpu = quantity(requests, "requests", "cpu")?;
        }
        if !cpu.is_zero() {
            params.insert("num-cpus".to_string(), cpu.ceil_units().to_string());
        }
    }
    if !params.contains_key("memory") {
        let memory = quantity(limits, "limits", "memory")?;
        if !memory.is_zero() {
            params.insert("memory".to_string(), memory.ceil_units().to_string());
        }
    }
    if !params.contains_key("num-gpus") {
        for key in limits.into_iter().flat_map(|m| m.keys()) {
            if is_gpu_resource(&key.to_ascii_lowercase()) {
                let gpus = quantity(limits, "limits", key)?;
                if !gpus.is_zero() {
                    params.insert("num-gpus".to_string(), gpus.ceil_units().to_string());
                    break;
                }
            }
        }
    }
    // Custom accelerators (Neuron cores, TPUs) become Ray resources, unless the user declared one already.
    for (limit_key, ray_name) in CUSTOM_ACCELERATORS {
        let count = quantity(limits, "limits", limit_key)?;
        if count.is_zero() {
            continue;
        }
        let field = format!("{group_path}.rayStartParams[\"resources\"]");
        let mut resources: serde_json::Map<String, serde_json::Value> = match params
            .get("resources")
        {
            None => serde_json::Map::new(),
            Some(raw) => {
                let text = ParamValue::parse(raw)
                    .literal()
                    .map(str::to_string)
                    .unwrap_or_default();
                serde_json::from_str(&text).map_err(|e| StartCommandError::InvalidResources {
                    field: field.clone(),
                    value: raw.clone(),
                    accelerator: (*limit_key).to_string(),
                    reason: e.to_string(),
                })?
            }
        };
        let present = CUSTOM_ACCELERATORS
            .iter()
            .any(|(_, name)| resources.contains_key(*name));
        if !present {
            let count = i64::try_from(count.ceil_units()).unwrap_or(i64::MAX);
            resources.insert((*ray_name).to_string(), serde_json::Value::from(count));
            params.insert(
                "resources".to_string(),
                crate::spec_hash::canonical_json(&serde_json::Value::Object(resources)),
            );
        }
        break;
    }
    Ok(())
}

/// Renders `ray start [--head] --flag=value ...` from completed parameters, one quoted shell word per flag.
///
/// A value of `true` (any case) becomes a bare `--flag`, `false` drops the flag, except for the flags in
/// [`VALUED_BOOLEAN_FLAGS`], which keep their value.
pub fn ray_start_command(
    node_type: NodeType,
    params: &BTreeMap<String, String>,
    group_path: &str,
) -> Result<String, StartCommandError> {
    let mut words = vec!["ray".to_string(), "start".to_string()];
    if node_type == NodeType::Head {
        words.push("--head".to_string());
    }
    for (key, value) in params {
        let field = format!("{group_path}.rayStartParams[\"{key}\"]");
        let lower = value.to_ascii_lowercase();
        let is_bool = lower == "true" || lower == "false";
        if is_bool && !VALUED_BOOLEAN_FLAGS.contains(&key.as_str()) {
            if lower == "true" {
                words.push(crate::shell::quote(&format!("--{key}"), &field)?.into_owned());
            }
            continue;
        }
        words.push(ParamValue::parse(value).render_word(&format!("--{key}="), &field)?);
    }
    Ok(words.join(" "))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn flags_are_sorted_and_booleans_are_switches() {
        let cmd = ray_start_command(
            NodeType::Head,
            &params(&[
                ("num-cpus", "2"),
                ("block", "true"),
                ("disable-usage-stats", "false"),
                ("log-color", "false"),
                ("dashboard-host", "0.0.0.0"),
            ]),
            "spec.headGroupSpec",
        )
        .unwrap();
        assert_eq!(
            cmd,
            "ray start --head --block --dashboard-host=0.0.0.0 --log-color=false --num-cpus=2"
        );
    }

    #[test]
    fn gpu_resources_are_recognised_like_kuberay() {
        for gpu in [
            "gpu",
            "nvidia.com/gpu",
            "amd.com/gpu",
            "nvidia.com/mig-2g.32gb",
        ] {
            assert!(is_gpu_resource(gpu), "{gpu}");
        }
        for other in [
            "tpu",
            "nvidia.com/mig-2g.gb",
            "nvidia.com/mig-xg.32gb",
            "memory",
        ] {
            assert!(!is_gpu_resource(other), "{other}");
        }
    }

    #[test]
    fn group_resources_and_labels_are_written_into_the_params() {
        let out = group_params(
            &params(&[("object-store-memory", "100")]),
            &params(&[
                ("CPU", "2"),
                ("memory", "1.5Gi"),
                ("GPU", "500m"),
                ("custom", "250m"),
                ("big", "3"),
            ]),
            &params(&[("zone", "a"), ("kind", "spot")]),
            "spec.headGroupSpec",
        )
        .unwrap();
        assert_eq!(
            out,
            params(&[
                ("object-store-memory", "100"),
                ("num-cpus", "2"),
                ("memory", "1610612736"),
                ("num-gpus", "1"),
                ("resources", r#"{"big":3,"custom":0.25}"#),
                ("labels", "kind=spot,zone=a"),
            ])
        );
        // Nothing to add: the params stay as the user wrote them.
        let user = params(&[("num-cpus", "3")]);
        assert_eq!(
            group_params(&user, &BTreeMap::new(), &BTreeMap::new(), "g").unwrap(),
            user
        );
    }

    #[test]
    fn user_quoted_json_is_unwrapped_and_requoted() {
        let cmd = ray_start_command(
            NodeType::Worker,
            &params(&[("resources", r#""{\"Custom\": 1}""#)]),
            "g",
        )
        .unwrap();
        assert_eq!(cmd, r#"ray start '--resources={"Custom": 1}'"#);
    }
}
