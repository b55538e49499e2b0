//! Bearer tokens on the ingest (HTTP and gRPC) and admin listeners: missing, invalid and expired
//! tokens refused and counted, health open, tokens rotated by a reload.

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_client::LogsServiceClient;
use reqwest::header::{AUTHORIZATION, WWW_AUTHENTICATE};

use crate::support::{FakePagerDuty, TestServer, config_yaml, http, temp_path};

const ALERT: &str = r#"[{"labels": {"alertname": "DiskFull", "severity": "warning"}}]"#;

fn auth_section(admin_token_file: &std::path::Path) -> String {
    format!(
        r#"
route:
  group_by: [alertname]
auth:
  ingest_tokens:
    - value: "ingest-current"
    - value: "ingest-retired"
      expires: "2020-01-01T00:00:00Z"
  admin_tokens:
    - file: "{}"
"#,
        admin_token_file.display()
    )
}

/// Posts one alert with `token` (if any); the status and the body.
async fn post_alert(server: &TestServer, token: Option<&str>) -> (u16, String, Option<String>) {
    let mut request = http().post(server.url("/api/v2/alerts")).header("content-type", "application/json");
    if let Some(token) = token {
        request = request.header(AUTHORIZATION, format!("Bearer {token}"));
    }
    let response = request.body(ALERT).send().await.unwrap();
    let challenge = response.headers().get(WWW_AUTHENTICATE).map(|value| value.to_str().unwrap().to_owned());
    (response.status().as_u16(), response.text().await.unwrap(), challenge)
}

async fn admin_get(server: &TestServer, path: &str, token: Option<&str>) -> u16 {
    let mut request = http().get(server.admin_url(path));
    if let Some(token) = token {
        request = request.header(AUTHORIZATION, format!("Bearer {token}"));
    }
    request.send().await.unwrap().status().as_u16()
}

async fn grpc_export(server: &TestServer, token: Option<&str>) -> Result<(), tonic::Status> {
    let mut client = LogsServiceClient::connect(format!("http://{}", server.grpc)).await.unwrap();
    let mut request = tonic::Request::new(ExportLogsServiceRequest::default());
    if let Some(token) = token {
        request.metadata_mut().insert("authorization", format!("Bearer {token}").parse().unwrap());
    }
    client.export(request).await.map(|_| ())
}

#[tokio::test]
async fn listeners_refuse_requests_without_a_valid_token_and_take_rotated_tokens_on_reload() {
    let dir = tempfile::tempdir().unwrap();
    let pagerduty = FakePagerDuty::start().await;
    let token_file = temp_path(&dir, "admin-token");
    std::fs::write(&token_file, "admin-one\n").unwrap();
    let config_path = temp_path(&dir, "noisegate.yaml");
    std::fs::write(&config_path, config_yaml(&pagerduty.url, &auth_section(&token_file))).unwrap();
    let server = TestServer::start_from_file(&config_path).await;

    // HTTP ingest.
    let (status, body, challenge) = post_alert(&server, None).await;
    assert_eq!((status, challenge.as_deref()), (401, Some("Bearer")), "{body}");
    assert!(body.contains("missing bearer token"), "{body}");
    let (status, body, _) = post_alert(&server, Some("guess")).await;
    assert_eq!(status, 401);
    assert!(body.contains("invalid bearer token"), "{body}");
    let (status, body, _) = post_alert(&server, Some("ingest-retired")).await;
    assert_eq!(status, 401);
    assert!(body.contains("expired"), "{body}");
    let (status, body, _) = post_alert(&server, Some("ingest-current")).await;
    assert_eq!(status, 200, "{body}");
    // Health and metrics stay open for probes and scrapers.
    assert_eq!(http().get(server.url("/healthz")).send().await.unwrap().status().as_u16(), 200);
    assert_eq!(server.metric("noisegate_unauthenticated_requests_total{listener=\"http\"}").await, 3.0);
    // Refused requests never reach the engine.
    assert_eq!(server.metric("noisegate_accepted_records_total{source=\"alertmanager_v2\"}").await, 1.0);

    // gRPC ingest.
    let refused = grpc_export(&server, None).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unauthenticated);
    assert!(refused.message().contains("missing bearer token"), "{}", refused.message());
    let refused = grpc_export(&server, Some("ingest-retired")).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unauthenticated);
    grpc_export(&server, Some("ingest-current")).await.unwrap();
    assert_eq!(server.metric("noisegate_unauthenticated_requests_total{listener=\"grpc\"}").await, 2.0);

    // Admin: its own tokens; an ingest token is not one of them.
    assert_eq!(admin_get(&server, "/api/v1/silences", None).await, 401);
    assert_eq!(admin_get(&server, "/api/v1/silences", Some("ingest-current")).await, 401);
    assert_eq!(admin_get(&server, "/api/v1/silences", Some("admin-one")).await, 200);
    for path in ["/api/v2/alerts", "/api/v2/silences", "/api/v2/status", "/api/v2/receivers"] {
        assert_eq!(admin_get(&server, path, None).await, 401, "{path}");
        assert_eq!(admin_get(&server, path, Some("admin-one")).await, 200, "{path}");
    }
    assert_eq!(admin_get(&server, "/healthz", None).await, 200);

    // Rotation: a new token in the file, a reload, and the old one stops working.
    std::fs::write(&token_file, "admin-two\n").unwrap();
    let reload = http()
        .post(server.admin_url("/-/reload"))
        .header(AUTHORIZATION, "Bearer admin-one")
        .send()
        .await
        .unwrap();
    assert_eq!(reload.status().as_u16(), 200, "{}", reload.text().await.unwrap());
    assert_eq!(admin_get(&server, "/api/v1/incidents", Some("admin-one")).await, 401);
    assert_eq!(admin_get(&server, "/api/v1/incidents", Some("admin-two")).await, 200);

    server.stop().await;
}

#[test]
fn a_token_without_a_source_or_with_a_bad_expiry_is_a_config_error() {
    let yaml = r#"
auth:
  ingest_tokens:
    - expires: "tomorrow"
"#;
    let errors = noisegate::config::parse(yaml, &|_| None).unwrap_err().to_string();
    assert!(errors.contains("auth.ingest_tokens[0]"), "{errors}");
    assert!(errors.contains("expires"), "{errors}");
}

#[test]
fn a_token_from_an_unset_variable_is_a_config_error_not_an_open_listener() {
    let yaml = "auth:\n  admin_tokens:\n    - env: NOISEGATE_TEST_UNSET_TOKEN\n";
    let errors = noisegate::config::parse(yaml, &|_| None).unwrap_err().to_string();
    assert!(errors.contains("auth.admin_tokens[0].env"), "{errors}");
    assert!(errors.contains("NOISEGATE_TEST_UNSET_TOKEN"), "{errors}");
}
