//! Test harness: the real service on 127.0.0.1 port 0, and fake PagerDuty (Events API v2) and
//! Opsgenie (Alert API v2) servers.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use noisegate::service::{self, Listeners, ServeOptions};

/// Upper bound on any wait for something the service should do; a bound, not a synchronization.
pub const PATIENCE: Duration = Duration::from_secs(30);

pub const ROUTING_KEY: &str = "R0UT1NGKEY0000000000000000000000";

/// A config for tests: fast ticks and retries, PagerDuty at `pagerduty_url`, and `extra` YAML
/// (a `route:` section and anything else) appended.
pub fn config_yaml(pagerduty_url: &str, extra: &str) -> String {
    config_with(pagerduty_url, "", extra)
}

/// `config_yaml` with more `pagerduty:` settings (indented lines).
pub fn config_with(pagerduty_url: &str, pagerduty_extra: &str, extra: &str) -> String {
    let pagerduty = format!(
        "pagerduty:\n  url: \"{pagerduty_url}\"\n  routing_keys:\n    default: {{ value: \"{ROUTING_KEY}\" }}\n"
    );
    config_paging(&pagerduty, pagerduty_extra, extra)
}

/// A config for tests paging `destination` (its section with `destination_extra` settings), and
/// `extra` YAML appended.
pub fn config_for(destination: &impl Destination, destination_extra: &str, extra: &str) -> String {
    config_paging(&destination.config(""), destination_extra, extra)
}

fn config_paging(destination: &str, destination_extra: &str, extra: &str) -> String {
    format!(
        r#"
server:
  grpc_listen: "127.0.0.1:0"
  http_listen: "127.0.0.1:0"
  admin_listen: "127.0.0.1:0"
  tick: 20ms
  shutdown_grace: 20s
# Ingest tests: every incident pages as its severity says (scoring has tests of its own).
scoring:
  shadow: unfiltered
{}  retry:
    initial_backoff: 10ms
    max_backoff: 50ms
{destination_extra}
{extra}
"#,
        destination.trim_end_matches('\n').to_owned() + "\n"
    )
}

pub struct TestServer {
    pub http: SocketAddr,
    pub grpc: SocketAddr,
    pub admin: SocketAddr,
    shutdown: CancellationToken,
    task: JoinHandle<anyhow::Result<()>>,
    /// The data directory, unless the config named one.
    _data: Option<tempfile::TempDir>,
}

impl TestServer {
    pub async fn start(config_yaml: &str) -> TestServer {
        TestServer::start_with(config_yaml, ServeOptions::default()).await
    }

    pub async fn start_with(config_yaml: &str, options: ServeOptions) -> TestServer {
        let config = noisegate::config::parse(config_yaml, &|_| None).expect("test config is valid");
        TestServer::start_config(config, options).await
    }

    /// Starts from a config file, which `POST /-/reload` reads again.
    pub async fn start_from_file(path: &std::path::Path) -> TestServer {
        let source = noisegate::config::ConfigSource::File(path.to_owned());
        let overrides = noisegate::config::Overrides::default();
        let config = noisegate::config::load(&source, &overrides).expect("test config is valid");
        let options = ServeOptions { record: None, config_source: Some((source, overrides)), drain: false };
        TestServer::start_config(config, options).await
    }

