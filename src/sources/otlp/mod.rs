//! OTLP ingest: logs and traces, each over gRPC and HTTP (`Signal` names what differs between
//! them; `grpc.rs` and `http.rs` are written once over it), and the mapping of OTLP log records
//! to alerts and logs (`traces.rs` reads spans).
//!
//! A log record is an alert when it carries the attribute `alertname`. Its labels are the
//! resource attributes plus the record attributes (the record wins on a clash), as strings;
//! `alert.status` (`firing` | `resolved`, default firing) is state, not a label. Severity comes
//! from the `severity` attribute, else from the record's severity number. Every other record
//! is a log.

pub mod grpc;
pub mod http;
pub mod traces;

use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsPartialSuccess, ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::logs::v1::LogRecord as OtlpLogRecord;

use super::{Ingest, check_labels};
use crate::ingest::{CapturedBody, Decoded, IngestError, Limits, Reason, Rejection, SourceKind, WireFormat};
use noisegate_engine::model::{
    Alert, Event, EventTime, Expiry, FactSource, InventoryFacts, LabelsBuilder, LogRecord, Severity,
};

/// The attribute that marks a log record as an alert.
pub const ALERTNAME: &str = "alertname";
/// The attribute carrying an alert's state.
pub const ALERT_STATUS: &str = "alert.status";

/// One OTLP signal noisegate takes in: its messages, names and decoder. The gRPC service, the
/// HTTP endpoint and the Kafka source are written once over it.
pub trait Signal: Send + Sync + 'static {
    type Request: prost::Message + Default + serde::Serialize + serde::de::DeserializeOwned + 'static;
    type Response: prost::Message + serde::Serialize + 'static;
    /// The signal in messages: `logs`, `traces`.
    const NAME: &'static str;
    /// The request message's name.
    const REQUEST: &'static str;
    /// The gRPC method, `/opentelemetry.proto.collector.<signal>.v1.<Service>/Export`.
    const GRPC_PATH: &'static str;
    const GRPC_SOURCE: SourceKind;
    const HTTP_SOURCE: SourceKind;
    /// What its requests are recorded as in capture files (OTLP/JSON).
    const CAPTURE: WireFormat;

    /// Maps a whole export request with the limits.
    fn decode(request: &Self::Request, limits: &Limits) -> Result<Decoded, IngestError>;

    /// The answer to an export: `partial_success` (the count and summary of the rejected
    /// records) when some were rejected.
    fn response(rejected: Option<(i64, String)>) -> Self::Response;
}

/// OTLP logs: `LogsService/Export`, `POST /v1/logs`.
pub struct Logs;

impl Signal for Logs {
    type Request = ExportLogsServiceRequest;
    type Response = ExportLogsServiceResponse;
    const NAME: &'static str = "logs";
    const REQUEST: &'static str = "ExportLogsServiceRequest";
    const GRPC_PATH: &'static str = "/opentelemetry.proto.collector.logs.v1.LogsService/Export";
    const GRPC_SOURCE: SourceKind = SourceKind::OtlpGrpc;
    const HTTP_SOURCE: SourceKind = SourceKind::OtlpHttp;
    const CAPTURE: WireFormat = WireFormat::OtlpLogsJson;

    fn decode(request: &ExportLogsServiceRequest, limits: &Limits) -> Result<Decoded, IngestError> {
        decode_request(request, limits)
    }

    fn response(rejected: Option<(i64, String)>) -> ExportLogsServiceResponse {
        let partial_success = rejected.map(|(rejected_log_records, error_message)| {
            ExportLogsPartialSuccess { rejected_log_records, error_message }
        });
        ExportLogsServiceResponse { partial_success }
    }
}

/// The answer to an export of `decoded`, in the signal's message.
pub fn export_response<S: Signal>(decoded: &Decoded) -> S::Response {
    S::response(
        (!decoded.rejected.is_empty()).then(|| (decoded.rejected.len() as i64, decoded.rejection_summary())),
    )
}

