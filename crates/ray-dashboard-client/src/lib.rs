//! An async client for the Ray dashboard's REST API: the Jobs API (submit, get, list, stop, delete, logs) and the
//! Serve API (read applications, apply a config).
//!
//! It knows nothing about Kubernetes. It is written for an operator that must never hang on a slow head: every
//! request has a short timeout, errors keep the HTTP status and Ray's own plain-text message, and response types
//! accept fields that are missing or that newer Ray versions add.
//!
//! ```no_run
//! # async fn demo() -> Result<(), ray_dashboard_client::Error> {
//! use ray_dashboard_client::{DashboardClient, JobSubmitRequest, SubmitOutcome};
//!
//! let dashboard = DashboardClient::new("http://127.0.0.1:8265")?;
//! let request = JobSubmitRequest::new("python -c 'print(42)'").with_submission_id("my-job-1");
//! // Submitting the same id twice is not an error: the second answer says it already exists.
//! match dashboard.submit_job(&request).await? {
//!     SubmitOutcome::Submitted { submission_id } | SubmitOutcome::AlreadyExists { submission_id } => {
//!         let job = dashboard.get_job(&submission_id).await?;
//!         println!("{submission_id}: {}", job.status);
//!     }
//! }
//! # Ok(()) }
//! ```

/// The README's examples, compiled as doctests so that what crates.io shows keeps building.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

mod client;
pub mod decode;
mod error;
mod jobs;
mod serve;

pub use client::{AUTH_HEADER, DEFAULT_TIMEOUT, DashboardClient};
pub use error::Error;
pub use jobs::{JobDetails, JobStatus, JobSubmitRequest, SubmitOutcome, VersionInfo};
pub use serve::{
    ApplicationDetails, ApplicationStatus, DeploymentDetails, DeploymentStatus, ProxyDetails,
    ServeInstanceDetails,
};