    async fn start_config(mut config: noisegate::config::Config, options: ServeOptions) -> TestServer {
        // Each server its own store, unless the test chose one (to restart on it).
        let data = (config.storage.dir == std::path::Path::new("noisegate-data"))
            .then(|| tempfile::tempdir().expect("data directory"));
        if let Some(data) = &data {
            config.storage.dir = data.path().to_owned();
        }
        let grpc = TcpListener::bind("127.0.0.1:0").await.expect("bind grpc");
        let http = TcpListener::bind("127.0.0.1:0").await.expect("bind http");
        let admin = TcpListener::bind("127.0.0.1:0").await.expect("bind admin");
        let (grpc_addr, http_addr, admin_addr) =
            (grpc.local_addr().unwrap(), http.local_addr().unwrap(), admin.local_addr().unwrap());
        let shutdown = CancellationToken::new();
        let task =
            tokio::spawn(service::run(config, Listeners { grpc, http, admin }, options, shutdown.clone()));
        TestServer { http: http_addr, grpc: grpc_addr, admin: admin_addr, shutdown, task, _data: data }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.http)
    }

    pub fn admin_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.admin)
    }

    /// A channel to the gRPC port.
    pub async fn grpc_channel(&self) -> tonic::transport::Channel {
        tonic::transport::Channel::from_shared(format!("http://{}", self.grpc))
            .unwrap()
            .connect()
            .await
            .unwrap()
    }

    /// For a config the service must refuse at startup: the error it stopped with.
    pub async fn start_error(config_yaml: &str) -> String {
        let server = TestServer::start(config_yaml).await;
        match tokio::time::timeout(PATIENCE, server.task).await {
            Ok(Ok(Err(error))) => format!("{error:#}"),
            Ok(Ok(Ok(()))) => panic!("the service started and stopped without an error"),
            Ok(Err(join_error)) => panic!("the service task failed: {join_error}"),
            Err(_) => panic!("the service did not stop at startup"),
        }
    }

    /// Graceful shutdown: waits until the engine is drained and pages are flushed.
    pub async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(PATIENCE, self.task)
            .await
            .expect("shutdown finishes")
            .expect("service task")
            .expect("service ran without error");
    }

    /// Waits (for at most `PATIENCE`) until a metric sample satisfies `done`; returns its value.
    pub async fn wait_metric(&self, sample: &str, done: impl Fn(f64) -> bool) -> f64 {
        wait_metric(&self.url("/metrics"), sample, done).await
    }

    /// The value of one metric sample, e.g. `noisegate_duplicate_alerts_total` or
    /// `noisegate_rejected_requests_total{source="otlp_http",reason="malformed"}`.
    pub async fn metric(&self, sample: &str) -> f64 {
        metric(&self.url("/metrics"), sample).await
    }
}

/// Waits (for at most `PATIENCE`) until a sample of the metrics at `url` satisfies `done`.
async fn wait_metric(url: &str, sample: &str, done: impl Fn(f64) -> bool) -> f64 {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let value = metric(url, sample).await;
        if done(value) {
            return value;
        }
        assert!(tokio::time::Instant::now() < deadline, "{sample} stayed at {value}");
        tokio::task::yield_now().await;
    }
}

async fn metric(url: &str, sample: &str) -> f64 {
    let text = http().get(url).send().await.unwrap().text().await.unwrap();
    parse_metric(&text, sample).unwrap_or(0.0)
}

fn parse_metric(text: &str, sample: &str) -> Option<f64> {
    text.lines().find_map(|line| {
        let (name, value) = line.rsplit_once(' ')?;
        (name == sample).then(|| value.parse().ok()).flatten()
    })
}

/// One request a fake destination received.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    /// The path and query.
    pub path: String,
    pub authorization: Option<String>,
    pub body: Value,
    pub status: u16,
    /// When it arrived.
    pub at: std::time::Instant,
}

/// A page as a destination took it: its key (dedup key, alias), its action (`trigger`,
/// `acknowledge`, `resolve`) and on triggers its summary.
#[derive(Debug, Clone, PartialEq)]
pub struct Seen {
    pub key: String,
    pub action: String,
    pub summary: Option<String>,
}

/// What the delivery tests need of a fake destination.
pub trait Destination {
    /// Its config section, a destination named `default` with `extra` settings (indented lines).
    fn config(&self, extra: &str) -> String;
    fn script(&self, statuses: &[u16]);
    fn received(&self) -> Vec<Received>;
    /// The pages it accepted, in order.
    fn seen(&self) -> Vec<Seen>;
    fn state(&self) -> &FakeState;

