//! Client-side rate limiting of API requests (`--kube-api-qps`, `--kube-api-burst`).
//!
//! kube-rs has no rate limiter of its own, and an operator that bursts thousands of pod creations at once can
//! starve other clients of the API server (it has its own priority and fairness, but operators are expected to be
//! polite, and KubeRay exposes the same two knobs). This is a tower layer for [`kube::client::ClientBuilder`]: token
//! buckets that refill at `qps` tokens per second up to `burst` tokens; a request waits for a token before it is
//! sent. Watches count as one request when they are opened.
//!
//! There is one bucket per API resource type (pods, services, rayclusters, ...), which is what the same two flags
//! mean for KubeRay: controller-runtime builds one REST client, and so one client-go token bucket, per type. A
//! fast operator spends its budget on pods first; with one shared bucket every status write and every Service
//! create would delay a pod create, with per-type buckets they do not, and no single type can exceed the limit.

use std::collections::HashMap;
use std::future::Future;
use std::num::NonZeroU32;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tower::{Layer, Service, ServiceExt};

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

/// Token buckets, one per API resource type, shared by every clone of the client.
#[derive(Clone, Debug)]
pub struct RateLimitLayer {
    buckets: Arc<Buckets>,
}

/// The buckets of one layer, created on first use of a resource type.
#[derive(Debug)]
struct Buckets {
    quota: Quota,
    by_type: Mutex<HashMap<String, Arc<DefaultDirectRateLimiter>>>,
}

impl Buckets {
    fn for_path(&self, path: &str) -> Arc<DefaultDirectRateLimiter> {
        let key = resource_type(path);
        let mut by_type = self.by_type.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(bucket) = by_type.get(key.as_str()) {
            return bucket.clone();
        }
        let bucket = Arc::new(RateLimiter::direct(self.quota));
        by_type.insert(key, bucket.clone());
        bucket
    }
}

impl RateLimitLayer {
    /// At most `burst` requests at once per resource type, refilled at `qps` requests per second.
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
            buckets: Arc::new(Buckets {
                quota,
                by_type: Mutex::new(HashMap::new()),
            }),
        })
    }
}

/// The resource type a request path addresses, as `group/version/resource` (`v1/pods`,
/// `ray.io/v1/rayclusters`); subresources (`/status`) and single objects share their type's bucket. Paths outside
/// the resource API (`/version`, discovery) share one bucket.
fn resource_type(path: &str) -> String {
    let mut segments = path.split('/').filter(|s| !s.is_empty());
    let group_version = match segments.next() {
        Some("api") => segments.next().map(str::to_owned),
        Some("apis") => match (segments.next(), segments.next()) {
            (Some(group), Some(version)) => Some(format!("{group}/{version}")),
            _ => None,
        },
        _ => None,
    };
    let Some(group_version) = group_version else {
        return String::new();
    };
    let rest: Vec<&str> = segments.collect();
    let resource = match rest.as_slice() {
        ["namespaces", _namespace, resource, ..] => resource,
        [resource, ..] => resource,
        [] => "",
    };
    format!("{group_version}/{resource}")
}

impl<S> Layer<S> for RateLimitLayer {
    type Service = RateLimit<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RateLimit {
            inner: Arc::new(tokio::sync::Mutex::new(inner)),
            buckets: self.buckets.clone(),
        }
    }
}

/// The service made by [`RateLimitLayer`]. It is always ready: a request waits for its type's token in its own
/// future, so a request of a type whose bucket is empty never holds up a request of another type.
pub struct RateLimit<S> {
    inner: Arc<tokio::sync::Mutex<S>>,
    buckets: Arc<Buckets>,
}

impl<S, B> Service<http::Request<B>> for RateLimit<S>
where
    S: Service<http::Request<B>> + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let bucket = self.buckets.for_path(request.uri().path());
        let inner = self.inner.clone();
        Box::pin(async move {
            bucket.until_ready().await;
            // The lock is held only while the request is handed over, not while it is in flight.
            let response = {
                let mut inner = inner.lock().await;
                inner.ready().await?.call(request)
            };
            response.await
        })
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use futures::FutureExt;

    use super::*;

    /// Answers each request with its path, at once.
    fn echo() -> impl Service<
        http::Request<()>,
        Response = String,
        Error = Infallible,
        Future = impl Future<Output = Result<String, Infallible>> + Send + 'static,
    > + Send
    + 'static {
        tower::service_fn(|r: http::Request<()>| async move {
            Ok::<_, Infallible>(r.uri().path().to_owned())
        })
    }

    fn get(path: &str) -> http::Request<()> {
        http::Request::get(path).body(()).expect("request")
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
    fn requests_are_grouped_by_resource_type() {
        assert_eq!(resource_type("/api/v1/namespaces/a/pods"), "v1/pods");
        assert_eq!(resource_type("/api/v1/namespaces/b/pods/p-1"), "v1/pods");
        assert_eq!(resource_type("/api/v1/pods"), "v1/pods");
        assert_eq!(resource_type("/api/v1/namespaces/a"), "v1/namespaces");
        assert_eq!(resource_type("/api/v1/nodes/n"), "v1/nodes");
        assert_eq!(
            resource_type("/apis/ray.io/v1/namespaces/a/rayclusters/c/status"),
            "ray.io/v1/rayclusters"
        );
        assert_eq!(
            resource_type("/apis/coordination.k8s.io/v1/namespaces/a/leases/l"),
            "coordination.k8s.io/v1/leases"
        );
        assert_eq!(resource_type("/version"), "");
        assert_eq!(resource_type("/apis"), "");
    }

    #[test]
    fn a_burst_goes_through_at_once_and_the_next_request_of_that_type_waits() {
        // One token per hour: after the burst of three, the fourth pod request cannot go now.
        let layer = RateLimitLayer::new(1.0 / 3600.0, 3).expect("valid");
        let mut service = layer.layer(echo());
        for n in 0..3 {
            let path = format!("/api/v1/namespaces/a/pods/p-{n}");
            let answer = service
                .call(get(&path))
                .now_or_never()
                .expect("a burst token is available")
                .expect("infallible");
            assert_eq!(answer, path);
        }
        assert!(
            service
                .call(get("/api/v1/namespaces/a/pods"))
                .now_or_never()
                .is_none(),
            "the fourth pod request must wait for a token"
        );
        assert!(
            service
                .call(get("/apis/ray.io/v1/namespaces/a/rayclusters/c/status"))
                .now_or_never()
                .is_some(),
            "a status write has a bucket of its own and is not held up by the pods"
        );
    }

    #[test]
    fn clones_of_the_layer_share_the_buckets() {
        let layer = RateLimitLayer::new(1.0 / 3600.0, 1).expect("valid");
        let mut first = layer.layer(echo());
        let mut second = layer.clone().layer(echo());
        first
            .call(get("/api/v1/namespaces/a/pods"))
            .now_or_never()
            .expect("the one token")
            .expect("infallible");
        assert!(
            second
                .call(get("/api/v1/namespaces/b/pods"))
                .now_or_never()
                .is_none(),
            "the bucket is shared, so the second client's pod request must wait"
        );
    }
}
