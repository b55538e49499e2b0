//! Shutdown pages what is pending even when a client never finishes its request.

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::support::{FakePagerDuty, TestServer, alert_names, config_yaml, post_json};

#[tokio::test]
async fn a_stalled_client_does_not_keep_pending_pages_from_going_out() {
    let pagerduty = FakePagerDuty::start().await;
    let yaml = config_yaml(&pagerduty.url, "route:\n  group_wait: 1h\nlimits:\n  body_read_timeout: 1h\n")
        .replace("shutdown_grace: 20s", "shutdown_grace: 4s");
    let server = TestServer::start(&yaml).await;
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
