//! The v1alpha1 CRD versions: served but not stored, deprecated with a warning, upstream's printer columns, and
//! exactly the v1alpha1 fields.

use kube::CustomResourceExt;
use ray_api_v1alpha1::{RayCluster, RayJob, RayService};
use serde_json::Value;

fn version_of<K: CustomResourceExt>() -> Value {
    let crd = serde_json::to_value(K::crd()).expect("a CRD serializes");
    let versions = crd["spec"]["versions"]
        .as_array()
        .expect("versions")
        .clone();
    assert_eq!(versions.len(), 1);
    versions[0].clone()
}

fn properties(schema: &Value) -> Vec<String> {
    let mut names: Vec<String> = schema["properties"]
        .as_object()
        .map(|props| props.keys().cloned().collect())
        .unwrap_or_default();
    names.sort();
    names
}

#[test]
fn every_kind_is_served_deprecated_and_not_stored() {
    for (version, kind) in [
        (version_of::<RayCluster>(), "RayCluster"),
        (version_of::<RayJob>(), "RayJob"),
        (version_of::<RayService>(), "RayService"),
    ] {
        assert_eq!(version["name"], "v1alpha1");
        assert_eq!(version["served"], true, "{kind}");
        assert_eq!(version["storage"], false, "{kind}");
        assert_eq!(version["deprecated"], true, "{kind}");
        assert_eq!(
            version["deprecationWarning"],
            format!("ray.io/v1alpha1 {kind} is deprecated; use ray.io/v1 {kind}.")
        );
        assert_eq!(version["subresources"]["status"], serde_json::json!({}));
    }
    let crd = serde_json::to_value(RayJob::crd()).expect("a CRD serializes");
    assert_eq!(
        crd["spec"]["names"]["categories"],
        serde_json::json!(["all"])
    );
}

#[test]
fn printer_columns_match_upstream() {
    let columns = |version: Value| -> Vec<(String, String)> {
        version["additionalPrinterColumns"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|c| {
                (
                    c["name"].as_str().unwrap_or("").to_owned(),
                    c["jsonPath"].as_str().unwrap_or("").to_owned(),
                )
            })
            .collect()
    };
    assert_eq!(columns(version_of::<RayCluster>()).len(), 10);
    assert_eq!(
        columns(version_of::<RayService>()),
        vec![(
            "ServiceStatus".to_owned(),
            ".status.serviceStatus".to_owned()
        )]
    );
    assert!(columns(version_of::<RayJob>()).is_empty());
}

