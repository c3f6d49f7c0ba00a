//! A real Kubernetes control plane on loopback: etcd, kube-apiserver, kube-controller-manager, kube-scheduler, and
//! kwok playing kubelet for a few fake nodes.
//!
//! Start-up takes a few seconds, so a test binary normally shares one instance ([`ControlPlane::shared`]) and gives
//! each test its own namespace ([`crate::create_namespace`]). A dedicated instance ([`ControlPlane::start`]) is for
//! tests that need a pristine cluster or that test the teardown itself.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::ServiceAccount;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client};

use crate::error::{Error, Result};
use crate::layout::Layout;
use crate::nodes;
use crate::pki::{self, Pki};
use crate::ports::{ensure_free, free_ports};
use crate::process::{Supervisor, clean_stale_runs, kill_run, live_owner, log_tail, stale_owner};

/// Prefix of the run directories of control planes under the temp dir, used to find and clean stale ones.
const RUN_PREFIX: &str = "kt-";
/// The Service ClusterIP range; its first address is in the serving certificate.
const SERVICE_CIDR: &str = "10.0.0.0/24";
/// The address range kwok gives pods.
const POD_CIDR: &str = "10.244.0.0/16";
/// The audit log's file name in the run directory.
const AUDIT_LOG: &str = "audit.log";
/// The audit policy's file name in the run directory.
const AUDIT_POLICY: &str = "audit-policy.yaml";
/// Every request at `Metadata` (who, what, result; no bodies). `RequestReceived` is omitted, so a request that
/// returns normally has one event (`ResponseComplete`); a long-running one (watch, logs, exec) has a
/// `ResponseStarted` event when its response begins and a `ResponseComplete` when it ends.
const AUDIT_POLICY_YAML: &str = "apiVersion: audit.k8s.io/v1
kind: Policy
omitStages:
  - RequestReceived
rules:
  - level: Metadata
";

/// How to start a control plane.
#[derive(Debug, Clone)]
pub struct ControlPlaneOptions {
    /// Where the binaries are.
    pub layout: Layout,
    /// How many kwok nodes to create (named `kwok-node-0`, `kwok-node-1`, ...).
    pub nodes: usize,
    /// A directory for certificates, etcd data, kubeconfig and logs. `None`: a fresh `kt-*` directory under the
    /// temp dir. Either way the directory is removed when the control plane stops. A directory left by a run that
    /// crashed is cleaned and reused; one whose owner still runs is refused.
    pub state_dir: Option<PathBuf>,
    /// The API server's port; `None` picks a free one.
    pub apiserver_port: Option<u16>,
    /// Makes the API server log every request's metadata to [`ControlPlane::audit_log_path`], so requests can be
    /// counted by user agent from the server's side (see [`crate::audit`]). Off by default: it costs a synchronous
    /// file write per request and about 1 KiB of disk each.
    pub audit: bool,
}

impl ControlPlaneOptions {
    /// Three nodes, fresh temp directory, free ports, binaries from [`Layout::from_env`].
    pub fn new() -> Result<Self> {
        Ok(Self {
            layout: Layout::from_env()?,
            nodes: 3,
            state_dir: None,
            apiserver_port: None,
            audit: false,
        })
    }
}

/// A running control plane. Dropping it stops every process and removes its directory.
#[derive(Debug)]
pub struct ControlPlane {
    kubeconfig: PathBuf,
    server: String,
    node_names: Vec<String>,
    audit_log: Option<PathBuf>,
    /// etcd's client URL (`http://127.0.0.1:<port>`), for its health check at start and restart.
    etcd_url: String,
    supervisor: Supervisor,
}

/// The one control plane of this process, see [`ControlPlane::shared`]. The error is kept as text so that every
/// test that asks after a failed start gets the same message.
static SHARED: OnceLock<std::result::Result<ControlPlane, String>> = OnceLock::new();

