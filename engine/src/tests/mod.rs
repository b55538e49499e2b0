//! Data-driven engine tests: an alert stream with event times in, the pages out.

use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::model::{Alert, Event, EventTime, Expiry, Labels, Severity};

pub(super) const T0: i64 = 1_800_000_000_000;

pub(super) fn at(seconds: i64) -> EventTime {
    EventTime::from_millis(T0 + seconds * 1000)
}

fn route(name: &str, matchers: &[&str], group_by: &[&str], wait: u64, interval: u64, repeat: u64) -> Route {
    Route {
        name: Arc::from(name),
        matchers: matchers.iter().map(|text| Matcher::parse(text).unwrap()).collect(),
        group_by: GroupBy::Labels(group_by.iter().map(|name| (*name).into()).collect()),
        group_wait: Duration::from_secs(wait),
        group_interval: Duration::from_secs(interval),
        repeat_interval: Duration::from_secs(repeat),
        routing_key: Arc::from("default"),
    }
}

/// group_by alertname+cluster, group_wait 30s, group_interval 5m, repeat 4h, resolve timeout 5m.
fn config() -> EngineConfig {
    EngineConfig {
        exclude_labels: vec!["prometheus_replica".into()],
        resolve_timeout: Duration::from_secs(300),
        event_quiet: Duration::from_secs(1800),
        default_severity: Severity::Error,
        learning: crate::inventory::Learning::default(),
        routes: RouteTree::new(
            route("route", &[], &["alertname", "cluster"], 30, 300, 4 * 3600),
            vec![route(
                "route.routes[0]",
                &["severity=\"critical\""],
                &["alertname", "cluster"],
                5,
                300,
                4 * 3600,
            )],
        ),
        topology: Arc::default(),
        correlation: Correlation {
            window: Duration::from_secs(600),
            settle_warning: Duration::ZERO,
            settle_info: Duration::ZERO,
            settle_corroborated: Duration::ZERO,
        },
        flapping: Flapping { window: Duration::from_secs(1800), min_episodes: 0, hold: Duration::ZERO },
        inhibit_rules: Vec::new(),
        silences: Vec::new(),
        patterns: Default::default(),
        catalog: Arc::default(),
        // These tests are about grouping: every incident pages as its severity says.
        scoring: test_scoring(Shadow::Unfiltered),
        novelty: crate::NoveltyConfig::default(),
        memory: crate::MemoryConfig::default(),
        feedback: false,
        logs: LogConfig {
            depth: 4,
            similarity: 0.4,
            max_children: 100,
            max_templates: 1000,
            max_services: 10_000,
            burst_errors: 10,
            new_within: Duration::from_secs(900),
            context_templates: 5,
            context_lookback: Duration::from_secs(900),
        },
    }
}

/// An Alertmanager-API alert (state from `endsAt`, resolve timeout when absent).
fn alert(labels: &[(&str, &str)]) -> Alert {
    let labels = Labels::from_pairs(labels.iter().copied());
    Alert {
        severity: labels.get("severity").and_then(Severity::parse),
        labels,
        annotations: Labels::default(),
        starts_at: None,
        ends_at: None,
        resolved: false,
        expiry: Expiry::ResolveTimeout,
        generator_url: None,
        external_key: None,
    }
}

fn firing(labels: &[(&str, &str)], starts: i64, ends: i64) -> Event {
    Event::Alert(Alert { starts_at: Some(at(starts)), ends_at: Some(at(ends)), ..alert(labels) })
}

fn resolved(labels: &[(&str, &str)], starts: i64, ended: i64) -> Event {
    firing(labels, starts, ended)
}

/// One page, reduced to what the scenarios assert: time, action, reason, firing alert names.
#[derive(Debug, PartialEq)]
struct Seen {
    at: i64,
    action: PageAction,
    reason: PageReason,
    firing: Vec<String>,
    key: String,
}

