//! One destination's delivery lane: its queue (coalesced per dedup key), rate limit, backoff,
//! and the requests of each page in order.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::dead_letters::DeadLetters;
use super::page::StoredPage;
use super::sink::{DeliveryConfig, Outgoing, RateLimit, Request, Sink};
use crate::metrics::{Metrics, PageFailure, action_str};
use crate::secret::Secret;
use crate::storage::OutboxEvent;

pub(super) struct Lane {
    /// The destination's name.
    pub name: Box<str>,
    pub sink: Arc<dyn Sink>,
    pub key: Secret,
    pub client: reqwest::Client,
    pub delivery: DeliveryConfig,
    pub metrics: Arc<Metrics>,
    pub dead_letters: Arc<DeadLetters>,
    pub delivered: mpsc::UnboundedSender<u64>,
}

/// A queued page and the outbox entries it stands for (more than one once coalesced).
struct Pending {
    event: OutboxEvent,
    sequences: Vec<u64>,
    /// Attempts at the current request.
    attempts: u32,
    /// Requests of the page already accepted (a retry resumes after them).
    sent: usize,
}

/// What one request came to.
enum Attempt {
    /// Accepted; `last`: the page's last request.
    Accepted { last: bool },
    /// Worth retrying (429, 5xx, network); with the destination's `Retry-After` when it gave one.
    Retry { reason: String, retry_after: Option<Duration> },
    /// The page or the key is wrong (400, 401, 403 and other 4xx): retrying cannot help.
    Rejected(String),
}

/// A token bucket: `burst` tokens, refilled at the configured rate.
struct Bucket {
    tokens: f64,
    capacity: f64,
    per_second: f64,
    updated: Instant,
}

impl Bucket {
    fn new(rate: RateLimit) -> Bucket {
        let capacity = f64::from(rate.burst);
        Bucket {
            tokens: capacity,
            capacity,
            per_second: f64::from(rate.events_per_minute) / 60.0,
            updated: Instant::now(),
        }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.per_second).min(self.capacity);
        self.updated = now;
    }

    /// When the next token is there.
    fn ready_at(&mut self, now: Instant) -> Instant {
        self.refill(now);
        if self.tokens >= 1.0 {
            now
        } else {
            now + Duration::from_secs_f64((1.0 - self.tokens) / self.per_second)
        }
    }

    fn take(&mut self) {
        self.tokens -= 1.0;
    }
}

/// Queues a page behind the others; an update of the same kind as the last one queued for its
/// dedup key replaces it (a destination keeps only the latest state of a trigger, and a second
/// acknowledge or resolve changes nothing), keeping its place so order per key holds. A page
/// partly delivered already (some of its requests accepted) is not replaced.
fn enqueue(queue: &mut VecDeque<Pending>, outgoing: Outgoing) {
    let Outgoing { sequence, event } = outgoing;
    let last = queue.iter_mut().rev().find(|pending| pending.event.dedup_key == event.dedup_key);
    if let Some(last) = last.filter(|last| last.event.action == event.action && last.sent == 0) {
        // The age of the older event counts: coalescing must not keep an event alive forever.
        let at = last.event.at;
        last.event = OutboxEvent { at, ..event };
        last.sequences.extend(sequence);
        return;
    }
    queue.push_back(Pending { event, sequences: sequence.into_iter().collect(), attempts: 0, sent: 0 });
}

