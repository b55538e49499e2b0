//! `replay` runs the engine `serve` runs: a capture recorded live replays to the same pages.

use opentelemetry_proto::tonic::collector::logs::v1::logs_service_client::LogsServiceClient;
use serde_json::Value;

use crate::otlp::{kv, record, request};
use crate::support::{Recording, post_json, replay, temp_path};

const ROUTE: &str = "route:\n  group_by: [alertname]\n  group_wait: 0s\n  group_interval: 1h\n";

fn am_alert(name: &str, pod: &str, ends_at: &str) -> String {
    format!(
        r#"{{"labels": {{"alertname": "{name}", "pod": "{pod}", "severity": "warning"}}, "startsAt": "2026-11-02T00:00:00Z", "endsAt": "{ends_at}"}}"#
    )
}

fn webhook(status: &str, ends_at: &str) -> String {
    format!(
        r#"{{"version": "4", "status": "{status}", "alerts": [{{"status": "{status}", "labels": {{"alertname": "QueueStuck", "severity": "critical"}}, "startsAt": "2026-11-02T00:00:00Z", "endsAt": "{ends_at}"}}]}}"#
    )
}

fn without_routing_key(mut event: Value) -> Value {
    if let Some(object) = event.as_object_mut() {
        object.remove("routing_key");
    }
    event
}

#[tokio::test]
async fn a_recorded_capture_replays_to_the_pages_serve_sent() {
    let Recording { dir, capture, pagerduty, yaml, server } =
        Recording::start("capture.jsonl.gz", ROUTE).await;
    let am = server.url("/api/v2/alerts");
    let far = "2099-01-01T00:00:00Z";

    // Five incidents open, one per ingest path.
    assert_eq!(
        post_json(&am, &format!("[{},{}]", am_alert("DiskFull", "a", far), am_alert("DiskFull", "b", far)))
            .await
            .0,
        200
    );
    let mut grpc = LogsServiceClient::connect(format!("http://{}", server.grpc)).await.unwrap();
    let otlp_alert =
        |status: &str| record(vec![kv("alertname", "CartErrors"), kv("alert.status", status)], "errors", 17);
    grpc.export(request("cart", vec![otlp_alert("firing")])).await.unwrap();
    let pd = server.url("/v2/enqueue");
    let pd_trigger = r#"{"routing_key": "x", "event_action": "trigger", "dedup_key": "pd-1", "payload": {"summary": "backup failed", "source": "cron", "severity": "error"}}"#;
    assert_eq!(post_json(&pd, pd_trigger).await.0, 202);
    assert_eq!(
        post_json(&server.url("/webhook/alertmanager"), &webhook("firing", "0001-01-01T00:00:00Z")).await.0,
        200
    );
    let otlp_json = r#"{"resourceLogs":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"ads"}}]},"scopeLogs":[{"logRecords":[
        {"timeUnixNano":"1793577604944210176","severityNumber":17,"body":{"stringValue":"timeout calling ads-db"}},
        {"timeUnixNano":"1793577604944210176","severityNumber":13,"body":{"stringValue":"ads slow"},"attributes":[{"key":"alertname","value":{"stringValue":"AdsSlow"}}]}]}]}]}"#;
    let (status, body) = post_json(&server.url("/v1/logs"), otlp_json).await;
    assert_eq!(status, 200, "{body}");
    pagerduty.wait_events(5).await;

    // Changes that page at the next group interval, which shutdown brings forward.
    assert_eq!(
        post_json(&am, &format!("[{},{}]", am_alert("DiskFull", "a", far), am_alert("DiskFull", "c", far)))
            .await
            .0,
        200
    );
    grpc.export(request("cart", vec![otlp_alert("resolved")])).await.unwrap();
    let pd_resolve = r#"{"routing_key": "x", "event_action": "resolve", "dedup_key": "pd-1"}"#;
    assert_eq!(post_json(&pd, pd_resolve).await.0, 202);
    assert_eq!(
        post_json(&server.url("/webhook/alertmanager"), &webhook("resolved", "2026-11-02T00:30:00Z")).await.0,
        200
    );
    server.stop().await;

    let live: Vec<Value> = pagerduty.events().into_iter().map(without_routing_key).collect();
    let actions: Vec<&str> = live.iter().map(|event| event["event_action"].as_str().unwrap()).collect();
    assert_eq!(
        actions,
        vec![
            "trigger", "trigger", "trigger", "trigger", "trigger", "trigger", "resolve", "resolve", "resolve"
        ],
        "{live:#?}"
    );

    let pages_path = temp_path(&dir, "pages.jsonl");
    let output = replay(&dir, &yaml, &capture, &pages_path);
    assert!(output.status.success(), "replay failed: {}", String::from_utf8_lossy(&output.stderr));
    let replayed: Vec<Value> = std::fs::read_to_string(&pages_path)
        .unwrap()
        .lines()
        .map(|line| {
            let line: Value = serde_json::from_str(line).unwrap();
            assert!(line["at"].as_str().is_some_and(|at| at.starts_with("20")), "{line}");
            assert_eq!(
                line["event"]["routing_key"], "default",
                "the pages file names the key, never the secret"
            );
            without_routing_key(line["event"].clone())
        })
        .collect();
    assert_eq!(replayed, live);
}

