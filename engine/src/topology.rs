//! The inventory of the monitored system (services with their dependencies and kinds, pods and
//! the nodes they run on) and the rules that resolve an alert's labels to the entity it is about.

use std::collections::HashMap;

use regex::Regex;

use crate::model::Labels;

pub type ServiceId = u16;
pub type NodeId = u16;

/// Something an incident can be rooted at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Entity {
    Service(ServiceId),
    Node(NodeId),
}

/// What an alert is about, as far as the inventory knows: a pod gives both its service and node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Subject {
    pub service: Option<ServiceId>,
    pub node: Option<NodeId>,
    /// The alert named a pod (or an instance on a node), not the service as a whole.
    pub pod_level: bool,
}

impl Subject {
    /// The entity an incident about this subject is rooted at: the service if known, else the node.
    pub fn entity(&self) -> Option<Entity> {
        match (self.service, self.node) {
            (Some(service), _) => Some(Entity::Service(service)),
            (None, Some(node)) => Some(Entity::Node(node)),
            (None, None) => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubjectKind {
    Pod,
    Service,
    Node,
}

/// One resolution rule: read `label`, optionally take capture group 1 of `pattern`, and look the
/// value up as a `kind`. Rules are tried in order; the first that finds an entity wins.
#[derive(Debug, Clone)]
pub struct SubjectRule {
    pub label: Box<str>,
    pub kind: SubjectKind,
    pub pattern: Option<Regex>,
}

#[derive(Debug, Clone)]
pub struct Service {
    pub name: Box<str>,
    /// `redis`, `postgres`, `app`, ... as the inventory says.
    pub kind: Option<Box<str>>,
    pub depends_on: Vec<ServiceId>,
    /// The config declares it: its kind and dependencies are the config's, not learned.
    pub declared: bool,
    /// The config lists its pods: they are the config's, not learned.
    pub pods_declared: bool,
}

#[derive(Debug, Clone, Default)]
pub struct Topology {
    pub cluster: Option<Box<str>>,
    pub namespace: Option<Box<str>>,
    services: Vec<Service>,
    service_ids: HashMap<Box<str>, ServiceId>,
    nodes: Vec<Box<str>>,
    node_ids: HashMap<Box<str>, NodeId>,
    pods: HashMap<Box<str>, (ServiceId, Option<NodeId>)>,
    /// `depends[a]` has bit `b` set when `a` depends on `b`, directly or not.
    depends: Vec<Vec<u64>>,
    /// Nodes each service has pods on.
    service_nodes: Vec<Vec<NodeId>>,
    /// Pods each service declares, with the node each runs on.
    service_pods: Vec<Vec<(Box<str>, Option<NodeId>)>>,
    /// Nodes below this id are the config's; the others were learned.
    declared_nodes: usize,
    /// Whether another service depends on each one (directly): those that none depends on are
    /// the entry points, where requests come in.
    has_dependents: Vec<bool>,
    rules: Vec<SubjectRule>,
}

/// The inventory as declared, before validation turns names into ids.
#[derive(Debug, Clone, Default)]
pub struct Declared {
    pub cluster: Option<String>,
    pub namespace: Option<String>,
    pub services: Vec<DeclaredService>,
    pub nodes: Vec<String>,
}

#[derive(Debug, Clone, Default)]
pub struct DeclaredService {
    pub name: String,
    pub kind: Option<String>,
    pub depends_on: Vec<String>,
    /// Pod names and the node each runs on.
    pub pods: Vec<(String, Option<String>)>,
}

/// A problem in a declared inventory, with where it is relative to the inventory's root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopologyError {
    pub path: String,
    pub message: String,
}

impl Topology {
    /// Checks names, builds ids and the transitive dependency closure; refuses cycles. With
    /// errors, the inventory comes back without dependencies, so that the names it declares can
    /// still be checked.
    pub fn build(declared: Declared, rules: Vec<SubjectRule>) -> (Topology, Vec<TopologyError>) {
        let mut errors = Vec::new();
        let mut topology = Topology {
            cluster: declared.cluster.map(String::into_boxed_str),
            namespace: declared.namespace.map(String::into_boxed_str),
            rules,
            ..Topology::default()
        };
        for node in &declared.nodes {
            topology.add_node(node);
        }
        for DeclaredService { name, kind, .. } in &declared.services {
            if topology.service_ids.contains_key(name.as_str()) {
                errors.push(TopologyError {
                    path: format!("services.{name}"),
                    message: format!("service {name:?} is declared twice"),
                });
                continue;
            }
            let id = topology.services.len() as ServiceId;
            topology.service_ids.insert(name.as_str().into(), id);
            topology.services.push(Service {
                name: name.as_str().into(),
                kind: kind.as_deref().filter(|kind| !kind.is_empty()).map(Into::into),
                depends_on: Vec::new(),
                declared: true,
                pods_declared: false,
            });
        }
        topology.service_nodes = vec![Vec::new(); topology.services.len()];
        topology.service_pods = vec![Vec::new(); topology.services.len()];
        topology.has_dependents = vec![false; topology.services.len()];
        for DeclaredService { name, depends_on, pods, .. } in &declared.services {
            let Some(&id) = topology.service_ids.get(name.as_str()) else { continue };
            for (index, dependency) in depends_on.iter().enumerate() {
                match topology.service_ids.get(dependency.as_str()) {
                    Some(&target) => topology.services[id as usize].depends_on.push(target),
                    None => errors.push(TopologyError {
                        path: format!("services.{name}.depends_on[{index}]"),
                        message: format!("unknown service {dependency:?}"),
                    }),
                }
            }
            for (index, (pod, node)) in pods.iter().enumerate() {
                let node_id = node.as_deref().map(|node| topology.add_node(node));
                if topology.pods.insert(pod.as_str().into(), (id, node_id)).is_some() {
                    errors.push(TopologyError {
                        path: format!("services.{name}.pods[{index}]"),
                        message: format!("pod {pod:?} is declared twice"),
                    });
                }
                topology.service_pods[id as usize].push((pod.as_str().into(), node_id));
                topology.services[id as usize].pods_declared = true;
                if let Some(node_id) = node_id {
                    let nodes = &mut topology.service_nodes[id as usize];
                    if !nodes.contains(&node_id) {
                        nodes.push(node_id);
                    }
                }
            }
        }
        topology.declared_nodes = topology.nodes.len();
        if let Some(cycle) = topology.find_cycle() {
            errors.push(TopologyError {
                path: format!("services.{}.depends_on", cycle[0]),
                message: format!("cycle in depends_on: {}", cycle.join(" -> ")),
            });
        }
        if !errors.is_empty() {
            for service in &mut topology.services {
                service.depends_on.clear();
            }
            topology.close_dependencies();
            return (topology, errors);
        }
        topology.close_dependencies();
        (topology, errors)
    }

    fn add_node(&mut self, name: &str) -> NodeId {
        if let Some(&id) = self.node_ids.get(name) {
            return id;
        }
        let id = self.nodes.len() as NodeId;
        self.nodes.push(name.into());
        self.node_ids.insert(name.into(), id);
        id
    }

    /// A dependency cycle, as service names from its first service back to it, if any.
    fn find_cycle(&self) -> Option<Vec<String>> {
        #[derive(Clone, Copy, PartialEq)]
        enum Mark {
            New,
            Active,
            Done,
        }
        let mut marks = vec![Mark::New; self.services.len()];
        let mut path: Vec<ServiceId> = Vec::new();
        for start in 0..self.services.len() {
            if marks[start] != Mark::New {
                continue;
            }
            // Iterative depth-first search: (service, next dependency index).
            let mut stack: Vec<(ServiceId, usize)> = vec![(start as ServiceId, 0)];
            marks[start] = Mark::Active;
            path.push(start as ServiceId);
            while let Some(&mut (service, ref mut next)) = stack.last_mut() {
                let dependencies = &self.services[service as usize].depends_on;
                if *next < dependencies.len() {
                    let dependency = dependencies[*next];
                    *next += 1;
                    match marks[dependency as usize] {
                        Mark::New => {
                            marks[dependency as usize] = Mark::Active;
                            stack.push((dependency, 0));
                            path.push(dependency);
                        }
                        Mark::Active => {
                            let from = path.iter().position(|&id| id == dependency).unwrap_or(0);
                            let mut cycle: Vec<String> = path[from..]
                                .iter()
                                .map(|&id| self.services[id as usize].name.to_string())
                                .collect();
                            cycle.push(self.services[dependency as usize].name.to_string());
                            return Some(cycle);
                        }
                        Mark::Done => {}
                    }
                } else {
                    marks[service as usize] = Mark::Done;
                    stack.pop();
                    path.pop();
                }
            }
        }
        None
    }

    /// The transitive closure of the direct dependencies, and which services have dependents:
    /// a walk from each service (services are hundreds at most; calls a few per service).
    fn close_dependencies(&mut self) {
        let count = self.services.len();
        let words = count.div_ceil(64);
        self.depends = vec![vec![0u64; words]; count];
        self.has_dependents = vec![false; count];
        let mut stack: Vec<ServiceId> = Vec::new();
        for id in 0..count {
            let bits = &mut self.depends[id];
            stack.extend(&self.services[id].depends_on);
            while let Some(dependency) = stack.pop() {
                let (word, bit) = (dependency as usize / 64, 1u64 << (dependency % 64));
                if bits[word] & bit == 0 {
                    bits[word] |= bit;
                    stack.extend(&self.services[dependency as usize].depends_on);
                }
            }
            for &dependency in &self.services[id].depends_on {
                self.has_dependents[dependency as usize] = true;
            }
        }
    }

    /// The most services, and nodes, an inventory learns: beyond, new names are refused. The
    /// dependency closure is a services × services bitmap (2 MiB at this size).
    pub const MAX_ENTITIES: usize = 4096;
    /// The longest name learned (a DNS name's limit): longer ones are refused.
    pub const MAX_NAME: usize = 253;

    /// The id of a service, added (as learned, not declared) if the inventory does not have it;
    /// `None` when the inventory is full.
    pub fn learn_service(&mut self, name: &str) -> Option<ServiceId> {
        if let Some(id) = self.service_id(name) {
            return Some(id);
        }
        if self.services.len() >= Self::MAX_ENTITIES || name.len() > Self::MAX_NAME {
            return None;
        }
        let id = self.services.len() as ServiceId;
        self.services.push(Service {
            name: name.into(),
            kind: None,
            depends_on: Vec::new(),
            declared: false,
            pods_declared: false,
        });
        self.service_ids.insert(name.into(), id);
        self.service_nodes.push(Vec::new());
        self.service_pods.push(Vec::new());
        self.has_dependents.push(false);
        let words = self.services.len().div_ceil(64);
        for bits in &mut self.depends {
            bits.resize(words, 0);
        }
        self.depends.push(vec![0; words]);
        Some(id)
    }

    /// The id of a node, added if the inventory does not have it; `None` when it is full.
    pub fn learn_node(&mut self, name: &str) -> Option<NodeId> {
        match self.node_id(name) {
            Some(id) => Some(id),
            None if self.nodes.len() >= Self::MAX_ENTITIES || name.len() > Self::MAX_NAME => None,
            None => Some(self.add_node(name)),
        }
    }

    /// Gives a learned service a kind (a datastore's `db.system`); a declared one keeps its own.
    pub fn learn_kind(&mut self, service: ServiceId, kind: &str) {
        let service = &mut self.services[service as usize];
        if !service.declared && service.kind.is_none() && !kind.is_empty() {
            service.kind = Some(kind.into());
        }
    }

    /// Places a pod of `service` on `node`, moving it if it was elsewhere. Refused (false) where
    /// the config speaks: a pod it lists, or a service whose pods it lists.
    pub fn place_pod(&mut self, pod: &str, service: ServiceId, node: Option<NodeId>) -> bool {
        if self.services[service as usize].pods_declared {
            return false;
        }
        match self.pods.get(pod).copied() {
            Some((held, _)) if self.services[held as usize].pods_declared => return false,
            Some(placed) if placed == (service, node) => return true,
            Some(_) => self.forget_pod(pod),
            None => {}
        }
        self.pods.insert(pod.into(), (service, node));
        self.service_pods[service as usize].push((pod.into(), node));
        self.place_service(service);
        true
    }

    /// Forgets a learned pod (a declared one stays).
    pub fn forget_pod(&mut self, pod: &str) {
        let Some(&(service, _)) = self.pods.get(pod) else { return };
        if self.services[service as usize].pods_declared {
            return;
        }
        self.pods.remove(pod);
        self.service_pods[service as usize].retain(|(held, _)| **held != *pod);
        self.place_service(service);
    }

    /// The nodes a service runs on, again from its pods.
    fn place_service(&mut self, service: ServiceId) {
        let mut nodes: Vec<NodeId> =
            self.service_pods[service as usize].iter().filter_map(|(_, node)| *node).collect();
        nodes.sort_unstable();
        nodes.dedup();
        self.service_nodes[service as usize] = nodes;
    }

    /// Adds a learned call from `from` to `to`. Refused (false) where the config speaks (the
    /// dependencies of a service it declares) and where it would close a loop (`to` already
    /// depends on `from`: the call learned first stands), as the config refuses cycles.
    pub fn learn_call(&mut self, from: ServiceId, to: ServiceId) -> bool {
        if self.services[from as usize].declared || from == to || self.depends_on(to, from) {
            return false;
        }
        if self.services[from as usize].depends_on.contains(&to) {
            return true;
        }
        self.services[from as usize].depends_on.push(to);
        self.has_dependents[to as usize] = true;
        // Whatever reaches `from` (and `from` itself) now reaches `to` and all `to` reaches.
        let mut reached = self.depends[to as usize].clone();
        reached[to as usize / 64] |= 1 << (to % 64);
        for id in 0..self.services.len() {
            if id == from as usize || self.depends_on(id as ServiceId, from) {
                for (word, bits) in self.depends[id].iter_mut().zip(&reached) {
                    *word |= bits;
                }
            }
        }
        true
    }

    /// Forgets a learned call.
    pub fn forget_call(&mut self, from: ServiceId, to: ServiceId) {
        let caller = &mut self.services[from as usize];
        if caller.declared {
            return;
        }
        let before = caller.depends_on.len();
        caller.depends_on.retain(|&dependency| dependency != to);
        if caller.depends_on.len() != before {
            self.close_dependencies();
        }
    }

    pub fn is_empty(&self) -> bool {
        self.services.is_empty() && self.nodes.is_empty()
    }

    /// Whether `service` depends on `dependency`, directly or through others.
    pub fn depends_on(&self, service: ServiceId, dependency: ServiceId) -> bool {
        self.depends
            .get(service as usize)
            .and_then(|bits| bits.get(dependency as usize / 64))
            .is_some_and(|word| word & (1 << (dependency % 64)) != 0)
    }

    /// Whether `service` has a pod on `node`.
    pub fn runs_on(&self, service: ServiceId, node: NodeId) -> bool {
        self.service_nodes.get(service as usize).is_some_and(|nodes| nodes.contains(&node))
    }

    /// Whether nothing says where `service` runs: no pod of it is placed on a node.
    pub fn placement_unknown(&self, service: ServiceId) -> bool {
        self.service_nodes.get(service as usize).is_none_or(Vec::is_empty)
    }

    pub fn service_count(&self) -> ServiceId {
        self.services.len() as ServiceId
    }

    /// The pods the inventory declares for `service`, with their nodes.
    pub fn pods(&self, service: ServiceId) -> &[(Box<str>, Option<NodeId>)] {
        self.service_pods.get(service as usize).map_or(&[], Vec::as_slice)
    }

    /// Whether `service` is an entry point: no other service depends on it.
    pub fn is_entry_point(&self, service: ServiceId) -> bool {
        !self.has_dependents.get(service as usize).copied().unwrap_or(false)
    }

    /// Whether `service` keeps state: the inventory gives it a kind (a datastore), or its pods
    /// are named as a StatefulSet's (`<name>-<ordinal>`).
    pub fn is_stateful(&self, service: ServiceId) -> bool {
        let declared = &self.services[service as usize];
        declared.kind.is_some()
            || (!self.pods(service).is_empty()
                && self.pods(service).iter().all(|(pod, _)| {
                    pod.strip_prefix(&*declared.name).and_then(|rest| rest.strip_prefix('-')).is_some_and(
                        |ordinal| !ordinal.is_empty() && ordinal.bytes().all(|byte| byte.is_ascii_digit()),
                    )
                }))
    }

    /// The entry points whose requests reach `service`: itself if it is one, else every entry
    /// point that depends on it.
    pub fn entry_points_reaching(&self, service: ServiceId) -> impl Iterator<Item = ServiceId> + '_ {
        (0..self.services.len() as ServiceId).filter(move |&entry| {
            self.is_entry_point(entry) && (entry == service || self.depends_on(entry, service))
        })
    }

    /// Every service with its id.
    pub fn services(&self) -> impl Iterator<Item = (ServiceId, &Service)> {
        self.services.iter().enumerate().map(|(id, service)| (id as ServiceId, service))
    }

    /// Whether the config declares the node (by name, or as where a pod it lists runs).
    pub fn declares_node(&self, name: &str) -> bool {
        self.node_id(name).is_some_and(|id| (id as usize) < self.declared_nodes)
    }

    /// Every node's name.
    pub fn node_names(&self) -> impl Iterator<Item = &str> {
        self.nodes.iter().map(|name| &**name)
    }

    pub fn service(&self, id: ServiceId) -> &Service {
        &self.services[id as usize]
    }

    pub fn service_id(&self, name: &str) -> Option<ServiceId> {
        self.service_ids.get(name).copied()
    }

    pub fn node_id(&self, name: &str) -> Option<NodeId> {
        self.node_ids.get(name).copied()
    }

    pub fn node_name(&self, id: NodeId) -> &str {
        &self.nodes[id as usize]
    }

    pub fn entity_name(&self, entity: Entity) -> &str {
        match entity {
            Entity::Service(id) => &self.service(id).name,
            Entity::Node(id) => self.node_name(id),
        }
    }

    /// Whether the config lists the pod.
    pub fn pod_declared(&self, pod: &str) -> bool {
        self.pods.get(pod).is_some_and(|(service, _)| self.services[*service as usize].pods_declared)
    }

    /// The node a pod runs on, by the pod's name.
    pub fn pod_node(&self, pod: &str) -> Option<NodeId> {
        self.pods.get(pod).and_then(|(_, node)| *node)
    }

    /// Resolves an alert's labels to what it is about. Alerts from another cluster than the
    /// inventory's are not resolved, nor are services and pods from another namespace (they may
    /// be same-named services elsewhere); nodes belong to the cluster, whatever the namespace
    /// of the exporter that reports on them.
    pub fn resolve(&self, labels: &Labels) -> Option<Subject> {
        if self.is_empty() || differs(&self.cluster, labels.get("cluster")) {
            return None;
        }
        let other_namespace = differs(&self.namespace, labels.get("namespace"));
        self.rules.iter().filter(|rule| rule.kind == SubjectKind::Node || !other_namespace).find_map(|rule| {
            let raw = labels.get(&rule.label)?;
            let value = match &rule.pattern {
                Some(pattern) => pattern.captures(raw)?.get(1)?.as_str(),
                None => raw,
            };
            self.lookup(rule.kind, value)
        })
    }

    fn lookup(&self, kind: SubjectKind, value: &str) -> Option<Subject> {
        match kind {
            SubjectKind::Service => self.service_id(value).map(|service| Subject {
                service: Some(service),
                node: None,
                pod_level: false,
            }),
            SubjectKind::Node => {
                self.node_id(value).map(|node| Subject { service: None, node: Some(node), pod_level: true })
            }
            SubjectKind::Pod => {
                if let Some(&(service, node)) = self.pods.get(value) {
                    return Some(Subject { service: Some(service), node, pod_level: true });
                }
                self.workload_of(value).map(|service| Subject {
                    service: Some(service),
                    node: None,
                    pod_level: true,
                })
            }
        }
    }

    /// The service a pod belongs to: the inventory's, or for a pod it has not seen (pods come
    /// and go), the workload its name gives: `<deployment>-<replicaset>-<id>`,
    /// `<daemonset>-<id>` or `<statefulset>-<ordinal>`, when that is a service.
    pub fn resolve_pod_service(&self, pod: &str) -> Option<ServiceId> {
        match self.pods.get(pod) {
            Some(&(service, _)) => Some(service),
            None => self.workload_of(pod),
        }
    }

    fn workload_of(&self, pod: &str) -> Option<ServiceId> {
        let mut name = pod;
        for _ in 0..2 {
            name = name.rsplit_once('-')?.0;
            if let Some(service) = self.service_id(name) {
                return Some(service);
            }
        }
        None
    }
}

/// The entity an open incident is rooted at, by name (after a reload or a restore): a learned
/// one keeps its name (`keep`) though its facts expired, so the incident keeps its root.
pub fn find_root(topology: &mut Topology, service: bool, name: &str, keep: bool) -> Option<Entity> {
    match (service, keep) {
        (true, false) => topology.service_id(name).map(Entity::Service),
        (true, true) => topology.learn_service(name).map(Entity::Service),
        (false, false) => topology.node_id(name).map(Entity::Node),
        (false, true) => topology.learn_node(name).map(Entity::Node),
    }
}

fn differs(expected: &Option<Box<str>>, actual: Option<&str>) -> bool {
    matches!((expected, actual), (Some(expected), Some(actual)) if **expected != *actual)
}

/// The default resolution rules, in order (documented in the README).
pub fn default_rules() -> Vec<SubjectRule> {
    let rule = |label: &str, kind: SubjectKind, pattern: Option<&str>| SubjectRule {
        label: label.into(),
        kind,
        // The default patterns are constants known to compile.
        pattern: pattern.and_then(|pattern| Regex::new(pattern).ok()),
    };
    vec![
        rule("pod", SubjectKind::Pod, None),
        rule("k8s.pod.name", SubjectKind::Pod, None),
        rule("deployment", SubjectKind::Service, None),
        rule("statefulset", SubjectKind::Service, None),
        rule("k8s.deployment.name", SubjectKind::Service, None),
        rule("node", SubjectKind::Node, None),
        rule("k8s.node.name", SubjectKind::Node, None),
        rule("instance", SubjectKind::Node, Some(r"^([^:]+)(?::\d+)?$")),
        rule("service", SubjectKind::Service, None),
        rule("service.name", SubjectKind::Service, None),
        rule("job", SubjectKind::Service, None),
    ]
}

/// A declared service, for tests: its name, kind, dependencies and pods with their nodes.
#[cfg(test)]
pub(crate) fn declare(
    name: &str,
    kind: Option<&str>,
    depends: &[&str],
    pods: &[(&str, &str)],
) -> DeclaredService {
    DeclaredService {
        name: name.to_owned(),
        kind: kind.map(str::to_owned),
        depends_on: depends.iter().map(|name| (*name).to_owned()).collect(),
        pods: pods.iter().map(|(pod, node)| ((*pod).to_owned(), Some((*node).to_owned()))).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn declared() -> Declared {
        let service = declare;
        Declared {
            cluster: Some("prod".into()),
            namespace: Some("shop".into()),
            services: vec![
                service("frontend", None, &["cart"], &[("frontend-7d9f8c6b5-abcde", "node-1")]),
                service("cart", None, &["redis"], &[("cart-5f6d7c8b9-xyz12", "node-2")]),
                service("redis", Some("redis"), &[], &[("redis-0", "node-2")]),
            ],
            nodes: vec!["node-1".into(), "node-2".into(), "node-3".into()],
        }
    }

    #[test]
    fn dependencies_are_transitive() {
        let (topology, errors) = Topology::build(declared(), default_rules());
        assert_eq!(errors, vec![]);
        let id = |name| topology.service_id(name).unwrap();
        assert!(topology.depends_on(id("frontend"), id("redis")));
        assert!(topology.depends_on(id("cart"), id("redis")));
        assert!(!topology.depends_on(id("redis"), id("cart")));
        assert!(topology.runs_on(id("cart"), topology.node_id("node-2").unwrap()));
    }

    #[test]
    fn labels_resolve_by_the_first_rule_that_finds_an_entity() {
        let (topology, _) = Topology::build(declared(), default_rules());
        let resolve = |pairs: &[(&str, &str)]| topology.resolve(&Labels::from_pairs(pairs.iter().copied()));
        let cart = topology.service_id("cart");
        // The exporter's own `service` label is not in the inventory; the pod is.
        let crashloop =
            resolve(&[("pod", "cart-5f6d7c8b9-xyz12"), ("service", "kube-state-metrics")]).unwrap();
        assert_eq!((crashloop.service, crashloop.node), (cart, topology.node_id("node-2")));
        // A pod the inventory has not seen still names its deployment.
        assert_eq!(resolve(&[("pod", "cart-5f6d7c8b9-new01")]).unwrap().service, cart);
        let disk = resolve(&[("instance", "node-3:9100"), ("service", "node-exporter")]).unwrap();
        assert_eq!((disk.service, disk.node), (None, topology.node_id("node-3")));
        assert_eq!(resolve(&[("service", "cart"), ("namespace", "other")]), None);
        let node_exporter = resolve(&[("instance", "node-1:9100"), ("namespace", "monitoring")]).unwrap();
        assert_eq!(node_exporter.node, topology.node_id("node-1"));
        assert_eq!(resolve(&[("node", "node-1"), ("cluster", "staging")]), None);
        assert_eq!(resolve(&[("service", "unknown")]), None);
    }

    #[test]
    fn cycles_and_unknown_dependencies_are_refused_with_their_path() {
        let mut declared = declared();
        declared.services[2].depends_on.push("frontend".into());
        declared.services[0].depends_on.push("nope".into());
        let (_, errors) = Topology::build(declared, default_rules());
        let rendered: Vec<String> =
            errors.iter().map(|error| format!("{}: {}", error.path, error.message)).collect();
        assert_eq!(
            rendered,
            vec![
                "services.frontend.depends_on[1]: unknown service \"nope\"".to_owned(),
                "services.frontend.depends_on: cycle in depends_on: frontend -> cart -> redis -> frontend"
                    .to_owned(),
            ]
        );
    }
}
