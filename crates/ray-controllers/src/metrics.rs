//! KubeRay's `kuberay_*` series, with KubeRay's names and labels, so existing dashboards keep working. The `*_info`
//! and condition series are computed at scrape time from the controllers' caches, the way KubeRay does; the duration
//! gauges are recorded when a RayCluster becomes provisioned or a RayJob finishes, and disappear with their object.
//!
//! [`KubeRayMetrics`] is a scrape-time collector added to the operator's registry
//! ([`operator_runtime::metrics::Metrics::with_collector`]); the operator's own series (API requests, reconciles,
//! leadership) live in `operator-runtime`. Each controller registers its cache with one `watch_*` call (dropped when
//! the controller stops). The RayService controller registers with [`KubeRayMetrics::watch_rayservices`], giving a
//! function that reads the `Ready` and `UpgradeInProgress` conditions from its own type.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::ResourceExt;
use kube::core::DeserializeGuard;
use kube::runtime::reflector::Store;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::gauge::ConstGauge;
use ray_api_v1::RayCluster;
use ray_api_v1::rayjob::{JobDeploymentStatus, RayJob};

/// The `controller` label of the RayCluster controller's reconcile series.
pub const RAYCLUSTER: &str = "raycluster";
/// The `controller` label of the RayJob controller's reconcile series.
pub const RAYJOB: &str = "rayjob";
/// The `controller` label of the RayService controller's reconcile series.
pub const RAYSERVICE: &str = "rayservice";
/// The `controller` label of the RayCronJob controller's reconcile series.
pub const RAYCRONJOB: &str = "raycronjob";

/// What the RayService controller reports about one RayService for KubeRay's `kuberay_service_*` series.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceConditions {
    /// Whether the `Ready` condition is `True`.
    pub ready: bool,
    /// Whether the `UpgradeInProgress` condition is `True`.
    pub upgrade_in_progress: bool,
}

/// Keeps a controller's cache registered for the scrape-time series; dropping it (when the controller stops)
/// removes the cache, so a standby or a stopped controller reports no objects.
#[must_use = "the cache is unregistered when this is dropped"]
pub struct CacheRegistration {
    inventory: Arc<Inventory>,
    id: u64,
}

impl Drop for CacheRegistration {
    fn drop(&mut self) {
        lock(&self.inventory.sources).retain(|(id, _)| *id != self.id);
    }
}

/// One object's identity in the `kuberay_*` series.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct Identity {
    name: String,
    namespace: String,
    uid: String,
}

impl Identity {
    fn of<K: ResourceExt>(object: &K) -> Self {
        Identity {
            name: object.name_any(),
            namespace: object.namespace().unwrap_or_default(),
            uid: object.uid().unwrap_or_default(),
        }
    }

    fn labels(&self) -> Vec<(&'static str, String)> {
        vec![
            ("name", self.name.clone()),
            ("namespace", self.namespace.clone()),
            ("uid", self.uid.clone()),
        ]
    }
}

