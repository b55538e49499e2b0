//! On-call health against the running service: incidents paged to the fake PagerDuty,
//! acknowledged and resolved through signed V3 webhooks at known times, give the exact figures;
//! the records survive kill -9 and are deleted past their retention.

use serde_json::Value;

use crate::actionability::{sign, webhook};
use crate::support::{FakePagerDuty, Process, TestServer, config_yaml, http, post_json, temp_path};

const SECRET: &str = "webhook-secret";

/// New York time, no business days: every page is out of hours.
fn config(pagerduty_url: &str, extra: &str) -> String {
    let oncall = format!(
        "route:\n  group_by: [alertname]\n  group_wait: 0s\n  group_interval: 1s\n\
         feedback:\n  webhook_secrets: [{{value: {SECRET}}}]\n\
         oncall:\n  schedule: {{timezone: America/New_York, handover: \"09:00\", business_hours: {{days: []}}}}\n{extra}"
    );
    config_yaml(pagerduty_url, &oncall)
}

fn alert(name: &str, resolved: bool) -> String {
    let ends = if resolved { r#", "endsAt": "2020-01-01T00:00:00Z""# } else { "" };
    format!(r#"[{{"labels": {{"alertname": "{name}", "severity": "critical", "service": "search"}}{ends}}}]"#)
}

/// A V3 webhook event about the incident `key`, at `at` (milliseconds).
fn event(key: &str, event_type: &str, at: i64) -> String {
    let occurred = jiff::Timestamp::from_millisecond(at).unwrap();
    format!(
        r#"{{"event": {{"id": "{event_type}-{key}", "event_type": "{event_type}", "resource_type": "incident",
             "occurred_at": "{occurred}",
             "data": {{"id": "Q1", "type": "incident", "incident_key": "{key}"}}}}}}"#
    )
}

async fn get_json(url: &str) -> Value {
    let body = http().get(url).send().await.unwrap().text().await.unwrap();
    serde_json::from_str(&body).unwrap_or_else(|parse_error| panic!("{url}: {parse_error}: {body}"))
}

/// The record of the incident `key`, once it has one that satisfies `done`.
async fn record(admin: &str, key: &str, done: impl Fn(&Value) -> bool) -> Value {
    let url = format!("{admin}/api/v1/oncall/incidents?from=1d");
    let deadline = tokio::time::Instant::now() + crate::support::PATIENCE;
    loop {
        let records = get_json(&url).await;
        if let Some(record) = records.as_array().unwrap().iter().find(|record| record["dedup_key"] == key) {
            if done(record) {
                return record.clone();
            }
        }
        assert!(tokio::time::Instant::now() < deadline, "no such record of {key}: {records}");
        tokio::task::yield_now().await;
    }
}

