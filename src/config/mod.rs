//! Configuration: the YAML file (`raw`) validated into typed config for each component.
//!
//! `load` reports every problem at once, each with its field path, and never touches the
//! network: `noisegate check` runs exactly this.

mod raw;
mod recorded;
mod rules;

pub use recorded::{recorded_engine, redact};

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use raw::{RawConfig, RawKafka, RawRateLimit, RawRetry, RawRoute, RawSecret};

use crate::secret::Secret;

use crate::auth::{Token, Tokens};
use crate::ingest::Limits;
use crate::ingest::WireFormat;
use crate::kafka::{DeadLetter, KafkaConfig, KafkaSource};
use crate::sinks::digest::DigestConfig;
use crate::sinks::opsgenie::{self, OpsgenieConfig, Priorities, Priority};
use crate::sinks::pagerduty::PagerDutyConfig;
use crate::sinks::sink::{DeliveryConfig, PagesOutput, RateLimit, RetryPolicy};
use crate::tls::Tls;
use noisegate_engine::model::EventTime;
use noisegate_engine::model::Severity;
use noisegate_engine::{EngineConfig, GroupBy, Matcher, Route, RouteTree};

/// The configuration `noisegate serve` runs with when given no `--config`.
pub const DEFAULT_CONFIG: &str = include_str!("../../configs/default.yaml");

/// The destination routes page unless they name another.
pub const DEFAULT_ROUTING_KEY: &str = "default";

#[derive(Debug, Clone)]
pub struct Config {
    pub server: ServerConfig,
    pub limits: Limits,
    pub engine: EngineConfig,
    pub pagerduty: PagerDutyConfig,
    pub opsgenie: OpsgenieConfig,
    pub digest: DigestConfig,
    /// Where to append the decisions log, if anywhere.
    pub decisions_file: Option<PathBuf>,
    pub feedback: FeedbackConfig,
    /// Bearer tokens for the ingest listeners (HTTP and gRPC) and the admin listener.
    pub ingest_tokens: Tokens,
    pub admin_tokens: Tokens,
    pub storage: StorageConfig,
    pub kafka: Option<crate::kafka::KafkaConfig>,
    pub oncall: OncallConfig,
    /// The text it was read from, for the console's "config in force" (secrets redacted there).
    pub text: Arc<str>,
    /// The text of the inventory file it named (`topology.file`, `--topology`), if any.
    pub topology_text: Option<Arc<str>>,
    /// Things that are valid but probably not what the operator wants.
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub grpc_listen: SocketAddr,
    pub http_listen: SocketAddr,
    /// The admin API (silences) and operations endpoints; loopback by default.
    pub admin_listen: SocketAddr,
    /// How long shutdown may take to drain the engine and flush pages.
    pub shutdown_grace: Duration,
    /// How often the engine runs due group flushes when no event arrives.
    pub tick: Duration,
    /// Capacity of the queue between the ingest endpoints and the engine, in requests.
    pub engine_queue: usize,
    /// TLS on the gRPC and HTTP listeners, and on the admin listener.
    pub tls: Option<Tls>,
    pub admin_tls: Option<Tls>,
    /// The ingest listener serves Alertmanager's reading API too (`GET /api/v2/alerts`,
    /// silences, status), for clients that only reach it; off by default.
    pub am_api_on_ingest: bool,
}

/// On-call health: incident records and what a shift is.
#[derive(Debug, Clone)]
pub struct OncallConfig {
    /// How long incident records are kept.
    pub retention: Duration,
    pub schedule: crate::oncall::schedule::Schedule,
}

/// The durable store: write-ahead log, snapshots, outbox.
#[derive(Debug, Clone)]
pub struct StorageConfig {
    pub dir: PathBuf,
    /// Log records between snapshots of the engine.
    pub snapshot_every: u64,
}

/// Responders' feedback: PagerDuty webhooks, and the history they build.
#[derive(Debug, Clone, Default)]
pub struct FeedbackConfig {
    /// Signing secrets of the PagerDuty webhook subscription; none: the webhook is refused.
    pub webhook_secrets: Vec<Secret>,
    /// Where the history of alert kinds is kept across restarts (JSON Lines).
    pub state_file: Option<PathBuf>,
    /// Past outcomes to start from (JSON Lines, the same format).
    pub seed_file: Option<PathBuf>,
}

/// One problem in a config file, with where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub path: String,
    pub message: String,
}

impl fmt::Display for FieldError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(formatter, "{}", self.message)
        } else {
            write!(formatter, "{}: {}", self.path, self.message)
        }
    }
}

