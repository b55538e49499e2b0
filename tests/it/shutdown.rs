//! Stopping: a graceful stop keeps the groups still waiting for the next start, which pages
//! them when they were due; `serve --drain` pages them at once, even when a client never
//! finishes its request.

use noisegate::service::ServeOptions;
use serde_json::Value;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::support::{FakePagerDuty, TestServer, alert_names, config_yaml, http, post_json};

fn draining() -> ServeOptions {
    ServeOptions { drain: true, ..ServeOptions::default() }
}

#[tokio::test]
async fn a_drain_pages_what_waits_at_once_even_with_a_stalled_client() {
    let pagerduty = FakePagerDuty::start().await;
    let yaml = config_yaml(&pagerduty.url, "route:\n  group_wait: 1h\nlimits:\n  body_read_timeout: 1h\n")
        .replace("shutdown_grace: 20s", "shutdown_grace: 4s");
    let server = TestServer::start_with(&yaml, draining()).await;
    let alert = r#"[{"labels": {"alertname": "NodeDown", "node": "n1", "severity": "critical"}}]"#;
    assert_eq!(post_json(&server.url("/api/v2/alerts"), alert).await.0, 200);

    // A client that sends headers promising a body, then nothing.
    let mut stalled = TcpStream::connect(server.http).await.unwrap();
    let head = "POST /api/v2/alerts HTTP/1.1\r\nhost: noisegate\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n[";
    stalled.write_all(head.as_bytes()).await.unwrap();

    server.stop().await;
    let events = pagerduty.events();
    assert_eq!(events.len(), 1, "{events:#?}");
    assert_eq!(alert_names(&events[0]), vec!["NodeDown"]);
    drop(stalled);
}

async fn get(url: &str) -> Value {
    serde_json::from_str(&http().get(url).send().await.unwrap().text().await.unwrap()).unwrap()
}

#[tokio::test]
async fn a_graceful_restart_during_group_wait_pages_once_when_the_group_was_due() {
    let pagerduty = FakePagerDuty::start().await;
    let data = tempfile::tempdir().unwrap();
    let yaml = config_yaml(
        &pagerduty.url,
        &format!("route:\n  group_wait: 2s\nstorage:\n  dir: {:?}\n", data.path().display().to_string()),
    );
    let first = TestServer::start(&yaml).await;
    // No startsAt: the alert starts when it arrives, which the Alertmanager API tells.
    let alert = r#"[{"labels": {"alertname": "NodeDown", "node": "n1", "severity": "critical"}}]"#;
    assert_eq!(post_json(&first.url("/api/v2/alerts"), alert).await.0, 200);
    let held = get(&first.admin_url("/api/v2/alerts")).await;
    let arrived = held[0]["startsAt"].as_str().expect("the alert is held").to_owned();
    first.stop().await;
    assert_eq!(pagerduty.events(), Vec::<Value>::new(), "a graceful stop pages nothing that waits");

    let second = TestServer::start(&yaml).await;
    let events = pagerduty.wait_events(1).await;
    assert_eq!(alert_names(&events[0]), vec!["NodeDown"]);
    // Opened when the first start's group_wait was over, not the second start's.
    let incidents = get(&second.admin_url("/api/v1/incidents")).await;
    let opened = incidents[0]["opened_at"].as_str().expect("an open incident");
    let due = arrived.parse::<jiff::Timestamp>().unwrap() + jiff::SignedDuration::from_secs(2);
    assert_eq!(opened.parse::<jiff::Timestamp>().unwrap(), due, "{incidents:#}");
    second.stop().await;
    assert_eq!(pagerduty.events().len(), 1, "paged once");
}