/// One series of a scrape-time family: labels and value.
type Series = (Vec<(&'static str, String)>, f64);

/// What the registered caches hold at scrape time.
#[derive(Default)]
struct Snapshot {
    cluster_info: Vec<Series>,
    cluster_provisioned: Vec<Series>,
    job_info: Vec<Series>,
    job_status: Vec<Series>,
    service_info: Vec<Series>,
    service_ready: Vec<Series>,
    service_upgrading: Vec<Series>,
    /// Every object uid present in some cache: duration gauges of other uids are dropped.
    live_uids: std::collections::HashSet<String>,
}

type Source = Box<dyn Fn(&mut Snapshot) + Send + Sync>;

/// The caches and recorded durations behind the `kuberay_*` series.
#[derive(Default)]
struct Inventory {
    next_id: AtomicU64,
    sources: Mutex<Vec<(u64, Source)>>,
    /// `kuberay_cluster_provisioned_duration_seconds` by uid.
    provisioned: Mutex<HashMap<String, (Identity, f64)>>,
    /// `kuberay_job_execution_duration_seconds` by uid: identity, deployment status, retry count, seconds.
    executions: Mutex<HashMap<String, (Identity, String, String, f64)>>,
}

impl std::fmt::Debug for Inventory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inventory").finish_non_exhaustive()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding one of these locks cannot leave the data half-written in a way that matters for
    // metrics, so keep serving rather than poisoning every scrape.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn encode_gauges(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    series: &[Series],
) -> Result<(), std::fmt::Error> {
    if series.is_empty() {
        return Ok(());
    }
    let mut metric = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
    for (labels, value) in series {
        let family = metric.encode_family(labels)?;
        ConstGauge::new(*value).encode(family)?;
    }
    Ok(())
}

impl Collector for Inventory {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let mut snapshot = Snapshot::default();
        for (_, source) in lock(&self.sources).iter() {
            source(&mut snapshot);
        }
        // Durations of objects no cache holds any more are forgotten (KubeRay deletes them with the object).
        // Without any cache (a standby), nothing is known, so nothing is shown either.
        let mut provisioned = Vec::new();
        {
            let mut map = lock(&self.provisioned);
            map.retain(|uid, _| snapshot.live_uids.contains(uid));
            for (identity, seconds) in map.values() {
                provisioned.push((identity.labels(), *seconds));
            }
        }
        let mut executions = Vec::new();
        {
            let mut map = lock(&self.executions);
            map.retain(|uid, _| snapshot.live_uids.contains(uid));
            for (identity, status, retries, seconds) in map.values() {
                let mut labels = identity.labels();
                labels.push(("job_deployment_status", status.clone()));
                labels.push(("retry_count", retries.clone()));
                executions.push((labels, *seconds));
            }
        }
        for list in [
            &mut snapshot.cluster_info,
            &mut snapshot.cluster_provisioned,
            &mut snapshot.job_info,
            &mut snapshot.job_status,
            &mut snapshot.service_info,
            &mut snapshot.service_ready,
            &mut snapshot.service_upgrading,
            &mut provisioned,
            &mut executions,
        ] {
            list.sort_by(|a, b| a.0.cmp(&b.0));
        }
        encode_gauges(
            &mut encoder,
            "kuberay_cluster_info",
            "Metadata of each RayCluster (value 1); owner_kind is the ray.io/originated-from-crd label or None.",
            &snapshot.cluster_info,
        )?;
        encode_gauges(
            &mut encoder,
            "kuberay_cluster_condition_provisioned",
            "Whether each RayCluster's RayClusterProvisioned condition is True (the condition label; value 1).",
            &snapshot.cluster_provisioned,
        )?;
        encode_gauges(
            &mut encoder,
            "kuberay_cluster_provisioned_duration_seconds",
            "Seconds from a RayCluster's creation until all its pods were first running and ready.",
            &provisioned,
        )?;
        encode_gauges(
            &mut encoder,
            "kuberay_job_info",
            "Metadata of each RayJob (value 1).",
            &snapshot.job_info,
        )?;
        encode_gauges(
            &mut encoder,
            "kuberay_job_deployment_status",
            "Each RayJob's status.jobDeploymentStatus (the deployment_status label; value 1).",
            &snapshot.job_status,
        )?;
        encode_gauges(
            &mut encoder,
            "kuberay_job_execution_duration_seconds",
            "Seconds from a RayJob's start until it reached the job_deployment_status label (Complete or Failed).",
            &executions,
        )?;
        encode_gauges(
            &mut encoder,
            "kuberay_service_info",
            "Metadata of each RayService (value 1).",
            &snapshot.service_info,
        )?;
        encode_gauges(
            &mut encoder,
            "kuberay_service_condition_ready",
            "Whether each RayService's Ready condition is True (the condition label; value 1).",
            &snapshot.service_ready,
        )?;
        encode_gauges(
            &mut encoder,
            "kuberay_service_condition_upgrade_in_progress",
            "Whether each RayService's UpgradeInProgress condition is True (the condition label; value 1).",
            &snapshot.service_upgrading,
        )?;
        Ok(())
    }
}

/// The `kuberay_*` series: the registered caches and the recorded durations. Cheap to share
/// (`Arc<KubeRayMetrics>`); [`KubeRayMetrics::collector`] adds it to the operator's registry.
#[derive(Debug, Default)]
pub struct KubeRayMetrics {
    inventory: Arc<Inventory>,
}

