//! The scale benchmark's result: a JSON document (for comparing runs) and a table (for people).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

/// Everything one run measured.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The command line that produced it.
    pub command: String,
    /// When it started (UTC).
    pub started_at: String,
    /// What was run.
    pub config: RunConfig,
    /// The machine and how busy it was.
    pub machine: Machine,
    /// How fast a plain client creates the same number of pods at the same QPS/burst.
    pub floor: Option<Floor>,
    /// The operator bringing every RayCluster up.
    pub convergence: Convergence,
    /// The operator's memory and CPU.
    pub operator: Usage,
    /// The operator's API requests while converging.
    pub api: ApiRequests,
    /// After convergence, nothing changes: what the operator still does.
    pub quiet: Quiet,
    /// One cluster scaling by a few workers while another scales by many.
    pub fairness: Option<Fairness>,
    /// The targets of issue #15, measured, not asserted.
    pub targets: Vec<Target>,
}

/// The run's parameters.
#[derive(Debug, Clone, Serialize)]
pub struct RunConfig {
    /// Preset name (`small`, `medium`, `large`) or `custom`.
    pub preset: String,
    /// RayClusters created.
    pub clusters: usize,
    /// Workers per RayCluster (plus one head each).
    pub workers: usize,
    /// Pods the operator must create: clusters × (workers + 1).
    pub pods: usize,
    /// Namespaces the clusters are spread over.
    pub namespaces: usize,
    /// `--reconcile-concurrency` of the operator.
    pub concurrency: u16,
    /// `--kube-api-qps` of the operator and of the floor's client.
    pub qps: f64,
    /// `--kube-api-burst` of both.
    pub burst: u32,
    /// Length of the quiet period, seconds.
    pub quiet_seconds: u64,
    /// `release` or `debug`.
    pub build: String,
}

/// The machine.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    /// Logical CPUs.
    pub cpus: usize,
    /// 1/5/15-minute load averages when the run started.
    pub load_before: [f64; 3],
    /// And when it ended.
    pub load_after: [f64; 3],
}

/// The floor measurement.
#[derive(Debug, Clone, Serialize)]
pub struct Floor {
    /// Pods created.
    pub pods: usize,
    /// Seconds from the first create to the last.
    pub seconds: f64,
    /// Pods per second.
    pub pods_per_second: f64,
}

/// Convergence of the measured RayClusters, seconds from the first RayCluster create.
#[derive(Debug, Clone, Serialize)]
pub struct Convergence {
    /// Until every RayCluster create was answered.
    pub clusters_created_seconds: f64,
    /// Until every pod existed (seen by a watch).
    pub all_pods_exist_seconds: f64,
    /// Until every RayCluster reported `ready` with all workers ready (this includes kube-scheduler and kwok).
    pub all_ready_seconds: f64,
    /// `all_pods_exist_seconds / floor.seconds`.
    pub floor_ratio: Option<f64>,
    /// CPU seconds each control-plane component used while converging (the API server, etcd, the scheduler and
    /// kwok share the machine with the operator; when they saturate it, they set the pace).
    pub control_plane_cpu_seconds: BTreeMap<String, f64>,
}

/// Operator process usage from /proc.
#[derive(Debug, Clone, Serialize)]
pub struct Usage {
    /// RSS after start-up with nothing to do, MiB.
    pub rest_rss_mib: f64,
    /// CPU use at rest, percent of one core, over the rest window.
    pub rest_cpu_percent: f64,
    /// Highest RSS sampled while converging, MiB.
    pub load_peak_rss_mib: f64,
    /// CPU seconds used while converging.
    pub load_cpu_seconds: f64,
    /// RSS after the quiet period with every pod in the cache, MiB.
    pub steady_rss_mib: f64,
    /// RSS at the end of the run (after the fairness test), MiB.
    pub final_rss_mib: f64,
    /// The kernel's high-water mark of RSS over the whole run (`VmHWM`), MiB.
    pub peak_rss_mib: f64,
    /// CPU seconds over the whole run.
    pub total_cpu_seconds: f64,
    /// (steady RSS − rest RSS) / pods, KiB per pod.
    pub kib_per_pod: f64,
}

