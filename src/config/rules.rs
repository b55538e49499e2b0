//! Validation of the correlation sections: the inventory (`topology`), `correlation`,
//! `flapping`, `inhibit_rules`, `silences` and `patterns`.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;

use regex::Regex;

use super::raw::{
    RawCatalog, RawCatalogFile, RawCorrelation, RawFlapping, RawInhibitRule, RawLogs, RawMemory, RawNovelty,
    RawPattern, RawScoring, RawService, RawSilence, RawSubjectRule, RawTopology, RawTopologyFile, RawWeekly,
    RawWindow,
};
use super::{Files, Validator};
use noisegate_engine::catalog::{AlertClass, Catalog, CatalogEntry};
use noisegate_engine::inhibit::{InhibitRule, InhibitScope};
use noisegate_engine::inventory::Learning;
use noisegate_engine::model::EventTime;
use noisegate_engine::patterns::{Pattern, PatternAction, Patterns};
use noisegate_engine::silence::{Silence, Weekly};
use noisegate_engine::topology::{
    Declared, DeclaredService, SubjectKind, SubjectRule, Topology, TopologyError, default_rules,
};
use noisegate_engine::{
    Correlation, Flapping, LogConfig, MatchOp, Matcher, MemoryConfig, NoveltyConfig, ScoreConfig, Shadow,
    Thresholds, Weights,
};

