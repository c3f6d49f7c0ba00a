//! Conversion between `ray.io/v1alpha1` and `ray.io/v1` that loses nothing.
//!
//! # Whole objects
//!
//! [`RayCluster`], [`RayJob`] and [`RayService`] convert both ways with `From`/`Into`:
//!
//! - **v1 → v1alpha1** keeps every v1 value that v1alpha1 cannot hold (`numOfHosts`, `activeDeadlineSeconds`,
//!   `submissionMode`, `submitterConfig`, status `conditions`, `reason`, the head's pod and Service names, an unset
//!   `entrypoint`, ...) in the annotation [`V1_PRESERVED_FIELDS_ANNOTATION`] of the v1alpha1 object.
//! - **v1alpha1 → v1** puts those values back and removes the annotation. Values that only v1alpha1 has (the state
//!   `unhealthy`, `healthLastUpdateTime`) travel the other way, in [`V1ALPHA1_PRESERVED_FIELDS_ANNOTATION`] on the
//!   v1 object, and come back when it is read as v1alpha1 again.
//!
//! So v1 → v1alpha1 → v1 and v1alpha1 → v1 → v1alpha1 both give back the object they started from.
//!
//! The annotation holds a compact JSON list of entries `{"path": ..., "value": ..., "shown": ...}`; the `path`
//! names a field of `spec` or `status` (worker groups by `groupName=<name>`), `value` is what to put back (no
//! `value`: remove the field) and `shown` is what the other version showed there (no `shown`: nothing). Entries
//! only ever fill in what the other version could not say:
//!
//! - A field a user changed through the other version keeps the user's value: an entry applies only while the
//!   field still shows what it showed when the annotation was written.
//! - Worker groups are matched by `groupName`, never by position: removing a group drops its preserved values,
//!   reordering groups keeps them with the right group, and a renamed group is a new group.
//! - An entry whose parent is gone (a removed `rayClusterSpec`, a removed status) is dropped, never resurrected.
//! - A malformed annotation (for example edited by hand) never fails a conversion through `From`: whatever cannot
//!   be used is ignored. [`StrictInto`] and [`convert_strict`] report it instead.
//!
//! Converting a spec or status on its own (`From<v1::RayClusterSpec> for RayClusterSpec`, ...) has nowhere to put
//! the annotation, so v1 → v1alpha1 drops what v1alpha1 cannot hold there; convert whole objects to keep it.
//!
//! # JSON objects
//!
//! [`convert`] converts a `serde_json::Value` holding any of the three kinds to a desired `apiVersion`, which is
//! what a Kubernetes conversion webhook does.
//!
//! ```
//! use ray_api_v1alpha1::conversion::{convert, V1_PRESERVED_FIELDS_ANNOTATION};
//! use serde_json::json;
//!
//! let v1 = json!({
//!     "apiVersion": "ray.io/v1",
//!     "kind": "RayJob",
//!     "metadata": { "name": "job" },
//!     "spec": { "entrypoint": "python main.py", "activeDeadlineSeconds": 600 }
//! });
//! let v1alpha1 = convert(v1.clone(), "ray.io/v1alpha1")?;
//! assert_eq!(v1alpha1["apiVersion"], "ray.io/v1alpha1");
//! assert!(v1alpha1["spec"].get("activeDeadlineSeconds").is_none());
//! assert!(v1alpha1["metadata"]["annotations"][V1_PRESERVED_FIELDS_ANNOTATION].is_string());
//! assert_eq!(convert(v1alpha1, "ray.io/v1")?, v1);
//! # Ok::<(), ray_api_v1alpha1::conversion::ConversionError>(())
//! ```

mod preserved;
mod raycluster;
mod rayjob;
mod rayservice;

use std::collections::BTreeMap;

use kube::Resource;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::{RayCluster, RayJob, RayService};
use preserved::Outcome;

/// The annotation on a `ray.io/v1alpha1` object that holds the `ray.io/v1` values v1alpha1 cannot express, so
/// that they come back when the object is read or written as v1 again.
pub const V1_PRESERVED_FIELDS_ANNOTATION: &str = "ray.io/v1-preserved-fields";

