//! A seeded builder of alert storms on inventories of our own design: an inventory of a given
//! shape, real incidents of every kind the engine must page (datastore outages, bad deploys,
//! node failures made of warnings, disks filling up, slow latency regressions, certificates
//! about to expire, a second problem starting during an open one), and the noise a cluster
//! makes (rollout blips, scrape blips, flapping readiness, throttled pods, chronic capacity
//! warnings, the Watchdog, a node drained in its maintenance window). Alerts are sent the way a
//! Prometheus HA pair sends them. `judge` attributes the pages that come out to incidents the
//! way the evaluation's scorer does, and says what was missed, late, too urgent or noise.

use std::collections::HashMap;
use std::fmt::Write as _;

use noisegate_engine::model::{Edge, Event, FactSource, InventoryFacts, Labels, Placement, Severity};
use noisegate_engine::{Engine, Notification, PageAction};

use super::{T0, at, engine_from, prometheus_alert};

/// The engine's shipped kube-prometheus config: what the scenarios run.
const KUBE_PROMETHEUS: &str = include_str!("../../../configs/kube-prometheus.yaml");

/// splitmix64: small, seeded, and the same on every machine.
pub(super) struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x5eed_0fa1_e7ed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// In `[low, high]`.
    pub fn range(&mut self, low: i64, high: i64) -> i64 {
        low + (self.next() % (high - low + 1) as u64) as i64
    }

    pub fn below(&mut self, count: usize) -> usize {
        (self.next() % count as u64) as usize
    }

    pub fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// The shapes of inventory the scenarios run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Shape {
    /// A deep request path: a gateway calling a chain of services, datastores along it.
    Chain,
    /// A gateway fanning out to many independent services, each with its own datastore.
    Star,
    /// Layers of services calling a few services below, sharing datastores.
    Layered,
    /// A tiny cluster: a few services crowded on two nodes.
    Tiny,
}

pub(super) struct Service {
    pub name: String,
    /// Set for datastores (`redis`, `postgres`, ...).
    pub kind: Option<&'static str>,
    pub depends_on: Vec<usize>,
    /// Pod names and the node (index) each runs on.
    pub pods: Vec<(String, usize)>,
}

pub(super) struct Inventory {
    pub services: Vec<Service>,
    pub nodes: Vec<String>,
}

const APPS: [&str; 16] = [
    "gateway",
    "api",
    "orders",
    "payments",
    "inventory",
    "search",
    "users",
    "auth",
    "billing",
    "shipping",
    "reviews",
    "notify",
    "pricing",
    "media",
    "reports",
    "ledger",
];
const KINDS: [&str; 5] = ["postgres", "redis", "mysql", "mongodb", "memcached"];

impl Inventory {
    pub fn build(shape: Shape, rng: &mut Rng) -> Inventory {
        let nodes = match shape {
            Shape::Tiny => 2,
            Shape::Chain => rng.range(4, 6) as usize,
            Shape::Star => rng.range(6, 10) as usize,
            Shape::Layered => rng.range(5, 12) as usize,
        };
        let mut inventory = Inventory {
            services: Vec::new(),
            nodes: (0..nodes).map(|index| format!("worker-{index}.{}.internal", rng.range(10, 99))).collect(),
        };
        match shape {
            Shape::Chain => {
                let length = rng.range(5, 8) as usize;
                for name in APPS.iter().take(length) {
                    inventory.app(name, rng);
                }
                for index in 0..length - 1 {
                    inventory.services[index].depends_on.push(index + 1);
                }
                // Datastores along the chain.
                for owner in [length / 2, length - 1] {
                    let store = inventory.datastore(&format!("{}-db", APPS[owner]), rng);
                    inventory.services[owner].depends_on.push(store);
                }
            }
            Shape::Star => {
                let gateway = inventory.app("gateway", rng);
                let leaves = rng.range(7, 12) as usize;
                for name in APPS.iter().skip(1).take(leaves) {
                    let leaf = inventory.app(name, rng);
                    inventory.services[gateway].depends_on.push(leaf);
                    if rng.chance(70) {
                        let store = inventory.datastore(&format!("{name}-db"), rng);
                        inventory.services[leaf].depends_on.push(store);
                    }
                }
            }
            Shape::Layered => {
                let stores: Vec<usize> = (0..rng.range(2, 4))
                    .map(|index| inventory.datastore(&format!("shared-{}", KINDS[index as usize]), rng))
                    .collect();
                let layers = [rng.range(1, 2), rng.range(2, 4), rng.range(3, 5)];
                let mut below: Vec<usize> = Vec::new();
                let mut next_name = 0;
                for (depth, width) in layers.iter().enumerate().rev() {
                    let mut layer = Vec::new();
                    for _ in 0..*width {
                        let service = inventory.app(APPS[next_name], rng);
                        next_name += 1;
                        let targets: &[usize] = if depth == layers.len() - 1 { &stores } else { &below };
                        for _ in 0..rng.range(1, 3) {
                            let target = *rng.pick(targets);
                            if !inventory.services[service].depends_on.contains(&target) {
                                inventory.services[service].depends_on.push(target);
                            }
                        }
                        layer.push(service);
                    }
                    below = layer;
                }
            }
            Shape::Tiny => {
                let web = inventory.app("web", rng);
                let worker = inventory.app("worker", rng);
                let store = inventory.datastore("web-db", rng);
                inventory.services[web].depends_on.push(store);
                inventory.services[worker].depends_on.push(store);
            }
        }
        // A node that hosts nothing yet (just added to the cluster): its failure is an outage
        // too.
        if shape != Shape::Tiny {
            inventory.nodes.push(format!("worker-{}.{}.internal", inventory.nodes.len(), rng.range(10, 99)));
        }
        inventory
    }

