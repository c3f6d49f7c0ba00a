//! Runs one kube-runtime [`Controller`] the same way for every kind: what each controller would otherwise copy.
//!
//! - readiness: the controller's caches are registered with [`Health`] before anything awaits, and marked synced
//!   once each has finished its first list;
//! - an object the types cannot read (a field of the wrong type the CRD schema let through) gets one Warning Event
//!   naming the problem and waits for a change; the other objects are unaffected;
//! - every reconcile runs in a span with the object's namespace and name, is counted in
//!   `ray_operator_reconcile_total` with its error's [`ReconcileError::category`], and its result is logged;
//! - after an error the object is retried with a per-object exponential back-off ([`Backoff`]), reset by the next
//!   success;
//! - on shutdown running reconciles finish; a shutdown before the main cache synced stops at once.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use futures::StreamExt;
use futures::future::BoxFuture;
use kube::core::DeserializeGuard;
use kube::runtime::Controller;
use kube::runtime::controller::Action;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Resource, ResourceExt};
use serde::de::DeserializeOwned;
use tracing::{Instrument, debug, info, info_span, warn};

use crate::events::{EventPublisher, Notice};
use crate::health::Health;
use crate::metrics::Metrics;
use crate::{ReconcileError, Shutdown};

/// What one controller does with one readable object. The runner handles everything else.
pub trait Reconciler: Send + Sync + 'static {
    /// The kind reconciled.
    type Object: Resource<DynamicType = ()>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static;
    /// Why a reconcile did not finish.
    type Error: ReconcileError;

    /// The controller's name: the `controller` label of the reconcile series and a field of every log line.
    const NAME: &'static str;
    /// The Event reason for an object that cannot be read (e.g. `InvalidRayClusterSpec`).
    const UNREADABLE_REASON: &'static str;

    /// Brings the world in line with `object` and says when to look again.
    fn reconcile(
        &self,
        object: &Self::Object,
    ) -> impl Future<Output = Result<Action, Self::Error>> + Send;
}

/// How long a reconcile waits for one of its caches' first list before it tries again later ([`cache_synced`]).
pub const CACHE_SYNC_WAIT: Duration = Duration::from_secs(5);

/// Whether `store` has finished its first list, waiting for it at most [`CACHE_SYNC_WAIT`]. A reconcile deciding
/// from a partial cache would act on objects that exist but are not listed yet (seen when a new leader or a
/// restarted operator starts). Bounded: kube-runtime keeps a watch (and so its cache's writer) alive after a
/// shutdown, so the wait could otherwise outlive the controller.
pub async fn cache_synced<K>(store: &Store<K>) -> bool
where
    K: Resource + Clone + 'static,
    K::DynamicType: Hash + Eq + Clone,
{
    matches!(
        tokio::time::timeout(CACHE_SYNC_WAIT, store.wait_until_ready()).await,
        Ok(Ok(()))
    )
}

/// [`cache_synced`] for a cache of another kind than a kube-runtime [`Store`]: whether `synced` resolves within
/// [`CACHE_SYNC_WAIT`].
pub async fn synced_within_wait(synced: impl Future<Output = ()>) -> bool {
    tokio::time::timeout(CACHE_SYNC_WAIT, synced).await.is_ok()
}

/// Per-object retry delays after errors: `initial`, doubled per consecutive error, at most `max`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    /// The delay after the first error.
    pub initial: Duration,
    /// The longest delay.
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(60),
        }
    }
}

impl Backoff {
    /// The delay after `failures` consecutive errors (1 for the first).
    pub fn delay(&self, failures: u32) -> Duration {
        let factor = 2u32.saturating_pow(failures.saturating_sub(1));
        self.initial.saturating_mul(factor).min(self.max)
    }
}

/// How a controller is run.
#[derive(Clone, Debug)]
pub struct RunnerSettings {
    /// How many objects are reconciled at once (one object is never reconciled twice at once).
    pub concurrency: u16,
    /// The retry delays after errors.
    pub backoff: Backoff,
    /// Where reconciles are counted.
    pub metrics: Arc<Metrics>,
    /// Where cache sync is reported for readiness.
    pub health: Arc<Health>,
    /// Publishes the Event about an unreadable object.
    pub events: EventPublisher,
    /// What the controller watches, for logs and readiness (`rayclusters in ns-a`).
    pub scope: String,
}

/// A cache besides the controller's own whose first list must finish before the controller counts as ready.
pub struct Cache {
    name: String,
    ready: BoxFuture<'static, bool>,
}

impl Cache {
    /// The cache behind `store`, named for readiness messages (`pods in ns-a`).
    pub fn of<K>(name: impl Into<String>, store: Store<K>) -> Self
    where
        K: Resource + Clone + Send + Sync + 'static,
        K::DynamicType: Hash + Eq + Clone + Send + Sync,
    {
        Cache {
            name: name.into(),
            ready: Box::pin(async move { store.wait_until_ready().await.is_ok() }),
        }
    }

