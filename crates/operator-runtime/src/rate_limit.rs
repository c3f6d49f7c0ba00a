//! Client-side rate limiting of API requests (`--kube-api-qps`, `--kube-api-burst`).
//!
//! kube-rs has no rate limiter of its own, and an operator that bursts thousands of pod creations at once can
//! starve other clients of the API server (it has its own priority and fairness, but operators are expected to be
//! polite, and KubeRay exposes the same two knobs). This is a tower layer for [`kube::client::ClientBuilder`]: a
//! token bucket that refills at `qps` tokens per second up to `burst` tokens; a request waits for a token before it
//! is sent. Watches count as one request when they are opened.

use std::future::Future;
use std::num::NonZeroU32;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tower::{Layer, Service};

/// Why a rate limit cannot be built from the given flags.
#[derive(Debug, thiserror::Error)]
pub enum RateLimitError {
    /// `--kube-api-qps` is not a positive, finite number.
    #[error("--kube-api-qps must be a positive number of requests per second, got {0}")]
    Qps(f64),
    /// `--kube-api-burst` is zero.
    #[error("--kube-api-burst must be at least 1")]
    Burst,
}

/// A token bucket shared by every clone of the client.
#[derive(Clone, Debug)]
pub struct RateLimitLayer {
    limiter: Arc<DefaultDirectRateLimiter>,
}

impl RateLimitLayer {
    /// At most `burst` requests at once, refilled at `qps` requests per second.
    pub fn new(qps: f64, burst: u32) -> Result<Self, RateLimitError> {
        if !qps.is_finite() || qps <= 0.0 {
            return Err(RateLimitError::Qps(qps));
        }
        let burst = NonZeroU32::new(burst).ok_or(RateLimitError::Burst)?;
        let period = Duration::from_secs_f64(1.0 / qps).max(Duration::from_nanos(1));
        let quota = Quota::with_period(period)
            .ok_or(RateLimitError::Qps(qps))?
            .allow_burst(burst);
        Ok(Self {
            limiter: Arc::new(RateLimiter::direct(quota)),
        })
    }
}

impl<S> Layer<S> for RateLimitLayer {
    type Service = RateLimit<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RateLimit {
            inner,
            limiter: self.limiter.clone(),
            permit: Permit::None,
        }
    }
}

/// Where a [`RateLimit`] service is in acquiring its next token.
enum Permit {
    /// No token yet, and not waiting.
    None,
    /// Waiting for a token.
    Waiting(Pin<Box<dyn Future<Output = ()> + Send>>),
    /// Holding a token for the next call.
    Held,
}

/// The service made by [`RateLimitLayer`]: ready only once it holds a token.
pub struct RateLimit<S> {
    inner: S,
    limiter: Arc<DefaultDirectRateLimiter>,
    permit: Permit,
}

impl<S, R> Service<R> for RateLimit<S>
where
    S: Service<R>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        loop {
            match &mut self.permit {
                Permit::Held => return self.inner.poll_ready(cx),
                Permit::Waiting(wait) => {
                    if wait.as_mut().poll(cx).is_pending() {
                        return Poll::Pending;
                    }
                    self.permit = Permit::Held;
                }
                Permit::None => {
                    let limiter = self.limiter.clone();
                    self.permit =
                        Permit::Waiting(Box::pin(async move { limiter.until_ready().await }));
                }
            }
        }
    }

    fn call(&mut self, request: R) -> Self::Future {
        // The token is spent on this request; the next one waits for its own.
        self.permit = Permit::None;
        self.inner.call(request)
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use futures::FutureExt;
    use tower::ServiceExt;

    use super::*;

    fn echo() -> impl Service<u32, Response = u32, Error = Infallible> {
        tower::service_fn(|n: u32| async move { Ok::<_, Infallible>(n) })
    }

    #[test]
    fn rejects_flags_that_make_no_sense() {
        assert!(matches!(
            RateLimitLayer::new(0.0, 10),
            Err(RateLimitError::Qps(_))
        ));
        assert!(matches!(
            RateLimitLayer::new(-1.0, 10),
            Err(RateLimitError::Qps(_))
        ));
        assert!(matches!(
            RateLimitLayer::new(f64::NAN, 10),
            Err(RateLimitError::Qps(_))
        ));
        assert!(matches!(
            RateLimitLayer::new(5.0, 0),
            Err(RateLimitError::Burst)
        ));
        assert!(RateLimitLayer::new(0.5, 1).is_ok());
    }

    #[test]
    fn a_burst_goes_through_at_once_and_the_next_request_waits() {
        // One token per hour: after the burst of three, the fourth request cannot be ready now.
        let layer = RateLimitLayer::new(1.0 / 3600.0, 3).expect("valid");
        let mut service = layer.layer(echo());
        for n in 0..3 {
            let ready = service
                .ready()
                .now_or_never()
                .expect("a burst token is available")
                .expect("infallible");
            assert_eq!(
                ready
                    .call(n)
                    .now_or_never()
                    .expect("echo is immediate")
                    .expect("infallible"),
                n
            );
        }
        assert!(
            service.ready().now_or_never().is_none(),
            "the fourth request must wait for a token"
        );
    }

    #[test]
    fn clones_of_the_layer_share_one_bucket() {
        let layer = RateLimitLayer::new(1.0 / 3600.0, 1).expect("valid");
        let mut first = layer.layer(echo());
        let mut second = layer.clone().layer(echo());
        first
            .ready()
            .now_or_never()
            .expect("the one token")
            .expect("infallible");
        assert!(
            second.ready().now_or_never().is_none(),
            "the bucket is shared, so the second service must wait"
        );
    }
}
