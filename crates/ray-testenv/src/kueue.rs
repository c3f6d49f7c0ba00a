//! Kueue (`sigs.k8s.io/kueue`), the job queueing controller, run against a local control plane so tests can check
//! that our operator follows it: Kueue's webhook creates RayJobs and RayClusters suspended, Kueue admits them by
//! clearing `spec.suspend` and preempts them by setting it again.
//!
//! `cargo xtask testenv install` builds its manager from the published Go module (`xtask/testenv-go/kueue/`; none
//! of its code is in this repository) into `<cache>/kueue-<version>/`, with its CRDs and webhook manifests copied
//! from the same module.
//!
//! In a real cluster the API server reaches Kueue's webhooks through a Service, with certificates Kueue makes for
//! that Service's DNS name. Here the API server runs on loopback and pods are fake, so no Service leads anywhere:
//! Kueue's own certificate management is turned off, its webhook server listens on 127.0.0.1 with a certificate
//! made for that address, and its webhook configurations are installed rewritten to
//! `clientConfig.url: https://127.0.0.1:<port>/<path>` with that certificate's CA.
//!
//! Kueue runs like the control plane's components: in a process group of its own under a run directory (`kq-*` in
//! the temp dir, with `logs/kueue.log`), stopped when [`Kueue`] is dropped and by the watchdog if its owner dies.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use k8s_openapi::ByteString;
use k8s_openapi::api::admissionregistration::v1::{
    MutatingWebhookConfiguration, ValidatingWebhookConfiguration,
};
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, Client};
use serde_json::{Value, json};

use crate::control_plane::wait_for;
use crate::error::{Error, Result};
use crate::layout::Layout;
use crate::manifests::{FIELD_MANAGER, install_crds, read_documents};
use crate::pki::generate_loopback_serving;
use crate::ports::free_ports;
use crate::process::{Supervisor, clean_stale_runs};

/// Prefix of Kueue's run directories under the temp dir, used to find and clean stale ones.
const RUN_PREFIX: &str = "kq-";
/// The component name: the log file and error messages use it.
const NAME: &str = "kueue";
/// Where Kueue reads its metrics server's certificate when its own certificate management is off. The path is fixed
/// in `cmd/kueue/main.go` (no flag or setting moves it), and Kueue exits at start when the files are missing.
const METRICS_CERT_DIR: &str = "/etc/kueue/metrics/certs";
/// The names Kueue's release gives its webhook configurations (kustomize's `kueue-` prefix on the base names).
const NAME_PREFIX: &str = "kueue-";

/// How to run Kueue.
#[derive(Debug, Clone)]
pub struct KueueOptions {
    /// Where the binary and manifests are.
    pub layout: Layout,
    /// The control plane to manage ([`crate::ControlPlane::kubeconfig`]).
    pub kubeconfig: PathBuf,
    /// Kueue's own namespace (created if missing; Kueue leaves jobs there alone).
    pub namespace: String,
    /// `integrations.frameworks`: the job kinds Kueue manages.
    pub frameworks: Vec<String>,
    /// The API groups whose webhooks are installed. Kueue's release also has webhooks for Pods, Deployments, Jobs
    /// and other frameworks' kinds, with `failurePolicy: Fail`: installing those would route every such create
    /// through Kueue, for nothing when their integration is off.
    pub webhook_groups: Vec<String>,
}

impl KueueOptions {
    /// Kueue managing RayJobs and RayClusters (only those with a `kueue.x-k8s.io/queue-name` label) on the control
    /// plane of `kubeconfig`, binaries from [`Layout::from_env`].
    pub fn new(kubeconfig: &Path) -> Result<Self> {
        Ok(Self {
            layout: Layout::from_env()?,
            kubeconfig: kubeconfig.to_owned(),
            namespace: "kueue-system".into(),
            frameworks: vec!["ray.io/rayjob".into(), "ray.io/raycluster".into()],
            webhook_groups: vec!["kueue.x-k8s.io".into(), "ray.io".into()],
        })
    }
}

/// A running Kueue manager whose CRDs and webhooks are installed; dropping it stops the process and removes its run
/// directory. Its webhook configurations stay: with `failurePolicy: Fail`, creating a RayJob or RayCluster on that
/// control plane fails once Kueue is gone, so a control plane that ran Kueue should be one of its test binary alone.
#[derive(Debug)]
pub struct Kueue {
    pid: u32,
    webhook_url: String,
    metrics_url: String,
    supervisor: Supervisor,
}

