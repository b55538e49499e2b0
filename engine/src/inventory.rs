//! The learned inventory: what telemetry and alerts say about the monitored system (where pods
//! run, which workload each belongs to, which service calls which), each fact with its source,
//! when it was first and last seen, and an expiry.
//!
//! The facts are the state; the inventory correlation reads (`Topology`) is the config's, with
//! the facts applied on top in the order they were learned, where the config does not speak.
//! Ids are never reused while the engine runs: a fact that expires takes its relation (a pod's
//! placement, a call) out of the inventory, not the service or node's name, so incidents rooted
//! at it keep their root.

use std::collections::HashMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::cow::{NameMap, Share};
use crate::model::{Edge, EventTime, FactSource, InventoryFacts, Labels, Placement};
use crate::topology::Topology;

/// Whether the engine learns, and how long a fact lives without being seen again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Learning {
    pub enabled: bool,
    /// A pod (its service and node) not seen for this long is forgotten: it went away.
    pub pods: Duration,
    /// The same for a call between services: one used once a day is kept a day or more.
    pub calls: Duration,
    /// The same for a service or a node that no fact names any more (its name stays, for
    /// incidents rooted at it; it leaves the listing).
    pub entities: Duration,
}

impl Default for Learning {
    fn default() -> Learning {
        Learning {
            enabled: true,
            pods: Duration::from_secs(3600),
            calls: Duration::from_secs(2 * 24 * 3600),
            entities: Duration::from_secs(24 * 3600),
        }
    }
}

/// When a fact was learned and last seen, and from what.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seen {
    /// Learning order: facts are applied again in it (restore, reload) so ids come out the same.
    pub seq: u64,
    pub source: FactSource,
    pub first: EventTime,
    pub last: EventTime,
}

impl Seen {
    fn touch(&mut self, source: FactSource, now: EventTime) {
        self.last = self.last.max(now);
        // Spans and logs are what the workload says of itself; they outrank alert labels.
        self.source = self.source.min(source);
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceFact {
    pub seen: Seen,
    pub namespace: Option<Box<str>>,
    pub cluster: Option<Box<str>>,
    /// `db.system` when spans call it as a datastore.
    pub kind: Option<Box<str>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodFact {
    pub seen: Seen,
    pub service: Box<str>,
    pub node: Option<Box<str>>,
}

/// Counts of what learning did, for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LearnStats {
    pub learned: u64,
    pub expired: u64,
    /// Facts left out because the inventory is full (or a name is too long). Those the config
    /// speaks for, of another cluster, or closing a loop of calls are left out uncounted.
    pub refused: u64,
}

/// Every learned fact. Each carries its learning order, so that the re-application and the
/// listing are the same from one run to the next.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Learned {
    services: NameMap<ServiceFact>,
    nodes: NameMap<Seen>,
    pods: NameMap<PodFact>,
    /// Calls by caller, then callee: looked up by borrowed names.
    calls: NameMap<HashMap<Box<str>, Seen>>,
    next_seq: u64,
    next_sweep: Option<EventTime>,
    pub stats: LearnStats,
}

impl Share for Learned {
    fn share(&mut self) -> Learned {
        Learned {
            services: self.services.share(),
            nodes: self.nodes.share(),
            pods: self.pods.share(),
            calls: self.calls.share(),
            next_seq: self.next_seq,
            next_sweep: self.next_sweep,
            stats: self.stats,
        }
    }
}

/// How often expired facts are looked for, in event time.
const SWEEP: Duration = Duration::from_secs(60);

/// The most learned pods, and calls, held at once: beyond them new ones are refused (and
/// counted) until old ones expire. Services and nodes are capped by their 16-bit ids.
pub const MAX_PODS: usize = 1 << 18;
pub const MAX_CALLS: usize = 1 << 18;

/// The service a resource belongs to must be in the inventory's cluster: a fact of another
/// cluster (a Collector that forwards several) would misplace pods.
fn foreign(topology: &Topology, cluster: Option<&str>) -> bool {
    matches!((&topology.cluster, cluster), (Some(expected), Some(actual)) if **expected != *actual)
}

impl Learned {
    pub fn is_empty(&self) -> bool {
        self.services.is_empty() && self.nodes.is_empty() && self.pods.is_empty() && self.calls.is_empty()
    }

