//! `cargo xtask testenv install`: builds the local control plane's binaries, KubeRay's operator and Kueue from their
//! Go modules and creates the Ray venv, into the cache directory of [`ray_testenv::Layout`]. A second run checks what
//! is there and does nothing else.
//!
//! Each component is built into a `*.partial-<pid>` directory and renamed into place only when complete, so an
//! interrupted build is never mistaken for a finished one. The Ray venv cannot be moved (its scripts hold absolute
//! paths), so it is built in place and marked complete by a stamp file.

use std::io::{BufRead, BufReader, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, bail};
use ray_testenv::{
    Binary, ETCD_VERSION, HELM_VERSION, KUBERAY_MODULE, KUBERAY_VERSION, KUBERAY_VERSIONS,
    KUBERNETES_VERSION, KUEUE_MODULE, KUEUE_VERSION, KWOK_VERSION, Layout, RAY_VERSION,
};

use crate::crd::workspace_root;

/// The kwok stages the control plane runs kwok with: the node and pod lifecycles `kwokctl` uses by default
/// (nodes become Ready and keep a lease; pods get an IP and run; Job pods complete; deleted pods go away), taken
/// from the kwok module itself so they match the binary.
const KWOK_STAGES: &[&str] = &[
    "kustomize/stage/node/fast/node-initialize.yaml",
    "kustomize/stage/node/heartbeat-with-lease/node-heartbeat-with-lease.yaml",
    "kustomize/stage/pod/fast/pod-ready.yaml",
    "kustomize/stage/pod/fast/pod-complete.yaml",
    "kustomize/stage/pod/fast/pod-delete.yaml",
];

/// One Go build: a module directory under `xtask/testenv-go/`, the packages to build, where the binaries go.
struct GoBuild {
    label: String,
    module: String,
    /// The `require` line its go.mod must have, so the cache directory's version cannot drift from the build.
    pin: String,
    packages: &'static [&'static str],
    /// The binary's name when it is not the package's (one package only).
    output: Option<&'static str>,
    ldflags: String,
    /// The directory that holds `bin/`.
    dest: PathBuf,
    /// What else goes into `dest`, taken from the module cache.
    extra: Extra,
}

/// Files a component needs besides its binaries, copied from its Go module so they match the build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Extra {
    None,
    /// `stages.yaml`, see [`KWOK_STAGES`].
    KwokStages,
    /// `crds/`: KubeRay's `config/crd/bases/*.yaml`; `samples/`: its `config/samples/`.
    KubeRayCrds,
    /// `crds/`: Kueue's `config/components/crd/bases/*.yaml`; `webhooks.yaml`: its
    /// `config/components/webhook/manifests.yaml`.
    KueueManifests,
}

