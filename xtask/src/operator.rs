//! The operator binary as a child process of an xtask command (`up`, `bench scale`): built with cargo, started with
//! `ray-operator run` against a local control plane, stopped gracefully (SIGTERM) when dropped.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::crd::workspace_root;

/// Builds `ray-operator` with cargo (a no-op when it is up to date) and returns the binary's path. `release`
/// selects the optimised build, which is what benchmarks must measure.
pub fn build(release: bool) -> anyhow::Result<PathBuf> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(&cargo);
    cmd.args(["build", "--quiet", "-p", "ray-operator"]);
    if release {
        cmd.arg("--release");
    }
    let status = cmd
        .current_dir(workspace_root())
        .status()
        .context("running `cargo build -p ray-operator`")?;
    if !status.success() {
        bail!("`cargo build -p ray-operator` failed ({status}); fix the build first");
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"));
    Ok(target
        .join(if release { "release" } else { "debug" })
        .join("ray-operator"))
}

/// A running `ray-operator run`; stopped with SIGTERM (then SIGKILL after 10 s) when dropped.
pub struct Operator {
    child: Child,
}

impl Operator {
    /// Starts `binary run <args>` with `KUBECONFIG=kubeconfig` and `env`, its log (stderr) going to `log`.
    pub fn spawn(
        binary: &Path,
        args: &[String],
        env: &[(&str, &str)],
        kubeconfig: &Path,
        log: &Path,
    ) -> anyhow::Result<Operator> {
        let log_file =
            std::fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
        let child = Command::new(binary)
            .arg("run")
            .args(args)
            .env("KUBECONFIG", kubeconfig)
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        Ok(Operator { child })
    }

    /// The operator's process id (for /proc).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The exit status if the operator has already exited.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        if let Ok(pid) = i32::try_from(self.child.id()) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
