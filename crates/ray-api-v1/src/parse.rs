//! Reading RayCluster, RayJob, RayService and RayCronJob manifests from YAML or JSON, with errors that name the
//! field.
//!
//! Plain `serde_json::from_value` says *what* is wrong (`invalid type: string "a", expected i32`) but not
//! *where*; in a 200-line manifest that is not enough. The functions here add the field's JSON path and, for broken
//! YAML, the line and column:
//!
//! ```
//! use ray_api_v1::parse::from_yaml_str;
//! use ray_api_v1::RayCluster;
//!
//! let manifest = r#"
//! apiVersion: ray.io/v1
//! kind: RayCluster
//! metadata:
//!   name: demo
//! spec:
//!   headGroupSpec:
//!     template:
//!       spec:
//!         containers: [{ name: ray-head, image: "rayproject/ray:2.9.0" }]
//!   workerGroupSpecs:
//!     - groupName: cpu
//!       replicas: many
//!       template:
//!         spec:
//!           containers: [{ name: ray-worker, image: "rayproject/ray:2.9.0" }]
//! "#;
//! let error = from_yaml_str::<RayCluster>(manifest).unwrap_err();
//! assert_eq!(
//!     error.to_string(),
//!     r#"spec.workerGroupSpecs[0].replicas: invalid type: string "many", expected i32"#
//! );
//! ```
//!
//! YAML is converted to JSON first, and its plain scalars are read the way `kubectl` reads them (kubectl uses
//! sigs.k8s.io/yaml, which follows YAML 1.1), so a value means the same here as after `kubectl apply`:
//!
//! - `defaultMode: 0777` is octal, 511 (YAML 1.2 would read the decimal-looking 777 as a float and fail);
//!   `0x1F` is 31, `0o17` is 15, `0b101` is 5;
//! - `yes`/`no`, `on`/`off` and `y`/`n` are booleans, like `true`/`false`;
//! - anything quoted stays a string: `"0777"`, `"yes"`, and `replicas: "3"`, which is rejected rather than silently
//!   converted.
//!
//! [`from_json_value`], [`from_yaml_str`] and [`RayObject::from_json_value`] ignore fields the types do not know, as
//! the API server prunes them. [`read_documents`] and [`ParsedObject`] list each one by path, so a tool can say
//! that a field would vanish (`ray-operator render` warns, and refuses with `--strict`).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::raycluster::RayCluster;
use crate::raycronjob::RayCronJob;
use crate::rayjob::RayJob;
use crate::rayservice::RayService;
use crate::validation::ValidationErrors;

/// Why a manifest could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// The text is not well-formed YAML (JSON is YAML too).
    #[error("{}", syntax_display(*.line, *.column, .message))]
    Syntax {
        /// The 1-based line of the problem, when known.
        line: Option<u64>,
        /// The 1-based column of the problem, when known.
        column: Option<u64>,
        /// What is wrong.
        message: String,
    },
    /// The document is well-formed, but a field does not fit the API: a wrong type, an unknown enum value, a
    /// missing required field, or an `apiVersion`/`kind` this crate does not read.
    #[error("{}", field_display(.path, .message))]
    Field {
        /// The field's JSON path, for example `spec.workerGroupSpecs[0].replicas`; empty for the document itself.
        path: String,
        /// What is wrong, for example `invalid type: string "a", expected i32`.
        message: String,
    },
    /// The problem is in one document of a multi-document YAML stream.
    #[error("document {}: {source}", .index + 1)]
    Document {
        /// The 0-based position of the document in the stream, counting only non-empty documents (the message
        /// counts from 1).
        index: usize,
        /// The problem in that document.
        source: Box<ParseError>,
    },
}

fn syntax_display(line: Option<u64>, column: Option<u64>, message: &str) -> String {
    match (line, column) {
        (Some(line), Some(column)) => format!("line {line}, column {column}: {message}"),
        (Some(line), None) => format!("line {line}: {message}"),
        _ => message.to_owned(),
    }
}

