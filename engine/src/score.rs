//! Actionability: a score in [0, 1] for an incident, from features an operator can read and
//! tune, and the tier it decides (page high, page low, digest, suppress). Every decision carries
//! each feature's value and contribution.

use std::collections::HashMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::catalog::CatalogEntry;
use super::impact::{Impact, OUTAGE, ServiceState};
use crate::model::Severity;

/// How much each feature counts. Negative weights subtract.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Weights {
    pub severity: f64,
    /// What is broken and who is affected (`impact`), counted where it goes beyond the
    /// severity's value.
    pub impact: f64,
    pub blast_radius: f64,
    pub growth: f64,
    pub duration: f64,
    pub novelty: f64,
    pub flapping: f64,
    pub evidence: f64,
    pub feedback: f64,
    /// Alert kinds new to their entity, or rare (`novelty::Seen`).
    pub new_kind: f64,
    /// Occurrences far above a kind's usual rate at that hour.
    pub burst: f64,
}

/// Scores at or above which an incident reaches a tier.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Thresholds {
    /// Page high urgency (its alerts must also be critical or error, its impact an outage, or
    /// its kinds new: `surprise` or more).
    pub high: f64,
    pub low: f64,
    pub digest: f64,
    /// How new an incident's alert kinds must be (or how far above its rate a burst) for a
    /// high-urgency page without a critical alert or an outage.
    pub surprise: f64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScoreConfig {
    pub weights: Weights,
    pub thresholds: Thresholds,
    pub shadow: Shadow,
    /// An availability or unknown alert that has fired this long (unmuted, not chronic) pages
    /// at low urgency at least.
    pub persistence: Duration,
}

/// Shadow mode: decisions computed and logged, but not acted on, to compare before switching
/// noisegate's filtering on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shadow {
    /// Decisions are acted on.
    Off,
    /// Every incident pages at the urgency its severity gives; the scored tier is only logged.
    Unfiltered,
    /// Decisions are made and logged; nothing is sent to PagerDuty.
    Silent,
}

/// What noisegate does with an incident. Ordered: an open incident only moves up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Tier {
    Suppress,
    Digest,
    PageLow,
    PageHigh,
}

impl Tier {
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Suppress => "suppress",
            Tier::Digest => "digest",
            Tier::PageLow => "page_low",
            Tier::PageHigh => "page_high",
        }
    }

    pub fn pages(self) -> bool {
        matches!(self, Tier::PageLow | Tier::PageHigh)
    }

    /// The tier an incident's severity gives without scoring (shadow mode, Alertmanager's way).
    pub fn of_severity(severity: Severity) -> Tier {
        if severity >= Severity::Error { Tier::PageHigh } else { Tier::PageLow }
    }
}

/// The raw features of an incident at a flush.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Features {
    /// The highest severity among its live alerts, saturation alerts aside when there are
    /// others.
    pub severity: Option<Severity>,
    /// What its settled alerts say is broken.
    pub impact: Impact,
    /// Services and nodes its alerts are about.
    pub entities: usize,
    /// Alerts that page in it.
    pub alerts: usize,
    pub minutes_open: f64,
    /// Estimated share of its alert kinds' past episodes that resolved on their own.
    pub self_resolving: f64,
    pub flapping: bool,
    pub evidence: usize,
    /// Estimated share of its alert kinds' past pages a human acted on; `None` without history.
    pub acted_on: Option<f64>,
    /// A must-page phrase matched.
    pub must_page: bool,
    /// What the catalog says of each live alert kind (`None`: not in the catalog).
    pub catalog: Vec<(Box<str>, Option<CatalogEntry>)>,
    /// Live alerts of the deadline class (something runs out or expires), by name.
    pub deadline: Vec<Box<str>>,
    /// The availability or unknown alert that has fired longest, unmuted, and for how many
    /// minutes.
    pub persisting: Option<(Box<str>, f64)>,
    /// Every live alert is of the saturation class.
    pub saturation_only: bool,
    /// Every live alert reports events (`novelty::NameSeen::events`), not a condition.
    pub events_only: bool,
    /// How new its alert kinds are together, in [0, 1] (`novelty::Surprises::newness`).
    pub newness: f64,
    /// What is new about them, one line each.
    pub surprises: Vec<String>,
    /// The strongest burst among its alerts: how strong, in [0, 1], and what it was.
    pub burst: Option<(f64, String)>,
}

