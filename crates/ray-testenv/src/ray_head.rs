//! A real Ray head on loopback, from the venv `cargo xtask testenv install` creates: the Jobs and Serve REST APIs
//! the operator talks to, answered by the real dashboard.
//!
//! `ray start --head --block` runs in the foreground in a process group of its own, so stopping the group stops the
//! GCS, raylet, dashboard and their workers; the supervisor's sweep catches any Ray process that left the group
//! (they all name the run directory on their command line). `ray stop` is never used: it stops every Ray process
//! of the user on the machine, other heads included.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::control_plane::wait_for;
use crate::error::{Error, Result};
use crate::layout::{Layout, RAY_VERSION};
use crate::ports::{ensure_free, free_ports};
use crate::process::{Supervisor, clean_stale_runs};

/// Prefix of Ray run directories. They live directly in `/tmp`: Ray puts Unix sockets under its temp dir and a
/// socket path may not exceed 107 bytes, so a long `$TMPDIR` would break it.
const RUN_PREFIX: &str = "rt-";
const RUN_PARENT: &str = "/tmp";

/// How to start a Ray head.
#[derive(Debug, Clone)]
pub struct RayHeadOptions {
    /// Where the venv is.
    pub layout: Layout,
    /// The dashboard port; `None` picks a free one. `cargo xtask up` asks for Ray's usual 8265.
    pub dashboard_port: Option<u16>,
    /// `--num-cpus` of the head.
    pub num_cpus: u32,
    /// Start the head with Ray's token authentication (`RAY_AUTH_MODE=token`) and this token: every dashboard
    /// request must then carry `x-ray-authorization: Bearer <token>`.
    pub auth_token: Option<String>,
    /// More environment for the head's Ray processes, as a pod's Ray container would have it (for example
    /// `RAY_CLOUD_INSTANCE_ID` and `RAY_enable_autoscaler_v2`, which the autoscaler tests need).
    pub env: Vec<(String, String)>,
}

impl RayHeadOptions {
    /// One CPU, a free dashboard port, the venv from [`Layout::from_env`].
    pub fn new() -> Result<Self> {
        Ok(Self {
            layout: Layout::from_env()?,
            dashboard_port: None,
            num_cpus: 1,
            auth_token: None,
            env: Vec::new(),
        })
    }
}

/// A running Ray head. Dropping it stops every Ray process it started and removes its directory.
#[derive(Debug)]
pub struct RayHead {
    dashboard_url: String,
    gcs_address: String,
    supervisor: Supervisor,
}

impl RayHead {
    /// Starts the head and waits until the dashboard answers `GET /api/version` with the pinned Ray version.
    ///
    /// Ray still picks a few ports itself (the GCS server's, the workers'), and a port we chose is free only until
    /// Ray binds it; a head that dies of such a clash is started again on fresh ports, up to
    /// three times. Any other failure is reported at once.
    pub async fn start(options: RayHeadOptions) -> Result<RayHead> {
        options.layout.check_ray()?;
        clean_stale_runs(Path::new(RUN_PARENT), RUN_PREFIX);
        let mut attempt = 1;
        loop {
            match Self::start_once(&options).await {
                Err(err) if attempt < START_ATTEMPTS && is_port_clash(&err) => {
                    eprintln!(
                        "ray-testenv: the Ray head lost a port to another process (attempt {attempt} of {START_ATTEMPTS}); starting it again on fresh ports"
                    );
                    attempt += 1;
                }
                result => return result,
            }
        }
    }

