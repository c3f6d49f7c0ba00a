//! The validation rules that live in the CRDs themselves, as CEL `x-kubernetes-validations`.
//!
//! The API server evaluates these on every create and update, so they hold even when the operator's webhook is not
//! installed. Each rule mirrors a Rust rule of [`crate::validation`] with the same wording (CEL messages cannot
//! include the offending value, so they are a little shorter). Simple bounds (`minimum`, `maxLength`, `pattern`,
//! enums) are plain OpenAPI attributes on the fields instead, and worker group names are kept unique by making
//! `workerGroupSpecs` a list map keyed by `groupName`.
//!
//! Every rule here is O(1) for the API server's CEL cost estimator (no iteration over unbounded lists), so the
//! CRDs stay within the cost budget however many worker groups or containers an object has.

use schemars::Schema;
use serde_json::{Value, json};

use super::unsupported::{Holder, fields_of};

/// One CEL rule of a CRD schema.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CelRule {
    /// The CEL expression; `self` is the object the rule is attached to.
    pub rule: &'static str,
    /// What the API server answers when the rule fails.
    pub message: &'static str,
    /// The field the API server blames, relative to the object the rule is attached to (for example
    /// `.minReplicas`); `None` blames the object itself.
    pub field_path: Option<&'static str>,
}

impl CelRule {
    /// The rule as an entry of `x-kubernetes-validations`.
    pub fn to_json(&self) -> Value {
        let mut entry = json!({ "rule": self.rule, "message": self.message });
        if let (Some(path), Value::Object(map)) = (self.field_path, &mut entry) {
            map.insert("fieldPath".into(), Value::String(path.into()));
        }
        entry
    }

    /// The rule as kube's [`kube::core::Rule`], for `#[kube(validation = ...)]`.
    pub fn to_kube(&self) -> kube::core::Rule {
        let rule = kube::core::Rule::new(self.rule).message(self.message);
        match self.field_path {
            Some(path) => rule.field_path(path),
            None => rule,
        }
    }
}

/// Rules on the RayCluster object itself (its name).
pub const RAY_CLUSTER: &[CelRule] = &[
    CelRule {
        rule: "size(self.metadata.name) <= 53",
        message: "metadata.name: RayCluster names must be at most 53 characters: names derived from it, such as the `<name>-serve-svc` Service, must fit in 63 characters",
        field_path: None,
    },
    CelRule {
        rule: DNS1035_NAME,
        message: "metadata.name: a RayCluster name must be a DNS-1035 label: lowercase letters, digits and '-', starting with a letter and ending with a letter or digit",
        field_path: None,
    },
];

/// Rules on the RayJob object itself (its name).
pub const RAY_JOB: &[CelRule] = &[
    CelRule {
        rule: "size(self.metadata.name) <= 47",
        message: "metadata.name: RayJob names must be at most 47 characters: the RayCluster created for it is named `<name>-<5 random characters>` and must fit in 53 characters",
        field_path: None,
    },
    CelRule {
        rule: DNS1035_NAME,
        message: "metadata.name: a RayJob name must be a DNS-1035 label: lowercase letters, digits and '-', starting with a letter and ending with a letter or digit",
        field_path: None,
    },
];

/// Rules on the RayService object itself (its name).
pub const RAY_SERVICE: &[CelRule] = &[
    CelRule {
        rule: "size(self.metadata.name) <= 47",
        message: "metadata.name: RayService names must be at most 47 characters: the RayClusters created for it are named `<name>-<5 random characters>` and must fit in 53 characters",
        field_path: None,
    },
    CelRule {
        rule: DNS1035_NAME,
        message: "metadata.name: a RayService name must be a DNS-1035 label: lowercase letters, digits and '-', starting with a letter and ending with a letter or digit",
        field_path: None,
    },
];

const DNS1035_NAME: &str = "self.metadata.name.matches('^[a-z]([-a-z0-9]*[a-z0-9])?$')";

/// Rules on `headGroupSpec`.
pub const HEAD_GROUP: &[CelRule] = &[
    CelRule {
        rule: "has(self.template.spec) && has(self.template.spec.containers) && size(self.template.spec.containers) > 0",
        message: "the head pod template needs at least one container (the first one runs Ray): add one under template.spec.containers",
        field_path: Some(".template"),
    },
    CelRule {
        rule: "!has(self.serviceType) || self.serviceType in ['ClusterIP', 'NodePort', 'LoadBalancer']",
        message: "serviceType is not a head Service type: use ClusterIP, NodePort or LoadBalancer",
        field_path: Some(".serviceType"),
    },
];

