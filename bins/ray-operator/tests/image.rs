//! The operator image as a cluster would get it: `RAY_OPERATOR_IMAGE` names an OCI archive (`cargo xtask test` builds
//! one with `cargo xtask image --debug` and sets it; without it this test does nothing). The archive's config is
//! read with skopeo, its layers are unpacked into an empty directory, and the binary runs from there under `chroot`
//! as user 65532: with no shared libraries, no /etc/nsswitch.conf and no NSS modules, only what the image holds.
//!
//! Name resolution is the part a static glibc binary could get wrong, so the operator resolves a Ray head by a
//! Service-style name the way a pod does: the image's /etc/resolv.conf (which Kubernetes would mount) has a
//! cluster's search list and `ndots:5` and points at a DNS server this test runs on a loopback address; only the
//! fully qualified name resolves, to 127.0.0.1, where a stand-in dashboard records what the operator asks.
//!
//! Needs root (chroot, user 65532, a DNS server on port 53), `skopeo` and `tar`.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use common::setup;
use kube::Api;
use kube::api::PostParams;
use kube::config::Kubeconfig;
use ray_api_v1::{RayCluster, RayJob};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::mpsc;

/// The archive to test; unset: nothing to test.
const IMAGE_ENV: &str = "RAY_OPERATOR_IMAGE";
/// The largest archive accepted, in MiB; a debug binary needs more than the default, which is for release images.
const MAX_MIB_ENV: &str = "RAY_OPERATOR_IMAGE_MAX_MIB";
const RELEASE_MAX_MIB: u64 = 30;
/// Where the binary is in the image.
const BINARY: &str = "/usr/local/bin/ray-operator";
/// The PATH buildah writes into the config of a `FROM scratch` image.
const IMAGE_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// The loopback address of the test's DNS server: not 127.0.0.1, so a local resolver already on port 53 there does
/// not get in the way.
const DNS_ADDR: &str = "127.53.0.1";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_image_runs_as_65532_from_an_empty_root_and_resolves_service_names() {
    let Some(archive) = std::env::var_os(IMAGE_ENV).map(PathBuf::from) else {
        eprintln!(
            "{IMAGE_ENV} is not set: nothing to test (`cargo xtask test` builds the image and sets it)"
        );
        return;
    };
    assert!(
        is_root().await,
        "the image test needs root (chroot, user 65532, a DNS server on port 53); run it as root, or unset \
         {IMAGE_ENV}"
    );
    let max_mib: u64 = std::env::var(MAX_MIB_ENV).map_or(RELEASE_MAX_MIB, |v| {
        v.parse()
            .unwrap_or_else(|e| panic!("{MAX_MIB_ENV}={v}: {e}; give a whole number of MiB"))
    });

    check_config(&archive).await;
    let size = std::fs::metadata(&archive)
        .unwrap_or_else(|e| panic!("{}: {e}", archive.display()))
        .len();
    assert!(
        size <= max_mib * 1024 * 1024,
        "the archive is {size} bytes, over the bound of {max_mib} MiB"
    );

    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let rootfs = dir.path().join("rootfs");
    unpack(&archive, &dir.path().join("oci"), &rootfs).await;
    assert_eq!(
        files(&rootfs),
        BTreeSet::from(
            [
                "etc/group",
                "etc/passwd",
                "etc/ssl/certs/ca-certificates.crt",
                "usr/local/bin/ray-operator",
            ]
            .map(String::from)
        ),
        "the image holds exactly the binary, the CA bundle and the user database"
    );
    let passwd =
        std::fs::read_to_string(rootfs.join("etc/passwd")).unwrap_or_else(|e| panic!("{e}"));
    assert!(passwd.contains("nonroot:x:65532:65532:"), "{passwd}");

    // A container runtime gives every container these devices (the OCI runtime spec's defaults); the static binary
    // needs /dev/urandom: the getrandom crate (ahash's) finds glibc's getrandom() with dlsym, which a static binary
    // cannot do, and falls back to reading the device.
    make_devices(&rootfs.join("dev")).await;

    // No loader, no libc in the root: only a static binary starts.
    let version = in_image(&rootfs, &["--version"])
        .output()
        .await
        .unwrap_or_else(|e| panic!("chroot: {e}"));
    assert!(version.status.success(), "{version:?}");
    assert_eq!(
        String::from_utf8_lossy(&version.stdout).trim(),
        format!("ray-operator {}", env!("CARGO_PKG_VERSION"))
    );

    runs_against_the_control_plane_and_resolves_the_head(&rootfs).await;
}

