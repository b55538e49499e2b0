//! Bad input on every path: a clear error naming what was wrong, counted in /metrics, and the
//! good records of the same request still accepted.

use bytes::{Buf, BufMut};
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_client::LogsServiceClient;
use prost::Message;
use serde_json::Value;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};

use crate::otlp::{kv, record, request};
use crate::support::{FakePagerDuty, TestServer, alert_names, config_yaml, http, post_json};

const LIMITS: &str = "
limits:
  max_body_bytes: 65536
  max_labels: 8
  max_label_value_bytes: 256
route:
  group_by: [alertname]
  group_wait: 0s
  group_interval: 1s
";

async fn start() -> (FakePagerDuty, TestServer) {
    let pagerduty = FakePagerDuty::start().await;
    let server = TestServer::start(&config_yaml(&pagerduty.url, LIMITS)).await;
    (pagerduty, server)
}

async fn post(url: &str, content_type: &str, body: Vec<u8>) -> (u16, String) {
    let response = http().post(url).header("content-type", content_type).body(body).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

fn error_text(body: &str) -> String {
    let value: Value = serde_json::from_str(body).unwrap_or_else(|_| panic!("error body is JSON: {body}"));
    value["error"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn alertmanager_v2_names_what_is_wrong_and_keeps_the_good_alerts() {
    let (pagerduty, server) = start().await;
    let url = server.url("/api/v2/alerts");

    let (status, body) = post_json(&url, r#"[{"labels": {"alertname": "A"}"#).await;
    assert_eq!(status, 400);
    assert!(error_text(&body).contains("not a JSON array of alerts"), "{body}");

    let (status, body) = post(&url, "text/plain", b"[]".to_vec()).await;
    assert_eq!(status, 415);
    assert!(error_text(&body).contains("unsupported content type \"text/plain\""), "{body}");

    let huge = format!(r#"[{{"labels": {{"alertname": "A", "x": "{}"}}}}]"#, "y".repeat(70_000));
    let (status, body) = post_json(&url, &huge).await;
    assert_eq!(status, 413);
    assert!(error_text(&body).contains("exceeds the limit of 65536 bytes"), "{body}");

    let (status, body) =
        post(&url, "application/json", b"[{\"labels\": {\"alertname\": \"\xff\xfe\"}}]".to_vec()).await;
    assert_eq!(status, 400);
    assert!(error_text(&body).contains("not valid UTF-8 (first invalid byte at offset 27)"), "{body}");

    let many_labels: Vec<String> = (0..9).map(|index| format!("\"l{index}\": \"v\"")).collect();
    let mixed = format!(
        r#"[{{"labels": {{"alertname": "GoodAlert", "severity": "critical"}}}},
            {{"annotations": {{"summary": "no labels"}}}},
            {{"labels": {{{}}}}},
            {{"labels": {{"alertname": "Long", "x": "{}"}}}},
            {{"labels": {{"alertname": "BadTime"}}, "startsAt": "yesterday"}}]"#,
        many_labels.join(","),
        "z".repeat(300)
    );
    let (status, body) = post_json(&url, &mixed).await;
    assert_eq!(status, 400);
    let error = error_text(&body);
    assert!(error.starts_with("1 accepted, 4 record(s) rejected"), "{error}");
    assert!(error.contains("record 1: missing field `labels`"), "{error}");
    assert!(error.contains("record 2: 9 labels exceed the limit of 8"), "{error}");
    assert!(
        error.contains("record 3: value of labels \"x\" has 300 bytes, over the limit of 256"),
        "{error}"
    );
    assert!(error.contains("record 4: startsAt: invalid RFC 3339 timestamp \"yesterday\""), "{error}");

    // The good alert of the mixed request was accepted and paged.
    let events = pagerduty.wait_events(1).await;
    assert_eq!(alert_names(&events[0]), vec!["GoodAlert"]);

    for (reason, count) in
        [("malformed", 1.0), ("unsupported_media_type", 1.0), ("too_large", 1.0), ("invalid_utf8", 1.0)]
    {
        let sample =
            format!("noisegate_rejected_requests_total{{source=\"alertmanager_v2\",reason=\"{reason}\"}}");
        assert_eq!(server.metric(&sample).await, count, "{sample}");
    }
    for (reason, count) in
        [("missing_field", 1.0), ("too_many_labels", 1.0), ("label_too_long", 1.0), ("invalid_value", 1.0)]
    {
        let sample =
            format!("noisegate_rejected_records_total{{source=\"alertmanager_v2\",reason=\"{reason}\"}}");
        assert_eq!(server.metric(&sample).await, count, "{sample}");
    }
    assert_eq!(server.metric("noisegate_accepted_records_total{source=\"alertmanager_v2\"}").await, 1.0);
    server.stop().await;
}

#[tokio::test]
async fn webhook_and_pagerduty_bodies_are_checked() {
    let (_pagerduty, server) = start().await;
    let webhook = server.url("/webhook/alertmanager");
    let (status, body) = post_json(&webhook, r#"{"version": "3", "alerts": []}"#).await;
    assert_eq!(status, 400);
    assert!(error_text(&body).contains("unsupported webhook version \"3\""), "{body}");
    let (status, body) = post_json(&webhook, r#"{"version": "4"}"#).await;
    assert_eq!(status, 400);
    assert!(error_text(&body).contains("missing field `alerts`"), "{body}");
    let (status, body) = post_json(
        &webhook,
        r#"{"version": "4", "alerts": [{"status": "firing", "labels": {"alertname": "Ok"}}, {"status": "maybe", "labels": {"alertname": "No"}}]}"#,
    )
    .await;
    assert_eq!(status, 400);
    assert!(error_text(&body).contains("record 1: invalid status \"maybe\""), "{body}");
    // The good alert of that request was accepted all the same.
    assert_eq!(server.metric("noisegate_accepted_records_total{source=\"alertmanager_webhook\"}").await, 1.0);

    let enqueue = server.url("/v2/enqueue");
    let cases = [
        (
            r#"{"routing_key": "k", "event_action": "trigger", "payload": {"summary": "s", "severity": "error"}}"#,
            "missing field `payload.source`",
        ),
        (
            r#"{"routing_key": "k", "event_action": "trigger", "payload": {"summary": "s", "source": "x", "severity": "bad"}}"#,
            "invalid payload.severity \"bad\"",
        ),
        (r#"{"routing_key": "k", "event_action": "resolve"}"#, "`dedup_key` is required for resolve"),
        (r#"{"event_action": "trigger"}"#, "missing field `routing_key`"),
        (r#"{"routing_key": "k", "event_action": "#, "body is not a PagerDuty event"),
    ];
    for (body, expected) in cases {
        let (status, response) = post_json(&enqueue, body).await;
        assert_eq!(status, 400, "{body}");
        let response: Value = serde_json::from_str(&response).unwrap();
        assert_eq!(response["status"], "invalid event");
        let errors = response["errors"][0].as_str().unwrap();
        assert!(errors.contains(expected), "{errors} should mention {expected}");
    }
    assert_eq!(
        server
            .metric("noisegate_rejected_requests_total{source=\"pagerduty_v2\",reason=\"missing_field\"}")
            .await,
        3.0
    );
    server.stop().await;
}

/// `google.rpc.Status` as OTLP/HTTP returns it.
#[derive(Clone, PartialEq, Message)]
pub struct RpcStatus {
    #[prost(int32, tag = "1")]
    pub code: i32,
    #[prost(string, tag = "2")]
    pub message: String,
}

#[tokio::test]
async fn otlp_http_errors_follow_the_spec() {
    let (pagerduty, server) = start().await;
    let url = server.url("/v1/logs");

    let (status, body) = post(&url, "application/x-protobuf", vec![0x0a, 0xff, 0xff, 0xff]).await;
    assert_eq!(status, 400);
    let response = http()
        .post(&url)
        .header("content-type", "application/x-protobuf")
        .body(vec![0x0a, 0xff, 0xff, 0xff])
        .send()
        .await
        .unwrap();
    let rpc = RpcStatus::decode(response.bytes().await.unwrap()).unwrap();
    assert_eq!(rpc.code, tonic::Code::InvalidArgument as i32);
    assert!(rpc.message.contains("invalid OTLP protobuf logs request"), "{body}");

    let (status, body) = post(&url, "text/csv", b"a,b".to_vec()).await;
    assert_eq!(status, 415);
    assert!(body.contains("unsupported content type"), "{body}");

    let response = http()
        .post(&url)
        .header("content-type", "application/json")
        .header("content-encoding", "gzip")
        .body(b"definitely not gzip".to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let error: Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
    assert!(error["message"].as_str().unwrap().contains("invalid gzip body"), "{error}");

    // One good alert and one with too many attributes: 200 with partial success.
    let json = format!(
        r#"{{"resourceLogs":[{{"scopeLogs":[{{"logRecords":[
            {{"attributes":[{{"key":"alertname","value":{{"stringValue":"GoodOtlp"}}}}]}},
            {{"attributes":[{{"key":"alertname","value":{{"stringValue":"TooMany"}}}},{}]}}]}}]}}]}}"#,
        (0..9)
            .map(|index| format!(r#"{{"key":"a{index}","value":{{"stringValue":"v"}}}}"#))
            .collect::<Vec<_>>()
            .join(",")
    );
    let (status, body) = post(&url, "application/json", json.into_bytes()).await;
    assert_eq!(status, 200, "{body}");
    let response: Value = serde_json::from_str(&body).unwrap();
    // int64 may be a JSON number or a decimal string (proto3 JSON mapping); either reads as 1.
    assert_eq!(response["partialSuccess"]["rejectedLogRecords"].to_string().trim_matches('"'), "1");
    assert!(
        response["partialSuccess"]["errorMessage"]
            .as_str()
            .unwrap()
            .contains("10 attributes exceed the limit of 8")
    );
    let events = pagerduty.wait_events(1).await;
    assert_eq!(alert_names(&events[0]), vec!["GoodOtlp"]);
    assert_eq!(
        server.metric("noisegate_rejected_requests_total{source=\"otlp_http\",reason=\"malformed\"}").await,
        3.0
    );
    server.stop().await;
}

/// A client codec that sends raw bytes, to put malformed protobuf on the wire.
pub struct RawCodec;
pub struct RawEncoder;
pub struct RawDecoder;

impl Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = RawEncoder;
    type Decoder = RawDecoder;
    fn encoder(&mut self) -> RawEncoder {
        RawEncoder
    }
    fn decoder(&mut self) -> RawDecoder {
        RawDecoder
    }
}

impl Encoder for RawEncoder {
    type Item = Vec<u8>;
    type Error = tonic::Status;
    fn encode(&mut self, item: Vec<u8>, buffer: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
        buffer.put_slice(&item);
        Ok(())
    }
}

impl Decoder for RawDecoder {
    type Item = Vec<u8>;
    type Error = tonic::Status;
    fn decode(&mut self, buffer: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, tonic::Status> {
        Ok(Some(buffer.copy_to_bytes(buffer.remaining()).to_vec()))
    }
}

/// Sends bytes that are no protobuf message (a field longer than the request) to the gRPC method
/// at `path`, checks that it is refused as an invalid argument and returns the refusal's message.
pub async fn malformed_grpc_refusal(channel: &tonic::transport::Channel, path: &'static str) -> String {
    let mut raw = tonic::client::Grpc::new(channel.clone());
    raw.ready().await.unwrap();
    let path = tonic::codegen::http::uri::PathAndQuery::from_static(path);
    let status = raw.unary(tonic::Request::new(vec![0x0a, 0xff, 0xff]), path, RawCodec).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    status.message().to_owned()
}

#[tokio::test]
async fn otlp_grpc_malformed_and_oversized_requests() {
    let (pagerduty, server) = start().await;
    let channel = server.grpc_channel().await;
    let message =
        malformed_grpc_refusal(&channel, "/opentelemetry.proto.collector.logs.v1.LogsService/Export").await;
    assert!(message.contains("invalid OTLP protobuf logs request"), "{message}");

    let mut client = LogsServiceClient::new(channel);
    let big = record(vec![kv("alertname", "Big")], &"x".repeat(70_000), 17);
    let status = client.export(request("svc", vec![big])).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::ResourceExhausted, "{status:?}");

    // The service is still fine: a good request after the bad ones is paged.
    let good = record(vec![kv("alertname", "AfterBad")], "ok", 17);
    client.export(request("svc", vec![good])).await.unwrap();
    let events = pagerduty.wait_events(1).await;
    assert_eq!(alert_names(&events[0]), vec!["AfterBad"]);
    for (reason, count) in [("malformed", 1.0), ("too_large", 1.0)] {
        let sample = format!("noisegate_rejected_requests_total{{source=\"otlp_grpc\",reason=\"{reason}\"}}");
        assert_eq!(server.metric(&sample).await, count, "{sample}");
    }
    server.stop().await;
}
