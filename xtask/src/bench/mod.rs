//! `cargo xtask bench scale`: the operator under thousands of pods on a local control plane (kwok runs the pods),
//! measured from outside: convergence time against a plain-client floor, memory and CPU from /proc, API requests
//! from the API server's audit log, writes at steady state, and fairness between a big and a small scale-up; with
//! `--compare kuberay` the same for KubeRay's operator. See docs/performance.md for what it does step by step and for
//! recorded results.

mod audit;
mod contender;
mod metrics;
mod procfs;
mod report;
mod request_log;
mod workload;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use kube::Client;
use ray_testenv::{ControlPlane, ControlPlaneOptions, Layout, install_crds};

use crate::crd::workspace_root;
use contender::{Contender, Running};
use metrics::Snapshot;
use procfs::Sampler;
use report::{ApiRequests, Convergence, Fairness, Floor, Machine, Quiet, Report, RunConfig, Usage};
use workload::{CLUSTER_NAMESPACE_PREFIX, FAIRNESS_NAMESPACE, FLOOR_NAMESPACE, Shared};

/// A size of benchmark.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Preset {
    /// 10 RayClusters × 10 workers (110 pods): a smoke test, run by `cargo xtask test`.
    Small,
    /// 100 × 10 (1,100 pods).
    Medium,
    /// 1,000 × 10 (11,000 pods).
    Large,
}

/// Options of `cargo xtask bench scale`. Every size option overrides the preset's value.
#[derive(Debug, Clone, clap::Args)]
pub struct ScaleArgs {
    /// The size to run.
    #[arg(long, value_enum, default_value_t = Preset::Small)]
    preset: Preset,
    /// RayClusters to create.
    #[arg(long)]
    clusters: Option<usize>,
    /// Workers per RayCluster (each also has a head).
    #[arg(long)]
    workers: Option<usize>,
    /// The operator's --reconcile-concurrency.
    #[arg(long)]
    concurrency: Option<u16>,
    /// Namespaces to spread the RayClusters over.
    #[arg(long)]
    namespaces: Option<usize>,
    /// The operator's --kube-api-qps, also used by the floor's plain client.
    #[arg(long)]
    qps: Option<f64>,
    /// The operator's --kube-api-burst, also used by the floor's plain client.
    #[arg(long)]
    burst: Option<u32>,
    /// Seconds of the quiet period after convergence, in which the operator must not write.
    #[arg(long)]
    quiet_seconds: Option<u64>,
    /// Workers the big cluster of the fairness test adds (0 skips the fairness test).
    #[arg(long)]
    fairness_big: Option<usize>,
    /// Workers the small cluster of the fairness test adds.
    #[arg(long, default_value_t = 5)]
    fairness_small: usize,
    /// Skip the plain-client floor measurement.
    #[arg(long)]
    no_floor: bool,
    /// Count the operator's API requests from its own debug log (one line per request) when its /metrics has no
    /// request counter. Logging every request costs CPU: timings of such a run are not comparable.
    #[arg(long)]
    trace_requests: bool,
    /// Use the debug build of the operator (quicker to build; CI's smoke run). Timings then mean little.
    #[arg(long)]
    debug: bool,
    /// Run this operator binary instead of building one (e.g. an instrumented or older build to compare).
    #[arg(long, value_name = "PATH")]
    operator_binary: Option<PathBuf>,
    /// Where to write the JSON report [default: target/bench/scale-PRESET.json].
    #[arg(long)]
    out: Option<PathBuf>,
    /// Also run KubeRay's operator on the same workload, right after ours, each on a fresh control plane, and print
    /// one side-by-side table: `kuberay` (v1.6.2) or `kuberay=VERSION` (v1.6.2, v1.2.2; built on first use).
    #[arg(long, value_name = "kuberay[=VERSION]", value_parser = parse_compare)]
    compare: Option<String>,
}

/// `--compare kuberay[=VERSION]`: the KubeRay release to compare with.
fn parse_compare(text: &str) -> Result<String, String> {
    let version = match text.trim().split_once('=') {
        None if text.trim() == "kuberay" => ray_testenv::KUBERAY_VERSION.to_string(),
        Some(("kuberay", version)) => version.trim().to_string(),
        _ => {
            return Err(format!(
                "`{text}`: use `kuberay` or `kuberay=VERSION` (e.g. kuberay=v1.2.2)"
            ));
        }
    };
    if ray_testenv::KUBERAY_VERSIONS.contains(&version.as_str()) {
        Ok(version)
    } else {
        Err(format!(
            "KubeRay {version}: the benchmark can build {}",
            ray_testenv::KUBERAY_VERSIONS.join(", ")
        ))
    }
}

