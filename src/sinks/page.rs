//! A page as the outbox keeps it and every sink reads it: the engine's decision (trigger,
//! acknowledge, resolve), the name of its destination, and on triggers the incident rendered
//! once: summary, source, links and the details a responder reads. Sinks render it to their
//! wire format when they deliver it (`pagerduty`, `opsgenie`); nothing here knows a wire format.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::json::{LabelsObject, round};
use noisegate_engine::model::Labels;
use noisegate_engine::{AlertView, IncidentView, Page, PageAction, Similar};

/// Summaries longer than this are cut (PagerDuty's limit; other sinks cut shorter).
const MAX_SUMMARY_CHARS: usize = 1024;
const MAX_LINKS: usize = 10;
/// The alert list stops before this many bytes, so a page stays under every sink's size limit
/// (PagerDuty's 512 KB is the largest).
const MAX_ALERT_DETAILS_BYTES: usize = 384 * 1024;
/// Annotation values longer than this are cut in pages (the full text stays with the sender).
const MAX_ANNOTATION_CHARS: usize = 4096;

/// A page, written into the outbox.
#[derive(Serialize)]
pub struct PageBody<'a> {
    pub action: &'static str,
    pub dedup_key: &'a str,
    /// The name of the destination its route picked (a PagerDuty routing key's name, an
    /// Opsgenie API key's name), never a secret.
    pub destination: &'a str,
    /// Why it was sent: opened, changed, repeat, acknowledged, resolved.
    pub reason: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub incident: Option<Incident<'a>>,
}

/// What a trigger says about its incident.
#[derive(Serialize)]
pub struct Incident<'a> {
    pub summary: String,
    pub source: String,
    pub severity: &'static str,
    pub timestamp: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub component: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub class: Option<&'a str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<Link<'a>>,
    pub details: CustomDetails<'a>,
}

#[derive(Serialize)]
pub struct CustomDetails<'a> {
    /// Every alert the incident stands for: firing ones, then those resolved since the last page
    /// (as many as fit in PagerDuty's size limit; `alerts_omitted` counts the rest).
    pub alerts: Vec<AlertDetail<'a>>,
    #[serde(skip_serializing_if = "is_zero")]
    pub alerts_omitted: usize,
    pub firing: usize,
    pub resolved: usize,
    pub group_labels: LabelsObject<'a>,
    pub route: &'a str,
    /// Why this event was sent: opened, changed, repeat, acknowledged, resolved.
    pub reason: &'static str,
    pub incident_opened_at: String,
    /// The entity the incident is rooted at, for incidents correlated through the inventory.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub probable_cause: Option<Cause<'a>>,
    /// Other open incidents whose probable causes are linked to this one's in the inventory.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub related: Vec<Related<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub entities: Vec<&'a str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<&'a str>,
    /// The log templates the incident's services logged most around it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub log_context: Vec<LogLine<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub evidence: Vec<&'a str>,
    /// Past incidents most like this one: when, how long, how they ended, what responders
    /// wrote.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub similar: Vec<SimilarIncident<'a>>,
    /// How actionable the incident is, in [0, 1], the tier that decided, and why.
    pub score: f64,
    pub tier: &'static str,
    pub why: Vec<String>,
}

#[derive(Serialize)]
pub struct LogLine<'a> {
    pub service: &'a str,
    pub template: &'a str,
    pub lines: u32,
    pub errors: u32,
    pub first_seen: String,
}

#[derive(Serialize)]
pub struct SimilarIncident<'a> {
    pub dedup_key: &'a str,
    pub title: &'a str,
    pub opened_at: String,
    pub minutes: f64,
    pub paged: bool,
    pub ended: &'static str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<&'a str>,
    pub similarity: f64,
}

