//! The operator a benchmark run measures: ours, or KubeRay's (`--compare kuberay[=VERSION]`), each started the
//! same way against its own fresh control plane: same QPS, burst and reconcile concurrency, leader election off.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use ray_testenv::{ControlPlane, KubeRayOperator, KubeRayOptions, Layout, project_crd_dir};

use crate::operator::Operator;

/// Which operator a run measures.
#[derive(Debug, Clone)]
pub enum Contender {
    /// This repository's `ray-operator`, with the output of its `run --help` (flags differ between builds).
    Ours {
        /// The binary.
        binary: PathBuf,
        /// `ray-operator run --help`.
        help: String,
    },
    /// KubeRay's operator, built by `cargo xtask testenv install` from its Go module.
    KubeRay {
        /// The release, e.g. `v1.6.2`.
        version: String,
    },
}

/// A started operator.
pub enum Running {
    /// Ours.
    Ours(Operator),
    /// KubeRay's.
    KubeRay(KubeRayOperator),
}

impl Contender {
    /// The column title of the side-by-side table.
    pub fn name(&self) -> String {
        match self {
            Contender::Ours { .. } => "ray-operator-rs".into(),
            Contender::KubeRay { version } => format!("KubeRay {version}"),
        }
    }

    /// The CRDs the operator serves (both are `*.ray.io`, so each run gets a control plane of its own).
    pub fn crd_dir(&self, layout: &Layout) -> PathBuf {
        match self {
            Contender::Ours { .. } => project_crd_dir(),
            Contender::KubeRay { version } => layout.kuberay_crd_dir(version),
        }
    }

    /// The start of the operator's `User-Agent`, by which the API server's audit log tells its requests apart.
    /// KubeRay's is controller-runtime's default: the binary's file name, a slash, the version.
    pub fn user_agent_prefix(&self, layout: &Layout) -> String {
        match self {
            Contender::Ours { .. } => super::audit::OUR_USER_AGENT.to_string(),
            Contender::KubeRay { version } => {
                let bin = layout.kuberay_bin(version);
                let name = bin.file_name().map(|n| n.to_string_lossy().into_owned());
                format!("{}/", name.unwrap_or_else(|| "kuberay-operator".into()))
            }
        }
    }

    /// Starts the operator against `plane` with the run's limits; returns it and, for ours, its /metrics URL (the
    /// reconcile counter).
    pub async fn start(
        &self,
        layout: &Layout,
        plane: &ControlPlane,
        plan: &super::Plan,
        log: &Path,
    ) -> anyhow::Result<(Running, Option<String>)> {
        let (concurrency, qps, burst) = (plan.concurrency, plan.qps, plan.burst);
        match self {
            Contender::Ours { binary, help } => {
                let mut args = vec![
                    format!("--reconcile-concurrency={concurrency}"),
                    format!("--kube-api-qps={qps}"),
                    format!("--kube-api-burst={burst}"),
                    "--log-format=json".to_string(),
                ];
                let metrics_url = if help.contains("--metrics-addr") {
                    let port = ray_testenv::free_ports(1)?[0];
                    args.push(format!("--metrics-addr=127.0.0.1:{port}"));
                    Some(format!("http://127.0.0.1:{port}/metrics"))
                } else {
                    None
                };
                if help.contains("--health-addr") {
                    args.push("--health-addr=off".to_string());
                }
                let env: &[(&str, &str)] = if plan.trace_requests {
                    &[("RUST_LOG", super::request_log::RUST_LOG)]
                } else {
                    &[]
                };
                let operator = Operator::spawn(binary, &args, env, plane.kubeconfig(), log)?;
                Ok((Running::Ours(operator), metrics_url))
            }
            Contender::KubeRay { version } => {
                let mut options = KubeRayOptions::new(version, plane.kubeconfig())?;
                options.layout = layout.clone();
                options.reconcile_concurrency = u32::from(concurrency);
                options.qps = Some(qps);
                options.burst = Some(burst);
                let operator = KubeRayOperator::start(options)
                    .await
                    .with_context(|| format!("starting KubeRay {version}"))?;
                if !operator.ignored_flags().is_empty() {
                    eprintln!(
                        "  KubeRay {version} has no {}: it runs with its own defaults there",
                        operator.ignored_flags().join(", ")
                    );
                }
                Ok((Running::KubeRay(operator), None))
            }
        }
    }
}

impl Running {
    /// The operator's process id, for /proc sampling.
    pub fn pid(&self) -> u32 {
        match self {
            Running::Ours(o) => o.pid(),
            Running::KubeRay(o) => o.pid(),
        }
    }

    /// Fails when the operator has exited, quoting the end of its log.
    pub fn check(&mut self, log: &Path) -> anyhow::Result<()> {
        match self {
            Running::Ours(operator) => {
                if let Some(status) = operator.exited() {
                    let text = std::fs::read_to_string(log).unwrap_or_default();
                    let tail: Vec<&str> = text.lines().rev().take(30).collect();
                    let tail: Vec<&str> = tail.into_iter().rev().collect();
                    anyhow::bail!(
                        "the operator exited ({status}); its log {}:\n{}",
                        log.display(),
                        tail.join("\n")
                    );
                }
                Ok(())
            }
            Running::KubeRay(operator) => operator.check_running().map_err(anyhow::Error::from),
        }
    }

    /// Keeps the operator's log at `log` (KubeRay's lives in a run directory removed when it stops).
    pub fn keep_log(&self, log: &Path) {
        if let Running::KubeRay(operator) = self {
            let _ = std::fs::copy(operator.log_path(), log);
        }
    }
}
