//! Domain types every stage shares: alerts, logs, labels, event time.
//!
//! Sources turn wire formats into these types; the engine only ever sees these; sinks turn the
//! engine's output back into wire formats. Nothing here knows about JSON or protobuf; the serde
//! derives are for the write-ahead log's binary records.

mod labels;
mod time;

use serde::{Deserialize, Serialize};

pub use labels::{Labels, LabelsBuilder};
pub use time::{EventTime, TimeParseError};

/// How urgent an alert is, normalized from the many spellings sources use.
///
/// Ordered from least to most urgent so `max()` gives an incident's severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Severity {
    Info,
    Warning,
    Error,
    Critical,
}

impl Severity {
    /// Reads a `severity` label value; `None` for values no convention defines.
    pub fn parse(value: &str) -> Option<Severity> {
        let severity = match value.to_ascii_lowercase().as_str() {
            "critical" | "crit" | "fatal" | "emergency" | "emerg" | "alert" | "page" | "p1" => {
                Severity::Critical
            }
            "error" | "err" | "high" | "major" | "p2" => Severity::Error,
            "warning" | "warn" | "medium" | "minor" | "p3" => Severity::Warning,
            "info" | "informational" | "notice" | "low" | "none" | "debug" | "p4" | "p5" => Severity::Info,
            _ => return None,
        };
        Some(severity)
    }

    /// Maps an OTLP `SeverityNumber` (1..=24) to a severity.
    pub fn from_otlp_number(number: i32) -> Option<Severity> {
        match number {
            1..=12 => Some(Severity::Info),
            13..=16 => Some(Severity::Warning),
            17..=20 => Some(Severity::Error),
            21..=24 => Some(Severity::Critical),
            _ => None,
        }
    }

    /// The PagerDuty Events API v2 spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
            Severity::Critical => "critical",
        }
    }
}

/// What a source said about when an alert stops firing if nobody tells us.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Expiry {
    /// Like Alertmanager: an alert without `endsAt` resolves after the configured resolve timeout
    /// unless it is sent again (Prometheus re-sends firing alerts every minute).
    ResolveTimeout,
    /// The alert fires until an explicit resolve (webhook, PagerDuty and OTLP senders only send
    /// state changes).
    UntilResolved,
}

/// One alert as a source reported it: a state observation, not yet deduplicated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// Identity and routing labels (`alertname`, `severity`, `service`, ...).
    pub labels: Labels,
    /// Descriptive text (`summary`, `description`, `runbook_url`, ...); not part of identity.
    pub annotations: Labels,
    /// When the alert started firing; `None` means "now".
    pub starts_at: Option<EventTime>,
    /// When the alert ended or will end; in the past means resolved.
    pub ends_at: Option<EventTime>,
    /// The sender said explicitly that the alert is resolved.
    pub resolved: bool,
    pub expiry: Expiry,
    /// The severity the source read (a `severity` label, PagerDuty's `payload.severity`, an
    /// OTLP severity number); `None` leaves it to the engine's default.
    pub severity: Option<Severity>,
    pub generator_url: Option<Box<str>>,
    /// An identity the sender chose itself (PagerDuty's `dedup_key`), so that a later resolve
    /// or acknowledge carrying only the key finds the alert.
    pub external_key: Option<Box<str>>,
}

/// One log record that is not an alert. Logs are evidence for correlation, never paged alone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogRecord {
    pub time: Option<EventTime>,
    pub severity: Option<Severity>,
    pub body: Box<str>,
    /// Resource and record attributes, as strings.
    pub attributes: Labels,
}

/// Everything a source can tell the engine. Closed: the engine matches it exhaustively.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Event {
    Alert(Alert),
    /// Resolve the alert a sender identified by its own key (PagerDuty `resolve`).
    ResolveKey(Box<str>),
    /// A human acknowledged the alert upstream (PagerDuty `acknowledge`).
    AcknowledgeKey(Box<str>),
    Log(LogRecord),
    /// What a responder did with a page (from PagerDuty's webhooks).
    Feedback(Feedback),
    /// What telemetry says about the inventory (where pods run, which service calls which).
    Inventory(InventoryFacts),
    /// A responder's note on an incident (a PagerDuty incident note).
    Note(Note),
}

/// Facts about the inventory that one request showed, each once: read from the resources of
/// spans and logs (placements) and from spans (calls). Learned by the engine, never paged.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct InventoryFacts {
    pub source: FactSource,
    pub placements: Vec<Placement>,
    pub edges: Vec<Edge>,
}

/// Where a learned fact comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
pub enum FactSource {
    #[default]
    Spans,
    Logs,
    Alerts,
}

impl FactSource {
    pub fn as_str(self) -> &'static str {
        match self {
            FactSource::Spans => "spans",
            FactSource::Logs => "logs",
            FactSource::Alerts => "alerts",
        }
    }
}

/// A service, one of its pods and where it runs, as a resource says (`service.name`,
/// `k8s.pod.name`, `k8s.node.name`, `k8s.namespace.name`, `k8s.cluster.name`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Placement {
    pub service: Box<str>,
    pub pod: Option<Box<str>>,
    pub node: Option<Box<str>>,
    pub namespace: Option<Box<str>>,
    pub cluster: Option<Box<str>>,
}

/// A call from one service to another, or to a datastore that sends no spans.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Edge {
    pub from: Box<str>,
    pub to: Box<str>,
    /// `db.system` of a database call (`redis`, `postgresql`, ...): the callee is a datastore.
    pub datastore: Option<Box<str>>,
}

/// What a responder wrote about an incident noisegate paged, named by its dedup key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Note {
    pub dedup_key: Box<str>,
    pub text: Box<str>,
}

/// A responder's action on an incident noisegate paged, named by its dedup key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Feedback {
    pub dedup_key: Box<str>,
    pub action: FeedbackAction,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FeedbackAction {
    Acknowledged,
    Reopened,
    Escalated,
    Resolved,
}
