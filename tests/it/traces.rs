//! OTLP traces over gRPC (tonic's `TraceServiceClient`) and HTTP (protobuf, JSON, gzip): accepted
//! or refused whole, with the limits, errors, tokens and recording of the logs endpoints.

use std::io::Write;

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;
use reqwest::header::AUTHORIZATION;
use serde_json::Value;

use crate::bad_input::{RpcStatus, malformed_grpc_refusal};
use crate::otlp::kv;
use crate::support::{FakePagerDuty, Recording, TestServer, config_yaml, http, post_json, replay, temp_path};

const ROUTE: &str = "route:\n  group_by: [alertname]\n";

/// At most five spans a request, 64 KiB a body.
const LIMITS: &str = "
limits:
  max_body_bytes: 65536
  max_records_per_request: 5
route:
  group_by: [alertname]
";

const TRACE_ID: [u8; 16] =
    [0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36];

/// Three spans of the cart service as the OTLP spec writes JSON: a SERVER span, a redis call
/// (CLIENT) and an internal one.
const CART_JSON: &str = r#"{"resourceSpans":[{"resource":{"attributes":[
    {"key":"service.name","value":{"stringValue":"cart"}},
    {"key":"k8s.pod.name","value":{"stringValue":"cart-5f6b9c-abcde"}},
    {"key":"k8s.node.name","value":{"stringValue":"node-2"}}]},
  "scopeSpans":[{"scope":{"name":"cart"},"spans":[
    {"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","name":"GET /cart","kind":2,
     "startTimeUnixNano":"1793577604944210176","endTimeUnixNano":"1793577604954210176"},
    {"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b175","parentSpanId":"eee19b7ec3c1b174",
     "name":"HGET","kind":3,"startTimeUnixNano":"1793577604945210176","endTimeUnixNano":"1793577604946210176",
     "attributes":[{"key":"db.system","value":{"stringValue":"redis"}},
                   {"key":"server.address","value":{"stringValue":"redis-cart"}}]},
    {"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b176","parentSpanId":"eee19b7ec3c1b174",
     "name":"render","kind":1}]}]}]}"#;

/// A span of one trace with a one-byte id and parent, its attributes strings.
fn span(id: u8, parent: Option<u8>, kind: SpanKind, attributes: &[(&str, &str)]) -> Span {
    let span_id = |id: u8| vec![0, 0, 0, 0, 0, 0, 0, id];
    Span {
        trace_id: TRACE_ID.to_vec(),
        span_id: span_id(id),
        parent_span_id: parent.map(span_id).unwrap_or_default(),
        name: format!("operation-{id}"),
        kind: kind as i32,
        start_time_unix_nano: 1_793_577_604_944_210_176,
        end_time_unix_nano: 1_793_577_604_954_210_176,
        attributes: attributes.iter().map(|(key, value)| kv(key, value)).collect(),
        ..Default::default()
    }
}

/// The spans of one pod of `service`, `(pod, node)`, in the `shop` namespace, as the SDK's
/// resource detectors describe it.
fn from_pod(service: &str, (pod, node): (&str, &str), spans: Vec<Span>) -> ResourceSpans {
    ResourceSpans {
        resource: Some(Resource {
            attributes: vec![
                kv("service.name", service),
                kv("k8s.pod.name", pod),
                kv("k8s.node.name", node),
                kv("k8s.namespace.name", "shop"),
            ],
            ..Default::default()
        }),
        scope_spans: vec![ScopeSpans { spans, ..Default::default() }],
        ..Default::default()
    }
}

/// One trace of six spans: frontend calls checkout (whose SERVER span is here), and checkout
/// calls payments (which sends no spans) and its database.
fn checkout_trace() -> ExportTraceServiceRequest {
    checkout_trace_from(("frontend-6d8f7c-x1y2z", "node-1"), ("checkout-6d8f7c-x1y2z", "node-1"))
}

/// `checkout_trace` with the frontend's and checkout's spans from these pods, each `(pod, node)`.
pub fn checkout_trace_from(frontend: (&str, &str), checkout: (&str, &str)) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![
            from_pod(
                "frontend",
                frontend,
                vec![
                    span(1, None, SpanKind::Server, &[]),
                    span(2, Some(1), SpanKind::Client, &[("server.address", "checkout.shop.svc")]),
                ],
            ),
            from_pod(
                "checkout",
                checkout,
                vec![
                    span(3, Some(2), SpanKind::Server, &[]),
                    span(4, Some(3), SpanKind::Client, &[("peer.service", "payments")]),
                    span(
                        5,
                        Some(3),
                        SpanKind::Client,
                        &[("db.system", "postgresql"), ("server.address", "orders-db")],
                    ),
                    span(6, Some(3), SpanKind::Internal, &[]),
                ],
            ),
        ],
    }
}

fn accepted(source: &str) -> String {
    format!("noisegate_accepted_records_total{{source=\"{source}\"}}")
}

fn rejected(source: &str, reason: &str) -> String {
    format!("noisegate_rejected_requests_total{{source=\"{source}\",reason=\"{reason}\"}}")
}