fn go_builds(layout: &Layout) -> Vec<GoBuild> {
    let v = "k8s.io/component-base/version";
    let minor = KUBERNETES_VERSION
        .split('.')
        .nth(1)
        .unwrap_or_default()
        .to_owned();
    vec![
        GoBuild {
            label: "etcd".into(),
            module: "etcd".into(),
            pin: format!("go.etcd.io/etcd/server/v3 {ETCD_VERSION}"),
            packages: &["."],
            output: None,
            ldflags: "-s -w".into(),
            dest: parent(&layout.etcd_bin()),
            extra: Extra::None,
        },
        GoBuild {
            label: "Kubernetes control plane".into(),
            module: "kubernetes".into(),
            pin: format!("k8s.io/kubernetes {KUBERNETES_VERSION}"),
            packages: &[
                "k8s.io/kubernetes/cmd/kube-apiserver",
                "k8s.io/kubernetes/cmd/kube-controller-manager",
                "k8s.io/kubernetes/cmd/kube-scheduler",
            ],
            // What Kubernetes' own build stamps in, so `--version` and the API server's /version tell the truth.
            ldflags: format!(
                "-s -w -X {v}.gitVersion={KUBERNETES_VERSION} -X {v}.gitMajor=1 -X {v}.gitMinor={minor} \
                 -X {v}.gitTreeState=clean -X {v}.buildDate=1970-01-01T00:00:00Z"
            ),
            dest: parent(&layout.kubernetes_bin()),
            output: None,
            extra: Extra::None,
        },
        GoBuild {
            label: "kwok".into(),
            module: "kwok".into(),
            pin: format!("sigs.k8s.io/kwok {KWOK_VERSION}"),
            packages: &["sigs.k8s.io/kwok/cmd/kwok"],
            output: None,
            ldflags: "-s -w".into(),
            dest: layout.kwok_dir(),
            extra: Extra::KwokStages,
        },
        // The install tests' tools: kubectl (kustomize built in) and Helm. Built after the control plane, whose
        // compiled k8s.io/* packages they reuse from Go's build cache (kubectl ~30 s, Helm ~2.5 min on 2 cores).
        GoBuild {
            label: "kubectl".into(),
            module: "kubectl".into(),
            pin: format!(
                "k8s.io/kubectl v0.{}",
                KUBERNETES_VERSION.trim_start_matches("v1.")
            ),
            packages: &["."],
            ldflags: format!(
                "-s -w -X {v}.gitVersion={KUBERNETES_VERSION} -X {v}.gitMajor=1 -X {v}.gitMinor={minor} \
                 -X {v}.gitTreeState=clean -X {v}.buildDate=1970-01-01T00:00:00Z"
            ),
            dest: parent(&layout.kubectl_bin()),
            output: None,
            extra: Extra::None,
        },
        GoBuild {
            label: "Helm".into(),
            module: "helm".into(),
            pin: format!("helm.sh/helm/v4 {HELM_VERSION}"),
            packages: &["helm.sh/helm/v4/cmd/helm"],
            output: None,
            ldflags: format!("-s -w -X helm.sh/helm/v4/internal/version.version={HELM_VERSION}"),
            dest: parent(&layout.helm_bin()),
            extra: Extra::None,
        },
        // The benchmark's baseline; other releases only on request (`--kuberay`, `bench --compare`).
        kuberay_build(layout, KUBERAY_VERSION),
        // The queueing controller of the Kueue integration tests (about 5 min on 2 cores after the control
        // plane, whose k8s.io/* packages it partly shares).
        GoBuild {
            label: "Kueue".into(),
            module: "kueue".into(),
            pin: format!("{KUEUE_MODULE} {KUEUE_VERSION}"),
            packages: &["sigs.k8s.io/kueue/cmd/kueue"],
            output: Some("kueue"),
            // What Kueue's Makefile stamps in, so its start-up log names the release.
            ldflags: format!("-s -w -X {KUEUE_MODULE}/pkg/version.GitVersion={KUEUE_VERSION}"),
            dest: layout.kueue_dir(),
            extra: Extra::KueueManifests,
        },
    ]
}

/// KubeRay's operator `version` (one of [`KUBERAY_VERSIONS`]), from `xtask/testenv-go/kuberay-<version>/`. KubeRay
/// stamps no version at link time (it is a constant in its code, and the binary has no version flag); the check
/// reads the module version from the Go build info instead.
fn kuberay_build(layout: &Layout, version: &str) -> GoBuild {
    GoBuild {
        label: format!("KubeRay {version}"),
        module: format!("kuberay-{version}"),
        pin: format!("{KUBERAY_MODULE} {version}"),
        packages: &[KUBERAY_MODULE],
        output: Some("kuberay-operator"),
        ldflags: "-s -w".into(),
        dest: layout.kuberay_dir(version),
        extra: Extra::KubeRayCrds,
    }
}

/// Whether the build's output is in place: its binaries report the pinned versions and its extra files exist.
fn is_installed(layout: &Layout, build: &GoBuild, binaries: &[Binary]) -> bool {
    let binaries_ok = binaries
        .iter()
        .filter(|b| b.path.starts_with(&build.dest))
        .all(|b| b.check().is_ok());
    binaries_ok
        && match build.extra {
            Extra::None => true,
            Extra::KwokStages => layout.kwok_stages().is_file(),
            Extra::KubeRayCrds => {
                build_version(build).is_some_and(|v| layout.check_kuberay(v).is_ok())
            }
            Extra::KueueManifests => layout.check_kueue().is_ok(),
        }
}

/// The KubeRay version of a KubeRay build (`kuberay-v1.6.2` -> `v1.6.2`).
fn build_version(build: &GoBuild) -> Option<&str> {
    build.module.strip_prefix("kuberay-")
}

fn parent(bin: &Path) -> PathBuf {
    bin.parent().unwrap_or(bin).to_owned()
}

