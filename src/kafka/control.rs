//! The control topic: what every replica of the group applies, whichever replica was told.
//! Silences made through the admin API (amtool, the console) and responders' feedback
//! (PagerDuty webhooks) are published here, one JSON message each, by the replica that took
//! them (which applied them already), and applied by every other replica to its main engine and
//! every partition engine it owns. The topic is compacted, keyed `silence/<id>` and
//! `feedback/<dedup_key>`: the latest record of a silence is its state (an expired one, with
//! its end), the latest of an incident its last responder action, and both are safe to apply
//! twice (a known silence is not added again; an acknowledgement counts once per incident).
//!
//! Each replica also publishes there a view of each partition it owns (`view/<partition>`: its
//! open incidents and firing alerts, rendered as the admin API renders them) when it changed,
//! at most every `VIEW_INTERVAL`, so that every replica's admin API and console show every
//! partition (`Views`), not only its own.
//!
//! A replica reads the whole topic when it starts, before it takes a partition (up to a marker
//! it writes first, as the changelog reader does), then follows it on a thread of its own. Its
//! own messages carry its replica id (header `noisegate.replica`) and are skipped.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, Headers, OwnedHeaders};
use rdkafka::producer::{
    BaseRecord, DeliveryResult, FutureProducer, FutureRecord, ProducerContext, ThreadedProducer,
};
use rdkafka::{Message, Offset, TopicPartitionList};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use super::changelog::{COMPACTED, ensure_topic};
use super::{KafkaConfig, Logging};
use crate::inbox::{Input, Shared};
use crate::metrics::Metrics;
use noisegate_engine::model::{EventTime, Feedback};
use noisegate_engine::silence::Silence;

/// The layout of a message; others are skipped (and logged).
const VERSION: u32 = 1;
const REPLICA_HEADER: &str = "noisegate.replica";
/// How long the first reading may take.
const TIMEOUT: Duration = Duration::from_secs(30);
/// Keys of reader markers start with this byte, which no other key does.
const MARKER: &str = "\u{0}marker/";

#[derive(Default, Serialize, Deserialize)]
struct Envelope {
    version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    silence: Option<Silence>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    feedback: Option<Feedback>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    view: Option<PartitionView>,
    /// When the feedback happened, by PagerDuty's word (milliseconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    at: Option<i64>,
}

impl Envelope {
    /// This version's envelope, with nothing in it yet.
    fn new() -> Envelope {
        Envelope { version: VERSION, ..Envelope::default() }
    }
}

/// How often at most a partition's view is published.
pub const VIEW_INTERVAL: Duration = Duration::from_secs(2);
/// A view's message stays under the brokers' default message size.
const VIEW_BYTES: usize = 900 << 10;

/// A partition's open incidents and firing alerts, as its owner last published them.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PartitionView {
    /// `/api/v1/incidents/{id}`'s answer for each (with its alerts, log context, timeline).
    pub incidents: Vec<serde_json::Value>,
    pub alerts: Vec<ViewAlert>,
    /// Firing alerts left out to keep the message small.
    pub alerts_omitted: usize,
}

/// A firing alert: Alertmanager's gettableAlert, and its group's labels.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ViewAlert {
    pub alert: serde_json::Value,
    pub group_labels: BTreeMap<String, String>,
}

/// The other replicas' partitions, as last published, for the admin API.
#[derive(Default)]
pub struct Views {
    inner: std::sync::Mutex<ViewsInner>,
}

#[derive(Default)]
struct ViewsInner {
    remote: BTreeMap<String, Arc<PartitionView>>,
    /// Partitions owned here: their views are the engines' own.
    owned: std::collections::HashSet<String>,
    /// The latest view another replica published of a partition owned here: its new owner's,
    /// read before this replica gave the partition up. Shown once it has.
    aside: BTreeMap<String, Arc<PartitionView>>,
}

impl Views {
    fn lock(&self) -> std::sync::MutexGuard<'_, ViewsInner> {
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A partition taken over here (`true`) or given up.
    pub fn own(&self, partition: &str, owned: bool) {
        let mut inner = self.lock();
        if owned {
            inner.owned.insert(partition.to_owned());
            inner.remote.remove(partition);
            inner.aside.remove(partition);
        } else {
            inner.owned.remove(partition);
            if let Some(view) = inner.aside.remove(partition) {
                inner.remote.insert(partition.to_owned(), view);
            }
        }
    }

