//! Impact: what an incident's alerts say is broken and who is affected, judged with the
//! inventory (replicas, placement, dependencies) rather than from the severity the senders
//! chose. A node that is gone, a service with no replica left, a single-replica or stateful
//! workload down, or pods of several services unavailable is an outage, whatever the alerts'
//! severity; one replica of a well-replicated service is not.
//!
//! Only alerts that have outlasted their settle time count: a blip in an open incident does
//! not make it an outage.

use std::collections::HashSet;

use indexmap::{IndexMap, IndexSet};

use super::catalog::AlertClass;
use super::store::AlertEntry;
use super::topology::{NodeId, ServiceId, Topology};
use crate::model::{Labels, Severity};

/// How badly one service is affected. Ordered: worse is greater.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ServiceState {
    /// Slow or erroring, by alerts that do not say it is down (an unknown alert below error
    /// severity).
    Degraded,
    /// Some of its pods are unavailable, an availability alert is about it as a whole, or its
    /// requests are failing (an unknown alert of error severity or above).
    Partial,
    /// Nothing of it is available: every known replica unavailable, its only replica down, its
    /// quorum lost, or an alert that says it is down.
    Down,
}

/// One affected service.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceImpact {
    pub name: Box<str>,
    pub state: ServiceState,
    /// Distinct replicas the inventory declares that are unavailable (named by pod alerts, or
    /// placed on a node that is down).
    pub unavailable_pods: usize,
    /// Replicas the inventory declares, when it knows the service.
    pub replicas: Option<usize>,
    pub stateful: bool,
    /// Why `Down`, in words.
    pub reason: &'static str,
}

/// What is broken.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Impact {
    /// Nodes reported unavailable (not ready, unreachable). A cordoned node's are muted (the
    /// catalog's cordon inhibition): planned work is not an outage.
    pub nodes_down: Vec<Box<str>>,
    /// Nodes with alerts that say they fail in part (a degraded disk array, network errors).
    pub nodes_impaired: Vec<Box<str>>,
    /// Affected services, worst first.
    pub services: Vec<ServiceImpact>,
    /// Entry points (services nothing depends on) that an unavailable service is, or is on the
    /// request path of.
    pub entry_points: Vec<Box<str>>,
}

/// The impact value an outage has, and at or above which a warning-only incident may page high.
pub const OUTAGE: f64 = 1.0;

impl Impact {
    /// The impact in [0, 1], with a sentence saying what decided it: `OUTAGE` for a node down,
    /// a service down, or pods of several services unavailable; less for one service partly
    /// unavailable (by the share of its replicas) or degraded.
    pub fn level(&self) -> (f64, String) {
        let down: Vec<&ServiceImpact> =
            self.services.iter().filter(|service| service.state == ServiceState::Down).collect();
        let unavailable: Vec<&ServiceImpact> =
            self.services.iter().filter(|service| service.state >= ServiceState::Partial).collect();
        if let Some(node) = self.nodes_down.first() {
            return (OUTAGE, format!("node {node} unavailable{}", self.affected_suffix()));
        }
        if let Some(service) = down.first() {
            return (
                OUTAGE,
                format!("service {} down: {}{}", service.name, service.reason, self.affected_suffix()),
            );
        }
        if unavailable.len() >= 2 {
            let names: Vec<&str> = unavailable.iter().map(|service| &*service.name).collect();
            return (OUTAGE, format!("pods of {} services unavailable ({})", names.len(), names.join(", ")));
        }
        if let Some(service) = unavailable.first() {
            let share = match service.replicas {
                Some(replicas) if replicas > 0 => {
                    (service.unavailable_pods as f64 / replicas as f64).min(1.0)
                }
                _ => 0.5,
            };
            let pods = match service.replicas {
                Some(replicas) => format!("{} of {replicas} replicas", service.unavailable_pods),
                None => "replicas".to_owned(),
            };
            return (0.1 + 0.3 * share, format!("{} partly unavailable ({pods})", service.name));
        }
        let mut degraded: Vec<&str> = self.services.iter().map(|service| &*service.name).collect();
        degraded.extend(self.nodes_impaired.iter().map(|node| &**node));
        if !degraded.is_empty() {
            return (0.05, format!("degraded: {}", degraded.join(", ")));
        }
        (0.0, "nothing reported unavailable".to_owned())
    }