impl Kueue {
    /// Installs Kueue's CRDs, starts its manager (leader election off; webhook, health and metrics servers on
    /// free loopback ports), waits until its webhook server serves, and installs its webhook configurations
    /// pointing there. The ray.io CRDs must be installed first when `frameworks` names them: Kueue looks for each
    /// framework's API when it starts.
    pub async fn start(client: &Client, options: KueueOptions) -> Result<Kueue> {
        options.layout.check_kueue()?;
        ensure_metrics_cert(Path::new(METRICS_CERT_DIR))?;
        install_crds(client, &options.layout.kueue_crd_dir()).await?;
        create_namespace(client, &options.namespace).await?;

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
        let ports = free_ports(3)?;
        let (webhook_port, health_port, metrics_port) = (ports[0], ports[1], ports[2]);
        let cert_dir = dir.join("webhook-certs");
        let ca_bundle = generate_loopback_serving(&cert_dir, "kueue-webhook")?;
        let config_path = dir.join("config.yaml");
        let config = configuration(&options, &cert_dir, webhook_port, health_port, metrics_port);
        // JSON is YAML, which Kueue's configuration loader reads.
        let text = serde_json::to_string_pretty(&config)
            .map_err(|e| Error::Other(format!("serialising Kueue's configuration: {e}")))?;
        std::fs::write(&config_path, text)
            .map_err(Error::io(format!("writing {}", config_path.display())))?;

        let mut cmd = Command::new(options.layout.kueue_bin());
        cmd.arg(format!("--config={}", config_path.display()))
            .arg(format!("--kubeconfig={}", options.kubeconfig.display()))
            // Readable logs for a person; the default is JSON.
            .arg("--zap-encoder=console")
            .current_dir(&dir)
            .env_remove("KUBECONFIG");
        let pid = supervisor.spawn(NAME, cmd)?;
        let mut kueue = Kueue {
            pid,
            webhook_url: format!("https://127.0.0.1:{webhook_port}"),
            metrics_url: format!("https://127.0.0.1:{metrics_port}/metrics"),
            supervisor,
        };
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .map_err(Error::http("building an HTTP client"))?;
        // Kueue's readiness check passes once its webhook server accepts TLS connections.
        let readyz = format!("http://127.0.0.1:{health_port}/readyz");
        wait_for(
            &mut kueue.supervisor,
            NAME,
            Duration::from_secs(120),
            || {
                let http = http.clone();
                let readyz = readyz.clone();
                async move {
                    let response = http
                        .get(&readyz)
                        .send()
                        .await
                        .map_err(|e| format!("GET {readyz}: {e}"))?;
                    let status = response.status();
                    if status.is_success() {
                        Ok(Some(()))
                    } else {
                        Err(format!(
                            "GET {readyz}: {status}: {}",
                            response.text().await.unwrap_or_default()
                        ))
                    }
                }
            },
        )
        .await?;
        let webhooks = read_documents(&options.layout.kueue_webhooks())?;
        for doc in webhooks {
            let Some(doc) =
                rewrite_webhooks(doc, &kueue.webhook_url, &ca_bundle, &options.webhook_groups)
            else {
                continue;
            };
            apply_webhook_configuration(client, &doc).await?;
        }
        Ok(kueue)
    }

    /// Kueue's process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Where its webhook server listens, `https://127.0.0.1:<port>`.
    pub fn webhook_url(&self) -> &str {
        &self.webhook_url
    }

    /// Its Prometheus endpoint (HTTPS, authenticated and authorized through the API server, as in a cluster).
    pub fn metrics_url(&self) -> &str {
        &self.metrics_url
    }

    /// Its log (stdout and stderr).
    pub fn log_path(&self) -> PathBuf {
        self.supervisor.log_path(NAME)
    }

    /// The run directory (`config.yaml`, `webhook-certs/`, `logs/`).
    pub fn dir(&self) -> &Path {
        self.supervisor.dir()
    }

    /// Fails if Kueue has exited, with its log tail.
    pub fn check_running(&mut self) -> Result<()> {
        self.supervisor.check_running(NAME)
    }

    /// Stops it now (the same as dropping it).
    pub fn stop(mut self) {
        self.supervisor.shutdown();
    }
}

