//! The Kafka source: one consumer in the group, on its own thread, reading the configured
//! topics. Each message is one request body, decoded as its topic's encoding and applied by the
//! engine of its partition (`service::shards`).
//!
//! Offsets are committed only with a checkpoint: every `checkpoint_interval`, the state of each
//! partition that moved (its engine's snapshot and undelivered events, as of its last applied
//! message) is published to the changelog, and once the broker has it, the next offset is
//! committed and the events the partition decided since the last checkpoint are sent. A crash
//! re-reads what came after the last checkpoint, on the state as of there, and decides again
//! exactly what was never sent: nothing is lost and nothing is paged twice. The price: a page
//! decided from Kafka waits for its partition's next checkpoint (`checkpoint_interval`).
//! When the group gives this replica a partition, its state is restored from the changelog
//! before any of its messages is read; when it takes one away, its state is published first.
//!
//! A message that cannot be decoded goes to the dead letter (topic or file) with the reason,
//! is counted, and the partition moves on.

use std::collections::HashMap;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext};
use rdkafka::error::KafkaError;
use rdkafka::message::{BorrowedMessage, Header, Headers, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{Message, Offset, TopicPartitionList};
use tokio::sync::{mpsc, oneshot};

use super::changelog::Changelog;
use super::{DeadLetter, KafkaConfig, Logging};
use crate::inbox::{Batch, Input, ShardKey};
use crate::ingest::{CapturedBody, Decoded, IngestError, Limits, Pressure, Reason, SourceKind, WireFormat};
use crate::metrics::Metrics;
use crate::sources::{otlp, single_line_json};

/// What the source needs from the service.
pub struct Wiring {
    pub engine: mpsc::Sender<Input>,
    pub limits: Arc<Limits>,
    pub metrics: Arc<Metrics>,
    pub pressure: Arc<Pressure>,
    pub runtime: tokio::runtime::Handle,
    /// `serve --record`: messages go to the capture file too.
    pub record: bool,
}

/// The running consumer.
pub struct KafkaSource {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl KafkaSource {
    /// Connects (the changelog first: it must be readable before a partition is taken) and
    /// starts consuming; the brokers were probed before (`probe`, by `service::run`). Blocks on
    /// the network: call it off the async workers.
    pub fn start(config: &KafkaConfig, wiring: Wiring, drain_for: Duration) -> Result<KafkaSource, String> {
        let changelog = Changelog::open(config, wiring.runtime.clone())?;
        let dead_letter = match &config.dead_letter {
            DeadLetter::Topic(topic) => DeadLetterSink::Topic(
                topic.clone(),
                config
                    .client()
                    .create_with_context(Logging)
                    .map_err(|error| format!("cannot create the dead-letter producer: {error}"))?,
            ),
            DeadLetter::File(path) => DeadLetterSink::File(path.clone()),
        };
        let encodings = config.sources.iter().map(|source| (source.topic.clone(), source.encoding)).collect();
        let context = Context {
            engine: wiring.engine,
            changelog,
            metrics: wiring.metrics.clone(),
            owned: Mutex::new(HashMap::new()),
        };
        let mut client = config.client();
        for (key, default) in [("session.timeout.ms", "10000"), ("heartbeat.interval.ms", "1000")] {
            if client.get(key).is_none() {
                client.set(key, default);
            }
        }
        let consumer: BaseConsumer<Context> = client
            .set("group.id", &config.group_id)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            .set("fetch.message.max.bytes", "16777216")
            .create_with_context(context)
            .map_err(|error| format!("cannot create the Kafka consumer: {error}"))?;
        consumer
            .subscribe(&config.topics())
            .map_err(|error| format!("cannot subscribe to {:?}: {error}", config.topics()))?;
        let stop = Arc::new(AtomicBool::new(false));
        let worker = Worker {
            consumer,
            encodings,
            dead_letter,
            limits: wiring.limits,
            metrics: wiring.metrics,
            pressure: wiring.pressure,
            runtime: wiring.runtime,
            record: wiring.record,
            interval: config.checkpoint_interval,
            stop: stop.clone(),
            drain_for,
        };
        let thread = std::thread::Builder::new()
            .name("noisegate-kafka".to_owned())
            .spawn(move || worker.run())
            .map_err(|error| format!("cannot start the Kafka thread: {error}"))?;
        Ok(KafkaSource { stop, thread: Some(thread) })
    }

    /// Stops reading, publishes every partition's state, commits and leaves the group.
    /// Blocking.
    pub fn stop(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() {
                tracing::error!("the Kafka thread panicked");
            }
        }
    }
}

/// What the consumer's callbacks share with its loop.
struct Context {
    engine: mpsc::Sender<Input>,
    changelog: Changelog,
    metrics: Arc<Metrics>,
    owned: Mutex<HashMap<ShardKey, Owned>>,
}

/// A partition this replica owns.
struct Owned {
    topic: String,
    partition: i32,
    /// The offset to resume from: after the last message applied. `None` until one is, or
    /// the changelog gave one.
    next_offset: Option<i64>,
    /// Messages applied since the last checkpoint.
    dirty: bool,
    /// Undelivered events the last checkpoint carried: checkpoint again once they are gone.
    pending: usize,
}

fn shard_key(topic: &str, partition: i32) -> ShardKey {
    Arc::from(format!("{topic}/{partition}"))
}

impl Context {
    fn owned(&self) -> std::sync::MutexGuard<'_, HashMap<ShardKey, Owned>> {
        self.owned.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Restores the partitions' states from the changelog into their engines, and sets
    /// where each resumes.
    fn take_over(&self, assignment: &mut TopicPartitionList) {
        let partitions: Vec<(String, i32, ShardKey)> = assignment
            .elements()
            .iter()
            .map(|element| {
                (
                    element.topic().to_owned(),
                    element.partition(),
                    shard_key(element.topic(), element.partition()),
                )
            })
            .collect();
        let keys: Vec<ShardKey> = partitions.iter().map(|(_, _, key)| key.clone()).collect();
        let mut restored = HashMap::new();
        for attempt in 1..=3 {
            match self.changelog.read(&keys) {
                Ok(found) => {
                    restored = found;
                    break;
                }
                // Starting afresh could page again what the last owner paged; losing messages
                // would be worse: after three tries, start afresh from the committed offsets.
                Err(error) => {
                    self.metrics.kafka_error("changelog");
                    tracing::error!(%error, attempt, "cannot read the changelog");
                }
            }
        }
        for (topic, partition, key) in partitions {
            let entry = restored.remove(&key);
            let (next_offset, pending) = match &entry {
                Some(entry) => (Some(entry.offset), entry.state.pending.len()),
                None => (None, 0),
            };
            let (reply, answer) = oneshot::channel();
            let assigned = self
                .engine
                .blocking_send(Input::ShardAssign(key.clone(), entry.map(|entry| entry.state), reply))
                .ok()
                .and_then(|()| answer.blocking_recv().ok());
            match assigned {
                Some(Ok(())) => {}
                Some(Err(error)) => tracing::error!(%error, partition = %key, "partition started afresh"),
                None => return,
            }
            if let Some(offset) = next_offset {
                if let Err(error) = assignment.set_partition_offset(&topic, partition, Offset::Offset(offset))
                {
                    tracing::error!(%error, partition = %key, "cannot resume at the changelog's offset");
                }
            }
            tracing::info!(partition = %key, resume_at = ?next_offset, "partition taken over");
            self.owned().insert(key, Owned { topic, partition, next_offset, dirty: false, pending });
        }
        self.metrics.kafka_partitions(self.owned().len());
    }

    /// Publishes the state of the partitions (all, or `only`) that changed since their last
    /// checkpoint, then commits their offsets and releases the events they decided. Returns
    /// how many undelivered events the partitions' last published states carry.
    fn checkpoint(
        &self,
        consumer: &BaseConsumer<Context>,
        only: Option<&[ShardKey]>,
    ) -> Result<usize, String> {
        let keys: Vec<(ShardKey, i64, bool)> = self
            .owned()
            .iter()
            .filter(|(key, _)| only.is_none_or(|only| only.contains(key)))
            .filter_map(|(key, owned)| Some((key.clone(), owned.next_offset?, owned.dirty)))
            .collect();
        let mut answers = Vec::with_capacity(keys.len());
        for (key, offset, dirty) in keys {
            let (reply, answer) = oneshot::channel();
            if self.engine.blocking_send(Input::ShardCheckpoint(key.clone(), dirty, reply)).is_err() {
                return Err("the engine has stopped".to_owned());
            }
            answers.push((key, offset, answer));
        }
        let mut entries = Vec::with_capacity(answers.len());
        for (key, offset, answer) in answers {
            match answer.blocking_recv() {
                Ok(Some(Ok(state))) => entries.push((key, offset, state)),
                Ok(Some(Err(error))) => {
                    self.metrics.kafka_error("changelog");
                    tracing::error!(%error, partition = %key, "cannot take the partition's state");
                }
                Ok(None) => {}
                Err(_) => return Err("the engine has stopped".to_owned()),
            }
        }
        let pending: Vec<(ShardKey, usize)> =
            entries.iter().map(|(key, _, state)| (key.clone(), state.pending.len())).collect();
        let mut offsets = TopicPartitionList::new();
        {
            let owned = self.owned();
            for (key, offset, _) in &entries {
                if let Some(owned) = owned.get(key) {
                    let _ =
                        offsets.add_partition_offset(&owned.topic, owned.partition, Offset::Offset(*offset));
                }
            }
        }
        let count = entries.len();
        if count == 0 {
            return Ok(self.owned().values().map(|owned| owned.pending).sum());
        }
        if let Err(error) = self.changelog.publish(entries) {
            self.metrics.kafka_error("changelog");
            return Err(error);
        }
        self.metrics.kafka_checkpoints(count);
        for (key, _) in &pending {
            if self.engine.blocking_send(Input::ShardPublished(key.clone())).is_err() {
                return Err("the engine has stopped".to_owned());
            }
        }
        // The changelog is what a new owner trusts; the committed offset only keeps tools that
        // watch the group's lag honest.
        if let Err(error) = consumer.commit(&offsets, CommitMode::Sync) {
            self.metrics.kafka_error("commit");
            tracing::warn!(%error, "cannot commit offsets (the changelog has them)");
        }
        let mut owned = self.owned();
        for (key, count) in pending {
            if let Some(owned) = owned.get_mut(&key) {
                owned.dirty = false;
                owned.pending = count;
            }
        }
        Ok(owned.values().map(|owned| owned.pending).sum())
    }

    /// Publishes the partitions' state and drops their engines.
    fn hand_over(&self, consumer: &BaseConsumer<Context>, revoked: &TopicPartitionList) {
        let keys: Vec<ShardKey> = revoked
            .elements()
            .iter()
            .map(|element| shard_key(element.topic(), element.partition()))
            .collect();
        // A lost assignment may already be another replica's: its state is not ours to publish.
        if !consumer.assignment_lost() {
            if let Err(error) = self.checkpoint(consumer, Some(&keys)) {
                tracing::error!(%error, "cannot publish the state of revoked partitions; their next owner resumes from the last checkpoint");
            }
        }
        for key in keys {
            let _ = self.engine.blocking_send(Input::ShardRevoke(key.clone()));
            self.owned().remove(&key);
            tracing::info!(partition = %key, "partition handed over");
        }
        self.metrics.kafka_partitions(self.owned().len());
    }
}

impl ClientContext for Context {
    fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        super::log(level, facility, message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        self.metrics.kafka_error("consume");
        tracing::warn!(%error, reason, "kafka consumer error");
    }
}

impl ConsumerContext for Context {
    fn rebalance(
        &self,
        consumer: &BaseConsumer<Context>,
        error: RDKafkaRespErr,
        partitions: &mut TopicPartitionList,
    ) {
        match error {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                self.take_over(partitions);
                if let Err(error) = consumer.assign(partitions) {
                    tracing::error!(%error, "cannot take the assigned partitions");
                }
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                self.hand_over(consumer, partitions);
                if let Err(error) = consumer.unassign() {
                    tracing::error!(%error, "cannot give the revoked partitions up");
                }
            }
            other => {
                tracing::error!(error = ?other, "rebalance failed");
                let _ = consumer.unassign();
            }
        }
    }
}

