use std::path::Path;
use std::time::Instant;

use crate::config::{self, ConfigSource, Overrides};
use crate::replay::Replay;

pub fn run(
    source: ConfigSource,
    overrides: Overrides,
    input: &Path,
    pages_out: &Path,
    decisions_out: Option<&Path>,
) -> anyhow::Result<()> {
    let config =
        config::load(&source, &overrides).map_err(|errors| anyhow::anyhow!("invalid config:\n{errors}"))?;
    let started = Instant::now();
    let summary = Replay::new(&config).run(input, pages_out, decisions_out)?;
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
