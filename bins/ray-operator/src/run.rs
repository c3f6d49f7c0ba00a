//! `ray-operator run`: connect to the API server, wait for the ray.io CRDs, run the controllers until SIGTERM or
//! SIGINT, then let running reconciles finish.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use futures::FutureExt;
use kube::api::ListParams;
use kube::{Api, Client};
use ray_api_v1::RayCluster;
use ray_controllers::Expectations;
use ray_controllers::raycluster::{self, Settings, Shutdown};
use ray_controllers::rayjob;
use ray_controllers::rayservice;
use tracing::{error, info, warn};

/// Flags of the `run` command. Every flag can also be set through the environment variable named in `--help`.
#[derive(Debug, Clone, clap::Args)]
pub struct RunArgs {
    /// Namespaces to watch, comma-separated; empty watches all namespaces. With several namespaces the operator
    /// runs one controller (one set of watches) per namespace, so it needs only namespaced RBAC in each.
    #[arg(
        long,
        env = "RAY_OPERATOR_WATCH_NAMESPACE",
        value_delimiter = ',',
        default_value = ""
    )]
    pub watch_namespace: Vec<String>,
    /// How many RayClusters are reconciled at the same time (per watched namespace). One RayCluster is never
    /// reconciled twice at once.
    #[arg(long, env = "RAY_OPERATOR_RECONCILE_CONCURRENCY", default_value_t = 8,
          value_parser = clap::value_parser!(u16).range(1..))]
    pub reconcile_concurrency: u16,
    /// Log format: `text` for people, `json` for log collectors. Every line about a RayCluster carries its
    /// namespace and name. The level is set with RUST_LOG (default `info`).
    #[arg(long, env = "RAY_OPERATOR_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// The cluster's DNS domain, used in the head's address that workers connect to.
    #[arg(long, env = "CLUSTER_DOMAIN", default_value = "cluster.local")]
    pub cluster_domain: String,
    /// This instance's name in Events (`reportingInstance`); set it to the pod name.
    #[arg(long, env = "POD_NAME")]
    pub instance: Option<String>,
    /// Requests per second the operator sends to the API server, on average (a token bucket refilled at this
    /// rate). KubeRay's default.
    #[arg(long, env = "RAY_OPERATOR_KUBE_API_QPS", default_value_t = 100.0)]
    pub kube_api_qps: f64,
    /// Requests the operator may send at once before `--kube-api-qps` applies (the bucket's size). KubeRay's
    /// default.
    #[arg(long, env = "RAY_OPERATOR_KUBE_API_BURST", default_value_t = 200)]
    pub kube_api_burst: u32,
    /// Reach every RayCluster's Ray dashboard at this URL instead of its head Service's DNS name (which only
    /// resolves inside the Kubernetes cluster). For an operator running on your machine against a local cluster,
    /// e.g. `http://127.0.0.1:8265` with `cargo xtask up`; leave unset in a real cluster.
    #[arg(long, env = "RAY_OPERATOR_DASHBOARD_URL_OVERRIDE")]
    pub dashboard_url_override: Option<String>,
    /// Seconds one Ray dashboard request (RayJob submit, status, stop; RayService Serve status and config) may
    /// take before it counts as failed; kept short so a slow head delays only its own RayJob or RayService.
    #[arg(long, env = "RAY_OPERATOR_DASHBOARD_TIMEOUT_SECONDS", default_value_t = 2,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub dashboard_timeout_seconds: u64,
    /// Seconds a RayService's old RayCluster is kept after traffic moved to its new cluster, so requests in flight
    /// finish before it goes away. KubeRay's default.
    #[arg(
        long,
        env = "RAY_OPERATOR_RAYSERVICE_CLUSTER_DELETION_DELAY_SECONDS",
        default_value_t = 60
    )]
    pub rayservice_cluster_deletion_delay_seconds: u64,
    /// Where the HTTPS webhook server listens (`POST /validate`, `POST /convert`), as HOST:PORT, or `off`. The
    /// install manifests use `0.0.0.0:9443`; see docs/webhooks.md.
    #[arg(long, env = "RAY_OPERATOR_WEBHOOK_ADDR", default_value = "off", value_parser = parse_webhook_addr)]
    pub webhook_addr: WebhookAddr,
    /// The webhook server's certificate directory: `tls.crt` and `tls.key` as a kubernetes.io/tls Secret (e.g.
    /// from cert-manager) mounts them, re-read when they change. When neither file exists, a self-signed
    /// certificate for --webhook-dns-names is generated and its CA written to `ca.crt` here.
    #[arg(long, env = "RAY_OPERATOR_WEBHOOK_CERT_DIR", default_value_os_t = default_webhook_cert_dir())]
    pub webhook_cert_dir: std::path::PathBuf,
    /// The names a generated webhook certificate is valid for, comma-separated: DNS names or IP addresses that
    /// the API server uses to reach the webhook. Unused when --webhook-cert-dir holds a certificate.
    #[arg(
        long,
        env = "RAY_OPERATOR_WEBHOOK_DNS_NAMES",
        value_delimiter = ',',
        default_value = "localhost,127.0.0.1"
    )]
    pub webhook_dns_names: Vec<String>,
}

