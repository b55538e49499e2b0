//! The engine: a synchronous core that turns alert events into pages.
//!
//! Events go in through `apply(event, now)` and `apply_batch(events, now)`, time moves on with
//! `advance(now)`; `command` (silences), `reconfigure`, `flush_pending`, the snapshot and the
//! read-only views (`incidents`, `silences`, `stats`, `history`) complete it. Time is always a
//! parameter: `serve` passes wall-clock time, `replay` passes the capture's
//! recorded times, and both run this same code. Nothing in this module does I/O, reads a clock
//! or imports a network crate.
//!
//! Stages, in order: fingerprint and deduplicate (`store`); scan pattern rules (`patterns`);
//! resolve the alert's subject in the inventory (`topology`); place it in an incident, by
//! topology (`correlate`) or by route and `group_by` (`route`); then, at each group's flush
//! (`group`), work out what is muted (`silence`, `inhibit`, known noise) and decide whether to
//! page a trigger, an update, a repeat, an acknowledgement or a resolve.

pub mod catalog;
mod correlate;
pub mod cow;
mod group;
pub mod impact;
pub mod inhibit;
pub mod inventory;
pub mod logs;
pub mod matcher;
pub mod memory;
pub mod model;
pub mod novelty;
pub mod patterns;
mod route;
pub mod score;
pub mod silence;
pub mod snapshot;
mod store;
mod tally;
pub mod topology;

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Arc;
use std::time::Duration;

pub use matcher::{MatchOp, Matcher, MatcherError};
pub use route::{GroupBy, Route, RouteTree};
pub use store::{Fingerprint, Repeat, fingerprint};
pub use tally::{AlertCounts, PlainPage};

use catalog::{AlertClass, Catalog};
use cow::CowMap;
use group::{Flush, Group, TopologyLink};
use inhibit::{InhibitRule, Inhibitor};
pub use logs::{LogConfig, LogContext, LogMiner};
pub use memory::{Ending, Memory, MemoryConfig, Similar};
pub use novelty::{KindSeen, NoveltyConfig, Seen, Surprise, Surprises};
use patterns::Patterns;
pub use score::{
    Assessment, Contribution, Features, History, KindStats, ScoreConfig, Shadow, Thresholds, Tier, Weights,
};
use silence::Silence;
use store::{AlertEntry, AlertTable, Fate, FlapTracker, Refreshed, UrlCache};
use tally::PlainRoutes;
use topology::{Entity, Topology};

use crate::model::{
    Alert, Event, EventTime, Expiry, Feedback, FeedbackAction, Labels, LabelsBuilder, LogRecord, Severity,
};

/// Evidence items an incident keeps.
const MAX_EVIDENCE: usize = 10;

/// The engine's validated configuration.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Labels left out of an alert's identity (e.g. a Prometheus HA replica label), sorted.
    pub exclude_labels: Vec<Box<str>>,
    /// How long an alert without `endsAt` stays firing without being sent again.
    pub resolve_timeout: Duration,
    /// How long an alert reported as events (`novelty::NameSeen::events`) that its sender
    /// never resolves (PagerDuty triggers) stays firing after its last occurrence.
    pub event_quiet: Duration,
    /// Severity of alerts that carry no recognisable `severity` label.
    pub default_severity: Severity,
    pub routes: RouteTree,
    /// The inventory the config declares; what the engine learns is applied on top of it.
    pub topology: Arc<Topology>,
    /// Whether the engine learns the inventory from telemetry and alerts, and for how long.
    pub learning: inventory::Learning,
    pub correlation: Correlation,
    pub flapping: Flapping,
    pub inhibit_rules: Vec<InhibitRule>,
    /// Silences and maintenance windows from the config and the inventory.
    pub silences: Vec<Silence>,
    pub patterns: Patterns,
    /// What each known alert reports (the standard catalog and the config's entries).
    pub catalog: Arc<Catalog>,
    pub logs: LogConfig,
    pub scoring: ScoreConfig,
    /// What counts as new or a burst, against the history of alert kinds.
    pub novelty: NoveltyConfig,
    /// How many past incidents are remembered, and how many similar ones a page lists.
    pub memory: MemoryConfig,
    /// Responders' acknowledgements are reported (a PagerDuty webhook is set up): an incident
    /// resolved without one counts as untouched.
    pub feedback: bool,
}

/// How alerts about related entities become one incident, and how long low-severity incidents
/// wait before they page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Correlation {
    /// Alerts on related entities join an incident that gained an alert within this window.
    pub window: Duration,
    /// A warning-level incident pages only if it is still firing after this long.
    pub settle_warning: Duration,
    /// The same for info-level incidents.
    pub settle_info: Duration,
    /// How long a node that two independent alerts say is gone (not ready and unreachable)
    /// must stay so to page: corroboration stands for most of the settle time.
    pub settle_corroborated: Duration,
}

/// When an alert counts as flapping, and how long a flapping alert that paged is held open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flapping {
    pub window: Duration,
    /// Episodes (starts) within `window` that make an alert flapping; 0 turns detection off.
    pub min_episodes: u32,
    pub hold: Duration,
}

/// What the engine asks the outside world to do. Closed: sinks match it exhaustively.
#[derive(Debug, Clone, PartialEq)]
pub enum Notification {
    Page(Page),
    /// An incident that goes into the periodic digest instead of paging.
    Digest(Page),
    /// A decision, for the decisions log.
    Decision(DecisionRecord),
    /// A page a plain Alertmanager-style route would have sent (for the on-call report's
    /// "without noisegate").
    Plain(PlainPage),
}

/// What a decision was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecisionKind {
    /// An incident opened (at the tier its first assessment gave).
    Opened,
    /// A PagerDuty event went out.
    Paged(PageAction),
    /// The incident moved up a tier.
    Escalated,
    /// It went to the digest.
    Digested,
    /// It is suppressed: nobody is told.
    Suppressed,
    /// Nothing fires any more.
    Resolved,
}

impl DecisionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DecisionKind::Opened => "opened",
            DecisionKind::Paged(PageAction::Trigger) => "paged",
            DecisionKind::Paged(PageAction::Acknowledge) => "acknowledged",
            DecisionKind::Paged(PageAction::Resolve) => "resolve_paged",
            DecisionKind::Escalated => "escalated",
            DecisionKind::Digested => "digested",
            DecisionKind::Suppressed => "suppressed",
            DecisionKind::Resolved => "resolved",
        }
    }
}

/// One decision about an incident, with its explanation.
#[derive(Debug, Clone, PartialEq)]
pub struct DecisionRecord {
    pub at: EventTime,
    pub dedup_key: Arc<str>,
    pub kind: DecisionKind,
    pub tier: Tier,
    pub score: f64,
    pub why: Vec<Contribution>,
    pub group_labels: Labels,
    /// What happened to the incident's alerts so far.
    pub counts: AlertCounts,
}

/// One PagerDuty event the engine decided to send.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    /// The event time of the decision.
    pub at: EventTime,
    pub action: PageAction,
    /// Stable for the whole life of an incident, derived from its group, so `serve` and
    /// `replay` produce the same keys.
    pub dedup_key: Arc<str>,
    /// The name of the routing key; the sink holds the secret.
    pub routing_key: Arc<str>,
    pub reason: PageReason,
    pub incident: IncidentView,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum PageAction {
    Trigger,
    Acknowledge,
    Resolve,
}

/// Why a page was sent, for explanations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageReason {
    /// The group's first page after `group_wait` (and, for low severity, the settle time).
    Opened,
    /// Alerts joined or resolved since the last page (`group_interval`), or the incident grew
    /// more severe.
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
    /// Firing alerts (those that page first, muted ones after), then alerts that resolved since
    /// the previous page; at most 500 of them.
    pub alerts: Vec<AlertView>,
    /// Alerts of the incident not listed in `alerts`.
    pub alerts_omitted: usize,
    /// The probable cause, for incidents correlated through the inventory.
    pub root: Option<RootCause>,
    /// Other open incidents whose probable cause is linked to this one's in the inventory
    /// (either way): separate problems a responder may want to look at together.
    pub related: Vec<RelatedIncident>,
    /// Services and nodes the incident's alerts are about.
    pub entities: Vec<Arc<str>>,
    /// Tags from pattern rules.
    pub tags: Vec<Arc<str>>,
    /// The log templates the incident's services logged most around it.
    pub log_context: Vec<LogContext>,
    /// Evidence gathered while the incident was open (new error templates bursting).
    pub evidence: Vec<String>,
    /// Past incidents most like this one, most similar first.
    pub similar: Vec<Similar>,
    /// Actionability, the tier it decided, and each feature's part in it.
    pub score: f64,
    pub tier: Tier,
    pub why: Vec<Contribution>,
}

/// The entity an incident is rooted at: what its alerts' dependencies point to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootCause {
    pub entity: Arc<str>,
    /// `node`, or the service's kind from the inventory (`redis`, `postgres`, ...), else
    /// `service`.
    pub kind: Arc<str>,
    /// Names of the firing alerts about the root itself.
    pub alerts: Vec<Arc<str>>,
}

