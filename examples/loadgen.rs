//! The load generator: `concurrency` clients send batches to a running noisegate over the
//! Alertmanager API v2, OTLP/HTTP or OTLP/gRPC (logs or traces), as fast as they are answered
//! (or at `--rate` requests per second in all), for `--seconds`; it reports what was accepted,
//! the latency of the acknowledgements, and, given the service's `--pid`, its CPU use and peak
//! memory.
//!
//! ```sh
//! cargo run --release --example loadgen -- --protocol otlp-grpc --batch 512 --concurrency 16
//! cargo run --release --example loadgen -- --protocol am --batch 256 --distinct 10000 --pid $(pidof noisegate)
//! cargo run --release --example loadgen -- --protocol otlp-traces-grpc --batch 300 --concurrency 8
//! ```
//!
//! Alerts are shaped like kube-prometheus ones (alertname, namespace, pod, container, job,
//! instance, severity, cluster, prometheus, summary and description annotations), and cycle
//! through `--distinct` label sets: fewer than the service holds means re-sends (deduplicated),
//! more means new alerts, as in a storm. OTLP records are OTel SDK logs of about 300 bytes, one
//! in `1 / --alert-ratio` an alert; their batches repeat after 256. Traces are requests through
//! a chain of ten services (`telemetry::CALL_CHAIN`), 30 spans each (SERVER, INTERNAL and
//! CLIENT spans per service), from three pods per service; `--batch` spans a request, rounded
//! up to whole traces; their batches repeat after 256 too. Each distinct request body
//! is built once and sent again as it comes round (unless there are too many: a storm of new
//! alerts builds each as it goes), so the generator spends its share of the CPU sending. A 429
//! or 503 is answered by waiting its `Retry-After` (capped at one second), as Alertmanager and
//! OTLP exporters do.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use prost::Message;

#[path = "common/telemetry.rs"]
mod telemetry;
use telemetry::{alerts_json, logs_request, spans_per_request, traces_request};

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
enum Protocol {
    /// Alertmanager API v2, `POST /api/v2/alerts` (JSON).
    Am,
    /// OTLP/HTTP, `POST /v1/logs` (protobuf).
    OtlpHttp,
    /// OTLP/gRPC, `LogsService/Export`.
    OtlpGrpc,
    /// OTLP/HTTP, `POST /v1/traces` (protobuf).
    OtlpTracesHttp,
    /// OTLP/gRPC, `TraceService/Export`.
    OtlpTracesGrpc,
}

impl Protocol {
    fn traces(self) -> bool {
        matches!(self, Protocol::OtlpTracesHttp | Protocol::OtlpTracesGrpc)
    }

    /// What a request carries.
    fn what(self) -> &'static str {
        match self {
            Protocol::Am => "alerts",
            Protocol::OtlpHttp | Protocol::OtlpGrpc => "records",
            Protocol::OtlpTracesHttp | Protocol::OtlpTracesGrpc => "spans",
        }
    }
}

#[derive(Debug, Parser)]
struct Args {
    #[arg(long, value_enum, default_value_t = Protocol::Am)]
    protocol: Protocol,
    /// The HTTP listener (Alertmanager API, OTLP/HTTP).
    #[arg(long, default_value = "http://127.0.0.1:4318")]
    url: String,
    /// The gRPC listener.
    #[arg(long, default_value = "http://127.0.0.1:4317")]
    grpc: String,
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Alerts, log records or spans per request (spans rounded up to whole traces).
    #[arg(long, default_value_t = 256)]
    batch: usize,
    /// Distinct alerts cycled through.
    #[arg(long, default_value_t = 100_000)]
    distinct: u64,
    /// OTLP: the share of records that are alerts.
    #[arg(long, default_value_t = 0.02)]
    alert_ratio: f64,
    /// Requests per second in all, paced; 0: as fast as they are answered.
    #[arg(long, default_value_t = 0.0)]
    rate: f64,
    /// The service's process id, for its CPU time and peak memory.
    #[arg(long)]
    pid: Option<u32>,
}

