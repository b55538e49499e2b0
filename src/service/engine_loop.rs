//! The engine's own thread: the async shell around the synchronous engine. It stamps each
//! request with the time it reached the engine (recording it, when asked, in the same order),
//! applies it, and hands what the engine decided to the sinks: pages to PagerDuty, digest items
//! to the digest, decisions to the decisions log.

use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::mpsc;

use super::Input;
use crate::admin::metrics::{Metrics, Queue};
use crate::engine::{Engine, Notification, Page};
use crate::model::EventTime;
use crate::sinks::decisions::DecisionsLog;
use crate::sources::Pressure;
use crate::sources::capture::CaptureWriter;

/// Where the engine's notifications go.
pub struct Outputs {
    pub pages: mpsc::Sender<Page>,
    pub digests: mpsc::Sender<Page>,
    pub decisions: Option<DecisionsLog>,
    /// Shadow mode `silent`: pages are decided and logged, not sent.
    pub silent: bool,
    /// Where the history of alert kinds is saved when it changes.
    pub history_file: Option<PathBuf>,
    /// Where ingest reads how many alerts are active.
    pub pressure: Arc<Pressure>,
}

pub fn run(
    mut engine: Engine,
    mut inputs: mpsc::Receiver<Input>,
    mut outputs: Outputs,
    mut capture: Option<CaptureWriter>,
    metrics: &Metrics,
) {
    let mut out = Vec::new();
    let mut published = engine.stats();
    let mut saved_history = engine.history_version();
    let mut last = EventTime::default();
    while let Some(input) = inputs.blocking_recv() {
        // Event time never goes backwards, even if the wall clock does.
        let now = EventTime::now().max(last);
        last = now;
        match input {
            Input::Batch(batch) => {
                if let (Some(writer), Some(body)) = (&mut capture, &batch.capture) {
                    if let Err(error) = writer.write(now, body.source, &body.json) {
                        tracing::error!(%error, "cannot write to the capture file");
                    }
                }
                engine.apply_batch(batch.events, now, &mut out);
                let stats = engine.stats();
                metrics.engine(&published, &stats);
                published = stats;
                let _ = batch.applied.send(());
            }
            Input::Shutdown => break,
            Input::Command(command, reply) => {
                let _ = reply.send(engine.command(command, now));
            }
            Input::Reconfigure(config, reply) => {
                engine.advance(now, &mut out);
                engine.reconfigure(*config);
                let _ = reply.send(());
            }
            Input::History(reply) => {
                let _ = reply.send(engine.history().clone());
            }
            Input::ListIncidents(reply) => {
                engine.advance(now, &mut out);
                let _ = reply.send(engine.incidents());
            }
            Input::ListSilences(reply) => {
                engine.advance(now, &mut out);
                let _ = reply.send(engine.silences());
            }
            Input::Tick => {
                engine.advance(now, &mut out);
                metrics.queue_depth(Queue::Engine, inputs.len());
                if let Some(writer) = &mut capture {
                    if let Err(error) = writer.flush() {
                        tracing::error!(%error, "cannot flush the capture file");
                    }
                }
                if let Some(log) = &mut outputs.decisions {
                    if let Err(error) = log.flush() {
                        tracing::error!(%error, "cannot flush the decisions log");
                    }
                }
                save_history(&engine, &outputs, &mut saved_history);
            }
        }
        // Before the pages go out: whoever sees a page sees the state that produced it.
        outputs
            .pressure
            .active_alerts
            .store(engine.stats().active_alerts, std::sync::atomic::Ordering::Relaxed);
        route(&mut outputs, &mut out);
    }
    engine.flush_pending(EventTime::now().max(last), &mut out);
    let stats = engine.stats();
    metrics.engine(&published, &stats);
    route(&mut outputs, &mut out);
    if let Some(log) = &mut outputs.decisions {
        if let Err(error) = log.flush() {
            tracing::error!(%error, "cannot flush the decisions log");
        }
    }
    save_history(&engine, &outputs, &mut saved_history);
    if let Some(writer) = capture {
        if let Err(error) = writer.finish() {
            tracing::error!(%error, "cannot finish the capture file");
        }
    }
}

/// Saves the history of alert kinds when it changed since the last save.
fn save_history(engine: &Engine, outputs: &Outputs, saved: &mut u64) {
    let Some(path) = &outputs.history_file else { return };
    if engine.history_version() == *saved {
        return;
    }
    match super::history::save(path, engine.history()) {
        Ok(()) => *saved = engine.history_version(),
        Err(error) => {
            tracing::error!(error = %format!("{error:#}"), "cannot save the history of alert kinds")
        }
    }
}

fn route(outputs: &mut Outputs, out: &mut Vec<Notification>) {
    for notification in out.drain(..) {
        match notification {
            Notification::Page(page) if outputs.silent => {
                tracing::info!(dedup_key = %page.dedup_key, "shadow mode: page decided, not sent");
            }
            Notification::Page(page) => {
                if outputs.pages.blocking_send(page).is_err() {
                    tracing::error!("the pagerduty sink has stopped; a page was lost");
                }
            }
            Notification::Digest(page) => {
                if outputs.digests.blocking_send(page).is_err() {
                    tracing::error!("the digest sink has stopped; a digest item was lost");
                }
            }
            Notification::Decision(record) => {
                if let Some(log) = &mut outputs.decisions {
                    if let Err(error) = log.write(&record) {
                        tracing::error!(%error, "cannot write to the decisions log");
                    }
                }
            }
        }
    }
}