    fn offer(&self, partition: &str, view: PartitionView) {
        let mut inner = self.lock();
        let view = Arc::new(view);
        if inner.owned.contains(partition) {
            inner.aside.insert(partition.to_owned(), view);
        } else {
            inner.remote.insert(partition.to_owned(), view);
        }
    }

    /// Every partition owned elsewhere, by name.
    pub fn remote(&self) -> Vec<(String, Arc<PartitionView>)> {
        self.lock().remote.iter().map(|(key, view)| (key.clone(), view.clone())).collect()
    }
}

/// Counts what the broker refused.
struct Context {
    metrics: Arc<Metrics>,
    /// What its messages are, for the logs and the metric.
    what: &'static str,
}

impl ClientContext for Context {
    fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        super::log(level, facility, message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        tracing::warn!(%error, reason, what = self.what, "kafka client error");
    }
}

impl ProducerContext for Context {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, (): ()) {
        if let Err((error, _)) = result {
            self.metrics.kafka_error(self.what);
            tracing::error!(%error, what = self.what, "a message was not published: other replicas do not have it");
        }
    }
}

/// Publishes what this replica was told, for the others.
pub struct ControlTopic {
    topic: String,
    views_topic: String,
    replica: u64,
    producer: ThreadedProducer<Context>,
    /// Views have their own, small queue: a broker outage drops views, never a silence.
    views_producer: ThreadedProducer<Context>,
    views: Arc<Views>,
}

impl ControlTopic {
    /// Connects, creating the topic (compacted, one partition) when it is missing.
    pub fn open(
        config: &KafkaConfig,
        replica: u64,
        metrics: Arc<Metrics>,
        runtime: &tokio::runtime::Handle,
    ) -> Result<ControlTopic, String> {
        let lookup = lookup(config)?;
        ensure_topic(config, &lookup, &config.control_topic, 1, &[COMPACTED], runtime)?;
        // Views are replaced every few seconds: minutes of them are all that is kept.
        let recent = [("cleanup.policy", "delete"), ("retention.ms", "120000"), ("segment.ms", "60000")];
        ensure_topic(config, &lookup, &config.views_topic, 1, &recent, runtime)?;
        let producer = config
            .client()
            .set("linger.ms", "5")
            .create_with_context(Context { metrics: metrics.clone(), what: "control" })
            .map_err(|error| format!("cannot create the control topic's producer: {error}"))?;
        let views_producer = config
            .client()
            .set("linger.ms", "20")
            .set("queue.buffering.max.kbytes", "16384")
            .set("message.timeout.ms", "10000")
            .create_with_context(Context { metrics, what: "views" })
            .map_err(|error| format!("cannot create the views topic's producer: {error}"))?;
        Ok(ControlTopic {
            topic: config.control_topic.clone(),
            views_topic: config.views_topic.clone(),
            replica,
            producer,
            views_producer,
            views: Arc::default(),
        })
    }

    /// The other replicas' partitions, as the reader receives them.
    pub fn views(&self) -> &Arc<Views> {
        &self.views
    }

    /// Publishes a partition's view, made to fit in a message: alerts left out from the end
    /// first, then the incidents' details, then incidents from the end. Dropped, not waited
    /// for, when the brokers are behind.
    pub fn view(&self, partition: &str, view: PartitionView) {
        let key = format!("view/{partition}");
        let Some(value) = fit(view) else { return };
        let replica = self.replica.to_string();
        let headers = OwnedHeaders::new().insert(Header { key: REPLICA_HEADER, value: Some(&replica) });
        let record = BaseRecord::to(&self.views_topic).key(&key).payload(&value).headers(headers);
        if let Err((error, _)) = self.views_producer.send(record) {
            tracing::debug!(%error, partition, "a partition's view was not published");
        }
    }

    /// A silence as it is now (created, or expired with its end).
    pub fn silence(&self, silence: &Silence) {
        let key = format!("silence/{}", silence.id);
        self.publish(&self.topic, &key, Envelope { silence: Some(silence.clone()), ..Envelope::new() });
    }

    pub fn feedback(&self, feedback: &Feedback, at: Option<EventTime>) {
        let key = format!("feedback/{}", feedback.dedup_key);
        self.publish(
            &self.topic,
            &key,
            Envelope {
                feedback: Some(feedback.clone()),
                at: at.map(EventTime::as_millis),
                ..Envelope::new()
            },
        );
    }

