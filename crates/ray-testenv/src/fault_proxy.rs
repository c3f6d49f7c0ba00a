//! A fault-injecting HTTP/1.1 reverse proxy on loopback, for tests of how the operator copes with a misbehaving
//! API server or Ray dashboard: error statuses, slow answers, expired watches and continue tokens, refused and
//! hanging connections, garbage bodies, and watch streams broken mid-flight.
//!
//! The client speaks plain HTTP to `127.0.0.1:<port>`. Each client connection gets one upstream connection of its
//! own (opened on its first request, reopened when the upstream closed it), so the upstream sees the same
//! concurrency the client makes. Request bodies are read whole before they are forwarded; response bodies are
//! passed on chunk by chunk as they arrive, so watches stream. A [`Fault`] set with [`FaultProxy::set`] applies to
//! requests that arrive afterwards; requests in flight keep what they got.
//!
//! When the upstream cannot be reached (a stopped API server, see [`crate::ControlPlane::stop_component`]) the
//! proxy answers 502 with a `Status` body, as a load balancer in front of an API server would.
//!
//! ```no_run
//! # async fn example(plane: &ray_testenv::ControlPlane) -> ray_testenv::Result<()> {
//! use ray_testenv::{Fault, FaultProxy};
//! let proxy = FaultProxy::for_api_server(plane).await?;
//! proxy.write_kubeconfig(&plane.dir().join("proxied-kubeconfig"))?;
//! proxy.set(Fault::Status { code: 429, retry_after_seconds: Some(1) });
//! // ... the operator, started with KUBECONFIG pointing at that file, sees 429s ...
//! proxy.set(Fault::None);
//! proxy.cut_streams(); // every watch breaks; the operator must watch again
//! # Ok(()) }
//! ```

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use http::header::{AUTHORIZATION, CONNECTION, CONTENT_TYPE, HOST, RETRY_AFTER};
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, Uri};
use http_body::{Body, Frame, SizeHint};
use hyper::body::{Bytes, Incoming};
use hyper::client::conn::http1::{self as client_http1, SendRequest};
use hyper::server::conn::http1 as server_http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use kube::config::Kubeconfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Mutex as AsyncMutex, mpsc, watch};
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};

use crate::control_plane::ControlPlane;
use crate::error::{Error, Result};

/// What the proxy does to the requests that arrive while it is set; see [`FaultProxy::set`].
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// Pass every request through.
    None,
    /// Answer every request, watches included, with this status and a `metav1.Status` body (`reason`
    /// `TooManyRequests` for 429, `InternalError` for 500, ...; message "injected by the fault proxy"), as an
    /// overloaded or failing API server does. An invalid code is answered as 500.
    Status {
        /// The HTTP status code.
        code: u16,
        /// Sent as the `Retry-After` header and `details.retryAfterSeconds`, as the API server does for 429.
        retry_after_seconds: Option<u32>,
    },
    /// Forward every request after this delay: a slow API server or network.
    Delay(Duration),
    /// What kube-apiserver does when a resourceVersion or continue token is too old (etcd compacted it): a watch
    /// (`watch=true` or `watch=1`) gets 200 with one `ERROR` event holding a 410 `Expired` Status, then ends; a
    /// list with a `continue` parameter gets HTTP 410 `Expired`. Other requests pass.
    Gone,
    /// New connections are accepted and closed at once without a byte, and requests on connections already open
    /// are answered by closing the connection: the client sees connection errors.
    Refuse,
    /// Requests never get an answer (until the proxy is dropped): a stuck server, found only by client timeouts.
    Hang,
    /// 200 with `Content-Type: application/json` and a body that is not JSON.
    Garbage,
}

