//! The per-object spam filter: client-go's `EventSourceObjectSpamFilter` idea, keyed by (regarding object,
//! reason) so one noisy reason does not mute the others of the same object.
//!
//! Each key has a token bucket of [`SpamSettings::burst`] Events, refilled at one Event per
//! [`SpamSettings::refill_every`]; an Event that finds its bucket empty is dropped. Buckets that are full again
//! are forgotten, so memory follows the objects that published recently.

use std::collections::HashMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::ObjectReference;
use tokio::time::Instant;

/// How many Events per (regarding object, reason) pass the spam filter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SpamSettings {
    /// Events one key may publish at once (client-go: 25).
    pub burst: u32,
    /// Time that earns a key one more Event after its burst is spent (client-go: 5 minutes).
    pub refill_every: Duration,
}

impl Default for SpamSettings {
    /// client-go's numbers: a burst of 25, then one Event per 5 minutes.
    fn default() -> Self {
        SpamSettings {
            burst: 25,
            refill_every: Duration::from_secs(300),
        }
    }
}

/// What identifies the Events one bucket limits: the regarding object (as the Recorder tells objects apart) and
/// the reason.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct SpamKey {
    api_version: Option<String>,
    kind: Option<String>,
    namespace: Option<String>,
    name: Option<String>,
    uid: Option<String>,
    reason: String,
}

impl SpamKey {
    fn new(regarding: &ObjectReference, reason: &str) -> Self {
        SpamKey {
            api_version: regarding.api_version.clone(),
            kind: regarding.kind.clone(),
            namespace: regarding.namespace.clone(),
            name: regarding.name.clone(),
            uid: regarding.uid.clone(),
            reason: reason.to_string(),
        }
    }
}

/// One key's tokens as of `at`.
#[derive(Clone, Copy, Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Token buckets per (regarding object, reason).
#[derive(Debug)]
pub(crate) struct SpamFilter {
    settings: SpamSettings,
    buckets: HashMap<SpamKey, Bucket>,
    /// When full buckets are next forgotten.
    next_sweep: Option<Instant>,
}

impl SpamFilter {
    pub(crate) fn new(settings: SpamSettings) -> Self {
        SpamFilter {
            settings,
            buckets: HashMap::new(),
            next_sweep: None,
        }
    }

    /// Tokens a bucket last seen at `bucket` holds at `now`.
    fn refilled(&self, bucket: Bucket, now: Instant) -> f64 {
        let burst = f64::from(self.settings.burst);
        let period = self.settings.refill_every.as_secs_f64();
        if period <= 0.0 {
            return burst;
        }
        let earned = now.saturating_duration_since(bucket.at).as_secs_f64() / period;
        (bucket.tokens + earned).min(burst)
    }

    /// Whether an Event about `regarding` with `reason` may be published at `now`; takes its token if so.
    pub(crate) fn allow(
        &mut self,
        regarding: &ObjectReference,
        reason: &str,
        now: Instant,
    ) -> bool {
        self.sweep(now);
        let key = SpamKey::new(regarding, reason);
        let burst = f64::from(self.settings.burst);
        let tokens = match self.buckets.get(&key) {
            Some(bucket) => self.refilled(*bucket, now),
            None => burst,
        };
        if tokens < 1.0 {
            return false;
        }
        self.buckets.insert(
            key,
            Bucket {
                tokens: tokens - 1.0,
                at: now,
            },
        );
        true
    }

    /// Forgets the buckets that are full again (they behave like new ones), at most once per refill period.
    fn sweep(&mut self, now: Instant) {
        match self.next_sweep {
            Some(next) if now < next => return,
            Some(_) => {
                let burst = f64::from(self.settings.burst);
                let buckets = std::mem::take(&mut self.buckets);
                self.buckets = buckets
                    .into_iter()
                    .filter(|(_, bucket)| self.refilled(*bucket, now) < burst)
                    .collect();
            }
            None => {}
        }
        self.next_sweep = Some(now + self.settings.refill_every);
    }

    /// How many keys are remembered.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.buckets.len()
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// A RayCluster as the object of test Events (also used by the queue's tests).
    pub(in crate::events) fn object(name: &str) -> ObjectReference {
        ObjectReference {
            api_version: Some("ray.io/v1".into()),
            kind: Some("RayCluster".into()),
            namespace: Some("ns".into()),
            name: Some(name.into()),
            uid: Some(format!("uid-{name}")),
            ..ObjectReference::default()
        }
    }

    fn filter(burst: u32) -> SpamFilter {
        SpamFilter::new(SpamSettings {
            burst,
            refill_every: Duration::from_secs(300),
        })
    }

    #[test]
    fn a_burst_passes_and_the_rest_is_dropped_until_the_bucket_refills() {
        let mut spam = filter(3);
        let start = Instant::now();
        let a = object("a");
        let passed = (0..10)
            .filter(|_| spam.allow(&a, "CreatedWorkerPod", start))
            .count();
        assert_eq!(passed, 3);
        // Just under one refill period: still nothing.
        let almost = start + Duration::from_secs(299);
        assert!(!spam.allow(&a, "CreatedWorkerPod", almost));
        // One period earns exactly one more Event.
        let later = start + Duration::from_secs(300);
        assert!(spam.allow(&a, "CreatedWorkerPod", later));
        assert!(!spam.allow(&a, "CreatedWorkerPod", later));
        // A long quiet time refills the bucket up to the burst, not beyond.
        let much_later = later + Duration::from_secs(3600);
        let passed = (0..10)
            .filter(|_| spam.allow(&a, "CreatedWorkerPod", much_later))
            .count();
        assert_eq!(passed, 3);
    }

    #[test]
    fn objects_and_reasons_have_their_own_buckets() {
        let mut spam = filter(1);
        let now = Instant::now();
        assert!(spam.allow(&object("a"), "CreatedWorkerPod", now));
        assert!(!spam.allow(&object("a"), "CreatedWorkerPod", now));
        assert!(spam.allow(&object("a"), "DeletedWorkerPod", now));
        assert!(spam.allow(&object("b"), "CreatedWorkerPod", now));
        // The same name with another uid is another object (deleted and created again).
        let recreated = ObjectReference {
            uid: Some("uid-a-2".into()),
            ..object("a")
        };
        assert!(spam.allow(&recreated, "CreatedWorkerPod", now));
    }

    #[test]
    fn full_buckets_are_forgotten() {
        let mut spam = filter(2);
        let start = Instant::now();
        for name in ["a", "b", "c"] {
            assert!(spam.allow(&object(name), "Reason", start));
        }
        assert!(spam.allow(&object("a"), "Reason", start));
        assert_eq!(spam.len(), 3);
        // After one period b and c (one token spent) are full again; a (two spent) is not yet.
        let later = start + Duration::from_secs(300);
        assert!(spam.allow(&object("d"), "Reason", later));
        assert_eq!(spam.len(), 2, "a and d are remembered");
        // a was remembered: one token earned, so one Event passes and the next does not.
        assert!(spam.allow(&object("a"), "Reason", later));
        assert!(!spam.allow(&object("a"), "Reason", later));
    }
}
