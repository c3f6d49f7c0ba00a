//! The HTTPS server: axum routes, served by hyper on rustls connections, with the certificate reloaded in the
//! background and a graceful stop.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::DefaultBodyLimit;
use axum::http::{StatusCode, header};
use axum::response::Response;
use axum::routing::post;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tracing::{debug, info, warn};

use crate::certs::{CertError, Certificates, Origin, Reload};
use crate::{MAX_ADMISSION_BODY_BYTES, MAX_BODY_BYTES, MalformedReview, admission, conversion};

/// How long a client may take to complete the TLS handshake before the connection is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a stop waits for requests in flight.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// How to run the webhook server.
#[derive(Clone, Debug)]
pub struct WebhookConfig {
    /// The address to listen on (`0.0.0.0:9443` in a pod; port 0 picks a free port).
    pub addr: SocketAddr,
    /// The certificate directory (`tls.crt`, `tls.key`), see [`crate::certs`].
    pub cert_dir: PathBuf,
    /// The names a generated certificate is valid for: the webhook Service's DNS names in a cluster
    /// (`<service>.<namespace>.svc`), `localhost`/`127.0.0.1` for local runs. Unused when the directory holds a
    /// certificate.
    pub dns_names: Vec<String>,
    /// How often the certificate directory is checked for a rotated certificate.
    pub reload_interval: Duration,
}

impl WebhookConfig {
    /// Listens on `addr` with certificates from `cert_dir`, generated ones valid for `localhost` and `127.0.0.1`,
    /// checked for rotation every 5 seconds.
    pub fn new(addr: SocketAddr, cert_dir: PathBuf) -> Self {
        Self {
            addr,
            cert_dir,
            dns_names: vec!["localhost".into(), "127.0.0.1".into()],
            reload_interval: Duration::from_secs(5),
        }
    }
}

/// Why the webhook server could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WebhookError {
    /// The address could not be bound.
    #[error(
        "cannot listen on {addr} (--webhook-addr): {source}; pick a free port, or `off` to run without webhooks"
    )]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// What the system reported.
        #[source]
        source: std::io::Error,
    },
    /// The certificate could not be loaded or generated.
    #[error(transparent)]
    Certificate(#[from] CertError),
    /// rustls refused the configuration (not expected with the built-in crypto provider).
    #[error("setting up TLS: {0}")]
    Tls(String),
}

/// A bound webhook server with its certificate loaded, ready to [`serve`](Self::serve).
///
/// Binding and loading happen before serving so that a wrong address or certificate stops the operator at start-up
/// with a message, instead of the webhooks failing later.
pub struct WebhookServer {
    listener: TcpListener,
    acceptor: TlsAcceptor,
    local_addr: SocketAddr,
    certificates: Arc<Certificates>,
    origin: Origin,
    reload_interval: Duration,
}

impl std::fmt::Debug for WebhookServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookServer")
            .field("local_addr", &self.local_addr)
            .field("certificates", &self.certificates)
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

impl WebhookServer {
    /// Loads (or generates) the certificate and binds the address.
    ///
    /// # Errors
    ///
    /// [`WebhookError::Certificate`] for a certificate directory that cannot be used, [`WebhookError::Bind`] for an
    /// address that cannot be bound.
    pub async fn bind(config: WebhookConfig) -> Result<Self, WebhookError> {
        let (certificates, origin) = {
            let dir = config.cert_dir.clone();
            let names = config.dns_names.clone();
            tokio::task::spawn_blocking(move || Certificates::load(&dir, &names))
                .await
                .map_err(|e| WebhookError::Tls(format!("loading the certificate: {e}")))??
        };
        let acceptor = TlsAcceptor::from(Arc::new(tls_config(certificates.clone())?));
        let listener =
            TcpListener::bind(config.addr)
                .await
                .map_err(|source| WebhookError::Bind {
                    addr: config.addr,
                    source,
                })?;
        let local_addr = listener.local_addr().map_err(|source| WebhookError::Bind {
            addr: config.addr,
            source,
        })?;
        match &origin {
            Origin::Files => info!(
                cert_dir = %certificates.dir().display(),
                "webhook certificate loaded from tls.crt and tls.key"
            ),
            Origin::Generated { .. } => info!(
                ca = %certificates.dir().join(crate::CA_FILE).display(),
                names = ?config.dns_names,
                "no tls.crt/tls.key in the webhook certificate directory: generated a self-signed certificate; \
                 register the webhooks with this CA as caBundle"
            ),
        }
        Ok(Self {
            listener,
            acceptor,
            local_addr,
            certificates,
            origin,
            reload_interval: config.reload_interval,
        })
    }

