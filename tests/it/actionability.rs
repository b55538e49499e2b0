//! Actionability against the running service: the digest webhook, PagerDuty feedback webhooks
//! (signatures, history kept across a restart), shadow mode, the incidents API and `explain`.

use std::process::Command;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;
use tokio::net::TcpListener;
use tokio::sync::Notify;

use crate::support::{FakePagerDuty, PATIENCE, TestServer, config_yaml, http, post_json, temp_path};

/// A config that scores (the ingest tests' config pages everything unfiltered).
fn scored(pagerduty_url: &str, extra: &str) -> String {
    config_yaml(pagerduty_url, extra).replace("scoring:\n  shadow: unfiltered\n", "")
}

const ROUTE: &str = "route:\n  group_by: [alertname]\n  group_wait: 0s\n  group_interval: 1s\n";

fn alert(name: &str, severity: &str) -> String {
    format!(r#"[{{"labels": {{"alertname": "{name}", "severity": "{severity}", "service": "search"}}}}]"#)
}

/// A Slack-compatible webhook receiver.
#[derive(Default)]
struct Receiver {
    bodies: Mutex<Vec<Value>>,
    notify: Notify,
}

async fn start_receiver() -> (String, Arc<Receiver>) {
    let receiver = Arc::new(Receiver::default());
    let app = axum::Router::new()
        .route(
            "/hook",
            axum::routing::post(|State(receiver): State<Arc<Receiver>>, body: String| async move {
                receiver.bodies.lock().unwrap().push(serde_json::from_str(&body).unwrap_or(Value::Null));
                receiver.notify.notify_waiters();
                "ok"
            }),
        )
        .with_state(receiver.clone());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, receiver)
}

#[tokio::test]
async fn a_low_scoring_incident_goes_to_the_digest_webhook_not_to_pagerduty() {
    let pagerduty = FakePagerDuty::start().await;
    let (hook, receiver) = start_receiver().await;
    let extra = format!("{ROUTE}digest:\n  webhook_url: \"{hook}\"\n  interval: 100ms\n");
    let server = TestServer::start(&scored(&pagerduty.url, &extra)).await;
    let alerts = server.url("/api/v2/alerts");
    assert_eq!(post_json(&alerts, &alert("DiskSlowlyFilling", "warning")).await.0, 200);
    assert_eq!(post_json(&alerts, &alert("SearchDown", "critical")).await.0, 200);

    let waiting = async {
        loop {
            let notified = receiver.notify.notified();
            if !receiver.bodies.lock().unwrap().is_empty() {
                return;
            }
            notified.await;
        }
    };
    tokio::time::timeout(PATIENCE, waiting).await.expect("a digest arrives");
    let digest = receiver.bodies.lock().unwrap()[0].clone();
    let text = digest["text"].as_str().unwrap();
    assert!(text.starts_with("noisegate digest: 1 incident(s) that did not page"), "{text}");
    assert!(text.contains("DiskSlowlyFilling"), "{text}");

    // The critical one paged; the digested one never reached PagerDuty.
    let events = pagerduty.wait_events(1).await;
    assert_eq!(events[0]["payload"]["custom_details"]["tier"], "page_high");
    assert!(events[0]["payload"]["custom_details"]["score"].as_f64().unwrap() >= 0.4);
    let incidents: Vec<Value> = serde_json::from_str(
        &http().get(server.admin_url("/api/v1/incidents")).send().await.unwrap().text().await.unwrap(),
    )
    .unwrap();
    let mut tiers: Vec<&str> = incidents.iter().map(|incident| incident["tier"].as_str().unwrap()).collect();
    tiers.sort();
    assert_eq!(tiers, vec!["digest", "page_high"]);
    server.stop().await;
    // Nothing PagerDuty received stands for the digested alert.
    let events = pagerduty.events();
    assert!(!events.is_empty());
    assert!(events.iter().all(|event| !event.to_string().contains("DiskSlowlyFilling")), "{events:?}");
}

