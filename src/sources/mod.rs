//! Sources: the ingest endpoints. Each turns its wire format into `model::Event`s, validates
//! them against `Limits`, and hands one `Batch` per request to the engine through `Ingest`.
//!
//! Every decoder here is shared by the live endpoint and by `replay`, which decodes the very
//! bodies the endpoint recorded.

pub mod alertmanager;
pub mod capture;
pub mod http;
pub mod otlp;
pub mod pagerduty;
pub mod pagerduty_webhook;

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use crate::inbox::{Batch, Input};
use crate::ingest::{
    CapturedBody, Decoded, Forward, IngestError, Limits, Pressure, Reason, SourceKind, WireFormat,
};
use crate::metrics::Metrics;
use noisegate_engine::model::{Event, EventTime, Labels};

/// Decodes a body of a text format with its endpoint's decoder (replay and Kafka use it too).
pub fn decode_text(format: WireFormat, body: &str, limits: &Limits) -> Result<Decoded, IngestError> {
    match format {
        WireFormat::AlertmanagerV2 => alertmanager::decode_v2(body, limits),
        WireFormat::AlertmanagerWebhook => alertmanager::decode_webhook(body, limits),
        WireFormat::PagerDutyV2 => {
            let decoded = pagerduty::decode_event(body, limits)?;
            Ok(Decoded { events: vec![decoded.event], rejected: Vec::new(), read: 0 })
        }
        WireFormat::OtlpLogsJson => otlp::decode_request(&otlp::parse_json(body)?, limits),
        WireFormat::OtlpTracesJson => otlp::traces::decode_request(&otlp::traces::parse_json(body)?, limits),
        WireFormat::OtlpLogsProto | WireFormat::OtlpTracesProto => {
            Err(IngestError::new(Reason::InvalidValue, "OTLP protobuf is binary, not text"))
        }
    }
}

/// The sources' handle to the engine.
#[derive(Clone)]
pub struct Ingest {
    sender: mpsc::Sender<Input>,
    limits: Arc<Limits>,
    metrics: Arc<Metrics>,
    record: bool,
    pressure: Arc<Pressure>,
    /// The central layout: requests go to Kafka, not to the engine here.
    forward: Option<Arc<dyn Forward>>,
}

