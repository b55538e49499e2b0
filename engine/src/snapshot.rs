//! Snapshots of the engine's state, for the durable store: every alert, group, incident, API
//! silence, flapping record and the history of alert kinds. What the config derives (routes,
//! inventory subjects, pattern hits, inhibition indexes) is not stored but derived again on
//! restore, under the config in force then; inventory roots are stored by name, and the learned
//! inventory's facts are applied again to the config's; the groups' timers are derived from the
//! groups. The on-call tallies (what happened to each group's alerts, what a plain route would
//! page) follow, then the history novelty is judged against, each group's surprises, the
//! memory of past incidents and the log templates with their counts and evidence.
//!
//! Taking a snapshot clones the state, most of it copy-on-write (`cow`), in microseconds;
//! writing it is the caller's, on whatever thread it likes.

use std::cmp::Reverse;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::cow::{CowMap, Share};
use super::group::{Group, TopologyLink};
use super::inventory::Learned;
use super::memory::Memory;
use super::novelty::{Seen, Surprises};
use super::score::History;
use super::silence::Silence;
use super::store::{AlertEntries, AlertTable, FlapTracker, KeyMap};
use super::tally::{AlertCounts, PlainRoutes};
use super::topology::{Entity, find_root};
use super::{Engine, EngineConfig, EngineStats, LogConfig, LogMiner};
use crate::model::{EventTime, Severity};

/// Bumped when the layout or its meaning changes; a snapshot of another version is refused,
/// not misread (versions 2 to 5, the same without the learned inventory, the tallies,
/// novelty or the log templates, are read; version 6's log templates, of the miner before
/// templates learned their variables, start over).
const VERSION: u32 = 7;

#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("snapshot format version {0} is not this build's ({VERSION})")]
    Version(u32),
    #[error("corrupt snapshot: {0}")]
    Corrupt(#[from] postcard::Error),
}

/// An inventory root by name, so that a changed inventory cannot misread it.
#[derive(Serialize, Deserialize)]
struct Link {
    service: bool,
    root: String,
    last_join: EventTime,
    severity: Severity,
}

/// What a snapshot holds, cloned from the engine to write it on another thread (the large
/// parts are copy-on-write: see `cow`)...
#[derive(Serialize)]
struct SnapshotState {
    version: u32,
    now: EventTime,
    next_seq: u64,
    stats: EngineStats,
    alerts: AlertEntries,
    groups: CowMap<u64, Group>,
    links: Vec<(u64, Link)>,
    topology_groups: Vec<u64>,
    /// Derived from the groups on restore: written empty.
    timers: EmptySeq,
    flaps: FlapTracker,
    silences: Vec<Silence>,
    history: History,
    learned: Learned,
    counts: CowMap<u64, AlertCounts>,
    plain: PlainRoutes,
    seen: Seen,
    surprises: CowMap<u64, Surprises>,
    splits: CowMap<u64, u64>,
    memory: Memory,
    logs: LogMiner,
}

/// ...and owned, to read it (the same fields in the same order; `logs` is `Dropped` for a
/// version whose log state this build does not read).
#[derive(Deserialize)]
struct Snapshot<L = LogMiner> {
    /// Checked before the rest is read.
    #[serde(rename = "version")]
    _version: u32,
    now: EventTime,
    next_seq: u64,
    stats: EngineStats,
    alerts: AlertTable,
    groups: CowMap<u64, Group>,
    links: Vec<(u64, Link)>,
    topology_groups: Vec<u64>,
    /// Empty since version 6; the timers of earlier versions are derived again all the same.
    #[serde(rename = "timers")]
    _timers: Vec<(EventTime, u64, u64)>,
    flaps: FlapTracker,
    silences: Vec<Silence>,
    history: History,
    learned: Learned,
    counts: CowMap<u64, AlertCounts>,
    plain: PlainRoutes,
    seen: Seen,
    surprises: CowMap<u64, Surprises>,
    splits: CowMap<u64, u64>,
    memory: Memory,
    logs: L,
}

/// The log state of a snapshot, as read.
trait ReadLogs {
    fn miner(self, config: LogConfig) -> LogMiner;
}

impl ReadLogs for LogMiner {
    fn miner(self, config: LogConfig) -> LogMiner {
        self.restored(config)
    }
}

/// Log state of an earlier layout, not read: it is last in the snapshot, and the miner starts
/// over.
struct Dropped;

impl<'de> Deserialize<'de> for Dropped {
    fn deserialize<D: serde::Deserializer<'de>>(_: D) -> Result<Dropped, D::Error> {
        Ok(Dropped)
    }
}

impl ReadLogs for Dropped {
    fn miner(self, config: LogConfig) -> LogMiner {
        LogMiner::new(config)
    }
}

/// A sequence written empty, in place of state a restore derives.
struct EmptySeq;

impl Serialize for EmptySeq {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        empty_seq(&(), serializer)
    }
}

/// Writes any field as an empty sequence (`serialize_with`).
pub(crate) fn empty_seq<T, S: serde::Serializer>(_: &T, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_seq(std::iter::empty::<()>())
}

/// The engine's state as of one step, independent of the engine from then on: taking it
/// costs microseconds whatever the state's size (see `cow`), and it is written (postcard)
/// wherever the caller likes, straight into the store's buffer, so that a snapshot of a large
/// state does not need a second copy of it in memory.
pub struct EngineSnapshot(SnapshotState);

impl EngineSnapshot {
    /// The snapshot's size in bytes.
    pub fn size(&self) -> Result<usize, SnapshotError> {
        Ok(postcard::serialize_with_flavor(&self.0, postcard::ser_flavors::Size::default())?)
    }

