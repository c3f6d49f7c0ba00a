//! Everything the RayService controller reads before it decides: the RayService's clusters (from the API server,
//! so an annotation written in the last pass is seen), each cluster's head pod (from the watch-fed head pod cache),
//! Serve on each cluster (through its dashboard, with a short timeout), the serve and head Services, and the serve
//! Service's ready endpoints (from the watch-fed EndpointSlice cache).
//!
//! What is read here is owned by [`Facts`], which lends it to [`decide`](super::decide::decide) as an
//! [`Observation`].

use crate::error::ApiError;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use futures::Stream;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::jiff::Timestamp;
use kube::api::ListParams;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, ResourceExt};
use ray_api_v1::raycluster::RayCluster;
use ray_api_v1::rayservice::{
    AppStatus, ApplicationStatus, RayService, RayServiceStatus, ServeDeploymentStatus,
    ServeDeploymentStatusValue,
};
use ray_builders::labels;
use ray_dashboard_client::DashboardClient;

use super::Context;
use super::controller::Settings;
use super::decide::{ClusterObservation, Observation, OwnedService, ServeInfo};
use super::error::{DashboardAddressError, Error};
use crate::pod_index::PodIndex;
use crate::rayjob::dashboard::{client as dashboard_client, dashboard_url};

/// The label every RayCluster and Service made for a RayService carries (and so every EndpointSlice of such a
/// Service: the EndpointSlice controller copies the Service's labels); the controller watches only those.
pub const ORIGIN_LABEL_SELECTOR: &str = "ray.io/originated-from-crd=RayService";

/// The pods the controller caches: head pods only (it reads their serve label and IP), of any cluster, since a
/// pod carries its cluster's name but not the RayService's.
pub const HEAD_POD_SELECTOR: &str = "ray.io/node-type=head";

/// The EndpointSlice label naming the Service it belongs to.
const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

/// The name of the `HeadPodReady` condition the RayCluster controller sets.
const HEAD_POD_READY: &str = "HeadPodReady";

/// Labels of the objects a RayService owns, for selecting them: `ray.io/originated-from-cr-name=<name>` and
/// `ray.io/originated-from-crd=RayService`.
pub fn owned_labels(service: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (
            labels::ORIGINATED_FROM_CR_NAME.to_owned(),
            service.to_owned(),
        ),
        (
            labels::ORIGINATED_FROM_CRD.to_owned(),
            labels::CRD_RAY_SERVICE.to_owned(),
        ),
    ])
}

/// An EndpointSlice watch (only slices of the operator's RayService Services, `managedFields` dropped) that fills
/// the returned store; the stream must be polled for the store to fill.
pub fn endpoint_slice_cache(
    api: Api<EndpointSlice>,
) -> (
    Store<EndpointSlice>,
    impl Stream<Item = Result<EndpointSlice, watcher::Error>> + Send + 'static,
) {
    let (store, writer) = reflector::store();
    let stream = watcher(
        api,
        watcher::Config::default().labels(ORIGIN_LABEL_SELECTOR),
    )
    .backoff(operator_runtime::watch_backoff())
    .modify(|slice: &mut EndpointSlice| slice.metadata.managed_fields = None)
    .reflect(writer)
    .touched_objects();
    (store, stream)
}

/// Whether the head pod and EndpointSlice caches have finished their first list. Deciding from a partial cache
/// would report zero endpoints for a serving RayService (seen when a new leader or a restarted operator starts).
/// Each wait is bounded ([`operator_runtime::runner::cache_synced`]).
pub async fn caches_ready(ctx: &Context) -> bool {
    use operator_runtime::runner::{cache_synced, synced_within_wait};
    let (pods, slices) = futures::join!(
        synced_within_wait(ctx.pods.wait_until_synced()),
        cache_synced(&ctx.endpoint_slices)
    );
    pods && slices
}

/// What the controller knows about one of the RayService's clusters beyond the RayCluster itself.
#[derive(Debug)]
struct ClusterFacts {
    /// The cluster's index in [`Facts::owned`].
    index: usize,
    /// The head pod's name and its `ray.io/serve` label.
    head_pod: Option<(String, Option<String>)>,
    /// What Serve on the cluster said.
    serve: ServeInfo,
}

