//! `ray-operator render` end to end: files and stdin in, a YAML stream or field-path errors out.

use std::io::Write;
use std::process::{Command, Stdio};

fn fixture(name: &str) -> String {
    format!(
        "{}/../../crates/ray-builders/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

fn render(args: &[&str], stdin: Option<&str>) -> (i32, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ray-operator"))
        .arg("render")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("binary runs");
    if let Some(text) = stdin {
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(text.as_bytes())
            .expect("write stdin");
    }
    drop(child.stdin.take());
    let out = child.wait_with_output().expect("binary finishes");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn renders_files_as_a_yaml_stream_with_sources() {
    let (code, out, err) = render(
        &[
            "-f",
            &fixture("raycluster-sample.yaml"),
            "-f",
            &fixture("rayjob-http-mode.yaml"),
        ],
        None,
    );
    assert_eq!(code, 0, "{err}");
    let sources: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("# Source: "))
        .collect();
    assert_eq!(
        sources,
        [
            "# Source: RayCluster/raycluster-sample",
            "# Source: RayCluster/raycluster-sample",
            "# Source: RayCluster/raycluster-sample",
            "# Source: RayJob/http-job",
            "# Source: RayJob/http-job",
            "# Source: RayJob/http-job",
            "# Source: RayJob/http-job",
        ]
    );
    assert!(out.contains("name: raycluster-sample-head-svc"));
    // Deterministic: the same input renders the same bytes.
    let (_, again, _) = render(
        &[
            "-f",
            &fixture("raycluster-sample.yaml"),
            "-f",
            &fixture("rayjob-http-mode.yaml"),
        ],
        None,
    );
    assert_eq!(out, again);
}

#[test]
fn reads_standard_input_and_applies_the_namespace_flag() {
    let text = std::fs::read_to_string(fixture("raycluster-sample.yaml")).expect("fixture");
    let (code, out, err) = render(&["-f", "-", "-n", "ml"], Some(&text));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("raycluster-sample-head-svc.ml.svc.cluster.local:6379"));
}

#[test]
fn invalid_manifests_print_field_paths_and_fail() {
    let bad = r#"
apiVersion: ray.io/v1
kind: RayCluster
metadata:
  name: ok-name
spec:
  headGroupSpec:
    template:
      spec:
        containers: []
---
apiVersion: ray.io/v1
kind: RayJob
metadata:
  name: j
spec:
  entrypoint: python "unbalanced
  rayClusterSpec:
    headGroupSpec:
      template:
        spec:
          containers: [{name: h, image: ray}]
"#;
    let (code, out, err) = render(&["-f", "-"], Some(bad));
    assert_eq!(code, 1);
    assert_eq!(out, "", "nothing is rendered when anything is invalid");
    assert!(
        err.contains(
            "<stdin> (document 1): RayCluster/ok-name: spec.headGroupSpec.template.spec.containers:"
        ),
        "{err}"
    );
    assert!(
        err.contains("<stdin> (document 2): RayJob/j: spec.entrypoint:"),
        "{err}"
    );
}

#[test]
fn converts_v1alpha1_manifests() {
    let manifest = r#"
apiVersion: ray.io/v1alpha1
kind: RayCluster
metadata:
  name: old
spec:
  headGroupSpec:
    rayStartParams: {}
    template:
      spec:
        containers: [{ name: ray-head, image: "rayproject/ray:2.9.0" }]
"#;
    let (code, out, err) = render(&["-f", "-"], Some(manifest));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("# Source: RayCluster/old"));
    assert!(out.contains("name: old-head-svc"));
}
