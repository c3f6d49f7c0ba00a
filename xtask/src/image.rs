//! `cargo xtask image`: the operator's container image, built from the repository's `Dockerfile` without a daemon,
//! a base image or network access.
//!
//! The binary is compiled here, not in the image build: a static glibc binary (`-C target-feature=+crt-static` for
//! the host triple, named with `--target` so the flag reaches neither build scripts nor proc macros). The
//! Dockerfile is `FROM scratch` with COPY steps only, so buildah (or podman) builds it with the `vfs` storage driver
//! in a private directory, runs nothing inside it, and writes an OCI archive that skopeo can push anywhere.
//!
//! Host names (the Ray head's Service, an API server named in a kubeconfig) resolve through glibc's built-in DNS
//! client, which a static binary keeps: without an `/etc/nsswitch.conf`, glibc reads `/etc/hosts` and
//! `/etc/resolv.conf` itself and loads no NSS module. `bins/ray-operator/tests/image.rs` proves it on the image.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

use crate::crd::workspace_root;

/// The image's repository name, as the manifests under `config/` and `charts/` name it.
pub const IMAGE_NAME: &str = "ray-operator-rs";

/// Where the build machine keeps its CA bundle (Debian's `ca-certificates`); copied into the image.
const CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// The image's users and groups: root and the unprivileged `nonroot` (65532) it runs as, as distroless has them.
const PASSWD: &str = "root:x:0:0:root:/root:/sbin/nologin\n\
                      nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n";
const GROUP: &str = "root:x:0:\nnonroot:x:65532:\n";

