//! `ray-operator run --webhook-addr`: the binary serves the webhooks over HTTPS with a generated certificate whose
//! CA it writes to `--webhook-cert-dir`, before (and while) it waits for the CRDs, and stops on SIGTERM.
//!
//! No control plane is needed: the kubeconfig points at a port where nothing listens, so the operator keeps
//! waiting for the CRDs while the webhook server answers.

use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::process::Command;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::{ClientConfig, RootCertStore};

/// A kubeconfig for an API server that is not there.
fn unreachable_kubeconfig(dir: &std::path::Path) -> std::path::PathBuf {
    let port = ray_testenv::free_ports(1).expect("port")[0];
    let path = dir.join("kubeconfig");
    std::fs::write(
        &path,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:{port}\n    \
             insecure-skip-tls-verify: true\nusers:\n- name: u\n  user:\n    token: t\ncontexts:\n- name: x\n  \
             context:\n    cluster: c\n    user: u\ncurrent-context: x\n"
        ),
    )
    .expect("kubeconfig");
    path
}

/// POSTs `body` to `path` over HTTPS, trusting only `ca_pem`; the status line and body.
async fn post(port: u16, ca_pem: &str, path: &str, body: &str) -> (String, String) {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert.expect("PEM")).expect("CA");
    }
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocols")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    let mut tls = TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("localhost").expect("name"), tcp)
        .await
        .expect("TLS handshake with the generated certificate");
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    );
    tls.write_all(request.as_bytes()).await.expect("write");
    let mut response = String::new();
    tls.read_to_string(&mut response).await.expect("read");
    let (head, body) = response.split_once("\r\n\r\n").expect("HTTP response");
    (
        head.lines().next().unwrap_or_default().to_owned(),
        body.to_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_serves_the_webhooks_with_a_generated_certificate_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cert_dir = dir.path().join("certs");
    let port = ray_testenv::free_ports(1).expect("port")[0];
    let mut child = Command::new(env!("CARGO_BIN_EXE_ray-operator"))
        .args(["run", "--webhook-addr", &format!("127.0.0.1:{port}")])
        // Tests run operators side by side: no fixed ports for /metrics and the probes.
        .args(["--metrics-addr", "off", "--health-addr", "off"])
        .arg("--webhook-cert-dir")
        .arg(&cert_dir)
        .env("KUBECONFIG", unreachable_kubeconfig(dir.path()))
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("starting ray-operator");

    let ca_path = cert_dir.join("ca.crt");
    let start = Instant::now();
    let ca = loop {
        if let Ok(ca) = std::fs::read_to_string(&ca_path)
            && TcpStream::connect(("127.0.0.1", port)).await.is_ok()
        {
            break ca;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "no ca.crt and listener within 20 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };

    let review = r#"{"apiVersion":"apiextensions.k8s.io/v1","kind":"ConversionReview","request":{"uid":"u1",
        "desiredAPIVersion":"ray.io/v1alpha1","objects":[{"apiVersion":"ray.io/v1","kind":"RayJob",
        "metadata":{"name":"j"},"spec":{"entrypoint":"python x.py","activeDeadlineSeconds":60}}]}}"#;
    let (status, body) = post(port, &ca, "/convert", review).await;
    assert!(status.contains(" 200 "), "{status}: {body}");
    let review: serde_json::Value = serde_json::from_str(&body).expect("JSON review");
    assert_eq!(review["response"]["uid"], "u1");
    assert_eq!(
        review["response"]["convertedObjects"][0]["apiVersion"],
        "ray.io/v1alpha1"
    );

    let (status, body) = post(port, &ca, "/validate", "{}").await;
    assert!(status.contains(" 400 "), "{status}: {body}");
    assert!(body.contains("AdmissionReview"), "{body}");

    let pid = child.id().and_then(|p| i32::try_from(p).ok()).expect("pid");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGTERM,
    )
    .expect("SIGTERM");
    let status = tokio::time::timeout(Duration::from_secs(15), child.wait())
        .await
        .expect("ray-operator did not stop within 15 s of SIGTERM")
        .expect("wait");
    assert!(status.success(), "exit status {status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unusable_certificate_directory_stops_the_start_naming_the_flag() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("tls.crt"), "not a certificate").expect("write");
    let port = ray_testenv::free_ports(1).expect("port")[0];
    let output = Command::new(env!("CARGO_BIN_EXE_ray-operator"))
        .args(["run", "--webhook-addr", &format!("127.0.0.1:{port}")])
        // Tests run operators side by side: no fixed ports for /metrics and the probes.
        .args(["--metrics-addr", "off", "--health-addr", "off"])
        .arg("--webhook-cert-dir")
        .arg(dir.path())
        .env("KUBECONFIG", unreachable_kubeconfig(dir.path()))
        .env("RUST_BACKTRACE", "0")
        .output()
        .await
        .expect("run");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--webhook-cert-dir") && stderr.contains("tls.key"),
        "{stderr}"
    );
}
