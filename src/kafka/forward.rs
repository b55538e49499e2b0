//! The central layout's listeners: every request the HTTP and gRPC listeners accept is
//! produced to the partitioned topic (`kafka.forward.topic`, one of the group's sources), keyed
//! as the partitioning contract asks, and applied by whichever replica owns its partition. So
//! an alert is correlated with its cluster's others whatever door it came in by, and paged
//! once, by one replica.
//!
//! A message is the request's capture body (the text form every decoder reads back: OTLP
//! protobuf as its JSON mapping) with its format in the header `noisegate.encoding`, which the
//! Kafka source reads before the topic's own encoding. Its key is the value of
//! `kafka.forward.key_label` in the request's first alert (a label) or log record (an
//! attribute) that has it; a PagerDuty Events API request is keyed by its integration, so that
//! a resolve, which has no labels, meets its trigger. The producer partitions keys with
//! murmur2, as Kafka's Java clients do, so that a cluster forwarded here lands on the partition
//! its own producers use.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};

use super::{KafkaConfig, Logging};
use crate::ingest::{CapturedBody, Forward, IngestError, Reason, WireFormat};
use noisegate_engine::model::Event;

/// The cluster's name in OpenTelemetry's semantic conventions: the key when `key_label` is
/// absent (alerts and logs sent as OTLP carry their resource attributes).
const OTEL_CLUSTER: &str = "k8s.cluster.name";
/// The header naming a message's encoding.
pub const ENCODING_HEADER: &str = "noisegate.encoding";
/// How long the broker may take to take a request.
const TIMEOUT: Duration = Duration::from_secs(10);

/// Where the listeners' requests go, and how they are keyed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwardConfig {
    pub topic: String,
    pub key_label: String,
}

pub struct Forwarder {
    topic: String,
    key_label: String,
    producer: FutureProducer<Logging>,
}

impl Forwarder {
    pub fn new(config: &KafkaConfig, forward: &ForwardConfig) -> Result<Forwarder, String> {
        let producer = config
            .client()
            .set("partitioner", "murmur2_random")
            // The topic must exist: asking for it must not create it.
            .set("allow.auto.create.topics", "false")
            .set("message.timeout.ms", TIMEOUT.as_millis().to_string())
            .set("linger.ms", "1")
            .create_with_context(Logging)
            .map_err(|error| format!("cannot create the forwarding producer: {error}"))?;
        Ok(Forwarder { topic: forward.topic.clone(), key_label: forward.key_label.clone(), producer })
    }

    /// Fails unless the topic exists: a misspelt one would take every request and lose it to
    /// no consumer. Blocking.
    pub fn check_topic(&self) -> Result<(), String> {
        let metadata =
            self.producer.client().fetch_metadata(Some(&self.topic), TIMEOUT).map_err(|error| {
                format!("kafka.forward: cannot read the metadata of topic {:?}: {error}", self.topic)
            })?;
        let found = metadata.topics().iter().any(|topic| {
            topic.name() == self.topic && topic.error().is_none() && !topic.partitions().is_empty()
        });
        if found {
            Ok(())
        } else {
            Err(format!(
                "kafka.forward: topic {:?} does not exist (it must be one of the group's sources)",
                self.topic
            ))
        }
    }

    /// What keys the request: its cluster (or the value of whatever label correlates), or for
    /// a PagerDuty event, its integration.
    fn key(&self, events: &[Event], body: &CapturedBody) -> String {
        if body.format == WireFormat::PagerDutyV2 {
            let event: serde_json::Value = serde_json::from_str(&body.json).unwrap_or_default();
            if let Some(routing_key) = event.get("routing_key").and_then(serde_json::Value::as_str) {
                return format!("pagerduty/{:016x}", xxhash_rust::xxh3::xxh3_64(routing_key.as_bytes()));
            }
        }
        events
            .iter()
            .find_map(|event| {
                let labels = match event {
                    Event::Alert(alert) => &alert.labels,
                    Event::Log(record) => &record.attributes,
                    _ => return None,
                };
                labels.get(&self.key_label).or_else(|| labels.get(OTEL_CLUSTER))
            })
            .unwrap_or_default()
            .to_owned()
    }
}

impl Forward for Forwarder {
    fn forward<'a>(
        &'a self,
        events: &'a [Event],
        body: &'a CapturedBody,
    ) -> Pin<Box<dyn Future<Output = Result<(), IngestError>> + Send + 'a>> {
        Box::pin(async move {
            let key = self.key(events, body);
            // The text form of the format (protobuf bodies are captured as their JSON mapping).
            let format = WireFormat::from_capture_name(body.format.capture_name()).unwrap_or(body.format);
            let headers =
                OwnedHeaders::new().insert(Header { key: ENCODING_HEADER, value: Some(format.kafka_name()) });
            let record = FutureRecord::to(&self.topic).key(&key).payload(&body.json).headers(headers);
            self.producer.send(record, TIMEOUT).await.map(|_| ()).map_err(|(error, _)| {
                let too_large = matches!(
                    &error,
                    KafkaError::MessageProduction(RDKafkaErrorCode::MessageSizeTooLarge)
                ) || error.rdkafka_error_code() == Some(RDKafkaErrorCode::MessageSizeTooLarge);
                if too_large {
                    IngestError::new(
                        Reason::TooLarge,
                        format!(
                            "the request is larger than Kafka takes on topic {:?} ({error}): send smaller \
                             requests, or raise the topic's max.message.bytes and the message.max.bytes property",
                            self.topic
                        ),
                    )
                } else {
                    IngestError::new(
                        Reason::Unavailable,
                        format!("cannot hand the request to Kafka (topic {:?}): {error}", self.topic),
                    )
                }
            })
        })
    }
}
