//! The central layout behaving as one system: replicas of one consumer group share silences
//! and responders' feedback through the control topic, whichever replica was told.
//!
//! To know which replica owns what, the two replicas consume different topics in one group
//! (the group assigns a topic's partitions among the members that subscribe to it).

use serde_json::{Value, json};

use crate::actionability::{sign, webhook};
use crate::kafka::{Broker, kafka_yaml, produce};
use crate::support::{
    FakePagerDuty, PATIENCE, ROUTING_KEY, TestServer, alert_names, config_with, http, post_json,
};

const SECRET: &str = "webhook-secret";

/// A replica of group `central` consuming `topic`, paging with `name` as its client URL.
fn replica(broker: &Broker, pagerduty: &FakePagerDuty, name: &str, topic: &str) -> String {
    let sources = format!("    - {{topic: {topic}, encoding: alertmanager_v2}}");
    // Both forward what their listeners take to the alerts' topic, keyed by cluster.
    let extra = format!(
        "  forward: {{topic: alerts, key_label: cluster}}\nfeedback:\n  webhook_secrets: [{{value: {SECRET}}}]\n"
    );
    config_with(
        &pagerduty.url,
        &format!("  client_url: \"http://{name}\""),
        &kafka_yaml(broker, "central", &sources, &extra),
    )
}

/// A broker, the fake PagerDuty, and two replicas of one group, each owning its partition:
/// `owner` that of `alerts`, `other` that of `spare`.
struct Group {
    broker: Broker,
    pagerduty: FakePagerDuty,
    owner: TestServer,
    other: TestServer,
}

impl Group {
    async fn start() -> Group {
        let broker = Broker::start();
        broker.create_topic("alerts", 1).await;
        broker.create_topic("spare", 1).await;
        let pagerduty = FakePagerDuty::start().await;
        let owner = TestServer::start(&replica(&broker, &pagerduty, "owner", "alerts")).await;
        let other = TestServer::start(&replica(&broker, &pagerduty, "other", "spare")).await;
        owns_its_partition(&owner).await;
        owns_its_partition(&other).await;
        Group { broker, pagerduty, owner, other }
    }
}

async fn owns_its_partition(server: &TestServer) {
    server.wait_metric("noisegate_kafka_partitions", |partitions| partitions == 1.0).await;
}

async fn get_json(url: &str) -> Value {
    let body = http().get(url).send().await.unwrap().text().await.unwrap();
    serde_json::from_str(&body).unwrap_or_else(|parse_error| panic!("{url}: {parse_error}: {body}"))
}

/// Waits (for at most `PATIENCE`) until `url` answers JSON that satisfies `done`.
async fn wait_json(url: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let value = get_json(url).await;
        if done(&value) {
            return value;
        }
        assert!(tokio::time::Instant::now() < deadline, "{what}: {url} answered {value}");
        tokio::task::yield_now().await;
    }
}

fn silence_state(silences: &Value, id: &str) -> Option<String> {
    silences.as_array()?.iter().find(|silence| silence["id"] == id)?["status"]["state"]
        .as_str()
        .map(str::to_owned)
}