async fn trace_client(server: &TestServer) -> TraceServiceClient<tonic::transport::Channel> {
    TraceServiceClient::connect(format!("http://{}", server.grpc)).await.unwrap()
}

#[tokio::test]
async fn grpc_trace_export_is_accepted_whole_beside_the_logs_service() {
    let pagerduty = FakePagerDuty::start().await;
    let server = TestServer::start(&config_yaml(&pagerduty.url, ROUTE)).await;
    let mut client = trace_client(&server).await.send_compressed(tonic::codec::CompressionEncoding::Gzip);

    let response = client.export(checkout_trace()).await.unwrap().into_inner();
    assert_eq!(response.partial_success, None, "a trace request is accepted whole");
    let response = client.export(ExportTraceServiceRequest::default()).await.unwrap().into_inner();
    assert_eq!(response.partial_success, None);
    assert_eq!(server.metric("noisegate_received_requests_total{source=\"otlp_traces_grpc\"}").await, 2.0);
    assert_eq!(server.metric(&accepted("otlp_traces_grpc")).await, 6.0);
    assert_eq!(server.metric(&accepted("otlp_grpc")).await, 0.0, "spans are not counted as logs");

    // The logs service answers on the same port.
    let mut logs =
        opentelemetry_proto::tonic::collector::logs::v1::logs_service_client::LogsServiceClient::connect(
            format!("http://{}", server.grpc),
        )
        .await
        .unwrap();
    let log = crate::otlp::record(vec![], "checkout slow", 9);
    logs.export(crate::otlp::request("checkout", vec![log])).await.unwrap();
    assert_eq!(server.metric(&accepted("otlp_grpc")).await, 1.0);
    server.stop().await;
}

#[tokio::test]
async fn grpc_refuses_malformed_and_oversized_trace_requests_whole() {
    let pagerduty = FakePagerDuty::start().await;
    let server = TestServer::start(&config_yaml(&pagerduty.url, LIMITS)).await;
    let channel = server.grpc_channel().await;
    let message =
        malformed_grpc_refusal(&channel, "/opentelemetry.proto.collector.trace.v1.TraceService/Export").await;
    assert!(message.contains("invalid OTLP protobuf traces request"), "{message}");

    let mut client = TraceServiceClient::new(channel);
    let status = client.export(checkout_trace()).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::ResourceExhausted, "{status:?}");
    assert!(status.message().contains("6 spans exceed the limit of 5 per request"), "{}", status.message());

    let mut big = checkout_trace();
    big.resource_spans.truncate(1);
    big.resource_spans[0].scope_spans[0].spans[0].attributes.push(kv("blob", &"x".repeat(70_000)));
    let status = client.export(big).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::ResourceExhausted, "{status:?}");

    // Nothing of the refused requests was taken; a good one after them is.
    assert_eq!(server.metric(&accepted("otlp_traces_grpc")).await, 0.0);
    let mut frontend = checkout_trace();
    frontend.resource_spans.truncate(1);
    let response = client.export(frontend).await.unwrap().into_inner();
    assert_eq!(response.partial_success, None);
    assert_eq!(server.metric(&accepted("otlp_traces_grpc")).await, 2.0);
    for (reason, count) in [("malformed", 1.0), ("too_many_records", 1.0), ("too_large", 1.0)] {
        let sample = rejected("otlp_traces_grpc", reason);
        assert_eq!(server.metric(&sample).await, count, "{sample}");
    }
    server.stop().await;
}