/// Options of `cargo xtask testenv install`.
#[derive(Debug, Clone, Copy, Default)]
pub struct InstallOptions {
    /// Skip the Go builds.
    pub skip_go: bool,
    /// Skip the Ray venv.
    pub skip_ray: bool,
}

/// Builds whatever is missing or of the wrong version, then checks everything.
pub fn install(layout: &Layout, options: InstallOptions) -> anyhow::Result<()> {
    install_with(layout, options, &[])
}

/// [`install`], plus the KubeRay releases named in `kuberay` (`v1.2.2`, or `all`), built even with `skip_go`.
pub fn install_with(
    layout: &Layout,
    options: InstallOptions,
    kuberay: &[String],
) -> anyhow::Result<()> {
    let extra_kuberay = kuberay_versions(kuberay)?;
    eprintln!("testenv cache: {}", layout.root().display());
    if !options.skip_go {
        let binaries: Vec<_> = layout
            .binaries()
            .into_iter()
            .chain(layout.tools())
            .chain([layout.kuberay(KUBERAY_VERSION), layout.kueue()])
            .collect();
        for build in go_builds(layout) {
            if !is_installed(layout, &build, &binaries) {
                go_build(&build)?;
            }
        }
        for binary in binaries {
            let version = binary.check()?;
            eprintln!("  {:<24} {version}", binary.name);
        }
        layout.check_control_plane()?;
        layout.check_kuberay(KUBERAY_VERSION)?;
        layout.check_kueue()?;
    }
    for version in extra_kuberay {
        if options.skip_go || version != KUBERAY_VERSION {
            ensure_kuberay(layout, version)?;
            let binary = layout.kuberay(version);
            eprintln!("  {:<24} {}", binary.name, binary.check()?);
        }
    }
    if !options.skip_ray {
        if layout.check_ray().is_err() {
            install_ray(layout)?;
        }
        let version = layout.ray_binary().check()?;
        eprintln!("  {:<24} {version}", "ray");
    }
    Ok(())
}

/// The releases `--kuberay` names (each of [`KUBERAY_VERSIONS`], or `all`), without repeats.
fn kuberay_versions(requested: &[String]) -> anyhow::Result<Vec<&'static str>> {
    let mut versions = Vec::new();
    for name in requested.iter().flat_map(|r| r.split(',')).map(str::trim) {
        let matched: Vec<&'static str> = if name == "all" {
            KUBERAY_VERSIONS.to_vec()
        } else {
            // `1.2.2` means `v1.2.2`.
            let tag = format!("v{}", name.trim_start_matches('v'));
            KUBERAY_VERSIONS
                .iter()
                .copied()
                .filter(|v| *v == tag)
                .collect()
        };
        if matched.is_empty() {
            bail!(
                "unknown KubeRay release {name:?}: xtask/testenv-go/ has modules for {} (or say `all`)",
                KUBERAY_VERSIONS.join(", ")
            );
        }
        for version in matched {
            if !versions.contains(&version) {
                versions.push(version);
            }
        }
    }
    Ok(versions)
}

/// Builds KubeRay's operator `version` (one of [`KUBERAY_VERSIONS`]) and its CRDs into the cache unless they are
/// there already; for `bench --compare kuberay=<version>`, which must not depend on a separate install step.
pub fn ensure_kuberay(layout: &Layout, version: &str) -> anyhow::Result<()> {
    if !KUBERAY_VERSIONS.contains(&version) {
        bail!(
            "unknown KubeRay release {version:?}: xtask/testenv-go/ has modules for {}",
            KUBERAY_VERSIONS.join(", ")
        );
    }
    if layout.check_kuberay(version).is_ok() {
        return Ok(());
    }
    go_build(&kuberay_build(layout, version))?;
    layout.check_kuberay(version)?;
    Ok(())
}

fn go_module_dir(module: &str) -> PathBuf {
    workspace_root().join("xtask/testenv-go").join(module)
}