/// Everything observed about one RayService this pass.
#[derive(Debug)]
pub struct Facts {
    /// Every RayCluster labelled as this RayService's.
    pub owned: Vec<RayCluster>,
    active: Option<ClusterFacts>,
    pending: Option<ClusterFacts>,
    serve_service_target: Option<String>,
    head_service_target: Option<String>,
    num_serve_endpoints: i32,
    owned_services: Vec<OwnedService>,
}

impl Facts {
    /// The observation [`decide`](super::decide::decide) reads, at `now`, with `suffix` for a new cluster's name.
    pub fn observation<'a>(
        &'a self,
        service: &'a RayService,
        deletion_delay: Duration,
        now: Timestamp,
        suffix: &'a str,
    ) -> Observation<'a> {
        let side = |facts: &'a Option<ClusterFacts>| {
            let facts = facts.as_ref()?;
            Some(ClusterObservation {
                cluster: self.owned.get(facts.index)?,
                head_pod: facts.head_pod.clone(),
                serve: facts.serve.clone(),
            })
        };
        Observation {
            service,
            active: side(&self.active),
            pending: side(&self.pending),
            owned_clusters: &self.owned,
            serve_service_target: self.serve_service_target.clone(),
            head_service_target: self.head_service_target.clone(),
            num_serve_endpoints: self.num_serve_endpoints,
            owned_services: self.owned_services.clone(),
            deletion_delay,
            now,
            suffix,
        }
    }
}

/// Reads everything the decision depends on.
pub async fn observe(service: &RayService, ctx: &Context) -> Result<Facts, Error> {
    let namespace = service.namespace().unwrap_or_default();
    let name = service.name_any();
    let client = ctx.client.clone();
    let owned = owned_clusters(
        &Api::namespaced(client.clone(), &namespace),
        &namespace,
        &name,
    )
    .await?;
    let status = service.status.clone().unwrap_or_default();
    let mut sides = Vec::with_capacity(2);
    for side in [status.active_service_status, status.pending_service_status] {
        sides.push(cluster_facts(ctx, &owned, side.as_ref()).await);
    }
    let pending = sides.pop().flatten();
    let active = sides.pop().flatten();

    let svcs: Api<Service> = Api::namespaced(client, &namespace);
    let serve_svc_name = serve_service_name(service);
    let serve_svc = read_service(&svcs, &namespace, &serve_svc_name).await?;
    let head_svc = read_service(&svcs, &namespace, &format!("{name}-head-svc")).await?;
    let num_serve_endpoints = if serve_svc.is_some() {
        let slices = ctx.endpoint_slices.state();
        ready_endpoints(
            slices
                .iter()
                .map(AsRef::as_ref)
                .filter(|s| s.metadata.namespace.as_deref() == Some(namespace.as_str()))
                .filter(|s| s.labels().get(SERVICE_NAME_LABEL) == Some(&serve_svc_name)),
        )
    } else {
        0
    };
    let owned_services = [&serve_svc, &head_svc]
        .into_iter()
        .flatten()
        .filter(|svc| controlled_by(svc, service))
        .map(|svc| OwnedService {
            name: svc.name_any(),
            deleting: svc.metadata.deletion_timestamp.is_some(),
        })
        .collect();
    Ok(Facts {
        owned,
        active,
        pending,
        serve_service_target: selected_cluster(serve_svc.as_ref()),
        head_service_target: selected_cluster(head_svc.as_ref()),
        num_serve_endpoints,
        owned_services,
    })
}

/// Whether `svc` names the RayService as its owner: only such a Service is the RayService's to delete (a custom
/// serve Service name may name a Service someone else made).
fn controlled_by(svc: &Service, service: &RayService) -> bool {
    let Some(uid) = service.metadata.uid.as_deref() else {
        return false;
    };
    svc.owner_references().iter().any(|o| o.uid == uid)
}

/// The RayClusters labelled as this RayService's.
async fn owned_clusters(
    clusters: &Api<RayCluster>,
    namespace: &str,
    name: &str,
) -> Result<Vec<RayCluster>, Error> {
    let selector = owned_labels(name)
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",");
    Ok(clusters
        .list(&ListParams::default().labels(&selector))
        .await
        .map_err(ApiError::of(
            "reading",
            format!("the RayClusters of RayService {namespace}/{name}"),
        ))?
        .items)
}

