//! One destination's delivery lane: its queue (coalesced per dedup key), rate limit, backoff,
//! and the requests of each page in order.
//!
//! The queue keeps `memory_window` pages in memory; pages queued behind them are named by
//! their outbox sequence numbers only (runs of consecutive numbers, so an outage of one
//! destination costs a few bytes however long it lasts) and read back from the outbox as the
//! window empties, in the order they came (a page the outbox could not take waits in memory,
//! in its place). Memory stays flat through an outage of any length.

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
use crate::storage::{OutboxEvent, OutboxReader};

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
    pub outbox: OutboxReader,
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

/// A lane's queue: a window of pages in memory, then the pages behind it, which the outbox
/// holds, in the order they came.
struct Backlog {
    window: VecDeque<Pending>,
    /// Behind the window, in order.
    stored: VecDeque<Behind>,
    /// Pages behind the window.
    stored_count: usize,
    capacity: usize,
}

/// Pages behind the window.
#[derive(Debug)]
enum Behind {
    /// A run of consecutive outbox sequence numbers (first, last).
    Stored(u64, u64),
    /// A page the outbox could not take (its commit failed): kept in memory, in its place, so
    /// that it does not overtake the pages before it.
    Unstored(Outgoing),
}

impl Behind {
    fn pages(&self) -> usize {
        match self {
            Behind::Stored(first, last) => (last - first + 1) as usize,
            Behind::Unstored(_) => 1,
        }
    }
}

impl Backlog {
    fn new(capacity: usize) -> Backlog {
        Backlog {
            window: VecDeque::new(),
            stored: VecDeque::new(),
            stored_count: 0,
            capacity: capacity.max(1),
        }
    }

    /// Queues a page behind the others: in the window while it has room and nothing waits
    /// behind it, else behind it by its sequence number (a page without one, which the outbox
    /// could not take, in memory).
    fn push(&mut self, outgoing: Outgoing) {
        if self.stored_count == 0 && self.window.len() < self.capacity {
            enqueue(&mut self.window, outgoing);
            return;
        }
        match outgoing.sequence {
            Some(sequence) => match self.stored.back_mut() {
                Some(Behind::Stored(_, last)) if *last + 1 == sequence => *last = sequence,
                _ => self.stored.push_back(Behind::Stored(sequence, sequence)),
            },
            None => self.stored.push_back(Behind::Unstored(outgoing)),
        }
        self.stored_count += 1;
    }

    /// The pages to move into the window, in order, to fill it; taken off those behind it
    /// (`unread` puts them back when reading the outbox fails).
    fn take_unread(&mut self) -> Vec<Behind> {
        let mut room = self.capacity.saturating_sub(self.window.len()).min(self.stored_count);
        let mut taken = Vec::new();
        while room > 0 {
            let behind = match self.stored.pop_front() {
                // A run longer than the room: its first part.
                Some(Behind::Stored(first, last)) if last - first >= room as u64 => {
                    let end = first + room as u64 - 1;
                    self.stored.push_front(Behind::Stored(end + 1, last));
                    Behind::Stored(first, end)
                }
                Some(behind) => behind,
                None => break,
            };
            room -= behind.pages();
            self.stored_count -= behind.pages();
            taken.push(behind);
        }
        taken
    }

    fn unread(&mut self, taken: Vec<Behind>) {
        for behind in taken.into_iter().rev() {
            self.stored_count += behind.pages();
            match (behind, self.stored.front_mut()) {
                (Behind::Stored(sequence, end), Some(Behind::Stored(first, _))) if end + 1 == *first => {
                    *first = sequence;
                }
                (behind, _) => self.stored.push_front(behind),
            }
        }
    }

