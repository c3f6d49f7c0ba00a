//! Reading RayCluster, RayJob and RayService manifests from YAML or JSON, with errors that name the field.
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
//! YAML is read as YAML 1.2 and converted to JSON first, the way `kubectl` does, so a value means the same here as
//! after `kubectl apply` (for example `replicas: "3"` is a string and rejected, not silently converted). Unknown
//! fields are ignored, as the API server prunes them.

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::raycluster::RayCluster;
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
/// Empty documents (for example after a trailing `---`) are skipped. An error names the document it is in.
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

/// A ray.io/v1 object of any of the three kinds, for tools that read whatever a file holds.
#[derive(Clone, Debug)]
#[allow(clippy::large_enum_variant)] // read once per manifest; unboxed variants keep matching simple
pub enum RayObject {
    /// A RayCluster.
    Cluster(RayCluster),
    /// A RayJob.
    Job(RayJob),
    /// A RayService.
    Service(RayService),
}

impl RayObject {
    /// Reads an object whose `apiVersion` is `ray.io/v1` and whose `kind` is RayCluster, RayJob or RayService.
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
        match value.get("kind").and_then(Value::as_str) {
            Some("RayCluster") => deserialize_tracked(value).map(Self::Cluster),
            Some("RayJob") => deserialize_tracked(value).map(Self::Job),
            Some("RayService") => deserialize_tracked(value).map(Self::Service),
            found => Err(ParseError::Field {
                path: "kind".into(),
                message: match found {
                    Some(found) => {
                        format!("expected RayCluster, RayJob or RayService, found \"{found}\"")
                    }
                    None => "expected RayCluster, RayJob or RayService; set kind".into(),
                },
            }),
        }
    }

    /// The object's kind: `RayCluster`, `RayJob` or `RayService`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Cluster(_) => "RayCluster",
            Self::Job(_) => "RayJob",
            Self::Service(_) => "RayService",
        }
    }

    /// The object's `metadata.name` (empty when it has none yet).
    pub fn name(&self) -> &str {
        let metadata = match self {
            Self::Cluster(object) => &object.metadata,
            Self::Job(object) => &object.metadata,
            Self::Service(object) => &object.metadata,
        };
        metadata.name.as_deref().unwrap_or_default()
    }

    /// Validates the object with the rules of its kind (see [`crate::validation`]).
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        match self {
            Self::Cluster(object) => crate::validation::validate_cluster(object),
            Self::Job(object) => crate::validation::validate_job(object),
            Self::Service(object) => crate::validation::validate_service(object),
        }
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
fn deserialize_tracked<T: DeserializeOwned>(value: Value) -> Result<T, ParseError> {
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