    fn app(&mut self, name: &str, rng: &mut Rng) -> usize {
        let replicas = if rng.chance(20) { 1 } else { rng.range(2, 4) as usize };
        let hash = format!("{:09x}", rng.next() % 0xf_ffff_ffff);
        let pods = (0..replicas)
            .map(|_| {
                let id: String = (0..5).map(|_| (b'a' + (rng.next() % 26) as u8) as char).collect();
                (format!("{name}-{hash}-{id}"), rng.below(self.nodes.len()))
            })
            .collect();
        self.services.push(Service { name: name.to_owned(), kind: None, depends_on: Vec::new(), pods });
        self.services.len() - 1
    }

    fn datastore(&mut self, name: &str, rng: &mut Rng) -> usize {
        let kind = *rng.pick(&KINDS);
        let pods = vec![(format!("{name}-0"), rng.below(self.nodes.len()))];
        self.services.push(Service { name: name.to_owned(), kind: Some(kind), depends_on: Vec::new(), pods });
        self.services.len() - 1
    }

    /// Services that depend on `service`, directly or not.
    pub fn dependents(&self, service: usize) -> Vec<usize> {
        let mut found: Vec<usize> = Vec::new();
        let mut frontier = vec![service];
        while let Some(current) = frontier.pop() {
            for (index, other) in self.services.iter().enumerate() {
                if other.depends_on.contains(&current) && !found.contains(&index) {
                    found.push(index);
                    frontier.push(index);
                }
            }
        }
        found
    }

    /// Services that `service` depends on, directly or not.
    pub fn dependencies(&self, service: usize) -> Vec<usize> {
        let mut found: Vec<usize> = Vec::new();
        let mut frontier = vec![service];
        while let Some(current) = frontier.pop() {
            for &dependency in &self.services[current].depends_on {
                if !found.contains(&dependency) {
                    found.push(dependency);
                    frontier.push(dependency);
                }
            }
        }
        found
    }

    /// The inventory as the config's `topology` section.
    fn yaml(&self) -> String {
        let mut yaml = String::from("topology:\n  cluster: prod\n  namespace: shop\n  nodes:\n");
        for node in &self.nodes {
            let _ = writeln!(yaml, "    - {node}");
        }
        yaml.push_str("  services:\n");
        for service in &self.services {
            let depends: Vec<&str> =
                service.depends_on.iter().map(|index| self.services[*index].name.as_str()).collect();
            let _ = writeln!(yaml, "    {}:\n      depends_on: [{}]", service.name, depends.join(", "));
            if let Some(kind) = service.kind {
                let _ = writeln!(yaml, "      kind: {kind}");
            }
            yaml.push_str("      pods:\n");
            for (pod, node) in &service.pods {
                let _ = writeln!(yaml, "        - {{name: {pod}, node: {}}}", self.nodes[*node]);
            }
        }
        yaml
    }
}

/// What a real problem is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    DatastoreOutage,
    BadDeploy,
    NodeFailure,
    DiskFilling,
    LatencyRegression,
    CertExpiry,
}

/// A real problem: it must page, at its urgency, by `page_by`.
#[derive(Debug, Clone)]
pub(super) struct Incident {
    pub kind: Kind,
    pub high: bool,
    pub start: i64,
    pub page_by: i64,
    pub about: String,
    /// The node or service it is about (a disk's node).
    pub entity: String,
    /// When its last alert stops.
    pub end: i64,
    /// Started while another incident was open (or as it ended).
    pub second: bool,
}

/// One alert firing from `start` until `end` (seconds after T0); `owner` is the incident it
/// belongs to, `None` for noise.
#[derive(Debug, Clone)]
pub(super) struct Episode {
    pub labels: LabelSet,
    pub start: i64,
    pub end: i64,
    pub owner: Option<usize>,
}

/// A scenario: the inventory, what happens, and the config the engine runs.
pub(super) struct Scenario {
    pub inventory: Inventory,
    pub incidents: Vec<Incident>,
    pub episodes: Vec<Episode>,
    /// Maintenance windows: node, start, end.
    pub maintenance: Vec<(usize, i64, i64)>,
    pub duration: i64,
}

const MINUTE: i64 = 60;
const HOUR: i64 = 3600;
/// The correlation window of the config under test: a second problem on a related entity must
/// start after it to be told apart (within it, it is the first problem's own cause or symptom).
const WINDOW: i64 = 10 * MINUTE;
/// How often the learned-inventory storms send each pod's log resource (their spans, every
/// minute).
const PLACEMENTS_EVERY: i64 = 5 * MINUTE;

/// An alert's labels (the cluster's added).
type LabelSet = Vec<(String, String)>;

