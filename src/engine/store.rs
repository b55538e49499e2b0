//! The alert store: one entry per distinct alert (fingerprint), so repeated sends of a firing
//! alert are recognised as duplicates instead of new alerts.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use xxhash_rust::xxh3::Xxh3;

use crate::model::{EventTime, Labels, Severity};

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

/// Hashes the labels in their sorted order, skipping `exclude` (sorted).
pub fn fingerprint(labels: &Labels, exclude: &[Box<str>]) -> Fingerprint {
    let mut hasher = Xxh3::new();
    for (name, value) in labels.iter() {
        if exclude
            .binary_search_by(|excluded| excluded.as_ref().cmp(name))
            .is_ok()
        {
            continue;
        }
        hasher.update(name.as_bytes());
        hasher.update(&[0xff]);
        hasher.update(value.as_bytes());
        hasher.update(&[0xff]);
    }
    hasher.digest()
}

/// What the engine remembers about one alert.
#[derive(Debug)]
pub struct AlertEntry {
    pub labels: Arc<Labels>,
    pub annotations: Arc<Labels>,
    pub starts_at: EventTime,
    /// When the alert stops (stopped) firing; `None` until an explicit resolve.
    pub ends_at: Option<EventTime>,
    pub severity: Severity,
    pub generator_url: Option<Arc<str>>,
    pub external_key: Option<Box<str>>,
    pub acknowledged: bool,
}

impl AlertEntry {
    pub fn is_resolved_at(&self, time: EventTime) -> bool {
        self.ends_at.is_some_and(|end| end <= time)
    }
}