/// The annotation on a `ray.io/v1` object that holds the `ray.io/v1alpha1` values v1 cannot express (the state
/// `unhealthy`, `healthLastUpdateTime`), so that they come back when the object is read as v1alpha1 again.
pub const V1ALPHA1_PRESERVED_FIELDS_ANNOTATION: &str = "ray.io/v1alpha1-preserved-fields";

/// The `apiVersion` of `ray.io/v1` objects.
pub const V1_API_VERSION: &str = "ray.io/v1";

/// Why an object could not be converted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConversionError {
    /// The object lacks `apiVersion` or `kind`, or it is not a string.
    #[error(
        "the object has no string `{field}`; a ray.io object needs `apiVersion: ray.io/v1` (or `ray.io/v1alpha1`) \
         and `kind: RayCluster`, `RayJob` or `RayService`"
    )]
    MissingField {
        /// `apiVersion` or `kind`.
        field: &'static str,
    },
    /// The object's `apiVersion`, or the version asked for, is not one of the two ray.io versions.
    #[error("{what} is `{found}`; only `ray.io/v1` and `ray.io/v1alpha1` can be converted")]
    UnsupportedApiVersion {
        /// Which version was wrong: "the object's `apiVersion`" or "the desired API version".
        what: &'static str,
        /// The version found.
        found: String,
    },
    /// The object's `kind` does not exist in both versions.
    #[error(
        "`kind` is `{found}`; only RayCluster, RayJob and RayService exist in both ray.io/v1 and ray.io/v1alpha1"
    )]
    UnsupportedKind {
        /// The kind found.
        found: String,
    },
    /// The object does not match its version's schema.
    #[error("this {api_version} {kind} is invalid at `{path}`: {message}")]
    InvalidObject {
        /// The object's `apiVersion`.
        api_version: String,
        /// The object's `kind`.
        kind: String,
        /// The JSON path of the offending field, such as `spec.workerGroupSpecs[0].replicas`.
        path: String,
        /// What is wrong with it.
        message: String,
    },
    /// A preserved-fields annotation could not be used (reported only by the strict conversions).
    #[error(
        "annotation `{annotation}` could not be used because {reason}; it is written by the conversion between \
         ray.io/v1 and ray.io/v1alpha1 and should not be edited: remove it (the values it preserved are then lost) \
         or restore its previous value"
    )]
    PreservedFields {
        /// The annotation's key.
        annotation: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The converted object could not be serialized (not expected to happen for objects that deserialized).
    #[error("the converted object could not be serialized: {0}")]
    Serialize(String),
}

/// A conversion that reports a preserved-fields annotation it could not use, where `From` silently ignores it.
///
/// ```
/// use ray_api_v1alpha1::conversion::{StrictInto, V1_PRESERVED_FIELDS_ANNOTATION};
///
/// let mut cluster = ray_api_v1alpha1::RayCluster::new("demo", Default::default());
/// cluster.metadata.annotations =
///     Some([(V1_PRESERVED_FIELDS_ANNOTATION.to_owned(), "garbage".to_owned())].into());
/// let strict: Result<ray_api_v1::RayCluster, _> = cluster.clone().strict_into();
/// assert!(strict.is_err());
/// let lenient: ray_api_v1::RayCluster = cluster.into();
/// assert_eq!(lenient.metadata.annotations, None);
/// ```
pub trait StrictInto<T> {
    /// Converts `self`, failing with [`ConversionError::PreservedFields`] if its preserved-fields annotation is
    /// malformed or holds a value that does not fit the target version.
    fn strict_into(self) -> Result<T, ConversionError>;
}

/// Both sides of one kind, and their lossy field-by-field conversions.
trait Kind: Sized {
    /// The kind's name.
    const KIND: &'static str;
    /// The `ray.io/v1` type.
    type V1: Resource + Serialize + DeserializeOwned + Clone;
    /// The `ray.io/v1alpha1` type.
    type V1alpha1: Resource + Serialize + DeserializeOwned + Clone;
    /// Field-by-field v1alpha1 → v1, metadata copied unchanged.
    fn to_v1(object: Self::V1alpha1) -> Self::V1;
    /// Field-by-field v1 → v1alpha1, metadata copied unchanged.
    fn to_v1alpha1(object: Self::V1) -> Self::V1alpha1;
}