    fn count(&self) -> usize {
        self.services.len() + self.nodes.len() + self.pods.len() + self.call_count()
    }

    fn call_count(&self) -> usize {
        self.calls.values().map(HashMap::len).sum()
    }

    fn each_call(&self) -> impl Iterator<Item = (&str, &str, &Seen)> {
        self.calls
            .iter()
            .flat_map(|(from, callees)| callees.iter().map(move |(to, seen)| (&**from, &**to, seen)))
    }

    fn next_seen(&mut self, source: FactSource, now: EventTime) -> Seen {
        self.next_seq += 1;
        self.stats.learned += 1;
        Seen { seq: self.next_seq, source, first: now, last: now }
    }

    /// Learns the facts of one request at `now`, into the facts and the inventory.
    pub fn learn(&mut self, topology: &mut Topology, facts: &InventoryFacts, now: EventTime) {
        for placement in &facts.placements {
            self.place(topology, placement, facts.source, now);
        }
        for edge in &facts.edges {
            self.call(topology, edge, facts.source, now);
        }
    }

    /// Whether learning `facts` would change anything but sightings: a service, node, pod or
    /// call not held, a pod placed otherwise, a namespace or kind not known yet.
    pub fn teaches(&self, topology: &Topology, facts: &InventoryFacts) -> bool {
        let service_new =
            |name: &str| !self.services.contains_key(name) && topology.service_id(name).is_none();
        let placements = facts.placements.iter().any(|placement| {
            let known = self.services.get(&*placement.service);
            service_new(&placement.service)
                || (known.is_some()
                    && placement.namespace.is_some()
                    && known.map(|fact| &fact.namespace) != Some(&placement.namespace))
                || placement
                    .node
                    .as_deref()
                    .is_some_and(|node| !self.nodes.contains_key(node) && topology.node_id(node).is_none())
                || placement.pod.as_deref().is_some_and(|pod| match self.pods.get(pod) {
                    Some(fact) => {
                        *fact.service != *placement.service
                            || (placement.node.is_some() && fact.node != placement.node)
                    }
                    None => !topology.pod_declared(pod),
                })
        });
        placements
            || facts.edges.iter().any(|edge| {
                service_new(&edge.from)
                    || service_new(&edge.to)
                    || !self.calls.get(&*edge.from).is_some_and(|callees| callees.contains_key(&*edge.to))
                    || (edge.datastore.is_some()
                        && self.services.get(&*edge.to).is_some_and(|fact| fact.kind.is_none()))
            })
    }

    fn service(
        &mut self,
        topology: &mut Topology,
        name: &str,
        source: FactSource,
        now: EventTime,
    ) -> Option<crate::topology::ServiceId> {
        if let Some(fact) = self.services.get_mut(name) {
            fact.seen.touch(source, now);
            return topology.service_id(name);
        }
        // The config's services are the config's: no fact of their own.
        if let Some(id) = topology.service_id(name).filter(|id| topology.service(*id).declared) {
            return Some(id);
        }
        let Some(id) = topology.learn_service(name) else {
            self.stats.refused += 1;
            return None;
        };
        let seen = self.next_seen(source, now);
        self.services.insert(name.into(), ServiceFact { seen, namespace: None, cluster: None, kind: None });
        Some(id)
    }

    fn node(
        &mut self,
        topology: &mut Topology,
        name: &str,
        source: FactSource,
        now: EventTime,
    ) -> Option<u16> {
        if let Some(seen) = self.nodes.get_mut(name) {
            seen.touch(source, now);
            return topology.node_id(name);
        }
        if topology.declares_node(name) {
            return topology.node_id(name);
        }
        let Some(id) = topology.learn_node(name) else {
            self.stats.refused += 1;
            return None;
        };
        let seen = self.next_seen(source, now);
        self.nodes.insert(name.into(), seen);
        Some(id)
    }

