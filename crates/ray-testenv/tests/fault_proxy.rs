//! The fault-injecting proxy in front of a real API server and a plain-HTTP server, and control plane components
//! stopped and started again. These tests fail (they do not skip) when the binaries are missing, with a message
//! naming `cargo xtask testenv install`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use futures::{Stream, StreamExt};
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{ListParams, PostParams, WatchEvent, WatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client};
use ray_testenv::{ControlPlane, ControlPlaneOptions, Fault, FaultProxy, create_namespace};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn config_map(name: &str) -> ConfigMap {
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            ..ObjectMeta::default()
        },
        data: Some(BTreeMap::from([("key".to_owned(), name.to_owned())])),
        ..ConfigMap::default()
    }
}

/// A client that goes through the proxy, from the kubeconfig the proxy writes. kube's default retry of 429, 503
/// and 504 is off, so injected statuses reach the test.
async fn proxied_client(proxy: &FaultProxy) -> Client {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = dir.path().join("kubeconfig");
    proxy
        .write_kubeconfig(&path)
        .unwrap_or_else(|e| panic!("{e}"));
    let kubeconfig = Kubeconfig::read_from(&path).unwrap_or_else(|e| panic!("{e}"));
    let mut config =
        kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    config.default_retry = false;
    Client::try_from(config).unwrap_or_else(|e| panic!("{e}"))
}

/// The shared control plane, a namespace in it, an admin client, and a proxy with a client through it.
async fn setup(prefix: &str) -> (Client, String, FaultProxy, Client) {
    let plane = ControlPlane::shared()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let admin = plane.client().await.unwrap_or_else(|e| panic!("{e}"));
    let ns = create_namespace(&admin, prefix)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let proxy = FaultProxy::for_api_server(plane)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let client = proxied_client(&proxy).await;
    (admin, ns, proxy, client)
}