fn run(engine: &mut Engine, steps: Vec<(i64, Event)>, until: i64) -> Vec<Seen> {
    let mut out = Vec::new();
    for (time, event) in steps {
        engine.apply(event, at(time), &mut out);
    }
    engine.advance(at(until), &mut out);
    out.into_iter()
        .filter_map(page_of)
        .map(|page| Seen {
            at: (page.at.as_millis() - T0) / 1000,
            action: page.action,
            reason: page.reason,
            firing: page
                .incident
                .alerts
                .iter()
                .filter(|alert| alert.firing)
                .map(|alert| {
                    let name = alert.labels.get("alertname").unwrap_or("");
                    match alert.labels.get("pod") {
                        Some(pod) => format!("{name}/{pod}"),
                        None => name.to_owned(),
                    }
                })
                .collect(),
            key: page.dedup_key.to_string(),
        })
        .collect()
}

fn summary(seen: &[Seen]) -> Vec<(i64, PageAction, PageReason, Vec<&str>)> {
    seen.iter()
        .map(|page| (page.at, page.action, page.reason, page.firing.iter().map(String::as_str).collect()))
        .collect()
}

const DOWN_A: &[(&str, &str)] =
    &[("alertname", "PodDown"), ("cluster", "eu"), ("pod", "a"), ("severity", "warning")];
const DOWN_B: &[(&str, &str)] =
    &[("alertname", "PodDown"), ("cluster", "eu"), ("pod", "b"), ("severity", "warning")];
const DOWN_C: &[(&str, &str)] =
    &[("alertname", "PodDown"), ("cluster", "eu"), ("pod", "c"), ("severity", "warning")];

#[test]
fn a_burst_of_related_alerts_is_one_page_after_group_wait() {
    let mut engine = Engine::new(config());
    let seen = run(
        &mut engine,
        vec![(0, firing(DOWN_A, 0, 240)), (2, firing(DOWN_B, 2, 240)), (20, firing(DOWN_C, 20, 240))],
        100,
    );
    assert_eq!(
        summary(&seen),
        vec![(30, PageAction::Trigger, PageReason::Opened, vec!["PodDown/a", "PodDown/b", "PodDown/c"])]
    );
    assert_eq!(engine.stats().incidents_opened, 1);
}

#[test]
fn resends_of_a_firing_alert_are_duplicates() {
    let mut engine = Engine::new(config());
    // Prometheus re-sends every minute, each time pushing endsAt forward.
    let steps = (0..10).map(|minute| (minute * 60, firing(DOWN_A, 0, minute * 60 + 240))).collect();
    let seen = run(&mut engine, steps, 600);
    assert_eq!(summary(&seen), vec![(30, PageAction::Trigger, PageReason::Opened, vec!["PodDown/a"])]);
    let stats = engine.stats();
    assert_eq!((stats.alerts_new, stats.alerts_duplicate), (1, 9));
}

#[test]
fn the_replica_label_is_not_identity() {
    let mut engine = Engine::new(config());
    let replica_0 = [DOWN_A, &[("prometheus_replica", "prometheus-0")]].concat();
    let replica_1 = [DOWN_A, &[("prometheus_replica", "prometheus-1")]].concat();
    let seen = run(&mut engine, vec![(0, firing(&replica_0, 0, 240)), (1, firing(&replica_1, 0, 241))], 60);
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].firing.len(), 1);
    assert_eq!(engine.stats().alerts_duplicate, 1);
}

#[test]
fn an_explicit_resolve_resolves_the_incident_at_the_next_group_interval() {
    let mut engine = Engine::new(config());
    let seen = run(&mut engine, vec![(0, firing(DOWN_A, 0, 240)), (100, resolved(DOWN_A, 0, 100))], 1000);
    assert_eq!(
        summary(&seen),
        vec![
            (30, PageAction::Trigger, PageReason::Opened, vec!["PodDown/a"]),
            (330, PageAction::Resolve, PageReason::Resolved, vec![]),
        ]
    );
    assert_eq!(seen[0].key, seen[1].key);
    assert_eq!(engine.stats().active_alerts, 0);
    assert_eq!(engine.stats().active_groups, 0);
}

