//! Leader election with a `coordination.k8s.io/v1` Lease, so several operator replicas can run and only one
//! reconciles.
//!
//! The protocol is client-go's (what KubeRay and every controller-runtime operator use), so its timing flags mean
//! the same thing:
//! - every `retry_period` a candidate reads the Lease. It takes the Lease when nobody holds it, or when the
//!   holder's record has not changed for `leaseDurationSeconds` *as measured by the candidate's own clock since
//!   it first saw that record* — clocks of different machines are never compared;
//! - every write is a `replace` guarded by the `resourceVersion` that was read, so of two candidates racing for
//!   an expired Lease exactly one succeeds (the other gets a conflict and stays standby);
//! - the leader renews every `retry_period`; when it has not managed to renew for `renew_deadline`, or sees
//!   another holder, it has lost the Lease and must stop reconciling. `renew_deadline < lease_duration` leaves
//!   the old leader `lease_duration - renew_deadline` to stop before anyone else may take over;
//! - on a clean shutdown the leader releases the Lease (empty holder), so a standby takes over within one
//!   `retry_period` instead of a whole `lease_duration`.
//!
//! A standby therefore takes over at most `lease_duration + 2 × retry_period` (plus one API round trip) after the
//! leader's last renewal when the leader dies without releasing.
//!
//! kube-rs has no leader election (kube#485). Of the crates, `kube-leader-election` needs kube 4 and
//! `kube-lease-manager` (kube 5) keeps reporting leadership while renewals fail (it has no renew deadline), which
//! would let two replicas reconcile at once during an API server outage; hence this small module.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::{Duration, Instant};

use futures::FutureExt;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::api::PostParams;
use kube::{Api, Client};
use tracing::{debug, info, warn};

use crate::health::Health;
use crate::metrics::Metrics;
use crate::shutdown::Shutdown;

/// The Lease's name when `--leader-election-id` is not given.
pub const DEFAULT_LEASE_NAME: &str = "ray-operator-rs-leader";

/// Why leader-election settings cannot work; each names the flag to change.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SettingsError {
    /// The renew deadline is not shorter than the lease duration.
    #[error(
        "--leader-election-renew-deadline-seconds ({renew}) must be less than \
         --leader-election-lease-duration-seconds ({lease}): the leader must give up before others may take over"
    )]
    RenewDeadline {
        /// The renew deadline in seconds.
        renew: u64,
        /// The lease duration in seconds.
        lease: u64,
    },
    /// The retry period is too long for the renew deadline.
    #[error(
        "--leader-election-retry-period-seconds ({retry}) must be less than \
         --leader-election-renew-deadline-seconds ({renew}), so the leader can retry a failed renewal"
    )]
    RetryPeriod {
        /// The retry period in seconds.
        retry: u64,
        /// The renew deadline in seconds.
        renew: u64,
    },
    /// A duration is zero.
    #[error("{flag} must be at least 1 second")]
    Zero {
        /// The flag.
        flag: &'static str,
    },
    /// The Lease name or namespace is empty.
    #[error("{flag} must not be empty")]
    Empty {
        /// The flag.
        flag: &'static str,
    },
}

/// How this instance takes part in leader election.
#[derive(Debug, Clone)]
pub struct LeaseSettings {
    /// The Lease's namespace.
    pub namespace: String,
    /// The Lease's name.
    pub name: String,
    /// This instance's identity in `holderIdentity`; unique per process.
    pub identity: String,
    /// How long a Lease that is not renewed stays valid (written as `leaseDurationSeconds`).
    pub lease_duration: Duration,
    /// How long the leader keeps trying to renew before it gives up leadership.
    pub renew_deadline: Duration,
    /// How often candidates try to acquire and the leader renews.
    pub retry_period: Duration,
    /// The field manager of the Lease writes (the operator's name).
    pub field_manager: String,
}