/// One request the proxy saw, for assertions about what the client did.
#[derive(Debug, Clone)]
pub struct ProxiedRequest {
    /// When it arrived.
    pub at: SystemTime,
    /// The HTTP method (`GET`, `PATCH`, ...).
    pub method: String,
    /// Path and query, as sent (`/api/v1/namespaces/x/configmaps?watch=true&...`).
    pub path: String,
    /// Whether it was a watch (`watch=true` or `watch=1` in the query).
    pub watch: bool,
    /// The status the client got; 0 if it got none ([`Fault::Refuse`], [`Fault::Hang`]).
    pub status: u16,
    /// Whether a [`Fault`] answered it (rather than the upstream, or the proxy's own 502 when the upstream is
    /// unreachable).
    pub fault: bool,
}

/// A running proxy; see the module docs. Dropping it stops it: the listener closes and every connection and
/// request in flight ends.
pub struct FaultProxy {
    shared: Arc<Shared>,
    addr: SocketAddr,
    /// Every task of the proxy ends when this is dropped (see [`spawn_task`]).
    _alive: watch::Sender<()>,
}

/// What the proxy's tasks share.
struct Shared {
    upstream: Upstream,
    fault: Mutex<Fault>,
    requests: Mutex<Vec<ProxiedRequest>>,
    /// Bumped by [`FaultProxy::cut_streams`]; each response body in flight watches it.
    cuts: watch::Sender<u64>,
    /// Closed when the proxy is dropped.
    alive: watch::Receiver<()>,
}

impl Shared {
    fn fault(&self) -> Fault {
        self.fault
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl std::fmt::Debug for FaultProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaultProxy")
            .field("url", &self.url())
            .field("upstream", &self.shared.upstream.authority())
            .field("fault", &self.shared.fault())
            .finish_non_exhaustive()
    }
}

impl FaultProxy {
    /// A proxy in front of the control plane's API server: plain HTTP toward the client, HTTPS toward the API
    /// server, trusting the control plane's CA and presenting its admin client certificate (`system:masters`), so
    /// clients need no credentials. Any `Authorization` header a client sends is dropped.
    pub async fn for_api_server(plane: &ControlPlane) -> Result<FaultProxy> {
        let server: Uri = plane
            .server()
            .parse()
            .map_err(|e| Error::Other(format!("the API server URL {}: {e}", plane.server())))?;
        let (Some(host), Some(authority)) = (server.host(), server.authority()) else {
            return Err(Error::Other(format!(
                "the API server URL {} has no host",
                plane.server()
            )));
        };
        let name = ServerName::try_from(host.to_owned())
            .map_err(|e| Error::Other(format!("the API server host {host}: {e}")))?;
        let tls = admin_tls(plane.kubeconfig())?;
        Self::start(Upstream::Https {
            authority: authority.as_str().to_owned(),
            tls,
            name,
        })
        .await
    }

    /// A proxy in front of a plain-HTTP upstream such as a Ray head's dashboard (`http://127.0.0.1:8265`).
    pub async fn for_http(upstream: &str) -> Result<FaultProxy> {
        let uri: Uri = upstream
            .parse()
            .map_err(|e| Error::Other(format!("the upstream URL {upstream}: {e}")))?;
        let (Some("http"), Some(authority)) = (uri.scheme_str(), uri.authority()) else {
            return Err(Error::Other(format!(
                "the fault proxy forwards to http://host:port URLs, not {upstream}"
            )));
        };
        let port = authority.port_u16().unwrap_or(80);
        Self::start(Upstream::Http {
            authority: format!("{}:{port}", authority.host()),
        })
        .await
    }

