//! The PagerDuty sink: delivers the outbox's events to the Events API v2. One lane per routing
//! key, each with its own rate limit (PagerDuty allows about 120 events a minute per key),
//! queue and backoff, so a slow or failing key holds up no other. Within a lane, events for a
//! dedup key go out in the order they were decided; queued updates of the same kind coalesce
//! (the latest state wins, triggers and resolves are never dropped). Retries (429, 5xx, network)
//! back off exponentially with jitter, or as PagerDuty's `Retry-After` says, until the event is
//! older than `retry.max_age` (or out of `retry.max_attempts`); then it goes to the dead-letter
//! file, counted, never silently. Events whose routing key is not set go to the pages file.

pub mod dto;
mod lane;

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::metrics::{Metrics, PageFailure, Queue};
use crate::secret::Secret;
use crate::sinks::pages_file::PagesWriter;
use crate::storage::OutboxEvent;

#[derive(Debug, Clone)]
pub struct PagerDutyConfig {
    /// Base URL; events go to `<url>/v2/enqueue`.
    pub url: String,
    /// Routing keys by name; `None` when the key's source (an environment variable) is unset.
    pub routing_keys: BTreeMap<String, Option<Secret>>,
    /// Where pages go when their routing key is not set.
    pub pages_file: PagesOutput,
    pub timeout: Duration,
    pub retry: RetryPolicy,
    /// Pages waiting to be sent before the engine has to wait.
    pub queue_capacity: usize,
    pub client_url: Option<String>,
    pub rate_limit: RateLimit,
    /// Where undeliverable events go; by default `dead-letter.jsonl` in the data directory.
    pub dead_letter_file: Option<PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PagesOutput {
    Stdout,
    File(PathBuf),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    /// Attempts in all, the first one included; `None`: until `max_age`.
    pub max_attempts: Option<u32>,
    /// An event still undelivered this long after it was decided is dead-lettered.
    pub max_age: Duration,
}

/// Events per routing key: a token bucket of `burst` tokens refilled at `events_per_minute`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub events_per_minute: u32,
    pub burst: u32,
}

impl RetryPolicy {
    /// Exponential backoff with "equal jitter": half the step fixed, half random, so
    /// retries from many senders spread out but never come back too soon.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let step = self
            .initial_backoff
            .saturating_mul(1u32.checked_shl(attempt.saturating_sub(1)).unwrap_or(u32::MAX))
            .min(self.max_backoff);
        let half = step / 2;
        half + half.mul_f64(fastrand::f64())
    }
}

/// An event for the sink, with its outbox sequence number (`None` if the store failed).
#[derive(Debug)]
pub struct Outgoing {
    pub sequence: Option<u64>,
    pub event: OutboxEvent,
}

/// The dead-letter file: one JSON line per event given up on, with why.
pub struct DeadLetters {
    path: PathBuf,
    metrics: Arc<Metrics>,
}

impl DeadLetters {
    pub fn new(path: PathBuf, metrics: Arc<Metrics>) -> DeadLetters {
        DeadLetters { path, metrics }
    }

    /// Appends the event; returns whether it was written (if not, it stays in the outbox).
    fn write(&self, event: &OutboxEvent, failure: PageFailure, detail: &str) -> bool {
        self.metrics.page_failed(failure);
        tracing::error!(
            dedup_key = %event.dedup_key,
            reason = failure.as_str(),
            %detail,
            file = %self.path.display(),
            "page not delivered: written to the dead-letter file"
        );
        let line = serde_json::json!({
            "dead_lettered_at": crate::clock::now().to_string(),
            "reason": failure.as_str(),
            "detail": detail,
            "at": event.at.to_string(),
            "event": serde_json::value::RawValue::from_string(event.body.clone()).ok(),
        });
        let written = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .and_then(|mut file| writeln!(file, "{line}").and_then(|()| file.sync_data()));
        match written {
            Ok(()) => true,
            Err(error) => {
                tracing::error!(%error, file = %self.path.display(), "cannot write the dead-letter file; the event stays in the outbox");
                false
            }
        }
    }
}

pub struct PagerDutySink {
    config: PagerDutyConfig,
    client: reqwest::Client,
    pages: Option<PagesWriter>,
    metrics: Arc<Metrics>,
    dead_letters: Arc<DeadLetters>,
}