/// `--webhook-addr`: an address to serve the webhooks on, or none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookAddr {
    /// No webhook server (`off`).
    Off,
    /// Serve on this address.
    On(std::net::SocketAddr),
}

fn parse_webhook_addr(text: &str) -> Result<WebhookAddr, String> {
    if text.trim().eq_ignore_ascii_case("off") {
        return Ok(WebhookAddr::Off);
    }
    text.trim().parse().map(WebhookAddr::On).map_err(|_| {
        format!("`{text}` is not HOST:PORT with an IP address (e.g. 0.0.0.0:9443 or 127.0.0.1:9443) or `off`")
    })
}

/// controller-runtime's default certificate directory, so a layout made for kubebuilder operators also works here.
fn default_webhook_cert_dir() -> std::path::PathBuf {
    std::env::temp_dir().join("k8s-webhook-server/serving-certs")
}

/// The log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    use std::io::IsTerminal;
    // Colours only on a terminal: a log file or a collector would get escape codes.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    match format {
        LogFormat::Text => builder.init(),
        // Span fields (the RayCluster's namespace and name) are flattened into every line's "span" object.
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .init(),
    }
}

/// Resolves on the first SIGTERM or SIGINT.
fn shutdown_signal() -> Shutdown {
    async {
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
    }
    .boxed()
    .shared()
}

/// Waits until the RayCluster API is served, saying what to do while it is not.
async fn wait_for_crds(
    client: &Client,
    namespaces: &[Option<String>],
    shutdown: &Shutdown,
) -> bool {
    let mut warned = false;
    loop {
        let mut missing = None;
        for ns in namespaces {
            let api: Api<RayCluster> = match ns {
                Some(ns) => Api::namespaced(client.clone(), ns),
                None => Api::all(client.clone()),
            };
            if let Err(error) = api.list(&ListParams::default().limit(1)).await {
                missing = Some(error);
                break;
            }
        }
        match missing {
            None => return true,
            Some(kube::Error::Api(status)) if status.is_not_found() => {
                if !warned {
                    error!(
                        "the ray.io CRDs are not installed (rayclusters.ray.io is not served). Install them with \
                         `kubectl apply --server-side -f config/crd/` or `ray-operator crd | kubectl apply \
                         --server-side -f -`; waiting for them"
                    );
                    warned = true;
                }
            }
            Some(error) => warn!(%error, "cannot list RayClusters yet; retrying"),
        }
        if tokio::time::timeout(Duration::from_secs(5), shutdown.clone())
            .await
            .is_ok()
        {
            return false;
        }
    }
}

/// Runs the operator until a shutdown signal.
pub fn run(args: RunArgs) -> anyhow::Result<()> {
    init_logging(args.log_format);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(run_async(args))
}

