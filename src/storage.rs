//! The durable store: one redb database in the data directory, and a snapshot file beside it.
//!
//! - `wal`: the write-ahead log, every alert batch and command the engine accepted, in order,
//!   with the event time it was applied at, and every clock step that made the engine decide
//!   something. A sender's 2xx / gRPC OK is given only once its batch is committed here.
//! - `outbox`: every page the engine decided and its destination (PagerDuty, Opsgenie) has not
//!   yet accepted, by a sequence number that orders them.
//! - the file `snapshot`: the engine's state as of one log position, written by a thread of
//!   its own (temporary file, fsync, rename), so that the engine thread only serializes it.
//!   Once it is durable, the log records it includes are deleted a few at every commit, not in
//!   one long transaction. (Stores written before snapshots moved out of the database keep
//!   theirs in `meta` until the first file snapshot.)
//!
//! An event's outbox record and the log record of the input that produced it are committed in
//! one transaction, so after a crash the state rebuilt from the snapshot and the log knows
//! exactly which events exist: none is decided twice, none is lost.
//!
//! Log records (OTLP logs) are logged too: the templates, counts and evidence they make are
//! state. Inventory facts are logged when they change the inventory, not when they only renew a
//! sighting (`Engine::teaches`). The config in force is logged at each start that changes it and
//! at each reload (`Record::Config`), and the snapshot file holds the one its state was made
//! under: recovery applies every record under the config it was first applied under.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;

use redb::{Database, ReadableTable, ReadableTableMetadata, TableDefinition};
use serde::ser::SerializeSeq;
use serde::{Deserialize, Serialize, Serializer};
use xxhash_rust::xxh3::xxh3_64;

use noisegate_engine::model::{Alert, Event, EventTime, InventoryFacts, Labels};
use noisegate_engine::{Command, PageAction, Repeat};

/// The snapshot file: magic, the last log position it includes, the length and xxh3 hash of
/// the body (each 8 bytes, little endian), then the body: the length of the config in force
/// (8 bytes), that config (a postcard `RecordedConfig`) and the state. (A file of the first
/// magic, written by an earlier version, holds the state alone.)
const SNAPSHOT_FILE: &str = "snapshot";
const SNAPSHOT_MAGIC: &[u8; 8] = b"NGSNAP\0\x02";
const SNAPSHOT_MAGIC_STATE_ONLY: &[u8; 8] = b"NGSNAP\0\x01";
const SNAPSHOT_HEADER: usize = 32;
/// Log records deleted per commit at least, once a snapshot made them unnecessary (more when
/// the commit itself writes more).
const PURGE_PER_COMMIT: u64 = 64;

const WAL: TableDefinition<u64, &[u8]> = TableDefinition::new("wal");
const OUTBOX: TableDefinition<u64, &[u8]> = TableDefinition::new("outbox");
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
/// What happened to each incident (`oncall::record`), keyed by when it opened and its key.
const ONCALL: TableDefinition<(i64, &str), &[u8]> = TableDefinition::new("oncall");
/// Per hour (its start, ms): pages a plain Alertmanager-style route would have sent, with every
/// alert and with critical alerts only.
const ONCALL_PLAIN: TableDefinition<i64, (u64, u64)> = TableDefinition::new("oncall_plain");
/// A snapshot written by an earlier version, and the last log position it includes (8 bytes,
/// little endian); the latter is kept up to date for the snapshot file too.
const SNAPSHOT: &str = "snapshot";
const SNAPSHOT_POSITION: &str = "snapshot_position";
/// This replica's identity (8 bytes), made up when the store is created.
const REPLICA: &str = "replica";
/// The layout of the records (4 bytes, little endian): a store written in another is refused.
/// Format 3 added `Record::Logged`, format 4 `Record::Config`; a store of an earlier format is
/// read as it is and marked with this one.
const FORMAT_KEY: &str = "format";
const FORMAT: u32 = 4;
const READABLE_FORMATS: [u32; 3] = [2, 3, FORMAT];
/// The store's page cache: the log is written and read back only on restart, so a small cache
/// does; it counts against the memory ceiling.
const CACHE_BYTES: usize = 32 << 20;

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("cannot create the data directory {path}: {source}")]
    Directory { path: PathBuf, source: std::io::Error },
    #[error("cannot open the store {path}: {source}")]
    Open { path: PathBuf, source: Box<redb::DatabaseError> },
    #[error("store: {0}")]
    Store(Box<redb::Error>),
    #[error("cannot write the snapshot: {0}")]
    Snapshot(String),
    #[error("cannot read the snapshot {path}: {reason}")]
    SnapshotFile { path: PathBuf, reason: String },
    #[error(
        "the store {path} was written by another version of noisegate (format {found}, this one reads {FORMAT}); move it away to start afresh"
    )]
    Format { path: PathBuf, found: u32 },
    #[error("corrupt record in the store: {0}")]
    Corrupt(#[from] postcard::Error),
}

macro_rules! from_redb {
    ($($error:ty),*) => {$(
        impl From<$error> for StorageError {
            fn from(error: $error) -> StorageError {
                StorageError::Store(Box::new(error.into()))
            }
        }
    )*};
}