/// Every problem found in a config, in file order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigErrors(pub Vec<FieldError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, error) in self.0.iter().enumerate() {
            if index > 0 {
                writeln!(formatter)?;
            }
            write!(formatter, "{error}")?;
        }
        Ok(())
    }
}

/// Where to read the config from.
#[derive(Debug, Clone)]
pub enum ConfigSource {
    Embedded,
    File(PathBuf),
}

/// Reads, parses and validates a config. Environment variables are read for secrets named by
/// `env:`; files for secrets named by `file:`.
/// What the command line overrides in a config.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--topology FILE`: the inventory file, instead of `topology.file`.
    pub topology: Option<PathBuf>,
    /// `check --secrets-elsewhere`: secrets given by `env` or `file` exist where the config
    /// will run (a pod's Secret, a unit's credentials), not here; they are not read.
    pub secrets_elsewhere: bool,
}

pub fn load(source: &ConfigSource, overrides: &Overrides) -> Result<Config, ConfigErrors> {
    let text = match source {
        ConfigSource::Embedded => DEFAULT_CONFIG.to_owned(),
        ConfigSource::File(path) => std::fs::read_to_string(path).map_err(|error| {
            ConfigErrors(vec![FieldError {
                path: String::new(),
                message: format!("cannot read config file {}: {error}", path.display()),
            }])
        })?,
    };
    let base_dir = match source {
        ConfigSource::File(path) => path.parent().map(Path::to_path_buf),
        ConfigSource::Embedded => None,
    };
    let context = Context { base_dir, overrides: overrides.clone(), env: &|name| std::env::var(name).ok() };
    parse_in(&text, &context)
}

/// Where a config is read: relative paths in it resolve against `base_dir` (the config file's
/// folder), `env` looks up environment variables.
pub struct Context<'a> {
    pub base_dir: Option<PathBuf>,
    pub overrides: Overrides,
    pub env: &'a dyn Fn(&str) -> Option<String>,
}

/// Parses and validates config text; `env` looks up environment variables.
pub fn parse(text: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Config, ConfigErrors> {
    parse_in(text, &Context { base_dir: None, overrides: Overrides::default(), env })
}

/// Parses and validates config text in a context.
pub fn parse_in(text: &str, context: &Context<'_>) -> Result<Config, ConfigErrors> {
    parse_with(text, context, Files::Disk)
}

/// Where the files a config names are read from.
enum Files {
    Disk,
    /// A recorded config (`recorded::recorded_engine`): the inventory file's text as recorded.
    Recorded {
        topology: Option<String>,
    },
}

fn parse_with(text: &str, context: &Context<'_>, files: Files) -> Result<Config, ConfigErrors> {
    let raw: RawConfig = if text.trim().is_empty() {
        RawConfig::default()
    } else {
        let deserializer = serde_yaml_ng::Deserializer::from_str(text);
        serde_path_to_error::deserialize(deserializer).map_err(|error| {
            let path = error.path().to_string().trim_start_matches('.').to_owned();
            let inner = error.inner().to_string();
            let message = if path.starts_with("pagerduty.routing_keys") || path.starts_with("opsgenie.api_keys") {
                // serde quotes the unexpected value, and here it may be the key itself.
                "expected { env: NAME }, { file: PATH } or { value: KEY } (the value given is not shown: it may be a secret)".to_owned()
            } else {
                inner.strip_prefix(&format!("{path}: ")).unwrap_or(&inner).to_owned()
            };
            ConfigErrors(vec![FieldError { path, message }])
        })?
    };
    let mut validator = Validator {
        errors: Vec::new(),
        warnings: Vec::new(),
        env: context.env,
        base_dir: context.base_dir.clone(),
        topology_override: context.overrides.topology.clone(),
        secrets_elsewhere: context.overrides.secrets_elsewhere,
        files,
        topology_text: None,
    };
    let config = validator.config(raw);
    if validator.errors.is_empty() {
        Ok(Config {
            warnings: validator.warnings,
            text: Arc::from(text),
            topology_text: validator.topology_text,
            ..config
        })
    } else {
        Err(ConfigErrors(validator.errors))
    }
}

struct Validator<'a> {
    errors: Vec<FieldError>,
    warnings: Vec<String>,
    env: &'a dyn Fn(&str) -> Option<String>,
    base_dir: Option<PathBuf>,
    topology_override: Option<PathBuf>,
    secrets_elsewhere: bool,
    files: Files,
    /// The inventory file's text, once read.
    topology_text: Option<Arc<str>>,
}