    fn place(&mut self, topology: &mut Topology, placement: &Placement, source: FactSource, now: EventTime) {
        if foreign(topology, placement.cluster.as_deref()) {
            return;
        }
        let Some(service) = self.service(topology, &placement.service, source, now) else { return };
        if let Some(fact) = self.services.get_mut(&*placement.service) {
            if placement.namespace.is_some() && fact.namespace != placement.namespace {
                fact.namespace.clone_from(&placement.namespace);
            }
            if placement.cluster.is_some() && fact.cluster != placement.cluster {
                fact.cluster.clone_from(&placement.cluster);
            }
        }
        let node = match &placement.node {
            Some(node) => self.node(topology, node, source, now),
            None => None,
        };
        let Some(pod) = &placement.pod else { return };
        if let Some(fact) = self.pods.get_mut(&**pod)
            && *fact.service == *placement.service
            && (placement.node.is_none() || fact.node == placement.node)
        {
            fact.seen.touch(source, now);
            return;
        }
        // New, moved (a StatefulSet's pod comes back on another node under its name) or
        // now placed: the latest placement wins.
        let first = self.pods.get(&**pod).map(|fact| fact.seen.first);
        if first.is_none() && self.pods.len() >= MAX_PODS {
            self.stats.refused += 1;
            return;
        }
        if !topology.place_pod(pod, service, node) {
            return;
        }
        // A moved pod is learned anew (in learning order after its new node), first seen as
        // before.
        let mut seen = self.next_seen(source, now);
        seen.first = first.unwrap_or(now);
        self.pods.insert(
            pod.clone(),
            PodFact { seen, service: placement.service.clone(), node: placement.node.clone() },
        );
    }

    fn call(&mut self, topology: &mut Topology, edge: &Edge, source: FactSource, now: EventTime) {
        let Some(from) = self.service(topology, &edge.from, source, now) else { return };
        let Some(to) = self.service(topology, &edge.to, source, now) else { return };
        if let Some(kind) = &edge.datastore {
            topology.learn_kind(to, kind);
            if let Some(fact) = self.services.get_mut(&*edge.to)
                && fact.kind.is_none()
            {
                fact.kind = Some(kind.clone());
            }
        }
        if let Some(seen) = self.calls.get_mut(&*edge.from).and_then(|callees| callees.get_mut(&*edge.to)) {
            seen.touch(source, now);
            return;
        }
        if self.call_count() >= MAX_CALLS {
            self.stats.refused += 1;
            return;
        }
        if !topology.learn_call(from, to) {
            return;
        }
        let seen = self.next_seen(source, now);
        self.calls.get_or_default(edge.from.clone()).insert(edge.to.clone(), seen);
    }

