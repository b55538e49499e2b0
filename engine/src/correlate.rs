//! Topology-aware correlation: an alert about an entity joins the open incident whose probable
//! cause explains it, so a failing dependency and the symptoms it causes upstream are one
//! incident rooted at the cause, and a new problem during an open incident is an incident of
//! its own.
//!
//! A problem shows itself within minutes: a failing dependency's symptoms upstream, and the
//! cause's own alerts, all start within a few evaluation intervals of each other. So the
//! correlation window is an onset window: related alerts join an incident only when they start
//! within it after the incident's first alert. What starts later on a related entity is a new
//! problem, and opens an incident of its own (its page names the other as related), even when
//! the two are linked in the inventory.
//!
//! Relations, best first:
//! 1. it is about something running on the root node, which is failing, and starts within the
//!    window: a node that just died explains its pods and targets better than anything else
//!    (a service the inventory cannot place anywhere is taken as possibly running there);
//! 2. it is about the root of a young incident (its first alert within the window), and the
//!    root is failing (an availability alert, or one the catalog does not know, about the root
//!    itself fires);
//! 3. it is a symptom (its entity depends on the root service) of a root that is failing,
//!    starting within the window, and no more severe than the incident (a warning on a
//!    dependency does not explain critical failures upstream);
//! 4. it is a deeper cause (the root depends on it, or runs on its node: the incident is
//!    re-rooted there) of a root that is still failing, starting within the window, and at
//!    least as severe (a problem that starts as another ends is a new one);
//! 5. it is about the root of an older incident whose root still fails, of a kind that fires
//!    about the root already, and no more severe than the incident: more of the same (another
//!    pod crash looping). Another kind of failure after the onset is a new problem (errors, or
//!    pods not ready, on a service whose latency regressed an hour ago are a new page, not an
//!    update); so is the root failing again after it recovered;
//! 6. it is a countdown (a deadline alert) about the root of an incident whose root still has
//!    an alert firing: a disk filling up, then almost out of space.
//!
//! Deadline alerts (a disk filling up, a certificate expiring) are nobody's symptom or cause:
//! they join only an incident about their own entity. Saturation alerts (a pod throttled, the
//! cluster overcommitted) are not correlated through the inventory at all: they are grouped by
//! their route, the digest's business unless something else makes them urgent.

use std::time::Duration;

use xxhash_rust::xxh3::Xxh3;

use super::catalog::AlertClass;
use super::cow::CowMap;
use super::group::{Group, TopologyLink};
use super::store::{AlertEntry, AlertTable};
use super::topology::{Entity, Subject, Topology};
use crate::model::{EventTime, Severity};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Relation {
    Same,
    /// Its entity depends on the root (`placed: false`), or runs on the root node (`placed:
    /// true`, the more direct explanation).
    Symptom {
        placed: bool,
    },
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
                    return Some(Relation::Symptom { placed: false });
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
                return Some(if subject.service.is_none() {
                    Relation::Same
                } else {
                    Relation::Symptom { placed: true }
                });
            }
            // An alert about one pod whose node is known is about that node only; an alert about a
            // service as a whole may come from its pods on the failing node.
            if subject.pod_level && subject.node.is_some() {
                return None;
            }
            let service = subject.service?;
            if topology.runs_on(service, root_node) {
                return Some(Relation::Symptom { placed: true });
            }
            // Nothing says where a learned service runs (a datastore that sends no telemetry):
            // a node that stops reporting has every pod on it marked not ready at once, so its
            // failures at the node's onset are taken as the node's. (A declared service's
            // placement is the config's to give.)
            let learned = !topology.service(service).declared;
            (learned && topology.placement_unknown(service)).then_some(Relation::Symptom { placed: false })
        }
    }
}

/// A new alert, as correlation sees it.
pub(super) struct Arrival<'a> {
    /// Its `alertname`.
    pub name: &'a str,
    pub subject: &'a Subject,
    pub severity: Severity,
    pub starts_at: EventTime,
    pub class: Option<AlertClass>,
}

