//! The `ray-operator` binary.

use std::io::Write;

use anyhow::Context;
use clap::{Parser, Subcommand};

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
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Crd => {
            let yaml = ray_crd::all_crds_yaml().context("rendering the CRDs")?;
            std::io::stdout().write_all(yaml.as_bytes())?;
        }
    }
    Ok(())
}
