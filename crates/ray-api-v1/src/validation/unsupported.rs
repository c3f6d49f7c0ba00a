//! Fields of KubeRay's `ray.io/v1` API (up to KubeRay 1.7) that this operator does not act on yet.
//!
//! Such a field is part of the types and the CRD schema, so a manifest written for KubeRay reads and round-trips
//! unchanged, but a value that would ask for behaviour the operator lacks is **rejected, naming the field**, rather
//! than silently ignored: by a CEL rule in the CRD (generated from [`UNSUPPORTED_FIELDS`], so it holds without the
//! webhook) and by [`crate::validation`] (the webhook, the operator and `ray-operator render`), with the same
//! message. Values that ask for what the operator does anyway (`tlsOptions.enabled: false`, the `redis` GCS
//! backend, ...) are accepted.
//!
//! Implementing a field means deleting its entry from [`UNSUPPORTED_FIELDS`] (and regenerating the CRDs).

use serde_json::Value;

use super::FieldError;
use crate::raycluster::RayClusterSpec;
use crate::rayservice::RayServiceSpec;

/// The object of the schema a field belongs to; its CEL rule is attached there.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Holder {
    /// A RayClusterSpec: a RayCluster's `spec`, a RayJob's `spec.rayClusterSpec`, a RayService's
    /// `spec.rayClusterConfig`.
    ClusterSpec,
    /// `headGroupSpec` of a RayClusterSpec.
    HeadGroup,
    /// An entry of `workerGroupSpecs` of a RayClusterSpec.
    WorkerGroup,
    /// `autoscalerOptions` of a RayClusterSpec.
    AutoscalerOptions,
    /// `gcsFaultToleranceOptions` of a RayClusterSpec.
    GcsFaultToleranceOptions,
    /// A RayService's `spec`.
    ServiceSpec,
}

impl Holder {
    /// How messages name the holder, relative to the spec it is part of.
    fn prefix(self) -> &'static str {
        match self {
            Holder::ClusterSpec | Holder::ServiceSpec => "",
            Holder::HeadGroup => "headGroupSpec.",
            Holder::WorkerGroup => "workerGroupSpecs[].",
            Holder::AutoscalerOptions => "autoscalerOptions.",
            Holder::GcsFaultToleranceOptions => "gcsFaultToleranceOptions.",
        }
    }
}

/// A JSON scalar an accepted object field may hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scalar {
    /// The boolean `false`.
    False,
    /// This string.
    Str(&'static str),
    /// One of these strings (the values of an enum the operator implements only in part).
    OneOf(&'static [&'static str]),
}

impl Scalar {
    /// The CEL expression that holds when `expr` is this value.
    fn cel_test(self, expr: &str) -> String {
        match self {
            Scalar::False => format!("{expr} == false"),
            Scalar::Str(text) => format!("{expr} == '{text}'"),
            Scalar::OneOf(texts) => {
                let list: Vec<String> = texts.iter().map(|t| format!("'{t}'")).collect();
                format!("{expr} in [{}]", list.join(", "))
            }
        }
    }

    fn matches(self, value: &Value) -> bool {
        match self {
            Scalar::False => value == &Value::Bool(false),
            Scalar::Str(text) => value.as_str() == Some(text),
            Scalar::OneOf(texts) => value.as_str().is_some_and(|v| texts.contains(&v)),
        }
    }

    fn describe(self) -> String {
        match self {
            Scalar::False => "false".to_owned(),
            Scalar::Str(text) => text.to_owned(),
            Scalar::OneOf(texts) => texts.join(" or "),
        }
    }
}

/// The values of an unsupported field that are accepted because they ask for nothing the operator does not do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Accepted {
    /// No value: the field must be absent.
    Nothing,
    /// `false`.
    False,
    /// `0`.
    Zero,
    /// An empty list or map.
    Empty,
    /// Exactly this string.
    Exactly(&'static str),
    /// An object whose fields in `fields` are absent or hold the given value, and whose `others` (the type's
    /// remaining fields, named for the CEL rule) are absent.
    Object {
        /// Fields that may be present with one value.
        fields: &'static [(&'static str, Scalar)],
        /// The type's other fields, which must be absent.
        others: &'static [&'static str],
    },
}