impl LeaseSettings {
    /// Checks the timing relations client-go also requires.
    pub fn validate(&self) -> Result<(), SettingsError> {
        for (flag, value) in [
            (
                "--leader-election-lease-duration-seconds",
                self.lease_duration,
            ),
            (
                "--leader-election-renew-deadline-seconds",
                self.renew_deadline,
            ),
            ("--leader-election-retry-period-seconds", self.retry_period),
        ] {
            if value.is_zero() {
                return Err(SettingsError::Zero { flag });
            }
        }
        if self.name.trim().is_empty() {
            return Err(SettingsError::Empty {
                flag: "--leader-election-id",
            });
        }
        if self.namespace.trim().is_empty() {
            return Err(SettingsError::Empty {
                flag: "--leader-election-namespace",
            });
        }
        if self.renew_deadline >= self.lease_duration {
            return Err(SettingsError::RenewDeadline {
                renew: self.renew_deadline.as_secs(),
                lease: self.lease_duration.as_secs(),
            });
        }
        if self.retry_period >= self.renew_deadline {
            return Err(SettingsError::RetryPeriod {
                retry: self.retry_period.as_secs(),
                renew: self.renew_deadline.as_secs(),
            });
        }
        Ok(())
    }
}

/// A unique identity for this process: `<base>_<random>`, so a restarted container (same pod name) is a new
/// candidate and waits for its predecessor's Lease instead of silently continuing it.
pub fn identity(base: &str) -> String {
    format!("{base}_{:016x}", random_u64())
}

fn random_u64() -> u64 {
    // RandomState is seeded randomly per process and per instance: enough for jitter and identities.
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default(),
    );
    hasher.finish()
}

/// `period` stretched by a random factor in [1, 1.2), as client-go does, so candidates do not move in lockstep.
fn jittered(period: Duration) -> Duration {
    let fraction = (random_u64() % 1000) as f64 / 1000.0;
    period.mul_f64(1.0 + 0.2 * fraction)
}

/// What to do with the Lease as read, decided without the API server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Someone else holds a valid Lease.
    Wait {
        /// The holder.
        holder: String,
    },
    /// Write ourselves as the holder (renewing our own Lease, or taking a free or expired one).
    Take {
        /// Whether the holder changes (an acquisition, which counts a transition).
        transition: bool,
    },
}

/// Decides from the Lease's `spec`, when this candidate first saw that exact record (`observed_at`), and now.
/// The holder's Lease is valid for `leaseDurationSeconds` (else `default_duration`) after it was first observed.
pub fn decide(
    spec: &LeaseSpec,
    me: &str,
    observed_at: Instant,
    now: Instant,
    default_duration: Duration,
) -> Decision {
    match spec.holder_identity.as_deref() {
        Some(holder) if holder == me => Decision::Take { transition: false },
        Some(holder) if !holder.is_empty() => {
            let duration = spec
                .lease_duration_seconds
                .and_then(|s| u64::try_from(s).ok())
                .map_or(default_duration, Duration::from_secs);
            if now.saturating_duration_since(observed_at) < duration {
                Decision::Wait {
                    holder: holder.to_string(),
                }
            } else {
                Decision::Take { transition: true }
            }
        }
        _ => Decision::Take { transition: true },
    }
}

fn now_micro() -> MicroTime {
    MicroTime(k8s_openapi::jiff::Timestamp::now())
}

/// The outcome of one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// We hold the Lease now.
    Held,
    /// Someone else holds it (or won the race for it).
    HeldBy(String),
}

/// Why the leader stopped leading.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lost {
    /// Another instance holds the Lease.
    TakenBy(String),
    /// Renewals failed for the whole renew deadline; the last error.
    RenewDeadline(String),
}

impl std::fmt::Display for Lost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Lost::TakenBy(holder) => write!(f, "the Lease is now held by {holder}"),
            Lost::RenewDeadline(error) => write!(
                f,
                "could not renew the Lease within the renew deadline (last error: {error})"
            ),
        }
    }
}

/// One candidate for the Lease.
pub struct Elector {
    api: Api<Lease>,
    settings: LeaseSettings,
    /// The last record read and when it was first seen with exactly these contents.
    observed: Option<(LeaseSpec, Instant)>,
}