fn labels(pairs: &[(&str, &str)]) -> LabelSet {
    let mut labels: LabelSet = vec![("cluster".into(), "prod".into())];
    labels.extend(pairs.iter().map(|(name, value)| ((*name).to_owned(), (*value).to_owned())));
    labels
}

/// An alert a service's own metrics raise (error rate, latency, a datastore's exporter).
fn service_alert(alertname: &str, service: &str, severity: &str) -> LabelSet {
    labels(&[
        ("alertname", alertname),
        ("service", service),
        ("job", service),
        ("namespace", "shop"),
        ("severity", severity),
    ])
}

/// A kube-state-metrics alert about a pod, a deployment or a node (`about` names which).
fn state_alert(alertname: &str, about: &str, value: &str, severity: &str) -> LabelSet {
    let namespace = if about == "node" { "monitoring" } else { "shop" };
    labels(&[
        ("alertname", alertname),
        (about, value),
        ("namespace", namespace),
        ("job", "kube-state-metrics"),
        ("service", "kube-state-metrics"),
        ("severity", severity),
    ])
}

/// A pod's container throttled (an info alert).
fn throttled(pod: &str, container: &str) -> LabelSet {
    labels(&[
        ("alertname", "CPUThrottlingHigh"),
        ("pod", pod),
        ("container", container),
        ("namespace", "shop"),
        ("severity", "info"),
    ])
}

fn down_alert(kind: &str) -> &'static str {
    match kind {
        "postgres" => "PostgresqlDown",
        "redis" => "RedisDown",
        "mysql" => "MysqlDown",
        "mongodb" => "MongodbDown",
        _ => "MemcachedDown",
    }
}

impl Scenario {
    pub fn build(shape: Shape, seed: u64) -> Scenario {
        let mut rng = Rng::new(seed.wrapping_mul(31).wrapping_add(shape as u64));
        let inventory = Inventory::build(shape, &mut rng);
        let duration = 8 * HOUR;
        let mut scenario = Scenario {
            inventory,
            incidents: Vec::new(),
            episodes: Vec::new(),
            maintenance: Vec::new(),
            duration,
        };
        // One maintenance window, announced in the inventory.
        let node = rng.below(scenario.inventory.nodes.len());
        let start = rng.range(HOUR, duration - 2 * HOUR);
        scenario.maintenance.push((node, start, start + HOUR));
        scenario.plan_incidents(&mut rng);
        scenario.plan_noise(&mut rng);
        scenario
    }

    /// Whether an episode with these labels overlaps one already planned (Prometheus would
    /// send them as one alert).
    fn overlaps(&self, labels: &LabelSet, start: i64, end: i64) -> bool {
        self.episodes.iter().any(|episode| {
            episode.labels == *labels && start < episode.end + 3 * MINUTE && episode.start < end + 3 * MINUTE
        })
    }

    fn in_maintenance(&self, node: usize, start: i64, end: i64) -> bool {
        self.maintenance.iter().any(|(window_node, from, to)| {
            *window_node == node && start < *to + 10 * MINUTE && *from < end + 10 * MINUTE
        })
    }

    /// Adds the incident if none of its alerts collides with one planned already, and no other
    /// incident is about its entity meanwhile (two problems of one entity at once are one).
    fn add(&mut self, incident: Incident, episodes: Vec<Episode>) -> bool {
        if episodes.iter().any(|episode| self.overlaps(&episode.labels, episode.start, episode.end)) {
            return false;
        }
        let busy = self.incidents.iter().any(|other| {
            other.entity == incident.entity
                && incident.start < other.end + 10 * MINUTE
                && other.start < incident.end + 10 * MINUTE
        });
        if busy {
            return false;
        }
        let owner = self.incidents.len();
        self.incidents.push(incident);
        self.episodes.extend(episodes.into_iter().map(|episode| Episode { owner: Some(owner), ..episode }));
        true
    }

    fn plan_incidents(&mut self, rng: &mut Rng) {
        let mut kinds = vec![
            Kind::DatastoreOutage,
            Kind::BadDeploy,
            Kind::NodeFailure,
            Kind::NodeFailure,
            Kind::DiskFilling,
            Kind::LatencyRegression,
            Kind::LatencyRegression,
            Kind::CertExpiry,
            Kind::BadDeploy,
            Kind::DatastoreOutage,
            Kind::NodeFailure,
            Kind::BadDeploy,
        ];
        // Shuffle (Fisher-Yates), seeded.
        for index in (1..kinds.len()).rev() {
            kinds.swap(index, rng.below(index + 1));
        }
        let mut time = rng.range(5 * MINUTE, 20 * MINUTE);
        let mut previous: Option<(usize, i64, i64)> = None;
        for kind in kinds {
            // A third of the time, the next problem starts while the previous one is open (on a
            // related entity when there is one), or just as it ends.
            let second = previous.filter(|_| rng.chance(35));
            let start = match second {
                Some((_, first_start, first_end)) if first_end - first_start > WINDOW + 3 * MINUTE => {
                    rng.range(first_start + WINDOW + MINUTE, first_end - MINUTE)
                }
                Some((_, _, first_end)) => first_end + rng.range(0, 90),
                None => time,
            };
            let near = second.map(|(owner, _, _)| owner);
            for _attempt in 0..20 {
                if let Some((incident, episodes)) = self.plan(kind, start, near, rng) {
                    let end = episodes.iter().map(|episode| episode.end).max().unwrap_or(start);
                    let incident = Incident { second: second.is_some(), end, ..incident };
                    if self.add(incident, episodes) {
                        previous = Some((self.incidents.len() - 1, start, end));
                        break;
                    }
                }
            }
            time = time.max(start) + rng.range(25 * MINUTE, 50 * MINUTE);
            if time > self.duration - 2 * HOUR {
                break;
            }
        }
    }

