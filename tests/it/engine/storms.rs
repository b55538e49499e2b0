//! Storms on inventories of our own design (`builder`): every real problem must page by its
//! deadline at its urgency, noise must not page, and no problem may be split apart, across
//! many seeds and four shapes of inventory. None of this is a sample's data: the shapes, names,
//! timings and mixes are the builder's own, drawn from a seed.

use super::builder::{Kind, Scenario, Shape, judge};

/// Seeds per shape.
const SEEDS: u64 = 40;

/// Where the engine's inventory comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Known {
    /// The config declares it.
    Declared,
    /// No inventory in the config: learned from the telemetry and the alerts.
    Learned,
}

/// Plays `SEEDS` storms of a shape and fails with every problem found, seed by seed.
fn storms_page_every_real_problem_and_no_noise(shape: Shape) {
    storms_of(shape, Known::Declared);
}

fn storms_of(shape: Shape, known: Known) {
    let mut problems = Vec::new();
    let (mut real, mut paged_incidents) = (0usize, 0usize);
    for seed in 0..SEEDS {
        let scenario = Scenario::build(shape, seed);
        let out = match known {
            Known::Declared => scenario.play(),
            Known::Learned => scenario.play_learned(seed),
        };
        let verdict = judge(&scenario, &out);
        problems
            .extend(verdict.problems.into_iter().map(|problem| format!("{shape:?} seed {seed}: {problem}")));
        real += scenario.incidents.len();
        paged_incidents += verdict.paged.iter().filter(|incident| incident.owner.is_some()).count();
    }
    assert!(problems.is_empty(), "{known:?} {} problems:\n{}", problems.len(), problems.join("\n"));
    // One PagerDuty incident per real problem, give or take a cause that surfaced late.
    let per_problem = paged_incidents as f64 / real as f64;
    assert!(per_problem <= 1.3, "{shape:?} {known:?}: {per_problem:.2} PagerDuty incidents per real problem");
}

/// The same storms with no inventory in the config: what the telemetry teaches must do as well
/// as the declared inventory.
#[test]
fn storms_on_a_learned_inventory() {
    for shape in [Shape::Chain, Shape::Star, Shape::Layered, Shape::Tiny] {
        storms_of(shape, Known::Learned);
    }
}

#[test]
fn chain_storms() {
    storms_page_every_real_problem_and_no_noise(Shape::Chain);
}

#[test]
fn star_storms() {
    storms_page_every_real_problem_and_no_noise(Shape::Star);
}

#[test]
fn layered_storms() {
    storms_page_every_real_problem_and_no_noise(Shape::Layered);
}

#[test]
fn tiny_cluster_storms() {
    storms_page_every_real_problem_and_no_noise(Shape::Tiny);
}

/// The storms hold every class of problem and of noise, so that each class has a test that
/// can fail.
#[test]
fn the_storms_hold_every_class_of_problem() {
    let mut kinds = Vec::new();
    let (mut second, mut node_without_pods, mut single_service_latency, mut maintenance) = (0, 0, 0, 0);
    for shape in [Shape::Chain, Shape::Star, Shape::Layered, Shape::Tiny] {
        for seed in 0..SEEDS {
            let scenario = Scenario::build(shape, seed);
            for (index, incident) in scenario.incidents.iter().enumerate() {
                if !kinds.contains(&incident.kind) {
                    kinds.push(incident.kind);
                }
                second += usize::from(incident.second);
                let alerts: Vec<&str> = scenario
                    .episodes
                    .iter()
                    .filter(|episode| episode.owner == Some(index))
                    .filter_map(|episode| episode.labels.iter().find(|(name, _)| name == "alertname"))
                    .map(|(_, value)| value.as_str())
                    .collect();
                if incident.kind == Kind::NodeFailure && alerts.len() == 2 {
                    node_without_pods += 1;
                }
                if incident.kind == Kind::LatencyRegression && alerts.len() == 1 {
                    single_service_latency += 1;
                }
            }
            maintenance += scenario.maintenance.len();
        }
    }
    for kind in [
        Kind::DatastoreOutage,
        Kind::BadDeploy,
        Kind::NodeFailure,
        Kind::DiskFilling,
        Kind::LatencyRegression,
        Kind::CertExpiry,
    ] {
        assert!(kinds.contains(&kind), "no {kind:?} in the storms");
    }
    assert!(second >= 20, "only {second} second problems");
    assert!(node_without_pods >= 1, "no node failure on a node that hosts nothing");
    assert!(single_service_latency >= 5, "only {single_service_latency} latency regressions on one service");
    assert!(maintenance >= 40);
}
