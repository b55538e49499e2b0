//! The web console, on the admin listener: a page and its script and style, compiled into the
//! binary (no network needed, no build step, no front-end dependency), and the two endpoints
//! only it needs beyond the admin API: live counters and the config in force.
//!
//! - `GET /` and `GET /console/`: the console (open incidents, an incident's alerts, log
//!   context and timeline, the inventory's dependency graph, nodes and pods, the on-call report
//!   of a period, silences, a live chart of alerts in and pages out, the config).
//! - `GET /api/v1/stats`: counters since the start (alert events in, pages out, ...).
//! - `GET /api/v1/config`: the config in force as YAML, secrets redacted.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};
use serde_yaml_ng::Value;

use super::api::AdminState;

const INDEX: &str = include_str!("console/index.html");
const SCRIPT: &str = include_str!("console/app.js");
const STYLE: &str = include_str!("console/style.css");

/// The console's files; served without a token (they hold no data: the script asks for one
/// when the API wants it).
pub fn files() -> axum::Router<AdminState> {
    axum::Router::new()
        .route("/", axum::routing::get(|| async { Redirect::to("/console/") }))
        .route("/console/", axum::routing::get(|| async { asset("text/html; charset=utf-8", INDEX) }))
        .route(
            "/console/app.js",
            axum::routing::get(|| async { asset("text/javascript; charset=utf-8", SCRIPT) }),
        )
        .route("/console/style.css", axum::routing::get(|| async { asset("text/css; charset=utf-8", STYLE) }))
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
            (header::HeaderName::from_static("x-content-type-options"), "nosniff"),
        ],
        body,
    )
        .into_response()
}

pub async fn stats(State(state): State<AdminState>) -> Response {
    axum::Json(state.metrics.console()).into_response()
}

pub async fn config(State(state): State<AdminState>) -> Response {
    let text = state.config_text.load();
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], redact(&text)).into_response()
}

/// The config with every secret value replaced: `value:` of a secret (`{env|file|value}`),
/// and Kafka properties whose name says password, secret or token.
pub fn redact(text: &str) -> String {
    if text.trim().is_empty() {
        return "# (empty: every setting at its default)\n".to_owned();
    }
    let Ok(mut value) = serde_yaml_ng::from_str::<Value>(text) else {
        return "# (cannot be shown)\n".to_owned();
    };
    hide(&mut value, false);
    serde_yaml_ng::to_string(&value).unwrap_or_else(|_| "# (cannot be shown)\n".to_owned())
}

fn hide(value: &mut Value, sensitive_names: bool) {
    match value {
        Value::Mapping(mapping) => {
            let secret = mapping.contains_key("value")
                && mapping
                    .keys()
                    .all(|key| matches!(key.as_str(), Some("env" | "file" | "value" | "expires")));
            for (key, entry) in mapping.iter_mut() {
                let name = key.as_str().unwrap_or_default();
                let lowered = name.to_ascii_lowercase();
                if (secret && name == "value")
                    || (sensitive_names
                        && ["password", "secret", "token", "key"].iter().any(|word| lowered.contains(word)))
                {
                    *entry = Value::String("<redacted>".to_owned());
                } else {
                    hide(entry, sensitive_names || name == "properties");
                }
            }
        }
        Value::Sequence(items) => items.iter_mut().for_each(|item| hide(item, sensitive_names)),
        Value::Tagged(tagged) => hide(&mut tagged.value, sensitive_names),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_redacted_and_the_rest_kept() {
        let text = "pagerduty:\n  routing_keys:\n    default: {value: R0UT1NG}\n    team: {env: TEAM_KEY}\n\
                    opsgenie:\n  api_keys:\n    ops: {value: G3N1EKEY}\n\
                    auth:\n  admin_tokens: [{value: t0ken, expires: '2030-01-01T00:00:00Z'}]\n\
                    kafka:\n  brokers: k:9092\n  properties: {sasl.password: hunter2, security.protocol: SASL_SSL}\n\
                    route: {group_wait: 30s}\n";
        let shown = redact(text);
        for secret in ["R0UT1NG", "G3N1EKEY", "t0ken", "hunter2"] {
            assert!(!shown.contains(secret), "{shown}");
        }
        for kept in ["TEAM_KEY", "SASL_SSL", "group_wait: 30s", "k:9092", "2030-01-01"] {
            assert!(shown.contains(kept), "{kept} missing from {shown}");
        }
    }
}
