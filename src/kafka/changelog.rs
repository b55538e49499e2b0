//! The changelog topic: a record per partition checkpoint, keyed by the partition
//! (`topic/partition`), holding the input offset to resume from, the partition engine's state
//! and its undelivered events. Like a Kafka Streams changelog it should be compacted (noisegate
//! creates it so when it is missing): the latest record per key is all a new owner needs.
//!
//! Reading a key's latest record must see everything written before. Rather than trust the
//! broker's end offset, the reader writes a marker record to the partition first and reads up
//! to it.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::{Message, Offset, TopicPartitionList};
use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::xxh3_64;

use super::{KafkaConfig, Logging};
use crate::inbox::{ShardKey, ShardState};

/// The setting of a topic that keeps the latest record of each key.
pub(super) const COMPACTED: (&str, &str) = ("cleanup.policy", "compact");

/// The layout of a changelog value; records of another are skipped (and logged).
const VERSION: u32 = 1;
/// How long reading or writing the changelog may take before it counts as failed.
const TIMEOUT: Duration = Duration::from_secs(30);
/// Keys of reader markers start with this byte, which no partition key does.
const MARKER: &str = "\u{0}marker/";

/// A changelog value.
#[derive(Serialize, Deserialize)]
struct Entry {
    version: u32,
    /// The next input offset: every message before it is in `state`.
    offset: i64,
    state: ShardState,
}

/// What a new owner restores: where to resume reading, and the state as of there.
#[derive(Debug)]
pub struct Restored {
    pub offset: i64,
    pub state: ShardState,
}

pub struct Changelog {
    topic: String,
    group_id: String,
    config: KafkaConfig,
    producer: FutureProducer<Logging>,
    partitions: i32,
    runtime: tokio::runtime::Handle,
}

impl Changelog {
    /// Connects and finds the topic's partitions, creating the topic (compacted) if it is
    /// missing, with as many partitions as the largest source topic.
    pub fn open(config: &KafkaConfig, runtime: tokio::runtime::Handle) -> Result<Changelog, String> {
        let producer: FutureProducer<Logging> = config
            .client()
            .set("message.max.bytes", "67108864")
            // Looking a topic up must not create it (uncompacted, with the broker's defaults).
            .set("allow.auto.create.topics", "false")
            .create_with_context(Logging)
            .map_err(|error| format!("cannot create the changelog producer: {error}"))?;
        let topic = config.changelog_topic.clone();
        let mut wanted = 1;
        for source in &config.sources {
            wanted = wanted.max(partition_count(&producer, &source.topic)?);
        }
        let partitions = ensure_topic(config, &producer, &topic, wanted, &[COMPACTED], &runtime)?;
        Ok(Changelog {
            topic,
            group_id: config.group_id.clone(),
            config: config.clone(),
            producer,
            partitions,
            runtime,
        })
    }

    fn partition_of(&self, key: &str) -> i32 {
        (xxh3_64(key.as_bytes()) % self.partitions as u64) as i32
    }

    /// Publishes checkpoints and waits until the broker has them all.
    pub fn publish(&self, entries: Vec<(ShardKey, i64, ShardState)>) -> Result<(), String> {
        let mut deliveries = Vec::with_capacity(entries.len());
        for (key, offset, state) in entries {
            let value = encode(offset, state)
                .map_err(|error| format!("cannot encode the state of {key}: {error}"))?;
            let record = FutureRecord::to(&self.topic)
                .key(key.as_bytes())
                .payload(&value)
                .partition(self.partition_of(&key));
            let delivery = self
                .producer
                .send_result(record)
                .map_err(|(error, _)| format!("cannot queue the state of {key}: {error}"))?;
            deliveries.push((key, delivery));
        }
        for (key, delivery) in deliveries {
            match self.runtime.block_on(delivery) {
                Ok(Ok(_)) => {}
                Ok(Err((error, _))) => return Err(format!("the broker refused the state of {key}: {error}")),
                Err(_) => return Err(format!("the state of {key} was dropped before delivery")),
            }
        }
        Ok(())
    }

    /// The latest state of each key that has one.
    pub fn read(&self, keys: &[ShardKey]) -> Result<HashMap<ShardKey, Restored>, String> {
        let deadline = Instant::now() + TIMEOUT;
        // Mark the end of each partition to read, then read up to the marks.
        let marker = format!("{MARKER}{}", fastrand::u64(..));
        let mut ends: BTreeMap<i32, i64> = BTreeMap::new();
        for key in keys {
            let partition = self.partition_of(key);
            if ends.contains_key(&partition) {
                continue;
            }
            let record: FutureRecord<'_, str, [u8]> =
                FutureRecord::to(&self.topic).key(marker.as_str()).payload(&[][..]).partition(partition);
            let delivered = self.runtime.block_on(self.producer.send(record, TIMEOUT));
            let (partition, offset) = delivered
                .map(|delivery| (delivery.partition, delivery.offset))
                .map_err(|(error, _)| format!("cannot write to the changelog {:?}: {error}", self.topic))?;
            ends.insert(partition, offset);
        }
        // A tombstone, so that compaction removes the marker.
        for partition in ends.keys() {
            let tombstone: FutureRecord<'_, str, [u8]> =
                FutureRecord::to(&self.topic).key(marker.as_str()).partition(*partition);
            let _ = self.producer.send_result(tombstone);
        }

        let reader: BaseConsumer<Logging> = self
            .config
            .client()
            .set("group.id", format!("{}-changelog-reader", self.group_id))
            .set("enable.auto.commit", "false")
            .set("fetch.message.max.bytes", "67108864")
            .create_with_context(Logging)
            .map_err(|error| format!("cannot create the changelog reader: {error}"))?;
        let mut assignment = TopicPartitionList::new();
        for partition in ends.keys() {
            assignment
                .add_partition_offset(&self.topic, *partition, Offset::Beginning)
                .map_err(|error| error.to_string())?;
        }
        reader.assign(&assignment).map_err(|error| format!("cannot read the changelog: {error}"))?;
        let mut found: HashMap<ShardKey, Restored> = HashMap::new();
        while !ends.is_empty() {
            if Instant::now() >= deadline {
                return Err(format!("reading the changelog {:?} took over {TIMEOUT:?}", self.topic));
            }
            let message = match reader.poll(Duration::from_millis(100)) {
                None => continue,
                Some(Err(error)) => {
                    tracing::warn!(%error, "while reading the changelog");
                    continue;
                }
                Some(Ok(message)) => message,
            };
            if ends.get(&message.partition()).is_some_and(|end| message.offset() >= *end) {
                ends.remove(&message.partition());
            }
            let Some(key) = message.key().and_then(|key| std::str::from_utf8(key).ok()) else { continue };
            let Some(wanted) = keys.iter().find(|wanted| wanted.as_ref() == key) else { continue };
            match message.payload() {
                // A tombstone: the partition's state was dropped.
                None => {
                    found.remove(key);
                }
                Some(value) => match decode(value) {
                    Ok(restored) => {
                        found.insert(wanted.clone(), restored);
                    }
                    Err(error) => tracing::warn!(partition = %key, %error, "changelog record skipped"),
                },
            }
        }
        Ok(found)
    }
}

