//! Replay: a capture fed through the same engine `serve` runs, on the capture's own event
//! times, as fast as the CPU allows. Writes the pages file.

use std::path::Path;

use anyhow::Context as _;

use crate::config::Config;
use crate::engine::{Engine, EngineStats, History, Notification};
use crate::sinks::decisions::DecisionsLog;
use crate::sinks::pages_file::PagesWriter;
use crate::sources::Limits;
use crate::sources::capture::{CaptureReader, decode_body};

pub struct Replay {
    engine: Engine,
    limits: Limits,
    client_url: Option<String>,
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
}

impl Replay {
    pub fn new(config: &Config) -> Replay {
        Replay {
            engine: Engine::new(config.engine.clone()),
            limits: config.limits,
            client_url: config.pagerduty.client_url.clone(),
        }
    }

    /// Starts from a history of alert kinds (what past episodes and pages came to).
    pub fn seed_history(&mut self, history: &History) {
        self.engine.seed_history(history);
    }

    /// Replays `input`, writing pages to `pages_out` and decisions to `decisions_out`; returns
    /// what it did and the history of alert kinds it built.
    pub fn run(
        mut self,
        input: &Path,
        pages_out: &Path,
        decisions_out: Option<&Path>,
    ) -> anyhow::Result<(Summary, History)> {
        let mut reader =
            CaptureReader::open(input).with_context(|| format!("cannot open capture {}", input.display()))?;
        let mut pages = PagesWriter::create(pages_out)
            .with_context(|| format!("cannot create pages file {}", pages_out.display()))?;
        let mut decisions = match decisions_out {
            Some(path) => Some(
                DecisionsLog::create(path)
                    .with_context(|| format!("cannot create decisions file {}", path.display()))?,
            ),
            None => None,
        };
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
                    self.engine.apply_batch(decoded.events, record.received_at, &mut out);
                }
                Err(error) => {
                    summary.rejected_requests += 1;
                    tracing::debug!(%error, source = record.source, "capture request rejected");
                    // Time still moved: flushes due by now run, as they did live.
                    self.engine.advance(record.received_at, &mut out);
                }
            }
            summary.pages += write(&mut pages, decisions.as_mut(), &mut out, self.client_url.as_deref())?;
        }
        if let Some(last) = last {
            self.engine.flush_pending(last, &mut out);
            summary.pages += write(&mut pages, decisions.as_mut(), &mut out, self.client_url.as_deref())?;
        }
        pages.flush().context("cannot write the pages file")?;
        if let Some(decisions) = &mut decisions {
            decisions.flush().context("cannot write the decisions file")?;
        }
        summary.engine = self.engine.stats();
        Ok((summary, self.engine.history().clone()))
    }
}

fn write(
    pages: &mut PagesWriter,
    mut decisions: Option<&mut DecisionsLog>,
    out: &mut Vec<Notification>,
    client_url: Option<&str>,
) -> anyhow::Result<u64> {
    let mut written = 0;
    for notification in out.drain(..) {
        match notification {
            Notification::Page(page) => {
                pages.write(&page, client_url).context("cannot write the pages file")?;
                written += 1;
            }
            // A digest item is in the decisions log as `digested`; replay sends no digest.
            Notification::Digest(_) => {}
            Notification::Decision(record) => {
                if let Some(decisions) = decisions.as_deref_mut() {
                    decisions.write(&record).context("cannot write the decisions file")?;
                }
            }
        }
    }
    Ok(written)
}
