//! The memory of past incidents: "have we seen this before, and what fixed it?" Each incident
//! that paged or went to the digest is remembered when it ends, by the tokens that describe
//! its shape (its alert names, the entities and services they are about, the log templates
//! around it), with when it happened, how long it lasted, how it ended and what responders
//! wrote about it. A new incident's page lists the most similar past ones (Jaccard similarity
//! of the token sets), found through an inverted index from token to incidents: the work is
//! proportional to the postings of its own tokens, never to the whole history.

use std::collections::VecDeque;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::xxh3_64;

use super::cow::{CowDeque, CowMap, Share};
use super::store::KeyMap;
use crate::model::EventTime;

/// Incidents one token's postings keep (the most recent): a token on every incident (the
/// cluster's busiest service) says little, and must not make a lookup scan the history.
const MAX_POSTINGS: usize = 512;
/// Notes kept per incident, and characters per note.
const MAX_NOTES: usize = 5;
const MAX_NOTE_CHARS: usize = 2000;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MemoryConfig {
    /// Past incidents remembered (the oldest are forgotten first); 0 turns the memory off.
    pub incidents: usize,
    /// Similar past incidents a page lists at most.
    pub similar: usize,
    /// How similar (Jaccard, in [0, 1]) a past incident must be to be listed.
    pub min_similarity: f64,
}

impl Default for MemoryConfig {
    fn default() -> MemoryConfig {
        MemoryConfig { incidents: 10_000, similar: 3, min_similarity: 0.3 }
    }
}

/// The words an incident is described by, before hashing.
#[derive(Debug, Default)]
pub struct Shape {
    tokens: Vec<u64>,
}

impl Shape {
    /// Adds one aspect: `kind` says what it is (`alert`, `entity`, `service`, `template`).
    pub fn add(&mut self, kind: &str, value: &str) {
        let mut bytes = Vec::with_capacity(kind.len() + 1 + value.len());
        bytes.extend_from_slice(kind.as_bytes());
        bytes.push(0xff);
        bytes.extend_from_slice(value.as_bytes());
        self.tokens.push(xxh3_64(&bytes));
    }

    fn finish(mut self) -> Vec<u64> {
        self.tokens.sort_unstable();
        self.tokens.dedup();
        self.tokens
    }
}

/// How a past incident ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Ending {
    /// Its alerts resolved without anyone acknowledging it.
    OnItsOwn,
    /// A responder acknowledged it, then its alerts resolved.
    Handled,
}

impl Ending {
    pub fn as_str(self) -> &'static str {
        match self {
            Ending::OnItsOwn => "resolved on its own, nobody acknowledged it",
            Ending::Handled => "acknowledged by a responder, then resolved",
        }
    }
}

/// One remembered incident: as it was when it ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Past {
    id: u64,
    incident: Open,
    ended_at: EventTime,
    ending: Ending,
}

/// A past incident like a new one, as a page lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct Similar {
    pub dedup_key: Arc<str>,
    pub title: Box<str>,
    pub opened_at: EventTime,
    pub minutes: f64,
    pub paged: bool,
    pub ending: Ending,
    pub notes: Vec<Box<str>>,
    pub similarity: f64,
}

/// An incident still open, as it will be remembered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Open {
    dedup_key: Arc<str>,
    title: Box<str>,
    opened_at: EventTime,
    tokens: Vec<u64>,
    paged: bool,
    notes: Vec<Box<str>>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Memory {
    /// Oldest first; ids are consecutive.
    past: CowDeque<Past>,
    next_id: u64,
    index: CowMap<u64, VecDeque<u64>>,
    /// Per group, its open incident's shape.
    open: CowMap<u64, Open>,
}

impl Share for Memory {
    fn share(&mut self) -> Memory {
        Memory {
            past: self.past.share(),
            next_id: self.next_id,
            index: self.index.share(),
            open: self.open.share(),
        }
    }
}

impl Memory {
    pub fn len(&self) -> usize {
        self.past.len()
    }

