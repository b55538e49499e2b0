//! The `serve` runtime: binds nothing itself (listeners come in bound), wires sources to the
//! engine thread and the engine to the sinks, and shuts down in order.

mod engine_loop;
pub mod history;
pub mod shards;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context as _;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::admin;
use crate::admin::api::AdminState;
use crate::admin::timeline::Timeline;
use crate::auth::Guard;
use crate::config::{self, Config, ConfigSource, Overrides, ServerConfig};
use crate::inbox::Input;
use crate::ingest::Pressure;
use crate::kafka::control::{ControlReader, ControlTopic};
use crate::kafka::{self, decisions::DecisionsTopic, source::KafkaSource};
use crate::metrics::Metrics;
use crate::oncall::record::{IncidentRecord, Recorder};
use crate::reload::{self, Reloader};
use crate::sinks::dead_letters::DeadLetters;
use crate::sinks::decisions::DecisionsLog;
use crate::sinks::delivery::{Dispatcher, PagesFallback};
use crate::sinks::digest::DigestSink;
use crate::sinks::opsgenie::Opsgenie;
use crate::sinks::pagerduty::PagerDuty;
use crate::sinks::sink::{Destination, Outgoing};
use crate::sources::Ingest;
use crate::sources::capture::CaptureWriter;
use crate::sources::http::{HttpState, router};
use crate::sources::otlp::grpc::OtlpService;
use crate::storage::IncidentStore;
use crate::storage::{OutboxReader, Record, RecordedConfig, Recovery, Storage};
use crate::tls::{Tls, TlsListener};
use noisegate_engine::Engine;
use noisegate_engine::Shadow;
use shards::Shards;

/// The bound listening sockets.
pub struct Listeners {
    pub grpc: TcpListener,
    pub http: TcpListener,
    pub admin: TcpListener,
}

impl Listeners {
    pub async fn bind(server: &ServerConfig) -> anyhow::Result<Listeners> {
        let grpc = TcpListener::bind(server.grpc_listen)
            .await
            .with_context(|| format!("cannot listen on {} (server.grpc_listen)", server.grpc_listen))?;
        let http = TcpListener::bind(server.http_listen)
            .await
            .with_context(|| format!("cannot listen on {} (server.http_listen)", server.http_listen))?;
        let admin = TcpListener::bind(server.admin_listen)
            .await
            .with_context(|| format!("cannot listen on {} (server.admin_listen)", server.admin_listen))?;
        Ok(Listeners { grpc, http, admin })
    }
}

#[derive(Debug, Clone, Default)]
pub struct ServeOptions {
    /// Write every accepted request to this capture file.
    pub record: Option<PathBuf>,
    /// Where the config came from, to read it again on reload (SIGHUP, `POST /-/reload`).
    pub config_source: Option<(ConfigSource, Overrides)>,
    /// A stop pages every group still waiting (`serve --drain`: the instance stops for good);
    /// otherwise they stay in the durable state for the next start.
    pub drain: bool,
}

/// Percentages of `limits.max_memory_bytes` at which ingest starts and stops refusing work.
const MEMORY_TRIP: u64 = 80;
const MEMORY_RESUME: u64 = 70;

/// Events read back from the outbox at a time when the service starts.
const OUTBOX_BATCH: usize = 256;

/// Samples the process's resident memory; from 80% of `ceiling` on, ingest refuses work (429
/// with `Retry-After`) until it drops back under 70%. The margin is for the requests already
/// in flight and the allocator's slack, and what the engine's tables would allocate if they
/// grew now counts as used: so that the process stays under the ceiling itself.
async fn watch_memory(
    ceiling: u64,
    pressure: Arc<Pressure>,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
) {
    let mut interval = tokio::time::interval(std::time::Duration::from_millis(100));
    loop {
        tokio::select! {
            _ = interval.tick() => {}
            () = shutdown.cancelled() => return,
        }
        let Some(resident) = resident_bytes() else { return };
        metrics.memory(resident);
        let exceeded = pressure.memory_exceeded.load(Ordering::Relaxed);
        let threshold = if exceeded { MEMORY_RESUME } else { MEMORY_TRIP };
        // Room for the engine's tables to grow counts as used.
        let growth = pressure.growth_bytes.load(Ordering::Relaxed);
        let needed = resident.saturating_add(growth);
        tracing::trace!(resident, growth, "memory sample");
        let now_exceeded = needed > ceiling / 100 * threshold;
        if now_exceeded != exceeded {
            pressure.memory_exceeded.store(now_exceeded, Ordering::Relaxed);
            if now_exceeded {
                tracing::warn!(
                    resident,
                    growth,
                    ceiling,
                    "memory near limits.max_memory_bytes: refusing work until it drops"
                );
            } else {
                tracing::info!(resident, ceiling, "memory back under the ceiling: accepting work");
            }
        }
    }
}

