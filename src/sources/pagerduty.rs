//! PagerDuty Events API v2 compatible ingest (`POST /v2/enqueue`, `POST /v2/change/enqueue`),
//! so any integration that pages PagerDuty can page noisegate instead by changing its URL.
//!
//! A trigger becomes an alert whose identity is its `dedup_key`; `acknowledge` and `resolve`
//! act on the alert with that key.

use serde::Deserialize;
use serde_json::Value;
use xxhash_rust::xxh3::xxh3_64;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use super::http::{HttpState, json_text, status_of, with_retry_after};
use super::{check_annotations, check_labels, single_line_json};
use crate::ingest::{CapturedBody, IngestError, Limits, Reason, SourceKind, WireFormat};
use noisegate_engine::model::{Alert, Event, Expiry, LabelsBuilder, Severity};

#[derive(Deserialize)]
struct EventBody {
    routing_key: Option<String>,
    event_action: Option<String>,
    dedup_key: Option<String>,
    payload: Option<Payload>,
    #[serde(default)]
    links: Vec<Link>,
}

#[derive(Deserialize)]
struct Payload {
    summary: Option<String>,
    source: Option<String>,
    severity: Option<String>,
    timestamp: Option<String>,
    component: Option<String>,
    group: Option<String>,
    class: Option<String>,
    custom_details: Option<Value>,
}

#[derive(Deserialize)]
struct Link {
    href: Option<String>,
}

#[derive(Deserialize)]
struct ChangeBody {
    routing_key: Option<String>,
    payload: Option<ChangePayload>,
}

#[derive(Deserialize)]
struct ChangePayload {
    summary: Option<String>,
}

/// A decoded event and the `dedup_key` to answer with.
#[derive(Debug)]
pub struct Decoded {
    pub event: Event,
    pub dedup_key: String,
}

/// PagerDuty caps summaries at 1024 characters.
const MAX_SUMMARY_BYTES: usize = 1024;

/// Decodes one Events API v2 event. PagerDuty answers a bad event with the list of what is
/// wrong; so does this.
pub fn decode_event(body: &str, limits: &Limits) -> Result<Decoded, IngestError> {
    let event: EventBody = serde_json::from_str(body).map_err(|error| {
        IngestError::new(Reason::Malformed, format!("body is not a PagerDuty event: {error}"))
    })?;
    let Some(routing_key) = event.routing_key.as_deref().filter(|key| !key.is_empty()) else {
        return Err(IngestError::new(Reason::MissingField, "missing field `routing_key`"));
    };
    let integration = integration(routing_key);
    let action = event
        .event_action
        .as_deref()
        .ok_or_else(|| IngestError::new(Reason::MissingField, "missing field `event_action`"))?;
    match action {
        "trigger" => decode_trigger(&integration, event, limits),
        "acknowledge" | "resolve" => {
            let key = event.dedup_key.filter(|key| !key.is_empty()).ok_or_else(|| {
                IngestError::new(Reason::MissingField, format!("`dedup_key` is required for {action}"))
            })?;
            let boxed = external_key(&integration, &key);
            let event =
                if action == "resolve" { Event::ResolveKey(boxed) } else { Event::AcknowledgeKey(boxed) };
            Ok(Decoded { event, dedup_key: key })
        }
        other => Err(IngestError::new(
            Reason::InvalidValue,
            format!("invalid event_action {other:?}: expected trigger, acknowledge or resolve"),
        )),
    }
}

