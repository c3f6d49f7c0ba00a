//! `ray-operator render`: print every object the operator would create for RayCluster, RayJob and RayService
//! manifests, without a Kubernetes cluster (like `helm template`); for a RayCronJob, the RayJob it creates at its
//! next schedule time and what that RayJob creates. Manifests are read as `kubectl apply` reads them (see
//! docs/rendering.md): other kinds in the same file are skipped with a note, `generateName` objects get a
//! placeholder name, and unknown fields are named.

use std::io::Read;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use k8s_openapi::jiff::Timestamp;
use ray_api_v1::RayCronJob;
use ray_api_v1::parse::{Document, ParsedObject, RayObject, deserialize_reporting_unknown};
use ray_api_v1::raycronjob::schedule::CronSchedule;
use ray_builders::RenderOptions;
use serde_json::Value;

/// Arguments of `ray-operator render`.
#[derive(Debug, Args)]
pub struct RenderArgs {
    /// A manifest file (YAML or JSON, one or more documents) with RayCluster, RayJob, RayService or RayCronJob
    /// objects; `-` reads standard input. Repeat to render several files.
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
    /// Refuse fields the API types do not know (each is named by its path) and render nothing, like an API server
    /// with strict field validation. Without it each such field is a warning and rendering goes on.
    #[arg(long)]
    pub strict: bool,
    /// The time a RayCronJob's next schedule time is counted from, RFC 3339 (for example 2026-03-01T00:00:00Z),
    /// for output that does not change with the clock. Default: the current time.
    #[arg(long, value_name = "TIME")]
    pub now: Option<Timestamp>,
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

/// What `render` puts in place of the 5 random characters the API server appends to a `generateName` prefix, so
/// the names of the objects derived from it show as they will look.
const GENERATED_NAME_PLACEHOLDER: &str = "xxxxx";

/// `RayCluster/demo` for messages about a document: its kind and name (a `generateName` prefix with the
/// placeholder), or `None` when it has no kind to name.
fn describe(doc: &Value) -> Option<String> {
    let kind = doc.get("kind")?.as_str()?;
    let metadata = doc.get("metadata");
    let text = |field: &str| {
        metadata
            .and_then(|m| m.get(field))
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
    };
    let name = match (text("name"), text("generateName")) {
        (Some(name), _) => name.to_owned(),
        (None, Some(prefix)) => format!("{prefix}{GENERATED_NAME_PLACEHOLDER}"),
        (None, None) => "<unnamed>".to_owned(),
    };
    Some(format!("{kind}/{name}"))
}

/// Reads a ray.io/v1alpha1 object: lists its unknown fields with the v1alpha1 types (the conversion would drop
/// them unseen), converts it to v1 exactly as the API server serves it, and reads the result.
fn read_v1alpha1(kind: &str, value: Value) -> Result<ParsedObject, String> {
    let unknown = match kind {
        "RayCluster" => deserialize_reporting_unknown::<ray_api_v1alpha1::RayCluster>(value.clone()).map(|(_, unknown)| unknown),
        "RayJob" => deserialize_reporting_unknown::<ray_api_v1alpha1::RayJob>(value.clone()).map(|(_, unknown)| unknown),
        "RayService" => deserialize_reporting_unknown::<ray_api_v1alpha1::RayService>(value.clone()).map(|(_, unknown)| unknown),
        "RayCronJob" => {
            return Err(
                "apiVersion: RayCronJob exists only in ray.io/v1 (it never had a v1alpha1 version): set \
                 apiVersion: ray.io/v1"
                    .to_owned(),
            );
        }
        other => {
            return Err(format!(
                "kind: expected RayCluster, RayJob or RayService, found \"{other}\": this operator does not \
                 implement {other}"
            ));
        }
    }
    .map_err(|e| e.to_string())?;
    let converted =
        ray_api_v1alpha1::convert(value, ray_api_v1::API_VERSION).map_err(|e| e.to_string())?;
    let mut parsed = ParsedObject::from_json_value(converted).map_err(|e| e.to_string())?;
    for path in unknown {
        if !parsed.unknown_fields.contains(&path) {
            parsed.unknown_fields.push(path);
        }
    }
    Ok(parsed)
}

/// Reads, validates and renders one manifest document (`at` names it: `<file> (document N)`); `Ok(None)` for a
/// document that is not a Ray object, which is skipped with a note. Errors are lines of
/// `<Kind>/<name>: <field path>: <problem>`.
fn render_document(
    doc: Value,
    at: &str,
    options: &RenderOptions,
    strict: bool,
    now: Timestamp,
) -> Result<Option<String>, Vec<String>> {
    let what = describe(&doc);
    let prefixed = |problem: String| match &what {
        Some(what) => format!("{what}: {problem}"),
        None => problem,
    };
    let parsed = match Document::from_json_value(doc).map_err(|e| vec![prefixed(e.to_string())])? {
        Document::Ray(parsed) => parsed,
        // The deprecated v1alpha1 is converted to v1, as the API server serves it.
        Document::V1alpha1 { kind, value } => {
            read_v1alpha1(&kind, value).map_err(|e| vec![prefixed(e)])?
        }
        Document::Other(other) => {
            eprintln!("note: {at}: skipped {other}: not a ray.io object");
            return Ok(None);
        }
    };
    let what = what.unwrap_or_default();
    // Nothing the user wrote disappears without a word: an unknown field is a warning, or with --strict an error.
    let unknown = parsed.unknown_field_errors();
    if strict && !unknown.is_empty() {
        return Err(unknown.iter().map(|e| format!("{what}: {e}")).collect());
    }
    for problem in &unknown {
        eprintln!("warning: {at}: {what}: {problem} (--strict makes this an error)");
    }
    let mut object = parsed.object;
    // What the operator ignores or does not create yet, so the output is not mistaken for the whole story.
    let notes = match &object {
        RayObject::Cluster(cluster) => ray_builders::cluster_notes(cluster),
        RayObject::Job(job) => ray_builders::job_notes(job),
        RayObject::Service(service) => ray_builders::service_notes(service),
        RayObject::CronJob(cron_job) => {
            ray_builders::job_notes(&cron_job.job_at(Timestamp::UNIX_EPOCH))
        }
    };
    for note in notes {
        eprintln!("note: {what}: {note}");
    }
    // Validated as written, so a missing name or a bad generateName prefix is reported as such.
    object.validate().map_err(|errors| {
        errors
            .iter()
            .map(|e| format!("{what}: {e}"))
            .collect::<Vec<_>>()
    })?;
    let generated = match (
        object.metadata().name.as_deref(),
        object.metadata().generate_name.clone(),
    ) {
        (None | Some(""), Some(prefix)) => {
            let name = format!("{prefix}{GENERATED_NAME_PLACEHOLDER}");
            object.metadata_mut().name = Some(name.clone());
            let note = format!(
                "metadata.generateName is \"{prefix}\": shown as \"{name}\", where the API server puts 5 random \
                 characters in place of {GENERATED_NAME_PLACEHOLDER}"
            );
            eprintln!("note: {at}: {what}: {note}");
            Some(note)
        }
        _ => None,
    };
    let rendered = match &object {
        RayObject::Cluster(cluster) => ray_builders::render_cluster(cluster, options),
        RayObject::Job(job) => ray_builders::render_job(job, options),
        RayObject::Service(service) => ray_builders::render_service(service, options),
        RayObject::CronJob(cron_job) => {
            return render_cron_job(cron_job, &what, options, now)
                .map(Some)
                .map_err(|e| vec![format!("{what}: {e}")]);
        }
    }
    .map_err(|e| vec![format!("{what}: {e}")])?;
    let mut yaml = ray_builders::objects::to_yaml_stream(&rendered)
        .map_err(|e| vec![format!("{what}: {e}")])?;
    if let Some(note) = generated {
        // The same note in the output, under each object's `# Source:` line, so it travels with the YAML.
        let source = format!("# Source: {what}\n");
        yaml = yaml.replace(&source, &format!("{source}# {note}\n"));
    }
    Ok(Some(yaml))
}

/// A RayCronJob as the RayJob it creates at its first schedule time after `now`, followed by what that RayJob
/// renders to; nothing while it is suspended.
fn render_cron_job(
    cron_job: &RayCronJob,
    what: &str,
    options: &RenderOptions,
    now: Timestamp,
) -> anyhow::Result<String> {
    if cron_job.spec.suspend {
        eprintln!("note: {what}: spec.suspend is true: it creates no RayJob until it is false");
        return Ok(String::new());
    }
    let spec = &cron_job.spec;
    let schedule = CronSchedule::parse(&spec.schedule, spec.time_zone.as_deref())?;
    let next = schedule.next_after(now).with_context(|| {
        format!(
            "spec.schedule: \"{}\" fires no more after {now}",
            spec.schedule
        )
    })?;
    let mut cron_job = cron_job.clone();
    if cron_job.metadata.namespace.is_none() {
        cron_job.metadata.namespace = Some(options.default_namespace.clone());
    }
    let job = cron_job.job_at(next);
    let name = cron_job.metadata.name.clone().unwrap_or_default();
    let zone = spec.time_zone.as_deref().unwrap_or("UTC");
    let mut out = format!(
        "---\n# Source: {what}\n# The RayJob created at the next schedule time, {next} (\"{}\" in {zone}); every \
         schedule time creates one like it, named {name}-<minutes since 1970>.\n",
        spec.schedule
    );
    out.push_str(&serde_saphyr::to_string(&job).context("writing the RayJob as YAML")?);
    if !out.ends_with('\n') {
        out.push('\n');
    }
    let rendered = ray_builders::render_job(&job, options)?;
    out.push_str(&ray_builders::objects::to_yaml_stream(&rendered)?);
    Ok(out)
}

/// Renders the manifests to a YAML stream, or returns every problem found (each naming its file, document and
/// field). The outer error is for files that cannot be read at all.
///
/// Documents that are not ray.io objects (ConfigMaps, Ingresses, a scheduler's Queue, ...) are skipped with a note
/// on standard error, and fields the types do not know are warnings (errors with `--strict`).
pub fn render_to_string(args: &RenderArgs) -> anyhow::Result<Result<String, Vec<String>>> {
    let options = RenderOptions {
        default_namespace: args.namespace.clone(),
        cluster_domain: args.cluster_domain.clone(),
        max_rendered_pods: args.max_pods,
        ..RenderOptions::default()
    };
    let now = args.now.unwrap_or_else(Timestamp::now);
    let mut out = String::new();
    let mut problems = Vec::new();
    for path in &args.files {
        let text = read(path)?;
        let file = if path.as_os_str() == "-" {
            "<stdin>".to_string()
        } else {
            path.display().to_string()
        };
        // The same reader and limits as everywhere else: YAML 1.1 scalars as kubectl reads them, and hostile
        // input (alias bombs, deep nesting, huge strings) refused.
        let docs = match ray_api_v1::parse::yaml_stream(&text) {
            Ok(docs) => docs,
            Err(e) => {
                problems.push(format!("{file}: not valid YAML: {e}"));
                continue;
            }
        };
        for (index, doc) in docs.into_iter().enumerate() {
            let at = format!("{file} (document {})", index + 1);
            match render_document(doc, &at, &options, args.strict, now) {
                Ok(None) => {}
                Ok(Some(yaml)) => out.push_str(&yaml),
                Err(found) => {
                    problems.extend(found.into_iter().map(|problem| format!("{at}: {problem}")))
                }
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
