//! Event reasons and actions of the RayCluster controller, with KubeRay's strings, so tools and runbooks written
//! for KubeRay keep matching (`kubectl get events --field-selector reason=FailedToCreateWorkerPod`).

/// The spec (or its rendering) is invalid; the note names the field.
pub const INVALID_SPEC: &str = "InvalidRayClusterSpec";
/// The head pod was created.
pub const CREATED_HEAD_POD: &str = "CreatedHeadPod";
/// Creating the head pod failed; the note carries the API server's message.
pub const FAILED_TO_CREATE_HEAD_POD: &str = "FailedToCreateHeadPod";
/// The head pod was deleted.
pub const DELETED_HEAD_POD: &str = "DeletedHeadPod";
/// Deleting the head pod failed.
pub const FAILED_TO_DELETE_HEAD_POD: &str = "FailedToDeleteHeadPod";
/// A worker pod was created.
pub const CREATED_WORKER_POD: &str = "CreatedWorkerPod";
/// Creating a worker pod failed; the note carries the API server's message.
pub const FAILED_TO_CREATE_WORKER_POD: &str = "FailedToCreateWorkerPod";
/// A worker pod was deleted.
pub const DELETED_WORKER_POD: &str = "DeletedWorkerPod";
/// Deleting a worker pod failed.
pub const FAILED_TO_DELETE_WORKER_POD: &str = "FailedToDeleteWorkerPod";
/// A Service was created.
pub const CREATED_SERVICE: &str = "CreatedService";
/// Creating a Service failed.
pub const FAILED_TO_CREATE_SERVICE: &str = "FailedToCreateService";
/// The Ingress was created.
pub const CREATED_INGRESS: &str = "CreatedIngress";
/// Creating the Ingress failed, or one with its name belongs to something else.
pub const FAILED_TO_CREATE_INGRESS: &str = "FailedToCreateIngress";
/// The Secret of the cluster's generated Ray auth token was created.
pub const CREATED_SECRET: &str = "CreatedSecret";
/// Creating the Secret of the generated Ray auth token failed.
pub const FAILED_TO_CREATE_SECRET: &str = "FailedToCreateSecret";
/// The autoscaler's ServiceAccount was created.
pub const CREATED_SERVICE_ACCOUNT: &str = "CreatedServiceAccount";
/// Creating the autoscaler's ServiceAccount failed.
pub const FAILED_TO_CREATE_SERVICE_ACCOUNT: &str = "FailedToCreateServiceAccount";
/// The ServiceAccount named in the head template does not exist.
pub const AUTOSCALER_SERVICE_ACCOUNT_NOT_FOUND: &str = "AutoscalerServiceAccountNotFound";
/// The autoscaler's Role was created.
pub const CREATED_ROLE: &str = "CreatedRole";
/// Creating the autoscaler's Role failed.
pub const FAILED_TO_CREATE_ROLE: &str = "FailedToCreateRole";
/// The autoscaler's RoleBinding was created.
pub const CREATED_ROLE_BINDING: &str = "CreatedRoleBinding";
/// Creating the autoscaler's RoleBinding failed.
pub const FAILED_TO_CREATE_ROLE_BINDING: &str = "FailedToCreateRoleBinding";

/// The GCS cleanup of a deleted cluster did not finish by its deadline; the finalizer was removed anyway.
pub const FORCE_DELETED_STUCK_CLUSTER: &str = "ForceDeletedStuckCluster";
/// The Job that deletes a deleted cluster's GCS data from Redis was created.
pub const CREATED_REDIS_CLEANUP_JOB: &str = "CreatedRedisCleanupJob";
/// Creating the Redis cleanup Job failed; the finalizer is removed at the deadline.
pub const FAILED_TO_CREATE_REDIS_CLEANUP_JOB: &str = "FailedToCreateRedisCleanupJob";

/// Action: creating an object.
pub const ACTION_CREATE: &str = "Create";
/// Action: deleting an object.
pub const ACTION_DELETE: &str = "Delete";
/// Action: validating the spec.
pub const ACTION_VALIDATE: &str = "Validate";
/// Action: cleaning up after a deleted cluster.
pub const ACTION_CLEANUP: &str = "Cleanup";