    async fn start_once(options: &RayHeadOptions) -> Result<RayHead> {
        // Every port Ray would otherwise take from a fixed default, so two heads (or a head and a developer's own
        // Ray) never collide. All are chosen in one call: ports from separate calls can repeat.
        let p = free_ports(9)?;
        let dashboard_port = match options.dashboard_port {
            Some(port) => {
                ensure_free("the Ray dashboard", port)?;
                port
            }
            None => p[8],
        };
        let dir = new_run_dir()?;
        let supervisor = Supervisor::new(&dir, true)?;
        let mut head = RayHead {
            dashboard_url: format!("http://127.0.0.1:{dashboard_port}"),
            gcs_address: format!("127.0.0.1:{}", p[0]),
            supervisor,
        };
        let mut cmd = venv_command(&options.layout, "ray");
        cmd.args(["start", "--head", "--block"])
            .arg("--node-ip-address=127.0.0.1")
            .arg(format!("--port={}", p[0]))
            .arg("--include-dashboard=true")
            .arg("--dashboard-host=127.0.0.1")
            .arg(format!("--dashboard-port={dashboard_port}"))
            .arg(format!("--dashboard-agent-listen-port={}", p[1]))
            .arg(format!("--dashboard-agent-grpc-port={}", p[2]))
            .arg(format!("--metrics-export-port={}", p[3]))
            .arg(format!("--node-manager-port={}", p[4]))
            .arg(format!("--object-manager-port={}", p[5]))
            .arg(format!("--runtime-env-agent-port={}", p[6]))
            .arg(format!("--ray-client-server-port={}", p[7]))
            .arg(format!("--num-cpus={}", options.num_cpus))
            // Ray's default object store is 30% of RAM in /dev/shm; tests need a sliver of that.
            .arg("--object-store-memory=100000000")
            .arg("--disable-usage-stats")
            .arg(format!("--temp-dir={}", dir.join("t").display()));
        cmd.envs(options.env.iter().map(|(k, v)| (k, v)));
        if let Some(token) = &options.auth_token {
            cmd.env("RAY_AUTH_MODE", "token")
                .env("RAY_AUTH_TOKEN", token);
        }
        head.supervisor.spawn("ray", cmd)?;
        let mut headers = reqwest::header::HeaderMap::new();
        if let Some(token) = &options.auth_token {
            let value = reqwest::header::HeaderValue::from_str(&format!("Bearer {token}"))
                .map_err(|_| {
                    Error::Other("the Ray auth token is not a valid HTTP header value".to_owned())
                })?;
            headers.insert("x-ray-authorization", value);
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .default_headers(headers)
            .build()
            .map_err(Error::http("building an HTTP client"))?;
        let version_url = format!("{}/api/version", head.dashboard_url);
        let jobs_url = format!("{}/api/jobs/", head.dashboard_url);
        let result = wait_for(
            &mut head.supervisor,
            "ray",
            Duration::from_secs(180),
            || {
                let http = http.clone();
                let (version_url, jobs_url) = (version_url.clone(), jobs_url.clone());
                async move {
                    let version: serde_json::Value = http
                        .get(&version_url)
                        .send()
                        .await
                        .map_err(|e| e.to_string())?
                        .error_for_status()
                        .map_err(|e| e.to_string())?
                        .json()
                        .await
                        .map_err(|e| e.to_string())?;
                    let found = version
                        .get("ray_version")
                        .and_then(|v| v.as_str())
                        .unwrap_or("");
                    if found != RAY_VERSION {
                        return Err(format!(
                            "dashboard reports Ray {found:?}, expected {RAY_VERSION}"
                        ));
                    }
                    // The job manager answers only once the head's dashboard agent is up.
                    http.get(&jobs_url)
                        .send()
                        .await
                        .map_err(|e| e.to_string())?
                        .error_for_status()
                        .map_err(|e| e.to_string())?;
                    Ok(Some(()))
                }
            },
        )
        .await
        .map_err(|e| with_ray_logs(e, &dir));
        if result.is_err() {
            head.supervisor.keep_dir();
            eprintln!(
                "ray-testenv: the Ray head failed to start; its logs are kept in {}",
                dir.display()
            );
        }
        result.map(|()| head)
    }

    /// `http://127.0.0.1:<port>`: the dashboard (Jobs API under `/api/jobs/`, Serve under `/api/serve/`).
    pub fn dashboard_url(&self) -> &str {
        &self.dashboard_url
    }

    /// `127.0.0.1:<port>` of the GCS, what `ray start --address` and `ray.init(address=...)` take.
    pub fn gcs_address(&self) -> &str {
        &self.gcs_address
    }

    /// The run directory (Ray's temp dir is `t/` inside it; our log of `ray start` is `logs/ray.log`).
    pub fn dir(&self) -> &Path {
        self.supervisor.dir()
    }

    /// Process ids of `ray start` and of the watchdog. Ray's daemons are found with [`Self::ray_processes`].
    pub fn pids(&self) -> Vec<u32> {
        self.supervisor.pids()
    }

    /// Process ids of every process started for this head (GCS, raylet, dashboard, workers, ...).
    pub fn ray_processes(&self) -> Vec<u32> {
        crate::process::processes_mentioning(self.supervisor.dir())
    }

    /// Stops the head now (the same as dropping it).
    pub fn stop(mut self) {
        self.supervisor.shutdown();
    }

    /// Starts a Ray worker node that joins this head with `num_cpus` CPUs and the environment `env` (a worker
    /// pod's `RAY_CLOUD_INSTANCE_ID` and `RAY_NODE_TYPE_NAME`, say): what the Ray container of a worker pod would
    /// run, since kwok runs no containers. It runs until dropped or stopped, as until its pod is deleted.
    pub fn start_worker(&self, num_cpus: u32, env: &[(String, String)]) -> Result<RayProcess> {
        // Every port the worker would otherwise take from a fixed default (the dashboard agent's 52365, ...).
        let p = free_ports(6)?;
        let mut args = vec![
            "ray".to_owned(),
            "start".to_owned(),
            "--block".to_owned(),
            format!("--address={}", self.gcs_address),
            "--node-ip-address=127.0.0.1".to_owned(),
            format!("--node-manager-port={}", p[0]),
            format!("--object-manager-port={}", p[1]),
            format!("--dashboard-agent-listen-port={}", p[2]),
            format!("--dashboard-agent-grpc-port={}", p[3]),
            format!("--metrics-export-port={}", p[4]),
            format!("--runtime-env-agent-port={}", p[5]),
            format!("--num-cpus={num_cpus}"),
            "--object-store-memory=100000000".to_owned(),
            "--disable-usage-stats".to_owned(),
        ];
        let process = RayProcess::start("ray-worker", &mut args, env, true)?;
        Ok(process)
    }

    /// Runs `argv` (its first word looked up in the venv first) beside this head, in a run directory of its own,
    /// with the venv's `PATH` and `env`: a Ray driver, or `ray kuberay-autoscaler` as the head pod's sidecar would
    /// run it. It runs until it exits, or until the returned process is dropped or stopped.
    pub fn run_in_venv(
        &self,
        name: &str,
        argv: &[String],
        env: &[(String, String)],
    ) -> Result<RayProcess> {
        let mut argv = argv.to_vec();
        RayProcess::start(name, &mut argv, env, false)
    }
}

/// A process started beside a [`RayHead`] (a worker node, a driver, the autoscaler) in a run directory of its own,
/// with its output in `logs/<name>.log`. Dropping it stops it and every process it started.
#[derive(Debug)]
pub struct RayProcess {
    name: String,
    supervisor: Supervisor,
}

impl RayProcess {
    /// Starts `argv` in a new run directory; `temp_dir`: also give it `--temp-dir` there (for `ray start`).
    fn start(
        name: &str,
        argv: &mut Vec<String>,
        env: &[(String, String)],
        temp_dir: bool,
    ) -> Result<RayProcess> {
        let layout = Layout::from_env()?;
        layout.check_ray()?;
        let dir = new_run_dir()?;
        let mut supervisor = Supervisor::new(&dir, true)?;
        if temp_dir {
            argv.push(format!("--temp-dir={}", dir.join("t").display()));
        }
        let Some((program, args)) = argv.split_first() else {
            return Err(Error::Other(format!("no command given for {name}")));
        };
        let mut cmd = venv_command(&layout, program);
        cmd.args(args).envs(env.iter().map(|(k, v)| (k, v)));
        supervisor.spawn(name, cmd)?;
        Ok(RayProcess {
            name: name.to_owned(),
            supervisor,
        })
    }