    /// Waits until the pages accepted satisfy `done` and returns them.
    async fn wait_seen(&self, what: &str, done: impl Fn(&[Seen]) -> bool) -> Vec<Seen> {
        let seen = || Some(self.seen()).filter(|seen| done(seen));
        self.state().wait(seen, || format!("expected {what}, got {:#?}", self.seen())).await
    }

    /// Waits until `count` requests in all have arrived and returns them.
    async fn wait_requests(&self, count: usize) -> Vec<Received> {
        let received = || Some(self.received()).filter(|received| received.len() >= count);
        self.state().wait(received, || format!("expected {count} requests, got {:#?}", self.received())).await
    }
}

impl Destination for FakePagerDuty {
    fn config(&self, extra: &str) -> String {
        format!(
            "pagerduty:\n  url: \"{}\"\n  routing_keys:\n    default: {{ value: \"{ROUTING_KEY}\" }}\n{extra}",
            self.url
        )
    }

    fn script(&self, statuses: &[u16]) {
        FakePagerDuty::script(self, statuses);
    }

    fn received(&self) -> Vec<Received> {
        FakePagerDuty::received(self)
    }

    fn seen(&self) -> Vec<Seen> {
        self.events()
            .iter()
            .map(|event| Seen {
                key: event["dedup_key"].as_str().unwrap_or_default().to_owned(),
                action: event["event_action"].as_str().unwrap_or_default().to_owned(),
                summary: event["payload"]["summary"].as_str().map(str::to_owned),
            })
            .collect()
    }

    fn state(&self) -> &FakeState {
        &self.state
    }
}

#[derive(Default)]
pub struct FakeState {
    received: Mutex<Vec<Received>>,
    /// Statuses to answer with, in order; 202 once empty.
    script: Mutex<VecDeque<u16>>,
    notify: Notify,
}

/// A local stand-in for PagerDuty's Events API v2.
pub struct FakePagerDuty {
    pub url: String,
    state: Arc<FakeState>,
}

impl FakePagerDuty {
    pub async fn start() -> FakePagerDuty {
        let state = Arc::new(FakeState::default());
        let app =
            axum::Router::new().route("/v2/enqueue", axum::routing::post(enqueue)).with_state(state.clone());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        FakePagerDuty { url, state }
    }

    /// Answer the next requests with these statuses (then 202 again).
    pub fn script(&self, statuses: &[u16]) {
        self.state.script.lock().unwrap().extend(statuses);
    }

    /// Every request received so far.
    pub fn received(&self) -> Vec<Received> {
        self.state.received.lock().unwrap().clone()
    }

    /// The bodies PagerDuty accepted (2xx), in order.
    pub fn events(&self) -> Vec<Value> {
        self.received()
            .into_iter()
            .filter(|received| received.status < 300)
            .map(|received| received.body)
            .collect()
    }

    /// Waits until the accepted events satisfy `done` and returns them.
    pub async fn wait_for(&self, what: &str, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let events = || Some(self.events()).filter(|events| done(events));
        self.state.wait(events, || format!("expected {what}, got {:#?}", self.events())).await
    }

    /// Waits until `count` events were accepted and returns them.
    pub async fn wait_events(&self, count: usize) -> Vec<Value> {
        let events = || Some(self.events()).filter(|events| events.len() >= count);
        self.state
            .wait(events, || format!("expected {count} PagerDuty events, got {:#?}", self.events()))
            .await
    }
}

impl FakeState {
    /// Waits (for at most `PATIENCE`) until `ready` gives a value, checking at every request.
    async fn wait<T>(&self, ready: impl Fn() -> Option<T>, failure: impl Fn() -> String) -> T {
        let waiting = async {
            loop {
                let notified = self.notify.notified();
                if let Some(value) = ready() {
                    return value;
                }
                notified.await;
            }
        };
        tokio::time::timeout(PATIENCE, waiting).await.unwrap_or_else(|_| panic!("{}", failure()))
    }