/// A capture of an event source (a detector on three hosts) from `from_hour` to `to_hour`
/// after a fixed day: background every half hour on each host, and `extra` events.
fn detector_capture(path: &std::path::Path, from_hour: i64, to_hour: i64, extra: &[(i64, &str, &str)]) {
    let start = 1_790_000_000i64 - 1_790_000_000i64.rem_euclid(86_400);
    let iso = |seconds: i64| {
        jiff::Timestamp::from_second(start + seconds).unwrap().strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
    };
    let mut events: Vec<(i64, String, String)> = Vec::new();
    for half_hour in from_hour * 2..to_hour * 2 {
        for (index, host) in ["web-1", "db-1", "mail-1"].into_iter().enumerate() {
            events.push((half_hour * 1800 + index as i64 * 60, "TlsInvalidRecord".into(), host.into()));
        }
    }
    for (second, name, host) in extra {
        events.push((*second, (*name).into(), (*host).into()));
    }
    events.sort();
    let lines: Vec<String> = events
        .iter()
        .map(|(second, name, host)| {
            let body = serde_json::json!([{
                "labels": {"alertname": name, "host": host, "severity": "warning"},
                "startsAt": iso(*second), "endsAt": iso(second + 300),
            }]);
            serde_json::json!({"received_at": iso(*second), "source": "alertmanager_v2", "body": body})
                .to_string()
        })
        .collect();
    std::fs::write(path, lines.join("\n") + "\n").unwrap();
}

#[test]
fn what_is_background_carries_over_in_the_history_file_and_a_new_kind_pages_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let config = temp_path(&dir, "config.yaml");
    std::fs::write(&config, "route:\n  group_by: [host]\n  group_wait: 30s\n").unwrap();
    let (before, after) = (temp_path(&dir, "before.jsonl"), temp_path(&dir, "after.jsonl"));
    // Two days of background, with a cron job's sudo on db-1 every day; then a third day with
    // the same background and, on db-1, a user changing its uid.
    let daily = [(3 * 3600 + 17, "CronSudo", "db-1"), (86_400 + 3 * 3600 + 17, "CronSudo", "db-1")];
    detector_capture(&before, 0, 48, &daily);
    detector_capture(
        &after,
        48,
        60,
        &[(48 * 3600 + 3 * 3600 + 17, "CronSudo", "db-1"), (55 * 3600, "UidChanged", "db-1")],
    );
    let replay = |input: &std::path::Path, history: Option<&std::path::Path>, out: &str| {
        let (pages, history_out) =
            (temp_path(&dir, &format!("{out}.pages")), temp_path(&dir, &format!("{out}.history")));
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_noisegate"));
        command.args(["replay", "--config"]).arg(&config).arg("--input").arg(input);
        command.arg("--pages-out").arg(&pages).arg("--history-out").arg(&history_out);
        if let Some(history) = history {
            command.arg("--history").arg(history);
        }
        let output = command.output().unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        let triggers: Vec<Value> = std::fs::read_to_string(&pages)
            .unwrap()
            .lines()
            .map(|line| serde_json::from_str::<Value>(line).unwrap()["event"].clone())
            .filter(|event| event["event_action"] == "trigger")
            .collect();
        (triggers, history_out)
    };

    // Without a history the third day has no baseline: nothing is new, nothing pages.
    let (alone, _) = replay(&after, None, "alone");
    assert!(alone.is_empty(), "{alone:#?}");

    let (first, history) = replay(&before, None, "first");
    assert!(first.is_empty(), "background never pages: {first:#?}");
    let saved = std::fs::read_to_string(&history).unwrap();
    assert!(saved.lines().any(|line| line.contains(r#""seen""#) && line.contains("CronSudo")), "{saved}");

    let (second, _) = replay(&after, Some(&history), "second");
    let incidents: std::collections::HashSet<&Value> =
        second.iter().map(|event| &event["dedup_key"]).collect();
    assert_eq!(incidents.len(), 1, "one incident (its updates aside): {second:#?}");
    let payload = &second[0]["payload"];
    assert!(payload["summary"].as_str().unwrap().contains("UidChanged"), "{payload:#}");
    assert_eq!(payload["severity"], "error", "high urgency: {payload:#}");
    let why = payload["custom_details"]["why"].to_string();
    assert!(why.contains("UidChanged on db-1: never seen before"), "{why}");
}