/// The head pod and Serve of the cluster a side of the status names, when that cluster exists.
async fn cluster_facts(
    ctx: &Context,
    owned: &[RayCluster],
    side: Option<&RayServiceStatus>,
) -> Option<ClusterFacts> {
    let wanted = side?.ray_cluster_name.as_deref()?;
    let index = owned
        .iter()
        .position(|c| c.metadata.name.as_deref() == Some(wanted))?;
    let cluster = &owned[index];
    let head = head_pod(&ctx.pods, cluster);
    let serve = serve_info(&ctx.settings, &ctx.client, cluster, head.as_ref()).await;
    Some(ClusterFacts {
        index,
        head_pod: head.map(|h| (h.name, h.serve_label)),
        serve,
    })
}

async fn read_service(
    svcs: &Api<Service>,
    namespace: &str,
    name: &str,
) -> Result<Option<Service>, Error> {
    Ok(svcs.get_opt(name).await.map_err(ApiError::of(
        "reading",
        format!("Service {namespace}/{name}"),
    ))?)
}

/// A cluster's head pod, as far as the controller reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct HeadPod {
    name: String,
    serve_label: Option<String>,
    ip: Option<String>,
}

/// The cluster's head pod from the index: the one with its name and the head node type, not being deleted.
fn head_pod(pods: &PodIndex, cluster: &RayCluster) -> Option<HeadPod> {
    let namespace = cluster.namespace().unwrap_or_default();
    pods.cluster_pods(&namespace, &cluster.name_any())
        .iter()
        .find(|p| p.is_head() && !p.terminating)
        .map(|p| HeadPod {
            name: p.name.clone(),
            serve_label: p.serve.clone(),
            ip: p.ip.clone(),
        })
}

/// A cluster's dashboard: its address and a client with the configured timeout.
pub struct Dashboard {
    /// The address, for error messages.
    pub url: String,
    /// The client.
    pub client: DashboardClient,
}

/// The dashboard of `cluster`: the override when one is set (an operator outside the Kubernetes cluster), else
/// `<head Service FQDN>:<dashboard port>`. With token authentication the client carries the cluster's token
/// (read from its Secret with `kube`).
pub async fn dashboard(
    settings: &Settings,
    kube: &kube::Client,
    cluster: &RayCluster,
) -> Result<Dashboard, DashboardAddressError> {
    let url = dashboard_url(
        cluster,
        &settings.controller.render,
        settings.dashboard.url_override.as_deref(),
    )?;
    let auth = crate::dashboard_auth::for_cluster(kube, cluster).await;
    let client = dashboard_client(&url, settings.dashboard.timeout, &auth)?;
    Ok(Dashboard { url, client })
}

/// What Serve on a cluster says: not asked while the head is not ready.
async fn serve_info(
    settings: &Settings,
    kube: &kube::Client,
    cluster: &RayCluster,
    head: Option<&HeadPod>,
) -> ServeInfo {
    if !head_ready(cluster) {
        return ServeInfo::NotChecked;
    }
    let dashboard = match dashboard(settings, kube, cluster).await {
        Ok(dashboard) => dashboard,
        Err(error) => return ServeInfo::Unreachable(error.to_string()),
    };
    match dashboard.client.serve_applications().await {
        Ok(details) => ServeInfo::Found {
            applications: application_statuses(&details),
            head_proxy_healthy: head_proxy_healthy(
                &details,
                head.and_then(|h| h.ip.as_deref()),
                settings.dashboard.url_override.is_some(),
            ),
        },
        Err(error) => ServeInfo::Unreachable(error.to_string()),
    }
}

/// Whether the RayCluster controller reports the cluster's head pod ready.
pub fn head_ready(cluster: &RayCluster) -> bool {
    cluster.status.as_ref().is_some_and(|s| {
        s.conditions
            .iter()
            .any(|c| c.type_ == HEAD_POD_READY && c.status == "True")
    })
}

