//! The soak: noisegate run for a long while under a realistic mix, through the failures a
//! production instance meets, then checked. `benches/soak.sh` builds and runs it.
//!
//! - Background load from the load generator (`examples/loadgen.rs`), as separate processes:
//!   kube-prometheus alerts re-sent, OTLP logs and OTLP traces, each at a fixed rate.
//! - Incidents of its own, to a local fake PagerDuty: alerts from a Prometheus HA pair, re-sent
//!   until they resolve, each its own incident.
//! - `kill -9` at random moments (none during the outage, whose memory is measured), each
//!   followed at once by a restart on the same data directory.
//! - A PagerDuty outage (503 to everything): the incidents decided meanwhile (by default as
//!   many pages as an hour at 100 a minute) wait in the outbox and go out when it is back.
//! - A config reload (`POST /-/reload`) with a changed file.
//! - An overload burst: a storm of new alerts far above the configured caps (429s expected).
//!
//! At the end it checks that every incident of its own reached PagerDuty under one key, as one
//! PagerDuty incident, resolved; that the resident memory stayed within its bound; and prints
//! the figures (peak memory, memory growth through the outage, the longest acknowledgement).
//! Exits non-zero if a check fails.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Parser;
use serde_json::{Value, json};

#[derive(Debug, Parser)]
struct Args {
    /// How long the soak runs, in seconds (its own incidents start until three quarters of it).
    #[arg(long, default_value_t = 1800)]
    seconds: u64,
    /// The noisegate binary.
    #[arg(long)]
    noisegate: PathBuf,
    /// The load generator binary.
    #[arg(long)]
    loadgen: PathBuf,
    /// Background Alertmanager-API requests per second (256 alerts each, 10,000 distinct, so
    /// re-sent).
    #[arg(long, default_value_t = 400.0)]
    alert_requests: f64,
    /// Background OTLP/HTTP log requests per second (100 records each).
    #[arg(long, default_value_t = 50.0)]
    log_requests: f64,
    /// Background OTLP/HTTP trace requests per second (30 spans each).
    #[arg(long, default_value_t = 50.0)]
    trace_requests: f64,
    /// Times noisegate is killed with SIGKILL.
    #[arg(long, default_value_t = 3)]
    kills: usize,
    /// How long PagerDuty is down, in seconds (default: 600, or a third of a shorter soak).
    #[arg(long)]
    outage: Option<u64>,
    /// Pages decided while PagerDuty is down (6,000: an hour at 100 pages a minute).
    #[arg(long, default_value_t = 6000)]
    outage_pages: usize,
    /// The resident memory noisegate must stay under, in MiB.
    #[arg(long, default_value_t = 1280)]
    rss_bound_mib: u64,
    /// No overload burst (to measure the outage's memory alone).
    #[arg(long)]
    no_burst: bool,
    /// Pages the PagerDuty lane keeps in memory (`pagerduty.memory_window`).
    #[arg(long, default_value_t = 256)]
    memory_window: usize,
    /// The seed of the kill times.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Where the service's data, config and log go (kept); default: a temporary folder.
    #[arg(long)]
    dir: Option<PathBuf>,
}

const ROUTING_KEY: &str = "S0AKR0UT1NGKEY000000000000000000";

/// A local PagerDuty: every event it accepted, in order; 503 to everything while `down`.
#[derive(Default)]
struct PagerDuty {
    down: AtomicBool,
    events: Mutex<Vec<Value>>,
}

