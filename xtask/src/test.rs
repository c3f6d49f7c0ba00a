//! `cargo xtask test`: the project's one test command, the same locally and in CI.

use std::process::Command;

use anyhow::{Context, bail};

/// Runs each check in order and stops at the first failure, naming it.
pub fn run() -> anyhow::Result<()> {
    let steps: &[(&str, &[&str], &[(&str, &str)])] = &[
        ("formatting", &["fmt", "--all", "--", "--check"], &[]),
        ("CRDs are up to date", &["xtask", "crd", "--check"], &[]),
        (
            "clippy",
            &[
                "clippy",
                "--workspace",
                "--all-targets",
                "--",
                "-D",
                "warnings",
            ],
            &[],
        ),
        (
            "docs",
            &["doc", "--workspace", "--no-deps"],
            &[("RUSTDOCFLAGS", "-D warnings")],
        ),
        ("tests", &["test", "--workspace"], &[]),
    ];
    for (name, args, env) in steps {
        eprintln!("==> {name}: cargo {}", args.join(" "));
        let status = Command::new(cargo())
            .args(*args)
            .envs(env.iter().copied())
            .status()
            .with_context(|| format!("starting cargo for step '{name}'"))?;
        if !status.success() {
            bail!("step '{name}' failed ({status})");
        }
    }
    Ok(())
}

/// The cargo that runs us (so `cargo +toolchain xtask test` stays on that toolchain).
fn cargo() -> std::ffi::OsString {
    std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into())
}
