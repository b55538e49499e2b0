//! The decisions topic: every decision about an incident (opened, paged, escalated, digested,
//! suppressed, resolved, with its score and explanation), one JSON message each, keyed by the
//! incident's `dedup_key` so that an incident's decisions stay in order on one partition. The
//! messages are the decisions log's lines (`sinks::decisions`).

use std::sync::Arc;

use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};

use super::KafkaConfig;
use crate::metrics::Metrics;
use crate::sinks::decisions::write_json;
use noisegate_engine::DecisionRecord;

/// Counts what the broker refused.
struct Context {
    metrics: Arc<Metrics>,
}

impl ClientContext for Context {
    fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        super::log(level, facility, message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        tracing::warn!(%error, reason, "kafka client error (decisions producer)");
    }
}

impl ProducerContext for Context {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, (): ()) {
        if let Err((error, _)) = result {
            self.metrics.kafka_error("decisions");
            tracing::error!(%error, "a decision was not published to the decisions topic");
        }
    }
}

pub struct DecisionsTopic {
    topic: String,
    producer: ThreadedProducer<Context>,
    buffer: Vec<u8>,
}

impl DecisionsTopic {
    pub fn open(config: &KafkaConfig, topic: &str, metrics: Arc<Metrics>) -> Result<DecisionsTopic, String> {
        let producer = config
            .client()
            .set("linger.ms", "20")
            .create_with_context(Context { metrics })
            .map_err(|error| format!("cannot create the decisions producer: {error}"))?;
        Ok(DecisionsTopic { topic: topic.to_owned(), producer, buffer: Vec::with_capacity(1024) })
    }

    /// Queues a decision; waits (briefly, the producer sends in the background) only when the
    /// producer's queue is full.
    pub fn publish(&mut self, record: &DecisionRecord) {
        self.buffer.clear();
        if let Err(error) = write_json(&mut self.buffer, record) {
            tracing::error!(%error, "cannot encode a decision");
            return;
        }
        let mut message = BaseRecord::to(&self.topic).key(record.dedup_key.as_bytes()).payload(&self.buffer);
        for _ in 0..100 {
            match self.producer.send(message) {
                Ok(()) => return,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    message = back;
                    self.producer.poll(std::time::Duration::from_millis(10));
                }
                Err((error, _)) => {
                    self.producer.context().metrics.kafka_error("decisions");
                    tracing::error!(%error, "a decision was not published to the decisions topic");
                    return;
                }
            }
        }
        self.producer.context().metrics.kafka_error("decisions");
        tracing::error!("the decisions producer's queue stayed full; a decision was not published");
    }

    /// Waits until what is queued is published (at shutdown).
    pub fn flush(&self) {
        if let Err(error) = self.producer.flush(std::time::Duration::from_secs(5)) {
            tracing::error!(%error, "decisions not yet published when stopping");
        }
    }
}
