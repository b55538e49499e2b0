//! OTLP logs over gRPC (tonic client) and HTTP (protobuf, JSON, gzip).

use std::io::Write;

use opentelemetry_proto::tonic::collector::logs::v1::logs_service_client::LogsServiceClient;
use opentelemetry_proto::tonic::collector::logs::v1::{ExportLogsServiceRequest, ExportLogsServiceResponse};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;

use crate::support::{FakePagerDuty, TestServer, alert_names, config_yaml, http};

const ROUTE: &str = "route:\n  group_by: [alertname]\n  group_wait: 1s\n  group_interval: 1s\n";

pub fn kv(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue { value: Some(any_value::Value::StringValue(value.to_owned())) }),
        ..Default::default()
    }
}

pub fn record(attributes: Vec<KeyValue>, body: &str, severity_number: i32) -> LogRecord {
    LogRecord {
        time_unix_nano: 1_793_577_604_944_210_176,
        severity_number,
        body: Some(AnyValue { value: Some(any_value::Value::StringValue(body.to_owned())) }),
        attributes,
        ..Default::default()
    }
}

pub fn request(service: &str, records: Vec<LogRecord>) -> ExportLogsServiceRequest {
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(Resource {
                attributes: vec![kv("service.name", service), kv("k8s.namespace.name", "shop")],
                ..Default::default()
            }),
            scope_logs: vec![ScopeLogs { log_records: records, ..Default::default() }],
            ..Default::default()
        }],
    }
}

#[tokio::test]
async fn grpc_export_pages_alerts_and_reports_partial_success() {
    let pagerduty = FakePagerDuty::start().await;
    let server = TestServer::start(&config_yaml(&pagerduty.url, ROUTE)).await;
    let mut client = LogsServiceClient::connect(format!("http://{}", server.grpc))
        .await
        .unwrap()
        .send_compressed(tonic::codec::CompressionEncoding::Gzip);
    for path in ["/healthz", "/readyz"] {
        assert_eq!(http().get(server.url(path)).send().await.unwrap().status(), 200, "{path}");
    }

    let records = vec![
        record(vec![kv("http.route", "/cart")], "connection refused to redis-cart:6379", 17),
        record(vec![kv("alertname", "CartErrors"), kv("severity", "critical")], "cart error rate 12%", 17),
        record(vec![kv("alertname", "Broken"), kv("alert.status", "sideways")], "", 9),
    ];
    let response = client.export(request("cartservice", records)).await.unwrap().into_inner();
    let partial = response.partial_success.expect("one record was rejected");
    assert_eq!(partial.rejected_log_records, 1);
    assert!(partial.error_message.contains("record 2"), "{}", partial.error_message);
    assert!(partial.error_message.contains("sideways"), "{}", partial.error_message);

    let events = pagerduty.wait_events(1).await;
    assert_eq!(alert_names(&events[0]), vec!["CartErrors"]);
    let labels = &events[0]["payload"]["custom_details"]["alerts"][0]["labels"];
    assert_eq!(labels["service.name"], "cartservice");
    assert_eq!(events[0]["payload"]["severity"], "critical");
    assert_eq!(server.metric("noisegate_logs_total").await, 1.0);
    assert_eq!(server.metric("noisegate_accepted_records_total{source=\"otlp_grpc\"}").await, 2.0);
    assert_eq!(
        server
            .metric("noisegate_rejected_records_total{source=\"otlp_grpc\",reason=\"invalid_value\"}")
            .await,
        1.0
    );

    // The same alert marked resolved resolves the incident.
    let resolved = record(
        vec![kv("alertname", "CartErrors"), kv("severity", "critical"), kv("alert.status", "resolved")],
        "",
        17,
    );
    let response = client.export(request("cartservice", vec![resolved])).await.unwrap().into_inner();
    assert_eq!(response.partial_success, None);
    let events = pagerduty.wait_events(2).await;
    assert_eq!(events[1]["event_action"], "resolve");
    server.stop().await;
}

#[tokio::test]
async fn http_accepts_protobuf_json_and_gzip() {
    let pagerduty = FakePagerDuty::start().await;
    let server = TestServer::start(&config_yaml(&pagerduty.url, ROUTE)).await;
    let client = http();
    let url = server.url("/v1/logs");

    // Protobuf, answered in protobuf.
    let body = request("checkout", vec![record(vec![kv("alertname", "CheckoutSlow")], "p99 4s", 13)])
        .encode_to_vec();
    let response =
        client.post(&url).header("content-type", "application/x-protobuf").body(body).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/x-protobuf");
    let decoded = ExportLogsServiceResponse::decode(response.bytes().await.unwrap()).unwrap();
    assert_eq!(decoded.partial_success, None);

    // JSON as the OTLP spec writes it, answered in JSON.
    let json = r#"{"resourceLogs":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"payment"}}]},
        "scopeLogs":[{"scope":{"name":"payment"},"logRecords":[
          {"timeUnixNano":"1793577604944210176","severityNumber":21,"severityText":"FATAL",
           "body":{"stringValue":"payment provider unreachable"},
           "attributes":[{"key":"alertname","value":{"stringValue":"PaymentDown"}},
                         {"key":"attempts","value":{"intValue":"3"}}]}]}]}]}"#;
    let response =
        client.post(&url).header("content-type", "application/json").body(json).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");

    // gzip-compressed JSON.
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(json.replace("PaymentDown", "FraudCheckDown").as_bytes()).unwrap();
    let gzipped = encoder.finish().unwrap();
    let response = client
        .post(&url)
        .header("content-type", "application/json")
        .header("content-encoding", "gzip")
        .body(gzipped)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    let events = pagerduty.wait_events(3).await;
    let mut names: Vec<String> = events.iter().flat_map(alert_names).collect();
    names.sort();
    assert_eq!(names, vec!["CheckoutSlow", "FraudCheckDown", "PaymentDown"]);
    let payment = events.iter().find(|event| alert_names(event) == ["PaymentDown"]).unwrap();
    assert_eq!(payment["payload"]["severity"], "critical");
    assert_eq!(payment["payload"]["custom_details"]["alerts"][0]["labels"]["attempts"], "3");
    assert_eq!(server.metric("noisegate_accepted_records_total{source=\"otlp_http\"}").await, 3.0);
    server.stop().await;
}
