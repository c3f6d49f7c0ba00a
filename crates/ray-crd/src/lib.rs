//! The CustomResourceDefinitions of the ray.io kinds, as the API server receives them.
//!
//! One CRD per kind (`rayclusters.ray.io`, `rayjobs.ray.io`, `rayservices.ray.io`, `raycronjobs.ray.io`), each
//! serving `v1` (the storage version) and, except RayCronJob (which KubeRay introduced after v1alpha1), the
//! deprecated `v1alpha1`, with the `status` subresource, category `all`, KubeRay's printer columns and, by default,
//! no conversion webhook (both versions share their JSON field names, so the API server only rewrites
//! `apiVersion`). [`crds_with_conversion`] makes the same CRDs convert through the operator's webhook,
//! which keeps the fields only v1 has when an object is written back through v1alpha1 (see [`conversion`]).
//!
//! Every CRD stays below [`SIZE_BUDGET`] bytes of compact JSON, so that plain client-side `kubectl apply -f` works;
//! see [`shrink`] for how that is done without dropping anything a user writes. [`bounds`] adds the API server's
//! cheapest Pod and Service rules (an image is required, ports are in range) to the embedded Kubernetes types.
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let crds = ray_crd::crds()?;
//! assert_eq!(crds.len(), 4);
//! for crd in &crds {
//!     assert!(ray_crd::compact_json_size(crd)? < ray_crd::SIZE_BUDGET);
//! }
//! # Ok(()) }
//! ```

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceConversion, CustomResourceDefinition,
};
use kube::CustomResourceExt;
use serde_json::Value;

pub mod bounds;
#[cfg(feature = "cli")]
pub mod cli;
pub mod conversion;
pub mod path;
mod render;
pub mod shrink;

pub use conversion::{CONVERSION_PATH, ConversionWebhook, EndpointParseError, WebhookEndpoint};
pub use render::{CrdFile, HEADER};
pub use shrink::Level;

/// The largest CRD, in bytes of compact JSON, that client-side `kubectl apply` can store in its
/// `kubectl.kubernetes.io/last-applied-configuration` annotation (the API server's limit on the total size of an
/// object's annotations).
pub const SIZE_BUDGET: usize = 262_144;

/// The version every kind is stored in.
pub const STORAGE_VERSION: &str = "v1";

/// The deprecated version every kind still serves.
pub const DEPRECATED_VERSION: &str = "v1alpha1";

/// Everything that can go wrong while assembling the CRDs. None of these is caused by user input: each one means the
/// API types and this crate disagree, and is caught by this crate's tests.
#[derive(Debug, thiserror::Error)]
pub enum CrdError {
    /// The per-version CRDs of a kind could not be merged into one.
    #[error("merging the versions of the {kind} CRD: {source}")]
    Merge {
        /// The kind.
        kind: RayKind,
        /// What kube reported.
        #[source]
        source: kube::core::crd::MergeError,
    },
    /// A version of a kind has no schema to shrink.
    #[error("the {kind} CRD has no openAPIV3Schema for version {version}")]
    MissingSchema {
        /// The kind.
        kind: RayKind,
        /// The version without a schema.
        version: String,
    },
    /// The shrink table does not fit the generated schema.
    #[error("shrinking the {kind} CRD: {source}")]
    Shrink {
        /// The kind.
        kind: RayKind,
        /// The mismatch.
        #[source]
        source: shrink::ShrinkError,
    },
    /// The bounds table does not fit the generated schema.
    #[error("adding bounds to the {kind} CRD: {source}")]
    Bounds {
        /// The kind.
        kind: RayKind,
        /// The mismatch.
        #[source]
        source: bounds::BoundsError,
    },
    /// A CRD could not be converted between its typed and its JSON form.
    #[error("converting the {kind} CRD to or from JSON: {source}")]
    Json {
        /// The kind.
        kind: RayKind,
        /// What serde_json reported.
        #[source]
        source: serde_json::Error,
    },
    /// A CRD could not be serialized to YAML.
    #[error("serializing the {kind} CRD to YAML: {source}")]
    Yaml {
        /// The kind.
        kind: RayKind,
        /// What the YAML serializer reported.
        #[source]
        source: serde_saphyr::SerializeError,
    },
}

