//! The web console, on the admin listener: a page and its script and style, compiled into the
//! binary (no network needed, no build step, no front-end dependency), and the two endpoints
//! only it needs beyond the admin API: live counters and the config in force.
//!
//! - `GET /` and `GET /console/`: the console (open incidents, an incident's alerts, log
//!   context and timeline, the inventory's dependency graph, nodes and pods, the on-call report
//!   of a period, silences, a live chart of alerts in and pages out, the config).
//! - `GET /api/v1/stats`: counters since the start (alert events in, pages out, ...).
//! - `GET /api/v1/config`: the config in force as YAML, secrets redacted.

use super::api::AdminState;
use crate::config::redact;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};

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
