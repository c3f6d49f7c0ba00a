//! One Event publisher for every controller: events.k8s.io Events through kube-runtime's [`Recorder`] (which
//! aggregates repeats into a series), with one rule for cutting long notes, and failures logged and counted, never
//! returned — an Event that cannot be written must not fail the reconcile that wanted to tell the user something.
//!
//! Events stay out of the reconcile's request budget, as client-go's event broadcaster keeps them:
//! - [`EventPublisher::publish`] only enqueues: the reconcile never waits for an Event's round trip.
//! - A background task writes the queue through the client the publisher was given; the operator gives it a
//!   client with its own token bucket (`--kube-api-events-qps`/`--kube-api-events-burst`), so Events never take a
//!   token a pod create needs.
//! - The queue is bounded ([`EventSettings::queue_capacity`]); when it is full the newest Event is dropped.
//! - A per-object spam filter ([`SpamSettings`]) drops an object's Events beyond a burst per reason.
//! - [`EventPublisher::close`] flushes what is queued for a bounded time when the operator stops.
//!
//! Every outcome is counted in `ray_operator_events_total{result}` ([`EventResult`]).

mod spam;

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use k8s_openapi::api::core::v1::ObjectReference;
use kube::Client;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use tokio::sync::{Notify, mpsc};
use tokio::task::JoinHandle;
use tracing::{debug, warn};

use crate::metrics::{EventResult, Metrics};
use spam::SpamFilter;
pub use spam::SpamSettings;

/// The most bytes of a note the API server accepts (events.k8s.io `note` is limited to 1 kB).
pub const MAX_NOTE_BYTES: usize = 1024;

/// What marks a note that was cut.
const ELLIPSIS: &str = "…";

/// Cuts `text` to at most [`MAX_NOTE_BYTES`] bytes, at a character boundary, ending in `…` when it was cut.
pub fn truncate_note(text: &str) -> String {
    if text.len() <= MAX_NOTE_BYTES {
        return text.to_string();
    }
    let mut end = MAX_NOTE_BYTES - ELLIPSIS.len();
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{ELLIPSIS}", &text[..end])
}

/// Whether an Event reports something normal or something the user should look at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    /// `type: Normal`.
    Normal,
    /// `type: Warning`.
    Warning,
}

/// One Event to publish about an object.
#[derive(Clone, Debug, PartialEq)]
pub struct Notice {
    /// Normal or Warning.
    pub severity: Severity,
    /// The machine-readable reason (`CreatedWorkerPod`); tools filter on it, so it is stable.
    pub reason: String,
    /// What the operator was doing (`Create`, `Delete`, `Reconcile`).
    pub action: String,
    /// The human-readable message; cut to [`MAX_NOTE_BYTES`].
    pub note: String,
    /// Another object the Event is about (the Event's `related`), e.g. the RayCluster a RayService Event concerns.
    /// Events with the same reason about different related objects are not merged into one series.
    pub related: Option<ObjectReference>,
}

impl Notice {
    /// A Normal Event.
    pub fn normal(
        reason: impl Into<String>,
        action: impl Into<String>,
        note: impl Into<String>,
    ) -> Self {
        Notice {
            severity: Severity::Normal,
            reason: reason.into(),
            action: action.into(),
            note: note.into(),
            related: None,
        }
    }

    /// The same Event, also naming `related`.
    pub fn related_to(self, related: ObjectReference) -> Self {
        Notice {
            related: Some(related),
            ..self
        }
    }

    /// A Warning Event.
    pub fn warning(
        reason: impl Into<String>,
        action: impl Into<String>,
        note: impl Into<String>,
    ) -> Self {
        Notice {
            severity: Severity::Warning,
            ..Notice::normal(reason, action, note)
        }
    }
}

/// How Events are queued, filtered and flushed; [`EventSettings::default`] has the operator's numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EventSettings {
    /// Events waiting to be written at most; when the queue is full the newest Event is dropped. Default 1024:
    /// about 50 s of writing at the operator's default 20 Events per second, and a few hundred kB at most.
    pub queue_capacity: usize,
    /// The per-object spam filter.
    pub spam: SpamSettings,
    /// How long [`EventPublisher::close`] keeps writing queued Events before giving up on them. Default 2 s.
    pub flush_timeout: Duration,
}

impl Default for EventSettings {
    fn default() -> Self {
        EventSettings {
            queue_capacity: 1024,
            spam: SpamSettings::default(),
            flush_timeout: Duration::from_secs(2),
        }
    }
}

