//! A load generator for the Alertmanager v2 endpoint: `concurrency` clients post batches of
//! alerts as fast as they are answered, for `seconds`, and it reports what came back.
//!
//! ```sh
//! cargo run --release --example loadgen -- http://127.0.0.1:4318 30 64 50 1000000
//! #                                        url                   s  clients alerts/request distinct alerts
//! ```
//!
//! Alerts cycle through `distinct` label sets: fewer than the service holds means re-sends
//! (deduplicated); more means the state grows, as in an alert storm. A 429 or 503 is answered
//! by waiting its `Retry-After` (capped at one second) before that client sends again, as
//! Alertmanager and OTLP exporters do.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |index: usize, default: &str| args.get(index).cloned().unwrap_or_else(|| default.to_owned());
    let url = format!("{}/api/v2/alerts", arg(0, "http://127.0.0.1:4318").trim_end_matches('/'));
    let seconds: u64 = arg(1, "10").parse().expect("seconds");
    let concurrency: usize = arg(2, "32").parse().expect("concurrency");
    let per_request: usize = arg(3, "50").parse().expect("alerts per request");
    let distinct: u64 = arg(4, "100000").parse().expect("distinct alerts");

    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder().pool_max_idle_per_host(concurrency).build().expect("client");
    let next = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut clients = Vec::new();
    for _ in 0..concurrency {
        let (client, url, next) = (client.clone(), url.clone(), next.clone());
        clients.push(tokio::spawn(async move {
            let mut report = Report::default();
            while Instant::now() < deadline {
                let first = next.fetch_add(per_request as u64, Ordering::Relaxed);
                let body = batch(first, per_request, distinct);
                let sent = Instant::now();
                let response =
                    client.post(&url).header("content-type", "application/json").body(body).send().await;
                let latency = sent.elapsed();
                match response {
                    Ok(response) => {
                        let status = response.status().as_u16();
                        let retry_after = response
                            .headers()
                            .get("retry-after")
                            .and_then(|value| value.to_str().ok())
                            .and_then(|value| value.parse::<u64>().ok());
                        let _ = response.bytes().await;
                        match status {
                            200..=299 => {
                                report.ok += 1;
                                report.latencies.push(latency);
                            }
                            429 => report.throttled += 1,
                            503 => report.unavailable += 1,
                            _ => report.other += 1,
                        }
                        if let Some(seconds) = retry_after {
                            tokio::time::sleep(Duration::from_secs(seconds.min(1))).await;
                        }
                    }
                    Err(_) => {
                        report.errors += 1;
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            }
            report
        }));
    }
    let mut total = Report::default();
    for client in clients {
        let report = client.await.expect("client task");
        total.ok += report.ok;
        total.throttled += report.throttled;
        total.unavailable += report.unavailable;
        total.other += report.other;
        total.errors += report.errors;
        total.latencies.extend(report.latencies);
    }
    let elapsed = started.elapsed().as_secs_f64();
    total.latencies.sort_unstable();
    let percentile = |p: f64| {
        total
            .latencies
            .get(((total.latencies.len() as f64 * p) as usize).min(total.latencies.len().saturating_sub(1)))
            .map_or(0.0, |latency| latency.as_secs_f64() * 1000.0)
    };
    println!(
        "{:.1}s: {} ok ({:.0} requests/s, {:.0} alerts/s), {} 429, {} 503, {} other, {} errors; \
         latency of ok p50 {:.2} ms, p99 {:.2} ms",
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
    );
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

fn batch(first: u64, count: usize, distinct: u64) -> String {
    let mut body = String::with_capacity(count * 160);
    body.push('[');
    for offset in 0..count as u64 {
        let id = (first + offset) % distinct.max(1);
        if offset > 0 {
            body.push(',');
        }
        body.push_str(&format!(
            r#"{{"labels":{{"alertname":"Load{}","instance":"host-{id}:9100","job":"node","severity":"warning"}},"annotations":{{"summary":"load test alert {id}"}}}}"#,
            id % 50
        ));
    }
    body.push(']');
    body
}
