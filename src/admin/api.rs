//! The admin listener: silences, incidents, feedback, the console's data, reload, and the
//! operations endpoints. Off the public interface by default (`server.admin_listen` is
//! 127.0.0.1).
//!
//! - `GET /api/v1/silences`: every silence (config, inventory windows, API) with its state.
//! - `POST /api/v1/silences`: `{"matchers": ["node=\"n1\""], "endsAt" | "duration", "startsAt"?,
//!   "comment"?, "createdBy"?}`; answers 201 `{"id": ...}`.
//! - `DELETE /api/v1/silences/{id}`: expires a silence created through the API.
//! - `GET /api/v1/incidents[/{id}]`: the open incidents, with their score, `why` and alerts.
//! - `GET /api/v1/feedback`: the history of alert kinds responders' feedback built.
//! - `GET /api/v1/oncall[?from&to&format=html]`, `GET /api/v1/oncall/incidents`: the on-call
//!   figures of a period (JSON, or the report's HTML) and the incident records.
//! - `GET /api/v1/inventory`: services (with the open incidents about each), nodes, pods and
//!   the calls between services, from the config and learned, with where each comes from.
//! - `GET /api/v1/stats`, `GET /api/v1/config`: the console's counters and the config in force
//!   (secrets redacted); the console itself at `/`.
//! - `POST /-/reload`: reads the config file again and applies it.
//! - `GET /metrics`, `/healthz`, `/readyz`.
//! - Alertmanager's API v2 (`/api/v2/...`): `super::alertmanager`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};
use xxhash_rust::xxh3::Xxh3;

use super::console;
use super::inventory::inventory_json;
use super::timeline::Timeline;
use crate::auth::{self, Guard};
use crate::config::parse_duration;
use crate::inbox::Input;
use crate::json::{LabelsObject, round};
use crate::kafka::control::Views;
use crate::metrics::Metrics;
use crate::oncall::schedule::Schedule;
use crate::reload::{ReloadError, Reloader};
use crate::sinks::decisions::why_items;
use crate::sinks::page::SimilarIncident;
use crate::sources::http::HttpState;
use crate::storage::IncidentStore;
use noisegate_engine::model::EventTime;
use noisegate_engine::silence::Silence;
use noisegate_engine::{Command, CommandError, IncidentSummary, Matcher, SilenceView};

#[derive(Clone)]
pub struct AdminState {
    pub engine: mpsc::Sender<Input>,
    pub metrics: Arc<Metrics>,
    pub ready: Arc<AtomicBool>,
    /// Silences created through this API so far: part of each new silence's id, so that two
    /// created in the same millisecond with the same matchers differ.
    pub silences_created: Arc<AtomicU64>,
    /// Present when the service knows where its config came from.
    pub reloader: Option<Arc<Reloader>>,
    /// The recent decisions about each incident.
    pub timeline: Arc<Timeline>,
    /// The text of the config in force.
    pub config_text: Arc<arc_swap::ArcSwap<String>>,
    /// When the service started.
    pub started: EventTime,
    /// The HTTP listener's ingest, for `POST /api/v2/alerts` here too.
    pub ingest: HttpState,
    /// The central layout: the partitions other replicas own, as they last published them.
    pub views: Option<Arc<Views>>,
    /// The incident records and the team's schedule, for the on-call report.
    pub oncall: Option<(IncidentStore, Schedule)>,
}

/// Everything but `/healthz` and `/readyz` answers 401 without a valid bearer token when `guard`
/// has tokens.
pub fn router(state: AdminState, guard: Guard) -> Router {
    Router::new()
        .route("/api/v1/silences", get(list_silences).post(create_silence))
        .route("/api/v1/silences/{id}", delete(expire_silence))
        .route("/api/v1/incidents", get(list_incidents))
        .route("/api/v1/incidents/{id}", get(get_incident))
        .route("/api/v1/feedback", get(feedback))
        .route("/api/v1/inventory", get(inventory))
        .route("/api/v1/oncall", get(oncall))
        .route("/api/v1/oncall/incidents", get(oncall_incidents))
        .route("/api/v1/stats", get(console::stats))
        .route("/api/v1/config", get(console::config))
        .route("/-/reload", post(reload))
        .merge(super::alertmanager::routes())
        .route("/metrics", get(metrics))
        .route_layer(axum::middleware::from_fn_with_state(guard, auth::require))
        .merge(console::files())
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .with_state(state)
}

