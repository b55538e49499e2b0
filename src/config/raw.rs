//! The config file as written: serde structs that reject unknown fields. `validate` turns them
//! into typed config; every default lives there, next to its validation.

use std::collections::BTreeMap;

use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    #[serde(default)]
    pub server: RawServer,
    #[serde(default)]
    pub limits: RawLimits,
    #[serde(default)]
    pub engine: RawEngine,
    #[serde(default)]
    pub route: RawRoute,
    #[serde(default)]
    pub pagerduty: RawPagerDuty,
    #[serde(default)]
    pub opsgenie: RawOpsgenie,
    #[serde(default)]
    pub topology: RawTopology,
    #[serde(default)]
    pub correlation: RawCorrelation,
    #[serde(default)]
    pub flapping: RawFlapping,
    #[serde(default)]
    pub inhibit_rules: Vec<RawInhibitRule>,
    #[serde(default)]
    pub silences: Vec<RawSilence>,
    #[serde(default)]
    pub patterns: Vec<RawPattern>,
    #[serde(default)]
    pub logs: RawLogs,
    #[serde(default)]
    pub catalog: RawCatalog,
    #[serde(default)]
    pub scoring: RawScoring,
    #[serde(default)]
    pub digest: RawDigest,
    #[serde(default)]
    pub decisions: RawDecisions,
    #[serde(default)]
    pub feedback: RawFeedback,
    #[serde(default)]
    pub auth: RawAuth,
    #[serde(default)]
    pub storage: RawStorage,
    pub kafka: Option<RawKafka>,
    #[serde(default)]
    pub oncall: RawOncall,
}

/// On-call health: how long incident records are kept, and the team's schedule.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawOncall {
    pub retention: Option<String>,
    #[serde(default)]
    pub schedule: RawSchedule,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSchedule {
    pub timezone: Option<String>,
    pub handover: Option<String>,
    pub handover_day: Option<String>,
    #[serde(default)]
    pub business_hours: RawBusinessHours,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBusinessHours {
    pub days: Option<Vec<String>>,
    pub from: Option<String>,
    pub to: Option<String>,
}

/// Kafka: topics to consume, where decisions go, the changelog of partitions' state.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawKafka {
    pub brokers: Option<String>,
    pub group_id: Option<String>,
    pub client_id: Option<String>,
    #[serde(default)]
    pub sources: Vec<RawKafkaSource>,
    pub dead_letter_topic: Option<String>,
    pub dead_letter_file: Option<String>,
    pub decisions_topic: Option<String>,
    pub changelog_topic: Option<String>,
    pub control_topic: Option<String>,
    pub views_topic: Option<String>,
    pub forward: Option<RawForward>,
    pub checkpoint_interval: Option<String>,
    pub connect_timeout: Option<String>,
    /// librdkafka properties, for both the consumers and the producer.
    #[serde(default)]
    pub properties: BTreeMap<String, String>,
    /// librdkafka properties whose values are secrets (e.g. `sasl.password`).
    #[serde(default)]
    pub secret_properties: BTreeMap<String, RawSecret>,
}

/// The central layout: the listeners' requests go to a partitioned topic.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawForward {
    pub topic: String,
    pub key_label: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawKafkaSource {
    pub topic: String,
    pub encoding: String,
}

/// The durable store.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStorage {
    pub dir: Option<String>,
    pub snapshot_every: Option<u64>,
}

/// Bearer tokens per listener.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAuth {
    #[serde(default)]
    pub ingest_tokens: Vec<RawToken>,
    #[serde(default)]
    pub admin_tokens: Vec<RawToken>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawToken {
    pub env: Option<String>,
    pub file: Option<String>,
    pub value: Option<String>,
    pub expires: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFeedback {
    /// PagerDuty webhook signing secrets; several while one is being rotated.
    #[serde(default)]
    pub webhook_secrets: Vec<RawSecret>,
    pub state_file: Option<String>,
    pub seed_file: Option<String>,
}

/// The alert catalog: the standard one (embedded) and the config's own entries.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCatalog {
    /// Use the embedded standard catalog (default true).
    pub standard: Option<bool>,
    #[serde(default)]
    pub alerts: Vec<RawCatalogAlert>,
}

/// One catalog entry, in the config or in the standard catalog file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCatalogAlert {
    pub name: String,
    pub class: String,
    /// The alert says its entity is unavailable as a whole.
    #[serde(default)]
    pub down: bool,
    /// The alert says its node was cordoned (planned work).
    #[serde(default)]
    pub cordon: bool,
    /// The standard catalog's: the severity (or severities) the rule sets, and the rule set.
    pub severity: Option<String>,
    pub source: Option<String>,
}