impl KubeRayMetrics {
    /// The collector that writes these series at every scrape.
    pub fn collector(&self) -> Box<dyn Collector> {
        Box::new(self.inventory.clone())
    }

    fn register(&self, source: Source) -> CacheRegistration {
        let id = self.inventory.next_id.fetch_add(1, Ordering::Relaxed);
        lock(&self.inventory.sources).push((id, source));
        CacheRegistration {
            inventory: self.inventory.clone(),
            id,
        }
    }

    /// Reports the RayClusters in `store` as `kuberay_cluster_info` and `kuberay_cluster_condition_provisioned`
    /// at every scrape, until the registration is dropped.
    pub fn watch_rayclusters(
        &self,
        store: Store<DeserializeGuard<RayCluster>>,
    ) -> CacheRegistration {
        self.register(Box::new(move |snapshot: &mut Snapshot| {
            for object in store.state() {
                let identity = Identity::of(object.as_ref());
                snapshot.live_uids.insert(identity.uid.clone());
                let owner = object
                    .labels()
                    .get(ray_builders::labels::ORIGINATED_FROM_CRD)
                    .cloned()
                    .unwrap_or_else(|| "None".to_string());
                let mut info = identity.labels();
                info.push(("owner_kind", owner));
                snapshot.cluster_info.push((info, 1.0));
                if let Ok(cluster) = &object.0 {
                    let provisioned = cluster.status.as_ref().is_some_and(|s| {
                        condition_true(&s.conditions, crate::raycluster::status::PROVISIONED)
                    });
                    let mut labels = identity.labels();
                    labels.push(("condition", provisioned.to_string()));
                    snapshot.cluster_provisioned.push((labels, 1.0));
                }
            }
        }))
    }

    /// Reports the RayJobs in `store` as `kuberay_job_info` and `kuberay_job_deployment_status` at every scrape,
    /// until the registration is dropped.
    pub fn watch_rayjobs(&self, store: Store<DeserializeGuard<RayJob>>) -> CacheRegistration {
        self.register(Box::new(move |snapshot: &mut Snapshot| {
            for object in store.state() {
                let identity = Identity::of(object.as_ref());
                snapshot.live_uids.insert(identity.uid.clone());
                snapshot.job_info.push((identity.labels(), 1.0));
                if let Ok(job) = &object.0 {
                    let status = job
                        .status
                        .as_ref()
                        .and_then(|s| s.job_deployment_status)
                        .unwrap_or(JobDeploymentStatus::New);
                    let mut labels = identity.labels();
                    labels.push(("deployment_status", deployment_status(status)));
                    snapshot.job_status.push((labels, 1.0));
                }
            }
        }))
    }

    /// Reports the RayServices in `store` as `kuberay_service_info`, `kuberay_service_condition_ready` and
    /// `kuberay_service_condition_upgrade_in_progress` at every scrape, until the registration is dropped.
    /// `conditions` reads the two conditions from the controller's object type; `None` (an object the controller
    /// cannot read) reports only the info series.
    pub fn watch_rayservices<K>(
        &self,
        store: Store<K>,
        conditions: fn(&K) -> Option<ServiceConditions>,
    ) -> CacheRegistration
    where
        K: kube::Resource + Clone + Send + Sync + 'static,
        K::DynamicType: std::hash::Hash + Eq + Clone + Send + Sync,
    {
        self.register(Box::new(move |snapshot: &mut Snapshot| {
            for object in store.state() {
                let identity = Identity::of(object.as_ref());
                snapshot.live_uids.insert(identity.uid.clone());
                snapshot.service_info.push((identity.labels(), 1.0));
                if let Some(found) = conditions(object.as_ref()) {
                    let mut ready = identity.labels();
                    ready.push(("condition", found.ready.to_string()));
                    snapshot.service_ready.push((ready, 1.0));
                    let mut upgrading = identity.labels();
                    upgrading.push(("condition", found.upgrade_in_progress.to_string()));
                    snapshot.service_upgrading.push((upgrading, 1.0));
                }
            }
        }))
    }

