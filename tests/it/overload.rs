//! Backpressure: refused work is answered 429 with Retry-After, health checks keep answering,
//! and the service takes work again once it has room.

use crate::support::{FakePagerDuty, TestServer, config_yaml, http};

const CONFIG: &str = "limits:\n  max_active_alerts: 2\nroute:\n  group_by: [alertname]\n  group_wait: 0s\n  group_interval: 1s\n";

fn alert(name: &str, ends_at: &str) -> String {
    format!(r#"[{{"labels": {{"alertname": "{name}", "severity": "critical"}}, "endsAt": "{ends_at}"}}]"#)
}

async fn post(server: &TestServer, body: String) -> reqwest::Response {
    http()
        .post(server.url("/api/v2/alerts"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn at_capacity_new_alerts_are_refused_until_resolves_make_room() {
    let pagerduty = FakePagerDuty::start().await;
    let server = TestServer::start(&config_yaml(&pagerduty.url, CONFIG)).await;
    let far = "2099-01-01T00:00:00Z";
    assert_eq!(post(&server, alert("First", far)).await.status(), 200);
    assert_eq!(post(&server, alert("Second", far)).await.status(), 200);

    let refused = post(&server, alert("Third", far)).await;
    assert_eq!(refused.status(), 429);
    assert_eq!(refused.headers()["retry-after"], "1");
    let body = refused.text().await.unwrap();
    assert!(body.contains("reach limits.max_active_alerts"), "{body}");
    assert_eq!(http().get(server.url("/healthz")).send().await.unwrap().status(), 200);
    assert_eq!(http().get(server.admin_url("/readyz")).send().await.unwrap().status(), 200);
    // A re-send of an alert it holds goes through: refused, its incident would time out and
    // page again when the re-sends are let in.
    assert_eq!(post(&server, alert("First", far)).await.status(), 200);

    // Resolves still go through; once their incidents close, there is room again.
    let past = "2020-01-01T00:00:00Z";
    pagerduty.wait_events(2).await;
    assert_eq!(post(&server, alert("First", past)).await.status(), 200);
    assert_eq!(post(&server, alert("Second", past)).await.status(), 200);
    let events = pagerduty.wait_events(4).await;
    assert!(events[2..].iter().all(|event| event["event_action"] == "resolve"), "{events:#?}");
    assert_eq!(post(&server, alert("Third", far)).await.status(), 200);
    assert_eq!(
        server
            .metric("noisegate_rejected_requests_total{source=\"alertmanager_v2\",reason=\"overloaded\"}")
            .await,
        1.0
    );
    assert_eq!(server.metric("noisegate_limit_hits_total{limit=\"active_alerts\"}").await, 1.0);
    server.stop().await;
}

#[tokio::test]
async fn at_the_group_cap_alerts_that_would_open_another_group_are_refused() {
    let pagerduty = FakePagerDuty::start().await;
    let config = CONFIG.replace("max_active_alerts: 2", "max_active_groups: 1");
    let server = TestServer::start(&config_yaml(&pagerduty.url, &config)).await;
    let far = "2099-01-01T00:00:00Z";
    assert_eq!(post(&server, alert("First", far)).await.status(), 200);
    let refused = post(&server, alert("Second", far)).await;
    assert_eq!(refused.status(), 429);
    let body = refused.text().await.unwrap();
    assert!(body.contains("reach limits.max_active_groups"), "{body}");
    assert_eq!(server.metric("noisegate_limit_hits_total{limit=\"active_groups\"}").await, 1.0);
    server.stop().await;
}
