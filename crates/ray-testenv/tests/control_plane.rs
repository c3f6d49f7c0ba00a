//! The local control plane against the real binaries. These tests fail (they do not skip) when the binaries are
//! missing, with a message naming `cargo xtask testenv install`.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Container, Pod, PodSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::PostParams;
use kube::{Api, Client};
use ray_testenv::{
    ControlPlane, ControlPlaneOptions, Error, Layout, create_namespace, fail_pod, install_crds,
    is_running, wait_for_pod_running,
};

fn pod(name: &str) -> Pod {
    Pod {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            labels: Some(BTreeMap::from([("app".to_owned(), name.to_owned())])),
            ..ObjectMeta::default()
        },
        spec: Some(PodSpec {
            containers: vec![Container {
                name: "main".to_owned(),
                image: Some("rayproject/ray:2.60.0".to_owned()),
                ..Container::default()
            }],
            ..PodSpec::default()
        }),
        ..Pod::default()
    }
}

async fn shared_client() -> Client {
    let plane = ControlPlane::shared()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    plane.client().await.unwrap_or_else(|e| panic!("{e}"))
}

#[tokio::test]
async fn pod_is_scheduled_onto_a_kwok_node_and_runs_with_an_ip() {
    let plane = ControlPlane::shared()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let client = plane.client().await.unwrap_or_else(|e| panic!("{e}"));
    let ns = create_namespace(&client, "pod-runs")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    Api::<Pod>::namespaced(client.clone(), &ns)
        .create(&PostParams::default(), &pod("worker"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let running = wait_for_pod_running(&client, &ns, "worker", Duration::from_secs(60))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let node = running.spec.and_then(|s| s.node_name).unwrap_or_default();
    assert!(
        plane.node_names().contains(&node),
        "scheduled onto {node:?}, not one of {:?}",
        plane.node_names()
    );
    let ip = running.status.and_then(|s| s.pod_ip).unwrap_or_default();
    assert!(ip.parse::<std::net::Ipv4Addr>().is_ok(), "pod IP {ip:?}");
}

#[tokio::test]
async fn a_failed_pod_stays_failed() {
    let client = shared_client().await;
    let ns = create_namespace(&client, "pod-fails")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
    pods.create(&PostParams::default(), &pod("doomed"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    wait_for_pod_running(&client, &ns, "doomed", Duration::from_secs(60))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    fail_pod(&client, &ns, "doomed", 137, "OOMKilled")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    // Give kwok time to (wrongly) revive it, then check it did not.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let status = pods
        .get("doomed")
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .status
        .unwrap_or_default();
    assert_eq!(status.phase.as_deref(), Some("Failed"));
    let terminated = status
        .container_statuses
        .unwrap_or_default()
        .into_iter()
        .find_map(|c| c.state.and_then(|s| s.terminated))
        .unwrap_or_else(|| panic!("no terminated container state"));
    assert_eq!(terminated.exit_code, 137);
    assert_eq!(terminated.reason.as_deref(), Some("OOMKilled"));
}

#[tokio::test]
async fn namespaces_get_a_default_service_account_and_isolate_tests() {
    let client = shared_client().await;
    let a = create_namespace(&client, "iso")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let b = create_namespace(&client, "iso")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_ne!(a, b);
    assert!(a.starts_with("iso-"), "{a}");
}

#[tokio::test]
async fn crds_are_installed_and_established() {
    let client = shared_client().await;
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/crd");
    let names = install_crds(&client, &fixtures)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(names, vec!["widgets.testenv.example.com".to_owned()]);
    let ns = create_namespace(&client, "crd")
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    // A valid object is applied through discovery of the new kind.
    let fixtures_dir = fixtures.join("..");
    let applied = ray_testenv::apply_file(&client, &fixtures_dir.join("widget-good.yaml"), &ns)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(applied.len(), 1);
    assert_eq!(applied[0].to_string(), format!("Widget {ns}/sprocket"));

    // A plain create prunes a field outside the schema: the server stores what the schema allows.
    let resource = kube::discovery::ApiResource::from_gvk(&kube::core::GroupVersionKind::gvk(
        "testenv.example.com",
        "v1",
        "Widget",
    ));
    let widgets = Api::<kube::api::DynamicObject>::namespaced_with(client.clone(), &ns, &resource);
    let mut extra = kube::api::DynamicObject::new("gear", &resource);
    extra.data = serde_json::json!({"spec": {"size": 2, "unknownField": "dropped"}});
    widgets
        .create(&PostParams::default(), &extra)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let stored = widgets.get("gear").await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        stored.data.pointer("/spec/size"),
        Some(&serde_json::json!(2))
    );
    assert_eq!(
        stored.data.pointer("/spec/unknownField"),
        None,
        "not pruned"
    );

    // A value outside the schema is rejected, and the message names the field.
    let err = ray_testenv::apply_file(&client, &fixtures_dir.join("widget-bad.yaml"), &ns)
        .await
        .expect_err("size above the maximum must be rejected");
    let msg = err.to_string();
    assert!(msg.contains("spec.size"), "{msg}");

    // Server-side apply is strict about unknown fields (a typo in a manifest), again naming the field.
    let err = ray_testenv::apply_file(&client, &fixtures_dir.join("widget-typo.yaml"), &ns)
        .await
        .expect_err("an unknown field must be rejected by server-side apply");
    let msg = err.to_string();
    assert!(msg.contains(".spec.sise"), "{msg}");
}

#[tokio::test]
async fn install_crds_refuses_an_empty_directory() {
    let client = shared_client().await;
    let empty = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let err = install_crds(&client, empty.path())
        .await
        .expect_err("nothing to install");
    assert!(err.to_string().contains("cargo xtask crd"), "{err}");
}

/// A control plane of its own (not the shared one), stopped explicitly: every process must be gone afterwards,
/// and the run directory removed.
#[tokio::test]
async fn nothing_is_left_running_after_teardown() {
    let options = ControlPlaneOptions {
        nodes: 1,
        ..ControlPlaneOptions::new().unwrap_or_else(|e| panic!("{e}"))
    };
    let plane = ControlPlane::start(options)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let pids = plane.pids();
    let dir = plane.dir().to_owned();
    assert_eq!(pids.len(), 6, "five components and the watchdog: {pids:?}");
    assert!(pids.iter().all(|&p| is_running(p)));
    drop(plane);
    let alive: Vec<u32> = pids.into_iter().filter(|&p| is_running(p)).collect();
    assert!(alive.is_empty(), "still running after drop: {alive:?}");
    assert!(!dir.exists(), "{} still exists", dir.display());
}

#[tokio::test]
async fn missing_binaries_name_the_install_command() {
    let empty = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let options = ControlPlaneOptions {
        layout: Layout::at(empty.path()),
        ..ControlPlaneOptions::new().unwrap_or_else(|e| panic!("{e}"))
    };
    let err = ControlPlane::start(options)
        .await
        .expect_err("no binaries there");
    assert!(matches!(err, Error::MissingBinary { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("cargo xtask testenv install"), "{msg}");
    assert!(msg.contains(&empty.path().display().to_string()), "{msg}");
}

#[tokio::test]
async fn a_taken_apiserver_port_is_reported() {
    let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
    let port = held.local_addr().unwrap_or_else(|e| panic!("{e}")).port();
    let options = ControlPlaneOptions {
        apiserver_port: Some(port),
        ..ControlPlaneOptions::new().unwrap_or_else(|e| panic!("{e}"))
    };
    let err = ControlPlane::start(options)
        .await
        .expect_err("port is held");
    assert!(
        matches!(err, Error::PortTaken { port: p, .. } if p == port),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_state_dir_left_by_a_crashed_run_is_cleaned_and_a_live_one_refused() {
    let parent = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let state = parent.path().join("state");
    // What a crashed run leaves: an owner that no longer runs and an etcd data dir.
    std::fs::create_dir_all(state.join("etcd/member")).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(state.join("owner"), "4294967").unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(state.join("etcd/member/garbage"), "x").unwrap_or_else(|e| panic!("{e}"));
    let options = ControlPlaneOptions {
        nodes: 1,
        state_dir: Some(state.clone()),
        ..ControlPlaneOptions::new().unwrap_or_else(|e| panic!("{e}"))
    };
    let plane = ControlPlane::start(options.clone())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(!state.join("etcd/member/garbage").exists());

    // The same directory while its owner (this process, via the supervisor's owner file) is alive: refused, as a
    // second `cargo xtask up` would be. The owner file names our own pid, so pretend to be another process.
    std::fs::write(state.join("owner"), "1").unwrap_or_else(|e| panic!("{e}"));
    let err = ControlPlane::start(options).await.expect_err("dir in use");
    assert!(
        matches!(err, Error::StateDirInUse { pid: 1, .. }),
        "{err:?}"
    );
    drop(plane);
}