/// Request bodies already built, by where they start in the cycle of distinct alerts (or of
/// log batches): building them costs the generator CPU the service would otherwise get.
#[derive(Default)]
struct Bodies {
    built: RwLock<HashMap<u64, bytes::Bytes>>,
}

/// Bodies kept at most; beyond it (a storm of new alerts), each is built as it is sent.
const MAX_BODIES: usize = 2048;
/// OTLP batches repeat after this many (their alerts are re-sent, their logs mined again).
const LOG_CYCLE: u64 = 256;

impl Bodies {
    fn get(&self, key: u64, cacheable: bool, build: impl FnOnce() -> Vec<u8>) -> bytes::Bytes {
        if let Some(body) = self.built.read().ok().and_then(|built| built.get(&key).cloned()) {
            return body;
        }
        let body = bytes::Bytes::from(build());
        if cacheable {
            if let Ok(mut built) = self.built.write() {
                if built.len() < MAX_BODIES {
                    built.insert(key, body.clone());
                }
            }
        }
        body
    }
}

#[derive(Default)]
struct Report {
    ok: u64,
    throttled: u64,
    unavailable: u64,
    other: u64,
    errors: u64,
    latencies: Vec<Duration>,
}

impl Report {
    fn merge(&mut self, other: Report) {
        self.ok += other.ok;
        self.throttled += other.throttled;
        self.unavailable += other.unavailable;
        self.other += other.other;
        self.errors += other.errors;
        self.latencies.extend(other.latencies);
    }
}

