//! The command line: one file per subcommand.

mod check;
mod diff;
mod explain;
mod inventory;
mod oncall;
mod replay;
mod serve;
mod test;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use crate::config::{ConfigSource, Overrides};

#[derive(Debug, Parser)]
#[command(name = "noisegate", version, about = "Deduplicate, group and page only what matters")]
pub struct Cli {
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Receive alerts and logs, and page PagerDuty.
    Serve {
        /// Config file; the embedded default when omitted.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Inventory file (the format of topology.json); overrides `topology.file`.
        #[arg(long, value_name = "FILE")]
        topology: Option<PathBuf>,
        /// Record every accepted request to this capture file (gzip if it ends in .gz).
        #[arg(long, value_name = "CAPTURE.jsonl")]
        record: Option<PathBuf>,
        /// When stopped, page every group still waiting out its `group_wait` or settle time
        /// (for an instance stopped for good). Without it, a stop keeps them in the durable
        /// state and the next start pages them when they are due.
        #[arg(long)]
        drain: bool,
    },
    /// Feed a capture through the engine on its recorded event times and write the pages.
    Replay {
        /// Config file; the embedded default when omitted.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Inventory file (the format of topology.json); overrides `topology.file`.
        #[arg(long, value_name = "FILE")]
        topology: Option<PathBuf>,
        /// Capture file (JSON Lines, gzip if it ends in .gz).
        #[arg(long, value_name = "CAPTURE.jsonl[.gz]")]
        input: PathBuf,
        /// Where to write the pages file.
        #[arg(long, value_name = "PAGES.jsonl")]
        pages_out: PathBuf,
        /// Where to write every decision with its explanation.
        #[arg(long, value_name = "DECISIONS.jsonl")]
        decisions_out: Option<PathBuf>,
        /// Start from this history of alert kinds (JSON Lines, as `feedback.state_file`).
        #[arg(long, value_name = "HISTORY.jsonl")]
        history: Option<PathBuf>,
        /// Write the history of alert kinds the replay built, to seed a live instance with.
        #[arg(long, value_name = "HISTORY.jsonl")]
        history_out: Option<PathBuf>,
        /// Write a report: self-contained HTML (`.html`) or the same figures as JSON (`.json`).
        /// May be given twice.
        #[arg(long, value_name = "REPORT.html|REPORT.json")]
        report: Vec<PathBuf>,
        /// Write the on-call report of the capture's span (no responder feedback in a capture:
        /// the report says so). May be given twice.
        #[arg(long, value_name = "ONCALL.html|ONCALL.json")]
        oncall_report: Vec<PathBuf>,
    },
    /// Explain an incident's decisions: from a running instance, or from a decisions log.
    Explain {
        /// The incident's id (its PagerDuty dedup_key).
        id: String,
        /// The admin API of a running instance.
        #[arg(long, default_value = "http://127.0.0.1:9464")]
        url: String,
        /// Read a decisions log (`replay --decisions-out`, `decisions.file`) instead.
        #[arg(long, value_name = "DECISIONS.jsonl")]
        decisions: Option<PathBuf>,
    },
    /// Replay a capture under two configs and show which pages appear, disappear or change
    /// urgency, each with its cause. Exits 1 when they differ.
    Diff {
        /// Capture file (JSON Lines, gzip if it ends in .gz).
        #[arg(long, value_name = "CAPTURE.jsonl[.gz]")]
        input: PathBuf,
        /// The two configs, A then B.
        #[arg(long, num_args = 1, value_name = "CONFIG.yaml")]
        config: Vec<PathBuf>,
        /// Inventory file for both; overrides `topology.file`.
        #[arg(long, value_name = "FILE")]
        topology: Option<PathBuf>,
        /// Print the differences as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Replay a capture and show the inventory it teaches: services, their pods, nodes and
    /// calls, each with where it comes from.
    Inventory {
        /// Capture file (JSON Lines, gzip if it ends in .gz).
        #[arg(long, value_name = "CAPTURE.jsonl[.gz]")]
        input: PathBuf,
        /// Config file; the embedded default when omitted.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Inventory file (the format of topology.json); overrides `topology.file`.
        #[arg(long, value_name = "FILE")]
        topology: Option<PathBuf>,
        /// Write the inventory as a topology file, to review and pin with `--topology`.
        #[arg(long, value_name = "FILE")]
        topology_out: Option<PathBuf>,
        /// Print the inventory as JSON (as `GET /api/v1/inventory` shows it).
        #[arg(long)]
        json: bool,
    },
    /// The on-call report of a period: pages, how many were acted on, per shift and out of
    /// hours, times to acknowledge and resolve, what keeps paging for nothing; trends against
    /// the period before.
    Report {
        /// Start of the period: an RFC 3339 time, or a duration back from now (`30d`); by
        /// default 7 days before its end.
        #[arg(long)]
        from: Option<String>,
        /// End of the period (as `--from`); by default now.
        #[arg(long)]
        to: Option<String>,
        /// The admin API of a running instance (a token from NOISEGATE_ADMIN_TOKEN).
        #[arg(long, conflicts_with = "store")]
        url: Option<String>,
        /// The store directory of an instance that is not running.
        #[arg(long, value_name = "DIR")]
        store: Option<PathBuf>,
        /// With --store: the config whose `oncall.schedule` applies; the embedded default when
        /// omitted.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Where to write it: HTML (`.html`) or the figures as JSON (`.json`). May be given
        /// twice.
        #[arg(long, required = true, value_name = "REPORT.html|REPORT.json")]
        out: Vec<PathBuf>,
    },
    /// Run rule test files: alerts with times and the pages expected. Exits 1 when a test fails.
    Test {
        /// Test files (YAML).
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },
    /// Validate a config without binding ports or calling anything.
    Check {
        /// Config file; the embedded default when omitted.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Inventory file (the format of topology.json); overrides `topology.file`.
        #[arg(long, value_name = "FILE")]
        topology: Option<PathBuf>,
        /// Do not read secrets given by `env` or `file`: they exist where the config will run
        /// (a pod's Secret, a unit's credentials), not here. Everything else is checked.
        #[arg(long)]
        secrets_elsewhere: bool,
    },
}

enum Format {
    Html,
    Json,
}

/// A report's format, by its file's extension.
fn report_format(path: &Path) -> anyhow::Result<Format> {
    match path.extension().and_then(|extension| extension.to_str()) {
        Some("html" | "htm") => Ok(Format::Html),
        Some("json") => Ok(Format::Json),
        _ => anyhow::bail!("{}: name it .html or .json", path.display()),
    }
}

/// Writes a report to each path: `html` of it, or it as JSON, by the path's extension.
fn write_reports<T: serde::Serialize>(
    paths: &[PathBuf],
    report: &T,
    html: impl Fn(&T) -> String,
) -> anyhow::Result<()> {
    for path in paths {
        let text = match report_format(path)? {
            Format::Html => html(report),
            Format::Json => serde_json::to_string_pretty(report)? + "\n",
        };
        std::fs::write(path, text)
            .map_err(|error| anyhow::anyhow!("cannot write report {}: {error}", path.display()))?;
    }
    Ok(())
}

fn config_source(path: Option<PathBuf>) -> ConfigSource {
    path.map_or(ConfigSource::Embedded, ConfigSource::File)
}

pub fn main(cli: Cli) -> ExitCode {
    init_logging(cli.log_format);
    let result = match cli.command {
        Command::Serve { config, topology, record, drain } => {
            let options = crate::service::ServeOptions { record, drain, config_source: None };
            serve::run(config_source(config), Overrides { topology, ..Overrides::default() }, options)
        }
        Command::Replay {
            config,
            topology,
            input,
            pages_out,
            decisions_out,
            history,
            history_out,
            report,
            oncall_report,
        } => {
            let files = replay::Files {
                input: &input,
                pages_out: &pages_out,
                decisions_out: decisions_out.as_deref(),
                history: history.as_deref(),
                history_out: history_out.as_deref(),
                reports: &report,
                oncall_reports: &oncall_report,
            };
            replay::run(config_source(config), Overrides { topology, ..Overrides::default() }, &files)
        }
        Command::Inventory { input, config, topology, topology_out, json } => {
            let options = inventory::Options { input: &input, topology_out: topology_out.as_deref(), json };
            inventory::run(config_source(config), Overrides { topology, ..Overrides::default() }, &options)
        }
        Command::Check { config, topology, secrets_elsewhere } => {
            return check::run(config_source(config), Overrides { topology, secrets_elsewhere });
        }
        Command::Test { files } => return test::run(&files),
        Command::Report { from, to, url, store, config, out } => {
            let source = match (&store, &url) {
                (Some(dir), _) => oncall::From::Store(dir, config_source(config)),
                (None, url) => oncall::From::Url(url.as_deref().unwrap_or("http://127.0.0.1:9464")),
            };
            let options = oncall::Options { source, from: from.as_deref(), to: to.as_deref(), out: &out };
            oncall::run(&options)
        }
        Command::Diff { input, config, topology, json } => return diff::run(&input, &config, topology, json),
        Command::Explain { id, url, decisions } => explain::run(&id, &url, decisions.as_deref()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("NOISEGATE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}
