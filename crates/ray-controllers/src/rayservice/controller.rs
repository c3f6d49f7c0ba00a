//! The RayService controller: observes a RayService's clusters, their head pods, Serve on each cluster (through
//! the dashboard, with a short timeout), the serve and head Services and the serve Service's endpoints; asks
//! [`decide`] what to do; does it in order; publishes an Event for every outcome; writes the status only when it
//! changed.
//!
//! No finalizer: the clusters and Services carry controller owner references to the RayService, so the garbage
//! collector removes them with it, and nothing outside Kubernetes needs cleaning up.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{ObjectReference, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::jiff::Timestamp;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::core::DeserializeGuard;
use kube::runtime::controller::{Action as Requeue, Config as ControllerConfig};
use kube::runtime::events::{Event, EventType, Recorder};
use kube::runtime::{Controller, watcher};
use kube::{Api, Client, Resource, ResourceExt};
use ray_api_v1::raycluster::RayCluster;
use ray_api_v1::rayservice::RayService;
use ray_builders::service_cluster::{
    owner_head_service, ray_cluster_for_service, rayservice_serve_service,
};
use ray_builders::{ClusterContext, RenderOptions, labels, names};
use ray_dashboard_client::DashboardClient;
use tracing::{Instrument, debug, info, info_span, warn};

use super::decide::{
    Action, ClusterObservation, DELETE_AFTER_ANNOTATION, Observation, SERVE_CONFIG_HASH_ANNOTATION,
    ServeInfo, application_statuses, changed, decide, head_proxy_healthy, head_ready,
    with_update_time,
};
use super::events;
use crate::context::{FIELD_MANAGER, event_recorder, scope_label, scoped_api};
use crate::error::{Error, api_message};
use crate::raycluster::{FAILURE_REQUEUE, Shutdown};
use crate::rayjob::dashboard::{client_base_url, dashboard_url};

/// The label every RayCluster and Service made for a RayService carries; the controller watches only those.
const ORIGIN_LABEL_SELECTOR: &str = "ray.io/originated-from-crd=RayService";

/// KubeRay's default delay between a cluster losing the traffic and its deletion.
pub const DEFAULT_DELETION_DELAY: Duration = Duration::from_secs(60);

/// Settings of the RayService controller.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The namespace to watch, or `None` for all.
    pub namespace: Option<String>,
    /// How many RayServices are reconciled at once.
    pub concurrency: u16,
    /// Rendering settings (the cluster DNS domain for dashboard addresses, the operator version).
    pub render: RenderOptions,
    /// This operator instance's name in Events.
    pub instance: Option<String>,
    /// One dashboard URL used for every cluster instead of the head Service's DNS name, for an operator running
    /// outside the Kubernetes cluster (local development and tests).
    pub dashboard_url_override: Option<String>,
    /// The per-request timeout of dashboard calls.
    pub dashboard_timeout: Duration,
    /// How long a cluster that no longer serves is kept before it is deleted (so in-flight requests finish).
    pub deletion_delay: Duration,
    /// Where reconciles, the cache's objects and cache sync are reported.
    pub telemetry: crate::context::Telemetry,
}

struct ServiceContext {
    client: Client,
    recorder: Recorder,
    settings: Settings,
}

