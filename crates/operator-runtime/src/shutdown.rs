//! The process-wide stop signal every controller and server waits on.

use futures::FutureExt;
use futures::future::{BoxFuture, Shared};
use tracing::{info, warn};

/// A future that resolves when the operator should stop; cloneable so every controller can wait on it.
pub type Shutdown = Shared<BoxFuture<'static, ()>>;

/// A [`Shutdown`] that resolves when `future` does.
pub fn on(future: impl std::future::Future<Output = ()> + Send + 'static) -> Shutdown {
    future.boxed().shared()
}

/// A [`Shutdown`] that never resolves (tests and embedding that stop by dropping the future).
pub fn never() -> Shutdown {
    on(futures::future::pending())
}

/// Resolves on the first SIGTERM or SIGINT.
pub fn signal() -> Shutdown {
    on(async {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            match (
                signal(SignalKind::terminate()),
                signal(SignalKind::interrupt()),
            ) {
                (Ok(mut term), Ok(mut int)) => {
                    tokio::select! {
                        _ = term.recv() => info!("SIGTERM received; finishing running reconciles"),
                        _ = int.recv() => info!("SIGINT received; finishing running reconciles"),
                    }
                }
                _ => {
                    warn!("cannot listen for SIGTERM; stopping on Ctrl-C only");
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    })
}