#[test]
fn an_alert_nobody_resends_resolves_after_the_resolve_timeout() {
    let mut engine = Engine::new(config());
    // No endsAt: the resolve timeout (5m) applies from the last send.
    let seen = run(&mut engine, vec![(0, Event::Alert(alert(DOWN_A)))], 2000);
    assert_eq!(
        summary(&seen),
        vec![
            (30, PageAction::Trigger, PageReason::Opened, vec!["PodDown/a"]),
            // It ended at 300; the next flush (group_interval after 30) pages the resolve.
            (330, PageAction::Resolve, PageReason::Resolved, vec![]),
        ]
    );
}

#[test]
fn a_blip_that_resolves_within_group_wait_pages_nothing() {
    let mut engine = Engine::new(config());
    let seen = run(&mut engine, vec![(0, firing(DOWN_A, 0, 240)), (10, resolved(DOWN_A, 0, 10))], 1000);
    assert_eq!(seen, vec![]);
    assert_eq!(engine.stats().active_groups, 0);
}

#[test]
fn alerts_joining_an_open_incident_page_an_update_at_group_interval() {
    let mut engine = Engine::new(config());
    let seen = run(
        &mut engine,
        vec![
            (0, firing(DOWN_A, 0, 10_000)),
            (60, firing(DOWN_B, 60, 10_000)),
            (70, firing(DOWN_C, 70, 10_000)),
        ],
        700,
    );
    assert_eq!(
        summary(&seen),
        vec![
            (30, PageAction::Trigger, PageReason::Opened, vec!["PodDown/a"]),
            (330, PageAction::Trigger, PageReason::Changed, vec!["PodDown/a", "PodDown/b", "PodDown/c"]),
        ]
    );
    assert_eq!(seen[0].key, seen[1].key, "an update keeps the incident's dedup_key");
}

#[test]
fn an_unchanged_incident_repeats_after_repeat_interval() {
    let mut config = config();
    config.routes = RouteTree::new(route("route", &[], &["alertname"], 30, 300, 3600), vec![]);
    let mut engine = Engine::new(config);
    let watchdog = [("alertname", "Watchdog"), ("severity", "none")];
    let seen = run(&mut engine, vec![(0, firing(&watchdog, 0, 100_000))], 7300);
    let times: Vec<(i64, PageReason)> = seen.iter().map(|page| (page.at, page.reason)).collect();
    assert_eq!(times, vec![(30, PageReason::Opened), (3630, PageReason::Repeat), (7230, PageReason::Repeat)]);
}

#[test]
fn an_alert_firing_again_after_it_resolved_is_a_new_episode() {
    let mut engine = Engine::new(config());
    let seen = run(
        &mut engine,
        vec![
            (0, firing(DOWN_A, 0, 10_000)),
            (1, firing(DOWN_B, 1, 10_000)),
            (100, resolved(DOWN_A, 0, 100)),
            (400, firing(DOWN_A, 400, 10_000)),
        ],
        700,
    );
    assert_eq!(
        summary(&seen),
        vec![
            (30, PageAction::Trigger, PageReason::Opened, vec!["PodDown/a", "PodDown/b"]),
            (330, PageAction::Trigger, PageReason::Changed, vec!["PodDown/b"]),
            (630, PageAction::Trigger, PageReason::Changed, vec!["PodDown/b", "PodDown/a"]),
        ]
    );
}

