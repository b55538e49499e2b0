//! The bodies of the fuzz targets, one function per input decoder. Each only has to return
//! without panicking: decoders may reject any input, and what they return is dropped.
//!
//! `fuzz_targets/<name>.rs` calls the function of that name under libFuzzer; the stable test
//! `tests/it/fuzz_seeds.rs` includes this file and runs every seed in `seeds/<name>/` through
//! [`TARGETS`], so a seed (or a saved crash) keeps being checked without nightly.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use noisegate::config;
use noisegate::ingest::Limits;
use noisegate::ingest::WireFormat;
use noisegate::kafka::{changelog as kafka_changelog, source as kafka_source};
use noisegate::secret::Secret;
use noisegate::sources::otlp::traces;
use noisegate::sources::{alertmanager, capture, otlp, pagerduty, pagerduty_webhook};
use noisegate_engine::{Engine, EngineConfig};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;

/// The files of a target's seed directory (`seeds/<name>/`), in name order.
pub fn seed_files(directory: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(directory)? {
        let path = entry?.path();
        if path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// A fuzz target's body: takes any bytes, must not panic.
pub type Target = fn(&[u8]);

/// Every target by name; the names are those of `fuzz_targets/*.rs` and `seeds/*/`.
pub const TARGETS: &[(&str, Target)] = &[
    ("alertmanager_v2", alertmanager_v2),
    ("alertmanager_webhook", alertmanager_webhook),
    ("capture_line", capture_line),
    ("changelog", changelog),
    ("config", config),
    ("kafka_message", kafka_message),
    ("otlp_json", otlp_json),
    ("otlp_protobuf", otlp_protobuf),
    ("otlp_traces_json", otlp_traces_json),
    ("otlp_traces_protobuf", otlp_traces_protobuf),
    ("pagerduty_change", pagerduty_change),
    ("pagerduty_event", pagerduty_event),
    ("pagerduty_webhook", pagerduty_webhook),
];

/// The secrets `pagerduty_webhook` checks signatures against (the seeds are signed with the first).
pub const WEBHOOK_SECRET: &str = "fuzz-webhook-secret";

/// Every decoder runs under two sets of limits: the defaults of an empty config, and tight ones
/// so that small inputs reach the "too many" / "too long" rejections too.
fn limit_sets() -> &'static [Limits; 2] {
    static LIMITS: OnceLock<[Limits; 2]> = OnceLock::new();
    LIMITS.get_or_init(|| {
        let defaults = config::parse("", &|_| None).expect("an empty config is valid").limits;
        let tight = Limits {
            max_records_per_request: 3,
            max_labels: 4,
            max_label_name_bytes: 12,
            max_label_value_bytes: 12,
            max_annotation_value_bytes: 24,
            ..defaults
        };
        [defaults, tight]
    })
}

fn text(data: &[u8]) -> Option<&str> {
    std::str::from_utf8(data).ok()
}

/// OTLP/HTTP and OTLP/gRPC protobuf bodies, then what `serve --record` does with them: render
/// the request as OTLP/JSON, which `replay` parses and decodes again.
pub fn otlp_protobuf(data: &[u8]) {
    let Ok(request) = ExportLogsServiceRequest::decode(data) else { return };
    for limits in limit_sets() {
        let _ = otlp::decode_request(&request, limits);
    }
    let again = otlp::to_json(&request).and_then(|json| otlp::parse_json(&json));
    if let Ok(again) = again {
        let _ = otlp::decode_request(&again, &limit_sets()[1]);
    }
}

/// OTLP/HTTP JSON bodies.
pub fn otlp_json(data: &[u8]) {
    let Some(body) = text(data) else { return };
    let Ok(request) = otlp::parse_json(body) else { return };
    for limits in limit_sets() {
        let _ = otlp::decode_request(&request, limits);
    }
}

/// OTLP/HTTP and OTLP/gRPC protobuf trace bodies (and Kafka `otlp_traces_proto` messages), then
/// what `serve --record` does with them: render the request as OTLP/JSON, which `replay` parses
/// and decodes again.
pub fn otlp_traces_protobuf(data: &[u8]) {
    let Ok(request) = ExportTraceServiceRequest::decode(data) else { return };
    for limits in limit_sets() {
        let _ = traces::decode_request(&request, limits);
    }
    let again = otlp::to_json(&request).and_then(|json| traces::parse_json(&json));
    if let Ok(again) = again {
        let _ = traces::decode_request(&again, &limit_sets()[1]);
    }
}

/// OTLP/HTTP JSON trace bodies.
pub fn otlp_traces_json(data: &[u8]) {
    let Some(body) = text(data) else { return };
    let Ok(request) = traces::parse_json(body) else { return };
    for limits in limit_sets() {
        let _ = traces::decode_request(&request, limits);
    }
}

/// Alertmanager API v2 `POST /api/v2/alerts` bodies.
pub fn alertmanager_v2(data: &[u8]) {
    let Some(body) = text(data) else { return };
    for limits in limit_sets() {
        let _ = alertmanager::decode_v2(body, limits);
    }
}

/// Alertmanager webhook (`version: "4"`) bodies.
pub fn alertmanager_webhook(data: &[u8]) {
    let Some(body) = text(data) else { return };
    for limits in limit_sets() {
        let _ = alertmanager::decode_webhook(body, limits);
    }
}

/// PagerDuty Events API v2 `POST /v2/enqueue` bodies.
pub fn pagerduty_event(data: &[u8]) {
    let Some(body) = text(data) else { return };
    for limits in limit_sets() {
        let _ = pagerduty::decode_event(body, limits);
    }
}

/// PagerDuty change events (`POST /v2/change/enqueue`).
pub fn pagerduty_change(data: &[u8]) {
    let Some(body) = text(data) else { return };
    let _ = pagerduty::decode_change(body);
}

/// PagerDuty V3 webhooks. The whole input is decoded as a body; when it has a newline, the
/// first line is also taken as an `X-PagerDuty-Signature` header for the rest, which is
/// verified and decoded.
pub fn pagerduty_webhook(data: &[u8]) {
    static SECRETS: OnceLock<[Secret; 2]> = OnceLock::new();
    let secrets =
        SECRETS.get_or_init(|| [Secret::new(WEBHOOK_SECRET.to_owned()), Secret::new(String::new())]);
    let _ = pagerduty_webhook::decode(data);
    if let Some(newline) = data.iter().position(|&byte| byte == b'\n') {
        let (header, body) = (&data[..newline], &data[newline + 1..]);
        if let Some(header) = text(header) {
            let _ = pagerduty_webhook::verify(secrets, header, body);
        }
        let _ = pagerduty_webhook::decode(body);
    }
}

/// A capture file as `replay` reads it: every line through `CaptureReader`, every record's body
/// through `decode_body`. `CaptureReader` only opens paths, so the input goes through a
/// temporary file, named `.gz` when the input starts with the gzip magic.
pub fn capture_line(data: &[u8]) {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let extension = if data.starts_with(&[0x1f, 0x8b]) { "jsonl.gz" } else { "jsonl" };
    let path: PathBuf = std::env::temp_dir().join(format!(
        "noisegate-fuzz-capture-{}-{}.{extension}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let written = std::fs::File::create(&path).and_then(|mut file| file.write_all(data));
    let reader = written.and_then(|()| capture::CaptureReader::open(&path));
    if let Ok(mut reader) = reader {
        // `replay` stops at the first read error and counts (then skips) bad lines.
        while let Ok(Some(record)) = reader.next_record() {
            if let Ok(record) = record {
                for limits in limit_sets() {
                    let _ = capture::decode_body(record.source, record.body, limits);
                }
            }
        }
    }
    let _ = std::fs::remove_file(&path);
}

/// Kafka messages: the first byte picks the topic's encoding, the rest is the message.
pub fn kafka_message(data: &[u8]) {
    let Some((&first, payload)) = data.split_first() else { return };
    let encoding = WireFormat::ALL[usize::from(first) % WireFormat::ALL.len()];
    for limits in limit_sets() {
        let _ = kafka_source::decode(encoding, payload, limits, true);
    }
}

/// Kafka changelog records (a partition's state, written by another replica): decoded, then
/// restored into an engine, as a replica taking the partition over does.
pub fn changelog(data: &[u8]) {
    static CONFIG: OnceLock<EngineConfig> = OnceLock::new();
    let config =
        CONFIG.get_or_init(|| config::parse("", &|_| None).expect("an empty config is valid").engine);
    if let Ok(restored) = kafka_changelog::decode(data) {
        let _ = Engine::restore(config.clone(), &restored.state.snapshot);
    }
}

/// The most `[` and `{` a config input may hold. The YAML scanner (unsafe-libyaml, under
/// serde_yaml_ng) takes time quadratic in flow nesting depth: 10 000 `[` take seconds, which would
/// leave the fuzzer stuck there. Configs are written by operators, so this is noted, not fuzzed.
const MAX_CONFIG_BRACKETS: usize = 1000;

/// YAML config files.
pub fn config(data: &[u8]) {
    if data.iter().filter(|&&byte| byte == b'[' || byte == b'{').count() > MAX_CONFIG_BRACKETS {
        return;
    }
    let Some(text) = text(data) else { return };
    // Secrets and topology may name a `file:` to read. Best effort: keep the fuzzer from
    // reading a device or pseudo file (`/dev/zero` would never end).
    if ["dev/", "proc/", "sys/"].iter().any(|needle| text.contains(needle)) {
        return;
    }
    let _ = config::parse(text, &|_| None);
}
