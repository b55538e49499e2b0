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

use crate::admin::metrics::Metrics;
use crate::model::{Event, Labels};
use crate::service::Input;

/// Caps on what one request may carry, so a hostile or broken sender cannot exhaust memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_body_bytes: usize,
    pub max_records_per_request: usize,
    pub max_labels: usize,
    pub max_label_name_bytes: usize,
    pub max_label_value_bytes: usize,
    pub max_annotation_value_bytes: usize,
    /// How long a sender may take to deliver a request body.
    pub body_read_timeout: std::time::Duration,
    /// Active alerts beyond which requests are refused until some resolve.
    pub max_active_alerts: u64,
    /// Active groups (incidents and groups waiting to page) beyond which new firing alerts are
    /// refused until some end.
    pub max_active_groups: u64,
    /// Resident memory beyond which requests are refused until it drops (0: no ceiling).
    pub max_memory_bytes: u64,
}

/// What the service is under: read by every request, written by the engine and a sampler.
#[derive(Debug, Default)]
pub struct Pressure {
    pub active_alerts: std::sync::atomic::AtomicU64,
    pub active_groups: std::sync::atomic::AtomicU64,
    /// What the engine's tables would allocate if they grew now (`Engine::growth_bytes`).
    pub growth_bytes: std::sync::atomic::AtomicU64,
    pub memory_exceeded: std::sync::atomic::AtomicBool,
}

/// Small limits for unit tests of the decoders.
#[cfg(test)]
pub(crate) fn test_limits() -> Limits {
    Limits {
        max_body_bytes: 1 << 20,
        max_records_per_request: 100,
        max_labels: 8,
        max_label_name_bytes: 64,
        max_label_value_bytes: 64,
        max_annotation_value_bytes: 256,
        body_read_timeout: std::time::Duration::from_secs(30),
        max_active_alerts: 1000,
        max_active_groups: 1000,
        max_memory_bytes: 0,
    }
}

/// Where a request came in. Also the `source` label of ingest metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SourceKind {
    OtlpGrpc,
    OtlpHttp,
    AlertmanagerV2,
    AlertmanagerWebhook,
    PagerDutyV2,
    PagerDutyChange,
    PagerDutyWebhook,
    Kafka,
}

impl SourceKind {
    pub const ALL: [SourceKind; 8] = [
        SourceKind::OtlpGrpc,
        SourceKind::OtlpHttp,
        SourceKind::AlertmanagerV2,
        SourceKind::AlertmanagerWebhook,
        SourceKind::PagerDutyV2,
        SourceKind::PagerDutyChange,
        SourceKind::PagerDutyWebhook,
        SourceKind::Kafka,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::OtlpGrpc => "otlp_grpc",
            SourceKind::OtlpHttp => "otlp_http",
            SourceKind::AlertmanagerV2 => "alertmanager_v2",
            SourceKind::AlertmanagerWebhook => "alertmanager_webhook",
            SourceKind::PagerDutyV2 => "pagerduty_v2",
            SourceKind::PagerDutyChange => "pagerduty_change",
            SourceKind::PagerDutyWebhook => "pagerduty_webhook",
            SourceKind::Kafka => "kafka",
        }
    }
}

/// Why a request or a record was refused. Also the `reason` label of rejection metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    Malformed,
    UnsupportedMediaType,
    TooLarge,
    InvalidUtf8,
    MissingField,
    InvalidValue,
    TooManyLabels,
    LabelTooLong,
    TooManyRecords,
    Timeout,
    Unauthenticated,
    Overloaded,
    Unavailable,
}

impl Reason {
    pub const ALL: [Reason; 13] = [
        Reason::Malformed,
        Reason::UnsupportedMediaType,
        Reason::TooLarge,
        Reason::InvalidUtf8,
        Reason::MissingField,
        Reason::InvalidValue,
        Reason::TooManyLabels,
        Reason::LabelTooLong,
        Reason::TooManyRecords,
        Reason::Timeout,
        Reason::Unauthenticated,
        Reason::Overloaded,
        Reason::Unavailable,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Malformed => "malformed",
            Reason::UnsupportedMediaType => "unsupported_media_type",
            Reason::TooLarge => "too_large",
            Reason::InvalidUtf8 => "invalid_utf8",
            Reason::MissingField => "missing_field",
            Reason::InvalidValue => "invalid_value",
            Reason::TooManyLabels => "too_many_labels",
            Reason::LabelTooLong => "label_too_long",
            Reason::TooManyRecords => "too_many_records",
            Reason::Timeout => "timeout",
            Reason::Unauthenticated => "unauthenticated",
            Reason::Overloaded => "overloaded",
            Reason::Unavailable => "unavailable",
        }
    }

    /// Whether the sender should retry the same request later (answered with `Retry-After`).
    pub fn retryable(self) -> bool {
        matches!(self, Reason::Overloaded | Reason::Unavailable)
    }

    /// The one mapping from rejection reason to HTTP status for every HTTP endpoint.
    pub fn http_status(self) -> u16 {
        match self {
            Reason::UnsupportedMediaType => 415,
            Reason::TooLarge | Reason::TooManyRecords => 413,
            Reason::Timeout => 408,
            Reason::Unauthenticated => 401,
            Reason::Overloaded => 429,
            Reason::Unavailable => 503,
            Reason::Malformed
            | Reason::InvalidUtf8
            | Reason::MissingField
            | Reason::InvalidValue
            | Reason::TooManyLabels
            | Reason::LabelTooLong => 400,
        }
    }

    /// The same mapping for gRPC.
    pub fn grpc_code(self) -> tonic::Code {
        match self {
            Reason::TooLarge | Reason::TooManyRecords => tonic::Code::ResourceExhausted,
            Reason::Timeout => tonic::Code::DeadlineExceeded,
            Reason::Unauthenticated => tonic::Code::Unauthenticated,
            // Retryable for OTLP senders, as 429 is over HTTP.
            Reason::Overloaded => tonic::Code::Unavailable,
            Reason::Unavailable => tonic::Code::Unavailable,
            Reason::UnsupportedMediaType
            | Reason::Malformed
            | Reason::InvalidUtf8
            | Reason::MissingField
            | Reason::InvalidValue
            | Reason::TooManyLabels
            | Reason::LabelTooLong => tonic::Code::InvalidArgument,
        }
    }
}