/// The resolved parameters.
#[derive(Debug, Clone)]
struct Plan {
    preset: String,
    clusters: usize,
    workers: usize,
    concurrency: u16,
    namespaces: usize,
    qps: f64,
    burst: u32,
    quiet: u64,
    fairness_big: usize,
    fairness_small: usize,
    floor: bool,
    release: bool,
    trace_requests: bool,
}

impl Plan {
    fn from_args(args: &ScaleArgs) -> anyhow::Result<Plan> {
        // (clusters, workers, namespaces, quiet seconds, big fairness scale-up)
        let (clusters, workers, namespaces, quiet, big) = match args.preset {
            Preset::Small => (10, 10, 2, 10, 100),
            Preset::Medium => (100, 10, 10, 30, 500),
            Preset::Large => (1000, 10, 20, 30, 500),
        };
        let custom = args.clusters.is_some() || args.workers.is_some();
        let plan = Plan {
            preset: if custom {
                "custom".into()
            } else {
                format!("{:?}", args.preset).to_lowercase()
            },
            clusters: args.clusters.unwrap_or(clusters),
            workers: args.workers.unwrap_or(workers),
            concurrency: args.concurrency.unwrap_or(8),
            namespaces: args.namespaces.unwrap_or(namespaces),
            qps: args.qps.unwrap_or(100.0),
            burst: args.burst.unwrap_or(200),
            quiet: args.quiet_seconds.unwrap_or(quiet),
            fairness_big: args.fairness_big.unwrap_or(big),
            fairness_small: args.fairness_small,
            floor: !args.no_floor,
            release: !args.debug,
            trace_requests: args.trace_requests,
        };
        if plan.clusters == 0 {
            bail!("--clusters must be at least 1");
        }
        if plan.namespaces == 0 {
            bail!("--namespaces must be at least 1");
        }
        if plan.concurrency == 0 {
            bail!("--concurrency must be at least 1");
        }
        if !(plan.qps.is_finite() && plan.qps > 0.0) {
            bail!("--qps must be a positive number");
        }
        if plan.burst == 0 {
            bail!("--burst must be at least 1");
        }
        Ok(plan)
    }

    /// Pods of the measured clusters.
    fn pods(&self) -> usize {
        self.clusters * (self.workers + 1)
    }
}

