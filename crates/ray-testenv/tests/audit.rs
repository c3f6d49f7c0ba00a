//! Counting requests from the API server's audit log, against the real kube-apiserver: a client that names itself
//! in its `User-Agent` is counted exactly, by verb and resource, between two marks.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client};
use ray_testenv::{ControlPlane, ControlPlaneOptions, create_namespace};

const AGENT: &str = "ray-testenv-audit-test/1.0";

async fn client_named(plane: &ControlPlane, agent: &'static str) -> Client {
    let kubeconfig = Kubeconfig::read_from(plane.kubeconfig()).unwrap_or_else(|e| panic!("{e}"));
    let mut config =
        kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    config.headers.push((
        http::header::USER_AGENT,
        http::HeaderValue::from_static(agent),
    ));
    Client::try_from(config).unwrap_or_else(|e| panic!("{e}"))
}

fn config_map(name: &str) -> ConfigMap {
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            ..ObjectMeta::default()
        },
        data: Some(BTreeMap::from([("k".to_owned(), "v".to_owned())])),
        ..ConfigMap::default()
    }
}

#[test]
fn auditing_is_off_unless_asked_for() {
    let options = ControlPlaneOptions::new().unwrap_or_else(|e| panic!("{e}"));
    assert!(!options.audit);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_are_counted_by_user_agent_verb_and_resource_between_two_marks() {
    let options = ControlPlaneOptions {
        nodes: 1,
        audit: true,
        ..ControlPlaneOptions::new().unwrap_or_else(|e| panic!("{e}"))
    };
    let plane = ControlPlane::start(options)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let log = plane.audit_log().expect("started with audit on");
    assert_eq!(Some(log.path()), plane.audit_log_path());
    let admin = plane.client().await.unwrap_or_else(|e| panic!("{e}"));
    let ns = create_namespace(&admin, "audit")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let named = client_named(&plane, AGENT).await;
    let maps: Api<ConfigMap> = Api::namespaced(named.clone(), &ns);
    let namespaces: Api<Namespace> = Api::all(named.clone());

    // Earlier requests by the same client must not count.
    maps.list(&ListParams::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let before = log.mark().unwrap_or_else(|e| panic!("{e}"));

    let pp = PostParams::default();
    maps.create(&pp, &config_map("a"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let b = maps
        .create(&pp, &config_map("b"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    for _ in 0..3 {
        maps.get("a").await.unwrap_or_else(|e| panic!("{e}"));
    }
    assert!(
        maps.get_opt("missing")
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .is_none()
    );
    maps.list(&ListParams::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    maps.patch(
        "a",
        &PatchParams::default(),
        &Patch::Merge(serde_json::json!({"data": {"k": "w"}})),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    maps.replace("b", &pp, &b)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    namespaces
        .get_status(&ns)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    maps.delete("a", &DeleteParams::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    // A watch counts once, when it opens; it is closed here, and its closing event must not count again.
    // (`watch` returns once the response has begun.)
    let watch = maps
        .watch(&WatchParams::default(), "0")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    drop(watch);
    // Someone else's requests in the same window.
    for _ in 0..2 {
        Api::<Namespace>::all(admin.clone())
            .get(&ns)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    // The last request, and the mark right after it: blocking audit mode has written its event by then.
    named
        .apiserver_version()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let after = log.mark().unwrap_or_else(|e| panic!("{e}"));

    let counts = log.count(before, after).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(counts.unreadable, 0);
    eprintln!("user agents in the window: {:#?}", counts.by_user_agent());
    let ours = counts.for_user_agent("ray-testenv-audit-test/");
    assert_eq!(ours.by_user_agent().keys().collect::<Vec<_>>(), [AGENT]);
    let expected: BTreeMap<String, u64> = [
        ("create configmaps", 2),
        ("get configmaps", 4),
        ("list configmaps", 1),
        ("patch configmaps", 1),
        ("update configmaps", 1),
        ("delete configmaps", 1),
        ("watch configmaps", 1),
        ("get namespaces/status", 1),
        ("get /version", 1),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    assert_eq!(ours.by_verb_resource(), expected);
    assert_eq!(ours.total(), 13);

    // The admin client's two gets are there too, under kube's default user agent.
    let others = counts
        .iter()
        .filter(|(k, _)| k.user_agent != AGENT && k.verb == "get" && k.resource == "namespaces");
    assert_eq!(others.map(|(_, v)| v).sum::<u64>(), 2);

    // The events carry who and what.
    let events = log.events(before, after).unwrap_or_else(|e| panic!("{e}"));
    let missing = events
        .iter()
        .find(|e| e.user_agent == AGENT && e.name.as_deref() == Some("missing"))
        .expect("the 404 is logged");
    assert_eq!(missing.code, Some(404));
    assert_eq!(missing.namespace.as_deref(), Some(ns.as_str()));
    assert_eq!(missing.api_group, "");
    assert!(missing.stage_timestamp.is_some());
    assert!(!missing.username.is_empty());

    let size = std::fs::metadata(log.path()).map_or(0, |m| m.len());
    let lines = log
        .for_each(ray_testenv::Mark::START, None, |_| {})
        .unwrap_or_else(|e| panic!("{e}"))
        .events;
    eprintln!(
        "audit log: {size} bytes, {lines} events, {} bytes per event",
        size / lines.max(1)
    );
}
