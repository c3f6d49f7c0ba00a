//! RayCronJob manifests: they read as KubeRay writes them, validation names every field, and the CRD's own rules
//! (CEL and OpenAPI bounds, evaluated client-side) agree with it.

use kube::CustomResourceExt;
use ray_api_v1::parse::{ParsedObject, RayObject};
use ray_api_v1::{RayCronJob, validate_cron_job};
use serde_json::{Value, json};

fn cron_job(name: &str, spec: Value) -> Value {
    json!({ "apiVersion": "ray.io/v1", "kind": "RayCronJob", "metadata": { "name": name }, "spec": spec })
}

fn job_template() -> Value {
    json!({
        "entrypoint": "python /home/ray/samples/sample_code.py",
        "shutdownAfterJobFinishes": true,
        "ttlSecondsAfterFinished": 600,
        "rayClusterSpec": {
            "rayVersion": "2.52.0",
            "headGroupSpec": { "template": { "spec": { "containers": [
                { "name": "ray-head", "image": "rayproject/ray:2.52.0" }] } } },
            "workerGroupSpecs": [{ "groupName": "small-group", "replicas": 1, "minReplicas": 1, "maxReplicas": 5,
                "template": { "spec": { "containers": [
                    { "name": "ray-worker", "image": "rayproject/ray:2.52.0" }] } } }]
        }
    })
}

fn parse(doc: Value) -> RayCronJob {
    match RayObject::from_json_value(doc).unwrap_or_else(|e| panic!("{e}")) {
        RayObject::CronJob(cron_job) => cron_job,
        other => panic!("read as a {}", other.kind()),
    }
}

/// The field paths validation reports for `doc`.
fn problems(doc: Value) -> Vec<String> {
    match validate_cron_job(&parse(doc)) {
        Ok(()) => Vec::new(),
        Err(errors) => errors.iter().map(|e| format!("{e}")).collect(),
    }
}

fn paths(doc: Value) -> Vec<String> {
    match validate_cron_job(&parse(doc)) {
        Ok(()) => Vec::new(),
        Err(errors) => errors.iter().map(|e| e.path.clone()).collect(),
    }
}

#[test]
fn kuberays_sample_reads_validates_and_writes_back_unchanged() {
    let doc = cron_job(
        "raycronjob-sample",
        json!({ "schedule": "* * * * *", "jobTemplate": job_template() }),
    );
    let parsed = ParsedObject::from_json_value(doc.clone()).expect("reads");
    assert!(
        parsed.unknown_fields.is_empty(),
        "{:?}",
        parsed.unknown_fields
    );
    let RayObject::CronJob(cron_job) = parsed.object else {
        panic!("not a RayCronJob")
    };
    assert_eq!(validate_cron_job(&cron_job), Ok(()));
    assert_eq!(serde_json::to_value(&cron_job).expect("serializes"), doc);
    assert_eq!(RayObject::CronJob(cron_job).kind(), "RayCronJob");
}

#[test]
fn schedule_time_zone_and_name_problems_name_their_field() {
    let spec = |schedule: &str, zone: Option<&str>| {
        let mut spec = json!({ "schedule": schedule, "jobTemplate": job_template() });
        if let Some(zone) = zone {
            spec["timeZone"] = json!(zone);
        }
        spec
    };
    assert_eq!(
        paths(cron_job("c", spec("0 3 * * *", Some("Europe/Berlin")))),
        Vec::<String>::new()
    );
    assert_eq!(
        paths(cron_job("c", spec("0 3 * *", None))),
        ["spec.schedule"]
    );
    assert_eq!(
        paths(cron_job("c", spec("@every 1h", None))),
        ["spec.schedule"]
    );
    assert_eq!(
        paths(cron_job("c", spec("0 3 * * *", Some("Europe/Atlantis")))),
        ["spec.timeZone"]
    );
    let both = problems(cron_job("c", spec("0 0 30 2 *", Some(""))));
    assert!(
        both.iter()
            .any(|p| p.starts_with("spec.schedule: ") && p.contains("never fires")),
        "{both:?}"
    );
    assert!(
        both.iter().any(|p| p.starts_with("spec.timeZone: ")),
        "{both:?}"
    );
    // 38 characters fit (the RayJobs get 9 more); 39 do not.
    let name = "a".repeat(38);
    assert_eq!(
        paths(cron_job(&name, spec("@daily", None))),
        Vec::<String>::new()
    );
    let too_long = problems(cron_job(&"a".repeat(39), spec("@daily", None)));
    assert!(
        too_long.len() == 1
            && too_long[0].starts_with("metadata.name: ")
            && too_long[0].contains("38"),
        "{too_long:?}"
    );
    assert_eq!(
        paths(cron_job("Nightly", spec("@daily", None))),
        ["metadata.name"]
    );
}

