//! The PagerDuty side: Events API v2 compatible ingest, and delivery with retries.

use serde_json::Value;

use crate::support::{Destination, FakePagerDuty, TestServer, config_yaml, post_json};

const ROUTE: &str = "route:\n  group_by: [alertname]\n  group_wait: 0s\n  group_interval: 1s\n";

fn trigger(dedup_key: &str, summary: &str) -> String {
    format!(
        r#"{{"routing_key": "their-integration-key", "event_action": "trigger", "dedup_key": "{dedup_key}",
            "payload": {{"summary": "{summary}", "source": "db-1.example", "severity": "error",
                         "component": "postgres", "group": "prod", "class": "{summary}",
                         "custom_details": {{"free_percent": 3}}}},
            "links": [{{"href": "https://grafana.example/d/disk", "text": "dashboard"}}]}}"#
    )
}

fn action(action: &str, dedup_key: &str) -> String {
    format!(
        r#"{{"routing_key": "their-integration-key", "event_action": "{action}", "dedup_key": "{dedup_key}"}}"#
    )
}

#[tokio::test]
async fn events_api_senders_trigger_acknowledge_and_resolve() {
    let pagerduty = FakePagerDuty::start().await;
    let server = TestServer::start(&config_yaml(&pagerduty.url, ROUTE)).await;
    let url = server.url("/v2/enqueue");

    let (status, body) = post_json(&url, &trigger("disk-db-1", "Disk almost full on db-1")).await;
    assert_eq!(status, 202, "{body}");
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["status"], "success");
    assert_eq!(body["dedup_key"], "disk-db-1");

    let events = pagerduty.wait_events(1).await;
    let page = &events[0];
    assert_eq!(page["event_action"], "trigger");
    // Pages go out with noisegate's routing key, never the sender's.
    assert_ne!(page["routing_key"], "their-integration-key");
    assert_eq!(page["payload"]["severity"], "error");
    assert_eq!(page["payload"]["source"], "db-1.example");
    assert_eq!(page["payload"]["custom_details"]["alerts"][0]["annotations"]["free_percent"], "3");
    assert_eq!(page["links"][0]["href"], "https://grafana.example/d/disk");

    // The same key with a new summary and severity is the same alert: an update, one incident.
    let escalated = trigger("disk-db-1", "Disk full on db-1").replace("\"error\"", "\"critical\"");
    let escalated =
        escalated.replace("\"class\": \"Disk full on db-1\"", "\"class\": \"Disk almost full on db-1\"");
    assert_eq!(post_json(&url, &escalated).await.0, 202);
    let events = pagerduty.wait_events(2).await;
    assert_eq!(events[1]["event_action"], "trigger");
    assert_eq!(events[1]["dedup_key"], page["dedup_key"]);
    assert_eq!(events[1]["payload"]["severity"], "critical");
    assert_eq!(events[1]["payload"]["custom_details"]["alerts"].as_array().unwrap().len(), 1);

    assert_eq!(post_json(&url, &action("acknowledge", "disk-db-1")).await.0, 202);
    let events = pagerduty.wait_events(3).await;
    assert_eq!(events[2]["event_action"], "acknowledge");
    assert_eq!(events[2]["dedup_key"], page["dedup_key"]);

    assert_eq!(post_json(&url, &action("resolve", "disk-db-1")).await.0, 202);
    let events = pagerduty.wait_events(4).await;
    assert_eq!(events[3]["event_action"], "resolve");
    assert_eq!(events[3]["dedup_key"], page["dedup_key"]);
    assert_eq!(server.metric("noisegate_incidents_opened_total").await, 1.0);

    let change = r#"{"routing_key": "their-integration-key", "payload": {"summary": "deploy cart v2", "source": "ci", "timestamp": "2026-11-02T00:00:00Z"}}"#;
    let (status, body) = post_json(&server.url("/v2/change/enqueue"), change).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(server.metric("noisegate_accepted_records_total{source=\"pagerduty_change\"}").await, 1.0);
    server.stop().await;
}

#[tokio::test]
async fn delivery_retries_429_and_500_with_the_same_event() {
    let pagerduty = FakePagerDuty::start().await;
    pagerduty.script(&[429, 500, 503]);
    let server = TestServer::start(&config_yaml(&pagerduty.url, ROUTE)).await;
    assert_eq!(post_json(&server.url("/v2/enqueue"), &trigger("k1", "first")).await.0, 202);

    let received = pagerduty.wait_requests(4).await;
    let statuses: Vec<u16> = received.iter().map(|request| request.status).collect();
    assert_eq!(statuses, vec![429, 500, 503, 202]);
    assert!(
        received.iter().all(|request| request.body == received[0].body),
        "a retry re-sends the same event"
    );
    server.stop().await;
    assert_eq!(pagerduty.received().len(), 4, "nothing is sent twice once delivered");
}

#[tokio::test]
async fn a_400_from_pagerduty_is_not_retried() {
    let pagerduty = FakePagerDuty::start().await;
    pagerduty.script(&[400]);
    let server = TestServer::start(&config_yaml(&pagerduty.url, ROUTE)).await;
    let url = server.url("/v2/enqueue");
    assert_eq!(post_json(&url, &trigger("k1", "first")).await.0, 202);
    pagerduty.wait_requests(1).await;
    assert_eq!(post_json(&url, &trigger("k2", "second")).await.0, 202);

    // Delivery is in order: the second page arriving means the first was given up, not retried.
    let received = pagerduty.wait_requests(2).await;
    assert_eq!(received[0].status, 400);
    assert_eq!(received[1].status, 202);
    assert_eq!(
        received[1].body["payload"]["custom_details"]["alerts"][0]["annotations"]["summary"],
        "second"
    );
    // Counted before the sink moved on to the second page.
    assert_eq!(server.metric("noisegate_pages_failed_total{reason=\"rejected\"}").await, 1.0);
    server.stop().await;
    assert_eq!(pagerduty.received().len(), 2);
}