/// What one request came to: accepted, or refused with an optional Retry-After.
enum Outcome {
    Ok,
    Throttled(Option<u64>),
    Unavailable(Option<u64>),
    Other,
    Error,
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::builder().pool_max_idle_per_host(args.concurrency).build().expect("client");
    let grpc = match args.protocol {
        Protocol::OtlpGrpc | Protocol::OtlpTracesGrpc => Some(
            tonic::transport::Endpoint::from_shared(args.grpc.clone())
                .expect("grpc url")
                .connect()
                .await
                .expect("the gRPC listener answers"),
        ),
        _ => None,
    };
    let cpu_before = args.pid.and_then(cpu_seconds);
    let buckets_before = engine_buckets(&http, &args.url).await;
    let next = Arc::new(AtomicU64::new(0));
    let bodies = Arc::new(Bodies::default());
    // Alert bodies repeat once every distinct alert was sent; cache them if that is soon enough.
    let cycle = args.distinct.max(1) / gcd(args.distinct.max(1), args.batch.max(1) as u64);
    let cache_alerts = cycle as usize <= MAX_BODIES;
    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    let started = Instant::now();
    let period = (args.rate > 0.0).then(|| Duration::from_secs_f64(args.concurrency as f64 / args.rate));
    let mut clients = Vec::new();
    for _ in 0..args.concurrency {
        let (http, grpc, next, bodies) = (http.clone(), grpc.clone(), next.clone(), bodies.clone());
        let (protocol, url, batch, distinct, ratio) =
            (args.protocol, args.url.clone(), args.batch, args.distinct, args.alert_ratio);
        clients.push(tokio::spawn(async move {
            let mut report = Report::default();
            let mut pace = period.map(|period| {
                let mut interval = tokio::time::interval(period);
                interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                interval
            });
            let mut grpc = grpc.map(tonic::client::Grpc::new);
            while Instant::now() < deadline {
                if let Some(pace) = &mut pace {
                    pace.tick().await;
                }
                let first = next.fetch_add(batch as u64, Ordering::Relaxed);
                let sent = Instant::now();
                let outcome = match protocol {
                    Protocol::Am => {
                        let key = first % distinct.max(1);
                        let body = bodies
                            .get(key, cache_alerts, || alerts_json(first, batch, distinct).into_bytes());
                        post(&http, format!("{url}/api/v2/alerts"), "application/json", body).await
                    }
                    Protocol::OtlpHttp | Protocol::OtlpTracesHttp => {
                        let key = first / batch.max(1) as u64 % LOG_CYCLE;
                        let body =
                            bodies.get(key, true, || otlp_body(protocol, first, batch, distinct, ratio));
                        let path = if protocol.traces() { "/v1/traces" } else { "/v1/logs" };
                        post(&http, format!("{url}{path}"), "application/x-protobuf", body).await
                    }
                    Protocol::OtlpGrpc | Protocol::OtlpTracesGrpc => {
                        let key = first / batch.max(1) as u64 % LOG_CYCLE;
                        let body =
                            bodies.get(key, true, || otlp_body(protocol, first, batch, distinct, ratio));
                        let client = grpc.as_mut().expect("connected");
                        let export = async {
                            client
                                .ready()
                                .await
                                .map_err(|error| tonic::Status::unavailable(error.to_string()))?;
                            let path =
                                tonic::codegen::http::uri::PathAndQuery::from_static(if protocol.traces() {
                                    "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
                                } else {
                                    "/opentelemetry.proto.collector.logs.v1.LogsService/Export"
                                });
                            client.unary(tonic::Request::new(body), path, RawCodec).await
                        };
                        match export.await {
                            Ok(_) => Outcome::Ok,
                            Err(status) if status.code() == tonic::Code::Unavailable => {
                                Outcome::Unavailable(Some(1))
                            }
                            Err(status) if status.code() == tonic::Code::ResourceExhausted => {
                                Outcome::Throttled(Some(1))
                            }
                            Err(_) => Outcome::Other,
                        }
                    }
                };
                let latency = sent.elapsed();
                let wait = match outcome {
                    Outcome::Ok => {
                        report.ok += 1;
                        report.latencies.push(latency);
                        None
                    }
                    Outcome::Throttled(wait) => {
                        report.throttled += 1;
                        wait
                    }
                    Outcome::Unavailable(wait) => {
                        report.unavailable += 1;
                        wait
                    }
                    Outcome::Other => {
                        report.other += 1;
                        None
                    }
                    Outcome::Error => {
                        report.errors += 1;
                        Some(0)
                    }
                };
                if let Some(seconds) = wait {
                    tokio::time::sleep(Duration::from_millis((seconds * 1000).clamp(100, 1000))).await;
                }
            }
            report
        }));
    }
    let mut total = Report::default();
    for client in clients {
        total.merge(client.await.expect("client task"));
    }
    let elapsed = started.elapsed().as_secs_f64();
    total.latencies.sort_unstable();
    let percentile = |p: f64| {
        total
            .latencies
            .get(((total.latencies.len() as f64 * p) as usize).min(total.latencies.len().saturating_sub(1)))
            .map_or(0.0, |latency| latency.as_secs_f64() * 1000.0)
    };
    let what = args.protocol.what();
    let per_request = if args.protocol.traces() { spans_per_request(args.batch) } else { args.batch };
    println!(
        "{:?}, {} clients, {} {what}/request, {:.1}s: {} ok ({:.0} requests/s, {:.0} {what}/s), {} 429, {} 503, \
         {} other, {} errors; acknowledged in p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        args.protocol,
        args.concurrency,
        per_request,
        elapsed,
        total.ok,
        total.ok as f64 / elapsed,
        (total.ok * per_request as u64) as f64 / elapsed,
        total.throttled,
        total.unavailable,
        total.other,
        total.errors,
        percentile(0.5),
        percentile(0.99),
        percentile(1.0),
    );
    let buckets_after = engine_buckets(&http, &args.url).await;
    if let (Some(before), Some(after)) = (buckets_before, buckets_after) {
        let delta: Vec<(f64, f64)> =
            after.iter().zip(&before).map(|((le, count), (_, earlier))| (*le, count - earlier)).collect();
        let total = delta.last().map_or(0.0, |(_, count)| *count);
        let bound = |p: f64| {
            delta.iter().find(|(_, count)| *count >= total * p).map_or(f64::INFINITY, |(le, _)| le * 1000.0)
        };
        println!(
            "in the service, hand-off to engine applied (noisegate_ingest_to_engine_seconds): p50 <= {} ms, p99 <= {} ms",
            bound(0.5),
            bound(0.99)
        );
    }
    if let Some(pid) = args.pid {
        let cpu = cpu_seconds(pid).zip(cpu_before).map(|(after, before)| after - before);
        println!(
            "service: {:.0}% CPU (of one core), peak RSS {} MiB",
            cpu.map_or(0.0, |cpu| cpu / elapsed * 100.0),
            peak_rss_mib(pid).unwrap_or(0)
        );
    }
}