    /// Records a request and returns the status to answer with.
    /// `refused`: the status it answers whatever the script says (a bad key).
    fn receive(
        &self,
        method: &str,
        uri: &axum::http::Uri,
        headers: &HeaderMap,
        body: &Value,
        refused: Option<u16>,
    ) -> u16 {
        let status = refused.unwrap_or_else(|| self.script.lock().unwrap().pop_front().unwrap_or(202));
        let authorization =
            headers.get("authorization").and_then(|value| value.to_str().ok()).map(str::to_owned);
        let path = uri.path_and_query().map_or_else(|| uri.path().to_owned(), |path| path.to_string());
        let at = std::time::Instant::now();
        let received =
            Received { method: method.to_owned(), path, authorization, body: body.clone(), status, at };
        self.received.lock().unwrap().push(received);
        self.notify.notify_waiters();
        status
    }
}

async fn enqueue(
    State(state): State<Arc<FakeState>>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: String,
) -> Response {
    let body: Value = serde_json::from_str(&body).unwrap_or(Value::String(body));
    let status = state.receive("POST", &uri, &headers, &body, None);
    let code = StatusCode::from_u16(status).unwrap();
    if status == 429 {
        return (code, [("retry-after", "0")], "{\"status\":\"throttle event\"}").into_response();
    }
    (code, axum::Json(serde_json::json!({"status": "success", "dedup_key": body["dedup_key"]})))
        .into_response()
}

/// The API key the fake Opsgenie expects.
pub const OPSGENIE_KEY: &str = "0b5e55ed-0000-4000-8000-000000000000";

/// A local stand-in for Opsgenie's Alert API v2: takes every request under `/v2/alerts` and
/// answers as Opsgenie does (202 and a request id), or as scripted.
pub struct FakeOpsgenie {
    pub url: String,
    state: Arc<FakeState>,
}

impl FakeOpsgenie {
    pub async fn start() -> FakeOpsgenie {
        let state = Arc::new(FakeState::default());
        let app = axum::Router::new().fallback(opsgenie).with_state(state.clone());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        FakeOpsgenie { url, state }
    }
}

impl Destination for FakeOpsgenie {
    fn config(&self, extra: &str) -> String {
        format!(
            "opsgenie:\n  url: \"{}\"\n  api_keys:\n    default: {{ value: \"{OPSGENIE_KEY}\" }}\n{extra}",
            self.url
        )
    }

    fn script(&self, statuses: &[u16]) {
        self.state.script.lock().unwrap().extend(statuses);
    }

    fn received(&self) -> Vec<Received> {
        self.state.received.lock().unwrap().clone()
    }

    /// Creates are triggers, and acknowledge and close by alias the other actions; notes and
    /// priority updates go with a trigger and are not pages of their own.
    fn seen(&self) -> Vec<Seen> {
        self.received()
            .into_iter()
            .filter(|received| received.status < 300)
            .filter_map(|received| {
                let path = received.path.split('?').next().unwrap_or_default();
                let parts: Vec<&str> = path.trim_start_matches("/v2/alerts").split('/').collect();
                let decode = |alias: &str| percent_decode(alias);
                match (received.method.as_str(), parts.as_slice()) {
                    ("POST", [""]) => Some(Seen {
                        key: received.body["alias"].as_str().unwrap_or_default().to_owned(),
                        action: "trigger".to_owned(),
                        summary: received.body["message"].as_str().map(str::to_owned),
                    }),
                    ("POST", ["", alias, "acknowledge"]) => {
                        Some(Seen { key: decode(alias), action: "acknowledge".to_owned(), summary: None })
                    }
                    ("POST", ["", alias, "close"]) => {
                        Some(Seen { key: decode(alias), action: "resolve".to_owned(), summary: None })
                    }
                    _ => None,
                }
            })
            .collect()
    }

