//! One routing key's delivery lane: its queue (coalesced per dedup key), rate limit, backoff.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::{DeadLetters, Outgoing, RateLimit, RetryPolicy};
use crate::metrics::{Metrics, PageFailure, action_str};
use crate::secret::Secret;
use crate::storage::OutboxEvent;

/// PagerDuty refuses events larger than this.
pub const MAX_EVENT_BYTES: usize = 512 * 1024;

pub(super) struct Lane {
    pub name: Box<str>,
    pub secret: Secret,
    pub client: reqwest::Client,
    pub url: String,
    pub retry: RetryPolicy,
    pub rate: RateLimit,
    pub metrics: Arc<Metrics>,
    pub dead_letters: Arc<DeadLetters>,
    pub delivered: mpsc::UnboundedSender<u64>,
}

/// A queued event and the outbox entries it stands for (more than one once coalesced).
struct Pending {
    event: OutboxEvent,
    sequences: Vec<u64>,
    attempts: u32,
}

/// What one delivery attempt came to.
enum Attempt {
    Delivered,
    /// Worth retrying (429, 5xx, network); with PagerDuty's `Retry-After` when it gave one.
    Retry {
        reason: String,
        retry_after: Option<Duration>,
    },
    /// The event itself is wrong (400 and other 4xx): retrying cannot help.
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

/// Queues an event behind the others; an update of the same kind as the last one queued for
/// its dedup key replaces it (PagerDuty keeps only the latest state of a trigger, and a second
/// acknowledge or resolve changes nothing), keeping its place so order per key holds.
fn enqueue(queue: &mut VecDeque<Pending>, outgoing: Outgoing) {
    let Outgoing { sequence, event } = outgoing;
    let last = queue.iter_mut().rev().find(|pending| pending.event.dedup_key == event.dedup_key);
    if let Some(last) = last.filter(|last| last.event.action == event.action) {
        // The age of the older event counts: coalescing must not keep an event alive forever.
        let at = last.event.at;
        last.event = OutboxEvent { at, ..event };
        last.sequences.extend(sequence);
        return;
    }
    queue.push_back(Pending { event, sequences: sequence.into_iter().collect(), attempts: 0 });
}

impl Lane {
    pub async fn run(self, mut events: mpsc::UnboundedReceiver<Outgoing>, cancel: CancellationToken) {
        let mut queue = VecDeque::new();
        let mut bucket = Bucket::new(self.rate);
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
                attempt = self.attempt(&front.event) => attempt,
                () = cancel.cancelled() => break,
            };
            match attempt {
                Attempt::Delivered => {
                    self.metrics.page_sent(front.event.action);
                    tracing::info!(
                        dedup_key = %front.event.dedup_key,
                        action = action_str(front.event.action),
                        "page delivered"
                    );
                    self.done(queue.pop_front());
                }
                Attempt::Rejected(detail) => {
                    tracing::error!(dedup_key = %front.event.dedup_key, %detail, "pagerduty rejected the page; not retrying");
                    self.dead_letter(queue.pop_front(), PageFailure::Rejected, &detail);
                }
                Attempt::Retry { reason, retry_after } => {
                    let age = crate::clock::now().since(front.event.at);
                    if self.retry.max_attempts.is_some_and(|max| front.attempts >= max) {
                        let detail = format!("{reason} after {} attempts", front.attempts);
                        self.dead_letter(queue.pop_front(), PageFailure::RetriesExhausted, &detail);
                    } else if age >= self.retry.max_age {
                        let detail = format!("{reason}; undelivered for {}s", age.as_secs());
                        self.dead_letter(queue.pop_front(), PageFailure::Expired, &detail);
                    } else {
                        let wait = retry_after.map_or_else(
                            || self.retry.backoff(front.attempts),
                            |after| after.min(self.retry.max_backoff),
                        );
                        self.metrics.pagerduty_retry();
                        tracing::warn!(
                            routing_key = %self.name,
                            dedup_key = %front.event.dedup_key,
                            attempt = front.attempts,
                            %reason,
                            wait_ms = wait.as_millis() as u64,
                            "page delivery failed; retrying"
                        );
                        retry_at = Instant::now() + wait;
                    }
                }
            }
        }
        if !queue.is_empty() {
            tracing::warn!(
                routing_key = %self.name,
                events = queue.len(),
                "pages not yet delivered stay in the outbox; they go out at the next start"
            );
        }
    }

    /// Reports the event's outbox entries as done.
    fn done(&self, pending: Option<Pending>) {
        for sequence in pending.into_iter().flat_map(|pending| pending.sequences) {
            let _ = self.delivered.send(sequence);
        }
    }

    fn dead_letter(&self, pending: Option<Pending>, failure: PageFailure, detail: &str) {
        let Some(pending) = pending else { return };
        if self.dead_letters.write(&pending.event, failure, detail) {
            self.done(Some(pending));
        }
    }

    async fn attempt(&self, event: &OutboxEvent) -> Attempt {
        let body = match wire_body(&event.body, self.secret.expose()) {
            Ok(body) => body,
            Err(detail) => return Attempt::Rejected(detail),
        };
        let response = self
            .client
            .post(&self.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body)
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
                Attempt::Rejected(format!(
                    "pagerduty answered {status}: {}",
                    body.chars().take(1024).collect::<String>()
                ))
            }
        }
    }
}

