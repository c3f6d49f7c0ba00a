//! `cargo xtask fuzz`: builds the cargo-fuzz targets in `fuzz/` with the nightly toolchain and runs each for a
//! while, one after another, reporting executions, speed and the reproducer of any finding.
//!
//! The target bodies live in `crates/ray-fuzz` (see its docs); the committed seed corpus, `fuzz/corpus/<target>/`,
//! is read but never written: what libFuzzer learns goes to `fuzz/target/corpus/<target>/` (kept between runs, not
//! committed), and findings to `fuzz/artifacts/<target>/`. A finding is fixed in the crate at fault, with a unit test,
//! and its input copied into the seed corpus so the stable test run replays it.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, bail};

/// What to run.
#[derive(Debug, clap::Args)]
pub struct FuzzArgs {
    /// Run each target for this many seconds (the default is 60 when --runs is not given either).
    #[arg(long)]
    seconds: Option<u64>,
    /// Run each target for this many executions (with --seconds, whichever comes first).
    #[arg(long)]
    runs: Option<u64>,
    /// Run only this target (repeatable); the default is every target of `ray_fuzz::TARGETS`.
    #[arg(long = "target", value_name = "NAME")]
    targets: Vec<String>,
    /// Build without optimizations: a quicker build, far fewer executions per second.
    #[arg(long)]
    dev: bool,
    /// Only build the targets.
    #[arg(long, conflicts_with = "no_build")]
    build_only: bool,
    /// Run the targets as last built, without building.
    #[arg(long)]
    no_build: bool,
}

/// libFuzzer's limits: a finding is an input that takes more than 10 s or 2 GiB.
const LIBFUZZER_LIMITS: &[&str] = &["-rss_limit_mb=2048", "-timeout=10"];

/// The outcome of one target's run.
struct Outcome {
    name: &'static str,
    executions: Option<u64>,
    exec_per_sec: Option<u64>,
    result: String,
    failed: bool,
}

pub fn run(args: &FuzzArgs) -> anyhow::Result<()> {
    let root = workspace_root();
    let fuzz_dir = root.join("fuzz");
    let targets = selected(&args.targets)?;

    if !args.no_build {
        let started = Instant::now();
        build(&fuzz_dir, args.dev)?;
        eprintln!("==> built the fuzz targets in {:.0?}", started.elapsed());
    }
    if args.build_only {
        return Ok(());
    }

    let bin_dir =
        target_dir()?
            .join(host_triple()?)
            .join(if args.dev { "debug" } else { "release" });
    let mut outcomes = Vec::new();
    for target in targets {
        outcomes.push(run_target(&fuzz_dir, &bin_dir, target, args)?);
    }

    println!(
        "{:<20} {:>12} {:>10}  result",
        "target", "executions", "exec/s"
    );
    for o in &outcomes {
        let show = |n: Option<u64>| n.map_or_else(|| "?".to_owned(), |n| n.to_string());
        println!(
            "{:<20} {:>12} {:>10}  {}",
            o.name,
            show(o.executions),
            show(o.exec_per_sec),
            o.result
        );
    }
    let failed: Vec<&str> = outcomes
        .iter()
        .filter(|o| o.failed)
        .map(|o| o.name)
        .collect();
    if !failed.is_empty() {
        bail!(
            "fuzzing found problems in: {}; fix them with a regression test and add each reproducer to \
             fuzz/corpus/<target>/",
            failed.join(", ")
        );
    }
    Ok(())
}

/// The targets named (all when none is), or an error listing the known ones.
fn selected(names: &[String]) -> anyhow::Result<Vec<&'static ray_fuzz::Target>> {
    if names.is_empty() {
        return Ok(ray_fuzz::TARGETS.iter().collect());
    }
    names
        .iter()
        .map(|name| {
            ray_fuzz::target(name).with_context(|| {
                let known: Vec<&str> = ray_fuzz::TARGETS.iter().map(|t| t.name).collect();
                format!(
                    "no fuzz target {name:?}; the targets are {}",
                    known.join(", ")
                )
            })
        })
        .collect()
}

/// Where the fuzz targets are built: in the test environment's cache (`~/.cache/ray-operator-rs/testenv/fuzz-target`),
/// outside the checkout, so a fresh clone (CI) reuses the dependencies built before instead of spending minutes of
/// CPU on them again.
fn target_dir() -> anyhow::Result<PathBuf> {
    Ok(ray_testenv::Layout::from_env()?.root().join("fuzz-target"))
}

