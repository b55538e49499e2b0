//! The replay report: what a replay received and decided, for people (`html`, one
//! self-contained file) and for scripts (the same figures as JSON).
//!
//! A `Collector` watches the replay (each batch before the engine applies it, each notification
//! after) and `finish` turns what it saw and the engine's statistics into a `Report`.

pub mod html;
pub mod oncall;

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use crate::json::round;
use crate::metrics::action_str;
use crate::sinks::page::page_summary;
use noisegate_engine::model::{Event, EventTime};
use noisegate_engine::{DecisionKind, EngineStats, Notification, PageAction};

/// Bars the timeline is drawn with, at most.
const MAX_BUCKETS: i64 = 120;
/// Alert kinds listed as the noisiest.
const NOISIEST: usize = 15;

#[derive(Debug, Serialize)]
pub struct Report {
    pub input: String,
    pub config: String,
    pub requests: u64,
    pub first_at: Option<String>,
    pub last_at: Option<String>,
    pub totals: Totals,
    /// What each mechanism kept from paging, in the order they act.
    pub removed: Vec<Removal>,
    pub timeline: Timeline,
    pub noisiest: Vec<Kind>,
    pub incidents: Vec<IncidentReport>,
}

#[derive(Debug, Serialize)]
pub struct Totals {
    /// Alert events received (firing and resolved, re-sends included).
    pub alert_events: u64,
    pub log_records: u64,
    /// Distinct alert episodes (an alert firing, until it resolves).
    pub episodes: u64,
    pub incidents: u64,
    /// Incidents paged: each notified someone once (their later triggers update them).
    pub pages: u64,
    /// Every PagerDuty event: triggers (first and updates), acknowledgements, resolves.
    pub pagerduty_events: u64,
    /// Pages a plain Alertmanager-style route with the same routes and `group_by` would have
    /// sent: with every alert, and with critical alerts only.
    pub without_noisegate: u64,
    pub without_noisegate_critical: u64,
    pub digested: u64,
    pub suppressed: u64,
    /// `1 - pages / alert_events`: alert events that did not page anyone.
    pub noise_reduction: f64,
}

#[derive(Debug, Serialize)]
pub struct Removal {
    pub mechanism: &'static str,
    pub removed: u64,
    /// What is counted.
    pub unit: &'static str,
    pub meaning: &'static str,
}