/// A changelog value, checked for its version.
pub fn decode(value: &[u8]) -> Result<Restored, String> {
    let entry: Entry = postcard::from_bytes(value).map_err(|error| format!("corrupt record: {error}"))?;
    if entry.version != VERSION {
        return Err(format!("a record of version {} (this noisegate reads {VERSION})", entry.version));
    }
    Ok(Restored { offset: entry.offset, state: entry.state })
}

/// Encodes a changelog value.
pub fn encode(offset: i64, state: ShardState) -> Result<Vec<u8>, postcard::Error> {
    postcard::to_allocvec(&Entry { version: VERSION, offset, state })
}

/// The partitions of a topic of noisegate's, created with `wanted` partitions and `settings`
/// when it is missing.
pub(super) fn ensure_topic(
    config: &KafkaConfig,
    producer: &FutureProducer<Logging>,
    topic: &str,
    wanted: i32,
    settings: &[(&str, &str)],
    runtime: &tokio::runtime::Handle,
) -> Result<i32, String> {
    let partitions = partition_count(producer, topic)?;
    if partitions > 0 {
        return Ok(partitions);
    }
    let admin: AdminClient<Logging> = config
        .client()
        .create_with_context(Logging)
        .map_err(|error| format!("cannot create a Kafka admin client: {error}"))?;
    let mut new = NewTopic::new(topic, wanted, TopicReplication::Fixed(-1));
    for (name, value) in settings {
        new = new.set(name, value);
    }
    if let Err(error) = runtime.block_on(admin.create_topics([&new], &AdminOptions::new())) {
        tracing::warn!(%error, %topic, "cannot create a topic");
    }
    let partitions = partition_count(producer, topic)?;
    if partitions == 0 {
        return Err(format!("the topic {topic:?} does not exist and cannot be created"));
    }
    tracing::info!(%topic, partitions, ?settings, "topic created");
    Ok(partitions)
}

pub(super) fn partition_count(producer: &FutureProducer<Logging>, topic: &str) -> Result<i32, String> {
    let metadata = producer
        .client()
        .fetch_metadata(Some(topic), TIMEOUT)
        .map_err(|error| format!("cannot read the metadata of topic {topic:?}: {error}"))?;
    Ok(metadata
        .topics()
        .iter()
        .find(|found| found.name() == topic && found.error().is_none())
        .map_or(0, |found| found.partitions().len() as i32))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::alertmanager;
    use noisegate_engine::Engine;
    use noisegate_engine::model::EventTime;

    /// An engine with an open, paged incident, as a changelog value.
    pub fn sample() -> Vec<u8> {
        let config = crate::config::parse("route: {group_wait: 1s}", &|_| None).unwrap();
        let mut engine = Engine::new(config.engine.clone());
        let body = r#"[{"labels":{"alertname":"DiskFull","severity":"critical","service":"db"}}]"#;
        let decoded = alertmanager::decode_v2(body, &config.limits).unwrap();
        let mut out = Vec::new();
        engine.apply_batch(decoded.events, EventTime::from_millis(1_000), &mut out);
        engine.advance(EventTime::from_millis(5_000), &mut out);
        let state =
            ShardState { replica: 7, snapshot: engine.snapshot().to_vec().unwrap(), pending: Vec::new() };
        encode(42, state).unwrap()
    }

    #[test]
    fn a_record_restores_the_engine_it_was_taken_from() {
        let restored = decode(&sample()).unwrap();
        assert_eq!(restored.offset, 42);
        assert_eq!(restored.state.replica, 7);
        let config = crate::config::parse("", &|_| None).unwrap();
        let engine = Engine::restore(config.engine, &restored.state.snapshot).unwrap();
        assert_eq!(engine.incidents().len(), 1);
    }

    #[test]
    fn corrupt_and_foreign_records_are_refused() {
        let value = sample();
        assert!(decode(&value[..value.len() / 2]).unwrap_err().contains("corrupt"));
        let mut other = value.clone();
        other[0] = 9;
        assert!(decode(&other).unwrap_err().contains("version 9"));
    }
}
