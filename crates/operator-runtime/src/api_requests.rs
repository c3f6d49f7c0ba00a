//! A tower layer on the Kubernetes client that counts every API request by verb, resource and status code
//! (`ray_operator_kube_api_requests_total`) and reports watch progress to [`crate::health`] for `/livez`.
//!
//! The verb and resource are read from the request the same way the API server does for RBAC and audit
//! (`GET` with `watch=true` is `watch`, `GET` of a collection is `list`, `DELETE` of a collection is
//! `deletecollection`, ...), so the numbers line up with the API server's own metrics. A subresource is shown
//! the RBAC way (`rayclusters/status`); a request outside the resource API (`/version`) keeps its path.
//!
//! Insert it with [`kube::client::ClientBuilder::with_layer`] before the rate limiter, so it measures the time
//! on the wire and not the wait for a token. Retries inside kube's own stack count once.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use http::{Method, Request, Response, Uri};
use http_body::{Body, Frame, SizeHint};
use tower::{Layer, Service};

use crate::health::Health;
use crate::metrics::Metrics;

/// What one request is, in the API server's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestKind {
    /// `get`, `list`, `watch`, `create`, `update`, `patch`, `delete`, `deletecollection` (or the lowercase
    /// method of a non-resource request).
    pub verb: String,
    /// The resource's plural name, with `/subresource` if any (`pods`, `rayclusters/status`), or the path of a
    /// non-resource request (`/version`).
    pub resource: String,
    /// For a watch: what it watches, e.g. `pods in ns-a (labelSelector=ray.io/node-type)`.
    pub watch: Option<String>,
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => match s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                Some(b) => {
                    out.push(b);
                    i += 2;
                }
                None => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Reads the verb, resource and (for a watch) the watched scope from a request's method and URI.
pub fn classify(method: &Method, uri: &Uri) -> RequestKind {
    let path = uri.path();
    let query: Vec<(String, String)> = uri
        .query()
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (percent_decode(k), percent_decode(v)),
            None => (percent_decode(p), String::new()),
        })
        .collect();
    let param = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    let rest: &[&str] = match parts.as_slice() {
        ["api", _version, rest @ ..] => rest,
        ["apis", _group, _version, rest @ ..] => rest,
        _ => &[],
    };
    let method_verb = method.as_str().to_ascii_lowercase();
    if rest.is_empty() {
        return RequestKind {
            verb: method_verb,
            resource: path.to_string(),
            watch: None,
        };
    }
    let (namespace, rest) = match rest {
        ["namespaces", ns, tail @ ..]
            if !tail.is_empty() && !matches!(tail[0], "status" | "finalize") =>
        {
            (Some(*ns), tail)
        }
        _ => (None, rest),
    };
    let resource = rest[0];
    let name = rest.get(1).copied();
    let subresource = rest.get(2).copied();
    let watching = matches!(param("watch"), Some("true" | "1"));
    let verb = match *method {
        Method::GET if watching => "watch".to_string(),
        Method::GET if name.is_some() => "get".to_string(),
        Method::GET => "list".to_string(),
        Method::POST => "create".to_string(),
        Method::PUT => "update".to_string(),
        Method::PATCH => "patch".to_string(),
        Method::DELETE if name.is_some() => "delete".to_string(),
        Method::DELETE => "deletecollection".to_string(),
        _ => method_verb,
    };
    let watch = watching.then(|| {
        let mut key = format!(
            "{resource} in {}",
            namespace.map_or("all namespaces".to_string(), |ns| format!("namespace {ns}"))
        );
        let selectors: Vec<String> = ["labelSelector", "fieldSelector"]
            .into_iter()
            .filter_map(|s| {
                param(s)
                    .filter(|v| !v.is_empty())
                    .map(|v| format!("{s}={v}"))
            })
            .collect();
        if !selectors.is_empty() {
            key.push_str(&format!(" ({})", selectors.join(", ")));
        }
        key
    });
    RequestKind {
        verb,
        resource: match subresource {
            Some(sub) => format!("{resource}/{sub}"),
            None => resource.to_string(),
        },
        watch,
    }
}