fn alert(name: &str) -> Vec<u8> {
    format!(r#"[{{"labels":{{"alertname":"{name}","severity":"critical"}}}}]"#).into_bytes()
}

#[tokio::test]
async fn a_silence_made_on_one_replica_holds_on_another_s_partitions_and_after_its_restart() {
    let Group { broker, pagerduty, owner, other } = Group::start().await;
    let owner_config = replica(&broker, &pagerduty, "owner", "alerts");

    // Made on the replica that does not own the alerts' partition.
    let silence = json!({
        "matchers": [{ "name": "alertname", "value": "DiskFull", "isRegex": false }],
        "startsAt": "2026-01-01T00:00:00Z", "endsAt": "2099-01-01T00:00:00Z",
        "createdBy": "ops", "comment": "disk swap",
    });
    let response = http()
        .post(other.admin_url("/api/v2/silences"))
        .header("content-type", "application/json")
        .body(silence.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let answer: Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
    let id = answer["silenceID"].as_str().unwrap().to_owned();
    let silences = owner.admin_url("/api/v2/silences");
    wait_json(&silences, "the owner has the silence", |silences| {
        silence_state(silences, &id).as_deref() == Some("active")
    })
    .await;

    // The owner's partition engine mutes it; an alert sent after it pages.
    let producer = broker.producer();
    produce(&producer, "alerts", 0, &alert("DiskFull")).await;
    produce(&producer, "alerts", 0, &alert("QueueFull")).await;
    let events = pagerduty.wait_events(1).await;
    assert_eq!(alert_names(&events[0]), vec!["QueueFull"]);
    assert_eq!(events[0]["client_url"], "http://owner");
    // The replica that made the silence shows the owner's alert as silenced by it.
    let shown =
        wait_json(&other.admin_url("/api/v2/alerts?filter=alertname%3D%22DiskFull%22"), "shown", |alerts| {
            alerts.as_array().is_some_and(|alerts| !alerts.is_empty())
        })
        .await;
    assert_eq!(shown[0]["status"]["state"], "suppressed", "{shown}");
    assert_eq!(shown[0]["status"]["silencedBy"], json!([id]), "{shown}");

    // Restarted with no store of its own (a new pod), the owner has it again, from the control
    // topic, before it takes its partition back.
    owner.stop().await;
    let owner = TestServer::start(&owner_config).await;
    owns_its_partition(&owner).await;
    let listed = get_json(&owner.admin_url("/api/v2/silences")).await;
    assert_eq!(silence_state(&listed, &id).as_deref(), Some("active"), "{listed}");
    produce(&producer, "alerts", 0, &alert("DiskFull")).await;
    produce(&producer, "alerts", 0, &alert("Canary")).await;
    pagerduty
        .wait_for("the canary paged", |events| events.iter().any(|event| alert_names(event) == ["Canary"]))
        .await;
    assert!(pagerduty.events().iter().all(|event| !alert_names(event).contains(&"DiskFull".to_owned())));

    // Expired where it was made: it ends on the owner too, and the alert still firing pages.
    let expired = http().delete(other.admin_url(&format!("/api/v2/silence/{id}"))).send().await.unwrap();
    assert_eq!(expired.status(), 200);
    wait_json(&owner.admin_url("/api/v2/silences"), "expired on the owner", |silences| {
        silence_state(silences, &id).as_deref() == Some("expired")
    })
    .await;
    pagerduty
        .wait_for("the unsilenced alert paged", |events| {
            events
                .iter()
                .any(|event| alert_names(event) == ["DiskFull"] && event["client_url"] == "http://owner")
        })
        .await;
    owner.stop().await;
    other.stop().await;
}

#[tokio::test]
async fn feedback_sent_to_one_replica_teaches_the_one_that_owns_the_incident() {
    let Group { broker, pagerduty, owner, other } = Group::start().await;

    produce(&broker.producer(), "alerts", 0, &alert("SearchDown")).await;
    let key = pagerduty.wait_events(1).await[0]["dedup_key"].as_str().unwrap().to_owned();

    // PagerDuty's webhook reaches the replica that does not own the incident.
    let body = format!(
        r#"{{"event": {{"id": "01", "event_type": "incident.acknowledged", "resource_type": "incident",
             "occurred_at": "2026-11-02T00:05:00Z",
             "data": {{"id": "Q1", "type": "incident", "incident_key": "{key}", "status": "acknowledged"}}}}}}"#
    );
    assert_eq!(webhook(&other, &body, Some(format!("v1={}", sign(SECRET, &body)))).await, 204);

    // The owner learns that SearchDown was acted on; the other replica holds no such incident.
    let acted = |stats: &Value| {
        stats
            .as_array()
            .unwrap()
            .iter()
            .find(|kind| kind["kind"] == "SearchDown")
            .map(|kind| kind["acted"].clone())
    };
    wait_json(&owner.admin_url("/api/v1/feedback"), "the owner learned the acknowledgement", |stats| {
        acted(stats) == Some(json!(1))
    })
    .await;
    let elsewhere = get_json(&other.admin_url("/api/v1/feedback")).await;
    assert!(acted(&elsewhere).is_none_or(|acted| acted == 0), "{elsewhere}");

    // And scores by it: the next SearchDown incident's page says responders acted on its kind.
    let why = |event: &Value| event["payload"]["custom_details"]["why"].to_string();
    let first = pagerduty.events()[0].clone();
    assert!(!why(&first).contains("responders acted on"), "{first}");
    let producer = broker.producer();
    let resolved =
        br#"[{"labels":{"alertname":"SearchDown","severity":"critical"},"endsAt":"2020-01-01T00:00:00Z"}]"#;
    produce(&producer, "alerts", 0, resolved).await;
    pagerduty
        .wait_for("the first incident resolved", |events| {
            events
                .iter()
                .any(|event| event["dedup_key"] == key.as_str() && event["event_action"] == "resolve")
        })
        .await;
    produce(&producer, "alerts", 0, &alert("SearchDown")).await;
    let triggers = |events: &[Value]| {
        events.iter().filter(|event| event["event_action"] == "trigger").cloned().collect::<Vec<Value>>()
    };
    let events = pagerduty.wait_for("a second incident paged", |events| triggers(events).len() == 2).await;
    let second = &triggers(&events)[1];
    assert!(why(second).contains("responders acted on"), "{second}");
    owner.stop().await;
    other.stop().await;
}