    async fn start(upstream: Upstream) -> Result<FaultProxy> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .map_err(Error::io("binding the fault proxy to 127.0.0.1"))?;
        let addr = listener
            .local_addr()
            .map_err(Error::io("reading the fault proxy's address"))?;
        let (alive_tx, alive) = watch::channel(());
        let shared = Arc::new(Shared {
            upstream,
            fault: Mutex::new(Fault::None),
            requests: Mutex::new(Vec::new()),
            cuts: watch::channel(0).0,
            alive,
        });
        spawn_task(&shared.alive, accept(listener, Arc::clone(&shared)));
        Ok(FaultProxy {
            shared,
            addr,
            _alive: alive_tx,
        })
    }

    /// The proxy's URL, `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Writes a kubeconfig (JSON) whose server is [`Self::url`] and that has no credentials (the proxy
    /// authenticates upstream), so that a program run with `KUBECONFIG=<path>` talks to the API server through the
    /// proxy. Only meaningful for [`Self::for_api_server`].
    pub fn write_kubeconfig(&self, path: &Path) -> Result<()> {
        let config = serde_json::json!({
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "fault-proxy", "cluster": {"server": self.url()}}],
            "users": [{"name": "fault-proxy", "user": {}}],
            "contexts": [{
                "name": "fault-proxy",
                "context": {"cluster": "fault-proxy", "user": "fault-proxy", "namespace": "default"},
            }],
            "current-context": "fault-proxy",
        });
        let text = serde_json::to_string_pretty(&config)
            .map_err(|e| Error::Other(format!("serialising the kubeconfig: {e}")))?;
        std::fs::write(path, text).map_err(Error::io(format!("writing {}", path.display())))
    }

    /// Sets the fault for requests that arrive from now on; requests already in flight keep what they got.
    pub fn set(&self, fault: Fault) {
        *self
            .shared
            .fault
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = fault;
    }

    /// Breaks every response body in flight (watches, in practice) abruptly: the client's connection is closed
    /// mid-body, so it sees an error or unexpected end of stream rather than a clean end, as when an API server or
    /// load balancer drops long requests. Requests that arrive afterwards work at once (unless a fault is set).
    pub fn cut_streams(&self) {
        self.shared.cuts.send_modify(|generation| *generation += 1);
    }

    /// Every request seen so far, in the order their answers began ([`Fault::Refuse`] and [`Fault::Hang`]
    /// requests are recorded when the proxy decides not to answer them).
    pub fn requests(&self) -> Vec<ProxiedRequest> {
        self.shared
            .requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// Spawns `task` so that it ends when the proxy is dropped: it races the closing of the proxy's `alive` channel.
fn spawn_task(alive: &watch::Receiver<()>, task: impl Future<Output = ()> + Send + 'static) {
    let mut alive = alive.clone();
    tokio::spawn(async move {
        tokio::select! {
            // Nothing is ever sent: this returns (with an error) when the sender, held by the proxy, is dropped.
            _ = alive.changed() => {}
            () = task => {}
        }
    });
}

/// Accepts connections until the proxy is dropped.
async fn accept(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            // Out of file descriptors and the like: wait rather than spin.
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        if shared.fault() == Fault::Refuse {
            drop(stream);
            continue;
        }
        // Small writes (watch events) must not wait for Nagle's algorithm.
        let _ = stream.set_nodelay(true);
        spawn_task(&shared.alive, serve(stream, Arc::clone(&shared)));
    }
}

/// The upstream connection of one client connection, opened on its first request.
type Pooled = Arc<AsyncMutex<Option<SendRequest<ProxyBody>>>>;

/// Serves one client connection. HTTP/1.1 answers one request at a time, so one upstream connection suffices.
async fn serve(stream: TcpStream, shared: Arc<Shared>) {
    let pooled: Pooled = Arc::default();
    let service =
        service_fn(move |request| handle(Arc::clone(&shared), Arc::clone(&pooled), request));
    let _ = server_http1::Builder::new()
        // An idle keep-alive connection must stay open as long as the client wants, as the API server's do.
        .header_read_timeout(None)
        .serve_connection(TokioIo::new(stream), service)
        .await;
}

