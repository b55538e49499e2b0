//! Crashes and destination outages: the real binary killed with SIGKILL mid-storm and restarted
//! on its data directory, and a PagerDuty (or Opsgenie) that fails for a while. The outage and
//! the kill -9 storm run for every sink; `opsgenie.rs` has Opsgenie's dead-letter test.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use crate::support::{
    Destination, FakeOpsgenie, FakePagerDuty, PATIENCE, Process, Seen, TestServer, config_for, config_with,
    http, post_json, temp_path,
};

const KINDS: usize = 12;
const ROUTE: &str = "route:\n  group_by: [alertname]\n  group_wait: 0s\n  group_interval: 1s\n";

fn crash_config(dir: &Path, destination: &impl Destination) -> PathBuf {
    crash_config_with(dir, destination, "", "")
}

/// The same with more `server:` and destination settings (indented lines).
fn crash_config_with(
    dir: &Path,
    destination: &impl Destination,
    server_extra: &str,
    destination_extra: &str,
) -> PathBuf {
    let path = dir.join("noisegate.yaml");
    let yaml = format!(
        r#"
server:
  grpc_listen: "127.0.0.1:0"
  http_listen: "127.0.0.1:0"
  admin_listen: "127.0.0.1:0"
  tick: 20ms
{server_extra}storage:
  dir: data
  snapshot_every: 7
engine:
  exclude_labels: [prometheus_replica]
scoring:
  shadow: unfiltered
route:
  group_by: [alertname]
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 24h
{}"#,
        destination.config(&format!(
            "  retry: {{initial_backoff: 10ms, max_backoff: 50ms}}\n  rate_limit: {{events_per_minute: 60000, burst: 100}}\n{destination_extra}"
        ))
    );
    std::fs::write(&path, yaml).unwrap();
    path
}

/// One alert in the Alertmanager v2 API from one Prometheus of an HA pair: firing from
/// `starts`, or resolved.
fn alert(kind: usize, round: usize, resolved: bool, replica: usize) -> String {
    let starts = format!("2026-11-01T00:{:02}:00Z", round * 10 + kind % 10);
    let ends = if resolved { r#", "endsAt": "2026-11-01T01:00:00Z""# } else { "" };
    format!(
        r#"{{"labels": {{"alertname": "Kind{kind}", "service": "s{kind}", "severity": "critical", "prometheus_replica": "prometheus-k8s-{replica}"}}, "startsAt": "{starts}"{ends}}}"#
    )
}

/// The storm as requests, in order: each kind fires (with re-sends of kinds already firing),
/// then resolves; then a third of the kinds go through a second episode.
fn storm() -> Vec<(String, usize, bool)> {
    let mut requests = Vec::new();
    for round in 0..2 {
        let kinds: Vec<usize> = (0..KINDS).filter(|kind| round == 0 || kind % 3 == 0).collect();
        for (index, kind) in kinds.iter().enumerate() {
            let mut batch = vec![alert(*kind, round, false, 0)];
            // Re-sends of what already fires, as Prometheus does every evaluation; the pair's
            // other Prometheus sends every other one.
            batch.extend(
                kinds[..index].iter().rev().take(3).map(|earlier| alert(*earlier, round, false, earlier % 2)),
            );
            requests.push((format!("[{}]", batch.join(",")), round, false));
        }
        for kind in &kinds {
            requests.push((format!("[{}]", alert(*kind, round, true, 0)), round, true));
        }
    }
    requests
}

/// The destination's view of the pages: per key, the incidents it opened (a trigger on a key
/// with no open incident opens one) and whether the last one is resolved.
fn incidents(pages: &[Seen]) -> BTreeMap<String, (usize, bool)> {
    let mut keys: BTreeMap<String, (usize, bool)> = BTreeMap::new();
    for page in pages {
        let (opened, open) = keys.entry(page.key.clone()).or_insert((0, false));
        match page.action.as_str() {
            "trigger" if !*open => {
                *opened += 1;
                *open = true;
            }
            "resolve" => *open = false,
            _ => {}
        }
    }
    keys.into_iter().map(|(key, (opened, open))| (key, (opened, !open))).collect()
}

/// Posts until the service says 2xx, restarting it when it is gone (as a sender retries).
async fn deliver(process: &mut Option<Process>, config: &Path, dir: &Path, body: &str) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let url = process.as_ref().map(|process| process.url("/api/v2/alerts")).unwrap_or_default();
        let response =
            http().post(url).header("content-type", "application/json").body(body.to_owned()).send().await;
        if response.is_ok_and(|response| response.status().is_success()) {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "the service never took {body}");
        if process.is_none() {
            *process = Some(start(config, dir).await);
        }
    }
}