async fn incidents(state: &AdminState) -> Result<Vec<IncidentSummary>, Response> {
    let (reply, answer) = oneshot::channel();
    if state.engine.send(Input::ListIncidents(reply)).await.is_err() {
        return Err(unavailable());
    }
    answer.await.map_err(|_| unavailable())
}

/// The open incidents of every engine here and, in the central layout, of every partition
/// other replicas own (each with its `partition`), newest first.
async fn list_incidents(State(state): State<AdminState>) -> Response {
    let incidents = match incidents(&state).await {
        Ok(incidents) => incidents,
        Err(response) => return response,
    };
    let mut listed: Vec<Value> = incidents.iter().map(|incident| incident_json(incident, false)).collect();
    for mut incident in remote_incidents(&state) {
        if let Some(fields) = incident.as_object_mut() {
            for detail in ["alerts", "timeline", "log_context", "similar"] {
                fields.remove(detail);
            }
        }
        listed.push(incident);
    }
    if state.views.is_some() {
        listed.sort_by(|left, right| {
            let opened = |incident: &Value| incident["opened_at"].as_str().unwrap_or_default().to_owned();
            opened(right).cmp(&opened(left))
        });
    }
    axum::Json(listed).into_response()
}

/// The incidents of the partitions other replicas own, as they last published them, each
/// with its `partition`.
fn remote_incidents(state: &AdminState) -> Vec<Value> {
    let Some(views) = &state.views else { return Vec::new() };
    let mut incidents = Vec::new();
    for (partition, view) in views.remote() {
        for incident in &view.incidents {
            let mut incident = incident.clone();
            // A view is the topic's content: anything but an object is left out.
            let Some(fields) = incident.as_object_mut() else { continue };
            fields.insert("partition".to_owned(), Value::from(partition.as_str()));
            incidents.push(incident);
        }
    }
    incidents
}

async fn get_incident(State(state): State<AdminState>, Path(id): Path<String>) -> Response {
    match incidents(&state).await {
        Ok(incidents) => match incidents.iter().find(|incident| *incident.dedup_key == *id) {
            Some(incident) => axum::Json(incident_detail(incident, &state.timeline)).into_response(),
            None => match remote_incidents(&state).into_iter().find(|incident| incident["id"] == *id) {
                Some(incident) => axum::Json(incident).into_response(),
                None => error(StatusCode::NOT_FOUND, format!("no open incident {id:?}")),
            },
        },
        Err(response) => response,
    }
}

/// An incident as the API shows it; `detailed` adds its alerts.
/// `GET /api/v1/incidents/{id}`'s answer: the incident with its alerts, its decisions and the
/// log lines around it.
pub fn incident_detail(incident: &IncidentSummary, timeline: &Timeline) -> Value {
    let mut body = incident_json(incident, true);
    body["timeline"] = json!(timeline.get(&incident.dedup_key));
    body["log_context"] = incident
        .log_context
        .iter()
        .map(|context| {
            json!({
                "service": context.service, "template": context.template, "lines": context.lines,
                "errors": context.errors, "first_seen": context.first_seen.to_string(),
            })
        })
        .collect();
    let similar: Vec<SimilarIncident<'_>> = incident.similar.iter().map(SimilarIncident::from).collect();
    body["similar"] = json!(similar);
    body
}

pub fn incident_json(incident: &IncidentSummary, detailed: bool) -> Value {
    let firing = incident.alerts.iter().filter(|(_, firing)| *firing).count();
    let mut value = json!({
        "id": &*incident.dedup_key,
        "group_labels": LabelsObject::new(&incident.group_labels),
        "opened_at": incident.opened_at.to_string(),
        "tier": incident.tier.as_str(),
        "on_pagerduty": incident.on_pagerduty,
        "score": round(incident.assessment.score),
        "why": why_items(&incident.assessment.why),
        "probable_cause": incident.root.as_ref().map(|root| json!({
            "entity": &*root.entity, "kind": &*root.kind,
            "alerts": root.alerts.iter().map(|name| &**name).collect::<Vec<_>>(),
        })),
        "firing": firing,
    });
    if detailed {
        value["alerts"] = incident
            .alerts
            .iter()
            .map(|(labels, firing)| json!({ "labels": LabelsObject::new(labels), "firing": firing }))
            .collect();
    }
    value
}

