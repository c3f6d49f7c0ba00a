//! One Event publisher for every controller: events.k8s.io Events through kube-runtime's [`Recorder`] (which
//! aggregates repeats into a series), with one rule for cutting long notes, and failures logged, never returned —
//! an Event that cannot be written must not fail the reconcile that wanted to tell the user something.
//!
//! Every Event the operator writes passes through [`EventPublisher::publish`], so a budget on how many Events are
//! written per second lands in this one place.

use k8s_openapi::api::core::v1::ObjectReference;
use kube::Client;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use tracing::warn;

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

/// Publishes Events as one controller of this operator (`reportingController`) and instance
/// (`reportingInstance`).
#[derive(Clone)]
pub struct EventPublisher {
    recorder: Recorder,
}

impl std::fmt::Debug for EventPublisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventPublisher").finish_non_exhaustive()
    }
}

impl EventPublisher {
    /// A publisher reporting as `controller` (the field manager name) and `instance` (e.g. the pod name).
    pub fn new(client: &Client, controller: &str, instance: Option<String>) -> Self {
        EventPublisher {
            recorder: Recorder::new(
                client.clone(),
                Reporter {
                    controller: controller.to_string(),
                    instance,
                },
            ),
        }
    }

    /// Publishes `notice` about `regarding`. A failure is logged and otherwise ignored.
    pub async fn publish(&self, regarding: &ObjectReference, notice: Notice) {
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
        if let Err(error) = self.recorder.publish(&event, regarding).await {
            warn!(%error, reason = %event.reason, "could not publish an event");
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
}