/// An open incident linked to another through the inventory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelatedIncident {
    pub dedup_key: Arc<str>,
    /// Its probable cause, by name.
    pub root: Arc<str>,
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
    /// Why the alert does not page by itself (silenced, inhibited, known noise).
    pub muted: Option<String>,
    pub flapping: bool,
}

/// A firing alert the engine holds and what mutes it now, for Alertmanager's API.
#[derive(Debug, Clone)]
pub struct HeldAlert {
    pub fingerprint: Fingerprint,
    pub labels: Arc<Labels>,
    pub annotations: Arc<Labels>,
    pub starts_at: EventTime,
    /// When it stops firing, if it said (or was resolved to stop later).
    pub ends_at: Option<EventTime>,
    pub generator_url: Option<Arc<str>>,
    /// Whether something keeps it from paging by itself (a silence, inhibition, known noise).
    pub muted: bool,
    /// The active silences that match it.
    pub silenced_by: Vec<Arc<str>>,
    /// The alert that inhibits it, if one does.
    pub inhibited_by: Option<Fingerprint>,
    /// The destination of its route.
    pub routing_key: Arc<str>,
    /// Its incident goes to the digest rather than paging.
    pub digest: bool,
    /// The labels of its group (Alertmanager's `group_by` values, or its incident's root).
    pub group_labels: Labels,
}

/// Running totals, for metrics and replay summaries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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
    /// New error templates bursting (and must-page log lines): evidence for open incidents.
    pub log_bursts: u64,
    /// New alerts placed in an existing incident through the inventory.
    pub alerts_correlated: u64,
    pub incidents_opened: u64,
    pub incidents_resolved: u64,
    /// Groups that ended without ever paging (resolved within group wait or settle time, or
    /// muted throughout).
    pub groups_dropped: u64,
    /// Incidents sent to the digest instead of paging.
    pub digested: u64,
    /// Responder feedback received, and how much named no open incident.
    pub feedback: u64,
    pub feedback_unmatched: u64,
    /// Log lines not mined: their service was at `logs.max_templates_per_service`, or new
    /// beyond `logs.max_services`.
    pub logs_unmined_templates: u64,
    pub logs_unmined_services: u64,
    pub pages_trigger: u64,
    pub pages_acknowledge: u64,
    pub pages_resolve: u64,
    pub active_alerts: u64,
    pub active_groups: u64,
    /// Alert episodes that ended without paging, by what kept them from it.
    pub removed: Removed,
    /// Episodes that started while their alert was flapping (held open, not paged again).
    pub flapping_episodes: u64,
    /// Incidents whose score kept them off PagerDuty and out of the digest.
    pub incidents_suppressed: u64,
}

/// Alert episodes that ended without ever paging, by what kept them from it at their last
/// flush.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Removed {
    /// Resolved before their settle time or their group's wait was over (blips).
    pub settled: u64,
    pub silenced: u64,
    pub inhibited: u64,
    pub known_noise: u64,
    /// In an incident whose score sent it to the digest or suppressed it.
    pub scored: u64,
}

/// Changes to the engine's state that do not come from alerts.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub enum Command {
    AddSilence(Silence),
    ExpireSilence(Arc<str>),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    #[error("no silence with id {0:?} (silences from the config or the inventory cannot be expired)")]
    UnknownSilence(Arc<str>),
    #[error("a silence with id {0:?} exists already")]
    DuplicateSilence(Arc<str>),
}

/// An open incident, for the incidents API and `noisegate explain`.
#[derive(Debug, Clone)]
pub struct IncidentSummary {
    pub dedup_key: Arc<str>,
    pub group_labels: Labels,
    pub opened_at: EventTime,
    pub tier: Tier,
    /// PagerDuty has it open.
    pub on_pagerduty: bool,
    pub assessment: Assessment,
    pub root: Option<RootCause>,
    /// Its alerts' labels and whether each fires.
    pub alerts: Vec<(Arc<Labels>, bool)>,
    /// The log templates its services logged most around it.
    pub log_context: Vec<LogContext>,
    /// Past incidents most like it (as its last page listed them).
    pub similar: Vec<Similar>,
}

/// A silence and whether it mutes alerts now.
#[derive(Debug, Clone)]
pub struct SilenceView {
    pub silence: Silence,
    pub active: bool,
    /// Created through the API (only those can be expired).
    pub dynamic: bool,
}

/// A pending group flush. `seq` breaks ties in scheduling order and identifies the timer a
/// group currently waits for (older timers for the same group are skipped).
type Timer = Reverse<(EventTime, u64, u64)>;

pub struct Engine {
    config: EngineConfig,
    alerts: AlertTable,
    groups: CowMap<u64, Group>,
    /// Keys of the groups correlated through the inventory, oldest first.
    topology_groups: Vec<u64>,
    timers: BinaryHeap<Timer>,
    next_seq: u64,
    now: EventTime,
    stats: EngineStats,
    inhibitor: Inhibitor,
    flaps: FlapTracker,
    /// Silences created through the API.
    silences: Vec<Silence>,
    logs: LogMiner,
    /// What happened to past episodes and pages, per alert kind.
    history: History,
    history_version: u64,
    generator_urls: UrlCache,
    /// The learned inventory's facts (applied to `config.topology`).
    learned: inventory::Learned,
    /// The inventory the config declares, before learning.
    declared: Arc<Topology>,
    /// Per group, what happened to its alerts.
    counts: CowMap<u64, AlertCounts>,
    /// What a plain route would have paged.
    plain: PlainRoutes,
    /// The history of alert kinds novelty is judged against.
    seen: Seen,
    /// Per group, its surprising alerts.
    surprises: CowMap<u64, Surprises>,
    /// Per `group_by` group whose incident began before the onset window, the group a second,
    /// new problem of the same labels opened (see `place`).
    splits: CowMap<u64, u64>,
    /// Past incidents, for the similar ones a page lists.
    memory: Memory,
}

impl Engine {
    pub fn new(config: EngineConfig) -> Engine {
        let inhibitor = Inhibitor::new(config.inhibit_rules.clone());
        let logs = LogMiner::new(config.logs);
        let declared = config.topology.clone();
        Engine {
            config,
            alerts: AlertTable::default(),
            groups: CowMap::default(),
            topology_groups: Vec::new(),
            timers: BinaryHeap::new(),
            next_seq: 0,
            now: EventTime::default(),
            stats: EngineStats::default(),
            inhibitor,
            flaps: FlapTracker::default(),
            silences: Vec::new(),
            logs,
            history: History::default(),
            history_version: 0,
            generator_urls: UrlCache::default(),
            learned: inventory::Learned::default(),
            declared,
            counts: CowMap::default(),
            plain: PlainRoutes::default(),
            seen: Seen::default(),
            surprises: CowMap::default(),
            splits: CowMap::default(),
            memory: Memory::default(),
        }
    }

    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    pub fn stats(&self) -> EngineStats {
        let unmined = self.logs.limit_hits();
        EngineStats {
            active_alerts: self.alerts.len() as u64,
            active_groups: self.groups.len() as u64,
            logs_unmined_templates: unmined.templates,
            logs_unmined_services: unmined.services,
            ..self.stats
        }
    }