fn field_display(path: &str, message: &str) -> String {
    if path.is_empty() {
        message.to_owned()
    } else {
        format!("{path}: {message}")
    }
}

/// Deserializes a typed object (for example a [`RayCluster`]) from a JSON value, naming the field on error.
///
/// When the value has an `apiVersion` or `kind`, they must be the ones of `T` (`ray.io/v1` and, for example,
/// `RayCluster`); missing ones are accepted.
pub fn from_json_value<T>(value: Value) -> Result<T, ParseError>
where
    T: DeserializeOwned + kube::Resource<DynamicType = ()>,
{
    check_type_meta(&value, &T::api_version(&()), &T::kind(&()))?;
    limits::check_strings(&value)?;
    deserialize_tracked(value)
}

/// Deserializes a typed object from a YAML (or JSON) string holding exactly one document.
pub fn from_yaml_str<T>(text: &str) -> Result<T, ParseError>
where
    T: DeserializeOwned + kube::Resource<DynamicType = ()>,
{
    let mut documents = yaml_documents(text)?;
    match documents.len() {
        1 => from_json_value(documents.remove(0)),
        0 => Err(ParseError::Syntax {
            line: None,
            column: None,
            message: "the input holds no YAML document".into(),
        }),
        n => Err(ParseError::Syntax {
            line: None,
            column: None,
            message: format!(
                "expected one YAML document, found {n}; read multi-document files with `from_yaml_documents`"
            ),
        }),
    }
}

/// Reads every document of a YAML stream (documents separated by `---`) as a ray.io/v1 object of any kind.
///
/// Empty documents (for example after a trailing `---`) are skipped. An error names the document it is in. Every
/// document must be a ray.io/v1 object; to read files that mix in ConfigMaps and the like, use [`read_documents`].
pub fn from_yaml_documents(text: &str) -> Result<Vec<RayObject>, ParseError> {
    yaml_documents(text)?
        .into_iter()
        .enumerate()
        .map(|(index, value)| {
            RayObject::from_json_value(value).map_err(|source| ParseError::Document {
                index,
                source: Box::new(source),
            })
        })
        .collect()
}

/// A ray.io/v1 object of any of the four kinds, for tools that read whatever a file holds.
#[derive(Clone, Debug)]
#[allow(clippy::large_enum_variant)] // read once per manifest; unboxed variants keep matching simple
pub enum RayObject {
    /// A RayCluster.
    Cluster(RayCluster),
    /// A RayJob.
    Job(RayJob),
    /// A RayService.
    Service(RayService),
    /// A RayCronJob.
    CronJob(RayCronJob),
}

impl RayObject {
    /// Reads an object whose `apiVersion` is `ray.io/v1` and whose `kind` is RayCluster, RayJob, RayService or
    /// RayCronJob.
    ///
    /// Fields the types do not know are ignored; [`ParsedObject::from_json_value`] lists them.
    pub fn from_json_value(value: Value) -> Result<Self, ParseError> {
        ParsedObject::from_json_value(value).map(|parsed| parsed.object)
    }

    /// The object's kind: `RayCluster`, `RayJob`, `RayService` or `RayCronJob`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Cluster(_) => "RayCluster",
            Self::Job(_) => "RayJob",
            Self::Service(_) => "RayService",
            Self::CronJob(_) => "RayCronJob",
        }
    }

    /// The object's `metadata.name` (empty when it has none yet).
    pub fn name(&self) -> &str {
        self.metadata().name.as_deref().unwrap_or_default()
    }

    /// The object's metadata.
    pub fn metadata(&self) -> &ObjectMeta {
        match self {
            Self::Cluster(object) => &object.metadata,
            Self::Job(object) => &object.metadata,
            Self::Service(object) => &object.metadata,
            Self::CronJob(object) => &object.metadata,
        }
    }

    /// The object's metadata, to change (for example to give a `generateName` object a name to show).
    pub fn metadata_mut(&mut self) -> &mut ObjectMeta {
        match self {
            Self::Cluster(object) => &mut object.metadata,
            Self::Job(object) => &mut object.metadata,
            Self::Service(object) => &mut object.metadata,
            Self::CronJob(object) => &mut object.metadata,
        }
    }

    /// Validates the object with the rules of its kind (see [`crate::validation`]).
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        match self {
            Self::Cluster(object) => crate::validation::validate_cluster(object),
            Self::Job(object) => crate::validation::validate_job(object),
            Self::Service(object) => crate::validation::validate_service(object),
            Self::CronJob(object) => crate::validation::validate_cron_job(object),
        }
    }
}