/// The inventory every engine here holds, merged, with the open incidents about each service.
async fn inventory(State(state): State<AdminState>) -> Response {
    let (reply, answer) = oneshot::channel();
    if state.engine.send(Input::Inventory(reply)).await.is_err() {
        return unavailable();
    }
    match answer.await {
        Ok((listing, incidents)) => axum::Json(inventory_json(&listing, &incidents)).into_response(),
        Err(_) => unavailable(),
    }
}

/// The history of alert kinds: episodes that resolved on their own, pages acted on.
async fn feedback(State(state): State<AdminState>) -> Response {
    let (reply, answer) = oneshot::channel();
    if state.engine.send(Input::History(reply)).await.is_err() {
        return unavailable();
    }
    let Ok(history) = answer.await else { return unavailable() };
    let mut kinds: Vec<(&Box<str>, &noisegate_engine::KindStats)> = history.kinds.iter().collect();
    kinds.sort_by(|left, right| left.0.cmp(right.0));
    let body: Vec<Value> = kinds
        .into_iter()
        .map(|(kind, stats)| {
            json!({
                "kind": &**kind,
                "episodes": stats.episodes,
                "self_resolved": stats.self_resolved,
                "acted": stats.acted,
                "untouched": stats.untouched,
                "mean_seconds_to_ack": (stats.acted > 0).then(|| round(stats.ack_seconds / stats.acted as f64)),
                "self_resolving": round(stats.self_resolving()),
                "acted_on": stats.acted_on().map(round),
            })
        })
        .collect();
    axum::Json(body).into_response()
}

/// The on-call figures of `from..to` (RFC 3339 times, or durations back from now: `from=7d`);
/// by default the last 7 days. With `format=html`, the report's HTML (the console shows it).
async fn oncall(State(state): State<AdminState>, RawQuery(query): RawQuery) -> Response {
    let html = form_urlencoded::parse(query.as_deref().unwrap_or_default().as_bytes())
        .any(|(name, value)| name == "format" && value == "html");
    let Some((store, schedule)) = state.oncall.clone() else {
        return error(StatusCode::NOT_FOUND, "this instance keeps no incident records");
    };
    let (from, to) = match period(query.as_deref()) {
        Ok(period) => period,
        Err(message) => return error(StatusCode::BAD_REQUEST, message),
    };
    let computed =
        tokio::task::spawn_blocking(move || crate::oncall::figures::from_store(&store, &schedule, from, to))
            .await;
    match computed {
        Ok(Ok(figures)) if html => (
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            crate::report::oncall::render(&figures, "On-call health"),
        )
            .into_response(),
        Ok(Ok(figures)) => axum::Json(figures).into_response(),
        Ok(Err(message)) => error(StatusCode::INTERNAL_SERVER_ERROR, message),
        Err(_) => unavailable(),
    }
}

/// The incident records of the incidents opened in `from..to` (as `/api/v1/oncall`), oldest
/// first.
async fn oncall_incidents(State(state): State<AdminState>, RawQuery(query): RawQuery) -> Response {
    let Some((store, _)) = state.oncall.clone() else {
        return error(StatusCode::NOT_FOUND, "this instance keeps no incident records");
    };
    let (from, to) = match period(query.as_deref()) {
        Ok(period) => period,
        Err(message) => return error(StatusCode::BAD_REQUEST, message),
    };
    match tokio::task::spawn_blocking(move || store.read(from, to)).await {
        Ok(Ok(values)) => axum::Json(
            values
                .iter()
                .filter_map(|value| crate::oncall::record::IncidentRecord::decode(value).ok())
                .collect::<Vec<_>>(),
        )
        .into_response(),
        Ok(Err(read_error)) => error(StatusCode::INTERNAL_SERVER_ERROR, read_error.to_string()),
        Err(_) => unavailable(),
    }
}

