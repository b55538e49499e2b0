//! What the service learns from the traces an OpenTelemetry SDK or Collector sends, through the
//! real endpoints: calls and placements, kept across a restart, forgotten when no longer seen,
//! and used to correlate (a pod that moved goes with its new node's failure).

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use serde_json::Value;

use crate::support::{FakePagerDuty, TestServer, alert_names_about, config_yaml, http, noisegate, post_json};
use crate::traces::checkout_trace_from;

/// The frontend calls checkout (whose SERVER span is in the request); checkout calls payments,
/// which sends no spans, and its PostgreSQL database.
fn checkout_trace() -> ExportTraceServiceRequest {
    checkout_trace_from(("frontend-6d8f7-aaaaa", "node-1"), ("checkout-5c9b8-bbbbb", "node-2"))
}

async fn inventory(server: &TestServer) -> Value {
    let response = http().get(server.admin_url("/api/v1/inventory")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    serde_json::from_str(&response.text().await.unwrap()).unwrap()
}

/// `(from, to, source)` of every edge.
fn edges(inventory: &Value) -> Vec<(String, String, String)> {
    let text = |value: &Value| value.as_str().unwrap_or_default().to_owned();
    let mut edges: Vec<(String, String, String)> = inventory["edges"]
        .as_array()
        .unwrap_or_else(|| panic!("no edges: {inventory:#}"))
        .iter()
        .map(|edge| (text(&edge["from"]), text(&edge["to"]), text(&edge["source"])))
        .collect();
    edges.sort();
    edges
}

/// `(pod, service, node)` of every pod.
fn pods(inventory: &Value) -> Vec<(String, String, String)> {
    let text = |value: &Value| value.as_str().unwrap_or_default().to_owned();
    inventory["pods"]
        .as_array()
        .unwrap_or_else(|| panic!("no pods: {inventory:#}"))
        .iter()
        .map(|pod| (text(&pod["name"]), text(&pod["service"]), text(&pod["node"])))
        .collect()
}

fn owned(items: &[(&str, &str, &str)]) -> Vec<(String, String, String)> {
    items.iter().map(|(a, b, c)| ((*a).to_owned(), (*b).to_owned(), (*c).to_owned())).collect()
}

#[tokio::test]
async fn spans_teach_calls_and_placements_that_a_restart_keeps() {
    let pagerduty = FakePagerDuty::start().await;
    let data = tempfile::tempdir().unwrap();
    let config = config_yaml(&pagerduty.url, &format!("storage: {{dir: \"{}\"}}\n", data.path().display()));
    let server = TestServer::start(&config).await;
    let mut client = TraceServiceClient::connect(format!("http://{}", server.grpc)).await.unwrap();
    client.export(checkout_trace()).await.unwrap();

    let learned = inventory(&server).await;
    let calls = owned(&[
        ("checkout", "orders-db", "spans"),
        ("checkout", "payments", "spans"),
        ("frontend", "checkout", "spans"),
    ]);
    assert_eq!(edges(&learned), calls, "the SERVER child names the callee, not the address");
    assert_eq!(
        pods(&learned),
        owned(&[
            ("checkout-5c9b8-bbbbb", "checkout", "node-2"),
            ("frontend-6d8f7-aaaaa", "frontend", "node-1")
        ])
    );
    let orders_db =
        learned["services"].as_array().unwrap().iter().find(|service| service["name"] == "orders-db");
    assert_eq!(orders_db.map(|service| &service["kind"]), Some(&Value::from("postgresql")), "{learned:#}");
    assert_eq!(server.metric("noisegate_inventory_entries{kind=\"call\"}").await, 3.0);
    server.stop().await;

    // The same store: the write-ahead log (and snapshot) give the facts back, times and all.
    let server = TestServer::start(&config).await;
    let restored = inventory(&server).await;
    assert_eq!(restored, learned, "a restart keeps what was learned");
    server.stop().await;
}

/// An OTLP/JSON body (traces or logs) from one pod, with one record.
fn resource_json(kind: &str, service: &str, pod: &str, node: &str) -> String {
    let attribute =
        |key: &str, value: &str| format!(r#"{{"key":"{key}","value":{{"stringValue":"{value}"}}}}"#);
    let resource = format!(
        r#"{{"attributes":[{},{},{},{}]}}"#,
        attribute("service.name", service),
        attribute("k8s.pod.name", pod),
        attribute("k8s.node.name", node),
        attribute("k8s.namespace.name", "shop")
    );
    match kind {
        "traces" => format!(
            r#"{{"resourceSpans":[{{"resource":{resource},"scopeSpans":[{{"spans":[{{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","name":"query","kind":2}}]}}]}}]}}"#
        ),
        _ => format!(
            r#"{{"resourceLogs":[{{"resource":{resource},"scopeLogs":[{{"logRecords":[{{"severityNumber":9,"body":{{"stringValue":"ready to accept connections"}}}}]}}]}}]}}"#
        ),
    }
}

#[tokio::test]
async fn a_pod_that_moved_goes_with_its_new_nodes_failure_not_the_old_ones() {
    let pagerduty = FakePagerDuty::start().await;
    let route = "route: {group_by: [alertname], group_wait: 1s, group_interval: 1s}\n";
    let server = TestServer::start(&config_yaml(&pagerduty.url, route)).await;
    // The database's pod ran on node-a (its logs said so), then came back on node-b under the
    // same name (a StatefulSet's pod), as its spans now say.
    let (status, body) =
        post_json(&server.url("/v1/logs"), &resource_json("logs", "db", "db-0", "node-a")).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) =
        post_json(&server.url("/v1/traces"), &resource_json("traces", "db", "db-0", "node-b")).await;
    assert_eq!(status, 200, "{body}");
    // Both nodes fail; the pod is not ready.
    let alerts = r#"[
      {"labels": {"alertname": "KubeNodeNotReady", "node": "node-a", "severity": "critical"}},
      {"labels": {"alertname": "KubeNodeNotReady", "node": "node-b", "severity": "critical"}},
      {"labels": {"alertname": "KubePodNotReady", "pod": "db-0", "namespace": "shop", "severity": "critical"}}]"#;
    let (status, body) = post_json(&server.url("/api/v2/alerts"), alerts).await;
    assert_eq!(status, 200, "{body}");

    let events = pagerduty.wait_events(2).await;
    let mut triggers: Vec<Vec<String>> = events
        .iter()
        .filter(|event| event["event_action"] == "trigger")
        .map(|event| {
            let mut names = alert_names_about(event, &["pod", "node"]);
            names.sort();
            names
        })
        .collect();
    triggers.sort();
    assert_eq!(
        triggers,
        vec![
            vec!["KubeNodeNotReady/node-a".to_owned()],
            vec!["KubeNodeNotReady/node-b".to_owned(), "KubePodNotReady/db-0".to_owned()],
        ]
    );
    server.stop().await;
}

