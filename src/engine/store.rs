//! The alert store: one entry per distinct alert (fingerprint), so repeated sends of a firing
//! alert are recognised as duplicates instead of new alerts.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use xxhash_rust::xxh3::Xxh3;

use crate::model::{Alert, EventTime, Labels, Severity};

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

/// The identity of an alert its sender named (PagerDuty's `dedup_key`), whatever its labels.
pub fn key_fingerprint(key: &str) -> Fingerprint {
    let mut hasher = Xxh3::new();
    hasher.update(b"external-key\xff");
    hasher.update(key.as_bytes());
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
    pub acknowledged: bool,
}

impl AlertEntry {
    /// Takes what a re-send may change: annotations, severity, generator URL and (for
    /// sender-keyed alerts, whose identity is not their labels) labels. Allocates only for what
    /// actually changed, which for a plain re-send is nothing.
    pub fn refresh(&mut self, alert: Alert, default_severity: Severity) {
        if alert.external_key.is_some() && *self.labels != alert.labels {
            self.labels = Arc::new(alert.labels);
        }
        if *self.annotations != alert.annotations {
            self.annotations = Arc::new(alert.annotations);
        }
        self.severity = alert.severity.unwrap_or(default_severity);
        if self.generator_url.as_deref() != alert.generator_url.as_deref() {
            self.generator_url = alert.generator_url.map(Arc::from);
        }
    }

    pub fn is_resolved_at(&self, time: EventTime) -> bool {
        self.ends_at.is_some_and(|end| end <= time)
    }
}