/// Runs the RayService controller until `shutdown` resolves.
pub async fn run(client: Client, settings: Settings, shutdown: Shutdown) {
    let namespace = settings.namespace.as_deref();
    let services: Api<DeserializeGuard<RayService>> = scoped_api(&client, namespace);
    let clusters: Api<RayCluster> = scoped_api(&client, namespace);
    let svcs: Api<Service> = scoped_api(&client, namespace);
    let recorder = event_recorder(&client, settings.instance.clone());
    let concurrency = settings.concurrency;
    let scope = scope_label(settings.namespace.as_deref());
    let telemetry = settings.telemetry.clone();
    let ctx = Arc::new(ServiceContext {
        client,
        recorder,
        settings,
    });
    info!(namespace = %scope, "starting the RayService controller");
    let owned = || watcher::Config::default().labels(ORIGIN_LABEL_SELECTOR);
    // Registered before the first await, so readiness waits for this controller too.
    let sync = telemetry.health.cache(format!("rayservices in {scope}"));
    let controller = Controller::new(services, watcher::Config::default())
        .owns(clusters, owned())
        .owns(svcs, owned())
        .with_config(ControllerConfig::default().concurrency(concurrency));
    let store = controller.store();
    let early_store = store.clone();
    let _registration = telemetry
        .metrics
        .watch_rayservices(store.clone(), service_conditions);
    let synced = async move {
        if store.wait_until_ready().await.is_ok() {
            sync.synced();
        }
    };
    let metrics = telemetry.metrics.clone();
    let running = controller
        .graceful_shutdown_on(shutdown.clone())
        .run(
            move |object, ctx| {
                let metrics = metrics.clone();
                async move {
                    metrics
                        .observe_reconcile(crate::metrics::RAYSERVICE, reconcile(object, ctx))
                        .await
                }
            },
            error_policy,
            ctx,
        )
        .for_each(|result| async move {
            match result {
                Ok((object, _)) => debug!(namespace = ?object.namespace, name = %object.name, "reconciled"),
                Err(kube::runtime::controller::Error::ReconcilerFailed(error, object)) => {
                    warn!(namespace = ?object.namespace, name = %object.name, %error, "reconcile failed")
                }
                Err(error) => warn!(%error, "controller error"),
            }
        });
    crate::raycluster::stop_before_sync(
        async {
            futures::join!(running, synced);
        },
        early_store,
        shutdown,
    )
    .await;
    info!(namespace = %scope, "the RayService controller stopped");
}

fn error_policy(
    _: Arc<DeserializeGuard<RayService>>,
    _: &Error,
    _: Arc<ServiceContext>,
) -> Requeue {
    Requeue::requeue(FAILURE_REQUEUE)
}

async fn reconcile(
    obj: Arc<DeserializeGuard<RayService>>,
    ctx: Arc<ServiceContext>,
) -> Result<Requeue, Error> {
    let span = info_span!("reconcile_rayservice", namespace = %obj.namespace().unwrap_or_default(), name = %obj.name_any());
    async move {
        match &obj.0 {
            Ok(service) => reconcile_service(service, &ctx).await,
            Err(invalid) => {
                warn!(error = %invalid.error, "the RayService cannot be read");
                publish(
                    &ctx,
                    &obj.object_ref(&()),
                    true,
                    events::INVALID_SPEC,
                    format!("The RayService cannot be read: {}", invalid.error),
                    None,
                )
                .await;
                Ok(Requeue::await_change())
            }
        }
    }
    .instrument(span)
    .await
}

/// The reference to a RayCluster in the RayService's namespace, for an Event's `related` object.
fn cluster_reference(namespace: &str, cluster: &str) -> ObjectReference {
    ObjectReference {
        api_version: Some("ray.io/v1".into()),
        kind: Some("RayCluster".into()),
        name: Some(cluster.to_owned()),
        namespace: Some(namespace.to_owned()),
        ..ObjectReference::default()
    }
}

async fn publish(
    ctx: &ServiceContext,
    reference: &ObjectReference,
    warning: bool,
    reason: &str,
    note: String,
    related: Option<ObjectReference>,
) {
    if warning {
        warn!(reason, %note, "RayService event");
    } else {
        info!(reason, %note, "RayService event");
    }
    let event = Event {
        type_: if warning {
            EventType::Warning
        } else {
            EventType::Normal
        },
        reason: reason.to_string(),
        note: Some(events::truncate(note)),
        action: "Reconcile".to_string(),
        secondary: related,
    };
    if let Err(error) = ctx.recorder.publish(&event, reference).await {
        warn!(%error, "could not publish an event");
    }
}

fn label(obj: &impl ResourceExt, key: &str) -> Option<String> {
    obj.labels().get(key).cloned()
}

fn selector_cluster(service: Option<&Service>) -> Option<String> {
    service?
        .spec
        .as_ref()?
        .selector
        .as_ref()?
        .get(labels::CLUSTER)
        .cloned()
}

/// The serve Service's name: the user's `serveService.metadata.name` or `<name>-serve-svc`.
fn serve_service_name(service: &RayService) -> String {
    let name = service.name_any();
    service
        .spec
        .serve_service
        .as_ref()
        .and_then(|s| s.metadata.name.clone())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| format!("{name}-serve-svc"))
}

