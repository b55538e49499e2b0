//! The alert store: one entry per distinct alert (fingerprint), so repeated sends of a firing
//! alert are recognised as duplicates instead of new alerts.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::{Xxh3, xxh3_64, xxh3_64_with_seed};

use std::time::Duration;

use super::catalog::AlertClass;
use super::cow::{CowMap, CowVec, Share};
use super::patterns::PatternHits;
use super::topology::Subject;
use crate::model::{Alert, EventTime, Expiry, Labels, Severity};

/// The identity of an alert: a hash of its labels minus the configured excluded labels.
pub type Fingerprint = u64;

/// Keys of the engine's maps are already uniformly distributed hashes; hashing them again
/// would only cost time.
#[derive(Default)]
pub struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u64` is used by `u64` keys; fold anything else in for completeness.
        for byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*byte);
        }
    }

    fn write_u64(&mut self, value: u64) {
        self.0 = value;
    }
}

pub type KeyMap<V> = HashMap<u64, V, BuildHasherDefault<KeyHasher>>;

/// Hashes the labels in their sorted order, skipping `exclude`: the kept text in as few
/// contiguous runs as the excluded labels allow, then every kept name's and value's length (so
/// that `a=bc` and `ab=c` differ).
pub fn fingerprint(labels: &Labels, exclude: &[Box<str>]) -> Fingerprint {
    // Positions of the excluded labels present, as a bit set (an excluded label sorting after
    // the 64th label is hashed: labels are capped well below that by default).
    let skip: u64 = exclude
        .iter()
        .filter_map(|name| labels.position(name))
        .filter(|index| *index < 64)
        .fold(0, |mask, index| mask | 1 << index);
    let (text, pairs) = labels.packed();
    let text = text.as_bytes();
    let mut lengths: u64 = 0xcbf2_9ce4_8422_2325;
    // The kept runs of text, hashed one-shot and chained through the seed (cheaper than a
    // streaming hasher for a few hundred bytes).
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut run_start = 0;
    for (index, (start, middle, end)) in pairs.enumerate() {
        if index < 64 && skip & (1 << index) != 0 {
            seed = xxh3_64_with_seed(&text[run_start..start], seed);
            run_start = end;
            continue;
        }
        for length in [middle - start, end - middle] {
            lengths = (lengths ^ length as u64).wrapping_mul(0x0100_0000_01b3);
        }
    }
    seed = xxh3_64_with_seed(&text[run_start..], seed);
    xxh3_64_with_seed(&lengths.to_le_bytes(), seed)
}

/// The identity of an alert its sender named (PagerDuty's `dedup_key`), whatever its labels.
pub fn key_fingerprint(key: &str) -> Fingerprint {
    let mut hasher = Xxh3::new();
    hasher.update(b"external-key\xff");
    hasher.update(key.as_bytes());
    hasher.digest()
}

/// The alerts by fingerprint, stored densely: an index from fingerprint to slot, and the entries
/// side by side in a vector. A hash table of the entries themselves would keep up to twice as
/// many buckets as alerts, each the size of an entry; here a spare bucket costs 16 bytes.
/// Removal moves the last entry into the freed slot, so the order of iteration is the order of
/// insertion only until the first removal (deterministic either way: replay and serve agree).
///
/// The entries are a `CowVec`, so that a snapshot holds them without copying; the index is
/// the engine's own (a snapshot does not need it).
#[derive(Default)]
pub struct AlertTable {
    slots: KeyMap<u32>,
    entries: CowVec<(Fingerprint, AlertEntry)>,
}

impl AlertTable {
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn get(&self, fingerprint: &Fingerprint) -> Option<&AlertEntry> {
        let slot = *self.slots.get(fingerprint)?;
        self.entries.get(slot as usize).map(|(_, entry)| entry)
    }

    pub fn get_mut(&mut self, fingerprint: &Fingerprint) -> Option<&mut AlertEntry> {
        let slot = *self.slots.get(fingerprint)?;
        self.entries.get_mut(slot as usize).map(|(_, entry)| entry)
    }

    /// Stores the entry, returning the one it replaces.
    pub fn insert(&mut self, fingerprint: Fingerprint, entry: AlertEntry) -> Option<AlertEntry> {
        if let Some(current) = self.get_mut(&fingerprint) {
            return Some(std::mem::replace(current, entry));
        }
        // Slots are u32: the alert cap keeps the table far below 4 billion entries.
        let slot = u32::try_from(self.entries.len()).unwrap_or(u32::MAX);
        self.slots.insert(fingerprint, slot);
        self.entries.push((fingerprint, entry));
        None
    }

    pub fn remove(&mut self, fingerprint: &Fingerprint) -> Option<AlertEntry> {
        let slot = self.slots.remove(fingerprint)? as usize;
        if slot >= self.entries.len() {
            return None;
        }
        let (_, entry) = self.entries.swap_remove(slot)?;
        if let Some((moved, _)) = self.entries.get(slot) {
            self.slots.insert(*moved, slot as u32);
        }
        Some(entry)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&Fingerprint, &AlertEntry)> {
        self.entries.iter().map(|(fingerprint, entry)| (fingerprint, entry))
    }

    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&Fingerprint, &mut AlertEntry)> {
        self.entries.iter_mut().map(|(fingerprint, entry)| (&*fingerprint, entry))
    }

    /// Bytes the table would allocate if it grew now: the index doubles (briefly holding the
    /// old one too) when it is near full; the entries take one more chunk.
    pub fn growth_bytes(&self) -> u64 {
        let len = self.entries.len();
        let mut bytes = 0;
        if len + len / 8 + 64 >= self.slots.capacity() {
            bytes += (self.slots.capacity() as u64 * 2 + 64) * (std::mem::size_of::<(u64, u32)>() as u64 + 1);
        }
        // The entries grow a chunk at a time.
        bytes += CowVec::<(u64, AlertEntry)>::CHUNK_BYTES;
        bytes
    }
}

/// The alert table's entries, shared with it until either changes (see `cow`): what a
/// snapshot holds of it. Written as the table is read, a map of fingerprints to alerts.
pub struct AlertEntries(CowVec<(Fingerprint, AlertEntry)>);

impl AlertTable {
    /// The entries, shared with a snapshot (see `cow`).
    pub fn entries(&mut self) -> AlertEntries {
        AlertEntries(self.entries.share())
    }
}

impl Serialize for AlertEntries {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (fingerprint, entry) in self.0.iter() {
            map.serialize_entry(fingerprint, entry)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for AlertTable {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<AlertTable, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = AlertTable;
            fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
                formatter.write_str("a map of fingerprints to alerts")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<AlertTable, A::Error> {
                let mut table = AlertTable::default();
                while let Some((fingerprint, entry)) = map.next_entry()? {
                    table.insert(fingerprint, entry);
                }
                Ok(table)
            }
        }
        deserializer.deserialize_map(Visitor)
    }
}

/// Generator URLs: the alerts of one rule carry the same one, so the engine keeps one copy of
/// each recent URL rather than one per alert. Direct-mapped by hash: a URL that collides with
/// another in use just gets a copy of its own.
pub struct UrlCache {
    slots: Box<[Option<Arc<str>>]>,
}

impl Default for UrlCache {
    fn default() -> UrlCache {
        UrlCache { slots: vec![None; 1024].into_boxed_slice() }
    }
}

impl UrlCache {
    pub fn intern(&mut self, url: &str) -> Arc<str> {
        let index = xxh3_64(url.as_bytes()) as usize % self.slots.len();
        match &mut self.slots[index] {
            Some(cached) if **cached == *url => cached.clone(),
            slot => slot.insert(Arc::from(url)).clone(),
        }
    }
}

/// A re-send of an alert the engine holds with the same annotations and generator URL: what
/// the write-ahead log keeps of it instead of the whole alert (`Engine::repeat_of`,
/// `Engine::repeated`). Its labels too, when they differ from the held ones in excluded labels
/// (the other Prometheus of an HA pair).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Repeat {
    pub fingerprint: Fingerprint,
    pub starts_at: Option<EventTime>,
    pub ends_at: Option<EventTime>,
    pub resolved: bool,
    pub expiry: Expiry,
    pub severity: Option<Severity>,
    /// The labels differ from the held alert's: the log keeps them.
    #[serde(skip)]
    pub own_labels: bool,
}

/// What the engine remembers about one alert. What the config derives from its labels
/// (subject, patterns, route, inhibition targets) is not stored in snapshots: a restore derives
/// it again.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AlertEntry {
    pub labels: Arc<Labels>,
    pub annotations: Arc<Labels>,
    pub starts_at: EventTime,
    /// When the alert stops (stopped) firing; `None` until an explicit resolve.
    pub ends_at: Option<EventTime>,
    pub severity: Severity,
    pub generator_url: Option<Arc<str>>,
    pub acknowledged: bool,
    /// What the alert is about, from the inventory.
    #[serde(skip)]
    pub subject: Option<Subject>,
    /// What the catalog says its name reports; `None` for an alert it does not know.
    #[serde(skip)]
    pub class: Option<AlertClass>,
    /// The catalog says it means its entity is unavailable as a whole.
    #[serde(skip)]
    pub down: bool,
    /// What the pattern rules said about its name and text, when they said anything (most
    /// alerts match none: boxed, the empty case costs 8 bytes instead of 56).
    #[serde(skip)]
    pub patterns: Option<Box<PatternHits>>,
    /// Fired and resolved often enough lately to be held open once paged.
    pub flapping: bool,
    /// Listed as firing in a page: it keeps its incident open (and gets it resolved) even if
    /// muted later.
    pub paged: bool,
    /// How long a resolve is held back once the alert paged (flapping alerts).
    pub hold: Duration,
    /// The group the alert belongs to.
    pub group: u64,
    /// The route its labels select (its `group_wait` applies when it joins a group).
    #[serde(skip)]
    pub route: usize,
    /// Inhibition rules whose target matchers it matches (`Inhibitor::target_rules`).
    #[serde(skip)]
    pub inhibit_targets: u64,
    /// What kept it from paging at its latest flush, for the statistics of what each
    /// mechanism removed.
    pub fate: Fate,
}

/// What kept a firing alert from paging at a flush.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Fate {
    /// Nothing (yet): it paged, or was still settling or waiting for its group.
    #[default]
    Open,
    Silenced,
    Inhibited,
    KnownNoise,
    /// It was in an incident its score sent to the digest or suppressed.
    Scored,
}

impl Fate {
    /// From the mute reason `Mutes::reason` gave.
    pub fn of_mute(reason: &str) -> Fate {
        if reason.starts_with("silenced") {
            Fate::Silenced
        } else if reason.starts_with("known noise") {
            Fate::KnownNoise
        } else {
            Fate::Inhibited
        }
    }
}

/// What a re-send changed.
pub struct Refreshed {
    /// The labels before, when they changed (sender-keyed alerts only).
    pub old_labels: Option<Arc<Labels>>,
    pub annotations: bool,
}

impl AlertEntry {
    /// Whether it has stopped firing by `time`. A flapping alert that paged is held open for
    /// its hold after each short episode (one shorter than the hold itself: a flap), so that
    /// it does not page again at every flap; an episode that lasted longer was a problem of
    /// its own, and its end is the end.
    pub fn is_resolved_at(&self, time: EventTime) -> bool {
        self.ends_at.is_some_and(|end| {
            let flap = end.since(self.starts_at) < self.hold;
            let hold = if self.paged && flap { self.hold } else { Duration::ZERO };
            end.saturating_add(hold) <= time
        })
    }

    /// Takes what a re-send may change: annotations, severity, generator URL and (for
    /// sender-keyed alerts, whose identity is not their labels) labels. Allocates only for what
    /// actually changed, which for a plain re-send is nothing.
    pub fn refresh(&mut self, alert: Alert, default_severity: Severity, urls: &mut UrlCache) -> Refreshed {
        let mut refreshed = Refreshed { old_labels: None, annotations: false };
        if alert.external_key.is_some() && *self.labels != alert.labels {
            refreshed.old_labels = Some(std::mem::replace(&mut self.labels, Arc::new(alert.labels)));
        }
        if *self.annotations != alert.annotations {
            self.annotations = Arc::new(alert.annotations);
            refreshed.annotations = true;
        }
        self.severity = alert.severity.unwrap_or(default_severity);
        if self.generator_url.as_deref() != alert.generator_url.as_deref() {
            self.generator_url = alert.generator_url.map(|url| urls.intern(&url));
        }
        refreshed
    }

    /// The severity the alert pages with: must-page phrases make it at least high urgency.
    pub fn page_severity(&self) -> Severity {
        if self.patterns().must_page.is_some() { self.severity.max(Severity::Error) } else { self.severity }
    }

    pub fn patterns(&self) -> &PatternHits {
        static NONE: PatternHits = PatternHits::NONE;
        self.patterns.as_deref().unwrap_or(&NONE)
    }
}

/// Recent episode starts per alert, kept past the alert's own life (a resolved alert is
/// forgotten, its flapping history must not be).
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct FlapTracker {
    history: CowMap<u64, (EventTime, u32)>,
    swept_at_len: usize,
}

impl Share for FlapTracker {
    fn share(&mut self) -> FlapTracker {
        FlapTracker { history: self.history.share(), swept_at_len: self.swept_at_len }
    }
}

impl FlapTracker {
    /// Records an episode start; returns whether the alert now counts as flapping (at least
    /// `threshold` starts within `window`).
    pub fn record(
        &mut self,
        fingerprint: Fingerprint,
        now: EventTime,
        window: Duration,
        threshold: u32,
    ) -> bool {
        let (window_start, count) = self.history.get_or_insert_with(fingerprint, || (now, 0));
        if now.since(*window_start) > window {
            *window_start = now;
            *count = 0;
        }
        *count += 1;
        let flapping = threshold > 0 && *count >= threshold;
        if self.history.len() > 2 * self.swept_at_len + 1024 {
            self.history.retain(|_, (start, _)| now.since(*start) <= window);
            self.swept_at_len = self.history.len();
        }
        flapping
    }
}
