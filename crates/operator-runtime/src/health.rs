//! What `/readyz` and `/livez` answer: whether the controllers' caches are synced, and whether their watches are
//! still making progress.
//!
//! **Readiness.** An instance is ready once it can do its job: without leader election, when every controller's
//! caches have finished their first list; with leader election, a standby (waiting for the Lease) is ready too,
//! so a rolling update can proceed and a webhook served by every replica stays reachable, while the leader is
//! ready once its caches are synced. Before the API server answered and the CRDs were found, nobody is
//! ready.
//!
//! **Liveness.** Rust operators have a known failure mode: a watch stops delivering events (a half-dead
//! connection, a stream nobody polls any more) while the process looks healthy, and the operator silently stops
//! reconciling. Every watch response passing through the client (see [`crate::api_requests`]) reports progress
//! here: when the watch is opened and whenever bytes arrive on it — events and also the API server's bookmarks,
//! which arrive about once a minute on an idle watch, and the watch is re-opened at least every 290 s. A watch
//! whose last progress is older than the deadline is stalled; `/livez` then fails, but only if the API server
//! still answers (checked by the HTTP handler), since restarting the operator cannot fix an unreachable API
//! server.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// The default time without progress after which a watch counts as stalled: longer than the API server's watch
/// timeout (290 s, after which kube-runtime re-opens the watch) plus its idle margin.
pub const DEFAULT_WATCH_PROGRESS_DEADLINE: Duration = Duration::from_secs(360);

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What this instance is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Waiting for the API server and the CRDs the controllers need.
    Starting,
    /// Waiting for the leader Lease; the controllers are not running.
    Standby,
    /// Running the controllers.
    Leading,
}

#[derive(Debug)]
struct State {
    role: Role,
    /// Incremented whenever the controllers start; a [`CacheSync`] of an older term changes nothing.
    term: u64,
    caches: BTreeMap<String, bool>,
}

/// Readiness and watch progress of one operator process. Shared (`Arc<Health>`) by the controllers, the client
/// layer and the HTTP endpoints.
#[derive(Debug)]
pub struct Health {
    state: Mutex<State>,
    /// Progress of every open watch.
    pub watches: WatchProgress,
}

impl Default for Health {
    fn default() -> Self {
        Health {
            state: Mutex::new(State {
                role: Role::Starting,
                term: 0,
                caches: BTreeMap::new(),
            }),
            watches: WatchProgress::default(),
        }
    }
}

/// Marks one controller's caches as synced; see [`Health::cache`].
#[derive(Debug)]
pub struct CacheSync {
    health: Arc<Health>,
    term: u64,
    name: String,
}

impl CacheSync {
    /// The caches finished their first list.
    pub fn synced(self) {
        let mut state = lock(&self.health.state);
        if state.term == self.term
            && let Some(synced) = state.caches.get_mut(&self.name)
        {
            *synced = true;
        }
    }
}

impl Health {
    /// The current role.
    pub fn role(&self) -> Role {
        lock(&self.state).role
    }

    /// Waiting for the leader Lease: the controllers have stopped, so their caches and watches are forgotten.
    pub fn standby(&self) {
        let mut state = lock(&self.state);
        state.role = Role::Standby;
        state.caches.clear();
        self.watches.clear();
    }

    /// The controllers are starting (a new term): ready once every cache registered from now on is synced.
    pub fn leading(&self) {
        let mut state = lock(&self.state);
        state.role = Role::Leading;
        state.term += 1;
        state.caches.clear();
        self.watches.clear();
    }

    /// Registers a controller's caches (`name` says which, e.g. `rayclusters in ns-a`) as not yet synced; call
    /// [`CacheSync::synced`] when they are. Register before the controller's first await, so readiness never
    /// sees some controllers synced before the others are registered.
    pub fn cache(self: &Arc<Self>, name: impl Into<String>) -> CacheSync {
        let name = name.into();
        let mut state = lock(&self.state);
        state.caches.insert(name.clone(), false);
        CacheSync {
            health: self.clone(),
            term: state.term,
            name,
        }
    }

    /// `Ok(what)` if ready, else `Err(why not)`; both are short sentences for the HTTP body.
    pub fn readiness(&self) -> Result<String, String> {
        let state = lock(&self.state);
        match state.role {
            Role::Starting => Err("waiting for the API server and the CRDs".into()),
            Role::Standby => Ok("standby: waiting for the leader Lease".into()),
            Role::Leading if state.caches.is_empty() => Err("the controllers are starting".into()),
            Role::Leading => {
                let pending: Vec<&str> = state
                    .caches
                    .iter()
                    .filter(|(_, synced)| !**synced)
                    .map(|(name, _)| name.as_str())
                    .collect();
                if pending.is_empty() {
                    Ok(format!("{} caches synced", state.caches.len()))
                } else {
                    Err(format!("caches not synced yet: {}", pending.join(", ")))
                }
            }
        }
    }
}