/// A ray.io/v1 object read from JSON, with the fields it had that the types do not know.
#[derive(Clone, Debug)]
pub struct ParsedObject {
    /// The object.
    pub object: RayObject,
    /// The JSON path of every field the types do not know, in document order, for example
    /// `spec.headGroupSpec.foo` or `spec.headGroupSpec.template.spec.containers[0].imagePullPolice`. Such fields
    /// are not in [`Self::object`]: the API server would prune them (or, with strict field validation, refuse them).
    pub unknown_fields: Vec<String>,
}

impl ParsedObject {
    /// Reads an object whose `apiVersion` is `ray.io/v1` and whose `kind` is RayCluster, RayJob, RayService or
    /// RayCronJob, noting every field the types do not know (including those inside embedded Kubernetes types such as the pod
    /// template).
    pub fn from_json_value(value: Value) -> Result<Self, ParseError> {
        let api_version = value.get("apiVersion").and_then(Value::as_str);
        if api_version != Some(crate::API_VERSION) {
            return Err(ParseError::Field {
                path: "apiVersion".into(),
                message: match api_version {
                    Some(found) => format!("expected ray.io/v1, found \"{found}\""),
                    None => "expected ray.io/v1; set apiVersion: ray.io/v1".into(),
                },
            });
        }
        limits::check_strings(&value)?;
        let (object, unknown_fields) = match value.get("kind").and_then(Value::as_str) {
            Some("RayCluster") => {
                let (object, unknown) = deserialize_reporting_unknown(value)?;
                (RayObject::Cluster(object), unknown)
            }
            Some("RayJob") => {
                let (object, unknown) = deserialize_reporting_unknown(value)?;
                (RayObject::Job(object), unknown)
            }
            Some("RayService") => {
                let (object, unknown) = deserialize_reporting_unknown(value)?;
                (RayObject::Service(object), unknown)
            }
            Some("RayCronJob") => {
                let (object, unknown) = deserialize_reporting_unknown(value)?;
                (RayObject::CronJob(object), unknown)
            }
            found => {
                return Err(ParseError::Field {
                    path: "kind".into(),
                    message: match found {
                        Some(found) => format!(
                            "expected RayCluster, RayJob, RayService or RayCronJob, found \"{found}\": this \
                             operator does not implement {found}"
                        ),
                        None => {
                            "expected RayCluster, RayJob, RayService or RayCronJob; set kind".into()
                        }
                    },
                });
            }
        };
        Ok(Self {
            object,
            unknown_fields,
        })
    }

    /// One error per unknown field, each naming its path: for a warning, or for refusing the object.
    pub fn unknown_field_errors(&self) -> Vec<ParseError> {
        let kind = self.object.kind();
        self.unknown_fields
            .iter()
            .map(|path| ParseError::Field {
                path: path.clone(),
                message: format!(
                    "unknown field: {kind} has no such field, so the API server would drop it (or refuse it under \
                     strict field validation); check its spelling and indentation"
                ),
            })
            .collect()
    }

    /// The object when it has no unknown field, else an error for each: what an API server with strict field
    /// validation (`kubectl apply --validate=strict`) does.
    pub fn strict(self) -> Result<RayObject, Vec<ParseError>> {
        if self.unknown_fields.is_empty() {
            Ok(self.object)
        } else {
            Err(self.unknown_field_errors())
        }
    }
}

