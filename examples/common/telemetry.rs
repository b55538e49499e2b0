//! What the load generators send: kube-prometheus alerts and OTel SDK log batches. Shared by
//! `loadgen.rs`, `kafka_load.rs` and `benches/engine.rs` (each includes it as a module).

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;

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