    fn affected_suffix(&self) -> String {
        let others: Vec<&str> = self
            .services
            .iter()
            .filter(|service| service.state >= ServiceState::Partial)
            .map(|service| &*service.name)
            .collect();
        if others.is_empty() { String::new() } else { format!("; affects {}", others.join(", ")) }
    }
}

/// One member of an incident, as impact sees it.
pub struct Observed<'a> {
    pub entry: &'a AlertEntry,
    /// Firing, not muted, and past its settle time.
    pub counts: bool,
}

/// Works out the impact of an incident's firing alerts. Nothing is allocated per alert: the
/// tally borrows names from the alerts and the inventory.
pub fn assess<'a>(topology: &'a Topology, members: impl Iterator<Item = Observed<'a>>) -> Impact {
    let mut tally = Tally::default();
    for Observed { entry, counts } in members {
        if !counts {
            continue;
        }
        let class = entry.class;
        let failing = match class {
            Some(AlertClass::Availability) => true,
            // An alert the catalog does not know says its entity fails when its sender says so.
            None => entry.page_severity() >= Severity::Error,
            Some(AlertClass::Saturation | AlertClass::Deadline | AlertClass::Meta) => continue,
        };
        if let Some(node) = node_of(entry) {
            // Only an alert that says the node is gone makes it down; others (a degraded disk
            // array, network errors) say it fails in part.
            if entry.down {
                tally.nodes.insert(node);
            } else {
                tally.impaired.insert(node);
            }
            continue;
        }
        let Some(service) = service_of(entry) else { continue };
        let record = tally.service(service);
        match (class, pod_of(&entry.labels)) {
            (Some(AlertClass::Availability), Some(pod)) => record.pods.push(pod),
            (Some(_), _) if entry.down => record.down = true,
            (Some(_), _) => record.whole = true,
            // An unknown alert says the service fails (at error severity or above: its requests
            // are failing) or is degraded; how much of it is unavailable it does not say.
            (None, _) if failing => record.failing = true,
            (None, _) => record.degraded = true,
        }
    }
    tally.finish(topology)
}

/// A service, by inventory id or by the name the labels give it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum ServiceKey<'a> {
    Known(ServiceId),
    Named(&'a str),
}

/// A node, by inventory id or by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum NodeKey<'a> {
    Known(NodeId),
    Named(&'a str),
}

#[derive(Default)]
struct ServiceRecord<'a> {
    /// Pods unavailable (with repeats until `finish` counts them).
    pods: Vec<&'a str>,
    /// An availability alert about the service as a whole (targets down, replicas missing).
    whole: bool,
    /// An alert that says the service is down.
    down: bool,
    failing: bool,
    degraded: bool,
}

/// What an incident's alerts say, by node and service, in the order first seen. Keyed, so an
/// incident of a hundred thousand alerts about as many services is tallied in linear time.
#[derive(Default)]
struct Tally<'a> {
    /// Nodes an alert says are gone.
    nodes: IndexSet<NodeKey<'a>>,
    /// Nodes with availability alerts that do not say they are gone.
    impaired: IndexSet<NodeKey<'a>>,
    services: IndexMap<ServiceKey<'a>, ServiceRecord<'a>>,
}