    /// A cache of another kind, ready when `synced` resolves (`true`) or fails (`false`).
    pub fn from_future(
        name: impl Into<String>,
        synced: impl Future<Output = bool> + Send + 'static,
    ) -> Self {
        Cache {
            name: name.into(),
            ready: Box::pin(synced),
        }
    }
}

struct Shared<R> {
    reconciler: Arc<R>,
    settings: RunnerSettings,
    /// Consecutive errors per object, for the back-off; removed by a success.
    failures: Mutex<HashMap<(String, String), u32>>,
}

/// The back-off's key: namespace and name.
fn key<K: Resource>(object: &K) -> (String, String) {
    let meta = object.meta();
    (
        meta.namespace.clone().unwrap_or_default(),
        meta.name.clone().unwrap_or_default(),
    )
}

/// Runs `controller` with `reconciler` until `shutdown`, then lets running reconciles finish. `caches` are the
/// controller's other caches that readiness waits for (its main cache is always included).
pub async fn run<R>(
    controller: Controller<DeserializeGuard<R::Object>>,
    reconciler: Arc<R>,
    caches: Vec<Cache>,
    settings: RunnerSettings,
    shutdown: Shutdown,
) where
    R: Reconciler,
{
    let name = R::NAME;
    let scope = settings.scope.clone();
    info!(controller = name, scope = %scope, concurrency = settings.concurrency, "starting");
    let store = controller.store();
    // Registered before the first await, so readiness waits for this controller too.
    let sync = settings.health.cache(scope.clone());
    let early_store = store.clone();
    let synced = async move {
        if store.wait_until_ready().await.is_err() {
            return;
        }
        for cache in caches {
            if !cache.ready.await {
                return;
            }
            debug!(controller = name, cache = %cache.name, "cache synced");
        }
        sync.synced();
    };
    let shared = Arc::new(Shared {
        reconciler,
        settings: settings.clone(),
        failures: Mutex::new(HashMap::new()),
    });
    let running = controller
        .with_config(kube::runtime::controller::Config::default().concurrency(settings.concurrency))
        .graceful_shutdown_on(shutdown.clone())
        .run(reconcile::<R>, error_policy::<R>, shared)
        .for_each(|result| {
            log_result(name, result);
            futures::future::ready(())
        });
    stop_before_sync(until_ends(running, synced), early_store, shutdown).await;
    info!(controller = name, scope = %scope, "stopped");
}

/// One line per finished reconcile: debug for a success, warning with the category for an error. Synchronous, so
/// the stream's future stays `Send` for any `Reconciler`.
fn log_result<K, E>(
    name: &str,
    result: Result<
        (ObjectRef<K>, Action),
        kube::runtime::controller::Error<E, kube::runtime::watcher::Error>,
    >,
) where
    K: kube::runtime::reflector::Lookup,
    E: ReconcileError,
{
    match result {
        Ok((object, _)) => {
            debug!(controller = name, namespace = ?object.namespace, name = %object.name, "reconciled")
        }
        Err(kube::runtime::controller::Error::ReconcilerFailed(error, object)) => warn!(
            controller = name, namespace = ?object.namespace, name = %object.name,
            category = error.category(), %error, "reconcile failed"
        ),
        Err(error) => warn!(controller = name, %error, "controller error"),
    }
}

async fn reconcile<R: Reconciler>(
    object: Arc<DeserializeGuard<R::Object>>,
    shared: Arc<Shared<R>>,
) -> Result<Action, R::Error> {
    let namespace = object.namespace().unwrap_or_default();
    let name = object.name_any();
    let span = info_span!("reconcile", controller = R::NAME, namespace = %namespace, name = %name);
    async move {
        let start = Instant::now();
        let result = match &object.0 {
            Ok(readable) => shared.reconciler.reconcile(readable).await,
            Err(invalid) => {
                // Reported on the object; the user must change it. Other objects are unaffected.
                warn!(error = %invalid.error, "the object cannot be read");
                let kind = R::Object::kind(&());
                shared
                    .settings
                    .events
                    .publish(
                        &object.object_ref(&()),
                        Notice::warning(
                            R::UNREADABLE_REASON,
                            "Validate",
                            format!("The {kind} cannot be read: {}", invalid.error),
                        ),
                    )
                    .await;
                Ok(Action::await_change())
            }
        };
        let category = result.as_ref().err().map(ReconcileError::category);
        shared
            .settings
            .metrics
            .record_reconcile(R::NAME, category, start.elapsed());
        if result.is_ok() {
            lock(&shared.failures).remove(&key(object.as_ref()));
        }
        result
    }
    .instrument(span)
    .await
}

