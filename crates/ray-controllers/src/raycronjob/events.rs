//! Event reasons of the RayCronJob controller. `kubectl describe raycronjob` tells which RayJob each schedule time
//! created, which schedule times were missed, and why nothing is scheduled.

/// A RayJob was created for a schedule time; the note names it and the time.
pub const CREATED_RAY_JOB: &str = "CreatedRayJob";
/// The RayJob of a schedule time could not be created; the note carries the API server's message.
pub const FAILED_TO_CREATE_RAY_JOB: &str = "FailedToCreateRayJob";
/// Earlier schedule times passed without a RayJob (the operator was not running, or the RayCronJob was
/// suspended); only the most recent one ran.
pub const MISSED_SCHEDULES: &str = "MissedSchedules";
/// More than 100 schedule times passed without a RayJob (Kubernetes CronJob's reason): a Warning.
pub const TOO_MANY_MISSED_TIMES: &str = "TooManyMissedTimes";
/// `spec.suspend` is true: no RayJob is created (KubeRay's reason).
pub const SUSPENDED: &str = "SuspendedRayCronJob";
/// The RayCronJob cannot be scheduled: its spec is invalid, or cannot be read (KubeRay's reason); the note names
/// each field and what to change.
pub const INVALID_SPEC: &str = "InvalidRayCronJobSpec";

/// The Event `action` of everything this controller reports.
pub const ACTION: &str = "Schedule";