/// The image config, read by skopeo: user, entrypoint, labels, platform.
async fn check_config(archive: &Path) {
    let output = tokio::process::Command::new("skopeo")
        .args(["inspect", "--config"])
        .arg(format!("oci-archive:{}", archive.display()))
        .output()
        .await
        .unwrap_or_else(|e| panic!("running skopeo (Debian: apt-get install skopeo): {e}"));
    assert!(output.status.success(), "skopeo inspect: {output:?}");
    let config: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("{e}"));
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    assert_eq!(config["os"], "linux", "{config:#}");
    assert_eq!(config["architecture"], arch, "{config:#}");
    let c = &config["config"];
    assert_eq!(c["User"], "65532:65532", "{config:#}");
    assert_eq!(c["Entrypoint"], json!([BINARY]), "{config:#}");
    assert_eq!(c["Cmd"], json!(["run"]), "{config:#}");
    assert_eq!(
        c["Env"],
        json!([format!("PATH={IMAGE_PATH}")]),
        "{config:#}"
    );
    let labels = &c["Labels"];
    for (label, value) in [
        ("title", "ray-operator-rs"),
        ("version", env!("CARGO_PKG_VERSION")),
        ("source", env!("CARGO_PKG_REPOSITORY")),
        ("licenses", env!("CARGO_PKG_LICENSE")),
    ] {
        assert_eq!(
            labels[format!("org.opencontainers.image.{label}")],
            value,
            "{labels:#}"
        );
    }
    for label in ["source", "revision"] {
        let value = labels[format!("org.opencontainers.image.{label}")]
            .as_str()
            .unwrap_or_default();
        assert!(!value.is_empty(), "empty {label}: {labels:#}");
    }
}

/// Unpacks the OCI archive into `oci` and its layers, in order, into `rootfs` (tar keeps owners and modes).
async fn unpack(archive: &Path, oci: &Path, rootfs: &Path) {
    std::fs::create_dir_all(oci).unwrap_or_else(|e| panic!("{e}"));
    std::fs::create_dir_all(rootfs).unwrap_or_else(|e| panic!("{e}"));
    tar(archive, oci).await;
    let blob = |digest: &Value| {
        let digest = digest.as_str().unwrap_or_default();
        let hex = digest
            .strip_prefix("sha256:")
            .unwrap_or_else(|| panic!("digest {digest}"));
        oci.join("blobs/sha256").join(hex)
    };
    let read = |path: PathBuf| -> Value {
        let text = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        serde_json::from_slice(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    };
    let index = read(oci.join("index.json"));
    let manifest = read(blob(&index["manifests"][0]["digest"]));
    let layers = manifest["layers"]
        .as_array()
        .unwrap_or_else(|| panic!("no layers: {manifest:#}"));
    assert!(!layers.is_empty(), "{manifest:#}");
    for layer in layers {
        tar(&blob(&layer["digest"]), rootfs).await;
    }
}

async fn tar(archive: &Path, into: &Path) {
    let status = tokio::process::Command::new("tar")
        .arg("-xf")
        .arg(archive)
        .arg("-C")
        .arg(into)
        .status()
        .await
        .unwrap_or_else(|e| panic!("running tar: {e}"));
    assert!(status.success(), "tar -xf {}: {status}", archive.display());
}

/// Every file and symlink under `root`, relative.
fn files(root: &Path) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{e}")) {
            let entry = entry.unwrap_or_else(|e| panic!("{e}"));
            let path = entry.path();
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                dirs.push(path);
            } else if let Ok(relative) = path.strip_prefix(root) {
                found.insert(relative.to_string_lossy().into_owned());
            }
        }
    }
    found
}

/// The image's binary with `args`, chrooted into `rootfs` as 65532 with an empty environment, as a runtime starts it.
fn in_image(rootfs: &Path, args: &[&str]) -> tokio::process::Command {
    let mut command = tokio::process::Command::new("chroot");
    command
        .arg("--userspec=65532:65532")
        .arg(rootfs)
        .arg(BINARY)
        .args(args)
        .env_clear()
        // The PATH the image's config sets (a runtime passes it on); it also finds chroot on the host.
        .env("PATH", IMAGE_PATH)
        .kill_on_drop(true);
    command
}

/// `null`, `zero`, `full`, `random`, `urandom` and `tty` in `dev`, as character devices open to everyone.
async fn make_devices(dev: &Path) {
    std::fs::create_dir_all(dev).unwrap_or_else(|e| panic!("{e}"));
    for (name, major, minor) in [
        ("null", 1, 3),
        ("zero", 1, 5),
        ("full", 1, 7),
        ("random", 1, 8),
        ("urandom", 1, 9),
        ("tty", 5, 0),
    ] {
        let status = tokio::process::Command::new("mknod")
            .args(["-m", "0666"])
            .arg(dev.join(name))
            .args(["c", &major.to_string(), &minor.to_string()])
            .status()
            .await
            .unwrap_or_else(|e| panic!("mknod: {e}"));
        assert!(status.success(), "mknod {name}: {status}");
    }
}