impl Elector {
    /// A candidate for the Lease described by `settings` (validate them first).
    pub fn new(client: Client, settings: LeaseSettings) -> Self {
        Elector {
            api: Api::namespaced(client, &settings.namespace),
            settings,
            observed: None,
        }
    }

    /// The settings.
    pub fn settings(&self) -> &LeaseSettings {
        &self.settings
    }

    /// Every Lease write names the operator as its field manager.
    fn write_params(&self) -> PostParams {
        PostParams {
            field_manager: Some(self.settings.field_manager.clone()),
            ..PostParams::default()
        }
    }

    /// Reads the Lease once and takes or renews it if [`decide`] says so.
    pub async fn try_acquire_or_renew(&mut self) -> Result<Attempt, kube::Error> {
        let me = self.settings.identity.clone();
        let duration_seconds =
            i32::try_from(self.settings.lease_duration.as_secs()).unwrap_or(i32::MAX);
        let Some(mut lease) = self.api.get_opt(&self.settings.name).await? else {
            let now = now_micro();
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(self.settings.name.clone()),
                    namespace: Some(self.settings.namespace.clone()),
                    ..ObjectMeta::default()
                },
                spec: Some(LeaseSpec {
                    holder_identity: Some(me.clone()),
                    lease_duration_seconds: Some(duration_seconds),
                    acquire_time: Some(now.clone()),
                    renew_time: Some(now),
                    lease_transitions: Some(0),
                    ..LeaseSpec::default()
                }),
            };
            return match self.api.create(&self.write_params(), &lease).await {
                Ok(created) => {
                    self.observe(created.spec.unwrap_or_default(), Instant::now());
                    Ok(Attempt::Held)
                }
                // Two candidates creating the Lease at once: the loser gets AlreadyExists, not Conflict.
                Err(kube::Error::Api(status))
                    if status.is_already_exists() || status.is_conflict() =>
                {
                    Ok(Attempt::HeldBy(
                        "another candidate (it created the Lease first)".into(),
                    ))
                }
                Err(error) => Err(error),
            };
        };
        let spec = lease.spec.clone().unwrap_or_default();
        let now = Instant::now();
        self.observe(spec.clone(), now);
        let observed_at = self.observed.as_ref().map_or(now, |(_, at)| *at);
        match decide(&spec, &me, observed_at, now, self.settings.lease_duration) {
            Decision::Wait { holder } => Ok(Attempt::HeldBy(holder)),
            Decision::Take { transition } => {
                let time = now_micro();
                let mut next = spec.clone();
                next.holder_identity = Some(me.clone());
                next.lease_duration_seconds = Some(duration_seconds);
                next.renew_time = Some(time.clone());
                if transition {
                    next.acquire_time = Some(time);
                    next.lease_transitions =
                        Some(spec.lease_transitions.unwrap_or(0).saturating_add(1));
                }
                lease.spec = Some(next);
                // `lease.metadata.resourceVersion` is the one read: a concurrent writer makes this a conflict.
                match self
                    .api
                    .replace(&self.settings.name, &self.write_params(), &lease)
                    .await
                {
                    Ok(written) => {
                        self.observe(written.spec.unwrap_or_default(), Instant::now());
                        Ok(Attempt::Held)
                    }
                    Err(kube::Error::Api(status)) if status.is_conflict() => Ok(Attempt::HeldBy(
                        "another candidate (it wrote the Lease first)".into(),
                    )),
                    Err(error) => Err(error),
                }
            }
        }
    }

    fn observe(&mut self, spec: LeaseSpec, now: Instant) {
        match &self.observed {
            Some((seen, _)) if *seen == spec => {}
            _ => self.observed = Some((spec, now)),
        }
    }

    /// Tries every `retry_period` until this instance holds the Lease. Logs who holds it when that changes.
    pub async fn acquire(&mut self) {
        let mut last_holder: Option<String> = None;
        let mut failing = false;
        loop {
            match self.try_acquire_or_renew().await {
                Ok(Attempt::Held) => {
                    info!(lease = %self.settings.name, identity = %self.settings.identity, "acquired the leader Lease");
                    return;
                }
                Ok(Attempt::HeldBy(holder)) => {
                    failing = false;
                    if last_holder.as_deref() != Some(holder.as_str()) {
                        info!(lease = %self.settings.name, %holder, "standby: another instance leads");
                        last_holder = Some(holder);
                    }
                }
                Err(error) => {
                    if !failing {
                        warn!(lease = %self.settings.name, %error, "cannot read or write the leader Lease; retrying");
                        failing = true;
                    } else {
                        debug!(%error, "leader Lease still unreachable");
                    }
                }
            }
            tokio::time::sleep(jittered(self.settings.retry_period)).await;
        }
    }

    /// Renews every `retry_period` while this instance leads; returns when it no longer does.
    pub async fn keep(&mut self) -> Lost {
        let mut last_renewed = Instant::now();
        let mut last_error = String::from("none");
        loop {
            tokio::time::sleep(self.settings.retry_period).await;
            let remaining = self
                .settings
                .renew_deadline
                .saturating_sub(last_renewed.elapsed());
            if remaining.is_zero() {
                return Lost::RenewDeadline(last_error);
            }
            match tokio::time::timeout(remaining, self.try_acquire_or_renew()).await {
                Ok(Ok(Attempt::Held)) => last_renewed = Instant::now(),
                Ok(Ok(Attempt::HeldBy(holder))) => return Lost::TakenBy(holder),
                Ok(Err(error)) => {
                    warn!(lease = %self.settings.name, %error, "could not renew the leader Lease; retrying");
                    last_error = error.to_string();
                }
                Err(_) => last_error = "the API server did not answer in time".into(),
            }
        }
    }

    /// Gives the Lease up (empty holder) if this instance holds it, so a standby takes over within one retry
    /// period. Best effort: on failure the Lease simply expires.
    pub async fn release(&mut self) {
        let result = async {
            let Some(mut lease) = self.api.get_opt(&self.settings.name).await? else {
                return Ok(());
            };
            let mut spec = lease.spec.clone().unwrap_or_default();
            if spec.holder_identity.as_deref() != Some(self.settings.identity.as_str()) {
                return Ok(());
            }
            spec.holder_identity = None;
            spec.lease_duration_seconds = Some(1);
            spec.renew_time = Some(now_micro());
            lease.spec = Some(spec);
            self.api
                .replace(&self.settings.name, &self.write_params(), &lease)
                .await
                .map(|_| ())
        }
        .await;
        match result {
            Ok(()) => info!(lease = %self.settings.name, "released the leader Lease"),
            Err(error) => {
                warn!(lease = %self.settings.name, %error, "could not release the leader Lease; it will expire")
            }
        }
    }
}

