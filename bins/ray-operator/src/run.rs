//! `ray-operator run`: connect to the API server, wait for the ray.io CRDs, run the controllers until SIGTERM or
//! SIGINT, then let running reconciles finish.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use kube::api::ListParams;
use kube::{Api, Client};
use operator_runtime::{Shutdown, endpoints, leader};
use ray_api_v1::RayCluster;
use ray_controllers::context::{ControllerSettings, DashboardSettings};
use ray_controllers::raycluster;
use ray_controllers::raycronjob;
use ray_controllers::rayjob;
use ray_controllers::rayservice;
use ray_controllers::{Expectations, SystemClock, Telemetry};

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
    /// How many objects of one kind (RayClusters, RayJobs, ...) are reconciled at the same time, per watched
    /// namespace. One object is never reconciled twice at once.
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
    /// Requests per second the operator sends to the API server for one resource type (pods, services,
    /// rayclusters, ...), on average: one token bucket per type, refilled at this rate, as KubeRay's --qps is.
    /// KubeRay's default.
    #[arg(long, env = "RAY_OPERATOR_KUBE_API_QPS", default_value_t = 100.0)]
    pub kube_api_qps: f64,
    /// Requests the operator may send at once before `--kube-api-qps` applies (the bucket's size). KubeRay's
    /// default.
    #[arg(long, env = "RAY_OPERATOR_KUBE_API_BURST", default_value_t = 200)]
    pub kube_api_burst: u32,
    /// Events per second the operator writes, on average, through a token bucket of their own: Events never take
    /// a --kube-api-qps token from a pod create, and never delay a reconcile (they are queued and written in the
    /// background).
    #[arg(long, env = "RAY_OPERATOR_KUBE_API_EVENTS_QPS", default_value_t = 20.0)]
    pub kube_api_events_qps: f64,
    /// Events the operator may write at once before --kube-api-events-qps applies (the Events bucket's size).
    #[arg(long, env = "RAY_OPERATOR_KUBE_API_EVENTS_BURST", default_value_t = 50)]
    pub kube_api_events_burst: u32,
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
    /// Where to serve Prometheus metrics (`GET /metrics`, plain HTTP): `host:port`, `:port` for every
    /// interface, or `off`.
    #[arg(
        long,
        env = "RAY_OPERATOR_METRICS_ADDR",
        default_value = "127.0.0.1:8080"
    )]
    pub metrics_addr: BindAddress,
    /// Where to serve the health probes (`GET /readyz`, `GET /livez`, plain HTTP): `host:port`, `:port` for
    /// every interface, or `off`.
    #[arg(
        long,
        env = "RAY_OPERATOR_HEALTH_ADDR",
        default_value = "127.0.0.1:8082"
    )]
    pub health_addr: BindAddress,
    /// `/livez` fails when a watch has made no progress (no event, bookmark or re-open) for this many seconds
    /// while the API server answers. Longer than the API server's 290 s watch timeout.
    #[arg(long, env = "RAY_OPERATOR_WATCH_PROGRESS_DEADLINE_SECONDS", default_value_t = 360,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub watch_progress_deadline_seconds: u64,
    /// Run the controllers only while this instance holds the leader Lease, so several replicas can run.
    #[arg(long, env = "RAY_OPERATOR_LEADER_ELECT", default_value_t = false)]
    pub leader_elect: bool,
    /// The leader Lease's namespace. Default: `$POD_NAMESPACE`, else the namespace of the pod's service
    /// account, else `default`.
    #[arg(long, env = "RAY_OPERATOR_LEADER_ELECTION_NAMESPACE")]
    pub leader_election_namespace: Option<String>,
    /// The leader Lease's name. Replicas with the same name and namespace elect one leader.
    #[arg(long, env = "RAY_OPERATOR_LEADER_ELECTION_ID", default_value = operator_runtime::leader::DEFAULT_LEASE_NAME)]
    pub leader_election_id: String,
    /// How long a Lease that the leader stopped renewing stays valid; a standby takes over after this.
    #[arg(
        long,
        env = "RAY_OPERATOR_LEADER_ELECTION_LEASE_DURATION_SECONDS",
        default_value_t = 15
    )]
    pub leader_election_lease_duration_seconds: u64,
    /// How long the leader keeps failing to renew before it stops its controllers and becomes a standby.
    #[arg(
        long,
        env = "RAY_OPERATOR_LEADER_ELECTION_RENEW_DEADLINE_SECONDS",
        default_value_t = 10
    )]
    pub leader_election_renew_deadline_seconds: u64,
    /// How often a standby tries to take the Lease and the leader renews it.
    #[arg(
        long,
        env = "RAY_OPERATOR_LEADER_ELECTION_RETRY_PERIOD_SECONDS",
        default_value_t = 2
    )]
    pub leader_election_retry_period_seconds: u64,
    /// Add KubeRay's liveness and readiness probes to Ray containers that have none (KubeRay's
    /// `ENABLE_PROBES_INJECTION`).
    #[arg(long, env = "ENABLE_PROBES_INJECTION", default_value = "true", action = clap::ArgAction::Set,
          value_parser = clap::builder::BoolishValueParser::new())]
    pub enable_probes_injection: bool,
    /// Add the `wait-gcs-ready` init container to worker pods, so workers start after the head's GCS answers
    /// (KubeRay's `ENABLE_INIT_CONTAINER_INJECTION`).
    #[arg(long, env = "ENABLE_INIT_CONTAINER_INJECTION", default_value = "true", action = clap::ArgAction::Set,
          value_parser = clap::builder::BoolishValueParser::new())]
    pub enable_init_container_injection: bool,
    /// Give head Services a cluster IP instead of making them headless (KubeRay's
    /// `ENABLE_RAY_HEAD_CLUSTER_IP_SERVICE`). A headless head Service resolves to the head pod even before it
    /// is ready, which workers need to join.
    #[arg(long, env = "ENABLE_RAY_HEAD_CLUSTER_IP_SERVICE", default_value = "false", action = clap::ArgAction::Set,
          value_parser = clap::builder::BoolishValueParser::new())]
    pub head_service_cluster_ip: bool,
}

