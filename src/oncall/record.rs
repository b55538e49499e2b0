//! What happened to each incident, as the on-call report needs it, built from the engine's
//! decisions and pages and from responders' feedback (`Recorder`), and kept in the store for
//! the configured retention, keyed by when it opened.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

use super::schedule::Schedule;
use crate::clock::HOUR_MS;
use noisegate_engine::model::{EventTime, Feedback, FeedbackAction};
use noisegate_engine::{
    AlertCounts, DecisionKind, DecisionRecord, Notification, Page, PageAction, PlainPage, Tier,
};

/// Who acknowledged or resolved an incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum By {
    /// A responder, through PagerDuty (its webhook).
    PagerDuty,
    /// The alerts: acknowledged upstream, or none firing any more.
    Alerts,
}

impl By {
    pub fn as_str(self) -> &'static str {
        match self {
            By::PagerDuty => "pagerduty",
            By::Alerts => "alerts",
        }
    }
}

/// One incident's life. Times are milliseconds since the epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentRecord {
    pub dedup_key: Box<str>,
    pub opened_at: i64,
    /// The highest tier it reached: `page_high`, `page_low`, `digest` or `suppress`.
    pub tier: Box<str>,
    /// Its destination's name (the team).
    pub routing_key: Box<str>,
    /// Its alert kinds (alert names) and the services and nodes they were about.
    pub kinds: Vec<Box<str>>,
    pub services: Vec<Box<str>>,
    /// Alerts it held at most.
    pub alerts: u64,
    /// Its first page (a PagerDuty or Opsgenie trigger), if it paged.
    pub paged_at: Option<i64>,
    pub escalated_at: Option<i64>,
    pub acknowledged_at: Option<i64>,
    pub acknowledged_by: Option<By>,
    pub resolved_at: Option<i64>,
    pub resolved_by: Option<By>,
    /// Pages sent again for it after it resolved (its alerts came back).
    pub reopened: u32,
    /// What happened to its alerts: received, deduplicated, grouped, muted, settled, scored.
    pub counts: AlertCounts,
}

impl IncidentRecord {
    fn new(dedup_key: &str, opened_at: i64) -> IncidentRecord {
        IncidentRecord {
            dedup_key: dedup_key.into(),
            opened_at,
            tier: Tier::Suppress.as_str().into(),
            routing_key: "".into(),
            kinds: Vec::new(),
            services: Vec::new(),
            alerts: 0,
            paged_at: None,
            escalated_at: None,
            acknowledged_at: None,
            acknowledged_by: None,
            resolved_at: None,
            resolved_by: None,
            reopened: 0,
            counts: AlertCounts::default(),
        }
    }

    /// Whether a responder acted on it (acknowledged it through PagerDuty).
    pub fn acted(&self) -> bool {
        self.acknowledged_by == Some(By::PagerDuty)
    }

    /// The store's value.
    pub fn encode(&self) -> Result<Vec<u8>, postcard::Error> {
        let mut value = vec![VERSION];
        value.extend(postcard::to_allocvec(self)?);
        Ok(value)
    }

    pub fn decode(value: &[u8]) -> Result<IncidentRecord, String> {
        let record = match value.split_first() {
            Some((&VERSION, rest)) => postcard::from_bytes(rest),
            // Version 1 is version 2 without the counts, its last field: postcard has no
            // framing, so empty counts appended make it read as version 2.
            Some((1, rest)) => {
                let mut upgraded = rest.to_vec();
                upgraded.extend(postcard::to_allocvec(&AlertCounts::default()).unwrap_or_default());
                postcard::from_bytes(&upgraded)
            }
            Some((version, _)) => return Err(format!("an incident record of version {version}")),
            None => return Err("an empty incident record".to_owned()),
        };
        record.map_err(|error| error.to_string())
    }
}

const VERSION: u8 = 2;