#[test]
fn routes_pick_timing_and_groups_split_by_group_by() {
    let mut engine = Engine::new(config());
    let critical = [("alertname", "RedisDown"), ("cluster", "eu"), ("severity", "critical")];
    let other_cluster = [("alertname", "PodDown"), ("cluster", "us"), ("pod", "a"), ("severity", "warning")];
    let seen = run(
        &mut engine,
        vec![
            (0, firing(DOWN_A, 0, 1000)),
            (0, firing(&critical, 0, 1000)),
            (0, firing(&other_cluster, 0, 1000)),
        ],
        60,
    );
    assert_eq!(
        summary(&seen),
        vec![
            (5, PageAction::Trigger, PageReason::Opened, vec!["RedisDown"]),
            (30, PageAction::Trigger, PageReason::Opened, vec!["PodDown/a"]),
            (30, PageAction::Trigger, PageReason::Opened, vec!["PodDown/a"]),
        ]
    );
    assert_ne!(seen[1].key, seen[2].key);
}

#[test]
fn an_alert_that_started_long_ago_pages_without_group_wait() {
    let mut engine = Engine::new(config());
    let seen = run(&mut engine, vec![(1000, firing(DOWN_A, 0, 2000))], 1100);
    assert_eq!(summary(&seen), vec![(1000, PageAction::Trigger, PageReason::Opened, vec!["PodDown/a"])]);
}

#[test]
fn a_reopened_group_is_a_new_incident_under_the_same_key() {
    let mut engine = Engine::new(config());
    let seen = run(&mut engine, vec![(0, firing(DOWN_A, 0, 100)), (2000, firing(DOWN_A, 2000, 3000))], 2100);
    let actions: Vec<_> = seen.iter().map(|page| (page.at, page.action)).collect();
    assert_eq!(
        actions,
        vec![(30, PageAction::Trigger), (330, PageAction::Resolve), (2030, PageAction::Trigger)]
    );
    // PagerDuty opens a new incident for a trigger on a resolved key; a restart keeps the key.
    assert_eq!(seen[0].key, seen[1].key);
    assert_eq!(seen[0].key, seen[2].key);
}

fn keyed(key: &str, summary: &str, severity: &str) -> Event {
    Event::Alert(Alert {
        expiry: Expiry::UntilResolved,
        external_key: Some(key.into()),
        ..alert(&[("alertname", "disk"), ("dedup_key", key), ("severity", severity), ("summary", summary)])
    })
}

#[test]
fn sender_keys_resolve_and_acknowledge() {
    let mut engine = Engine::new(config());
    let seen = run(
        &mut engine,
        vec![
            (0, keyed("k1", "disk 91% full", "critical")),
            (1, keyed("k1", "disk 93% full", "critical")),
            (60, Event::AcknowledgeKey("k1".into())),
            (400, Event::ResolveKey("k1".into())),
            (401, Event::ResolveKey("nope".into())),
        ],
        1000,
    );
    let actions: Vec<_> = seen.iter().map(|page| (page.at, page.action)).collect();
    assert_eq!(
        actions,
        vec![(5, PageAction::Trigger), (305, PageAction::Acknowledge), (605, PageAction::Resolve)]
    );
    let stats = engine.stats();
    assert_eq!((stats.alerts_duplicate, stats.resolves_unknown, stats.acknowledgements), (1, 1, 1));
}

#[test]
fn flush_pending_says_what_is_waiting() {
    let mut engine = Engine::new(config());
    let mut out = Vec::new();
    engine.apply(firing(DOWN_A, 0, 1000), at(0), &mut out);
    assert!(out.is_empty());
    engine.flush_pending(at(1), &mut out);
    assert_eq!(pages(&out).len(), 1);
    let page = pages(&out)[0];
    assert_eq!((page.at, page.action), (at(1), PageAction::Trigger));
}

