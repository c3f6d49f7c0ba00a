//! `ray-operator render`: print every object the operator would create for RayCluster, RayJob and RayService
//! manifests, without a Kubernetes cluster (like `helm template`).

use std::io::Read;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use ray_api_v1::parse::RayObject;
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
    /// The most pods to render for one cluster; a manifest asking for more is an error naming the field (so a
    /// `replicas: 2147483647` cannot exhaust memory).
    #[arg(long, default_value_t = ray_builders::DEFAULT_MAX_RENDERED_PODS, value_name = "PODS")]
    pub max_pods: u64,
}

/// Reads a manifest file (`-`: standard input), refusing one larger than the YAML limit before reading it whole, so
/// a huge file or an endless pipe cannot exhaust memory.
fn read(path: &PathBuf) -> anyhow::Result<String> {
    let limit = ray_api_v1::parse::limits::MAX_YAML_BYTES;
    let (name, reader): (String, Box<dyn std::io::Read>) = if path.as_os_str() == "-" {
        ("standard input".to_string(), Box::new(std::io::stdin()))
    } else {
        let file =
            std::fs::File::open(path).with_context(|| format!("reading {}", path.display()))?;
        (path.display().to_string(), Box::new(file))
    };
    let mut bytes = Vec::new();
    reader
        .take(u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1))
        .read_to_end(&mut bytes)
        .with_context(|| format!("reading {name}"))?;
    if bytes.len() > limit {
        anyhow::bail!(
            "{name}: larger than {limit} bytes, the most render reads; split it into several files"
        );
    }
    String::from_utf8(bytes).with_context(|| format!("{name}: not UTF-8 text"))
}

/// Reads, validates and renders one manifest document; `Ok(None)` for an empty document. Errors are lines of
/// `<Kind>/<name>: <field path>: <problem>`.
fn render_document(
    doc: Value,
    options: &RenderOptions,
) -> Result<Option<Vec<Rendered>>, Vec<String>> {
    if doc.is_null() {
        return Ok(None);
    }
    let kind = doc
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or("<no kind>")
        .to_string();
    let name = doc
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("<unnamed>")
        .to_string();
    let what = format!("{kind}/{name}");
    // The deprecated v1alpha1 is converted to v1 exactly as the API server serves it.
    let doc = if doc.get("apiVersion").and_then(Value::as_str) == Some("ray.io/v1alpha1") {
        ray_api_v1alpha1::convert(doc, "ray.io/v1").map_err(|e| vec![format!("{what}: {e}")])?
    } else {
        doc
    };
    let object = RayObject::from_json_value(doc).map_err(|e| vec![format!("{what}: {e}")])?;
    // What the operator ignores or does not create yet, so the output is not mistaken for the whole story.
    let notes = match &object {
        RayObject::Cluster(cluster) => ray_builders::cluster_notes(cluster),
        RayObject::Job(job) => ray_builders::job_notes(job),
        RayObject::Service(service) => ray_builders::service_notes(service),
    };
    for note in notes {
        eprintln!("note: {what}: {note}");
    }
    object.validate().map_err(|errors| {
        errors
            .iter()
            .map(|e| format!("{what}: {e}"))
            .collect::<Vec<_>>()
    })?;
    let rendered = match &object {
        RayObject::Cluster(cluster) => ray_builders::render_cluster(cluster, options),
        RayObject::Job(job) => ray_builders::render_job(job, options),
        RayObject::Service(service) => ray_builders::render_service(service, options),
    };
    rendered.map(Some).map_err(|e| vec![format!("{what}: {e}")])
}

/// Renders the manifests to a YAML stream, or returns every problem found (each naming its file, document and
/// field). The outer error is for files that cannot be read at all.
pub fn render_to_string(args: &RenderArgs) -> anyhow::Result<Result<String, Vec<String>>> {
    let options = RenderOptions {
        default_namespace: args.namespace.clone(),
        cluster_domain: args.cluster_domain.clone(),
        max_rendered_pods: args.max_pods,
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
                Err(found) => problems.extend(
                    found
                        .into_iter()
                        .map(|problem| format!("{file} (document {}): {problem}", index + 1)),
                ),
            }
        }
    }
    if !problems.is_empty() {
        return Ok(Err(problems));
    }
    Ok(Ok(out))
}

/// Runs `ray-operator render`: prints the YAML stream, or every problem (one per line on standard error) and
/// exits with status 1 without printing any object.
pub fn run(args: &RenderArgs) -> anyhow::Result<()> {
    match render_to_string(args)? {
        Ok(yaml) => std::io::Write::write_all(&mut std::io::stdout(), yaml.as_bytes())?,
        Err(problems) => {
            eprintln!("error: the manifests are invalid; nothing was rendered:");
            for problem in problems {
                eprintln!("  {problem}");
            }
            std::process::exit(1);
        }
    }
    Ok(())
}
