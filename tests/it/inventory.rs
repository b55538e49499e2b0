//! The inventory the service learns: `GET /api/v1/inventory` after OTLP logs and alerts, the
//! console's view of it, its metrics, and `noisegate inventory` on a capture (text, JSON, and a
//! topology file that `check` accepts and that pins the same inventory).

use std::path::Path;
use std::process::Output;

use serde_json::Value;

use crate::support::{FakePagerDuty, TestServer, config_yaml, http, noisegate, post_json};

const ROUTE: &str = "route: {group_by: [service], group_wait: 1s, group_interval: 1s}\n";

/// An OTLP/JSON logs request from one pod of `service` on `node`.
fn logs(service: &str, pod: &str, node: &str) -> String {
    let attribute =
        |key: &str, value: &str| format!(r#"{{"key":"{key}","value":{{"stringValue":"{value}"}}}}"#);
    format!(
        r#"{{"resourceLogs":[{{"resource":{{"attributes":[{},{},{},{}]}},"scopeLogs":[{{"logRecords":[{{"timeUnixNano":"1793613600000000000","severityNumber":9,"body":{{"stringValue":"order placed"}}}}]}}]}}]}}"#,
        attribute("service.name", service),
        attribute("k8s.pod.name", pod),
        attribute("k8s.node.name", node),
        attribute("k8s.namespace.name", "shop"),
    )
}

async fn get(server: &TestServer, path: &str) -> Value {
    let response = http().get(server.admin_url(path)).send().await.unwrap();
    assert_eq!(response.status(), 200, "{path}");
    serde_json::from_str(&response.text().await.unwrap()).unwrap()
}

/// The entry of `list` whose `name` is `name`.
fn named<'a>(inventory: &'a Value, list: &str, name: &str) -> &'a Value {
    let entries = inventory[list].as_array().unwrap_or_else(|| panic!("no {list} in {inventory:#}"));
    entries
        .iter()
        .find(|entry| entry["name"] == name)
        .unwrap_or_else(|| panic!("no {name} in {list}: {inventory:#}"))
}

fn assert_learned(entry: &Value, source: &str) {
    assert_eq!(entry["source"], source, "{entry}");
    for field in ["first_seen", "last_seen"] {
        let time = entry[field].as_str().unwrap_or_else(|| panic!("{field} missing: {entry}"));
        assert!(time.parse::<jiff::Timestamp>().is_ok(), "{field} is not RFC 3339: {entry}");
    }
}

fn assert_declared(entry: &Value) {
    assert_eq!(entry["source"], "config", "{entry}");
    assert!(entry["first_seen"].is_null() && entry["last_seen"].is_null(), "{entry}");
}