async fn is_root() -> bool {
    let output = tokio::process::Command::new("id")
        .arg("-u")
        .output()
        .await
        .unwrap_or_else(|e| panic!("id -u: {e}"));
    String::from_utf8_lossy(&output.stdout).trim() == "0"
}

/// The operator from the image reconciles an `HTTPMode` RayJob on the local control plane and, once its cluster is
/// ready, calls the dashboard at `http://<name>-head-svc.<ns>.svc:<port>`, a name only the test's DNS server knows.
async fn runs_against_the_control_plane_and_resolves_the_head(rootfs: &Path) {
    let setup = setup("image").await;
    let ns = &setup.namespace;
    let short_name = format!("image-head-svc.{ns}.svc");
    let full_name = format!("{short_name}.cluster.local");

    // What Kubernetes mounts into a pod: a kubeconfig stands in for the service account, and resolv.conf.
    let run = rootfs.join("run-test");
    std::fs::create_dir_all(&run).unwrap_or_else(|e| panic!("{e}"));
    let kubeconfig = kubeconfig_inside(&setup.kubeconfig, &run, "/run-test");
    std::fs::write(
        rootfs.join("etc/resolv.conf"),
        format!(
            "search {ns}.svc.cluster.local svc.cluster.local cluster.local\nnameserver {DNS_ADDR}\n\
             options ndots:5\n"
        ),
    )
    .unwrap_or_else(|e| panic!("{e}"));

    let (queries, mut queried) = mpsc::unbounded_channel();
    let dns = UdpSocket::bind((DNS_ADDR, 53))
        .await
        .unwrap_or_else(|e| panic!("binding the test's DNS server to {DNS_ADDR}:53: {e}"));
    tokio::spawn(serve_dns(dns, full_name.clone(), queries));
    let dashboard = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let port = dashboard
        .local_addr()
        .unwrap_or_else(|e| panic!("{e}"))
        .port();
    let (requests, mut requested) = mpsc::unbounded_channel();
    tokio::spawn(serve_dashboard(dashboard, requests));

    let log_path = run.join("operator.log");
    let log = std::fs::File::create(&log_path).unwrap_or_else(|e| panic!("{e}"));
    let mut operator = in_image(
        rootfs,
        &[
            "run",
            "--watch-namespace",
            ns,
            "--metrics-addr",
            "off",
            "--health-addr",
            "off",
            "--dashboard-url-override",
            &format!("http://{short_name}:{port}"),
        ],
    );
    let mut operator = operator
        .env("KUBECONFIG", &kubeconfig)
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| panic!("starting the operator from the image: {e}"));

    let jobs: Api<RayJob> = Api::namespaced(setup.client.clone(), ns);
    let job: RayJob = serde_json::from_value(json!({
        "apiVersion": "ray.io/v1", "kind": "RayJob",
        "metadata": {"name": "image"},
        "spec": {
            "entrypoint": "python -c \"print('from the image')\"",
            "submissionMode": "HTTPMode",
            "rayClusterSpec": {
                "headGroupSpec": {"rayStartParams": {}, "template": {"spec": {"containers": [
                    {"name": "ray-head", "image": "rayproject/ray:2.60.0"}]}}},
                "workerGroupSpecs": []
            }
        }
    }))
    .unwrap_or_else(|e| panic!("{e}"));
    jobs.create(&PostParams::default(), &job)
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    // The operator talks to the API server: the RayJob's cluster appears.
    let clusters: Api<RayCluster> = Api::namespaced(setup.client.clone(), ns);
    let log_tail = || std::fs::read_to_string(&log_path).unwrap_or_default();
    let start = std::time::Instant::now();
    while !clusters
        .list(&Default::default())
        .await
        .is_ok_and(|list| !list.items.is_empty())
    {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the RayJob's RayCluster was not created within 60 s; operator log:\n{}",
            log_tail()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // ... and calls the dashboard by its Service-style name, which glibc expands with the search list.
    let request = tokio::time::timeout(Duration::from_secs(120), requested.recv())
        .await
        .unwrap_or_else(|_| {
            panic!(
                "no dashboard request within 120 s; DNS queries: {:?}; operator log:\n{}",
                drain(&mut queried),
                log_tail()
            )
        })
        .unwrap_or_else(|| panic!("the dashboard stand-in stopped"));
    assert!(
        request
            .to_ascii_lowercase()
            .contains(&format!("\r\nhost: {short_name}:{port}\r\n")),
        "{request}"
    );
    let names = drain(&mut queried);
    assert!(names.contains(&full_name), "{names:?}");

    // SIGTERM, as the kubelet stops a pod: a clean exit.
    let pid = operator
        .id()
        .and_then(|p| i32::try_from(p).ok())
        .unwrap_or_else(|| panic!("no pid"));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let status = tokio::time::timeout(Duration::from_secs(15), operator.wait())
        .await
        .unwrap_or_else(|_| panic!("the operator did not stop within 15 s of SIGTERM"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(status.success(), "exit {status}; log:\n{}", log_tail());
}

/// Copies the control plane's kubeconfig and the certificate files it names into `dir` (readable by 65532), naming
/// them as they are seen from inside the root (`inside`). Returns the kubeconfig's path inside the root.
fn kubeconfig_inside(kubeconfig: &Path, dir: &Path, inside: &str) -> String {
    use std::os::unix::fs::PermissionsExt;

    let mut config = Kubeconfig::read_from(kubeconfig).unwrap_or_else(|e| panic!("{e}"));
    let mut n = 0;
    let mut relocate = |file: &mut Option<String>| {
        if let Some(path) = file.as_mut() {
            n += 1;
            let name = format!("file-{n}");
            std::fs::copy(&*path, dir.join(&name)).unwrap_or_else(|e| panic!("{path}: {e}"));
            std::fs::set_permissions(dir.join(&name), std::fs::Permissions::from_mode(0o644))
                .unwrap_or_else(|e| panic!("{e}"));
            *path = format!("{inside}/{name}");
        }
    };
    for cluster in config
        .clusters
        .iter_mut()
        .filter_map(|c| c.cluster.as_mut())
    {
        relocate(&mut cluster.certificate_authority);
    }
    for user in config
        .auth_infos
        .iter_mut()
        .filter_map(|a| a.auth_info.as_mut())
    {
        relocate(&mut user.client_certificate);
        relocate(&mut user.client_key);
    }
    let text = serde_json::to_string(&config).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(dir.join("kubeconfig"), text).unwrap_or_else(|e| panic!("{e}"));
    format!("{inside}/kubeconfig")
}

/// A DNS server for one name: A queries for `name` get 127.0.0.1; other queries for `name` get no records; every
/// other name does not exist. Each queried name is sent to `queries`.
async fn serve_dns(socket: UdpSocket, name: String, queries: mpsc::UnboundedSender<String>) {
    let mut buf = [0u8; 512];
    while let Ok((len, from)) = socket.recv_from(&mut buf).await {
        let Some((qname, qtype, question_end)) = parse_question(&buf[..len]) else {
            continue;
        };
        let _ = queries.send(qname.clone());
        let known = qname.eq_ignore_ascii_case(&name);
        let answer_a = known && qtype == 1;
        // Header: same id; a response (QR), recursion desired and available, NXDOMAIN unless the name is known.
        let mut reply = Vec::with_capacity(question_end + 16);
        reply.extend_from_slice(&buf[..2]);
        reply.extend_from_slice(&[0x81, if known { 0x80 } else { 0x83 }]);
        reply.extend_from_slice(&[0, 1, 0, u8::from(answer_a), 0, 0, 0, 0]);
        reply.extend_from_slice(&buf[12..question_end]);
        if answer_a {
            // A pointer to the question's name, type A, class IN, TTL 5 s, 4 bytes: 127.0.0.1.
            reply.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 5, 0, 4, 127, 0, 0, 1]);
        }
        let _ = socket.send_to(&reply, from).await;
    }
}