/// Kueue's `Configuration` (config.kueue.x-k8s.io/v1beta2) for a loopback run.
fn configuration(
    options: &KueueOptions,
    cert_dir: &Path,
    webhook_port: u16,
    health_port: u16,
    metrics_port: u16,
) -> Value {
    json!({
        "apiVersion": "config.kueue.x-k8s.io/v1beta2",
        "kind": "Configuration",
        "namespace": options.namespace,
        // Only jobs that name a LocalQueue are queued; the rest run as if Kueue were not there.
        "manageJobsWithoutQueueName": false,
        "leaderElection": {"leaderElect": false},
        // Its certificates would be for `<service>.<namespace>.svc`, which the API server cannot reach here.
        "internalCertManagement": {"enable": false},
        "webhook": {"host": "127.0.0.1", "port": webhook_port, "certDir": cert_dir},
        "health": {"healthProbeBindAddress": format!("127.0.0.1:{health_port}")},
        "metrics": {"bindAddress": format!("127.0.0.1:{metrics_port}")},
        "integrations": {"frameworks": options.frameworks},
        // The visibility API server would listen on every address on port 8082 and write certificates to
        // /visibility; nothing here uses it.
        "featureGates": {"VisibilityOnDemand": false},
    })
}

/// One webhook configuration of Kueue's release made to call `base_url`: renamed as the release names it, each
/// webhook's `clientConfig.service` replaced by a URL with `service.path` and the CA, and only the webhooks whose
/// rules are all in `groups` kept. `None` when nothing of it is kept or it is not a webhook configuration.
fn rewrite_webhooks(
    mut doc: Value,
    base_url: &str,
    ca_pem: &str,
    groups: &[String],
) -> Option<Value> {
    let kind = doc.get("kind").and_then(Value::as_str)?;
    if kind != "MutatingWebhookConfiguration" && kind != "ValidatingWebhookConfiguration" {
        return None;
    }
    let name = doc.pointer("/metadata/name").and_then(Value::as_str)?;
    let name = format!("{NAME_PREFIX}{name}");
    doc["metadata"] = json!({"name": name});
    // ByteString serialises as base64, the field's encoding.
    let ca_bundle = serde_json::to_value(ByteString(ca_pem.as_bytes().to_vec())).ok()?;
    let webhooks = doc.get_mut("webhooks")?.as_array_mut()?;
    webhooks.retain(|webhook| {
        let rules = webhook.get("rules").and_then(Value::as_array);
        rules.is_some_and(|rules| {
            rules.iter().all(|rule| {
                rule.get("apiGroups")
                    .and_then(Value::as_array)
                    .is_some_and(|g| {
                        g.iter()
                            .all(|g| g.as_str().is_some_and(|g| groups.iter().any(|k| k == g)))
                    })
            })
        })
    });
    for webhook in webhooks.iter_mut() {
        let path = webhook
            .pointer("/clientConfig/service/path")
            .and_then(Value::as_str)
            .unwrap_or("/")
            .to_owned();
        webhook["clientConfig"] =
            json!({"url": format!("{base_url}{path}"), "caBundle": ca_bundle});
    }
    if webhooks.is_empty() { None } else { Some(doc) }
}

async fn apply_webhook_configuration(client: &Client, doc: &Value) -> Result<()> {
    let name = doc
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let params = PatchParams::apply(FIELD_MANAGER).force();
    let result = if doc.get("kind").and_then(Value::as_str) == Some("MutatingWebhookConfiguration")
    {
        Api::<MutatingWebhookConfiguration>::all(client.clone())
            .patch(name, &params, &Patch::Apply(doc))
            .await
            .map(drop)
    } else {
        Api::<ValidatingWebhookConfiguration>::all(client.clone())
            .patch(name, &params, &Patch::Apply(doc))
            .await
            .map(drop)
    };
    result.map_err(Error::kube(format!(
        "applying Kueue's webhook configuration {name}"
    )))
}

async fn create_namespace(client: &Client, name: &str) -> Result<()> {
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let namespace: Namespace = serde_json::from_value(json!({"metadata": {"name": name}}))
        .map_err(|e| Error::Other(format!("a namespace {name}: {e}")))?;
    match namespaces.create(&PostParams::default(), &namespace).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 409 => Ok(()),
        Err(e) => Err(Error::kube(format!("creating namespace {name}"))(e)),
    }
}

