//! `cargo xtask up` and `cargo xtask down`: a local Kubernetes control plane with our CRDs, and a local Ray head,
//! for a person to try the project on a machine with no cluster.
//!
//! `up` builds what is missing (see [`crate::testenv`]), starts the control plane with its state in the cache's
//! `session/` directory, installs the CRDs from `config/crd/`, starts a Ray head, applies `--apply` manifests,
//! prints `export KUBECONFIG=...` and waits for Ctrl-C. With `--detach` it runs the same session as a background
//! process and returns once it is ready; `down` stops it. A pid file in `session/` keeps two sessions from starting.
//!
//! The operator (`bins/ray-operator`, built here if needed) runs as a child process against the control plane,
//! started after the CRDs and before the manifests are applied; its log is `logs/ray-operator.log` in the control
//! plane's directory. `--no-operator` leaves it out (to run it yourself, e.g. under a debugger). With the Ray head
//! running, the operator gets `--dashboard-url-override` pointing at it, so a RayJob applied here really runs on
//! the local head.

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use ray_testenv::{
    ControlPlane, ControlPlaneOptions, Layout, RayHead, RayHeadOptions, apply_file, ensure_free,
    install_crds, is_running, yaml_files,
};

use crate::crd::workspace_root;
use crate::operator::Operator;
use crate::testenv::{InstallOptions, install};

/// Options of `cargo xtask up`.
#[derive(Debug, Clone, clap::Args)]
pub struct UpArgs {
    /// Apply the objects in FILE (server-side apply) once the CRDs are installed; may be repeated, e.g.
    /// `--apply examples/ray-cluster.sample.yaml`.
    #[arg(long = "apply", value_name = "FILE")]
    apply: Vec<PathBuf>,
    /// Do not start the operator (run `ray-operator run` yourself with the printed KUBECONFIG).
    #[arg(long)]
    no_operator: bool,
    /// Run in the background and return once everything is ready; stop it with `cargo xtask down`.
    #[arg(long)]
    detach: bool,
    /// Do not start the local Ray head.
    #[arg(long)]
    no_ray: bool,
    /// Port of the Ray dashboard (Jobs and Serve REST APIs) on 127.0.0.1.
    #[arg(long, default_value_t = 8265)]
    dashboard_port: u16,
    /// How many kwok (simulated) nodes to create.
    #[arg(long, default_value_t = 3)]
    nodes: usize,
    /// Internal: this process is the background session of `--detach`.
    #[arg(long, hide = true)]
    session_child: bool,
}

/// Files of the session directory.
struct SessionFiles {
    dir: PathBuf,
}

impl SessionFiles {
    fn new(layout: &Layout) -> Self {
        Self {
            dir: layout.session_dir(),
        }
    }
    fn pid(&self) -> PathBuf {
        self.dir.join("up.pid")
    }
    fn ready(&self) -> PathBuf {
        self.dir.join("ready")
    }
    fn log(&self) -> PathBuf {
        self.dir.join("up.log")
    }
    fn control_plane(&self) -> PathBuf {
        self.dir.join("control-plane")
    }

    /// The pid of a running session, if any; removes the files of one that died.
    fn running(&self) -> Option<u32> {
        let pid: u32 = std::fs::read_to_string(self.pid())
            .ok()?
            .trim()
            .parse()
            .ok()?;
        if is_running(pid) && pid != std::process::id() {
            return Some(pid);
        }
        let _ = std::fs::remove_file(self.pid());
        let _ = std::fs::remove_file(self.ready());
        None
    }
}

/// `cargo xtask up`.
pub fn up(args: &UpArgs) -> anyhow::Result<()> {
    let layout = Layout::from_env()?;
    let files = SessionFiles::new(&layout);
    if let Some(pid) = files.running() {
        bail!(
            "a session is already running (pid {pid}); its kubeconfig is {}. Stop it with `cargo xtask down`",
            files.control_plane().join("kubeconfig").display()
        );
    }
    for file in &args.apply {
        if !file.is_file() {
            bail!("--apply {}: no such file", file.display());
        }
    }
    if !args.no_ray && !args.session_child {
        // Before minutes of building and starting, not after.
        ensure_free(
            "the Ray dashboard (choose another with --dashboard-port)",
            args.dashboard_port,
        )?;
    }
    if !args.session_child {
        install(
            &layout,
            InstallOptions {
                skip_go: false,
                skip_ray: args.no_ray,
            },
        )?;
    }
    if args.detach && !args.session_child {
        return detach(args, &files);
    }
    std::fs::create_dir_all(&files.dir)
        .with_context(|| format!("creating {}", files.dir.display()))?;
    std::fs::write(files.pid(), std::process::id().to_string())
        .with_context(|| format!("writing {}", files.pid().display()))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    let result = runtime.block_on(session(args, &layout, &files));
    let _ = std::fs::remove_file(files.ready());
    let _ = std::fs::remove_file(files.pid());
    result
}

