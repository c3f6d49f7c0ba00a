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
            // The RayCluster, its head Service and head pod, and the RayJob's own head Service.
            "# Source: RayJob/http-job",
            "# Source: RayJob/http-job",
            "# Source: RayJob/http-job",
            "# Source: RayJob/http-job",
        ]
    );
    assert!(out.contains("name: raycluster-sample-head-svc"));
    assert!(out.contains("name: http-job-head-svc"));
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

const HUGE_CLUSTER: &str = r#"
apiVersion: ray.io/v1
kind: RayCluster
metadata: {name: huge}
spec:
  headGroupSpec:
    rayStartParams: {}
    template: {spec: {containers: [{name: ray-head, image: "rayproject/ray:2.9.0"}]}}
  workerGroupSpecs:
  - groupName: cpu
    replicas: 2147483647
    minReplicas: 0
    maxReplicas: 2147483647
    rayStartParams: {}
    template: {spec: {containers: [{name: ray-worker, image: "rayproject/ray:2.9.0"}]}}
"#;

#[test]
fn refuses_more_pods_than_max_pods_naming_the_field() {
    let (code, out, err) = render(&["-f", "-"], Some(HUGE_CLUSTER));
    assert_eq!(code, 1, "{err}");
    assert!(out.is_empty());
    assert!(
        err.contains(
            "spec.workerGroupSpecs[0].replicas: 2147483647 replicas x 1 hosts = 2147483647 pods"
        ) && err.contains("render shows at most 10000 pods per cluster")
            && err.contains("--max-pods"),
        "{err}"
    );
    let small = HUGE_CLUSTER.replace("replicas: 2147483647\n", "replicas: 3\n");
    let (code, _, err) = render(&["--max-pods", "3", "-f", "-"], Some(&small));
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("at most 3 pods"), "{err}");
    let (code, out, err) = render(&["--max-pods", "4", "-f", "-"], Some(&small));
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.matches("\nkind: Pod\n").count(), 4);
}

#[test]
fn follows_the_operator_for_suspended_clusters_and_cluster_selectors() {
    let suspended = HUGE_CLUSTER.replace(
        "spec:\n  headGroupSpec",
        "spec:\n  suspend: true\n  headGroupSpec",
    );
    let (code, out, err) = render(&["-f", "-"], Some(&suspended));
    assert_eq!(code, 0, "{err}");
    assert!(!out.contains("kind: Pod"), "{out}");
    assert!(out.contains("name: huge-head-svc"));
    assert!(
        err.contains("note: RayCluster/huge: spec.suspend is true"),
        "{err}"
    );

    let both = r#"
apiVersion: ray.io/v1
kind: RayJob
metadata: {name: both}
spec:
  entrypoint: python x.py
  clusterSelector: {ray.io/cluster: shared}
  rayClusterSpec:
    headGroupSpec:
      rayStartParams: {}
      template: {spec: {containers: [{name: ray-head, image: "rayproject/ray:2.9.0"}]}}
"#;
    let (code, out, err) = render(&["-f", "-"], Some(both));
    assert_eq!(code, 0, "{err}");
    assert!(!out.contains("kind: RayCluster"), "{out}");
    assert!(
        err.contains("note: RayJob/both: spec.rayClusterSpec is ignored"),
        "{err}"
    );
}