    /// Bytes the alert and group tables would allocate if they grew now: a hash table that fills
    /// up doubles, briefly holding both. The memory ceiling keeps room for it.
    pub fn growth_bytes(&self) -> u64 {
        self.alerts.growth_bytes() + self.groups.growth_bytes()
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

    /// Whether applying these events would add a firing alert the engine does not hold: what
    /// the caps on active alerts and groups refuse. Re-sends and resolves of held alerts do not
    /// grow the state (an alert of a PagerDuty-style source, named by its key, counts as new).
    pub fn adds_alerts(&self, events: &[Event], now: EventTime) -> bool {
        events.iter().any(|event| match event {
            Event::Alert(alert) if !alert.resolved && alert.ends_at.is_none_or(|end| end > now) => {
                alert.external_key.is_some()
                    || self.alerts.get(&fingerprint(&alert.labels, &self.config.exclude_labels)).is_none()
            }
            _ => false,
        })
    }

    /// What the write-ahead log needs to keep of an alert about to be applied: `Some` when it
    /// repeats one held with the same annotations and generator URL (the usual re-send), which
    /// `repeated` gives back whole from the same state (with the alert's labels when
    /// `own_labels`: they differ in excluded labels).
    pub fn repeat_of(&self, alert: &Alert) -> Option<Repeat> {
        if alert.external_key.is_some() {
            return None;
        }
        let fingerprint = fingerprint(&alert.labels, &self.config.exclude_labels);
        let entry = self.alerts.get(&fingerprint)?;
        let same = *entry.annotations == alert.annotations
            && entry.generator_url.as_deref() == alert.generator_url.as_deref();
        same.then(|| Repeat {
            fingerprint,
            starts_at: alert.starts_at,
            ends_at: alert.ends_at,
            resolved: alert.resolved,
            expiry: alert.expiry,
            severity: alert.severity,
            own_labels: *entry.labels != alert.labels,
        })
    }

    /// The alert a `Repeat` stands for, from the state it was made in; `labels` are its own
    /// when the log kept them.
    pub fn repeated(&self, repeat: &Repeat, labels: Option<Labels>) -> Option<Alert> {
        let entry = self.alerts.get(&repeat.fingerprint)?;
        Some(Alert {
            labels: labels.unwrap_or_else(|| (*entry.labels).clone()),
            annotations: (*entry.annotations).clone(),
            starts_at: repeat.starts_at,
            ends_at: repeat.ends_at,
            resolved: repeat.resolved,
            expiry: repeat.expiry,
            severity: repeat.severity,
            generator_url: entry.generator_url.as_deref().map(Box::from),
            external_key: None,
        })
    }

    /// Moves time forward to `now` (never backwards) and runs every group flush due by then,
    /// each at its own due time, in due-time order.
    pub fn advance(&mut self, now: EventTime, out: &mut Vec<Notification>) {
        self.now = self.now.max(now);
        if !self.learned.is_empty() {
            let learning = self.config.learning;
            self.learned.expire(Arc::make_mut(&mut self.config.topology), &learning, self.now);
        }
        while let Some(&Reverse((due, seq, key))) = self.timers.peek() {
            if due > self.now {
                break;
            }
            self.timers.pop();
            if self.groups.get(&key).is_some_and(|group| group.timer_seq == seq) {
                self.flush(key, due, out);
                // Then the plain route's groups due by then: the flush noticed which alerts
                // ended, as Alertmanager's flush at the same time would.
                self.advance_plain(due, out);
            }
        }
        self.advance_plain(self.now, out);
    }

    fn advance_plain(&mut self, now: EventTime, out: &mut Vec<Notification>) {
        let alerts = &self.alerts;
        let fires = |fingerprint, at| alerts.get(&fingerprint).is_some_and(|entry| !entry.is_resolved_at(at));
        self.plain.advance(now, fires, |page| out.push(Notification::Plain(page)));
    }

    /// Flushes every group now instead of at its due time: used when the input ends (end of a
    /// replay, `serve --drain` stopping), so that nothing decided is left unsaid.
    pub fn flush_pending(&mut self, now: EventTime, out: &mut Vec<Notification>) {
        self.advance(now, out);
        let mut pending: Vec<(EventTime, u64, u64)> =
            self.groups.iter().map(|(key, group)| (group.next_flush, group.timer_seq, *key)).collect();
        pending.sort_unstable();
        let now = self.now;
        for (_, _, key) in pending {
            self.flush(key, now, out);
        }
    }

    /// Applies a command at `now`. Returns the id of what it created or changed.
    pub fn command(&mut self, command: Command, now: EventTime) -> Result<Arc<str>, CommandError> {
        self.now = self.now.max(now);
        match command {
            Command::AddSilence(silence) => {
                if self.silences.iter().any(|existing| existing.id == silence.id) {
                    return Err(CommandError::DuplicateSilence(silence.id));
                }
                let id = silence.id.clone();
                self.silences.push(silence);
                Ok(id)
            }
            Command::ExpireSilence(id) => {
                let now = self.now;
                let silence = self
                    .silences
                    .iter_mut()
                    .find(|silence| silence.id == id && silence.is_current(now))
                    .ok_or_else(|| CommandError::UnknownSilence(id.clone()))?;
                silence.ends_at = Some(now);
                Ok(id)
            }
        }
    }

    /// Takes a new configuration and keeps every alert, incident, silence created through the
    /// API, and log template: alerts are resolved again against the new inventory, routes and
    /// rules; incidents keep their dedup keys and their place in time. An incident rooted at an
    /// entity the new inventory no longer has carries on as a plain group. Log mining settings
    /// stay as they were at start.
    pub fn reconfigure(&mut self, config: EngineConfig) {
        let old_topology = self.config.topology.clone();
        let log_settings = self.config.logs;
        self.declared = config.topology.clone();
        self.config = EngineConfig { logs: log_settings, ..config };
        self.apply_learned();
        let learning = self.config.learning.enabled;
        for group in self.groups.values_mut() {
            if let Some(link) = &mut group.topology {
                let name = old_topology.entity_name(link.root);
                let learned = match link.root {
                    Entity::Service(id) => !old_topology.service(id).declared,
                    Entity::Node(_) => !old_topology.declares_node(name),
                };
                let service = matches!(link.root, Entity::Service(_));
                let topology = Arc::make_mut(&mut self.config.topology);
                match topology::find_root(topology, service, name, learning && learned) {
                    Some(root) => link.root = root,
                    None => group.topology = None,
                }
            }
        }
        self.derive_from_config();
    }

    /// Applies the learned facts to the config's inventory (after a reload or a restore).
    fn apply_learned(&mut self) {
        if self.config.learning.enabled && !self.learned.is_empty() {
            self.learned.reapply(Arc::make_mut(&mut self.config.topology));
        }
    }

    /// Derives again what the config decides about the alerts and groups held: patterns,
    /// inventory subjects, routes, inhibition (after a reload or a restore).
    fn derive_from_config(&mut self) {
        self.inhibitor = Inhibitor::new(self.config.inhibit_rules.clone());
        let route_count = self.config.routes.len();
        for (fingerprint, entry) in self.alerts.iter_mut() {
            entry.patterns = scan(&self.config.patterns, &entry.labels, &entry.annotations);
            look_up(&self.config.catalog, entry);
            entry.subject = self.config.topology.resolve(&entry.labels);
            entry.route = self.config.routes.select(&entry.labels);
            entry.inhibit_targets = self.inhibitor.target_rules(&entry.labels);
            self.inhibitor.add(*fingerprint, &entry.labels);
            if let Some(url) = &entry.generator_url {
                entry.generator_url = Some(self.generator_urls.intern(url));
            }
        }
        for group in self.groups.values_mut() {
            if group.route >= route_count {
                group.route = 0;
            }
        }
        self.topology_groups.retain(|key| self.groups.get(key).is_some_and(|group| group.topology.is_some()));
    }

    /// The open incidents (paged, digested or suppressed), newest first, with their latest
    /// assessment and alerts.
    pub fn incidents(&self) -> Vec<IncidentSummary> {
        let now = self.now;
        let mut incidents: Vec<IncidentSummary> = self
            .groups
            .iter()
            .filter_map(|(key, group)| {
                let incident = group.incident()?;
                let alerts = group
                    .members
                    .iter()
                    .filter_map(|fingerprint| self.alerts.get(fingerprint))
                    .map(|entry| (entry.labels.clone(), !entry.is_resolved_at(now)))
                    .collect();
                Some(IncidentSummary {
                    dedup_key: incident.dedup_key().clone(),
                    group_labels: group.labels.clone(),
                    opened_at: incident.opened_at(),
                    tier: incident.tier,
                    on_pagerduty: incident.on_pagerduty,
                    assessment: incident.assessment.clone(),
                    root: group
                        .topology
                        .as_ref()
                        .map(|link| root_cause(&self.config.topology, link.root, group, &self.alerts, now)),
                    alerts,
                    log_context: {
                        let services = group_services(&self.config.topology, group, &self.alerts);
                        let names: Vec<&str> = services.iter().map(|service| &**service).collect();
                        let lookback =
                            i64::try_from(self.config.logs.context_lookback.as_millis()).unwrap_or(i64::MAX);
                        let since =
                            EventTime::from_millis(incident.opened_at().as_millis().saturating_sub(lookback));
                        self.logs.context(&names, since, now)
                    },
                    similar: self.memory.similar_to_open(&self.config.memory, *key),
                })
            })
            .collect();
        incidents.sort_by(|left, right| {
            right.opened_at.cmp(&left.opened_at).then(left.dedup_key.cmp(&right.dedup_key))
        });
        incidents
    }

    /// The alerts firing now, with what mutes each, in fingerprint order.
    pub fn held_alerts(&self) -> Vec<HeldAlert> {
        self.held_alerts_up_to(usize::MAX).0
    }

    /// At most `limit` of the alerts firing now (which ones is unspecified), in fingerprint
    /// order, and how many fire: what mutes each is worked out for those returned only.
    pub fn held_alerts_up_to(&self, limit: usize) -> (Vec<HeldAlert>, usize) {
        let now = self.now;
        let firing = self.alerts.iter().filter(|(_, entry)| !entry.is_resolved_at(now)).count();
        let mutes = Mutes {
            configured: &self.config.silences,
            dynamic: &self.silences,
            inhibitor: &self.inhibitor,
            alerts: &self.alerts,
            topology: &self.config.topology,
        };
        let mut held: Vec<HeldAlert> = self
            .alerts
            .iter()
            .filter(|(_, entry)| !entry.is_resolved_at(now))
            .take(limit)
            .map(|(fingerprint, entry)| {
                let node = entry
                    .subject
                    .and_then(|subject| subject.node)
                    .map(|node| self.config.topology.node_name(node));
                let silenced_by = self
                    .config
                    .silences
                    .iter()
                    .chain(&self.silences)
                    .filter(|silence| silence.is_active(now) && silence.matches(&entry.labels, node))
                    .map(|silence| silence.id.clone())
                    .collect();
                let inhibited_by = self
                    .inhibitor
                    .inhibited_by(*fingerprint, entry, &self.alerts, &self.config.topology, now)
                    .map(|(_, source)| source);
                let group = self.groups.get(&entry.group);
                let digest =
                    group.and_then(Group::incident).is_some_and(|incident| incident.tier == Tier::Digest);
                HeldAlert {
                    fingerprint: *fingerprint,
                    labels: entry.labels.clone(),
                    annotations: entry.annotations.clone(),
                    starts_at: entry.starts_at,
                    ends_at: entry.ends_at,
                    generator_url: entry.generator_url.clone(),
                    muted: mutes.reason(*fingerprint, entry, now).is_some(),
                    silenced_by,
                    inhibited_by,
                    routing_key: self.config.routes.get(entry.route).routing_key.clone(),
                    digest,
                    group_labels: group.map(|group| group.labels.clone()).unwrap_or_default(),
                }
            })
            .collect();
        held.sort_by_key(|alert| alert.fingerprint);
        (held, firing)
    }

    /// Every silence, from the config, the inventory and the API, with whether it is active.
    pub fn silences(&self) -> Vec<SilenceView> {
        let now = self.now;
        let configured = self.config.silences.iter().map(|silence| (silence, false));
        let dynamic = self.silences.iter().map(|silence| (silence, true));
        configured
            .chain(dynamic)
            .map(|(silence, dynamic)| SilenceView {
                silence: silence.clone(),
                active: silence.is_active(now),
                dynamic,
            })
            .collect()
    }

    fn apply_one(&mut self, event: Event) {
        match event {
            Event::Alert(alert) => self.apply_alert(alert),
            Event::ResolveKey(key) => self.resolve_key(&key),
            Event::AcknowledgeKey(key) => self.acknowledge_key(&key),
            Event::Log(record) => self.apply_log(&record),
            Event::Feedback(feedback) => self.apply_feedback(&feedback),
            Event::Inventory(facts) => self.learn(&facts),
            Event::Note(note) => {
                self.memory.note(&note.dedup_key, &note.text);
            }
        }
    }

    /// Whether an open incident has this `dedup_key` (feedback about it is this engine's).
    pub fn holds_incident(&self, dedup_key: &str) -> bool {
        self.groups.values().filter_map(Group::incident).any(|incident| **incident.dedup_key() == *dedup_key)
    }

    /// A responder acknowledged (or reopened) an incident: its alert kinds were worth a human.
    /// Resolves count when the incident ends (`flush`): without an acknowledgement, untouched.
    fn apply_feedback(&mut self, feedback: &Feedback) {
        self.stats.feedback += 1;
        let now = self.now;
        // Found first, then changed: only its group is taken back from a snapshot.
        let key = self
            .groups
            .iter()
            .find(|(_, group)| {
                group.incident().is_some_and(|incident| **incident.dedup_key() == *feedback.dedup_key)
            })
            .map(|(key, _)| *key);
        let incident = key.and_then(|key| self.groups.get_mut(&key)).and_then(Group::incident_mut);
        let Some(incident) = incident else {
            self.stats.feedback_unmatched += 1;
            return;
        };
        match feedback.action {
            FeedbackAction::Acknowledged | FeedbackAction::Reopened if !incident.acted => {
                incident.acted = true;
                let seconds = now.since(incident.opened_at()).as_secs_f64();
                for kind in &incident.kinds {
                    let stats = self.history.kind(kind);
                    stats.acted += 1;
                    stats.ack_seconds += seconds;
                }
                self.history_version += 1;
            }
            FeedbackAction::Acknowledged
            | FeedbackAction::Reopened
            | FeedbackAction::Escalated
            | FeedbackAction::Resolved => {}
        }
    }

    /// What past episodes and pages of each alert kind came to.
    pub fn history(&self) -> &History {
        &self.history
    }

    /// The history of alert kinds novelty is judged against.
    pub fn seen(&self) -> &Seen {
        &self.seen
    }

    /// Adds kinds from a saved history (what is already known stays).
    pub fn seed_seen(&mut self, kinds: impl IntoIterator<Item = KindSeen>) {
        for kind in kinds {
            self.seen.seed(kind);
        }
    }

    /// Changes whenever the history changes (to know when to save it).
    pub fn history_version(&self) -> u64 {
        self.history_version
    }

    /// Adds history learnt elsewhere (a saved state, a seed file of past outcomes).
    pub fn seed_history(&mut self, seed: &History) {
        self.history.add(seed);
        self.history_version += 1;
    }

    /// Mines a log line into its service's templates; a burst of a new error template (or a
    /// must-page phrase) becomes evidence for the pages of incidents about that service.
    fn learn(&mut self, facts: &model::InventoryFacts) {
        if self.config.learning.enabled {
            self.learned.learn(Arc::make_mut(&mut self.config.topology), facts, self.now);
        }
    }

    /// Whether `facts` would change the inventory (a fact not held, or held otherwise), rather
    /// than only renew sightings: what the write-ahead log keeps of them.
    pub fn teaches(&self, facts: &model::InventoryFacts) -> bool {
        self.config.learning.enabled && self.learned.teaches(&self.config.topology, facts)
    }

    /// The learned inventory's facts.
    pub fn learned(&self) -> &inventory::Learned {
        &self.learned
    }

    /// The engine's config as it was given: its inventory without what was learned (for a new
    /// engine that learns on its own).
    pub fn declared_config(&self) -> EngineConfig {
        EngineConfig { topology: self.declared.clone(), ..self.config.clone() }
    }

    /// The inventory correlation reads: the config's, with what was learned.
    pub fn topology(&self) -> &Topology {
        &self.config.topology
    }

    /// The inventory, entry by entry, with where each comes from.
    pub fn inventory(&self) -> inventory::Listing {
        inventory::Listing::of(&self.config.topology, &self.learned)
    }

    fn apply_log(&mut self, record: &LogRecord) {
        self.stats.logs_received += 1;
        let hits = if self.config.patterns.is_empty() {
            patterns::PatternHits::default()
        } else {
            self.config.patterns.scan([&*record.body])
        };
        if hits.known_noise.is_some() {
            return;
        }
        let service = record.attributes.get("service.name").unwrap_or("unknown");
        let burst = self.logs.observe(service, &record.body, record.severity, self.now);
        let evidence = match (burst, &hits.must_page) {
            (Some(burst), _) => format!(
                "new error log template on {}: \"{}\" ({} errors in 2 minutes)",
                burst.service, burst.template, burst.errors
            ),
            (None, Some(phrase)) => {
                format!("log on {service} matches must-page phrase {phrase:?}: \"{}\"", record.body)
            }
            (None, None) => return,
        };
        self.stats.log_bursts += 1;
        self.logs.record_evidence(service, self.now, evidence);
    }

    fn apply_alert(&mut self, alert: Alert) {
        let now = self.now;
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
            let group_key = entry.group;
            let firing = !entry.is_resolved_at(now);
            // Created with the group, dropped with it.
            if let Some(counts) = self.counts.get_mut(&group_key) {
                counts.received += 1;
                match (firing, resolved) {
                    // Sent again in the same state: a re-send, or a repeated resolve.
                    (true, false) | (false, true) => counts.deduplicated += 1,
                    (false, false) => counts.alerts += 1,
                    (true, true) => {}
                }
            }
            if firing {
                if resolved {
                    self.stats.alerts_resolved += 1;
                    self.plain.end(fingerprint);
                } else {
                    self.stats.alerts_duplicate += 1;
                    // An event source reports each occurrence with its own start: counted for
                    // bursts (a re-send of the same occurrence is not).
                    if starts_at.is_some_and(|starts_at| starts_at > entry.starts_at) {
                        let entity = entity_of(&self.config.topology, entry);
                        let name = entry.labels.get("alertname").unwrap_or("");
                        let novelty = &self.config.novelty;
                        if let Some(surprise) =
                            self.seen.observe(novelty, fingerprint, name, entity, false, now)
                        {
                            self.surprises.get_or_default(group_key).add(surprise);
                        }
                    }
                }
                // The occurrence just counted may be the one that shows the alert reports events.
                entry.ends_at = ends_at.or_else(|| quiet_end(&self.seen, &self.config, &alert, now));
                if let Some(starts_at) = starts_at {
                    entry.starts_at = entry.starts_at.min(starts_at);
                }
                let severity_before = entry.page_severity();
                let refreshed = entry.refresh(alert, default_severity, &mut self.generator_urls);
                let (severity, starts_at) = (entry.page_severity(), entry.starts_at);
                self.rescan(fingerprint, refreshed);
                if severity > severity_before && !resolved {
                    self.on_join(group_key, fingerprint, severity, starts_at, false);
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
                let refreshed = entry.refresh(alert, default_severity, &mut self.generator_urls);
                self.rescan(fingerprint, refreshed);
                let flapping = self.record_episode(fingerprint);
                self.stats.flapping_episodes += u64::from(flapping);
                let Some(entry) = self.alerts.get_mut(&fingerprint) else { return };
                entry.flapping = flapping;
                entry.fate = Fate::Open;
                entry.hold = if flapping { self.config.flapping.hold } else { Duration::ZERO };
                let (severity, starts_at) = (entry.page_severity(), entry.starts_at);
                let name = entry.labels.get("alertname").unwrap_or("");
                let entity = entity_of(&self.config.topology, entry);
                let surprise = self.seen.observe(&self.config.novelty, fingerprint, name, entity, true, now);
                let surprising = surprise.as_ref().is_some_and(|surprise| !surprise.is_burst());
                if let Some(surprise) = surprise {
                    self.surprises.get_or_default(group_key).add(surprise);
                }
                self.fire_plain(fingerprint);
                self.on_join(group_key, fingerprint, severity, starts_at, surprising);
            }
            return;
        }

        if resolved {
            self.stats.resolves_unknown += 1;
            return;
        }
        self.stats.alerts_new += 1;
        let starts_at = alert.starts_at.unwrap_or(now);
        let severity = alert.severity.unwrap_or(default_severity);
        let patterns = scan(&self.config.patterns, &alert.labels, &alert.annotations);
        if self.config.learning.enabled {
            self.learned.learn_from_alert(Arc::make_mut(&mut self.config.topology), &alert.labels, now);
        }
        let subject = self.config.topology.resolve(&alert.labels);
        let route_id = self.config.routes.select(&alert.labels);
        let flapping = self.record_episode(fingerprint);
        let mut entry = AlertEntry {
            labels: Arc::new(alert.labels),
            annotations: Arc::new(alert.annotations),
            starts_at,
            ends_at,
            severity,
            generator_url: alert.generator_url.map(|url| self.generator_urls.intern(&url)),
            acknowledged: false,
            subject,
            patterns,
            flapping,
            paged: false,
            hold: if flapping { self.config.flapping.hold } else { Duration::ZERO },
            group: 0,
            route: route_id,
            inhibit_targets: 0,
            fate: Fate::Open,
            class: None,
            down: false,
        };
        look_up(&self.config.catalog, &mut entry);
        entry.inhibit_targets = self.inhibitor.target_rules(&entry.labels);
        let page_severity = entry.page_severity();
        let surprise = {
            let name = entry.labels.get("alertname").unwrap_or("");
            let entity = entity_of(&self.config.topology, &entry);
            self.seen.observe(&self.config.novelty, fingerprint, name, entity, true, now)
        };
        let surprising = surprise.as_ref().is_some_and(|surprise| !surprise.is_burst());
        let group_key = self.place(route_id, &entry, page_severity, surprising);
        if let Some(surprise) = surprise {
            self.surprises.get_or_default(group_key).add(surprise);
        }
        entry.group = group_key;
        self.inhibitor.add(fingerprint, &entry.labels);
        self.alerts.insert(fingerprint, entry);
        if let Some(group) = self.groups.get_mut(&group_key) {
            group.members.push(fingerprint);
        }
        let counts = self.counts.get_or_default(group_key);
        counts.received += 1;
        counts.alerts += 1;
        self.fire_plain(fingerprint);
        self.on_join(group_key, fingerprint, page_severity, starts_at, surprising);
    }

    /// An episode of the alert starts: a plain route's group by its route and `group_by`
    /// starts firing, unless an operator's silence mutes the alert (it would there too).
    fn fire_plain(&mut self, fingerprint: Fingerprint) {
        let Some(entry) = self.alerts.get(&fingerprint) else { return };
        let now = self.now;
        let silences = [&self.config.silences[..], &self.silences[..]];
        if silencing(silences, &self.config.topology, entry, now).is_some() {
            return;
        }
        let route = self.config.routes.get(entry.route);
        let key = route::group_key(entry.route, route, &entry.labels);
        let critical = entry.severity == Severity::Critical;
        self.plain.fire(fingerprint, key, critical, now, route.group_wait);
    }

    /// Labels or annotations changed: pattern hits, subject, route and inhibition sources
    /// follow (the group stays: an alert never moves between incidents).
    fn rescan(&mut self, fingerprint: Fingerprint, refreshed: Refreshed) {
        if !refreshed.annotations && refreshed.old_labels.is_none() {
            return;
        }
        let Some(entry) = self.alerts.get_mut(&fingerprint) else { return };
        entry.patterns = scan(&self.config.patterns, &entry.labels, &entry.annotations);
        if let Some(old_labels) = refreshed.old_labels {
            look_up(&self.config.catalog, entry);
            entry.subject = self.config.topology.resolve(&entry.labels);
            entry.route = self.config.routes.select(&entry.labels);
            entry.inhibit_targets = self.inhibitor.target_rules(&entry.labels);
            self.inhibitor.remove(fingerprint, &old_labels);
            self.inhibitor.add(fingerprint, &entry.labels);
        }
    }

    fn record_episode(&mut self, fingerprint: Fingerprint) -> bool {
        let flapping = self.config.flapping;
        self.flaps.record(fingerprint, self.now, flapping.window, flapping.min_episodes)
    }

    /// Finds or creates the group for a new alert: through the inventory when its subject is
    /// known, else by route and `group_by`. A surprising alert (a kind new to its entity) whose
    /// `group_by` group began before the onset window is a second problem, not more of the
    /// first: it opens a group of its own (with the same labels), which other surprising
    /// alerts join within the window.
    fn place(&mut self, route_id: usize, entry: &AlertEntry, severity: Severity, surprising: bool) -> u64 {
        let now = self.now;
        let route = self.config.routes.get(route_id);
        let root = entry.subject.and_then(|subject| subject.entity());
        // Saturation alerts neither explain a failure nor are explained by one, and must not
        // hold an incident open: they group by their route.
        let correlated = !matches!(entry.class, Some(AlertClass::Saturation | AlertClass::Meta));
        let (Some(subject), Some(root), true) = (entry.subject, root, correlated) else {
            let mut key = route::group_key(route_id, route, &entry.labels);
            let window = self.config.correlation.window;
            let onset_passed = |group: &Group| now.since(group.created_at) > window;
            if surprising && self.groups.get(&key).is_some_and(onset_passed) {
                let young = self
                    .splits
                    .get(&key)
                    .copied()
                    .filter(|split| self.groups.get(split).is_some_and(|group| !onset_passed(group)));
                key = match young {
                    Some(split) => split,
                    None => {
                        let split = route::split_key(key, now);
                        self.splits.insert(key, split);
                        split
                    }
                };
            }
            self.groups.get_or_insert_with(key, || {
                Group::new(route_id, route::group_labels(route, &entry.labels), now, None)
            });
            return key;
        };
        let window = self.config.correlation.window;
        let arrival = correlate::Arrival {
            name: entry.labels.get("alertname").unwrap_or(""),
            subject: &subject,
            severity,
            starts_at: entry.starts_at,
            class: entry.class,
        };
        let chosen = correlate::choose(
            &self.config.topology,
            &self.groups,
            &self.topology_groups,
            &self.alerts,
            &arrival,
            now,
            window,
        );
        if let Some((key, new_root)) = chosen {
            self.stats.alerts_correlated += 1;
            if let (Some(root), Some(link)) =
                (new_root, self.groups.get_mut(&key).and_then(|group| group.topology.as_mut()))
            {
                link.root = root;
                self.adopt(key, &arrival);
            }
            return key;
        }
        let key = correlate::group_key(route_id, root, now);
        let labels = root_labels(&self.config.topology, root, &entry.labels);
        let link = TopologyLink { root, last_join: now, severity, root_hint: None };
        self.groups.insert(key, Group::new(route_id, labels, now, Some(link)));
        self.topology_groups.push(key);
        self.adopt(key, &arrival);
        key
    }

    /// A failure just became the root of group `key`: the young groups of its symptoms that
    /// arrived first and have decided nothing yet join it (a node's pods and targets reported
    /// before the node itself), so that one problem is one incident.
    fn adopt(&mut self, key: u64, arrival: &correlate::Arrival<'_>) {
        let window = self.config.correlation.window;
        let topology = &self.config.topology;
        let adopted: Vec<u64> = self
            .topology_groups
            .iter()
            .copied()
            .filter(|other| *other != key)
            .filter(|other| {
                self.groups
                    .get(other)
                    .is_some_and(|group| correlate::adoptable(topology, group, arrival, window))
            })
            .collect();
        for other in adopted {
            let Some(group) = self.groups.remove(&other) else { continue };
            self.topology_groups.retain(|known| *known != other);
            for fingerprint in &group.members {
                if let Some(entry) = self.alerts.get_mut(fingerprint) {
                    entry.group = key;
                }
            }
            self.stats.alerts_correlated += group.members.len() as u64;
            if let Some(moved) = self.counts.remove(&other) {
                self.counts.get_or_default(key).add(&moved);
            }
            self.memory.forget_open(other);
            if let Some(moved) = self.surprises.remove(&other) {
                let target = self.surprises.get_or_default(key);
                for surprise in moved.list {
                    target.add(surprise);
                }
            }
            if let Some(target) = self.groups.get_mut(&key) {
                target.members.extend(group.members);
                if let Some(link) = target.topology.as_mut() {
                    link.severity =
                        link.severity.max(group.topology.map_or(Severity::Info, |moved| moved.severity));
                }
            }
        }
    }

    /// An alert joined `group_key` (new, firing again, or more severe): bring the group's
    /// flush forward if this alert must page sooner (by its own route's `group_wait`).
    fn on_join(
        &mut self,
        group_key: u64,
        fingerprint: Fingerprint,
        severity: Severity,
        starts_at: EventTime,
        surprising: bool,
    ) {
        let now = self.now;
        let correlation = self.config.correlation;
        let route_id = self.alerts.get(&fingerprint).map_or(0, |entry| entry.route);
        let route = self.config.routes.get(route_id);
        let Some(group) = self.groups.get_mut(&group_key) else { return };
        if let Some(link) = &mut group.topology {
            link.last_join = now;
            link.severity = link.severity.max(severity);
            let entry = self.alerts.get(&fingerprint);
            if entry.is_some_and(|entry| correlate::says_root_fails(entry, link.root)) {
                link.root_hint = Some(fingerprint);
            }
        }
        // A node-down alert whose node another kind of alert already says is gone: only then
        // are the group's members looked through.
        let node = self.alerts.get(&fingerprint).and_then(group::node_down_alert);
        let corroborated = node.is_some_and(|node| {
            group::corroborated_nodes(&group.members, &self.alerts, now)
                .iter()
                .any(|(known, _)| *known == node)
        });
        let due = match &group.incident {
            None => {
                let wait = match severity {
                    // A new kind is not a blip to wait out: it pages as soon as a critical one.
                    _ if surprising => route.group_wait,
                    Severity::Critical | Severity::Error => route.group_wait,
                    _ if corroborated => route.group_wait.max(correlation.settle_corroborated),
                    Severity::Warning => route.group_wait.max(correlation.settle_warning),
                    Severity::Info => route.group_wait.max(correlation.settle_info),
                };
                // Like Alertmanager: an alert that started long enough ago pages without waiting.
                if starts_at.saturating_add(wait) <= now { now } else { now.saturating_add(wait) }
            }
            // An open incident grows more severe: say so without waiting for group_interval.
            Some(incident) if severity > incident.paged_severity || surprising => {
                now.saturating_add(route.group_wait)
            }
            Some(_) => return,
        };
        if !group.scheduled || due < group.next_flush {
            self.schedule(group_key, due);
        }
    }

    fn resolve_key(&mut self, key: &str) {
        let now = self.now;
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
            (None, Expiry::UntilResolved) => quiet_end(&self.seen, &self.config, alert, now),
        }
    }

