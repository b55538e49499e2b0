//! Every metric noisegate exports, defined in one place. Names are
//! `noisegate_<thing>_<unit>_total`; label values come from small fixed sets (source, reason,
//! action), never from alert labels.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::ingest::{Reason, SourceKind};
use noisegate_engine::{EngineStats, PageAction};

/// Buckets of `noisegate_ingest_to_engine_seconds`: half a millisecond to five seconds.
const INGEST_BUCKETS: [f64; 13] =
    [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0];

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
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OperationLabel {
    operation: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabel {
    outcome: &'static str,
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("noisegate");
        let metrics = Metrics {
            received_requests: Family::default(),
            rejected_requests: Family::default(),
            accepted_records: Family::default(),
            rejected_records: Family::default(),
            alerts_new: Counter::default(),
            alerts_duplicate: Counter::default(),
            alerts_resolved: Counter::default(),
            resolves_unknown: Counter::default(),
            acknowledgements: Counter::default(),
            logs: Counter::default(),
            incidents_opened: Counter::default(),
            incidents_resolved: Counter::default(),
            alerts_correlated: Counter::default(),
            groups_dropped: Counter::default(),
            log_bursts: Counter::default(),
            digested: Counter::default(),
            feedback: Counter::default(),
            feedback_unmatched: Counter::default(),
            active_alerts: Gauge::default(),
            active_groups: Gauge::default(),
            pages_sent: Family::default(),
            pages_written: Family::default(),
            pages_failed: Family::default(),
            pagerduty_retries: Counter::default(),
            delivery_retries: Family::default(),
            queue_depth: Family::default(),
            unauthenticated: Family::default(),
            tls_handshake_failures: Counter::default(),
            limit_hits: Family::default(),
            reloads: Family::default(),
            memory: Gauge::default(),
            kafka_errors: Family::default(),
            kafka_dead_lettered: Counter::default(),
            kafka_partitions: Gauge::default(),
            kafka_checkpoints: Counter::default(),
            ingest_to_engine: Histogram::new(INGEST_BUCKETS),
            registry: Registry::default(),
        };
        registry.register(
            "received_requests",
            "Ingest requests received, by source",
            metrics.received_requests.clone(),
        );
        registry.register(
            "rejected_requests",
            "Ingest requests refused as a whole, by source and reason",
            metrics.rejected_requests.clone(),
        );
        registry.register(
            "accepted_records",
            "Alerts and log records accepted into the engine, by source",
            metrics.accepted_records.clone(),
        );
        registry.register(
            "rejected_records",
            "Alerts and log records refused one by one, by source and reason",
            metrics.rejected_records.clone(),
        );
        registry.register(
            "alerts_new",
            "Alerts seen for the first time or firing again after resolving",
            metrics.alerts_new.clone(),
        );
        registry.register(
            "duplicate_alerts",
            "Re-sends of a known firing alert, dropped as duplicates",
            metrics.alerts_duplicate.clone(),
        );
        registry.register(
            "alerts_resolved",
            "Alerts resolved by their sender",
            metrics.alerts_resolved.clone(),
        );
        registry.register(
            "unknown_resolves",
            "Resolves for alerts not known (already resolved or never seen)",
            metrics.resolves_unknown.clone(),
        );
        registry.register(
            "acknowledgements",
            "Acknowledgements received from PagerDuty-style senders",
            metrics.acknowledgements.clone(),
        );
        registry.register("logs", "Log records received (evidence, not paged)", metrics.logs.clone());
        registry.register(
            "incidents_opened",
            "Incidents opened (first page of a group)",
            metrics.incidents_opened.clone(),
        );
        registry.register("incidents_resolved", "Incidents resolved", metrics.incidents_resolved.clone());
        registry.register(
            "alerts_correlated",
            "New alerts placed in an open incident through the inventory",
            metrics.alerts_correlated.clone(),
        );
        registry.register(
            "groups_dropped",
            "Groups that ended without a page (resolved while settling, or muted throughout)",
            metrics.groups_dropped.clone(),
        );
        registry.register(
            "incidents_digested",
            "Incidents sent to the digest instead of paging",
            metrics.digested.clone(),
        );
        registry.register(
            "feedback",
            "Responder feedback received (PagerDuty webhooks)",
            metrics.feedback.clone(),
        );
        registry.register(
            "feedback_unmatched",
            "Responder feedback about no open incident",
            metrics.feedback_unmatched.clone(),
        );
        registry.register(
            "log_bursts",
            "New error log templates bursting, and must-page log lines: evidence for incidents",
            metrics.log_bursts.clone(),
        );
        registry.register("active_alerts", "Alerts the engine holds now", metrics.active_alerts.clone());
        registry.register(
            "active_groups",
            "Aggregation groups the engine holds now",
            metrics.active_groups.clone(),
        );
        registry.register(
            "pages_sent",
            "Pages their destination (PagerDuty, Opsgenie) accepted, by action",
            metrics.pages_sent.clone(),
        );
        registry.register(
            "pages_written",
            "Pages written to the pages file because their destination has no key set, by action",
            metrics.pages_written.clone(),
        );
        registry.register(
            "pages_failed",
            "Pages that could not be delivered, by reason",
            metrics.pages_failed.clone(),
        );
        registry.register(
            "pagerduty_retries",
            "Retried PagerDuty requests",
            metrics.pagerduty_retries.clone(),
        );
        registry.register(
            "delivery_retries",
            "Retried requests to a destination, by sink",
            metrics.delivery_retries.clone(),
        );
        registry.register("queue_depth", "Items waiting in a queue", metrics.queue_depth.clone());
        registry.register("config_reloads", "Config reloads, by outcome", metrics.reloads.clone());
        registry.register(
            "unauthenticated_requests",
            "Requests refused for a missing, invalid or expired bearer token, by listener",
            metrics.unauthenticated.clone(),
        );
        registry.register(
            "tls_handshake_failures",
            "TLS handshakes that failed or timed out (bad or missing client certificate, plain HTTP to a TLS port)",
            metrics.tls_handshake_failures.clone(),
        );
        registry.register(
            "limit_hits",
            "Work refused or not done because a limit was reached, by limit: memory, active_alerts, \
             active_groups, engine_queue (requests refused), log_templates, log_services (lines not mined)",
            metrics.limit_hits.clone(),
        );
        registry.register("memory_bytes", "Resident memory of the process", metrics.memory.clone());
        registry.register(
            "ingest_to_engine_seconds",
            "From a decoded request's hand-off to the engine to the engine having applied it (and made the decisions due then)",
            metrics.ingest_to_engine.clone(),
        );
        registry.register(
            "kafka_errors",
            "Kafka operations that failed, by operation: consume, commit, changelog, decisions, dead_letter",
            metrics.kafka_errors.clone(),
        );
        registry.register(
            "kafka_dead_lettered",
            "Kafka messages that could not be decoded, sent to the dead letter with why",
            metrics.kafka_dead_lettered.clone(),
        );
        registry.register(
            "kafka_partitions",
            "Kafka partitions this replica owns",
            metrics.kafka_partitions.clone(),
        );
        registry.register(
            "kafka_checkpoints",
            "Kafka partition states published to the changelog (each with its offset committed)",
            metrics.kafka_checkpoints.clone(),
        );
        for source in SourceKind::ALL {
            let _ = metrics.received_requests.get_or_create(&SourceLabel { source: source.as_str() });
            let _ = metrics.accepted_records.get_or_create(&SourceLabel { source: source.as_str() });
        }
        for action in [PageAction::Trigger, PageAction::Acknowledge, PageAction::Resolve] {
            let _ = metrics.pages_sent.get_or_create(&ActionLabel { action: action_str(action) });
        }
        Metrics { registry, ..metrics }
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