/// One document of a YAML stream, sorted by what it holds (see [`read_documents`]).
#[derive(Clone, Debug)]
#[allow(clippy::large_enum_variant)] // read once per document; unboxed variants keep matching simple
pub enum Document {
    /// A ray.io/v1 RayCluster, RayJob, RayService or RayCronJob.
    Ray(ParsedObject),
    /// A `ray.io/v1alpha1` object, as JSON. It is not converted here because the conversion lives in the
    /// `ray-api-v1alpha1` crate, which depends on this one: convert it with `ray_api_v1alpha1::convert(value,
    /// "ray.io/v1")` and read the result with [`ParsedObject::from_json_value`].
    V1alpha1 {
        /// The object's kind, as written.
        kind: String,
        /// The whole object.
        value: Value,
    },
    /// An object that is not in the ray.io group (a ConfigMap, an Ingress, a scheduler's Queue, ...). Files often
    /// keep these next to the Ray objects that use them; a tool reading Ray objects skips them.
    Other(OtherObject),
}

/// What a document that is not a Ray object is, to say which one was skipped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OtherObject {
    /// Its `apiVersion`, for example `v1` or `networking.k8s.io/v1`.
    pub api_version: String,
    /// Its `kind`, for example `ConfigMap`.
    pub kind: String,
    /// Its `metadata.name` (or, failing that, `metadata.generateName`), when it has one.
    pub name: Option<String>,
}

/// `ConfigMap v1 "name"`.
impl std::fmt::Display for OtherObject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.kind, self.api_version)?;
        if let Some(name) = &self.name {
            write!(f, " \"{name}\"")?;
        }
        Ok(())
    }
}

impl Document {
    /// Sorts one JSON document: a ray.io/v1 object is read (with its unknown fields), a v1alpha1 one is handed back
    /// for conversion, and an object of another group is described for skipping.
    ///
    /// Errors: a document that is not a mapping, or has no `apiVersion` or `kind`; a ray.io version other than v1
    /// and v1alpha1; a ray.io kind this crate does not know (such as RayBatch); and any field error in a
    /// ray.io/v1 object.
    pub fn from_json_value(value: Value) -> Result<Self, ParseError> {
        let Value::Object(map) = &value else {
            return Err(ParseError::Field {
                path: String::new(),
                message: format!(
                    "expected a Kubernetes object (a mapping with apiVersion and kind), found {}",
                    json_type(&value)
                ),
            });
        };
        let text = |field: &str| match map.get(field) {
            Some(Value::String(text)) if !text.is_empty() => Ok(text.clone()),
            None | Some(Value::Null) => Err(ParseError::Field {
                path: field.into(),
                message: format!(
                    "missing: every document needs apiVersion and kind (ray.io/v1 and RayCluster, RayJob, \
                     RayService or RayCronJob for Ray objects); set {field}"
                ),
            }),
            Some(other) => Err(ParseError::Field {
                path: field.into(),
                message: format!("expected a non-empty string, found {}", json_type(other)),
            }),
        };
        let kind = text("kind")?;
        let api_version = text("apiVersion")?;
        let group = api_version.split_once('/').map(|(group, _)| group);
        if api_version == crate::API_VERSION {
            return ParsedObject::from_json_value(value).map(Self::Ray);
        }
        if api_version == "ray.io/v1alpha1" {
            return Ok(Self::V1alpha1 { kind, value });
        }
        if group == Some(crate::GROUP) {
            return Err(ParseError::Field {
                path: "apiVersion".into(),
                message: format!(
                    "\"{api_version}\" is not a version of ray.io this operator reads; use ray.io/v1 (or the \
                     deprecated ray.io/v1alpha1)"
                ),
            });
        }
        let metadata = map.get("metadata");
        let name = ["name", "generateName"]
            .into_iter()
            .find_map(|field| metadata?.get(field)?.as_str())
            .map(str::to_owned);
        Ok(Self::Other(OtherObject {
            api_version,
            kind,
            name,
        }))
    }
}

