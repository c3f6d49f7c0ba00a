//! Applying YAML manifests through the real API server: our CRDs (`config/crd/`) and sample manifests
//! (`examples/`). Everything goes through server-side apply, so the API server's validation, defaulting and pruning
//! apply exactly as they would for `kubectl apply --server-side`; no kubectl is needed.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{DynamicObject, Patch, PatchParams};
use kube::core::GroupVersionKind;
use kube::discovery::{Scope, pinned_kind};
use kube::{Api, Client};
use serde_json::Value;

use crate::error::{Error, Result};

/// The field manager our applies are recorded under.
pub const FIELD_MANAGER: &str = "ray-testenv";

/// One object of a manifest file, as applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// `Kind`.
    pub kind: String,
    /// `namespace/name`, or `name` for cluster-scoped objects.
    pub name: String,
}

impl std::fmt::Display for Applied {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.kind, self.name)
    }
}

/// Reads every YAML document of a file; empty documents (a trailing `---`) are skipped.
pub fn read_documents(path: &Path) -> Result<Vec<Value>> {
    let text =
        std::fs::read_to_string(path).map_err(Error::io(format!("reading {}", path.display())))?;
    let docs: Vec<Value> = serde_saphyr::from_multiple(&text).map_err(|e| Error::Manifest {
        path: path.to_owned(),
        detail: format!("not valid YAML: {e}"),
    })?;
    Ok(docs.into_iter().filter(|d| !d.is_null()).collect())
}

/// `*.yaml` and `*.yml` files directly in `dir`, sorted by name.
pub fn yaml_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries =
        std::fs::read_dir(dir).map_err(Error::io(format!("listing {}", dir.display())))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_file()
                && p.extension()
                    .is_some_and(|ext| ext == "yaml" || ext == "yml")
        })
        .collect();
    files.sort();
    Ok(files)
}

/// The project's generated CRDs: `config/crd/` of this workspace.
pub fn project_crd_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/crd")
}

/// The start of every test that uses the ray.io API: installs the project's CRDs ([`project_crd_dir`], idempotent)
/// and creates a fresh namespace named after `prefix`, which it returns.
pub async fn project_namespace(client: &Client, prefix: &str) -> Result<String> {
    install_crds(client, &project_crd_dir()).await?;
    crate::namespace::create_namespace(client, prefix).await
}

/// Server-side applies every CustomResourceDefinition in the YAML files of `dir` and waits until each is
/// `Established` (its API is served). Returns the CRD names. Fails if a file holds anything but CRDs, or if `dir`
/// has none: a test that installs nothing would prove nothing.
pub async fn install_crds(client: &Client, dir: &Path) -> Result<Vec<String>> {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let mut names = Vec::new();
    for file in yaml_files(dir)? {
        for doc in read_documents(&file)? {
            let kind = doc.get("kind").and_then(Value::as_str).unwrap_or("");
            if kind != "CustomResourceDefinition" {
                return Err(Error::Manifest {
                    path: file,
                    detail: format!("expected only CustomResourceDefinitions, found kind {kind:?}"),
                });
            }
            let name = object_name(&doc, &file)?;
            crds.patch(&name, &apply_params(), &Patch::Apply(&doc))
                .await
                .map_err(Error::kube(format!(
                    "applying CRD {name} from {}",
                    file.display()
                )))?;
            names.push(name);
        }
    }
    if names.is_empty() {
        return Err(Error::Other(format!(
            "no CustomResourceDefinitions found in {} (generate them with `cargo xtask crd`)",
            dir.display()
        )));
    }
    for name in &names {
        wait_established(&crds, name, Duration::from_secs(30)).await?;
    }
    Ok(names)
}

/// Server-side applies every object in a YAML file, resolving each kind through API discovery (so CRDs installed a
/// moment ago work). Namespaced objects without a namespace go to `default_namespace`. The API server's rejection
/// of an invalid object is returned as is: its message names the offending field.
pub async fn apply_file(
    client: &Client,
    path: &Path,
    default_namespace: &str,
) -> Result<Vec<Applied>> {
    let mut applied = Vec::new();
    for doc in read_documents(path)? {
        let api_version = doc.get("apiVersion").and_then(Value::as_str).unwrap_or("");
        let kind = doc.get("kind").and_then(Value::as_str).unwrap_or("");
        if api_version.is_empty() || kind.is_empty() {
            return Err(Error::Manifest {
                path: path.to_owned(),
                detail: "every document needs apiVersion and kind".into(),
            });
        }
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        let gvk = GroupVersionKind::gvk(group, version, kind);
        let (resource, caps) = pinned_kind(client, &gvk)
            .await
            .map_err(Error::kube(format!(
                "looking up {api_version} {kind} (is its CRD installed?)"
            )))?;
        let name = object_name(&doc, path)?;
        let (api, shown): (Api<DynamicObject>, String) = match caps.scope {
            Scope::Cluster => (Api::all_with(client.clone(), &resource), name.clone()),
            Scope::Namespaced => {
                let ns = doc
                    .pointer("/metadata/namespace")
                    .and_then(Value::as_str)
                    .unwrap_or(default_namespace);
                (
                    Api::namespaced_with(client.clone(), ns, &resource),
                    format!("{ns}/{name}"),
                )
            }
        };
        api.patch(&name, &apply_params(), &Patch::Apply(&doc))
            .await
            .map_err(Error::kube(format!(
                "applying {kind} {shown} from {}",
                path.display()
            )))?;
        applied.push(Applied {
            kind: kind.to_owned(),
            name: shown,
        });
    }
    Ok(applied)
}

fn apply_params() -> PatchParams {
    PatchParams::apply(FIELD_MANAGER).force()
}

fn object_name(doc: &Value, file: &Path) -> Result<String> {
    doc.pointer("/metadata/name")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| Error::Manifest {
            path: file.to_owned(),
            detail: "an object has no metadata.name (generateName cannot be applied)".into(),
        })
}

async fn wait_established(
    crds: &Api<CustomResourceDefinition>,
    name: &str,
    timeout: Duration,
) -> Result<()> {
    let start = Instant::now();
    loop {
        let crd = crds
            .get(name)
            .await
            .map_err(Error::kube(format!("reading CRD {name}")))?;
        let conditions = crd.status.and_then(|s| s.conditions).unwrap_or_default();
        if conditions
            .iter()
            .any(|c| c.type_ == "Established" && c.status == "True")
        {
            return Ok(());
        }
        if start.elapsed() > timeout {
            let seen: Vec<String> = conditions
                .iter()
                .map(|c| {
                    format!(
                        "{}={} ({})",
                        c.type_,
                        c.status,
                        c.message.as_deref().unwrap_or("")
                    )
                })
                .collect();
            return Err(Error::Other(format!(
                "CRD {name} was not Established after {} s; conditions: {}",
                timeout.as_secs(),
                seen.join(", ")
            )));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_multi_document_yaml_and_skips_empty_documents() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("m.yaml");
        std::fs::write(&file, "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n---\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n")
            .expect("write");
        let docs = read_documents(&file).expect("docs");
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[1].pointer("/metadata/name"), Some(&Value::from("b")));
    }

    #[test]
    fn broken_yaml_names_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("bad.yaml");
        std::fs::write(&file, "a: [unclosed\n").expect("write");
        let err = read_documents(&file).expect_err("invalid YAML");
        assert!(err.to_string().contains("bad.yaml"), "{err}");
    }
}