    fn schedule(&mut self, group_key: u64, due: EventTime) {
        let seq = self.next_seq;
        self.next_seq += 1;
        if let Some(group) = self.groups.get_mut(&group_key) {
            group.next_flush = due;
            group.timer_seq = seq;
            group.scheduled = true;
        }
        self.timers.push(Reverse((due, seq, group_key)));
    }

    /// Decides what a group's flush at `time` pages, says it, then forgets resolved alerts and
    /// reschedules (or removes) the group.
    fn flush(&mut self, group_key: u64, time: EventTime, out: &mut Vec<Notification>) {
        let Some(mut flushed) = self.decide(group_key, time) else { return };
        if flushed.needs_context {
            self.name_related(group_key, &mut flushed.decision);
        }
        // The members' fates first: the decision records carry their counts.
        self.settle_members(group_key, &flushed);
        if flushed.decision.records.iter().any(|(kind, _)| *kind == DecisionKind::Resolved) {
            let acted = flushed.decision.ended.as_ref().is_some_and(|(_, acted)| *acted);
            self.memory.close(&self.config.memory, group_key, time, acted);
        }
        self.emit(group_key, &mut flushed, time, out);
        if flushed.decision.remove_group {
            self.groups.remove(&group_key);
            self.counts.remove(&group_key);
            self.surprises.remove(&group_key);
            self.splits.retain(|_, split| *split != group_key);
            self.topology_groups.retain(|key| *key != group_key);
        } else {
            let next = time.saturating_add(flushed.group_interval);
            let next = flushed
                .decision
                .settles_at
                .filter(|settles| *settles > time)
                .map_or(next, |settles| settles.min(next));
            self.schedule(group_key, next);
        }
    }

