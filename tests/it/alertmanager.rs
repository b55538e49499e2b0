//! Alertmanager API v2 (what Prometheus posts) and the webhook receiver.

use crate::support::{FakePagerDuty, ROUTING_KEY, TestServer, alert_names, config_yaml, post_json};

const ROUTE: &str = "route:\n  group_by: [alertname]\n  group_wait: 1s\n  group_interval: 1s\n";

fn pod_alert(pod: &str, ends_at: &str) -> String {
    format!(
        r#"{{"labels": {{"alertname": "KubePodCrashLooping", "namespace": "shop", "pod": "{pod}", "severity": "warning"}},
            "annotations": {{"summary": "Pod {pod} is crash looping", "runbook_url": "https://runbooks.example/crashloop"}},
            "startsAt": "2026-11-02T00:00:00Z", "endsAt": "{ends_at}",
            "generatorURL": "http://prometheus:9090/graph?g0.expr=x"}}"#
    )
}

#[tokio::test]
async fn a_burst_from_prometheus_is_one_page_deduplicated_then_resolved() {
    let pagerduty = FakePagerDuty::start().await;
    let server = TestServer::start(&config_yaml(&pagerduty.url, ROUTE)).await;
    let url = server.url("/api/v2/alerts");
    let firing = format!(
        "[{},{},{}]",
        pod_alert("cart-1", "2099-01-01T00:00:00Z"),
        pod_alert("cart-2", "2099-01-01T00:00:00Z"),
        pod_alert("cart-3", "2099-01-01T00:00:00Z")
    );

    assert_eq!(post_json(&url, &firing).await.0, 200);
    // Prometheus re-sends every firing alert each evaluation: duplicates, not new alerts.
    assert_eq!(post_json(&url, &firing).await.0, 200);
    assert_eq!(server.metric("noisegate_duplicate_alerts_total").await, 3.0);
    assert_eq!(server.metric("noisegate_accepted_records_total{source=\"alertmanager_v2\"}").await, 6.0);

    let events = pagerduty.wait_events(1).await;
    let trigger = &events[0];
    assert_eq!(trigger["event_action"], "trigger");
    assert_eq!(trigger["routing_key"], ROUTING_KEY);
    assert_eq!(
        alert_names(trigger),
        vec!["KubePodCrashLooping/cart-1", "KubePodCrashLooping/cart-2", "KubePodCrashLooping/cart-3"]
    );
    let payload = &trigger["payload"];
    assert_eq!(payload["severity"], "warning");
    assert_eq!(payload["class"], "KubePodCrashLooping");
    assert_eq!(payload["group"], "shop");
    assert_eq!(payload["timestamp"], "2026-11-02T00:00:00Z");
    assert!(
        payload["summary"].as_str().unwrap().starts_with("KubePodCrashLooping: Pod cart-1 is crash looping")
    );
    assert_eq!(payload["custom_details"]["alerts"][0]["startsAt"], "2026-11-02T00:00:00Z");
    let links: Vec<&str> =
        trigger["links"].as_array().unwrap().iter().map(|link| link["href"].as_str().unwrap()).collect();
    assert_eq!(links, vec!["http://prometheus:9090/graph?g0.expr=x", "https://runbooks.example/crashloop"]);

    // endsAt in the past resolves them; the incident resolves under the same dedup_key.
    let resolved = format!(
        "[{},{},{}]",
        pod_alert("cart-1", "2026-11-02T00:10:00Z"),
        pod_alert("cart-2", "2026-11-02T00:10:00Z"),
        pod_alert("cart-3", "2026-11-02T00:10:00Z")
    );
    assert_eq!(post_json(&url, &resolved).await.0, 200);
    let events = pagerduty.wait_events(2).await;
    assert_eq!(events[1]["event_action"], "resolve");
    assert_eq!(events[1]["dedup_key"], trigger["dedup_key"]);
    assert_eq!(server.metric("noisegate_incidents_opened_total").await, 1.0);
    server.stop().await;
    assert_eq!(pagerduty.events().len(), 2, "no page after the resolve: {:#?}", pagerduty.events());
}

#[tokio::test]
async fn an_alertmanager_webhook_is_paged_and_resolved() {
    let pagerduty = FakePagerDuty::start().await;
    let server = TestServer::start(&config_yaml(&pagerduty.url, ROUTE)).await;
    let url = server.url("/webhook/alertmanager");
    let message = |status: &str, ends_at: &str| {
        format!(
            r#"{{"version": "4", "groupKey": "{{}}:{{alertname=\"RedisDown\"}}", "truncatedAlerts": 0, "status": "{status}",
                "receiver": "noisegate", "groupLabels": {{"alertname": "RedisDown"}}, "commonLabels": {{}},
                "commonAnnotations": {{}}, "externalURL": "http://alertmanager:9093",
                "alerts": [{{"status": "{status}", "labels": {{"alertname": "RedisDown", "service": "redis-cart", "severity": "critical"}},
                             "annotations": {{"description": "redis-cart is down"}}, "startsAt": "2026-11-02T00:58:57Z",
                             "endsAt": "{ends_at}", "generatorURL": "", "fingerprint": "1a2b"}}]}}"#
        )
    };
    assert_eq!(post_json(&url, &message("firing", "0001-01-01T00:00:00Z")).await.0, 200);
    let events = pagerduty.wait_events(1).await;
    assert_eq!(events[0]["event_action"], "trigger");
    assert_eq!(events[0]["payload"]["severity"], "critical");
    assert_eq!(events[0]["payload"]["summary"], "RedisDown: redis-cart is down");
    assert_eq!(events[0]["payload"]["component"], "redis-cart");

    assert_eq!(post_json(&url, &message("resolved", "2026-11-02T01:32:27Z")).await.0, 200);
    let events = pagerduty.wait_events(2).await;
    assert_eq!(events[1]["event_action"], "resolve");
    assert_eq!(events[1]["dedup_key"], events[0]["dedup_key"]);
    server.stop().await;
}