/// The annotations that describe the two directions, from the point of view of one source object.
struct Direction {
    /// On the source: values of the target version the source could not hold; applied to the target.
    incoming: &'static str,
    /// On the target: values of the source version the target cannot hold.
    outgoing: &'static str,
}

const TO_V1: Direction = Direction {
    incoming: V1_PRESERVED_FIELDS_ANNOTATION,
    outgoing: V1ALPHA1_PRESERVED_FIELDS_ANNOTATION,
};
const TO_V1ALPHA1: Direction = Direction {
    incoming: V1ALPHA1_PRESERVED_FIELDS_ANNOTATION,
    outgoing: V1_PRESERVED_FIELDS_ANNOTATION,
};

/// Converts `source` with `forward`, restoring what `source` carried for the target version and recording what the
/// target cannot hold. Returns the target and, if the incoming annotation could not be (fully) used, why.
fn convert_preserving<S, T>(
    mut source: S,
    forward: fn(S) -> T,
    backward: fn(T) -> S,
    direction: &Direction,
) -> (T, Option<ConversionError>)
where
    S: Resource + Serialize + Clone,
    T: Resource + Serialize + DeserializeOwned + Clone,
{
    let incoming = take_annotation(source.meta_mut(), direction.incoming);
    // An outgoing annotation on the source is stale (it belongs on objects of the other version): drop it.
    take_annotation(source.meta_mut(), direction.outgoing);

    let original = preserved::body(&to_json(&source));
    let mut target = forward(source);
    let problem = incoming.and_then(|text| restore(&mut target, &text, direction.incoming).err());

    let shown = preserved::body(&to_json(&backward(target.clone())));
    let entries = preserved::diff(&original, &shown);
    if !entries.is_empty() {
        target
            .meta_mut()
            .annotations
            .get_or_insert_with(BTreeMap::new)
            .insert(direction.outgoing.to_owned(), preserved::render(&entries));
    }
    (target, problem)
}

/// Removes an annotation and returns its value; an annotation map left empty becomes absent.
fn take_annotation(
    meta: &mut k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
    key: &str,
) -> Option<String> {
    let annotations = meta.annotations.as_mut()?;
    let value = annotations.remove(key);
    if annotations.is_empty() {
        meta.annotations = None;
    }
    value
}

/// Serializes a typed object. Our types serialize to JSON objects with string keys, which cannot fail; should it
/// ever fail, the result is `null` and the conversion still completes without preserving anything.
fn to_json<T: Serialize>(object: &T) -> Value {
    serde_json::to_value(object).unwrap_or(Value::Null)
}

/// Applies a preserved-fields annotation to `target`. Entries that do not fit are left out; the error says why.
fn restore<T: Serialize + DeserializeOwned>(
    target: &mut T,
    text: &str,
    annotation: &'static str,
) -> Result<(), ConversionError> {
    let problem = |reason: String| ConversionError::PreservedFields { annotation, reason };
    let entries = preserved::parse(text).map_err(problem)?;
    let base = to_json(&*target);

    let mut all = base.clone();
    let mut malformed = None;
    for entry in &entries {
        if let Err(reason) = preserved::apply(&mut all, entry) {
            malformed.get_or_insert(reason);
        }
    }
    let first_misfit = match serde_path_to_error::deserialize::<_, T>(all) {
        Ok(restored) => {
            *target = restored;
            return malformed.map_or(Ok(()), |reason| Err(problem(reason)));
        }
        Err(error) => format!(
            "its value for `{}` does not fit: {}",
            error.path(),
            error.inner()
        ),
    };

    // Some entry does not fit the type: keep every entry that does, one at a time.
    let mut current = base;
    for entry in &entries {
        let mut trial = current.clone();
        if preserved::apply(&mut trial, entry) == Ok(Outcome::Applied)
            && let Ok(restored) = serde_json::from_value::<T>(trial.clone())
        {
            *target = restored;
            current = trial;
        }
    }
    Err(problem(first_misfit))
}