/// The next event the watch delivers that is not a bookmark, within 20 s.
async fn next_event<S>(stream: &mut S) -> Option<kube::Result<WatchEvent<ConfigMap>>>
where
    S: Stream<Item = kube::Result<WatchEvent<ConfigMap>>> + Unpin,
{
    tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            match stream.next().await {
                Some(Ok(WatchEvent::Bookmark(_))) => continue,
                other => return other,
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no watch event within 20 s"))
}

fn added_name(event: Option<kube::Result<WatchEvent<ConfigMap>>>) -> String {
    match event {
        Some(Ok(WatchEvent::Added(cm))) => cm.metadata.name.unwrap_or_default(),
        other => panic!("expected an Added event, got {other:?}"),
    }
}

#[tokio::test]
async fn lists_and_watches_pass_through_and_stream() {
    let (admin, ns, proxy, client) = setup("proxy-pass").await;
    let direct: Api<ConfigMap> = Api::namespaced(admin, &ns);
    let proxied: Api<ConfigMap> = Api::namespaced(client, &ns);
    direct
        .create(&PostParams::default(), &config_map("first"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    let list = proxied
        .list(&ListParams::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let names: Vec<_> = list
        .iter()
        .filter_map(|c| c.metadata.name.clone())
        .collect();
    assert!(names.contains(&"first".to_owned()), "{names:?}");

    let version = list.metadata.resource_version.unwrap_or_default();
    let mut watch = proxied
        .watch(&WatchParams::default(), &version)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .boxed();
    // Created after the watch's response head went out: only a streaming proxy delivers it.
    direct
        .create(&PostParams::default(), &config_map("second"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(added_name(next_event(&mut watch).await), "second");

    // A write through the proxy (a request body) works too.
    proxied
        .create(&PostParams::default(), &config_map("third"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(added_name(next_event(&mut watch).await), "third");

    let requests = proxy.requests();
    let list_record = requests
        .iter()
        .find(|r| r.method == "GET" && !r.watch && r.path.contains("/configmaps"))
        .unwrap_or_else(|| panic!("no list recorded: {requests:?}"));
    assert_eq!((list_record.status, list_record.fault), (200, false));
    assert!(
        requests
            .iter()
            .any(|r| r.watch && r.status == 200 && r.path.contains("watch=true")),
        "{requests:?}"
    );
    assert!(
        requests
            .iter()
            .any(|r| r.method == "POST" && r.status == 201),
        "{requests:?}"
    );
}

#[tokio::test]
async fn an_injected_status_fails_requests_until_cleared() {
    let (_admin, ns, proxy, client) = setup("proxy-status").await;
    let proxied: Api<ConfigMap> = Api::namespaced(client, &ns);
    proxy.set(Fault::Status {
        code: 429,
        retry_after_seconds: Some(1),
    });
    match proxied.list(&ListParams::default()).await {
        Err(kube::Error::Api(status)) => {
            assert_eq!(status.code, 429);
            assert_eq!(status.reason, "TooManyRequests");
            assert_eq!(status.message, "injected by the fault proxy");
        }
        other => panic!("expected a 429, got {other:?}"),
    }
    let last = proxy
        .requests()
        .pop()
        .unwrap_or_else(|| panic!("no record"));
    assert_eq!((last.status, last.fault), (429, true));

    proxy.set(Fault::Status {
        code: 500,
        retry_after_seconds: None,
    });
    match proxied.get("anything").await {
        Err(kube::Error::Api(status)) => assert_eq!(
            (status.code, status.reason.as_str()),
            (500, "InternalError")
        ),
        other => panic!("expected a 500, got {other:?}"),
    }

    proxy.set(Fault::None);
    proxied
        .list(&ListParams::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let last = proxy
        .requests()
        .pop()
        .unwrap_or_else(|| panic!("no record"));
    assert_eq!((last.status, last.fault), (200, false));
}

#[tokio::test]
async fn a_delay_delays_every_request() {
    let (_admin, ns, proxy, client) = setup("proxy-delay").await;
    let proxied: Api<ConfigMap> = Api::namespaced(client, &ns);
    // Warm the connection, so the timing below is the delay and not a TLS handshake.
    proxied
        .list(&ListParams::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    proxy.set(Fault::Delay(Duration::from_millis(1500)));
    let start = Instant::now();
    proxied
        .list(&ListParams::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let delayed = start.elapsed();
    assert!(delayed >= Duration::from_millis(1500), "{delayed:?}");
    proxy.set(Fault::None);
    let start = Instant::now();
    proxied
        .list(&ListParams::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(start.elapsed() < delayed, "{:?}", start.elapsed());
}

#[tokio::test]
async fn cut_streams_breaks_open_watches_and_new_ones_work() {
    let (admin, ns, proxy, client) = setup("proxy-cut").await;
    let direct: Api<ConfigMap> = Api::namespaced(admin, &ns);
    let proxied: Api<ConfigMap> = Api::namespaced(client, &ns);
    let version = proxied
        .list(&ListParams::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .metadata
        .resource_version
        .unwrap_or_default();
    let mut watch = proxied
        .watch(&WatchParams::default().timeout(290), &version)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .boxed();
    // The same watch from a plain HTTP client, to see how the stream ends.
    let raw_url = format!(
        "{}/api/v1/namespaces/{ns}/configmaps?watch=true&resourceVersion={version}",
        proxy.url()
    );
    let mut raw = reqwest::get(&raw_url)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(raw.status(), 200);
    proxy.cut_streams();
    // kube ends its raw stream on an unexpected end of a chunked body (it treats it as resumable); no event
    // arrives before that.
    match next_event(&mut watch).await {
        Some(Err(_)) | None => {}
        Some(Ok(event)) => panic!("the cut watch delivered {event:?}"),
    }
    // The break is abrupt, not a clean end of the body.
    let end = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            match raw.chunk().await {
                Ok(Some(_)) => continue,
                other => return other,
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("the raw watch was not cut within 20 s"));
    assert!(end.is_err(), "the raw watch ended cleanly: {end:?}");

    let mut watch = proxied
        .watch(&WatchParams::default().timeout(290), &version)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .boxed();
    direct
        .create(&PostParams::default(), &config_map("after-cut"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(added_name(next_event(&mut watch).await), "after-cut");
}

#[tokio::test]
async fn gone_expires_watches_and_continue_tokens() {
    let (_admin, ns, proxy, client) = setup("proxy-gone").await;
    let proxied: Api<ConfigMap> = Api::namespaced(client, &ns);
    proxy.set(Fault::Gone);
    let mut watch = proxied
        .watch(&WatchParams::default(), "1")
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .boxed();
    match next_event(&mut watch).await {
        Some(Ok(WatchEvent::Error(status))) => {
            assert_eq!(status.code, 410);
            assert_eq!(status.reason, "Expired");
            assert!(
                status.message.starts_with("too old resource version"),
                "{}",
                status.message
            );
        }
        other => panic!("expected a 410 ERROR event, got {other:?}"),
    }
    assert!(
        next_event(&mut watch).await.is_none(),
        "the stream ends after the error"
    );

    match proxied
        .list(&ListParams::default().limit(1).continue_token("stale"))
        .await
    {
        Err(kube::Error::Api(status)) => {
            assert_eq!((status.code, status.reason.as_str()), (410, "Expired"));
        }
        other => panic!("expected a 410, got {other:?}"),
    }
    // Other requests pass.
    proxied
        .list(&ListParams::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let faults: Vec<_> = proxy
        .requests()
        .into_iter()
        .map(|r| (r.watch, r.status, r.fault))
        .collect();
    assert_eq!(
        faults,
        [(true, 200, true), (false, 410, true), (false, 200, false)]
    );
}

/// A tiny HTTP server that answers every request with a small JSON object and closes the connection.
async fn json_server() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buf = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let body = r#"{"ok":true}"#;
                let response = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(response.as_bytes()).await;
            });
        }
    });
    format!("http://{addr}")
}

#[tokio::test]
async fn faults_in_front_of_a_plain_http_server() {
    let upstream = json_server().await;
    let proxy = FaultProxy::for_http(&upstream)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(1))
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let url = format!("{}/api/version", proxy.url());
    let get = || http.get(&url).send();

    // Twice: the second request needs a new upstream connection, the server closed the first.
    for _ in 0..2 {
        let body: serde_json::Value = get()
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .json()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(body, serde_json::json!({"ok": true}));
    }

    proxy.set(Fault::Garbage);
    let response = get().await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(response.status(), 200);
    assert_eq!(
        response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/json")
    );
    let text = response.text().await.unwrap_or_else(|e| panic!("{e}"));
    assert!(
        serde_json::from_str::<serde_json::Value>(&text).is_err(),
        "{text}"
    );

    proxy.set(Fault::Hang);
    let err = get().await.expect_err("a hanging request must time out");
    assert!(err.is_timeout(), "{err:?}");

    // A keep-alive connection from before is closed at the next request...
    let keep_alive = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    proxy.set(Fault::None);
    keep_alive
        .get(&url)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    proxy.set(Fault::Refuse);
    let err = keep_alive
        .get(&url)
        .send()
        .await
        .expect_err("a request on a refused keep-alive connection must fail");
    assert!(!err.is_timeout(), "{err:?}");
    // ... and a new connection is closed at once.
    let fresh = reqwest::Client::new();
    let err = fresh
        .get(&url)
        .send()
        .await
        .expect_err("a refused connection must fail");
    assert!(!err.is_timeout(), "{err:?}");

    proxy.set(Fault::Status {
        code: 503,
        retry_after_seconds: None,
    });
    let response = get().await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(response.status(), 503);

    proxy.set(Fault::None);
    assert_eq!(get().await.unwrap_or_else(|e| panic!("{e}")).status(), 200);
    let statuses: Vec<_> = proxy
        .requests()
        .into_iter()
        .map(|r| (r.status, r.fault))
        .collect();
    assert_eq!(
        statuses,
        [
            (200, false),
            (200, false),
            (200, true),
            (0, true),
            (200, false),
            (0, true),
            (503, true),
            (200, false)
        ]
    );
}

/// etcd and kube-apiserver stopped and started again: the data written before survives and the API answers again.
/// Through a proxy, the outage is a 502 from the proxy.
#[tokio::test]
async fn stopped_components_come_back_with_their_data() {
    let options = ControlPlaneOptions {
        nodes: 1,
        ..ControlPlaneOptions::new().unwrap_or_else(|e| panic!("{e}"))
    };
    let mut plane = ControlPlane::start(options)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let client = plane.client().await.unwrap_or_else(|e| panic!("{e}"));
    let maps: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    maps.create(&PostParams::default(), &config_map("survivor"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let proxy = FaultProxy::for_api_server(&plane)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let proxied: Api<ConfigMap> = Api::namespaced(proxied_client(&proxy).await, "default");

    assert!(plane.stop_component("kubelet").is_err());
    let before = plane.pids();
    plane
        .stop_component("kube-apiserver")
        .unwrap_or_else(|e| panic!("{e}"));
    plane
        .stop_component("etcd")
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(!plane.component_running("kube-apiserver"));
    let after = plane.pids();
    assert_eq!(after.len(), before.len() - 2, "{before:?} -> {after:?}");
    assert!(plane.check_running().is_err());
    assert!(
        maps.get("survivor").await.is_err(),
        "the API answered while stopped"
    );
    match proxied.get("survivor").await {
        Err(kube::Error::Api(status)) => assert_eq!(status.code, 502),
        other => panic!("expected a 502 from the proxy, got {other:?}"),
    }

    plane
        .start_component("etcd")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    plane
        .start_component("kube-apiserver")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(plane.pids().len(), before.len());
    let survivor = maps.get("survivor").await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        survivor.data.and_then(|d| d.get("key").cloned()).as_deref(),
        Some("survivor")
    );
    maps.create(&PostParams::default(), &config_map("newcomer"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    proxied
        .get("newcomer")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        plane.start_component("etcd").await.is_err(),
        "started a running component"
    );
    // kube-controller-manager and kube-scheduler exit when the outage outlasts their lease renewal (10 s); they
    // are started again like the others.
    assert!(plane.component_running("etcd"));
    assert!(!plane.component_running("kubelet"));
    for name in ["kube-controller-manager", "kube-scheduler", "kwok"] {
        if !plane.component_running(name) {
            eprintln!("{name} exited during the outage; starting it again");
            plane
                .start_component(name)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
        }
    }
    plane.check_running().unwrap_or_else(|e| panic!("{e}"));
}