/// Starts everything, reports, waits for Ctrl-C or SIGTERM, then stops everything (by dropping it).
async fn session(args: &UpArgs, layout: &Layout, files: &SessionFiles) -> anyhow::Result<()> {
    let started = Instant::now();
    eprintln!("starting the control plane ({} kwok nodes)...", args.nodes);
    let plane = ControlPlane::start(ControlPlaneOptions {
        layout: layout.clone(),
        nodes: args.nodes,
        state_dir: Some(files.control_plane()),
        apiserver_port: None,
        audit: false,
    })
    .await?;
    let client = plane.client().await?;
    eprintln!(
        "control plane ready at {} ({:.0} s)",
        plane.server(),
        started.elapsed().as_secs_f64()
    );

    let crd_dir = workspace_root().join("config/crd");
    if yaml_files(&crd_dir).is_ok_and(|f| !f.is_empty()) {
        for name in install_crds(&client, &crd_dir).await? {
            eprintln!("  CRD {name} established");
        }
    } else {
        eprintln!(
            "  no CRDs in {} (generate them with `cargo xtask crd`)",
            crd_dir.display()
        );
    }

    let ray = if args.no_ray {
        None
    } else {
        eprintln!("starting the Ray head...");
        let head = RayHead::start(RayHeadOptions {
            layout: layout.clone(),
            dashboard_port: Some(args.dashboard_port),
            num_cpus: 1,
            auth_token: None,
            env: Vec::new(),
        })
        .await?;
        eprintln!("Ray head ready, dashboard {}", head.dashboard_url());
        Some(head)
    };

    let operator = if args.no_operator {
        None
    } else {
        Some(start_operator(
            &plane,
            ray.as_ref().map(RayHead::dashboard_url),
        )?)
    };

    for file in &args.apply {
        for applied in apply_file(&client, file, "default").await? {
            eprintln!("  applied {applied}");
        }
    }

    print_summary(&plane, ray.as_ref(), args.detach);
    if operator.is_none() {
        eprintln!("The operator is not started (--no-operator).");
    }
    std::fs::write(files.ready(), plane.kubeconfig().display().to_string())
        .with_context(|| format!("writing {}", files.ready().display()))?;
    wait_for_stop().await?;
    eprintln!("stopping...");
    drop(operator);
    drop(ray);
    drop(plane);
    eprintln!("stopped");
    Ok(())
}

fn print_summary(plane: &ControlPlane, ray: Option<&RayHead>, detached: bool) {
    let kubeconfig = plane.kubeconfig().display();
    eprintln!();
    eprintln!("The local control plane is up. In another terminal:");
    eprintln!();
    eprintln!("    export KUBECONFIG={kubeconfig}");
    eprintln!("    kubectl get nodes");
    eprintln!("    kubectl get rayclusters,rayjobs,rayservices,raycronjobs,pods -A");
    eprintln!();
    if let Some(head) = ray {
        eprintln!(
            "Ray head: dashboard {} (Jobs API {}/api/jobs/), GCS {}",
            head.dashboard_url(),
            head.dashboard_url(),
            head.gcs_address()
        );
    }
    eprintln!(
        "Logs of every component: {}",
        plane.dir().join("logs").display()
    );
    if detached {
        eprintln!("Stop it with `cargo xtask down`.");
    } else {
        eprintln!("Press Ctrl-C to stop everything.");
    }
}