async fn run_async(args: RunArgs) -> anyhow::Result<()> {
    let rate_limit = ray_controllers::RateLimitLayer::new(args.kube_api_qps, args.kube_api_burst)?;
    let config = kube::Config::infer().await.context(
        "finding the Kubernetes API server (in a pod: its service account; elsewhere: KUBECONFIG or \
         ~/.kube/config)",
    )?;
    let client: Client = kube::client::ClientBuilder::try_from(config)
        .context("setting up the Kubernetes client")?
        .with_layer(&rate_limit)
        .build();
    let namespaces: Vec<Option<String>> = {
        let named: Vec<String> = args
            .watch_namespace
            .iter()
            .map(|n| n.trim().to_string())
            .filter(|n| !n.is_empty())
            .collect();
        if named.is_empty() {
            vec![None]
        } else {
            named.into_iter().map(Some).collect()
        }
    };
    info!(version = env!("CARGO_PKG_VERSION"), namespaces = ?namespaces, "ray-operator starting");
    let shutdown = shutdown_signal();
    // The webhooks serve before the CRDs exist (the API server needs the conversion webhook to serve the CRDs), and on
    // every replica, leader or not: the API server calls whichever pod its Service picks.
    let webhook = match args.webhook_addr {
        WebhookAddr::Off => None,
        WebhookAddr::On(addr) => {
            let config = ray_webhook::WebhookConfig {
                dns_names: args.webhook_dns_names.clone(),
                ..ray_webhook::WebhookConfig::new(addr, args.webhook_cert_dir.clone())
            };
            let server = ray_webhook::WebhookServer::bind(config)
                .await
                .context("starting the webhook server")?;
            Some(tokio::spawn(server.serve(shutdown.clone())))
        }
    };
    if !wait_for_crds(&client, &namespaces, &shutdown).await {
        info!("stopped before the CRDs appeared");
        if let Some(webhook) = webhook {
            let _ = webhook.await;
        }
        return Ok(());
    }
    let render = ray_builders::RenderOptions {
        cluster_domain: args.cluster_domain.clone(),
        ..ray_builders::RenderOptions::default()
    };
    let expectations = Arc::new(Expectations::default());
    let job_controllers = namespaces.clone().into_iter().map(|namespace| {
        rayjob::controller::run(
            client.clone(),
            rayjob::controller::Settings {
                namespace,
                concurrency: args.reconcile_concurrency,
                render: render.clone(),
                instance: args.instance.clone(),
                dashboard_url_override: args.dashboard_url_override.clone(),
                dashboard_timeout: Duration::from_secs(args.dashboard_timeout_seconds),
            },
            shutdown.clone(),
        )
    });
    let service_controllers = namespaces.clone().into_iter().map(|namespace| {
        rayservice::controller::run(
            client.clone(),
            rayservice::controller::Settings {
                namespace,
                concurrency: args.reconcile_concurrency,
                render: render.clone(),
                instance: args.instance.clone(),
                dashboard_url_override: args.dashboard_url_override.clone(),
                dashboard_timeout: Duration::from_secs(args.dashboard_timeout_seconds),
                deletion_delay: Duration::from_secs(args.rayservice_cluster_deletion_delay_seconds),
            },
            shutdown.clone(),
        )
    });
    let controllers = namespaces.into_iter().map(|namespace| {
        raycluster::run(
            client.clone(),
            Settings {
                namespace,
                concurrency: args.reconcile_concurrency,
                render: render.clone(),
                instance: args.instance.clone(),
            },
            expectations.clone(),
            shutdown.clone(),
        )
    });
    futures::future::join3(
        futures::future::join_all(controllers),
        futures::future::join_all(job_controllers),
        futures::future::join_all(service_controllers),
    )
    .await;
    if let Some(webhook) = webhook {
        let _ = webhook.await;
    }
    info!("ray-operator stopped");
    Ok(())
}