#[test]
fn time_never_goes_backwards() {
    let mut engine = Engine::new(config());
    let seen = run(&mut engine, vec![(100, firing(DOWN_A, 100, 1000)), (50, firing(DOWN_B, 50, 1000))], 200);
    // B arrived "at 50" after time was already 100: it joins the group as of 100. Having
    // started more than group_wait before that, it pages at once, as Alertmanager does for any
    // alert that joins before the group's first page.
    assert_eq!(
        summary(&seen),
        vec![(100, PageAction::Trigger, PageReason::Opened, vec!["PodDown/a", "PodDown/b"])]
    );
}

#[test]
fn a_burst_in_one_request_is_never_split() {
    let mut engine = Engine::new(config());
    let mut out = Vec::new();
    // Alerts that started long ago page at once; all of one request still make one page.
    let burst = vec![firing(DOWN_A, 0, 5000), firing(DOWN_B, 0, 5000), firing(DOWN_C, 0, 5000)];
    engine.apply_batch(burst, at(1000), &mut out);
    engine.advance(at(1000), &mut out);
    assert_eq!(pages(&out).len(), 1);
    let page = pages(&out)[0];
    assert_eq!(page.incident.firing, 3);
}

#[test]
fn a_sender_keyed_alert_keeps_its_identity_when_its_labels_change() {
    let mut engine = Engine::new(config());
    let mut out = Vec::new();
    engine.apply(keyed("k1", "disk 91% full", "warning"), at(0), &mut out);
    engine.advance(at(40), &mut out);
    // Same key, new summary and a higher severity: the same alert, escalated in place.
    engine.apply(keyed("k1", "disk 99% full", "critical"), at(50), &mut out);
    engine.advance(at(400), &mut out);
    let pages: Vec<(PageReason, Severity, Option<String>)> = pages(&out)
        .into_iter()
        .map(|page| {
            let summary = page.incident.alerts[0].labels.get("summary").map(str::to_owned);
            (page.reason, page.incident.severity, summary)
        })
        .collect();
    assert_eq!(
        pages,
        vec![
            (PageReason::Opened, Severity::Warning, Some("disk 91% full".to_owned())),
            (PageReason::Changed, Severity::Critical, Some("disk 99% full".to_owned())),
        ]
    );
    assert_eq!(engine.stats().active_alerts, 1);
}

/// The pages among notifications.
pub(super) fn page_of(notification: Notification) -> Option<Page> {
    match notification {
        Notification::Page(page) => Some(page),
        Notification::Digest(_) | Notification::Decision(_) | Notification::Plain(_) => None,
    }
}

pub(super) fn pages(out: &[Notification]) -> Vec<&Page> {
    out.iter()
        .filter_map(|notification| match notification {
            Notification::Page(page) => Some(page),
            _ => None,
        })
        .collect()
}

/// The scoring settings the hand-built configs use (the config's defaults).
pub(super) fn test_scoring(shadow: Shadow) -> ScoreConfig {
    ScoreConfig {
        weights: Weights {
            severity: 0.5,
            impact: 0.5,
            blast_radius: 0.15,
            growth: 0.1,
            duration: 0.05,
            novelty: 0.1,
            flapping: -0.1,
            evidence: 0.1,
            feedback: 0.3,
            new_kind: 0.3,
            burst: 0.3,
        },
        thresholds: Thresholds { high: 0.4, low: 0.35, digest: 0.1, surprise: 0.75 },
        shadow,
        persistence: Duration::from_secs(20 * 60),
    }
}