/// The `from` and `to` of a query; by default the 7 days up to now.
fn period(query: Option<&str>) -> Result<(i64, i64), String> {
    let (mut from, mut to) = (None, None);
    for (name, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        match &*name {
            "from" => from = Some(value),
            "to" => to = Some(value),
            _ => {}
        }
    }
    crate::oncall::figures::period(from.as_deref(), to.as_deref(), crate::clock::now().as_millis())
}

async fn reload(State(state): State<AdminState>) -> Response {
    let Some(reloader) = &state.reloader else {
        return error(StatusCode::CONFLICT, "this instance was not started from a config it can read again");
    };
    match reloader.reload().await {
        Ok(warnings) => axum::Json(json!({ "status": "success", "warnings": warnings })).into_response(),
        Err(ReloadError::Invalid(errors)) => {
            let errors: Vec<String> = errors.0.iter().map(ToString::to_string).collect();
            let body = json!({ "status": "error", "error": "invalid config, the old one stays in force", "errors": errors });
            (StatusCode::BAD_REQUEST, axum::Json(body)).into_response()
        }
        Err(ReloadError::Unavailable) => unavailable(),
    }
}

async fn metrics(State(state): State<AdminState>) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], state.metrics.render())
        .into_response()
}

async fn readyz(State(state): State<AdminState>) -> Response {
    if state.ready.load(Ordering::Relaxed) {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready\n").into_response()
    }
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, axum::Json(json!({ "status": "error", "error": message.into() }))).into_response()
}

pub(super) fn unavailable() -> Response {
    error(StatusCode::SERVICE_UNAVAILABLE, "noisegate is shutting down")
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct SilenceRequest {
    #[serde(default)]
    matchers: Vec<String>,
    starts_at: Option<String>,
    ends_at: Option<String>,
    duration: Option<String>,
    comment: Option<String>,
    created_by: Option<String>,
}

async fn create_silence(State(state): State<AdminState>, body: String) -> Response {
    let request: SilenceRequest = match serde_json::from_str(&body) {
        Ok(request) => request,
        Err(parse_error) => return error(StatusCode::BAD_REQUEST, format!("invalid silence: {parse_error}")),
    };
    let mut matchers = Vec::with_capacity(request.matchers.len());
    for (index, text) in request.matchers.iter().enumerate() {
        match Matcher::parse(text) {
            Ok(matcher) => matchers.push(matcher),
            Err(matcher_error) => {
                return error(StatusCode::BAD_REQUEST, format!("matchers[{index}]: {matcher_error}"));
            }
        }
    }
    let fields = SilenceFields {
        matchers,
        starts_at: request.starts_at.as_deref(),
        ends_at: request.ends_at.as_deref(),
        duration: request.duration.as_deref(),
        comment: request.comment.unwrap_or_default(),
        created_by: request.created_by.unwrap_or_else(|| "api".to_owned()),
    };
    let silence = match new_silence(&state, fields) {
        Ok(silence) => silence,
        Err(message) => return error(StatusCode::BAD_REQUEST, message),
    };
    match command(&state, Command::AddSilence(silence)).await {
        Ok(Ok(id)) => (StatusCode::CREATED, axum::Json(json!({ "id": &*id }))).into_response(),
        Ok(Err(command_error)) => error(StatusCode::CONFLICT, command_error.to_string()),
        Err(response) => response,
    }
}

/// A silence as a request describes it, before validation.
pub(super) struct SilenceFields<'a> {
    pub matchers: Vec<Matcher>,
    pub starts_at: Option<&'a str>,
    pub ends_at: Option<&'a str>,
    pub duration: Option<&'a str>,
    pub comment: String,
    pub created_by: String,
}

/// A new API silence from a request's fields, with a fresh id.
pub(super) fn new_silence(state: &AdminState, fields: SilenceFields<'_>) -> Result<Silence, String> {
    silence_from(fields, crate::clock::now(), state.silences_created.fetch_add(1, Ordering::Relaxed))
}

/// Sends a command to the engine; `Err` when the engine is gone.
pub(super) async fn command(
    state: &AdminState,
    command: Command,
) -> Result<Result<Arc<str>, CommandError>, Response> {
    let (reply, answer) = oneshot::channel();
    if state.engine.send(Input::Command(command, reply)).await.is_err() {
        return Err(unavailable());
    }
    answer.await.map_err(|_| unavailable())
}