    fn state(&self) -> &FakeState {
        &self.state
    }
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let hex = bytes.get(index + 1..index + 3).and_then(|hex| std::str::from_utf8(hex).ok());
        match (bytes[index], hex.and_then(|hex| u8::from_str_radix(hex, 16).ok())) {
            (b'%', Some(byte)) => {
                out.push(byte);
                index += 3;
            }
            (byte, _) => {
                out.push(byte);
                index += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

async fn opsgenie(
    State(state): State<Arc<FakeState>>,
    method: axum::http::Method,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: String,
) -> Response {
    let body: Value = serde_json::from_str(&body).unwrap_or(Value::String(body));
    let authorized =
        headers.get("authorization").is_some_and(|value| *value == format!("GenieKey {OPSGENIE_KEY}"));
    let status = state.receive(method.as_str(), &uri, &headers, &body, (!authorized).then_some(401));
    let code = StatusCode::from_u16(status).unwrap();
    if !authorized {
        let refused =
            serde_json::json!({"message": "Key format is not valid!", "took": 0.0, "requestId": "r"});
        return (StatusCode::UNAUTHORIZED, axum::Json(refused)).into_response();
    }
    if status == 202 {
        let accepted =
            serde_json::json!({"result": "Request will be processed", "took": 0.01, "requestId": "r"});
        return (code, axum::Json(accepted)).into_response();
    }
    (code, axum::Json(serde_json::json!({"message": "scripted", "took": 0.0, "requestId": "r"})))
        .into_response()
}

/// Names of the alerts a trigger stands for, in order: `alertname/pod`, or `alertname` alone.
pub fn alert_names(event: &Value) -> Vec<String> {
    alert_names_about(event, &["pod"])
}

/// Names of the alerts a trigger stands for, in order: `alertname/about`, `about` the value of
/// the first of `labels` the alert has, or `alertname` alone where it has none of them.
pub fn alert_names_about(event: &Value, labels: &[&str]) -> Vec<String> {
    event["payload"]["custom_details"]["alerts"]
        .as_array()
        .map(|alerts| {
            alerts
                .iter()
                .map(|alert| {
                    let name = alert["labels"]["alertname"].as_str().unwrap_or("");
                    match labels.iter().find_map(|label| alert["labels"][label].as_str()) {
                        Some(about) => format!("{name}/{about}"),
                        None => name.to_owned(),
                    }
                })
                .collect()
        })
        .unwrap_or_default()
}

pub fn temp_path(dir: &tempfile::TempDir, name: &str) -> PathBuf {
    dir.path().join(name)
}

/// A server recording every request it takes to a capture file in a temporary directory, paging
/// a fake PagerDuty.
pub struct Recording {
    pub dir: tempfile::TempDir,
    pub capture: PathBuf,
    pub pagerduty: FakePagerDuty,
    /// Its config: `config_yaml` with the `extra` it was started with.
    pub yaml: String,
    pub server: TestServer,
}

impl Recording {
    /// Starts recording to `capture_name` (gzip-compressed if it ends in `.gz`). Its stop is
    /// for good (`serve --drain`): what waits pages then, as the replay's end pages it.
    pub async fn start(capture_name: &str, extra: &str) -> Recording {
        let dir = tempfile::tempdir().unwrap();
        let capture = temp_path(&dir, capture_name);
        let pagerduty = FakePagerDuty::start().await;
        let yaml = config_yaml(&pagerduty.url, extra);
        let options = ServeOptions { record: Some(capture.clone()), config_source: None, drain: true };
        let server = TestServer::start_with(&yaml, options).await;
        Recording { dir, capture, pagerduty, yaml, server }
    }
}

/// Runs `noisegate replay` on `capture` to the end, with `config_yaml` (written to `config.yaml`
/// in `dir`) and the pages written to `pages_out`.
pub fn replay(
    dir: &tempfile::TempDir,
    config_yaml: &str,
    capture: &std::path::Path,
    pages_out: &std::path::Path,
) -> std::process::Output {
    let config = temp_path(dir, "config.yaml");
    std::fs::write(&config, config_yaml).unwrap();
    std::process::Command::new(env!("CARGO_BIN_EXE_noisegate"))
        .args(["replay", "--config"])
        .arg(&config)
        .arg("--input")
        .arg(capture)
        .arg("--pages-out")
        .arg(pages_out)
        .output()
        .unwrap()
}

/// An HTTP client (reqwest is built without a bundled TLS crypto provider; install ring's).
/// Runs the noisegate binary with `args` to the end.
pub fn noisegate(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_noisegate")).args(args).output().expect("noisegate runs")
}

pub fn http() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

/// POSTs JSON text and returns status and body text.
pub async fn post_json(url: &str, body: &str) -> (u16, String) {
    let response = http()
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

/// The `noisegate` binary running `serve`, its stderr read line by line (JSON logs).
pub struct Process {
    pub child: std::process::Child,
    pub http_addr: String,
    pub admin_addr: String,
    lines: std::sync::mpsc::Receiver<String>,
    /// The log lines read so far.
    logged: Vec<Value>,
}

impl Process {
    /// Starts `noisegate serve --config <config>` in `cwd` and waits until it serves.
    pub fn serve(config: &std::path::Path, cwd: &std::path::Path) -> Process {
        Process::serve_with(config, cwd, &[])
    }

    /// The same with more arguments to `serve`.
    pub fn serve_with(config: &std::path::Path, cwd: &std::path::Path, arguments: &[&str]) -> Process {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_noisegate"))
            .args(["--log-format", "json", "serve", "--config"])
            .arg(config)
            .args(arguments)
            .current_dir(cwd)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("noisegate starts");
        let stderr = child.stderr.take().expect("stderr is piped");
        let (sender, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        let mut process =
            Process { child, http_addr: String::new(), admin_addr: String::new(), lines, logged: Vec::new() };
        let serving = process.wait_log("noisegate serving");
        process.http_addr = serving["fields"]["http_addr"].as_str().expect("http_addr is logged").to_owned();
        process.admin_addr =
            serving["fields"]["admin_addr"].as_str().expect("admin_addr is logged").to_owned();
        process
    }

    /// Waits for the next log line with this message and returns it.
    pub fn wait_log(&mut self, message: &str) -> Value {
        loop {
            let line = self
                .lines
                .recv_timeout(PATIENCE)
                .unwrap_or_else(|_| panic!("noisegate did not log {message:?} in time"));
            let Ok(log) = serde_json::from_str::<Value>(&line) else { continue };
            self.logged.push(log.clone());
            if log["fields"]["message"] == message {
                return log;
            }
        }
    }

    /// The first log line read so far with this message (or the next one, waited for).
    pub fn logged(&mut self, message: &str) -> Value {
        match self.logged.iter().find(|log| log["fields"]["message"] == message) {
            Some(log) => log.clone(),
            None => self.wait_log(message),
        }
    }

    /// Waits (for at most `PATIENCE`) until a metric sample satisfies `done`; returns its value.
    pub async fn wait_metric(&self, sample: &str, done: impl Fn(f64) -> bool) -> f64 {
        wait_metric(&format!("http://{}/metrics", self.http_addr), sample, done).await
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.http_addr)
    }

    pub fn admin_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.admin_addr)
    }

    /// SIGKILL: no shutdown, no flush, nothing.
    pub fn kill(mut self) {
        self.child.kill().expect("kill -9");
        self.child.wait().expect("the killed process is reaped");
    }

    /// SIGTERM, then waits for the exit; returns its status code and stdout.
    pub fn terminate(mut self) -> (Option<i32>, String) {
        // The shell's builtin kill: no procps needed on the machine.
        let killed = std::process::Command::new("sh")
            .args(["-c", &format!("kill -TERM {}", self.child.id())])
            .status()
            .expect("sh runs");
        assert!(killed.success());
        let mut stdout = String::new();
        if let Some(mut pipe) = self.child.stdout.take() {
            use std::io::Read;
            pipe.read_to_string(&mut stdout).expect("noisegate's stdout is read to its end");
        }
        let status = self.child.wait().expect("noisegate exits");
        (status.code(), stdout)
    }
}

impl Drop for Process {
    /// A test that fails with the process running does not leave it behind.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
