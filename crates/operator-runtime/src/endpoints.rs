//! The operator's plain-HTTP endpoints: `/metrics` on `--metrics-addr`, `/readyz` and `/livez` on
//! `--health-addr` (see docs/metrics.md and docs/operator.md for what they answer).

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::health::{Health, Liveness, liveness};
use crate::metrics::{CONTENT_TYPE, Metrics};
use crate::shutdown::Shutdown;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use kube::Client;
use tracing::{info, warn};

/// How long `/livez` waits for the API server when deciding whether a stalled watch is the operator's fault.
const API_SERVER_PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// Serves `GET /metrics` until `shutdown`.
pub async fn serve_metrics(
    listener: tokio::net::TcpListener,
    metrics: Arc<Metrics>,
    shutdown: Shutdown,
) {
    let app = Router::new()
        .route(
            "/metrics",
            get(|State(metrics): State<Arc<Metrics>>| async move {
                ([(header::CONTENT_TYPE, CONTENT_TYPE)], metrics.encode())
            }),
        )
        .with_state(metrics);
    if let Err(error) = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
    {
        warn!(%error, "the metrics server stopped");
    }
}

#[derive(Clone)]
struct HealthState {
    health: Arc<Health>,
    client: Client,
    deadline: Duration,
}

async fn readyz(State(state): State<HealthState>) -> impl IntoResponse {
    match state.health.readiness() {
        Ok(what) => (StatusCode::OK, format!("ok: {what}\n")),
        Err(why) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {why}\n"),
        ),
    }
}

async fn livez(State(state): State<HealthState>) -> impl IntoResponse {
    let stalled = state.health.watches.stalled(Instant::now(), state.deadline);
    let probe = async {
        matches!(
            tokio::time::timeout(API_SERVER_PROBE_TIMEOUT, state.client.apiserver_version()).await,
            Ok(Ok(_))
        )
    };
    let describe = |stalled: &[(String, Duration)]| {
        stalled
            .iter()
            .map(|(watch, age)| format!("{watch} (no progress for {} s)", age.as_secs()))
            .collect::<Vec<_>>()
            .join("; ")
    };
    match liveness(stalled, probe).await {
        Liveness::Live => (
            StatusCode::OK,
            format!(
                "ok: {} watches making progress\n",
                state.health.watches.len()
            ),
        ),
        Liveness::ApiServerUnreachable(stalled) => (
            StatusCode::OK,
            format!(
                "ok: watches stalled but the API server does not answer either, so restarting would not help: {}\n",
                describe(&stalled)
            ),
        ),
        Liveness::Stalled(stalled) => {
            warn!(watches = %describe(&stalled), "watches stalled while the API server answers; failing /livez");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                format!(
                    "watches stalled while the API server answers: {}\n",
                    describe(&stalled)
                ),
            )
        }
    }
}

/// Serves `GET /readyz` and `GET /livez` (and `/healthz`, KubeRay's name, as liveness) until `shutdown`.
pub async fn serve_health(
    listener: tokio::net::TcpListener,
    health: Arc<Health>,
    client: Client,
    deadline: Duration,
    shutdown: Shutdown,
) {
    let app = Router::new()
        .route("/readyz", get(readyz))
        .route("/livez", get(livez))
        .route("/healthz", get(livez))
        .with_state(HealthState {
            health,
            client,
            deadline,
        });
    if let Err(error) = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
    {
        warn!(%error, "the health server stopped");
    }
    info!("the health server stopped");
}