impl<'a> Tally<'a> {
    fn service(&mut self, key: ServiceKey<'a>) -> &mut ServiceRecord<'a> {
        self.services.entry(key).or_default()
    }

    fn finish(mut self, topology: &'a Topology) -> Impact {
        let mut impact = Impact::default();
        let node_name = |key: &NodeKey| -> Box<str> {
            match key {
                NodeKey::Known(id) => topology.node_name(*id).into(),
                NodeKey::Named(name) => (*name).into(),
            }
        };
        let mut down_nodes: Vec<NodeId> = Vec::new();
        // A node named by inventory id and by label is one node.
        let mut named: HashSet<Box<str>> = HashSet::new();
        for node in &self.nodes {
            let name = node_name(node);
            if named.insert(name.clone()) {
                impact.nodes_down.push(name);
                if let NodeKey::Known(id) = node {
                    down_nodes.push(*id);
                }
            }
        }
        for node in &self.impaired {
            let name = node_name(node);
            if named.insert(name.clone()) {
                impact.nodes_impaired.push(name);
            }
        }
        // What runs on a node that is down is unavailable with it.
        for &node in &down_nodes {
            for service in 0..topology.service_count() {
                let on_node: Vec<&str> = topology
                    .pods(service)
                    .iter()
                    .filter(|(_, placed)| *placed == Some(node))
                    .map(|(pod, _)| &**pod)
                    .collect();
                if on_node.is_empty() {
                    continue;
                }
                self.service(ServiceKey::Known(service)).pods.extend(on_node);
            }
        }
        let mut entry_points: Vec<ServiceId> = Vec::new();
        for (key, record) in &mut self.services {
            record.pods.sort_unstable();
            record.pods.dedup();
            let (name, replicas, stateful, id): (Box<str>, Option<usize>, bool, Option<ServiceId>) = match key
            {
                ServiceKey::Known(id) => {
                    let declared = topology.pods(*id).len();
                    (
                        topology.service(*id).name.clone(),
                        (declared > 0).then_some(declared),
                        topology.is_stateful(*id),
                        Some(*id),
                    )
                }
                ServiceKey::Named(name) => ((*name).into(), None, false, None),
            };
            // Only the replicas the inventory declares count toward a service being down: a pod
            // it has never seen (a rollout's new one, while the old ones serve) is only part of
            // it.
            let unavailable = match id {
                Some(id) => record
                    .pods
                    .iter()
                    .filter(|pod| topology.pods(id).iter().any(|(declared, _)| **declared == ***pod))
                    .count(),
                None => 0,
            };
            let any = !record.pods.is_empty() || record.whole || record.down;
            let reason = if record.down {
                Some("an alert says it is down")
            } else if replicas == Some(1) && (unavailable > 0 || record.whole) {
                Some("its only replica is unavailable")
            } else if replicas.is_some_and(|replicas| unavailable >= replicas) {
                Some("every replica is unavailable")
            } else if stateful
                && replicas.is_some_and(|replicas| unavailable * 2 >= replicas)
                && unavailable > 0
            {
                Some("a stateful workload lost its quorum")
            } else {
                None
            };
            let state = match reason {
                Some(_) => ServiceState::Down,
                None if any || record.failing => ServiceState::Partial,
                None if record.degraded => ServiceState::Degraded,
                None => continue,
            };
            if state >= ServiceState::Partial {
                if let Some(id) = id {
                    for entry in topology.entry_points_reaching(id) {
                        if !entry_points.contains(&entry) {
                            entry_points.push(entry);
                        }
                    }
                }
            }
            impact.services.push(ServiceImpact {
                name,
                state,
                unavailable_pods: unavailable,
                replicas,
                stateful,
                reason: reason.unwrap_or(""),
            });
        }
        // Worst first; the order they were first seen within a state.
        impact.services.sort_by_key(|service| std::cmp::Reverse(service.state));
        impact.entry_points = entry_points.into_iter().map(|id| topology.service(id).name.clone()).collect();
        impact
    }
}

/// The node an alert is about when it is about a node itself (not a pod on it).
fn node_of(entry: &AlertEntry) -> Option<NodeKey<'_>> {
    match entry.subject {
        Some(subject) => match (subject.node, subject.service) {
            (Some(node), None) => Some(NodeKey::Known(node)),
            _ => None,
        },
        // Not in the inventory: a `node` label with no pod names the node.
        None => {
            let labels = &entry.labels;
            if pod_of(labels).is_some() {
                return None;
            }
            labels.get("node").or_else(|| labels.get("k8s.node.name")).map(NodeKey::Named)
        }
    }
}

/// The service an alert is about: the inventory's, else the workload its labels name.
fn service_of(entry: &AlertEntry) -> Option<ServiceKey<'_>> {
    if let Some(service) = entry.subject.and_then(|subject| subject.service) {
        return Some(ServiceKey::Known(service));
    }
    if entry.subject.is_some() {
        return None;
    }
    let labels = &entry.labels;
    let named = ["deployment", "statefulset", "daemonset", "k8s.deployment.name", "k8s.statefulset.name"]
        .iter()
        .find_map(|label| labels.get(label))
        .or_else(|| pod_of(labels).map(workload_of_pod))
        .or_else(|| ["service.name", "service", "job"].iter().find_map(|label| labels.get(label)))?;
    Some(ServiceKey::Named(named))
}

