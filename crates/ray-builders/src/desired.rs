//! Everything a RayCluster asks for, rendered once: the objects the operator creates for it (autoscaler RBAC,
//! Ingress, Services), its head pod, and one pod per worker group that the group's replicas are stamped from.
//!
//! The controller builds a [`DesiredCluster`] once per reconcile and creates what is missing from it; `render`
//! builds the same one and stamps every replica. Rendering costs the same for `replicas: 1` and
//! `replicas: 2147483647`.

use k8s_openapi::api::core::v1::{Pod, Secret, Service};
use k8s_openapi::api::networking::v1::Ingress;

use crate::context::{ClusterContext, PodStamp};
use crate::ingress;
use crate::names;
use crate::objects::{Object, RenderError};
use crate::pod::{self, MultiHostReplica, WorkerReplica, WorkerTemplate};
use crate::rbac::{self, AutoscalerRbac};
use crate::resources;
use crate::service;

/// The objects of a cluster other than pods, which the operator keeps while the cluster is suspended.
#[derive(Debug, Clone, PartialEq)]
pub struct SupportObjects {
    /// The Secret of a generated Ray auth token (`authOptions` without `secretName`), without its data.
    pub auth_secret: Option<Secret>,
    /// The autoscaler's ServiceAccount, Role and RoleBinding, when autoscaling is on.
    pub rbac: Option<AutoscalerRbac>,
    /// The dashboard Ingress, when `enableIngress` is true.
    pub ingress: Option<Ingress>,
    /// The head Service.
    pub head_service: Service,
    /// The headless Service of multi-host worker groups, when a group has `numOfHosts > 1`.
    pub headless_service: Option<Service>,
    /// The serve Service, when the cluster asks for one (`ray.io/enable-serve-service`).
    pub serve_service: Option<Service>,
}

impl SupportObjects {
    /// Renders the cluster's objects other than pods.
    pub fn build(ctx: &ClusterContext<'_>) -> Result<Self, RenderError> {
        Ok(SupportObjects {
            auth_secret: crate::auth::generated_secret(ctx),
            rbac: rbac::autoscaler_rbac(ctx)?,
            ingress: ingress::head_ingress(ctx)?,
            head_service: service::head_service(ctx)?,
            headless_service: service::headless_worker_service(ctx)?,
            serve_service: service::cluster_serve_service(ctx)?,
        })
    }

    /// The objects in the order the operator creates them: the auth Secret, RBAC, Ingress, then Services.
    pub fn into_objects(self) -> Vec<Object> {
        let mut out = Vec::new();
        if let Some(secret) = self.auth_secret {
            out.push(Object::Secret(Box::new(secret)));
        }
        if let Some(rbac) = self.rbac {
            if let Some(account) = rbac.service_account {
                out.push(Object::ServiceAccount(Box::new(account)));
            }
            out.push(Object::Role(Box::new(rbac.role)));
            out.push(Object::RoleBinding(Box::new(rbac.role_binding)));
        }
        if let Some(ingress) = self.ingress {
            out.push(Object::Ingress(Box::new(ingress)));
        }
        out.push(Object::Service(Box::new(self.head_service)));
        out.extend(
            [self.headless_service, self.serve_service]
                .into_iter()
                .flatten()
                .map(|s| Object::Service(Box::new(s))),
        );
        out
    }
}

/// Everything a RayCluster asks for, each object rendered once. Every object carries the cluster's owner
/// reference once the cluster exists (has a UID).
#[derive(Debug, Clone, PartialEq)]
pub struct DesiredCluster {
    /// RBAC, Ingress and Services.
    pub support: SupportObjects,
    /// The head pod (named by `generateName`).
    pub head_pod: Pod,
    /// One template per worker group, in `workerGroupSpecs` order.
    pub workers: Vec<WorkerTemplate>,
    /// The spec hash and operator version every pod is annotated with, to tell pods of an older spec.
    pub stamp: PodStamp,
}

impl DesiredCluster {
    /// Renders every object of the cluster, and checks that every replica the operator may create can be
    /// stamped (with the longest replica labels it can get), so a spec that cannot be rendered fails here,
    /// before anything is created.
    pub fn build(ctx: &ClusterContext<'_>) -> Result<Self, RenderError> {
        let support = SupportObjects::build(ctx)?;
        let head_pod = pod::head_pod(ctx)?;
        let mut workers = Vec::with_capacity(ctx.cluster.spec.worker_group_specs.len());
        for (index, group) in ctx.cluster.spec.worker_group_specs.iter().enumerate() {
            let template = pod::worker_template(ctx, index)?;
            let hosts = resources::hosts(group);
            template.check(&WorkerReplica {
                index: i32::MAX,
                multi_host: (hosts > 1).then(|| MultiHostReplica {
                    name: replica_name(ctx, &group.group_name, 0),
                    host_index: hosts - 1,
                }),
            })?;
            workers.push(template);
        }
        Ok(DesiredCluster {
            support,
            head_pod,
            workers,
            stamp: ctx.stamp.clone(),
        })
    }

    /// The template of worker group `index`.
    pub fn worker(&self, index: usize) -> Option<&WorkerTemplate> {
        self.workers.get(index)
    }
}