    /// The group's decision at `time`: its members sorted out, the incident scored and
    /// concluded, and the context its triggers and digest carry (root cause, entities, logs,
    /// evidence).
    fn decide(&mut self, group_key: u64, time: EventTime) -> Option<Flushed> {
        let group = self.groups.get_mut(&group_key)?;
        let route = self.config.routes.get(group.route);
        let mutes = Mutes {
            configured: &self.config.silences,
            dynamic: &self.silences,
            inhibitor: &self.inhibitor,
            alerts: &self.alerts,
            topology: &self.config.topology,
        };
        // Log evidence about the group's services since shortly before it formed; new evidence
        // is a change worth an update, like a new alert.
        let lookback = i64::try_from(self.config.logs.context_lookback.as_millis()).unwrap_or(i64::MAX);
        let since = EventTime::from_millis(group.created_at.as_millis().saturating_sub(lookback));
        // Worked out only when a page or recent evidence needs them (a pass over the members).
        let mut services: Option<Vec<Arc<str>>> = None;
        let evidence = if self.logs.has_evidence_since(since) {
            let names =
                services.get_or_insert_with(|| group_services(&self.config.topology, group, &self.alerts));
            let names: Vec<&str> = names.iter().map(|service| &**service).collect();
            self.logs.evidence(&names, since, time, MAX_EVIDENCE)
        } else {
            Vec::new()
        };
        let mute = |fingerprint, entry: &AlertEntry| mutes.reason(fingerprint, entry, time);
        let surprises = self.surprises.get(&group_key);
        let flush = Flush {
            route,
            correlation: &self.config.correlation,
            alerts: &self.alerts,
            time,
            evidence: evidence.len(),
            mute: &mute,
            surprises,
        };
        let classified = group.classify(&flush);
        let fates = classified.fates();
        let known = Known { history: &self.history, seen: &self.seen, surprises };
        let features = features(&self.config, &known, group, &classified, &self.alerts, time, evidence.len());
        let assessment = self.config.scoring.assess(&features);
        let mut decision = group.conclude(group_key, classified, assessment, &flush);
        let needs_context =
            decision.pages.iter().any(|page| page.action == PageAction::Trigger) || decision.digest.is_some();
        if needs_context {
            let root = group
                .topology
                .as_ref()
                .map(|link| root_cause(&self.config.topology, link.root, group, &self.alerts, time));
            let entities = group_entities(&self.config.topology, group, &self.alerts);
            let names =
                services.get_or_insert_with(|| group_services(&self.config.topology, group, &self.alerts));
            let names: Vec<&str> = names.iter().map(|service| &**service).collect();
            let log_context = self.logs.context(&names, since, time);
            let similar = group.incident().map_or_else(Vec::new, |incident| {
                let (shape, title) = incident_shape(group, &self.alerts, &entities, &names, &log_context);
                let paged = decision.pages.iter().any(|page| page.action == PageAction::Trigger);
                let tokens = self.memory.describe(
                    group_key,
                    incident.dedup_key(),
                    &title,
                    incident.opened_at(),
                    shape,
                    paged,
                );
                self.memory.similar(&self.config.memory, &tokens)
            });
            let triggers = decision.pages.iter_mut().filter(|page| page.action == PageAction::Trigger);
            for page in triggers.chain(decision.digest.as_mut()) {
                page.incident.root = root.clone();
                page.incident.entities = entities.clone();
                page.incident.log_context = log_context.clone();
                page.incident.evidence = evidence.clone();
                page.incident.similar = similar.clone();
            }
        }
        // What the decisions log says of it: the open incident's, or (it just ended) what its
        // resolve carries. Copied only when there is a record to write.
        let recorded = if decision.records.is_empty() {
            None
        } else {
            let incident = group.incident();
            let about = match incident {
                Some(incident) => Some((incident.dedup_key().clone(), incident.assessment.score)),
                None => decision.pages.first().map(|page| (page.dedup_key.clone(), page.incident.score)),
            };
            about.map(|(dedup_key, score)| Recorded {
                dedup_key,
                score,
                why: incident.map(|incident| incident.assessment.why.clone()).unwrap_or_default(),
                group_labels: group.labels.clone(),
            })
        };
        Some(Flushed {
            // A live member of an incident that is not on PagerDuty was kept back by its score.
            scored: group.incident().is_some_and(|incident| !incident.on_pagerduty),
            dropped: decision.pages.is_empty() && decision.remove_group && group.incident.is_none(),
            group_interval: route.group_interval,
            recorded,
            decision,
            fates,
            needs_context,
        })
    }

