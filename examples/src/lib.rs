//! The sample manifests under `examples/`, loadable as typed objects.
//!
//! The YAML files next to this package are what users copy: a minimal and a complete manifest per kind for
//! `ray.io/v1` (a minimal one for RayCronJob), and one per kind for the deprecated `ray.io/v1alpha1`. This small library finds them and reads each
//! into the Rust type its `apiVersion` and `kind` name, so the tests can prove that every sample parses, round-trips
//! and passes validation, and so other tests (for example end-to-end tests against a local control plane) can load a
//! sample by file name instead of keeping their own copy.
//!
//! ```
//! use ray_examples::Manifest;
//!
//! let sample = ray_examples::load("ray-cluster.sample.yaml")?;
//! let Manifest::RayCluster(cluster) = sample else {
//!     panic!("ray-cluster.sample.yaml holds a {}", sample.kind());
//! };
//! assert_eq!(cluster.spec.worker_group_specs.len(), 1);
//! # Ok::<(), ray_examples::ManifestError>(())
//! ```

mod manifest;

pub use manifest::{Manifest, ManifestError, load, manifest_dir, manifest_paths};

/// The Rust code blocks of the repository's README, compiled and run as doctests so the library usage shown there
/// stays true.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;