#[derive(Debug, Serialize)]
pub struct Timeline {
    pub bucket_seconds: i64,
    pub buckets: Vec<Bucket>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Bucket {
    pub start: String,
    pub alert_events: u64,
    pub pages: u64,
}

#[derive(Debug, Serialize)]
pub struct Kind {
    pub alertname: String,
    pub alert_events: u64,
    /// Triggers that listed it.
    pub pages: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct IncidentReport {
    pub dedup_key: String,
    pub summary: String,
    pub opened_at: String,
    pub group_labels: BTreeMap<String, String>,
    /// The tier of its latest decision: page_high, page_low, digest or suppress.
    pub tier: String,
    pub score: f64,
    /// The latest explanation: each feature's part in the score.
    pub why: Vec<String>,
    pub alerts: usize,
    pub pages: Vec<PageLine>,
    pub decisions: Vec<DecisionLine>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PageLine {
    pub at: String,
    pub action: &'static str,
    pub severity: &'static str,
    pub reason: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub struct DecisionLine {
    pub at: String,
    pub decision: &'static str,
    pub tier: &'static str,
    pub score: f64,
}

/// Watches a replay.
#[derive(Default)]
pub struct Collector {
    /// Per minute (event time): alert events in, triggers out.
    minutes: BTreeMap<i64, (u64, u64)>,
    kinds: HashMap<String, (u64, u64)>,
    incidents: HashMap<String, IncidentReport>,
    order: Vec<String>,
    /// Plain-route pages: every alert, critical only.
    plain: (u64, u64),
}

fn minute(at: EventTime) -> i64 {
    at.as_millis().div_euclid(60_000)
}

impl Collector {
    /// A request's events, before the engine applies them at `at`.
    pub fn batch(&mut self, at: EventTime, events: &[Event]) {
        let mut alerts = 0;
        for event in events {
            if let Event::Alert(alert) = event {
                alerts += 1;
                let name = alert.labels.get("alertname").unwrap_or("");
                match self.kinds.get_mut(name) {
                    Some(kind) => kind.0 += 1,
                    None => {
                        self.kinds.insert(name.to_owned(), (1, 0));
                    }
                }
            }
        }
        if alerts > 0 {
            self.minutes.entry(minute(at)).or_default().0 += alerts;
        }
    }

    /// What the engine decided.
    pub fn notification(&mut self, notification: &Notification) {
        match notification {
            Notification::Plain(page) if page.critical_only => self.plain.1 += 1,
            Notification::Plain(_) => self.plain.0 += 1,
            Notification::Page(page) => {
                let view = &page.incident;
                let incident =
                    self.incident(&page.dedup_key, view.opened_at, &view.group_labels, view.tier, view.score);
                incident.pages.push(PageLine {
                    at: page.at.to_string(),
                    action: action_str(page.action),
                    severity: page.incident.severity.as_str(),
                    reason: page.reason.as_str(),
                });
                // Someone is paged by an incident's first trigger; later ones update it.
                let first = page.action == PageAction::Trigger && incident.summary.is_empty();
                if page.action == PageAction::Trigger {
                    incident.summary = page_summary(page);
                    incident.alerts =
                        incident.alerts.max(page.incident.firing + page.incident.alerts_omitted);
                    incident.why = page.incident.why.iter().map(|part| part.note.clone()).collect();
                }
                if first {
                    self.minutes.entry(minute(page.at)).or_default().1 += 1;
                    let mut named = Vec::new();
                    for alert in &page.incident.alerts {
                        let name = alert.labels.get("alertname").unwrap_or("");
                        if !named.contains(&name) {
                            named.push(name);
                            if let Some(kind) = self.kinds.get_mut(name) {
                                kind.1 += 1;
                            }
                        }
                    }
                }
            }
            Notification::Digest(page) => {
                let view = &page.incident;
                let incident =
                    self.incident(&page.dedup_key, view.opened_at, &view.group_labels, view.tier, view.score);
                if incident.why.is_empty() {
                    incident.why = view.why.iter().map(|part| part.note.clone()).collect();
                    incident.alerts = view.firing;
                }
                if incident.summary.is_empty() {
                    incident.summary = page_summary(page);
                }
            }
            Notification::Decision(record) => {
                let incident = self.incident(
                    &record.dedup_key,
                    record.at,
                    &record.group_labels,
                    record.tier,
                    record.score,
                );
                incident.decisions.push(DecisionLine {
                    at: record.at.to_string(),
                    decision: record.kind.as_str(),
                    tier: record.tier.as_str(),
                    score: round(record.score),
                });
                if record.kind != DecisionKind::Resolved {
                    incident.tier = record.tier.as_str().to_owned();
                    incident.score = round(record.score);
                    if !record.why.is_empty() {
                        incident.why = record.why.iter().map(|part| part.note.clone()).collect();
                    }
                }
            }
        }
    }

    /// The incident's report, started from what a first notification about it says.
    fn incident(
        &mut self,
        key: &str,
        opened_at: EventTime,
        labels: &noisegate_engine::model::Labels,
        tier: noisegate_engine::Tier,
        score: f64,
    ) -> &mut IncidentReport {
        let new = || IncidentReport {
            dedup_key: key.to_owned(),
            summary: String::new(),
            opened_at: opened_at.to_string(),
            group_labels: labels.iter().map(|(name, value)| (name.to_owned(), value.to_owned())).collect(),
            tier: tier.as_str().to_owned(),
            score: round(score),
            why: Vec::new(),
            alerts: 0,
            pages: Vec::new(),
            decisions: Vec::new(),
        };
        if !self.incidents.contains_key(key) {
            self.order.push(key.to_owned());
        }
        self.incidents.entry(key.to_owned()).or_insert_with(new)
    }

    /// The report, with the replay's figures.
    pub fn finish(mut self, input: &str, config: &str, requests: u64, stats: &EngineStats) -> Report {
        let first = self.minutes.keys().next().copied();
        let last = self.minutes.keys().next_back().copied();
        let timeline = match (first, last) {
            (Some(first), Some(last)) => {
                let span = last - first + 1;
                let per_bucket = span.div_euclid(MAX_BUCKETS) + i64::from(span % MAX_BUCKETS != 0);
                let mut buckets: Vec<Bucket> = (0..span.div_euclid(per_bucket) + 1)
                    .map(|index| Bucket {
                        start: EventTime::from_millis((first + index * per_bucket) * 60_000).to_string(),
                        alert_events: 0,
                        pages: 0,
                    })
                    .collect();
                for (minute, (alerts, pages)) in &self.minutes {
                    let index = ((minute - first) / per_bucket) as usize;
                    if let Some(bucket) = buckets.get_mut(index) {
                        bucket.alert_events += alerts;
                        bucket.pages += pages;
                    }
                }
                while buckets.last().is_some_and(|bucket| bucket.alert_events == 0 && bucket.pages == 0) {
                    buckets.pop();
                }
                Timeline { bucket_seconds: per_bucket * 60, buckets }
            }
            _ => Timeline { bucket_seconds: 60, buckets: Vec::new() },
        };
        let mut noisiest: Vec<Kind> = self
            .kinds
            .drain()
            .map(|(alertname, (alert_events, pages))| Kind { alertname, alert_events, pages })
            .collect();
        noisiest.sort_by(|left, right| {
            right.alert_events.cmp(&left.alert_events).then_with(|| left.alertname.cmp(&right.alertname))
        });
        noisiest.truncate(NOISIEST);
        let incidents: Vec<IncidentReport> =
            self.order.iter().filter_map(|key| self.incidents.remove(key)).collect();
        let pages = incidents
            .iter()
            .filter(|incident| incident.pages.iter().any(|page| page.action == "trigger"))
            .count() as u64;
        let alert_events = stats.alerts_received;
        let removed = removals(stats);
        Report {
            input: input.to_owned(),
            config: config.to_owned(),
            requests,
            first_at: first.map(|minute| EventTime::from_millis(minute * 60_000).to_string()),
            last_at: last.map(|minute| EventTime::from_millis((minute + 1) * 60_000).to_string()),
            totals: Totals {
                alert_events,
                log_records: stats.logs_received,
                episodes: stats.alerts_new,
                incidents: stats.incidents_opened,
                pages,
                pagerduty_events: stats.pages_trigger + stats.pages_resolve + stats.pages_acknowledge,
                without_noisegate: self.plain.0,
                without_noisegate_critical: self.plain.1,
                digested: stats.digested,
                suppressed: stats.incidents_suppressed,
                noise_reduction: if alert_events == 0 {
                    0.0
                } else {
                    round(1.0 - pages as f64 / alert_events as f64)
                },
            },
            removed,
            timeline,
            noisiest,
            incidents,
        }
    }
}

fn removals(stats: &EngineStats) -> Vec<Removal> {
    let removed = stats.removed;
    let never_paged =
        removed.settled + removed.silenced + removed.inhibited + removed.known_noise + removed.scored;
    // Episodes that joined an incident another alert had opened.
    let grouped = stats.alerts_new.saturating_sub(never_paged).saturating_sub(stats.incidents_opened);
    vec![
        Removal {
            mechanism: "duplicates",
            removed: stats.alerts_duplicate,
            unit: "alert events",
            meaning: "re-sends of an alert already known in the same state",
        },
        Removal {
            mechanism: "grouping",
            removed: grouped,
            unit: "alert episodes",
            meaning: "alerts that joined an incident another alert opened (group_by and the inventory); \
                      alerts still firing at the end count here too",
        },
        Removal {
            mechanism: "inhibition",
            removed: removed.inhibited,
            unit: "alert episodes",
            meaning: "ended without paging while an inhibition rule muted them",
        },
        Removal {
            mechanism: "silences",
            removed: removed.silenced,
            unit: "alert episodes",
            meaning: "ended without paging while a silence or maintenance window muted them",
        },
        Removal {
            mechanism: "known noise",
            removed: removed.known_noise,
            unit: "alert episodes",
            meaning: "ended without paging, matched by a known-noise pattern",
        },
        Removal {
            mechanism: "flapping",
            removed: stats.flapping_episodes,
            unit: "alert episodes",
            meaning: "new episodes of flapping alerts, held in their open incident instead of paging again",
        },
        Removal {
            mechanism: "settle time",
            removed: removed.settled,
            unit: "alert episodes",
            meaning: "resolved before their settle time or their group's wait was over (blips)",
        },
        Removal {
            mechanism: "score",
            removed: stats.digested + stats.incidents_suppressed,
            unit: "incidents",
            meaning: "incidents the actionability score sent to the digest or suppressed",
        },
    ]
}