/// The standard catalog file (`configs/catalog.yaml`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCatalogFile {
    pub sources: Vec<RawCatalogSource>,
    pub alerts: Vec<RawCatalogAlert>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCatalogSource {
    pub id: String,
    /// Where the rule set is read from (documentation for the reader of the file).
    #[serde(rename = "file")]
    pub _file: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawScoring {
    #[serde(default)]
    pub weights: RawWeights,
    #[serde(default)]
    pub thresholds: RawThresholds,
    /// `off`, `unfiltered` or `silent`.
    pub shadow: Option<String>,
    /// An availability or unknown alert firing this long pages at low urgency at least.
    pub persistence: Option<String>,
    #[serde(default)]
    pub novelty: RawNovelty,
    #[serde(default)]
    pub memory: RawMemory,
}

/// The memory of past incidents.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMemory {
    pub incidents: Option<usize>,
    pub similar: Option<usize>,
    pub min_similarity: Option<f64>,
}

/// What counts as a new alert kind or a burst.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNovelty {
    pub enabled: Option<bool>,
    pub warmup: Option<String>,
    pub rare_hours: Option<u32>,
    pub burst_window: Option<String>,
    pub burst_factor: Option<f64>,
    pub burst_min: Option<u32>,
    pub max_kinds: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWeights {
    pub severity: Option<f64>,
    pub impact: Option<f64>,
    pub blast_radius: Option<f64>,
    pub growth: Option<f64>,
    pub duration: Option<f64>,
    pub novelty: Option<f64>,
    pub flapping: Option<f64>,
    pub evidence: Option<f64>,
    pub feedback: Option<f64>,
    pub new_kind: Option<f64>,
    pub burst: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawThresholds {
    pub high: Option<f64>,
    pub low: Option<f64>,
    pub digest: Option<f64>,
    pub surprise: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDigest {
    pub webhook_url: Option<String>,
    pub interval: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDecisions {
    pub file: Option<String>,
}

/// Log template mining and log evidence.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLogs {
    pub depth: Option<usize>,
    pub similarity: Option<f32>,
    pub max_children: Option<usize>,
    pub max_templates_per_service: Option<usize>,
    pub max_services: Option<usize>,
    pub burst_errors: Option<u32>,
    pub new_within: Option<String>,
    pub context_templates: Option<usize>,
    pub context_lookback: Option<String>,
}

/// The inventory: a file in the format of `topology.json`, and/or services declared here.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTopology {
    pub file: Option<String>,
    pub cluster: Option<String>,
    pub namespace: Option<String>,
    #[serde(default)]
    pub services: BTreeMap<String, RawService>,
    #[serde(default)]
    pub nodes: Vec<String>,
    /// How alert labels name entities, tried in order (the defaults when absent).
    pub subjects: Option<Vec<RawSubjectRule>>,
    /// Learn the inventory from telemetry and alerts where the declared one does not speak.
    pub learn: Option<bool>,
    #[serde(default)]
    pub forget_after: RawForgetAfter,
}

/// How long a learned fact lives without being seen again.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawForgetAfter {
    pub pods: Option<String>,
    pub calls: Option<String>,
    /// Services and nodes no fact names any more.
    pub entities: Option<String>,
}

