//! The RayCluster controller: keeps a head pod, worker pods per group, Services, Ingress and autoscaler RBAC in
//! line with each RayCluster, and reports what it sees in the status, in Events and in logs.
//!
//! One reconcile: validate → render (ray-builders) → create missing Services/Ingress/RBAC → decide pod changes
//! from the cache (a pure function, [`decide()`]) → apply them, recording expectations first → compute the status
//! from the cache and write it only if it changed.

pub mod apply;
pub mod decide;
pub mod events;
pub mod gcs_ft;
pub mod status;

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use futures::future::{BoxFuture, Shared};
use k8s_openapi::api::core::v1::{Pod, Service, ServiceAccount};
use k8s_openapi::api::networking::v1::Ingress;
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Patch, PatchParams};
use kube::core::DeserializeGuard;
use kube::runtime::controller::{Action as Requeue, Config as ControllerConfig};
use kube::runtime::events::EventType;
use kube::runtime::{Controller, WatchStreamExt, watcher};
use kube::{Api, Client, Resource, ResourceExt};
use ray_api_v1::RayCluster;
use ray_builders::{ClusterContext, RenderOptions, labels, names};
use tracing::{Instrument, debug, info, info_span, warn};

use crate::context::{Context, FIELD_MANAGER, Telemetry, event_recorder, scope_label, scoped_api};
use crate::error::Error;
use crate::expectations::{EXPECTATION_TIMEOUT, Expectations, GroupKey};
use crate::pod_cache;
use apply::Applier;
use decide::{Observation, decide};
use status::{Failure, StatusInputs};

/// How long to wait before retrying after a failure the user or the cluster must fix (quota, admission).
pub const FAILURE_REQUEUE: Duration = Duration::from_secs(10);

/// Settings of the RayCluster controller.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The namespace to watch, or `None` for all.
    pub namespace: Option<String>,
    /// How many RayClusters are reconciled at once (one RayCluster is never reconciled twice at once).
    pub concurrency: u16,
    /// Rendering settings.
    pub render: RenderOptions,
    /// This operator instance's name in Events (`reportingInstance`), e.g. the pod name.
    pub instance: Option<String>,
    /// Where reconciles, the cache's objects and cache sync are reported.
    pub telemetry: Telemetry,
}

/// A future that resolves when the operator should stop; cloneable so every controller can wait on it.
pub type Shutdown = Shared<BoxFuture<'static, ()>>;

