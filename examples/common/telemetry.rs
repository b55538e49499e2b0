//! What the load generators send: kube-prometheus alerts, OTel SDK log batches and trace
//! batches. Shared by `loadgen.rs`, `kafka_load.rs` and `benches/engine.rs` (each includes it as
//! a module).

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status, status};

pub const NAMESPACES: [&str; 6] = ["shop", "payments", "search", "monitoring", "kube-system", "ingress"];
pub const ALERTS: [(&str, &str); 8] = [
    ("KubePodCrashLooping", "warning"),
    ("KubePodNotReady", "warning"),
    ("KubeContainerWaiting", "warning"),
    ("CPUThrottlingHigh", "info"),
    ("KubeDeploymentReplicasMismatch", "warning"),
    ("TargetDown", "warning"),
    ("KubeJobFailed", "warning"),
    ("NodeFilesystemSpaceFillingUp", "critical"),
];

fn text(value: &str) -> Option<AnyValue> {
    Some(AnyValue { value: Some(any_value::Value::StringValue(value.to_owned())) })
}

fn kv(key: &str, value: &str) -> KeyValue {
    KeyValue { key: key.to_owned(), value: text(value), ..Default::default() }
}

/// OTel SDK logs of one service, about 300 bytes a record; one in `1 / ratio` an alert.
pub fn logs_request(first: u64, count: usize, distinct: u64, ratio: f64) -> ExportLogsServiceRequest {
    let every = if ratio > 0.0 { (1.0 / ratio).round().max(1.0) as u64 } else { u64::MAX };
    let service = NAMESPACES[(first / count.max(1) as u64 % NAMESPACES.len() as u64) as usize];
    let mut records = Vec::with_capacity(count);
    for offset in 0..count as u64 {
        let n = first + offset;
        let mut attributes = vec![
            kv("http.route", "/api/v1/products/{id}"),
            kv("http.request.method", "GET"),
            kv("k8s.pod.name", &format!("{service}-7d9f8b6c5-{:05}", n % 7)),
        ];
        if n % every == 0 {
            let id = n % distinct.max(1);
            let (name, severity) = ALERTS[(id % ALERTS.len() as u64) as usize];
            attributes.push(kv("alertname", name));
            attributes.push(kv("severity", severity));
            attributes.push(kv("instance", &format!("10.2.{}.{}:8080", id / 250 % 250, id % 250)));
        }
        records.push(LogRecord {
            time_unix_nano: 1_793_577_604_000_000_000 + n * 1_000,
            observed_time_unix_nano: 1_793_577_604_000_000_000 + n * 1_000,
            severity_number: if n % 9 == 0 { 17 } else { 9 },
            severity_text: if n % 9 == 0 { "ERROR".to_owned() } else { "INFO".to_owned() },
            body: text(&format!(
                "request GET /api/v1/products/{} served in {} ms by {service} (cache {})",
                n % 9973,
                n % 97,
                if n % 3 == 0 { "miss" } else { "hit" }
            )),
            attributes,
            trace_id: (n as u128).to_be_bytes().to_vec(),
            span_id: n.to_be_bytes().to_vec(),
            ..Default::default()
        });
    }
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(Resource {
                attributes: vec![
                    kv("service.name", service),
                    kv("k8s.namespace.name", service),
                    kv("k8s.cluster.name", "prod-eu-1"),
                    kv("telemetry.sdk.language", "go"),
                ],
                ..Default::default()
            }),
            scope_logs: vec![ScopeLogs { log_records: records, ..Default::default() }],
            ..Default::default()
        }],
    }
}

/// `count` kube-prometheus-shaped alerts as Prometheus posts them (an Alertmanager API v2
/// body), cycling through `distinct` identities from `first`.
pub fn alerts_json(first: u64, count: usize, distinct: u64) -> String {
    let mut body = String::with_capacity(count * 520);
    body.push('[');
    for offset in 0..count as u64 {
        let id = (first + offset) % distinct.max(1);
        let (name, severity) = ALERTS[(id % ALERTS.len() as u64) as usize];
        let namespace = NAMESPACES[(id / 8 % NAMESPACES.len() as u64) as usize];
        if offset > 0 {
            body.push(',');
        }
        body.push_str(&format!(
            r#"{{"labels":{{"alertname":"{name}","cluster":"prod-eu-1","container":"app","endpoint":"http-metrics","instance":"10.2.{}.{}:8080","job":"kube-state-metrics","namespace":"{namespace}","pod":"app-{id}-7d9f8b6c5-x2x9k","prometheus":"monitoring/k8s","severity":"{severity}"}},"annotations":{{"description":"Pod {namespace}/app-{id} ({name}) has been in a non-ready state for longer than 15 minutes.","runbook_url":"https://runbooks.prometheus-operator.dev/runbooks/kubernetes/{name}","summary":"{name} on app-{id}"}},"startsAt":"2026-11-02T10:00:00Z","generatorURL":"http://prometheus-k8s-0:9090/graph"}}"#,
            id / 250 % 250,
            id % 250,
        ));
    }
    body.push(']');
    body
}

/// The services of the traced shop, in call order: each calls the next; the last calls its
/// database.
pub const CALL_CHAIN: [&str; 10] = [
    "frontend",
    "api-gateway",
    "checkout",
    "cart",
    "catalog",
    "pricing",
    "inventory",
    "payments",
    "shipping",
    "notifications",
];
/// Spans of one trace: per service a SERVER span (the callee's side of its caller's CLIENT
/// span), an INTERNAL one and a CLIENT one calling the next service (the last one its database).
pub const SPANS_PER_TRACE: usize = 3 * CALL_CHAIN.len();
/// Pods per service, spread over `NODES` nodes.
const PODS: u64 = 3;
const NODES: u64 = 12;