impl Lane {
    pub async fn run(self, mut events: mpsc::UnboundedReceiver<Outgoing>, cancel: CancellationToken) {
        let mut queue = VecDeque::new();
        let mut bucket = Bucket::new(self.delivery.rate_limit);
        let mut retry_at = Instant::now();
        let mut open = true;
        loop {
            while let Ok(outgoing) = events.try_recv() {
                enqueue(&mut queue, outgoing);
            }
            let now = Instant::now();
            let ready = bucket.ready_at(now).max(retry_at);
            if queue.is_empty() || ready > now {
                if queue.is_empty() && !open {
                    break;
                }
                let wait = if queue.is_empty() { now + Duration::from_secs(3600) } else { ready };
                tokio::select! {
                    () = tokio::time::sleep_until(wait) => {}
                    received = events.recv(), if open => match received {
                        Some(outgoing) => enqueue(&mut queue, outgoing),
                        None => open = false,
                    },
                    () = cancel.cancelled() => break,
                }
                continue;
            }
            let Some(front) = queue.front_mut() else { continue };
            bucket.take();
            front.attempts += 1;
            let attempt = tokio::select! {
                attempt = self.attempt(&front.event, front.sent) => attempt,
                () = cancel.cancelled() => break,
            };
            if let Some(wait) = self.outcome(attempt, &mut queue) {
                retry_at = Instant::now() + wait;
            }
        }
        if !queue.is_empty() {
            tracing::warn!(
                sink = self.sink.name(),
                destination = %self.name,
                pages = queue.len(),
                "pages not yet delivered stay in the outbox; they go out at the next start"
            );
        }
    }

    /// Acts on what an attempt at the front page's current request came to; returns how long to
    /// wait before retrying it, if it is to be retried.
    fn outcome(&self, attempt: Attempt, queue: &mut VecDeque<Pending>) -> Option<Duration> {
        let front = queue.front_mut()?;
        match attempt {
            Attempt::Accepted { last: false } => {
                front.sent += 1;
                front.attempts = 0;
            }
            Attempt::Accepted { last: true } => {
                self.metrics.page_sent(front.event.action);
                tracing::info!(
                    sink = self.sink.name(),
                    destination = %self.name,
                    dedup_key = %front.event.dedup_key,
                    action = action_str(front.event.action),
                    "page delivered"
                );
                self.done(queue.pop_front());
            }
            Attempt::Rejected(detail) => {
                tracing::error!(
                    sink = self.sink.name(),
                    destination = %self.name,
                    dedup_key = %front.event.dedup_key,
                    %detail,
                    "the destination refused the page; not retrying"
                );
                self.dead_letter(queue.pop_front(), PageFailure::Rejected, &detail);
            }
            Attempt::Retry { reason, retry_after } => {
                let retry = self.delivery.retry;
                let age = crate::clock::now().since(front.event.at);
                if retry.max_attempts.is_some_and(|max| front.attempts >= max) {
                    let detail = format!("{reason} after {} attempts", front.attempts);
                    self.dead_letter(queue.pop_front(), PageFailure::RetriesExhausted, &detail);
                } else if age >= retry.max_age {
                    let detail = format!("{reason}; undelivered for {}s", age.as_secs());
                    self.dead_letter(queue.pop_front(), PageFailure::Expired, &detail);
                } else {
                    let wait = retry_after
                        .map_or_else(|| retry.backoff(front.attempts), |after| after.min(retry.max_backoff));
                    self.metrics.delivery_retry(self.sink.name());
                    tracing::warn!(
                        sink = self.sink.name(),
                        destination = %self.name,
                        dedup_key = %front.event.dedup_key,
                        attempt = front.attempts,
                        %reason,
                        wait_ms = wait.as_millis() as u64,
                        "page delivery failed; retrying"
                    );
                    return Some(wait);
                }
            }
        }
        None
    }

    /// Reports the page's outbox entries as done.
    fn done(&self, pending: Option<Pending>) {
        for sequence in pending.into_iter().flat_map(|pending| pending.sequences) {
            let _ = self.delivered.send(sequence);
        }
    }

    fn dead_letter(&self, pending: Option<Pending>, failure: PageFailure, detail: &str) {
        let Some(pending) = pending else { return };
        if self.dead_letters.write(&pending.event, &*self.sink, pending.sent, failure, detail) {
            self.done(Some(pending));
        }
    }

