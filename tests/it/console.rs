//! The web console in a real headless browser: Debian's Chromium driven by Playwright
//! (`tests/console/console.test.mjs`, its `playwright-core` installed by npm when missing),
//! against the running service.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::{FakePagerDuty, TestServer, alert_names, config_yaml, http, post_json};

fn console_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/console")
}

/// `node` with `playwright-core` installed, and the system's Chromium.
pub fn browser_ready() -> PathBuf {
    let dir = console_dir();
    if !dir.join("node_modules/playwright-core").is_dir() {
        let installed = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&dir)
            .status()
            .expect("npm runs (install Node.js and npm)");
        assert!(installed.success(), "npm ci in tests/console failed");
    }
    let chromium =
        std::env::var_os("CHROMIUM").map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from);
    assert!(
        chromium.exists(),
        "no Chromium at {} (apt-get install chromium, or set CHROMIUM)",
        chromium.display()
    );
    chromium
}

/// Opens a self-contained HTML report in Chromium: it must render without an error, fetch
/// nothing, and have `expected` elements for each selector (`{"rect.mark": 3}`). Blocking.
pub fn check_report_in_browser(file: &Path, expected: &serde_json::Value, screenshot: Option<&Path>) {
    let chromium = browser_ready();
    let mut command = Command::new("node");
    command
        .arg("report.test.mjs")
        .arg(file)
        .arg(expected.to_string())
        .current_dir(console_dir())
        .env("CHROMIUM", chromium);
    if let Some(screenshot) = screenshot {
        command.arg(screenshot);
    }
    let output = command.output().expect("node runs");
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_lists_incidents_explains_them_creates_silences_and_charts_the_flow() {
    let chromium = browser_ready();
    let pagerduty = FakePagerDuty::start().await;
    let server = TestServer::start(&config_yaml(
        &pagerduty.url,
        "route: {group_by: [alertname], group_wait: 1s, group_interval: 1s}",
    ))
    .await;
    let (status, _) = post_json(
        &server.url("/api/v2/alerts"),
        r#"[{"labels":{"alertname":"DiskFull","severity":"critical","instance":"db-1"},"annotations":{"summary":"disk full on db-1"}}]"#,
    )
    .await;
    assert_eq!(status, 200);
    pagerduty.wait_events(1).await;

    let admin = format!("http://{}", server.admin);
    let screenshots = std::env::var("NOISEGATE_SCREENSHOTS").ok();
    let output = tokio::task::spawn_blocking(move || {
        let mut command = Command::new("node");
        command.arg("console.test.mjs").arg(&admin).current_dir(console_dir()).env("CHROMIUM", chromium);
        if let Some(dir) = screenshots {
            command.arg(dir);
        }
        command.output().expect("node runs")
    })
    .await
    .unwrap();
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );

    // The silence the browser created is in force: of two alerts sent together, the silenced
    // one does not page.
    let silences =
        http().get(server.admin_url("/api/v1/silences")).send().await.unwrap().text().await.unwrap();
    let silences: serde_json::Value = serde_json::from_str(&silences).unwrap();
    assert!(
        silences.as_array().unwrap().iter().any(|silence| silence["createdBy"] == "console"),
        "{silences}"
    );
    let (status, _) = post_json(
        &server.url("/api/v2/alerts"),
        r#"[{"labels":{"alertname":"Muted","severity":"critical"}},{"labels":{"alertname":"Control","severity":"critical"}}]"#,
    )
    .await;
    assert_eq!(status, 200);
    let events = pagerduty
        .wait_for("the control alert paged", |events| {
            events.iter().any(|event| alert_names(event) == ["Control"])
        })
        .await;
    assert!(!events.iter().any(|event| alert_names(event) == ["Muted"]), "{events:#?}");
    server.stop().await;
}

#[tokio::test]
async fn the_console_is_served_from_the_binary_and_its_data_needs_the_admin_token() {
    let pagerduty = FakePagerDuty::start().await;
    let server =
        TestServer::start(&config_yaml(&pagerduty.url, "auth:\n  admin_tokens: [{value: adm1n-t0ken}]\n"))
            .await;
    let client = http();
    let root = client.get(server.admin_url("/")).send().await.unwrap();
    assert_eq!(root.url().path(), "/console/");
    let page = root.text().await.unwrap();
    assert!(page.contains("/console/app.js"));
    for asset in ["/console/app.js", "/console/style.css"] {
        assert_eq!(client.get(server.admin_url(asset)).send().await.unwrap().status(), 200, "{asset}");
    }
    for api in ["/api/v1/stats", "/api/v1/config", "/api/v1/incidents"] {
        let refused = client.get(server.admin_url(api)).send().await.unwrap();
        assert_eq!(refused.status(), 401, "{api}");
        let allowed = client.get(server.admin_url(api)).bearer_auth("adm1n-t0ken").send().await.unwrap();
        assert_eq!(allowed.status(), 200, "{api}");
    }
    let config =
        client.get(server.admin_url("/api/v1/config")).bearer_auth("adm1n-t0ken").send().await.unwrap();
    let config = config.text().await.unwrap();
    assert!(!config.contains("adm1n-t0ken") && config.contains("<redacted>"), "{config}");
    server.stop().await;
}
