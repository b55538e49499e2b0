//! `noisegate report`: the on-call report of a period, from a running instance's admin API or
//! from a store directory (of an instance that is not running), as HTML or JSON.

use std::path::{Path, PathBuf};

use anyhow::Context as _;

use crate::config::{self, ConfigSource, Overrides};
use crate::oncall::figures::{self, Figures};
use crate::report::oncall::render;
use crate::storage::IncidentStore;

/// Where the records come from.
pub enum From<'a> {
    /// The admin API of a running instance (its schedule applies); a bearer token from
    /// `NOISEGATE_ADMIN_TOKEN` when set.
    Url(&'a str),
    /// A store directory, with the schedule of a config.
    Store(&'a Path, ConfigSource),
}

pub struct Options<'a> {
    pub source: From<'a>,
    /// RFC 3339 times, or durations back from now (`7d`).
    pub from: Option<&'a str>,
    pub to: Option<&'a str>,
    pub out: &'a [PathBuf],
}

pub fn run(options: &Options<'_>) -> anyhow::Result<()> {
    if options.out.is_empty() {
        anyhow::bail!("nothing to write: give --out report.html or --out report.json");
    }
    for path in options.out {
        super::report_format(path)?;
    }
    let figures = match &options.source {
        From::Url(url) => from_instance(url, options)?,
        From::Store(dir, source) => {
            let config = config::load(source, &Overrides::default())
                .map_err(|errors| anyhow::anyhow!("invalid config:\n{errors}"))?;
            let store = IncidentStore::open(dir).with_context(|| {
                format!("cannot read the store in {} (is noisegate running on it?)", dir.display())
            })?;
            let (from, to) = figures::period(options.from, options.to, crate::clock::now().as_millis())
                .map_err(|message| anyhow::anyhow!("--{message}"))?;
            figures::from_store(&store, &config.oncall.schedule, from, to).map_err(anyhow::Error::msg)?
        }
    };
    super::write_reports(options.out, &figures, |figures| render(figures, "On-call health"))
}

fn from_instance(url: &str, options: &Options<'_>) -> anyhow::Result<Figures> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let mut address = format!("{}/api/v1/oncall", url.trim_end_matches('/'));
    let query: Vec<String> = [("from", options.from), ("to", options.to)]
        .into_iter()
        .filter_map(|(name, value)| {
            Some(format!("{name}={}", form_urlencoded::byte_serialize(value?.as_bytes()).collect::<String>()))
        })
        .collect();
    if !query.is_empty() {
        address = format!("{address}?{}", query.join("&"));
    }
    let token = std::env::var("NOISEGATE_ADMIN_TOKEN").ok();
    let (status, body) = runtime
        .block_on(async {
            let mut request = reqwest::Client::new().get(&address);
            if let Some(token) = &token {
                request = request.bearer_auth(token);
            }
            let response = request.send().await?;
            let status = response.status();
            Ok::<_, reqwest::Error>((status, response.text().await?))
        })
        .with_context(|| format!("cannot reach {address}"))?;
    if !status.is_success() {
        anyhow::bail!("{address} answered {status}: {}", body.trim());
    }
    serde_json::from_str(&body).with_context(|| format!("unexpected answer from {address}"))
}