/// A capture line recorded at `at`.
fn line(at: &str, source: &str, body: &str) -> String {
    format!(r#"{{"received_at":"{at}","source":"{source}","body":{body}}}"#)
}

#[test]
fn facts_not_seen_again_are_forgotten_pods_within_the_hour_calls_after_two_days() {
    let dir = tempfile::tempdir().unwrap();
    // As OTLP/JSON, the way `serve --record` writes a request.
    let traces = noisegate::sources::otlp::to_json(&checkout_trace()).unwrap();
    let watchdog = r#"[{"labels": {"alertname": "Watchdog", "severity": "none"}}]"#;
    let learned_at = line("2026-11-02T10:00:00Z", "otlp_traces_json", &traces);
    let run = |later: &str| -> Value {
        let capture = dir.path().join(format!("capture-{later}.jsonl"));
        let lines = [learned_at.clone(), line(later, "alertmanager_v2", watchdog)];
        std::fs::write(&capture, lines.join("\n") + "\n").unwrap();
        let output = noisegate(&["inventory", "--input", &capture.display().to_string(), "--json"]);
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        serde_json::from_slice(&output.stdout).unwrap()
    };
    let soon = run("2026-11-02T10:30:00Z");
    assert_eq!(pods(&soon).len(), 2, "{soon:#}");
    assert_eq!(edges(&soon).len(), 3, "{soon:#}");
    // Pods gone for more than an hour went away; their calls are kept.
    let hours_later = run("2026-11-02T12:30:00Z");
    assert_eq!(pods(&hours_later), vec![], "{hours_later:#}");
    assert_eq!(edges(&hours_later).len(), 3, "{hours_later:#}");
    // Calls not made for two days are forgotten too, and so are the services and nodes.
    let days_later = run("2026-11-05T10:30:00Z");
    assert_eq!(edges(&days_later), vec![], "{days_later:#}");
    assert_eq!(days_later["services"], serde_json::json!([]), "{days_later:#}");
    assert_eq!(days_later["nodes"], serde_json::json!([]), "{days_later:#}");
}