impl Validator<'_> {
    /// The inventory (file and inline declarations merged) and the file's maintenance windows.
    pub(super) fn topology(&mut self, raw: RawTopology) -> (Arc<Topology>, Vec<Silence>) {
        let file =
            self.topology_override.clone().or_else(|| raw.file.as_deref().map(|file| self.relative(file)));
        let text = match &self.files {
            Files::Disk => file
                .as_ref()
                .map(|file| std::fs::read_to_string(file).map_err(|error| format!("cannot read: {error}"))),
            Files::Recorded { topology } => topology.clone().map(Ok),
        };
        let mut declared = Declared::default();
        let mut windows = Vec::new();
        let mut file_services = HashSet::new();
        let file_label = text.as_ref().map(|_| match &file {
            Some(file) if matches!(self.files, Files::Disk) => format!("topology.file ({})", file.display()),
            _ => "topology.file (as recorded)".to_owned(),
        });
        if let (Some(text), Some(label)) = (text, &file_label) {
            let parsed = text.and_then(|text| {
                let parsed = parse_topology_file(&text);
                self.topology_text = Some(Arc::from(text));
                parsed
            });
            match parsed {
                Ok(parsed) => {
                    declared.cluster = parsed.cluster;
                    declared.namespace = parsed.namespace;
                    declared.nodes = parsed.nodes;
                    for (name, service) in parsed.services {
                        file_services.insert(name.clone());
                        declared.services.push(declare(name, service));
                    }
                    windows = parsed.maintenance_windows;
                }
                Err(message) => self.error(label.clone(), message),
            }
        }
        declared.cluster = raw.cluster.or(declared.cluster);
        declared.namespace = raw.namespace.or(declared.namespace);
        declared.nodes.extend(raw.nodes);
        for (name, service) in raw.services {
            declared.services.push(declare(name, service));
        }
        let rules = match raw.subjects {
            None => default_rules(),
            Some(rules) => self.subject_rules(rules),
        };
        // With errors the config is invalid already; the names the inventory declares still
        // check the windows.
        let (topology, errors) = Topology::build(declared, rules);
        for TopologyError { path, message } in errors {
            let service = path.strip_prefix("services.").and_then(|rest| rest.split('.').next());
            let from_file = service.is_some_and(|service| file_services.contains(service));
            match (&file_label, from_file) {
                (Some(label), true) => self.error(format!("{label}: {path}"), message),
                _ => self.error(format!("topology.{path}"), message),
            }
        }
        let window_path = file_label.unwrap_or_else(|| "topology".to_owned());
        let silences = windows
            .into_iter()
            .enumerate()
            .filter_map(|(index, window)| {
                self.window(&format!("{window_path}: maintenance_windows[{index}]"), index, window, &topology)
            })
            .collect();
        (Arc::new(topology), silences)
    }

    pub(super) fn relative(&self, file: &str) -> PathBuf {
        match &self.base_dir {
            Some(base) => base.join(file),
            None => PathBuf::from(file),
        }
    }

    fn subject_rules(&mut self, raw: Vec<RawSubjectRule>) -> Vec<SubjectRule> {
        let mut rules = Vec::with_capacity(raw.len());
        for (index, rule) in raw.into_iter().enumerate() {
            let path = format!("topology.subjects[{index}]");
            let kind = match rule.kind.as_str() {
                "pod" => SubjectKind::Pod,
                "service" => SubjectKind::Service,
                "node" => SubjectKind::Node,
                other => {
                    self.error(
                        format!("{path}.kind"),
                        format!("unknown kind {other:?}: expected pod, service or node"),
                    );
                    continue;
                }
            };
            let pattern = match rule.pattern.as_deref().map(Regex::new) {
                None => None,
                Some(Ok(pattern)) if pattern.captures_len() > 1 => Some(pattern),
                Some(Ok(_)) => {
                    self.error(
                        format!("{path}.pattern"),
                        "needs a capture group: the part that names the entity",
                    );
                    None
                }
                Some(Err(error)) => {
                    self.error(format!("{path}.pattern"), format!("invalid regex: {error}"));
                    None
                }
            };
            rules.push(SubjectRule { label: rule.label.into(), kind, pattern });
        }
        rules
    }

    fn window(
        &mut self,
        path: &str,
        index: usize,
        window: RawWindow,
        topology: &Topology,
    ) -> Option<Silence> {
        let mut matchers = Vec::with_capacity(window.matchers.len());
        for (name, value) in &window.matchers {
            self.check_entity(&format!("{path}.matchers.{name}"), name, value, topology);
            match Matcher::new(name, MatchOp::Equal, value) {
                Ok(matcher) => matchers.push(matcher),
                Err(error) => self.error(format!("{path}.matchers.{name}"), error.to_string()),
            }
        }
        if matchers.is_empty() {
            self.error(format!("{path}.matchers"), "a window needs at least one matcher");
        }
        let starts_at = self.required_time(&format!("{path}.start"), window.start.as_deref());
        let ends_at = self.required_time(&format!("{path}.end"), window.end.as_deref());
        if let (Some(start), Some(end)) = (starts_at, ends_at) {
            if end <= start {
                self.error(format!("{path}.end"), "must be after start");
            }
        }
        Some(Silence {
            id: Arc::from(format!("topology/maintenance_windows[{index}]")),
            matchers,
            starts_at: starts_at?,
            ends_at: Some(ends_at?),
            weekly: None,
            comment: Arc::from(window.comment.unwrap_or_default()),
            created_by: Arc::from("topology"),
        })
    }

    /// An equality matcher on `service` or `node` must name something the inventory has.
    fn check_entity(&mut self, path: &str, name: &str, value: &str, topology: &Topology) {
        if topology.is_empty() {
            return;
        }
        match name {
            "service" if topology.service_id(value).is_none() => {
                self.error(path, format!("unknown service {value:?}: not in the inventory"));
            }
            "node" if topology.node_id(value).is_none() => {
                self.error(path, format!("unknown node {value:?}: not in the inventory"));
            }
            _ => {}
        }
    }

    fn required_time(&mut self, path: &str, raw: Option<&str>) -> Option<EventTime> {
        match raw.map(EventTime::parse_rfc3339) {
            None => {
                self.error(path, "missing");
                None
            }
            Some(Ok(Some(time))) => Some(time),
            Some(Ok(None)) => {
                self.error(path, "must be after 1970");
                None
            }
            Some(Err(error)) => {
                self.error(path, error.to_string());
                None
            }
        }
    }

    pub(super) fn logs(&mut self, raw: RawLogs) -> LogConfig {
        let depth = raw.depth.unwrap_or(4);
        if depth < 3 {
            self.error("logs.depth", "must be at least 3 (the length layer, one token layer, the leaves)");
        }
        let similarity = raw.similarity.unwrap_or(0.4);
        if !(similarity > 0.0 && similarity <= 1.0) {
            self.error("logs.similarity", "must be in (0, 1]");
        }
        LogConfig {
            depth,
            similarity,
            max_children: self.positive("logs.max_children", raw.max_children, 100),
            max_templates: self.positive(
                "logs.max_templates_per_service",
                raw.max_templates_per_service,
                1000,
            ),
            max_services: self.positive("logs.max_services", raw.max_services, 10_000),
            burst_errors: raw.burst_errors.unwrap_or(10).max(1),
            new_within: self.positive_duration("logs.new_within", raw.new_within, "15m"),
            context_templates: raw.context_templates.unwrap_or(5),
            context_lookback: self.duration("logs.context_lookback", raw.context_lookback, "15m"),
        }
    }

    pub(super) fn scoring(&mut self, raw: RawScoring) -> (ScoreConfig, NoveltyConfig, MemoryConfig) {
        let novelty = self.novelty(raw.novelty);
        let memory = self.memory(raw.memory);
        let weights = raw.weights;
        let thresholds = raw.thresholds;
        let high = thresholds.high.unwrap_or(0.4);
        let low = thresholds.low.unwrap_or(0.35);
        let digest = thresholds.digest.unwrap_or(0.1);
        let surprise = thresholds.surprise.unwrap_or(0.75);
        for (name, value) in [("high", high), ("low", low), ("digest", digest), ("surprise", surprise)] {
            if !(0.0..=1.0).contains(&value) {
                self.error(format!("scoring.thresholds.{name}"), "must be between 0 and 1");
            }
        }
        if !(digest <= low && low <= high) {
            self.error("scoring.thresholds", "expected digest <= low <= high");
        }
        let shadow = match raw.shadow.as_deref() {
            None | Some("off") => Shadow::Off,
            Some("unfiltered") => Shadow::Unfiltered,
            Some("silent") => Shadow::Silent,
            Some(other) => {
                self.error(
                    "scoring.shadow",
                    format!("unknown mode {other:?}: expected off, unfiltered or silent"),
                );
                Shadow::Off
            }
        };
        let scoring = ScoreConfig {
            weights: Weights {
                severity: weights.severity.unwrap_or(0.5),
                impact: weights.impact.unwrap_or(0.5),
                blast_radius: weights.blast_radius.unwrap_or(0.15),
                growth: weights.growth.unwrap_or(0.1),
                duration: weights.duration.unwrap_or(0.05),
                novelty: weights.novelty.unwrap_or(0.1),
                flapping: weights.flapping.unwrap_or(-0.1),
                evidence: weights.evidence.unwrap_or(0.1),
                feedback: weights.feedback.unwrap_or(0.3),
                new_kind: weights.new_kind.unwrap_or(0.3),
                burst: weights.burst.unwrap_or(0.3),
            },
            thresholds: Thresholds { high, low, digest, surprise },
            shadow,
            persistence: self.positive_duration("scoring.persistence", raw.persistence, "20m"),
        };
        (scoring, novelty, memory)
    }

    fn memory(&mut self, raw: RawMemory) -> MemoryConfig {
        let defaults = MemoryConfig::default();
        let min_similarity = raw.min_similarity.unwrap_or(defaults.min_similarity);
        if !(0.0..=1.0).contains(&min_similarity) {
            self.error("scoring.memory.min_similarity", "must be between 0 and 1");
        }
        MemoryConfig {
            incidents: raw.incidents.unwrap_or(defaults.incidents),
            similar: raw.similar.unwrap_or(defaults.similar),
            min_similarity,
        }
    }

    fn novelty(&mut self, raw: RawNovelty) -> NoveltyConfig {
        let defaults = NoveltyConfig::default();
        let burst_factor = raw.burst_factor.unwrap_or(defaults.burst_factor);
        if burst_factor.is_nan() || burst_factor <= 1.0 {
            self.error("scoring.novelty.burst_factor", "must be more than 1");
        }
        NoveltyConfig {
            enabled: raw.enabled.unwrap_or(true),
            warmup: self.positive_duration("scoring.novelty.warmup", raw.warmup, "24h"),
            rare_hours: raw.rare_hours.unwrap_or(defaults.rare_hours),
            burst_window: self.positive_duration("scoring.novelty.burst_window", raw.burst_window, "5m"),
            burst_factor,
            burst_min: raw.burst_min.unwrap_or(defaults.burst_min).max(1),
            max_kinds: self.positive("scoring.novelty.max_kinds", raw.max_kinds, defaults.max_kinds),
        }
    }

    /// The standard catalog (unless `catalog.standard` is false) with the config's entries
    /// over it.
    pub(super) fn catalog(&mut self, raw: RawCatalog) -> Catalog {
        let mut catalog = Catalog::default();
        if raw.standard.unwrap_or(true) {
            match standard_catalog() {
                Ok(standard) => catalog = standard,
                Err(message) => self.error("catalog (the embedded standard catalog)", message),
            }
        }
        let config_source: Arc<str> = Arc::from("config");
        for (index, alert) in raw.alerts.into_iter().enumerate() {
            let path = format!("catalog.alerts[{index}]");
            if alert.name.is_empty() {
                self.error(format!("{path}.name"), "must not be empty");
                continue;
            }
            if alert.severity.is_some() || alert.source.is_some() {
                self.error(path.clone(), "severity and source belong to the standard catalog's entries only");
            }
            let Some(class) = AlertClass::parse(&alert.class) else {
                self.error(
                    format!("{path}.class"),
                    format!(
                        "unknown class {:?}: expected availability, saturation, deadline or meta",
                        alert.class
                    ),
                );
                continue;
            };
            catalog.insert(
                &alert.name,
                CatalogEntry { class, source: config_source.clone(), down: alert.down, cordon: alert.cordon },
            );
        }
        catalog
    }

    /// Whether and for how long the engine learns the inventory (`topology.learn`,
    /// `topology.forget_after`).
    pub(super) fn learning(&mut self, raw: &RawTopology) -> Learning {
        let forget = &raw.forget_after;
        Learning {
            enabled: raw.learn.unwrap_or(true),
            pods: self.positive_duration("topology.forget_after.pods", forget.pods.clone(), "1h"),
            calls: self.positive_duration("topology.forget_after.calls", forget.calls.clone(), "48h"),
            entities: self.positive_duration(
                "topology.forget_after.entities",
                forget.entities.clone(),
                "24h",
            ),
        }
    }

    pub(super) fn correlation(&mut self, raw: RawCorrelation) -> Correlation {
        Correlation {
            window: self.positive_duration("correlation.window", raw.window, "10m"),
            settle_warning: self.duration("correlation.settle.warning", raw.settle.warning, "0s"),
            settle_info: self.duration("correlation.settle.info", raw.settle.info, "0s"),
            settle_corroborated: self.duration(
                "correlation.settle.corroborated",
                raw.settle.corroborated,
                "1m",
            ),
        }
    }

    pub(super) fn flapping(&mut self, raw: RawFlapping) -> Flapping {
        Flapping {
            window: self.positive_duration("flapping.window", raw.window, "30m"),
            min_episodes: raw.min_episodes.unwrap_or(0),
            hold: self.duration("flapping.hold", raw.hold, "30m"),
        }
    }

    pub(super) fn inhibit_rules(&mut self, raw: Vec<RawInhibitRule>) -> Vec<InhibitRule> {
        let mut rules = Vec::with_capacity(raw.len());
        for (index, rule) in raw.into_iter().enumerate() {
            let path = format!("inhibit_rules[{index}]");
            let source = self.matchers(&format!("{path}.source_matchers"), &rule.source_matchers);
            let target = self.matchers(&format!("{path}.target_matchers"), &rule.target_matchers);
            if rule.source_matchers.is_empty() {
                self.error(format!("{path}.source_matchers"), "needs at least one matcher");
            }
            if rule.target_matchers.is_empty() {
                self.error(format!("{path}.target_matchers"), "needs at least one matcher");
            }
            let scope = match rule.scope.as_deref() {
                None | Some("labels") => {
                    InhibitScope::Labels(rule.equal.into_iter().map(Into::into).collect())
                }
                Some("dependents") => {
                    if !rule.equal.is_empty() {
                        self.error(format!("{path}.equal"), "scope dependents compares entities, not labels");
                    }
                    InhibitScope::Dependents
                }
                Some(other) => {
                    self.error(
                        format!("{path}.scope"),
                        format!("unknown scope {other:?}: expected labels or dependents"),
                    );
                    InhibitScope::Dependents
                }
            };
            rules.push(InhibitRule { name: Arc::from(path), source, target, scope });
        }
        rules
    }

    fn matchers(&mut self, path: &str, raw: &[String]) -> Vec<Matcher> {
        let mut matchers = Vec::with_capacity(raw.len());
        for (index, text) in raw.iter().enumerate() {
            match Matcher::parse(text) {
                Ok(matcher) => matchers.push(matcher),
                Err(error) => self.error(format!("{path}[{index}]"), error.to_string()),
            }
        }
        matchers
    }

    pub(super) fn silences(&mut self, raw: Vec<RawSilence>, topology: &Topology) -> Vec<Silence> {
        let mut silences = Vec::with_capacity(raw.len());
        for (index, silence) in raw.into_iter().enumerate() {
            let path = format!("silences[{index}]");
            let matchers = self.matchers(&format!("{path}.matchers"), &silence.matchers);
            if silence.matchers.is_empty() {
                self.error(format!("{path}.matchers"), "a silence needs at least one matcher");
            }
            for (matcher_index, matcher) in silence.matchers.iter().enumerate() {
                if let Some((name, value)) = equality(matcher) {
                    self.check_entity(&format!("{path}.matchers[{matcher_index}]"), &name, &value, topology);
                }
            }
            let weekly = silence.weekly.map(|weekly| self.weekly(&format!("{path}.weekly"), weekly));
            let starts_at = match silence.start.as_deref() {
                None if weekly.is_some() => Some(EventTime::from_millis(0)),
                other => self.required_time(&format!("{path}.start"), other),
            };
            let ends_at = match silence.end.as_deref() {
                None if weekly.is_some() => None,
                other => self.required_time(&format!("{path}.end"), other),
            };
            if let (Some(start), Some(end)) = (starts_at, ends_at) {
                if end <= start {
                    self.error(format!("{path}.end"), "must be after start");
                }
            }
            let Some(starts_at) = starts_at else { continue };
            silences.push(Silence {
                id: Arc::from(format!("config/{path}")),
                matchers,
                starts_at,
                ends_at,
                weekly: weekly.flatten(),
                comment: Arc::from(silence.comment.unwrap_or_default()),
                created_by: Arc::from("config"),
            });
        }
        silences
    }

    fn weekly(&mut self, path: &str, raw: RawWeekly) -> Option<Weekly> {
        let mut days = [false; 7];
        if raw.days.is_empty() {
            self.error(format!("{path}.days"), "list at least one day (mon, tue, wed, thu, fri, sat, sun)");
        }
        for (index, day) in raw.days.iter().enumerate() {
            match parse_day(day) {
                Some(number) => days[number] = true,
                None => self.error(
                    format!("{path}.days[{index}]"),
                    format!("unknown day {day:?}: expected mon, tue, wed, thu, fri, sat or sun"),
                ),
            }
        }
        let from = self.minute_of_day(&format!("{path}.from"), raw.from.as_deref());
        let to = self.minute_of_day(&format!("{path}.to"), raw.to.as_deref());
        if from.is_some() && from == to {
            self.error(format!("{path}.to"), "must differ from `from`");
        }
        Some(Weekly { days, from_minute: from?, to_minute: to? })
    }

    fn minute_of_day(&mut self, path: &str, raw: Option<&str>) -> Option<u16> {
        let Some(text) = raw else {
            self.error(path, "missing (write HH:MM, UTC)");
            return None;
        };
        let parsed = text.split_once(':').and_then(|(hours, minutes)| {
            let hours: u16 = hours.parse().ok()?;
            let minutes: u16 = minutes.parse().ok()?;
            (hours < 24 && minutes < 60).then_some(hours * 60 + minutes)
        });
        if parsed.is_none() {
            self.error(path, format!("invalid time of day {text:?}: write HH:MM (UTC)"));
        }
        parsed
    }

    pub(super) fn patterns(&mut self, raw: Vec<RawPattern>) -> Patterns {
        let mut patterns = Vec::new();
        for (index, rule) in raw.into_iter().enumerate() {
            let path = format!("patterns[{index}]");
            let action = match (rule.action.as_deref(), rule.tag) {
                (Some("known_noise"), None) => PatternAction::KnownNoise,
                (Some("must_page"), None) => PatternAction::MustPage,
                (Some("tag"), Some(tag)) if !tag.is_empty() => PatternAction::Tag(Arc::from(tag)),
                (Some("tag"), _) => {
                    self.error(format!("{path}.tag"), "action tag needs a non-empty tag");
                    continue;
                }
                (Some("known_noise" | "must_page"), Some(_)) => {
                    self.error(format!("{path}.tag"), "only action tag takes a tag");
                    continue;
                }
                (Some(other), _) => {
                    self.error(
                        format!("{path}.action"),
                        format!("unknown action {other:?}: expected known_noise, must_page or tag"),
                    );
                    continue;
                }
                (None, _) => {
                    self.error(format!("{path}.action"), "missing: known_noise, must_page or tag");
                    continue;
                }
            };
            if rule.phrases.is_empty() {
                self.error(format!("{path}.phrases"), "list at least one phrase");
            }
            for (phrase_index, phrase) in rule.phrases.into_iter().enumerate() {
                if phrase.trim().is_empty() {
                    self.error(format!("{path}.phrases[{phrase_index}]"), "empty phrase");
                    continue;
                }
                patterns.push(Pattern { phrase: Arc::from(phrase), action: action.clone() });
            }
        }
        Patterns::new(patterns).unwrap_or_else(|error| {
            self.error("patterns", format!("cannot build the pattern automaton: {error}"));
            Patterns::default()
        })
    }
}

