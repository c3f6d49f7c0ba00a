//! The scenarios: each a workload, one fault, and the invariants checked after it (and, by the [`Monitor`], during
//! it).

use std::time::{Duration, Instant, SystemTime};

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{ListParams, Patch, PatchParams};
use kube::{Api, Client};
use ray_testenv::{Fault, FaultProxy};
use serde_json::json;

use super::env::{Env, NAMESPACE, Operator, Suite};
use super::invariants::{self, Expect, Probe};
use super::monitor::{self, Monitor};
use super::{Row, workload};

/// Every scenario, in the order a run takes them.
pub const ALL: &[Scenario] = &[
    Scenario::OperatorKill,
    Scenario::ApiServerRestart,
    Scenario::EtcdRestart,
    Scenario::WatchCut,
    Scenario::Api429,
    Scenario::Api500,
    Scenario::ApiSlow,
    Scenario::Dashboard,
    Scenario::LeaderLost,
    Scenario::ClockJumps,
];

/// How long the end state may take to come back after a fault.
const SETTLE: Duration = Duration::from_secs(180);

/// One scenario.
#[derive(Debug, Clone, Copy)]
pub enum Scenario {
    OperatorKill,
    ApiServerRestart,
    EtcdRestart,
    WatchCut,
    Api429,
    Api500,
    ApiSlow,
    Dashboard,
    LeaderLost,
    ClockJumps,
}

/// What a scenario reports besides pass or fail.
struct Outcome {
    fault: String,
    invariants: Vec<&'static str>,
    recovery: Option<f64>,
}

type Result<T> = std::result::Result<T, String>;

impl Scenario {
    pub fn name(self) -> &'static str {
        match self {
            Scenario::OperatorKill => "operator-kill",
            Scenario::ApiServerRestart => "apiserver-restart",
            Scenario::EtcdRestart => "etcd-restart",
            Scenario::WatchCut => "watch-cut-and-410",
            Scenario::Api429 => "api-429",
            Scenario::Api500 => "api-500",
            Scenario::ApiSlow => "api-slow",
            Scenario::Dashboard => "dashboard-faults",
            Scenario::LeaderLost => "leader-lost",
            Scenario::ClockJumps => "clock-jumps",
        }
    }

    /// Whether `cargo xtask test` runs it (`--quick`).
    pub fn quick(self) -> bool {
        matches!(
            self,
            Scenario::OperatorKill
                | Scenario::ApiServerRestart
                | Scenario::WatchCut
                | Scenario::Dashboard
        )
    }

    pub async fn run(self, suite: &Suite) -> Row {
        let result = match self {
            Scenario::OperatorKill => operator_kill(suite).await,
            Scenario::ApiServerRestart => component_restart(suite, "kube-apiserver", "ar").await,
            Scenario::EtcdRestart => component_restart(suite, "etcd", "er").await,
            Scenario::WatchCut => watch_cut(suite).await,
            Scenario::Api429 => api_errors(suite, 429, "e4").await,
            Scenario::Api500 => api_errors(suite, 500, "e5").await,
            Scenario::ApiSlow => api_slow(suite).await,
            Scenario::Dashboard => dashboard(suite).await,
            Scenario::LeaderLost => leader_lost(suite).await,
            Scenario::ClockJumps => clock_jumps().await,
        };
        match result {
            Ok(outcome) => Row {
                scenario: self.name(),
                fault: outcome.fault,
                invariants: outcome.invariants,
                result: Ok(()),
                recovery: outcome.recovery,
                took: 0.0,
            },
            Err(e) => Row {
                scenario: self.name(),
                fault: self.fault_summary(suite),
                invariants: Vec::new(),
                result: Err(e),
                recovery: None,
                took: 0.0,
            },
        }
    }

    /// The fault, said in the table when the scenario failed before it could say it itself.
    fn fault_summary(self, suite: &Suite) -> String {
        let outage = suite.settings.outage.as_secs();
        match self {
            Scenario::OperatorKill => {
                format!("kill -9 at {} random moments", suite.settings.kill_trials)
            }
            Scenario::ApiServerRestart => format!("kube-apiserver down {outage} s"),
            Scenario::EtcdRestart => format!("etcd down {outage} s"),
            Scenario::WatchCut => "watches cut 3 times, then 410 Gone".into(),
            Scenario::Api429 => "API answers 429".into(),
            Scenario::Api500 => "API answers 500".into(),
            Scenario::ApiSlow => "API answers after 2 s".into(),
            Scenario::Dashboard => "dashboard down, hanging, garbage".into(),
            Scenario::LeaderLost => "Lease stolen from the leader".into(),
            Scenario::ClockJumps => "wall clock jumps ±1 h".into(),
        }
    }
}

