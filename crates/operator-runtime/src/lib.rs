//! The Ray-free machinery of the operator: everything a Kubernetes controller process needs that does not know
//! what a RayCluster is. `ray-controllers` builds the Ray controllers on it; `ray-operator` wires it up.
//!
//! - [`runner`]: runs one kube-runtime `Controller` — readiness, reconcile metrics by error category, the Event for
//!   an object that cannot be read, per-object back-off after errors, result logging, shutdown.
//! - [`leader`]: Lease-based leader election and the elected/standby loop ([`leader::lead_when_elected`]).
//! - [`events`]: the one Event publisher; [`finalizer`]: add/remove a finalizer as a compare-and-swap.
//! - [`metrics`], [`api_requests`], [`rate_limit`]: the Prometheus registry, per-request metrics and the client's
//!   token bucket (tower layers on the kube client).
//! - [`health`], [`endpoints`]: readiness and liveness, and the plain-HTTP `/metrics`, `/readyz`, `/livez`.
//! - [`shutdown`]: the stop signal every part waits on.
//!
//! This crate depends on kube, never on the ray.io crates (tests/dependencies.rs checks it).

pub mod api_requests;
pub mod endpoints;
pub mod error;
pub mod events;
pub mod finalizer;
pub mod health;
pub mod leader;
pub mod metrics;
pub mod rate_limit;
pub mod runner;
pub mod shutdown;
pub mod watch_backoff;

pub use api_requests::ApiRequestLayer;
pub use error::{ReconcileError, api_message};
pub use events::{EventPublisher, Notice};
pub use health::Health;
pub use metrics::Metrics;
pub use rate_limit::RateLimitLayer;
pub use runner::{Backoff, Reconciler, RunnerSettings};
pub use shutdown::Shutdown;
pub use watch_backoff::watch_backoff;