/// Reads every document of a YAML stream, the way a tool that renders or checks Ray manifests needs them: files
/// as users write them also hold ConfigMaps, Ingresses or a scheduler's Queue, and those are sorted out here
/// instead of failing the whole file.
///
/// The outer error is for text that is not YAML at all (or breaks a [`limits`] bound); then no document is read.
/// Otherwise there is one entry per non-empty document, in order (entry `i` is document `i + 1`), each the
/// [`Document`] or the problem with that document alone.
pub fn read_documents(text: &str) -> Result<Vec<Result<Document, ParseError>>, ParseError> {
    Ok(yaml_stream(text)?
        .into_iter()
        .map(Document::from_json_value)
        .collect())
}

/// Parses every non-empty document of a YAML stream into JSON values, within [`limits`] and with the scalar rules
/// of `kubectl` (see the module documentation); sort each with [`Document::from_json_value`]. For a tool that
/// wants the JSON of a document too, for example to name it in messages.
pub fn yaml_stream(text: &str) -> Result<Vec<Value>, ParseError> {
    yaml_documents(text)
}

/// Deserializes `value` as `T` like [`from_json_value`] does (an error names the field), and lists the JSON path of
/// every field `T` does not know. For types of other crates too, for example the v1alpha1 types before a
/// conversion (which drops such fields).
///
/// The top-level `apiVersion` and `kind` are never listed: the types kube derives for custom resources read them
/// without keeping them, and the callers check them by value.
pub fn deserialize_reporting_unknown<T: DeserializeOwned>(
    value: Value,
) -> Result<(T, Vec<String>), ParseError> {
    let mut unknown = Vec::new();
    let mut note = |path: serde_ignored::Path<'_>| {
        let path = json_path(&path);
        if path != "apiVersion" && path != "kind" {
            unknown.push(path);
        }
    };
    let result = deserialize_tracked(serde_ignored::Deserializer::new(value, &mut note));
    result.map(|object| (object, unknown))
}

/// `spec.workerGroupSpecs[0].foo`, the path style of `serde_path_to_error` and of validation errors.
fn json_path(path: &serde_ignored::Path<'_>) -> String {
    fn walk(path: &serde_ignored::Path<'_>, out: &mut String) {
        use serde_ignored::Path;
        match path {
            Path::Root => {}
            Path::Seq { parent, index } => {
                walk(parent, out);
                out.push_str(&format!("[{index}]"));
            }
            Path::Map { parent, key } => {
                walk(parent, out);
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key);
            }
            Path::Some { parent }
            | Path::NewtypeStruct { parent }
            | Path::NewtypeVariant { parent } => walk(parent, out),
        }
    }
    let mut out = String::new();
    walk(path, &mut out);
    out
}

/// `a list`, `a string`, ... for messages about a value of the wrong type.
fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

/// Rejects a value whose `apiVersion` or `kind` (when present) are not the expected ones.
fn check_type_meta(value: &Value, api_version: &str, kind: &str) -> Result<(), ParseError> {
    for (field, expected) in [("apiVersion", api_version), ("kind", kind)] {
        match value.get(field) {
            None => {}
            Some(Value::String(found)) if found == expected => {}
            Some(found) => {
                return Err(ParseError::Field {
                    path: field.into(),
                    message: format!("expected \"{expected}\", found {found}"),
                });
            }
        }
    }
    Ok(())
}

/// Deserializes `value`, recording the path of the field where it fails.
fn deserialize_tracked<'de, T, D>(value: D) -> Result<T, ParseError>
where
    T: serde::Deserialize<'de>,
    D: serde::Deserializer<'de>,
    D::Error: std::fmt::Display,
{
    serde_path_to_error::deserialize(value).map_err(|error| {
        let path = error.path().to_string();
        ParseError::Field {
            // serde_path_to_error prints the document itself as ".".
            path: if path == "." { String::new() } else { path },
            message: error.into_inner().to_string(),
        }
    })
}

