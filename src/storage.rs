//! The durable store, one redb database in the data directory:
//!
//! - `wal`: the write-ahead log, every alert batch and command the engine accepted, in order,
//!   with the event time it was applied at, and every clock step that made the engine decide
//!   something. A sender's 2xx / gRPC OK is given only once its batch is committed here.
//! - `snapshot`: the engine's state as of one log position; older log records are deleted
//!   when it is written.
//! - `outbox`: every PagerDuty event the engine decided and PagerDuty has not yet accepted,
//!   by a sequence number that orders them.
//!
//! An event's outbox record and the log record of the input that produced it are committed in
//! one transaction, so after a crash the state rebuilt from the snapshot and the log knows
//! exactly which events exist: none is decided twice, none is lost.
//!
//! Log records (OTLP logs) are evidence, not alerts, and are not logged: they are applied in
//! memory only.

use std::path::{Path, PathBuf};

use redb::{Database, ReadableTable, ReadableTableMetadata, TableDefinition};
use serde::ser::SerializeSeq;
use serde::{Deserialize, Serialize, Serializer};

use crate::engine::{Command, PageAction};
use crate::model::{Event, EventTime};

const WAL: TableDefinition<u64, &[u8]> = TableDefinition::new("wal");
const OUTBOX: TableDefinition<u64, &[u8]> = TableDefinition::new("outbox");
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
/// The snapshot's bytes, and the last log position it includes (8 bytes, little endian).
const SNAPSHOT: &str = "snapshot";
const SNAPSHOT_POSITION: &str = "snapshot_position";
/// This replica's identity (8 bytes), made up when the store is created.
const REPLICA: &str = "replica";
/// The layout of the records (4 bytes, little endian): a store written in another is refused.
const FORMAT_KEY: &str = "format";
const FORMAT: u32 = 2;
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
    #[error("a snapshot of {0} bytes is over the store's 4 GiB value limit")]
    SnapshotTooLarge(usize),
    #[error("cannot write the snapshot: {0}")]
    Snapshot(String),
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
}

/// The writing side of `Record`: same variants, same fields, borrowed.
#[derive(Serialize)]
enum RecordRef<'a> {
    Batch { at: EventTime, events: Durable<'a> },
    Command { at: EventTime, command: &'a Command },
    Advance { at: EventTime },
}

/// The events of a batch worth logging: everything but log records.
struct Durable<'a>(&'a [Event]);

impl Durable<'_> {
    fn count(&self) -> usize {
        self.0.iter().filter(|event| !matches!(event, Event::Log(_))).count()
    }
}

impl Serialize for Durable<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut sequence = serializer.serialize_seq(Some(self.count()))?;
        for event in self.0.iter().filter(|event| !matches!(event, Event::Log(_))) {
            sequence.serialize_element(event)?;
        }
        sequence.end()
    }
}

/// A batch as a log record; `None` when it holds nothing durable (only log records).
pub fn encode_batch(at: EventTime, events: &[Event]) -> Result<Option<Vec<u8>>, postcard::Error> {
    let events = Durable(events);
    if events.count() == 0 {
        return Ok(None);
    }
    postcard::to_allocvec(&RecordRef::Batch { at, events }).map(Some)
}

pub fn encode_command(at: EventTime, command: &Command) -> Result<Vec<u8>, postcard::Error> {
    postcard::to_allocvec(&RecordRef::Command { at, command })
}

pub fn encode_advance(at: EventTime) -> Result<Vec<u8>, postcard::Error> {
    postcard::to_allocvec(&RecordRef::Advance { at })
}

/// A PagerDuty event waiting for PagerDuty: the Events API v2 body with the routing key's
/// *name* in `routing_key` (the secret is put in when it is sent).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboxEvent {
    pub at: EventTime,
    pub action: PageAction,
    pub dedup_key: Box<str>,
    pub routing_key: Box<str>,
    pub body: String,
    /// The Kafka partition whose engine decided it (`topic/partition`), if any: its changelog
    /// records carry the event until it is delivered.
    pub shard: Option<Box<str>>,
}

/// What a restart starts from.
pub struct Recovery {
    pub snapshot: Option<Vec<u8>>,
    /// Log records after the snapshot, in order.
    pub records: Vec<Record>,
    /// Events not yet delivered, in order.
    pub outbox: Vec<(u64, OutboxEvent)>,
}