fn decode_trigger(integration: &str, event: EventBody, limits: &Limits) -> Result<Decoded, IngestError> {
    let payload = event.payload.ok_or_else(|| {
        IngestError::new(Reason::MissingField, "missing field `payload` (required for trigger)")
    })?;
    let summary = required(payload.summary, "payload.summary")?;
    let source = required(payload.source, "payload.source")?;
    let severity_text = required(payload.severity, "payload.severity")?;
    let severity = match severity_text.as_str() {
        "critical" => Severity::Critical,
        "error" => Severity::Error,
        "warning" => Severity::Warning,
        "info" => Severity::Info,
        other => {
            return Err(IngestError::new(
                Reason::InvalidValue,
                format!("invalid payload.severity {other:?}: expected critical, error, warning or info"),
            ));
        }
    };
    let starts_at = match payload.timestamp.as_deref() {
        None | Some("") => None,
        Some(text) => noisegate_engine::model::EventTime::parse_rfc3339(text)
            .map_err(|error| IngestError::new(Reason::InvalidValue, format!("payload.timestamp: {error}")))?,
    };
    // Without a key PagerDuty makes one up; a key from the content makes re-sends deduplicate.
    let dedup_key = event.dedup_key.filter(|key| !key.is_empty()).unwrap_or_else(|| {
        let fields = [
            summary.as_str(),
            source.as_str(),
            severity.as_str(),
            payload.component.as_deref().unwrap_or(""),
            payload.group.as_deref().unwrap_or(""),
            payload.class.as_deref().unwrap_or(""),
        ];
        format!("{:016x}", xxh3_64(fields.join("\u{1f}").as_bytes()))
    });
    let summary = truncate(&summary, MAX_SUMMARY_BYTES);

    let mut labels = LabelsBuilder::with_capacity(8);
    let class = payload.class.filter(|class| !class.is_empty());
    labels.push("alertname", class.as_deref().unwrap_or(summary));
    labels.push("severity", severity.as_str());
    labels.push("source", source.as_str());
    labels.push("dedup_key", dedup_key.as_str());
    for (name, value) in [("component", &payload.component), ("group", &payload.group), ("class", &class)] {
        if let Some(value) = value.as_deref().filter(|value| !value.is_empty()) {
            labels.push(name, value);
        }
    }
    let labels = labels.build();
    check_labels(&labels, limits, "labels").map_err(|(reason, message)| IngestError::new(reason, message))?;

    let mut annotations = LabelsBuilder::default();
    annotations.push("summary", summary);
    if let Some(Value::Object(details)) = payload.custom_details {
        for (name, value) in details {
            let text = match value {
                Value::String(text) => text,
                other => other.to_string(),
            };
            annotations.push(name, text);
        }
    }
    let annotations = annotations.build();
    check_annotations(&annotations, limits).map_err(|(reason, message)| IngestError::new(reason, message))?;

    let generator_url = event.links.into_iter().find_map(|link| link.href).filter(|href| !href.is_empty());
    let alert = Alert {
        labels,
        annotations,
        starts_at,
        ends_at: None,
        resolved: false,
        expiry: Expiry::UntilResolved,
        severity: Some(severity),
        generator_url: generator_url.map(String::into_boxed_str),
        external_key: Some(external_key(integration, &dedup_key)),
    };
    Ok(Decoded { event: Event::Alert(alert), dedup_key })
}

/// Validates a change event; returns its summary. Change events are recorded, not paged.
pub fn decode_change(body: &str) -> Result<String, IngestError> {
    let change: ChangeBody = serde_json::from_str(body).map_err(|error| {
        IngestError::new(Reason::Malformed, format!("body is not a PagerDuty change event: {error}"))
    })?;
    if change.routing_key.as_deref().is_none_or(str::is_empty) {
        return Err(IngestError::new(Reason::MissingField, "missing field `routing_key`"));
    }
    let payload =
        change.payload.ok_or_else(|| IngestError::new(Reason::MissingField, "missing field `payload`"))?;
    required(payload.summary, "payload.summary")
}

/// `POST /v2/enqueue`: answers like PagerDuty (202 with the `dedup_key`, or 400 with errors).
pub async fn enqueue(State(state): State<HttpState>, headers: HeaderMap, body: Body) -> Response {
    let ingest = &state.ingest;
    let source = SourceKind::PagerDutyV2;
    ingest.metrics().received_request(source);
    let result = async {
        let text = json_text(&headers, body, ingest.limits()).await?;
        let decoded = decode_event(&text, ingest.limits())?;
        let capture = ingest
            .recording()
            .then(|| CapturedBody { format: WireFormat::PagerDutyV2, json: single_line_json(&text) });
        let mut batch = crate::ingest::Decoded { events: vec![decoded.event], rejected: Vec::new(), read: 0 };
        ingest.submit(source, &mut batch, capture).await?;
        Ok::<_, IngestError>(decoded.dedup_key)
    }
    .await;
    match result {
        Ok(dedup_key) => accepted(serde_json::json!({
            "status": "success",
            "message": "Event processed",
            "dedup_key": dedup_key,
        })),
        Err(error) => {
            ingest.reject(source, &error);
            invalid(&error)
        }
    }
}

