//! Where the test environment's binaries live, and which versions this checkout pins.
//!
//! The binaries are built from Go modules (see `xtask/testenv-go/`) and Ray is installed from PyPI, once per machine,
//! into a cache directory outside the source tree: a fresh clone, a second worktree and CI on the same machine all
//! reuse one build, which takes many minutes on two cores. Every component has its own versioned directory, so
//! bumping one pin rebuilds only that component and an old checkout keeps finding its own versions.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::{Error, Result};

/// The Kubernetes release of kube-apiserver, kube-controller-manager and kube-scheduler. It matches the
/// `k8s-openapi` feature (`v1_37`) the operator is built with; `xtask/testenv-go/kubernetes/go.mod` pins the same.
pub const KUBERNETES_VERSION: &str = "v1.37.2";
/// The etcd server release (`xtask/testenv-go/etcd/go.mod`). Kubernetes 1.37 is built against the etcd 3.7 client.
pub const ETCD_VERSION: &str = "v3.7.3";
/// The kwok release (`xtask/testenv-go/kwok/go.mod`), which plays kubelet for fake nodes.
pub const KWOK_VERSION: &str = "v0.8.0";
/// The Helm release the chart tests render `charts/` with (`xtask/testenv-go/helm/go.mod`). kubectl needs no
/// constant of its own: it is built at [`KUBERNETES_VERSION`].
pub const HELM_VERSION: &str = "v4.3.1";
/// The Ray release installed into the venv (`ray[default,serve]`). The dashboard API notes in the shared spec were
/// recorded against this version.
pub const RAY_VERSION: &str = "2.60.0";
/// The Kueue release the Kueue integration tests queue RayJobs and RayClusters with (`xtask/testenv-go/kueue/go.mod`).
pub const KUEUE_VERSION: &str = "v0.17.0";
/// Kueue's Go module; its manager is the main package `cmd/kueue` of it.
pub const KUEUE_MODULE: &str = "sigs.k8s.io/kueue";

/// Environment variable that overrides the cache directory.
pub const CACHE_ENV: &str = "RAY_TESTENV_CACHE";

/// The cache directory and the paths inside it.
#[derive(Debug, Clone)]
pub struct Layout {
    root: PathBuf,
}