/// Runs `controllers` while this instance holds the Lease; after losing it, stops them and competes again.
/// Returns on `shutdown`, after releasing the Lease. `controllers` gets a [`Shutdown`] for one term (one stretch
/// of leadership) and must build fresh caches each time, since the world changed while another instance led.
pub async fn lead_when_elected<F, Fut>(
    mut elector: Elector,
    metrics: &Metrics,
    health: &Health,
    controllers: F,
    shutdown: Shutdown,
) where
    F: Fn(Shutdown) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    loop {
        health.standby();
        metrics.set_leader(false);
        info!(lease = %elector.settings().name, namespace = %elector.settings().namespace,
              identity = %elector.settings().identity, "standby: waiting for the leader Lease");
        tokio::select! {
            () = elector.acquire() => {}
            () = shutdown.clone() => return,
        }
        health.leading();
        metrics.set_leader(true);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let term =
            crate::shutdown::on(futures::future::select(shutdown.clone(), stopped).map(|_| ()));
        let mut running = std::pin::pin!(controllers(term));
        let lost = tokio::select! {
            () = &mut running => None,
            lost = elector.keep() => Some(lost),
        };
        match lost {
            None => {
                // Shutdown: the controllers finished their reconciles; let a standby take over at once.
                elector.release().await;
                return;
            }
            Some(lost) => {
                warn!(reason = %lost, "lost the leader Lease; stopping the controllers and going back to standby");
                let _ = stop.send(());
                // Until the Lease can expire for the others, running reconciles may finish; then they are
                // cancelled, so two instances never reconcile at the same time.
                let grace = elector
                    .settings()
                    .lease_duration
                    .saturating_sub(elector.settings().renew_deadline);
                if tokio::time::timeout(grace, &mut running).await.is_err() {
                    warn!("reconciles still running after {grace:?}; cancelling them");
                }
            }
        }
    }
}

