//! Where the controllers read the wall-clock time. Every decision that depends on the time (the RayCronJob
//! schedule; a RayJob's `startTime`/`endTime`, deadlines, deletion TTLs and status-check failure window; a
//! RayService's old-cluster deletion delay) reads one [`Clock`], so a test or a program embedding the controllers
//! can move time at will. The operator uses [`SystemClock`]; a test uses a [`ManualClock`] and sets it, so a
//! schedule of days or a TTL of hours is exercised in seconds, and a clock jump (forward or backward) is exercised
//! on purpose.
//!
//! Requeue timers, rate limits and expectations keep measuring real elapsed time (`Instant`): they only say when
//! to look again, never what is due. A controller whose clock jumps ([`Clock::jumps`]) is woken for every object
//! at once, so what a jump makes due happens without waiting for a timer set on the old time. That holds for the
//! system clock too: [`SystemClock`] notices the wall clock being stepped (an administrator, or NTP correcting a
//! large offset) by comparing it with the monotonic clock.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::Stream;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use tokio::sync::watch;

/// The time source of the controllers.
pub trait Clock: Send + Sync + fmt::Debug + 'static {
    /// The current time.
    fn now(&self) -> Timestamp;

    /// A receiver that sees every time the clock is set, for a clock that jumps instead of running on its own:
    /// the controller then looks at every object again at once, instead of at the instant its requeue timer
    /// (which runs on the real time) fires. `None` (the default) for a clock whose jumps cannot be seen.
    fn jumps(&self) -> Option<watch::Receiver<Timestamp>> {
        None
    }
}

/// How often [`SystemClock`]'s jump watcher compares the wall clock with the monotonic clock.
const JUMP_CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// How far the wall clock must move against the monotonic clock between two checks to count as a jump. NTP slews
/// the clock by far less than this; a step (or a suspended machine waking up) moves it by more.
const JUMP_THRESHOLD: Duration = Duration::from_secs(2);

/// The operating system's clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }

    /// A watcher (a task on the current tokio runtime, ending when the receiver is dropped) that reports every step
    /// of the wall clock; `None` outside a tokio runtime.
    fn jumps(&self) -> Option<watch::Receiver<Timestamp>> {
        let runtime = tokio::runtime::Handle::try_current().ok()?;
        let (sender, receiver) = watch::channel(Timestamp::now());
        runtime.spawn(watch_system_clock(sender));
        Some(receiver)
    }
}

/// Reports to `sender` each time the wall clock moved differently from the monotonic clock, until nobody listens.
async fn watch_system_clock(sender: watch::Sender<Timestamp>) {
    let mut ticks = tokio::time::interval(JUMP_CHECK_INTERVAL);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut before = (Timestamp::now(), Instant::now());
    loop {
        tokio::select! {
            () = sender.closed() => return,
            _ = ticks.tick() => {}
        }
        let after = (Timestamp::now(), Instant::now());
        if jumped(
            after.0.duration_since(before.0),
            after.1.saturating_duration_since(before.1),
        ) {
            tracing::info!(now = %after.0, "the system clock jumped; looking at every object again");
            sender.send_replace(after.0);
        }
        before = after;
    }
}

/// Whether the wall clock, having moved by `wall` while the monotonic clock moved by `monotonic`, was stepped.
fn jumped(wall: SignedDuration, monotonic: Duration) -> bool {
    let monotonic = SignedDuration::try_from(monotonic).unwrap_or(SignedDuration::MAX);
    wall.checked_sub(monotonic)
        .is_none_or(|drift| drift.unsigned_abs() > JUMP_THRESHOLD)
}

/// A clock that stands still until it is set or advanced; every change wakes the controller (see
/// [`Clock::jumps`]).
#[derive(Debug)]
pub struct ManualClock {
    now: watch::Sender<Timestamp>,
}

impl ManualClock {
    /// A clock showing `start`.
    pub fn new(start: Timestamp) -> Arc<Self> {
        Arc::new(ManualClock {
            now: watch::Sender::new(start),
        })
    }

    /// Sets the clock to `now`.
    pub fn set(&self, now: Timestamp) {
        self.now.send_replace(now);
    }

    /// Moves the clock by `by` (backwards when negative).
    pub fn advance(&self, by: SignedDuration) {
        self.now.send_modify(|now| {
            *now = now.saturating_add(by).unwrap_or(if by.is_negative() {
                Timestamp::MIN
            } else {
                Timestamp::MAX
            })
        });
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        *self.now.borrow()
    }

    fn jumps(&self) -> Option<watch::Receiver<Timestamp>> {
        Some(self.now.subscribe())
    }
}

/// One item per change seen by `receiver` (the first item is the first change after the call), ending when the
/// clock is dropped.
pub(crate) fn changes(
    receiver: watch::Receiver<Timestamp>,
) -> impl Stream<Item = ()> + Send + 'static {
    futures::stream::unfold(receiver, |mut receiver| async move {
        receiver.changed().await.ok()?;
        Some(((), receiver))
    })
}

#[cfg(test)]
mod tests {
    use futures::StreamExt;

    use super::*;

    #[tokio::test]
    async fn a_manual_clock_moves_only_when_told_and_says_so() {
        let start: Timestamp = "2026-03-01T03:00:00Z"
            .parse()
            .unwrap_or_else(|e| panic!("{e}"));
        let clock = ManualClock::new(start);
        assert_eq!(clock.now(), start);
        let mut changed = Box::pin(changes(clock.jumps().unwrap_or_else(|| panic!("jumps"))));
        clock.advance(SignedDuration::from_mins(2));
        assert_eq!(clock.now(), start + SignedDuration::from_mins(2));
        assert_eq!(changed.next().await, Some(()));
        clock.set(start);
        assert_eq!(clock.now(), start);
        assert_eq!(changed.next().await, Some(()));
    }

    #[test]
    fn the_system_clock_counts_only_steps_as_jumps() {
        let second = Duration::from_secs(1);
        assert!(!jumped(SignedDuration::from_secs(1), second));
        // Slewing, and the two clocks read a moment apart.
        assert!(!jumped(SignedDuration::from_millis(1_500), second));
        assert!(!jumped(SignedDuration::from_millis(100), second));
        assert!(jumped(SignedDuration::from_hours(1), second));
        assert!(jumped(SignedDuration::from_hours(-1), second));
        assert!(jumped(SignedDuration::MIN, Duration::MAX));
    }

    #[test]
    fn the_system_clock_is_watched_only_on_a_runtime() {
        assert!(SystemClock.jumps().is_none());
    }

    #[tokio::test]
    async fn the_system_clock_watcher_stays_quiet_while_the_clock_runs_and_ends_with_its_listener()
    {
        let mut jumps = SystemClock
            .jumps()
            .unwrap_or_else(|| panic!("a watcher on a runtime"));
        let quiet = tokio::time::timeout(JUMP_CHECK_INTERVAL * 3, jumps.changed()).await;
        assert!(quiet.is_err(), "no jump: {quiet:?}");
        drop(jumps);
    }
}
