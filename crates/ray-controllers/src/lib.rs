//! The Ray operator's controllers: the RayCluster controller ([`raycluster`]), the RayJob state machine
//! ([`rayjob`]), the RayService controller ([`rayservice`]) and the RayCronJob scheduler ([`raycronjob`]).
//!
//! Each controller has the same shape: `observe` (the I/O that gathers facts) → `decide` (a pure function from facts
//! to a decision) → `apply` (the writes) → status, driven by a short `reconcile` in its `mod.rs`, and is run by
//! `operator_runtime::runner` like any other controller. Nothing Ray-free lives here: leader election, metrics
//! plumbing, health, rate limiting and the runner are in the `operator-runtime` crate.
//!
//! The RayJob, RayService and RayCronJob controllers read the wall-clock time from one [`Clock`] (see [`clock`]),
//! which a test sets and jumps at will.

pub mod clock;
pub mod context;
pub mod dashboard_auth;
pub mod error;
pub mod expectations;
pub mod metrics;
pub mod pod_index;
pub mod raycluster;
pub mod raycronjob;
pub mod rayjob;
pub mod rayservice;

pub use clock::{Clock, ManualClock, SystemClock};
pub use context::Telemetry;
pub use error::ApiError;
pub use expectations::Expectations;
