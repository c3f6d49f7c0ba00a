//! The operator's Prometheus registry and its own health series: API requests by verb, resource and status code
//! (recorded by [`crate::api_requests::ApiRequestLayer`]), reconciles per controller, result and error category
//! (recorded by [`crate::runner`]), what became of the Events the operator meant to write (recorded by
//! [`crate::events`]), and whether this instance leads.
//!
//! Domain series (KubeRay's `kuberay_*`) are not defined here: the Ray controllers add a scrape-time collector
//! with [`Metrics::with_collector`].

use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// The HTTP `Content-Type` of [`Metrics::encode`]'s output (Prometheus text format 0.0.4).
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// The labels of `ray_operator_kube_api_requests_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ApiRequestLabels {
    verb: String,
    resource: String,
    code: String,
}

/// The labels of `ray_operator_kube_api_request_duration_seconds`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VerbLabels {
    verb: String,
}

/// The labels of `ray_operator_reconcile_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReconcileLabels {
    controller: String,
    result: String,
    /// The error's [`crate::ReconcileError::category`]; empty for a success.
    category: String,
}

/// The labels of `ray_operator_reconcile_duration_seconds`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ControllerLabels {
    controller: String,
}

/// The labels of `ray_operator_events_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EventLabels {
    result: String,
}

/// What became of one Event the operator meant to write: the `result` label of `ray_operator_events_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventResult {
    /// The API server accepted it (created, or counted into its series).
    Written,
    /// Dropped when published because the queue was full (or the publisher was closed).
    DroppedFull,
    /// Dropped when published by the per-object spam filter.
    DroppedSpam,
    /// The API server refused it, or did not answer.
    Failed,
}

impl EventResult {
    /// Every result, so each series exists from the start.
    pub const ALL: [EventResult; 4] = [
        EventResult::Written,
        EventResult::DroppedFull,
        EventResult::DroppedSpam,
        EventResult::Failed,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            EventResult::Written => "written",
            EventResult::DroppedFull => "dropped_full",
            EventResult::DroppedSpam => "dropped_spam",
            EventResult::Failed => "failed",
        }
    }
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

fn api_histogram() -> Histogram {
    // 1 ms .. ~16 s.
    Histogram::new(exponential_buckets(0.001, 2.0, 15))
}

fn reconcile_histogram() -> Histogram {
    // 5 ms .. ~80 s.
    Histogram::new(exponential_buckets(0.005, 2.0, 15))
}

