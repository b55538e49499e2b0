//! Data-driven scenarios for correlation: a config (with an inline inventory), an alert stream
//! with event times, and the pages that must come out.

use std::sync::Arc;

use noisegate_engine::model::{Alert, Event, Labels, Severity};
use noisegate_engine::silence::Silence;
use noisegate_engine::{Command, Engine, Matcher, Notification, PageAction};

use super::{T0, at, engine_from, prometheus_alert};

const INVENTORY: &str = r#"
topology:
  cluster: prod
  namespace: shop
  nodes: [node-1, node-2, node-3]
  services:
    frontend:
      depends_on: [cart, catalog]
      pods: [{name: frontend-7d9f8-aaaaa, node: node-1}, {name: frontend-7d9f8-bbbbb, node: node-3}]
    cart:
      depends_on: [redis]
      pods: [{name: cart-5c6d7-aaaaa, node: node-1}, {name: cart-5c6d7-bbbbb, node: node-2}]
    catalog:
      pods: [{name: catalog-8e9f0-aaaaa, node: node-3}]
    redis:
      kind: redis
      pods: [{name: redis-0, node: node-2}]
route:
  group_by: [alertname, namespace]
  group_wait: 30s
  group_interval: 5m
  repeat_interval: 4h
  routes:
    - matchers: ['severity="critical"']
      group_wait: 10s
correlation:
  window: 10m
  settle: {warning: 5m, info: 10m}
# These scenarios are about correlation and muting: every incident pages as its severity says.
scoring: {shadow: unfiltered}
"#;

fn engine(extra: &str) -> Engine {
    engine_from(&format!(
        "{INVENTORY}
{extra}"
    ))
}

/// An alert as Prometheus sends it, firing from `starts` until `ends` (seconds after T0).
fn alert(labels: &[(&str, &str)], starts: i64, ends: i64) -> Event {
    let mut pairs = vec![("cluster", "prod"), ("namespace", "shop")];
    pairs.extend_from_slice(labels);
    prometheus_alert(Labels::from_pairs(pairs), starts, ends)
}

fn with_summary(event: Event, summary: &str) -> Event {
    match event {
        Event::Alert(alert) => {
            Event::Alert(Alert { annotations: Labels::from_pairs([("summary", summary)]), ..alert })
        }
        other => other,
    }
}

/// A page reduced to what scenarios assert.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    at: i64,
    action: PageAction,
    severity: Severity,
    /// Names of the alerts that page (live), `name/pod` or `name/service` where present.
    firing: Vec<String>,
    /// Names of listed alerts that are muted, with the reason's first word.
    muted: Vec<String>,
    root: Option<String>,
    key: String,
    /// Dedup keys of the related incidents a trigger names.
    related: Vec<String>,
}

fn name_of(labels: &Labels) -> String {
    let name = labels.get("alertname").unwrap_or("");
    match labels.get("pod").or_else(|| labels.get("service")).or_else(|| labels.get("node")) {
        Some(subject) => format!("{name}/{subject}"),
        None => name.to_owned(),
    }
}

fn run(engine: &mut Engine, mut steps: Vec<(i64, Event)>, until: i64) -> Vec<Seen> {
    steps.sort_by_key(|(time, _)| *time);
    let mut out = Vec::new();
    for (time, event) in steps {
        engine.apply(event, at(time), &mut out);
    }
    engine.advance(at(until), &mut out);
    seen(out)
}

fn seen(out: Vec<Notification>) -> Vec<Seen> {
    out.into_iter()
        .filter_map(super::page_of)
        .map(|page| Seen {
            at: (page.at.as_millis() - T0) / 1000,
            action: page.action,
            severity: page.incident.severity,
            firing: page
                .incident
                .alerts
                .iter()
                .filter(|view| view.firing && view.muted.is_none())
                .map(|view| name_of(&view.labels))
                .collect(),
            muted: page
                .incident
                .alerts
                .iter()
                .filter_map(|view| {
                    let reason = view.muted.as_deref()?.split_whitespace().next()?.to_owned();
                    Some(format!("{} {reason}", name_of(&view.labels)))
                })
                .collect(),
            root: page.incident.root.as_ref().map(|root| format!("{} {}", root.kind, root.entity)),
            key: page.dedup_key.to_string(),
            related: page.incident.related.iter().map(|related| related.dedup_key.to_string()).collect(),
        })
        .collect()
}