    /// `Ok` while the process runs; the error says how it exited, with the tail of its output.
    pub fn check_running(&mut self) -> Result<()> {
        self.supervisor.check_running(&self.name)
    }

    /// The last `lines` lines of the process's output.
    pub fn log_tail(&self, lines: usize) -> String {
        crate::process::log_tail(&self.supervisor.log_path(&self.name), lines)
    }

    /// The run directory (a worker's Ray temp dir is `t/` inside it; the output is in `logs/<name>.log`).
    pub fn dir(&self) -> &Path {
        self.supervisor.dir()
    }

    /// Stops the process and everything it started now (the same as dropping it).
    pub fn stop(mut self) {
        self.supervisor.shutdown();
    }
}

/// The directory holding the Serve demo package `ray_operator_demo` (`examples/serve` of this project), which
/// every [`RayHead`] has on its `PYTHONPATH`.
pub fn serve_demo_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/serve")
}

/// A new run directory `/tmp/rt-*` (kept: its [`Supervisor`] removes it).
fn new_run_dir() -> Result<PathBuf> {
    Ok(tempfile::Builder::new()
        .prefix(RUN_PREFIX)
        .tempdir_in(RUN_PARENT)
        .map_err(Error::io(format!(
            "creating a run directory in {RUN_PARENT}"
        )))?
        .keep())
}