    /// The alerts of one incident of `kind` starting at `start`, on an entity related to
    /// incident `near` when given and possible.
    fn plan(
        &self,
        kind: Kind,
        start: i64,
        near: Option<usize>,
        rng: &mut Rng,
    ) -> Option<(Incident, Vec<Episode>)> {
        let inventory = &self.inventory;
        let services = &inventory.services;
        let near_service = near.and_then(|owner| {
            services.iter().position(|service| service.name == self.incidents[owner].entity)
        });
        let related: Vec<usize> = near_service
            .map(|service| {
                let mut related = inventory.dependencies(service);
                related.extend(inventory.dependents(service));
                related
            })
            .unwrap_or_default();
        let choose = |rng: &mut Rng, wanted: &dyn Fn(&Service) -> bool| -> Option<usize> {
            let candidates: Vec<usize> =
                (0..services.len()).filter(|index| wanted(&services[*index])).collect();
            let close: Vec<usize> =
                candidates.iter().copied().filter(|index| related.contains(index)).collect();
            let pool = if close.is_empty() || rng.chance(30) { candidates } else { close };
            (!pool.is_empty()).then(|| *rng.pick(&pool))
        };
        let mut episodes = Vec::new();
        let mut episode = |labels: LabelSet, from: i64, until: i64| {
            episodes.push(Episode { labels, start: from, end: until, owner: None });
        };
        let (high, page_by, about, entity) = match kind {
            Kind::DatastoreOutage => {
                let store = choose(rng, &|service| service.kind.is_some())?;
                let name = services[store].name.as_str();
                let end = start + rng.range(10, 35) * MINUTE;
                episode(
                    service_alert(down_alert(services[store].kind?), name, "critical"),
                    start + rng.range(20, 90),
                    end,
                );
                let direct: Vec<usize> = (0..services.len())
                    .filter(|index| services[*index].depends_on.contains(&store))
                    .collect();
                for &dependent in &direct {
                    let dependent = &services[dependent];
                    let errors = service_alert("HTTPErrorRateHigh", &dependent.name, "critical");
                    episode(errors, start + rng.range(30, 180), end + rng.range(0, 60));
                    if rng.chance(50) {
                        let (pod, _) = rng.pick(&dependent.pods);
                        episode(
                            state_alert("KubePodCrashLooping", "pod", pod, "warning"),
                            start + rng.range(60, 240),
                            end,
                        );
                    }
                }
                for upstream in
                    inventory.dependents(store).into_iter().filter(|index| !direct.contains(index))
                {
                    if rng.chance(60) {
                        let errors = service_alert("HTTPErrorRateHigh", &services[upstream].name, "critical");
                        episode(errors, start + rng.range(60, 300), end + rng.range(0, 90));
                    }
                }
                (true, start + 10 * MINUTE, name.to_owned(), name.to_owned())
            }
            Kind::BadDeploy => {
                let target = choose(rng, &|service| service.kind.is_none())?;
                let name = services[target].name.as_str();
                let end = start + rng.range(6, 25) * MINUTE;
                episode(service_alert("HTTPErrorRateHigh", name, "critical"), start + rng.range(40, 90), end);
                for (pod, _) in &services[target].pods {
                    episode(
                        state_alert("KubePodCrashLooping", "pod", pod, "warning"),
                        start + rng.range(60, 180),
                        end,
                    );
                }
                let mismatch = state_alert("KubeDeploymentReplicasMismatch", "deployment", name, "warning");
                episode(mismatch, start + rng.range(90, 240), end + MINUTE);
                for dependent in inventory.dependents(target) {
                    if rng.chance(50) {
                        let errors =
                            service_alert("HTTPErrorRateHigh", &services[dependent].name, "critical");
                        episode(errors, start + rng.range(60, 240), end + rng.range(0, 90));
                    }
                }
                (true, start + 10 * MINUTE, name.to_owned(), name.to_owned())
            }
            Kind::NodeFailure => {
                // Any node, with whatever it hosts (nothing, replicas, a datastore), or the node
                // of a service related to the open incident.
                let node = match choose(rng, &|_| true) {
                    Some(service) if near.is_some() && rng.chance(60) => rng.pick(&services[service].pods).1,
                    _ => rng.below(inventory.nodes.len()),
                };
                let end = start + rng.range(12, 45) * MINUTE;
                if self.in_maintenance(node, start, end) {
                    return None;
                }
                let node_name = inventory.nodes[node].as_str();
                for alertname in ["KubeNodeNotReady", "KubeNodeUnreachable"] {
                    episode(
                        state_alert(alertname, "node", node_name, "warning"),
                        start + rng.range(60, 110),
                        end,
                    );
                }
                for service in services {
                    let mut on_node = service.pods.iter().filter(|(_, placed)| *placed == node).peekable();
                    if on_node.peek().is_none() {
                        continue;
                    }
                    for (pod, _) in on_node {
                        episode(
                            state_alert("KubePodNotReady", "pod", pod, "warning"),
                            start + rng.range(70, 330),
                            end,
                        );
                    }
                    if rng.chance(80) {
                        episode(
                            service_alert("TargetDown", &service.name, "warning"),
                            start + rng.range(60, 200),
                            end,
                        );
                    }
                    if service.kind.is_none() && rng.chance(70) {
                        let mismatch = state_alert(
                            "KubeDeploymentReplicasMismatch",
                            "deployment",
                            &service.name,
                            "warning",
                        );
                        episode(mismatch, start + rng.range(200, 350), end);
                    }
                }
                (true, start + 10 * MINUTE, node_name.to_owned(), node_name.to_owned())
            }
            Kind::DiskFilling => {
                let node = rng.below(inventory.nodes.len());
                let critical = start + rng.range(30, 60) * MINUTE;
                let end = critical + rng.range(10, 25) * MINUTE;
                // An operator's window silences the node's alerts, a disk's too.
                if self.in_maintenance(node, start, end) {
                    return None;
                }
                let instance = format!("{}:9100", inventory.nodes[node]);
                let disk = |alertname: &str, severity: &str| {
                    labels(&[
                        ("alertname", alertname),
                        ("instance", &instance),
                        ("job", "node-exporter"),
                        ("service", "node-exporter"),
                        ("namespace", "monitoring"),
                        ("device", "/dev/nvme0n1p1"),
                        ("mountpoint", "/"),
                        ("severity", severity),
                    ])
                };
                episode(disk("NodeFilesystemSpaceFillingUp", "warning"), start, end);
                episode(disk("NodeFilesystemAlmostOutOfSpace", "critical"), critical, end);
                (true, critical + 5 * MINUTE, instance.clone(), inventory.nodes[node].clone())
            }
            Kind::LatencyRegression => {
                let target = choose(rng, &|service| service.kind.is_none())?;
                let name = services[target].name.as_str();
                let end = start + rng.range(40, 120) * MINUTE;
                episode(service_alert("LatencyP99High", name, "warning"), start, end);
                // Half the time it shows upstream too.
                if let Some(&upstream) = inventory.dependents(target).first().filter(|_| rng.chance(50)) {
                    let slow = service_alert("LatencyP99High", &services[upstream].name, "warning");
                    episode(slow, start + rng.range(60, 240), end);
                }
                (false, start + HOUR, name.to_owned(), name.to_owned())
            }
            Kind::CertExpiry => {
                let end = (start + rng.range(2, 6) * HOUR).min(self.duration);
                let expiring = labels(&[
                    ("alertname", "KubeClientCertificateExpiration"),
                    ("job", "apiserver"),
                    ("service", "kubernetes"),
                    ("namespace", "default"),
                    ("severity", "warning"),
                ]);
                episode(expiring, start, end);
                (false, start + HOUR, "apiserver".to_owned(), "apiserver".to_owned())
            }
        };
        let incident = Incident { kind, high, start, page_by, about, entity, end: start, second: false };
        Some((incident, episodes))
    }

