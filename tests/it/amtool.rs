//! Alertmanager's API v2 on the admin listener, driven by the real `amtool` (Debian's
//! `prometheus-alertmanager` package), checked against what noisegate then does.

use serde_json::{Value, json};

use crate::support::{FakePagerDuty, ROUTING_KEY, TestServer, alert_names, config_yaml, http};

const ROUTE: &str = "route:\n  group_by: [alertname]\n  group_wait: 0s\n  group_interval: 1s\n";

/// Runs `amtool` against the server's admin listener; its standard output, or a failure with
/// what it said.
async fn amtool(server: &TestServer, args: &[&str]) -> String {
    amtool_at(&server.admin_url(""), args).await
}

async fn amtool_at(url: &str, args: &[&str]) -> String {
    let mut command = std::process::Command::new("amtool");
    command.arg(format!("--alertmanager.url={url}")).args(args);
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

#[tokio::test]
async fn amtool_silence_import_carries_silences_to_another_instance() {
    let pagerduty = FakePagerDuty::start().await;
    let config = config_yaml(&pagerduty.url, ROUTE);
    let old = TestServer::start(&config).await;
    amtool(
        &old,
        &["silence", "add", "alertname=DiskFull", "--comment=disk swap", "--author=ops", "--duration=2h"],
    )
    .await;
    let exported = amtool(&old, &["silence", "query", "-o", "json"]).await;
    old.stop().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("silences.json");
    std::fs::write(&file, &exported).unwrap();

    // A new instance knows none of the ids: `--force` creates each anew.
    let server = TestServer::start(&config).await;
    let imported = amtool(&server, &["silence", "import", "--force", file.to_str().unwrap()]).await;
    let id = imported.trim().to_owned();
    assert!(id.starts_with("silence-"), "amtool silence import printed {imported:?}");
    let listed = amtool(&server, &["silence", "query", "alertname=DiskFull"]).await;
    assert!(listed.contains(&id) && listed.contains("disk swap") && listed.contains("ops"), "{listed}");

    // It mutes as the original did.
    amtool(&server, &["alert", "add", "alertname=DiskFull", "node=db-1", "severity=critical"]).await;
    amtool(&server, &["alert", "add", "alertname=QueueFull", "node=mq-1", "severity=critical"]).await;
    let events = pagerduty.wait_events(1).await;
    assert_eq!(alert_names(&events[0]), vec!["QueueFull"]);
    let shown = amtool(&server, &["alert", "query", "--silenced", "alertname=DiskFull"]).await;
    assert!(shown.contains("DiskFull"), "{shown}");
    server.stop().await;
    assert_eq!(pagerduty.events().len(), 1, "the silenced alert never paged");
}

#[tokio::test]
async fn alert_groups_are_incidents_and_the_ingest_listener_can_serve_the_reading_api() {
    let pagerduty = FakePagerDuty::start().await;
    let config = config_yaml(
        &pagerduty.url,
        &format!("{ROUTE}auth:\n  ingest_tokens:\n    - value: \"ingest-token\"\n"),
    )
    .replacen("server:\n", "server:\n  am_api_on_ingest: true\n", 1);
    let server = TestServer::start(&config).await;
    let bearer = |request: reqwest::RequestBuilder| request.header("authorization", "Bearer ingest-token");
    // Labels that name no node or service: grouped by the route's `group_by`.
    for (name, volume) in [("DiskFull", "data-1"), ("DiskFull", "data-2"), ("QueueFull", "spool")] {
        let alert = json!([{ "labels": { "alertname": name, "volume": volume, "severity": "critical" } }]);
        let response = bearer(http().post(server.url("/api/v2/alerts")))
            .header("content-type", "application/json")
            .body(alert.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }
    pagerduty.wait_events(2).await;

    // Two groups (group_by alertname), each with its alerts and receiver, as Alertmanager's
    // alertGroups; a filter selects alerts, and groups left empty are not listed.
    let groups = get_json(&server.admin_url("/api/v2/alerts/groups")).await;
    let groups = groups.as_array().unwrap();
    assert_eq!(groups.len(), 2, "{groups:?}");
    assert_eq!(groups[0]["labels"], json!({ "alertname": "DiskFull" }));
    assert_eq!(groups[0]["receiver"], json!({ "name": "default" }));
    assert_eq!(groups[0]["alerts"].as_array().unwrap().len(), 2);
    assert_eq!(groups[1]["labels"], json!({ "alertname": "QueueFull" }));
    let filtered = get_json(&server.admin_url("/api/v2/alerts/groups?filter=volume%3D%22data-2%22")).await;
    assert_eq!(filtered.as_array().unwrap().len(), 1, "{filtered}");
    assert_eq!(filtered[0]["alerts"][0]["labels"]["volume"], "data-2");
    let bad = http().get(server.admin_url("/api/v2/alerts/groups?active=maybe")).send().await.unwrap();
    assert_eq!(bad.status(), 400);

    // The ingest listener: reading, behind its own token; amtool reads through it.
    let anonymous = http().get(server.url("/api/v2/alerts")).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    let shown = bearer(http().get(server.url("/api/v2/alerts/groups"))).send().await.unwrap();
    assert_eq!(shown.status(), 200);
    let url = server.url("");
    let web_config = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(web_config.path(), "authorization:\n  type: Bearer\n  credentials: ingest-token\n")
        .unwrap();
    let shown = amtool_at(
        &url,
        &[
            &format!("--http.config.file={}", web_config.path().display()),
            "alert",
            "query",
            "alertname=QueueFull",
        ],
    )
    .await;
    assert!(shown.contains("QueueFull") && !shown.contains("DiskFull"), "{shown}");
    // Writing stays on the admin listener.
    let silence = json!({
        "matchers": [{ "name": "alertname", "value": "DiskFull", "isRegex": false }],
        "startsAt": "2026-01-01T00:00:00Z", "endsAt": "2099-01-01T00:00:00Z", "createdBy": "ops", "comment": "",
    });
    let refused = bearer(http().post(server.url("/api/v2/silences")))
        .header("content-type", "application/json")
        .body(silence.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 405);
    server.stop().await;
}

#[tokio::test]
async fn the_ingest_listener_serves_no_reading_api_unless_asked() {
    let pagerduty = FakePagerDuty::start().await;
    let server = TestServer::start(&config_yaml(&pagerduty.url, ROUTE)).await;
    for path in ["/api/v2/alerts", "/api/v2/silences", "/api/v2/status"] {
        let status = http().get(server.url(path)).send().await.unwrap().status();
        assert!(status == 404 || status == 405, "{path}: {status}");
    }
    server.stop().await;
}
