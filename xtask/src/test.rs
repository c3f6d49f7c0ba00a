//! `cargo xtask test`: the project's one test command, the same locally and in CI.

use std::process::Command;

use anyhow::{Context, bail};

/// One check: a name for messages, cargo's arguments, extra environment.
struct Step {
    name: &'static str,
    args: &'static [&'static str],
    env: &'static [(&'static str, &'static str)],
}

/// Runs each check in order and stops at the first failure, naming it. First it makes sure the local control plane
/// and Ray venv the integration tests use are built (a few seconds when they are; see docs/testenv.md).
pub fn run() -> anyhow::Result<()> {
    eprintln!("==> test environment: cargo xtask testenv install");
    let layout = ray_testenv::Layout::from_env()?;
    crate::testenv::install(&layout, crate::testenv::InstallOptions::default())
        .context("step 'test environment' failed")?;
    let steps = [
        Step {
            name: "formatting",
            args: &["fmt", "--all", "--", "--check"],
            env: &[],
        },
        Step {
            name: "CRDs are up to date",
            args: &["xtask", "crd", "--check"],
            env: &[],
        },
        Step {
            name: "clippy",
            args: &[
                "clippy",
                "--workspace",
                "--all-targets",
                "--",
                "-D",
                "warnings",
            ],
            env: &[],
        },
        Step {
            name: "docs",
            args: &["doc", "--workspace", "--no-deps"],
            env: &[("RUSTDOCFLAGS", "-D warnings")],
        },
        Step {
            name: "tests",
            args: &["test", "--workspace"],
            env: &[],
        },
        Step {
            // A smoke run of the scale benchmark beside KubeRay v1.6.2, each on its own control plane (about two
            // minutes): both operators, the audit-log request counts and the side-by-side report must work. No
            // timing is asserted; docs/performance.md has the numbers.
            name: "scale benchmark (small preset, beside KubeRay)",
            args: &[
                "xtask",
                "bench",
                "scale",
                "--preset",
                "small",
                "--debug",
                "--compare",
                "kuberay",
            ],
            env: &[],
        },
    ];
    for step in &steps {
        eprintln!("==> {}: cargo {}", step.name, step.args.join(" "));
        let status = Command::new(cargo())
            .args(step.args)
            .envs(step.env.iter().copied())
            .status()
            .with_context(|| format!("starting cargo for step '{}'", step.name))?;
        if !status.success() {
            bail!("step '{}' failed ({status})", step.name);
        }
    }
    Ok(())
}

/// The cargo that runs us (so `cargo +toolchain xtask test` stays on that toolchain).
fn cargo() -> std::ffi::OsString {
    std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into())
}