fn triggers(seen: &[Seen]) -> Vec<(i64, Severity, Vec<&str>)> {
    seen.iter()
        .filter(|page| page.action == PageAction::Trigger)
        .map(|page| (page.at, page.severity, page.firing.iter().map(String::as_str).collect()))
        .collect()
}

#[test]
fn a_datastore_outage_and_its_symptoms_upstream_are_one_incident_rooted_at_the_datastore() {
    let mut engine = engine("");
    let seen = run(
        &mut engine,
        vec![
            (
                0,
                alert(&[("alertname", "RedisDown"), ("service", "redis"), ("severity", "critical")], 0, 5000),
            ),
            (
                5,
                alert(
                    &[("alertname", "HTTPErrorRateHigh"), ("service", "cart"), ("severity", "critical")],
                    5,
                    5000,
                ),
            ),
            (
                40,
                alert(
                    &[("alertname", "HTTPErrorRateHigh"), ("service", "frontend"), ("severity", "critical")],
                    40,
                    5000,
                ),
            ),
            (
                60,
                alert(
                    &[
                        ("alertname", "KubePodCrashLooping"),
                        ("pod", "cart-5c6d7-aaaaa"),
                        ("severity", "warning"),
                    ],
                    60,
                    5000,
                ),
            ),
            // Unrelated to redis (catalog does not depend on it), and a blip: nothing.
            (
                30,
                alert(
                    &[("alertname", "LatencyP99High"), ("service", "catalog"), ("severity", "warning")],
                    30,
                    120,
                ),
            ),
        ],
        400,
    );
    assert_eq!(
        triggers(&seen),
        vec![
            (10, Severity::Critical, vec!["RedisDown/redis", "HTTPErrorRateHigh/cart"]),
            (
                310,
                Severity::Critical,
                vec![
                    "RedisDown/redis",
                    "HTTPErrorRateHigh/cart",
                    "HTTPErrorRateHigh/frontend",
                    "KubePodCrashLooping/cart-5c6d7-aaaaa"
                ]
            ),
        ]
    );
    assert!(seen.iter().all(|page| page.key == seen[0].key && page.root.as_deref() == Some("redis redis")));
    assert_eq!(engine.stats().alerts_correlated, 3);
}

#[test]
fn a_symptom_that_fires_first_is_re_rooted_at_the_cause() {
    let mut engine = engine("");
    let seen = run(
        &mut engine,
        vec![
            (
                0,
                alert(
                    &[("alertname", "HTTPErrorRateHigh"), ("service", "cart"), ("severity", "critical")],
                    0,
                    5000,
                ),
            ),
            (
                30,
                alert(
                    &[("alertname", "RedisDown"), ("service", "redis"), ("severity", "critical")],
                    30,
                    5000,
                ),
            ),
        ],
        400,
    );
    let roots: Vec<_> = seen.iter().map(|page| (page.at, page.root.clone().unwrap())).collect();
    assert_eq!(roots, vec![(10, "service cart".to_owned()), (310, "redis redis".to_owned())]);
}

#[test]
fn a_failing_node_takes_its_pods_and_targets_into_one_incident() {
    let mut engine = engine("");
    let seen = run(
        &mut engine,
        vec![
            (
                0,
                alert(
                    &[("alertname", "KubeNodeNotReady"), ("node", "node-2"), ("severity", "critical")],
                    0,
                    5000,
                ),
            ),
            (
                3,
                alert(
                    &[("alertname", "TargetDown"), ("instance", "node-2:9100"), ("severity", "critical")],
                    3,
                    5000,
                ),
            ),
            (
                5,
                alert(
                    &[
                        ("alertname", "KubePodNotReady"),
                        ("pod", "cart-5c6d7-bbbbb"),
                        ("severity", "critical"),
                    ],
                    5,
                    5000,
                ),
            ),
            (
                8,
                alert(&[("alertname", "RedisDown"), ("service", "redis"), ("severity", "critical")], 8, 5000),
            ),
            // A pod on another node is not part of it.
            (
                9,
                alert(
                    &[
                        ("alertname", "KubePodNotReady"),
                        ("pod", "cart-5c6d7-aaaaa"),
                        ("severity", "critical"),
                    ],
                    9,
                    5000,
                ),
            ),
        ],
        60,
    );
    assert_eq!(
        triggers(&seen),
        vec![
            (
                10,
                Severity::Critical,
                vec![
                    "KubeNodeNotReady/node-2",
                    "TargetDown",
                    "KubePodNotReady/cart-5c6d7-bbbbb",
                    "RedisDown/redis"
                ]
            ),
            (19, Severity::Critical, vec!["KubePodNotReady/cart-5c6d7-aaaaa"]),
        ]
    );
    assert_eq!(seen[0].root.as_deref(), Some("node node-2"));
}

