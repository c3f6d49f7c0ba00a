//! Where the RayCronJob controller reads the time. The operator uses [`SystemClock`]; a test (or a program
//! embedding the controller) uses a [`ManualClock`] and moves it forward, so a schedule of minutes or days is
//! exercised in seconds, without waiting.

use std::fmt;
use std::sync::Arc;

use futures::Stream;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use tokio::sync::watch;

/// The time source of the RayCronJob controller.
pub trait Clock: Send + Sync + fmt::Debug + 'static {
    /// The current time.
    fn now(&self) -> Timestamp;

    /// A receiver that sees every time the clock is set, for a clock that jumps instead of running on its own:
    /// the controller then looks at every RayCronJob again at once, instead of at the instant its requeue timer
    /// (which runs on the real time) fires. `None` (the default) for a clock that runs on its own.
    fn jumps(&self) -> Option<watch::Receiver<Timestamp>> {
        None
    }
}

/// The operating system's clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
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
        assert!(SystemClock.jumps().is_none());
    }
}
