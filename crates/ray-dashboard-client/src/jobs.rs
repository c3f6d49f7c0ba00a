//! The Jobs API's requests and responses.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Defines a string enum that keeps values it does not know (a newer Ray may add some) instead of failing to parse
/// the whole response.
macro_rules! open_string_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $wire:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
            /// A value this client does not know, kept verbatim.
            Other(String),
        }

        impl $name {
            /// The value as Ray spells it.
            pub fn as_str(&self) -> &str {
                match self {
                    $(Self::$variant => $wire,)+
                    Self::Other(other) => other,
                }
            }
        }

        impl From<&str> for $name {
            fn from(value: &str) -> Self {
                match value {
                    $($wire => Self::$variant,)+
                    other => Self::Other(other.to_owned()),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let value = String::deserialize(deserializer)?;
                Ok(Self::from(value.as_str()))
            }
        }
    };
}
pub(crate) use open_string_enum;

open_string_enum! {
    /// A Ray job's status.
    JobStatus {
        /// Submitted, waiting for resources or its runtime environment.
        Pending = "PENDING",
        /// Running.
        Running = "RUNNING",
        /// Stopped on request.
        Stopped = "STOPPED",
        /// The entrypoint exited with status 0.
        Succeeded = "SUCCEEDED",
        /// The entrypoint failed (or Ray failed to run it).
        Failed = "FAILED",
    }
}

impl JobStatus {
    /// Whether Ray will never change this status again.
    pub fn is_terminal(&self) -> bool {
        matches!(self, Self::Stopped | Self::Succeeded | Self::Failed)
    }
}

/// `POST /api/jobs/`: what to run. Only the entrypoint is required; every unset field is left out of the request,
/// since Ray rejects keys its version does not know.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct JobSubmitRequest {
    /// The shell command Ray runs as the job's driver.
    pub entrypoint: String,
    /// The job's id. Submitting an id twice is answered with "already exists" (see [`SubmitOutcome`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub submission_id: Option<String>,
    /// The runtime environment (`env_vars`, `pip`, `working_dir`, ...), as JSON.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runtime_env: Option<serde_json::Value>,
    /// Free-form metadata shown by `ray job list`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<BTreeMap<String, String>>,
    /// CPUs reserved for the entrypoint.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entrypoint_num_cpus: Option<f64>,
    /// GPUs reserved for the entrypoint.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entrypoint_num_gpus: Option<f64>,
    /// Custom resources reserved for the entrypoint.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entrypoint_resources: Option<BTreeMap<String, f64>>,
}

impl JobSubmitRequest {
    /// A request that runs `entrypoint` with Ray's defaults for everything else.
    pub fn new(entrypoint: impl Into<String>) -> Self {
        Self {
            entrypoint: entrypoint.into(),
            ..Self::default()
        }
    }

    /// Sets the submission id, which makes submitting idempotent.
    pub fn with_submission_id(mut self, id: impl Into<String>) -> Self {
        self.submission_id = Some(id.into());
        self
    }
}

/// What `POST /api/jobs/` achieved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SubmitOutcome {
    /// Ray accepted a new job.
    Submitted {
        /// The job's submission id.
        submission_id: String,
    },
    /// A job with the requested submission id already exists: an earlier attempt got through, so there is
    /// nothing to do.
    AlreadyExists {
        /// The job's submission id.
        submission_id: String,
    },
}

impl SubmitOutcome {
    /// The job's submission id, whichever way it went.
    pub fn submission_id(&self) -> &str {
        match self {
            Self::Submitted { submission_id } | Self::AlreadyExists { submission_id } => {
                submission_id
            }
        }
    }
}

/// The answer to `POST /api/jobs/`. Ray sends `submission_id`; old versions only the deprecated `job_id`.
#[derive(Debug, Deserialize)]
pub(crate) struct SubmitResponse {
    #[serde(default)]
    pub submission_id: Option<String>,
    #[serde(default)]
    pub job_id: Option<String>,
}