fn go_build(build: &GoBuild) -> anyhow::Result<()> {
    let module_dir = go_module_dir(&build.module);
    let go_mod = std::fs::read_to_string(module_dir.join("go.mod"))
        .with_context(|| format!("reading {}/go.mod", module_dir.display()))?;
    if !go_mod.contains(&build.pin) {
        bail!(
            "{}/go.mod does not pin `{}`, the version ray-testenv expects: update one to match the other",
            module_dir.display(),
            build.pin
        );
    }
    let go = go_command()?;
    let started = Instant::now();
    let partial = build.dest.with_file_name(format!(
        "{}.partial-{}",
        build.dest.file_name().unwrap_or_default().to_string_lossy(),
        std::process::id()
    ));
    let bin = partial.join("bin");
    std::fs::create_dir_all(&bin).with_context(|| format!("creating {}", bin.display()))?;

    let total = count_packages(&go, &module_dir, build.packages);
    eprintln!(
        "building {} from xtask/testenv-go/{} ({} packages; the first build takes minutes: Kubernetes about 10-20 on 2 cores)",
        build.label,
        build.module,
        total.map_or_else(|| "?".to_owned(), |t| t.to_string())
    );
    let mut child = Command::new(&go)
        .current_dir(&module_dir)
        .args([
            "build",
            "-v",
            "-trimpath",
            "-buildvcs=false",
            "-ldflags",
            &build.ldflags,
            "-o",
        ])
        .arg(if let Some(name) = build.output {
            bin.join(name)
        } else if build.packages == ["."] {
            bin.join(&build.module)
        } else {
            // A directory (trailing slash) for several main packages: each binary gets its package's name.
            PathBuf::from(format!("{}/", bin.display()))
        })
        .args(build.packages)
        // Static binaries, and no C toolchain needed.
        .env("CGO_ENABLED", "0")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting `{} build`", go.display()))?;
    let mut errors = Vec::new();
    if let Some(stderr) = child.stderr.take() {
        let mut progress = Progress::new(&build.label, total);
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            // `go build -v` prints each package as it compiles it; anything else is an error or a download.
            if line.contains(' ') || line.starts_with('#') {
                errors.push(line);
            } else {
                progress.tick();
            }
        }
        progress.finish();
    }
    let status = child.wait().context("waiting for go build")?;
    if !status.success() {
        let _ = std::fs::remove_dir_all(&partial);
        bail!(
            "go build of {} failed ({status}):\n{}",
            build.label,
            errors.join("\n")
        );
    }
    match build.extra {
        Extra::None => {}
        Extra::KwokStages => write_kwok_stages(&go, &module_dir, &partial.join("stages.yaml"))?,
        Extra::KubeRayCrds => {
            copy_kuberay_crds(&go, &module_dir, &partial.join("crds"))?;
            let samples = module_source(&go, &module_dir, KUBERAY_MODULE)?.join("config/samples");
            copy_yaml_tree(&samples, &partial.join("samples"))?;
        }
        Extra::KueueManifests => {
            let kueue = module_source(&go, &module_dir, KUEUE_MODULE)?;
            copy_crds(
                &kueue.join("config/components/crd/bases"),
                &partial.join("crds"),
            )?;
            let webhooks = kueue.join("config/components/webhook/manifests.yaml");
            let text = std::fs::read(&webhooks)
                .with_context(|| format!("reading {}", webhooks.display()))?;
            let dest = partial.join("webhooks.yaml");
            std::fs::write(&dest, text).with_context(|| format!("writing {}", dest.display()))?;
        }
    }
    if build.dest.exists() {
        std::fs::remove_dir_all(&build.dest)
            .with_context(|| format!("removing the outdated {}", build.dest.display()))?;
    }
    std::fs::rename(&partial, &build.dest)
        .with_context(|| format!("moving {} to {}", partial.display(), build.dest.display()))?;
    eprintln!(
        "built {} in {:.0} s -> {}",
        build.label,
        started.elapsed().as_secs_f64(),
        build.dest.display()
    );
    Ok(())
}

/// How many packages the build involves at most (`go list -deps`); `None` if that fails, which only costs the
/// progress display its total.
fn count_packages(go: &Path, module_dir: &Path, packages: &[&str]) -> Option<usize> {
    let out = Command::new(go)
        .current_dir(module_dir)
        .args(["list", "-deps"])
        .args(packages)
        .env("CGO_ENABLED", "0")
        .stderr(Stdio::null())
        .output()
        .ok()?;
    out.status.success().then(|| {
        out.stdout
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .count()
    })
}