/// What the gRPC and HTTP endpoints do with a request once it is read: decode it, record it
/// (as `json`, the body as received, when it came as OTLP/JSON) and hand it to the engine.
pub async fn export<S: Signal>(
    ingest: &Ingest,
    source: SourceKind,
    request: &S::Request,
    json: Option<String>,
) -> Result<Decoded, IngestError> {
    let mut decoded = S::decode(request, ingest.limits())?;
    let capture = match (ingest.recording(), json) {
        (false, _) => None,
        (true, Some(json)) => Some(CapturedBody { format: S::CAPTURE, json }),
        (true, None) => Some(CapturedBody { format: S::CAPTURE, json: to_json(request)? }),
    };
    ingest.submit(source, &mut decoded, capture).await?;
    Ok(decoded)
}

/// Decodes a protobuf request (gRPC, OTLP/HTTP); the error names the signal.
pub fn decode_protobuf<S: Signal>(bytes: impl bytes::Buf) -> Result<S::Request, IngestError> {
    <S::Request as prost::Message>::decode(bytes).map_err(|error| {
        IngestError::new(Reason::Malformed, format!("invalid OTLP protobuf {} request: {error}", S::NAME))
    })
}

/// Decodes a protobuf message of a Kafka topic, with the body for the capture file when
/// `record` (as OTLP/JSON, as the OTLP endpoints record protobuf).
pub fn decode_message<S: Signal>(
    payload: &[u8],
    limits: &Limits,
    record: bool,
) -> Result<(Decoded, Option<CapturedBody>), IngestError> {
    let request = <S::Request as prost::Message>::decode(payload).map_err(|error| {
        IngestError::new(Reason::Malformed, format!("not an OTLP {}: {error}", S::REQUEST))
    })?;
    let decoded = S::decode(&request, limits)?;
    let captured = match record {
        true => Some(CapturedBody { format: S::CAPTURE, json: to_json(&request)? }),
        false => None,
    };
    Ok((decoded, captured))
}

/// Decodes an OTLP/JSON body of the signal; the error names the signal.
pub fn parse<S: Signal>(body: &str) -> Result<S::Request, IngestError> {
    serde_json::from_str(body).map_err(|error| {
        IngestError::new(Reason::Malformed, format!("invalid OTLP/JSON {} request: {error}", S::NAME))
    })
}

/// Refuses a request of more records (`what`: log records, spans) than the limit, as a whole.
pub fn within_record_limit(total: usize, what: &str, limits: &Limits) -> Result<(), IngestError> {
    if total > limits.max_records_per_request {
        return Err(IngestError::new(
            Reason::TooManyRecords,
            format!("{total} {what} exceed the limit of {} per request", limits.max_records_per_request),
        ));
    }
    Ok(())
}

/// Maps a whole export request. Records that break the limits are rejected one by one.
pub fn decode_request(request: &ExportLogsServiceRequest, limits: &Limits) -> Result<Decoded, IngestError> {
    let total: usize = request
        .resource_logs
        .iter()
        .flat_map(|resource| &resource.scope_logs)
        .map(|scope| scope.log_records.len())
        .sum();
    within_record_limit(total, "log records", limits)?;
    let mut decoded = Decoded { events: Vec::with_capacity(total), rejected: Vec::new(), read: 0 };
    let mut index = 0usize;
    let mut placements = Vec::new();
    for resource_logs in &request.resource_logs {
        let resource_attributes: &[KeyValue] =
            resource_logs.resource.as_ref().map_or(&[], |resource| resource.attributes.as_slice());
        placements.extend(traces::placement(resource_attributes));
        for scope_logs in &resource_logs.scope_logs {
            for record in &scope_logs.log_records {
                match map_record(resource_attributes, record, limits) {
                    Ok(event) => decoded.events.push(event),
                    Err((reason, message)) => decoded.rejected.push(Rejection { index, reason, message }),
                }
                index += 1;
            }
        }
    }
    if !placements.is_empty() && !decoded.events.is_empty() {
        // Each once (a Collector's batch may carry one pod's resource many times).
        placements.sort_unstable();
        placements.dedup();
        decoded.events.push(Event::Inventory(InventoryFacts {
            source: FactSource::Logs,
            placements,
            edges: Vec::new(),
        }));
    }
    Ok(decoded)
}