#[tokio::test]
async fn requests_to_a_replica_s_listeners_are_paged_once_by_the_owner_of_their_partition() {
    let Group { broker: _broker, pagerduty, owner, other } = Group::start().await;

    // Accepted by the replica that does not own the cluster's partition: answered once Kafka
    // has it, paged by the owner.
    let alert = r#"[{"labels": {"alertname": "ApiDown", "severity": "critical", "cluster": "eu-1"}}]"#;
    assert_eq!(post_json(&other.url("/api/v2/alerts"), alert).await.0, 200);
    let events = pagerduty.wait_events(1).await;
    assert_eq!(alert_names(&events[0]), vec!["ApiDown"]);
    assert_eq!(events[0]["client_url"], "http://owner");

    // A PagerDuty integration's trigger and resolve (which has no labels) meet on one partition.
    let event = |action: &str| {
        json!({
            "routing_key": ROUTING_KEY, "event_action": action, "dedup_key": "disk-7",
            "payload": { "summary": "disk full on db-7", "source": "db-7", "severity": "critical" },
        })
        .to_string()
    };
    assert_eq!(post_json(&other.url("/v2/enqueue"), &event("trigger")).await.0, 202);
    let events = pagerduty
        .wait_for("the trigger paged", |events| events.iter().any(|event| event.to_string().contains("db-7")))
        .await;
    let key = events.iter().find(|event| event.to_string().contains("db-7")).unwrap()["dedup_key"].clone();
    assert_eq!(post_json(&other.url("/v2/enqueue"), &event("resolve")).await.0, 202);
    pagerduty
        .wait_for("the trigger's incident resolved", |events| {
            events.iter().any(|event| event["dedup_key"] == key && event["event_action"] == "resolve")
        })
        .await;

    // Nothing of it is held by the replica that took the requests, but its admin API shows
    // the owner's incidents and alerts, as the owner last published them.
    assert_eq!(other.metric("noisegate_active_alerts").await, 0.0);
    let incidents =
        wait_json(&other.admin_url("/api/v1/incidents"), "the owner's incident shown", |incidents| {
            incidents
                .as_array()
                .unwrap()
                .iter()
                .any(|incident| incident["group_labels"]["alertname"] == "ApiDown")
        })
        .await;
    let api_down = incidents
        .as_array()
        .unwrap()
        .iter()
        .find(|incident| incident["group_labels"]["alertname"] == "ApiDown")
        .unwrap();
    assert_eq!(api_down["partition"], "alerts/0");
    let id = api_down["id"].as_str().unwrap();
    let detail = get_json(&other.admin_url(&format!("/api/v1/incidents/{id}"))).await;
    assert_eq!(detail["alerts"][0]["labels"]["cluster"], "eu-1", "{detail}");
    let alerts = get_json(&other.admin_url("/api/v2/alerts?filter=cluster%3D%22eu-1%22")).await;
    assert_eq!(alerts.as_array().unwrap().len(), 1, "{alerts}");
    assert_eq!(alerts[0]["labels"]["alertname"], "ApiDown");
    let groups = get_json(&other.admin_url("/api/v2/alerts/groups?filter=alertname%3D%22ApiDown%22")).await;
    assert_eq!(groups[0]["labels"], json!({ "alertname": "ApiDown" }), "{groups}");
    owner.stop().await;
    other.stop().await;
    let events = pagerduty.events();
    let triggers = events.iter().filter(|event| event["event_action"] == "trigger").count();
    assert_eq!(triggers, 2, "each paged once: {events:?}");
    assert!(events.iter().all(|event| event["client_url"] == "http://owner"), "{events:?}");
}

#[tokio::test]
async fn forwarding_to_a_topic_that_does_not_exist_is_a_startup_error() {
    let broker = Broker::start();
    broker.create_topic("alerts", 1).await;
    let pagerduty = FakePagerDuty::start().await;
    let config = replica(&broker, &pagerduty, "lost", "alerts")
        .replace("forward: {topic: alerts,", "forward: {topic: alertz,");
    let error = TestServer::start_error(&config).await;
    assert!(error.contains("kafka.forward: topic \"alertz\" does not exist"), "{error}");
}
