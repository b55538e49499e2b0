//! Alertmanager's API v2 on the admin listener, driven by the real `amtool` (Debian's
//! `prometheus-alertmanager` package), checked against what noisegate then does.

use serde_json::{Value, json};

use crate::support::{FakePagerDuty, ROUTING_KEY, TestServer, alert_names, config_yaml, http};

const ROUTE: &str = "route:\n  group_by: [alertname]\n  group_wait: 0s\n  group_interval: 1s\n";

/// Runs `amtool` against the server's admin listener; its standard output, or a failure with
/// what it said.
async fn amtool(server: &TestServer, args: &[&str]) -> String {
    let url = format!("--alertmanager.url={}", server.admin_url(""));
    let mut command = std::process::Command::new("amtool");
    command.arg(url).args(args);
    let shown = format!("amtool {}", args.join(" "));
    let output =
        tokio::task::spawn_blocking(move || command.output()).await.unwrap().unwrap_or_else(|spawn_error| {
            panic!("cannot run amtool (prometheus-alertmanager installed?): {spawn_error}")
        });
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "{shown} failed: {}\n{stdout}", String::from_utf8_lossy(&output.stderr));
    stdout
}

async fn get_json(url: &str) -> Value {
    let body = http().get(url).send().await.unwrap().text().await.unwrap();
    serde_json::from_str(&body).unwrap_or_else(|parse_error| panic!("{url}: {parse_error}: {body}"))
}

#[tokio::test]
async fn amtool_silences_mute_until_expired() {
    let pagerduty = FakePagerDuty::start().await;
    let server = TestServer::start(&config_yaml(&pagerduty.url, ROUTE)).await;

    let added = amtool(
        &server,
        &[
            "silence",
            "add",
            "alertname=DiskFull",
            "node=~db-.*",
            "--comment=disk swap",
            "--author=ops",
            "--duration=2h",
        ],
    )
    .await;
    let id = added.trim().to_owned();
    assert!(id.starts_with("silence-"), "amtool silence add printed {added:?}");

    // Listed, found by a matcher on one of its labels, not by one on another value.
    let listed = amtool(&server, &["silence", "query", "alertname=DiskFull"]).await;
    assert!(listed.contains(&id) && listed.contains("disk swap") && listed.contains("ops"), "{listed}");
    assert!(listed.contains(r#"node=~"db-.*""#), "{listed}");
    let others = amtool(&server, &["silence", "query", "-q", "alertname=QueueFull"]).await;
    assert!(others.trim().is_empty(), "{others}");

    // Alerts through amtool too. Muted: nothing pages for it, while an unrelated alert sent
    // after it does.
    amtool(&server, &["alert", "add", "alertname=DiskFull", "node=db-1", "severity=critical"]).await;
    amtool(&server, &["alert", "add", "alertname=QueueFull", "node=mq-1", "severity=critical"]).await;
    let events = pagerduty.wait_events(1).await;
    assert_eq!(alert_names(&events[0]), vec!["QueueFull"]);

    // amtool hides silenced alerts unless asked; matchers select.
    let shown = amtool(&server, &["alert", "query"]).await;
    assert!(shown.contains("QueueFull") && !shown.contains("DiskFull"), "{shown}");
    let shown = amtool(&server, &["alert", "query", "--silenced", "node=~db-.*"]).await;
    assert!(shown.contains("DiskFull") && !shown.contains("QueueFull"), "{shown}");
    let json = amtool(&server, &["alert", "query", "--silenced", "-o", "json", "alertname=DiskFull"]).await;
    let alerts: Vec<Value> = serde_json::from_str(&json).unwrap();
    assert_eq!(alerts.len(), 1, "{json}");
    assert_eq!(alerts[0]["status"]["state"], "suppressed");
    assert_eq!(alerts[0]["status"]["silencedBy"], json!([id]));
    assert_eq!(alerts[0]["receivers"], json!([{ "name": "default" }]));

    let silence = get_json(&server.admin_url(&format!("/api/v2/silence/{id}"))).await;
    assert_eq!(silence["status"]["state"], "active");
    assert_eq!(
        silence["matchers"][1],
        json!({"name": "node", "value": "db-.*", "isRegex": true, "isEqual": true})
    );
    amtool(&server, &["silence", "expire", &id]).await;
    let unknown = http().get(server.admin_url("/api/v2/silence/nope")).send().await.unwrap();
    assert_eq!(unknown.status(), 404);
    let active = amtool(&server, &["silence", "query", "-q"]).await;
    assert!(!active.contains(&id), "an expired silence is not listed as active: {active}");
    let expired = amtool(&server, &["silence", "query", "--expired", "-q"]).await;
    assert!(expired.contains(&id), "{expired}");

    // The still-firing alert pages once its silence is gone, and shows as active.
    let events = pagerduty.wait_events(2).await;
    assert_eq!(alert_names(&events[1]), vec!["DiskFull"]);
    let shown = amtool(&server, &["alert", "query", "alertname=DiskFull"]).await;
    assert!(shown.contains("DiskFull"), "{shown}");
    server.stop().await;
}

#[tokio::test]
async fn amtool_shows_the_config_without_its_secrets() {
    let pagerduty = FakePagerDuty::start().await;
    let server = TestServer::start(&config_yaml(&pagerduty.url, ROUTE)).await;
    let shown = amtool(&server, &["config", "show"]).await;
    assert!(shown.contains("group_by") && shown.contains("routing_keys"), "{shown}");
    assert!(!shown.contains(ROUTING_KEY), "the routing key is shown: {shown}");
    let receivers = get_json(&server.admin_url("/api/v2/receivers")).await;
    assert_eq!(receivers, json!([{ "name": "default" }, { "name": "digest" }]));
    server.stop().await;
}

#[tokio::test]
async fn amtool_silence_update_replaces_the_silence() {
    let pagerduty = FakePagerDuty::start().await;
    let server = TestServer::start(&config_yaml(&pagerduty.url, ROUTE)).await;
    let added =
        amtool(&server, &["silence", "add", "alertname=DiskFull", "--comment=first", "--author=ops"]).await;
    let old = added.trim().to_owned();
    // It prints the new silence as a table (amtool 0.25's `--quiet` prints a pointer here).
    let updated = amtool(&server, &["silence", "update", &old, "--comment=second"]).await;
    let new =
        updated.lines().nth(1).and_then(|row| row.split_whitespace().next()).unwrap_or_default().to_owned();
    assert!(new.starts_with("silence-") && new != old, "amtool silence update printed {updated:?}");

    let old_silence = get_json(&server.admin_url(&format!("/api/v2/silence/{old}"))).await;
    assert_eq!(old_silence["status"]["state"], "expired");
    let new_silence = get_json(&server.admin_url(&format!("/api/v2/silence/{new}"))).await;
    assert_eq!(new_silence["status"]["state"], "active");
    assert_eq!(new_silence["comment"], "second");
    assert_eq!(new_silence["createdBy"], "ops");
    assert_eq!(
        new_silence["matchers"],
        json!([{"name": "alertname", "value": "DiskFull", "isRegex": false, "isEqual": true}])
    );
    server.stop().await;
}