struct HeadPod {
    name: String,
    serve_label: Option<String>,
    ip: Option<String>,
}

async fn head_pod(pods: &Api<Pod>, cluster: &str) -> Result<Option<HeadPod>, Error> {
    let list = pods
        .list(&ListParams::default().labels(&format!(
            "{}={cluster},{}={}",
            labels::CLUSTER,
            labels::NODE_TYPE,
            labels::NODE_TYPE_HEAD
        )))
        .await
        .map_err(|source| Error::Read {
            what: format!("the head pod of RayCluster {cluster}"),
            source,
        })?;
    Ok(list
        .items
        .into_iter()
        .find(|p| p.metadata.deletion_timestamp.is_none())
        .map(|p| HeadPod {
            name: p.name_any(),
            serve_label: label(&p, labels::SERVE),
            ip: p.status.as_ref().and_then(|s| s.pod_ip.clone()),
        }))
}

fn dashboard(ctx: &ServiceContext, cluster: &RayCluster) -> Result<DashboardClient, String> {
    let address = dashboard_url(
        cluster,
        &ctx.settings.render,
        ctx.settings.dashboard_url_override.as_deref(),
    )?;
    DashboardClient::new(&client_base_url(&address))
        .map(|c| c.with_timeout(ctx.settings.dashboard_timeout))
        .map_err(|e| e.to_string())
}

async fn observe_serve(
    ctx: &ServiceContext,
    cluster: &RayCluster,
    head: Option<&HeadPod>,
) -> ServeInfo {
    if !head_ready(cluster) {
        return ServeInfo::NotChecked;
    }
    let client = match dashboard(ctx, cluster) {
        Ok(client) => client,
        Err(error) => return ServeInfo::Unreachable(error),
    };
    match client.serve_applications().await {
        Ok(details) => ServeInfo::Found {
            applications: application_statuses(&details),
            head_proxy_healthy: head_proxy_healthy(
                &details,
                head.and_then(|h| h.ip.as_deref()),
                ctx.settings.dashboard_url_override.is_some(),
            ),
        },
        Err(error) => ServeInfo::Unreachable(error.to_string()),
    }
}

/// What to show of Ray's answer to a rejected config: a 4xx body is a short validation report (pydantic's lines
/// name the field, and its last line is only a link), so all of it, on one line; for a 5xx, the exception line.
fn rejection(status: u16, message: &str, body: &str) -> String {
    if status >= 500 {
        return message.to_owned();
    }
    let lines: Vec<&str> = body
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    if lines.is_empty() {
        message.to_owned()
    } else {
        lines.join(" / ")
    }
}