/// Answers one request: with the fault set when it arrived, or by forwarding it. An `Err` closes the connection.
async fn handle(
    shared: Arc<Shared>,
    pooled: Pooled,
    request: Request<Incoming>,
) -> io::Result<Response<ProxyBody>> {
    let seen = Seen::of(&request);
    match shared.fault() {
        Fault::None => {}
        Fault::Status {
            code,
            retry_after_seconds,
        } => {
            let response =
                status_response(code, "injected by the fault proxy", retry_after_seconds);
            return Ok(seen.answer(&shared, response, true));
        }
        Fault::Delay(delay) => tokio::time::sleep(delay).await,
        Fault::Gone if seen.watch => return Ok(seen.answer(&shared, expired_watch(), true)),
        Fault::Gone if seen.continued => {
            let response = status_response(
                410,
                "the provided continue parameter is too old: injected",
                None,
            );
            return Ok(seen.answer(&shared, response, true));
        }
        Fault::Gone => {}
        Fault::Refuse => {
            seen.record(&shared, 0, true);
            return Err(io::Error::new(
                io::ErrorKind::ConnectionRefused,
                "refused by the fault proxy",
            ));
        }
        Fault::Hang => {
            seen.record(&shared, 0, true);
            let never: Infallible = std::future::pending().await;
            match never {}
        }
        Fault::Garbage => {
            let mut response = Response::new(ProxyBody::full(
                "<html>injected by the fault proxy: this is not JSON</html>\n",
            ));
            response
                .headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            return Ok(seen.answer(&shared, response, true));
        }
    }
    forward(&shared, &pooled, request, seen).await
}

/// What is recorded of a request, taken when it arrives.
struct Seen {
    at: SystemTime,
    method: String,
    path: String,
    watch: bool,
    /// A list with a `continue` token.
    continued: bool,
}

impl Seen {
    fn of(request: &Request<Incoming>) -> Self {
        let uri = request.uri();
        let query = uri.query().unwrap_or_default();
        let mut params = query
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| p.split_once('=').unwrap_or((p, "")));
        let watch = params
            .clone()
            .any(|(k, v)| k == "watch" && (v == "true" || v == "1"));
        let continued = request.method() == Method::GET
            && !watch
            && params.any(|(k, v)| k == "continue" && !v.is_empty());
        Self {
            at: SystemTime::now(),
            method: request.method().to_string(),
            path: uri
                .path_and_query()
                .map_or_else(|| uri.path().to_owned(), |pq| pq.as_str().to_owned()),
            watch,
            continued,
        }
    }

    fn record(&self, shared: &Shared, status: u16, fault: bool) {
        shared
            .requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(ProxiedRequest {
                at: self.at,
                method: self.method.clone(),
                path: self.path.clone(),
                watch: self.watch,
                status,
                fault,
            });
    }

    /// Records `response`'s status (its head is about to be sent) and returns it.
    fn answer(
        self,
        shared: &Shared,
        response: Response<ProxyBody>,
        fault: bool,
    ) -> Response<ProxyBody> {
        self.record(shared, response.status().as_u16(), fault);
        response
    }
}

/// Forwards a request upstream and streams the response back.
async fn forward(
    shared: &Arc<Shared>,
    pooled: &Pooled,
    request: Request<Incoming>,
    seen: Seen,
) -> io::Result<Response<ProxyBody>> {
    let (parts, body) = request.into_parts();
    let body = read_all(body).await?;
    let target = Uri::from(
        parts
            .uri
            .path_and_query()
            .cloned()
            .unwrap_or_else(|| http::uri::PathAndQuery::from_static("/")),
    );
    let mut headers = end_to_end(&parts.headers);
    // The upstream authenticates the proxy by its client certificate, never by what the client sends.
    headers.remove(AUTHORIZATION);
    headers.remove(HOST);
    if let Ok(host) = HeaderValue::from_str(shared.upstream.authority()) {
        headers.insert(HOST, host);
    }
    let build = || {
        let mut upstream = Request::new(ProxyBody::full(body.clone()));
        *upstream.method_mut() = parts.method.clone();
        *upstream.uri_mut() = target.clone();
        *upstream.headers_mut() = headers.clone();
        upstream
    };
    match send(shared, pooled, build).await {
        Ok(response) => {
            let (mut head, body) = response.into_parts();
            head.headers = end_to_end(&head.headers);
            let response = Response::from_parts(head, pump(shared, body));
            Ok(seen.answer(shared, response, false))
        }
        Err(e) => {
            let message = format!(
                "the fault proxy cannot reach {}: {e}",
                shared.upstream.authority()
            );
            Ok(seen.answer(shared, status_response(502, &message, None), false))
        }
    }
}