/// Writes a certificate and key for Kueue's metrics server into `dir` unless both are there. Kueue only needs them
/// to exist and match (its metrics are not scraped here). Written into a sibling directory that is then renamed,
/// so a Kueue starting at the same time never reads half of a pair.
fn ensure_metrics_cert(dir: &Path) -> Result<()> {
    if dir.join("tls.crt").is_file() && dir.join("tls.key").is_file() {
        return Ok(());
    }
    let parent = dir.parent().unwrap_or(dir);
    let hint = |e: std::io::Error| {
        Error::Other(format!(
            "Kueue reads its metrics certificate from {} (fixed in its code when its own certificate management \
             is off), which could not be written: {e}; run the tests as root or create tls.crt and tls.key there",
            dir.display()
        ))
    };
    std::fs::create_dir_all(parent).map_err(hint)?;
    let staging = parent.join(format!(".certs.partial-{}", std::process::id()));
    generate_loopback_serving(&staging, "kueue-metrics")?;
    match std::fs::rename(&staging, dir) {
        Ok(()) => Ok(()),
        // Another run was faster: its pair is as good as ours.
        Err(_) if dir.join("tls.crt").is_file() && dir.join("tls.key").is_file() => {
            let _ = std::fs::remove_dir_all(&staging);
            Ok(())
        }
        Err(e) => {
            let _ = std::fs::remove_dir_all(&staging);
            Err(hint(e))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn release_manifest() -> Value {
        serde_json::from_str(
            r#"{"apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingWebhookConfiguration",
                "metadata": {"name": "mutating-webhook-configuration"},
                "webhooks": [
                  {"name": "mrayjob.kb.io", "clientConfig": {"service": {"name": "webhook-service",
                     "namespace": "system", "path": "/mutate-ray-io-v1-rayjob"}},
                   "rules": [{"apiGroups": ["ray.io"], "apiVersions": ["v1"], "operations": ["CREATE"],
                              "resources": ["rayjobs"]}]},
                  {"name": "mpod.kb.io", "clientConfig": {"service": {"name": "webhook-service",
                     "namespace": "system", "path": "/mutate--v1-pod"}},
                   "rules": [{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"],
                              "resources": ["pods"]}]}
                ]}"#,
        )
        .expect("json")
    }

    #[test]
    fn webhooks_call_the_loopback_url_and_other_groups_are_left_out() {
        let groups = ["ray.io".to_owned()];
        let doc = rewrite_webhooks(release_manifest(), "https://127.0.0.1:9443", "PEM", &groups)
            .expect("the ray.io webhook is kept");
        assert_eq!(
            doc.pointer("/metadata/name"),
            Some(&json!("kueue-mutating-webhook-configuration"))
        );
        let webhooks = doc["webhooks"].as_array().expect("webhooks");
        assert_eq!(webhooks.len(), 1, "{webhooks:?}");
        assert_eq!(
            webhooks[0]["clientConfig"],
            json!({"url": "https://127.0.0.1:9443/mutate-ray-io-v1-rayjob", "caBundle": "UEVN"})
        );
        let none = rewrite_webhooks(release_manifest(), "https://x", "PEM", &["apps".to_owned()]);
        assert!(none.is_none(), "{none:?}");
    }

    #[test]
    fn the_configuration_binds_loopback_and_enables_the_frameworks() {
        let options = KueueOptions {
            layout: Layout::at("/cache"),
            kubeconfig: PathBuf::from("/k"),
            namespace: "kueue-system".into(),
            frameworks: vec!["ray.io/rayjob".into()],
            webhook_groups: vec![],
        };
        let config = configuration(&options, Path::new("/certs"), 1, 2, 3);
        assert_eq!(config["webhook"]["host"], json!("127.0.0.1"));
        assert_eq!(config["webhook"]["certDir"], json!("/certs"));
        assert_eq!(
            config["health"]["healthProbeBindAddress"],
            json!("127.0.0.1:2")
        );
        assert_eq!(config["metrics"]["bindAddress"], json!("127.0.0.1:3"));
        assert_eq!(config["internalCertManagement"]["enable"], json!(false));
        assert_eq!(config["manageJobsWithoutQueueName"], json!(false));
        assert_eq!(
            config["integrations"]["frameworks"],
            json!(["ray.io/rayjob"])
        );
    }

    #[test]
    fn an_existing_metrics_cert_is_kept_and_a_missing_one_written() {
        let dir = tempfile::tempdir().expect("tempdir");
        let certs = dir.path().join("metrics/certs");
        ensure_metrics_cert(&certs).expect("written");
        let first = std::fs::read(certs.join("tls.crt")).expect("tls.crt");
        ensure_metrics_cert(&certs).expect("kept");
        assert_eq!(
            std::fs::read(certs.join("tls.crt")).expect("tls.crt"),
            first
        );
        assert!(certs.join("tls.key").is_file());
    }
}
