//! `cargo xtask faults`: the operator under faults, on a local control plane and a real Ray head.
//!
//! Each scenario starts a dedicated control plane, the operator binary (`ray-operator run`, as in a cluster) and a
//! realistic workload (RayClusters scaling, RayJobs on the real Ray head, a RayService changing its config), injects
//! one fault, lets things settle and checks the invariants users rely on ([`invariants`]): exactly the desired pods
//! per group, no orphans, every status true again, no state regressed and no Serve traffic switched to a cluster
//! that was not ready ([`monitor`]), no panic and no crash. It prints one table row per scenario: the fault, what
//! was checked, the result and how long recovery took. docs/reliability.md records the last full run.
//!
//! Faults come from the real components where they can (kill -9 of the operator, kube-apiserver and etcd stopped
//! and started again); the rest from fault proxies in front of the API server and the Ray dashboard
//! ([`ray_testenv::FaultProxy`]): watches cut, 410 Gone, 429 and 500 answers, slow answers, a dashboard that is down,
//! hangs or answers garbage. Clock jumps are tested in process with a manual clock (the `clock_jumps` test of
//! ray-controllers), which this command runs as its last scenario.

mod env;
mod invariants;
mod monitor;
mod scenarios;
mod workload;

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

use crate::crd::workspace_root;

/// Options of `cargo xtask faults`.
#[derive(Debug, Clone, clap::Args)]
pub struct FaultsArgs {
    /// The short subset `cargo xtask test` runs: fewer kill -9 trials, shorter outages, fewer scenarios.
    #[arg(long)]
    quick: bool,
    /// Run only the scenarios whose name contains one of these (repeatable or comma-separated).
    #[arg(long, value_delimiter = ',')]
    scenario: Vec<String>,
    /// Operator kill -9 trials [default: 20, 3 with --quick].
    #[arg(long)]
    kill_trials: Option<usize>,
    /// Seconds kube-apiserver and etcd stay down [default: 30, 10 with --quick].
    #[arg(long)]
    outage_seconds: Option<u64>,
    /// Seed of the random kill moments and scale targets [default: from the clock; printed].
    #[arg(long)]
    seed: Option<u64>,
    /// Use the release build of the operator (the default is the debug build: the suite checks behaviour, not
    /// speed, and the debug build is the one the tests already compiled).
    #[arg(long)]
    release: bool,
    /// Where to write the report (Markdown) [default: target/faults/report.md].
    #[arg(long)]
    out: Option<PathBuf>,
}

/// What a scenario checked and how it went.
#[derive(Debug, Clone)]
pub struct Row {
    /// The scenario's name.
    pub scenario: &'static str,
    /// The fault injected.
    pub fault: String,
    /// The invariants checked, short.
    pub invariants: Vec<&'static str>,
    /// `Ok(())` when every invariant held; otherwise what broke.
    pub result: Result<(), String>,
    /// Seconds from the end of the fault until every invariant held (the worst trial for repeated faults).
    pub recovery: Option<f64>,
    /// Whole scenario wall time, seconds.
    pub took: f64,
}

/// The settings every scenario reads.
#[derive(Debug, Clone)]
pub struct Settings {
    pub quick: bool,
    pub kill_trials: usize,
    pub outage: Duration,
    pub seed: u64,
}

/// `cargo xtask faults`.
pub fn run(args: &FaultsArgs) -> anyhow::Result<()> {
    let layout = ray_testenv::Layout::from_env()?;
    crate::testenv::install(&layout, crate::testenv::InstallOptions::default())?;
    let seed = args.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(1)
    });
    let settings = Settings {
        quick: args.quick,
        kill_trials: args.kill_trials.unwrap_or(if args.quick { 3 } else { 20 }),
        outage: Duration::from_secs(args.outage_seconds.unwrap_or(if args.quick {
            10
        } else {
            30
        })),
        seed,
    };
    let selected: Vec<scenarios::Scenario> = scenarios::ALL
        .iter()
        .copied()
        .filter(|s| !args.quick || s.quick())
        .filter(|s| {
            args.scenario.is_empty() || args.scenario.iter().any(|n| s.name().contains(n.as_str()))
        })
        .collect();
    if selected.is_empty() {
        bail!(
            "--scenario {:?} matches none of: {}",
            args.scenario,
            scenarios::ALL
                .iter()
                .map(|s| s.name())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    eprintln!(
        "faults: {} scenario(s), seed {seed} (repeat with --seed {seed}){}",
        selected.len(),
        if args.quick { ", quick" } else { "" }
    );
    eprintln!(
        "building the operator ({})...",
        if args.release { "release" } else { "debug" }
    );
    let binary = crate::operator::build(args.release)?;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| workspace_root().join("target/faults/report.md"));
    let logs = out
        .parent()
        .map(|p| p.join("logs"))
        .unwrap_or_else(|| PathBuf::from("faults-logs"));
    std::fs::create_dir_all(&logs).with_context(|| format!("creating {}", logs.display()))?;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    let rows = runtime.block_on(async {
        let suite = env::Suite::start(layout, binary, logs.clone(), settings.clone()).await?;
        let mut rows = Vec::new();
        for scenario in &selected {
            eprintln!("==> scenario {}", scenario.name());
            let started = Instant::now();
            let mut row = scenario.run(&suite).await;
            row.took = started.elapsed().as_secs_f64();
            match &row.result {
                Ok(()) => eprintln!("    passed in {:.0} s", row.took),
                Err(e) => eprintln!("    FAILED: {e}"),
            }
            rows.push(row);
        }
        anyhow::Ok(rows)
    })?;
    let table = table(&rows);
    println!("{table}");
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let report = format!(
        "# Fault-injection run\n\nseed {seed}{}; operator {} build; {}\n\n{table}\n",
        if args.quick { ", --quick" } else { "" },
        if args.release { "release" } else { "debug" },
        k8s_openapi::jiff::Timestamp::now().strftime("%Y-%m-%d %H:%M UTC"),
    );
    std::fs::write(&out, report).with_context(|| format!("writing {}", out.display()))?;
    eprintln!(
        "report written to {}; operator logs in {}",
        out.display(),
        logs.display()
    );
    let failed: Vec<&str> = rows
        .iter()
        .filter(|r| r.result.is_err())
        .map(|r| r.scenario)
        .collect();
    if !failed.is_empty() {
        bail!(
            "{} of {} fault scenarios failed: {} (seed {seed})",
            failed.len(),
            rows.len(),
            failed.join(", ")
        );
    }
    Ok(())
}

/// The Markdown table of a run.
fn table(rows: &[Row]) -> String {
    let mut out = String::from(
        "| scenario | fault | invariants checked | result | recovery |\n|---|---|---|---|---|\n",
    );
    for row in rows {
        let result = match &row.result {
            Ok(()) => "pass".to_string(),
            Err(e) => format!("**FAIL**: {}", e.replace('|', "\\|").replace('\n', " ")),
        };
        let recovery = row
            .recovery
            .map(|s| format!("{s:.1} s"))
            .unwrap_or_else(|| "-".into());
        let _ = writeln!(
            out,
            "| {} | {} | {} | {result} | {recovery} |",
            row.scenario,
            row.fault,
            row.invariants.join(", ")
        );
    }
    out
}
