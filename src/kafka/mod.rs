//! Kafka: topics of alerts and logs consumed by a consumer group (`source`), the decisions
//! stream published (`decisions`), and each partition's state kept in a changelog topic
//! (`changelog`) so that partitions move between replicas without losing or re-paging an
//! incident.
//!
//! The partitioning contract: alerts that must be correlated (one service and what it depends
//! on; in practice one cluster, or one namespace) must be produced to the same partition, e.g.
//! keyed by cluster. Each partition has its own engine (`service::shards`), on whichever
//! replica the group gave it to.

pub mod changelog;
pub mod control;
pub mod decisions;
pub mod forward;
pub mod probe;
pub mod source;

use std::path::PathBuf;
use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::error::KafkaError;

use crate::ingest::WireFormat;
use crate::secret::Secret;

#[derive(Debug, Clone)]
pub struct KafkaConfig {
    /// `bootstrap.servers`.
    pub brokers: String,
    pub group_id: String,
    pub client_id: String,
    pub sources: Vec<KafkaSource>,
    pub dead_letter: DeadLetter,
    /// Where every decision about an incident is published, keyed by its `dedup_key`.
    pub decisions_topic: Option<String>,
    /// Where each partition's state goes (by default `<group_id>-changelog`).
    pub changelog_topic: String,
    /// What every replica applies: silences and responders' feedback (by default
    /// `<group_id>-control`).
    pub control_topic: String,
    /// Each partition's open incidents and alerts, for every replica's admin API (by default
    /// `<group_id>-views`; a view older than minutes is of no use, and the topic keeps no more).
    pub views_topic: String,
    /// The central layout: where the listeners' requests go (`forward`).
    pub forward: Option<forward::ForwardConfig>,
    /// How often a partition's state is published and its offset committed.
    pub checkpoint_interval: Duration,
    /// How long `serve` waits at startup for the brokers to answer (`probe`).
    pub connect_timeout: Duration,
    /// librdkafka properties for every client, some of them secrets.
    pub properties: Vec<(String, Secret)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaSource {
    pub topic: String,
    /// How the topic's messages are written: each message one request body.
    pub encoding: WireFormat,
}

/// Where messages that cannot be decoded go, with why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeadLetter {
    /// The message as it was, with `noisegate.error` and `noisegate.source` headers.
    Topic(String),
    /// One JSON line per message.
    File(PathBuf),
}

impl KafkaConfig {
    /// A client config with the brokers, the client id and the configured properties.
    pub fn client(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", &self.brokers).set("client.id", &self.client_id);
        for (key, value) in &self.properties {
            config.set(key, value.expose());
        }
        config
    }

    /// Whether librdkafka takes `key: value`; its error otherwise (which may quote the value).
    pub fn check_property(key: &str, value: &str) -> Result<(), String> {
        let mut config = ClientConfig::new();
        config.set(key, value);
        config.create_native_config().map(drop).map_err(|error| match error {
            KafkaError::ClientConfig(_, message, _, _) => message,
            other => other.to_string(),
        })
    }

    pub fn topics(&self) -> Vec<&str> {
        self.sources.iter().map(|source| source.topic.as_str()).collect()
    }
}

/// librdkafka's logs and errors, into ours.
#[derive(Clone, Default)]
pub struct Logging;

impl ClientContext for Logging {
    fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        log(level, facility, message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        tracing::warn!(%error, reason, "kafka client error");
    }
}

impl rdkafka::consumer::ConsumerContext for Logging {}

pub(crate) fn log(level: RDKafkaLogLevel, facility: &str, message: &str) {
    match level {
        RDKafkaLogLevel::Emerg
        | RDKafkaLogLevel::Alert
        | RDKafkaLogLevel::Critical
        | RDKafkaLogLevel::Error => {
            tracing::error!(facility, message, "librdkafka")
        }
        RDKafkaLogLevel::Warning => tracing::warn!(facility, message, "librdkafka"),
        RDKafkaLogLevel::Notice | RDKafkaLogLevel::Info => tracing::info!(facility, message, "librdkafka"),
        RDKafkaLogLevel::Debug => tracing::debug!(facility, message, "librdkafka"),
    }
}