/// API requests from the operator's metrics.
#[derive(Debug, Clone, Serialize)]
pub struct ApiRequests {
    /// Whether the operator's /metrics had the request counter.
    pub available: bool,
    /// Why not, when not.
    pub note: Option<String>,
    /// Requests while converging, by `verb resource`.
    pub by_verb_resource: BTreeMap<String, f64>,
    /// Their sum.
    pub total: f64,
    /// Of which writes.
    pub writes: f64,
    /// Of which Event writes (counted apart: they have a budget of their own and never delay a pod).
    pub events: f64,
    /// Reconciles finished while converging, by controller.
    pub reconciles: BTreeMap<String, f64>,
    /// total / reconciles.
    pub per_reconcile: Option<f64>,
}

impl ApiRequests {
    /// Requests other than Events per pod created.
    pub fn per_pod_without_events(&self, pods: usize) -> f64 {
        (self.total - self.events) / pods.max(1) as f64
    }
}

/// The quiet period after convergence.
#[derive(Debug, Clone, Serialize)]
pub struct Quiet {
    /// Its length, seconds.
    pub seconds: u64,
    /// Write requests the operator reported (must be zero); `None` without metrics.
    pub operator_writes: Option<f64>,
    /// All requests the operator reported; `None` without metrics.
    pub operator_requests: Option<f64>,
    /// Objects changed in the benchmark namespaces, by kind, seen by watches (anyone's writes).
    pub object_changes: BTreeMap<String, u64>,
    /// CPU seconds the operator used.
    pub cpu_seconds: f64,
}

/// The fairness test, seconds from the scale-up of each cluster.
#[derive(Debug, Clone, Serialize)]
pub struct Fairness {
    /// Workers added to the big cluster.
    pub big_workers: usize,
    /// Workers added to the small cluster (scaled right after the big one).
    pub small_workers: usize,
    /// Until the small cluster's new pods existed.
    pub small_pods_exist_seconds: f64,
    /// Until the small cluster reported all its workers ready.
    pub small_ready_seconds: f64,
    /// Until the big cluster's new pods existed.
    pub big_pods_exist_seconds: f64,
    /// Until the big cluster reported all its workers ready.
    pub big_ready_seconds: f64,
}

/// One target and its measurement.
#[derive(Debug, Clone, Serialize)]
pub struct Target {
    /// What is measured.
    pub name: String,
    /// The goal.
    pub goal: String,
    /// What was measured.
    pub measured: String,
    /// Whether it was met (`None`: not measured in this run, or not applicable at this size).
    pub met: Option<bool>,
}

impl Report {
    /// The targets of issue #15 evaluated on this run. Size-dependent ones are stated for 11,000 pods (the large
    /// preset) and are `n/a` below it: at a hundred pods fixed latencies dominate every ratio.
    pub fn evaluate_targets(&mut self) {
        let large = self.config.pods >= 11_000;
        let mut targets = vec![
            Target {
                name: "every pod exists vs plain-client floor".into(),
                goal: "<= 1.15x at 11,000 pods".into(),
                measured: match self.convergence.floor_ratio {
                    Some(r) => format!("{r:.2}x"),
                    None => "no floor measured".into(),
                },
                met: self
                    .convergence
                    .floor_ratio
                    .filter(|_| large)
                    .map(|r| r <= 1.15),
            },
            Target {
                name: "steady RSS".into(),
                goal: "<= 64 MiB at 11,000 pods".into(),
                measured: format!(
                    "{:.1} MiB at {} pods",
                    self.operator.steady_rss_mib, self.config.pods
                ),
                met: large.then_some(self.operator.steady_rss_mib <= 64.0),
            },
            Target {
                name: "RSS at rest".into(),
                goal: "<= 16 MiB".into(),
                measured: format!("{:.1} MiB", self.operator.rest_rss_mib),
                met: Some(self.operator.rest_rss_mib <= 16.0),
            },
        ];
        targets.push(Target {
            name: "requests per pod while converging, Events apart".into(),
            goal: "<= 1.4".into(),
            measured: if self.api.available {
                format!(
                    "{:.2} (+ {:.0} Events)",
                    self.api.per_pod_without_events(self.config.pods),
                    self.api.events
                )
            } else {
                "not counted".into()
            },
            met: self
                .api
                .available
                .then(|| self.api.per_pod_without_events(self.config.pods) <= 1.4),
        });
        targets.push(Target {
            name: "writes at steady state".into(),
            goal: "0".into(),
            measured: match self.quiet.operator_writes {
                Some(w) => format!("{w} operator write requests"),
                None => format!(
                    "not counted; object changes seen: {}",
                    self.quiet.object_changes.values().sum::<u64>()
                ),
            },
            met: Some(match self.quiet.operator_writes {
                Some(w) => w == 0.0,
                None => self.quiet.object_changes.values().sum::<u64>() == 0,
            }),
        });
        if let Some(f) = &self.fairness {
            targets.push(Target {
                name: "small cluster while a big one scales".into(),
                goal: "ready < 1 s".into(),
                measured: format!(
                    "pods exist {:.1} s, ready {:.1} s",
                    f.small_pods_exist_seconds, f.small_ready_seconds
                ),
                met: Some(f.small_ready_seconds < 1.0),
            });
        }
        self.targets = targets;
    }