    /// What an alert's labels say: a node of the cluster (`node`, as kube-state-metrics' node
    /// alerts name it), a pod's workload (`deployment`, `statefulset`, `daemonset` beside
    /// `pod`) and its node (`node` beside `pod`). Read once per new alert.
    pub fn learn_from_alert(&mut self, topology: &mut Topology, labels: &Labels, now: EventTime) {
        // One pass over the labels: most alerts name neither a pod nor a node.
        let (mut pod, mut node, mut workload, mut namespace, mut cluster) = (None, None, None, None, None);
        for (name, value) in labels.iter() {
            match name {
                "pod" => pod = Some(value),
                "node" => node = Some(value),
                "deployment" | "statefulset" | "daemonset" => workload = workload.or(Some(value)),
                "namespace" => namespace = Some(value),
                "cluster" => cluster = Some(value),
                _ => {}
            }
        }
        if (pod.is_none() && node.is_none()) || foreign(topology, cluster) {
            return;
        }
        let Some(pod) = pod else {
            if let Some(node) = node {
                self.node(topology, node, FactSource::Alerts, now);
            }
            return;
        };
        let service = match (workload, node) {
            (Some(workload), _) => workload,
            // Without a workload label, a pod on a node is placed when its service is known.
            (None, Some(_)) => match topology.resolve_pod_service(pod) {
                Some(service) => &*topology.service(service).name,
                None => return,
            },
            (None, None) => return,
        };
        // Known as it is (the usual case), or placed by what the workload itself sends (spans
        // and logs outrank an alert's labels): seen again, nothing to build.
        if let Some(fact) = self.pods.get_mut(pod)
            && (fact.seen.source < FactSource::Alerts
                || (*fact.service == *service && (node.is_none() || fact.node.as_deref() == node)))
        {
            fact.seen.touch(FactSource::Alerts, now);
            if let Some(service) = self.services.get_mut(&*fact.service) {
                service.seen.touch(FactSource::Alerts, now);
            }
            if let Some(node) = fact.node.as_deref().and_then(|node| self.nodes.get_mut(node)) {
                node.touch(FactSource::Alerts, now);
            }
            return;
        }
        let placement = Placement {
            service: service.into(),
            pod: Some(pod.into()),
            node: node.map(Into::into),
            namespace: namespace.map(Into::into),
            cluster: cluster.map(Into::into),
        };
        self.place(topology, &placement, FactSource::Alerts, now);
    }

    /// Forgets what has not been seen within its time, once a minute of event time.
    pub fn expire(&mut self, topology: &mut Topology, learning: &Learning, now: EventTime) {
        if self.next_sweep.is_some_and(|next| now < next) {
            return;
        }
        self.next_sweep = Some(now.saturating_add(SWEEP));
        let old = |seen: &Seen, keep: Duration| now.since(seen.last) > keep;
        let before = self.count();
        self.pods.retain(|pod, fact| {
            let keep = !old(&fact.seen, learning.pods);
            if !keep {
                topology.forget_pod(pod);
            }
            keep
        });
        // Found first, then removed: only the callers that lose a call are changed (and copied,
        // if a snapshot holds them).
        let callers: Vec<Box<str>> = self
            .calls
            .iter()
            .filter(|(_, callees)| callees.values().any(|seen| old(seen, learning.calls)))
            .map(|(from, _)| from.clone())
            .collect();
        for from in callers {
            let Some(callees) = self.calls.get_mut(&from) else { continue };
            callees.retain(|to, seen| {
                let keep = !old(seen, learning.calls);
                if !keep && let (Some(from), Some(to)) = (topology.service_id(&from), topology.service_id(to))
                {
                    topology.forget_call(from, to);
                }
                keep
            });
            if callees.is_empty() {
                self.calls.remove(&from);
            }
        }
        // A service or node goes only once no pod or call left names it.
        let mut named: std::collections::HashSet<&str> = std::collections::HashSet::new();
        for fact in self.pods.values() {
            named.insert(&fact.service);
            named.extend(fact.node.as_deref());
        }
        for (from, callees) in self.calls.iter() {
            named.insert(from);
            named.extend(callees.keys().map(|to| &**to));
        }
        self.services.retain(|name, fact| named.contains(&**name) || !old(&fact.seen, learning.entities));
        self.nodes.retain(|name, seen| named.contains(&**name) || !old(seen, learning.entities));
        self.stats.expired += (before - self.count()) as u64;
    }