/// Seconds from the incident's page to `at`, if it paged.
fn since_page(record: &IncidentRecord, at: i64) -> Option<f64> {
    record.paged_at.map(|paged| (at - paged).max(0) as f64 / 1000.0)
}

fn tier_rank(tier: &str) -> u8 {
    match tier {
        "page_high" => 3,
        "page_low" => 2,
        "digest" => 1,
        _ => 0,
    }
}

/// What just happened to an incident, for the metrics.
#[derive(Debug, Clone, PartialEq)]
pub enum Transition {
    /// Its first page, at its tier, in business hours or not.
    Paged { tier: Box<str>, out_of_hours: bool },
    /// Acknowledged, this many seconds after its page.
    Acknowledged { by: By, seconds: Option<f64> },
    /// Resolved, this many seconds after its page (if it paged).
    Resolved { by: By, seconds: Option<f64> },
}

/// Follows the open incidents; hands the ones that changed to the store.
#[derive(Default)]
pub struct Recorder {
    open: HashMap<Box<str>, IncidentRecord>,
    changed: BTreeSet<Box<str>>,
    /// Plain-route pages since last taken, per hour (its start): with every alert, and with
    /// critical alerts only.
    plain: BTreeMap<i64, (u64, u64)>,
    transitions: Vec<Transition>,
    schedule: Schedule,
}

impl Recorder {
    /// Carries on with the incidents the store holds as open; `schedule` says what is out of
    /// hours.
    pub fn restore(open: impl IntoIterator<Item = IncidentRecord>, schedule: Schedule) -> Recorder {
        let open = open.into_iter().map(|record| (record.dedup_key.clone(), record)).collect();
        Recorder { open, changed: BTreeSet::new(), plain: BTreeMap::new(), transitions: Vec::new(), schedule }
    }

    /// Follows what the engine said: pages (sent, or decided only: `sent` false in shadow
    /// mode), digest entries, decisions and plain-route pages.
    pub fn notification(&mut self, notification: &Notification, sent: bool) {
        match notification {
            Notification::Page(page) => self.page(page, sent),
            Notification::Digest(page) => self.page(page, false),
            Notification::Decision(record) => self.decision(record),
            Notification::Plain(page) => self.plain(page),
        }
    }

    fn plain(&mut self, page: &PlainPage) {
        let hour = self.plain.entry(page.at.as_millis().div_euclid(HOUR_MS) * HOUR_MS).or_default();
        if page.critical_only {
            hour.1 += 1;
        } else {
            hour.0 += 1;
        }
    }

    /// The plain-route pages per hour since last taken (hour, every alert, critical only), to
    /// add to the store's.
    pub fn take_plain(&mut self) -> Vec<(i64, u64, u64)> {
        std::mem::take(&mut self.plain)
            .into_iter()
            .map(|(hour, (all, critical))| (hour, all, critical))
            .collect()
    }

    /// What happened since last taken.
    pub fn take_transitions(&mut self) -> Vec<Transition> {
        std::mem::take(&mut self.transitions)
    }

    fn decision(&mut self, decision: &DecisionRecord) {
        let at = decision.at.as_millis();
        self.changed.insert(decision.dedup_key.as_ref().into());
        let record = self
            .open
            .entry(decision.dedup_key.as_ref().into())
            .or_insert_with(|| IncidentRecord::new(&decision.dedup_key, at));
        if tier_rank(decision.tier.as_str()) > tier_rank(&record.tier) {
            record.tier = decision.tier.as_str().into();
        }
        record.counts = decision.counts;
        if record.kinds.is_empty() {
            if let Some(name) = decision.group_labels.get("alertname") {
                record.kinds.push(name.into());
            }
        }
        match decision.kind {
            DecisionKind::Escalated => {
                record.escalated_at.get_or_insert(at);
            }
            DecisionKind::Paged(PageAction::Acknowledge) => {
                if record.acknowledged_at.is_none() {
                    record.acknowledged_at = Some(at);
                    record.acknowledged_by = Some(By::Alerts);
                    let seconds = since_page(record, at);
                    self.transitions.push(Transition::Acknowledged { by: By::Alerts, seconds });
                }
            }
            DecisionKind::Resolved | DecisionKind::Paged(PageAction::Resolve) => {
                if record.resolved_at.is_none() {
                    record.resolved_at = Some(at);
                    record.resolved_by = Some(By::Alerts);
                    let seconds = since_page(record, at);
                    self.transitions.push(Transition::Resolved { by: By::Alerts, seconds });
                }
            }
            DecisionKind::Opened
            | DecisionKind::Paged(PageAction::Trigger)
            | DecisionKind::Digested
            | DecisionKind::Suppressed => {}
        }
    }