impl Layout {
    /// The default cache: `$RAY_TESTENV_CACHE`, else `$XDG_CACHE_HOME/ray-operator-rs/testenv`, else
    /// `$HOME/.cache/ray-operator-rs/testenv`.
    pub fn from_env() -> Result<Self> {
        if let Some(dir) = std::env::var_os(CACHE_ENV).filter(|v| !v.is_empty()) {
            return Ok(Self::at(dir));
        }
        let base = std::env::var_os("XDG_CACHE_HOME")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| {
                std::env::var_os("HOME")
                    .filter(|v| !v.is_empty())
                    .map(|h| PathBuf::from(h).join(".cache"))
            })
            .ok_or(Error::NoCacheDir)?;
        Ok(Self::at(base.join("ray-operator-rs").join("testenv")))
    }

    /// A cache rooted at `root` (tests use this to point at an empty directory).
    pub fn at(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The cache root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `kube-apiserver`, `kube-controller-manager` and `kube-scheduler` live here.
    pub fn kubernetes_bin(&self) -> PathBuf {
        self.root
            .join(format!("kubernetes-{KUBERNETES_VERSION}"))
            .join("bin")
    }

    /// `etcd` lives here.
    pub fn etcd_bin(&self) -> PathBuf {
        self.root.join(format!("etcd-{ETCD_VERSION}")).join("bin")
    }

    /// The kwok directory: `bin/kwok` and `stages.yaml`.
    pub fn kwok_dir(&self) -> PathBuf {
        self.root.join(format!("kwok-{KWOK_VERSION}"))
    }

    /// `kubectl` lives here (built at [`KUBERNETES_VERSION`], kustomize included).
    pub fn kubectl_bin(&self) -> PathBuf {
        self.root
            .join(format!("kubectl-{KUBERNETES_VERSION}"))
            .join("bin")
    }

    /// `helm` lives here.
    pub fn helm_bin(&self) -> PathBuf {
        self.root.join(format!("helm-{HELM_VERSION}")).join("bin")
    }

    /// The Kueue directory: `bin/kueue`, `crds/` (Kueue's `config/components/crd/bases`) and `webhooks.yaml` (its
    /// `config/components/webhook/manifests.yaml`), all from the module the binary was built from.
    pub fn kueue_dir(&self) -> PathBuf {
        self.root.join(format!("kueue-{KUEUE_VERSION}"))
    }

    /// Kueue's manager binary.
    pub fn kueue_bin(&self) -> PathBuf {
        self.kueue_dir().join("bin").join("kueue")
    }

    /// Kueue's CRDs, for [`crate::install_crds`].
    pub fn kueue_crd_dir(&self) -> PathBuf {
        self.kueue_dir().join("crds")
    }

    /// Kueue's webhook configurations as released (Service-backed; [`crate::Kueue`] rewrites them to a URL).
    pub fn kueue_webhooks(&self) -> PathBuf {
        self.kueue_dir().join("webhooks.yaml")
    }

    /// Kueue's manager. It has no version flag, so the version is read from the Go build info in the binary.
    pub fn kueue(&self) -> Binary {
        Binary::new("kueue", self.kueue_bin(), KUEUE_VERSION).go_build_info(KUEUE_MODULE)
    }

    /// Checks that Kueue is installed: the binary of [`KUEUE_VERSION`], its CRDs and its webhook manifests.
    pub fn check_kueue(&self) -> Result<()> {
        let has_crds = crate::manifests::yaml_files(&self.kueue_crd_dir())
            .is_ok_and(|files| !files.is_empty());
        if !has_crds || !self.kueue_webhooks().is_file() {
            return Err(Error::MissingBinary {
                name: "Kueue's CRDs and webhook manifests".into(),
                path: self.kueue_dir(),
            });
        }
        self.kueue().check().map(|_| ())
    }

    /// The Ray directory: `venv/` and the `complete` stamp written after a successful install.
    pub fn ray_dir(&self) -> PathBuf {
        self.root.join(format!("ray-{RAY_VERSION}"))
    }

    /// The Ray venv.
    pub fn ray_venv(&self) -> PathBuf {
        self.ray_dir().join("venv")
    }

    /// Written once `pip install` finished, so an interrupted install is never mistaken for a complete one (a venv
    /// cannot be built elsewhere and renamed into place: its scripts carry absolute paths).
    pub fn ray_stamp(&self) -> PathBuf {
        self.ray_dir().join("complete")
    }

    /// The kwok stage definitions (node and pod lifecycles) the control plane starts kwok with. Assembled at install
    /// time from the kwok module's own `kustomize/stage` files, so they always match the kwok binary.
    pub fn kwok_stages(&self) -> PathBuf {
        self.kwok_dir().join("stages.yaml")
    }

    /// State of the detached `cargo xtask up` session (pid file, kubeconfig, logs).
    pub fn session_dir(&self) -> PathBuf {
        self.root.join("session")
    }

    /// Every pinned binary with the version it must report, in the order they are checked.
    pub fn binaries(&self) -> Vec<Binary> {
        let k8s = self.kubernetes_bin();
        let k8s_version = format!("Kubernetes {KUBERNETES_VERSION}");
        vec![
            Binary::new(
                "etcd",
                self.etcd_bin().join("etcd"),
                version_number(ETCD_VERSION),
            ),
            Binary::new("kube-apiserver", k8s.join("kube-apiserver"), &k8s_version),
            Binary::new(
                "kube-controller-manager",
                k8s.join("kube-controller-manager"),
                &k8s_version,
            ),
            Binary::new("kube-scheduler", k8s.join("kube-scheduler"), &k8s_version),
            Binary::new(
                "kwok",
                self.kwok_dir().join("bin").join("kwok"),
                KWOK_VERSION,
            ),
        ]
    }

    /// The command-line tools the install tests run (not needed to start a control plane): `kubectl` and `helm`.
    pub fn tools(&self) -> Vec<Binary> {
        vec![self.kubectl(), self.helm()]
    }

    /// `kubectl`, reporting the control plane's Kubernetes release.
    pub fn kubectl(&self) -> Binary {
        Binary::new(
            "kubectl",
            self.kubectl_bin().join("kubectl"),
            &format!("Client Version: {KUBERNETES_VERSION}"),
        )
        .version_args(&["version", "--client"])
    }

    /// `helm`, reporting [`HELM_VERSION`].
    pub fn helm(&self) -> Binary {
        Binary::new("helm", self.helm_bin().join("helm"), HELM_VERSION)
            .version_args(&["version", "--short"])
    }

    /// The `ray` CLI of the venv, with the version it must report.
    pub fn ray_binary(&self) -> Binary {
        Binary::new("ray", self.ray_venv().join("bin").join("ray"), RAY_VERSION)
    }

    /// Checks that every control-plane binary and the kwok stages exist and report the pinned version.
    pub fn check_control_plane(&self) -> Result<()> {
        for binary in self.binaries() {
            binary.check()?;
        }
        let stages = self.kwok_stages();
        if !stages.is_file() {
            return Err(Error::MissingBinary {
                name: "kwok stages".into(),
                path: stages,
            });
        }
        Ok(())
    }

    /// Checks that the Ray venv is complete and its `ray` reports the pinned version.
    pub fn check_ray(&self) -> Result<()> {
        let ray = self.ray_binary();
        if !self.ray_stamp().is_file() {
            return Err(Error::MissingBinary {
                name: "the Ray venv".into(),
                path: self.ray_venv(),
            });
        }
        ray.check().map(|_| ())
    }
}