    /// Applies every fact again to a freshly built inventory (after a reload or a restore), in
    /// the order they were learned.
    pub fn reapply(&self, topology: &mut Topology) {
        enum Fact<'a> {
            Service(&'a str, &'a ServiceFact),
            Node(&'a str),
            Pod(&'a str, &'a PodFact),
            Call(&'a str, &'a str),
        }
        let mut facts: Vec<(u64, Fact<'_>)> = Vec::with_capacity(self.count());
        facts.extend(self.services.iter().map(|(name, fact)| (fact.seen.seq, Fact::Service(name, fact))));
        facts.extend(self.nodes.iter().map(|(name, seen)| (seen.seq, Fact::Node(name))));
        facts.extend(self.pods.iter().map(|(name, fact)| (fact.seen.seq, Fact::Pod(name, fact))));
        facts.extend(self.each_call().map(|(from, to, seen)| (seen.seq, Fact::Call(from, to))));
        facts.sort_unstable_by_key(|(seq, _)| *seq);
        for (_, fact) in facts {
            match fact {
                Fact::Service(name, fact) => {
                    if let (Some(id), Some(kind)) = (topology.learn_service(name), &fact.kind) {
                        topology.learn_kind(id, kind);
                    }
                }
                Fact::Node(name) => {
                    topology.learn_node(name);
                }
                Fact::Pod(name, fact) => {
                    let node = fact.node.as_deref().and_then(|node| topology.learn_node(node));
                    if let Some(service) = topology.learn_service(&fact.service) {
                        topology.place_pod(name, service, node);
                    }
                }
                Fact::Call(from, to) => {
                    if let (Some(from), Some(to)) = (topology.learn_service(from), topology.learn_service(to))
                    {
                        topology.learn_call(from, to);
                    }
                }
            }
        }
    }

    /// How many facts of each kind are held: services, nodes, pods, calls.
    pub fn sizes(&self) -> [(&'static str, usize); 4] {
        [
            ("service", self.services.len()),
            ("node", self.nodes.len()),
            ("pod", self.pods.len()),
            ("call", self.call_count()),
        ]
    }
}

/// The inventory correlation reads, for people: what the config declares and what was learned,
/// each entry with where it comes from (`config`, `spans`, `logs`, `alerts`) and, when learned,
/// when it was first and last seen. Sorted by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Listing {
    pub services: Vec<ServiceEntry>,
    pub nodes: Vec<Entry>,
    pub pods: Vec<PodEntry>,
    pub calls: Vec<CallEntry>,
}

/// Where an entry comes from and when it was seen (learned entries only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Origin {
    pub source: &'static str,
    pub first_seen: Option<EventTime>,
    pub last_seen: Option<EventTime>,
}

impl Origin {
    const CONFIG: Origin = Origin { source: "config", first_seen: None, last_seen: None };

