//! PagerDuty V3 webhooks (`POST /webhooks/pagerduty`): what responders did with the pages.
//! Every request must carry a valid `X-PagerDuty-Signature` (`v1=<hex HMAC-SHA256 of the body>`,
//! several comma-separated while a secret rotates) for one of `feedback.webhook_secrets`;
//! unsigned requests get 401, wrongly signed ones 403, and change nothing.
//!
//! Incident events (`incident.acknowledged`, …) name the incident by our dedup key
//! (`incident_key`) and by PagerDuty's id; a note (`incident.annotated`) names it by PagerDuty's
//! id only. `IncidentKeys` remembers which id is which key from the incident events, so that a
//! responder's note reaches the incident it is about (and, when it ends, its memory).

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

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
use noisegate_engine::model::{Event, EventTime, Feedback, FeedbackAction, Note};

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
    /// PagerDuty's id of the incident (of an incident event), or of the note.
    id: Option<String>,
    incident_key: Option<String>,
    /// A note's text, and the incident it is on.
    content: Option<String>,
    incident: Option<IncidentReference>,
}

#[derive(Deserialize)]
struct IncidentReference {
    id: Option<String>,
}

/// What one webhook event says.
#[derive(Debug, PartialEq)]
pub enum Said {
    /// An incident event: what a responder did, if noisegate uses it, and which PagerDuty
    /// incident id is which dedup key.
    Incident {
        feedback: Option<Feedback>,
        ids: Option<(String, String)>,
    },
    /// A responder's note on the PagerDuty incident `incident`.
    Note {
        incident: String,
        text: String,
    },
    Nothing,
}

/// Which PagerDuty incident id is which dedup key, for the incidents seen lately.
#[derive(Default)]
pub struct IncidentKeys {
    keys: Mutex<(HashMap<String, String>, VecDeque<String>)>,
}

/// Incident ids `IncidentKeys` remembers (the oldest are forgotten first).
const MAX_INCIDENT_KEYS: usize = 20_000;

impl IncidentKeys {
    pub fn remember(&self, id: String, key: String) {
        let Ok(mut guard) = self.keys.lock() else { return };
        let (keys, order) = &mut *guard;
        if keys.insert(id.clone(), key).is_none() {
            order.push_back(id);
            if order.len() > MAX_INCIDENT_KEYS {
                if let Some(old) = order.pop_front() {
                    keys.remove(&old);
                }
            }
        }
    }

    pub fn key_of(&self, id: &str) -> Option<String> {
        self.keys.lock().ok()?.0.get(id).cloned()
    }
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
    decode_timed(body).map(|(said, _)| match said {
        Said::Incident { feedback, .. } => feedback,
        Said::Note { .. } | Said::Nothing => None,
    })
}

/// What a webhook event says, with when PagerDuty says it happened (`occurred_at`, when it is
/// a valid time).
pub fn decode_timed(body: &[u8]) -> Result<(Said, Option<EventTime>), IngestError> {
    let envelope: Envelope = serde_json::from_slice(body).map_err(|error| {
        IngestError::new(Reason::Malformed, format!("not a PagerDuty webhook event: {error}"))
    })?;
    let event =
        envelope.event.ok_or_else(|| IngestError::new(Reason::MissingField, "missing field `event`"))?;
    let event_type = event
        .event_type
        .ok_or_else(|| IngestError::new(Reason::MissingField, "missing field `event.event_type`"))?;
    let occurred_at = event
        .occurred_at
        .and_then(|text| text.parse::<jiff::Timestamp>().ok())
        .map(|time| EventTime::from_millis(time.as_millisecond()));
    let Some(data) = event.data else { return Ok((Said::Nothing, occurred_at)) };
    if event_type == "incident.annotated" {
        let incident = data.incident.and_then(|incident| incident.id).filter(|id| !id.is_empty());
        let text = data.content.filter(|text| !text.trim().is_empty());
        return Ok(match (incident, text) {
            (Some(incident), Some(text)) => (Said::Note { incident, text }, occurred_at),
            _ => (Said::Nothing, occurred_at),
        });
    }
    if !event_type.starts_with("incident.") {
        // Pings and service events say nothing noisegate uses.
        return Ok((Said::Nothing, occurred_at));
    }
    let action = match event_type.as_str() {
        "incident.acknowledged" => Some(FeedbackAction::Acknowledged),
        "incident.reopened" => Some(FeedbackAction::Reopened),
        "incident.escalated" => Some(FeedbackAction::Escalated),
        "incident.resolved" => Some(FeedbackAction::Resolved),
        // Other incident events (triggered, priority changes) only name the incident.
        _ => None,
    };
    let Some(key) = data.incident_key.filter(|key| !key.is_empty()) else {
        return Ok((Said::Nothing, occurred_at));
    };
    let ids = data.id.filter(|id| !id.is_empty()).map(|id| (id, key.clone()));
    let feedback = action.map(|action| Feedback { dedup_key: key.into_boxed_str(), action });
    Ok((Said::Incident { feedback, ids }, occurred_at))
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
    let (event, occurred_at) = match decode_timed(&bytes) {
        Ok((said, occurred_at)) => (said_event(&state.incident_keys, said), occurred_at),
        Err(error) => {
            ingest.reject(source, &error);
            return (
                status_of(error.reason),
                axum::Json(serde_json::json!({ "status": "error", "error": error.message })),
            )
                .into_response();
        }
    };
    let mut decoded = Decoded { events: event.into_iter().collect(), rejected: Vec::new(), read: 0 };
    match ingest.submit_at(source, &mut decoded, None, occurred_at).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(error) => {
            ingest.reject(source, &error);
            (status_of(error.reason), error.message).into_response()
        }
    }
}

/// The engine's event for what a webhook said: feedback, or a note on an incident whose dedup
/// key an earlier incident event named (a note on an incident noisegate cannot name is dropped).
fn said_event(keys: &IncidentKeys, said: Said) -> Option<Event> {
    match said {
        Said::Incident { feedback, ids } => {
            if let Some((id, key)) = ids {
                keys.remember(id, key);
            }
            feedback.map(Event::Feedback)
        }
        Said::Note { incident, text } => match keys.key_of(&incident) {
            Some(key) => {
                Some(Event::Note(Note { dedup_key: key.into_boxed_str(), text: text.into_boxed_str() }))
            }
            None => {
                tracing::debug!(%incident, "a note on a PagerDuty incident noisegate cannot name");
                None
            }
        },
        Said::Nothing => None,
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
        // A note names PagerDuty's incident id only: the key comes from an incident event.
        let keys = IncidentKeys::default();
        let note = br#"{"event":{"event_type":"incident.annotated","data":{"id":"N1","type":"incident_note",
            "content":"restarted the primary","incident":{"id":"Q1","type":"incident_reference"}}}}"#;
        let (said, _) = decode_timed(note).unwrap();
        assert_eq!(said, Said::Note { incident: "Q1".into(), text: "restarted the primary".into() });
        let (said_now, _) = decode_timed(note).unwrap();
        assert_eq!(said_event(&keys, said_now), None, "no key known yet");
        let (incident, _) = decode_timed(body).unwrap();
        assert!(said_event(&keys, incident).is_some());
        assert_eq!(
            said_event(&keys, said),
            Some(Event::Note(Note { dedup_key: "noisegate-1".into(), text: "restarted the primary".into() }))
        );
        assert_eq!(decode(br#"{"nope":1}"#).unwrap_err().reason, Reason::MissingField);
    }
}
