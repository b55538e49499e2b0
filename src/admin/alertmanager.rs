//! Alertmanager's API v2 (`api/v2/openapi.yaml`), the parts its clients (`amtool`, Grafana)
//! read and write, answered from noisegate's own state on the admin listener.
//!
//! - `GET /api/v2/status`: cluster `ready` with no peers, noisegate's version, the config in
//!   force as YAML (secrets redacted), when the service started.
//! - `GET /api/v2/receivers`: every PagerDuty routing key and Opsgenie destination by name,
//!   and `digest`.
//! - `GET /api/v2/silences` (`filter`: matchers), `POST /api/v2/silences` (a postableSilence;
//!   one with an `id` expires that silence and creates its replacement),
//!   `GET`/`DELETE /api/v2/silence/{id}`: noisegate's silences, through the same engine
//!   commands as `/api/v1/silences`.
//! - `GET /api/v2/alerts` (`filter`, `active`, `silenced`, `inhibited`, `unprocessed`,
//!   `receiver`): the firing alerts every engine here holds, with what mutes each;
//!   `POST /api/v2/alerts`: the HTTP listener's endpoint, here too.
//! - `GET /api/v2/alerts/groups` (the same parameters but `unprocessed`): the alerts by
//!   incident, each group with its group labels and receiver.
//!
//! With `server.am_api_on_ingest`, the ingest listener serves the reading endpoints too
//! (`read_only`).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use serde_json::{Value, json};
use serde_yaml_ng::Value as Yaml;

use super::api::{self, AdminState, SilenceFields};
use crate::config::redact;

use crate::inbox::Input;
use crate::json::LabelsObject;
use crate::kafka::control::ViewAlert;
use noisegate_engine::model::Labels;
use noisegate_engine::{Command, CommandError, HeldAlert, MatchOp, Matcher, SilenceView};

/// The routes, behind the admin listener's auth.
pub fn routes() -> Router<AdminState> {
    Router::new()
        .route("/api/v2/status", get(status))
        .route("/api/v2/receivers", get(receivers))
        .route("/api/v2/alerts", get(list_alerts).post(post_alerts))
        .route("/api/v2/alerts/groups", get(alert_groups))
        .route("/api/v2/silences", get(list_silences).post(post_silence))
        .route("/api/v2/silence/{id}", get(get_silence).delete(delete_silence))
}

/// The reading routes, for the ingest listener (which keeps its own `POST /api/v2/alerts`),
/// behind that listener's auth.
pub fn read_only(state: AdminState, guard: crate::auth::Guard) -> Router {
    Router::new()
        .route("/api/v2/status", get(status))
        .route("/api/v2/receivers", get(receivers))
        .route("/api/v2/alerts", get(list_alerts))
        .route("/api/v2/alerts/groups", get(alert_groups))
        .route("/api/v2/silences", get(list_silences))
        .route("/api/v2/silence/{id}", get(get_silence))
        .route_layer(axum::middleware::from_fn_with_state(guard, crate::auth::require))
        .with_state(state)
}

/// Alertmanager answers its errors as a JSON string.
fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, axum::Json(Value::String(message.into()))).into_response()
}

async fn status(State(state): State<AdminState>) -> Response {
    let text = state.config_text.load();
    axum::Json(json!({
        "cluster": { "status": "ready", "peers": [] },
        "versionInfo": {
            "version": env!("CARGO_PKG_VERSION"),
            "revision": "n/a",
            "branch": "n/a",
            "buildUser": "n/a",
            "buildDate": "n/a",
            "goVersion": "n/a",
        },
        "config": { "original": redact(&text) },
        "uptime": state.started.to_string(),
    }))
    .into_response()
}

/// The destinations the config in force names (routing keys and Opsgenie API keys), and the
/// digest.
async fn receivers(State(state): State<AdminState>) -> Response {
    let text = state.config_text.load();
    let config: Yaml = serde_yaml_ng::from_str(&text).unwrap_or(Yaml::Null);
    let mut names: Vec<String> = [("pagerduty", "routing_keys"), ("opsgenie", "api_keys")]
        .iter()
        .filter_map(|(sink, field)| config.get(sink)?.get(field)?.as_mapping())
        .flat_map(|mapping| mapping.keys().filter_map(|key| key.as_str().map(str::to_owned)))
        .collect();
    names.push("digest".to_owned());
    axum::Json(names.into_iter().map(|name| json!({ "name": name })).collect::<Vec<Value>>()).into_response()
}