/// The operator's metrics registry and its own series. Cheap to share (`Arc<Metrics>`).
pub struct Metrics {
    registry: Registry,
    api_requests: Family<ApiRequestLabels, Counter>,
    api_duration: HistogramFamily<VerbLabels>,
    reconciles: Family<ReconcileLabels, Counter>,
    reconcile_duration: HistogramFamily<ControllerLabels>,
    events: Family<EventLabels, Counter>,
    leader: Gauge,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A registry with the operator's own series (docs/metrics.md).
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let api_requests = Family::<ApiRequestLabels, Counter>::default();
        registry.register(
            "ray_operator_kube_api_requests",
            "Requests the operator sent to the Kubernetes API server, by verb, resource and HTTP status code \
             (code=\"error\" when no response arrived).",
            api_requests.clone(),
        );
        let api_duration: HistogramFamily<VerbLabels> =
            Family::new_with_constructor(api_histogram as fn() -> Histogram);
        registry.register(
            "ray_operator_kube_api_request_duration_seconds",
            "Seconds until the Kubernetes API server's response headers arrived, by verb (for watches: until the \
             watch was open).",
            api_duration.clone(),
        );
        let reconciles = Family::<ReconcileLabels, Counter>::default();
        registry.register(
            "ray_operator_reconcile",
            "Reconciles per controller and result (success or error); category says what kind of error (kube-api, \
             render, dashboard, ...) and is empty for a success.",
            reconciles.clone(),
        );
        let reconcile_duration: HistogramFamily<ControllerLabels> =
            Family::new_with_constructor(reconcile_histogram as fn() -> Histogram);
        registry.register(
            "ray_operator_reconcile_duration_seconds",
            "Seconds one reconcile took, per controller.",
            reconcile_duration.clone(),
        );
        let events = Family::<EventLabels, Counter>::default();
        registry.register(
            "ray_operator_events",
            "Events the operator meant to write, by result: written, dropped_full (the queue was full), \
             dropped_spam (the per-object spam filter) or failed (the API server refused or did not answer).",
            events.clone(),
        );
        for result in EventResult::ALL {
            // Present at 0 from the start, so a rate() or an alert sees the first drop.
            let _ = events.get_or_create(&EventLabels {
                result: result.as_str().to_string(),
            });
        }
        let leader = Gauge::default();
        registry.register(
            "ray_operator_is_leader",
            "1 while this instance runs the controllers (it holds the leader Lease, or leader election is off), \
             else 0.",
            leader.clone(),
        );
        Metrics {
            registry,
            api_requests,
            api_duration,
            reconciles,
            reconcile_duration,
            events,
            leader,
        }
    }

    /// [`Metrics::new`] plus a collector evaluated at every scrape (series computed from caches).
    pub fn with_collector(collector: Box<dyn Collector>) -> Self {
        let mut metrics = Self::new();
        metrics.registry.register_collector(collector);
        metrics
    }

    /// Every series in the Prometheus text format ([`CONTENT_TYPE`]).
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail; an error would only come from a collector, and then the series
        // written so far are still worth serving.
        let _ = prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry);
        out
    }

    /// Counts one API request (`code` is the HTTP status, or `error` when none arrived) and how long it took.
    pub fn record_api_request(&self, verb: &str, resource: &str, code: &str, elapsed: Duration) {
        self.api_requests
            .get_or_create(&ApiRequestLabels {
                verb: verb.to_string(),
                resource: resource.to_string(),
                code: code.to_string(),
            })
            .inc();
        self.api_duration
            .get_or_create(&VerbLabels {
                verb: verb.to_string(),
            })
            .observe(elapsed.as_secs_f64());
    }

    /// Counts one reconcile of `controller` and its duration: `error` is `None` for a success, else the error's
    /// category.
    pub fn record_reconcile(&self, controller: &str, error: Option<&str>, elapsed: Duration) {
        self.reconciles
            .get_or_create(&ReconcileLabels {
                controller: controller.to_string(),
                result: if error.is_none() { "success" } else { "error" }.to_string(),
                category: error.unwrap_or_default().to_string(),
            })
            .inc();
        self.reconcile_duration
            .get_or_create(&ControllerLabels {
                controller: controller.to_string(),
            })
            .observe(elapsed.as_secs_f64());
    }

    /// Counts one Event by what became of it.
    pub fn record_event(&self, result: EventResult) {
        self.events
            .get_or_create(&EventLabels {
                result: result.as_str().to_string(),
            })
            .inc();
    }

    /// How many Events ended with `result` so far.
    pub fn events_total(&self, result: EventResult) -> u64 {
        self.events
            .get_or_create(&EventLabels {
                result: result.as_str().to_string(),
            })
            .get()
    }

    /// Sets `ray_operator_is_leader`.
    pub fn set_leader(&self, leading: bool) {
        self.leader.set(i64::from(leading));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_requests_and_reconciles_appear_with_their_labels() {
        let metrics = Metrics::new();
        metrics.record_api_request("list", "pods", "200", Duration::from_millis(3));
        metrics.record_api_request("list", "pods", "200", Duration::from_millis(3));
        metrics.record_api_request("create", "pods", "403", Duration::from_millis(3));
        metrics.record_reconcile("raycluster", None, Duration::from_millis(20));
        metrics.record_reconcile("raycluster", Some("kube-api"), Duration::from_millis(20));
        metrics.set_leader(true);
        metrics.record_event(EventResult::Written);
        metrics.record_event(EventResult::DroppedSpam);
        metrics.record_event(EventResult::DroppedSpam);
        assert_eq!(metrics.events_total(EventResult::DroppedSpam), 2);
        let text = metrics.encode();
        assert!(text.contains(r#"ray_operator_events_total{result="written"} 1"#));
        assert!(text.contains(r#"ray_operator_events_total{result="dropped_spam"} 2"#));
        assert!(text.contains(r#"ray_operator_events_total{result="dropped_full"} 0"#));
        assert!(text.contains(r#"ray_operator_events_total{result="failed"} 0"#));
        assert!(
            text.contains(
                r#"ray_operator_kube_api_requests_total{verb="list",resource="pods",code="200"} 2"#
            ),
            "{text}"
        );
        assert!(text.contains(
            r#"ray_operator_kube_api_requests_total{verb="create",resource="pods",code="403"} 1"#
        ));
        assert!(
            text.contains(
                r#"ray_operator_reconcile_total{controller="raycluster",result="success",category=""} 1"#
            ),
            "{text}"
        );
        assert!(text.contains(
            r#"ray_operator_reconcile_total{controller="raycluster",result="error",category="kube-api"} 1"#
        ));
        assert!(text.contains(
            r#"ray_operator_reconcile_duration_seconds_count{controller="raycluster"} 2"#
        ));
        assert!(text.contains("ray_operator_is_leader 1"));
        assert!(text.contains("# TYPE ray_operator_kube_api_requests_total counter"));
    }
}