pub fn sign(secret: &str, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body.as_bytes());
    mac.finalize().into_bytes().iter().map(|byte| format!("{byte:02x}")).collect()
}

pub async fn webhook(server: &TestServer, body: &str, signature: Option<String>) -> u16 {
    let mut request =
        http().post(server.url("/webhooks/pagerduty")).header("content-type", "application/json");
    if let Some(signature) = signature {
        request = request.header("x-pagerduty-signature", signature);
    }
    request.body(body.to_owned()).send().await.unwrap().status().as_u16()
}

async fn feedback_stats(server: &TestServer) -> Vec<Value> {
    let body = http().get(server.admin_url("/api/v1/feedback")).send().await.unwrap().text().await.unwrap();
    serde_json::from_str(&body).unwrap()
}

#[tokio::test]
async fn signed_acknowledgements_feed_the_history_and_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let state = temp_path(&dir, "history.jsonl");
    let pagerduty = FakePagerDuty::start().await;
    // Two secrets: the current one and the one being rotated out.
    let extra = format!(
        "{ROUTE}feedback:\n  webhook_secrets: [{{value: new-secret}}, {{value: old-secret}}]\n  state_file: \"{}\"\n",
        state.display()
    );
    let yaml = scored(&pagerduty.url, &extra);
    let server = TestServer::start(&yaml).await;
    assert_eq!(post_json(&server.url("/api/v2/alerts"), &alert("SearchDown", "critical")).await.0, 200);
    let key = pagerduty.wait_events(1).await[0]["dedup_key"].as_str().unwrap().to_owned();

    let body = format!(
        r#"{{"event": {{"id": "01", "event_type": "incident.acknowledged", "resource_type": "incident",
             "occurred_at": "2026-11-02T00:05:00Z",
             "data": {{"id": "Q1", "type": "incident", "incident_key": "{key}", "status": "acknowledged"}}}}}}"#
    );
    assert_eq!(webhook(&server, &body, None).await, 401, "unsigned");
    assert_eq!(
        webhook(&server, &body, Some(format!("v1={}", sign("guessed", &body)))).await,
        403,
        "wrongly signed"
    );
    assert_eq!(webhook(&server, &body, Some("v1=not-hex".to_owned())).await, 403, "malformed");
    assert!(
        feedback_stats(&server).await.iter().all(|kind| kind["acted"] == 0),
        "refused requests change nothing"
    );
    let rotated = format!("v1={}, v1={}", sign("retired-secret", &body), sign("old-secret", &body));
    assert_eq!(webhook(&server, &body, Some(rotated)).await, 204, "signed with a secret still accepted");
    let stats = feedback_stats(&server).await;
    let search = stats.iter().find(|kind| kind["kind"] == "SearchDown").expect("SearchDown stats");
    assert_eq!(search["acted"], 1);
    assert_eq!(
        server
            .metric(
                "noisegate_rejected_requests_total{source=\"pagerduty_webhook\",reason=\"unauthenticated\"}"
            )
            .await,
        3.0
    );
    server.stop().await;

    // A new instance reads the history back.
    let server = TestServer::start(&yaml).await;
    let stats = feedback_stats(&server).await;
    let search = stats.iter().find(|kind| kind["kind"] == "SearchDown").expect("kept across the restart");
    assert_eq!(search["acted"], 1);
    assert!(std::fs::read_to_string(&state).unwrap().contains("\"kind\":\"SearchDown\""));
    server.stop().await;
}