async fn start(config: &Path, dir: &Path) -> Process {
    let (config, dir) = (config.to_owned(), dir.to_owned());
    tokio::task::spawn_blocking(move || Process::serve(&config, &dir)).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_mid_storm_and_restarted_it_pages_every_incident_once_and_every_resolve() {
    killed_mid_storm(&FakePagerDuty::start().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_mid_storm_opsgenie_gets_every_incident_once_and_every_close() {
    killed_mid_storm(&FakeOpsgenie::start().await).await;
}

async fn killed_mid_storm(destination: &impl Destination) {
    let dir = tempfile::tempdir().unwrap();
    let config = crash_config(dir.path(), destination);
    let requests = storm();
    // Kill points spread over the storm, at pseudo-random requests (fixed seed: reproducible).
    let mut random = fastrand::Rng::with_seed(7);
    let mut kill_after: Vec<usize> = (0..5).map(|_| random.usize(1..requests.len())).collect();
    kill_after.sort_unstable();

    let mut process = Some(start(&config, dir.path()).await);
    let mut kills = 0;
    for (index, (body, round, resolved)) in requests.iter().enumerate() {
        // A resolve goes out only once its round's triggers were paged, so every episode is an
        // incident (one resolved within group_wait would rightly never page).
        // A second episode starts only once the first one's resolve went out: an alert firing
        // again before its group's next flush rightly continues its incident instead.
        if index > 0 && requests[index - 1].1 != *round {
            if process.is_none() {
                process = Some(start(&config, dir.path()).await);
            }
            destination
                .wait_seen("every incident of the round resolved", |events| {
                    let incidents = incidents(events);
                    incidents.len() == KINDS && incidents.values().all(|(_, resolved)| *resolved)
                })
                .await;
        }
        if *resolved && !requests[index - 1].2 {
            // Killed just before: the triggers it had not sent yet go out once it is back.
            if process.is_none() {
                process = Some(start(&config, dir.path()).await);
            }
            let expected: usize = if *round == 0 { KINDS } else { KINDS + KINDS.div_ceil(3) };
            destination
                .wait_seen("every trigger of the round", |events| {
                    incidents(events).values().map(|(opened, _)| opened).sum::<usize>() >= expected
                })
                .await;
        }
        deliver(&mut process, &config, dir.path(), body).await;
        if kill_after.contains(&index) {
            if let Some(running) = process.take() {
                tokio::task::spawn_blocking(move || running.kill()).await.unwrap();
                kills += 1;
            }
            // Restarted by the next request's retry, or below.
        }
    }
    if process.is_none() {
        process = Some(start(&config, dir.path()).await);
    }
    let events = destination
        .wait_seen("every incident resolved", |events| {
            let incidents = incidents(events);
            incidents.len() == KINDS && incidents.values().all(|(_, resolved)| *resolved)
        })
        .await;
    let (code, _) = tokio::task::spawn_blocking(move || process.unwrap().terminate()).await.unwrap();
    assert_eq!(code, Some(0));
    assert!(kills >= 3, "the storm was cut by {kills} kills");

    // One incident per episode: kinds 0, 3, 6, 9 had two, the rest one; every one resolved.
    let incidents = incidents(&events);
    for (key, (opened, resolved)) in &incidents {
        let event = events.iter().find(|event| event.key == *key).unwrap();
        let kind: usize = event.summary.as_deref().unwrap().trim_start_matches("Kind").parse().unwrap();
        let episodes = if kind % 3 == 0 { 2 } else { 1 };
        assert_eq!((*opened, *resolved), (episodes, true), "Kind{kind} ({key}): {events:#?}");
    }
    // In order per key: never a resolve before the key's first trigger.
    for key in incidents.keys() {
        let actions: Vec<&str> =
            events.iter().filter(|event| event.key == *key).map(|event| event.action.as_str()).collect();
        assert_eq!(actions.first(), Some(&"trigger"), "{key}: {actions:?}");
        assert_eq!(actions.last(), Some(&"resolve"), "{key}: {actions:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pagerduty_outage_delays_pages_without_losing_reordering_or_duplicating_them() {
    outage(&FakePagerDuty::start().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_opsgenie_outage_delays_pages_without_losing_reordering_or_duplicating_them() {
    outage(&FakeOpsgenie::start().await).await;
}

async fn outage(destination: &impl Destination) {
    // Down for a while: errors and throttling, then back.
    let mut outage = vec![500; 12];
    outage.extend([429; 6]);
    outage.extend([503; 6]);
    destination.script(&outage);
    // A window of two pages: most of the outage's pages wait in the outbox, not in memory.
    let rate = "  rate_limit: {events_per_minute: 600, burst: 3}\n  memory_window: 2";
    let server = TestServer::start(&config_for(destination, rate, ROUTE)).await;
    let url = server.url("/api/v2/alerts");
    for kind in 0..6 {
        let body = format!(r#"[{{"labels": {{"alertname": "Outage{kind}", "severity": "critical"}}}}]"#);
        assert_eq!(post_json(&url, &body).await.0, 200);
    }
    let triggered = |events: &[Seen]| incidents(events).len() == 6;
    destination.wait_seen("a trigger per alert", triggered).await;
    for kind in 0..6 {
        let body = format!(
            r#"[{{"labels": {{"alertname": "Outage{kind}", "severity": "critical"}}, "endsAt": "2020-01-01T00:00:00Z"}}]"#
        );
        assert_eq!(post_json(&url, &body).await.0, 200);
    }
    let events = destination
        .wait_seen("every incident resolved", |events| {
            let incidents = incidents(events);
            incidents.len() == 6 && incidents.values().all(|(_, resolved)| *resolved)
        })
        .await;
    server.stop().await;

    // Each alert one incident, triggered then resolved, nothing twice.
    for (key, incident) in incidents(&events) {
        let actions: Vec<&str> =
            events.iter().filter(|event| event.key == key).map(|event| event.action.as_str()).collect();
        assert_eq!((incident, actions.as_slice()), ((1, true), ["trigger", "resolve"].as_slice()), "{key}");
    }
    // The outage was retried through, never faster than the rate limit: at most the burst
    // plus the rate's share in any one-second window.
    let received = destination.received();
    assert!(received.len() >= outage.len() + 12, "{} requests", received.len());
    for (index, first) in received.iter().enumerate() {
        let within = received[index..]
            .iter()
            .take_while(|later| later.at.duration_since(first.at) < Duration::from_secs(1))
            .count();
        assert!(within <= 3 + 10 + 1, "{within} requests within a second of request {index}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_pagerduty_refuses_goes_to_the_dead_letter_file() {
    let dir = tempfile::tempdir().unwrap();
    let pagerduty = FakePagerDuty::start().await;
    pagerduty.script(&[400]);
    let dead_letters = temp_path(&dir, "dead.jsonl");
    let file = format!("  dead_letter_file: \"{}\"", dead_letters.display());
    let server = TestServer::start(&config_with(&pagerduty.url, &file, ROUTE)).await;
    let body = r#"[{"labels": {"alertname": "Refused", "severity": "critical"}}]"#;
    assert_eq!(post_json(&server.url("/api/v2/alerts"), body).await.0, 200);
    pagerduty.wait_requests(1).await;
    let failed = "noisegate_pages_failed_total{reason=\"rejected\"}";
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while server.metric(failed).await < 1.0 {
        assert!(tokio::time::Instant::now() < deadline, "the refusal was not counted");
        tokio::task::yield_now().await;
    }
    server.stop().await;
    let text = std::fs::read_to_string(&dead_letters).unwrap();
    let lines: Vec<Value> = text.lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    assert_eq!(lines.len(), 1, "{text}");
    assert_eq!(lines[0]["reason"], "rejected");
    assert_eq!(lines[0]["event"]["payload"]["summary"], "Refused");
    assert_eq!(lines[0]["event"]["routing_key"], "default", "the secret never lands on disk");
}

/// OTLP/HTTP log lines of `service`, as JSON.
fn log_lines(service: &str, lines: &[(&str, u32)]) -> String {
    let records: Vec<String> = lines
        .iter()
        .map(|(body, severity)| {
            format!(r#"{{"severityNumber":{severity},"body":{{"stringValue":"{body}"}}}}"#)
        })
        .collect();
    format!(
        r#"{{"resourceLogs":[{{"resource":{{"attributes":[{{"key":"service.name","value":{{"stringValue":"{service}"}}}}]}},"scopeLogs":[{{"logRecords":[{}]}}]}}]}}"#,
        records.join(",")
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_after_its_services_logged_a_restart_pages_with_the_same_log_context() {
    let pagerduty = FakePagerDuty::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = crash_config(dir.path(), &pagerduty);
    let process = start(&config, dir.path()).await;
    let mut lines: Vec<(String, u32)> = (0..12).map(|_| ("GET /cart 200 12ms".to_owned(), 9)).collect();
    lines.extend(
        (0..8).map(|attempt| (format!("connection refused to redis-cart:6379 attempt {attempt}"), 17)),
    );
    let lines: Vec<(&str, u32)> = lines.iter().map(|(body, severity)| (body.as_str(), *severity)).collect();
    let (status, body) = post_json(&process.url("/v1/logs"), &log_lines("cart", &lines)).await;
    assert_eq!(status, 200, "{body}");
    // Acknowledged means in the write-ahead log; then kill -9.
    tokio::task::spawn_blocking(move || process.kill()).await.unwrap();

    let process = start(&config, dir.path()).await;
    let alert =
        r#"[{"labels": {"alertname": "HTTPErrorRateHigh", "service": "cart", "severity": "critical"}}]"#;
    assert_eq!(post_json(&process.url("/api/v2/alerts"), alert).await.0, 200);
    let events = pagerduty.wait_events(1).await;
    let context: Vec<(&str, u64, u64)> = events[0]["payload"]["custom_details"]["log_context"]
        .as_array()
        .map(|lines| {
            lines
                .iter()
                .map(|line| {
                    let count = |field: &str| line[field].as_u64().unwrap_or_default();
                    (line["template"].as_str().unwrap_or_default(), count("lines"), count("errors"))
                })
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(
        context,
        vec![("connection refused to <*> attempt <*>", 8, 8), ("GET /cart <*>", 12, 0)],
        "{:#}",
        events[0]
    );
    tokio::task::spawn_blocking(move || process.kill()).await.unwrap();
}

/// A restart after a long outage: the pages decided during it wait in the outbox, many more
/// than the lanes keep in memory and than one read at startup takes. Every one goes out once
/// after the restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarted_with_a_long_backlog_in_the_outbox_it_delivers_every_page_once() {
    const ALERTS: usize = 700;
    let (down, up) = (FakePagerDuty::start().await, FakePagerDuty::start().await);
    down.script(&vec![503; 1_000_000]);
    let dir = tempfile::tempdir().unwrap();
    // A short grace: the stop while PagerDuty is down leaves the pages in the outbox at once.
    let write_config = |pagerduty: &FakePagerDuty| {
        crash_config_with(dir.path(), pagerduty, "  shutdown_grace: 1s\n", "  memory_window: 16\n")
    };
    let config = write_config(&down);
    let process = start(&config, dir.path()).await;
    for chunk in (0..ALERTS).collect::<Vec<_>>().chunks(100) {
        let alerts: Vec<String> = chunk
            .iter()
            .map(|kind| format!(r#"{{"labels": {{"alertname": "Backlog{kind}", "severity": "critical"}}}}"#))
            .collect();
        assert_eq!(
            post_json(&process.url("/api/v2/alerts"), &format!("[{}]", alerts.join(","))).await.0,
            200
        );
    }
    // Every incident decided (so its page is in the outbox), PagerDuty still down: a stop
    // leaves the pages there.
    process.wait_metric("noisegate_incidents_opened_total", |opened| opened == ALERTS as f64).await;
    let (code, _) = tokio::task::spawn_blocking(move || process.terminate()).await.unwrap();
    assert_eq!(code, Some(0));
    assert!(up.received().is_empty());

    let config = write_config(&up);
    let mut process = start(&config, dir.path()).await;
    let events = up
        .wait_for("every backlog page", |events| {
            events.iter().filter(|event| event["event_action"] == "trigger").count() >= ALERTS
        })
        .await;
    let left = tokio::task::spawn_blocking(move || {
        let left = process.logged("delivering events left in the outbox");
        let (code, _) = process.terminate();
        assert_eq!(code, Some(0));
        left
    })
    .await
    .unwrap();
    assert_eq!(left["fields"]["events"], ALERTS, "{left}");
    let mut keys: Vec<&str> = events.iter().filter_map(|event| event["dedup_key"].as_str()).collect();
    assert_eq!(keys.len(), ALERTS, "{events:#?}");
    keys.sort_unstable();
    keys.dedup();
    assert_eq!(keys.len(), ALERTS, "each page once");
}