/// Parses every non-empty document of a YAML stream into JSON values, within [`limits`].
fn yaml_documents(text: &str) -> Result<Vec<Value>, ParseError> {
    if text.len() > limits::MAX_YAML_BYTES {
        return Err(ParseError::Syntax {
            line: None,
            column: None,
            message: format!(
                "the YAML is {} bytes, more than the {} bytes read at most; split it into smaller files",
                text.len(),
                limits::MAX_YAML_BYTES
            ),
        });
    }
    let documents: Vec<Value> =
        serde_saphyr::from_multiple_with_options(text, limits::yaml_options())
            .map_err(syntax_error)?;
    let documents: Vec<Value> = documents.into_iter().filter(|doc| !doc.is_null()).collect();
    for (index, document) in documents.iter().enumerate() {
        limits::check_strings(document).map_err(|error| {
            if documents.len() > 1 {
                ParseError::Document {
                    index,
                    source: Box::new(error),
                }
            } else {
                error
            }
        })?;
    }
    Ok(documents)
}

/// Parses one YAML document (such as the text of `serveConfigV2` or `runtimeEnvYAML`) into a JSON value, within
/// the same [`limits`] as manifests; `None` when the document is empty (or `null`).
///
/// Everything in the operator that reads YAML out of a string field goes through here, so a YAML bomb hidden in a
/// field is refused the same way as one in a manifest.
pub fn yaml_value(text: &str) -> Result<Option<Value>, ParseError> {
    yaml_to_json(text)
}

/// Parses one YAML document into a JSON value; `None` when the document is empty (or `null`).
pub(crate) fn yaml_to_json(text: &str) -> Result<Option<Value>, ParseError> {
    let mut documents = yaml_documents(text)?;
    match documents.len() {
        0 => Ok(None),
        1 => Ok(Some(documents.remove(0))),
        n => Err(ParseError::Syntax {
            line: None,
            column: None,
            message: format!("expected one YAML document, found {n} (separated by `---`)"),
        }),
    }
}

fn syntax_error(error: serde_saphyr::Error) -> ParseError {
    let location = error.location();
    let mut message = error
        .without_snippet()
        .render_with_formatter(&serde_saphyr::UserMessageFormatter);
    // The message ends with its location, which `ParseError` prints in front instead.
    if let Some(location) = location {
        let suffix = format!(" at line {}, column {}", location.line(), location.column());
        if let Some(stripped) = message.strip_suffix(&suffix) {
            message = stripped.to_owned();
        }
    }
    ParseError::Syntax {
        line: location.map(|l| l.line()),
        column: location.map(|l| l.column()),
        message,
    }
}

/// The sizes the parser accepts, in one place: what a Kubernetes API server could ever hand the operator, with room
/// to spare, and no more. Anything larger is an error that says which limit (and, for strings, which field), never
/// a panic, a stack overflow or an out-of-memory kill.
pub mod limits {
    use serde_json::Value;

    use super::ParseError;

    /// The largest request body the Kubernetes API server accepts for one object (3 MiB); etcd stores at most
    /// 1.5 MiB per object by default. No string in a stored object can be longer than this.
    pub const MAX_OBJECT_BYTES: usize = 3 * 1024 * 1024;

    /// The longest string value accepted anywhere in a manifest: [`MAX_OBJECT_BYTES`].
    pub const MAX_STRING_BYTES: usize = MAX_OBJECT_BYTES;

    /// The largest YAML text (a whole multi-document stream, or one string field holding YAML) read at once.
    pub const MAX_YAML_BYTES: usize = 32 * 1024 * 1024;

    /// The deepest nesting of mappings and lists in YAML. A Kubernetes manifest nests about 15 levels deep (an
    /// affinity term inside a pod template inside a worker group); deeper input is refused before it can
    /// overflow the stack.
    pub const MAX_YAML_DEPTH: usize = 64;

    /// The deepest nesting in JSON (webhook requests): serde_json's fixed recursion limit.
    pub const MAX_JSON_DEPTH: usize = 128;