from_redb!(redb::TransactionError, redb::TableError, redb::StorageError, redb::CommitError);

/// One input to the engine, as the log stores it.
#[derive(Debug, Deserialize)]
pub enum Record {
    Batch {
        at: EventTime,
        events: Vec<Event>,
    },
    Command {
        at: EventTime,
        command: Command,
    },
    /// The clock moved and the engine decided something.
    Advance {
        at: EventTime,
    },
    /// A batch whose re-sent alerts are named by what the engine held (format 3 on).
    Logged {
        at: EventTime,
        events: Vec<Logged>,
    },
    /// The config in force from then on (format 4 on): the clock moved to `at`, then the
    /// engine took this config.
    Config {
        at: EventTime,
        config: RecordedConfig,
    },
}

/// A config as the log and the snapshot record it (`config::Config::recorded`): all the engine's
/// settings can be rebuilt from it without reading a file or the environment. The config's text,
/// without the sections the engine does not read and with every secret value redacted, and the
/// text of the inventory file it named.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedConfig {
    pub text: String,
    pub topology: Option<String>,
}

/// One event of a `Record::Logged` batch.
#[derive(Debug, PartialEq, Deserialize)]
pub enum Logged {
    Event(Event),
    /// An alert the engine held unchanged, as of the flushes due at the batch's time.
    Repeat(Repeat),
    /// The same, with labels of its own (excluded labels differ: an HA pair's other sender).
    Relabelled(Repeat, Labels),
}

#[derive(Serialize)]
enum LoggedRef<'a> {
    Event(&'a Event),
    Repeat(Repeat),
    Relabelled(Repeat, &'a Labels),
}

/// The writing side of `Record`: same variants, same fields, borrowed. (`Batch` is no longer
/// written, only read.)
#[derive(Serialize)]
enum RecordRef<'a, D: Serialize> {
    #[allow(dead_code)] // Kept for the variant indices `Record` reads.
    Batch {
        at: EventTime,
        events: &'a [Event],
    },
    Command {
        at: EventTime,
        command: &'a Command,
    },
    Advance {
        at: EventTime,
    },
    Logged {
        at: EventTime,
        events: D,
    },
    Config {
        at: EventTime,
        config: &'a RecordedConfig,
    },
}

/// The records without events.
type PlainRecord<'a> = RecordRef<'a, ()>;

/// The events of a batch worth logging (everything but inventory facts that teach the engine
/// nothing new: log records too, as the templates, counts and evidence they make are state),
/// each alert that `repeat` says the engine holds unchanged as a `Repeat`.
struct Durable<'a, R, T> {
    events: &'a [Event],
    repeat: R,
    teaches: T,
}

impl<R, T: Fn(&InventoryFacts) -> bool> Durable<'_, R, T> {
    fn kept(&self) -> impl Iterator<Item = &Event> {
        self.events.iter().filter(|event| match event {
            Event::Inventory(facts) => (self.teaches)(facts),
            _ => true,
        })
    }
}

impl<R: Fn(&Alert) -> Option<Repeat>, T: Fn(&InventoryFacts) -> bool> Serialize for Durable<'_, R, T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut sequence = serializer.serialize_seq(Some(self.kept().count()))?;
        for event in self.kept() {
            match event {
                Event::Alert(alert) => match (self.repeat)(alert) {
                    Some(repeat) if repeat.own_labels => {
                        sequence.serialize_element(&LoggedRef::Relabelled(repeat, &alert.labels))?
                    }
                    Some(repeat) => sequence.serialize_element(&LoggedRef::Repeat(repeat))?,
                    None => sequence.serialize_element(&LoggedRef::Event(event))?,
                },
                _ => sequence.serialize_element(&LoggedRef::Event(event))?,
            }
        }
        sequence.end()
    }
}

/// A batch as a log record; `None` when it holds nothing durable (only facts the inventory
/// holds already). `repeat` names the alerts the engine holds unchanged
/// (`Engine::repeat_of`), `teaches` the facts that change its inventory (`Engine::teaches`),
/// both judged after the flushes due at `at`, as the restart that reads the record judges them.
/// A fact only seen again is not logged: after a crash, its last sighting is the snapshot's,
/// and the telemetry that follows renews it.
pub fn encode_batch(
    at: EventTime,
    events: &[Event],
    repeat: impl Fn(&Alert) -> Option<Repeat>,
    teaches: impl Fn(&InventoryFacts) -> bool,
) -> Result<Option<Vec<u8>>, postcard::Error> {
    let events = Durable { events, repeat, teaches };
    if events.kept().next().is_none() {
        return Ok(None);
    }
    postcard::to_allocvec(&RecordRef::Logged { at, events }).map(Some)
}

pub fn encode_command(at: EventTime, command: &Command) -> Result<Vec<u8>, postcard::Error> {
    postcard::to_allocvec(&PlainRecord::Command { at, command })
}

pub fn encode_advance(at: EventTime) -> Result<Vec<u8>, postcard::Error> {
    postcard::to_allocvec(&PlainRecord::Advance { at })
}

