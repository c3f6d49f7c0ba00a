//! kwok's fake nodes: created by us, kept alive (status, lease) by kwok, so pods get scheduled onto them and kwok
//! plays their lifecycle. Tests remove or add nodes to simulate a node going away.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Node, NodeStatus};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{DeleteParams, PostParams};
use kube::{Api, Client};

use crate::error::{Error, Result};

/// The annotation kwok is told to manage nodes by (`--manage-nodes-with-annotation-selector`).
pub const KWOK_ANNOTATION: &str = "kwok.x-k8s.io/node";
/// Its value.
pub const KWOK_ANNOTATION_VALUE: &str = "fake";

/// Creates a node that kwok manages: 32 CPUs, 128 GiB, 110 pods, Linux/amd64 labels like a real node's. kwok's
/// `node-initialize` stage fills in conditions, addresses and node info and keeps the given capacity.
pub async fn create_fake_node(client: &Client, name: &str) -> Result<Node> {
    let quantities: BTreeMap<String, Quantity> =
        [("cpu", "32"), ("memory", "128Gi"), ("pods", "110")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), Quantity(v.to_owned())))
            .collect();
    let node = Node {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            annotations: Some(BTreeMap::from([(
                KWOK_ANNOTATION.to_owned(),
                KWOK_ANNOTATION_VALUE.to_owned(),
            )])),
            labels: Some(BTreeMap::from([
                ("kubernetes.io/hostname".to_owned(), name.to_owned()),
                ("kubernetes.io/os".to_owned(), "linux".to_owned()),
                ("kubernetes.io/arch".to_owned(), "amd64".to_owned()),
                ("type".to_owned(), "kwok".to_owned()),
            ])),
            ..ObjectMeta::default()
        },
        status: Some(NodeStatus {
            allocatable: Some(quantities.clone()),
            capacity: Some(quantities),
            ..NodeStatus::default()
        }),
        ..Node::default()
    };
    Api::<Node>::all(client.clone())
        .create(&PostParams::default(), &node)
        .await
        .map_err(Error::kube(format!("creating kwok node {name}")))
}

/// Deletes a node, as when a machine disappears. Its pods are then removed by the controller-manager's pod
/// garbage collector (after its usual delay of tens of seconds), as in a real cluster.
pub async fn remove_node(client: &Client, name: &str) -> Result<()> {
    Api::<Node>::all(client.clone())
        .delete(name, &DeleteParams::default())
        .await
        .map(drop)
        .map_err(Error::kube(format!("deleting node {name}")))
}

/// Whether the node's `Ready` condition is `True`.
pub async fn is_ready(client: &Client, name: &str) -> Result<bool> {
    let node = Api::<Node>::all(client.clone())
        .get_opt(name)
        .await
        .map_err(Error::kube(format!("reading node {name}")))?;
    Ok(node
        .and_then(|n| n.status)
        .and_then(|s| s.conditions)
        .is_some_and(|conditions| {
            conditions
                .iter()
                .any(|c| c.type_ == "Ready" && c.status == "True")
        }))
}
