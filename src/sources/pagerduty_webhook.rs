//! PagerDuty V3 webhooks (`POST /webhooks/pagerduty`): what responders did with the pages.
//! Every request must carry a valid `X-PagerDuty-Signature` (`v1=<hex HMAC-SHA256 of the body>`,
//! several comma-separated while a secret rotates) for one of `feedback.webhook_secrets`;
//! unsigned requests get 401, wrongly signed ones 403, and change nothing.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;

use super::http::{HttpState, read_body, status_of};
use crate::ingest::{Decoded, IngestError, Reason, SourceKind};
use crate::secret::Secret;
use noisegate_engine::model::{Event, EventTime, Feedback, FeedbackAction};

const SIGNATURE: &str = "x-pagerduty-signature";

#[derive(Deserialize)]
struct Envelope {
    event: Option<WebhookEvent>,
}

#[derive(Deserialize)]
struct WebhookEvent {
    event_type: Option<String>,
    occurred_at: Option<String>,
    data: Option<IncidentData>,
}

#[derive(Deserialize)]
struct IncidentData {
    incident_key: Option<String>,
}

/// Whether `header` carries a valid signature of `body` for one of `secrets`.
pub fn verify(secrets: &[Secret], header: &str, body: &[u8]) -> bool {
    header.split(',').filter_map(|part| part.trim().strip_prefix("v1=")).filter_map(decode_hex).any(
        |signature| {
            secrets.iter().any(|secret| {
                let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.expose().as_bytes()) else {
                    return false;
                };
                mac.update(body);
                // Constant-time comparison.
                mac.verify_slice(&signature).is_ok()
            })
        },
    )
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if text.len() % 2 != 0 {
        return None;
    }
    (0..text.len()).step_by(2).map(|index| u8::from_str_radix(text.get(index..index + 2)?, 16).ok()).collect()
}

/// The feedback a webhook event carries, if it is about an incident noisegate can name.
pub fn decode(body: &[u8]) -> Result<Option<Feedback>, IngestError> {
    decode_timed(body).map(|feedback| feedback.map(|(feedback, _)| feedback))
}

/// `decode`, with when PagerDuty says it happened (`occurred_at`, when it is a valid time).
pub fn decode_timed(body: &[u8]) -> Result<Option<(Feedback, Option<EventTime>)>, IngestError> {
    let envelope: Envelope = serde_json::from_slice(body).map_err(|error| {
        IngestError::new(Reason::Malformed, format!("not a PagerDuty webhook event: {error}"))
    })?;
    let event =
        envelope.event.ok_or_else(|| IngestError::new(Reason::MissingField, "missing field `event`"))?;
    let event_type = event
        .event_type
        .ok_or_else(|| IngestError::new(Reason::MissingField, "missing field `event.event_type`"))?;
    let action = match event_type.as_str() {
        "incident.acknowledged" => FeedbackAction::Acknowledged,
        "incident.reopened" => FeedbackAction::Reopened,
        "incident.escalated" => FeedbackAction::Escalated,
        "incident.resolved" => FeedbackAction::Resolved,
        // Other event types (pings, annotations, priority changes) say nothing noisegate uses.
        _ => return Ok(None),
    };
    let occurred_at = event
        .occurred_at
        .and_then(|text| text.parse::<jiff::Timestamp>().ok())
        .map(|time| EventTime::from_millis(time.as_millisecond()));
    let key = event.data.and_then(|data| data.incident_key).filter(|key| !key.is_empty());
    Ok(key.map(|key| (Feedback { dedup_key: key.into_boxed_str(), action }, occurred_at)))
}

pub async fn receive(State(state): State<HttpState>, headers: HeaderMap, body: Body) -> Response {
    let ingest = &state.ingest;
    let source = SourceKind::PagerDutyWebhook;
    ingest.metrics().received_request(source);
    let refuse = |status: StatusCode, reason: Reason, message: &str| {
        ingest.reject(source, &IngestError::new(reason, message));
        (status, axum::Json(serde_json::json!({ "status": "error", "error": message }))).into_response()
    };
    if state.feedback_secrets.is_empty() {
        return refuse(
            StatusCode::NOT_FOUND,
            Reason::Unauthenticated,
            "no feedback.webhook_secrets configured",
        );
    }
    let Some(signature) = headers.get(SIGNATURE).and_then(|value| value.to_str().ok()) else {
        return refuse(StatusCode::UNAUTHORIZED, Reason::Unauthenticated, "missing X-PagerDuty-Signature");
    };
    let bytes = match read_body(&headers, body, ingest.limits()).await {
        Ok(bytes) => bytes,
        Err(error) => {
            ingest.reject(source, &error);
            return (status_of(error.reason), error.message).into_response();
        }
    };
    if !verify(&state.feedback_secrets, signature, &bytes) {
        return refuse(StatusCode::FORBIDDEN, Reason::Unauthenticated, "invalid X-PagerDuty-Signature");
    }
    let (feedback, occurred_at) = match decode_timed(&bytes) {
        Ok(Some((feedback, occurred_at))) => (Some(feedback), occurred_at),
        Ok(None) => (None, None),
        Err(error) => {
            ingest.reject(source, &error);
            return (
                status_of(error.reason),
                axum::Json(serde_json::json!({ "status": "error", "error": error.message })),
            )
                .into_response();
        }
    };
    let mut decoded = Decoded {
        events: feedback.into_iter().map(Event::Feedback).collect(),
        rejected: Vec::new(),
        read: 0,
    };
    match ingest.submit_at(source, &mut decoded, None, occurred_at).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(error) => {
            ingest.reject(source, &error);
            (status_of(error.reason), error.message).into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sign(secret: &str, body: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(body);
        mac.finalize().into_bytes().iter().map(|byte| format!("{byte:02x}")).collect()
    }

    #[test]
    fn signatures_verify_for_any_current_secret() {
        let secrets = vec![Secret::new("new-secret".into()), Secret::new("old-secret".into())];
        let body = br#"{"event":{}}"#;
        assert!(verify(&secrets, &format!("v1={}", sign("old-secret", body)), body));
        assert!(verify(&secrets, &format!("v1=00ff, v1={}", sign("new-secret", body)), body));
        assert!(!verify(&secrets, &format!("v1={}", sign("stolen", body)), body));
        assert!(!verify(&secrets, &format!("v1={}", sign("new-secret", b"tampered")), body));
        assert!(!verify(&secrets, "v1=zz", body));
        assert!(!verify(&secrets, "", body));
    }

    #[test]
    fn incident_events_become_feedback() {
        let body = br#"{"event":{"id":"01","event_type":"incident.acknowledged","resource_type":"incident",
            "data":{"id":"Q1","type":"incident","incident_key":"noisegate-1","status":"acknowledged"}}}"#;
        let feedback = decode(body).unwrap().unwrap();
        assert_eq!(
            feedback,
            Feedback { dedup_key: "noisegate-1".into(), action: FeedbackAction::Acknowledged }
        );
        assert_eq!(decode(br#"{"event":{"event_type":"pagey.ping"}}"#).unwrap(), None);
        assert_eq!(decode(br#"{"nope":1}"#).unwrap_err().reason, Reason::MissingField);
    }
}