pub fn encode_config(at: EventTime, config: &RecordedConfig) -> Result<Vec<u8>, postcard::Error> {
    postcard::to_allocvec(&PlainRecord::Config { at, config })
}

/// A page waiting for its destination: the page as `sinks::page` writes it, which names its
/// destination (a routing key's or API key's *name*; the secret is put in when it is sent).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboxEvent {
    pub at: EventTime,
    pub action: PageAction,
    pub dedup_key: Box<str>,
    /// The destination's name. (Outboxes of earlier versions hold a PagerDuty routing key's
    /// name here and a PagerDuty event in `body`: the layout is the same, and the page reader
    /// reads both.)
    pub destination: Box<str>,
    pub body: String,
    /// The Kafka partition whose engine decided it (`topic/partition`), if any: its changelog
    /// records carry the event until it is delivered.
    pub shard: Option<Box<str>>,
}

/// What a restart starts from.
pub struct Recovery {
    pub snapshot: Option<Vec<u8>>,
    /// The config the snapshot's state was made under (`None`: no snapshot, or one written
    /// by an earlier version).
    pub snapshot_config: Option<RecordedConfig>,
    /// Log records after the snapshot, in order. (The events not yet delivered stay in the
    /// outbox: `OutboxReader::after` reads them back a batch at a time.)
    pub records: Vec<Record>,
}

pub struct Storage {
    db: Arc<Database>,
    path: PathBuf,
    dir: PathBuf,
    /// The next log position and outbox sequence number.
    next_position: u64,
    next_outbox: u64,
    /// Log records written since the last snapshot.
    since_snapshot: u64,
    since_snapshot_bytes: u64,
    /// The size of the last snapshot taken by this process.
    snapshot_bytes: u64,
    /// The last log position the latest durable snapshot includes.
    snapshot_position: u64,
    /// Log positions up to this one are deleted.
    purged_through: u64,
    /// Whether `meta` still holds the snapshot position of an earlier one than the file's, or
    /// an earlier version's snapshot.
    meta_stale: bool,
    /// The snapshot being written, and the last log position it includes.
    writing: Option<(u64, JoinHandle<Result<u64, String>>)>,
    replica: u64,
}

/// Reads the incident records while the service writes them (a read transaction sees the
/// last commit).
#[derive(Clone)]
pub struct IncidentStore {
    db: Arc<Database>,
}

impl IncidentStore {
    /// Opens a store's database to read it only (no service may hold it).
    pub fn open(dir: &Path) -> Result<IncidentStore, StorageError> {
        let path = dir.join("noisegate.redb");
        if !path.exists() {
            return Err(StorageError::Directory {
                path: dir.to_owned(),
                source: std::io::Error::new(std::io::ErrorKind::NotFound, "no noisegate.redb in it"),
            });
        }
        let db =
            Database::open(&path).map_err(|source| StorageError::Open { path, source: Box::new(source) })?;
        Ok(IncidentStore { db: Arc::new(db) })
    }

    /// The values of the incidents opened in `from..to`, oldest first.
    pub fn read(&self, from: i64, to: i64) -> Result<Vec<Vec<u8>>, StorageError> {
        let read = self.db.begin_read()?;
        let Some(oncall) = open_if_there(&read, ONCALL)? else { return Ok(Vec::new()) };
        let mut values = Vec::new();
        for entry in oncall.range((from, "")..(to, ""))? {
            let (_, value) = entry?;
            values.push(value.value().to_vec());
        }
        Ok(values)
    }

    /// The plain-route pages of each hour in `from..to`: (hour, every alert, critical only).
    pub fn read_plain(&self, from: i64, to: i64) -> Result<Vec<(i64, u64, u64)>, StorageError> {
        let read = self.db.begin_read()?;
        let Some(plain) = open_if_there(&read, ONCALL_PLAIN)? else { return Ok(Vec::new()) };
        let mut hours = Vec::new();
        for entry in plain.range(from..to)? {
            let (hour, pages) = entry?;
            let (all, critical) = pages.value();
            hours.push((hour.value(), all, critical));
        }
        Ok(hours)
    }
}

/// Reads pages back from the outbox while the service writes it: a delivery lane keeps a
/// window of its pages in memory and the rest here, by sequence number.
#[derive(Clone)]
pub struct OutboxReader {
    db: Arc<Database>,
}

impl OutboxReader {
    /// The events of these sequence numbers, in their order; `None` for one no longer there.
    pub fn read(&self, sequences: &[u64]) -> Result<Vec<Option<OutboxEvent>>, StorageError> {
        let read = self.db.begin_read()?;
        let outbox = read.open_table(OUTBOX)?;
        let mut events = Vec::with_capacity(sequences.len());
        for sequence in sequences {
            let event = match outbox.get(sequence)? {
                Some(value) => Some(postcard::from_bytes(value.value())?),
                None => None,
            };
            events.push(event);
        }
        Ok(events)
    }