fn parse_topology_file(text: &str) -> Result<RawTopologyFile, String> {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        if path == "." { error.inner().to_string() } else { format!("{path}: {}", error.inner()) }
    })
}

fn declare(name: String, service: RawService) -> DeclaredService {
    DeclaredService {
        name,
        kind: service.kind,
        depends_on: service.depends_on,
        pods: service.pods.into_iter().map(|pod| (pod.name, pod.node)).collect(),
    }
}

/// `name="value"` matchers, as (name, value).
fn equality(text: &str) -> Option<(String, String)> {
    let matcher = Matcher::parse(text).ok()?;
    (matcher.op() == MatchOp::Equal).then(|| (matcher.name().to_owned(), matcher.value().to_owned()))
}

fn parse_day(day: &str) -> Option<usize> {
    let names: BTreeMap<&str, usize> = [
        ("mon", 0),
        ("monday", 0),
        ("tue", 1),
        ("tuesday", 1),
        ("wed", 2),
        ("wednesday", 2),
        ("thu", 3),
        ("thursday", 3),
        ("fri", 4),
        ("friday", 4),
        ("sat", 5),
        ("saturday", 5),
        ("sun", 6),
        ("sunday", 6),
    ]
    .into_iter()
    .collect();
    names.get(day.to_ascii_lowercase().as_str()).copied()
}