/// Options of `cargo xtask image`.
#[derive(Debug, Clone, clap::Args)]
pub struct ImageArgs {
    /// Put a debug binary in the image: compiles faster, is several times larger; for tests, not for clusters.
    #[arg(long)]
    pub debug: bool,
    /// The OCI archive to write. Default: `<target dir>/image/ray-operator-rs-<version>.oci.tar`.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// What [`build`] made.
#[derive(Debug)]
pub struct Built {
    /// The OCI archive (`oci-archive:` for skopeo and podman).
    pub archive: PathBuf,
    /// `ray-operator-rs:<version>`, the reference stored in the archive.
    pub reference: String,
    /// `linux/amd64` or `linux/arm64`.
    pub platform: String,
    /// The archive's size in bytes.
    pub archive_bytes: u64,
    /// The binary's size in bytes (uncompressed, as it is in the image).
    pub binary_bytes: u64,
}

/// `cargo xtask image`: builds the image into the workspace's target directory and says how to push it.
pub fn run(args: &ImageArgs) -> anyhow::Result<()> {
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"));
    let built = build(&target_dir, args.debug, args.output.as_deref())?;
    let archive = built.archive.display();
    println!(
        "image {} ({}, {} build): {archive}\n  archive {:.1} MiB, binary {:.1} MiB uncompressed",
        built.reference,
        built.platform,
        if args.debug { "debug" } else { "release" },
        mib(built.archive_bytes),
        mib(built.binary_bytes),
    );
    println!(
        "push it:\n  skopeo copy oci-archive:{archive} docker://REGISTRY/{}\n\
         load it into kind or minikube (via a docker archive):\n  \
         skopeo copy oci-archive:{archive} docker-archive:{IMAGE_NAME}.tar:{}\n  \
         kind load image-archive {IMAGE_NAME}.tar    # or: minikube image load {IMAGE_NAME}.tar",
        built.reference, built.reference,
    );
    Ok(())
}

/// Builds the binary (release unless `debug`) with cargo in `target_dir`, the image from the repository's
/// Dockerfile, and writes the OCI archive to `output` (default `<target_dir>/image/<name>-<version>.oci.tar`).
pub fn build(target_dir: &Path, debug: bool, output: Option<&Path>) -> anyhow::Result<Built> {
    let builder = image_builder()?;
    let triple = host_triple()?;
    // The image's platform is the host's (the builder's default), as the binary's is.
    let arch = oci_arch(&triple)?;
    let binary = build_binary(target_dir, &triple, debug)?;

    let work = target_dir.join("image");
    let context = work.join("context");
    prepare_context(&context, &binary)?;

    let version = env!("CARGO_PKG_VERSION");
    let reference = format!("{IMAGE_NAME}:{version}");
    let archive = match output {
        Some(path) => path.to_path_buf(),
        None => work.join(format!("{IMAGE_NAME}-{version}.oci.tar")),
    };
    if let Some(parent) = archive.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    // An oci-archive destination is not overwritten in place: start from nothing.
    remove_file_if_exists(&archive)?;

    // The builder's image store lives only as long as this build: the archive is the result.
    let storage = work.join("storage");
    remove_dir_if_exists(&storage)?;
    let store = |command: &mut Command| {
        command
            .arg("--root")
            .arg(storage.join("root"))
            .arg("--runroot")
            .arg(storage.join("run"))
            .args(["--storage-driver", "vfs"]);
    };
    let local = format!("localhost/{reference}");
    let mut build = Command::new(&builder);
    store(&mut build);
    build
        .args(["build", "--format", "oci", "--isolation", "chroot"])
        .arg("--build-arg")
        .arg(format!("VERSION={version}"))
        .arg("--build-arg")
        .arg(format!("SOURCE={}", env!("CARGO_PKG_REPOSITORY")))
        .arg("--build-arg")
        .arg(format!("REVISION={}", git_revision()))
        .arg("--file")
        .arg(workspace_root().join("Dockerfile"))
        .args(["--tag", &local])
        .arg(&context);
    run_tool(&mut build, &builder)?;
    let mut push = Command::new(&builder);
    store(&mut push);
    let mut destination = OsString::from("oci-archive:");
    destination.push(&archive);
    destination.push(format!(":{reference}"));
    push.args(["push", "--quiet", &local]).arg(&destination);
    run_tool(&mut push, &builder)?;
    remove_dir_if_exists(&storage)?;

    Ok(Built {
        platform: format!("linux/{arch}"),
        archive_bytes: file_size(&archive)?,
        binary_bytes: file_size(&context.join("ray-operator"))?,
        archive,
        reference,
    })
}

/// buildah, else podman (both build a Dockerfile without a daemon, with the same options).
fn image_builder() -> anyhow::Result<PathBuf> {
    ["buildah", "podman"]
        .into_iter()
        .find_map(on_path)
        .context(
            "neither buildah nor podman is installed; install one (Debian: `apt-get install buildah`, or \
             `apt-get install podman`), and skopeo to push the result",
        )
}

/// The first executable named `name` on `PATH`.
fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// The host's target triple, from `rustc -vV`.
fn host_triple() -> anyhow::Result<String> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let output = Command::new(&rustc)
        .arg("-vV")
        .output()
        .context("running `rustc -vV` to learn the host triple")?;
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .find_map(|line| line.strip_prefix("host: "))
        .map(str::to_owned)
        .context("`rustc -vV` printed no `host:` line")
}

/// The OCI architecture for a Linux glibc triple: the only kind of host whose static binary this builds.
fn oci_arch(triple: &str) -> anyhow::Result<&'static str> {
    match triple {
        "x86_64-unknown-linux-gnu" => Ok("amd64"),
        "aarch64-unknown-linux-gnu" => Ok("arm64"),
        other => bail!(
            "the image is built from a static glibc binary of the host, and host {other} is not \
             x86_64-unknown-linux-gnu or aarch64-unknown-linux-gnu: build on one of those"
        ),
    }
}

