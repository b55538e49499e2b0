//! `noisegate diff`: one capture replayed under two configs, and the pages that appear,
//! disappear or change urgency between them, each with its cause as the other side saw it.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

use crate::config::Config;
use crate::json::round;
use crate::replay::{Replay, Watch};
use crate::sinks::page::page_summary;
use noisegate_engine::{DecisionKind, Notification, PageAction};

/// One side's view of an incident.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Seen {
    pub summary: String,
    /// `page_high` or `page_low` at its first trigger; empty if it never paged.
    pub urgency: String,
    /// How it ended up if it never paged: `digested`, `suppressed`, or empty.
    pub outcome: String,
    pub score: f64,
    pub why: Vec<String>,
    /// Identities (`alertname{labels}`) of the alerts its pages listed.
    pub alerts: BTreeSet<String>,
}

/// What one replay paged and decided, by dedup key.
#[derive(Default)]
struct Side {
    incidents: BTreeMap<String, Seen>,
}

impl Watch for Side {
    fn notification(&mut self, notification: &Notification) -> anyhow::Result<()> {
        match notification {
            Notification::Page(page) => {
                let seen = self.incidents.entry(page.dedup_key.to_string()).or_default();
                if page.action == PageAction::Trigger {
                    if seen.urgency.is_empty() {
                        seen.urgency = page.incident.tier.as_str().to_owned();
                        seen.summary = page_summary(page);
                        seen.score = round(page.incident.score);
                        seen.why = page.incident.why.iter().map(|part| part.note.clone()).collect();
                    }
                    seen.alerts.extend(page.incident.alerts.iter().map(|alert| identity(&alert.labels)));
                }
            }
            Notification::Digest(page) => {
                let seen = self.incidents.entry(page.dedup_key.to_string()).or_default();
                if seen.summary.is_empty() {
                    seen.summary = page_summary(page);
                }
                seen.alerts.extend(page.incident.alerts.iter().map(|alert| identity(&alert.labels)));
            }
            Notification::Plain(_) => {}
            Notification::Decision(record) => {
                let seen = self.incidents.entry(record.dedup_key.to_string()).or_default();
                match record.kind {
                    DecisionKind::Digested | DecisionKind::Suppressed if seen.urgency.is_empty() => {
                        seen.outcome = record.kind.as_str().to_owned();
                        seen.score = round(record.score);
                        seen.why = record.why.iter().map(|part| part.note.clone()).collect();
                    }
                    _ => {}
                }
            }
        }
        Ok(())
    }
}

fn identity(labels: &noisegate_engine::model::Labels) -> String {
    let name = labels.get("alertname").unwrap_or("");
    let rest: Vec<String> = labels
        .iter()
        .filter(|(label, _)| *label != "alertname")
        .map(|(label, value)| format!("{label}={value:?}"))
        .collect();
    format!("{name}{{{}}}", rest.join(","))
}

#[derive(Debug, Serialize)]
pub struct Difference {
    /// `appears` (only B pages it), `disappears` (only A does) or `urgency` (both, differently).
    pub change: &'static str,
    pub dedup_key: String,
    pub summary: String,
    pub urgency_a: String,
    pub urgency_b: String,
    /// Why, from the side that did not page it (or paged it differently).
    pub cause: String,
}

#[derive(Debug, Serialize)]
pub struct Diff {
    pub pages_a: usize,
    pub pages_b: usize,
    pub differences: Vec<Difference>,
}

/// Replays `input` under both configs and compares what they paged.
pub fn diff(input: &Path, a: &Config, b: &Config) -> anyhow::Result<Diff> {
    let mut sides = [Side::default(), Side::default()];
    for (config, side) in [a, b].into_iter().zip(sides.iter_mut()) {
        Replay::new(config).run(input, side)?;
    }
    let [a, b] = sides;
    let paged = |side: &Side| -> BTreeSet<String> {
        side.incidents
            .iter()
            .filter(|(_, seen)| !seen.urgency.is_empty())
            .map(|(key, _)| key.clone())
            .collect()
    };
    let (paged_a, paged_b) = (paged(&a), paged(&b));
    let mut differences = Vec::new();
    for key in paged_a.union(&paged_b) {
        let (in_a, in_b) = (a.incidents.get(key), b.incidents.get(key));
        let urgency = |seen: Option<&Seen>| seen.map(|seen| seen.urgency.clone()).unwrap_or_default();
        let (urgency_a, urgency_b) = (urgency(in_a), urgency(in_b));
        let change = match (urgency_a.is_empty(), urgency_b.is_empty()) {
            (false, true) => "disappears",
            (true, false) => "appears",
            _ if urgency_a != urgency_b => "urgency",
            _ => continue,
        };
        let (pager, other, other_side) = match change {
            "appears" => (in_b, &a, "A"),
            _ => (in_a, &b, "B"),
        };
        let summary = pager.map(|seen| seen.summary.clone()).unwrap_or_default();
        let cause = match change {
            "urgency" => explain_score("B", in_b),
            _ => cause(key, pager, other, other_side),
        };
        differences.push(Difference { change, dedup_key: key.clone(), summary, urgency_a, urgency_b, cause });
    }
    Ok(Diff { pages_a: paged_a.len(), pages_b: paged_b.len(), differences })
}

fn explain_score(side: &str, seen: Option<&Seen>) -> String {
    match seen {
        Some(seen) => format!("{side} scored it {}: {}", seen.score, seen.why.join("; ")),
        None => String::new(),
    }
}

/// Why `other` did not page the incident `key` that `pager` describes.
fn cause(key: &str, pager: Option<&Seen>, other: &Side, name: &str) -> String {
    if let Some(seen) = other.incidents.get(key).filter(|seen| !seen.outcome.is_empty()) {
        return format!("{name} {} it (score {}: {})", seen.outcome, seen.score, seen.why.join("; "));
    }
    let alerts = pager.map(|seen| &seen.alerts);
    let elsewhere: Vec<(&String, &Seen)> = other
        .incidents
        .iter()
        .filter(|(other_key, seen)| {
            other_key.as_str() != key && alerts.is_some_and(|alerts| !alerts.is_disjoint(&seen.alerts))
        })
        .collect();
    if let Some((other_key, seen)) = elsewhere.first() {
        let how = if seen.urgency.is_empty() { seen.outcome.as_str() } else { "paged" };
        return format!(
            "{name} grouped its alerts into another incident ({other_key}, {how}: {})",
            seen.summary
        );
    }
    format!(
        "{name} never paged these alerts: muted (silence, inhibition, known noise), resolved within \
         their settle time or group wait, or grouped so that no page was due"
    )
}

impl Diff {
    /// The diff for people: `-` disappears, `+` appears, `~` urgency changes.
    pub fn render(&self) -> String {
        let mut text = String::new();
        for difference in &self.differences {
            let (mark, what) = match difference.change {
                "disappears" => ("-", format!("{} in A only", difference.urgency_a)),
                "appears" => ("+", format!("{} in B only", difference.urgency_b)),
                _ => ("~", format!("{} in A, {} in B", difference.urgency_a, difference.urgency_b)),
            };
            let _ = writeln!(text, "{mark} {} {what}: {}", difference.dedup_key, difference.summary);
            let _ = writeln!(text, "    cause: {}", difference.cause);
        }
        let count =
            |change: &str| self.differences.iter().filter(|difference| difference.change == change).count();
        let _ = writeln!(
            text,
            "A paged {} incidents, B {}: {} disappear, {} appear, {} change urgency",
            self.pages_a,
            self.pages_b,
            count("disappears"),
            count("appears"),
            count("urgency")
        );
        text
    }
}
