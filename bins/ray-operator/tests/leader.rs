//! Two `ray-operator` processes with leader election on the local control plane: only the Lease holder
//! reconciles, a standby takes over after `kill -9` of the leader, a leader that loses its Lease steps down
//! without exiting, and a stopping leader releases the Lease.

mod common;

use std::time::{Duration, Instant};

use common::{Operator, cluster, pod_count, series, setup, until};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::Api;
use kube::api::PostParams;
use ray_api_v1::RayCluster;

const LEASE: &str = "failover-test";
// Short timings: a 4 s lease, given up after 3 s without renewal, retried every second.
const LEASE_SECONDS: u64 = 4;
const RETRY_SECONDS: u64 = 1;

fn flags<'a>(namespace: &'a str, instance: &'a str) -> Vec<&'a str> {
    vec![
        "--leader-elect",
        "--leader-election-namespace",
        namespace,
        "--leader-election-id",
        LEASE,
        "--leader-election-lease-duration-seconds",
        "4",
        "--leader-election-renew-deadline-seconds",
        "3",
        "--leader-election-retry-period-seconds",
        "1",
        "--instance",
        instance,
    ]
}

async fn holder(leases: &Api<Lease>) -> Option<String> {
    leases
        .get_opt(LEASE)
        .await
        .ok()
        .flatten()
        .and_then(|l| l.spec)
        .and_then(|s| s.holder_identity)
}

async fn is_leader(operator: &Operator) -> bool {
    series(&operator.scrape().await, "ray_operator_is_leader") == Some(1.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_leader_reconciles_and_a_standby_takes_over_when_it_dies() {
    let setup = setup("op-leader").await;
    let ns = setup.namespace.clone();
    let leases: Api<Lease> = Api::namespaced(setup.client.clone(), &ns);
    let clusters: Api<RayCluster> = Api::namespaced(setup.client.clone(), &ns);
    let a = Operator::start(&setup, &setup.kubeconfig, &flags(&ns, "op-a"));
    let b = Operator::start(&setup, &setup.kubeconfig, &flags(&ns, "op-b"));

    let first = until(Duration::from_secs(30), "a Lease holder", || async {
        holder(&leases).await
    })
    .await;
    let (leader, standby) = if first.starts_with("op-a_") {
        (a, b)
    } else {
        (b, a)
    };
    assert!(is_leader(&leader).await);
    // Both are ready: the standby so a rolling update can proceed.
    until(Duration::from_secs(20), "both ready", || async {
        let l = leader.probe("/readyz").await.0;
        let s = standby.probe("/readyz").await;
        (l == 200 && s.0 == 200 && s.1.contains("standby")).then_some(())
    })
    .await;

    clusters
        .create(&PostParams::default(), &cluster("first", 1))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    until(
        Duration::from_secs(30),
        "pods of the first cluster",
        || async { (pod_count(&setup, "first").await == 2).then_some(()) },
    )
    .await;
    let standby_metrics = standby.scrape().await;
    assert!(standby_metrics.contains("ray_operator_is_leader 0"));
    assert!(
        !standby_metrics.contains("ray_operator_reconcile_total{"),
        "the standby reconciled:\n{standby_metrics}"
    );
    assert!(
        !standby_metrics.contains("verb=\"watch\""),
        "the standby watches:\n{standby_metrics}"
    );
    until(
        Duration::from_secs(10),
        "the leader's reconciles counted",
        || async {
            series(
                &leader.scrape().await,
                r#"ray_operator_reconcile_total{controller="raycluster",result="success",category=""}"#,
            )
            .filter(|n| *n >= 1.0)
        },
    )
    .await;

    // kill -9: no release, the standby waits for the Lease to expire.
    let mut leader = leader;
    leader.child.start_kill().unwrap_or_else(|e| panic!("{e}"));
    let _ = leader.child.wait().await;
    let killed = Instant::now();
    let standby_id = until(
        Duration::from_secs(30),
        "the standby holding the Lease",
        || async { holder(&leases).await.filter(|h| *h != first) },
    )
    .await;
    let takeover = killed.elapsed();
    // At most the lease duration plus two retry periods after the last renewal (which preceded the kill), plus
    // a second for API round trips and scheduling.
    assert!(
        takeover < Duration::from_secs(LEASE_SECONDS + 2 * RETRY_SECONDS + 1),
        "took over after {takeover:?}"
    );
    let new_leader = standby;
    until(
        Duration::from_secs(10),
        "the new leader's metrics",
        || async { is_leader(&new_leader).await.then_some(()) },
    )
    .await;
    clusters
        .create(&PostParams::default(), &cluster("second", 1))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    until(
        Duration::from_secs(30),
        "pods of the second cluster",
        || async { (pod_count(&setup, "second").await == 2).then_some(()) },
    )
    .await;

    // Someone else takes the Lease: the leader steps down to standby without exiting, then (the intruder
    // never renews) takes it back.
    let mut lease = leases.get(LEASE).await.unwrap_or_else(|e| panic!("{e}"));
    if let Some(spec) = lease.spec.as_mut() {
        spec.holder_identity = Some("intruder".into());
        spec.lease_duration_seconds = Some(3);
        spec.renew_time = Some(MicroTime(k8s_openapi::jiff::Timestamp::now()));
    }
    leases
        .replace(LEASE, &PostParams::default(), &lease)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    until(
        Duration::from_secs(10),
        "the leader stepping down",
        || async { (!is_leader(&new_leader).await).then_some(()) },
    )
    .await;
    let (status, body) = new_leader.probe("/readyz").await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("standby"), "{body}");
    let mut new_leader = new_leader;
    assert!(
        new_leader
            .child
            .try_wait()
            .unwrap_or_else(|e| panic!("{e}"))
            .is_none(),
        "the operator exited after losing the Lease"
    );
    until(Duration::from_secs(15), "the Lease taken back", || async {
        (holder(&leases).await.as_deref() == Some(standby_id.as_str())).then_some(())
    })
    .await;
    until(Duration::from_secs(10), "leading again", || async {
        is_leader(&new_leader).await.then_some(())
    })
    .await;

    // SIGTERM: the leader releases the Lease on its way out.
    new_leader.stop().await;
    assert_eq!(holder(&leases).await, None, "the Lease was not released");
}