/// Runs the RayCluster controller until `shutdown` resolves, then lets running reconciles finish.
pub async fn run(
    client: Client,
    settings: Settings,
    expectations: Arc<Expectations>,
    shutdown: Shutdown,
) {
    let namespace = settings.namespace.as_deref();
    let clusters: Api<DeserializeGuard<RayCluster>> = scoped_api(&client, namespace);
    let pods: Api<Pod> = scoped_api(&client, namespace);
    let services: Api<Service> = scoped_api(&client, namespace);
    let (pod_store, pod_stream) = pod_cache::pod_cache(pods);
    let (service_store, service_writer) = kube::runtime::reflector::store();
    let service_stream = watcher(services, watcher::Config::default().labels(labels::CLUSTER))
        .default_backoff()
        .modify(|service: &mut Service| service.metadata.managed_fields = None)
        .reflect(service_writer)
        .touched_objects();
    let recorder = event_recorder(&client, settings.instance.clone());
    let metrics = settings.telemetry.metrics.clone();
    let ctx = Arc::new(Context {
        client,
        recorder,
        pods: pod_store.clone(),
        services: service_store,
        expectations,
        render: settings.render.clone(),
        metrics: metrics.clone(),
    });
    let scope = scope_label(settings.namespace.as_deref());
    info!(namespace = %scope, concurrency = settings.concurrency, "starting the RayCluster controller");
    // Registered before the first await, so readiness waits for this controller too.
    let sync = settings
        .telemetry
        .health
        .cache(format!("rayclusters and pods in {scope}"));
    let controller = Controller::new(clusters, watcher::Config::default())
        .owns_stream(pod_stream)
        .owns_stream(service_stream)
        .with_config(ControllerConfig::default().concurrency(settings.concurrency));
    let cluster_store = controller.store();
    let early_store = cluster_store.clone();
    let _registration = metrics.watch_rayclusters(cluster_store.clone());
    let synced = async move {
        // Both stores end (with an error) when the controller stops, so this never outlives it.
        if cluster_store.wait_until_ready().await.is_ok()
            && pod_store.wait_until_ready().await.is_ok()
        {
            debug!(namespace = %scope, "RayCluster and pod caches synced");
            sync.synced();
        }
    };
    let running = controller
        .graceful_shutdown_on(shutdown.clone())
        .run(
            |object, ctx| async move {
                let metrics = ctx.metrics.clone();
                metrics
                    .observe_reconcile(crate::metrics::RAYCLUSTER, reconcile(object, ctx))
                    .await
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
    stop_before_sync(
        async {
            futures::join!(running, synced);
        },
        early_store,
        shutdown,
    )
    .await;
    info!(namespace = ?settings.namespace, "the RayCluster controller stopped");
}

/// Runs a controller until it ends; but if `shutdown` comes before its main cache (`store`) has synced, stops it
/// at once. kube-runtime holds every reconcile until that cache is ready and keeps waiting for it even after a
/// shutdown, which would hang the process; nothing has been reconciled yet, so dropping it is safe.
pub(crate) async fn stop_before_sync<K>(
    running: impl std::future::Future<Output = ()>,
    store: kube::runtime::reflector::Store<K>,
    shutdown: Shutdown,
) where
    K: kube::Resource + Clone + 'static,
    K::DynamicType: std::hash::Hash + Eq + Clone,
{
    use futures::FutureExt as _;
    let early = async {
        shutdown.await;
        if store.wait_until_ready().now_or_never().is_some() {
            // Synced (or finished): the graceful shutdown works; let it.
            futures::future::pending::<()>().await;
        }
    };
    tokio::select! {
        () = running => {}
        () = early => debug!("stopped before the cache synced"),
    }
}

fn error_policy(_: Arc<DeserializeGuard<RayCluster>>, _: &Error, _: Arc<Context>) -> Requeue {
    Requeue::requeue(FAILURE_REQUEUE)
}

async fn reconcile(
    obj: Arc<DeserializeGuard<RayCluster>>,
    ctx: Arc<Context>,
) -> Result<Requeue, Error> {
    let namespace = obj.namespace().unwrap_or_default();
    let name = obj.name_any();
    let span = info_span!("reconcile", namespace = %namespace, name = %name);
    async move {
        match &obj.0 {
            Ok(cluster) => reconcile_cluster(cluster, &ctx).await,
            Err(invalid) => {
                // An object the types cannot read (a field of the wrong type that the CRD schema let through):
                // report it on the object and wait for the user to change it. Other clusters are unaffected.
                warn!(error = %invalid.error, "the RayCluster cannot be read");
                let event = kube::runtime::events::Event {
                    type_: EventType::Warning,
                    reason: events::INVALID_SPEC.to_string(),
                    note: Some(events::note(&format!(
                        "The RayCluster cannot be read: {}",
                        invalid.error
                    ))),
                    action: events::ACTION_VALIDATE.to_string(),
                    secondary: None,
                };
                if let Err(error) = ctx.recorder.publish(&event, &obj.object_ref(&())).await {
                    warn!(%error, "could not publish an event");
                }
                Ok(Requeue::await_change())
            }
        }
    }
    .instrument(span)
    .await
}

fn cluster_pods<'a>(store: &'a [Arc<Pod>], namespace: &str, name: &str) -> Vec<&'a Pod> {
    store
        .iter()
        .map(AsRef::as_ref)
        .filter(|p| {
            p.metadata.namespace.as_deref() == Some(namespace)
                && p.metadata
                    .labels
                    .as_ref()
                    .and_then(|l| l.get(labels::CLUSTER))
                    .map(String::as_str)
                    == Some(name)
        })
        .collect()
}

fn now() -> Time {
    Time(k8s_openapi::jiff::Timestamp::now())
}