/// Where a server listens: an address, or nowhere (`off`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BindAddress(pub Option<SocketAddr>);

impl std::str::FromStr for BindAddress {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        let value = value.trim();
        if value.eq_ignore_ascii_case("off") {
            return Ok(BindAddress(None));
        }
        let full = match value.strip_prefix(':') {
            Some(port) => format!("0.0.0.0:{port}"),
            None => value.to_string(),
        };
        full.parse::<SocketAddr>().map(|a| BindAddress(Some(a))).map_err(|_| {
            format!(
                "`{value}` is not an address to listen on: use IP:port (127.0.0.1:8080, [::1]:8080), :port for \
                 every interface, or off"
            )
        })
    }
}

impl std::fmt::Display for BindAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(address) => write!(f, "{address}"),
            None => f.write_str("off"),
        }
    }
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

/// The Events client's token bucket, from `--kube-api-events-qps` and `--kube-api-events-burst`.
fn events_rate_limit(args: &RunArgs) -> anyhow::Result<operator_runtime::RateLimitLayer> {
    use operator_runtime::rate_limit::RateLimitError;
    operator_runtime::RateLimitLayer::new(args.kube_api_events_qps, args.kube_api_events_burst)
        .map_err(|error| match error {
            RateLimitError::Qps(qps) => anyhow::anyhow!(
                "--kube-api-events-qps must be a positive number of Events per second, got {qps}"
            ),
            RateLimitError::Burst => anyhow::anyhow!("--kube-api-events-burst must be at least 1"),
        })
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

/// The User-Agent of every request to the API server: what its audit log groups our requests by.
const USER_AGENT: &str = concat!("ray-operator-rs/", env!("CARGO_PKG_VERSION"));

/// The namespace of this pod's service account, when running in a pod.
const IN_CLUSTER_NAMESPACE_FILE: &str = "/var/run/secrets/kubernetes.io/serviceaccount/namespace";

fn leader_election_namespace(flag: Option<&str>) -> String {
    if let Some(ns) = flag.map(str::trim).filter(|ns| !ns.is_empty()) {
        return ns.to_string();
    }
    if let Some(ns) = std::env::var("POD_NAMESPACE")
        .ok()
        .map(|ns| ns.trim().to_string())
        .filter(|ns| !ns.is_empty())
    {
        return ns;
    }
    std::fs::read_to_string(IN_CLUSTER_NAMESPACE_FILE)
        .ok()
        .map(|ns| ns.trim().to_string())
        .filter(|ns| !ns.is_empty())
        .unwrap_or_else(|| "default".to_string())
}

fn lease_settings(args: &RunArgs) -> anyhow::Result<Option<leader::LeaseSettings>> {
    if !args.leader_elect {
        return Ok(None);
    }
    let base = args
        .instance
        .clone()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| "ray-operator".to_string());
    let settings = leader::LeaseSettings {
        namespace: leader_election_namespace(args.leader_election_namespace.as_deref()),
        name: args.leader_election_id.clone(),
        identity: leader::identity(&base),
        lease_duration: Duration::from_secs(args.leader_election_lease_duration_seconds),
        renew_deadline: Duration::from_secs(args.leader_election_renew_deadline_seconds),
        retry_period: Duration::from_secs(args.leader_election_retry_period_seconds),
        field_manager: ray_controllers::context::FIELD_MANAGER.to_string(),
    };
    settings.validate()?;
    Ok(Some(settings))
}