#[tokio::test]
async fn acknowledgements_and_resolves_at_known_times_give_exact_figures() {
    let pagerduty = FakePagerDuty::start().await;
    let server = TestServer::start(&config(&pagerduty.url, "")).await;
    let admin = server.admin_url("");
    assert_eq!(post_json(&server.url("/api/v2/alerts"), &alert("SearchDown", false)).await.0, 200);
    assert_eq!(post_json(&server.url("/api/v2/alerts"), &alert("DiskSlow", false)).await.0, 200);
    let events = pagerduty.wait_events(2).await;
    let key_of = |name: &str| {
        events.iter().find(|event| event["payload"]["summary"] == name).unwrap()["dedup_key"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let (search, disk) = (key_of("SearchDown"), key_of("DiskSlow"));

    // SearchDown: acknowledged 2 minutes after its page, resolved 10 minutes after it, by
    // PagerDuty's word. DiskSlow: never acknowledged, resolved by its alert.
    let paged =
        record(&admin, &search, |record| record["paged_at"].is_i64()).await["paged_at"].as_i64().unwrap();
    for (event_type, after) in [("incident.acknowledged", 120_000), ("incident.resolved", 600_000)] {
        let body = event(&search, event_type, paged + after);
        assert_eq!(webhook(&server, &body, Some(format!("v1={}", sign(SECRET, &body)))).await, 204);
    }
    assert_eq!(post_json(&server.url("/api/v2/alerts"), &alert("DiskSlow", true)).await.0, 200);
    let disk_record = record(&admin, &disk, |record| record["resolved_at"].is_i64()).await;
    let searched = record(&admin, &search, |record| record["resolved_by"] == "PagerDuty").await;
    assert_eq!(searched["acknowledged_at"].as_i64(), Some(paged + 120_000));
    assert_eq!(searched["acknowledged_by"], "PagerDuty");
    assert_eq!(searched["resolved_at"].as_i64(), Some(paged + 600_000));
    assert_eq!(searched["tier"], "page_high");
    assert_eq!(searched["kinds"], serde_json::json!(["SearchDown"]));
    assert_eq!(disk_record["resolved_by"], "Alerts");
    // What came in for DiskSlow: its firing and its resolve, one episode.
    assert_eq!(disk_record["counts"]["received"], 2);
    assert_eq!(disk_record["counts"]["alerts"], 1);
    assert_eq!(disk_record["counts"]["deduplicated"], 0);
    let disk_mttr = (disk_record["resolved_at"].as_i64().unwrap() - disk_record["paged_at"].as_i64().unwrap())
        as f64
        / 1000.0;

    let figures = get_json(&format!("{admin}/api/v1/oncall?from=1d")).await;
    let summary = &figures["summary"];
    assert_eq!(figures["timezone"], "America/New_York");
    assert_eq!((summary["pages"].as_u64(), summary["acted"].as_u64()), (Some(2), Some(1)));
    assert_eq!(summary["never_acknowledged"], 1);
    assert_eq!(summary["actionable"], 0.5);
    assert_eq!(summary["out_of_hours"], 2, "no business days: every page is out of hours");
    assert_eq!(summary["mtta"]["median"], 120.0);
    assert_eq!(summary["mtta"]["count"], 1);
    let mttr = &summary["mttr"];
    assert_eq!(mttr["count"], 2);
    assert_eq!(mttr["median"], (600.0 + disk_mttr) / 2.0);
    assert_eq!(mttr["p90"], 600.0_f64.max(disk_mttr));
    let shift_pages: u64 =
        figures["shifts"].as_array().unwrap().iter().map(|shift| shift["pages"].as_u64().unwrap()).sum();
    assert_eq!(shift_pages, 2);
    assert!(figures["feedback"].as_bool().unwrap());
    assert_eq!(figures["noisy"][0]["kind"], "DiskSlow");
    // A plain route by alertname would have paged each once too; both alerts are critical.
    assert_eq!(summary["without_noisegate"], 2);
    assert_eq!(summary["without_noisegate_critical"], 2);
    assert_eq!(summary["alerts"]["received"], 3);

    // The same as metrics, for Grafana.
    let pages =
        server.metric("noisegate_oncall_pages_total{tier=\"page_high\",hours=\"out_of_hours\"}").await;
    assert_eq!(pages, 2.0);
    assert_eq!(server.metric("noisegate_oncall_acknowledged_total{by=\"pagerduty\"}").await, 1.0);
    assert_eq!(server.metric("noisegate_oncall_resolved_total{by=\"pagerduty\"}").await, 1.0);
    assert_eq!(server.metric("noisegate_oncall_resolved_total{by=\"alerts\"}").await, 1.0);
    assert_eq!(server.metric("noisegate_oncall_time_to_acknowledge_seconds_sum").await, 120.0);
    assert_eq!(server.metric("noisegate_oncall_time_to_resolve_seconds_count").await, 2.0);

    // The command line renders the same figures from the running instance.
    let dir = tempfile::tempdir().unwrap();
    let (html, json) = (temp_path(&dir, "report.html"), temp_path(&dir, "report.json"));
    let args: Vec<String> = [
        "report",
        "--url",
        &admin,
        "--from",
        "1d",
        "--out",
        html.to_str().unwrap(),
        "--out",
        json.to_str().unwrap(),
    ]
    .iter()
    .map(|arg| arg.to_string())
    .collect();
    // Off the runtime the server runs on.
    let output = tokio::task::spawn_blocking(move || {
        crate::support::noisegate(&args.iter().map(String::as_str).collect::<Vec<_>>())
    })
    .await
    .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let written: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(written["summary"], figures["summary"]);
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("On-call health") && page.contains("DiskSlow"), "{page}");
    // A bar per day and tier with pages, and per shift and in or out of hours.
    let nonzero = |items: &Value, fields: &[&str]| -> usize {
        let items = items.as_array().unwrap();
        items
            .iter()
            .map(|item| fields.iter().filter(|field| item[**field].as_u64().unwrap() > 0).count())
            .sum()
    };
    let day_bars = nonzero(&figures["days"], &["page_high", "page_low", "digest"]);
    let shift_bars = nonzero(&figures["shifts"], &["out_of_hours"]);
    assert!(day_bars >= 1 && shift_bars >= 1);
    assert_eq!(page.matches("<rect class=\"mark").count(), day_bars + shift_bars, "{page}");
    // In a browser: no error, and as many marks as the figures say (a point per day with a
    // median time to acknowledge or resolve, a plain-route line per day with any).
    let days = figures["days"].as_array().unwrap();
    let with = |field: &str| days.iter().filter(|day| !day[field].is_null() && day[field] != 0).count();
    let expected = serde_json::json!({
        "svg.days rect.mark": day_bars,
        "svg.shifts rect.mark": shift_bars,
        "svg.times circle.mark.mtta": with("mtta_median"),
        "svg.times circle.mark.mttr": with("mttr_median"),
        "svg.days line.plain": with("without_noisegate"),
    });
    assert!(with("mtta_median") >= 1 && with("without_noisegate") >= 1, "{figures}");
    tokio::task::spawn_blocking(move || crate::console::check_report_in_browser(&html, &expected, None))
        .await
        .unwrap();
    server.stop().await;
}

#[tokio::test]
async fn records_survive_kill_9_and_are_deleted_past_their_retention() {
    let pagerduty = FakePagerDuty::start().await;
    let dir = tempfile::tempdir().unwrap();
    let data = temp_path(&dir, "data");
    let path = temp_path(&dir, "noisegate.yaml");
    let storage = format!("storage:\n  dir: \"{}\"\n", data.display());
    std::fs::write(&path, config(&pagerduty.url, &storage)).unwrap();
    let process = Process::serve(&path, dir.path());
    assert_eq!(post_json(&process.url("/api/v2/alerts"), &alert("SearchDown", false)).await.0, 200);
    let key = pagerduty.wait_events(1).await[0]["dedup_key"].as_str().unwrap().to_owned();
    let admin = process.admin_url("");
    let paged = record(&admin, &key, |record| record["paged_at"].is_i64()).await;
    process.kill();

    // Restarted on the same store: the record is there, and the incident still followed.
    let process = Process::serve(&path, dir.path());
    let admin = process.admin_url("");
    let kept = record(&admin, &key, |_| true).await;
    assert_eq!(kept["paged_at"], paged["paged_at"]);
    let at = paged["paged_at"].as_i64().unwrap() + 60_000;
    let body = event(&key, "incident.acknowledged", at);
    let status = http()
        .post(process.url("/webhooks/pagerduty"))
        .header("content-type", "application/json")
        .header("x-pagerduty-signature", format!("v1={}", sign(SECRET, &body)))
        .body(body)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 204);
    record(&admin, &key, |record| record["acknowledged_at"].as_i64() == Some(at)).await;
    process.kill();

    // With a retention shorter than its age, the next start deletes it.
    let text = config(&pagerduty.url, &storage)
        .replace("oncall:\n  schedule:", "oncall:\n  retention: 1ms\n  schedule:");
    std::fs::write(&path, text).unwrap();
    let process = Process::serve(&path, dir.path());
    let admin = process.admin_url("");
    let deadline = tokio::time::Instant::now() + crate::support::PATIENCE;
    loop {
        let records = get_json(&format!("{admin}/api/v1/oncall/incidents?from=1d")).await;
        if records.as_array().unwrap().is_empty() {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "never deleted: {records}");
        tokio::task::yield_now().await;
    }
    process.kill();
}

