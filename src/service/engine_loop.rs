//! The engine's own thread: the async shell around the synchronous engine. It stamps each
//! request with the time it reached the engine (recording it, when asked, in the same order),
//! applies it, makes it durable, and hands what the engine decided to the sinks: pages to their
//! destinations (through the outbox), digest items to the digest, decisions to the decisions log.
//!
//! Group commit: the thread applies what is queued (up to `MAX_STEP` inputs), then commits
//! their log records and the events they produced in one transaction, and only then answers
//! the senders and hands the events to the sink. A crash before the commit loses nothing a
//! sender was told was taken, and no page a destination could have seen.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};

use super::shards::Shards;
use crate::admin::alertmanager::view_alert;
use crate::admin::api::incident_detail;
use crate::admin::timeline::Timeline;
use crate::inbox::{CheckpointReply, ShardKey};
use crate::inbox::{Input, Shared};
use crate::ingest::{IngestError, Pressure, Reason};
use crate::kafka::control::{ControlTopic, PartitionView, VIEW_INTERVAL};
use crate::kafka::decisions::DecisionsTopic;
use crate::metrics::{Metrics, Queue};
use crate::oncall::record::Recorder;
use crate::sinks::decisions::DecisionsLog;
use crate::sinks::page::PageBody;
use crate::sinks::sink::Outgoing;
use crate::sources::capture::CaptureWriter;
use crate::storage::{self, Logged, OutboxEvent, Record, RecordedConfig, Storage, StorageError};
use noisegate_engine::model::{Event, EventTime, Feedback};
use noisegate_engine::silence::Silence;
use noisegate_engine::{Command, Engine, Notification, Page};

/// Inputs applied before one commit, at most.
const MAX_STEP: usize = 512;
/// A snapshot is also taken when the last one is this old and the log has grown since.
const SNAPSHOT_AGE: Duration = Duration::from_secs(300);
/// ... or when the log since the last one is this large, and twice the last snapshot: big
/// batches make a few thousand records hundreds of megabytes, which a restart would replay; a
/// large state (serialized on the engine thread) is not taken again sooner than its log
/// outgrows it.
const SNAPSHOT_BYTES: u64 = 256 << 20;

/// Where the engine's notifications go.
pub struct Outputs {
    pub pages: mpsc::Sender<Outgoing>,
    pub digests: mpsc::Sender<Page>,
    pub decisions: Option<DecisionsLog>,
    /// Kafka: where every decision is published too.
    pub decisions_topic: Option<DecisionsTopic>,
    /// The recent decisions per incident, for the console.
    pub timeline: Arc<Timeline>,
    /// Shadow mode `silent`: pages are decided and logged, not sent.
    pub silent: bool,
    /// Where the history of alert kinds is saved when it changes.
    pub history_file: Option<PathBuf>,
    /// Where ingest reads how many alerts are active.
    pub pressure: Arc<Pressure>,
    /// Kafka: where silences and feedback go for the other replicas.
    pub control: Option<ControlTopic>,
    /// What happens to each incident, for the on-call report.
    pub recorder: Recorder,
}

/// The durable store and what it needs from the rest of the service.
pub struct Durability {
    pub storage: Storage,
    /// Log records between snapshots.
    pub snapshot_every: u64,
    /// Outbox sequence numbers the sink delivered (or dead-lettered): removed at the next commit.
    pub delivered: mpsc::UnboundedReceiver<u64>,
    /// The Kafka partitions' engines, whose durable state is their changelog, not the log.
    pub shards: Shards,
    /// How long incident records are kept.
    pub incident_retention: Duration,
    /// At a stop, page every group still waiting (`serve --drain`) instead of keeping them
    /// for the next start.
    pub drain: bool,
    /// The config in force, as the log and the snapshots record it.
    pub config: RecordedConfig,
    /// Whether the log lacks it (the first start, or one with a config of its own): it is
    /// logged before anything applied under it.
    pub log_config: bool,
}

/// What recovery applied: how many records, and the last config the log named.
pub struct Recovered {
    pub records: usize,
    pub config: Option<RecordedConfig>,
}

/// Rebuilds the engine's state from the store: the snapshot, then the log after it, applied
/// exactly as when it was first applied, each record under the config in force then. What the
/// log produces again was decided before (its events are in the outbox, delivered or not) and
/// is dropped.
pub fn recover(engine: &mut Engine, records: Vec<Record>) -> Recovered {
    let mut out = Vec::new();
    let count = records.len();
    let mut last_config = None;
    for record in records {
        match record {
            Record::Config { at, config } => {
                engine.advance(at, &mut out);
                match crate::config::recorded_engine(&config) {
                    Ok(settings) => engine.reconfigure(settings),
                    Err(errors) => tracing::error!(
                        %errors,
                        "the log names a config this version cannot read: what follows it is applied under the config before it"
                    ),
                }
                last_config = Some(config);
            }
            Record::Batch { at, events } => engine.apply_batch(events, at, &mut out),
            Record::Command { at, command } => {
                // Refused the first time too: the same state gives the same answer.
                let _ = engine.command(command, at);
            }
            Record::Advance { at } => engine.advance(at, &mut out),
            Record::Logged { at, events } => {
                // Repeats name what the engine held after the flushes due then, as when logged.
                engine.advance(at, &mut out);
                let events: Vec<Event> = events
                    .into_iter()
                    .filter_map(|logged| {
                        let (repeat, labels) = match logged {
                            Logged::Event(event) => return Some(event),
                            Logged::Repeat(repeat) => (repeat, None),
                            Logged::Relabelled(repeat, labels) => (repeat, Some(labels)),
                        };
                        let alert = engine.repeated(&repeat, labels);
                        if alert.is_none() {
                            tracing::error!(
                                fingerprint = repeat.fingerprint,
                                "the log repeats an alert the state does not hold: skipped"
                            );
                        }
                        alert.map(Event::Alert)
                    })
                    .collect();
                engine.apply_batch(events, at, &mut out);
            }
        }
        out.clear();
    }
    Recovered { records: count, config: last_config }
}