    /// What a cluster fires that nobody needs to be woken for.
    fn plan_noise(&mut self, rng: &mut Rng) {
        let duration = self.duration;
        let mut planned: Vec<Episode> = Vec::new();
        let noise =
            |scenario: &Scenario, planned: &mut Vec<Episode>, labels: LabelSet, start: i64, end: i64| {
                let clash = scenario.overlaps(&labels, start, end)
                    || planned.iter().any(|episode| {
                        episode.labels == labels
                            && start < episode.end + 3 * MINUTE
                            && episode.start < end + 3 * MINUTE
                    });
                if !clash && end > start {
                    planned.push(Episode { labels, start, end: end.min(duration), owner: None });
                }
            };
        let services = &self.inventory.services;
        // Chronic capacity warnings and the Watchdog, the whole time.
        let watchdog =
            labels(&[("alertname", "Watchdog"), ("namespace", "monitoring"), ("severity", "none")]);
        noise(self, &mut planned, watchdog, 0, duration);
        for alertname in ["KubeCPUOvercommit", "KubeMemoryOvercommit"] {
            let overcommit =
                labels(&[("alertname", alertname), ("namespace", "kube-system"), ("severity", "warning")]);
            noise(self, &mut planned, overcommit, rng.range(0, 10 * MINUTE), duration);
        }
        // Rollouts: a pod not ready, the deployment short of a replica, its target down, for
        // a minute or four.
        let mut time = rng.range(0, 20 * MINUTE);
        while time < duration {
            let service = &services[rng.below(services.len())];
            let (pod, _) = rng.pick(&service.pods);
            let not_ready = state_alert("KubePodNotReady", "pod", pod, "warning");
            noise(self, &mut planned, not_ready, time, time + rng.range(60, 230));
            if service.kind.is_none() && rng.chance(60) {
                let mismatch =
                    state_alert("KubeDeploymentReplicasMismatch", "deployment", &service.name, "warning");
                noise(self, &mut planned, mismatch, time + 20, time + 20 + rng.range(60, 160));
            }
            if rng.chance(50) {
                let target = service_alert("TargetDown", &service.name, "warning");
                noise(self, &mut planned, target, time + 10, time + 10 + rng.range(60, 150));
            }
            time += rng.range(15, 40) * MINUTE;
        }
        // A rollout whose new pod takes minutes to get ready while the old one serves (a
        // single-replica deployment's, when there is one: the inventory lists only the old pod).
        let singles: Vec<&Service> =
            services.iter().filter(|service| service.kind.is_none() && service.pods.len() == 1).collect();
        if let Some(service) =
            singles.first().copied().or_else(|| services.iter().find(|service| service.kind.is_none()))
        {
            let from = rng.range(HOUR, duration - HOUR);
            let new_pod =
                format!("{}-{:09x}-slow{}", service.name, rng.next() % 0xf_ffff_ffff, rng.range(0, 9));
            let not_ready = state_alert("KubePodNotReady", "pod", &new_pod, "warning");
            noise(self, &mut planned, not_ready, from, from + rng.range(6, 9) * MINUTE);
        }
        // Scrape blips.
        let mut time = rng.range(0, 30 * MINUTE);
        while time < duration {
            let target = service_alert("TargetDown", &services[rng.below(services.len())].name, "warning");
            noise(self, &mut planned, target, time, time + rng.range(60, 150));
            time += rng.range(20, 45) * MINUTE;
        }
        // Latency spikes that pass within minutes (they teach the history that this kind of
        // alert usually resolves on its own).
        let mut time = rng.range(0, 30 * MINUTE);
        while time < duration {
            let service = &services[rng.below(services.len())];
            if service.kind.is_none() {
                let spike = service_alert("LatencyP99High", &service.name, "warning");
                noise(self, &mut planned, spike, time, time + rng.range(60, 200));
            }
            time += rng.range(10, 30) * MINUTE;
        }
        // A pod whose readiness flaps all day.
        let flapping = rng.below(services.len());
        let (flapper, _) = rng.pick(&services[flapping].pods);
        let mut time = rng.range(0, 10 * MINUTE);
        while time < duration {
            let not_ready = state_alert("KubePodNotReady", "pod", flapper, "warning");
            noise(self, &mut planned, not_ready, time, time + rng.range(60, 140));
            time += rng.range(8, 20) * MINUTE;
        }
        // Throttled pods, on and off.
        for _ in 0..2 {
            let service = &services[rng.below(services.len())];
            let (pod, _) = rng.pick(&service.pods);
            let throttled = throttled(pod, &service.name);
            let mut time = rng.range(0, 30 * MINUTE);
            while time < duration {
                let end = time + rng.range(3, 8) * MINUTE;
                noise(self, &mut planned, throttled.clone(), time, end);
                time = end + rng.range(2, 8) * MINUTE;
            }
        }
        // A batch job hogs the CPU: pods across the namespace throttled for half an hour.
        let wave = rng.range(HOUR, duration - HOUR);
        let until = wave + rng.range(20, 40) * MINUTE;
        for service in services {
            for (pod, _) in &service.pods {
                if !rng.chance(60) {
                    continue;
                }
                noise(self, &mut planned, throttled(pod, &service.name), wave + rng.range(0, 120), until);
            }
        }
        // The node in maintenance: cordoned, drained, rebooted.
        for &(node, from, _) in &self.maintenance {
            let node_name = self.inventory.nodes[node].as_str();
            let cordoned = state_alert("KubeNodeUnschedulable", "node", node_name, "warning");
            noise(self, &mut planned, cordoned, from + MINUTE, from + 55 * MINUTE);
            let reboot = from + rng.range(15, 35) * MINUTE;
            let not_ready = state_alert("KubeNodeNotReady", "node", node_name, "warning");
            noise(self, &mut planned, not_ready, reboot, reboot + rng.range(4, 8) * MINUTE);
            for service in services {
                for (pod, _) in service.pods.iter().filter(|(_, placed)| *placed == node) {
                    let evicted = state_alert("KubePodNotReady", "pod", pod, "warning");
                    noise(self, &mut planned, evicted, reboot - MINUTE, reboot + rng.range(3, 9) * MINUTE);
                }
            }
        }
        // A node cordoned and drained without a window: planned work nobody announced.
        let node = rng.below(self.inventory.nodes.len());
        let from = rng.range(HOUR, duration - HOUR);
        let node_name = self.inventory.nodes[node].clone();
        let busy = self.incidents.iter().any(|incident| {
            incident.entity == node_name && from < incident.end + 15 * MINUTE && incident.start < from + HOUR
        });
        if !busy && !self.in_maintenance(node, from, from + HOUR) {
            let cordoned = state_alert("KubeNodeUnschedulable", "node", &node_name, "warning");
            noise(self, &mut planned, cordoned, from, from + 45 * MINUTE);
            let reboot = from + rng.range(10, 25) * MINUTE;
            let not_ready = state_alert("KubeNodeNotReady", "node", &node_name, "warning");
            noise(self, &mut planned, not_ready, reboot, reboot + rng.range(5, 9) * MINUTE);
        }
        self.episodes.extend(planned);
    }