/// Binds a server's address before anything else happens, so a taken port fails the start naming the flag.
async fn bind(flag: &str, address: BindAddress) -> anyhow::Result<Option<tokio::net::TcpListener>> {
    let Some(address) = address.0 else {
        return Ok(None);
    };
    tokio::net::TcpListener::bind(address)
        .await
        .map(Some)
        .with_context(|| {
            format!("{flag} {address}: cannot listen there; choose another address or `off`")
        })
}

/// Everything the controllers of one term (one stretch of leadership) need.
struct Controllers {
    client: Client,
    namespaces: Vec<Option<String>>,
    /// Those of every controller; `namespace` is set per watched namespace.
    common: ControllerSettings,
    dashboard: DashboardSettings,
    rayservice_deletion_delay: Duration,
}

impl Controllers {
    /// The common settings of the controllers of `namespace`.
    fn of(&self, namespace: Option<String>) -> ControllerSettings {
        ControllerSettings {
            namespace,
            ..self.common.clone()
        }
    }
}

/// Runs every controller until `shutdown`, with fresh caches and expectations.
async fn run_controllers(settings: &Controllers, shutdown: Shutdown) {
    let expectations = Arc::new(Expectations::default());
    let job_controllers = settings.namespaces.iter().cloned().map(|namespace| {
        let job_settings = rayjob::Settings {
            controller: settings.of(namespace),
            dashboard: settings.dashboard.clone(),
            clock: Arc::new(SystemClock),
        };
        rayjob::run(settings.client.clone(), job_settings, shutdown.clone())
    });
    let service_controllers = settings.namespaces.iter().cloned().map(|namespace| {
        let service_settings = rayservice::Settings {
            controller: settings.of(namespace),
            dashboard: settings.dashboard.clone(),
            deletion_delay: settings.rayservice_deletion_delay,
            clock: Arc::new(SystemClock),
        };
        rayservice::run(settings.client.clone(), service_settings, shutdown.clone())
    });
    let cron_job_controllers = settings.namespaces.iter().cloned().map(|namespace| {
        let cron_job_settings = raycronjob::Settings {
            controller: settings.of(namespace),
            clock: Arc::new(SystemClock),
        };
        raycronjob::run(settings.client.clone(), cron_job_settings, shutdown.clone())
    });
    let controllers = settings.namespaces.iter().cloned().map(|namespace| {
        raycluster::run(
            settings.client.clone(),
            settings.of(namespace),
            expectations.clone(),
            shutdown.clone(),
        )
    });
    futures::future::join4(
        futures::future::join_all(controllers),
        futures::future::join_all(job_controllers),
        futures::future::join_all(service_controllers),
        futures::future::join_all(cron_job_controllers),
    )
    .await;
}