impl ControlPlane {
    /// The control plane shared by every test of this process, started by the first caller (default options).
    ///
    /// Statics are never dropped: the processes are stopped by the watchdog when the process exits (see "Nothing
    /// outlives its owner" in the crate docs). Each test should make its own [`Client`] with [`Self::client`]: a
    /// client is bound to the tokio runtime it was made on, and every `#[tokio::test]` has its own runtime.
    pub async fn shared() -> Result<&'static ControlPlane> {
        let started = tokio::task::spawn_blocking(|| {
            SHARED.get_or_init(|| {
                // A runtime of its own on a plain thread: the caller's runtime may be a current-thread one that is
                // blocked right here, and block_on may not run inside a runtime.
                std::thread::spawn(|| {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .map_err(|e| e.to_string())?;
                    let options = ControlPlaneOptions::new().map_err(|e| e.to_string())?;
                    rt.block_on(ControlPlane::start(options))
                        .map_err(|e| e.to_string())
                })
                .join()
                .unwrap_or_else(|_| Err("starting the control plane panicked".to_owned()))
            })
        })
        .await
        .map_err(|e| Error::Other(format!("starting the shared control plane: {e}")))?;
        started.as_ref().map_err(|msg| Error::Other(msg.clone()))
    }

    /// Starts a control plane and waits until it is ready: API server healthy, controller-manager and scheduler
    /// holding their leases, the `default` service account created, and every kwok node Ready.
    pub async fn start(options: ControlPlaneOptions) -> Result<ControlPlane> {
        options.layout.check_control_plane()?;
        let temp = std::env::temp_dir();
        clean_stale_runs(&temp, RUN_PREFIX);
        let dir = match &options.state_dir {
            Some(dir) => claim_state_dir(dir)?,
            None => tempfile::Builder::new()
                .prefix(RUN_PREFIX)
                .tempdir_in(&temp)
                .map_err(Error::io(format!(
                    "creating a run directory in {}",
                    temp.display()
                )))?
                .keep(),
        };
        let supervisor = Supervisor::new(&dir, true)?;
        // All ports in one call: ports from separate calls can repeat.
        let ports = free_ports(3)?;
        let etcd_ports = [ports[1], ports[2]];
        let apiserver_port = match options.apiserver_port {
            Some(port) => {
                ensure_free("kube-apiserver", port)?;
                port
            }
            None => ports[0],
        };
        let mut plane = ControlPlane {
            kubeconfig: dir.join("kubeconfig"),
            server: format!("https://127.0.0.1:{apiserver_port}"),
            node_names: Vec::new(),
            audit_log: options.audit.then(|| dir.join(AUDIT_LOG)),
            etcd_url: format!("http://127.0.0.1:{}", etcd_ports[0]),
            supervisor,
        };
        match plane.boot(&options, apiserver_port, etcd_ports).await {
            Ok(()) => Ok(plane),
            Err(e) => {
                // Dropping `plane` stops what was started; its logs stay for a person to read.
                plane.supervisor.keep_dir();
                eprintln!(
                    "ray-testenv: the control plane failed to start; its logs are kept in {}",
                    dir.join("logs").display()
                );
                Err(e)
            }
        }
    }

    async fn boot(
        &mut self,
        options: &ControlPlaneOptions,
        apiserver_port: u16,
        etcd_ports: [u16; 2],
    ) -> Result<()> {
        let pki = pki::generate(&self.dir().join("pki"))?;
        write_kubeconfig(&self.kubeconfig, &self.server, &pki)?;
        self.start_etcd(&options.layout, etcd_ports[1]).await?;
        self.start_apiserver(&options.layout, &pki, apiserver_port)
            .await?;
        self.start_controllers(&options.layout, &pki)?;
        let client = self.client().await?;
        self.node_names = (0..options.nodes)
            .map(|i| format!("kwok-node-{i}"))
            .collect();
        for name in &self.node_names {
            nodes::create_fake_node(&client, name).await?;
        }
        self.wait_until_settled(&client).await
    }

    /// The shared control plane (started by the first caller), a client of it, and a fresh namespace
    /// `<prefix>-*` with the project's CRDs installed: what every integration test starts with.
    pub async fn shared_namespace(prefix: &str) -> Result<(&'static ControlPlane, Client, String)> {
        let plane = Self::shared().await?;
        let client = plane.client().await?;
        let namespace = crate::project_namespace(&client, prefix).await?;
        Ok((plane, client, namespace))
    }

    /// A new client for this control plane (admin, `system:masters`), bound to the current tokio runtime.
    pub async fn client(&self) -> Result<Client> {
        let kubeconfig = Kubeconfig::read_from(&self.kubeconfig)
            .map_err(|e| Error::Other(format!("reading {}: {e}", self.kubeconfig.display())))?;
        let config =
            kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
                .await
                .map_err(|e| Error::Other(format!("loading {}: {e}", self.kubeconfig.display())))?;
        Client::try_from(config).map_err(Error::kube("building a Kubernetes client"))
    }

    /// The admin kubeconfig (`export KUBECONFIG=...` makes kubectl use this control plane).
    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    /// The API server URL, `https://127.0.0.1:<port>`.
    pub fn server(&self) -> &str {
        &self.server
    }

    /// Names of the kwok nodes created at start.
    pub fn node_names(&self) -> &[String] {
        &self.node_names
    }

    /// The API server's audit log (JSON lines), when started with [`ControlPlaneOptions::audit`]. It lives in the
    /// run directory, so it is gone once the control plane stops: read it before.
    pub fn audit_log_path(&self) -> Option<&Path> {
        self.audit_log.as_deref()
    }

    /// A reader of [`Self::audit_log_path`], when auditing is on.
    pub fn audit_log(&self) -> Option<crate::audit::AuditLog> {
        self.audit_log.as_deref().map(crate::audit::AuditLog::new)
    }

    /// The run directory: certificates, etcd data, kubeconfig, `logs/<component>.log`.
    pub fn dir(&self) -> &Path {
        self.supervisor.dir()
    }

    /// Process ids of the running components (etcd, kube-apiserver, ..., kwok) and of the watchdog.
    pub fn pids(&self) -> Vec<u32> {
        self.supervisor.pids()
    }

    /// Fails if any component has exited, naming it and showing its log.
    pub fn check_running(&mut self) -> Result<()> {
        for name in COMPONENTS {
            self.supervisor.check_running(name)?;
        }
        Ok(())
    }

    /// Whether the component `name` runs: `false` once it was stopped ([`Self::stop_component`]) or exited by
    /// itself (see [`Self::start_component`]), and for an unknown name.
    pub fn component_running(&mut self, name: &str) -> bool {
        component(name).is_ok_and(|name| self.supervisor.check_running(name).is_ok())
    }

    /// Stops everything now (the same as dropping it).
    pub fn stop(mut self) {
        self.supervisor.shutdown();
    }

    /// Stops one component (`etcd`, `kube-apiserver`, `kube-controller-manager`, `kube-scheduler`, `kwok`):
    /// SIGTERM to its process group, SIGKILL after a grace period of 5 s, and waits until it is gone. For fault
    /// injection: the rest of the control plane keeps running and sees the component vanish, as in a real outage.
    /// [`Self::start_component`] brings it back.
    pub fn stop_component(&mut self, name: &str) -> Result<()> {
        component(name)?;
        self.supervisor.stop(name)
    }

    /// Starts a stopped component again with exactly the command it was first started with (same ports, data
    /// directory and flags; its log is appended to) and waits until it is ready: etcd answers `/health`,
    /// kube-apiserver's `/readyz` says `ok`, the others just run. etcd keeps its data directory, so the cluster
    /// state survives. Also restarts a component that exited by itself (kube-controller-manager and kube-scheduler
    /// exit when they cannot renew their leader lease for about 10 s, for example while the API server is down).
    pub async fn start_component(&mut self, name: &str) -> Result<()> {
        let name = component(name)?;
        self.supervisor.respawn(name)?;
        match name {
            "etcd" => self.wait_for_etcd().await,
            "kube-apiserver" => self.wait_for_apiserver().await,
            _ => self.supervisor.check_running(name),
        }
    }

    async fn start_etcd(&mut self, layout: &Layout, peer_port: u16) -> Result<()> {
        let client_url = &self.etcd_url;
        let peer_url = format!("http://127.0.0.1:{peer_port}");
        let mut cmd = Command::new(layout.etcd_bin().join("etcd"));
        cmd.arg("--name=testenv")
            .arg(format!("--data-dir={}", self.dir().join("etcd").display()))
            .arg(format!("--listen-client-urls={client_url}"))
            .arg(format!("--advertise-client-urls={client_url}"))
            .arg(format!("--listen-peer-urls={peer_url}"))
            .arg(format!("--initial-advertise-peer-urls={peer_url}"))
            .arg(format!("--initial-cluster=testenv={peer_url}"))
            // Test data: durability buys nothing and fsync is the slowest part of etcd on a shared disk.
            .arg("--unsafe-no-fsync=true")
            .arg("--log-level=warn");
        self.supervisor.spawn("etcd", cmd)?;
        self.wait_for_etcd().await
    }

    /// Waits until etcd reports itself healthy.
    async fn wait_for_etcd(&mut self) -> Result<()> {
        let http = reqwest::Client::new();
        let health = format!("{}/health", self.etcd_url);
        wait_for(
            &mut self.supervisor,
            "etcd",
            Duration::from_secs(30),
            || {
                let http = http.clone();
                let health = health.clone();
                async move {
                    let body = http
                        .get(&health)
                        .send()
                        .await
                        .map_err(|e| e.to_string())?
                        .text()
                        .await
                        .map_err(|e| e.to_string())?;
                    Ok(body.contains("\"health\":\"true\"").then_some(()))
                }
            },
        )
        .await
    }

    async fn start_apiserver(&mut self, layout: &Layout, pki: &Pki, port: u16) -> Result<()> {
        let mut cmd = Command::new(layout.kubernetes_bin().join("kube-apiserver"));
        cmd.arg(format!("--etcd-servers={}", self.etcd_url))
            .arg("--bind-address=127.0.0.1")
            .arg("--advertise-address=127.0.0.1")
            .arg(format!("--secure-port={port}"))
            .arg(format!("--cert-dir={}", self.dir().join("pki").display()))
            .arg(format!("--tls-cert-file={}", pki.serving_cert.display()))
            .arg(format!(
                "--tls-private-key-file={}",
                pki.serving_key.display()
            ))
            .arg(format!("--client-ca-file={}", pki.ca_cert.display()))
            .arg(format!(
                "--service-account-key-file={}",
                pki.service_account_pub.display()
            ))
            .arg(format!(
                "--service-account-signing-key-file={}",
                pki.service_account_key.display()
            ))
            .arg("--service-account-issuer=https://kubernetes.default.svc.cluster.local")
            .arg(format!("--service-cluster-ip-range={SERVICE_CIDR}"))
            .arg("--authorization-mode=RBAC")
            .arg("--allow-privileged=true")
            // The `kubernetes` Service's endpoints would be 127.0.0.1, which Endpoints validation rejects.
            .arg("--endpoint-reconciler-type=none")
            .arg("--profiling=false");
        if let Some(log) = &self.audit_log {
            let policy = self.dir().join(AUDIT_POLICY);
            std::fs::write(&policy, AUDIT_POLICY_YAML)
                .map_err(Error::io(format!("writing {}", policy.display())))?;
            cmd.arg(format!("--audit-policy-file={}", policy.display()))
                .arg(format!("--audit-log-path={}", log.display()))
                .arg("--audit-log-format=json")
                // Each event is written before the response is finished, so a reader right after a request sees
                // it; `batch` writes from a queue behind the response and drops events when the queue is full.
                .arg("--audit-log-mode=blocking")
                // 0 disables rotation (the default rotates at 100 MB, which would move events out of the file
                // under a reader's offsets); the file lives only as long as the run directory anyway.
                .arg("--audit-log-maxsize=0")
                .arg("--audit-log-maxbackup=0")
                .arg("--audit-log-maxage=0");
        }
        self.supervisor.spawn("kube-apiserver", cmd)?;
        self.wait_for_apiserver().await
    }

    /// Waits until the API server's `/readyz` says `ok`.
    async fn wait_for_apiserver(&mut self) -> Result<()> {
        let client = self.client().await?;
        wait_for(
            &mut self.supervisor,
            "kube-apiserver",
            Duration::from_secs(90),
            || {
                let client = client.clone();
                async move {
                    let request = http::Request::get("/readyz")
                        .body(Vec::new())
                        .map_err(|e| e.to_string())?;
                    match client.request_text(request).await {
                        Ok(body) if body.trim() == "ok" => Ok(Some(())),
                        Ok(body) => Err(body),
                        Err(e) => Err(e.to_string()),
                    }
                }
            },
        )
        .await
    }

    fn start_controllers(&mut self, layout: &Layout, pki: &Pki) -> Result<()> {
        let kubeconfig = format!("--kubeconfig={}", self.kubeconfig.display());
        let mut cm = Command::new(layout.kubernetes_bin().join("kube-controller-manager"));
        cm.arg(&kubeconfig)
            .arg("--bind-address=127.0.0.1")
            // No HTTPS endpoint: readiness is read from the leader lease instead, and no port can clash.
            .arg("--secure-port=0")
            .arg(format!("--root-ca-file={}", pki.ca_cert.display()))
            .arg(format!(
                "--service-account-private-key-file={}",
                pki.service_account_key.display()
            ))
            .arg(format!("--service-cluster-ip-range={SERVICE_CIDR}"))
            .arg("--cluster-name=ray-testenv")
            .arg("--controllers=*");
        self.supervisor.spawn("kube-controller-manager", cm)?;

        let mut scheduler = Command::new(layout.kubernetes_bin().join("kube-scheduler"));
        scheduler
            .arg(&kubeconfig)
            .arg("--bind-address=127.0.0.1")
            .arg("--secure-port=0");
        self.supervisor.spawn("kube-scheduler", scheduler)?;

        let mut kwok = Command::new(layout.kwok_dir().join("bin").join("kwok"));
        kwok.arg(&kubeconfig)
            .arg(format!("--config={}", layout.kwok_stages().display()))
            .arg("--manage-all-nodes=false")
            .arg(format!(
                "--manage-nodes-with-annotation-selector={}={}",
                nodes::KWOK_ANNOTATION,
                nodes::KWOK_ANNOTATION_VALUE
            ))
            .arg(format!("--cidr={POD_CIDR}"))
            .arg("--node-lease-duration-seconds=40");
        self.supervisor.spawn("kwok", kwok)?;
        Ok(())
    }

    async fn wait_until_settled(&mut self, client: &Client) -> Result<()> {
        let leases: Api<Lease> = Api::namespaced(client.clone(), "kube-system");
        for (component, lease) in [
            ("kube-controller-manager", "kube-controller-manager"),
            ("kube-scheduler", "kube-scheduler"),
        ] {
            wait_for(
                &mut self.supervisor,
                component,
                Duration::from_secs(60),
                || {
                    let leases = leases.clone();
                    async move {
                        match leases.get_opt(lease).await {
                            Ok(Some(l))
                                if l.spec.as_ref().is_some_and(|s| s.holder_identity.is_some()) =>
                            {
                                Ok(Some(()))
                            }
                            Ok(_) => Err(format!("lease kube-system/{lease} not held yet")),
                            Err(e) => Err(e.to_string()),
                        }
                    }
                },
            )
            .await?;
        }
        let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), "default");
        wait_for(
            &mut self.supervisor,
            "kube-controller-manager",
            Duration::from_secs(60),
            || {
                let accounts = accounts.clone();
                async move {
                    match accounts.get_opt("default").await {
                        Ok(Some(_)) => Ok(Some(())),
                        Ok(None) => Err("service account default/default not created yet".into()),
                        Err(e) => Err(e.to_string()),
                    }
                }
            },
        )
        .await?;
        for name in self.node_names.clone() {
            wait_for(
                &mut self.supervisor,
                "kwok",
                Duration::from_secs(60),
                || {
                    let client = client.clone();
                    let name = name.clone();
                    async move {
                        match nodes::is_ready(&client, &name).await {
                            Ok(true) => Ok(Some(())),
                            Ok(false) => Err(format!("node {name} not Ready yet")),
                            Err(e) => Err(e.to_string()),
                        }
                    }
                },
            )
            .await?;
        }
        Ok(())
    }
}