/// Applies a batch to the engine and returns its log record (`None`: nothing durable in it, or
/// it could not be encoded). Re-sent alerts are logged by fingerprint, judged after the flushes
/// due now, as `recover` reading the record judges them.
fn log_and_apply(
    engine: &mut Engine,
    events: Vec<Event>,
    now: EventTime,
    out: &mut Vec<Notification>,
) -> Option<Vec<u8>> {
    engine.advance(now, out);
    let record =
        storage::encode_batch(now, &events, |alert| engine.repeat_of(alert), |facts| engine.teaches(facts))
            .unwrap_or_else(|error| {
                tracing::error!(%error, "cannot encode a batch for the log");
                None
            });
    engine.apply_batch(events, now, out);
    record
}

/// What a group of inputs produced, waiting for its commit.
#[derive(Default)]
struct Uncommitted {
    records: Vec<Vec<u8>>,
    applied: Vec<oneshot::Sender<Result<(), IngestError>>>,
    commands: Vec<(oneshot::Sender<CommandResult>, CommandResult)>,
    reconfigured: Vec<oneshot::Sender<()>>,
    /// What the main engine decided.
    out: Vec<Notification>,
    /// What partitions' engines decided.
    shard_out: Vec<(ShardKey, Notification)>,
    /// Events another replica decided for a partition taken over here.
    resend: Vec<OutboxEvent>,
    checkpoints: Vec<(ShardKey, bool, CheckpointReply)>,
    /// Parked events released by a published checkpoint (or a revoke), to send.
    released: Vec<(u64, OutboxEvent)>,
    scratch: Vec<Notification>,
}

/// When a committed page goes to delivery.
enum SendWhen {
    Now,
    /// Once the changelog has the partition's checkpoint (parked until then).
    Checkpointed(ShardKey),
}

impl Uncommitted {
    /// Files what a partition's engine just decided (in `scratch`) under the partition.
    fn tag(&mut self, key: &ShardKey) {
        self.shard_out.extend(self.scratch.drain(..).map(|notification| (key.clone(), notification)));
    }
}

type CommandResult = Result<Arc<str>, noisegate_engine::CommandError>;

/// The time an input is applied at: when it arrived (a request, a tick), not when the engine
/// gets to it. A busy engine then does not make alerts look stale whose re-sends wait in its
/// queue (their resolve timeout would end them, and the re-send page them again), and a
/// capture records the times a replay needs to decide the same. Event time never goes
/// backwards, even if the wall clock does.
fn time_of(input: &Input, last: EventTime) -> EventTime {
    let arrived = match input {
        Input::Batch(batch) => crate::clock::at(batch.received),
        Input::Tick(sent) => crate::clock::at(*sent),
        _ => crate::clock::now(),
    };
    arrived.max(last)
}

pub fn run(
    mut engine: Engine,
    mut inputs: mpsc::Receiver<Input>,
    mut outputs: Outputs,
    mut capture: Option<CaptureWriter>,
    mut durability: Durability,
    metrics: &Metrics,
) {
    let mut published = engine.stats();
    let mut published_learning = engine.learned().stats;
    let mut saved_history = engine.history_version();
    let mut last = EventTime::default();
    let mut snapshot_at = Instant::now();
    let mut history_at = Instant::now();
    let mut view_at = Instant::now();
    // At the first step, then hourly.
    let mut pruned_at: Option<Instant> = None;
    let mut views_all_at = Instant::now();
    let mut step = Uncommitted::default();
    if durability.log_config {
        log_config(engine.now(), &durability.config, &mut step);
    }
    let mut stopping = false;
    while !stopping {
        let Some(first) = inputs.blocking_recv() else { break };
        let mut next = Some(first);
        let mut count = 0;
        while let Some(input) = next.take() {
            let now = time_of(&input, last);
            last = now;
            if let Input::Shutdown = input {
                stopping = true;
                break;
            }
            let context = Surroundings {
                capture: &mut capture,
                config: &mut durability.config,
                outputs: &mut outputs,
                inputs: &inputs,
                metrics,
            };
            apply(&mut engine, &mut durability.shards, input, now, &mut step, context);
            count += 1;
            if count < MAX_STEP {
                next = inputs.try_recv().ok();
            }
        }
        if stopping && durability.drain {
            // Partitions' engines are not flushed: their state goes on with their next owner.
            engine.flush_pending(crate::clock::now().max(last), &mut step.out);
        }
        // Before the pages go out: whoever sees a page sees the state that produced it.
        let held = durability.shards.publish(metrics);
        let mut stats = engine.stats();
        stats.active_alerts += held.alerts;
        stats.active_groups += held.groups;
        metrics.engine(&published, &stats);
        published = stats;
        let learned = engine.learned();
        metrics.inventory_learning(&published_learning, &learned.stats);
        published_learning = learned.stats;
        let mut sizes = learned.sizes();
        for ((_, size), shards) in sizes.iter_mut().zip(held.inventory) {
            *size += shards;
        }
        metrics.inventory_entries(sizes);
        outputs.pressure.active_alerts.store(stats.active_alerts, Ordering::Relaxed);
        outputs.pressure.active_groups.store(stats.active_groups, Ordering::Relaxed);
        outputs
            .pressure
            .growth_bytes
            .store(engine.growth_bytes() + durability.shards.growth_bytes(), Ordering::Relaxed);
        commit(&mut step, &mut durability, &mut outputs);
        metrics.oncall(&outputs.recorder.take_transitions(), outputs.recorder.open());
        collect_snapshot(&mut durability.storage, false);
        // A snapshot needs memory the size of the state until it is written: none while memory
        // is short (the log, on disk, grows meanwhile).
        let memory_short = outputs.pressure.memory_exceeded.load(Ordering::Relaxed);
        let since = durability.storage.since_snapshot();
        if !memory_short
            && (since >= durability.snapshot_every
                || durability.storage.since_snapshot_bytes()
                    >= SNAPSHOT_BYTES.max(2 * durability.storage.snapshot_bytes())
                || (since > 0 && snapshot_at.elapsed() >= SNAPSHOT_AGE))
        {
            snapshot(&mut engine, &mut durability.storage, &durability.config, metrics);
            snapshot_at = Instant::now();
        }
        if pruned_at.is_none_or(|at| at.elapsed() >= PRUNE_INTERVAL) {
            prune_incidents(&mut durability, &mut outputs.recorder);
            pruned_at = Some(Instant::now());
        }
        if view_at.elapsed() >= VIEW_INTERVAL {
            if let Some(control) = &outputs.control {
                // Every view again now and then: the views topic keeps minutes, and a replica
                // that starts must see quiet partitions too.
                let all = views_all_at.elapsed() >= VIEW_REFRESH;
                publish_views(control, &mut durability.shards, &outputs.timeline, all);
                if all {
                    views_all_at = Instant::now();
                }
            }
            view_at = Instant::now();
        }
        if history_at.elapsed() >= Duration::from_secs(1) {
            save_history(&engine, &outputs, &mut saved_history);
            history_at = Instant::now();
        }
    }
    if let Some(log) = &mut outputs.decisions {
        if let Err(error) = log.flush() {
            tracing::error!(%error, "cannot flush the decisions log");
        }
    }
    if let Some(topic) = &outputs.decisions_topic {
        topic.flush();
    }
    if let Some(topic) = &outputs.control {
        topic.flush();
    }
    save_history(&engine, &outputs, &mut saved_history);
    if let Some(writer) = capture {
        if let Err(error) = writer.finish() {
            tracing::error!(%error, "cannot finish the capture file");
        }
    }
    // The sink finishes what it can (within the grace period); what it delivered leaves the
    // outbox, the rest stays there for the next start.
    let Outputs { pages, digests, pressure: outputs_pressure, .. } = outputs;
    drop((pages, digests));
    let mut delivered = Vec::new();
    while let Some(sequence) = durability.delivered.blocking_recv() {
        delivered.push(sequence);
        while let Ok(sequence) = durability.delivered.try_recv() {
            delivered.push(sequence);
        }
        if let Err(error) = durability.storage.commit(&[], &[], &delivered) {
            tracing::error!(%error, "cannot record delivered events; they will be sent again at the next start");
        }
        delivered.clear();
    }
    // A quicker next start; the log has everything anyway, so not when memory is short.
    collect_snapshot(&mut durability.storage, true);
    if !outputs_pressure.memory_exceeded.load(Ordering::Relaxed) {
        snapshot(&mut engine, &mut durability.storage, &durability.config, metrics);
        collect_snapshot(&mut durability.storage, true);
    }
}

