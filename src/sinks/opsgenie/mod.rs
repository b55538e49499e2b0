//! The Opsgenie sink: pages become Alert API v2 requests, the API key in the `Authorization:
//! GenieKey` header. The incident's dedup key is the alert's `alias`, so Opsgenie deduplicates
//! as PagerDuty does on its dedup key:
//!
//! - a trigger that opens an incident creates the alert (`POST /v2/alerts`), its priority from
//!   the tier (`opsgenie.priority`);
//! - an update (changed, repeat) creates it again (an open alert with the alias only counts
//!   up; one a responder closed is opened anew, as a PagerDuty trigger would), adds a note
//!   saying what changed and sets the priority the tier now has;
//! - acknowledge and resolve acknowledge and close the alert by alias, with a note.
//!
//! Opsgenie answers 202 and processes requests in the background; its per-minute limits depend
//! on the plan, and a 429 backs off like any other retry.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::page::{StoredAction, StoredIncident, StoredPage};
use super::sink::{DeliveryConfig, Destination, Request, Sink};
use crate::secret::Secret;

/// The Alert API's limits, in characters.
const MAX_MESSAGE: usize = 130;
const MAX_ALIAS: usize = 512;
const MAX_DESCRIPTION: usize = 15_000;
const MAX_SOURCE: usize = 100;
const MAX_ENTITY: usize = 512;
const MAX_TAGS: usize = 20;
const MAX_TAG: usize = 50;
const MAX_DETAILS: usize = 8_000;
const MAX_NOTE: usize = 25_000;

/// The API's base URL per region.
pub const US_URL: &str = "https://api.opsgenie.com";
pub const EU_URL: &str = "https://api.eu.opsgenie.com";

#[derive(Debug, Clone)]
pub struct OpsgenieConfig {
    /// Base URL: the region's (`US_URL`, `EU_URL`) or `opsgenie.url`.
    pub url: String,
    /// API keys (of API integrations) by name; `None` when the key's source is unset.
    pub api_keys: BTreeMap<String, Option<Secret>>,
    pub priority: Priorities,
    pub delivery: DeliveryConfig,
}

/// The alert priority (P1 to P5) each paging tier is sent with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Priorities {
    pub high: Priority,
    pub low: Priority,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Priority {
    P1,
    P2,
    P3,
    P4,
    P5,
}

impl Priority {
    pub fn parse(text: &str) -> Option<Priority> {
        Some(match text {
            "P1" => Priority::P1,
            "P2" => Priority::P2,
            "P3" => Priority::P3,
            "P4" => Priority::P4,
            "P5" => Priority::P5,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Priority::P1 => "P1",
            Priority::P2 => "P2",
            Priority::P3 => "P3",
            Priority::P4 => "P4",
            Priority::P5 => "P5",
        }
    }
}

pub struct Opsgenie {
    url: reqwest::Url,
    priority: Priorities,
}

impl Opsgenie {
    /// Adds a destination per API key.
    pub fn register(config: &OpsgenieConfig, destinations: &mut BTreeMap<String, Destination>) {
        // The config checked the URL; an unusable one leaves no destination (pages go to the
        // pages file, with an error logged).
        let url = match reqwest::Url::parse(&config.url) {
            Ok(url) if !url.cannot_be_a_base() => url,
            _ => {
                tracing::error!(url = %config.url, "opsgenie.url is not a base URL: Opsgenie destinations are off");
                return;
            }
        };
        let sink = Arc::new(Opsgenie { url, priority: config.priority });
        for (name, key) in &config.api_keys {
            let destination = Destination { sink: sink.clone(), key: key.clone(), delivery: config.delivery };
            destinations.insert(name.clone(), destination);
        }
    }

    /// `<url>/v2/alerts[/<alias>/<action>?identifierType=alias]`.
    fn endpoint(&self, alias_action: Option<(&str, &str)>) -> String {
        let mut url = self.url.clone();
        if let Ok(mut segments) = url.path_segments_mut() {
            segments.pop_if_empty().extend(["v2", "alerts"]);
            if let Some((alias, action)) = alias_action {
                segments.extend([alias, action]);
            }
        }
        if alias_action.is_some() {
            url.query_pairs_mut().append_pair("identifierType", "alias");
        }
        url.into()
    }