/// The `ray.io/cluster` a Service selects.
pub(super) fn selected_cluster(service: Option<&Service>) -> Option<String> {
    service?
        .spec
        .as_ref()?
        .selector
        .as_ref()?
        .get(labels::CLUSTER)
        .cloned()
}

/// The serve Service's name: the user's `serveService.metadata.name` or `<name>-serve-svc`.
pub fn serve_service_name(service: &RayService) -> String {
    let name = service.name_any();
    service
        .spec
        .serve_service
        .as_ref()
        .and_then(|s| s.metadata.name.clone())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| format!("{name}-serve-svc"))
}

/// Ready endpoints (distinct pods) in `slices`.
fn ready_endpoints<'a>(slices: impl Iterator<Item = &'a EndpointSlice>) -> i32 {
    let pods: BTreeSet<String> = slices
        .flat_map(|s| s.endpoints.iter().flatten())
        .filter(|e| e.conditions.as_ref().and_then(|c| c.ready) != Some(false))
        .filter_map(|e| {
            e.target_ref
                .as_ref()
                .and_then(|t| t.uid.clone().or_else(|| t.name.clone()))
        })
        .collect();
    i32::try_from(pods.len()).unwrap_or(i32::MAX)
}

/// Converts Serve's answer into the RayService status format: an empty application name becomes `default`;
/// deployment statuses Ray has and the API does not are mapped to the nearest (`UPSCALING`/`DOWNSCALING` →
/// `UPDATING`, `DEPLOY_FAILED` → `UNHEALTHY`), keeping Ray's message.
pub fn application_statuses(
    details: &ray_dashboard_client::ServeInstanceDetails,
) -> BTreeMap<String, AppStatus> {
    use ray_dashboard_client::{ApplicationStatus as A, DeploymentStatus as Dp};
    details
        .applications
        .iter()
        .map(|(name, app)| {
            let name = if name.is_empty() {
                "default".to_owned()
            } else {
                name.clone()
            };
            let status = match &app.status {
                A::NotStarted => Some(ApplicationStatus::NotStarted),
                A::Deploying => Some(ApplicationStatus::Deploying),
                A::DeployFailed => Some(ApplicationStatus::DeployFailed),
                A::Running => Some(ApplicationStatus::Running),
                A::Unhealthy => Some(ApplicationStatus::Unhealthy),
                A::Deleting => Some(ApplicationStatus::Deleting),
                A::Other(_) => None,
            };
            let deployments = app
                .deployments
                .iter()
                .map(|(dname, dep)| {
                    let status = match &dep.status {
                        Dp::Updating | Dp::Upscaling | Dp::Downscaling => {
                            Some(ServeDeploymentStatusValue::Updating)
                        }
                        Dp::Healthy => Some(ServeDeploymentStatusValue::Healthy),
                        Dp::Unhealthy | Dp::DeployFailed => {
                            Some(ServeDeploymentStatusValue::Unhealthy)
                        }
                        Dp::Other(_) => None,
                    };
                    (
                        dname.clone(),
                        ServeDeploymentStatus {
                            status,
                            message: dep.message.clone().filter(|m| !m.is_empty()),
                        },
                    )
                })
                .collect();
            let mut message = app.message.clone().filter(|m| !m.is_empty());
            if let (None, A::Other(raw)) = (&status, &app.status) {
                message = Some(format!(
                    "Serve status {raw}: {}",
                    message.unwrap_or_default()
                ));
            }
            (
                name,
                AppStatus {
                    status,
                    message,
                    serve_deployment_statuses: deployments,
                },
            )
        })
        .collect()
}

/// Whether the head's Serve proxy is healthy: a proxy on the head pod's IP reports `HEALTHY`. When every cluster
/// is mapped to one local dashboard (`--dashboard-url-override`), pod IPs mean nothing there, and any healthy
/// proxy counts.
pub fn head_proxy_healthy(
    details: &ray_dashboard_client::ServeInstanceDetails,
    head_pod_ip: Option<&str>,
    overridden: bool,
) -> bool {
    details.proxies.values().any(|p| {
        p.is_healthy()
            && (overridden || (head_pod_ip.is_some() && p.node_ip.as_deref() == head_pod_ip))
    })
}