fn err<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

fn probe(suite: &Suite, env: &Env) -> Probe {
    Probe {
        client: env.client.clone(),
        dashboard: suite.head.dashboard_url().to_string(),
        serve_port: suite.serve_port,
    }
}

/// The invariant names a scenario with `expect` and a monitor checks.
fn checked(expect: &Expect, serve: bool) -> Vec<&'static str> {
    let mut names = expect.names();
    names.push(monitor::NO_REGRESSION);
    if serve {
        names.push(monitor::SAFE_SWITCH);
    }
    names.push("no panic, no crash");
    names
}

/// Creates `count` RayClusters `<tag>-c<i>` with `workers` workers each.
async fn clusters(client: &Client, tag: &str, count: usize, workers: usize) -> Result<Vec<String>> {
    let mut names = Vec::new();
    for i in 0..count {
        let name = format!("{tag}-c{i}");
        workload::create_cluster(client, &name, workers)
            .await
            .map_err(err)?;
        names.push(name);
    }
    Ok(names)
}

/// Settles, then checks the operator and the monitor; the seconds it took.
async fn finish(
    probe: &Probe,
    expect: &Expect,
    operators: &mut [&mut Operator],
    monitor: Monitor,
) -> Result<f64> {
    let took = invariants::settle(probe, expect, SETTLE).await;
    for operator in operators.iter_mut() {
        operator.check_healthy()?;
    }
    monitor.finish()?;
    took
}

/// The operator killed with SIGKILL at random moments while clusters scale, RayJobs run and a RayService changes
/// its config or upgrades to a new cluster; restarted at once each time. Every trial must end exact.
async fn operator_kill(suite: &Suite) -> Result<Outcome> {
    let env = suite.control_plane().await.map_err(err)?;
    let head = suite.head.dashboard_url().to_string();
    let mut operator = suite
        .operator("operator-kill", env.plane.kubeconfig(), &head, &[])
        .map_err(err)?;
    let client = &env.client;
    let probe = probe(suite, &env);
    let monitor = Monitor::start(client.clone());
    let names = clusters(client, "k", 3, 2).await?;
    let port = suite.serve_port;
    let mut expect = Expect {
        jobs: Vec::new(),
        services: vec![("k-svc".into(), "k-0".into())],
    };
    workload::create_service(client, "k-svc", port, "k-0")
        .await
        .map_err(err)?;
    invariants::settle(&probe, &expect, SETTLE)
        .await
        .map_err(|e| format!("before any fault: {e}"))?;
    let trials = suite.settings.kill_trials;
    let mut rng = fastrand::Rng::with_seed(suite.settings.seed);
    let mut worst: f64 = 0.0;
    for trial in 0..trials {
        // Every kind of change comes up within a few trials; the kill moment and the scale targets are random.
        let what = match trial % 4 {
            0 | 3 => {
                let name = &names[rng.usize(..names.len())];
                let workers = rng.usize(0..=6);
                workload::scale(client, name, workers).await.map_err(err)?;
                format!("scale {name} to {workers}")
            }
            1 => {
                let name = format!("k-job-{trial}");
                workload::create_job(client, &name, 2).await.map_err(err)?;
                expect.jobs.push(name.clone());
                format!("RayJob {name}")
            }
            2 if (trial / 4) % 2 == 0 => {
                let greeting = format!("k-{trial}");
                workload::upgrade_service(client, "k-svc", port, &format!("r{trial}"), &greeting)
                    .await
                    .map_err(err)?;
                expect.services = vec![("k-svc".into(), greeting)];
                "RayService upgrade".to_string()
            }
            _ => {
                let greeting = format!("k-{trial}");
                workload::set_greeting(client, "k-svc", port, &greeting)
                    .await
                    .map_err(err)?;
                expect.services = vec![("k-svc".into(), greeting)];
                "RayService config change".to_string()
            }
        };
        // Most changes are carried out within a second or two: kill within that window.
        let delay = Duration::from_millis(rng.u64(0..1500));
        tokio::time::sleep(delay).await;
        operator.kill9().map_err(err)?;
        tokio::time::sleep(Duration::from_millis(rng.u64(0..1000))).await;
        operator.restart().map_err(err)?;
        let took = invariants::settle(&probe, &expect, SETTLE)
            .await
            .map_err(|e| {
                format!(
                    "trial {}/{trials} ({what}, killed after {} ms): {e}",
                    trial + 1,
                    delay.as_millis()
                )
            })?;
        eprintln!(
            "    trial {}/{trials}: {what}, killed after {} ms, exact again after {took:.1} s",
            trial + 1,
            delay.as_millis()
        );
        worst = worst.max(took);
    }
    operator.check_no_panic()?;
    operator.check_healthy()?;
    monitor.finish()?;
    Ok(Outcome {
        fault: format!("kill -9 at {trials} random moments ({trials}/{trials} exact)"),
        invariants: checked(&expect, true),
        recovery: Some(worst),
    })
}