/// Where `module` (a dependency of the module in `module_dir`) is in the module cache.
fn module_source(go: &Path, module_dir: &Path, module: &str) -> anyhow::Result<PathBuf> {
    let out = Command::new(go)
        .current_dir(module_dir)
        .args(["list", "-m", "-f", "{{.Dir}}", module])
        .output()
        .with_context(|| format!("locating the {module} module"))?;
    if !out.status.success() {
        bail!(
            "go list -m {module} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
}

/// Copies the release's CRDs (`config/crd/bases/*.yaml` of the KubeRay module) next to its binary, so the cache
/// alone can install and run that release.
fn copy_kuberay_crds(go: &Path, module_dir: &Path, dest: &Path) -> anyhow::Result<()> {
    let bases = module_source(go, module_dir, KUBERAY_MODULE)?.join("config/crd/bases");
    copy_crds(&bases, dest)
}

/// Copies the YAML files of `bases` (a module's CRDs) into `dest`.
fn copy_crds(bases: &Path, dest: &Path) -> anyhow::Result<()> {
    let files = ray_testenv::yaml_files(bases)?;
    if files.is_empty() {
        bail!("no CRDs in {}", bases.display());
    }
    std::fs::create_dir_all(dest).with_context(|| format!("creating {}", dest.display()))?;
    for file in files {
        let target = dest.join(file.file_name().unwrap_or_default());
        // Read and write rather than copy: the module cache's files are read-only, the cache's need not be.
        let text = std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
        std::fs::write(&target, text).with_context(|| format!("writing {}", target.display()))?;
    }
    Ok(())
}

/// Copies the YAML files under `from` (subdirectories kept) to `to`: KubeRay's samples, the test corpus of manifests
/// as users write them.
fn copy_yaml_tree(from: &Path, to: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(to).with_context(|| format!("creating {}", to.display()))?;
    let entries = std::fs::read_dir(from).with_context(|| format!("listing {}", from.display()))?;
    for entry in entries {
        let path = entry
            .with_context(|| format!("listing {}", from.display()))?
            .path();
        let target = to.join(path.file_name().unwrap_or_default());
        if path.is_dir() {
            copy_yaml_tree(&path, &target)?;
        } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            // Read and write rather than copy: the module cache's files are read-only.
            let text =
                std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
            std::fs::write(&target, text)
                .with_context(|| format!("writing {}", target.display()))?;
        }
    }
    Ok(())
}

/// Concatenates kwok's own stage files (from the module cache) into one config file for `kwok --config`.
fn write_kwok_stages(go: &Path, module_dir: &Path, dest: &Path) -> anyhow::Result<()> {
    let kwok_dir = module_source(go, module_dir, "sigs.k8s.io/kwok")?;
    let mut text = String::from(
        "# kwok stages for ray-testenv, concatenated by `cargo xtask testenv install` from the kwok module.\n",
    );
    for stage in KWOK_STAGES {
        let path = kwok_dir.join(stage);
        let body = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        text.push_str("---\n");
        text.push_str(&body);
    }
    std::fs::write(dest, text).with_context(|| format!("writing {}", dest.display()))
}

/// The `go` command, after checking that it runs.
fn go_command() -> anyhow::Result<PathBuf> {
    let out = Command::new("go").arg("version").output();
    match out {
        Ok(o) if o.status.success() => Ok(PathBuf::from("go")),
        _ => bail!(
            "`go` was not found on PATH: the local control plane is built from Go modules; install Go 1.26 or newer"
        ),
    }
}

/// Creates the venv and installs `ray[default,serve]` with every version pinned by `xtask/testenv-ray/constraints.txt`.
fn install_ray(layout: &Layout) -> anyhow::Result<()> {
    let started = Instant::now();
    let dir = layout.ray_dir();
    let venv = layout.ray_venv();
    // Whatever is there is incomplete (no stamp) or of another version: start over.
    if dir.exists() {
        std::fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    eprintln!(
        "creating the Ray {RAY_VERSION} venv in {} (pip install 'ray[default,serve]', about a minute)",
        venv.display()
    );
    run(Command::new("python3").args(["-m", "venv"]).arg(&venv))
        .context("creating the Ray venv (is python3 with the venv module installed? on Debian: apt-get install python3-venv)")?;
    let constraints = workspace_root().join("xtask/testenv-ray/constraints.txt");
    run(Command::new(venv.join("bin/pip"))
        .args([
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--progress-bar",
            "off",
            "-c",
        ])
        .arg(&constraints)
        .arg(format!("ray[default,serve]=={RAY_VERSION}")))
    .context("installing Ray into the venv")?;
    std::fs::write(layout.ray_stamp(), RAY_VERSION)
        .with_context(|| format!("writing {}", layout.ray_stamp().display()))?;
    eprintln!(
        "installed Ray {RAY_VERSION} in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn run(cmd: &mut Command) -> anyhow::Result<()> {
    let status = cmd
        .status()
        .with_context(|| format!("starting {:?}", cmd.get_program()))?;
    if !status.success() {
        bail!("{:?} failed ({status})", cmd.get_program());
    }
    Ok(())
}

/// A package counter: one rewritten line on a terminal, a line every 10% otherwise (CI logs).
struct Progress {
    label: String,
    total: Option<usize>,
    done: usize,
    tty: bool,
    last_decile: usize,
}

impl Progress {
    fn new(label: &str, total: Option<usize>) -> Self {
        Self {
            label: label.to_owned(),
            total,
            done: 0,
            tty: std::io::stderr().is_terminal(),
            last_decile: 0,
        }
    }

    fn tick(&mut self) {
        self.done += 1;
        let of = self
            .total
            .map(|t| format!(" of at most {t}"))
            .unwrap_or_default();
        if self.tty {
            eprint!("\r  {}: compiled {}{of} packages", self.label, self.done);
            let _ = std::io::stderr().flush();
        } else if let Some(total) = self.total.filter(|&t| t > 0) {
            let decile = self.done * 10 / total;
            if decile > self.last_decile {
                self.last_decile = decile;
                eprintln!("  {}: compiled {}{of} packages", self.label, self.done);
            }
        }
    }

    fn finish(&self) {
        if self.tty {
            eprintln!();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The versions ray-testenv looks for are the ones the Go modules build.
    #[test]
    fn go_modules_pin_the_versions_ray_testenv_expects() {
        let layout = Layout::at("/cache");
        let builds = go_builds(&layout)
            .into_iter()
            .chain(KUBERAY_VERSIONS.map(|v| kuberay_build(&layout, v)));
        for build in builds {
            let path = go_module_dir(&build.module).join("go.mod");
            let go_mod = std::fs::read_to_string(&path).expect("go.mod");
            assert!(
                go_mod.contains(&build.pin),
                "{} lacks `{}`",
                path.display(),
                build.pin
            );
        }
        let kube =
            std::fs::read_to_string(go_module_dir("kubernetes").join("go.mod")).expect("go.mod");
        let minor_patch = KUBERNETES_VERSION.strip_prefix("v1.").expect("v1.x.y");
        let staging = format!("v0.{minor_patch}");
        let replaces = kube.lines().filter(|l| l.contains("=> k8s.io/")).count();
        let matching = kube
            .lines()
            .filter(|l| l.contains("=> k8s.io/") && l.trim_end().ends_with(&staging))
            .count();
        assert!(replaces > 20, "expected the staging replace lines");
        assert_eq!(
            replaces, matching,
            "every staging module must be pinned to {staging}"
        );
    }

    #[test]
    fn kuberay_flag_accepts_versions_lists_and_all() {
        let args = |a: &[&str]| a.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(
            kuberay_versions(&args(&["v1.2.2"])).expect("known"),
            ["v1.2.2"]
        );
        assert_eq!(
            kuberay_versions(&args(&["1.2.2,v1.6.2", "v1.2.2"])).expect("known"),
            ["v1.2.2", "v1.6.2"]
        );
        assert_eq!(
            kuberay_versions(&args(&["all"])).expect("all"),
            KUBERAY_VERSIONS
        );
        let err = kuberay_versions(&args(&["v1.3.0"])).expect_err("no module");
        assert!(err.to_string().contains("v1.6.2, v1.2.2"), "{err}");
    }

    #[test]
    fn the_ray_constraints_pin_ray() {
        let path = workspace_root().join("xtask/testenv-ray/constraints.txt");
        let text = std::fs::read_to_string(&path).expect("constraints");
        assert!(
            text.lines().any(|l| l == format!("ray=={RAY_VERSION}")),
            "{}",
            path.display()
        );
    }
}
