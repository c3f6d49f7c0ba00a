//! `cargo xtask test`: the project's one test command, the same locally and in CI.

use std::ffi::OsString;
use std::process::Command;

use anyhow::{Context, bail};

/// One check: a name for messages, cargo's arguments, extra environment, and what to do before cargo runs (it
/// returns more environment).
struct Step {
    name: &'static str,
    args: &'static [&'static str],
    env: &'static [(&'static str, &'static str)],
    prepare: Option<Prepare>,
}

/// Work before a step's cargo command; returns environment variables for it.
type Prepare = fn() -> anyhow::Result<Vec<(&'static str, OsString)>>;

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
            prepare: None,
        },
        Step {
            name: "CRDs are up to date",
            args: &["xtask", "crd", "--check"],
            env: &[],
            prepare: None,
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
            prepare: None,
        },
        Step {
            name: "docs",
            args: &["doc", "--workspace", "--no-deps"],
            env: &[("RUSTDOCFLAGS", "-D warnings")],
            prepare: None,
        },
        Step {
            // The published crates' manifests and `cargo publish --dry-run`, building each package on its own
            // (docs/api-crates.md). Nothing is uploaded.
            name: "publishable crates",
            args: &["xtask", "publish-check"],
            env: &[],
            prepare: None,
        },
        Step {
            name: "tests",
            args: &["test", "--workspace"],
            env: &[],
            prepare: None,
        },
        Step {
            // The operator's image, built as `cargo xtask image --debug` builds it (buildah, FROM scratch), then
            // checked: its config, and the binary taken out of it running the operator (docs/install.md, "The image").
            name: "image",
            // `--workspace` keeps the features of the "tests" step, so nothing is compiled again.
            args: &["test", "--workspace", "--test", "image"],
            env: &[],
            prepare: Some(build_test_image),
        },
        Step {
            // The short subset of the fault-injection suite (a few minutes): operator kill -9, kube-apiserver down,
            // watches cut and 410 Gone, Ray dashboard faults. The whole suite is `cargo xtask faults`.
            name: "faults (quick subset)",
            args: &["xtask", "faults", "--quick"],
            env: &[],
            prepare: None,
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
            prepare: None,
        },
    ];
    for step in &steps {
        let extra_env = match step.prepare {
            Some(prepare) => {
                eprintln!("==> {}: preparing", step.name);
                prepare().with_context(|| format!("step '{}' failed", step.name))?
            }
            None => Vec::new(),
        };
        eprintln!("==> {}: cargo {}", step.name, step.args.join(" "));
        let status = Command::new(cargo())
            .args(step.args)
            .envs(step.env.iter().copied())
            .envs(extra_env)
            .status()
            .with_context(|| format!("starting cargo for step '{}'", step.name))?;
        if !status.success() {
            bail!("step '{}' failed ({status})", step.name);
        }
    }
    Ok(())
}

/// Builds the image for the "image" step and points its test at it (bins/ray-operator/tests/image.rs). The binary
/// is a debug build: the Dockerfile and the build path are the ones a release uses, at a fraction of the compile
/// time. It is built in the test
/// environment's cache (like the fuzz targets), so a fresh clone reuses the dependencies compiled before.
fn build_test_image() -> anyhow::Result<Vec<(&'static str, OsString)>> {
    let target_dir = ray_testenv::Layout::from_env()?.root().join("image-target");
    let built = crate::image::build(&target_dir, true, None)?;
    eprintln!(
        "image {}: {} ({:.1} MiB)",
        built.reference,
        built.archive.display(),
        crate::image::mib(built.archive_bytes)
    );
    Ok(vec![
        ("RAY_OPERATOR_IMAGE", built.archive.into_os_string()),
        ("RAY_OPERATOR_IMAGE_MAX_MIB", DEBUG_IMAGE_MAX_MIB.into()),
    ])
}

/// The bound on the debug image's archive that the image test asserts (the release bound is the test's default).
const DEBUG_IMAGE_MAX_MIB: &str = "64";

/// The cargo that runs us (so `cargo +toolchain xtask test` stays on that toolchain).
fn cargo() -> std::ffi::OsString {
    std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into())
}