enum DeadLetterSink {
    Topic(String, FutureProducer<Logging>),
    File(std::path::PathBuf),
}

struct Worker {
    consumer: BaseConsumer<Context>,
    encodings: HashMap<String, WireFormat>,
    dead_letter: DeadLetterSink,
    limits: Arc<Limits>,
    metrics: Arc<Metrics>,
    pressure: Arc<Pressure>,
    runtime: tokio::runtime::Handle,
    record: bool,
    interval: Duration,
    stop: Arc<AtomicBool>,
    drain_for: Duration,
}

impl Worker {
    fn run(self) {
        let mut checkpointed = Instant::now();
        let mut paused = false;
        while !self.stop.load(Ordering::Relaxed) {
            // The memory ceiling and the caps hold for Kafka too: stop fetching until they clear.
            let over = self.over_limits();
            if over != paused {
                paused = over;
                if over {
                    self.metrics.limit_hit("kafka_paused");
                    tracing::warn!("a limit is reached: Kafka consumption paused until it clears");
                } else {
                    tracing::info!("Kafka consumption resumed");
                }
                self.pause(over);
            } else if paused {
                // Partitions assigned since are paused too.
                self.pause(true);
            }
            match self.consumer.poll(Duration::from_millis(100)) {
                None => {}
                Some(Err(error)) => {
                    self.metrics.kafka_error("consume");
                    tracing::warn!(%error, "cannot consume");
                }
                Some(Ok(message)) if !self.handle(&message) => break,
                Some(Ok(_)) => {}
            }
            if checkpointed.elapsed() >= self.interval {
                if let Err(error) = self.consumer.context().checkpoint(&self.consumer, None) {
                    tracing::error!(%error, "checkpoint failed; offsets not committed, retried next time");
                }
                checkpointed = Instant::now();
            }
        }
        // Publish the final state once the events decided here are delivered (for at most
        // `drain_for`), so that whoever owns the partitions next has none to send again.
        let deadline = Instant::now() + self.drain_for;
        loop {
            match self.consumer.context().checkpoint(&self.consumer, None) {
                Ok(pending) if pending > 0 && Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50));
                }
                Ok(_) => break,
                Err(error) => {
                    tracing::error!(%error, "final checkpoint failed");
                    break;
                }
            }
        }
        // Leaving the group revokes (and hands over) every partition.
        self.consumer.unsubscribe();
        let deadline = Instant::now() + self.drain_for.max(Duration::from_secs(1));
        while Instant::now() < deadline
            && self.consumer.assignment().is_ok_and(|assignment| assignment.count() > 0)
        {
            let _ = self.consumer.poll(Duration::from_millis(100));
        }
        tracing::info!("kafka consumer stopped");
    }

    fn over_limits(&self) -> bool {
        let pressure = &self.pressure;
        let over = [
            ("memory", pressure.memory_exceeded.load(Ordering::Relaxed)),
            (
                "active_alerts",
                pressure.active_alerts.load(Ordering::Relaxed) >= self.limits.max_active_alerts,
            ),
            (
                "active_groups",
                pressure.active_groups.load(Ordering::Relaxed) >= self.limits.max_active_groups,
            ),
        ];
        over.iter().any(|(_, over)| *over)
    }

    fn pause(&self, pause: bool) {
        let Ok(assignment) = self.consumer.assignment() else { return };
        let result = if pause { self.consumer.pause(&assignment) } else { self.consumer.resume(&assignment) };
        if let Err(error) = result {
            tracing::error!(%error, "cannot pause or resume consumption");
        }
    }

    /// Applies (or dead-letters) one message; `false` once the engine has stopped.
    fn handle(&self, message: &BorrowedMessage<'_>) -> bool {
        let key = shard_key(message.topic(), message.partition());
        self.metrics.received_request(SourceKind::Kafka);
        // A request a replica's listener forwarded names its own encoding.
        let forwarded = message
            .headers()
            .and_then(|headers| headers.iter().find(|header| header.key == super::forward::ENCODING_HEADER))
            .and_then(|header| WireFormat::from_kafka_name(std::str::from_utf8(header.value?).ok()?));
        let encoding = forwarded.as_ref().or_else(|| self.encodings.get(message.topic()));
        let decoded = match (message.payload(), encoding) {
            (None, _) => Err(IngestError::new(Reason::MissingField, "empty message")),
            (Some(_), None) => Err(IngestError::new(Reason::InvalidValue, "no encoding for the topic")),
            (Some(payload), Some(encoding)) => decode(*encoding, payload, &self.limits, self.record),
        };
        match decoded {
            Err(error) => {
                self.metrics.rejected_requests(SourceKind::Kafka, error.reason);
                self.dead_letter(message, &error);
            }
            Ok((decoded, captured)) => {
                for rejection in &decoded.rejected {
                    self.metrics.rejected_record(SourceKind::Kafka, rejection.reason);
                }
                if !decoded.rejected.is_empty() {
                    tracing::debug!(partition = %key, offset = message.offset(), rejected = %decoded.rejection_summary(), "records rejected");
                }
                let accepted = decoded.accepted();
                if accepted > 0 || captured.is_some() {
                    let (applied, _) = oneshot::channel();
                    let batch = Batch {
                        source: SourceKind::Kafka,
                        events: decoded.events,
                        capture: captured,
                        received: std::time::Instant::now(),
                        shard: Some(key.clone()),
                        occurred_at: None,
                        // The partition pauses at the caps instead (Kafka keeps what waits).
                        at_capacity: None,
                        applied,
                    };
                    // Waits while the engine's queue is full: Kafka keeps what is not read yet.
                    if self.consumer.context().engine.blocking_send(Input::Batch(batch)).is_err() {
                        return false;
                    }
                    self.metrics.accepted_records(SourceKind::Kafka, accepted as u64);
                }
            }
        }
        let context = self.consumer.context();
        let mut owned = context.owned();
        let entry = owned.entry(key).or_insert_with(|| Owned {
            topic: message.topic().to_owned(),
            partition: message.partition(),
            next_offset: None,
            dirty: false,
            pending: 0,
        });
        entry.next_offset = Some(message.offset() + 1);
        entry.dirty = true;
        true
    }

    fn dead_letter(&self, message: &BorrowedMessage<'_>, error: &IngestError) {
        self.metrics.kafka_dead_lettered();
        tracing::warn!(
            topic = message.topic(),
            partition = message.partition(),
            offset = message.offset(),
            error = %error.message,
            "undecodable Kafka message sent to the dead letter"
        );
        let source = format!("{}/{}/{}", message.topic(), message.partition(), message.offset());
        let written = match &self.dead_letter {
            DeadLetterSink::Topic(topic, producer) => {
                let headers = OwnedHeaders::new()
                    .insert(Header { key: "noisegate.error", value: Some(error.message.as_str()) })
                    .insert(Header { key: "noisegate.reason", value: Some(error.reason.as_str()) })
                    .insert(Header { key: "noisegate.source", value: Some(source.as_str()) });
                let mut record: FutureRecord<'_, [u8], [u8]> =
                    FutureRecord::to(topic).payload(message.payload().unwrap_or_default()).headers(headers);
                if let Some(key) = message.key() {
                    record = record.key(key);
                }
                self.runtime
                    .block_on(producer.send(record, Duration::from_secs(30)))
                    .map(|_| ())
                    .map_err(|(error, _)| error.to_string())
            }
            DeadLetterSink::File(path) => {
                let payload = message.payload().unwrap_or_default();
                let line = serde_json::json!({
                    "at": crate::clock::now().to_string(),
                    "source": source,
                    "reason": error.reason.as_str(),
                    "error": error.message,
                    "payload": std::str::from_utf8(payload).ok(),
                    "payload_hex": std::str::from_utf8(payload).is_err().then(|| hex(payload)),
                });
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .and_then(|mut file| writeln!(file, "{line}"))
                    .map_err(|error| format!("{}: {error}", path.display()))
            }
        };
        if let Err(failure) = written {
            self.metrics.kafka_error("dead_letter");
            tracing::error!(error = %failure, %source, "cannot write the dead letter; the message is only logged");
        }
    }
}