#[test]
fn a_node_gone_pages_high_though_its_alerts_are_warnings_and_sooner_when_two_signals_agree() {
    // These pages are scored, as the shipped config scores them.
    let mut engine = engine_from(&INVENTORY.replace("scoring: {shadow: unfiltered}", ""));
    let node = |name: &'static str, node: &'static str| {
        [("alertname", name), ("node", node), ("severity", "warning"), ("namespace", "monitoring")]
    };
    let seen = run(
        &mut engine,
        vec![
            // node-2: not ready, then unreachable 20 seconds later: a minute after both agree.
            (0, alert(&node("KubeNodeNotReady", "node-2"), 0, 3000)),
            (20, alert(&node("KubeNodeUnreachable", "node-2"), 20, 3000)),
            (
                40,
                alert(
                    &[("alertname", "KubePodNotReady"), ("pod", "redis-0"), ("severity", "warning")],
                    40,
                    3000,
                ),
            ),
            // node-3: only not ready; it settles for five minutes, then pages: a node gone.
            (1000, alert(&node("KubeNodeNotReady", "node-3"), 1000, 3000)),
            // node-1: not ready for four minutes: a blip.
            (2000, alert(&node("KubeNodeNotReady", "node-1"), 2000, 2240)),
        ],
        2700,
    );
    // The first trigger of each incident (the pod on node-2 joins it once settled).
    let mut opened: Vec<(i64, Severity, Vec<&str>)> = Vec::new();
    let mut keys: Vec<&str> = Vec::new();
    for page in seen.iter().filter(|page| page.action == PageAction::Trigger) {
        if !keys.contains(&page.key.as_str()) {
            keys.push(&page.key);
            opened.push((page.at, page.severity, page.firing.iter().map(String::as_str).collect()));
        }
    }
    assert_eq!(
        opened,
        vec![
            (
                80,
                Severity::Error,
                vec!["KubeNodeNotReady/node-2", "KubeNodeUnreachable/node-2", "KubePodNotReady/redis-0"]
            ),
            (1300, Severity::Error, vec!["KubeNodeNotReady/node-3"]),
        ]
    );
}

#[test]
fn a_node_reported_after_its_pods_takes_them_into_one_incident() {
    // Two services that know nothing of each other, on one node.
    let mut engine = engine_from(
        r#"
topology:
  cluster: prod
  namespace: shop
  services:
    billing: {pods: [{name: billing-5d6e7-aaaaa, node: node-9}]}
    search: {pods: [{name: search-8a9b0-aaaaa, node: node-9}, {name: search-8a9b0-bbbbb, node: node-8}]}
route: {group_by: [alertname], group_wait: 30s, group_interval: 5m}
correlation: {window: 10m, settle: {warning: 5m, info: 10m}}
"#,
    );
    let warning = |pairs: &[(&'static str, &'static str)]| {
        let mut pairs = pairs.to_vec();
        pairs.push(("severity", "warning"));
        pairs
    };
    let seen = run(
        &mut engine,
        vec![
            // What runs on the node is reported first...
            (
                0,
                alert(&warning(&[("alertname", "KubePodNotReady"), ("pod", "billing-5d6e7-aaaaa")]), 0, 3000),
            ),
            (2, alert(&warning(&[("alertname", "TargetDown"), ("service", "search")]), 2, 3000)),
            // ...then the node itself.
            (30, alert(&warning(&[("alertname", "KubeNodeNotReady"), ("node", "node-9")]), 30, 3000)),
            (35, alert(&warning(&[("alertname", "KubeNodeUnreachable"), ("node", "node-9")]), 35, 3000)),
        ],
        1000,
    );
    let keys: Vec<&str> = seen.iter().map(|page| page.key.as_str()).collect();
    assert!(!keys.is_empty() && keys.iter().all(|key| *key == keys[0]), "one incident: {seen:#?}");
    let first = &seen[0];
    assert_eq!(first.root.as_deref(), Some("node node-9"));
    assert_eq!(first.severity, Severity::Error);
    let last = seen.last().unwrap();
    for name in ["KubePodNotReady/billing-5d6e7-aaaaa", "TargetDown/search", "KubeNodeNotReady/node-9"] {
        assert!(last.firing.iter().any(|firing| firing == name), "{name} in {:?}", last.firing);
    }
}

