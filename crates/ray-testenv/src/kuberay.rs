//! KubeRay's own operator (`github.com/ray-project/kuberay/ray-operator`), run against a local control plane so the
//! benchmark can compare ours with it under the same load.
//!
//! `cargo xtask testenv install` builds it from its published Go module (`xtask/testenv-go/kuberay-<version>/`;
//! none of its code is in this repository) into `<cache>/kuberay-<version>/`: `bin/kuberay-operator` and `crds/`,
//! the release's CRDs copied from the module, so the cache alone can install and run it. [`KUBERAY_VERSION`] is
//! always built; other releases with `cargo xtask testenv install --kuberay <version>`.
//!
//! KubeRay's CRDs and ours are both `rayclusters.ray.io` (and so on): a control plane holds one or the other, so
//! KubeRay needs a [`crate::ControlPlane`] of its own, never [`crate::ControlPlane::shared`].
//!
//! The operator runs like the control plane's components: in a process group of its own under a run directory
//! (`kr-*` in the temp dir, with `logs/kuberay-operator.log`), stopped when [`KubeRayOperator`] is dropped and by the
//! watchdog if its owner dies (see "Nothing outlives its owner" in the crate docs).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::control_plane::wait_for;
use crate::error::{Error, INSTALL_COMMAND, Result};
use crate::layout::{Binary, Layout};
use crate::ports::free_ports;
use crate::process::{Supervisor, clean_stale_runs, log_tail};

/// The KubeRay release every `cargo xtask testenv install` builds: the newest the Go module proxy serves.
pub const KUBERAY_VERSION: &str = "v1.6.2";
/// The KubeRay release of the API this project started from; built on request (`--kuberay v1.2.2`).
pub const KUBERAY_SEED_VERSION: &str = "v1.2.2";
/// Every KubeRay release `xtask/testenv-go/` has a module for.
pub const KUBERAY_VERSIONS: [&str; 2] = [KUBERAY_VERSION, KUBERAY_SEED_VERSION];
/// The Go module (and main package) of KubeRay's operator.
pub const KUBERAY_MODULE: &str = "github.com/ray-project/kuberay/ray-operator";

/// Prefix of the operator's run directories under the temp dir, used to find and clean stale ones.
const RUN_PREFIX: &str = "kr-";
/// The component name: the log file and error messages use it.
const NAME: &str = "kuberay-operator";

impl Layout {
    /// `<cache>/kuberay-<version>`: `bin/` and `crds/`.
    pub fn kuberay_dir(&self, version: &str) -> PathBuf {
        self.root().join(format!("kuberay-{version}"))
    }

    /// KubeRay's operator binary of `version`.
    pub fn kuberay_bin(&self, version: &str) -> PathBuf {
        self.kuberay_dir(version).join("bin").join(NAME)
    }

    /// The CRDs of KubeRay `version` (`config/crd/bases/*.yaml` of its module), for [`crate::install_crds`].
    pub fn kuberay_crd_dir(&self, version: &str) -> PathBuf {
        self.kuberay_dir(version).join("crds")
    }

    /// KubeRay's own sample manifests of `version` (`config/samples/` of its module, subdirectories kept): the corpus
    /// of manifests as KubeRay's users write them.
    pub fn kuberay_samples_dir(&self, version: &str) -> PathBuf {
        self.kuberay_dir(version).join("samples")
    }

    /// KubeRay's operator of `version`. It has no version flag, so the version is read from the Go build info
    /// embedded in the binary (what `go version -m` prints).
    pub fn kuberay(&self, version: &str) -> Binary {
        Binary::new(
            &format!("kuberay-operator {version}"),
            self.kuberay_bin(version),
            version,
        )
        .go_build_info(KUBERAY_MODULE)
    }

    /// Checks that KubeRay `version` is installed: the binary of that version and its CRDs. A missing one names
    /// the install command with the `--kuberay` flag that builds it.
    pub fn check_kuberay(&self, version: &str) -> Result<()> {
        let binary = self.kuberay(version);
        let crds = self.kuberay_crd_dir(version);
        let has_crds = crate::manifests::yaml_files(&crds).is_ok_and(|files| !files.is_empty());
        let has_samples = crate::manifests::yaml_files(&self.kuberay_samples_dir(version))
            .is_ok_and(|files| !files.is_empty());
        if !binary.path.is_file() || !has_crds || !has_samples {
            let hint = if version == KUBERAY_VERSION {
                INSTALL_COMMAND.to_owned()
            } else {
                format!("{INSTALL_COMMAND} --kuberay {version}")
            };
            return Err(Error::Other(format!(
                "KubeRay {version} is not installed in {} (needs bin/{NAME}, crds/ and samples/): build it with `{hint}`{}",
                self.kuberay_dir(version).display(),
                if KUBERAY_VERSIONS.contains(&version) {
                    String::new()
                } else {
                    format!(
                        " (only {} have a module in xtask/testenv-go/)",
                        KUBERAY_VERSIONS.join(" and ")
                    )
                }
            )));
        }
        binary.check().map(|_| ())
    }
}