async fn reconcile_cluster(cluster: &RayCluster, ctx: &Context) -> Result<Requeue, Error> {
    // The RayCluster watch can deliver objects before the pod cache has finished its first list; deciding from
    // a partial cache would create pods that already exist (seen when a new leader or a restarted operator
    // starts). The wait ends at once after the first list, and with an error when the controller stops.
    // Bounded: kube-runtime keeps the pod watch (and so the cache's writer) alive after a shutdown.
    match tokio::time::timeout(Duration::from_secs(5), ctx.pods.wait_until_ready()).await {
        Ok(Ok(())) => {}
        _ => return Ok(Requeue::requeue(Duration::from_secs(1))),
    }
    let namespace = cluster.namespace().unwrap_or_default();
    let name = cluster.name_any();
    let snapshot = ctx.pods.state();
    let pods = cluster_pods(&snapshot, &namespace, &name);
    if cluster.metadata.deletion_timestamp.is_some() {
        ctx.expectations.forget_cluster(&namespace, &name);
        if gcs_ft::has_finalizer(cluster) {
            let mut options = ctx.render.clone();
            options.default_namespace = namespace.clone();
            let builder = ClusterContext::new(cluster, &options).ok();
            return gcs_ft::cleanup(
                ctx,
                cluster,
                builder.as_ref(),
                &pods,
                &cluster.object_ref(&()),
            )
            .await;
        }
        // The garbage collector removes the children (they carry controller owner references).
        return Ok(Requeue::await_change());
    }
    if gcs_ft::ensure_finalizer(ctx, cluster).await? {
        return Ok(Requeue::await_change());
    }

    let invalid = match ray_api_v1::validation::validate_cluster(cluster) {
        Err(errors) => Some(errors.to_string()),
        Ok(()) => None,
    };
    let mut render_options = ctx.render.clone();
    render_options.default_namespace = namespace.clone();
    let builder = ClusterContext::new(cluster, &render_options);
    // Render each kind of object once before creating anything, so an invalid template creates nothing. One pod
    // per group, not every desired pod: the cost must not grow with `replicas` (2147483647 is a valid value).
    let prepared = match (&invalid, &builder) {
        (Some(message), _) => Err(message.clone()),
        (None, Err(error)) => Err(error.to_string()),
        (None, Ok(b)) => ray_builders::objects::check_cluster_renders(b).map_err(|e| e.to_string()),
    };
    let reference = cluster.object_ref(&());
    let builder = match (builder, prepared) {
        (Ok(builder), Ok(())) => builder,
        (_, Err(message)) => {
            warn!(%message, "the RayCluster spec is invalid; nothing is created");
            let event = kube::runtime::events::Event {
                type_: EventType::Warning,
                reason: events::INVALID_SPEC.to_string(),
                note: Some(events::note(&format!("Invalid RayCluster spec: {message}"))),
                action: events::ACTION_VALIDATE.to_string(),
                secondary: None,
            };
            if let Err(error) = ctx.recorder.publish(&event, &reference).await {
                warn!(%error, "could not publish an event");
            }
            let failure = Failure {
                reason: events::INVALID_SPEC.to_string(),
                message: format!("Invalid RayCluster spec: {message}"),
                replica: false,
            };
            write_status(ctx, cluster, &pods, None, Some(&failure)).await?;
            return Ok(Requeue::await_change());
        }
        (Err(error), Ok(_)) => {
            // Unreachable in practice (prepared is an error whenever builder is), handled without panicking.
            return Err(Error::Render {
                what: format!("{namespace}/{name}"),
                message: error.to_string(),
            });
        }
    };

    let applier = Applier {
        ctx,
        cluster: &builder,
        reference,
    };
    let mut failure: Option<Failure> = None;

    // 1. Autoscaler RBAC, 2. Ingress, 3. Services: create-only, in this order.
    if let Some(rbac) =
        ray_builders::rbac::autoscaler_rbac(&builder).map_err(|e| Error::Render {
            what: format!("{namespace}/{name}"),
            message: e.to_string(),
        })?
    {
        if let Some(account) = rbac.service_account {
            note_failure(
                &mut failure,
                applier
                    .ensure::<ServiceAccount>(account, &apply::SERVICE_ACCOUNT)
                    .await?,
            );
        }
        note_failure(
            &mut failure,
            applier.ensure::<Role>(rbac.role, &apply::ROLE).await?,
        );
        note_failure(
            &mut failure,
            applier
                .ensure::<RoleBinding>(rbac.role_binding, &apply::ROLE_BINDING)
                .await?,
        );
    }
    let render_error = |e: &dyn std::fmt::Display| Error::Render {
        what: format!("{namespace}/{name}"),
        message: e.to_string(),
    };
    if let Some(ingress) =
        ray_builders::ingress::head_ingress(&builder).map_err(|e| render_error(&e))?
    {
        note_failure(
            &mut failure,
            applier.ensure::<Ingress>(ingress, &apply::INGRESS).await?,
        );
    }
    let head_service = match applier
        .ensure_service(
            ray_builders::service::head_service(&builder).map_err(|e| render_error(&e))?,
            &apply::SERVICE,
        )
        .await?
    {
        Ok(service) => Some(service),
        Err(f) => {
            failure.get_or_insert(f);
            None
        }
    };
    if let Some(headless) =
        ray_builders::service::headless_worker_service(&builder).map_err(|e| render_error(&e))?
    {
        note_failure(
            &mut failure,
            applier.ensure_service(headless, &apply::SERVICE).await?,
        );
    }
    if let Some(serve) =
        ray_builders::service::cluster_serve_service(&builder).map_err(|e| render_error(&e))?
    {
        note_failure(
            &mut failure,
            applier.ensure_service(serve, &apply::SERVICE).await?,
        );
    }

    // 4. Pods: decide from the cache, guarded by expectations.
    let instant = Instant::now();
    let names_of = |filter: &dyn Fn(&Pod) -> bool| -> BTreeSet<&str> {
        pods.iter()
            .filter(|p| filter(p))
            .filter_map(|p| p.metadata.name.as_deref())
            .collect()
    };
    let head_settled = ctx.expectations.satisfied(
        &GroupKey::head(&namespace, &name),
        &names_of(&decide::is_head),
        instant,
    );
    let mut unsettled = BTreeSet::new();
    for group in &cluster.spec.worker_group_specs {
        let key = GroupKey::worker(&namespace, &name, &group.group_name);
        if !ctx.expectations.satisfied(
            &key,
            &names_of(&|p| decide::is_worker_of(p, &group.group_name)),
            instant,
        ) {
            unsettled.insert(group.group_name.clone());
        }
    }
    let observation = Observation {
        spec: &cluster.spec,
        pods: &pods,
        head_settled,
        unsettled_groups: &unsettled,
    };
    let mut used_replica_names: HashSet<String> = HashSet::new();
    let uid = cluster.metadata.uid.clone().unwrap_or_default();
    let actions = decide(&observation, &mut |group| loop {
        let seed = format!(
            "{uid}/{group}/{:?}/{}",
            std::time::SystemTime::now(),
            used_replica_names.len()
        );
        let candidate = names::with_suffix(group, &names::random_suffix_from(seed.as_bytes()));
        if used_replica_names.insert(candidate.clone()) {
            break candidate;
        }
    });
    let acted = !actions.is_empty();
    if acted {
        info!(actions = actions.len(), "changing pods");
    }
    if let Some(f) = applier.pods(actions).await? {
        failure.get_or_insert(f);
    }

    // 5. Status from the cache.
    write_status(ctx, cluster, &pods, head_service.as_ref(), failure.as_ref()).await?;

    Ok(if failure.is_some() {
        Requeue::requeue(FAILURE_REQUEUE)
    } else if acted || !head_settled || !unsettled.is_empty() {
        // The pod watch brings the next reconcile; this only matters if an expected change never shows up.
        Requeue::requeue(EXPECTATION_TIMEOUT)
    } else {
        Requeue::await_change()
    })
}