#[test]
fn a_warning_on_a_dependency_does_not_swallow_critical_failures_upstream() {
    let mut engine = engine("");
    let seen = run(
        &mut engine,
        vec![
            (
                0,
                alert(
                    &[("alertname", "RedisMemoryHigh"), ("service", "redis"), ("severity", "warning")],
                    0,
                    5000,
                ),
            ),
            (
                60,
                alert(
                    &[("alertname", "HTTPErrorRateHigh"), ("service", "cart"), ("severity", "critical")],
                    60,
                    5000,
                ),
            ),
        ],
        400,
    );
    assert_eq!(
        triggers(&seen),
        vec![
            (70, Severity::Critical, vec!["HTTPErrorRateHigh/cart"]),
            (300, Severity::Warning, vec!["RedisMemoryHigh/redis"]),
        ]
    );
    assert_ne!(seen[0].key, seen[1].key);
}

#[test]
fn a_symptom_joins_its_cause_at_onset_and_a_later_failure_is_a_new_incident_naming_it() {
    let redis = [("alertname", "RedisDown"), ("service", "redis"), ("severity", "critical")];
    let cart = [("alertname", "HTTPErrorRateHigh"), ("service", "cart"), ("severity", "critical")];
    let frontend = [("alertname", "HTTPErrorRateHigh"), ("service", "frontend"), ("severity", "critical")];
    let catalog = [("alertname", "HTTPErrorRateHigh"), ("service", "catalog"), ("severity", "critical")];
    let mut engine = engine("");
    let seen = run(
        &mut engine,
        vec![
            // Redis fails for 40 minutes; cart's errors start 4 minutes in: its symptom.
            (0, alert(&redis, 0, 2400)),
            (240, alert(&cart, 240, 2400)),
            // Frontend failing 20 minutes in, while redis still fails: a problem of its own
            // (a cascade shows itself within minutes), linked to the redis incident.
            (1200, alert(&frontend, 1200, 5000)),
            // Catalog failing after redis recovered: a new problem too.
            (3000, alert(&catalog, 3000, 5000)),
        ],
        3100,
    );
    let opened: Vec<(i64, Option<String>, Vec<&str>)> = seen
        .iter()
        .filter(|page| page.action == PageAction::Trigger)
        .map(|page| (page.at, page.root.clone(), page.firing.iter().map(String::as_str).collect()))
        .collect();
    assert_eq!(
        opened,
        vec![
            (10, Some("redis redis".into()), vec!["RedisDown/redis"]),
            (310, Some("redis redis".into()), vec!["RedisDown/redis", "HTTPErrorRateHigh/cart"]),
            (1210, Some("service frontend".into()), vec!["HTTPErrorRateHigh/frontend"]),
            (3010, Some("service catalog".into()), vec!["HTTPErrorRateHigh/catalog"]),
        ]
    );
    let keys: Vec<&str> = seen.iter().map(|page| page.key.as_str()).collect();
    assert_eq!(keys[0], keys[1]);
    assert_ne!(keys[0], keys[2]);
    let frontend_page = seen.iter().find(|page| page.at == 1210).unwrap();
    assert_eq!(frontend_page.related, vec![keys[0].to_owned()], "the frontend page names the redis incident");
}