/// What would only fail when the operator creates the Pod or Service is refused before anything is rendered.
#[test]
fn refuses_pod_and_service_mistakes_naming_the_field() {
    let bad = r#"
apiVersion: ray.io/v1
kind: RayCluster
metadata:
  name: pods
spec:
  headGroupSpec:
    rayStartParams:
      num-cpus: "-1"
    headService:
      spec:
        ports: [{name: http, port: 80}, {name: http, port: 81}]
    template:
      spec:
        containers:
        - name: ray-head
          ports: [{containerPort: 70000}]
          env: [{name: "A=B", value: "1"}]
          resources:
            limits: {memory: 12Gb, cpu: "-1"}
  workerGroupSpecs:
  - groupName: gpu
    template:
      spec:
        containers:
        - name: ray-worker
          image: rayproject/ray:2.9.0
          resources:
            limits: {nvidia.com/gpu: "0.5", gpu: 1}
"#;
    let (code, out, err) = render(&["-f", "-"], Some(bad));
    assert_eq!(code, 1, "{err}");
    assert_eq!(out, "", "nothing is rendered when anything is invalid");
    let head = "<stdin> (document 1): RayCluster/pods: spec.headGroupSpec";
    for line in [
        format!("{head}.template.spec.containers[0].image: a container needs an image"),
        format!("{head}.template.spec.containers[0].ports[0].containerPort: containerPort must be between 1 and 65535"),
        format!("{head}.template.spec.containers[0].env[0].name: \"A=B\" is not a valid environment variable name"),
        format!("{head}.template.spec.containers[0].resources.limits[\"memory\"]: \"12Gb\" is not a Kubernetes quantity"),
        format!("{head}.template.spec.containers[0].resources.limits[\"cpu\"]: cpu must not be negative"),
        format!("{head}.rayStartParams[\"num-cpus\"]: num-cpus must be a whole, non-negative number"),
        format!("{head}.headService.spec.ports[1].name: another port of this Service is also named \"http\""),
        "RayCluster/pods: spec.workerGroupSpecs[0].template.spec.containers[0].resources.limits[\"nvidia.com/gpu\"]: nvidia.com/gpu is an extended resource and must be a whole number".to_owned(),
        "RayCluster/pods: spec.workerGroupSpecs[0].template.spec.containers[0].resources.limits[\"gpu\"]: \"gpu\" is not a container resource".to_owned(),
    ] {
        assert!(err.contains(&line), "missing {line:?} in:\n{err}");
    }
}

#[test]
fn a_file_over_the_yaml_limit_is_refused_before_it_is_read_whole() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("huge.yaml");
    let file = std::fs::File::create(&path).expect("create");
    // A sparse file one byte over the limit: nothing is written to disk.
    file.set_len(u64::try_from(ray_api_v1::parse::limits::MAX_YAML_BYTES).expect("fits") + 1)
        .expect("set_len");
    let (code, out, err) = render(&["-f", path.to_str().expect("utf-8 path")], None);
    assert_ne!(code, 0);
    assert!(out.is_empty(), "{out}");
    assert!(
        err.contains("huge.yaml: larger than 33554432 bytes"),
        "{err}"
    );
}

/// A file as KubeRay's samples write them: a ConfigMap with the script next to the cluster that mounts it.
const CONFIGMAP_AND_CLUSTER: &str = r#"
apiVersion: v1
kind: ConfigMap
metadata:
  name: scripts
data:
  run.py: print("hi")
---
apiVersion: ray.io/v1
kind: RayCluster
metadata:
  generateName: mixed-
spec:
  headGroupSpec:
    rayStartParams: {}
    template:
      spec:
        containers:
        - name: ray-head
          image: rayproject/ray:2.9.0
          volumeMounts: [{name: scripts, mountPath: /scripts}]
        volumes:
        - name: scripts
          configMap: {name: scripts, defaultMode: 0777}
"#;

#[test]
fn files_with_other_kinds_render_their_ray_objects_and_name_the_skipped_documents() {
    let (code, out, err) = render(&["-f", "-"], Some(CONFIGMAP_AND_CLUSTER));
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("<stdin> (document 1): skipped ConfigMap v1 \"scripts\": not a ray.io object"),
        "{err}"
    );
    // generateName: the name is shown with a placeholder suffix, and so are the names derived from it.
    assert!(out.contains("# Source: RayCluster/mixed-xxxxx\n"), "{out}");
    assert!(out.contains("name: mixed-xxxxx-head-svc"), "{out}");
    assert!(out.contains("metadata.generateName is \"mixed-\""), "{out}");
    assert!(err.contains("shown as \"mixed-xxxxx\""), "{err}");
    // 0777 is octal, as kubectl reads it.
    assert!(out.contains("defaultMode: 511"), "{out}");
    assert!(!out.contains("kind: ConfigMap"), "{out}");
}

