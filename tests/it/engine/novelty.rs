//! Novelty and bursts on an event source of our own design: an intrusion detector watching four
//! hosts, whose alerts are events (one flat severity, each occurrence with its own start, no
//! resolve), over days of seeded background.

use noisegate_engine::model::{Alert, Event, Expiry, Feedback, FeedbackAction, Labels, Note, Severity};
use noisegate_engine::{Ending, Engine, Notification, Page, PageAction, Tier};

use super::{T0, at, engine_from, prometheus_alert};

const CONFIG: &str = r#"
route:
  group_by: [host]
  group_wait: 30s
  group_interval: 5m
  repeat_interval: 12h
"#;

const HOUR: i64 = 3600;
const DAY: i64 = 24 * HOUR;
const HOSTS: [&str; 4] = ["web-1", "web-2", "db-1", "mail-1"];

/// One detector event: `name` about `host` at `time` (seconds after T0), held five minutes.
fn event(name: &str, host: &str, time: i64) -> (i64, Event) {
    let labels = Labels::from_pairs([
        ("alertname", name),
        ("detector", "ids"),
        ("host", host),
        ("severity", "warning"),
    ]);
    (time, prometheus_alert(labels, time, time + 300))
}

/// A small seeded generator (xorshift), so that every run sees the same background.
struct Seeded(u64);

impl Seeded {
    fn below(&mut self, bound: i64) -> i64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % bound as u64) as i64
    }
}

/// What the detector always says, from `from` to `to`: on every host, TLS noise and logins
/// every few minutes, in small clusters; once a day at some hour a scanner probe on web-1 and
/// a cron job's sudo on db-1 (the same false positives every day).
fn background(from: i64, to: i64, seed: u64) -> Vec<(i64, Event)> {
    let mut random = Seeded(seed);
    let mut events = Vec::new();
    for host in HOSTS {
        let mut time = from + random.below(600);
        while time < to {
            for _ in 0..1 + random.below(3) {
                events.push(event("TlsInvalidRecord", host, time + random.below(60)));
            }
            events.push(event("LoginSucceeded", host, time + random.below(300)));
            time += 300 + random.below(900);
        }
    }
    let mut day = from - from.rem_euclid(DAY);
    while day < to {
        for (name, host) in [("ScannerProbe", "web-1"), ("CronSudo", "db-1")] {
            let time = day + random.below(DAY);
            if (from..to).contains(&time) {
                events.push(event(name, host, time));
            }
        }
        day += DAY;
    }
    events.sort_by_key(|(time, _)| *time);
    events
}

fn run(engine: &mut Engine, steps: Vec<(i64, Event)>, until: i64) -> Vec<Notification> {
    let mut out = Vec::new();
    for (time, event) in steps {
        engine.advance(at(time), &mut out);
        engine.apply(event, at(time), &mut out);
    }
    engine.advance(at(until), &mut out);
    out
}

/// The triggers that open a PagerDuty incident (not updates of an open one).
fn triggers(out: &[Notification]) -> Vec<&Page> {
    let mut open = std::collections::HashSet::new();
    let mut opening = Vec::new();
    for page in super::pages(out) {
        match page.action {
            PageAction::Trigger if open.insert(page.dedup_key.clone()) => opening.push(page),
            PageAction::Resolve => {
                open.remove(&page.dedup_key);
            }
            _ => {}
        }
    }
    opening
}

/// The one incident `out` opened on PagerDuty (its first trigger).
fn only_incident(out: &[Notification]) -> &Page {
    let pages = triggers(out);
    let opened: Vec<(i64, Vec<String>)> = pages.iter().map(|page| (seconds(page), names(page))).collect();
    assert_eq!(pages.len(), 1, "{opened:#?}");
    pages[0]
}

fn why(page: &Page, feature: &str) -> String {
    page.incident
        .why
        .iter()
        .filter(|part| part.feature == feature)
        .map(|part| format!("{:+.2}: {}", part.contribution, part.note))
        .collect()
}

fn names(page: &Page) -> Vec<String> {
    page.incident.alerts.iter().filter_map(|alert| alert.labels.get("alertname")).map(str::to_owned).collect()
}

fn seconds(page: &Page) -> i64 {
    (page.at.as_millis() - T0) / 1000
}

#[test]
fn a_week_of_the_same_background_pages_nothing() {
    let mut engine = engine_from(CONFIG);
    let out = run(&mut engine, background(0, 8 * DAY, 7), 8 * DAY + HOUR);
    let pages = triggers(&out);
    assert!(
        pages.is_empty(),
        "{:#?}",
        pages.iter().map(|page| (seconds(page), names(page), &page.incident.why)).collect::<Vec<_>>()
    );
    // It was all seen, and summarized.
    assert!(out.iter().any(|notification| matches!(notification, Notification::Digest(_))));
}