/// kube-apiserver or etcd stopped for the outage while a scale-up, a RayJob and a RayService are under way, then
/// started again (the controller-manager, scheduler and kwok, which exit when they lose their leases, are
/// restarted as a kubelet would).
async fn component_restart(suite: &Suite, component: &str, tag: &str) -> Result<Outcome> {
    let mut env = suite.control_plane().await.map_err(err)?;
    let head = suite.head.dashboard_url().to_string();
    let mut operator = suite
        .operator(
            &format!("{component}-restart"),
            env.plane.kubeconfig(),
            &head,
            &[],
        )
        .map_err(err)?;
    let client = env.client.clone();
    let probe = probe(suite, &env);
    let monitor = Monitor::start(client.clone());
    let names = clusters(&client, tag, 2, 1).await?;
    let service = format!("{tag}-svc");
    let job = format!("{tag}-job");
    let port = suite.serve_port;
    workload::create_service(&client, &service, port, "before")
        .await
        .map_err(err)?;
    let mut expect = Expect {
        jobs: Vec::new(),
        services: vec![(service.clone(), "before".into())],
    };
    let outage = suite.settings.outage;
    // The job runs through the outage: it is running when the component stops and ends about 15 s after it is back.
    workload::create_job(&client, &job, outage.as_secs() as u32 + 15)
        .await
        .map_err(err)?;
    invariants::settle(&probe, &expect, SETTLE)
        .await
        .map_err(|e| format!("before any fault: {e}"))?;
    until_job_running(&client, &job).await?;
    expect.jobs.push(job);
    workload::scale(&client, &names[0], 6).await.map_err(err)?;
    workload::scale(&client, &names[1], 0).await.map_err(err)?;
    workload::set_greeting(&client, &service, port, "after")
        .await
        .map_err(err)?;
    expect.services = vec![(service, "after".into())];
    tokio::time::sleep(Duration::from_millis(300)).await;
    env.plane.stop_component(component).map_err(err)?;
    tokio::time::sleep(outage).await;
    env.plane.start_component(component).await.map_err(err)?;
    let restarted = restart_dependents(&mut env).await?;
    if !restarted.is_empty() {
        eprintln!("    restarted after the outage: {}", restarted.join(", "));
    }
    let took = finish(&probe, &expect, &mut [&mut operator], monitor).await?;
    Ok(Outcome {
        fault: format!(
            "{component} down {} s, then started again",
            outage.as_secs()
        ),
        invariants: checked(&expect, true),
        recovery: Some(took),
    })
}