/// One Event waiting to be written.
struct Queued {
    regarding: ObjectReference,
    event: Event,
}

/// The background task that writes the queue.
enum Writer {
    /// Not spawned yet: the publisher was made outside a tokio runtime; the first publish spawns it.
    Waiting(futures::future::BoxFuture<'static, ()>),
    /// Spawned.
    Running(JoinHandle<()>),
    /// [`EventPublisher::close`] took it.
    Closed,
}

impl Writer {
    /// Spawns a waiting writer when there is a runtime to spawn it on.
    fn start(&mut self) {
        if !matches!(self, Writer::Waiting(_)) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if let Writer::Waiting(task) = std::mem::replace(self, Writer::Closed) {
            *self = Writer::Running(runtime.spawn(task));
        }
    }
}

/// What every clone of a publisher shares.
struct Shared {
    queue: mpsc::Sender<Queued>,
    spam: Mutex<SpamFilter>,
    metrics: Arc<Metrics>,
    /// Tells the writer to take no more Events and finish the queue.
    stop: Arc<Notify>,
    writer: Mutex<Writer>,
    /// Whether the writer was spawned (the check on every publish, without the lock).
    started: AtomicBool,
    /// Whether a full queue was logged since the last Event that fit: one warning per episode, not per Event.
    full_logged: AtomicBool,
    flush_timeout: Duration,
}

/// Publishes Events as one controller of this operator (`reportingController`) and instance
/// (`reportingInstance`). Clones share one queue, spam filter and writer.
#[derive(Clone)]
pub struct EventPublisher {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for EventPublisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventPublisher").finish_non_exhaustive()
    }
}

impl EventPublisher {
    /// A publisher reporting as `controller` (the field manager name) and `instance` (e.g. the pod name), writing
    /// through `client` with [`EventSettings::default`] and counting into a registry nobody serves (tests).
    ///
    /// Made inside a tokio runtime, its writer task runs on that runtime (and stops with it, as a test's does);
    /// made outside one, the writer starts with the first [`EventPublisher::publish`].
    pub fn new(client: &Client, controller: &str, instance: Option<String>) -> Self {
        Self::with_settings(
            client,
            controller,
            instance,
            EventSettings::default(),
            Arc::new(Metrics::new()),
        )
    }

    /// [`EventPublisher::new`] with `settings`, counting into `metrics`. `client` should have a token bucket of its
    /// own (the operator's is `--kube-api-events-qps`), so Events never wait for, or delay, other requests.
    pub fn with_settings(
        client: &Client,
        controller: &str,
        instance: Option<String>,
        settings: EventSettings,
        metrics: Arc<Metrics>,
    ) -> Self {
        let client = client.clone();
        let reporter = Reporter {
            controller: controller.to_string(),
            instance,
        };
        let recorder = move || Recorder::new(client.clone(), reporter.clone());
        let (queue, receiver) = mpsc::channel(settings.queue_capacity.max(1));
        let stop = Arc::new(Notify::new());
        let task = write_queue(
            receiver,
            recorder,
            SeriesBudget::new(MAX_SERIES),
            metrics.clone(),
            stop.clone(),
        );
        let mut writer = Writer::Waiting(Box::pin(task));
        writer.start();
        EventPublisher {
            shared: Arc::new(Shared {
                queue,
                spam: Mutex::new(SpamFilter::new(settings.spam)),
                metrics,
                stop,
                started: AtomicBool::new(matches!(writer, Writer::Running(_))),
                writer: Mutex::new(writer),
                full_logged: AtomicBool::new(false),
                flush_timeout: settings.flush_timeout,
            }),
        }
    }

    /// Publishes `notice` about `regarding`: queues it and returns at once, never waiting for the API server.
    /// Dropped (and counted) when the spam filter or a full queue says so; a failed write is logged and counted.
    /// Async only so callers need not change; [`EventPublisher::enqueue`] is the same for code that is not.
    pub async fn publish(&self, regarding: &ObjectReference, notice: Notice) {
        self.enqueue(regarding, notice);
    }

