//! The Opsgenie sink: the real service paging a fake Opsgenie Alert API. Its outage, kill -9
//! and storm tests are `durability`'s, run for every sink.

use serde_json::Value;

use crate::support::{
    Destination, FakeOpsgenie, FakePagerDuty, OPSGENIE_KEY, ROUTING_KEY, TestServer, config_for, post_json,
};

const ROUTE: &str = "route:\n  group_by: [alertname]\n  group_wait: 0s\n  group_interval: 1s\n";

fn trigger(summary: &str, severity: &str) -> String {
    format!(
        r#"{{"routing_key": "their-integration-key", "event_action": "trigger", "dedup_key": "db/disk 1",
            "payload": {{"summary": "{summary}", "source": "db-1.example", "severity": "{severity}",
                         "component": "postgres", "custom_details": {{"free_percent": 3}}}},
            "links": [{{"href": "https://grafana.example/d/disk", "text": "dashboard"}}]}}"#
    )
}

/// The priority the default `opsgenie.priority` gives the tier a create names.
fn priority_of(create: &Value) -> &'static str {
    match create["details"]["tier"].as_str() {
        Some("page_high") => "P1",
        Some("page_low") => "P3",
        _ => "P5",
    }
}

#[tokio::test]
async fn an_incident_is_created_updated_acknowledged_and_closed_by_its_alias() {
    let opsgenie = FakeOpsgenie::start().await;
    let server = TestServer::start(&config_for(&opsgenie, "", ROUTE)).await;
    let url = server.url("/v2/enqueue");

    assert_eq!(post_json(&url, &trigger("Disk almost full on db-1", "error")).await.0, 202);
    let created = opsgenie.wait_requests(1).await;
    let create = &created[0];
    assert_eq!((create.method.as_str(), create.path.as_str()), ("POST", "/v2/alerts"));
    let alias = create.body["alias"].as_str().unwrap().to_owned();
    assert!(create.body["message"].as_str().unwrap().starts_with("Disk almost full on db-1"), "{create:#?}");
    assert_eq!(create.body["source"], "db-1.example");
    assert_eq!(create.body["priority"], priority_of(&create.body), "{create:#?}");
    let description = create.body["description"].as_str().unwrap();
    assert!(description.contains(": https://grafana.example/d/disk"), "{description}");

    // The same alert, now critical: the incident changed; Opsgenie hears it as a note on the same
    // alert (and its priority), not as a second alert.
    assert_eq!(post_json(&url, &trigger("Disk full on db-1", "critical")).await.0, 202);
    let updated = opsgenie.wait_requests(4).await;
    let requests: Vec<(&str, &str)> =
        updated[1..].iter().map(|request| (request.method.as_str(), request.path.as_str())).collect();
    let at = |action: &str| {
        format!("/v2/alerts/{}/{action}?identifierType=alias", alias.replace('/', "%2F").replace(' ', "%20"))
    };
    assert_eq!(
        requests,
        [("POST", "/v2/alerts"), ("POST", at("notes").as_str()), ("PUT", at("priority").as_str())]
    );
    assert_eq!(updated[1].body["alias"], alias.as_str());
    assert_eq!(updated[3].body["priority"], priority_of(&updated[1].body), "the tier's priority now");
    assert!(
        updated[2].body["note"].as_str().unwrap().starts_with("Changed: Disk full on db-1"),
        "{:#?}",
        updated[2]
    );

    let acknowledge = r#"{"routing_key": "their-integration-key", "event_action": "acknowledge", "dedup_key": "db/disk 1"}"#;
    assert_eq!(post_json(&url, acknowledge).await.0, 202);
    let acknowledged = opsgenie.wait_requests(5).await;
    assert_eq!(
        (acknowledged[4].method.as_str(), acknowledged[4].path.as_str()),
        ("POST", at("acknowledge").as_str())
    );
    let resolve = acknowledge.replace("acknowledge", "resolve");
    assert_eq!(post_json(&url, &resolve).await.0, 202);
    let all = opsgenie.wait_requests(6).await;
    assert_eq!((all[5].method.as_str(), all[5].path.as_str()), ("POST", at("close").as_str()));
    for (action, pages) in [("trigger", 2.0), ("acknowledge", 1.0), ("resolve", 1.0)] {
        let sent = format!("noisegate_pages_sent_total{{action=\"{action}\"}}");
        server.wait_metric(&sent, |value| value >= pages).await;
    }
    server.stop().await;

    let received = opsgenie.received();
    assert_eq!(received.len(), 6, "nothing is sent twice: {received:#?}");
    let key = format!("GenieKey {OPSGENIE_KEY}");
    assert!(received.iter().all(|request| request.authorization.as_deref() == Some(key.as_str())));
    assert!(received.iter().all(|request| request.status == 202));
}