    /// The report as a table for a terminal or a Markdown file.
    pub fn table(&self) -> String {
        let c = &self.config;
        let mut out = String::new();
        let mut row = |k: &str, v: String| {
            let _ = writeln!(out, "| {k} | {v} |");
        };
        row(
            "run",
            format!(
                "{} clusters x (1 head + {} workers) = {} pods in {} namespaces; concurrency {}, QPS {}, burst {}, {} build",
                c.clusters, c.workers, c.pods, c.namespaces, c.concurrency, c.qps, c.burst, c.build
            ),
        );
        row(
            "machine",
            format!(
                "{} CPUs, load {:.2} {:.2} {:.2} before, {:.2} {:.2} {:.2} after",
                self.machine.cpus,
                self.machine.load_before[0],
                self.machine.load_before[1],
                self.machine.load_before[2],
                self.machine.load_after[0],
                self.machine.load_after[1],
                self.machine.load_after[2]
            ),
        );
        if let Some(f) = &self.floor {
            row(
                "floor (plain client)",
                format!(
                    "{} pods in {:.1} s ({:.0} pods/s)",
                    f.pods, f.seconds, f.pods_per_second
                ),
            );
        }
        let v = &self.convergence;
        row(
            "convergence",
            format!(
                "clusters created {:.1} s, all pods exist {:.1} s, all ready {:.1} s{}",
                v.clusters_created_seconds,
                v.all_pods_exist_seconds,
                v.all_ready_seconds,
                v.floor_ratio
                    .map(|r| format!("; {r:.2}x the floor"))
                    .unwrap_or_default()
            ),
        );
        if !v.control_plane_cpu_seconds.is_empty() {
            let parts: Vec<String> = v
                .control_plane_cpu_seconds
                .iter()
                .map(|(k, s)| format!("{k} {s:.0} s"))
                .collect();
            row("control plane CPU (converging)", parts.join(", "));
        }
        let u = &self.operator;
        row(
            "operator RSS",
            format!(
                "rest {:.1} MiB, peak under load {:.1} MiB, steady {:.1} MiB, final {:.1} MiB, high-water {:.1} MiB ({:.1} KiB/pod)",
                u.rest_rss_mib,
                u.load_peak_rss_mib,
                u.steady_rss_mib,
                u.final_rss_mib,
                u.peak_rss_mib,
                u.kib_per_pod
            ),
        );
        row(
            "operator CPU",
            format!(
                "rest {:.1}% of a core, converging {:.1} s, quiet {:.2} s, whole run {:.1} s",
                u.rest_cpu_percent, u.load_cpu_seconds, self.quiet.cpu_seconds, u.total_cpu_seconds
            ),
        );
        let a = &self.api;
        if a.available {
            let by: Vec<String> = a
                .by_verb_resource
                .iter()
                .map(|(k, v)| format!("{k} {v:.0}"))
                .collect();
            row(
                "API requests (converging)",
                format!(
                    "{:.0} total, {:.0} writes, {:.0} reconciles, {} per reconcile: {}",
                    a.total,
                    a.writes,
                    a.reconciles.values().sum::<f64>(),
                    a.per_reconcile
                        .map(|p| format!("{p:.2}"))
                        .unwrap_or_else(|| "-".into()),
                    by.join(", ")
                ),
            );
        } else {
            row(
                "API requests",
                a.note
                    .clone()
                    .unwrap_or_else(|| "metrics unavailable".into()),
            );
        }
        let q = &self.quiet;
        let changes: Vec<String> = q
            .object_changes
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        row(
            "quiet period",
            format!(
                "{} s: operator writes {}, requests {}; objects changed: {}",
                q.seconds,
                q.operator_writes
                    .map(|w| format!("{w:.0}"))
                    .unwrap_or_else(|| "metrics unavailable".into()),
                q.operator_requests
                    .map(|w| format!("{w:.0}"))
                    .unwrap_or_else(|| "metrics unavailable".into()),
                if changes.is_empty() {
                    "none".to_string()
                } else {
                    changes.join(", ")
                }
            ),
        );
        if let Some(f) = &self.fairness {
            row(
                "fairness",
                format!(
                    "+{} workers: pods {:.1} s, ready {:.1} s; +{} workers at the same time: pods {:.1} s, ready {:.1} s",
                    f.small_workers,
                    f.small_pods_exist_seconds,
                    f.small_ready_seconds,
                    f.big_workers,
                    f.big_pods_exist_seconds,
                    f.big_ready_seconds
                ),
            );
        }
        for t in &self.targets {
            let verdict = match t.met {
                Some(true) => "met",
                Some(false) => "MISSED",
                None => "n/a",
            };
            row(
                &format!("target: {}", t.name),
                format!("{} (goal {}): {verdict}", t.measured, t.goal),
            );
        }
        format!("| measure | result |\n|---|---|\n{out}")
    }
}

