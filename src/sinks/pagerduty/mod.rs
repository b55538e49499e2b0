//! The PagerDuty sink: a page becomes one Events API v2 event (`POST <url>/v2/enqueue`), the
//! routing key's secret in its body. The only place that knows PagerDuty's JSON shape; the pages
//! file holds these events too (with the routing key's name).
//!
//! PagerDuty allows about 120 events a minute per routing key (the default rate limit is under
//! it) and refuses events over 512 KB: a larger one is cut (alerts from the end, then the log
//! context and evidence), never refused.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;
use serde_json::value::RawValue;

use super::page::{StoredLink, StoredPage};
use super::sink::{DeliveryConfig, Destination, PagesOutput, Request, Sink};
use crate::secret::Secret;

/// PagerDuty refuses events larger than this.
pub const MAX_EVENT_BYTES: usize = 512 * 1024;

#[derive(Debug, Clone)]
pub struct PagerDutyConfig {
    /// Base URL; events go to `<url>/v2/enqueue`.
    pub url: String,
    /// Routing keys by name; `None` when the key's source (an environment variable) is unset.
    pub routing_keys: BTreeMap<String, Option<Secret>>,
    /// Where pages go when their destination's key is not set.
    pub pages_file: PagesOutput,
    pub delivery: DeliveryConfig,
    /// Pages waiting for delivery (every sink's) before the engine has to wait.
    pub queue_capacity: usize,
    pub client_url: Option<String>,
    /// Where undeliverable pages go (every sink's); by default `dead-letter.jsonl` in the data
    /// directory.
    pub dead_letter_file: Option<std::path::PathBuf>,
}

pub struct PagerDuty {
    events_url: String,
    client_url: Option<String>,
}

impl PagerDuty {
    /// Adds a destination per routing key.
    pub fn register(config: &PagerDutyConfig, destinations: &mut BTreeMap<String, Destination>) {
        let sink = std::sync::Arc::new(PagerDuty {
            events_url: format!("{}/v2/enqueue", config.url.trim_end_matches('/')),
            client_url: config.client_url.clone(),
        });
        for (name, key) in &config.routing_keys {
            let destination = Destination { sink: sink.clone(), key: key.clone(), delivery: config.delivery };
            destinations.insert(name.clone(), destination);
        }
    }
}

impl Sink for PagerDuty {
    fn name(&self) -> &'static str {
        "pagerduty"
    }

    fn requests(&self, page: &StoredPage, key: Option<&Secret>) -> Result<Vec<Request>, String> {
        let routing_key = key.map_or(page.destination.as_str(), Secret::expose);
        let body = event(page, routing_key, self.client_url.as_deref())?;
        if body.len() > MAX_EVENT_BYTES {
            return Err(format!("event of {} bytes over PagerDuty's limit even when cut", body.len()));
        }
        Ok(vec![Request {
            method: reqwest::Method::POST,
            url: self.events_url.clone(),
            authorization: None,
            body,
        }])
    }
}

#[derive(Serialize)]
struct EventBody<'a> {
    routing_key: &'a str,
    event_action: &'static str,
    dedup_key: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    payload: Option<Payload<'a>>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    links: &'a [StoredLink],
    client: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_url: Option<&'a str>,
}

#[derive(Serialize)]
struct Payload<'a> {
    summary: &'a str,
    source: &'a str,
    severity: &'a str,
    timestamp: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    component: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    group: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    class: Option<&'a str>,
    custom_details: &'a RawValue,
}

/// The Events API v2 event for `page`, sent with `routing_key`, cut to PagerDuty's size limit.
pub fn event(page: &StoredPage, routing_key: &str, client_url: Option<&str>) -> Result<Vec<u8>, String> {
    let incident = page.incident.as_ref();
    let body = EventBody {
        routing_key,
        event_action: page.action.as_str(),
        dedup_key: &page.dedup_key,
        payload: incident.map(|incident| Payload {
            summary: &incident.summary,
            source: &incident.source,
            severity: &incident.severity,
            timestamp: &incident.timestamp,
            component: incident.component.as_deref(),
            group: incident.group.as_deref(),
            class: incident.class.as_deref(),
            custom_details: &incident.details,
        }),
        links: incident.map_or(&[], |incident| &incident.links),
        client: "noisegate",
        client_url,
    };
    let encoded = serde_json::to_vec(&body).map_err(|error| error.to_string())?;
    if encoded.len() <= MAX_EVENT_BYTES {
        return Ok(encoded);
    }
    let mut event: Value = serde_json::from_slice(&encoded).map_err(|error| error.to_string())?;
    fit(&mut event);
    serde_json::to_vec(&event).map_err(|error| error.to_string())
}