#[tokio::test]
async fn logs_and_alerts_teach_the_inventory_the_api_shows_beside_the_declared_one() {
    let dir = tempfile::tempdir().unwrap();
    let topology = dir.path().join("topology.json");
    std::fs::write(
        &topology,
        r#"{"namespace": "shop", "nodes": ["node-9"],
            "services": {"frontend": {"depends_on": ["catalog"], "pods": [{"name": "frontend-1", "node": "node-9"}]},
                         "catalog": {"kind": "postgres"}}}"#,
    )
    .unwrap();
    let pagerduty = FakePagerDuty::start().await;
    let extra = format!("{ROUTE}topology: {{file: \"{}\"}}\n", topology.display());
    let server = TestServer::start(&config_yaml(&pagerduty.url, &extra)).await;

    let (status, body) =
        post_json(&server.url("/v1/logs"), &logs("checkout", "checkout-7d9f-abcde", "node-1")).await;
    assert_eq!(status, 200, "{body}");
    let alerts = r#"[{"labels": {"alertname": "KubePodCrashLooping", "severity": "critical", "service": "payments",
                                  "namespace": "shop", "pod": "payments-5c6-fghij", "deployment": "payments", "node": "node-2"}},
                     {"labels": {"alertname": "KubePodNotReady", "severity": "warning", "service": "frontend",
                                  "pod": "frontend-1", "deployment": "frontend"}}]"#;
    let (status, body) = post_json(&server.url("/api/v2/alerts"), alerts).await;
    assert_eq!(status, 200, "{body}");
    // The critical one pages; the warning waits for its settle time.
    pagerduty.wait_events(1).await;
    let incidents = get(&server, "/api/v1/incidents").await;
    let payments_key = incidents
        .as_array()
        .unwrap()
        .iter()
        .find(|incident| incident["probable_cause"]["entity"] == "payments")
        .and_then(|incident| incident["id"].as_str())
        .unwrap_or_else(|| panic!("no incident about payments: {incidents:#}"))
        .to_owned();

    let inventory = get(&server, "/api/v1/inventory").await;
    // Learned: from the logs' resource, and from the alert's pod, workload and node labels.
    let checkout = named(&inventory, "services", "checkout");
    assert_learned(checkout, "logs");
    assert_eq!(
        (&checkout["namespace"], &checkout["entry_point"]),
        (&Value::from("shop"), &Value::from(true))
    );
    assert_learned(named(&inventory, "pods", "checkout-7d9f-abcde"), "logs");
    assert_eq!(named(&inventory, "pods", "checkout-7d9f-abcde")["node"], "node-1");
    assert_learned(named(&inventory, "nodes", "node-1"), "logs");
    let payments = named(&inventory, "services", "payments");
    assert_learned(payments, "alerts");
    assert_eq!(payments["incidents"], serde_json::json!([payments_key]), "{inventory:#}");
    let pod = named(&inventory, "pods", "payments-5c6-fghij");
    assert_learned(pod, "alerts");
    assert_eq!((&pod["service"], &pod["node"]), (&Value::from("payments"), &Value::from("node-2")));
    assert_learned(named(&inventory, "nodes", "node-2"), "alerts");
    // Declared: the config's, with no times; an alert does not move a pod the config lists.
    let frontend = named(&inventory, "services", "frontend");
    assert_declared(frontend);
    assert_declared(named(&inventory, "services", "catalog"));
    assert_eq!(named(&inventory, "services", "catalog")["kind"], "postgres");
    assert_eq!(named(&inventory, "services", "catalog")["entry_point"], false);
    let declared_pod = named(&inventory, "pods", "frontend-1");
    assert_declared(declared_pod);
    assert_eq!(
        (&declared_pod["service"], &declared_pod["node"]),
        (&Value::from("frontend"), &Value::from("node-9"))
    );
    assert_declared(named(&inventory, "nodes", "node-9"));
    let edges = inventory["edges"].as_array().unwrap();
    assert_eq!(edges.len(), 1, "{inventory:#}");
    assert_eq!((&edges[0]["from"], &edges[0]["to"]), (&Value::from("frontend"), &Value::from("catalog")));
    assert_declared(&edges[0]);

    // The metrics, counted when the requests were applied (before they were answered).
    assert_eq!(server.metric("noisegate_inventory_entries{kind=\"pod\"}").await, 2.0);
    assert_eq!(server.metric("noisegate_inventory_entries{kind=\"node\"}").await, 2.0);
    assert_eq!(server.metric("noisegate_inventory_entries{kind=\"call\"}").await, 0.0);
    assert!(server.metric("noisegate_inventory_facts_learned_total").await >= 6.0);
    // The declared pod is the config's: left out, not refused (only a full inventory refuses).
    assert_eq!(server.metric("noisegate_inventory_facts_refused_total").await, 0.0);
    assert_eq!(server.metric("noisegate_inventory_facts_expired_total").await, 0.0);
    server.stop().await;
}

#[tokio::test]
async fn the_console_has_an_inventory_view_drawn_from_the_api_which_needs_the_admin_token() {
    let pagerduty = FakePagerDuty::start().await;
    let server =
        TestServer::start(&config_yaml(&pagerduty.url, "auth:\n  admin_tokens: [{value: adm1n-t0ken}]\n"))
            .await;
    let client = http();
    let page = client.get(server.admin_url("/console/")).send().await.unwrap().text().await.unwrap();
    for part in
        ["href=\"#/inventory\"", "id=\"view-inventory\"", "<svg id=\"graph\"", "id=\"inventory-pods\""]
    {
        assert!(page.contains(part), "{part} missing from the page");
    }
    let script = client.get(server.admin_url("/console/app.js")).send().await.unwrap().text().await.unwrap();
    assert!(script.contains("api(\"/api/v1/inventory\")"), "the script does not read the inventory");
    // Offline: nothing fetched from elsewhere (the SVG namespace is a name, not a fetch).
    let script = script.replace("\"http://www.w3.org/2000/svg\"", "");
    for text in [&page, &script] {
        assert!(!text.contains("http://") && !text.contains("https://"), "the console loads from elsewhere");
    }

    let url = server.admin_url("/api/v1/inventory");
    assert_eq!(client.get(&url).send().await.unwrap().status(), 401);
    let allowed = client.get(&url).bearer_auth("adm1n-t0ken").send().await.unwrap();
    assert_eq!(allowed.status(), 200);
    let empty: Value = serde_json::from_str(&allowed.text().await.unwrap()).unwrap();
    assert_eq!(empty, serde_json::json!({"services": [], "nodes": [], "pods": [], "edges": []}));
    server.stop().await;
}