/// A whole request refused: nothing in it was accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct IngestError {
    pub reason: Reason,
    pub message: String,
}

impl IngestError {
    pub fn new(reason: Reason, message: impl Into<String>) -> IngestError {
        IngestError { reason, message: message.into() }
    }
}

/// One record refused while the rest of its request goes on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// Position of the record in the request (for OTLP: counted across all resource and scope
    /// groups).
    pub index: usize,
    pub reason: Reason,
    pub message: String,
}

/// The outcome of decoding one request body.
#[derive(Debug, Default)]
pub struct Decoded {
    pub events: Vec<Event>,
    pub rejected: Vec<Rejection>,
}

impl Decoded {
    /// A one-line summary of the rejections, for error responses (first few in full).
    pub fn rejection_summary(&self) -> String {
        let mut summary = format!("{} record(s) rejected", self.rejected.len());
        for rejection in self.rejected.iter().take(5) {
            summary.push_str(&format!("; record {}: {}", rejection.index, rejection.message));
        }
        if self.rejected.len() > 5 {
            summary.push_str("; ...");
        }
        summary
    }
}

/// A request body to write to the capture file: the capture's `source` name and the body as
/// single-line JSON.
#[derive(Debug)]
pub struct CapturedBody {
    pub source: &'static str,
    pub json: String,
}

/// One request's events, on their way to the engine.
#[derive(Debug)]
pub struct Batch {
    pub source: SourceKind,
    pub events: Vec<Event>,
    pub capture: Option<CapturedBody>,
    /// When it arrived (for `noisegate_ingest_to_engine_seconds`).
    pub received: std::time::Instant,
    /// The Kafka partition it came from, when its engine is the partition's own.
    pub shard: Option<crate::service::shards::ShardKey>,
    /// Answered once the engine has applied the batch and the store has it (or with why the
    /// store could not take it).
    pub applied: oneshot::Sender<Result<(), String>>,
}

/// The sources' handle to the engine.
#[derive(Clone)]
pub struct Ingest {
    sender: mpsc::Sender<Input>,
    limits: Arc<Limits>,
    metrics: Arc<Metrics>,
    record: bool,
    pressure: Arc<Pressure>,
}

impl Ingest {
    pub fn new(
        sender: mpsc::Sender<Input>,
        limits: Arc<Limits>,
        metrics: Arc<Metrics>,
        record: bool,
        pressure: Arc<Pressure>,
    ) -> Ingest {
        Ingest { sender, limits, metrics, record, pressure }
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

    /// Whether sources should prepare capture bodies.
    pub fn recording(&self) -> bool {
        self.record
    }

    /// Refuses work while the service is over its memory ceiling, and new firing alerts while
    /// it holds its cap of active alerts (resolves, which shrink the state, still go through).
    fn admit(&self, events: &[Event]) -> Result<(), IngestError> {
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
        let now = crate::model::EventTime::now();
        let firing = |event: &Event| matches!(event, Event::Alert(alert) if !alert.resolved && alert.ends_at.is_none_or(|end| end > now));
        if active >= self.limits.max_active_alerts && events.iter().any(firing) {
            self.metrics.limit_hit("active_alerts");
            return Err(IngestError::new(
                Reason::Overloaded,
                format!("{active} active alerts reach limits.max_active_alerts; retry later"),
            ));
        }
        let groups = self.pressure.active_groups.load(Ordering::Relaxed);
        if groups >= self.limits.max_active_groups && events.iter().any(firing) {
            self.metrics.limit_hit("active_groups");
            return Err(IngestError::new(
                Reason::Overloaded,
                format!("{groups} active groups reach limits.max_active_groups; retry later"),
            ));
        }
        Ok(())
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
        let accepted = decoded.events.len();
        for rejection in &decoded.rejected {
            self.metrics.rejected_record(source, rejection.reason);
        }
        if accepted == 0 && capture.is_none() {
            return Ok(());
        }
        self.admit(&decoded.events)?;
        let (applied, done) = oneshot::channel();
        let batch = Batch {
            source,
            events: std::mem::take(&mut decoded.events),
            capture,
            received: std::time::Instant::now(),
            shard: None,
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
        done.await.map_err(|_| unavailable())?.map_err(|error| {
            IngestError::new(Reason::Unavailable, format!("cannot store the request durably: {error}"))
        })?;
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
