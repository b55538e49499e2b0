//! Scoring scenarios: tiers, hysteresis, the digest, and feedback changing a later decision.

use noisegate_engine::model::{Event, Feedback, FeedbackAction, Labels};
use noisegate_engine::{DecisionKind, Engine, Notification, PageAction, Tier};

use super::{T0, at, engine_from, prometheus_alert};

const CONFIG: &str = r#"
topology:
  cluster: prod
  namespace: shop
  services:
    frontend: {depends_on: [cart, search]}
    cart: {depends_on: [redis]}
    search: {}
    redis: {kind: redis}
route:
  group_by: [alertname]
  group_wait: 30s
  group_interval: 5m
  repeat_interval: 4h
  routes:
    - matchers: ['severity="critical"']
      group_wait: 10s
correlation: {window: 10m, settle: {warning: 0s, info: 0s}}
"#;

fn engine(extra: &str) -> Engine {
    engine_from(&format!(
        "{CONFIG}
{extra}"
    ))
}

fn alert(name: &str, service: &str, severity: &str, starts: i64, ends: i64) -> Event {
    let labels = Labels::from_pairs([
        ("alertname", name),
        ("cluster", "prod"),
        ("namespace", "shop"),
        ("service", service),
        ("severity", severity),
    ]);
    prometheus_alert(labels, starts, ends)
}

/// (seconds, what happened, tier) for pages, digests and tier changes.
fn outcomes(out: &[Notification]) -> Vec<(i64, String, Tier)> {
    out.iter()
        .filter_map(|notification| match notification {
            Notification::Page(page) => {
                let action = match page.action {
                    PageAction::Trigger => format!("page {}", page.incident.severity.as_str()),
                    PageAction::Acknowledge => "acknowledge".to_owned(),
                    PageAction::Resolve => "resolve".to_owned(),
                };
                Some(((page.at.as_millis() - T0) / 1000, action, page.incident.tier))
            }
            Notification::Digest(page) => {
                Some(((page.at.as_millis() - T0) / 1000, "digest".to_owned(), page.incident.tier))
            }
            Notification::Decision(record) if record.kind == DecisionKind::Escalated => {
                Some(((record.at.as_millis() - T0) / 1000, "escalated".to_owned(), record.tier))
            }
            Notification::Decision(_) | Notification::Plain(_) => None,
        })
        .collect()
}

fn run(engine: &mut Engine, steps: Vec<(i64, Event)>, until: i64) -> Vec<Notification> {
    let mut out = Vec::new();
    for (time, event) in steps {
        engine.apply(event, at(time), &mut out);
    }
    engine.advance(at(until), &mut out);
    out
}

#[test]
fn a_lone_warning_goes_to_the_digest_and_a_spreading_one_pages_low_then_high_without_going_back() {
    let mut engine = engine("");
    let out = run(
        &mut engine,
        vec![
            (0, alert("LatencyHigh", "cart", "warning", 0, 5000)),
            // The problem spreads upstream: blast radius and growth.
            (60, alert("LatencyHigh", "frontend", "warning", 60, 5000)),
            (70, alert("QueueBacklog", "cart", "warning", 70, 5000)),
            (80, alert("CheckoutSlow", "frontend", "warning", 80, 5000)),
            // Then the cause shows up, critical, within the correlation window.
            (500, alert("RedisDown", "redis", "critical", 500, 5000)),
            // It recovers; the incident does not drop back a tier while it is open.
            (1000, alert("RedisDown", "redis", "critical", 500, 1000)),
        ],
        2000,
    );
    let seen = outcomes(&out);
    assert_eq!(seen[0], (30, "digest".to_owned(), Tier::Digest), "{seen:#?}");
    assert_eq!(seen[1], (330, "page warning".to_owned(), Tier::PageLow), "{seen:#?}");
    let escalation = seen.iter().position(|(_, what, _)| what == "escalated").expect("escalated");
    assert_eq!(seen[escalation + 1], (510, "page critical".to_owned(), Tier::PageHigh), "{seen:#?}");
    assert!(seen.iter().any(|(time, _, _)| *time > 1000), "updates after the recovery: {seen:#?}");
    assert!(
        seen[escalation + 1..].iter().all(|(_, _, tier)| *tier == Tier::PageHigh),
        "no ping-pong after recovery: {seen:#?}"
    );
}

#[test]
fn shadow_unfiltered_pages_what_the_score_would_digest() {
    let mut engine = engine("scoring: {shadow: unfiltered}\n");
    let out = run(&mut engine, vec![(0, alert("LatencyHigh", "cart", "warning", 0, 5000))], 100);
    assert_eq!(outcomes(&out), vec![(30, "page warning".to_owned(), Tier::PageLow)]);
    let Some(Notification::Page(page)) =
        out.iter().find(|notification| matches!(notification, Notification::Page(_)))
    else {
        panic!("no page")
    };
    assert!(
        page.incident.why.iter().any(|part| part.note.contains("the score decides digest")),
        "{:?}",
        page.incident.why
    );
}

fn feedback(key: &str, action: FeedbackAction) -> Event {
    Event::Feedback(Feedback { dedup_key: key.into(), action })
}

fn first_page_key(out: &[Notification]) -> String {
    out.iter()
        .find_map(|notification| match notification {
            Notification::Page(page) => Some(page.dedup_key.to_string()),
            _ => None,
        })
        .expect("a page")
}

#[test]
fn responders_ignoring_a_kind_of_page_make_the_next_one_less_urgent() {
    // Three error-level incidents of one kind, one after the other.
    let episode = |engine: &mut Engine, start: i64, acknowledge: bool| {
        let mut out = run(
            engine,
            vec![(start, alert("ErrorsHigh", "search", "error", start, start + 600))],
            start + 40,
        );
        if acknowledge {
            let key = first_page_key(&out);
            engine.apply(feedback(&key, FeedbackAction::Acknowledged), at(start + 60), &mut out);
        }
        engine.advance(at(start + 1500), &mut out);
        out
    };
    let mut ignored = engine("feedback: {webhook_secrets: [{value: s3cret}]}\n");
    let mut acted = engine("feedback: {webhook_secrets: [{value: s3cret}]}\n");
    for round in 0..3 {
        let start = round * 2000;
        episode(&mut ignored, start, false);
        episode(&mut acted, start, true);
    }
    let last_ignored = episode(&mut ignored, 6000, false);
    let last_acted = episode(&mut acted, 6000, true);
    let tier = |out: &[Notification]| outcomes(out).first().map(|(_, what, tier)| (what.clone(), *tier));
    assert_eq!(tier(&last_acted), Some(("page error".to_owned(), Tier::PageHigh)));
    assert_eq!(tier(&last_ignored), Some(("page warning".to_owned(), Tier::PageLow)));
    let stats = &ignored.history().kinds["ErrorsHigh"];
    assert_eq!((stats.acted, stats.untouched), (0, 4));
    assert_eq!(acted.history().kinds["ErrorsHigh"].acted, 4);
    assert_eq!(acted.stats().feedback, 4);
}
