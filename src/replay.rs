//! Replay: a capture fed through the same engine `serve` runs, on the capture's own event
//! times, as fast as the CPU allows. Writes the pages file.

use crate::oncall::record::Recorder;
use std::path::Path;

use anyhow::Context as _;

use crate::config::Config;
use crate::ingest::Limits;
use crate::report::Collector;
use crate::sinks::decisions::DecisionsLog;
use crate::sinks::pages_file::PagesWriter;
use crate::sources::capture::{CaptureReader, decode_body};
use noisegate_engine::model::{Event, EventTime};
use noisegate_engine::{Engine, EngineStats, History, KindSeen, Notification, Seen};

pub struct Replay {
    engine: Engine,
    limits: Limits,
}

/// What a replay read and decided.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub requests: u64,
    pub bad_lines: u64,
    pub rejected_requests: u64,
    pub rejected_records: u64,
    pub pages: u64,
    pub engine: EngineStats,
    /// Time spent in the engine (the rest is reading and decoding the capture).
    pub engine_time: std::time::Duration,
}

impl Replay {
    pub fn new(config: &Config) -> Replay {
        Replay { engine: Engine::new(config.engine.clone()), limits: config.limits }
    }

    /// Starts from a history of alert kinds (what past episodes and pages came to, and what
    /// novelty is judged against).
    pub fn seed_history(&mut self, history: &History, seen: Vec<KindSeen>) {
        self.engine.seed_history(history);
        self.engine.seed_seen(seen);
    }

    /// Replays `input`, showing `watch` every request and everything decided; returns what it
    /// did and the histories of alert kinds it built.
    pub fn run(self, input: &Path, watch: &mut dyn Watch) -> anyhow::Result<(Summary, History, Seen)> {
        let (summary, engine) = self.run_to_end(input, watch)?;
        Ok((summary, engine.history().clone(), engine.seen().clone()))
    }

    /// `run`, returning the engine as the replay left it (its inventory, open incidents).
    pub fn run_to_end(mut self, input: &Path, watch: &mut dyn Watch) -> anyhow::Result<(Summary, Engine)> {
        let mut reader =
            CaptureReader::open(input).with_context(|| format!("cannot open capture {}", input.display()))?;
        let mut summary = Summary::default();
        let mut out = Vec::new();
        let mut last = None;
        while let Some(record) =
            reader.next_record().with_context(|| format!("cannot read {}", input.display()))?
        {
            let record = match record {
                Ok(record) => record,
                Err(error) => {
                    summary.bad_lines += 1;
                    tracing::warn!(%error, "skipping unreadable capture line");
                    continue;
                }
            };
            summary.requests += 1;
            last = Some(record.received_at);
            match decode_body(record.source, record.body, &self.limits) {
                Ok(decoded) => {
                    summary.rejected_records += decoded.rejected.len() as u64;
                    watch.batch(record.received_at, &decoded.events);
                    let started = std::time::Instant::now();
                    self.engine.apply_batch(decoded.events, record.received_at, &mut out);
                    summary.engine_time += started.elapsed();
                }
                Err(error) => {
                    summary.rejected_requests += 1;
                    tracing::debug!(%error, source = record.source, "capture request rejected");
                    // Time still moved: flushes due by now run, as they did live.
                    let started = std::time::Instant::now();
                    self.engine.advance(record.received_at, &mut out);
                    summary.engine_time += started.elapsed();
                }
            }
            summary.pages += show(watch, &mut out)?;
        }
        if let Some(last) = last {
            self.engine.flush_pending(last, &mut out);
            summary.pages += show(watch, &mut out)?;
        }
        watch.finish()?;
        summary.engine = self.engine.stats();
        Ok((summary, self.engine))
    }
}

/// What watches a replay: each request's events (before the engine applies them) and each
/// notification.
pub trait Watch {
    fn batch(&mut self, _at: EventTime, _events: &[Event]) {}
    fn notification(&mut self, notification: &Notification) -> anyhow::Result<()>;
    /// The replay is over: flush what is buffered.
    fn finish(&mut self) -> anyhow::Result<()> {
        Ok(())
    }
}

/// Returns how many pages there were.
fn show(watch: &mut dyn Watch, out: &mut Vec<Notification>) -> anyhow::Result<u64> {
    let mut pages = 0;
    for notification in out.drain(..) {
        pages += u64::from(matches!(notification, Notification::Page(_)));
        watch.notification(&notification)?;
    }
    Ok(pages)
}

/// The files `noisegate replay` writes: the pages file, and optionally the decisions log and
/// the report's collector.
pub struct Files {
    pub pages: PagesWriter,
    pub decisions: Option<DecisionsLog>,
    pub collector: Option<Collector>,
    pub client_url: Option<String>,
    /// Each incident's life, for the on-call report, and the last event time seen.
    pub recorder: Option<(Recorder, EventTime)>,
}

impl Watch for Files {
    fn batch(&mut self, at: EventTime, events: &[Event]) {
        if let Some(collector) = &mut self.collector {
            collector.batch(at, events);
        }
        if let Some((_, last)) = &mut self.recorder {
            *last = (*last).max(at);
        }
    }

    fn notification(&mut self, notification: &Notification) -> anyhow::Result<()> {
        if let Some(collector) = &mut self.collector {
            collector.notification(notification);
        }
        if let Some((recorder, _)) = &mut self.recorder {
            recorder.notification(notification, true);
        }
        match notification {
            Notification::Page(page) => {
                self.pages.write(page, self.client_url.as_deref()).context("cannot write the pages file")?
            }
            // A digest item is in the decisions log as `digested`; replay sends no digest.
            Notification::Digest(_) | Notification::Plain(_) => {}
            Notification::Decision(record) => {
                if let Some(decisions) = &mut self.decisions {
                    decisions.write(record).context("cannot write the decisions file")?;
                }
            }
        }
        Ok(())
    }

    fn finish(&mut self) -> anyhow::Result<()> {
        self.pages.flush().context("cannot write the pages file")?;
        if let Some(decisions) = &mut self.decisions {
            decisions.flush().context("cannot write the decisions file")?;
        }
        Ok(())
    }
}