/// Every component, in start order.
const COMPONENTS: [&str; 5] = [
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kwok",
];

/// `name` if it is one of [`COMPONENTS`], as a `'static` name.
fn component(name: &str) -> Result<&'static str> {
    COMPONENTS.into_iter().find(|&c| c == name).ok_or_else(|| {
        Error::Other(format!(
            "no control plane component named {name:?}; the components are {}",
            COMPONENTS.join(", ")
        ))
    })
}

/// Makes `dir` ours: refuses it while another live process owns it, cleans it when its owner crashed.
fn claim_state_dir(dir: &Path) -> Result<PathBuf> {
    if let Some(pid) = live_owner(dir).filter(|&pid| pid != std::process::id()) {
        return Err(Error::StateDirInUse {
            dir: dir.to_owned(),
            pid,
        });
    }
    if let Some(pid) = stale_owner(dir) {
        kill_run(dir);
        eprintln!(
            "ray-testenv: {} holds etcd data and processes of a run that crashed (pid {pid}); cleaning it up",
            dir.display()
        );
    }
    if dir.join("etcd").exists() || dir.join("pki").exists() {
        std::fs::remove_dir_all(dir).map_err(Error::io(format!(
            "removing the leftover state in {}",
            dir.display()
        )))?;
    }
    std::fs::create_dir_all(dir).map_err(Error::io(format!("creating {}", dir.display())))?;
    Ok(dir.to_owned())
}

