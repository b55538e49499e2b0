//! The engine alone: fingerprint, deduplicate, route, group and decide, with no I/O.
//!
//! Run: `cargo bench --bench engine`. Throughput is in alert events per second on one core.

use std::sync::Arc;
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};

use noisegate::engine::{
    Correlation, Engine, EngineConfig, Flapping, GroupBy, LogConfig, Matcher, Route, RouteTree,
};
use noisegate::model::{Alert, Event, EventTime, Expiry, Labels, Severity};

const T0: i64 = 1_800_000_000_000;

fn route(name: &str, matchers: &[&str], wait: u64) -> Route {
    Route {
        name: Arc::from(name),
        matchers: matchers.iter().map(|text| Matcher::parse(text).unwrap()).collect(),
        group_by: GroupBy::Labels(vec!["alertname".into(), "cluster".into(), "namespace".into()]),
        group_wait: Duration::from_secs(wait),
        group_interval: Duration::from_secs(300),
        repeat_interval: Duration::from_secs(4 * 3600),
        routing_key: Arc::from("default"),
    }
}

fn config() -> EngineConfig {
    EngineConfig {
        exclude_labels: vec!["prometheus_replica".into()],
        resolve_timeout: Duration::from_secs(300),
        default_severity: Severity::Error,
        routes: RouteTree::new(
            route("route", &[], 30),
            vec![
                route("route.routes[0]", &["severity=\"critical\""], 10),
                route("route.routes[1]", &["alertname=~\"Kube.*|Node.*\"", "namespace!=\"kube-system\""], 30),
            ],
        ),
        topology: Arc::default(),
        correlation: Correlation {
            window: Duration::from_secs(600),
            settle_warning: Duration::ZERO,
            settle_info: Duration::ZERO,
        },
        flapping: Flapping { window: Duration::from_secs(1800), min_episodes: 0, hold: Duration::ZERO },
        inhibit_rules: Vec::new(),
        silences: Vec::new(),
        patterns: Default::default(),
        logs: LogConfig {
            depth: 4,
            similarity: 0.4,
            max_children: 100,
            max_templates: 1000,
            burst_errors: 10,
            new_within: Duration::from_secs(900),
            context_templates: 5,
            context_lookback: Duration::from_secs(900),
        },
    }
}

const NAMES: [&str; 8] = [
    "KubePodCrashLooping",
    "KubePodNotReady",
    "HTTPErrorRateHigh",
    "LatencyP99High",
    "TargetDown",
    "CPUThrottlingHigh",
    "NodeFilesystemSpaceFillingUp",
    "RedisDown",
];

/// A kube-prometheus-shaped alert: nine labels, two annotations.
fn alert(index: usize, time: i64, ends_in: i64) -> Event {
    let name = NAMES[index % NAMES.len()];
    let namespace = format!("ns-{}", index % 20);
    let pod = format!("service-{}-7d9f8c6b5-{:05}", index % 50, index);
    let severity = if index % 10 == 0 { "critical" } else { "warning" };
    let labels = Labels::from_pairs([
        ("alertname", name),
        ("cluster", "prod-eu1"),
        ("container", "server"),
        ("instance", "10.0.3.17:8080"),
        ("job", "kube-state-metrics"),
        ("namespace", namespace.as_str()),
        ("pod", pod.as_str()),
        ("prometheus_replica", "prometheus-k8s-0"),
        ("severity", severity),
    ]);
    let annotations = Labels::from_pairs([
        ("summary", "Pod is crash looping."),
        ("runbook_url", "https://runbooks.prometheus-operator.dev/runbooks/kubernetes/kubepodcrashlooping"),
    ]);
    Event::Alert(Alert {
        severity: Severity::parse(severity),
        labels,
        annotations,
        starts_at: Some(EventTime::from_millis(T0)),
        ends_at: Some(EventTime::from_millis(time + ends_in)),
        resolved: false,
        expiry: Expiry::ResolveTimeout,
        generator_url: Some("http://prometheus-k8s-0:9090/graph?g0.expr=x".into()),
        external_key: None,
    })
}

/// `active` alerts re-sent every minute for `minutes`, in batches of 100 (one request each),
/// with 1% of them resolving and coming back: the steady state of a cluster with trouble.
fn stream(active: usize, minutes: usize) -> Vec<(i64, Vec<Event>)> {
    let mut batches = Vec::new();
    for minute in 0..minutes {
        let base = T0 + (minute as i64) * 60_000;
        for (batch_index, chunk) in (0..active).collect::<Vec<_>>().chunks(100).enumerate() {
            let time = base + batch_index as i64 * 10;
            let events = chunk
                .iter()
                .map(|&index| {
                    let ends_in = if (index + minute) % 100 == 0 { -1 } else { 240_000 };
                    alert(index, time, ends_in)
                })
                .collect();
            batches.push((time, events));
        }
    }
    batches
}

fn engine_throughput(criterion: &mut Criterion) {
    let batches = stream(10_000, 10);
    let events: usize = batches.iter().map(|(_, events)| events.len()).sum();
    let mut group = criterion.benchmark_group("engine");
    group.throughput(Throughput::Elements(events as u64));
    group.sample_size(20);
    group.bench_function("kube_prometheus_10k_active_alerts", |bencher| {
        bencher.iter_batched(
            || batches.clone(),
            |batches| {
                let mut engine = Engine::new(config());
                let mut out = Vec::new();
                for (time, events) in batches {
                    engine.apply_batch(events, EventTime::from_millis(time), &mut out);
                    out.clear();
                }
                engine
            },
            BatchSize::LargeInput,
        );
    });
    group.finish();
}

criterion_group!(benches, engine_throughput);
criterion_main!(benches);
