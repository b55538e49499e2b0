use std::path::Path;
use std::time::Instant;

use crate::config::{self, ConfigSource, Overrides};
use crate::replay::Replay;
use crate::service::history;

/// The files a replay reads and writes.
pub struct Files<'a> {
    pub input: &'a Path,
    pub pages_out: &'a Path,
    pub decisions_out: Option<&'a Path>,
    pub history: Option<&'a Path>,
    pub history_out: Option<&'a Path>,
}

pub fn run(source: ConfigSource, overrides: Overrides, files: &Files<'_>) -> anyhow::Result<()> {
    let config =
        config::load(&source, &overrides).map_err(|errors| anyhow::anyhow!("invalid config:\n{errors}"))?;
    let started = Instant::now();
    let mut replay = Replay::new(&config);
    if let Some(path) = files.history {
        replay.seed_history(&history::load(path)?);
    }
    let (summary, history) = replay.run(files.input, files.pages_out, files.decisions_out)?;
    if let Some(path) = files.history_out {
        history::save(path, &history)?;
    }
    let elapsed = started.elapsed();
    let stats = summary.engine;
    eprintln!(
        "replayed {} requests ({} alert events, {} logs) in {:.3}s: {} duplicates, {} incidents, {} pages, \
         {} digested; {} unreadable lines, {} rejected requests, {} rejected records",
        summary.requests,
        stats.alerts_received + stats.acknowledgements,
        stats.logs_received,
        elapsed.as_secs_f64(),
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