#[tokio::test]
async fn http_accepts_trace_requests_in_protobuf_json_and_gzip() {
    let pagerduty = FakePagerDuty::start().await;
    let server = TestServer::start(&config_yaml(&pagerduty.url, ROUTE)).await;
    let client = http();
    let url = server.url("/v1/traces");

    // Protobuf, answered in protobuf.
    let response = client
        .post(&url)
        .header("content-type", "application/x-protobuf")
        .body(checkout_trace().encode_to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/x-protobuf");
    let decoded = ExportTraceServiceResponse::decode(response.bytes().await.unwrap()).unwrap();
    assert_eq!(decoded.partial_success, None);

    // JSON as the OTLP spec writes it, answered in JSON.
    let response =
        client.post(&url).header("content-type", "application/json").body(CART_JSON).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    let answer: Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
    assert!(answer["partialSuccess"].is_null(), "{answer}");

    // gzip-compressed protobuf.
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(&checkout_trace().encode_to_vec()).unwrap();
    let response = client
        .post(&url)
        .header("content-type", "application/x-protobuf")
        .header("content-encoding", "gzip")
        .body(encoder.finish().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    assert_eq!(server.metric("noisegate_received_requests_total{source=\"otlp_traces_http\"}").await, 3.0);
    assert_eq!(server.metric(&accepted("otlp_traces_http")).await, 15.0);
    assert_eq!(server.metric(&accepted("otlp_http")).await, 0.0);
    server.stop().await;
}

#[tokio::test]
async fn http_trace_errors_name_the_problem_and_are_counted() {
    let pagerduty = FakePagerDuty::start().await;
    let server = TestServer::start(&config_yaml(&pagerduty.url, LIMITS)).await;
    let url = server.url("/v1/traces");
    let post = |content_type: &'static str, body: Vec<u8>| {
        http().post(&url).header("content-type", content_type).body(body).send()
    };

    let response = post("application/x-protobuf", vec![0x0a, 0xff, 0xff, 0xff]).await.unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(response.headers()["content-type"], "application/x-protobuf");
    let status = RpcStatus::decode(response.bytes().await.unwrap()).unwrap();
    assert_eq!(status.code, tonic::Code::InvalidArgument as i32);
    assert!(status.message.contains("invalid OTLP protobuf traces request"), "{}", status.message);

    let response = post("application/json", br#"{"resourceSpans": 3}"#.to_vec()).await.unwrap();
    assert_eq!(response.status(), 400);
    let error: Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
    assert!(error["message"].as_str().unwrap().contains("invalid OTLP/JSON traces request"), "{error}");

    let response = post("application/x-protobuf", checkout_trace().encode_to_vec()).await.unwrap();
    assert_eq!(response.status(), 413);
    let status = RpcStatus::decode(response.bytes().await.unwrap()).unwrap();
    assert!(status.message.contains("6 spans exceed the limit of 5 per request"), "{}", status.message);

    let response = post("text/plain", b"spans".to_vec()).await.unwrap();
    assert_eq!(response.status(), 415);

    assert_eq!(server.metric(&accepted("otlp_traces_http")).await, 0.0);
    for (reason, count) in [("malformed", 2.0), ("too_many_records", 1.0), ("unsupported_media_type", 1.0)] {
        let sample = rejected("otlp_traces_http", reason);
        assert_eq!(server.metric(&sample).await, count, "{sample}");
    }
    server.stop().await;
}

#[tokio::test]
async fn trace_exports_need_a_valid_token_when_tokens_are_configured() {
    let pagerduty = FakePagerDuty::start().await;
    let auth = "auth:\n  ingest_tokens:\n    - value: \"trace-token\"\n";
    let server = TestServer::start(&config_yaml(&pagerduty.url, &format!("{ROUTE}{auth}"))).await;

    let mut client = trace_client(&server).await;
    let status = client.export(checkout_trace()).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unauthenticated);
    let mut request = tonic::Request::new(checkout_trace());
    request.metadata_mut().insert("authorization", "Bearer guess".parse().unwrap());
    assert_eq!(client.export(request).await.unwrap_err().code(), tonic::Code::Unauthenticated);
    let mut request = tonic::Request::new(checkout_trace());
    request.metadata_mut().insert("authorization", "Bearer trace-token".parse().unwrap());
    client.export(request).await.unwrap();

    let url = server.url("/v1/traces");
    let post = |token: Option<&str>| {
        let mut request = http().post(&url).header("content-type", "application/json").body(CART_JSON);
        if let Some(token) = token {
            request = request.header(AUTHORIZATION, format!("Bearer {token}"));
        }
        request.send()
    };
    assert_eq!(post(None).await.unwrap().status(), 401);
    assert_eq!(post(Some("trace-token")).await.unwrap().status(), 200);

    assert_eq!(server.metric("noisegate_unauthenticated_requests_total{listener=\"grpc\"}").await, 2.0);
    assert_eq!(server.metric("noisegate_unauthenticated_requests_total{listener=\"http\"}").await, 1.0);
    assert_eq!(server.metric(&accepted("otlp_traces_grpc")).await, 6.0);
    assert_eq!(server.metric(&accepted("otlp_traces_http")).await, 3.0);
    server.stop().await;
}

#[tokio::test]
async fn recorded_trace_requests_replay_without_rejections() {
    let Recording { dir, capture, pagerduty: _pagerduty, yaml, server } =
        Recording::start("capture.jsonl", ROUTE).await;
    trace_client(&server).await.export(checkout_trace()).await.unwrap();
    let (status, body) = post_json(&server.url("/v1/traces"), CART_JSON).await;
    assert_eq!(status, 200, "{body}");
    server.stop().await;

    let recorded = std::fs::read_to_string(&capture).unwrap();
    let lines: Vec<Value> = recorded.lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    let sources: Vec<&str> = lines.iter().map(|line| line["source"].as_str().unwrap()).collect();
    assert_eq!(sources, ["otlp_traces_json", "otlp_traces_json"], "{recorded}");
    // Protobuf is recorded as OTLP/JSON: ids in hex, as the spec writes them.
    let first_span = &lines[0]["body"]["resourceSpans"][0]["scopeSpans"][0]["spans"][0];
    assert_eq!(first_span["traceId"], "4bf92f3577b34da6a3ce929d0e0e4736", "{first_span}");

    let output = replay(&dir, &yaml, &capture, &temp_path(&dir, "pages.jsonl"));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "replay failed: {stderr}");
    assert!(stderr.contains("replayed 2 requests"), "{stderr}");
    assert!(stderr.contains("0 unreadable lines, 0 rejected requests, 0 rejected records"), "{stderr}");
}
