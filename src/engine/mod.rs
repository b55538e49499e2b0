//! The engine: a synchronous core that turns alert events into pages.
//!
//! `apply(event, now)` and `advance(now)` are the whole interface. Time is always a parameter:
//! `serve` passes wall-clock time, `replay` passes the capture's recorded times, and both run this
//! same code. Nothing in this module does I/O, reads a clock or imports a network crate.
//!
//! Stages, in order: fingerprint and deduplicate (`store`), route and group (`route`, `group`),
//! then decide at each group's flush whether to page a trigger, an update, a repeat, an
//! acknowledgement or a resolve.

mod group;
pub mod matcher;
mod route;
mod store;

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Arc;
use std::time::Duration;

pub use matcher::{MatchOp, Matcher, MatcherError};
pub use route::{GroupBy, Route, RouteTree};
pub use store::{Fingerprint, fingerprint};

use group::Group;
use store::{AlertEntry, KeyMap};

use crate::model::{Alert, Event, EventTime, Expiry, Labels, Severity};

/// The engine's validated configuration.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Labels left out of an alert's identity (e.g. a Prometheus HA replica label), sorted.
    pub exclude_labels: Vec<Box<str>>,
    /// How long an alert without `endsAt` stays firing without being sent again.
    pub resolve_timeout: Duration,
    /// Severity of alerts that carry no recognisable `severity` label.
    pub default_severity: Severity,
    pub routes: RouteTree,
}

/// What the engine asks the outside world to do. Closed: sinks match it exhaustively.
#[derive(Debug, Clone, PartialEq)]
pub enum Notification {
    Page(Page),
}

/// One PagerDuty event the engine decided to send.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    /// The event time of the decision.
    pub at: EventTime,
    pub action: PageAction,
    /// Stable for the whole life of an incident, derived from its group and opening time, so
    /// `serve` and `replay` produce the same keys.
    pub dedup_key: Arc<str>,
    /// The name of the routing key; the sink holds the secret.
    pub routing_key: Arc<str>,
    pub reason: PageReason,
    pub incident: IncidentView,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageAction {
    Trigger,
    Acknowledge,
    Resolve,
}

/// Why a page was sent, for explanations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageReason {
    /// The group's first page after `group_wait`.
    Opened,
    /// Alerts joined or resolved since the last page (`group_interval`).
    Changed,
    /// Nothing changed for `repeat_interval`.
    Repeat,
    /// Every firing alert of the incident was acknowledged upstream.
    Acknowledged,
    /// No alert of the incident is firing any more.
    Resolved,
}

impl PageReason {
    pub fn as_str(self) -> &'static str {
        match self {
            PageReason::Opened => "opened",
            PageReason::Changed => "changed",
            PageReason::Repeat => "repeat",
            PageReason::Acknowledged => "acknowledged",
            PageReason::Resolved => "resolved",
        }
    }
}

/// The incident a page is about, as the engine saw it at `Page::at`.
#[derive(Debug, Clone, PartialEq)]
pub struct IncidentView {
    pub route: Arc<str>,
    pub group_labels: Labels,
    pub opened_at: EventTime,
    pub severity: Severity,
    pub firing: usize,
    pub resolved: usize,
    /// Firing alerts, then alerts that resolved since the previous page.
    pub alerts: Vec<AlertView>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AlertView {
    pub labels: Arc<Labels>,
    pub annotations: Arc<Labels>,
    pub starts_at: EventTime,
    pub ends_at: Option<EventTime>,
    pub firing: bool,
    pub severity: Severity,
    pub generator_url: Option<Arc<str>>,
}

/// Running totals, for metrics and replay summaries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EngineStats {
    pub alerts_received: u64,
    /// Alerts seen for the first time, or firing again after they resolved.
    pub alerts_new: u64,
    /// Re-sends of an alert already known in the same state.
    pub alerts_duplicate: u64,
    pub alerts_resolved: u64,
    /// Resolves for alerts the engine does not know (already resolved, or never seen).
    pub resolves_unknown: u64,
    pub acknowledgements: u64,
    pub logs_received: u64,
    pub incidents_opened: u64,
    pub incidents_resolved: u64,
    pub pages_trigger: u64,
    pub pages_acknowledge: u64,
    pub pages_resolve: u64,
    pub active_alerts: u64,
    pub active_groups: u64,
}

