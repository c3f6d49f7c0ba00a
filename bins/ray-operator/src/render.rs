//! `ray-operator render`: print every object the operator would create for RayCluster, RayJob and RayService
//! manifests, without a Kubernetes cluster (like `helm template`).

use std::io::Read;
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Args;
use ray_builders::{RenderOptions, Rendered};
use serde_json::Value;

/// Arguments of `ray-operator render`.
#[derive(Debug, Args)]
pub struct RenderArgs {
    /// A manifest file (YAML or JSON, one or more documents) with RayCluster, RayJob or RayService objects; `-`
    /// reads standard input. Repeat to render several files.
    #[arg(short = 'f', long = "filename", required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// The namespace of objects whose manifest has none.
    #[arg(short = 'n', long, default_value = "default")]
    pub namespace: String,
    /// The cluster's DNS domain, used in the head Service's address.
    #[arg(long, default_value = "cluster.local")]
    pub cluster_domain: String,
}

fn read(path: &PathBuf) -> anyhow::Result<String> {
    if path.as_os_str() == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("reading standard input")?;
        Ok(text)
    } else {
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
    }
}

/// Renders one manifest document; `Ok(None)` for an empty document.
fn render_document(doc: Value, options: &RenderOptions) -> Result<Option<Vec<Rendered>>, String> {
    if doc.is_null() {
        return Ok(None);
    }
    let api_version = doc
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let kind = doc
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let name = doc
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("<unnamed>")
        .to_string();
    let what = format!("{kind}/{name}");
    let fail = |e: String| format!("{what}: {e}");
    if api_version != "ray.io/v1" {
        return Err(fail(format!(
            "apiVersion {api_version:?} is not supported; render reads ray.io/v1 RayCluster, RayJob and RayService objects"
        )));
    }
    let rendered = match kind.as_str() {
        "RayCluster" => {
            let cluster: ray_api_v1::RayCluster =
                serde_json::from_value(doc).map_err(|e| fail(e.to_string()))?;
            ray_builders::render_cluster(&cluster, options)
        }
        "RayJob" => {
            let job: ray_api_v1::RayJob =
                serde_json::from_value(doc).map_err(|e| fail(e.to_string()))?;
            ray_builders::render_job(&job, options)
        }
        "RayService" => {
            let service: ray_api_v1::RayService =
                serde_json::from_value(doc).map_err(|e| fail(e.to_string()))?;
            ray_builders::render_service(&service, options)
        }
        other => {
            return Err(fail(format!(
                "kind {other:?} is not supported; render reads RayCluster, RayJob and RayService"
            )));
        }
    };
    rendered.map(Some).map_err(|e| fail(e.to_string()))
}

/// Renders the manifests to a YAML stream, or returns every problem found (each naming its file, document and
/// field).
pub fn render_to_string(args: &RenderArgs) -> anyhow::Result<String> {
    let options = RenderOptions {
        default_namespace: args.namespace.clone(),
        cluster_domain: args.cluster_domain.clone(),
        ..RenderOptions::default()
    };
    let mut out = String::new();
    let mut problems = Vec::new();
    for path in &args.files {
        let text = read(path)?;
        let file = if path.as_os_str() == "-" {
            "<stdin>".to_string()
        } else {
            path.display().to_string()
        };
        let docs: Vec<Value> = match serde_saphyr::from_multiple(&text) {
            Ok(docs) => docs,
            Err(e) => {
                problems.push(format!("{file}: not valid YAML: {e}"));
                continue;
            }
        };
        for (index, doc) in docs.into_iter().enumerate() {
            match render_document(doc, &options) {
                Ok(None) => {}
                Ok(Some(objects)) => {
                    out.push_str(&ray_builders::objects::to_yaml_stream(&objects)?)
                }
                Err(problem) => {
                    problems.push(format!("{file} (document {}): {problem}", index + 1))
                }
            }
        }
    }
    if !problems.is_empty() {
        bail!("the manifests are invalid:\n  {}", problems.join("\n  "));
    }
    Ok(out)
}

/// Runs `ray-operator render`.
pub fn run(args: &RenderArgs) -> anyhow::Result<()> {
    let yaml = render_to_string(args)?;
    std::io::Write::write_all(&mut std::io::stdout(), yaml.as_bytes())?;
    Ok(())
}