/// Ready endpoints (distinct pods) of the Service named `service` in `slices`.
fn ready_endpoints(slices: &[EndpointSlice]) -> i32 {
    let pods: BTreeSet<String> = slices
        .iter()
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

async fn reconcile_service(service: &RayService, ctx: &ServiceContext) -> Result<Requeue, Error> {
    let namespace = service.namespace().unwrap_or_default();
    let name = service.name_any();
    let client = &ctx.client;
    let services: Api<RayService> = Api::namespaced(client.clone(), &namespace);
    let clusters: Api<RayCluster> = Api::namespaced(client.clone(), &namespace);
    let pods: Api<Pod> = Api::namespaced(client.clone(), &namespace);
    let svcs: Api<Service> = Api::namespaced(client.clone(), &namespace);
    let slices: Api<EndpointSlice> = Api::namespaced(client.clone(), &namespace);
    if service.metadata.deletion_timestamp.is_some() {
        return Ok(Requeue::await_change());
    }

    let owned: Vec<RayCluster> = clusters
        .list(&ListParams::default().labels(&format!(
            "{}={name},{ORIGIN_LABEL_SELECTOR}",
            labels::ORIGINATED_FROM_CR_NAME
        )))
        .await
        .map_err(|source| Error::Read {
            what: format!("the RayClusters of RayService {namespace}/{name}"),
            source,
        })?
        .items;
    let status = service.status.clone().unwrap_or_default();
    let find = |side: Option<&ray_api_v1::rayservice::RayServiceStatus>| {
        let wanted = side.and_then(|s| s.ray_cluster_name.as_deref())?;
        owned
            .iter()
            .find(|c| c.metadata.name.as_deref() == Some(wanted))
    };
    let mut sides = Vec::new();
    for cluster in [
        find(status.active_service_status.as_ref()),
        find(status.pending_service_status.as_ref()),
    ] {
        let observation = match cluster {
            None => None,
            Some(cluster) => {
                let head = head_pod(&pods, &cluster.name_any()).await?;
                let serve = observe_serve(ctx, cluster, head.as_ref()).await;
                Some(ClusterObservation {
                    cluster,
                    head_pod: head.map(|h| (h.name, h.serve_label)),
                    serve,
                })
            }
        };
        sides.push(observation);
    }
    let pending = sides.pop().flatten();
    let active = sides.pop().flatten();

    let serve_svc_name = serve_service_name(service);
    let head_svc_name = format!("{name}-head-svc");
    let read_svc = |svc: String| {
        let svcs = svcs.clone();
        async move {
            svcs.get_opt(&svc).await.map_err(|source| Error::Read {
                what: format!("Service {svc}"),
                source,
            })
        }
    };
    let serve_svc = read_svc(serve_svc_name.clone()).await?;
    let head_svc = read_svc(head_svc_name).await?;
    let endpoint_slices = slices
        .list(
            &ListParams::default().labels(&format!("kubernetes.io/service-name={serve_svc_name}")),
        )
        .await
        .map_err(|source| Error::Read {
            what: format!("the EndpointSlices of Service {serve_svc_name}"),
            source,
        })?
        .items;
    let num_serve_endpoints = if serve_svc.is_some() {
        ready_endpoints(&endpoint_slices)
    } else {
        0
    };

    let seed = format!(
        "{:?}/{:?}",
        service.metadata.uid,
        std::time::SystemTime::now()
    );
    let suffix = names::random_suffix_from(seed.as_bytes());
    let now = Timestamp::now();
    let decision = decide(&Observation {
        service,
        active,
        pending,
        owned_clusters: &owned,
        serve_service_target: selector_cluster(serve_svc.as_ref()),
        head_service_target: selector_cluster(head_svc.as_ref()),
        num_serve_endpoints,
        deletion_delay: ctx.settings.deletion_delay,
        now,
        suffix: &suffix,
    });

    let reference = service.object_ref(&());
    for note in &decision.notes {
        let related = note
            .cluster
            .as_deref()
            .map(|c| cluster_reference(&namespace, c));
        publish(
            ctx,
            &reference,
            note.warning,
            note.reason,
            note.message.clone(),
            related,
        )
        .await;
    }
    let applier = Applier {
        ctx,
        service,
        reference: &reference,
        clusters: &clusters,
        owned: &owned,
        pods: &pods,
        svcs: &svcs,
    };
    for action in &decision.actions {
        applier.apply(action).await?;
    }

    if changed(service.status.as_ref(), &decision.status) {
        let patch = serde_json::json!({
            "apiVersion": "ray.io/v1",
            "kind": "RayService",
            "status": with_update_time(decision.status.clone(), now),
        });
        services
            .patch_status(
                &name,
                &PatchParams::apply(FIELD_MANAGER).force(),
                &Patch::Apply(&patch),
            )
            .await
            .map_err(|source| Error::Write {
                action: "writing the status of",
                what: format!("RayService {namespace}/{name}"),
                source,
            })?;
    }
    Ok(match decision.requeue_after {
        Some(after) => Requeue::requeue(after.max(Duration::from_millis(100))),
        None => Requeue::await_change(),
    })
}

struct Applier<'a> {
    ctx: &'a ServiceContext,
    service: &'a RayService,
    reference: &'a ObjectReference,
    clusters: &'a Api<RayCluster>,
    owned: &'a [RayCluster],
    pods: &'a Api<Pod>,
    svcs: &'a Api<Service>,
}

