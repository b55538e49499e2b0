//! Logs as evidence: log records are mined online into templates per service (`template`: a
//! Drain parse tree whose clusters learn which positions vary, over words masked by `mask`),
//! and counted per minute so that a page can carry the templates its services logged around
//! it, and a burst of a new error template can be noticed.

mod mask;
mod template;

pub use template::Templates;

use std::collections::VecDeque;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::cow::{NameMap, Share};
use crate::model::{EventTime, Severity};

/// Minutes of per-template counts kept (a ring buffer).
const MINUTES: usize = 64;

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
    pub(crate) fn unset() -> LogConfig {
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

    /// Takes in the counts of a template merged into this one.
    fn absorb(&mut self, other: &TemplateStats) {
        self.first_seen = self.first_seen.min(other.first_seen);
        self.total += other.total;
        self.burst_reported = self.burst_reported.max(other.burst_reported);
        for slot in 0..MINUTES {
            if other.minute[slot] == self.minute[slot] {
                self.lines[slot] += other.lines[slot];
                self.errors[slot] += other.errors[slot];
            } else if other.minute[slot] > self.minute[slot] {
                self.minute[slot] = other.minute[slot];
                self.lines[slot] = other.lines[slot];
                self.errors[slot] = other.errors[slot];
            }
        }
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
    templates: Templates,
    /// Per template id; a merged template's counts are in the one it went into.
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
        let Some(id) = self.templates.add(body) else {
            limits.templates += 1;
            return None;
        };
        while self.stats.len() < self.templates.len() {
            self.stats.push(TemplateStats::new(now));
        }
        for (gone, kept) in self.templates.take_merged() {
            if let Some(merged) = self.stats.get(gone as usize).cloned() {
                if let Some(stats) = self.stats.get_mut(kept as usize) {
                    stats.absorb(&merged);
                }
                self.stats[gone as usize] = TemplateStats::new(merged.first_seen);
            }
        }
        let id = id as usize;
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
        Some(Burst { service: service.into(), template: self.templates.template(id as u32), errors })
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
            .retain(|_, logs| logs.templates.consistent() && logs.stats.len() <= logs.templates.len());
        for logs in self.services.values_mut() {
            logs.templates.configure(config);
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
        let mut logs = ServiceLogs { templates: Templates::new(config), stats: Vec::new(), first_seen: now };
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
                if logs.templates.resolve(id as u32) != id as u32 {
                    continue;
                }
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
                    template: logs.templates.template(id as u32),
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
        self.services
            .values()
            .map(|logs| {
                (0..logs.templates.len() as u32).filter(|id| logs.templates.resolve(*id) == *id).count()
            })
            .sum()
    }
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
    fn a_snapshot_keeps_the_templates_and_a_hostile_one_is_refused_or_dropped() {
        let mut miner = LogMiner::new(config());
        let now = EventTime::from_millis(1_800_000_000_000);
        miner.observe("cart", "GET /cart 200 12ms", None, now);
        let bytes = postcard::to_allocvec(&miner.share()).unwrap();
        let read: LogMiner = postcard::from_bytes(&bytes).unwrap();
        let read = read.restored(config());
        assert_eq!(read.template_count(), 1);
        assert_eq!(read.context(&["cart"], now, now)[0].template, "GET /cart <*>");

        // A tree nested far deeper than any config makes is refused, not a stack overflow.
        let mut hostile = miner.share();
        if let Some(logs) = hostile.services.get_mut("cart") {
            logs.templates.nest_for_test(template::MAX_TREE_DEPTH + 10);
        }
        let bytes = postcard::to_allocvec(&hostile).unwrap();
        assert!(postcard::from_bytes::<LogMiner>(&bytes).is_err());
        // One naming a template that does not exist: that service starts over.
        let mut broken = miner.share();
        if let Some(logs) = broken.services.get_mut("cart") {
            logs.templates.break_for_test();
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
        assert_eq!(bursts[0].template, "connection refused to <*> attempt <*>");
        assert_eq!(bursts[0].errors, 5);
        let context = miner.context(&["cart"], later, later.saturating_add(Duration::from_secs(30)));
        assert_eq!(context[0].template, "connection refused to <*> attempt <*>");
        assert_eq!((context[0].lines, context[0].errors), (20, 20));
    }
}
