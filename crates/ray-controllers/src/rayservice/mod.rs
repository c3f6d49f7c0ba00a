//! The RayService controller: a RayCluster plus Ray Serve applications, kept serving while the Serve config
//! (applied in place) or the cluster spec (a new cluster is prepared, traffic moves once it serves, the old one is
//! deleted after a delay) changes.
//!
//! [`decide`] is the pure state machine; [`controller`] observes (API server and Ray dashboard), applies the
//! decision and writes the status; [`events`] names every Event.

pub mod controller;
pub mod decide;
#[cfg(test)]
mod decide_tests;
pub mod events;