/// When each open watch last made progress (opened, or received bytes), keyed by what it watches.
#[derive(Debug, Default)]
pub struct WatchProgress {
    last: Mutex<HashMap<Arc<str>, Instant>>,
}

impl WatchProgress {
    /// The watch `key` made progress at `now`.
    pub fn record(&self, key: &Arc<str>, now: Instant) {
        let mut last = lock(&self.last);
        match last.get_mut(key) {
            Some(at) => *at = (*at).max(now),
            None => {
                last.insert(key.clone(), now);
            }
        }
    }

    /// Forgets every watch (the controllers stopped on purpose).
    pub fn clear(&self) {
        lock(&self.last).clear();
    }

    /// How many watches are tracked.
    pub fn len(&self) -> usize {
        lock(&self.last).len()
    }

    /// Whether no watch is tracked.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The watches without progress for longer than `deadline` at `now`, with how long, oldest first.
    pub fn stalled(&self, now: Instant, deadline: Duration) -> Vec<(String, Duration)> {
        let mut stalled: Vec<(String, Duration)> = lock(&self.last)
            .iter()
            .map(|(key, at)| (key.to_string(), now.saturating_duration_since(*at)))
            .filter(|(_, age)| *age > deadline)
            .collect();
        stalled.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        stalled
    }
}

/// The `/livez` verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Liveness {
    /// Every watch made progress within the deadline (or none is open).
    Live,
    /// Some watches stalled, but the API server does not answer either: restarting would not help.
    ApiServerUnreachable(Vec<(String, Duration)>),
    /// Some watches stalled while the API server answers: the operator is wedged and should be restarted.
    Stalled(Vec<(String, Duration)>),
}

/// Decides liveness from the stalled watches and, only if there are some, whether the API server answers.
pub async fn liveness<F>(stalled: Vec<(String, Duration)>, api_server_answers: F) -> Liveness
where
    F: std::future::Future<Output = bool>,
{
    if stalled.is_empty() {
        return Liveness::Live;
    }
    if api_server_answers.await {
        Liveness::Stalled(stalled)
    } else {
        Liveness::ApiServerUnreachable(stalled)
    }
}

#[cfg(test)]
mod tests {
    use futures::FutureExt;

    use super::*;

    #[test]
    fn readiness_waits_for_every_registered_cache_and_a_standby_is_ready() {
        let health = Arc::new(Health::default());
        assert!(health.readiness().is_err(), "starting");
        health.leading();
        assert!(health.readiness().is_err(), "no cache registered yet");
        let clusters = health.cache("rayclusters in all namespaces");
        let jobs = health.cache("rayjobs in all namespaces");
        clusters.synced();
        let not_yet = health.readiness().expect_err("not ready");
        assert!(not_yet.contains("rayjobs in all namespaces"), "{not_yet}");
        jobs.synced();
        assert!(health.readiness().is_ok());
        health.standby();
        assert!(health.readiness().is_ok(), "a standby is ready");
    }

    #[test]
    fn a_sync_from_an_earlier_term_does_not_make_the_new_term_ready() {
        let health = Arc::new(Health::default());
        health.leading();
        let old = health.cache("rayclusters");
        health.standby();
        health.leading();
        let _new = health.cache("rayclusters");
        old.synced();
        assert!(health.readiness().is_err());
    }

    #[test]
    fn a_watch_is_stalled_only_after_the_deadline_without_progress() {
        let progress = WatchProgress::default();
        let start = Instant::now();
        let pods: Arc<str> = Arc::from("pods in ns");
        let clusters: Arc<str> = Arc::from("rayclusters in ns");
        progress.record(&pods, start);
        progress.record(&clusters, start);
        let deadline = Duration::from_secs(360);
        assert!(
            progress
                .stalled(start + Duration::from_secs(300), deadline)
                .is_empty()
        );
        // A bookmark on the pods watch at 300 s keeps it alive; the RayCluster watch got nothing.
        progress.record(&pods, start + Duration::from_secs(300));
        let stalled = progress.stalled(start + Duration::from_secs(400), deadline);
        assert_eq!(
            stalled,
            vec![("rayclusters in ns".to_string(), Duration::from_secs(400))]
        );
        // An older report never moves progress backwards.
        progress.record(&pods, start);
        assert_eq!(
            progress
                .stalled(start + Duration::from_secs(400), deadline)
                .len(),
            1
        );
        progress.clear();
        assert!(progress.is_empty());
    }

    #[test]
    fn liveness_fails_only_when_the_api_server_answers() {
        let stalled = vec![("pods in ns".to_string(), Duration::from_secs(400))];
        assert_eq!(
            liveness(Vec::new(), futures::future::pending::<bool>()).now_or_never(),
            Some(Liveness::Live)
        );
        assert_eq!(
            liveness(stalled.clone(), async { true }).now_or_never(),
            Some(Liveness::Stalled(stalled.clone()))
        );
        assert_eq!(
            liveness(stalled.clone(), async { false }).now_or_never(),
            Some(Liveness::ApiServerUnreachable(stalled))
        );
    }
}
