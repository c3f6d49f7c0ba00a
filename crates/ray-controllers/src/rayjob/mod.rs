//! The RayJob controller's logic: the `jobDeploymentStatus` state machine as a pure function ([`decide`]).
//!
//! The controller gathers what it observes (the RayJob, its RayCluster, its submitter Job, the Ray job's info from
//! the dashboard) and calls [`decide::decide`], which returns the next status and the actions to take. Everything a
//! restart must remember (the job id, the RayCluster name) is put into the status before any action uses it.

pub mod decide;

pub mod controller;
pub mod dashboard;
#[cfg(test)]
mod decide_tests;
pub mod events;