pub struct Storage {
    db: Database,
    path: PathBuf,
    /// The next log position and outbox sequence number.
    next_position: u64,
    next_outbox: u64,
    /// Log records written since the last snapshot.
    since_snapshot: u64,
    since_snapshot_bytes: u64,
    /// The size of the last snapshot written by this process.
    snapshot_bytes: u64,
    replica: u64,
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
            db,
            path,
            next_position: 1,
            next_outbox: 1,
            since_snapshot: 0,
            since_snapshot_bytes: 0,
            snapshot_bytes: 0,
            replica: 0,
        };
        let write = storage.db.begin_write()?;
        {
            // Create the tables so that readers find them.
            let wal = write.open_table(WAL)?;
            let outbox = write.open_table(OUTBOX)?;
            let mut meta = write.open_table(META)?;
            let fresh = wal.is_empty()? && outbox.is_empty()? && meta.get(SNAPSHOT)?.is_none();
            let found = meta
                .get(FORMAT_KEY)?
                .map(|value| value.value().try_into().map(u32::from_le_bytes).unwrap_or(u32::MAX));
            match found {
                Some(FORMAT) => {}
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
            let snapshot_position = match meta.get(SNAPSHOT_POSITION)? {
                Some(value) => position_from(value.value()),
                None => 0,
            };
            let last_position = wal.last()?.map_or(0, |(key, _)| key.value());
            storage.next_position = last_position.max(snapshot_position) + 1;
            storage.next_outbox = outbox.last()?.map_or(0, |(key, _)| key.value()) + 1;
            storage.since_snapshot = wal.len()?;
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
        let snapshot = meta.get(SNAPSHOT)?.map(|value| value.value().to_vec());
        let after = meta.get(SNAPSHOT_POSITION)?.map_or(0, |value| position_from(value.value()));
        let wal = read.open_table(WAL)?;
        let mut records = Vec::new();
        for entry in wal.range(after + 1..)? {
            let (_, value) = entry?;
            records.push(postcard::from_bytes(value.value())?);
        }
        let outbox = read.open_table(OUTBOX)?;
        let mut events = Vec::new();
        for entry in outbox.iter()? {
            let (key, value) = entry?;
            events.push((key.value(), postcard::from_bytes(value.value())?));
        }
        Ok(Recovery { snapshot, records, outbox: events })
    }

    /// Commits, in one durable transaction, log records, the events they produced (returning
    /// their sequence numbers) and the removal of delivered events.
    pub fn commit(
        &mut self,
        records: &[Vec<u8>],
        events: &[OutboxEvent],
        delivered: &[u64],
    ) -> Result<Vec<u64>, StorageError> {
        let write = self.db.begin_write()?;
        let mut sequences = Vec::with_capacity(events.len());
        {
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
        }
        write.commit()?;
        self.next_position += records.len() as u64;
        self.next_outbox += events.len() as u64;
        self.since_snapshot += records.len() as u64;
        self.since_snapshot_bytes += records.iter().map(|record| record.len() as u64).sum::<u64>();
        Ok(sequences)
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

    /// Stores a snapshot of the engine as of the last committed log record, and deletes the
    /// records it includes. `write` fills the `length` bytes of the snapshot in place.
    pub fn checkpoint<E: std::fmt::Display>(
        &mut self,
        length: usize,
        write_snapshot: impl FnOnce(&mut [u8]) -> Result<(), E>,
    ) -> Result<(), StorageError> {
        let position = self.next_position - 1;
        let length = u32::try_from(length).map_err(|_| StorageError::SnapshotTooLarge(length))?;
        let write = self.db.begin_write()?;
        {
            let mut meta = write.open_table(META)?;
            let mut value = meta.insert_reserve(SNAPSHOT, length)?;
            if let Err(error) = write_snapshot(value.as_mut()) {
                drop(value);
                drop(meta);
                write.abort()?;
                return Err(StorageError::Snapshot(error.to_string()));
            }
            drop(value);
            meta.insert(SNAPSHOT_POSITION, position.to_le_bytes().as_slice())?;
            let mut wal = write.open_table(WAL)?;
            wal.retain_in(..=position, |_, _| false)?;
        }
        write.commit()?;
        self.since_snapshot = 0;
        self.since_snapshot_bytes = 0;
        self.snapshot_bytes = u64::from(length);
        Ok(())
    }
}

fn position_from(bytes: &[u8]) -> u64 {
    bytes.try_into().map(u64::from_le_bytes).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Alert, Expiry, Labels, LogRecord};

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
            routing_key: "default".into(),
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
            assert_eq!(encode_batch(at, std::slice::from_ref(&log)).unwrap(), None, "logs are not logged");
            let batch = encode_batch(at, &[alert("A"), log, alert("B")]).unwrap().unwrap();
            let sequences = storage.commit(&[batch], &[event("k1"), event("k2")], &[]).unwrap();
            assert_eq!(sequences, vec![1, 2]);
            storage.commit(&[encode_advance(at).unwrap()], &[], &[1]).unwrap();
        }
        let mut storage = Storage::open(dir.path()).unwrap();
        let recovery = storage.recover().unwrap();
        assert!(recovery.snapshot.is_none());
        assert_eq!(recovery.records.len(), 2);
        match &recovery.records[0] {
            Record::Batch { at: time, events } => {
                assert_eq!(*time, at);
                assert_eq!(events, &vec![alert("A"), alert("B")]);
            }
            other => panic!("expected a batch, got {other:?}"),
        }
        assert_eq!(recovery.outbox, vec![(2, event("k2"))]);

        let state = |buffer: &mut [u8]| {
            buffer.copy_from_slice(b"state");
            Ok::<(), String>(())
        };
        storage.checkpoint(5, state).unwrap();
        storage.commit(&[encode_advance(at).unwrap()], &[event("k3")], &[]).unwrap();
        drop(storage);
        let storage = Storage::open(dir.path()).unwrap();
        let recovery = storage.recover().unwrap();
        assert_eq!(recovery.snapshot.as_deref(), Some(b"state".as_slice()));
        assert!(matches!(recovery.records.as_slice(), [Record::Advance { .. }]));
        assert_eq!(recovery.outbox.iter().map(|(sequence, _)| *sequence).collect::<Vec<_>>(), vec![2, 3]);
    }
}