impl<'a> From<&'a Similar> for SimilarIncident<'a> {
    fn from(similar: &'a Similar) -> SimilarIncident<'a> {
        SimilarIncident {
            dedup_key: &similar.dedup_key,
            title: &similar.title,
            opened_at: similar.opened_at.to_string(),
            minutes: round(similar.minutes),
            paged: similar.paged,
            ended: similar.ending.as_str(),
            notes: similar.notes.iter().map(|note| &**note).collect(),
            similarity: round(similar.similarity),
        }
    }
}

#[derive(Serialize)]
pub struct Related<'a> {
    pub dedup_key: &'a str,
    pub probable_cause: &'a str,
}

#[derive(Serialize)]
pub struct Cause<'a> {
    pub entity: &'a str,
    pub kind: &'a str,
    pub alerts: Vec<&'a str>,
}

#[derive(Serialize)]
pub struct AlertDetail<'a> {
    pub labels: LabelsObject<'a>,
    #[serde(skip_serializing_if = "labels_empty")]
    pub annotations: LabelsObject<'a>,
    #[serde(rename = "startsAt")]
    pub starts_at: String,
    #[serde(rename = "endsAt", skip_serializing_if = "Option::is_none")]
    pub ends_at: Option<String>,
    pub status: &'static str,
    #[serde(rename = "generatorURL", skip_serializing_if = "Option::is_none")]
    pub generator_url: Option<&'a str>,
    /// Why it does not page by itself (silenced, inhibited, known noise).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub muted: Option<&'a str>,
    #[serde(skip_serializing_if = "is_false")]
    pub flapping: bool,
}

#[derive(Serialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct Link<'a> {
    pub href: &'a str,
    pub text: String,
}

fn labels_empty(labels: &LabelsObject<'_>) -> bool {
    labels.is_empty()
}

fn is_zero(count: &usize) -> bool {
    *count == 0
}

fn is_false(flag: &bool) -> bool {
    !*flag
}

impl<'a> PageBody<'a> {
    pub fn new(page: &'a Page) -> PageBody<'a> {
        PageBody {
            action: crate::metrics::action_str(page.action),
            dedup_key: &page.dedup_key,
            destination: &page.routing_key,
            reason: page.reason.as_str(),
            incident: (page.action == PageAction::Trigger).then(|| incident(page)),
        }
    }
}

fn incident(page: &Page) -> Incident<'_> {
    let incident = &page.incident;
    let first = incident.alerts.first();
    // Empty values would make PagerDuty refuse the event (summary and source are required).
    let label = |names: &[&str]| -> Option<&str> {
        let labels = &first?.labels;
        names.iter().find_map(|name| labels.get(name).filter(|value| !value.is_empty()))
    };
    let names = alert_names(incident);
    let class = match names.as_slice() {
        [only] => Some(*only),
        _ => None,
    };
    let timestamp = incident.alerts.iter().map(|alert| alert.starts_at).min().unwrap_or(incident.opened_at);
    let alerts = alert_details(incident);
    let kept = alerts.len();
    Incident {
        summary: summary(incident, &names),
        source: label(&["instance", "pod", "node", "service", "job", "source"])
            .map_or_else(|| source_from_group(&incident.group_labels), str::to_owned),
        severity: incident.severity.as_str(),
        timestamp: timestamp.to_string(),
        component: label(&["service", "job", "container", "component"]),
        group: label(&["namespace", "cluster", "group"]),
        class,
        links: links(incident),
        details: CustomDetails {
            alerts,
            alerts_omitted: incident.alerts_omitted + incident.alerts.len() - kept,
            firing: incident.firing,
            resolved: incident.resolved,
            group_labels: LabelsObject::new(&incident.group_labels),
            route: &incident.route,
            reason: page.reason.as_str(),
            incident_opened_at: incident.opened_at.to_string(),
            probable_cause: incident.root.as_ref().map(|root| Cause {
                entity: &root.entity,
                kind: &root.kind,
                alerts: root.alerts.iter().map(|name| &**name).collect(),
            }),
            related: incident
                .related
                .iter()
                .map(|related| Related { dedup_key: &related.dedup_key, probable_cause: &related.root })
                .collect(),
            entities: incident.entities.iter().map(|entity| &**entity).collect(),
            tags: incident.tags.iter().map(|tag| &**tag).collect(),
            log_context: incident
                .log_context
                .iter()
                .map(|line| LogLine {
                    service: &line.service,
                    template: &line.template,
                    lines: line.lines,
                    errors: line.errors,
                    first_seen: line.first_seen.to_string(),
                })
                .collect(),
            evidence: incident.evidence.iter().map(String::as_str).collect(),
            similar: incident.similar.iter().map(SimilarIncident::from).collect(),
            score: round(incident.score),
            tier: incident.tier.as_str(),
            why: incident
                .why
                .iter()
                .filter(|part| part.contribution != 0.0 || part.weightless())
                .map(|part| format!("{} {:+.2}: {}", part.feature, part.contribution, part.note))
                .collect(),
        },
    }
}