/// The `filter` parameters of a query, each an Alertmanager matcher.
fn filters(query: Option<&str>) -> Result<Vec<Matcher>, String> {
    let query = query.unwrap_or_default();
    form_urlencoded::parse(query.as_bytes())
        .filter(|(name, _)| name == "filter")
        .map(|(_, text)| {
            Matcher::parse(&text).map_err(|matcher_error| format!("bad matcher: {matcher_error}"))
        })
        .collect()
}

async fn post_alerts(State(state): State<AdminState>, headers: HeaderMap, body: Body) -> Response {
    crate::sources::http::alertmanager_v2(State(state.ingest.clone()), headers, body).await
}

/// What `GET /api/v2/alerts` selects.
struct AlertQuery {
    filters: Vec<Matcher>,
    active: bool,
    silenced: bool,
    inhibited: bool,
    receiver: Option<regex::Regex>,
}

impl AlertQuery {
    /// The query's selection, or what is wrong with it.
    fn parse(query: Option<&str>) -> Result<AlertQuery, String> {
        let mut selected = AlertQuery {
            filters: filters(query)?,
            active: true,
            silenced: true,
            inhibited: true,
            receiver: None,
        };
        for (name, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
            let flag = match &*name {
                "active" => &mut selected.active,
                "silenced" => &mut selected.silenced,
                "inhibited" => &mut selected.inhibited,
                // Nothing is ever unprocessed here: alerts are in the engine once accepted.
                "unprocessed" => {
                    boolean(&name, &value)?;
                    continue;
                }
                "receiver" => {
                    let regex = regex::Regex::new(&format!("^(?:{value})$"))
                        .map_err(|regex_error| format!("bad receiver regex: {regex_error}"))?;
                    selected.receiver = Some(regex);
                    continue;
                }
                _ => continue,
            };
            *flag = boolean(&name, &value)?;
        }
        Ok(selected)
    }

    /// Whether the query selects a gettableAlert (this replica's, or another's).
    fn selects(&self, alert: &Value) -> bool {
        let listed = |field: &str| alert["status"][field].as_array().is_some_and(|items| !items.is_empty());
        let muted = alert["status"]["state"] == "suppressed";
        let receiver = alert["receivers"][0]["name"].as_str().unwrap_or_default();
        let labels = alert["labels"].as_object().map_or_else(Labels::default, |labels| {
            Labels::from_pairs(labels.iter().map(|(name, value)| (name, value.as_str().unwrap_or_default())))
        });
        (self.active || muted)
            && (self.silenced || !listed("silencedBy"))
            && (self.inhibited || !listed("inhibitedBy"))
            && self.receiver.as_ref().is_none_or(|regex| regex.is_match(receiver))
            && self.filters.iter().all(|filter| filter.matches(&labels))
    }
}

fn boolean(name: &str, value: &str) -> Result<bool, String> {
    match value {
        "true" => Ok(true),
        "false" => Ok(false),
        other => Err(format!("{name}: not a boolean: {other:?}")),
    }
}

fn receiver(alert: &HeldAlert) -> &str {
    if alert.digest { "digest" } else { &alert.routing_key }
}

/// An alert as views carry it: its gettableAlert and its group's labels.
pub fn view_alert(alert: &HeldAlert) -> ViewAlert {
    ViewAlert {
        alert: alert_json(alert),
        group_labels: alert
            .group_labels
            .iter()
            .map(|(name, value)| (name.to_owned(), value.to_owned()))
            .collect(),
    }
}

/// A gettableAlert.
fn alert_json(alert: &HeldAlert) -> Value {
    let starts_at = alert.starts_at.to_string();
    json!({
        "labels": LabelsObject::new(&alert.labels),
        "annotations": LabelsObject::new(&alert.annotations),
        "startsAt": starts_at,
        // Go's zero time, as Alertmanager's clients read "no end given".
        "endsAt": alert.ends_at.map_or_else(|| "0001-01-01T00:00:00Z".to_owned(), |end| end.to_string()),
        "updatedAt": starts_at,
        "generatorURL": alert.generator_url.as_deref().unwrap_or_default(),
        "fingerprint": format!("{:016x}", alert.fingerprint),
        "status": {
            "state": if alert.muted { "suppressed" } else { "active" },
            "silencedBy": alert.silenced_by.iter().map(|id| &**id).collect::<Vec<_>>(),
            "inhibitedBy": alert.inhibited_by.iter().map(|source| format!("{source:016x}")).collect::<Vec<_>>(),
        },
        "receivers": [{ "name": receiver(alert) }],
    })
}