/// The ray.io kinds that have a CRD.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RayKind {
    /// A Ray cluster: a head pod and worker groups.
    RayCluster,
    /// A batch job run on a Ray cluster.
    RayJob,
    /// Ray Serve applications on a Ray cluster.
    RayService,
    /// RayJobs created on a cron schedule.
    RayCronJob,
}

impl RayKind {
    /// Every kind, in the order the CRDs are written.
    pub const ALL: [RayKind; 4] = [
        RayKind::RayCluster,
        RayKind::RayJob,
        RayKind::RayService,
        RayKind::RayCronJob,
    ];

    /// The kind's name, as in `kind: RayCluster`.
    pub fn name(self) -> &'static str {
        match self {
            RayKind::RayCluster => "RayCluster",
            RayKind::RayJob => "RayJob",
            RayKind::RayService => "RayService",
            RayKind::RayCronJob => "RayCronJob",
        }
    }

    /// The kind's plural resource name, as in `kubectl get rayclusters`.
    pub fn plural(self) -> &'static str {
        match self {
            RayKind::RayCluster => "rayclusters",
            RayKind::RayJob => "rayjobs",
            RayKind::RayService => "rayservices",
            RayKind::RayCronJob => "raycronjobs",
        }
    }

    /// The CRD's name, for example `rayclusters.ray.io`.
    pub fn crd_name(self) -> String {
        format!("{}.{}", self.plural(), ray_api_v1::GROUP)
    }

    /// The file the CRD is written to under `config/crd/`, for example `ray.io_rayclusters.yaml`.
    pub fn file_name(self) -> String {
        format!("{}_{}.yaml", ray_api_v1::GROUP, self.plural())
    }

    /// Whether the kind is also served as the deprecated [`DEPRECATED_VERSION`] (every kind but RayCronJob, which
    /// only exists as v1).
    pub fn has_deprecated_version(self) -> bool {
        self != RayKind::RayCronJob
    }

    /// The warning the API server returns to clients that use the deprecated version of this kind.
    pub fn deprecation_warning(self) -> String {
        let kind = self.name();
        format!(
            "ray.io/{DEPRECATED_VERSION} {kind} is deprecated; use ray.io/{STORAGE_VERSION} {kind}."
        )
    }

    /// One single-version CRD per version, as generated from the Rust types (storage version first).
    fn generated_versions(self) -> Vec<CustomResourceDefinition> {
        match self {
            RayKind::RayCluster => {
                vec![
                    ray_api_v1::RayCluster::crd(),
                    ray_api_v1alpha1::RayCluster::crd(),
                ]
            }
            RayKind::RayJob => vec![ray_api_v1::RayJob::crd(), ray_api_v1alpha1::RayJob::crd()],
            RayKind::RayService => {
                vec![
                    ray_api_v1::RayService::crd(),
                    ray_api_v1alpha1::RayService::crd(),
                ]
            }
            RayKind::RayCronJob => vec![ray_api_v1::RayCronJob::crd()],
        }
    }
}

impl std::fmt::Display for RayKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The CRD of one kind, as published (fully shrunk).
pub fn crd(kind: RayKind) -> Result<CustomResourceDefinition, CrdError> {
    crd_at_level(kind, Some(Level::Full))
}