/// Runs `controllers` without leader election: this instance leads from the start.
pub async fn lead_alone<Fut>(metrics: &Metrics, health: &Health, controllers: Fut)
where
    Fut: std::future::Future<Output = ()>,
{
    health.leading();
    metrics.set_leader(true);
    controllers.await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(holder: Option<&str>, duration: Option<i32>) -> LeaseSpec {
        LeaseSpec {
            holder_identity: holder.map(str::to_string),
            lease_duration_seconds: duration,
            ..LeaseSpec::default()
        }
    }

    fn settings() -> LeaseSettings {
        LeaseSettings {
            namespace: "ns".into(),
            name: DEFAULT_LEASE_NAME.into(),
            identity: "me".into(),
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
            field_manager: "test".into(),
        }
    }

    #[test]
    fn a_valid_lease_of_another_holder_is_respected_until_it_expires_by_our_clock() {
        let seen = Instant::now();
        let default = Duration::from_secs(15);
        let other = spec(Some("other"), Some(4));
        assert_eq!(
            decide(&other, "me", seen, seen + Duration::from_secs(3), default),
            Decision::Wait {
                holder: "other".into()
            }
        );
        assert_eq!(
            decide(&other, "me", seen, seen + Duration::from_secs(4), default),
            Decision::Take { transition: true }
        );
        // Without leaseDurationSeconds, our own duration applies.
        let unknown = spec(Some("other"), None);
        assert!(matches!(
            decide(
                &unknown,
                "me",
                seen,
                seen + Duration::from_secs(14),
                default
            ),
            Decision::Wait { .. }
        ));
    }

    #[test]
    fn our_own_lease_is_renewed_and_a_free_one_is_taken() {
        let now = Instant::now();
        let default = Duration::from_secs(15);
        assert_eq!(
            decide(&spec(Some("me"), Some(15)), "me", now, now, default),
            Decision::Take { transition: false }
        );
        assert_eq!(
            decide(&spec(None, Some(15)), "me", now, now, default),
            Decision::Take { transition: true }
        );
        assert_eq!(
            decide(&spec(Some(""), Some(15)), "me", now, now, default),
            Decision::Take { transition: true }
        );
    }

    #[test]
    fn timing_flags_must_leave_the_leader_time_to_step_down() {
        assert_eq!(settings().validate(), Ok(()));
        let mut s = settings();
        s.renew_deadline = Duration::from_secs(15);
        let error = s.validate().expect_err("must be refused").to_string();
        assert!(
            error.contains("--leader-election-renew-deadline-seconds (15) must be less than"),
            "{error}"
        );
        let mut s = settings();
        s.retry_period = Duration::from_secs(10);
        assert!(matches!(
            s.validate(),
            Err(SettingsError::RetryPeriod { .. })
        ));
        let mut s = settings();
        s.retry_period = Duration::ZERO;
        assert!(
            s.validate()
                .expect_err("must be refused")
                .to_string()
                .contains("--leader-election-retry-period-seconds")
        );
        let mut s = settings();
        s.namespace = " ".into();
        assert!(
            s.validate()
                .expect_err("must be refused")
                .to_string()
                .contains("--leader-election-namespace")
        );
    }

    #[test]
    fn identities_are_unique_per_call_and_keep_the_base() {
        let a = identity("pod-1");
        let b = identity("pod-1");
        assert!(a.starts_with("pod-1_"));
        assert_ne!(a, b);
        let j = jittered(Duration::from_secs(2));
        assert!(j >= Duration::from_secs(2) && j < Duration::from_millis(2400));
    }
}
