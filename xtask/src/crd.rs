//! `cargo xtask crd [--check]`: write the generated CRDs to `config/crd/`, or check that the committed ones are
//! current.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

/// The directory the CRDs are written to, relative to the workspace root.
const CRD_DIR: &str = "config/crd";

/// Writes (or, with `check`, compares) every CRD file, after checking each CRD against the size budget.
pub fn run(check: bool) -> anyhow::Result<()> {
    let dir = workspace_root().join(CRD_DIR);
    let files = ray_crd::crd_files().context("generating the CRDs")?;
    report_sizes()?;

    let mut stale = Vec::new();
    for file in &files {
        let path = dir.join(&file.file_name);
        let current = match fs::read_to_string(&path) {
            Ok(text) => Some(text),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => None,
            Err(err) => return Err(err).with_context(|| format!("reading {}", path.display())),
        };
        if current.as_deref() == Some(file.contents.as_str()) {
            continue;
        }
        if check {
            let what = if current.is_some() {
                "differs from the generated CRD"
            } else {
                "is missing"
            };
            stale.push(format!("{CRD_DIR}/{} {what}", file.file_name));
        } else {
            fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            fs::write(&path, &file.contents)
                .with_context(|| format!("writing {}", path.display()))?;
            eprintln!("wrote {CRD_DIR}/{}", file.file_name);
        }
    }
    // A ray.io CRD file we no longer generate (a renamed or removed kind) would still be installed by
    // `kubectl apply -f config/crd/`.
    for leftover in leftovers(&dir, &files)? {
        if check {
            stale.push(format!("{CRD_DIR}/{leftover} is not generated any more"));
        } else {
            let path = dir.join(&leftover);
            fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
            eprintln!("removed {CRD_DIR}/{leftover}");
        }
    }

    if !stale.is_empty() {
        bail!(
            "the committed CRDs are stale:\n  {}\nThe API types changed since config/crd/ was generated. Run \
             `cargo xtask crd` and commit the changes in config/crd/.",
            stale.join("\n  ")
        );
    }
    if check {
        eprintln!("{CRD_DIR}/ is up to date");
    }
    Ok(())
}

/// Prints the CRDs with the `Webhook` conversion strategy to standard output (`config/crd/` is left alone).
pub fn print_with_conversion(webhook: &ray_crd::ConversionWebhook) -> anyhow::Result<()> {
    let yaml = ray_crd::all_crds_yaml_with(Some(webhook)).context("generating the CRDs")?;
    print!("{yaml}");
    Ok(())
}

/// Prints each CRD's compact-JSON size and fails if one is over the client-side apply budget.
fn report_sizes() -> anyhow::Result<()> {
    let mut over = Vec::new();
    for crd in ray_crd::crds().context("generating the CRDs")? {
        let name = crd.metadata.name.clone().unwrap_or_default();
        let size = ray_crd::compact_json_size(&crd).with_context(|| format!("measuring {name}"))?;
        eprintln!(
            "{name}: {size} bytes of compact JSON (budget {})",
            ray_crd::SIZE_BUDGET
        );
        if size >= ray_crd::SIZE_BUDGET {
            over.push(name);
        }
    }
    if !over.is_empty() {
        bail!(
            "{} would not install with client-side `kubectl apply` (over {} bytes). Make more subtrees of embedded \
             Kubernetes types opaque in crates/ray-crd/src/shrink.rs (see docs/crds.md).",
            over.join(", "),
            ray_crd::SIZE_BUDGET
        );
    }
    Ok(())
}

/// `ray.io_*.yaml` files in `dir` that are not among `files`.
fn leftovers(dir: &Path, files: &[ray_crd::CrdFile]) -> anyhow::Result<Vec<String>> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(err) => return Err(err).with_context(|| format!("listing {}", dir.display())),
    };
    let mut found = Vec::new();
    for entry in entries {
        let name = entry
            .with_context(|| format!("listing {}", dir.display()))?
            .file_name();
        let name = name.to_string_lossy();
        let ours = name.starts_with("ray.io_") && name.ends_with(".yaml");
        if ours && !files.iter().any(|f| f.file_name == name) {
            found.push(name.into_owned());
        }
    }
    found.sort();
    Ok(found)
}

/// The workspace root: the parent of this crate's directory.
pub(crate) fn workspace_root() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir.parent().unwrap_or(manifest_dir).to_path_buf()
}