    /// Queues a message (the producer sends in the background and logs what fails); waits up
    /// to a second while its queue is full.
    fn publish(&self, topic: &str, key: &str, envelope: Envelope) {
        let value = match serde_json::to_vec(&envelope) {
            Ok(value) => value,
            Err(error) => {
                tracing::error!(%error, key, "cannot encode a control message");
                return;
            }
        };
        let replica = self.replica.to_string();
        let headers = OwnedHeaders::new().insert(Header { key: REPLICA_HEADER, value: Some(&replica) });
        let mut record = BaseRecord::to(topic).key(key).payload(&value).headers(headers);
        for _ in 0..100 {
            match self.producer.send(record) {
                Ok(()) => return,
                Err((error, returned)) => {
                    if !matches!(
                        error.rdkafka_error_code(),
                        Some(rdkafka::types::RDKafkaErrorCode::QueueFull)
                    ) {
                        tracing::error!(%error, key, "cannot publish to the control topic");
                        return;
                    }
                    record = returned;
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
        }
        tracing::error!(key, "the control topic's producer queue stayed full: message dropped");
    }

    pub fn flush(&self) {
        let _ = rdkafka::producer::Producer::flush(&self.producer, Duration::from_secs(5));
    }
}

/// A view encoded, within `VIEW_BYTES`.
fn fit(mut view: PartitionView) -> Option<Vec<u8>> {
    loop {
        let envelope = Envelope { view: Some(view), ..Envelope::new() };
        let value = serde_json::to_vec(&envelope).ok()?;
        let mut taken = envelope.view?;
        if value.len() <= VIEW_BYTES {
            return Some(value);
        }
        if !taken.alerts.is_empty() {
            let keep = taken.alerts.len() / 2;
            taken.alerts_omitted += taken.alerts.len() - keep;
            taken.alerts.truncate(keep);
        } else if !strip_details(&mut taken.incidents) {
            if taken.incidents.is_empty() {
                return None;
            }
            taken.incidents.truncate(taken.incidents.len() / 2);
        }
        view = taken;
    }
}

/// Leaves out the incidents' alerts, timelines and log context; whether there were any.
fn strip_details(incidents: &mut [serde_json::Value]) -> bool {
    let mut stripped = false;
    for fields in incidents.iter_mut().filter_map(serde_json::Value::as_object_mut) {
        for detail in ["alerts", "timeline", "log_context"] {
            stripped |= fields.remove(detail).is_some();
        }
    }
    stripped
}

/// Follows the control topic, applying what other replicas published.
pub struct ControlReader {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl ControlReader {
    /// Reads the topic from its start to now, handing its silences to the engine thread
    /// (before anything this replica's Kafka source sends it, as the engine takes its inputs in
    /// order), then follows it on a thread. Blocking: call it off the async workers.
    ///
    /// The first reading takes every silence, this replica's own too (it may have crashed
    /// between publishing and committing one), and no feedback: feedback is for the incidents
    /// open at the time, which a starting replica does not hold yet (the partitions it takes
    /// over have it in their changelog state). Once following, its own messages are skipped.
    pub fn start(
        config: &KafkaConfig,
        replica: u64,
        views: Arc<Views>,
        engine: mpsc::Sender<Input>,
        runtime: tokio::runtime::Handle,
    ) -> Result<ControlReader, String> {
        let topic = config.control_topic.clone();
        let consumer: BaseConsumer<Logging> = config
            .client()
            // Every replica reads everything: no group to share it, no offsets kept.
            .set("group.id", format!("{}-control-{replica:016x}", config.group_id))
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .create_with_context(Logging)
            .map_err(|error| format!("cannot create the control topic's reader: {error}"))?;
        let lookup = lookup(config)?;
        let ends = mark_ends(&lookup, &topic, &runtime)?;
        let mut assignment = TopicPartitionList::new();
        for partition in ends.keys() {
            assignment
                .add_partition_offset(&topic, *partition, Offset::Beginning)
                .map_err(|error| error.to_string())?;
        }
        // The views too, from the few minutes the topic keeps.
        let views_topic = &config.views_topic;
        for partition in 0..super::changelog::partition_count(&lookup, views_topic)? {
            assignment
                .add_partition_offset(views_topic, partition, Offset::Beginning)
                .map_err(|error| error.to_string())?;
        }
        consumer
            .assign(&assignment)
            .map_err(|error| format!("cannot read the control topic {topic:?}: {error}"))?;
        let reader = Reader { consumer, replica, views, engine };
        let mut ends = ends;
        let deadline = Instant::now() + TIMEOUT;
        let mut applied = 0;
        while !ends.is_empty() {
            if Instant::now() >= deadline {
                return Err(format!("reading the control topic {topic:?} took over {TIMEOUT:?}"));
            }
            if let Some((read, partition, offset)) = reader.poll(true, &mut applied)? {
                if read == topic && ends.get(&partition).is_some_and(|end| offset >= *end) {
                    ends.remove(&partition);
                }
            }
        }
        tracing::info!(%topic, silences = applied, "control topic read: the group's silences applied");
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = std::thread::Builder::new()
            .name("noisegate-control".to_owned())
            .spawn(move || {
                let mut applied = 0;
                while !stopping.load(Ordering::Relaxed) {
                    if reader.poll(false, &mut applied).is_err() {
                        break;
                    }
                }
            })
            .map_err(|error| format!("cannot start the control topic's thread: {error}"))?;
        Ok(ControlReader { stop, thread: Some(thread) })
    }

    /// Stops following. Blocking.
    pub fn stop(self) {}
}

impl Drop for ControlReader {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A producer to look topics up (and write markers) with, which creates none by asking.
fn lookup(config: &KafkaConfig) -> Result<FutureProducer<Logging>, String> {
    config
        .client()
        .set("allow.auto.create.topics", "false")
        .create_with_context(Logging)
        .map_err(|error| format!("cannot create the control topic's producer: {error}"))
}

/// Writes a marker to each partition of the topic; the offset of each.
fn mark_ends(
    producer: &FutureProducer<Logging>,
    topic: &str,
    runtime: &tokio::runtime::Handle,
) -> Result<BTreeMap<i32, i64>, String> {
    let partitions = super::changelog::partition_count(producer, topic)?;
    let marker = format!("{MARKER}{}", fastrand::u64(..));
    let mut ends = BTreeMap::new();
    for partition in 0..partitions {
        let record: FutureRecord<'_, str, [u8]> =
            FutureRecord::to(topic).key(marker.as_str()).payload(&[][..]).partition(partition);
        let delivered = runtime
            .block_on(producer.send(record, TIMEOUT))
            .map_err(|(error, _)| format!("cannot write to the control topic {topic:?}: {error}"))?;
        ends.insert(delivered.partition, delivered.offset);
        // A tombstone, so that compaction removes the marker.
        let tombstone: FutureRecord<'_, str, [u8]> =
            FutureRecord::to(topic).key(marker.as_str()).partition(partition);
        let _ = producer.send_result(tombstone);
    }
    rdkafka::producer::Producer::flush(producer, TIMEOUT)
        .map_err(|error| format!("cannot write to the control topic {topic:?}: {error}"))?;
    Ok(ends)
}

struct Reader {
    consumer: BaseConsumer<Logging>,
    replica: u64,
    views: Arc<Views>,
    engine: mpsc::Sender<Input>,
}

impl Reader {
    /// Polls one message and hands it on (`first`: the first reading, see `ControlReader`).
    /// The topic, partition and offset of what it read; an error once the engine is gone.
    fn poll(&self, first: bool, applied: &mut u64) -> Result<Option<(String, i32, i64)>, String> {
        let message = match self.consumer.poll(Duration::from_millis(100)) {
            None => return Ok(None),
            Some(Err(error)) => {
                tracing::warn!(%error, "while reading the control topic");
                return Ok(None);
            }
            Some(Ok(message)) => message,
        };
        let at = (message.topic().to_owned(), message.partition(), message.offset());
        let Some(payload) = message.payload() else { return Ok(Some(at)) };
        let key = message.key().and_then(|key| std::str::from_utf8(key).ok()).unwrap_or_default();
        if key.starts_with(MARKER) {
            return Ok(Some(at));
        }
        let from = message
            .headers()
            .and_then(|headers| headers.iter().find(|header| header.key == REPLICA_HEADER))
            .and_then(|header| std::str::from_utf8(header.value?).ok()?.parse::<u64>().ok());
        let own = from == Some(self.replica);
        let shared = match decode(payload) {
            Ok(Decoded::Shared(shared @ Shared::Silence(_))) if first || !own => shared,
            Ok(Decoded::Shared(shared @ Shared::Feedback(..))) if !first && !own => shared,
            Ok(Decoded::View(view)) if !own => {
                if let Some(partition) = key.strip_prefix("view/") {
                    self.views.offer(partition, view);
                }
                return Ok(Some(at));
            }
            Ok(_) => return Ok(Some(at)),
            Err(error) => {
                tracing::warn!(key, %error, "control message skipped");
                return Ok(Some(at));
            }
        };
        if self.engine.blocking_send(Input::Shared(shared)).is_err() {
            return Err("the engine stopped".to_owned());
        }
        *applied += 1;
        Ok(Some(at))
    }
}

/// A control message, checked for its version.
fn decode(value: &[u8]) -> Result<Decoded, String> {
    let envelope: Envelope =
        serde_json::from_slice(value).map_err(|error| format!("not a control message: {error}"))?;
    if envelope.version != VERSION {
        return Err(format!("a message of version {} (this noisegate reads {VERSION})", envelope.version));
    }
    match (envelope.silence, envelope.feedback, envelope.view) {
        (Some(silence), None, None) => Ok(Decoded::Shared(Shared::Silence(silence))),
        (None, Some(feedback), None) => {
            Ok(Decoded::Shared(Shared::Feedback(feedback, envelope.at.map(EventTime::from_millis))))
        }
        (None, None, Some(view)) => Ok(Decoded::View(view)),
        _ => Err("not one of a silence, feedback or a view".to_owned()),
    }
}

/// A control message: for the engines, or for the admin API.
#[derive(Debug)]
enum Decoded {
    Shared(Shared),
    View(PartitionView),
}

#[cfg(test)]
mod tests {
    use super::*;
    use noisegate_engine::model::FeedbackAction;

    #[test]
    fn messages_read_back_as_written_and_others_are_refused() {
        let silence = Silence {
            id: Arc::from("silence-1"),
            matchers: vec![noisegate_engine::Matcher::parse("alertname=\"DiskFull\"").unwrap()],
            starts_at: EventTime::from_millis(1_000),
            ends_at: Some(EventTime::from_millis(9_000)),
            weekly: None,
            comment: Arc::from("disk swap"),
            created_by: Arc::from("ops"),
        };
        let value = serde_json::to_vec(&Envelope { silence: Some(silence), ..Envelope::new() }).unwrap();
        let Ok(Decoded::Shared(Shared::Silence(read))) = decode(&value) else { panic!("not a silence") };
        assert_eq!((&*read.id, read.ends_at), ("silence-1", Some(EventTime::from_millis(9_000))));
        assert!(
            read.matchers[0]
                .matches(&noisegate_engine::model::Labels::from_pairs([("alertname", "DiskFull")]))
        );

        let feedback = Feedback { dedup_key: "noisegate-1".into(), action: FeedbackAction::Acknowledged };
        let value =
            serde_json::to_vec(&Envelope { feedback: Some(feedback.clone()), ..Envelope::new() }).unwrap();
        assert!(
            matches!(decode(&value), Ok(Decoded::Shared(Shared::Feedback(read, None))) if read == feedback)
        );

        assert!(
            decode(br#"{"version": 2, "feedback": {"dedup_key": "x", "action": "Acknowledged"}}"#)
                .unwrap_err()
                .contains("version 2")
        );
        assert!(decode(br#"{"version": 1}"#).unwrap_err().contains("not one of"));
        assert!(decode(b"garbage").unwrap_err().contains("not a control message"));
    }

    #[test]
    fn views_of_partitions_owned_here_are_not_taken() {
        let views = Views::default();
        let view = |id: &str| PartitionView {
            incidents: vec![serde_json::json!({ "id": id })],
            alerts: Vec::new(),
            alerts_omitted: 0,
        };
        views.offer("alerts/0", view("a"));
        views.offer("alerts/1", view("b"));
        views.own("alerts/1", true);
        views.offer("alerts/1", view("late"));
        let remote = views.remote();
        assert_eq!(remote.len(), 1);
        assert_eq!(remote[0].0, "alerts/0");
        views.own("alerts/1", false);
        views.offer("alerts/1", view("c"));
        assert_eq!(views.remote().len(), 2);
    }
}