fn int(key: &str, value: i64) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue { value: Some(any_value::Value::IntValue(value)) }),
        ..Default::default()
    }
}

/// The spans `traces_request` sends for `count`: whole traces, at least one.
pub fn spans_per_request(count: usize) -> usize {
    count.div_ceil(SPANS_PER_TRACE).max(1) * SPANS_PER_TRACE
}

/// `count` spans (rounded up to whole traces, `spans_per_request`) as an OTel Collector batches
/// them, traces numbered from `first`: one resource (service, pod, node) per service and pod,
/// each trace a request through the whole call chain, with the attributes of the HTTP and
/// database semantic conventions.
pub fn traces_request(first: u64, count: usize) -> ExportTraceServiceRequest {
    let traces = (spans_per_request(count) / SPANS_PER_TRACE) as u64;
    // Spans by (service, pod), in the order they are first seen.
    let mut resources: Vec<((usize, u64), Vec<Span>)> = Vec::new();
    for trace in first..first + traces {
        let trace_id = (u128::from(trace) << 64 | 0x5eed).to_be_bytes().to_vec();
        let start = 1_793_577_604_000_000_000 + trace * 1_000_000;
        let pod = trace % PODS;
        let mut parent = Vec::new();
        for (index, service) in CALL_CHAIN.iter().enumerate() {
            let id = |role: u64| ((trace << 16) | (index as u64) << 2 | role).to_be_bytes().to_vec();
            let at = start + index as u64 * 2_000_000;
            let callee = CALL_CHAIN.get(index + 1);
            let base = Span {
                trace_id: trace_id.clone(),
                parent_span_id: id(0),
                status: Some(Status { code: status::StatusCode::Unset as i32, ..Default::default() }),
                ..Default::default()
            };
            let mut server_attributes = vec![
                kv("http.request.method", "GET"),
                kv("http.route", &format!("/api/v1/{service}/{{id}}")),
                kv("url.scheme", "http"),
                int("http.response.status_code", 200),
                kv("network.protocol.version", "1.1"),
            ];
            if index == 0 {
                server_attributes.push(kv("user_agent.original", "Mozilla/5.0 (X11; Linux x86_64)"));
            }
            let server = Span {
                span_id: id(0),
                parent_span_id: parent,
                name: format!("GET /api/v1/{service}/{{id}}"),
                kind: SpanKind::Server as i32,
                start_time_unix_nano: at,
                end_time_unix_nano: at + 1_900_000,
                attributes: server_attributes,
                ..base.clone()
            };
            let internal = Span {
                span_id: id(1),
                name: format!("{service}.handle"),
                kind: SpanKind::Internal as i32,
                start_time_unix_nano: at + 10_000,
                end_time_unix_nano: at + 200_000,
                attributes: vec![kv("code.function", "handle")],
                ..base.clone()
            };
            let (name, attributes) = match callee {
                Some(next) => (
                    "GET".to_owned(),
                    vec![
                        kv("http.request.method", "GET"),
                        kv("server.address", &format!("{next}.shop.svc.cluster.local")),
                        int("server.port", 8080),
                        kv(
                            "url.full",
                            &format!(
                                "http://{next}.shop.svc.cluster.local:8080/api/v1/{next}/{}",
                                trace % 9973
                            ),
                        ),
                        int("http.response.status_code", 200),
                    ],
                ),
                None => (
                    "SELECT orders".to_owned(),
                    vec![
                        kv("db.system", "postgresql"),
                        kv("db.namespace", "orders"),
                        kv("db.operation.name", "SELECT"),
                        kv("server.address", "orders-db.shop.svc.cluster.local"),
                        int("server.port", 5432),
                    ],
                ),
            };
            let client = Span {
                span_id: id(2),
                name,
                kind: SpanKind::Client as i32,
                start_time_unix_nano: at + 200_000,
                end_time_unix_nano: at + 1_800_000,
                attributes,
                ..base
            };
            parent = client.span_id.clone();
            let spans = [server, internal, client];
            let key = (index, pod);
            match resources.iter_mut().find(|(seen, _)| *seen == key) {
                Some((_, batch)) => batch.extend(spans),
                None => resources.push((key, spans.into())),
            }
        }
    }
    ExportTraceServiceRequest {
        resource_spans: resources
            .into_iter()
            .map(|((index, pod), spans)| {
                let service = CALL_CHAIN[index];
                ResourceSpans {
                    resource: Some(Resource {
                        attributes: vec![
                            kv("service.name", service),
                            kv("service.namespace", "shop"),
                            kv("k8s.namespace.name", "shop"),
                            kv("k8s.pod.name", &format!("{service}-7d9f8b6c5-{pod:05}")),
                            kv("k8s.node.name", &format!("node-{}", (index as u64 * PODS + pod) % NODES)),
                            kv("k8s.cluster.name", "prod-eu-1"),
                            kv("telemetry.sdk.language", "go"),
                            kv("telemetry.sdk.name", "opentelemetry"),
                        ],
                        ..Default::default()
                    }),
                    scope_spans: vec![ScopeSpans { spans, ..Default::default() }],
                    ..Default::default()
                }
            })
            .collect(),
    }
}
