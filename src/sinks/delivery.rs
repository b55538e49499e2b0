//! Delivery of the outbox's pages to their destinations, the same for every sink: one lane per
//! destination, each with its own rate limit, queue and backoff, so a slow or failing one holds
//! up no other. Within a lane, pages for a dedup key go out in the order they were decided;
//! queued updates of the same kind coalesce (the latest state wins, triggers and resolves are
//! never dropped). Retries (429, 5xx, network) back off exponentially with jitter, or as the
//! destination's `Retry-After` says, until the page is older than `retry.max_age` (or out of
//! `retry.max_attempts`); then it goes to the dead-letter file, counted, never silently. A lane
//! keeps `memory_window` pages in memory and reads those behind them back from the outbox, so
//! a long outage costs disk, not memory. Pages whose destination has no key set go to the pages
//! file.
//!
//! A sink says only how a page becomes HTTP requests (`sink::Sink`); adding one is a folder
//! beside `pagerduty/` and a line in `service::destinations`.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::dead_letters::DeadLetters;
use super::lane::Lane;
use super::page::StoredPage;
use super::pages_file::PagesWriter;
use super::sink::{Destination, Outgoing, PagesOutput};
use crate::metrics::{Metrics, PageFailure, Queue};
use crate::storage::OutboxReader;

/// Where pages go when their destination has no key: the pages file, as PagerDuty events.
pub struct PagesFallback {
    pub output: PagesOutput,
    pub client_url: Option<String>,
}

fn open_pages(output: &PagesOutput) -> std::io::Result<PagesWriter> {
    match output {
        PagesOutput::Stdout => Ok(PagesWriter::stdout()),
        PagesOutput::File(path) => PagesWriter::create(path),
    }
}

/// Hands each page to its destination's lane.
pub struct Dispatcher {
    destinations: BTreeMap<String, Destination>,
    client: reqwest::Client,
    pages: Option<PagesWriter>,
    output: PagesOutput,
    client_url: Option<String>,
    metrics: Arc<Metrics>,
    dead_letters: Arc<DeadLetters>,
    outbox: OutboxReader,
}

impl Dispatcher {
    pub fn new(
        destinations: BTreeMap<String, Destination>,
        fallback: PagesFallback,
        metrics: Arc<Metrics>,
        dead_letters: DeadLetters,
        timeout: std::time::Duration,
        outbox: OutboxReader,
    ) -> anyhow::Result<Dispatcher> {
        // reqwest is built without a bundled crypto provider; ring is this process's one.
        let _ = rustls::crypto::ring::default_provider().install_default();
        // Every request has a timeout: a lane's own per request, the digest's this one.
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .user_agent(concat!("noisegate/", env!("CARGO_PKG_VERSION")))
            .build()?;
        let needs_file =
            destinations.is_empty() || destinations.values().any(|destination| destination.key.is_none());
        let pages = match needs_file {
            true => Some(open_pages(&fallback.output)?),
            false => None,
        };
        Ok(Dispatcher {
            destinations,
            client,
            pages,
            output: fallback.output,
            client_url: fallback.client_url,
            metrics,
            dead_letters: Arc::new(dead_letters),
            outbox,
        })
    }

    /// The HTTP client, for other sinks to share.
    pub fn client(&self) -> reqwest::Client {
        self.client.clone()
    }

    /// Delivers pages until the engine closes the channel and every lane is done, or `cancel`
    /// fires (shutdown grace period over: what is left stays in the outbox). Each delivered or
    /// dead-lettered page's sequence number goes to `delivered`.
    pub async fn run(
        mut self,
        mut events: mpsc::Receiver<Outgoing>,
        delivered: mpsc::UnboundedSender<u64>,
        cancel: CancellationToken,
    ) {
        let mut lanes: HashMap<Box<str>, mpsc::UnboundedSender<Outgoing>> = HashMap::new();
        let mut tasks = tokio::task::JoinSet::new();
        while let Some(outgoing) = events.recv().await {
            self.metrics.queue_depth(Queue::Delivery, events.len());
            let name = outgoing.event.destination.clone();
            let destination = self.destinations.get(name.as_ref());
            let Some((destination, key)) =
                destination.and_then(|destination| Some((destination, destination.key.clone()?)))
            else {
                self.write_page(&outgoing, &delivered);
                continue;
            };
            let lane = lanes.entry(name.clone()).or_insert_with(|| {
                let (sender, receiver) = mpsc::unbounded_channel();
                let lane = Lane {
                    name,
                    sink: destination.sink.clone(),
                    key,
                    client: self.client.clone(),
                    delivery: destination.delivery,
                    metrics: self.metrics.clone(),
                    dead_letters: self.dead_letters.clone(),
                    delivered: delivered.clone(),
                    outbox: self.outbox.clone(),
                };
                tasks.spawn(lane.run(receiver, cancel.clone()));
                sender
            });
            if lane.send(outgoing).is_err() {
                tracing::error!("a delivery lane has stopped; the page stays in the outbox");
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
        // Opened at the first page that needs it too: a route may name a destination no sink
        // has (`default`, when only other names are defined).
        if self.pages.is_none() {
            match open_pages(&self.output) {
                Ok(pages) => self.pages = Some(pages),
                Err(error) => tracing::error!(%error, "cannot open the pages file"),
            }
        }
        let written = match &mut self.pages {
            Some(pages) => StoredPage::parse(&event.body)
                .map_err(std::io::Error::other)
                .and_then(|page| pages.write_stored(event.at, &page, self.client_url.as_deref()))
                .and_then(|()| pages.flush()),
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
