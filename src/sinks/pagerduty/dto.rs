//! The PagerDuty Events API v2 request body, built from an engine `Page`. The only place that
//! knows PagerDuty's JSON shape.

use std::collections::BTreeSet;

use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};

use crate::engine::{AlertView, IncidentView, Page, PageAction};
use crate::model::Labels;

/// PagerDuty truncates summaries longer than this.
const MAX_SUMMARY_CHARS: usize = 1024;
const MAX_LINKS: usize = 10;

#[derive(Serialize)]
pub struct EventBody<'a> {
    pub routing_key: &'a str,
    pub event_action: &'static str,
    pub dedup_key: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payload: Option<Payload<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<Link<'a>>,
    pub client: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_url: Option<&'a str>,
}

#[derive(Serialize)]
pub struct Payload<'a> {
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
    pub custom_details: CustomDetails<'a>,
}

#[derive(Serialize)]
pub struct CustomDetails<'a> {
    /// Every alert the incident stands for: firing ones, then those resolved since the last page.
    pub alerts: Vec<AlertDetail<'a>>,
    pub firing: usize,
    pub resolved: usize,
    pub group_labels: LabelMap<'a>,
    pub route: &'a str,
    /// Why this event was sent: opened, changed, repeat, acknowledged, resolved.
    pub reason: &'static str,
    pub incident_opened_at: String,
}

#[derive(Serialize)]
pub struct AlertDetail<'a> {
    pub labels: LabelMap<'a>,
    #[serde(skip_serializing_if = "labels_empty")]
    pub annotations: LabelMap<'a>,
    #[serde(rename = "startsAt")]
    pub starts_at: String,
    #[serde(rename = "endsAt", skip_serializing_if = "Option::is_none")]
    pub ends_at: Option<String>,
    pub status: &'static str,
    #[serde(rename = "generatorURL", skip_serializing_if = "Option::is_none")]
    pub generator_url: Option<&'a str>,
}

#[derive(Serialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct Link<'a> {
    pub href: &'a str,
    pub text: String,
}

/// Serializes `Labels` as a JSON object.
pub struct LabelMap<'a>(pub &'a Labels);

impl Serialize for LabelMap<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (name, value) in self.0.iter() {
            map.serialize_entry(name, value)?;
        }
        map.end()
    }
}

fn labels_empty(labels: &LabelMap<'_>) -> bool {
    labels.0.is_empty()
}

impl<'a> EventBody<'a> {
    /// The request for `page`, sent with `routing_key`.
    pub fn new(page: &'a Page, routing_key: &'a str, client_url: Option<&'a str>) -> EventBody<'a> {
        let (event_action, payload, links) = match page.action {
            PageAction::Trigger => ("trigger", Some(payload(page)), links(&page.incident)),
            PageAction::Acknowledge => ("acknowledge", None, Vec::new()),
            PageAction::Resolve => ("resolve", None, Vec::new()),
        };
        EventBody {
            routing_key,
            event_action,
            dedup_key: &page.dedup_key,
            payload,
            links,
            client: "noisegate",
            client_url,
        }
    }
}

fn payload(page: &Page) -> Payload<'_> {
    let incident = &page.incident;
    let first = incident.alerts.first();
    let label = |names: &[&str]| -> Option<&str> {
        let labels = &first?.labels;
        names.iter().find_map(|name| labels.get(name))
    };
    let names = alert_names(incident);
    let class = match names.as_slice() {
        [only] => Some(*only),
        _ => None,
    };
    let timestamp = incident
        .alerts
        .iter()
        .map(|alert| alert.starts_at)
        .min()
        .unwrap_or(incident.opened_at);
    Payload {
        summary: summary(incident, &names),
        source: label(&["instance", "pod", "node", "service", "job", "source"])
            .map_or_else(|| source_from_group(&incident.group_labels), str::to_owned),
        severity: incident.severity.as_str(),
        timestamp: timestamp.to_string(),
        component: label(&["service", "job", "container", "component"]),
        group: label(&["namespace", "cluster", "group"]),
        class,
        custom_details: CustomDetails {
            alerts: incident.alerts.iter().map(alert_detail).collect(),
            firing: incident.firing,
            resolved: incident.resolved,
            group_labels: LabelMap(&incident.group_labels),
            route: &incident.route,
            reason: page.reason.as_str(),
            incident_opened_at: incident.opened_at.to_string(),
        },
    }
}

fn alert_detail(alert: &AlertView) -> AlertDetail<'_> {
    AlertDetail {
        labels: LabelMap(&alert.labels),
        annotations: LabelMap(&alert.annotations),
        starts_at: alert.starts_at.to_string(),
        ends_at: alert.ends_at.map(|end| end.to_string()),
        status: if alert.firing { "firing" } else { "resolved" },
        generator_url: alert.generator_url.as_deref(),
    }
}

/// Distinct alert names of the firing alerts (all alerts if none fires), in first-seen order.
fn alert_names(incident: &IncidentView) -> Vec<&str> {
    let any_firing = incident.firing > 0;
    let mut names: Vec<&str> = Vec::new();
    for alert in incident.alerts.iter().filter(|alert| alert.firing || !any_firing) {
        let name = alert.labels.get("alertname").unwrap_or("alert");
        if !names.contains(&name) {
            names.push(name);
        }
    }
    names
}

fn summary(incident: &IncidentView, names: &[&str]) -> String {
    let context: Vec<&str> = incident
        .group_labels
        .iter()
        .filter(|(name, _)| *name != "alertname")
        .map(|(_, value)| value)
        .filter(|value| !value.is_empty())
        .collect();
    let mut text = match names {
        [name] => {
            let described = incident.alerts.iter().find_map(|alert| {
                alert
                    .annotations
                    .get("summary")
                    .or_else(|| alert.annotations.get("description"))
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
    let values: Vec<&str> = group_labels
        .iter()
        .map(|(_, value)| value)
        .filter(|value| !value.is_empty())
        .collect();
    if values.is_empty() {
        "noisegate".to_owned()
    } else {
        values.join("/")
    }
}

fn links(incident: &IncidentView) -> Vec<Link<'_>> {
    let mut links = BTreeSet::new();
    for alert in &incident.alerts {
        let name = alert.labels.get("alertname").unwrap_or("alert");
        if let Some(runbook) = alert.annotations.get("runbook_url").filter(|url| !url.is_empty()) {
            links.insert(Link {
                href: runbook,
                text: format!("Runbook: {name}"),
            });
        }
        if let Some(url) = alert.generator_url.as_deref() {
            links.insert(Link {
                href: url,
                text: format!("Source: {name}"),
            });
        }
    }
    links.into_iter().take(MAX_LINKS).collect()
}
