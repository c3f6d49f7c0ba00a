//! Reading a manifest file into the type its `apiVersion` and `kind` name.

use std::path::{Path, PathBuf};

use ray_api_v1::RayObject;
use ray_api_v1::parse::{ParseError, from_yaml_str};
use ray_api_v1::validation::ValidationErrors;
use serde::Deserialize;

/// A sample manifest, read into the Rust type its `apiVersion` and `kind` name.
///
/// The objects are boxed because a RayJob or RayService embeds whole pod templates and is large. Compare two
/// manifests with [`Manifest::to_json`].
#[derive(Clone, Debug)]
pub enum Manifest {
    /// A `ray.io/v1` RayCluster.
    RayCluster(Box<ray_api_v1::RayCluster>),
    /// A `ray.io/v1` RayJob.
    RayJob(Box<ray_api_v1::RayJob>),
    /// A `ray.io/v1` RayService.
    RayService(Box<ray_api_v1::RayService>),
    /// A `ray.io/v1` RayCronJob (it has no v1alpha1 version).
    RayCronJob(Box<ray_api_v1::RayCronJob>),
    /// A deprecated `ray.io/v1alpha1` RayCluster.
    RayClusterV1alpha1(Box<ray_api_v1alpha1::RayCluster>),
    /// A deprecated `ray.io/v1alpha1` RayJob.
    RayJobV1alpha1(Box<ray_api_v1alpha1::RayJob>),
    /// A deprecated `ray.io/v1alpha1` RayService.
    RayServiceV1alpha1(Box<ray_api_v1alpha1::RayService>),
}

/// Why a manifest could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// The file could not be read from disk.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The text is not YAML. The message names the line and column.
    #[error("{origin}: {source}")]
    Yaml {
        /// The file, or `<input>` for text that did not come from a file.
        origin: String,
        /// The YAML parser's error, with its location (boxed: it is large).
        source: Box<serde_saphyr::Error>,
    },
    /// The YAML does not fit the type its `apiVersion` and `kind` name: a wrong type, an unknown enum value or a
    /// missing required field. The message starts with the field's path, such as `spec.submissionMode`.
    #[error("{origin}: {source}")]
    Parse {
        /// The file, or `<input>` for text that did not come from a file.
        origin: String,
        /// What is wrong, and where.
        source: ParseError,
    },
    /// The object is not one of the kinds this project serves.
    #[error(
        "{origin}: `apiVersion: {api_version}` with `kind: {kind}` is not a kind of this project; \
         use apiVersion ray.io/v1 (or the deprecated ray.io/v1alpha1) with kind RayCluster, RayJob or RayService, \
         or ray.io/v1 with kind RayCronJob"
    )]
    UnknownKind {
        /// The file, or `<input>` for text that did not come from a file.
        origin: String,
        /// The manifest's `apiVersion` (empty when missing).
        api_version: String,
        /// The manifest's `kind` (empty when missing).
        kind: String,
    },
}

/// Just the fields that say which type a manifest is.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TypeMeta {
    #[serde(default)]
    api_version: String,
    #[serde(default)]
    kind: String,
}

impl Manifest {
    /// Reads one YAML document into the type its `apiVersion` and `kind` name.
    pub fn from_yaml(yaml: &str) -> Result<Self, ManifestError> {
        Self::parse(yaml, "<input>")
    }

    fn parse(yaml: &str, origin: &str) -> Result<Self, ManifestError> {
        let meta: TypeMeta =
            serde_saphyr::from_str(yaml).map_err(|source| ManifestError::Yaml {
                origin: origin.to_owned(),
                source: Box::new(source),
            })?;
        let parse_error = |source| ManifestError::Parse {
            origin: origin.to_owned(),
            source,
        };
        let manifest = match (meta.api_version.as_str(), meta.kind.as_str()) {
            ("ray.io/v1", "RayCluster") => {
                Self::RayCluster(Box::new(from_yaml_str(yaml).map_err(parse_error)?))
            }
            ("ray.io/v1", "RayJob") => {
                Self::RayJob(Box::new(from_yaml_str(yaml).map_err(parse_error)?))
            }
            ("ray.io/v1", "RayService") => {
                Self::RayService(Box::new(from_yaml_str(yaml).map_err(parse_error)?))
            }
            ("ray.io/v1", "RayCronJob") => {
                Self::RayCronJob(Box::new(from_yaml_str(yaml).map_err(parse_error)?))
            }
            ("ray.io/v1alpha1", "RayCluster") => {
                Self::RayClusterV1alpha1(Box::new(from_yaml_str(yaml).map_err(parse_error)?))
            }
            ("ray.io/v1alpha1", "RayJob") => {
                Self::RayJobV1alpha1(Box::new(from_yaml_str(yaml).map_err(parse_error)?))
            }
            ("ray.io/v1alpha1", "RayService") => {
                Self::RayServiceV1alpha1(Box::new(from_yaml_str(yaml).map_err(parse_error)?))
            }
            _ => {
                return Err(ManifestError::UnknownKind {
                    origin: origin.to_owned(),
                    api_version: meta.api_version,
                    kind: meta.kind,
                });
            }
        };
        Ok(manifest)
    }