    /// Records `kuberay_cluster_provisioned_duration_seconds` for a RayCluster whose `RayClusterProvisioned`
    /// condition just became `True` at `now`: the seconds since its creation.
    pub fn record_cluster_provisioned(&self, cluster: &RayCluster, now: &Time) {
        let Some(created) = cluster.metadata.creation_timestamp.as_ref() else {
            return;
        };
        let identity = Identity::of(cluster);
        lock(&self.inventory.provisioned).insert(
            identity.uid.clone(),
            (identity, seconds_between(created, now)),
        );
    }

    /// Records `kuberay_job_execution_duration_seconds` for a RayJob whose deployment status just changed from a
    /// non-terminal one to `status` at `now`: the seconds since `start` (its `status.startTime`). `retry_count`
    /// is how many times the RayJob had failed before.
    pub fn record_job_finished(
        &self,
        job: &RayJob,
        start: &Time,
        status: JobDeploymentStatus,
        retry_count: u32,
        now: &Time,
    ) {
        let identity = Identity::of(job);
        lock(&self.inventory.executions).insert(
            identity.uid.clone(),
            (
                identity,
                deployment_status(status),
                retry_count.to_string(),
                seconds_between(start, now),
            ),
        );
    }
}

/// The wire value of a deployment status (`""` for New, as KubeRay writes it).
fn deployment_status(status: JobDeploymentStatus) -> String {
    match serde_json::to_value(status) {
        Ok(serde_json::Value::String(s)) => s,
        _ => format!("{status:?}"),
    }
}

fn seconds_between(from: &Time, to: &Time) -> f64 {
    let millis = to.0.as_millisecond() - from.0.as_millisecond();
    // Clocks may disagree a little; a negative duration means "immediately".
    (millis.max(0) as f64) / 1000.0
}

