//! The engine alone, with every stage active: fingerprint, deduplicate, pattern rules,
//! inventory resolution and topology correlation, routing and grouping, inhibition, silences and
//! flush decisions; no I/O.
//!
//! Also the decoding of an Alertmanager API request and of an OTLP trace request (protobuf, and
//! what its spans say about the inventory), and an engine snapshot.
//!
//! Run: `cargo bench --bench engine`. Throughput is in alert events per second on one core.

use std::fmt::Write;

/// The allocator the noisegate binary uses.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};

use noisegate::config;
use noisegate::sources::otlp::traces::Traces;
use prost::Message as _;

#[path = "../examples/common/telemetry.rs"]
#[allow(dead_code)] // the log batches are for the load generators
mod telemetry;
use noisegate_engine::inventory::Learning;
use noisegate_engine::model::{Alert, Event, EventTime, Expiry, Labels, LogRecord, Severity};
use noisegate_engine::{Engine, EngineConfig};

const T0: i64 = 1_800_000_000_000;
const SERVICES: usize = 50;
const NODES: usize = 20;

/// A kube-prometheus-like config with an inventory of 50 services (each depending on the next
/// two), 150 pods on 20 nodes, a maintenance window, inhibition rules and pattern rules.
fn config() -> EngineConfig {
    let mut yaml = String::from(
        r#"
engine:
  exclude_labels: [prometheus_replica]
route:
  group_by: [alertname, cluster, namespace]
  group_wait: 30s
  group_interval: 5m
  repeat_interval: 12h
  routes:
    - matchers: ['severity="critical"']
      group_wait: 10s
    - matchers: ['alertname=~"Kube.*|Node.*"', 'namespace!="kube-system"']
correlation: {window: 10m, settle: {warning: 5m, info: 10m}}
flapping: {window: 1h, min_episodes: 3, hold: 30m}
inhibit_rules:
  - source_matchers: ['severity="critical"']
    target_matchers: ['severity=~"warning|info"']
    equal: [namespace, alertname]
  - source_matchers: ['alertname=~".+Down"', 'severity="critical"']
    target_matchers: ['severity=~"warning|info"']
    scope: dependents
silences:
  - matchers: ['node="node-7"']
    start: 2027-01-15T08:00:00Z
    end: 2027-01-15T08:03:00Z
    comment: kernel upgrade
patterns:
  - {phrases: [Watchdog, InfoInhibitor], action: known_noise}
  - {phrases: [data loss, corruption], action: must_page}
  - {phrases: [OOMKilled], action: tag, tag: memory}
topology:
  cluster: prod-eu1
  namespace: shop
  services:
"#,
    );
    for service in 0..SERVICES {
        let depends: Vec<String> =
            (service + 1..(service + 3).min(SERVICES)).map(|other| format!("service-{other}")).collect();
        let _ =
            writeln!(yaml, "    service-{service}:\n      depends_on: [{}]\n      pods:", depends.join(", "));
        for pod in 0..3 {
            let _ = writeln!(
                yaml,
                "        - {{name: service-{service}-7d9f8c6b5-{pod:05}, node: node-{}}}",
                (service * 3 + pod) % NODES
            );
        }
    }
    match config::parse(&yaml, &|_| None) {
        Ok(config) => config.engine,
        Err(errors) => panic!("benchmark config is invalid:\n{errors}"),
    }
}

const NAMES: [(&str, &str); 8] = [
    ("KubePodCrashLooping", "warning"),
    ("KubePodNotReady", "warning"),
    ("HTTPErrorRateHigh", "critical"),
    ("LatencyP99High", "warning"),
    ("TargetDown", "warning"),
    ("CPUThrottlingHigh", "info"),
    ("NodeFilesystemSpaceFillingUp", "warning"),
    ("KubeDeploymentReplicasMismatch", "warning"),
];