    /// The address the server listens on (with the actual port when port 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The CA of a generated certificate (PEM), the `caBundle` to register; `None` when the certificate came from
    /// files.
    pub fn generated_ca(&self) -> Option<&str> {
        match &self.origin {
            Origin::Generated { ca_pem } => Some(ca_pem),
            Origin::Files => None,
        }
    }

    /// Serves `POST /validate` and `POST /convert` until `shutdown` resolves, then lets requests in flight finish
    /// (for a few seconds at most).
    pub async fn serve(self, shutdown: impl Future<Output = ()> + Send) {
        let acceptor = self.acceptor;
        let router = router();
        let reloader = tokio::spawn(watch_certificates(
            self.certificates.clone(),
            self.reload_interval,
        ));
        let graceful = GracefulShutdown::new();
        info!(addr = %self.local_addr, "webhook server listening (HTTPS: POST /validate, POST /convert)");
        tokio::pin!(shutdown);
        loop {
            let (tcp, peer) = tokio::select! {
                accepted = self.listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        // Out of file descriptors and the like: wait instead of spinning.
                        warn!(%error, "webhook server: accepting a connection failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                },
                () = &mut shutdown => break,
            };
            let acceptor = acceptor.clone();
            let router = router.clone();
            let watcher = graceful.watcher();
            tokio::spawn(async move {
                let stream =
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                        Ok(Ok(stream)) => stream,
                        Ok(Err(error)) => {
                            debug!(%peer, %error, "webhook server: TLS handshake failed");
                            return;
                        }
                        Err(_) => {
                            debug!(%peer, "webhook server: TLS handshake timed out");
                            return;
                        }
                    };
                let mut builder = auto::Builder::new(TokioExecutor::new());
                builder.http1().timer(TokioTimer::new());
                let connection = builder
                    .serve_connection(TokioIo::new(stream), TowerToHyperService::new(router));
                if let Err(error) = watcher.watch(connection).await {
                    debug!(%peer, %error, "webhook server: connection ended with an error");
                }
            });
        }
        reloader.abort();
        drop(self.listener);
        if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown())
            .await
            .is_err()
        {
            warn!(
                "webhook server: requests still running after {DRAIN_TIMEOUT:?}; stopping anyway"
            );
        }
        info!("webhook server stopped");
    }
}