impl PagerDutySink {
    pub fn new(
        config: PagerDutyConfig,
        metrics: Arc<Metrics>,
        dead_letters: DeadLetters,
    ) -> anyhow::Result<PagerDutySink> {
        // reqwest is built without a bundled crypto provider; ring is this process's one.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .timeout(config.timeout)
            .user_agent(concat!("noisegate/", env!("CARGO_PKG_VERSION")))
            .build()?;
        let needs_file = config.routing_keys.values().any(Option::is_none) || config.routing_keys.is_empty();
        let pages = match (&config.pages_file, needs_file) {
            (_, false) => None,
            (PagesOutput::Stdout, true) => Some(PagesWriter::stdout()),
            (PagesOutput::File(path), true) => Some(PagesWriter::create(path)?),
        };
        Ok(PagerDutySink { config, client, pages, metrics, dead_letters: Arc::new(dead_letters) })
    }

    /// The HTTP client, for other sinks to share.
    pub fn client(&self) -> reqwest::Client {
        self.client.clone()
    }

    /// Delivers events until the engine closes the channel and every lane is done, or `cancel`
    /// fires (shutdown grace period over: what is left stays in the outbox). Each delivered or
    /// dead-lettered event's sequence number goes to `delivered`.
    pub async fn run(
        mut self,
        mut events: mpsc::Receiver<Outgoing>,
        delivered: mpsc::UnboundedSender<u64>,
        cancel: CancellationToken,
    ) {
        let events_url = format!("{}/v2/enqueue", self.config.url.trim_end_matches('/'));
        let mut lanes: HashMap<Box<str>, mpsc::UnboundedSender<Outgoing>> = HashMap::new();
        let mut tasks = tokio::task::JoinSet::new();
        while let Some(outgoing) = events.recv().await {
            self.metrics.queue_depth(Queue::PagerDuty, events.len());
            let name = outgoing.event.routing_key.clone();
            let Some(secret) = self.config.routing_keys.get(name.as_ref()).and_then(Option::as_ref) else {
                self.write_page(&outgoing, &delivered);
                continue;
            };
            let lane = lanes.entry(name.clone()).or_insert_with(|| {
                let (sender, receiver) = mpsc::unbounded_channel();
                let lane = lane::Lane {
                    name,
                    secret: secret.clone(),
                    client: self.client.clone(),
                    url: events_url.clone(),
                    retry: self.config.retry,
                    rate: self.config.rate_limit,
                    metrics: self.metrics.clone(),
                    dead_letters: self.dead_letters.clone(),
                    delivered: delivered.clone(),
                };
                tasks.spawn(lane.run(receiver, cancel.clone()));
                sender
            });
            if lane.send(outgoing).is_err() {
                tracing::error!("a pagerduty lane has stopped; the event stays in the outbox");
            }
        }
        drop(lanes);
        while tasks.join_next().await.is_some() {}
        if let Some(pages) = &mut self.pages {
            if let Err(error) = pages.flush() {
                tracing::error!(%error, "cannot flush the pages file");
            }
        }
    }

    fn write_page(&mut self, outgoing: &Outgoing, delivered: &mpsc::UnboundedSender<u64>) {
        let event = &outgoing.event;
        let written = match &mut self.pages {
            Some(pages) => pages.write_raw(event.at, &event.body).and_then(|()| pages.flush()),
            None => Err(std::io::Error::other("no pages file is open")),
        };
        match written {
            Ok(()) => {
                self.metrics.page_written(event.action);
                if let Some(sequence) = outgoing.sequence {
                    let _ = delivered.send(sequence);
                }
            }
            Err(error) => {
                self.metrics.page_failed(PageFailure::Write);
                tracing::error!(%error, dedup_key = %event.dedup_key, "cannot write page to the pages file; it stays in the outbox");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        let policy = RetryPolicy {
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(1),
            max_attempts: None,
            max_age: Duration::from_secs(3600),
        };
        for attempt in 1..=8 {
            let step = Duration::from_millis(100 * (1 << (attempt - 1))).min(Duration::from_secs(1));
            let wait = policy.backoff(attempt);
            assert!(
                wait >= step / 2 && wait <= step,
                "attempt {attempt}: {wait:?} outside [{:?}, {step:?}]",
                step / 2
            );
        }
        assert!(policy.backoff(40) <= Duration::from_secs(1));
    }
}