    /// Sends the page's request number `index`.
    async fn attempt(&self, event: &OutboxEvent, index: usize) -> Attempt {
        let requests =
            StoredPage::parse(&event.body).and_then(|page| self.sink.requests(&page, Some(&self.key)));
        let mut requests = match requests {
            Ok(requests) => requests,
            Err(detail) => return Attempt::Rejected(detail),
        };
        let last = index + 1 >= requests.len();
        if index >= requests.len() {
            return Attempt::Accepted { last: true };
        }
        let request = requests.swap_remove(index);
        self.send(request, last).await
    }

    async fn send(&self, request: Request, last: bool) -> Attempt {
        let sink = self.sink.name();
        let mut builder = self
            .client
            .request(request.method, &request.url)
            .timeout(self.delivery.timeout)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(request.body);
        if let Some(authorization) = &request.authorization {
            match reqwest::header::HeaderValue::from_str(authorization.expose()) {
                Ok(mut value) => {
                    value.set_sensitive(true);
                    builder = builder.header(reqwest::header::AUTHORIZATION, value);
                }
                Err(_) => return Attempt::Rejected("the key is not a valid header value".to_owned()),
            }
        }
        let response = match builder.send().await {
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
            200..=299 => Attempt::Accepted { last },
            429 | 500..=599 => Attempt::Retry { reason: format!("{sink} answered {status}"), retry_after },
            _ => {
                let body = response.text().await.unwrap_or_default();
                Attempt::Rejected(format!(
                    "{sink} answered {status}: {}",
                    body.chars().take(1024).collect::<String>()
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use noisegate_engine::PageAction;
    use noisegate_engine::model::EventTime;

    fn outgoing(sequence: u64, key: &str, action: PageAction, summary: &str) -> Outgoing {
        Outgoing {
            sequence: Some(sequence),
            event: OutboxEvent {
                at: EventTime::from_millis(sequence as i64),
                action,
                dedup_key: key.into(),
                destination: "default".into(),
                body: format!(r#"{{"summary": "{summary}"}}"#),
                shard: None,
            },
        }
    }

    #[test]
    fn queued_updates_coalesce_per_dedup_key_without_losing_a_transition() {
        use PageAction::{Resolve, Trigger};
        let mut queue = VecDeque::new();
        for outgoing in [
            outgoing(1, "a", Trigger, "a1"),
            outgoing(2, "b", Trigger, "b1"),
            outgoing(3, "a", Trigger, "a2"),
            outgoing(4, "a", Resolve, "a3"),
            outgoing(5, "a", Resolve, "a4"),
            outgoing(6, "a", Trigger, "a5"),
        ] {
            enqueue(&mut queue, outgoing);
        }
        let seen: Vec<(&str, PageAction, &str, Vec<u64>, i64)> = queue
            .iter()
            .map(|pending| {
                (
                    &*pending.event.dedup_key,
                    pending.event.action,
                    pending.event.body.as_str(),
                    pending.sequences.clone(),
                    pending.event.at.as_millis(),
                )
            })
            .collect();
        assert_eq!(
            seen,
            vec![
                ("a", Trigger, r#"{"summary": "a2"}"#, vec![1, 3], 1),
                ("b", Trigger, r#"{"summary": "b1"}"#, vec![2], 2),
                ("a", Resolve, r#"{"summary": "a4"}"#, vec![4, 5], 4),
                ("a", Trigger, r#"{"summary": "a5"}"#, vec![6], 6),
            ]
        );
    }

    #[test]
    fn the_bucket_allows_a_burst_then_the_rate() {
        let mut bucket = Bucket::new(RateLimit { events_per_minute: 60, burst: 2 });
        let start = bucket.updated;
        for _ in 0..2 {
            assert_eq!(bucket.ready_at(start), start);
            bucket.take();
        }
        let next = bucket.ready_at(start);
        assert!(next > start + Duration::from_millis(990) && next <= start + Duration::from_millis(1010));
    }
}
