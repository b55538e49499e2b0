//! Logs as evidence: log records are mined online into templates per service with a Drain-style
//! fixed-depth parse tree (He et al., "Drain: An Online Log Parsing Approach with Fixed Depth
//! Tree", ICWS 2017), and counted per minute so that a page can carry the templates its
//! services logged around it, and a burst of a new error template can be noticed.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::Xxh3Builder;

use crate::cow::{NameMap, Share};
use crate::model::{EventTime, Severity};

const WILDCARD: &str = "<*>";
/// Minutes of per-template counts kept (a ring buffer).
const MINUTES: usize = 64;

type FastMap<K, V> = HashMap<K, V, Xxh3Builder>;

/// How templates are mined and what counts as a burst.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LogConfig {
    /// Depth of the parse tree: the token-count layer plus `depth - 2` leading-token layers.
    pub depth: usize,
    /// Share of a template's constant tokens a line must match to join it.
    pub similarity: f32,
    /// Children per tree node before new tokens go to the wildcard child.
    pub max_children: usize,
    /// Templates kept per service; lines beyond that count as "other".
    pub max_templates: usize,
    /// Services mined; lines of services beyond that are not mined (counted).
    pub max_services: usize,
    /// Error-level lines of one template within two minutes that make a burst.
    pub burst_errors: u32,
    /// A template first seen this recently (on a service that logged before) is new.
    pub new_within: Duration,
    /// How many templates a page lists.
    pub context_templates: usize,
    /// How far before an incident opened its log context reaches.
    pub context_lookback: Duration,
}

impl LogConfig {
    /// In place of the config in state just read: `LogMiner::restored` puts the real one.
    fn unset() -> LogConfig {
        LogConfig {
            depth: 0,
            similarity: 0.0,
            max_children: 0,
            max_templates: 0,
            max_services: 0,
            burst_errors: 0,
            new_within: Duration::ZERO,
            context_templates: 0,
            context_lookback: Duration::ZERO,
        }
    }
}

/// A Drain parse tree: lines in, template ids out.
#[derive(Clone, Serialize, Deserialize)]
pub struct Drain {
    #[serde(skip, default = "LogConfig::unset")]
    config: LogConfig,
    /// Token count to the tree below it.
    roots: FastMap<u32, TreeNode>,
    templates: Vec<Vec<Box<str>>>,
    /// Token spans of the line being parsed, and whether each has a digit; reused between lines.
    #[serde(skip)]
    spans: Vec<(u32, u32, bool)>,
}

#[derive(Default, Clone, Serialize)]
struct TreeNode {
    /// Few per node in practice (at most `max_children`): a vector scan beats hashing.
    children: Vec<(Box<str>, TreeNode)>,
    templates: Vec<u32>,
}

/// The deepest parse tree a snapshot may hold: far beyond any `logs.depth` in use, and shallow
/// enough that reading a hostile snapshot (a Kafka changelog record) cannot overflow the stack.
const MAX_TREE_DEPTH: u32 = 256;