/// What `apply` reaches besides the engines and the uncommitted work: the capture file, the
/// outputs, the input queue and the metrics.
struct Surroundings<'a> {
    capture: &'a mut Option<CaptureWriter>,
    /// The config in force, as recorded.
    config: &'a mut RecordedConfig,
    outputs: &'a mut Outputs,
    inputs: &'a mpsc::Receiver<Input>,
    metrics: &'a Metrics,
}

/// Applies one input, collecting what must be committed before anyone hears of it.
fn apply(
    engine: &mut Engine,
    shards: &mut Shards,
    input: Input,
    now: EventTime,
    step: &mut Uncommitted,
    mut context: Surroundings<'_>,
) {
    let before = step.out.len();
    let mut logged = false;
    match input {
        Input::Batch(batch) => logged = apply_batch(engine, shards, batch, now, step, &mut context),
        Input::Command(command, reply) => {
            let result = run_command(engine, shards, command, now, step);
            if let (Ok(id), Some(control)) = (&result, &context.outputs.control) {
                // The silence as it is now, for the other replicas.
                if let Some(view) = engine.silences().into_iter().find(|view| view.silence.id == *id) {
                    control.silence(&view.silence);
                }
            }
            logged = true;
            step.commands.push((reply, result));
        }
        Input::Shared(Shared::Silence(silence)) => logged = adopt_silence(engine, shards, silence, now, step),
        Input::Shared(Shared::Feedback(feedback, at)) => {
            context.outputs.recorder.feedback(&feedback, feedback_time(at, now));
            let held_here = engine.holds_incident(&feedback.dedup_key);
            let events = vec![Event::Feedback(feedback)];
            feedback_to_partitions(shards, &events, now, step);
            // The main engine logs it only when it is about one of its incidents.
            if held_here {
                if let Some(record) = log_and_apply(engine, events, now, &mut step.out) {
                    step.records.push(record);
                    logged = true;
                }
            }
        }
        Input::Reconfigure(config, recorded, reply) => {
            engine.advance(now, &mut step.out);
            for (key, shard) in shards.engines_mut() {
                shard.advance(now, &mut step.scratch);
                shard.reconfigure((*config).clone());
                step.tag(key);
            }
            engine.reconfigure(*config);
            // Recovery moves the clock and takes the config at the same point.
            log_config(now, &recorded, step);
            logged = true;
            *context.config = *recorded;
            step.reconfigured.push(reply);
        }
        Input::History(reply) => {
            // The replica's: its partitions' histories too.
            let mut history = engine.history().clone();
            for (_, shard) in shards.engines_mut() {
                history.add(shard.history());
            }
            let _ = reply.send(history);
        }
        Input::ListAlerts(reply) => {
            advance(engine, shards, now, step);
            let mut alerts = engine.held_alerts();
            alerts.extend(shards.held_alerts());
            let _ = reply.send(alerts);
        }
        Input::ListIncidents(reply) => {
            advance(engine, shards, now, step);
            let _ = reply.send(open_incidents(engine, shards));
        }
        Input::Inventory(reply) => {
            advance(engine, shards, now, step);
            let _ = reply.send((shards.inventory(engine.inventory()), open_incidents(engine, shards)));
        }
        Input::ListSilences(reply) => {
            engine.advance(now, &mut step.out);
            let _ = reply.send(engine.silences());
        }
        Input::Tick(_) => {
            advance(engine, shards, now, step);
            context.metrics.queue_depth(Queue::Engine, context.inputs.len());
            flush_files(&mut context);
        }
        Input::ShardAssign(key, state, reply) => {
            if let Some(control) = &context.outputs.control {
                control.views().own(&key, true);
            }
            let result = shards.assign(key.clone(), state, &engine.declared_config()).map(|resend| {
                if let Some(shard) = shards.get_mut(&key) {
                    share_silences(engine, shard, now);
                }
                catch_up_feedback(shards, &key, now, step);
                if !resend.is_empty() {
                    tracing::info!(partition = %key, events = resend.len(), "sending the events the partition's last owner may not have delivered");
                }
                step.resend.extend(resend);
            });
            let _ = reply.send(result);
        }
        Input::ShardCheckpoint(key, force, reply) => step.checkpoints.push((key, force, reply)),
        Input::ShardPublished(key) => step.released.extend(shards.release(&key)),
        Input::ShardRevoke(key) => {
            if let Some(control) = &context.outputs.control {
                control.views().own(&key, false);
            }
            step.released.extend(shards.revoke(&key));
        }
        Input::Shutdown => {}
    }
    // The clock moved the engine to a decision: recovery must move it the same way.
    if !logged && step.out.len() > before {
        match storage::encode_advance(now) {
            Ok(record) => step.records.push(record),
            Err(error) => tracing::error!(%error, "cannot encode a clock step for the log"),
        }
    }
}