/// One feature's part in a score.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Contribution {
    pub feature: &'static str,
    /// The feature in [0, 1] (feedback in [-1, 1]).
    pub value: f64,
    pub contribution: f64,
    pub note: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Assessment {
    pub score: f64,
    pub tier: Tier,
    pub why: Vec<Contribution>,
}

impl ScoreConfig {
    pub fn assess(&self, features: &Features) -> Assessment {
        let weights = &self.weights;
        let severity = features.severity.unwrap_or(Severity::Info);
        let severity_value = match severity {
            Severity::Critical => 1.0,
            Severity::Error => 0.85,
            Severity::Warning => 0.45,
            Severity::Info => 0.15,
        };
        let (impact, impact_note) = features.impact.level();
        let blast = (features.entities as f64 / 3.0).min(1.0);
        let growth = (features.alerts.saturating_sub(1) as f64 / 4.0).min(1.0);
        let duration = (features.minutes_open / 30.0).clamp(0.0, 1.0);
        let novelty = (1.0 - features.self_resolving).clamp(0.0, 1.0);
        let evidence = (features.evidence as f64 / 2.0).min(1.0);
        let feedback = features.acted_on.map_or(0.0, |rate| (rate - 0.5) * 2.0);
        let burst = features.burst.as_ref().map_or(0.0, |(value, _)| *value);
        let mut why = vec![
            part("severity", severity_value, weights.severity, severity.as_str().to_owned()),
            // Impact counts where it goes beyond what the sender's severity says: an outage
            // made of warnings weighs like a critical alert, a critical alert is not counted twice.
            Contribution {
                feature: "impact",
                value: impact,
                contribution: (impact - severity_value).max(0.0) * weights.impact + 0.0,
                note: impact_note,
            },
            part(
                "blast_radius",
                blast,
                weights.blast_radius,
                format!("{} services or nodes", features.entities),
            ),
            part("growth", growth, weights.growth, format!("{} alerts", features.alerts)),
            part(
                "duration",
                duration,
                weights.duration,
                format!("open {:.0} minutes", features.minutes_open),
            ),
            part(
                "novelty",
                novelty,
                weights.novelty,
                format!("{:.0}% of past episodes resolved on their own", features.self_resolving * 100.0),
            ),
            part(
                "flapping",
                f64::from(u8::from(features.flapping)),
                weights.flapping,
                if features.flapping { "flapping".to_owned() } else { "steady".to_owned() },
            ),
            part("evidence", evidence, weights.evidence, format!("{} log evidence", features.evidence)),
            part(
                "feedback",
                feedback,
                weights.feedback,
                match features.acted_on {
                    Some(rate) => format!("responders acted on {:.0}% of past pages", rate * 100.0),
                    None => "no responder history".to_owned(),
                },
            ),
            part(
                "new_kind",
                features.newness,
                weights.new_kind,
                if features.surprises.is_empty() {
                    "every alert kind seen before".to_owned()
                } else {
                    features.surprises.join("; ")
                },
            ),
            part(
                "burst",
                burst,
                weights.burst,
                features.burst.as_ref().map_or_else(|| "no burst".to_owned(), |(_, text)| text.clone()),
            ),
        ];
        why.extend(impact_factors(&features.impact));
        if !features.catalog.is_empty() {
            why.push(note(
                "catalog",
                features.catalog.iter().filter(|(_, entry)| entry.is_some()).count() as f64,
                catalog_note(&features.catalog),
            ));
        }
        let score = why.iter().map(|part| part.contribution).sum::<f64>().clamp(0.0, 1.0);
        let thresholds = &self.thresholds;
        // Responders rarely act on these kinds: their persistence is chronic, not news.
        let chronic = features.acted_on.is_some_and(|rate| rate < 0.3);
        let mut scored = if features.must_page {
            why.push(note("must_page", 1.0, "a must-page phrase matched: high urgency".to_owned()));
            Tier::PageHigh
        } else if score >= thresholds.high
            && (severity >= Severity::Error
                || impact >= OUTAGE
                || features.newness >= thresholds.surprise
                || burst >= thresholds.surprise)
        {
            if severity < Severity::Error && impact < OUTAGE {
                why.push(note(
                    "surprise",
                    features.newness.max(burst),
                    "new alert kinds or a burst, never seen like this: high urgency".to_owned(),
                ));
            }
            Tier::PageHigh
        } else if score >= thresholds.low {
            Tier::PageLow
        } else if score >= thresholds.digest {
            Tier::Digest
        } else {
            Tier::Suppress
        };
        if features.saturation_only && scored > Tier::Digest && !features.must_page {
            why.push(note(
                "saturation",
                1.0,
                "only capacity and saturation alerts: the digest until it grows toward an outage".to_owned(),
            ));
            scored = Tier::Digest;
        }
        // Events of kinds seen before at their usual rate are the background an event source
        // always sends: what is new or bursting pages, the rest is summarized.
        if features.events_only
            && scored > Tier::Digest
            && !features.must_page
            && features.newness == 0.0
            && burst == 0.0
        {
            why.push(note(
                "background",
                1.0,
                "only events of kinds seen before, at their usual rate: the digest".to_owned(),
            ));
            scored = Tier::Digest;
        }
        if scored < Tier::PageLow && !features.saturation_only {
            if let Some(name) = features.deadline.first() {
                why.push(note(
                    "deadline",
                    1.0,
                    format!("{name} counts down to a deadline: a low-urgency page well before it"),
                ));
                scored = Tier::PageLow;
            } else if let Some((name, minutes)) = &features.persisting {
                let persistent = *minutes >= self.persistence.as_secs_f64() / 60.0;
                if persistent && chronic {
                    why.push(note(
                        "persistence",
                        0.0,
                        format!("{name} has fired {minutes:.0} minutes, but responders rarely act on it"),
                    ));
                } else if persistent {
                    why.push(note(
                        "persistence",
                        *minutes,
                        format!(
                            "{name} has fired {minutes:.0} minutes without resolving: a low-urgency page"
                        ),
                    ));
                    scored = Tier::PageLow;
                }
            }
        }
        let tier = match self.shadow {
            Shadow::Unfiltered => {
                why.push(note("shadow", 0.0, format!("shadow mode: the score decides {}", scored.as_str())));
                Tier::of_severity(severity)
            }
            Shadow::Off | Shadow::Silent => scored,
        };
        Assessment { score, tier, why }
    }
}