/// The open topology group a new alert joins, and the group's new root if the alert is a
/// deeper cause. Ties go to the better relation, then the group with the latest new alert,
/// then the oldest group.
pub(super) fn choose(
    topology: &Topology,
    groups: &CowMap<u64, Group>,
    topology_groups: &[u64],
    alerts: &AlertTable,
    arrival: &Arrival<'_>,
    now: EventTime,
    window: Duration,
) -> Option<(u64, Option<Entity>)> {
    let mut best: Option<(u8, EventTime, u64, Option<Entity>)> = None;
    // Saturation and deadline alerts explain nothing and are explained by nothing.
    let failure = matches!(arrival.class, None | Some(AlertClass::Availability));
    for &key in topology_groups {
        let Some(group) = groups.get(&key) else { continue };
        let Some(link) = group.topology.as_ref() else { continue };
        let Some(relation) = relation(topology, link.root, arrival.subject) else { continue };
        let young = arrival.starts_at.since(group.created_at) <= window;
        // The best rank this relation could reach, from what costs nothing to check; the root's
        // state (a look through the group's members) only when that could beat the best so far.
        let reachable = match relation {
            Relation::Symptom { placed } if failure && young && arrival.severity <= link.severity => {
                if placed { 0 } else { 2 }
            }
            Relation::Same if young => 1,
            Relation::Cause(_) if failure && young && arrival.severity >= link.severity => 3,
            Relation::Same => 4,
            Relation::Symptom { .. } | Relation::Cause(_) => continue,
        };
        let beaten = |rank: u8| {
            best.is_some_and(|(best_rank, best_join, _, _)| {
                rank > best_rank || (rank == best_rank && link.last_join <= best_join)
            })
        };
        if beaten(reachable) {
            continue;
        }
        let root = root_state(group, link, alerts, now);
        let (rank, new_root) = match relation {
            Relation::Symptom { placed: true } if root == RootState::Failing => (0, None),
            Relation::Same if young && root == RootState::Failing => (1, None),
            Relation::Symptom { placed: false } if root == RootState::Failing => (2, None),
            Relation::Cause(entity) if root == RootState::Failing => (3, Some(entity)),
            // Later, more of the same failure: an alert of a kind that fires about the root
            // already, no more severe than the incident (another pod crash looping).
            Relation::Same
                if root == RootState::Failing
                    && arrival.severity <= link.severity
                    && root_fires(group, link, alerts, now, arrival.name) =>
            {
                (4, None)
            }
            // A countdown on the root goes on (a disk filling up, then almost out of space).
            Relation::Same if !failure && root != RootState::Quiet => (5, None),
            Relation::Same if young => (5, None),
            Relation::Same | Relation::Symptom { .. } | Relation::Cause(_) => continue,
        };
        if !beaten(rank) {
            best = Some((rank, link.last_join, key, new_root));
        }
    }
    best.map(|(_, _, key, new_root)| (key, new_root))
}

/// Whether a new failure, now the root of its own group, explains another young group that has
/// not decided anything yet (its symptoms arrived before their cause): that group's alerts are
/// then moved into the cause's group. A group with an incident keeps its alerts.
pub(super) fn adoptable(topology: &Topology, group: &Group, arrival: &Arrival<'_>, window: Duration) -> bool {
    let Some(link) = group.topology.as_ref() else { return false };
    group.incident().is_none()
        && matches!(arrival.class, None | Some(AlertClass::Availability))
        && arrival.starts_at.since(group.created_at) <= window
        && arrival.severity >= link.severity
        && matches!(relation(topology, link.root, arrival.subject), Some(Relation::Same | Relation::Cause(_)))
}

/// What the alerts about an incident's root say of it now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RootState {
    /// Nothing about the root fires.
    Quiet,
    /// Only saturation or deadline alerts about it fire.
    Firing,
    /// An availability alert about it (or one the catalog does not know) fires: the root is a
    /// cause while it is failing.
    Failing,
}

fn root_state(group: &Group, link: &TopologyLink, alerts: &AlertTable, now: EventTime) -> RootState {
    // Whether it fires, not whether a flapping alert's resolve is being held.
    let firing = |entry: &AlertEntry| entry.ends_at.is_none_or(|end| end > now);
    // The latest alert that said the root fails, first: usually it still does.
    let hinted = link.root_hint.and_then(|fingerprint| alerts.get(&fingerprint));
    if hinted.is_some_and(|entry| says_root_fails(entry, link.root) && firing(entry)) {
        return RootState::Failing;
    }
    let mut state = RootState::Quiet;
    for entry in group.members.iter().filter_map(|fingerprint| alerts.get(fingerprint)) {
        if !is_about(entry, link.root) || !firing(entry) {
            continue;
        }
        if matches!(entry.class, None | Some(AlertClass::Availability)) {
            return RootState::Failing;
        }
        state = RootState::Firing;
    }
    state
}

/// Whether an alert named `name` about the root fires in the group.
fn root_fires(group: &Group, link: &TopologyLink, alerts: &AlertTable, now: EventTime, name: &str) -> bool {
    group.members.iter().filter_map(|fingerprint| alerts.get(fingerprint)).any(|entry| {
        is_about(entry, link.root)
            && entry.ends_at.is_none_or(|end| end > now)
            && entry.labels.get("alertname") == Some(name)
    })
}

/// Whether the alert is about the root itself (a service's pods included; a node's own alerts,
/// not its pods').
fn is_about(entry: &AlertEntry, root: Entity) -> bool {
    entry.subject.is_some_and(|subject| match root {
        Entity::Service(service) => subject.service == Some(service),
        Entity::Node(node) => subject.node == Some(node) && subject.service.is_none(),
    })
}

/// Whether the alert says the root fails: about the root, availability or unknown to the
/// catalog.
pub(super) fn says_root_fails(entry: &AlertEntry, root: Entity) -> bool {
    is_about(entry, root) && matches!(entry.class, None | Some(AlertClass::Availability))
}

/// Open topology groups related to `root` through the inventory, either way: what a page names
/// as related incidents.
pub(super) fn related(topology: &Topology, root: Entity, other: Entity) -> bool {
    if root == other {
        return true;
    }
    let as_subject = |entity: Entity| match entity {
        Entity::Service(service) => Subject { service: Some(service), node: None, pod_level: false },
        Entity::Node(node) => Subject { service: None, node: Some(node), pod_level: false },
    };
    relation(topology, root, &as_subject(other)).is_some()
        || relation(topology, other, &as_subject(root)).is_some()
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