    /// The config the engine runs: the shipped kube-prometheus config with its maintenance
    /// windows, and this inventory when `declared`.
    pub fn config(&self, declared: bool) -> String {
        let inventory = if declared { self.inventory.yaml() } else { String::new() };
        let mut yaml = format!("{KUBE_PROMETHEUS}\n{inventory}");
        yaml.push_str("silences:\n");
        for (node, from, to) in &self.maintenance {
            let _ = writeln!(
                yaml,
                "  - matchers: ['node=\"{}\"']\n    start: {}\n    end: {}\n    comment: maintenance",
                self.inventory.nodes[*node],
                at(*from),
                at(*to)
            );
        }
        yaml
    }

    /// Plays the scenario through the engine as an HA pair of Prometheus servers sends it:
    /// every firing alert sent at once and again every minute (`endsAt` four minutes ahead),
    /// and once more with its `endsAt` when it stops. The engine knows the inventory from the
    /// config.
    pub fn play(&self) -> Vec<Notification> {
        self.play_with(&self.config(true), |_| Vec::new())
    }

    /// The same with no inventory in the config: the engine learns it from the telemetry a
    /// Collector forwards, as a sampled copy: every `PLACEMENTS_EVERY`, each pod's log resource
    /// (service, pod, node) from every pod but those of a node that is down; every minute,
    /// about half of each app's calls from its spans (sampling), a datastore's named by
    /// `db.system` and its address. Datastores send no spans.
    pub fn play_learned(&self, seed: u64) -> Vec<Notification> {
        let mut rng = Rng::new(seed ^ 0x7e1e_3e7e);
        let inventory = &self.inventory;
        let node_down = |node: &str, time: i64| {
            self.incidents.iter().any(|incident| {
                incident.kind == Kind::NodeFailure
                    && incident.entity == node
                    && (incident.start..incident.end).contains(&time)
            })
        };
        self.play_with(&self.config(false), move |time| {
            let mut placements = Vec::new();
            for service in inventory.services.iter().filter(|_| time % PLACEMENTS_EVERY == 0) {
                for (pod, node) in &service.pods {
                    let node = &inventory.nodes[*node];
                    if !node_down(node, time) {
                        placements.push(Placement {
                            service: service.name.as_str().into(),
                            pod: Some(pod.as_str().into()),
                            node: Some(node.as_str().into()),
                            namespace: Some("shop".into()),
                            cluster: Some("prod".into()),
                        });
                    }
                }
            }
            let mut edges = Vec::new();
            for service in &inventory.services {
                for &callee in &service.depends_on {
                    if rng.chance(50) {
                        let callee = &inventory.services[callee];
                        edges.push(Edge {
                            from: service.name.as_str().into(),
                            to: callee.name.as_str().into(),
                            datastore: callee.kind.map(Into::into),
                        });
                    }
                }
            }
            vec![
                Event::Inventory(InventoryFacts { source: FactSource::Logs, placements, edges: Vec::new() }),
                Event::Inventory(InventoryFacts { source: FactSource::Spans, placements: Vec::new(), edges }),
            ]
        })
    }

