//! The engine thread's inbox: everything it receives, in one ordered stream, from the sources,
//! the Kafka consumer, the admin API and the service itself. Below all of them: it names the
//! engine's and the store's types, never theirs.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

use crate::ingest::{CapturedBody, IngestError, SourceKind};
use crate::storage::{OutboxEvent, RecordedConfig};
use noisegate_engine::inventory::Listing;
use noisegate_engine::model::{Event, EventTime, Feedback};
use noisegate_engine::silence::Silence;
use noisegate_engine::{
    Command, CommandError, EngineConfig, HeldAlert, History, IncidentSummary, SilenceView,
};

/// What the engine thread receives, in order.
#[derive(Debug)]
pub enum Input {
    Batch(Batch),
    /// Run the group flushes that are due (sent periodically when traffic is quiet), as of
    /// when it was sent.
    Tick(std::time::Instant),
    /// A change from the admin API, answered once applied.
    Command(Command, oneshot::Sender<Result<Arc<str>, CommandError>>),
    /// The silences in force, for the admin API.
    ListSilences(oneshot::Sender<Vec<SilenceView>>),
    /// The firing alerts of every engine, for the admin API.
    ListAlerts(oneshot::Sender<Vec<HeldAlert>>),
    /// The open incidents, for the admin API.
    ListIncidents(oneshot::Sender<Vec<IncidentSummary>>),
    /// The inventory (every engine's, merged) and the open incidents, for the admin API.
    Inventory(oneshot::Sender<(Listing, Vec<IncidentSummary>)>),
    /// The history of alert kinds, for the admin API.
    History(oneshot::Sender<History>),
    /// A reloaded configuration and its record for the log, answered once in force.
    Reconfigure(Box<EngineConfig>, Box<RecordedConfig>, oneshot::Sender<()>),
    /// Kafka: take over a partition, from its changelog state or afresh; answered once done.
    ShardAssign(ShardKey, Option<ShardState>, oneshot::Sender<Result<(), String>>),
    /// Kafka: a partition's state and undelivered events, as of every input sent before
    /// (`None` if it is not owned here, or if nothing changed since its last checkpoint and
    /// the flag does not force one).
    ShardCheckpoint(ShardKey, bool, CheckpointReply),
    /// Kafka: the changelog has the partition's last checkpoint; what it decided may go out.
    ShardPublished(ShardKey),
    /// Kafka: a partition went to another replica.
    ShardRevoke(ShardKey),
    /// Kafka: a silence or feedback another replica published to the control topic.
    Shared(Shared),
    /// Stop: page what is pending and close the queue to the sinks. Requests still queued are
    /// refused (`Reason::Unavailable`), never silently dropped.
    Shutdown,
}

/// One request's events, on their way to the engine.
#[derive(Debug)]
pub struct Batch {
    pub source: SourceKind,
    pub events: Vec<Event>,
    pub capture: Option<CapturedBody>,
    /// When it arrived (for `noisegate_ingest_to_engine_seconds`).
    pub received: std::time::Instant,
    /// The Kafka partition it came from, when its engine is the partition's own.
    pub shard: Option<ShardKey>,
    /// When its sender says it happened (PagerDuty's `occurred_at` of a responder's action),
    /// for the on-call record; its events are applied at arrival all the same.
    pub occurred_at: Option<EventTime>,
    /// The caps on active alerts or groups are reached: the limit, and the refusal to answer
    /// with if the batch would add a firing alert the engine does not hold (re-sends of held
    /// alerts and resolves go through).
    pub at_capacity: Option<(&'static str, IngestError)>,
    /// Answered once the engine has applied the batch and the store has it (or with why it
    /// was refused, or the store could not take it).
    pub applied: oneshot::Sender<Result<(), IngestError>>,
}

/// What replicas share through the control topic (`kafka::control`).
#[derive(Debug)]
pub enum Shared {
    /// A silence as it is now: new, or expired.
    Silence(Silence),
    /// A responder's action, and when PagerDuty says it happened.
    Feedback(Feedback, Option<EventTime>),
}

/// A partition, as `topic/partition`.
pub type ShardKey = Arc<str>;

/// The answer to a checkpoint request (see `Shards::checkpoint`).
pub type CheckpointReply = tokio::sync::oneshot::Sender<Option<Result<ShardState, String>>>;

/// A partition's state as the changelog carries it.
#[derive(Debug, Serialize, Deserialize)]
pub struct ShardState {
    /// The replica that decided `pending` (`Storage::replica`).
    pub replica: u64,
    /// `Engine::snapshot`, postcard.
    pub snapshot: Vec<u8>,
    /// Events decided and not yet delivered when the state was taken, in order.
    pub pending: Vec<OutboxEvent>,
}