    /// Names, in the triggers, the open incidents linked to this one in the inventory.
    fn name_related(&self, group_key: u64, decision: &mut group::Decision) {
        if !decision.pages.iter().any(|page| page.action == PageAction::Trigger) {
            return;
        }
        let Some(root) =
            self.groups.get(&group_key).and_then(|group| group.topology.as_ref()).map(|link| link.root)
        else {
            return;
        };
        let related =
            related_incidents(&self.config.topology, &self.groups, &self.topology_groups, group_key, root);
        for page in decision.pages.iter_mut().filter(|page| page.action == PageAction::Trigger) {
            page.incident.related = related.clone();
        }
    }

    /// Says what was decided: the decision records, the digest, the pages, and the counts.
    fn emit(&mut self, group_key: u64, flushed: &mut Flushed, time: EventTime, out: &mut Vec<Notification>) {
        let decision = &mut flushed.decision;
        if let Some(recorded) = &flushed.recorded {
            let counts = self.counts.get(&group_key).copied().unwrap_or_default();
            for (kind, tier) in &decision.records {
                out.push(Notification::Decision(DecisionRecord {
                    at: time,
                    dedup_key: recorded.dedup_key.clone(),
                    kind: *kind,
                    tier: *tier,
                    score: recorded.score,
                    why: recorded.why.clone(),
                    group_labels: recorded.group_labels.clone(),
                    counts,
                }));
            }
        }
        if let Some((kinds, acted)) = decision.ended.take() {
            if self.config.feedback && !acted {
                for kind in &kinds {
                    self.history.kind(kind).untouched += 1;
                }
            }
        }
        let suppressed =
            decision.records.iter().filter(|(kind, _)| *kind == DecisionKind::Suppressed).count();
        self.stats.incidents_suppressed += suppressed as u64;
        if let Some(digest) = decision.digest.take() {
            self.stats.digested += 1;
            out.push(Notification::Digest(digest));
        }
        self.stats.groups_dropped += u64::from(flushed.dropped);
        for page in decision.pages.drain(..) {
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
    }

    /// What the decision leaves on the members: each one's fate, the alerts now paged, and the
    /// resolved ones forgotten (their episodes counted in the history).
    fn settle_members(&mut self, group_key: u64, flushed: &Flushed) {
        for (fingerprint, fate) in &flushed.fates {
            if let Some(entry) = self.alerts.get_mut(fingerprint) {
                if *fate != Fate::Scored || flushed.scored {
                    entry.fate = *fate;
                }
            }
        }
        for fingerprint in &flushed.decision.mark_paged {
            if let Some(entry) = self.alerts.get_mut(fingerprint) {
                entry.paged = true;
            }
        }
        // What the incident's score did with its alerts: its tier (the last record's when it
        // just ended).
        let tier = flushed.decision.records.last().map(|(_, tier)| *tier).or_else(|| {
            self.groups.get(&group_key).and_then(|group| group.incident()).map(|incident| incident.tier)
        });
        let mut spare = AlertCounts::default();
        let counts = self.counts.get_mut(&group_key).unwrap_or(&mut spare);
        for (fingerprint, paged) in &flushed.decision.forget {
            if let Some(entry) = self.alerts.remove(fingerprint) {
                self.inhibitor.remove(*fingerprint, &entry.labels);
                self.plain.end(*fingerprint);
                // An episode that ended without ever paging resolved on its own.
                if !*paged {
                    let removed = &mut self.stats.removed;
                    match entry.fate {
                        Fate::Open => (removed.settled += 1, counts.settled += 1),
                        Fate::Silenced => (removed.silenced += 1, counts.silenced += 1),
                        Fate::Inhibited => (removed.inhibited += 1, counts.inhibited += 1),
                        Fate::KnownNoise => (removed.known_noise += 1, counts.known_noise += 1),
                        Fate::Scored if tier == Some(Tier::Digest) => {
                            (removed.scored += 1, counts.digested += 1)
                        }
                        Fate::Scored => (removed.scored += 1, counts.suppressed += 1),
                    };
                }
                let kind = self.history.kind(entry.labels.get("alertname").unwrap_or(""));
                kind.episodes += 1;
                kind.self_resolved += u64::from(!*paged);
                self.history_version += 1;
            }
        }
    }
}

/// A flush's decision and what the steps after it need of the group.
struct Flushed {
    decision: group::Decision,
    fates: Vec<(Fingerprint, Fate)>,
    /// A live member of an incident kept off PagerDuty by its score.
    scored: bool,
    /// The group ends without having paged anything.
    dropped: bool,
    /// Triggers or a digest went out: they carry context.
    needs_context: bool,
    group_interval: Duration,
    /// The incident the decision records are about, when there are records.
    recorded: Option<Recorded>,
}

/// What each decision record of a flush says of its incident.
struct Recorded {
    dedup_key: Arc<str>,
    score: f64,
    why: Vec<Contribution>,
    group_labels: Labels,
}

/// What the engine knows of alert kinds beyond a group's members: the history of their
/// episodes and pages, the history novelty is judged against, the group's surprises.
struct Known<'a> {
    history: &'a History,
    seen: &'a Seen,
    surprises: Option<&'a Surprises>,
}