/// Writes an admin kubeconfig (JSON, which every YAML reader accepts) with absolute paths to the credentials.
fn write_kubeconfig(path: &Path, server: &str, pki: &Pki) -> Result<()> {
    let config = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{
            "name": "ray-testenv",
            "cluster": {"server": server, "certificate-authority": pki.ca_cert},
        }],
        "users": [{
            "name": "ray-testenv-admin",
            "user": {"client-certificate": pki.admin_cert, "client-key": pki.admin_key},
        }],
        "contexts": [{
            "name": "ray-testenv",
            "context": {"cluster": "ray-testenv", "user": "ray-testenv-admin", "namespace": "default"},
        }],
        "current-context": "ray-testenv",
    });
    let text = serde_json::to_string_pretty(&config)
        .map_err(|e| Error::Other(format!("serialising the kubeconfig: {e}")))?;
    std::fs::write(path, text).map_err(Error::io(format!("writing {}", path.display())))
}

/// Polls `probe` every 200 ms until it returns `Ok(Some(value))`, failing early if `component` exits and with its
/// log tail when `timeout` passes. `Err(detail)` and `Ok(None)` both mean "not yet"; the last detail is reported.
pub(crate) async fn wait_for<T, F, Fut>(
    supervisor: &mut Supervisor,
    component: &str,
    timeout: Duration,
    mut probe: F,
) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = std::result::Result<Option<T>, String>>,
{
    let start = Instant::now();
    let mut last = String::from("no answer yet");
    loop {
        supervisor.check_running(component)?;
        match probe().await {
            Ok(Some(value)) => return Ok(value),
            Ok(None) => {}
            Err(detail) => last = detail,
        }
        if start.elapsed() > timeout {
            let log = supervisor.log_path(component);
            return Err(Error::NotReady {
                component: component.to_owned(),
                seconds: timeout.as_secs(),
                detail: last,
                tail: log_tail(&log, 30),
                log,
            });
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