/// The stand-in name of multi-host replica `replica` of a group, derived from the cluster, group and index (the
/// operator picks random names of the same length).
pub(crate) fn replica_name(ctx: &ClusterContext<'_>, group: &str, replica: i32) -> String {
    let seed = format!("{}/{group}/{replica}", ctx.name);
    names::with_suffix(group, &names::random_suffix_from(seed.as_bytes()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use ray_api_v1::RayCluster;
    use serde_json::json;

    use super::*;
    use crate::RenderOptions;
    use crate::labels;
    use crate::pod::RENDERED_PODS;

    fn cluster(replicas: i32) -> RayCluster {
        let container = json!([{ "name": "ray", "image": "rayproject/ray:2.9.0" }]);
        serde_json::from_value(json!({
            "apiVersion": "ray.io/v1", "kind": "RayCluster",
            "metadata": { "name": "c", "namespace": "ns", "uid": "u-1" },
            "spec": {
                "enableInTreeAutoscaling": true,
                "headGroupSpec": { "rayStartParams": {}, "enableIngress": true,
                                   "template": { "spec": { "containers": container } } },
                "workerGroupSpecs": [
                    { "groupName": "a", "replicas": replicas, "maxReplicas": i32::MAX, "rayStartParams": {},
                      "template": { "spec": { "containers": container } } },
                    { "groupName": "b", "replicas": replicas, "numOfHosts": 4, "maxReplicas": i32::MAX,
                      "rayStartParams": {}, "template": { "spec": { "containers": container } } }
                ]
            }
        }))
        .unwrap()
    }

    fn rendered_pods() -> usize {
        RENDERED_PODS.with(std::cell::Cell::get)
    }

    #[test]
    fn each_pod_is_rendered_once_however_many_replicas_are_stamped() {
        let options = RenderOptions::default();
        let cluster = cluster(i32::MAX);
        let ctx = ClusterContext::new(&cluster, &options).unwrap();
        let before = rendered_pods();
        let desired = DesiredCluster::build(&ctx).unwrap();
        // The head and one pod per group, whatever `replicas` says.
        assert_eq!(rendered_pods() - before, 3);
        assert_eq!(desired.workers.len(), 2);
        let template = desired.worker(0).unwrap();
        for index in 0..1000 {
            let pod = template
                .stamp(&WorkerReplica {
                    index,
                    multi_host: None,
                })
                .unwrap();
            let labels = pod.metadata.labels.unwrap();
            assert_eq!(
                labels.get(labels::WORKER_GROUP_REPLICA_INDEX),
                Some(&index.to_string())
            );
        }
        assert_eq!(rendered_pods() - before, 3, "stamping renders nothing");
    }

    #[test]
    fn a_stamped_pod_is_the_pod_the_builder_renders_for_that_replica() {
        let options = RenderOptions::default();
        let cluster = cluster(2);
        let ctx = ClusterContext::new(&cluster, &options).unwrap();
        let desired = DesiredCluster::build(&ctx).unwrap();
        let replica = WorkerReplica {
            index: 3,
            multi_host: Some(MultiHostReplica {
                name: "b-xyz12".into(),
                host_index: 2,
            }),
        };
        let stamped = desired.worker(1).unwrap().stamp(&replica).unwrap();
        assert_eq!(stamped, pod::worker_pod(&ctx, 1, &replica).unwrap());
        let labels = stamped.metadata.labels.clone().unwrap();
        assert_eq!(
            labels
                .get(labels::WORKER_GROUP_REPLICA_NAME)
                .map(String::as_str),
            Some("b-xyz12")
        );
        assert_eq!(
            labels.get(labels::REPLICA_HOST_INDEX).map(String::as_str),
            Some("2")
        );
        assert!(
            !desired
                .worker(1)
                .unwrap()
                .pod()
                .metadata
                .labels
                .iter()
                .flatten()
                .any(|(k, _)| k == labels::WORKER_GROUP_REPLICA_INDEX)
        );
    }

    #[test]
    fn every_object_is_owned_by_the_cluster() {
        let options = RenderOptions::default();
        let cluster = cluster(1);
        let ctx = ClusterContext::new(&cluster, &options).unwrap();
        let desired = DesiredCluster::build(&ctx).unwrap();
        let owner = ctx.owner_reference().map(|o| vec![o]);
        assert!(owner.is_some());
        let stamped = desired
            .worker(0)
            .unwrap()
            .stamp(&WorkerReplica::default())
            .unwrap();
        let mut metas = vec![desired.head_pod.metadata.clone(), stamped.metadata];
        metas.extend(
            desired
                .support
                .into_objects()
                .iter()
                .map(|o| o.metadata().clone()),
        );
        assert_eq!(
            metas.len(),
            2 + 6,
            "SA, Role, RoleBinding, Ingress, head and headless Services"
        );
        for meta in metas {
            assert_eq!(meta.owner_references, owner, "{:?}", meta.name);
        }
    }

    #[test]
    fn without_a_uid_nothing_has_an_owner_reference() {
        let options = RenderOptions::default();
        let mut cluster = cluster(1);
        cluster.metadata.uid = None;
        let ctx = ClusterContext::new(&cluster, &options).unwrap();
        let desired = DesiredCluster::build(&ctx).unwrap();
        assert_eq!(desired.head_pod.metadata.owner_references, None);
        assert_eq!(
            desired.worker(0).unwrap().pod().metadata.owner_references,
            None
        );
    }

    #[test]
    fn a_group_whose_replica_names_would_be_too_long_fails_the_build() {
        let options = RenderOptions::default();
        let mut cluster = cluster(1);
        // 60 characters: `<group>-<5>` is 66, more than a label value holds.
        cluster.spec.worker_group_specs[1].group_name = "g".repeat(60);
        let ctx = ClusterContext::new(&cluster, &options).unwrap();
        let error = DesiredCluster::build(&ctx).unwrap_err().to_string();
        assert!(error.contains("workerGroupSpecs[1].groupName"), "{error}");
    }
}