fn error_policy<R: Reconciler>(
    object: Arc<DeserializeGuard<R::Object>>,
    _error: &R::Error,
    shared: Arc<Shared<R>>,
) -> Action {
    let failures = {
        let mut map = lock(&shared.failures);
        let count = map.entry(key(object.as_ref())).or_insert(0);
        *count = count.saturating_add(1);
        *count
    };
    Action::requeue(shared.settings.backoff.delay(failures))
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // The map holds retry counts only; a panic elsewhere must not stop every retry.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Runs `running` to its end while `watching` runs beside it, and drops `watching` then, finished or not. A cache the
/// controller stopped before its first list never becomes ready (the pod index's readiness waits on a channel the
/// index itself keeps open), so waiting for the readiness watcher too would hang a shutdown that comes in the
/// moments after a (re)start.
async fn until_ends(running: impl Future<Output = ()>, watching: impl Future<Output = ()>) {
    let watching = async {
        watching.await;
        futures::future::pending::<()>().await;
    };
    tokio::select! {
        () = running => {}
        () = watching => {}
    }
}

/// Runs a controller until it ends; but if `shutdown` comes before its main cache (`store`) has synced, stops it
/// at once. kube-runtime holds every reconcile until that cache is ready and keeps waiting for it even after a
/// shutdown, which would hang the process; nothing has been reconciled yet, so dropping it is safe.
async fn stop_before_sync<K>(running: impl Future<Output = ()>, store: Store<K>, shutdown: Shutdown)
where
    K: Resource + Clone + 'static,
    K::DynamicType: Hash + Eq + Clone,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backoff_doubles_up_to_its_maximum() {
        let backoff = Backoff::default();
        let delays: Vec<u64> = (1..=9).map(|n| backoff.delay(n).as_secs()).collect();
        assert_eq!(delays, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
        assert_eq!(backoff.delay(u32::MAX), Duration::from_secs(60));
        assert_eq!(backoff.delay(0), Duration::from_secs(1));
    }

    /// Reconciles nothing: the test below never gives the controller an object.
    struct Idle;

    #[derive(Debug, thiserror::Error)]
    #[error("never")]
    struct Never;

    impl ReconcileError for Never {
        fn category(&self) -> &'static str {
            "never"
        }
    }

    impl Reconciler for Idle {
        type Object = k8s_openapi::api::core::v1::ConfigMap;
        type Error = Never;
        const NAME: &'static str = "idle";
        const UNREADABLE_REASON: &'static str = "Unreadable";

        async fn reconcile(&self, _: &Self::Object) -> Result<Action, Never> {
            Ok(Action::await_change())
        }
    }

    /// A leader that gets SIGTERM right after it (re)started: its main cache has listed, another of its caches
    /// (the pod index) has not and never will, because the controller that feeds it is stopping. The run must
    /// still end (it used to wait for that cache forever, and the process never exited).
    #[tokio::test(start_paused = true)]
    async fn a_shutdown_while_another_cache_is_still_listing_stops_the_controller() {
        let (store, mut writer) = kube::runtime::reflector::store();
        writer.apply_watcher_event(&kube::runtime::watcher::Event::Init);
        writer.apply_watcher_event(&kube::runtime::watcher::Event::InitDone);
        let controller = Controller::for_stream(futures::stream::pending(), store);
        // Never used: no object is reconciled, so no Event is written and nothing is contacted.
        let client = kube::Client::try_from(kube::Config::new(
            "http://127.0.0.1:9"
                .parse()
                .unwrap_or_else(|e| panic!("{e}")),
        ))
        .unwrap_or_else(|e| panic!("{e}"));
        let health = Arc::new(Health::default());
        let settings = RunnerSettings {
            concurrency: 1,
            backoff: Backoff::default(),
            metrics: Arc::new(Metrics::new()),
            health: health.clone(),
            events: EventPublisher::new(&client, "test", None),
            scope: "configmaps".into(),
        };
        let pods_listing = Cache::from_future("pods", futures::future::pending());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let shutdown = crate::shutdown::on(async {
            let _ = stopped.await;
        });
        let running = tokio::spawn(run(
            controller,
            Arc::new(Idle),
            vec![pods_listing],
            settings,
            shutdown,
        ));
        // Let the controller start and see its main cache ready before the shutdown.
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(health.readiness().is_err(), "ready before the pods listed");
        let _ = stop.send(());
        // Paused time: if the run waits for the never-ready cache, the runtime idles and the clock jumps here.
        tokio::time::timeout(Duration::from_secs(60), running)
            .await
            .unwrap_or_else(|_| panic!("the controller did not stop"))
            .unwrap_or_else(|e| panic!("{e}"));
        drop(writer);
    }
}