fn silence_from(fields: SilenceFields<'_>, now: EventTime, created: u64) -> Result<Silence, String> {
    if fields.matchers.is_empty() {
        return Err("`matchers` must list at least one matcher".to_owned());
    }
    let time = |field: &str, text: &str| {
        EventTime::parse_rfc3339(text)
            .map_err(|time_error| format!("{field}: {time_error}"))?
            .ok_or_else(|| format!("{field}: must be after 1970"))
    };
    let starts_at = match fields.starts_at {
        Some(text) => time("startsAt", text)?,
        None => now,
    };
    let ends_at = match (fields.ends_at, fields.duration) {
        (Some(text), None) => time("endsAt", text)?,
        (None, Some(text)) => {
            starts_at.saturating_add(parse_duration(text).map_err(|message| format!("duration: {message}"))?)
        }
        (Some(_), Some(_)) => return Err("give `endsAt` or `duration`, not both".to_owned()),
        (None, None) => return Err("missing `endsAt` (or `duration`)".to_owned()),
    };
    if ends_at <= starts_at {
        return Err("endsAt must be after startsAt".to_owned());
    }
    if ends_at <= now {
        return Err("endsAt is in the past".to_owned());
    }
    let mut hasher = Xxh3::new();
    hasher.update(&now.as_millis().to_le_bytes());
    hasher.update(&created.to_le_bytes());
    for matcher in &fields.matchers {
        hasher.update(matcher.to_string().as_bytes());
    }
    Ok(Silence {
        id: Arc::from(format!("silence-{:016x}", hasher.digest())),
        matchers: fields.matchers,
        starts_at,
        ends_at: Some(ends_at),
        weekly: None,
        comment: Arc::from(fields.comment),
        created_by: Arc::from(fields.created_by),
    })
}

/// Every silence in force or to come, and those expired that the engine still holds.
pub(super) async fn silences(state: &AdminState) -> Result<Vec<SilenceView>, Response> {
    let (reply, answer) = oneshot::channel();
    if state.engine.send(Input::ListSilences(reply)).await.is_err() {
        return Err(unavailable());
    }
    answer.await.map_err(|_| unavailable())
}

async fn list_silences(State(state): State<AdminState>) -> Response {
    match silences(&state).await {
        Ok(silences) => axum::Json(silences.iter().map(silence_json).collect::<Vec<Value>>()).into_response(),
        Err(response) => response,
    }
}

/// `active`, `pending` (not in force yet, or outside its weekly window) or `expired`.
pub(super) fn silence_state(view: &SilenceView) -> &'static str {
    if view.active {
        "active"
    } else if view.silence.is_current(crate::clock::now()) {
        "pending"
    } else {
        "expired"
    }
}

fn silence_json(view: &SilenceView) -> Value {
    let silence = &view.silence;
    let state = silence_state(view);
    let weekly = silence.weekly.as_ref().map(|weekly| {
        const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
        let days: Vec<&str> =
            DAYS.iter().zip(weekly.days).filter(|(_, on)| *on).map(|(day, _)| *day).collect();
        let clock = |minute: u16| format!("{:02}:{:02}", minute / 60, minute % 60);
        json!({ "days": days, "from": clock(weekly.from_minute), "to": clock(weekly.to_minute) })
    });
    json!({
        "id": &*silence.id,
        "matchers": silence.matchers.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "startsAt": silence.starts_at.to_string(),
        "endsAt": silence.ends_at.map(|end| end.to_string()),
        "weekly": weekly,
        "comment": &*silence.comment,
        "createdBy": &*silence.created_by,
        "state": state,
        "expirable": view.dynamic,
    })
}

async fn expire_silence(State(state): State<AdminState>, Path(id): Path<String>) -> Response {
    match command(&state, Command::ExpireSilence(Arc::from(id))).await {
        Ok(Ok(id)) => axum::Json(json!({ "id": &*id, "state": "expired" })).into_response(),
        Ok(Err(command_error @ CommandError::UnknownSilence(_))) => {
            error(StatusCode::NOT_FOUND, command_error.to_string())
        }
        Ok(Err(command_error)) => error(StatusCode::CONFLICT, command_error.to_string()),
        Err(response) => response,
    }
}
