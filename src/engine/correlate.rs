//! Topology-aware correlation: an alert about an entity joins the open incident its entity is
//! related to in the inventory, so a failing dependency and the symptoms it causes upstream are
//! one incident rooted at the probable cause.
//!
//! Relations, best first: the alert is about the incident's root itself (always joins while the
//! incident is open); it is a symptom (its entity depends on the root, or runs on the root
//! node); it is a deeper cause (the root depends on it: the incident is re-rooted there).
//! Symptoms and causes join only within the correlation window after the incident's latest
//! new alert; a symptom only when it is no more severe than the incident (a warning on a
//! dependency does not explain critical failures upstream), a cause only when at least as
//! severe.

use std::time::Duration;

use xxhash_rust::xxh3::Xxh3;

use super::group::Group;
use super::store::KeyMap;
use super::topology::{Entity, Subject, Topology};
use crate::model::{EventTime, Severity};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Relation {
    Same,
    Symptom,
    Cause(Entity),
}

fn relation(topology: &Topology, root: Entity, subject: &Subject) -> Option<Relation> {
    match root {
        Entity::Service(root_service) => {
            if let Some(service) = subject.service {
                if service == root_service {
                    return Some(Relation::Same);
                }
                if topology.depends_on(service, root_service) {
                    return Some(Relation::Symptom);
                }
                if topology.depends_on(root_service, service) {
                    return Some(Relation::Cause(Entity::Service(service)));
                }
                return None;
            }
            // A node-level alert under a service with pods on that node: the node may be why.
            let node = subject.node?;
            topology.runs_on(root_service, node).then_some(Relation::Cause(Entity::Node(node)))
        }
        Entity::Node(root_node) => {
            if subject.node == Some(root_node) {
                return Some(if subject.service.is_none() { Relation::Same } else { Relation::Symptom });
            }
            // An alert about one pod whose node is known is about that node only; an alert about a
            // service as a whole may come from its pods on the failing node.
            if subject.pod_level && subject.node.is_some() {
                return None;
            }
            let service = subject.service?;
            topology.runs_on(service, root_node).then_some(Relation::Symptom)
        }
    }
}

/// The open topology group a new alert joins, and the group's new root if the alert is a
/// deeper cause. Ties go to the better relation, then the group with the latest new alert,
/// then the oldest group.
pub(super) fn choose(
    topology: &Topology,
    groups: &KeyMap<Group>,
    topology_groups: &[u64],
    subject: &Subject,
    severity: Severity,
    now: EventTime,
    window: Duration,
) -> Option<(u64, Option<Entity>)> {
    let mut best: Option<(u8, EventTime, u64, Option<Entity>)> = None;
    for &key in topology_groups {
        let Some(link) = groups.get(&key).and_then(|group| group.topology.as_ref()) else { continue };
        let Some(relation) = relation(topology, link.root, subject) else { continue };
        let recent = now.since(link.last_join) <= window;
        let (rank, new_root) = match relation {
            Relation::Same => (0, None),
            Relation::Symptom if recent && severity <= link.severity => (1, None),
            Relation::Cause(entity) if recent && severity >= link.severity => (2, Some(entity)),
            Relation::Symptom | Relation::Cause(_) => continue,
        };
        let better = match &best {
            None => true,
            Some((best_rank, best_join, _, _)) => {
                rank < *best_rank || (rank == *best_rank && link.last_join > *best_join)
            }
        };
        if better {
            best = Some((rank, link.last_join, key, new_root));
        }
    }
    best.map(|(_, _, key, new_root)| (key, new_root))
}

/// A topology group's key: its route, first root and opening time (two incidents on the same
/// entity can be open at once, years apart or not).
pub(super) fn group_key(route_id: usize, root: Entity, opened_at: EventTime) -> u64 {
    let mut hasher = Xxh3::new();
    hasher.update(b"topology\xff");
    hasher.update(&(route_id as u64).to_le_bytes());
    let (kind, id) = match root {
        Entity::Service(id) => (0u8, id),
        Entity::Node(id) => (1u8, id),
    };
    hasher.update(&[kind]);
    hasher.update(&id.to_le_bytes());
    hasher.update(&opened_at.as_millis().to_le_bytes());
    hasher.digest()
}