fn stdout(output: &Output) -> String {
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Four minutes of a shop: checkout logs from its pod on node-1 and calls a Redis (spans);
/// payments' pod crash-loops on node-2 (alerts with pod, deployment and node labels).
fn capture(dir: &Path) -> String {
    let line = |at: &str, source: &str, body: &str| {
        format!("{{\"received_at\":\"2026-11-02T10:{at}Z\",\"source\":\"{source}\",\"body\":{body}}}\n")
    };
    let spans = r#"{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"checkout"}}]},
        "scopeSpans":[{"spans":[{"traceId":"c9124c802d5936b278978d1506d4bb71","spanId":"1111111111111111","name":"GET","kind":3,
        "attributes":[{"key":"db.system","value":{"stringValue":"redis"}},{"key":"server.address","value":{"stringValue":"redis-cart"}}]}]}]}]}"#
        .replace('\n', "");
    let crash = r#"[{"labels":{"alertname":"KubePodCrashLooping","severity":"critical","namespace":"shop",
        "pod":"payments-5c6-fghij","deployment":"payments","node":"node-2"},"startsAt":"2026-11-02T10:02:00Z"}]"#
        .replace('\n', "");
    let text = [
        line("00:00", "otlp_logs_json", &logs("checkout", "checkout-7d9f-abcde", "node-1")),
        line("01:00", "otlp_traces_json", &spans),
        line("02:00", "alertmanager_v2", &crash),
        line("04:00", "otlp_logs_json", &logs("checkout", "checkout-7d9f-abcde", "node-1")),
    ]
    .concat();
    let path = dir.join("capture.jsonl");
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

/// The inventory without where each entry comes from: what a pinned topology must keep.
/// The inventory's shape: what a topology file can pin (services' namespaces are not in the
/// file's format: a pinned service has the file's namespace).
fn shape(inventory: &Value) -> Value {
    let keep = |list: &str, fields: &[&str]| -> Vec<Value> {
        inventory[list]
            .as_array()
            .unwrap()
            .iter()
            .map(|entry| fields.iter().map(|field| entry[*field].clone()).collect())
            .collect()
    };
    serde_json::json!({
        "services": keep("services", &["name", "kind", "entry_point"]),
        "nodes": keep("nodes", &["name"]),
        "pods": keep("pods", &["name", "service", "node"]),
        "edges": keep("edges", &["from", "to"]),
    })
}

#[test]
fn inventory_prints_what_a_capture_teaches_and_writes_a_topology_that_pins_it() {
    let dir = tempfile::tempdir().unwrap();
    let capture = capture(dir.path());

    let text = stdout(&noisegate(&["inventory", "--input", &capture]));
    assert!(text.starts_with("3 services, 2 nodes, 2 pods, 1 calls\n"), "{text}");
    for line in [
        "service checkout (namespace shop; entry point; spans, seen 2026-11-02T10:00:00Z to 2026-11-02T10:04:00Z)",
        "  pod checkout-7d9f-abcde on node node-1 (logs, seen 2026-11-02T10:00:00Z to 2026-11-02T10:04:00Z)",
        "  calls redis-cart (spans, seen 2026-11-02T10:01:00Z)",
        "  pod payments-5c6-fghij on node node-2 (alerts, seen 2026-11-02T10:02:00Z)",
        "service redis-cart (kind redis; spans, seen 2026-11-02T10:01:00Z)",
        "node node-2 (alerts, seen 2026-11-02T10:02:00Z)",
    ] {
        assert!(text.lines().any(|shown| shown == line), "{line:?} missing from:\n{text}");
    }
    assert!(text.contains("  open incidents: noisegate-"), "{text}");

    let topology = dir.path().join("topology.json").display().to_string();
    let learned: Value = serde_json::from_str(&stdout(&noisegate(&[
        "inventory",
        "--input",
        &capture,
        "--json",
        "--topology-out",
        &topology,
    ])))
    .unwrap();
    let payments = named(&learned, "services", "payments");
    assert_learned(payments, "alerts");
    assert_eq!(payments["incidents"].as_array().map(Vec::len), Some(1), "{learned:#}");
    assert_eq!(named(&learned, "services", "redis-cart")["kind"], "redis");
    assert_eq!(learned["edges"][0]["source"], "spans");
    assert_eq!(named(&learned, "pods", "checkout-7d9f-abcde")["first_seen"], "2026-11-02T10:00:00Z");

    // The file written is a topology `check` accepts, and pinning it gives the same inventory,
    // now the config's.
    let checked = stdout(&noisegate(&["check", "--topology", &topology]));
    assert!(checked.contains("config is valid"), "{checked}");
    let pinned: Value = serde_json::from_str(&stdout(&noisegate(&[
        "inventory",
        "--input",
        &capture,
        "--topology",
        &topology,
        "--json",
    ])))
    .unwrap();
    assert_eq!(shape(&pinned), shape(&learned));
    for list in ["services", "pods", "edges"] {
        for entry in pinned[list].as_array().unwrap() {
            assert_declared(entry);
        }
    }
}