/// The layer: counts requests into [`Metrics`] and reports watch progress into [`Health`].
#[derive(Clone, Debug)]
pub struct ApiRequestLayer {
    metrics: Arc<Metrics>,
    health: Arc<Health>,
}

impl ApiRequestLayer {
    /// Records into `metrics` and `health`.
    pub fn new(metrics: Arc<Metrics>, health: Arc<Health>) -> Self {
        ApiRequestLayer { metrics, health }
    }
}

impl<S> Layer<S> for ApiRequestLayer {
    type Service = ApiRequests<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ApiRequests {
            inner,
            metrics: self.metrics.clone(),
            health: self.health.clone(),
        }
    }
}

/// The service made by [`ApiRequestLayer`].
#[derive(Clone, Debug)]
pub struct ApiRequests<S> {
    inner: S,
    metrics: Arc<Metrics>,
    health: Arc<Health>,
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for ApiRequests<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ResBody: Send + 'static,
{
    type Response = Response<WatchBody<ResBody>>;
    type Error = S::Error;
    type Future =
        Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send + 'static>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let kind = classify(request.method(), request.uri());
        let metrics = self.metrics.clone();
        let health = self.health.clone();
        let start = Instant::now();
        let response = self.inner.call(request);
        Box::pin(async move {
            match response.await {
                Ok(response) => {
                    let status = response.status();
                    metrics.record_api_request(
                        &kind.verb,
                        &kind.resource,
                        status.as_str(),
                        start.elapsed(),
                    );
                    let progress = match kind.watch {
                        Some(key) if status.is_success() => {
                            let key: Arc<str> = Arc::from(key);
                            health.watches.record(&key, Instant::now());
                            Some((health, key))
                        }
                        _ => None,
                    };
                    Ok(response.map(|inner| WatchBody { inner, progress }))
                }
                Err(error) => {
                    metrics.record_api_request(
                        &kind.verb,
                        &kind.resource,
                        "error",
                        start.elapsed(),
                    );
                    Err(error)
                }
            }
        })
    }
}

/// A response body that, for a watch, reports progress whenever data arrives (events and bookmarks alike).
pub struct WatchBody<B> {
    inner: B,
    progress: Option<(Arc<Health>, Arc<str>)>,
}

impl<B: Body + Unpin> Body for WatchBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        if let (Poll::Ready(Some(Ok(_))), Some((health, key))) = (&polled, &this.progress) {
            health.watches.record(key, Instant::now());
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(method: Method, uri: &str) -> (String, String, Option<String>) {
        let uri: Uri = uri.parse().unwrap_or_else(|e| panic!("{e}"));
        let k = classify(&method, &uri);
        (k.verb, k.resource, k.watch)
    }

    fn plain(verb: &str, resource: &str) -> (String, String, Option<String>) {
        (verb.to_string(), resource.to_string(), None)
    }

    #[test]
    fn verbs_and_resources_are_read_like_the_api_server_does() {
        assert_eq!(
            kind(Method::GET, "/api/v1/namespaces/a/pods?labelSelector=x"),
            plain("list", "pods")
        );
        assert_eq!(
            kind(Method::GET, "/api/v1/namespaces/a/pods/p1"),
            plain("get", "pods")
        );
        assert_eq!(
            kind(Method::POST, "/api/v1/namespaces/a/pods?"),
            plain("create", "pods")
        );
        assert_eq!(
            kind(Method::DELETE, "/api/v1/namespaces/a/pods/p1"),
            plain("delete", "pods")
        );
        assert_eq!(
            kind(Method::DELETE, "/api/v1/namespaces/a/pods"),
            plain("deletecollection", "pods")
        );
        assert_eq!(
            kind(
                Method::PATCH,
                "/apis/ray.io/v1/namespaces/a/rayclusters/c/status?fieldManager=ray-operator&force=true"
            ),
            plain("patch", "rayclusters/status")
        );
        assert_eq!(
            kind(
                Method::PUT,
                "/apis/coordination.k8s.io/v1/namespaces/a/leases/l"
            ),
            plain("update", "leases")
        );
        assert_eq!(
            kind(Method::GET, "/apis/ray.io/v1/rayclusters?limit=1"),
            plain("list", "rayclusters")
        );
        // Namespaces themselves, and their subresources.
        assert_eq!(
            kind(Method::GET, "/api/v1/namespaces/a"),
            plain("get", "namespaces")
        );
        assert_eq!(
            kind(Method::PUT, "/api/v1/namespaces/a/finalize"),
            plain("update", "namespaces/finalize")
        );
        assert_eq!(
            kind(Method::GET, "/api/v1/namespaces"),
            plain("list", "namespaces")
        );
        // Outside the resource API.
        assert_eq!(kind(Method::GET, "/version"), plain("get", "/version"));
        assert_eq!(kind(Method::GET, "/apis"), plain("get", "/apis"));
    }