    /// Reads a manifest file.
    pub fn read(path: &Path) -> Result<Self, ManifestError> {
        let yaml = std::fs::read_to_string(path).map_err(|source| ManifestError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&yaml, &path.display().to_string())
    }

    /// The manifest's `apiVersion`.
    pub fn api_version(&self) -> &'static str {
        match self {
            Self::RayCluster(_) | Self::RayJob(_) | Self::RayService(_) | Self::RayCronJob(_) => {
                "ray.io/v1"
            }
            Self::RayClusterV1alpha1(_) | Self::RayJobV1alpha1(_) | Self::RayServiceV1alpha1(_) => {
                "ray.io/v1alpha1"
            }
        }
    }

    /// The manifest's `kind`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::RayCluster(_) | Self::RayClusterV1alpha1(_) => "RayCluster",
            Self::RayJob(_) | Self::RayJobV1alpha1(_) => "RayJob",
            Self::RayService(_) | Self::RayServiceV1alpha1(_) => "RayService",
            Self::RayCronJob(_) => "RayCronJob",
        }
    }

    /// The object as the JSON the API server would receive.
    pub fn to_json(&self) -> Result<serde_json::Value, serde_json::Error> {
        match self {
            Self::RayCluster(object) => serde_json::to_value(object),
            Self::RayJob(object) => serde_json::to_value(object),
            Self::RayService(object) => serde_json::to_value(object),
            Self::RayCronJob(object) => serde_json::to_value(object),
            Self::RayClusterV1alpha1(object) => serde_json::to_value(object),
            Self::RayJobV1alpha1(object) => serde_json::to_value(object),
            Self::RayServiceV1alpha1(object) => serde_json::to_value(object),
        }
    }

    /// The object as `ray.io/v1`; a v1alpha1 object is converted with `ray_api_v1alpha1`'s lossless conversion.
    pub fn to_v1(&self) -> RayObject {
        match self {
            Self::RayCluster(object) => RayObject::Cluster((**object).clone()),
            Self::RayJob(object) => RayObject::Job((**object).clone()),
            Self::RayService(object) => RayObject::Service((**object).clone()),
            Self::RayCronJob(object) => RayObject::CronJob((**object).clone()),
            Self::RayClusterV1alpha1(object) => RayObject::Cluster((**object).clone().into()),
            Self::RayJobV1alpha1(object) => RayObject::Job((**object).clone().into()),
            Self::RayServiceV1alpha1(object) => RayObject::Service((**object).clone().into()),
        }
    }

    /// Validates the object with the `ray.io/v1` rules of its kind (a v1alpha1 object after [`Manifest::to_v1`]).
    /// Every error names the field's path, such as `spec.workerGroupSpecs[0].minReplicas`.
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        self.to_v1().validate()
    }
}

/// The `examples/` directory of this repository.
pub fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every sample manifest (`*.yaml`) under `examples/`, sorted, including `examples/v1alpha1/`. The intentionally
/// invalid manifests under `examples/tests/` are not samples and are left out.
pub fn manifest_paths() -> Result<Vec<PathBuf>, ManifestError> {
    let mut paths = Vec::new();
    collect_yaml(&manifest_dir(), &mut paths)?;
    paths.sort();
    Ok(paths)
}

fn collect_yaml(dir: &Path, paths: &mut Vec<PathBuf>) -> Result<(), ManifestError> {
    let read_error = |source| ManifestError::Read {
        path: dir.to_owned(),
        source,
    };
    for entry in std::fs::read_dir(dir).map_err(read_error)? {
        let path = entry.map_err(read_error)?.path();
        if path.is_dir() {
            let skipped = matches!(
                path.file_name().and_then(|name| name.to_str()),
                Some("tests" | "target" | "src")
            );
            if !skipped {
                collect_yaml(&path, paths)?;
            }
        } else if path
            .extension()
            .is_some_and(|extension| extension == "yaml" || extension == "yml")
        {
            paths.push(path);
        }
    }
    Ok(())
}

/// Reads the sample manifest `name`, a path relative to `examples/` such as `ray-job.sample.yaml` or
/// `v1alpha1/ray-cluster.yaml`.
pub fn load(name: &str) -> Result<Manifest, ManifestError> {
    Manifest::read(&manifest_dir().join(name))
}
