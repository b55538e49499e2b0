//! The HTTP listener: every HTTP ingest endpoint plus `/metrics`, `/healthz` and `/readyz`, and
//! the helpers the endpoints share (body limits, decompression, content types, error bodies).

use std::io::Read;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use flate2::read::GzDecoder;
use http_body_util::{BodyExt, Limited};

use super::{Ingest, require_utf8, single_line_json};
use super::{alertmanager, otlp, pagerduty, pagerduty_webhook};
use crate::auth::{self, Guard};
use crate::ingest::{CapturedBody, Decoded, IngestError, Limits, Reason, SourceKind, WireFormat};
use crate::secret::Secret;

#[derive(Clone)]
pub struct HttpState {
    pub ingest: Ingest,
    /// True while the engine runs and shutdown has not begun.
    pub ready: Arc<AtomicBool>,
    /// Signing secrets of the PagerDuty webhook.
    pub feedback_secrets: Arc<Vec<Secret>>,
    /// PagerDuty incident ids and their dedup keys, for responders' notes.
    pub incident_keys: Arc<super::pagerduty_webhook::IncidentKeys>,
}

/// The ingest endpoints answer 401 without a valid bearer token when `guard` has tokens; the
/// PagerDuty webhook authenticates by its signature, and health and metrics stay open.
pub fn router(state: HttpState, guard: Guard) -> Router {
    Router::new()
        .route("/v1/logs", post(otlp::http::receive::<otlp::Logs>))
        .route("/v1/traces", post(otlp::http::receive::<otlp::traces::Traces>))
        .route("/api/v2/alerts", post(alertmanager_v2))
        .route("/webhook/alertmanager", post(alertmanager_webhook))
        .route("/v2/enqueue", post(pagerduty::enqueue))
        .route("/v2/change/enqueue", post(pagerduty::change_enqueue))
        .route_layer(axum::middleware::from_fn_with_state(guard, auth::require))
        .route("/webhooks/pagerduty", post(pagerduty_webhook::receive))
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .with_state(state)
}

async fn metrics(State(state): State<HttpState>) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], state.ingest.metrics().render())
        .into_response()
}

async fn readyz(State(state): State<HttpState>) -> Response {
    if state.ready.load(Ordering::Relaxed) {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready\n").into_response()
    }
}

/// `POST /api/v2/alerts`, also served by the admin listener.
pub async fn alertmanager_v2(State(state): State<HttpState>, headers: HeaderMap, body: Body) -> Response {
    json_records(
        state,
        headers,
        body,
        SourceKind::AlertmanagerV2,
        WireFormat::AlertmanagerV2,
        alertmanager::decode_v2,
    )
    .await
}

async fn alertmanager_webhook(State(state): State<HttpState>, headers: HeaderMap, body: Body) -> Response {
    json_records(
        state,
        headers,
        body,
        SourceKind::AlertmanagerWebhook,
        WireFormat::AlertmanagerWebhook,
        alertmanager::decode_webhook,
    )
    .await
}

/// An endpoint whose body is JSON holding many records: 200 when all were accepted, 400 naming
/// the rejected ones otherwise (the good ones are accepted all the same).
async fn json_records(
    state: HttpState,
    headers: HeaderMap,
    body: Body,
    source: SourceKind,
    format: WireFormat,
    decode: fn(&str, &Limits) -> Result<Decoded, IngestError>,
) -> Response {
    let ingest = &state.ingest;
    ingest.metrics().received_request(source);
    let result = async {
        let text = json_text(&headers, body, ingest.limits()).await?;
        let mut decoded = decode(&text, ingest.limits())?;
        let capture = ingest.recording().then(|| CapturedBody { format, json: single_line_json(&text) });
        let accepted = decoded.accepted();
        ingest.submit(source, &mut decoded, capture).await?;
        Ok::<_, IngestError>((accepted, decoded))
    }
    .await;
    match result {
        Ok((_, decoded)) if decoded.rejected.is_empty() => StatusCode::OK.into_response(),
        Ok((accepted, decoded)) => {
            let reason = decoded.rejected[0].reason;
            let message = format!("{accepted} accepted, {}", decoded.rejection_summary());
            json_error(StatusCode::BAD_REQUEST, reason, &message)
        }
        Err(error) => {
            ingest.reject(source, &error);
            json_error(status_of(error.reason), error.reason, &error.message)
        }
    }
}