/// `program` (from the venv's `bin/` when it is there) with the environment every Ray process here gets: the venv
/// first on `PATH` (job entrypoints such as `python -c ...` must find its Python, as in a Ray image), the Serve demo
/// package on `PYTHONPATH` (the RayService examples deploy `ray_operator_demo.hello:app`, which a pod would mount)
/// and no usage stats.
fn venv_command(layout: &Layout, program: &str) -> Command {
    let venv_bin = layout.ray_venv().join("bin");
    let in_venv = venv_bin.join(program);
    let mut cmd = Command::new(if in_venv.is_file() {
        in_venv
    } else {
        PathBuf::from(program)
    });
    cmd.env("PATH", path_with(&venv_bin))
        .env("VIRTUAL_ENV", layout.ray_venv())
        .env("PYTHONPATH", serve_demo_dir())
        .env("RAY_USAGE_STATS_ENABLED", "0");
    cmd
}

/// `$PATH` with `dir` in front.
fn path_with(dir: &Path) -> std::ffi::OsString {
    let mut paths = vec![dir.to_owned()];
    if let Some(path) = std::env::var_os("PATH") {
        paths.extend(std::env::split_paths(&path));
    }
    std::env::join_paths(paths).unwrap_or_else(|_| dir.as_os_str().to_owned())
}

/// Adds the tail of Ray's own logs (where the reason usually is) to a start-up error.
/// How many times [`RayHead::start`] tries when Ray loses a port to another process.
const START_ATTEMPTS: u32 = 3;

/// Whether a failed start died because a port was taken between our choosing it and Ray binding it: Ray then
/// exits early naming the port ("used by other components") or the bind ("address already in use").
fn is_port_clash(err: &Error) -> bool {
    let text = err.to_string().to_ascii_lowercase();
    text.contains("exited early")
        && (text.contains("used by other components")
            || text.contains("address already in use")
            || text.contains("failed to bind"))
}

fn with_ray_logs(err: Error, dir: &Path) -> Error {
    let logs: PathBuf = dir.join("t").join("session_latest").join("logs");
    let mut extra = String::new();
    for file in [
        "gcs_server.out",
        "raylet.out",
        "dashboard.log",
        "dashboard_agent.log",
    ] {
        let path = logs.join(file);
        if path.is_file() {
            extra.push_str(&format!(
                "\n--- last lines of {} ---\n{}",
                path.display(),
                crate::process::log_tail(&path, 15)
            ));
        }
    }
    if extra.is_empty() {
        return err;
    }
    Error::Other(format!("{err}{extra}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exited(tail: &str) -> Error {
        Error::ProcessExited {
            component: "ray".into(),
            status: "exit status: 1".into(),
            log: PathBuf::from("/tmp/rt-x/logs/ray.log"),
            tail: tail.into(),
        }
    }

    #[test]
    fn a_head_that_lost_a_port_is_started_again() {
        // What Ray 2.60 printed in CI when its own random node-manager port hit the dashboard port we had chosen.
        let clash = exited(
            "ValueError: Ray component dashboard is trying to use a port number 38229 that is used by other components.",
        );
        assert!(is_port_clash(&clash));
        assert!(is_port_clash(&exited(
            "OSError: [Errno 98] Address already in use"
        )));
    }

    #[test]
    fn other_failures_are_reported_at_once() {
        assert!(!is_port_clash(&exited(
            "ModuleNotFoundError: No module named 'ray'"
        )));
        assert!(!is_port_clash(&Error::PortTaken {
            component: "the Ray dashboard".into(),
            port: 8265,
        }));
    }
}