impl Validator<'_> {
    fn error(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.errors.push(FieldError { path: path.into(), message: message.into() });
    }

    /// Produces a config even when there are errors (with placeholder values); callers only
    /// use it when `errors` is empty.
    fn config(&mut self, raw: RawConfig) -> Config {
        let server = ServerConfig {
            grpc_listen: self.address("server.grpc_listen", raw.server.grpc_listen, "0.0.0.0:4317"),
            http_listen: self.address("server.http_listen", raw.server.http_listen, "0.0.0.0:4318"),
            admin_listen: self.address("server.admin_listen", raw.server.admin_listen, "127.0.0.1:9464"),
            shutdown_grace: self.duration("server.shutdown_grace", raw.server.shutdown_grace, "10s"),
            tick: self.positive_duration("server.tick", raw.server.tick, "100ms"),
            engine_queue: self.positive("server.engine_queue", raw.server.engine_queue, 1024),
            tls: raw.server.tls.and_then(|tls| self.tls("server.tls", tls)),
            admin_tls: raw.server.admin_tls.and_then(|tls| self.tls("server.admin_tls", tls)),
            am_api_on_ingest: raw.server.am_api_on_ingest.unwrap_or(false),
        };
        let limits = Limits {
            max_body_bytes: self.positive("limits.max_body_bytes", raw.limits.max_body_bytes, 8 << 20),
            max_records_per_request: self.positive(
                "limits.max_records_per_request",
                raw.limits.max_records_per_request,
                100_000,
            ),
            max_labels: self.positive("limits.max_labels", raw.limits.max_labels, 64),
            max_label_name_bytes: self.positive(
                "limits.max_label_name_bytes",
                raw.limits.max_label_name_bytes,
                256,
            ),
            max_label_value_bytes: self.positive(
                "limits.max_label_value_bytes",
                raw.limits.max_label_value_bytes,
                4096,
            ),
            max_annotation_value_bytes: self.positive(
                "limits.max_annotation_value_bytes",
                raw.limits.max_annotation_value_bytes,
                64 << 10,
            ),
            body_read_timeout: self.positive_duration(
                "limits.body_read_timeout",
                raw.limits.body_read_timeout,
                "30s",
            ),
            max_active_alerts: raw.limits.max_active_alerts.unwrap_or(2_000_000),
            max_active_groups: raw.limits.max_active_groups.unwrap_or(200_000),
            max_memory_bytes: raw.limits.max_memory_bytes.unwrap_or(2 << 30),
        };
        let mut exclude_labels: Vec<Box<str>> =
            raw.engine.exclude_labels.unwrap_or_default().into_iter().map(String::into_boxed_str).collect();
        exclude_labels.sort();
        exclude_labels.dedup();
        let default_severity = match raw.engine.default_severity.as_deref() {
            None => Severity::Error,
            Some(text) => Severity::parse(text).unwrap_or_else(|| {
                self.error(
                    "engine.default_severity",
                    format!("unknown severity {text:?}: expected critical, error, warning or info"),
                );
                Severity::Error
            }),
        };
        let pagerduty = self.pagerduty(raw.pagerduty);
        let opsgenie = self.opsgenie(raw.opsgenie);
        let destinations = self.destinations(&pagerduty, &opsgenie);
        let mut webhook_secrets = Vec::new();
        for (index, secret) in raw.feedback.webhook_secrets.into_iter().enumerate() {
            let path = format!("feedback.webhook_secrets[{index}]");
            if let Some(secret) = self.secret(&path, secret) {
                webhook_secrets.push(secret);
            }
        }
        let feedback = FeedbackConfig {
            webhook_secrets,
            state_file: raw.feedback.state_file.map(|file| self.relative(&file)),
            seed_file: raw.feedback.seed_file.map(|file| self.relative(&file)),
        };
        let learning = self.learning(&raw.topology);
        let (topology, mut silences) = self.topology(raw.topology);
        silences.extend(self.silences(raw.silences, &topology));
        let routes = self.routes(raw.route, &destinations);
        let catalog = self.catalog(raw.catalog);
        let mut inhibit_rules = self.inhibit_rules(raw.inhibit_rules);
        inhibit_rules.extend(rules::cordon_rule(&catalog));
        let (scoring, novelty, memory) = self.scoring(raw.scoring);
        let engine = EngineConfig {
            exclude_labels,
            event_quiet: self.positive_duration("engine.event_quiet", raw.engine.event_quiet, "30m"),
            resolve_timeout: self.positive_duration(
                "engine.resolve_timeout",
                raw.engine.resolve_timeout,
                "5m",
            ),
            default_severity,
            routes,
            topology,
            learning,
            correlation: self.correlation(raw.correlation),
            flapping: self.flapping(raw.flapping),
            inhibit_rules,
            silences,
            patterns: self.patterns(raw.patterns),
            catalog: Arc::new(catalog),
            logs: self.logs(raw.logs),
            scoring,
            novelty,
            memory,
            feedback: !feedback.webhook_secrets.is_empty(),
        };
        let digest = DigestConfig {
            webhook_url: raw.digest.webhook_url.filter(|url| {
                let valid =
                    reqwest::Url::parse(url).is_ok_and(|parsed| matches!(parsed.scheme(), "http" | "https"));
                if !valid {
                    self.error("digest.webhook_url", format!("invalid http(s) URL {url:?}"));
                }
                valid
            }),
            interval: self.positive_duration("digest.interval", raw.digest.interval, "1h"),
        };
        let decisions_file = raw.decisions.file.map(|file| self.relative(&file));
        let ingest_tokens = self.tokens("auth.ingest_tokens", raw.auth.ingest_tokens);
        let admin_tokens = self.tokens("auth.admin_tokens", raw.auth.admin_tokens);
        let storage = StorageConfig {
            dir: raw.storage.dir.map_or_else(|| PathBuf::from("noisegate-data"), |dir| self.relative(&dir)),
            snapshot_every: match raw.storage.snapshot_every {
                Some(0) => {
                    self.error("storage.snapshot_every", "must be at least 1");
                    1
                }
                Some(records) => records,
                None => 10_000,
            },
        };
        let kafka = raw.kafka.map(|raw| self.kafka(raw, &storage));
        let oncall = self.oncall(raw.oncall);
        Config {
            text: Arc::from(""),
            topology_text: None,
            kafka,
            oncall,
            server,
            limits,
            engine,
            pagerduty,
            opsgenie,
            digest,
            decisions_file,
            feedback,
            ingest_tokens,
            admin_tokens,
            storage,
            warnings: Vec::new(),
        }
    }

    fn routes(&mut self, root: RawRoute, destinations: &BTreeSet<&str>) -> RouteTree {
        if !root.matchers.is_empty() {
            self.error("route.matchers", "the root route matches every alert and takes no matchers");
        }
        let defaults = RouteDefaults {
            group_by: GroupBy::Labels(vec!["alertname".into()]),
            group_wait: Duration::from_secs(30),
            group_interval: Duration::from_secs(300),
            repeat_interval: Duration::from_secs(4 * 3600),
            routing_key: Arc::from(DEFAULT_ROUTING_KEY),
        };
        let root_route = self.route("route", &root, &defaults, destinations);
        let inherited = RouteDefaults {
            group_by: root_route.group_by.clone(),
            group_wait: root_route.group_wait,
            group_interval: root_route.group_interval,
            repeat_interval: root_route.repeat_interval,
            routing_key: root_route.routing_key.clone(),
        };
        let mut children = Vec::with_capacity(root.routes.len());
        for (index, child) in root.routes.iter().enumerate() {
            let path = format!("route.routes[{index}]");
            if !child.routes.is_empty() {
                self.error(
                    format!("{path}.routes"),
                    "nested routes are not supported: list child routes under route.routes",
                );
            }
            children.push(self.route(&path, child, &inherited, destinations));
        }
        RouteTree::new(root_route, children)
    }

    fn route(
        &mut self,
        path: &str,
        raw: &RawRoute,
        defaults: &RouteDefaults,
        destinations: &BTreeSet<&str>,
    ) -> Route {
        let mut matchers = Vec::with_capacity(raw.matchers.len());
        for (index, text) in raw.matchers.iter().enumerate() {
            match Matcher::parse(text) {
                Ok(matcher) => matchers.push(matcher),
                Err(error) => self.error(format!("{path}.matchers[{index}]"), error.to_string()),
            }
        }
        let group_by = match &raw.group_by {
            None => defaults.group_by.clone(),
            Some(names) if names.iter().any(|name| name == "...") => {
                if names.len() > 1 {
                    self.error(format!("{path}.group_by"), "'...' groups by all labels and must be alone");
                }
                GroupBy::All
            }
            Some(names) => {
                for (index, name) in names.iter().enumerate() {
                    if name.is_empty() {
                        self.error(format!("{path}.group_by[{index}]"), "empty label name");
                    }
                }
                GroupBy::Labels(names.iter().map(|name| name.as_str().into()).collect())
            }
        };
        let named = match (&raw.routing_key, &raw.destination) {
            (Some(_), Some(_)) => {
                self.error(
                    format!("{path}.destination"),
                    "give destination or routing_key (the same thing), not both",
                );
                raw.destination.as_ref().map(|name| ("destination", name))
            }
            (Some(name), None) => Some(("routing_key", name)),
            (None, name) => name.as_ref().map(|name| ("destination", name)),
        };
        let routing_key: Arc<str> = match named {
            None => defaults.routing_key.clone(),
            Some((field, name)) => {
                if name != DEFAULT_ROUTING_KEY && !destinations.contains(name.as_str()) {
                    self.error(
                        format!("{path}.{field}"),
                        format!(
                            "unknown destination {name:?}: define it under pagerduty.routing_keys or opsgenie.api_keys"
                        ),
                    );
                }
                Arc::from(name.as_str())
            }
        };
        let group_wait = self.optional_duration(&format!("{path}.group_wait"), raw.group_wait.as_deref());
        let group_interval =
            self.optional_duration(&format!("{path}.group_interval"), raw.group_interval.as_deref());
        let repeat_interval =
            self.optional_duration(&format!("{path}.repeat_interval"), raw.repeat_interval.as_deref());
        let route = Route {
            name: Arc::from(path),
            matchers,
            group_by,
            group_wait: group_wait.unwrap_or(defaults.group_wait),
            group_interval: group_interval.unwrap_or(defaults.group_interval),
            repeat_interval: repeat_interval.unwrap_or(defaults.repeat_interval),
            routing_key,
        };
        if route.group_interval.is_zero() {
            self.error(format!("{path}.group_interval"), "must be greater than zero");
        }
        if route.repeat_interval.is_zero() {
            self.error(format!("{path}.repeat_interval"), "must be greater than zero");
        }
        route
    }

    fn pagerduty(&mut self, raw: raw::RawPagerDuty) -> PagerDutyConfig {
        let url = raw.url.unwrap_or_else(|| "https://events.pagerduty.com".to_owned());
        self.http_url("pagerduty.url", &url);
        let mut routing_keys = BTreeMap::new();
        for (name, secret) in raw.routing_keys {
            let path = format!("pagerduty.routing_keys.{name}");
            let value = self.secret(&path, secret);
            routing_keys.insert(name, value);
        }
        let pages_file = match raw.pages_file.as_deref() {
            None | Some("-") => PagesOutput::Stdout,
            Some("") => {
                self.error("pagerduty.pages_file", "empty path: use \"-\" for stdout");
                PagesOutput::Stdout
            }
            Some(path) => PagesOutput::File(PathBuf::from(path)),
        };
        PagerDutyConfig {
            url,
            routing_keys,
            pages_file,
            delivery: self.delivery(
                "pagerduty",
                raw.timeout,
                raw.retry,
                raw.rate_limit,
                raw.memory_window,
                110,
            ),
            queue_capacity: self.positive("pagerduty.queue_capacity", raw.queue_capacity, 10_000),
            client_url: raw.client_url,
            dead_letter_file: raw.dead_letter_file.map(|file| self.relative(&file)),
        }
    }

    fn opsgenie(&mut self, raw: raw::RawOpsgenie) -> OpsgenieConfig {
        let region_url = match raw.region.as_deref() {
            None | Some("us") => opsgenie::US_URL,
            Some("eu") => opsgenie::EU_URL,
            Some(other) => {
                self.error("opsgenie.region", format!("unknown region {other:?}: expected us or eu"));
                opsgenie::US_URL
            }
        };
        let url = raw.url.unwrap_or_else(|| region_url.to_owned());
        self.http_url("opsgenie.url", &url);
        let mut api_keys = BTreeMap::new();
        for (name, secret) in raw.api_keys {
            let path = format!("opsgenie.api_keys.{name}");
            let value = self.secret(&path, secret);
            api_keys.insert(name, value);
        }
        let mut priority = |field: &str, text: Option<String>, default: Priority| match text {
            None => default,
            Some(text) => Priority::parse(&text).unwrap_or_else(|| {
                self.error(
                    format!("opsgenie.priority.{field}"),
                    format!("unknown priority {text:?}: expected P1 to P5"),
                );
                default
            }),
        };
        let priority = Priorities {
            high: priority("high", raw.priority.high, Priority::P1),
            low: priority("low", raw.priority.low, Priority::P3),
        };
        OpsgenieConfig {
            url,
            api_keys,
            priority,
            delivery: self.delivery(
                "opsgenie",
                raw.timeout,
                raw.retry,
                raw.rate_limit,
                raw.memory_window,
                60,
            ),
        }
    }

    /// The names routes can page, of every sink; a name defined twice is an error (a route
    /// could not say which it means).
    fn destinations<'a>(
        &mut self,
        pagerduty: &'a PagerDutyConfig,
        opsgenie: &'a OpsgenieConfig,
    ) -> BTreeSet<&'a str> {
        let mut names = BTreeSet::new();
        for name in pagerduty.routing_keys.keys() {
            names.insert(name.as_str());
        }
        for name in opsgenie.api_keys.keys() {
            if !names.insert(name.as_str()) {
                self.error(
                    format!("opsgenie.api_keys.{name}"),
                    "also a PagerDuty routing key's name: a destination's name must be unique",
                );
            }
        }
        // Also when none is defined (`all` of nothing).
        if pagerduty.routing_keys.values().chain(opsgenie.api_keys.values()).all(Option::is_none) {
            self.warnings.push(
                "no PagerDuty routing key or Opsgenie API key is set: pages are written to pagerduty.pages_file instead of sent"
                    .to_owned(),
            );
        }
        names
    }

    fn http_url(&mut self, path: &str, url: &str) {
        match reqwest::Url::parse(url) {
            Ok(parsed) if matches!(parsed.scheme(), "http" | "https") => {}
            Ok(parsed) => {
                self.error(path, format!("unsupported scheme {:?}: expected http or https", parsed.scheme()))
            }
            Err(error) => self.error(path, format!("invalid URL {url:?}: {error}")),
        }
    }

    /// A sink's `timeout`, `retry` and `rate_limit`, under `sink`.
    fn delivery(
        &mut self,
        sink: &str,
        timeout: Option<String>,
        retry: RawRetry,
        rate_limit: RawRateLimit,
        memory_window: Option<usize>,
        events_per_minute: u32,
    ) -> DeliveryConfig {
        let retry = RetryPolicy {
            initial_backoff: self.positive_duration(
                &format!("{sink}.retry.initial_backoff"),
                retry.initial_backoff,
                "1s",
            ),
            max_backoff: self.positive_duration(
                &format!("{sink}.retry.max_backoff"),
                retry.max_backoff,
                "60s",
            ),
            max_attempts: match retry.max_attempts {
                Some(0) => {
                    self.error(format!("{sink}.retry.max_attempts"), "must be at least 1");
                    None
                }
                attempts => attempts,
            },
            max_age: self.positive_duration(&format!("{sink}.retry.max_age"), retry.max_age, "24h"),
        };
        if retry.max_backoff < retry.initial_backoff {
            self.error(format!("{sink}.retry.max_backoff"), "must not be less than initial_backoff");
        }
        let mut at_least_one = |field: &str, value: Option<u32>, default: u32| match value {
            Some(0) => {
                self.error(format!("{sink}.rate_limit.{field}"), "must be at least 1");
                1
            }
            Some(value) => value,
            None => default,
        };
        let rate_limit = RateLimit {
            events_per_minute: at_least_one(
                "events_per_minute",
                rate_limit.events_per_minute,
                events_per_minute,
            ),
            burst: at_least_one("burst", rate_limit.burst, 10),
        };
        DeliveryConfig {
            timeout: self.positive_duration(&format!("{sink}.timeout"), timeout, "10s"),
            retry,
            rate_limit,
            memory_window: self.positive(&format!("{sink}.memory_window"), memory_window, 256),
        }
    }

    fn tls(&mut self, path: &str, raw: raw::RawTls) -> Option<Tls> {
        let ca = raw.client_ca_file.map(|file| self.relative(&file));
        let loaded = Tls::load(&self.relative(&raw.cert_file), &self.relative(&raw.key_file), ca.as_deref());
        loaded.map_err(|error| self.error(path, error)).ok()
    }

    fn tokens(&mut self, path: &str, raw: Vec<raw::RawToken>) -> Tokens {
        let mut tokens = Vec::with_capacity(raw.len());
        for (index, token) in raw.into_iter().enumerate() {
            let path = format!("{path}[{index}]");
            let expires = match token.expires.as_deref().map(EventTime::parse_rfc3339) {
                None => None,
                Some(Ok(time)) => time,
                Some(Err(error)) => {
                    self.error(format!("{path}.expires"), error.to_string());
                    None
                }
            };
            let env = token.env.clone();
            let secret = RawSecret { env: token.env, file: token.file, value: token.value };
            match self.secret(&path, secret) {
                Some(secret) => tokens.push(Token { secret, expires }),
                // A token whose variable is missing must not leave the listener open.
                None => {
                    if let Some(name) = env {
                        self.error(
                            format!("{path}.env"),
                            format!("environment variable {name} is unset or empty"),
                        );
                    }
                }
            }
        }
        Tokens::new(tokens)
    }

    /// Reads a secret; `None` when its environment variable is unset or empty.
    fn secret(&mut self, path: &str, raw: RawSecret) -> Option<Secret> {
        match (raw.env, raw.file, raw.value) {
            (Some(_), None, None) | (None, Some(_), None) if self.secrets_elsewhere => {
                Some(Secret::new("(not read: secrets elsewhere)".to_owned()))
            }
            (Some(name), None, None) => (self.env)(&name).filter(|value| !value.is_empty()).map(Secret::new),
            (None, Some(file), None) => match std::fs::read_to_string(Path::new(&file)) {
                Ok(text) if !text.trim().is_empty() => Some(Secret::new(text.trim().to_owned())),
                Ok(_) => {
                    self.error(format!("{path}.file"), format!("secret file {file:?} is empty"));
                    None
                }
                Err(error) => {
                    self.error(format!("{path}.file"), format!("cannot read secret file {file:?}: {error}"));
                    None
                }
            },
            (None, None, Some(value)) if !value.is_empty() => Some(Secret::new(value)),
            (None, None, Some(_)) => {
                self.error(format!("{path}.value"), "empty secret");
                None
            }
            _ => {
                self.error(path, "give exactly one of env, file or value");
                None
            }
        }
    }

    fn kafka(&mut self, raw: RawKafka, storage: &StorageConfig) -> KafkaConfig {
        let mut sources = Vec::with_capacity(raw.sources.len());
        for (index, source) in raw.sources.into_iter().enumerate() {
            let path = format!("kafka.sources[{index}]");
            if source.topic.is_empty() {
                self.error(format!("{path}.topic"), "empty topic name");
            }
            match WireFormat::from_kafka_name(&source.encoding) {
                Some(encoding) => sources.push(KafkaSource { topic: source.topic, encoding }),
                None => self.error(
                    format!("{path}.encoding"),
                    format!(
                        "unknown encoding {:?}: expected one of {}",
                        source.encoding,
                        WireFormat::kafka_names()
                    ),
                ),
            }
        }
        let mut topics: Vec<&str> = sources.iter().map(|source| source.topic.as_str()).collect();
        topics.sort_unstable();
        if topics.windows(2).any(|pair| pair[0] == pair[1]) {
            self.error("kafka.sources", "a topic is listed twice");
        }
        let dead_letter = match (raw.dead_letter_topic, raw.dead_letter_file) {
            (Some(_), Some(_)) => {
                self.error("kafka.dead_letter_topic", "give dead_letter_topic or dead_letter_file, not both");
                DeadLetter::File(PathBuf::new())
            }
            (Some(topic), None) => DeadLetter::Topic(topic),
            (None, Some(file)) => DeadLetter::File(self.relative(&file)),
            (None, None) => DeadLetter::File(storage.dir.join("kafka-dead-letter.jsonl")),
        };
        let brokers = raw.brokers.unwrap_or_default();
        if brokers.is_empty() {
            self.error("kafka.brokers", "no brokers: write e.g. brokers: kafka-0:9092,kafka-1:9092");
        }
        let group_id = raw.group_id.unwrap_or_else(|| "noisegate".to_owned());
        let mut properties: Vec<(String, Secret)> = Vec::new();
        for (key, value) in raw.properties {
            if let Err(message) = KafkaConfig::check_property(&key, &value) {
                self.error(format!("kafka.properties.{key}"), message);
            }
            properties.push((key, Secret::new(value)));
        }
        for (key, secret) in raw.secret_properties {
            let path = format!("kafka.secret_properties.{key}");
            if let Some(secret) = self.secret(&path, secret) {
                let checked = if self.secrets_elsewhere {
                    Ok(())
                } else {
                    KafkaConfig::check_property(&key, secret.expose())
                };
                if let Err(message) = checked {
                    // librdkafka quotes a value it refuses: not this one.
                    let message = message.replace(secret.expose(), "<redacted>");
                    self.error(path, message);
                }
                properties.push((key, secret));
            }
        }
        KafkaConfig {
            brokers,
            client_id: raw.client_id.unwrap_or_else(|| "noisegate".to_owned()),
            changelog_topic: raw.changelog_topic.unwrap_or_else(|| format!("{group_id}-changelog")),
            control_topic: raw.control_topic.unwrap_or_else(|| format!("{group_id}-control")),
            views_topic: raw.views_topic.unwrap_or_else(|| format!("{group_id}-views")),
            forward: raw.forward.map(|forward| {
                if sources.is_empty() {
                    self.error(
                        "kafka.forward",
                        "needs kafka.sources: requests go to a topic the group consumes",
                    );
                }
                crate::kafka::forward::ForwardConfig {
                    topic: forward.topic,
                    key_label: forward.key_label.unwrap_or_else(|| "cluster".to_owned()),
                }
            }),
            group_id,
            sources,
            dead_letter,
            decisions_topic: raw.decisions_topic,
            checkpoint_interval: self.positive_duration(
                "kafka.checkpoint_interval",
                raw.checkpoint_interval,
                "1s",
            ),
            connect_timeout: self.positive_duration("kafka.connect_timeout", raw.connect_timeout, "10s"),
            properties,
        }
    }

    fn address(&mut self, path: &str, raw: Option<String>, default: &str) -> SocketAddr {
        let text = raw.as_deref().unwrap_or(default);
        text.parse().unwrap_or_else(|error| {
            self.error(path, format!("invalid socket address {text:?}: {error}"));
            SocketAddr::from(([127, 0, 0, 1], 0))
        })
    }

    fn positive(&mut self, path: &str, raw: Option<usize>, default: usize) -> usize {
        match raw {
            Some(0) => {
                self.error(path, "must be greater than zero");
                default
            }
            Some(value) => value,
            None => default,
        }
    }

    fn optional_duration(&mut self, path: &str, raw: Option<&str>) -> Option<Duration> {
        let text = raw?;
        match parse_duration(text) {
            Ok(duration) => Some(duration),
            Err(message) => {
                self.error(path, message);
                None
            }
        }
    }

    fn oncall(&mut self, raw: raw::RawOncall) -> OncallConfig {
        use crate::oncall::schedule::{Schedule, time_of_day, weekday};
        let retention = parse_days(raw.retention.as_deref().unwrap_or("90d")).unwrap_or_else(|message| {
            self.error("oncall.retention", message);
            Duration::from_secs(90 * 86_400)
        });
        let mut schedule = Schedule::default();
        let raw = raw.schedule;
        if let Some(name) = raw.timezone {
            match jiff::tz::TimeZone::get(&name) {
                Ok(zone) => {
                    schedule.timezone = zone;
                    schedule.timezone_name = name;
                }
                Err(error) => {
                    self.error("oncall.schedule.timezone", format!("unknown time zone {name:?}: {error}"))
                }
            }
        }
        let time = |validator: &mut Self, path: &str, text: Option<String>, default: jiff::civil::Time| {
            text.map_or(default, |text| {
                time_of_day(&text).unwrap_or_else(|| {
                    validator.error(path, format!("not a time of day {text:?} (write e.g. 09:00)"));
                    default
                })
            })
        };
        schedule.handover = time(self, "oncall.schedule.handover", raw.handover, schedule.handover);
        if let Some(day) = raw.handover_day {
            match weekday(&day) {
                Some(day) => schedule.handover_day = Some(day),
                None => self
                    .error("oncall.schedule.handover_day", format!("not a day {day:?} (write e.g. monday)")),
            }
        }
        let hours = raw.business_hours;
        schedule.business_from =
            time(self, "oncall.schedule.business_hours.from", hours.from, schedule.business_from);
        schedule.business_to =
            time(self, "oncall.schedule.business_hours.to", hours.to, schedule.business_to);
        if let Some(days) = hours.days {
            schedule.business_days = [false; 7];
            for (index, day) in days.iter().enumerate() {
                match weekday(day) {
                    Some(day) => schedule.business_days[day.to_monday_zero_offset() as usize] = true,
                    None => self.error(
                        format!("oncall.schedule.business_hours.days[{index}]"),
                        format!("not a day {day:?} (write e.g. mon)"),
                    ),
                }
            }
        }
        OncallConfig { retention, schedule }
    }

    fn duration(&mut self, path: &str, raw: Option<String>, default: &str) -> Duration {
        let text = raw.as_deref().unwrap_or(default);
        parse_duration(text).unwrap_or_else(|message| {
            self.error(path, message);
            Duration::ZERO
        })
    }

    fn positive_duration(&mut self, path: &str, raw: Option<String>, default: &str) -> Duration {
        let duration = self.duration(path, raw, default);
        if duration.is_zero() {
            self.error(path, "must be greater than zero");
            return Duration::from_secs(1);
        }
        duration
    }
}

struct RouteDefaults {
    group_by: GroupBy,
    group_wait: Duration,
    group_interval: Duration,
    repeat_interval: Duration,
    routing_key: Arc<str>,
}

/// Parses durations written like `30s`, `5m`, `1h30m`, `250ms`.
pub use crate::clock::{parse_days, parse_duration};

#[cfg(test)]
mod tests;