    /// The events after sequence number `after`, in order, at most `limit`.
    pub fn after(&self, after: u64, limit: usize) -> Result<Vec<(u64, OutboxEvent)>, StorageError> {
        let read = self.db.begin_read()?;
        let outbox = read.open_table(OUTBOX)?;
        let mut events = Vec::new();
        for entry in outbox.range(after.saturating_add(1)..)?.take(limit) {
            let (key, value) = entry?;
            events.push((key.value(), postcard::from_bytes(value.value())?));
        }
        Ok(events)
    }

    /// How many events the outbox holds.
    pub fn count(&self) -> Result<u64, StorageError> {
        let read = self.db.begin_read()?;
        Ok(read.open_table(OUTBOX)?.len()?)
    }
}

/// A table to read, `None` when the store has none yet (written by an earlier version).
fn open_if_there<K: redb::Key + 'static, V: redb::Value + 'static>(
    read: &redb::ReadTransaction,
    table: TableDefinition<K, V>,
) -> Result<Option<redb::ReadOnlyTable<K, V>>, StorageError> {
    match read.open_table(table) {
        Ok(table) => Ok(Some(table)),
        Err(redb::TableError::TableDoesNotExist(_)) => Ok(None),
        Err(error) => Err(error.into()),
    }
}

impl Storage {
    /// Opens (or creates) the store in `dir`.
    pub fn open(dir: &Path) -> Result<Storage, StorageError> {
        std::fs::create_dir_all(dir)
            .map_err(|source| StorageError::Directory { path: dir.to_owned(), source })?;
        let path = dir.join("noisegate.redb");
        let db = Database::builder()
            .set_cache_size(CACHE_BYTES)
            .create(&path)
            .map_err(|source| StorageError::Open { path: path.clone(), source: Box::new(source) })?;
        let mut storage = Storage {
            db: Arc::new(db),
            path,
            dir: dir.to_owned(),
            next_position: 1,
            next_outbox: 1,
            since_snapshot: 0,
            since_snapshot_bytes: 0,
            snapshot_bytes: 0,
            snapshot_position: 0,
            purged_through: 0,
            meta_stale: false,
            writing: None,
            replica: 0,
        };
        let file_position = storage.snapshot_file_header()?.map(|header| header.position);
        let write = storage.db.begin_write()?;
        {
            // Create the tables so that readers find them.
            write.open_table(ONCALL)?;
            write.open_table(ONCALL_PLAIN)?;
            let wal = write.open_table(WAL)?;
            let outbox = write.open_table(OUTBOX)?;
            let mut meta = write.open_table(META)?;
            let fresh = wal.is_empty()? && outbox.is_empty()? && meta.get(SNAPSHOT)?.is_none();
            let found = meta
                .get(FORMAT_KEY)?
                .map(|value| value.value().try_into().map(u32::from_le_bytes).unwrap_or(u32::MAX));
            match found {
                Some(FORMAT) => {}
                Some(found) if READABLE_FORMATS.contains(&found) => {
                    meta.insert(FORMAT_KEY, FORMAT.to_le_bytes().as_slice())?;
                }
                Some(found) if !fresh => return Err(StorageError::Format { path: storage.path, found }),
                None if !fresh => return Err(StorageError::Format { path: storage.path, found: 1 }),
                _ => {
                    meta.insert(FORMAT_KEY, FORMAT.to_le_bytes().as_slice())?;
                }
            }
            let replica = meta.get(REPLICA)?.and_then(|value| value.value().try_into().ok());
            storage.replica = match replica {
                Some(bytes) => u64::from_le_bytes(bytes),
                None => {
                    let replica = fastrand::u64(1..);
                    meta.insert(REPLICA, replica.to_le_bytes().as_slice())?;
                    replica
                }
            };
            let meta_position = match meta.get(SNAPSHOT_POSITION)? {
                Some(value) => position_from(value.value()),
                None => 0,
            };
            let snapshot_position = meta_position.max(file_position.unwrap_or(0));
            storage.meta_stale = file_position.is_some_and(|position| position > meta_position)
                || (file_position.is_some() && meta.get(SNAPSHOT)?.is_some());
            let last_position = wal.last()?.map_or(0, |(key, _)| key.value());
            storage.next_position = last_position.max(snapshot_position) + 1;
            storage.next_outbox = outbox.last()?.map_or(0, |(key, _)| key.value()) + 1;
            storage.snapshot_position = snapshot_position;
            storage.purged_through = wal.first()?.map_or(snapshot_position, |(key, _)| key.value() - 1);
            storage.since_snapshot = wal.range(snapshot_position + 1..)?.count() as u64;
        }
        write.commit()?;
        Ok(storage)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// This replica's identity: random, made when the store was created, kept for its life.
    pub fn replica(&self) -> u64 {
        self.replica
    }

    /// The snapshot, the log after it and the undelivered events.
    pub fn recover(&self) -> Result<Recovery, StorageError> {
        let read = self.db.begin_read()?;
        let meta = read.open_table(META)?;
        let meta_position = meta.get(SNAPSHOT_POSITION)?.map_or(0, |value| position_from(value.value()));
        let (snapshot, snapshot_config, after) = match self.read_snapshot_file()? {
            Some((position, config, state)) if position >= meta_position => (Some(state), config, position),
            _ => (meta.get(SNAPSHOT)?.map(|value| value.value().to_vec()), None, meta_position),
        };
        let wal = read.open_table(WAL)?;
        let mut records = Vec::new();
        for entry in wal.range(after + 1..)? {
            let (_, value) = entry?;
            records.push(postcard::from_bytes(value.value())?);
        }
        Ok(Recovery { snapshot, snapshot_config, records })
    }

    /// Commits, in one durable transaction, log records, the events they produced (returning
    /// their sequence numbers) and the removal of delivered events.
    pub fn commit(
        &mut self,
        records: &[Vec<u8>],
        events: &[OutboxEvent],
        delivered: &[u64],
    ) -> Result<Vec<u64>, StorageError> {
        self.commit_with(records, events, delivered, &[], &[])
    }

    /// `commit`, with incident records (`(opened_at, dedup_key, value)`) and plain-route pages
    /// (`(hour, every alert, critical only)`, added to the hour's) in the same transaction.
    pub fn commit_with(
        &mut self,
        records: &[Vec<u8>],
        events: &[OutboxEvent],
        delivered: &[u64],
        incidents: &[(i64, Box<str>, Vec<u8>)],
        plain: &[(i64, u64, u64)],
    ) -> Result<Vec<u64>, StorageError> {
        let write = self.db.begin_write()?;
        let mut sequences = Vec::with_capacity(events.len());
        let mut purged = self.purged_through;
        {
            if !incidents.is_empty() {
                let mut oncall = write.open_table(ONCALL)?;
                for (opened_at, key, value) in incidents {
                    oncall.insert((*opened_at, &**key), value.as_slice())?;
                }
            }
            if !plain.is_empty() {
                let mut hours = write.open_table(ONCALL_PLAIN)?;
                for &(hour, all, critical) in plain {
                    let (had_all, had_critical) =
                        hours.get(hour)?.map(|pages| pages.value()).unwrap_or((0, 0));
                    hours.insert(hour, (had_all + all, had_critical + critical))?;
                }
            }
            let mut wal = write.open_table(WAL)?;
            for (offset, record) in records.iter().enumerate() {
                wal.insert(self.next_position + offset as u64, record.as_slice())?;
            }
            let mut outbox = write.open_table(OUTBOX)?;
            for (offset, event) in events.iter().enumerate() {
                let sequence = self.next_outbox + offset as u64;
                outbox.insert(sequence, postcard::to_allocvec(event)?.as_slice())?;
                sequences.push(sequence);
            }
            for sequence in delivered {
                outbox.remove(sequence)?;
            }
            if self.purged_through < self.snapshot_position {
                let budget = PURGE_PER_COMMIT.max(2 * records.len() as u64);
                purged = self.snapshot_position.min(self.purged_through + budget);
                wal.retain_in(self.purged_through + 1..=purged, |_, _| false)?;
            }
            if self.meta_stale {
                let mut meta = write.open_table(META)?;
                meta.insert(SNAPSHOT_POSITION, self.snapshot_position.to_le_bytes().as_slice())?;
                meta.remove(SNAPSHOT)?;
            }
        }
        write.commit()?;
        self.purged_through = purged;
        self.meta_stale = false;
        self.next_position += records.len() as u64;
        self.next_outbox += events.len() as u64;
        self.since_snapshot += records.len() as u64;
        self.since_snapshot_bytes += records.iter().map(|record| record.len() as u64).sum::<u64>();
        Ok(sequences)
    }

    /// Deletes the incident records of incidents opened before `before`; how many.
    pub fn prune_incidents(&mut self, before: i64) -> Result<u64, StorageError> {
        let write = self.db.begin_write()?;
        let mut removed = 0;
        {
            let mut oncall = write.open_table(ONCALL)?;
            oncall.retain_in((i64::MIN, "")..(before, ""), |_, _| {
                removed += 1;
                false
            })?;
            write.open_table(ONCALL_PLAIN)?.retain_in(..before, |_, _| false)?;
        }
        write.commit()?;
        Ok(removed)
    }

    /// A reader of the incident records, for other threads.
    pub fn incidents(&self) -> IncidentStore {
        IncidentStore { db: self.db.clone() }
    }

    /// A reader of the outbox, for the delivery lanes.
    pub fn outbox_reader(&self) -> OutboxReader {
        OutboxReader { db: self.db.clone() }
    }

    /// Log records written since the last snapshot.
    pub fn since_snapshot(&self) -> u64 {
        self.since_snapshot
    }

    /// Bytes of log records written since the last snapshot (since this start, after one).
    pub fn since_snapshot_bytes(&self) -> u64 {
        self.since_snapshot_bytes
    }

    /// The size of the last snapshot this process wrote (0 before the first).
    pub fn snapshot_bytes(&self) -> u64 {
        self.snapshot_bytes
    }

    /// Whether a snapshot is being written.
    pub fn snapshot_pending(&self) -> bool {
        self.writing.is_some()
    }

    /// Starts writing the engine's state as of the last committed log record, which `state`
    /// serializes, on a thread of its own, with the config in force then; `finish_snapshot`
    /// collects the outcome. One at a time: does nothing and returns false while another is
    /// being written.
    pub fn begin_snapshot(
        &mut self,
        config: &RecordedConfig,
        state: impl FnOnce() -> Result<Vec<u8>, String> + Send + 'static,
    ) -> Result<bool, StorageError> {
        if self.writing.is_some() {
            return Ok(false);
        }
        let position = self.next_position - 1;
        let dir = self.dir.clone();
        let config = postcard::to_allocvec(config)?;
        let handle = std::thread::Builder::new()
            .name("noisegate-snapshot".into())
            .spawn(move || {
                let state = state()?;
                write_snapshot_file(&dir, position, &config, &state).map_err(|error| error.to_string())?;
                Ok(state.len() as u64)
            })
            .map_err(|error| StorageError::Snapshot(error.to_string()))?;
        self.writing = Some((position, handle));
        self.since_snapshot = 0;
        self.since_snapshot_bytes = 0;
        Ok(true)
    }

    /// Collects the snapshot being written once it is durable (with `wait`, waits for it):
    /// the last log position it includes, whose records the next commits delete.
    pub fn finish_snapshot(&mut self, wait: bool) -> Result<Option<u64>, StorageError> {
        let Some((position, handle)) = self.writing.take() else { return Ok(None) };
        if !wait && !handle.is_finished() {
            self.writing = Some((position, handle));
            return Ok(None);
        }
        match handle.join() {
            Ok(Ok(length)) => {
                self.snapshot_position = position;
                self.snapshot_bytes = length;
                self.meta_stale = true;
                Ok(Some(position))
            }
            Ok(Err(error)) => Err(StorageError::Snapshot(error)),
            Err(_) => Err(StorageError::Snapshot("the snapshot writer stopped unexpectedly".into())),
        }
    }

    fn snapshot_path(&self) -> PathBuf {
        self.dir.join(SNAPSHOT_FILE)
    }

    /// The snapshot file's header, if there is one.
    fn snapshot_file_header(&self) -> Result<Option<SnapshotHeader>, StorageError> {
        let path = self.snapshot_path();
        let mut header = [0; SNAPSHOT_HEADER];
        let read = std::fs::File::open(&path).and_then(|mut file| {
            use std::io::Read;
            file.read_exact(&mut header)
        });
        match read {
            Ok(()) => parse_snapshot_header(&header).map(Some).map_err(|reason| self.snapshot_error(reason)),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(error) if error.kind() == std::io::ErrorKind::UnexpectedEof => {
                Err(self.snapshot_error("truncated header".into()))
            }
            Err(error) => Err(self.snapshot_error(error.to_string())),
        }
    }

    /// The snapshot file's position, config and state, checked against its header.
    #[allow(clippy::type_complexity)]
    fn read_snapshot_file(&self) -> Result<Option<(u64, Option<RecordedConfig>, Vec<u8>)>, StorageError> {
        let mut bytes = match std::fs::read(self.snapshot_path()) {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(error) => return Err(self.snapshot_error(error.to_string())),
        };
        let header =
            bytes.get(..SNAPSHOT_HEADER).ok_or_else(|| self.snapshot_error("truncated header".into()))?;
        let header = parse_snapshot_header(header).map_err(|reason| self.snapshot_error(reason))?;
        let body = &bytes[SNAPSHOT_HEADER..];
        if body.len() as u64 != header.length {
            let reason = format!("{} bytes of state, the header says {}", body.len(), header.length);
            return Err(self.snapshot_error(reason));
        }
        if xxh3_64(body) != header.hash {
            return Err(self.snapshot_error("the state does not match its checksum".into()));
        }
        let (config, skip) = if header.with_config {
            let length = body
                .get(..8)
                .and_then(|bytes| bytes.try_into().ok())
                .map(u64::from_le_bytes)
                .and_then(|length| usize::try_from(length).ok())
                .filter(|length| body.len() - 8 >= *length)
                .ok_or_else(|| self.snapshot_error("truncated config".into()))?;
            let config = postcard::from_bytes(&body[8..8 + length])
                .map_err(|error| self.snapshot_error(format!("unreadable config: {error}")))?;
            (Some(config), 8 + length)
        } else {
            (None, 0)
        };
        bytes.drain(..SNAPSHOT_HEADER + skip);
        Ok(Some((header.position, config, bytes)))
    }

    fn snapshot_error(&self, reason: String) -> StorageError {
        StorageError::SnapshotFile { path: self.snapshot_path(), reason }
    }
}

struct SnapshotHeader {
    /// The last log position the state includes.
    position: u64,
    /// The length and hash of the body.
    length: u64,
    hash: u64,
    /// Whether the body starts with the config in force (the current magic).
    with_config: bool,
}

fn parse_snapshot_header(header: &[u8]) -> Result<SnapshotHeader, String> {
    let field =
        |at: usize| header.get(at..at + 8).and_then(|bytes| bytes.try_into().ok()).map(u64::from_le_bytes);
    let with_config = match header.get(..8) {
        Some(magic) if magic == SNAPSHOT_MAGIC => true,
        Some(magic) if magic == SNAPSHOT_MAGIC_STATE_ONLY => false,
        _ => return Err("not a noisegate snapshot".into()),
    };
    match (field(8), field(16), field(24)) {
        (Some(position), Some(length), Some(hash)) => {
            Ok(SnapshotHeader { position, length, hash, with_config })
        }
        _ => Err("truncated header".into()),
    }
}

/// Writes a snapshot file next to the current one, then puts it in its place: a crash leaves
/// either the old snapshot or the new one, never a mix.
fn write_snapshot_file(dir: &Path, position: u64, config: &[u8], state: &[u8]) -> std::io::Result<()> {
    let temporary = dir.join(format!("{SNAPSHOT_FILE}.tmp"));
    let config_length = (config.len() as u64).to_le_bytes();
    let mut hash = xxhash_rust::xxh3::Xxh3::new();
    for part in [config_length.as_slice(), config, state] {
        hash.update(part);
    }
    let length = (config_length.len() + config.len() + state.len()) as u64;
    let mut header = [0; SNAPSHOT_HEADER];
    header[..8].copy_from_slice(SNAPSHOT_MAGIC);
    header[8..16].copy_from_slice(&position.to_le_bytes());
    header[16..24].copy_from_slice(&length.to_le_bytes());
    header[24..32].copy_from_slice(&hash.digest().to_le_bytes());
    let mut file = std::fs::File::create(&temporary)?;
    file.write_all(&header)?;
    file.write_all(&config_length)?;
    file.write_all(config)?;
    file.write_all(state)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&temporary, dir.join(SNAPSHOT_FILE))?;
    // The rename itself is durable once the directory is.
    std::fs::File::open(dir)?.sync_all()
}

