//! Event reasons of the RayService controller (KubeRay's names where KubeRay has the event), one per outcome of
//! every action, so `kubectl describe rayservice` tells which cluster got which config, when traffic moved and
//! why something failed.

pub use super::decide::reasons::*;

/// The `action` of every RayService Event: what the controller was doing when it happened.
pub const ACTION: &str = "Reconcile";

/// A RayCluster was created for the RayService.
pub const CREATED_CLUSTER: &str = "CreatedRayCluster";
/// Creating a RayCluster failed; the note carries the API server's message.
pub const FAILED_TO_CREATE_CLUSTER: &str = "FailedToCreateRayCluster";
/// A cluster's spec was updated in place (worker groups were appended).
pub const UPDATED_CLUSTER: &str = "UpdatedRayCluster";
/// Updating a cluster failed.
pub const FAILED_TO_UPDATE_CLUSTER: &str = "FailedToUpdateRayCluster";
/// A cluster that no longer serves was deleted.
pub const DELETED_CLUSTER: &str = "DeletedRayCluster";
/// Deleting a cluster failed.
pub const FAILED_TO_DELETE_CLUSTER: &str = "FailedToDeleteRayCluster";
/// A cluster no longer serves and will be deleted after the deletion delay.
pub const SCHEDULED_CLUSTER_DELETION: &str = "ScheduledRayClusterDeletion";
/// The Serve config was applied to a cluster.
pub const UPDATED_SERVE_APPLICATIONS: &str = "UpdatedServeApplications";
/// Ray rejected the Serve config or the dashboard could not be reached; the note carries Ray's message.
pub const FAILED_TO_UPDATE_SERVE_APPLICATIONS: &str = "FailedToUpdateServeApplications";
/// A Service was created.
pub const CREATED_SERVICE: &str = "CreatedService";
/// A Service now selects another cluster.
pub const UPDATED_SERVICE: &str = "UpdatedService";
/// Creating or updating a Service failed.
pub const FAILED_TO_UPDATE_SERVICE: &str = "FailedToUpdateService";
/// The serve or head Service was deleted because the RayService is suspended.
pub const DELETED_SERVICE: &str = "DeletedService";
/// Deleting a Service failed.
pub const FAILED_TO_DELETE_SERVICE: &str = "FailedToDeleteService";
/// The head pod's `ray.io/serve` label changed.
pub const UPDATED_HEAD_POD_SERVE_LABEL: &str = "UpdatedHeadPodServeLabel";
/// Changing the head pod's `ray.io/serve` label failed.
pub const FAILED_TO_UPDATE_HEAD_POD_SERVE_LABEL: &str = "FailedToUpdateHeadPodServeLabel";