/// Cuts `custom_details` until the event fits: alerts from the end (counted in
/// `alerts_omitted`), then the log context and evidence, then everything but the counts.
fn fit(event: &mut Value) {
    let size = |event: &Value| serde_json::to_vec(event).map_or(usize::MAX, |bytes| bytes.len());
    while size(event) > MAX_EVENT_BYTES {
        let Some(details) = event.pointer_mut("/payload/custom_details").and_then(Value::as_object_mut)
        else {
            return;
        };
        let alerts = details.get_mut("alerts").and_then(Value::as_array_mut);
        if let Some(alerts) = alerts.filter(|alerts| !alerts.is_empty()) {
            let dropped = alerts.len().div_ceil(2);
            alerts.truncate(alerts.len() - dropped);
            let omitted = details.get("alerts_omitted").and_then(Value::as_u64).unwrap_or(0);
            details.insert("alerts_omitted".to_owned(), Value::from(omitted + dropped as u64));
            continue;
        }
        let extras = ["log_context", "evidence", "why", "entities", "tags", "group_labels", "probable_cause"];
        if let Some(extra) = extras.iter().find(|extra| details.contains_key(**extra)) {
            details.remove(*extra);
            continue;
        }
        // Nothing left to cut but the counts: keep them, and say the details were cut.
        details.retain(|key, _| matches!(key.as_str(), "firing" | "resolved" | "alerts_omitted" | "reason"));
        details.insert("truncated".to_owned(), Value::Bool(true));
        return;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_oversized_event_is_cut_to_the_limit_keeping_its_counts() {
        let alert = serde_json::json!({"labels": {"alertname": "X", "blob": "x".repeat(4000)}});
        let page = serde_json::json!({
            "action": "trigger",
            "dedup_key": "k",
            "destination": "default",
            "reason": "opened",
            "incident": {
                "summary": "s",
                "source": "src",
                "severity": "critical",
                "timestamp": "2026-11-01T00:00:00Z",
                "details": {
                    "alerts": vec![alert; 400],
                    "firing": 400,
                    "resolved": 0,
                    "reason": "opened",
                    "evidence": ["e".repeat(300_000)],
                },
            },
        });
        let page = StoredPage::parse(&page.to_string()).unwrap();
        let sink = PagerDuty { events_url: "http://pagerduty/v2/enqueue".to_owned(), client_url: None };
        let requests = sink.requests(&page, Some(&Secret::new("SECRET".to_owned()))).unwrap();
        let body = &requests[0].body;
        assert!(body.len() <= MAX_EVENT_BYTES);
        let sent: Value = serde_json::from_slice(body).unwrap();
        assert_eq!(sent["routing_key"], "SECRET");
        let details = &sent["payload"]["custom_details"];
        assert_eq!(details["firing"], 400);
        let listed = details["alerts"].as_array().map_or(0, Vec::len) as u64;
        assert_eq!(listed + details["alerts_omitted"].as_u64().unwrap(), 400);
        let shown = sink.requests(&page, None).unwrap();
        let shown: Value = serde_json::from_slice(&shown[0].body).unwrap();
        assert_eq!(shown["routing_key"], "default", "without the key: its name, never the secret");
    }

    #[test]
    fn an_outbox_written_by_an_earlier_version_delivers_the_same_events() {
        // Earlier outboxes hold the Events API body itself, the routing key's name in it.
        let trigger = r#"{"routing_key":"db-team","event_action":"trigger","dedup_key":"noisegate-7","payload":{"summary":"KubeNodeNotReady (node-3)","source":"node-3","severity":"warning","timestamp":"2026-11-01T00:00:00Z","class":"KubeNodeNotReady","custom_details":{"alerts":[],"firing":1,"resolved":0,"reason":"changed","tier":"page_high"}},"links":[{"href":"https://runbooks/x","text":"Runbook: KubeNodeNotReady"}],"client":"noisegate","client_url":"https://noisegate.example"}"#;
        let resolve = r#"{"routing_key":"db-team","event_action":"resolve","dedup_key":"noisegate-7","client":"noisegate"}"#;
        for (legacy, reason) in [(trigger, "changed"), (resolve, "resolved")] {
            let page = StoredPage::parse(legacy).unwrap();
            assert_eq!((page.destination.as_str(), page.reason.as_str()), ("db-team", reason));
            let client_url = legacy.contains("client_url").then_some("https://noisegate.example");
            let sent = event(&page, "db-team", client_url).unwrap();
            assert_eq!(std::str::from_utf8(&sent).unwrap(), legacy);
        }
    }
}
