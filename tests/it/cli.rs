//! The binary itself: `check`, and `serve` shutting down on SIGTERM.

use std::process::Command;

use serde_json::Value;

use crate::support::{Process, post_json, temp_path};

fn noisegate() -> Command {
    Command::new(env!("CARGO_BIN_EXE_noisegate"))
}

#[test]
fn check_accepts_the_default_and_lists_every_error_with_its_path() {
    let output = noisegate().arg("check").output().unwrap();
    assert!(output.status.success());
    assert!(String::from_utf8_lossy(&output.stdout).contains("config is valid"));

    let dir = tempfile::tempdir().unwrap();
    let path = temp_path(&dir, "bad.yaml");
    std::fs::write(
        &path,
        "route:\n  group_wait: soon\n  routes:\n    - matchers: ['severity=~~\"critical\"']\n",
    )
    .unwrap();
    let output = noisegate().arg("check").arg("--config").arg(&path).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("error: route.group_wait: invalid duration \"soon\""), "{stdout}");
    assert!(stdout.contains("error: route.routes[0].matchers[0]: unknown operator \"=~~\""), "{stdout}");
    assert!(stdout.contains("2 error(s)"), "{stdout}");
}

#[tokio::test]
async fn serve_keeps_waiting_groups_on_sigterm_and_pages_them_with_drain() {
    let dir = tempfile::tempdir().unwrap();
    let path = temp_path(&dir, "config.yaml");
    // No routing key: pages go to stdout. A long group_wait: the page is pending at SIGTERM.
    std::fs::write(
        &path,
                "server:\n  grpc_listen: 127.0.0.1:0\n  http_listen: 127.0.0.1:0\n  admin_listen: 127.0.0.1:0\nroute:\n  group_wait: 1h\npagerduty:\n  routing_keys: {}\n",
    )
    .unwrap();
    let start = |arguments: &'static [&'static str]| {
        let (path, cwd) = (path.clone(), dir.path().to_owned());
        tokio::task::spawn_blocking(move || Process::serve_with(&path, &cwd, arguments))
    };
    let server = start(&[]).await.unwrap();
    let alert = r#"[{"labels": {"alertname": "NodeDown", "node": "n1", "severity": "critical"}}]"#;
    let (status, _) = post_json(&server.url("/api/v2/alerts"), alert).await;
    assert_eq!(status, 200);
    let (code, stdout) = tokio::task::spawn_blocking(move || server.terminate()).await.unwrap();
    assert_eq!((code, stdout.as_str()), (Some(0), ""), "the waiting group is kept, not paged");

    // Started again and stopped for good: the group it kept pages at the stop.
    let server = start(&["--drain"]).await.unwrap();
    let (code, stdout) = tokio::task::spawn_blocking(move || server.terminate()).await.unwrap();
    assert_eq!(code, Some(0));
    let pages: Vec<Value> = stdout.lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    assert_eq!(pages.len(), 1, "{stdout}");
    assert_eq!(pages[0]["event"]["event_action"], "trigger");
    // The alert names its node, which the inventory learns: the incident is about it.
    assert_eq!(pages[0]["event"]["payload"]["summary"], "NodeDown (n1)");
}