fn position_from(bytes: &[u8]) -> u64 {
    bytes.try_into().map(u64::from_le_bytes).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use noisegate_engine::model::{Alert, Expiry, Labels, LogRecord};

    fn alert(name: &str) -> Event {
        Event::Alert(Alert {
            labels: Labels::from_pairs([("alertname", name)]),
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

    fn event(dedup_key: &str) -> OutboxEvent {
        OutboxEvent {
            at: EventTime::from_millis(1),
            action: PageAction::Trigger,
            dedup_key: dedup_key.into(),
            destination: "default".into(),
            body: "{}".into(),
            shard: None,
        }
    }

    #[test]
    fn records_and_events_survive_a_reopen_and_a_checkpoint_trims_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let at = EventTime::from_millis(1_800_000_000_000);
        let log = Event::Log(LogRecord {
            time: None,
            severity: None,
            body: "line".into(),
            attributes: Labels::default(),
        });
        {
            let mut storage = Storage::open(dir.path()).unwrap();
            let facts = Event::Inventory(Default::default());
            assert_eq!(
                encode_batch(at, std::slice::from_ref(&facts), |_| None, |_| false).unwrap(),
                None,
                "facts that teach nothing are not logged"
            );
            let repeat = Repeat {
                fingerprint: 7,
                starts_at: None,
                ends_at: Some(at),
                resolved: false,
                expiry: Expiry::ResolveTimeout,
                severity: None,
                own_labels: false,
            };
            let repeats = |alert: &Alert| match alert.labels.get("alertname") {
                Some("B") => Some(repeat),
                Some("C") => Some(Repeat { own_labels: true, ..repeat }),
                _ => None,
            };
            let batch =
                encode_batch(at, &[alert("A"), log.clone(), alert("B"), alert("C")], repeats, |_| true)
                    .unwrap()
                    .unwrap();
            let sequences = storage.commit(&[batch], &[event("k1"), event("k2")], &[]).unwrap();
            assert_eq!(sequences, vec![1, 2]);
            storage.commit(&[encode_advance(at).unwrap()], &[], &[1]).unwrap();
        }
        let mut storage = Storage::open(dir.path()).unwrap();
        let recovery = storage.recover().unwrap();
        assert!(recovery.snapshot.is_none());
        assert_eq!(recovery.records.len(), 2);
        match &recovery.records[0] {
            Record::Logged { at: time, events } => {
                assert_eq!(*time, at);
                assert_eq!(events[0], Logged::Event(alert("A")));
                assert_eq!(events[1], Logged::Event(log), "log records are logged");
                let Logged::Repeat(repeat) = &events[2] else { panic!("B is a repeat: {events:?}") };
                assert_eq!((repeat.fingerprint, repeat.ends_at), (7, Some(at)));
                let Event::Alert(c) = alert("C") else { unreachable!() };
                assert_eq!(events[3], Logged::Relabelled(Repeat { own_labels: false, ..*repeat }, c.labels));
                assert_eq!(events.len(), 4);
            }
            other => panic!("expected a batch, got {other:?}"),
        }
        assert_eq!(storage.outbox_reader().after(0, 10).unwrap(), vec![(2, event("k2"))]);

        let config = RecordedConfig { text: "route: {group_wait: 1s}\n".into(), topology: Some("{}".into()) };
        assert!(storage.begin_snapshot(&config, || Ok(b"state".to_vec())).unwrap());
        assert!(
            !storage.begin_snapshot(&config, || Ok(b"other".to_vec())).unwrap(),
            "one snapshot at a time"
        );
        assert_eq!(storage.finish_snapshot(true).unwrap(), Some(2));
        assert_eq!(first_log_position(&storage), Some(1), "records are deleted by the commits after");
        let reloaded = RecordedConfig { text: "route: {group_wait: 2s}\n".into(), topology: None };
        let records = [encode_advance(at).unwrap(), encode_config(at, &reloaded).unwrap()];
        storage.commit(&records, &[event("k3")], &[]).unwrap();
        assert_eq!(first_log_position(&storage), Some(3));
        drop(storage);
        let storage = Storage::open(dir.path()).unwrap();
        let recovery = storage.recover().unwrap();
        assert_eq!(recovery.snapshot.as_deref(), Some(b"state".as_slice()));
        assert_eq!(recovery.snapshot_config, Some(config), "the snapshot keeps the config it was made under");
        match recovery.records.as_slice() {
            [Record::Advance { .. }, Record::Config { at: time, config }] => {
                assert_eq!((*time, config), (at, &reloaded))
            }
            other => panic!("expected a clock step and a config, got {other:?}"),
        }
        let reader = storage.outbox_reader();
        assert_eq!(reader.count().unwrap(), 2);
        let sequences = |events: Vec<(u64, OutboxEvent)>| {
            events.into_iter().map(|(sequence, _)| sequence).collect::<Vec<_>>()
        };
        assert_eq!(sequences(reader.after(0, 10).unwrap()), vec![2, 3]);
        assert_eq!(sequences(reader.after(0, 1).unwrap()), vec![2], "at most the limit");
        assert_eq!(sequences(reader.after(2, 10).unwrap()), vec![3], "after the one given");
        assert!(reader.after(3, 10).unwrap().is_empty());
    }

    fn first_log_position(storage: &Storage) -> Option<u64> {
        let read = storage.db.begin_read().unwrap();
        let wal = read.open_table(WAL).unwrap();
        wal.first().unwrap().map(|(key, _)| key.value())
    }

    #[test]
    fn a_snapshot_not_yet_followed_by_a_commit_covers_the_log_and_a_damaged_one_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let at = EventTime::from_millis(1_800_000_000_000);
        let mut storage = Storage::open(dir.path()).unwrap();
        storage.commit(&[encode_advance(at).unwrap()], &[], &[]).unwrap();
        let config = RecordedConfig { text: String::new(), topology: None };
        storage.begin_snapshot(&config, || Ok(b"first".to_vec())).unwrap();
        storage.finish_snapshot(true).unwrap();
        // Written, not yet used by a commit: the log still has record 1 after a restart.
        drop(storage);
        let storage = Storage::open(dir.path()).unwrap();
        let recovery = storage.recover().unwrap();
        assert_eq!(recovery.snapshot.as_deref(), Some(b"first".as_slice()));
        assert!(recovery.records.is_empty(), "record 1 is in the snapshot");
        drop(storage);

        let path = dir.path().join(SNAPSHOT_FILE);
        let mut bytes = std::fs::read(&path).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        let error = Storage::open(dir.path()).unwrap().recover().err().unwrap().to_string();
        assert!(error.contains("checksum") && error.contains("snapshot"), "{error}");
        // A length that runs past the end: refused, never read out of bounds.
        bytes[last] ^= 1;
        bytes[SNAPSHOT_HEADER..SNAPSHOT_HEADER + 8].copy_from_slice(&u64::MAX.to_le_bytes());
        let hash = xxh3_64(&bytes[SNAPSHOT_HEADER..]);
        bytes[24..32].copy_from_slice(&hash.to_le_bytes());
        std::fs::write(&path, &bytes).unwrap();
        let error = Storage::open(dir.path()).unwrap().recover().err().unwrap().to_string();
        assert!(error.contains("truncated config"), "{error}");
        std::fs::write(&path, b"garbage").unwrap();
        let error = Storage::open(dir.path()).err().unwrap().to_string();
        assert!(error.contains("snapshot") && error.contains("truncated header"), "{error}");
    }

    #[test]
    fn a_snapshot_file_of_the_earlier_layout_is_read_without_a_config() {
        let dir = tempfile::tempdir().unwrap();
        let state = b"old state";
        let mut bytes = Vec::new();
        bytes.extend_from_slice(SNAPSHOT_MAGIC_STATE_ONLY);
        bytes.extend_from_slice(&0u64.to_le_bytes());
        bytes.extend_from_slice(&(state.len() as u64).to_le_bytes());
        bytes.extend_from_slice(&xxh3_64(state).to_le_bytes());
        bytes.extend_from_slice(state);
        std::fs::write(dir.path().join(SNAPSHOT_FILE), &bytes).unwrap();
        let recovery = Storage::open(dir.path()).unwrap().recover().unwrap();
        assert_eq!(recovery.snapshot.as_deref(), Some(state.as_slice()));
        assert_eq!(recovery.snapshot_config, None);
    }
}