fn note_failure<K>(failure: &mut Option<Failure>, result: Result<K, Failure>) {
    if let Err(f) = result {
        failure.get_or_insert(f);
    }
}

async fn write_status(
    ctx: &Context,
    cluster: &RayCluster,
    pods: &[&Pod],
    head_service: Option<&Service>,
    failure: Option<&Failure>,
) -> Result<(), Error> {
    let time = now();
    let computed = status::compute(&StatusInputs {
        cluster,
        pods,
        head_service,
        failure,
        now: time.clone(),
    });
    if !status::changed(cluster.status.as_ref(), &computed) {
        return Ok(());
    }
    let namespace = cluster.namespace().unwrap_or_default();
    let name = cluster.name_any();
    let provisioned =
        |conditions: &[k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition]| {
            conditions
                .iter()
                .any(|c| c.type_ == status::PROVISIONED && c.status == "True")
        };
    let newly_provisioned = provisioned(&computed.conditions)
        && !cluster
            .status
            .as_ref()
            .is_some_and(|s| provisioned(&s.conditions));
    let status = status::with_update_time(computed, time.clone());
    let api: Api<RayCluster> = Api::namespaced(ctx.client.clone(), &namespace);
    let patch = serde_json::json!({
        "apiVersion": "ray.io/v1",
        "kind": "RayCluster",
        "status": status,
    });
    api.patch_status(
        &name,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&patch),
    )
    .await
    .map_err(|source| Error::Status {
        what: format!("{namespace}/{name}"),
        source,
    })?;
    debug!(state = ?status.state, "status written");
    if newly_provisioned {
        ctx.metrics.record_cluster_provisioned(cluster, &time);
    }
    Ok(())
}
