//! Every metric noisegate exports, defined in one place. Names are
//! `noisegate_<thing>_<unit>_total`; label values come from small fixed sets (source, reason,
//! action), never from alert labels.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Metric, Registry};

use crate::ingest::{Reason, SourceKind};
use noisegate_engine::inventory::LearnStats;
use noisegate_engine::{EngineStats, PageAction};

/// Buckets of the on-call times to acknowledge and resolve: half a minute to a day.
const ONCALL_BUCKETS: [f64; 10] = [30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0, 14400.0, 86400.0];
/// Buckets of `noisegate_ingest_to_engine_seconds`: half a millisecond to five seconds.
const INGEST_BUCKETS: [f64; 13] =
    [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0];

/// Buckets of `noisegate_snapshot_pause_seconds`: 50 microseconds to half a second.
const PAUSE_BUCKETS: [f64; 10] = [0.00005, 0.0001, 0.0002, 0.0005, 0.001, 0.002, 0.005, 0.02, 0.1, 0.5];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SourceLabel {
    source: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SourceReasonLabels {
    source: &'static str,
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PageTierLabels {
    tier: String,
    /// `business` or `out_of_hours`.
    hours: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ByLabel {
    by: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ActionLabel {
    action: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LimitLabel {
    limit: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ListenerLabel {
    listener: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SinkLabel {
    sink: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct QueueLabel {
    queue: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabel {
    kind: &'static str,
}

/// Why a page could not be delivered. Also the `reason` label of `pages_failed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageFailure {
    /// The destination answered 4xx (other than 429): the page or the key is wrong; not retried.
    Rejected,
    /// Retries ran out on 429, 5xx or network errors (`retry.max_attempts`).
    RetriesExhausted,
    /// Still undelivered `retry.max_age` after it was decided.
    Expired,
    /// Writing to the pages file failed.
    Write,
}

impl PageFailure {
    pub fn as_str(self) -> &'static str {
        match self {
            PageFailure::Rejected => "rejected",
            PageFailure::RetriesExhausted => "retries_exhausted",
            PageFailure::Expired => "expired",
            PageFailure::Write => "write",
        }
    }
}

/// The engine queue and the queue of pages waiting for delivery, for `queue_depth`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Queue {
    Engine,
    Delivery,
}

pub struct Metrics {
    registry: Registry,
    received_requests: Family<SourceLabel, Counter>,
    rejected_requests: Family<SourceReasonLabels, Counter>,
    accepted_records: Family<SourceLabel, Counter>,
    rejected_records: Family<SourceReasonLabels, Counter>,
    alerts_new: Counter,
    alerts_duplicate: Counter,
    alerts_resolved: Counter,
    resolves_unknown: Counter,
    acknowledgements: Counter,
    logs: Counter,
    incidents_opened: Counter,
    incidents_resolved: Counter,
    alerts_correlated: Counter,
    groups_dropped: Counter,
    log_bursts: Counter,
    digested: Counter,
    feedback: Counter,
    feedback_unmatched: Counter,
    active_alerts: Gauge,
    active_groups: Gauge,
    pages_sent: Family<ActionLabel, Counter>,
    pages_written: Family<ActionLabel, Counter>,
    pages_failed: Family<ReasonLabel, Counter>,
    pagerduty_retries: Counter,
    delivery_retries: Family<SinkLabel, Counter>,
    queue_depth: Family<QueueLabel, Gauge>,
    unauthenticated: Family<ListenerLabel, Counter>,
    tls_handshake_failures: Counter,
    limit_hits: Family<LimitLabel, Counter>,
    reloads: Family<OutcomeLabel, Counter>,
    memory: Gauge,
    kafka_errors: Family<OperationLabel, Counter>,
    kafka_dead_lettered: Counter,
    kafka_partitions: Gauge,
    kafka_checkpoints: Counter,
    ingest_to_engine: Histogram,
    snapshot_pause: Histogram,
    oncall_pages: Family<PageTierLabels, Counter>,
    oncall_acknowledged: Family<ByLabel, Counter>,
    oncall_resolved: Family<ByLabel, Counter>,
    oncall_to_acknowledge: Histogram,
    oncall_to_resolve: Histogram,
    oncall_open: Gauge,
    inventory_entries: Family<KindLabel, Gauge>,
    inventory_learned: Counter,
    inventory_expired: Counter,
    inventory_refused: Counter,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OperationLabel {
    operation: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabel {
    outcome: &'static str,
}

/// Registers `metric` under `name` and returns it: each metric is named and described where it
/// is made.
fn registered<M: Metric + Clone>(registry: &mut Registry, name: &str, help: &str, metric: M) -> M {
    registry.register(name, help, metric.clone());
    metric
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("noisegate");
        let mut metrics = Metrics {
            received_requests: registered(
                &mut registry,
                "received_requests",
                "Ingest requests received, by source",
                Family::default(),
            ),
            rejected_requests: registered(
                &mut registry,
                "rejected_requests",
                "Ingest requests refused as a whole, by source and reason",
                Family::default(),
            ),
            accepted_records: registered(
                &mut registry,
                "accepted_records",
                "Alerts, log records and spans accepted into the engine, by source",
                Family::default(),
            ),
            rejected_records: registered(
                &mut registry,
                "rejected_records",
                "Alerts and log records refused one by one, by source and reason",
                Family::default(),
            ),
            alerts_new: registered(
                &mut registry,
                "alerts_new",
                "Alerts seen for the first time or firing again after resolving",
                Counter::default(),
            ),
            alerts_duplicate: registered(
                &mut registry,
                "duplicate_alerts",
                "Re-sends of a known firing alert, dropped as duplicates",
                Counter::default(),
            ),
            alerts_resolved: registered(
                &mut registry,
                "alerts_resolved",
                "Alerts resolved by their sender",
                Counter::default(),
            ),
            resolves_unknown: registered(
                &mut registry,
                "unknown_resolves",
                "Resolves for alerts not known (already resolved or never seen)",
                Counter::default(),
            ),
            acknowledgements: registered(
                &mut registry,
                "acknowledgements",
                "Acknowledgements received from PagerDuty-style senders",
                Counter::default(),
            ),
            logs: registered(
                &mut registry,
                "logs",
                "Log records received (evidence, not paged)",
                Counter::default(),
            ),
            incidents_opened: registered(
                &mut registry,
                "incidents_opened",
                "Incidents opened (first page of a group)",
                Counter::default(),
            ),
            incidents_resolved: registered(
                &mut registry,
                "incidents_resolved",
                "Incidents resolved",
                Counter::default(),
            ),
            alerts_correlated: registered(
                &mut registry,
                "alerts_correlated",
                "New alerts placed in an open incident through the inventory",
                Counter::default(),
            ),
            groups_dropped: registered(
                &mut registry,
                "groups_dropped",
                "Groups that ended without a page (resolved while settling, or muted throughout)",
                Counter::default(),
            ),
            digested: registered(
                &mut registry,
                "incidents_digested",
                "Incidents sent to the digest instead of paging",
                Counter::default(),
            ),
            feedback: registered(
                &mut registry,
                "feedback",
                "Responder feedback received (PagerDuty webhooks)",
                Counter::default(),
            ),
            feedback_unmatched: registered(
                &mut registry,
                "feedback_unmatched",
                "Responder feedback about no open incident",
                Counter::default(),
            ),
            log_bursts: registered(
                &mut registry,
                "log_bursts",
                "New error log templates bursting, and must-page log lines: evidence for incidents",
                Counter::default(),
            ),
            active_alerts: registered(
                &mut registry,
                "active_alerts",
                "Alerts the engine holds now",
                Gauge::default(),
            ),
            active_groups: registered(
                &mut registry,
                "active_groups",
                "Aggregation groups the engine holds now",
                Gauge::default(),
            ),
            pages_sent: registered(
                &mut registry,
                "pages_sent",
                "Pages their destination (PagerDuty, Opsgenie) accepted, by action",
                Family::default(),
            ),
            pages_written: registered(
                &mut registry,
                "pages_written",
                "Pages written to the pages file because their destination has no key set, by action",
                Family::default(),
            ),
            pages_failed: registered(
                &mut registry,
                "pages_failed",
                "Pages that could not be delivered, by reason",
                Family::default(),
            ),
            pagerduty_retries: registered(
                &mut registry,
                "pagerduty_retries",
                "Retried PagerDuty requests",
                Counter::default(),
            ),
            delivery_retries: registered(
                &mut registry,
                "delivery_retries",
                "Retried requests to a destination, by sink",
                Family::default(),
            ),
            queue_depth: registered(
                &mut registry,
                "queue_depth",
                "Items waiting in a queue",
                Family::default(),
            ),
            reloads: registered(
                &mut registry,
                "config_reloads",
                "Config reloads, by outcome",
                Family::default(),
            ),
            unauthenticated: registered(
                &mut registry,
                "unauthenticated_requests",
                "Requests refused for a missing, invalid or expired bearer token, by listener",
                Family::default(),
            ),
            tls_handshake_failures: registered(
                &mut registry,
                "tls_handshake_failures",
                "TLS handshakes that failed or timed out (bad or missing client certificate, plain HTTP to a TLS port)",
                Counter::default(),
            ),
            limit_hits: registered(
                &mut registry,
                "limit_hits",
                "Work refused or not done because a limit was reached, by limit: memory, active_alerts, \
             active_groups, engine_queue (requests refused), log_templates, log_services (lines not mined)",
                Family::default(),
            ),
            memory: registered(
                &mut registry,
                "memory_bytes",
                "Resident memory of the process",
                Gauge::default(),
            ),
            ingest_to_engine: registered(
                &mut registry,
                "ingest_to_engine_seconds",
                "From a decoded request's hand-off to the engine to the engine having applied it (and made the decisions due then)",
                Histogram::new(INGEST_BUCKETS),
            ),
            snapshot_pause: registered(
                &mut registry,
                "snapshot_pause_seconds",
                "How long the engine paused to take each snapshot of its state (written by another thread)",
                Histogram::new(PAUSE_BUCKETS),
            ),
            oncall_pages: registered(
                &mut registry,
                "oncall_pages",
                "Incidents paged (their first page), by tier and by whether it came in business hours (oncall.schedule)",
                Family::default(),
            ),
            oncall_acknowledged: registered(
                &mut registry,
                "oncall_acknowledged",
                "Incidents acknowledged, by whom: pagerduty (a responder, through the webhook) or alerts (upstream)",
                Family::default(),
            ),
            oncall_resolved: registered(
                &mut registry,
                "oncall_resolved",
                "Incidents resolved, by whom: pagerduty (a responder) or alerts (none firing any more)",
                Family::default(),
            ),
            oncall_to_acknowledge: registered(
                &mut registry,
                "oncall_time_to_acknowledge_seconds",
                "From an incident's page to its acknowledgement",
                Histogram::new(ONCALL_BUCKETS),
            ),
            oncall_to_resolve: registered(
                &mut registry,
                "oncall_time_to_resolve_seconds",
                "From an incident's page to its resolution",
                Histogram::new(ONCALL_BUCKETS),
            ),
            oncall_open: registered(
                &mut registry,
                "oncall_followed_incidents",
                "Incidents whose life is being recorded (open, or resolved within a day)",
                Gauge::default(),
            ),
            kafka_errors: registered(
                &mut registry,
                "kafka_errors",
                "Kafka operations that failed, by operation: consume, commit, changelog, decisions, dead_letter",
                Family::default(),
            ),
            kafka_dead_lettered: registered(
                &mut registry,
                "kafka_dead_lettered",
                "Kafka messages that could not be decoded, sent to the dead letter with why",
                Counter::default(),
            ),
            kafka_partitions: registered(
                &mut registry,
                "kafka_partitions",
                "Kafka partitions this replica owns",
                Gauge::default(),
            ),
            kafka_checkpoints: registered(
                &mut registry,
                "kafka_checkpoints",
                "Kafka partition states published to the changelog (each with its offset committed)",
                Counter::default(),
            ),
            inventory_entries: registered(
                &mut registry,
                "inventory_entries",
                "Inventory entries learned from telemetry and alerts and held now, by kind: service, node, pod, call",
                Family::default(),
            ),
            inventory_learned: registered(
                &mut registry,
                "inventory_facts_learned",
                "Inventory facts learned (a service, node, pod or call seen for the first time)",
                Counter::default(),
            ),
            inventory_expired: registered(
                &mut registry,
                "inventory_facts_expired",
                "Learned inventory facts forgotten, not seen again within `topology.forget_after`",
                Counter::default(),
            ),
            inventory_refused: registered(
                &mut registry,
                "inventory_facts_refused",
                "Inventory facts refused: the inventory is full, or a name is too long",
                Counter::default(),
            ),
            registry: Registry::default(),
        };
        metrics.registry = registry;
        for source in SourceKind::ALL {
            let _ = metrics.received_requests.get_or_create(&SourceLabel { source: source.as_str() });
            let _ = metrics.accepted_records.get_or_create(&SourceLabel { source: source.as_str() });
        }
        for action in [PageAction::Trigger, PageAction::Acknowledge, PageAction::Resolve] {
            let _ = metrics.pages_sent.get_or_create(&ActionLabel { action: action_str(action) });
        }
        metrics
    }

    pub fn received_request(&self, source: SourceKind) {
        self.received_requests.get_or_create(&SourceLabel { source: source.as_str() }).inc();
    }

    pub fn rejected_requests(&self, source: SourceKind, reason: Reason) {
        self.rejected_requests
            .get_or_create(&SourceReasonLabels { source: source.as_str(), reason: reason.as_str() })
            .inc();
    }

    pub fn accepted_records(&self, source: SourceKind, count: u64) {
        self.accepted_records.get_or_create(&SourceLabel { source: source.as_str() }).inc_by(count);
    }

    pub fn rejected_record(&self, source: SourceKind, reason: Reason) {
        self.rejected_records
            .get_or_create(&SourceReasonLabels { source: source.as_str(), reason: reason.as_str() })
            .inc();
    }

    /// Publishes what the engine counted since `before`.
    pub fn engine(&self, before: &EngineStats, now: &EngineStats) {
        let delta = |counter: &Counter, old: u64, new: u64| {
            if new > old {
                counter.inc_by(new - old);
            }
        };
        delta(&self.alerts_new, before.alerts_new, now.alerts_new);
        delta(&self.alerts_duplicate, before.alerts_duplicate, now.alerts_duplicate);
        delta(&self.alerts_resolved, before.alerts_resolved, now.alerts_resolved);
        delta(&self.resolves_unknown, before.resolves_unknown, now.resolves_unknown);
        delta(&self.acknowledgements, before.acknowledgements, now.acknowledgements);
        delta(&self.logs, before.logs_received, now.logs_received);
        delta(&self.incidents_opened, before.incidents_opened, now.incidents_opened);
        delta(&self.incidents_resolved, before.incidents_resolved, now.incidents_resolved);
        delta(&self.alerts_correlated, before.alerts_correlated, now.alerts_correlated);
        delta(&self.groups_dropped, before.groups_dropped, now.groups_dropped);
        delta(&self.log_bursts, before.log_bursts, now.log_bursts);
        delta(&self.digested, before.digested, now.digested);
        delta(&self.feedback, before.feedback, now.feedback);
        delta(&self.feedback_unmatched, before.feedback_unmatched, now.feedback_unmatched);
        for (limit, old, new) in [
            ("log_templates", before.logs_unmined_templates, now.logs_unmined_templates),
            ("log_services", before.logs_unmined_services, now.logs_unmined_services),
        ] {
            delta(&self.limit_hits.get_or_create(&LimitLabel { limit }), old, new);
        }
        self.active_alerts.set(i64::try_from(now.active_alerts).unwrap_or(i64::MAX));
        self.active_groups.set(i64::try_from(now.active_groups).unwrap_or(i64::MAX));
    }

    /// Publishes what an engine's inventory learning counted since `before`.
    pub fn inventory_learning(&self, before: &LearnStats, now: &LearnStats) {
        self.inventory_learned.inc_by(now.learned.saturating_sub(before.learned));
        self.inventory_expired.inc_by(now.expired.saturating_sub(before.expired));
        self.inventory_refused.inc_by(now.refused.saturating_sub(before.refused));
    }

    /// The learned inventory entries held now, by kind (`Learned::sizes`).
    pub fn inventory_entries(&self, sizes: [(&'static str, usize); 4]) {
        for (kind, size) in sizes {
            self.inventory_entries
                .get_or_create(&KindLabel { kind })
                .set(i64::try_from(size).unwrap_or(i64::MAX));
        }
    }

    pub fn page_sent(&self, action: PageAction) {
        self.pages_sent.get_or_create(&ActionLabel { action: action_str(action) }).inc();
    }

    pub fn page_written(&self, action: PageAction) {
        self.pages_written.get_or_create(&ActionLabel { action: action_str(action) }).inc();
    }

    pub fn page_failed(&self, failure: PageFailure) {
        self.pages_failed.get_or_create(&ReasonLabel { reason: failure.as_str() }).inc();
    }

    pub fn memory(&self, bytes: u64) {
        self.memory.set(i64::try_from(bytes).unwrap_or(i64::MAX));
    }

    pub fn reload(&self, success: bool) {
        let outcome = if success { "success" } else { "failure" };
        self.reloads.get_or_create(&OutcomeLabel { outcome }).inc();
    }

    pub fn unauthenticated(&self, listener: &'static str) {
        self.unauthenticated.get_or_create(&ListenerLabel { listener }).inc();
    }

    /// A request refused, or a log line not mined, because `limit` was reached.
    pub fn ingest_to_engine(&self, seconds: f64) {
        self.ingest_to_engine.observe(seconds);
    }

    pub fn snapshot_pause(&self, seconds: f64) {
        self.snapshot_pause.observe(seconds);
    }

    /// What just happened to incidents, for the on-call figures.
    pub fn oncall(&self, transitions: &[crate::oncall::record::Transition], followed: usize) {
        use crate::oncall::record::Transition;
        for transition in transitions {
            match transition {
                Transition::Paged { tier, out_of_hours } => {
                    let hours = if *out_of_hours { "out_of_hours" } else { "business" };
                    self.oncall_pages.get_or_create(&PageTierLabels { tier: tier.to_string(), hours }).inc();
                }
                Transition::Acknowledged { by, seconds } => {
                    self.oncall_acknowledged.get_or_create(&ByLabel { by: by.as_str() }).inc();
                    if let Some(seconds) = seconds {
                        self.oncall_to_acknowledge.observe(*seconds);
                    }
                }
                Transition::Resolved { by, seconds } => {
                    self.oncall_resolved.get_or_create(&ByLabel { by: by.as_str() }).inc();
                    if let Some(seconds) = seconds {
                        self.oncall_to_resolve.observe(*seconds);
                    }
                }
            }
        }
        self.oncall_open.set(i64::try_from(followed).unwrap_or(i64::MAX));
    }

    pub fn kafka_error(&self, operation: &'static str) {
        self.kafka_errors.get_or_create(&OperationLabel { operation }).inc();
    }

    pub fn kafka_dead_lettered(&self) {
        self.kafka_dead_lettered.inc();
    }

    pub fn kafka_partitions(&self, owned: usize) {
        self.kafka_partitions.set(owned as i64);
    }

    pub fn kafka_checkpoints(&self, count: usize) {
        self.kafka_checkpoints.inc_by(count as u64);
    }

    /// What the console charts: alert events taken in, triggers sent out (or written), the
    /// alerts and groups held now.
    pub fn console(&self) -> serde_json::Value {
        let triggers = ActionLabel { action: "trigger" };
        let alert_events = self.alerts_new.get()
            + self.alerts_duplicate.get()
            + self.alerts_resolved.get()
            + self.resolves_unknown.get();
        serde_json::json!({
            "alert_events": alert_events,
            "pages": self.pages_sent.get_or_create(&triggers).get() + self.pages_written.get_or_create(&triggers).get(),
            "incidents_opened": self.incidents_opened.get(),
            "active_alerts": self.active_alerts.get(),
            "active_groups": self.active_groups.get(),
        })
    }

    pub fn limit_hit(&self, limit: &'static str) {
        self.limit_hits.get_or_create(&LimitLabel { limit }).inc();
    }

    pub fn tls_handshake_failed(&self) {
        self.tls_handshake_failures.inc();
    }

    /// A request to a destination failed and is retried.
    pub fn delivery_retry(&self, sink: &'static str) {
        self.delivery_retries.get_or_create(&SinkLabel { sink }).inc();
        if sink == "pagerduty" {
            self.pagerduty_retries.inc();
        }
    }

    pub fn queue_depth(&self, queue: Queue, depth: usize) {
        let name = match queue {
            Queue::Engine => "engine",
            Queue::Delivery => "delivery",
        };
        self.queue_depth
            .get_or_create(&QueueLabel { queue: name })
            .set(i64::try_from(depth).unwrap_or(i64::MAX));
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics::new()
    }
}

pub fn action_str(action: PageAction) -> &'static str {
    match action {
        PageAction::Trigger => "trigger",
        PageAction::Acknowledge => "acknowledge",
        PageAction::Resolve => "resolve",
    }
}