fn map_record(
    resource_attributes: &[KeyValue],
    record: &OtlpLogRecord,
    limits: &Limits,
) -> Result<Event, (Reason, String)> {
    let time = EventTime::from_unix_nanos(record.time_unix_nano)
        .or_else(|| EventTime::from_unix_nanos(record.observed_time_unix_nano));
    let is_alert = record.attributes.iter().any(|attribute| attribute.key == ALERTNAME);
    let mut status = None;
    let mut builder = LabelsBuilder::with_capacity(resource_attributes.len() + record.attributes.len());
    for attribute in resource_attributes.iter().chain(&record.attributes) {
        if is_alert && attribute.key == ALERT_STATUS {
            status = Some(value_to_string(attribute.value.as_ref()));
            continue;
        }
        builder.push(attribute.key.as_str(), value_to_string(attribute.value.as_ref()));
    }
    if builder.len() > limits.max_labels {
        return Err((
            Reason::TooManyLabels,
            format!("{} attributes exceed the limit of {}", builder.len(), limits.max_labels),
        ));
    }
    let labels = builder.build();
    check_labels(&labels, limits, "attributes")?;
    let number_severity = Severity::from_otlp_number(record.severity_number);
    let body = record.body.as_ref().map(|body| value_to_string(Some(body))).unwrap_or_default();

    if body.len() > limits.max_annotation_value_bytes {
        return Err((
            Reason::LabelTooLong,
            format!(
                "body of {} bytes exceeds the limit of {}",
                body.len(),
                limits.max_annotation_value_bytes
            ),
        ));
    }

    if !is_alert {
        let severity = number_severity.or_else(|| Severity::parse(&record.severity_text));
        return Ok(Event::Log(LogRecord { time, severity, body: body.into_boxed_str(), attributes: labels }));
    }

    if labels.get(ALERTNAME).is_none_or(str::is_empty) {
        return Err((Reason::InvalidValue, "attribute `alertname` is empty".to_owned()));
    }
    let resolved = match status.as_deref() {
        None | Some("firing") => false,
        Some("resolved") => true,
        Some(other) => {
            return Err((
                Reason::InvalidValue,
                format!("invalid {ALERT_STATUS} {other:?}: expected \"firing\" or \"resolved\""),
            ));
        }
    };
    let severity = labels.get("severity").and_then(Severity::parse).or(number_severity);
    let mut annotations = LabelsBuilder::default();
    if !body.is_empty() {
        annotations.push("summary", body);
    }
    Ok(Event::Alert(Alert {
        labels,
        annotations: annotations.build(),
        starts_at: if resolved { None } else { time },
        ends_at: if resolved { time } else { None },
        resolved,
        expiry: Expiry::UntilResolved,
        severity,
        generator_url: None,
        external_key: None,
    }))
}

/// Renders an attribute value as a label string: strings as they are, scalars in their usual
/// text form, bytes as hex, arrays and maps as JSON-like text.
pub fn value_to_string(value: Option<&AnyValue>) -> String {
    let mut out = String::new();
    write_value(value.and_then(|value| value.value.as_ref()), &mut out);
    out
}