/// Converts a v1alpha1 object to v1, reporting an unusable preserved-fields annotation.
fn kind_to_v1<K: Kind>(object: K::V1alpha1) -> (K::V1, Option<ConversionError>) {
    convert_preserving(object, K::to_v1, K::to_v1alpha1, &TO_V1)
}

/// Converts a v1 object to v1alpha1, reporting an unusable preserved-fields annotation.
fn kind_to_v1alpha1<K: Kind>(object: K::V1) -> (K::V1alpha1, Option<ConversionError>) {
    convert_preserving(object, K::to_v1alpha1, K::to_v1, &TO_V1ALPHA1)
}

struct ClusterKind;
struct JobKind;
struct ServiceKind;

impl Kind for ClusterKind {
    const KIND: &'static str = "RayCluster";
    type V1 = ray_api_v1::RayCluster;
    type V1alpha1 = RayCluster;
    fn to_v1(object: RayCluster) -> ray_api_v1::RayCluster {
        ray_api_v1::RayCluster {
            metadata: object.metadata,
            spec: object.spec.into(),
            status: object.status.map(Into::into),
        }
    }
    fn to_v1alpha1(object: ray_api_v1::RayCluster) -> RayCluster {
        RayCluster {
            metadata: object.metadata,
            spec: object.spec.into(),
            status: object.status.map(Into::into),
        }
    }
}

impl Kind for JobKind {
    const KIND: &'static str = "RayJob";
    type V1 = ray_api_v1::RayJob;
    type V1alpha1 = RayJob;
    fn to_v1(object: RayJob) -> ray_api_v1::RayJob {
        ray_api_v1::RayJob {
            metadata: object.metadata,
            spec: object.spec.into(),
            status: object.status.map(Into::into),
        }
    }
    fn to_v1alpha1(object: ray_api_v1::RayJob) -> RayJob {
        RayJob {
            metadata: object.metadata,
            spec: object.spec.into(),
            status: object.status.map(Into::into),
        }
    }
}

impl Kind for ServiceKind {
    const KIND: &'static str = "RayService";
    type V1 = ray_api_v1::RayService;
    type V1alpha1 = RayService;
    fn to_v1(object: RayService) -> ray_api_v1::RayService {
        ray_api_v1::RayService {
            metadata: object.metadata,
            spec: object.spec.into(),
            status: object.status.map(Into::into),
        }
    }
    fn to_v1alpha1(object: ray_api_v1::RayService) -> RayService {
        RayService {
            metadata: object.metadata,
            spec: object.spec.into(),
            status: object.status.map(Into::into),
        }
    }
}

/// Implements `From` (lenient) and [`StrictInto`] in both directions for one kind.
macro_rules! conversions {
    ($kind:ty, $v1alpha1:ty, $v1:ty) => {
        /// Lossless: puts back every v1 value preserved in the `ray.io/v1-preserved-fields` annotation (and removes
        /// it), and keeps v1alpha1-only values in the `ray.io/v1alpha1-preserved-fields` annotation.
        impl From<$v1alpha1> for $v1 {
            fn from(object: $v1alpha1) -> Self {
                kind_to_v1::<$kind>(object).0
            }
        }

        /// Lossless: keeps every v1 value v1alpha1 cannot hold in the `ray.io/v1-preserved-fields` annotation, and
        /// puts back v1alpha1-only values preserved in `ray.io/v1alpha1-preserved-fields` (removing it).
        impl From<$v1> for $v1alpha1 {
            fn from(object: $v1) -> Self {
                kind_to_v1alpha1::<$kind>(object).0
            }
        }

        impl StrictInto<$v1> for $v1alpha1 {
            fn strict_into(self) -> Result<$v1, ConversionError> {
                match kind_to_v1::<$kind>(self) {
                    (_, Some(problem)) => Err(problem),
                    (object, None) => Ok(object),
                }
            }
        }

        impl StrictInto<$v1alpha1> for $v1 {
            fn strict_into(self) -> Result<$v1alpha1, ConversionError> {
                match kind_to_v1alpha1::<$kind>(self) {
                    (_, Some(problem)) => Err(problem),
                    (object, None) => Ok(object),
                }
            }
        }
    };
}