/// Sends a request on the connection's upstream connection, opening a new one if there is none or it closed.
async fn send(
    shared: &Shared,
    pooled: &Pooled,
    build: impl Fn() -> Request<ProxyBody>,
) -> io::Result<Response<Incoming>> {
    let mut slot = pooled.lock().await;
    if let Some(mut sender) = slot.take()
        && sender.ready().await.is_ok()
    {
        match sender.try_send_request(build()).await {
            Ok(response) => {
                *slot = Some(sender);
                return Ok(response);
            }
            // Not sent (the upstream closed the idle connection): safe to send again on a new one.
            Err(e) if e.message().is_some() => {}
            Err(e) => return Err(io::Error::other(e.into_error())),
        }
    }
    let mut sender = shared.upstream.connect(&shared.alive).await?;
    let response = sender
        .send_request(build())
        .await
        .map_err(io::Error::other)?;
    *slot = Some(sender);
    Ok(response)
}

/// Where requests are forwarded to.
enum Upstream {
    /// Plain HTTP to `host:port`.
    Http { authority: String },
    /// HTTPS to `host:port`, with the admin client certificate.
    Https {
        authority: String,
        tls: TlsConnector,
        name: ServerName<'static>,
    },
}

impl Upstream {
    fn authority(&self) -> &str {
        match self {
            Upstream::Http { authority } | Upstream::Https { authority, .. } => authority,
        }
    }

    /// Opens a new HTTP/1.1 connection; its driver task ends with the proxy.
    async fn connect(&self, alive: &watch::Receiver<()>) -> io::Result<SendRequest<ProxyBody>> {
        let tcp = TcpStream::connect(self.authority()).await?;
        tcp.set_nodelay(true)?;
        match self {
            Upstream::Http { .. } => handshake(TokioIo::new(tcp), alive).await,
            Upstream::Https { tls, name, .. } => {
                let stream = tls.connect(name.clone(), tcp).await?;
                handshake(TokioIo::new(stream), alive).await
            }
        }
    }
}

async fn handshake<T>(io: T, alive: &watch::Receiver<()>) -> io::Result<SendRequest<ProxyBody>>
where
    T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (sender, connection) = client_http1::handshake(io)
        .await
        .map_err(io::Error::other)?;
    spawn_task(alive, async move {
        let _ = connection.await;
    });
    Ok(sender)
}

/// A TLS client that trusts the control plane's CA and presents its admin client certificate, both named in the
/// admin kubeconfig.
fn admin_tls(kubeconfig: &Path) -> Result<TlsConnector> {
    let config = Kubeconfig::read_from(kubeconfig)
        .map_err(|e| Error::Other(format!("reading {}: {e}", kubeconfig.display())))?;
    let cluster = config.clusters.first().and_then(|c| c.cluster.as_ref());
    let user = config.auth_infos.first().and_then(|u| u.auth_info.as_ref());
    let (Some(ca), Some(cert), Some(key)) = (
        cluster.and_then(|c| c.certificate_authority.as_deref()),
        user.and_then(|u| u.client_certificate.as_deref()),
        user.and_then(|u| u.client_key.as_deref()),
    ) else {
        return Err(Error::Other(format!(
            "{} names no certificate-authority, client-certificate and client-key files",
            kubeconfig.display()
        )));
    };
    let tls = |e: rustls::Error| Error::Other(format!("configuring TLS to the API server: {e}"));
    let mut roots = RootCertStore::empty();
    for der in CertificateDer::pem_file_iter(ca).map_err(pem(ca))? {
        roots.add(der.map_err(pem(ca))?).map_err(tls)?;
    }
    let chain = CertificateDer::pem_file_iter(cert)
        .map_err(pem(cert))?
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(pem(cert))?;
    let key = PrivateKeyDer::from_pem_file(key).map_err(pem(key))?;
    let config =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(tls)?
            .with_root_certificates(roots)
            .with_client_auth_cert(chain, key)
            .map_err(tls)?;
    Ok(TlsConnector::from(Arc::new(config)))
}