/// Starts again every control plane component that exited during an outage (the controller-manager and the
/// scheduler exit when they cannot renew their leases), as the kubelet restarts static pods.
async fn restart_dependents(env: &mut Env) -> Result<Vec<String>> {
    let mut restarted = Vec::new();
    for name in ["kube-controller-manager", "kube-scheduler", "kwok"] {
        if env.plane.component_running(name) {
            continue;
        }
        env.plane.start_component(name).await.map_err(err)?;
        restarted.push(name.to_string());
    }
    Ok(restarted)
}

/// What the scenarios of a misbehaving API server start from: a control plane, the operator reaching it through a
/// fault proxy, the monitor, and `count` RayClusters of one worker, settled.
struct ProxiedStage {
    env: Env,
    proxy: FaultProxy,
    operator: Operator,
    probe: Probe,
    monitor: Monitor,
    names: Vec<String>,
}

async fn proxied_stage(suite: &Suite, name: &str, tag: &str, count: usize) -> Result<ProxiedStage> {
    let env = suite.control_plane().await.map_err(err)?;
    let (proxy, kubeconfig) = env.api_proxy(name).await.map_err(err)?;
    let head = suite.head.dashboard_url().to_string();
    let operator = suite.operator(name, &kubeconfig, &head, &[]).map_err(err)?;
    let probe = probe(suite, &env);
    let monitor = Monitor::start(env.client.clone());
    let names = clusters(&env.client, tag, count, 1).await?;
    invariants::settle(&probe, &Expect::default(), SETTLE)
        .await
        .map_err(|e| format!("before any fault: {e}"))?;
    Ok(ProxiedStage {
        env,
        proxy,
        operator,
        probe,
        monitor,
        names,
    })
}

/// Watches cut three times during a scale-up, then every watch answered 410 Gone for 10 s (the operator must
/// relist), then a scale after recovery that only a working watch sees.
async fn watch_cut(suite: &Suite) -> Result<Outcome> {
    let ProxiedStage {
        env,
        proxy,
        mut operator,
        probe,
        monitor,
        names,
    } = proxied_stage(suite, "watch-cut", "w", 3).await?;
    let client = env.client.clone();
    let expect = Expect::default();
    for (i, name) in names.iter().enumerate() {
        workload::scale(&client, name, 4 + i).await.map_err(err)?;
        tokio::time::sleep(Duration::from_millis(300)).await;
        proxy.cut_streams();
        tokio::time::sleep(Duration::from_millis(700)).await;
    }
    proxy.set(Fault::Gone);
    proxy.cut_streams();
    workload::scale(&client, &names[0], 2).await.map_err(err)?;
    tokio::time::sleep(Duration::from_secs(10)).await;
    proxy.set(Fault::None);
    let took = invariants::settle(&probe, &expect, SETTLE).await?;
    // Only a watch that works again sees this change.
    workload::scale(&client, &names[1], 1).await.map_err(err)?;
    invariants::settle(&probe, &expect, Duration::from_secs(60))
        .await
        .map_err(|e| format!("after the watches came back: {e}"))?;
    let gone = proxy.requests().iter().filter(|r| r.fault).count();
    if gone == 0 {
        return Err("no request got the injected 410: the fault was not exercised".into());
    }
    let took_final = finish(&probe, &expect, &mut [&mut operator], monitor).await?;
    Ok(Outcome {
        fault: format!("watches cut 3 times, then 410 Gone for 10 s ({gone} answered 410)"),
        invariants: checked(&expect, false),
        recovery: Some(took.max(took_final)),
    })
}

/// Every API request answered with `code` for a period while clusters scale and a RayJob starts.
async fn api_errors(suite: &Suite, code: u16, tag: &str) -> Result<Outcome> {
    let ProxiedStage {
        env,
        proxy,
        mut operator,
        probe,
        monitor,
        names,
    } = proxied_stage(suite, &format!("api-{code}"), tag, 2).await?;
    let client = env.client.clone();
    let mut expect = Expect::default();
    let period = if suite.settings.quick { 10 } else { 20 };
    proxy.set(Fault::Status {
        code,
        retry_after_seconds: (code == 429).then_some(1),
    });
    workload::scale(&client, &names[0], 5).await.map_err(err)?;
    workload::scale(&client, &names[1], 0).await.map_err(err)?;
    let job = format!("{tag}-job");
    workload::create_job(&client, &job, 2).await.map_err(err)?;
    expect.jobs.push(job);
    tokio::time::sleep(Duration::from_secs(period)).await;
    proxy.set(Fault::None);
    let refused = proxy.requests().iter().filter(|r| r.fault).count();
    let took = finish(&probe, &expect, &mut [&mut operator], monitor).await?;
    Ok(Outcome {
        fault: format!("every API request answered {code} for {period} s ({refused} refused)"),
        invariants: checked(&expect, false),
        recovery: Some(took),
    })
}