/// Rules on each entry of `workerGroupSpecs`.
pub const WORKER_GROUP: &[CelRule] = &[
    CelRule {
        rule: "has(self.template.spec) && has(self.template.spec.containers) && size(self.template.spec.containers) > 0",
        message: "the worker pod template needs at least one container (the first one runs Ray): add one under template.spec.containers",
        field_path: Some(".template"),
    },
    CelRule {
        rule: "!has(self.minReplicas) || !has(self.maxReplicas) || self.minReplicas <= self.maxReplicas",
        message: "minReplicas must not be greater than maxReplicas",
        field_path: Some(".minReplicas"),
    },
    CelRule {
        rule: "!has(self.numOfHosts) || self.numOfHosts <= 1 || size(self.groupName) <= 57",
        message: "a multi-host group's name may have at most 57 characters (each replica is labelled \"<groupName>-<5 characters>\", at most 63)",
        field_path: Some(".groupName"),
    },
];

/// Rules on a RayClusterSpec for GCS fault tolerance ([`super::gcs_ft`]): the Redis start parameters of the head
/// that `gcsFaultToleranceOptions` sets itself. (The rules on the head's environment look through a list, so they
/// run in the operator and the webhook only.)
pub const GCS_FT_CLUSTER_SPEC: &[CelRule] = &[
    CelRule {
        rule: "!has(self.headGroupSpec.rayStartParams) || !('redis-username' in self.headGroupSpec.rayStartParams) || size(self.headGroupSpec.rayStartParams['redis-username']) == 0",
        message: super::gcs_ft::REDIS_USERNAME_PARAM,
        field_path: Some(".headGroupSpec.rayStartParams"),
    },
    CelRule {
        rule: "!has(self.gcsFaultToleranceOptions) || !has(self.headGroupSpec.rayStartParams) || !('redis-password' in self.headGroupSpec.rayStartParams) || size(self.headGroupSpec.rayStartParams['redis-password']) == 0",
        message: super::gcs_ft::REDIS_PASSWORD_PARAM,
        field_path: Some(".headGroupSpec.rayStartParams"),
    },
];

/// Rules on `gcsFaultToleranceOptions`.
pub const GCS_FT_OPTIONS: &[CelRule] = &[CelRule {
    rule: "(has(self.backend) && self.backend == 'rocksdb') || (has(self.redisAddress) && self.redisAddress.trim() != '')",
    message: super::gcs_ft::REDIS_ADDRESS_REQUIRED,
    field_path: Some(".redisAddress"),
}];

