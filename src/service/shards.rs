//! One engine per Kafka partition this replica owns ("shards"), beside the main engine the
//! HTTP and gRPC listeners feed. Alerts that must be correlated arrive on one partition (the
//! partitioning contract), so a partition's engine sees them all, and its whole state can move
//! to another replica: the Kafka source publishes it to the changelog topic and the next owner
//! restores it before reading on.
//!
//! Events a shard's engine decides wait until the shard's next checkpoint: they are committed
//! to this replica's outbox (marked with their shard), listed in the state published to the
//! changelog, and only sent once the changelog has it ("held", then "parked", then sent). So
//! after a crash, the messages read again after the last checkpoint decide again exactly the
//! events that were never sent; and an owner that takes over from a replica that died sends
//! what that replica had not delivered (with the same `dedup_key`).

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::inbox::{ShardKey, ShardState};
use crate::metrics::Metrics;
use crate::storage::OutboxEvent;
use noisegate_engine::inventory::{LearnStats, Listing, Origin};
use noisegate_engine::model::Feedback;
use noisegate_engine::{Engine, EngineConfig, EngineStats, HeldAlert, IncidentSummary};

struct Shard {
    engine: Engine,
    /// Inputs applied, events decided or delivered since the last checkpoint.
    changed: bool,
    /// The same, since its view was last published to the other replicas.
    unviewed: bool,
    /// Its statistics as last published to the metrics.
    published: EngineStats,
    /// Its inventory learning's counts as last published.
    learning: LearnStats,
}

/// What the shards hold now, added to the main engine's in the metrics.
#[derive(Debug, Default)]
pub struct Held {
    pub alerts: u64,
    pub groups: u64,
    /// Learned inventory entries, in the order of `Learned::sizes`.
    pub inventory: [usize; 4],
}

pub struct Shards {
    replica: u64,
    shards: HashMap<ShardKey, Shard>,
    /// Undelivered events decided by shards (owned here or not any more), by outbox sequence.
    pending: HashMap<ShardKey, BTreeMap<u64, OutboxEvent>>,
    owners: HashMap<u64, ShardKey>,
    /// Decided since the shard's last checkpoint: not in the outbox yet.
    held: HashMap<ShardKey, Vec<OutboxEvent>>,
    /// In the outbox and in a checkpoint the changelog does not have yet: not sent yet.
    parked: HashMap<ShardKey, Vec<(u64, OutboxEvent)>>,
    /// Responders' feedback of late, for partitions taken over after it came.
    recent_feedback: VecDeque<(Instant, Feedback)>,
}

/// How long feedback is kept for partitions taken over later: longer than a partition takes
/// to move.
const RECENT_FEEDBACK: Duration = Duration::from_secs(600);
const RECENT_FEEDBACK_COUNT: usize = 4096;

impl Shards {
    /// The undelivered events the store holds are `track`ed again as they are read back.
    pub fn new(replica: u64) -> Shards {
        Shards {
            replica,
            shards: HashMap::new(),
            pending: HashMap::new(),
            owners: HashMap::new(),
            held: HashMap::new(),
            parked: HashMap::new(),
            recent_feedback: VecDeque::new(),
        }
    }

    pub fn replica(&self) -> u64 {
        self.replica
    }

    pub fn get_mut(&mut self, key: &str) -> Option<&mut Engine> {
        self.shards.get_mut(key).map(|shard| &mut shard.engine)
    }

    pub fn engines_mut(&mut self) -> impl Iterator<Item = (&ShardKey, &mut Engine)> {
        self.shards.iter_mut().map(|(key, shard)| (key, &mut shard.engine))
    }

    /// Takes a partition on, from its changelog state or afresh. Returns the events another
    /// replica decided and may not have delivered: they are this replica's to send now.
    pub fn assign(
        &mut self,
        key: ShardKey,
        state: Option<ShardState>,
        config: &EngineConfig,
    ) -> Result<Vec<OutboxEvent>, String> {
        let (engine, resend) = match state {
            None => (Engine::new(config.clone()), Vec::new()),
            Some(state) => {
                let engine = Engine::restore(config.clone(), &state.snapshot)
                    .map_err(|error| format!("cannot restore partition {key}: {error}"))?;
                // Ours are in our own outbox, delivered or on their way.
                let resend = if state.replica == self.replica { Vec::new() } else { state.pending };
                (engine, resend)
            }
        };
        let (published, learning) = (engine.stats(), engine.learned().stats);
        self.shards.insert(key, Shard { engine, published, learning, changed: false, unviewed: true });
        Ok(resend)
    }