/// `cargo +nightly fuzz build -O -a -s none` (or `--dev`): optimized, with debug assertions and overflow checks
/// (an arithmetic overflow on a hostile count is a finding), and without AddressSanitizer, which the workspace's
/// `forbid(unsafe_code)` makes redundant and which would halve the executions per second.
fn build(fuzz_dir: &Path, dev: bool) -> anyhow::Result<()> {
    let mut command = nightly_cargo();
    command.args(["fuzz", "build", "--fuzz-dir"]).arg(fuzz_dir);
    let mode: &[&str] = if dev { &["--dev"] } else { &["-O", "-a"] };
    command
        .args(mode)
        .args(["--sanitizer", "none", "--target-dir"])
        .arg(target_dir()?);
    eprintln!(
        "==> building the fuzz targets: cargo +nightly fuzz build {} --sanitizer none",
        mode.join(" ")
    );
    let status = command
        .current_dir(fuzz_dir.parent().unwrap_or(fuzz_dir))
        .status()
        .context(
            "running `rustup run nightly cargo fuzz`; install the nightly toolchain and `cargo install cargo-fuzz \
             --locked`",
        )?;
    if !status.success() {
        bail!("building the fuzz targets failed ({status})");
    }
    Ok(())
}

/// Runs one target's binary with the committed corpus as seeds and parses libFuzzer's final statistics.
fn run_target(
    fuzz_dir: &Path,
    bin_dir: &Path,
    target: &'static ray_fuzz::Target,
    args: &FuzzArgs,
) -> anyhow::Result<Outcome> {
    let work_corpus = fuzz_dir.join("target/corpus").join(target.name);
    let artifacts = fuzz_dir.join("artifacts").join(target.name);
    let log_path = fuzz_dir
        .join("target/logs")
        .join(format!("{}.log", target.name));
    for dir in [&work_corpus, &artifacts] {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    if let Some(parent) = log_path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let log = std::fs::File::create(&log_path)
        .with_context(|| format!("creating {}", log_path.display()))?;

    let mut command = Command::new(bin_dir.join(target.name));
    command
        .args(LIBFUZZER_LIMITS)
        .arg(format!("-max_len={}", target.max_len))
        .arg("-print_final_stats=1")
        .arg(format!("-artifact_prefix={}/", artifacts.display()));
    let seconds = match (args.seconds, args.runs) {
        (None, None) => Some(60),
        (seconds, _) => seconds,
    };
    if let Some(seconds) = seconds {
        command.arg(format!("-max_total_time={seconds}"));
    }
    if let Some(runs) = args.runs {
        command.arg(format!("-runs={runs}"));
    }
    command
        .arg(&work_corpus)
        .arg(fuzz_dir.join("corpus").join(target.name))
        .stdout(Stdio::null())
        .stderr(log);
    eprintln!("==> fuzzing {} (log: {})", target.name, log_path.display());
    let status = command
        .status()
        .with_context(|| format!("running {}", bin_dir.join(target.name).display()))?;
    let text = std::fs::read_to_string(&log_path).unwrap_or_default();
    let stat = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.trim().parse::<u64>().ok())
    };
    let reproducer = text.lines().find_map(|l| {
        l.split_once("Test unit written to ")
            .map(|(_, p)| p.trim().to_owned())
    });
    let kind = if text.contains("libFuzzer: out-of-memory") {
        "out of memory"
    } else if text.contains("libFuzzer: timeout") {
        "timeout"
    } else {
        "crash"
    };
    let (result, failed) = match (status.success(), reproducer) {
        (true, _) => ("ok".to_owned(), false),
        (false, Some(path)) => (format!("{kind}: reproducer {path}"), true),
        (false, None) => (
            format!("failed ({status}), see {}", log_path.display()),
            true,
        ),
    };
    Ok(Outcome {
        name: target.name,
        executions: stat("stat::number_of_executed_units:"),
        exec_per_sec: stat("stat::average_exec_per_sec:"),
        result,
        failed,
    })
}

/// `cargo` of the nightly toolchain, without the variables of the stable cargo that runs xtask.
fn nightly_cargo() -> Command {
    let mut command = Command::new("rustup");
    command.args(["run", "nightly", "cargo"]);
    for var in [
        "RUSTUP_TOOLCHAIN",
        "CARGO",
        "RUSTC",
        "RUSTDOC",
        "CARGO_TARGET_DIR",
    ] {
        command.env_remove(var);
    }
    command
}

/// The host's target triple, which names cargo-fuzz's output directory.
fn host_triple() -> anyhow::Result<String> {
    let output = Command::new("rustc")
        .arg("-vV")
        .output()
        .context("running rustc -vV")?;
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: ").map(str::to_owned))
        .context("rustc -vV printed no host triple")
}

/// The workspace root (xtask's parent directory).
fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}