/// Decodes one message as its topic's encoding, with the decoders of the HTTP endpoints;
/// with `record`, also the body for the capture file (`serve --record`).
pub fn decode(
    encoding: WireFormat,
    payload: &[u8],
    limits: &Limits,
    record: bool,
) -> Result<(Decoded, Option<CapturedBody>), IngestError> {
    match encoding {
        WireFormat::OtlpLogsProto => return otlp::decode_message::<otlp::Logs>(payload, limits, record),
        WireFormat::OtlpTracesProto => {
            return otlp::decode_message::<otlp::traces::Traces>(payload, limits, record);
        }
        _ => {}
    }
    let text = std::str::from_utf8(payload)
        .map_err(|error| IngestError::new(Reason::InvalidUtf8, format!("not UTF-8: {error}")))?;
    let decoded = crate::sources::decode_text(encoding, text, limits)?;
    let captured = record.then(|| CapturedBody { format: encoding, json: single_line_json(text) });
    Ok((decoded, captured))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use noisegate_engine::model::Event;
    use prost::Message as _;

    fn limits() -> Limits {
        crate::config::parse("", &|_| None).unwrap().limits
    }

    fn alert_names(decoded: &Decoded) -> Vec<String> {
        decoded
            .events
            .iter()
            .filter_map(|event| match event {
                Event::Alert(alert) => alert.labels.get("alertname").map(str::to_owned),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn every_encoding_decodes_and_records_as_its_capture_source() {
        let alertmanager = r#"[{"labels":{"alertname":"A"}}]"#;
        let webhook =
            r#"{"version":"4","status":"firing","alerts":[{"status":"firing","labels":{"alertname":"W"}}]}"#;
        let pagerduty = r#"{"routing_key":"k","event_action":"trigger","payload":{"summary":"P","source":"s","severity":"error"}}"#;
        let json = r#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"attributes":[{"key":"alertname","value":{"stringValue":"J"}}]}]}]}]}"#;
        let proto = otlp::parse_json(json).unwrap().encode_to_vec();
        let spans = r#"{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"cart"}}]},"scopeSpans":[{"spans":[{"traceId":"0000000000000000000000000000abcd","spanId":"4444444444444444","kind":3,"attributes":[{"key":"peer.service","value":{"stringValue":"redis"}}]}]}]}]}"#;
        let spans_proto = otlp::traces::parse_json(spans).unwrap().encode_to_vec();
        let cases: [(WireFormat, &[u8], &str); 7] = [
            (WireFormat::AlertmanagerV2, alertmanager.as_bytes(), "alertmanager_v2"),
            (WireFormat::AlertmanagerWebhook, webhook.as_bytes(), "alertmanager_webhook"),
            (WireFormat::PagerDutyV2, pagerduty.as_bytes(), "pagerduty_v2"),
            (WireFormat::OtlpLogsJson, json.as_bytes(), "otlp_logs_json"),
            (WireFormat::OtlpLogsProto, &proto, "otlp_logs_json"),
            (WireFormat::OtlpTracesJson, spans.as_bytes(), "otlp_traces_json"),
            (WireFormat::OtlpTracesProto, &spans_proto, "otlp_traces_json"),
        ];
        for (encoding, payload, source) in cases {
            let (decoded, captured) = decode(encoding, payload, &limits(), true).unwrap();
            assert_eq!(decoded.events.len(), 1, "{encoding:?}");
            let captured = captured.unwrap();
            assert_eq!(captured.format.capture_name(), source);
            // What is recorded decodes to the same alerts in replay.
            let again = crate::sources::capture::decode_body(source, &captured.json, &limits()).unwrap();
            assert_eq!(alert_names(&again), alert_names(&decoded), "{encoding:?}");
            assert_eq!(again.accepted(), decoded.accepted(), "{encoding:?}");
        }
        assert!(decode(WireFormat::OtlpLogsJson, json.as_bytes(), &limits(), false).unwrap().1.is_none());
    }

    #[test]
    fn undecodable_messages_say_why() {
        let error = decode(WireFormat::OtlpLogsProto, b"\xff\xff", &limits(), false).unwrap_err();
        assert_eq!(error.reason, Reason::Malformed);
        let error = decode(WireFormat::OtlpTracesProto, b"\xff\xff", &limits(), false).unwrap_err();
        assert_eq!(error.reason, Reason::Malformed);
        assert!(error.message.contains("ExportTraceServiceRequest"), "{}", error.message);
        let error = decode(WireFormat::AlertmanagerV2, b"\xff[]", &limits(), false).unwrap_err();
        assert_eq!(error.reason, Reason::InvalidUtf8);
        let error = decode(WireFormat::PagerDutyV2, b"{}", &limits(), false).unwrap_err();
        assert!(
            error.message.contains("routing_key") || error.message.contains("event_action"),
            "{}",
            error.message
        );
    }
}