/// How to run KubeRay's operator.
#[derive(Debug, Clone)]
pub struct KubeRayOptions {
    /// Where the binary is.
    pub layout: Layout,
    /// Which installed release to run ([`KUBERAY_VERSION`], [`KUBERAY_SEED_VERSION`]).
    pub version: String,
    /// The control plane to manage ([`crate::ControlPlane::kubeconfig`]); passed as `--kubeconfig`.
    pub kubeconfig: PathBuf,
    /// `--reconcile-concurrency`: workers per controller (KubeRay's default is 1).
    pub reconcile_concurrency: u32,
    /// `--qps` of its Kubernetes client. Releases without the flag (v1.2.2) ignore it and run with
    /// controller-runtime's default (20 QPS, burst 30); [`KubeRayOperator::ignored_flags`] says so.
    pub qps: Option<f64>,
    /// `--burst` of its Kubernetes client; see [`Self::qps`].
    pub burst: Option<u32>,
    /// More arguments, appended as given (`--watch-namespace=...`, `--enable-metrics`, ...).
    pub extra_args: Vec<String>,
}

impl KubeRayOptions {
    /// Release `version` against the control plane of `kubeconfig`, one worker per controller, KubeRay's own client
    /// limits, binaries from [`Layout::from_env`].
    pub fn new(version: &str, kubeconfig: &Path) -> Result<Self> {
        Ok(Self {
            layout: Layout::from_env()?,
            version: version.to_owned(),
            kubeconfig: kubeconfig.to_owned(),
            reconcile_concurrency: 1,
            qps: None,
            burst: None,
            extra_args: Vec::new(),
        })
    }
}

/// A running KubeRay operator; dropping it stops the process and removes its run directory.
#[derive(Debug)]
pub struct KubeRayOperator {
    version: String,
    pid: u32,
    metrics_url: String,
    args: Vec<String>,
    ignored: Vec<String>,
    supervisor: Supervisor,
}

impl KubeRayOperator {
    /// Starts the operator (leader election and webhooks off, metrics and health probes on free loopback ports)
    /// and waits until its controllers run: the health probe answers and the RayCluster controller has started
    /// its workers, which controller-runtime does once its caches are synced.
    pub async fn start(options: KubeRayOptions) -> Result<KubeRayOperator> {
        let version = options.version.as_str();
        options.layout.check_kuberay(version)?;
        let binary = options.layout.kuberay_bin(version);
        let flags = supported_flags(&binary)?;
        let temp = std::env::temp_dir();
        clean_stale_runs(&temp, RUN_PREFIX);
        let dir = tempfile::Builder::new()
            .prefix(RUN_PREFIX)
            .tempdir_in(&temp)
            .map_err(Error::io(format!(
                "creating a run directory in {}",
                temp.display()
            )))?
            .keep();
        let mut supervisor = Supervisor::new(&dir, true)?;
        let ports = free_ports(2)?;
        let probe_url = format!("http://127.0.0.1:{}", ports[1]);
        let mut args = vec![
            format!("--kubeconfig={}", options.kubeconfig.display()),
            format!("--metrics-addr=127.0.0.1:{}", ports[0]),
            format!("--health-probe-bind-address=127.0.0.1:{}", ports[1]),
            "--enable-leader-election=false".to_owned(),
            format!("--reconcile-concurrency={}", options.reconcile_concurrency),
            // Readable logs for a person; the default is JSON.
            "--log-stdout-encoder=console".to_owned(),
        ];
        let mut ignored = Vec::new();
        let client_limits = [
            ("qps", options.qps.map(|q| q.to_string())),
            ("burst", options.burst.map(|b| b.to_string())),
        ];
        for (flag, value) in client_limits {
            let Some(value) = value else { continue };
            if flags.iter().any(|f| f == flag) {
                args.push(format!("--{flag}={value}"));
            } else {
                ignored.push(format!("--{flag}={value}"));
            }
        }
        args.extend(options.extra_args.iter().cloned());
        let mut cmd = Command::new(&binary);
        cmd.args(&args)
            .current_dir(&dir)
            // `--kubeconfig` wins over KUBECONFIG in controller-runtime; removing it keeps a stray one out of sight.
            .env_remove("KUBECONFIG")
            // KubeRay registers its validating webhook only when this is "true"; a webhook needs certificates and
            // a Service the API server can reach, which a local control plane does not have.
            .env("ENABLE_WEBHOOKS", "false");
        let pid = supervisor.spawn(NAME, cmd)?;
        let mut operator = KubeRayOperator {
            version: version.to_owned(),
            pid,
            metrics_url: format!("http://127.0.0.1:{}/metrics", ports[0]),
            args,
            ignored,
            supervisor,
        };
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .map_err(Error::http("building an HTTP client"))?;
        let readyz = format!("{probe_url}/readyz");
        let log = operator.log_path();
        wait_for(
            &mut operator.supervisor,
            NAME,
            Duration::from_secs(120),
            || {
                let http = http.clone();
                let readyz = readyz.clone();
                let log = log.clone();
                async move {
                    let status = http
                        .get(&readyz)
                        .send()
                        .await
                        .map_err(|e| format!("GET {readyz}: {e}"))?
                        .status();
                    if !status.is_success() {
                        return Err(format!("GET {readyz}: {status}"));
                    }
                    if controllers_started(&log_tail(&log, 400)) {
                        Ok(Some(()))
                    } else {
                        Err("the RayCluster controller has not started its workers yet".into())
                    }
                }
            },
        )
        .await?;
        Ok(operator)
    }