/// The first question of a DNS query: its name, type and where the question ends.
fn parse_question(packet: &[u8]) -> Option<(String, u16, usize)> {
    let mut labels = Vec::new();
    let mut at = 12;
    loop {
        let len = usize::from(*packet.get(at)?);
        at += 1;
        if len == 0 {
            break;
        }
        labels.push(String::from_utf8_lossy(packet.get(at..at + len)?).into_owned());
        at += len;
    }
    let qtype = u16::from_be_bytes([*packet.get(at)?, *packet.get(at + 1)?]);
    Some((labels.join("."), qtype, at + 4))
}

/// A stand-in dashboard: sends each request's head to `requests` and answers 503.
async fn serve_dashboard(listener: TcpListener, requests: mpsc::UnboundedSender<String>) {
    while let Ok((mut stream, _)) = listener.accept().await {
        let requests = requests.clone();
        tokio::spawn(async move {
            let mut head = Vec::new();
            let mut buf = [0u8; 1024];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
                match stream.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => head.extend_from_slice(&buf[..n]),
                }
            }
            let _ = requests.send(String::from_utf8_lossy(&head).into_owned());
            let _ = stream
                .write_all(b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                .await;
        });
    }
}

fn drain(queries: &mut mpsc::UnboundedReceiver<String>) -> Vec<String> {
    let mut names = Vec::new();
    while let Ok(name) = queries.try_recv() {
        names.push(name);
    }
    names
}