    /// [`EventPublisher::publish`], callable outside async code.
    pub fn enqueue(&self, regarding: &ObjectReference, notice: Notice) {
        let shared = &self.shared;
        let allowed = shared
            .spam
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .allow(regarding, &notice.reason, tokio::time::Instant::now());
        if !allowed {
            shared.metrics.record_event(EventResult::DroppedSpam);
            debug!(reason = %notice.reason, object = ?regarding.name, "too many Events about this object; dropped one");
            return;
        }
        let event = Event {
            type_: match notice.severity {
                Severity::Normal => EventType::Normal,
                Severity::Warning => EventType::Warning,
            },
            reason: notice.reason,
            note: Some(truncate_note(&notice.note)),
            action: notice.action,
            secondary: notice.related,
        };
        let queued = Queued {
            regarding: regarding.clone(),
            event,
        };
        match shared.queue.try_send(queued) {
            Ok(()) => {
                shared.full_logged.store(false, Ordering::Relaxed);
                if !shared.started.load(Ordering::Acquire) {
                    self.start_writer();
                }
            }
            Err(mpsc::error::TrySendError::Full(queued)) => {
                shared.metrics.record_event(EventResult::DroppedFull);
                if !shared.full_logged.swap(true, Ordering::Relaxed) {
                    warn!(
                        capacity = shared.queue.max_capacity(),
                        reason = %queued.event.reason,
                        "the Event queue is full (the API server is slow or --kube-api-events-qps is low); \
                         dropping new Events until it drains"
                    );
                }
            }
            Err(mpsc::error::TrySendError::Closed(queued)) => {
                shared.metrics.record_event(EventResult::DroppedFull);
                debug!(reason = %queued.event.reason, "the Event publisher is closed; dropped an Event");
            }
        }
    }

    /// Spawns the writer if the publisher was made outside a runtime.
    fn start_writer(&self) {
        let mut writer = self
            .shared
            .writer
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        writer.start();
        if matches!(*writer, Writer::Running(_) | Writer::Closed) {
            self.shared.started.store(true, Ordering::Release);
        }
    }

    /// Stops taking Events and writes those queued, for at most [`EventSettings::flush_timeout`]; what is left
    /// then is lost (and logged). Call it once when the operator stops; later Events are dropped.
    pub async fn close(&self) {
        let shared = &self.shared;
        let writer = {
            let mut writer = shared
                .writer
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            writer.start();
            std::mem::replace(&mut *writer, Writer::Closed)
        };
        shared.started.store(true, Ordering::Release);
        shared.stop.notify_one();
        let Writer::Running(mut task) = writer else {
            // Never spawned, so nothing can write the queue: dropping the writer drops the queue.
            return;
        };
        if tokio::time::timeout(shared.flush_timeout, &mut task)
            .await
            .is_err()
        {
            task.abort();
            let pending = shared.queue.max_capacity() - shared.queue.capacity();
            warn!(
                pending,
                timeout = ?shared.flush_timeout,
                "stopping without writing the last queued Events: the API server did not take them in time"
            );
        }
    }
}

/// How many distinct Events (object, reason, action, type, related) one [`Recorder`] remembers before the writer
/// starts a fresh one. The Recorder keeps each as a whole events.k8s.io Event, about 3.4 kB: 256 bound it to under
/// 1 MB. (4,096 kept 7 MB alive while 1,000 RayClusters came up, most of them Events that never repeat: a pod's
/// creation names the pod.) Repeats that matter come close together (a failing reconcile's warning, retried within
/// seconds to minutes), and 256 distinct Events in between are needed to break such a series.
pub const MAX_SERIES: usize = 256;

/// Bounds the [`Recorder`]'s memory. The Recorder keeps every Event it wrote for six minutes, to turn a repeat
/// into a patch of that Event's series, with no limit on how many: an Event storm over thousands of objects would
/// keep them all. Once `max` distinct Events were written, the writer replaces the Recorder (and so its cache);
/// the only cost is that the next repeat of an older Event starts a new Event instead of extending its series.
struct SeriesBudget {
    seen: std::collections::HashSet<u64>,
    max: usize,
}

impl SeriesBudget {
    fn new(max: usize) -> Self {
        SeriesBudget {
            seen: std::collections::HashSet::new(),
            max: max.max(1),
        }
    }

    /// Notes that `queued` is written; true when the Recorder must be replaced first.
    fn note(&mut self, queued: &Queued) -> bool {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        let object = |r: &ObjectReference| {
            (
                r.kind.clone(),
                r.namespace.clone(),
                r.name.clone(),
                r.uid.clone(),
            )
        };
        (
            object(&queued.regarding),
            queued.event.secondary.as_ref().map(object),
            &queued.event.reason,
            &queued.event.action,
            matches!(queued.event.type_, EventType::Warning),
        )
            .hash(&mut hasher);
        let key = hasher.finish();
        if self.seen.contains(&key) {
            return false;
        }
        let full = self.seen.len() >= self.max;
        if full {
            self.seen.clear();
        }
        self.seen.insert(key);
        full
    }
}