/// `v3.7.3` -> `3.7.3`: etcd prints its version without the `v`.
fn version_number(tag: &str) -> &str {
    tag.strip_prefix('v').unwrap_or(tag)
}

/// One pinned executable.
#[derive(Debug, Clone)]
pub struct Binary {
    /// Short name, as in messages.
    pub name: String,
    /// Full path.
    pub path: PathBuf,
    /// A string its version output must contain as a whole word.
    pub expected: String,
    /// The arguments that make it print its version (`--version` for most).
    pub version_args: Vec<String>,
    /// For a Go binary without a version flag (KubeRay's operator): the module whose version the Go build info
    /// embedded in the binary must name. The binary is then read, not run.
    pub go_module: Option<String>,
}

impl Binary {
    pub(crate) fn new(name: &str, path: PathBuf, expected: &str) -> Self {
        Self {
            name: name.into(),
            path,
            expected: expected.into(),
            version_args: vec!["--version".into()],
            go_module: None,
        }
    }

    /// Checks the version in the Go build info instead of running the binary (see [`Binary::go_module`]).
    pub(crate) fn go_build_info(mut self, module: &str) -> Self {
        self.go_module = Some(module.to_owned());
        self
    }

    fn version_args(mut self, args: &[&str]) -> Self {
        self.version_args = args.iter().map(|a| (*a).to_owned()).collect();
        self
    }

    /// Runs `<binary> --version` (or its `version_args`) and returns its first line if it names the pinned version.
    pub fn check(&self) -> Result<String> {
        if !self.path.is_file() {
            return Err(Error::MissingBinary {
                name: self.name.clone(),
                path: self.path.clone(),
            });
        }
        if let Some(module) = &self.go_module {
            return self.check_build_info(module);
        }
        let out = Command::new(&self.path)
            .args(&self.version_args)
            .output()
            .map_err(Error::io(format!(
                "running {} {}",
                self.path.display(),
                self.version_args.join(" ")
            )))?;
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let first = text.lines().next().unwrap_or("").trim().to_owned();
        if names_version(&text, &self.expected) {
            Ok(first)
        } else {
            Err(Error::WrongVersion {
                path: self.path.clone(),
                expected: self.expected.clone(),
                found: first,
            })
        }
    }
}

impl Binary {
    /// The Go linker stores the module list in the binary (what `go version -m` prints): a line
    /// `mod\t<module>\t<version>\t<sum>` when the main package is in `module`, `dep\t...` when it is a dependency.
    fn check_build_info(&self, module: &str) -> Result<String> {
        let bytes = std::fs::read(&self.path)
            .map_err(Error::io(format!("reading {}", self.path.display())))?;
        let found = go_module_version(&bytes, module);
        match found {
            Some(version) if version == self.expected => {
                Ok(format!("{module} {version} (Go build info)"))
            }
            _ => Err(Error::WrongVersion {
                path: self.path.clone(),
                expected: self.expected.clone(),
                found: found.map_or_else(
                    || format!("no Go build info for {module}"),
                    |v| format!("{module} {v}"),
                ),
            }),
        }
    }
}

/// The version of `module` in the Go build info of a binary's bytes, if it is listed there.
fn go_module_version<'a>(binary: &'a [u8], module: &str) -> Option<&'a str> {
    let needle = format!("\t{module}\t");
    let needle = needle.as_bytes();
    let mut from = 0;
    while let Some(offset) = find(&binary[from..], needle) {
        let at = from + offset;
        from = at + 1;
        let kind = binary.get(at.saturating_sub(3)..at);
        if kind != Some(b"mod".as_slice()) && kind != Some(b"dep".as_slice()) {
            continue;
        }
        let rest = &binary[at + needle.len()..];
        let end = rest.iter().position(|&b| b == b'\t' || b == b'\n')?;
        return std::str::from_utf8(&rest[..end]).ok();
    }
    None
}