    /// The most YAML nodes (mappings, lists and scalars) in one YAML text; a 3 MiB object of short fields has
    /// about 150,000.
    pub const MAX_YAML_NODES: usize = 500_000;

    /// The most parser events in one YAML text (each node is one or two events).
    pub const MAX_YAML_EVENTS: usize = 1_000_000;

    /// The most events that aliases (`*name`) may replay in one YAML text. Manifests rarely use aliases at all;
    /// this is what stops a "billion laughs" alias bomb, which expands a few lines into billions of nodes.
    pub const MAX_YAML_ALIAS_EVENTS: usize = 100_000;

    /// The largest `AdmissionReview` the webhook reads: the object (at most [`MAX_OBJECT_BYTES`] as the API server
    /// accepts it), the old object of an update, and room for the review around them.
    pub const MAX_ADMISSION_REVIEW_BYTES: usize = 2 * MAX_OBJECT_BYTES + 1024 * 1024;

    /// The largest `ConversionReview` the webhook reads. The API server converts a whole list in one review (a
    /// `kubectl get rayclusters -A` through the other version), so this is far more than one object.
    pub const MAX_CONVERSION_REVIEW_BYTES: usize = 64 * 1024 * 1024;

    /// The most YAML documents in one stream.
    pub const MAX_YAML_DOCUMENTS: usize = 1_024;

    /// The parser options with every limit above.
    pub(crate) fn yaml_options() -> serde_saphyr::Options {
        serde_saphyr::options! {
            budget: serde_saphyr::budget! {
                max_depth: MAX_YAML_DEPTH,
                max_nodes: MAX_YAML_NODES,
                max_events: MAX_YAML_EVENTS,
                max_documents: MAX_YAML_DOCUMENTS,
                max_total_scalar_bytes: MAX_YAML_BYTES,
                max_reader_input_bytes: Some(MAX_YAML_BYTES),
            },
            alias_limits: serde_saphyr::alias_limits! {
                max_total_replayed_events: MAX_YAML_ALIAS_EVENTS,
            },
            // Plain scalars as kubectl (sigs.k8s.io/yaml, YAML 1.1) reads them: `0777` is octal 511, not the
            // float 777.0 of YAML 1.2. YAML 1.1 booleans (`yes`, `off`, ...) are serde-saphyr's default already.
            legacy_octal_numbers: true,
            strict_booleans: false,
        }
    }

    /// Refuses a string longer than [`MAX_STRING_BYTES`], naming its field.
    pub fn check_strings(value: &Value) -> Result<(), ParseError> {
        let mut path = Vec::new();
        walk(value, &mut path)
    }

    enum Segment<'a> {
        Key(&'a str),
        Index(usize),
    }

    fn walk<'a>(value: &'a Value, path: &mut Vec<Segment<'a>>) -> Result<(), ParseError> {
        match value {
            Value::String(text) if text.len() > MAX_STRING_BYTES => Err(ParseError::Field {
                path: display(path),
                message: format!(
                    "the value is {} bytes long, more than the {MAX_STRING_BYTES} bytes Kubernetes accepts for a \
                     whole object; keep large data in a ConfigMap, a volume or the image",
                    text.len()
                ),
            }),
            Value::Array(items) => {
                for (index, item) in items.iter().enumerate() {
                    path.push(Segment::Index(index));
                    walk(item, path)?;
                    path.pop();
                }
                Ok(())
            }
            Value::Object(map) => {
                for (key, item) in map {
                    path.push(Segment::Key(key));
                    walk(item, path)?;
                    path.pop();
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// `spec.workerGroupSpecs[0].rayStartParams.num-cpus`, like `serde_path_to_error`.
    fn display(path: &[Segment<'_>]) -> String {
        let mut text = String::new();
        for segment in path {
            match segment {
                Segment::Key(key) => {
                    if !text.is_empty() {
                        text.push('.');
                    }
                    text.push_str(key);
                }
                Segment::Index(index) => text.push_str(&format!("[{index}]")),
            }
        }
        text
    }
}
