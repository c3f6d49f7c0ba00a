//! The `ray-operator` binary.

use std::io::Write;

use anyhow::Context;
use clap::{Parser, Subcommand};

mod render;

/// Kubernetes operator for Ray clusters, jobs and services.
#[derive(Debug, Parser)]
#[command(name = "ray-operator", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print the ray.io CustomResourceDefinitions as a YAML stream, ready for `kubectl apply -f -`.
    Crd,
    /// Print every object the operator would create for RayCluster, RayJob and RayService manifests, as a YAML
    /// stream, without touching a cluster. Invalid manifests print their errors and exit non-zero.
    Render(render::RenderArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Crd => {
            let yaml = ray_crd::all_crds_yaml().context("rendering the CRDs")?;
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