/// Rules on a RayJob's `spec`.
pub const RAY_JOB_SPEC: &[CelRule] = &[
    CelRule {
        rule: "(has(self.entrypoint) && self.entrypoint.trim() != '') || (has(self.submissionMode) && self.submissionMode == 'InteractiveMode') || ((!has(self.submissionMode) || self.submissionMode == 'K8sJobMode') && has(self.submitterPodTemplate) && has(self.submitterPodTemplate.spec) && has(self.submitterPodTemplate.spec.containers) && size(self.submitterPodTemplate.spec.containers) > 0 && has(self.submitterPodTemplate.spec.containers[0].command) && size(self.submitterPodTemplate.spec.containers[0].command) > 0)",
        message: "the job has nothing to run: set entrypoint to the command to run, for example \"python /home/ray/job.py\"",
        field_path: Some(".entrypoint"),
    },
    CelRule {
        rule: "has(self.rayClusterSpec) || (has(self.clusterSelector) && size(self.clusterSelector) > 0)",
        message: "the job needs a cluster: set rayClusterSpec to create one, or clusterSelector to use an existing RayCluster",
        field_path: Some(".rayClusterSpec"),
    },
    CelRule {
        rule: "!has(self.clusterSelector) || size(self.clusterSelector) == 0 || ('ray.io/cluster' in self.clusterSelector && self.clusterSelector['ray.io/cluster'] != '')",
        message: "clusterSelector must name the RayCluster to run on with the key \"ray.io/cluster\", for example ray.io/cluster: my-cluster",
        field_path: Some(".clusterSelector"),
    },
    CelRule {
        rule: "!has(self.suspend) || !self.suspend || (has(self.shutdownAfterJobFinishes) && self.shutdownAfterJobFinishes)",
        message: "a RayJob can only be suspended when shutdownAfterJobFinishes is true: set shutdownAfterJobFinishes: true, or suspend: false",
        field_path: Some(".suspend"),
    },
    CelRule {
        rule: "!has(self.suspend) || !self.suspend || !has(self.clusterSelector) || size(self.clusterSelector) == 0",
        message: "a RayJob that runs on an existing cluster (clusterSelector) cannot be suspended: remove suspend or clusterSelector",
        field_path: Some(".suspend"),
    },
    CelRule {
        rule: "!has(self.ttlSecondsAfterFinished) || self.ttlSecondsAfterFinished <= 0 || (has(self.shutdownAfterJobFinishes) && self.shutdownAfterJobFinishes)",
        message: "ttlSecondsAfterFinished only applies when shutdownAfterJobFinishes is true: set shutdownAfterJobFinishes: true, or remove ttlSecondsAfterFinished",
        field_path: Some(".ttlSecondsAfterFinished"),
    },
    CelRule {
        rule: "!has(self.deletionStrategy) || !has(self.deletionStrategy.deletionRules) || !has(self.shutdownAfterJobFinishes) || !self.shutdownAfterJobFinishes",
        message: "shutdownAfterJobFinishes and deletionStrategy.deletionRules cannot be combined: express the cluster deletion as a DeleteCluster rule, or remove deletionRules",
        field_path: Some(".deletionStrategy"),
    },
    CelRule {
        rule: "!has(self.submissionMode) || self.submissionMode != 'SidecarMode' || !has(self.clusterSelector) || size(self.clusterSelector) == 0",
        message: "SidecarMode runs the submitter in the head pod of a cluster the RayJob creates, so it cannot use clusterSelector: use HTTPMode or K8sJobMode with an existing cluster",
        field_path: Some(".submissionMode"),
    },
    CelRule {
        rule: "!has(self.backoffLimit) || self.backoffLimit == 0 || !has(self.clusterSelector) || size(self.clusterSelector) == 0",
        message: "backoffLimit retries on a new RayCluster, which a RayJob using clusterSelector does not create: remove backoffLimit or clusterSelector",
        field_path: Some(".backoffLimit"),
    },
    CelRule {
        rule: "!has(self.backoffLimit) || self.backoffLimit == 0 || !has(self.submissionMode) || self.submissionMode != 'InteractiveMode'",
        message: "backoffLimit cannot be used with InteractiveMode: a retry would follow the job id you gave for the failed attempt",
        field_path: Some(".backoffLimit"),
    },
    CelRule {
        rule: "!has(self.submissionMode) || self.submissionMode != 'SidecarMode' || (!has(self.submitterPodTemplate) && !has(self.submitterConfig))",
        message: "SidecarMode builds the submitter container itself: remove submitterPodTemplate and submitterConfig, or use K8sJobMode",
        field_path: Some(".submissionMode"),
    },
];

/// Rules on a RayJob's `deletionStrategy` (KubeRay's, with its messages).
pub const DELETION_STRATEGY: &[CelRule] = &[
    CelRule {
        rule: "!((has(self.onSuccess) || has(self.onFailure)) && has(self.deletionRules))",
        message: "legacy policies (onSuccess/onFailure) and deletionRules cannot be used together within the same deletionStrategy",
        field_path: None,
    },
    CelRule {
        rule: "((has(self.onSuccess) && has(self.onFailure)) || has(self.deletionRules))",
        message: "deletionStrategy requires either BOTH onSuccess and onFailure, OR the deletionRules field (cannot be empty)",
        field_path: None,
    },
];

/// Rules on one deletion rule's `condition` (KubeRay's, with its messages).
pub const DELETION_CONDITION: &[CelRule] = &[
    CelRule {
        rule: "!(has(self.jobStatus) && has(self.jobDeploymentStatus))",
        message: "JobStatus and JobDeploymentStatus cannot be used together within the same deletion condition.",
        field_path: None,
    },
    CelRule {
        rule: "has(self.jobStatus) || has(self.jobDeploymentStatus)",
        message: "the deletion condition requires either the JobStatus or the JobDeploymentStatus field.",
        field_path: None,
    },
];