/// Each factor of the impact, with its value, as weightless notes.
fn impact_factors(impact: &Impact) -> Vec<Contribution> {
    let mut factors = Vec::new();
    if !impact.nodes_down.is_empty() {
        factors.push(note("nodes_down", impact.nodes_down.len() as f64, impact.nodes_down.join(", ")));
    }
    if !impact.nodes_impaired.is_empty() {
        factors.push(note(
            "nodes_impaired",
            impact.nodes_impaired.len() as f64,
            impact.nodes_impaired.join(", "),
        ));
    }
    for (feature, state) in [
        ("services_down", ServiceState::Down),
        ("services_partial", ServiceState::Partial),
        ("services_degraded", ServiceState::Degraded),
    ] {
        let services: Vec<String> = impact
            .services
            .iter()
            .filter(|service| service.state == state)
            .map(|service| {
                let mut text = service.name.to_string();
                let mut notes = Vec::new();
                if let Some(replicas) = service.replicas {
                    notes.push(format!("{} of {replicas} replicas unavailable", service.unavailable_pods));
                }
                if service.stateful {
                    notes.push("stateful".to_owned());
                }
                if !service.reason.is_empty() {
                    notes.push(service.reason.to_owned());
                }
                if !notes.is_empty() {
                    text.push_str(&format!(" ({})", notes.join(", ")));
                }
                text
            })
            .collect();
        if !services.is_empty() {
            factors.push(note(feature, services.len() as f64, services.join("; ")));
        }
    }
    if !impact.entry_points.is_empty() {
        factors.push(note(
            "entry_points",
            impact.entry_points.len() as f64,
            format!("requests entering at {} reach what is unavailable", impact.entry_points.join(", ")),
        ));
    }
    factors
}