    /// A page (or a digest entry, `paged: false`) about an incident.
    fn page(&mut self, page: &Page, paged: bool) {
        self.changed.insert(page.dedup_key.as_ref().into());
        let opened_at = page.incident.opened_at.as_millis();
        let record = self
            .open
            .entry(page.dedup_key.as_ref().into())
            .or_insert_with(|| IncidentRecord::new(&page.dedup_key, opened_at));
        record.opened_at = record.opened_at.min(page.incident.opened_at.as_millis());
        record.routing_key = page.routing_key.as_ref().into();
        record.alerts = record.alerts.max((page.incident.firing + page.incident.resolved) as u64);
        for alert in &page.incident.alerts {
            if let Some(name) = alert.labels.get("alertname") {
                if !record.kinds.iter().any(|kind| **kind == *name) {
                    record.kinds.push(name.into());
                }
            }
        }
        for entity in &page.incident.entities {
            if !record.services.iter().any(|service| **service == **entity) {
                record.services.push(entity.as_ref().into());
            }
        }
        if paged && page.action == PageAction::Trigger {
            if record.paged_at.is_none() {
                let at = page.at.as_millis();
                record.paged_at = Some(at);
                // Its tier: that of the decision that sent it, recorded just before.
                let out_of_hours = self.schedule.out_of_hours(at);
                self.transitions.push(Transition::Paged { tier: record.tier.clone(), out_of_hours });
            } else if record.resolved_at.take().is_some() {
                // Its alerts came back after it resolved: the same incident, paged again.
                record.reopened += 1;
                record.resolved_by = None;
            }
        }
    }

    /// A responder's action, at the time PagerDuty says it happened.
    pub fn feedback(&mut self, feedback: &Feedback, at: EventTime) {
        let Some(record) = self.open.get_mut(&feedback.dedup_key) else { return };
        self.changed.insert(record.dedup_key.clone());
        let at = at.as_millis();
        match feedback.action {
            FeedbackAction::Acknowledged => {
                if record.acknowledged_by != Some(By::PagerDuty) {
                    record.acknowledged_at = Some(at);
                    record.acknowledged_by = Some(By::PagerDuty);
                    let seconds = since_page(record, at);
                    self.transitions.push(Transition::Acknowledged { by: By::PagerDuty, seconds });
                }
            }
            FeedbackAction::Resolved => {
                if record.resolved_by != Some(By::PagerDuty) {
                    let first = record.resolved_at.is_none();
                    record.resolved_at = Some(at);
                    record.resolved_by = Some(By::PagerDuty);
                    if first {
                        let seconds = since_page(record, at);
                        self.transitions.push(Transition::Resolved { by: By::PagerDuty, seconds });
                    }
                }
            }
            FeedbackAction::Escalated => {
                record.escalated_at.get_or_insert(at);
            }
            FeedbackAction::Reopened => {
                record.resolved_at = None;
                record.resolved_by = None;
            }
        }
    }

    /// The records that changed since last taken, for the store.
    pub fn take_changed(&mut self) -> Vec<IncidentRecord> {
        let keys = std::mem::take(&mut self.changed);
        keys.iter().filter_map(|key| self.open.get(key).cloned()).collect()
    }