/// The CRD of one kind with its schemas reduced only up to `level` (`None`: as generated). The published CRDs use
/// [`Level::Full`]; the other levels exist to measure what each step saves.
pub fn crd_at_level(
    kind: RayKind,
    level: Option<Level>,
) -> Result<CustomResourceDefinition, CrdError> {
    let mut versions = kind.generated_versions();
    for generated in &mut versions {
        for version in &mut generated.spec.versions {
            if version.name == DEPRECATED_VERSION {
                version.served = true;
                version.storage = false;
                version.deprecated = Some(true);
                version.deprecation_warning = Some(kind.deprecation_warning());
            }
        }
    }
    let mut merged = kube::core::crd::merge_crds(versions, STORAGE_VERSION)
        .map_err(|source| CrdError::Merge { kind, source })?;
    for version in &mut merged.spec.versions {
        // The API server drops `priority: 0` (Go's omitempty), so writing it would make every `kubectl apply` report
        // "configured" and GitOps tools show the CRD as out of sync forever.
        for column in version.additional_printer_columns.iter_mut().flatten() {
            if column.priority == Some(0) {
                column.priority = None;
            }
        }
    }
    merged.spec.conversion = Some(CustomResourceConversion {
        strategy: "None".into(),
        webhook: None,
    });

    let Some(level) = level else {
        return Ok(merged);
    };
    for version in &mut merged.spec.versions {
        let missing = || CrdError::MissingSchema {
            kind,
            version: version.name.clone(),
        };
        let schema = version
            .schema
            .as_mut()
            .and_then(|s| s.open_api_v3_schema.as_mut())
            .ok_or_else(missing)?;
        let mut json =
            serde_json::to_value(&*schema).map_err(|source| CrdError::Json { kind, source })?;
        shrink::shrink_schema_to(&mut json, level)
            .map_err(|source| CrdError::Shrink { kind, source })?;
        bounds::add_bounds(&mut json).map_err(|source| CrdError::Bounds { kind, source })?;
        *schema = serde_json::from_value(json).map_err(|source| CrdError::Json { kind, source })?;
    }
    Ok(merged)
}

/// The CRDs of all kinds, as published, in [`RayKind::ALL`] order.
pub fn crds() -> Result<Vec<CustomResourceDefinition>, CrdError> {
    RayKind::ALL.into_iter().map(crd).collect()
}

/// The size of a CRD as compact JSON: what client-side `kubectl apply` stores in its last-applied annotation.
/// Compare it with [`SIZE_BUDGET`].
pub fn compact_json_size(crd: &CustomResourceDefinition) -> Result<usize, serde_json::Error> {
    serde_json::to_vec(crd).map(|bytes| bytes.len())
}

/// The CRDs of all kinds, as published, but converting between versions through the operator's conversion
/// webhook (`conversion.strategy: Webhook`) instead of `None`. RayCronJob gets it too, so every CRD is treated
/// alike (here, in the Helm chart and by tools); having one version only, it is never converted.
pub fn crds_with_conversion(
    webhook: &ConversionWebhook,
) -> Result<Vec<CustomResourceDefinition>, CrdError> {
    RayKind::ALL
        .into_iter()
        .map(|kind| {
            let mut crd = crd(kind)?;
            webhook.apply_to(&mut crd);
            Ok(crd)
        })
        .collect()
}

/// The files `cargo xtask crd` writes to `config/crd/`, one per kind, each starting with [`HEADER`].
pub fn crd_files() -> Result<Vec<CrdFile>, CrdError> {
    crd_files_with(None)
}

/// Like [`crd_files`]; with `conversion`, the CRDs convert through that webhook (see [`crds_with_conversion`]).
pub fn crd_files_with(conversion: Option<&ConversionWebhook>) -> Result<Vec<CrdFile>, CrdError> {
    RayKind::ALL
        .into_iter()
        .map(|kind| {
            let mut crd = crd(kind)?;
            if let Some(webhook) = conversion {
                webhook.apply_to(&mut crd);
            }
            let yaml = render::to_yaml(kind, &crd)?;
            Ok(CrdFile {
                kind,
                file_name: kind.file_name(),
                contents: format!("{HEADER}{yaml}"),
            })
        })
        .collect()
}

/// All CRDs as one YAML stream (the files of [`crd_files`], separated by `---`), ready for `kubectl apply -f -`.
pub fn all_crds_yaml() -> Result<String, CrdError> {
    all_crds_yaml_with(None)
}

/// Like [`all_crds_yaml`]; with `conversion`, the CRDs convert through that webhook.
pub fn all_crds_yaml_with(conversion: Option<&ConversionWebhook>) -> Result<String, CrdError> {
    let files = crd_files_with(conversion)?;
    Ok(files
        .iter()
        .map(|f| f.contents.as_str())
        .collect::<Vec<_>>()
        .join("---\n"))
}

/// A CRD as a JSON value, for callers that inspect schemas by path (see [`path::SchemaPath`]).
pub fn crd_json(crd: &CustomResourceDefinition) -> Result<Value, serde_json::Error> {
    serde_json::to_value(crd)
}