/// Every API request answered 2 s late, for longer than it takes to converge: the operator must converge anyway,
/// slowly, and not give up or crash.
async fn api_slow(suite: &Suite) -> Result<Outcome> {
    let ProxiedStage {
        env,
        proxy,
        mut operator,
        probe,
        monitor,
        names,
    } = proxied_stage(suite, "api-slow", "s", 2).await?;
    let client = env.client.clone();
    let expect = Expect::default();
    proxy.set(Fault::Delay(Duration::from_secs(2)));
    workload::scale(&client, &names[0], 6).await.map_err(err)?;
    workload::scale(&client, &names[1], 3).await.map_err(err)?;
    // Converged while every answer is still slow.
    let took = invariants::settle(&probe, &expect, SETTLE)
        .await
        .map_err(|e| format!("while the API answers after 2 s: {e}"))?;
    proxy.set(Fault::None);
    finish(&probe, &expect, &mut [&mut operator], monitor).await?;
    Ok(Outcome {
        fault: "every API request answered 2 s late".into(),
        invariants: checked(&expect, false),
        recovery: Some(took),
    })
}

/// The Ray dashboard down while a RayJob is submitted, hanging while its status is polled (a RayCluster scaled
/// meanwhile must converge: one hung head must not hold up the others), and answering garbage while a Serve config
/// is deployed.
async fn dashboard(suite: &Suite) -> Result<Outcome> {
    let env = suite.control_plane().await.map_err(err)?;
    let proxy = FaultProxy::for_http(suite.head.dashboard_url())
        .await
        .map_err(err)?;
    let mut operator = suite
        .operator("dashboard", env.plane.kubeconfig(), &proxy.url(), &[])
        .map_err(err)?;
    let client = env.client.clone();
    let probe = probe(suite, &env);
    let monitor = Monitor::start(client.clone());
    let names = clusters(&client, "d", 1, 1).await?;
    let port = suite.serve_port;
    let mut expect = Expect {
        jobs: Vec::new(),
        services: vec![("d-svc".into(), "d-0".into())],
    };
    workload::create_service(&client, "d-svc", port, "d-0")
        .await
        .map_err(err)?;
    invariants::settle(&probe, &expect, SETTLE)
        .await
        .map_err(|e| format!("before any fault: {e}"))?;
    let period = Duration::from_secs(10);

    // Down while the RayJob is submitted.
    proxy.set(Fault::Refuse);
    workload::create_job(&client, "d-job", 15)
        .await
        .map_err(err)?;
    expect.jobs.push("d-job".into());
    tokio::time::sleep(period).await;
    proxy.set(Fault::None);
    until_job_running(&client, "d-job").await?;

    // Hanging while the RayJob's status is polled; another RayCluster scales meanwhile.
    proxy.set(Fault::Hang);
    workload::scale(&client, &names[0], 4).await.map_err(err)?;
    let scaled = until_pods(&client, &names[0], 5, Duration::from_secs(30))
        .await
        .map_err(|e| {
            format!("while the dashboard hangs, another RayCluster must still scale: {e}")
        })?;
    tokio::time::sleep(period.saturating_sub(Duration::from_secs_f64(scaled))).await;
    proxy.set(Fault::None);

    // Garbage while a new Serve config is deployed.
    proxy.set(Fault::Garbage);
    workload::set_greeting(&client, "d-svc", port, "d-1")
        .await
        .map_err(err)?;
    expect.services = vec![("d-svc".into(), "d-1".into())];
    tokio::time::sleep(period).await;
    proxy.set(Fault::None);
    let faulted = proxy.requests().iter().filter(|r| r.fault).count();
    if faulted == 0 {
        return Err("no dashboard request met a fault: the faults were not exercised".into());
    }
    let took = finish(&probe, &expect, &mut [&mut operator], monitor).await?;
    Ok(Outcome {
        fault: format!(
            "dashboard down during submission, hanging during status polls (a RayCluster scaled in {scaled:.1} s meanwhile), garbage during a Serve deploy; 10 s each ({faulted} requests hit)"
        ),
        invariants: checked(&expect, true),
        recovery: Some(took),
    })
}

