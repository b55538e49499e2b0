use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context as _;

use crate::config::{self, ConfigSource, Overrides};
use crate::oncall::figures::figures;
use crate::oncall::record::Recorder;
use crate::replay::{self, Replay};
use crate::report::{Collector, html, oncall};
use crate::service::history;
use crate::sinks::decisions::DecisionsLog;
use crate::sinks::pages_file::PagesWriter;
use noisegate_engine::model::EventTime;

/// The files a replay reads and writes.
pub struct Files<'a> {
    pub input: &'a Path,
    pub pages_out: &'a Path,
    pub decisions_out: Option<&'a Path>,
    pub history: Option<&'a Path>,
    pub history_out: Option<&'a Path>,
    /// Reports to write, HTML or JSON by extension.
    pub reports: &'a [PathBuf],
    /// On-call reports of the capture's span, HTML or JSON by extension.
    pub oncall_reports: &'a [PathBuf],
}

pub fn run(source: ConfigSource, overrides: Overrides, files: &Files<'_>) -> anyhow::Result<()> {
    let config =
        config::load(&source, &overrides).map_err(|errors| anyhow::anyhow!("invalid config:\n{errors}"))?;
    for path in files.reports.iter().chain(files.oncall_reports) {
        super::report_format(path)?;
    }
    let started = Instant::now();
    let mut replay = Replay::new(&config);
    if let Some(path) = files.history {
        let saved = history::load(path)?;
        replay.seed_history(&saved.history, saved.seen);
    }
    let pages = PagesWriter::create(files.pages_out)
        .with_context(|| format!("cannot create pages file {}", files.pages_out.display()))?;
    let decisions = match files.decisions_out {
        Some(path) => Some(
            DecisionsLog::create(path)
                .with_context(|| format!("cannot create decisions file {}", path.display()))?,
        ),
        None => None,
    };
    let mut watch = replay::Files {
        pages,
        decisions,
        collector: (!files.reports.is_empty()).then(Collector::default),
        client_url: config.pagerduty.client_url.clone(),
        recorder: (!files.oncall_reports.is_empty())
            .then(|| (Recorder::restore([], config.oncall.schedule.clone()), EventTime::default())),
    };
    let (summary, history, seen) = replay.run(files.input, &mut watch)?;
    if let Some(collector) = watch.collector {
        let config_name = match &source {
            ConfigSource::File(path) => path.display().to_string(),
            _ => "the embedded default config".to_owned(),
        };
        let report = collector.finish(
            &files.input.display().to_string(),
            &config_name,
            summary.requests,
            &summary.engine,
        );
        super::write_reports(files.reports, &report, html::render)?;
    }
    if let Some((mut recorder, last)) = watch.recorder.take() {
        let records = recorder.take_changed();
        let plain = recorder.take_plain();
        // The capture's span: from its first incident (or plain-route page, counted per hour)
        // to its last event.
        let first =
            records.iter().map(|record| record.opened_at).chain(plain.iter().map(|hour| hour.0)).min();
        let from = first.unwrap_or(last.as_millis());
        let to = last.as_millis().max(from) + 1;
        let figures = figures(&records, &plain, &config.oncall.schedule, from, to);
        let title = format!("On-call health: {}", capture_name(files.input));
        super::write_reports(files.oncall_reports, &figures, |figures| oncall::render(figures, &title))?;
    }
    if let Some(path) = files.history_out {
        history::save(path, &history, &seen)?;
    }
    let elapsed = started.elapsed();
    let stats = summary.engine;
    eprintln!(
        "replayed {} requests ({} alert events, {} logs) in {:.3}s ({:.3}s in the engine): {} duplicates, \
         {} incidents, {} pages, {} digested; {} unreadable lines, {} rejected requests, {} rejected records",
        summary.requests,
        stats.alerts_received + stats.acknowledgements,
        stats.logs_received,
        elapsed.as_secs_f64(),
        summary.engine_time.as_secs_f64(),
        stats.alerts_duplicate,
        stats.incidents_opened,
        summary.pages,
        stats.digested,
        summary.bad_lines,
        summary.rejected_requests,
        summary.rejected_records,
    );
    Ok(())
}

/// A capture's folder and file name (`hotel-24h/capture.jsonl.gz`), for titles.
fn capture_name(path: &Path) -> String {
    let mut parts: Vec<String> =
        path.components().rev().take(2).map(|part| part.as_os_str().to_string_lossy().into_owned()).collect();
    parts.reverse();
    parts.join("/")
}