/// An OTLP request body: log records, or spans of whole traces.
fn otlp_body(protocol: Protocol, first: u64, batch: usize, distinct: u64, ratio: f64) -> Vec<u8> {
    if protocol.traces() {
        traces_request(first, batch).encode_to_vec()
    } else {
        logs_request(first, batch, distinct, ratio).encode_to_vec()
    }
}

async fn post(http: &reqwest::Client, url: String, content_type: &str, body: bytes::Bytes) -> Outcome {
    let response = http.post(url).header("content-type", content_type).body(body).send().await;
    let Ok(response) = response else { return Outcome::Error };
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    let _ = response.bytes().await;
    match status {
        200..=299 => Outcome::Ok,
        429 => Outcome::Throttled(retry_after),
        503 => Outcome::Unavailable(retry_after),
        _ => Outcome::Other,
    }
}

/// Sends an already encoded request and ignores the answer's body: the generator spends its
/// CPU on sending, not on encoding.
#[derive(Clone, Copy)]
struct RawCodec;

struct RawEncoder;

struct RawDecoder;

impl tonic::codec::Codec for RawCodec {
    type Encode = bytes::Bytes;
    type Decode = ();
    type Encoder = RawEncoder;
    type Decoder = RawDecoder;

    fn encoder(&mut self) -> RawEncoder {
        RawEncoder
    }

    fn decoder(&mut self) -> RawDecoder {
        RawDecoder
    }
}

impl tonic::codec::Encoder for RawEncoder {
    type Item = bytes::Bytes;
    type Error = tonic::Status;

    fn encode(
        &mut self,
        item: bytes::Bytes,
        buffer: &mut tonic::codec::EncodeBuf<'_>,
    ) -> Result<(), tonic::Status> {
        bytes::BufMut::put(buffer, item);
        Ok(())
    }
}

impl tonic::codec::Decoder for RawDecoder {
    type Item = ();
    type Error = tonic::Status;

    fn decode(&mut self, buffer: &mut tonic::codec::DecodeBuf<'_>) -> Result<Option<()>, tonic::Status> {
        let remaining = bytes::Buf::remaining(buffer);
        bytes::Buf::advance(buffer, remaining);
        Ok(Some(()))
    }
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// The cumulative buckets of `noisegate_ingest_to_engine_seconds`, as (upper bound, count).
async fn engine_buckets(http: &reqwest::Client, url: &str) -> Option<Vec<(f64, f64)>> {
    let text = http.get(format!("{url}/metrics")).send().await.ok()?.text().await.ok()?;
    let buckets: Vec<(f64, f64)> = text
        .lines()
        .filter_map(|line| line.strip_prefix("noisegate_ingest_to_engine_seconds_bucket{le=\""))
        .filter_map(|rest| {
            let (le, count) = rest.split_once("\"} ")?;
            Some((if le == "+Inf" { f64::INFINITY } else { le.parse().ok()? }, count.trim().parse().ok()?))
        })
        .collect();
    (!buckets.is_empty()).then_some(buckets)
}

/// User and system CPU seconds of a process.
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

fn peak_rss_mib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    Some(line.split_whitespace().nth(1)?.parse::<u64>().ok()? / 1024)
}