/// The alerts' details, in order, as many as fit in the size budget.
fn alert_details(incident: &IncidentView) -> Vec<AlertDetail<'_>> {
    let mut details = Vec::with_capacity(incident.alerts.len());
    let mut bytes = 0usize;
    for alert in &incident.alerts {
        let detail = alert_detail(alert);
        bytes = bytes.saturating_add(serde_json::to_vec(&detail).map_or(usize::MAX, |encoded| encoded.len()));
        if bytes > MAX_ALERT_DETAILS_BYTES {
            break;
        }
        details.push(detail);
    }
    details
}

fn alert_detail(alert: &AlertView) -> AlertDetail<'_> {
    AlertDetail {
        labels: LabelsObject::new(&alert.labels),
        annotations: LabelsObject::cut(&alert.annotations, MAX_ANNOTATION_CHARS),
        starts_at: alert.starts_at.to_string(),
        ends_at: alert.ends_at.map(|end| end.to_string()),
        status: if alert.firing { "firing" } else { "resolved" },
        generator_url: alert.generator_url.as_deref(),
        muted: alert.muted.as_deref(),
        flapping: alert.flapping,
    }
}

/// Distinct alert names of the firing alerts (all alerts if none fires), in first-seen order.
fn alert_names(incident: &IncidentView) -> Vec<&str> {
    let any_firing = incident.firing > 0;
    let mut names: Vec<&str> = Vec::new();
    for alert in incident.alerts.iter().filter(|alert| alert.firing || !any_firing) {
        let name = alert.labels.get("alertname").filter(|name| !name.is_empty()).unwrap_or("alert");
        if !names.contains(&name) {
            names.push(name);
        }
    }
    names
}

/// The summary line a trigger for `page` carries.
pub fn page_summary(page: &Page) -> String {
    summary(&page.incident, &alert_names(&page.incident))
}

fn summary(incident: &IncidentView, names: &[&str]) -> String {
    let context: Vec<&str> = incident
        .group_labels
        .iter()
        .filter(|(name, _)| *name != "alertname")
        .map(|(_, value)| value)
        .filter(|value| !value.is_empty())
        .collect();
    let affected: Vec<&str> = match &incident.root {
        Some(root) => incident
            .entities
            .iter()
            .map(|entity| &**entity)
            .filter(|entity| **entity != *root.entity)
            .collect(),
        None => Vec::new(),
    };
    let mut text = match (&incident.root, names) {
        (Some(root), _) if !affected.is_empty() => {
            let mut cause = format!("Probable cause: {} {}", root.kind, root.entity);
            if !root.alerts.is_empty() {
                let alerts: Vec<&str> = root.alerts.iter().map(|name| &**name).collect();
                cause.push_str(&format!(" ({})", alerts.join(", ")));
            }
            format!("{cause}; affecting {}", affected.join(", "))
        }
        (_, [name]) => {
            let described = incident.alerts.iter().find_map(|alert| {
                ["summary", "description"]
                    .iter()
                    .find_map(|name| alert.annotations.get(name).filter(|text| !text.trim().is_empty()))
            });
            match described {
                Some(description) => format!("{name}: {description}"),
                None => (*name).to_owned(),
            }
        }
        _ => format!("{} kinds of alert: {}", names.len(), names.join(", ")),
    };
    if !context.is_empty() {
        text.push_str(&format!(" ({})", context.join(", ")));
    }
    if incident.firing > 1 {
        text.push_str(&format!(" [{} firing]", incident.firing));
    }
    if text.chars().count() > MAX_SUMMARY_CHARS {
        text = text.chars().take(MAX_SUMMARY_CHARS - 1).collect();
        text.push('…');
    }
    text
}