#[test]
fn a_new_kind_on_a_quiet_host_pages_high_at_once_and_not_before_the_history_covers_a_day() {
    // In the first hours there is no baseline: the same kinds are just more background.
    let mut engine = engine_from(CONFIG);
    let mut early = background(0, 6 * HOUR, 11);
    early.push(event("UidChanged", "db-1", 3 * HOUR));
    early.sort_by_key(|(time, _)| *time);
    assert!(triggers(&run(&mut engine, early, 6 * HOUR)).is_empty());

    let mut engine = engine_from(CONFIG);
    let attack = 3 * DAY + 5 * HOUR;
    let mut steps = background(0, 4 * DAY, 11);
    steps.push(event("UidChanged", "db-1", attack));
    steps.push(event("SudoToRoot", "db-1", attack + 5));
    steps.sort_by_key(|(time, _)| *time);
    let out = run(&mut engine, steps, 4 * DAY);
    let page = only_incident(&out);
    assert_eq!(page.incident.tier, Tier::PageHigh);
    // Within the group's wait: a new kind is not a blip to wait out.
    assert!(seconds(page) - attack <= 30, "paged {} s after", seconds(page) - attack);
    // One incident for the host (with what else it reports now), not one per kind.
    let listed = names(page);
    assert!(
        listed.contains(&"UidChanged".to_owned()) && listed.contains(&"SudoToRoot".to_owned()),
        "{listed:?}"
    );
    let new_kind = why(page, "new_kind");
    assert!(new_kind.contains("UidChanged on db-1: never seen before"), "{new_kind}");
    assert!(!why(page, "surprise").is_empty());
}

#[test]
fn a_known_kind_on_a_host_it_never_came_from_counts_less_than_a_new_one() {
    let mut engine = engine_from(CONFIG);
    let later = 2 * DAY + 7 * HOUR;
    let mut steps = background(0, 3 * DAY, 5);
    // The daily scanner probe, on the database host this time.
    steps.push(event("ScannerProbe", "db-1", later));
    steps.sort_by_key(|(time, _)| *time);
    let out = run(&mut engine, steps, 3 * DAY);
    let noted: Vec<String> = out
        .iter()
        .filter_map(|notification| match notification {
            Notification::Page(page) | Notification::Digest(page) => Some(why(page, "new_kind")),
            _ => None,
        })
        .filter(|note| note.contains("ScannerProbe on db-1"))
        .collect();
    assert!(!noted.is_empty(), "the probe on db-1 is news");
    assert!(noted[0].contains("seen on 1 other entities, never on this one"), "{noted:?}");
    // Less than a name never seen anywhere, which counts its whole weight (0.3).
    let contribution: f64 = noted[0].split(':').next().and_then(|part| part.parse().ok()).unwrap();
    assert!(contribution > 0.0 && contribution < 0.3 - 1e-9, "{noted:?}");
}

#[test]
fn a_burst_far_above_the_kinds_own_rate_escalates_its_hosts_incident() {
    let mut engine = engine_from(CONFIG);
    let burst = 3 * DAY + 2 * HOUR;
    let mut steps = background(0, 3 * DAY + 3 * HOUR, 3);
    // Password guessing: logins failing by the hundred on mail-1, where a few a day is usual.
    for day in 0..3 {
        steps.push(event("LoginFailed", "mail-1", day * DAY + 9 * HOUR));
    }
    for second in 0..150 {
        steps.push(event("LoginFailed", "mail-1", burst + second));
    }
    steps.sort_by_key(|(time, _)| *time);
    let out = run(&mut engine, steps, 3 * DAY + 3 * HOUR);
    let page = only_incident(&out);
    assert!((burst..burst + 600).contains(&seconds(page)), "paged at {}", seconds(page));
    assert_eq!(page.incident.tier, Tier::PageHigh);
    let burst_note = why(page, "burst");
    assert!(
        burst_note.contains("LoginFailed on mail-1") && burst_note.contains("usual at this hour"),
        "{burst_note}"
    );
}

#[test]
fn what_is_known_survives_a_restart() {
    let snapshot_at = 3 * DAY;
    let attack = 3 * DAY + 5 * HOUR;
    let before = background(0, snapshot_at, 13);
    let mut after = background(snapshot_at, 4 * DAY, 14);
    after.push(event("UidChanged", "db-1", attack));
    after.sort_by_key(|(time, _)| *time);

    let mut original = engine_from(CONFIG);
    assert!(triggers(&run(&mut original, before, snapshot_at)).is_empty());
    let bytes = original.snapshot().to_vec().unwrap();
    let mut restored = Engine::restore(original.config().clone(), &bytes).unwrap();
    assert_eq!(restored.seen(), original.seen());

    let from_original = run(&mut original, after.clone(), 4 * DAY);
    let from_restored = run(&mut restored, after, 4 * DAY);
    assert_eq!(from_restored, from_original);
    let pages = triggers(&from_restored);
    assert_eq!(pages.len(), 1, "only the new kind pages after the restart: the background is still known");
    assert!(why(pages[0], "new_kind").contains("UidChanged on db-1"));
}

