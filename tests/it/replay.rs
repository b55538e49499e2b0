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