async fn until_job_running(client: &Client, name: &str) -> Result<()> {
    let start = Instant::now();
    loop {
        let job = workload::Kind::RayJob
            .api(client)
            .get(name)
            .await
            .map_err(err)?;
        let status = job.data["status"]["jobDeploymentStatus"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if status == "Running" {
            return Ok(());
        }
        if start.elapsed() > Duration::from_secs(90) {
            return Err(format!(
                "RayJob {name} not Running within 90 s (it is {status:?})"
            ));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Waits until the RayCluster has `count` pods that are not terminating; the seconds it took.
async fn until_pods(client: &Client, cluster: &str, count: usize, limit: Duration) -> Result<f64> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), NAMESPACE);
    let start = Instant::now();
    loop {
        let have = pods
            .list(&ListParams::default().labels(&format!("ray.io/cluster={cluster}")))
            .await
            .map_err(err)?
            .items
            .iter()
            .filter(|p| p.metadata.deletion_timestamp.is_none())
            .count();
        if have == count {
            return Ok(start.elapsed().as_secs_f64());
        }
        if start.elapsed() > limit {
            return Err(format!(
                "RayCluster {cluster} has {have} pods after {:.0} s, wants {count}",
                limit.as_secs_f64()
            ));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Two replicas with leader election, each through its own API proxy; the Lease is stolen from the leader by a
/// third identity. Nobody may write while the thief holds it (after the old leader's next renewal attempt), and
/// afterwards exactly one replica leads and converges the change made meanwhile.
async fn leader_lost(suite: &Suite) -> Result<Outcome> {
    const LEASE: &str = "ray-operator-faults";
    const THIEF_SECONDS: i32 = 20;
    /// How long a leader may go on writing after its Lease was taken: its next renewal (every 2 s) finds out, and
    /// a reconcile already running finishes.
    const SLACK: Duration = Duration::from_secs(3);
    let env = suite.control_plane().await.map_err(err)?;
    let head = suite.head.dashboard_url().to_string();
    let flags = [
        "--leader-elect",
        "--leader-election-namespace",
        NAMESPACE,
        "--leader-election-id",
        LEASE,
        "--leader-election-lease-duration-seconds",
        "15",
        "--leader-election-renew-deadline-seconds",
        "10",
        "--leader-election-retry-period-seconds",
        "2",
    ];
    let (proxy_a, kubeconfig_a) = env.api_proxy("leader-a").await.map_err(err)?;
    let (proxy_b, kubeconfig_b) = env.api_proxy("leader-b").await.map_err(err)?;
    let mut a = suite
        .operator(
            "leader-a",
            &kubeconfig_a,
            &head,
            &[&flags[..], &["--instance", "replica-a"]].concat(),
        )
        .map_err(err)?;
    let mut b = suite
        .operator(
            "leader-b",
            &kubeconfig_b,
            &head,
            &[&flags[..], &["--instance", "replica-b"]].concat(),
        )
        .map_err(err)?;
    let client = env.client.clone();
    let probe = probe(suite, &env);
    let monitor = Monitor::start(client.clone());
    let names = clusters(&client, "l", 2, 1).await?;
    let expect = Expect::default();
    invariants::settle(&probe, &expect, SETTLE)
        .await
        .map_err(|e| format!("before any fault: {e}"))?;
    let leases: Api<Lease> = Api::namespaced(client.clone(), NAMESPACE);
    let holder = |lease: &Lease| {
        lease
            .spec
            .as_ref()
            .and_then(|s| s.holder_identity.clone())
            .unwrap_or_default()
    };
    let before = leases.get(LEASE).await.map_err(err)?;
    let old_leader = holder(&before);
    // MicroTime serializes as the API server wants it (microseconds, not jiff's nanoseconds).
    let now = k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime(
        k8s_openapi::jiff::Timestamp::now(),
    );
    let stolen_at = SystemTime::now();
    leases
        .patch(
            LEASE,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {
                "holderIdentity": "thief",
                "leaseDurationSeconds": THIEF_SECONDS,
                "acquireTime": now,
                "renewTime": now,
            }})),
        )
        .await
        .map_err(err)?;
    // Until its next renewal the old leader cannot know and may still act (true of any Lease-based election): the
    // change comes after that window, and until the thief's Lease expires its pods must not appear.
    tokio::time::sleep(SLACK).await;
    workload::scale(&client, &names[0], 4).await.map_err(err)?;
    tokio::time::sleep(Duration::from_secs(THIEF_SECONDS as u64) - SLACK - Duration::from_secs(3))
        .await;
    let during = until_pods(&client, &names[0], 2, Duration::from_secs(1)).await;
    if during.is_err() {
        return Err(format!(
            "while a third identity held the Lease, RayCluster {} changed: {}",
            names[0],
            during.err().unwrap_or_default()
        ));
    }
    let took = finish(&probe, &expect, &mut [&mut a, &mut b], monitor).await?;
    let after = leases.get(LEASE).await.map_err(err)?;
    let new_leader = holder(&after);
    let acquired = after
        .spec
        .as_ref()
        .and_then(|s| s.acquire_time.as_ref())
        .map(|t| SystemTime::from(t.0))
        .unwrap_or(stolen_at);
    // Writes other than the Lease and Events, per replica, after the old leader had time to notice.
    let writes = |proxy: &FaultProxy| {
        proxy
            .requests()
            .into_iter()
            .filter(|r| matches!(r.method.as_str(), "POST" | "PUT" | "PATCH" | "DELETE"))
            .filter(|r| !r.path.contains("/leases") && !r.path.contains("/events"))
            .filter(|r| r.at > stolen_at + SLACK)
            .collect::<Vec<_>>()
    };
    for (identity, proxy) in [("replica-a", &proxy_a), ("replica-b", &proxy_b)] {
        let writes = writes(proxy);
        let bad: Vec<String> = writes
            .iter()
            .filter(|r| !new_leader.starts_with(&format!("{identity}_")) || r.at < acquired)
            .map(|r| format!("{} {}", r.method, r.path))
            .take(3)
            .collect();
        if !bad.is_empty() {
            return Err(format!(
                "{identity} wrote without holding the Lease (old leader {old_leader}, new leader {new_leader}): {bad:?}"
            ));
        }
    }
    if !new_leader.starts_with("replica-a_") && !new_leader.starts_with("replica-b_") {
        return Err(format!(
            "after the stolen Lease expired, it is held by {new_leader:?}"
        ));
    }
    Ok(Outcome {
        fault: format!(
            "Lease taken from {old_leader} for {THIEF_SECONDS} s; {new_leader} leads after"
        ),
        invariants: [checked(&expect, false), vec!["no write without the Lease"]].concat(),
        recovery: Some(took),
    })
}

/// The clock-jump scenarios run in process with a manual clock (crates/ray-controllers/tests/clock_jumps.rs): TTL
/// and deadline logic under wall-clock jumps forward and backward.
async fn clock_jumps() -> Result<Outcome> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = tokio::process::Command::new(cargo)
        .args(["test", "-p", "ray-controllers", "--test", "clock_jumps"])
        .current_dir(crate::crd::workspace_root())
        .status()
        .await
        .map_err(err)?;
    if !status.success() {
        return Err(format!(
            "cargo test -p ray-controllers --test clock_jumps: {status}"
        ));
    }
    Ok(Outcome {
        fault: "wall clock jumps forward and back by an hour (manual clock)".into(),
        invariants: vec![
            "deletion rules run once each (TTL order step by step; the furthest-reaching one after a big jump, as KubeRay)",
            "no deadline fires early",
            "nothing re-run after a jump back",
        ],
        recovery: None,
    })
}