/// The features an incident is scored on, from its live alerts.
fn features(
    config: &EngineConfig,
    known: &Known<'_>,
    group: &Group,
    classified: &group::Classified,
    alerts: &AlertTable,
    time: EventTime,
    evidence: usize,
) -> Features {
    let mut entities: Vec<Entity> = Vec::new();
    let mut kinds: Vec<&str> = Vec::new();
    let mut catalog = Vec::new();
    let mut deadline: Vec<Box<str>> = Vec::new();
    let mut persisting: Option<(Box<str>, f64)> = None;
    let mut flapping = false;
    let mut must_page = false;
    let mut severity: Option<Severity> = None;
    let mut saturation_severity: Option<Severity> = None;
    let mut events_only = true;
    let mut kind_events: Vec<bool> = Vec::new();
    // What has outlasted its settle time counts (and what paged before and holds the incident
    // open): an alert still settling is listed in the incident's pages, but a blip must not
    // make the incident grow or spread.
    let mut counted = 0;
    for member in classified.observed() {
        let Some(entry) = alerts.get(&member.fingerprint) else { continue };
        if !member.live || !(member.settled || entry.paged) {
            continue;
        }
        counted += 1;
        if let Some(entity) = entry.subject.and_then(|subject| subject.entity()) {
            if !entities.contains(&entity) {
                entities.push(entity);
            }
        }
        let kind = entry.labels.get("alertname").unwrap_or("");
        // Alerts reported as events (see `NameSeen::events`): their episodes come and go with
        // the events, and firing long means occurring often, which bursts measure. Looked up
        // once per kind.
        let events = match kinds.iter().position(|known| *known == kind) {
            Some(index) => kind_events[index],
            None => {
                kinds.push(kind);
                catalog.push((Box::from(kind), config.catalog.get(kind).cloned()));
                kind_events.push(known.seen.reports_events(kind));
                kind_events[kind_events.len() - 1]
            }
        };
        events_only &= events;
        flapping |= entry.flapping && !events;
        must_page |= entry.patterns().must_page.is_some();
        match entry.class {
            Some(AlertClass::Saturation) => {
                saturation_severity = saturation_severity.max(Some(entry.page_severity()));
            }
            _ => severity = severity.max(Some(entry.page_severity())),
        }
        if member.muted {
            continue;
        }
        match entry.class {
            Some(AlertClass::Deadline) if member.settled && !deadline.iter().any(|name| **name == *kind) => {
                deadline.push(kind.into());
            }
            Some(AlertClass::Availability) | None if member.settled && !events => {
                let minutes = time.since(entry.starts_at).as_secs_f64() / 60.0;
                if persisting.as_ref().is_none_or(|(_, longest)| minutes > *longest) {
                    persisting = Some((kind.into(), minutes));
                }
            }
            _ => {}
        }
    }
    let impact = impact::assess(
        &config.topology,
        classified.observed().filter_map(|member| {
            let entry = alerts.get(&member.fingerprint)?;
            member
                .firing
                .then_some(impact::Observed { entry, counts: member.live && !member.muted && member.settled })
        }),
    );
    let (self_resolving, acted_on) = known.history.rates(kinds.into_iter());
    let surprises = known.surprises;
    let opened = group.incident().map_or(group.created_at, |incident| incident.opened_at());
    Features {
        saturation_only: severity.is_none() && saturation_severity.is_some(),
        severity: severity.or(saturation_severity),
        impact,
        entities: entities.len(),
        alerts: counted,
        minutes_open: time.since(opened.min(group.created_at)).as_secs_f64() / 60.0,
        self_resolving,
        flapping,
        evidence,
        acted_on,
        must_page,
        catalog,
        deadline,
        persisting,
        events_only: events_only && counted > 0,
        newness: surprises.map_or(0.0, Surprises::newness),
        surprises: surprises
            .into_iter()
            .flat_map(|surprises| &surprises.list)
            .filter(|surprise| !surprise.is_burst())
            .map(Surprise::describe)
            .collect(),
        burst: surprises.and_then(Surprises::burst).map(|burst| (burst.value, burst.describe())),
    }
}

/// Members an incident's shape and title read at most (a page lists 500 alerts).
const SHAPE_MEMBERS: usize = 500;