/// Resident set size from `/proc/self/status` (`None` where there is no such file).
fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    let kilobytes: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kilobytes * 1024)
}

/// Reloads the config on every SIGHUP until shutdown.
#[cfg(unix)]
async fn reload_on_hangup(reloader: Arc<Reloader>, shutdown: CancellationToken) {
    let mut hangups = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        Ok(signal) => signal,
        Err(error) => {
            tracing::warn!(%error, "cannot listen for SIGHUP; reload through POST /-/reload");
            return;
        }
    };
    loop {
        tokio::select! {
            received = hangups.recv() => {
                if received.is_none() {
                    return;
                }
                tracing::info!("SIGHUP received: reloading the config");
                // The outcome is logged and counted by the reloader.
                let _ = reloader.reload().await;
            }
            () = shutdown.cancelled() => return,
        }
    }
}

/// Serves `router` on `listener`, over TLS when `tls` is set, until `shutdown`.
fn serve(
    listener: TcpListener,
    tls: Option<Tls>,
    router: axum::Router,
    metrics: &Arc<Metrics>,
    shutdown: &CancellationToken,
) -> tokio::task::JoinHandle<std::io::Result<()>> {
    use std::future::IntoFuture;
    let stopping = shutdown.clone().cancelled_owned();
    match tls {
        None => {
            let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
                let _ = tcp.set_nodelay(true);
            });
            tokio::spawn(axum::serve(listener, router).with_graceful_shutdown(stopping).into_future())
        }
        Some(tls) => {
            let listener = TlsListener::new(listener, tls, metrics.clone(), shutdown.clone());
            tokio::spawn(axum::serve(listener, router).with_graceful_shutdown(stopping).into_future())
        }
    }
}

/// Every destination a route can name, by name: each sink registers its own.
fn destinations(config: &Config) -> BTreeMap<String, Destination> {
    let mut destinations = BTreeMap::new();
    PagerDuty::register(&config.pagerduty, &mut destinations);
    Opsgenie::register(&config.opsgenie, &mut destinations);
    destinations
}

/// The engine as the store left it, and what goes with it.
struct Restored {
    storage: Storage,
    engine: Engine,
    /// The config in force now, as recorded, and whether the log lacks it.
    config: RecordedConfig,
    log_config: bool,
}

/// The engine as the store left it: the snapshot, under the config it was made under, and the
/// log after it, each record under its own config; then the config in force now. A fresh
/// engine (seeded with the history files) when the store is empty. The config it ends under,
/// and whether the log must be told of it.
fn restore(config: &Config, recovery: Recovery) -> anyhow::Result<(Engine, RecordedConfig, bool)> {
    let recorded =
        config.recorded().map_err(|message| anyhow::anyhow!("cannot record the config: {message}"))?;
    let Recovery { snapshot, snapshot_config, records, .. } = recovery;
    // The config the state starts under: the snapshot's, or, with none, the log's first.
    let first = match (&snapshot, records.first()) {
        (Some(_), _) => snapshot_config.as_ref(),
        (None, Some(Record::Config { config, .. })) => Some(config),
        (None, _) => None,
    };
    let settings = match first.map(config::recorded_engine) {
        Some(Ok(settings)) => settings,
        Some(Err(errors)) => {
            tracing::error!(%errors, "the store names a config this version cannot read: its state is restored under the config in force");
            config.engine.clone()
        }
        None => config.engine.clone(),
    };
    let mut engine = match &snapshot {
        Some(bytes) => Engine::restore(settings, bytes)?,
        None => {
            let mut engine = Engine::new(settings);
            for path in [&config.feedback.seed_file, &config.feedback.state_file].into_iter().flatten() {
                let saved = history::load(path)?;
                engine.seed_history(&saved.history);
                engine.seed_seen(saved.seen);
            }
            engine
        }
    };
    let recovered = engine_loop::recover(&mut engine, records);
    let last = recovered.config.or(snapshot_config);
    // A store of an earlier version names no config: its state was rebuilt under this one.
    if last.as_ref().is_some_and(|last| *last != recorded) {
        engine.reconfigure(config.engine.clone());
    }
    if snapshot.is_some() || recovered.records > 0 {
        let stats = engine.stats();
        tracing::info!(
            log_records = recovered.records,
            active_alerts = stats.active_alerts,
            active_groups = stats.active_groups,
            config_changed = last.as_ref() != Some(&recorded),
            "state restored"
        );
    }
    let log_config = last.as_ref() != Some(&recorded);
    Ok((engine, recorded, log_config))
}

