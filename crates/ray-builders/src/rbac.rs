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
        labels: Some(std::collections::BTreeMap::from([(
            labels::CLUSTER.to_string(),
            ctx.name.clone(),
        )])),
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