impl Applier<'_> {
    /// Publishes an Event about the RayService, related to `cluster` when it concerns one of its clusters.
    async fn event(&self, cluster: Option<&str>, warning: bool, reason: &str, note: String) {
        let related = cluster.map(|c| cluster_reference(&self.namespace(), c));
        publish(self.ctx, self.reference, warning, reason, note, related).await;
    }

    fn namespace(&self) -> String {
        self.service.namespace().unwrap_or_default()
    }

    fn render_error(&self, message: String) -> Error {
        Error::Render {
            what: format!(
                "RayService {}/{}",
                self.namespace(),
                self.service.name_any()
            ),
            message,
        }
    }

    /// Reports a failed write as a Warning event and returns it as the reconcile's error.
    async fn failed(
        &self,
        cluster: Option<&str>,
        reason: &str,
        action: &'static str,
        what: String,
        source: kube::Error,
    ) -> Error {
        self.event(
            cluster,
            true,
            reason,
            format!("{action} {what}: {}", api_message(&source)),
        )
        .await;
        Error::Write {
            action,
            what,
            source,
        }
    }

    fn cluster(&self, name: &str) -> Option<&RayCluster> {
        self.owned
            .iter()
            .find(|c| c.metadata.name.as_deref() == Some(name))
    }

    async fn annotate(
        &self,
        cluster: &str,
        key: &str,
        value: Option<String>,
    ) -> Result<(), kube::Error> {
        let patch = serde_json::json!({"metadata": {"annotations": {key: value}}});
        self.clusters
            .patch(cluster, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map(drop)
    }

    async fn apply(&self, action: &Action) -> Result<(), Error> {
        let namespace = self.namespace();
        match action {
            Action::CreateCluster { name } => {
                let cluster =
                    ray_cluster_for_service(self.service, name, &self.ctx.settings.render)
                        .map_err(|e| self.render_error(e.to_string()))?;
                match self.clusters.create(&PostParams::default(), &cluster).await {
                    Ok(_) => {
                        self.event(
                            Some(name),
                            false,
                            events::CREATED_CLUSTER,
                            format!("Created RayCluster {name}"),
                        )
                        .await;
                        Ok(())
                    }
                    Err(kube::Error::Api(status)) if status.code == 409 => Ok(()),
                    Err(source) => Err(self
                        .failed(
                            Some(name),
                            events::FAILED_TO_CREATE_CLUSTER,
                            "creating",
                            format!("RayCluster {namespace}/{name}"),
                            source,
                        )
                        .await),
                }
            }
            Action::UpdateCluster { name } => {
                let Some(existing) = self.cluster(name) else {
                    return Ok(());
                };
                let mut goal =
                    ray_cluster_for_service(self.service, name, &self.ctx.settings.render)
                        .map_err(|e| self.render_error(e.to_string()))?;
                // Kueue or a user may suspend the cluster; that is not ours to undo.
                goal.spec.suspend = existing.spec.suspend;
                let mut annotations = goal.metadata.annotations.take().unwrap_or_default();
                for key in [SERVE_CONFIG_HASH_ANNOTATION, DELETE_AFTER_ANNOTATION] {
                    if let Some(value) = existing.annotations().get(key) {
                        annotations.insert(key.to_owned(), value.clone());
                    }
                }
                let mut updated = existing.clone();
                updated.spec = goal.spec;
                updated.metadata.labels = goal.metadata.labels;
                updated.metadata.annotations = Some(annotations);
                updated.status = None;
                match self
                    .clusters
                    .replace(name, &PostParams::default(), &updated)
                    .await
                {
                    Ok(_) => {
                        self.event(
                            Some(name),
                            false,
                            events::UPDATED_CLUSTER,
                            format!(
                                "Updated RayCluster {name} in place: worker groups were appended"
                            ),
                        )
                        .await;
                        Ok(())
                    }
                    Err(source) => Err(self
                        .failed(
                            Some(name),
                            events::FAILED_TO_UPDATE_CLUSTER,
                            "updating",
                            format!("RayCluster {namespace}/{name}"),
                            source,
                        )
                        .await),
                }
            }
            Action::ApplyServeConfig {
                cluster,
                config,
                hash,
            } => {
                let Some(target) = self.cluster(cluster) else {
                    return Ok(());
                };
                let put = match dashboard(self.ctx, target) {
                    Ok(client) => client.put_serve_config(config).await.map_err(|e| {
                        let message = match &e {
                            ray_dashboard_client::Error::Status {
                                status,
                                message,
                                body,
                                ..
                            } => format!(
                                "Ray answered {status}: {}",
                                rejection(*status, message, body)
                            ),
                            other => other.to_string(),
                        };
                        (e.is_transient(), message)
                    }),
                    Err(error) => Err((false, error)),
                };
                if let Err((_, message)) = &put {
                    self.event(
                        Some(cluster),
                        true,
                        events::FAILED_TO_UPDATE_SERVE_APPLICATIONS,
                        format!(
                            "Applying the Serve config to RayCluster {cluster} failed: {message}"
                        ),
                    )
                    .await;
                    return Err(Error::Dashboard {
                        url: dashboard_url(
                            target,
                            &self.ctx.settings.render,
                            self.ctx.settings.dashboard_url_override.as_deref(),
                        )
                        .unwrap_or_default(),
                        message: message.clone(),
                    });
                }
                self.annotate(cluster, SERVE_CONFIG_HASH_ANNOTATION, Some(hash.clone()))
                    .await
                    .map_err(|source| Error::Write {
                        action: "recording the applied Serve config on",
                        what: format!("RayCluster {namespace}/{cluster}"),
                        source,
                    })?;
                let apps: Vec<String> = config["applications"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .map(|app| app["name"].as_str().unwrap_or("default").to_owned())
                            .collect()
                    })
                    .unwrap_or_default();
                self.event(
                    Some(cluster),
                    false,
                    events::UPDATED_SERVE_APPLICATIONS,
                    format!(
                        "Applied the Serve config (applications: {}) to RayCluster {cluster}",
                        apps.join(", ")
                    ),
                )
                .await;
                Ok(())
            }
            Action::SetHeadServeLabel {
                cluster,
                pod,
                serving,
            } => {
                let patch = serde_json::json!({"metadata": {"labels": {labels::SERVE: serving.to_string()}}});
                match self
                    .pods
                    .patch(pod, &PatchParams::default(), &Patch::Merge(&patch))
                    .await
                {
                    Ok(_) => {
                        self.event(
                            Some(cluster),
                            false,
                            events::UPDATED_HEAD_POD_SERVE_LABEL,
                            format!(
                                "Set {}={serving} on head pod {pod} of RayCluster {cluster}: its Serve proxy is {}",
                                labels::SERVE,
                                if *serving { "healthy" } else { "not healthy" }
                            ),
                        )
                        .await;
                        Ok(())
                    }
                    Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
                    Err(source) => Err(self
                        .failed(
                            Some(cluster),
                            events::FAILED_TO_UPDATE_HEAD_POD_SERVE_LABEL,
                            "labelling",
                            format!("pod {namespace}/{pod}"),
                            source,
                        )
                        .await),
                }
            }
            Action::PointServices { cluster } => {
                let Some(target) = self.cluster(cluster) else {
                    return Ok(());
                };
                let mut options = self.ctx.settings.render.clone();
                options.default_namespace = namespace.clone();
                let ctx = ClusterContext::new(target, &options)
                    .map_err(|e| self.render_error(e.to_string()))?;
                let serve = rayservice_serve_service(&ctx, self.service)
                    .map_err(|e| self.render_error(e.to_string()))?;
                let head =
                    owner_head_service(&ctx, labels::CRD_RAY_SERVICE, &self.service.metadata)
                        .map_err(|e| self.render_error(e.to_string()))?;
                let mut done = Vec::new();
                let mut created = false;
                let mut from = None;
                for svc in [serve, head] {
                    let svc_name = svc.name_any();
                    let before = self.svcs.get_opt(&svc_name).await.ok().flatten();
                    let result = self
                        .svcs
                        .patch(
                            &svc_name,
                            &PatchParams::apply(FIELD_MANAGER).force(),
                            &Patch::Apply(&svc),
                        )
                        .await;
                    if let Err(source) = result {
                        return Err(self
                            .failed(
                                Some(cluster),
                                events::FAILED_TO_UPDATE_SERVICE,
                                "applying",
                                format!("Service {namespace}/{svc_name}"),
                                source,
                            )
                            .await);
                    }
                    created |= before.is_none();
                    from = from.or_else(|| selector_cluster(before.as_ref()));
                    done.push(format!(
                        "{svc_name} ({})",
                        if before.is_some() {
                            "updated"
                        } else {
                            "created"
                        }
                    ));
                }
                let from = from
                    .filter(|c| c != cluster)
                    .map(|c| format!(", moved from RayCluster {c}"))
                    .unwrap_or_default();
                self.event(
                    Some(cluster),
                    false,
                    if created {
                        events::CREATED_SERVICE
                    } else {
                        events::UPDATED_SERVICE
                    },
                    format!(
                        "Services {} select RayCluster {cluster}{from}",
                        done.join(" and ")
                    ),
                )
                .await;
                Ok(())
            }
            Action::ScheduleClusterDeletion { name, at } => {
                self.annotate(name, DELETE_AFTER_ANNOTATION, Some(at.to_string()))
                    .await
                    .or_else(|e| match e {
                        kube::Error::Api(status) if status.code == 404 => Ok(()),
                        other => Err(other),
                    })
                    .map_err(|source| Error::Write {
                        action: "scheduling the deletion of",
                        what: format!("RayCluster {namespace}/{name}"),
                        source,
                    })?;
                self.event(
                    Some(name),
                    false,
                    events::SCHEDULED_CLUSTER_DELETION,
                    format!("RayCluster {name} no longer serves; it will be deleted at {at}"),
                )
                .await;
                Ok(())
            }
            Action::UnscheduleClusterDeletion { name } => self
                .annotate(name, DELETE_AFTER_ANNOTATION, None)
                .await
                .map_err(|source| Error::Write {
                    action: "cancelling the deletion of",
                    what: format!("RayCluster {namespace}/{name}"),
                    source,
                }),
            Action::DeleteCluster { name } => {
                match self
                    .clusters
                    .delete(name, &DeleteParams::background())
                    .await
                {
                    Ok(_) => {
                        self.event(
                            Some(name),
                            false,
                            events::DELETED_CLUSTER,
                            format!("Deleted RayCluster {name}: it no longer serves"),
                        )
                        .await;
                        Ok(())
                    }
                    Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
                    Err(source) => Err(self
                        .failed(
                            Some(name),
                            events::FAILED_TO_DELETE_CLUSTER,
                            "deleting",
                            format!("RayCluster {namespace}/{name}"),
                            source,
                        )
                        .await),
                }
            }
        }
    }
}

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

