//! `cargo xtask`: developer commands for this workspace.

use clap::{Parser, Subcommand};

mod bench;
mod crd;
mod faults;
mod fuzz;
mod image;
mod operator;
mod publish;
mod test;
mod testenv;
mod up;

#[derive(Debug, Parser)]
#[command(name = "cargo xtask")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Write the CRD YAML into config/crd/ (or, with --check, fail when the committed files are stale).
    Crd {
        /// Compare instead of writing; exit non-zero when config/crd/ differs from the generated CRDs.
        #[arg(long, conflicts_with_all = ["conversion_webhook_service", "conversion_webhook_url"])]
        check: bool,
        /// With a conversion webhook, print the CRDs to standard output instead of writing config/crd/ (whose
        /// CRDs always keep the None strategy).
        #[command(flatten)]
        conversion: ray_crd::cli::ConversionArgs,
    },
    /// Run every check CI runs: formatting, CRD freshness, clippy, docs, the publishable crates, the whole test
    /// suite (which replays the fuzz corpus), the image, a short fault-injection run and a small scale benchmark.
    Test,
    /// The local test environment: Kubernetes control-plane binaries and the Ray venv (see docs/testenv.md).
    Testenv {
        #[command(subcommand)]
        command: TestenvCommand,
    },
    /// Start a local control plane with the CRDs, a Ray head and the operator, apply the `--apply` files, print
    /// `export KUBECONFIG=...`, wait for Ctrl-C.
    Up(up::UpArgs),
    /// Stop the session a `cargo xtask up` (usually `--detach`) started.
    Down,
    /// Build the fuzz targets (nightly, cargo-fuzz) and run each for a while; fails on any finding, naming its
    /// reproducer.
    Fuzz(fuzz::FuzzArgs),
    /// Build the operator image (FROM scratch, a static binary, user 65532) with buildah or podman, without a daemon,
    /// into an OCI archive under target/image/, and print how to push it (see docs/install.md).
    Image(image::ImageArgs),
    /// Check that the published library crates (ray-api-v1, ray-api-v1alpha1, ray-builders, ray-dashboard-client)
    /// can go to crates.io: their manifests, then `cargo publish --dry-run` (never uploads; see docs/api-crates.md).
    PublishCheck(publish::PublishCheckArgs),
    /// The fault-injection suite: each scenario injects one fault (operator kill -9, API server or etcd down,
    /// watches cut, 410/429/500 answers, slow answers, Ray dashboard faults, leader lost, clock jumps) into a
    /// running workload and checks the invariants after it (see docs/reliability.md).
    Faults(faults::FaultsArgs),
    /// Benchmarks of the operator (see docs/performance.md).
    Bench {
        #[command(subcommand)]
        command: BenchCommand,
    },
}

#[derive(Debug, Subcommand)]
enum BenchCommand {
    /// Start a dedicated local control plane and the operator, create RayClusters with thousands of pods, and
    /// report convergence time against a plain-client floor, memory, CPU, API requests, writes at steady state
    /// and fairness, as a table and a JSON file.
    Scale(bench::ScaleArgs),
}

#[derive(Debug, Subcommand)]
enum TestenvCommand {
    /// Build kube-apiserver, kube-controller-manager, kube-scheduler, etcd, kwok and KubeRay's operator from their
    /// Go modules and create the Ray venv, into the cache directory; does nothing for what is already there.
    Install {
        /// Do not create the Ray venv.
        #[arg(long)]
        skip_ray: bool,
        /// Do not build the Go binaries (releases named by --kuberay are still built).
        #[arg(long)]
        skip_go: bool,
        /// Also build these KubeRay releases (repeatable or comma-separated; `all`); v1.6.2 is always built.
        #[arg(long, value_name = "VERSION", value_delimiter = ',')]
        kuberay: Vec<String>,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Crd { check, conversion } => match conversion.webhook()? {
            None => crd::run(check),
            Some(webhook) => crd::print_with_conversion(&webhook),
        },
        Command::Test => test::run(),
        Command::Testenv {
            command:
                TestenvCommand::Install {
                    skip_ray,
                    skip_go,
                    kuberay,
                },
        } => {
            let layout = ray_testenv::Layout::from_env()?;
            testenv::install_with(
                &layout,
                testenv::InstallOptions { skip_go, skip_ray },
                &kuberay,
            )
        }
        Command::Up(args) => up::up(&args),
        Command::Down => up::down(),
        Command::Fuzz(args) => fuzz::run(&args),
        Command::Image(args) => image::run(&args),
        Command::PublishCheck(args) => publish::run(&args),
        Command::Faults(args) => faults::run(&args),
        Command::Bench {
            command: BenchCommand::Scale(args),
        } => bench::scale(&args),
    }
}