/// One table with a column per operator (`--compare`): the same workload, each on a fresh control plane.
pub fn side_by_side(runs: &[(String, &Report)]) -> String {
    let mut out = String::new();
    let header: Vec<&str> = runs.iter().map(|(name, _)| name.as_str()).collect();
    let _ = writeln!(out, "| measure | {} |", header.join(" | "));
    let _ = writeln!(out, "|---|{}", "---|".repeat(runs.len()));
    let mut row = |k: &str, cell: &dyn Fn(&Report) -> String| {
        let cells: Vec<String> = runs.iter().map(|(_, r)| cell(r)).collect();
        let _ = writeln!(out, "| {k} | {} |", cells.join(" | "));
    };
    let ratio = |seconds: f64, r: &Report| match &r.floor {
        Some(f) => format!(
            "{seconds:.1} s ({:.2}x the {:.1} s floor)",
            seconds / f.seconds.max(1e-9),
            f.seconds
        ),
        None => format!("{seconds:.1} s"),
    };
    row("every pod exists", &|r| {
        ratio(r.convergence.all_pods_exist_seconds, r)
    });
    row("every RayCluster ready", &|r| {
        ratio(r.convergence.all_ready_seconds, r)
    });
    row("RSS rest / steady / high-water", &|r| {
        let u = &r.operator;
        format!(
            "{:.1} / {:.1} / {:.1} MiB",
            u.rest_rss_mib, u.steady_rss_mib, u.peak_rss_mib
        )
    });
    row("operator CPU converging / whole run", &|r| {
        format!(
            "{:.1} s / {:.1} s",
            r.operator.load_cpu_seconds, r.operator.total_cpu_seconds
        )
    });
    row("API requests converging", &|r| {
        if !r.api.available {
            return r.api.note.clone().unwrap_or_else(|| "not counted".into());
        }
        format!(
            "{:.0} + {:.0} Events ({:.2} per pod without Events), {:.0} writes",
            r.api.total - r.api.events,
            r.api.events,
            r.api.per_pod_without_events(r.config.pods),
            r.api.writes
        )
    });
    row("requests by verb and resource", &|r| {
        let mut by: Vec<(&String, &f64)> = r.api.by_verb_resource.iter().collect();
        by.sort_by(|a, b| b.1.total_cmp(a.1));
        by.iter()
            .map(|(k, v)| format!("{k} {v:.0}"))
            .collect::<Vec<_>>()
            .join(", ")
    });
    row("quiet period writes", &|r| match r.quiet.operator_writes {
        Some(w) => format!("{w:.0} in {} s", r.quiet.seconds),
        None => "not counted".into(),
    });
    row(
        "fairness: small / big cluster ready",
        &|r| match &r.fairness {
            Some(f) => format!(
                "{:.1} s / {:.1} s",
                f.small_ready_seconds, f.big_ready_seconds
            ),
            None => "not run".into(),
        },
    );
    out
}