/// A job as `GET /api/jobs/{id}` describes it. Every field but the status may be missing or null.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct JobDetails {
    /// `SUBMISSION` for jobs submitted through the Jobs API, `DRIVER` for plain drivers.
    #[serde(rename = "type", default)]
    pub job_type: Option<String>,
    /// The submission id (null for plain drivers).
    #[serde(default)]
    pub submission_id: Option<String>,
    /// Ray's internal job id (hex); null while the job is pending.
    #[serde(default)]
    pub job_id: Option<String>,
    /// The job's status.
    pub status: JobStatus,
    /// The entrypoint command.
    #[serde(default)]
    pub entrypoint: Option<String>,
    /// Ray's explanation of the status; for a failed job it carries the end of the driver's log.
    #[serde(default)]
    pub message: Option<String>,
    /// Ray's error class for failures, such as `JOB_ENTRYPOINT_COMMAND_ERROR`.
    #[serde(default)]
    pub error_type: Option<String>,
    /// When the job started, in Unix milliseconds.
    #[serde(default)]
    pub start_time: Option<u64>,
    /// When the job ended, in Unix milliseconds.
    #[serde(default)]
    pub end_time: Option<u64>,
    /// The metadata the job was submitted with.
    #[serde(default)]
    pub metadata: Option<BTreeMap<String, String>>,
    /// The runtime environment the job was submitted with.
    #[serde(default)]
    pub runtime_env: Option<serde_json::Value>,
    /// The driver's exit code, once it exited.
    #[serde(default)]
    pub driver_exit_code: Option<i64>,
}

/// `GET /api/version`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct VersionInfo {
    /// The Jobs API version.
    #[serde(default)]
    pub version: Option<String>,
    /// The Ray version of the head.
    #[serde(default)]
    pub ray_version: Option<String>,
    /// The Ray commit of the head.
    #[serde(default)]
    pub ray_commit: Option<String>,
}

/// `POST /api/jobs/{id}/stop`.
#[derive(Debug, Deserialize)]
pub(crate) struct StopResponse {
    pub stopped: bool,
}

/// `DELETE /api/jobs/{id}`.
#[derive(Debug, Deserialize)]
pub(crate) struct DeleteResponse {
    pub deleted: bool,
}

/// `GET /api/jobs/{id}/logs`.
#[derive(Debug, Deserialize)]
pub(crate) struct LogsResponse {
    #[serde(default)]
    pub logs: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_details_parse_the_shape_of_a_real_ray_head() {
        let body = r#"{"type": "SUBMISSION", "job_id": null, "submission_id": "t1", "driver_info": null,
            "status": "SUCCEEDED", "entrypoint": "python -c \"print(42)\"", "message": "Job finished successfully.",
            "error_type": null, "start_time": 1795624264348, "end_time": 1795624265742, "metadata": null,
            "runtime_env": null, "driver_agent_http_address": "http://192.0.2.2:52365",
            "driver_node_id": "8436ced3", "driver_exit_code": 0}"#;
        let job: JobDetails = serde_json::from_str(body).expect("parses");
        assert_eq!(job.status, JobStatus::Succeeded);
        assert!(job.status.is_terminal());
        assert_eq!(job.submission_id.as_deref(), Some("t1"));
        assert_eq!(job.end_time, Some(1_795_624_265_742));
        assert_eq!(job.driver_exit_code, Some(0));
    }

    #[test]
    fn unknown_status_values_are_kept_not_rejected() {
        let job: JobDetails =
            serde_json::from_str(r#"{"status": "QUEUED_SOMEWHERE"}"#).expect("parses");
        assert_eq!(job.status, JobStatus::Other("QUEUED_SOMEWHERE".into()));
        assert!(!job.status.is_terminal());
        assert_eq!(job.status.to_string(), "QUEUED_SOMEWHERE");
    }

    #[test]
    fn submit_request_leaves_out_unset_fields() {
        let request = JobSubmitRequest::new("python x.py").with_submission_id("a");
        assert_eq!(
            serde_json::to_value(&request).expect("serializes"),
            serde_json::json!({"entrypoint": "python x.py", "submission_id": "a"})
        );
    }
}