/// Logs that the engine takes `config` at `at` (after the flushes due then).
fn log_config(at: EventTime, config: &RecordedConfig, step: &mut Uncommitted) {
    match storage::encode_config(at, config) {
        Ok(record) => step.records.push(record),
        Err(error) => tracing::error!(%error, "cannot encode a config for the log"),
    }
}

/// Logs and applies an admin command to the main engine, and to every partition engine owned
/// here (silences hold there too; each one's changelog keeps them).
fn run_command(
    engine: &mut Engine,
    shards: &mut Shards,
    command: Command,
    now: EventTime,
    step: &mut Uncommitted,
) -> CommandResult {
    match storage::encode_command(now, &command) {
        Ok(record) => step.records.push(record),
        Err(error) => tracing::error!(%error, "cannot encode a command for the log"),
    }
    let mut changed = Vec::new();
    for (key, shard) in shards.engines_mut() {
        if shard.command(command.clone(), now).is_ok() {
            changed.push(key.clone());
        }
    }
    // In the partitions' next checkpoints and views.
    for key in changed {
        shards.changed(&key);
    }
    engine.command(command, now)
}

/// Applies a silence another replica published: adds it when it is new here, expires it when
/// it ended there (its end earlier than the one here: not read against this replica's clock,
/// which may be behind the other's). Returns whether anything was logged.
fn adopt_silence(
    engine: &mut Engine,
    shards: &mut Shards,
    silence: Silence,
    now: EventTime,
    step: &mut Uncommitted,
) -> bool {
    let known = engine.silences().into_iter().find(|view| view.silence.id == silence.id);
    let command = match known {
        None => Command::AddSilence(silence),
        Some(view)
            if view.dynamic
                && view.silence.is_current(now)
                && silence.ends_at.is_some_and(|end| view.silence.ends_at.is_none_or(|here| end < here)) =>
        {
            Command::ExpireSilence(silence.id)
        }
        Some(_) => return false,
    };
    let _ = run_command(engine, shards, command, now, step);
    true
}

/// Brings a partition taken over here up to the silences of this replica: its changelog state
/// may predate silences created (or expired) since.
fn share_silences(engine: &Engine, shard: &mut Engine, now: EventTime) {
    // Each of the shard's silences: whether it holds still.
    let known: std::collections::HashMap<Arc<str>, bool> = shard
        .silences()
        .into_iter()
        .filter(|view| view.dynamic)
        .map(|view| (view.silence.id.clone(), view.silence.is_current(now)))
        .collect();
    for view in engine.silences().into_iter().filter(|view| view.dynamic) {
        let silence = view.silence;
        match known.get(&silence.id) {
            None => {
                let _ = shard.command(Command::AddSilence(silence), now);
            }
            Some(true) if !silence.is_current(now) => {
                let _ = shard.command(Command::ExpireSilence(silence.id), now);
            }
            Some(_) => {}
        }
    }
}

/// Applies to a partition just taken over the recent feedback about its incidents: given while
/// it was moving, to no engine or to its last owner after its last checkpoint. (An
/// acknowledgement counts once per incident.)
fn catch_up_feedback(shards: &mut Shards, key: &ShardKey, now: EventTime, step: &mut Uncommitted) {
    let recent: Vec<Feedback> = shards.recent_feedback().cloned().collect();
    let Some(shard) = shards.get_mut(key) else { return };
    let events: Vec<Event> = recent
        .into_iter()
        .filter(|feedback| shard.holds_incident(&feedback.dedup_key))
        .map(Event::Feedback)
        .collect();
    if events.is_empty() {
        return;
    }
    shard.apply_batch(events, now, &mut step.scratch);
    step.tag(key);
    shards.changed(key);
}

/// Feedback and notes go to the partition engines that hold their incident (the main engine
/// gets them with its batch); feedback is kept a while for a partition taken over meanwhile.
fn feedback_to_partitions(shards: &mut Shards, events: &[Event], now: EventTime, step: &mut Uncommitted) {
    for event in events {
        let dedup_key = match event {
            Event::Feedback(feedback) => {
                shards.remember(feedback.clone());
                &feedback.dedup_key
            }
            Event::Note(note) => &note.dedup_key,
            _ => continue,
        };
        let holders: Vec<ShardKey> = shards
            .engines_mut()
            .filter(|(_, shard)| shard.holds_incident(dedup_key))
            .map(|(key, _)| key.clone())
            .collect();
        for key in holders {
            if let Some(shard) = shards.get_mut(&key) {
                shard.apply_batch([event.clone()], now, &mut step.scratch);
                step.tag(&key);
            }
            shards.changed(&key);
        }
    }
}