fn condition_true(
    conditions: &[k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition],
    type_: &str,
) -> bool {
    conditions
        .iter()
        .any(|c| c.type_ == type_ && c.status == "True")
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::runtime::reflector;
    use kube::runtime::watcher::Event;
    use serde_json::json;

    fn cluster(name: &str, uid: &str, provisioned: bool) -> RayCluster {
        serde_json::from_value(json!({
            "apiVersion": "ray.io/v1", "kind": "RayCluster",
            "metadata": {"name": name, "namespace": "ns", "uid": uid,
                "creationTimestamp": "2026-01-01T00:00:00Z",
                "labels": if provisioned { json!({}) } else { json!({"ray.io/originated-from-crd": "RayJob"}) }},
            "spec": {"headGroupSpec": {"rayStartParams": {}, "template": {"spec": {"containers": [
                {"name": "ray-head", "image": "rayproject/ray:2.60.0"}]}}}},
            "status": {"conditions": [{"type": "RayClusterProvisioned",
                "status": if provisioned { "True" } else { "False" },
                "reason": "x", "message": "", "lastTransitionTime": "2026-01-01T00:00:00Z"}]}
        }))
        .unwrap_or_else(|e| panic!("{e}"))
    }

    fn time(s: &str) -> Time {
        Time(s.parse().unwrap_or_else(|e| panic!("{e}")))
    }

    /// The text a scrape of these series returns.
    fn scrape(metrics: &KubeRayMetrics) -> String {
        operator_runtime::metrics::Metrics::with_collector(metrics.collector()).encode()
    }

    #[test]
    fn cluster_series_come_from_the_cache_and_vanish_with_it() {
        let metrics = KubeRayMetrics::default();
        let (store, mut writer) = reflector::store::<DeserializeGuard<RayCluster>>();
        writer.apply_watcher_event(&Event::Apply(DeserializeGuard(Ok(cluster(
            "a", "uid-a", true,
        )))));
        writer.apply_watcher_event(&Event::Apply(DeserializeGuard(Ok(cluster(
            "b", "uid-b", false,
        )))));
        let registration = metrics.watch_rayclusters(store);
        metrics.record_cluster_provisioned(
            &cluster("a", "uid-a", true),
            &time("2026-01-01T00:01:30Z"),
        );
        let text = scrape(&metrics);
        assert!(
            text.contains(
                r#"kuberay_cluster_info{name="a",namespace="ns",uid="uid-a",owner_kind="None"} 1"#
            ),
            "{text}"
        );
        assert!(text.contains(
            r#"kuberay_cluster_info{name="b",namespace="ns",uid="uid-b",owner_kind="RayJob"} 1"#
        ));
        assert!(text.contains(
            r#"kuberay_cluster_condition_provisioned{name="a",namespace="ns",uid="uid-a",condition="true"} 1"#
        ));
        assert!(text.contains(
            r#"kuberay_cluster_condition_provisioned{name="b",namespace="ns",uid="uid-b",condition="false"} 1"#
        ));
        assert!(text.contains(
            r#"kuberay_cluster_provisioned_duration_seconds{name="a",namespace="ns",uid="uid-a"} 90"#
        ));
        // Deleted from the cache: its duration goes too.
        writer.apply_watcher_event(&Event::Delete(DeserializeGuard(Ok(cluster(
            "a", "uid-a", true,
        )))));
        let text = scrape(&metrics);
        assert!(!text.contains("uid-a"), "{text}");
        assert!(text.contains("uid-b"));
        drop(registration);
        let text = scrape(&metrics);
        assert!(!text.contains("kuberay_cluster_info"), "{text}");
    }

    #[test]
    fn job_series_report_the_deployment_status_and_the_execution_time() {
        let metrics = KubeRayMetrics::default();
        let job: RayJob = serde_json::from_value(json!({
            "apiVersion": "ray.io/v1", "kind": "RayJob",
            "metadata": {"name": "j", "namespace": "ns", "uid": "uid-j"},
            "spec": {"entrypoint": "python -c 'print(1)'"},
            "status": {"jobDeploymentStatus": "Running", "startTime": "2026-01-01T00:00:00Z"}
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        let (store, mut writer) = reflector::store::<DeserializeGuard<RayJob>>();
        writer.apply_watcher_event(&Event::Apply(DeserializeGuard(Ok(job.clone()))));
        let _registration = metrics.watch_rayjobs(store);
        metrics.record_job_finished(
            &job,
            &time("2026-01-01T00:00:00Z"),
            JobDeploymentStatus::Complete,
            0,
            &time("2026-01-01T00:00:42.5Z"),
        );
        let text = scrape(&metrics);
        assert!(
            text.contains(r#"kuberay_job_info{name="j",namespace="ns",uid="uid-j"} 1"#),
            "{text}"
        );
        assert!(text.contains(
            r#"kuberay_job_deployment_status{name="j",namespace="ns",uid="uid-j",deployment_status="Running"} 1"#
        ));
        assert!(text.contains(
            r#"kuberay_job_execution_duration_seconds{name="j",namespace="ns",uid="uid-j",job_deployment_status="Complete",retry_count="0"} 42.5"#
        ));
    }

    #[test]
    fn service_series_use_the_controllers_reading_of_the_conditions() {
        let metrics = KubeRayMetrics::default();
        let (store, mut writer) = reflector::store::<ray_api_v1::RayService>();
        let service: ray_api_v1::RayService = serde_json::from_value(json!({
            "apiVersion": "ray.io/v1", "kind": "RayService",
            "metadata": {"name": "s", "namespace": "ns", "uid": "uid-s"},
            "spec": {"rayClusterConfig": {"headGroupSpec": {"rayStartParams": {}, "template": {"spec": {
                "containers": [{"name": "ray-head", "image": "rayproject/ray:2.60.0"}]}}}}}
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        writer.apply_watcher_event(&Event::Apply(service));
        let _registration = metrics.watch_rayservices(store, |_| {
            Some(ServiceConditions {
                ready: true,
                upgrade_in_progress: false,
            })
        });
        let text = scrape(&metrics);
        assert!(
            text.contains(r#"kuberay_service_info{name="s",namespace="ns",uid="uid-s"} 1"#),
            "{text}"
        );
        assert!(text.contains(
            r#"kuberay_service_condition_ready{name="s",namespace="ns",uid="uid-s",condition="true"} 1"#
        ));
        assert!(text.contains(
            r#"kuberay_service_condition_upgrade_in_progress{name="s",namespace="ns",uid="uid-s",condition="false"} 1"#
        ));
    }
}