async fn enqueue(
    axum::extract::State(pagerduty): axum::extract::State<Arc<PagerDuty>>,
    body: axum::body::Bytes,
) -> (axum::http::StatusCode, String) {
    if pagerduty.down.load(Ordering::Relaxed) {
        return (axum::http::StatusCode::SERVICE_UNAVAILABLE, "{}".to_owned());
    }
    let Ok(event) = serde_json::from_slice::<Value>(&body) else {
        return (axum::http::StatusCode::BAD_REQUEST, r#"{"status":"invalid event"}"#.to_owned());
    };
    let key = event["dedup_key"].as_str().unwrap_or_default().to_owned();
    if let Ok(mut events) = pagerduty.events.lock() {
        events.push(event);
    }
    (axum::http::StatusCode::ACCEPTED, json!({"status": "success", "dedup_key": key}).to_string())
}

/// The service, restarted on the same data directory after each kill.
struct Service {
    binary: PathBuf,
    dir: PathBuf,
    http: String,
    child: Option<Child>,
    pid: Arc<AtomicU32>,
}

impl Service {
    fn start(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("noisegate.log"))
            .expect("the service's log opens");
        let child = Command::new(&self.binary)
            .args(["--log-format", "json", "serve", "--config"])
            .arg(self.dir.join("noisegate.yaml"))
            .env("NOISEGATE_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("noisegate starts");
        self.pid.store(child.id(), Ordering::Relaxed);
        self.child = Some(child);
    }

    /// Waits until it answers its health check (a restart replays its log first).
    async fn ready(&self, client: &reqwest::Client) -> Duration {
        let started = Instant::now();
        let url = format!("{}/healthz", self.http);
        while !client.get(&url).send().await.is_ok_and(|response| response.status().is_success()) {
            assert!(started.elapsed() < Duration::from_secs(300), "noisegate did not come up in 300 s");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        started.elapsed()
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM, and its exit status.
    fn terminate(&mut self) -> Option<i32> {
        let mut child = self.child.take()?;
        let _ = Command::new("sh").args(["-c", &format!("kill -TERM {}", child.id())]).status();
        child.wait().ok().and_then(|status| status.code())
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map_or(0, |a| a.port())
}

fn config(ports: [u16; 3], pagerduty: &str, dir: &Path, memory_window: usize, reloaded: bool) -> String {
    // The reload widens the correlation window: harmless to the soak's incidents, which share
    // no entity.
    let window = if reloaded { "10m" } else { "5m" };
    format!(
        r#"server:
  http_listen: "127.0.0.1:{http}"
  grpc_listen: "127.0.0.1:{grpc}"
  admin_listen: "127.0.0.1:{admin}"
limits:
  max_active_alerts: 200000
  max_memory_bytes: 1073741824
storage:
  dir: "{dir}/data"
engine:
  exclude_labels: [prometheus_replica]
  resolve_timeout: 30s
scoring:
  shadow: unfiltered
correlation:
  window: {window}
route:
  group_by: [alertname]
  group_wait: 1s
  group_interval: 5s
  repeat_interval: 24h
  routes:
    - matchers: ['soak="1"']
      routing_key: soak
pagerduty:
  url: "{pagerduty}"
  routing_keys:
    soak: {{value: "{ROUTING_KEY}"}}
  pages_file: "{dir}/background-pages.jsonl"
  rate_limit: {{events_per_minute: 60000, burst: 1000}}
  retry: {{initial_backoff: 100ms, max_backoff: 2s}}
  memory_window: {memory_window}
"#,
        http = ports[0],
        grpc = ports[1],
        admin = ports[2],
        dir = dir.display(),
    )
}

/// One incident of the soak's own: an alert of its own name, fired from `start`, resolved at
/// `end` (seconds into the soak).
struct Incident {
    name: String,
    end: f64,
    /// Both replicas of the HA pair re-send it; an outage incident is sent once, by one.
    replicas: usize,
    resolved: u32,
    next: f64,
    /// A request for it is on its way: the next waits (a late re-send must not fire it again
    /// after its resolve).
    busy: Arc<AtomicBool>,
}

impl Incident {
    fn new(name: String, start: f64, end: f64, replicas: usize) -> Incident {
        Incident { name, end, replicas, resolved: 0, next: start, busy: Arc::default() }
    }
}

fn alerts(incident: &Incident, resolved: bool) -> String {
    let alerts: Vec<Value> = (0..incident.replicas)
        .map(|replica| {
            let mut alert = json!({
                "labels": {
                    "alertname": incident.name, "severity": "critical", "soak": "1",
                    "prometheus_replica": format!("prometheus-k8s-{replica}"),
                },
                "annotations": {"summary": format!("{} is failing", incident.name)},
            });
            if resolved {
                alert["endsAt"] = json!("2020-01-01T00:00:00Z");
            }
            alert
        })
        .collect();
    Value::Array(alerts).to_string()
}

/// What the driver measured of its own requests.
#[derive(Default)]
struct Sent {
    /// The longest acknowledgement of an accepted request, in microseconds.
    longest_us: AtomicU64,
    refused: AtomicU64,
    failed: AtomicU64,
}

/// Sends until accepted (a refusal or a connection error is retried, as Alertmanager does),
/// for at most five minutes.
async fn send(client: &reqwest::Client, url: &str, body: String, sent: &Sent) {
    let deadline = Instant::now() + Duration::from_secs(300);
    while Instant::now() < deadline {
        let started = Instant::now();
        let response =
            client.post(url).header("content-type", "application/json").body(body.clone()).send().await;
        match response {
            Ok(response) if response.status().is_success() => {
                let took = started.elapsed().as_micros() as u64;
                sent.longest_us.fetch_max(took, Ordering::Relaxed);
                return;
            }
            Ok(_) => {
                sent.refused.fetch_add(1, Ordering::Relaxed);
            }
            Err(_) => {}
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    sent.failed.fetch_add(1, Ordering::Relaxed);
}

fn rss_mib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024)
}

/// A load generator process for the whole soak; its report is read at the end.
fn loadgen(binary: &Path, http: &str, seconds: u64, arguments: &[&str]) -> Child {
    Command::new(binary)
        .args(["--url", http, "--seconds", &seconds.to_string()])
        .args(arguments)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the load generator starts")
}

fn report_of(child: Child) -> String {
    child
        .wait_with_output()
        .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_owned())
        .unwrap_or_default()
}

/// Each incident's PagerDuty keys, the PagerDuty incidents each key opened, and whether the
/// last one is resolved, from the events PagerDuty accepted, in order.
fn tally(events: &[Value]) -> BTreeMap<String, (Vec<String>, usize, bool)> {
    let mut names_of_key: HashMap<String, Vec<String>> = HashMap::new();
    for event in events.iter().filter(|event| event["event_action"] == "trigger") {
        let key = event["dedup_key"].as_str().unwrap_or_default().to_owned();
        let names = event["payload"]["custom_details"]["alerts"].as_array().cloned().unwrap_or_default();
        let entry = names_of_key.entry(key).or_default();
        for alert in names {
            let name = alert["labels"]["alertname"].as_str().unwrap_or_default().to_owned();
            if !entry.contains(&name) {
                entry.push(name);
            }
        }
    }
    // PagerDuty: a trigger opens an incident unless its key has one open; a resolve closes it.
    let mut open: HashMap<&str, bool> = HashMap::new();
    let mut opened: HashMap<&str, usize> = HashMap::new();
    for event in events {
        let key = event["dedup_key"].as_str().unwrap_or_default();
        match event["event_action"].as_str() {
            Some("trigger") if !open.get(key).copied().unwrap_or(false) => {
                open.insert(key, true);
                *opened.entry(key).or_default() += 1;
            }
            Some("resolve") => {
                open.insert(key, false);
            }
            _ => {}
        }
    }
    let mut incidents: BTreeMap<String, (Vec<String>, usize, bool)> = BTreeMap::new();
    for (key, names) in &names_of_key {
        for name in names {
            let entry = incidents.entry(name.clone()).or_default();
            entry.0.push(key.clone());
            entry.1 += opened.get(key.as_str()).copied().unwrap_or(0);
            entry.2 = !open.get(key.as_str()).copied().unwrap_or(false);
        }
    }
    incidents
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let total = args.seconds as f64;
    let outage = args.outage.unwrap_or(600.min(args.seconds / 3)) as f64;
    let temporary = tempfile::tempdir().expect("a temporary folder");
    let dir = args.dir.clone().unwrap_or_else(|| temporary.path().to_owned());
    std::fs::create_dir_all(&dir).expect("the soak's folder");

    let pagerduty = Arc::new(PagerDuty::default());
    let app =
        axum::Router::new().route("/v2/enqueue", axum::routing::post(enqueue)).with_state(pagerduty.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a port for PagerDuty");
    let pagerduty_url = format!("http://{}", listener.local_addr().expect("its address"));
    tokio::spawn(async move { axum::serve(listener, app).await });

    let ports = [free_port(), free_port(), free_port()];
    let config_path = dir.join("noisegate.yaml");
    std::fs::write(&config_path, config(ports, &pagerduty_url, &dir, args.memory_window, false))
        .expect("the config is written");
    let http = format!("http://127.0.0.1:{}", ports[0]);
    let admin = format!("http://127.0.0.1:{}", ports[2]);
    let pid = Arc::new(AtomicU32::new(0));
    let mut service = Service {
        binary: args.noisegate.clone(),
        dir: dir.clone(),
        http: http.clone(),
        child: None,
        pid: pid.clone(),
    };
    let client = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().expect("an HTTP client");
    service.start();
    service.ready(&client).await;

    // The plan, in seconds from the start.
    let outage_start = total * 0.3;
    let outage_end = outage_start + outage;
    let reload_at = total * 0.55;
    let burst_at = total * 0.72;
    let burst = (total / 10.0).clamp(1.0, 20.0);
    let mut random = fastrand::Rng::with_seed(args.seed);
    let mut kills: Vec<f64> = Vec::new();
    while kills.len() < args.kills {
        let at = total * random.f64().mul_add(0.85, 0.05);
        let clear_of_outage = at < outage_start - 5.0 || at > outage_end + 5.0;
        if clear_of_outage && kills.iter().all(|other| (other - at).abs() > 5.0) {
            kills.push(at);
        }
    }
    kills.sort_by(f64::total_cmp);
    let mut incidents: Vec<Incident> = Vec::new();
    let own = ((total / 30.0) as usize).max(4);
    for index in 0..own {
        let start = total * (0.02 + 0.73 * index as f64 / own as f64);
        let length = total * random.f64().mul_add(0.06, 0.02);
        incidents.push(Incident::new(format!("Soak{index}"), start, start + length, 2));
    }
    let flood = args.outage_pages / 2;
    for index in 0..flood {
        // Fired in the outage's first half, resolved at its end: each a trigger and a resolve
        // that wait for PagerDuty. (The alert is not re-sent: the engine's resolve timeout may
        // end it first, which pages the same resolve.)
        let start = outage_start + outage * 0.5 * index as f64 / flood.max(1) as f64;
        let end = outage_end - 0.5;
        incidents.push(Incident::new(format!("Outage{index}"), start, end, 1));
    }
    let resend_every = (total / 180.0).clamp(0.5, 10.0);
    println!(
        "soak: {} s; {own} incidents, {flood} more ({} pages) during a {outage} s PagerDuty outage from {outage_start:.0} s; kills at {:?} s; reload at {reload_at:.0} s; {}",
        args.seconds,
        flood * 2,
        kills.iter().map(|at| at.round() as u64).collect::<Vec<_>>(),
        if args.no_burst {
            "no overload burst".to_owned()
        } else {
            format!("overload burst at {burst_at:.0} s for {burst:.0} s")
        }
    );

    // The background, for the whole soak.
    let seconds = args.seconds;
    let background = [
        loadgen(
            &args.loadgen,
            &http,
            seconds,
            &[
                "--protocol",
                "am",
                "--batch",
                "256",
                "--distinct",
                "10000",
                "--concurrency",
                "8",
                "--rate",
                &args.alert_requests.to_string(),
            ],
        ),
        loadgen(
            &args.loadgen,
            &http,
            seconds,
            &[
                "--protocol",
                "otlp-http",
                "--batch",
                "100",
                "--concurrency",
                "2",
                "--rate",
                &args.log_requests.to_string(),
            ],
        ),
        loadgen(
            &args.loadgen,
            &http,
            seconds,
            &[
                "--protocol",
                "otlp-traces-http",
                "--batch",
                "30",
                "--concurrency",
                "2",
                "--rate",
                &args.trace_requests.to_string(),
            ],
        ),
    ];

    // Memory, sampled every 200 ms.
    let peak = Arc::new(AtomicU64::new(0));
    let last_rss = Arc::new(AtomicU64::new(0));
    {
        let (pid, peak, last_rss) = (pid.clone(), peak.clone(), last_rss.clone());
        tokio::spawn(async move {
            loop {
                if let Some(rss) = rss_mib(pid.load(Ordering::Relaxed)) {
                    peak.fetch_max(rss, Ordering::Relaxed);
                    last_rss.store(rss, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        });
    }

    let sent = Arc::new(Sent::default());
    let alerts_url = format!("{http}/api/v2/alerts");
    let started = Instant::now();
    let mut next_kill = 0;
    let (mut reloaded, mut storm) = (false, None);
    let (mut outage_rss, mut restarts) = ((None, None), Vec::new());
    let mut in_flight = tokio::task::JoinSet::new();
    while started.elapsed().as_secs_f64() < total {
        let now = started.elapsed().as_secs_f64();
        if next_kill < kills.len() && now >= kills[next_kill] {
            next_kill += 1;
            service.kill();
            service.start();
            restarts.push(service.ready(&client).await);
            continue;
        }
        let down = (outage_start..outage_end).contains(&now);
        if down != pagerduty.down.load(Ordering::Relaxed) {
            pagerduty.down.store(down, Ordering::Relaxed);
            let rss = last_rss.load(Ordering::Relaxed);
            if down { outage_rss.0 = Some(rss) } else { outage_rss.1 = Some(rss) }
        }
        if !reloaded && now >= reload_at {
            reloaded = true;
            std::fs::write(&config_path, config(ports, &pagerduty_url, &dir, args.memory_window, true))
                .expect("the config is written");
            let answer = client.post(format!("{admin}/-/reload")).send().await;
            let status = answer.map(|answer| answer.status().as_u16()).unwrap_or(0);
            assert_eq!(status, 200, "the reload was refused");
        }
        if storm.is_none() && !args.no_burst && now >= burst_at {
            storm = Some(loadgen(
                &args.loadgen,
                &http,
                burst as u64,
                &["--protocol", "am", "--batch", "500", "--distinct", "100000000", "--concurrency", "32"],
            ));
        }
        let due = |incident: &&mut Incident| {
            incident.next <= now && incident.resolved < 3 && !incident.busy.load(Ordering::Relaxed)
        };
        for incident in incidents.iter_mut().filter(due) {
            let resolving = now >= incident.end;
            if resolving {
                incident.resolved += 1;
                incident.next = now + resend_every.min(2.0);
            } else {
                incident.next = if incident.replicas > 1 { now + resend_every } else { incident.end };
            }
            incident.busy.store(true, Ordering::Relaxed);
            let body = alerts(incident, resolving);
            let (client, url, sent, busy) =
                (client.clone(), alerts_url.clone(), sent.clone(), incident.busy.clone());
            in_flight.spawn(async move {
                send(&client, &url, body, &sent).await;
                busy.store(false, Ordering::Relaxed);
            });
        }
        while in_flight.try_join_next().is_some() {}
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    pagerduty.down.store(false, Ordering::Relaxed);
    while in_flight.join_next().await.is_some() {}

    // Everything of its own delivered, or three minutes.
    let names: Vec<String> = incidents.iter().map(|incident| incident.name.clone()).collect();
    let deadline = Instant::now() + Duration::from_secs(180);
    let mut tallied = BTreeMap::new();
    while Instant::now() < deadline {
        let events = pagerduty.events.lock().map(|events| events.clone()).unwrap_or_default();
        tallied = tally(&events);
        if names.iter().all(|name| tallied.get(name).is_some_and(|(_, _, resolved)| *resolved)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let exit = service.terminate();
    let reports: Vec<String> = background.into_iter().chain(storm).map(report_of).collect();

    let mut failures = Vec::new();
    for name in &names {
        match tallied.get(name) {
            None => failures.push(format!("{name}: never paged")),
            Some((keys, opened, resolved)) => {
                if keys.len() != 1 || *opened != 1 || !resolved {
                    failures.push(format!(
                        "{name}: keys {keys:?}, PagerDuty incidents {opened}, resolved {resolved}"
                    ));
                }
            }
        }
    }
    let foreign = tallied.keys().filter(|name| !names.contains(name)).count();
    if foreign > 0 {
        failures.push(format!("{foreign} alert names paged to the soak's key that are not its own"));
    }
    let peak = peak.load(Ordering::Relaxed);
    if peak > args.rss_bound_mib {
        failures.push(format!("peak RSS {peak} MiB over the bound of {} MiB", args.rss_bound_mib));
    }
    let failed_sends = sent.failed.load(Ordering::Relaxed);
    if failed_sends > 0 {
        failures.push(format!("{failed_sends} requests of the soak's own never accepted in five minutes"));
    }
    if exit != Some(0) {
        failures.push(format!("noisegate exited with {exit:?} at SIGTERM"));
    }

    let delivered = pagerduty.events.lock().map(|events| events.len()).unwrap_or(0);
    println!("incidents: {} of its own, {delivered} events accepted by PagerDuty", names.len());
    println!(
        "restarts after kill -9 took {:?}",
        restarts.iter().map(|took| format!("{:.1} s", took.as_secs_f64())).collect::<Vec<_>>()
    );
    match outage_rss {
        (Some(before), Some(after)) => println!(
            "RSS: peak {peak} MiB (bound {} MiB); through the outage {before} -> {after} MiB ({:+} MiB)",
            args.rss_bound_mib,
            after as i64 - before as i64
        ),
        _ => println!("RSS: peak {peak} MiB (bound {} MiB)", args.rss_bound_mib),
    }
    println!(
        "the soak's own requests: longest acknowledgement {:.1} ms; {} refused and retried",
        sent.longest_us.load(Ordering::Relaxed) as f64 / 1000.0,
        sent.refused.load(Ordering::Relaxed)
    );
    for (what, report) in ["alerts", "logs", "traces", "overload burst"].iter().zip(&reports) {
        println!("background {what}: {report}");
    }
    let _ = std::io::stdout().flush();
    if failures.is_empty() {
        println!("soak: PASSED");
    } else {
        for failure in &failures {
            println!("FAILED: {failure}");
        }
        std::process::exit(1);
    }
}
