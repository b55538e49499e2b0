//! The recent decisions about each incident, for the console's incident timeline: a bounded
//! memory of the decisions log (the incidents most recently decided about, the latest
//! decisions of each). Written by the engine thread once per decision, read by the admin API.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};

use serde::Serialize;

use crate::json::round;
use noisegate_engine::DecisionRecord;

/// Incidents remembered, and decisions per incident.
const INCIDENTS: usize = 2000;
const PER_INCIDENT: usize = 100;

#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    pub at: String,
    pub decision: &'static str,
    pub tier: &'static str,
    pub score: f64,
}

#[derive(Default)]
pub struct Timeline {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    entries: HashMap<Arc<str>, VecDeque<Entry>>,
    /// Incidents in the order they were first decided about, to forget the oldest.
    order: VecDeque<Arc<str>>,
}

impl Timeline {
    pub fn record(&self, record: &DecisionRecord) {
        let entry = Entry {
            at: record.at.to_string(),
            decision: record.kind.as_str(),
            tier: record.tier.as_str(),
            score: round(record.score),
        };
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        if !inner.entries.contains_key(&record.dedup_key) {
            if inner.order.len() == INCIDENTS {
                if let Some(oldest) = inner.order.pop_front() {
                    inner.entries.remove(&oldest);
                }
            }
            inner.order.push_back(record.dedup_key.clone());
        }
        let entries = inner.entries.entry(record.dedup_key.clone()).or_default();
        if entries.len() == PER_INCIDENT {
            entries.pop_front();
        }
        entries.push_back(entry);
    }

    /// The incident's remembered decisions, oldest first.
    pub fn get(&self, dedup_key: &str) -> Vec<Entry> {
        let inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        inner.entries.get(dedup_key).map(|entries| entries.iter().cloned().collect()).unwrap_or_default()
    }
}