    /// The pages taken, with those read back from the outbox (one per stored sequence number,
    /// in order), into the window.
    fn refill(&mut self, taken: Vec<Behind>, events: Vec<Option<OutboxEvent>>) {
        let mut events = events.into_iter();
        for behind in taken {
            let (first, last) = match behind {
                Behind::Unstored(outgoing) => {
                    enqueue(&mut self.window, outgoing);
                    continue;
                }
                Behind::Stored(first, last) => (first, last),
            };
            for sequence in first..=last {
                match events.next().flatten() {
                    Some(event) => enqueue(&mut self.window, Outgoing { sequence: Some(sequence), event }),
                    // Nothing else takes a lane's pages out of the outbox: only a store written
                    // over behind its back.
                    None => tracing::warn!(sequence, "a queued page is no longer in the outbox; skipped"),
                }
            }
        }
    }

    /// Whether the window should be read into now: it has room and pages wait in the outbox.
    fn wants_refill(&self) -> bool {
        self.stored_count > 0 && self.window.len() < self.capacity.div_ceil(2).max(1)
    }

    fn len(&self) -> usize {
        self.window.len() + self.stored_count
    }

    /// Pages queued that the outbox does not hold (their store commit failed).
    fn unstored(&self) -> usize {
        let window = self.window.iter().filter(|pending| pending.sequences.is_empty()).count();
        window + self.stored.iter().filter(|behind| matches!(behind, Behind::Unstored(_))).count()
    }
}