    fn request(
        &self,
        method: reqwest::Method,
        url: String,
        key: Option<&Secret>,
        body: &impl Serialize,
    ) -> Result<Request, String> {
        Ok(Request {
            method,
            url,
            authorization: key.map(|key| Secret::new(format!("GenieKey {}", key.expose()))),
            body: serde_json::to_vec(body).map_err(|error| error.to_string())?,
        })
    }
}

impl Sink for Opsgenie {
    fn name(&self) -> &'static str {
        "opsgenie"
    }

    fn requests(&self, page: &StoredPage, key: Option<&Secret>) -> Result<Vec<Request>, String> {
        let alias = alias(&page.dedup_key);
        let post = reqwest::Method::POST;
        match (page.action, &page.incident) {
            (StoredAction::Trigger, Some(incident)) => {
                let details: Details = serde_json::from_str(incident.details.get())
                    .map_err(|error| format!("the page's details cannot be read: {error}"))?;
                let priority = self.priority(&details.tier);
                let create = CreateAlert {
                    message: cut(&incident.summary, MAX_MESSAGE),
                    alias: &alias,
                    description: description(incident, &details),
                    tags: tags(&details),
                    details: detail_map(page, &details),
                    entity: details
                        .probable_cause
                        .as_ref()
                        .map(|cause| cut(&cause.entity, MAX_ENTITY))
                        .or_else(|| {
                            incident.component.as_deref().map(|component| cut(component, MAX_ENTITY))
                        }),
                    source: cut(&incident.source, MAX_SOURCE),
                    priority: priority.as_str(),
                    user: "noisegate",
                };
                let mut requests = vec![self.request(post.clone(), self.endpoint(None), key, &create)?];
                if page.reason != "opened" {
                    let note = Note {
                        user: "noisegate",
                        source: "noisegate",
                        note: update_note(page, incident, &details),
                    };
                    requests.push(self.request(post, self.endpoint(Some((&alias, "notes"))), key, &note)?);
                    let priority = SetPriority { priority: priority.as_str() };
                    let url = self.endpoint(Some((&alias, "priority")));
                    requests.push(self.request(reqwest::Method::PUT, url, key, &priority)?);
                }
                Ok(requests)
            }
            (StoredAction::Trigger, None) => Err("a trigger without its incident".to_owned()),
            (StoredAction::Acknowledge, _) => {
                let note = Note {
                    user: "noisegate",
                    source: "noisegate",
                    note: "Acknowledged through noisegate".to_owned(),
                };
                Ok(vec![self.request(post, self.endpoint(Some((&alias, "acknowledge"))), key, &note)?])
            }
            (StoredAction::Resolve, _) => {
                let note = Note {
                    user: "noisegate",
                    source: "noisegate",
                    note: "Resolved: every alert of the incident has resolved".to_owned(),
                };
                Ok(vec![self.request(post, self.endpoint(Some((&alias, "close"))), key, &note)?])
            }
        }
    }
}

impl Opsgenie {
    fn priority(&self, tier: &str) -> Priority {
        match tier {
            "page_high" => self.priority.high,
            "page_low" => self.priority.low,
            // Only in shadow mode `unfiltered`, where what would not page does.
            _ => Priority::P5,
        }
    }
}

#[derive(Serialize)]
struct CreateAlert<'a> {
    message: String,
    alias: &'a str,
    description: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tags: Vec<String>,
    details: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    entity: Option<String>,
    source: String,
    priority: &'static str,
    user: &'static str,
}

#[derive(Serialize)]
struct Note {
    user: &'static str,
    source: &'static str,
    note: String,
}

#[derive(Serialize)]
struct SetPriority {
    priority: &'static str,
}