fn pod_of(labels: &Labels) -> Option<&str> {
    labels.get("pod").or_else(|| labels.get("k8s.pod.name"))
}

/// The workload a pod belongs to, by Kubernetes' naming: `<deployment>-<replicaset hash>-<id>`
/// or `<statefulset>-<ordinal>` (a prefix of the pod's name).
fn workload_of_pod(pod: &str) -> &str {
    let Some((head, last)) = pod.rsplit_once('-') else { return pod };
    if !last.is_empty() && last.bytes().all(|byte| byte.is_ascii_digit()) {
        return head;
    }
    match head.rsplit_once('-') {
        Some((workload, _)) => workload,
        None => pod,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;
    use crate::model::EventTime;
    use crate::store::Fate;
    use crate::topology::{Declared, declare, default_rules};

    /// frontend (3 replicas) -> cart (2) -> redis (1, stateful); kafka (3, stateful); node-4 empty.
    fn topology() -> Topology {
        let service = declare;
        let declared = Declared {
            cluster: None,
            namespace: None,
            services: vec![
                service(
                    "frontend",
                    None,
                    &["cart"],
                    &[
                        ("frontend-6b7c8-aaaaa", "node-1"),
                        ("frontend-6b7c8-bbbbb", "node-2"),
                        ("frontend-6b7c8-ccccc", "node-3"),
                    ],
                ),
                service(
                    "cart",
                    None,
                    &["redis"],
                    &[("cart-5c6d7-aaaaa", "node-1"), ("cart-5c6d7-bbbbb", "node-2")],
                ),
                service("redis", Some("redis"), &[], &[("redis-0", "node-3")]),
                service(
                    "kafka",
                    None,
                    &[],
                    &[("kafka-0", "node-1"), ("kafka-1", "node-2"), ("kafka-2", "node-3")],
                ),
            ],
            nodes: vec!["node-4".to_owned()],
        };
        Topology::build(declared, default_rules()).0
    }

    fn entry(
        topology: &Topology,
        pairs: &[(&str, &str)],
        class: Option<AlertClass>,
        down: bool,
    ) -> AlertEntry {
        let labels = Labels::from_pairs(pairs.iter().copied());
        AlertEntry {
            severity: labels.get("severity").and_then(Severity::parse).unwrap_or(Severity::Warning),
            subject: topology.resolve(&labels),
            labels: Arc::new(labels),
            annotations: Arc::default(),
            starts_at: EventTime::from_millis(0),
            ends_at: None,
            generator_url: None,
            acknowledged: false,
            class,
            down,
            patterns: None,
            flapping: false,
            paged: false,
            hold: Duration::ZERO,
            group: 0,
            route: 0,
            inhibit_targets: 0,
            fate: Fate::Open,
        }
    }

    fn impact_of(topology: &Topology, entries: &[AlertEntry]) -> Impact {
        assess(topology, entries.iter().map(|entry| Observed { entry, counts: true }))
    }

    const AVAILABILITY: Option<AlertClass> = Some(AlertClass::Availability);

    #[test]
    fn a_node_down_takes_what_runs_on_it_and_is_an_outage() {
        let topology = topology();
        let node =
            entry(&topology, &[("alertname", "KubeNodeNotReady"), ("node", "node-3")], AVAILABILITY, true);
        let impact = impact_of(&topology, &[node]);
        assert_eq!(impact.nodes_down, vec![Box::from("node-3")]);
        let states: Vec<(&str, ServiceState)> =
            impact.services.iter().map(|service| (&*service.name, service.state)).collect();
        // redis' only replica is there; a third of frontend's and of kafka's.
        assert_eq!(
            states,
            vec![
                ("redis", ServiceState::Down),
                ("frontend", ServiceState::Partial),
                ("kafka", ServiceState::Partial)
            ]
        );
        assert_eq!(
            impact.entry_points.iter().map(|name| &**name).collect::<Vec<_>>(),
            vec!["frontend", "kafka"]
        );
        assert_eq!(impact.level().0, OUTAGE);
        // A node that hosts nothing is an outage too: the node itself is gone.
        let empty =
            entry(&topology, &[("alertname", "KubeNodeUnreachable"), ("node", "node-4")], AVAILABILITY, true);
        assert_eq!(impact_of(&topology, &[empty]).level().0, OUTAGE);
        // An alert about a node that does not say it is gone leaves it impaired, not down.
        let raid =
            entry(&topology, &[("alertname", "NodeRAIDDegraded"), ("node", "node-4")], AVAILABILITY, false);
        let impaired = impact_of(&topology, &[raid]);
        assert!(impaired.nodes_down.is_empty());
        assert!(impaired.level().0 < 0.2);
    }

    #[test]
    fn one_replica_of_several_is_partial_the_only_one_or_a_quorum_is_down() {
        let topology = topology();
        let pod = |name: &str| {
            entry(&topology, &[("alertname", "KubePodNotReady"), ("pod", name)], AVAILABILITY, false)
        };
        let one = impact_of(&topology, &[pod("frontend-6b7c8-aaaaa")]);
        assert_eq!(one.services[0].state, ServiceState::Partial);
        let (level, note) = one.level();
        assert!(level < 0.3, "{level} {note}");
        assert!(note.contains("1 of 3 replicas"), "{note}");
        assert_eq!(impact_of(&topology, &[pod("redis-0")]).level().0, OUTAGE, "the only replica");
        // A pod the inventory has never seen (a rollout's new one) is part of its service only.
        let rollout = impact_of(&topology, &[pod("cart-9f8e7-zzzzz")]);
        assert_eq!(
            (rollout.services[0].state, rollout.services[0].unavailable_pods),
            (ServiceState::Partial, 0)
        );
        let all = impact_of(&topology, &[pod("cart-5c6d7-aaaaa"), pod("cart-5c6d7-bbbbb")]);
        assert_eq!(all.services[0].reason, "every replica is unavailable");
        // Two services with pods down: several services unavailable.
        assert_eq!(
            impact_of(&topology, &[pod("frontend-6b7c8-aaaaa"), pod("cart-5c6d7-aaaaa")]).level().0,
            OUTAGE
        );
    }

    #[test]
    fn alerts_the_catalog_does_not_know_fail_or_degrade_by_their_severity() {
        let topology = topology();
        let errors = entry(
            &topology,
            &[("alertname", "HTTPErrorRateHigh"), ("service", "cart"), ("severity", "critical")],
            None,
            false,
        );
        let slow = entry(
            &topology,
            &[("alertname", "LatencyHigh"), ("service", "frontend"), ("severity", "warning")],
            None,
            false,
        );
        let impact = impact_of(&topology, &[errors, slow]);
        let states: Vec<(&str, ServiceState)> =
            impact.services.iter().map(|service| (&*service.name, service.state)).collect();
        assert_eq!(states, vec![("cart", ServiceState::Partial), ("frontend", ServiceState::Degraded)]);
        // Saturation and deadline alerts say nothing is broken.
        let throttled = entry(
            &topology,
            &[("alertname", "CPUThrottlingHigh"), ("pod", "redis-0")],
            Some(AlertClass::Saturation),
            false,
        );
        assert_eq!(impact_of(&topology, &[throttled]).level().0, 0.0);
    }

    #[test]
    fn without_an_inventory_labels_name_the_node_and_the_workload() {
        let topology = Topology::default();
        let node = entry(
            &topology,
            &[("alertname", "KubeNodeNotReady"), ("node", "ip-10-0-0-7")],
            AVAILABILITY,
            true,
        );
        assert_eq!(impact_of(&topology, &[node]).nodes_down, vec![Box::from("ip-10-0-0-7")]);
        let pod = entry(
            &topology,
            &[("alertname", "KubePodCrashLooping"), ("pod", "cart-5c6d7-aaaaa")],
            AVAILABILITY,
            false,
        );
        let impact = impact_of(&topology, &[pod]);
        assert_eq!(&*impact.services[0].name, "cart");
        assert_eq!(impact.services[0].replicas, None);
    }

    #[test]
    fn pods_name_their_workload() {
        assert_eq!(workload_of_pod("cart-5f6d7c8b9-xyz12"), "cart");
        assert_eq!(workload_of_pod("redis-cart-0"), "redis-cart");
        assert_eq!(workload_of_pod("payments-api-7d9f8c6b5-abcde"), "payments-api");
        assert_eq!(workload_of_pod("standalone"), "standalone");
    }
}