#[test]
fn a_resend_is_a_repeat_that_gives_the_same_alert_back_and_a_change_is_not() {
    let mut engine = Engine::new(config());
    let mut out = Vec::new();
    let mut first = alert(&[("alertname", "DiskFull"), ("instance", "a"), ("prometheus_replica", "0")]);
    first.annotations = Labels::from_pairs([("summary", "disk full")]);
    first.generator_url = Some("http://prometheus/graph".into());
    assert_eq!(engine.repeat_of(&first), None, "not held yet");
    engine.apply(Event::Alert(first.clone()), at(0), &mut out);

    let mut resend = first.clone();
    resend.ends_at = Some(at(240));
    resend.severity = Some(Severity::Critical);
    let repeat = engine.repeat_of(&resend).expect("an unchanged re-send is a repeat");
    assert!(!repeat.own_labels);
    assert_eq!(engine.repeated(&repeat, None), Some(resend.clone()));

    // The other Prometheus of the pair: the same alert but for an excluded label.
    let mut other_replica = resend.clone();
    other_replica.labels =
        Labels::from_pairs([("alertname", "DiskFull"), ("instance", "a"), ("prometheus_replica", "1")]);
    let repeat = engine.repeat_of(&other_replica).expect("the other replica's re-send is a repeat");
    assert!(repeat.own_labels, "its labels are kept");
    assert_eq!(engine.repeated(&repeat, Some(other_replica.labels.clone())), Some(other_replica));

    let mut reworded = resend.clone();
    reworded.annotations = Labels::from_pairs([("summary", "disk almost full")]);
    assert_eq!(engine.repeat_of(&reworded), None, "changed annotations are logged whole");
    let mut moved = resend.clone();
    moved.generator_url = None;
    assert_eq!(engine.repeat_of(&moved), None, "a changed generator URL is logged whole");
    let mut keyed = resend;
    keyed.external_key = Some("key".into());
    assert_eq!(engine.repeat_of(&keyed), None, "sender-keyed alerts are logged whole");
}

#[test]
fn snapshots_of_earlier_versions_are_read_with_nothing_learned_or_counted() {
    let mut engine = Engine::new(config());
    run(&mut engine, vec![(0, firing(DOWN_A, 0, 240)), (10, firing(DOWN_A, 0, 240))], 60);
    let current = engine.snapshot().to_vec().unwrap();
    assert_eq!(current[0], 7, "the version comes first");
    // Version 6: log templates of the miner before templates learned their variables, which
    // this build does not read: they start over, the rest is read.
    let logs = postcard::to_allocvec(&engine.logs).unwrap();
    assert!(current.ends_with(&logs));
    let mut sixth = current[..current.len() - logs.len()].to_vec();
    sixth.extend([3, 1, 4, 1, 5, 9, 2, 6]);
    sixth[0] = 6;
    let restored = Engine::restore(config(), &sixth).unwrap();
    assert_eq!((restored.stats(), restored.timers.len()), (engine.stats(), engine.groups.len()));
    assert!(engine.counts.values().any(|counts| counts.deduplicated == 1));
    assert!(!engine.seen.is_empty());
    // Version 4: the same layout without novelty, its last fields; version 3, without the
    // tallies before them too; version 2, without the learned inventory before those.
    let novelty = [
        postcard::to_allocvec(&engine.seen).unwrap(),
        postcard::to_allocvec(&engine.surprises).unwrap(),
        postcard::to_allocvec(&engine.splits).unwrap(),
        postcard::to_allocvec(&engine.memory).unwrap(),
    ]
    .concat();
    let tallies =
        [postcard::to_allocvec(&engine.counts).unwrap(), postcard::to_allocvec(&engine.plain).unwrap()]
            .concat();
    let learned = postcard::to_allocvec(&inventory::Learned::default()).unwrap();
    // Version 5: without the log templates, its timers written (derived all the same).
    let mut fifth = current[..current.len() - logs.len()].to_vec();
    fifth[0] = 5;
    let restored = Engine::restore(config(), &fifth).unwrap();
    assert_eq!((restored.stats(), restored.timers.len()), (engine.stats(), engine.groups.len()));
    assert!(fifth.ends_with(&novelty));
    let mut fourth = fifth[..fifth.len() - novelty.len()].to_vec();
    fourth[0] = 4;
    assert!(fourth.ends_with(&tallies));
    let restored = Engine::restore(config(), &fourth).unwrap();
    assert_eq!(restored.counts, engine.counts, "version 4 keeps its counts");
    assert!(restored.seen.is_empty(), "and starts its history of kinds");
    let mut third = fourth[..fourth.len() - tallies.len()].to_vec();
    third[0] = 3;
    let mut second = third[..third.len() - learned.len()].to_vec();
    second[0] = 2;
    for previous in [&third, &second] {
        let restored = Engine::restore(config(), previous).unwrap();
        assert_eq!(restored.stats(), engine.stats());
        assert!(restored.learned().is_empty());
        // Its groups count from now on.
        assert_eq!(restored.counts.len(), engine.groups.len());
        assert!(restored.counts.values().all(|counts| *counts == AlertCounts::default()));
    }
    let mut unknown = second;
    unknown[0] = 1;
    assert!(matches!(Engine::restore(config(), &unknown), Err(snapshot::SnapshotError::Version(1))));
}

