//! Reloading the config and inventory while serving: state kept, bad configs refused.

use serde_json::Value;

use crate::support::{FakePagerDuty, Process, TestServer, alert_names, config_yaml, http, temp_path};

const ROUTE: &str = "route:\n  group_by: [alertname]\n  group_wait: 0s\n  group_interval: 1s\ntopology:\n  file: inventory.json\n";

fn inventory(api_depends_on: &str, db_depends_on: &str) -> String {
    format!(
        r#"{{"services": {{"db": {{"kind": "postgres", "depends_on": [{db_depends_on}]}},
                           "api": {{"depends_on": [{api_depends_on}]}}}}}}"#
    )
}

fn critical(name: &str, service: &str) -> String {
    format!(r#"[{{"labels": {{"alertname": "{name}", "service": "{service}", "severity": "critical"}}}}]"#)
}

async fn post(url: &str, body: String) -> (u16, Value) {
    let response =
        http().post(url).header("content-type", "application/json").body(body).send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

#[tokio::test]
async fn a_reload_changes_correlation_keeps_open_incidents_and_refuses_bad_configs() {
    let dir = tempfile::tempdir().unwrap();
    let pagerduty = FakePagerDuty::start().await;
    let config_path = temp_path(&dir, "noisegate.yaml");
    std::fs::write(&config_path, config_yaml(&pagerduty.url, ROUTE)).unwrap();
    let inventory_path = temp_path(&dir, "inventory.json");
    // At first the api does not depend on the db.
    std::fs::write(&inventory_path, inventory("", "")).unwrap();
    let server = TestServer::start_from_file(&config_path).await;
    let alerts = server.url("/api/v2/alerts");
    let reload = server.admin_url("/-/reload");

    assert_eq!(post(&alerts, critical("DbDown", "db")).await.0, 200);
    let opened = pagerduty.wait_events(1).await[0].clone();

    // Now it does: the api's errors join the open db incident instead of opening their own.
    std::fs::write(&inventory_path, inventory("\"db\"", "")).unwrap();
    let (status, body) = post(&reload, String::new()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(post(&alerts, critical("ApiErrors", "api")).await.0, 200);
    let update = pagerduty.wait_events(2).await[1].clone();
    assert_eq!(update["dedup_key"], opened["dedup_key"], "the open incident survived the reload");
    assert_eq!(alert_names(&update), vec!["DbDown", "ApiErrors"]);
    assert_eq!(update["payload"]["custom_details"]["probable_cause"]["entity"], "db");

    // A cycle in depends_on is refused with its path; the previous inventory stays in force.
    std::fs::write(&inventory_path, inventory("\"db\"", "\"api\"")).unwrap();
    let (status, body) = post(&reload, String::new()).await;
    assert_eq!(status, 400);
    let errors = body["errors"].as_array().unwrap();
    assert!(errors.iter().any(|error| error.as_str().unwrap().contains("cycle in depends_on")), "{body}");
    assert_eq!(server.metric("noisegate_config_reloads_total{outcome=\"failure\"}").await, 1.0);
    assert_eq!(server.metric("noisegate_config_reloads_total{outcome=\"success\"}").await, 1.0);
    assert_eq!(post(&alerts, critical("ApiLatency", "api")).await.0, 200);
    let update = pagerduty.wait_events(3).await[2].clone();
    assert_eq!(update["dedup_key"], opened["dedup_key"]);
    assert_eq!(alert_names(&update), vec!["DbDown", "ApiErrors", "ApiLatency"]);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_the_binary_and_a_bad_config_is_refused_and_logged() {
    let dir = tempfile::tempdir().unwrap();
    let pagerduty = FakePagerDuty::start().await;
    let config_path = temp_path(&dir, "noisegate.yaml");
    let good = format!("{}\nstorage:\n  dir: data\n", config_yaml(&pagerduty.url, "route: {group_wait: 0s}"));
    std::fs::write(&config_path, &good).unwrap();
    let (path, cwd) = (config_path.clone(), dir.path().to_owned());
    let mut process = tokio::task::spawn_blocking(move || Process::serve(&path, &cwd)).await.unwrap();
    let hangup = |pid: u32| {
        let sent =
            std::process::Command::new("sh").args(["-c", &format!("kill -HUP {pid}")]).status().unwrap();
        assert!(sent.success());
    };

    // A silence added to the file holds after SIGHUP.
    std::fs::write(
        &config_path,
        format!("{good}silences:\n  - matchers: ['alertname=\"Muted\"']\n    start: 2020-01-01T00:00:00Z\n    end: 2100-01-01T00:00:00Z\n"),
    )
    .unwrap();
    hangup(process.child.id());
    let mut process = tokio::task::spawn_blocking(move || {
        process.wait_log("config reloaded");
        process
    })
    .await
    .unwrap();
    let body = r#"[{"labels":{"alertname":"Muted","severity":"critical"}},{"labels":{"alertname":"Control","severity":"critical"}}]"#;
    let (status, _) = post(&process.url("/api/v2/alerts"), body.to_owned()).await;
    assert_eq!(status, 200);
    let events = pagerduty
        .wait_for("the control alert paged", |events| {
            events.iter().any(|event| alert_names(event) == ["Control"])
        })
        .await;
    assert!(events.iter().all(|event| alert_names(event) == ["Control"]), "{events:#?}");

    // A broken file is refused, logged, and the old config stays.
    std::fs::write(&config_path, "route: {group_wait: soon}\n").unwrap();
    hangup(process.child.id());
    let process = tokio::task::spawn_blocking(move || {
        let refused = process.wait_log("config reload refused; the old config stays in force");
        assert!(
            refused["fields"]["errors"].as_str().unwrap_or_default().contains("route.group_wait"),
            "{refused}"
        );
        process
    })
    .await
    .unwrap();
    let metrics = http().get(process.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("noisegate_config_reloads_total{outcome=\"success\"} 1"), "{metrics}");
    assert!(metrics.contains("noisegate_config_reloads_total{outcome=\"failure\"} 1"), "{metrics}");
    let (code, _) = tokio::task::spawn_blocking(move || process.terminate()).await.unwrap();
    assert_eq!(code, Some(0));
}

/// The open incidents as the admin API shows them: each one's key, when it opened, and its
/// alerts' names.
async fn incidents(process: &Process) -> Vec<(String, String, Vec<String>)> {
    let get = |path: String| async move {
        let text = http().get(process.admin_url(&path)).send().await.unwrap().text().await.unwrap();
        serde_json::from_str::<Value>(&text).unwrap()
    };
    let mut incidents = Vec::new();
    for listed in get("/api/v1/incidents".to_owned()).await.as_array().unwrap() {
        let id = listed["id"].as_str().unwrap().to_owned();
        let incident = get(format!("/api/v1/incidents/{id}")).await;
        let mut names: Vec<String> = incident["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|alert| alert["labels"]["alertname"].as_str().unwrap_or_default().to_owned())
            .collect();
        names.sort();
        incidents.push((id, incident["opened_at"].as_str().unwrap_or_default().to_owned(), names));
    }
    incidents.sort();
    incidents
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_after_a_reload_it_restarts_to_the_state_it_had() {
    let dir = tempfile::tempdir().unwrap();
    let pagerduty = FakePagerDuty::start().await;
    let config_path = temp_path(&dir, "noisegate.yaml");
    let route = "route:\n  group_by: [alertname]\n  group_wait: 0s\n  group_interval: 1h\ntopology:\n  file: inventory.json\n";
    // No snapshot before the kill: the restart reads the whole log.
    let config = format!("{}\nstorage:\n  dir: data\n", config_yaml(&pagerduty.url, route));
    std::fs::write(&config_path, &config).unwrap();
    let inventory_path = temp_path(&dir, "inventory.json");
    std::fs::write(&inventory_path, inventory("", "")).unwrap();
    let start = || {
        let (path, cwd) = (config_path.clone(), dir.path().to_owned());
        tokio::task::spawn_blocking(move || Process::serve(&path, &cwd))
    };
    let process = start().await.unwrap();

    // The api does not depend on the db yet: two incidents.
    for body in [critical("DbDown", "db"), critical("ApiErrors", "api")] {
        assert_eq!(post(&process.url("/api/v2/alerts"), body).await.0, 200);
    }
    // Now it does: the db's next alert joins the db's incident, and the api's stays apart.
    std::fs::write(&inventory_path, inventory("\"db\"", "")).unwrap();
    let (status, body) = post(&process.admin_url("/-/reload"), String::new()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(post(&process.url("/api/v2/alerts"), critical("DbSlow", "db")).await.0, 200);
    let before = incidents(&process).await;
    let names: Vec<&[String]> = before.iter().map(|(_, _, names)| names.as_slice()).collect();
    assert_eq!(names.len(), 2, "{before:?}");
    assert!(names.contains(&["ApiErrors".to_owned()].as_slice()), "{before:?}");
    assert!(names.contains(&["DbDown".to_owned(), "DbSlow".to_owned()].as_slice()), "{before:?}");

    // kill -9, and a start on the reloaded files: the alerts taken before the reload are
    // applied under the inventory of then, not joined into one incident by today's.
    tokio::task::spawn_blocking(move || process.kill()).await.unwrap();
    let process = start().await.unwrap();
    assert_eq!(incidents(&process).await, before);
    tokio::task::spawn_blocking(move || process.kill()).await.unwrap();
}