/// Records and applies a batch: to its partition's engine, or to the main engine and its log.
/// Returns whether it was logged.
fn apply_batch(
    engine: &mut Engine,
    shards: &mut Shards,
    batch: crate::inbox::Batch,
    now: EventTime,
    step: &mut Uncommitted,
    context: &mut Surroundings<'_>,
) -> bool {
    if let Some((limit, refusal)) = &batch.at_capacity {
        if batch.shard.is_none() && engine.adds_alerts(&batch.events, now) {
            context.metrics.limit_hit(limit);
            let _ = batch.applied.send(Err(refusal.clone()));
            return false;
        }
    }
    if let (Some(writer), Some(body)) = (context.capture.as_mut(), &batch.capture) {
        if let Err(error) = writer.write(now, body.format.capture_name(), &body.json) {
            tracing::error!(%error, "cannot write to the capture file");
        }
    }
    let mut logged = false;
    let facts = shared_facts(&batch.events, shards);
    match batch.shard {
        // A partition's state is kept by its changelog, not the log.
        Some(key) => {
            if shards.get_mut(&key).is_none() {
                tracing::warn!(partition = %key, "a batch for a partition not taken over: started afresh");
                let _ = shards.assign(key.clone(), None, &engine.declared_config());
            }
            if let Some(shard) = shards.get_mut(&key) {
                shard.apply_batch(batch.events, now, &mut step.scratch);
                step.tag(&key);
            }
            shards.changed(&key);
            if !facts.is_empty() {
                learn_elsewhere(shards, Some(&key), &facts, now, step);
                if let Some(record) = log_and_apply(engine, facts, now, &mut step.out) {
                    step.records.push(record);
                    logged = true;
                }
            }
        }
        None => {
            // Only PagerDuty's webhook carries feedback: other batches are not scanned for it.
            if batch.source == crate::ingest::SourceKind::PagerDutyWebhook {
                feedback_to_partitions(shards, &batch.events, now, step);
                let at = feedback_time(batch.occurred_at, now);
                for event in &batch.events {
                    if let Event::Feedback(feedback) = event {
                        context.outputs.recorder.feedback(feedback, at);
                        if let Some(control) = &context.outputs.control {
                            control.feedback(feedback, batch.occurred_at);
                        }
                    }
                }
            }
            if let Some(record) = log_and_apply(engine, batch.events, now, &mut step.out) {
                step.records.push(record);
                logged = true;
            }
            learn_elsewhere(shards, None, &facts, now, step);
        }
    }
    context.metrics.ingest_to_engine(batch.received.elapsed().as_secs_f64());
    step.applied.push(batch.applied);
    logged
}

/// The inventory facts of a batch, when this replica runs partition engines: what telemetry
/// teaches is the replica's, whichever engine its batch goes to, so that alerts that arrive by
/// one way (a partition, the HTTP listeners) are correlated with what telemetry that came by
/// another taught. Without partitions, none to share (and nothing copied).
fn shared_facts(events: &[Event], shards: &mut Shards) -> Vec<Event> {
    if shards.engines_mut().next().is_none() {
        return Vec::new();
    }
    events.iter().filter(|event| matches!(event, Event::Inventory(_))).cloned().collect()
}

/// Applies shared facts to every partition engine but the one (`except`) that had the batch.
fn learn_elsewhere(
    shards: &mut Shards,
    except: Option<&str>,
    facts: &[Event],
    now: EventTime,
    step: &mut Uncommitted,
) {
    if facts.is_empty() {
        return;
    }
    let mut changed = Vec::new();
    for (key, shard) in shards.engines_mut().filter(|(key, _)| Some(key.as_ref()) != except) {
        shard.apply_batch(facts.iter().cloned(), now, &mut step.scratch);
        step.tag(key);
        changed.push(key.clone());
    }
    for key in changed {
        shards.changed(&key);
    }
}

/// When a responder's action happened: PagerDuty's word, unless it is over an hour from ours.
fn feedback_time(said: Option<EventTime>, now: EventTime) -> EventTime {
    said.filter(|at| (at.as_millis() - now.as_millis()).abs() <= crate::clock::HOUR_MS).unwrap_or(now)
}

/// How often incident records past their retention are deleted.
const PRUNE_INTERVAL: Duration = Duration::from_secs(3600);
/// How long a resolved incident is followed (for a responder's late action, or its alerts
/// coming back).
const FOLLOW_RESOLVED: Duration = Duration::from_secs(24 * 3600);

fn prune_incidents(durability: &mut Durability, recorder: &mut Recorder) {
    let now = crate::clock::now().as_millis();
    let retention = i64::try_from(durability.incident_retention.as_millis()).unwrap_or(i64::MAX);
    match durability.storage.prune_incidents(now.saturating_sub(retention)) {
        Ok(0) => {}
        Ok(removed) => tracing::info!(removed, "incident records past their retention deleted"),
        Err(error) => tracing::error!(%error, "cannot delete old incident records"),
    }
    recorder.forget_resolved(now - FOLLOW_RESOLVED.as_millis() as i64);
}

/// How often every partition's view is published, changed or not.
const VIEW_REFRESH: Duration = Duration::from_secs(30);
/// Firing alerts a partition's view carries at most (the incidents carry their counts).
const VIEW_ALERTS: usize = 1000;

/// Publishes the view of each partition that changed since its last one, for the other
/// replicas' admin APIs.
fn publish_views(control: &ControlTopic, shards: &mut Shards, timeline: &Timeline, all: bool) {
    for (key, shard) in shards.take_unviewed(all) {
        let incidents =
            shard.incidents().iter().map(|incident| incident_detail(incident, timeline)).collect();
        // What mutes an alert is worked out for those the view carries only.
        let (held, firing) = shard.held_alerts_up_to(VIEW_ALERTS);
        let alerts = held.iter().map(view_alert).collect();
        let view = PartitionView { incidents, alerts, alerts_omitted: firing.saturating_sub(VIEW_ALERTS) };
        control.view(&key, view);
    }
}

