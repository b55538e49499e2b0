//! The operators' workbench on the command line: replay reports, config diffs, rule tests.

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;

use crate::support::noisegate;

fn text(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

/// A capture: `DiskFull` and `HighLatency` firing for 30 minutes, re-sent every minute as
/// Prometheus does; a `Watchdog` throughout; `HighLatency` resolves at the end.
fn capture(dir: &Path) -> PathBuf {
    let mut lines = String::new();
    for minute in 0..30 {
        let at = format!("2026-11-02T10:{minute:02}:00Z");
        let mut alerts = vec![
            r#"{"labels":{"alertname":"DiskFull","severity":"critical","instance":"db-1"},"annotations":{"summary":"disk full on db-1"},"startsAt":"2026-11-02T10:00:00Z"}"#.to_owned(),
            r#"{"labels":{"alertname":"Watchdog","severity":"none"},"startsAt":"2026-11-02T10:00:00Z"}"#.to_owned(),
        ];
        let ends = if minute == 29 { r#","endsAt":"2026-11-02T10:29:00Z""# } else { "" };
        alerts.push(format!(
            r#"{{"labels":{{"alertname":"HighLatency","severity":"warning","service":"api"}},"startsAt":"2026-11-02T10:00:00Z"{ends}}}"#
        ));
        lines.push_str(&format!(
            "{{\"received_at\":\"{at}\",\"source\":\"alertmanager_v2\",\"body\":[{}]}}\n",
            alerts.join(",")
        ));
    }
    let path = dir.join("capture.jsonl");
    std::fs::write(&path, lines).unwrap();
    path
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

const CONFIG: &str = "route: {group_by: [alertname], group_wait: 30s, group_interval: 5m}\n\
                      patterns: [{phrases: [Watchdog], action: known_noise}]\n\
                      correlation: {settle: {warning: 5m}}\n\
                      scoring: {shadow: unfiltered}\n";

#[test]
fn a_replay_report_shows_what_came_in_what_paged_and_why() {
    let dir = tempfile::tempdir().unwrap();
    let capture = capture(dir.path());
    let config = write(dir.path(), "config.yaml", CONFIG);
    let (html, json) = (dir.path().join("report.html"), dir.path().join("report.json"));
    let output = noisegate(&[
        "replay",
        "--config",
        &config,
        "--input",
        capture.to_str().unwrap(),
        "--pages-out",
        dir.path().join("pages.jsonl").to_str().unwrap(),
        "--report",
        html.to_str().unwrap(),
        "--report",
        json.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{}", text(&output));

    let report: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let totals = &report["totals"];
    assert_eq!(totals["alert_events"], 90, "{totals}");
    assert_eq!(totals["episodes"], 3, "{totals}");
    assert_eq!(totals["pages"], 2, "DiskFull and HighLatency page, the Watchdog does not: {totals}");
    let removed = |mechanism: &str| {
        report["removed"]
            .as_array()
            .unwrap()
            .iter()
            .find(|removal| removal["mechanism"] == mechanism)
            .unwrap()["removed"]
            .as_u64()
            .unwrap()
    };
    // 90 events: 3 new episodes, 1 resolve, the rest re-sends.
    assert_eq!(removed("duplicates"), 86);
    assert_eq!(report["noisiest"].as_array().unwrap().len(), 3);
    assert!(!report["timeline"]["buckets"].as_array().unwrap().is_empty());
    let incidents = report["incidents"].as_array().unwrap();
    let disk = incidents
        .iter()
        .find(|incident| incident["summary"].as_str().unwrap().contains("disk full"))
        .unwrap();
    assert_eq!(disk["tier"], "page_high");
    assert!(!disk["why"].as_array().unwrap().is_empty(), "{disk}");

    // One file, nothing fetched: no script, no external reference.
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("<svg") && page.contains("disk full on db-1"), "{page}");
    assert!(page.contains("What each mechanism removed"));
    for external in ["<script", "src=", "href=", "@import", "url("] {
        assert!(!page.contains(external), "the report refers to something outside: {external}");
    }
}

#[test]
fn a_report_must_be_html_or_json() {
    let dir = tempfile::tempdir().unwrap();
    let capture = capture(dir.path());
    let output = noisegate(&[
        "replay",
        "--input",
        capture.to_str().unwrap(),
        "--pages-out",
        dir.path().join("pages.jsonl").to_str().unwrap(),
        "--report",
        dir.path().join("report.pdf").to_str().unwrap(),
    ]);
    assert!(!output.status.success());
    assert!(text(&output).contains("name it .html or .json"), "{}", text(&output));
}

#[test]
fn a_config_diff_names_each_changed_page_and_its_cause() {
    let dir = tempfile::tempdir().unwrap();
    let capture = capture(dir.path());
    let a = write(dir.path(), "a.yaml", CONFIG);
    // B silences the disk alert and makes the latency warning's incident page only high.
    let b = write(
        dir.path(),
        "b.yaml",
        &format!(
            "{CONFIG}silences:\n  - matchers: ['alertname=\"DiskFull\"']\n    start: 2026-11-02T00:00:00Z\n    \
             end: 2026-11-03T00:00:00Z\n    comment: disk replaced\n"
        ),
    );
    let capture = capture.to_str().unwrap();
    let same = noisegate(&["diff", "--input", capture, "--config", &a, "--config", &a]);
    assert_eq!(same.status.code(), Some(0), "{}", text(&same));
    assert!(text(&same).contains("0 disappear, 0 appear, 0 change urgency"), "{}", text(&same));

    let changed = noisegate(&["diff", "--input", capture, "--config", &a, "--config", &b]);
    assert_eq!(changed.status.code(), Some(1), "{}", text(&changed));
    let output = text(&changed);
    let line = output.lines().find(|line| line.starts_with("- ")).expect("a page disappears");
    assert!(line.contains("disk full on db-1"), "{output}");
    assert!(output.contains("cause: B never paged these alerts: muted"), "{output}");
    assert!(output.contains("A paged 2 incidents, B 1: 1 disappear, 0 appear"), "{output}");

    let json = noisegate(&["diff", "--input", capture, "--config", &b, "--config", &a, "--json"]);
    let diff: Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(diff["differences"][0]["change"], "appears");
}

#[test]
fn rule_tests_pass_or_print_what_differs_and_fail() {
    let shipped = concat!(env!("CARGO_MANIFEST_DIR"), "/configs/tests/kube-prometheus.test.yaml");
    let output = noisegate(&["test", shipped]);
    assert!(output.status.success(), "{}", text(&output));
    assert!(text(&output).contains("8 passed, 0 failed"), "{}", text(&output));

    let dir = tempfile::tempdir().unwrap();
    let config = write(dir.path(), "config.yaml", CONFIG);
    let failing = write(
        dir.path(),
        "rules.test.yaml",
        &format!(
            "config: {config}\ntests:\n  - name: disk full pages low\n    run_for: 20m\n    alerts:\n      \
             - {{at: 0s, labels: {{alertname: DiskFull, severity: critical}}}}\n      \
             - {{at: 0s, labels: {{alertname: Watchdog}}}}\n    expect:\n      pages:\n        \
             - {{labels: {{alertname: DiskFull}}, urgency: low}}\n  - name: the watchdog is quiet\n    \
             alerts:\n      - {{at: 0s, labels: {{alertname: Watchdog}}}}\n    expect:\n      no_pages:\n        \
             - {{labels: {{alertname: Watchdog}}}}\n"
        ),
    );
    let output = noisegate(&["test", &failing]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    let output = text(&output);
    assert!(output.contains("FAIL") && output.contains("disk full pages low"), "{output}");
    assert!(output.contains("- expected a page {alertname=\"DiskFull\"} urgency low: not paged"), "{output}");
    assert!(output.contains("closest: at 30s, high urgency: DiskFull"), "{output}");
    assert!(output.contains("ok   ") && output.contains("the watchdog is quiet"), "{output}");
    assert!(output.contains("1 passed, 1 failed"), "{output}");

    let broken =
        write(dir.path(), "broken.test.yaml", "tests: [{name: x, alerts: [{at: soon, labels: {}}]}]\n");
    let output = noisegate(&["test", &broken]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert!(text(&output).contains("alerts[0].at"), "{}", text(&output));
}