/// A kube-prometheus-shaped alert about pod `index` of the inventory: nine labels, two
/// annotations.
fn alert(index: usize, time: i64, ends_in: i64) -> Event {
    let (name, severity) = NAMES[index % NAMES.len()];
    let service = index % SERVICES;
    let pod = format!("service-{service}-7d9f8c6b5-{:05}", index / SERVICES);
    let labels = Labels::from_pairs([
        ("alertname", name),
        ("cluster", "prod-eu1"),
        ("container", "server"),
        ("instance", "10.0.3.17:8080"),
        ("job", "kube-state-metrics"),
        ("namespace", "shop"),
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

/// `active` alerts re-sent every minute for `minutes`, in requests of 100, 1% of them resolving
/// and firing again each minute: the steady state of a cluster with trouble.
fn stream(active: usize, minutes: usize) -> Vec<(i64, Vec<Event>)> {
    let mut batches = Vec::new();
    let indices: Vec<usize> = (0..active).collect();
    for minute in 0..minutes {
        let base = T0 + (minute as i64) * 60_000;
        for (batch_index, chunk) in indices.chunks(100).enumerate() {
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

/// `count` alerts of one kind, each naming a service of its own, in requests of 500, re-sent
/// every minute for `minutes`.
fn storm(count: usize, minutes: usize) -> Vec<(i64, Vec<Event>)> {
    let indices: Vec<usize> = (0..count).collect();
    let batches = indices.chunks(500).count();
    (0..minutes * batches)
        .map(|step| {
            let (minute, batch) = (step / batches, step % batches);
            let chunk = indices.chunks(500).nth(batch).unwrap_or_default();
            let time = T0 + minute as i64 * 60_000 + batch as i64 * 100;
            let events = chunk
                .iter()
                .map(|index| {
                    let service = format!("burst-{index}");
                    Event::Alert(Alert {
                        severity: Some(Severity::Critical),
                        labels: Labels::from_pairs([
                            ("alertname", "HighErrorRate"),
                            ("service", service.as_str()),
                            ("severity", "critical"),
                        ]),
                        annotations: Labels::default(),
                        starts_at: Some(EventTime::from_millis(T0)),
                        ends_at: Some(EventTime::from_millis(time + 240_000)),
                        resolved: false,
                        expiry: Expiry::ResolveTimeout,
                        generator_url: None,
                        external_key: None,
                    })
                })
                .collect();
            (time, events)
        })
        .collect()
}

fn logs(count: usize) -> Vec<(i64, Vec<Event>)> {
    let templates = [
        "GET /cart/{} 200 {}ms",
        "connection refused to redis-cart:6379 attempt {}",
        "slow request: GET /healthz took {}ms",
        "user {} checked out order {} total {}",
    ];
    let mut batches = Vec::new();
    for (batch, chunk) in (0..count).collect::<Vec<_>>().chunks(500).enumerate() {
        let events = chunk
            .iter()
            .map(|&index| {
                let mut body = templates[index % templates.len()].to_owned();
                while let Some(at) = body.find("{}") {
                    body.replace_range(at..at + 2, &(index * 7919 % 100_000).to_string());
                }
                Event::Log(LogRecord {
                    time: None,
                    severity: Some(if index % 5 == 0 { Severity::Error } else { Severity::Info }),
                    body: body.into_boxed_str(),
                    attributes: Labels::from_pairs([(
                        "service.name",
                        format!("service-{}", index % SERVICES),
                    )]),
                })
            })
            .collect();
        batches.push((T0 + batch as i64 * 100, events));
    }
    batches
}

fn run(batches: Vec<(i64, Vec<Event>)>, config: EngineConfig) -> Engine {
    let mut engine = Engine::new(config);
    run_more(&mut engine, batches);
    engine
}

fn run_more(engine: &mut Engine, batches: Vec<(i64, Vec<Event>)>) {
    let mut out = Vec::new();
    for (time, events) in batches {
        engine.apply_batch(events, EventTime::from_millis(time), &mut out);
        out.clear();
    }
}

fn engine_throughput(criterion: &mut Criterion) {
    let config = config();
    let alerts = stream(10_000, 10);
    let alert_events: usize = alerts.iter().map(|(_, events)| events.len()).sum();
    let mut group = criterion.benchmark_group("engine");
    group.sample_size(20);
    group.throughput(Throughput::Elements(alert_events as u64));
    group.bench_function("alerts_all_stages_10k_active", |bencher| {
        bencher.iter_batched(
            || alerts.clone(),
            |batches| run(batches, config.clone()),
            BatchSize::LargeInput,
        );
    });
    // The same with the inventory's learning off: what learning costs the alert path.
    let unlearned =
        EngineConfig { learning: Learning { enabled: false, ..config.learning }, ..config.clone() };
    group.bench_function("alerts_all_stages_10k_active_learning_off", |bencher| {
        bencher.iter_batched(
            || alerts.clone(),
            |batches| run(batches, unlearned.clone()),
            BatchSize::LargeInput,
        );
    });
    // A storm of alerts in one incident, each about a service the inventory does not know (an
    // overload burst looks like this), re-sent every minute for five: the incident is judged
    // again as it grows and once its alerts have settled.
    let storm = storm(20_000, 5);
    group.throughput(Throughput::Elements(100_000));
    group.bench_function("one_incident_of_20k_alerts_on_as_many_services", |bencher| {
        bencher.iter_batched(|| storm.clone(), |batches| run(batches, config.clone()), BatchSize::LargeInput);
    });
    let lines = logs(100_000);
    group.throughput(Throughput::Elements(100_000));
    group.bench_function("logs_template_mining", |bencher| {
        bencher.iter_batched(|| lines.clone(), |batches| run(batches, config.clone()), BatchSize::LargeInput);
    });
    group.finish();
}

fn decoding_and_snapshots(criterion: &mut Criterion) {
    let mut group = criterion.benchmark_group("service");
    group.sample_size(20);
    // 256 kube-prometheus alerts as the load generator posts them.
    let body = telemetry::alerts_json(0, 256, 10_000);
    let limits = config::parse("", &|_| None).expect("the default config is valid").limits;
    group.throughput(Throughput::Elements(256));
    group.bench_function("decode_alertmanager_v2_256_alerts", |bencher| {
        bencher.iter(|| {
            noisegate::sources::alertmanager::decode_v2(&body, &limits).map(|decoded| decoded.events.len())
        });
    });
    // 300 spans, ten traces through a chain of ten services, as the load generator sends them.
    let spans = telemetry::traces_request(0, 300).encode_to_vec();
    let trace_facts = |body: &[u8]| {
        let request = noisegate::sources::otlp::decode_protobuf::<Traces>(body)?;
        noisegate::sources::otlp::traces::decode_request(&request, &limits).map(|decoded| decoded.accepted())
    };
    group.throughput(Throughput::Elements(300));
    group.bench_function("decode_otlp_traces_300_spans", |bencher| bencher.iter(|| trace_facts(&spans)));
    let request = telemetry::traces_request(0, 300);
    group.bench_function("trace_facts_300_spans", |bencher| {
        bencher.iter(|| {
            noisegate::sources::otlp::traces::facts(&request, &limits).map(|facts| facts.edges.len())
        })
    });
    let mut engine = run(stream(10_000, 2), config());
    group.throughput(Throughput::Elements(10_000));
    group.bench_function("snapshot_10k_alerts", |bencher| {
        bencher.iter(|| {
            let snapshot = engine.snapshot();
            let mut state = vec![0; snapshot.size().unwrap_or(0)];
            snapshot.write_to(&mut state).map(|()| state.len())
        });
    });
    group.finish();
}

/// Snapshots of an engine holding 1,000,000 alerts (only when asked for by name:
/// `cargo bench --bench engine -- snapshot_pause`; it takes a minute and 4 GB). Printed: how
/// long taking each snapshot pauses the engine, the 99th-percentile and longest step of a
/// minute of re-sends with and without a snapshot held (the first change to a part it holds
/// copies that part), and how long writing it takes on its own thread.
fn snapshot_pause(_: &mut Criterion) {
    const ACTIVE: usize = 1_000_000;
    if !std::env::args().any(|arg| arg.contains("snapshot_pause")) {
        return;
    }
    let mut engine = run(stream(ACTIVE, 1), config());
    let mut out = Vec::new();
    let pause = |engine: &mut Engine, when: &str| {
        let started = std::time::Instant::now();
        let snapshot = engine.snapshot();
        println!("snapshot pause at 1M alerts, {when}: {:.3} ms", started.elapsed().as_secs_f64() * 1e3);
        snapshot
    };
    drop(pause(&mut engine, "every part the engine's own"));
    // A first minute of re-sends settles the engine; the next two are measured.
    for (minute, held) in [(1, None), (2, Some(false)), (3, Some(true))] {
        let Some(held) = held else {
            run_more(&mut engine, stream(ACTIVE, minute + 1).split_off(minute * ACTIVE / 100));
            continue;
        };
        let snapshot = held.then(|| pause(&mut engine, "after a minute of re-sends"));
        let mut steps: Vec<std::time::Duration> = Vec::new();
        for (time, events) in stream(ACTIVE, minute + 1).split_off(minute * ACTIVE / 100) {
            let started = std::time::Instant::now();
            engine.apply_batch(events, EventTime::from_millis(time), &mut out);
            steps.push(started.elapsed());
            out.clear();
        }
        steps.sort_unstable();
        let p99 = steps[steps.len() * 99 / 100];
        let longest = steps[steps.len() - 1];
        println!(
            "steps of 100 re-sends at 1M alerts, snapshot held: {held}: {} steps, p99 {:.3} ms, longest {:.3} ms",
            steps.len(),
            p99.as_secs_f64() * 1e3,
            longest.as_secs_f64() * 1e3
        );
        if let Some(snapshot) = snapshot {
            let started = std::time::Instant::now();
            let size = snapshot.size().unwrap_or(0);
            let mut state = vec![0; size];
            let written = snapshot.write_to(&mut state).is_ok();
            println!(
                "writing the snapshot (its own thread): {size} bytes in {:.2} s (ok: {written})",
                started.elapsed().as_secs_f64()
            );
        }
    }
}

criterion_group!(benches, engine_throughput, decoding_and_snapshots, snapshot_pause);
criterion_main!(benches);