/// Flushes the capture file and the decisions log (on ticks: what was written reaches the disk
/// within a tick).
fn flush_files(context: &mut Surroundings<'_>) {
    if let Some(writer) = context.capture.as_mut() {
        if let Err(error) = writer.flush() {
            tracing::error!(%error, "cannot flush the capture file");
        }
    }
    if let Some(log) = &mut context.outputs.decisions {
        if let Err(error) = log.flush() {
            tracing::error!(%error, "cannot flush the decisions log");
        }
    }
}

/// Every engine's open incidents, the latest opened first.
fn open_incidents(engine: &Engine, shards: &Shards) -> Vec<noisegate_engine::IncidentSummary> {
    let mut incidents = engine.incidents();
    incidents.extend(shards.incidents());
    incidents.sort_by(|left, right| {
        right.opened_at.cmp(&left.opened_at).then(left.dedup_key.cmp(&right.dedup_key))
    });
    incidents
}

/// Moves every engine's clock to `now`.
fn advance(engine: &mut Engine, shards: &mut Shards, now: EventTime, step: &mut Uncommitted) {
    engine.advance(now, &mut step.out);
    for (key, shard) in shards.engines_mut() {
        shard.advance(now, &mut step.scratch);
        step.tag(key);
    }
}

/// Commits the step, then answers its senders and hands its notifications on.
fn commit(step: &mut Uncommitted, durability: &mut Durability, outputs: &mut Outputs) {
    let (events, sends, digests) = sort_notifications(step, durability, outputs);
    let mut delivered = Vec::new();
    while let Ok(sequence) = durability.delivered.try_recv() {
        durability.shards.delivered(sequence);
        delivered.push(sequence);
    }
    let incidents: Vec<(i64, Box<str>, Vec<u8>)> = outputs
        .recorder
        .take_changed()
        .into_iter()
        .filter_map(|record| match record.encode() {
            Ok(value) => Some((record.opened_at, record.dedup_key, value)),
            Err(error) => {
                tracing::error!(%error, "cannot encode an incident record");
                None
            }
        })
        .collect();
    let plain = outputs.recorder.take_plain();
    let nothing = step.records.is_empty()
        && events.is_empty()
        && delivered.is_empty()
        && incidents.is_empty()
        && plain.is_empty();
    let committed: Result<Vec<u64>, StorageError> = if nothing {
        Ok(Vec::new())
    } else {
        durability.storage.commit_with(&step.records, &events, &delivered, &incidents, &plain)
    };
    step.records.clear();
    let sequences = answer(step, durability, committed, &events);
    let mut outgoing = Vec::with_capacity(events.len() + step.released.len());
    for ((event, sequence), send) in events.into_iter().zip(sequences).zip(sends) {
        match (send, sequence) {
            (SendWhen::Checkpointed(key), Some(sequence)) => durability.shards.park(key, sequence, event),
            // Without the outbox there is no parking: out now.
            (_, sequence) => outgoing.push(Outgoing { sequence, event }),
        }
    }
    outgoing.extend(
        step.released.drain(..).map(|(sequence, event)| Outgoing { sequence: Some(sequence), event }),
    );
    for outgoing in outgoing {
        if outputs.pages.blocking_send(outgoing).is_err() {
            tracing::error!("delivery has stopped; the page stays in the outbox");
        }
    }
    for page in digests {
        if outputs.digests.blocking_send(page).is_err() {
            tracing::error!("the digest sink has stopped; a digest item was lost");
        }
    }
}

/// Sorts what the engines decided: pages to the outbox (a partition's held until its
/// checkpoint), digest items aside, decision records written out now (they promise nothing).
fn sort_notifications(
    step: &mut Uncommitted,
    durability: &mut Durability,
    outputs: &mut Outputs,
) -> (Vec<OutboxEvent>, Vec<SendWhen>, Vec<Page>) {
    let mut events: Vec<OutboxEvent> = std::mem::take(&mut step.resend);
    let mut sends: Vec<SendWhen> = events.iter().map(|_| SendWhen::Now).collect();
    let mut digests = Vec::new();
    let notifications = step
        .out
        .drain(..)
        .map(|notification| (None, notification))
        .chain(step.shard_out.drain(..).map(|(key, notification)| (Some(key), notification)));
    for (shard, notification) in notifications {
        outputs.recorder.notification(&notification, !outputs.silent);
        match notification {
            Notification::Page(page) if outputs.silent => {
                tracing::info!(dedup_key = %page.dedup_key, "shadow mode: page decided, not sent");
            }
            Notification::Page(page) => match (outbox_event(&page), shard) {
                (Ok(event), None) => {
                    events.push(event);
                    sends.push(SendWhen::Now);
                }
                // Held until the partition's next checkpoint.
                (Ok(event), Some(key)) => durability
                    .shards
                    .hold(key.clone(), OutboxEvent { shard: Some(key.as_ref().into()), ..event }),
                (Err(error), _) => {
                    tracing::error!(%error, dedup_key = %page.dedup_key, "cannot encode a page")
                }
            },
            Notification::Digest(page) => digests.push(page),
            Notification::Decision(record) => write_decision(outputs, &record),
            Notification::Plain(_) => {}
        }
    }
    // A checkpoint's held events enter the outbox with it, parked until it is published.
    for (key, _, _) in &step.checkpoints {
        for event in durability.shards.take_held(key) {
            events.push(event);
            sends.push(SendWhen::Checkpointed(key.clone()));
        }
    }
    (events, sends, digests)
}