    /// Writes the snapshot into `buffer`, which must be `size()` bytes.
    pub fn write_to(&self, buffer: &mut [u8]) -> Result<(), SnapshotError> {
        postcard::to_slice(&self.0, buffer)?;
        Ok(())
    }

    pub fn to_vec(&self) -> Result<Vec<u8>, SnapshotError> {
        Ok(postcard::to_allocvec(&self.0)?)
    }
}

impl Engine {
    /// The engine's state, to be written: see `EngineSnapshot`. `&mut`: the copy-on-write
    /// parts are marked shared.
    pub fn snapshot(&mut self) -> EngineSnapshot {
        let topology = &self.config.topology;
        let links = self
            .topology_groups
            .iter()
            .filter_map(|key| {
                let link = self.groups.get(key)?.topology.as_ref()?;
                let link = Link {
                    service: matches!(link.root, Entity::Service(_)),
                    root: topology.entity_name(link.root).to_owned(),
                    last_join: link.last_join,
                    severity: link.severity,
                };
                Some((*key, link))
            })
            .collect();
        EngineSnapshot(SnapshotState {
            version: VERSION,
            now: self.now,
            next_seq: self.next_seq,
            stats: self.stats,
            alerts: self.alerts.entries(),
            groups: self.groups.share(),
            links,
            topology_groups: self.topology_groups.clone(),
            timers: EmptySeq,
            flaps: self.flaps.share(),
            silences: self.silences.clone(),
            history: self.history.clone(),
            learned: self.learned.share(),
            counts: self.counts.share(),
            plain: self.plain.snapshot(),
            seen: self.seen.share(),
            surprises: self.surprises.share(),
            splits: self.splits.share(),
            memory: self.memory.share(),
            logs: self.logs.share(),
        })
    }

    /// An engine with `config` and the state of a snapshot.
    pub fn restore(config: EngineConfig, bytes: &[u8]) -> Result<Engine, SnapshotError> {
        // The version comes first, so it can be checked before the rest is read.
        let (version, _) = postcard::take_from_bytes::<u32>(bytes)?;
        let snapshot: Snapshot = match version {
            VERSION => postcard::from_bytes(bytes)?,
            6 => {
                return Ok(Engine::rebuild(
                    config,
                    version,
                    postcard::from_bytes::<Snapshot<Dropped>>(bytes)?,
                ));
            }
            // Earlier versions lack the last fields: postcard has no framing, so empty ones
            // appended make them read as this version (version 2 lacks the learned inventory,
            // versions 2 and 3 the tallies, versions 2 to 4 novelty, versions 2 to 5 the log
            // templates; the timers versions 2 to 5 hold are derived all the same).
            2..=5 => {
                let mut upgraded = bytes.to_vec();
                if version == 2 {
                    upgraded.extend(postcard::to_allocvec(&Learned::default())?);
                }
                if version <= 3 {
                    upgraded.extend(postcard::to_allocvec(&KeyMap::<AlertCounts>::default())?);
                    upgraded.extend(postcard::to_allocvec(&PlainRoutes::default())?);
                }
                if version <= 4 {
                    upgraded.extend(postcard::to_allocvec(&Seen::default())?);
                    upgraded.extend(postcard::to_allocvec(&KeyMap::<Surprises>::default())?);
                    upgraded.extend(postcard::to_allocvec(&KeyMap::<u64>::default())?);
                    upgraded.extend(postcard::to_allocvec(&Memory::default())?);
                }
                upgraded.extend(postcard::to_allocvec(&LogMiner::new(config.logs))?);
                postcard::from_bytes(&upgraded)?
            }
            _ => return Err(SnapshotError::Version(version)),
        };
        Ok(Engine::rebuild(config, version, snapshot))
    }

    /// The engine a snapshot read describes.
    fn rebuild<L: ReadLogs>(config: EngineConfig, version: u32, snapshot: Snapshot<L>) -> Engine {
        let mut engine = Engine::new(config);
        engine.now = snapshot.now;
        engine.next_seq = snapshot.next_seq;
        engine.stats = snapshot.stats;
        engine.alerts = snapshot.alerts;
        engine.groups = snapshot.groups;
        engine.timers = engine
            .groups
            .iter()
            .filter(|(_, group)| group.scheduled)
            .map(|(key, group)| Reverse((group.next_flush, group.timer_seq, *key)))
            .collect();
        engine.flaps = snapshot.flaps;
        engine.silences = snapshot.silences;
        engine.history = snapshot.history;
        engine.learned = snapshot.learned;
        engine.counts = snapshot.counts;
        if version <= 3 {
            // Groups of an earlier version count from now on.
            engine.counts = engine.groups.keys().map(|key| (*key, AlertCounts::default())).collect();
        }
        engine.plain = snapshot.plain;
        engine.plain.restored();
        engine.seen = snapshot.seen;
        engine.surprises = snapshot.surprises;
        engine.splits = snapshot.splits;
        engine.memory = snapshot.memory;
        engine.logs = snapshot.logs.miner(engine.config.logs);
        engine.apply_learned();
        let learning = engine.config.learning.enabled;
        for (key, link) in snapshot.links {
            let topology = Arc::make_mut(&mut engine.config.topology);
            let root = find_root(topology, link.service, &link.root, learning);
            if let (Some(group), Some(root)) = (engine.groups.get_mut(&key), root) {
                group.topology = Some(TopologyLink {
                    root,
                    last_join: link.last_join,
                    severity: link.severity,
                    root_hint: None,
                });
            }
        }
        engine.topology_groups = snapshot.topology_groups;
        engine.derive_from_config();
        engine
    }
}