/// TLS 1.2 and 1.3 with the ring provider (the one kube uses), the certificate from `certificates`, HTTP/2 and
/// HTTP/1.1 by ALPN.
fn tls_config(certificates: Arc<Certificates>) -> Result<ServerConfig, WebhookError> {
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| WebhookError::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_cert_resolver(certificates);
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// Checks the certificate directory every `interval` and logs what changed.
async fn watch_certificates(certificates: Arc<Certificates>, interval: Duration) {
    loop {
        tokio::time::sleep(interval).await;
        let checked = certificates.clone();
        match tokio::task::spawn_blocking(move || checked.reload()).await {
            Ok(Reload::Unchanged) => {}
            Ok(Reload::Reloaded) => info!(
                cert_dir = %certificates.dir().display(),
                "webhook certificate reloaded; new connections use it"
            ),
            Ok(Reload::Rejected(reason)) => warn!(
                cert_dir = %certificates.dir().display(),
                %reason,
                "the webhook certificate changed but cannot be used; still serving the previous one"
            ),
            Err(error) => warn!(%error, "checking the webhook certificate failed"),
        }
    }
}

/// The routes, without TLS: `POST /validate` (bodies up to [`MAX_ADMISSION_BODY_BYTES`]) and `POST /convert` (up
/// to [`MAX_BODY_BYTES`]).
pub(crate) fn router() -> Router {
    Router::new()
        .route(crate::VALIDATE_PATH, post(validate))
        .route(crate::CONVERT_PATH, post(convert))
        // Each handler enforces its own limit, with a message that says which.
        .layer(DefaultBodyLimit::disable())
}

async fn validate(body: Body) -> Response {
    match read_body(body, MAX_ADMISSION_BODY_BYTES, "AdmissionReview").await {
        Ok(body) => {
            answer(move || admission::review(&body).map(|review| serde_json::to_vec(&review))).await
        }
        Err(refused) => refused,
    }
}

async fn convert(body: Body) -> Response {
    match read_body(body, MAX_BODY_BYTES, "ConversionReview").await {
        Ok(body) => {
            answer(move || conversion::review(&body).map(|review| serde_json::to_vec(&review)))
                .await
        }
        Err(refused) => refused,
    }
}

/// Reads at most `limit` bytes of a request body; a larger body is answered with 413 and the limit, without
/// reading the rest into memory.
async fn read_body(body: Body, limit: usize, what: &str) -> Result<Bytes, Response> {
    axum::body::to_bytes(body, limit).await.map_err(|error| {
        debug!(%error, limit, "webhook server: request body refused");
        response(
            StatusCode::PAYLOAD_TOO_LARGE,
            "text/plain; charset=utf-8",
            format!(
                "the {what} is larger than {limit} bytes, the most this webhook reads; refused unread\n"
            )
            .into_bytes(),
        )
    })
}

/// Runs a review off the async threads (a large list conversion is CPU work) and turns it into a response: the
/// review as JSON, 400 with the reason for a malformed request, 500 if something unexpected happened.
async fn answer<F>(work: F) -> Response
where
    F: FnOnce() -> Result<serde_json::Result<Vec<u8>>, MalformedReview> + Send + 'static,
{
    match tokio::task::spawn_blocking(work).await {
        Ok(Ok(Ok(json))) => response(StatusCode::OK, "application/json", json),
        Ok(Err(malformed)) => {
            debug!(reason = %malformed, "webhook server: malformed review");
            response(
                StatusCode::BAD_REQUEST,
                "text/plain; charset=utf-8",
                format!("{malformed}\n").into_bytes(),
            )
        }
        Ok(Ok(Err(error))) => internal(&format!("serializing the review: {error}")),
        Err(error) => internal(&format!("the review task failed: {error}")),
    }
}

fn internal(reason: &str) -> Response {
    warn!(reason, "webhook server: internal error");
    response(
        StatusCode::INTERNAL_SERVER_ERROR,
        "text/plain; charset=utf-8",
        format!("internal error: {reason}\n").into_bytes(),
    )
}

fn response(status: StatusCode, content_type: &'static str, body: Vec<u8>) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(content_type),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::Request;
    use tower::ServiceExt;

    async fn post(path: &str, body: impl AsRef<[u8]>) -> (StatusCode, String) {
        let response = router()
            .oneshot(
                Request::post(path)
                    .body(Body::from(body.as_ref().to_vec()))
                    .expect("request"),
            )
            .await
            .expect("infallible");
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("body");
        (status, String::from_utf8_lossy(&bytes).into_owned())
    }

    #[tokio::test]
    async fn malformed_bodies_get_400_with_the_reason() {
        let (status, text) = post("/validate", b"{\"kind\":").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(
            text.contains("not an admission.k8s.io/v1 AdmissionReview"),
            "{text}"
        );
        let (status, text) = post("/convert", b"[]").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(text.contains("ConversionReview"), "{text}");
    }

    #[tokio::test]
    async fn a_review_is_answered_as_json() {
        let (status, text) = post(
            "/convert",
            br#"{"apiVersion":"apiextensions.k8s.io/v1","kind":"ConversionReview",
                 "request":{"uid":"u","desiredAPIVersion":"ray.io/v1","objects":[]}}"#,
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        let review: serde_json::Value = serde_json::from_str(&text).expect("json");
        assert_eq!(review["kind"], "ConversionReview");
        assert_eq!(review["response"]["uid"], "u");
        assert_eq!(review["response"]["result"]["status"], "Success");
    }

    #[tokio::test]
    async fn bodies_over_the_limit_get_413_naming_the_limit() {
        let (status, text) = post("/validate", vec![b' '; MAX_ADMISSION_BODY_BYTES + 1]).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        assert!(
            text.contains("AdmissionReview")
                && text.contains(&MAX_ADMISSION_BODY_BYTES.to_string()),
            "{text}"
        );
        // At the limit the body is read (and, being no review, refused as malformed).
        let (status, _) = post("/validate", vec![b' '; MAX_ADMISSION_BODY_BYTES]).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let (status, text) = post("/convert", vec![b' '; MAX_BODY_BYTES + 1]).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        assert!(text.contains("ConversionReview"), "{text}");
    }

    #[tokio::test]
    async fn other_paths_and_methods_are_refused() {
        let (status, _) = post("/mutate", b"{}").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let response = router()
            .oneshot(
                Request::get("/validate")
                    .body(Body::empty())
                    .expect("request"),
            )
            .await
            .expect("infallible");
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    }
}
