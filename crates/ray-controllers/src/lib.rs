//! The Ray operator's controllers: the RayCluster controller ([`raycluster`]), the RayJob state machine
//! ([`rayjob`]) and the RayService controller ([`rayservice`]).
//!
//! The binary (`ray-operator run`) only parses flags and calls [`raycluster::run`]; everything that talks to the
//! API server lives here, and every decision that can be made without it is a pure function with unit tests
//! ([`raycluster::decide`], [`raycluster::status`], [`expectations`]).

pub mod api_requests;
pub mod context;
pub mod error;
pub mod expectations;
pub mod health;
pub mod leader;
pub mod metrics;
pub mod pod_cache;
pub mod rate_limit;
pub mod raycluster;
pub mod rayjob;
pub mod rayservice;

pub use api_requests::ApiRequestLayer;
pub use context::Telemetry;
pub use error::Error;
pub use expectations::Expectations;
pub use rate_limit::RateLimitLayer;