/// `cargo build -p ray-operator --target <triple>` with crt-static; returns the binary.
fn build_binary(target_dir: &Path, triple: &str, debug: bool) -> anyhow::Result<PathBuf> {
    // RUSTFLAGS (which beats per-target rustflags in cargo's config) with the caller's own flags kept. With an
    // explicit --target, cargo applies it to the target's crates only, not to build scripts and proc macros, which
    // cannot be static.
    let mut rustflags = std::env::var("RUSTFLAGS").unwrap_or_default();
    if !rustflags.is_empty() {
        rustflags.push(' ');
    }
    rustflags.push_str("-C target-feature=+crt-static");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .args([
            "build",
            "--locked",
            "-p",
            "ray-operator",
            "--target",
            triple,
        ])
        .arg("--target-dir")
        .arg(target_dir)
        .env("RUSTFLAGS", &rustflags)
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .current_dir(workspace_root());
    if !debug {
        command.arg("--release");
    }
    eprintln!("==> cargo build -p ray-operator --target {triple} (RUSTFLAGS={rustflags})");
    let status = command
        .status()
        .context("running `cargo build -p ray-operator`")?;
    if !status.success() {
        bail!(
            "`cargo build -p ray-operator --target {triple}` failed ({status}); fix the build first"
        );
    }
    Ok(target_dir
        .join(triple)
        .join(if debug { "debug" } else { "release" })
        .join("ray-operator"))
}

/// Lays out the build context the Dockerfile describes, from nothing.
fn prepare_context(context: &Path, binary: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;

    remove_dir_if_exists(context)?;
    std::fs::create_dir_all(context).with_context(|| format!("creating {}", context.display()))?;
    let copy = |from: &Path, name: &str, mode: u32| -> anyhow::Result<()> {
        let to = context.join(name);
        std::fs::copy(from, &to)
            .with_context(|| format!("copying {} to {}", from.display(), to.display()))?;
        std::fs::set_permissions(&to, std::fs::Permissions::from_mode(mode))
            .with_context(|| format!("setting the mode of {}", to.display()))
    };
    copy(binary, "ray-operator", 0o755)?;
    if !Path::new(CA_BUNDLE).is_file() {
        bail!(
            "{CA_BUNDLE} is missing: install the CA bundle the image carries (Debian: `apt-get install ca-certificates`)"
        );
    }
    copy(Path::new(CA_BUNDLE), "ca-certificates.crt", 0o644)?;
    for (name, text) in [("passwd", PASSWD), ("group", GROUP)] {
        let to = context.join(name);
        std::fs::write(&to, text).with_context(|| format!("writing {}", to.display()))?;
        std::fs::set_permissions(&to, std::fs::Permissions::from_mode(0o644))
            .with_context(|| format!("setting the mode of {}", to.display()))?;
    }
    Ok(())
}

/// The checked-out commit for the `revision` label, or `unknown` outside a git checkout.
fn git_revision() -> String {
    Command::new("git")
        .args(["rev-parse", "HEAD"])
        .current_dir(workspace_root())
        .output()
        .ok()
        .filter(|output| output.status.success())
        .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_owned())
        .filter(|revision| !revision.is_empty())
        .unwrap_or_else(|| "unknown".to_owned())
}

/// Runs a buildah/podman command, failing with its name and status.
fn run_tool(command: &mut Command, tool: &Path) -> anyhow::Result<()> {
    let status = command
        .status()
        .with_context(|| format!("starting {}", tool.display()))?;
    if !status.success() {
        bail!("{} failed ({status}); its output is above", tool.display());
    }
    Ok(())
}

fn file_size(path: &Path) -> anyhow::Result<u64> {
    Ok(std::fs::metadata(path)
        .with_context(|| format!("reading the size of {}", path.display()))?
        .len())
}

fn remove_file_if_exists(path: &Path) -> anyhow::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(e).with_context(|| format!("removing {}", path.display()))
        }
        _ => Ok(()),
    }
}

fn remove_dir_if_exists(path: &Path) -> anyhow::Result<()> {
    match std::fs::remove_dir_all(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(e).with_context(|| format!("removing {}", path.display()))
        }
        _ => Ok(()),
    }
}

/// Bytes as MiB, for messages.
pub fn mib(bytes: u64) -> f64 {
    // Image sizes are far below 2^52 bytes: the conversion is exact.
    #[allow(clippy::cast_precision_loss)]
    let bytes = bytes as f64;
    bytes / (1024.0 * 1024.0)
}
