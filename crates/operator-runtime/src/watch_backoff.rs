//! How long a watch waits before it tries again after an error.
//!
//! kube-runtime's default (client-go's reflector numbers: 0.8 s doubling to 30 s, reset after 2 minutes without an
//! error) is tuned for being kind to a struggling API server, but it makes an operator slow to notice that the API
//! server is back: during a 30 s outage the delay climbs to its 30 s cap, and right after a restart every watch
//! meets one "410 Gone" (the new server's watch cache starts after the resourceVersion the watch resumes from)
//! before it relists, each after a full capped wait. Measured with `cargo xtask faults` (apiserver-restart): about
//! two minutes with stale caches after the API server was back. A 5 s cap bounds that to seconds, and at one
//! request per watch per 5 s a waiting operator costs the API server next to nothing.

use std::time::Duration;

use kube::runtime::utils::{Backoff, ResetTimerBackoff};

/// The first wait after an error.
const FIRST: Duration = Duration::from_millis(500);
/// The longest wait between tries.
const CAP: Duration = Duration::from_secs(5);
/// Quiet time after which the next error starts again from [`FIRST`].
const RESET_AFTER: Duration = Duration::from_secs(30);

/// The backoff for every watch of the operator and for its controllers' trigger streams: 0.5 s doubling to 5 s,
/// back to 0.5 s after 30 s without an error.
pub fn watch_backoff() -> impl Backoff + 'static {
    ResetTimerBackoff::new(Doubling::default(), RESET_AFTER)
}

/// [`FIRST`], doubling up to [`CAP`].
#[derive(Debug, Clone)]
struct Doubling {
    next: Duration,
}

impl Default for Doubling {
    fn default() -> Self {
        Doubling { next: FIRST }
    }
}

impl Iterator for Doubling {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        let now = self.next;
        self.next = (now * 2).min(CAP);
        Some(now)
    }
}

impl Backoff for Doubling {
    fn reset(&mut self) {
        self.next = FIRST;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_to_the_cap_and_resets() {
        let mut backoff = Doubling::default();
        let waits: Vec<Duration> = (&mut backoff).take(6).collect();
        assert_eq!(
            waits,
            [500, 1000, 2000, 4000, 5000, 5000].map(Duration::from_millis)
        );
        backoff.reset();
        assert_eq!(backoff.next(), Some(FIRST));
    }
}