/// The alerts the query selects, or the error to answer.
/// The alerts the query selects, of every engine here and, in the central layout, of the
/// partitions other replicas own (as they last published them); or the error to answer.
async fn selected_alerts(state: &AdminState, query: Option<&str>) -> Result<Vec<ViewAlert>, Response> {
    let selected = AlertQuery::parse(query).map_err(|message| error(StatusCode::BAD_REQUEST, message))?;
    let (reply, answer) = tokio::sync::oneshot::channel();
    if state.engine.send(Input::ListAlerts(reply)).await.is_err() {
        return Err(api::unavailable());
    }
    let held = answer.await.map_err(|_| api::unavailable())?;
    let mut alerts: Vec<ViewAlert> =
        held.iter().map(view_alert).filter(|alert| selected.selects(&alert.alert)).collect();
    if let Some(views) = &state.views {
        for (_, view) in views.remote() {
            alerts.extend(view.alerts.iter().filter(|alert| selected.selects(&alert.alert)).cloned());
        }
    }
    Ok(alerts)
}

async fn list_alerts(State(state): State<AdminState>, RawQuery(query): RawQuery) -> Response {
    match selected_alerts(&state, query.as_deref()).await {
        Ok(alerts) => {
            axum::Json(alerts.into_iter().map(|alert| alert.alert).collect::<Vec<Value>>()).into_response()
        }
        Err(response) => response,
    }
}

/// alertGroups: one group per incident (or per group still waiting to decide) and receiver,
/// in the order of their labels.
async fn alert_groups(State(state): State<AdminState>, RawQuery(query): RawQuery) -> Response {
    let alerts = match selected_alerts(&state, query.as_deref()).await {
        Ok(alerts) => alerts,
        Err(response) => return response,
    };
    type Key = (BTreeMap<String, String>, String);
    let mut groups: BTreeMap<Key, Vec<Value>> = BTreeMap::new();
    for ViewAlert { alert, group_labels } in alerts {
        let receiver = alert["receivers"][0]["name"].as_str().unwrap_or_default().to_owned();
        groups.entry((group_labels, receiver)).or_default().push(alert);
    }
    axum::Json(
        groups
            .into_iter()
            .map(|((labels, receiver), alerts)| {
                json!({ "labels": labels, "receiver": { "name": receiver }, "alerts": alerts })
            })
            .collect::<Vec<Value>>(),
    )
    .into_response()
}

/// A gettableSilence.
fn silence_json(view: &SilenceView) -> Value {
    let silence = &view.silence;
    let matchers: Vec<Value> = silence
        .matchers
        .iter()
        .map(|matcher| {
            let (is_regex, is_equal) = match matcher.op() {
                MatchOp::Equal => (false, true),
                MatchOp::NotEqual => (false, false),
                MatchOp::Regex => (true, true),
                MatchOp::NotRegex => (true, false),
            };
            json!({ "name": matcher.name(), "value": matcher.value(), "isRegex": is_regex, "isEqual": is_equal })
        })
        .collect();
    let starts_at = silence.starts_at.to_string();
    json!({
        "id": &*silence.id,
        "status": { "state": api::silence_state(view) },
        "updatedAt": starts_at,
        "matchers": matchers,
        "startsAt": starts_at,
        // A silence without an end (a weekly window from the config) shows a far end.
        "endsAt": silence.ends_at.map_or_else(|| "9999-12-31T23:59:59Z".to_owned(), |end| end.to_string()),
        "createdBy": &*silence.created_by,
        "comment": &*silence.comment,
    })
}

/// As Alertmanager: a silence passes the filters when its equality matchers, read as labels,
/// satisfy every one.
fn passes(view: &SilenceView, filters: &[Matcher]) -> bool {
    let labels = Labels::from_pairs(
        view.silence
            .matchers
            .iter()
            .filter(|matcher| matcher.op() == MatchOp::Equal)
            .map(|matcher| (matcher.name(), matcher.value())),
    );
    filters.iter().all(|filter| filter.matches(&labels))
}

async fn list_silences(State(state): State<AdminState>, RawQuery(query): RawQuery) -> Response {
    let filters = match filters(query.as_deref()) {
        Ok(filters) => filters,
        Err(message) => return error(StatusCode::BAD_REQUEST, message),
    };
    match api::silences(&state).await {
        Ok(silences) => axum::Json(
            silences.iter().filter(|view| passes(view, &filters)).map(silence_json).collect::<Vec<Value>>(),
        )
        .into_response(),
        Err(response) => response,
    }
}