    pub fn is_empty(&self) -> bool {
        self.past.is_empty()
    }

    /// The past incidents most like `shape`, most similar first (the most recent among equals).
    pub fn similar(&self, config: &MemoryConfig, shape: &[u64]) -> Vec<Similar> {
        let Some(first) = self.past.front().map(|past| past.id) else { return Vec::new() };
        let mut shared: KeyMap<u32> = KeyMap::default();
        for token in shape {
            for id in self.index.get(token).into_iter().flatten() {
                *shared.entry(*id).or_insert(0) += 1;
            }
        }
        let mut scored: Vec<(f64, u64)> = shared
            .into_iter()
            .filter_map(|(id, common)| {
                let past = self.past.get(usize::try_from(id.checked_sub(first)?).ok()?)?;
                let union = shape.len() + past.incident.tokens.len() - common as usize;
                let similarity = f64::from(common) / union.max(1) as f64;
                (similarity >= config.min_similarity).then_some((similarity, id))
            })
            .collect();
        scored.sort_by(|left, right| right.0.total_cmp(&left.0).then(right.1.cmp(&left.1)));
        scored
            .into_iter()
            .take(config.similar)
            .filter_map(|(similarity, id)| {
                let past = self.past.get(usize::try_from(id - first).ok()?)?;
                let incident = &past.incident;
                Some(Similar {
                    dedup_key: incident.dedup_key.clone(),
                    title: incident.title.clone(),
                    opened_at: incident.opened_at,
                    minutes: past.ended_at.since(incident.opened_at).as_secs_f64() / 60.0,
                    paged: incident.paged,
                    ending: past.ending,
                    notes: incident.notes.clone(),
                    similarity,
                })
            })
            .collect()
    }

    /// The past incidents most like group `group`'s open incident, as last described.
    pub fn similar_to_open(&self, config: &MemoryConfig, group: u64) -> Vec<Similar> {
        self.open.get(&group).map_or_else(Vec::new, |open| self.similar(config, &open.tokens))
    }

    /// Group `group`'s incident has (still) this shape; returns its tokens for a lookup.
    pub fn describe(
        &mut self,
        group: u64,
        dedup_key: &Arc<str>,
        title: &str,
        opened_at: EventTime,
        shape: Shape,
        paged: bool,
    ) -> Vec<u64> {
        let tokens = shape.finish();
        let open = self.open.get_or_insert_with(group, || Open {
            dedup_key: dedup_key.clone(),
            title: title.into(),
            opened_at,
            tokens: Vec::new(),
            paged,
            notes: Vec::new(),
        });
        open.tokens.clone_from(&tokens);
        open.paged |= paged;
        tokens
    }

    /// A responder wrote `text` about the incident `dedup_key`: kept with it, or with the
    /// latest past incident of that key when it already ended.
    pub fn note(&mut self, dedup_key: &str, text: &str) -> bool {
        let text: Box<str> = text.chars().take(MAX_NOTE_CHARS).collect::<String>().into_boxed_str();
        // Found first, then changed: a snapshot may hold the state, and only what changes is
        // copied.
        let open = self.open.iter().find(|(_, open)| *open.dedup_key == *dedup_key).map(|(group, _)| *group);
        let past = || {
            let from_end = self.past.iter().rev().position(|past| *past.incident.dedup_key == *dedup_key)?;
            Some(self.past.len() - 1 - from_end)
        };
        let notes = match (open, open.is_none().then(past).flatten()) {
            (Some(group), _) => self.open.get_mut(&group).map(|open| &mut open.notes),
            (None, Some(index)) => self.past.get_mut(index).map(|past| &mut past.incident.notes),
            (None, None) => None,
        };
        let Some(notes) = notes else { return false };
        if notes.len() < MAX_NOTES {
            notes.push(text);
        }
        true
    }

