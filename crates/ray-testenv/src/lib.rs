//! Dev-only: a real local Kubernetes control plane and a real Ray head, for integration tests, `cargo xtask up` and
//! benchmarks.
//!
//! The control plane is made of the real binaries (etcd, kube-apiserver, kube-controller-manager, kube-scheduler)
//! built from their Go modules, plus kwok, which simulates kubelets: pods get scheduled onto fake nodes, get an IP
//! and go Running without any container runtime. Tests therefore see the real API server's admission, validation,
//! pruning, conflicts, watches and garbage collection, on a machine with no cluster and no Docker.
//!
//! Build the binaries and the Ray venv once with `cargo xtask testenv install`; see `docs/testenv.md`.
//!
//! # Nothing outlives its owner
//!
//! Each environment owns a run directory and starts every child in a process group of its own. Dropping a
//! [`ControlPlane`] or [`RayHead`] (also while a test panics) stops the groups and kills any process that still
//! names the run directory on its command line. A watchdog `sh` process holds the read end of a pipe only the owner
//! writes to: when the owner dies in any way (even SIGKILL, or a test binary exiting with a [`ControlPlane::shared`]
//! instance in a static, which is never dropped), the pipe closes and the watchdog kills what is left and removes
//! the directory. And each start removes run directories whose owner process is gone. No `unsafe` is needed (no
//! `prctl` parent-death signal, which would also fire when the spawning *thread* ends).
//!
//! ```no_run
//! # async fn example() -> ray_testenv::Result<()> {
//! let plane = ray_testenv::ControlPlane::shared().await?;
//! let client = plane.client().await?;
//! let namespace = ray_testenv::create_namespace(&client, "my-test").await?;
//! # let _ = namespace; Ok(()) }
//! ```

pub mod audit;
mod control_plane;
mod error;
pub mod fault_proxy;
mod kuberay;
mod kueue;
mod layout;
mod manifests;
mod namespace;
mod nodes;
mod pki;
mod pods;
mod ports;
mod process;
mod ray_head;
mod wait;

pub use audit::{AuditLog, Mark, RequestCounts};
pub use control_plane::{ControlPlane, ControlPlaneOptions};
pub use error::{Error, INSTALL_COMMAND, Result};
pub use fault_proxy::{Fault, FaultProxy, ProxiedRequest};
pub use kuberay::{
    KUBERAY_MODULE, KUBERAY_SEED_VERSION, KUBERAY_VERSION, KUBERAY_VERSIONS, KubeRayOperator,
    KubeRayOptions,
};
pub use kueue::{Kueue, KueueOptions};
pub use layout::{
    Binary, CACHE_ENV, ETCD_VERSION, HELM_VERSION, KUBERNETES_VERSION, KUEUE_MODULE, KUEUE_VERSION,
    KWOK_VERSION, Layout, RAY_VERSION,
};
pub use manifests::{
    Applied, FIELD_MANAGER, apply_file, install_crds, project_crd_dir, project_namespace,
    read_documents, yaml_files,
};
pub use namespace::{TEST_NAMESPACE_LABEL, create_namespace};
pub use nodes::{KWOK_ANNOTATION, KWOK_ANNOTATION_VALUE, create_fake_node, is_ready, remove_node};
pub use pods::{fail_pod, wait_for_pod_running};
pub use ports::{ensure_free, free_ports};
pub use process::{is_running, wait_gone};
pub use ray_head::{RayHead, RayHeadOptions, RayProcess, serve_demo_dir};
pub use wait::until;