fn source_from_group(group_labels: &Labels) -> String {
    let values: Vec<&str> =
        group_labels.iter().map(|(_, value)| value).filter(|value| !value.is_empty()).collect();
    if values.is_empty() { "noisegate".to_owned() } else { values.join("/") }
}

fn links(incident: &IncidentView) -> Vec<Link<'_>> {
    let mut links = BTreeSet::new();
    for alert in &incident.alerts {
        let name = alert.labels.get("alertname").unwrap_or("alert");
        if let Some(runbook) = alert.annotations.get("runbook_url").filter(|url| !url.is_empty()) {
            links.insert(Link { href: runbook, text: format!("Runbook: {name}") });
        }
        if let Some(url) = alert.generator_url.as_deref() {
            links.insert(Link { href: url, text: format!("Source: {name}") });
        }
    }
    links.into_iter().take(MAX_LINKS).collect()
}

/// A page read back from the outbox, for a sink to render. The details stay JSON text: a sink
/// copies them or reads the parts it shows.
#[derive(Debug, Deserialize)]
pub struct StoredPage {
    pub action: StoredAction,
    pub dedup_key: String,
    pub destination: String,
    pub reason: String,
    #[serde(default)]
    pub incident: Option<StoredIncident>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StoredAction {
    Trigger,
    Acknowledge,
    Resolve,
}

impl StoredAction {
    pub fn as_str(self) -> &'static str {
        match self {
            StoredAction::Trigger => "trigger",
            StoredAction::Acknowledge => "acknowledge",
            StoredAction::Resolve => "resolve",
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct StoredIncident {
    pub summary: String,
    pub source: String,
    pub severity: String,
    pub timestamp: String,
    pub component: Option<String>,
    pub group: Option<String>,
    pub class: Option<String>,
    #[serde(default)]
    pub links: Vec<StoredLink>,
    pub details: Box<RawValue>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct StoredLink {
    pub href: String,
    pub text: String,
}

impl StoredPage {
    /// Reads a page the outbox kept. Outboxes written before sinks had a format of their own
    /// hold PagerDuty Events API bodies (the routing key's name in `routing_key`): read too, so
    /// an upgrade delivers what was pending.
    pub fn parse(text: &str) -> Result<StoredPage, String> {
        match serde_json::from_str::<StoredPage>(text) {
            Ok(page) => Ok(page),
            Err(error) => match serde_json::from_str::<PagerDutyBody>(text) {
                Ok(body) => Ok(body.into_page()),
                Err(_) => Err(format!("the outbox holds a page that cannot be read: {error}")),
            },
        }
    }
}

/// The outbox's former format: an Events API v2 body.
#[derive(Deserialize)]
struct PagerDutyBody {
    routing_key: String,
    event_action: StoredAction,
    dedup_key: String,
    payload: Option<PagerDutyPayload>,
    #[serde(default)]
    links: Vec<StoredLink>,
}

#[derive(Deserialize)]
struct PagerDutyPayload {
    summary: String,
    source: String,
    severity: String,
    timestamp: String,
    component: Option<String>,
    group: Option<String>,
    class: Option<String>,
    custom_details: Box<RawValue>,
}

impl PagerDutyBody {
    fn into_page(self) -> StoredPage {
        #[derive(Deserialize)]
        struct Reason {
            reason: Option<String>,
        }
        let reason = self
            .payload
            .as_ref()
            .and_then(|payload| serde_json::from_str::<Reason>(payload.custom_details.get()).ok())
            .and_then(|details| details.reason);
        let reason = reason.unwrap_or_else(|| {
            match self.event_action {
                StoredAction::Trigger => "opened",
                StoredAction::Acknowledge => "acknowledged",
                StoredAction::Resolve => "resolved",
            }
            .to_owned()
        });
        StoredPage {
            action: self.event_action,
            dedup_key: self.dedup_key,
            destination: self.routing_key,
            reason,
            incident: self.payload.map(|payload| StoredIncident {
                summary: payload.summary,
                source: payload.source,
                severity: payload.severity,
                timestamp: payload.timestamp,
                component: payload.component,
                group: payload.group,
                class: payload.class,
                links: self.links,
                details: payload.custom_details,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use noisegate_engine::PageReason;
    use noisegate_engine::model::{EventTime, Severity};

    fn page(alerts: Vec<AlertView>) -> Page {
        Page {
            at: EventTime::from_millis(1_800_000_000_000),
            action: PageAction::Trigger,
            dedup_key: Arc::from("noisegate-1"),
            routing_key: Arc::from("default"),
            reason: PageReason::Opened,
            incident: IncidentView {
                route: Arc::from("route"),
                group_labels: Labels::from_pairs([("alertname", "")]),
                opened_at: EventTime::from_millis(1_800_000_000_000),
                severity: Severity::Critical,
                firing: alerts.len(),
                resolved: 0,
                alerts,
                alerts_omitted: 0,
                root: None,
                related: Vec::new(),
                entities: Vec::new(),
                tags: Vec::new(),
                log_context: Vec::new(),
                evidence: Vec::new(),
                similar: Vec::new(),
                score: 0.9,
                tier: noisegate_engine::Tier::PageHigh,
                why: Vec::new(),
            },
        }
    }

    fn view(labels: &[(&str, &str)], annotations: &[(&str, &str)]) -> AlertView {
        AlertView {
            labels: Arc::new(Labels::from_pairs(labels.iter().copied())),
            annotations: Arc::new(Labels::from_pairs(annotations.iter().copied())),
            starts_at: EventTime::from_millis(1_800_000_000_000),
            ends_at: None,
            firing: true,
            severity: Severity::Critical,
            generator_url: None,
            muted: None,
            flapping: false,
        }
    }

    #[test]
    fn empty_labels_never_make_an_empty_summary_or_source() {
        let page = page(vec![view(&[("alertname", ""), ("instance", "")], &[("summary", " ")])]);
        let body = serde_json::to_value(PageBody::new(&page)).unwrap();
        assert_eq!(body["incident"]["summary"], "alert");
        assert_eq!(body["incident"]["source"], "noisegate");
    }

    #[test]
    fn huge_incidents_stay_under_pagerduty_size_limit() {
        let big = "x".repeat(60_000);
        let alerts = (0..200)
            .map(|index| {
                let pod = format!("pod-{index}");
                view(&[("alertname", "Big"), ("pod", pod.as_str())], &[("description", big.as_str())])
            })
            .collect();
        let page = page(alerts);
        let encoded = serde_json::to_vec(&PageBody::new(&page)).unwrap();
        assert!(encoded.len() < 512 * 1024, "{} bytes", encoded.len());
        let body: serde_json::Value = serde_json::from_slice(&encoded).unwrap();
        let kept = body["incident"]["details"]["alerts"].as_array().unwrap().len();
        assert!(kept > 0);
        assert_eq!(body["incident"]["details"]["alerts_omitted"], 200 - kept);
        assert_eq!(body["incident"]["details"]["firing"], 200);
        let description = body["incident"]["details"]["alerts"][0]["annotations"]["description"].as_str();
        assert_eq!(description.unwrap().chars().count(), MAX_ANNOTATION_CHARS + 1);
    }
}