#[test]
fn the_job_template_has_the_rules_of_a_rayjob_spec() {
    let mut template = job_template();
    template["ttlSecondsAfterFinished"] = json!(-1);
    template["rayClusterSpec"]["workerGroupSpecs"][0]["minReplicas"] = json!(9);
    let found = paths(cron_job(
        "c",
        json!({ "schedule": "@hourly", "jobTemplate": template }),
    ));
    assert!(
        found.contains(&"spec.jobTemplate.ttlSecondsAfterFinished".to_owned()),
        "{found:?}"
    );
    assert!(
        found.contains(
            &"spec.jobTemplate.rayClusterSpec.workerGroupSpecs[0].minReplicas".to_owned()
        ),
        "{found:?}"
    );
    let no_cluster = json!({ "entrypoint": "python x.py" });
    let found = paths(cron_job(
        "c",
        json!({ "schedule": "@hourly", "jobTemplate": no_cluster }),
    ));
    assert_eq!(found, ["spec.jobTemplate.rayClusterSpec"]);
}

#[test]
fn a_fixed_job_id_on_a_selected_cluster_is_refused() {
    let template = json!({
        "entrypoint": "python x.py",
        "jobId": "nightly-run",
        "clusterSelector": { "ray.io/cluster": "shared" }
    });
    let found = problems(cron_job(
        "c",
        json!({ "schedule": "@daily", "jobTemplate": template }),
    ));
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].starts_with("spec.jobTemplate.jobId: "),
        "{found:?}"
    );
    // On a new cluster per RayJob, one id is no conflict.
    let mut template = job_template();
    template["jobId"] = json!("nightly-run");
    assert_eq!(
        paths(cron_job(
            "c",
            json!({ "schedule": "@daily", "jobTemplate": template })
        )),
        Vec::<String>::new()
    );
}

#[test]
fn schedule_and_job_template_are_required() {
    let error = RayObject::from_json_value(cron_job("c", json!({ "schedule": "@daily" })))
        .expect_err("no jobTemplate");
    assert!(error.to_string().contains("jobTemplate"), "{error}");
    let error = RayObject::from_json_value(cron_job("c", json!({ "jobTemplate": job_template() })))
        .expect_err("no schedule");
    assert!(error.to_string().contains("schedule"), "{error}");
}

/// The CRD's CEL rules of `doc`, evaluated as the API server would: the field paths of the failed rules.
fn cel_failures(doc: &Value) -> Vec<String> {
    let crd = RayCronJob::crd();
    let schema = serde_json::to_value(
        crd.spec.versions[0]
            .schema
            .as_ref()
            .and_then(|s| s.open_api_v3_schema.as_ref())
            .expect("schema"),
    )
    .expect("schema JSON");
    let compiled = kube::core::cel::compile_schema(&schema);
    assert!(
        compiled.compilation_errors().is_empty(),
        "{:?}",
        compiled.compilation_errors()
    );
    match kube::core::cel::Validator::new().validate_compiled(&compiled, doc, None) {
        Ok(()) => Vec::new(),
        Err(errors) => errors
            .iter()
            .map(|e| format!("{}: {}", e.field_path, e.message))
            .collect(),
    }
}

#[test]
fn the_crd_rejects_bad_names_and_rayjob_templates_too() {
    let good = cron_job(
        "nightly",
        json!({ "schedule": "@daily", "jobTemplate": job_template() }),
    );
    assert_eq!(cel_failures(&good), Vec::<String>::new());
    let long = cron_job(
        &"a".repeat(39),
        json!({ "schedule": "@daily", "jobTemplate": job_template() }),
    );
    let failures = cel_failures(&long);
    assert!(failures.iter().any(|f| f.contains("38")), "{failures:?}");
    // The RayJob spec's own rules apply inside jobTemplate.
    let mut template = job_template();
    template["shutdownAfterJobFinishes"] = json!(false);
    let failures = cel_failures(&cron_job(
        "nightly",
        json!({ "schedule": "@daily", "jobTemplate": template }),
    ));
    assert!(
        failures
            .iter()
            .any(|f| f.contains("ttlSecondsAfterFinished")),
        "{failures:?}"
    );
}

#[test]
fn the_crd_schema_has_kuberays_fields_and_bounds() {
    let crd = serde_json::to_value(RayCronJob::crd()).expect("JSON");
    let version = &crd["spec"]["versions"][0];
    let spec = &version["schema"]["openAPIV3Schema"]["properties"]["spec"];
    assert_eq!(spec["required"], json!(["jobTemplate", "schedule"]));
    assert_eq!(spec["properties"]["timeZone"]["minLength"], 1);
    assert_eq!(spec["properties"]["suspend"]["type"], "boolean");
    let status = &version["schema"]["openAPIV3Schema"]["properties"]["status"];
    assert_eq!(
        status["properties"]["lastScheduleTime"]["format"],
        "date-time"
    );
    assert_eq!(version["subresources"], json!({ "status": {} }));
    assert_eq!(crd["spec"]["names"]["categories"], json!(["all"]));
}
