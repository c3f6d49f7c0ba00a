//! Default liveness and readiness probes of Ray containers, filled in only where the user set none.
//!
//! Ray 2.53 and later serve `/api/healthz` on the dashboard agent, probed with `httpGet` (no `wget` needed in the
//! image). Older or unknown Ray versions get KubeRay's `wget` exec probes.

use k8s_openapi::api::core::v1::{ExecAction, HTTPGetAction, Probe};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::labels::NodeType;

/// The first Ray version whose dashboard agent serves `/api/healthz`.
pub const HTTP_HEALTH_MIN_RAY_VERSION: (u64, u64, u64) = (2, 53, 0);

/// Parses a Ray version such as `2.9.0` or `v2.53.1`; `None` when it does not parse.
pub fn parse_ray_version(version: Option<&str>) -> Option<(u64, u64, u64)> {
    let v = version?.trim().trim_start_matches('v');
    let mut parts = v.split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next().unwrap_or("0").parse().ok()?;
    let patch_text: String = parts
        .next()
        .unwrap_or("0")
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .collect();
    let patch = patch_text.parse().unwrap_or(0);
    Some((major, minor, patch))
}

/// What the probes need to know about the pod.
#[derive(Debug, Clone, Copy)]
pub struct ProbeTarget {
    /// Head or worker.
    pub node_type: NodeType,
    /// The dashboard agent port (`dashboard-agent-listen-port`).
    pub agent_port: u16,
    /// The dashboard port (`dashboard-port`), probed on the head.
    pub dashboard_port: u16,
    /// For RayService workers: the Serve port whose `/-/healthz` gates readiness.
    pub serve_port: Option<u16>,
    /// Whether the Ray version serves `/api/healthz`.
    pub http_health: bool,
}

fn wget(timeout: u32, url: String) -> String {
    format!("wget --tries 1 -T {timeout} -q -O- {url} | grep success")
}

fn exec_probe(commands: Vec<String>) -> Probe {
    Probe {
        exec: Some(ExecAction {
            command: Some(vec![
                "bash".to_string(),
                "-c".to_string(),
                commands.join(" && "),
            ]),
        }),
        ..Probe::default()
    }
}

fn base_commands(target: &ProbeTarget) -> Vec<String> {
    let mut commands = vec![wget(
        2,
        format!(
            "http://localhost:{}/api/local_raylet_healthz",
            target.agent_port
        ),
    )];
    if target.node_type == NodeType::Head {
        commands.push(wget(
            10,
            format!("http://localhost:{}/api/gcs_healthz", target.dashboard_port),
        ));
    }
    commands
}

fn check(target: &ProbeTarget) -> Probe {
    if target.http_health {
        Probe {
            http_get: Some(HTTPGetAction {
                path: Some("/api/healthz".to_string()),
                port: IntOrString::Int(i32::from(target.agent_port)),
                ..HTTPGetAction::default()
            }),
            ..Probe::default()
        }
    } else {
        exec_probe(base_commands(target))
    }
}

/// The default liveness probe.
pub fn liveness(target: &ProbeTarget) -> Probe {
    Probe {
        initial_delay_seconds: Some(30),
        timeout_seconds: Some(timeout(target)),
        period_seconds: Some(5),
        success_threshold: Some(1),
        failure_threshold: Some(120),
        ..check(target)
    }
}

/// The default readiness probe. RayService workers are ready only while their Serve proxy answers, so traffic
/// only reaches pods that can serve it.
pub fn readiness(target: &ProbeTarget) -> Probe {
    if let Some(serve_port) = target.serve_port {
        let mut commands = base_commands(target);
        commands.push(wget(10, format!("http://localhost:{serve_port}/-/healthz")));
        return Probe {
            initial_delay_seconds: Some(10),
            timeout_seconds: Some(timeout(target)),
            period_seconds: Some(5),
            success_threshold: Some(1),
            failure_threshold: Some(1),
            ..exec_probe(commands)
        };
    }
    Probe {
        initial_delay_seconds: Some(10),
        timeout_seconds: Some(timeout(target)),
        period_seconds: Some(5),
        success_threshold: Some(1),
        failure_threshold: Some(10),
        ..check(target)
    }
}

fn timeout(target: &ProbeTarget) -> i32 {
    match target.node_type {
        NodeType::Head => 5,
        NodeType::Worker => 2,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert_eq!(parse_ray_version(Some("2.9.0")), Some((2, 9, 0)));
        assert_eq!(parse_ray_version(Some("v2.53")), Some((2, 53, 0)));
        assert_eq!(parse_ray_version(Some("2.53.0rc1")), Some((2, 53, 0)));
        assert_eq!(parse_ray_version(Some("nightly")), None);
        assert_eq!(parse_ray_version(None), None);
        assert!(parse_ray_version(Some("2.53.0")).unwrap() >= HTTP_HEALTH_MIN_RAY_VERSION);
    }
}