    #[test]
    fn a_watch_is_named_by_resource_scope_and_selectors() {
        assert_eq!(
            kind(
                Method::GET,
                "/api/v1/namespaces/a/pods?&watch=true&timeoutSeconds=290&allowWatchBookmarks=true&labelSelector=ray.io%2Fnode-type&resourceVersion=1"
            ),
            (
                "watch".to_string(),
                "pods".to_string(),
                Some("pods in namespace a (labelSelector=ray.io/node-type)".to_string())
            )
        );
        assert_eq!(
            kind(Method::GET, "/apis/ray.io/v1/rayclusters?watch=1").2,
            Some("rayclusters in all namespaces".to_string())
        );
    }

    #[tokio::test]
    async fn the_layer_counts_responses_and_tracks_watch_progress_per_chunk() {
        use tower::ServiceExt;
        let metrics = Arc::new(Metrics::new());
        let health = Arc::new(Health::default());
        let layer = ApiRequestLayer::new(metrics.clone(), health.clone());
        let service = layer.layer(tower::service_fn(|request: Request<String>| async move {
            let status = if request.uri().path().ends_with("/missing") {
                404
            } else {
                200
            };
            Ok::<_, std::convert::Infallible>(
                Response::builder()
                    .status(status)
                    .body(http_body_util_full("{\"type\":\"BOOKMARK\"}"))
                    .unwrap_or_else(|e| panic!("{e}")),
            )
        }));
        let watch = Request::get("/api/v1/namespaces/a/pods?watch=true")
            .body(String::new())
            .unwrap_or_else(|e| panic!("{e}"));
        let response = service
            .clone()
            .oneshot(watch)
            .await
            .unwrap_or_else(|e| match e {});
        assert_eq!(health.watches.len(), 1, "opening a watch is progress");
        let mut body = response.into_body();
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        let mid = Instant::now();
        let before = health.watches.stalled(mid, std::time::Duration::ZERO);
        assert!(
            before[0].1 >= std::time::Duration::from_millis(20),
            "{before:?}"
        );
        let frame = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await;
        assert!(frame.is_some());
        // Progress is now later than `mid`: one second after it, the watch is less than a second old.
        let after = health.watches.stalled(
            mid + std::time::Duration::from_secs(1),
            std::time::Duration::ZERO,
        );
        assert!(
            after[0].1 < std::time::Duration::from_secs(1),
            "a chunk moves progress forward: {after:?}"
        );
        let missing = Request::get("/api/v1/namespaces/a/pods/missing")
            .body(String::new())
            .unwrap_or_else(|e| panic!("{e}"));
        let _ = service.oneshot(missing).await;
        let text = metrics.encode();
        assert!(
            text.contains(
                r#"ray_operator_kube_api_requests_total{verb="watch",resource="pods",code="200"} 1"#
            ),
            "{text}"
        );
        assert!(
            text.contains(
                r#"ray_operator_kube_api_requests_total{verb="get",resource="pods",code="404"} 1"#
            ),
            "{text}"
        );
    }

    /// A body of one frame.
    fn http_body_util_full(text: &'static str) -> OneFrame {
        OneFrame(Some(bytes_of(text)))
    }

    fn bytes_of(text: &'static str) -> Vec<u8> {
        text.as_bytes().to_vec()
    }

    struct OneFrame(Option<Vec<u8>>);

    impl Body for OneFrame {
        type Data = std::io::Cursor<Vec<u8>>;
        type Error = std::convert::Infallible;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
            Poll::Ready(
                self.0
                    .take()
                    .map(|b| Ok(Frame::data(std::io::Cursor::new(b)))),
            )
        }
    }
}