conversions!(ClusterKind, RayCluster, ray_api_v1::RayCluster);
conversions!(JobKind, RayJob, ray_api_v1::RayJob);
conversions!(ServiceKind, RayService, ray_api_v1::RayService);

/// Converts a RayCluster, RayJob or RayService given as JSON to `desired_api_version` (`ray.io/v1` or
/// `ray.io/v1alpha1`), preserving what the target version cannot hold in an annotation as described in the
/// [module documentation](self). An object already in the desired version is returned unchanged.
///
/// A preserved-fields annotation that cannot be used is ignored, so a hand-edited annotation never makes an object
/// unreadable; use [`convert_strict`] to be told about it.
///
/// # Errors
///
/// When the object has no `apiVersion` or `kind`, when either version is not a ray.io version, when the kind is
/// not RayCluster, RayJob or RayService, or when the object does not match its version's schema (the error names
/// the field).
pub fn convert(object: Value, desired_api_version: &str) -> Result<Value, ConversionError> {
    convert_json(object, desired_api_version, false)
}

/// Like [`convert`], but also fails when the object's preserved-fields annotation is malformed or holds a value
/// that does not fit the target version.
///
/// # Errors
///
/// As [`convert`], plus [`ConversionError::PreservedFields`].
pub fn convert_strict(object: Value, desired_api_version: &str) -> Result<Value, ConversionError> {
    convert_json(object, desired_api_version, true)
}

fn convert_json(object: Value, desired: &str, strict: bool) -> Result<Value, ConversionError> {
    let text_field = |field: &'static str| {
        object
            .get(field)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or(ConversionError::MissingField { field })
    };
    let api_version = text_field("apiVersion")?;
    let kind = text_field("kind")?;
    let to_v1 = match desired {
        V1_API_VERSION => true,
        crate::API_VERSION => false,
        other => {
            return Err(ConversionError::UnsupportedApiVersion {
                what: "the desired API version",
                found: other.to_owned(),
            });
        }
    };
    if api_version != V1_API_VERSION && api_version != crate::API_VERSION {
        return Err(ConversionError::UnsupportedApiVersion {
            what: "the object's `apiVersion`",
            found: api_version,
        });
    }
    let convert = match kind.as_str() {
        "RayCluster" => convert_kind::<ClusterKind>,
        "RayJob" => convert_kind::<JobKind>,
        "RayService" => convert_kind::<ServiceKind>,
        _ => return Err(ConversionError::UnsupportedKind { found: kind }),
    };
    if api_version == desired {
        return Ok(object);
    }
    let (converted, problem) = convert(object, &api_version, to_v1)?;
    match problem {
        Some(problem) if strict => Err(problem),
        _ => Ok(converted),
    }
}

/// Deserializes `object` as `K` in its version, converts it and serializes the result.
fn convert_kind<K: Kind>(
    object: Value,
    api_version: &str,
    to_v1: bool,
) -> Result<(Value, Option<ConversionError>), ConversionError> {
    fn parse<T: DeserializeOwned>(
        object: Value,
        api_version: &str,
        kind: &str,
    ) -> Result<T, ConversionError> {
        serde_path_to_error::deserialize(object).map_err(|error| ConversionError::InvalidObject {
            api_version: api_version.to_owned(),
            kind: kind.to_owned(),
            path: error.path().to_string(),
            message: error.inner().to_string(),
        })
    }
    let serialize = |value: Result<Value, serde_json::Error>| {
        value.map_err(|error| ConversionError::Serialize(error.to_string()))
    };
    if to_v1 {
        let (converted, problem) =
            kind_to_v1::<K>(parse::<K::V1alpha1>(object, api_version, K::KIND)?);
        Ok((serialize(serde_json::to_value(converted))?, problem))
    } else {
        let (converted, problem) =
            kind_to_v1alpha1::<K>(parse::<K::V1>(object, api_version, K::KIND)?);
        Ok((serialize(serde_json::to_value(converted))?, problem))
    }
}