/// `cargo xtask bench scale`.
pub fn scale(args: &ScaleArgs) -> anyhow::Result<()> {
    let plan = Plan::from_args(args)?;
    let layout = Layout::from_env()?;
    crate::testenv::install(
        &layout,
        crate::testenv::InstallOptions {
            skip_go: false,
            skip_ray: true,
        },
    )?;
    if args.operator_binary.is_none() {
        eprintln!(
            "building the operator ({})...",
            if plan.release { "release" } else { "debug" }
        );
    }
    let binary = match &args.operator_binary {
        Some(path) if path.is_file() => path.clone(),
        Some(path) => bail!("--operator-binary {}: no such file", path.display()),
        None => crate::operator::build(plan.release)?,
    };
    let help = std::process::Command::new(&binary)
        .args(["run", "--help"])
        .output()
        .with_context(|| format!("running {} run --help", binary.display()))?;
    let help = String::from_utf8_lossy(&help.stdout).into_owned();
    let out = args.out.clone().unwrap_or_else(|| {
        workspace_root()
            .join("target/bench")
            .join(format!("scale-{}.json", plan.preset))
    });
    if let Some(version) = &args.compare {
        crate::testenv::ensure_kuberay(&layout, version)?;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    let ours = Contender::Ours { binary, help };
    let mut report = runtime.block_on(run(&plan, &layout, &ours, &out))?;
    report.evaluate_targets();
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(&out, serde_json::to_string_pretty(&report)?)
        .with_context(|| format!("writing {}", out.display()))?;
    println!("{}", report.table());
    eprintln!("report written to {}", out.display());
    if let Some(version) = &args.compare {
        let kuberay = Contender::KubeRay {
            version: version.clone(),
        };
        let kuberay_out = out.with_extension(format!("kuberay-{version}.json"));
        let mut theirs = runtime.block_on(run(&plan, &layout, &kuberay, &kuberay_out))?;
        theirs.evaluate_targets();
        std::fs::write(&kuberay_out, serde_json::to_string_pretty(&theirs)?)
            .with_context(|| format!("writing {}", kuberay_out.display()))?;
        eprintln!("report written to {}", kuberay_out.display());
        println!(
            "{}",
            report::side_by_side(&[(ours.name(), &report), (kuberay.name(), &theirs)])
        );
    }
    Ok(())
}

fn load_average() -> [f64; 3] {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let mut it = text.split_whitespace().map(|v| v.parse().unwrap_or(0.0));
    [
        it.next().unwrap_or(0.0),
        it.next().unwrap_or(0.0),
        it.next().unwrap_or(0.0),
    ]
}

/// Scrapes the operator's /metrics; `Err` says why there are no request counts.
async fn scrape(url: Option<&str>) -> Result<Snapshot, String> {
    let Some(url) = url else {
        return Err(
            "metrics unavailable: this ray-operator has no --metrics-addr flag".to_string(),
        );
    };
    let text = reqwest::Client::new()
        .get(url)
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .map_err(|e| format!("metrics unavailable: {url}: {e}"))?
        .text()
        .await
        .map_err(|e| format!("metrics unavailable: {url}: {e}"))?;
    let snapshot = Snapshot::from_text(&text);
    if !snapshot.has_requests {
        return Err(format!(
            "metrics unavailable: {url} has no {} series",
            metrics::API_REQUESTS
        ));
    }
    Ok(snapshot)
}

/// Polls `done` every 100 ms until it is true, printing `progress` every 10 s; fails after `timeout` or when the
/// operator exits. Returns the seconds since `since`.
async fn wait_until(
    what: &str,
    since: Instant,
    timeout: Duration,
    operator: &mut Running,
    log: &std::path::Path,
    mut done: impl FnMut() -> (bool, String),
) -> anyhow::Result<f64> {
    let mut last_print = Instant::now();
    loop {
        let (finished, progress) = done();
        if finished {
            return Ok(since.elapsed().as_secs_f64());
        }
        operator.check(log)?;
        if since.elapsed() > timeout {
            bail!(
                "{what}: not done after {:.0} s ({progress}); operator log {}",
                timeout.as_secs_f64(),
                log.display()
            );
        }
        if last_print.elapsed() > Duration::from_secs(10) {
            eprintln!(
                "  {:.0} s: {what}: {progress}",
                since.elapsed().as_secs_f64()
            );
            last_print = Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A client limited like the operator (`qps`, `burst`), for the floor.
async fn limited_client(plane: &ControlPlane, qps: f64, burst: u32) -> anyhow::Result<Client> {
    let kubeconfig = kube::config::Kubeconfig::read_from(plane.kubeconfig())?;
    let config = kube::Config::from_custom_kubeconfig(
        kubeconfig,
        &kube::config::KubeConfigOptions::default(),
    )
    .await?;
    let layer = operator_runtime::RateLimitLayer::new(qps, burst)?;
    Ok(kube::client::ClientBuilder::try_from(config)?
        .with_layer(&layer)
        .build())
}

fn seen<T>(shared: &Shared, f: impl FnOnce(&workload::Seen) -> T) -> anyhow::Result<T> {
    let guard = shared
        .lock()
        .map_err(|_| anyhow::anyhow!("a watch task panicked"))?;
    Ok(f(&guard))
}

async fn run(
    plan: &Plan,
    layout: &Layout,
    contender: &Contender,
    out: &std::path::Path,
) -> anyhow::Result<Report> {
    let load_before = load_average();
    let started_at = k8s_openapi::jiff::Timestamp::now().to_string();
    let pods = plan.pods();
    let fairness_pods = if plan.fairness_big > 0 {
        2 + plan.fairness_big + plan.fairness_small
    } else {
        0
    };
    eprintln!(
        "{}: starting a dedicated control plane; {} clusters x (1 + {} workers) = {pods} pods",
        contender.name(),
        plan.clusters,
        plan.workers
    );
    let plane = ControlPlane::start(ControlPlaneOptions {
        layout: layout.clone(),
        nodes: 1,
        state_dir: None,
        apiserver_port: None,
        audit: true,
    })
    .await?;
    let client = plane.client().await?;
    install_crds(&client, &contender.crd_dir(layout)).await?;
    let audit = plane
        .audit_log()
        .context("the benchmark's control plane runs with an audit log")?;
    let user_agent = contender.user_agent_prefix(layout);
    let nodes = (pods + fairness_pods).div_ceil(workload::PODS_PER_NODE);
    workload::create_nodes(&client, nodes).await?;
    for i in 0..plan.namespaces.min(plan.clusters) {
        workload::create_namespace(&client, &format!("{CLUSTER_NAMESPACE_PREFIX}{i}")).await?;
    }
    workload::create_namespace(&client, FAIRNESS_NAMESPACE).await?;
    workload::create_namespace(&client, FLOOR_NAMESPACE).await?;
    let max_workers = plan.workers.max(plan.fairness_big).max(1);

    // The floor, before the operator runs, so nothing else competes with it.
    let floor = if plan.floor {
        eprintln!(
            "floor: creating {pods} pods from a plain client at QPS {} / burst {}...",
            plan.qps, plan.burst
        );
        let limited = limited_client(&plane, plan.qps, plan.burst).await?;
        let template = workload::cluster("floor", FLOOR_NAMESPACE, plan.workers, max_workers)?;
        let timing = workload::floor(&limited, &template, pods, 64).await?;
        eprintln!("  {} pods in {:.1} s", timing.pods, timing.seconds);
        Some(Floor {
            pods: timing.pods,
            seconds: timing.seconds,
            pods_per_second: timing.pods as f64 / timing.seconds.max(1e-9),
        })
    } else {
        None
    };

    // The operator; ours also serves /metrics (its reconcile counter) on a free port.
    let log = out.with_extension("operator.log");
    if let Some(dir) = log.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let (mut operator, metrics_url) = contender.start(layout, &plane, plan, &log).await?;
    let sampler = Sampler::start(operator.pid(), Duration::from_millis(250));
    let seen_state = workload::watch(&client);
    // Start-up (CRD check, watches listing nothing) then a rest window.
    tokio::time::sleep(Duration::from_secs(3)).await;
    operator.check(&log)?;
    let rest_start = sampler.now();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let rest_end = sampler.now();
    let rest_cpu_percent =
        100.0 * (rest_end.cpu_seconds - rest_start.cpu_seconds) / (rest_end.at - rest_start.at);
    eprintln!(
        "operator at rest: {:.1} MiB RSS, {rest_cpu_percent:.1}% CPU",
        rest_end.rss_mib
    );
    let metrics_before = scrape(metrics_url.as_deref()).await;
    let audit_before = audit.mark()?;

    // Convergence.
    eprintln!("creating {} RayClusters...", plan.clusters);
    let clusters = (0..plan.clusters)
        .map(|i| {
            workload::cluster(
                &format!("rc-{i}"),
                &workload::cluster_namespace(i, plan.namespaces),
                plan.workers,
                max_workers,
            )
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let load_start = sampler.now();
    let plane_cpu_start = procfs::cpu_by_command(&plane.pids());
    let wall_converge_start = k8s_openapi::jiff::Timestamp::now();
    let t0 = Instant::now();
    workload::create_clusters(&client, clusters, 16).await?;
    let clusters_created = t0.elapsed().as_secs_f64();
    let timeout = Duration::from_secs(120) + Duration::from_millis(100 * pods as u64);
    let workers = plan.workers as i64;
    let all_pods = wait_until("pods exist", t0, timeout, &mut operator, &log, || {
        let n = seen(&seen_state, |s| s.pods_in(CLUSTER_NAMESPACE_PREFIX)).unwrap_or(0);
        (n >= pods, format!("{n}/{pods} pods"))
    })
    .await?;
    eprintln!("  every pod exists after {all_pods:.1} s");
    let all_ready = wait_until("clusters ready", t0, timeout, &mut operator, &log, || {
        let (ready, pods_now) = seen(&seen_state, |s| {
            (
                s.ready_in(CLUSTER_NAMESPACE_PREFIX, workers),
                s.pods_in(CLUSTER_NAMESPACE_PREFIX),
            )
        })
        .unwrap_or((0, 0));
        (
            ready >= plan.clusters,
            format!("{ready}/{} ready, {pods_now} pods", plan.clusters),
        )
    })
    .await?;
    eprintln!("  every RayCluster is ready after {all_ready:.1} s");
    let load_end = sampler.now();
    let wall_converge_end = k8s_openapi::jiff::Timestamp::now();
    let load_peak = sampler.peak_between(&load_start, &load_end);
    let plane_cpu: std::collections::BTreeMap<String, f64> = procfs::cpu_by_command(&plane.pids())
        .into_iter()
        .filter(|(k, _)| k != "sh")
        .map(|(k, v)| {
            let before = plane_cpu_start.get(&k).copied().unwrap_or(0.0);
            (k, v - before)
        })
        .collect();
    let metrics_converged = scrape(metrics_url.as_deref()).await;
    let audit_converged = audit.mark()?;

    // Quiet period.
    eprintln!("quiet period: {} s...", plan.quiet);
    if let Ok(mut s) = seen_state.lock() {
        s.start_counting();
    }
    let quiet_start = sampler.now();
    let audit_quiet_start = audit.mark()?;
    tokio::time::sleep(Duration::from_secs(plan.quiet)).await;
    let audit_quiet_end = audit.mark()?;
    let quiet_end = sampler.now();
    let object_changes = seen_state
        .lock()
        .map(|mut s| s.stop_counting())
        .unwrap_or_default();
    operator.check(&log)?;
    // Requests as the API server saw them, the same way for every operator; counted before the control plane
    // (and its audit log) goes away.
    let quiet_requests = audit::snapshot(&audit, audit_quiet_start, audit_quiet_end, &user_agent)?;
    let mut converging = audit::snapshot(&audit, audit_before, audit_converged, &user_agent)?;
    if converging.total_requests() == 0.0 {
        let counts = audit.count(audit_before, audit_converged)?;
        eprintln!(
            "  warning: no request with a User-Agent starting {user_agent:?}; user agents seen: {:?}",
            counts.by_user_agent()
        );
    }

    // Fairness.
    let fairness = if plan.fairness_big > 0 {
        Some(fairness(plan, &client, &seen_state, &mut operator, &log).await?)
    } else {
        None
    };
    let final_reading = sampler.now();
    operator.check(&log)?;
    operator.keep_log(&log);
    drop(operator);
    drop(sampler);
    drop(plane);

    // Reconciles are not in the audit log: ours reports them on /metrics (or, with --trace-requests, its log).
    let mut note = None;
    match (&metrics_before, &metrics_converged) {
        (Ok(a), Ok(b)) => converging.reconciles = b.since(a).reconciles,
        (Err(e), _) | (_, Err(e)) if plan.trace_requests => {
            // The operator has stopped, so its log is complete.
            let text = std::fs::read_to_string(&log)
                .with_context(|| format!("reading the operator log {}", log.display()))?;
            converging.reconciles =
                request_log::count(&text, wall_converge_start, wall_converge_end).reconciles;
            note = Some(format!("reconciles from the operator's debug log ({e})"));
        }
        _ => {}
    }
    let reconciles = converging.total_reconciles();
    let api = ApiRequests {
        available: true,
        note,
        total: converging.total_requests(),
        writes: converging.write_requests(),
        events: converging
            .requests
            .iter()
            .filter(|(k, _)| k.ends_with(" events"))
            .map(|(_, v)| v)
            .sum(),
        per_reconcile: (reconciles > 0.0).then(|| converging.total_requests() / reconciles),
        by_verb_resource: converging.requests,
        reconciles: converging.reconciles,
    };
    let steady = quiet_end.rss_mib;
    Ok(Report {
        command: std::env::args().collect::<Vec<_>>().join(" "),
        started_at,
        config: RunConfig {
            preset: plan.preset.clone(),
            clusters: plan.clusters,
            workers: plan.workers,
            pods,
            namespaces: plan.namespaces,
            concurrency: plan.concurrency,
            qps: plan.qps,
            burst: plan.burst,
            quiet_seconds: plan.quiet,
            build: if plan.release { "release" } else { "debug" }.into(),
        },
        machine: Machine {
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            load_before,
            load_after: load_average(),
        },
        convergence: Convergence {
            clusters_created_seconds: clusters_created,
            all_pods_exist_seconds: all_pods,
            all_ready_seconds: all_ready,
            floor_ratio: floor.as_ref().map(|f| all_pods / f.seconds.max(1e-9)),
            control_plane_cpu_seconds: plane_cpu,
        },
        floor,
        operator: Usage {
            rest_rss_mib: rest_end.rss_mib,
            rest_cpu_percent,
            load_peak_rss_mib: load_peak,
            load_cpu_seconds: load_end.cpu_seconds - load_start.cpu_seconds,
            steady_rss_mib: steady,
            final_rss_mib: final_reading.rss_mib,
            peak_rss_mib: final_reading.peak_rss_mib,
            total_cpu_seconds: final_reading.cpu_seconds,
            kib_per_pod: (steady - rest_end.rss_mib) * 1024.0 / pods as f64,
        },
        api,
        quiet: Quiet {
            seconds: plan.quiet,
            operator_writes: Some(quiet_requests.write_requests()),
            operator_requests: Some(quiet_requests.total_requests()),
            object_changes,
            cpu_seconds: quiet_end.cpu_seconds - quiet_start.cpu_seconds,
        },
        fairness,
        targets: Vec::new(),
    })
}

/// Two clusters in their own namespace, each a head with no workers; once both are ready, the big one is scaled by
/// `fairness_big` workers and right after it the small one by `fairness_small`.
async fn fairness(
    plan: &Plan,
    client: &Client,
    seen_state: &Shared,
    operator: &mut Running,
    log: &std::path::Path,
) -> anyhow::Result<Fairness> {
    let (big, small) = ("big", "small");
    let max = plan.fairness_big.max(plan.fairness_small);
    eprintln!(
        "fairness: +{} workers on one cluster while another adds {}...",
        plan.fairness_big, plan.fairness_small
    );
    workload::create_clusters(
        client,
        vec![
            workload::cluster(big, FAIRNESS_NAMESPACE, 0, max)?,
            workload::cluster(small, FAIRNESS_NAMESPACE, 0, max)?,
        ],
        2,
    )
    .await?;
    let t = Instant::now();
    wait_until(
        "fairness clusters ready",
        t,
        Duration::from_secs(120),
        operator,
        log,
        || {
            let n = seen(seen_state, |s| s.ready_in(FAIRNESS_NAMESPACE, 0)).unwrap_or(0);
            (n >= 2, format!("{n}/2 ready"))
        },
    )
    .await?;
    let big_start = Instant::now();
    workload::scale(client, FAIRNESS_NAMESPACE, big, plan.fairness_big, max).await?;
    let small_start = Instant::now();
    workload::scale(client, FAIRNESS_NAMESPACE, small, plan.fairness_small, max).await?;
    let timeout = Duration::from_secs(120) + Duration::from_millis(200 * max as u64);
    let (small_pods, small_ready) = (plan.fairness_small + 1, plan.fairness_small as i64);
    let (big_pods, big_ready) = (plan.fairness_big + 1, plan.fairness_big as i64);
    let mut small_pods_at = None;
    let mut big_pods_at = None;
    let mut small_ready_at = None;
    let mut big_ready_at = None;
    wait_until(
        "fairness scale-up",
        big_start,
        timeout,
        operator,
        log,
        || {
            let (sp, bp, sc, bc) = seen(seen_state, |s| {
                (
                    s.pods_of(FAIRNESS_NAMESPACE, small),
                    s.pods_of(FAIRNESS_NAMESPACE, big),
                    s.cluster(FAIRNESS_NAMESPACE, small),
                    s.cluster(FAIRNESS_NAMESPACE, big),
                )
            })
            .unwrap_or_default();
            if sp >= small_pods && small_pods_at.is_none() {
                small_pods_at = Some(small_start.elapsed().as_secs_f64());
            }
            if bp >= big_pods && big_pods_at.is_none() {
                big_pods_at = Some(big_start.elapsed().as_secs_f64());
            }
            if sc.ready_workers >= small_ready && small_ready_at.is_none() {
                small_ready_at = Some(small_start.elapsed().as_secs_f64());
            }
            if bc.ready_workers >= big_ready && big_ready_at.is_none() {
                big_ready_at = Some(big_start.elapsed().as_secs_f64());
            }
            (
                small_ready_at.is_some() && big_ready_at.is_some(),
                format!(
                    "small {sp}/{small_pods} pods, {} ready; big {bp}/{big_pods} pods, {} ready",
                    sc.ready_workers, bc.ready_workers
                ),
            )
        },
    )
    .await?;
    let result = Fairness {
        big_workers: plan.fairness_big,
        small_workers: plan.fairness_small,
        small_pods_exist_seconds: small_pods_at.unwrap_or(f64::NAN),
        small_ready_seconds: small_ready_at.unwrap_or(f64::NAN),
        big_pods_exist_seconds: big_pods_at.unwrap_or(f64::NAN),
        big_ready_seconds: big_ready_at.unwrap_or(f64::NAN),
    };
    eprintln!(
        "  small: pods {:.1} s, ready {:.1} s; big: pods {:.1} s, ready {:.1} s",
        result.small_pods_exist_seconds,
        result.small_ready_seconds,
        result.big_pods_exist_seconds,
        result.big_ready_seconds
    );
    Ok(result)
}
