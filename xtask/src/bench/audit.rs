//! API requests counted by the API server (its audit log, `ControlPlaneOptions::audit`), in the shape the report
//! already uses for the operator's own counter: `verb resource` → count. Every operator is then measured the same
//! way, whatever its /metrics say. Reconciles are not in the audit log; they still come from /metrics or the log.
//!
//! Use: start the control plane with `audit: true`, take `log.mark()` where the metrics are scraped today, and call
//! [`snapshot`] with the two marks before the control plane is dropped (the log lives in its run directory).

use anyhow::Context as _;
use ray_testenv::{AuditLog, Mark};

use super::metrics::Snapshot;

/// The start of our operator's `User-Agent` (bins/ray-operator/src/run.rs).
pub const OUR_USER_AGENT: &str = "ray-operator-rs/";

/// The requests between two marks whose `User-Agent` starts with `user_agent_prefix`, by `verb resource`
/// (`resource/subresource` for a subresource, the path for a non-resource request). A watch counts once, when it
/// opens. `reconciles` is left empty.
pub fn snapshot(
    log: &AuditLog,
    from: Mark,
    to: Mark,
    user_agent_prefix: &str,
) -> anyhow::Result<Snapshot> {
    let counts = log
        .count(from, to)
        .with_context(|| format!("counting requests in {}", log.path().display()))?;
    if counts.unreadable > 0 {
        eprintln!(
            "  warning: {} lines of {} are not audit events",
            counts.unreadable,
            log.path().display()
        );
    }
    Ok(Snapshot {
        requests: counts
            .for_user_agent(user_agent_prefix)
            .by_verb_resource()
            .into_iter()
            .map(|(k, v)| (k, v as f64))
            .collect(),
        reconciles: Default::default(),
        has_requests: true,
    })
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use super::*;

    fn event(stage: &str, verb: &str, agent: &str, resource: &str) -> String {
        format!(
            r#"{{"kind":"Event","auditID":"x","stage":"{stage}","requestURI":"/","verb":"{verb}","userAgent":"{agent}","user":{{"username":"u"}},"objectRef":{{"resource":"{resource}"}},"responseStatus":{{"code":200}}}}"#
        ) + "\n"
    }

    #[test]
    fn only_the_named_agent_counts_in_the_report_shape() -> anyhow::Result<()> {
        let path = std::env::temp_dir().join(format!("bench-audit-{}.log", std::process::id()));
        let log = AuditLog::new(&path);
        let mut file = std::fs::File::create(&path)?;
        file.write_all(
            event(
                "ResponseComplete",
                "create",
                "ray-operator-rs/0.1.0",
                "pods",
            )
            .as_bytes(),
        )?;
        let from = log.mark()?;
        for line in [
            event(
                "ResponseComplete",
                "create",
                "ray-operator-rs/0.1.0",
                "pods",
            ),
            event(
                "ResponseComplete",
                "create",
                "ray-operator-rs/0.1.0",
                "pods",
            ),
            event("ResponseStarted", "watch", "ray-operator-rs/0.1.0", "pods"),
            event("ResponseComplete", "watch", "ray-operator-rs/0.1.0", "pods"),
            event(
                "ResponseComplete",
                "create",
                "kuberay-operator/v1.5.0",
                "pods",
            ),
        ] {
            file.write_all(line.as_bytes())?;
        }
        let to = log.mark()?;
        let ours = snapshot(&log, from, to, OUR_USER_AGENT)?;
        assert_eq!(ours.total_requests(), 3.0);
        assert_eq!(ours.write_requests(), 2.0);
        assert_eq!(ours.requests["watch pods"], 1.0);
        let theirs = snapshot(&log, from, to, "kuberay-operator/")?;
        assert_eq!(theirs.total_requests(), 1.0);
        std::fs::remove_file(&path)?;
        Ok(())
    }
}