/// Builds `ray-operator` (a no-op when it is up to date) and starts `ray-operator run` against the plane.
///
/// With a local Ray head, every RayCluster's dashboard is mapped to it (`--dashboard-url-override`): the clusters'
/// head pods are simulated by kwok and their Services do not resolve on this machine, so RayJobs are submitted to,
/// and run on, the local head.
fn start_operator(plane: &ControlPlane, dashboard_url: Option<&str>) -> anyhow::Result<Operator> {
    eprintln!("building and starting the operator...");
    let binary = crate::operator::build(false)
        .context("building the operator (pass --no-operator to skip it)")?;
    let log_path = plane.dir().join("logs/ray-operator.log");
    let args: Vec<String> = dashboard_url
        .map(|url| format!("--dashboard-url-override={url}"))
        .into_iter()
        .collect();
    let operator = Operator::spawn(&binary, &args, &[], plane.kubeconfig(), &log_path)?;
    eprintln!(
        "  operator running (pid {}), log {}",
        operator.pid(),
        log_path.display()
    );
    if let Some(url) = dashboard_url {
        eprintln!("  every RayCluster's dashboard is mapped to the local Ray head at {url}");
    }
    Ok(operator)
}

async fn wait_for_stop() -> anyhow::Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("listening for SIGTERM")?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r.context("listening for Ctrl-C")?,
        _ = term.recv() => {}
    }
    Ok(())
}

/// Starts this same command as a background session and streams its log until it is ready or fails.
fn detach(args: &UpArgs, files: &SessionFiles) -> anyhow::Result<()> {
    std::fs::create_dir_all(&files.dir)
        .with_context(|| format!("creating {}", files.dir.display()))?;
    let _ = std::fs::remove_file(files.ready());
    let log = std::fs::File::create(files.log())
        .with_context(|| format!("creating {}", files.log().display()))?;
    let log_err = log.try_clone().context("opening the session log")?;
    let exe = std::env::current_exe().context("locating the xtask binary")?;
    let mut cmd = Command::new(exe);
    cmd.args(["up", "--session-child", "--detach"])
        .arg(format!("--dashboard-port={}", args.dashboard_port))
        .arg(format!("--nodes={}", args.nodes));
    if args.no_operator {
        cmd.arg("--no-operator");
    }
    if args.no_ray {
        cmd.arg("--no-ray");
    }
    for file in &args.apply {
        let absolute =
            std::path::absolute(file).with_context(|| format!("resolving {}", file.display()))?;
        cmd.arg("--apply").arg(absolute);
    }
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err)
        // Its own process group: the terminal's Ctrl-C and hang-up are for this command, not the session.
        .process_group(0)
        .spawn()
        .context("starting the background session")?;
    let mut reader =
        BufReader::new(std::fs::File::open(files.log()).context("reading the session log")?);
    let mut line = String::new();
    let mut echo_new_lines = || {
        while reader.read_line(&mut line).unwrap_or(0) > 0 {
            eprint!("{line}");
            line.clear();
        }
    };
    loop {
        echo_new_lines();
        if files.ready().is_file() {
            // The summary is written just before the ready file; print what is left of it.
            std::thread::sleep(Duration::from_millis(100));
            echo_new_lines();
            eprintln!(
                "Session running in the background (pid {}, log {}).",
                child.id(),
                files.log().display()
            );
            return Ok(());
        }
        if let Some(status) = child
            .try_wait()
            .context("checking the background session")?
        {
            echo_new_lines();
            bail!(
                "the background session exited ({status}) before it was ready; see above and {}",
                files.log().display()
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// `cargo xtask down`: stops a session started by `cargo xtask up` (detached or in another terminal).
pub fn down() -> anyhow::Result<()> {
    let layout = Layout::from_env()?;
    let files = SessionFiles::new(&layout);
    let Some(pid) = files.running() else {
        eprintln!(
            "no session is running ({} has no live pid)",
            files.pid().display()
        );
        return Ok(());
    };
    let raw = i32::try_from(pid).context("pid out of range")?;
    kill(Pid::from_raw(raw), Signal::SIGTERM)
        .with_context(|| format!("signalling the session (pid {pid})"))?;
    eprintln!("stopping the session (pid {pid})...");
    let deadline = Instant::now() + Duration::from_secs(60);
    while is_running(pid) {
        if Instant::now() > deadline {
            // Its watchdog stops the control plane and Ray head once it is gone.
            let _ = kill(Pid::from_raw(raw), Signal::SIGKILL);
            bail!("the session (pid {pid}) did not stop within 60 s; killed it");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    wait_gone_dir(&files.control_plane());
    eprintln!("stopped");
    Ok(())
}

/// The watchdog removes the control plane's directory a moment after the session exits.
fn wait_gone_dir(dir: &Path) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while dir.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
}