/// One field the operator does not support yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnsupportedField {
    /// The object the field belongs to.
    pub holder: Holder,
    /// The field's JSON name.
    pub field: &'static str,
    /// The values accepted anyway.
    pub accepted: Accepted,
    /// Why, when the field's name alone does not say what is missing; appended to the message in parentheses.
    pub note: Option<&'static str>,
}

const fn field(holder: Holder, field: &'static str, accepted: Accepted) -> UnsupportedField {
    UnsupportedField {
        holder,
        field,
        accepted,
        note: None,
    }
}

impl UnsupportedField {
    const fn because(self, note: &'static str) -> Self {
        UnsupportedField {
            note: Some(note),
            ..self
        }
    }
}

/// Every field of the API that the operator does not support yet. Delete an entry once the field is implemented.
pub const UNSUPPORTED_FIELDS: &[UnsupportedField] = &[
    // RayClusterSpec
    field(
        Holder::ClusterSpec,
        "historyServerOptions",
        Accepted::Nothing,
    ),
    field(Holder::ClusterSpec, "networkPolicy", Accepted::Nothing),
    field(
        Holder::ClusterSpec,
        "tlsOptions",
        Accepted::Object {
            fields: &[("enabled", Scalar::False)],
            others: &[],
        },
    ),
    // GcsFaultToleranceOptions: the Redis backend is implemented, the embedded one is not.
    field(
        Holder::GcsFaultToleranceOptions,
        "backend",
        Accepted::Exactly("redis"),
    )
    .because(
        "the embedded rocksdb backend is not implemented; keep the GCS data in an external Redis",
    ),
    field(
        Holder::GcsFaultToleranceOptions,
        "storage",
        Accepted::Nothing,
    )
    .because("it configures the embedded rocksdb backend, which is not implemented"),
    // RayServiceSpec: `NewCluster` and `None` are implemented, the incremental upgrade is not.
    field(
        Holder::ServiceSpec,
        "upgradeStrategy",
        Accepted::Object {
            fields: &[("type", Scalar::OneOf(&["NewCluster", "None"]))],
            others: &["clusterUpgradeOptions"],
        },
    )
    .because("NewClusterWithIncrementalUpgrade is not implemented"),
];

impl UnsupportedField {
    /// The field's name relative to its spec, such as `autoscalerOptions.version` or `workerGroupSpecs[].labels`.
    pub fn name(&self) -> String {
        format!("{}{}", self.holder.prefix(), self.field)
    }

    /// What the API server and the validation say about a rejected value.
    pub fn message(&self) -> String {
        let what_to_do = match self.accepted {
            Accepted::Nothing => "remove it".to_owned(),
            Accepted::False => "remove it or set it to false".to_owned(),
            Accepted::Zero => "remove it or set it to 0".to_owned(),
            Accepted::Empty => "remove it".to_owned(),
            Accepted::Exactly(value) => format!("remove it or set it to {value}"),
            Accepted::Object { fields, .. } => {
                let fields: Vec<String> = fields
                    .iter()
                    .map(|(name, value)| format!("{name}: {}", value.describe()))
                    .collect();
                format!("remove it, or keep only {}", fields.join(", "))
            }
        };
        let note = self
            .note
            .map(|note| format!(" ({note})"))
            .unwrap_or_default();
        format!(
            "{} is not supported by this operator yet: {what_to_do}{note}",
            self.name()
        )
    }