async fn run_async(args: RunArgs) -> anyhow::Result<()> {
    // Every flag is checked before anything is contacted or bound.
    let rate_limit = operator_runtime::RateLimitLayer::new(args.kube_api_qps, args.kube_api_burst)?;
    let events_rate_limit = events_rate_limit(&args)?;
    let lease = lease_settings(&args)?;
    let metrics_listener = bind("--metrics-addr", args.metrics_addr).await?;
    let health_listener = bind("--health-addr", args.health_addr).await?;
    let mut telemetry = Telemetry::default();
    let mut config = kube::Config::infer().await.context(
        "finding the Kubernetes API server (in a pod: its service account; elsewhere: KUBECONFIG or \
         ~/.kube/config)",
    )?;
    // kube sends no User-Agent; naming ourselves lets the API server's audit log tell our requests apart.
    config.headers.push((
        axum::http::header::USER_AGENT,
        axum::http::HeaderValue::from_static(USER_AGENT),
    ));
    // Events go through a client of their own: the same server and request metrics, their own token bucket.
    let events_client: Client = kube::client::ClientBuilder::try_from(config.clone())
        .context("setting up the Kubernetes client for Events")?
        .with_layer(&operator_runtime::ApiRequestLayer::new(
            telemetry.metrics.clone(),
            telemetry.health.clone(),
        ))
        .with_layer(&events_rate_limit)
        .build();
    let events = operator_runtime::EventPublisher::with_settings(
        &events_client,
        ray_controllers::context::FIELD_MANAGER,
        args.instance.clone(),
        operator_runtime::events::EventSettings::default(),
        telemetry.metrics.clone(),
    );
    telemetry.events = Some(events.clone());
    let client: Client = kube::client::ClientBuilder::try_from(config)
        .context("setting up the Kubernetes client")?
        .with_layer(&operator_runtime::ApiRequestLayer::new(
            telemetry.metrics.clone(),
            telemetry.health.clone(),
        ))
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
    let shutdown = operator_runtime::shutdown::signal();
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
    let mut servers = Vec::new();
    if let Some(listener) = metrics_listener {
        info!(address = %args.metrics_addr, "serving /metrics");
        servers.push(tokio::spawn(endpoints::serve_metrics(
            listener,
            telemetry.metrics.clone(),
            shutdown.clone(),
        )));
    }
    if let Some(listener) = health_listener {
        info!(address = %args.health_addr, "serving /readyz and /livez");
        servers.push(tokio::spawn(endpoints::serve_health(
            listener,
            telemetry.health.clone(),
            client.clone(),
            Duration::from_secs(args.watch_progress_deadline_seconds),
            shutdown.clone(),
        )));
    }
    if !wait_for_crds(&client, &namespaces, &shutdown).await {
        info!("stopped before the CRDs appeared");
        if let Some(webhook) = webhook {
            let _ = webhook.await;
        }
        return Ok(());
    }
    let settings = Controllers {
        client: client.clone(),
        namespaces,
        common: ControllerSettings {
            namespace: None,
            concurrency: args.reconcile_concurrency,
            render: ray_builders::RenderOptions {
                cluster_domain: args.cluster_domain.clone(),
                inject_probes: args.enable_probes_injection,
                inject_wait_gcs_ready: args.enable_init_container_injection,
                head_service_cluster_ip: args.head_service_cluster_ip,
                ..ray_builders::RenderOptions::default()
            },
            instance: args.instance.clone(),
            telemetry: telemetry.clone(),
        },
        dashboard: DashboardSettings {
            url_override: args.dashboard_url_override.clone(),
            timeout: Duration::from_secs(args.dashboard_timeout_seconds),
        },
        rayservice_deletion_delay: Duration::from_secs(
            args.rayservice_cluster_deletion_delay_seconds,
        ),
    };
    let (metrics, health) = (&telemetry.metrics, &telemetry.health);
    match lease {
        Some(lease) => {
            let elector = leader::Elector::new(client, lease);
            let controllers = |term| run_controllers(&settings, term);
            leader::lead_when_elected(elector, metrics, health, controllers, shutdown).await;
        }
        None => leader::lead_alone(metrics, health, run_controllers(&settings, shutdown)).await,
    }
    // The controllers have stopped: write the Events still queued, for a bounded time.
    events.close().await;
    if let Some(webhook) = webhook {
        let _ = webhook.await;
    }
    for server in servers {
        let _ = server.await;
    }
    info!("ray-operator stopped");
    Ok(())
}
