//! Waiting for the cluster to reach a state, for tests.

use std::fmt::Display;
use std::time::{Duration, Instant};

/// How often [`until`] looks again.
const POLL: Duration = Duration::from_millis(250);

/// Calls `check` until it returns `Ok`, and returns its value. After `limit` it panics naming `what` and the last
/// `Err` (what `check` saw instead), so a failed test says how far the cluster got.
pub async fn until<T, E: Display>(
    what: &str,
    limit: Duration,
    mut check: impl AsyncFnMut() -> Result<T, E>,
) -> T {
    let start = Instant::now();
    loop {
        match check().await {
            Ok(value) => return value,
            Err(last) if start.elapsed() > limit => {
                panic!("timed out after {limit:?} waiting for {what}; last: {last}")
            }
            Err(_) => tokio::time::sleep(POLL).await,
        }
    }
}