/// Opens the store and restores the engine from it, off the async workers.
async fn open_store(config: &Config) -> anyhow::Result<Restored> {
    let storage_dir = config.storage.dir.clone();
    let storage = tokio::task::spawn_blocking(move || Storage::open(&storage_dir)).await??;
    let storage_path = storage.path().to_owned();
    let restore_config = config.clone();
    tokio::task::spawn_blocking(move || {
        let recovery = storage.recover()?;
        let (engine, config, log_config) = restore(&restore_config, recovery)?;
        anyhow::Ok(Restored { storage, engine, config, log_config })
    })
    .await?
    .with_context(|| format!("cannot restore the state stored in {}", storage_path.display()))
}

/// Asks the engine to run due flushes every `every`, until shutdown.
async fn tick(engine: mpsc::Sender<Input>, every: std::time::Duration, shutdown: CancellationToken) {
    let mut interval = tokio::time::interval(every);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = interval.tick() => {
                // A full queue means the engine is busy and will run due flushes anyway.
                let _ = engine.try_send(Input::Tick(std::time::Instant::now()));
            }
            () = shutdown.cancelled() => break,
        }
    }
}

/// The delivery tasks: pages to their destinations, digest items to the digest.
struct Delivery {
    pages: tokio::task::JoinHandle<()>,
    digest: tokio::task::JoinHandle<()>,
    /// Sequence numbers of the pages delivered or dead-lettered, for the outbox.
    delivered: mpsc::UnboundedReceiver<u64>,
    /// Stops both at once (the shutdown grace period is over).
    cancel: CancellationToken,
}

fn start_delivery(
    config: &Config,
    metrics: &Arc<Metrics>,
    pages: mpsc::Receiver<Outgoing>,
    digests: mpsc::Receiver<noisegate_engine::Page>,
    outbox: OutboxReader,
) -> anyhow::Result<Delivery> {
    let dead_letter_file = config
        .pagerduty
        .dead_letter_file
        .clone()
        .unwrap_or_else(|| config.storage.dir.join("dead-letter.jsonl"));
    let fallback = PagesFallback {
        output: config.pagerduty.pages_file.clone(),
        client_url: config.pagerduty.client_url.clone(),
    };
    let dispatcher = Dispatcher::new(
        destinations(config),
        fallback,
        metrics.clone(),
        DeadLetters::new(dead_letter_file, metrics.clone()),
        config.pagerduty.delivery.timeout,
        outbox,
    )?;
    let cancel = CancellationToken::new();
    let digest = DigestSink::new(config.digest.clone(), dispatcher.client());
    let digest = tokio::spawn(digest.run(digests, cancel.clone()));
    let (delivered_sender, delivered) = mpsc::unbounded_channel();
    let pages = tokio::spawn(dispatcher.run(pages, delivered_sender, cancel.clone()));
    Ok(Delivery { pages, digest, delivered, cancel })
}