    /// The release that runs.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The operator's process id (for `/proc/<pid>/stat` and `status`: CPU time, memory).
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Its Prometheus endpoint, `http://127.0.0.1:<port>/metrics` (controller-runtime's metrics).
    pub fn metrics_url(&self) -> &str {
        &self.metrics_url
    }

    /// The arguments it was started with.
    pub fn args(&self) -> &[String] {
        &self.args
    }

    /// Requested flags this release does not have (`--qps`/`--burst` on v1.2.2), which were left out.
    pub fn ignored_flags(&self) -> &[String] {
        &self.ignored
    }

    /// Its log (stdout and stderr).
    pub fn log_path(&self) -> PathBuf {
        self.supervisor.log_path(NAME)
    }

    /// The run directory.
    pub fn dir(&self) -> &Path {
        self.supervisor.dir()
    }

    /// Fails if the operator has exited, with its log tail.
    pub fn check_running(&mut self) -> Result<()> {
        self.supervisor.check_running(NAME)
    }

    /// Stops it now (the same as dropping it).
    pub fn stop(mut self) {
        self.supervisor.shutdown();
    }
}

/// The flag names `binary --help` lists (Go's `flag` package: one `  -name type` line per flag).
fn supported_flags(binary: &Path) -> Result<Vec<String>> {
    let out = Command::new(binary)
        .arg("--help")
        .output()
        .map_err(Error::io(format!("running {} --help", binary.display())))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(parse_flags(&text))
}

fn parse_flags(help: &str) -> Vec<String> {
    help.lines()
        .filter_map(|line| line.strip_prefix("  -"))
        .filter_map(|rest| rest.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

/// Whether controller-runtime has logged that the RayCluster controller started its workers. The controller is
/// named by the logger (`controllers.RayCluster`) in v1.6.2 and by a `controller` field in other releases.
fn controllers_started(log: &str) -> bool {
    log.lines()
        .any(|l| l.contains("Starting workers") && l.to_ascii_lowercase().contains("raycluster"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_go_flag_help() {
        let help = "Usage of kuberay-operator:\n  -burst int\n    \tThe maximum burst (default 200)\n  -enable-leader-election\n    \tEnable leader election\n  -qps float\n    \tThe QPS value\n";
        assert_eq!(
            parse_flags(help),
            vec!["burst", "enable-leader-election", "qps"]
        );
    }

    #[test]
    fn a_missing_release_names_the_flag_that_builds_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let layout = Layout::at(dir.path());
        let msg = layout
            .check_kuberay(KUBERAY_SEED_VERSION)
            .expect_err("empty cache")
            .to_string();
        assert!(
            msg.contains("cargo xtask testenv install --kuberay v1.2.2"),
            "{msg}"
        );
        let msg = layout
            .check_kuberay(KUBERAY_VERSION)
            .expect_err("empty cache")
            .to_string();
        assert!(msg.contains("`cargo xtask testenv install`"), "{msg}");
        assert_eq!(
            layout.kuberay_bin("v1.6.2"),
            dir.path().join("kuberay-v1.6.2/bin/kuberay-operator")
        );
    }

    #[test]
    fn workers_started_is_read_from_the_log() {
        let log = "2026-01-01T00:00:00Z\tinfo\tcontrollers.RayCluster\tStarting workers\t{\"worker count\": 1}";
        assert!(controllers_started(log));
        let json =
            r#"{"level":"info","msg":"Starting workers","controller":"raycluster-controller"}"#;
        assert!(controllers_started(json));
        assert!(!controllers_started("INFO\tStarting EventSource"));
    }
}