    fn learned(seen: &Seen) -> Origin {
        Origin { source: seen.source.as_str(), first_seen: Some(seen.first), last_seen: Some(seen.last) }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub name: Box<str>,
    pub origin: Origin,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceEntry {
    pub name: Box<str>,
    pub kind: Option<Box<str>>,
    pub namespace: Option<Box<str>>,
    pub origin: Origin,
    /// Whether it is an entry point (no service calls it).
    pub entry_point: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodEntry {
    pub name: Box<str>,
    pub service: Box<str>,
    pub node: Option<Box<str>>,
    pub origin: Origin,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallEntry {
    pub from: Box<str>,
    pub to: Box<str>,
    pub origin: Origin,
}

impl Listing {
    /// The inventory `topology` holds (the config's with `learned` applied), entry by entry.
    /// Learned services, nodes and pods that expired are left out; names a service or node
    /// keeps for the incidents rooted at it are not listed once nothing names them.
    pub fn of(topology: &Topology, learned: &Learned) -> Listing {
        let mut listing = Listing::default();
        for (id, service) in topology.services() {
            let fact = learned.services.get(&*service.name);
            let origin = match (service.declared, fact) {
                (true, _) => Origin::CONFIG,
                (false, Some(fact)) => Origin::learned(&fact.seen),
                (false, None) => continue,
            };
            listing.services.push(ServiceEntry {
                name: service.name.clone(),
                kind: service.kind.clone(),
                namespace: fact
                    .and_then(|fact| fact.namespace.clone())
                    .or_else(|| topology.namespace.clone()),
                origin,
                entry_point: topology.is_entry_point(id),
            });
            for (pod, node) in topology.pods(id) {
                let origin = match learned.pods.get(&**pod) {
                    Some(fact) if !service.pods_declared => Origin::learned(&fact.seen),
                    _ => Origin::CONFIG,
                };
                let node = node.map(|node| topology.node_name(node).into());
                listing.pods.push(PodEntry {
                    name: pod.clone(),
                    service: service.name.clone(),
                    node,
                    origin,
                });
            }
            for &callee in &service.depends_on {
                let to = &topology.service(callee).name;
                let origin = match learned.calls.get(&*service.name).and_then(|callees| callees.get(&**to)) {
                    Some(seen) if !service.declared => Origin::learned(seen),
                    _ => Origin::CONFIG,
                };
                listing.calls.push(CallEntry { from: service.name.clone(), to: to.clone(), origin });
            }
        }
        for name in topology.node_names() {
            let origin = match learned.nodes.get(name) {
                _ if topology.declares_node(name) => Origin::CONFIG,
                Some(seen) => Origin::learned(seen),
                None => continue,
            };
            listing.nodes.push(Entry { name: name.into(), origin });
        }
        listing.services.sort_unstable_by(|left, right| left.name.cmp(&right.name));
        listing.nodes.sort_unstable_by(|left, right| left.name.cmp(&right.name));
        listing.pods.sort_unstable_by(|left, right| left.name.cmp(&right.name));
        listing.calls.sort_unstable_by(|left, right| (&left.from, &left.to).cmp(&(&right.from, &right.to)));
        listing
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topology::{Declared, declare, default_rules};

    fn at(minutes: i64) -> EventTime {
        EventTime::from_millis(1_800_000_000_000 + minutes * 60_000)
    }

    fn placement(service: &str, pod: &str, node: &str) -> Placement {
        Placement {
            service: service.into(),
            pod: Some(pod.into()),
            node: Some(node.into()),
            namespace: Some("shop".into()),
            cluster: None,
        }
    }

    fn call(from: &str, to: &str, datastore: Option<&str>) -> Edge {
        Edge { from: from.into(), to: to.into(), datastore: datastore.map(Into::into) }
    }

    fn facts(placements: Vec<Placement>, edges: Vec<Edge>) -> InventoryFacts {
        InventoryFacts { source: FactSource::Spans, placements, edges }
    }

    /// The config declares cart (its pod and its call to redis) and nothing else.
    fn declared() -> Topology {
        let declared = Declared {
            cluster: Some("prod".into()),
            services: vec![
                declare("cart", None, &["redis"], &[("cart-1", "node-1")]),
                declare("redis", Some("redis"), &[], &[]),
            ],
            ..Declared::default()
        };
        Topology::build(declared, default_rules()).0
    }

    #[test]
    fn the_declared_inventory_wins_where_it_speaks_and_learning_fills_the_rest() {
        let mut topology = declared();
        let mut learned = Learned::default();
        learned.learn(
            &mut topology,
            &facts(
                vec![
                    placement("cart", "cart-2", "node-2"),
                    placement("redis", "redis-0", "node-2"),
                    placement("search", "search-7f-abcde", "node-3"),
                ],
                vec![
                    call("cart", "payments", None),
                    call("search", "cart", None),
                    call("search", "es", Some("elasticsearch")),
                ],
            ),
            at(0),
        );
        let id = |name| topology.service_id(name).unwrap();
        // cart lists its pods and its calls: the config's stand.
        assert_eq!(topology.pods(id("cart")).len(), 1);
        assert!(!topology.depends_on(id("cart"), id("payments")));
        // redis lists no pods: its pod is learned, and so is where it runs.
        assert!(topology.runs_on(id("redis"), topology.node_id("node-2").unwrap()));
        // search is new: its pod, its calls, and a datastore with its kind.
        assert!(topology.depends_on(id("search"), id("redis")), "through cart");
        assert_eq!(topology.service(id("es")).kind.as_deref(), Some("elasticsearch"));
        assert!(topology.is_entry_point(id("search")) && !topology.is_entry_point(id("cart")));
        assert_eq!(learned.stats.refused, 0, "the config speaks: left out, not refused");
        // A fact from another cluster than the inventory's is left out.
        let mut other = placement("search", "search-7f-zzzzz", "node-9");
        other.cluster = Some("staging".into());
        learned.learn(&mut topology, &facts(vec![other], vec![]), at(1));
        assert_eq!(topology.node_id("node-9"), None);
        let listing = Listing::of(&topology, &learned);
        let sources: Vec<(&str, &str)> =
            listing.services.iter().map(|service| (&*service.name, service.origin.source)).collect();
        assert_eq!(
            sources,
            [
                ("cart", "config"),
                ("es", "spans"),
                ("payments", "spans"),
                ("redis", "config"),
                ("search", "spans")
            ]
        );
    }

    #[test]
    fn the_latest_placement_wins_and_facts_not_seen_again_are_forgotten() {
        let mut topology = Topology::default();
        let mut learned = Learned::default();
        let learning = Learning::default();
        learned.learn(
            &mut topology,
            &facts(vec![placement("db", "db-0", "node-a")], vec![call("app", "db", None)]),
            at(0),
        );
        learned.learn(&mut topology, &facts(vec![placement("db", "db-0", "node-b")], vec![]), at(10));
        let db = topology.service_id("db").unwrap();
        assert_eq!(topology.pod_node("db-0"), topology.node_id("node-b"));
        assert!(!topology.runs_on(db, topology.node_id("node-a").unwrap()), "it moved");
        // Seen at 10 minutes: kept at 65, forgotten after 70.
        learned.expire(&mut topology, &learning, at(65));
        assert_eq!(topology.pod_node("db-0"), topology.node_id("node-b"));
        learned.expire(&mut topology, &learning, at(71));
        assert_eq!(topology.pod_node("db-0"), None);
        assert!(topology.placement_unknown(db));
        let app = topology.service_id("app").unwrap();
        assert!(topology.depends_on(app, db), "a call lives two days");
        learned.expire(&mut topology, &learning, at(49 * 60));
        assert!(!topology.depends_on(app, db));
        assert!(learned.is_empty(), "services and nodes nothing names are gone too");
        assert_eq!(learned.stats.expired, 6);
        // Ids stay: the names are kept for incidents rooted at them.
        assert_eq!(topology.service_id("db"), Some(db));
    }

    #[test]
    fn facts_applied_again_give_the_same_inventory_and_ids() {
        let mut topology = declared();
        let mut learned = Learned::default();
        learned.learn(
            &mut topology,
            &facts(vec![placement("search", "search-1", "node-3")], vec![call("search", "cart", None)]),
            at(0),
        );
        let media = facts(vec![placement("media", "media-1", "node-4")], vec![]);
        assert!(learned.teaches(&topology, &media));
        learned.learn(&mut topology, &media, at(1));
        // Only seen again: nothing for the write-ahead log; moved, or a new call: something.
        assert!(!learned.teaches(&topology, &media));
        assert!(learned.teaches(&topology, &facts(vec![placement("media", "media-1", "node-5")], vec![])));
        assert!(learned.teaches(&topology, &facts(vec![], vec![call("media", "search", None)])));
        assert!(!learned.teaches(&topology, &facts(vec![], vec![call("search", "cart", None)])));
        let declared_pod = Placement { namespace: None, ..placement("cart", "cart-1", "node-1") };
        assert!(!learned.teaches(&topology, &facts(vec![declared_pod], vec![])), "the config's");
        let mut again = declared();
        learned.reapply(&mut again);
        for name in ["search", "media", "cart"] {
            assert_eq!(again.service_id(name), topology.service_id(name), "{name}");
        }
        assert_eq!(again.node_id("node-4"), topology.node_id("node-4"));
        assert_eq!(Listing::of(&again, &learned), Listing::of(&topology, &learned));
    }
}