#[test]
fn low_severity_alerts_settle_before_they_page() {
    let mut engine = engine("");
    let seen = run(
        &mut engine,
        vec![
            // Blips: a warning for 4 minutes, an info for 9 (a pod throttled is nobody's symptom:
            // a group of its own); never paged.
            (
                0,
                alert(
                    &[
                        ("alertname", "KubePodNotReady"),
                        ("pod", "catalog-8e9f0-aaaaa"),
                        ("severity", "warning"),
                    ],
                    0,
                    240,
                ),
            ),
            (
                0,
                alert(
                    &[
                        ("alertname", "CPUThrottlingHigh"),
                        ("pod", "frontend-7d9f8-aaaaa"),
                        ("severity", "info"),
                    ],
                    0,
                    540,
                ),
            ),
            // Chained blips on related services: each alone is short, together they are not.
            (
                1000,
                alert(
                    &[("alertname", "TargetDown"), ("service", "cart"), ("severity", "warning")],
                    1000,
                    1200,
                ),
            ),
            (
                1150,
                alert(
                    &[("alertname", "TargetDown"), ("service", "frontend"), ("severity", "warning")],
                    1150,
                    1350,
                ),
            ),
            // A warning that lasts pages once it has fired for 5 minutes.
            (
                2000,
                alert(
                    &[("alertname", "LatencyP99High"), ("service", "catalog"), ("severity", "warning")],
                    2000,
                    9000,
                ),
            ),
        ],
        3000,
    );
    assert_eq!(triggers(&seen), vec![(2300, Severity::Warning, vec!["LatencyP99High/catalog"])]);
    assert_eq!(engine.stats().groups_dropped, 3);
}

#[test]
fn a_more_severe_alert_escalates_an_open_incident_without_waiting() {
    let mut engine = engine("");
    let seen = run(
        &mut engine,
        vec![
            (
                0,
                alert(
                    &[
                        ("alertname", "NodeFilesystemSpaceFillingUp"),
                        ("instance", "node-3:9100"),
                        ("severity", "warning"),
                    ],
                    0,
                    9000,
                ),
            ),
            (
                3000,
                alert(
                    &[
                        ("alertname", "NodeFilesystemAlmostOutOfSpace"),
                        ("instance", "node-3:9100"),
                        ("severity", "critical"),
                    ],
                    3000,
                    9000,
                ),
            ),
        ],
        3100,
    );
    let pages: Vec<(i64, Severity)> = seen.iter().map(|page| (page.at, page.severity)).collect();
    assert_eq!(pages, vec![(300, Severity::Warning), (3010, Severity::Critical)]);
    assert_eq!(seen[0].key, seen[1].key, "one incident, escalated");
}

const INHIBIT: &str = r#"
inhibit_rules:
  - source_matchers: ['severity="critical"']
    target_matchers: ['severity="warning"']
    equal: [alertname, team]
  - source_matchers: ['alertname="Mirror"']
    target_matchers: ['alertname="Mirror"']
  - source_matchers: ['alertname="RedisDown"']
    target_matchers: ['severity="warning"']
    scope: dependents
"#;

#[test]
fn inhibition_follows_alertmanager_equal_and_self_rules() {
    let mut engine = engine(INHIBIT);
    let seen = run(
        &mut engine,
        vec![
            // Same alertname, and `team` absent on both: equal, so the warning is inhibited.
            (0, alert(&[("alertname", "DiskPressure"), ("job", "a"), ("severity", "critical")], 0, 5000)),
            (0, alert(&[("alertname", "DiskPressure"), ("job", "b"), ("severity", "warning")], 0, 5000)),
            // `team` differs: not inhibited.
            (
                0,
                alert(
                    &[("alertname", "DiskPressure"), ("job", "c"), ("severity", "warning"), ("team", "db")],
                    0,
                    5000,
                ),
            ),
            // Two alerts matching both sides of a rule do not inhibit each other.
            (0, alert(&[("alertname", "Mirror"), ("job", "x"), ("severity", "critical")], 0, 5000)),
            (0, alert(&[("alertname", "Mirror"), ("job", "y"), ("severity", "critical")], 0, 5000)),
        ],
        400,
    );
    let mut firing: Vec<String> = seen.iter().flat_map(|page| page.firing.clone()).collect();
    firing.sort();
    assert_eq!(firing, vec!["DiskPressure", "DiskPressure", "Mirror", "Mirror"]);
    let muted: Vec<&String> = seen.iter().flat_map(|page| &page.muted).collect();
    assert_eq!(muted, vec!["DiskPressure inhibited"]);
}

