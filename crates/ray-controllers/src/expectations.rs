//! Creates and deletes the operator has asked for but its pod cache does not show yet.
//!
//! The pod cache lags the API server by a watch event. Without this bookkeeping a reconcile that runs between a
//! create and the pod's arrival in the cache would count one pod too few and create it again (and a delete that
//! has not arrived would be repeated or, worse, a replacement skipped). So every create and delete is recorded
//! *before* the API call, and a worker group is only reconciled again once the cache agrees with every recorded
//! change, or the change is older than [`EXPECTATION_TIMEOUT`] (a create the API server accepted but whose pod
//! was deleted before we saw it must not block the group forever).
//!
//! Expectations live in memory on purpose: after a restart the cache is filled by a fresh list before the first
//! reconcile, so it is already exact and nothing needs remembering.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a recorded create or delete may stay unseen before it stops blocking its group (KubeRay: 30 s).
pub const EXPECTATION_TIMEOUT: Duration = Duration::from_secs(30);

/// Which pods an expectation is about: one RayCluster's head (`group == None`) or one worker group.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GroupKey {
    /// The RayCluster's namespace.
    pub namespace: String,
    /// The RayCluster's name.
    pub cluster: String,
    /// The worker group's name, or `None` for the head.
    pub group: Option<String>,
}

impl GroupKey {
    /// The key of a cluster's head pod.
    pub fn head(namespace: &str, cluster: &str) -> GroupKey {
        GroupKey {
            namespace: namespace.to_string(),
            cluster: cluster.to_string(),
            group: None,
        }
    }

    /// The key of a cluster's worker group.
    pub fn worker(namespace: &str, cluster: &str, group: &str) -> GroupKey {
        GroupKey {
            namespace: namespace.to_string(),
            cluster: cluster.to_string(),
            group: Some(group.to_string()),
        }
    }
}

/// A create recorded before its API call. The name is known only once the API server answered (pods use
/// `generateName`); until then the create is in flight and blocks its group.
#[derive(Debug, Clone)]
struct PendingCreate {
    id: u64,
    name: Option<String>,
    since: Instant,
}

#[derive(Debug, Default)]
struct GroupState {
    creates: Vec<PendingCreate>,
    deletes: BTreeMap<String, Instant>,
}

/// A handle on a recorded create, to be completed with the created pod's name or cancelled if the call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateTicket {
    key: GroupKey,
    id: u64,
}

/// Outstanding creates and deletes per cluster group. Shared by all reconciles; cheap to lock (no I/O under the
/// lock).
#[derive(Debug, Default)]
pub struct Expectations {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    next_id: u64,
    groups: BTreeMap<GroupKey, GroupState>,
}

impl Expectations {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding this lock cannot leave the map inconsistent (each method makes one change), so a
        // poisoned lock is still usable.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Records a create before calling the API server.
    pub fn expect_create(&self, key: &GroupKey, now: Instant) -> CreateTicket {
        let mut inner = self.lock();
        inner.next_id += 1;
        let id = inner.next_id;
        inner
            .groups
            .entry(key.clone())
            .or_default()
            .creates
            .push(PendingCreate {
                id,
                name: None,
                since: now,
            });
        CreateTicket {
            key: key.clone(),
            id,
        }
    }

    /// The API server created the pod: from now on the create is satisfied once the cache shows `name`.
    pub fn created(&self, ticket: &CreateTicket, name: &str) {
        let mut inner = self.lock();
        if let Some(state) = inner.groups.get_mut(&ticket.key)
            && let Some(create) = state.creates.iter_mut().find(|c| c.id == ticket.id)
        {
            create.name = Some(name.to_string());
        }
    }

    /// The create failed: nothing will appear, so nothing is expected.
    pub fn create_failed(&self, ticket: &CreateTicket) {
        let mut inner = self.lock();
        if let Some(state) = inner.groups.get_mut(&ticket.key) {
            state.creates.retain(|c| c.id != ticket.id);
        }
    }

    /// Records a delete before calling the API server.
    pub fn expect_delete(&self, key: &GroupKey, name: &str, now: Instant) {
        self.lock()
            .groups
            .entry(key.clone())
            .or_default()
            .deletes
            .insert(name.to_string(), now);
    }

