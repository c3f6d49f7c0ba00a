//! The build step: what a live RayCluster asks for, validated and rendered once per reconcile. Everything the
//! reconcile creates comes out of this one [`DesiredCluster`]: Services, Ingress and RBAC as rendered, the head
//! pod as rendered, and worker pods stamped from their group's template, so nothing is rendered twice and the
//! cost does not grow with `replicas`.

use ray_api_v1::RayCluster;
use ray_api_v1::validation::ValidationErrors;
use ray_builders::{ClusterContext, DesiredCluster, RenderError, RenderOptions};

/// Why a spec cannot be reconciled; the message names the field. Reported as an `InvalidRayClusterSpec` Event
/// and in the status, and nothing is created.
#[derive(Debug, thiserror::Error)]
pub enum InvalidSpec {
    /// The spec breaks a rule of the API (the webhook's rules, for clusters created without it).
    #[error(transparent)]
    Validation(#[from] ValidationErrors),
    /// An object cannot be rendered from the spec (a derived name too long, a missing container, ...).
    #[error(transparent)]
    Render(#[from] RenderError),
}

/// Validates the cluster and renders every object it asks for. The namespace comes from the cluster (a cluster
/// read from the API server always has one); `options` are the operator's, used as they are.
pub fn build(cluster: &RayCluster, options: &RenderOptions) -> Result<DesiredCluster, InvalidSpec> {
    ray_api_v1::validation::validate_cluster(cluster)?;
    let ctx = ClusterContext::new(cluster, options).map_err(RenderError::from)?;
    Ok(DesiredCluster::build(&ctx)?)
}

#[cfg(test)]
mod tests {
    use ray_builders::WorkerReplica;
    use serde_json::json;

    use super::*;

    fn cluster(replicas: i32) -> RayCluster {
        serde_json::from_value(json!({
            "apiVersion": "ray.io/v1", "kind": "RayCluster",
            "metadata": { "name": "c", "namespace": "team-a", "uid": "u-1" },
            "spec": {
                "enableInTreeAutoscaling": true,
                "headGroupSpec": { "rayStartParams": {}, "template": { "spec": { "containers": [
                    { "name": "ray-head", "image": "rayproject/ray:2.9.0" }
                ] } } },
                "workerGroupSpecs": [
                    { "groupName": "cpu", "replicas": replicas, "maxReplicas": i32::MAX, "rayStartParams": {},
                      "template": { "spec": { "containers": [{ "name": "w", "image": "rayproject/ray:2.9.0" }] } } },
                    { "groupName": "tpu", "replicas": replicas, "numOfHosts": 4, "maxReplicas": i32::MAX,
                      "rayStartParams": {},
                      "template": { "spec": { "containers": [{ "name": "w", "image": "rayproject/ray:2.9.0" }] } } }
                ]
            }
        }))
        .unwrap_or_else(|e| panic!("{e}"))
    }

    /// One reconcile's build renders each object once: one head pod and one template per group whatever the
    /// replica count, and every object with the cluster's namespace and owner reference, without the caller
    /// setting a namespace.
    #[test]
    fn the_build_renders_each_object_once_whatever_the_replicas() {
        let options = RenderOptions {
            default_namespace: "not-used".into(),
            ..RenderOptions::default()
        };
        let cluster = cluster(i32::MAX);
        let desired = build(&cluster, &options).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(desired.workers.len(), 2);
        let owner = Some("u-1");
        let mut metas = vec![&desired.head_pod.metadata];
        metas.extend(desired.workers.iter().map(|t| &t.pod().metadata));
        let rbac = desired.support.rbac.as_ref();
        metas.extend(
            rbac.and_then(|r| r.service_account.as_ref())
                .map(|a| &a.metadata),
        );
        metas.extend(rbac.map(|r| &r.role.metadata));
        metas.extend(rbac.map(|r| &r.role_binding.metadata));
        metas.push(&desired.support.head_service.metadata);
        metas.extend(
            desired
                .support
                .headless_service
                .as_ref()
                .map(|s| &s.metadata),
        );
        assert_eq!(metas.len(), 1 + 2 + 3 + 2);
        for meta in metas {
            assert_eq!(meta.namespace.as_deref(), Some("team-a"));
            let uid = meta
                .owner_references
                .as_ref()
                .and_then(|o| o.first())
                .map(|o| o.uid.as_str());
            assert_eq!(
                uid,
                owner,
                "{:?}",
                meta.name.as_ref().or(meta.generate_name.as_ref())
            );
        }
        let pod = desired.workers[0]
            .stamp(&WorkerReplica {
                index: 7,
                multi_host: None,
            })
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            pod.metadata.owner_references,
            desired.head_pod.metadata.owner_references
        );
    }

    #[test]
    fn an_invalid_spec_names_the_field() {
        let mut broken = cluster(1);
        broken.spec.head_group_spec.template.spec = None;
        let error = build(&broken, &RenderOptions::default())
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(error.contains("headGroupSpec"), "{error}");
    }
}