#[test]
fn a_dependency_outage_inhibits_its_dependents_warnings() {
    let mut engine = engine(INHIBIT);
    let seen = run(
        &mut engine,
        vec![
            (
                0,
                alert(&[("alertname", "RedisDown"), ("service", "redis"), ("severity", "critical")], 0, 5000),
            ),
            // Outside the correlation window, so in a group of its own: muted there, no page.
            (
                1000,
                alert(
                    &[("alertname", "LatencyP99High"), ("service", "frontend"), ("severity", "warning")],
                    1000,
                    5000,
                ),
            ),
        ],
        2000,
    );
    assert_eq!(triggers(&seen), vec![(10, Severity::Critical, vec!["RedisDown/redis"])]);
}

#[test]
fn known_noise_never_pages_must_page_always_does_and_tags_stick() {
    let patterns = r#"
patterns:
  - {phrases: [Watchdog], action: known_noise}
  - {phrases: [data loss], action: must_page}
  - {phrases: [OOMKilled], action: tag, tag: memory}
"#;
    let mut engine = engine(patterns);
    let mut out = Vec::new();
    engine.apply(alert(&[("alertname", "Watchdog"), ("severity", "none")], 0, 90_000), at(0), &mut out);
    let warning =
        alert(&[("alertname", "ReplicationLag"), ("service", "catalog"), ("severity", "warning")], 0, 5000);
    engine.apply(with_summary(warning, "replica behind: risk of data loss"), at(0), &mut out);
    let oom = alert(
        &[("alertname", "KubePodCrashLooping"), ("pod", "cart-5c6d7-aaaaa"), ("severity", "critical")],
        0,
        5000,
    );
    engine.apply(with_summary(oom, "container OOMKilled"), at(0), &mut out);
    engine.advance(at(100_000), &mut out);
    let tags: Vec<Vec<String>> = out
        .iter()
        .filter_map(|notification| match notification {
            Notification::Page(page) if page.action == PageAction::Trigger => Some(page),
            _ => None,
        })
        .map(|page| page.incident.tags.iter().map(|tag| tag.to_string()).collect())
        .collect();
    let pages = seen(out);
    // The must-page warning pages without settling, as a high-urgency page.
    assert_eq!(
        triggers(&pages),
        vec![
            (10, Severity::Critical, vec!["KubePodCrashLooping/cart-5c6d7-aaaaa"]),
            (30, Severity::Error, vec!["ReplicationLag/catalog"]),
        ]
    );
    assert_eq!(tags, vec![vec!["memory".to_owned()], Vec::<String>::new()]);
    // The Watchdog's group ended without a page.
    assert_eq!(engine.stats().groups_dropped, 1);
}

#[test]
fn a_node_maintenance_window_mutes_what_runs_on_the_node() {
    let windows = r#"
silences:
  - matchers: ['node="node-2"']
    start: 2027-01-15T08:00:00Z
    end: 2027-01-15T09:00:00Z
    comment: kernel upgrade
"#;
    let mut engine = engine(windows);
    // T0 is 2027-01-15T08:00:00Z.
    let pod = [("alertname", "KubePodNotReady"), ("pod", "cart-5c6d7-bbbbb"), ("severity", "critical")];
    let other = [("alertname", "KubePodNotReady"), ("pod", "cart-5c6d7-aaaaa"), ("severity", "critical")];
    let seen = run(
        &mut engine,
        vec![(0, alert(&pod, 0, 600)), (0, alert(&other, 0, 600)), (4000, alert(&pod, 4000, 9000))],
        4100,
    );
    assert_eq!(
        triggers(&seen),
        vec![
            (10, Severity::Critical, vec!["KubePodNotReady/cart-5c6d7-aaaaa"]),
            (4010, Severity::Critical, vec!["KubePodNotReady/cart-5c6d7-bbbbb"]),
        ]
    );
}

#[test]
fn a_weekly_window_mutes_only_inside_its_hours() {
    let weekly = r#"
silences:
  - matchers: ['alertname="BackupRunning"']
    weekly: {days: [fri], from: "08:00", to: "10:00"}
"#;
    let mut engine = engine(weekly);
    // T0 (2027-01-15) is a Friday, 08:00 UTC: inside until 10:00 (7200 s).
    let backup = [("alertname", "BackupRunning"), ("severity", "critical")];
    let seen = run(&mut engine, vec![(0, alert(&backup, 0, 100)), (7300, alert(&backup, 7300, 7400))], 7400);
    assert_eq!(triggers(&seen), vec![(7310, Severity::Critical, vec!["BackupRunning"])]);
}