    /// The partition went to another replica. Its undelivered events stay tracked: this
    /// replica's outbox still delivers them. Returns the parked ones, to send now; the held
    /// ones are dropped: its next owner decides them again from the last checkpoint.
    pub fn revoke(&mut self, key: &str) -> Vec<(u64, OutboxEvent)> {
        self.shards.remove(key);
        self.held.remove(key);
        self.parked.remove(key).unwrap_or_default()
    }

    /// Keeps an event a shard decided until the shard's next checkpoint.
    pub fn hold(&mut self, key: ShardKey, event: OutboxEvent) {
        self.changed(&key);
        self.held.entry(key).or_default().push(event);
    }

    /// Notes that the shard's state moved since its last checkpoint.
    pub fn changed(&mut self, key: &str) {
        if let Some(shard) = self.shards.get_mut(key) {
            shard.changed = true;
            shard.unviewed = true;
        }
    }

    /// The shards changed since their view was last taken, or all of them (marked viewed now).
    pub fn take_unviewed(&mut self, all: bool) -> Vec<(ShardKey, &Engine)> {
        self.shards
            .iter_mut()
            .filter_map(|(key, shard)| {
                let unviewed = std::mem::take(&mut shard.unviewed) || all;
                let shard: &Shard = shard;
                unviewed.then(|| (key.clone(), &shard.engine))
            })
            .collect()
    }

    /// Keeps feedback for partitions taken over later (`RECENT_FEEDBACK`, at most
    /// `RECENT_FEEDBACK_COUNT` of it).
    pub fn remember(&mut self, feedback: Feedback) {
        if self.recent_feedback.len() >= RECENT_FEEDBACK_COUNT {
            self.recent_feedback.pop_front();
        }
        self.recent_feedback.push_back((Instant::now(), feedback));
    }

    /// The feedback of the last `RECENT_FEEDBACK`, oldest first.
    pub fn recent_feedback(&mut self) -> impl Iterator<Item = &Feedback> {
        while self.recent_feedback.front().is_some_and(|(at, _)| at.elapsed() > RECENT_FEEDBACK) {
            self.recent_feedback.pop_front();
        }
        self.recent_feedback.iter().map(|(_, feedback)| feedback)
    }

    /// The events held for the checkpoint being taken, to commit to the outbox and park.
    pub fn take_held(&mut self, key: &str) -> Vec<OutboxEvent> {
        self.held.remove(key).unwrap_or_default()
    }

    pub fn park(&mut self, key: ShardKey, sequence: u64, event: OutboxEvent) {
        self.parked.entry(key).or_default().push((sequence, event));
    }

    /// The changelog has the shard's checkpoint: its parked events can go.
    pub fn release(&mut self, key: &str) -> Vec<(u64, OutboxEvent)> {
        self.parked.remove(key).unwrap_or_default()
    }

    /// Notes an event committed to the outbox, if a shard decided it.
    pub fn track(&mut self, sequence: u64, event: &OutboxEvent) {
        if let Some(shard) = &event.shard {
            let key: ShardKey = Arc::from(shard.as_ref());
            self.pending.entry(key.clone()).or_default().insert(sequence, event.clone());
            self.owners.insert(sequence, key);
        }
    }

    pub fn delivered(&mut self, sequence: u64) {
        if let Some(key) = self.owners.remove(&sequence) {
            self.changed(&key);
            if let Some(events) = self.pending.get_mut(&key) {
                events.remove(&sequence);
                if events.is_empty() {
                    self.pending.remove(&key);
                }
            }
        }
    }

    /// The partition's state for the changelog; `None` if it is not owned here, or unchanged
    /// since its last checkpoint (unless `force`).
    pub fn checkpoint(&mut self, key: &str, force: bool) -> Option<Result<ShardState, String>> {
        let shard = self.shards.get_mut(key)?;
        if !(force || std::mem::take(&mut shard.changed)) {
            return None;
        }
        shard.changed = false;
        let snapshot = shard.engine.snapshot().to_vec().map_err(|error| error.to_string());
        Some(snapshot.map(|snapshot| ShardState {
            replica: self.replica,
            snapshot,
            pending:
                self.pending.get(key).map(|events| events.values().cloned().collect()).unwrap_or_default(),
        }))
    }