/// A critical alert on a host, as Prometheus sends it: firing from `starts` to `ends`.
fn critical(name: &str, host: &str, starts: i64, ends: i64) -> (i64, Event) {
    let labels = Labels::from_pairs([("alertname", name), ("host", host), ("severity", "critical")]);
    (starts, prometheus_alert(labels, starts, ends))
}

fn note(page: &Page, text: &str) -> Event {
    Event::Note(Note { dedup_key: Box::from(&*page.dedup_key), text: text.into() })
}

#[test]
fn a_page_lists_the_past_incident_of_the_same_shape_with_its_note_and_not_an_unrelated_one() {
    let mut engine = engine_from(CONFIG);
    // Monday: the disk of db-1 fills up; a responder acknowledges and leaves a note.
    let out = run(&mut engine, vec![critical("DiskFull", "db-1", 0, 2400)], 60);
    let disk = triggers(&out)[0].clone();
    assert!(disk.incident.similar.is_empty(), "nothing to remember yet");
    let feedback = Feedback { dedup_key: Box::from(&*disk.dedup_key), action: FeedbackAction::Acknowledged };
    let out = run(
        &mut engine,
        vec![(120, Event::Feedback(feedback)), (130, note(&disk, "rotated the audit logs off /var"))],
        3 * HOUR,
    );
    assert!(super::pages(&out).iter().any(|page| page.action == PageAction::Resolve));
    // Tuesday: a certificate on web-1, unrelated, ends on its own.
    run(&mut engine, vec![critical("CertificateExpiring", "web-1", DAY, DAY + 600)], DAY + 2 * HOUR);

    // Wednesday: db-1's disk again. The page recalls Monday, with how it ended and the note.
    let restart = engine.snapshot().to_vec().unwrap();
    let wednesday = vec![critical("DiskFull", "db-1", 2 * DAY, 2 * DAY + 900)];
    let out = run(&mut engine, wednesday.clone(), 2 * DAY + 60);
    let page = triggers(&out)[0];
    let similar = &page.incident.similar;
    assert_eq!(similar.len(), 1, "{similar:#?}");
    assert_eq!(similar[0].opened_at, at(30), "when it opened, after the group wait");
    assert!((similar[0].minutes - 40.0).abs() < 1.0, "{}", similar[0].minutes);
    assert_eq!(similar[0].ending, Ending::Handled);
    assert_eq!(similar[0].notes, vec![Box::from("rotated the audit logs off /var")]);
    assert!(
        similar[0].title.contains("DiskFull") && similar[0].title.contains("db-1"),
        "{}",
        similar[0].title
    );

    // The memory survives a restart: the restored engine recalls the same.
    let mut restored = Engine::restore(engine.config().clone(), &restart).unwrap();
    let again = run(&mut restored, wednesday, 2 * DAY + 60);
    assert_eq!(triggers(&again)[0].incident.similar, *similar);
}

/// A PagerDuty Events API trigger: keyed by its sender, firing until resolved.
fn pagerduty_trigger(key: &str, name: &str, host: &str, time: i64) -> (i64, Event) {
    let labels = Labels::from_pairs([("alertname", name), ("host", host), ("severity", "error")]);
    let alert = Alert {
        severity: Some(Severity::Error),
        labels,
        annotations: Labels::default(),
        starts_at: Some(at(time)),
        ends_at: None,
        resolved: false,
        expiry: Expiry::UntilResolved,
        generator_url: None,
        external_key: Some(key.into()),
    };
    (time, Event::Alert(alert))
}

#[test]
fn events_nobody_resolves_end_when_they_stop_coming_and_a_single_trigger_stays_open() {
    let mut engine = engine_from(&format!("{CONFIG}engine:\n  event_quiet: 30m\n"));
    // A backup job's integration triggers on every failed run and never resolves.
    let steps = vec![
        pagerduty_trigger("backup", "BackupFailed", "db-1", 0),
        pagerduty_trigger("backup", "BackupFailed", "db-1", 600),
        pagerduty_trigger("backup", "BackupFailed", "db-1", 1200),
        pagerduty_trigger("disk", "DiskReplaced", "web-1", 100),
    ];
    let out = run(&mut engine, steps, 1200 + 1800 + 600);
    let resolved: Vec<i64> = super::pages(&out)
        .iter()
        .filter(|page| page.action == PageAction::Resolve)
        .map(|page| seconds(page))
        .collect();
    assert_eq!(resolved.len(), 1, "the backup failures end after 30 quiet minutes: {resolved:?}");
    assert!((3000..3000 + 400).contains(&resolved[0]), "{resolved:?}");
    let open = engine.incidents();
    assert_eq!(open.len(), 1);
    assert!(
        open[0]
            .alerts
            .iter()
            .any(|(labels, firing)| *firing && labels.get("alertname") == Some("DiskReplaced"))
    );
}
