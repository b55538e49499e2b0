//! Inhibition: a firing source alert mutes target alerts. Alertmanager's semantics for label
//! rules (`source_matchers`, `target_matchers`, `equal`; an absent label equals an empty one; an
//! alert matching both sides cannot inhibit itself), plus topology rules where the source
//! mutes targets on entities that depend on the source's entity.

use std::sync::Arc;

use xxhash_rust::xxh3::xxh3_64_with_seed;

use super::matcher::{Matcher, all_match};
use super::store::{AlertEntry, AlertTable, Fingerprint, KeyMap};
use super::topology::{Entity, Topology};
use crate::model::{EventTime, Labels};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InhibitScope {
    /// Alertmanager: source and target agree on the `equal` labels.
    Labels(Vec<Box<str>>),
    /// The target is about an entity that depends on (or runs on) the source's entity.
    Dependents,
}

#[derive(Debug, Clone)]
pub struct InhibitRule {
    /// Where the rule came from in the config, for explanations.
    pub name: Arc<str>,
    pub source: Vec<Matcher>,
    pub target: Vec<Matcher>,
    pub scope: InhibitScope,
}

/// The alerts that could inhibit, per rule, kept as alerts come and go so that checking a
/// target costs a lookup, not a scan.
#[derive(Debug, Default)]
pub struct Inhibitor {
    rules: Vec<InhibitRule>,
    /// Per rule: `equal`-values hash (or 0 for topology rules) to the source alerts.
    sources: Vec<KeyMap<Vec<Fingerprint>>>,
}

impl Inhibitor {
    pub fn new(rules: Vec<InhibitRule>) -> Inhibitor {
        let sources = rules.iter().map(|_| KeyMap::default()).collect();
        Inhibitor { rules, sources }
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Indexes a new alert as a source of the rules whose source matchers it matches.
    pub fn add(&mut self, fingerprint: Fingerprint, labels: &Labels) {
        for (index, rule) in self.rules.iter().enumerate() {
            if all_match(&rule.source, labels) {
                let key = scope_key(&rule.scope, labels);
                self.sources[index].entry(key).or_default().push(fingerprint);
            }
        }
    }

    pub fn remove(&mut self, fingerprint: Fingerprint, labels: &Labels) {
        for (index, rule) in self.rules.iter().enumerate() {
            if all_match(&rule.source, labels) {
                let key = scope_key(&rule.scope, labels);
                if let Some(list) = self.sources[index].get_mut(&key) {
                    list.retain(|source| *source != fingerprint);
                    if list.is_empty() {
                        self.sources[index].remove(&key);
                    }
                }
            }
        }
    }

    /// The rules (of the first 64) whose target matchers `labels` match, as a bit set, worked
    /// out once per alert so that flushes do not match again.
    pub fn target_rules(&self, labels: &Labels) -> u64 {
        self.rules
            .iter()
            .take(64)
            .enumerate()
            .filter(|(_, rule)| all_match(&rule.target, labels))
            .fold(0, |mask, (index, _)| mask | 1 << index)
    }

    /// The rule and source alert that mute `target` at `time`, if any.
    pub fn inhibited_by(
        &self,
        target: Fingerprint,
        entry: &AlertEntry,
        alerts: &AlertTable,
        topology: &Topology,
        time: EventTime,
    ) -> Option<(&InhibitRule, Fingerprint)> {
        for (index, rule) in self.rules.iter().enumerate() {
            let targeted = if index < 64 {
                entry.inhibit_targets & (1 << index) != 0
            } else {
                all_match(&rule.target, &entry.labels)
            };
            if !targeted {
                continue;
            }
            // Alertmanager: when the target matches both sides, sources that also match both
            // sides do not count, so two such alerts never mute each other.
            let two_sided = all_match(&rule.source, &entry.labels);
            let key = scope_key(&rule.scope, &entry.labels);
            let Some(candidates) = self.sources[index].get(&key) else { continue };
            for &source in candidates {
                if source == target {
                    continue;
                }
                let Some(source_entry) = alerts.get(&source) else { continue };
                if source_entry.is_resolved_at(time)
                    || (two_sided && all_match(&rule.target, &source_entry.labels))
                {
                    continue;
                }
                let applies = match rule.scope {
                    InhibitScope::Labels(_) => true,
                    InhibitScope::Dependents => depends(topology, entry, source_entry),
                };
                if applies {
                    return Some((rule, source));
                }
            }
        }
        None
    }
}

/// Whether the target alert's entity depends on (or runs on) the source alert's entity.
fn depends(topology: &Topology, target: &AlertEntry, source: &AlertEntry) -> bool {
    let (Some(target_subject), Some(source_subject)) = (target.subject, source.subject) else {
        return false;
    };
    match source_subject.entity() {
        Some(Entity::Service(source_service)) => {
            target_subject.service.is_some_and(|service| topology.depends_on(service, source_service))
        }
        Some(Entity::Node(node)) => {
            target_subject.node == Some(node)
                || target_subject.service.is_some_and(|service| topology.runs_on(service, node))
        }
        None => false,
    }
}

fn scope_key(scope: &InhibitScope, labels: &Labels) -> u64 {
    match scope {
        InhibitScope::Dependents => 0,
        // One-shot hashes chained through the seed: no streaming state to set up per check.
        InhibitScope::Labels(equal) => equal.iter().fold(0x9e37_79b9_7f4a_7c15, |seed, name| {
            xxh3_64_with_seed(labels.get(name).unwrap_or("").as_bytes(), seed)
        }),
    }
}