fn catalog_note(catalog: &[(Box<str>, Option<CatalogEntry>)]) -> String {
    let parts: Vec<String> = catalog
        .iter()
        .map(|(name, entry)| match entry {
            Some(entry) => format!("{name}: {} ({})", entry.class.as_str(), entry.source),
            None => format!("{name}: not in the catalog, judged by impact and persistence"),
        })
        .collect();
    parts.join("; ")
}

impl Contribution {
    /// Notes that carry no weight but explain (impact factors, the catalog, what set a floor or
    /// a cap on the tier, must page, shadow mode).
    pub fn weightless(&self) -> bool {
        WEIGHTLESS.contains(&self.feature)
    }
}

/// Features that carry a weight.
const WEIGHTED: [&str; 11] = [
    "severity",
    "impact",
    "blast_radius",
    "growth",
    "duration",
    "novelty",
    "flapping",
    "evidence",
    "feedback",
    "new_kind",
    "burst",
];

/// Notes without weight.
const WEIGHTLESS: [&str; 14] = [
    "nodes_down",
    "nodes_impaired",
    "services_down",
    "services_partial",
    "services_degraded",
    "entry_points",
    "catalog",
    "saturation",
    "deadline",
    "persistence",
    "must_page",
    "shadow",
    "surprise",
    "background",
];

/// A contribution as snapshots store it; the feature name is read back as the scorer's own.
#[derive(Deserialize)]
struct StoredContribution {
    feature: String,
    value: f64,
    contribution: f64,
    note: String,
}

impl<'de> Deserialize<'de> for Contribution {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Contribution, D::Error> {
        let stored = StoredContribution::deserialize(deserializer)?;
        let feature = WEIGHTED
            .iter()
            .chain(&WEIGHTLESS)
            .find(|feature| **feature == stored.feature)
            .copied()
            .unwrap_or("unknown");
        Ok(Contribution {
            feature,
            value: stored.value,
            contribution: stored.contribution,
            note: stored.note,
        })
    }
}

fn part(feature: &'static str, value: f64, weight: f64, note: String) -> Contribution {
    // Adding 0.0 turns a -0.0 (a zero feature under a negative weight) into 0.0.
    Contribution { feature, value, contribution: value * weight + 0.0, note }
}

/// A weightless note with its value.
fn note(feature: &'static str, value: f64, note: String) -> Contribution {
    Contribution { feature, value, contribution: 0.0, note }
}

/// What happened to past episodes and pages of each kind of alert (its `alertname`): the
/// history novelty and feedback read.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct KindStats {
    /// Episodes that ended.
    pub episodes: u64,
    /// Of those, episodes that ended without ever paging.
    pub self_resolved: u64,
    /// Pages a responder acknowledged.
    pub acted: u64,
    /// Pages that were resolved without anyone acknowledging them.
    pub untouched: u64,
    /// Sum of seconds from page to acknowledgement, over `acted`.
    pub ack_seconds: f64,
}

impl KindStats {
    /// Beta(1, 1)-posterior mean of "an episode resolved on its own".
    pub fn self_resolving(&self) -> f64 {
        (self.self_resolved as f64 + 1.0) / (self.episodes as f64 + 2.0)
    }

    /// Beta(1, 1)-posterior mean of "a human acted on the page", without history `None`.
    pub fn acted_on(&self) -> Option<f64> {
        let pages = self.acted + self.untouched;
        (pages > 0).then(|| (self.acted as f64 + 1.0) / (pages as f64 + 2.0))
    }
}

/// History per alert kind.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct History {
    pub kinds: HashMap<Box<str>, KindStats>,
}

impl History {
    pub fn kind(&mut self, name: &str) -> &mut KindStats {
        self.kinds.entry(name.into()).or_default()
    }

    /// Adds another history's counts to this one's.
    pub fn add(&mut self, other: &History) {
        for (kind, more) in &other.kinds {
            let stats = self.kind(kind);
            stats.episodes += more.episodes;
            stats.self_resolved += more.self_resolved;
            stats.acted += more.acted;
            stats.untouched += more.untouched;
            stats.ack_seconds += more.ack_seconds;
        }
    }

