//! What the scenarios run on: one Ray head for the whole run, and per scenario a dedicated control plane, the
//! operator process(es) and, where a scenario needs them, fault proxies.

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use anyhow::{Context as _, bail};
use k8s_openapi::api::core::v1::Namespace;
use kube::api::PostParams;
use kube::{Api, Client};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use ray_testenv::{ControlPlane, ControlPlaneOptions, FaultProxy, Layout, RayHead, RayHeadOptions};

use super::Settings;

/// The namespace every scenario's objects live in.
pub const NAMESPACE: &str = "faults";

/// Shared by every scenario of a run.
pub struct Suite {
    pub layout: Layout,
    pub binary: PathBuf,
    pub logs: PathBuf,
    pub settings: Settings,
    /// The real Ray head every RayCluster's dashboard is (`--dashboard-url-override`).
    pub head: RayHead,
    /// The port Serve's HTTP proxy listens on in the RayServices' configs.
    pub serve_port: u16,
}

impl Suite {
    pub async fn start(
        layout: Layout,
        binary: PathBuf,
        logs: PathBuf,
        settings: Settings,
    ) -> anyhow::Result<Suite> {
        eprintln!("starting a Ray head...");
        let mut options = RayHeadOptions::new()?;
        options.layout = layout.clone();
        let head = RayHead::start(options).await?;
        let serve_port = ray_testenv::free_ports(1)?[0];
        Ok(Suite {
            layout,
            binary,
            logs,
            settings,
            head,
            serve_port,
        })
    }

    /// A dedicated control plane with the CRDs and the scenario's namespace.
    pub async fn control_plane(&self) -> anyhow::Result<Env> {
        let plane = ControlPlane::start(ControlPlaneOptions {
            layout: self.layout.clone(),
            nodes: 2,
            state_dir: None,
            apiserver_port: None,
            audit: false,
        })
        .await?;
        let client = plane.client().await?;
        ray_testenv::install_crds(&client, &ray_testenv::project_crd_dir()).await?;
        let namespaces: Api<Namespace> = Api::all(client.clone());
        let namespace: Namespace = serde_json::from_value(serde_json::json!({
            "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}
        }))?;
        namespaces
            .create(&PostParams::default(), &namespace)
            .await
            .context("creating the scenario's namespace")?;
        Ok(Env { plane, client })
    }

    /// The flags every operator of the suite runs with; the dashboard is `dashboard` (the head, or a proxy).
    pub fn operator_flags(&self, dashboard: &str) -> Vec<String> {
        [
            "--watch-namespace",
            NAMESPACE,
            "--log-format",
            "json",
            "--dashboard-url-override",
            dashboard,
            "--dashboard-timeout-seconds",
            "2",
            // Old RayService clusters go quickly, so a scenario sees the whole switch.
            "--rayservice-cluster-deletion-delay-seconds",
            "5",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    }

    /// Starts the operator against `kubeconfig` with the suite's flags and `extra`, logging to `<logs>/<name>.log`.
    pub fn operator(
        &self,
        name: &str,
        kubeconfig: &Path,
        dashboard: &str,
        extra: &[&str],
    ) -> anyhow::Result<Operator> {
        let mut args = self.operator_flags(dashboard);
        args.extend(extra.iter().map(|s| s.to_string()));
        Operator::start(
            &self.binary,
            kubeconfig,
            args,
            &self.logs.join(format!("{name}.log")),
        )
    }
}

/// One scenario's control plane and an admin client of it (which never goes through a fault proxy: the checks
/// must see the truth).
pub struct Env {
    pub plane: ControlPlane,
    pub client: Client,
}

impl Env {
    /// A fault proxy in front of this control plane's API server and a kubeconfig that goes through it.
    pub async fn api_proxy(&self, name: &str) -> anyhow::Result<(FaultProxy, PathBuf)> {
        let proxy = FaultProxy::for_api_server(&self.plane).await?;
        let kubeconfig = self.plane.dir().join(format!("{name}-proxy.kubeconfig"));
        proxy.write_kubeconfig(&kubeconfig)?;
        Ok((proxy, kubeconfig))
    }
}

/// A running `ray-operator run`, restartable with the same flags. Its log is appended to across restarts, so a
/// panic in any incarnation is found. Stopped with SIGTERM (SIGKILL after 10 s) when dropped.
pub struct Operator {
    child: Child,
    binary: PathBuf,
    kubeconfig: PathBuf,
    args: Vec<String>,
    log: PathBuf,
    /// `http://127.0.0.1:<port>/metrics` of the current incarnation.
    pub metrics: String,
    /// How many times it was started.
    pub starts: usize,
}

impl Operator {
    fn start(
        binary: &Path,
        kubeconfig: &Path,
        args: Vec<String>,
        log: &Path,
    ) -> anyhow::Result<Operator> {
        // A fresh log per run of the suite; restarts append.
        std::fs::write(log, "").with_context(|| format!("creating {}", log.display()))?;
        let (child, metrics) = spawn(binary, kubeconfig, &args, log)?;
        Ok(Operator {
            child,
            binary: binary.to_owned(),
            kubeconfig: kubeconfig.to_owned(),
            args,
            log: log.to_owned(),
            metrics,
            starts: 1,
        })
    }