fn write_decision(outputs: &mut Outputs, record: &noisegate_engine::DecisionRecord) {
    if let Some(log) = &mut outputs.decisions {
        if let Err(error) = log.write(record) {
            tracing::error!(%error, "cannot write to the decisions log");
        }
    }
    if let Some(topic) = &mut outputs.decisions_topic {
        topic.publish(record);
    }
    outputs.timeline.record(record);
}

/// Answers the step's senders with the commit's outcome (and its partitions' checkpoints);
/// returns each event's outbox sequence number (`None`: the store failed, sent without it).
fn answer(
    step: &mut Uncommitted,
    durability: &mut Durability,
    committed: Result<Vec<u64>, StorageError>,
    events: &[OutboxEvent],
) -> Vec<Option<u64>> {
    let sequences: Vec<Option<u64>> = match committed {
        Ok(sequences) => {
            for applied in step.applied.drain(..) {
                let _ = applied.send(Ok(()));
            }
            for (sequence, event) in sequences.iter().zip(events) {
                durability.shards.track(*sequence, event);
            }
            sequences.into_iter().map(Some).collect()
        }
        Err(error) => {
            tracing::error!(%error, "cannot commit to the store: requests are refused, pages sent without the outbox");
            let message = error.to_string();
            let error =
                IngestError::new(Reason::Unavailable, format!("cannot store the request durably: {message}"));
            for applied in step.applied.drain(..) {
                let _ = applied.send(Err(error.clone()));
            }
            vec![None; events.len()]
        }
    };
    for (reply, result) in step.commands.drain(..) {
        let _ = reply.send(result);
    }
    for reply in step.reconfigured.drain(..) {
        let _ = reply.send(());
    }
    // After the commit: a partition's state includes the events its engine just decided.
    for (key, force, reply) in step.checkpoints.drain(..) {
        let _ = reply.send(durability.shards.checkpoint(&key, force));
    }
    sequences
}

/// The page as the outbox keeps it, for its destination's sink to render.
fn outbox_event(page: &Page) -> Result<OutboxEvent, serde_json::Error> {
    let body = serde_json::to_string(&PageBody::new(page))?;
    Ok(OutboxEvent {
        at: page.at,
        action: page.action,
        dedup_key: page.dedup_key.as_ref().into(),
        destination: page.routing_key.as_ref().into(),
        body,
        shard: None,
    })
}

/// Takes the engine's state (a copy-on-write clone: microseconds, whatever its size) and hands
/// it to the store, whose writer thread serializes it in one pass into a buffer of the exact
/// size and writes it. How long the engine paused for it is `noisegate_snapshot_pause_seconds`.
fn snapshot(engine: &mut Engine, storage: &mut Storage, config: &RecordedConfig, metrics: &Metrics) {
    if storage.snapshot_pending() {
        return;
    }
    let started = Instant::now();
    let snapshot = engine.snapshot();
    let paused = started.elapsed();
    metrics.snapshot_pause(paused.as_secs_f64());
    let serialize = move || {
        let size = snapshot.size().map_err(|error| error.to_string())?;
        let mut state = vec![0; size];
        snapshot.write_to(&mut state).map_err(|error| error.to_string())?;
        Ok(state)
    };
    match storage.begin_snapshot(config, serialize) {
        Ok(_) => tracing::debug!(paused_us = paused.as_micros() as u64, "snapshot taken"),
        Err(error) => {
            tracing::error!(%error, "cannot take a snapshot; the log keeps growing until one succeeds")
        }
    }
}

/// Collects the snapshot being written, if it is done (`wait`: waiting for it).
fn collect_snapshot(storage: &mut Storage, wait: bool) {
    match storage.finish_snapshot(wait) {
        Ok(Some(position)) => tracing::debug!(position, "snapshot written"),
        Ok(None) => {}
        Err(error) => {
            tracing::error!(%error, "cannot write a snapshot; the log keeps growing until one succeeds")
        }
    }
}