/// A pending group flush. `seq` breaks ties in scheduling order and identifies the timer a
/// group currently waits for (older timers for the same group are skipped).
type Timer = Reverse<(EventTime, u64, u64)>;

pub struct Engine {
    config: EngineConfig,
    alerts: KeyMap<AlertEntry>,
    groups: KeyMap<Group>,
    timers: BinaryHeap<Timer>,
    next_seq: u64,
    now: EventTime,
    stats: EngineStats,
}

impl Engine {
    pub fn new(config: EngineConfig) -> Engine {
        Engine {
            config,
            alerts: KeyMap::default(),
            groups: KeyMap::default(),
            timers: BinaryHeap::new(),
            next_seq: 0,
            now: EventTime::default(),
            stats: EngineStats::default(),
        }
    }

    pub fn stats(&self) -> EngineStats {
        EngineStats {
            active_alerts: self.alerts.len() as u64,
            active_groups: self.groups.len() as u64,
            ..self.stats
        }
    }

    /// The latest time the engine has seen.
    pub fn now(&self) -> EventTime {
        self.now
    }

    /// Applies one event that happened at `now`, after running every flush due by then.
    pub fn apply(&mut self, event: Event, now: EventTime, out: &mut Vec<Notification>) {
        self.advance(now, out);
        self.apply_one(event);
    }

    /// Applies the events of one request, all at `now`: flushes due by then run first, none
    /// runs between the events, so a burst sent in one request is never split.
    pub fn apply_batch(
        &mut self,
        events: impl IntoIterator<Item = Event>,
        now: EventTime,
        out: &mut Vec<Notification>,
    ) {
        self.advance(now, out);
        for event in events {
            self.apply_one(event);
        }
    }

    fn apply_one(&mut self, event: Event) {
        let now = self.now;
        match event {
            Event::Alert(alert) => self.apply_alert(alert, now),
            Event::ResolveKey(key) => self.resolve_key(&key, now),
            Event::AcknowledgeKey(key) => self.acknowledge_key(&key),
            Event::Log(_) => {
                // Logs are counted here; mining them into templates for correlation evidence
                // is a stage of its own that consumes this event.
                self.stats.logs_received += 1;
            }
        }
    }

    /// Moves time forward to `now` (never backwards) and runs every group flush due by then,
    /// each at its own due time, in due-time order.
    pub fn advance(&mut self, now: EventTime, out: &mut Vec<Notification>) {
        self.now = self.now.max(now);
        while let Some(&Reverse((due, seq, key))) = self.timers.peek() {
            if due > self.now {
                break;
            }
            self.timers.pop();
            if self.groups.get(&key).is_some_and(|group| group.timer_seq == seq) {
                self.flush(key, due, out);
            }
        }
    }

    /// Flushes every group now instead of at its due time: used when the input ends (end of a
    /// replay, shutdown of `serve`), so that nothing decided is left unsaid.
    pub fn flush_pending(&mut self, now: EventTime, out: &mut Vec<Notification>) {
        self.advance(now, out);
        let mut pending: Vec<(EventTime, u64, u64)> = self
            .groups
            .iter()
            .map(|(key, group)| (group.next_flush, group.timer_seq, *key))
            .collect();
        pending.sort_unstable();
        let now = self.now;
        for (_, _, key) in pending {
            self.flush(key, now, out);
        }
    }