/// `POST /v2/change/enqueue`: change events are validated, counted and logged; they never page.
pub async fn change_enqueue(State(state): State<HttpState>, headers: HeaderMap, body: Body) -> Response {
    let ingest = &state.ingest;
    let source = SourceKind::PagerDutyChange;
    ingest.metrics().received_request(source);
    let result = async {
        let text = json_text(&headers, body, ingest.limits()).await?;
        decode_change(&text)
    }
    .await;
    match result {
        Ok(summary) => {
            ingest.metrics().accepted_records(source, 1);
            tracing::info!(%summary, "change event recorded");
            accepted(serde_json::json!({ "status": "success", "message": "Change event processed" }))
        }
        Err(error) => {
            ingest.reject(source, &error);
            invalid(&error)
        }
    }
}

fn accepted(body: serde_json::Value) -> Response {
    (StatusCode::ACCEPTED, axum::Json(body)).into_response()
}

fn invalid(error: &IngestError) -> Response {
    let status = status_of(error.reason);
    let message =
        if status == StatusCode::BAD_REQUEST { "Event object is invalid" } else { "Request refused" };
    let body =
        serde_json::json!({ "status": "invalid event", "message": message, "errors": [error.message] });
    with_retry_after(error.reason, (status, axum::Json(body)).into_response())
}

/// A short, non-reversible name for the sender's integration key: PagerDuty keeps `dedup_key`s
/// apart per routing key, and so does noisegate, without storing the key itself.
fn integration(routing_key: &str) -> String {
    format!("{:08x}", xxh3_64(routing_key.as_bytes()) as u32)
}

/// The alert identity for the engine: the integration and the sender's `dedup_key`.
fn external_key(integration: &str, dedup_key: &str) -> Box<str> {
    format!("{integration}/{dedup_key}").into_boxed_str()
}

fn required(value: Option<String>, field: &str) -> Result<String, IngestError> {
    value
        .filter(|value| !value.is_empty())
        .ok_or_else(|| IngestError::new(Reason::MissingField, format!("missing field `{field}`")))
}

fn truncate(text: &str, max_bytes: usize) -> &str {
    if text.len() <= max_bytes {
        return text;
    }
    let mut end = max_bytes;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::test_limits;

    #[test]
    fn trigger_without_key_gets_a_stable_one() {
        let body = r#"{"routing_key":"k","event_action":"trigger","payload":{"summary":"disk full","source":"db-1","severity":"critical","custom_details":{"free":"1%","n":3}}}"#;
        let first = decode_event(body, &test_limits()).unwrap();
        let second = decode_event(body, &test_limits()).unwrap();
        assert_eq!(first.dedup_key, second.dedup_key);
        let Event::Alert(alert) = first.event else { panic!("not an alert") };
        assert_eq!(alert.labels.get("alertname"), Some("disk full"));
        assert_eq!(alert.annotations.get("n"), Some("3"));
        assert_eq!(alert.severity, Some(Severity::Critical));
    }

    #[test]
    fn identity_is_the_dedup_key_per_integration() {
        let trigger = |routing_key: &str, summary: &str| {
            let body = format!(
                r#"{{"routing_key":"{routing_key}","event_action":"trigger","dedup_key":"disk-1","payload":{{"summary":"{summary}","source":"db-1","severity":"error"}}}}"#
            );
            match decode_event(&body, &test_limits()).unwrap().event {
                Event::Alert(alert) => alert.external_key.unwrap(),
                other => panic!("not an alert: {other:?}"),
            }
        };
        assert_eq!(trigger("team-a", "disk 91%"), trigger("team-a", "disk 95%"));
        assert_ne!(trigger("team-a", "disk 91%"), trigger("team-b", "disk 91%"));
        let resolve = decode_event(
            r#"{"routing_key":"team-a","event_action":"resolve","dedup_key":"disk-1"}"#,
            &test_limits(),
        );
        assert_eq!(resolve.unwrap().event, Event::ResolveKey(trigger("team-a", "x")));
    }

    #[test]
    fn names_the_missing_field() {
        let error = decode_event(
            r#"{"routing_key":"k","event_action":"trigger","payload":{"summary":"x","severity":"critical"}}"#,
            &test_limits(),
        )
        .unwrap_err();
        assert_eq!(error.reason, Reason::MissingField);
        assert!(error.message.contains("payload.source"), "{}", error.message);
        let error =
            decode_event(r#"{"routing_key":"k","event_action":"resolve"}"#, &test_limits()).unwrap_err();
        assert!(error.message.contains("dedup_key"), "{}", error.message);
        let error =
            decode_event(r#"{"routing_key":"k","event_action":"explode"}"#, &test_limits()).unwrap_err();
        assert_eq!(error.reason, Reason::InvalidValue);
    }
}