impl Ingest {
    pub fn new(
        sender: mpsc::Sender<Input>,
        limits: Arc<Limits>,
        metrics: Arc<Metrics>,
        record: bool,
        pressure: Arc<Pressure>,
        forward: Option<Arc<dyn Forward>>,
    ) -> Ingest {
        Ingest { sender, limits, metrics, record, pressure, forward }
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    pub fn metrics_handle(&self) -> Arc<Metrics> {
        self.metrics.clone()
    }

    /// Whether sources should prepare capture bodies (to record them, or to forward them).
    pub fn recording(&self) -> bool {
        self.record || self.forward.is_some()
    }

    /// Refuses work while the service is over its memory ceiling. At its cap of active alerts
    /// (or groups), returns the limit and the refusal for the engine, which refuses the batch
    /// if it adds a firing alert it does not hold: resolves, which shrink the state, and
    /// re-sends of held alerts, which keep an ongoing incident from timing out, go through.
    fn admit(&self, events: &[Event]) -> Result<Option<(&'static str, IngestError)>, IngestError> {
        use std::sync::atomic::Ordering;
        if self.pressure.memory_exceeded.load(Ordering::Relaxed) {
            self.metrics.limit_hit("memory");
            return Err(IngestError::new(
                Reason::Overloaded,
                format!(
                    "memory near limits.max_memory_bytes ({}); retry later",
                    self.limits.max_memory_bytes
                ),
            ));
        }
        let active = self.pressure.active_alerts.load(Ordering::Relaxed);
        let now = crate::clock::now();
        let firing = |event: &Event| matches!(event, Event::Alert(alert) if !alert.resolved && alert.ends_at.is_none_or(|end| end > now));
        if active >= self.limits.max_active_alerts && events.iter().any(firing) {
            let message = format!("{active} active alerts reach limits.max_active_alerts; retry later");
            return Ok(Some(("active_alerts", IngestError::new(Reason::Overloaded, message))));
        }
        let groups = self.pressure.active_groups.load(Ordering::Relaxed);
        if groups >= self.limits.max_active_groups && events.iter().any(firing) {
            let message = format!("{groups} active groups reach limits.max_active_groups; retry later");
            return Ok(Some(("active_groups", IngestError::new(Reason::Overloaded, message))));
        }
        Ok(None)
    }

    /// Counts a request refused as a whole.
    pub fn reject(&self, source: SourceKind, error: &IngestError) {
        self.metrics.rejected_requests(source, error.reason);
        tracing::debug!(source = source.as_str(), reason = error.reason.as_str(), error = %error.message, "request rejected");
    }

    /// Counts the request's records and hands its events to the engine; returns once the
    /// engine has applied them.
    pub async fn submit(
        &self,
        source: SourceKind,
        decoded: &mut Decoded,
        capture: Option<CapturedBody>,
    ) -> Result<(), IngestError> {
        self.submit_at(source, decoded, capture, None).await
    }

    /// `submit`, with when the sender says its events happened.
    pub async fn submit_at(
        &self,
        source: SourceKind,
        decoded: &mut Decoded,
        capture: Option<CapturedBody>,
        occurred_at: Option<EventTime>,
    ) -> Result<(), IngestError> {
        let accepted = decoded.accepted();
        for rejection in &decoded.rejected {
            self.metrics.rejected_record(source, rejection.reason);
        }
        if accepted == 0 && capture.is_none() {
            return Ok(());
        }
        if let (Some(forward), Some(body)) = (&self.forward, &capture) {
            // Recorded where it is applied: by the replica that owns its partition.
            forward.forward(&decoded.events, body).await?;
            self.metrics.accepted_records(source, accepted as u64);
            return Ok(());
        }
        let at_capacity = self.admit(&decoded.events)?;
        let (applied, done) = oneshot::channel();
        let batch = Batch {
            source,
            events: std::mem::take(&mut decoded.events),
            capture,
            received: std::time::Instant::now(),
            shard: None,
            occurred_at,
            at_capacity,
            applied,
        };
        let unavailable = || IngestError::new(Reason::Unavailable, "noisegate is shutting down");
        match self.sender.try_send(Input::Batch(batch)) {
            Ok(()) => {}
            // Refusing beats queueing without bound: the sender retries later.
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.metrics.limit_hit("engine_queue");
                return Err(IngestError::new(Reason::Overloaded, "the engine's queue is full; retry later"));
            }
            Err(mpsc::error::TrySendError::Closed(_)) => return Err(unavailable()),
        }
        done.await.map_err(|_| unavailable())??;
        self.metrics.accepted_records(source, accepted as u64);
        Ok(())
    }
}

/// Checks a label set against the limits.
pub fn check_labels(labels: &Labels, limits: &Limits, what: &str) -> Result<(), (Reason, String)> {
    if labels.len() > limits.max_labels {
        return Err((
            Reason::TooManyLabels,
            format!("{} {what} exceed the limit of {}", labels.len(), limits.max_labels),
        ));
    }
    for (name, value) in labels.iter() {
        if name.is_empty() {
            return Err((Reason::InvalidValue, format!("empty {what} name")));
        }
        if name.len() > limits.max_label_name_bytes {
            return Err((
                Reason::LabelTooLong,
                format!(
                    "{what} name of {} bytes exceeds the limit of {}",
                    name.len(),
                    limits.max_label_name_bytes
                ),
            ));
        }
        if value.len() > limits.max_label_value_bytes {
            return Err((
                Reason::LabelTooLong,
                format!(
                    "value of {what} {name:?} has {} bytes, over the limit of {}",
                    value.len(),
                    limits.max_label_value_bytes
                ),
            ));
        }
    }
    Ok(())
}

/// Checks annotations: their count shares `max_labels`; each value has its own cap.
pub fn check_annotations(annotations: &Labels, limits: &Limits) -> Result<(), (Reason, String)> {
    let capped = Limits { max_label_value_bytes: limits.max_annotation_value_bytes, ..*limits };
    check_labels(annotations, &capped, "annotations")
}

/// Rejects bodies that are not UTF-8, naming the offset.
pub fn require_utf8(body: &[u8]) -> Result<&str, IngestError> {
    std::str::from_utf8(body).map_err(|error| {
        IngestError::new(
            Reason::InvalidUtf8,
            format!("body is not valid UTF-8 (first invalid byte at offset {})", error.valid_up_to()),
        )
    })
}

/// Makes a JSON document one line, for the capture file. Raw CR and LF can only be whitespace
/// in valid JSON (inside strings they must be escaped), so replacing them keeps it equal.
pub fn single_line_json(text: &str) -> String {
    text.replace(['\n', '\r'], " ")
}