/// The standard catalog every kube-prometheus cluster's rules are in (`configs/catalog.yaml`).
pub const STANDARD_CATALOG: &str = include_str!("../../configs/catalog.yaml");

/// Reads the embedded standard catalog.
pub fn standard_catalog() -> Result<Catalog, String> {
    let file: RawCatalogFile =
        serde_yaml_ng::from_str(STANDARD_CATALOG).map_err(|error| error.to_string())?;
    let mut catalog = Catalog::default();
    for (index, alert) in file.alerts.into_iter().enumerate() {
        let class = AlertClass::parse(&alert.class)
            .ok_or_else(|| format!("alerts[{index}] ({}): unknown class {:?}", alert.name, alert.class))?;
        let source = alert.source.as_deref().unwrap_or("");
        let known = file.sources.iter().find(|known| known.id == source);
        let Some(known) = known else {
            return Err(format!("alerts[{index}] ({}): unknown source {source:?}", alert.name));
        };
        if catalog.get(&alert.name).is_some() {
            return Err(format!("alerts[{index}]: {} is listed twice", alert.name));
        }
        catalog.insert(
            &alert.name,
            CatalogEntry {
                class,
                source: Arc::from(known.id.as_str()),
                down: alert.down,
                cordon: alert.cordon,
            },
        );
    }
    Ok(catalog)
}

/// The inhibition the catalog implies: an alert that says a node was cordoned mutes the alerts
/// that say that node is gone (the same `node` label): work on it is planned, its being
/// unavailable is not an outage. `None` when the catalog marks no such alerts.
pub fn cordon_rule(catalog: &Catalog) -> Option<InhibitRule> {
    let names = |wanted: &dyn Fn(&CatalogEntry) -> bool| -> Vec<String> {
        let mut names: Vec<String> =
            catalog.iter().filter(|(_, entry)| wanted(entry)).map(|(name, _)| regex::escape(name)).collect();
        names.sort();
        names
    };
    let cordons = names(&|entry| entry.cordon);
    let downs = names(&|entry| entry.down && !entry.cordon);
    if cordons.is_empty() || downs.is_empty() {
        return None;
    }
    let source = Matcher::new("alertname", MatchOp::Regex, &cordons.join("|")).ok()?;
    let target = Matcher::new("alertname", MatchOp::Regex, &downs.join("|")).ok()?;
    Some(InhibitRule {
        name: Arc::from("catalog: a cordoned node is not an outage"),
        source: vec![source],
        target: vec![target],
        scope: InhibitScope::Labels(vec!["node".into()]),
    })
}
