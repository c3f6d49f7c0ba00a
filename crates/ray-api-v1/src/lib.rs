//! The `ray.io/v1` API: RayCluster, RayJob and RayService.
//!
//! These types are usable on their own, without the operator: they serialize to exactly the JSON that KubeRay's Go
//! types produce, and [`validation`] holds the same rules the operator and its admission webhook apply.