/// The topology file. Unknown fields are ignored: the file may be generated by other tools.
#[derive(Debug, Default, Deserialize)]
pub struct RawTopologyFile {
    pub cluster: Option<String>,
    pub namespace: Option<String>,
    #[serde(default)]
    pub services: BTreeMap<String, RawService>,
    #[serde(default)]
    pub nodes: Vec<String>,
    #[serde(default)]
    pub maintenance_windows: Vec<RawWindow>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawService {
    pub kind: Option<String>,
    #[serde(default)]
    pub depends_on: Vec<String>,
    #[serde(default)]
    pub pods: Vec<RawPod>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawPod {
    pub name: String,
    pub node: Option<String>,
}

/// A maintenance window as the topology file writes it: equality matchers and a time range.
#[derive(Debug, Default, Deserialize)]
pub struct RawWindow {
    #[serde(default)]
    pub matchers: BTreeMap<String, String>,
    pub start: Option<String>,
    pub end: Option<String>,
    pub comment: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSubjectRule {
    pub label: String,
    pub kind: String,
    pub pattern: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCorrelation {
    pub window: Option<String>,
    #[serde(default)]
    pub settle: RawSettle,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSettle {
    pub warning: Option<String>,
    pub info: Option<String>,
    /// A node two independent alerts say is gone.
    pub corroborated: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFlapping {
    pub window: Option<String>,
    pub min_episodes: Option<u32>,
    pub hold: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawInhibitRule {
    #[serde(default)]
    pub source_matchers: Vec<String>,
    #[serde(default)]
    pub target_matchers: Vec<String>,
    #[serde(default)]
    pub equal: Vec<String>,
    /// `labels` (Alertmanager, the default) or `dependents` (through the inventory).
    pub scope: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSilence {
    #[serde(default)]
    pub matchers: Vec<String>,
    pub start: Option<String>,
    pub end: Option<String>,
    pub weekly: Option<RawWeekly>,
    pub comment: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWeekly {
    #[serde(default)]
    pub days: Vec<String>,
    pub from: Option<String>,
    pub to: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPattern {
    #[serde(default)]
    pub phrases: Vec<String>,
    pub action: Option<String>,
    pub tag: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawServer {
    pub grpc_listen: Option<String>,
    pub http_listen: Option<String>,
    pub admin_listen: Option<String>,
    pub shutdown_grace: Option<String>,
    pub tick: Option<String>,
    pub engine_queue: Option<usize>,
    /// TLS on the ingest listeners (gRPC and HTTP), and on the admin listener.
    pub tls: Option<RawTls>,
    pub admin_tls: Option<RawTls>,
    /// Alertmanager's reading API on the ingest listener too.
    pub am_api_on_ingest: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTls {
    pub cert_file: String,
    pub key_file: String,
    /// Require client certificates signed by this CA (mTLS).
    pub client_ca_file: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLimits {
    pub max_body_bytes: Option<usize>,
    pub max_records_per_request: Option<usize>,
    pub max_labels: Option<usize>,
    pub max_label_name_bytes: Option<usize>,
    pub max_label_value_bytes: Option<usize>,
    pub max_annotation_value_bytes: Option<usize>,
    pub body_read_timeout: Option<String>,
    pub max_active_alerts: Option<u64>,
    pub max_active_groups: Option<u64>,
    pub max_memory_bytes: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEngine {
    pub exclude_labels: Option<Vec<String>>,
    pub resolve_timeout: Option<String>,
    /// An alert reported as events that its sender never resolves ends this long after its
    /// last occurrence.
    pub event_quiet: Option<String>,
    pub default_severity: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRoute {
    #[serde(default)]
    pub matchers: Vec<String>,
    pub group_by: Option<Vec<String>>,
    pub group_wait: Option<String>,
    pub group_interval: Option<String>,
    pub repeat_interval: Option<String>,
    pub routing_key: Option<String>,
    /// The same as `routing_key`: a destination's name, of any sink.
    pub destination: Option<String>,
    #[serde(default)]
    pub routes: Vec<RawRoute>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPagerDuty {
    pub url: Option<String>,
    #[serde(default)]
    pub routing_keys: BTreeMap<String, RawSecret>,
    pub pages_file: Option<String>,
    pub timeout: Option<String>,
    #[serde(default)]
    pub retry: RawRetry,
    pub queue_capacity: Option<usize>,
    pub client_url: Option<String>,
    #[serde(default)]
    pub rate_limit: RawRateLimit,
    pub memory_window: Option<usize>,
    pub dead_letter_file: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawOpsgenie {
    /// `us` (the default) or `eu`.
    pub region: Option<String>,
    pub url: Option<String>,
    #[serde(default)]
    pub api_keys: BTreeMap<String, RawSecret>,
    #[serde(default)]
    pub priority: RawPriorities,
    pub timeout: Option<String>,
    #[serde(default)]
    pub retry: RawRetry,
    #[serde(default)]
    pub rate_limit: RawRateLimit,
    pub memory_window: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPriorities {
    pub high: Option<String>,
    pub low: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRateLimit {
    pub events_per_minute: Option<u32>,
    pub burst: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRetry {
    pub initial_backoff: Option<String>,
    pub max_backoff: Option<String>,
    pub max_attempts: Option<u32>,
    pub max_age: Option<String>,
}

/// Where a secret comes from: exactly one of the three.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSecret {
    pub env: Option<String>,
    pub file: Option<String>,
    pub value: Option<String>,
}