#[tokio::test]
async fn routes_page_pagerduty_or_opsgenie_by_the_destination_they_name() {
    let opsgenie = FakeOpsgenie::start().await;
    let pagerduty = FakePagerDuty::start().await;
    let extra = format!(
        "pagerduty:\n  url: \"{}\"\n  routing_keys:\n    db-team: {{ value: \"{ROUTING_KEY}\" }}\n  retry: {{initial_backoff: 10ms, max_backoff: 50ms}}\n\
         route:\n  group_by: [alertname]\n  group_wait: 0s\n  routes:\n    - matchers: ['team=\"db\"']\n      routing_key: db-team\n",
        pagerduty.url
    );
    // The root route pages `ops` (Opsgenie); team=db pages `db-team` (PagerDuty).
    let config = config_for(&opsgenie, "", &extra)
        .replace("    default: {", "    ops: {")
        .replace("route:\n  group_by", "route:\n  destination: ops\n  group_by");
    let server = TestServer::start(&config).await;
    let alerts = r#"[{"labels": {"alertname": "DiskFull", "team": "db", "severity": "critical"}},
                     {"labels": {"alertname": "CheckoutDown", "team": "web", "severity": "critical"}}]"#;
    assert_eq!(post_json(&server.url("/api/v2/alerts"), alerts).await.0, 200);
    let to_pagerduty = pagerduty.wait_seen("DiskFull paged", |seen| !seen.is_empty()).await;
    let to_opsgenie = opsgenie.wait_seen("CheckoutDown created", |seen| !seen.is_empty()).await;
    server.stop().await;
    assert!(to_pagerduty[0].summary.as_deref().unwrap().starts_with("DiskFull"), "{to_pagerduty:?}");
    assert!(to_opsgenie[0].summary.as_deref().unwrap().starts_with("CheckoutDown"), "{to_opsgenie:?}");
    assert_eq!((pagerduty.seen().len(), opsgenie.seen().len()), (1, 1));
}

#[tokio::test]
async fn a_refused_key_dead_letters_the_page_without_the_key_and_delivery_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let opsgenie = FakeOpsgenie::start().await;
    // 403: the key may not create alerts. Retrying cannot help; the next page must not wait.
    opsgenie.script(&[403]);
    let storage = format!("{ROUTE}storage:\n  dir: \"{}\"\n", dir.path().display());
    let server = TestServer::start(&config_for(&opsgenie, "", &storage)).await;
    let url = server.url("/api/v2/alerts");
    let refused = r#"[{"labels": {"alertname": "Refused", "severity": "critical"}}]"#;
    assert_eq!(post_json(&url, refused).await.0, 200);
    opsgenie.wait_requests(1).await;
    let next = r#"[{"labels": {"alertname": "Next", "severity": "critical"}}]"#;
    assert_eq!(post_json(&url, next).await.0, 200);
    let received = opsgenie.wait_requests(2).await;
    assert_eq!((received[0].status, received[1].status), (403, 202));
    assert!(received[1].body["message"].as_str().unwrap().starts_with("Next"));
    let failed = "noisegate_pages_failed_total{reason=\"rejected\"}";
    server.wait_metric(failed, |value| value >= 1.0).await;
    server.stop().await;

    let text = std::fs::read_to_string(dir.path().join("dead-letter.jsonl")).unwrap();
    assert!(!text.contains(OPSGENIE_KEY), "the key never lands on disk: {text}");
    let lines: Vec<Value> = text.lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    assert_eq!(lines.len(), 1, "{text}");
    assert_eq!(
        (lines[0]["sink"].as_str(), lines[0]["reason"].as_str()),
        (Some("opsgenie"), Some("rejected"))
    );
    assert!(lines[0]["detail"].as_str().unwrap().starts_with("opsgenie answered 403"), "{text}");
    assert!(lines[0]["event"]["message"].as_str().unwrap().starts_with("Refused"), "{text}");
}
