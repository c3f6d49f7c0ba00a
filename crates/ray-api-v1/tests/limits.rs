//! Hostile sizes end in an error that says which limit (and which field), never a panic, a stack overflow, an
//! out-of-memory kill or a hang; objects as large as Kubernetes stores still read.

use std::time::{Duration, Instant};

use ray_api_v1::parse::{ParseError, from_yaml_documents, from_yaml_str, limits, yaml_value};
use ray_api_v1::{RayCluster, RayJob};

const CLUSTER: &str = r#"apiVersion: ray.io/v1
kind: RayCluster
metadata:
  name: demo
spec:
  headGroupSpec:
    template:
      spec:
        containers:
          - name: ray-head
            image: rayproject/ray:2.9.0
"#;

/// A RayJob whose `runtimeEnvYAML` holds `text` (a YAML block scalar).
fn job_with_runtime_env(text: &str) -> String {
    let indented: String = text.lines().map(|l| format!("    {l}\n")).collect();
    format!(
        "apiVersion: ray.io/v1\nkind: RayJob\nmetadata:\n  name: j\nspec:\n  entrypoint: python x.py\n  runtimeEnvYAML: |\n{indented}"
    )
}

/// The classic "billion laughs": nine levels of ten aliases each expand to 10^9 strings.
fn billion_laughs() -> String {
    let mut text = String::from("a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for level in 1..10 {
        let previous = format!("*a{}", level - 1);
        let list = [previous.as_str(); 10].join(", ");
        text.push_str(&format!("a{level}: &a{level} [{list}]\n"));
    }
    text
}

fn assert_quick(started: Instant) {
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "took {:?}",
        started.elapsed()
    );
}

#[test]
fn an_alias_bomb_is_refused_quickly() {
    let started = Instant::now();
    let error = yaml_value(&billion_laughs()).expect_err("an alias bomb must not expand");
    assert!(
        matches!(error, ParseError::Syntax { .. }),
        "unexpected error: {error:?}"
    );
    assert!(
        error.to_string().contains("too large or too complex"),
        "the message should say why: {error}"
    );
    assert_quick(started);
}

#[test]
fn an_alias_bomb_in_a_manifest_is_refused() {
    let manifest = format!("{CLUSTER}  bomb:\n{}", indent(&billion_laughs(), 4));
    let started = Instant::now();
    let error = from_yaml_str::<RayCluster>(&manifest).expect_err("an alias bomb");
    assert!(matches!(error, ParseError::Syntax { .. }), "{error:?}");
    assert_quick(started);
}

#[test]
fn an_alias_bomb_in_a_runtime_env_is_refused_by_validation() {
    let job: RayJob = from_yaml_str(&job_with_runtime_env(&billion_laughs()))
        .expect("the manifest itself is fine: the bomb is a string");
    let started = Instant::now();
    let errors = ray_api_v1::validate_job(&job).expect_err("the runtime environment is a bomb");
    let text = errors.to_string();
    assert!(text.contains("spec.runtimeEnvYAML"), "{text}");
    assert_quick(started);
}

fn indent(text: &str, by: usize) -> String {
    let pad = " ".repeat(by);
    text.lines().map(|l| format!("{pad}{l}\n")).collect()
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    for depth in [limits::MAX_YAML_DEPTH + 1, 10_000, 1_000_000] {
        let flow = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        let error = yaml_value(&flow).expect_err("too deep");
        assert!(matches!(error, ParseError::Syntax { .. }), "{error:?}");
        let block: String = (0..depth.min(5_000))
            .map(|level| format!("{}k:\n", " ".repeat(level)))
            .collect();
        if depth.min(5_000) > limits::MAX_YAML_DEPTH {
            yaml_value(&block).expect_err("too deep");
        }
    }
    // Nesting within the limit reads.
    let ok = format!(
        "{}{}",
        "[".repeat(limits::MAX_YAML_DEPTH - 1),
        "]".repeat(limits::MAX_YAML_DEPTH - 1)
    );
    yaml_value(&ok).expect("nesting within the limit");
}

#[test]
fn deep_nesting_in_a_manifest_field_is_refused() {
    let manifest = format!(
        "{CLUSTER}    rayStartParams: {}{}\n",
        "{a: ".repeat(100_000),
        "}".repeat(100_000)
    );
    from_yaml_str::<RayCluster>(&manifest).expect_err("too deep");
}

#[test]
fn a_string_longer_than_an_object_can_be_names_its_field() {
    let big = "x".repeat(5 * 1024 * 1024);
    let manifest = format!("{CLUSTER}  rayVersion: {big}\n");
    let error = from_yaml_str::<RayCluster>(&manifest).expect_err("5 MB string");
    match &error {
        ParseError::Field { path, message } => {
            assert_eq!(path, "spec.rayVersion");
            assert!(message.contains("5242880 bytes"), "{message}");
        }
        other => panic!("expected a field error, got {other:?}"),
    }
    // In a stream, the error also names the document.
    let stream = format!("{CLUSTER}---\n{manifest}");
    let error = from_yaml_documents(&stream).expect_err("5 MB string");
    assert!(
        error
            .to_string()
            .starts_with("document 2: spec.rayVersion:"),
        "{error}"
    );
}

#[test]
fn an_object_near_the_etcd_limit_still_reads() {
    // 1.4 MiB of Serve config, as large as etcd's default 1.5 MiB object limit allows.
    let applications: String = (0..20_000)
        .map(|i| {
            format!("      - name: app{i:05}\n        import_path: module{i:05}.app:deployment\n")
        })
        .collect();
    let manifest = format!(
        "apiVersion: ray.io/v1\nkind: RayService\nmetadata:\n  name: s\nspec:\n  serveConfigV2: |\n    applications:\n{applications}  rayClusterConfig:\n    headGroupSpec:\n      template:\n        spec:\n          containers:\n            - name: ray-head\n              image: rayproject/ray:2.9.0\n"
    );
    assert!(manifest.len() > 1_400_000, "{}", manifest.len());
    let started = Instant::now();
    let service: ray_api_v1::RayService = from_yaml_str(&manifest).expect("a large object reads");
    ray_api_v1::validate_service(&service).expect("and validates");
    let config = yaml_value(service.spec.serve_config_v2.as_deref().expect("set"))
        .expect("the Serve config reads")
        .expect("not empty");
    assert_eq!(
        config["applications"].as_array().map(Vec::len),
        Some(20_000)
    );
    assert_quick(started);
}

#[test]
fn input_larger_than_the_yaml_limit_is_refused_before_parsing() {
    let text = format!("a: {}\n", "x".repeat(limits::MAX_YAML_BYTES));
    let error = yaml_value(&text).expect_err("too large");
    assert!(error.to_string().contains("split it"), "{error}");
}