    /// Plays the alerts, with what `telemetry` gives for each minute applied at that minute,
    /// before that minute's alerts.
    fn play_with(&self, config: &str, mut telemetry: impl FnMut(i64) -> Vec<Event>) -> Vec<Notification> {
        let mut engine: Engine = engine_from(config);
        let mut sends: Vec<(i64, usize, i64)> = Vec::new();
        for (index, episode) in self.episodes.iter().enumerate() {
            let mut time = episode.start;
            while time < episode.end {
                sends.push((time, index, time + 4 * MINUTE));
                time += MINUTE;
            }
            sends.push((episode.end, index, episode.end));
        }
        sends.sort_unstable();
        let mut out = Vec::new();
        let mut next_minute = 0;
        let mut told = |engine: &mut Engine, until: i64, out: &mut Vec<Notification>| {
            while next_minute <= until {
                engine.apply_batch(telemetry(next_minute), at(next_minute), out);
                next_minute += MINUTE;
            }
        };
        let mut batch: Vec<Event> = Vec::new();
        let mut batch_time = None;
        for (time, index, ends) in sends {
            if let Some(current) = batch_time.filter(|current| *current != time) {
                told(&mut engine, current, &mut out);
                engine.apply_batch(std::mem::take(&mut batch), at(current), &mut out);
            }
            batch_time = Some(time);
            let episode = &self.episodes[index];
            for replica in ["prometheus-k8s-0", "prometheus-k8s-1"] {
                let mut pairs: Vec<(&str, &str)> =
                    episode.labels.iter().map(|(name, value)| (name.as_str(), value.as_str())).collect();
                pairs.push(("prometheus_replica", replica));
                batch.push(prometheus_alert(Labels::from_pairs(pairs), episode.start, ends));
            }
        }
        if let Some(time) = batch_time {
            told(&mut engine, time, &mut out);
            engine.apply_batch(batch, at(time), &mut out);
        }
        told(&mut engine, self.duration, &mut out);
        engine.flush_pending(at(self.duration + HOUR), &mut out);
        out
    }
}