async fn get_silence(State(state): State<AdminState>, Path(id): Path<String>) -> Response {
    match api::silences(&state).await {
        Ok(silences) => match silences.iter().find(|view| *view.silence.id == *id) {
            Some(view) => axum::Json(silence_json(view)).into_response(),
            None => error(StatusCode::NOT_FOUND, format!("no silence {id:?}")),
        },
        Err(response) => response,
    }
}

async fn delete_silence(State(state): State<AdminState>, Path(id): Path<String>) -> Response {
    match api::command(&state, Command::ExpireSilence(Arc::from(id))).await {
        Ok(Ok(_)) => StatusCode::OK.into_response(),
        Ok(Err(command_error @ CommandError::UnknownSilence(_))) => {
            error(StatusCode::NOT_FOUND, command_error.to_string())
        }
        Ok(Err(command_error)) => error(StatusCode::BAD_REQUEST, command_error.to_string()),
        Err(response) => response,
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PostableSilence {
    id: Option<String>,
    matchers: Vec<PostableMatcher>,
    starts_at: String,
    ends_at: String,
    created_by: String,
    comment: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PostableMatcher {
    name: String,
    value: String,
    is_regex: bool,
    #[serde(default = "equal")]
    is_equal: bool,
}

fn equal() -> bool {
    true
}

/// Creates a silence; with an `id`, replaces that silence: noisegate's silences do not change
/// once created, so the old one is expired and the new one has a new id.
async fn post_silence(State(state): State<AdminState>, body: String) -> Response {
    let request: PostableSilence = match serde_json::from_str(&body) {
        Ok(request) => request,
        Err(parse_error) => return error(StatusCode::BAD_REQUEST, format!("invalid silence: {parse_error}")),
    };
    let mut matchers = Vec::with_capacity(request.matchers.len());
    for (index, matcher) in request.matchers.iter().enumerate() {
        let op = match (matcher.is_regex, matcher.is_equal) {
            (false, true) => MatchOp::Equal,
            (false, false) => MatchOp::NotEqual,
            (true, true) => MatchOp::Regex,
            (true, false) => MatchOp::NotRegex,
        };
        match Matcher::new(&matcher.name, op, &matcher.value) {
            Ok(matcher) => matchers.push(matcher),
            Err(matcher_error) => {
                return error(StatusCode::BAD_REQUEST, format!("matchers[{index}]: {matcher_error}"));
            }
        }
    }
    let fields = SilenceFields {
        matchers,
        starts_at: Some(&request.starts_at),
        ends_at: Some(&request.ends_at),
        duration: None,
        comment: request.comment,
        created_by: request.created_by,
    };
    let silence = match api::new_silence(&state, fields) {
        Ok(silence) => silence,
        Err(message) => return error(StatusCode::BAD_REQUEST, message),
    };
    if let Some(old) = request.id.filter(|id| !id.is_empty()) {
        match api::command(&state, Command::ExpireSilence(Arc::from(old))).await {
            Ok(Ok(_)) => {}
            Ok(Err(command_error @ CommandError::UnknownSilence(_))) => {
                return error(StatusCode::NOT_FOUND, command_error.to_string());
            }
            Ok(Err(command_error)) => return error(StatusCode::BAD_REQUEST, command_error.to_string()),
            Err(response) => return response,
        }
    }
    match api::command(&state, Command::AddSilence(silence)).await {
        Ok(Ok(id)) => axum::Json(json!({ "silenceID": &*id })).into_response(),
        Ok(Err(command_error)) => error(StatusCode::BAD_REQUEST, command_error.to_string()),
        Err(response) => response,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_read_a_silence_s_equality_matchers_as_labels() {
        let silence = noisegate_engine::silence::Silence {
            id: Arc::from("s"),
            matchers: vec![
                Matcher::parse("alertname=\"Disk\"").unwrap(),
                Matcher::parse("node=~\"db-.*\"").unwrap(),
            ],
            starts_at: noisegate_engine::model::EventTime::from_millis(0),
            ends_at: None,
            weekly: None,
            comment: Arc::from(""),
            created_by: Arc::from(""),
        };
        let view = SilenceView { silence, active: true, dynamic: true };
        assert!(passes(&view, &[Matcher::parse("alertname=\"Disk\"").unwrap()]));
        assert!(!passes(&view, &[Matcher::parse("alertname=\"Cpu\"").unwrap()]));
        assert!(!passes(&view, &[Matcher::parse("node=\"db-1\"").unwrap()]), "a regex matcher is no label");
        assert!(passes(&view, &[]));
    }
}
