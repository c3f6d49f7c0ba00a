//! `cargo xtask`: developer commands for this workspace.

use clap::{Parser, Subcommand};

mod crd;
mod test;

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
        #[arg(long)]
        check: bool,
    },
    /// Run every check CI runs: formatting, CRD freshness, clippy, docs and the whole test suite.
    Test,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Crd { check } => crd::run(check),
        Command::Test => test::run(),
    }
}