thread_local! {
    /// How deep the tree being read is.
    static READING_DEPTH: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

impl<'de> Deserialize<'de> for TreeNode {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<TreeNode, D::Error> {
        /// The same fields, read the derived way (each child through this function again).
        #[derive(Deserialize)]
        struct Node {
            children: Vec<(Box<str>, TreeNode)>,
            templates: Vec<u32>,
        }
        let depth = READING_DEPTH.with(|depth| {
            depth.set(depth.get() + 1);
            depth.get()
        });
        let node = if depth > MAX_TREE_DEPTH {
            Err(serde::de::Error::custom(format!("log template tree deeper than {MAX_TREE_DEPTH}")))
        } else {
            Node::deserialize(deserializer)
                .map(|node| TreeNode { children: node.children, templates: node.templates })
        };
        READING_DEPTH.with(|depth| depth.set(depth.get() - 1));
        node
    }
}

impl Drain {
    /// Whether every template id the tree names exists (a snapshot read is checked).
    fn consistent(&self) -> bool {
        let count = self.templates.len();
        let mut nodes: Vec<&TreeNode> = self.roots.values().collect();
        while let Some(node) = nodes.pop() {
            if node.templates.iter().any(|id| *id as usize >= count) {
                return false;
            }
            nodes.extend(node.children.iter().map(|(_, child)| child));
        }
        true
    }

    pub fn new(config: LogConfig) -> Drain {
        Drain { config, roots: FastMap::default(), templates: Vec::new(), spans: Vec::new() }
    }

    pub fn template(&self, id: u32) -> String {
        self.templates.get(id as usize).map(|tokens| tokens.join(" ")).unwrap_or_default()
    }

    pub fn len(&self) -> usize {
        self.templates.len()
    }

    pub fn is_empty(&self) -> bool {
        self.templates.is_empty()
    }

    /// The template a line belongs to, creating or generalizing one as needed. `None` when the
    /// template limit is reached and the line matches no existing template.
    pub fn add(&mut self, line: &str) -> Option<u32> {
        self.spans.clear();
        let mut start = None;
        let mut digit = false;
        for (index, byte) in line.bytes().enumerate() {
            match (byte.is_ascii_whitespace(), start) {
                (true, Some(from)) => {
                    self.spans.push((from, index as u32, digit));
                    start = None;
                }
                (false, None) => {
                    start = Some(index as u32);
                    digit = byte.is_ascii_digit();
                }
                (false, Some(_)) => digit |= byte.is_ascii_digit(),
                (true, None) => {}
            }
        }
        if let Some(from) = start {
            self.spans.push((from, line.len() as u32, digit));
        }
        let token = |span: &(u32, u32, bool)| &line[span.0 as usize..span.1 as usize];
        let count = self.spans.len() as u32;
        let layers = self.config.depth.saturating_sub(2).min(self.spans.len());
        let max_children = self.config.max_children;

        let mut node = self.roots.entry(count).or_default();
        for span in &self.spans[..layers] {
            let key = if span.2 { WILDCARD } else { token(span) };
            let position = match node.children.iter().position(|(child, _)| **child == *key) {
                Some(position) => position,
                None if node.children.len() < max_children || key == WILDCARD => {
                    node.children.push((key.into(), TreeNode::default()));
                    node.children.len() - 1
                }
                None => match node.children.iter().position(|(child, _)| &**child == WILDCARD) {
                    Some(position) => position,
                    None => {
                        node.children.push((WILDCARD.into(), TreeNode::default()));
                        node.children.len() - 1
                    }
                },
            };
            node = &mut node.children[position].1;
        }

        // The most similar template in the leaf; ties go to the one with more wildcards. A
        // template the line matches in full ends the search (templates are kept most recently
        // used first, so that is usually the first one).
        let mut best: Option<(f32, usize, usize)> = None;
        let mut perfect = false;
        for (position, &id) in node.templates.iter().enumerate() {
            let template = &self.templates[id as usize];
            let mut same = 0usize;
            let mut wildcards = 0usize;
            for (part, span) in template.iter().zip(&self.spans) {
                if &**part == WILDCARD {
                    wildcards += 1;
                } else if **part == *token(span) || (span.2 && has_digit(part)) {
                    // Two tokens with digits in the same place are the same variable.
                    same += 1;
                }
            }
            let similarity = if count == 0 { 1.0 } else { same as f32 / count as f32 };
            let better = best.is_none_or(|(best_similarity, best_wildcards, _)| {
                similarity > best_similarity || (similarity == best_similarity && wildcards > best_wildcards)
            });
            if better {
                best = Some((similarity, wildcards, position));
            }
            if same + wildcards == count as usize {
                perfect = true;
                break;
            }
        }
        if let Some((similarity, _, position)) = best {
            // A line every constant token of a template matches belongs to it, however few
            // constants the template has left; otherwise it must be similar enough.
            if perfect || similarity >= self.config.similarity {
                node.templates[..=position].rotate_right(1);
                let id = node.templates[0];
                let template = &mut self.templates[id as usize];
                for (part, span) in template.iter_mut().zip(&self.spans) {
                    if &**part != WILDCARD && **part != *token(span) {
                        *part = WILDCARD.into();
                    }
                }
                return Some(id);
            }
        }
        if self.templates.len() >= self.config.max_templates {
            return None;
        }
        let id = self.templates.len() as u32;
        self.templates.push(self.spans.iter().map(|span| token(span).into()).collect());
        node.templates.push(id);
        Some(id)
    }
}

/// Per-minute counts of one template.
#[derive(Clone, Serialize, Deserialize)]
struct TemplateStats {
    first_seen: EventTime,
    total: u64,
    /// Minute number (since the epoch) each bucket counts, and its counts.
    #[serde(with = "ring")]
    minute: [u32; MINUTES],
    #[serde(with = "ring")]
    lines: [u32; MINUTES],
    #[serde(with = "ring")]
    errors: [u32; MINUTES],
    /// The last minute a burst was reported, so that one burst is reported once.
    burst_reported: u32,
}

impl TemplateStats {
    fn new(now: EventTime) -> TemplateStats {
        TemplateStats {
            first_seen: now,
            total: 0,
            minute: [0; MINUTES],
            lines: [0; MINUTES],
            errors: [0; MINUTES],
            burst_reported: 0,
        }
    }

    fn record(&mut self, minute: u32, error: bool) {
        let slot = minute as usize % MINUTES;
        if self.minute[slot] != minute {
            self.minute[slot] = minute;
            self.lines[slot] = 0;
            self.errors[slot] = 0;
        }
        self.lines[slot] += 1;
        self.errors[slot] += u32::from(error);
        self.total += 1;
    }

    /// (lines, errors) counted in minutes `from..=to`.
    fn counts(&self, from: u32, to: u32) -> (u32, u32) {
        let mut totals = (0, 0);
        for slot in 0..MINUTES {
            if (from..=to).contains(&self.minute[slot]) {
                totals.0 += self.lines[slot];
                totals.1 += self.errors[slot];
            }
        }
        totals
    }
}

/// The minute buckets as a sequence (serde's arrays stop at 32).
mod ring {
    use serde::{Deserialize, Deserializer, Serializer};

    use super::MINUTES;

    pub fn serialize<S: Serializer>(buckets: &[u32; MINUTES], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(buckets)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<[u32; MINUTES], D::Error> {
        let buckets = Vec::<u32>::deserialize(deserializer)?;
        let length = buckets.len();
        buckets
            .try_into()
            .map_err(|_| serde::de::Error::invalid_length(length, &"one count per minute of the ring"))
    }
}

#[derive(Clone, Serialize, Deserialize)]
struct ServiceLogs {
    drain: Drain,
    stats: Vec<TemplateStats>,
    first_seen: EventTime,
}

impl ServiceLogs {
    fn observe(
        &mut self,
        config: &LogConfig,
        service: &str,
        body: &str,
        severity: Option<Severity>,
        now: EventTime,
        limits: &mut LogLimitHits,
    ) -> Option<Burst> {
        let Some(id) = self.drain.add(body) else {
            limits.templates += 1;
            return None;
        };
        let id = id as usize;
        if id == self.stats.len() {
            self.stats.push(TemplateStats::new(now));
        }
        let minute = minute_of(now);
        let error = severity.is_some_and(|severity| severity >= Severity::Error);
        let stats = self.stats.get_mut(id)?;
        stats.record(minute, error);
        if !error || stats.burst_reported + 2 > minute {
            return None;
        }
        // New: first seen lately, on a service that had been logging for longer than that.
        let new = now.since(stats.first_seen) <= config.new_within
            && stats.first_seen.since(self.first_seen) >= config.new_within.min(Duration::from_secs(60));
        let (_, errors) = stats.counts(minute.saturating_sub(1), minute);
        if !new || errors < config.burst_errors {
            return None;
        }
        stats.burst_reported = minute;
        Some(Burst { service: service.into(), template: self.drain.template(id as u32), errors })
    }
}

/// A new error template bursting on a service.
#[derive(Debug, Clone, PartialEq)]
pub struct Burst {
    pub service: Box<str>,
    pub template: String,
    /// Error lines of the template in the last two minutes.
    pub errors: u32,
}

/// A template a page lists, with its counts around the incident.
#[derive(Debug, Clone, PartialEq)]
pub struct LogContext {
    pub service: String,
    pub template: String,
    pub lines: u32,
    pub errors: u32,
    pub first_seen: EventTime,
}

/// Lines not mined because a cap was reached.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogLimitHits {
    /// The service had `max_templates` templates and the line matched none.
    pub templates: u64,
    /// The service was new and `max_services` services were mined already.
    pub services: u64,
}

/// Templates and counts for every service that logs. In snapshots, the services' templates
/// and counts copy-on-write (see `cow`), and the recent evidence.
#[derive(Clone, Serialize, Deserialize)]
pub struct LogMiner {
    #[serde(skip, default = "LogConfig::unset")]
    config: LogConfig,
    services: NameMap<ServiceLogs>,
    limits: LogLimitHits,
    /// Recent evidence (bursts, must-page lines) with when and on which service, oldest first.
    evidence: VecDeque<(EventTime, Box<str>, String)>,
}

/// Evidence items kept, all services together.
const MAX_EVIDENCE: usize = 256;

impl LogMiner {
    pub fn new(config: LogConfig) -> LogMiner {
        LogMiner {
            config,
            services: NameMap::default(),
            limits: LogLimitHits::default(),
            evidence: VecDeque::new(),
        }
    }

    /// What a snapshot takes: the services' templates and counts shared (see `cow`), the
    /// recent evidence copied.
    pub fn share(&mut self) -> LogMiner {
        LogMiner {
            config: self.config,
            services: self.services.share(),
            limits: self.limits,
            evidence: self.evidence.clone(),
        }
    }

    /// What a snapshot read holds, under `config` (the one in force now).
    /// A service whose templates do not match its tree or counts (a corrupt or hostile
    /// snapshot) starts over.
    pub fn restored(mut self, config: LogConfig) -> LogMiner {
        self.config = config;
        self.services
            .retain(|_, logs| logs.drain.consistent() && logs.stats.len() <= logs.drain.templates.len());
        for logs in self.services.values_mut() {
            logs.drain.config = config;
        }
        self
    }

    /// Mines one line logged by `service` at `now`; reports a burst of a new error template.
    pub fn observe(
        &mut self,
        service: &str,
        body: &str,
        severity: Option<Severity>,
        now: EventTime,
    ) -> Option<Burst> {
        let config = self.config;
        if let Some(logs) = self.services.get_mut(service) {
            return logs.observe(&config, service, body, severity, now, &mut self.limits);
        }
        if self.services.len() >= config.max_services {
            self.limits.services += 1;
            return None;
        }
        let mut logs = ServiceLogs { drain: Drain::new(config), stats: Vec::new(), first_seen: now };
        let burst = logs.observe(&config, service, body, severity, now, &mut self.limits);
        self.services.insert(service.into(), logs);
        burst
    }

    /// Lines not mined so far because a cap was reached.
    pub fn limit_hits(&self) -> LogLimitHits {
        self.limits
    }

    /// The templates `services` logged most between `since` and `now`, errors first.
    pub fn context(&self, services: &[&str], since: EventTime, now: EventTime) -> Vec<LogContext> {
        let (from, to) = (minute_of(since), minute_of(now));
        let mut found = Vec::new();
        for &service in services {
            let Some(logs) = self.services.get(service) else { continue };
            for (id, stats) in logs.stats.iter().enumerate() {
                let (lines, errors) = stats.counts(from, to);
                if lines > 0 {
                    found.push((errors, lines, service, id));
                }
            }
        }
        found.sort_by(|left, right| {
            (right.0, right.1).cmp(&(left.0, left.1)).then(left.2.cmp(right.2)).then(left.3.cmp(&right.3))
        });
        found
            .into_iter()
            .take(self.config.context_templates)
            .filter_map(|(errors, lines, service, id)| {
                let logs = self.services.get(service)?;
                Some(LogContext {
                    service: service.to_owned(),
                    template: logs.drain.template(id as u32),
                    lines,
                    errors,
                    first_seen: logs.stats.get(id)?.first_seen,
                })
            })
            .collect()
    }

    /// Keeps a piece of evidence about `service`, for the pages of incidents about it.
    pub fn record_evidence(&mut self, service: &str, now: EventTime, text: String) {
        if self.evidence.len() == MAX_EVIDENCE {
            self.evidence.pop_front();
        }
        self.evidence.push_back((now, service.into(), text));
    }

    /// Whether any evidence (about any service) was recorded at or after `since`.
    pub fn has_evidence_since(&self, since: EventTime) -> bool {
        self.evidence.back().is_some_and(|(at, _, _)| *at >= since)
    }

    /// Evidence about `services` recorded between `since` and `now`, at most `limit` items.
    pub fn evidence(&self, services: &[&str], since: EventTime, now: EventTime, limit: usize) -> Vec<String> {
        self.evidence
            .iter()
            .filter(|(at, service, _)| (since..=now).contains(at) && services.contains(&&**service))
            .map(|(_, _, text)| text.clone())
            .take(limit)
            .collect()
    }

    pub fn template_count(&self) -> usize {
        self.services.values().map(|logs| logs.drain.len()).sum()
    }
}

fn has_digit(token: &str) -> bool {
    token.bytes().any(|byte| byte.is_ascii_digit())
}

fn minute_of(time: EventTime) -> u32 {
    u32::try_from(time.as_millis().div_euclid(60_000)).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn config() -> LogConfig {
        LogConfig {
            depth: 4,
            similarity: 0.4,
            max_children: 100,
            max_templates: 1000,
            max_services: 100,
            burst_errors: 5,
            new_within: Duration::from_secs(600),
            context_templates: 5,
            context_lookback: Duration::from_secs(900),
        }
    }

    #[test]
    fn lines_that_differ_in_their_variables_share_a_template() {
        let mut drain = Drain::new(config());
        let first = drain.add("PacketResponder 1 for block blk_38865049064139660 terminating").unwrap();
        let second = drain.add("PacketResponder 0 for block blk_-6952295868487656571 terminating").unwrap();
        let other = drain.add("Receiving block blk_-1608999687919862906 src: /10.250.19.102:54106").unwrap();
        assert_eq!(first, second);
        assert_ne!(first, other);
        assert_eq!(drain.template(first), "PacketResponder <*> for block <*> terminating");
    }

    #[test]
    fn a_snapshot_keeps_the_templates_and_a_hostile_one_is_refused_or_dropped() {
        let mut miner = LogMiner::new(config());
        let now = EventTime::from_millis(1_800_000_000_000);
        miner.observe("cart", "GET /cart 200 12ms", None, now);
        let bytes = postcard::to_allocvec(&miner.share()).unwrap();
        let read: LogMiner = postcard::from_bytes(&bytes).unwrap();
        let read = read.restored(config());
        assert_eq!(read.template_count(), 1);
        assert_eq!(read.context(&["cart"], now, now)[0].template, "GET /cart 200 12ms");

        // A tree nested far deeper than any config makes is refused, not a stack overflow.
        let mut deep = TreeNode::default();
        for _ in 0..MAX_TREE_DEPTH + 10 {
            deep = TreeNode { children: vec![("x".into(), deep)], templates: Vec::new() };
        }
        let mut hostile = miner.share();
        if let Some(logs) = hostile.services.get_mut("cart") {
            logs.drain.roots.insert(3, deep);
        }
        let bytes = postcard::to_allocvec(&hostile).unwrap();
        assert!(postcard::from_bytes::<LogMiner>(&bytes).is_err());
        // One naming a template that does not exist: that service starts over.
        let mut broken = miner.share();
        if let Some(logs) = broken.services.get_mut("cart") {
            logs.drain.roots.insert(9, TreeNode { children: Vec::new(), templates: vec![7] });
        }
        let bytes = postcard::to_allocvec(&broken).unwrap();
        let read: LogMiner = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(read.restored(config()).template_count(), 0);
    }

    #[test]
    fn lines_beyond_the_template_and_service_caps_are_counted_not_mined() {
        let mut miner = LogMiner::new(LogConfig { max_templates: 2, max_services: 2, ..config() });
        let now = EventTime::from_millis(1_800_000_000_000);
        for line in ["alpha one", "beta two three", "gamma four five six", "alpha one"] {
            miner.observe("cart", line, None, now);
        }
        for service in ["frontend", "checkout", "ads"] {
            miner.observe(service, "started", None, now);
        }
        assert_eq!(miner.limit_hits(), LogLimitHits { templates: 1, services: 2 });
    }

    #[test]
    fn a_new_error_template_bursting_is_reported_once() {
        let mut miner = LogMiner::new(config());
        let t0 = EventTime::from_millis(1_800_000_000_000);
        // The service has been logging for a while.
        for second in 0..600 {
            assert_eq!(
                miner.observe(
                    "cart",
                    "GET /cart 200 12ms",
                    Some(Severity::Info),
                    t0.saturating_add(Duration::from_secs(second))
                ),
                None
            );
        }
        let later = t0.saturating_add(Duration::from_secs(700));
        let mut bursts = Vec::new();
        for index in 0..20 {
            let line = format!("connection refused to redis-cart:6379 attempt {index}");
            let at = later.saturating_add(Duration::from_secs(index));
            bursts.extend(miner.observe("cart", &line, Some(Severity::Error), at));
        }
        assert_eq!(bursts.len(), 1, "{bursts:?}");
        assert_eq!(bursts[0].template, "connection refused to redis-cart:6379 attempt <*>");
        assert_eq!(bursts[0].errors, 5);
        let context = miner.context(&["cart"], later, later.saturating_add(Duration::from_secs(30)));
        assert_eq!(context[0].template, "connection refused to redis-cart:6379 attempt <*>");
        assert_eq!((context[0].lines, context[0].errors), (20, 20));
    }
}