    /// Mean self-resolving rate and acted-on rate over `kinds`.
    pub fn rates<'a>(&self, kinds: impl Iterator<Item = &'a str>) -> (f64, Option<f64>) {
        let mut self_resolving = 0.0;
        let mut acted = Vec::new();
        let mut count = 0;
        for kind in kinds {
            let stats = self.kinds.get(kind).cloned().unwrap_or_default();
            self_resolving += stats.self_resolving();
            acted.extend(stats.acted_on());
            count += 1;
        }
        let self_resolving = if count == 0 { 0.5 } else { self_resolving / count as f64 };
        let acted = (!acted.is_empty()).then(|| acted.iter().sum::<f64>() / acted.len() as f64);
        (self_resolving, acted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> ScoreConfig {
        crate::tests::test_scoring(Shadow::Off)
    }

    fn base() -> Features {
        Features { severity: Some(Severity::Warning), alerts: 1, self_resolving: 0.5, ..Features::default() }
    }

    #[test]
    fn each_feature_moves_the_score_its_way() {
        let config = config();
        let score = |features: &Features| config.assess(features).score;
        let plain = score(&base());
        let cases: Vec<(&str, Features, bool)> = vec![
            ("critical", Features { severity: Some(Severity::Critical), ..base() }, true),
            ("info", Features { severity: Some(Severity::Info), ..base() }, false),
            ("blast radius", Features { entities: 3, ..base() }, true),
            ("growth", Features { alerts: 5, ..base() }, true),
            ("duration", Features { minutes_open: 30.0, ..base() }, true),
            ("novel", Features { self_resolving: 0.0, ..base() }, true),
            ("routine", Features { self_resolving: 1.0, ..base() }, false),
            ("flapping", Features { flapping: true, ..base() }, false),
            ("evidence", Features { evidence: 2, ..base() }, true),
            ("acted on", Features { acted_on: Some(0.9), ..base() }, true),
            ("ignored", Features { acted_on: Some(0.1), ..base() }, false),
            ("new kind", Features { newness: 1.0, ..base() }, true),
            ("burst", Features { burst: Some((1.0, "a burst".to_owned())), ..base() }, true),
        ];
        for (name, features, up) in cases {
            let moved = score(&features);
            assert_eq!(moved > plain, up, "{name}: {moved} vs {plain}");
        }
        let assessment = config.assess(&base());
        let total: f64 = assessment.why.iter().map(|part| part.contribution).sum();
        assert!((total - assessment.score).abs() < 1e-9, "why adds up to the score");
    }

    #[test]
    fn tiers_follow_thresholds_and_severity() {
        let config = config();
        let tier = |features: Features| config.assess(&features).tier;
        assert_eq!(tier(Features { severity: Some(Severity::Critical), ..base() }), Tier::PageHigh);
        // A warning does not page high however high it scores, unless its impact is an outage.
        assert_eq!(tier(Features { entities: 3, alerts: 5, evidence: 2, ..base() }), Tier::PageLow);
        assert_eq!(tier(base()), Tier::Digest);
        assert_eq!(
            tier(Features { severity: Some(Severity::Info), self_resolving: 1.0, ..base() }),
            Tier::Suppress
        );
        assert_eq!(tier(Features { must_page: true, ..base() }), Tier::PageHigh);
        // A warning pages high when its kinds are new enough, and says why.
        let new = config.assess(&Features { newness: 0.8, ..base() });
        assert_eq!(new.tier, Tier::PageHigh);
        assert!(new.why.iter().any(|part| part.feature == "surprise"));
        assert_eq!(tier(Features { newness: 0.5, ..base() }), Tier::PageLow, "not new enough for high");
        // Events seen before at their usual rate: the digest, whatever else they score.
        let background = Features { events_only: true, entities: 3, alerts: 5, evidence: 2, ..base() };
        assert_eq!(tier(background.clone()), Tier::Digest);
        assert_eq!(tier(Features { newness: 0.5, ..background }), Tier::PageLow);
        let shadow = ScoreConfig { shadow: Shadow::Unfiltered, ..config };
        assert_eq!(shadow.assess(&Features { severity: Some(Severity::Info), ..base() }).tier, Tier::PageLow);
    }

    #[test]
    fn an_outage_pages_high_whatever_the_severity_and_says_why() {
        let config = config();
        let outage = Features {
            impact: Impact { nodes_down: vec!["node-7".into()], ..Impact::default() },
            catalog: vec![(
                "KubeNodeNotReady".into(),
                Some(CatalogEntry {
                    class: crate::catalog::AlertClass::Availability,
                    source: "kubernetes-mixin".into(),
                    down: true,
                    cordon: false,
                }),
            )],
            ..base()
        };
        let assessment = config.assess(&outage);
        assert_eq!(assessment.tier, Tier::PageHigh);
        let impact = assessment.why.iter().find(|part| part.feature == "impact").unwrap();
        assert!((impact.contribution - 0.5 * (1.0 - 0.45)).abs() < 1e-9, "{impact:?}");
        assert!(impact.note.contains("node node-7 unavailable"), "{}", impact.note);
        assert!(assessment.why.iter().any(|part| part.feature == "nodes_down" && part.value == 1.0));
        let catalog = assessment.why.iter().find(|part| part.feature == "catalog").unwrap();
        assert!(
            catalog.note.contains("KubeNodeNotReady: availability (kubernetes-mixin)"),
            "{}",
            catalog.note
        );
        // A critical alert's impact is not counted twice.
        let critical = Features { severity: Some(Severity::Critical), ..outage };
        let impact = config.assess(&critical).why.into_iter().find(|part| part.feature == "impact").unwrap();
        assert_eq!(impact.contribution, 0.0);
    }

    #[test]
    fn deadlines_and_persistence_page_low_saturation_stays_in_the_digest() {
        let config = config();
        let assess = |features: Features| config.assess(&features);
        let deadline =
            assess(Features { deadline: vec!["KubeClientCertificateExpiration".into()], ..base() });
        assert_eq!(deadline.tier, Tier::PageLow);
        assert!(deadline.why.iter().any(|part| part.feature == "deadline"));
        // A kind that usually resolves on its own scores low, but still fires after 25 minutes.
        let routine = Features { self_resolving: 1.0, ..base() };
        assert_eq!(assess(routine.clone()).tier, Tier::Digest);
        let persisting = Features { persisting: Some(("LatencyHigh".into(), 25.0)), ..routine.clone() };
        let lifted = assess(persisting.clone());
        assert_eq!(lifted.tier, Tier::PageLow);
        assert!(
            lifted.why.iter().any(|part| part.feature == "persistence" && part.note.contains("25 minutes"))
        );
        assert_eq!(
            assess(Features { persisting: Some(("LatencyHigh".into(), 15.0)), ..routine }).tier,
            Tier::Digest
        );
        // Responders rarely act on it: chronic, not news.
        let chronic = assess(Features { acted_on: Some(0.1), ..persisting });
        assert!(chronic.tier < Tier::PageLow, "{:?}", chronic.tier);
        assert!(
            chronic.why.iter().any(|part| part.feature == "persistence" && part.note.contains("rarely act"))
        );
        // Only capacity warnings, however many: the digest.
        let saturation =
            Features { saturation_only: true, entities: 3, alerts: 9, minutes_open: 60.0, ..base() };
        assert_eq!(
            config.assess(&Features { saturation_only: false, ..saturation.clone() }).tier,
            Tier::PageLow
        );
        assert_eq!(assess(saturation).tier, Tier::Digest);
    }

    #[test]
    fn history_is_a_beta_posterior() {
        let stats = KindStats { episodes: 8, self_resolved: 8, acted: 0, untouched: 0, ack_seconds: 0.0 };
        assert!((stats.self_resolving() - 0.9).abs() < 1e-9);
        assert_eq!(stats.acted_on(), None);
        let stats = KindStats { acted: 3, untouched: 1, ..stats };
        assert!((stats.acted_on().unwrap() - 4.0 / 6.0).abs() < 1e-9);
    }
}
