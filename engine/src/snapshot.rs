//! Snapshots of the engine's state, for the durable store: every alert, group, incident, timer,
//! API silence, flapping record and the history of alert kinds. What the config derives (routes,
//! inventory subjects, pattern hits, inhibition indexes) is not stored but derived again on
//! restore, under the config in force then; inventory roots are stored by name, and the learned
//! inventory's facts are applied again to the config's. The on-call tallies (what happened to
//! each group's alerts, what a plain route would page) follow, then the history novelty is
//! judged against and each group's surprises. Log templates are not stored: they are
//! relearned from the logs that follow.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::group::{Group, TopologyLink};
use super::inventory::Learned;
use super::memory::Memory;
use super::novelty::{Seen, Surprises};
use super::score::History;
use super::silence::Silence;
use super::store::{AlertTable, FlapTracker, KeyMap};
use super::tally::{AlertCounts, PlainRoutes};
use super::topology::{Entity, find_root};
use super::{Engine, EngineConfig, EngineStats, Timer};
use crate::model::{EventTime, Severity};

/// Bumped when the layout changes; a snapshot of another version is refused, not misread
/// (versions 2 to 4, the same without the learned inventory, the tallies or novelty, are read).
const VERSION: u32 = 5;

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

/// What a snapshot holds, borrowed from the engine to write it...
#[derive(Serialize)]
struct SnapshotRef<'a> {
    version: u32,
    now: EventTime,
    next_seq: u64,
    stats: &'a EngineStats,
    alerts: &'a AlertTable,
    groups: &'a KeyMap<Group>,
    links: Vec<(u64, Link)>,
    topology_groups: &'a [u64],
    timers: &'a BinaryHeap<Timer>,
    flaps: &'a FlapTracker,
    silences: &'a [Silence],
    history: &'a History,
    learned: &'a Learned,
    counts: &'a KeyMap<AlertCounts>,
    plain: &'a PlainRoutes,
    seen: &'a Seen,
    surprises: &'a KeyMap<Surprises>,
    splits: &'a KeyMap<u64>,
    memory: &'a Memory,
}

/// ...and owned, to read it (the same fields in the same order).
#[derive(Deserialize)]
struct Snapshot {
    /// Checked before the rest is read.
    #[serde(rename = "version")]
    _version: u32,
    now: EventTime,
    next_seq: u64,
    stats: EngineStats,
    alerts: AlertTable,
    groups: KeyMap<Group>,
    links: Vec<(u64, Link)>,
    topology_groups: Vec<u64>,
    timers: BinaryHeap<Reverse<(EventTime, u64, u64)>>,
    flaps: FlapTracker,
    silences: Vec<Silence>,
    history: History,
    learned: Learned,
    counts: KeyMap<AlertCounts>,
    plain: PlainRoutes,
    seen: Seen,
    surprises: KeyMap<Surprises>,
    splits: KeyMap<u64>,
    memory: Memory,
}

/// The engine's state, ready to be written (postcard), straight into the store's buffer so
/// that a snapshot of a large state does not need a second copy of it in memory.
pub struct EngineSnapshot<'a>(SnapshotRef<'a>);

impl EngineSnapshot<'_> {
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
    /// The engine's state, to be written.
    pub fn snapshot(&self) -> EngineSnapshot<'_> {
        let topology = &self.config.topology;
        let links = self
            .groups
            .iter()
            .filter_map(|(key, group)| {
                let link = group.topology.as_ref()?;
                let link = Link {
                    service: matches!(link.root, Entity::Service(_)),
                    root: topology.entity_name(link.root).to_owned(),
                    last_join: link.last_join,
                    severity: link.severity,
                };
                Some((*key, link))
            })
            .collect();
        let snapshot = SnapshotRef {
            version: VERSION,
            now: self.now,
            next_seq: self.next_seq,
            stats: &self.stats,
            alerts: &self.alerts,
            groups: &self.groups,
            links,
            topology_groups: &self.topology_groups,
            timers: &self.timers,
            flaps: &self.flaps,
            silences: &self.silences,
            history: &self.history,
            learned: &self.learned,
            counts: &self.counts,
            plain: &self.plain,
            seen: &self.seen,
            surprises: &self.surprises,
            splits: &self.splits,
            memory: &self.memory,
        };
        EngineSnapshot(snapshot)
    }

    /// An engine with `config` and the state of a snapshot.
    pub fn restore(config: EngineConfig, bytes: &[u8]) -> Result<Engine, SnapshotError> {
        // The version comes first, so it can be checked before the rest is read.
        let (version, _) = postcard::take_from_bytes::<u32>(bytes)?;
        let snapshot: Snapshot = match version {
            VERSION => postcard::from_bytes(bytes)?,
            // Earlier versions lack the last fields: postcard has no framing, so empty ones
            // appended make them read as this version (version 2 lacks the learned inventory,
            // versions 2 and 3 the tallies, versions 2 to 4 novelty).
            2..=4 => {
                let mut upgraded = bytes.to_vec();
                if version == 2 {
                    upgraded.extend(postcard::to_allocvec(&Learned::default())?);
                }
                if version <= 3 {
                    upgraded.extend(postcard::to_allocvec(&KeyMap::<AlertCounts>::default())?);
                    upgraded.extend(postcard::to_allocvec(&PlainRoutes::default())?);
                }
                upgraded.extend(postcard::to_allocvec(&Seen::default())?);
                upgraded.extend(postcard::to_allocvec(&KeyMap::<Surprises>::default())?);
                upgraded.extend(postcard::to_allocvec(&KeyMap::<u64>::default())?);
                upgraded.extend(postcard::to_allocvec(&Memory::default())?);
                postcard::from_bytes(&upgraded)?
            }
            _ => return Err(SnapshotError::Version(version)),
        };
        let mut engine = Engine::new(config);
        engine.now = snapshot.now;
        engine.next_seq = snapshot.next_seq;
        engine.stats = snapshot.stats;
        engine.alerts = snapshot.alerts;
        engine.groups = snapshot.groups;
        engine.timers = snapshot.timers;
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
        engine.seen = snapshot.seen;
        engine.surprises = snapshot.surprises;
        engine.splits = snapshot.splits;
        engine.memory = snapshot.memory;
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
        Ok(engine)
    }
}
