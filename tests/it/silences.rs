//! The silences API on the admin listener, against the running service.

use serde_json::Value;

use crate::support::{FakePagerDuty, TestServer, alert_names, config_yaml, http, post_json};

const ROUTE: &str = "route:\n  group_by: [alertname]\n  group_wait: 0s\n  group_interval: 1s\n";

async fn silences(server: &TestServer) -> Vec<Value> {
    let body = http().get(server.admin_url("/api/v1/silences")).send().await.unwrap().text().await.unwrap();
    serde_json::from_str::<Vec<Value>>(&body).unwrap()
}

#[tokio::test]
async fn a_silence_created_through_the_api_mutes_until_it_is_expired() {
    let pagerduty = FakePagerDuty::start().await;
    let server = TestServer::start(&config_yaml(&pagerduty.url, ROUTE)).await;
    let create = r#"{"matchers": ["alertname=\"DiskFull\"", "node=~\"db-.*\""], "duration": "2h",
                     "comment": "disk swap on the db hosts", "createdBy": "ops"}"#;
    let (status, body) = post_json(&server.admin_url("/api/v1/silences"), create).await;
    assert_eq!(status, 201, "{body}");
    let id = serde_json::from_str::<Value>(&body).unwrap()["id"].as_str().unwrap().to_owned();

    let listed = silences(&server).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["id"], id.as_str());
    assert_eq!(listed[0]["state"], "active");
    assert_eq!(listed[0]["matchers"][1], "node=~\"db-.*\"");
    assert_eq!(listed[0]["comment"], "disk swap on the db hosts");

    // Muted: the request is applied, nothing pages. An unrelated alert still pages, which
    // proves the muted one had its chance.
    let alerts = server.url("/api/v2/alerts");
    let muted = r#"[{"labels": {"alertname": "DiskFull", "node": "db-1", "severity": "critical"}}]"#;
    assert_eq!(post_json(&alerts, muted).await.0, 200);
    let other = r#"[{"labels": {"alertname": "QueueFull", "node": "mq-1", "severity": "critical"}}]"#;
    assert_eq!(post_json(&alerts, other).await.0, 200);
    let events = pagerduty.wait_events(1).await;
    assert_eq!(alert_names(&events[0]), vec!["QueueFull"]);

    let response = http().delete(server.admin_url(&format!("/api/v1/silences/{id}"))).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(silences(&server).await[0]["state"], "expired");

    // The still-firing alert pages once its silence is gone.
    let events = pagerduty.wait_events(2).await;
    assert_eq!(alert_names(&events[1]), vec!["DiskFull"]);

    let response = http().delete(server.admin_url("/api/v1/silences/nope")).send().await.unwrap();
    assert_eq!(response.status(), 404);
    server.stop().await;
}

#[tokio::test]
async fn bad_silences_are_refused_with_the_reason() {
    let pagerduty = FakePagerDuty::start().await;
    let server = TestServer::start(&config_yaml(&pagerduty.url, ROUTE)).await;
    let url = server.admin_url("/api/v1/silences");
    let cases = [
        (r#"{"matchers": ["node=~~\"x\""], "duration": "1h"}"#, "matchers[0]: unknown operator \"=~~\""),
        (r#"{"matchers": ["node=\"x\""]}"#, "missing `endsAt` (or `duration`)"),
        (r#"{"matchers": [], "duration": "1h"}"#, "at least one matcher"),
        (
            r#"{"matchers": ["node=\"x\""], "endsAt": "2001-01-01T00:00:00Z"}"#,
            "endsAt must be after startsAt",
        ),
        (r#"{"matchers": ["node=\"x\""], "duration": "1h", "color": "red"}"#, "unknown field `color`"),
    ];
    for (body, expected) in cases {
        let (status, response) = post_json(&url, body).await;
        assert_eq!(status, 400, "{body}");
        let response: Value = serde_json::from_str(&response).unwrap();
        let message = response["error"].as_str().unwrap();
        assert!(message.contains(expected), "{message} should mention {expected}");
    }
    assert!(silences(&server).await.is_empty());
    server.stop().await;
}