#[test]
fn a_flapping_alert_that_paged_is_held_open_instead_of_re_paging() {
    let flapping = "flapping: {window: 1h, min_episodes: 3, hold: 30m}\n";
    let mut engine = engine(flapping);
    let labels =
        [("alertname", "KubePodCrashLooping"), ("pod", "catalog-8e9f0-aaaaa"), ("severity", "critical")];
    // Fires for 2 minutes every 6 minutes, five times.
    let steps = (0..5).map(|index| (index * 360, alert(&labels, index * 360, index * 360 + 120))).collect();
    let seen = run(&mut engine, steps, 6000);
    let actions: Vec<(i64, PageAction)> = seen.iter().map(|page| (page.at, page.action)).collect();
    // Episodes 1 and 2 page and resolve; the third makes it flapping: held open until 30
    // minutes after the last flap ends (1560 + 1800), resolved at the next flush.
    assert_eq!(
        actions,
        vec![
            (10, PageAction::Trigger),
            (310, PageAction::Resolve),
            (370, PageAction::Trigger),
            (670, PageAction::Resolve),
            (730, PageAction::Trigger),
            (3430, PageAction::Resolve),
        ]
    );
}

#[test]
fn a_muted_alert_that_paged_still_resolves_its_incident() {
    let mut engine = engine("");
    let mut out = Vec::new();
    let labels = [("alertname", "HTTPErrorRateHigh"), ("service", "catalog"), ("severity", "critical")];
    engine.apply(alert(&labels, 0, 2000), at(0), &mut out);
    engine.advance(at(20), &mut out);
    let silence = Silence {
        id: Arc::from("s1"),
        matchers: vec![Matcher::parse("service=\"catalog\"").unwrap()],
        starts_at: at(30),
        ends_at: Some(at(10_000)),
        weekly: None,
        comment: Arc::from("known issue"),
        created_by: Arc::from("test"),
    };
    engine.command(Command::AddSilence(silence), at(30)).unwrap();
    engine.advance(at(3000), &mut out);
    let pages = seen(out);
    let actions: Vec<(i64, PageAction)> = pages.iter().map(|page| (page.at, page.action)).collect();
    // Silenced while it fires: no update, no resolve; when it stops, the incident resolves.
    assert_eq!(actions, vec![(10, PageAction::Trigger), (2110, PageAction::Resolve)]);
}

fn log(service: &str, body: &str, severity: Severity) -> Event {
    Event::Log(noisegate_engine::model::LogRecord {
        time: None,
        severity: Some(severity),
        body: body.into(),
        attributes: Labels::from_pairs([("service.name", service)]),
    })
}

#[test]
fn pages_carry_their_services_logs_and_a_new_error_burst_as_evidence() {
    let mut engine = engine("logs: {burst_errors: 5, new_within: 10m}\n");
    let mut steps: Vec<(i64, Event)> =
        (0..120).map(|second| (second, log("cart", "GET /cart 200 12ms", Severity::Info))).collect();
    steps.push((
        200,
        alert(
            &[("alertname", "HTTPErrorRateHigh"), ("service", "cart"), ("severity", "critical")],
            200,
            5000,
        ),
    ));
    for index in 0..8 {
        let line = format!("connection refused to redis-cart:6379 attempt {index}");
        steps.push((220 + index, log("cart", &line, Severity::Error)));
    }
    let mut out = Vec::new();
    for (time, event) in steps {
        engine.apply(event, at(time), &mut out);
    }
    engine.advance(at(600), &mut out);
    let pages = super::pages(&out);
    assert_eq!(pages.len(), 2, "the opening page and the update after group_interval");
    // The opening page (at 210) lists what cart logged; the burst comes after it.
    assert_eq!(pages[0].incident.log_context[0].template, "GET /cart <*>");
    assert!(pages[0].incident.evidence.is_empty());
    let update = &pages[1].incident;
    assert_eq!(update.log_context[0].template, "connection refused to <*> attempt <*>");
    assert_eq!((update.log_context[0].lines, update.log_context[0].errors), (8, 8));
    assert_eq!(
        update.evidence,
        vec![
            "new error log template on cart: \"connection refused to <*> attempt <*>\" (5 errors in 2 minutes)"
        ]
    );
    assert_eq!(engine.stats().log_bursts, 1);
}