#[test]
fn schemas_hold_exactly_the_v1alpha1_fields() {
    let cluster = version_of::<RayCluster>();
    let spec = &cluster["schema"]["openAPIV3Schema"]["properties"]["spec"];
    assert_eq!(
        properties(spec),
        [
            "autoscalerOptions",
            "enableInTreeAutoscaling",
            "headGroupSpec",
            "headServiceAnnotations",
            "rayVersion",
            "suspend",
            "workerGroupSpecs"
        ]
    );
    assert_eq!(
        properties(&spec["properties"]["workerGroupSpecs"]["items"]),
        [
            "groupName",
            "maxReplicas",
            "minReplicas",
            "rayStartParams",
            "replicas",
            "scaleStrategy",
            "template"
        ]
    );
    assert_eq!(
        properties(&spec["properties"]["headGroupSpec"]),
        [
            "enableIngress",
            "headService",
            "rayStartParams",
            "serviceType",
            "template"
        ]
    );
    assert_eq!(
        properties(&spec["properties"]["autoscalerOptions"]),
        [
            "env",
            "envFrom",
            "idleTimeoutSeconds",
            "image",
            "imagePullPolicy",
            "resources",
            "securityContext",
            "upscalingMode",
            "volumeMounts"
        ]
    );
    let status = &cluster["schema"]["openAPIV3Schema"]["properties"]["status"];
    assert_eq!(
        properties(status),
        [
            "availableWorkerReplicas",
            "desiredCPU",
            "desiredGPU",
            "desiredMemory",
            "desiredTPU",
            "desiredWorkerReplicas",
            "endpoints",
            "head",
            "lastUpdateTime",
            "maxWorkerReplicas",
            "minWorkerReplicas",
            "observedGeneration",
            "reason",
            "state"
        ]
    );
    assert_eq!(
        properties(&status["properties"]["head"]),
        ["podIP", "serviceIP"]
    );
    assert_eq!(
        status["properties"]["state"]["enum"],
        serde_json::json!(["ready", "unhealthy", "failed", "suspended"])
    );

    let job = version_of::<RayJob>();
    let spec = &job["schema"]["openAPIV3Schema"]["properties"]["spec"];
    assert_eq!(
        properties(spec),
        [
            "clusterSelector",
            "entrypoint",
            "entrypointNumCpus",
            "entrypointNumGpus",
            "entrypointResources",
            "jobId",
            "metadata",
            "rayClusterSpec",
            "runtimeEnvYAML",
            "shutdownAfterJobFinishes",
            "submitterPodTemplate",
            "suspend",
            "ttlSecondsAfterFinished"
        ]
    );
    assert_eq!(spec["required"], serde_json::json!(["entrypoint"]));
    let status = &job["schema"]["openAPIV3Schema"]["properties"]["status"];
    assert_eq!(
        properties(status),
        [
            "dashboardURL",
            "endTime",
            "jobDeploymentStatus",
            "jobId",
            "jobStatus",
            "message",
            "observedGeneration",
            "rayClusterName",
            "rayClusterStatus",
            "startTime"
        ]
    );
    assert_eq!(
        status["properties"]["jobDeploymentStatus"]["enum"],
        serde_json::json!([
            "",
            "Initializing",
            "Running",
            "Complete",
            "Failed",
            "Suspending",
            "Suspended"
        ])
    );

    let service = version_of::<RayService>();
    let spec = &service["schema"]["openAPIV3Schema"]["properties"]["spec"];
    assert_eq!(
        properties(spec),
        [
            "deploymentUnhealthySecondThreshold",
            "rayClusterConfig",
            "serveConfigV2",
            "serveService",
            "serviceUnhealthySecondThreshold"
        ]
    );
    let status = &service["schema"]["openAPIV3Schema"]["properties"]["status"];
    assert_eq!(
        properties(status),
        [
            "activeServiceStatus",
            "lastUpdateTime",
            "numServeEndpoints",
            "observedGeneration",
            "pendingServiceStatus",
            "serviceStatus"
        ]
    );
    let app = &status["properties"]["activeServiceStatus"]["properties"]["applicationStatuses"]["additionalProperties"];
    assert_eq!(
        properties(app),
        [
            "healthLastUpdateTime",
            "message",
            "serveDeploymentStatuses",
            "status"
        ]
    );
    assert_eq!(
        properties(&app["properties"]["serveDeploymentStatuses"]["additionalProperties"]),
        ["healthLastUpdateTime", "message", "status"]
    );
}

/// The enums shared with `ray-api-v1` must not gain values in this frozen version: if v1 ever adds one, this
/// fails and the enum must get its own v1alpha1 copy.
#[test]
fn shared_enums_keep_their_v1alpha1_values() {
    let cluster = version_of::<RayCluster>();
    let spec = &cluster["schema"]["openAPIV3Schema"]["properties"]["spec"];
    assert_eq!(
        spec["properties"]["autoscalerOptions"]["properties"]["upscalingMode"]["enum"],
        serde_json::json!(["Conservative", "Default", "Aggressive"])
    );
    let job = version_of::<RayJob>();
    assert_eq!(
        job["schema"]["openAPIV3Schema"]["properties"]["status"]["properties"]["jobStatus"]["enum"],
        serde_json::json!(["", "PENDING", "RUNNING", "STOPPED", "SUCCEEDED", "FAILED"])
    );
    let service = version_of::<RayService>();
    let status = &service["schema"]["openAPIV3Schema"]["properties"]["status"];
    assert_eq!(
        status["properties"]["serviceStatus"]["enum"],
        serde_json::json!([
            "",
            "Running",
            "FailedToGetOrCreateRayCluster",
            "WaitForServeDeploymentReady",
            "FailedToGetServeDeploymentStatus",
            "Restarting",
            "FailedToUpdateIngress",
            "FailedToUpdateServingPodLabel",
            "FailedToUpdateService"
        ])
    );
    let app = &status["properties"]["activeServiceStatus"]["properties"]["applicationStatuses"]["additionalProperties"];
    assert_eq!(
        app["properties"]["status"]["enum"],
        serde_json::json!([
            "NOT_STARTED",
            "DEPLOYING",
            "RUNNING",
            "DEPLOY_FAILED",
            "DELETING",
            "UNHEALTHY"
        ])
    );
    assert_eq!(
        app["properties"]["serveDeploymentStatuses"]["additionalProperties"]["properties"]["status"]
            ["enum"],
        serde_json::json!(["UPDATING", "HEALTHY", "UNHEALTHY"])
    );
}
