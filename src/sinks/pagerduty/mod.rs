//! The PagerDuty sink: sends the engine's pages to the Events API v2, in order, retrying
//! 429, 5xx and network errors with exponential backoff and jitter. Pages whose routing key is
//! not set go to the pages file instead, so a new user sees what would have been paged.

pub mod dto;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::admin::metrics::{Metrics, PageFailure, Queue, action_str};
use crate::config::Secret;
use crate::engine::Page;
use crate::sinks::pages_file::PagesWriter;
use dto::EventBody;

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
    /// Attempts in all, the first one included.
    pub max_attempts: u32,
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

/// What one delivery attempt came to.
enum Attempt {
    Delivered,
    /// Worth retrying (429, 5xx, network); with PagerDuty's `Retry-After` when it gave one.
    Retry {
        reason: String,
        retry_after: Option<Duration>,
    },
    /// The request itself is wrong (400 and other 4xx): retrying cannot help.
    Rejected {
        status: u16,
        body: String,
    },
}

pub struct PagerDutySink {
    config: PagerDutyConfig,
    client: reqwest::Client,
    events_url: String,
    pages: Option<PagesWriter>,
    metrics: Arc<Metrics>,
}

impl PagerDutySink {
    pub fn new(config: PagerDutyConfig, metrics: Arc<Metrics>) -> anyhow::Result<PagerDutySink> {
        // reqwest is built without a bundled crypto provider; ring is this process's one.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .timeout(config.timeout)
            .user_agent(concat!("noisegate/", env!("CARGO_PKG_VERSION")))
            .build()?;
        let events_url = format!("{}/v2/enqueue", config.url.trim_end_matches('/'));
        let needs_file = config.routing_keys.values().any(Option::is_none) || config.routing_keys.is_empty();
        let pages = match (&config.pages_file, needs_file) {
            (_, false) => None,
            (PagesOutput::Stdout, true) => Some(PagesWriter::stdout()),
            (PagesOutput::File(path), true) => Some(PagesWriter::create(path)?),
        };
        Ok(PagerDutySink { config, client, events_url, pages, metrics })
    }

    /// Delivers notifications until the engine closes the channel. `cancel` aborts waiting
    /// retries (shutdown grace period over).
    pub async fn run(mut self, mut pages: mpsc::Receiver<Page>, cancel: CancellationToken) {
        while let Some(page) = pages.recv().await {
            self.metrics.queue_depth(Queue::PagerDuty, pages.len());
            self.deliver(&page, &cancel).await;
        }
        if let Some(pages) = &mut self.pages {
            if let Err(error) = pages.flush() {
                tracing::error!(%error, "cannot flush the pages file");
            }
        }
    }

    /// The HTTP client, for other sinks to share.
    pub fn client(&self) -> reqwest::Client {
        self.client.clone()
    }

    async fn deliver(&mut self, page: &Page, cancel: &CancellationToken) {
        let secret = self.config.routing_keys.get(page.routing_key.as_ref()).and_then(Option::as_ref);
        let Some(secret) = secret else {
            let written = match &mut self.pages {
                Some(pages) => {
                    pages.write(page, self.config.client_url.as_deref()).and_then(|()| pages.flush())
                }
                None => Err(std::io::Error::other("no pages file is open")),
            };
            match written {
                Ok(()) => self.metrics.page_written(page.action),
                Err(error) => {
                    self.metrics.page_failed(PageFailure::Write);
                    tracing::error!(%error, dedup_key = %page.dedup_key, "cannot write page to the pages file");
                }
            }
            return;
        };
        let body = EventBody::new(page, secret.expose(), self.config.client_url.as_deref());
        let body = match serde_json::to_vec(&body) {
            Ok(body) => body,
            Err(error) => {
                self.metrics.page_failed(PageFailure::Rejected);
                tracing::error!(%error, dedup_key = %page.dedup_key, "cannot encode page");
                return;
            }
        };
        let policy = self.config.retry;
        for attempt in 1..=policy.max_attempts {
            match self.attempt(&body).await {
                Attempt::Delivered => {
                    self.metrics.page_sent(page.action);
                    tracing::info!(dedup_key = %page.dedup_key, action = action_str(page.action), "page delivered");
                    return;
                }
                Attempt::Rejected { status, body } => {
                    self.metrics.page_failed(PageFailure::Rejected);
                    tracing::error!(
                        dedup_key = %page.dedup_key,
                        status,
                        response = %body,
                        "pagerduty rejected the page; not retrying"
                    );
                    return;
                }
                Attempt::Retry { reason, retry_after } => {
                    if attempt == policy.max_attempts {
                        self.metrics.page_failed(PageFailure::RetriesExhausted);
                        tracing::error!(dedup_key = %page.dedup_key, attempts = attempt, %reason, "page not delivered: retries exhausted");
                        return;
                    }
                    let wait = retry_after
                        .map_or_else(|| policy.backoff(attempt), |after| after.min(policy.max_backoff));
                    self.metrics.pagerduty_retry();
                    tracing::warn!(dedup_key = %page.dedup_key, attempt, %reason, wait_ms = wait.as_millis() as u64, "page delivery failed; retrying");
                    tokio::select! {
                        () = tokio::time::sleep(wait) => {}
                        () = cancel.cancelled() => {
                            self.metrics.page_failed(PageFailure::RetriesExhausted);
                            tracing::error!(dedup_key = %page.dedup_key, "page not delivered: shutdown grace period over");
                            return;
                        }
                    }
                }
            }
        }
    }

    async fn attempt(&self, body: &[u8]) -> Attempt {
        let response = self
            .client
            .post(&self.events_url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_vec())
            .send()
            .await;
        let response = match response {
            Ok(response) => response,
            Err(error) => {
                return Attempt::Retry { reason: format!("request failed: {error}"), retry_after: None };
            }
        };
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        match status {
            200..=299 => Attempt::Delivered,
            429 | 500..=599 => Attempt::Retry { reason: format!("pagerduty answered {status}"), retry_after },
            _ => {
                let body = response.text().await.unwrap_or_default();
                Attempt::Rejected { status, body: body.chars().take(1024).collect() }
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
            max_attempts: 10,
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