fn write_value(value: Option<&any_value::Value>, out: &mut String) {
    use std::fmt::Write;
    match value {
        // A string-table index only means something inside OTLP profiles, which carry no logs.
        None | Some(any_value::Value::StringValueStrindex(_)) => {}
        Some(any_value::Value::StringValue(text)) => out.push_str(text),
        Some(any_value::Value::BoolValue(flag)) => out.push_str(if *flag { "true" } else { "false" }),
        Some(any_value::Value::IntValue(number)) => {
            let _ = write!(out, "{number}");
        }
        Some(any_value::Value::DoubleValue(number)) => {
            let _ = write!(out, "{number}");
        }
        Some(any_value::Value::BytesValue(bytes)) => {
            for byte in bytes {
                let _ = write!(out, "{byte:02x}");
            }
        }
        Some(any_value::Value::ArrayValue(array)) => {
            out.push('[');
            for (index, item) in array.values.iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                write_value(item.value.as_ref(), out);
            }
            out.push(']');
        }
        Some(any_value::Value::KvlistValue(list)) => {
            out.push('{');
            for (index, pair) in list.values.iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                out.push_str(&pair.key);
                out.push('=');
                write_value(pair.value.as_ref().and_then(|value| value.value.as_ref()), out);
            }
            out.push('}');
        }
    }
}

/// Decodes an OTLP/JSON body (`ExportLogsServiceRequest`).
pub fn parse_json(body: &str) -> Result<ExportLogsServiceRequest, IngestError> {
    parse::<Logs>(body)
}

/// Renders a request as OTLP/JSON on one line, for the capture file.
pub fn to_json(request: &impl serde::Serialize) -> Result<String, IngestError> {
    serde_json::to_string(request).map_err(|error| {
        IngestError::new(Reason::Malformed, format!("cannot render request as OTLP/JSON: {error}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &str = r#"{"resourceLogs":[{"resource":{"attributes":[
        {"key":"service.name","value":{"stringValue":"cart"}},
        {"key":"k8s.namespace.name","value":{"stringValue":"shop"}}]},
      "scopeLogs":[{"logRecords":[
        {"timeUnixNano":"1793577604944210176","severityNumber":17,"body":{"stringValue":"boom"}},
        {"timeUnixNano":"1793577604944210176","severityNumber":21,"body":{"stringValue":"Redis is down"},
         "attributes":[{"key":"alertname","value":{"stringValue":"RedisDown"}},
                       {"key":"alert.status","value":{"stringValue":"resolved"}},
                       {"key":"replicas","value":{"intValue":"3"}}]},
        {"attributes":[{"key":"alertname","value":{"stringValue":"X"}},
                       {"key":"alert.status","value":{"stringValue":"sideways"}}]}
      ]}]}]}"#;

    #[test]
    fn maps_alerts_and_logs() {
        let limits = crate::ingest::test_limits();
        let request = parse_json(BODY).unwrap();
        let decoded = decode_request(&request, &limits).unwrap();
        assert_eq!(decoded.events.len(), 3, "a log, an alert and the resource's placement");
        assert_eq!(decoded.accepted(), 2);
        assert_eq!(decoded.rejected.len(), 1);
        assert_eq!(decoded.rejected[0].index, 2);
        assert!(decoded.rejected[0].message.contains("sideways"));
        let Event::Log(log) = &decoded.events[0] else { panic!("not a log") };
        assert_eq!(&*log.body, "boom");
        assert_eq!(log.severity, Some(Severity::Error));
        let Event::Alert(alert) = &decoded.events[1] else { panic!("not an alert") };
        assert!(alert.resolved);
        assert_eq!(alert.labels.get("service.name"), Some("cart"));
        assert_eq!(alert.labels.get("replicas"), Some("3"));
        assert_eq!(alert.labels.get(ALERT_STATUS), None);
        assert_eq!(alert.severity, Some(Severity::Critical));
        assert_eq!(alert.annotations.get("summary"), Some("Redis is down"));
        let Event::Inventory(facts) = &decoded.events[2] else { panic!("not inventory facts") };
        assert_eq!(facts.source, FactSource::Logs);
        let placed: Vec<(&str, Option<&str>)> = facts
            .placements
            .iter()
            .map(|placement| (&*placement.service, placement.namespace.as_deref()))
            .collect();
        assert_eq!(placed, [("cart", Some("shop"))]);
        // JSON round trip keeps the request equal, which replay relies on.
        assert_eq!(parse_json(&to_json(&request).unwrap()).unwrap(), request);
    }
}
