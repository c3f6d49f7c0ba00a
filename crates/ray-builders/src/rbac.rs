//! The ServiceAccount, Role and RoleBinding of the autoscaler (`enableInTreeAutoscaling`).

use k8s_openapi::api::core::v1::ServiceAccount;
use k8s_openapi::api::rbac::v1::{PolicyRule, Role, RoleBinding, RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::context::ClusterContext;
use crate::labels;
use crate::names::{self, NameError, NameRule};

/// The autoscaler's RBAC objects.
#[derive(Debug, Clone, PartialEq)]
pub struct AutoscalerRbac {
    /// The ServiceAccount, unless the head template names its own (then the user provides it).
    pub service_account: Option<ServiceAccount>,
    /// The Role: read and patch pods, read and patch the RayCluster (to set replicas and workersToDelete).
    pub role: Role,
    /// Binds the Role to the ServiceAccount.
    pub role_binding: RoleBinding,
}

fn rule(group: &str, resources: &[&str], verbs: &[&str]) -> PolicyRule {
    PolicyRule {
        api_groups: Some(vec![group.to_string()]),
        resources: Some(resources.iter().map(|r| r.to_string()).collect()),
        verbs: verbs.iter().map(|v| v.to_string()).collect(),
        ..PolicyRule::default()
    }
}

/// The autoscaler's RBAC objects when autoscaling is on; all are named after the cluster, except a
/// ServiceAccount the user named in the head template.
pub fn autoscaler_rbac(ctx: &ClusterContext<'_>) -> Result<Option<AutoscalerRbac>, NameError> {
    if !ctx.autoscaling() {
        return Ok(None);
    }
    names::check(
        &ctx.name,
        0,
        NameRule::Dns1123Subdomain,
        "autoscaler Role name",
        "metadata.name",
    )?;
    let account = ctx.autoscaler_service_account();
    let meta = |name: &str| ObjectMeta {
        name: Some(name.to_string()),
        namespace: Some(ctx.namespace.clone()),
        // KubeRay's labels on these objects, as on every other child of the cluster.
        labels: Some(std::collections::BTreeMap::from([
            (labels::CLUSTER.to_string(), ctx.name.clone()),
            (
                labels::APP_NAME.to_string(),
                labels::APP_NAME_VALUE.to_string(),
            ),
            (
                labels::APP_CREATED_BY.to_string(),
                labels::APP_CREATED_BY_VALUE.to_string(),
            ),
        ])),
        owner_references: ctx.owner_reference().map(|o| vec![o]),
        ..ObjectMeta::default()
    };
    let service_account = (!ctx.user_service_account()).then(|| ServiceAccount {
        metadata: meta(&account),
        ..ServiceAccount::default()
    });
    let role = Role {
        metadata: meta(&ctx.name),
        rules: Some(vec![
            rule("", &["pods"], &["get", "list", "watch", "patch"]),
            rule("", &["pods/resize"], &["patch"]),
            rule("ray.io", &["rayclusters"], &["get", "patch"]),
        ]),
    };
    let role_binding = RoleBinding {
        metadata: meta(&ctx.name),
        role_ref: RoleRef {
            api_group: Some("rbac.authorization.k8s.io".to_string()),
            kind: "Role".to_string(),
            name: ctx.name.clone(),
        },
        subjects: Some(vec![Subject {
            kind: "ServiceAccount".to_string(),
            name: account,
            namespace: Some(ctx.namespace.clone()),
            api_group: None,
        }]),
    };
    Ok(Some(AutoscalerRbac {
        service_account,
        role,
        role_binding,
    }))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::RenderOptions;

    /// Tools that find a cluster's objects by KubeRay's labels find the autoscaler's RBAC too.
    #[test]
    fn the_autoscaler_rbac_carries_kuberays_labels() {
        let cluster: ray_api_v1::RayCluster = serde_json::from_value(serde_json::json!({
            "apiVersion": "ray.io/v1", "kind": "RayCluster",
            "metadata": {"name": "c", "namespace": "ns"},
            "spec": {"enableInTreeAutoscaling": true, "headGroupSpec": {"rayStartParams": {}, "template": {"spec": {
                "containers": [{"name": "ray-head", "image": "rayproject/ray:2.60.0"}]}}}}
        }))
        .unwrap();
        let options = RenderOptions::default();
        let ctx = ClusterContext::new(&cluster, &options).unwrap();
        let rbac = autoscaler_rbac(&ctx).unwrap().unwrap();
        let expected = std::collections::BTreeMap::from([
            (
                "app.kubernetes.io/created-by".to_string(),
                "kuberay-operator".to_string(),
            ),
            ("app.kubernetes.io/name".to_string(), "kuberay".to_string()),
            ("ray.io/cluster".to_string(), "c".to_string()),
        ]);
        let account = rbac.service_account.unwrap();
        for labels in [
            &account.metadata.labels,
            &rbac.role.metadata.labels,
            &rbac.role_binding.metadata.labels,
        ] {
            assert_eq!(labels.as_ref(), Some(&expected));
        }
    }
}