#[tokio::test]
async fn shadow_silent_decides_and_logs_but_sends_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let decisions = temp_path(&dir, "decisions.jsonl");
    let pagerduty = FakePagerDuty::start().await;
    let extra =
        format!("{ROUTE}scoring:\n  shadow: silent\ndecisions:\n  file: \"{}\"\n", decisions.display());
    let server = TestServer::start(&scored(&pagerduty.url, &extra)).await;
    assert_eq!(post_json(&server.url("/api/v2/alerts"), &alert("SearchDown", "critical")).await.0, 200);
    // Shutdown decides whatever is pending and flushes the log.
    server.stop().await;
    assert!(pagerduty.received().is_empty(), "nothing reached PagerDuty");
    let log = std::fs::read_to_string(&decisions).unwrap();
    let records: Vec<Value> = log.lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    let kinds: Vec<&str> = records.iter().map(|record| record["decision"].as_str().unwrap()).collect();
    assert!(kinds.starts_with(&["opened", "paged"]), "{kinds:?}");
    let id = records[0]["dedup_key"].as_str().unwrap().to_owned();

    // `explain` reads the log.
    let output = Command::new(env!("CARGO_BIN_EXE_noisegate"))
        .args(["explain", &id, "--decisions"])
        .arg(&decisions)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("tier page_high"), "{text}");
    assert!(text.contains("severity          +0.50  critical"), "{text}");
    // What the catalog says of its alerts (this one it does not know).
    assert!(text.contains("not in the catalog, judged by impact and persistence"), "{text}");
}

#[tokio::test]
async fn a_responders_note_is_remembered_and_the_next_page_of_the_same_shape_recalls_it() {
    let pagerduty = FakePagerDuty::start().await;
    let extra = format!("{ROUTE}feedback:\n  webhook_secrets: [{{value: secret}}]\n");
    let server = TestServer::start(&scored(&pagerduty.url, &extra)).await;
    let alerts = server.url("/api/v2/alerts");
    assert_eq!(post_json(&alerts, &alert("SearchDown", "critical")).await.0, 200);
    let key = pagerduty.wait_events(1).await[0]["dedup_key"].as_str().unwrap().to_owned();

    // PagerDuty names the incident by its own id as well; a note names it by that id only.
    let signed = |body: &str| Some(format!("v1={}", sign("secret", body)));
    let acknowledged = format!(
        r#"{{"event": {{"event_type": "incident.acknowledged", "resource_type": "incident",
             "data": {{"id": "Q7", "type": "incident", "incident_key": "{key}"}}}}}}"#
    );
    assert_eq!(webhook(&server, &acknowledged, signed(&acknowledged)).await, 204);
    let annotated = r#"{"event": {"event_type": "incident.annotated", "resource_type": "incident",
         "data": {"id": "N1", "type": "incident_note", "content": "failed over to search-2",
                  "incident": {"id": "Q7", "type": "incident_reference"}}}}"#;
    assert_eq!(webhook(&server, annotated, signed(annotated)).await, 204);

    // It resolves, and later the same problem comes back.
    let resolved = r#"[{"labels": {"alertname": "SearchDown", "severity": "critical", "service": "search"},
        "endsAt": "2001-01-01T00:00:00Z"}]"#;
    assert_eq!(post_json(&alerts, resolved).await.0, 200);
    let events = pagerduty.wait_events(2).await;
    assert_eq!(events[1]["event_action"], "resolve");
    assert_eq!(post_json(&alerts, &alert("SearchDown", "critical")).await.0, 200);
    let events = pagerduty.wait_events(3).await;
    assert_eq!(events[2]["event_action"], "trigger");
    let similar = &events[2]["payload"]["custom_details"]["similar"];
    assert_eq!(similar.as_array().map(Vec::len), Some(1), "{similar:#}");
    assert_eq!(similar[0]["notes"][0], "failed over to search-2", "{similar:#}");
    assert_eq!(similar[0]["ended"], "acknowledged by a responder, then resolved", "{similar:#}");
    assert!(similar[0]["title"].as_str().unwrap().contains("SearchDown"), "{similar:#}");

    // The incidents API and `explain` show it too.
    let incident: Value = serde_json::from_str(
        &http()
            .get(server.admin_url(&format!("/api/v1/incidents/{key}")))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(incident["similar"][0]["notes"][0], "failed over to search-2", "{incident:#}");
    let admin = server.admin_url("");
    let output = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_noisegate"))
            .args(["explain", &key, "--url", &admin])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(text.contains("seen before:") && text.contains("note: failed over to search-2"), "{text}");
    server.stop().await;
}