/// The outbox sequence numbers of pages taken from behind the window, in order.
fn stored_sequences(taken: &[Behind]) -> Vec<u64> {
    taken
        .iter()
        .filter_map(|behind| match behind {
            Behind::Stored(first, last) => Some(*first..=*last),
            Behind::Unstored(_) => None,
        })
        .flatten()
        .collect()
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
        let mut backlog = Backlog::new(self.delivery.memory_window);
        let mut bucket = Bucket::new(self.delivery.rate_limit);
        let mut retry_at = Instant::now();
        // When the outbox may be read again after a failed read.
        let mut read_at = Instant::now();
        let mut open = true;
        loop {
            while let Ok(outgoing) = events.try_recv() {
                backlog.push(outgoing);
            }
            let now = Instant::now();
            if backlog.wants_refill() && read_at <= now {
                let read = tokio::select! {
                    read = self.read_back(&mut backlog) => read,
                    () = cancel.cancelled() => break,
                };
                if !read {
                    read_at = now + Duration::from_secs(1);
                }
                continue;
            }
            let ready = bucket.ready_at(now).max(retry_at);
            if backlog.window.is_empty() || ready > now {
                if backlog.len() == 0 && !open {
                    break;
                }
                let wait = match backlog.window.is_empty() {
                    true if backlog.stored_count > 0 => read_at,
                    true => now + Duration::from_secs(3600),
                    false => ready,
                };
                tokio::select! {
                    () = tokio::time::sleep_until(wait) => {}
                    received = events.recv(), if open => match received {
                        Some(outgoing) => backlog.push(outgoing),
                        None => open = false,
                    },
                    () = cancel.cancelled() => break,
                }
                continue;
            }
            let Some(front) = backlog.window.front_mut() else { continue };
            bucket.take();
            front.attempts += 1;
            let attempt = tokio::select! {
                attempt = self.attempt(&front.event, front.sent) => attempt,
                () = cancel.cancelled() => break,
            };
            if let Some(wait) = self.outcome(attempt, &mut backlog.window) {
                retry_at = Instant::now() + wait;
            }
        }
        let unstored = backlog.unstored();
        if backlog.len() > unstored {
            tracing::warn!(
                sink = self.sink.name(),
                destination = %self.name,
                pages = backlog.len() - unstored,
                "pages not yet delivered stay in the outbox; they go out at the next start"
            );
        }
        if unstored > 0 {
            tracing::error!(
                sink = self.sink.name(),
                destination = %self.name,
                pages = unstored,
                "pages the store could not take were not delivered and are lost"
            );
        }
    }

    /// Reads the pages waiting in the outbox into the window, as far as it has room; false if
    /// the outbox could not be read (they stay queued, to be read again).
    async fn read_back(&self, backlog: &mut Backlog) -> bool {
        let taken = backlog.take_unread();
        let asked = stored_sequences(&taken);
        if asked.is_empty() {
            backlog.refill(taken, Vec::new());
            return true;
        }
        let outbox = self.outbox.clone();
        match tokio::task::spawn_blocking(move || outbox.read(&asked)).await {
            Ok(Ok(events)) => {
                backlog.refill(taken, events);
                true
            }
            failed => {
                let error = match failed {
                    Ok(Err(error)) => error.to_string(),
                    _ => "the reading task stopped".to_owned(),
                };
                tracing::error!(destination = %self.name, %error, "cannot read queued pages from the outbox; trying again");
                backlog.unread(taken);
                false
            }
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

    /// A lane's queue through a long outage: pages pushed while the front one is retried, some
    /// delivered now and then, the window read back from a real outbox.
    #[test]
    fn a_backlog_keeps_its_window_reads_the_rest_back_in_order_and_loses_nothing() {
        use PageAction::{Acknowledge, Resolve, Trigger};
        let dir = tempfile::tempdir().unwrap();
        let mut storage = crate::storage::Storage::open(dir.path()).unwrap();
        let mut random = fastrand::Rng::with_seed(20);
        let actions = [Trigger, Trigger, Acknowledge, Resolve];
        let events: Vec<OutboxEvent> = (0..2000)
            .map(|index| {
                let key = format!("incident-{}", random.usize(0..40));
                let mut outgoing = outgoing(0, &key, actions[random.usize(0..4)], &format!("page {index}"));
                outgoing.event.at = EventTime::from_millis(index);
                outgoing.event
            })
            .collect();
        let sequences = storage.commit(&[], &events, &[]).unwrap();
        let reader = storage.outbox_reader();
        let mut backlog = Backlog::new(16);
        let mut delivered: Vec<Pending> = Vec::new();
        let mut stored_most = 0;
        for (event, &sequence) in events.iter().zip(&sequences) {
            backlog.push(Outgoing { sequence: Some(sequence), event: event.clone() });
            assert!(backlog.window.len() <= 16);
            stored_most = stored_most.max(backlog.stored.len());
            if random.u8(0..10) == 0 {
                delivered.extend(backlog.window.pop_front());
            }
            if backlog.wants_refill() {
                let asked = backlog.take_unread();
                let events = reader.read(&stored_sequences(&asked)).unwrap();
                backlog.refill(asked, events);
                assert!(backlog.window.len() <= 16);
            }
        }
        assert!(backlog.stored_count > 1000, "the outage outgrew the window: {}", backlog.stored_count);
        assert!(stored_most <= 2, "one lane's pages are one run of numbers: {stored_most}");
        // The destination is back.
        while backlog.len() > 0 {
            if backlog.window.is_empty() || backlog.wants_refill() {
                let asked = backlog.take_unread();
                let events = reader.read(&stored_sequences(&asked)).unwrap();
                backlog.refill(asked, events);
            }
            delivered.extend(backlog.window.pop_front());
        }

        // Every page accounted for once.
        let mut accounted: Vec<u64> =
            delivered.iter().flat_map(|pending| pending.sequences.clone()).collect();
        accounted.sort_unstable();
        assert_eq!(accounted, sequences);
        let event_of = |sequence: u64| &events[(sequence - sequences[0]) as usize];
        let mut last_of_key: std::collections::HashMap<&str, u64> = std::collections::HashMap::new();
        for pending in &delivered {
            let newest = *pending.sequences.iter().max().unwrap();
            for &sequence in &pending.sequences {
                // Coalesced pages are of one incident and one action, and carry the newest body.
                let event = event_of(sequence);
                assert_eq!(
                    (&*event.dedup_key, event.action),
                    (&*pending.event.dedup_key, pending.event.action)
                );
            }
            assert_eq!(pending.event.body, event_of(newest).body);
            // In order per incident: each page's numbers all after the previous page's.
            let oldest = *pending.sequences.iter().min().unwrap();
            let previous = last_of_key.insert(&pending.event.dedup_key, newest);
            assert!(
                previous.is_none_or(|previous| previous < oldest),
                "{} out of order",
                pending.event.dedup_key
            );
        }
        // Each incident's last page is its last state.
        for (key, newest) in last_of_key {
            let last = sequences.iter().rev().find(|&&sequence| &*event_of(sequence).dedup_key == key);
            assert_eq!(Some(&newest), last, "{key}");
        }
    }

    #[test]
    fn a_failed_read_puts_the_numbers_back_in_their_place() {
        let mut backlog = Backlog::new(2);
        for sequence in [1, 2, 3, 4, 5, 9, 10] {
            backlog.push(outgoing(sequence, &format!("k{sequence}"), PageAction::Trigger, "x"));
        }
        assert_eq!((backlog.window.len(), backlog.stored_count), (2, 5));
        assert_eq!(runs(&backlog), vec![(3, 5), (9, 10)]);
        // A page of the first key again: behind the stored ones, not coalesced ahead of them.
        backlog.push(outgoing(11, "k1", PageAction::Trigger, "y"));
        assert_eq!(runs(&backlog), vec![(3, 5), (9, 11)]);
        backlog.window.pop_front();
        let asked = backlog.take_unread();
        assert_eq!(stored_sequences(&asked), vec![3]);
        backlog.unread(asked);
        assert_eq!(runs(&backlog), vec![(3, 5), (9, 11)]);
        assert_eq!(backlog.stored_count, 6);
    }

    /// The runs of sequence numbers behind the window; (0, 0) for a page in memory.
    fn runs(backlog: &Backlog) -> Vec<(u64, u64)> {
        let run = |behind: &Behind| match behind {
            Behind::Stored(first, last) => (*first, *last),
            Behind::Unstored(_) => (0, 0),
        };
        backlog.stored.iter().map(run).collect()
    }

    #[test]
    fn a_page_the_outbox_could_not_take_keeps_its_place_behind_the_stored_ones() {
        use PageAction::{Resolve, Trigger};
        let dir = tempfile::tempdir().unwrap();
        let mut storage = crate::storage::Storage::open(dir.path()).unwrap();
        let events: Vec<OutboxEvent> =
            (1..=5).map(|index| outgoing(0, &format!("k{index}"), Trigger, "x").event).collect();
        let sequences = storage.commit(&[], &events, &[]).unwrap();
        let reader = storage.outbox_reader();
        let mut backlog = Backlog::new(2);
        for (event, &sequence) in events.iter().zip(&sequences) {
            backlog.push(Outgoing { sequence: Some(sequence), event: event.clone() });
        }
        // k3's resolve, which the store failed to commit, and one more page after it.
        backlog.push(Outgoing { sequence: None, event: outgoing(0, "k3", Resolve, "y").event });
        let later = storage.commit(&[], &[outgoing(0, "k6", Trigger, "z").event], &[]).unwrap();
        backlog.push(Outgoing { sequence: Some(later[0]), event: outgoing(0, "k6", Trigger, "z").event });
        assert_eq!(backlog.stored_count, 5);
        let (first, last) = (sequences[2], sequences[4]);
        assert_eq!(runs(&backlog), vec![(first, last), (0, 0), (later[0], later[0])]);

        // A failed read puts the page back in its place too.
        backlog.window.clear();
        let asked = backlog.take_unread();
        assert_eq!(stored_sequences(&asked), vec![first, first + 1]);
        backlog.unread(asked);
        assert_eq!(runs(&backlog), vec![(first, last), (0, 0), (later[0], later[0])]);
        assert_eq!(backlog.unstored(), 1, "what a stop would lose");

        let mut delivered = Vec::new();
        while backlog.len() > 0 {
            if backlog.window.is_empty() {
                let asked = backlog.take_unread();
                let events = reader.read(&stored_sequences(&asked)).unwrap();
                backlog.refill(asked, events);
            }
            let pending = backlog.window.pop_front().unwrap();
            delivered.push(format!("{} {}", pending.event.dedup_key, action_str(pending.event.action)));
        }
        assert_eq!(
            delivered,
            ["k3 trigger", "k4 trigger", "k5 trigger", "k3 resolve", "k6 trigger"],
            "k3's resolve after its trigger, in its place"
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