#[test]
fn replay_writes_the_on_call_report_of_a_capture_and_says_feedback_is_absent() {
    let dir = tempfile::tempdir().unwrap();
    // Two incidents in Berlin's night: one over within 2 minutes, one lasting an hour.
    let line = |at: &str, name: &str, ends: Option<&str>| {
        let ends = ends.map(|ends| format!(r#", "endsAt": "{ends}""#)).unwrap_or_default();
        format!(
            r#"{{"received_at": "{at}", "source": "alertmanager_v2", "body": [{{"labels": {{"alertname": "{name}", "severity": "critical"}}{ends}}}]}}"#
        )
    };
    let capture = [
        line("2026-03-29T00:00:00Z", "Blip", None),
        // Firing until it says otherwise (an alert with no end would end after five minutes).
        line("2026-03-29T00:00:05Z", "DbDown", Some("2026-03-29T06:00:00Z")),
        line("2026-03-29T00:02:00Z", "Blip", Some("2026-03-29T00:02:00Z")),
        line("2026-03-29T01:00:00Z", "DbDown", Some("2026-03-29T01:00:00Z")),
    ]
    .join("\n")
        + "\n";
    let capture_path = temp_path(&dir, "capture.jsonl");
    std::fs::write(&capture_path, capture).unwrap();
    let config = temp_path(&dir, "config.yaml");
    std::fs::write(
        &config,
        "route:\n  group_by: [alertname]\n  group_wait: 0s\n  group_interval: 1s\n\
         scoring:\n  shadow: unfiltered\noncall:\n  schedule: {timezone: Europe/Berlin}\n",
    )
    .unwrap();
    let (html, json) = (temp_path(&dir, "oncall.html"), temp_path(&dir, "oncall.json"));
    let output = crate::support::noisegate(&[
        "replay",
        "--config",
        config.to_str().unwrap(),
        "--input",
        capture_path.to_str().unwrap(),
        "--pages-out",
        temp_path(&dir, "pages.jsonl").to_str().unwrap(),
        "--oncall-report",
        html.to_str().unwrap(),
        "--oncall-report",
        json.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let figures: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let summary = &figures["summary"];
    assert_eq!(summary["pages"], 2);
    assert_eq!(summary["out_of_hours"], 2, "Sunday night in Berlin");
    assert_eq!(summary["actionable"], Value::Null, "unknown without feedback, not 0");
    assert_eq!(summary["mtta"], Value::Null);
    assert_eq!(summary["mttr"]["count"], 2);
    assert_eq!(figures["feedback"], false);
    // Only the blip is noise: an hour-long outage nobody could acknowledge in a replay is not.
    let noisy: Vec<&str> =
        figures["noisy"].as_array().unwrap().iter().map(|kind| kind["kind"].as_str().unwrap()).collect();
    assert_eq!(noisy, ["Blip"]);
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("No responder feedback in this period"), "{page}");
}