    /// The delete failed (other than NotFound): the pod stays, so its disappearance is not expected.
    pub fn delete_failed(&self, key: &GroupKey, name: &str) {
        if let Some(state) = self.lock().groups.get_mut(key) {
            state.deletes.remove(name);
        }
    }

    /// Whether the cache agrees with every recorded change of the group. `present` are the names of the group's
    /// pods in the cache (terminating pods included: a delete is done when the pod is gone). Satisfied and
    /// timed-out expectations are dropped.
    pub fn satisfied(&self, key: &GroupKey, present: &BTreeSet<&str>, now: Instant) -> bool {
        let mut inner = self.lock();
        let Some(state) = inner.groups.get_mut(key) else {
            return true;
        };
        let fresh = |since: &Instant| now.saturating_duration_since(*since) < EXPECTATION_TIMEOUT;
        state.creates.retain(|c| match &c.name {
            None => fresh(&c.since),
            Some(name) => !present.contains(name.as_str()) && fresh(&c.since),
        });
        state
            .deletes
            .retain(|name, since| present.contains(name.as_str()) && fresh(since));
        let done = state.creates.is_empty() && state.deletes.is_empty();
        if done {
            inner.groups.remove(key);
        }
        done
    }

    /// Forgets everything about a cluster (it was deleted).
    pub fn forget_cluster(&self, namespace: &str, cluster: &str) {
        self.lock()
            .groups
            .retain(|k, _| !(k.namespace == namespace && k.cluster == cluster));
    }

    /// How many groups have outstanding expectations (for tests and diagnostics).
    pub fn pending_groups(&self) -> usize {
        self.lock().groups.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names<'a>(n: &[&'a str]) -> BTreeSet<&'a str> {
        n.iter().copied().collect()
    }

    #[test]
    fn a_create_blocks_until_the_pod_is_cached() {
        let e = Expectations::default();
        let key = GroupKey::worker("ns", "c", "g");
        let t0 = Instant::now();
        let ticket = e.expect_create(&key, t0);
        assert!(!e.satisfied(&key, &names(&[]), t0), "in flight blocks");
        e.created(&ticket, "c-g-worker-abcde");
        assert!(!e.satisfied(&key, &names(&["other"]), t0));
        assert!(e.satisfied(&key, &names(&["c-g-worker-abcde"]), t0));
        assert_eq!(e.pending_groups(), 0);
    }

    #[test]
    fn a_failed_create_expects_nothing() {
        let e = Expectations::default();
        let key = GroupKey::head("ns", "c");
        let ticket = e.expect_create(&key, Instant::now());
        e.create_failed(&ticket);
        assert!(e.satisfied(&key, &names(&[]), Instant::now()));
    }

    #[test]
    fn a_delete_blocks_until_the_pod_is_gone() {
        let e = Expectations::default();
        let key = GroupKey::worker("ns", "c", "g");
        let t0 = Instant::now();
        e.expect_delete(&key, "p1", t0);
        assert!(!e.satisfied(&key, &names(&["p1", "p2"]), t0));
        assert!(e.satisfied(&key, &names(&["p2"]), t0));
    }

    #[test]
    fn expectations_time_out() {
        let e = Expectations::default();
        let key = GroupKey::worker("ns", "c", "g");
        let t0 = Instant::now();
        let ticket = e.expect_create(&key, t0);
        e.created(&ticket, "never-seen");
        e.expect_delete(&key, "stuck", t0);
        let later = t0 + EXPECTATION_TIMEOUT + Duration::from_secs(1);
        assert!(!e.satisfied(&key, &names(&["stuck"]), t0));
        assert!(e.satisfied(&key, &names(&["stuck"]), later));
    }

    #[test]
    fn groups_and_clusters_are_independent() {
        let e = Expectations::default();
        let a = GroupKey::worker("ns", "c", "a");
        let b = GroupKey::worker("ns", "c", "b");
        let other = GroupKey::worker("ns", "d", "a");
        let now = Instant::now();
        e.expect_delete(&a, "p", now);
        e.expect_delete(&other, "q", now);
        assert!(e.satisfied(&b, &names(&["p"]), now));
        assert!(!e.satisfied(&a, &names(&["p"]), now));
        e.forget_cluster("ns", "c");
        assert!(e.satisfied(&a, &names(&["p"]), now));
        assert!(!e.satisfied(&other, &names(&["q"]), now));
    }
}
