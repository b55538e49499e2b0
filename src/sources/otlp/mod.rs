//! OTLP logs ingest (gRPC and HTTP), and the mapping of OTLP log records to alerts and logs.
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

use super::check_labels;
use crate::ingest::{Decoded, IngestError, Limits, Reason, Rejection};
use noisegate_engine::model::{
    Alert, Event, EventTime, Expiry, FactSource, InventoryFacts, LabelsBuilder, LogRecord, Severity,
};

/// The attribute that marks a log record as an alert.
pub const ALERTNAME: &str = "alertname";
/// The attribute carrying an alert's state.
pub const ALERT_STATUS: &str = "alert.status";

/// Maps a whole export request. Records that break the limits are rejected one by one.
pub fn decode_request(request: &ExportLogsServiceRequest, limits: &Limits) -> Result<Decoded, IngestError> {
    let total: usize = request
        .resource_logs
        .iter()
        .flat_map(|resource| &resource.scope_logs)
        .map(|scope| scope.log_records.len())
        .sum();
    if total > limits.max_records_per_request {
        return Err(IngestError::new(
            Reason::TooManyRecords,
            format!("{total} log records exceed the limit of {} per request", limits.max_records_per_request),
        ));
    }
    let mut decoded = Decoded { events: Vec::with_capacity(total), rejected: Vec::new(), read: 0 };
    let mut index = 0usize;
    let mut placements = Vec::new();
    for resource_logs in &request.resource_logs {
        let resource_attributes: &[KeyValue] =
            resource_logs.resource.as_ref().map_or(&[], |resource| resource.attributes.as_slice());
        if let Some(placement) = traces::placement(resource_attributes)
            && !placements.contains(&placement)
        {
            placements.push(placement);
        }
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

/// The answer to an export: `partial_success` names the rejected records, if any.
pub fn export_response(decoded: &Decoded) -> ExportLogsServiceResponse {
    let partial_success = (!decoded.rejected.is_empty()).then(|| ExportLogsPartialSuccess {
        rejected_log_records: decoded.rejected.len() as i64,
        error_message: decoded.rejection_summary(),
    });
    ExportLogsServiceResponse { partial_success }
}

/// Decodes an OTLP/JSON body (`ExportLogsServiceRequest`).
pub fn parse_json(body: &str) -> Result<ExportLogsServiceRequest, IngestError> {
    serde_json::from_str(body).map_err(|error| {
        IngestError::new(Reason::Malformed, format!("invalid OTLP/JSON logs request: {error}"))
    })
}

/// Renders a request as OTLP/JSON on one line, for the capture file.
pub fn to_json(request: &ExportLogsServiceRequest) -> Result<String, IngestError> {
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
        assert_eq!(decoded.events.len(), 2);
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
        // JSON round trip keeps the request equal, which replay relies on.
        assert_eq!(parse_json(&to_json(&request).unwrap()).unwrap(), request);
    }
}