/// Wraps a PEM reading error with the file's name.
fn pem(file: &str) -> impl FnOnce(rustls_pki_types::pem::Error) -> Error + '_ {
    move |e| Error::Other(format!("reading {file}: {e}"))
}

/// Headers that apply to one connection only and must not be forwarded (RFC 9110, 7.6.1), plus the
/// pre-standard `keep-alive` and `proxy-connection`.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// `headers` without the hop-by-hop ones, including those the `Connection` header names.
fn end_to_end(headers: &HeaderMap) -> HeaderMap {
    let named: Vec<String> = headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|n| n.trim().to_ascii_lowercase())
        .collect();
    let mut kept = HeaderMap::with_capacity(headers.len());
    for (name, value) in headers {
        let name_str = name.as_str();
        if !HOP_BY_HOP.contains(&name_str) && !named.iter().any(|n| n == name_str) {
            kept.append(name.clone(), value.clone());
        }
    }
    kept
}

/// A `metav1.Status` failure as the API server writes it.
fn status_json(code: u16, message: &str, retry_after_seconds: Option<u32>) -> serde_json::Value {
    let mut status = serde_json::json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason(code),
        "code": code,
    });
    if let Some(seconds) = retry_after_seconds {
        status["details"] = serde_json::json!({ "retryAfterSeconds": seconds });
    }
    status
}

/// The `metav1.StatusReason` the API server gives with `code`.
fn reason(code: u16) -> &'static str {
    match code {
        400 => "BadRequest",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "NotFound",
        405 => "MethodNotAllowed",
        406 => "NotAcceptable",
        409 => "Conflict",
        410 => "Expired",
        413 => "RequestEntityTooLarge",
        415 => "UnsupportedMediaType",
        422 => "Invalid",
        429 => "TooManyRequests",
        503 => "ServiceUnavailable",
        504 => "Timeout",
        500..=599 => "InternalError",
        _ => "",
    }
}

/// A response with `code` (500 if invalid) and a `Status` body.
fn status_response(
    code: u16,
    message: &str,
    retry_after_seconds: Option<u32>,
) -> Response<ProxyBody> {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = status_json(status.as_u16(), message, retry_after_seconds);
    let mut response = Response::new(ProxyBody::full(body.to_string()));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if let Some(seconds) = retry_after_seconds {
        headers.insert(RETRY_AFTER, HeaderValue::from(seconds));
    }
    response
}