/// The decision records of a run, and the plain-route pages.
fn tallies(
    engine: &mut Engine,
    steps: Vec<(i64, Event)>,
    until: i64,
) -> (Vec<DecisionRecord>, Vec<PlainPage>) {
    let mut out = Vec::new();
    for (time, event) in steps {
        engine.apply(event, at(time), &mut out);
    }
    engine.advance(at(until), &mut out);
    let mut records = Vec::new();
    let mut plain = Vec::new();
    for notification in out {
        match notification {
            Notification::Decision(record) => records.push(record),
            Notification::Plain(page) => plain.push(page),
            _ => {}
        }
    }
    (records, plain)
}

#[test]
fn an_incident_counts_what_happened_to_its_alerts_and_a_plain_route_pages_every_group() {
    // Three pods of one alert, re-sent each minute: one incident, and one group of a plain
    // route (by alertname and cluster). A blip of another alert, over in 20 s, outlasts no
    // wait; a silenced alert pages neither.
    let mut config = config();
    config.correlation.settle_warning = Duration::from_secs(120);
    config.silences = vec![crate::silence::Silence {
        id: "maintenance".into(),
        matchers: vec![Matcher::parse("alertname=\"Maintenance\"").unwrap()],
        starts_at: at(0),
        ends_at: Some(at(100_000)),
        weekly: None,
        comment: "".into(),
        created_by: "ops".into(),
    }];
    let mut engine = Engine::new(config);
    let pod = |name: &'static str| -> Vec<(&'static str, &'static str)> {
        vec![("alertname", "PodDown"), ("cluster", "eu1"), ("pod", name), ("severity", "critical")]
    };
    let mut steps = Vec::new();
    for minute in 0..5 {
        for name in ["a", "b", "c"] {
            steps.push((minute * 60, firing(&pod(name), 0, minute * 60 + 240)));
        }
    }
    steps.push((30, firing(&[("alertname", "Blip"), ("cluster", "eu1"), ("severity", "warning")], 30, 50)));
    steps.push((40, firing(&[("alertname", "Maintenance"), ("cluster", "eu1")], 40, 600)));
    steps.sort_by_key(|(time, _)| *time);
    let (records, plain) = tallies(&mut engine, steps, 3600);

    let resolved = records.iter().find(|record| record.kind == DecisionKind::Resolved).unwrap();
    assert_eq!(resolved.counts.received, 15);
    assert_eq!(resolved.counts.alerts, 3);
    assert_eq!(resolved.counts.deduplicated, 12);
    assert_eq!(resolved.counts.grouped(), 2);
    // The plain route: PodDown's group once (at 0 + 5 s, its route's wait, critical and all),
    // the blip none (over before its 30 s), the silenced alert none.
    assert_eq!(
        plain,
        vec![PlainPage { at: at(5), critical_only: false }, PlainPage { at: at(5), critical_only: true }]
    );
    assert_eq!(engine.plain.groups(), 0, "every plain group ended with its alerts");
    assert!(engine.counts.is_empty(), "the counts go with their groups");
}