/// The first position of `needle` in `haystack`: a scan for its first byte, then a comparison.
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    let (&first, tail) = needle.split_first()?;
    let mut from = 0;
    while let Some(offset) = haystack[from..].iter().position(|&b| b == first) {
        let at = from + offset;
        if haystack[at + 1..].starts_with(tail) {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

/// Whether `text` contains `version` not followed by another version character (so `1.37.2` does not match
/// `1.37.20`, and `2.60.0` does not match `2.60.0rc1`).
fn names_version(text: &str, version: &str) -> bool {
    text.match_indices(version).any(|(at, _)| {
        let next = text[at + version.len()..].chars().next();
        !matches!(next, Some(c) if c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '+')
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_match_is_exact() {
        assert!(names_version("Kubernetes v1.37.2\n", "Kubernetes v1.37.2"));
        assert!(!names_version(
            "Kubernetes v1.37.20\n",
            "Kubernetes v1.37.2"
        ));
        assert!(!names_version("ray, version 2.60.0rc1", "2.60.0"));
        assert!(names_version("ray, version 2.60.0\n", "2.60.0"));
        assert!(names_version("etcd Version: 3.7.3\nGit SHA: x", "3.7.3"));
        assert!(!names_version("etcd Version: 3.7.3-alpha", "3.7.3"));
    }

    #[test]
    fn reads_a_module_version_from_go_build_info() {
        let info = b"\x00path\tgithub.com/x/op\nmod\tgithub.com/x/op\tv1.6.2\th1:abc=\ndep\tgithub.com/y\tv0.1.0\th1:d=\n";
        assert_eq!(go_module_version(info, "github.com/x/op"), Some("v1.6.2"));
        assert_eq!(go_module_version(info, "github.com/y"), Some("v0.1.0"));
        assert_eq!(go_module_version(info, "github.com/x"), None);
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("op");
        std::fs::write(&path, info).expect("write");
        let ok = Binary::new("op", path.clone(), "v1.6.2").go_build_info("github.com/x/op");
        assert_eq!(
            ok.check().expect("v1.6.2"),
            "github.com/x/op v1.6.2 (Go build info)"
        );
        let wrong = Binary::new("op", path, "v1.2.2").go_build_info("github.com/x/op");
        let msg = wrong.check().expect_err("v1.6.2 is not v1.2.2").to_string();
        assert!(msg.contains("github.com/x/op v1.6.2"), "{msg}");
    }

    #[test]
    fn directories_carry_versions() {
        let layout = Layout::at("/c");
        assert_eq!(
            layout.kubernetes_bin(),
            PathBuf::from(format!("/c/kubernetes-{KUBERNETES_VERSION}/bin"))
        );
        assert_eq!(
            layout.ray_binary().path,
            PathBuf::from(format!("/c/ray-{RAY_VERSION}/venv/bin/ray"))
        );
    }

    #[test]
    fn missing_kueue_names_the_install_command() {
        let dir = tempfile::tempdir().expect("tempdir");
        let layout = Layout::at(dir.path());
        let msg = layout.check_kueue().expect_err("empty cache").to_string();
        assert!(msg.contains("cargo xtask testenv install"), "{msg}");
        assert!(msg.contains(&format!("kueue-{KUEUE_VERSION}")), "{msg}");
        assert_eq!(
            layout.kueue_bin(),
            dir.path().join(format!("kueue-{KUEUE_VERSION}/bin/kueue"))
        );
    }

    #[test]
    fn missing_binary_names_the_install_command() {
        let dir = tempfile::tempdir().expect("tempdir");
        let err = Layout::at(dir.path())
            .check_control_plane()
            .expect_err("empty cache must fail");
        let msg = err.to_string();
        assert!(msg.contains("etcd not found at"), "{msg}");
        assert!(msg.contains("cargo xtask testenv install"), "{msg}");
    }

    #[test]
    fn wrong_version_is_reported_with_both_versions() {
        let binary = Binary::new("echo", PathBuf::from("/bin/echo"), "v9.9.9");
        let err = binary.check().expect_err("echo prints no version");
        let msg = err.to_string();
        assert!(msg.contains("pins v9.9.9"), "{msg}");
        assert!(msg.contains("cargo xtask testenv install"), "{msg}");
    }
}