/// Saves the history of alert kinds when it changed since the last save.
fn save_history(engine: &Engine, outputs: &Outputs, saved: &mut u64) {
    let Some(path) = &outputs.history_file else { return };
    if engine.history_version() == *saved {
        return;
    }
    match super::history::save(path, engine.history(), engine.seen()) {
        Ok(()) => *saved = engine.history_version(),
        Err(error) => {
            tracing::error!(error = %format!("{error:#}"), "cannot save the history of alert kinds")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::Recovery;
    use noisegate_engine::model::{Alert, Expiry, Labels};

    fn at(seconds: i64) -> EventTime {
        EventTime::from_millis(1_800_000_000_000 + seconds * 1000)
    }

    /// The same alert from one Prometheus of an HA pair.
    fn alert(replica: &str, ends_at: Option<EventTime>) -> Event {
        Event::Alert(Alert {
            labels: Labels::from_pairs([
                ("alertname", "DiskFull"),
                ("instance", "node-1"),
                ("prometheus_replica", replica),
            ]),
            annotations: Labels::from_pairs([("summary", "disk full on node-1")]),
            starts_at: Some(at(0)),
            ends_at,
            resolved: false,
            expiry: Expiry::ResolveTimeout,
            severity: None,
            generator_url: Some("http://prometheus/graph".into()),
            external_key: None,
        })
    }

    #[test]
    fn a_restart_reading_the_log_rebuilds_the_same_state_re_sends_from_either_replica_included() {
        let text = "engine: {exclude_labels: [prometheus_replica]}\nroute: {group_wait: 0s}\n";
        let config = crate::config::parse(text, &|_| None).expect("a valid config").engine;
        let mut live = Engine::new(config.clone());
        let mut out = Vec::new();
        let batches = [
            (at(0), alert("a", Some(at(240)))),
            (at(60), alert("a", Some(at(300)))),
            // The pair's other Prometheus, then its word that the alert ended.
            (at(90), alert("b", Some(at(330)))),
            (at(120), alert("b", Some(at(100)))),
        ];
        let records: Vec<Vec<u8>> = batches
            .into_iter()
            .map(|(now, event)| log_and_apply(&mut live, vec![event], now, &mut out).expect("logged"))
            .collect();
        assert!(records[1].len() * 3 < records[0].len(), "a re-send is logged by fingerprint");
        assert!(records[3].len() < records[0].len(), "the other replica's keeps its labels only");
        assert_eq!(live.stats().alerts_resolved, 1);

        let decoded: Vec<Record> =
            records.iter().map(|record| postcard::from_bytes(record).expect("a record")).collect();
        let mut recovered = Engine::new(config);
        recover(&mut recovered, decoded);
        assert_eq!(state(&mut recovered), state(&mut live));
    }

    #[test]
    fn a_request_and_a_tick_are_applied_at_the_time_they_arrived_never_before_the_last_input() {
        let ago = Duration::from_secs(40);
        let earliest = crate::clock::now();
        let arrived = Instant::now().checked_sub(ago).expect("the machine has been up 40 s");
        let latest = crate::clock::now();
        let (applied, _done) = oneshot::channel();
        let batch = Input::Batch(crate::inbox::Batch {
            source: crate::ingest::SourceKind::AlertmanagerV2,
            events: Vec::new(),
            capture: None,
            received: arrived,
            shard: None,
            occurred_at: None,
            at_capacity: None,
            applied,
        });
        let (earliest, latest) = (earliest.as_millis() - 40_001, latest.as_millis() - 39_999);
        for input in [batch, Input::Tick(arrived)] {
            let stamped = time_of(&input, EventTime::default()).as_millis();
            assert!((earliest..=latest).contains(&stamped), "{stamped} not in {earliest}..={latest}");
            // An input that arrived before the last one applied is applied at the same time.
            let last = EventTime::from_millis(latest + 5_000);
            assert_eq!(time_of(&input, last), last);
        }
        let (reply, _) = oneshot::channel();
        let before = crate::clock::now();
        assert!(time_of(&Input::ListSilences(reply), EventTime::default()) >= before);
    }

    fn state(engine: &mut Engine) -> Vec<u8> {
        engine.snapshot().to_vec().expect("a snapshot")
    }

    fn disk_full(instance: &str) -> Event {
        Event::Alert(Alert {
            labels: Labels::from_pairs([("alertname", "DiskFull"), ("instance", instance)]),
            annotations: Labels::default(),
            starts_at: None,
            ends_at: None,
            resolved: false,
            expiry: Expiry::ResolveTimeout,
            severity: None,
            generator_url: None,
            external_key: None,
        })
    }

    #[test]
    fn a_restart_after_a_reload_applies_each_record_under_the_config_it_was_applied_under() {
        let config = |text: &str| crate::config::parse(text, &|_| None).expect("a valid config");
        // Disks filling on two nodes are one incident before the reload, one per node after.
        let before = config("route: {group_wait: 10m, group_by: [alertname]}\n");
        let after = config("route: {group_wait: 10m, group_by: [alertname, instance]}\n");
        let (recorded_before, recorded_after) = (before.recorded().unwrap(), after.recorded().unwrap());
        assert_ne!(recorded_before, recorded_after);

        let mut live = Engine::new(before.engine.clone());
        let mut out = Vec::new();
        let mut step = Uncommitted::default();
        log_config(live.now(), &recorded_before, &mut step);
        let mut records = std::mem::take(&mut step.records);
        for (now, instance) in [(at(0), "node-1"), (at(30), "node-2")] {
            records.extend(log_and_apply(&mut live, vec![disk_full(instance)], now, &mut out));
        }
        let snapshot_before_reload = state(&mut live);
        let records_after_snapshot = records.len();
        // The reload, as the engine thread applies and logs it.
        live.advance(at(60), &mut out);
        live.reconfigure(after.engine.clone());
        log_config(at(60), &recorded_after, &mut step);
        records.append(&mut step.records);
        for (now, instance) in [(at(90), "node-3"), (at(120), "node-1")] {
            records.extend(log_and_apply(&mut live, vec![disk_full(instance)], now, &mut out));
        }
        let decode = |records: &[Vec<u8>]| -> Vec<Record> {
            records.iter().map(|record| postcard::from_bytes(record).expect("a record")).collect()
        };

        // The crash, then a start with the reloaded config file: from the whole log, and from a
        // snapshot taken before the reload with the log after it.
        let recoveries = [
            Recovery { snapshot: None, snapshot_config: None, records: decode(&records) },
            Recovery {
                snapshot: Some(snapshot_before_reload),
                snapshot_config: Some(recorded_before.clone()),
                records: decode(&records[records_after_snapshot..]),
            },
        ];
        for recovery in recoveries {
            let (mut recovered, in_force, log_again) =
                crate::service::restore(&after, recovery).expect("restored");
            assert_eq!(state(&mut recovered), state(&mut live));
            assert_eq!(
                (in_force, log_again),
                (recorded_after.clone(), false),
                "the log names the config in force"
            );
        }

        // Started with yet another config: the state is the same until then, and the new
        // config is taken (and logged) at the end.
        let third = config("route: {group_wait: 5m, group_by: [instance]}\n");
        let recovery = Recovery { snapshot: None, snapshot_config: None, records: decode(&records) };
        let (mut recovered, in_force, log_again) =
            crate::service::restore(&third, recovery).expect("restored");
        live.reconfigure(third.engine.clone());
        assert_eq!(state(&mut recovered), state(&mut live));
        assert_eq!((in_force, log_again), (third.recorded().unwrap(), true));

        // The same log without its config records (as an earlier version wrote it) is rebuilt
        // under the config in force at the start: a different state, which is what recording
        // the configs prevents.
        let plain: Vec<Record> =
            decode(&records).into_iter().filter(|record| !matches!(record, Record::Config { .. })).collect();
        let recovery = Recovery { snapshot: None, snapshot_config: None, records: plain };
        let (mut unrecorded, _, _) = crate::service::restore(&third, recovery).expect("restored");
        assert_ne!(state(&mut unrecorded), state(&mut live));
    }
}