/// KubeRay's `kuberay_service_condition_*` reading of a RayService: its `Ready` and `UpgradeInProgress` conditions.
fn service_conditions(
    object: &DeserializeGuard<RayService>,
) -> Option<crate::metrics::ServiceConditions> {
    let service = object.0.as_ref().ok()?;
    let conditions = service
        .status
        .as_ref()
        .map(|s| s.conditions.as_slice())
        .unwrap_or_default();
    let is_true = |type_: &str| {
        conditions
            .iter()
            .any(|c| c.type_ == type_ && c.status == "True")
    };
    Some(crate::metrics::ServiceConditions {
        ready: is_true(super::decide::conditions::READY),
        upgrade_in_progress: is_true(super::decide::conditions::UPGRADE_IN_PROGRESS),
    })
}

#[cfg(test)]
mod metrics_tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_service_series_follow_the_ready_and_upgrade_conditions() {
        let service: RayService = serde_json::from_value(json!({
            "apiVersion": "ray.io/v1", "kind": "RayService",
            "metadata": {"name": "s", "namespace": "ns"},
            "spec": {"rayClusterConfig": {"headGroupSpec": {"rayStartParams": {}, "template": {"spec": {
                "containers": [{"name": "ray-head", "image": "rayproject/ray:2.60.0"}]}}}}},
            "status": {"conditions": [
                {"type": "Ready", "status": "True", "reason": "NonZeroServeEndpoints", "message": "",
                 "lastTransitionTime": "2026-01-01T00:00:00Z"},
                {"type": "UpgradeInProgress", "status": "False", "reason": "NoPendingCluster", "message": "",
                 "lastTransitionTime": "2026-01-01T00:00:00Z"}]}
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            service_conditions(&DeserializeGuard(Ok(service))),
            Some(crate::metrics::ServiceConditions {
                ready: true,
                upgrade_in_progress: false
            })
        );
    }
}
