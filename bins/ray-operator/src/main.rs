//! The `ray-operator` binary.

use std::io::Write;

use anyhow::Context;
use clap::{Parser, Subcommand};

mod render;
mod run;

// Other allocators, for measuring (`--features mimalloc` or `jemalloc`); the default is the platform's, which kept
// the least memory in the measurements of docs/performance.md.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[cfg(all(feature = "jemalloc", not(feature = "mimalloc")))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Kubernetes operator for Ray clusters, jobs and services.
#[derive(Debug, Parser)]
#[command(name = "ray-operator", version, about)]
#[command(args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Without a subcommand, the operator runs (`ray-operator` is `ray-operator run`).
    #[command(flatten)]
    run: run::RunArgs,
}

#[derive(Debug, Subcommand)]
// Parsed once at start-up: the size of the `run` flags does not matter.
#[allow(clippy::large_enum_variant)]
enum Command {
    /// Run the operator (the default): reconcile RayClusters until SIGTERM or SIGINT.
    Run(run::RunArgs),
    /// Print the ray.io CustomResourceDefinitions as a YAML stream, ready for `kubectl apply -f -`; with the
    /// --conversion-* options, converting between versions through the operator's webhook.
    Crd(ray_crd::cli::ConversionArgs),
    /// Print every object the operator would create for RayCluster, RayJob and RayService manifests (for a
    /// RayCronJob: the RayJob of its next schedule time), as a YAML stream, without touching a cluster. Invalid
    /// manifests print their errors and exit non-zero.
    Render(render::RenderArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command.unwrap_or(Command::Run(cli.run)) {
        Command::Run(args) => run::run(args)?,
        Command::Crd(conversion) => {
            let webhook = conversion.webhook()?;
            let yaml =
                ray_crd::all_crds_yaml_with(webhook.as_ref()).context("rendering the CRDs")?;
            let mut stdout = std::io::stdout().lock();
            match stdout
                .write_all(yaml.as_bytes())
                .and_then(|()| stdout.flush())
            {
                // The reader stopped early (`ray-operator crd | head`): not an error.
                Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => {}
                other => other.context("writing the CRDs to standard output")?,
            }
        }
        Command::Render(args) => render::run(&args)?,
    }
    Ok(())
}