/// The incidents the store holds as open (or resolved within a day): the recorder goes on
/// with them. Incidents opened over a week ago are not looked for.
fn open_incidents(store: &IncidentStore) -> Vec<IncidentRecord> {
    use crate::clock::DAY_MS;
    let now = crate::clock::now().as_millis();
    let values = match store.read(now - 7 * DAY_MS, i64::MAX) {
        Ok(values) => values,
        Err(error) => {
            tracing::error!(%error, "cannot read the incident records");
            return Vec::new();
        }
    };
    values
        .iter()
        .filter_map(|value| IncidentRecord::decode(value).ok())
        .filter(|record| record.resolved_at.is_none_or(|resolved| resolved >= now - DAY_MS))
        .collect()
}

/// Runs until `shutdown` is cancelled, then stops accepting, applies what was accepted,
/// delivers the pages due (within `server.shutdown_grace`) and returns. Groups still waiting
/// stay in the durable state for the next start, or page now with `options.drain`.
pub async fn run(
    config: Config,
    listeners: Listeners,
    options: ServeOptions,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let metrics = Arc::new(Metrics::new());
    let (input_sender, input_receiver) = mpsc::channel(config.server.engine_queue);
    let (page_sender, page_receiver) = mpsc::channel(config.pagerduty.queue_capacity);
    let (digest_sender, digest_receiver) = mpsc::channel(config.pagerduty.queue_capacity);
    let decisions = match &config.decisions_file {
        Some(path) => Some(
            DecisionsLog::open(path)
                .with_context(|| format!("cannot open decisions log {}", path.display()))?,
        ),
        None => None,
    };
    let pressure = Arc::new(Pressure::default());
    let decisions_topic =
        match config.kafka.as_ref().and_then(|kafka| Some((kafka, kafka.decisions_topic.as_ref()?))) {
            Some((kafka, topic)) => {
                Some(DecisionsTopic::open(kafka, topic, metrics.clone()).map_err(anyhow::Error::msg)?)
            }
            None => None,
        };
    let timeline = Arc::new(Timeline::default());
    let config_text = Arc::new(arc_swap::ArcSwap::from_pointee(config.text.to_string()));
    let mut outputs = engine_loop::Outputs {
        timeline: timeline.clone(),
        decisions_topic,
        pages: page_sender,
        digests: digest_sender,
        decisions,
        silent: config.engine.scoring.shadow == Shadow::Silent,
        history_file: config.feedback.state_file.clone(),
        pressure: pressure.clone(),
        control: None,
        recorder: Recorder::default(),
    };
    let capture = match &options.record {
        Some(path) => Some(
            CaptureWriter::create(path)
                .with_context(|| format!("cannot create capture file {}", path.display()))?,
        ),
        None => None,
    };

    let Restored { storage, engine, config: recorded_config, log_config } = open_store(&config).await?;
    let replica = storage.replica();
    let incident_store = storage.incidents();
    outputs.recorder = Recorder::restore(open_incidents(&incident_store), config.oncall.schedule.clone());
    // The central layout (replicas in one consumer group): silences and feedback go to every
    // replica through the control topic.
    let central = config.kafka.clone().filter(|kafka| !kafka.sources.is_empty());
    if let Some(kafka) = central.clone() {
        let (control_metrics, runtime) = (metrics.clone(), tokio::runtime::Handle::current());
        // The brokers answer first: a TLS or connection failure is a startup error, not retried
        // forever.
        let opened = tokio::task::spawn_blocking(move || {
            kafka::probe::probe(&kafka, kafka.connect_timeout)?;
            ControlTopic::open(&kafka, replica, control_metrics, &runtime)
        });
        outputs.control = Some(opened.await?.map_err(anyhow::Error::msg)?);
    }
    let delivery =
        start_delivery(&config, &metrics, page_receiver, digest_receiver, storage.outbox_reader())?;
    // Events decided before the last stop and not yet delivered go first, in order, read back
    // a batch at a time: the backlog of a long outage is never in memory whole (the lanes keep
    // their window of it and the rest as sequence numbers).
    let mut shards = Shards::new(storage.replica());
    let reader = storage.outbox_reader();
    let left = {
        let reader = reader.clone();
        tokio::task::spawn_blocking(move || reader.count()).await?.context("cannot read the outbox")?
    };
    if left > 0 {
        tracing::info!(events = left, "delivering events left in the outbox");
    }
    let mut after = 0;
    loop {
        let reader = reader.clone();
        let batch = tokio::task::spawn_blocking(move || reader.after(after, OUTBOX_BATCH))
            .await?
            .context("cannot read the outbox")?;
        let Some(&(last, _)) = batch.last() else { break };
        after = last;
        for (sequence, event) in batch {
            shards.track(sequence, &event);
            let _ = outputs.pages.send(Outgoing { sequence: Some(sequence), event }).await;
        }
    }

    let views = outputs.control.as_ref().map(|control| control.views().clone());
    let durability = engine_loop::Durability {
        incident_retention: config.oncall.retention,
        shards,
        storage,
        snapshot_every: config.storage.snapshot_every,
        delivered: delivery.delivered,
        drain: options.drain,
        config: recorded_config,
        log_config,
    };
    let (engine_done, engine_stopped) = oneshot::channel();
    let engine_metrics = metrics.clone();
    std::thread::Builder::new()
        .name("noisegate-engine".to_owned())
        .spawn(move || {
            engine_loop::run(engine, input_receiver, outputs, capture, durability, &engine_metrics);
            let _ = engine_done.send(());
        })
        .context("cannot start the engine thread")?;

    let limits = Arc::new(config.limits);
    let kafka = match central {
        Some(kafka) => {
            // What the other replicas shared, before any partition is taken.
            let (control_config, engine, runtime) =
                (kafka.clone(), input_sender.clone(), tokio::runtime::Handle::current());
            let views = views.clone().unwrap_or_default();
            let control = tokio::task::spawn_blocking(move || {
                ControlReader::start(&control_config, replica, views, engine, runtime)
            })
            .await?
            .map_err(anyhow::Error::msg)?;
            let wiring = kafka::source::Wiring {
                engine: input_sender.clone(),
                limits: limits.clone(),
                metrics: metrics.clone(),
                pressure: pressure.clone(),
                runtime: tokio::runtime::Handle::current(),
                record: options.record.is_some(),
            };
            // Within the first half of the grace period, which the listeners share.
            let drain_for = config.server.shutdown_grace / 4;
            let source = tokio::task::spawn_blocking(move || KafkaSource::start(&kafka, wiring, drain_for))
                .await?
                .map_err(anyhow::Error::msg)?;
            Some((source, control))
        }
        None => None,
    };
    // The central layout: what the listeners accept goes through the partitioned engines.
    let forward = match config.kafka.as_ref().and_then(|kafka| Some((kafka, kafka.forward.as_ref()?))) {
        Some((kafka, forward)) => {
            let forwarder = kafka::forward::Forwarder::new(kafka, forward).map_err(anyhow::Error::msg)?;
            let forwarder = tokio::task::spawn_blocking(move || forwarder.check_topic().map(|()| forwarder))
                .await?
                .map_err(anyhow::Error::msg)?;
            Some(Arc::new(forwarder) as Arc<dyn crate::ingest::Forward>)
        }
        None => None,
    };
    let ingest = Ingest::new(
        input_sender.clone(),
        limits,
        metrics.clone(),
        options.record.is_some(),
        pressure.clone(),
        forward,
    );
    if config.limits.max_memory_bytes > 0 {
        tokio::spawn(watch_memory(
            config.limits.max_memory_bytes,
            pressure.clone(),
            metrics.clone(),
            shutdown.clone(),
        ));
    }
    let ready = Arc::new(AtomicBool::new(false));
    let http_addr = listeners.http.local_addr()?;
    let grpc_addr = listeners.grpc.local_addr()?;
    let admin_addr = listeners.admin.local_addr()?;
    let reloader = options.config_source.clone().map(|(source, overrides)| {
        let live = reload::Live {
            tokens: [config.ingest_tokens.clone(), config.admin_tokens.clone()],
            tls: [config.server.tls.clone(), config.server.admin_tls.clone()],
            text: config_text.clone(),
        };
        Arc::new(Reloader::new(source, overrides, input_sender.clone(), metrics.clone(), live))
    });
    #[cfg(unix)]
    if let Some(reloader) = reloader.clone() {
        tokio::spawn(reload_on_hangup(reloader, shutdown.clone()));
    }
    let http_state = HttpState {
        ingest: ingest.clone(),
        ready: ready.clone(),
        feedback_secrets: Arc::new(config.feedback.webhook_secrets.clone()),
        incident_keys: Arc::default(),
    };
    let admin_state = AdminState {
        engine: input_sender.clone(),
        metrics: metrics.clone(),
        ready: ready.clone(),
        silences_created: Arc::default(),
        reloader,
        timeline,
        config_text,
        started: crate::clock::now(),
        ingest: http_state.clone(),
        views,
        oncall: Some((incident_store, config.oncall.schedule.clone())),
    };
    let ingest_guard =
        Guard { tokens: config.ingest_tokens.clone(), metrics: metrics.clone(), listener: "http" };
    let am_reading = config
        .server
        .am_api_on_ingest
        .then(|| admin::alertmanager::read_only(admin_state.clone(), ingest_guard.clone()));
    let admin_router = admin::api::router(
        admin_state,
        Guard { tokens: config.admin_tokens.clone(), metrics: metrics.clone(), listener: "admin" },
    );
    let admin_tls = config.server.admin_tls.clone();
    let admin_task = serve(listeners.admin, admin_tls, admin_router, &metrics, &shutdown);
    let mut http_router = router(http_state, ingest_guard);
    if let Some(reading) = am_reading {
        http_router = http_router.merge(reading);
    }
    let http_task = serve(listeners.http, config.server.tls.clone(), http_router, &metrics, &shutdown);
    // gRPC is HTTP/2: the same server, every path going to the OTLP service (logs and traces).
    let grpc_router =
        axum::Router::new().fallback_service(OtlpService::new(ingest, config.ingest_tokens.clone()));
    let grpc_task = serve(listeners.grpc, config.server.tls.clone(), grpc_router, &metrics, &shutdown);

    let engine_input = input_sender.clone();
    let ticker = tokio::spawn(tick(input_sender, config.server.tick, shutdown.clone()));

    ready.store(true, Ordering::Relaxed);
    tracing::info!(%http_addr, %grpc_addr, %admin_addr, "noisegate serving");
    shutdown.cancelled().await;
    ready.store(false, Ordering::Relaxed);
    if options.drain {
        tracing::info!("shutting down for good: no new requests; paging every waiting group");
    } else {
        tracing::info!("shutting down: no new requests; waiting groups are kept for the next start");
    }

    let grace = config.server.shutdown_grace;
    let deadline = tokio::time::Instant::now() + grace;
    // 1. In-flight requests finish, for at most half the grace period: a stalled client must not
    //    keep the engine from paging what is pending.
    let servers = async {
        let _ = ticker.await;
        for (name, task) in [("http", http_task), ("grpc", grpc_task), ("admin", admin_task)] {
            match task.await {
                Ok(Err(error)) => tracing::warn!(%error, server = name, "server stopped with an error"),
                Err(error) => tracing::warn!(%error, server = name, "server task failed"),
                Ok(Ok(())) => {}
            }
        }
    };
    let kafka_stopped = async {
        if let Some((source, control)) = kafka {
            let _ = tokio::task::spawn_blocking(move || {
                source.stop();
                control.stop();
            })
            .await;
        }
    };
    let servers = async { tokio::join!(servers, kafka_stopped) };
    if tokio::time::timeout(grace / 2, servers).await.is_err() {
        tracing::warn!("requests still in flight at half the grace period; they will be refused");
    }
    // 2. The engine pages what is pending and closes the sink's queue; the sink delivers it.
    let closing = async {
        let _ = engine_input.send(Input::Shutdown).await;
        let _ = engine_stopped.await;
        let _ = delivery.pages.await;
        let _ = delivery.digest.await;
    };
    if tokio::time::timeout_at(deadline, closing).await.is_err() {
        delivery.cancel.cancel();
        tracing::error!(
            grace_ms = grace.as_millis() as u64,
            "shutdown grace period over; undelivered pages stay in the outbox for the next start"
        );
    } else {
        tracing::info!("shutdown complete");
    }
    Ok(())
}