/// A watch answered as kube-apiserver answers one from a compacted resourceVersion: one `ERROR` event with a 410
/// `Expired` Status, then the end of the stream.
fn expired_watch() -> Response<ProxyBody> {
    let event = serde_json::json!({
        "type": "ERROR",
        "object": status_json(410, "too old resource version: injected", None),
    });
    let mut response = Response::new(ProxyBody::full(format!("{event}\n")));
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// Reads a request body whole.
async fn read_all(mut body: Incoming) -> io::Result<Bytes> {
    let mut data = Vec::new();
    while let Some(frame) = next_frame(&mut body).await {
        if let Ok(chunk) = frame.map_err(io::Error::other)?.into_data() {
            data.extend_from_slice(&chunk);
        }
    }
    Ok(Bytes::from(data))
}

async fn next_frame(
    body: &mut Incoming,
) -> Option<std::result::Result<Frame<Bytes>, hyper::Error>> {
    std::future::poll_fn(|cx| Pin::new(&mut *body).poll_frame(cx)).await
}

/// Passes an upstream response body on chunk by chunk, until it ends, the client goes away, or
/// [`FaultProxy::cut_streams`] breaks it with an error (which makes hyper close the client connection mid-body).
fn pump(shared: &Shared, mut body: Incoming) -> ProxyBody {
    if body.is_end_stream() {
        return ProxyBody::Full(None);
    }
    let (tx, rx) = mpsc::channel(16);
    // Subscribing now: only a cut after this point breaks this body.
    let mut cuts = shared.cuts.subscribe();
    spawn_task(&shared.alive, async move {
        loop {
            let frame = tokio::select! {
                frame = next_frame(&mut body) => frame,
                _ = cuts.changed() => {
                    let cut = io::Error::new(io::ErrorKind::ConnectionAborted, "stream cut by the fault proxy");
                    let _ = tx.send(Err(cut)).await;
                    return;
                }
                () = tx.closed() => return,
            };
            let chunk = match frame {
                None => return,
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(chunk) => Ok(chunk),
                    // Trailers: the API server and the dashboard send none.
                    Err(_) => continue,
                },
                Some(Err(e)) => Err(io::Error::other(e)),
            };
            let failed = chunk.is_err();
            if tx.send(chunk).await.is_err() || failed {
                return;
            }
        }
    });
    ProxyBody::Stream(rx)
}

/// The body of every response the proxy sends and every request it forwards.
enum ProxyBody {
    /// A body known whole (`None` once sent, or empty).
    Full(Option<Bytes>),
    /// Chunks from [`pump`]; an `Err` breaks the response.
    Stream(mpsc::Receiver<io::Result<Bytes>>),
}

impl ProxyBody {
    fn full(data: impl Into<Bytes>) -> Self {
        let data = data.into();
        ProxyBody::Full((!data.is_empty()).then_some(data))
    }
}

impl Body for ProxyBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<io::Result<Frame<Bytes>>>> {
        match self.get_mut() {
            ProxyBody::Full(data) => Poll::Ready(data.take().map(|d| Ok(Frame::data(d)))),
            ProxyBody::Stream(rx) => rx.poll_recv(cx).map(|c| c.map(|r| r.map(Frame::data))),
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self, ProxyBody::Full(None))
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            ProxyBody::Full(data) => {
                SizeHint::with_exact(data.as_ref().map_or(0, |d| d.len() as u64))
            }
            ProxyBody::Stream(_) => SizeHint::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_headers_are_dropped() {
        let mut headers = HeaderMap::new();
        headers.insert(
            CONNECTION,
            HeaderValue::from_static("keep-alive, x-private"),
        );
        headers.insert("x-private", HeaderValue::from_static("1"));
        headers.insert("transfer-encoding", HeaderValue::from_static("chunked"));
        headers.insert("user-agent", HeaderValue::from_static("ray-operator"));
        headers.insert("accept", HeaderValue::from_static("application/json"));
        let kept = end_to_end(&headers);
        let names: Vec<&str> = kept.keys().map(|n| n.as_str()).collect();
        assert_eq!(names, ["user-agent", "accept"]);
    }

    #[test]
    fn status_bodies_are_what_the_api_server_sends() {
        let body = status_json(429, "injected by the fault proxy", Some(3));
        assert_eq!(body["reason"], "TooManyRequests");
        assert_eq!(body["code"], 429);
        assert_eq!(body["details"]["retryAfterSeconds"], 3);
        assert_eq!(reason(500), "InternalError");
        assert_eq!(reason(410), "Expired");
        let response = status_response(1000, "x", None);
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }
}