/// Rules on a RayService's `spec`.
pub const RAY_SERVICE_SPEC: &[CelRule] = &[CelRule {
    rule: "!has(self.rayClusterConfig.headGroupSpec.headService) || !has(self.rayClusterConfig.headGroupSpec.headService.metadata) || !has(self.rayClusterConfig.headGroupSpec.headService.metadata.name) || self.rayClusterConfig.headGroupSpec.headService.metadata.name == ''",
    message: "a RayService names its head Services itself: remove rayClusterConfig.headGroupSpec.headService.metadata.name",
    field_path: Some(".rayClusterConfig.headGroupSpec.headService"),
}];

/// Appends `rules` to the `x-kubernetes-validations` of `schema`.
fn add_rules(schema: &mut Schema, rules: &[CelRule]) {
    let entry = schema
        .ensure_object()
        .entry("x-kubernetes-validations")
        .or_insert_with(|| Value::Array(Vec::new()));
    if let Value::Array(list) = entry {
        list.extend(rules.iter().map(CelRule::to_json));
    }
}

/// Appends the rules that reject the fields of `holder` the operator does not support yet
/// ([`super::unsupported`]).
fn add_unsupported(schema: &mut Schema, holder: Holder) {
    let rules: Vec<Value> = fields_of(holder).map(|field| field.to_json()).collect();
    // A holder whose fields are all implemented gets no (empty) list.
    if rules.is_empty() {
        return;
    }
    let entry = schema
        .ensure_object()
        .entry("x-kubernetes-validations")
        .or_insert_with(|| Value::Array(Vec::new()));
    if let Value::Array(list) = entry {
        list.extend(rules);
    }
}

/// schemars transform of `RayClusterSpec`.
pub(crate) fn ray_cluster_spec_schema(schema: &mut Schema) {
    add_unsupported(schema, Holder::ClusterSpec);
    add_rules(schema, GCS_FT_CLUSTER_SPEC);
}

/// schemars transform of `GcsFaultToleranceOptions`.
pub(crate) fn gcs_fault_tolerance_options_schema(schema: &mut Schema) {
    add_rules(schema, GCS_FT_OPTIONS);
    add_unsupported(schema, Holder::GcsFaultToleranceOptions);
}

/// schemars transform of `HeadGroupSpec`.
pub(crate) fn head_group_schema(schema: &mut Schema) {
    add_rules(schema, HEAD_GROUP);
    add_unsupported(schema, Holder::HeadGroup);
}

/// schemars transform of `WorkerGroupSpec`.
pub(crate) fn worker_group_schema(schema: &mut Schema) {
    add_rules(schema, WORKER_GROUP);
    add_unsupported(schema, Holder::WorkerGroup);
}

/// schemars transform of `AutoscalerOptions`.
pub(crate) fn autoscaler_options_schema(schema: &mut Schema) {
    add_unsupported(schema, Holder::AutoscalerOptions);
}

/// schemars transform of `RayJobSpec`.
pub(crate) fn ray_job_spec_schema(schema: &mut Schema) {
    add_rules(schema, RAY_JOB_SPEC);
}

/// schemars transform of `DeletionStrategy`.
pub(crate) fn deletion_strategy_schema(schema: &mut Schema) {
    add_rules(schema, DELETION_STRATEGY);
}

/// schemars transform of `DeletionCondition`: its rules, and the only statuses a condition may name (KubeRay's
/// enums: a rule fires on a finished job).
pub(crate) fn deletion_condition_schema(schema: &mut Schema) {
    add_rules(schema, DELETION_CONDITION);
    let Some(properties) = schema
        .ensure_object()
        .get_mut("properties")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    for (field, values, description) in [
        (
            "jobStatus",
            serde_json::json!(["SUCCEEDED", "FAILED"]),
            "The Ray job status that triggers the rule: `SUCCEEDED` or `FAILED`.",
        ),
        (
            "jobDeploymentStatus",
            serde_json::json!(["Failed"]),
            "The RayJob deployment status that triggers the rule: `Failed`.",
        ),
    ] {
        properties.insert(
            field.to_owned(),
            serde_json::json!({
                "description": description,
                "type": "string",
                "nullable": true,
                "enum": values,
            }),
        );
    }
}

/// schemars transform of `RayServiceSpec`.
pub(crate) fn ray_service_spec_schema(schema: &mut Schema) {
    add_rules(schema, RAY_SERVICE_SPEC);
    add_unsupported(schema, Holder::ServiceSpec);
}