#[test]
fn a_restored_engine_keeps_its_log_templates_counts_and_evidence() {
    let mut original = engine("logs: {burst_errors: 5, new_within: 10m}\n");
    let mut out = Vec::new();
    for second in 0..120 {
        original.apply(log("cart", "GET /cart 200 12ms", Severity::Info), at(second), &mut out);
    }
    for index in 0..8 {
        let line = format!("connection refused to redis-cart:6379 attempt {index}");
        original.apply(log("cart", &line, Severity::Error), at(200 + index), &mut out);
    }
    let bytes = original.snapshot().to_vec().unwrap();
    let mut restored = Engine::restore(original.config().clone(), &bytes).unwrap();
    assert_eq!(restored.stats(), original.stats());

    // The alert comes after the restart: its page carries what was logged before it.
    let page = |engine: &mut Engine| {
        let labels = [("alertname", "HTTPErrorRateHigh"), ("service", "cart"), ("severity", "critical")];
        let mut out = Vec::new();
        engine.apply(alert(&labels, 300, 5000), at(300), &mut out);
        engine.advance(at(400), &mut out);
        let pages = super::pages(&out);
        assert_eq!(pages.len(), 1);
        let incident = &pages[0].incident;
        let context: Vec<(String, u32, u32)> = incident
            .log_context
            .iter()
            .map(|context| (context.template.clone(), context.lines, context.errors))
            .collect();
        (context, incident.evidence.clone())
    };
    let (from_original, from_restored) = (page(&mut original), page(&mut restored));
    assert_eq!(from_restored, from_original);
    let (context, evidence) = from_restored;
    assert_eq!(
        context,
        vec![
            ("connection refused to <*> attempt <*>".to_owned(), 8, 8),
            ("GET /cart <*>".to_owned(), 120, 0)
        ]
    );
    assert_eq!(evidence.len(), 1, "the burst before the restart is evidence");
}

#[test]
fn an_engine_restored_from_a_snapshot_carries_on_as_the_original_would() {
    let critical = |name: &str, service: &str, starts: i64| {
        alert(&[("alertname", name), ("service", service), ("severity", "critical")], starts, 5000)
    };
    let mut original = engine("");
    let mut out = Vec::new();
    original.apply(critical("RedisDown", "redis", 0), at(0), &mut out);
    original.apply(critical("HTTPErrorRateHigh", "cart", 5), at(5), &mut out);
    original.advance(at(20), &mut out);
    let silence = Silence {
        id: Arc::from("api-1"),
        matchers: vec![Matcher::parse("service=\"catalog\"").unwrap()],
        starts_at: at(0),
        ends_at: Some(at(10_000)),
        weekly: None,
        comment: Arc::from("known issue"),
        created_by: Arc::from("test"),
    };
    original.command(Command::AddSilence(silence), at(20)).unwrap();
    let before = seen(std::mem::take(&mut out));
    assert_eq!(triggers(&before).len(), 1, "paged once before the snapshot");

    let snapshot = original.snapshot();
    let mut bytes = vec![0; snapshot.size().unwrap()];
    snapshot.write_to(&mut bytes).unwrap();
    assert_eq!(bytes, snapshot.to_vec().unwrap());
    let mut restored = Engine::restore(engine("").config().clone(), &bytes).unwrap();
    assert_eq!(restored.stats(), original.stats());
    assert_eq!(restored.silences().len(), original.silences().len());

    // The same input after the snapshot: the same pages, under the same dedup key and root.
    let rest = || {
        vec![
            (40, critical("HTTPErrorRateHigh", "frontend", 40)),
            (50, critical("LatencyP99High", "catalog", 50)),
            (6000, critical("RedisDown", "redis", 0)),
        ]
    };
    let (from_original, from_restored) = (run(&mut original, rest(), 7000), run(&mut restored, rest(), 7000));
    assert!(!from_original.is_empty());
    assert_eq!(from_restored, from_original);
    assert!(from_restored.iter().all(|page| page.key == before[0].key), "{from_restored:#?}");
    assert_eq!(from_restored[0].root.as_deref(), Some("redis redis"));
    assert_eq!(from_restored.last().map(|page| page.action), Some(PageAction::Resolve));

    assert!(matches!(
        Engine::restore(engine("").config().clone(), &bytes[..bytes.len() / 2]),
        Err(noisegate_engine::snapshot::SnapshotError::Corrupt(_))
    ));
}
