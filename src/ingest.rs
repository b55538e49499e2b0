//! The vocabulary of ingest every component shares: what a request may carry (`Limits`), what
//! the service is under (`Pressure`), where a request came in (`SourceKind`), why something was
//! refused (`Reason`, with the one mapping to HTTP status and gRPC code), and what decoding a
//! body gives. Below the sources, the Kafka consumer, the metrics and the config, which all use
//! it.

use noisegate_engine::model::Event;

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
    /// OTLP logs over gRPC.
    OtlpGrpc,
    /// OTLP logs over HTTP.
    OtlpHttp,
    /// OTLP traces over gRPC.
    OtlpTracesGrpc,
    /// OTLP traces over HTTP.
    OtlpTracesHttp,
    AlertmanagerV2,
    AlertmanagerWebhook,
    PagerDutyV2,
    PagerDutyChange,
    PagerDutyWebhook,
    Kafka,
}

impl SourceKind {
    pub const ALL: [SourceKind; 10] = [
        SourceKind::OtlpGrpc,
        SourceKind::OtlpHttp,
        SourceKind::OtlpTracesGrpc,
        SourceKind::OtlpTracesHttp,
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
            SourceKind::OtlpTracesGrpc => "otlp_traces_grpc",
            SourceKind::OtlpTracesHttp => "otlp_traces_http",
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
    /// Records read for the facts they show and dropped (spans): accepted, not events.
    pub read: usize,
}

impl Decoded {
    /// The records accepted: the events, not counting the inventory facts read from them, and
    /// the records read for those facts.
    pub fn accepted(&self) -> usize {
        self.events.iter().filter(|event| !matches!(event, Event::Inventory(_))).count() + self.read
    }

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

/// A request body to write to the capture file: its format and the body as single-line JSON.
#[derive(Debug)]
pub struct CapturedBody {
    pub format: WireFormat,
    pub json: String,
}

/// The request bodies noisegate decodes, each named here once: by its name in capture files
/// (`source`) and as a Kafka source's `encoding`. Every path in (HTTP, gRPC, Kafka, replay)
/// decodes a format with the same decoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireFormat {
    /// Alertmanager API v2 `POST /api/v2/alerts`: a JSON array of alerts.
    AlertmanagerV2,
    /// Alertmanager's webhook notification.
    AlertmanagerWebhook,
    /// A PagerDuty Events API v2 event.
    PagerDutyV2,
    /// An OTLP `ExportLogsServiceRequest` in its JSON mapping.
    OtlpLogsJson,
    /// The same, protobuf (the OpenTelemetry Collector's Kafka exporter's default). Recorded in
    /// capture files as its JSON mapping.
    OtlpLogsProto,
    /// An OTLP `ExportTraceServiceRequest` in its JSON mapping.
    OtlpTracesJson,
    /// The same, protobuf. Recorded in capture files as its JSON mapping.
    OtlpTracesProto,
}

impl WireFormat {
    pub const ALL: [WireFormat; 7] = [
        WireFormat::OtlpLogsProto,
        WireFormat::OtlpLogsJson,
        WireFormat::AlertmanagerV2,
        WireFormat::AlertmanagerWebhook,
        WireFormat::PagerDutyV2,
        WireFormat::OtlpTracesProto,
        WireFormat::OtlpTracesJson,
    ];

    /// Its name in capture files: the format it is recorded in.
    pub fn capture_name(self) -> &'static str {
        match self {
            WireFormat::AlertmanagerV2 => "alertmanager_v2",
            WireFormat::AlertmanagerWebhook => "alertmanager_webhook",
            WireFormat::PagerDutyV2 => "pagerduty_v2",
            WireFormat::OtlpLogsJson | WireFormat::OtlpLogsProto => "otlp_logs_json",
            WireFormat::OtlpTracesJson | WireFormat::OtlpTracesProto => "otlp_traces_json",
        }
    }

    /// Its name as a Kafka source's `encoding`.
    pub fn kafka_name(self) -> &'static str {
        match self {
            WireFormat::AlertmanagerV2 => "alertmanager_v2",
            WireFormat::AlertmanagerWebhook => "alertmanager_webhook",
            WireFormat::PagerDutyV2 => "pagerduty_v2",
            WireFormat::OtlpLogsJson => "otlp_json",
            WireFormat::OtlpLogsProto => "otlp_proto",
            WireFormat::OtlpTracesJson => "otlp_traces_json",
            WireFormat::OtlpTracesProto => "otlp_traces_proto",
        }
    }

    /// Whether its bodies are binary (protobuf), not text.
    pub fn is_binary(self) -> bool {
        matches!(self, WireFormat::OtlpLogsProto | WireFormat::OtlpTracesProto)
    }

    pub fn from_capture_name(name: &str) -> Option<WireFormat> {
        // Protobuf is recorded as JSON: a capture names only the text formats.
        WireFormat::ALL
            .into_iter()
            .filter(|format| !format.is_binary())
            .find(|format| format.capture_name() == name)
    }

    pub fn from_kafka_name(name: &str) -> Option<WireFormat> {
        WireFormat::ALL.into_iter().find(|format| format.kafka_name() == name)
    }

    /// The Kafka encodings, for error messages.
    pub fn kafka_names() -> String {
        WireFormat::ALL.map(WireFormat::kafka_name).join(", ")
    }
}

/// The central layout: what the listeners accept goes to the partitioned Kafka topic, to be
/// applied by whichever replica owns its partition, instead of to this replica's own engine.
pub trait Forward: Send + Sync {
    /// Produces one request, as its capture body (a text format every decoder reads), keyed by
    /// what correlates it; resolves once the broker has it, or with why not.
    fn forward<'a>(
        &'a self,
        events: &'a [noisegate_engine::model::Event],
        body: &'a CapturedBody,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), IngestError>> + Send + 'a>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_wire_format_is_found_by_its_names() {
        for format in WireFormat::ALL {
            assert_eq!(WireFormat::from_kafka_name(format.kafka_name()), Some(format));
            let recorded = WireFormat::from_capture_name(format.capture_name());
            let expected = match format {
                WireFormat::OtlpLogsProto => WireFormat::OtlpLogsJson,
                WireFormat::OtlpTracesProto => WireFormat::OtlpTracesJson,
                text => text,
            };
            assert_eq!(recorded, Some(expected), "{format:?} is recorded as its text form");
            assert!(!expected.is_binary());
        }
        assert_eq!(WireFormat::OtlpTracesJson.capture_name(), "otlp_traces_json");
        assert_eq!(WireFormat::from_kafka_name("otlp_traces_proto"), Some(WireFormat::OtlpTracesProto));
        assert_eq!(WireFormat::from_capture_name("otlp_traces_proto"), None);
    }
}