#[test]
fn unknown_fields_warn_and_strict_refuses_them_by_path() {
    let manifest = CONFIGMAP_AND_CLUSTER.replace(
        "    rayStartParams: {}\n",
        "    rayStartParams: {}\n    replica: 2\n",
    );
    let (code, out, err) = render(&["-f", "-"], Some(&manifest));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("# Source: RayCluster/mixed-xxxxx"), "{out}");
    assert!(
        err.contains("warning: <stdin> (document 2): RayCluster/mixed-xxxxx: spec.headGroupSpec.replica: unknown field"),
        "{err}"
    );

    let (code, out, err) = render(&["--strict", "-f", "-"], Some(&manifest));
    assert_eq!(code, 1, "{err}");
    assert_eq!(out, "", "nothing is rendered");
    assert!(
        err.contains("<stdin> (document 2): RayCluster/mixed-xxxxx: spec.headGroupSpec.replica: unknown field"),
        "{err}"
    );
    // Without unknown fields, --strict renders as usual.
    let (code, _, err) = render(&["--strict", "-f", "-"], Some(CONFIGMAP_AND_CLUSTER));
    assert_eq!(code, 0, "{err}");
}

#[test]
fn unknown_ray_kinds_and_shapeless_documents_are_errors() {
    let text = "apiVersion: ray.io/v1\nkind: RayBatch\nmetadata: {name: c}\n---\n- a\n";
    let (code, out, err) = render(&["-f", "-"], Some(text));
    assert_eq!(code, 1, "{err}");
    assert_eq!(out, "");
    assert!(
        err.contains("<stdin> (document 1): RayBatch/c: kind:")
            && err.contains("does not implement RayBatch"),
        "{err}"
    );
    assert!(
        err.contains("<stdin> (document 2): expected a Kubernetes object"),
        "{err}"
    );
}

const CRON_JOB: &str = r#"
apiVersion: ray.io/v1
kind: RayCronJob
metadata:
  name: nightly
spec:
  schedule: "0 3 * * *"
  timeZone: Europe/Berlin
  jobTemplate:
    entrypoint: python /home/ray/job.py
    rayClusterSpec:
      headGroupSpec:
        rayStartParams: {}
        template:
          spec:
            containers:
            - name: ray-head
              image: rayproject/ray:2.9.0
"#;

#[test]
fn a_cron_job_renders_as_the_rayjob_of_its_next_schedule_time() {
    let (code, out, err) = render(
        &["--now", "2026-03-01T00:00:00Z", "-f", "-"],
        Some(CRON_JOB),
    );
    assert_eq!(code, 0, "{err}");
    // 03:00 in Berlin on 1 March 2026 is 02:00 UTC: minute 29538840 since 1970.
    assert!(out.contains("kind: RayJob\n"), "{out}");
    assert!(out.contains("  name: nightly-29538840\n"), "{out}");
    assert!(out.contains("ray.io/cronjob-name: nightly"), "{out}");
    assert!(
        out.contains("ray.io/cronjob-scheduled-timestamp: \"2026-03-01T02:00:00Z\""),
        "{out}"
    );
    let sources: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("# Source: "))
        .collect();
    assert_eq!(sources[0], "# Source: RayCronJob/nightly");
    // Then what the RayJob creates: its RayCluster, head Service and head pod.
    assert!(
        sources[1..]
            .iter()
            .all(|s| *s == "# Source: RayJob/nightly-29538840")
            && sources.len() > 2,
        "{sources:?}"
    );
    // The same time renders the same bytes.
    let (_, again, _) = render(
        &["--now", "2026-03-01T00:00:00Z", "-f", "-"],
        Some(CRON_JOB),
    );
    assert_eq!(out, again);
    // Suspended: nothing, with a note.
    let suspended = CRON_JOB.replace("  timeZone:", "  suspend: true\n  timeZone:");
    let (code, out, err) = render(&["-f", "-"], Some(&suspended));
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "");
    assert!(err.contains("spec.suspend is true"), "{err}");
}

#[test]
fn an_invalid_cron_job_is_refused_naming_each_field() {
    let bad = CRON_JOB
        .replace("\"0 3 * * *\"", "\"0 3 * *\"")
        .replace("Europe/Berlin", "Europe/Atlantis")
        .replace("python /home/ray/job.py", "\"\"");
    let (code, out, err) = render(&["-f", "-"], Some(&bad));
    assert_eq!(code, 1, "{err}");
    assert_eq!(out, "");
    for field in [
        "spec.schedule: ",
        "spec.timeZone: ",
        "spec.jobTemplate.entrypoint: ",
    ] {
        assert!(
            err.contains(&format!(
                "<stdin> (document 1): RayCronJob/nightly: {field}"
            )),
            "{field}: {err}"
        );
    }
}