    /// SIGKILL, as the OOM killer or a node failure would, and reaps it.
    pub fn kill9(&mut self) -> anyhow::Result<()> {
        self.child.kill().context("kill -9 of the operator")?;
        self.child.wait().context("reaping the operator")?;
        Ok(())
    }

    /// Starts it again with the same flags (new endpoint ports).
    pub fn restart(&mut self) -> anyhow::Result<()> {
        if self.exited().is_none() {
            bail!("restart of an operator that still runs");
        }
        let (child, metrics) = spawn(&self.binary, &self.kubeconfig, &self.args, &self.log)?;
        self.child = child;
        self.metrics = metrics;
        self.starts += 1;
        Ok(())
    }

    /// The exit status when it has exited on its own (or was killed and not restarted).
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Fails when the operator exited (it must survive every fault but our kills) or logged a panic.
    pub fn check_healthy(&mut self) -> Result<(), String> {
        if let Some(status) = self.exited() {
            return Err(format!(
                "the operator exited ({status}); log {}",
                self.log.display()
            ));
        }
        self.check_no_panic()
    }

    /// Fails when any incarnation logged a panic.
    pub fn check_no_panic(&self) -> Result<(), String> {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        match text.lines().find(|l| l.contains("panicked at")) {
            Some(line) => Err(format!(
                "the operator panicked: {}; log {}",
                line.chars().take(300).collect::<String>(),
                self.log.display()
            )),
            None => Ok(()),
        }
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        if self.exited().is_some() {
            return;
        }
        if let Ok(pid) = i32::try_from(self.child.id()) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::time::Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn(
    binary: &Path,
    kubeconfig: &Path,
    args: &[String],
    log: &Path,
) -> anyhow::Result<(Child, String)> {
    let ports = ray_testenv::free_ports(2)?;
    let metrics = format!("127.0.0.1:{}", ports[0]);
    let health = format!("127.0.0.1:{}", ports[1]);
    let out = OpenOptions::new()
        .append(true)
        .create(true)
        .open(log)
        .with_context(|| format!("opening {}", log.display()))?;
    let child = Command::new(binary)
        .arg("run")
        .args(args)
        .args(["--metrics-addr", &metrics, "--health-addr", &health])
        .env("KUBECONFIG", kubeconfig)
        .env(
            "RUST_LOG",
            std::env::var("FAULTS_OPERATOR_LOG").unwrap_or_else(|_| "info".into()),
        )
        .stdout(Stdio::null())
        .stderr(out)
        .spawn()
        .with_context(|| format!("starting {}", binary.display()))?;
    Ok((child, format!("http://{metrics}/metrics")))
}