/// A PagerDuty incident as the pages made it: opened by a trigger for a key with none open.
#[derive(Debug)]
pub(super) struct Paged {
    pub key: String,
    pub opened: i64,
    /// When it was first high urgency (opened so, or escalated).
    pub high_at: Option<i64>,
    /// The owner of each alert its triggers listed (`None`: noise).
    pub members: Vec<Option<usize>>,
    /// The incident most of its alerts belong to; `None` when noise has the majority.
    pub owner: Option<usize>,
}

/// What the pages came to, against the scenario's truth.
pub(super) struct Verdict {
    pub paged: Vec<Paged>,
    pub problems: Vec<String>,
}

/// Attributes the pages to incidents (by the majority of the alerts a PagerDuty incident
/// listed, as the evaluation's scorer does) and lists every problem: a real incident not paged
/// by its deadline or not at its urgency, a PagerDuty incident that is noise, a low-urgency
/// problem paged high, a problem split into more than three incidents.
pub(super) fn judge(scenario: &Scenario, out: &[Notification]) -> Verdict {
    let mut owners: HashMap<LabelSet, Vec<(i64, Option<usize>)>> = HashMap::new();
    for episode in &scenario.episodes {
        let mut key = episode.labels.clone();
        key.sort();
        owners.entry(key).or_default().push((episode.start, episode.owner));
    }
    let owner_of = |labels: &Labels, starts_at: i64| -> Option<usize> {
        let mut key: LabelSet = labels
            .iter()
            .filter(|(name, _)| *name != "prometheus_replica")
            .map(|(name, value)| (name.to_owned(), value.to_owned()))
            .collect();
        key.sort();
        let candidates = owners.get(&key)?;
        candidates.iter().min_by_key(|(start, _)| (start - starts_at).abs()).and_then(|(_, owner)| *owner)
    };
    let mut paged: Vec<Paged> = Vec::new();
    let mut open: HashMap<String, usize> = HashMap::new();
    for notification in out {
        let Notification::Page(page) = notification else { continue };
        let time = (page.at.as_millis() - T0) / 1000;
        let key = page.dedup_key.to_string();
        match page.action {
            PageAction::Trigger => {
                let high = page.incident.severity >= Severity::Error;
                let members: Vec<Option<usize>> = page
                    .incident
                    .alerts
                    .iter()
                    .map(|alert| owner_of(&alert.labels, (alert.starts_at.as_millis() - T0) / 1000))
                    .collect();
                match open.get(&key) {
                    Some(&index) => {
                        let incident = &mut paged[index];
                        incident.members.extend(members);
                        if high && incident.high_at.is_none() {
                            incident.high_at = Some(time);
                        }
                    }
                    None => {
                        open.insert(key.clone(), paged.len());
                        paged.push(Paged {
                            key,
                            opened: time,
                            high_at: high.then_some(time),
                            members,
                            owner: None,
                        });
                    }
                }
            }
            PageAction::Resolve => {
                open.remove(&key);
            }
            PageAction::Acknowledge => {}
        }
    }
    // As the scorer does: the real incident most of its alerts belong to; noise only when none
    // of them belongs to a real incident.
    for incident in &mut paged {
        let mut counts: Vec<(usize, usize)> = Vec::new();
        for owner in incident.members.iter().flatten() {
            match counts.iter_mut().find(|(known, _)| known == owner) {
                Some((_, count)) => *count += 1,
                None => counts.push((*owner, 1)),
            }
        }
        incident.owner = counts
            .iter()
            .max_by_key(|(owner, count)| (*count, std::cmp::Reverse(*owner)))
            .map(|(owner, _)| *owner);
    }
    let mut problems = Vec::new();
    for (index, truth) in scenario.incidents.iter().enumerate() {
        let mine: Vec<&Paged> = paged.iter().filter(|incident| incident.owner == Some(index)).collect();
        let describe = || {
            format!(
                "incident {index} {:?} on {} at {}s{} (page by {}s)",
                truth.kind,
                truth.about,
                truth.start,
                if truth.second { ", a second problem" } else { "" },
                truth.page_by
            )
        };
        if truth.high {
            if !mine.iter().any(|incident| incident.high_at.is_some_and(|time| time <= truth.page_by)) {
                let got: Vec<String> = mine
                    .iter()
                    .map(|incident| format!("opened {}s, high at {:?}", incident.opened, incident.high_at))
                    .collect();
                problems.push(format!("{} was not paged high in time: {got:?}", describe()));
            }
        } else {
            if !mine.iter().any(|incident| incident.opened <= truth.page_by) {
                problems.push(format!("{} was not paged in time", describe()));
            }
            if mine.iter().any(|incident| incident.high_at.is_some()) {
                problems.push(format!("{} is a low-urgency problem but paged high", describe()));
            }
        }
        // Symptoms that page before their cause shows are incidents of their own (an incident
        // is re-rooted at a late cause, incidents are not merged): a shared datastore's outage
        // can open one per service that noticed first. More than that is a defect.
        if mine.len() > 3 {
            problems.push(format!("{} was split into {} PagerDuty incidents", describe(), mine.len()));
        }
    }
    for incident in paged.iter().filter(|incident| incident.owner.is_none()) {
        problems.push(format!(
            "noise paged at {}s ({}, high at {:?}): {} alerts, none of a real incident",
            incident.opened,
            incident.key,
            incident.high_at,
            incident.members.len()
        ));
    }
    Verdict { paged, problems }
}