/// What an incident is made of, for the memory: its alert names, the entities (the
/// inventory's, else the alerts' entity labels) and services they are about, the log
/// templates around it; and its title, the names and what they are about.
fn incident_shape(
    group: &Group,
    alerts: &AlertTable,
    entities: &[Arc<str>],
    services: &[&str],
    log_context: &[LogContext],
) -> (memory::Shape, String) {
    let mut shape = memory::Shape::default();
    let mut names: Vec<&str> = Vec::new();
    let mut labelled: Vec<&str> = Vec::new();
    for entry in group.members.iter().take(SHAPE_MEMBERS).filter_map(|fingerprint| alerts.get(fingerprint)) {
        let name = entry.labels.get("alertname").unwrap_or("");
        if !names.contains(&name) {
            names.push(name);
        }
        if entities.is_empty() {
            if let Some(entity) = ENTITY_LABELS.iter().find_map(|label| entry.labels.get(label)) {
                if !labelled.contains(&entity) {
                    labelled.push(entity);
                }
            }
        }
    }
    for name in &names {
        shape.add("alert", name);
    }
    let about: Vec<&str> = entities.iter().map(|entity| &**entity).chain(labelled).collect();
    for entity in &about {
        shape.add("entity", entity);
    }
    for service in services {
        shape.add("service", service);
    }
    for line in log_context {
        shape.add("template", &line.template);
    }
    let mut title = names.iter().take(3).copied().collect::<Vec<_>>().join(", ");
    if names.len() > 3 {
        title.push_str(&format!(" and {} more", names.len() - 3));
    }
    if !about.is_empty() {
        title.push_str(&format!(" ({})", about.iter().take(5).copied().collect::<Vec<_>>().join(", ")));
    }
    (shape, title)
}

/// When an alert its sender never resolves ends: `event_quiet` after this occurrence if its
/// name reports events (they end when they stop coming), else never.
fn quiet_end(seen: &Seen, config: &EngineConfig, alert: &Alert, now: EventTime) -> Option<EventTime> {
    let events = alert.expiry == Expiry::UntilResolved
        && alert.ends_at.is_none()
        && seen.reports_events(alert.labels.get("alertname").unwrap_or(""));
    events.then(|| now.saturating_add(config.event_quiet))
}

/// Labels that name what an alert is about when the inventory does not place it.
const ENTITY_LABELS: [&str; 6] = ["host", "hostname", "node", "instance", "service", "job"];

/// The entity an alert is about, as novelty knows it: its subject in the inventory, else the
/// first label that names one, else nothing ("").
fn entity_of<'a>(topology: &'a Topology, entry: &'a AlertEntry) -> &'a str {
    if let Some(entity) = entry.subject.and_then(|subject| subject.entity()) {
        return topology.entity_name(entity);
    }
    ENTITY_LABELS.iter().find_map(|name| entry.labels.get(name)).unwrap_or("")
}

/// What the catalog says the alert's name reports.
fn look_up(catalog: &Catalog, entry: &mut AlertEntry) {
    let known = entry.labels.get("alertname").and_then(|name| catalog.get(name));
    entry.class = known.map(|known| known.class);
    entry.down = known.is_some_and(|known| known.down);
}

fn scan(patterns: &Patterns, labels: &Labels, annotations: &Labels) -> Option<Box<patterns::PatternHits>> {
    if patterns.is_empty() {
        return None;
    }
    let texts = [
        labels.get("alertname"),
        annotations.get("summary"),
        annotations.get("description"),
        annotations.get("message"),
    ];
    let hits = patterns.scan(texts.into_iter().flatten());
    (!hits.is_empty()).then(|| Box::new(hits))
}

/// Why an alert does not page at a flush: checked there, because silences start and end and
/// inhibiting alerts come and go.
struct Mutes<'a> {
    configured: &'a [Silence],
    dynamic: &'a [Silence],
    inhibitor: &'a Inhibitor,
    alerts: &'a AlertTable,
    topology: &'a Topology,
}

impl Mutes<'_> {
    fn reason(&self, fingerprint: Fingerprint, entry: &AlertEntry, time: EventTime) -> Option<String> {
        if let Some(silence) = silencing([self.configured, self.dynamic], self.topology, entry, time) {
            return Some(if silence.comment.is_empty() {
                format!("silenced by {}", silence.id)
            } else {
                format!("silenced by {} ({})", silence.id, silence.comment)
            });
        }
        // Must-page phrases override known noise and inhibition (not an operator's silence).
        if entry.patterns().must_page.is_some() {
            return None;
        }
        if let Some(phrase) = &entry.patterns().known_noise {
            return Some(format!("known noise: matches {phrase:?}"));
        }
        if entry.class == Some(AlertClass::Meta) {
            let name = entry.labels.get("alertname").unwrap_or("alert");
            return Some(format!("known noise: {name} tests the alerting pipeline (catalog: meta)"));
        }
        if let Some((rule, source)) =
            self.inhibitor.inhibited_by(fingerprint, entry, self.alerts, self.topology, time)
        {
            let by =
                self.alerts.get(&source).and_then(|source| source.labels.get("alertname")).unwrap_or("alert");
            return Some(format!("inhibited by {by} ({})", rule.name));
        }
        None
    }
}

/// The first of `silences` (the config's, then the API's) that mutes the alert at `time`.
fn silencing<'a>(
    silences: [&'a [Silence]; 2],
    topology: &Topology,
    entry: &AlertEntry,
    time: EventTime,
) -> Option<&'a Silence> {
    let node = entry.subject.and_then(|subject| subject.node).map(|node| topology.node_name(node));
    silences
        .into_iter()
        .flatten()
        .find(|silence| silence.is_active(time) && silence.matches(&entry.labels, node))
}

/// Labels naming a topology group: the root entity, plus the alert's cluster and namespace.
fn root_labels(topology: &Topology, root: Entity, labels: &Labels) -> Labels {
    let mut builder = LabelsBuilder::with_capacity(3);
    match root {
        Entity::Service(_) => builder.push("service", topology.entity_name(root)),
        Entity::Node(_) => builder.push("node", topology.entity_name(root)),
    }
    for name in ["cluster", "namespace"] {
        if let Some(value) = labels.get(name) {
            builder.push(name, value);
        }
    }
    builder.build()
}

fn root_cause(
    topology: &Topology,
    root: Entity,
    group: &Group,
    alerts: &AlertTable,
    time: EventTime,
) -> RootCause {
    let kind: Arc<str> = match root {
        Entity::Node(_) => Arc::from("node"),
        Entity::Service(id) => Arc::from(topology.service(id).kind.as_deref().unwrap_or("service")),
    };
    let mut names: Vec<Arc<str>> = Vec::new();
    for entry in group.members.iter().filter_map(|fingerprint| alerts.get(fingerprint)) {
        let on_root = entry.subject.and_then(|subject| subject.entity()) == Some(root)
            || matches!(root, Entity::Node(node) if entry.subject.is_some_and(|subject| subject.node == Some(node) && subject.service.is_none()));
        if on_root && !entry.is_resolved_at(time) {
            let name = entry.labels.get("alertname").unwrap_or("alert");
            if !names.iter().any(|known| &**known == name) {
                names.push(Arc::from(name));
            }
        }
    }
    RootCause { entity: Arc::from(topology.entity_name(root)), kind, alerts: names }
}

/// The other open incidents whose roots are linked to `root` in the inventory, oldest first.
fn related_incidents(
    topology: &Topology,
    groups: &CowMap<u64, Group>,
    topology_groups: &[u64],
    own: u64,
    root: Entity,
) -> Vec<RelatedIncident> {
    topology_groups
        .iter()
        .filter(|key| **key != own)
        .filter_map(|key| groups.get(key))
        .filter_map(|group| {
            let incident = group.incident()?;
            let other = group.topology.as_ref()?.root;
            correlate::related(topology, root, other).then(|| RelatedIncident {
                dedup_key: incident.dedup_key().clone(),
                root: Arc::from(topology.entity_name(other)),
            })
        })
        .collect()
}

/// Services the group's alerts are about, by inventory name or by their `service.name`,
/// `service` or `job` label, in first-seen order: whose logs a page lists.
fn group_services(topology: &Topology, group: &Group, alerts: &AlertTable) -> Vec<Arc<str>> {
    let mut services: Vec<Arc<str>> = Vec::new();
    for entry in group.members.iter().filter_map(|fingerprint| alerts.get(fingerprint)) {
        let name = match entry.subject.and_then(|subject| subject.service) {
            Some(service) => Some(&*topology.service(service).name),
            None => ["service.name", "service", "job"].iter().find_map(|label| entry.labels.get(label)),
        };
        if let Some(name) = name {
            if !services.iter().any(|known| &**known == name) {
                services.push(Arc::from(name));
            }
        }
    }
    services
}

/// Services and nodes the group's alerts are about, in first-seen order.
fn group_entities(topology: &Topology, group: &Group, alerts: &AlertTable) -> Vec<Arc<str>> {
    let mut entities: Vec<Arc<str>> = Vec::new();
    for entry in group.members.iter().filter_map(|fingerprint| alerts.get(fingerprint)) {
        if let Some(entity) = entry.subject.and_then(|subject| subject.entity()) {
            let name = topology.entity_name(entity);
            if !entities.iter().any(|known| &**known == name) {
                entities.push(Arc::from(name));
            }
        }
    }
    entities
}

#[cfg(test)]
mod tests;
