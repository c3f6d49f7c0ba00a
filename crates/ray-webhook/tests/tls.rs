//! The server's TLS: a certificate from `tls.crt`/`tls.key` is served, and a rotated one is served to new
//! connections without a restart, checked with real TLS handshakes on loopback.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ray_webhook::certs::{SelfSigned, generate_self_signed};
use ray_webhook::{CERT_FILE, KEY_FILE, WebhookConfig, WebhookServer};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::{ClientConfig, RootCertStore};

fn names() -> Vec<String> {
    vec!["localhost".into(), "127.0.0.1".into()]
}

fn write_pair(dir: &std::path::Path, pair: &SelfSigned) {
    // Like a Secret volume update: each file replaced whole.
    for (file, pem) in [(CERT_FILE, &pair.cert_pem), (KEY_FILE, &pair.key_pem)] {
        let temporary = dir.join(format!(".{file}.new"));
        std::fs::write(&temporary, pem).expect("write");
        std::fs::rename(&temporary, dir.join(file)).expect("rename");
    }
}

/// Connects trusting only `ca_pem` and returns the certificate the server presented.
async fn presented_certificate(port: u16, ca_pem: &str) -> Result<Vec<u8>, String> {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert.expect("CA PEM")).expect("CA");
    }
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocols")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = TcpStream::connect(("127.0.0.1", port))
        .await
        .map_err(|e| e.to_string())?;
    let stream = TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("localhost").expect("name"), tcp)
        .await
        .map_err(|e| e.to_string())?;
    let (_, connection) = stream.get_ref();
    connection
        .peer_certificates()
        .and_then(|chain| chain.first())
        .map(|cert| cert.to_vec())
        .ok_or_else(|| "no certificate presented".to_owned())
}

fn der(pem: &str) -> Vec<u8> {
    CertificateDer::from_pem_slice(pem.as_bytes())
        .expect("certificate")
        .to_vec()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rotated_certificate_is_served_without_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let first = generate_self_signed(&names()).expect("first");
    write_pair(dir.path(), &first);
    let mut config = WebhookConfig::new("127.0.0.1:0".parse().expect("addr"), dir.path().into());
    config.reload_interval = Duration::from_millis(100);
    let server = WebhookServer::bind(config).await.expect("server");
    assert_eq!(server.generated_ca(), None, "the files are used");
    let port = server.local_addr().port();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(server.serve(async {
        let _ = stopped.await;
    }));

    assert_eq!(
        presented_certificate(port, &first.ca_pem).await,
        Ok(der(&first.cert_pem))
    );

    // A key that does not match is refused: the first certificate is still served.
    let second = generate_self_signed(&names()).expect("second");
    std::fs::write(dir.path().join(KEY_FILE), &second.key_pem).expect("write");
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        presented_certificate(port, &first.ca_pem).await,
        Ok(der(&first.cert_pem))
    );

    write_pair(dir.path(), &second);
    let start = Instant::now();
    loop {
        match presented_certificate(port, &second.ca_pem).await {
            Ok(cert) if cert == der(&second.cert_pem) => break,
            outcome => assert!(
                start.elapsed() < Duration::from_secs(10),
                "the rotated certificate was not served within 10 s: {outcome:?}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Clients that still trust only the old CA are refused now.
    assert!(presented_certificate(port, &first.ca_pem).await.is_err());

    stop.send(()).expect("server running");
    tokio::time::timeout(Duration::from_secs(10), serving)
        .await
        .expect("stops promptly")
        .expect("no panic");
    assert!(
        TcpStream::connect(("127.0.0.1", port)).await.is_err(),
        "the port is released after the stop"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_generated_certificate_verifies_with_the_written_ca() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = WebhookConfig::new("127.0.0.1:0".parse().expect("addr"), dir.path().into());
    let server = WebhookServer::bind(config).await.expect("server");
    let ca = std::fs::read_to_string(dir.path().join(ray_webhook::CA_FILE)).expect("ca.crt");
    assert_eq!(server.generated_ca(), Some(ca.as_str()));
    let port = server.local_addr().port();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(server.serve(async {
        let _ = stopped.await;
    }));
    assert!(presented_certificate(port, &ca).await.is_ok());
    let stranger = generate_self_signed(&names()).expect("other CA");
    assert!(presented_certificate(port, &stranger.ca_pem).await.is_err());
    stop.send(()).expect("server running");
    serving.await.expect("no panic");
}

#[tokio::test]
async fn a_taken_port_is_reported_naming_the_flag() {
    let held = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let dir = tempfile::tempdir().expect("tempdir");
    let config = WebhookConfig::new(held.local_addr().expect("addr"), dir.path().into());
    let error = WebhookServer::bind(config).await.expect_err("taken");
    assert!(error.to_string().contains("--webhook-addr"), "{error}");
}