/// The parts of a page's details Opsgenie shows.
#[derive(Deserialize, Default)]
#[serde(default)]
struct Details {
    alerts: Vec<AlertDetail>,
    alerts_omitted: usize,
    firing: usize,
    resolved: usize,
    group_labels: BTreeMap<String, String>,
    route: String,
    incident_opened_at: String,
    probable_cause: Option<Cause>,
    related: Vec<Related>,
    entities: Vec<String>,
    tags: Vec<String>,
    log_context: Vec<LogLine>,
    evidence: Vec<String>,
    score: f64,
    tier: String,
    why: Vec<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct AlertDetail {
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
    status: String,
    muted: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Cause {
    entity: String,
    kind: String,
    alerts: Vec<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Related {
    dedup_key: String,
    probable_cause: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct LogLine {
    service: String,
    template: String,
    lines: u32,
    errors: u32,
}

/// The alias: the dedup key, or when it is over Opsgenie's limit its start and a hash of it.
fn alias(dedup_key: &str) -> String {
    if dedup_key.chars().count() <= MAX_ALIAS {
        return dedup_key.to_owned();
    }
    // XXH3, as the dedup keys themselves: stable across versions and machines.
    let hash = xxhash_rust::xxh3::xxh3_64(dedup_key.as_bytes());
    let start: String = dedup_key.chars().take(MAX_ALIAS - 17).collect();
    format!("{start}~{hash:016x}")
}

/// `text` cut to `max` characters, an ellipsis marking the cut.
fn cut(text: &str, max: usize) -> String {
    match text.char_indices().nth(max.saturating_sub(1)) {
        Some((end, _)) if text.chars().count() > max => format!("{}…", &text[..end]),
        _ => text.to_owned(),
    }
}

/// What a responder reads first: the summary, the probable cause, why it pages, the alerts, the
/// logs around it, the evidence, related incidents and links.
fn description(incident: &StoredIncident, details: &Details) -> String {
    let mut text = incident.summary.clone();
    text.push_str("\n\n");
    if let Some(cause) = &details.probable_cause {
        let _ = write!(text, "Probable cause: {} {}", cause.kind, cause.entity);
        if !cause.alerts.is_empty() {
            let _ = write!(text, " ({})", cause.alerts.join(", "));
        }
        text.push('\n');
    }
    if !details.entities.is_empty() {
        let _ = writeln!(text, "Affected: {}", details.entities.join(", "));
    }
    let _ = writeln!(text, "Score {} ({}), why:", details.score, details.tier);
    for line in &details.why {
        let _ = writeln!(text, "- {line}");
    }
    let _ = writeln!(text, "\nAlerts ({} firing, {} resolved):", details.firing, details.resolved);
    for alert in &details.alerts {
        let name = alert.labels.get("alertname").map_or("alert", String::as_str);
        let place = ["pod", "instance", "node", "service", "job"]
            .iter()
            .find_map(|label| alert.labels.get(*label))
            .map_or(String::new(), |place| format!(" {place}"));
        let said = ["summary", "description"]
            .iter()
            .find_map(|annotation| alert.annotations.get(*annotation))
            .map_or(String::new(), |said| format!(": {said}"));
        let muted = alert.muted.as_ref().map_or(String::new(), |muted| format!(" [{muted}]"));
        let _ = writeln!(text, "- {name}{place} ({}){muted}{said}", alert.status);
    }
    if details.alerts_omitted > 0 {
        let _ = writeln!(text, "- and {} more", details.alerts_omitted);
    }
    if !details.log_context.is_empty() {
        text.push_str("\nLogs around it:\n");
        for line in &details.log_context {
            let _ = writeln!(
                text,
                "- {}: {} ({} lines, {} errors)",
                line.service, line.template, line.lines, line.errors
            );
        }
    }
    if !details.evidence.is_empty() {
        text.push_str("\nEvidence:\n");
        for evidence in &details.evidence {
            let _ = writeln!(text, "- {evidence}");
        }
    }
    if !details.related.is_empty() {
        text.push_str("\nRelated open incidents:\n");
        for related in &details.related {
            let _ = writeln!(text, "- {} ({})", related.dedup_key, related.probable_cause);
        }
    }
    if !incident.links.is_empty() {
        text.push_str("\nLinks:\n");
        for link in &incident.links {
            let _ = writeln!(text, "- {}: {}", link.text, link.href);
        }
    }
    cut(text.trim_end(), MAX_DESCRIPTION)
}

fn tags(details: &Details) -> Vec<String> {
    let mut tags = vec!["noisegate".to_owned()];
    if !details.tier.is_empty() {
        tags.push(details.tier.clone());
    }
    for tag in &details.tags {
        let tag = cut(tag, MAX_TAG);
        if tags.len() < MAX_TAGS && !tags.contains(&tag) {
            tags.push(tag);
        }
    }
    tags
}

/// Key-value details, the most useful first, within Opsgenie's size limit.
fn detail_map(page: &StoredPage, details: &Details) -> BTreeMap<String, String> {
    let cause = details.probable_cause.as_ref().map(|cause| format!("{} {}", cause.kind, cause.entity));
    let mut entries: Vec<(String, String)> = vec![
        ("dedup_key".to_owned(), page.dedup_key.clone()),
        ("tier".to_owned(), details.tier.clone()),
        ("score".to_owned(), details.score.to_string()),
        ("reason".to_owned(), page.reason.clone()),
        ("firing".to_owned(), details.firing.to_string()),
        ("resolved".to_owned(), details.resolved.to_string()),
        ("route".to_owned(), details.route.clone()),
        ("incident_opened_at".to_owned(), details.incident_opened_at.clone()),
    ];
    entries.extend(cause.map(|cause| ("probable_cause".to_owned(), cause)));
    entries.extend(details.group_labels.iter().map(|(name, value)| (name.clone(), value.clone())));
    let mut map = BTreeMap::new();
    let mut size = 0;
    for (name, value) in entries {
        size += name.chars().count() + value.chars().count();
        if size > MAX_DETAILS {
            break;
        }
        map.entry(name).or_insert(value);
    }
    map
}

fn update_note(page: &StoredPage, incident: &StoredIncident, details: &Details) -> String {
    let what = match page.reason.as_str() {
        "repeat" => "Still firing",
        _ => "Changed",
    };
    let note = format!(
        "{what}: {} ({} firing, {} resolved; {} score {})",
        incident.summary, details.firing, details.resolved, details.tier, details.score
    );
    cut(&note, MAX_NOTE)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sink() -> Opsgenie {
        let url = reqwest::Url::parse("http://opsgenie.test/").unwrap();
        Opsgenie { url, priority: Priorities { high: Priority::P1, low: Priority::P3 } }
    }

    fn trigger(reason: &str, tier: &str, dedup_key: &str) -> StoredPage {
        let page = serde_json::json!({
            "action": "trigger",
            "dedup_key": dedup_key,
            "destination": "ops",
            "reason": reason,
            "incident": {
                "summary": format!("KubePodCrashLooping: {}", "a very long description ".repeat(10)),
                "source": "checkout-7d9",
                "severity": "critical",
                "timestamp": "2026-11-01T00:00:00Z",
                "component": "checkout",
                "links": [{"href": "https://runbooks/crashloop", "text": "Runbook: KubePodCrashLooping"}],
                "details": {
                    "alerts": [{"labels": {"alertname": "KubePodCrashLooping", "pod": "checkout-7d9"},
                                "annotations": {"summary": "restarting"}, "status": "firing"}],
                    "firing": 1, "resolved": 0, "route": "route", "reason": reason,
                    "incident_opened_at": "2026-11-01T00:00:00Z",
                    "group_labels": {"namespace": "shop"},
                    "tags": ["team:payments", "x".repeat(80)],
                    "score": 0.82, "tier": tier, "why": ["severity +0.40: critical"],
                },
            },
        });
        StoredPage::parse(&page.to_string()).unwrap()
    }

    fn body(request: &Request) -> serde_json::Value {
        serde_json::from_slice(&request.body).unwrap()
    }

    #[test]
    fn an_opened_incident_creates_one_alert_within_the_api_limits() {
        let key = Secret::new("KEY".to_owned());
        let requests = sink().requests(&trigger("opened", "page_high", "noisegate-1"), Some(&key)).unwrap();
        assert_eq!(requests.len(), 1);
        assert_eq!(requests[0].url, "http://opsgenie.test/v2/alerts");
        assert_eq!(requests[0].authorization.as_ref().map(Secret::expose), Some("GenieKey KEY"));
        let create = body(&requests[0]);
        assert_eq!(create["alias"], "noisegate-1");
        assert_eq!(create["priority"], "P1");
        assert_eq!(create["message"].as_str().unwrap().chars().count(), MAX_MESSAGE);
        assert_eq!(create["source"], "checkout-7d9");
        assert_eq!(create["details"]["namespace"], "shop");
        assert_eq!(create["details"]["score"], "0.82");
        let description = create["description"].as_str().unwrap();
        assert!(
            description.contains("- KubePodCrashLooping checkout-7d9 (firing): restarting"),
            "{description}"
        );
        assert!(
            description.contains("Runbook: KubePodCrashLooping: https://runbooks/crashloop"),
            "{description}"
        );
        let tags: Vec<&str> =
            create["tags"].as_array().unwrap().iter().filter_map(|tag| tag.as_str()).collect();
        assert_eq!(tags[..3], ["noisegate", "page_high", "team:payments"]);
        assert!(tags.iter().all(|tag| tag.chars().count() <= MAX_TAG));
        let shown = sink().requests(&trigger("opened", "page_high", "noisegate-1"), None).unwrap();
        assert!(shown[0].authorization.is_none(), "the dead-letter copy carries no key");
    }

    #[test]
    fn an_update_notes_what_changed_and_sets_the_tier_priority() {
        let requests = sink().requests(&trigger("changed", "page_low", "noisegate-1"), None).unwrap();
        let routes: Vec<(&str, &str)> =
            requests.iter().map(|request| (request.method.as_str(), request.url.as_str())).collect();
        assert_eq!(
            routes,
            [
                ("POST", "http://opsgenie.test/v2/alerts"),
                ("POST", "http://opsgenie.test/v2/alerts/noisegate-1/notes?identifierType=alias"),
                ("PUT", "http://opsgenie.test/v2/alerts/noisegate-1/priority?identifierType=alias"),
            ]
        );
        assert!(body(&requests[1])["note"].as_str().unwrap().starts_with("Changed: KubePodCrashLooping"));
        assert_eq!(body(&requests[2])["priority"], "P3");
    }

    #[test]
    fn acknowledge_and_resolve_go_to_the_alias_escaped_in_the_path() {
        for (action, path) in [("acknowledge", "acknowledge"), ("resolve", "close")] {
            let page = format!(
                r#"{{"action": "{action}", "dedup_key": "db/primary down?", "destination": "ops", "reason": "resolved"}}"#
            );
            let requests = sink().requests(&StoredPage::parse(&page).unwrap(), None).unwrap();
            assert_eq!(
                requests[0].url,
                format!("http://opsgenie.test/v2/alerts/db%2Fprimary%20down%3F/{path}?identifierType=alias")
            );
            assert_eq!(requests[0].method, reqwest::Method::POST);
        }
    }

    #[test]
    fn a_dedup_key_over_the_alias_limit_keeps_a_stable_distinct_alias() {
        let long = "k".repeat(600);
        let other = format!("{}j", "k".repeat(599));
        assert_eq!(alias(&long).chars().count(), MAX_ALIAS);
        // Pinned: an alias that changed between versions would open a second alert.
        assert!(alias(&long).ends_with(&format!("~{:016x}", xxhash_rust::xxh3::xxh3_64(long.as_bytes()))));
        assert_ne!(alias(&long), alias(&other));
        assert_eq!(alias("short"), "short");
    }
}