    pub fn held_alerts(&self) -> impl Iterator<Item = HeldAlert> + '_ {
        self.shards.values().flat_map(|shard| shard.engine.held_alerts())
    }

    pub fn incidents(&self) -> impl Iterator<Item = IncidentSummary> + '_ {
        self.shards.values().flat_map(|shard| shard.engine.incidents())
    }

    /// The main engine's inventory with every partition's merged in: one entry per name (per
    /// caller and callee for calls), the one seen last winning, first seen the earliest.
    pub fn inventory(&self, main: Listing) -> Listing {
        if self.shards.is_empty() {
            return main;
        }
        let mut merged = main;
        // In partition order: of two sightings at the same time, the same one wins each time.
        let mut shards: Vec<(&ShardKey, &Shard)> = self.shards.iter().collect();
        shards.sort_unstable_by(|left, right| left.0.cmp(right.0));
        for (_, shard) in shards {
            let other = shard.engine.inventory();
            union(
                &mut merged.services,
                other.services,
                |entry| (&*entry.name, ""),
                |entry| &mut entry.origin,
            );
            union(&mut merged.nodes, other.nodes, |entry| (&*entry.name, ""), |entry| &mut entry.origin);
            union(&mut merged.pods, other.pods, |entry| (&*entry.name, ""), |entry| &mut entry.origin);
            union(&mut merged.calls, other.calls, |call| (&*call.from, &*call.to), |call| &mut call.origin);
        }
        // A service one partition's calls reach is no entry point, whatever another one saw.
        let called: HashSet<&str> = merged.calls.iter().map(|call| &*call.to).collect();
        for service in &mut merged.services {
            service.entry_point = !called.contains(&*service.name);
        }
        merged
    }

    /// Publishes the shards' counters; returns what they hold.
    pub fn publish(&mut self, metrics: &Metrics) -> Held {
        let mut held = Held::default();
        for shard in self.shards.values_mut() {
            let stats = shard.engine.stats();
            metrics.engine(&shard.published, &stats);
            shard.published = stats;
            held.alerts += stats.active_alerts;
            held.groups += stats.active_groups;
            let learned = shard.engine.learned();
            metrics.inventory_learning(&shard.learning, &learned.stats);
            shard.learning = learned.stats;
            for (total, (_, size)) in held.inventory.iter_mut().zip(learned.sizes()) {
                *total += size;
            }
        }
        held
    }

    /// The next hash-table growth of every shard (see `Engine::growth_bytes`).
    pub fn growth_bytes(&self) -> u64 {
        self.shards.values().map(|shard| shard.engine.growth_bytes()).sum()
    }
}

/// Adds `other`'s entries to `into`, by `key`: a known one is replaced when `other` saw it
/// later, keeping the earliest first sighting. `into` stays sorted by key.
fn union<T>(
    into: &mut Vec<T>,
    other: Vec<T>,
    key: impl Fn(&T) -> (&str, &str),
    origin: impl Fn(&mut T) -> &mut Origin,
) {
    let mut index: HashMap<(Box<str>, Box<str>), usize> = HashMap::with_capacity(into.len());
    for (position, entry) in into.iter().enumerate() {
        let (first, second) = key(entry);
        index.insert((first.into(), second.into()), position);
    }
    for mut entry in other {
        let (first, second) = key(&entry);
        let Some(&position) = index.get(&(first.into(), second.into())) else {
            index.insert((first.into(), second.into()), into.len());
            into.push(entry);
            continue;
        };
        let (held, seen) = (*origin(&mut into[position]), *origin(&mut entry));
        if seen.last_seen > held.last_seen {
            into[position] = entry;
        }
        let winner = origin(&mut into[position]);
        if let (Some(held), Some(seen)) = (held.first_seen, seen.first_seen) {
            winner.first_seen = Some(held.min(seen));
        }
    }
    into.sort_by(|left, right| key(left).cmp(&key(right)));
}

#[cfg(test)]
mod tests {
    use super::*;
    use noisegate_engine::inventory::Entry;
    use noisegate_engine::model::EventTime;

    fn node(name: &str, seen: Option<(i64, i64)>) -> Entry {
        let origin = match seen {
            Some((first, last)) => Origin {
                source: "logs",
                first_seen: Some(EventTime::from_millis(first)),
                last_seen: Some(EventTime::from_millis(last)),
            },
            None => Origin { source: "config", first_seen: None, last_seen: None },
        };
        Entry { name: name.into(), origin }
    }

    #[test]
    fn partitions_entries_merge_by_name_the_latest_sighting_winning_from_the_earliest() {
        let mut merged = vec![node("a", None), node("c", Some((10, 20)))];
        union(
            &mut merged,
            vec![node("a", None), node("b", Some((5, 6))), node("c", Some((5, 30)))],
            |entry| (&*entry.name, ""),
            |entry| &mut entry.origin,
        );
        assert_eq!(merged, [node("a", None), node("b", Some((5, 6))), node("c", Some((5, 30)))]);
        union(
            &mut merged,
            vec![node("c", Some((15, 25)))],
            |entry| (&*entry.name, ""),
            |entry| &mut entry.origin,
        );
        assert_eq!(merged[2], node("c", Some((5, 30))), "an earlier sighting changes nothing");
    }
}