pub fn status_of(reason: Reason) -> StatusCode {
    StatusCode::from_u16(reason.http_status()).unwrap_or(StatusCode::BAD_REQUEST)
}

fn json_error(status: StatusCode, reason: Reason, message: &str) -> Response {
    let body = serde_json::json!({ "status": "error", "reason": reason.as_str(), "error": message });
    with_retry_after(reason, (status, axum::Json(body)).into_response())
}

/// Tells senders refused for load or shutdown when to come back (as the OTel Collector does).
pub fn with_retry_after(reason: Reason, mut response: Response) -> Response {
    if reason.retryable() {
        response.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
    }
    response
}

/// The request's media type, lowercased, without parameters.
pub fn media_type(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    Some(value.split(';').next().unwrap_or("").trim().to_ascii_lowercase())
}

/// Reads a JSON body as text. A missing content type is accepted (many senders omit it);
/// one that is not JSON is refused.
pub async fn json_text(headers: &HeaderMap, body: Body, limits: &Limits) -> Result<String, IngestError> {
    if let Some(media) = media_type(headers) {
        if media != "application/json" && !media.ends_with("+json") {
            return Err(IngestError::new(
                Reason::UnsupportedMediaType,
                format!("unsupported content type {media:?}: expected application/json"),
            ));
        }
    }
    let bytes = read_body(headers, body, limits).await?;
    require_utf8(&bytes).map(str::to_owned)
}

/// Reads the whole body within `max_body_bytes` (after decompression), undoing gzip.
pub async fn read_body(headers: &HeaderMap, body: Body, limits: &Limits) -> Result<Bytes, IngestError> {
    let limit = limits.max_body_bytes;
    let too_large = || IngestError::new(Reason::TooLarge, format!("body exceeds the limit of {limit} bytes"));
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<usize>().ok());
    if declared.is_some_and(|length| length > limit) {
        return Err(too_large());
    }
    let collected = tokio::time::timeout(limits.body_read_timeout, Limited::new(body, limit).collect()).await;
    let bytes = match collected {
        Ok(Ok(collected)) => collected.to_bytes(),
        Ok(Err(error)) if error.is::<http_body_util::LengthLimitError>() => return Err(too_large()),
        Ok(Err(error)) => {
            return Err(IngestError::new(Reason::Malformed, format!("cannot read body: {error}")));
        }
        Err(_) => {
            return Err(IngestError::new(
                Reason::Timeout,
                format!("body not received within {}ms", limits.body_read_timeout.as_millis()),
            ));
        }
    };
    let encoding = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|value| value.to_str().ok())
        .map(|value| value.trim().to_ascii_lowercase());
    match encoding.as_deref() {
        None | Some("identity") | Some("") => Ok(bytes),
        Some("gzip") | Some("x-gzip") => {
            let mut out = Vec::with_capacity(bytes.len().saturating_mul(4).min(limit));
            let mut decoder = GzDecoder::new(&bytes[..]).take(limit as u64 + 1);
            decoder.read_to_end(&mut out).map_err(|error| {
                IngestError::new(Reason::Malformed, format!("invalid gzip body: {error}"))
            })?;
            if out.len() > limit {
                return Err(too_large());
            }
            Ok(Bytes::from(out))
        }
        Some(other) => Err(IngestError::new(
            Reason::UnsupportedMediaType,
            format!("unsupported content encoding {other:?}: expected gzip or identity"),
        )),
    }
}