    /// The CEL rule, on the holder, that passes exactly for the accepted values.
    pub fn cel_rule(&self) -> String {
        let f = format!("self.{}", self.field);
        let absent = format!("!has({f})");
        let accepted = match self.accepted {
            Accepted::Nothing => return absent,
            Accepted::False => format!("!{f}"),
            Accepted::Zero => format!("{f} == 0"),
            Accepted::Empty => format!("size({f}) == 0"),
            Accepted::Exactly(value) => format!("{f} == '{value}'"),
            Accepted::Object { fields, others } => {
                let mut parts: Vec<String> = fields
                    .iter()
                    .map(|(name, value)| {
                        format!(
                            "(!has({f}.{name}) || {})",
                            value.cel_test(&format!("{f}.{name}"))
                        )
                    })
                    .collect();
                parts.extend(others.iter().map(|name| format!("!has({f}.{name})")));
                match parts.as_slice() {
                    [single] => single.clone(),
                    _ => format!("({})", parts.join(" && ")),
                }
            }
        };
        format!("{absent} || {accepted}")
    }

    /// The rule as an entry of `x-kubernetes-validations`, blaming the field itself.
    pub fn to_json(&self) -> Value {
        serde_json::json!({
            "rule": self.cel_rule(),
            "message": self.message(),
            "fieldPath": format!(".{}", self.field),
        })
    }

    /// Whether `value`, the field's JSON value, is accepted.
    pub fn accepts(&self, value: &Value) -> bool {
        match self.accepted {
            Accepted::Nothing => false,
            Accepted::False => value == &Value::Bool(false),
            Accepted::Zero => value.as_i64() == Some(0),
            Accepted::Empty => match value {
                Value::Array(items) => items.is_empty(),
                Value::Object(map) => map.is_empty(),
                _ => false,
            },
            Accepted::Exactly(expected) => value.as_str() == Some(expected),
            Accepted::Object { fields, .. } => value.as_object().is_some_and(|map| {
                map.iter().all(|(key, value)| {
                    fields
                        .iter()
                        .any(|(name, scalar)| name == key && scalar.matches(value))
                })
            }),
        }
    }
}

/// The unsupported fields of one holder.
pub fn fields_of(holder: Holder) -> impl Iterator<Item = &'static UnsupportedField> {
    UNSUPPORTED_FIELDS
        .iter()
        .filter(move |entry| entry.holder == holder)
}

/// Reports each unsupported field of `holder` that `object` (the holder's JSON) sets to a value not accepted.
fn check(holder: Holder, object: &Value, path: &str, errors: &mut Vec<FieldError>) {
    let Some(map) = object.as_object() else {
        return;
    };
    for entry in fields_of(holder) {
        if let Some(value) = map.get(entry.field)
            && !entry.accepts(value)
        {
            errors.push(FieldError::new(
                format!("{path}.{}", entry.field),
                entry.message(),
            ));
        }
    }
}

/// Checks a RayClusterSpec at `path`: the spec itself, its head group, its worker groups and its autoscaler options.
pub(crate) fn check_cluster_spec(spec: &RayClusterSpec, path: &str, errors: &mut Vec<FieldError>) {
    // The check works on the JSON the API server sees, so it agrees with the CEL rules by construction. Serializing
    // these types cannot fail (every map has string keys).
    let Ok(json) = serde_json::to_value(spec) else {
        return;
    };
    check(Holder::ClusterSpec, &json, path, errors);
    check(
        Holder::HeadGroup,
        &json["headGroupSpec"],
        &format!("{path}.headGroupSpec"),
        errors,
    );
    if let Some(groups) = json["workerGroupSpecs"].as_array() {
        for (index, group) in groups.iter().enumerate() {
            check(
                Holder::WorkerGroup,
                group,
                &format!("{path}.workerGroupSpecs[{index}]"),
                errors,
            );
        }
    }
    check(
        Holder::AutoscalerOptions,
        &json["autoscalerOptions"],
        &format!("{path}.autoscalerOptions"),
        errors,
    );
    check(
        Holder::GcsFaultToleranceOptions,
        &json["gcsFaultToleranceOptions"],
        &format!("{path}.gcsFaultToleranceOptions"),
        errors,
    );
}

/// Checks the RayService's own fields at `path` (its `rayClusterConfig` is checked with the cluster spec rules).
pub(crate) fn check_service_spec(spec: &RayServiceSpec, path: &str, errors: &mut Vec<FieldError>) {
    let Ok(json) = serde_json::to_value(spec) else {
        return;
    };
    check(Holder::ServiceSpec, &json, path, errors);
}
