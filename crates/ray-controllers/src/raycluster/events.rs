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

/// Action: creating an object.
pub const ACTION_CREATE: &str = "Create";
/// Action: deleting an object.
pub const ACTION_DELETE: &str = "Delete";
/// Action: validating the spec.
pub const ACTION_VALIDATE: &str = "Validate";

/// Event notes are limited to 1 KiB by the API server; longer notes are cut at a character boundary.
pub fn note(text: &str) -> String {
    const MAX: usize = 1000;
    if text.len() <= MAX {
        return text.to_string();
    }
    let mut end = MAX;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

#[cfg(test)]
mod tests {
    #[test]
    fn long_notes_are_cut_on_a_character_boundary() {
        let text = "é".repeat(800);
        let cut = super::note(&text);
        assert!(cut.len() <= 1004);
        assert!(cut.ends_with('…'));
        assert_eq!(super::note("short"), "short");
    }
}