    fn apply_alert(&mut self, alert: Alert, now: EventTime) {
        self.stats.alerts_received += 1;
        // A sender that names its alerts (PagerDuty's dedup_key) decides their identity; labels
        // may then change between sends (an updated summary, a new severity).
        let fingerprint = match &alert.external_key {
            Some(key) => store::key_fingerprint(key),
            None => fingerprint(&alert.labels, &self.config.exclude_labels),
        };
        let ends_at = self.effective_end(&alert, now);
        let resolved = ends_at.is_some_and(|end| end <= now);
        let starts_at = alert.starts_at;
        let default_severity = self.config.default_severity;

        if let Some(entry) = self.alerts.get_mut(&fingerprint) {
            if !entry.is_resolved_at(now) {
                if resolved {
                    self.stats.alerts_resolved += 1;
                } else {
                    self.stats.alerts_duplicate += 1;
                }
                entry.ends_at = ends_at;
                entry.refresh(alert, default_severity);
                if let Some(starts_at) = starts_at {
                    entry.starts_at = entry.starts_at.min(starts_at);
                }
            } else if resolved {
                // A repeated resolve of an alert that already ended.
                self.stats.alerts_duplicate += 1;
            } else {
                // Firing again after it ended: a new episode in the same group.
                self.stats.alerts_new += 1;
                entry.starts_at = starts_at.unwrap_or(now);
                entry.ends_at = ends_at;
                entry.acknowledged = false;
                entry.refresh(alert, default_severity);
            }
            return;
        }

        if resolved {
            self.stats.resolves_unknown += 1;
            return;
        }
        self.stats.alerts_new += 1;
        let starts_at = alert.starts_at.unwrap_or(now);
        let severity = alert.severity.unwrap_or(self.config.default_severity);
        let route_id = self.config.routes.select(&alert.labels);
        let route = self.config.routes.get(route_id);
        let group_key = route::group_key(route_id, route, &alert.labels);
        let mut first_flush = None;
        let group = self.groups.entry(group_key).or_insert_with(|| {
            // Like Alertmanager: an alert that started long enough ago pages without waiting.
            first_flush = Some(if starts_at.saturating_add(route.group_wait) <= now {
                now
            } else {
                now.saturating_add(route.group_wait)
            });
            Group::new(route_id, route::group_labels(route, &alert.labels))
        });
        group.members.push(fingerprint);
        if let Some(due) = first_flush {
            self.schedule(group_key, due);
        }
        self.alerts.insert(
            fingerprint,
            AlertEntry {
                labels: Arc::new(alert.labels),
                annotations: Arc::new(alert.annotations),
                starts_at,
                ends_at,
                severity,
                generator_url: alert.generator_url.map(Arc::from),
                acknowledged: false,
            },
        );
    }

    fn resolve_key(&mut self, key: &str, now: EventTime) {
        match self.alerts.get_mut(&store::key_fingerprint(key)) {
            Some(entry) if !entry.is_resolved_at(now) => {
                entry.ends_at = Some(now);
                self.stats.alerts_resolved += 1;
            }
            _ => self.stats.resolves_unknown += 1,
        }
    }

    fn acknowledge_key(&mut self, key: &str) {
        self.stats.acknowledgements += 1;
        if let Some(entry) = self.alerts.get_mut(&store::key_fingerprint(key)) {
            entry.acknowledged = true;
        }
    }

    fn effective_end(&self, alert: &Alert, now: EventTime) -> Option<EventTime> {
        if alert.resolved {
            return Some(alert.ends_at.map_or(now, |end| end.min(now)));
        }
        match (alert.ends_at, alert.expiry) {
            (Some(end), _) => Some(end),
            (None, Expiry::ResolveTimeout) => Some(now.saturating_add(self.config.resolve_timeout)),
            (None, Expiry::UntilResolved) => None,
        }
    }

    fn schedule(&mut self, group_key: u64, due: EventTime) {
        let seq = self.next_seq;
        self.next_seq += 1;
        if let Some(group) = self.groups.get_mut(&group_key) {
            group.next_flush = due;
            group.timer_seq = seq;
        }
        self.timers.push(Reverse((due, seq, group_key)));
    }

    /// Decides what a group's flush at `time` pages, then forgets resolved alerts and
    /// reschedules (or removes) the group.
    fn flush(&mut self, group_key: u64, time: EventTime, out: &mut Vec<Notification>) {
        let Some(group) = self.groups.get_mut(&group_key) else {
            return;
        };
        let route = self.config.routes.get(group.route);
        let group_interval = route.group_interval;
        let decision = group.decide(group_key, route, &self.alerts, time);
        for page in decision.pages {
            match page.action {
                PageAction::Trigger => self.stats.pages_trigger += 1,
                PageAction::Acknowledge => self.stats.pages_acknowledge += 1,
                PageAction::Resolve => {
                    self.stats.pages_resolve += 1;
                    self.stats.incidents_resolved += 1;
                }
            }
            if page.reason == PageReason::Opened {
                self.stats.incidents_opened += 1;
            }
            out.push(Notification::Page(page));
        }
        for fingerprint in &decision.forget {
            self.alerts.remove(fingerprint);
        }
        if decision.remove_group {
            self.groups.remove(&group_key);
        } else {
            let next = time.saturating_add(group_interval);
            self.schedule(group_key, next);
        }
    }
}

#[cfg(test)]
mod tests;