/// The writer: writes queued Events one at a time (the [`Recorder`] turns a repeat into a patch of the first
/// Event's series, which concurrent writes of the same Event would race), until the queue is closed and empty.
async fn write_queue(
    mut queue: mpsc::Receiver<Queued>,
    new_recorder: impl Fn() -> Recorder,
    mut series: SeriesBudget,
    metrics: Arc<Metrics>,
    stop: Arc<Notify>,
) {
    let mut recorder = new_recorder();
    loop {
        tokio::select! {
            biased;
            () = stop.notified() => queue.close(),
            queued = queue.recv() => {
                let Some(queued) = queued else {
                    return;
                };
                if series.note(&queued) {
                    recorder = new_recorder();
                }
                let Queued { regarding, event } = queued;
                match recorder.publish(&event, &regarding).await {
                    Ok(()) => metrics.record_event(EventResult::Written),
                    Err(error) => {
                        metrics.record_event(EventResult::Failed);
                        warn!(%error, reason = %event.reason, "could not publish an event");
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_notes_are_kept() {
        assert_eq!(truncate_note("short"), "short");
        let exact = "a".repeat(MAX_NOTE_BYTES);
        assert_eq!(truncate_note(&exact), exact);
    }

    #[test]
    fn long_notes_are_cut_on_a_character_boundary_within_the_limit() {
        for text in [
            "é".repeat(800),
            "a".repeat(5000),
            format!("a{}", "€".repeat(600)),
        ] {
            let cut = truncate_note(&text);
            assert!(cut.len() <= MAX_NOTE_BYTES, "{} bytes", cut.len());
            assert!(cut.ends_with('…'));
            assert!(text.starts_with(cut.trim_end_matches('…')));
        }
    }

    #[test]
    fn the_recorder_is_replaced_once_it_has_seen_too_many_distinct_events() {
        use crate::events::spam::tests::object;
        let queued = |name: &str, reason: &str| Queued {
            regarding: object(name),
            event: Event {
                type_: EventType::Normal,
                reason: reason.into(),
                note: Some("a note".into()),
                action: "Create".into(),
                secondary: None,
            },
        };
        let mut series = SeriesBudget::new(2);
        assert!(!series.note(&queued("a", "CreatedWorkerPod")));
        assert!(!series.note(&queued("b", "CreatedWorkerPod")));
        assert!(
            !series.note(&queued("a", "CreatedWorkerPod")),
            "a repeat is part of a known series"
        );
        assert!(
            series.note(&queued("a", "DeletedWorkerPod")),
            "a third distinct Event: start a fresh Recorder"
        );
        assert!(!series.note(&queued("a", "DeletedWorkerPod")));
        assert!(!series.note(&queued("c", "CreatedWorkerPod")));
        assert!(series.note(&queued("d", "CreatedWorkerPod")));
    }

    mod queue {
        use std::sync::atomic::AtomicUsize;

        use futures::FutureExt;
        use kube::client::Body;

        use super::*;
        use crate::events::spam::tests::object;

        /// What the fake API server answers a created Event.
        const CREATED: &str = r#"{"apiVersion":"events.k8s.io/v1","kind":"Event","metadata":{"name":"e","namespace":"ns"},"eventTime":"2025-01-01T00:00:00.000000Z"}"#;

        /// What it answers when Events are forbidden.
        const FORBIDDEN: &str = r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"events are forbidden","reason":"Forbidden","code":403}"#;

        /// How the fake API server answers Event writes.
        #[derive(Clone, Copy)]
        enum Answer {
            Created,
            Forbidden,
            Never,
        }

        /// A client of a fake API server that answers every request with `answer`, counting them in `requests`.
        fn fake_client(answer: Answer, requests: Arc<AtomicUsize>) -> Client {
            let service = tower::service_fn(move |_request: http::Request<Body>| {
                let requests = requests.clone();
                async move {
                    requests.fetch_add(1, Ordering::SeqCst);
                    let (status, body) = match answer {
                        Answer::Created => (201, CREATED),
                        Answer::Forbidden => (403, FORBIDDEN),
                        Answer::Never => return futures::future::pending().await,
                    };
                    http::Response::builder()
                        .status(status)
                        .body(Body::from(body.as_bytes().to_vec()))
                }
            });
            Client::new(service, "default")
        }

        fn settings(queue_capacity: usize, burst: u32) -> EventSettings {
            EventSettings {
                queue_capacity,
                spam: SpamSettings {
                    burst,
                    refill_every: Duration::from_secs(300),
                },
                ..EventSettings::default()
            }
        }

        struct Fixture {
            publisher: EventPublisher,
            metrics: Arc<Metrics>,
            requests: Arc<AtomicUsize>,
        }

        fn fixture(answer: Answer, settings: EventSettings) -> Fixture {
            let requests = Arc::new(AtomicUsize::new(0));
            let metrics = Arc::new(Metrics::new());
            let client = fake_client(answer, requests.clone());
            let publisher =
                EventPublisher::with_settings(&client, "test", None, settings, metrics.clone());
            Fixture {
                publisher,
                metrics,
                requests,
            }
        }

        fn notice(n: usize) -> Notice {
            Notice::normal(format!("Reason{n}"), "Test", format!("event {n}"))
        }

        // The runtime of #[tokio::test] has one thread: the writer cannot take anything out of the queue until
        // the test waits for something, so the counts below do not depend on timing. Paused time makes the flush
        // timeout of close() elapse only when nothing else can run.

        #[tokio::test(start_paused = true)]
        async fn publishing_does_not_wait_for_the_api_server() {
            let f = fixture(Answer::Never, settings(8, 25));
            for n in 0..3 {
                assert!(
                    f.publisher
                        .publish(&object("a"), notice(n))
                        .now_or_never()
                        .is_some(),
                    "publish returned at once"
                );
            }
            // The API server never answers: close gives up after its flush timeout instead of hanging.
            f.publisher.close().await;
            assert_eq!(f.metrics.events_total(EventResult::Written), 0);
            assert_eq!(
                f.requests.load(Ordering::SeqCst),
                1,
                "one write was in flight"
            );
            // Closed: later Events are dropped, not queued.
            f.publisher.publish(&object("a"), notice(9)).await;
            assert_eq!(f.metrics.events_total(EventResult::DroppedFull), 1);
        }

        #[tokio::test(start_paused = true)]
        async fn a_full_queue_drops_the_newest_events_and_counts_them() {
            let f = fixture(Answer::Created, settings(4, 25));
            for n in 0..10 {
                f.publisher.publish(&object("a"), notice(n)).await;
            }
            assert_eq!(f.metrics.events_total(EventResult::DroppedFull), 6);
            f.publisher.close().await;
            assert_eq!(f.metrics.events_total(EventResult::Written), 4);
            assert_eq!(f.requests.load(Ordering::SeqCst), 4);
        }

        #[tokio::test(start_paused = true)]
        async fn the_spam_filter_drops_an_objects_events_beyond_the_burst() {
            let f = fixture(Answer::Created, settings(64, 3));
            for _ in 0..5 {
                f.publisher.publish(&object("a"), notice(0)).await;
            }
            f.publisher.publish(&object("a"), notice(1)).await;
            f.publisher.publish(&object("b"), notice(0)).await;
            assert_eq!(f.metrics.events_total(EventResult::DroppedSpam), 2);
            f.publisher.close().await;
            assert_eq!(f.metrics.events_total(EventResult::Written), 5);
        }

        #[tokio::test(start_paused = true)]
        async fn refused_events_are_counted_as_failed() {
            let f = fixture(Answer::Forbidden, settings(8, 25));
            f.publisher.publish(&object("a"), notice(0)).await;
            f.publisher.publish(&object("b"), notice(0)).await;
            f.publisher.close().await;
            assert_eq!(f.metrics.events_total(EventResult::Failed), 2);
            assert_eq!(f.metrics.events_total(EventResult::Written), 0);
        }

        #[test]
        fn a_publisher_made_outside_a_runtime_starts_writing_on_the_first_publish() {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            let requests = Arc::new(AtomicUsize::new(0));
            // The fake client needs a runtime (its buffer task); the publisher is made outside it.
            let client = {
                let _inside = runtime.enter();
                fake_client(Answer::Created, requests.clone())
            };
            let metrics = Arc::new(Metrics::new());
            let publisher = EventPublisher::with_settings(
                &client,
                "test",
                None,
                EventSettings::default(),
                metrics.clone(),
            );
            runtime.block_on(async {
                publisher.publish(&object("a"), notice(0)).await;
                publisher.close().await;
            });
            assert_eq!(metrics.events_total(EventResult::Written), 1);
        }
    }
}