/// The request body: the stored event with the routing key's secret in place of its name, cut
/// to PagerDuty's size limit.
fn wire_body(stored: &str, secret: &str) -> Result<Vec<u8>, String> {
    let mut event: Value =
        serde_json::from_str(stored).map_err(|error| format!("stored event is not JSON: {error}"))?;
    let Some(fields) = event.as_object_mut() else {
        return Err("stored event is not a JSON object".to_owned());
    };
    fields.insert("routing_key".to_owned(), Value::String(secret.to_owned()));
    fit(&mut event);
    let body = serde_json::to_vec(&event).map_err(|error| error.to_string())?;
    if body.len() > MAX_EVENT_BYTES {
        return Err(format!("event of {} bytes over PagerDuty's limit even when cut", body.len()));
    }
    Ok(body)
}

/// Cuts `custom_details` until the event fits: alerts from the end (counted in
/// `alerts_omitted`), then the log context and evidence, then everything but the counts.
fn fit(event: &mut Value) {
    let size = |event: &Value| serde_json::to_vec(event).map_or(usize::MAX, |bytes| bytes.len());
    while size(event) > MAX_EVENT_BYTES {
        let Some(details) = event.pointer_mut("/payload/custom_details").and_then(Value::as_object_mut)
        else {
            return;
        };
        let alerts = details.get_mut("alerts").and_then(Value::as_array_mut);
        if let Some(alerts) = alerts.filter(|alerts| !alerts.is_empty()) {
            let dropped = alerts.len().div_ceil(2);
            alerts.truncate(alerts.len() - dropped);
            let omitted = details.get("alerts_omitted").and_then(Value::as_u64).unwrap_or(0);
            details.insert("alerts_omitted".to_owned(), Value::from(omitted + dropped as u64));
            continue;
        }
        let extras = ["log_context", "evidence", "why", "entities", "tags", "group_labels", "probable_cause"];
        if let Some(extra) = extras.iter().find(|extra| details.contains_key(**extra)) {
            details.remove(*extra);
            continue;
        }
        // Nothing left to cut but the counts: keep them, and say the details were cut.
        details.retain(|key, _| matches!(key.as_str(), "firing" | "resolved" | "alerts_omitted" | "reason"));
        details.insert("truncated".to_owned(), Value::Bool(true));
        return;
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
                routing_key: "default".into(),
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
    fn an_oversized_event_is_cut_to_the_limit_keeping_its_counts() {
        let alert = serde_json::json!({"labels": {"alertname": "X", "blob": "x".repeat(4000)}});
        let event = serde_json::json!({
            "routing_key": "default",
            "event_action": "trigger",
            "payload": {"summary": "s", "custom_details": {
                "alerts": vec![alert; 400],
                "firing": 400,
                "resolved": 0,
                "reason": "opened",
                "evidence": ["e".repeat(300_000)],
            }},
        });
        let body = wire_body(&event.to_string(), "SECRET").unwrap();
        assert!(body.len() <= MAX_EVENT_BYTES);
        let sent: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(sent["routing_key"], "SECRET");
        let details = &sent["payload"]["custom_details"];
        assert_eq!(details["firing"], 400);
        let listed = details["alerts"].as_array().map_or(0, Vec::len) as u64;
        assert_eq!(listed + details["alerts_omitted"].as_u64().unwrap(), 400);
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