    /// Group `group`'s incident ended at `at`: it is remembered (if it was described).
    pub fn close(&mut self, config: &MemoryConfig, group: u64, at: EventTime, acted: bool) {
        let Some(open) = self.open.remove(&group) else { return };
        if config.incidents == 0 {
            return;
        }
        let id = self.next_id;
        self.next_id += 1;
        for token in &open.tokens {
            let postings = self.index.get_or_default(*token);
            postings.push_back(id);
            if postings.len() > MAX_POSTINGS {
                postings.pop_front();
            }
        }
        let ending = if acted { Ending::Handled } else { Ending::OnItsOwn };
        self.past.push_back(Past { id, incident: open, ended_at: at, ending });
        while self.past.len() > config.incidents {
            let Some(old) = self.past.pop_front() else { break };
            for token in &old.incident.tokens {
                if let Some(postings) = self.index.get_mut(token) {
                    if postings.front() == Some(&old.id) {
                        postings.pop_front();
                    }
                    if postings.is_empty() {
                        self.index.remove(token);
                    }
                }
            }
        }
    }

    /// A group went away without ending an incident (taken into another).
    pub fn forget_open(&mut self, group: u64) {
        self.open.remove(&group);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(words: &[&str]) -> Shape {
        let mut shape = Shape::default();
        for word in words {
            let (kind, value) = word.split_once(':').unwrap();
            shape.add(kind, value);
        }
        shape
    }

    fn at(minutes: i64) -> EventTime {
        EventTime::from_millis(minutes * 60_000)
    }

    #[test]
    fn the_same_shape_is_found_and_an_unrelated_one_is_not() {
        let config = MemoryConfig::default();
        let mut memory = Memory::default();
        let disk = ["alert:DiskFull", "entity:db-1", "service:orders-db", "template:7"];
        let key: Arc<str> = Arc::from("k-1");
        memory.describe(1, &key, "DiskFull (db-1)", at(0), shape(&disk), true);
        assert!(memory.note("k-1", "cleared old WAL segments"));
        memory.close(&config, 1, at(42), true);
        let other: Arc<str> = Arc::from("k-2");
        memory.describe(
            2,
            &other,
            "CertExpiring (web)",
            at(100),
            shape(&["alert:CertExpiring", "entity:web"]),
            true,
        );
        memory.close(&config, 2, at(110), false);

        let now = memory.describe(3, &Arc::from("k-3"), "DiskFull (db-1)", at(500), shape(&disk), true);
        let found = memory.similar(&config, &now);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(&*found[0].dedup_key, "k-1");
        assert_eq!(found[0].similarity, 1.0);
        assert_eq!(found[0].minutes, 42.0);
        assert_eq!(found[0].ending, Ending::Handled);
        assert_eq!(found[0].notes, vec![Box::from("cleared old WAL segments")]);
        // Half the shape is still similar enough; nothing in common is not.
        let half = shape(&["alert:DiskFull", "entity:db-1", "alert:Other", "entity:x"]).finish();
        assert_eq!(memory.similar(&config, &half).len(), 1);
        let unrelated = shape(&["alert:Nothing", "entity:elsewhere"]).finish();
        assert!(memory.similar(&config, &unrelated).is_empty());
    }

    #[test]
    fn it_forgets_the_oldest_and_its_postings() {
        let config = MemoryConfig { incidents: 2, ..MemoryConfig::default() };
        let mut memory = Memory::default();
        for group in 0..5u64 {
            let key: Arc<str> = Arc::from(format!("k-{group}"));
            memory.describe(group, &key, "x", at(group as i64), shape(&["alert:Same"]), true);
            memory.close(&config, group, at(group as i64 + 1), false);
        }
        assert_eq!(memory.len(), 2);
        let found = memory.similar(&config, &shape(&["alert:Same"]).finish());
        let keys: Vec<&str> = found.iter().map(|similar| &*similar.dedup_key).collect();
        assert_eq!(keys, ["k-4", "k-3"], "most recent first among equals");
        assert!(memory.index.values().all(|postings| postings.len() <= 2));
    }
}