    /// Stops following incidents resolved before `before` (a responder's late action, or its
    /// alerts coming back, finds them until then).
    pub fn forget_resolved(&mut self, before: i64) {
        self.open.retain(|_, record| record.resolved_at.is_none_or(|resolved| resolved >= before));
    }

    pub fn open(&self) -> usize {
        self.open.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use noisegate_engine::model::Labels;
    use noisegate_engine::score::Contribution;

    fn decision(at: i64, kind: DecisionKind, tier: Tier) -> DecisionRecord {
        DecisionRecord {
            at: EventTime::from_millis(at),
            dedup_key: "noisegate-1".into(),
            kind,
            tier,
            score: 0.9,
            why: Vec::<Contribution>::new(),
            group_labels: Labels::from_pairs([("alertname", "DiskFull")]),
            counts: AlertCounts { received: 3, alerts: 2, deduplicated: 1, ..AlertCounts::default() },
        }
    }

    #[test]
    fn an_incident_s_life_is_recorded_from_decisions_and_feedback() {
        let mut recorder = Recorder::default();
        recorder.decision(&decision(1_000, DecisionKind::Opened, Tier::PageLow));
        recorder.decision(&decision(2_000, DecisionKind::Paged(PageAction::Trigger), Tier::PageLow));
        recorder.decision(&decision(3_000, DecisionKind::Escalated, Tier::PageHigh));
        let ack = Feedback { dedup_key: "noisegate-1".into(), action: FeedbackAction::Acknowledged };
        recorder.feedback(&ack, EventTime::from_millis(60_000));
        recorder.decision(&decision(90_000, DecisionKind::Resolved, Tier::PageHigh));
        let records = recorder.take_changed();
        assert_eq!(records.len(), 1);
        let record = &records[0];
        assert_eq!((record.opened_at, &*record.tier), (1_000, "page_high"));
        assert_eq!(record.kinds, vec![Box::from("DiskFull")]);
        assert_eq!((record.escalated_at, record.acknowledged_at), (Some(3_000), Some(60_000)));
        assert_eq!(
            (record.acknowledged_by, record.resolved_at, record.resolved_by),
            (Some(By::PagerDuty), Some(90_000), Some(By::Alerts))
        );
        assert!(record.acted());
        assert!(recorder.take_changed().is_empty(), "nothing changed since");

        // A late resolve from PagerDuty still finds it; once forgotten, nothing does.
        let resolve = Feedback { dedup_key: "noisegate-1".into(), action: FeedbackAction::Resolved };
        recorder.feedback(&resolve, EventTime::from_millis(95_000));
        assert_eq!(recorder.take_changed()[0].resolved_by, Some(By::PagerDuty));
        recorder.forget_resolved(100_000);
        recorder.feedback(&resolve, EventTime::from_millis(120_000));
        assert!(recorder.take_changed().is_empty());
        assert_eq!(recorder.open(), 0);
    }

    #[test]
    fn records_read_back_as_written() {
        let mut recorder = Recorder::default();
        recorder.decision(&decision(1_000, DecisionKind::Opened, Tier::Digest));
        let record = recorder.take_changed().remove(0);
        let value = record.encode().unwrap();
        assert_eq!(IncidentRecord::decode(&value).unwrap(), record);
        assert!(IncidentRecord::decode(&[9, 1, 2]).unwrap_err().contains("version 9"));
        // A record of version 1 (no counts) reads with none.
        let counts = postcard::to_allocvec(&record.counts).unwrap();
        assert!(value.ends_with(&counts) && record.counts.received == 3);
        let mut first = value[..value.len() - counts.len()].to_vec();
        first[0] = 1;
        let old = IncidentRecord::decode(&first).unwrap();
        assert_eq!(old, IncidentRecord { counts: AlertCounts::default(), ..record });
        assert!(IncidentRecord::decode(&[]).is_err());
    }
}
